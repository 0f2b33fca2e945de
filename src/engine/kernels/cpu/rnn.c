/* rnn.c - the ONNX recurrent ops: LSTM, GRU and RNN (opsets 1-14+, with the
 * opset-14 `layout` attribute).
 *
 * All three run the same way. The input projection X*W^T does not depend on
 * the recurrence, so it is done for every timestep at once with one oneDNN
 * sgemm per direction; only H(t-1)*R^T remains inside the time loop. For the
 * small batches of online serving that product is a matrix-vector product,
 * which a call into a BLAS spends more time dispatching than computing, so it
 * runs on a register-blocked AVX2 kernel over R^T (packed at load time when R
 * is a constant); batches of 8 to 64 rows use an eight-row AVX-512 kernel over
 * the same panels when the CPU has it (batch 8, hidden 128: 1.25 ms per
 * 100-step run against 1.9 ms through dnnl_sgemm), larger ones dnnl_sgemm.
 * Batch rows (and the two directions) never meet, so the threads split the
 * rows and each runs whole sequences for its own, with no barrier per step
 * (batch 8 on two threads: four rows each on a four-row kernel, 1.02 ms
 * against 1.25 ms on one thread); splitting each step's columns with a
 * barrier per step was tried and measured slower (1.6 ms). The gate
 * nonlinearities use
 * vectorised exp/tanh, because with hidden 128 the libm calls would otherwise
 * cost as much as the matrix work.
 *
 * sequence_lens is honoured per batch row: a row stops updating its state
 * after its length (its Y entries past the end are zero), and the reverse
 * direction of a row starts at its own last element, as ONNX Runtime does. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include <oneapi/dnnl/dnnl.h>

#include "rnn_int.h"

/* ---- configuration -------------------------------------------------------- */

static bool act_parse(const char *name, act_kind *out)
{
    static const struct {
        const char *name;
        act_kind kind;
    } names[] = {
        {"Sigmoid", ACT_SIGMOID},
        {"Tanh", ACT_TANH},
        {"Relu", ACT_RELU},
        {"Affine", ACT_AFFINE},
        {"LeakyRelu", ACT_LEAKYRELU},
        {"ThresholdedRelu", ACT_THRESHOLDEDRELU},
        {"ScaledTanh", ACT_SCALEDTANH},
        {"HardSigmoid", ACT_HARDSIGMOID},
        {"Elu", ACT_ELU},
        {"Softsign", ACT_SOFTSIGN},
        {"Softplus", ACT_SOFTPLUS},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].kind;
            return true;
        }
    return false;
}

/* Which of (alpha, beta) an activation takes, and their defaults. Parameters
 * are consumed from activation_alpha/beta in activation order, only by the
 * activations that take them (ONNX Runtime's reading of the spec). */
static void act_params(act_kind k, bool *ua, bool *ub, float *da, float *db)
{
    *ua = *ub = false;
    *da = *db = 0.0f;
    switch (k) {
    case ACT_AFFINE:
        *ua = *ub = true;
        *da = 1.0f;
        break;
    case ACT_LEAKYRELU:
        *ua = true;
        *da = 0.01f;
        break;
    case ACT_THRESHOLDEDRELU:
        *ua = true;
        *da = 1.0f;
        break;
    case ACT_SCALEDTANH:
        *ua = *ub = true;
        *da = 1.0f;
        *db = 1.0f;
        break;
    case ACT_HARDSIGMOID:
        *ua = *ub = true;
        *da = 0.2f;
        *db = 0.5f;
        break;
    case ACT_ELU:
        *ua = true;
        *da = 1.0f;
        break;
    default: break;
    }
}

static const char *cell_name(cell_kind c)
{
    return c == CELL_LSTM ? "LSTM" : c == CELL_GRU ? "GRU" : "RNN";
}

