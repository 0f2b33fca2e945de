/* codec_util.c - the pieces every codec shares: the output buffer and its
 * number/string writers, JSON-to-tensor conversion with precise messages,
 * spec lookup and checks, base64, and the request destructor.
 *
 * Output is written straight into a growing buffer rather than through a
 * jansson tree: the encoders sit on the hot path of every HTTP request, and a
 * tree costs an allocation per number. Input that the streaming decoders
 * (codec_json.c) leave alone goes through jansson, whose tree is then walked
 * once to fill tensors of the model's declared types. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "proto/codec_int.h"

/* ---- init ------------------------------------------------------------------ */

/* Set when jansson's allocator returns NULL on this thread. jansson 2.14
 * ignores some failures (lex_save drops a byte of a token whose buffer could
 * not grow, and parses on), so a parse is checked against this flag rather
 * than trusted: a server out of memory must not blame the client's JSON. */
static _Thread_local bool json_oom;

static void *json_alloc(size_t n)
{
    void *p = skiff__malloc(n);
    if (!p)
        json_oom = true;
    return p;
}

void skiff__codec_init(void) { json_set_alloc_funcs(json_alloc, skiff__free); }

/* ---- request ---------------------------------------------------------------- */

void skiff__infer_request_free(skiff__infer_request *r)
{
    if (!r)
        return;
    if (r->packed) {
        for (int i = 0; i < r->n_inputs; i++) {
            skiff_tensor_t *t = r->inputs[i].tensor;
            if (t->flags & SKIFF_TENSOR_OWNS_DATA)
                skiff__free(t->data);
            skiff__free(r->inputs[i].lod);
        }
        skiff__arena_free(r->arena); /* r lives in it */
        return;
    }
    for (int i = 0; i < r->n_inputs; i++) {
        skiff__free(r->inputs[i].name);
        skiff_tensor_free(r->inputs[i].tensor);
        skiff__free(r->inputs[i].lod);
    }
    skiff__free(r->inputs);
    for (int i = 0; i < r->n_outputs; i++)
        skiff__free(r->outputs[i].name);
    skiff__free(r->outputs);
    skiff__free(r->id);
    skiff__free(r->model);
    skiff__free(r);
}

/* Sizes rounded so every part of a packed request stays aligned. */
static size_t pack_round(size_t n) { return (n + 15) & ~(size_t)15; }

bool skiff__codec_packed_new(int n_inputs, int n_outputs, size_t strings, skiff__packed *out)
{
    size_t in = pack_round(sizeof(skiff__infer_input) * (size_t)n_inputs);
    size_t ts = pack_round(sizeof(skiff_tensor_t) * (size_t)n_inputs);
    size_t os = pack_round(sizeof(skiff__infer_output_req) * (size_t)n_outputs);
    size_t head = pack_round(sizeof(skiff__infer_request));
    /* The request's arena: one chunk that fits all of it. */
    skiff__arena *a = skiff__arena_new(head + in + ts + os + strings);
    char *p = a ? skiff__arena_calloc(a, 1, head + in + ts + os + strings, 16) : NULL;
    if (!p) {
        skiff__arena_free(a);
        return false;
    }
    skiff__infer_request *r = (skiff__infer_request *)(void *)p;
    r->packed = true;
    r->arena = a;
    r->inputs = n_inputs ? (skiff__infer_input *)(void *)(p + head) : NULL;
    out->tensors = (skiff_tensor_t *)(void *)(p + head + in);
    r->outputs = n_outputs ? (skiff__infer_output_req *)(void *)(p + head + in + ts) : NULL;
    out->strings = p + head + in + ts + os;
    out->req = r;
    return true;
}

char *skiff__codec_packed_str(skiff__packed *pk, const char *s, size_t n)
{
    char *d = pk->strings;
    memcpy(d, s, n);
    d[n] = '\0';
    pk->strings += n + 1;
    return d;
}

skiff_status_t *skiff__codec_add_input(skiff__infer_request *r, char *name, int spec,
                                       skiff_tensor_t *t, int64_t *lod, int n_lod)
{
    skiff__infer_input *in = skiff__realloc(r->inputs, sizeof(*in) * (size_t)(r->n_inputs + 1));
    if (!in || !name) {
        if (in)
            r->inputs = in;
        skiff__free(name);
        skiff_tensor_free(t);
        skiff__free(lod);
        return skiff__codec_oom();
    }
    r->inputs = in;
    in[r->n_inputs++] = (skiff__infer_input){name, spec, t, lod, n_lod};
    return NULL;
}

