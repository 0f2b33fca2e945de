/* einsum.c - Einsum.
 *
 * Two float32 operands contract as a batched sgemm after their labels are
 * classified into batch / M / N / K; other forms (one or three operands,
 * diagonals, broadcasting, other dtypes) use a direct loop over all labels. */
#include <math.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "../../engine_int.h"

#define EIN_LETTERS 52
#define EIN_MAX_LABELS (EIN_LETTERS + SKIFF_MAX_DIMS)
#define EIN_MAX_OPS 16

typedef struct ein_op {
    int n;                   /* rank */
    int lab[SKIFF_MAX_DIMS]; /* label of each axis */
} ein_op;

static int ein_letter(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return 26 + (c - 'a');
    return -1;
}

/* Parses one term into labels; ellipsis axes take labels EIN_LETTERS+... right
 * aligned to E (the largest ellipsis rank). rank < 0 for the output term. */
typedef struct ein_term {
    int nlet; /* letters before + after the ellipsis */
    int lab[SKIFF_MAX_DIMS + 1];
    int ell_pos; /* index in lab[] where "..." stands, -1 when absent */
} ein_term;

static bool ein_parse_term(const char *s, size_t len, ein_term *t)
{
    t->nlet = 0;
    t->ell_pos = -1;
    for (size_t i = 0; i < len;) {
        if (s[i] == '.') {
            if (i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.' || t->ell_pos >= 0)
                return false;
            t->ell_pos = t->nlet;
            i += 3;
            continue;
        }
        int l = ein_letter(s[i]);
        if (l < 0 || t->nlet >= SKIFF_MAX_DIMS)
            return false;
        t->lab[t->nlet++] = l;
        i++;
    }
    return true;
}

/* Expands a term to per-axis labels given its ellipsis rank k and E. */
static void ein_expand(const ein_term *t, int k, int E, ein_op *op)
{
    op->n = 0;
    for (int i = 0; i <= t->nlet; i++) {
        if (i == t->ell_pos)
            for (int e = 0; e < k; e++)
                op->lab[op->n++] = EIN_LETTERS + (E - k) + e;
        if (i < t->nlet)
            op->lab[op->n++] = t->lab[i];
    }
}

typedef struct ein_plan {
    int nops;
    ein_op ops[EIN_MAX_OPS];
    ein_op out;
    int64_t dim[EIN_MAX_LABELS];
    int count[EIN_MAX_LABELS]; /* axes across inputs carrying the label */
} ein_plan;

static skiff_status_t *ein_build(skiff__kctx *ctx, ein_plan *pl)
{
    const char *eq0 = skiff__attr_str(ctx->node, "equation", NULL);
    if (!eq0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'equation' is required");
    char eq[512];
    size_t n = 0;
    for (const char *c = eq0; *c; c++) {
        if (*c == ' ' || *c == '\t')
            continue;
        if (n + 1 >= sizeof(eq))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'equation' is too long");
        eq[n++] = *c;
    }
    eq[n] = 0;
    const char *arrow = strstr(eq, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - eq) : n;
    int nops = 0;
    ein_term terms[EIN_MAX_OPS];
    for (size_t i = 0, start = 0; i <= lhs_len; i++) {
        if (i == lhs_len || eq[i] == ',') {
            if (nops >= EIN_MAX_OPS)
                return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "more than %d operands",
                                   EIN_MAX_OPS);
            if (!ein_parse_term(eq + start, i - start, &terms[nops]))
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'equation': bad term %d in '%s'", nops, eq0);
            nops++;
            start = i + 1;
        }
    }
    if (nops != ctx->n_in)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'equation': %d terms for %d inputs", nops, ctx->n_in);
    pl->nops = nops;
    int E = 0, ek[EIN_MAX_OPS];
    for (int i = 0; i < nops; i++) {
        const skiff_tensor_t *t = ctx->in[i];
        if (!t)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input %d is missing", i);
        int k = t->ndim - terms[i].nlet;
        if (terms[i].ell_pos < 0 ? k != 0 : k < 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input %d: rank %d does not match its term in '%s'", i, t->ndim,
                               eq0);
        ek[i] = k;
        E = k > E ? k : E;
    }
    for (int l = 0; l < EIN_MAX_LABELS; l++) {
        pl->dim[l] = -1;
        pl->count[l] = 0;
    }
    for (int i = 0; i < nops; i++) {
        ein_expand(&terms[i], ek[i], E, &pl->ops[i]);
        const skiff_tensor_t *t = ctx->in[i];
        for (int a = 0; a < t->ndim; a++) {
            int l = pl->ops[i].lab[a];
            int64_t dv = t->dims[a];
            pl->count[l]++;
            if (pl->dim[l] < 0 || pl->dim[l] == 1)
                pl->dim[l] = dv; /* a size-1 axis broadcasts */
            else if (dv != pl->dim[l] && dv != 1)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input %d axis %d: size %lld conflicts with %lld for the same "
                                   "label",
                                   i, a, (long long)dv, (long long)pl->dim[l]);
        }
    }
    if (arrow) {
        ein_term ot;
        const char *os = arrow + 2;
        if (!ein_parse_term(os, strlen(os), &ot))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'equation': bad output term in '%s'", eq0);
        if (ot.nlet + (ot.ell_pos >= 0 ? E : 0) > SKIFF_MAX_DIMS)
            return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "output rank above %d", SKIFF_MAX_DIMS);
        ein_expand(&ot, ot.ell_pos >= 0 ? E : 0, E, &pl->out);
        bool seen[EIN_MAX_LABELS] = {false};
        for (int a = 0; a < pl->out.n; a++) {
            int l = pl->out.lab[a];
            if (pl->count[l] == 0 || seen[l])
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'equation': output label %d is unknown or repeated",
                                   a);
            seen[l] = true;
        }
    } else {
        /* implicit output: ellipsis axes, then labels used once, in order */
        pl->out.n = 0;
        for (int e = 0; e < E; e++)
            pl->out.lab[pl->out.n++] = EIN_LETTERS + e;
        for (int l = 0; l < EIN_LETTERS; l++)
            if (pl->count[l] == 1) {
                if (pl->out.n >= SKIFF_MAX_DIMS)
                    return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "output rank above %d",
                                       SKIFF_MAX_DIMS);
                pl->out.lab[pl->out.n++] = l;
            }
    }
    return NULL;
}

