/* layout.c - kernels that rearrange elements without looking at them:
 * Transpose, Slice, Expand, Tile, DepthToSpace, SpaceToDepth (all as views
 * through one strided-copy engine) and Pad.
 *
 * Each view op describes its output as "element (c0..cr-1) comes from
 * src[sum ci * stride_i]" and hands that to skiff__shape_strided_copy. The
 * engine first merges dimensions that are contiguous in both tensors (so an
 * NCHW->NHWC transpose becomes a batch of 2-D [C, HW] transposes and a Slice
 * of whole rows becomes one memcpy), then chooses the cheapest inner loop:
 * a row memcpy, a broadcast fill, a cache-blocked 2-D transpose, or a strided
 * gather. Work is split over output rows with OpenMP. */
#include <string.h>

#include "shape_int.h"

/* ---- strided-copy engine ------------------------------------------------- */

#define TB 32 /* transpose tile edge, in elements */

/* Odometer over the "outer" dimensions of a copy: tracks the input and
 * output element offsets of the current outer index. */
typedef struct outer_it {
    int m;
    const int64_t *dims, *is, *os;
    int64_t c[SKIFF_SHAPE_VIEW_DIMS];
    int64_t io, oo;
} outer_it;

static void it_seek(outer_it *it, int64_t idx)
{
    it->io = it->oo = 0;
    for (int k = it->m - 1; k >= 0; k--) {
        int64_t d = it->dims[k];
        it->c[k] = idx % d;
        idx /= d;
        it->io += it->c[k] * it->is[k];
        it->oo += it->c[k] * it->os[k];
    }
}

static inline void it_next(outer_it *it)
{
    for (int k = it->m - 1; k >= 0; k--) {
        it->io += it->is[k];
        it->oo += it->os[k];
        if (++it->c[k] < it->dims[k])
            return;
        it->io -= it->is[k] * it->dims[k];
        it->oo -= it->os[k] * it->dims[k];
        it->c[k] = 0;
    }
}

/* Strided gather of one output row: dst[j] = src[j * s]. */
#define GATHER_ROW(T)                                                                              \
    do {                                                                                           \
        T *d_ = (T *)dst;                                                                          \
        const T *s_ = (const T *)src;                                                              \
        for (int64_t j = 0; j < n; j++)                                                            \
            d_[j] = s_[j * s];                                                                     \
    } while (0)

static void gather_row(char *dst, const char *src, size_t es, int64_t n, int64_t s)
{
    switch (es) {
    case 1: GATHER_ROW(uint8_t); break;
    case 2: GATHER_ROW(uint16_t); break;
    case 4: GATHER_ROW(uint32_t); break;
    case 8: GATHER_ROW(uint64_t); break;
    default:
        for (int64_t j = 0; j < n; j++)
            memcpy(dst + (size_t)j * es, src + j * s * (int64_t)es, es);
    }
}

/* One tile of a 2-D transpose: rows [i0, i1) of the output dimension whose
 * input stride is 1 (output stride osq), all columns of the innermost output
 * dimension (input stride s, output stride 1), in TB-wide column blocks so
 * that both the reads and the writes of a tile stay in L1. */
