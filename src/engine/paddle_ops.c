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

/* mul: X flattened to 2-D at x_num_col_dims, times Y (2-D). */
static skiff_status_t *map_mul(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"),
               *yn = skiff__pd_slot(op->inputs, op->n_inputs, "Y");
    const char *on;
    int x, y;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &x)) ||
        (st = skiff__pd_need(c, op, yn, "Y", &y)))
        return st;
    int64_t xk = skiff__pd_attr_int(op, "x_num_col_dims", 1),
            yk = skiff__pd_attr_int(op, "y_num_col_dims", 1);
    if (yk != 1 || skiff__pd_rank_of(c, yn) != 2 || xk < 1)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "op mul: y_num_col_dims %lld with a rank-%d Y (only 1 and 2-D Y "
                                "are supported)",
                                (long long)yk, skiff__pd_rank_of(c, yn));
    int rx = skiff__pd_rank_of(c, xn);
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
        if ((st = skiff__pd_emit(c, "Flatten", &x, 1, fo, 1, &n)) ||
            (st = skiff__pd_node_attr_int(n, "axis", 1)))
            return st;
        in[0] = n->out[0];
    }
    const char *outs[1] = {on};
    return skiff__pd_emit(c, "MatMul", in, 2, outs, 1, &n);
}

/* elementwise_*: Y broadcast from `axis` of X (-1: trailing, numpy's rule). */
static skiff_status_t *map_elementwise(skiff__pd_ctx *c, const pd_op *op, const char *onnx_op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"),
               *yn = skiff__pd_slot(op->inputs, op->n_inputs, "Y");
    const char *on;
    int x, y;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &x)) ||
        (st = skiff__pd_need(c, op, yn, "Y", &y)))
        return st;
    int64_t axis = skiff__pd_attr_int(op, "axis", -1);
    int rx = skiff__pd_rank_of(c, xn), ry = skiff__pd_rank_of(c, yn);
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
        y = skiff__pd_add_const(c, yn, yv->constant->dtype, nd, dims, yv->constant->data);
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
    return skiff__pd_emit(c, onnx_op, in, 2, outs, 1, &n);
}

/* scale: scale * x + bias, or scale * (x + bias). */
static skiff_status_t *map_scale(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X");
    const char *on;
    int x;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &x)))
        return st;
    if (skiff__pd_slot(op->inputs, op->n_inputs, "ScaleTensor"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op scale: a ScaleTensor input");
    float scale = (float)skiff__pd_attr_float(op, "scale", 1.0),
          bias = (float)skiff__pd_attr_float(op, "bias", 0.0);
    bool after = skiff__pd_attr_bool(op, "bias_after_scale", true);
    skiff_dtype_t dt = c->g->values[x].dtype;
    skiff__node *n;
    if (scale == 1.0f && bias == 0.0f) { /* of any dtype (save_inference_model adds these) */
        const char *outs[1] = {on};
        return skiff__pd_emit(c, "Identity", &x, 1, outs, 1, &n);
    }
    if (dt != SKIFF_DTYPE_FLOAT32 && dt != SKIFF_DTYPE_UNDEFINED)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op scale on %s", skiff_dtype_name(dt));
    int64_t one = 1;
    int s = skiff__pd_add_const(c, on, SKIFF_DTYPE_FLOAT32, 1, &one, &scale);
    int b = skiff__pd_add_const(c, on, SKIFF_DTYPE_FLOAT32, 1, &one, &bias);
    if (s < 0 || b < 0)
        return OOM();
    char mid[300];
    snprintf(mid, sizeof(mid), "%s@mid%d", on, c->tmp++);
    const char *m1[1] = {mid}, *m2[1] = {on};
    int in1[2] = {x, after ? s : b};
    if ((st = skiff__pd_emit(c, after ? "Mul" : "Add", in1, 2, m1, 1, &n)))
        return st;
    int in2[2] = {n->out[0], after ? b : s};
    return skiff__pd_emit(c, after ? "Add" : "Mul", in2, 2, m2, 1, &n);
}

/* One-input ops with the same meaning in ONNX. */
static skiff_status_t *map_unary(skiff__pd_ctx *c, const pd_op *op, const char *onnx_op)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X");
    const char *on;
    int x;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &x)))
        return st;
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = skiff__pd_emit(c, onnx_op, &x, 1, outs, 1, &n)))
        return st;
    if (!strcmp(onnx_op, "Softmax"))
        return skiff__pd_node_attr_int(n, "axis", skiff__pd_attr_int(op, "axis", -1));
    return NULL;
}

/* Paddle's paddings ([h, w] or [top, bottom, left, right]) as ONNX pads
 * ([top, left, bottom, right]) on n, or auto_pad for SAME. */
