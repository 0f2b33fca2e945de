/* paddle_ops.c - Paddle's ops as graph nodes of the same meaning. Each op
 * keeps Paddle's semantics (its attribute variants, its broadcast and
 * padding rules); where ONNX has no single op, several nodes (named after the
 * op's output, with an @ suffix) do its work. paddle.c calls
 * skiff__pd_map_op for every op of the program but feed and fetch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paddle_int.h"

#define OOM() skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory")

/* Attributes a mapped node holds at most (Conv: strides, dilations, group,
 * pads, output_padding). */
#define NODE_ATTRS 8

static double attr_float(const pd_op *op, const char *name, double def)
{
    const pd_attr *a = skiff__pd_attr(op, name);
    if (!a)
        return def;
    return a->has_f ? a->f : a->has_float64 ? a->float64 : def;
}

static bool attr_bool(const pd_op *op, const char *name, bool def)
{
    const pd_attr *a = skiff__pd_attr(op, name);
    return a && a->has_b ? a->b : def;
}

/* Appends a node op_type(ins) -> outs, outputs created. */
static skiff_status_t *emit(skiff__pd_ctx *c, const char *op_type, const int *ins, int n_in,
                            const char *const *outs, int n_out, skiff__node **out_node)
{
    skiff__graph *g = c->g;
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        skiff__node *nn = skiff__realloc(g->nodes, sizeof(*nn) * (size_t)cap);
        if (!nn)
            return OOM();
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    skiff__node *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof(*n));
    n->sum_input = -1;
    n->name = skiff__strdup(outs[0]);
    n->op_type = skiff__strdup(op_type);
    n->domain = skiff__strdup("");
    n->opset = g->opset;
    n->in = skiff__malloc(sizeof(int) * (size_t)(n_in + 1));
    n->out = skiff__malloc(sizeof(int) * (size_t)(n_out + 1));
    n->attrs = skiff__calloc(NODE_ATTRS, sizeof(skiff__attr));
    if (!n->name || !n->op_type || !n->domain || !n->in || !n->out || !n->attrs)
        return OOM();
    n->n_in = n_in;
    memcpy(n->in, ins, sizeof(int) * (size_t)n_in);
    for (int i = 0; i < n_out; i++) {
        int v = skiff__graph_find_value(g, outs[i]);
        if (v >= 0 &&
            (g->values[v].producer >= 0 || g->values[v].constant || g->values[v].is_input))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "variable '%s' is written twice",
                                    outs[i]);
        if (v < 0 && (v = skiff__graph_add_value(g, outs[i])) < 0)
            return OOM();
        g->values[v].producer = g->n_nodes - 1;
        n->out[i] = v;
        n->n_out = i + 1;
    }
    *out_node = n;
    return NULL;
}

/* Claims the node's next attribute, named; counted at once, so whatever it
 * holds is freed with the graph even when a later allocation fails. */
static skiff__attr *new_attr(skiff__node *n, const char *name, skiff__attr_type type)
{
    if (n->n_attrs == NODE_ATTRS)
        return NULL;
    skiff__attr *a = &n->attrs[n->n_attrs++];
    a->type = type;
    a->name = skiff__strdup(name);
    return a->name ? a : NULL;
}

static skiff_status_t *node_attr_int(skiff__node *n, const char *name, int64_t v)
{
    skiff__attr *a = new_attr(n, name, SKIFF_ATTR_INT);
    if (!a)
        return OOM();
    a->i = v;
    return NULL;
}

static skiff_status_t *node_attr_float(skiff__node *n, const char *name, float v)
{
    skiff__attr *a = new_attr(n, name, SKIFF_ATTR_FLOAT);
    if (!a)
        return OOM();
    a->f = v;
    return NULL;
}

static skiff_status_t *node_attr_str(skiff__node *n, const char *name, const char *v)
{
    skiff__attr *a = new_attr(n, name, SKIFF_ATTR_STRING);
    if (!a || !(a->s = skiff__strdup(v)))
        return OOM();
    a->s_len = strlen(v);
    return NULL;
}

static skiff_status_t *node_attr_ints(skiff__node *n, const char *name, const int64_t *v, int count)
{
    skiff__attr *a = new_attr(n, name, SKIFF_ATTR_INTS);
    if (!a || !(a->ints = skiff__malloc(sizeof(int64_t) * (size_t)(count + 1))))
        return OOM();
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)count);
    a->n = count;
    return NULL;
}

/* A Paddle int list attribute (ints or longs) into v (at most cap); its count,
 * or -1 when absent. */
static int attr_ints(const pd_op *op, const char *name, int64_t *v, int cap)
{
    const pd_attr *a = skiff__pd_attr(op, name);
    if (!a)
        return -1;
    int n = 0;
    for (size_t i = 0; i < a->n_ints && n < cap; i++)
        v[n++] = a->ints[i];
    for (size_t i = 0; i < a->n_longs && n < cap; i++)
        v[n++] = a->longs[i];
    return n;
}

static const char *attr_str(const pd_op *op, const char *name, const char *def)
{
    const pd_attr *a = skiff__pd_attr(op, name);
    return a && a->s ? a->s : def;
}