#define TILE(T)                                                                                    \
    do {                                                                                           \
        T *d_ = (T *)dst;                                                                          \
        const T *s_ = (const T *)src;                                                              \
        for (int64_t jb = 0; jb < nj; jb += TB) {                                                  \
            int64_t je = jb + TB < nj ? jb + TB : nj;                                              \
            for (int64_t i = i0; i < i1; i++) {                                                    \
                T *dp = d_ + i * osq;                                                              \
                const T *sp = s_ + i;                                                              \
                for (int64_t j = jb; j < je; j++)                                                  \
                    dp[j] = sp[j * s];                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void transpose_tile(char *dst, const char *src, size_t es, int64_t i0, int64_t i1,
                           int64_t osq, int64_t nj, int64_t s)
{
    switch (es) {
    case 1: TILE(uint8_t); break;
    case 2: TILE(uint16_t); break;
    case 4: TILE(uint32_t); break;
    case 8: TILE(uint64_t); break;
    default:
        for (int64_t i = i0; i < i1; i++)
            for (int64_t j = 0; j < nj; j++)
                memcpy(dst + (size_t)(i * osq + j) * es, src + (i + j * s) * (int64_t)es, es);
    }
}

void skiff__shape_strided_copy(void *dst_, const void *src_, size_t es, int rank,
                               const int64_t *dims_in, const int64_t *istr_in, int threads)
{
    char *dst = dst_;
    const char *src = src_;
    int64_t d[SKIFF_SHAPE_VIEW_DIMS], s[SKIFF_SHAPE_VIEW_DIMS], os[SKIFF_SHAPE_VIEW_DIMS];
    int r = 0;
    int64_t total = 1;
    for (int i = 0; i < rank; i++) {
        if (dims_in[i] == 0)
            return;
        total *= dims_in[i];
    }
    /* Drop size-1 dims and merge a dim into the previous one when the pair is
     * contiguous in the input as well as the output. */
    for (int i = 0; i < rank; i++) {
        if (dims_in[i] == 1)
            continue;
        if (r > 0 && s[r - 1] == istr_in[i] * dims_in[i]) {
            d[r - 1] *= dims_in[i];
            s[r - 1] = istr_in[i];
        } else {
            d[r] = dims_in[i];
            s[r] = istr_in[i];
            r++;
        }
    }
    if (r == 0) {
        memcpy(dst, src, es);
        return;
    }
    int64_t acc = 1;
    for (int i = r - 1; i >= 0; i--) {
        os[i] = acc;
        acc *= d[i];
    }
    int64_t n = d[r - 1], sl = s[r - 1];
    if (r == 1 && sl == 1) {
        memcpy(dst, src, (size_t)n * es);
        return;
    }
    int nt = total * (int64_t)es > 262144 ? threads : 1;

    /* A blocked transpose pays off when some outer dim is contiguous in the
     * input while the innermost output dim is not. */
    int q = -1;
    if (sl != 1 && sl != 0 && n >= 4)
        for (int i = r - 2; i >= 0; i--)
            if (s[i] == 1 && d[i] >= 4) {
                q = i;
                break;
            }

    if (q >= 0) {
        int64_t od[SKIFF_SHAPE_VIEW_DIMS], ois[SKIFF_SHAPE_VIEW_DIMS], oos[SKIFF_SHAPE_VIEW_DIMS];
        int m = 0;
        for (int i = 0; i < r - 1; i++)
            if (i != q) {
                od[m] = d[i];
                ois[m] = s[i];
                oos[m] = os[i];
                m++;
            }
        /* innermost outer "dim" is the tile-row block index along q */
        int64_t nb = (d[q] + TB - 1) / TB;
        od[m] = nb;
        ois[m] = 0;
        oos[m] = 0;
        m++;
        int64_t items = total / (d[q] * n) * nb;
        int64_t chunks = nt > 1 ? (items < (int64_t)nt * 4 ? items : (int64_t)nt * 4) : 1;
        int64_t dq = d[q], osq = os[q];
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (chunks > 1)
        for (int64_t ch = 0; ch < chunks; ch++) {
            int64_t b = items * ch / chunks, e = items * (ch + 1) / chunks;
            outer_it it = {.m = m, .dims = od, .is = ois, .os = oos};
            it_seek(&it, b);
            for (int64_t x = b; x < e; x++) {
                int64_t blk = it.c[m - 1];
                int64_t i0 = blk * TB, i1 = i0 + TB < dq ? i0 + TB : dq;
                transpose_tile(dst + it.oo * (int64_t)es, src + it.io * (int64_t)es, es, i0, i1,
                               osq, n, sl);
                it_next(&it);
            }
        }
        return;
    }

    int64_t rows = total / n;
    int64_t chunks = nt > 1 ? (rows < (int64_t)nt * 4 ? rows : (int64_t)nt * 4) : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (chunks > 1)
    for (int64_t ch = 0; ch < chunks; ch++) {
        int64_t b = rows * ch / chunks, e = rows * (ch + 1) / chunks;
        outer_it it = {.m = r - 1, .dims = d, .is = s, .os = os};
        it_seek(&it, b);
        for (int64_t x = b; x < e; x++) {
            char *dp = dst + it.oo * (int64_t)es;
            const char *sp = src + it.io * (int64_t)es;
            if (sl == 1 && (size_t)n * es >= 64)
                memcpy(dp, sp, (size_t)n * es);
            else if (sl == 0)
                skiff__shape_fill(dp, sp, es, n);
            else
                gather_row(dp, sp, es, n, sl);
            it_next(&it);
        }
    }
}

/* Allocates output 0 and runs the engine; strings get their own copies. */
static skiff_status_t *view_copy(skiff__kctx *ctx, const skiff_tensor_t *x, int out_rank,
                                 const int64_t *out_dims, int view_rank, const int64_t *view_dims,
                                 const int64_t *view_strides, int64_t src_off)
{
    size_t es = 0;
    skiff_status_t *st = skiff__shape_esize(ctx, x, "input", &es);
    if (st)
        return st;
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, out_rank, out_dims, &st);
    if (!y)
        return st;
    if (skiff_tensor_numel(y) == 0)
        return NULL;
    skiff__shape_strided_copy(y->data, (const char *)x->data + src_off * (int64_t)es, es, view_rank,
                              view_dims, view_strides, skiff__kctx_threads(ctx));
    return skiff__shape_own_strings(ctx, y);
}

/* ---- Transpose ----------------------------------------------------------- */

static skiff_status_t *run_transpose(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "data");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    int r = x->ndim;
    int64_t perm[SKIFF_MAX_DIMS];
    const int64_t *pa;
    int np = skiff__attr_ints(ctx->node, "perm", &pa);
    if (np < 0) {
        for (int i = 0; i < r; i++)
            perm[i] = r - 1 - i;
    } else {
        if (np != r)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'perm' has %d entries for rank-%d input", np, r);
        bool seen[SKIFF_MAX_DIMS] = {false};
        for (int i = 0; i < r; i++) {
            int a;
            if (!skiff__norm_axis(pa[i], r, &a) || seen[a])
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'perm' is not a permutation (entry %d = %lld)", i,
                                   (long long)pa[i]);
            seen[a] = true;
            perm[i] = a;
        }
    }
    int64_t is[SKIFF_MAX_DIMS], od[SKIFF_MAX_DIMS], vs[SKIFF_MAX_DIMS];
    skiff__shape_strides(r, x->dims, is);
    for (int i = 0; i < r; i++) {
        od[i] = x->dims[perm[i]];
        vs[i] = is[perm[i]];
    }
    return view_copy(ctx, x, r, od, r, od, vs, 0);
}

