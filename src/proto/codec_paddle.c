/* codec_paddle.c - Paddle Serving 0.4's web service JSON format
 * (POST /{name}/prediction), and the helpers both Paddle formats share.
 *
 * It takes a list of feed dicts, each one instance keyed by alias, with
 * values as flat or nested lists that the Python client reshaped to the conf
 * shape; we do the same server-side: a value whose element count is k times
 * the per-instance count becomes k rows, and dicts are stacked along the
 * batch dim. LoD (sequence) inputs are concatenated and their offsets
 * recorded, as Paddle's LoDTensor does. (The 0.9 format: codec_paddle09.c.) */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "proto/codec_int.h"

/* ============================ Paddle web ===================================== */

typedef struct web_ctx {
    const skiff__model_io *io;
    skiff__codec_limits lim;
    json_t **dicts;
    json_t *one_dict; /* storage for dicts when "feed" is a single object */
    int n_dicts;
    int64_t elements; /* decoded so far, against lim.max_elements */
    int64_t batch;    /* -1 until the first batched input sets it */
    const char *batch_from;
    skiff__infer_request *req;
} web_ctx;

skiff_status_t *skiff__codec_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
skiff_status_t *skiff__codec_bad(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s", msg);
}

/* Builds the "feed[1]: input 'x'" prefix of messages. */
static const char *what_input(char *buf, size_t cap, int n_dicts, int dict, const char *key)
{
    if (n_dicts > 1)
        snprintf(buf, cap, "feed[%d]: input '%.*s'", dict, SKIFF__CODEC_Q(key));
    else
        snprintf(buf, cap, "input '%.*s'", SKIFF__CODEC_Q(key));
    return buf;
}

