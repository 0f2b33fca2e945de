/* codec_pipeline.h - Paddle Serving pipeline messages (PipelineService's
 * Request and Response, pb/pipeline_service.proto) both ways, as the HTTP
 * gateway's JSON (POST /{name}/{method}) and as protobuf binary (the gRPC
 * message). Internal to the proto layer and the layers above it.
 *
 * One protocol-neutral message, skiff__pipe_msg, stands for a Request or a
 * Response: key/value pairs, then tensors. Decoders build it; encoders read
 * it. A Tensor's elem_type chooses the repeated field that carries its values
 * (the table in docs/PROTOCOLS.md "Paddle pipeline"):
 *
 *   elem_type        field          skiff dtype
 *   0  INT64         int64_data     int64
 *   1  FP32          float_data     float32
 *   2  INT32         int_data       int32
 *   3  FP64          float64_data   float64
 *   4  INT16         int_data       int16   (values range-checked)
 *   5  FP16          float_data     float16 (converted; finite values must fit)
 *   6  BF16          uint32_data    bfloat16 (each value the 16-bit pattern)
 *   7  UINT8         uint32_data    uint8   (range-checked)
 *   8  INT8          int_data       int8    (range-checked)
 *   9  BOOL          bool_data      bool
 *   10 COMPLEX64, 11 COMPLEX128     none: UNSUPPORTED (Paddle has no support either)
 *   12 STRING        str_data       string  (no NUL bytes inside an element)
 *   13 BYTES         byte_data      uint8, 1-D of the byte count, item.bytes set
 *
 * The product of `shape` must equal the element count of that field (a BYTES
 * tensor may leave shape out); values in any other data field are refused.
 * `lod`, when given, is LoD offsets over dim 0 ([0, .., shape[0]]).
 *
 * JSON follows the proto3 JSON mapping as Paddle's gateway writes it
 * (field names as in the .proto; lowerCamelCase names are read too): int64
 * values as numbers or decimal strings, bytes in base64 (standard or URL-safe),
 * non-finite floats as "NaN"/"Infinity"/"-Infinity", null as the field's
 * default. Unknown fields are refused. Requests come as Paddle's clients send
 * them: {"key":[..],"value":[..],"tensors":[..],"name":..,"method":..,
 * "logid":N,"clientip":..}; key and value are lists of strings of equal
 * length. Responses are written with every field, defaults included, in
 * field order: {"err_no":0,"err_msg":"","key":[..],"value":[..],"tensors":[]};
 * each tensor as its data field (always, even when empty), "elem_type",
 * "shape", "lod" (only when the tensor has one) and "name"; int64 values as
 * proto3's decimal strings. Encoded requests write int64 values and logid
 * as JSON numbers, the way Paddle's Python client does (decoders read both).
 *
 * Limits (skiff__codec_limits, NULL for the defaults): at most max_inputs
 * key/value pairs and max_inputs tensors, at most max_elements tensor elements
 * over the whole message (BYTES tensors count their bytes).
 *
 * Errors: INVALID_ARG with a message naming what was wrong ("tensor 'x':
 * elem_type 1 (FP32) with shape [2,3] needs 6 values in float_data, got 5";
 * "key and value must have the same length: key has 2 entries, value has 1"),
 * UNSUPPORTED for complex tensors and, when encoding, dtypes without an
 * elem_type (uint16/32/64), RESOURCE_EXHAUSTED for memory. On error the out
 * pointer is left NULL.
 *
 * Threads: any function, concurrently, on different messages, after
 * skiff__codec_init(). Memory: skiff__malloc & co.
 */
#ifndef SKIFF_PROTO_CODEC_PIPELINE_H
#define SKIFF_PROTO_CODEC_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "proto/codec.h"
#include "skiff/status.h"
#include "skiff/tensor.h"

/* Paddle's pipeline error codes (Response.err_no, 0.8+). PRODUCT_ERROR and
 * 51..99 are for user-defined ops. */
typedef enum skiff__pipe_errno {
    SKIFF__PIPE_OK = 0,
    SKIFF__PIPE_PRODUCT_ERROR = 50,
    SKIFF__PIPE_NOT_IMPLEMENTED = 3000,
    SKIFF__PIPE_CLOSED_ERROR = 3001,
    SKIFF__PIPE_NO_SERVICE = 3002,
    SKIFF__PIPE_INIT_ERROR = 3003,
    SKIFF__PIPE_CONF_ERROR = 4000,
    SKIFF__PIPE_INPUT_PARAMS_ERROR = 5000,
    SKIFF__PIPE_TIMEOUT = 6000,
    SKIFF__PIPE_TYPE_ERROR = 7000,
    SKIFF__PIPE_RPC_PACKAGE_ERROR = 8000,
    SKIFF__PIPE_CLIENT_ERROR = 9000,
    SKIFF__PIPE_UNKNOW = 10000, /* Paddle's spelling */
} skiff__pipe_errno;