/* ---- Slice --------------------------------------------------------------- */

static skiff_status_t *run_slice(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "data");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    int r = x->ndim;
    int64_t starts[SKIFF_MAX_DIMS], ends[SKIFF_MAX_DIMS], axes[SKIFF_MAX_DIMS],
        steps[SKIFF_MAX_DIMS];
    int ns, ne, na = -1, nst = -1;
    if (ctx->node->opset < 10) {
        const int64_t *a;
        ns = skiff__attr_ints(ctx->node, "starts", &a);
        if (ns < 0 || ns > SKIFF_MAX_DIMS)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'starts' missing or too long");
        memcpy(starts, a, sizeof(int64_t) * (size_t)ns);
        ne = skiff__attr_ints(ctx->node, "ends", &a);
        if (ne < 0 || ne > SKIFF_MAX_DIMS)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'ends' missing or too long");
        memcpy(ends, a, sizeof(int64_t) * (size_t)ne);
        na = skiff__attr_ints(ctx->node, "axes", &a);
        if (na > SKIFF_MAX_DIMS)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'axes' too long");
        if (na > 0)
            memcpy(axes, a, sizeof(int64_t) * (size_t)na);
    } else {
        if ((st = skiff__kctx_need(ctx, 1, "starts")) || (st = skiff__kctx_need(ctx, 2, "ends")))
            return st;
        if ((st = skiff__shape_read_ints(ctx, ctx->in[1], "starts", starts, SKIFF_MAX_DIMS, &ns)) ||
            (st = skiff__shape_read_ints(ctx, ctx->in[2], "ends", ends, SKIFF_MAX_DIMS, &ne)))
            return st;
        const skiff_tensor_t *ta = skiff__kctx_opt(ctx, 3), *ts = skiff__kctx_opt(ctx, 4);
        if (ta && (st = skiff__shape_read_ints(ctx, ta, "axes", axes, SKIFF_MAX_DIMS, &na)))
            return st;
        if (ts && (st = skiff__shape_read_ints(ctx, ts, "steps", steps, SKIFF_MAX_DIMS, &nst)))
            return st;
    }
    if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "starts/ends/axes/steps lengths differ (%d, %d, %d, %d)", ns, ne, na,
                           nst);
    int64_t is[SKIFF_MAX_DIMS], od[SKIFF_MAX_DIMS], vs[SKIFF_MAX_DIMS];
    skiff__shape_strides(r, x->dims, is);
    for (int i = 0; i < r; i++) {
        od[i] = x->dims[i];
        vs[i] = is[i];
    }
    bool seen[SKIFF_MAX_DIMS] = {false};
    int64_t off = 0;
    bool empty = false;
    for (int k = 0; k < ns; k++) {
        int a;
        int64_t ax = na >= 0 ? axes[k] : k;
        if (!skiff__norm_axis(ax, r, &a) || seen[a])
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "axis %lld invalid or repeated for rank %d", (long long)ax, r);
        seen[a] = true;
        int64_t step = nst >= 0 ? steps[k] : 1;
        if (step == 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "step of axis %d is 0", a);
        if (step == INT64_MIN)
            step = -INT64_MAX;
        int64_t dim = x->dims[a], s = starts[k], e = ends[k], cnt;
        if (s < 0)
            s += dim;
        if (e < 0)
            e += dim;
        if (dim == 0) {
            cnt = 0;
            s = 0;
        } else if (step > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            cnt = e > s ? (e - s - 1) / step + 1 : 0;
        } else {
            s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            cnt = s > e ? (s - e - 1) / (-step) + 1 : 0;
        }
        od[a] = cnt;
        if (cnt == 0)
            empty = true;
        else
            off += s * is[a];
        /* With two or more elements |step| < dim, so the product fits; a
         * single element never moves, whatever the step. */
        vs[a] = cnt > 1 ? is[a] * step : is[a];
    }
    if (empty) {
        size_t es = 0;
        if ((st = skiff__shape_esize(ctx, x, "data", &es)))
            return st;
        skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, r, od, &st);
        return y ? NULL : st;
    }
    return view_copy(ctx, x, r, od, r, od, vs, off);
}

