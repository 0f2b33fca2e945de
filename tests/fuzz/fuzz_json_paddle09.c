/* fuzz_json_paddle09.c - the Paddle Serving 0.9 GeneralModelService JSON
 * decoder (skiff__decode_paddle09) and its response encoder.
 *
 * Input: byte 0 picks the model description (a float model, a LoD model, a
 * model of every Paddle type with optional inputs, or none), the rest is the
 * HTTP body. Seeds: corpus/fuzz_json_paddle09/.
 *
 * Beyond "no crash, no leak": every decoded request is encoded as a Response,
 * whose tensors, put back into a Request, must decode to the same tensors,
 * bit for bit (NaNs compared as NaNs): what the encoder writes, the decoder
 * reads back exactly. */
#include <jansson.h>
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
    skiff__infer_request *r = NULL;
    skiff_status_t *st = skiff__decode_paddle09((const char *)data + 1, size - 1, io, &lim, &r);
    if (st) {
        FUZZ_CHECK(r == NULL);
        FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
        FUZZ_CHECK(skiff_status_code(st) != SKIFF_CODE_INTERNAL);
        skiff_status_free(st);
        return 0;
    }
    FUZZ_CHECK(r != NULL && r->n_inputs <= 64);
    for (int i = 0; i < r->n_inputs; i++) {
        const skiff__infer_input *in = &r->inputs[i];
        int64_t n = skiff_tensor_numel(in->tensor);
        FUZZ_CHECK(n >= 0 && in->tensor->nbytes == (size_t)n * skiff_dtype_size(in->tensor->dtype));
        if (in->lod) {
            FUZZ_CHECK(in->n_lod >= 2 && in->lod[0] == 0 &&
                       in->lod[in->n_lod - 1] == in->tensor->dims[0]);
        }
    }

    /* Response -> Request -> same tensors */
    skiff__infer_output o[64];
    for (int i = 0; i < r->n_inputs; i++)
        o[i] = (skiff__infer_output){.name = r->inputs[i].name,
                                     .tensor = r->inputs[i].tensor,
                                     .lod = r->inputs[i].lod,
                                     .n_lod = r->inputs[i].n_lod};
    skiff__buf b = {0};
    /* a log_id past INT64_MAX is valid JSON, but more than jansson reads */
    st = skiff__encode_paddle09(o, r->n_inputs, r->log_id > INT64_MAX ? 1 : r->log_id, &b);
    FUZZ_CHECK(st == NULL);
    json_t *resp = json_loadb(b.data, b.len, 0, NULL);
    FUZZ_CHECK(resp != NULL);
    json_t *req = json_object();
    FUZZ_CHECK(req != NULL);
    json_t *tensors =
        json_object_get(json_array_get(json_object_get(resp, "outputs"), 0), "tensor");
    FUZZ_CHECK(tensors != NULL);
    json_object_set(req, "tensor", tensors);
    char *text = json_dumps(req, JSON_COMPACT);
    FUZZ_CHECK(text != NULL);
    skiff__infer_request *back = NULL;
    if (r->n_inputs > 0) {
        st = skiff__decode_paddle09(text, strlen(text), io, &lim, &back);
        FUZZ_CHECK(st == NULL);
        FUZZ_CHECK(back->n_inputs == r->n_inputs);
        for (int i = 0; i < r->n_inputs; i++) {
            FUZZ_CHECK(same_tensor(r->inputs[i].tensor, back->inputs[i].tensor));
            FUZZ_CHECK(r->inputs[i].n_lod == back->inputs[i].n_lod);
            FUZZ_CHECK(r->inputs[i].n_lod == 0 ||
                       memcmp(r->inputs[i].lod, back->inputs[i].lod,
                              sizeof(int64_t) * (size_t)r->inputs[i].n_lod) == 0);
        }
        skiff__infer_request_free(back);
    }
    skiff__free(text);
    json_decref(req);
    json_decref(resp);
    skiff__buf_free(&b);
    skiff__infer_request_free(r);
    return 0;
}
