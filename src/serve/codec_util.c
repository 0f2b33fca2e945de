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

#include "serve/codec_int.h"

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
        skiff__free(r);
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
    char *p = skiff__calloc(1, head + in + ts + os + strings);
    if (!p)
        return false;
    skiff__infer_request *r = (skiff__infer_request *)(void *)p;
    r->packed = true;
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

/* ---- buffer ---------------------------------------------------------------------- */

void skiff__buf_reset(skiff__buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void skiff__buf_free(skiff__buf *b)
{
    skiff__free(b->data);
    *b = (skiff__buf){0};
}

bool skiff__buf_reserve(skiff__buf *b, size_t extra)
{
    size_t need;
    if (__builtin_add_overflow(b->len, extra, &need) || __builtin_add_overflow(need, 1, &need))
        return false;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (__builtin_mul_overflow(cap, 2, &cap))
            return false;
    }
    char *d = skiff__realloc(b->data, cap);
    if (!d)
        return false;
    b->data = d;
    b->cap = cap;
    return true;
}

bool skiff__buf_append(skiff__buf *b, const void *p, size_t n)
{
    if (!skiff__buf_reserve(b, n))
        return false;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

bool skiff__buf_lit(skiff__buf *b, const char *s) { return skiff__buf_append(b, s, strlen(s)); }

bool skiff__buf_char(skiff__buf *b, char c)
{
    if (b->len + 1 < b->cap) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return true;
    }
    return skiff__buf_append(b, &c, 1);
}

/* Digits written backwards into a small stack buffer: cheaper than snprintf,
 * which matters when a response carries thousands of integers. */
bool skiff__buf_u64(skiff__buf *b, uint64_t v)
{
    char tmp[24];
    int i = 24;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return skiff__buf_append(b, tmp + i, (size_t)(24 - i));
}

bool skiff__buf_i64(skiff__buf *b, int64_t v)
{
    if (v < 0) {
        if (!skiff__buf_char(b, '-'))
            return false;
        return skiff__buf_u64(b, (uint64_t)0 - (uint64_t)v);
    }
    return skiff__buf_u64(b, (uint64_t)v);
}

/* Appends ".0" when %g wrote an integer, so typed clients keep seeing floats. */
static bool append_num(skiff__buf *b, const char *s, int n)
{
    bool integral = true;
    for (int i = 0; i < n; i++)
        if (s[i] != '-' && (s[i] < '0' || s[i] > '9'))
            integral = false;
    if (!skiff__buf_append(b, s, (size_t)n))
        return false;
    return integral ? skiff__buf_append(b, ".0", 2) : true;
}

/* 10^0 .. 10^22, each exact in a double. */
static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The 9 significant digits and decimal exponent "%.8e" writes for a float
 * value, without snprintf: |v| * 10^k with an exact power of ten is one
 * rounding away from the true scaled value (error under 1e-7 below 1e9), so
 * rounding it to an integer gives snprintf's digits unless the fraction is
 * within 1e-6 of one half - then, and outside 1e-14..1e30, false, and the
 * caller asks snprintf. */
static bool f32_digits9(double v, char dig[9], int *out_x)
{
    double a = fabs(v);
    if (!(a >= 1e-14 && a < 1e30))
        return false;
    int x = (int)floor(log10(a));
    for (int tries = 0; tries < 3; tries++) {
        int k = 8 - x;
        if (k < -22 || k > 22)
            return false;
        double y = k >= 0 ? a * p10[k] : a / p10[-k];
        if (y < 1e8) {
            x--;
            continue;
        }
        if (y >= 1e9) {
            x++;
            continue;
        }
        double fl = floor(y), fr = y - fl;
        if (fabs(fr - 0.5) < 1e-6)
            return false;
        uint64_t d = (uint64_t)fl + (fr > 0.5);
        if (d == 1000000000u) {
            d = 100000000u;
            x++;
        }
        for (int i = 8; i >= 0; i--) {
            dig[i] = (char)('0' + d % 10);
            d /= 10;
        }
        *out_x = x;
        return true;
    }
    return false;
}

