/* cmd_convert.c - `skiff convert`: an ONNX model or a Paddle inference
 * model becomes a serving model directory and a client directory, as Paddle
 * Serving's `python -m paddle_serving_client.convert` makes them. A Paddle
 * model's files are copied under their own names (the program, and the
 * combined parameter file or one file per parameter); an ONNX model becomes
 * model.onnx (with its external data files).
 *
 * The feed/fetch variables come from the graph's inputs and outputs; the
 * leading dim of each is taken as the batch dim and left out of `shape`, as
 * Paddle's confs do. Both confs are written in text and binary
 * (*.stream.prototxt) form, so Paddle's own clients read them too.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/core.h"
#include "model/conf.h"
#include "model/model.h"
#include "skiff/skiff.h"

typedef struct convert_opts {
    const char *dirname;
    const char *model_filename;
    const char *params_filename;
    const char *serving_server;
    const char *serving_client;
    const char *feed_alias_names;
    const char *fetch_alias_names;
} convert_opts;

/* The flag table: name, where it goes, default, help. --help prints it. */
static const struct {
    const char *name;
    size_t offset;
    const char *def;
    const char *help;
} flags[] = {
    {"dirname", offsetof(convert_opts, dirname), NULL,
     "directory holding the model (ONNX, or a Paddle inference model), or its model file; "
     "required"},
    {"model_filename", offsetof(convert_opts, model_filename), NULL,
     "model file name inside --dirname when it is not a recognised one (model.onnx, "
     "__model__, inference.pdmodel, model.pdmodel): a Paddle program, or ONNX when it ends "
     "in .onnx"},
    {"params_filename", offsetof(convert_opts, params_filename), NULL,
     "the Paddle program's combined parameter file (absent with --model_filename: one file "
     "per parameter)"},
    {"serving_server", offsetof(convert_opts, serving_server), "serving_server",
     "output serving model directory (the model's files + serving_server_conf.prototxt)"},
    {"serving_client", offsetof(convert_opts, serving_client), "serving_client",
     "output client directory (serving_client_conf.prototxt)"},
    {"feed_alias_names", offsetof(convert_opts, feed_alias_names), NULL,
     "comma-separated client names for the inputs, in graph order (default: tensor names)"},
    {"fetch_alias_names", offsetof(convert_opts, fetch_alias_names), NULL,
     "comma-separated client names for the outputs, in graph order (default: tensor names)"},
};
#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: skiff convert --dirname DIR [options]\n\n"
               "Writes a serving model directory and a client directory from an ONNX model\n"
               "or a Paddle inference model.\n\n"
               "options:\n");
    for (size_t i = 0; i < N_FLAGS; i++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s %s", flags[i].name,
                 strcmp(flags[i].name, "dirname") == 0 ? "DIR" : "VALUE");
        fprintf(f, "  %-28s %s", left, flags[i].help);
        if (flags[i].def)
            fprintf(f, " [default: %s]", flags[i].def);
        fputc('\n', f);
    }
    fprintf(f, "  %-28s %s\n", "-h, --help", "show this help");
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    char buf[4096];
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
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) ? 0 : -1;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "skiff convert: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t put = len ? fwrite(data, 1, len, f) : 0;
    int rc = fclose(f);
    if (put != len || rc != 0) {
        fprintf(stderr, "skiff convert: error writing %s\n", path);
        return -1;
    }
    return 0;
}

/* Copies src to dst in 1 MiB pieces (data files may be larger than memory). */
static int copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (!in) {
        fprintf(stderr, "skiff convert: cannot read %s: %s\n", src, strerror(errno));
        return -1;
    }
    FILE *out = fopen(dst, "wb");
    if (!out) {
        fprintf(stderr, "skiff convert: cannot write %s: %s\n", dst, strerror(errno));
        fclose(in);
        return -1;
    }
    enum { CHUNK = 1 << 20 };
    char *buf = skiff__malloc(CHUNK);
    int rc = buf ? 0 : -1;
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, CHUNK, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    if (ferror(in))
        rc = -1;
    fclose(in);
    if (fclose(out) != 0)
        rc = -1;
    skiff__free(buf);
    if (rc)
        fprintf(stderr, "skiff convert: error copying %s to %s\n", src, dst);
    return rc;
}

/* Copies the model's external data files next to the new model.onnx, under
 * the same relative names (the loader has checked that they stay inside). */
