/* paddle_quant.c - Paddle's fake quantization ops, computed exactly in fp32
 * (domain "paddle"): the values a quantization-aware model was trained to
 * see, so a slim model gives what Paddle gives.
 *
 * FakeQuant(X [, Scale]) attributes:
 *   mode        "qdq" clip, round, scale back: round(bin / s * clip(x, -s, s)) * s / bin
 *               "q"   the integer level only:  round(bin / s * clip(x, -s, s))
 *               "dq"  levels back to values:   x * s / range
 *   bit_length  bin = 2^(bit_length-1) - 1 (qdq, q)
 *   range       dq's divisor (default bin)
 *   round_type  1: ties away from zero, after the clip; 0: ties to even,
 *               clipped to [-bin, bin] after rounding
 *   quant_axis  -1: one scale for the tensor; else one per index of that axis
 * Without Scale, s is the absolute maximum of X (per channel when
 * quant_axis >= 0); with it, Scale holds one value or one per channel.
 * 1/s is Paddle's: 1 / (s + 1e-6) when s <= 1e-30. Constant inputs (the
 * weights' quantization) fold at load, so only activations cost time. */
#include <math.h>
#include <string.h>

#include "../../engine_int.h"

static float inverse(float s) { return s <= 1e-30f ? 1.0f / (s + 1e-6f) : 1.0f / s; }

typedef enum { M_QDQ, M_Q, M_DQ } quant_mode;

static void apply(const float *x, float *y, int64_t n, float s, quant_mode mode, float bin,
                  float range, int round_type)
{
    if (mode == M_DQ) {
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * s / range;
        return;
    }
    const float k = bin * inverse(s);
    for (int64_t i = 0; i < n; i++) {
        float q;
        if (round_type == 0) {
            q = nearbyintf(k * x[i]);
            q = q > bin ? bin : q < -bin ? -bin : q;
        } else {
            float v = x[i] > s ? s : x[i];
            v = v < -s ? -s : v;
            q = roundf(k * v);
        }
        y[i] = mode == M_Q ? q : q * s / bin;
    }
}

static skiff_status_t *run_fake_quant(skiff__kctx *ctx)
{
    const skiff_tensor_t *X, *S = skiff__kctx_opt(ctx, 1);
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "X", &X);
    if (st)
        return st;
    if (X->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);
    if (S && S->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff__kctx_bad_dtype(ctx, "Scale", S->dtype);
    const char *m = skiff__attr_str(ctx->node, "mode", "qdq");
    quant_mode mode = !strcmp(m, "q") ? M_Q : !strcmp(m, "dq") ? M_DQ : M_QDQ;
    int64_t bits = skiff__attr_int(ctx->node, "bit_length", 8);
    if (bits < 2 || bits > 16)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "bit_length %lld is not in [2, 16]",
                           (long long)bits);
    float bin = (float)((1 << (bits - 1)) - 1);
    float range = skiff__attr_float(ctx->node, "range", bin);
    int round_type = (int)skiff__attr_int(ctx->node, "round_type", 1);
    int64_t axis = skiff__attr_int(ctx->node, "quant_axis", -1);
    if (mode == M_DQ && !S)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "dequantization needs input 'Scale'");
    if (axis >= X->ndim || axis < -1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "quant_axis %lld of a rank-%d input 'X'",
                           (long long)axis, X->ndim);
    int64_t outer = 1, ch = 1, inner = 1;
    if (axis >= 0) {
        for (int i = 0; i < axis; i++)
            outer *= X->dims[i];
        ch = X->dims[axis];
        for (int i = (int)axis + 1; i < X->ndim; i++)
            inner *= X->dims[i];
    } else {
        inner = skiff_tensor_numel(X);
    }
    if (S) {
        int64_t ns = skiff_tensor_numel(S);
        if (ns != 1 && ns != ch)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'Scale' has %lld values, expected 1 or %lld (the channels "
                               "of axis %lld of 'X')",
                               (long long)ns, (long long)ch, (long long)axis);
    }
    skiff_tensor_t *Y = skiff__kctx_output_over(ctx, 0, 0, X->dtype, X->ndim, X->dims, &st);
    if (!Y)
        return st;
    const float *x = X->data;
    float *y = Y->data;
    for (int64_t c = 0; c < ch; c++) {
        float s;
        if (S) {
            s = ((const float *)S->data)[skiff_tensor_numel(S) == 1 ? 0 : c];
        } else {
            s = 0.0f;
            for (int64_t o = 0; o < outer; o++)
                for (int64_t i = 0; i < inner; i++) {
                    float a = fabsf(x[(o * ch + c) * inner + i]);
                    s = a > s ? a : s;
                }
        }
        if (outer == 1) {
            /* One run of `inner` values: split it across the threads. */
            const int64_t block = 16384, nb = (inner + block - 1) / block;
            const float *xc = x + c * inner;
            float *yc = y + c * inner;
            int threads = skiff__kctx_threads(ctx);
#pragma omp parallel for num_threads(threads) if (threads > 1 && nb > 1)
            for (int64_t b = 0; b < nb; b++) {
                int64_t n = inner - b * block < block ? inner - b * block : block;
                apply(xc + b * block, yc + b * block, n, s, mode, bin, range, round_type);
            }
            continue;
        }
        for (int64_t o = 0; o < outer; o++) {
            int64_t base = (o * ch + c) * inner;
            apply(x + base, y + base, inner, s, mode, bin, range, round_type);
        }
    }
    return NULL;
}

const skiff__op skiff__ops_paddle_quant[] = {
    {.type = "FakeQuant", .domain = SKIFF_DOMAIN_PADDLE, .min_opset = 1, .run = run_fake_quant},
    {.type = NULL},
};
