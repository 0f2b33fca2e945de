/* paddle.c - Paddle's own inference model format, loaded into the same graph
 * IR the ONNX loader builds, so every pass and kernel applies unchanged.
 *
 * A program (`__model__` or `*.pdmodel`: a serialized ProgramDesc, decoded by
 * protobuf-c code generated from paddle/framework.proto) names its variables
 * and ops; its persistable variables are read from the tensor stream
 * (PADDLE-FORMAT.md): one file per variable (Paddle 1.x), or one combined
 * file of the records in byte-wise sorted name order (`__params__`,
 * `*.pdiparams`). Each parameter's dtype and dims are checked against its
 * VarDesc. `feed` and `fetch` ops give the graph's inputs and outputs in
 * `col` order. Each other op becomes the ONNX node(s) of the same meaning
 * (Paddle's own semantics: `mul` flattens X at x_num_col_dims,
 * `elementwise_*` broadcast Y from `axis`, `scale` has bias_after_scale);
 * every op with no mapping is reported at once, as the ONNX loader does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine_int.h"
#include "framework.pb-c.h"

typedef Paddle__Framework__Proto__ProgramDesc pd_program;
typedef Paddle__Framework__Proto__BlockDesc pd_block;
typedef Paddle__Framework__Proto__VarDesc pd_var;
typedef Paddle__Framework__Proto__OpDesc pd_op;
typedef Paddle__Framework__Proto__OpDesc__Attr pd_attr;

#define PD(x) paddle__framework__proto__##x

static void *pb_alloc(void *d, size_t n) { return skiff__malloc(n ? n : 1); }
static void pb_free(void *d, void *p) { skiff__free(p); }
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

#define OOM() skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory")

/* VarType.Type (data) -> dtype; UNDEFINED for the others. */
static skiff_dtype_t pd_dtype(int t)
{
    switch (t) {
    case 0: return SKIFF_DTYPE_BOOL;
    case 1: return SKIFF_DTYPE_INT16;
    case 2: return SKIFF_DTYPE_INT32;
    case 3: return SKIFF_DTYPE_INT64;
    case 4: return SKIFF_DTYPE_FLOAT16;
    case 5: return SKIFF_DTYPE_FLOAT32;
    case 6: return SKIFF_DTYPE_FLOAT64;
    case 20: return SKIFF_DTYPE_UINT8;
    case 21: return SKIFF_DTYPE_INT8;
    case 22: return SKIFF_DTYPE_BFLOAT16;
    case 37: return SKIFF_DTYPE_UINT32;
    case 38: return SKIFF_DTYPE_UINT64;
    default: return SKIFF_DTYPE_UNDEFINED;
    }
}

/* ---- the program ------------------------------------------------------------------ */

typedef struct ctx {
    const pd_block *b;
    skiff__graph *g;
    int tmp; /* names of values skiff adds */
} ctx;

static const pd_var *find_var(const pd_block *b, const char *name)
{
    for (size_t i = 0; i < b->n_vars; i++)
        if (!strcmp(b->vars[i]->name, name))
            return b->vars[i];
    return NULL;
}

/* A dense tensor var's TensorDesc, or NULL. */
static const Paddle__Framework__Proto__VarType__TensorDesc *tensor_desc(const pd_var *v)
{
    return v && v->type && v->type->dense_tensor ? v->type->dense_tensor->tensor : NULL;
}

static const pd_attr *attr(const pd_op *op, const char *name)
{
    for (size_t i = 0; i < op->n_attrs; i++)
        if (!strcmp(op->attrs[i]->name, name))
            return op->attrs[i];
    return NULL;
}

static int64_t attr_int(const pd_op *op, const char *name, int64_t def)
{
    const pd_attr *a = attr(op, name);
    if (!a)
        return def;
    return a->has_l ? a->l : a->has_i ? a->i : def;
}

static double attr_float(const pd_op *op, const char *name, double def)
{
    const pd_attr *a = attr(op, name);
    if (!a)
        return def;
    return a->has_f ? a->f : a->has_float64 ? a->float64 : def;
}

static bool attr_bool(const pd_op *op, const char *name, bool def)
{
    const pd_attr *a = attr(op, name);
    return a && a->has_b ? a->b : def;
}

/* The one argument of slot `param` of an op's inputs or outputs, or NULL. */
static const char *slot(Paddle__Framework__Proto__OpDesc__Var **vars, size_t n, const char *param)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(vars[i]->parameter, param) && vars[i]->n_arguments)
            return vars[i]->arguments[0];
    return NULL;
}