/* A new constant value (a scalar or a small vector) named after `base`. */
static int add_const(skiff__pd_ctx *c, const char *base, skiff_dtype_t dt, int ndim,
                     const int64_t *dims, const void *data)
{
    char name[300];
    snprintf(name, sizeof(name), "%s@skiff%d", base, c->tmp++);
    int v = skiff__graph_add_value(c->g, name);
    if (v < 0)
        return -1;
    skiff_tensor_t *t;
    if (skiff_tensor_new(dt, ndim, dims, &t))
        return -1;
    memcpy(t->data, data, t->nbytes);
    skiff__value *val = &c->g->values[v];
    val->constant = t;
    val->dtype = dt;
    val->ndim = ndim;
    memcpy(val->dims, dims, sizeof(int64_t) * (size_t)ndim);
    return v;
}

/* Rank of a variable from its VarDesc (or its constant), -1 unknown. */
static int rank_of(skiff__pd_ctx *c, const char *name)
{
    int v = skiff__pd_value_of(c, name);
    if (v >= 0 && c->g->values[v].ndim >= 0)
        return c->g->values[v].ndim;
    const pd_tensor_desc *td = skiff__pd_tensor_desc(skiff__pd_find_var(c->b, name));
    return td ? (int)td->n_dims : -1;
}

/* ---- op mappings -------------------------------------------------------------------- */

/* The op's output variable name in slot Out; an op without one is refused. */
static skiff_status_t *out_slot(const pd_op *op, const char **out)
{
    *out = skiff__pd_slot(op->outputs, op->n_outputs, "Out");
    if (!*out || !(*out)[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s has no output Out", op->type);
    return NULL;
}

static skiff_status_t *need(skiff__pd_ctx *c, const pd_op *op, const char *name,
                            const char *slotname, int *out)
{
    *out = skiff__pd_value_of(c, name);
    if (!name || *out < 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "op %s: input %s ('%s') is not defined before it", op->type,
                                slotname, name ? name : "");
    return NULL;
}

/* mul: X flattened to 2-D at x_num_col_dims, times Y (2-D). */
static skiff_status_t *map_mul(skiff__pd_ctx *c, const pd_op *op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"),
               *yn = skiff__pd_slot(op->inputs, op->n_inputs, "Y");
    const char *on;
    int x, y;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)) ||
        (st = need(c, op, yn, "Y", &y)))
        return st;
    int64_t xk = skiff__pd_attr_int(op, "x_num_col_dims", 1),
            yk = skiff__pd_attr_int(op, "y_num_col_dims", 1);
    if (yk != 1 || rank_of(c, yn) != 2 || xk < 1)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "op mul: y_num_col_dims %lld with a rank-%d Y (only 1 and 2-D Y "
                                "are supported)",
                                (long long)yk, rank_of(c, yn));
    int rx = rank_of(c, xn);
    if (xk != 1 && !(rx >= 0 && xk == rx - 1))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "op mul: x_num_col_dims %lld of a rank-%d X (1, or the last "
                                "dim, are supported)",
                                (long long)xk, rx);
    skiff__node *n;
    int in[2] = {x, y};
    if (xk == 1 && rx != 2) {
        char flat[300];
        snprintf(flat, sizeof(flat), "%s@flat%d", on, c->tmp++);
        const char *fo[1] = {flat};
        if ((st = emit(c, "Flatten", &x, 1, fo, 1, &n)) || (st = node_attr_int(n, "axis", 1)))
            return st;
        in[0] = n->out[0];
    }
    const char *outs[1] = {on};
    return emit(c, "MatMul", in, 2, outs, 1, &n);
}

/* elementwise_*: Y broadcast from `axis` of X (-1: trailing, numpy's rule). */
static skiff_status_t *map_elementwise(skiff__pd_ctx *c, const pd_op *op, const char *onnx_op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"),
               *yn = skiff__pd_slot(op->inputs, op->n_inputs, "Y");
    const char *on;
    int x, y;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)) ||
        (st = need(c, op, yn, "Y", &y)))
        return st;
    int64_t axis = skiff__pd_attr_int(op, "axis", -1);
    int rx = rank_of(c, xn), ry = rank_of(c, yn);
    if (axis >= 0 && rx >= 0 && ry >= 0 && axis + ry < rx) {
        /* Y lines up with X's dims from `axis`: give it trailing 1s. */
        skiff__value *yv = &c->g->values[y];
        if (!yv->constant)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "op %s: axis %lld with a computed Y ('%s') is not supported",
                                    op->type, (long long)axis, yn);
        int64_t dims[SKIFF_MAX_DIMS];
        int nd = (int)(rx - axis);
        if (nd > SKIFF_MAX_DIMS)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: rank %d", op->type, rx);
        for (int i = 0; i < nd; i++)
            dims[i] = i < ry ? yv->constant->dims[i] : 1;
        y = add_const(c, yn, yv->constant->dtype, nd, dims, yv->constant->data);
        if (y < 0)
            return OOM();
    } else if (axis >= 0 && rx >= 0 && ry >= 0 && axis + ry != rx) {
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "op %s: axis %lld does not fit X of rank %d and Y of rank %d",
                                op->type, (long long)axis, rx, ry);
    }
    int in[2] = {x, y};
    const char *outs[1] = {on};
    skiff__node *n;
    return emit(c, onnx_op, in, 2, outs, 1, &n);
}

