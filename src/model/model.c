/* model.c - opening a serving model directory.
 *
 * A directory is Paddle Serving's shape: model.onnx plus
 * serving_server_conf.prototxt naming the feed and fetch variables. The conf is
 * checked against the compiled graph here, once, so that every later error a
 * client sees is about its request and never about a conf that disagrees
 * with the model. Without a conf the variables come from the graph (as
 * `skiff convert` would write them), so a bare model.onnx serves too.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/core.h"
#include "model/model_int.h"

void skiff__model_options_default(skiff__model_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->instances = 1;
    opts->threads = 1;
    opts->max_batch = SKIFF_DEFAULT_BATCH_INFER_SIZE;
    opts->max_queue_delay_us = SKIFF_DEFAULT_MAX_QUEUE_DELAY_US;
    opts->queue_size = SKIFF_DEFAULT_QUEUE_SIZE;
    opts->inline_mode = SKIFF__INLINE_AUTO;
    opts->inline_max_us = SKIFF_DEFAULT_INLINE_MAX_US;
    opts->optimize = true;
}

static skiff_status_t *oom(void)
{
    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
}

skiff_status_t *skiff__parse_batch_sizes(const char *flag, const char *spec, int max_batch,
                                         int *sizes, int *n)
{
    *n = 0;
    if (max_batch < 1)
        max_batch = 1;
    if (!spec || !strcmp(spec, "any"))
        return NULL;
    if (!strcmp(spec, "auto")) {
        for (int b = 1; b < max_batch && *n < SKIFF__BATCH_SIZES_MAX - 1; b *= 2)
            sizes[(*n)++] = b;
        sizes[(*n)++] = max_batch;
        return NULL;
    }
    const char *p = spec;
    for (;;) {
        char item[24];
        size_t len = strcspn(p, ",");
        int64_t v = 0;
        if (len == 0 || len >= sizeof(item))
            v = -1;
        else {
            memcpy(item, p, len);
            item[len] = '\0';
            if (!skiff__parse_i64(item, &v))
                v = -1;
        }
        if (v < 1 || v > max_batch)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "%s '%s': each size must be a whole number from 1 to "
                                    "--batch_infer_size (%d); or use auto or any",
                                    flag, spec, max_batch);
        if (*n > 0 && v <= sizes[*n - 1])
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "%s '%s': sizes must be in ascending order", flag, spec);
        if (*n == SKIFF__BATCH_SIZES_MAX)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s '%s': at most %d sizes", flag, spec,
                                    SKIFF__BATCH_SIZES_MAX);
        sizes[(*n)++] = (int)v;
        if (p[len] == '\0')
            return NULL;
        p += len + 1;
    }
}

static char *join_path(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = skiff__malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The last path component without trailing slashes (and without ".onnx"
 * for a file). Caller frees. */
static char *base_name(const char *path, bool strip_onnx)
{
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    size_t len = end - start;
    if (strip_onnx && len > 5 && strncmp(path + end - 5, ".onnx", 5) == 0)
        len -= 5;
    return skiff__strndup(path + start, len);
}

/* Served names appear in URL paths and metric labels: keep them plain. */
static bool valid_name(const char *s)
{
    if (!s[0] || strlen(s) > 128)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Finds the model file of a directory: model.onnx, or its only *.onnx, or
 * (a Paddle model: __model__, inference.pdmodel, ...) the directory itself,
 * which the engine's Paddle loader reads. */
static skiff_status_t *find_onnx(const char *dir, char **out_path)
{
    if (skiff_model_is_paddle(dir)) {
        char *onnx = join_path(dir, "model.onnx");
        bool has_onnx = onnx && is_file(onnx);
        skiff__free(onnx);
        if (!has_onnx) {
            *out_path = skiff__strdup(dir);
            return *out_path ? NULL : oom();
        }
    }
    char *p = join_path(dir, "model.onnx");
    if (!p)
        return oom();
    if (is_file(p)) {
        *out_path = p;
        return NULL;
    }
    skiff__free(p);
    DIR *d = opendir(dir);
    if (!d)
        return skiff_status_new(errno == ENOENT ? SKIFF_CODE_NOT_FOUND : SKIFF_CODE_INVALID_ARG,
                                "cannot open model directory '%s': %s", dir, strerror(errno));
    char *found = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (ends_with(e->d_name, ".onnx")) {
            if (n++ == 0)
                found = skiff__strdup(e->d_name);
        }
    }
    closedir(d);
    if (n != 1) {
        skiff__free(found);
        return skiff_status_new(SKIFF_CODE_NOT_FOUND,
                                n == 0 ? "model directory '%s' has no model.onnx"
                                       : "model directory '%s' has no model.onnx and several "
                                         "*.onnx files: name one, or rename it model.onnx",
                                dir);
    }
    if (!found)
        return oom();
    *out_path = join_path(dir, found);
    skiff__free(found);
    return *out_path ? NULL : oom();
}

