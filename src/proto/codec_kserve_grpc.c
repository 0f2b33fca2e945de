/* codec_kserve_grpc.c - KServe v2 ModelInferRequest/Response as protobuf
 * binary (codec_grpc.h).
 *
 * Decoding maps the message onto the KServe request the REST front end
 * reads - a JSON head naming every input with binary_data_size, and the
 * binary section - and hands it to skiff__decode_kserve, so gRPC requests
 * get exactly the checks and messages of REST ones. Typed `contents` are
 * converted here; before that their element count is checked against the
 * shape and their field against the datatype, which REST has no words for.
 */
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "core/core.h"
#include "grpc_service.pb-c.h"
#include "proto/codec_grpc.h"
#include "proto/codec_int.h"

typedef Inference__ModelInferRequest pb_req;
typedef Inference__ModelInferRequest__InferInputTensor pb_in;
typedef Inference__InferTensorContents pb_contents;
typedef Inference__ModelInferResponse pb_resp;
typedef Inference__ModelInferResponse__InferOutputTensor pb_out;

static void *pb_alloc(void *data, size_t n) { return skiff__malloc(n ? n : 1); }
static void pb_free(void *data, void *p) { skiff__free(p); }
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

/* The `contents` fields, for messages. */
enum { F_BOOL, F_INT, F_INT64, F_UINT, F_UINT64, F_FP32, F_FP64, F_BYTES, F_NONE };
static const char *const field_names[] = {"bool_contents", "int_contents",    "int64_contents",
                                          "uint_contents", "uint64_contents", "fp32_contents",
                                          "fp64_contents", "bytes_contents",  "(none)"};

static size_t field_count(const pb_contents *c, int f)
{
    switch (f) {
    case F_BOOL: return c->n_bool_contents;
    case F_INT: return c->n_int_contents;
    case F_INT64: return c->n_int64_contents;
    case F_UINT: return c->n_uint_contents;
    case F_UINT64: return c->n_uint64_contents;
    case F_FP32: return c->n_fp32_contents;
    case F_FP64: return c->n_fp64_contents;
    case F_BYTES: return c->n_bytes_contents;
    default: return 0;
    }
}

/* The `contents` field that carries a datatype; F_NONE when only raw can. */
static int field_of(skiff_dtype_t dt)
{
    switch (dt) {
    case SKIFF_DTYPE_BOOL: return F_BOOL;
    case SKIFF_DTYPE_INT8:
    case SKIFF_DTYPE_INT16:
    case SKIFF_DTYPE_INT32: return F_INT;
    case SKIFF_DTYPE_INT64: return F_INT64;
    case SKIFF_DTYPE_UINT8:
    case SKIFF_DTYPE_UINT16:
    case SKIFF_DTYPE_UINT32: return F_UINT;
    case SKIFF_DTYPE_UINT64: return F_UINT64;
    case SKIFF_DTYPE_FLOAT32: return F_FP32;
    case SKIFF_DTYPE_FLOAT64: return F_FP64;
    case SKIFF_DTYPE_STRING: return F_BYTES;
    default: return F_NONE;
    }
}

