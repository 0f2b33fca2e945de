/* passes.c - graph rewrites run once before the first inference.
 *
 * Order matters: Identity/Dropout removal and constant folding first (they
 * expose patterns), then BatchNormalization folding into Conv, then
 * activation fusion (which needs the Conv output to be the BN-free value),
 * then dead-node removal. Every rewrite keeps graph input and output names
 * intact, because clients address tensors by those names. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine_int.h"

static bool is_op(const skiff__node *n, const char *type)
{
    return !n->dead && n->domain[0] == '\0' && strcmp(n->op_type, type) == 0;
}

/* Replaces every use of value `from` by value `to`. */
static void replace_uses(skiff__graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] == from)
                n->in[k] = to;
        if (n->sum_input == from)
            n->sum_input = to;
    }
}

static int remove_identities(skiff__graph *g)
{
    int removed = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        bool dropout = is_op(n, "Dropout");
        if (!is_op(n, "Identity") && !dropout)
            continue;
        if (n->n_in < 1 || n->in[0] < 0 || n->n_out < 1 || n->out[0] < 0)
            continue;
        if (dropout && n->n_out > 1 && n->out[1] >= 0 && g->values[n->out[1]].n_consumers > 0)
            continue; /* the mask is used */
        if (dropout && n->n_in > 2 && n->in[2] >= 0) {
            const skiff_tensor_t *tm = g->values[n->in[2]].constant;
            if (!tm || skiff__tensor_get_i64(tm, 0) != 0)
                continue; /* training_mode may be on */
        }
        int out = n->out[0];
        if (g->values[out].is_output)
            continue; /* keep the output's name */
        replace_uses(g, out, n->in[0]);
        n->dead = true;
        removed++;
    }
    return removed;
}

static int sole_consumer(const skiff__graph *g, int v);

/* A DequantizeLinear of constant weights that a Conv reads as W (or a
 * MatMul as B): the int8 pass wants the int8 weights, not their float32
 * fold. */
static bool conv_weight_dq(const skiff__graph *g, const skiff__node *n)
{
    if (!is_op(n, "DequantizeLinear") || n->n_out < 1)
        return false;
    int c = sole_consumer(g, n->out[0]);
    return c >= 0 &&
           (is_op(&g->nodes[c], "Conv") || is_op(&g->nodes[c], "MatMul") ||
            is_op(&g->nodes[c], "Gemm")) &&
           g->nodes[c].n_in > 1 && g->nodes[c].in[1] == n->out[0];
}

static skiff_status_t *fold_constants(skiff__graph *g, bool keep_conv_dq, int *folded)
{
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (n->dead || !n->op)
            continue;
        if (strncmp(n->op_type, "Random", 6) == 0 || strcmp(n->op_type, "Bernoulli") == 0 ||
            strcmp(n->op_type, "Multinomial") == 0 || (n->op->flags & SKIFF_OP_NO_FOLD))
            continue; /* a new draw each run, or not a tensor */
        if (keep_conv_dq && conv_weight_dq(g, n))
            continue;
        bool subgraphs = false; /* folded only when they are deterministic */
        for (int a = 0; a < n->n_attrs; a++)
            subgraphs = subgraphs || n->attrs[a].sub;
        if (subgraphs && skiff__node_nondeterministic(n))
            continue;
        bool all_const = n->n_in > 0;
        for (int k = 0; k < n->n_in && all_const; k++)
            if (n->in[k] >= 0 && !g->values[n->in[k]].constant)
                all_const = false;
        if (!all_const)
            continue;
        bool too_big;
        skiff_status_t *st = skiff__fold_node(g, i, &too_big);
        if (st && too_big) { /* computed at run time instead */
            skiff_status_free(st);
            continue;
        }
        if (st)
            return skiff_status_wrap(st, "while folding constants");
        n->dead = true;
        for (int o = 0; o < n->n_out; o++)
            if (n->out[o] >= 0)
                g->values[n->out[o]].producer = -1;
        (*folded)++;
    }
    return NULL;
}

/* Adds a constant value; the graph takes ownership of t. */
static int add_constant(skiff__graph *g, const char *base, const char *suffix, skiff_tensor_t *t)
{
    char name[512];
    for (int k = 0;; k++) {
        snprintf(name, sizeof(name), k ? "%s%s_%d" : "%s%s", base, suffix, k);
        if (skiff__graph_find_value(g, name) < 0)
            break;
    }
    int v = skiff__graph_add_value(g, name);
    if (v < 0) {
        skiff_tensor_free(t);
        return -1;
    }
    g->values[v].constant = t;
    g->values[v].dtype = t->dtype;
    g->values[v].ndim = t->ndim;
    memcpy(g->values[v].dims, t->dims, sizeof(t->dims));
    return v;
}

static const skiff_tensor_t *const_f32(const skiff__graph *g, const skiff__node *n, int k)
{
    if (k >= n->n_in || n->in[k] < 0)
        return NULL;
    const skiff_tensor_t *t = g->values[n->in[k]].constant;
    return t && t->dtype == SKIFF_DTYPE_FLOAT32 ? t : NULL;
}

/* The single live consumer node of value v, or -1. */
static int sole_consumer(const skiff__graph *g, int v)
{
    if (v < 0 || g->values[v].is_output)
        return -1;
    int found = -1, count = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const skiff__node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] == v) {
                found = i;
                count++;
            }
        if (n->sum_input == v)
            count++;
    }
    return count == 1 ? found : -1;
}

/* A live Conv with one output and nothing fused into it yet, whose weights
 * are a float32 constant of rank 3 or more and whose bias is one too or
 * absent: *w and *b (NULL without a bias). The folds below rewrite these. */
static bool plain_conv(const skiff__graph *g, const skiff__node *conv, const skiff_tensor_t **w,
                       const skiff_tensor_t **b)
{
    if (conv->dead || !is_op(conv, "Conv") || conv->n_out != 1 || conv->n_act ||
        conv->sum_input >= 0)
        return false;
    *w = const_f32(g, conv, 1);
    *b = const_f32(g, conv, 2);
    return *w && (*w)->ndim >= 3 && !(conv->n_in > 2 && conv->in[2] >= 0 && !*b);
}

/* Gives conv new constant weights nw (kept when NULL) and bias nb, named
 * after its weights plus suffix (and "_bias"). Takes both tensors, also when
 * it fails. */
static skiff_status_t *set_conv_params(skiff__graph *g, skiff__node *conv, skiff_tensor_t *nw,
                                       skiff_tensor_t *nb, const char *suffix)
{
    const char *wname = g->values[conv->in[1]].name;
    char bsuffix[64];
    snprintf(bsuffix, sizeof bsuffix, "%s_bias", suffix);
    int wv = nw ? add_constant(g, wname, suffix, nw) : conv->in[1];
    int bv = wv >= 0 ? add_constant(g, wname, bsuffix, nb) : -1;
    if (wv < 0)
        skiff_tensor_free(nb);
    if (bv < 0)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    if (conv->n_in < 3) {
        int *nin = skiff__realloc(conv->in, sizeof(int) * 3);
        if (!nin)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        conv->in = nin;
        conv->n_in = 3;
    }
    conv->in[1] = wv;
    conv->in[2] = bv;
    return NULL;
}

/* Node i (one output) takes over the output of node a, which it absorbed. */
static void absorb(skiff__graph *g, int i, skiff__node *a)
{
    skiff__node *n = &g->nodes[i];
    g->values[n->out[0]].n_consumers = 0;
    n->out[0] = a->out[0];
    g->values[n->out[0]].producer = i;
    a->dead = true;
}

