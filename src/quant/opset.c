/* opset.c - a model older than opset 13 brought to opset 13, for the
 * per-channel DequantizeLinear of its weights.
 *
 * Only the operators whose meaning at the model's opset is the meaning at
 * 13 are kept as they are (`same_since`: the oldest version with 13's
 * inputs, attributes and semantics, counting attributes added with a default
 * that keeps the old behaviour); those whose attributes became inputs are
 * rewritten (Clip before 11, Slice before 10, Pad before 11, Squeeze,
 * Unsqueeze, ReduceSum and Split before 13), Dropout loses its ratio (a no-op
 * in inference), and Softmax, LogSoftmax and Hardmax before 13, which
 * flattened their input to 2-D at `axis`, keep their axis where it is the
 * last one and otherwise become Flatten -> op(axis 1) -> Reshape to the
 * input's shape. Any other operator stops the conversion, and the caller
 * quantizes weights per tensor instead. */
#include <float.h>
#include <string.h>

#include "quant_int.h"

static const struct {
    const char *op;
    int since;
} same_since[] = {
    {"Abs", 6},
    {"Add", 7},
    {"And", 7},
    {"ArgMax", 1},
    {"ArgMin", 1},
    {"AveragePool", 7},
    {"BatchNormalization", 9},
    {"Cast", 6},
    {"Ceil", 6},
    {"Concat", 4},
    {"Constant", 1},
    {"ConstantOfShape", 9},
    {"Conv", 1},
    {"ConvTranspose", 1},
    {"CumSum", 11},
    {"DepthToSpace", 1},
    {"Div", 7},
    {"Einsum", 12},
    {"Elu", 6},
    {"Equal", 7},
    {"Erf", 9},
    {"Exp", 6},
    {"Expand", 8},
    {"Flatten", 9},
    {"Floor", 6},
    {"GRU", 7},
    {"Gather", 1},
    {"GatherElements", 11},
    {"GatherND", 11},
    {"Gemm", 7},
    {"GlobalAveragePool", 1},
    {"GlobalMaxPool", 1},
    {"Greater", 7},
    {"HardSigmoid", 6},
    {"Identity", 1},
    {"InstanceNormalization", 6},
    {"LRN", 1},
    {"LSTM", 7},
    {"LeakyRelu", 6},
    {"Less", 7},
    {"Log", 6},
    {"MatMul", 1},
    {"Max", 8},
    {"MaxPool", 1},
    {"Min", 8},
    {"Mod", 10},
    {"Mul", 7},
    {"Neg", 6},
    {"NonZero", 9},
    {"Not", 1},
    {"Or", 7},
    {"PRelu", 7},
    {"Pow", 7},
    {"RNN", 7},
    {"Range", 11},
    {"Reciprocal", 6},
    {"ReduceL2", 1},
    {"ReduceMax", 1},
    {"ReduceMean", 1},
    {"ReduceMin", 1},
    {"ReduceProd", 1},
    {"Relu", 6},
    {"Reshape", 5},
    {"Resize", 11},
    {"ScatterND", 11},
    {"Selu", 6},
    {"Shape", 1},
    {"Sigmoid", 6},
    {"Sign", 9},
    {"Sin", 7},
    {"Softplus", 1},
    {"SpaceToDepth", 1},
    {"Sqrt", 6},
    {"Sub", 7},
    {"Sum", 8},
    {"Tanh", 6},
    {"Tile", 6},
    {"TopK", 10},
    {"Transpose", 1},
    {"Where", 9},
    {"Xor", 7},
};

typedef enum conv_kind {
    CONV_NONE = 0,
    CONV_CLIP,    /* < 11: min, max attributes -> inputs */
    CONV_SLICE,   /* < 10: starts, ends, axes -> inputs */
    CONV_PAD,     /* < 11: pads, value -> inputs */
    CONV_AXES,    /* < 13: Squeeze, Unsqueeze, ReduceSum: axes -> input 1 */
    CONV_SPLIT,   /* < 13: split -> input 1 */
    CONV_DROPOUT, /* < 12: ratio dropped */
    CONV_SOFTMAX, /* < 13: 2-D coercion */
} conv_kind;