/* Little-endian bytes of typed contents, appended to bin. */
static skiff_status_t *put_contents(const pb_in *t, skiff_dtype_t dt, skiff__buf *bin)
{
    const pb_contents *c = t->contents;
    int f = field_of(dt);
    if (f == F_NONE)
        return skiff__codec_bad("input '%.*s': datatype %s can only be sent in raw_input_contents",
                                SKIFF__CODEC_Q(t->name), t->datatype);
    for (int g = 0; g < F_NONE; g++)
        if (g != f && field_count(c, g) > 0)
            return skiff__codec_bad("input '%.*s': datatype %s takes %s, got %s",
                                    SKIFF__CODEC_Q(t->name), t->datatype, field_names[f],
                                    field_names[g]);
    int64_t want = 1;
    for (size_t i = 0; i < t->n_shape; i++) {
        if (t->shape[i] < 0 || __builtin_mul_overflow(want, t->shape[i], &want))
            return skiff__codec_bad("input '%.*s': shape dim %zu is %" PRId64
                                    ", not a size (0 or more)",
                                    SKIFF__CODEC_Q(t->name), i, t->shape[i]);
    }
    size_t n = field_count(c, f);
    if ((uint64_t)want != n)
        return skiff__codec_bad("input '%.*s': shape holds %" PRId64 " elements, %s has %zu",
                                SKIFF__CODEC_Q(t->name), want, field_names[f], n);
    size_t es = skiff_dtype_size(dt);
    if (dt != SKIFF_DTYPE_STRING && !skiff__buf_reserve(bin, n * es))
        return skiff__codec_oom();
    for (size_t i = 0; i < n; i++) {
        bool ok = true;
        switch (dt) {
        case SKIFF_DTYPE_BOOL: {
            uint8_t v = c->bool_contents[i] ? 1 : 0;
            ok = skiff__buf_append(bin, &v, 1);
            break;
        }
        case SKIFF_DTYPE_INT8:
        case SKIFF_DTYPE_INT16: {
            int32_t v = c->int_contents[i];
            int32_t lo = dt == SKIFF_DTYPE_INT8 ? INT8_MIN : INT16_MIN;
            int32_t hi = dt == SKIFF_DTYPE_INT8 ? INT8_MAX : INT16_MAX;
            if (v < lo || v > hi)
                return skiff__codec_bad("input '%.*s': element %zu is %" PRId32
                                        ", out of range for %s",
                                        SKIFF__CODEC_Q(t->name), i, v, t->datatype);
            if (dt == SKIFF_DTYPE_INT8) {
                int8_t x = (int8_t)v;
                ok = skiff__buf_append(bin, &x, 1);
            } else {
                int16_t x = (int16_t)v;
                ok = skiff__buf_append(bin, &x, 2);
            }
            break;
        }
        case SKIFF_DTYPE_UINT8:
        case SKIFF_DTYPE_UINT16: {
            uint32_t v = c->uint_contents[i];
            uint32_t hi = dt == SKIFF_DTYPE_UINT8 ? UINT8_MAX : UINT16_MAX;
            if (v > hi)
                return skiff__codec_bad("input '%.*s': element %zu is %" PRIu32
                                        ", out of range for %s",
                                        SKIFF__CODEC_Q(t->name), i, v, t->datatype);
            if (dt == SKIFF_DTYPE_UINT8) {
                uint8_t x = (uint8_t)v;
                ok = skiff__buf_append(bin, &x, 1);
            } else {
                uint16_t x = (uint16_t)v;
                ok = skiff__buf_append(bin, &x, 2);
            }
            break;
        }
        case SKIFF_DTYPE_INT32: ok = skiff__buf_append(bin, &c->int_contents[i], 4); break;
        case SKIFF_DTYPE_INT64: ok = skiff__buf_append(bin, &c->int64_contents[i], 8); break;
        case SKIFF_DTYPE_UINT32: ok = skiff__buf_append(bin, &c->uint_contents[i], 4); break;
        case SKIFF_DTYPE_UINT64: ok = skiff__buf_append(bin, &c->uint64_contents[i], 8); break;
        case SKIFF_DTYPE_FLOAT32: ok = skiff__buf_append(bin, &c->fp32_contents[i], 4); break;
        case SKIFF_DTYPE_FLOAT64: ok = skiff__buf_append(bin, &c->fp64_contents[i], 8); break;
        case SKIFF_DTYPE_STRING: {
            const ProtobufCBinaryData *b = &c->bytes_contents[i];
            if (b->len > UINT32_MAX)
                return skiff__codec_bad("input '%.*s': element %zu is too long",
                                        SKIFF__CODEC_Q(t->name), i);
            uint32_t l = (uint32_t)b->len;
            ok = skiff__buf_append(bin, &l, 4) && skiff__buf_append(bin, b->data, b->len);
            break;
        }
        default: ok = false; break;
        }
        if (!ok)
            return skiff__codec_oom();
    }
    return NULL;
}

