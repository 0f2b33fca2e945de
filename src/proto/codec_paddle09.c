/* codec_paddle09.c - Paddle Serving 0.9's HTTP JSON format
 * (POST /GeneralModelService/inference): the proto3 JSON form of
 * general_model_service.proto's Request and Response. Typed repeated fields
 * chosen by elem_type, explicit shapes with the batch dim, optional lod. Both
 * proto field names and proto3's lowerCamelCase JSON names are accepted, and
 * proto3's string forms of int64 and NaN/Infinity. (The 0.4 web format is in
 * codec_paddle.c.)
 *
 * The same decoder reads the protobuf binary Request (codec_paddle09_pb.c):
 * each tensor's checks (p09_tensor) read a skiff__p09_tensor view, which the
 * JSON front points at the tensor's object and the binary front at
 * protobuf-c's typed arrays, so both fronts check the same things in the
 * same order and word errors alike, and binary values are copied a tensor
 * at a time. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "proto/codec_int.h"

/* ============================ Paddle 0.9 ===================================== */

/* The payload fields, in their order in the message (codec_int.h). */
typedef skiff__p09_field pfield;
#define P_INT64 SKIFF__P09_INT64
#define P_FLOAT SKIFF__P09_FLOAT
#define P_INT SKIFF__P09_INT
#define P_FLOAT64 SKIFF__P09_FLOAT64
#define P_UINT32 SKIFF__P09_UINT32
#define P_BOOL SKIFF__P09_BOOL
#define P_C64 SKIFF__P09_C64
#define P_C128 SKIFF__P09_C128
#define P_DATA SKIFF__P09_DATA
#define P_CONTENT SKIFF__P09_CONTENT
#define P_N SKIFF__P09_N

static const char *const pfield_name[P_N][2] = {
    [P_INT64] = {"int64_data", "int64Data"},
    [P_FLOAT] = {"float_data", "floatData"},
    [P_INT] = {"int_data", "intData"},
    [P_FLOAT64] = {"float64_data", "float64Data"},
    [P_UINT32] = {"uint32_data", "uint32Data"},
    [P_BOOL] = {"bool_data", "boolData"},
    [P_C64] = {"complex64_data", "complex64Data"},
    [P_C128] = {"complex128_data", "complex128Data"},
    [P_DATA] = {"data", "data"},
    [P_CONTENT] = {"tensor_content", "tensorContent"},
};

/* dtype -> the repeated field that carries it (the elem_type codes are
 * core's table: skiff__dtype_paddle_code). */
static const struct {
    skiff_dtype_t dtype;
    pfield field;
} ptypes[] = {
    {SKIFF_DTYPE_INT64, P_INT64},      {SKIFF_DTYPE_FLOAT32, P_FLOAT},
    {SKIFF_DTYPE_INT32, P_INT},        {SKIFF_DTYPE_FLOAT64, P_FLOAT64},
    {SKIFF_DTYPE_INT16, P_INT},        {SKIFF_DTYPE_FLOAT16, P_CONTENT},
    {SKIFF_DTYPE_BFLOAT16, P_CONTENT}, {SKIFF_DTYPE_UINT8, P_CONTENT},
    {SKIFF_DTYPE_INT8, P_CONTENT},     {SKIFF_DTYPE_BOOL, P_BOOL},
    {SKIFF_DTYPE_STRING, P_DATA},
};
#define N_PTYPES (int)(sizeof(ptypes) / sizeof(ptypes[0]))

static int ptype_by_dtype(skiff_dtype_t d);

static int ptype_by_elem(int64_t e)
{
    if (e < 0 || e > 1000)
        return -1;
    skiff_dtype_t d = skiff__dtype_from_paddle((int)e);
    return d == SKIFF_DTYPE_UNDEFINED ? -1 : ptype_by_dtype(d);
}

static int ptype_by_dtype(skiff_dtype_t d)
{
    for (int i = 0; i < N_PTYPES; i++)
        if (ptypes[i].dtype == d)
            return i;
    return -1;
}