static skiff_status_t *conv_pads(skiff__node *n, const pd_op *op)
{
    const char *algo = skiff__pd_attr_str(op, "padding_algorithm", "EXPLICIT");
    if (!strcmp(algo, "SAME"))
        return skiff__pd_node_attr_str(n, "auto_pad", "SAME_UPPER");
    int64_t p[4] = {0, 0, 0, 0}, pads[4] = {0, 0, 0, 0};
    int np = strcmp(algo, "VALID") ? skiff__pd_attr_ints(op, "paddings", p, 4) : 0;
    if (np == 2) {
        pads[0] = pads[2] = p[0];
        pads[1] = pads[3] = p[1];
    } else if (np == 4) {
        pads[0] = p[0], pads[2] = p[1], pads[1] = p[2], pads[3] = p[3];
    } else if (np > 0) {
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s: %d paddings (2 or 4 expected)",
                                op->type, np);
    }
    return skiff__pd_node_attr_ints(n, "pads", pads, 4);
}

typedef skiff_status_t *(*map_fn)(skiff__pd_ctx *c, const pd_op *op, const char *arg);

static bool is_nhwc(const pd_op *op, const char *attr_name)
{
    return !strcmp(skiff__pd_attr_str(op, attr_name, "NCHW"), "NHWC");
}

/* A channels-last op (data_format/data_layout NHWC): its input transposed
 * to NCHW, the op mapped as an NCHW one (a copy of its OpDesc with the
 * input and output renamed and the layout attribute left out), and the
 * result transposed back. */
static skiff_status_t *via_nchw(skiff__pd_ctx *c, const pd_op *op, const char *attr_name,
                                const char *in_slot, const char *out_slot, map_fn fn,
                                const char *arg)
{
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, in_slot),
               *on = skiff__pd_slot(op->outputs, op->n_outputs, out_slot);
    int x;
    skiff_status_t *st;
    if (!on)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s has no output %s", op->type,
                                out_slot);
    if ((st = skiff__pd_need(c, op, xn, in_slot, &x)))
        return st;
    if (skiff__pd_rank_of(c, xn) != 4)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: NHWC input '%s' of rank %d",
                                op->type, xn, skiff__pd_rank_of(c, xn));
    char tin[300], tout[300];
    skiff__pd_tmp_name(c, tin, sizeof(tin), on, "nchw_in");
    skiff__pd_tmp_name(c, tout, sizeof(tout), on, "nchw_out");
    static const int64_t to_nchw[4] = {0, 3, 1, 2}, to_nhwc[4] = {0, 2, 3, 1};
    const char *o1[1] = {tin};
    skiff__node *n;
    if ((st = skiff__pd_emit(c, "Transpose", &x, 1, o1, 1, &n)) ||
        (st = skiff__pd_node_attr_ints(n, "perm", to_nchw, 4)))
        return st;
    /* the copy: same slots, X and Out renamed, the layout attribute out */
    size_t ni = op->n_inputs, no = op->n_outputs, na = op->n_attrs;
    Paddle__Framework__Proto__OpDesc__Var **ins = skiff__calloc(ni + 1, sizeof(*ins)),
                                          **outs = skiff__calloc(no + 1, sizeof(*outs)), vin, vout;
    pd_attr **attrs = skiff__calloc(na + 1, sizeof(*attrs));
    if (!ins || !outs || !attrs) {
        skiff__free(ins), skiff__free(outs), skiff__free(attrs);
        return OOM();
    }
    char *tin_p = tin, *tout_p = tout;
    for (size_t i = 0; i < ni; i++) {
        ins[i] = op->inputs[i];
        if (!strcmp(op->inputs[i]->parameter, in_slot)) {
            vin = *op->inputs[i];
            vin.n_arguments = 1;
            vin.arguments = &tin_p;
            ins[i] = &vin;
        }
    }
    for (size_t i = 0; i < no; i++) {
        outs[i] = op->outputs[i];
        if (!strcmp(op->outputs[i]->parameter, out_slot)) {
            vout = *op->outputs[i];
            vout.n_arguments = 1;
            vout.arguments = &tout_p;
            outs[i] = &vout;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(op->attrs[i]->name, attr_name))
            attrs[k++] = op->attrs[i];
    /* on the heap, with the argument arrays: freed before returning */
    pd_op *copy = skiff__malloc(sizeof(*copy));
    if (!copy) {
        skiff__free(ins), skiff__free(outs), skiff__free(attrs);
        return OOM();
    }
    *copy = *op;
    copy->inputs = ins;
    copy->outputs = outs;
    copy->attrs = attrs;
    copy->n_attrs = k;
    st = fn(c, copy, arg);
    skiff__free(copy);
    skiff__free(ins), skiff__free(outs), skiff__free(attrs);
    if (st)
        return st;
    int y = skiff__pd_value_of(c, tout);
    const char *o2[1] = {on};
    if ((st = skiff__pd_emit(c, "Transpose", &y, 1, o2, 1, &n)))
        return st;
    return skiff__pd_node_attr_ints(n, "perm", to_nhwc, 4);
}