/* Direct evaluation: loops over every label, output labels outermost. */
static void ein_general(const ein_plan *pl, const skiff__kctx *ctx, skiff_tensor_t *Y, void *acc,
                        bool integer)
{
    int labs[EIN_MAX_LABELS], nl = 0;
    bool in_out[EIN_MAX_LABELS] = {false};
    for (int a = 0; a < pl->out.n; a++) {
        labs[nl++] = pl->out.lab[a];
        in_out[pl->out.lab[a]] = true;
    }
    for (int l = 0; l < EIN_MAX_LABELS; l++)
        if (pl->count[l] > 0 && !in_out[l])
            labs[nl++] = l;
    int64_t ldim[EIN_MAX_LABELS], ostr[EIN_MAX_LABELS];
    int64_t istr[EIN_MAX_OPS][EIN_MAX_LABELS];
    int64_t total = 1, n_out = skiff_tensor_numel(Y);
    for (int j = 0; j < nl; j++) {
        ldim[j] = pl->dim[labs[j]];
        total *= ldim[j];
        ostr[j] = 0;
    }
    {
        int64_t s = 1;
        for (int a = pl->out.n - 1; a >= 0; a--) {
            ostr[a] = s;
            s *= pl->dim[pl->out.lab[a]];
        }
    }
    for (int i = 0; i < pl->nops; i++) {
        const skiff_tensor_t *t = ctx->in[i];
        int64_t s = 1, astr[SKIFF_MAX_DIMS];
        for (int a = t->ndim - 1; a >= 0; a--) {
            astr[a] = s;
            s *= t->dims[a];
        }
        for (int j = 0; j < nl; j++) {
            istr[i][j] = 0;
            for (int a = 0; a < t->ndim; a++)
                if (pl->ops[i].lab[a] == labs[j] && !(t->dims[a] == 1 && ldim[j] != 1))
                    istr[i][j] += astr[a];
        }
    }
    double *accd = acc;
    int64_t *acci = acc;
    for (int64_t o = 0; o < n_out; o++) {
        if (integer)
            acci[o] = 0;
        else
            accd[o] = 0.0;
    }
    int64_t cnt[EIN_MAX_LABELS] = {0}, off[EIN_MAX_OPS] = {0}, oo = 0;
    for (int64_t it = 0; it < total; it++) {
        if (integer) {
            int64_t v = 1;
            for (int i = 0; i < pl->nops; i++)
                v *= skiff__tensor_get_i64(ctx->in[i], off[i]);
            acci[oo] += v;
        } else {
            double v = 1.0;
            for (int i = 0; i < pl->nops; i++)
                v *= skiff__tensor_get_f64(ctx->in[i], off[i]);
            accd[oo] += v;
        }
        for (int j = nl - 1; j >= 0; j--) {
            if (++cnt[j] < ldim[j]) {
                oo += ostr[j];
                for (int i = 0; i < pl->nops; i++)
                    off[i] += istr[i][j];
                break;
            }
            oo -= ostr[j] * (ldim[j] - 1);
            for (int i = 0; i < pl->nops; i++)
                off[i] -= istr[i][j] * (ldim[j] - 1);
            cnt[j] = 0;
        }
    }
    for (int64_t o = 0; o < n_out; o++)
        skiff__store_f64(Y->data, Y->dtype, o, integer ? (double)acci[o] : accd[o]);
    if (integer && Y->dtype == SKIFF_DTYPE_INT64)
        memcpy(Y->data, acci, (size_t)n_out * sizeof(int64_t)); /* exact beyond 2^53 */
}

