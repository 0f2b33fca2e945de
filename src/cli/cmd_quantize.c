/* cmd_quantize.c - `skiff quantize`: post-training static quantization of a
 * serving directory's ONNX model into a new serving directory with a QDQ
 * model.onnx (docs/precision.md, "Calibration").
 *
 * The model is run on the calibration samples with every activation that a
 * quantized node reads added as an output (src/quant's calibration model),
 * so the engine needs no hook for intermediate values. minmax needs one pass
 * over the samples; percentile and entropy a second, for histograms over
 * the ranges of the first. The directory written holds the QDQ model.onnx,
 * the input directory's confs, and calibration.json, which records the
 * method, the samples and each activation's range and quantization
 * parameters; `--ranges calibration.json` writes the same model again from
 * it without running anything. Last, the fp32 and the int8 model are run on
 * the first samples and their outputs compared, so every run says what the
 * quantization cost.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/core.h"
#include "model/conf.h"
#include "quant/quant.h"
#include "skiff/skiff.h"

#define PATH_CAP 4096
#define MAX_INPUTS 64
/* samples compared fp32 against int8 at the end */
#define CHECK_SAMPLES 4

typedef struct quant_opts {
    const char *model, *calib, *method, *percentile, *out, *exclude, *max_samples, *threads;
    const char *ranges;
    const char *per_tensor, *reduce_range, *keep_first_last, *float_outputs, *quiet;
} quant_opts;

/* The flag table: name, where it goes, value name (NULL: a switch), default,
 * help. --help prints it. */
static const struct {
    const char *name;
    size_t offset;
    const char *value;
    const char *def;
    const char *help;
} flags[] = {
    {"model", offsetof(quant_opts, model), "DIR", NULL,
     "serving directory (model.onnx + serving_server_conf.prototxt) or .onnx file; required"},
    {"calib", offsetof(quant_opts, calib), "DIR", NULL,
     "calibration samples: one subdirectory per sample holding <input>.npy for each input, or "
     "(single-input models) one .npy per sample; required unless --ranges"},
    {"method", offsetof(quant_opts, method), "M", "percentile",
     "activation ranges: minmax, percentile or entropy"},
    {"percentile", offsetof(quant_opts, percentile), "P", "99.99",
     "with --method percentile: the share of |x| kept unclipped, 50 to 100"},
    {"out", offsetof(quant_opts, out), "DIR", NULL,
     "output serving directory [default: the model's path + _int8]"},
    {"exclude", offsetof(quant_opts, exclude), "LIST", NULL,
     "comma-separated nodes (names or first outputs) kept fp32"},
    {"keep_first_last", offsetof(quant_opts, keep_first_last), NULL, NULL,
     "keep the first and the last quantizable node fp32"},
    {"float_outputs", offsetof(quant_opts, float_outputs), NULL, NULL,
     "leave the quantized nodes' outputs float32: only their inputs are quantized"},
    {"per_tensor", offsetof(quant_opts, per_tensor), NULL, NULL,
     "one weight scale per tensor instead of per output channel"},
    {"reduce_range", offsetof(quant_opts, reduce_range), NULL, "true",
     "7-bit weights ([-63, 63]): int8 kernels of CPUs without VNNI (ONNX Runtime's on AVX2) "
     "saturate on the full range; --reduce_range=false for [-127, 127]"},
    {"max_samples", offsetof(quant_opts, max_samples), "N", "0",
     "use at most N samples, 0 to 1000000 (0: all)"},
    {"ranges", offsetof(quant_opts, ranges), "FILE", NULL,
     "take the ranges from a calibration.json written before instead of calibrating"},
    {"threads", offsetof(quant_opts, threads), "N", "0",
     "intra-op threads, 0 to 1024 (0: all usable cores)"},
    {"quiet", offsetof(quant_opts, quiet), NULL, NULL, "only errors and notes"},
};
#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: skiff quantize --model DIR --calib DIR [options]\n\n"
               "Post-training static quantization: runs the calibration samples, computes\n"
               "activation ranges and per-channel int8 weights, and writes a new serving\n"
               "directory with a QDQ model.onnx, the confs and calibration.json.\n\n"
               "options:\n");
    for (size_t i = 0; i < N_FLAGS; i++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", flags[i].name, flags[i].value ? " " : "",
                 flags[i].value ? flags[i].value : "");
        fprintf(f, "  %-24s %s", left, flags[i].help);
        if (flags[i].def)
            fprintf(f, " [default: %s]", flags[i].def);
        fputc('\n', f);
    }
    fprintf(f, "  %-24s %s\n", "-h, --help", "show this help");
}