/* Field of an object under its proto name or its lowerCamelCase JSON name. */
static json_t *pget(const json_t *o, const char *snake, const char *camel)
{
    json_t *v = json_object_get(o, snake);
    return v ? v : json_object_get(o, camel);
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

/* proto3 JSON writes int64 as strings and non-finite floats as "NaN",
 * "Infinity", "-Infinity"; accept those where the type is numeric. */
static skiff_status_t *p09_leaf(const char *what, const json_t *e, int64_t i, skiff_dtype_t dt,
                                void *dst)
{
    if (!json_is_string(e) || dt == SKIFF_DTYPE_STRING)
        return skiff__codec_leaf(what, e, i, dt, dst, i);
    const char *s = json_string_value(e);
    bool fl = dt == SKIFF_DTYPE_FLOAT32 || dt == SKIFF_DTYPE_FLOAT64 || dt == SKIFF_DTYPE_FLOAT16 ||
              dt == SKIFF_DTYPE_BFLOAT16;
    double d;
    int64_t iv;
    json_t *tmp = NULL;
    if (fl && (!strcmp(s, "NaN") || !strcmp(s, "Infinity") || !strcmp(s, "-Infinity"))) {
        d = s[0] == 'N' ? NAN : s[0] == '-' ? -INFINITY : INFINITY;
        switch (dt) {
        case SKIFF_DTYPE_FLOAT32: ((float *)dst)[i] = (float)d; break;
        case SKIFF_DTYPE_FLOAT64: ((double *)dst)[i] = d; break;
        case SKIFF_DTYPE_FLOAT16: ((uint16_t *)dst)[i] = skiff__f32_to_f16((float)d); break;
        default: ((uint16_t *)dst)[i] = skiff__f32_to_bf16((float)d); break;
        }
        return NULL;
    }
    if (!fl && dt != SKIFF_DTYPE_BOOL && skiff__parse_i64(s, &iv))
        tmp = json_integer(iv);
    else if (fl && skiff__parse_double(s, &d) && isfinite(d))
        tmp = json_real(d);
    else
        return skiff__codec_bad("%s: element %lld is a string that is not a %s", what, (long long)i,
                                fl                       ? "number"
                                : dt == SKIFF_DTYPE_BOOL ? "boolean"
                                                         : "integer");
    if (!tmp)
        return skiff__codec_oom();
    skiff_status_t *st = skiff__codec_leaf(what, tmp, i, dt, dst, i);
    json_decref(tmp);
    return st;
}

/* An int32/int64 field: a JSON integer, or proto3's decimal string. Returns
 * true when it is neither (the caller names the field). */
static bool p09_int_bad(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return false;
    }
    return !(json_is_string(v) && skiff__parse_i64(json_string_value(v), out));
}

typedef struct p09_ctx {
    const skiff__model_io *io;
    skiff__io_pick_cb pick;
    void *pick_user;
    skiff__codec_limits lim;
    int64_t elements;
    int64_t batch;
    const char *batch_from;
    skiff__infer_request *req;
    bool *seen; /* per input spec */
} p09_ctx;

static const char *const tensor_fields[] = {"int64_data",     "int64Data",     "float_data",
                                            "floatData",      "int_data",      "intData",
                                            "float64_data",   "float64Data",   "uint32_data",
                                            "uint32Data",     "bool_data",     "boolData",
                                            "complex64_data", "complex64Data", "complex128_data",
                                            "complex128Data", "data",          "elem_type",
                                            "elemType",       "shape",         "lod",
                                            "name",           "alias_name",    "aliasName",
                                            "tensor_content", "tensorContent", NULL};

/* Element i of a tensor's shape or lod: from the JSON list l, or from the
 * binary front's int32 array v. false (with the JSON value's kind in *kind)
 * when the JSON element is not an integer. */
static bool p09_int_at(const json_t *l, const int32_t *v, size_t i, int64_t *out, const char **kind)
{
    if (!l) {
        *out = v[i];
        return true;
    }
    const json_t *e = json_array_get(l, i);
    if (p09_int_bad(e, out)) {
        *kind = skiff__codec_json_kind(e);
        return false;
    }
    return true;
}

/* A Paddle 0.9 tensor's shape (batch dim included; a client that left it
 * out sent one instance), checked against the input and the element limit. */
static skiff_status_t *p09_shape(p09_ctx *c, const skiff__p09_tensor *v, const char *what,
                                 const skiff__io_spec *s, int *out_nd, int64_t *dims,
                                 int64_t *out_numel)
{
    char a[160];
    int nd = 0;
    const json_t *js = v->json ? json_object_get(v->json, "shape") : NULL;
    if (js && !json_is_array(js))
        return skiff__codec_bad("%s: shape is %s, expected a list of dims", what,
                                skiff__codec_json_kind(js));
    size_t n = v->json ? (js ? json_array_size(js) : 0) : v->n_shape;
    if (n > SKIFF_MAX_DIMS)
        return skiff__codec_bad("%s: shape has %zu dims, more than %d", what, n, SKIFF_MAX_DIMS);
    for (size_t i = 0; i < n; i++) {
        int64_t d;
        const char *kind = NULL;
        if (!p09_int_at(js, v->shape, i, &d, &kind))
            return skiff__codec_bad("%s: shape[%zu] is %s, expected an integer", what, i, kind);
        if (d < 0 || d > INT32_MAX)
            return skiff__codec_bad("%s: shape[%zu] is %lld, expected a dim in 0..%d", what, i,
                                    (long long)d, INT32_MAX);
        dims[nd++] = d;
    }
    skiff_status_t *shape_err = s ? skiff__codec_check_shape(what, s, nd, dims) : NULL;
    if (shape_err && s->batched && nd < SKIFF_MAX_DIMS) {
        /* a client that left out the batch dim sent one instance */
        int64_t with[SKIFF_MAX_DIMS + 1];
        with[0] = 1;
        memcpy(with + 1, dims, sizeof(int64_t) * (size_t)nd);
        skiff_status_t *e2 = skiff__codec_check_shape(what, s, nd + 1, with);
        if (!e2) {
            memcpy(dims, with, sizeof(int64_t) * (size_t)(nd + 1));
            nd++;
            skiff_status_free(shape_err);
            shape_err = NULL;
        }
        skiff_status_free(e2);
    }
    if (shape_err)
        return shape_err;
    int64_t numel = skiff_shape_numel(nd, dims);
    if (numel < 0 || __builtin_add_overflow(c->elements, numel, &c->elements) ||
        c->elements > c->lim.max_elements)
        return skiff__codec_bad("%s: shape %s exceeds the limit of %lld elements per request", what,
                                skiff_shape_str(nd, dims, a, sizeof(a)),
                                (long long)c->lim.max_elements);

    *out_nd = nd;
    *out_numel = numel;
    return NULL;
}