/* scale: scale * x + bias, or scale * (x + bias). */
static skiff_status_t *map_scale(skiff__pd_ctx *c, const pd_op *op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X");
    const char *on;
    int x;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)))
        return st;
    if (skiff__pd_slot(op->inputs, op->n_inputs, "ScaleTensor"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op scale: a ScaleTensor input");
    float scale = (float)attr_float(op, "scale", 1.0), bias = (float)attr_float(op, "bias", 0.0);
    bool after = attr_bool(op, "bias_after_scale", true);
    skiff_dtype_t dt = c->g->values[x].dtype;
    if (dt != SKIFF_DTYPE_FLOAT32 && dt != SKIFF_DTYPE_UNDEFINED)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op scale on %s", skiff_dtype_name(dt));
    int64_t one = 1;
    int s = add_const(c, on, SKIFF_DTYPE_FLOAT32, 1, &one, &scale);
    int b = add_const(c, on, SKIFF_DTYPE_FLOAT32, 1, &one, &bias);
    if (s < 0 || b < 0)
        return OOM();
    char mid[300];
    snprintf(mid, sizeof(mid), "%s@mid%d", on, c->tmp++);
    const char *m1[1] = {mid}, *m2[1] = {on};
    skiff__node *n;
    int in1[2] = {x, after ? s : b};
    if ((st = emit(c, after ? "Mul" : "Add", in1, 2, m1, 1, &n)))
        return st;
    int in2[2] = {n->out[0], after ? b : s};
    return emit(c, after ? "Add" : "Mul", in2, 2, m2, 1, &n);
}

/* One-input ops with the same meaning in ONNX. */
static skiff_status_t *map_unary(skiff__pd_ctx *c, const pd_op *op, const char *onnx_op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X");
    const char *on;
    int x;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)))
        return st;
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = emit(c, onnx_op, &x, 1, outs, 1, &n)))
        return st;
    if (!strcmp(onnx_op, "Softmax"))
        return node_attr_int(n, "axis", skiff__pd_attr_int(op, "axis", -1));
    return NULL;
}

/* Paddle's paddings ([h, w] or [top, bottom, left, right]) as ONNX pads
 * ([top, left, bottom, right]) on n, or auto_pad for SAME. */
static skiff_status_t *conv_pads(skiff__node *n, const pd_op *op)
{
    const char *algo = attr_str(op, "padding_algorithm", "EXPLICIT");
    if (!strcmp(algo, "SAME"))
        return node_attr_str(n, "auto_pad", "SAME_UPPER");
    int64_t p[4] = {0, 0, 0, 0}, pads[4] = {0, 0, 0, 0};
    int np = strcmp(algo, "VALID") ? attr_ints(op, "paddings", p, 4) : 0;
    if (np == 2) {
        pads[0] = pads[2] = p[0];
        pads[1] = pads[3] = p[1];
    } else if (np == 4) {
        pads[0] = p[0], pads[2] = p[1], pads[1] = p[2], pads[3] = p[3];
    } else if (np > 0) {
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s: %d paddings (2 or 4 expected)",
                                op->type, np);
    }
    return node_attr_ints(n, "pads", pads, 4);
}

static skiff_status_t *nchw_only(const pd_op *op, const char *attr_name)
{
    const char *f = attr_str(op, attr_name, "NCHW");
    if (strcmp(f, "NCHW") && strcmp(f, "AnyLayout"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: %s %s (only NCHW for now)",
                                op->type, attr_name, f);
    return NULL;
}

/* conv2d, depthwise_conv2d, conv2d_transpose: Input, Filter -> Output. */
static skiff_status_t *map_conv(skiff__pd_ctx *c, const pd_op *op, bool transpose)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "Input");
    const char *wn = skiff__pd_slot(op->inputs, op->n_inputs, "Filter");
    const char *on = skiff__pd_slot(op->outputs, op->n_outputs, "Output");
    int in[2];
    skiff_status_t *st;
    if (!on)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s has no output Output", op->type);
    if ((st = need(c, op, xn, "Input", &in[0])) || (st = need(c, op, wn, "Filter", &in[1])) ||
        (st = nchw_only(op, "data_format")))
        return st;
    int64_t strides[2] = {1, 1}, dil[2] = {1, 1}, outpad[2] = {0, 0}, outsize[2];
    attr_ints(op, "strides", strides, 2);
    attr_ints(op, "dilations", dil, 2);
    if (transpose && attr_ints(op, "output_size", outsize, 2) > 0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: output_size", op->type);
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = emit(c, transpose ? "ConvTranspose" : "Conv", in, 2, outs, 1, &n)) ||
        (st = node_attr_ints(n, "strides", strides, 2)) ||
        (st = node_attr_ints(n, "dilations", dil, 2)) ||
        (st = node_attr_int(n, "group", skiff__pd_attr_int(op, "groups", 1))) ||
        (st = conv_pads(n, op)))
        return st;
    if (transpose && attr_ints(op, "output_padding", outpad, 2) > 0 && (outpad[0] || outpad[1]))
        return node_attr_ints(n, "output_padding", outpad, 2);
    return NULL;
}

