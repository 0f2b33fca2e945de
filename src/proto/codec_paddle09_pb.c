/* codec_paddle09_pb.c - Paddle Serving 0.9's Request and Response as
 * protobuf binary (Content-Type application/proto over HTTP; the same bytes
 * are a brpc call's payload), on protobuf-c code generated at build time from
 * pb/general_model_service.proto.
 *
 * Decoding: the binary Request is unpacked, and each Tensor message is handed
 * to the one Paddle 0.9 decoder (codec_paddle09.c) as a typed view of its
 * fields (skiff__p09_tensor: names, elem_type, shape, lod and a pointer and
 * count per payload field), so a binary request goes through the checks a
 * JSON one does, in the same order, with the same messages; its values then
 * reach the tensor in one copy (or one conversion loop: int16, bool,
 * strings) per tensor. The binary Response the client reads back goes the
 * same way, its tensors checked as a Request's without a model.
 *
 * Encoding: outputs become Tensor messages that borrow the output tensors'
 * memory where the wire type matches (int64, float, int32, double, strings,
 * raw bytes), with the few conversions (int16 and bool widen, shapes narrow
 * to int32) in a per-call arena.
 */
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

/* ---- binary Request -> the shared 0.9 checks ------------------------------------ */

/* Tensor i of a Tensor* array as the shared checks' view: protobuf-c's
 * arrays, borrowed. */
static void tensor_at(const void *msg, size_t i, skiff__p09_tensor *v)
{
    const pb_tensor *t = ((pb_tensor *const *)msg)[i];
    *v = (skiff__p09_tensor){.name = t->name ? t->name : "",
                             .alias = t->alias_name ? t->alias_name : "",
                             .elem_type = t->elem_type,
                             .shape = t->shape,
                             .n_shape = t->n_shape,
                             .lod = t->lod,
                             .n_lod = t->n_lod};
#define F(k, field)                                                                                \
    (v->values[SKIFF__P09_##k] = t->field, v->n_values[SKIFF__P09_##k] = t->n_##field)
    F(INT64, int64_data);
    F(FLOAT, float_data);
    F(INT, int_data);
    F(FLOAT64, float64_data);
    F(UINT32, uint32_data);
    F(BOOL, bool_data);
    F(C64, complex64_data);
    F(C128, complex128_data);
    F(DATA, data);
#undef F
    v->values[SKIFF__P09_CONTENT] = t->tensor_content.data;
    v->n_values[SKIFF__P09_CONTENT] = t->tensor_content.len;
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
    skiff__p09_request req = {.msg = r->tensor,
                              .n_tensors = r->n_tensor,
                              .tensor_at = tensor_at,
                              .fetch = r->fetch_var_names,
                              .n_fetch = r->n_fetch_var_names,
                              .log_id = r->log_id};
    skiff_status_t *st = skiff__decode_paddle09_typed(&req, in, out);
    PB(request__free_unpacked)(r, &pb_allocator);
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
    skiff_status_t *st = skiff__paddle09_answer_error(in, r->err_no, r->err_msg);
    if (!st) {
        /* the first ModelOutput's tensors, checked as a Request's without a model */
        const pb_output *first = r->n_outputs ? r->outputs[0] : NULL;
        skiff__p09_request req = {.msg = first ? first->tensor : NULL,
                                  .n_tensors = first ? first->n_tensor : 0,
                                  .tensor_at = tensor_at};
        skiff__decode_in again = {.limits = in->limits, .header_length = -1};
        st = skiff__decode_paddle09_typed(&req, &again, out);
        if (st)
            st = skiff_status_wrap(st, "answer");
    }
    PB(response__free_unpacked)(r, &pb_allocator);
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