static bool dims_equal(int n, const int64_t *a, const int64_t *b)
{
    for (int i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* Whether nested shape `got` fits spec dims (-1 = any). */
static bool dims_fit(int n, const int64_t *spec, const int64_t *got)
{
    for (int i = 0; i < n; i++)
        if (spec[i] >= 0 && spec[i] != got[i])
            return false;
    return true;
}

static bool all_static(int n, const int64_t *d)
{
    for (int i = 0; i < n; i++)
        if (d[i] < 0)
            return false;
    return true;
}

static bool count_elements(web_ctx *c, int64_t n)
{
    return n >= 0 && !__builtin_add_overflow(c->elements, n, &c->elements) &&
           c->elements <= c->lim.max_elements;
}

static skiff_dtype_t guess_dtype(const json_t *v)
{
    while (json_is_array(v) && json_array_size(v) > 0)
        v = json_array_get(v, 0);
    return json_is_string(v) ? SKIFF_DTYPE_STRING : SKIFF_DTYPE_FLOAT32;
}

/* Per-dict layout of one input: how many rows it adds and the shape of a row. */
typedef struct web_part {
    const json_t *v; /* the value (jansson decoder); NULL: nd, nest, count preset */
    int nd;
    int64_t nest[SKIFF_MAX_DIMS];
    int64_t count;
    int64_t rows;
    const json_t *lod; /* "alias.lod" value, LoD inputs only */
} web_part;

/* The layout of one input over every dict, shared by both decoders: each
 * part's rows (a value whose element count is k times the per-instance count
 * is k rows, as Paddle's client reshaped), the parts' agreement, and the
 * tensor's shape in *out_nd/dims. Messages are built only on failure: this
 * runs for every input of every request. */
static skiff_status_t *web_plan(web_ctx *c, const skiff__io_spec *s, skiff_dtype_t dtype,
                                const char *const *keys, web_part *parts, int *out_nd,
                                int64_t dims[SKIFF_MAX_DIMS])
{
    const char *key = keys[0];
    char what[256];
    skiff_status_t *st;
    bool batched = s ? s->batched : true;
    bool lod = s && s->is_lod;
    /* shape of one row (LoD) or one instance (batched), or the whole tensor */
    int rnd = 0; /* set by feed[0]; there is always one */
    int64_t rdims[SKIFF_MAX_DIMS];
    int64_t rows = 0;
#define WHAT what_input(what, sizeof(what), c->n_dicts, i, keys[i])

    if (s && s->ndim > SKIFF_MAX_DIMS)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "model input '%s' has rank %d, more than %d",
                                s->name, s->ndim, SKIFF_MAX_DIMS);
    if (skiff_dtype_size(dtype) == 0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "input '%.*s': element type %s is not "
                                "supported",
                                SKIFF__CODEC_Q(key), skiff_dtype_name(dtype));
    if (!batched && !lod && c->n_dicts > 1)
        return skiff__codec_bad(
            "input '%.*s': the model takes no batch dimension, so \"feed\" must hold one "
            "instance, got %d",
            SKIFF__CODEC_Q(key), c->n_dicts);

    for (int i = 0; i < c->n_dicts; i++) {
        web_part *p = &parts[i];
        if (p->v) {
            if ((st = skiff__codec_nested_shape(WHAT, p->v, &p->nd, p->nest)))
                return st;
            p->count = skiff_shape_numel(p->nd, p->nest);
        }
        if (!count_elements(c, p->count))
            return skiff__codec_bad("%s: the request holds more than %lld elements, the limit",
                                    WHAT, (long long)c->lim.max_elements);
        int pnd = 0; /* this part's row/instance shape */
        int64_t pd[SKIFF_MAX_DIMS];
        char a[160], b[160];

        if (!s || s->ndim < 0) {
            /* no declared shape: LoD rows are the outer list, otherwise each
             * dict is one instance (or the whole tensor when unbatched) */
            if (lod) {
                p->rows = p->nd ? p->nest[0] : 1;
                pnd = p->nd ? p->nd - 1 : 0;
                memcpy(pd, p->nest + (p->nd ? 1 : 0), sizeof(int64_t) * (size_t)pnd);
            } else {
                p->rows = 1;
                pnd = p->nd;
                memcpy(pd, p->nest, sizeof(int64_t) * (size_t)pnd);
            }
        } else {
            /* LoD specs list the sequence dim first (-1); a row is the rest */
            int tnd = s->ndim;
            const int64_t *td = s->dims;
            if (lod && s->ndim >= 1 && s->dims[0] < 0)
                tnd = s->ndim - 1, td = s->dims + 1;
            bool rowed = lod || batched;
            if (rowed && p->nd == tnd + 1 && dims_fit(tnd, td, p->nest + 1)) {
                p->rows = p->nest[0];
                pnd = tnd;
                memcpy(pd, p->nest + 1, sizeof(int64_t) * (size_t)tnd);
            } else if (p->nd == tnd && dims_fit(tnd, td, p->nest)) {
                p->rows = 1;
                pnd = tnd;
                memcpy(pd, p->nest, sizeof(int64_t) * (size_t)tnd);
            } else if (all_static(tnd, td)) {
                /* flat or otherwise shaped values are reshaped, as Paddle's
                 * client did with np.reshape */
                int64_t per = skiff_shape_numel(tnd, td);
                if (per > 0 && p->count % per == 0 && (rowed ? p->count > 0 : p->count == per)) {
                    p->rows = p->count / per;
                    pnd = tnd;
                    memcpy(pd, td, sizeof(int64_t) * (size_t)tnd);
                } else {
                    return skiff__codec_bad("%s: expected %s%lld elements (shape %s%s), got %lld",
                                            WHAT, rowed ? "a multiple of " : "", (long long)per,
                                            skiff_shape_str(tnd, td, a, sizeof(a)),
                                            lod     ? " per row"
                                            : rowed ? " per instance"
                                                    : "",
                                            (long long)p->count);
                }
            } else {
                return skiff__codec_bad("%s: expected shape %s%s, got nested shape %s", WHAT,
                                        skiff_shape_str(tnd, td, a, sizeof(a)),
                                        lod     ? " per row"
                                        : rowed ? " per instance, optionally with a batch dim"
                                                : "",
                                        skiff_shape_str(p->nd, p->nest, b, sizeof(b)));
            }
        }
        if (i == 0) {
            rnd = pnd;
            memcpy(rdims, pd, sizeof(int64_t) * (size_t)pnd);
        } else if (pnd != rnd || !dims_equal(pnd, pd, rdims)) {
            return skiff__codec_bad("%s: shape %s per %s differs from feed[0]'s %s", WHAT,
                                    skiff_shape_str(pnd, pd, a, sizeof(a)),
                                    lod ? "row" : "instance",
                                    skiff_shape_str(rnd, rdims, b, sizeof(b)));
        }
        if (__builtin_add_overflow(rows, p->rows, &rows))
            return skiff__codec_bad("%s: too many rows", WHAT);
    }
#undef WHAT

    /* the tensor: [rows] + row shape, or the instance shape itself */
    int nd = 0;
    if (lod || batched) {
        if (rnd + 1 > SKIFF_MAX_DIMS)
            return skiff__codec_bad("input '%.*s': the batch dim would make rank %d, more than %d",
                                    SKIFF__CODEC_Q(key), rnd + 1, SKIFF_MAX_DIMS);
        dims[nd++] = rows;
    }
    memcpy(dims + nd, rdims, sizeof(int64_t) * (size_t)rnd);
    *out_nd = nd + rnd;
    return NULL;
}

/* Every batched input must agree on the batch size (rows, or sequences for
 * LoD inputs). */
static skiff_status_t *web_batch(web_ctx *c, const char *key, bool lod, int64_t b)
{
    if (c->batch < 0) {
        c->batch = b;
        c->batch_from = key;
        return NULL;
    }
    if (b == c->batch)
        return NULL;
    return skiff__codec_bad(
        "input '%.*s': batch of %lld %s differs from input '%.*s' batch of %lld",
        SKIFF__CODEC_Q(key), (long long)b, lod ? "sequences" : "rows",
        SKIFF__CODEC_Q(c->batch_from), (long long)c->batch);
}

static skiff_status_t *web_input(web_ctx *c, int spec_idx, const char *const *keys, web_part *parts)
{
    const skiff__io_spec *s = spec_idx >= 0 ? &c->io->inputs[spec_idx] : NULL;
    const char *key = keys[0];
    char what[256];
    skiff_status_t *st;
    skiff_dtype_t dtype = s ? s->dtype : guess_dtype(parts[0].v);
    bool batched = s ? s->batched : true;
    bool lod = s && s->is_lod;
    int nd = 0;
    int64_t dims[SKIFF_MAX_DIMS];
    if ((st = web_plan(c, s, dtype, keys, parts, &nd, dims)))
        return st;
    int64_t rows = (lod || batched) ? dims[0] : 0;

    /* LoD offsets: "alias.lod" per dict, else one sequence per dict */
    int64_t *lodv = NULL;
    int n_lod = 0;
    if (lod) {
        size_t total = 1;
        for (int i = 0; i < c->n_dicts; i++) {
            const json_t *l = parts[i].lod;
            if (l && !json_is_array(l))
                return skiff__codec_bad("feed[%d]: '%.*s.lod' is %s, expected a list of offsets", i,
                                        SKIFF__CODEC_Q(keys[i]), skiff__codec_json_kind(l));
            size_t ln = l ? json_array_size(l) : 2;
            if (ln < 2)
                return skiff__codec_bad(
                    "feed[%d]: '%.*s.lod' needs at least 2 offsets ([0, end]), got %zu", i,
                    SKIFF__CODEC_Q(keys[i]), ln);
            if (ln > (size_t)c->lim.max_elements)
                return skiff__codec_bad("feed[%d]: '%.*s.lod' is too long", i,
                                        SKIFF__CODEC_Q(keys[i]));
            total += ln - 1;
        }
        if (total > (size_t)INT32_MAX)
            return skiff__codec_bad("input '%.*s': too many sequences", SKIFF__CODEC_Q(key));
        lodv = skiff__malloc(sizeof(int64_t) * total);
        if (!lodv)
            return skiff__codec_oom();
        lodv[n_lod++] = 0;
        int64_t base = 0;
        for (int i = 0; i < c->n_dicts; i++) {
            const json_t *l = parts[i].lod;
            if (!l) {
                lodv[n_lod++] = base + parts[i].rows;
                base += parts[i].rows;
                continue;
            }
            size_t ln = json_array_size(l);
            int64_t *rel = skiff__malloc(sizeof(int64_t) * ln);
            if (!rel) {
                skiff__free(lodv);
                return skiff__codec_oom();
            }
            char lw[300];
            snprintf(lw, sizeof(lw), "feed[%d]: '%.*s.lod'", i, SKIFF__CODEC_Q(keys[i]));
            st = NULL;
            for (size_t k = 0; !st && k < ln; k++) {
                const json_t *e = json_array_get(l, k);
                if (!json_is_integer(e))
                    st = skiff__codec_bad("%s: offset %zu is %s, expected an integer", lw, k,
                                          skiff__codec_json_kind(e));
                else
                    rel[k] = (int64_t)json_integer_value(e);
            }
            if (!st)
                st = skiff__codec_check_lod(lw, rel, (int)ln, parts[i].rows);
            for (size_t k = 1; !st && k < ln; k++)
                lodv[n_lod++] = base + rel[k];
            skiff__free(rel);
            if (st) {
                skiff__free(lodv);
                return st;
            }
            base += parts[i].rows;
        }
    }

    skiff_tensor_t *t = NULL;
    if ((st = skiff_tensor_new(dtype, nd, dims, &t))) {
        skiff__free(lodv);
        return skiff_status_wrap(st, "input '%.*s'", SKIFF__CODEC_Q(key));
    }
    int64_t at = 0;
    for (int i = 0; i < c->n_dicts; i++) {
        what_input(what, sizeof(what), c->n_dicts, i, keys[i]);
        if ((st = skiff__codec_fill(what, parts[i].v, parts[i].nd, parts[i].nest, dtype, t->data,
                                    at, 0))) {
            skiff_tensor_free(t);
            skiff__free(lodv);
            return st;
        }
        at += parts[i].count;
    }

    if ((lod || batched) && (st = web_batch(c, key, lod, lod ? n_lod - 1 : rows))) {
        skiff_tensor_free(t);
        skiff__free(lodv);
        return st;
    }
    return skiff__codec_add_input(c->req, skiff__strdup(key), spec_idx, t, lodv, n_lod);
}

/* Room for a fetch list of n names in r->outputs. */
static skiff_status_t *fetch_alloc(size_t n, const char *field, const skiff__codec_limits *lim,
                                   skiff__infer_request *r)
{
    if (n > (size_t)lim->max_outputs)
        return skiff__codec_bad("\"%s\" lists %zu outputs, more than the limit of %d", field, n,
                                lim->max_outputs);
    if (n && !(r->outputs = skiff__calloc(n, sizeof(*r->outputs))))
        return skiff__codec_oom();
    return NULL;
}

/* One fetched name, matched to the model's outputs, appended to r->outputs. */
static skiff_status_t *fetch_one(const char *name, const char *field, const skiff__model_io *io,
                                 skiff__infer_request *r)
{
    int spec = -1;
    if (io) {
        spec = skiff__codec_find_spec(io->outputs, io->n_outputs, name, true);
        if (spec < 0) {
            char list[256];
            return skiff_status_new(
                SKIFF_CODE_INVALID_ARG, "unknown output '%.*s' in \"%s\"; model outputs: %s",
                SKIFF__CODEC_Q(name), field,
                skiff__codec_list_specs(io->outputs, io->n_outputs, list, sizeof(list)));
        }
    }
    for (int k = 0; k < r->n_outputs; k++)
        if ((spec >= 0 && r->outputs[k].spec == spec) ||
            (spec < 0 && strcmp(r->outputs[k].name, name) == 0))
            return skiff__codec_bad("output '%.*s' listed twice in \"%s\"", SKIFF__CODEC_Q(name),
                                    field);
    r->outputs[r->n_outputs].name = skiff__strdup(name);
    if (!r->outputs[r->n_outputs].name)
        return skiff__codec_oom();
    r->outputs[r->n_outputs++].spec = spec;
    return NULL;
}

/* Shared by both Paddle formats: a list of output names (or one string). */
skiff_status_t *skiff__codec_decode_fetch(const json_t *f, const char *field,
                                          const skiff__model_io *io, const skiff__codec_limits *lim,
                                          skiff__infer_request *r)
{
    if (!f || json_is_null(f))
        return NULL;
    if (!json_is_string(f) && !json_is_array(f))
        return skiff__codec_bad("\"%s\" is %s, expected a list of output names", field,
                                skiff__codec_json_kind(f));
    size_t n = json_is_string(f) ? 1 : json_array_size(f);
    skiff_status_t *st = fetch_alloc(n, field, lim, r);
    for (size_t i = 0; !st && i < n; i++) {
        const json_t *e = json_is_string(f) ? f : json_array_get(f, i);
        if (!json_is_string(e))
            return skiff__codec_bad("\"%s\"[%zu] is %s, expected an output name", field, i,
                                    skiff__codec_json_kind(e));
        st = fetch_one(json_string_value(e), field, io, r);
    }
    return st;
}

skiff_status_t *skiff__codec_decode_fetch_names(char *const *names, size_t n, const char *field,
                                                const skiff__model_io *io,
                                                const skiff__codec_limits *lim,
                                                skiff__infer_request *r)
{
    skiff_status_t *st = fetch_alloc(n, field, lim, r);
    for (size_t i = 0; !st && i < n; i++)
        st = fetch_one(names[i] ? names[i] : "", field, io, r);
    return st;
}

static bool ends_with_lod(const char *k, size_t *base_len)
{
    size_t n = strlen(k);
    if (n > 4 && strcmp(k + n - 4, ".lod") == 0) {
        *base_len = n - 4;
        return true;
    }
    return false;
}

/* Matches one dict's keys to specs: fills key_of[spec] and lod_of[spec]. */
static skiff_status_t *web_match_keys(web_ctx *c, int d, const char **key_of, const json_t **val_of,
                                      const json_t **lod_of)
{
    const skiff__io_spec *specs = c->io->inputs;
    int ns = c->io->n_inputs;
    const char *k;
    json_t *v;
    char list[256];
    json_object_foreach(c->dicts[d], k, v)
    {
        size_t bl;
        int j = skiff__codec_find_spec(specs, ns, k, true);
        if (j < 0 && ends_with_lod(k, &bl)) {
            char base[256];
            if (bl < sizeof(base)) {
                memcpy(base, k, bl);
                base[bl] = '\0';
                int lj = skiff__codec_find_spec(specs, ns, base, true);
                if (lj >= 0) {
                    if (!specs[lj].is_lod)
                        return skiff__codec_bad(
                            "feed[%d]: '%.*s' given but input '%.*s' is not a LoD input", d,
                            SKIFF__CODEC_Q(k), SKIFF__CODEC_Q(base));
                    if (lod_of[lj])
                        return skiff__codec_bad("feed[%d]: lod of input '%.*s' given twice", d,
                                                SKIFF__CODEC_Q(base));
                    lod_of[lj] = v;
                    continue;
                }
            }
        }
        if (j < 0)
            return skiff_status_new(
                SKIFF_CODE_INVALID_ARG, "feed[%d]: unknown input '%.*s'; model inputs: %s", d,
                SKIFF__CODEC_Q(k), skiff__codec_list_specs(specs, ns, list, sizeof(list)));
        if (key_of[j])
            return skiff__codec_bad("feed[%d]: input '%.*s' given twice (as '%.*s' and '%.*s')", d,
                                    SKIFF__CODEC_Q(specs[j].alias ? specs[j].alias : specs[j].name),
                                    SKIFF__CODEC_Q(key_of[j]), SKIFF__CODEC_Q(k));
        key_of[j] = k;
        val_of[j] = v;
    }
    return NULL;
}

static skiff_status_t *web_decode(web_ctx *c, json_t *root)
{
    skiff_status_t *st;
    json_t *feed = json_object_get(root, "feed");
    if (!feed)
        return skiff__codec_bad(
            "missing \"feed\": expected {\"feed\":[{\"<input>\":[..]}],\"fetch\":[..]}");
    if (json_is_object(feed)) {
        c->n_dicts = 1;
        c->one_dict = feed;
        c->dicts = &c->one_dict;
    } else if (json_is_array(feed)) {
        size_t n = json_array_size(feed);
        if (n == 0)
            return skiff__codec_bad("\"feed\" is an empty list, expected at least one instance");
        if (n > (size_t)c->lim.max_inputs)
            return skiff__codec_bad("\"feed\" holds %zu instances, more than the limit of %d", n,
                                    c->lim.max_inputs);
        c->n_dicts = (int)n;
        c->dicts = skiff__calloc(n, sizeof(json_t *));
        if (!c->dicts)
            return skiff__codec_oom();
        for (size_t i = 0; i < n; i++) {
            c->dicts[i] = json_array_get(feed, i);
            if (!json_is_object(c->dicts[i]))
                return skiff__codec_bad("feed[%zu] is %s, expected an object of inputs", i,
                                        skiff__codec_json_kind(c->dicts[i]));
        }
    } else {
        return skiff__codec_bad("\"feed\" is %s, expected a list of objects",
                                skiff__codec_json_kind(feed));
    }
    if ((st = skiff__codec_decode_fetch(json_object_get(root, "fetch"), "fetch", c->io, &c->lim,
                                        c->req)))
        return st;

    int nd = c->n_dicts;
    web_part *parts = skiff__calloc((size_t)nd, sizeof(*parts));
    const char **keys = skiff__calloc((size_t)nd, sizeof(*keys));
    if (!parts || !keys) {
        skiff__free(parts);
        skiff__free(keys);
        return skiff__codec_oom();
    }
    if (c->io) {
        int ns = c->io->n_inputs;
        size_t cells = (size_t)ns * (size_t)nd;
        const char **key_of = skiff__calloc(cells ? cells : 1, sizeof(*key_of));
        const json_t **val_of = skiff__calloc(cells ? cells : 1, sizeof(*val_of));
        const json_t **lod_of = skiff__calloc(cells ? cells : 1, sizeof(*lod_of));
        st = (!key_of || !val_of || !lod_of) ? skiff__codec_oom() : NULL;
        for (int d = 0; !st && d < nd; d++)
            st = web_match_keys(c, d, key_of + (size_t)d * (size_t)ns,
                                val_of + (size_t)d * (size_t)ns, lod_of + (size_t)d * (size_t)ns);
        for (int j = 0; !st && j < ns; j++) {
            const skiff__io_spec *s = &c->io->inputs[j];
            int given = 0;
            for (int d = 0; d < nd; d++) {
                size_t cell = (size_t)d * (size_t)ns + (size_t)j;
                given += key_of[cell] != NULL;
                if (!st && !key_of[cell] && lod_of[cell]) /* the first such feed is named */
                    st = skiff__codec_bad("feed[%d]: lod given for input '%.*s' but not its values",
                                          d, SKIFF__CODEC_Q(s->alias ? s->alias : s->name));
            }
            if (st || (given == 0 && s->optional))
                continue;
            if (given < nd) {
                int d = 0;
                while (key_of[(size_t)d * (size_t)ns + (size_t)j])
                    d++;
                const char *nm = s->alias ? s->alias : s->name;
                st = nd > 1
                         ? skiff__codec_bad("feed[%d]: missing input '%.*s'", d, SKIFF__CODEC_Q(nm))
                         : skiff__codec_bad("missing input '%.*s'", SKIFF__CODEC_Q(nm));
                continue;
            }
            for (int d = 0; d < nd; d++) {
                size_t cell = (size_t)d * (size_t)ns + (size_t)j;
                keys[d] = key_of[cell];
                parts[d] = (web_part){.v = val_of[cell], .lod = lod_of[cell]};
            }
            st = web_input(c, j, keys, parts);
        }
        skiff__free(key_of);
        skiff__free(val_of);
        skiff__free(lod_of);
    } else {
        /* no model description: dict 0's keys are the inputs */
        const char *k;
        json_t *v;
        st = NULL;
        json_object_foreach(c->dicts[0], k, v)
        {
            if ((size_t)c->req->n_inputs >= (size_t)c->lim.max_inputs) {
                st = skiff__codec_bad("more than %d inputs", c->lim.max_inputs);
                break;
            }
            for (int d = 0; d < nd; d++) {
                keys[d] = k;
                parts[d] = (web_part){.v = json_object_get(c->dicts[d], k)};
                if (!parts[d].v) {
                    st = skiff__codec_bad("feed[%d]: missing input '%.*s'", d, SKIFF__CODEC_Q(k));
                    break;
                }
            }
            if (st || (st = web_input(c, -1, keys, parts)))
                break;
        }
        for (int d = 1; !st && d < nd; d++)
            json_object_foreach(c->dicts[d], k, v)
            {
                if (!json_object_get(c->dicts[0], k)) {
                    st = skiff__codec_bad("feed[%d]: input '%.*s' is not in feed[0]", d,
                                          SKIFF__CODEC_Q(k));
                    break;
                }
            }
    }
    skiff__free(parts);
    skiff__free(keys);
    return st;
}

/* ---- Paddle web, streaming (the hot path) -------------------------------------- */

/* What the scanner found for one input in one dict. */
typedef struct wf_part {
    const char *key; /* the spec string the key equals (NUL-terminated); NULL = not given */
    int nd;
    int64_t nest[SKIFF_MAX_DIMS];
    int64_t count;
} wf_part;

#define WF_SMALL 16 /* parts (dicts x inputs), inputs and dicts kept on the stack */

typedef struct wf_ctx {
    const skiff__model_io *io;
    const skiff__codec_limits *lim;
    skiff__jscan s;
    int n_specs;
    skiff__jvec vec[WF_SMALL]; /* per input: its values, all dicts */
    wf_part part_small[WF_SMALL];
    wf_part *parts; /* [dict * n_specs + input] */
    int n_dicts, cap_dicts;
    int64_t elements;
    bool oom;
    int n_fetch;
    int fetch_spec[WF_SMALL];
    const char *fetch_name[WF_SMALL];
    size_t fetch_len[WF_SMALL];
} wf_ctx;

static bool wf_room(wf_ctx *c)
{
    if (c->n_dicts < c->cap_dicts)
        return true;
    int cap = c->cap_dicts ? c->cap_dicts * 2 : 4;
    size_t bytes;
    if (!skiff__mul_size((size_t)cap * (size_t)c->n_specs, sizeof(wf_part), &bytes))
        return false;
    wf_part *p = skiff__malloc(bytes);
    if (!p) {
        c->oom = true;
        return false;
    }
    if (c->n_dicts)
        memcpy(p, c->parts, sizeof(wf_part) * (size_t)c->n_dicts * (size_t)c->n_specs);
    if (c->parts != c->part_small)
        skiff__free(c->parts);
    c->parts = p;
    c->cap_dicts = cap;
    return true;
}

/* One feed dict: {"alias": [numbers..], ...}. */
static bool wf_dict(wf_ctx *c)
{
    const skiff__io_spec *specs = c->io->inputs;
    if (!skiff__jscan_eat(&c->s, '{') || c->n_dicts >= c->lim->max_inputs || !wf_room(c))
        return false;
    wf_part *row = c->parts + (size_t)c->n_dicts * (size_t)c->n_specs;
    for (int j = 0; j < c->n_specs; j++)
        row[j].key = NULL;
    c->n_dicts++;
    if (skiff__jscan_eat(&c->s, '}'))
        return true;
    do {
        const char *k;
        size_t kl;
        if (!skiff__jscan_string(&c->s, &k, &kl) || !skiff__jscan_eat(&c->s, ':'))
            return false;
        int j = skiff__codec_find_spec_n(specs, c->n_specs, k, kl, true);
        /* unknown keys ("x.lod" too), a key given twice (as itself or as
         * alias and name), LoD inputs and other types: the tree decoder's */
        if (j < 0 || row[j].key || specs[j].is_lod || !skiff__jnum_dtype_ok(specs[j].dtype))
            return false;
        skiff__jvec *v = &c->vec[j];
        int64_t before = v->n;
        bool oom;
        if (!skiff__jscan_tensor(&c->s, specs[j].dtype, v,
                                 v->n + (c->lim->max_elements - c->elements), &row[j].nd,
                                 row[j].nest, &oom)) {
            c->oom = oom;
            return false;
        }
        row[j].count = v->n - before;
        c->elements += row[j].count;
        /* the bytes equal the alias or the name: use that string */
        const char *al = specs[j].alias ? specs[j].alias : specs[j].name;
        row[j].key = strlen(al) == kl && memcmp(al, k, kl) == 0 ? al : specs[j].name;
    } while (skiff__jscan_eat(&c->s, ','));
    return skiff__jscan_eat(&c->s, '}');
}

/* "fetch": a list of output names, one name, or null. */
static bool wf_fetch(wf_ctx *c)
{
    const skiff__io_spec *outs = c->io->outputs;
    if (skiff__jscan_literal(&c->s, "null"))
        return true;
    bool list = skiff__jscan_eat(&c->s, '[');
    if (list && skiff__jscan_eat(&c->s, ']'))
        return true;
    do {
        const char *k;
        size_t kl;
        if (c->n_fetch >= WF_SMALL || c->n_fetch >= c->lim->max_outputs ||
            !skiff__jscan_string(&c->s, &k, &kl))
            return false;
        int j = skiff__codec_find_spec_n(outs, c->io->n_outputs, k, kl, true);
        if (j < 0)
            return false;
        for (int i = 0; i < c->n_fetch; i++)
            if (c->fetch_spec[i] == j)
                return false;
        c->fetch_spec[c->n_fetch] = j;
        c->fetch_name[c->n_fetch] = k;
        c->fetch_len[c->n_fetch++] = kl;
    } while (list && skiff__jscan_eat(&c->s, ','));
    return !list || skiff__jscan_eat(&c->s, ']');
}

static bool key_is(const char *k, size_t kl, const char *lit)
{
    return strlen(lit) == kl && memcmp(k, lit, kl) == 0;
}

/* The whole body: {"feed": [dicts] | dict, "fetch": ..}, nothing else. */
static bool wf_body(wf_ctx *c)
{
    bool feed = false, fetch = false;
    if (!skiff__jscan_eat(&c->s, '{'))
        return false;
    do {
        const char *k;
        size_t kl;
        if (!skiff__jscan_string(&c->s, &k, &kl) || !skiff__jscan_eat(&c->s, ':'))
            return false;
        if (key_is(k, kl, "feed") && !feed) {
            feed = true;
            if (skiff__jscan_eat(&c->s, '[')) {
                do {
                    if (!wf_dict(c))
                        return false;
                } while (skiff__jscan_eat(&c->s, ','));
                if (!skiff__jscan_eat(&c->s, ']'))
                    return false;
            } else if (!wf_dict(c)) {
                return false;
            }
        } else if (key_is(k, kl, "fetch") && !fetch) {
            fetch = true;
            if (!wf_fetch(c))
                return false;
        } else {
            return false; /* other keys, and duplicates, to the tree decoder */
        }
    } while (skiff__jscan_eat(&c->s, ','));
    return skiff__jscan_eat(&c->s, '}') && skiff__jscan_peek(&c->s) < 0 && feed;
}

/* Checks what wf_body found as web_decode would, then builds the request in
 * one allocation (*out); false to decline, or with c->oom set. */
static bool wf_build(wf_ctx *c, skiff__infer_request **out)
{
    web_ctx w = {.io = c->io, .lim = *c->lim, .n_dicts = c->n_dicts, .batch = -1};
    const char *keys_small[WF_SMALL];
    web_part parts_small[WF_SMALL];
    const char **keys = keys_small;
    web_part *parts = parts_small;
    if (c->n_dicts > WF_SMALL) {
        keys = skiff__calloc((size_t)c->n_dicts, sizeof(*keys));
        parts = skiff__calloc((size_t)c->n_dicts, sizeof(*parts));
    }
    bool ok = keys && parts;
    c->oom = !ok;
    int nd[WF_SMALL];
    int64_t dims[WF_SMALL][SKIFF_MAX_DIMS];
    const char *name[WF_SMALL]; /* NULL: an optional input left out */
    int n_in = 0;
    size_t strings = 0;
    for (int j = 0; ok && j < c->n_specs; j++) {
        const skiff__io_spec *sp = &c->io->inputs[j];
        int given = 0;
        name[j] = NULL;
        for (int d = 0; d < c->n_dicts; d++) {
            const wf_part *p = &c->parts[(size_t)d * (size_t)c->n_specs + (size_t)j];
            if (!p->key)
                continue;
            keys[given] = p->key;
            parts[given] = (web_part){.nd = p->nd, .count = p->count};
            memcpy(parts[given].nest, p->nest, sizeof(p->nest));
            given++;
        }
        if (given == 0 && sp->optional)
            continue;
        /* a missing input or a shape problem: the tree decoder words it */
        skiff_status_t *st = NULL;
        if (given < c->n_dicts ||
            (st = web_plan(&w, sp, sp->dtype, keys, parts, &nd[j], dims[j])) ||
            skiff_shape_numel(nd[j], dims[j]) != c->vec[j].n ||
            (sp->batched && (st = web_batch(&w, keys[0], false, dims[j][0])))) {
            skiff_status_free(st);
            ok = false;
            break;
        }
        name[j] = keys[0];
        strings += strlen(keys[0]) + 1;
        n_in++;
    }
    if (keys != keys_small)
        skiff__free(keys);
    if (parts != parts_small)
        skiff__free(parts);
    if (!ok)
        return false;
    for (int i = 0; i < c->n_fetch; i++)
        strings += c->fetch_len[i] + 1;
    skiff__packed pk;
    if (!skiff__codec_packed_new(n_in, c->n_fetch, strings, &pk)) {
        c->oom = true;
        return false;
    }
    skiff__infer_request *r = pk.req;
    for (int j = 0; j < c->n_specs; j++) {
        if (!name[j])
            continue;
        skiff_tensor_t *t = &pk.tensors[r->n_inputs];
        if (!skiff__jvec_take(&c->vec[j], t, c->io->inputs[j].dtype, nd[j], dims[j])) {
            skiff__infer_request_free(r);
            c->oom = true;
            return false;
        }
        r->inputs[r->n_inputs++] = (skiff__infer_input){
            .name = skiff__codec_packed_str(&pk, name[j], strlen(name[j])), .spec = j, .tensor = t};
    }
    for (int i = 0; i < c->n_fetch; i++)
        r->outputs[r->n_outputs++] = (skiff__infer_output_req){
            .name = skiff__codec_packed_str(&pk, c->fetch_name[i], c->fetch_len[i]),
            .spec = c->fetch_spec[i]};
    r->batch = w.batch < 0 ? 1 : w.batch;
    *out = r;
    return true;
}

skiff__fast_result skiff__decode_paddle_web_fast(const char *body, size_t len,
                                                 const skiff__model_io *io,
                                                 const skiff__codec_limits *limits,
                                                 skiff__infer_request **out_req,
                                                 skiff_status_t **out_st)
{
    *out_req = NULL;
    *out_st = NULL;
    if (!io || io->n_inputs <= 0 || io->n_inputs > WF_SMALL || len == 0)
        return SKIFF__FAST_DECLINE;
    skiff__codec_limits lim;
    skiff__codec_limits_resolve(limits, &lim);
    /* Set field by field: zeroing the whole context (its stack arrays are
     * 2.5 KB) would cost more than reading a small request. */
    wf_ctx c;
    c.io = io;
    c.lim = &lim;
    c.s = (skiff__jscan){body, body + len};
    c.n_specs = io->n_inputs;
    c.parts = c.part_small;
    c.n_dicts = 0;
    c.cap_dicts = WF_SMALL / io->n_inputs;
    c.elements = 0;
    c.oom = false;
    c.n_fetch = 0;
    for (int j = 0; j < io->n_inputs; j++) {
        const skiff__io_spec *sp = &io->inputs[j];
        c.vec[j] = (skiff__jvec){.esize = skiff_dtype_size(sp->dtype)};
        /* one instance of a static shape, the usual request, fits exactly */
        int64_t per = sp->ndim >= 0 && sp->ndim <= SKIFF_MAX_DIMS
                          ? skiff_shape_numel(sp->ndim, sp->dims)
                          : -1;
        if (per > 0 && per <= 4096 && !sp->is_lod && skiff__jnum_dtype_ok(sp->dtype)) {
            c.vec[j].data = skiff__aligned_alloc((size_t)per * c.vec[j].esize);
            if (!c.vec[j].data)
                c.oom = true;
            else
                c.vec[j].cap = per;
        }
    }
    skiff__infer_request *r = NULL;
    bool ok = !c.oom && wf_body(&c) && wf_build(&c, &r);
    for (int j = 0; j < io->n_inputs; j++)
        skiff__jvec_free(&c.vec[j]);
    if (c.parts != c.part_small)
        skiff__free(c.parts);
    if (ok) {
        *out_req = r;
        return SKIFF__FAST_OK;
    }
    if (c.oom) {
        *out_st = skiff__codec_oom();
        return SKIFF__FAST_ERROR;
    }
    return SKIFF__FAST_DECLINE;
}

skiff_status_t *skiff__decode_paddle_web(const char *body, size_t len, const skiff__model_io *io,
                                         const skiff__codec_limits *limits,
                                         skiff__infer_request **out_req)
{
    skiff_status_t *st;
    switch (skiff__decode_paddle_web_fast(body, len, io, limits, out_req, &st)) {
    case SKIFF__FAST_OK: return NULL;
    case SKIFF__FAST_ERROR: return st;
    default: return skiff__decode_paddle_web_tree(body, len, io, limits, out_req);
    }
}

skiff_status_t *skiff__decode_paddle_web_tree(const char *body, size_t len,
                                              const skiff__model_io *io,
                                              const skiff__codec_limits *limits,
                                              skiff__infer_request **out_req)
{
    *out_req = NULL;
    web_ctx c = {.io = io, .batch = -1};
    skiff__codec_limits_resolve(limits, &c.lim);
    skiff_status_t *st;
    json_t *root = skiff__codec_parse_object(body, len, &st);
    if (!root)
        return st;
    c.req = skiff__calloc(1, sizeof(*c.req));
    st = c.req ? web_decode(&c, root) : skiff__codec_oom();
    if (c.dicts != &c.one_dict)
        skiff__free(c.dicts);
    json_decref(root);
    if (st) {
        skiff__infer_request_free(c.req);
        return st;
    }
    c.req->batch = c.batch < 0 ? 1 : c.batch;
    *out_req = c.req;
    return NULL;
}

/* ---- Paddle web response ----------------------------------------------------- */

skiff_status_t *skiff__codec_enc_oom(void)
{
    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory encoding the response");
}

bool skiff__codec_int32_shape_lod(const skiff__infer_output *o, skiff__arena *a, const char *what,
                                  const char *nm, int32_t **shape, size_t *n_shape, int32_t **lod,
                                  size_t *n_lod, skiff_status_t **st)
{
    const skiff_tensor_t *t = o->tensor;
    int32_t *sh = skiff__arena_alloc(a, sizeof(int32_t) * (size_t)(t->ndim + 1), 4);
    int32_t *ld = o->n_lod ? skiff__arena_alloc(a, sizeof(int32_t) * (size_t)o->n_lod, 4) : NULL;
    if (!sh || (o->n_lod && !ld)) {
        *st = skiff__codec_enc_oom();
        return false;
    }
    for (int i = 0; i < t->ndim; i++) {
        if (t->dims[i] > INT32_MAX) {
            *st = skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                   "%s '%s': dim %lld does not fit Paddle's int32 shape", what, nm,
                                   (long long)t->dims[i]);
            return false;
        }
        sh[i] = (int32_t)t->dims[i];
    }
    for (int i = 0; i < o->n_lod; i++) {
        if (o->lod[i] > INT32_MAX || o->lod[i] < 0) {
            *st = skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                   "%s '%s': lod offset %lld does not fit int32", what, nm,
                                   (long long)o->lod[i]);
            return false;
        }
        ld[i] = (int32_t)o->lod[i];
    }
    *shape = sh;
    *n_shape = (size_t)t->ndim;
    *lod = ld;
    *n_lod = (size_t)o->n_lod;
    return true;
}