/* batch_norm (inference): X, Scale, Bias, Mean, Variance -> Y. */
static skiff_status_t *map_batch_norm(skiff__pd_ctx *c, const pd_op *op)
{
    static const char *const slots[5] = {"X", "Scale", "Bias", "Mean", "Variance"};
    int in[5];
    skiff_status_t *st;
    for (int i = 0; i < 5; i++)
        if ((st =
                 need(c, op, skiff__pd_slot(op->inputs, op->n_inputs, slots[i]), slots[i], &in[i])))
            return st;
    const char *on = skiff__pd_slot(op->outputs, op->n_outputs, "Y");
    if (!on)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op batch_norm has no output Y");
    if ((st = nchw_only(op, "data_layout")))
        return st;
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = emit(c, "BatchNormalization", in, 5, outs, 1, &n)))
        return st;
    return node_attr_float(n, "epsilon", (float)attr_float(op, "epsilon", 1e-5));
}

/* pool2d: max or avg, global, adaptive to 1x1, or windowed. */
static skiff_status_t *map_pool(skiff__pd_ctx *c, const pd_op *op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"), *on;
    int x;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)) ||
        (st = nchw_only(op, "data_format")))
        return st;
    bool avg = !strcmp(attr_str(op, "pooling_type", "max"), "avg");
    int64_t k[2] = {1, 1}, strides[2] = {1, 1};
    int nk = attr_ints(op, "ksize", k, 2);
    attr_ints(op, "strides", strides, 2);
    bool global = attr_bool(op, "global_pooling", false) ||
                  (attr_bool(op, "adaptive", false) && nk == 2 && k[0] == 1 && k[1] == 1);
    const char *outs[1] = {on};
    skiff__node *n;
    if (global)
        return emit(c, avg ? "GlobalAveragePool" : "GlobalMaxPool", &x, 1, outs, 1, &n);
    if (attr_bool(op, "adaptive", false))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op pool2d: adaptive to %lldx%lld",
                                (long long)k[0], (long long)k[1]);
    if ((st = emit(c, avg ? "AveragePool" : "MaxPool", &x, 1, outs, 1, &n)) ||
        (st = node_attr_ints(n, "kernel_shape", k, 2)) ||
        (st = node_attr_ints(n, "strides", strides, 2)) || (st = conv_pads(n, op)) ||
        (st = node_attr_int(n, "ceil_mode", attr_bool(op, "ceil_mode", false))))
        return st;
    if (avg)
        return node_attr_int(n, "count_include_pad", !attr_bool(op, "exclusive", true));
    return NULL;
}

/* hard_swish, hard_sigmoid, relu6, swish: activations with parameters. */
static skiff_status_t *map_act(skiff__pd_ctx *c, const pd_op *op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"), *on;
    int x;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)))
        return st;
    const char *outs[1] = {on};
    skiff__node *n;
    if (!strcmp(op->type, "hard_swish")) {
        if (attr_float(op, "threshold", 6) != 6 || attr_float(op, "scale", 6) != 6 ||
            attr_float(op, "offset", 3) != 3)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "op hard_swish: threshold/scale/offset other than 6/6/3");
        return emit(c, "HardSwish", &x, 1, outs, 1, &n);
    }
    if (!strcmp(op->type, "hard_sigmoid")) {
        if ((st = emit(c, "HardSigmoid", &x, 1, outs, 1, &n)) ||
            (st = node_attr_float(n, "alpha", (float)attr_float(op, "slope", 0.2))))
            return st;
        return node_attr_float(n, "beta", (float)attr_float(op, "offset", 0.5));
    }
    if (!strcmp(op->type, "relu6")) {
        float lo = 0, hi = (float)attr_float(op, "threshold", 6);
        int64_t one = 1;
        int in[3] = {x, add_const(c, on, SKIFF_DTYPE_FLOAT32, 0, &one, &lo),
                     add_const(c, on, SKIFF_DTYPE_FLOAT32, 0, &one, &hi)};
        if (in[1] < 0 || in[2] < 0)
            return OOM();
        return emit(c, "Clip", in, 3, outs, 1, &n);
    }
    /* swish: x * sigmoid(beta * x) */
    float beta = (float)attr_float(op, "beta", 1.0);
    if (beta != 1.0f)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op swish: beta %g", beta);
    char mid[300];
    snprintf(mid, sizeof(mid), "%s@sig%d", on, c->tmp++);
    const char *m[1] = {mid};
    if ((st = emit(c, "Sigmoid", &x, 1, m, 1, &n)))
        return st;
    int in[2] = {x, n->out[0]};
    return emit(c, "Mul", in, 2, outs, 1, &n);
}