static int value_of(ctx *c, const char *name)
{
    return name ? skiff__graph_find_value(c->g, name) : -1;
}

/* Appends a node op_type(ins) -> outs, outputs created. */
static skiff_status_t *emit(ctx *c, const char *op_type, const int *ins, int n_in,
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
    n->attrs = skiff__calloc(8, sizeof(skiff__attr));
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

static skiff_status_t *node_attr_int(skiff__node *n, const char *name, int64_t v)
{
    skiff__attr *a = &n->attrs[n->n_attrs];
    a->name = skiff__strdup(name);
    if (!a->name)
        return OOM();
    a->type = SKIFF_ATTR_INT;
    a->i = v;
    n->n_attrs++;
    return NULL;
}

static skiff_status_t *node_attr_float(skiff__node *n, const char *name, float v)
{
    skiff__attr *a = &n->attrs[n->n_attrs];
    a->name = skiff__strdup(name);
    if (!a->name)
        return OOM();
    a->type = SKIFF_ATTR_FLOAT;
    a->f = v;
    n->n_attrs++;
    return NULL;
}

static skiff_status_t *node_attr_str(skiff__node *n, const char *name, const char *v)
{
    skiff__attr *a = &n->attrs[n->n_attrs];
    a->name = skiff__strdup(name);
    a->s = skiff__strdup(v);
    if (!a->name || !a->s)
        return OOM();
    a->type = SKIFF_ATTR_STRING;
    a->s_len = strlen(v);
    n->n_attrs++;
    return NULL;
}

static skiff_status_t *node_attr_ints(skiff__node *n, const char *name, const int64_t *v, int count)
{
    skiff__attr *a = &n->attrs[n->n_attrs];
    a->name = skiff__strdup(name);
    a->ints = skiff__malloc(sizeof(int64_t) * (size_t)(count + 1));
    if (!a->name || !a->ints)
        return OOM();
    a->type = SKIFF_ATTR_INTS;
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)count);
    a->n = count;
    n->n_attrs++;
    return NULL;
}

/* A Paddle int list attribute (ints or longs) into v (at most cap); its count,
 * or -1 when absent. */
static int attr_ints(const pd_op *op, const char *name, int64_t *v, int cap)
{
    const pd_attr *a = attr(op, name);
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
    const pd_attr *a = attr(op, name);
    return a && a->s ? a->s : def;
}

/* A new constant value (a scalar or a small vector) named after `base`. */
static int add_const(ctx *c, const char *base, skiff_dtype_t dt, int ndim, const int64_t *dims,
                     const void *data)
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
static int rank_of(ctx *c, const char *name)
{
    int v = value_of(c, name);
    if (v >= 0 && c->g->values[v].ndim >= 0)
        return c->g->values[v].ndim;
    const Paddle__Framework__Proto__VarType__TensorDesc *td = tensor_desc(find_var(c->b, name));
    return td ? (int)td->n_dims : -1;
}

/* ---- op mappings -------------------------------------------------------------------- */

/* The op's output variable name in slot Out; an op without one is refused. */
static skiff_status_t *out_slot(const pd_op *op, const char **out)
{
    *out = slot(op->outputs, op->n_outputs, "Out");
    if (!*out || !(*out)[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s has no output Out", op->type);
    return NULL;
}

static skiff_status_t *need(ctx *c, const pd_op *op, const char *name, const char *slotname,
                            int *out)
{
    *out = value_of(c, name);
    if (!name || *out < 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "op %s: input %s ('%s') is not defined before it", op->type,
                                slotname, name ? name : "");
    return NULL;
}

/* mul: X flattened to 2-D at x_num_col_dims, times Y (2-D). */
static skiff_status_t *map_mul(ctx *c, const pd_op *op)
{
    const char *xn = slot(op->inputs, op->n_inputs, "X"), *yn = slot(op->inputs, op->n_inputs, "Y");
    const char *on;
    int x, y;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)) ||
        (st = need(c, op, yn, "Y", &y)))
        return st;
    int64_t xk = attr_int(op, "x_num_col_dims", 1), yk = attr_int(op, "y_num_col_dims", 1);
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
static skiff_status_t *map_elementwise(ctx *c, const pd_op *op, const char *onnx_op)
{
    const char *xn = slot(op->inputs, op->n_inputs, "X"), *yn = slot(op->inputs, op->n_inputs, "Y");
    const char *on;
    int x, y;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)) ||
        (st = need(c, op, yn, "Y", &y)))
        return st;
    int64_t axis = attr_int(op, "axis", -1);
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
static skiff_status_t *map_scale(ctx *c, const pd_op *op)
{
    const char *xn = slot(op->inputs, op->n_inputs, "X");
    const char *on;
    int x;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)))
        return st;
    if (slot(op->inputs, op->n_inputs, "ScaleTensor"))
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
static skiff_status_t *map_unary(ctx *c, const pd_op *op, const char *onnx_op)
{
    const char *xn = slot(op->inputs, op->n_inputs, "X");
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
        return node_attr_int(n, "axis", attr_int(op, "axis", -1));
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
static skiff_status_t *map_conv(ctx *c, const pd_op *op, bool transpose)
{
    const char *xn = slot(op->inputs, op->n_inputs, "Input");
    const char *wn = slot(op->inputs, op->n_inputs, "Filter");
    const char *on = slot(op->outputs, op->n_outputs, "Output");
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
        (st = node_attr_int(n, "group", attr_int(op, "groups", 1))) || (st = conv_pads(n, op)))
        return st;
    if (transpose && attr_ints(op, "output_padding", outpad, 2) > 0 && (outpad[0] || outpad[1]))
        return node_attr_ints(n, "output_padding", outpad, 2);
    return NULL;
}

