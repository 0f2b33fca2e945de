/* codec_grpc.h - KServe v2's ModelInferRequest / ModelInferResponse as
 * protobuf binary (the GRPCInferenceService.ModelInfer messages), on
 * protobuf-c code generated from pb/grpc_service.proto. The codec table row
 * is SKIFF__API_KSERVE_GRPC; the gRPC front end (src/serve/grpc/) uses these
 * through it and the fuzzer (tests/fuzz/fuzz_kserve_grpc.c) directly. */
#ifndef SKIFF_PROTO_CODEC_GRPC_H
#define SKIFF_PROTO_CODEC_GRPC_H

#include "proto/codec.h"

/* A ModelInferRequest, checked against in->io (required) with the KServe
 * decoder's checks and messages: the message is mapped onto a KServe
 * request whose tensors all travel in the binary section (typed `contents`
 * converted to little-endian bytes, raw_input_contents as they are). When
 * the request used raw_input_contents the answer's outputs are asked for
 * as raw (binary_output_all), as Triton does. */
skiff_status_t *skiff__decode_kserve_grpc(const skiff__decode_in *in, skiff__infer_request **out);

/* A ModelInferResponse appended to out: each output with name, datatype and
 * shape, its data in raw_output_contents when .binary, else in the typed
 * `contents` field of its datatype. *json_len = the bytes written. */
skiff_status_t *skiff__encode_kserve_grpc(const skiff__encode_in *in, skiff__buf *out,
                                          size_t *json_len);

/* Checks an answer is a ModelInferResponse (INVALID_ARG when not); reading
 * it into tensors (the client direction) is not served yet (UNSUPPORTED). */
skiff_status_t *skiff__decode_kserve_grpc_response(const skiff__decode_in *in,
                                                   skiff__infer_request **out);

#endif
