/* paddle_seq.c - Paddle's sequence ops, with Paddle's own semantics (domain
 * "paddle"): lookup_table, sequence_pool, sequence_conv, sequence_softmax,
 * gru, lstm and crf_decoding.
 *
 * A batch of sequences is a LoD tensor: the rows of every sequence stacked
 * ([total_rows, ...]) and, as a separate int64 input, the level-0 offsets
 * [0, len0, len0 + len1, ..., total_rows]. Each kernel that reads sequences
 * takes those offsets as an input and checks them before it reads a row, so
 * offsets from a client never lead to an out-of-bounds read. Each sequence
 * is computed on its own (the recurrent ops start every sequence from H0, or
 * zeros). float32 data; the loops are plain C. */
#include <math.h>
#include <string.h>

#include "../../engine_int.h"

/* ==== shared ================================================================== */

static const char *in_name(const skiff__kctx *ctx, int i)
{
    int v = i < ctx->node->n_in ? ctx->node->in[i] : -1;
    return v >= 0 ? ctx->graph->values[v].name : "";
}

/* Input i: present, float32, of rank lo..hi. */
static skiff_status_t *float_in(const skiff__kctx *ctx, int i, const char *slot, int lo, int hi,
                                const skiff_tensor_t **out)
{
    skiff_status_t *st = skiff__kctx_input(ctx, i, slot, out);
    if (st)
        return st;
    if ((*out)->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff__kctx_bad_dtype(ctx, slot, (*out)->dtype);
    if (((*out)->ndim < lo || (*out)->ndim > hi) && lo == hi)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input %s ('%s'): expected rank %d, got rank %d", slot, in_name(ctx, i),
                           lo, (*out)->ndim);
    if ((*out)->ndim < lo || (*out)->ndim > hi)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input %s ('%s'): expected rank %d to %d, got rank %d", slot,
                           in_name(ctx, i), lo, hi, (*out)->ndim);
    return NULL;
}

/* The LoD offsets in input i, checked against `rows` rows of the data:
 * int64, at least [0, rows], starting at 0, never decreasing, ending at
 * rows. *n_seq is the number of sequences. */
static skiff_status_t *lod_in(const skiff__kctx *ctx, int i, int64_t rows, const int64_t **out,
                              int64_t *n_seq)
{
    const skiff_tensor_t *t;
    skiff_status_t *st = skiff__kctx_input(ctx, i, "lod", &t);
    if (st)
        return st;
    const char *nm = in_name(ctx, i);
    if (t->dtype != SKIFF_DTYPE_INT64 || t->ndim != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "LoD input '%s': expected a 1-D int64 list of offsets, got %s of rank "
                           "%d",
                           nm, skiff_dtype_name(t->dtype), t->ndim);
    int64_t n = t->dims[0];
    const int64_t *o = t->data;
    if (n < 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "LoD input '%s': needs at least 2 offsets ([0, %lld]), got %lld", nm,
                           (long long)rows, (long long)n);
    if (o[0] != 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "LoD input '%s': offsets must start at 0, got %lld", nm,
                           (long long)o[0]);
    for (int64_t k = 1; k < n; k++)
        if (o[k] < o[k - 1])
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "LoD input '%s': offsets must not decrease (offset %lld is %lld "
                               "after %lld)",
                               nm, (long long)k, (long long)o[k], (long long)o[k - 1]);
    if (o[n - 1] != rows)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "LoD input '%s': offsets end at %lld but the data ('%s') has %lld rows",
                           nm, (long long)o[n - 1], in_name(ctx, 0), (long long)rows);
    *out = o;
    *n_seq = n - 1;
    return NULL;
}

/* Paddle's activation names for the recurrent ops. */
typedef enum { ACT_IDENTITY, ACT_SIGMOID, ACT_TANH, ACT_RELU } seq_act;

static bool parse_act(const char *s, seq_act *a)
{
    if (!s[0] || !strcmp(s, "identity") || !strcmp(s, "linear"))
        *a = ACT_IDENTITY;
    else if (!strcmp(s, "sigmoid"))
        *a = ACT_SIGMOID;
    else if (!strcmp(s, "tanh"))
        *a = ACT_TANH;
    else if (!strcmp(s, "relu"))
        *a = ACT_RELU;
    else
        return false;
    return true;
}