#define ERR(...) (fprintf(stderr, "skiff quantize: " __VA_ARGS__), fputc('\n', stderr))

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Names in a directory, sorted; entries starting with '.' skipped. */
typedef struct name_list {
    char **v;
    int n;
} name_list;

static void names_free(name_list *l)
{
    for (int i = 0; i < l->n; i++)
        skiff__free(l->v[i]);
    skiff__free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static skiff_status_t *list_dir(const char *dir, name_list *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return skiff_status_new(SKIFF_CODE_NOT_FOUND, "cannot open directory %s: %s", dir,
                                strerror(errno));
    struct dirent *e;
    int cap = 0;
    skiff_status_t *st = NULL;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            char **v = skiff__realloc(out->v, sizeof(char *) * (size_t)cap);
            if (!v) {
                st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
                break;
            }
            out->v = v;
        }
        if (!(out->v[out->n] = skiff__strdup(e->d_name)))
            st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        else
            out->n++;
    }
    closedir(d);
    if (!st && out->n > 1)
        qsort(out->v, (size_t)out->n, sizeof(char *), cmp_str);
    return st;
}

/* Tensor names may hold '/', ':'...: files use [A-Za-z0-9._-] and '_' for
 * the rest (as `skiff run --output-dir` writes them). */
static void safe_name(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++) {
        char c = in[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

/* ---- calibration samples ------------------------------------------------- */

/* A sample: one path per model input. */
typedef struct sample {
    char *path[MAX_INPUTS];
    char label[PATH_CAP];
} sample;

typedef struct sample_set {
    sample *v;
    int n;
} sample_set;

static void samples_free(sample_set *s)
{
    for (int i = 0; i < s->n; i++)
        for (int k = 0; k < MAX_INPUTS; k++)
            skiff__free(s->v[i].path[k]);
    skiff__free(s->v);
}

/* Which model input a file stem names: its tensor name, its conf alias, or
 * the tensor name with unsafe characters replaced; -1 for none. */
static int input_of(const skiff_model_t *m, const skiff__model_conf *conf, const char *stem)
{
    for (int i = 0; i < skiff_model_input_count(m); i++) {
        const char *name = skiff_model_input(m, i)->name;
        char safe[PATH_CAP];
        safe_name(name, safe, sizeof(safe));
        if (!strcmp(stem, name) || !strcmp(stem, safe))
            return i;
        for (int k = 0; conf && k < conf->n_feed; k++)
            if (!strcmp(conf->feed[k].name, name) && !strcmp(conf->feed[k].alias_name, stem))
                return i;
    }
    return -1;
}

static skiff_status_t *input_names(const skiff_model_t *m, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < skiff_model_input_count(m) && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s'%s'", i ? ", " : "",
                                skiff_model_input(m, i)->name);
    return NULL;
}

/* A directory of <input>.npy files as one sample. */
static skiff_status_t *sample_from_dir(const skiff_model_t *m, const skiff__model_conf *conf,
                                       const char *dir, sample *s)
{
    name_list files = {0};
    skiff_status_t *st = list_dir(dir, &files);
    snprintf(s->label, sizeof(s->label), "%s", dir);
    for (int f = 0; !st && f < files.n; f++) {
        if (!ends_with(files.v[f], ".npy"))
            continue;
        char stem[PATH_CAP];
        snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(files.v[f]) - 4), files.v[f]);
        int i = input_of(m, conf, stem);
        if (i < 0) {
            char names[1024];
            input_names(m, names, sizeof(names));
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                  "%s/%s: '%s' is not an input of the model (inputs: %s)", dir,
                                  files.v[f], stem, names);
        } else if (!(s->path[i] = skiff__malloc(PATH_CAP))) {
            st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        } else {
            snprintf(s->path[i], PATH_CAP, "%s/%s", dir, files.v[f]);
        }
    }
    for (int i = 0; !st && i < skiff_model_input_count(m); i++)
        if (!s->path[i])
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: no .npy for input '%s'", dir,
                                  skiff_model_input(m, i)->name);
    names_free(&files);
    return st;
}