/* batch_norm (inference): X, Scale, Bias, Mean, Variance -> Y. */
static skiff_status_t *map_batch_norm(ctx *c, const pd_op *op)
{
    static const char *const slots[5] = {"X", "Scale", "Bias", "Mean", "Variance"};
    int in[5];
    skiff_status_t *st;
    for (int i = 0; i < 5; i++)
        if ((st = need(c, op, slot(op->inputs, op->n_inputs, slots[i]), slots[i], &in[i])))
            return st;
    const char *on = slot(op->outputs, op->n_outputs, "Y");
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
static skiff_status_t *map_pool(ctx *c, const pd_op *op)
{
    const char *xn = slot(op->inputs, op->n_inputs, "X"), *on;
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
static skiff_status_t *map_act(ctx *c, const pd_op *op)
{
    const char *xn = slot(op->inputs, op->n_inputs, "X"), *on;
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
static skiff_status_t *map_concat(ctx *c, const pd_op *op)
{
    const char *on;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)))
        return st;
    if (slot(op->inputs, op->n_inputs, "AxisTensor"))
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
    return node_attr_int(n, "axis", attr_int(op, "axis", 0));
}

/* nearest_interp(_v2), bilinear_interp(_v2) by scale or to out_h x out_w. */
static skiff_status_t *map_interp(ctx *c, const pd_op *op)
{
    const char *xn = slot(op->inputs, op->n_inputs, "X"), *on;
    int x;
    skiff_status_t *st;
    if ((st = out_slot(op, &on)) || (st = need(c, op, xn, "X", &x)) ||
        (st = nchw_only(op, "data_layout")))
        return st;
    if (slot(op->inputs, op->n_inputs, "OutSize") || slot(op->inputs, op->n_inputs, "SizeTensor") ||
        slot(op->inputs, op->n_inputs, "Scale"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: size or scale given as a tensor",
                                op->type);
    bool nearest = !strncmp(op->type, "nearest", 7);
    bool corners = attr_bool(op, "align_corners", false);
    float sc[2] = {0, 0};
    const pd_attr *sa = attr(op, "scale");
    if (sa && sa->n_floats >= 2)
        sc[0] = sa->floats[0], sc[1] = sa->floats[1];
    else if (sa && sa->n_floats == 1)
        sc[0] = sc[1] = sa->floats[0];
    else if (sa && sa->has_f)
        sc[0] = sc[1] = sa->f;
    int64_t oh = attr_int(op, "out_h", -1), ow = attr_int(op, "out_w", -1);
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
    const char *ctm = corners                                         ? "align_corners"
                      : nearest || attr_int(op, "align_mode", 1) == 1 ? "asymmetric"
                                                                      : "half_pixel";
    if ((st = node_attr_str(n, "coordinate_transformation_mode", ctm)))
        return st;
    if (nearest)
        return node_attr_str(n, "nearest_mode", corners ? "round_prefer_ceil" : "floor");
    return NULL;
}

/* The ops skiff maps, and how. */
static skiff_status_t *map_op(ctx *c, const pd_op *op, bool *known)
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

/* ---- parameters (the tensor stream) --------------------------------------------------- */

typedef struct rd {
    const uint8_t *p;
    size_t n, at;
    const char *what;
} rd;

static bool take(rd *r, void *dst, size_t n)
{
    if (r->n - r->at < n)
        return false;
    memcpy(dst, r->p + r->at, n);
    r->at += n;
    return true;
}

/* One tensor record at r's position into a constant tensor; its desc must
 * match the VarDesc. */
static skiff_status_t *read_record(rd *r, const char *name, const pd_var *var, skiff_tensor_t **out)
{
    uint32_t ver = 0;
    uint64_t lod_level = 0;
    if (!take(r, &ver, 4) || ver != 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: parameter '%s': lod tensor version %u (only 0 is known)",
                                r->what, name, ver);
    if (!take(r, &lod_level, 8) || lod_level > 16)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: parameter '%s': bad LoD level",
                                r->what, name);
    for (uint64_t l = 0; l < lod_level; l++) {
        uint64_t nb;
        if (!take(r, &nb, 8) || nb > r->n - r->at)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: parameter '%s': truncated LoD",
                                    r->what, name);
        r->at += nb;
    }
    int32_t desc_size;
    if (!take(r, &ver, 4) || ver != 0 || !take(r, &desc_size, 4) || desc_size < 0 ||
        (size_t)desc_size > r->n - r->at)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: parameter '%s': bad tensor header at byte %zu", r->what, name,
                                r->at);
    Paddle__Framework__Proto__StreamTensorDesc *d =
        PD(stream_tensor_desc__unpack)(&pb_allocator, (size_t)desc_size, r->p + r->at);
    if (!d)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: parameter '%s': bad TensorDesc",
                                r->what, name);
    r->at += (size_t)desc_size;
    skiff_dtype_t dt = pd_dtype(d->data_type);
    int nd = (int)d->n_dims;
    int64_t dims[SKIFF_MAX_DIMS];
    skiff_status_t *st = NULL;
    const Paddle__Framework__Proto__VarType__TensorDesc *vd = tensor_desc(var);
    if (dt == SKIFF_DTYPE_UNDEFINED || nd > SKIFF_MAX_DIMS)
        st = skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                              "%s: parameter '%s': data type %d or rank %d not supported", r->what,
                              name, d->data_type, nd);
    else if (vd && (vd->data_type != d->data_type || vd->n_dims != d->n_dims))
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "%s: parameter '%s' is %s of rank %d, its VarDesc says %s of rank "
                              "%zu",
                              r->what, name, skiff_dtype_name(dt), nd,
                              skiff_dtype_name(pd_dtype(vd->data_type)), vd->n_dims);
    for (int i = 0; !st && i < nd; i++) {
        dims[i] = d->dims[i];
        if (dims[i] < 0 || (vd && vd->dims[i] >= 0 && vd->dims[i] != dims[i]))
            st = skiff_status_new(
                SKIFF_CODE_INVALID_ARG, "%s: parameter '%s': dim %d is %lld, its VarDesc says %lld",
                r->what, name, i, (long long)dims[i], vd ? (long long)vd->dims[i] : -1LL);
    }
    PD(stream_tensor_desc__free_unpacked)(d, &pb_allocator);
    if (st)
        return st;
    int64_t numel = skiff_shape_numel(nd, dims);
    if (numel < 0 || (uint64_t)numel > (r->n - r->at) / skiff_dtype_size(dt))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: parameter '%s' of shape %lld elements needs more bytes than "
                                "the %zu the file has left",
                                r->what, name, (long long)numel, r->n - r->at);
    if ((st = skiff_tensor_new(dt, nd, dims, out)))
        return st;
    if (!take(r, (*out)->data, (*out)->nbytes)) {
        skiff_tensor_free(*out);
        *out = NULL;
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: parameter '%s' needs %zu bytes of data, the file ends first",
                                r->what, name,
                                skiff_dtype_size(dt) * (size_t)skiff_shape_numel(nd, dims));
    }
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_io_var(const pd_var *v)
{
    return v->type && (v->type->type == 9 || v->type->type == 10); /* FEED_MINIBATCH, FETCH_LIST */
}