static const struct {
    const char *op;
    int before;
    int oldest; /* the oldest form the rewrite reads */
    conv_kind kind;
} rewrites[] = {
    {"Clip", 11, 6, CONV_CLIP},       {"Slice", 10, 1, CONV_SLICE},
    {"Pad", 11, 2, CONV_PAD},         {"Squeeze", 13, 1, CONV_AXES},
    {"Unsqueeze", 13, 1, CONV_AXES},  {"ReduceSum", 13, 1, CONV_AXES},
    {"Split", 13, 2, CONV_SPLIT},     {"Dropout", 12, 7, CONV_DROPOUT},
    {"Softmax", 13, 1, CONV_SOFTMAX}, {"LogSoftmax", 13, 1, CONV_SOFTMAX},
    {"Hardmax", 13, 1, CONV_SOFTMAX},
};

static bool onnx_domain(const char *d) { return !d || !d[0] || !strcmp(d, "ai.onnx"); }

/* The rewrite node n needs going from opset `from` to 13; false when it
 * cannot be brought there. */
static bool classify(const Onnx__NodeProto *n, int from, conv_kind *out)
{
    *out = CONV_NONE;
    if (!onnx_domain(n->domain))
        return true; /* other domains keep their own opsets */
    const char *op = n->op_type ? n->op_type : "";
    for (size_t i = 0; i < sizeof(rewrites) / sizeof(rewrites[0]); i++)
        if (!strcmp(op, rewrites[i].op)) {
            if (from >= rewrites[i].before)
                return true;
            *out = rewrites[i].kind;
            return from >= rewrites[i].oldest;
        }
    for (size_t i = 0; i < sizeof(same_since) / sizeof(same_since[0]); i++)
        if (!strcmp(op, same_since[i].op))
            return from >= same_since[i].since;
    return false;
}

/* A name to build a node's new names from: its name, its first output, or
 * "node" (a fuzzed model's node may have neither). */
static const char *base_name(const Onnx__NodeProto *n)
{
    if (n->name && n->name[0])
        return n->name;
    return n->n_output && n->output[0] && n->output[0][0] ? n->output[0] : "node";
}

/* The node's attributes without those named in `drop` (NULL-terminated). */
static skiff_status_t *drop_attrs(skiff__qdq *q, Onnx__NodeProto *n, const char *const *drop)
{
    Onnx__AttributeProto **a = skiff__qdq_alloc(q, sizeof(*a) * (n->n_attribute + 1));
    if (!a)
        return SKIFF__QDQ_OOM();
    size_t k = 0;
    for (size_t i = 0; i < n->n_attribute; i++) {
        bool gone = false;
        for (const char *const *d = drop; *d && !gone; d++)
            gone = n->attribute[i]->name && !strcmp(n->attribute[i]->name, *d);
        if (!gone)
            a[k++] = n->attribute[i];
    }
    n->attribute = a;
    n->n_attribute = k;
    return NULL;
}

/* Sets the node's inputs to its input 0 followed by names (NULL entries:
 * an omitted optional input, written "", trailing ones left out). */
static skiff_status_t *set_inputs(skiff__qdq *q, Onnx__NodeProto *n, const char *const *names,
                                  int count)
{
    while (count > 0 && !names[count - 1])
        count--;
    char **in = skiff__qdq_alloc(q, sizeof(char *) * (size_t)(count + 2));
    if (!in)
        return SKIFF__QDQ_OOM();
    in[0] = n->n_input ? n->input[0] : (char *)"";
    for (int i = 0; i < count; i++)
        in[i + 1] = (char *)(names[i] ? names[i] : "");
    n->input = in;
    n->n_input = (size_t)count + 1;
    return NULL;
}

/* A new initializer named after the node, of int64 values or one float. */
static const char *const_ints(skiff__qdq *q, const Onnx__NodeProto *n, const char *what,
                              const int64_t *v, size_t count)
{
    const char *name = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_%s", base_name(n), what));
    int64_t d = (int64_t)count;
    Onnx__TensorProto *t =
        name ? skiff__qdq_tensor_new(q, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, &d, v,
                                     sizeof(int64_t) * count)
             : NULL;
    return t && !skiff__qdq_add_init(q, t) ? name : NULL;
}

