/* fuzz_kserve.c - the KServe v2 infer request decoder (skiff__decode_kserve),
 * JSON and binary tensor extension, and its response encoder.
 *
 * Input: byte 0 picks the model description (0: a float model, 1: a model of
 * every datatype with optional inputs, else none); bytes 1-2 are a
 * little-endian Inference-Header-Content-Length, where 0xffff means "no
 * header"; the rest is the HTTP body. Seeds: corpus/fuzz_kserve/.
 *
 * Beyond "no crash, no leak, no read past the body": every decoded request is
 * encoded as a response with every other output binary; that response, with
 * "outputs" renamed to "inputs", is itself a valid binary request and must
 * decode to the same tensors bit for bit (NaNs, which JSON carries as null,
 * excepted). Whenever the streaming decoder accepts a body, the jansson
 * decoder must decode it to the same request (skiff__decode_kserve_fast vs
 * _tree). */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "fuzz_decode.h"
#include "proto/codec.h"
#include "proto/codec_int.h"

static const int64_t D2[] = {2}, D1[] = {1};
static const skiff__io_spec dense_in[] = {
    {.name = "x", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 1, .dims = D2, .batched = true},
    {.name = "y",
     .dtype = SKIFF_DTYPE_INT64,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true}};
static const skiff__io_spec types_in[] = {
    {.name = "BOOL", .dtype = SKIFF_DTYPE_BOOL, .ndim = -1, .optional = true},
    {.name = "UINT8", .dtype = SKIFF_DTYPE_UINT8, .ndim = -1, .optional = true},
    {.name = "UINT16", .dtype = SKIFF_DTYPE_UINT16, .ndim = -1, .optional = true},
    {.name = "UINT32", .dtype = SKIFF_DTYPE_UINT32, .ndim = -1, .optional = true},
    {.name = "UINT64", .dtype = SKIFF_DTYPE_UINT64, .ndim = -1, .optional = true},
    {.name = "INT8", .dtype = SKIFF_DTYPE_INT8, .ndim = -1, .optional = true},
    {.name = "INT16", .dtype = SKIFF_DTYPE_INT16, .ndim = -1, .optional = true},
    {.name = "INT32", .dtype = SKIFF_DTYPE_INT32, .ndim = -1, .optional = true},
    {.name = "INT64", .dtype = SKIFF_DTYPE_INT64, .ndim = -1, .optional = true},
    {.name = "FP16", .dtype = SKIFF_DTYPE_FLOAT16, .ndim = -1, .optional = true},
    {.name = "FP32", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = -1, .optional = true},
    {.name = "FP64", .dtype = SKIFF_DTYPE_FLOAT64, .ndim = -1, .optional = true},
    {.name = "BF16", .dtype = SKIFF_DTYPE_BFLOAT16, .ndim = -1, .optional = true},
    {.name = "BYTES", .dtype = SKIFF_DTYPE_STRING, .ndim = -1, .optional = true}};
static const skiff__io_spec outs[] = {
    {.name = "out", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 1, .dims = D1, .batched = true}};
static const skiff__model_io models[] = {{dense_in, 2, outs, 1}, {types_in, 14, outs, 1}};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff__codec_init();
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

/* Bit-for-bit equality (strings by content). */
static bool same_tensor(const skiff_tensor_t *a, const skiff_tensor_t *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim ||
        memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->ndim) != 0 || a->nbytes != b->nbytes)
        return false;
    if (a->dtype != SKIFF_DTYPE_STRING)
        return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
    int64_t n = skiff_tensor_numel(a);
    for (int64_t i = 0; i < n; i++)
        if (strcmp(((char **)a->data)[i], ((char **)b->data)[i]) != 0)
            return false;
    return true;
}

/* Values JSON data cannot carry back exactly: non-finite floats (written as
 * null, which the decoder refuses) and uint64 past INT64_MAX (valid JSON that
 * jansson will not read). */
static bool json_inexact(const skiff_tensor_t *t)
{
    int64_t n = skiff_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case SKIFF_DTYPE_FLOAT32:
            if (!isfinite(((float *)t->data)[i]))
                return true;
            break;
        case SKIFF_DTYPE_FLOAT64:
            if (!isfinite(((double *)t->data)[i]))
                return true;
            break;
        case SKIFF_DTYPE_FLOAT16:
            if ((((uint16_t *)t->data)[i] & 0x7c00) == 0x7c00)
                return true;
            break;
        case SKIFF_DTYPE_BFLOAT16:
            if ((((uint16_t *)t->data)[i] & 0x7f80) == 0x7f80)
                return true;
            break;
        case SKIFF_DTYPE_UINT64: /* valid JSON, but past what jansson reads back */
            if (((uint64_t *)t->data)[i] > (uint64_t)INT64_MAX)
                return true;
            break;
        default: return false;
        }
    }
    return false;
}