/* Every persistable variable, from its own file (dir/<name>) or from the
 * combined file. */
static skiff_status_t *load_params(ctx *c, const char *dir, const char *combined)
{
    const pd_block *b = c->b;
    const char **names = skiff__calloc(b->n_vars + 1, sizeof(char *));
    if (!names)
        return OOM();
    size_t n = 0;
    for (size_t i = 0; i < b->n_vars; i++)
        if (b->vars[i]->persistable && !is_io_var(b->vars[i]))
            names[n++] = b->vars[i]->name;
    qsort(names, n, sizeof(char *), cmp_str);
    skiff_status_t *st = NULL;
    const void *buf = NULL;
    size_t size = 0;
    rd r = {0};
    if (combined) {
        if ((st = skiff__map_file(combined, &buf, &size))) {
            skiff__free(names);
            return st;
        }
        r = (rd){buf, size, 0, combined};
    }
    char path[4096];
    for (size_t i = 0; !st && i < n; i++) {
        const void *one = NULL;
        size_t one_size = 0;
        if (!combined) {
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
            if ((st = skiff__map_file(path, &one, &one_size))) {
                st = skiff_status_wrap(st, "parameter '%s'", names[i]);
                break;
            }
            r = (rd){one, one_size, 0, path};
        }
        int v = skiff__graph_add_value(c->g, names[i]);
        skiff_tensor_t *t = NULL;
        st = v < 0 ? OOM() : read_record(&r, names[i], find_var(b, names[i]), &t);
        if (!st) {
            skiff__value *val = &c->g->values[v];
            val->constant = t;
            val->dtype = t->dtype;
            val->ndim = t->ndim;
            memcpy(val->dims, t->dims, sizeof(int64_t) * (size_t)t->ndim);
        }
        if (!combined && !st && r.at != r.n)
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: %zu bytes after parameter '%s'",
                                  path, r.n - r.at, names[i]);
        if (one)
            skiff__unmap_file(one, one_size);
    }
    if (combined && !st && r.at != r.n)
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "%s: %zu bytes left after the %zu parameters the program names",
                              combined, r.n - r.at, n);
    if (buf)
        skiff__unmap_file(buf, size);
    skiff__free(names);
    return st;
}