static skiff_status_t *cfg_parse(const skiff__node *node, cell_kind cell, rnn_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->cell = cell;
    cfg->gates = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1;
    cfg->nact = cell == CELL_LSTM ? 3 : cell == CELL_GRU ? 2 : 1;

    const char *dir = skiff__attr_str(node, "direction", "forward");
    if (strcmp(dir, "forward") == 0) {
        cfg->dirs = 1;
    } else if (strcmp(dir, "reverse") == 0) {
        cfg->dirs = 1;
        cfg->reverse = true;
    } else if (strcmp(dir, "bidirectional") == 0) {
        cfg->dirs = 2;
    } else {
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'direction': expected forward, reverse or "
                               "bidirectional, got '%s'",
                               dir);
    }
    cfg->hidden = skiff__attr_int(node, "hidden_size", -1);
    if (skiff__attr_find(node, "hidden_size") && cfg->hidden <= 0)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'hidden_size': expected > 0, got %lld",
                               (long long)cfg->hidden);
    int64_t layout = node->opset >= 14 ? skiff__attr_int(node, "layout", 0) : 0;
    if (layout != 0 && layout != 1)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'layout': expected 0 or 1, got %lld", (long long)layout);
    cfg->layout = (int)layout;
    const skiff__attr *clip = skiff__attr_find(node, "clip");
    if (clip) {
        cfg->has_clip = true;
        cfg->clip = skiff__attr_float(node, "clip", 0.0f);
        if (!(cfg->clip > 0.0f))
            return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'clip': expected > 0, got %g", (double)cfg->clip);
    }
    cfg->input_forget = cell == CELL_LSTM && skiff__attr_int(node, "input_forget", 0) != 0;
    cfg->lbr = cell == CELL_GRU && skiff__attr_int(node, "linear_before_reset", 0) != 0;

    /* Defaults: LSTM f=Sigmoid g=h=Tanh; GRU f=Sigmoid g=Tanh; RNN Tanh. */
    for (int d = 0; d < 2; d++)
        for (int i = 0; i < cfg->nact; i++) {
            cfg->act[d][i].kind = (i == 0 && cell != CELL_RNN) ? ACT_SIGMOID : ACT_TANH;
            cfg->act[d][i].alpha = cfg->act[d][i].beta = 0.0f;
        }

    const skiff__attr *acts = skiff__attr_find(node, "activations");
    if (acts && acts->type == SKIFF_ATTR_STRINGS && acts->n > 0) {
        int want = cfg->nact * cfg->dirs;
        /* Some exporters list one direction's functions for both directions. */
        if (acts->n != want && !(cfg->dirs == 2 && acts->n == cfg->nact))
            return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'activations': expected %d names for %s with %d "
                                   "direction(s), got %d",
                                   want, cell_name(cell), cfg->dirs, acts->n);
        const float *alphas = NULL, *betas = NULL;
        int na = skiff__attr_floats(node, "activation_alpha", &alphas);
        int nb = skiff__attr_floats(node, "activation_beta", &betas);
        int ia = 0, ib = 0;
        for (int k = 0; k < want; k++) {
            const char *nm = acts->strings[k % acts->n];
            rnn_act *a = &cfg->act[k / cfg->nact][k % cfg->nact];
            if (!nm || !act_parse(nm, &a->kind))
                return skiff__node_err(node, SKIFF_CODE_UNSUPPORTED,
                                       "attribute 'activations': unsupported activation '%s'",
                                       nm ? nm : "");
            bool ua, ub;
            float da, db;
            act_params(a->kind, &ua, &ub, &da, &db);
            a->alpha = ua && ia < na ? alphas[ia++] : da;
            a->beta = ub && ib < nb ? betas[ib++] : db;
        }
    } else {
        for (int d = 0; d < 2; d++)
            for (int i = 0; i < cfg->nact; i++) {
                bool ua, ub;
                act_params(cfg->act[d][i].kind, &ua, &ub, &cfg->act[d][i].alpha,
                           &cfg->act[d][i].beta);
            }
    }
    return NULL;
}

