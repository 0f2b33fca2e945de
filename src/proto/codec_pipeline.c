/* codec_pipeline.c - Paddle Serving pipeline Request and Response
 * (pb/pipeline_service.proto) as the HTTP gateway's JSON and as protobuf
 * binary, onto the neutral skiff__pipe_msg (codec_pipeline.h).
 *
 * Both decoders end in one place: the binary form is unpacked by protobuf-c,
 * the JSON form is read into the same generated structs (borrowing strings
 * from the jansson tree, arrays in a scratch arena), and build() checks the
 * message - lengths, limits, elem_type, shape against the data - and turns
 * it into tensors. So a request gets the same checks and messages whichever
 * way it came. Encoding goes the other way: the message becomes generated
 * structs that borrow the tensors' memory where the wire type matches, and
 * those are packed by protobuf-c or written as JSON by one writer.
 */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/core.h"
#include "pipeline_service.pb-c.h"
#include "proto/codec_int.h"
#include "proto/codec_pipeline.h"

typedef Baidu__PaddleServing__PipelineServing__Tensor pb_tensor;
typedef Baidu__PaddleServing__PipelineServing__Request pb_request;
typedef Baidu__PaddleServing__PipelineServing__Response pb_response;

#define PB(x) baidu__paddle_serving__pipeline_serving__##x

static void *pb_alloc(void *data, size_t n) { return skiff__malloc(n ? n : 1); }
static void pb_free(void *data, void *p) { skiff__free(p); }
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

/* ---- error codes ------------------------------------------------------------------ */

int skiff__pipe_errno_of(skiff_code_t code) { return skiff__code_pipeline_errno(code); }

skiff_code_t skiff__pipe_code_of(int err_no)
{
    switch (err_no) {
    case SKIFF__PIPE_OK: return SKIFF_CODE_OK;
    case SKIFF__PIPE_INPUT_PARAMS_ERROR:
    case SKIFF__PIPE_TYPE_ERROR: return SKIFF_CODE_INVALID_ARG;
    case SKIFF__PIPE_NOT_IMPLEMENTED: return SKIFF_CODE_UNSUPPORTED;
    case SKIFF__PIPE_CLOSED_ERROR:
    case SKIFF__PIPE_INIT_ERROR: return SKIFF_CODE_UNAVAILABLE;
    case SKIFF__PIPE_NO_SERVICE: return SKIFF_CODE_NOT_FOUND;
    case SKIFF__PIPE_TIMEOUT: return SKIFF_CODE_DEADLINE_EXCEEDED;
    case SKIFF__PIPE_CLIENT_ERROR: return SKIFF_CODE_CANCELLED;
    default: return SKIFF_CODE_INTERNAL;
    }
}

/* ---- elem_type table ---------------------------------------------------------------- */

typedef enum {
    F_INT64,
    F_FLOAT,
    F_INT,
    F_FLOAT64,
    F_UINT32,
    F_BOOL,
    F_C64,
    F_C128,
    F_STR,
    F_BYTES,
    F_N
} field;

/* proto field name, proto3 JSON (lowerCamelCase) name */
static const char *const field_name[F_N][2] = {
    [F_INT64] = {"int64_data", "int64Data"},
    [F_FLOAT] = {"float_data", "floatData"},
    [F_INT] = {"int_data", "intData"},
    [F_FLOAT64] = {"float64_data", "float64Data"},
    [F_UINT32] = {"uint32_data", "uint32Data"},
    [F_BOOL] = {"bool_data", "boolData"},
    [F_C64] = {"complex64_data", "complex64Data"},
    [F_C128] = {"complex128_data", "complex128Data"},
    [F_STR] = {"str_data", "strData"},
    [F_BYTES] = {"byte_data", "byteData"},
};

#define N_ELEM 14
#define ELEM_BYTES 13

static const struct {
    const char *name;
    field field;
    skiff_dtype_t dtype; /* UNDEFINED: not supported */
} elem[N_ELEM] = {
    {"INT64", F_INT64, SKIFF_DTYPE_INT64},       {"FP32", F_FLOAT, SKIFF_DTYPE_FLOAT32},
    {"INT32", F_INT, SKIFF_DTYPE_INT32},         {"FP64", F_FLOAT64, SKIFF_DTYPE_FLOAT64},
    {"INT16", F_INT, SKIFF_DTYPE_INT16},         {"FP16", F_FLOAT, SKIFF_DTYPE_FLOAT16},
    {"BF16", F_UINT32, SKIFF_DTYPE_BFLOAT16},    {"UINT8", F_UINT32, SKIFF_DTYPE_UINT8},
    {"INT8", F_INT, SKIFF_DTYPE_INT8},           {"BOOL", F_BOOL, SKIFF_DTYPE_BOOL},
    {"COMPLEX64", F_C64, SKIFF_DTYPE_UNDEFINED}, {"COMPLEX128", F_C128, SKIFF_DTYPE_UNDEFINED},
    {"STRING", F_STR, SKIFF_DTYPE_STRING},       {"BYTES", F_BYTES, SKIFF_DTYPE_UINT8},
};

/* The elem_type a dtype travels as (BYTES only when asked); -1 none. */
static int elem_of_dtype(skiff_dtype_t d)
{
    for (int e = 0; e < N_ELEM; e++)
        if (e != ELEM_BYTES && elem[e].dtype == d)
            return e;
    return -1;
}

static size_t field_count(const pb_tensor *t, field f)
{
    switch (f) {
    case F_INT64: return t->n_int64_data;
    case F_FLOAT: return t->n_float_data;
    case F_INT: return t->n_int_data;
    case F_FLOAT64: return t->n_float64_data;
    case F_UINT32: return t->n_uint32_data;
    case F_BOOL: return t->n_bool_data;
    case F_C64: return t->n_complex64_data;
    case F_C128: return t->n_complex128_data;
    case F_STR: return t->n_str_data;
    default: return t->byte_data.len;
    }
}

/* How messages name a tensor: "tensor 'x'", or "tensors[2]" when unnamed. */
static const char *tensor_what(const char *name, size_t idx, char *buf, size_t cap)
{
    if (name && name[0])
        snprintf(buf, cap, "tensor '%.*s'", SKIFF__CODEC_Q(name));
    else
        snprintf(buf, cap, "tensors[%zu]", idx);
    return buf;
}

#define WHAT_CAP (SKIFF__CODEC_NAME_MAX + 32)

/* ---- messages ----------------------------------------------------------------------- */

void skiff__pipe_msg_free(skiff__pipe_msg *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_items; i++)
        skiff_tensor_free(m->items[i].tensor);
    skiff__arena_free(m->arena); /* the message lives in it */
}

static skiff__pipe_msg *msg_new(void)
{
    skiff__arena *a = skiff__arena_new(4096);
    skiff__pipe_msg *m = a ? skiff__arena_calloc(a, 1, sizeof(*m), 16) : NULL;
    if (!m) {
        skiff__arena_free(a);
        return NULL;
    }
    m->arena = a;
    m->name = m->method = m->clientip = m->err_msg = "";
    return m;
}

/* A copy of s ("" for NULL) in the message's arena; NULL on OOM. */
static const char *msg_str(skiff__pipe_msg *m, const char *s)
{
    return skiff__arena_strndup(m->arena, s ? s : "", s ? strlen(s) : 0);
}

/* What a decoder reads, whichever form it came in: the generated structs'
 * fields, strings NUL-terminated (value_len gives values' lengths when they
 * may hold NULs; NULL = strlen). */
