/* codec.h - request/response codecs between HTTP bodies and named tensors.
 *
 * Pure functions: bytes in, tensors out (decoders) and tensors in, bytes out
 * (encoders). No I/O, no globals besides the one-time jansson allocator hook,
 * so every function here is fuzzable (tests/fuzz/fuzz_json_paddle.c,
 * fuzz_json_paddle09.c, fuzz_kserve.c).
 *
 * Formats (see docs/http-api.md "Request and response formats"):
 *   Paddle web    POST /{name}/prediction        {"feed":[{..}],"fetch":[..]}
 *   Paddle 0.9    POST /GeneralModelService/inference  proto3 JSON Request
 *   KServe v2     POST /v2/models/{m}/infer      JSON, optionally + binary tensors
 *
 * Decoders check the body against the model's declared inputs and outputs
 * (skiff__model_io) and return SKIFF_CODE_INVALID_ARG statuses whose messages
 * name the problem ("input 'x': expected a multiple of 13 elements (shape [13]
 * per instance), got 12", "malformed JSON at byte 20 (line 1, column 20): ..."
 * where the byte is jansson's position, just past the offending token).
 * The Paddle web and KServe decoders first run a streaming decoder that
 * writes numbers straight into the tensors (codec_json.c); whatever it does
 * not take - every error among it - goes to the jansson decoder, so the
 * messages are the same either way (docs/http-api.md "Decoding cost").
 * Element positions in messages are 0-based flat (row-major) indices. JSON has
 * no NaN/Inf and requests may not send null or strings for numbers (except
 * Paddle 0.9, which takes proto3's "NaN", "Infinity" and numeric strings).
 *
 * Encoders append to a growing byte buffer (skiff__buf) that the caller may
 * reuse across requests, so the hot path does not build a JSON tree or call
 * malloc once the buffer has grown. Floats are written in the shortest form
 * that reads back to the same value (integral floats keep a ".0"); NaN and
 * +-Inf, which JSON cannot carry, are written as null by the Paddle web and
 * KServe encoders, and as proto3's "NaN"/"Infinity"/"-Infinity" strings by
 * the Paddle 0.9 one. Number formatting assumes the "C" locale (skiff never
 * calls setlocale).
 *
 * Threads: every function may be called concurrently from any thread on
 * different objects, after skiff__codec_init() has returned once.
 * Memory: everything is allocated with skiff__malloc & co.
 */
#ifndef SKIFF_SERVE_CODEC_H
#define SKIFF_SERVE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/defaults.h"
#include "skiff/status.h"
#include "skiff/tensor.h"

/* ---- one-time setup ------------------------------------------------------ */

/* Points jansson's allocator at skiff__malloc/skiff__free, so JSON trees are
 * counted and allocation-failure injection reaches them. jansson's hook is
 * process-global: call this once at server start, before any thread decodes
 * (serve does it in its init; tests and fuzz targets call it first).
 * Idempotent. Caveat: jansson 2.14's lexer ignores failures to grow its token
 * buffer (lex_save; akheron/jansson PR #735) and can then write out of bounds,
 * so injecting a failure inside json_loadb can crash; the unit tests inject
 * only after parsing, and SKIFF_FAIL_ALLOC_AT loops over whole HTTP requests
 * can hit it. */
void skiff__codec_init(void);

/* ---- model description the decoders check against ------------------------ */

/* One model input or output as the frontends see it. Strings and dims are
 * borrowed from the caller and must outlive every call that uses them. */
typedef struct skiff__io_spec {
    const char *name;  /* model tensor name (Paddle "name", ONNX name) */
    const char *alias; /* client-facing key (Paddle alias_name); NULL = name */
    skiff_dtype_t dtype;
    int ndim;            /* rank of dims; -1 = any rank and shape */
    const int64_t *dims; /* -1 = any size. Excludes the batch dim when batched */
    bool batched;        /* the model takes a leading batch dim not listed in dims */
    bool is_lod;         /* Paddle LoD (variable-length sequence) input/output */
    bool optional;       /* input the client may leave out */
} skiff__io_spec;

typedef struct skiff__model_io {
    const skiff__io_spec *inputs;
    int n_inputs;
    const skiff__io_spec *outputs;
    int n_outputs;
} skiff__model_io;

