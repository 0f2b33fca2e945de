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

static skiff_status_t *fold_constants(skiff__graph *g, int *folded)
{
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (n->dead || !n->op)
            continue;
        if (strncmp(n->op_type, "Random", 6) == 0 || strcmp(n->op_type, "Bernoulli") == 0)
            continue;
        bool all_const = n->n_in > 0;
        for (int k = 0; k < n->n_in && all_const; k++)
            if (n->in[k] >= 0 && !g->values[n->in[k]].constant)
                all_const = false;
        if (!all_const)
            continue;
        skiff_status_t *st = skiff__fold_node(g, i);
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

static skiff_status_t *fold_batchnorm(skiff__graph *g, int *count)
{
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *conv = &g->nodes[i];
        if (!is_op(conv, "Conv") || conv->n_out != 1 || conv->n_act)
            continue;
        const skiff_tensor_t *w = const_f32(g, conv, 1);
        const skiff_tensor_t *b = const_f32(g, conv, 2);
        if (!w || w->ndim < 3 || (conv->n_in > 2 && conv->in[2] >= 0 && !b))
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
        const char *wname = g->values[conv->in[1]].name;
        int wv = add_constant(g, wname, "_bnfold", nw);
        int bv = wv >= 0 ? add_constant(g, wname, "_bnfold_bias", nb) : -1;
        if (wv < 0)
            skiff_tensor_free(nb);
        if (bv < 0)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        /* add_constant may have moved g->nodes? No: values only. */
        if (conv->n_in < 3) {
            int *nin = skiff__realloc(conv->in, sizeof(int) * 3);
            if (!nin)
                return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
            conv->in = nin;
            conv->n_in = 3;
        }
        conv->in[1] = wv;
        conv->in[2] = bv;
        int old_out = conv->out[0];
        conv->out[0] = bn->out[0];
        g->values[old_out].n_consumers = 0;
        bn->dead = true;
        (*count)++;
    }
    return NULL;
}

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

static int fuse_activations(skiff__graph *g)
{
    int fused = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (n->dead || !n->op || !(n->op->flags & SKIFF_OP_FUSES_ACT) || n->n_out < 1)
            continue;
        while (n->n_act < 2) {
            int ci = sole_consumer(g, n->out[0]);
            if (ci < 0)
                break;
            skiff__node *a = &g->nodes[ci];
            skiff__fused_act act;
            if (a->dead || a->in[0] != n->out[0] || a->n_out != 1 || !act_of(g, a, &act))
                break;
            /* Only float activations: the producer must yield float32. */
            if (g->values[n->out[0]].dtype != SKIFF_DTYPE_FLOAT32 &&
                g->values[n->out[0]].dtype != SKIFF_DTYPE_UNDEFINED)
                break;
            n->act[n->n_act++] = act;
            int old = n->out[0];
            n->out[0] = a->out[0];
            g->values[old].n_consumers = 0;
            a->dead = true;
            fused++;
        }
    }
    return fused;
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

skiff_status_t *skiff__graph_optimize(skiff__graph *g, skiff__pass_stats *stats)
{
    skiff__graph_recount(g);
    stats->removed_identity = remove_identities(g);
    skiff_status_t *st = fold_constants(g, &stats->folded);
    if (st)
        return st;
    skiff__graph_recount(g);
    st = fold_batchnorm(g, &stats->bn_folded);
    if (st)
        return st;
    skiff__graph_recount(g);
    stats->act_fused = fuse_activations(g);
    stats->dead = remove_dead(g);
    skiff__graph_recount(g);
    drop_unused_constants(g);
    return NULL;
}