/* BYTES holding invalid UTF-8 (possible from binary input) are written with
 * U+FFFD replacements in JSON, so they do not come back exactly. */
static bool json_safe_strings(const skiff_tensor_t *t)
{
    if (t->dtype != SKIFF_DTYPE_STRING)
        return true;
    int64_t n = skiff_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        const char *s = ((char **)t->data)[i];
        json_t *j = json_string(s); /* NULL when s is not valid UTF-8 */
        if (!j)
            return false;
        json_decref(j);
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    const skiff__model_io *io = data[0] < 2 ? &models[data[0]] : NULL;
    unsigned hl16 = (unsigned)data[1] | (unsigned)data[2] << 8;
    const char *body = (const char *)data + 3;
    size_t len = size - 3;
    int64_t hl = hl16 == 0xffff ? -1 : (int64_t)hl16;
    static const skiff__codec_limits lim = {.max_elements = 4096, .max_inputs = 64};
    skiff__infer_request *r = NULL;
    skiff_status_t *st;
    skiff__fast_result fr = skiff__decode_kserve_fast(body, len, hl, io, &lim, &r, &st);
    FUZZ_CHECK(fr != SKIFF__FAST_ERROR); /* no memory failures here */
    if (fr == SKIFF__FAST_OK) {
        skiff__infer_request *t = NULL;
        st = skiff__decode_kserve_tree(body, len, hl, io, &lim, &t);
        FUZZ_CHECK(st == NULL && t != NULL);
        check_same(r, t);
        skiff__infer_request_free(t);
        skiff__infer_request_free(r);
        r = NULL;
    } else {
        FUZZ_CHECK(r == NULL && st == NULL);
    }
    st = skiff__decode_kserve(body, len, hl, io, &lim, &r);
    if (st) {
        FUZZ_CHECK(r == NULL);
        FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
        FUZZ_CHECK(skiff_status_code(st) != SKIFF_CODE_INTERNAL);
        skiff_status_free(st);
        return 0;
    }
    FUZZ_CHECK(r != NULL && r->n_inputs >= 1 && r->n_inputs <= 64);

    skiff__infer_output o[64];
    bool exact = true;
    for (int i = 0; i < r->n_inputs; i++) {
        const skiff_tensor_t *t = r->inputs[i].tensor;
        int64_t n = skiff_tensor_numel(t);
        FUZZ_CHECK(n >= 0 && t->nbytes == (size_t)n * skiff_dtype_size(t->dtype));
        o[i] = (skiff__infer_output){.name = r->inputs[i].name, .tensor = t, .binary = i % 2 == 1};
        if (!o[i].binary && (json_inexact(t) || !json_safe_strings(t)))
            exact = false;
    }
    skiff__buf b = {0};
    size_t jl = 0;
    st = skiff__encode_kserve("m", "1", r->id, o, r->n_inputs, &b, &jl);
    FUZZ_CHECK(st == NULL && jl <= b.len);
    /* always valid JSON; read big uint64 as reals when they are there */
    json_t *resp = json_loadb(b.data, jl, exact ? 0 : JSON_DECODE_INT_AS_REAL, NULL);
    FUZZ_CHECK(resp != NULL);

    if (exact) {
        /* the response, as a request, decodes to the same tensors */
        json_t *req = json_object();
        FUZZ_CHECK(req != NULL);
        json_object_set(req, "inputs", json_object_get(resp, "outputs"));
        char *hdr = json_dumps(req, JSON_COMPACT);
        FUZZ_CHECK(hdr != NULL);
        skiff__buf rb = {0};
        FUZZ_CHECK(skiff__buf_append(&rb, hdr, strlen(hdr)));
        size_t hlen = rb.len;
        FUZZ_CHECK(skiff__buf_append(&rb, b.data + jl, b.len - jl));
        skiff__infer_request *back = NULL;
        st = skiff__decode_kserve(rb.data, rb.len, (int64_t)hlen, io, &lim, &back);
        FUZZ_CHECK(st == NULL);
        FUZZ_CHECK(back->n_inputs == r->n_inputs);
        for (int i = 0; i < r->n_inputs; i++)
            FUZZ_CHECK(same_tensor(r->inputs[i].tensor, back->inputs[i].tensor));
        skiff__infer_request_free(back);
        skiff__buf_free(&rb);
        skiff__free(hdr);
        json_decref(req);
    }
    json_decref(resp);
    skiff__buf_free(&b);
    skiff__infer_request_free(r);
    return 0;
}