/* Decoder limits; pass NULL for the defaults below. A 0 field means default. */
typedef struct skiff__codec_limits {
    int64_t max_elements; /* total elements over all inputs (default 64M) */
    int max_inputs;       /* inputs (and feed dicts) per request (default 1024) */
    int max_outputs;      /* requested outputs (default 1024) */
} skiff__codec_limits;

/* ---- decoded request ------------------------------------------------------- */

typedef struct skiff__infer_input {
    char *name;             /* the key that matched, as sent (alias or name) */
    int spec;               /* index into io->inputs; -1 when io was NULL */
    skiff_tensor_t *tensor; /* full shape, batch dim included when batched */
    int64_t *lod;           /* Paddle LoD offsets [0, l1, l1+l2, ..] (n_lod =
                               sequences + 1), or NULL */
    int n_lod;
} skiff__infer_input;

typedef struct skiff__infer_output_req {
    char *name;  /* as the client sent it */
    int spec;    /* index into io->outputs; -1 when io was NULL */
    bool binary; /* KServe: send as binary: its parameters.binary_data when
                    given (false overrides), else binary_data_output */
} skiff__infer_output_req;

/* A decoded request. The request owns every pointer in it; free it with
 * skiff__infer_request_free(). Inputs are in the order the client sent them. */
typedef struct skiff__infer_request {
    skiff__infer_input *inputs;
    int n_inputs;
    skiff__infer_output_req *outputs; /* requested outputs; n_outputs 0 = all */
    int n_outputs;
    bool binary_output_all;     /* KServe parameters.binary_data_output */
    char *id;                   /* KServe "id", echoed in the response; NULL if absent */
    uint64_t log_id;            /* Paddle 0.9 log_id (0 if absent) */
    char *model;                /* Paddle 0.9 "model" (which served model), NULL if absent */
    int64_t timeout_us;         /* KServe parameters.timeout (microseconds), 0 if absent */
    int64_t batch;              /* rows in dim 0 of the batched inputs (LoD: sequences);
                                   1 when no input is batched */
    bool packed;                /* the arrays, names, id and input tensor structs live in
                                   this request's arena (the streaming decoders build
                                   requests so); tensor data and LoD do not */
    struct skiff__arena *arena; /* packed: holds the request itself */
} skiff__infer_request;

/* Frees a request and everything it owns. Accepts NULL. */
void skiff__infer_request_free(skiff__infer_request *r);

/* All decoders: `body` is borrowed (need not be NUL-terminated), `io` may be
 * NULL (no model checks: any names, shapes from the data; Paddle web then
 * decodes numbers as float32 and strings as strings), `limits` may be NULL.
 * On success *out_req is a new request the caller owns; on error it is left
 * NULL and the status says why (INVALID_ARG for client mistakes, UNSUPPORTED
 * for valid but unsupported features, RESOURCE_EXHAUSTED for memory). */

/* Paddle web (0.4 web service): {"feed":[{"alias":[..], "alias.lod":[..]}, ..],
 * "fetch":["alias", ..]}. "feed" may also be one dict. Each dict is one or more
 * instances; values nested or flat are reshaped to [k, dims...] (k = element
 * count / per-instance count), and dicts are concatenated along dim 0. LoD
 * inputs concatenate sequences and record offsets (given per dict by
 * "alias.lod", otherwise one sequence per dict). Missing "fetch" = all. */
skiff_status_t *skiff__decode_paddle_web(const char *body, size_t len, const skiff__model_io *io,
                                         const skiff__codec_limits *limits,
                                         skiff__infer_request **out_req);

/* Paddle Serving 0.9 GeneralModelService Request in proto3 JSON:
 * {"tensor":[{"float_data":[..],"elem_type":1,"shape":[1,13],"name":"x",
 * "alias_name":"x","lod":[..]}],"fetch_var_names":[..],"log_id":0}.
 * Payload field by elem_type (int64_data, float_data, int_data, float64_data,
 * bool_data, data, tensor_content base64); shape includes the batch dim.
 * Tensors are matched by alias_name, then name. int64 values may be strings
 * and floats "NaN"/"Infinity"/"-Infinity" (proto3 JSON); camelCase field
 * names are accepted; unknown fields are refused. A top-level "model" string
 * (sent by clients of multi-model servers) is accepted and returned in
 * request->model; this variant does not check it. */