/* Whether digits d[0..len) times 10^(x-len+1) read back as the float f (sign
 * aside): 1 yes, 0 no, -1 cannot tell cheaply (then strtof decides). The
 * decimal is at most 9 digits and the power exact, so r is the correctly
 * rounded double; (float)r is then what strtof gives, except when r lies
 * exactly halfway between two floats (double rounding). */
static int f32_reads_back(const char *d, int len, int x, float f)
{
    uint64_t n = 0;
    for (int i = 0; i < len; i++)
        n = n * 10 + (uint64_t)(d[i] - '0');
    int k = x - (len - 1);
    if (k < -22 || k > 22)
        return -1;
    double r = k >= 0 ? (double)n * p10[k] : (double)n / p10[-k];
    float g = (float)r;
    double back = g;
    if (back != r) {
        float h = nextafterf(g, r > back ? INFINITY : -INFINITY);
        if (r == ((double)g + (double)h) / 2)
            return -1;
    }
    return g == fabsf(f);
}

/* Writes `v` the way "%.<p>g" would, for the smallest p in [pmin, pmax] whose
 * text reads back to the same value (as a float when is_f32). The pmax digits
 * come from snprintf once (for floats, usually from f32_digits9 without it);
 * shorter candidates are rounded from that digit string and checked with
 * strtof/strtod (for floats, usually f32_reads_back), which is several times
 * cheaper than another snprintf. Where the cut falls on "5000..", the digits
 * may have been rounded up from "4999..", so snprintf rounds that candidate
 * from the exact value instead. Returns the length. */
static int fmt_shortest(char *out, double v, int pmin, int pmax, bool is_f32)
{
    bool neg = signbit(v);
    char dig[24];
    int nd = 0;
    int exp10;
    if (is_f32 && pmax == 9 && f32_digits9(v, dig, &exp10)) {
        nd = 9;
    } else {
        char e[48];
        snprintf(e, sizeof(e), "%.*e", pmax - 1, v);
        const char *s = e + (neg ? 1 : 0);
        dig[nd++] = *s++;
        if (*s == '.')
            for (s++; *s >= '0' && *s <= '9' && nd < pmax; s++)
                dig[nd++] = *s;
        exp10 = (int)strtol(s + 1, NULL, 10); /* s points at 'e' */
    }
    int n = 0;
    for (int p = pmin; p <= pmax; p++) {
        char d[24];
        int x = exp10;
        memcpy(d, dig, (size_t)p);
        bool tie = p < nd && dig[p] == '5';
        for (int i = p + 1; tie && i < nd; i++)
            tie = dig[i] == '0';
        if (tie) {
            /* "..5000" may be a rounded-up "..4999": ask snprintf for these digits */
            char e2[48];
            snprintf(e2, sizeof(e2), "%.*e", p - 1, v);
            const char *t = e2 + (neg ? 1 : 0);
            int k = 0;
            d[k++] = *t++;
            if (*t == '.')
                for (t++; *t >= '0' && *t <= '9' && k < p; t++)
                    d[k++] = *t;
            x = (int)strtol(t + 1, NULL, 10);
        } else if (p < nd && dig[p] >= '5') {
            int k = p - 1;
            while (k >= 0 && d[k] == '9')
                d[k--] = '0';
            if (k < 0) {
                d[0] = '1';
                x++;
            } else {
                d[k]++;
            }
        }
        int len = p;
        while (len > 1 && d[len - 1] == '0')
            len--;
        n = 0;
        if (neg)
            out[n++] = '-';
        if (x < -4 || x >= p) {
            out[n++] = d[0];
            if (len > 1) {
                out[n++] = '.';
                memcpy(out + n, d + 1, (size_t)len - 1);
                n += len - 1;
            }
            /* "e%c%02d" */
            int ax = x < 0 ? -x : x;
            out[n++] = 'e';
            out[n++] = x < 0 ? '-' : '+';
            if (ax >= 100)
                out[n++] = (char)('0' + ax / 100);
            out[n++] = (char)('0' + ax / 10 % 10);
            out[n++] = (char)('0' + ax % 10);
        } else if (x >= 0) {
            for (int i = 0; i <= x; i++)
                out[n++] = i < len ? d[i] : '0';
            if (len > x + 1) {
                out[n++] = '.';
                memcpy(out + n, d + x + 1, (size_t)(len - x - 1));
                n += len - x - 1;
            }
        } else {
            out[n++] = '0';
            out[n++] = '.';
            for (int i = 0; i < -x - 1; i++)
                out[n++] = '0';
            memcpy(out + n, d, (size_t)len);
            n += len;
        }
        out[n] = '\0';
        if (p == pmax)
            break;
        if (is_f32) {
            int rb = f32_reads_back(d, len, x, (float)v);
            if (rb < 0)
                rb = strtof(out, NULL) == (float)v;
            if (rb)
                break;
        } else if (strtod(out, NULL) == v) {
            break;
        }
    }
    return n;
}