/* The KServe JSON head and binary section of a ModelInferRequest. */
static skiff_status_t *map_request(const pb_req *r, const skiff__codec_limits *lim,
                                   skiff__buf *head, skiff__buf *bin)
{
    bool raw = r->n_raw_input_contents > 0;
    if (raw && r->n_raw_input_contents != r->n_inputs)
        return skiff__codec_bad("raw_input_contents has %zu entries for %zu inputs: give one "
                                "per input, or none",
                                r->n_raw_input_contents, r->n_inputs);
    if ((int64_t)r->n_inputs > lim->max_inputs)
        return skiff__codec_bad("%zu inputs, over the limit of %d", r->n_inputs, lim->max_inputs);
    if ((int64_t)r->n_outputs > lim->max_outputs)
        return skiff__codec_bad("%zu outputs requested, over the limit of %d", r->n_outputs,
                                lim->max_outputs);
    bool ok = skiff__buf_char(head, '{');
    if (ok && r->id && r->id[0])
        ok = skiff__buf_lit(head, "\"id\":") && skiff__buf_cstr(head, r->id) &&
             skiff__buf_char(head, ',');
    ok = ok && skiff__buf_lit(head, "\"inputs\":[");
    for (size_t i = 0; ok && i < r->n_inputs; i++) {
        const pb_in *t = r->inputs[i];
        skiff_dtype_t dt = skiff_dtype_from_kserve(t->datatype);
        size_t before = bin->len, size = 0;
        if (raw) {
            if (t->contents)
                return skiff__codec_bad("input '%.*s' has contents while the request uses "
                                        "raw_input_contents: use one or the other",
                                        SKIFF__CODEC_Q(t->name));
            /* appended after the head by the caller, not copied here */
            size = r->raw_input_contents[i].len;
        } else if (!t->contents) {
            return skiff__codec_bad("input '%.*s' has no contents (and the request no "
                                    "raw_input_contents)",
                                    SKIFF__CODEC_Q(t->name));
        } else {
            if (dt == SKIFF_DTYPE_UNDEFINED)
                return skiff__codec_bad("input '%.*s': unknown datatype '%.*s'",
                                        SKIFF__CODEC_Q(t->name), SKIFF__CODEC_Q(t->datatype));
            skiff_status_t *st = put_contents(t, dt, bin);
            if (st)
                return st;
        }
        ok = (!i || skiff__buf_char(head, ',')) && skiff__buf_lit(head, "{\"name\":") &&
             skiff__buf_cstr(head, t->name) && skiff__buf_lit(head, ",\"datatype\":") &&
             skiff__buf_cstr(head, t->datatype) && skiff__buf_lit(head, ",\"shape\":[");
        for (size_t k = 0; ok && k < t->n_shape; k++)
            ok = (!k || skiff__buf_char(head, ',')) && skiff__buf_i64(head, t->shape[k]);
        ok = ok && skiff__buf_lit(head, "],\"parameters\":{\"binary_data_size\":") &&
             skiff__buf_u64(head, raw ? size : bin->len - before) && skiff__buf_lit(head, "}}");
    }
    ok = ok && skiff__buf_char(head, ']');
    if (ok && r->n_outputs > 0) {
        ok = skiff__buf_lit(head, ",\"outputs\":[");
        for (size_t i = 0; ok && i < r->n_outputs; i++)
            ok = (!i || skiff__buf_char(head, ',')) && skiff__buf_lit(head, "{\"name\":") &&
                 skiff__buf_cstr(head, r->outputs[i]->name) && skiff__buf_char(head, '}');
        ok = ok && skiff__buf_char(head, ']');
    }
    if (ok && raw)
        ok = skiff__buf_lit(head, ",\"parameters\":{\"binary_data_output\":true}");
    ok = ok && skiff__buf_char(head, '}');
    return ok ? NULL : skiff__codec_oom();
}

skiff_status_t *skiff__decode_kserve_grpc(const skiff__decode_in *in, skiff__infer_request **out)
{
    *out = NULL;
    if (!in->io)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "KServe gRPC request without a model");
    pb_req *r =
        inference__model_infer_request__unpack(&pb_allocator, in->len, (const uint8_t *)in->body);
    if (!r)
        return skiff__codec_bad("the %zu-byte message is not a ModelInferRequest", in->len);
    skiff__codec_limits lim;
    skiff__codec_limits_resolve(in->limits, &lim);
    skiff__buf head = {0}, bin = {0};
    skiff_status_t *st = map_request(r, &lim, &head, &bin);
    if (!st) {
        size_t json_len = head.len;
        size_t raw = 0;
        for (size_t i = 0; i < r->n_raw_input_contents; i++)
            raw += r->raw_input_contents[i].len;
        if (!skiff__buf_reserve(&head, bin.len + raw))
            st = skiff__codec_oom();
        for (size_t i = 0; !st && i < r->n_raw_input_contents; i++)
            skiff__buf_append(&head, r->raw_input_contents[i].data, r->raw_input_contents[i].len);
        if (st || (bin.len && !skiff__buf_append(&head, bin.data, bin.len)))
            st = st ? st : skiff__codec_oom();
        else
            st = skiff__decode_kserve(head.data, head.len, (int64_t)json_len, in->io, in->limits,
                                      out);
    }
    inference__model_infer_request__free_unpacked(r, &pb_allocator);
    skiff__buf_free(&head);
    skiff__buf_free(&bin);
    return st;
}