skiff_status_t *skiff__codec_check_output(const skiff__infer_output *o)
{
    const char *nm = o->alias ? o->alias : o->name;
    if (!o->tensor || !nm)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "output %s has no %s", nm ? nm : "(null)",
                                o->tensor ? "name" : "tensor");
    if (skiff_dtype_size(o->tensor->dtype) == 0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "output '%s': element type %s cannot be "
                                "encoded",
                                nm, skiff_dtype_name(o->tensor->dtype));
    if (o->tensor->ndim < 0 || o->tensor->ndim > SKIFF_MAX_DIMS ||
        skiff_tensor_numel(o->tensor) < 0)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "output '%s': invalid shape", nm);
    return NULL;
}

/* "alias":[[..]],"alias.lod":[..] for each tensor: a response's "result" and
 * a request's feed object share the shape. */
static skiff_status_t *web_fields(skiff__buf *out, const skiff__infer_output *outs, int n_outs)
{
    skiff_status_t *st;
    for (int i = 0; i < n_outs; i++) {
        const skiff__infer_output *o = &outs[i];
        if ((st = skiff__codec_check_output(o)))
            return st;
        const char *nm = o->alias ? o->alias : o->name;
        if ((i && !skiff__buf_char(out, ',')) || !skiff__buf_cstr(out, nm) ||
            !skiff__buf_char(out, ':') || !skiff__buf_tensor_json(out, o->tensor, true))
            return skiff__codec_enc_oom();
        if (o->lod && o->n_lod > 0) {
            /* key "<alias>.lod": reopen the quoted name */
            if (!skiff__buf_char(out, ',') || !skiff__buf_cstr(out, nm))
                return skiff__codec_enc_oom();
            out->len--;
            if (!skiff__buf_lit(out, ".lod\":") || !skiff__buf_lod(out, o->lod, o->n_lod))
                return skiff__codec_enc_oom();
        }
    }
    return NULL;
}