static skiff_status_t *act_attr(const skiff__kctx *ctx, const char *name, const char *dflt,
                                seq_act *a)
{
    const char *s = skiff__attr_str(ctx->node, name, dflt);
    if (!parse_act(s, a))
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "%s '%s' (sigmoid, tanh, relu or identity)",
                           name, s);
    return NULL;
}

static inline float act(seq_act a, float x)
{
    switch (a) {
    case ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case ACT_TANH: return tanhf(x);
    case ACT_RELU: return x > 0 ? x : 0.0f;
    default: return x;
    }
}

/* y[0..n) += x[0..k) * W, W row-major [k, ld] starting at column 0. */
static void vec_mat_add(float *y, const float *x, const float *w, int64_t k, int64_t n, int64_t ld)
{
    for (int64_t i = 0; i < k; i++) {
        float xi = x[i];
        if (xi == 0.0f)
            continue;
        const float *row = w + i * ld;
        for (int64_t j = 0; j < n; j++)
            y[j] += xi * row[j];
    }
}

/* ==== lookup_table, lookup_table_v2 ============================================= */

/* W [V, D], Ids (int64 or int32) -> rows of W. lookup_table's Ids end in a dim
 * of 1, which the output replaces by D; lookup_table_v2 appends D. Rows whose
 * id is padding_idx are zeros; any other id outside [0, V) is an error. */
static skiff_status_t *run_lookup_table(skiff__kctx *ctx)
{
    const skiff_tensor_t *W, *Ids;
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "W", &W)) || (st = skiff__kctx_input(ctx, 1, "Ids", &Ids)))
        return st;
    if (W->ndim != 2 || W->dtype == SKIFF_DTYPE_STRING)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input W ('%s'): expected a 2-D table, got rank %d", in_name(ctx, 0),
                           W->ndim);
    if (Ids->dtype != SKIFF_DTYPE_INT64 && Ids->dtype != SKIFF_DTYPE_INT32)
        return skiff__kctx_bad_dtype(ctx, "Ids", Ids->dtype);
    bool v2 = skiff__attr_int(ctx->node, "v2", 0) != 0;
    int64_t pad = skiff__attr_int(ctx->node, "padding_idx", -1);
    int64_t dims[SKIFF_MAX_DIMS];
    int nd;
    if (v2) {
        if (Ids->ndim + 1 > SKIFF_MAX_DIMS)
            return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "Ids of rank %d", Ids->ndim);
        memcpy(dims, Ids->dims, sizeof(int64_t) * (size_t)Ids->ndim);
        nd = Ids->ndim + 1;
    } else {
        if (Ids->ndim < 1 || Ids->dims[Ids->ndim - 1] != 1)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input Ids ('%s'): its last dim must be 1 (lookup_table), got "
                               "rank %d",
                               in_name(ctx, 1), Ids->ndim);
        memcpy(dims, Ids->dims, sizeof(int64_t) * (size_t)Ids->ndim);
        nd = Ids->ndim;
    }
    int64_t V = W->dims[0], D = W->dims[1];
    dims[nd - 1] = D;
    int64_t n = skiff_tensor_numel(Ids);
    for (int64_t i = 0; i < n; i++) {
        int64_t id = Ids->dtype == SKIFF_DTYPE_INT64 ? ((const int64_t *)Ids->data)[i]
                                                     : ((const int32_t *)Ids->data)[i];
        if ((id < 0 || id >= V) && !(pad >= 0 && id == pad))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input Ids ('%s'): id %lld at position %lld is outside the table "
                               "W ('%s', %lld rows)",
                               in_name(ctx, 1), (long long)id, (long long)i, in_name(ctx, 0),
                               (long long)V);
    }
    skiff_tensor_t *Out = skiff__kctx_output(ctx, 0, W->dtype, nd, dims, &st);
    if (!Out)
        return st;
    size_t row = (size_t)D * skiff_dtype_size(W->dtype);
    for (int64_t i = 0; i < n; i++) {
        int64_t id = Ids->dtype == SKIFF_DTYPE_INT64 ? ((const int64_t *)Ids->data)[i]
                                                     : ((const int32_t *)Ids->data)[i];
        char *dst = (char *)Out->data + (size_t)i * row;
        if (pad >= 0 && id == pad)
            memset(dst, 0, row);
        else
            memcpy(dst, (const char *)W->data + (size_t)id * row, row);
    }
    return NULL;
}