bool skiff__buf_f32(skiff__buf *b, float v)
{
    if (!isfinite(v))
        return skiff__buf_append(b, "null", 4);
    /* 9 significant digits always read back to the same float; below 6 the
     * %g text of 6 digits already ends in zeros, so start there */
    char tmp[48];
    int n = fmt_shortest(tmp, v, 6, 9, true);
    return append_num(b, tmp, n);
}

bool skiff__buf_f64(skiff__buf *b, double v)
{
    if (!isfinite(v))
        return skiff__buf_append(b, "null", 4);
    char tmp[48];
    int n = fmt_shortest(tmp, v, 15, 17, false);
    return append_num(b, tmp, n);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid. */
static int utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    int len;
    unsigned min;
    unsigned cp;
    if ((c & 0xe0) == 0xc0) {
        len = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)len > n)
        return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool skiff__buf_json_string(skiff__buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* worst case: every byte becomes \u00XX (6) or U+FFFD (3 bytes) */
    size_t worst;
    if (!skiff__mul_size(n, 6, &worst) || !skiff__buf_reserve(b, worst + 2))
        return false;
    char *o = b->data + b->len;
    const unsigned char *p = (const unsigned char *)s;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            i++;
            continue;
        }
        if (c < 0x80) {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            default: *o++ = 'u', *o++ = '0', *o++ = '0'; *o++ = hex[c >> 4], *o++ = hex[c & 15];
            }
            i++;
            continue;
        }
        int l = utf8_len(p + i, n - i);
        if (l == 0) {
            *o++ = (char)0xef, *o++ = (char)0xbf, *o++ = (char)0xbd;
            i++;
        } else {
            memcpy(o, p + i, (size_t)l);
            o += l;
            i += (size_t)l;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return true;
}

bool skiff__buf_cstr(skiff__buf *b, const char *s)
{
    return skiff__buf_json_string(b, s ? s : "", s ? strlen(s) : 0);
}

bool skiff__buf_base64(skiff__buf *b, const void *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t out = (n + 2) / 3 * 4;
    if (!skiff__buf_reserve(b, out))
        return false;
    const unsigned char *s = p;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63],
        *o++ = tab[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)s[i] << 16;
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = '=', *o++ = '=';
    } else if (n - i == 2) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63], *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return true;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

bool skiff__base64_decode(const char *s, size_t n, uint8_t *dst, size_t *out_len)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return false;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return true;
}

bool skiff__buf_shape(skiff__buf *b, int ndim, const int64_t *dims)
{
    if (!skiff__buf_char(b, '['))
        return false;
    for (int i = 0; i < ndim; i++)
        if ((i && !skiff__buf_char(b, ',')) || !skiff__buf_i64(b, dims[i]))
            return false;
    return skiff__buf_char(b, ']');
}

bool skiff__buf_lod(skiff__buf *b, const int64_t *lod, int n)
{
    return skiff__buf_shape(b, n, lod);
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