static skiff_status_t *nchw_only(const pd_op *op, const char *attr_name)
{
    const char *f = skiff__pd_attr_str(op, attr_name, "NCHW");
    if (strcmp(f, "NCHW") && strcmp(f, "AnyLayout"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: %s %s (only NCHW for now)",
                                op->type, attr_name, f);
    return NULL;
}

/* conv2d, depthwise_conv2d, conv2d_transpose: Input, Filter -> Output. */
static skiff_status_t *map_conv(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    if (is_nhwc(op, "data_format"))
        return via_nchw(c, op, "data_format", "Input", "Output", map_conv, arg);
    bool transpose = arg != NULL;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "Input");
    const char *wn = skiff__pd_slot(op->inputs, op->n_inputs, "Filter");
    const char *on = skiff__pd_slot(op->outputs, op->n_outputs, "Output");
    int in[2];
    skiff_status_t *st;
    if (!on)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s has no output Output", op->type);
    if ((st = skiff__pd_need(c, op, xn, "Input", &in[0])) ||
        (st = skiff__pd_need(c, op, wn, "Filter", &in[1])) || (st = nchw_only(op, "data_format")))
        return st;
    int64_t strides[2] = {1, 1}, dil[2] = {1, 1}, outpad[2] = {0, 0}, outsize[2];
    skiff__pd_attr_ints(op, "strides", strides, 2);
    skiff__pd_attr_ints(op, "dilations", dil, 2);
    if (transpose && skiff__pd_attr_ints(op, "output_size", outsize, 2) > 0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: output_size", op->type);
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = skiff__pd_emit(c, transpose ? "ConvTranspose" : "Conv", in, 2, outs, 1, &n)) ||
        (st = skiff__pd_node_attr_ints(n, "strides", strides, 2)) ||
        (st = skiff__pd_node_attr_ints(n, "dilations", dil, 2)) ||
        (st = skiff__pd_node_attr_int(n, "group", skiff__pd_attr_int(op, "groups", 1))) ||
        (st = conv_pads(n, op)))
        return st;
    if (transpose && skiff__pd_attr_ints(op, "output_padding", outpad, 2) > 0 &&
        (outpad[0] || outpad[1]))
        return skiff__pd_node_attr_ints(n, "output_padding", outpad, 2);
    return NULL;
}

/* batch_norm (inference): X, Scale, Bias, Mean, Variance -> Y. */
static skiff_status_t *map_batch_norm(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    if (is_nhwc(op, "data_layout"))
        return via_nchw(c, op, "data_layout", "X", "Y", map_batch_norm, arg);
    (void)arg;
    static const char *const slots[5] = {"X", "Scale", "Bias", "Mean", "Variance"};
    int in[5];
    skiff_status_t *st;
    for (int i = 0; i < 5; i++)
        if ((st = skiff__pd_need(c, op, skiff__pd_slot(op->inputs, op->n_inputs, slots[i]),
                                 slots[i], &in[i])))
            return st;
    const char *on = skiff__pd_slot(op->outputs, op->n_outputs, "Y");
    if (!on)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op batch_norm has no output Y");
    if ((st = nchw_only(op, "data_layout")))
        return st;
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = skiff__pd_emit(c, "BatchNormalization", in, 5, outs, 1, &n)))
        return st;
    return skiff__pd_node_attr_float(n, "epsilon",
                                     (float)skiff__pd_attr_float(op, "epsilon", 1e-5));
}