static skiff_status_t *fold_batchnorm(skiff__graph *g, int *count)
{
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *conv = &g->nodes[i];
        const skiff_tensor_t *w, *b;
        if (!plain_conv(g, conv, &w, &b))
            continue;
        int ci = sole_consumer(g, conv->out[0]);
        if (ci < 0)
            continue;
        skiff__node *bn = &g->nodes[ci];
        if (!is_op(bn, "BatchNormalization") || bn->n_in != 5 || bn->in[0] != conv->out[0])
            continue;
        if (skiff__attr_int(bn, "training_mode", 0))
            continue;
        bool extra_outputs = false;
        for (int o = 1; o < bn->n_out; o++)
            extra_outputs |= bn->out[o] >= 0;
        if (extra_outputs)
            continue;
        const skiff_tensor_t *scale = const_f32(g, bn, 1), *bias = const_f32(g, bn, 2),
                             *mean = const_f32(g, bn, 3), *var = const_f32(g, bn, 4);
        int64_t oc = w->dims[0];
        if (!scale || !bias || !mean || !var || skiff_tensor_numel(scale) != oc ||
            skiff_tensor_numel(bias) != oc || skiff_tensor_numel(mean) != oc ||
            skiff_tensor_numel(var) != oc || (b && skiff_tensor_numel(b) != oc))
            continue;
        float eps = skiff__attr_float(bn, "epsilon", 1e-5f);

        skiff_tensor_t *nw, *nb;
        skiff_status_t *st = skiff_tensor_clone(w, &nw);
        if (st)
            return st;
        st = skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 1, &oc, &nb);
        if (st) {
            skiff_tensor_free(nw);
            return st;
        }
        int64_t per = skiff_tensor_numel(w) / (oc ? oc : 1);
        const float *sc = scale->data, *bi = bias->data, *mu = mean->data, *va = var->data;
        float *wd = nw->data, *bd = nb->data;
        for (int64_t o = 0; o < oc; o++) {
            float f = sc[o] / sqrtf(va[o] + eps);
            for (int64_t j = 0; j < per; j++)
                wd[o * per + j] *= f;
            float b0 = b ? ((const float *)b->data)[o] : 0.0f;
            bd[o] = (b0 - mu[o]) * f + bi[o];
        }
        if ((st = set_conv_params(g, conv, nw, nb, "_bnfold")))
            return st;
        absorb(g, i, bn);
        (*count)++;
    }
    return NULL;
}

/* Conv(x, W[, B]) followed by its sole consumer Add(conv, c), c a constant
 * of one value per output channel shaped to broadcast along the channel
 * axis ([C, 1, ..., 1] or [1, C, 1, ..., 1]): the Add becomes the Conv's
 * bias (B + c), so activations and sums fuse on (a Paddle conv2d with a
 * bias is conv2d + elementwise_add with axis 1). */
static skiff_status_t *fold_conv_bias(skiff__graph *g, int *count)
{
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *conv = &g->nodes[i];
        const skiff_tensor_t *w, *b;
        if (!plain_conv(g, conv, &w, &b))
            continue;
        int ci = sole_consumer(g, conv->out[0]);
        if (ci < 0)
            continue;
        skiff__node *add = &g->nodes[ci];
        if (!is_op(add, "Add") || add->n_in != 2 || add->n_out != 1 || add->in[0] == add->in[1])
            continue;
        int other = add->in[0] == conv->out[0] ? add->in[1] : add->in[0];
        const skiff_tensor_t *c = other >= 0 ? g->values[other].constant : NULL;
        int64_t oc = w->dims[0];
        int R = w->ndim; /* the output's rank */
        if (!c || c->dtype != SKIFF_DTYPE_FLOAT32 || skiff_tensor_numel(c) != oc)
            continue;
        /* the channel must sit at output axis 1 */
        int lead = R - c->ndim; /* dims c lacks in front */
        bool per_channel = c->ndim >= 1 && c->ndim <= R && lead <= 1;
        for (int d = 0; per_channel && d < c->ndim; d++) {
            int axis = lead + d;
            per_channel = axis == 1 ? c->dims[d] == oc : c->dims[d] == 1;
        }
        if (!per_channel || (oc == 1 && c->ndim > R))
            continue;
        skiff_tensor_t *nb;
        skiff_status_t *st = skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 1, &oc, &nb);
        if (st)
            return st;
        for (int64_t o = 0; o < oc; o++)
            ((float *)nb->data)[o] =
                (b ? ((const float *)b->data)[o] : 0.0f) + ((const float *)c->data)[o];
        if ((st = set_conv_params(g, conv, NULL, nb, "")))
            return st;
        absorb(g, i, add);
        (*count)++;
    }
    return NULL;
}

/* Scalar float constant value of v (any float tensor with one element). */
static bool const_scalar(const skiff__graph *g, int v, float *out)
{
    if (v < 0 || !g->values[v].constant)
        return false;
    const skiff_tensor_t *t = g->values[v].constant;
    if (skiff_tensor_numel(t) != 1 ||
        (t->dtype != SKIFF_DTYPE_FLOAT32 && t->dtype != SKIFF_DTYPE_FLOAT64))
        return false;
    *out = (float)skiff__tensor_get_f64(t, 0);
    return true;
}

/* Mul, Add or Sub of value v by a constant scalar, as alpha * v + beta. A
 * rank-1 scalar broadcasts to v's shape only where v has rank 1 or more,
 * which Conv and Gemm outputs always have. */
static bool linear_of(const skiff__graph *g, const skiff__node *n, int v, bool v_ranked,
                      skiff__fused_act *out)
{
    bool mul = is_op(n, "Mul"), add = is_op(n, "Add"), sub = is_op(n, "Sub");
    if ((!mul && !add && !sub) || n->n_in != 2 || (n->in[0] == v) == (n->in[1] == v))
        return false;
    int k = n->in[0] == v ? 1 : 0;
    const skiff_tensor_t *t = n->in[k] >= 0 ? g->values[n->in[k]].constant : NULL;
    float c;
    if (!t || t->dtype != SKIFF_DTYPE_FLOAT32 || t->ndim > (v_ranked ? 1 : 0) ||
        !const_scalar(g, n->in[k], &c))
        return false;
    if (mul)
        *out = (skiff__fused_act){SKIFF_ACT_LINEAR, c, 0};
    else if (add)
        *out = (skiff__fused_act){SKIFF_ACT_LINEAR, 1, c};
    else /* v - c, or c - v */
        *out = (skiff__fused_act){SKIFF_ACT_LINEAR, k == 1 ? 1.f : -1.f, k == 1 ? -c : c};
    return true;
}

/* Node n as an activation of its first input. */
static bool act_of(const skiff__graph *g, const skiff__node *n, skiff__fused_act *out)
{
    if (n->domain[0])
        return false;
    const char *t = n->op_type;
    if (strcmp(t, "Relu") == 0) {
        *out = (skiff__fused_act){SKIFF_ACT_RELU, 0, 0};
    } else if (strcmp(t, "Sigmoid") == 0) {
        *out = (skiff__fused_act){SKIFF_ACT_SIGMOID, 0, 0};
    } else if (strcmp(t, "Tanh") == 0) {
        *out = (skiff__fused_act){SKIFF_ACT_TANH, 0, 0};
    } else if (strcmp(t, "HardSwish") == 0) {
        *out = (skiff__fused_act){SKIFF_ACT_HARDSWISH, 1.0f / 6, 0.5f};
    } else if (strcmp(t, "Gelu") == 0) {
        const char *ap = skiff__attr_str(n, "approximate", "none");
        if (strcmp(ap, "none") != 0 && strcmp(ap, "tanh") != 0)
            return false; /* the kernel's error names the attribute */
        *out = (skiff__fused_act){strcmp(ap, "tanh") == 0 ? SKIFF_ACT_GELU_TANH : SKIFF_ACT_GELU, 0,
                                  0};
    } else if (strcmp(t, "HardSigmoid") == 0) {
        *out = (skiff__fused_act){SKIFF_ACT_HARDSIGMOID, skiff__attr_float(n, "alpha", 0.2f),
                                  skiff__attr_float(n, "beta", 0.5f)};
    } else if (strcmp(t, "LeakyRelu") == 0) {
        *out = (skiff__fused_act){SKIFF_ACT_LEAKYRELU, skiff__attr_float(n, "alpha", 0.01f), 0};
    } else if (strcmp(t, "Clip") == 0) {
        float lo = -INFINITY, hi = INFINITY;
        if (n->opset < 11) {
            lo = skiff__attr_float(n, "min", -INFINITY);
            hi = skiff__attr_float(n, "max", INFINITY);
        } else {
            for (int k = 1; k < n->n_in && k < 3; k++) {
                if (n->in[k] < 0)
                    continue;
                const skiff_tensor_t *c = g->values[n->in[k]].constant;
                if (!c || c->dtype != SKIFF_DTYPE_FLOAT32 || skiff_tensor_numel(c) != 1)
                    return false;
                if (k == 1)
                    lo = *(const float *)c->data;
                else
                    hi = *(const float *)c->data;
            }
        }
        *out = (skiff__fused_act){SKIFF_ACT_CLIP, lo, hi};
    } else {
        return false;
    }
    return true;
}