skiff_status_t *skiff__decode_paddle09(const char *body, size_t len, const skiff__model_io *io,
                                       const skiff__codec_limits *limits,
                                       skiff__infer_request **out_req);

/* Picks the model a Paddle 0.9 request names in its top-level "model" field
 * (`model` NULL when the request has none): returns the model's io, which
 * must outlive the decode, or NULL with *out_st saying why (NOT_FOUND for an
 * unknown name). Called once, after the body parsed and before any tensor is
 * checked. */
typedef const skiff__model_io *(*skiff__io_pick_cb)(void *user, const char *model,
                                                    skiff_status_t **out_st);

/* skiff__decode_paddle09 for a server with several models: the request's
 * "model" field chooses the io through pick, so the body is parsed once.
 * Errors before the pick (malformed JSON, "model" not a string) come without
 * calling it. */
skiff_status_t *skiff__decode_paddle09_pick(const char *body, size_t len, skiff__io_pick_cb pick,
                                            void *user, const skiff__codec_limits *limits,
                                            skiff__infer_request **out_req);

/* KServe v2 infer request. header_length: the Inference-Header-Content-Length
 * value, or -1 when absent (then the whole body is JSON and binary_data_size
 * is refused). With it, body[0..header_length) is JSON and the rest holds the
 * binary tensors in input order, whose sizes must add up exactly (BOOL bytes
 * are normalised to 0/1). Inputs and outputs are matched by tensor name, then
 * alias. uint64 values above INT64_MAX can only be sent in binary. */
skiff_status_t *skiff__decode_kserve(const char *body, size_t len, int64_t header_length,
                                     const skiff__model_io *io, const skiff__codec_limits *limits,
                                     skiff__infer_request **out_req);

/* ---- encoders ------------------------------------------------------------- */

/* One named tensor on the wire, to encode: a response's output, or a
 * request's input (client direction). Everything borrowed for the call. */
typedef struct skiff__infer_output {
    const char *name;             /* model tensor name */
    const char *alias;            /* client-facing name; NULL = name */
    const skiff_tensor_t *tensor; /* the value (string tensors: char *[]) */
    const int64_t *lod;           /* Paddle LoD offsets or NULL */
    int n_lod;
    bool binary; /* KServe: send in the binary section */
} skiff__infer_output;

/* {"result":{"alias":[[..]], "alias.lod":[..]}} - nested by the full shape. */
skiff_status_t *skiff__encode_paddle_web(const skiff__infer_output *outs, int n_outs,
                                         skiff__buf *out);

/* {"outputs":[{"tensor":[{"<x>_data":[..],"elem_type":N,"shape":[..],"lod":[..],
 * "name":..,"alias_name":..}],"engine_name":"GeneralInferOp_0"}],"log_id":N}
 * (log_id only when non-zero). Types without a Paddle elem_type (uint16/32/64)
 * are UNSUPPORTED. */
skiff_status_t *skiff__encode_paddle09(const skiff__infer_output *outs, int n_outs, uint64_t log_id,
                                       skiff__buf *out);

/* {"err_no":err_no,"err_msg":"msg"} - Paddle 0.9 Response carrying an error
 * (err_no e.g. -5100 for inference errors, -5000 internal). */
skiff_status_t *skiff__encode_paddle09_error(int err_no, const char *msg, skiff__buf *out);

/* {"model_name":..,"model_version":..,"id":..,"outputs":[{"name","datatype",
 * "shape","data"|"parameters":{"binary_data_size":N}}]} followed by the binary
 * outputs (those with .binary) in order. model_version and id are omitted when
 * NULL. Each output is named alias ?: name (the Paddle web encoder does the
 * same; pass alias NULL to use tensor names). JSON data is flat (row-major). *out_json_len = length
 * of the JSON part (== out->len growth when no output is binary); send it as
 * Inference-Header-Content-Length when it differs from the body length. */
skiff_status_t *skiff__encode_kserve(const char *model_name, const char *model_version,
                                     const char *id, const skiff__infer_output *outs, int n_outs,
                                     skiff__buf *out, size_t *out_json_len);

/* {"error":"msg"} (KServe errors; msg is JSON-escaped). */
skiff_status_t *skiff__encode_error_json(const char *msg, skiff__buf *out);