static const char *const_float(skiff__qdq *q, const Onnx__NodeProto *n, const char *what, float v)
{
    const char *name = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_%s", base_name(n), what));
    Onnx__TensorProto *t =
        name ? skiff__qdq_tensor_new(q, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &v,
                                     sizeof(v))
             : NULL;
    return t && !skiff__qdq_add_init(q, t) ? name : NULL;
}

/* The ints of an attribute as a new initializer; NULL name (and no error)
 * when the node does not have it. */
static skiff_status_t *ints_input(skiff__qdq *q, const Onnx__NodeProto *n, const char *attr,
                                  const char **out)
{
    const Onnx__AttributeProto *a = skiff__qdq_attr(n, attr);
    *out = NULL;
    if (!a)
        return NULL;
    *out = const_ints(q, n, attr, a->ints, a->n_ints);
    return *out ? NULL : SKIFF__QDQ_OOM();
}

/* The declared rank of a value (graph input, output or value_info), or -1. */
static int declared_rank(const skiff__qdq *q, const char *name)
{
    const Onnx__GraphProto *g = q->mp->graph;
    Onnx__ValueInfoProto *const *lists[3] = {g->input, g->output, g->value_info};
    size_t counts[3] = {g->n_input, g->n_output, g->n_value_info};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++) {
            const Onnx__ValueInfoProto *vi = lists[l][i];
            if (!vi->name || strcmp(vi->name, name) || !vi->type ||
                vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
                !vi->type->tensor_type || !vi->type->tensor_type->shape)
                continue;
            return (int)vi->type->tensor_type->shape->n_dim;
        }
    return -1;
}

static skiff_status_t *convert_softmax(skiff__qdq *q, size_t at, size_t *inserted)
{
    Onnx__NodeProto *n = q->nodes[at];
    if (n->n_input < 1 || n->n_output < 1 || !n->input[0] || !n->output[0])
        return NULL; /* malformed: the loader refuses it with its own message */
    const Onnx__AttributeProto *a = skiff__qdq_attr(n, "axis");
    int64_t axis = a ? a->i : 1;
    int rank = declared_rank(q, n->input[0]);
    if (rank < 0)
        rank = declared_rank(q, n->output[0]);
    static const char *const axis_attr[] = {"axis", NULL};
    skiff_status_t *st = drop_attrs(q, n, axis_attr);
    if (st)
        return st;
    if (rank > 0 && (axis == rank - 1 || axis == -1))
        return skiff__qdq_set_attr_int(q, n, "axis", -1);
    /* Flatten(x, axis) -> op(axis = 1) -> Reshape(., Shape(x)) */
    const char *base = base_name(n);
    const char *flat = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_flat", base));
    const char *shape = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_in_shape", base));
    const char *mid = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_2d", base));
    if (!flat || !shape || !mid)
        return SKIFF__QDQ_OOM();
    const char *x = n->input[0], *y = n->output[0];
    Onnx__NodeProto *fl = skiff__qdq_node(
        q, "Flatten", skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_Flatten", base)), &x, 1,
        &flat, 1);
    Onnx__NodeProto *sh =
        skiff__qdq_node(q, "Shape", skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_Shape", base)),
                        &x, 1, &shape, 1);
    const char *rin[2] = {mid, shape};
    Onnx__NodeProto *rs = skiff__qdq_node(
        q, "Reshape", skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_Reshape", base)), rin, 2, &y,
        1);
    Onnx__NodeProto *sm = skiff__qdq_alloc(q, sizeof(*sm));
    char **smin = skiff__qdq_alloc(q, sizeof(char *));
    char **smout = skiff__qdq_alloc(q, sizeof(char *));
    if (!fl || !sh || !rs || !sm || !smin || !smout)
        return SKIFF__QDQ_OOM();
    *sm = *n;
    smin[0] = (char *)flat;
    smout[0] = (char *)mid;
    sm->input = smin;
    sm->n_input = 1;
    sm->output = smout;
    sm->n_output = 1;
    if ((st = skiff__qdq_set_attr_int(q, fl, "axis", axis)) ||
        (st = skiff__qdq_set_attr_int(q, sm, "axis", 1)))
        return st;
    q->nodes[at] = fl;
    if ((st = skiff__qdq_insert(q, at + 1, sh)) || (st = skiff__qdq_insert(q, at + 2, sm)) ||
        (st = skiff__qdq_insert(q, at + 3, rs)))
        return st;
    *inserted = 3;
    return NULL;
}