/* ==== sequence_pool =============================================================== */

typedef enum { POOL_SUM, POOL_AVERAGE, POOL_SQRT, POOL_MAX, POOL_LAST, POOL_FIRST } pool_type;

/* X [T, ...], lod -> Out [n_seq, ...]: each sequence's rows pooled; an empty
 * sequence gives pad_value. */
static skiff_status_t *run_sequence_pool(skiff__kctx *ctx)
{
    const skiff_tensor_t *X;
    const int64_t *lod;
    int64_t n_seq;
    skiff_status_t *st;
    if ((st = float_in(ctx, 0, "X", 1, SKIFF_MAX_DIMS, &X)) ||
        (st = lod_in(ctx, 1, X->dims[0], &lod, &n_seq)))
        return st;
    static const char *const names[] = {"SUM", "AVERAGE", "SQRT", "MAX", "LAST", "FIRST"};
    const char *ps = skiff__attr_str(ctx->node, "pooltype", "AVERAGE");
    int pt = -1;
    for (int k = 0; k < 6; k++)
        if (!strcmp(ps, names[k]))
            pt = k;
    if (pt < 0)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "pooltype '%s' (SUM, AVERAGE, SQRT, MAX, LAST or FIRST)", ps);
    float pad = skiff__attr_float(ctx->node, "pad_value", 0.0f);
    int64_t dims[SKIFF_MAX_DIMS];
    memcpy(dims, X->dims, sizeof(int64_t) * (size_t)X->ndim);
    dims[0] = n_seq;
    skiff_tensor_t *Out = skiff__kctx_output(ctx, 0, X->dtype, X->ndim, dims, &st);
    if (!Out)
        return st;
    int64_t w = X->dims[0] > 0 ? skiff_tensor_numel(X) / X->dims[0]
                               : skiff_shape_numel(X->ndim - 1, X->dims + 1);
    const float *x = X->data;
    float *y = Out->data;
    for (int64_t s = 0; s < n_seq; s++) {
        int64_t a = lod[s], b = lod[s + 1], len = b - a;
        float *o = y + s * w;
        if (len == 0) {
            for (int64_t j = 0; j < w; j++)
                o[j] = pad;
            continue;
        }
        switch ((pool_type)pt) {
        case POOL_LAST: memcpy(o, x + (b - 1) * w, sizeof(float) * (size_t)w); break;
        case POOL_FIRST: memcpy(o, x + a * w, sizeof(float) * (size_t)w); break;
        case POOL_MAX:
            memcpy(o, x + a * w, sizeof(float) * (size_t)w);
            for (int64_t r = a + 1; r < b; r++)
                for (int64_t j = 0; j < w; j++)
                    o[j] = x[r * w + j] > o[j] ? x[r * w + j] : o[j];
            break;
        default: {
            for (int64_t j = 0; j < w; j++)
                o[j] = 0.0f;
            for (int64_t r = a; r < b; r++)
                for (int64_t j = 0; j < w; j++)
                    o[j] += x[r * w + j];
            float div = pt == POOL_AVERAGE ? (float)len
                        : pt == POOL_SQRT  ? sqrtf((float)len)
                                           : 1.0f;
            if (div != 1.0f)
                for (int64_t j = 0; j < w; j++)
                    o[j] /= div;
        }
        }
    }
    return NULL;
}

/* ==== sequence_conv ================================================================ */

/* X [T, D], Filter [L * D, M], lod -> Out [T, M]: row t of a sequence sees
 * the rows t + context_start ... t + context_start + L - 1 of its own
 * sequence, zeros outside it. */