/* {"result":"msg"} - how the Paddle web service reported errors. */
skiff_status_t *skiff__encode_paddle_web_error(const char *msg, skiff__buf *out);

/* ---- client direction: requests ---------------------------------------------- */

/* A request to encode, as a client sends it. Borrowed for the call. */
typedef struct skiff__request_out {
    const skiff__infer_output *inputs; /* name = model tensor, alias = client name */
    int n_inputs;
    const char *const *fetch; /* outputs asked for (aliases); n_fetch 0 = all */
    int n_fetch;
    bool binary_outputs; /* KServe: ask for the outputs as binary data */
    const char *id;      /* KServe request id, or NULL */
    uint64_t log_id;     /* Paddle 0.9 log_id; 0 = none */
    const char *model;   /* Paddle 0.9: the "model" field of a multi-model server */
} skiff__request_out;

/* Each writes the request body into *out (appending) and the length of its
 * JSON part into *out_json_len (less than the body for KServe binary inputs:
 * send it as Inference-Header-Content-Length). */
skiff_status_t *skiff__encode_paddle_web_request(const skiff__request_out *r, skiff__buf *out,
                                                 size_t *out_json_len);
skiff_status_t *skiff__encode_paddle09_request(const skiff__request_out *r, skiff__buf *out,
                                               size_t *out_json_len);
skiff_status_t *skiff__encode_kserve_request(const skiff__request_out *r, skiff__buf *out,
                                             size_t *out_json_len);

/* ---- the codec table ---------------------------------------------------------- */

/* The wire APIs that carry inference requests. */
typedef enum skiff__api {
    SKIFF__API_NONE = 0,      /* not an inference API (GET /, /metrics) */
    SKIFF__API_PADDLE_WEB,    /* Paddle web service JSON: /{name}/prediction */
    SKIFF__API_PADDLE09,      /* Paddle Serving 0.9 Request/Response (JSON) */
    SKIFF__API_KSERVE,        /* KServe v2 JSON + binary tensor extension */
    SKIFF__API_PADDLE09_PB,   /* Paddle Serving 0.9 Request/Response (protobuf binary) */
    SKIFF__API_PADDLE09_RPC,  /* the same messages as a brpc call's payload (engine_name =
                                 the model's name) */
    SKIFF__API_PADDLE04_RPC,  /* Paddle Serving 0.3-0.6 Request/Response (brpc payload) */
    SKIFF__API_KSERVE_GRPC,   /* KServe v2 ModelInferRequest/Response (gRPC message) */
    SKIFF__API_PIPELINE,      /* Paddle pipeline Request/Response as JSON: /{name}/{method} */
    SKIFF__API_PIPELINE_GRPC, /* the same as protobuf: PipelineService/inference */
    SKIFF__API_COUNT
} skiff__api;

/* A request body to decode, and what the decoder needs to know of it. */
typedef struct skiff__decode_in {
    const char *body;
    size_t len;
    const skiff__model_io *io; /* the model; NULL: the request names it through pick */
    skiff__io_pick_cb pick;    /* Paddle 0.9 without a model: its "model" field picks */
    void *pick_user;
    const skiff__codec_limits *limits;
    int64_t header_length; /* KServe Inference-Header-Content-Length; -1 none */
    int http_status;       /* decode_response: the answer's HTTP status; 0 unknown */
} skiff__decode_in;

/* An answer to encode. */
typedef struct skiff__encode_in {
    const skiff__infer_output *outs;
    int n_outs;
    const char *model_name; /* KServe */
    const char *model_version;
    const char *id;
    uint64_t log_id; /* Paddle 0.9 */
} skiff__encode_in;

/* One API's codec, both directions. Every member is set for every API. */
typedef struct skiff__codec {
    skiff__api api;
    const char *name;
    /* server: request bytes -> tensors; tensors -> answer; an error answer */
    skiff_status_t *(*decode_request)(const skiff__decode_in *in, skiff__infer_request **out);
    skiff_status_t *(*encode_response)(const skiff__encode_in *in, skiff__buf *out,
                                       size_t *out_json_len);
    skiff_status_t *(*encode_error)(skiff_code_t code, const char *msg, skiff__buf *out);
    /* client: tensors -> request bytes; answer bytes -> tensors (in the
     * decoded message's inputs, named as the answer names them), or the
     * status the server reported (its message, a code from the HTTP status
     * or Paddle's err_no) */
    skiff_status_t *(*encode_request)(const skiff__request_out *r, skiff__buf *out,
                                      size_t *out_json_len);
    skiff_status_t *(*decode_response)(const skiff__decode_in *in, skiff__infer_request **out);
    const char *content_type; /* of its bodies (KServe's binary ones: octet-stream) */
} skiff__codec;