/* A Gemm or MatMul by a constant [K, N] matrix, and a constant addend of
 * N values ([N] or [1, N]): the Add cannot change the output's shape, even
 * where the output's rank is not declared (the bias of a Linear layer). */
static bool bias_row(const skiff__graph *g, const skiff__node *n, int addend)
{
    bool gemm = is_op(n, "Gemm");
    if ((!gemm && !is_op(n, "MatMul")) || n->n_in < 2 || n->in[1] < 0)
        return false;
    const skiff_tensor_t *w = g->values[n->in[1]].constant;
    const skiff_tensor_t *b = g->values[addend].constant;
    if (!w || !b || w->ndim != 2 || b->ndim < 1 || b->ndim > 2 || (b->ndim == 2 && b->dims[0] != 1))
        return false;
    int64_t N = gemm && skiff__attr_int(n, "transB", 0) ? w->dims[0] : w->dims[1];
    return b->dims[b->ndim - 1] == N;
}

/* Folds an Add that consumes a Conv/Gemm/MatMul output into that node as a
 * sum post-op: y = act(op(x) + other). Runs before activation fusion, so an
 * activation after the Add is fused on top. The addend must be computed
 * before the producer runs (nodes are in topological order, so: produced by
 * an earlier node, or an input/constant); kernels handle an addend that
 * broadcasts. */
static int fuse_sums(skiff__graph *g)
{
    int fused = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (n->dead || !n->op || !(n->op->flags & SKIFF_OP_FUSES_SUM) || n->n_out < 1 ||
            n->out[0] < 0 || n->n_act || n->sum_input >= 0)
            continue;
        skiff_dtype_t dt = g->values[n->out[0]].dtype;
        if (dt != SKIFF_DTYPE_FLOAT32 && dt != SKIFF_DTYPE_UNDEFINED)
            continue;
        int ci = sole_consumer(g, n->out[0]);
        if (ci < 0)
            continue;
        skiff__node *a = &g->nodes[ci];
        if (!is_op(a, "Add") || a->n_in != 2 || a->n_out != 1 || a->in[0] == a->in[1])
            continue;
        int other = a->in[0] == n->out[0] ? a->in[1] : a->in[0];
        if (other < 0 || g->values[other].producer >= i)
            continue;
        /* The Add's output keeps the op's rank only if the addend does not
         * broadcast the op's output up; require the addend's rank not to
         * exceed the op's when both are known. */
        int ro = g->values[n->out[0]].ndim, ra = g->values[other].ndim;
        if (ro >= 0 && ra > ro)
            continue;
        if (ro < 0 && g->values[other].constant && !bias_row(g, n, other))
            continue; /* a constant could broadcast the output up: keep the Add */
        n->sum_input = other;
        int old = n->out[0];
        n->out[0] = a->out[0];
        g->values[old].n_consumers = 0;
        a->dead = true;
        fused++;
        skiff__graph_recount(g);
    }
    return fused;
}

/* The oneDNN eltwise kinds an activation becomes (one bit each). oneDNN 2.6
 * gives a post-op chain holding one kind twice the first one's parameters
 * for both (linear 0.7, relu, linear 0.9 computes 0.7 twice), so a node
 * takes each kind once; adjacent linear steps merge into one instead. */
static unsigned act_algs(skiff__act k)
{
    switch (k) {
    case SKIFF_ACT_RELU:
    case SKIFF_ACT_LEAKYRELU: return 1u;
    case SKIFF_ACT_CLIP: return 2u;
    case SKIFF_ACT_HARDSIGMOID: return 2u | 4u;
    case SKIFF_ACT_LINEAR: return 4u;
    case SKIFF_ACT_SIGMOID: return 8u;
    case SKIFF_ACT_TANH: return 16u;
    case SKIFF_ACT_HARDSWISH: return 32u;
    case SKIFF_ACT_GELU:
    case SKIFF_ACT_GELU_TANH: return 64u;
    case SKIFF_ACT_NONE: break;
    }
    return 0;
}

static int fuse_activations(skiff__graph *g)
{
    int fused = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (n->dead || !n->op || !(n->op->flags & SKIFF_OP_FUSES_ACT) || n->n_out < 1)
            continue;
        /* Conv and Gemm outputs have rank 2 or more; MatMul's may be a
         * scalar (vector x vector). */
        bool ranked = !is_op(n, "MatMul");
        for (;;) {
            int ci = sole_consumer(g, n->out[0]);
            if (ci < 0)
                break;
            skiff__node *a = &g->nodes[ci];
            skiff__fused_act act;
            if (a->dead || a->n_out != 1 ||
                !((a->in[0] == n->out[0] && act_of(g, a, &act)) ||
                  linear_of(g, a, n->out[0], ranked, &act)))
                break;
            /* Only float activations: the producer must yield float32. */
            if (g->values[n->out[0]].dtype != SKIFF_DTYPE_FLOAT32 &&
                g->values[n->out[0]].dtype != SKIFF_DTYPE_UNDEFINED)
                break;
            skiff__fused_act *last = n->n_act ? &n->act[n->n_act - 1] : NULL;
            unsigned have = 0;
            for (int k = 0; k < n->n_act; k++)
                have |= act_algs(n->act[k].kind);
            if (last && last->kind == SKIFF_ACT_LINEAR && act.kind == SKIFF_ACT_LINEAR) {
                /* a2 (a1 x + b1) + b2 as one step */
                last->beta = act.alpha * last->beta + act.beta;
                last->alpha *= act.alpha;
            } else if (n->n_act < SKIFF_MAX_ACTS && !(have & act_algs(act.kind))) {
                n->act[n->n_act++] = act;
            } else {
                break;
            }
            int old = n->out[0];
            n->out[0] = a->out[0];
            g->values[old].n_consumers = 0;
            a->dead = true;
            fused++;
        }
    }
    return fused;
}

/* ---- subgraph fusion: GELU and layer normalisation ---- */

/* Node producing value v, if live and of the given type. */
static skiff__node *producer_of(skiff__graph *g, int v, const char *type)
{
    if (v < 0 || g->values[v].producer < 0)
        return NULL;
    skiff__node *n = &g->nodes[g->values[v].producer];
    return is_op(n, type) ? n : NULL;
}

/* For a binary node, returns the input that is not the scalar constant `c`
 * (within tolerance), or -1. */
static int other_than_scalar(const skiff__graph *g, const skiff__node *n, float c)
{
    if (n->n_in != 2)
        return -1;
    float v;
    for (int k = 0; k < 2; k++)
        if (const_scalar(g, n->in[k], &v) && fabsf(v - c) <= 1e-4f * fabsf(c) + 1e-6f)
            return n->in[1 - k];
    return -1;
}

/* Intermediate value used only inside the pattern. */
static bool private_value(const skiff__graph *g, int v, int uses)
{
    return v >= 0 && !g->values[v].is_output && g->values[v].n_consumers == uses;
}