static skiff_status_t *run_sequence_conv(skiff__kctx *ctx)
{
    const skiff_tensor_t *X, *F;
    const int64_t *lod;
    int64_t n_seq;
    skiff_status_t *st;
    if ((st = float_in(ctx, 0, "X", 2, 2, &X)) || (st = float_in(ctx, 1, "Filter", 2, 2, &F)) ||
        (st = lod_in(ctx, 2, X->dims[0], &lod, &n_seq)))
        return st;
    int64_t L = skiff__attr_int(ctx->node, "context_length", 1),
            start = skiff__attr_int(ctx->node, "context_start", 0);
    int64_t T = X->dims[0], D = X->dims[1], M = F->dims[1];
    if (L < 1 || F->dims[0] != L * D)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input Filter ('%s'): expected %lld rows (contextLength %lld x %lld "
                           "columns of X), got %lld",
                           in_name(ctx, 1), (long long)(L * D), (long long)L, (long long)D,
                           (long long)F->dims[0]);
    if ((st = skiff__kctx_cost(ctx, (double)T * (double)L * (double)D * (double)M)))
        return st;
    int64_t dims[2] = {T, M};
    skiff_tensor_t *Out = skiff__kctx_output(ctx, 0, X->dtype, 2, dims, &st);
    if (!Out)
        return st;
    const float *x = X->data, *f = F->data;
    float *y = Out->data;
    for (int64_t s = 0; s < n_seq; s++)
        for (int64_t t = lod[s]; t < lod[s + 1]; t++) {
            float *o = y + t * M;
            for (int64_t j = 0; j < M; j++)
                o[j] = 0.0f;
            for (int64_t k = 0; k < L; k++) {
                int64_t r = t + start + k;
                if (r >= lod[s] && r < lod[s + 1])
                    vec_mat_add(o, x + r * D, f + k * D * M, D, M, M);
            }
        }
    return NULL;
}

/* ==== sequence_softmax ============================================================== */

/* X [T] or [T, 1], lod -> softmax over the elements of each sequence. */
static skiff_status_t *run_sequence_softmax(skiff__kctx *ctx)
{
    const skiff_tensor_t *X;
    const int64_t *lod;
    int64_t n_seq;
    skiff_status_t *st;
    if ((st = float_in(ctx, 0, "X", 1, 2, &X)))
        return st;
    if (X->ndim == 2 && X->dims[1] != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input X ('%s'): expected [T] or [T, 1], got %lld columns",
                           in_name(ctx, 0), (long long)X->dims[1]);
    if ((st = lod_in(ctx, 1, X->dims[0], &lod, &n_seq)))
        return st;
    skiff_tensor_t *Out = skiff__kctx_output(ctx, 0, X->dtype, X->ndim, X->dims, &st);
    if (!Out)
        return st;
    const float *x = X->data;
    float *y = Out->data;
    for (int64_t s = 0; s < n_seq; s++) {
        int64_t a = lod[s], b = lod[s + 1];
        if (a == b)
            continue;
        float m = x[a];
        for (int64_t r = a + 1; r < b; r++)
            m = x[r] > m ? x[r] : m;
        float sum = 0.0f;
        for (int64_t r = a; r < b; r++)
            sum += (y[r] = expf(x[r] - m));
        for (int64_t r = a; r < b; r++)
            y[r] /= sum;
    }
    return NULL;
}

/* ==== gru ============================================================================ */

/* Optional input i of shape [rows, cols] (or [1, cols] when rows is 1). */
static skiff_status_t *opt_mat(const skiff__kctx *ctx, int i, const char *slot, int64_t rows,
                               int64_t cols, const float **out)
{
    const skiff_tensor_t *t = skiff__kctx_opt(ctx, i);
    *out = NULL;
    if (!t)
        return NULL;
    if (t->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff__kctx_bad_dtype(ctx, slot, t->dtype);
    if (skiff_tensor_numel(t) != rows * cols || t->ndim < 1 || t->dims[t->ndim - 1] != cols)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input %s ('%s'): expected [%lld, %lld], got %lld elements", slot,
                           in_name(ctx, i), (long long)rows, (long long)cols,
                           (long long)skiff_tensor_numel(t));
    *out = t->data;
    return NULL;
}

/* What gru and lstm read first: Input [T, gates * D] (already projected),
 * its lod and Weight [D, gates * D]. */
static skiff_status_t *rnn_inputs(skiff__kctx *ctx, int gates, const skiff_tensor_t **X,
                                  const skiff_tensor_t **W, const int64_t **lod, int64_t *n_seq)
{
    skiff_status_t *st;
    if ((st = float_in(ctx, 0, "Input", 2, 2, X)) ||
        (st = lod_in(ctx, 1, (*X)->dims[0], lod, n_seq)) ||
        (st = float_in(ctx, 2, "Weight", 2, 2, W)))
        return st;
    int64_t D = (*W)->dims[0];
    if ((*W)->dims[1] != gates * D || (*X)->dims[1] != gates * D)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input Weight ('%s') is [%lld, %lld] and Input ('%s') has %lld "
                           "columns: expected [D, %dD] and %dD",
                           in_name(ctx, 2), (long long)(*W)->dims[0], (long long)(*W)->dims[1],
                           in_name(ctx, 0), (long long)(*X)->dims[1], gates, gates);
    return NULL;
}