typedef struct view {
    char *const *key;
    size_t n_key;
    char *const *value;
    const size_t *value_len;
    size_t n_value;
    pb_tensor *const *tensors;
    size_t n_tensors;
} view;

/* Values out of a field into a tensor's data, with range checks. */
#define RANGE_COPY(src_t, dst_t, lo, hi, fld)                                                      \
    do {                                                                                           \
        const src_t *s = (fld);                                                                    \
        dst_t *dd = (dst_t *)t->data;                                                              \
        for (size_t i = 0; i < count; i++) {                                                       \
            int64_t x = (int64_t)s[i];                                                             \
            if (x < (lo) || x > (hi))                                                              \
                return skiff__codec_bad("%s: %s[%zu] = %lld is out of range for %s", what,         \
                                        field_name[elem[e].field][0], i, (long long)x,             \
                                        elem[e].name);                                             \
            dd[i] = (dst_t)x;                                                                      \
        }                                                                                          \
    } while (0)

/* Fills t (allocated to the checked shape) from the elem_type's field. */
static skiff_status_t *fill(skiff_tensor_t *t, const pb_tensor *pt, int e, size_t count,
                            const char *what)
{
    if (count == 0) /* the fields may be NULL */
        return NULL;
    switch (e) {
    case 0: memcpy(t->data, pt->int64_data, count * sizeof(int64_t)); break;
    case 1: memcpy(t->data, pt->float_data, count * sizeof(float)); break;
    case 2: memcpy(t->data, pt->int_data, count * sizeof(int32_t)); break;
    case 3: memcpy(t->data, pt->float64_data, count * sizeof(double)); break;
    case 4: RANGE_COPY(int32_t, int16_t, INT16_MIN, INT16_MAX, pt->int_data); break;
    case 5:
        for (size_t i = 0; i < count; i++) {
            float v = pt->float_data[i];
            uint16_t h = skiff__f32_to_f16(v);
            if (isfinite(v) && !isfinite(skiff__f16_to_f32(h)))
                return skiff__codec_bad("%s: float_data[%zu] = %g is out of range for FP16", what,
                                        i, (double)v);
            ((uint16_t *)t->data)[i] = h;
        }
        break;
    case 6: RANGE_COPY(uint32_t, uint16_t, 0, 0xffff, pt->uint32_data); break;
    case 7: RANGE_COPY(uint32_t, uint8_t, 0, 0xff, pt->uint32_data); break;
    case 8: RANGE_COPY(int32_t, int8_t, INT8_MIN, INT8_MAX, pt->int_data); break;
    case 9:
        for (size_t i = 0; i < count; i++)
            ((uint8_t *)t->data)[i] = pt->bool_data[i] != 0;
        break;
    case 12:
        for (size_t i = 0; i < count; i++) {
            char *s = skiff__strdup(pt->str_data[i] ? pt->str_data[i] : "");
            if (!s)
                return skiff__codec_oom();
            ((char **)t->data)[i] = s;
        }
        break;
    default: /* BYTES */ memcpy(t->data, pt->byte_data.data, count); break;
    }
    return NULL;
}

/* One Tensor checked and turned into items[m->n_items] (counted as soon as
 * it holds a tensor, so the message frees it on any later error). */
static skiff_status_t *add_tensor(skiff__pipe_msg *m, const pb_tensor *pt, size_t idx,
                                  const skiff__codec_limits *lim, int64_t *elements)
{
    char wbuf[WHAT_CAP];
    const char *what = tensor_what(pt->name, idx, wbuf, sizeof(wbuf));
    int32_t et = pt->elem_type;
    if (et < 0 || et >= N_ELEM)
        return skiff__codec_bad("%s: unknown elem_type %d (Paddle's are 0 to 13)", what, (int)et);
    int e = (int)et;
    if (elem[e].dtype == SKIFF_DTYPE_UNDEFINED)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "%s: elem_type %d (%s) is not supported",
                                what, e, elem[e].name);
    field f = elem[e].field;
    for (int g = 0; g < F_N; g++)
        if (g != (int)f && field_count(pt, (field)g))
            return skiff__codec_bad("%s: elem_type %d (%s) carries its values in %s, but %s holds "
                                    "%zu",
                                    what, e, elem[e].name, field_name[f][0], field_name[g][0],
                                    field_count(pt, (field)g));
    if (pt->n_shape > SKIFF_MAX_DIMS)
        return skiff__codec_bad("%s: shape has %zu dimensions, at most %d are supported", what,
                                pt->n_shape, SKIFF_MAX_DIMS);
    size_t count = field_count(pt, f);
    int nd = (int)pt->n_shape;
    int64_t dims[SKIFF_MAX_DIMS];
    for (int i = 0; i < nd; i++)
        dims[i] = pt->shape[i];
    if (e == ELEM_BYTES && nd == 0) {
        nd = 1;
        dims[0] = (int64_t)count;
    }
    char sbuf[128];
    for (int i = 0; i < nd; i++)
        if (dims[i] < 0)
            return skiff__codec_bad("%s: shape %s has a negative dimension", what,
                                    skiff_shape_str(nd, dims, sbuf, sizeof(sbuf)));
    int64_t numel = skiff_shape_numel(nd, dims);
    if (numel < 0 || (uint64_t)numel != (uint64_t)count)
        return skiff__codec_bad("%s: elem_type %d (%s) with shape %s needs %lld values in %s, got "
                                "%zu",
                                what, e, elem[e].name,
                                skiff_shape_str(nd, dims, sbuf, sizeof(sbuf)), (long long)numel,
                                field_name[f][0], count);
    if ((int64_t)count > lim->max_elements - *elements)
        return skiff__codec_bad("%s: its %zu values take the message past the limit of %lld "
                                "elements",
                                what, count, (long long)lim->max_elements);
    *elements += (int64_t)count;

    skiff__pipe_item *it = &m->items[m->n_items];
    memset(it, 0, sizeof(*it));
    it->key = msg_str(m, pt->name);
    if (!it->key)
        return skiff__codec_oom();
    skiff_status_t *st = skiff_tensor_new(elem[e].dtype, nd, dims, &it->tensor);
    if (st)
        return st;
    m->n_items++;
    it->bytes = e == ELEM_BYTES;
    if ((st = fill(it->tensor, pt, e, count, what)))
        return st;
    if (pt->n_lod) {
        if (nd < 1)
            return skiff__codec_bad("%s: has a lod but no dimensions", what);
        if (pt->n_lod > (size_t)INT_MAX)
            return skiff__codec_bad("%s: lod too long", what);
        int64_t *lod = skiff__arena_alloc(m->arena, pt->n_lod * sizeof(int64_t), 8);
        if (!lod)
            return skiff__codec_oom();
        for (size_t i = 0; i < pt->n_lod; i++)
            lod[i] = pt->lod[i];
        if ((st = skiff__codec_check_lod(what, lod, (int)pt->n_lod, dims[0])))
            return st;
        it->lod = lod;
        it->n_lod = (int)pt->n_lod;
    }
    return NULL;
}

/* The checked message of a view; the caller sets the request or response
 * fields. */