/* pool2d: max or avg, global, adaptive to 1x1, or windowed. */
static skiff_status_t *map_pool(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    if (is_nhwc(op, "data_format"))
        return via_nchw(c, op, "data_format", "X", "Out", map_pool, arg);
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"), *on;
    int x;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &x)) ||
        (st = nchw_only(op, "data_format")))
        return st;
    bool avg = !strcmp(skiff__pd_attr_str(op, "pooling_type", "max"), "avg");
    int64_t k[2] = {1, 1}, strides[2] = {1, 1};
    int nk = skiff__pd_attr_ints(op, "ksize", k, 2);
    skiff__pd_attr_ints(op, "strides", strides, 2);
    bool global = skiff__pd_attr_bool(op, "global_pooling", false) ||
                  (skiff__pd_attr_bool(op, "adaptive", false) && nk == 2 && k[0] == 1 && k[1] == 1);
    const char *outs[1] = {on};
    skiff__node *n;
    if (global)
        return skiff__pd_emit(c, avg ? "GlobalAveragePool" : "GlobalMaxPool", &x, 1, outs, 1, &n);
    if (skiff__pd_attr_bool(op, "adaptive", false))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op pool2d: adaptive to %lldx%lld",
                                (long long)k[0], (long long)k[1]);
    if ((st = skiff__pd_emit(c, avg ? "AveragePool" : "MaxPool", &x, 1, outs, 1, &n)) ||
        (st = skiff__pd_node_attr_ints(n, "kernel_shape", k, 2)) ||
        (st = skiff__pd_node_attr_ints(n, "strides", strides, 2)) || (st = conv_pads(n, op)) ||
        (st = skiff__pd_node_attr_int(n, "ceil_mode", skiff__pd_attr_bool(op, "ceil_mode", false))))
        return st;
    if (avg)
        return skiff__pd_node_attr_int(n, "count_include_pad",
                                       !skiff__pd_attr_bool(op, "exclusive", true));
    return NULL;
}

/* hard_swish, hard_sigmoid, relu6, swish: activations with parameters. */
static skiff_status_t *map_act(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"), *on;
    int x;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &x)))
        return st;
    const char *outs[1] = {on};
    skiff__node *n;
    if (!strcmp(op->type, "hard_swish")) {
        if (skiff__pd_attr_float(op, "threshold", 6) != 6 ||
            skiff__pd_attr_float(op, "scale", 6) != 6 || skiff__pd_attr_float(op, "offset", 3) != 3)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "op hard_swish: threshold/scale/offset other than 6/6/3");
        return skiff__pd_emit(c, "HardSwish", &x, 1, outs, 1, &n);
    }
    if (!strcmp(op->type, "hard_sigmoid")) {
        if ((st = skiff__pd_emit(c, "HardSigmoid", &x, 1, outs, 1, &n)) ||
            (st = skiff__pd_node_attr_float(n, "alpha",
                                            (float)skiff__pd_attr_float(op, "slope", 0.2))))
            return st;
        return skiff__pd_node_attr_float(n, "beta", (float)skiff__pd_attr_float(op, "offset", 0.5));
    }
    if (!strcmp(op->type, "relu6")) {
        float lo = 0, hi = (float)skiff__pd_attr_float(op, "threshold", 6);
        int64_t one = 1;
        int in[3] = {x, skiff__pd_add_const(c, on, SKIFF_DTYPE_FLOAT32, 0, &one, &lo),
                     skiff__pd_add_const(c, on, SKIFF_DTYPE_FLOAT32, 0, &one, &hi)};
        if (in[1] < 0 || in[2] < 0)
            return OOM();
        return skiff__pd_emit(c, "Clip", in, 3, outs, 1, &n);
    }
    /* swish: x * sigmoid(beta * x) */
    float beta = (float)skiff__pd_attr_float(op, "beta", 1.0);
    if (beta != 1.0f)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op swish: beta %g", beta);
    char mid[300];
    snprintf(mid, sizeof(mid), "%s@sig%d", on, c->tmp++);
    const char *m[1] = {mid};
    if ((st = skiff__pd_emit(c, "Sigmoid", &x, 1, m, 1, &n)))
        return st;
    int in[2] = {x, n->out[0]};
    return skiff__pd_emit(c, "Mul", in, 2, outs, 1, &n);
}

/* concat: every X along axis. */
static skiff_status_t *map_concat(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *on;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)))
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
        if ((st = skiff__pd_need(c, op, xs->arguments[i], "X", &in[i])))
            return st;
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = skiff__pd_emit(c, "Concat", in, (int)xs->n_arguments, outs, 1, &n)))
        return st;
    return skiff__pd_node_attr_int(n, "axis", skiff__pd_attr_int(op, "axis", 0));
}