/* dst (dims in dst order) = src viewed through strides given in dst order. */
static void permute_f32(float *dst, const float *src, int rank, const int64_t *dims,
                        const int64_t *sstr)
{
    int64_t total = skiff_shape_numel(rank, dims);
    if (rank == 0) {
        if (total == 1)
            dst[0] = src[0];
        return;
    }
    int64_t cnt[SKIFF_MAX_DIMS] = {0}, off = 0;
    const int64_t W = dims[rank - 1], ws = sstr[rank - 1];
    for (int64_t it = 0; it < total; it += W) {
        for (int64_t j = 0; j < W; j++)
            dst[it + j] = src[off + j * ws];
        for (int k = rank - 2; k >= 0; k--) {
            if (++cnt[k] < dims[k]) {
                off += sstr[k];
                break;
            }
            off -= sstr[k] * (dims[k] - 1);
            cnt[k] = 0;
        }
    }
}

/* Two float32 operands without diagonals or broadcasting: batched sgemm.
 * Returns false (having written nothing) when the equation is outside that
 * shape. */

/* Writes g1, g2, g3 one after the other into dst; returns the count. */
static int cat_labels(int *dst, const int *g1, int n1, const int *g2, int n2, const int *g3, int n3)
{
    int r = 0;
    for (int i = 0; i < n1; i++)
        dst[r++] = g1[i];
    for (int i = 0; i < n2; i++)
        dst[r++] = g2[i];
    for (int i = 0; i < n3; i++)
        dst[r++] = g3[i];
    return r;
}

static bool same_labels(const int *lab, int n, const int *ord, int n_ord)
{
    if (n != n_ord)
        return false;
    for (int i = 0; i < n; i++)
        if (lab[i] != ord[i])
            return false;
    return true;
}