/* concat: every X along axis. */
static skiff_status_t *map_concat(skiff__pd_ctx *c, const pd_op *op)
{
    const char *on;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)))
        return st;
    if (skiff__pd_slot(op->inputs, op->n_inputs, "AxisTensor"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op concat: an AxisTensor input");
    const Paddle__Framework__Proto__OpDesc__Var *xs = NULL;
    for (size_t i = 0; i < op->n_inputs; i++)
        if (!strcmp(op->inputs[i]->parameter, "X"))
            xs = op->inputs[i];
    if (!xs || xs->n_arguments == 0 || xs->n_arguments > 256)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op concat: no inputs X");
    int in[256];
    for (size_t i = 0; i < xs->n_arguments; i++)
        if ((st = need(c, op, xs->arguments[i], "X", &in[i])))
            return st;
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = emit(c, "Concat", in, (int)xs->n_arguments, outs, 1, &n)))
        return st;
    return node_attr_int(n, "axis", skiff__pd_attr_int(op, "axis", 0));
}

/* nearest_interp(_v2), bilinear_interp(_v2) by scale or to out_h x out_w. */
static skiff_status_t *map_interp(skiff__pd_ctx *c, const pd_op *op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"), *on;
    int x;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)) ||
        (st = nchw_only(op, "data_layout")))
        return st;
    if (skiff__pd_slot(op->inputs, op->n_inputs, "OutSize") ||
        skiff__pd_slot(op->inputs, op->n_inputs, "SizeTensor") ||
        skiff__pd_slot(op->inputs, op->n_inputs, "Scale"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: size or scale given as a tensor",
                                op->type);
    bool nearest = !strncmp(op->type, "nearest", 7);
    bool corners = attr_bool(op, "align_corners", false);
    float sc[2] = {0, 0};
    const pd_attr *sa = skiff__pd_attr(op, "scale");
    if (sa && sa->n_floats >= 2)
        sc[0] = sa->floats[0], sc[1] = sa->floats[1];
    else if (sa && sa->n_floats == 1)
        sc[0] = sc[1] = sa->floats[0];
    else if (sa && sa->has_f)
        sc[0] = sc[1] = sa->f;
    int64_t oh = skiff__pd_attr_int(op, "out_h", -1), ow = skiff__pd_attr_int(op, "out_w", -1);
    int in[4] = {x, -1, -1, -1};
    int64_t four = 4, two = 2;
    if (sc[0] > 0 && sc[1] > 0) {
        float scales[4] = {1, 1, sc[0], sc[1]};
        in[2] = add_const(c, on, SKIFF_DTYPE_FLOAT32, 1, &four, scales);
        if (in[2] < 0)
            return OOM();
    } else if (oh > 0 && ow > 0) {
        /* sizes = concat(shape(x)[0:2], [oh, ow]) */
        char a[300], b[300], d[300];
        snprintf(a, sizeof(a), "%s@shape%d", on, c->tmp++);
        snprintf(b, sizeof(b), "%s@nc%d", on, c->tmp++);
        snprintf(d, sizeof(d), "%s@sizes%d", on, c->tmp++);
        const char *oa[1] = {a}, *ob[1] = {b}, *od[1] = {d};
        skiff__node *n;
        int64_t zero = 0, hw[2] = {oh, ow};
        int start = add_const(c, on, SKIFF_DTYPE_INT64, 1, &(int64_t){1}, &zero);
        int end = add_const(c, on, SKIFF_DTYPE_INT64, 1, &(int64_t){1}, &two);
        int hwv = add_const(c, on, SKIFF_DTYPE_INT64, 1, &two, hw);
        if (start < 0 || end < 0 || hwv < 0)
            return OOM();
        if ((st = emit(c, "Shape", &x, 1, oa, 1, &n)))
            return st;
        int sl[3] = {n->out[0], start, end};
        if ((st = emit(c, "Slice", sl, 3, ob, 1, &n)))
            return st;
        int cc[2] = {n->out[0], hwv};
        if ((st = emit(c, "Concat", cc, 2, od, 1, &n)) || (st = node_attr_int(n, "axis", 0)))
            return st;
        in[3] = n->out[0];
    } else {
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: neither scale nor out_h/out_w",
                                op->type);
    }
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = emit(c, "Resize", in, 4, outs, 1, &n)) ||
        (st = node_attr_str(n, "mode", nearest ? "nearest" : "linear")))
        return st;
    const char *ctm = corners                                                   ? "align_corners"
                      : nearest || skiff__pd_attr_int(op, "align_mode", 1) == 1 ? "asymmetric"
                                                                                : "half_pixel";
    if ((st = node_attr_str(n, "coordinate_transformation_mode", ctm)))
        return st;
    if (nearest)
        return node_attr_str(n, "nearest_mode", corners ? "round_prefer_ceil" : "floor");
    return NULL;
}

/* A constant int64 vector. */
static int const_i64(skiff__pd_ctx *c, const char *base, const int64_t *v, int n)
{
    int64_t len = n;
    return add_const(c, base, SKIFF_DTYPE_INT64, 1, &len, v);
}

/* A named intermediate value of an op's output. */
static void tmp_name(skiff__pd_ctx *c, char *buf, size_t cap, const char *base, const char *what)
{
    snprintf(buf, cap, "%s@%s%d", base, what, c->tmp++);
}