/* nearest_interp(_v2), bilinear_interp(_v2) by scale or to out_h x out_w. */
static skiff_status_t *map_interp(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    if (is_nhwc(op, "data_layout"))
        return via_nchw(c, op, "data_layout", "X", "Out", map_interp, arg);
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"), *on;
    int x;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &x)) ||
        (st = nchw_only(op, "data_layout")))
        return st;
    if (skiff__pd_slot(op->inputs, op->n_inputs, "OutSize") ||
        skiff__pd_slot(op->inputs, op->n_inputs, "SizeTensor") ||
        skiff__pd_slot(op->inputs, op->n_inputs, "Scale"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: size or scale given as a tensor",
                                op->type);
    bool nearest = !strncmp(op->type, "nearest", 7);
    bool corners = skiff__pd_attr_bool(op, "align_corners", false);
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
        in[2] = skiff__pd_add_const(c, on, SKIFF_DTYPE_FLOAT32, 1, &four, scales);
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
        int start = skiff__pd_add_const(c, on, SKIFF_DTYPE_INT64, 1, &(int64_t){1}, &zero);
        int end = skiff__pd_add_const(c, on, SKIFF_DTYPE_INT64, 1, &(int64_t){1}, &two);
        int hwv = skiff__pd_add_const(c, on, SKIFF_DTYPE_INT64, 1, &two, hw);
        if (start < 0 || end < 0 || hwv < 0)
            return OOM();
        if ((st = skiff__pd_emit(c, "Shape", &x, 1, oa, 1, &n)))
            return st;
        int sl[3] = {n->out[0], start, end};
        if ((st = skiff__pd_emit(c, "Slice", sl, 3, ob, 1, &n)))
            return st;
        int cc[2] = {n->out[0], hwv};
        if ((st = skiff__pd_emit(c, "Concat", cc, 2, od, 1, &n)) ||
            (st = skiff__pd_node_attr_int(n, "axis", 0)))
            return st;
        in[3] = n->out[0];
    } else {
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: neither scale nor out_h/out_w",
                                op->type);
    }
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = skiff__pd_emit(c, "Resize", in, 4, outs, 1, &n)) ||
        (st = skiff__pd_node_attr_str(n, "mode", nearest ? "nearest" : "linear")))
        return st;
    const char *ctm = corners                                                   ? "align_corners"
                      : nearest || skiff__pd_attr_int(op, "align_mode", 1) == 1 ? "asymmetric"
                                                                                : "half_pixel";
    if ((st = skiff__pd_node_attr_str(n, "coordinate_transformation_mode", ctm)))
        return st;
    if (nearest)
        return skiff__pd_node_attr_str(n, "nearest_mode", corners ? "round_prefer_ceil" : "floor");
    return NULL;
}

/* shape: the dims of Input, as Paddle's int32. */
static skiff_status_t *map_shape(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "Input"), *on;
    int x;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "Input", &x)))
        return st;
    char mid[300];
    skiff__pd_tmp_name(c, mid, sizeof(mid), on, "shape");
    const char *m[1] = {mid}, *outs[1] = {on};
    skiff__node *n;
    if ((st = skiff__pd_emit(c, "Shape", &x, 1, m, 1, &n)))
        return st;
    int v = n->out[0];
    if ((st = skiff__pd_emit(c, "Cast", &v, 1, outs, 1, &n)))
        return st;
    return skiff__pd_node_attr_int(n, "to", SKIFF_DTYPE_INT32);
}

/* slice with constant starts/ends/axes, then decrease_axis squeezed. */
static skiff_status_t *map_slice(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "Input"), *on;
    int x;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "Input", &x)))
        return st;
    static const char *const tensors[] = {"StartsTensor", "EndsTensor", "StartsTensorList",
                                          "EndsTensorList"};
    for (size_t i = 0; i < 4; i++)
        if (skiff__pd_slot(op->inputs, op->n_inputs, tensors[i]))
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op slice: %s", tensors[i]);
    int64_t axes[SKIFF_MAX_DIMS], starts[SKIFF_MAX_DIMS], ends[SKIFF_MAX_DIMS], dec[SKIFF_MAX_DIMS];
    int na = skiff__pd_attr_ints(op, "axes", axes, SKIFF_MAX_DIMS);
    if (na <= 0 || skiff__pd_attr_ints(op, "starts", starts, SKIFF_MAX_DIMS) != na ||
        skiff__pd_attr_ints(op, "ends", ends, SKIFF_MAX_DIMS) != na)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "op slice: axes, starts and ends must have the same length");
    int nd = skiff__pd_attr_ints(op, "decrease_axis", dec, SKIFF_MAX_DIMS);
    int in[4] = {x, skiff__pd_const_i64(c, on, starts, na), skiff__pd_const_i64(c, on, ends, na),
                 skiff__pd_const_i64(c, on, axes, na)};
    if (in[1] < 0 || in[2] < 0 || in[3] < 0)
        return OOM();
    char mid[300];
    skiff__pd_tmp_name(c, mid, sizeof(mid), on, "slice");
    const char *m[1] = {nd > 0 ? mid : on}, *outs[1] = {on};
    skiff__node *n;
    if ((st = skiff__pd_emit(c, "Slice", in, 4, m, 1, &n)) || nd <= 0)
        return st;
    int sq[2] = {n->out[0], skiff__pd_const_i64(c, on, dec, nd)};
    if (sq[1] < 0)
        return OOM();
    return skiff__pd_emit(c, "Squeeze", sq, 2, outs, 1, &n);
}

