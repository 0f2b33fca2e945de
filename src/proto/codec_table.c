/* codec_table.c - one row per wire API, so the layers above pick a codec by
 * API instead of switching on it: decode a request, encode an answer or an
 * error (server side), encode a request (client side). */
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "proto/codec_grpc.h"
#include "proto/codec_int.h"
#include "proto/codec_pipeline.h"

static skiff_status_t *web_decode(const skiff__decode_in *in, skiff__infer_request **out)
{
    if (!in->io)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "Paddle web request without a model");
    return skiff__decode_paddle_web(in->body, in->len, in->io, in->limits, out);
}

static skiff_status_t *p09_decode(const skiff__decode_in *in, skiff__infer_request **out)
{
    if (!in->io)
        return skiff__decode_paddle09_pick(in->body, in->len, in->pick, in->pick_user, in->limits,
                                           out);
    return skiff__decode_paddle09(in->body, in->len, in->io, in->limits, out);
}

static skiff_status_t *kserve_decode(const skiff__decode_in *in, skiff__infer_request **out)
{
    if (!in->io)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "KServe request without a model");
    return skiff__decode_kserve(in->body, in->len, in->header_length, in->io, in->limits, out);
}

static skiff_status_t *none_decode(const skiff__decode_in *in, skiff__infer_request **out)
{
    return skiff_status_new(SKIFF_CODE_INTERNAL, "no decoder for this API");
}

static skiff_status_t *web_encode(const skiff__encode_in *in, skiff__buf *out, size_t *json_len)
{
    size_t start = out->len;
    skiff_status_t *st = skiff__encode_paddle_web(in->outs, in->n_outs, out);
    *json_len = out->len - start;
    return st;
}

static skiff_status_t *p09_encode(const skiff__encode_in *in, skiff__buf *out, size_t *json_len)
{
    size_t start = out->len;
    skiff_status_t *st = skiff__encode_paddle09(in->outs, in->n_outs, in->log_id, out);
    *json_len = out->len - start;
    return st;
}

static skiff_status_t *kserve_encode(const skiff__encode_in *in, skiff__buf *out, size_t *json_len)
{
    return skiff__encode_kserve(in->model_name, in->model_version, in->id, in->outs, in->n_outs,
                                out, json_len);
}

static skiff_status_t *none_encode(const skiff__encode_in *in, skiff__buf *out, size_t *json_len)
{
    return skiff_status_new(SKIFF_CODE_INTERNAL, "no encoder for this API");
}

static skiff_status_t *none_request(const skiff__request_out *r, skiff__buf *out, size_t *json_len)
{
    return skiff_status_new(SKIFF_CODE_INTERNAL, "no request encoder for this API");
}

static skiff_status_t *p09pb_encode(const skiff__encode_in *in, skiff__buf *out, size_t *json_len)
{
    return skiff__encode_paddle09_pb(in->outs, in->n_outs, in->log_id, out, json_len);
}

static skiff_status_t *p09pb_error(skiff_code_t code, const char *msg, skiff__buf *out)
{
    return skiff__encode_paddle09_pb_error(skiff__code_paddle_errno(code), msg, out);
}

/* Over brpc the RpcMeta picks the model (docs/rpc.md): the payload decodes
 * against it alone. */
static skiff_status_t *p09rpc_decode(const skiff__decode_in *in, skiff__infer_request **out)
{
    if (!in->io)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "Paddle 0.9 brpc request without a model");
    skiff__decode_in one = *in;
    one.pick = NULL;
    return skiff__decode_paddle09_pb(&one, out);
}

static skiff_status_t *p04rpc_decode(const skiff__decode_in *in, skiff__infer_request **out)
{
    skiff__decode_in one = *in;
    one.pick = NULL;
    return skiff__decode_paddle04_pb(&one, out);
}

static skiff_status_t *p09rpc_encode(const skiff__encode_in *in, skiff__buf *out, size_t *json_len)
{
    return skiff__encode_paddle09_pb_named(in->outs, in->n_outs, in->log_id, in->model_name, out,
                                           json_len);
}