/* ---- weight packing ------------------------------------------------------- */

/* Folds B = [Wb, Rb] into one bias per gate; for GRU with
 * linear_before_reset the h gate's Rb must stay inside r * (...). */
static void pack_bias(const rnn_cfg *cfg, const float *B, int64_t H, float *bias, float *rbh)
{
    int64_t GH = cfg->gates * H;
    for (int d = 0; d < cfg->dirs; d++) {
        float *o = bias + (size_t)d * GH;
        float *rh = rbh ? rbh + (size_t)d * H : NULL;
        if (!B) {
            memset(o, 0, (size_t)GH * sizeof(float));
            if (rh)
                memset(rh, 0, (size_t)H * sizeof(float));
            continue;
        }
        const float *wb = B + (size_t)d * 2 * GH, *rb = wb + GH;
        for (int64_t j = 0; j < GH; j++)
            o[j] = wb[j] + rb[j];
        if (rh) {
            if (cfg->lbr) {
                for (int64_t j = 0; j < H; j++) {
                    o[2 * H + j] = wb[2 * H + j];
                    rh[j] = rb[2 * H + j];
                }
            } else {
                memset(rh, 0, (size_t)H * sizeof(float));
            }
        }
    }
}

static const skiff_tensor_t *const_input(const skiff__node *node, const skiff__graph *graph, int i)
{
    if (i >= node->n_in || node->in[i] < 0)
        return NULL;
    return graph->values[node->in[i]].constant;
}

static void prep_free(void *p)
{
    rnn_prep *pp = p;
    if (!pp)
        return;
    skiff__free(pp->rt);
    skiff__free(pp->bias);
    skiff__free(pp->rbh);
    skiff__free(pp);
}

static skiff_status_t *prepare_cell(skiff__node *node, const skiff__graph *graph, cell_kind cell)
{
    rnn_cfg cfg;
    skiff_status_t *st = cfg_parse(node, cell, &cfg);
    if (st)
        return st;
    const skiff_tensor_t *R = const_input(node, graph, 2);
    bool has_b_input = node->n_in > 3 && node->in[3] >= 0;
    const skiff_tensor_t *B = has_b_input ? const_input(node, graph, 3) : NULL;
    if (!R || R->dtype != SKIFF_DTYPE_FLOAT32 || R->ndim != 3 || R->dims[0] != cfg.dirs)
        return NULL; /* packed at run time instead; run() reports shape errors */
    int64_t H = R->dims[2], GH = R->dims[1];
    if (H <= 0 || GH != cfg.gates * H || (cfg.hidden > 0 && cfg.hidden != H))
        return NULL;
    rnn_prep *p = skiff__calloc(1, sizeof(*p));
    if (!p)
        return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory packing R");
    p->hidden = H;
    p->input_rows = GH;
    p->dirs = cfg.dirs;
    size_t n_rt;
    if (!skiff__mul_size((size_t)cfg.dirs, (size_t)skiff__rnn_packed_floats(cell, H), &n_rt) ||
        !(p->rt = skiff__aligned_alloc(n_rt * sizeof(float)))) {
        prep_free(p);
        return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory packing R");
    }
    skiff__rnn_pack_panels(cell, R->data, cfg.dirs, H, p->rt);
    bool b_ok = !has_b_input || (B && B->dtype == SKIFF_DTYPE_FLOAT32 && B->ndim == 2 &&
                                 B->dims[0] == cfg.dirs && B->dims[1] == 2 * GH);
    if (b_ok) {
        p->bias = skiff__aligned_alloc((size_t)cfg.dirs * GH * sizeof(float));
        p->rbh = skiff__aligned_alloc((size_t)cfg.dirs * H * sizeof(float));
        if (!p->bias || !p->rbh) {
            prep_free(p);
            return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory packing B");
        }
        pack_bias(&cfg, has_b_input ? B->data : NULL, H, p->bias, p->rbh);
        p->have_bias = true;
    }
    node->prep = p;
    return NULL;
}

