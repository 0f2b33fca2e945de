/* codec_paddle09_pb.c - Paddle Serving 0.9's Request and Response as
 * protobuf binary (Content-Type application/proto over HTTP; the same bytes
 * are a brpc call's payload), on protobuf-c code generated at build time from
 * pb/general_model_service.proto.
 *
 * Decoding: the binary Request is unpacked, then mapped onto its proto3 JSON
 * form (the mapping proto3 defines: typed repeated fields as lists, bytes as
 * base64) and handed to the one Paddle 0.9 decoder (codec_paddle09.c), so a
 * binary request is checked exactly like a JSON one and gets the same
 * messages. The cost is a tree node per element, which a large typed payload
 * pays; tensor_content (the raw-bytes field) stays one string.
 *
 * Encoding: outputs become Tensor messages that borrow the output tensors'
 * memory where the wire type matches (int64, float, int32, double, strings,
 * raw bytes), with the few conversions (int16 and bool widen, shapes narrow
 * to int32) in a per-call arena.
 */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "core/arena.h"
#include "core/core.h"
#include "general_model_service.pb-c.h"
#include "proto/codec_int.h"

typedef Baidu__PaddleServing__Predictor__GeneralModel__Tensor pb_tensor;
typedef Baidu__PaddleServing__Predictor__GeneralModel__Request pb_request;
typedef Baidu__PaddleServing__Predictor__GeneralModel__ModelOutput pb_output;
typedef Baidu__PaddleServing__Predictor__GeneralModel__Response pb_response;

#define PB(x) baidu__paddle_serving__predictor__general_model__##x

static void *pb_alloc(void *data, size_t n) { return skiff__malloc(n ? n : 1); }
static void pb_free(void *data, void *p) { skiff__free(p); }
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

/* ---- binary Request -> proto3 JSON tree ---------------------------------------- */

/* Sets key to v (stolen); false on OOM (v freed). */
static bool set(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0;
}

/* A float as proto3 JSON: non-finite values as the strings proto3 defines
 * (JSON has no NaN or infinity; the 0.9 decoder reads these). */