static skiff_status_t *build(const view *v, const skiff__codec_limits *limits,
                             skiff__pipe_msg **out)
{
    *out = NULL;
    skiff__codec_limits lim;
    skiff__codec_limits_resolve(limits, &lim);
    if (v->n_key != v->n_value)
        return skiff__codec_bad(
            "key and value must have the same length: key has %zu entries, value has %zu", v->n_key,
            v->n_value);
    if (v->n_key > (size_t)lim.max_inputs)
        return skiff__codec_bad("key: %zu entries, more than the limit of %d", v->n_key,
                                lim.max_inputs);
    if (v->n_tensors > (size_t)lim.max_inputs)
        return skiff__codec_bad("tensors: %zu tensors, more than the limit of %d", v->n_tensors,
                                lim.max_inputs);
    skiff__pipe_msg *m = msg_new();
    size_t n = v->n_key + v->n_tensors;
    if (!m || !(m->items = skiff__arena_calloc(m->arena, n + 1, sizeof(skiff__pipe_item), 16))) {
        skiff__pipe_msg_free(m);
        return skiff__codec_oom();
    }
    for (size_t i = 0; i < v->n_key; i++) {
        skiff__pipe_item *it = &m->items[i];
        const char *val = v->value[i] ? v->value[i] : "";
        it->str_len = v->value_len ? v->value_len[i] : strlen(val);
        it->key = msg_str(m, v->key[i]);
        it->str = skiff__arena_strndup(m->arena, val, it->str_len);
        if (!it->key || !it->str) {
            skiff__pipe_msg_free(m);
            return skiff__codec_oom();
        }
        m->n_items++;
    }
    m->n_pairs = m->n_items;
    int64_t elements = 0;
    for (size_t i = 0; i < v->n_tensors; i++) {
        skiff_status_t *st = add_tensor(m, v->tensors[i], i, &lim, &elements);
        if (st) {
            skiff__pipe_msg_free(m);
            return st;
        }
    }
    *out = m;
    return NULL;
}

/* ---- JSON -> generated structs ------------------------------------------------------ */

/* Reading a JSON body: the scratch arena for arrays, the limits. */
typedef struct jread {
    skiff__arena *a;
    skiff__codec_limits lim;
    int64_t elements; /* values read so far over all tensors */
} jread;

/* A proto3 JSON integer: a JSON integer, a number with an integral value, or
 * a decimal string. */
static bool j_int(const json_t *e, int64_t *out)
{
    if (json_is_integer(e)) {
        *out = json_integer_value(e);
        return true;
    }
    if (json_is_real(e)) {
        double d = json_real_value(e);
        if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return false;
        *out = (int64_t)d;
        return true;
    }
    return json_is_string(e) && skiff__parse_i64(json_string_value(e), out);
}

/* A proto3 JSON float: a number, "NaN", "Infinity", "-Infinity" or a
 * numeric string. */
static bool j_real(const json_t *e, double *out)
{
    if (json_is_number(e)) {
        *out = json_number_value(e);
        return true;
    }
    if (!json_is_string(e))
        return false;
    const char *s = json_string_value(e);
    if (!strcmp(s, "NaN"))
        *out = NAN;
    else if (!strcmp(s, "Infinity"))
        *out = INFINITY;
    else if (!strcmp(s, "-Infinity"))
        *out = -INFINITY;
    else
        return skiff__parse_double(s, out) && isfinite(*out);
    return true;
}

/* A field under its proto name or its JSON name; null reads as absent. */
static json_t *jget(const json_t *o, const char *snake, const char *camel)
{
    json_t *v = json_object_get(o, snake);
    if (!v && camel)
        v = json_object_get(o, camel);
    return json_is_null(v) ? NULL : v;
}

static skiff_status_t *check_fields(const json_t *o, const char *where, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        bool ok = false;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], k) == 0;
        if (!ok)
            return skiff__codec_bad("%s: unknown field '%.*s'", where, SKIFF__CODEC_Q(k));
    }
    return NULL;
}

/* A list field's array (NULL when absent: *n = 0), or an error. */
static skiff_status_t *j_list(const json_t *v, const char *what, const char *fname, size_t *n)
{
    *n = 0;
    if (!v)
        return NULL;
    if (!json_is_array(v))
        return skiff__codec_bad("%s%s'%s' must be a list, got %s", what ? what : "",
                                what ? ": " : "", fname, skiff__codec_json_kind(v));
    *n = json_array_size(v);
    return NULL;
}

/* Strings of a list field: pointers into the tree (and lengths when lens),
 * the arrays in the arena. no_nul: refuse strings with a NUL inside (jansson
 * refuses \u0000 while parsing today; this keeps names C strings if not). */
static skiff_status_t *j_strings(jread *r, const json_t *v, const char *what, const char *fname,
                                 bool no_nul, char ***out, size_t **lens, size_t *n)
{
    skiff_status_t *st = j_list(v, what, fname, n);
    if (st || !*n)
        return st;
    char **s = skiff__arena_alloc(r->a, *n * sizeof(char *), 8);
    size_t *l = lens ? skiff__arena_alloc(r->a, *n * sizeof(size_t), 8) : NULL;
    if (!s || (lens && !l))
        return skiff__codec_oom();
    for (size_t i = 0; i < *n; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return skiff__codec_bad("%s%s%s[%zu] must be a string, got %s", what ? what : "",
                                    what ? ": " : "", fname, i, skiff__codec_json_kind(e));
        s[i] = (char *)json_string_value(e);
        size_t len = json_string_length(e);
        if (no_nul && memchr(s[i], 0, len))
            return skiff__codec_bad("%s%s%s[%zu] holds a NUL byte", what ? what : "",
                                    what ? ": " : "", fname, i);
        if (l)
            l[i] = len;
    }
    *out = s;
    if (lens)
        *lens = l;
    return NULL;
}

/* Counts a data field's values against max_elements before they are read. */
static skiff_status_t *j_budget(jread *r, const char *what, size_t n)
{
    if ((int64_t)n > r->lim.max_elements - r->elements)
        return skiff__codec_bad("%s: its %zu values take the message past the limit of %lld "
                                "elements",
                                what, n, (long long)r->lim.max_elements);
    r->elements += (int64_t)n;
    return NULL;
}

/* An integer list field read into an arena array of `esize`-byte elements
 * within [lo, hi] (int32, uint32, int64). */
static skiff_status_t *j_ints(jread *r, const json_t *v, const char *what, const char *fname,
                              int64_t lo, int64_t hi, size_t esize, bool counted, void **out,
                              size_t *n)
{
    skiff_status_t *st = j_list(v, what, fname, n);
    if (st || !*n)
        return st;
    if (counted && (st = j_budget(r, what, *n)))
        return st;
    void *d = skiff__arena_alloc(r->a, *n * esize, 8);
    if (!d)
        return skiff__codec_oom();
    for (size_t i = 0; i < *n; i++) {
        const json_t *e = json_array_get(v, i);
        int64_t x;
        if (!j_int(e, &x))
            return skiff__codec_bad("%s: %s[%zu] must be an integer, got %s", what, fname, i,
                                    skiff__codec_json_kind(e));
        if (x < lo || x > hi)
            return skiff__codec_bad("%s: %s[%zu] = %lld is out of range for %s", what, fname, i,
                                    (long long)x,
                                    esize == 8 ? "int64"
                                    : lo == 0  ? "uint32"
                                               : "int32");
        if (esize == 8)
            ((int64_t *)d)[i] = x;
        else if (lo == 0)
            ((uint32_t *)d)[i] = (uint32_t)x;
        else
            ((int32_t *)d)[i] = (int32_t)x;
    }
    *out = d;
    return NULL;
}