/* ---- Expand -------------------------------------------------------------- */

static skiff_status_t *run_expand(skiff__kctx *ctx)
{
    skiff_status_t *st;
    if ((st = skiff__kctx_need(ctx, 0, "input")) || (st = skiff__kctx_need(ctx, 1, "shape")))
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    int64_t shape[SKIFF_MAX_DIMS];
    int n;
    if ((st = skiff__shape_read_ints(ctx, ctx->in[1], "shape", shape, SKIFF_MAX_DIMS, &n)))
        return st;
    for (int i = 0; i < n; i++)
        if (shape[i] < 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'shape': negative dimension %lld", (long long)shape[i]);
    int64_t od[SKIFF_MAX_DIMS];
    int r;
    if (!skiff__broadcast_shape(x->ndim, x->dims, n, shape, &r, od)) {
        char b1[160], b2[160];
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "cannot broadcast %s to %s",
                           skiff_shape_str(x->ndim, x->dims, b1, sizeof(b1)),
                           skiff_shape_str(n, shape, b2, sizeof(b2)));
    }
    int64_t is[SKIFF_MAX_DIMS], vs[SKIFF_MAX_DIMS];
    skiff__shape_strides(x->ndim, x->dims, is);
    for (int i = 0; i < r; i++) {
        int j = i - (r - x->ndim);
        vs[i] = j < 0 || x->dims[j] == 1 ? 0 : is[j];
    }
    return view_copy(ctx, x, r, od, r, od, vs, 0);
}