/* Turns node n into `type` with the given inputs and attributes (moved). */
static skiff_status_t *rewrite_node(skiff__graph *g, skiff__node *n, const char *type,
                                    const int *in, int n_in, skiff__attr *attrs, int n_attrs)
{
    char *t = skiff__strdup(type);
    int *ni = skiff__malloc(sizeof(int) * (size_t)(n_in + 1));
    const skiff__op *op = skiff__op_find("", type, n->opset > 17 ? n->opset : 17);
    if (!t || !ni || !op) {
        skiff__free(t);
        skiff__free(ni);
        return op ? skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory") : NULL;
    }
    int out = n->out[0];
    skiff__node_free_fields(n);
    memset(n, 0, sizeof(*n));
    n->sum_input = -1;
    n->name = NULL;
    n->op_type = t;
    n->domain = skiff__strdup("");
    n->name = skiff__strdup(type);
    n->out = skiff__malloc(sizeof(int));
    n->attrs = attrs;
    n->n_attrs = n_attrs;
    if (!n->domain || !n->name || !n->out) {
        /* Leave a well-formed dead node behind so the graph frees cleanly. */
        n->in = ni;
        n->dead = true;
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    memcpy(ni, in, sizeof(int) * (size_t)n_in);
    n->in = ni;
    n->n_in = n_in;
    n->out[0] = out;
    n->n_out = 1;
    n->op = op;
    n->opset = 17;
    return NULL;
}

/* Value v is Add(Erf(.), 1): the GELU's 1 + erf(x / sqrt(2)). */
static bool erf_plus_one(skiff__graph *g, int v)
{
    skiff__node *a = producer_of(g, v, "Add");
    return a && producer_of(g, other_than_scalar(g, a, 1.0f), "Erf") != NULL;
}

/* x*0.5*(1+erf(x/sqrt(2))) in the forms exporters write, ending at node y. */
static int match_gelu(skiff__graph *g, skiff__node *y, int nodes[5])
{
    if (!is_op(y, "Mul") || y->n_out != 1)
        return -1;
    /* Form A: Mul(Mul(x, Add(Erf(Div(x, 1.414)), 1)), 0.5)
     * Form B: Mul(Mul(x, 0.5), Add(Erf(...), 1)) */
    int m_in = other_than_scalar(g, y, 0.5f);
    skiff__node *m = m_in >= 0 ? producer_of(g, m_in, "Mul") : NULL;
    int x = -1, add_v = -1;
    if (m && m->n_in == 2) {
        /* x may itself be an Add (a bias): the 1 + erf one is the other */
        for (int k = 0; k < 2 && x < 0; k++) {
            if (erf_plus_one(g, m->in[k])) {
                x = m->in[1 - k];
                add_v = m->in[k];
            }
        }
        nodes[0] = (int)(m - g->nodes);
    } else if (y->n_in == 2) {
        for (int k = 0; k < 2 && x < 0; k++) {
            skiff__node *half = producer_of(g, y->in[k], "Mul");
            if (half && erf_plus_one(g, y->in[1 - k]) && other_than_scalar(g, half, 0.5f) >= 0) {
                x = other_than_scalar(g, half, 0.5f);
                add_v = y->in[1 - k];
                m = half;
                m_in = y->in[k];
                nodes[0] = (int)(half - g->nodes);
            }
        }
    }
    if (x < 0 || add_v < 0)
        return -1;
    skiff__node *a = producer_of(g, add_v, "Add");
    int e_v = a ? other_than_scalar(g, a, 1.0f) : -1;
    skiff__node *e = producer_of(g, e_v, "Erf");
    if (!e)
        return -1;
    skiff__node *d = producer_of(g, e->in[0], "Div");
    int dx = -1;
    if (d && d->n_in == 2 && d->in[0] >= 0) {
        float c;
        if (const_scalar(g, d->in[1], &c) && fabsf(c - 1.41421356f) < 1e-3f)
            dx = d->in[0];
    } else {
        d = producer_of(g, e->in[0], "Mul");
        dx = d ? other_than_scalar(g, d, 0.70710678f) : -1;
    }
    if (dx != x)
        return -1;
    if (!private_value(g, m_in, 1) || !private_value(g, add_v, 1) || !private_value(g, e_v, 1) ||
        !private_value(g, e->in[0], 1))
        return -1;
    nodes[1] = (int)(a - g->nodes);
    nodes[2] = (int)(e - g->nodes);
    nodes[3] = (int)(d - g->nodes);
    return x;
}

/* Reads the reduction axes of a ReduceMean (attribute, or constant input at
 * opset 18); true when it reduces exactly the last axis of a rank-r input
 * (r unknown: accept axes [-1] only). */
static bool reduces_last_axis(const skiff__graph *g, const skiff__node *n)
{
    if (skiff__attr_int(n, "keepdims", 1) != 1)
        return false;
    const int64_t *axes;
    int na = skiff__attr_ints(n, "axes", &axes);
    int64_t ax;
    if (na == 1) {
        ax = axes[0];
    } else if (na < 0 && n->n_in > 1 && n->in[1] >= 0 && g->values[n->in[1]].constant &&
               skiff_tensor_numel(g->values[n->in[1]].constant) == 1) {
        ax = skiff__tensor_get_i64(g->values[n->in[1]].constant, 0);
    } else {
        return false;
    }
    if (ax == -1)
        return true;
    int r = g->values[n->in[0]].ndim;
    return r > 0 && ax == r - 1;
}

/* (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * gamma + beta, ending at
 * the Add `y`. Fills the inner node list and returns x, or -1. */
static int match_layernorm(skiff__graph *g, skiff__node *y, int nodes[8], int *gamma, int *beta,
                           float *eps)
{
    if (!is_op(y, "Add") || y->n_in != 2)
        return -1;
    for (int k = 0; k < 2; k++) {
        skiff__node *mul = producer_of(g, y->in[k], "Mul");
        int b = y->in[1 - k];
        if (!mul || !g->values[b].constant || mul->n_in != 2)
            continue;
        for (int j = 0; j < 2; j++) {
            skiff__node *div = producer_of(g, mul->in[j], "Div");
            int gm = mul->in[1 - j];
            if (!div || !g->values[gm].constant || div->n_in != 2)
                continue;
            skiff__node *sub = producer_of(g, div->in[0], "Sub");
            skiff__node *sq = producer_of(g, div->in[1], "Sqrt");
            if (!sub || !sq || sub->n_in != 2)
                continue;
            skiff__node *mean1 = producer_of(g, sub->in[1], "ReduceMean");
            if (!mean1 || mean1->in[0] != sub->in[0] || !reduces_last_axis(g, mean1))
                continue;
            skiff__node *add_eps = producer_of(g, sq->in[0], "Add");
            if (!add_eps || add_eps->n_in != 2)
                continue;
            int var_v = -1;
            float e = 0;
            for (int q = 0; q < 2; q++)
                if (const_scalar(g, add_eps->in[q], &e))
                    var_v = add_eps->in[1 - q];
            skiff__node *mean2 = producer_of(g, var_v, "ReduceMean");
            if (!mean2 || !reduces_last_axis(g, mean2))
                continue;
            skiff__node *pw = producer_of(g, mean2->in[0], "Pow");
            skiff__node *sqm = NULL;
            if (pw) {
                float two;
                if (pw->in[0] != div->in[0] || !const_scalar(g, pw->in[1], &two) || two != 2.0f)
                    continue;
            } else {
                sqm = producer_of(g, mean2->in[0], "Mul");
                if (!sqm || sqm->in[0] != div->in[0] || sqm->in[1] != div->in[0])
                    continue;
                pw = sqm;
            }
            int x = sub->in[0];
            int d_v = div->in[0];
            /* The centred value feeds Div and Pow (or Mul twice) only. */
            if (!private_value(g, d_v, sqm ? 3 : 2) || !private_value(g, sub->in[1], 1) ||
                !private_value(g, mean2->in[0], 1) || !private_value(g, var_v, 1) ||
                !private_value(g, sq->in[0], 1) || !private_value(g, div->in[1], 1) ||
                !private_value(g, mul->in[j], 1) || !private_value(g, y->in[k], 1))
                continue;
            nodes[0] = (int)(mean1 - g->nodes);
            nodes[1] = (int)(sub - g->nodes);
            nodes[2] = (int)(pw - g->nodes);
            nodes[3] = (int)(mean2 - g->nodes);
            nodes[4] = (int)(add_eps - g->nodes);
            nodes[5] = (int)(sq - g->nodes);
            nodes[6] = (int)(div - g->nodes);
            nodes[7] = (int)(mul - g->nodes);
            *gamma = gm;
            *beta = b;
            *eps = e;
            return x;
        }
    }
    return -1;
}

/* Clip bounds of a Clip node (attributes before opset 11, constant inputs
 * after); false when they are not constant. */
static bool clip_bounds(const skiff__graph *g, const skiff__node *n, float *lo, float *hi)
{
    skiff__fused_act act;
    if (!is_op(n, "Clip") || !act_of(g, n, &act))
        return false;
    *lo = act.alpha;
    *hi = act.beta;
    return true;
}

/* x * clip(x + 3, 0, 6) / 6 in the forms exporters write (paddle2onnx:
 * Div(Mul(x, Clip(Add(x, 3))), 6); torch: Mul(x, Div(Clip(Add(x, 3)), 6));
 * and Mul(x, HardSigmoid(x, 1/6, 0.5))), ending at node y. */
static int match_hardswish(skiff__graph *g, skiff__node *y, int nodes[4])
{
    if (y->n_in != 2 || y->n_out != 1)
        return -1;
    int mul_v = -1, clip_v = -1, x = -1;
    skiff__node *mul = NULL, *div = NULL;
    if (is_op(y, "Div")) {
        float six;
        if (!const_scalar(g, y->in[1], &six) || six != 6.0f)
            return -1;
        mul_v = y->in[0];
        mul = producer_of(g, mul_v, "Mul");
        if (!mul || mul->n_in != 2)
            return -1;
        for (int k = 0; k < 2 && x < 0; k++)
            if (producer_of(g, mul->in[k], "Clip")) {
                clip_v = mul->in[k];
                x = mul->in[1 - k];
            }
    } else if (is_op(y, "Mul")) {
        for (int k = 0; k < 2 && x < 0; k++) {
            skiff__node *hs = producer_of(g, y->in[k], "HardSigmoid");
            if (hs && hs->in[0] == y->in[1 - k] &&
                fabsf(skiff__attr_float(hs, "alpha", 0.2f) - 1.0f / 6) < 1e-4f &&
                fabsf(skiff__attr_float(hs, "beta", 0.5f) - 0.5f) < 1e-6f &&
                private_value(g, y->in[k], 1)) {
                nodes[0] = (int)(hs - g->nodes);
                return y->in[1 - k];
            }
            div = producer_of(g, y->in[k], "Div");
            float six;
            if (div && div->n_in == 2 && const_scalar(g, div->in[1], &six) && six == 6.0f &&
                producer_of(g, div->in[0], "Clip")) {
                mul_v = y->in[k];
                clip_v = div->in[0];
                x = y->in[1 - k];
            }
        }
    }
    if (x < 0 || clip_v < 0)
        return -1;
    skiff__node *clip = producer_of(g, clip_v, "Clip");
    float lo, hi;
    if (!clip || !clip_bounds(g, clip, &lo, &hi) || lo != 0.0f || hi != 6.0f)
        return -1;
    skiff__node *add = producer_of(g, clip->in[0], "Add");
    if (!add || other_than_scalar(g, add, 3.0f) != x)
        return -1;
    if (!private_value(g, mul_v, 1) || !private_value(g, clip_v, 1) ||
        !private_value(g, clip->in[0], 1))
        return -1;
    nodes[0] = (int)((mul ? mul : div) - g->nodes);
    nodes[1] = (int)(clip - g->nodes);
    nodes[2] = (int)(add - g->nodes);
    return x;
}

static skiff_status_t *fuse_subgraphs(skiff__graph *g, int *gelu, int *ln, int *hardswish)
{
    skiff__graph_recount(g);
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (n->dead)
            continue;
        int inner[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
        int x = match_gelu(g, n, inner);
        if (x >= 0 && skiff__op_find("", "Gelu", 20)) {
            for (int k = 0; k < 4; k++)
                if (inner[k] >= 0)
                    g->nodes[inner[k]].dead = true;
            skiff_status_t *st = rewrite_node(g, n, "Gelu", &x, 1, NULL, 0);
            if (st)
                return st;
            (*gelu)++;
            skiff__graph_recount(g);
            continue;
        }
        x = match_hardswish(g, n, inner);
        if (x >= 0 && skiff__op_find("", "HardSwish", 17)) {
            for (int k = 0; k < 4; k++)
                if (inner[k] >= 0)
                    g->nodes[inner[k]].dead = true;
            skiff_status_t *st = rewrite_node(g, n, "HardSwish", &x, 1, NULL, 0);
            if (st)
                return st;
            (*hardswish)++;
            skiff__graph_recount(g);
            continue;
        }
        int gamma, beta;
        float eps;
        x = match_layernorm(g, n, inner, &gamma, &beta, &eps);
        if (x >= 0 && skiff__op_find("", "LayerNormalization", 17)) {
            skiff__attr *attrs = skiff__calloc(2, sizeof(*attrs));
            char *an = skiff__strdup("axis"), *en = skiff__strdup("epsilon");
            if (!attrs || !an || !en) {
                skiff__free(attrs);
                skiff__free(an);
                skiff__free(en);
                return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
            }
            attrs[0] = (skiff__attr){.name = an, .type = SKIFF_ATTR_INT, .i = -1};
            attrs[1] = (skiff__attr){.name = en, .type = SKIFF_ATTR_FLOAT, .f = eps};
            for (int k = 0; k < 8; k++)
                if (inner[k] >= 0)
                    g->nodes[inner[k]].dead = true;
            int ins[3] = {x, gamma, beta};
            skiff_status_t *st = rewrite_node(g, n, "LayerNormalization", ins, 3, attrs, 2);
            if (st)
                return st;
            (*ln)++;
            skiff__graph_recount(g);
        }
    }
    return NULL;
}

static int remove_dead(skiff__graph *g)
{
    int dead = 0;
    skiff__graph_recount(g);
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        skiff__node *n = &g->nodes[i];
        if (n->dead)
            continue;
        bool used = false;
        for (int o = 0; o < n->n_out && !used; o++)
            used = n->out[o] >= 0 && g->values[n->out[o]].n_consumers > 0;
        if (used)
            continue;
        n->dead = true;
        dead++;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                g->values[n->in[k]].n_consumers--;
        if (n->sum_input >= 0)
            g->values[n->sum_input].n_consumers--;
    }
    return dead;
}