/* shape: the dims of Input, as Paddle's int32. */
static skiff_status_t *map_shape(skiff__pd_ctx *c, const pd_op *op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "Input"), *on;
    int x;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "Input", &x)))
        return st;
    char mid[300];
    tmp_name(c, mid, sizeof(mid), on, "shape");
    const char *m[1] = {mid}, *outs[1] = {on};
    skiff__node *n;
    if ((st = emit(c, "Shape", &x, 1, m, 1, &n)))
        return st;
    int v = n->out[0];
    if ((st = emit(c, "Cast", &v, 1, outs, 1, &n)))
        return st;
    return node_attr_int(n, "to", SKIFF_DTYPE_INT32);
}

/* slice with constant starts/ends/axes, then decrease_axis squeezed. */
static skiff_status_t *map_slice(skiff__pd_ctx *c, const pd_op *op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "Input"), *on;
    int x;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "Input", &x)))
        return st;
    static const char *const tensors[] = {"StartsTensor", "EndsTensor", "StartsTensorList",
                                          "EndsTensorList"};
    for (size_t i = 0; i < 4; i++)
        if (skiff__pd_slot(op->inputs, op->n_inputs, tensors[i]))
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op slice: %s", tensors[i]);
    int64_t axes[SKIFF_MAX_DIMS], starts[SKIFF_MAX_DIMS], ends[SKIFF_MAX_DIMS], dec[SKIFF_MAX_DIMS];
    int na = attr_ints(op, "axes", axes, SKIFF_MAX_DIMS);
    if (na <= 0 || attr_ints(op, "starts", starts, SKIFF_MAX_DIMS) != na ||
        attr_ints(op, "ends", ends, SKIFF_MAX_DIMS) != na)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "op slice: axes, starts and ends must have the same length");
    int nd = attr_ints(op, "decrease_axis", dec, SKIFF_MAX_DIMS);
    int in[4] = {x, const_i64(c, on, starts, na), const_i64(c, on, ends, na),
                 const_i64(c, on, axes, na)};
    if (in[1] < 0 || in[2] < 0 || in[3] < 0)
        return OOM();
    char mid[300];
    tmp_name(c, mid, sizeof(mid), on, "slice");
    const char *m[1] = {nd > 0 ? mid : on}, *outs[1] = {on};
    skiff__node *n;
    if ((st = emit(c, "Slice", in, 4, m, 1, &n)) || nd <= 0)
        return st;
    int sq[2] = {n->out[0], const_i64(c, on, dec, nd)};
    if (sq[1] < 0)
        return OOM();
    return emit(c, "Squeeze", sq, 2, outs, 1, &n);
}

/* fill_constant: a constant of attribute shape, dtype and value. */
static skiff_status_t *map_fill_constant(skiff__pd_ctx *c, const pd_op *op)
{
    const char *on;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)))
        return st;
    if (skiff__pd_slot(op->inputs, op->n_inputs, "ShapeTensor") ||
        skiff__pd_slot(op->inputs, op->n_inputs, "ShapeTensorList") ||
        skiff__pd_slot(op->inputs, op->n_inputs, "ValueTensor"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op fill_constant: a tensor input");
    int64_t dims[SKIFF_MAX_DIMS];
    int nd = attr_ints(op, "shape", dims, SKIFF_MAX_DIMS);
    skiff_dtype_t dt = skiff__pd_dtype((int)skiff__pd_attr_int(op, "dtype", 5));
    if (nd < 0)
        nd = 0;
    int64_t numel = skiff_shape_numel(nd, dims);
    if (dt == SKIFF_DTYPE_UNDEFINED || numel < 0 || numel > 1 << 20)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op fill_constant: dtype %lld or shape",
                                (long long)skiff__pd_attr_int(op, "dtype", 5));
    const char *sv = attr_str(op, "str_value", "");
    double v = sv[0] ? strtod(sv, NULL) : attr_float(op, "value", 0);
    skiff_tensor_t *t;
    if ((st = skiff_tensor_new(dt, nd, dims, &t)))
        return st;
    for (int64_t i = 0; i < numel; i++)
        skiff__store_f64(t->data, dt, i, v);
    int idx = skiff__graph_add_value(c->g, on);
    if (idx < 0) {
        skiff_tensor_free(t);
        return OOM();
    }
    skiff__value *val = &c->g->values[idx];
    val->constant = t;
    val->dtype = dt;
    val->ndim = nd;
    memcpy(val->dims, dims, sizeof(int64_t) * (size_t)nd);
    return NULL;
}

/* reshape2: to the shape attribute, a Shape tensor, or a list of 1-element
 * tensors (ShapeTensor); 0 copies the input's dim, -1 infers one. */