/* ---- response ------------------------------------------------------------------ */

/* Typed contents of one output; conversions go in *tmp (freed by the caller). */
static bool typed_contents(const skiff_tensor_t *t, pb_contents *c, void **tmp)
{
    size_t n = (size_t)skiff_tensor_numel(t);
    *tmp = NULL;
    switch (t->dtype) {
    case SKIFF_DTYPE_FLOAT32:
        c->n_fp32_contents = n;
        c->fp32_contents = t->data;
        return true;
    case SKIFF_DTYPE_FLOAT64:
        c->n_fp64_contents = n;
        c->fp64_contents = t->data;
        return true;
    case SKIFF_DTYPE_INT64:
        c->n_int64_contents = n;
        c->int64_contents = t->data;
        return true;
    case SKIFF_DTYPE_UINT64:
        c->n_uint64_contents = n;
        c->uint64_contents = t->data;
        return true;
    case SKIFF_DTYPE_INT32:
        c->n_int_contents = n;
        c->int_contents = t->data;
        return true;
    case SKIFF_DTYPE_UINT32:
        c->n_uint_contents = n;
        c->uint_contents = t->data;
        return true;
    default: break;
    }
    size_t es = t->dtype == SKIFF_DTYPE_STRING ? sizeof(ProtobufCBinaryData) : 4;
    void *p = skiff__calloc(n ? n : 1, es);
    if (!p)
        return false;
    *tmp = p;
    for (size_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case SKIFF_DTYPE_INT8: ((int32_t *)p)[i] = ((const int8_t *)t->data)[i]; break;
        case SKIFF_DTYPE_INT16: ((int32_t *)p)[i] = ((const int16_t *)t->data)[i]; break;
        case SKIFF_DTYPE_UINT8: ((uint32_t *)p)[i] = ((const uint8_t *)t->data)[i]; break;
        case SKIFF_DTYPE_UINT16: ((uint32_t *)p)[i] = ((const uint16_t *)t->data)[i]; break;
        case SKIFF_DTYPE_BOOL:
            ((protobuf_c_boolean *)p)[i] = ((const uint8_t *)t->data)[i] != 0;
            break;
        case SKIFF_DTYPE_STRING: {
            const char *s = ((char *const *)t->data)[i];
            ((ProtobufCBinaryData *)p)[i] =
                (ProtobufCBinaryData){.len = s ? strlen(s) : 0, .data = (uint8_t *)(s ? s : "")};
            break;
        }
        default: return false;
        }
    }
    switch (t->dtype) {
    case SKIFF_DTYPE_INT8:
    case SKIFF_DTYPE_INT16:
        c->n_int_contents = n;
        c->int_contents = p;
        break;
    case SKIFF_DTYPE_UINT8:
    case SKIFF_DTYPE_UINT16:
        c->n_uint_contents = n;
        c->uint_contents = p;
        break;
    case SKIFF_DTYPE_BOOL:
        c->n_bool_contents = n;
        c->bool_contents = p;
        break;
    default:
        c->n_bytes_contents = n;
        c->bytes_contents = p;
        break;
    }
    return true;
}

/* Raw bytes of an output: the tensor's memory, or for strings the KServe
 * BYTES layout (4-byte length, bytes) built in *tmp. */
static bool raw_contents(const skiff_tensor_t *t, ProtobufCBinaryData *b, void **tmp)
{
    *tmp = NULL;
    if (t->dtype != SKIFF_DTYPE_STRING) {
        *b = (ProtobufCBinaryData){.len = t->nbytes, .data = t->data};
        return true;
    }
    skiff__buf sb = {0};
    int64_t n = skiff_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        const char *s = ((char *const *)t->data)[i];
        uint32_t l = s ? (uint32_t)strlen(s) : 0;
        if (!skiff__buf_append(&sb, &l, 4) || !skiff__buf_append(&sb, s ? s : "", l)) {
            skiff__buf_free(&sb);
            return false;
        }
    }
    *tmp = sb.data;
    *b = (ProtobufCBinaryData){.len = sb.len, .data = (uint8_t *)sb.data};
    return true;
}