static skiff_status_t *convert(skiff__qdq *q, size_t at, conv_kind kind, size_t *inserted)
{
    Onnx__NodeProto *n = q->nodes[at];
    *inserted = 0;
    skiff_status_t *st = NULL;
    switch (kind) {
    case CONV_NONE: return NULL;
    case CONV_CLIP: {
        const Onnx__AttributeProto *mn = skiff__qdq_attr(n, "min"), *mx = skiff__qdq_attr(n, "max");
        const char *names[2] = {const_float(q, n, "min", mn ? mn->f : -FLT_MAX),
                                const_float(q, n, "max", mx ? mx->f : FLT_MAX)};
        static const char *const drop[] = {"min", "max", NULL};
        if (!names[0] || !names[1])
            return SKIFF__QDQ_OOM();
        if ((st = set_inputs(q, n, names, 2)))
            return st;
        return drop_attrs(q, n, drop);
    }
    case CONV_SLICE: {
        const char *names[3];
        static const char *const drop[] = {"starts", "ends", "axes", NULL};
        if ((st = ints_input(q, n, "starts", &names[0])) ||
            (st = ints_input(q, n, "ends", &names[1])) ||
            (st = ints_input(q, n, "axes", &names[2])) || (st = set_inputs(q, n, names, 3)))
            return st;
        return drop_attrs(q, n, drop);
    }
    case CONV_PAD: {
        const Onnx__AttributeProto *v = skiff__qdq_attr(n, "value");
        const char *names[2] = {NULL, const_float(q, n, "value", v ? v->f : 0)};
        static const char *const drop[] = {"pads", "value", NULL};
        if (!names[1])
            return SKIFF__QDQ_OOM();
        if ((st = ints_input(q, n, "pads", &names[0])) || (st = set_inputs(q, n, names, 2)))
            return st;
        return drop_attrs(q, n, drop);
    }
    case CONV_AXES:
    case CONV_SPLIT: {
        const char *attr = kind == CONV_AXES ? "axes" : "split";
        const char *names[1];
        const char *const drop[] = {attr, NULL};
        if ((st = ints_input(q, n, attr, &names[0])) || (st = set_inputs(q, n, names, 1)))
            return st;
        return drop_attrs(q, n, drop);
    }
    case CONV_DROPOUT: {
        static const char *const drop[] = {"ratio", "is_test", NULL};
        return drop_attrs(q, n, drop);
    }
    case CONV_SOFTMAX: return convert_softmax(q, at, inserted);
    }
    return NULL;
}

skiff_status_t *skiff__qdq_upgrade(skiff__qdq *q, int from, bool *out_ok)
{
    *out_ok = false;
    conv_kind kind;
    for (size_t i = 0; i < q->n_nodes; i++)
        if (!classify(q->nodes[i], from, &kind))
            return skiff__qdq_add_note(q,
                                       "not converted to opset 13: %s (node '%s') at opset %d "
                                       "differs from its opset 13 form",
                                       q->nodes[i]->op_type ? q->nodes[i]->op_type : "",
                                       q->nodes[i]->name ? q->nodes[i]->name : "", from);
    for (size_t i = 0; i < q->n_nodes; i++) {
        classify(q->nodes[i], from, &kind);
        size_t inserted = 0;
        skiff_status_t *st = convert(q, i, kind, &inserted);
        if (st)
            return st;
        i += inserted;
    }
    *out_ok = true;
    return NULL;
}