static skiff_status_t *prepare_lstm(skiff__node *node, const skiff__graph *graph)
{
    return prepare_cell(node, graph, CELL_LSTM);
}
static skiff_status_t *prepare_gru(skiff__node *node, const skiff__graph *graph)
{
    return prepare_cell(node, graph, CELL_GRU);
}
static skiff_status_t *prepare_rnn(skiff__node *node, const skiff__graph *graph)
{
    return prepare_cell(node, graph, CELL_RNN);
}

/* ---- run -------------------------------------------------------------------- */

static bool want_output(const skiff__kctx *ctx, int i)
{
    return i < ctx->n_out && i < ctx->node->n_out && ctx->node->out[i] >= 0;
}

static skiff_status_t *check_shape(const skiff__kctx *ctx, const skiff_tensor_t *t,
                                   const char *name, int ndim, const int64_t *dims)
{
    char got[128], want[128];
    if (t->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input '%s': expected float32, got %s",
                           name, skiff_dtype_name(t->dtype));
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->dims[i] == dims[i];
    if (ok)
        return NULL;
    return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input '%s': expected shape %s, got %s", name,
                       skiff_shape_str(ndim, dims, want, sizeof(want)),
                       skiff_shape_str(t->ndim, t->dims, got, sizeof(got)));
}

/* Checks the shapes of W, R, B, initial_h, initial_c, P and sequence_lens
 * against X's batch and input size and the hidden size H. */
static skiff_status_t *check_inputs(const skiff__kctx *ctx, const rnn_cfg *cfg, int64_t batch,
                                    int64_t I, int64_t H)
{
    const skiff_tensor_t *W = skiff__kctx_opt(ctx, 1), *R = skiff__kctx_opt(ctx, 2);
    const skiff_tensor_t *B = skiff__kctx_opt(ctx, 3), *SL = skiff__kctx_opt(ctx, 4),
                         *H0 = skiff__kctx_opt(ctx, 5);
    const skiff_tensor_t *C0 = cfg->cell == CELL_LSTM ? skiff__kctx_opt(ctx, 6) : NULL;
    const skiff_tensor_t *P = cfg->cell == CELL_LSTM ? skiff__kctx_opt(ctx, 7) : NULL;
    const int dirs = cfg->dirs;
    const int64_t GH = cfg->gates * H;
    skiff_status_t *st;
    {
        int64_t wd[3] = {dirs, GH, I}, rd[3] = {dirs, GH, H};
        if ((st = check_shape(ctx, W, "W", 3, wd)) || (st = check_shape(ctx, R, "R", 3, rd)))
            return st;
        int64_t bd[2] = {dirs, 2 * GH};
        if (B && (st = check_shape(ctx, B, "B", 2, bd)))
            return st;
        int64_t hd[3] = {dirs, batch, H};
        if (cfg->layout) {
            hd[0] = batch;
            hd[1] = dirs;
        }
        if (H0 && (st = check_shape(ctx, H0, "initial_h", 3, hd)))
            return st;
        if (C0 && (st = check_shape(ctx, C0, "initial_c", 3, hd)))
            return st;
        int64_t pd[2] = {dirs, 3 * H};
        if (P && (st = check_shape(ctx, P, "P", 2, pd)))
            return st;
    }
    if (SL) {
        if (SL->dtype != SKIFF_DTYPE_INT32 && SL->dtype != SKIFF_DTYPE_INT64)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'sequence_lens': expected int32, got %s",
                               skiff_dtype_name(SL->dtype));
        if (SL->ndim != 1 || SL->dims[0] != batch)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'sequence_lens': expected shape [%lld], got rank %d",
                               (long long)batch, SL->ndim);
    }
    return NULL;
}

