/* pool.c - MaxPool, AveragePool, LpPool and their Global forms.
 *
 * float32 MaxPool / AveragePool on 1-3 spatial dims run as oneDNN pooling
 * primitives (cached per input shape, plain layouts). Everything oneDNN
 * cannot express with ONNX's exact semantics runs in plain C: the Indices
 * output, int8/uint8/double data, LpPool, more than 3 spatial dims, and
 * count_include_pad windows that ceil_mode pushes past the explicit pads
 * (ONNX does not count those positions, oneDNN would). Global pools are a
 * plain reduction per (n, c) plane.
 *
 * Between convolutions the tensors may be held channels-last (node->x_cl,
 * y_cl; see skiff__plan_layouts): oneDNN pools them in that layout, the
 * plain C paths go through a row-major copy, and the global pools reduce
 * them in place. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "dnnl_util.h"

#define POOL_MAX_SP (SKIFF_MAX_DIMS - 2)

typedef enum { POOL_MAX, POOL_AVG, POOL_LP } pool_kind;

typedef struct pool_cfg {
    pool_kind kind;
    int nsp;
    int64_t n, c;
    int64_t in[POOL_MAX_SP], out[POOL_MAX_SP];
    int64_t k[POOL_MAX_SP], s[POOL_MAX_SP], d[POOL_MAX_SP], pb[POOL_MAX_SP], pe[POOL_MAX_SP];
    bool include_pad, col_major;
    double p; /* LpPool norm; a float attribute in opset 1 */
} pool_cfg;

static double lp_norm(const skiff__node *node)
{
    const skiff__attr *a = skiff__attr_find(node, "p");
    if (!a)
        return 2.0;
    return a->type == SKIFF_ATTR_FLOAT ? (double)a->f : (double)a->i;
}

/* Reads attributes and computes output dims and pads. */
static skiff_status_t *pool_setup(const skiff__kctx *ctx, const skiff_tensor_t *X, pool_kind kind,
                                  pool_cfg *pc)
{
    const skiff__node *node = ctx->node;
    memset(pc, 0, sizeof(*pc));
    pc->kind = kind;
    if (X->ndim < 3)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'X': expected rank >= 3 (N, C, spatial...), got %d", X->ndim);
    int nsp = X->ndim - 2;
    pc->nsp = nsp;
    pc->n = X->dims[0];
    pc->c = X->dims[1];
    const int64_t *v;
    int n = skiff__attr_ints(node, "kernel_shape", &v);
    if (n != nsp)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'kernel_shape': expected %d values, got %d", nsp,
                           n < 0 ? 0 : n);
    for (int i = 0; i < nsp; i++) {
        if (v[i] < 1)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'kernel_shape': %lld < 1",
                               (long long)v[i]);
        pc->k[i] = v[i];
        pc->s[i] = 1;
        pc->d[i] = 1;
    }
    static const char *lists[] = {"strides", "dilations"};
    for (int li = 0; li < 2; li++) {
        n = skiff__attr_ints(node, lists[li], &v);
        if (n < 0)
            continue;
        if (n != nsp)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute '%s': expected %d values, got %d", lists[li], nsp, n);
        for (int i = 0; i < nsp; i++) {
            if (v[i] < 1)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute '%s': %lld < 1",
                                   lists[li], (long long)v[i]);
            (li == 0 ? pc->s : pc->d)[i] = v[i];
        }
    }
    const char *ap = skiff__attr_str(node, "auto_pad", "NOTSET");
    bool same_u = strcmp(ap, "SAME_UPPER") == 0, same_l = strcmp(ap, "SAME_LOWER") == 0;
    bool valid = strcmp(ap, "VALID") == 0;
    if (!same_u && !same_l && !valid && ap[0] && strcmp(ap, "NOTSET") != 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'auto_pad': unknown value '%s'",
                           ap);
    if (!same_u && !same_l && !valid) {
        n = skiff__attr_ints(node, "pads", &v);
        if (n >= 0) {
            if (n != 2 * nsp)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'pads': expected %d values, got %d", 2 * nsp, n);
            for (int i = 0; i < 2 * nsp; i++)
                if (v[i] < 0)
                    return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                       "attribute 'pads': negative padding %lld", (long long)v[i]);
            for (int i = 0; i < nsp; i++) {
                pc->pb[i] = v[i];
                pc->pe[i] = v[i + nsp];
            }
        }
    }
    bool ceil_mode = skiff__attr_int(node, "ceil_mode", 0) != 0;
    pc->include_pad = skiff__attr_int(node, "count_include_pad", 0) != 0;
    pc->col_major = skiff__attr_int(node, "storage_order", 0) != 0;
    pc->p = lp_norm(node);
    for (int i = 0; i < nsp; i++) {
        int64_t in = X->dims[2 + i], s = pc->s[i], dk = (pc->k[i] - 1) * pc->d[i] + 1;
        pc->in[i] = in;
        if (same_u || same_l) {
            int64_t o = (in + s - 1) / s;
            int64_t total = (o - 1) * s + dk - in;
            if (total < 0)
                total = 0;
            pc->pb[i] = same_u ? total / 2 : total - total / 2;
            pc->pe[i] = total - pc->pb[i];
            pc->out[i] = o;
            continue;
        }
        int64_t span = in + pc->pb[i] + pc->pe[i] - dk;
        if (span < 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'X': spatial dim %d (%lld, padded %lld) is smaller than the "
                               "kernel (%lld)",
                               i, (long long)in, (long long)(in + pc->pb[i] + pc->pe[i]),
                               (long long)dk);
        int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
        /* a last window starting past the input and its left pad covers only
         * padding; drop it (PyTorch and ONNX >= 1.15 agree) */
        if (ceil_mode && o > 1 && (o - 1) * s >= in + pc->pb[i])
            o--;
        pc->out[i] = o;
    }
    return NULL;
}