static json_t *real_json(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

#define LIST_OF(fn, ptr_type, make)                                                                \
    static json_t *fn(ptr_type v, size_t n)                                                        \
    {                                                                                              \
        json_t *a = json_array();                                                                  \
        for (size_t i = 0; a && i < n; i++)                                                        \
            if (json_array_append_new(a, make) != 0) {                                             \
                json_decref(a);                                                                    \
                return NULL;                                                                       \
            }                                                                                      \
        return a;                                                                                  \
    }
LIST_OF(list_i64, const int64_t *, json_integer(v[i]))
LIST_OF(list_i32, const int32_t *, json_integer(v[i]))
LIST_OF(list_u32, const uint32_t *, json_integer(v[i]))
LIST_OF(list_f32, const float *, real_json(v[i]))
LIST_OF(list_f64, const double *, real_json(v[i]))
LIST_OF(list_bool, const protobuf_c_boolean *, json_boolean(v[i]))
LIST_OF(list_str, char *const *, json_stringn_nocheck(v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0))
#undef LIST_OF

static json_t *tensor_json(const pb_tensor *t)
{
    json_t *o = json_object();
    bool ok = o != NULL;
#define ARR(field, fn)                                                                             \
    if (ok && t->n_##field)                                                                        \
    ok = set(o, #field, fn(t->field, t->n_##field))
    ARR(int64_data, list_i64);
    ARR(float_data, list_f32);
    ARR(int_data, list_i32);
    ARR(float64_data, list_f64);
    ARR(uint32_data, list_u32);
    ARR(bool_data, list_bool);
    ARR(complex64_data, list_f32);
    ARR(complex128_data, list_f64);
    ARR(data, list_str);
    ARR(shape, list_i32);
    ARR(lod, list_i32);
#undef ARR
    if (ok && t->elem_type)
        ok = set(o, "elem_type", json_integer(t->elem_type));
    if (ok && t->name && t->name[0])
        ok = set(o, "name", json_stringn_nocheck(t->name, strlen(t->name)));
    if (ok && t->alias_name && t->alias_name[0])
        ok = set(o, "alias_name", json_stringn_nocheck(t->alias_name, strlen(t->alias_name)));
    if (ok && t->tensor_content.len) {
        skiff__buf b = {0};
        ok = skiff__buf_base64(&b, t->tensor_content.data, t->tensor_content.len) &&
             set(o, "tensor_content", json_stringn(b.data, b.len));
        skiff__buf_free(&b);
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *request_json(const pb_request *r)
{
    json_t *o = json_object(), *tensors = json_array();
    bool ok = o && tensors;
    for (size_t i = 0; ok && i < r->n_tensor; i++) {
        json_t *t = tensor_json(r->tensor[i]);
        ok = t && json_array_append_new(tensors, t) == 0;
    }
    if (ok) {
        ok = set(o, "tensor", tensors); /* stolen either way */
        tensors = NULL;
    }
    if (ok && r->n_fetch_var_names)
        ok = set(o, "fetch_var_names", list_str(r->fetch_var_names, r->n_fetch_var_names));
    if (ok && r->log_id)
        ok = set(o, "log_id", json_integer((json_int_t)(r->log_id & INT64_MAX)));
    if (!ok) {
        json_decref(tensors);
        json_decref(o);
        return NULL;
    }
    return o;
}

skiff_status_t *skiff__decode_paddle09_pb(const skiff__decode_in *in, skiff__infer_request **out)
{
    *out = NULL;
    pb_request *r = PB(request__unpack)(&pb_allocator, in->len, (const uint8_t *)in->body);
    if (!r)
        return skiff__alloc_failed()
                   ? skiff__codec_oom()
                   : skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                      "the %zu-byte body is not a Paddle 0.9 Request in protobuf "
                                      "binary (Content-Type application/proto)",
                                      in->len);
    json_t *root = request_json(r);
    PB(request__free_unpacked)(r, &pb_allocator);
    if (!root)
        return skiff__codec_oom();
    skiff_status_t *st = skiff__decode_paddle09_tree(root, in, out);
    json_decref(root);
    return st;
}

skiff_status_t *skiff__decode_paddle09_pb_response(const skiff__decode_in *in,
                                                   skiff__infer_request **out)
{
    *out = NULL;
    pb_response *r = PB(response__unpack)(&pb_allocator, in->len, (const uint8_t *)in->body);
    if (!r)
        return skiff__alloc_failed() ? skiff__codec_oom()
                                     : skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                                        "answer: the %zu-byte body is not a Paddle "
                                                        "0.9 Response in protobuf binary",
                                                        in->len);
    json_t *root = json_object(), *outs = json_array(), *mo = json_object(),
           *tensors = json_array();
    bool ok = root && outs && mo && tensors;
    const pb_output *first = r->n_outputs ? r->outputs[0] : NULL;
    for (size_t i = 0; ok && first && i < first->n_tensor; i++) {
        json_t *t = tensor_json(first->tensor[i]);
        ok = t && json_array_append_new(tensors, t) == 0;
    }
    /* Each step steals its value, even when it fails (jansson's *_new). */
    if (ok) {
        ok = set(mo, "tensor", tensors);
        tensors = NULL;
    }
    if (ok) {
        ok = json_array_append_new(outs, mo) == 0;
        mo = NULL;
    }
    if (ok) {
        ok = set(root, "outputs", outs);
        outs = NULL;
    }
    ok = ok && set(root, "err_no", json_integer(r->err_no)) &&
         set(root, "err_msg", json_stringn_nocheck(r->err_msg, strlen(r->err_msg)));
    PB(response__free_unpacked)(r, &pb_allocator);
    skiff_status_t *st =
        ok ? skiff__decode_paddle09_response_tree(root, in, out) : skiff__codec_oom();
    json_decref(tensors);
    json_decref(mo);
    json_decref(outs);
    json_decref(root);
    return st;
}

/* ---- tensors -> Tensor messages ------------------------------------------------- */

/* Fills m from a wire tensor; conversions live in a. false on OOM or a shape
 * that int32 cannot carry (*st says which). */
static bool fill_tensor(pb_tensor *m, const skiff__infer_output *o, skiff__arena *a,
                        const char *what, skiff_status_t **st)
{
    PB(tensor__init)(m);
    const skiff_tensor_t *t = o->tensor;
    const char *nm = o->name ? o->name : o->alias;
    int code = skiff__dtype_paddle_code(t->dtype);
    if (code < 0 || code == 10 || code == 11) {
        *st = skiff_status_new(SKIFF_CODE_UNSUPPORTED, "%s '%s': %s has no Paddle elem_type", what,
                               nm, skiff_dtype_name(t->dtype));
        return false;
    }
    m->elem_type = code;
    m->name = (char *)nm;
    m->alias_name = (char *)(o->alias ? o->alias : nm);
    if (!skiff__codec_int32_shape_lod(o, a, what, nm, &m->shape, &m->n_shape, &m->lod, &m->n_lod,
                                      st))
        return false;
    size_t n = (size_t)skiff_tensor_numel(t);
    switch (t->dtype) {
    case SKIFF_DTYPE_INT64: m->n_int64_data = n, m->int64_data = t->data; break;
    case SKIFF_DTYPE_FLOAT32: m->n_float_data = n, m->float_data = t->data; break;
    case SKIFF_DTYPE_INT32: m->n_int_data = n, m->int_data = t->data; break;
    case SKIFF_DTYPE_FLOAT64: m->n_float64_data = n, m->float64_data = t->data; break;
    case SKIFF_DTYPE_STRING: m->n_data = n, m->data = t->data; break;
    case SKIFF_DTYPE_INT16: {
        int32_t *w = skiff__arena_calloc(a, n, sizeof(int32_t), 4);
        if (!w && n) {
            *st = skiff__codec_enc_oom();
            return false;
        }
        for (size_t i = 0; i < n; i++)
            w[i] = ((const int16_t *)t->data)[i];
        m->n_int_data = n, m->int_data = w;
        break;
    }
    case SKIFF_DTYPE_BOOL: {
        protobuf_c_boolean *w = skiff__arena_calloc(a, n, sizeof(*w), _Alignof(protobuf_c_boolean));
        if (!w && n) {
            *st = skiff__codec_enc_oom();
            return false;
        }
        for (size_t i = 0; i < n; i++)
            w[i] = ((const uint8_t *)t->data)[i] != 0;
        m->n_bool_data = n, m->bool_data = w;
        break;
    }
    default: /* float16, bfloat16, uint8, int8: raw little-endian bytes */
        m->tensor_content.len = t->nbytes;
        m->tensor_content.data = t->data;
        break;
    }
    return true;
}

/* The tensors as Tensor messages (pointers into a). */
static pb_tensor **fill_tensors(const skiff__infer_output *outs, int n, skiff__arena *a,
                                const char *what, skiff_status_t **st)
{
    pb_tensor *ms = skiff__arena_calloc(a, (size_t)n + 1, sizeof(pb_tensor), 16);
    pb_tensor **ps = skiff__arena_calloc(a, (size_t)n + 1, sizeof(pb_tensor *), 8);
    if (!ms || !ps) {
        *st = skiff__codec_enc_oom();
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if ((*st = skiff__codec_check_output(&outs[i])))
            return NULL;
        if (!fill_tensor(&ms[i], &outs[i], a, what, st))
            return NULL;
        ps[i] = &ms[i];
    }
    return ps;
}

/* Packs a message onto the end of out. */
static skiff_status_t *pack(const ProtobufCMessage *msg, skiff__buf *out, size_t *json_len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (!skiff__buf_reserve(out, n))
        return skiff__codec_enc_oom();
    size_t w = protobuf_c_message_pack(msg, (uint8_t *)out->data + out->len);
    out->len += w;
    out->data[out->len] = '\0';
    *json_len = w;
    return NULL;
}

skiff_status_t *skiff__encode_paddle09_pb(const skiff__infer_output *outs, int n_outs,
                                          uint64_t log_id, skiff__buf *out, size_t *out_len)
{
    return skiff__encode_paddle09_pb_named(outs, n_outs, log_id, "GeneralInferOp_0", out, out_len);
}

skiff_status_t *skiff__encode_paddle09_pb_named(const skiff__infer_output *outs, int n_outs,
                                                uint64_t log_id, const char *engine_name,
                                                skiff__buf *out, size_t *out_len)
{
    skiff__arena *a = skiff__arena_new(4096);
    if (!a)
        return skiff__codec_enc_oom();
    skiff_status_t *st = NULL;
    pb_tensor **ts = fill_tensors(outs, n_outs, a, "output", &st);
    if (ts) {
        pb_output mo;
        PB(model_output__init)(&mo);
        mo.n_tensor = (size_t)n_outs;
        mo.tensor = ts;
        mo.engine_name = (char *)(engine_name ? engine_name : "");
        pb_output *mos[1] = {&mo};
        pb_response resp;
        PB(response__init)(&resp);
        resp.n_outputs = 1;
        resp.outputs = mos;
        resp.log_id = log_id;
        st = pack(&resp.base, out, out_len);
    }
    skiff__arena_free(a);
    return st;
}

skiff_status_t *skiff__encode_paddle09_pb_error(int err_no, const char *msg, skiff__buf *out)
{
    pb_response resp;
    PB(response__init)(&resp);
    resp.err_no = err_no;
    resp.err_msg = (char *)msg;
    size_t n;
    return pack(&resp.base, out, &n);
}

skiff_status_t *skiff__encode_paddle09_pb_request(const skiff__request_out *r, skiff__buf *out,
                                                  size_t *out_len)
{
    skiff__arena *a = skiff__arena_new(4096);
    if (!a)
        return skiff__codec_enc_oom();
    skiff_status_t *st = NULL;
    pb_tensor **ts = fill_tensors(r->inputs, r->n_inputs, a, "input", &st);
    if (ts) {
        pb_request req;
        PB(request__init)(&req);
        req.n_tensor = (size_t)r->n_inputs;
        req.tensor = ts;
        req.n_fetch_var_names = (size_t)r->n_fetch;
        req.fetch_var_names = (char **)r->fetch;
        req.log_id = r->log_id;
        st = pack(&req.base, out, out_len);
    }
    skiff__arena_free(a);
    return st;
}