static bool ein_try_gemm(skiff__kctx *ctx, const ein_plan *pl, skiff_tensor_t *Y,
                         skiff_status_t **st)
{
    if (pl->nops != 2 || ctx->in[0]->dtype != SKIFF_DTYPE_FLOAT32 ||
        ctx->in[1]->dtype != SKIFF_DTYPE_FLOAT32)
        return false;
    const ein_op *A = &pl->ops[0], *B = &pl->ops[1];
    int posA[EIN_MAX_LABELS], posB[EIN_MAX_LABELS], posO[EIN_MAX_LABELS];
    for (int l = 0; l < EIN_MAX_LABELS; l++)
        posA[l] = posB[l] = posO[l] = -1;
    for (int a = 0; a < A->n; a++) {
        if (posA[A->lab[a]] >= 0 || ctx->in[0]->dims[a] != pl->dim[A->lab[a]])
            return false;
        posA[A->lab[a]] = a;
    }
    for (int a = 0; a < B->n; a++) {
        if (posB[B->lab[a]] >= 0 || ctx->in[1]->dims[a] != pl->dim[B->lab[a]])
            return false;
        posB[B->lab[a]] = a;
    }
    for (int a = 0; a < pl->out.n; a++)
        posO[pl->out.lab[a]] = a;
    /* label groups; batch, M and K in A's order, N in B's */
    int bl[SKIFF_MAX_DIMS], ml[SKIFF_MAX_DIMS], kl[SKIFF_MAX_DIMS], nl[SKIFF_MAX_DIMS];
    int nb = 0, nm = 0, nk = 0, nn = 0;
    int64_t batch = 1, M = 1, N = 1, K = 1;
    for (int a = 0; a < A->n; a++) {
        int l = A->lab[a];
        if (posB[l] >= 0 && posO[l] >= 0) {
            bl[nb++] = l;
            batch *= pl->dim[l];
        } else if (posB[l] >= 0) {
            kl[nk++] = l;
            K *= pl->dim[l];
        } else if (posO[l] >= 0) {
            ml[nm++] = l;
            M *= pl->dim[l];
        } else {
            return false; /* summed over A alone */
        }
    }
    for (int a = 0; a < B->n; a++) {
        int l = B->lab[a];
        if (posA[l] >= 0)
            continue;
        if (posO[l] < 0)
            return false; /* summed over B alone */
        nl[nn++] = l;
        N *= pl->dim[l];
    }
    const int64_t n_out = skiff_tensor_numel(Y);
    if (n_out == 0)
        return true;

    int64_t astr[SKIFF_MAX_DIMS], bstr[SKIFF_MAX_DIMS];
    {
        int64_t s = 1;
        for (int a = A->n - 1; a >= 0; a--) {
            astr[a] = s;
            s *= ctx->in[0]->dims[a];
        }
        s = 1;
        for (int a = B->n - 1; a >= 0; a--) {
            bstr[a] = s;
            s *= ctx->in[1]->dims[a];
        }
    }
    /* Is A laid out as [batch, M, K] or [batch, K, M]? B as [batch, K, N] or
     * [batch, N, K]? The output as [batch, M, N]? */
    int ordA[SKIFF_MAX_DIMS], ordB[SKIFF_MAX_DIMS], ordO[SKIFF_MAX_DIMS], tmp[SKIFF_MAX_DIMS];
    int na = cat_labels(ordA, bl, nb, ml, nm, kl, nk);
    int nbb = cat_labels(ordB, bl, nb, kl, nk, nl, nn);
    int no = cat_labels(ordO, bl, nb, ml, nm, nl, nn);
    bool a_plain = same_labels(A->lab, A->n, ordA, na);
    bool a_trans = same_labels(A->lab, A->n, tmp, cat_labels(tmp, bl, nb, kl, nk, ml, nm));
    bool b_plain = same_labels(B->lab, B->n, ordB, nbb);
    bool b_trans = same_labels(B->lab, B->n, tmp, cat_labels(tmp, bl, nb, nl, nn, kl, nk));
    bool o_plain = same_labels(pl->out.lab, pl->out.n, ordO, no);

    skiff__carve cv = {0, false};
    size_t o_a =
        a_plain || a_trans ? 0 : skiff__carve_take(&cv, (size_t)(batch * M * K), sizeof(float));
    size_t o_b =
        b_plain || b_trans ? 0 : skiff__carve_take(&cv, (size_t)(batch * K * N), sizeof(float));
    size_t o_c = o_plain ? 0 : skiff__carve_take(&cv, (size_t)n_out, sizeof(float));
    if (cv.overflow) {
        *st = skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
        return true;
    }
    char *base = cv.off ? skiff__kcache_buf(ctx, cv.off, 0, st) : NULL;
    if (cv.off && !base)
        return true;
    const float *pa = ctx->in[0]->data, *pb = ctx->in[1]->data;
    bool ta = !a_plain, tb = !b_plain;
    if (!a_plain && !a_trans) {
        int64_t d[SKIFF_MAX_DIMS], s[SKIFF_MAX_DIMS];
        for (int i = 0; i < A->n; i++) {
            d[i] = pl->dim[ordA[i]];
            s[i] = astr[posA[ordA[i]]];
        }
        permute_f32((float *)(base + o_a), pa, A->n, d, s);
        pa = (const float *)(base + o_a);
        ta = false;
    }
    if (!b_plain && !b_trans) {
        int64_t d[SKIFF_MAX_DIMS], s[SKIFF_MAX_DIMS];
        for (int i = 0; i < B->n; i++) {
            d[i] = pl->dim[ordB[i]];
            s[i] = bstr[posB[ordB[i]]];
        }
        permute_f32((float *)(base + o_b), pb, B->n, d, s);
        pb = (const float *)(base + o_b);
        tb = false;
    }
    float *pc = o_plain ? (float *)Y->data : (float *)(base + o_c);
    if (K == 0) {
        memset(pc, 0, (size_t)batch * M * N * sizeof(float));
    } else {
        for (int64_t bi = 0; bi < batch; bi++) {
            const float *a = pa + bi * M * K, *b = pb + bi * K * N;
            float *c = pc + bi * M * N;
            if (dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, a, ta ? M : K, b,
                           tb ? K : N, 0.0f, c, N) != dnnl_success) {
                *st = skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "oneDNN sgemm failed");
                return true;
            }
        }
    }
    if (!o_plain) {
        /* C is [batch, M, N] in ordO; scatter into the output's order */
        int64_t cstr_l[EIN_MAX_LABELS] = {0}, s = 1;
        for (int i = pl->out.n - 1; i >= 0; i--) {
            cstr_l[ordO[i]] = s;
            s *= pl->dim[ordO[i]];
        }
        int64_t d[SKIFF_MAX_DIMS], st2[SKIFF_MAX_DIMS];
        for (int i = 0; i < pl->out.n; i++) {
            d[i] = pl->dim[pl->out.lab[i]];
            st2[i] = cstr_l[pl->out.lab[i]];
        }
        permute_f32(Y->data, pc, pl->out.n, d, st2);
    }
    return true;
}