/* A Paddle 0.9 tensor's LoD offsets (a LoD input without them is one
 * sequence of dims[0] rows). */
static skiff_status_t *p09_lod(p09_ctx *c, const skiff__p09_tensor *v, const char *what,
                               const skiff__io_spec *s, int nd, const int64_t *dims,
                               int64_t **out_lod, int *out_n_lod, bool *out_is_lod)
{
    skiff_status_t *st;
    int64_t *lod = NULL;
    int n_lod = 0;
    const json_t *jl = v->json ? json_object_get(v->json, "lod") : NULL;
    if (jl && !json_is_array(jl))
        return skiff__codec_bad("%s: lod is %s, expected a list of offsets", what,
                                skiff__codec_json_kind(jl));
    size_t ln = v->json ? (jl ? json_array_size(jl) : 0) : v->n_lod;
    bool is_lod = s ? s->is_lod : ln > 0;
    if (ln > 0 && !is_lod)
        return skiff__codec_bad("%s: lod given but the input is not a LoD input", what);
    if (is_lod) {
        if (nd < 1)
            return skiff__codec_bad("%s: a LoD input needs a shape with a row dim", what);
        if (ln > (size_t)c->lim.max_elements)
            return skiff__codec_bad("%s: lod is too long", what);
        lod = skiff__malloc(sizeof(int64_t) * (ln ? ln : 2));
        if (!lod)
            return skiff__codec_oom();
        if (ln == 0) {
            lod[0] = 0, lod[1] = dims[0];
            n_lod = 2;
        }
        for (size_t i = 0; i < ln; i++) {
            const char *kind = NULL;
            if (!p09_int_at(jl, v->lod, i, &lod[i], &kind)) {
                skiff__free(lod);
                return skiff__codec_bad("%s: lod[%zu] is %s, expected an integer", what, i, kind);
            }
            n_lod++;
        }
        if ((st = skiff__codec_check_lod(what, lod, n_lod, dims[0]))) {
            skiff__free(lod);
            return st;
        }
    }

    *out_lod = lod;
    *out_n_lod = n_lod;
    *out_is_lod = is_lod;
    return NULL;
}

/* "shape [..] needs N elements, <field> has M" */
static skiff_status_t *p09_count_err(const char *what, const skiff_tensor_t *t, int64_t numel,
                                     pfield pf, size_t n)
{
    char a[160];
    return skiff__codec_bad("%s: shape %s needs %lld elements, %s has %zu", what,
                            skiff_shape_str(t->ndim, t->dims, a, sizeof(a)), (long long)numel,
                            pfield_name[pf][0], n);
}

/* tensor_content's got bytes into t (bool bytes normalised to 0/1). */
static skiff_status_t *p09_content(const char *what, skiff_tensor_t *t, const void *raw, size_t got)
{
    char a[160];
    if (got != t->nbytes)
        return skiff__codec_bad("%s: shape %s needs %zu bytes of tensor_content, got %zu", what,
                                skiff_shape_str(t->ndim, t->dims, a, sizeof(a)), t->nbytes, got);
    if (got)
        memcpy(t->data, raw, got);
    if (t->dtype == SKIFF_DTYPE_BOOL) /* any non-zero byte is true; store 1 */
        for (size_t i = 0; i < t->nbytes; i++)
            ((uint8_t *)t->data)[i] = ((uint8_t *)t->data)[i] != 0;
    return NULL;
}