/* Frees constants that no live node or output uses any more (e.g. the
 * original weights after BatchNormalization folding). */
static void drop_unused_constants(skiff__graph *g)
{
    for (int v = 0; v < g->n_values; v++) {
        skiff__value *val = &g->values[v];
        if (val->constant && val->n_consumers == 0 && !val->is_output) {
            skiff_tensor_free(val->constant);
            val->constant = NULL;
        }
    }
}

/* ---- int8: quantized convolutions (see skiff__graph_optimize) ---- */

/* The element type of quantized value v: its declared type, or the type
 * of the QuantizeLinear that makes it (its zero point's; uint8 without). */
static skiff_dtype_t q_type(const skiff__graph *g, int v)
{
    skiff_dtype_t dt = g->values[v].dtype;
    if (dt == SKIFF_DTYPE_UINT8 || dt == SKIFF_DTYPE_INT8)
        return dt;
    int p = v >= 0 ? g->values[v].producer : -1;
    const skiff__node *made = p >= 0 ? &g->nodes[p] : NULL;
    if (made && !made->dead && strcmp(made->op_type, "QConv") == 0 &&
        strcmp(made->domain, SKIFF_DOMAIN_SKIFF) == 0) /* an int8 convolution made here */
        return made->n_in > 7 && made->in[7] >= 0 && g->values[made->in[7]].constant
                   ? g->values[made->in[7]].constant->dtype
                   : SKIFF_DTYPE_UNDEFINED;
    skiff__node *q = producer_of((skiff__graph *)g, v, "QuantizeLinear");
    if (!q)
        return SKIFF_DTYPE_UNDEFINED;
    const skiff_tensor_t *zp = q->n_in > 2 && q->in[2] >= 0 ? g->values[q->in[2]].constant : NULL;
    return zp                             ? zp->dtype
           : q->n_in > 2 && q->in[2] >= 0 ? SKIFF_DTYPE_UNDEFINED
                                          : SKIFF_DTYPE_UINT8;
}

/* A zero point given, or a new constant 0 of type dt; -1 when out of memory. */
static int zero_point(skiff__graph *g, const skiff__node *qdq, skiff_dtype_t dt)
{
    if (qdq->n_in > 2 && qdq->in[2] >= 0)
        return qdq->in[2];
    int64_t none[1] = {0};
    skiff_tensor_t *t = NULL;
    skiff_status_t *st = skiff_tensor_new(dt, 0, none, &t);
    if (st) {
        skiff_status_free(st);
        return -1;
    }
    memset(t->data, 0, t->nbytes);
    return add_constant(g, qdq->name && qdq->name[0] ? qdq->name : "qdq", "_zero_point", t);
}

/* Node i tried as the skiff int8 op `type` (kernel `op`) with inputs
 * in[0..n_in): where unfit(node, graph) gives a reason oneDNN cannot run it
 * (or the kernel is missing), the node keeps its inputs and the reason is
 * logged and counted in stats->qdq_float; else the node becomes that op and,
 * given qy, writes the QuantizeLinear's result in its place. *done says
 * which. */
