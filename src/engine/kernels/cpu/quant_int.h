/* quant_int.h - the integer helpers quant.c (QuantizeLinear, ...,
 * QLinearMatMul) shares with quant_conv.c (ConvInteger, QLinearConv), and
 * the checks of constant scales and zero points conv.c (QConv) shares with
 * quant_matmul.c (QMatMul). */
#ifndef SKIFF_QUANT_INT_H
#define SKIFF_QUANT_INT_H

#include <math.h>

#include "../../engine_int.h"

/* uint8's or int8's range. */
static inline void qrange(skiff_dtype_t dt, int32_t *lo, int32_t *hi)
{
    if (dt == SKIFF_DTYPE_INT8) {
        *lo = -128;
        *hi = 127;
    } else {
        *lo = 0;
        *hi = 255;
    }
}

static inline bool is_q8(skiff_dtype_t dt)
{
    return dt == SKIFF_DTYPE_UINT8 || dt == SKIFF_DTYPE_INT8;
}

static inline bool is_scale_type(skiff_dtype_t dt)
{
    return dt == SKIFF_DTYPE_FLOAT32 || skiff__dtype_is_half(dt);
}

/* Saturates an integral double (or NaN) to [lo, hi]; NaN gives `nan_to`. */
static inline int32_t sat_d(double v, int32_t lo, int32_t hi, int32_t nan_to)
{
    if (v != v)
        return nan_to;
    return v <= (double)lo ? lo : v >= (double)hi ? hi : (int32_t)v;
}

static inline void store_q(void *y, skiff_dtype_t dt, int64_t i, int32_t v)
{
    if (dt == SKIFF_DTYPE_INT8)
        ((int8_t *)y)[i] = (int8_t)v;
    else
        ((uint8_t *)y)[i] = (uint8_t)v;
}

/* QLinearMatMul's and QLinearConv's requantization of an int32 sum:
 * round_half_even(sum * mult) + zy in float64 (mult in float32), saturated
 * to [lo, hi]. */
static inline int32_t requant(int32_t sum, float mult, int32_t zy, int32_t lo, int32_t hi)
{
    return sat_d(nearbyint((double)sum * (double)mult) + (double)zy, lo, hi, zy);
}

/* Input k of node n when it is a constant of the graph, else NULL. */
static inline const skiff_tensor_t *const_in(const skiff__graph *g, const skiff__node *n, int k)
{
    return k < n->n_in && n->in[k] >= 0 && n->in[k] < g->n_values ? g->values[n->in[k]].constant
                                                                  : NULL;
}

static inline bool is_u8s8(const skiff_tensor_t *t)
{
    return t && (t->dtype == SKIFF_DTYPE_UINT8 || t->dtype == SKIFF_DTYPE_INT8);
}

/* A positive finite float scale of 1 (or `many`) values. */
static inline bool good_scales(const skiff_tensor_t *t, int64_t many)
{
    if (!t || t->dtype != SKIFF_DTYPE_FLOAT32 || t->ndim > 1)
        return false;
    int64_t n = skiff_tensor_numel(t);
    if (n != 1 && n != many)
        return false;
    for (int64_t i = 0; i < n; i++) {
        float v = ((const float *)t->data)[i];
        if (!(v > 0.f) || !isfinite(v))
            return false;
    }
    return true;
}

#endif