/* Fills t from the JSON payload: base64 tensor_content, or the typed list. */
static skiff_status_t *p09_fill_json(const char *what, skiff_tensor_t *t, const json_t *payload,
                                     pfield pf, int64_t numel)
{
    skiff_status_t *st = NULL;
    if (payload && pf == P_CONTENT) {
        if (!json_is_string(payload))
            return skiff__codec_bad("%s: tensor_content is %s, expected a base64 string", what,
                                    skiff__codec_json_kind(payload));
        size_t sl = json_string_length(payload), got = 0;
        uint8_t *raw = skiff__malloc(sl / 4 * 3 + 3);
        if (!raw)
            st = skiff__codec_oom();
        else if (!skiff__base64_decode(json_string_value(payload), sl, raw, &got))
            st = skiff__codec_bad("%s: tensor_content is not valid base64", what);
        else
            st = p09_content(what, t, raw, got);
        skiff__free(raw);
        return st;
    }
    size_t n = payload ? json_array_size(payload) : 0;
    if (payload && !json_is_array(payload))
        return skiff__codec_bad("%s: %s is %s, expected a list", what, pfield_name[pf][0],
                                skiff__codec_json_kind(payload));
    if ((int64_t)n != numel)
        return p09_count_err(what, t, numel, pf, n);
    for (size_t i = 0; !st && i < n; i++)
        st = p09_leaf(what, json_array_get(payload, i), (int64_t)i, t->dtype, t->data);
    return st;
}

/* Fills t from a binary payload (field pf of v; has: the field is not
 * empty). The field matches t's type (p09_tensor chose it by elem_type), so
 * each type is one copy or one loop. Floats are copied bit for bit (a NaN
 * keeps its payload; the JSON form has one NaN); int_data for int16 is
 * range-checked as skiff__codec_leaf checks it. */
static skiff_status_t *p09_fill_typed(const char *what, skiff_tensor_t *t,
                                      const skiff__p09_tensor *v, bool has, pfield pf,
                                      int64_t numel)
{
    if (has && pf == P_CONTENT)
        return p09_content(what, t, v->values[pf], v->n_values[pf]);
    size_t n = has ? v->n_values[pf] : 0;
    if ((int64_t)n != numel)
        return p09_count_err(what, t, numel, pf, n);
    if (n == 0)
        return NULL;
    const void *src = v->values[pf];
    switch (t->dtype) {
    case SKIFF_DTYPE_INT16:
        for (size_t i = 0; i < n; i++) {
            int32_t x = ((const int32_t *)src)[i];
            if (x < INT16_MIN || x > INT16_MAX)
                return skiff__codec_range_err(what, (int64_t)i, (double)x, t->dtype);
            ((int16_t *)t->data)[i] = (int16_t)x;
        }
        return NULL;
    case SKIFF_DTYPE_BOOL:
        for (size_t i = 0; i < n; i++)
            ((uint8_t *)t->data)[i] = ((const int *)src)[i] != 0;
        return NULL;
    case SKIFF_DTYPE_STRING:
        for (size_t i = 0; i < n; i++) {
            const char *s = ((char *const *)src)[i];
            if (!(((char **)t->data)[i] = skiff__strdup(s ? s : "")))
                return skiff__codec_oom();
        }
        return NULL;
    default: /* int64, float32, int32, float64: the wire's own layout */
        memcpy(t->data, src, t->nbytes);
        return NULL;
    }
}

/* Whether field f of v carries values (an empty list or string does not),
 * and its JSON value. */
static bool p09_has(const skiff__p09_tensor *v, int f, const json_t **out_json)
{
    *out_json = NULL;
    if (!v->json)
        return v->n_values[f] > 0;
    const json_t *j = pget(v->json, pfield_name[f][0], pfield_name[f][1]);
    if (!j)
        return false;
    bool empty = f == P_CONTENT ? (json_is_string(j) && json_string_length(j) == 0)
                                : (json_is_array(j) && json_array_size(j) == 0);
    *out_json = j;
    return !empty;
}

/* One Tensor message, from either front: matched to the model's input,
 * type, payload field, shape, lod and batch checked, decoded into a tensor
 * added to c->req. */