skiff_status_t *skiff__model_dir_resolve(const char *path, const char *model_filename,
                                         char **out_onnx, skiff__model_conf **out_conf)
{
    *out_onnx = NULL;
    *out_conf = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        *out_onnx = skiff__strdup(path);
        return *out_onnx ? NULL : oom();
    }
    skiff_status_t *st = NULL;
    if (model_filename && model_filename[0]) /* the engine opens the named files */
        st = (*out_onnx = skiff__strdup(path)) ? NULL : oom();
    else
        st = find_onnx(path, out_onnx);
    if (st)
        return st;
    char *conf_path = join_path(path, "serving_server_conf.prototxt");
    if (!conf_path)
        st = oom();
    else if (is_file(conf_path))
        st = skiff__model_conf_read_file(conf_path, out_conf);
    skiff__free(conf_path);
    if (st) {
        skiff__free(*out_onnx);
        *out_onnx = NULL;
    }
    return st;
}

/* ---- conf <-> graph ----------------------------------------------------------- */

static void shape_text(int ndim, const int64_t *dims, char *buf, size_t cap)
{
    if (ndim < 0)
        snprintf(buf, cap, "(any rank)");
    else
        skiff_shape_str(ndim, dims, buf, cap);
}

/* Fills v's shape facts from the graph's value info and the conf's shape. */
static skiff_status_t *fit_shape(skiff__model_var *v, const skiff_value_info_t *info,
                                 const skiff__conf_var *cv, const char *origin, const char *kind)
{
    v->fixed_batch = -1;
    bool lod = cv ? (cv->is_lod_tensor || (cv->n_shape == 1 && cv->shape[0] == -1)) : false;
    if (info->ndim < 0) {
        v->batched = true;
        v->ndim = cv && !lod ? cv->n_shape : -1;
        for (int i = 0; i < v->ndim; i++)
            v->dims[i] = cv->shape[i] < 0 ? -1 : cv->shape[i];
        return NULL;
    }
    if (!cv || lod) {
        /* No conf, or a LoD var whose conf shape says nothing: the leading
         * dim of the graph is the batch (or the concatenated sequences). */
        if (info->ndim == 0) {
            v->batched = false;
            v->ndim = 0;
            return NULL;
        }
        v->batched = true;
        v->fixed_batch = lod ? -1 : info->dims[0];
        v->ndim = info->ndim - 1;
        memcpy(v->dims, info->dims + 1, sizeof(int64_t) * (size_t)v->ndim);
        return NULL;
    }
    int off;
    if (info->ndim == cv->n_shape + 1) {
        v->batched = true;
        v->fixed_batch = info->dims[0];
        off = 1;
    } else if (info->ndim == cv->n_shape) {
        v->batched = false;
        off = 0;
    } else {
        char a[128], b[128];
        skiff_shape_str(cv->n_shape, cv->shape, a, sizeof(a));
        shape_text(info->ndim, info->dims, b, sizeof(b));
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: %s '%s' has shape %s (without the batch dim) but the model's "
                                "tensor '%s' has shape %s",
                                origin, kind, cv->alias_name, a, cv->name, b);
    }
    v->ndim = cv->n_shape;
    for (int i = 0; i < v->ndim; i++) {
        int64_t c = cv->shape[i], g = info->dims[i + off];
        if (c >= 0 && g >= 0 && c != g) {
            char a[128], b[128];
            skiff_shape_str(cv->n_shape, cv->shape, a, sizeof(a));
            shape_text(info->ndim, info->dims, b, sizeof(b));
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "%s: %s '%s' has shape %s but the model's tensor '%s' has "
                                    "shape %s (dim %d differs)",
                                    origin, kind, cv->alias_name, a, cv->name, b, i + off);
        }
        v->dims[i] = g >= 0 ? g : (c >= 0 ? c : -1);
    }
    return NULL;
}

/* The engine index of the input (or output) named <name>.lod, or -1. */
static int lod_companion(const skiff_model_t *e, const char *name, bool inputs)
{
    char buf[300];
    if (snprintf(buf, sizeof(buf), "%s.lod", name) >= (int)sizeof(buf))
        return -1;
    return inputs ? skiff_model_input_index(e, buf) : skiff_model_output_index(e, buf);
}

/* Whether input (or output) k is the LoD offsets of another one, <x>.lod
 * beside <x>: such a value is filled (or answered) with its var's LoD and is
 * no var of its own. */
static bool is_lod_companion(const skiff_model_t *e, int k, bool inputs)
{
    const char *name = inputs ? skiff_model_input(e, k)->name : skiff_model_output(e, k)->name;
    size_t n = strlen(name);
    if (n <= 4 || strcmp(name + n - 4, ".lod") != 0 || n - 4 >= 300)
        return false;
    char base[300];
    memcpy(base, name, n - 4);
    base[n - 4] = '\0';
    return (inputs ? skiff_model_input_index(e, base) : skiff_model_output_index(e, base)) >= 0;
}