/* The codec of an inference API; for SKIFF__API_NONE (and out of range) a
 * codec whose decoders refuse and whose errors are {"error": msg}. */
const skiff__codec *skiff__codec_of(skiff__api api);

/* The Content-Type of a body `api` encoded: the codec's, or
 * application/octet-stream when a KServe body carries binary data after its
 * JSON (json_len < len). */
const char *skiff__codec_content_type(skiff__api api, size_t json_len, size_t len);

/* The API a Paddle 0.9 request's Content-Type selects: protobuf binary for
 * application/proto (also x-protobuf, protobuf), JSON otherwise. */
skiff__api skiff__codec_paddle09_by_type(const char *content_type);

/* Paddle 0.9 protobuf binary (codec_paddle09_pb.c). */
skiff_status_t *skiff__encode_paddle09_pb(const skiff__infer_output *outs, int n_outs,
                                          uint64_t log_id, skiff__buf *out, size_t *out_len);
skiff_status_t *skiff__encode_paddle09_pb_error(int err_no, const char *msg, skiff__buf *out);
skiff_status_t *skiff__encode_paddle09_pb_request(const skiff__request_out *r, skiff__buf *out,
                                                  size_t *out_len);

/* Paddle 0.9 protobuf Response whose one ModelOutput is named engine_name. */
skiff_status_t *skiff__encode_paddle09_pb_named(const skiff__infer_output *outs, int n_outs,
                                                uint64_t log_id, const char *engine_name,
                                                skiff__buf *out, size_t *out_len);

/* ---- Paddle Serving 0.3-0.6 (codec_paddle04_pb.c) ---------------------------------
 *
 * The generation before 0.9: Request{insts: [FeedInst{tensor_array}]}, each
 * tensor_array[i] the model's feed var i in conf order (positional, no
 * names), elem_type 0 int64 / 1 float32 / 2 int32 only. insts[0] alone
 * carries the batch in shape[0] (0.4-0.6), or one FeedInst per row (0.3).
 * The answer: Response{outputs: [ModelOutput{insts: [FetchInst{tensor_array
 * in fetch order}], engine_name}]}. Both generations travel over brpc with
 * the same service and method names. */

/* Which generation a GeneralModelService Request's bytes are: 9 or 4. A 0.9
 * Request's field-1 entries are Tensors, which always carry their shape
 * (field 11); a 0.4 Request's field-1 entries are FeedInsts, made of field 1
 * (Tensor) entries only. So: any field-1 entry with a field 11 -> 9; every
 * field-1 entry made of length-delimited field-1 entries only (and at least
 * one such entry in the request) -> 4; anything else -> 9 (whose decoder
 * then says what is wrong). Reads the bytes only; never fails. */
int skiff__paddle_rpc_generation(const void *body, size_t len);

/* A 0.3-0.6 Request (against io, which is required) decoded to the shared
 * form; inputs are named by the model's aliases. */
skiff_status_t *skiff__decode_paddle04_pb(const skiff__decode_in *in, skiff__infer_request **out);
/* A 0.3-0.6 Response whose one ModelOutput (engine_name) holds insts[0] with
 * the outputs in order. Types other than int64, float32 and int32 are
 * UNSUPPORTED (the generation has no field for them). */
skiff_status_t *skiff__encode_paddle04_pb(const skiff__infer_output *outs, int n_outs,
                                          const char *engine_name, skiff__buf *out,
                                          size_t *out_len);
/* Client side: a Request with the inputs in the given (feed) order in
 * insts[0]; an answer's insts[0] read back, outputs named by the request's
 * fetch order when in->io is set (as outputs), else "out<i>". */
skiff_status_t *skiff__encode_paddle04_pb_request(const skiff__request_out *r, skiff__buf *out,
                                                  size_t *out_len);