/* ---- Tile ---------------------------------------------------------------- */

/* The output [r0*d0, r1*d1, ...] is, in row-major order, the view
 * [r0, d0, r1, d1, ...] with stride 0 on every repeat dim. */
static skiff_status_t *run_tile(skiff__kctx *ctx)
{
    skiff_status_t *st;
    if ((st = skiff__kctx_need(ctx, 0, "input")) || (st = skiff__kctx_need(ctx, 1, "repeats")))
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    int r = x->ndim;
    int64_t rep[SKIFF_MAX_DIMS];
    int n;
    if ((st = skiff__shape_read_ints(ctx, ctx->in[1], "repeats", rep, SKIFF_MAX_DIMS, &n)))
        return st;
    if (n != r)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'repeats': %d values for rank-%d input", n, r);
    int64_t is[SKIFF_MAX_DIMS], od[SKIFF_MAX_DIMS];
    int64_t vd[SKIFF_SHAPE_VIEW_DIMS], vs[SKIFF_SHAPE_VIEW_DIMS];
    skiff__shape_strides(r, x->dims, is);
    for (int i = 0; i < r; i++) {
        if (rep[i] < 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'repeats': negative value %lld",
                               (long long)rep[i]);
        if (__builtin_mul_overflow(x->dims[i], rep[i], &od[i]))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "output dimension %d overflows", i);
        vd[2 * i] = rep[i];
        vs[2 * i] = 0;
        vd[2 * i + 1] = x->dims[i];
        vs[2 * i + 1] = is[i];
    }
    return view_copy(ctx, x, r, od, 2 * r, vd, vs, 0);
}

/* ---- DepthToSpace / SpaceToDepth ----------------------------------------- */

static skiff_status_t *check_nchw_bs(skiff__kctx *ctx, const skiff_tensor_t *x, int64_t *bs)
{
    if (x->ndim != 4)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'input': expected rank 4, got %d",
                           x->ndim);
    const skiff__attr *a = skiff__attr_find(ctx->node, "blocksize");
    if (!a)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "missing attribute 'blocksize'");
    *bs = skiff__attr_int(ctx->node, "blocksize", 0);
    if (*bs < 1 || *bs > (1 << 20))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'blocksize' %lld invalid",
                           (long long)*bs);
    return NULL;
}

static skiff_status_t *run_depth_to_space(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "input");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    int64_t bs = 1;
    if ((st = check_nchw_bs(ctx, x, &bs)))
        return st;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (C % (bs * bs) != 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "channels %lld not divisible by blocksize^2 = %lld", (long long)C,
                           (long long)(bs * bs));
    int64_t c2 = C / (bs * bs), hw = H * W;
    const char *mode = skiff__attr_str(ctx->node, "mode", "DCR");
    /* strides of the input viewed as its two block dims and C' */
    int64_t s_b1, s_b2, s_c;
    if (strcmp(mode, "DCR") == 0) { /* [N, b1, b2, C', H, W] */
        s_b1 = bs * c2 * hw;
        s_b2 = c2 * hw;
        s_c = hw;
    } else if (strcmp(mode, "CRD") == 0) { /* [N, C', b1, b2, H, W] */
        s_c = bs * bs * hw;
        s_b1 = bs * hw;
        s_b2 = hw;
    } else {
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'mode': unknown '%s'", mode);
    }
    int64_t od[4] = {N, c2, H * bs, W * bs};
    int64_t vd[6] = {N, c2, H, bs, W, bs};
    int64_t vs[6] = {C * hw, s_c, W, s_b1, 1, s_b2};
    return view_copy(ctx, x, 4, od, 6, vd, vs, 0);
}

