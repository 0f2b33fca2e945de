/* fuzz_json_paddle.c - the Paddle web request decoder (skiff__decode_paddle_web)
 * and its response encoder.
 *
 * Input: byte 0 picks the model description the body is checked against (see
 * models[] below: a dense float model, a LoD int64 model, a model of every
 * type with optional inputs, a dynamic-shape model, an unbatched model, or
 * none), the rest is the HTTP body. Seeds: corpus/fuzz_json_paddle/.
 *
 * Beyond "no crash, no leak": a decoded request must be self-consistent
 * (tensor sizes, LoD offsets, spec indices, the batch), encoding the decoded
 * tensors as a response must give valid JSON, and whenever the streaming
 * decoder accepts a body the jansson decoder must decode it to the same
 * request (skiff__decode_paddle_web_fast vs _tree). */
#include <jansson.h>
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "fuzz_decode.h"
#include "proto/codec.h"
#include "proto/codec_int.h"

static const int64_t D3[] = {3}, DSEQ[] = {-1}, DDYN[] = {-1, 2}, D22[] = {2, 2}, D1[] = {1};
static const skiff__io_spec dense_in[] = {{.name = "x",
                                           .alias = "x",
                                           .dtype = SKIFF_DTYPE_FLOAT32,
                                           .ndim = 1,
                                           .dims = D3,
                                           .batched = true},
                                          {.name = "y_t",
                                           .alias = "y",
                                           .dtype = SKIFF_DTYPE_INT64,
                                           .ndim = 1,
                                           .dims = D1,
                                           .batched = true}};
static const skiff__io_spec lod_in[] = {{.name = "w",
                                         .alias = "words",
                                         .dtype = SKIFF_DTYPE_INT64,
                                         .ndim = 1,
                                         .dims = DSEQ,
                                         .batched = true,
                                         .is_lod = true}};