static skiff_status_t *find_samples(const skiff_model_t *m, const skiff__model_conf *conf,
                                    const char *dir, int64_t max_samples, sample_set *out)
{
    name_list names = {0};
    skiff_status_t *st = list_dir(dir, &names);
    int n_dirs = 0, n_npy = 0;
    char path[PATH_CAP];
    for (int i = 0; !st && i < names.n; i++) {
        if (snprintf(path, sizeof(path), "%s/%s", dir, names.v[i]) >= (int)sizeof(path))
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s/%s: path too long", dir, names.v[i]);
        n_dirs += is_dir(path);
        n_npy += ends_with(names.v[i], ".npy") && is_file(path);
    }
    bool one_input = skiff_model_input_count(m) == 1;
    int cap = n_dirs ? n_dirs : one_input ? n_npy : 1;
    if (!st && cap == 0)
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "%s holds no samples (subdirectories with <input>.npy, or .npy "
                              "files)",
                              dir);
    if (!st && !(out->v = skiff__calloc((size_t)cap, sizeof(sample))))
        st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    if (!st && !n_dirs && !one_input) {
        st = sample_from_dir(m, conf, dir, &out->v[0]);
        out->n = 1;
    }
    for (int i = 0; !st && i < names.n && (!max_samples || out->n < max_samples); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names.v[i]);
        sample *s = &out->v[out->n];
        if (n_dirs) {
            if (!is_dir(path))
                continue;
            out->n++;
            st = sample_from_dir(m, conf, path, s);
        } else if (one_input && ends_with(names.v[i], ".npy") && is_file(path)) {
            out->n++;
            memcpy(s->label, path, sizeof(path));
            if (!(s->path[0] = skiff__strdup(path)))
                st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        }
    }
    if (!st && max_samples && out->n > max_samples)
        out->n = (int)max_samples;
    names_free(&names);
    return st;
}

static void tensors_free(skiff_tensor_t **t, int n)
{
    for (int i = 0; i < n; i++) {
        skiff_tensor_free(t[i]);
        t[i] = NULL;
    }
}

/* Reads a sample's inputs, checking their types against the model's. */
static skiff_status_t *read_sample(const skiff_model_t *m, const sample *s, skiff_tensor_t **t)
{
    for (int i = 0; i < skiff_model_input_count(m); i++) {
        skiff_status_t *st = skiff__npy_read_file(s->path[i], &t[i]);
        if (st) {
            tensors_free(t, i);
            return skiff_status_wrap(st, "%s", s->path[i]);
        }
        const skiff_value_info_t *info = skiff_model_input(m, i);
        if (info->dtype != SKIFF_DTYPE_UNDEFINED && t[i]->dtype != info->dtype) {
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: input '%s' expects %s, got %s",
                                  s->path[i], info->name, skiff_dtype_name(info->dtype),
                                  skiff_dtype_name(t[i]->dtype));
            tensors_free(t, i + 1);
            return st;
        }
    }
    return NULL;
}

/* Runs a sample; outputs borrowed from ctx. */
static skiff_status_t *run_sample(const skiff_model_t *m, skiff_context_t *ctx, const sample *s,
                                  const skiff_tensor_t **outs)
{
    skiff_tensor_t *in[MAX_INPUTS] = {0};
    int n_in = skiff_model_input_count(m);
    skiff_status_t *st = read_sample(m, s, in);
    if (!st)
        st = skiff_context_run(ctx, (const skiff_tensor_t *const *)in, n_in, outs);
    if (st)
        st = skiff_status_wrap(st, "sample %s", s->label);
    tensors_free(in, n_in);
    return st;
}

/* ---- calibration ------------------------------------------------------------ */

/* Where each activation comes from in the calibration model: an output, or
 * (an activation that is a graph input) an input. */
typedef struct act_src {
    int output, input;
} act_src;

static skiff_status_t *calibrate(const skiff__qdq *q, const skiff_model_t *cm,
                                 const sample_set *samples, skiff__calib_method method, int threads,
                                 bool quiet, skiff__calib *cal)
{
    int nt = skiff__qdq_tensor_count(q);
    act_src *src = skiff__calloc((size_t)nt + 1, sizeof(*src));
    const skiff_tensor_t **outs =
        skiff__calloc((size_t)skiff_model_output_count(cm) + 1, sizeof(*outs));
    skiff_context_t *ctx = NULL;
    skiff_context_options_t co = {.threads = threads};
    skiff_status_t *st = !src || !outs
                             ? skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory")
                             : skiff_context_new(cm, &co, &ctx);
    for (int t = 0; !st && t < nt; t++) {
        src[t].output = skiff_model_output_index(cm, skiff__qdq_tensor(q, t));
        src[t].input = skiff_model_input_index(cm, skiff__qdq_tensor(q, t));
        if (src[t].output < 0 && src[t].input < 0)
            st = skiff_status_new(SKIFF_CODE_INTERNAL, "activation '%s' is not in the model",
                                  skiff__qdq_tensor(q, t));
    }
    int passes = method == SKIFF__CALIB_MINMAX ? 1 : 2;
    for (int pass = 0; !st && pass < passes; pass++) {
        for (int t = 0; !st && pass == 1 && t < nt; t++)
            st = skiff__calib_hist_begin(&cal[t]);
        for (int s = 0; !st && s < samples->n; s++) {
            skiff_tensor_t *in[MAX_INPUTS] = {0};
            int n_in = skiff_model_input_count(cm);
            if (!(st = read_sample(cm, &samples->v[s], in)))
                st = skiff_context_run(ctx, (const skiff_tensor_t *const *)in, n_in, outs);
            if (st)
                st = skiff_status_wrap(st, "sample %s", samples->v[s].label);
            for (int t = 0; !st && t < nt; t++) {
                const skiff_tensor_t *v =
                    src[t].output >= 0 ? outs[src[t].output] : in[src[t].input];
                if (v->dtype != SKIFF_DTYPE_FLOAT32) {
                    st = skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                          "activation '%s' is %s; only float32 activations are "
                                          "quantized (name its reader in --exclude)",
                                          skiff__qdq_tensor(q, t), skiff_dtype_name(v->dtype));
                    break;
                }
                size_t n = (size_t)skiff_tensor_numel(v);
                if (pass == 0)
                    skiff__calib_observe(&cal[t], v->data, n);
                else
                    skiff__calib_hist_add(&cal[t], v->data, n);
            }
            tensors_free(in, n_in);
        }
        if (!st && !quiet)
            printf("calibration pass %d of %d: %d sample%s\n", pass + 1, passes, samples->n,
                   samples->n == 1 ? "" : "s");
    }
    skiff_context_free(ctx);
    skiff__free(src);
    skiff__free(outs);
    return st;
}