static skiff_status_t *run_space_to_depth(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "input");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    int64_t bs = 1;
    if ((st = check_nchw_bs(ctx, x, &bs)))
        return st;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (H % bs != 0 || W % bs != 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "spatial size %lldx%lld not divisible by blocksize %lld", (long long)H,
                           (long long)W, (long long)bs);
    /* input viewed as [N, C, H', b1, W', b2]; output [N, b1, b2, C, H', W'] */
    int64_t od[4] = {N, C * bs * bs, H / bs, W / bs};
    int64_t vd[6] = {N, bs, bs, C, H / bs, W / bs};
    int64_t vs[6] = {C * H * W, W, 1, H * W, bs * W, bs};
    return view_copy(ctx, x, 4, od, 6, vd, vs, 0);
}

/* ---- Pad ----------------------------------------------------------------- */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

/* Input coordinate for output coordinate o along a dim of size n padded by
 * pb in front, or -1 for a constant-filled position. */
static inline int64_t pad_map(int64_t o, int64_t pb, int64_t n, int mode)
{
    int64_t i = o - pb;
    if (i >= 0 && i < n)
        return i;
    switch (mode) {
    case PAD_EDGE: return i < 0 ? 0 : n - 1;
    case PAD_WRAP: return ((i % n) + n) % n;
    case PAD_REFLECT: {
        if (n == 1)
            return 0;
        int64_t p = 2 * (n - 1);
        i %= p;
        if (i < 0)
            i += p;
        return i < n ? i : p - i;
    }
    default: return -1;
    }
}