/* A float or double list field. */
static skiff_status_t *j_reals(jread *r, const json_t *v, const char *what, const char *fname,
                               bool single, void **out, size_t *n)
{
    skiff_status_t *st = j_list(v, what, fname, n);
    if (st || !*n || (st = j_budget(r, what, *n)))
        return st;
    void *d = skiff__arena_alloc(r->a, *n * (single ? sizeof(float) : sizeof(double)), 8);
    if (!d)
        return skiff__codec_oom();
    for (size_t i = 0; i < *n; i++) {
        const json_t *e = json_array_get(v, i);
        double x;
        if (!j_real(e, &x))
            return skiff__codec_bad("%s: %s[%zu] must be a number, got %s", what, fname, i,
                                    skiff__codec_json_kind(e));
        if (single) {
            float fx = (float)x;
            if (isfinite(x) && !isfinite(fx))
                return skiff__codec_bad("%s: %s[%zu] = %g is out of range for float", what, fname,
                                        i, x);
            ((float *)d)[i] = fx;
        } else {
            ((double *)d)[i] = x;
        }
    }
    *out = d;
    return NULL;
}

static const char *const tensor_fields[] = {"int64_data",
                                            "int64Data",
                                            "float_data",
                                            "floatData",
                                            "int_data",
                                            "intData",
                                            "float64_data",
                                            "float64Data",
                                            "uint32_data",
                                            "uint32Data",
                                            "bool_data",
                                            "boolData",
                                            "complex64_data",
                                            "complex64Data",
                                            "complex128_data",
                                            "complex128Data",
                                            "str_data",
                                            "strData",
                                            "byte_data",
                                            "byteData",
                                            "elem_type",
                                            "elemType",
                                            "shape",
                                            "lod",
                                            "name",
                                            NULL};

/* One JSON Tensor into *pt (arrays in the arena, strings borrowed). */
static skiff_status_t *j_tensor(jread *r, const json_t *o, size_t idx, pb_tensor *pt)
{
    PB(tensor__init)(pt);
    char wbuf[WHAT_CAP];
    if (!json_is_object(o))
        return skiff__codec_bad("tensors[%zu] must be an object, got %s", idx,
                                skiff__codec_json_kind(o));
    const json_t *nm = jget(o, "name", NULL);
    if (nm && !json_is_string(nm))
        return skiff__codec_bad("tensors[%zu]: 'name' must be a string, got %s", idx,
                                skiff__codec_json_kind(nm));
    if (nm && memchr(json_string_value(nm), 0, json_string_length(nm)))
        return skiff__codec_bad("tensors[%zu]: 'name' holds a NUL byte", idx);
    if (nm)
        pt->name = (char *)json_string_value(nm);
    const char *what = tensor_what(pt->name, idx, wbuf, sizeof(wbuf));
    skiff_status_t *st = check_fields(o, what, tensor_fields);
    if (st)
        return st;
#define F(fl) jget(o, field_name[fl][0], field_name[fl][1])
    void *p = NULL;
    if ((st = j_ints(r, F(F_INT64), what, "int64_data", INT64_MIN, INT64_MAX, 8, true, &p,
                     &pt->n_int64_data)))
        return st;
    pt->int64_data = p;
    if ((st = j_reals(r, F(F_FLOAT), what, "float_data", true, &p, &pt->n_float_data)))
        return st;
    pt->float_data = p;
    if ((st = j_ints(r, F(F_INT), what, "int_data", INT32_MIN, INT32_MAX, 4, true, &p,
                     &pt->n_int_data)))
        return st;
    pt->int_data = p;
    if ((st = j_reals(r, F(F_FLOAT64), what, "float64_data", false, &p, &pt->n_float64_data)))
        return st;
    pt->float64_data = p;
    if ((st = j_ints(r, F(F_UINT32), what, "uint32_data", 0, UINT32_MAX, 4, true, &p,
                     &pt->n_uint32_data)))
        return st;
    pt->uint32_data = p;
    if ((st = j_reals(r, F(F_C64), what, "complex64_data", true, &p, &pt->n_complex64_data)))
        return st;
    pt->complex64_data = p;
    if ((st = j_reals(r, F(F_C128), what, "complex128_data", false, &p, &pt->n_complex128_data)))
        return st;
    pt->complex128_data = p;

    const json_t *v = F(F_BOOL);
    if ((st = j_list(v, what, "bool_data", &pt->n_bool_data)))
        return st;
    if (pt->n_bool_data) {
        if ((st = j_budget(r, what, pt->n_bool_data)))
            return st;
        pt->bool_data = skiff__arena_alloc(r->a, pt->n_bool_data * sizeof(protobuf_c_boolean), 8);
        if (!pt->bool_data)
            return skiff__codec_oom();
        for (size_t i = 0; i < pt->n_bool_data; i++) {
            const json_t *e = json_array_get(v, i);
            if (!json_is_boolean(e))
                return skiff__codec_bad("%s: bool_data[%zu] must be true or false, got %s", what, i,
                                        skiff__codec_json_kind(e));
            pt->bool_data[i] = json_is_true(e);
        }
    }

    v = F(F_STR);
    if (v && json_is_array(v) && (st = j_budget(r, what, json_array_size(v))))
        return st;
    if ((st = j_strings(r, v, what, "str_data", true, &pt->str_data, NULL, &pt->n_str_data)))
        return st;

    v = F(F_BYTES);
    if (v) {
        if (!json_is_string(v))
            return skiff__codec_bad("%s: 'byte_data' must be a base64 string, got %s", what,
                                    skiff__codec_json_kind(v));
        size_t sl = json_string_length(v), got = 0;
        uint8_t *d = skiff__arena_alloc(r->a, sl / 4 * 3 + 3, 8);
        if (!d)
            return skiff__codec_oom();
        if (!skiff__base64_decode(json_string_value(v), sl, d, &got))
            return skiff__codec_bad("%s: 'byte_data' is not base64", what);
        if ((st = j_budget(r, what, got)))
            return st;
        pt->byte_data.data = d;
        pt->byte_data.len = got;
    }
#undef F

    v = jget(o, "elem_type", "elemType");
    int64_t et = 0;
    if (v && (!j_int(v, &et) || et < INT32_MIN || et > INT32_MAX))
        return skiff__codec_bad("%s: 'elem_type' must be an int32, got %s", what,
                                skiff__codec_json_kind(v));
    pt->elem_type = (int32_t)et;
    if ((st = j_ints(r, jget(o, "shape", NULL), what, "shape", INT32_MIN, INT32_MAX, 4, false, &p,
                     &pt->n_shape)))
        return st;
    pt->shape = p;
    if ((st = j_ints(r, jget(o, "lod", NULL), what, "lod", INT32_MIN, INT32_MAX, 4, false, &p,
                     &pt->n_lod)))
        return st;
    pt->lod = p;
    return NULL;
}