static skiff_status_t *p09_tensor(p09_ctx *c, const skiff__p09_tensor *v)
{
    char what[256];
    skiff_status_t *st;
    const char *name = v->name, *alias = v->alias;
    const char *key = alias[0] ? alias : name;
    snprintf(what, sizeof(what), "input '%.*s'", SKIFF__CODEC_Q(key));

    int spec = -1;
    const skiff__io_spec *s = NULL;
    if (c->io) {
        spec = alias[0] ? skiff__codec_find_spec(c->io->inputs, c->io->n_inputs, alias, true) : -1;
        if (spec < 0 && name[0]) {
            spec = skiff__codec_find_spec(c->io->inputs, c->io->n_inputs, name, false);
            if (spec >= 0)
                key = name; /* the input is known by the name that matched */
        }
        if (spec < 0) {
            char list[256];
            return skiff_status_new(
                SKIFF_CODE_INVALID_ARG, "unknown input '%.*s'; model inputs: %s",
                SKIFF__CODEC_Q(key),
                skiff__codec_list_specs(c->io->inputs, c->io->n_inputs, list, sizeof(list)));
        }
        if (c->seen[spec])
            return skiff__codec_bad("input '%.*s' given twice", SKIFF__CODEC_Q(key));
        c->seen[spec] = true;
        s = &c->io->inputs[spec];
        snprintf(what, sizeof(what), "input '%.*s'", SKIFF__CODEC_Q(key));
    } else {
        for (int i = 0; i < c->req->n_inputs; i++)
            if (strcmp(c->req->inputs[i].name, key) == 0)
                return skiff__codec_bad("input '%.*s' given twice", SKIFF__CODEC_Q(key));
    }

    /* type */
    int64_t et = v->elem_type;
    const json_t *je = v->json ? pget(v->json, "elem_type", "elemType") : NULL;
    if (je && p09_int_bad(je, &et))
        return skiff__codec_bad("%s: elem_type is %s, expected an integer", what,
                                skiff__codec_json_kind(je));
    int pt = ptype_by_elem(et);
    if (pt < 0) {
        if (et == 10 || et == 11)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "%s: complex elem_type %lld is not "
                                    "supported",
                                    what, (long long)et);
        return skiff__codec_bad("%s: unknown elem_type %lld", what, (long long)et);
    }
    skiff_dtype_t dt = ptypes[pt].dtype;
    if (s && s->dtype != dt) {
        int mpt = ptype_by_dtype(s->dtype);
        return skiff__codec_bad(
            "%s: elem_type %lld (%s) does not match the model's %s (elem_type %d)", what,
            (long long)et, skiff_dtype_name(dt), skiff_dtype_name(s->dtype),
            mpt >= 0 ? skiff__dtype_paddle_code(ptypes[mpt].dtype) : -1);
    }

    /* payload: the field elem_type selects, or tensor_content for fixed-size
     * types; any other non-empty payload field is a client mistake */
    const json_t *payload = NULL;
    bool has = false;
    pfield pf = ptypes[pt].field;
    for (int f = 0; f < P_N; f++) {
        const json_t *j;
        if (!p09_has(v, f, &j))
            continue;
        bool fits = f == (int)pf || (f == P_CONTENT && dt != SKIFF_DTYPE_STRING);
        if (!fits)
            return skiff__codec_bad("%s: elem_type %lld (%s) carries values in %s, got %s", what,
                                    (long long)et, skiff_dtype_name(dt), pfield_name[pf][0],
                                    pfield_name[f][0]);
        if (has)
            return skiff__codec_bad("%s: values given in both %s and tensor_content", what,
                                    pfield_name[pf][0]);
        has = true;
        payload = j;
        pf = (pfield)f;
    }

    int nd = 0;
    int64_t dims[SKIFF_MAX_DIMS + 1], numel = 0;
    if ((st = p09_shape(c, v, what, s, &nd, dims, &numel)))
        return st;
    int64_t *lod = NULL;
    int n_lod = 0;
    bool is_lod = false;
    if ((st = p09_lod(c, v, what, s, nd, dims, &lod, &n_lod, &is_lod)))
        return st;

    skiff_tensor_t *t = NULL;
    if ((st = skiff_tensor_new(dt, nd, dims, &t))) {
        skiff__free(lod);
        return skiff_status_wrap(st, "%s", what);
    }
    st = v->json ? p09_fill_json(what, t, payload, pf, numel)
                 : p09_fill_typed(what, t, v, has, pf, numel);
    if (st) {
        skiff_tensor_free(t);
        skiff__free(lod);
        return st;
    }

    /* a scalar (an input of any rank may be one) has no batch dim to agree on */
    bool batched = nd > 0 && (!s || s->batched || s->is_lod);
    if (batched) {
        int64_t bsz = is_lod ? n_lod - 1 : dims[0];
        if (c->batch < 0) {
            c->batch = bsz;
            c->batch_from = key;
        } else if (bsz != c->batch) {
            skiff_tensor_free(t);
            skiff__free(lod);
            return skiff__codec_bad("%s: batch of %lld %s differs from input '%.*s' batch of %lld",
                                    what, (long long)bsz, is_lod ? "sequences" : "rows",
                                    SKIFF__CODEC_Q(c->batch_from), (long long)c->batch);
        }
    }
    return skiff__codec_add_input(c->req, skiff__strdup(key), spec, t, lod, n_lod);
}

/* The JSON front's Tensor object: its fields and the types of its names,
 * then the shared checks. */
static skiff_status_t *p09_tensor_json(p09_ctx *c, const json_t *tj, size_t ti)
{
    char where[64];
    skiff_status_t *st;
    snprintf(where, sizeof(where), "tensor[%zu]", ti);
    if (!json_is_object(tj))
        return skiff__codec_bad("%s is %s, expected an object", where, skiff__codec_json_kind(tj));
    if ((st = check_fields(tj, where, tensor_fields)))
        return st;
    const json_t *jn = json_object_get(tj, "name");
    const json_t *ja = pget(tj, "alias_name", "aliasName");
    if ((jn && !json_is_string(jn)) || (ja && !json_is_string(ja)))
        return skiff__codec_bad("%s: %s is %s, expected a string", where,
                                jn && !json_is_string(jn) ? "name" : "alias_name",
                                skiff__codec_json_kind(jn && !json_is_string(jn) ? jn : ja));
    skiff__p09_tensor v = {.json = tj,
                           .name = jn ? json_string_value(jn) : "",
                           .alias = ja ? json_string_value(ja) : ""};
    if (!v.name[0] && !v.alias[0])
        return skiff__codec_bad("%s has neither name nor alias_name", where);
    return p09_tensor(c, &v);
}