/* ---- limits, parsing ---------------------------------------------------------- */

void skiff__codec_limits_resolve(const skiff__codec_limits *in, skiff__codec_limits *out)
{
    *out = in ? *in : (skiff__codec_limits){0};
    if (out->max_elements <= 0)
        out->max_elements = SKIFF_CODEC_DEFAULT_MAX_ELEMENTS;
    if (out->max_inputs <= 0)
        out->max_inputs = SKIFF_CODEC_DEFAULT_MAX_INPUTS;
    if (out->max_outputs <= 0)
        out->max_outputs = SKIFF_CODEC_DEFAULT_MAX_OUTPUTS;
}

skiff_status_t *skiff__codec_oom(void)
{
    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory decoding the request");
}

json_t *skiff__codec_parse_object(const char *body, size_t len, skiff_status_t **out_st)
{
    json_error_t err;
    *out_st = NULL;
    if (len == 0) {
        *out_st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "empty request body, expected JSON");
        return NULL;
    }
    json_oom = false;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    bool failed_here = json_oom;
    if (root && failed_here) {
        /* A tree read while an allocation failed cannot be trusted (see
         * json_alloc): it is an out-of-memory. */
        json_decref(root);
        *out_st = skiff__codec_oom();
        return NULL;
    }
    if (!root) {
        /* jansson reports allocation failure as a parse error too; tell them apart
         * so fault-injection tests see RESOURCE_EXHAUSTED. */
        if (json_error_code(&err) == json_error_out_of_memory || failed_here)
            *out_st = skiff__codec_oom();
        else
            /* jansson's position counts the bytes read, so it points just past
             * the offending token */
            *out_st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                       "malformed JSON at byte %d (line %d, column %d): %s",
                                       err.position, err.line, err.column, err.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        *out_st =
            skiff_status_new(SKIFF_CODE_INVALID_ARG, "request body is %s, expected a JSON object",
                             skiff__codec_json_kind(root));
        json_decref(root);
        return NULL;
    }
    return root;
}

const char *skiff__codec_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* ---- JSON to tensor ------------------------------------------------------------- */

skiff_status_t *skiff__codec_nested_shape(const char *what, const json_t *v, int *out_ndim,
                                          int64_t dims[SKIFF_MAX_DIMS])
{
    int nd = 0;
    while (json_is_array(v)) {
        if (nd == SKIFF_MAX_DIMS)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "%s: lists nested more than %d deep (skiff tensors have at "
                                    "most %d dims)",
                                    what, SKIFF_MAX_DIMS, SKIFF_MAX_DIMS);
        size_t n = json_array_size(v);
        dims[nd++] = (int64_t)n;
        if (n == 0)
            break;
        v = json_array_get(v, 0);
    }
    *out_ndim = nd;
    return NULL;
}

static skiff_status_t *leaf_err(const char *what, int64_t index, const json_t *leaf,
                                const char *expected)
{
    return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: element %lld is %s, expected %s", what,
                            (long long)index, skiff__codec_json_kind(leaf), expected);
}

/* A number as the client likely wrote it: the shortest %g that reads back. */
static const char *num_str(double d, char *buf, size_t cap)
{
    for (int p = 15; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return buf;
}

static skiff_status_t *range_err(const char *what, int64_t index, double d, skiff_dtype_t dt)
{
    char nb[40];
    return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: element %lld (%s) is out of range for %s",
                            what, (long long)index, num_str(d, nb, sizeof(nb)),
                            skiff_dtype_name(dt));
}

skiff_status_t *skiff__codec_range_err(const char *what, int64_t index, double v,
                                       skiff_dtype_t dtype)
{
    return range_err(what, index, v, dtype);
}

/* An integer-typed element from a JSON number: integers as they are, reals only
 * when integral (clients that go through float64, like JavaScript, send 3.0). */