/* The parts Request and Response share: key, value, tensors. */
static skiff_status_t *j_common(jread *r, const json_t *root, view *v)
{
    char **k = NULL, **val = NULL;
    size_t *lens = NULL;
    skiff_status_t *st;
    if ((st = j_strings(r, jget(root, "key", NULL), NULL, "key", true, &k, NULL, &v->n_key)) ||
        (st = j_strings(r, jget(root, "value", NULL), NULL, "value", false, &val, &lens,
                        &v->n_value)))
        return st;
    v->key = k;
    v->value = val;
    v->value_len = lens;
    if (v->n_key != v->n_value) /* said before any tensor is read */
        return skiff__codec_bad(
            "key and value must have the same length: key has %zu entries, value has %zu", v->n_key,
            v->n_value);
    if (v->n_key > (size_t)r->lim.max_inputs)
        return skiff__codec_bad("key: %zu entries, more than the limit of %d", v->n_key,
                                r->lim.max_inputs);
    const json_t *ts = jget(root, "tensors", NULL);
    size_t n = 0;
    if ((st = j_list(ts, NULL, "tensors", &n)))
        return st;
    if (n > (size_t)r->lim.max_inputs)
        return skiff__codec_bad("tensors: %zu tensors, more than the limit of %d", n,
                                r->lim.max_inputs);
    pb_tensor *pts = skiff__arena_calloc(r->a, n + 1, sizeof(pb_tensor), 16);
    pb_tensor **pp = skiff__arena_calloc(r->a, n + 1, sizeof(pb_tensor *), 8);
    if (!pts || !pp)
        return skiff__codec_oom();
    for (size_t i = 0; i < n; i++) {
        if ((st = j_tensor(r, json_array_get(ts, i), i, &pts[i])))
            return st;
        pp[i] = &pts[i];
    }
    v->tensors = pp;
    v->n_tensors = n;
    return NULL;
}

/* A top-level string field ("" when absent). */
static skiff_status_t *j_str(const json_t *root, const char *fname, const char **out)
{
    const json_t *v = jget(root, fname, NULL);
    *out = "";
    if (!v)
        return NULL;
    if (!json_is_string(v))
        return skiff__codec_bad("'%s' must be a string, got %s", fname, skiff__codec_json_kind(v));
    if (memchr(json_string_value(v), 0, json_string_length(v)))
        return skiff__codec_bad("'%s' holds a NUL byte", fname);
    *out = json_string_value(v);
    return NULL;
}

static const char *const request_fields[] = {"key",    "value", "tensors",  "name",
                                             "method", "logid", "clientip", NULL};
static const char *const response_fields[] = {"err_no", "errNo", "err_msg", "errMsg",
                                              "key",    "value", "tensors", NULL};

/* Both JSON decoders: parse, read into generated structs, build. */
static skiff_status_t *decode_json(const char *body, size_t len, const skiff__codec_limits *limits,
                                   bool request, skiff__pipe_msg **out)
{
    *out = NULL;
    skiff_status_t *st = NULL;
    json_t *root = skiff__codec_parse_object(body, len, &st);
    if (!root)
        return st;
    jread r = {.a = skiff__arena_new(4096)};
    skiff__codec_limits_resolve(limits, &r.lim);
    view v = {0};
    const char *name = "", *method = "", *clientip = "", *err_msg = "";
    int64_t logid = 0, err_no = 0;
    if (!r.a)
        st = skiff__codec_oom();
    else
        st = check_fields(root, request ? "request" : "response",
                          request ? request_fields : response_fields);
    if (!st && request) {
        const json_t *lg = jget(root, "logid", NULL);
        if (lg && !j_int(lg, &logid))
            st = skiff__codec_bad("'logid' must be an integer, got %s", skiff__codec_json_kind(lg));
        if (!st)
            st = j_str(root, "name", &name);
        if (!st)
            st = j_str(root, "method", &method);
        if (!st)
            st = j_str(root, "clientip", &clientip);
    } else if (!st) {
        const json_t *en = jget(root, "err_no", "errNo");
        if (en && (!j_int(en, &err_no) || err_no < INT32_MIN || err_no > INT32_MAX))
            st = skiff__codec_bad("'err_no' must be an int32, got %s", skiff__codec_json_kind(en));
        const json_t *em = jget(root, "err_msg", "errMsg");
        if (!st && em && !json_is_string(em))
            st = skiff__codec_bad("'err_msg' must be a string, got %s", skiff__codec_json_kind(em));
        if (!st && em)
            err_msg = json_string_value(em);
    }
    if (!st)
        st = j_common(&r, root, &v);
    skiff__pipe_msg *m = NULL;
    if (!st)
        st = build(&v, &r.lim, &m);
    if (!st) {
        m->logid = logid;
        m->err_no = (int)err_no;
        if (!(m->name = msg_str(m, name)) || !(m->method = msg_str(m, method)) ||
            !(m->clientip = msg_str(m, clientip)) || !(m->err_msg = msg_str(m, err_msg))) {
            skiff__pipe_msg_free(m);
            m = NULL;
            st = skiff__codec_oom();
        }
    }
    skiff__arena_free(r.a);
    json_decref(root);
    *out = m;
    return st;
}

/* The common request, {"key":[..],"value":[..]} with strings without
 * escapes and optionally name, method, clientip (strings) and logid (an
 * integer), read without a JSON tree. Anything else - tensors, escapes,
 * other forms, duplicates, mismatched lengths, any error - declines (false)
 * to the jansson decoder, which also words every error. */
static bool fast_request(const char *body, size_t len, const skiff__codec_limits *limits,
                         skiff__pipe_msg **out)
{
    enum { F_KEY = 1, F_VALUE = 2, F_NAME = 4, F_METHOD = 8, F_CLIENTIP = 16, F_LOGID = 32 };
    skiff__codec_limits lim;
    skiff__codec_limits_resolve(limits, &lim);
    skiff__jscan sc = {body, body + len};
    const char *ks[16] = {0}, *vs[16] = {0}, *str[3] = {"", "", ""};
    size_t kl[16] = {0}, vl[16] = {0}, sl[3] = {0, 0, 0};
    size_t nk = 0, nv = 0;
    int64_t logid = 0;
    unsigned seen = 0;
    if (!skiff__jscan_eat(&sc, '{'))
        return false;
    if (skiff__jscan_peek(&sc) == '}')
        return false;
    for (;;) {
        const char *k;
        size_t n;
        if (skiff__jscan_peek(&sc) != '"' || !skiff__jscan_string(&sc, &k, &n) ||
            !skiff__jscan_eat(&sc, ':'))
            return false;
        unsigned f = n == 3 && !memcmp(k, "key", 3)        ? F_KEY
                     : n == 5 && !memcmp(k, "value", 5)    ? F_VALUE
                     : n == 4 && !memcmp(k, "name", 4)     ? F_NAME
                     : n == 6 && !memcmp(k, "method", 6)   ? F_METHOD
                     : n == 8 && !memcmp(k, "clientip", 8) ? F_CLIENTIP
                     : n == 5 && !memcmp(k, "logid", 5)    ? F_LOGID
                                                           : 0;
        if (!f || (seen & f))
            return false;
        seen |= f;
        if (f == F_KEY || f == F_VALUE) {
            const char **arr = f == F_KEY ? ks : vs;
            size_t *lens = f == F_KEY ? kl : vl, *cnt = f == F_KEY ? &nk : &nv;
            if (!skiff__jscan_eat(&sc, '['))
                return false;
            if (skiff__jscan_peek(&sc) != ']') {
                for (;;) {
                    if (*cnt == 16 || skiff__jscan_peek(&sc) != '"' ||
                        !skiff__jscan_string(&sc, &arr[*cnt], &lens[*cnt]))
                        return false;
                    (*cnt)++;
                    if (skiff__jscan_eat(&sc, ','))
                        continue;
                    break;
                }
            }
            if (!skiff__jscan_eat(&sc, ']'))
                return false;
        } else if (f == F_LOGID) {
            skiff__jnum num;
            if (skiff__jscan_peek(&sc) == '"' || !skiff__jscan_number(&sc, &num) || !num.is_int)
                return false;
            logid = num.i;
        } else {
            int i = f == F_NAME ? 0 : f == F_METHOD ? 1 : 2;
            if (skiff__jscan_peek(&sc) != '"' || !skiff__jscan_string(&sc, &str[i], &sl[i]))
                return false;
        }
        if (skiff__jscan_eat(&sc, ','))
            continue;
        if (!skiff__jscan_eat(&sc, '}') || skiff__jscan_peek(&sc) != -1)
            return false;
        break;
    }
    if (nk != nv || nk > (size_t)lim.max_inputs)
        return false;
    for (size_t i = 0; i < nk; i++)
        if (memchr(ks[i], 0, kl[i]))
            return false;
    skiff__pipe_msg *m = msg_new();
    if (!m || !(m->items = skiff__arena_calloc(m->arena, nk + 1, sizeof(skiff__pipe_item), 16))) {
        skiff__pipe_msg_free(m);
        return false;
    }
    for (size_t i = 0; i < nk; i++) {
        skiff__pipe_item *it = &m->items[i];
        it->key = skiff__arena_strndup(m->arena, ks[i], kl[i]);
        it->str = skiff__arena_strndup(m->arena, vs[i], vl[i]);
        it->str_len = vl[i];
        if (!it->key || !it->str) {
            skiff__pipe_msg_free(m);
            return false;
        }
    }
    m->n_items = m->n_pairs = (int)nk;
    m->logid = logid;
    const char **dst[3] = {&m->name, &m->method, &m->clientip};
    for (int i = 0; i < 3; i++)
        if (sl[i] && !(*dst[i] = skiff__arena_strndup(m->arena, str[i], sl[i]))) {
            skiff__pipe_msg_free(m);
            return false;
        }
    *out = m;
    return true;
}