skiff_status_t *skiff__decode_paddle04_pb_response(const skiff__decode_in *in,
                                                   skiff__infer_request **out);

/* ---- brpc baidu_std framing (codec_brpc.c) -------------------------------------------
 *
 * A frame: "PRPC", body_size, meta_size (big-endian uint32), then body_size
 * bytes: RpcMeta (meta_size bytes), the payload, and attachment_size bytes
 * of attachment at the end. The payload may be gzip-compressed
 * (compress_type 2). See docs/rpc.md. */

#define SKIFF__BRPC_HEAD 12
#define SKIFF__BRPC_GZIP 2

/* Results of skiff__brpc_head. */
typedef enum skiff__brpc_head_result {
    SKIFF__BRPC_HEAD_MORE = 0,   /* fewer than 12 bytes */
    SKIFF__BRPC_HEAD_OK = 1,     /* *body_size and *meta_size hold the sizes */
    SKIFF__BRPC_HEAD_MAGIC = -1, /* the bytes do not start with "PRPC" */
    SKIFF__BRPC_HEAD_META = -2,  /* meta_size is larger than body_size */
} skiff__brpc_head_result;

/* Reads a frame header from the first len bytes of p. */
skiff__brpc_head_result skiff__brpc_head(const void *p, size_t len, uint32_t *out_body_size,
                                         uint32_t *out_meta_size);

/* An RpcMeta, request or answer. Strings are "" when absent and live as long
 * as the meta (free it with skiff__brpc_meta_free). */
typedef struct skiff__brpc_meta {
    bool has_request, has_response;
    const char *service, *method;
    const char *model; /* user_fields "model", or NULL */
    int64_t correlation_id;
    int64_t log_id;
    int32_t timeout_ms;
    int32_t compress_type;
    int32_t attachment_size;
    int32_t error_code; /* an answer's */
    const char *error_text;
    void *msg; /* the unpacked message that owns the strings */
} skiff__brpc_meta;

/* Decodes a frame's RpcMeta (meta_size bytes). On error *out is zeroed. */
skiff_status_t *skiff__brpc_meta_decode(const void *p, size_t len, skiff__brpc_meta *out);
/* Frees what a decoded meta owns; zeroes it. Accepts a zeroed one. */
void skiff__brpc_meta_free(skiff__brpc_meta *m);

/* A whole frame's body (body_size bytes after the header, meta_size of them
 * the meta, already decoded into *m): the payload, uncompressed into *out
 * (appended; reset it first) when compress_type is gzip, or copied. The
 * payload (after inflating) may be at most max_payload bytes. Errors name
 * the problem: an unknown compress_type, an attachment_size the body cannot
 * hold, a gzip stream that is broken or inflates past the limit. */
skiff_status_t *skiff__brpc_payload(const void *body, size_t body_size, size_t meta_size,
                                    const skiff__brpc_meta *m, int64_t max_payload,
                                    skiff__buf *out);

/* gzip (compress) and gunzip (decompress, at most max_out bytes) onto the end
 * of out. */
skiff_status_t *skiff__brpc_gzip(const void *p, size_t len, skiff__buf *out);
skiff_status_t *skiff__brpc_gunzip(const void *p, size_t len, int64_t max_out, skiff__buf *out);

/* An answer frame appended to out: correlation_id echoed; error_code 0 with
 * the payload (gzip-compressed when compress_type is SKIFF__BRPC_GZIP), or
 * an error code and text and no payload. */
skiff_status_t *skiff__brpc_encode_response(int64_t correlation_id, int32_t error_code,
                                            const char *error_text, int32_t compress_type,
                                            const void *payload, size_t len, skiff__buf *out);

/* A request frame to send (client side). Borrowed for the call. */
typedef struct skiff__brpc_call_out {
    const char *service;
    const char *method;
    const char *model; /* user_fields "model", or NULL */
    int64_t correlation_id;
    int64_t log_id;
    int32_t timeout_ms;    /* 0: none */
    int32_t compress_type; /* 0 or SKIFF__BRPC_GZIP */
} skiff__brpc_call_out;

/* A request frame appended to out. */
skiff_status_t *skiff__brpc_encode_request(const skiff__brpc_call_out *c, const void *payload,
                                           size_t len, skiff__buf *out);

#endif