static skiff_status_t *leaf_int(const char *what, const json_t *leaf, int64_t index,
                                skiff_dtype_t dt, int64_t lo, uint64_t hi, int64_t *out_s,
                                uint64_t *out_u)
{
    if (json_is_integer(leaf)) {
        int64_t v = (int64_t)json_integer_value(leaf);
        if (v < lo || (v > 0 && (uint64_t)v > hi))
            return range_err(what, index, (double)v, dt);
        *out_s = v;
        *out_u = (uint64_t)v;
        return NULL;
    }
    if (json_is_real(leaf)) {
        double d = json_real_value(leaf);
        if (d != floor(d)) {
            char nb[40];
            return skiff_status_new(
                SKIFF_CODE_INVALID_ARG, "%s: element %lld (%s) is not an integer, expected %s",
                what, (long long)index, num_str(d, nb, sizeof(nb)), skiff_dtype_name(dt));
        }
        if (d < 0) {
            /* lo is exact in double (at most 2^63 in magnitude) */
            if (d < (double)lo)
                return range_err(what, index, d, dt);
            *out_s = (int64_t)d;
            *out_u = (uint64_t)*out_s;
        } else {
            if (d >= 0x1p64 || (uint64_t)d > hi)
                return range_err(what, index, d, dt);
            *out_u = (uint64_t)d;
            *out_s = (int64_t)*out_u;
        }
        return NULL;
    }
    return leaf_err(what, index, leaf, "a number");
}

skiff_status_t *skiff__codec_leaf(const char *what, const json_t *leaf, int64_t index,
                                  skiff_dtype_t dt, void *dst, int64_t at)
{
    int64_t s = 0;
    uint64_t u = 0;
    skiff_status_t *st;
    switch (dt) {
    case SKIFF_DTYPE_FLOAT32:
    case SKIFF_DTYPE_FLOAT64:
    case SKIFF_DTYPE_FLOAT16:
    case SKIFF_DTYPE_BFLOAT16: {
        double d;
        if (json_is_integer(leaf))
            d = (double)json_integer_value(leaf);
        else if (json_is_real(leaf))
            d = json_real_value(leaf);
        else
            return leaf_err(what, index, leaf, "a number");
        if (dt == SKIFF_DTYPE_FLOAT64) {
            ((double *)dst)[at] = d;
            return NULL;
        }
        float f = (float)d;
        if (!isfinite(f))
            return range_err(what, index, d, dt);
        if (dt == SKIFF_DTYPE_FLOAT32) {
            ((float *)dst)[at] = f;
        } else if (dt == SKIFF_DTYPE_FLOAT16) {
            uint16_t h = skiff__f32_to_f16(f);
            if ((h & 0x7c00) == 0x7c00)
                return range_err(what, index, d, dt);
            ((uint16_t *)dst)[at] = h;
        } else {
            uint16_t h = skiff__f32_to_bf16(f);
            if ((h & 0x7f80) == 0x7f80)
                return range_err(what, index, d, dt);
            ((uint16_t *)dst)[at] = h;
        }
        return NULL;
    }
    case SKIFF_DTYPE_BOOL:
        if (json_is_boolean(leaf)) {
            ((uint8_t *)dst)[at] = json_is_true(leaf);
            return NULL;
        }
        if (json_is_integer(leaf) &&
            (json_integer_value(leaf) == 0 || json_integer_value(leaf) == 1)) {
            ((uint8_t *)dst)[at] = (uint8_t)json_integer_value(leaf);
            return NULL;
        }
        return leaf_err(what, index, leaf, "a boolean");
    case SKIFF_DTYPE_STRING: {
        if (!json_is_string(leaf))
            return leaf_err(what, index, leaf, "a string");
        char *c = skiff__strndup(json_string_value(leaf), json_string_length(leaf));
        if (!c)
            return skiff__codec_oom();
        ((char **)dst)[at] = c;
        return NULL;
    }
    case SKIFF_DTYPE_INT8:
        if ((st = leaf_int(what, leaf, index, dt, INT8_MIN, INT8_MAX, &s, &u)))
            return st;
        ((int8_t *)dst)[at] = (int8_t)s;
        return NULL;
    case SKIFF_DTYPE_UINT8:
        if ((st = leaf_int(what, leaf, index, dt, 0, UINT8_MAX, &s, &u)))
            return st;
        ((uint8_t *)dst)[at] = (uint8_t)u;
        return NULL;
    case SKIFF_DTYPE_INT16:
        if ((st = leaf_int(what, leaf, index, dt, INT16_MIN, INT16_MAX, &s, &u)))
            return st;
        ((int16_t *)dst)[at] = (int16_t)s;
        return NULL;
    case SKIFF_DTYPE_UINT16:
        if ((st = leaf_int(what, leaf, index, dt, 0, UINT16_MAX, &s, &u)))
            return st;
        ((uint16_t *)dst)[at] = (uint16_t)u;
        return NULL;
    case SKIFF_DTYPE_INT32:
        if ((st = leaf_int(what, leaf, index, dt, INT32_MIN, INT32_MAX, &s, &u)))
            return st;
        ((int32_t *)dst)[at] = (int32_t)s;
        return NULL;
    case SKIFF_DTYPE_UINT32:
        if ((st = leaf_int(what, leaf, index, dt, 0, UINT32_MAX, &s, &u)))
            return st;
        ((uint32_t *)dst)[at] = (uint32_t)u;
        return NULL;
    case SKIFF_DTYPE_INT64:
        if ((st = leaf_int(what, leaf, index, dt, INT64_MIN, INT64_MAX, &s, &u)))
            return st;
        ((int64_t *)dst)[at] = s;
        return NULL;
    case SKIFF_DTYPE_UINT64:
        if ((st = leaf_int(what, leaf, index, dt, 0, UINT64_MAX, &s, &u)))
            return st;
        ((uint64_t *)dst)[at] = u;
        return NULL;
    default:
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "%s: element type %s is not supported",
                                what, skiff_dtype_name(dt));
    }
}