/* ---- plain C ---- */

/* One output element: walks its window with an odometer over nsp dims.
 * Returns the reduced value; *arg gets the argmax's flat spatial index. */
#define POOL_PLAIN(NAME, T, ACC, LOWEST)                                                           \
    static void NAME(const pool_cfg *pc, const T *x, T *y, int64_t *ind, int threads)              \
    {                                                                                              \
        const int nsp = pc->nsp;                                                                   \
        int64_t in_inner = 1, out_inner = 1;                                                       \
        for (int i = 0; i < nsp; i++) {                                                            \
            in_inner *= pc->in[i];                                                                 \
            out_inner *= pc->out[i];                                                               \
        }                                                                                          \
        int64_t total = pc->n * pc->c * out_inner;                                                 \
        _Pragma("omp parallel for num_threads(threads) if (total > 4096)") for (int64_t t = 0;     \
                                                                                t < total; t++)    \
        {                                                                                          \
            int64_t plane = t / out_inner, rem = t % out_inner;                                    \
            int64_t start[POOL_MAX_SP] = {0}, kk[POOL_MAX_SP] = {0};                               \
            for (int i = nsp - 1; i >= 0; i--) {                                                   \
                start[i] = (rem % pc->out[i]) * pc->s[i] - pc->pb[i];                              \
                rem /= pc->out[i];                                                                 \
                kk[i] = 0;                                                                         \
            }                                                                                      \
            const T *xp = x + plane * in_inner;                                                    \
            ACC acc = pc->kind == POOL_MAX ? (ACC)(LOWEST) : (ACC)0;                               \
            int64_t best = -1, count = 0;                                                          \
            for (;;) {                                                                             \
                int64_t off = 0, cm = 0, cstride = 1;                                              \
                bool inside = true;                                                                \
                for (int i = 0; i < nsp; i++) {                                                    \
                    int64_t c = start[i] + kk[i] * pc->d[i];                                       \
                    if (c < 0 || c >= pc->in[i]) {                                                 \
                        inside = false;                                                            \
                        break;                                                                     \
                    }                                                                              \
                    off = off * pc->in[i] + c;                                                     \
                    cm += c * cstride;                                                             \
                    cstride *= pc->in[i];                                                          \
                }                                                                                  \
                if (inside) {                                                                      \
                    ACC v = (ACC)xp[off];                                                          \
                    if (pc->kind == POOL_MAX) {                                                    \
                        if (v > acc || best < 0) {                                                 \
                            acc = v;                                                               \
                            best = pc->col_major ? cm : off;                                       \
                        }                                                                          \
                    } else if (pc->kind == POOL_AVG) {                                             \
                        acc += v;                                                                  \
                        count++;                                                                   \
                    } else {                                                                       \
                        ACC a = v < 0 ? -v : v;                                                    \
                        acc += pc->p == 1 ? a : pc->p == 2 ? a * a : (ACC)pow((double)a, pc->p);   \
                    }                                                                              \
                }                                                                                  \
                int i = nsp - 1;                                                                   \
                while (i >= 0 && ++kk[i] == pc->k[i]) {                                            \
                    kk[i] = 0;                                                                     \
                    i--;                                                                           \
                }                                                                                  \
                if (i < 0)                                                                         \
                    break;                                                                         \
            }                                                                                      \
            if (pc->kind == POOL_AVG) {                                                            \
                if (pc->include_pad) {                                                             \
                    /* positions inside the explicitly padded input count */                       \
                    count = 1;                                                                     \
                    for (int i = 0; i < nsp; i++) {                                                \
                        int64_t lo = start[i], hi = start[i] + (pc->k[i] - 1) * pc->d[i] + 1;      \
                        int64_t lim = pc->in[i] + pc->pe[i];                                       \
                        int64_t cnt = 0;                                                           \
                        for (int64_t c = lo; c < hi; c += pc->d[i])                                \
                            cnt += c >= -pc->pb[i] && c < lim;                                     \
                        count *= cnt;                                                              \
                    }                                                                              \
                }                                                                                  \
                acc = count > 0 ? acc / (ACC)count : (ACC)0;                                       \
            } else if (pc->kind == POOL_LP) {                                                      \
                acc = pc->p == 1   ? acc                                                           \
                      : pc->p == 2 ? (ACC)sqrt((double)acc)                                        \
                                   : (ACC)pow((double)acc, 1.0 / pc->p);                           \
            }                                                                                      \
            y[t] = (T)acc;                                                                         \
            if (ind)                                                                               \
                ind[t] = best < 0 ? -1 : plane * in_inner + best;                                  \
        }                                                                                          \
    }