/* ---- feed, fetch, ops -------------------------------------------------------------- */

static skiff_status_t *add_feeds(ctx *c)
{
    const pd_block *b = c->b;
    skiff__graph *g = c->g;
    int n = 0;
    for (size_t i = 0; i < b->n_ops; i++)
        n += !strcmp(b->ops[i]->type, "feed");
    g->inputs = skiff__calloc((size_t)n + 1, sizeof(int));
    if (!g->inputs)
        return OOM();
    for (size_t i = 0; i < b->n_ops; i++) {
        const pd_op *op = b->ops[i];
        if (strcmp(op->type, "feed") != 0)
            continue;
        const char *name = slot(op->outputs, op->n_outputs, "Out");
        int64_t col = attr_int(op, "col", 0);
        if (!name || col < 0 || col >= n || g->inputs[col])
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "feed op %zu: bad output or col %lld",
                                    i, (long long)col);
        const Paddle__Framework__Proto__VarType__TensorDesc *td = tensor_desc(find_var(b, name));
        int v = skiff__graph_add_value(g, name);
        if (v < 0)
            return OOM();
        skiff__value *val = &g->values[v];
        val->is_input = true;
        if (td) {
            val->dtype = pd_dtype(td->data_type);
            val->ndim = td->n_dims <= SKIFF_MAX_DIMS ? (int)td->n_dims : -1;
            for (int d = 0; d < val->ndim; d++)
                val->dims[d] = td->dims[d];
        }
        g->inputs[col] = v + 1; /* +1: 0 marks a free slot until all are in */
    }
    for (int i = 0; i < n; i++)
        g->inputs[i]--;
    g->n_inputs = n;
    return NULL;
}

static skiff_status_t *add_fetches(ctx *c)
{
    const pd_block *b = c->b;
    skiff__graph *g = c->g;
    int n = 0;
    for (size_t i = 0; i < b->n_ops; i++)
        n += !strcmp(b->ops[i]->type, "fetch");
    g->outputs = skiff__calloc((size_t)n + 1, sizeof(int));
    if (!g->outputs)
        return OOM();
    if (n == 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "the program has no fetch op");
    for (int i = 0; i < n; i++)
        g->outputs[i] = -1;
    for (size_t i = 0; i < b->n_ops; i++) {
        const pd_op *op = b->ops[i];
        if (strcmp(op->type, "fetch") != 0)
            continue;
        const char *name = slot(op->inputs, op->n_inputs, "X");
        int64_t col = attr_int(op, "col", 0);
        int v = value_of(c, name);
        if (v < 0 || col < 0 || col >= n || g->outputs[col] >= 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "fetch op %zu: '%s' (col %lld) is not computed by the program",
                                    i, name ? name : "", (long long)col);
        const Paddle__Framework__Proto__VarType__TensorDesc *td = tensor_desc(find_var(b, name));
        if (td && g->values[v].dtype == SKIFF_DTYPE_UNDEFINED)
            g->values[v].dtype = pd_dtype(td->data_type);
        g->values[v].is_output = true;
        g->outputs[col] = v;
    }
    g->n_outputs = n;
    return NULL;
}