static skiff_status_t *fill_rec(const char *what, const json_t *v, int depth, int ndim,
                                const int64_t *dims, skiff_dtype_t dt, void *dst, int64_t *at,
                                int64_t index_base)
{
    if (depth == ndim) {
        int64_t i = (*at)++;
        return skiff__codec_leaf(what, v, index_base + i, dt, dst, i);
    }
    if (!json_is_array(v))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: ragged nested lists: found %s at depth %d near element %lld, "
                                "expected a list of %lld",
                                what, skiff__codec_json_kind(v), depth,
                                (long long)(index_base + *at), (long long)dims[depth]);
    size_t n = json_array_size(v);
    if ((int64_t)n != dims[depth])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: ragged nested lists: a list at depth %d near element %lld "
                                "has %zu items, expected %lld",
                                what, depth, (long long)(index_base + *at), n,
                                (long long)dims[depth]);
    for (size_t i = 0; i < n; i++) {
        skiff_status_t *st =
            fill_rec(what, json_array_get(v, i), depth + 1, ndim, dims, dt, dst, at, index_base);
        if (st)
            return st;
    }
    return NULL;
}

skiff_status_t *skiff__codec_fill(const char *what, const json_t *v, int ndim, const int64_t *dims,
                                  skiff_dtype_t dtype, void *dst, int64_t at, int64_t index_base)
{
    /* index_base - at makes messages count from the start of this value */
    return fill_rec(what, v, 0, ndim, dims, dtype, dst, &at, index_base - at);
}

/* ---- specs --------------------------------------------------------------------- */

static const char *spec_key(const skiff__io_spec *s) { return s->alias ? s->alias : s->name; }

int skiff__codec_find_spec(const skiff__io_spec *specs, int n, const char *key, bool alias_first)
{
    for (int pass = 0; pass < 2; pass++) {
        bool by_alias = (pass == 0) == alias_first;
        for (int i = 0; i < n; i++) {
            const char *k = by_alias ? spec_key(&specs[i]) : specs[i].name;
            if (k && strcmp(k, key) == 0)
                return i;
        }
    }
    return -1;
}

const char *skiff__codec_list_specs(const skiff__io_spec *specs, int n, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        int w = snprintf(buf + off, cap - off, "%s'%s'", i ? ", " : "", spec_key(&specs[i]));
        if (w < 0 || (size_t)w >= cap - off) {
            /* cut, leaving room for the ellipsis */
            if (cap > 4)
                memcpy(buf + cap - 4, "...", 4);
            break;
        }
        off += (size_t)w;
    }
    if (n == 0)
        snprintf(buf, cap, "(none)");
    return buf;
}

skiff_status_t *skiff__codec_check_shape(const char *what, const skiff__io_spec *spec, int ndim,
                                         const int64_t *dims)
{
    if (spec->ndim < 0)
        return NULL;
    int want = spec->ndim + (spec->batched ? 1 : 0);
    bool ok = ndim == want;
    int off = spec->batched ? 1 : 0;
    for (int i = 0; ok && i < spec->ndim; i++)
        if (spec->dims[i] >= 0 && spec->dims[i] != dims[i + off])
            ok = false;
    if (ok)
        return NULL;
    int64_t full[SKIFF_MAX_DIMS + 1];
    int nf = 0;
    if (spec->batched)
        full[nf++] = -1;
    for (int i = 0; i < spec->ndim && nf < SKIFF_MAX_DIMS + 1; i++)
        full[nf++] = spec->dims[i];
    char a[200], b[200];
    return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: expected shape %s, got %s", what,
                            skiff_shape_str(nf, full, a, sizeof(a)),
                            skiff_shape_str(ndim, dims, b, sizeof(b)));
}