POOL_PLAIN(pool_plain_f32, float, float, -INFINITY)
POOL_PLAIN(pool_plain_f64, double, double, -INFINITY)
POOL_PLAIN(pool_plain_i8, int8_t, int32_t, INT8_MIN)
POOL_PLAIN(pool_plain_u8, uint8_t, int32_t, 0)

/* ---- oneDNN ---- */

/* A row-major X is pooled channels-last: oneDNN pools a plain NCHW
 * tensor with its reference loop only (simple_nchw: ResNet-50's MaxPool
 * after a DequantizeLinear took 16 ms), so X is reordered to NHWC and Y
 * back, both copies in the context's scratch after oneDNN's. */
typedef struct pool_entry {
    dnnl_primitive_t prim, src_reorder, dst_reorder;
    dnnl_memory_t m_src, m_dst, m_scratch, m_src_user, m_dst_user;
    size_t scratch_size, src_off, dst_off, work_bytes;
} pool_entry;

static void pool_entry_free(void *p)
{
    pool_entry *e = p;
    if (!e)
        return;
    dnnl_primitive_t prims[] = {e->prim, e->src_reorder, e->dst_reorder};
    for (size_t i = 0; i < sizeof(prims) / sizeof(prims[0]); i++)
        if (prims[i])
            dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {e->m_src, e->m_dst, e->m_scratch, e->m_src_user, e->m_dst_user};
    for (size_t i = 0; i < sizeof(mems) / sizeof(mems[0]); i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    skiff__free(e);
}

static dnnl_status_t pool_build(const pool_cfg *pc, const skiff_tensor_t *X,
                                const skiff_tensor_t *Y, bool cl, pool_entry *e)
{
    dnnl_engine_t eng = skiff__dnnl_engine();
    dnnl_memory_desc_t src, dst, src_user, dst_user;
    dnnl_dims_t strides, kernel, dil, pl, pr;
    /* the primitive pools channels-last either way (see pool_entry) */
    dnnl_status_t s = skiff__dnnl_md_cl(&src, X->ndim, X->dims);
    if (s == dnnl_success)
        s = skiff__dnnl_md_cl(&dst, Y->ndim, Y->dims);
    if (s == dnnl_success && !cl)
        s = skiff__dnnl_md_plain(&src_user, X->ndim, X->dims);
    if (s == dnnl_success && !cl)
        s = skiff__dnnl_md_plain(&dst_user, Y->ndim, Y->dims);
    if (s != dnnl_success)
        return s;
    for (int i = 0; i < pc->nsp; i++) {
        int64_t dk = (pc->k[i] - 1) * pc->d[i] + 1;
        strides[i] = pc->s[i];
        kernel[i] = pc->k[i];
        dil[i] = pc->d[i] - 1;
        pl[i] = pc->pb[i];
        int64_t need = (pc->out[i] - 1) * pc->s[i] + dk - pc->in[i] - pc->pb[i];
        pr[i] = need > pc->pe[i] ? need : pc->pe[i];
        /* oneDNN requires its own floor formula to give our output size */
        if ((pc->in[i] - dk + pl[i] + pr[i]) / pc->s[i] + 1 != pc->out[i])
            pr[i] = need;
    }
    dnnl_alg_kind_t alg = pc->kind == POOL_MAX ? dnnl_pooling_max
                          : pc->include_pad    ? dnnl_pooling_avg_include_padding
                                               : dnnl_pooling_avg_exclude_padding;
    dnnl_pooling_v2_desc_t pdsc;
    s = dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &src, &dst, strides,
                                          kernel, dil, pl, pr);
    if (s != dnnl_success)
        return s;
    dnnl_primitive_attr_t attr;
    s = dnnl_primitive_attr_create(&attr);
    if (s != dnnl_success)
        return s;
    s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    dnnl_primitive_desc_t pd = NULL;
    if (s == dnnl_success)
        s = dnnl_primitive_desc_create(&pd, &pdsc, attr, eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return s;
    s = skiff__dnnl_prim_create(pd, &e->prim, &e->m_scratch, &e->scratch_size);
    if (s == dnnl_success)
        s = dnnl_memory_create(&e->m_src, &src, eng, DNNL_MEMORY_NONE);
    if (s == dnnl_success)
        s = dnnl_memory_create(&e->m_dst, &dst, eng, DNNL_MEMORY_NONE);
    dnnl_primitive_desc_destroy(pd);
    e->src_off = e->dst_off = e->work_bytes = skiff__page_up(e->m_scratch ? e->scratch_size : 0);
    if (s != dnnl_success || cl)
        return s;
    e->dst_off = e->src_off + skiff__page_up(dnnl_memory_desc_get_size(&src));
    e->work_bytes = e->dst_off + skiff__page_up(dnnl_memory_desc_get_size(&dst));
    s = dnnl_memory_create(&e->m_src_user, &src_user, eng, DNNL_MEMORY_NONE);
    if (s == dnnl_success)
        s = dnnl_memory_create(&e->m_dst_user, &dst_user, eng, DNNL_MEMORY_NONE);
    dnnl_primitive_desc_t rpd;
    if (s == dnnl_success && (s = dnnl_reorder_primitive_desc_create(&rpd, &src_user, eng, &src,
                                                                     eng, NULL)) == dnnl_success) {
        s = dnnl_primitive_create(&e->src_reorder, rpd);
        dnnl_primitive_desc_destroy(rpd);
    }
    if (s == dnnl_success && (s = dnnl_reorder_primitive_desc_create(&rpd, &dst, eng, &dst_user,
                                                                     eng, NULL)) == dnnl_success) {
        s = dnnl_primitive_create(&e->dst_reorder, rpd);
        dnnl_primitive_desc_destroy(rpd);
    }
    return s;
}

/* Runs the pooling primitive for X's shape, compiling it on first use.
 * *rejected is set (with no error) when oneDNN declines the configuration
 * (e.g. padding wider than the window), so the caller runs plain C. */
static skiff_status_t *pool_dnnl(skiff__kctx *ctx, const pool_cfg *pc, const skiff_tensor_t *X,
                                 skiff_tensor_t *Y, bool cl, bool *rejected)
{
    *rejected = false;
    skiff_status_t *st;
    skiff__shape_key key = {0};
    skiff__key_add_tensor(&key, X);
    skiff__pcache *cache = skiff__pcache_get(ctx, pool_entry_free, &st);
    if (!cache)
        return st;
    pool_entry *e = skiff__pcache_find(cache, &key);
    if (!e) {
        e = skiff__calloc(1, sizeof(*e));
        if (!e) {
            skiff__pcache_release(cache);
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        }
        dnnl_status_t s = pool_build(pc, X, Y, cl, e);
        if (s != dnnl_success) {
            pool_entry_free(e);
            skiff__pcache_release(cache);
            if (s == dnnl_unimplemented || s == dnnl_invalid_arguments) {
                *rejected = true;
                return NULL;
            }
            return skiff__dnnl_err(ctx, s, "pooling setup");
        }
        skiff__pcache_put(cache, &key, e);
    }
    char *work = e->work_bytes ? skiff__kctx_scratch(ctx, e->work_bytes) : NULL;
    dnnl_status_t s = e->work_bytes && !work ? dnnl_out_of_memory : dnnl_success;
    if (s == dnnl_success && e->m_scratch)
        s = dnnl_memory_set_data_handle(e->m_scratch, work);
    if (s == dnnl_success)
        s = dnnl_memory_set_data_handle(e->m_src, e->src_reorder ? work + e->src_off : X->data);
    if (s == dnnl_success)
        s = dnnl_memory_set_data_handle(e->m_dst, e->dst_reorder ? work + e->dst_off : Y->data);
    if (s == dnnl_success && e->src_reorder) {
        s = dnnl_memory_set_data_handle(e->m_src_user, X->data);
        dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, e->m_src_user}, {DNNL_ARG_TO, e->m_src}};
        if (s == dnnl_success)
            s = dnnl_primitive_execute(e->src_reorder, cache->stream, 2, ra);
    }
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->m_src},
                                   {DNNL_ARG_DST, e->m_dst},
                                   {DNNL_ARG_SCRATCHPAD, e->m_scratch}};
        s = dnnl_primitive_execute(e->prim, cache->stream, e->m_scratch ? 3 : 2, args);
    }
    if (s == dnnl_success && e->dst_reorder) {
        s = dnnl_memory_set_data_handle(e->m_dst_user, Y->data);
        dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, e->m_dst}, {DNNL_ARG_TO, e->m_dst_user}};
        if (s == dnnl_success)
            s = dnnl_primitive_execute(e->dst_reorder, cache->stream, 2, ra);
    }
    if (s == dnnl_success)
        s = dnnl_stream_wait(cache->stream);
    skiff__pcache_release(cache);
    return s == dnnl_success ? NULL : skiff__dnnl_err(ctx, s, "pooling");
}