static skiff_status_t *p04rpc_encode(const skiff__encode_in *in, skiff__buf *out, size_t *json_len)
{
    return skiff__encode_paddle04_pb(in->outs, in->n_outs, in->model_name, out, json_len);
}

/* The 0.3-0.6 Response has no error fields: over brpc an error travels in
 * the RpcMeta, and the payload is an empty Response. */
static skiff_status_t *p04rpc_error(skiff_code_t code, const char *msg, skiff__buf *out)
{
    return NULL;
}

static skiff_status_t *none_response(const skiff__decode_in *in, skiff__infer_request **out)
{
    return skiff_status_new(SKIFF_CODE_INTERNAL, "no response decoder for this API");
}

static skiff_status_t *web_error(skiff_code_t code, const char *msg, skiff__buf *out)
{
    return skiff__encode_paddle_web_error(msg, out);
}

static skiff_status_t *p09_error(skiff_code_t code, const char *msg, skiff__buf *out)
{
    return skiff__encode_paddle09_error(skiff__code_paddle_errno(code), msg, out);
}

static skiff_status_t *json_error(skiff_code_t code, const char *msg, skiff__buf *out)
{
    return skiff__encode_error_json(msg, out);
}

/* Over gRPC an error travels in the trailers (grpc-status, grpc-message):
 * the message is empty. */
static skiff_status_t *grpc_error(skiff_code_t code, const char *msg, skiff__buf *out)
{
    return NULL;
}

/* A pipeline error is a Response with Paddle's err_no and the message. */
static skiff_status_t *pipe_error(skiff_code_t code, const char *msg, skiff__buf *out)
{
    skiff__pipe_msg m = {.err_no = skiff__pipe_errno_of(code), .err_msg = msg};
    return skiff__pipe_encode_response_json(&m, out);
}

/* Pipeline answers are key/value pairs and tensors, read with
 * codec_pipeline.h: not model outputs. */
static skiff_status_t *pipe_response(const skiff__decode_in *in, skiff__infer_request **out)
{
    *out = NULL;
    return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                            "a %zu-byte pipeline answer is not read as "
                            "model outputs (read it as a pipeline Response)",
                            in->len);
}

static skiff_status_t *pipe_error_pb(skiff_code_t code, const char *msg, skiff__buf *out)
{
    skiff__pipe_msg m = {.err_no = skiff__pipe_errno_of(code), .err_msg = msg};
    return skiff__pipe_encode_response_pb(&m, out);
}