/* ---- the record ---------------------------------------------------------------- */

static skiff_status_t *write_record(const char *path, const skiff__qdq *q, const char *method,
                                    double percentile, const sample_set *samples,
                                    const char *calib_dir, const skiff__calib *cal, const float *lo,
                                    const float *hi)
{
    json_t *root = json_object(), *tensors = json_object(), *notes = json_array(),
           *nodes = json_array();
    if (!root || !tensors || !notes || !nodes) {
        json_decref(root);
        json_decref(tensors);
        json_decref(notes);
        json_decref(nodes);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    json_object_set_new(root, "format", json_string("skiff-calibration-1"));
    json_object_set_new(root, "method", json_string(method));
    if (!strcmp(method, "percentile"))
        json_object_set_new(root, "percentile", json_real(percentile));
    if (calib_dir)
        json_object_set_new(root, "calib", json_string(calib_dir));
    json_object_set_new(root, "samples", json_integer(samples ? samples->n : 0));
    json_object_set_new(root, "activations", json_string("uint8 asymmetric, per tensor"));
    json_object_set_new(root, "weights", json_string("int8 symmetric"));
    json_object_set_new(root, "opset", json_integer(skiff__qdq_opset(q)));
    for (int t = 0; t < skiff__qdq_tensor_count(q); t++) {
        float scale;
        uint8_t zp;
        skiff__quant_params_u8(lo[t], hi[t], &scale, &zp);
        json_t *o = json_object();
        json_object_set_new(o, "lo", json_real(lo[t]));
        json_object_set_new(o, "hi", json_real(hi[t]));
        if (cal) {
            json_object_set_new(o, "min", json_real(cal[t].count ? cal[t].min : 0));
            json_object_set_new(o, "max", json_real(cal[t].count ? cal[t].max : 0));
        }
        json_object_set_new(o, "scale", json_real(scale));
        json_object_set_new(o, "zero_point", json_integer(zp));
        json_object_set_new(tensors, skiff__qdq_tensor(q, t), o);
    }
    for (int i = 0; i < skiff__qdq_quantized_count(q); i++)
        json_array_append_new(nodes, json_string(skiff__qdq_quantized(q, i)));
    for (int i = 0; i < skiff__qdq_note_count(q); i++)
        json_array_append_new(notes, json_string(skiff__qdq_note(q, i)));
    json_object_set_new(root, "quantized_nodes", nodes);
    json_object_set_new(root, "notes", notes);
    json_object_set_new(root, "tensors", tensors);
    int rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_REAL_PRECISION(9));
    json_decref(root);
    return rc ? skiff_status_new(SKIFF_CODE_UNAVAILABLE, "cannot write %s", path) : NULL;
}