/* The model the tensors are checked against (c->pick asked with the
 * request's model, NULL when it names none), and its inputs' seen flags. */
static skiff_status_t *p09_begin(p09_ctx *c)
{
    skiff_status_t *st = NULL;
    if (c->pick) {
        c->io = c->pick(c->pick_user, c->req->model, &st);
        if (!c->io)
            return st ? st : skiff_status_new(SKIFF_CODE_INTERNAL, "no model to decode against");
    }
    if (c->io) {
        c->seen = skiff__calloc(c->io->n_inputs > 0 ? (size_t)c->io->n_inputs : 1, sizeof(bool));
        if (!c->seen)
            return skiff__codec_oom();
    }
    return NULL;
}

static skiff_status_t *p09_count(const p09_ctx *c, size_t n)
{
    if (n > (size_t)c->lim.max_inputs)
        return skiff__codec_bad("\"tensor\" holds %zu tensors, more than the limit of %d", n,
                                c->lim.max_inputs);
    return NULL;
}

/* After the n tensors: every input the model needs was given. */
static skiff_status_t *p09_end(const p09_ctx *c, size_t n)
{
    if (c->io) {
        for (int j = 0; j < c->io->n_inputs; j++) {
            const skiff__io_spec *s = &c->io->inputs[j];
            if (!c->seen[j] && !s->optional)
                return skiff__codec_bad("missing input '%.*s'",
                                        SKIFF__CODEC_Q(s->alias ? s->alias : s->name));
        }
    } else if (n == 0) {
        return skiff__codec_bad("\"tensor\" is an empty list, expected at least one input");
    }
    return NULL;
}

static const char *const request_fields[] = {"tensor",         "fetch_var_names", "fetchVarNames",
                                             "profile_server", "profileServer",   "log_id",
                                             "logId",          "model",           NULL};

static skiff_status_t *p09_decode_json(p09_ctx *c, const json_t *root)
{
    skiff_status_t *st;
    if ((st = check_fields(root, "Request", request_fields)))
        return st;
    /* "model" is not in Paddle's Request message, but its HTTP clients for
     * multi-model servers send it next to the tensors: it picks the model
     * whose inputs the tensors are checked against. */
    const json_t *jm = json_object_get(root, "model");
    if (jm && !json_is_string(jm))
        return skiff__codec_bad("model is %s, expected a model name", skiff__codec_json_kind(jm));
    if (jm && !(c->req->model = skiff__strdup(json_string_value(jm))))
        return skiff__codec_oom();
    if ((st = p09_begin(c)))
        return st;
    const json_t *tl = json_object_get(root, "tensor");
    if (!tl)
        return skiff__codec_bad(
            "missing \"tensor\": expected {\"tensor\":[{\"name\":..,\"elem_type\":..,"
            "\"shape\":[..],\"float_data\":[..]}],\"fetch_var_names\":[..]}");
    if (!json_is_array(tl))
        return skiff__codec_bad("\"tensor\" is %s, expected a list of tensors",
                                skiff__codec_json_kind(tl));
    size_t n = json_array_size(tl);
    if ((st = p09_count(c, n)))
        return st;
    const json_t *lj = pget(root, "log_id", "logId");
    if (lj) {
        if (json_is_integer(lj) && json_integer_value(lj) >= 0) {
            c->req->log_id = (uint64_t)json_integer_value(lj);
        } else {
            /* proto3 JSON writes uint64 as a decimal string */
            const char *ls = json_is_string(lj) ? json_string_value(lj) : "";
            uint64_t v = 0;
            bool ok = ls[0] != '\0';
            for (const char *p = ls; ok && *p; p++)
                ok = *p >= '0' && *p <= '9' && !__builtin_mul_overflow(v, 10, &v) &&
                     !__builtin_add_overflow(v, (uint64_t)(*p - '0'), &v);
            if (!ok)
                return skiff__codec_bad("log_id is %s, expected an unsigned integer",
                                        json_is_string(lj) ? "a string that is not one"
                                                           : skiff__codec_json_kind(lj));
            c->req->log_id = v;
        }
    }
    const json_t *ps = pget(root, "profile_server", "profileServer");
    if (ps && !json_is_boolean(ps))
        return skiff__codec_bad("profile_server is %s, expected a boolean",
                                skiff__codec_json_kind(ps));
    if ((st = skiff__codec_decode_fetch(pget(root, "fetch_var_names", "fetchVarNames"),
                                        "fetch_var_names", c->io, &c->lim, c->req)))
        return st;
    for (size_t i = 0; i < n; i++)
        if ((st = p09_tensor_json(c, json_array_get(tl, i), i)))
            return st;
    return p09_end(c, n);
}