skiff_status_t *skiff__encode_paddle_web(const skiff__infer_output *outs, int n_outs,
                                         skiff__buf *out)
{
    if (!skiff__buf_lit(out, "{\"result\":{"))
        return skiff__codec_enc_oom();
    skiff_status_t *st = web_fields(out, outs, n_outs);
    if (st)
        return st;
    return skiff__buf_lit(out, "}}") ? NULL : skiff__codec_enc_oom();
}

/* strings as a JSON list: ["a","b"] */
bool skiff__codec_str_list(skiff__buf *out, const char *const *v, int n)
{
    bool ok = skiff__buf_char(out, '[');
    for (int i = 0; ok && i < n; i++)
        ok = (!i || skiff__buf_char(out, ',')) && skiff__buf_cstr(out, v[i]);
    return ok && skiff__buf_char(out, ']');
}

skiff_status_t *skiff__encode_paddle_web_request(const skiff__request_out *r, skiff__buf *out,
                                                 size_t *out_json_len)
{
    size_t start = out->len;
    if (!skiff__buf_lit(out, "{\"feed\":[{"))
        return skiff__codec_enc_oom();
    skiff_status_t *st = web_fields(out, r->inputs, r->n_inputs);
    if (st)
        return st;
    if (!skiff__buf_lit(out, "}],\"fetch\":") ||
        !skiff__codec_str_list(out, r->fetch, r->n_fetch) || !skiff__buf_char(out, '}'))
        return skiff__codec_enc_oom();
    *out_json_len = out->len - start;
    return NULL;
}
