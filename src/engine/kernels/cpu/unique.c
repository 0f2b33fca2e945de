/* unique.c - Unique (opset 11): the distinct elements of a tensor, or the
 * distinct slices along an axis, with the index of each one's first
 * occurrence, each input element's (slice's) place in the result and the
 * count of each.
 *
 * The items (elements, or slices compared lexicographically in C order) are
 * merge-sorted by content, which is stable, so the first item of each run
 * of equal ones is its first occurrence. 'sorted' = 1 keeps that ascending
 * order; 'sorted' = 0 reorders the runs by first occurrence. Floats compare
 * by value (-0 equals 0) and NaN equals NaN, after every number; strings
 * compare bytewise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine_int.h"

typedef struct uq_ctx {
    const skiff_tensor_t *x;
    int64_t outer, inner, len; /* item k is x[o, k, i] for o < outer, i < inner */
} uq_ctx;

static int cmp_elem(const skiff_tensor_t *x, int64_t a, int64_t b)
{
    switch (x->dtype) {
    case SKIFF_DTYPE_STRING: {
        const char *sa = ((char *const *)x->data)[a], *sb = ((char *const *)x->data)[b];
        int c = strcmp(sa ? sa : "", sb ? sb : "");
        return (c > 0) - (c < 0);
    }
    case SKIFF_DTYPE_UINT64: {
        uint64_t va = ((const uint64_t *)x->data)[a], vb = ((const uint64_t *)x->data)[b];
        return (va > vb) - (va < vb);
    }
    case SKIFF_DTYPE_FLOAT32:
    case SKIFF_DTYPE_FLOAT64:
    case SKIFF_DTYPE_FLOAT16:
    case SKIFF_DTYPE_BFLOAT16: {
        double va = skiff__tensor_get_f64(x, a), vb = skiff__tensor_get_f64(x, b);
        bool na = isnan(va), nb = isnan(vb);
        if (na || nb)
            return na - nb;
        return (va > vb) - (va < vb);
    }
    default: {
        int64_t va = skiff__tensor_get_i64(x, a), vb = skiff__tensor_get_i64(x, b);
        return (va > vb) - (va < vb);
    }
    }
}

static int cmp_item(const uq_ctx *c, int64_t a, int64_t b)
{
    for (int64_t o = 0; o < c->outer; o++) {
        int64_t ba = (o * c->len + a) * c->inner, bb = (o * c->len + b) * c->inner;
        for (int64_t i = 0; i < c->inner; i++) {
            int r = cmp_elem(c->x, ba + i, bb + i);
            if (r)
                return r;
        }
    }
    return 0;
}

/* Stable bottom-up merge sort of idx[0..n) by item content; tmp is n long. */
static void merge_sort(const uq_ctx *c, int64_t *idx, int64_t *tmp, int64_t n)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = cmp_item(c, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof(int64_t));
    }
}

static int cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

/* Copies item `src` of x to slot `dst` of y (both laid out as in uq_ctx). */
static skiff_status_t *copy_item(const skiff__kctx *ctx, const uq_ctx *c, skiff_tensor_t *y,
                                 int64_t ylen, int64_t dst, int64_t src)
{
    const size_t es = skiff_dtype_size(c->x->dtype);
    for (int64_t o = 0; o < c->outer; o++) {
        int64_t s = (o * c->len + src) * c->inner, d = (o * ylen + dst) * c->inner;
        if (c->x->dtype == SKIFF_DTYPE_STRING) {
            for (int64_t i = 0; i < c->inner; i++) {
                const char *v = ((char *const *)c->x->data)[s + i];
                if (!(((char **)y->data)[d + i] = skiff__strdup(v ? v : "")))
                    return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
            }
        } else {
            memcpy((char *)y->data + (size_t)d * es, (const char *)c->x->data + (size_t)s * es,
                   (size_t)c->inner * es);
        }
    }
    return NULL;
}