skiff_status_t *skiff__pipe_decode_request_json(const char *body, size_t len,
                                                const skiff__codec_limits *limits,
                                                skiff__pipe_msg **out_msg)
{
    *out_msg = NULL;
    if (fast_request(body, len, limits, out_msg))
        return NULL;
    return decode_json(body, len, limits, true, out_msg);
}

skiff_status_t *skiff__pipe_decode_response_json(const char *body, size_t len,
                                                 const skiff__codec_limits *limits,
                                                 skiff__pipe_msg **out_msg)
{
    return decode_json(body, len, limits, false, out_msg);
}

/* ---- protobuf binary decoders ------------------------------------------------------- */

static skiff_status_t *not_pb(size_t len, const char *what)
{
    return skiff__alloc_failed()
               ? skiff__codec_oom()
               : skiff__codec_bad("the %zu-byte body is not a Paddle pipeline %s in protobuf "
                                  "binary",
                                  len, what);
}

/* The offset of the first byte that breaks UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or n when s is valid. */
static size_t utf8_bad(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            min = 0x10000;
        } else {
            return i;
        }
        if (n - i < len)
            return i;
        unsigned cp = c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += len;
    }
    return n;
}

/* proto3 strings are UTF-8: a decoded Request's must be. index SIZE_MAX:
 * a single field. */
static skiff_status_t *check_utf8(const char *s, const char *what, size_t index)
{
    size_t n = s ? strlen(s) : 0, at = s ? utf8_bad((const unsigned char *)s, n) : 0;
    if (at == n)
        return NULL;
    if (index == SIZE_MAX)
        return skiff__codec_bad("%s is not valid UTF-8 (byte %zu): protobuf strings must be", what,
                                at);
    return skiff__codec_bad("%s[%zu] is not valid UTF-8 (byte %zu): protobuf strings must be", what,
                            index, at);
}

static skiff_status_t *request_utf8(const pb_request *q)
{
    skiff_status_t *st = NULL;
    for (size_t i = 0; !st && i < q->n_key; i++)
        st = check_utf8(q->key[i], "key", i);
    for (size_t i = 0; !st && i < q->n_value; i++)
        st = check_utf8(q->value[i], "value", i);
    for (size_t t = 0; !st && t < q->n_tensors; t++) {
        char what[64];
        snprintf(what, sizeof(what), "tensors[%zu].str_data", t);
        for (size_t i = 0; !st && i < q->tensors[t]->n_str_data; i++)
            st = check_utf8(q->tensors[t]->str_data[i], what, i);
        if (!st)
            st = check_utf8(q->tensors[t]->name, "a tensor's name", SIZE_MAX);
    }
    if (!st)
        st = check_utf8(q->name, "name", SIZE_MAX);
    if (!st)
        st = check_utf8(q->method, "method", SIZE_MAX);
    if (!st)
        st = check_utf8(q->clientip, "clientip", SIZE_MAX);
    return st;
}

/* build() over a decoded message's repeated fields. */
static skiff_status_t *build_lists(char *const *key, size_t n_key, char *const *value,
                                   size_t n_value, pb_tensor *const *tensors, size_t n_tensors,
                                   const skiff__codec_limits *limits, skiff__pipe_msg **out)
{
    view v = {.key = key,
              .n_key = n_key,
              .value = value,
              .n_value = n_value,
              .tensors = tensors,
              .n_tensors = n_tensors};
    return build(&v, limits, out);
}

skiff_status_t *skiff__pipe_decode_request_pb(const void *body, size_t len,
                                              const skiff__codec_limits *limits,
                                              skiff__pipe_msg **out_msg)
{
    *out_msg = NULL;
    pb_request *q = PB(request__unpack)(&pb_allocator, len, body);
    if (!q)
        return not_pb(len, "Request");
    skiff__pipe_msg *m = NULL;
    skiff_status_t *st = request_utf8(q);
    if (!st)
        st = build_lists(q->key, q->n_key, q->value, q->n_value, q->tensors, q->n_tensors, limits,
                         &m);
    if (!st) {
        m->logid = q->logid;
        if (!(m->name = msg_str(m, q->name)) || !(m->method = msg_str(m, q->method)) ||
            !(m->clientip = msg_str(m, q->clientip))) {
            skiff__pipe_msg_free(m);
            m = NULL;
            st = skiff__codec_oom();
        }
    }
    PB(request__free_unpacked)(q, &pb_allocator);
    *out_msg = m;
    return st;
}

skiff_status_t *skiff__pipe_decode_response_pb(const void *body, size_t len,
                                               const skiff__codec_limits *limits,
                                               skiff__pipe_msg **out_msg)
{
    *out_msg = NULL;
    pb_response *q = PB(response__unpack)(&pb_allocator, len, body);
    if (!q)
        return not_pb(len, "Response");
    skiff__pipe_msg *m = NULL;
    skiff_status_t *st =
        build_lists(q->key, q->n_key, q->value, q->n_value, q->tensors, q->n_tensors, limits, &m);
    if (!st) {
        m->err_no = q->err_no;
        if (!(m->err_msg = msg_str(m, q->err_msg))) {
            skiff__pipe_msg_free(m);
            m = NULL;
            st = skiff__codec_oom();
        }
    }
    PB(response__free_unpacked)(q, &pb_allocator);
    *out_msg = m;
    return st;
}

/* ---- message -> generated structs ----------------------------------------------------- */

/* A Tensor borrowing t's memory where the wire type matches; conversions
 * in a. */