/* The binary front: the same steps in the same order, without what its
 * message cannot get wrong (field names and types). */
static skiff_status_t *p09_decode_typed(p09_ctx *c, const skiff__p09_request *r)
{
    skiff_status_t *st;
    if ((st = p09_begin(c)) || (st = p09_count(c, r->n_tensors)))
        return st;
    c->req->log_id = r->log_id;
    if ((st = skiff__codec_decode_fetch_names(r->fetch, r->n_fetch, "fetch_var_names", c->io,
                                              &c->lim, c->req)))
        return st;
    for (size_t i = 0; i < r->n_tensors; i++) {
        skiff__p09_tensor v;
        r->tensor_at(r->msg, i, &v);
        if (!v.name[0] && !v.alias[0])
            return skiff__codec_bad("tensor[%zu] has neither name nor alias_name", i);
        if ((st = p09_tensor(c, &v)))
            return st;
    }
    return p09_end(c, r->n_tensors);
}

/* A fresh request for a front's decoder to fill. */
static skiff_status_t *p09_start(p09_ctx *c, skiff__infer_request **out_req)
{
    *out_req = NULL;
    c->req = skiff__calloc(1, sizeof(*c->req));
    return c->req ? NULL : skiff__codec_oom();
}

/* Hands over the request when the front's decoder (st) succeeded. */
static skiff_status_t *p09_finish(p09_ctx *c, skiff_status_t *st, skiff__infer_request **out_req)
{
    skiff__free(c->seen);
    if (st) {
        skiff__infer_request_free(c->req);
        return st;
    }
    c->req->batch = c->batch < 0 ? 1 : c->batch;
    *out_req = c->req;
    return NULL;
}

static skiff_status_t *p09_run_json(p09_ctx *c, const json_t *root, skiff__infer_request **out_req)
{
    skiff_status_t *st = p09_start(c, out_req);
    return p09_finish(c, st ? st : p09_decode_json(c, root), out_req);
}

static skiff_status_t *p09_run(const char *body, size_t len, p09_ctx *c,
                               skiff__infer_request **out_req)
{
    *out_req = NULL;
    skiff_status_t *st;
    json_t *root = skiff__codec_parse_object(body, len, &st);
    if (!root)
        return st;
    st = p09_run_json(c, root, out_req);
    json_decref(root);
    return st;
}

skiff_status_t *skiff__decode_paddle09(const char *body, size_t len, const skiff__model_io *io,
                                       const skiff__codec_limits *limits,
                                       skiff__infer_request **out_req)
{
    p09_ctx c = {.io = io, .batch = -1};
    skiff__codec_limits_resolve(limits, &c.lim);
    return p09_run(body, len, &c, out_req);
}

skiff_status_t *skiff__decode_paddle09_pick(const char *body, size_t len, skiff__io_pick_cb pick,
                                            void *user, const skiff__codec_limits *limits,
                                            skiff__infer_request **out_req)
{
    p09_ctx c = {.pick = pick, .pick_user = user, .batch = -1};
    skiff__codec_limits_resolve(limits, &c.lim);
    return p09_run(body, len, &c, out_req);
}

skiff_status_t *skiff__decode_paddle09_tree(const json_t *root, const skiff__decode_in *in,
                                            skiff__infer_request **out_req)
{
    p09_ctx c = {.io = in->io, .pick = in->pick, .pick_user = in->pick_user, .batch = -1};
    skiff__codec_limits_resolve(in->limits, &c.lim);
    return p09_run_json(&c, root, out_req);
}

skiff_status_t *skiff__decode_paddle09_typed(const skiff__p09_request *r,
                                             const skiff__decode_in *in,
                                             skiff__infer_request **out_req)
{
    p09_ctx c = {.io = in->io, .pick = in->pick, .pick_user = in->pick_user, .batch = -1};
    skiff__codec_limits_resolve(in->limits, &c.lim);
    skiff_status_t *st = p09_start(&c, out_req);
    return p09_finish(&c, st ? st : p09_decode_typed(&c, r), out_req);
}

/* ---- Paddle 0.9 response ---------------------------------------------------- */