static skiff_status_t *become_qop(skiff__graph *g, int i, const char *type, const skiff__op *op,
                                  const int *in, int n_in,
                                  const char *(*unfit)(const skiff__node *, const skiff__graph *),
                                  skiff__node *qy, skiff__pass_stats *stats, bool *done)
{
    skiff__node *n = &g->nodes[i];
    *done = false;
    int *ni = skiff__malloc(sizeof(int) * (size_t)n_in);
    char *t = skiff__strdup(type), *dom = skiff__strdup(SKIFF_DOMAIN_SKIFF);
    if (!ni || !t || !dom) {
        skiff__free(ni);
        skiff__free(t);
        skiff__free(dom);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    memcpy(ni, in, sizeof(int) * (size_t)n_in);
    /* try it on the node, put the old inputs back if oneDNN cannot run it */
    int *old_in = n->in, old_n = n->n_in;
    n->in = ni;
    n->n_in = n_in;
    const char *why = op ? unfit(n, g) : "no int8 kernel";
    if (why) {
        skiff_log(SKIFF_LOG_DEBUG, "int8 pass: node '%s' (%s) stays float: %s",
                  n->name ? n->name : "", n->op_type, why);
        n->in = old_in;
        n->n_in = old_n;
        skiff__free(ni);
        skiff__free(t);
        skiff__free(dom);
        stats->qdq_float++;
        return NULL;
    }
    skiff__free(old_in);
    skiff__free(n->op_type);
    skiff__free(n->domain);
    n->op_type = t;
    n->domain = dom;
    n->op = op;
    if (qy) { /* the result is Q's */
        int old = n->out[0];
        n->out[0] = qy->out[0];
        g->values[n->out[0]].producer = i;
        g->values[old].n_consumers = 0;
        qy->dead = true;
    }
    *done = true;
    return NULL;
}

static const char *conv_q_unfit_fused(const skiff__node *n, const skiff__graph *g)
{
    return skiff__conv_q_unfit(n, g, true);
}

static skiff_status_t *fuse_qdq(skiff__graph *g, skiff__pass_stats *stats)
{
    const skiff__op *op = skiff__op_find(SKIFF_DOMAIN_SKIFF, "QConv", 1);
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (!is_op(n, "Conv") || n->n_in < 2 || n->n_out != 1 || n->sum_input >= 0)
            continue;
        skiff__node *dx = producer_of(g, n->in[0], "DequantizeLinear");
        skiff__node *dw = producer_of(g, n->in[1], "DequantizeLinear");
        if (!dx || !dw || dx->n_in < 2 || dw->n_in < 2 || dx->in[0] < 0 || dw->in[0] < 0)
            continue;
        const skiff_tensor_t *ws = g->values[dw->in[1]].constant;
        if (ws && skiff_tensor_numel(ws) > 1 && skiff__attr_int(dw, "axis", 1) != 0)
            continue; /* per-channel scales on another axis than the output channels */
        skiff_dtype_t xdt = q_type(g, dx->in[0]);
        if (xdt == SKIFF_DTYPE_UNDEFINED)
            continue;
        int c = sole_consumer(g, n->out[0]);
        skiff__node *qy = c >= 0 && is_op(&g->nodes[c], "QuantizeLinear") ? &g->nodes[c] : NULL;
        if (qy && (qy->n_in < 2 || qy->in[0] != n->out[0] || qy->n_out != 1))
            qy = NULL;
        int in[9] = {dx->in[0], dx->in[1], -1,
                     dw->in[0], dw->in[1], dw->n_in > 2 ? dw->in[2] : -1,
                     -1,        -1,        n->n_in > 2 ? n->in[2] : -1};
        if ((in[2] = zero_point(g, dx, xdt)) < 0)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        if (qy) {
            const skiff_tensor_t *yz =
                qy->n_in > 2 && qy->in[2] >= 0 ? g->values[qy->in[2]].constant : NULL;
            in[6] = qy->in[1];
            if (qy->n_in > 2 && qy->in[2] >= 0 && !yz)
                in[6] = -1; /* a zero point computed at run time: keep Q apart */
            else if ((in[7] = zero_point(g, qy, yz ? yz->dtype : SKIFF_DTYPE_UINT8)) < 0)
                return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        }
        if (in[6] < 0)
            in[7] = -1;
        bool done;
        skiff_status_t *st = become_qop(g, i, "QConv", op, in, 9, conv_q_unfit_fused,
                                        in[6] >= 0 ? qy : NULL, stats, &done);
        if (st)
            return st;
        if (!done)
            continue;
        stats->qdq_fused++;
        stats->qdq_saturating += skiff__conv_q_may_saturate(n, g);
    }
    return NULL;
}

/* DequantizeLinear(a_q) -> MatMul(., DequantizeLinear(b_q)) [-> QuantizeLinear]
 * with b_q a constant int8 matrix [K, N] (scales per column: axis 1, or
 * one), or a Gemm by such weights (transB=1: [N, K], axis 0; its float C
 * the bias), becomes one int8 product (skiff QMatMul, QLinearMatMul's inputs;
 * without the QuantizeLinear its result is float), where oneDNN can run it
 * (skiff__qmatmul_unfit). */
static skiff_status_t *fuse_qdq_matmul(skiff__graph *g, skiff__pass_stats *stats)
{
    const skiff__op *op = skiff__op_find(SKIFF_DOMAIN_SKIFF, "QMatMul", 1);
    for (int i = 0; op && i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        bool gemm = is_op(n, "Gemm");
        if (!(gemm || is_op(n, "MatMul")) || n->n_in < 2 || n->n_in > (gemm ? 3 : 2) ||
            n->n_out != 1 || n->sum_input >= 0 || n->n_act)
            continue;
        /* Gemm: transB=1 stores B [N, K], its scales per row (axis 0) */
        int waxis = gemm && skiff__attr_int(n, "transB", 0) ? 0 : 1;
        skiff__node *da = producer_of(g, n->in[0], "DequantizeLinear");
        skiff__node *db = producer_of(g, n->in[1], "DequantizeLinear");
        if (!da || !db || da->n_in < 2 || db->n_in < 2 || da->in[0] < 0 || db->in[0] < 0)
            continue;
        const skiff_tensor_t *b = g->values[db->in[0]].constant;
        const skiff_tensor_t *bs = g->values[db->in[1]].constant;
        if (!b || b->ndim != 2 || !bs ||
            (skiff_tensor_numel(bs) > 1 && skiff__attr_int(db, "axis", 1) != waxis))
            continue;
        skiff_dtype_t adt = q_type(g, da->in[0]);
        if (adt == SKIFF_DTYPE_UNDEFINED)
            continue;
        int c = sole_consumer(g, n->out[0]);
        skiff__node *qy = c >= 0 && is_op(&g->nodes[c], "QuantizeLinear") ? &g->nodes[c] : NULL;
        if (qy && (qy->n_in < 2 || qy->in[0] != n->out[0] || qy->n_out != 1 ||
                   (qy->n_in > 2 && qy->in[2] >= 0 && !g->values[qy->in[2]].constant)))
            qy = NULL;
        int in[9] = {da->in[0], da->in[1], -1,
                     db->in[0], db->in[1], db->n_in > 2 ? db->in[2] : -1,
                     -1,        -1,        gemm && n->n_in > 2 ? n->in[2] : -1};
        if ((in[2] = zero_point(g, da, adt)) < 0)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        if (qy) {
            const skiff_tensor_t *yz =
                qy->n_in > 2 && qy->in[2] >= 0 ? g->values[qy->in[2]].constant : NULL;
            in[6] = qy->in[1];
            if ((in[7] = zero_point(g, qy, yz ? yz->dtype : SKIFF_DTYPE_UINT8)) < 0)
                return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        }
        bool done;
        skiff_status_t *st = become_qop(g, i, "QMatMul", op, in,
                                        in[8] >= 0 ? 9
                                        : qy       ? 8
                                                   : 6,
                                        skiff__qmatmul_unfit, qy, stats, &done);
        if (st)
            return st;
        if (!done)
            continue;
        stats->qdq_mm_fused++;
        skiff__graph_recount(g);
    }
    return NULL;
}

/* A constant scalar zero point of a (De)QuantizeLinear, or its absence:
 * *v its value (0 when absent), *dt its type (uint8 when absent). */
static bool qdq_zero(const skiff__graph *g, const skiff__node *qdq, int32_t *v, skiff_dtype_t *dt)
{
    *v = 0;
    *dt = SKIFF_DTYPE_UINT8;
    if (qdq->n_in < 3 || qdq->in[2] < 0)
        return true;
    const skiff_tensor_t *z = g->values[qdq->in[2]].constant;
    if (!z || skiff_tensor_numel(z) != 1 ||
        (z->dtype != SKIFF_DTYPE_UINT8 && z->dtype != SKIFF_DTYPE_INT8))
        return false;
    *v = (int32_t)skiff__tensor_get_i64(z, 0);
    *dt = z->dtype;
    return true;
}