skiff_status_t *skiff__codec_check_lod(const char *what, const int64_t *lod, int n, int64_t rows)
{
    if (n < 2)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: lod needs at least 2 offsets ([0, end]), got %d", what, n);
    if (lod[0] != 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: lod must start at 0, got %lld", what,
                                (long long)lod[0]);
    for (int i = 1; i < n; i++)
        if (lod[i] < lod[i - 1])
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "%s: lod offsets must not decrease (offset %d is %lld after "
                                    "%lld)",
                                    what, i, (long long)lod[i], (long long)lod[i - 1]);
    if (lod[n - 1] != rows)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: lod ends at %lld but the data has %lld rows", what,
                                (long long)lod[n - 1], (long long)rows);
    return NULL;
}

static bool put_elem(skiff__buf *b, const skiff_tensor_t *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case SKIFF_DTYPE_FLOAT32: return skiff__buf_f32(b, ((const float *)d)[i]);
    case SKIFF_DTYPE_FLOAT64: return skiff__buf_f64(b, ((const double *)d)[i]);
    case SKIFF_DTYPE_FLOAT16: return skiff__buf_f32(b, skiff__f16_to_f32(((const uint16_t *)d)[i]));
    case SKIFF_DTYPE_BFLOAT16:
        return skiff__buf_f32(b, skiff__bf16_to_f32(((const uint16_t *)d)[i]));
    case SKIFF_DTYPE_INT8: return skiff__buf_i64(b, ((const int8_t *)d)[i]);
    case SKIFF_DTYPE_UINT8: return skiff__buf_u64(b, ((const uint8_t *)d)[i]);
    case SKIFF_DTYPE_INT16: return skiff__buf_i64(b, ((const int16_t *)d)[i]);
    case SKIFF_DTYPE_UINT16: return skiff__buf_u64(b, ((const uint16_t *)d)[i]);
    case SKIFF_DTYPE_INT32: return skiff__buf_i64(b, ((const int32_t *)d)[i]);
    case SKIFF_DTYPE_UINT32: return skiff__buf_u64(b, ((const uint32_t *)d)[i]);
    case SKIFF_DTYPE_INT64: return skiff__buf_i64(b, ((const int64_t *)d)[i]);
    case SKIFF_DTYPE_UINT64: return skiff__buf_u64(b, ((const uint64_t *)d)[i]);
    case SKIFF_DTYPE_BOOL:
        return ((const uint8_t *)d)[i] ? skiff__buf_append(b, "true", 4)
                                       : skiff__buf_append(b, "false", 5);
    case SKIFF_DTYPE_STRING: return skiff__buf_cstr(b, ((char *const *)d)[i]);
    default: return skiff__buf_append(b, "null", 4);
    }
}

static bool put_nested(skiff__buf *b, const skiff_tensor_t *t, int depth, int64_t *i)
{
    if (depth == t->ndim)
        return put_elem(b, t, (*i)++);
    if (!skiff__buf_char(b, '['))
        return false;
    for (int64_t k = 0; k < t->dims[depth]; k++)
        if ((k && !skiff__buf_char(b, ',')) || !put_nested(b, t, depth + 1, i))
            return false;
    return skiff__buf_char(b, ']');
}

bool skiff__buf_tensor_json(skiff__buf *b, const skiff_tensor_t *t, bool nested)
{
    int64_t n = skiff_tensor_numel(t);
    if (n < 0)
        return false;
    if (nested) {
        int64_t i = 0;
        return put_nested(b, t, 0, &i);
    }
    if (!skiff__buf_char(b, '['))
        return false;
    for (int64_t i = 0; i < n; i++)
        if ((i && !skiff__buf_char(b, ',')) || !put_elem(b, t, i))
            return false;
    return skiff__buf_char(b, ']');
}

/* ---- error bodies --------------------------------------------------------------- */

static skiff_status_t *enc_oom(void)
{
    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory encoding the response");
}

skiff_status_t *skiff__encode_error_json(const char *msg, skiff__buf *out)
{
    if (!skiff__buf_lit(out, "{\"error\":") || !skiff__buf_cstr(out, msg) ||
        !skiff__buf_char(out, '}'))
        return enc_oom();
    return NULL;
}

skiff_status_t *skiff__encode_paddle_web_error(const char *msg, skiff__buf *out)
{
    if (!skiff__buf_lit(out, "{\"result\":") || !skiff__buf_cstr(out, msg) ||
        !skiff__buf_char(out, '}'))
        return enc_oom();
    return NULL;
}