static skiff_status_t *map_reshape(skiff__pd_ctx *c, const pd_op *op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"), *on;
    int x;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)))
        return st;
    const Paddle__Framework__Proto__OpDesc__Var *list = NULL;
    for (size_t i = 0; i < op->n_inputs; i++)
        if (!strcmp(op->inputs[i]->parameter, "ShapeTensor") && op->inputs[i]->n_arguments)
            list = op->inputs[i];
    const char *shape_t = skiff__pd_slot(op->inputs, op->n_inputs, "Shape");
    int shp;
    skiff__node *n;
    if (list) {
        if (list->n_arguments > SKIFF_MAX_DIMS)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op reshape2: rank %zu",
                                    list->n_arguments);
        int parts[SKIFF_MAX_DIMS];
        for (size_t i = 0; i < list->n_arguments; i++) {
            int v;
            if ((st = need(c, op, list->arguments[i], "ShapeTensor", &v)))
                return st;
            char nm[300];
            tmp_name(c, nm, sizeof(nm), on, "dim");
            const char *o[1] = {nm};
            if ((st = emit(c, "Cast", &v, 1, o, 1, &n)) ||
                (st = node_attr_int(n, "to", SKIFF_DTYPE_INT64)))
                return st;
            /* a part may be a scalar (a slice's decrease_axis) or [1] */
            int64_t one = 1;
            int rs[2] = {n->out[0], const_i64(c, on, &one, 1)};
            char nm1[300];
            tmp_name(c, nm1, sizeof(nm1), on, "dim1");
            const char *o1[1] = {nm1};
            if (rs[1] < 0)
                return OOM();
            if ((st = emit(c, "Reshape", rs, 2, o1, 1, &n)))
                return st;
            parts[i] = n->out[0];
        }
        char nm[300];
        tmp_name(c, nm, sizeof(nm), on, "shape");
        const char *o[1] = {nm};
        if ((st = emit(c, "Concat", parts, (int)list->n_arguments, o, 1, &n)) ||
            (st = node_attr_int(n, "axis", 0)))
            return st;
        shp = n->out[0];
    } else if (shape_t) {
        int v;
        if ((st = need(c, op, shape_t, "Shape", &v)))
            return st;
        char nm[300];
        tmp_name(c, nm, sizeof(nm), on, "shape");
        const char *o[1] = {nm};
        if ((st = emit(c, "Cast", &v, 1, o, 1, &n)) ||
            (st = node_attr_int(n, "to", SKIFF_DTYPE_INT64)))
            return st;
        shp = n->out[0];
    } else {
        int64_t dims[SKIFF_MAX_DIMS];
        int nd = attr_ints(op, "shape", dims, SKIFF_MAX_DIMS);
        if (nd < 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op reshape2: no shape");
        if ((shp = const_i64(c, on, dims, nd)) < 0)
            return OOM();
    }
    int in[2] = {x, shp};
    const char *outs[1] = {on};
    return emit(c, "Reshape", in, 2, outs, 1, &n);
}

/* matmul_v2 (and matmul with alpha 1): X, Y, optionally transposed. */
static skiff_status_t *map_matmul(skiff__pd_ctx *c, const pd_op *op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"),
               *yn = skiff__pd_slot(op->inputs, op->n_inputs, "Y");
    const char *on;
    int in[2];
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &in[0])) ||
        (st = need(c, op, yn, "Y", &in[1])))
        return st;
    bool v1 = !strcmp(op->type, "matmul");
    if (v1 && attr_float(op, "alpha", 1.0) != 1.0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op matmul: alpha other than 1");
    bool tr[2] = {attr_bool(op, v1 ? "transpose_X" : "trans_x", false),
                  attr_bool(op, v1 ? "transpose_Y" : "trans_y", false)};
    const char *names[2] = {xn, yn};
    skiff__node *n;
    for (int k = 0; k < 2; k++) {
        if (!tr[k])
            continue;
        int r = rank_of(c, names[k]);
        if (r < 2)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "op %s: transposing an input of unknown rank", op->type);
        int64_t perm[SKIFF_MAX_DIMS];
        for (int i = 0; i < r; i++)
            perm[i] = i;
        perm[r - 2] = r - 1, perm[r - 1] = r - 2;
        char nm[300];
        tmp_name(c, nm, sizeof(nm), on, "t");
        const char *o[1] = {nm};
        if ((st = emit(c, "Transpose", &in[k], 1, o, 1, &n)) ||
            (st = node_attr_ints(n, "perm", perm, r)))
            return st;
        in[k] = n->out[0];
    }
    const char *outs[1] = {on};
    return emit(c, "MatMul", in, 2, outs, 1, &n);
}

/* dropout at inference: identity, or x * (1 - p) for downgrade_in_infer;
 * flatten_contiguous_range; leaky_relu; cast; transpose2. */