/* A constant positive scalar scale of a (De)QuantizeLinear. */
static bool qdq_scale(const skiff__graph *g, const skiff__node *qdq, float *v)
{
    return qdq->n_in >= 2 && const_scalar(g, qdq->in[1], v) && *v > 0 && isfinite(*v);
}

/* Whether values a and b may have one shape: no declared dim differs (the
 * kernel checks the shapes a run brings). */
static bool same_shape_possible(const skiff__graph *g, int a, int b)
{
    const skiff__value *x = &g->values[a], *y = &g->values[b];
    if (x->ndim < 0 || y->ndim < 0)
        return true;
    if (x->ndim != y->ndim)
        return false;
    for (int i = 0; i < x->ndim; i++)
        if (x->dims[i] >= 0 && y->dims[i] >= 0 && x->dims[i] != y->dims[i])
            return false;
    return true;
}

/* A residual join after an int8 convolution of a QDQ model (after fuse_qdq):
 *   QConv -> y_q -> DequantizeLinear -> Add(., r) [-> Relu | Clip] -> o
 * becomes one QConv that adds r through oneDNN's sum post-op and writes o:
 *   - r float (skiff quantize's form: the residual path stays float32, the
 *     convolutions read it through their own QuantizeLinear): o is float;
 *   - r = DequantizeLinear(r_q) and o read only by a QuantizeLinear (the
 *     form of quantizers that quantize Add as well): the QConv adds r_q with
 *     its scale and zero point and writes that QuantizeLinear's result.
 * y is still clipped to its quantized range, but its rounding to its scale
 * is skipped: the sum is taken at the accumulator's precision, as
 * oneDNN-based engines fuse it, so an output may differ from the graph's
 * by half of y's step (then by a step of the output's). Only where r is computed (not a
 * constant, which could broadcast) and no declared dim says the shapes
 * differ; a run whose shapes differ stops with an error naming the node. */
static void fuse_qdq_sums(skiff__graph *g, skiff__pass_stats *stats)
{
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (n->dead || strcmp(n->op_type, "QConv") != 0 ||
            strcmp(n->domain, SKIFF_DOMAIN_SKIFF) != 0 || n->n_in != 9 || n->in[6] < 0 ||
            n->in[7] < 0 || n->sum_input >= 0 || n->n_act || n->n_out != 1)
            continue;
        const skiff_tensor_t *yz = g->values[n->in[7]].constant;
        float ys, ds, rs, os;
        int c = sole_consumer(g, n->out[0]);
        skiff__node *dq = c >= 0 && is_op(&g->nodes[c], "DequantizeLinear") ? &g->nodes[c] : NULL;
        int32_t dz, rz, oz;
        skiff_dtype_t ddt, rdt, odt;
        if (!dq || !yz || dq->in[0] != n->out[0] || dq->n_out != 1 ||
            !const_scalar(g, n->in[6], &ys) || !qdq_scale(g, dq, &ds) || ds != ys ||
            !qdq_zero(g, dq, &dz, &ddt) || ddt != yz->dtype ||
            dz != (int32_t)skiff__tensor_get_i64(yz, 0))
            continue;
        c = sole_consumer(g, dq->out[0]);
        skiff__node *add = c >= 0 && is_op(&g->nodes[c], "Add") ? &g->nodes[c] : NULL;
        if (!add || add->n_in != 2 || add->n_out != 1 || add->in[0] == add->in[1])
            continue;
        int r = add->in[0] == dq->out[0] ? add->in[1] : add->in[0];
        skiff_dtype_t r_dt = g->values[r].dtype;
        /* r made before n in the node order, which is the order they run in */
        if (r < 0 || g->values[r].constant || g->values[r].producer >= i ||
            !same_shape_possible(g, r, n->out[0]) ||
            (r_dt != SKIFF_DTYPE_FLOAT32 && r_dt != SKIFF_DTYPE_UNDEFINED))
            continue;
        /* an activation after the join */
        int cur = add->out[0];
        skiff__node *act_node = NULL;
        skiff__fused_act act;
        c = sole_consumer(g, cur);
        if (c >= 0 && g->nodes[c].n_out == 1 && g->nodes[c].in[0] == cur &&
            act_of(g, &g->nodes[c], &act) &&
            (act.kind == SKIFF_ACT_RELU || act.kind == SKIFF_ACT_CLIP)) {
            act_node = &g->nodes[c];
            cur = act_node->out[0];
            c = sole_consumer(g, cur);
        }
        /* quantized on both sides: r_q added, the QuantizeLinear's result */
        skiff__node *dr = producer_of(g, r, "DequantizeLinear");
        skiff__node *qo = c >= 0 && is_op(&g->nodes[c], "QuantizeLinear") ? &g->nodes[c] : NULL;
        bool quantized = dr && qo && dr->n_in >= 2 && dr->in[0] >= 0 && qdq_scale(g, dr, &rs) &&
                         qdq_zero(g, dr, &rz, &rdt) && q_type(g, dr->in[0]) == rdt &&
                         !g->values[dr->in[0]].constant && qo->in[0] == cur && qo->n_out == 1 &&
                         qdq_scale(g, qo, &os) && qdq_zero(g, qo, &oz, &odt) && odt == rdt;
        /* inputs 9, 10: the sum's scale and zero point (quantized) or none;
         * 11, 12: y's, whose range the result is still clipped to */
        int *ni = skiff__malloc(sizeof(int) * 13);
        if (!ni)
            return; /* out of memory: the join stays as written */
        memcpy(ni, n->in, sizeof(int) * 9);
        ni[9] = ni[10] = -1;
        ni[11] = n->in[6];
        ni[12] = n->in[7];
        if (quantized) {
            ni[6] = qo->in[1];
            ni[7] = zero_point(g, qo, odt);
            ni[9] = dr->in[1];
            ni[10] = zero_point(g, dr, rdt);
            if (ni[7] < 0 || ni[10] < 0) {
                skiff__free(ni);
                return;
            }
        } else {
            ni[6] = ni[7] = -1; /* the result stays float */
        }
        skiff__free(n->in);
        n->in = ni;
        n->n_in = 13;
        n->sum_input = quantized ? dr->in[0] : r;
        if (act_node)
            n->act[n->n_act++] = act;
        g->values[n->out[0]].n_consumers = 0;
        n->out[0] = quantized ? qo->out[0] : cur;
        g->values[n->out[0]].producer = i;
        dq->dead = add->dead = true;
        if (act_node)
            act_node->dead = true;
        if (quantized)
            qo->dead = true;
        stats->qdq_sum_fused++;
        skiff__graph_recount(g);
    }
}

/* Conv(x, W[, B]) followed by Mul, Add or Sub of scalar constants (its sole
 * consumers, one after the other): y = a conv(x) + b is the Conv with
 * weights a W and bias a B + b. PP-LCNetV3's learnable affine blocks put
 * such a pair after every convolution and again after its activation; the
 * first pair folds here, so the second one can become the Conv's linear
 * post-op (oneDNN takes each eltwise kind once per chain). */
static skiff_status_t *fold_conv_scale(skiff__graph *g, int *count)
{
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *conv = &g->nodes[i];
        const skiff_tensor_t *w, *b;
        if (!plain_conv(g, conv, &w, &b))
            continue;
        float alpha = 1.0f, beta = 0.0f;
        int out = conv->out[0], n_folded = 0;
        int dead[8];
        while (n_folded < 8) {
            int ci = sole_consumer(g, out);
            skiff__fused_act lin;
            if (ci < 0 || g->nodes[ci].dead || g->nodes[ci].n_out != 1 ||
                !linear_of(g, &g->nodes[ci], out, true, &lin))
                break;
            beta = lin.alpha * beta + lin.beta;
            alpha *= lin.alpha;
            dead[n_folded++] = ci;
            out = g->nodes[ci].out[0];
        }
        if (!n_folded || !isfinite(alpha) || !isfinite(beta))
            continue;
        int64_t oc = w->dims[0];
        if (b && skiff_tensor_numel(b) != oc)
            continue;
        skiff_tensor_t *nw, *nb;
        skiff_status_t *st = skiff_tensor_clone(w, &nw);
        if (st)
            return st;
        st = skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 1, &oc, &nb);
        if (st) {
            skiff_tensor_free(nw);
            return st;
        }
        int64_t numel = skiff_tensor_numel(w);
        float *wd = nw->data, *bd = nb->data;
        for (int64_t j = 0; j < numel; j++)
            wd[j] *= alpha;
        for (int64_t o = 0; o < oc; o++)
            bd[o] = alpha * (b ? ((const float *)b->data)[o] : 0.0f) + beta;
        if ((st = set_conv_params(g, conv, nw, nb, "_scaled")))
            return st;
        for (int k = 0; k < n_folded; k++)
            absorb(g, i, &g->nodes[dead[k]]);
        (*count) += n_folded;
        skiff__graph_recount(g);
    }
    return NULL;
}