/* ---- kernels ---- */

/* The plain C pool on a channels-last X and Y, through row-major copies. */
static skiff_status_t *pool_plain_cl(skiff__kctx *ctx, const pool_cfg *pc, const skiff_tensor_t *X,
                                     skiff_tensor_t *Y)
{
    int64_t xin = skiff_tensor_numel(X) / (pc->n * pc->c);
    int64_t yin = skiff_tensor_numel(Y) / (pc->n * pc->c);
    /* both copies in the context's scratch, Y's after X's */
    size_t x_room = skiff__page_up(X->nbytes);
    char *work = skiff__kctx_scratch(ctx, x_room + Y->nbytes);
    if (!work)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                           "out of memory for %zu bytes of scratch", x_room + Y->nbytes);
    float *xr = (float *)work, *yr = (float *)(work + x_room);
    skiff__transpose_batched(xr, X->data, pc->n, xin, pc->c, ctx->threads);
    pool_plain_f32(pc, xr, yr, NULL, ctx->threads);
    skiff__transpose_batched(Y->data, yr, pc->n, pc->c, yin, ctx->threads);
    return NULL;
}

static skiff_status_t *pool_run(skiff__kctx *ctx, pool_kind kind)
{
    const skiff_tensor_t *X = ctx->n_in > 0 ? ctx->in[0] : NULL;
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X' is required");
    skiff_dtype_t dt = X->dtype;
    bool ok = dt == SKIFF_DTYPE_FLOAT32 || dt == SKIFF_DTYPE_FLOAT64 ||
              (kind == POOL_MAX && (dt == SKIFF_DTYPE_INT8 || dt == SKIFF_DTYPE_UINT8));
    if (!ok)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'X': dtype %s is not implemented",
                           skiff_dtype_name(dt));
    pool_cfg pc;
    skiff_status_t *st = pool_setup(ctx, X, kind, &pc);
    if (st)
        return st;
    if (kind == POOL_LP && !(pc.p > 0))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'p': expected > 0, got %g",
                           pc.p);
    int64_t yd[SKIFF_MAX_DIMS] = {pc.n, pc.c};
    for (int i = 0; i < pc.nsp; i++)
        yd[2 + i] = pc.out[i];
    double work = (double)pc.n * (double)pc.c;
    for (int i = 0; i < pc.nsp; i++)
        work *= (double)pc.out[i] * (double)pc.k[i];
    if ((st = skiff__kctx_cost(ctx, work)))
        return st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, dt, X->ndim, yd, &st);
    if (!Y)
        return st;
    bool want_ind =
        kind == POOL_MAX && ctx->n_out > 1 && ctx->node->n_out > 1 && ctx->node->out[1] >= 0;
    skiff_tensor_t *I = NULL;
    if (want_ind) {
        I = skiff__kctx_output(ctx, 1, SKIFF_DTYPE_INT64, X->ndim, yd, &st);
        if (!I)
            return st;
    }
    if (Y->nbytes == 0)
        return NULL;
    bool ceil_past_pads = false;
    for (int i = 0; i < pc.nsp; i++)
        if ((pc.out[i] - 1) * pc.s[i] + (pc.k[i] - 1) * pc.d[i] + 1 >
            pc.in[i] + pc.pb[i] + pc.pe[i])
            ceil_past_pads = true;
    bool use_dnnl = dt == SKIFF_DTYPE_FLOAT32 && kind != POOL_LP && !want_ind && pc.nsp <= 3 &&
                    !(kind == POOL_AVG && pc.include_pad && ceil_past_pads);
    /* channels-last only between float32 convolutions (skiff__plan_layouts) */
    bool cl = ctx->node->x_cl && ctx->node->y_cl && dt == SKIFF_DTYPE_FLOAT32 && !I;
    bool rejected = false;
    if (use_dnnl)
        st = pool_dnnl(ctx, &pc, X, Y, cl, &rejected);
    if ((!use_dnnl || rejected) && cl) {
        st = pool_plain_cl(ctx, &pc, X, Y);
    } else if (!use_dnnl || rejected) {
        int64_t *ind = I ? I->data : NULL;
        switch (dt) {
        case SKIFF_DTYPE_FLOAT32: pool_plain_f32(&pc, X->data, Y->data, ind, ctx->threads); break;
        case SKIFF_DTYPE_FLOAT64: pool_plain_f64(&pc, X->data, Y->data, ind, ctx->threads); break;
        case SKIFF_DTYPE_INT8: pool_plain_i8(&pc, X->data, Y->data, ind, ctx->threads); break;
        default: pool_plain_u8(&pc, X->data, Y->data, ind, ctx->threads); break;
        }
    }
    if (st)
        return st;
    return skiff__nn_epilogue(ctx, Y);
}