/* The initial state, stored [dir][batch][H] whatever the layout. */
static void load_state(const rnn_cfg *cfg, const skiff_tensor_t *H0, const skiff_tensor_t *C0,
                       int64_t batch, int64_t H, float *hs, float *cs)
{
    const int dirs = cfg->dirs;
    for (int d = 0; d < dirs; d++)
        for (int64_t b = 0; b < batch; b++) {
            size_t so = ((size_t)d * batch + b) * H;
            size_t io = cfg->layout ? ((size_t)b * dirs + d) * H : so;
            if (H0)
                memcpy(hs + so, (const float *)H0->data + io, (size_t)H * sizeof(float));
            else
                memset(hs + so, 0, (size_t)H * sizeof(float));
            if (C0)
                memcpy(cs + so, (const float *)C0->data + io, (size_t)H * sizeof(float));
            else
                memset(cs + so, 0, (size_t)H * sizeof(float));
        }
}

/* The final state into Y_h and Y_c (either may be NULL) in the layout. */
static void store_state(const rnn_cfg *cfg, const int64_t *lens, int64_t batch, int64_t H,
                        const float *hs, const float *cs, skiff_tensor_t *Yh, skiff_tensor_t *Yc)
{
    const int dirs = cfg->dirs;
    for (int d = 0; d < dirs; d++)
        for (int64_t b = 0; b < batch; b++) {
            size_t so = ((size_t)d * batch + b) * H;
            size_t oo = cfg->layout ? ((size_t)b * dirs + d) * H : so;
            /* A row of length 0 has no final state: zeros, as ONNX Runtime
             * answers (not the initial state). */
            if (lens[b] == 0) {
                if (Yh)
                    memset((float *)Yh->data + oo, 0, (size_t)H * sizeof(float));
                if (Yc)
                    memset((float *)Yc->data + oo, 0, (size_t)H * sizeof(float));
                continue;
            }
            if (Yh)
                memcpy((float *)Yh->data + oo, hs + so, (size_t)H * sizeof(float));
            if (Yc)
                memcpy((float *)Yc->data + oo, cs + so, (size_t)H * sizeof(float));
        }
}