/* The err_no a pipeline answer carries for a status code, from the one code
 * table (core/status.c): OK 0; INVALID_ARG 5000 INPUT_PARAMS_ERROR (the
 * client's input is wrong); NOT_FOUND 3002 NO_SERVICE (no such pipeline or
 * op); UNAVAILABLE 3001 CLOSED_ERROR (the service is not taking requests);
 * UNSUPPORTED 3000 NOT_IMPLEMENTED; DEADLINE_EXCEEDED 6000 TIMEOUT;
 * ALREADY_EXISTS, RESOURCE_EXHAUSTED, CANCELLED, INTERNAL and unknown codes
 * 10000 UNKNOW (Paddle has no closer code for them). */
int skiff__pipe_errno_of(skiff_code_t code);

/* The other way, for clients reading an answer: 0 OK; 5000 and 7000
 * INVALID_ARG; 3000 UNSUPPORTED; 3001 and 3003 UNAVAILABLE; 3002 NOT_FOUND;
 * 6000 DEADLINE_EXCEEDED; 9000 CANCELLED; anything else (4000, 8000, user
 * codes 50..99, 10000) INTERNAL. */
skiff_code_t skiff__pipe_code_of(int err_no);

/* A key/value pair (str != NULL) or a tensor (tensor != NULL). */
typedef struct skiff__pipe_item {
    const char *key;        /* the pair's key, or the tensor's name ("" when unnamed);
                               NUL-terminated, no NUL inside */
    const char *str;        /* the pair's value: str_len bytes and a NUL after them
                               (decoded values hold no NUL: jansson refuses \u0000) */
    size_t str_len;         /* its length */
    skiff_tensor_t *tensor; /* the tensor's value */
    const int64_t *lod;     /* its LoD offsets, or NULL */
    int n_lod;              /* entries in lod */
    bool bytes;             /* a uint8 tensor that travels as byte_data (elem_type 13) */
} skiff__pipe_item;

/* A Request (name .. logid) or a Response (err_no, err_msg).
 *
 * Decoded: the decoder allocates the message in its own arena, which also
 * holds every string and array in it (items, keys, values, lod); the tensors
 * are owned by the message. Strings are never NULL ("" when absent). Free it
 * with skiff__pipe_msg_free.
 * To encode: the caller fills one however it likes (arena NULL is fine);
 * everything is borrowed for the call. Items may come in any order: pairs
 * are written in their order, then tensors in theirs. NULL strings are "". */
typedef struct skiff__pipe_msg {
    skiff__pipe_item *items; /* n_pairs key/value pairs first (decoded), then tensors */
    int n_items;
    int n_pairs;                          /* decoded: items[0 .. n_pairs) are the pairs */
    const char *name, *method, *clientip; /* request */
    int64_t logid;                        /* request */
    int err_no;                           /* response: 0 or a skiff__pipe_errno */
    const char *err_msg;                  /* response */
    skiff__arena *arena;                  /* decoded: owns the message and its strings */
} skiff__pipe_msg;

/* Frees a decoded message: its tensors, then its arena (and the message with
 * it). Accepts NULL. Not for messages a caller built. */
void skiff__pipe_msg_free(skiff__pipe_msg *m);

/* Decoders: body borrowed (need not be NUL-terminated); limits may be NULL.
 * On success *out_msg is a new message the caller frees. */
skiff_status_t *skiff__pipe_decode_request_json(const char *body, size_t len,
                                                const skiff__codec_limits *limits,
                                                skiff__pipe_msg **out_msg);
skiff_status_t *skiff__pipe_decode_request_pb(const void *body, size_t len,
                                              const skiff__codec_limits *limits,
                                              skiff__pipe_msg **out_msg);
/* Client side: an answer read back (name, method, clientip "", logid 0). */
skiff_status_t *skiff__pipe_decode_response_json(const char *body, size_t len,
                                                 const skiff__codec_limits *limits,
                                                 skiff__pipe_msg **out_msg);
skiff_status_t *skiff__pipe_decode_response_pb(const void *body, size_t len,
                                               const skiff__codec_limits *limits,
                                               skiff__pipe_msg **out_msg);

/* Encoders: append the message to *out (reset it first for a whole body).
 * A response's err_no and err_msg go out as given; an error answer is a
 * message with err_no set and no items. Item errors (a tensor without a
 * dtype Paddle knows, a dim or LoD offset above INT32_MAX, an item with
 * neither value nor tensor) are INVALID_ARG or UNSUPPORTED, naming the item. */
skiff_status_t *skiff__pipe_encode_response_json(const skiff__pipe_msg *m, skiff__buf *out);
skiff_status_t *skiff__pipe_encode_response_pb(const skiff__pipe_msg *m, skiff__buf *out);
/* Client side. The protobuf form cannot carry a NUL inside a value
 * (protobuf-c strings end at the first NUL): such a value is INVALID_ARG. */
skiff_status_t *skiff__pipe_encode_request_json(const skiff__pipe_msg *m, skiff__buf *out);
skiff_status_t *skiff__pipe_encode_request_pb(const skiff__pipe_msg *m, skiff__buf *out);

#endif