static skiff_status_t *make_var(skiff__model_var *v, const skiff_value_info_t *info, int index,
                                const skiff__conf_var *cv, const char *origin, bool feed)
{
    const char *kind = feed ? "feed_var" : "fetch_var";
    v->engine_index = index;
    v->lod_index = -1;
    v->name = skiff__strdup(info->name);
    v->alias = skiff__strdup(cv ? cv->alias_name : info->name);
    if (!v->name || !v->alias)
        return oom();
    v->dtype = info->dtype;
    v->is_lod = cv ? cv->is_lod_tensor : false;
    v->paddle_type = cv ? cv->type : skiff__paddle_type_from_dtype(info->dtype);
    if (cv) {
        skiff_dtype_t want = skiff__paddle_type_dtype(cv->type);
        if (want != info->dtype)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "%s: %s '%s' declares %s_type %d (%s) but the model's tensor "
                                    "'%s' is %s",
                                    origin, kind, cv->alias_name, feed ? "feed" : "fetch", cv->type,
                                    skiff__paddle_type_name(cv->type), cv->name,
                                    skiff_dtype_name(info->dtype));
    }
    return fit_shape(v, info, cv, origin, kind);
}

static void free_vars(skiff__model_var *v, int n)
{
    for (int i = 0; v && i < n; i++) {
        skiff__free(v[i].name);
        skiff__free(v[i].alias);
    }
    skiff__free(v);
}

static const char *list_names(const skiff_model_t *e, bool inputs, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    int n = inputs ? skiff_model_input_count(e) : skiff_model_output_count(e);
    for (int i = 0; i < n && off + 1 < cap; i++) {
        const skiff_value_info_t *vi = inputs ? skiff_model_input(e, i) : skiff_model_output(e, i);
        off += (size_t)snprintf(buf + off, cap - off, "%s'%s'", i ? ", " : "", vi->name);
    }
    return buf;
}

/* Builds d.feed / d.fetch from the conf (or the graph when conf is NULL). */
static skiff_status_t *build_vars(skiff__model *m, const skiff__model_conf *conf,
                                  const char *origin)
{
    const skiff_model_t *e = m->engine;
    int n_in = skiff_model_input_count(e), n_out = skiff_model_output_count(e);
    /* without a conf, every input and output but the LoD companions is a var */
    int vars_in = 0, vars_out = 0;
    for (int k = 0; k < n_in; k++)
        vars_in += !is_lod_companion(e, k, true);
    for (int k = 0; k < n_out; k++)
        vars_out += !is_lod_companion(e, k, false);
    int n_feed = conf ? conf->n_feed : vars_in;
    int n_fetch = conf ? conf->n_fetch : vars_out;
    char names[512];
    if (n_feed == 0 && n_in > 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: no feed_var (model inputs: %s)",
                                origin, list_names(e, true, names, sizeof(names)));
    if (n_fetch == 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: no fetch_var (model outputs: %s)",
                                origin, list_names(e, false, names, sizeof(names)));
    m->d.feed = skiff__calloc((size_t)(n_feed ? n_feed : 1), sizeof(skiff__model_var));
    m->d.fetch = skiff__calloc((size_t)n_fetch, sizeof(skiff__model_var));
    if (!m->d.feed || !m->d.fetch)
        return oom();
    skiff_status_t *st;
    for (int i = 0, next = 0; i < n_feed; i++) {
        const skiff__conf_var *cv = conf ? &conf->feed[i] : NULL;
        while (!cv && is_lod_companion(e, next, true))
            next++;
        int idx = cv ? skiff_model_input_index(e, cv->name) : next++;
        if (idx < 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "%s: feed_var '%s' is not an input of the model (inputs: %s)",
                                    origin, cv->name, list_names(e, true, names, sizeof(names)));
        for (int j = 0; j < i; j++)
            if (m->d.feed[j].engine_index == idx)
                return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                        "%s: two feed_vars name the model input '%s'", origin,
                                        cv->name);
        m->d.n_feed = i + 1;
        if ((st = make_var(&m->d.feed[i], skiff_model_input(e, idx), idx, cv, origin, true)))
            return st;
        int lod = lod_companion(e, skiff_model_input(e, idx)->name, true);
        if (lod >= 0) {
            m->d.feed[i].lod_index = lod;
            m->d.feed[i].is_lod = true;
        }
    }
    /* Every graph input needs a feed var (or is one's LoD): the engine has
     * no defaults. */
    for (int k = 0; k < n_in; k++) {
        bool covered = false;
        for (int i = 0; i < n_feed; i++)
            covered |= m->d.feed[i].engine_index == k || m->d.feed[i].lod_index == k;
        if (!covered)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "%s: the model's input '%s' has no feed_var", origin,
                                    skiff_model_input(e, k)->name);
    }
    for (int i = 0, next = 0; i < n_fetch; i++) {
        const skiff__conf_var *cv = conf ? &conf->fetch[i] : NULL;
        while (!cv && is_lod_companion(e, next, false))
            next++;
        int idx = cv ? skiff_model_output_index(e, cv->name) : next++;
        if (idx < 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "%s: fetch_var '%s' is not an output of the model (outputs: "
                                    "%s)",
                                    origin, cv->name, list_names(e, false, names, sizeof(names)));
        m->d.n_fetch = i + 1;
        if ((st = make_var(&m->d.fetch[i], skiff_model_output(e, idx), idx, cv, origin, false)))
            return st;
        int lod = lod_companion(e, skiff_model_output(e, idx)->name, false);
        if (lod >= 0) {
            m->d.fetch[i].lod_index = lod;
            m->d.fetch[i].is_lod = true;
        }
    }
    /* Merging jobs concatenates inputs and slices outputs along dim 0, which
     * needs a free leading dim on both sides. */
    bool any_batched = false, ok = true;
    for (int i = 0; i < m->d.n_feed; i++) {
        any_batched |= m->d.feed[i].batched;
        ok &= !m->d.feed[i].batched || m->d.feed[i].fixed_batch < 0;
        ok &= m->d.feed[i].lod_index < 0; /* offsets as an input: one job per run */
    }
    for (int i = 0; i < m->d.n_fetch; i++)
        ok &= m->d.fetch[i].batched && m->d.fetch[i].fixed_batch < 0;
    m->d.mergeable = any_batched && ok && m->d.max_batch > 1;
    return NULL;
}