/* Ranges from an earlier record: every activation must be there. */
static skiff_status_t *read_ranges(const char *path, const skiff__qdq *q, float *lo, float *hi)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s:%d: %s", path, err.line, err.text);
    json_t *tensors = json_object_get(root, "tensors");
    skiff_status_t *st = NULL;
    if (!json_is_object(tensors))
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: no \"tensors\" object", path);
    for (int t = 0; !st && t < skiff__qdq_tensor_count(q); t++) {
        json_t *o = json_object_get(tensors, skiff__qdq_tensor(q, t));
        json_t *l = o ? json_object_get(o, "lo") : NULL, *h = o ? json_object_get(o, "hi") : NULL;
        if (!json_is_number(l) || !json_is_number(h) || json_number_value(l) > 0 ||
            json_number_value(h) < 0 || !isfinite(json_number_value(l)) ||
            !isfinite(json_number_value(h)))
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                  "%s: activation '%s' needs \"lo\" <= 0 and \"hi\" >= 0 (finite "
                                  "numbers)",
                                  path, skiff__qdq_tensor(q, t));
        else {
            lo[t] = (float)json_number_value(l);
            hi[t] = (float)json_number_value(h);
        }
    }
    json_decref(root);
    return st;
}

/* ---- files ---------------------------------------------------------------------- */

static int make_dirs(const char *path)
{
    char buf[PATH_CAP];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    }
    return is_dir(path) ? 0 : -1;
}

static skiff_status_t *write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return skiff_status_new(SKIFF_CODE_UNAVAILABLE, "cannot write %s: %s", path,
                                strerror(errno));
    size_t put = len ? fwrite(data, 1, len, f) : 0;
    int rc = fclose(f);
    if (put != len || rc != 0)
        return skiff_status_new(SKIFF_CODE_UNAVAILABLE, "error writing %s", path);
    return NULL;
}

/* Copies a file of the model's directory (a conf, external data) to the
 * same relative name in out. */
static skiff_status_t *copy_rel(const char *src_dir, const char *out_dir, const char *rel)
{
    char from[PATH_CAP], to[PATH_CAP];
    snprintf(from, sizeof(from), "%s/%s", src_dir, rel);
    snprintf(to, sizeof(to), "%s/%s", out_dir, rel);
    char *slash = strrchr(to, '/');
    *slash = '\0';
    int made = make_dirs(to);
    *slash = '/';
    if (made != 0)
        return skiff_status_new(SKIFF_CODE_UNAVAILABLE, "cannot create the directory of %s", to);
    void *data = NULL;
    size_t n = 0;
    skiff_status_t *st = skiff__read_file(from, &data, &n);
    if (!st)
        st = write_bytes(to, data, n);
    skiff__free(data);
    return st;
}

/* ---- the fp32 / int8 check ----------------------------------------------------- */

typedef struct cmp_acc {
    double max_abs_err, max_abs_ref, sum_abs_err, sum_abs_ref, dot, nr, ny;
} cmp_acc;

static void compare(cmp_acc *a, const skiff_tensor_t *ref, const skiff_tensor_t *got)
{
    if (ref->dtype != SKIFF_DTYPE_FLOAT32 || got->dtype != SKIFF_DTYPE_FLOAT32 ||
        skiff_tensor_numel(ref) != skiff_tensor_numel(got))
        return;
    const float *r = ref->data, *y = got->data;
    for (int64_t i = 0; i < skiff_tensor_numel(ref); i++) {
        double e = fabs((double)y[i] - r[i]);
        a->max_abs_err = e > a->max_abs_err ? e : a->max_abs_err;
        a->max_abs_ref = fabs(r[i]) > a->max_abs_ref ? fabs(r[i]) : a->max_abs_ref;
        a->sum_abs_err += e;
        a->sum_abs_ref += fabs(r[i]);
        a->dot += (double)r[i] * y[i];
        a->nr += (double)r[i] * r[i];
        a->ny += (double)y[i] * y[i];
    }
}

static skiff_status_t *check_outputs(const skiff_model_t *fm, const skiff_model_t *qm,
                                     const sample_set *samples, int threads)
{
    skiff_context_options_t co = {.threads = threads};
    skiff_context_t *fc = NULL, *qc = NULL;
    int no = skiff_model_output_count(fm);
    const skiff_tensor_t **fo = skiff__calloc((size_t)no + 1, sizeof(*fo));
    const skiff_tensor_t **qo = skiff__calloc((size_t)no + 1, sizeof(*qo));
    cmp_acc *acc = skiff__calloc((size_t)no + 1, sizeof(*acc));
    skiff_status_t *st = !fo || !qo || !acc
                             ? skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory")
                             : skiff_context_new(fm, &co, &fc);
    if (!st)
        st = skiff_context_new(qm, &co, &qc);
    int n = samples->n < CHECK_SAMPLES ? samples->n : CHECK_SAMPLES;
    for (int s = 0; !st && s < n; s++) {
        if (!(st = run_sample(fm, fc, &samples->v[s], fo)) &&
            !(st = run_sample(qm, qc, &samples->v[s], qo)))
            for (int o = 0; o < no; o++)
                compare(&acc[o], fo[o], qo[o]);
    }
    for (int o = 0; !st && o < no; o++) {
        const cmp_acc *a = &acc[o];
        if (a->nr == 0 && a->ny == 0 && a->max_abs_ref == 0)
            continue;
        double cos = a->nr > 0 && a->ny > 0 ? a->dot / sqrt(a->nr * a->ny) : 0;
        printf("  int8 vs fp32 on %d sample%s, output '%s': cosine %.6f, max error %.4g (%.3g%% "
               "of max |fp32|), mean error %.3g%% of mean |fp32|\n",
               n, n == 1 ? "" : "s", skiff_model_output(fm, o)->name, cos, a->max_abs_err,
               a->max_abs_ref > 0 ? 100 * a->max_abs_err / a->max_abs_ref : 0,
               a->sum_abs_ref > 0 ? 100 * a->sum_abs_err / a->sum_abs_ref : 0);
    }
    skiff_context_free(fc);
    skiff_context_free(qc);
    skiff__free(fo);
    skiff__free(qo);
    skiff__free(acc);
    return st;
}