static const skiff__codec codecs[SKIFF__API_COUNT] = {
    [SKIFF__API_NONE] = {.api = SKIFF__API_NONE,
                         .name = "none",
                         .decode_request = none_decode,
                         .encode_response = none_encode,
                         .encode_error = json_error,
                         .encode_request = none_request,
                         .decode_response = none_response,
                         .content_type = "application/json"},
    [SKIFF__API_PADDLE_WEB] = {.api = SKIFF__API_PADDLE_WEB,
                               .name = "Paddle web",
                               .decode_request = web_decode,
                               .encode_response = web_encode,
                               .encode_error = web_error,
                               .encode_request = skiff__encode_paddle_web_request,
                               .decode_response = skiff__decode_paddle_web_response,
                               .content_type = "application/json"},
    [SKIFF__API_PADDLE09] = {.api = SKIFF__API_PADDLE09,
                             .name = "Paddle 0.9",
                             .decode_request = p09_decode,
                             .encode_response = p09_encode,
                             .encode_error = p09_error,
                             .encode_request = skiff__encode_paddle09_request,
                             .decode_response = skiff__decode_paddle09_response,
                             .content_type = "application/json"},
    [SKIFF__API_KSERVE] = {.api = SKIFF__API_KSERVE,
                           .name = "KServe v2",
                           .decode_request = kserve_decode,
                           .encode_response = kserve_encode,
                           .encode_error = json_error,
                           .encode_request = skiff__encode_kserve_request,
                           .decode_response = skiff__decode_kserve_response,
                           .content_type = "application/json"},
    [SKIFF__API_PADDLE09_PB] = {.api = SKIFF__API_PADDLE09_PB,
                                .name = "Paddle 0.9 protobuf",
                                .decode_request = skiff__decode_paddle09_pb,
                                .encode_response = p09pb_encode,
                                .encode_error = p09pb_error,
                                .encode_request = skiff__encode_paddle09_pb_request,
                                .decode_response = skiff__decode_paddle09_pb_response,
                                .content_type = "application/proto"},
    [SKIFF__API_PADDLE09_RPC] = {.api = SKIFF__API_PADDLE09_RPC,
                                 .name = "Paddle 0.9 over brpc",
                                 .decode_request = p09rpc_decode,
                                 .encode_response = p09rpc_encode,
                                 .encode_error = p09pb_error,
                                 .encode_request = skiff__encode_paddle09_pb_request,
                                 .decode_response = skiff__decode_paddle09_pb_response,
                                 .content_type = "application/proto"},
    [SKIFF__API_PADDLE04_RPC] = {.api = SKIFF__API_PADDLE04_RPC,
                                 .name = "Paddle 0.3-0.6 over brpc",
                                 .decode_request = p04rpc_decode,
                                 .encode_response = p04rpc_encode,
                                 .encode_error = p04rpc_error,
                                 .encode_request = skiff__encode_paddle04_pb_request,
                                 .decode_response = skiff__decode_paddle04_pb_response,
                                 .content_type = "application/proto"},
    [SKIFF__API_KSERVE_GRPC] = {.api = SKIFF__API_KSERVE_GRPC,
                                .name = "KServe v2 gRPC",
                                .decode_request = skiff__decode_kserve_grpc,
                                .encode_response = skiff__encode_kserve_grpc,
                                .encode_error = grpc_error,
                                .encode_request = none_request,
                                .decode_response = skiff__decode_kserve_grpc_response,
                                .content_type = "application/grpc"},
    /* pipelines have their own messages (codec_pipeline.h): these rows give
     * their errors and content types to the shared paths */
    [SKIFF__API_PIPELINE] = {.api = SKIFF__API_PIPELINE,
                             .name = "Paddle pipeline",
                             .decode_request = none_decode,
                             .encode_response = none_encode,
                             .encode_error = pipe_error,
                             .encode_request = none_request,
                             .decode_response = pipe_response,
                             .content_type = "application/json"},
    [SKIFF__API_PIPELINE_GRPC] = {.api = SKIFF__API_PIPELINE_GRPC,
                                  .name = "Paddle pipeline gRPC",
                                  .decode_request = none_decode,
                                  .encode_response = none_encode,
                                  .encode_error = pipe_error_pb,
                                  .encode_request = none_request,
                                  .decode_response = pipe_response,
                                  .content_type = "application/grpc"},
};

const skiff__codec *skiff__codec_of(skiff__api api)
{
    return (unsigned)api < SKIFF__API_COUNT ? &codecs[api] : &codecs[SKIFF__API_NONE];
}

const char *skiff__codec_content_type(skiff__api api, size_t json_len, size_t len)
{
    if (api == SKIFF__API_KSERVE && json_len < len)
        return "application/octet-stream";
    return skiff__codec_of(api)->content_type;
}

skiff__api skiff__codec_paddle09_by_type(const char *ct)
{
    static const char *const proto_types[] = {"application/proto", "application/x-protobuf",
                                              "application/protobuf"};
    for (size_t i = 0; ct && i < sizeof(proto_types) / sizeof(proto_types[0]); i++) {
        size_t n = strlen(proto_types[i]);
        if (!strncasecmp(ct, proto_types[i], n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
            return SKIFF__API_PADDLE09_PB;
    }
    return SKIFF__API_PADDLE09;
}