static int copy_external(const skiff_model_t *model, const char *src_dir, const char *dst_dir,
                         bool verbose)
{
    for (int i = 0; i < skiff_model_external_file_count(model); i++) {
        const char *loc = skiff_model_external_file(model, i);
        char from[4096], to[4096];
        int a = snprintf(from, sizeof(from), "%s/%s", src_dir, loc);
        int b = snprintf(to, sizeof(to), "%s/%s", dst_dir, loc);
        if (a < 0 || b < 0 || (size_t)a >= sizeof(from) || (size_t)b >= sizeof(to)) {
            fprintf(stderr, "skiff convert: external data path too long: %s\n", loc);
            return -1;
        }
        char *slash = strrchr(to, '/');
        *slash = '\0';
        int made = make_dirs(to);
        *slash = '/';
        if (made != 0) {
            fprintf(stderr, "skiff convert: cannot create the directory of %s\n", to);
            return -1;
        }
        if (copy_file(from, to) != 0)
            return -1;
        if (verbose)
            printf("copied external data %s\n", loc);
    }
    return 0;
}

static int write_conf(const char *dir, const char *stem, const skiff__model_conf *conf)
{
    char *text = NULL;
    size_t tlen = 0;
    uint8_t *bin = NULL;
    size_t blen = 0;
    skiff_status_t *st = skiff__model_conf_format(conf, &text, &tlen);
    if (!st)
        st = skiff__model_conf_encode(conf, &bin, &blen);
    if (st) {
        fprintf(stderr, "skiff convert: %s\n", skiff_status_message(st));
        skiff_status_free(st);
        skiff__free(text);
        return -1;
    }
    char name[128];
    snprintf(name, sizeof(name), "%s.prototxt", stem);
    int rc = write_file(dir, name, text, tlen);
    snprintf(name, sizeof(name), "%s.stream.prototxt", stem);
    if (rc == 0)
        rc = write_file(dir, name, bin, blen);
    skiff__free(text);
    skiff__free(bin);
    return rc;
}

/* A served name for the hint: the model directory's (or .onnx file's) base
 * name, with characters a served name may not hold replaced by '_'. */