/* Input [T, 3D] (already projected), lod, Weight [D, 3D] (the update and
 * reset weights as [D, 2D], then the candidate weight [D, D]), Bias [1, 3D],
 * H0 [n_seq, D] -> Hidden [T, D]. Gates in the order update, reset,
 * candidate; origin_mode picks h = u * h' + (1 - u) * c over
 * h = (1 - u) * h' + u * c. */
static skiff_status_t *run_gru(skiff__kctx *ctx)
{
    const skiff_tensor_t *X, *W;
    const int64_t *lod;
    int64_t n_seq;
    skiff_status_t *st = rnn_inputs(ctx, 3, &X, &W, &lod, &n_seq);
    if (st)
        return st;
    int64_t T = X->dims[0], D = W->dims[0];
    const float *bias, *h0;
    seq_act ga, ca;
    if ((st = opt_mat(ctx, 3, "Bias", 1, 3 * D, &bias)) ||
        (st = opt_mat(ctx, 4, "H0", n_seq, D, &h0)) ||
        (st = act_attr(ctx, "gate_activation", "sigmoid", &ga)) ||
        (st = act_attr(ctx, "activation", "tanh", &ca)) ||
        (st = skiff__kctx_cost(ctx, (double)T * 3.0 * (double)D * (double)D)))
        return st;
    bool reverse = skiff__attr_int(ctx->node, "is_reverse", 0) != 0;
    bool origin = skiff__attr_int(ctx->node, "origin_mode", 0) != 0;
    int64_t dims[2] = {T, D};
    skiff_tensor_t *H = skiff__kctx_output(ctx, 0, X->dtype, 2, dims, &st);
    if (!H)
        return st;
    float *g = skiff__kctx_scratch(ctx, sizeof(float) * (size_t)(5 * D + 1));
    if (!g)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    float *prev = g + 3 * D, *rh = g + 4 * D;
    const float *x = X->data, *wg = W->data, *wc = wg + 2 * D * D;
    float *h = H->data;
    for (int64_t s = 0; s < n_seq; s++) {
        int64_t len = lod[s + 1] - lod[s];
        for (int64_t j = 0; j < D; j++)
            prev[j] = h0 ? h0[s * D + j] : 0.0f;
        for (int64_t k = 0; k < len; k++) {
            int64_t t = reverse ? lod[s + 1] - 1 - k : lod[s] + k;
            for (int64_t j = 0; j < 3 * D; j++)
                g[j] = x[t * 3 * D + j] + (bias ? bias[j] : 0.0f);
            vec_mat_add(g, prev, wg, D, 2 * D, 2 * D);
            for (int64_t j = 0; j < 2 * D; j++)
                g[j] = act(ga, g[j]);
            for (int64_t j = 0; j < D; j++)
                rh[j] = g[D + j] * prev[j];
            vec_mat_add(g + 2 * D, rh, wc, D, D, D);
            float *o = h + t * D;
            for (int64_t j = 0; j < D; j++) {
                float u = g[j], c = act(ca, g[2 * D + j]);
                o[j] = origin ? u * prev[j] + (1.0f - u) * c : (1.0f - u) * prev[j] + u * c;
            }
            memcpy(prev, o, sizeof(float) * (size_t)D);
        }
    }
    return NULL;
}

/* ==== lstm ============================================================================ */

/* Input [T, 4D] (already projected), lod, Weight [D, 4D], Bias [1, 4D]
 * ([1, 7D] with use_peepholes: then the input, forget and output peephole
 * weights), H0, C0 [n_seq, D] -> Hidden, Cell [T, D]. Paddle's gate order:
 * candidate, input, forget, output. */