skiff_status_t *skiff__model_conf_from_graph(const skiff_model_t *engine, const char *feed_aliases,
                                             const char *fetch_aliases,
                                             skiff__model_conf **out_conf)
{
    *out_conf = NULL;
    skiff__model_conf *c = skiff__calloc(1, sizeof(*c));
    int n_in = skiff_model_input_count(engine), n_out = skiff_model_output_count(engine);
    if (!c || (n_in && !(c->feed = skiff__calloc((size_t)n_in, sizeof(*c->feed)))) ||
        (n_out && !(c->fetch = skiff__calloc((size_t)n_out, sizeof(*c->fetch))))) {
        skiff__model_conf_free(c);
        return oom();
    }
    for (int pass = 0; pass < 2; pass++) {
        bool feed = pass == 0;
        int n = feed ? n_in : n_out;
        const char *aliases = feed ? feed_aliases : fetch_aliases;
        for (int i = 0; i < n; i++) {
            const skiff_value_info_t *vi =
                feed ? skiff_model_input(engine, i) : skiff_model_output(engine, i);
            skiff__conf_var *v = feed ? &c->feed[c->n_feed++] : &c->fetch[c->n_fetch++];
            /* The i-th comma-separated alias, when the list has one. */
            const char *a = aliases;
            for (int k = 0; a && k < i; k++) {
                a = strchr(a, ',');
                if (a)
                    a++;
            }
            size_t alen = 0;
            if (a && *a) {
                const char *comma = strchr(a, ',');
                alen = comma ? (size_t)(comma - a) : strlen(a);
            }
            v->name = skiff__strdup(vi->name);
            v->alias_name = alen ? skiff__strndup(a, alen) : skiff__strdup(vi->name);
            if (!v->name || !v->alias_name) {
                skiff__model_conf_free(c);
                return oom();
            }
            int t = skiff__paddle_type_from_dtype(vi->dtype);
            if (t < 0) {
                skiff_status_t *st = skiff_status_new(
                    SKIFF_CODE_UNSUPPORTED, "%s '%s' is %s, which has no Paddle type code",
                    feed ? "input" : "output", vi->name, skiff_dtype_name(vi->dtype));
                skiff__model_conf_free(c);
                return st;
            }
            v->type = t;
            if (vi->ndim <= 0) {
                v->n_shape = 0;
            } else if (vi->ndim - 1 > SKIFF__CONF_MAX_SHAPE) {
                skiff__model_conf_free(c);
                return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "'%s' has rank %d", vi->name,
                                        vi->ndim);
            } else {
                v->n_shape = vi->ndim - 1;
                memcpy(v->shape, vi->dims + 1, sizeof(int64_t) * (size_t)v->n_shape);
            }
            for (int k = 0; k < i; k++) {
                const skiff__conf_var *o = feed ? &c->feed[k] : &c->fetch[k];
                if (!strcmp(o->alias_name, v->alias_name)) {
                    skiff_status_t *st = skiff_status_new(
                        SKIFF_CODE_INVALID_ARG, "alias '%s' is given twice", v->alias_name);
                    skiff__model_conf_free(c);
                    return st;
                }
            }
        }
    }
    *out_conf = c;
    return NULL;
}

/* ---- open / close ---------------------------------------------------------- */

static void model_free(skiff__model *m)
{
    for (int i = 0; m->inst && i < m->n_inst; i++) {
        skiff_context_free(m->inst[i].ctx);
        skiff__free(m->inst[i].in_ptrs);
        skiff__free(m->inst[i].out_ptrs);
        skiff__free(m->inst[i].batch);
    }
    skiff__free(m->inst);
    for (int i = 0; m->islot && i < m->n_islot; i++) {
        skiff_context_free(m->islot[i].ctx);
        skiff__free(m->islot[i].in_ptrs);
        skiff__free(m->islot[i].out_ptrs);
    }
    skiff__free(m->islot);
    skiff_model_free(m->engine);
    free_vars(m->d.feed, m->d.n_feed);
    free_vars(m->d.fetch, m->d.n_fetch);
    skiff__free((char *)m->d.name);
    skiff__free((char *)m->d.dir);
    skiff__free((char *)m->d.onnx_path);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    skiff__free(m);
}