skiff_status_t *skiff__encode_kserve_grpc(const skiff__encode_in *in, skiff__buf *out,
                                          size_t *json_len)
{
    size_t start = out->len;
    int n = in->n_outs;
    size_t cnt = n > 0 ? (size_t)n : 1;
    pb_out *outs = skiff__calloc(cnt, sizeof(*outs));
    pb_out **outp = skiff__calloc(cnt, sizeof(*outp));
    pb_contents *cont = skiff__calloc(cnt, sizeof(*cont));
    ProtobufCBinaryData *raw = skiff__calloc(cnt, sizeof(*raw));
    void **tmp = skiff__calloc(cnt, sizeof(*tmp));
    skiff_status_t *st = NULL;
    if (!outs || !outp || !cont || !raw || !tmp) {
        st = skiff__codec_enc_oom();
        goto done;
    }
    pb_resp resp = INFERENCE__MODEL_INFER_RESPONSE__INIT;
    resp.model_name = (char *)(in->model_name ? in->model_name : "");
    resp.model_version = (char *)(in->model_version ? in->model_version : "");
    resp.id = (char *)(in->id ? in->id : "");
    resp.n_outputs = (size_t)n;
    resp.outputs = outp;
    size_t n_raw = 0;
    for (int i = 0; i < n; i++) {
        const skiff__infer_output *o = &in->outs[i];
        if ((st = skiff__codec_check_output(o)))
            goto done;
        const skiff_tensor_t *t = o->tensor;
        const char *dn = skiff_dtype_kserve_name(t->dtype);
        if (!dn) {
            st = skiff_status_new(SKIFF_CODE_UNSUPPORTED, "output '%s': %s has no KServe datatype",
                                  o->alias ? o->alias : o->name, skiff_dtype_name(t->dtype));
            goto done;
        }
        pb_out *po = &outs[i];
        inference__model_infer_response__infer_output_tensor__init(po);
        po->name = (char *)(o->alias ? o->alias : o->name);
        po->datatype = (char *)dn;
        po->n_shape = (size_t)t->ndim;
        po->shape = (int64_t *)t->dims;
        outp[i] = po;
        bool ok;
        if (o->binary) {
            ok = raw_contents(t, &raw[n_raw++], &tmp[i]);
        } else {
            inference__infer_tensor_contents__init(&cont[i]);
            ok = typed_contents(t, &cont[i], &tmp[i]);
            po->contents = &cont[i];
        }
        if (!ok) {
            st = skiff__codec_enc_oom();
            goto done;
        }
    }
    if (n_raw > 0 && n_raw != (size_t)n) {
        st = skiff_status_new(SKIFF_CODE_INTERNAL, "outputs mix raw and typed contents");
        goto done;
    }
    resp.n_raw_output_contents = n_raw;
    resp.raw_output_contents = raw;
    size_t sz = inference__model_infer_response__get_packed_size(&resp);
    if (!skiff__buf_reserve(out, sz)) {
        st = skiff__codec_enc_oom();
        goto done;
    }
    out->len += inference__model_infer_response__pack(&resp, (uint8_t *)out->data + out->len);
    *json_len = out->len - start;
done:
    for (int i = 0; tmp && i < n; i++)
        skiff__free(tmp[i]);
    skiff__free(tmp);
    skiff__free(raw);
    skiff__free(cont);
    skiff__free(outp);
    skiff__free(outs);
    return st;
}

skiff_status_t *skiff__decode_kserve_grpc_response(const skiff__decode_in *in,
                                                   skiff__infer_request **out)
{
    *out = NULL;
    pb_resp *r =
        inference__model_infer_response__unpack(&pb_allocator, in->len, (const uint8_t *)in->body);
    if (!r)
        return skiff__codec_bad("the %zu-byte answer is not a ModelInferResponse", in->len);
    inference__model_infer_response__free_unpacked(r, &pb_allocator);
    return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                            "reading a ModelInferResponse into tensors is not served yet");
}
