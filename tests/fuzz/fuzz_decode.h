/* fuzz_decode.h - shared by the request-decoder fuzz targets
 * (fuzz_json_paddle.c, fuzz_kserve.c). */
#ifndef SKIFF_FUZZ_DECODE_H
#define SKIFF_FUZZ_DECODE_H

#include <string.h>

#include "fuzz.h"
#include "proto/codec.h"

/* The streaming decoder must read every body it accepts exactly as the
 * jansson decoder does (codec_json.c): same inputs in the same order, names,
 * specs, shapes, bytes (so -0.0 and 1e-320 compare as written), outputs and
 * request fields. */
static inline void check_same(const skiff__infer_request *a, const skiff__infer_request *b)
{
    FUZZ_CHECK(a->n_inputs == b->n_inputs && a->n_outputs == b->n_outputs);
    for (int i = 0; i < a->n_inputs; i++) {
        const skiff__infer_input *x = &a->inputs[i], *y = &b->inputs[i];
        FUZZ_CHECK(strcmp(x->name, y->name) == 0 && x->spec == y->spec && x->n_lod == y->n_lod);
        FUZZ_CHECK((x->lod == NULL) == (y->lod == NULL));
        if (x->lod)
            FUZZ_CHECK(memcmp(x->lod, y->lod, sizeof(int64_t) * (size_t)x->n_lod) == 0);
        const skiff_tensor_t *s = x->tensor, *t = y->tensor;
        FUZZ_CHECK(s->dtype == t->dtype && s->ndim == t->ndim && s->nbytes == t->nbytes);
        FUZZ_CHECK(memcmp(s->dims, t->dims, sizeof(int64_t) * (size_t)s->ndim) == 0);
        FUZZ_CHECK(s->dtype != SKIFF_DTYPE_STRING); /* the fast path leaves strings to jansson */
        FUZZ_CHECK(s->nbytes == 0 || memcmp(s->data, t->data, s->nbytes) == 0);
    }
    for (int i = 0; i < a->n_outputs; i++)
        FUZZ_CHECK(strcmp(a->outputs[i].name, b->outputs[i].name) == 0 &&
                   a->outputs[i].spec == b->outputs[i].spec &&
                   a->outputs[i].binary == b->outputs[i].binary);
    FUZZ_CHECK(a->batch == b->batch && a->binary_output_all == b->binary_output_all &&
               a->log_id == b->log_id && a->timeout_us == b->timeout_us);
    FUZZ_CHECK((a->id == NULL) == (b->id == NULL) && (!a->id || strcmp(a->id, b->id) == 0));
    FUZZ_CHECK((a->model == NULL) == (b->model == NULL));
}

#endif