/* fill_constant: a constant of attribute shape, dtype and value. */
static skiff_status_t *map_fill_constant(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *on;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)))
        return st;
    if (skiff__pd_slot(op->inputs, op->n_inputs, "ShapeTensor") ||
        skiff__pd_slot(op->inputs, op->n_inputs, "ShapeTensorList") ||
        skiff__pd_slot(op->inputs, op->n_inputs, "ValueTensor"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op fill_constant: a tensor input");
    int64_t dims[SKIFF_MAX_DIMS];
    int nd = skiff__pd_attr_ints(op, "shape", dims, SKIFF_MAX_DIMS);
    skiff_dtype_t dt = skiff__pd_dtype((int)skiff__pd_attr_int(op, "dtype", 5));
    if (nd < 0)
        nd = 0;
    int64_t numel = skiff_shape_numel(nd, dims);
    if (dt == SKIFF_DTYPE_UNDEFINED || numel < 0 || numel > 1 << 20)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op fill_constant: dtype %lld or shape",
                                (long long)skiff__pd_attr_int(op, "dtype", 5));
    const char *sv = skiff__pd_attr_str(op, "str_value", "");
    double v = sv[0] ? strtod(sv, NULL) : skiff__pd_attr_float(op, "value", 0);
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
static skiff_status_t *map_reshape(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"), *on;
    int x;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &x)))
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
            if ((st = skiff__pd_need(c, op, list->arguments[i], "ShapeTensor", &v)))
                return st;
            char nm[300];
            skiff__pd_tmp_name(c, nm, sizeof(nm), on, "dim");
            const char *o[1] = {nm};
            if ((st = skiff__pd_emit(c, "Cast", &v, 1, o, 1, &n)) ||
                (st = skiff__pd_node_attr_int(n, "to", SKIFF_DTYPE_INT64)))
                return st;
            /* a part may be a scalar (a slice's decrease_axis) or [1] */
            int64_t one = 1;
            int rs[2] = {n->out[0], skiff__pd_const_i64(c, on, &one, 1)};
            char nm1[300];
            skiff__pd_tmp_name(c, nm1, sizeof(nm1), on, "dim1");
            const char *o1[1] = {nm1};
            if (rs[1] < 0)
                return OOM();
            if ((st = skiff__pd_emit(c, "Reshape", rs, 2, o1, 1, &n)))
                return st;
            parts[i] = n->out[0];
        }
        char nm[300];
        skiff__pd_tmp_name(c, nm, sizeof(nm), on, "shape");
        const char *o[1] = {nm};
        if ((st = skiff__pd_emit(c, "Concat", parts, (int)list->n_arguments, o, 1, &n)) ||
            (st = skiff__pd_node_attr_int(n, "axis", 0)))
            return st;
        shp = n->out[0];
    } else if (shape_t) {
        int v;
        if ((st = skiff__pd_need(c, op, shape_t, "Shape", &v)))
            return st;
        char nm[300];
        skiff__pd_tmp_name(c, nm, sizeof(nm), on, "shape");
        const char *o[1] = {nm};
        if ((st = skiff__pd_emit(c, "Cast", &v, 1, o, 1, &n)) ||
            (st = skiff__pd_node_attr_int(n, "to", SKIFF_DTYPE_INT64)))
            return st;
        shp = n->out[0];
    } else {
        int64_t dims[SKIFF_MAX_DIMS];
        int nd = skiff__pd_attr_ints(op, "shape", dims, SKIFF_MAX_DIMS);
        if (nd < 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op reshape2: no shape");
        if ((shp = skiff__pd_const_i64(c, on, dims, nd)) < 0)
            return OOM();
    }
    int in[2] = {x, shp};
    const char *outs[1] = {on};
    return skiff__pd_emit(c, "Reshape", in, 2, outs, 1, &n);
}