static void suggest_name(const char *dirname, char *out, size_t cap)
{
    size_t n = strlen(dirname);
    while (n > 1 && dirname[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && dirname[b - 1] != '/')
        b--;
    size_t len = n - b;
    if (len > 5 && !strncmp(dirname + n - 5, ".onnx", 5))
        len -= 5;
    size_t k = 0;
    for (; k < len && k + 1 < cap; k++) {
        char ch = dirname[b + k];
        out[k] = isalnum((unsigned char)ch) || ch == '-' || ch == '.' ? ch : '_';
    }
    out[k] = '\0';
    if (k == 0 || !strcmp(out, ".") || !strcmp(out, ".."))
        snprintf(out, cap, "model");
}

int skiff__cmd_convert(int argc, char **argv)
{
    convert_opts o = {0};
    for (size_t i = 0; i < N_FLAGS; i++)
        *(const char **)((char *)&o + flags[i].offset) = flags[i].def;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "skiff convert: unexpected argument '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        size_t k = 0;
        while (k < N_FLAGS &&
               !(strlen(flags[k].name) == nlen && strncmp(flags[k].name, name, nlen) == 0))
            k++;
        if (k == N_FLAGS) {
            fprintf(stderr, "skiff convert: unknown option '--%.*s' (see skiff convert --help)\n",
                    (int)nlen, name);
            return 2;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            fprintf(stderr, "skiff convert: option '--%s' needs a value\n", flags[k].name);
            return 2;
        }
        *(const char **)((char *)&o + flags[k].offset) = val;
    }
    if (!o.dirname) {
        fprintf(stderr, "skiff convert: --dirname is required\n\n");
        usage(stderr);
        return 2;
    }
    char src[4096], src_dir[4096];
    struct stat sb;
    bool is_file = stat(o.dirname, &sb) == 0 && S_ISREG(sb.st_mode);
    if (is_file) {
        snprintf(src, sizeof(src), "%s", o.dirname);
        snprintf(src_dir, sizeof(src_dir), "%s", o.dirname);
        char *slash = strrchr(src_dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(src_dir, sizeof(src_dir), ".");
    } else {
        snprintf(src, sizeof(src), "%s/%s", o.dirname,
                 o.model_filename ? o.model_filename : "model.onnx");
        snprintf(src_dir, sizeof(src_dir), "%s", o.dirname);
    }
    /* Paddle: a named program (not .onnx), a program file, or a directory
     * that holds one and no model.onnx. */
    size_t mlen = o.model_filename ? strlen(o.model_filename) : 0;
    bool paddle = o.model_filename ? !(mlen >= 5 && !strcmp(o.model_filename + mlen - 5, ".onnx"))
                                   : skiff_model_is_paddle(o.dirname) &&
                                         (is_file || stat(src, &sb) != 0 || !S_ISREG(sb.st_mode));
    if (o.params_filename && !paddle)
        fprintf(stderr, "skiff convert: note: --params_filename is ignored (ONNX models carry "
                        "their weights)\n");

    skiff_model_options_t mo = {.optimize = 0,
                                .verbose = 0,
                                .model_filename = paddle && !is_file ? o.model_filename : NULL,
                                .params_filename = paddle && !is_file ? o.params_filename : NULL};
    skiff_model_t *model = NULL;
    skiff__model_conf *conf = NULL;
    void *bytes = NULL;
    size_t nbytes = 0;
    int rc = 1;
    skiff_status_t *st = NULL;
    if (paddle)
        st = skiff_model_load(o.dirname, &mo, &model);
    else if (!(st = skiff__read_file(src, &bytes, &nbytes)))
        st = skiff_model_load_buffer(bytes, nbytes, src_dir, &mo, &model);
    if (!st)
        st = skiff__model_conf_from_graph(model, o.feed_alias_names, o.fetch_alias_names, &conf);
    if (st) {
        fprintf(stderr, "skiff convert: %s: %s\n", paddle ? o.dirname : src,
                skiff_status_message(st));
        skiff_status_free(st);
        goto done;
    }
    if (make_dirs(o.serving_server) != 0 || make_dirs(o.serving_client) != 0) {
        fprintf(stderr, "skiff convert: cannot create %s or %s: %s\n", o.serving_server,
                o.serving_client, strerror(errno));
        goto done;
    }
    const char *program = skiff_model_paddle_program(model);
    if (program) {
        char from[4200], to[4200];
        snprintf(from, sizeof(from), "%s/%s", src_dir, program);
        snprintf(to, sizeof(to), "%s/%s", o.serving_server, program);
        if (copy_file(from, to) != 0 || copy_external(model, src_dir, o.serving_server, false) != 0)
            goto done;
    } else if (write_file(o.serving_server, "model.onnx", bytes, nbytes) != 0 ||
               copy_external(model, src_dir, o.serving_server, true) != 0) {
        goto done;
    }
    if (write_conf(o.serving_server, "serving_server_conf", conf) != 0 ||
        write_conf(o.serving_client, "serving_client_conf", conf) != 0)
        goto done;

    if (program)
        printf("wrote %s/ (%s + %d parameter file%s, serving_server_conf.prototxt) and %s/ "
               "(serving_client_conf.prototxt)\n",
               o.serving_server, program, skiff_model_external_file_count(model),
               skiff_model_external_file_count(model) == 1 ? "" : "s", o.serving_client);
    else
        printf("wrote %s/ (model.onnx, serving_server_conf.prototxt) and %s/ "
               "(serving_client_conf.prototxt)\n",
               o.serving_server, o.serving_client);
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? conf->n_fetch : conf->n_feed;
        for (int i = 0; i < n; i++) {
            const skiff__conf_var *v = pass ? &conf->fetch[i] : &conf->feed[i];
            char shape[128];
            int64_t dims[SKIFF_MAX_DIMS];
            dims[0] = -1;
            memcpy(dims + 1, v->shape, sizeof(int64_t) * (size_t)v->n_shape);
            skiff_shape_str(v->n_shape + 1, dims, shape, sizeof(shape));
            printf("  %s %-16s alias %-16s %s %s\n", pass ? "fetch" : "feed ", v->name,
                   v->alias_name, skiff__paddle_type_name(v->type), shape);
        }
    }
    char served[128];
    suggest_name(o.dirname, served, sizeof(served));
    /* files under names skiff does not recognise need the flags again */
    char names[600] = "";
    if (program && !skiff_model_is_paddle(o.serving_server))
        snprintf(names, sizeof(names), " --model_filename %s%s%s", program,
                 o.params_filename ? " --params_filename " : "",
                 o.params_filename ? o.params_filename : "");
    printf("serve it: skiff serve --model %s:%s%s --port 9393\n"
           "          (then POST /%s/prediction or /v2/models/%s/infer)\n",
           o.serving_server, served, names, served, served);
    rc = 0;
done:
    skiff__model_conf_free(conf);
    skiff_model_free(model);
    skiff__free(bytes);
    return rc;
}