static const skiff__io_spec types_in[] = {
    {.name = "s",
     .dtype = SKIFF_DTYPE_STRING,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
    {.name = "b",
     .dtype = SKIFF_DTYPE_BOOL,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
    {.name = "u",
     .dtype = SKIFF_DTYPE_UINT8,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
    {.name = "h",
     .dtype = SKIFF_DTYPE_FLOAT16,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
    {.name = "d",
     .dtype = SKIFF_DTYPE_FLOAT64,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
    {.name = "i",
     .dtype = SKIFF_DTYPE_INT32,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
    {.name = "r", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = -1, .batched = true, .optional = true},
    {.name = "q",
     .dtype = SKIFF_DTYPE_INT64,
     .ndim = -1,
     .batched = true,
     .is_lod = true,
     .optional = true}};
static const skiff__io_spec dyn_in[] = {
    {.name = "d", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 2, .dims = DDYN, .batched = true}};
static const skiff__io_spec fixed_in[] = {
    {.name = "f", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 2, .dims = D22, .batched = false}};
static const skiff__io_spec outs[] = {
    {.name = "fc_0.tmp_1",
     .alias = "price",
     .dtype = SKIFF_DTYPE_FLOAT32,
     .ndim = 1,
     .dims = D1,
     .batched = true},
    {.name = "o2", .dtype = SKIFF_DTYPE_INT64, .ndim = 1, .dims = D1, .batched = true}};

static const skiff__model_io models[] = {
    {dense_in, 2, outs, 2}, {lod_in, 1, outs, 2},   {types_in, 8, outs, 2},
    {dyn_in, 1, outs, 2},   {fixed_in, 1, outs, 2},
};
#define N_MODELS (int)(sizeof(models) / sizeof(models[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff__codec_init();
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

static void check_request(const skiff__infer_request *r, const skiff__model_io *io)
{
    FUZZ_CHECK(r->n_inputs >= 0 && r->batch >= 0);
    for (int i = 0; i < r->n_inputs; i++) {
        const skiff__infer_input *in = &r->inputs[i];
        FUZZ_CHECK(in->name && in->tensor);
        FUZZ_CHECK(io ? (in->spec >= 0 && in->spec < io->n_inputs) : in->spec == -1);
        const skiff_tensor_t *t = in->tensor;
        int64_t n = skiff_tensor_numel(t);
        FUZZ_CHECK(n >= 0 && t->nbytes == (size_t)n * skiff_dtype_size(t->dtype));
        if (io)
            FUZZ_CHECK(t->dtype == io->inputs[in->spec].dtype);
        if (t->dtype == SKIFF_DTYPE_STRING)
            for (int64_t k = 0; k < n; k++)
                FUZZ_CHECK(((char **)t->data)[k] != NULL);
        if (in->lod) {
            FUZZ_CHECK(in->n_lod >= 2 && in->lod[0] == 0 && t->ndim >= 1);
            for (int k = 1; k < in->n_lod; k++)
                FUZZ_CHECK(in->lod[k] >= in->lod[k - 1]);
            FUZZ_CHECK(in->lod[in->n_lod - 1] == t->dims[0]);
        }
    }
    for (int i = 0; i < r->n_outputs; i++)
        FUZZ_CHECK(r->outputs[i].name &&
                   (io ? r->outputs[i].spec >= 0 && r->outputs[i].spec < io->n_outputs
                       : r->outputs[i].spec == -1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int sel = data[0] % (N_MODELS + 1);
    const skiff__model_io *io = sel < N_MODELS ? &models[sel] : NULL;
    static const skiff__codec_limits lim = {.max_elements = 4096, .max_inputs = 64};
    skiff__infer_request *r = NULL;
    skiff_status_t *st;
    skiff__fast_result fr =
        skiff__decode_paddle_web_fast((const char *)data + 1, size - 1, io, &lim, &r, &st);
    FUZZ_CHECK(fr != SKIFF__FAST_ERROR); /* no memory failures here */
    if (fr == SKIFF__FAST_OK) {
        skiff__infer_request *t = NULL;
        st = skiff__decode_paddle_web_tree((const char *)data + 1, size - 1, io, &lim, &t);
        FUZZ_CHECK(st == NULL && t != NULL);
        check_same(r, t);
        skiff__infer_request_free(t);
        skiff__infer_request_free(r);
        r = NULL;
    } else {
        FUZZ_CHECK(r == NULL && st == NULL);
    }
    st = skiff__decode_paddle_web((const char *)data + 1, size - 1, io, &lim, &r);
    if (st) {
        FUZZ_CHECK(r == NULL);
        FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
        FUZZ_CHECK(skiff_status_code(st) == SKIFF_CODE_INVALID_ARG ||
                   skiff_status_code(st) == SKIFF_CODE_UNSUPPORTED ||
                   skiff_status_code(st) == SKIFF_CODE_RESOURCE_EXHAUSTED);
        skiff_status_free(st);
        return 0;
    }
    FUZZ_CHECK(r != NULL);
    check_request(r, io);

    /* the decoded inputs, sent back as outputs, must make valid JSON */
    skiff__infer_output o[64];
    int n = r->n_inputs < 64 ? r->n_inputs : 64;
    for (int i = 0; i < n; i++)
        o[i] = (skiff__infer_output){.name = r->inputs[i].name,
                                     .tensor = r->inputs[i].tensor,
                                     .lod = r->inputs[i].lod,
                                     .n_lod = r->inputs[i].n_lod};
    skiff__buf b = {0};
    st = skiff__encode_paddle_web(o, n, &b);
    FUZZ_CHECK(st == NULL);
    json_error_t e;
    json_t *j = json_loadb(b.data, b.len, 0, &e);
    FUZZ_CHECK(j != NULL);
    json_decref(j);
    skiff__buf_free(&b);
    skiff__infer_request_free(r);
    return 0;
}