static skiff_status_t *maxpool_run(skiff__kctx *ctx) { return pool_run(ctx, POOL_MAX); }

static skiff_status_t *avgpool_run(skiff__kctx *ctx) { return pool_run(ctx, POOL_AVG); }

static skiff_status_t *lppool_run(skiff__kctx *ctx) { return pool_run(ctx, POOL_LP); }

/* ---- global pools ---- */

#define GLOBAL_POOL(NAME, T)                                                                       \
    static void NAME(pool_kind kind, double p, const T *x, T *y, int64_t planes, int64_t inner,    \
                     int threads)                                                                  \
    {                                                                                              \
        _Pragma(                                                                                   \
            "omp parallel for num_threads(threads) if (planes * inner > 32768)") for (int64_t c =  \
                                                                                          0;       \
                                                                                      c < planes;  \
                                                                                      c++)         \
        {                                                                                          \
            const T *xp = x + c * inner;                                                           \
            if (kind == POOL_MAX) {                                                                \
                T m = inner > 0 ? xp[0] : (T)0;                                                    \
                for (int64_t i = 1; i < inner; i++)                                                \
                    m = xp[i] > m ? xp[i] : m;                                                     \
                y[c] = m;                                                                          \
            } else if (kind == POOL_AVG) {                                                         \
                double s = 0;                                                                      \
                for (int64_t i = 0; i < inner; i++)                                                \
                    s += xp[i];                                                                    \
                y[c] = inner > 0 ? (T)(s / (double)inner) : (T)0;                                  \
            } else {                                                                               \
                double s = 0;                                                                      \
                for (int64_t i = 0; i < inner; i++) {                                              \
                    double a = fabs((double)xp[i]);                                                \
                    s += p == 2 ? a * a : pow(a, p);                                               \
                }                                                                                  \
                y[c] = (T)(p == 2 ? sqrt(s) : pow(s, 1.0 / p));                                    \
            }                                                                                      \
        }                                                                                          \
    }

