/* fuzz_kserve_grpc.c - the gRPC front end's ModelInfer path without the
 * socket: the 5-byte gRPC message prefix as the front end reads it (flag,
 * big-endian length that must match the bytes after it), then the
 * ModelInferRequest decoder (SKIFF__API_KSERVE_GRPC's row), then the
 * ModelInferResponse encoder on the decoded tensors.
 *
 * Input: byte 0 picks the model description (fuzz_p09.h), byte 1's low bit
 * says whether the rest is a length-prefixed gRPC message or the bare
 * protobuf message. Seeds: corpus/fuzz_kserve_grpc/ (written by
 * tests/fuzz/make_grpc_seeds.py).
 *
 * Beyond "no crash, no leak": refusals name what was wrong and are never
 * INTERNAL; decoding twice gives the same tensors; a decoded request's tensors encode into a
 * response (typed or raw as the request asked) without error. */
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "fuzz_p09.h"
#include "proto/codec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff__codec_init();
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const skiff__model_io *io = &models[data[0] % N_MODELS];
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    if (data[1] & 1) {
        /* The framing the front end checks before decoding. */
        if (n < 5 || p[0] > 1)
            return 0;
        uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
        if ((size_t)len != n - 5)
            return 0;
        p += 5;
        n -= 5;
    }
    static const skiff__codec_limits lim = {.max_elements = 4096, .max_inputs = 64};
    const skiff__codec *codec = skiff__codec_of(SKIFF__API_KSERVE_GRPC);
    skiff__decode_in in = {
        .body = n ? (const char *)p : "", .len = n, .io = io, .limits = &lim, .header_length = -1};
    skiff__infer_request *r = NULL;
    skiff_status_t *st = codec->decode_request(&in, &r);
    if (st) {
        FUZZ_CHECK(r == NULL);
        FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
        FUZZ_CHECK(skiff_status_code(st) != SKIFF_CODE_INTERNAL);
        skiff_status_free(st);
        return 0;
    }
    FUZZ_CHECK(r != NULL && r->n_inputs <= 64);
    /* Decoding is a function of the bytes: again, the same tensors. */
    skiff__infer_request *again = NULL;
    st = codec->decode_request(&in, &again);
    FUZZ_CHECK(st == NULL && again->n_inputs == r->n_inputs);
    for (int i = 0; i < r->n_inputs; i++)
        FUZZ_CHECK(same_tensor(again->inputs[i].tensor, r->inputs[i].tensor));
    skiff__infer_request_free(again);
    skiff__infer_output o[64];
    for (int i = 0; i < r->n_inputs; i++)
        o[i] = (skiff__infer_output){.name = r->inputs[i].name,
                                     .tensor = r->inputs[i].tensor,
                                     .binary = r->binary_output_all};
    skiff__encode_in enc = {
        .outs = o, .n_outs = r->n_inputs, .model_name = "m", .model_version = "1", .id = r->id};
    skiff__buf b = {0};
    size_t len = 0;
    st = codec->encode_response(&enc, &b, &len);
    FUZZ_CHECK(st == NULL || skiff_status_code(st) != SKIFF_CODE_INTERNAL);
    FUZZ_CHECK(st != NULL || len == b.len);
    skiff_status_free(st);
    skiff__buf_free(&b);
    skiff__infer_request_free(r);
    return 0;
}