skiff_status_t *skiff__graph_optimize(skiff__graph *g, bool int8, skiff__pass_stats *stats)
{
    skiff__graph_recount(g);
    stats->removed_identity = remove_identities(g);
    skiff_status_t *st = fold_constants(g, int8, &stats->folded);
    if (st)
        return st;
    skiff__graph_recount(g);
    st = fold_conv_bias(g, &stats->bias_folded);
    if (st)
        return st;
    skiff__graph_recount(g);
    st = fold_batchnorm(g, &stats->bn_folded);
    if (st)
        return st;
    st = fold_conv_scale(g, &stats->scale_folded);
    if (st)
        return st;
    st = fuse_subgraphs(g, &stats->gelu_fused, &stats->ln_fused, &stats->hardswish_fused);
    if (st)
        return st;
    skiff__graph_recount(g);
    stats->sum_fused = fuse_sums(g);
    skiff__graph_recount(g);
    stats->act_fused = fuse_activations(g);
    if (int8) {
        skiff__graph_recount(g);
        if ((st = fuse_qdq(g, stats)))
            return st;
        skiff__graph_recount(g);
        fuse_qdq_sums(g, stats);
        skiff__graph_recount(g);
        if ((st = fuse_qdq_matmul(g, stats)))
            return st;
        skiff__graph_recount(g);
        /* the weights of the convolutions left float */
        if ((st = fold_constants(g, false, &stats->folded)))
            return st;
    }
    stats->dead = remove_dead(g);
    skiff__graph_recount(g);
    drop_unused_constants(g);
    return NULL;
}

/* ---- layouts ---- */

static unsigned op_flags(const skiff__node *n) { return n->op ? n->op->flags : 0; }

/* A node's layout flags: its op's, less the channels-last ones where they
 * hold only for constant scalar parameters (SKIFF_OP_CL_SCALAR) and the
 * node's are not. */
static unsigned layout_flags(const skiff__graph *g, const skiff__node *n)
{
    unsigned f = op_flags(n);
    if (!(f & SKIFF_OP_CL_SCALAR))
        return f;
    for (int k = 1; k < 3 && k < n->n_in; k++) {
        int v = n->in[k];
        if (k == 1 && v < 0)
            return f & ~(SKIFF_OP_CL_X | SKIFF_OP_CL_Y | SKIFF_OP_CL_SAME);
        if (v >= 0 && (v >= g->n_values || !g->values[v].constant ||
                       skiff_tensor_numel(g->values[v].constant) != 1))
            return f & ~(SKIFF_OP_CL_X | SKIFF_OP_CL_Y | SKIFF_OP_CL_SAME);
    }
    return n->n_in >= 2 ? f : f & ~(SKIFF_OP_CL_X | SKIFF_OP_CL_Y | SKIFF_OP_CL_SAME);
}

/* Live outputs past out[0] (MaxPool's indices): such a node keeps row-major. */
static bool extra_outputs(const skiff__node *n)
{
    for (int o = 1; o < n->n_out; o++)
        if (n->out[o] >= 0)
            return true;
    return false;
}

bool skiff__plan_layouts(skiff__graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i].x_cl = g->nodes[i].sum_cl = g->nodes[i].y_cl = false;
    bool *cl = skiff__calloc((size_t)g->n_values + 1, sizeof(bool));
    int *prod = skiff__calloc((size_t)g->n_values + 1, sizeof(int));
    if (!cl || !prod) {
        skiff__free(cl);
        skiff__free(prod);
        return false;
    }
    for (int v = 0; v < g->n_values; v++) {
        const skiff__value *val = &g->values[v];
        cl[v] = !val->is_output && !val->is_input && !val->constant && val->n_consumers > 0;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const skiff__node *n = &g->nodes[i];
        if (n->dead)
            continue;
        unsigned f = layout_flags(g, n);
        bool extra = extra_outputs(n);
        for (int o = 0; o < n->n_out; o++) {
            int v = n->out[o];
            if (v < 0 || v >= g->n_values)
                continue;
            prod[v]++;
            if (o != 0 || !(f & SKIFF_OP_CL_Y) || extra)
                cl[v] = false;
        }
        for (int k = 0; k <= n->n_in; k++) {
            int v = k < n->n_in ? n->in[k] : n->sum_input;
            if (v < 0 || v >= g->n_values)
                continue;
            if ((k != 0 && k != n->n_in) || !(f & SKIFF_OP_CL_X) || extra)
                cl[v] = false;
        }
    }
    for (int v = 0; v < g->n_values; v++)
        if (prod[v] != 1)
            cl[v] = false;
    /* nodes that keep one layout from in[0] to out[0]: both or neither */
    for (bool changed = true; changed;) {
        changed = false;
        for (int i = 0; i < g->n_nodes; i++) {
            const skiff__node *n = &g->nodes[i];
            if (n->dead || !(layout_flags(g, n) & SKIFF_OP_CL_SAME) || n->n_in < 1 || n->n_out < 1)
                continue;
            int x = n->in[0], y = n->out[0];
            if (x < 0 || y < 0 || x >= g->n_values || y >= g->n_values)
                continue;
            if (cl[x] != cl[y]) {
                cl[x] = cl[y] = false;
                changed = true;
            }
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (n->dead)
            continue;
        n->x_cl = n->n_in > 0 && n->in[0] >= 0 && n->in[0] < g->n_values && cl[n->in[0]];
        n->sum_cl = n->sum_input >= 0 && n->sum_input < g->n_values && cl[n->sum_input];
        n->y_cl = n->n_out > 0 && n->out[0] >= 0 && n->out[0] < g->n_values && cl[n->out[0]];
    }
    skiff__free(cl);
    skiff__free(prod);
    return true;
}

int skiff__plan_precision(skiff__graph *g, skiff_precision_t p)
{
    int marked = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        n->bf16 = false;
        if (n->dead || p != SKIFF_PRECISION_BF16 || !n->op_type ||
            (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0))
            continue;
        const char *t = n->op_type;
        const skiff_tensor_t *w = const_f32(g, n, 1);
        if (strcmp(t, "Conv") == 0 || strcmp(t, "ConvTranspose") == 0)
            n->bf16 = w && w->ndim >= 3;
        else if (strcmp(t, "Gemm") == 0 || strcmp(t, "MatMul") == 0)
            n->bf16 = w && w->ndim == 2;
        marked += n->bf16;
    }
    /* results held in bf16: a bf16 Conv's, where every reader is a bf16
     * convolution that reads it as X or as its fused sum (the kernels take
     * either type at run time, so a result that stays float32 on a path
     * oneDNN does not fuse is still read right). One pass over the readers
     * marks the values some other use needs in float32. */
    bool *f32 = marked ? skiff__calloc((size_t)g->n_values + 1, sizeof(bool)) : NULL;
    for (int j = 0; f32 && j < g->n_nodes; j++) {
        const skiff__node *c = &g->nodes[j];
        if (c->dead)
            continue;
        bool conv = c->bf16 && strcmp(c->op_type, "Conv") == 0;
        bool convt = c->bf16 && strcmp(c->op_type, "ConvTranspose") == 0;
        for (int k = 0; k < c->n_in; k++)
            if (c->in[k] >= 0 && c->in[k] < g->n_values && !(k == 0 && (conv || convt)))
                f32[c->in[k]] = true;
        if (c->sum_input >= 0 && c->sum_input < g->n_values && !conv)
            f32[c->sum_input] = true;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        n->y_bf16 = false;
        if (!f32 || !n->bf16 || strcmp(n->op_type, "Conv") != 0 || n->n_out != 1 || n->out[0] < 0 ||
            n->out[0] >= g->n_values)
            continue;
        const skiff__value *y = &g->values[n->out[0]];
        n->y_bf16 = !f32[n->out[0]] && !y->is_output && !y->constant && y->n_consumers > 0;
    }
    skiff__free(f32);
    return marked;
}