/* matmul_v2 (and matmul with alpha 1): X, Y, optionally transposed. */
static skiff_status_t *map_matmul(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"),
               *yn = skiff__pd_slot(op->inputs, op->n_inputs, "Y");
    const char *on;
    int in[2];
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &in[0])) ||
        (st = skiff__pd_need(c, op, yn, "Y", &in[1])))
        return st;
    bool v1 = !strcmp(op->type, "matmul");
    if (v1 && skiff__pd_attr_float(op, "alpha", 1.0) != 1.0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op matmul: alpha other than 1");
    bool tr[2] = {skiff__pd_attr_bool(op, v1 ? "transpose_X" : "trans_x", false),
                  skiff__pd_attr_bool(op, v1 ? "transpose_Y" : "trans_y", false)};
    const char *names[2] = {xn, yn};
    skiff__node *n;
    for (int k = 0; k < 2; k++) {
        if (!tr[k])
            continue;
        int r = skiff__pd_rank_of(c, names[k]);
        if (r < 2)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "op %s: transposing an input of unknown rank", op->type);
        int64_t perm[SKIFF_MAX_DIMS];
        for (int i = 0; i < r; i++)
            perm[i] = i;
        perm[r - 2] = r - 1, perm[r - 1] = r - 2;
        char nm[300];
        skiff__pd_tmp_name(c, nm, sizeof(nm), on, "t");
        const char *o[1] = {nm};
        if ((st = skiff__pd_emit(c, "Transpose", &in[k], 1, o, 1, &n)) ||
            (st = skiff__pd_node_attr_ints(n, "perm", perm, r)))
            return st;
        in[k] = n->out[0];
    }
    const char *outs[1] = {on};
    return skiff__pd_emit(c, "MatMul", in, 2, outs, 1, &n);
}

/* dropout at inference: identity, or x * (1 - p) for downgrade_in_infer;
 * flatten_contiguous_range; leaky_relu; cast; transpose2. */
static skiff_status_t *map_misc(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"), *on;
    int x;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &x)))
        return st;
    const char *outs[1] = {on};
    skiff__node *n;
    if (!strcmp(op->type, "dropout")) {
        float keep = 1.0f;
        if (!strcmp(skiff__pd_attr_str(op, "dropout_implementation", "downgrade_in_infer"),
                    "downgrade_in_infer"))
            keep = 1.0f - (float)skiff__pd_attr_float(op, "dropout_prob", 0.5);
        int64_t one = 1;
        int in[2] = {x, skiff__pd_add_const(c, on, SKIFF_DTYPE_FLOAT32, 0, &one, &keep)};
        if (in[1] < 0)
            return OOM();
        return keep == 1.0f ? skiff__pd_emit(c, "Identity", &x, 1, outs, 1, &n)
                            : skiff__pd_emit(c, "Mul", in, 2, outs, 1, &n);
    }
    if (!strcmp(op->type, "flatten_contiguous_range")) {
        int64_t start = skiff__pd_attr_int(op, "start_axis", 1),
                stop = skiff__pd_attr_int(op, "stop_axis", 1);
        int r = skiff__pd_rank_of(c, xn);
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
        int in[2] = {x, skiff__pd_const_i64(c, on, shape, (int)start + 1)};
        if (in[1] < 0)
            return OOM();
        return skiff__pd_emit(c, "Reshape", in, 2, outs, 1, &n);
    }
    if (!strcmp(op->type, "leaky_relu")) {
        if ((st = skiff__pd_emit(c, "LeakyRelu", &x, 1, outs, 1, &n)))
            return st;
        return skiff__pd_node_attr_float(n, "alpha",
                                         (float)skiff__pd_attr_float(op, "alpha", 0.02));
    }
    if (!strcmp(op->type, "cast")) {
        skiff_dtype_t to = skiff__pd_dtype((int)skiff__pd_attr_int(op, "out_dtype", 5));
        if (to == SKIFF_DTYPE_UNDEFINED)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op cast: out_dtype %lld",
                                    (long long)skiff__pd_attr_int(op, "out_dtype", 5));
        if ((st = skiff__pd_emit(c, "Cast", &x, 1, outs, 1, &n)))
            return st;
        return skiff__pd_node_attr_int(n, "to", to);
    }
    /* transpose2 */
    int64_t perm[SKIFF_MAX_DIMS];
    int np = skiff__pd_attr_ints(op, "axis", perm, SKIFF_MAX_DIMS);
    if (np <= 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op transpose2: no axis");
    if ((st = skiff__pd_emit(c, "Transpose", &x, 1, outs, 1, &n)))
        return st;
    return skiff__pd_node_attr_ints(n, "perm", perm, np);
}