GLOBAL_POOL(global_f32, float)
GLOBAL_POOL(global_f64, double)

/* The same on channels-last X[n, i, c]: Y[n, c, 1...] is the same in
 * either layout. Sums in double, like the row-major path. */
static void global_cl_f32(pool_kind kind, double p, const float *x, float *y, int64_t n, int64_t c,
                          int64_t inner, int threads)
{
    const int64_t CB = 64; /* channels per task */
    int64_t cblocks = (c + CB - 1) / CB;
#pragma omp parallel for num_threads(threads) if (n * c * inner > 32768)
    for (int64_t t = 0; t < n * cblocks; t++) {
        int64_t b = t / cblocks, c0 = (t % cblocks) * CB;
        int64_t cn = c - c0 < CB ? c - c0 : CB;
        double acc[64];
        const float *xb = x + b * inner * c + c0;
        for (int64_t j = 0; j < cn; j++)
            acc[j] = kind == POOL_MAX ? (inner > 0 ? xb[j] : 0) : 0;
        for (int64_t i = 0; i < inner; i++) {
            const float *row = xb + i * c;
            for (int64_t j = 0; j < cn; j++) {
                double v = row[j];
                if (kind == POOL_MAX)
                    acc[j] = v > acc[j] ? v : acc[j];
                else if (kind == POOL_AVG)
                    acc[j] += v;
                else
                    acc[j] += p == 2 ? v * v : pow(fabs(v), p);
            }
        }
        for (int64_t j = 0; j < cn; j++) {
            double r = acc[j];
            if (kind == POOL_AVG)
                r = inner > 0 ? r / (double)inner : 0;
            else if (kind == POOL_LP)
                r = p == 2 ? sqrt(r) : pow(r, 1.0 / p);
            y[b * c + c0 + j] = (float)r;
        }
    }
}

