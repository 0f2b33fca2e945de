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
#include "proto/codec.h"

static const int64_t D2[] = {2}, DSEQ[] = {-1}, D1[] = {1};
static const skiff__io_spec dense_in[] = {{.name = "x",
                                           .alias = "x",
                                           .dtype = SKIFF_DTYPE_FLOAT32,
                                           .ndim = 1,
                                           .dims = D2,
                                           .batched = true}};
static const skiff__io_spec lod_in[] = {{.name = "w",
                                         .alias = "words",
                                         .dtype = SKIFF_DTYPE_INT64,
                                         .ndim = 1,
                                         .dims = DSEQ,
                                         .batched = true,
                                         .is_lod = true}};
static const skiff__io_spec types_in[] = {
    {.name = "l", .dtype = SKIFF_DTYPE_INT64, .ndim = -1, .batched = true, .optional = true},
    {.name = "f", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = -1, .batched = true, .optional = true},
    {.name = "i", .dtype = SKIFF_DTYPE_INT32, .ndim = -1, .batched = true, .optional = true},
    {.name = "d", .dtype = SKIFF_DTYPE_FLOAT64, .ndim = -1, .batched = true, .optional = true},
    {.name = "s16", .dtype = SKIFF_DTYPE_INT16, .ndim = -1, .batched = true, .optional = true},
    {.name = "h", .dtype = SKIFF_DTYPE_FLOAT16, .ndim = -1, .batched = true, .optional = true},
    {.name = "bf", .dtype = SKIFF_DTYPE_BFLOAT16, .ndim = -1, .batched = true, .optional = true},
    {.name = "u", .dtype = SKIFF_DTYPE_UINT8, .ndim = -1, .batched = true, .optional = true},
    {.name = "i8", .dtype = SKIFF_DTYPE_INT8, .ndim = -1, .batched = true, .optional = true},
    {.name = "b", .dtype = SKIFF_DTYPE_BOOL, .ndim = -1, .batched = true, .optional = true},
    {.name = "s",
     .dtype = SKIFF_DTYPE_STRING,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true}};
static const skiff__io_spec outs[] = {{.name = "fc_0.tmp_1",
                                       .alias = "price",
                                       .dtype = SKIFF_DTYPE_FLOAT32,
                                       .ndim = 1,
                                       .dims = D1,
                                       .batched = true}};
static const skiff__model_io models[] = {
    {dense_in, 1, outs, 1}, {lod_in, 1, outs, 1}, {types_in, 11, outs, 1}};
#define N_MODELS (int)(sizeof(models) / sizeof(models[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff__codec_init();
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

static bool same_tensor(const skiff_tensor_t *a, const skiff_tensor_t *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim ||
        memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->ndim) != 0 || a->nbytes != b->nbytes)
        return false;
    int64_t n = skiff_tensor_numel(a);
    for (int64_t i = 0; i < n; i++) {
        switch (a->dtype) {
        case SKIFF_DTYPE_STRING:
            if (strcmp(((char **)a->data)[i], ((char **)b->data)[i]) != 0)
                return false;
            break;
        case SKIFF_DTYPE_FLOAT32: {
            float x = ((float *)a->data)[i], y = ((float *)b->data)[i];
            if (!(isnan(x) ? isnan(y) : memcmp(&x, &y, 4) == 0))
                return false;
            break;
        }
        case SKIFF_DTYPE_FLOAT64: {
            double x = ((double *)a->data)[i], y = ((double *)b->data)[i];
            if (!(isnan(x) ? isnan(y) : memcmp(&x, &y, 8) == 0))
                return false;
            break;
        }
        default: {
            size_t es = skiff_dtype_size(a->dtype);
            if (memcmp((char *)a->data + (size_t)i * es, (char *)b->data + (size_t)i * es, es))
                return false;
        }
        }
    }
    return true;
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