static skiff_status_t *map_misc(skiff__pd_ctx *c, const pd_op *op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"), *on;
    int x;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)))
        return st;
    const char *outs[1] = {on};
    skiff__node *n;
    if (!strcmp(op->type, "dropout")) {
        float keep = 1.0f;
        if (!strcmp(attr_str(op, "dropout_implementation", "downgrade_in_infer"),
                    "downgrade_in_infer"))
            keep = 1.0f - (float)attr_float(op, "dropout_prob", 0.5);
        int64_t one = 1;
        int in[2] = {x, add_const(c, on, SKIFF_DTYPE_FLOAT32, 0, &one, &keep)};
        if (in[1] < 0)
            return OOM();
        return keep == 1.0f ? emit(c, "Identity", &x, 1, outs, 1, &n)
                            : emit(c, "Mul", in, 2, outs, 1, &n);
    }
    if (!strcmp(op->type, "flatten_contiguous_range")) {
        int64_t start = skiff__pd_attr_int(op, "start_axis", 1),
                stop = skiff__pd_attr_int(op, "stop_axis", 1);
        int r = rank_of(c, xn);
        if (stop < 0 && r > 0)
            stop += r;
        if (start < 0 && r > 0)
            start += r;
        if (r < 0 || stop != r - 1)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "op flatten_contiguous_range: stop_axis %lld of rank %d",
                                    (long long)stop, r);
        /* Flatten to [d0..d(start-1), prod(rest)]: a Reshape keeping the
         * leading dims (0) and inferring the last (-1). */
        int64_t shape[SKIFF_MAX_DIMS];
        for (int64_t i = 0; i < start; i++)
            shape[i] = 0;
        shape[start] = -1;
        int in[2] = {x, const_i64(c, on, shape, (int)start + 1)};
        if (in[1] < 0)
            return OOM();
        return emit(c, "Reshape", in, 2, outs, 1, &n);
    }
    if (!strcmp(op->type, "leaky_relu")) {
        if ((st = emit(c, "LeakyRelu", &x, 1, outs, 1, &n)))
            return st;
        return node_attr_float(n, "alpha", (float)attr_float(op, "alpha", 0.02));
    }
    if (!strcmp(op->type, "cast")) {
        skiff_dtype_t to = skiff__pd_dtype((int)skiff__pd_attr_int(op, "out_dtype", 5));
        if (to == SKIFF_DTYPE_UNDEFINED)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op cast: out_dtype %lld",
                                    (long long)skiff__pd_attr_int(op, "out_dtype", 5));
        if ((st = emit(c, "Cast", &x, 1, outs, 1, &n)))
            return st;
        return node_attr_int(n, "to", to);
    }
    /* transpose2 */
    int64_t perm[SKIFF_MAX_DIMS];
    int np = attr_ints(op, "axis", perm, SKIFF_MAX_DIMS);
    if (np <= 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op transpose2: no axis");
    if ((st = emit(c, "Transpose", &x, 1, outs, 1, &n)))
        return st;
    return node_attr_ints(n, "perm", perm, np);
}

/* The ops skiff maps, and how. */
skiff_status_t *skiff__pd_map_op(skiff__pd_ctx *c, const pd_op *op, bool *known)
{
    static const struct {
        const char *paddle, *onnx;
    } unary[] = {{"relu", "Relu"},       {"tanh", "Tanh"},
                 {"sigmoid", "Sigmoid"}, {"softmax", "Softmax"},
                 {"exp", "Exp"},         {"sqrt", "Sqrt"},
                 {"abs", "Abs"},         {"reciprocal", "Reciprocal"}},
      binary[] = {{"elementwise_add", "Add"}, {"elementwise_sub", "Sub"},
                  {"elementwise_mul", "Mul"}, {"elementwise_div", "Div"},
                  {"elementwise_max", "Max"}, {"elementwise_min", "Min"}};
    static const char *const acts[] = {"hard_swish", "hard_sigmoid", "relu6", "swish"},
                             *const interps[] = {"nearest_interp", "nearest_interp_v2",
                                                 "bilinear_interp", "bilinear_interp_v2"};
    *known = true;
    if (!strcmp(op->type, "mul"))
        return map_mul(c, op);
    if (!strcmp(op->type, "conv2d") || !strcmp(op->type, "depthwise_conv2d"))
        return map_conv(c, op, false);
    if (!strcmp(op->type, "conv2d_transpose"))
        return map_conv(c, op, true);
    if (!strcmp(op->type, "batch_norm"))
        return map_batch_norm(c, op);
    if (!strcmp(op->type, "pool2d"))
        return map_pool(c, op);
    if (!strcmp(op->type, "concat"))
        return map_concat(c, op);
    if (!strcmp(op->type, "shape"))
        return map_shape(c, op);
    static const char *const misc[] = {"dropout", "flatten_contiguous_range", "leaky_relu", "cast",
                                       "transpose2"};
    for (size_t i = 0; i < sizeof(misc) / sizeof(misc[0]); i++)
        if (!strcmp(op->type, misc[i]))
            return map_misc(c, op);
    if (!strcmp(op->type, "slice"))
        return map_slice(c, op);
    if (!strcmp(op->type, "fill_constant"))
        return map_fill_constant(c, op);
    if (!strcmp(op->type, "reshape2"))
        return map_reshape(c, op);
    if (!strcmp(op->type, "matmul_v2") || !strcmp(op->type, "matmul"))
        return map_matmul(c, op);
    for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
        if (!strcmp(op->type, acts[i]))
            return map_act(c, op);
    for (size_t i = 0; i < sizeof(interps) / sizeof(interps[0]); i++)
        if (!strcmp(op->type, interps[i]))
            return map_interp(c, op);
    if (!strcmp(op->type, "scale"))
        return map_scale(c, op);
    for (size_t i = 0; i < sizeof(unary) / sizeof(unary[0]); i++)
        if (!strcmp(op->type, unary[i].paddle))
            return map_unary(c, op, unary[i].onnx);
    for (size_t i = 0; i < sizeof(binary) / sizeof(binary[0]); i++)
        if (!strcmp(op->type, binary[i].paddle))
            return map_elementwise(c, op, binary[i].onnx);
    *known = false;
    return NULL;
}