static skiff_status_t *global_run(skiff__kctx *ctx, pool_kind kind)
{
    const skiff_tensor_t *X = ctx->n_in > 0 ? ctx->in[0] : NULL;
    if (!X)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X' is required");
    if (X->dtype != SKIFF_DTYPE_FLOAT32 && X->dtype != SKIFF_DTYPE_FLOAT64)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'X': dtype %s is not implemented",
                           skiff_dtype_name(X->dtype));
    if (X->ndim < 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'X': expected rank >= 2 (N, C, spatial...), got %d", X->ndim);
    double p = lp_norm(ctx->node);
    if (kind == POOL_LP && !(p > 0))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'p': expected > 0, got %g", p);
    int64_t yd[SKIFF_MAX_DIMS];
    int64_t inner = 1;
    for (int i = 0; i < X->ndim; i++) {
        yd[i] = i < 2 ? X->dims[i] : 1;
        if (i >= 2)
            inner *= X->dims[i];
    }
    skiff_status_t *st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, X->ndim, yd, &st);
    if (!Y)
        return st;
    int64_t planes = X->dims[0] * X->dims[1];
    if (X->dtype == SKIFF_DTYPE_FLOAT32 && ctx->node->x_cl && X->ndim >= 3)
        global_cl_f32(kind, p, X->data, Y->data, X->dims[0], X->dims[1], inner, ctx->threads);
    else if (X->dtype == SKIFF_DTYPE_FLOAT32)
        global_f32(kind, p, X->data, Y->data, planes, inner, ctx->threads);
    else
        global_f64(kind, p, X->data, Y->data, planes, inner, ctx->threads);
    return skiff__nn_epilogue(ctx, Y);
}