/* Zero inputs from input `from` on, of `rows` rows, for a warm-up job (into
 * t[], owned by the caller); false when an input's shape is not fully known. */
static bool warm_inputs_from(skiff__model *m, skiff__job *job, skiff_tensor_t **t, int from,
                             int64_t rows, int64_t lod[2])
{
    for (int i = from; i < m->d.n_feed; i++) {
        const skiff__model_var *v = &m->d.feed[i];
        int64_t dims[SKIFF_MAX_DIMS];
        int nd = 0;
        if (v->ndim < 0 || v->dtype == SKIFF_DTYPE_STRING)
            return false;
        if (v->batched)
            dims[nd++] = v->fixed_batch > 0 ? v->fixed_batch : rows;
        for (int k = 0; k < v->ndim; k++) {
            if (v->dims[k] < 0)
                return false;
            dims[nd++] = v->dims[k];
        }
        skiff_tensor_free(t[i]);
        t[i] = NULL;
        skiff_status_t *st = skiff_tensor_new(v->dtype, nd, dims, &t[i]);
        if (st) {
            skiff_status_free(st);
            return false;
        }
        job->inputs[i] = t[i];
        if (v->is_lod) {
            lod[0] = 0;
            lod[1] = nd ? dims[0] : 1;
            job->lod[i] = lod;
            job->n_lod[i] = 2;
        }
    }
    return true;
}

static bool warm_inputs(skiff__model *m, skiff__job *job, skiff_tensor_t **t, int64_t rows,
                        int64_t lod[2])
{
    return warm_inputs_from(m, job, t, 0, rows, lod);
}

skiff_status_t *skiff__parse_warm_spec(const char *spec, const char *name, int64_t *dims,
                                       int *ndims, int *n)
{
    *n = 0;
    for (const char *p = spec ? spec : ""; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        const char *shape = colon ? colon + 1 : p;
        size_t slen = len - (size_t)(shape - p);
        bool mine = !colon || !name ||
                    (strlen(name) == (size_t)(colon - p) && !strncmp(name, p, (size_t)(colon - p)));
        int64_t d[8];
        int nd = 0;
        const char *q = shape;
        bool ok = slen > 0 && (!colon || colon > p);
        while (ok && q < shape + slen) {
            int64_t v = 0;
            const char *s0 = q;
            while (q < shape + slen && *q >= '0' && *q <= '9' && v <= 65536)
                v = v * 10 + (*q++ - '0');
            ok = q > s0 && v >= 1 && v <= 65536 && nd < 8 &&
                 (q == shape + slen || (*q == 'x' && q + 1 < shape + slen));
            if (ok)
                d[nd++] = v;
            if (ok && q < shape + slen)
                q++;
        }
        if (!ok)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "--warmup_shapes '%s': item '%.*s': expected [NAME:]AxBx... "
                                    "(1 to 8 sizes of 1 to 65536, the first input's shape with "
                                    "its batch)",
                                    spec, (int)len, p);
        if (mine) {
            if (*n >= SKIFF__WARM_SHAPES_MAX)
                return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                        "--warmup_shapes: more than %d shapes for one model",
                                        SKIFF__WARM_SHAPES_MAX);
            memcpy(dims + (size_t)*n * 8, d, sizeof(int64_t) * (size_t)nd);
            ndims[(*n)++] = nd;
        }
        p += len + (end ? 1 : 0);
    }
    return NULL;
}

/* warmup_shapes against the first input: as many sizes as it has dims
 * (with the batch), and its fixed sizes as they are. */
static skiff_status_t *check_warm_shapes(const skiff__model *m, const skiff__model_options *o)
{
    if (o->n_warmup_shapes <= 0)
        return NULL;
    const skiff__model_var *v = m->d.n_feed > 0 ? &m->d.feed[0] : NULL;
    if (!v || v->ndim < 0 || v->dtype == SKIFF_DTYPE_STRING)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "model '%s': warmup_shapes: its first input has no shape to "
                                "fill",
                                m->d.name);
    int want = v->ndim + (v->batched ? 1 : 0);
    for (int i = 0; i < o->n_warmup_shapes; i++) {
        const int64_t *d = o->warmup_dims + (size_t)i * 8;
        if (o->warmup_ndims[i] != want)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "model '%s': warmup_shapes item %d: input '%s' has %d "
                                    "dims%s, got %d sizes",
                                    m->d.name, i, v->alias ? v->alias : v->name, want,
                                    v->batched ? " with the batch" : "", o->warmup_ndims[i]);
        for (int k = 0; k < v->ndim; k++) {
            int64_t got = d[k + (v->batched ? 1 : 0)];
            if (v->dims[k] >= 0 && v->dims[k] != got)
                return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                        "model '%s': warmup_shapes item %d: size %d of input "
                                        "'%s' is fixed at %lld, got %lld",
                                        m->d.name, i, k + (v->batched ? 1 : 0),
                                        v->alias ? v->alias : v->name, (long long)v->dims[k],
                                        (long long)got);
        }
    }
    return NULL;
}