/* ---- the command --------------------------------------------------------------- */

static bool parse_switch(const char *v, bool *out)
{
    if (!v || !strcmp(v, "true") || !strcmp(v, "1")) {
        *out = true;
        return true;
    }
    if (!strcmp(v, "false") || !strcmp(v, "0")) {
        *out = false;
        return true;
    }
    return false;
}

static int parse_args(int argc, char **argv, quant_opts *o, bool *sw)
{
    for (size_t i = 0; i < N_FLAGS; i++)
        *(const char **)((char *)o + flags[i].offset) = flags[i].def;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            ERR("unexpected argument '%s' (see skiff quantize --help)", a);
            return 2;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        size_t k = 0;
        while (k < N_FLAGS &&
               !(strlen(flags[k].name) == nlen && strncmp(flags[k].name, name, nlen) == 0))
            k++;
        if (k == N_FLAGS) {
            ERR("unknown option '--%.*s' (see skiff quantize --help)", (int)nlen, name);
            return 2;
        }
        const char *val;
        if (!flags[k].value) {
            val = eq ? eq + 1 : "true";
            bool b;
            if (!parse_switch(val, &b)) {
                ERR("option '--%s' takes true or false, got '%s'", flags[k].name, val);
                return 2;
            }
            sw[k] = b;
        } else {
            val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val) {
                ERR("option '--%s' needs a value", flags[k].name);
                return 2;
            }
        }
        *(const char **)((char *)o + flags[k].offset) = val;
    }
    return -1;
}

static bool flag_on(const bool *sw, const char *name)
{
    for (size_t k = 0; k < N_FLAGS; k++)
        if (!strcmp(flags[k].name, name))
            return sw[k];
    return false;
}