static skiff_status_t *global_avgpool_run(skiff__kctx *ctx) { return global_run(ctx, POOL_AVG); }

static skiff_status_t *global_maxpool_run(skiff__kctx *ctx) { return global_run(ctx, POOL_MAX); }

static skiff_status_t *global_lppool_run(skiff__kctx *ctx) { return global_run(ctx, POOL_LP); }

/* ---- table ---- */

#define POOL_CL (SKIFF_OP_CL_X | SKIFF_OP_CL_Y | SKIFF_OP_CL_SAME)

const skiff__op skiff__ops_pool[] = {
    {.type = "MaxPool",
     .min_opset = 1,
     .run = maxpool_run,
     .cache_free = skiff__pcache_free,
     .flags = POOL_CL},
    {.type = "AveragePool",
     .min_opset = 1,
     .run = avgpool_run,
     .cache_free = skiff__pcache_free,
     .flags = POOL_CL},
    {.type = "LpPool", .min_opset = 1, .run = lppool_run},
    {.type = "GlobalAveragePool",
     .min_opset = 1,
     .run = global_avgpool_run,
     .flags = SKIFF_OP_CL_X},
    {.type = "GlobalMaxPool", .min_opset = 1, .run = global_maxpool_run, .flags = SKIFF_OP_CL_X},
    {.type = "GlobalLpPool", .min_opset = 1, .run = global_lppool_run, .flags = SKIFF_OP_CL_X},
    {.type = NULL},
};