static skiff_status_t *to_pb_tensor(const skiff__pipe_item *it, skiff__arena *a, int idx,
                                    pb_tensor *pt)
{
    PB(tensor__init)(pt);
    const skiff_tensor_t *t = it->tensor;
    const char *nm = it->key ? it->key : "";
    char wbuf[WHAT_CAP];
    if (nm[0])
        tensor_what(nm, 0, wbuf, sizeof(wbuf));
    else
        snprintf(wbuf, sizeof(wbuf), "item %d (a tensor)", idx);
    const char *what = wbuf;
    if (t->ndim < 0 || t->ndim > SKIFF_MAX_DIMS || skiff_tensor_numel(t) < 0)
        return skiff__codec_bad("%s: invalid shape", what);
    int e = it->bytes ? ELEM_BYTES : elem_of_dtype(t->dtype);
    if (e < 0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "%s: %s has no pipeline elem_type", what,
                                skiff_dtype_name(t->dtype));
    if (e == ELEM_BYTES && t->dtype != SKIFF_DTYPE_UINT8 && t->dtype != SKIFF_DTYPE_INT8)
        return skiff__codec_bad("%s: only uint8 or int8 tensors travel as byte_data, not %s", what,
                                skiff_dtype_name(t->dtype));
    pt->elem_type = e;
    pt->name = (char *)nm;
    int32_t *sh = skiff__arena_alloc(a, sizeof(int32_t) * (size_t)(t->ndim + 1), 4);
    int32_t *ld =
        it->n_lod > 0 ? skiff__arena_alloc(a, sizeof(int32_t) * (size_t)it->n_lod, 4) : NULL;
    if (!sh || (it->n_lod > 0 && !ld))
        return skiff__codec_enc_oom();
    for (int i = 0; i < t->ndim; i++) {
        if (t->dims[i] > INT32_MAX)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "%s: dim %lld does not fit the pipeline's int32 shape", what,
                                    (long long)t->dims[i]);
        sh[i] = (int32_t)t->dims[i];
    }
    for (int i = 0; i < it->n_lod; i++) {
        if (it->lod[i] < 0 || it->lod[i] > INT32_MAX)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "%s: lod offset %lld does not fit int32", what,
                                    (long long)it->lod[i]);
        ld[i] = (int32_t)it->lod[i];
    }
    pt->shape = sh;
    pt->n_shape = (size_t)t->ndim;
    pt->lod = ld;
    pt->n_lod = it->n_lod > 0 ? (size_t)it->n_lod : 0;
    size_t n = (size_t)skiff_tensor_numel(t);
    const void *d = t->data;
    if (n && !d)
        return skiff__codec_bad("%s: no data", what);
    switch (e) {
    case 0: pt->n_int64_data = n, pt->int64_data = (int64_t *)d; break;
    case 1: pt->n_float_data = n, pt->float_data = (float *)d; break;
    case 2: pt->n_int_data = n, pt->int_data = (int32_t *)d; break;
    case 3: pt->n_float64_data = n, pt->float64_data = (double *)d; break;
    case 12: pt->n_str_data = n, pt->str_data = (char **)d; break;
    case ELEM_BYTES:
        pt->byte_data.len = n;
        pt->byte_data.data = (uint8_t *)d;
        break;
    case 5: /* FP16 widens into float_data */
    {
        float *w = skiff__arena_alloc(a, n * sizeof(float) + 1, 8);
        if (!w)
            return skiff__codec_enc_oom();
        for (size_t i = 0; i < n; i++)
            w[i] = skiff__f16_to_f32(((const uint16_t *)d)[i]);
        pt->n_float_data = n, pt->float_data = w;
        break;
    }
    case 4: /* INT16, INT8 widen into int_data */
    case 8: {
        int32_t *w = skiff__arena_alloc(a, n * sizeof(int32_t) + 1, 8);
        if (!w)
            return skiff__codec_enc_oom();
        for (size_t i = 0; i < n; i++)
            w[i] = e == 4 ? ((const int16_t *)d)[i] : ((const int8_t *)d)[i];
        pt->n_int_data = n, pt->int_data = w;
        break;
    }
    case 6: /* BF16 bit patterns, UINT8 widen into uint32_data */
    case 7: {
        uint32_t *w = skiff__arena_alloc(a, n * sizeof(uint32_t) + 1, 8);
        if (!w)
            return skiff__codec_enc_oom();
        for (size_t i = 0; i < n; i++)
            w[i] = e == 6 ? ((const uint16_t *)d)[i] : ((const uint8_t *)d)[i];
        pt->n_uint32_data = n, pt->uint32_data = w;
        break;
    }
    default: /* 9 BOOL */
    {
        protobuf_c_boolean *w = skiff__arena_alloc(a, n * sizeof(*w) + 1, 8);
        if (!w)
            return skiff__codec_enc_oom();
        for (size_t i = 0; i < n; i++)
            w[i] = ((const uint8_t *)d)[i] != 0;
        pt->n_bool_data = n, pt->bool_data = w;
        break;
    }
    }
    if (e == 12)
        for (size_t i = 0; i < n; i++)
            if (!pt->str_data[i])
                return skiff__codec_bad("%s: string element %zu is NULL", what, i);
    return NULL;
}

/* The message's pairs and tensors as a view (arrays in a). pb: values go to
 * protobuf-c, which cannot carry a NUL inside a string. */
static skiff_status_t *to_view(const skiff__pipe_msg *m, skiff__arena *a, bool pb, view *v)
{
    size_t np = 0, nt = 0;
    for (int i = 0; i < m->n_items; i++) {
        const skiff__pipe_item *it = &m->items[i];
        if ((it->str != NULL) == (it->tensor != NULL))
            return skiff__codec_bad("item %d ('%.*s') must hold either a value or a tensor", i,
                                    SKIFF__CODEC_Q(it->key ? it->key : ""));
        if (it->str)
            np++;
        else
            nt++;
    }
    char **k = skiff__arena_alloc(a, (np + 1) * sizeof(char *), 8);
    char **val = skiff__arena_alloc(a, (np + 1) * sizeof(char *), 8);
    size_t *lens = skiff__arena_alloc(a, (np + 1) * sizeof(size_t), 8);
    pb_tensor *pts = skiff__arena_calloc(a, nt + 1, sizeof(pb_tensor), 16);
    pb_tensor **pp = skiff__arena_calloc(a, nt + 1, sizeof(pb_tensor *), 8);
    if (!k || !val || !lens || !pts || !pp)
        return skiff__codec_enc_oom();
    size_t ip = 0, it_ = 0;
    for (int i = 0; i < m->n_items; i++) {
        const skiff__pipe_item *it = &m->items[i];
        if (it->str) {
            if (pb && memchr(it->str, 0, it->str_len))
                return skiff__codec_bad("the value of key '%.*s' holds a NUL byte, which the "
                                        "protobuf form cannot carry",
                                        SKIFF__CODEC_Q(it->key ? it->key : ""));
            k[ip] = (char *)(it->key ? it->key : "");
            val[ip] = (char *)it->str;
            lens[ip++] = it->str_len;
        } else {
            skiff_status_t *st = to_pb_tensor(it, a, i, &pts[it_]);
            if (st)
                return st;
            pp[it_] = &pts[it_];
            it_++;
        }
    }
    *v = (view){.key = k,
                .n_key = np,
                .value = val,
                .value_len = lens,
                .n_value = np,
                .tensors = pp,
                .n_tensors = nt};
    return NULL;
}

/* ---- JSON writer ------------------------------------------------------------------------ */