/* Zero inputs for warm-up shape dims (nd sizes): the first input at that
 * shape, the others as warm_inputs makes them for its rows. */
static bool warm_shape_inputs(skiff__model *m, skiff__job *job, skiff_tensor_t **t,
                              const int64_t *dims, int nd, int64_t lod[2])
{
    const skiff__model_var *v = &m->d.feed[0];
    int64_t rows = v->batched ? dims[0] : 1;
    if (m->d.n_feed > 1 && !warm_inputs_from(m, job, t, 1, rows, lod)) {
        /* the other inputs' shapes are not fully known: only the first one
         * can be filled, so this shape does not run */
        return false;
    }
    skiff_tensor_free(t[0]);
    t[0] = NULL;
    skiff_status_t *st = skiff_tensor_new(v->dtype, nd, dims, &t[0]);
    if (st) {
        skiff_status_free(st);
        return false;
    }
    job->inputs[0] = t[0];
    if (v->is_lod) {
        lod[0] = 0;
        lod[1] = nd ? dims[0] : 1;
        job->lod[0] = lod;
        job->n_lod[0] = 2;
    }
    return true;
}

/* One run of a warm-up job on an instance; false (logged) on failure. */
static bool warm_run(skiff__model *m, skiff__instance *in, skiff__job *job, double *us)
{
    skiff__job_reset(job);
    skiff_status_t *st = skiff__model_check_job(m, job);
    uint64_t t0 = skiff__now_ns();
    if (!st)
        st = skiff__sched_run_one(m, in, job);
    job->status = NULL; /* owned by st from here */
    *us = (double)(skiff__now_ns() - t0) / 1e3;
    if (!st)
        return true;
    skiff_log(SKIFF_LOG_DEBUG, "model %s: warm-up run failed: %s", m->d.name,
              skiff_status_message(st));
    skiff_status_free(st);
    return false;
}

/* Runs one row of zeros through every instance to time the model (deciding
 * whether inline runs pay off) and to warm every context's per-shape state;
 * then each extra batch size asked for (opts->warmup_batches) once per
 * instance, so no request pays that size's first run. */
static void warm_up(skiff__model *m, const skiff__model_options *opts)
{
    skiff__job *job = NULL;
    skiff_tensor_t **t = skiff__calloc((size_t)m->d.n_feed + 1, sizeof(*t));
    int64_t lod[2] = {0, 1};
    bool ok = t != NULL;
    if (ok) {
        skiff_status_t *st = skiff__job_new(m, &job);
        if (st) {
            /* No warm-up without memory: the model serves, queued only. */
            skiff_status_free(st);
            job = NULL;
            ok = false;
        }
    }
    ok = ok && warm_inputs(m, job, t, 1, lod);
    double best = 0;
    for (int k = 0; ok && k < m->n_inst + 2; k++) {
        double us;
        ok = warm_run(m, &m->inst[k < m->n_inst ? k : 0], job, &us);
        if (ok && k >= m->n_inst - 1 && (best == 0 || us < best))
            best = us;
    }
    if (ok) {
        m->d.warmup_us = best;
        size_t buffers, scratch;
        skiff_context_memory_held(m->inst[0].ctx, &buffers, &scratch);
        m->d.inst_bytes = buffers + scratch;
    }
    if (opts->inline_mode == SKIFF__INLINE_ON)
        m->d.inline_ok = true;
    else if (opts->inline_mode == SKIFF__INLINE_AUTO)
        m->d.inline_ok = ok && best < (double)opts->inline_max_us;

    /* Extra batch sizes: only where the batch dim is free. */
    uint64_t t0 = skiff__now_ns();
    int warmed = 0;
    for (int b = 0; ok && m->d.mergeable && b < m->d.n_warmup_batches; b++) {
        int rows = m->d.warmup_batches[b];
        if (rows == 1)
            continue;
        ok = warm_inputs(m, job, t, rows, lod);
        for (int k = 0; ok && k < m->n_inst; k++) {
            double us;
            ok = warm_run(m, &m->inst[k], job, &us);
        }
        warmed += ok;
    }
    if (warmed)
        skiff_log(SKIFF_LOG_INFO,
                  "model %s: warmed %d more batch size%s on %d instance%s in %.1f s", m->d.name,
                  warmed, warmed == 1 ? "" : "s", m->n_inst, m->n_inst == 1 ? "" : "s",
                  (double)(skiff__now_ns() - t0) / 1e9);

    /* Input shapes asked for (warmup_shapes), each on every instance. */
    t0 = skiff__now_ns();
    warmed = 0;
    int tried = 0;
    for (int s = 0; job && t && s < opts->n_warmup_shapes; s++) {
        bool run = warm_shape_inputs(m, job, t, opts->warmup_dims + (size_t)s * 8,
                                     opts->warmup_ndims[s], lod);
        for (int k = 0; run && k < m->n_inst; k++) {
            double us;
            run = warm_run(m, &m->inst[k], job, &us);
        }
        tried++;
        warmed += run;
    }
    if (tried)
        skiff_log(warmed == tried ? SKIFF_LOG_INFO : SKIFF_LOG_WARN,
                  "model %s: warmed %d of %d input shape%s on %d instance%s in %.1f s%s", m->d.name,
                  warmed, tried, tried == 1 ? "" : "s", m->n_inst, m->n_inst == 1 ? "" : "s",
                  (double)(skiff__now_ns() - t0) / 1e9,
                  warmed == tried ? "" : " (the others failed: --log_level debug says why)");
    for (int i = 0; t && i < m->d.n_feed; i++)
        skiff_tensor_free(t[i]);
    skiff__free(t);
    skiff__job_free(job);
}

