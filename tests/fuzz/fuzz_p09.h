/* fuzz_p09.h - what the two Paddle 0.9 fuzz targets (JSON and protobuf
 * binary) share: the model descriptions byte 0 of an input picks, and a
 * bit-for-bit tensor comparison (NaNs equal to NaNs). */
#ifndef SKIFF_FUZZ_P09_H
#define SKIFF_FUZZ_P09_H

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "core/core.h"
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

#endif