static skiff_status_t *run_lstm(skiff__kctx *ctx)
{
    const skiff_tensor_t *X, *W;
    const int64_t *lod;
    int64_t n_seq;
    skiff_status_t *st = rnn_inputs(ctx, 4, &X, &W, &lod, &n_seq);
    if (st)
        return st;
    int64_t T = X->dims[0], D = W->dims[0];
    bool peep = skiff__attr_int(ctx->node, "use_peepholes", 0) != 0;
    const float *bias, *h0, *c0;
    seq_act ga, cella, canda;
    if ((st = opt_mat(ctx, 3, "Bias", 1, (peep ? 7 : 4) * D, &bias)) ||
        (st = opt_mat(ctx, 4, "H0", n_seq, D, &h0)) ||
        (st = opt_mat(ctx, 5, "C0", n_seq, D, &c0)) ||
        (st = act_attr(ctx, "gate_activation", "sigmoid", &ga)) ||
        (st = act_attr(ctx, "cell_activation", "tanh", &cella)) ||
        (st = act_attr(ctx, "candidate_activation", "tanh", &canda)) ||
        (st = skiff__kctx_cost(ctx, (double)T * 4.0 * (double)D * (double)D)))
        return st;
    if (peep && !bias)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "use_peepholes needs the Bias input");
    bool reverse = skiff__attr_int(ctx->node, "is_reverse", 0) != 0;
    int64_t dims[2] = {T, D};
    skiff_tensor_t *H = skiff__kctx_output(ctx, 0, X->dtype, 2, dims, &st);
    if (!H)
        return st;
    skiff_tensor_t *C = skiff__kctx_output(ctx, 1, X->dtype, 2, dims, &st);
    if (!C)
        return st;
    float *g = skiff__kctx_scratch(ctx, sizeof(float) * (size_t)(6 * D + 1));
    if (!g)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    float *hp = g + 4 * D, *cp = g + 5 * D;
    const float *x = X->data, *w = W->data;
    const float *wic = peep ? bias + 4 * D : NULL, *wfc = peep ? bias + 5 * D : NULL,
                *woc = peep ? bias + 6 * D : NULL;
    float *h = H->data, *c = C->data;
    for (int64_t s = 0; s < n_seq; s++) {
        int64_t len = lod[s + 1] - lod[s];
        for (int64_t j = 0; j < D; j++) {
            hp[j] = h0 ? h0[s * D + j] : 0.0f;
            cp[j] = c0 ? c0[s * D + j] : 0.0f;
        }
        for (int64_t k = 0; k < len; k++) {
            int64_t t = reverse ? lod[s + 1] - 1 - k : lod[s] + k;
            for (int64_t j = 0; j < 4 * D; j++)
                g[j] = x[t * 4 * D + j] + (bias ? bias[j] : 0.0f);
            vec_mat_add(g, hp, w, D, 4 * D, 4 * D);
            float *ho = h + t * D, *co = c + t * D;
            for (int64_t j = 0; j < D; j++) {
                float cand = act(canda, g[j]);
                float ig = act(ga, g[D + j] + (peep ? cp[j] * wic[j] : 0.0f));
                float fg = act(ga, g[2 * D + j] + (peep ? cp[j] * wfc[j] : 0.0f));
                float cell = cand * ig + cp[j] * fg;
                float og = act(ga, g[3 * D + j] + (peep ? cell * woc[j] : 0.0f));
                co[j] = cell;
                ho[j] = og * act(cella, cell);
            }
            memcpy(hp, ho, sizeof(float) * (size_t)D);
            memcpy(cp, co, sizeof(float) * (size_t)D);
        }
    }
    return NULL;
}

/* ==== crf_decoding ======================================================================= */

/* Emission [T, K], lod, Transition [K + 2, K] (start weights, end weights,
 * then the K x K transition from row tag to column tag), Label [T, 1]
 * (optional) -> ViterbiPath int64 [T, 1]: the best tag path of each sequence,
 * or with Label, 1 where the label equals the path and 0 elsewhere. Ties go
 * to the lowest tag. */