/* An instance's or inline slot's engine context and run scratch. */
static skiff_status_t *make_context_holder(skiff__model *m, skiff__instance *in, int index,
                                           const char *what)
{
    skiff_context_options_t co = {.threads = m->d.threads};
    in->m = m;
    in->index = index;
    in->in_ptrs = skiff__calloc((size_t)m->n_engine_in + 1, sizeof(void *));
    in->out_ptrs = skiff__calloc((size_t)m->n_engine_out + 1, sizeof(void *));
    if (!in->in_ptrs || !in->out_ptrs)
        return oom();
    skiff_status_t *st = skiff_context_new(m->engine, &co, &in->ctx);
    return st ? skiff_status_wrap(st, "model '%s': %s %d", m->d.name, what, index) : NULL;
}

skiff_status_t *skiff__model_open(const char *path, const skiff__model_options *opts,
                                  skiff__model **out_model)
{
    *out_model = NULL;
    skiff__model_options defaults;
    if (!opts) {
        skiff__model_options_default(&defaults);
        opts = &defaults;
    }
    skiff__model *m = skiff__calloc(1, sizeof(*m));
    if (!m)
        return oom();
    pthread_mutex_init(&m->lock, NULL);
    /* Batch-fill waits are measured on the monotonic clock like everything else. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);
    skiff_status_t *st = NULL;
    skiff__model_conf *conf = NULL;
    char *conf_path = NULL;

    struct stat sb;
    if (stat(path, &sb) != 0) {
        st = skiff_status_new(SKIFF_CODE_NOT_FOUND, "model '%s': %s", path, strerror(errno));
        goto fail;
    }
    bool is_dir = S_ISDIR(sb.st_mode);
    m->d.name = opts->name ? skiff__strdup(opts->name) : base_name(path, !is_dir);
    if (!m->d.name) {
        st = oom();
        goto fail;
    }
    if (!valid_name(m->d.name)) {
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "model name '%s' may only use letters, digits, '_', '-' and '.' "
                              "(rename the directory or pass --name)",
                              m->d.name);
        goto fail;
    }
    if (is_dir) {
        m->d.dir = skiff__strdup(path);
        if (!m->d.dir) {
            st = oom();
            goto fail;
        }
        if (opts->model_filename && opts->model_filename[0]) {
            /* the engine finds the files under the names given */
            if (!(m->d.onnx_path = skiff__strdup(path))) {
                st = oom();
                goto fail;
            }
        } else if ((st = find_onnx(path, (char **)&m->d.onnx_path))) {
            goto fail;
        }
        conf_path = join_path(path, "serving_server_conf.prototxt");
        if (!conf_path) {
            st = oom();
            goto fail;
        }
        if (is_file(conf_path) && (st = skiff__model_conf_read_file(conf_path, &conf)))
            goto fail;
    } else {
        m->d.onnx_path = skiff__strdup(path);
        size_t n = strlen(path);
        while (n > 0 && path[n - 1] != '/')
            n--;
        m->d.dir = n ? skiff__strndup(path, n - (n > 1)) : skiff__strdup(".");
        if (!m->d.onnx_path || !m->d.dir) {
            st = oom();
            goto fail;
        }
    }

    skiff_model_options_t mo = {.optimize = opts->optimize ? 1 : 0,
                                .verbose = 0,
                                .model_filename = is_dir ? opts->model_filename : NULL,
                                .params_filename = is_dir ? opts->params_filename : NULL,
                                .precision = opts->precision};
    if (opts->precision_spec &&
        (st = skiff__model_precision_for(opts->precision_spec, m->d.name, &mo.precision)))
        goto fail;
    if ((st = skiff_model_load(m->d.onnx_path, &mo, &m->engine))) {
        st = skiff_status_wrap(st, "model '%s'", m->d.name);
        goto fail;
    }
    m->d.platform = skiff_model_paddle_program(m->engine) ? "skiff_paddle" : "skiff_onnx";
    m->d.precision = skiff_precision_name(skiff_model_precision(m->engine));
    m->n_engine_in = skiff_model_input_count(m->engine);
    m->n_engine_out = skiff_model_output_count(m->engine);
    m->d.instances = opts->instances > 0 ? opts->instances : 1;
    m->d.threads = opts->threads > 0 ? opts->threads : 1;
    m->d.max_batch = opts->max_batch > 0 ? opts->max_batch : 1;
    m->d.max_queue_delay_us = opts->max_queue_delay_us > 0 ? opts->max_queue_delay_us : 0;
    if ((st = skiff__parse_batch_sizes("--batch_sizes", opts->batch_sizes, m->d.max_batch,
                                       m->d.batch_sizes, &m->d.n_batch_sizes)) ||
        (st = skiff__parse_batch_sizes(
             "--warmup_batches", opts->warmup_batches ? opts->warmup_batches : "1", m->d.max_batch,
             m->d.warmup_batches, &m->d.n_warmup_batches)))
        goto fail;
    m->d.queue_size = opts->queue_size > 0 ? opts->queue_size : 1;
    if ((st = build_vars(m, conf, conf ? conf_path : m->d.onnx_path)))
        goto fail;
    if (!m->d.mergeable)
        m->d.n_batch_sizes = 0;

    m->inst = skiff__calloc((size_t)m->d.instances, sizeof(*m->inst));
    if (!m->inst) {
        st = oom();
        goto fail;
    }
    m->n_inst = m->d.instances;
    for (int i = 0; i < m->n_inst; i++)
        if ((st = make_context_holder(m, &m->inst[i], i, "instance")))
            goto fail;
    /* warm-up shapes: the op's (warmup_shapes) and --warmup_shapes' for this name */
    skiff__model_options wo = *opts;
    int64_t *wdims = NULL;
    int *wnd = NULL;
    if (opts->warmup_spec) {
        int n_spec = 0, n_op = opts->n_warmup_shapes > 0 ? opts->n_warmup_shapes : 0;
        wdims = skiff__calloc((size_t)(SKIFF__WARM_SHAPES_MAX + n_op) * 8, sizeof(int64_t));
        wnd = skiff__calloc((size_t)(SKIFF__WARM_SHAPES_MAX + n_op), sizeof(int));
        if (!wdims || !wnd) {
            skiff__free(wdims);
            skiff__free(wnd);
            st = oom();
            goto fail;
        }
        if (n_op) {
            memcpy(wdims, opts->warmup_dims, sizeof(int64_t) * 8 * (size_t)n_op);
            memcpy(wnd, opts->warmup_ndims, sizeof(int) * (size_t)n_op);
        }
        st = skiff__parse_warm_spec(opts->warmup_spec, m->d.name, wdims + (size_t)n_op * 8,
                                    wnd + n_op, &n_spec);
        wo.warmup_dims = wdims;
        wo.warmup_ndims = wnd;
        wo.n_warmup_shapes = n_op + n_spec;
    }
    if (!st)
        st = check_warm_shapes(m, &wo);
    if (!st)
        warm_up(m, &wo);
    skiff__free(wdims);
    skiff__free(wnd);
    if (st)
        goto fail;
    if (m->d.inline_ok && opts->inline_slots > 0) {
        m->islot = skiff__calloc((size_t)opts->inline_slots, sizeof(*m->islot));
        if (!m->islot) {
            st = oom();
            goto fail;
        }
        m->n_islot = opts->inline_slots;
        for (int i = 0; i < m->n_islot; i++)
            if ((st = make_context_holder(m, &m->islot[i], i, "inline context")))
                goto fail;
    }
    if ((st = skiff__sched_start(m)))
        goto fail;
    skiff__free(conf_path);
    skiff__model_conf_free(conf);
    *out_model = m;
    return NULL;
