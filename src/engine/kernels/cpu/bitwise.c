/* bitwise.c - BitShift (opset 11): X shifted left or right by Y bits, for
 * unsigned integers, with numpy broadcasting. A shift by the type's width or
 * more gives 0 (in C it would be undefined). */
#include <string.h>

#include "../../engine_int.h"

/* Per-dimension element strides of a tensor broadcast to an n-dim shape
 * (0 along a broadcast dimension). */
static void bcast_strides(const skiff_tensor_t *t, int n, const int64_t *od, int64_t *st)
{
    int64_t s = 1;
    for (int i = n - 1; i >= 0; i--) {
        int ti = i - (n - t->ndim);
        int64_t d = ti >= 0 ? t->dims[ti] : 1;
        st[i] = d == 1 && od[i] != 1 ? 0 : s;
        s *= d;
    }
}

static uint64_t shift(uint64_t x, uint64_t y, unsigned bits, bool left)
{
    if (y >= bits)
        return 0;
    uint64_t mask = bits == 64 ? ~(uint64_t)0 : (((uint64_t)1 << bits) - 1);
    return (left ? x << y : x >> y) & mask;
}

static uint64_t load_u(const void *p, size_t es, int64_t i)
{
    switch (es) {
    case 1: return ((const uint8_t *)p)[i];
    case 2: return ((const uint16_t *)p)[i];
    case 4: return ((const uint32_t *)p)[i];
    default: return ((const uint64_t *)p)[i];
    }
}

static void store_u(void *p, size_t es, int64_t i, uint64_t v)
{
    switch (es) {
    case 1: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case 2: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case 4: ((uint32_t *)p)[i] = (uint32_t)v; break;
    default: ((uint64_t *)p)[i] = v; break;
    }
}

static skiff_status_t *run_bitshift(skiff__kctx *ctx)
{
    const skiff_tensor_t *X, *Y;
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "X", &X)) || (st = skiff__kctx_input(ctx, 1, "Y", &Y)))
        return st;
    const skiff_dtype_t dt = X->dtype;
    if (dt != SKIFF_DTYPE_UINT8 && dt != SKIFF_DTYPE_UINT16 && dt != SKIFF_DTYPE_UINT32 &&
        dt != SKIFF_DTYPE_UINT64)
        return skiff__kctx_bad_dtype(ctx, "X", dt);
    if (Y->dtype != dt)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'Y': expected %s as 'X', got %s",
                           skiff_dtype_name(dt), skiff_dtype_name(Y->dtype));
    const char *dir = skiff__attr_str(ctx->node, "direction", NULL);
    if (!dir || (strcmp(dir, "LEFT") != 0 && strcmp(dir, "RIGHT") != 0))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'direction': expected 'LEFT' or 'RIGHT', got %s%s%s",
                           dir ? "'" : "", dir ? dir : "none", dir ? "'" : "");
    const bool left = strcmp(dir, "LEFT") == 0;
    int n;
    int64_t od[SKIFF_MAX_DIMS], sx[SKIFF_MAX_DIMS], sy[SKIFF_MAX_DIMS], pos[SKIFF_MAX_DIMS] = {0};
    char a[64], b[64];
    if (!skiff__broadcast_shape(X->ndim, X->dims, Y->ndim, Y->dims, &n, od))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "inputs 'X' %s and 'Y' %s do not broadcast",
                           skiff_shape_str(X->ndim, X->dims, a, sizeof(a)),
                           skiff_shape_str(Y->ndim, Y->dims, b, sizeof(b)));
    skiff_tensor_t *Z = skiff__kctx_output(ctx, 0, dt, n, od, &st);
    if (!Z)
        return st;
    bcast_strides(X, n, od, sx);
    bcast_strides(Y, n, od, sy);
    const size_t es = skiff_dtype_size(dt);
    const unsigned bits = (unsigned)(es * 8);
    const int64_t total = skiff_tensor_numel(Z);
    int64_t ix = 0, iy = 0;
    for (int64_t i = 0; i < total; i++) {
        store_u(Z->data, es, i,
                shift(load_u(X->data, es, ix), load_u(Y->data, es, iy), bits, left));
        for (int d = n - 1; d >= 0; d--) { /* odometer over the output shape */
            ix += sx[d];
            iy += sy[d];
            if (++pos[d] < od[d])
                break;
            ix -= sx[d] * od[d];
            iy -= sy[d] * od[d];
            pos[d] = 0;
        }
    }
    return NULL;
}

const skiff__op skiff__ops_bitwise[] = {
    {.type = "BitShift", .min_opset = 11, .run = run_bitshift},
    {.type = NULL},
};