/* Maps every op of block 0; names every op without a mapping in one error,
 * with how many times the program uses it. */
static skiff_status_t *add_ops(ctx *c)
{
    enum { KINDS = 64 };
    const char *kind[KINDS];
    int count[KINDS], n_kinds = 0, n_missing = 0;
    for (size_t i = 0; i < c->b->n_ops; i++) {
        const pd_op *op = c->b->ops[i];
        if (!strcmp(op->type, "feed") || !strcmp(op->type, "fetch"))
            continue;
        bool known;
        skiff_status_t *st = map_op(c, op, &known);
        if (st && n_missing) {
            /* Likely an input of an op skiff has no mapping for: the list of
             * those is the error to give. */
            skiff_status_free(st);
            continue;
        }
        if (st)
            return skiff_status_wrap(st, "op %zu (%s)", i, op->type);
        if (known)
            continue;
        n_missing++;
        int k = 0;
        while (k < n_kinds && strcmp(kind[k], op->type) != 0)
            k++;
        if (k == n_kinds && n_kinds < KINDS) {
            kind[n_kinds] = op->type;
            count[n_kinds++] = 0;
        }
        if (k < n_kinds)
            count[k]++;
    }
    if (!n_missing)
        return NULL;
    char msg[1536];
    size_t off = 0;
    for (int k = 0; k < n_kinds && off < sizeof(msg); k++)
        off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s%s x%d", k ? ", " : "", kind[k],
                                count[k]);
    return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "unsupported Paddle operator%s: %s",
                            n_kinds > 1 ? "s" : "", msg);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

bool skiff__paddle_find(const char *dir, char *model, size_t mcap, char *params, size_t pcap)
{
    static const char *const pairs[][2] = {{"__model__", "__params__"},
                                           {"__model__", "params"},
                                           {"inference.pdmodel", "inference.pdiparams"},
                                           {"model.pdmodel", "model.pdiparams"},
                                           {"__model__", NULL}};
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        snprintf(model, mcap, "%s/%s", dir, pairs[i][0]);
        if (!exists(model))
            continue;
        params[0] = '\0';
        if (pairs[i][1]) {
            snprintf(params, pcap, "%s/%s", dir, pairs[i][1]);
            if (!exists(params))
                continue;
        }
        return true;
    }
    return false;
}

skiff_status_t *skiff__paddle_parse(const char *dir, const char *model_path,
                                    const char *params_path, skiff__graph **out_graph)
{
    const void *buf;
    size_t size;
    skiff_status_t *st = skiff__map_file(model_path, &buf, &size);
    if (st)
        return st;
    pd_program *p = PD(program_desc__unpack)(&pb_allocator, size, buf);
    skiff__unmap_file(buf, size);
    if (!p)
        return skiff__alloc_failed() ? OOM()
                                     : skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                                        "%s is not a Paddle ProgramDesc "
                                                        "(protobuf decoding failed)",
                                                        model_path);
    skiff__graph *g = skiff__calloc(1, sizeof(*g));
    if (!g || p->n_blocks == 0) {
        PD(program_desc__free_unpacked)(p, &pb_allocator);
        skiff__free(g);
        return g ? skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s has no blocks", model_path) : OOM();
    }
    g->opset = 13;
    g->name = skiff__strdup("paddle");
    ctx c = {.b = p->blocks[0], .g = g};
    if (!g->name)
        st = OOM();
    if (!st)
        st = load_params(&c, dir, params_path && params_path[0] ? params_path : NULL);
    if (!st)
        st = add_feeds(&c);
    if (!st)
        st = add_ops(&c);
    if (!st)
        st = add_fetches(&c);
    PD(program_desc__free_unpacked)(p, &pb_allocator);
    if (!st)
        st = skiff__graph_bind_kernels(g);
    if (st) {
        skiff__graph_free(g);
        return skiff_status_wrap(st, "Paddle model %s", model_path);
    }
    skiff__graph_recount(g);
    *out_graph = g;
    return NULL;
}