static skiff_status_t *run_pad(skiff__kctx *ctx)
{
    skiff_status_t *st = skiff__kctx_need(ctx, 0, "data");
    if (st)
        return st;
    const skiff_tensor_t *x = ctx->in[0];
    const skiff__node *node = ctx->node;
    int r = x->ndim;
    size_t es = 0;
    if ((st = skiff__shape_esize(ctx, x, "data", &es)))
        return st;
    const char *ms = skiff__attr_str(node, "mode", "constant");
    int mode;
    if (strcmp(ms, "constant") == 0)
        mode = PAD_CONSTANT;
    else if (strcmp(ms, "reflect") == 0)
        mode = PAD_REFLECT;
    else if (strcmp(ms, "edge") == 0)
        mode = PAD_EDGE;
    else if (strcmp(ms, "wrap") == 0)
        mode = PAD_WRAP;
    else
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'mode': unknown '%s'", ms);

    int64_t raw[2 * SKIFF_MAX_DIMS], pb[SKIFF_MAX_DIMS] = {0}, pe[SKIFF_MAX_DIMS] = {0};
    int np;
    unsigned char cval[16] = {0};
    const void *celem = cval;
    if (node->opset < 11) {
        const int64_t *a;
        np = skiff__attr_ints(node, node->opset < 2 ? "paddings" : "pads", &a);
        if (np < 0 || np > 2 * SKIFF_MAX_DIMS)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'pads' missing or too long");
        memcpy(raw, a, sizeof(int64_t) * (size_t)np);
        if (x->dtype != SKIFF_DTYPE_STRING && es <= sizeof(cval))
            skiff__shape_set_f64(cval, x->dtype, skiff__attr_float(node, "value", 0.0f));
    } else {
        if ((st = skiff__kctx_need(ctx, 1, "pads")))
            return st;
        if ((st = skiff__shape_read_ints(ctx, ctx->in[1], "pads", raw, 2 * SKIFF_MAX_DIMS, &np)))
            return st;
        const skiff_tensor_t *cv = skiff__kctx_opt(ctx, 2);
        if (cv && skiff_tensor_numel(cv) > 0) {
            if (cv->dtype != x->dtype)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'constant_value': type %s differs from data's %s",
                                   skiff_dtype_name(cv->dtype), skiff_dtype_name(x->dtype));
            celem = cv->data;
        }
    }
    const skiff_tensor_t *ta = node->opset >= 18 ? skiff__kctx_opt(ctx, 3) : NULL;
    if (ta) {
        int64_t axes[SKIFF_MAX_DIMS];
        int na;
        if ((st = skiff__shape_read_ints(ctx, ta, "axes", axes, SKIFF_MAX_DIMS, &na)))
            return st;
        if (np != 2 * na)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "%d pads for %d axes", np, na);
        for (int k = 0; k < na; k++) {
            int a;
            if (!skiff__norm_axis(axes[k], r, &a))
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "axis %lld out of range for rank %d", (long long)axes[k], r);
            pb[a] = raw[k];
            pe[a] = raw[na + k];
        }
    } else {
        if (np != 2 * r)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "%d pads for rank-%d input (need %d)",
                               np, r, 2 * r);
        for (int k = 0; k < r; k++) {
            pb[k] = raw[k];
            pe[k] = raw[r + k];
        }
    }
    int64_t od[SKIFF_MAX_DIMS];
    for (int k = 0; k < r; k++) {
        int64_t n = x->dims[k];
        if (pb[k] < -n || pe[k] < -n || (od[k] = n + pb[k] + pe[k]) < 0 ||
            pb[k] > ((int64_t)1 << 40) || pe[k] > ((int64_t)1 << 40))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "pads %lld/%lld invalid for axis %d of size %lld", (long long)pb[k],
                               (long long)pe[k], k, (long long)n);
        if (n == 0 && od[k] > 0 && mode != PAD_CONSTANT)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "mode '%s' cannot pad the empty axis %d", ms, k);
    }
    skiff_tensor_t *y = skiff__kctx_output(ctx, 0, x->dtype, r, od, &st);
    if (!y)
        return st;
    int64_t total = skiff_tensor_numel(y);
    if (total == 0)
        return NULL;
    if (r == 0) {
        memcpy(y->data, x->data, es);
        return skiff__shape_own_strings(ctx, y);
    }
    int64_t is[SKIFF_MAX_DIMS];
    skiff__shape_strides(r, x->dims, is);
    int64_t L = od[r - 1], n = x->dims[r - 1], b = pb[r - 1];
    int64_t rows = total / L;
    /* the middle of every row maps one-to-one onto the input row */
    int64_t mlo = b > 0 ? b : 0, mhi = b + n < L ? b + n : L;
    if (mhi < mlo)
        mhi = mlo;
    int nt = total * (int64_t)es > 262144 ? skiff__kctx_threads(ctx) : 1;
    const char *src = x->data;
    char *dst = y->data;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t row = 0; row < rows; row++) {
        char *dp = dst + (size_t)(row * L) * es;
        int64_t rem = row, off = 0;
        bool fill = false;
        for (int k = r - 2; k >= 0; k--) {
            int64_t o = rem % od[k];
            rem /= od[k];
            int64_t i = pad_map(o, pb[k], x->dims[k], mode);
            if (i < 0) {
                fill = true;
                break;
            }
            off += i * is[k];
        }
        if (fill) {
            skiff__shape_fill(dp, celem, es, L);
            continue;
        }
        const char *sp = src + (size_t)off * es;
        if (mhi > mlo)
            memcpy(dp + (size_t)mlo * es, sp + (size_t)(mlo - b) * es, (size_t)(mhi - mlo) * es);
        for (int64_t j = 0; j < mlo; j++) {
            int64_t i = pad_map(j, b, n, mode);
            skiff__shape_copy_elem(dp + (size_t)j * es,
                                   i < 0 ? (const char *)celem : sp + (size_t)i * es, es);
        }
        for (int64_t j = mhi; j < L; j++) {
            int64_t i = pad_map(j, b, n, mode);
            skiff__shape_copy_elem(dp + (size_t)j * es,
                                   i < 0 ? (const char *)celem : sp + (size_t)i * es, es);
        }
    }
    return skiff__shape_own_strings(ctx, y);
}

/* ---- table ---- */

const skiff__op skiff__ops_layout[] = {
    {.type = "Transpose", .min_opset = 1, .run = run_transpose},
    {.type = "Slice", .min_opset = 1, .run = run_slice},
    {.type = "Expand", .min_opset = 8, .run = run_expand},
    {.type = "Tile", .min_opset = 6, .run = run_tile},
    {.type = "Pad", .min_opset = 2, .run = run_pad},
    {.type = "DepthToSpace", .min_opset = 1, .run = run_depth_to_space},
    {.type = "SpaceToDepth", .min_opset = 1, .run = run_space_to_depth},
    {.type = NULL},
};