static skiff_status_t *run_crf_decoding(skiff__kctx *ctx)
{
    const skiff_tensor_t *E, *Tr;
    const int64_t *lod;
    int64_t n_seq;
    skiff_status_t *st;
    if ((st = float_in(ctx, 0, "Emission", 2, 2, &E)) ||
        (st = lod_in(ctx, 1, E->dims[0], &lod, &n_seq)) ||
        (st = float_in(ctx, 2, "Transition", 2, 2, &Tr)))
        return st;
    int64_t T = E->dims[0], K = E->dims[1];
    if (Tr->dims[0] != K + 2 || Tr->dims[1] != K)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input Transition ('%s'): expected [%lld, %lld] for %lld tags, got "
                           "[%lld, %lld]",
                           in_name(ctx, 2), (long long)(K + 2), (long long)K, (long long)K,
                           (long long)Tr->dims[0], (long long)Tr->dims[1]);
    const skiff_tensor_t *Lb = skiff__kctx_opt(ctx, 3);
    if (Lb && ((Lb->dtype != SKIFF_DTYPE_INT64 && Lb->dtype != SKIFF_DTYPE_INT32) ||
               skiff_tensor_numel(Lb) != T))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input Label ('%s'): expected %lld int64 labels, got %lld of %s",
                           in_name(ctx, 3), (long long)T, (long long)skiff_tensor_numel(Lb),
                           skiff_dtype_name(Lb->dtype));
    if (K < 1 && T > 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "Emission has no tags");
    if ((st = skiff__kctx_cost(ctx, (double)T * (double)K * (double)K)))
        return st;
    int64_t dims[2] = {T, 1};
    skiff_tensor_t *P = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_INT64, 2, dims, &st);
    if (!P)
        return st;
    size_t alpha_bytes = skiff__page_up(sizeof(float) * (size_t)(T * K + 1));
    char *scratch = skiff__kctx_scratch(ctx, alpha_bytes + sizeof(int64_t) * (size_t)(T * K + 1));
    if (!scratch)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    float *alpha = (float *)scratch;
    int64_t *track = (int64_t *)(scratch + alpha_bytes);
    const float *e = E->data, *start = Tr->data, *end = start + K, *tr = start + 2 * K;
    int64_t *path = P->data;
    for (int64_t s = 0; s < n_seq; s++) {
        int64_t a = lod[s], len = lod[s + 1] - a;
        if (len == 0)
            continue;
        const float *x = e + a * K;
        for (int64_t j = 0; j < K; j++)
            alpha[j] = start[j] + x[j];
        for (int64_t k = 1; k < len; k++)
            for (int64_t j = 0; j < K; j++) {
                float best = -INFINITY;
                int64_t arg = 0;
                for (int64_t i = 0; i < K; i++) {
                    float v = alpha[(k - 1) * K + i] + tr[i * K + j];
                    if (v > best) {
                        best = v;
                        arg = i;
                    }
                }
                alpha[k * K + j] = best + x[k * K + j];
                track[k * K + j] = arg;
            }
        float best = -INFINITY;
        int64_t tag = 0;
        for (int64_t j = 0; j < K; j++) {
            float v = alpha[(len - 1) * K + j] + end[j];
            if (v > best) {
                best = v;
                tag = j;
            }
        }
        for (int64_t k = len - 1; k >= 0; k--) {
            path[a + k] = tag;
            if (k > 0)
                tag = track[k * K + tag];
        }
    }
    if (Lb)
        for (int64_t t = 0; t < T; t++) {
            int64_t l = Lb->dtype == SKIFF_DTYPE_INT64 ? ((const int64_t *)Lb->data)[t]
                                                       : ((const int32_t *)Lb->data)[t];
            path[t] = l == path[t] ? 1 : 0;
        }
    return NULL;
}

const skiff__op skiff__ops_paddle_seq[] = {
    {.type = "lookup_table",
     .domain = SKIFF_DOMAIN_PADDLE,
     .min_opset = 1,
     .run = run_lookup_table},
    {.type = "sequence_pool",
     .domain = SKIFF_DOMAIN_PADDLE,
     .min_opset = 1,
     .run = run_sequence_pool},
    {.type = "sequence_conv",
     .domain = SKIFF_DOMAIN_PADDLE,
     .min_opset = 1,
     .run = run_sequence_conv},
    {.type = "sequence_softmax",
     .domain = SKIFF_DOMAIN_PADDLE,
     .min_opset = 1,
     .run = run_sequence_softmax},
    {.type = "gru", .domain = SKIFF_DOMAIN_PADDLE, .min_opset = 1, .run = run_gru},
    {.type = "lstm", .domain = SKIFF_DOMAIN_PADDLE, .min_opset = 1, .run = run_lstm},
    {.type = "crf_decoding",
     .domain = SKIFF_DOMAIN_PADDLE,
     .min_opset = 1,
     .run = run_crf_decoding},
    {.type = NULL},
};