/* Floats as proto3 JSON: non-finite values as the strings it defines. */
static bool p09_float(skiff__buf *b, double v, bool f32)
{
    if (isnan(v))
        return skiff__buf_lit(b, "\"NaN\"");
    if (isinf(v))
        return skiff__buf_lit(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return f32 ? skiff__buf_f32(b, (float)v) : skiff__buf_f64(b, v);
}

static bool p09_values(skiff__buf *b, const skiff_tensor_t *t, pfield pf)
{
    if (pf == P_CONTENT) {
        return skiff__buf_char(b, '"') && skiff__buf_base64(b, t->data, t->nbytes) &&
               skiff__buf_char(b, '"');
    }
    if (t->dtype != SKIFF_DTYPE_FLOAT32 && t->dtype != SKIFF_DTYPE_FLOAT64)
        return skiff__buf_tensor_json(b, t, false);
    int64_t n = skiff_tensor_numel(t);
    if (!skiff__buf_char(b, '['))
        return false;
    for (int64_t i = 0; i < n; i++) {
        if (i && !skiff__buf_char(b, ','))
            return false;
        bool ok = t->dtype == SKIFF_DTYPE_FLOAT32
                      ? p09_float(b, ((const float *)t->data)[i], true)
                      : p09_float(b, ((const double *)t->data)[i], false);
        if (!ok)
            return false;
    }
    return skiff__buf_char(b, ']');
}

/* Paddle 0.9 Tensor messages, comma-separated: a Response's ModelOutput and
 * a Request carry the same ones. */
static skiff_status_t *p09_tensors(skiff__buf *out, const skiff__infer_output *outs, int n_outs,
                                   const char *what)
{
    skiff_status_t *st;
    for (int i = 0; i < n_outs; i++) {
        const skiff__infer_output *o = &outs[i];
        if ((st = skiff__codec_check_output(o)))
            return st;
        const char *nm = o->name ? o->name : o->alias;
        int pt = ptype_by_dtype(o->tensor->dtype);
        if (pt < 0)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "%s '%s': %s has no Paddle elem_type",
                                    what, nm, skiff_dtype_name(o->tensor->dtype));
        pfield pf = ptypes[pt].field;
        bool ok = (!i || skiff__buf_char(out, ',')) && skiff__buf_lit(out, "{\"") &&
                  skiff__buf_lit(out, pfield_name[pf][0]) && skiff__buf_lit(out, "\":") &&
                  p09_values(out, o->tensor, pf) && skiff__buf_lit(out, ",\"elem_type\":") &&
                  skiff__buf_i64(out, skiff__dtype_paddle_code(ptypes[pt].dtype)) &&
                  skiff__buf_lit(out, ",\"shape\":") &&
                  skiff__buf_shape(out, o->tensor->ndim, o->tensor->dims);
        if (ok && o->lod && o->n_lod > 0)
            ok = skiff__buf_lit(out, ",\"lod\":") && skiff__buf_lod(out, o->lod, o->n_lod);
        ok = ok && skiff__buf_lit(out, ",\"name\":") && skiff__buf_cstr(out, nm) &&
             skiff__buf_lit(out, ",\"alias_name\":") &&
             skiff__buf_cstr(out, o->alias ? o->alias : nm) && skiff__buf_char(out, '}');
        if (!ok)
            return skiff__codec_enc_oom();
    }
    return NULL;
}

skiff_status_t *skiff__encode_paddle09(const skiff__infer_output *outs, int n_outs, uint64_t log_id,
                                       skiff__buf *out)
{
    if (!skiff__buf_lit(out, "{\"outputs\":[{\"tensor\":["))
        return skiff__codec_enc_oom();
    skiff_status_t *st = p09_tensors(out, outs, n_outs, "output");
    if (st)
        return st;
    if (!skiff__buf_lit(out, "],\"engine_name\":\"GeneralInferOp_0\"}]"))
        return skiff__codec_enc_oom();
    if (log_id && (!skiff__buf_lit(out, ",\"log_id\":") || !skiff__buf_u64(out, log_id)))
        return skiff__codec_enc_oom();
    if (!skiff__buf_char(out, '}'))
        return skiff__codec_enc_oom();
    return NULL;
}

skiff_status_t *skiff__encode_paddle09_request(const skiff__request_out *r, skiff__buf *out,
                                               size_t *out_json_len)
{
    size_t start = out->len;
    if (!skiff__buf_lit(out, "{\"tensor\":["))
        return skiff__codec_enc_oom();
    skiff_status_t *st = p09_tensors(out, r->inputs, r->n_inputs, "input");
    if (st)
        return st;
    bool ok = skiff__buf_lit(out, "],\"fetch_var_names\":") &&
              skiff__codec_str_list(out, r->fetch, r->n_fetch);
    if (ok && r->log_id)
        ok = skiff__buf_lit(out, ",\"log_id\":") && skiff__buf_u64(out, r->log_id);
    if (ok && r->model)
        ok = skiff__buf_lit(out, ",\"model\":") && skiff__buf_cstr(out, r->model);
    if (!ok || !skiff__buf_char(out, '}'))
        return skiff__codec_enc_oom();
    *out_json_len = out->len - start;
    return NULL;
}

skiff_status_t *skiff__encode_paddle09_error(int err_no, const char *msg, skiff__buf *out)
{
    if (!skiff__buf_lit(out, "{\"err_no\":") || !skiff__buf_i64(out, err_no) ||
        !skiff__buf_lit(out, ",\"err_msg\":") || !skiff__buf_cstr(out, msg) ||
        !skiff__buf_char(out, '}'))
        return skiff__codec_enc_oom();
    return NULL;
}
