/* fuzz_paddle09_pb.c - Paddle Serving 0.9's protobuf binary Request
 * (Content-Type application/proto; a brpc call's payload): protobuf-c's
 * unpacking, the mapping onto the proto3 JSON form, and the shared 0.9
 * decoder.
 *
 * Input: byte 0 picks the model description (as fuzz_json_paddle09), the
 * rest is the body. Seeds: corpus/fuzz_paddle09_pb/ (written by
 * tests/fuzz/make_seeds.py).
 *
 * Beyond "no crash, no leak": a decoded request, encoded again as a binary
 * Request, decodes to the same tensors, bit for bit; every refusal names
 * what was wrong and is the client's fault (never INTERNAL). */
#include <math.h>
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
    if (size < 1)
        return 0;
    int sel = data[0] % (N_MODELS + 1);
    const skiff__model_io *io = sel < N_MODELS ? &models[sel] : NULL;
    static const skiff__codec_limits lim = {.max_elements = 4096, .max_inputs = 64};
    const skiff__codec *codec = skiff__codec_of(SKIFF__API_PADDLE09_PB);
    skiff__decode_in in = {
        .body = (const char *)data + 1, .len = size - 1, .io = io, .limits = &lim};
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
    /* Request -> binary Request -> same tensors. Inputs are named by the
     * key that matched; without a model, shapes above int32 cannot go back. */
    skiff__infer_output o[64];
    bool fits = true;
    for (int i = 0; i < r->n_inputs; i++) {
        o[i] = (skiff__infer_output){.name = r->inputs[i].name,
                                     .tensor = r->inputs[i].tensor,
                                     .lod = r->inputs[i].lod,
                                     .n_lod = r->inputs[i].n_lod};
        for (int d = 0; d < r->inputs[i].tensor->ndim; d++)
            fits = fits && r->inputs[i].tensor->dims[d] <= INT32_MAX;
    }
    skiff__request_out req = {.inputs = o, .n_inputs = r->n_inputs};
    skiff__buf b = {0};
    size_t json_len = 0;
    st = codec->encode_request(&req, &b, &json_len);
    FUZZ_CHECK(st == NULL || !fits);
    if (!st && r->n_inputs > 0) {
        skiff__infer_request *back = NULL;
        skiff__decode_in again = {.body = b.data, .len = b.len, .io = io, .limits = &lim};
        st = codec->decode_request(&again, &back);
        FUZZ_CHECK(st == NULL);
        FUZZ_CHECK(back->n_inputs == r->n_inputs);
        for (int i = 0; i < r->n_inputs; i++) {
            FUZZ_CHECK(same_tensor(r->inputs[i].tensor, back->inputs[i].tensor));
            FUZZ_CHECK(r->inputs[i].n_lod == back->inputs[i].n_lod);
        }
        skiff__infer_request_free(back);
    }
    skiff_status_free(st);
    skiff__buf_free(&b);
    skiff__infer_request_free(r);
    return 0;
}