int skiff__cmd_quantize(int argc, char **argv)
{
    quant_opts o;
    bool sw[N_FLAGS] = {0};
    for (size_t k = 0; k < N_FLAGS; k++)
        sw[k] = !flags[k].value && flags[k].def && !strcmp(flags[k].def, "true");
    int prc = parse_args(argc, argv, &o, sw);
    if (prc >= 0)
        return prc;
    if (!o.model || (!o.calib && !o.ranges)) {
        ERR("%s is required\n", !o.model ? "--model" : "--calib (or --ranges)");
        usage(stderr);
        return 2;
    }
    skiff__calib_method method;
    if (!skiff__calib_method_parse(o.method, &method)) {
        ERR("--method expects minmax, percentile or entropy, got '%s'", o.method);
        return 2;
    }
    double percentile;
    if (!skiff__parse_double(o.percentile, &percentile) || !(percentile >= 50) ||
        !(percentile <= 100)) {
        ERR("--percentile expects a number from 50 to 100, got '%s'", o.percentile);
        return 2;
    }
    int64_t max_samples, threads;
    if (!skiff__parse_i64(o.max_samples, &max_samples) || max_samples < 0 ||
        max_samples > 1000000) {
        ERR("--max_samples expects 0 to 1000000, got '%s'", o.max_samples);
        return 2;
    }
    if (!skiff__parse_i64(o.threads, &threads) || threads < 0 || threads > 1024) {
        ERR("--threads expects 0 to 1024, got '%s'", o.threads);
        return 2;
    }
    bool quiet = flag_on(sw, "quiet");
    if (o.calib && !is_dir(o.calib)) {
        ERR("--calib %s: not a directory", o.calib);
        return 2;
    }
    if (o.ranges && !is_file(o.ranges)) {
        ERR("--ranges %s: no such file", o.ranges);
        return 2;
    }

    /* the model: a serving directory or an .onnx file */
    char src[PATH_CAP], src_dir[PATH_CAP], out_dir[PATH_CAP];
    bool dir_given = is_dir(o.model);
    if (dir_given) {
        snprintf(src_dir, sizeof(src_dir), "%s", o.model);
        snprintf(src, sizeof(src), "%s/model.onnx", o.model);
        if (!is_file(src)) {
            name_list l = {0};
            skiff_status_t *st = list_dir(o.model, &l);
            int found = 0;
            for (int i = 0; !st && i < l.n; i++)
                if (ends_with(l.v[i], ".onnx")) {
                    snprintf(src, sizeof(src), "%s/%s", o.model, l.v[i]);
                    found++;
                }
            names_free(&l);
            skiff_status_free(st);
            if (found != 1) {
                ERR("--model %s: %s", o.model,
                    skiff_model_is_paddle(o.model)
                        ? "a Paddle inference model; skiff quantize rewrites ONNX models "
                          "(convert it to ONNX first, e.g. with paddle2onnx)"
                        : "expected model.onnx (or exactly one .onnx file) in the directory");
                return 2;
            }
        }
    } else if (is_file(o.model) && ends_with(o.model, ".onnx")) {
        snprintf(src, sizeof(src), "%s", o.model);
        snprintf(src_dir, sizeof(src_dir), "%s", o.model);
        char *slash = strrchr(src_dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(src_dir, sizeof(src_dir), ".");
    } else {
        ERR("--model %s: %s", o.model,
            is_file(o.model) || skiff_model_is_paddle(o.model)
                ? "expected a serving directory with model.onnx or an .onnx file (Paddle models: "
                  "convert them to ONNX first)"
                : "no such file or directory");
        return 2;
    }
    if (o.out) {
        snprintf(out_dir, sizeof(out_dir), "%s", o.out);
    } else {
        size_t n = strlen(o.model);
        while (n > 1 && o.model[n - 1] == '/')
            n--;
        if (!dir_given && n > 5)
            n -= 5; /* .onnx */
        snprintf(out_dir, sizeof(out_dir), "%.*s_int8", (int)n, o.model);
    }
    char real_src[PATH_CAP], real_out[PATH_CAP];
    if (realpath(src_dir, real_src) && realpath(out_dir, real_out) && !strcmp(real_src, real_out)) {
        ERR("--out %s is the model's own directory; choose a new one", out_dir);
        return 2;
    }

    int rc = 1;
    void *bytes = NULL;
    size_t nbytes = 0;
    skiff__qdq *q = NULL;
    skiff_model_t *fm = NULL, *cm = NULL, *qm = NULL;
    skiff__model_conf *conf = NULL;
    sample_set samples = {0};
    skiff__calib *cal = NULL;
    float *lo = NULL, *hi = NULL;
    uint8_t *calib_buf = NULL, *qdq_buf = NULL;
    size_t calib_len = 0, qdq_len = 0;
    char path[2 * PATH_CAP + 64];
    skiff_model_options_t mo = {.optimize = 1, .verbose = 0};
    skiff__qdq_opts qo = {.per_channel = !flag_on(sw, "per_tensor"),
                          .reduce_range = flag_on(sw, "reduce_range"),
                          .keep_first_last = flag_on(sw, "keep_first_last"),
                          .quantize_outputs = !flag_on(sw, "float_outputs"),
                          .exclude = o.exclude};
    skiff_status_t *st = skiff__read_file(src, &bytes, &nbytes);
    if (!st)
        st = skiff_model_load_buffer(bytes, nbytes, src_dir, &mo, &fm);
    if (st) {
        ERR("%s: %s", src, skiff_status_message(st));
        goto done;
    }
    snprintf(path, sizeof(path), "%s/serving_server_conf.prototxt", src_dir);
    if (dir_given && is_file(path) && (st = skiff__model_conf_read_file(path, &conf))) {
        ERR("%s", skiff_status_message(st));
        goto done;
    }
    if ((st = skiff__qdq_open(bytes, nbytes, &qo, &q))) {
        ERR("%s: %s", src, skiff_status_message(st));
        goto done;
    }
    for (int i = 0; i < skiff__qdq_note_count(q); i++)
        fprintf(stderr, "skiff quantize: %s\n", skiff__qdq_note(q, i));
    if (skiff__qdq_quantized_count(q) == 0) {
        ERR("%s: no node to quantize (Conv, MatMul or Gemm with float32 weights held in the "
            "model)",
            src);
        goto done;
    }
    int nt = skiff__qdq_tensor_count(q);
    cal = skiff__calloc((size_t)nt + 1, sizeof(*cal));
    lo = skiff__calloc((size_t)nt + 1, sizeof(float));
    hi = skiff__calloc((size_t)nt + 1, sizeof(float));
    if (!cal || !lo || !hi) {
        ERR("out of memory");
        goto done;
    }
    for (int t = 0; t < nt; t++)
        skiff__calib_init(&cal[t]);
    if (o.calib && (st = find_samples(fm, conf, o.calib, max_samples, &samples))) {
        ERR("--calib: %s", skiff_status_message(st));
        goto done;
    }
    if (o.ranges) {
        if ((st = read_ranges(o.ranges, q, lo, hi))) {
            ERR("--ranges: %s", skiff_status_message(st));
            goto done;
        }
    } else {
        if (!quiet)
            printf("calibrating %d activation%s of %d quantized node%s on %d sample%s (%s)\n", nt,
                   nt == 1 ? "" : "s", skiff__qdq_quantized_count(q),
                   skiff__qdq_quantized_count(q) == 1 ? "" : "s", samples.n,
                   samples.n == 1 ? "" : "s", o.method);
        if ((st = skiff__qdq_calib_model(q, &calib_buf, &calib_len)) ||
            (st = skiff_model_load_buffer(calib_buf, calib_len, src_dir, &mo, &cm)) ||
            (st = calibrate(q, cm, &samples, method, (int)threads, quiet, cal))) {
            ERR("%s", skiff_status_message(st));
            goto done;
        }
        for (int t = 0; t < nt; t++) {
            skiff__calib_range(&cal[t], method, percentile, &lo[t], &hi[t]);
            if (cal[t].nonfinite)
                fprintf(stderr,
                        "skiff quantize: note: activation '%s' took %llu non-finite "
                        "values (left out of its range)\n",
                        skiff__qdq_tensor(q, t), (unsigned long long)cal[t].nonfinite);
        }
    }
    if ((st = skiff__qdq_write(q, lo, hi, &qdq_buf, &qdq_len))) {
        ERR("%s", skiff_status_message(st));
        goto done;
    }
    /* the written model must load before it is written */
    if ((st = skiff_model_load_buffer(qdq_buf, qdq_len, src_dir, &mo, &qm))) {
        ERR("the quantized model does not load: %s", skiff_status_message(st));
        goto done;
    }
    if (make_dirs(out_dir) != 0) {
        ERR("cannot create %s: %s", out_dir, strerror(errno));
        goto done;
    }
    snprintf(path, sizeof(path), "%s/model.onnx", out_dir);
    if ((st = write_bytes(path, qdq_buf, qdq_len)))
        goto fail_st;
    static const char *const confs[] = {"serving_server_conf.prototxt",
                                        "serving_server_conf.stream.prototxt"};
    for (size_t i = 0; dir_given && i < sizeof(confs) / sizeof(confs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", src_dir, confs[i]);
        if (is_file(path) && (st = copy_rel(src_dir, out_dir, confs[i])))
            goto fail_st;
    }
    for (int i = 0; i < skiff_model_external_file_count(fm); i++)
        if ((st = copy_rel(src_dir, out_dir, skiff_model_external_file(fm, i))))
            goto fail_st;
    snprintf(path, sizeof(path), "%s/calibration.json", out_dir);
    if ((st = write_record(path, q, o.ranges ? "ranges" : o.method, percentile,
                           o.ranges ? NULL : &samples, o.ranges ? o.ranges : o.calib,
                           o.ranges ? NULL : cal, lo, hi)))
        goto fail_st;
    if (!quiet)
        printf("wrote %s/ (model.onnx: %d node%s int8, opset %d; calibration.json)\n", out_dir,
               skiff__qdq_quantized_count(q), skiff__qdq_quantized_count(q) == 1 ? "" : "s",
               skiff__qdq_opset(q));
    if (!quiet && samples.n > 0 && (st = check_outputs(fm, qm, &samples, (int)threads)))
        goto fail_st;
    if (!quiet)
        printf("serve it: skiff serve --model %s --precision int8\n", out_dir);
    rc = 0;
    goto done;
fail_st:
    ERR("%s", skiff_status_message(st));
done:
    skiff_status_free(st);
    for (int t = 0; cal && t < skiff__qdq_tensor_count(q); t++)
        skiff__calib_free(&cal[t]);
    skiff__free(cal);
    skiff__free(lo);
    skiff__free(hi);
    skiff__free(calib_buf);
    skiff__free(qdq_buf);
    samples_free(&samples);
    skiff__model_conf_free(conf);
    skiff_model_free(qm);
    skiff_model_free(cm);
    skiff_model_free(fm);
    skiff__qdq_free(q);
    skiff__free(bytes);
    return rc;
}