static bool put_real(skiff__buf *b, double v, bool single)
{
    if (isnan(v))
        return skiff__buf_lit(b, "\"NaN\"");
    if (isinf(v))
        return skiff__buf_lit(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return single ? skiff__buf_f32(b, (float)v) : skiff__buf_f64(b, v);
}

/* The elem_type's data field of a Tensor: int64 as strings when quoted. */
static bool put_data(skiff__buf *b, const pb_tensor *pt, field f, bool quote_i64)
{
    size_t n = field_count(pt, f);
    if (f == F_BYTES)
        return skiff__buf_char(b, '"') && skiff__buf_base64(b, pt->byte_data.data, n) &&
               skiff__buf_char(b, '"');
    if (!skiff__buf_char(b, '['))
        return false;
    for (size_t i = 0; i < n; i++) {
        bool ok = i == 0 || skiff__buf_char(b, ',');
        switch (f) {
        case F_INT64:
            ok = ok && (!quote_i64 || skiff__buf_char(b, '"')) &&
                 skiff__buf_i64(b, pt->int64_data[i]) && (!quote_i64 || skiff__buf_char(b, '"'));
            break;
        case F_FLOAT: ok = ok && put_real(b, pt->float_data[i], true); break;
        case F_INT: ok = ok && skiff__buf_i64(b, pt->int_data[i]); break;
        case F_FLOAT64: ok = ok && put_real(b, pt->float64_data[i], false); break;
        case F_UINT32: ok = ok && skiff__buf_u64(b, pt->uint32_data[i]); break;
        case F_BOOL: ok = ok && skiff__buf_lit(b, pt->bool_data[i] ? "true" : "false"); break;
        case F_C64: ok = ok && put_real(b, pt->complex64_data[i], true); break;
        case F_C128: ok = ok && put_real(b, pt->complex128_data[i], false); break;
        default: ok = ok && skiff__buf_cstr(b, pt->str_data[i]); break;
        }
        if (!ok)
            return false;
    }
    return skiff__buf_char(b, ']');
}

static bool put_i32_list(skiff__buf *b, const int32_t *v, size_t n)
{
    bool ok = skiff__buf_char(b, '[');
    for (size_t i = 0; ok && i < n; i++)
        ok = (i == 0 || skiff__buf_char(b, ',')) && skiff__buf_i64(b, v[i]);
    return ok && skiff__buf_char(b, ']');
}

/* key, value and tensors as JSON fields (no braces). */
static bool put_common(skiff__buf *b, const view *v, bool quote_i64)
{
    bool ok = skiff__buf_lit(b, "\"key\":[");
    for (size_t i = 0; ok && i < v->n_key; i++)
        ok = (i == 0 || skiff__buf_char(b, ',')) && skiff__buf_cstr(b, v->key[i]);
    ok = ok && skiff__buf_lit(b, "],\"value\":[");
    for (size_t i = 0; ok && i < v->n_value; i++)
        ok = (i == 0 || skiff__buf_char(b, ',')) &&
             skiff__buf_json_string(b, v->value[i], v->value_len[i]);
    ok = ok && skiff__buf_lit(b, "],\"tensors\":[");
    for (size_t i = 0; ok && i < v->n_tensors; i++) {
        const pb_tensor *pt = v->tensors[i];
        field f = elem[pt->elem_type].field;
        ok = (i == 0 || skiff__buf_char(b, ',')) &&
             skiff__buf_printf(b, "{\"%s\":", field_name[f][0]) && put_data(b, pt, f, quote_i64) &&
             skiff__buf_printf(b, ",\"elem_type\":%d,\"shape\":", (int)pt->elem_type) &&
             put_i32_list(b, pt->shape, pt->n_shape);
        if (ok && pt->n_lod)
            ok = skiff__buf_lit(b, ",\"lod\":") && put_i32_list(b, pt->lod, pt->n_lod);
        ok = ok && skiff__buf_lit(b, ",\"name\":") && skiff__buf_cstr(b, pt->name) &&
             skiff__buf_char(b, '}');
    }
    return ok && skiff__buf_char(b, ']');
}

/* ---- encoders ----------------------------------------------------------------------------- */

/* One encoder: the view in a scratch arena, then JSON or protobuf. */
static skiff_status_t *encode(const skiff__pipe_msg *m, bool request, bool pb, skiff__buf *out)
{
    skiff__arena *a = skiff__arena_new(4096);
    if (!a)
        return skiff__codec_enc_oom();
    view v;
    skiff_status_t *st = to_view(m, a, pb, &v);
    if (st) {
        skiff__arena_free(a);
        return st;
    }
    size_t start = out->len;
    bool ok = true;
    if (pb) {
        pb_request q;
        pb_response r;
        ProtobufCMessage *msg;
        if (request) {
            PB(request__init)(&q);
            q.n_key = v.n_key, q.key = (char **)v.key;
            q.n_value = v.n_value, q.value = (char **)v.value;
            q.n_tensors = v.n_tensors, q.tensors = (pb_tensor **)v.tensors;
            q.name = (char *)(m->name ? m->name : "");
            q.method = (char *)(m->method ? m->method : "");
            q.clientip = (char *)(m->clientip ? m->clientip : "");
            q.logid = m->logid;
            msg = &q.base;
        } else {
            PB(response__init)(&r);
            r.err_no = m->err_no;
            r.err_msg = (char *)(m->err_msg ? m->err_msg : "");
            r.n_key = v.n_key, r.key = (char **)v.key;
            r.n_value = v.n_value, r.value = (char **)v.value;
            r.n_tensors = v.n_tensors, r.tensors = (pb_tensor **)v.tensors;
            msg = &r.base;
        }
        size_t n = protobuf_c_message_get_packed_size(msg);
        ok = skiff__buf_reserve(out, n);
        if (ok) {
            out->len += protobuf_c_message_pack(msg, (uint8_t *)out->data + out->len);
            out->data[out->len] = '\0';
        }
    } else if (request) {
        ok = skiff__buf_char(out, '{') && put_common(out, &v, false);
        if (ok && m->name && m->name[0])
            ok = skiff__buf_lit(out, ",\"name\":") && skiff__buf_cstr(out, m->name);
        if (ok && m->method && m->method[0])
            ok = skiff__buf_lit(out, ",\"method\":") && skiff__buf_cstr(out, m->method);
        ok = ok && skiff__buf_lit(out, ",\"logid\":") && skiff__buf_i64(out, m->logid);
        if (ok && m->clientip && m->clientip[0])
            ok = skiff__buf_lit(out, ",\"clientip\":") && skiff__buf_cstr(out, m->clientip);
        ok = ok && skiff__buf_char(out, '}');
    } else {
        ok = skiff__buf_printf(out, "{\"err_no\":%d,\"err_msg\":", m->err_no) &&
             skiff__buf_cstr(out, m->err_msg ? m->err_msg : "") && skiff__buf_char(out, ',') &&
             put_common(out, &v, true) && skiff__buf_char(out, '}');
    }
    skiff__arena_free(a);
    if (!ok) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return skiff__codec_enc_oom();
    }
    return NULL;
}

skiff_status_t *skiff__pipe_encode_response_json(const skiff__pipe_msg *m, skiff__buf *out)
{
    return encode(m, false, false, out);
}

skiff_status_t *skiff__pipe_encode_response_pb(const skiff__pipe_msg *m, skiff__buf *out)
{
    return encode(m, false, true, out);
}

skiff_status_t *skiff__pipe_encode_request_json(const skiff__pipe_msg *m, skiff__buf *out)
{
    return encode(m, true, false, out);
}

skiff_status_t *skiff__pipe_encode_request_pb(const skiff__pipe_msg *m, skiff__buf *out)
{
    return encode(m, true, true, out);
}