/* The ops this file maps, and how. */
const skiff__pd_map skiff__pd_ops_basic[] = {
    {.type = "mul", .map = map_mul},
    {.type = "matmul", .map = map_matmul},
    {.type = "matmul_v2", .map = map_matmul},
    {.type = "elementwise_add", .map = map_elementwise, .arg = "Add"},
    {.type = "elementwise_sub", .map = map_elementwise, .arg = "Sub"},
    {.type = "elementwise_mul", .map = map_elementwise, .arg = "Mul"},
    {.type = "elementwise_div", .map = map_elementwise, .arg = "Div"},
    {.type = "elementwise_max", .map = map_elementwise, .arg = "Max"},
    {.type = "elementwise_min", .map = map_elementwise, .arg = "Min"},
    {.type = "scale", .map = map_scale},
    {.type = "conv2d", .map = map_conv},
    {.type = "depthwise_conv2d", .map = map_conv},
    {.type = "conv2d_transpose", .map = map_conv, .arg = "transpose"},
    {.type = "batch_norm", .map = map_batch_norm},
    {.type = "pool2d", .map = map_pool},
    {.type = "concat", .map = map_concat},
    {.type = "nearest_interp", .map = map_interp},
    {.type = "nearest_interp_v2", .map = map_interp},
    {.type = "bilinear_interp", .map = map_interp},
    {.type = "bilinear_interp_v2", .map = map_interp},
    {.type = "shape", .map = map_shape},
    {.type = "slice", .map = map_slice},
    {.type = "fill_constant", .map = map_fill_constant},
    {.type = "reshape2", .map = map_reshape},
    {.type = "transpose2", .map = map_misc},
    {.type = "flatten_contiguous_range", .map = map_misc},
    {.type = "cast", .map = map_misc},
    {.type = "dropout", .map = map_misc},
    {.type = "leaky_relu", .map = map_misc},
    {.type = "relu", .map = map_unary, .arg = "Relu"},
    {.type = "tanh", .map = map_unary, .arg = "Tanh"},
    {.type = "sigmoid", .map = map_unary, .arg = "Sigmoid"},
    {.type = "softmax", .map = map_unary, .arg = "Softmax"},
    {.type = "exp", .map = map_unary, .arg = "Exp"},
    {.type = "sqrt", .map = map_unary, .arg = "Sqrt"},
    {.type = "abs", .map = map_unary, .arg = "Abs"},
    {.type = "reciprocal", .map = map_unary, .arg = "Reciprocal"},
    {.type = "floor", .map = map_unary, .arg = "Floor"},
    {.type = "ceil", .map = map_unary, .arg = "Ceil"},
    {.type = "log", .map = map_unary, .arg = "Log"},
    {.type = "sin", .map = map_unary, .arg = "Sin"},
    {.type = "cos", .map = map_unary, .arg = "Cos"},
    {.type = "sign", .map = map_unary, .arg = "Sign"},
    {.type = "erf", .map = map_unary, .arg = "Erf"},
    {.type = "softsign", .map = map_unary, .arg = "Softsign"},
    {.type = "logical_not", .map = map_unary, .arg = "Not"},
    {.type = "elementwise_pow", .map = map_elementwise, .arg = "Pow"},
    {.type = "equal", .map = map_elementwise, .arg = "Equal"},
    {.type = "less_than", .map = map_elementwise, .arg = "Less"},
    {.type = "less_equal", .map = map_elementwise, .arg = "LessOrEqual"},
    {.type = "greater_than", .map = map_elementwise, .arg = "Greater"},
    {.type = "greater_equal", .map = map_elementwise, .arg = "GreaterOrEqual"},
    {.type = "logical_and", .map = map_elementwise, .arg = "And"},
    {.type = "logical_or", .map = map_elementwise, .arg = "Or"},
    {.type = "logical_xor", .map = map_elementwise, .arg = "Xor"},
    {.type = "transpose", .map = map_misc},
    {.type = "reshape", .map = map_reshape},
    {.type = "relu6", .map = map_act},
    {.type = "hard_swish", .map = map_act},
    {.type = "hard_sigmoid", .map = map_act},
    {.type = "swish", .map = map_act},
    {.type = NULL},
};

/* Every table of mappings; a new file of mappings adds its table here. */
static const struct {
    const char *name;
    const skiff__pd_map *ops;
} pd_tables[] = {
    /* clang-format off */
    {"paddle_ops", skiff__pd_ops_basic},
    {"paddle_ops_quant", skiff__pd_ops_quant},
    {"paddle_ops_more", skiff__pd_ops_more},
    {"paddle_ops_detect", skiff__pd_ops_detect},
    {"paddle_ops_seq", skiff__pd_ops_seq},
    /* clang-format on */
};

skiff_status_t *skiff__pd_map_op(skiff__pd_ctx *c, const pd_op *op, bool *known)
{
    for (size_t t = 0; t < sizeof(pd_tables) / sizeof(pd_tables[0]); t++)
        for (const skiff__pd_map *m = pd_tables[t].ops; m->type; m++)
            if (!strcmp(m->type, op->type)) {
                *known = true;
                return m->map(c, op, m->arg);
            }
    *known = false;
    return NULL;
}

void skiff__pd_foreach(void (*fn)(const char *type, const char *table, void *arg), void *arg)
{
    for (size_t t = 0; t < sizeof(pd_tables) / sizeof(pd_tables[0]); t++)
        for (const skiff__pd_map *m = pd_tables[t].ops; m->type; m++)
            fn(m->type, pd_tables[t].name, arg);
}
