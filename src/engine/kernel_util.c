/* kernel_util.c - helpers shared by all kernels: attributes, errors, inputs,
 * axes, broadcasting, typed element access. A helper that two kernel files
 * need goes here (or, when it sits in a per-element loop, into engine_int.h
 * as static inline), never into a second copy. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine_int.h"

static skiff_status_t *node_verr(const skiff__node *node, skiff_code_t code, const char *fmt,
                                 va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return skiff_status_new(code, "node '%s' (%s): %s", node->name ? node->name : "", node->op_type,
                            msg);
}

skiff_status_t *skiff__kerr(const skiff__kctx *ctx, skiff_code_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    skiff_status_t *st = node_verr(ctx->node, code, fmt, ap);
    va_end(ap);
    return st;
}

skiff_status_t *skiff__node_err(const skiff__node *node, skiff_code_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    skiff_status_t *st = node_verr(node, code, fmt, ap);
    va_end(ap);
    return st;
}

skiff_status_t *skiff__kctx_need(const skiff__kctx *ctx, int i, const char *what)
{
    if (i >= ctx->n_in || !ctx->in[i])
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "missing required input %d '%s'", i, what);
    return NULL;
}

skiff_status_t *skiff__kctx_bad_dtype(const skiff__kctx *ctx, const char *name, skiff_dtype_t dt)
{
    return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input '%s': dtype %s is not supported", name,
                       skiff_dtype_name(dt));
}

skiff_status_t *skiff__kctx_input(const skiff__kctx *ctx, int i, const char *name,
                                  const skiff_tensor_t **out)
{
    *out = NULL;
    if (i >= ctx->n_in || !ctx->in[i] || (!ctx->in[i]->data && skiff_tensor_numel(ctx->in[i]) != 0))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "missing required input '%s'", name);
    if (skiff_tensor_numel(ctx->in[i]) < 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input '%s': invalid shape", name);
    *out = ctx->in[i];
    return NULL;
}

/* The buffer skiff__kcache_buf keeps in a node's cache slot. */
typedef struct kcache_buf {
    void *buf;
    size_t cap;
} kcache_buf;

void skiff__kcache_buf_free(void *cache)
{
    kcache_buf *s = cache;
    if (!s)
        return;
    skiff__free(s->buf);
    skiff__free(s);
}

void *skiff__kcache_buf(skiff__kctx *ctx, size_t bytes, size_t keep, skiff_status_t **st)
{
    kcache_buf *s = ctx->cache ? *ctx->cache : NULL;
    if (!ctx->cache) {
        *st = skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "no kernel cache slot");
        return NULL;
    }
    if (!s) {
        if (!(s = skiff__calloc(1, sizeof(*s)))) {
            *st = skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
            return NULL;
        }
        *ctx->cache = s;
    }
    if (bytes == 0)
        bytes = 64;
    if (s->cap < bytes) {
        void *nb = skiff__aligned_alloc(bytes);
        if (!nb) {
            *st = skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                              "out of memory for %zu bytes of scratch", bytes);
            return NULL;
        }
        if (keep && s->buf)
            memcpy(nb, s->buf, keep < s->cap ? keep : s->cap);
        skiff__free(s->buf);
        s->buf = nb;
        s->cap = bytes;
    }
    return s->buf;
}

const skiff__attr *skiff__attr_find(const skiff__node *node, const char *name)
{
    for (int i = 0; i < node->n_attrs; i++)
        if (strcmp(node->attrs[i].name, name) == 0)
            return &node->attrs[i];
    return NULL;
}

int64_t skiff__attr_int(const skiff__node *node, const char *name, int64_t dflt)
{
    const skiff__attr *a = skiff__attr_find(node, name);
    return a && a->type == SKIFF_ATTR_INT ? a->i : dflt;
}

float skiff__attr_float(const skiff__node *node, const char *name, float dflt)
{
    const skiff__attr *a = skiff__attr_find(node, name);
    if (!a)
        return dflt;
    if (a->type == SKIFF_ATTR_FLOAT)
        return a->f;
    if (a->type == SKIFF_ATTR_INT)
        return (float)a->i;
    return dflt;
}

const char *skiff__attr_str(const skiff__node *node, const char *name, const char *dflt)
{
    const skiff__attr *a = skiff__attr_find(node, name);
    return a && a->type == SKIFF_ATTR_STRING ? a->s : dflt;
}

int skiff__attr_ints(const skiff__node *node, const char *name, const int64_t **out)
{
    const skiff__attr *a = skiff__attr_find(node, name);
    if (!a || a->type != SKIFF_ATTR_INTS) {
        *out = NULL;
        return -1;
    }
    *out = a->ints;
    return a->n;
}

int skiff__attr_floats(const skiff__node *node, const char *name, const float **out)
{
    const skiff__attr *a = skiff__attr_find(node, name);
    if (!a || a->type != SKIFF_ATTR_FLOATS) {
        *out = NULL;
        return -1;
    }
    *out = a->floats;
    return a->n;
}

bool skiff__norm_axis(int64_t axis, int rank, int *out)
{
    if (axis < -(int64_t)rank || axis >= rank)
        return false;
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

bool skiff__broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *out_n,
                            int64_t *out)
{
    int n = na > nb ? na : nb;
    if (n > SKIFF_MAX_DIMS)
        return false;
    for (int i = 0; i < n; i++) {
        int ia = i - (n - na), ib = i - (n - nb);
        int64_t da = ia >= 0 ? a[ia] : 1;
        int64_t db = ib >= 0 ? b[ib] : 1;
        if (da == db || db == 1)
            out[i] = da;
        else if (da == 1)
            out[i] = db;
        else
            return false;
    }
    *out_n = n;
    return true;
}

int64_t skiff__tensor_get_i64(const skiff_tensor_t *t, int64_t i)
{
    switch (t->dtype) {
    case SKIFF_DTYPE_INT64: return ((const int64_t *)t->data)[i];
    case SKIFF_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case SKIFF_DTYPE_INT16: return ((const int16_t *)t->data)[i];
    case SKIFF_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case SKIFF_DTYPE_UINT8:
    case SKIFF_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    case SKIFF_DTYPE_UINT16: return ((const uint16_t *)t->data)[i];
    case SKIFF_DTYPE_UINT32: return ((const uint32_t *)t->data)[i];
    case SKIFF_DTYPE_UINT64: return (int64_t)((const uint64_t *)t->data)[i];
    case SKIFF_DTYPE_FLOAT32: return (int64_t)((const float *)t->data)[i];
    case SKIFF_DTYPE_FLOAT64: return (int64_t)((const double *)t->data)[i];
    default: return 0;
    }
}

double skiff__tensor_get_f64(const skiff_tensor_t *t, int64_t i)
{
    switch (t->dtype) {
    case SKIFF_DTYPE_FLOAT32: return ((const float *)t->data)[i];
    case SKIFF_DTYPE_FLOAT64: return ((const double *)t->data)[i];
    case SKIFF_DTYPE_FLOAT16: return skiff__f16_to_f32(((const uint16_t *)t->data)[i]);
    case SKIFF_DTYPE_BFLOAT16: return skiff__bf16_to_f32(((const uint16_t *)t->data)[i]);
    case SKIFF_DTYPE_UINT64: return (double)((const uint64_t *)t->data)[i];
    default: return (double)skiff__tensor_get_i64(t, i);
    }
}
