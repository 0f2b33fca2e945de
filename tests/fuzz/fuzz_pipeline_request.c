/* fuzz_pipeline_request.c - the Paddle pipeline decoders (codec_pipeline.h):
 * a PipelineService Request, or a Response as clients read it, in the HTTP
 * gateway's JSON or in protobuf binary.
 *
 * Input: byte 0 picks the form (bit 0: protobuf, bit 1: a Response), the rest
 * is the body. Seeds: corpus/fuzz_pipeline_request/ (written by
 * tests/fuzz/make_pipeline_seeds.py).
 *
 * Beyond "no crash, no leak": a refusal names what was wrong and is the
 * client's fault (never INTERNAL); a decoded message encodes again in the
 * same form, and that decodes to the same message (NaNs equal to NaNs). */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "proto/codec_pipeline.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff__codec_init();
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

static bool same_value(skiff_dtype_t dt, const void *a, const void *b, int64_t i)
{
    switch (dt) {
    case SKIFF_DTYPE_STRING: return strcmp(((char **)a)[i], ((char **)b)[i]) == 0;
    case SKIFF_DTYPE_FLOAT32: {
        float x = ((const float *)a)[i], y = ((const float *)b)[i];
        return isnan(x) ? isnan(y) : memcmp(&x, &y, 4) == 0;
    }
    case SKIFF_DTYPE_FLOAT64: {
        double x = ((const double *)a)[i], y = ((const double *)b)[i];
        return isnan(x) ? isnan(y) : memcmp(&x, &y, 8) == 0;
    }
    case SKIFF_DTYPE_FLOAT16: {
        uint16_t x = ((const uint16_t *)a)[i], y = ((const uint16_t *)b)[i];
        return isnan(skiff__f16_to_f32(x)) ? isnan(skiff__f16_to_f32(y)) : x == y;
    }
    default: {
        size_t es = skiff_dtype_size(dt);
        return memcmp((const char *)a + (size_t)i * es, (const char *)b + (size_t)i * es, es) == 0;
    }
    }
}

static bool same_msg(const skiff__pipe_msg *a, const skiff__pipe_msg *b)
{
    if (a->n_items != b->n_items || a->n_pairs != b->n_pairs || a->logid != b->logid ||
        a->err_no != b->err_no || strcmp(a->name, b->name) || strcmp(a->method, b->method) ||
        strcmp(a->clientip, b->clientip) || strcmp(a->err_msg, b->err_msg))
        return false;
    for (int i = 0; i < a->n_items; i++) {
        const skiff__pipe_item *x = &a->items[i], *y = &b->items[i];
        if (strcmp(x->key, y->key) || (x->str == NULL) != (y->str == NULL))
            return false;
        if (x->str) {
            if (x->str_len != y->str_len || memcmp(x->str, y->str, x->str_len))
                return false;
            continue;
        }
        const skiff_tensor_t *s = x->tensor, *t = y->tensor;
        if (s->dtype != t->dtype || s->ndim != t->ndim || s->nbytes != t->nbytes ||
            memcmp(s->dims, t->dims, sizeof(int64_t) * (size_t)s->ndim) || x->bytes != y->bytes ||
            x->n_lod != y->n_lod ||
            (x->n_lod && memcmp(x->lod, y->lod, sizeof(int64_t) * (size_t)x->n_lod)))
            return false;
        for (int64_t k = 0; k < skiff_tensor_numel(s); k++)
            if (!same_value(s->dtype, s->data, t->data, k))
                return false;
    }
    return true;
}

static skiff_status_t *decode(int form, const char *p, size_t n, const skiff__codec_limits *lim,
                              skiff__pipe_msg **out)
{
    switch (form) {
    case 0: return skiff__pipe_decode_request_json(p, n, lim, out);
    case 1: return skiff__pipe_decode_request_pb(p, n, lim, out);
    case 2: return skiff__pipe_decode_response_json(p, n, lim, out);
    default: return skiff__pipe_decode_response_pb(p, n, lim, out);
    }
}

static skiff_status_t *encode(int form, const skiff__pipe_msg *m, skiff__buf *out)
{
    switch (form) {
    case 0: return skiff__pipe_encode_request_json(m, out);
    case 1: return skiff__pipe_encode_request_pb(m, out);
    case 2: return skiff__pipe_encode_response_json(m, out);
    default: return skiff__pipe_encode_response_pb(m, out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int form = data[0] & 3;
    static const skiff__codec_limits lim = {.max_elements = 4096, .max_inputs = 64};
    skiff__pipe_msg *m = NULL;
    skiff_status_t *st = decode(form, (const char *)data + 1, size - 1, &lim, &m);
    if (st) {
        FUZZ_CHECK(m == NULL);
        FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
        FUZZ_CHECK(skiff_status_code(st) == SKIFF_CODE_INVALID_ARG ||
                   skiff_status_code(st) == SKIFF_CODE_UNSUPPORTED);
        skiff_status_free(st);
        return 0;
    }
    FUZZ_CHECK(m != NULL && m->n_items <= 128 && m->n_pairs <= 64);
    skiff__buf b = {0};
    st = encode(form, m, &b);
    FUZZ_CHECK(st == NULL);
    skiff__pipe_msg *back = NULL;
    st = decode(form, b.data, b.len, &lim, &back);
    FUZZ_CHECK(st == NULL);
    FUZZ_CHECK(same_msg(m, back));
    skiff__pipe_msg_free(back);
    skiff__buf_free(&b);
    skiff__pipe_msg_free(m);
    return 0;
}