static skiff_status_t *run_cell(skiff__kctx *ctx, cell_kind cell)
{
    rnn_cfg cfg;
    skiff_status_t *st = cfg_parse(ctx->node, cell, &cfg);
    if (st)
        return st;
    const skiff_tensor_t *X = skiff__kctx_opt(ctx, 0), *W = skiff__kctx_opt(ctx, 1),
                         *R = skiff__kctx_opt(ctx, 2);
    const skiff_tensor_t *B = skiff__kctx_opt(ctx, 3), *SL = skiff__kctx_opt(ctx, 4),
                         *H0 = skiff__kctx_opt(ctx, 5);
    const skiff_tensor_t *C0 = cell == CELL_LSTM ? skiff__kctx_opt(ctx, 6) : NULL;
    const skiff_tensor_t *P = cell == CELL_LSTM ? skiff__kctx_opt(ctx, 7) : NULL;
    if (!X || !W || !R)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "inputs X, W and R are required");
    if (X->dtype != SKIFF_DTYPE_FLOAT32)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "input 'X': dtype %s is not supported",
                           skiff_dtype_name(X->dtype));
    if (X->ndim != 3)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X': expected rank 3, got %d",
                           X->ndim);
    if (R->ndim != 3)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'R': expected rank 3, got %d",
                           R->ndim);
    const int dirs = cfg.dirs, G = cfg.gates;
    const int64_t seq = cfg.layout ? X->dims[1] : X->dims[0];
    const int64_t batch = cfg.layout ? X->dims[0] : X->dims[1];
    const int64_t I = X->dims[2];
    const int64_t H = cfg.hidden > 0 ? cfg.hidden : R->dims[2];
    if (H <= 0 || H > (INT64_C(1) << 24))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "hidden size %lld is out of range",
                           (long long)H);
    const int64_t GH = G * H;
    if ((st = check_inputs(ctx, &cfg, batch, I, H)))
        return st;

    if ((st = skiff__kctx_cost(ctx, (double)dirs * (double)seq * (double)batch * (double)GH *
                                        ((double)I + (double)H))))
        return st;

    /* outputs */
    skiff_tensor_t *Y = NULL, *Yh = NULL, *Yc = NULL;
    if (want_output(ctx, 0)) {
        int64_t d[4] = {seq, dirs, batch, H};
        if (cfg.layout) {
            d[0] = batch;
            d[1] = seq;
            d[2] = dirs;
        }
        if (!(Y = skiff__kctx_output(ctx, 0, SKIFF_DTYPE_FLOAT32, 4, d, &st)))
            return st;
    }
    int64_t hdims[3] = {dirs, batch, H};
    if (cfg.layout) {
        hdims[0] = batch;
        hdims[1] = dirs;
    }
    if (want_output(ctx, 1) &&
        !(Yh = skiff__kctx_output(ctx, 1, SKIFF_DTYPE_FLOAT32, 3, hdims, &st)))
        return st;
    if (cell == CELL_LSTM && want_output(ctx, 2) &&
        !(Yc = skiff__kctx_output(ctx, 2, SKIFF_DTYPE_FLOAT32, 3, hdims, &st)))
        return st;

    /* packed weights: from prepare when R (and B) were constants of this shape */
    const rnn_prep *pp = ctx->node->prep;
    bool use_prep_rt = pp && pp->rt && pp->hidden == H && pp->input_rows == GH && pp->dirs == dirs;
    bool use_prep_bias = use_prep_rt && pp->have_bias;

    /* scratch */
    const int64_t SB = seq * batch;
    skiff__carve cv = {0, false};
    size_t o_len = skiff__carve_take(&cv, (size_t)batch, sizeof(int64_t));
    size_t o_xw = skiff__carve_take(&cv, (size_t)dirs * (size_t)SB * (size_t)GH, sizeof(float));
    const int64_t per_dir = skiff__rnn_packed_floats(cell, H);
    size_t o_rt = use_prep_rt ? 0 : skiff__carve_take(&cv, (size_t)dirs * per_dir, sizeof(float));
    size_t o_bias = use_prep_bias ? 0 : skiff__carve_take(&cv, (size_t)dirs * GH, sizeof(float));
    size_t o_rbh = use_prep_bias ? 0 : skiff__carve_take(&cv, (size_t)dirs * H, sizeof(float));
    size_t o_h = skiff__carve_take(&cv, (size_t)dirs * batch * H, sizeof(float));
    size_t o_c = skiff__carve_take(&cv, (size_t)dirs * batch * H, sizeof(float));
    size_t o_g = skiff__carve_take(&cv, (size_t)dirs * batch * GH, sizeof(float));
    size_t o_rec = skiff__carve_take(&cv, (size_t)dirs * batch * H, sizeof(float));
    size_t o_tmp = skiff__carve_take(&cv, (size_t)dirs * batch * H, sizeof(float));
    const int threads = skiff__kctx_threads(ctx);
    if (cv.overflow)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "scratch size overflows");
    /* At least a cache line, so that empty shapes (a zero dim) still get
     * valid pointers below. */
    char *base = skiff__kcache_buf(ctx, cv.off, 0, &st);
    if (!base)
        return st;
    int64_t *lens = (int64_t *)(base + o_len);
    float *xw = (float *)(base + o_xw);
    const float *rt = use_prep_rt ? pp->rt : (float *)(base + o_rt);
    const float *bias = use_prep_bias ? pp->bias : (float *)(base + o_bias);
    const float *rbh = use_prep_bias ? pp->rbh : (float *)(base + o_rbh);
    float *hs = (float *)(base + o_h), *cs = (float *)(base + o_c);
    float *gates = (float *)(base + o_g), *rec = (float *)(base + o_rec);
    float *tmp = (float *)(base + o_tmp);
    if (!use_prep_rt)
        skiff__rnn_pack_panels(cell, R->data, dirs, H, (float *)(base + o_rt));
    if (!use_prep_bias)
        pack_bias(&cfg, B ? B->data : NULL, H, (float *)(base + o_bias), (float *)(base + o_rbh));

    int64_t max_len = 0;
    bool ragged = false;
    for (int64_t b = 0; b < batch; b++) {
        int64_t L = SL ? skiff__tensor_get_i64(SL, b) : seq;
        if (L < 0 || L > seq)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'sequence_lens': entry %lld is %lld, outside [0, %lld]",
                               (long long)b, (long long)L, (long long)seq);
        lens[b] = L;
        max_len = L > max_len ? L : max_len;
        ragged |= L != seq;
    }

    load_state(&cfg, H0, C0, batch, H, hs, cs);
    if (Y && ragged)
        memset(Y->data, 0, Y->nbytes);

    /* input projection for every timestep at once */
    for (int d = 0; d < dirs && SB > 0; d++) {
        float *xwd = xw + (size_t)d * SB * GH;
        if (I == 0) {
            memset(xwd, 0, (size_t)SB * GH * sizeof(float));
            continue;
        }
        const float *Wd = (const float *)W->data + (size_t)d * GH * I;
        if (dnnl_sgemm('N', 'T', SB, GH, I, 1.0f, X->data, I, Wd, I, 0.0f, xwd, GH) != dnnl_success)
            return skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "oneDNN sgemm failed for X*W^T");
    }

    recur_args ra = {
        .cfg = &cfg,
        .cell = cell,
        .H = H,
        .GH = GH,
        .seq = seq,
        .batch = batch,
        .dirs = dirs,
        .lens = lens,
        .rt = rt,
        .per_dir = per_dir,
        .R = R->data,
        .bias = bias,
        .rbh = rbh,
        .xw = xw,
        .hs = hs,
        .cs = cs,
        .gates = gates,
        .rec = rec,
        .tmp = tmp,
        .max_len = max_len,
        .P = P ? P->data : NULL,
        .Y = Y ? Y->data : NULL,
    };
    /* Batch rows (and directions) are independent through time: each thread
     * runs whole sequences for its own rows, with no barrier per step. */
    int nchunks = (int)(batch < threads / dirs ? batch : threads / dirs);
    if (nchunks < 1)
        nchunks = 1;
    int items = dirs * nchunks;
    if (items > 1 && threads > 1) {
#pragma omp parallel for num_threads(items < threads ? items : threads) schedule(static)
        for (int it = 0; it < items; it++) {
            int d = it / nchunks, c = it % nchunks;
            skiff__rnn_recur(&ra, d, batch * c / nchunks, batch * (c + 1) / nchunks, 1);
        }
    } else {
        for (int d = 0; d < dirs; d++)
            skiff__rnn_recur(&ra, d, 0, batch, threads);
    }

    store_state(&cfg, lens, batch, H, hs, cs, Yh, Yc);
    return NULL;
}

static skiff_status_t *run_lstm(skiff__kctx *ctx) { return run_cell(ctx, CELL_LSTM); }
static skiff_status_t *run_gru(skiff__kctx *ctx) { return run_cell(ctx, CELL_GRU); }
static skiff_status_t *run_rnn(skiff__kctx *ctx) { return run_cell(ctx, CELL_RNN); }

const skiff__op skiff__ops_rnn[] = {
    {.type = "LSTM",
     .min_opset = 1,
     .prepare = prepare_lstm,
     .run = run_lstm,
     .prep_free = prep_free,
     .cache_free = skiff__kcache_buf_free},
    {.type = "GRU",
     .min_opset = 1,
     .prepare = prepare_gru,
     .run = run_gru,
     .prep_free = prep_free,
     .cache_free = skiff__kcache_buf_free},
    {.type = "RNN",
     .min_opset = 1,
     .prepare = prepare_rnn,
     .run = run_rnn,
     .prep_free = prep_free,
     .cache_free = skiff__kcache_buf_free},
    {.type = NULL},
};