static skiff_status_t *run_unique(skiff__kctx *ctx)
{
    const skiff_tensor_t *X;
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "X", &X)))
        return st;
    if (skiff_dtype_size(X->dtype) == 0)
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);
    int64_t sorted = skiff__attr_int(ctx->node, "sorted", 1);
    if (sorted != 0 && sorted != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'sorted': expected 0 or 1, got %lld", (long long)sorted);
    const skiff__attr *ax = skiff__attr_find(ctx->node, "axis");
    uq_ctx c = {.x = X, .outer = 1, .inner = 1, .len = skiff_tensor_numel(X)};
    int axis = -1;
    if (ax && ax->type == SKIFF_ATTR_INT) {
        if (!skiff__norm_axis(ax->i, X->ndim, &axis))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'axis': %lld is out of range for rank %d",
                               (long long)ax->i, X->ndim);
        c.len = X->dims[axis];
        for (int i = 0; i < axis; i++)
            c.outer *= X->dims[i];
        for (int i = axis + 1; i < X->ndim; i++)
            c.inner *= X->dims[i];
    }
    const int64_t m = c.len;
    if ((st = skiff__kctx_cost(ctx, (double)skiff_tensor_numel(X) * (log2((double)m + 1.0) + 1.0))))
        return st;
    /* idx: sorted order; tmp: merge buffer, then the run of each item;
     * first: each run's first occurrence; cnt: each run's size; by_first and
     * slot_cnt: the same two in first-occurrence order ('sorted' = 0). */
    int64_t *idx = skiff__kctx_scratch(ctx, (size_t)(m > 0 ? m : 1) * 6 * sizeof(int64_t));
    if (!idx)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory for %lld items",
                           (long long)m);
    int64_t *tmp = idx + m, *first = tmp + m, *cnt = first + m, *by_first = cnt + m;
    int64_t *slot_cnt = by_first + m;
    for (int64_t i = 0; i < m; i++)
        idx[i] = i;
    merge_sort(&c, idx, tmp, m);
    int64_t u = 0;
    for (int64_t i = 0; i < m; i++) {
        if (i == 0 || cmp_item(&c, idx[i - 1], idx[i]) != 0) {
            first[u] = idx[i];
            cnt[u++] = 0;
        }
        cnt[u - 1]++;
        tmp[idx[i]] = u - 1; /* run of item idx[i], in sorted order */
    }
    if (!sorted) {
        /* Output slot of each sorted run: the rank of its first occurrence. */
        for (int64_t r = 0; r < u; r++)
            by_first[r] = first[r];
        qsort(by_first, (size_t)u, sizeof(int64_t), cmp_i64);
        for (int64_t r = 0; r < u; r++) {
            const int64_t *hit = bsearch(&first[r], by_first, (size_t)u, sizeof(int64_t), cmp_i64);
            idx[r] = hit - by_first; /* idx is free once the runs are known */
            slot_cnt[idx[r]] = cnt[r];
        }
        for (int64_t i = 0; i < m; i++)
            tmp[i] = idx[tmp[i]];
        first = by_first;
        cnt = slot_cnt;
    }
    int64_t yd[SKIFF_MAX_DIMS], ud = u;
    int yn = 1;
    if (axis >= 0) {
        memcpy(yd, X->dims, sizeof(int64_t) * (size_t)X->ndim);
        yd[axis] = u;
        yn = X->ndim;
    } else {
        yd[0] = u;
    }
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, yn, yd, &st);
    if (!Y)
        return st;
    for (int64_t r = 0; r < u; r++)
        if ((st = copy_item(ctx, &c, Y, u, r, first[r])))
            return st;
    const int64_t *src[3] = {first, tmp, cnt};
    const int64_t len[3] = {u, m, u};
    for (int k = 0; k < 3 && k + 1 < ctx->n_out; k++) {
        int64_t d = k == 1 ? m : ud;
        skiff_tensor_t *T = skiff__kctx_output(ctx, k + 1, SKIFF_DTYPE_INT64, 1, &d, &st);
        if (!T)
            return st;
        if (len[k])
            memcpy(T->data, src[k], (size_t)len[k] * sizeof(int64_t));
    }
    return NULL;
}

const skiff__op skiff__ops_unique[] = {
    {.type = "Unique", .min_opset = 11, .run = run_unique},
    {.type = NULL},
};
