/* quant_int.h - the integer helpers quant.c (QuantizeLinear, ...,
 * QLinearMatMul) shares with quant_conv.c (ConvInteger, QLinearConv). */
#ifndef SKIFF_QUANT_INT_H
#define SKIFF_QUANT_INT_H

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

#endif