fail:
    skiff__free(conf_path);
    skiff__model_conf_free(conf);
    skiff__sched_stop(m);
    model_free(m);
    return st;
}

void skiff__model_close(skiff__model *m)
{
    if (!m)
        return;
    skiff__sched_stop(m);
    model_free(m);
}

const skiff__model_desc *skiff__model_describe(const skiff__model *m) { return &m->d; }

skiff__model_stats *skiff__model_get_stats(skiff__model *m) { return &m->stats; }

skiff_status_t *skiff__model_precision_for(const char *spec, const char *name,
                                           skiff_precision_t *out)
{
    *out = SKIFF_PRECISION_FP32;
    bool named = false;
    for (const char *p = spec ? spec : ""; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[160];
        if (len == 0 || len >= sizeof(item))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "--precision '%s': expected P or NAME=P,NAME=P (P: fp32, "
                                    "bf16, int8)",
                                    spec);
        memcpy(item, p, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        const char *val = eq ? eq + 1 : item;
        if (eq)
            *eq = '\0';
        skiff_precision_t v;
        if (!skiff_precision_parse(val, &v) || (eq && item[0] == '\0'))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "--precision: entry '%.*s': expected fp32, bf16 or int8%s",
                                    (int)len, p, eq ? " after NAME=" : "");
        if (name && eq && strcmp(item, name) == 0) {
            *out = v;
            named = true;
        } else if (!eq && !named) {
            *out = v;
        }
        p += len + (end ? 1 : 0);
    }
    return NULL;
}