static skiff_status_t *run_einsum(skiff__kctx *ctx)
{
    if (ctx->n_in < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "expected at least one input");
    ein_plan pl;
    skiff_status_t *st = ein_build(ctx, &pl);
    if (st)
        return st;
    skiff_dtype_t dt = ctx->in[0]->dtype;
    for (int i = 0; i < pl.nops; i++) {
        if (!skiff__dtype_is_numeric(ctx->in[i]->dtype))
            return skiff__kctx_bad_dtype(ctx, "Inputs", ctx->in[i]->dtype);
        if (ctx->in[i]->dtype != dt)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input %d: dtype %s differs from input 0's %s", i,
                               skiff_dtype_name(ctx->in[i]->dtype), skiff_dtype_name(dt));
    }
    int64_t odims[SKIFF_MAX_DIMS];
    for (int a = 0; a < pl.out.n; a++)
        odims[a] = pl.dim[pl.out.lab[a]];
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, dt, pl.out.n, odims, &st);
    if (!Y)
        return st;
    st = NULL;
    if (ein_try_gemm(ctx, &pl, Y, &st))
        return st;
    int64_t n_out = skiff_tensor_numel(Y);
    void *acc = skiff__kcache_buf(ctx, (size_t)(n_out > 0 ? n_out : 1) * 8, 0, &st);
    if (!acc)
        return st;
    ein_general(&pl, ctx, Y, acc, !skiff__dtype_is_float(dt));
    return NULL;
}

/* ---- table ---- */

const skiff__op skiff__ops_einsum[] = {
    {.type = "Einsum", .min_opset = 12, .run = run_einsum, .cache_free = skiff__kcache_buf_free},
    {.type = NULL},
};
