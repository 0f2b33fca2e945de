/* paddle_ops_seq.c - Paddle's sequence (LoD) ops: lookup_table(_v2),
 * sequence_pool, sequence_conv, sequence_softmax, gru, lstm, crf_decoding,
 * and fc, mapped onto the "paddle" domain's kernels (kernels/cpu/
 * paddle_seq.c) or ONNX nodes.
 *
 * A LoD travels as a graph value of its own: a feed with lod_level > 0 gets
 * a second graph input <feed>.lod (its level-0 offsets, paddle.c), and an op
 * that reads sequences takes the offsets of its input as an extra node
 * input. Which offsets go with which variable is found here: an op that keeps
 * its input's rows in order (an elementwise op, mul, gru, ...) passes its
 * input's LoD on to its outputs; sequence_pool, which makes one row of each
 * sequence, and every op not listed below pass none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paddle_int.h"

#define OOM() skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory")

/* ---- LoD ------------------------------------------------------------------------- */

/* Ops whose outputs have their input's rows, in order. */
static const char *const keeps_lod[] = {
    "elementwise_add",
    "elementwise_sub",
    "elementwise_mul",
    "elementwise_div",
    "elementwise_max",
    "elementwise_min",
    "elementwise_pow",
    "relu",
    "relu6",
    "leaky_relu",
    "tanh",
    "sigmoid",
    "softmax",
    "exp",
    "sqrt",
    "abs",
    "reciprocal",
    "hard_sigmoid",
    "hard_swish",
    "swish",
    "scale",
    "cast",
    "dropout",
    "assign",
    "clip",
    "mul",
    "matmul",
    "matmul_v2",
    "fc",
    "lookup_table",
    "lookup_table_v2",
    "concat",
    "gru",
    "lstm",
    "sequence_conv",
    "sequence_softmax",
    "crf_decoding",
};

/* The input slots whose LoD an op passes on, in the order they are tried. */
static const char *const lod_slots[] = {"X", "Input", "Ids", "Emission"};

bool skiff__pd_lod_set(skiff__pd_ctx *c, const char *name, int value)
{
    if (c->n_lod == SKIFF__PD_LODS)
        return false;
    c->lod[c->n_lod].var = name;
    c->lod[c->n_lod++].value = value;
    return true;
}

static bool keeps(const pd_op *op)
{
    for (size_t i = 0; i < sizeof(keeps_lod) / sizeof(keeps_lod[0]); i++)
        if (!strcmp(op->type, keeps_lod[i]))
            /* concat along the rows joins sequences: a LoD of its own */
            return strcmp(op->type, "concat") || skiff__pd_attr_int(op, "axis", 0) != 0;
    return false;
}

static int lod_find(skiff__pd_ctx *c, const char *name, int depth)
{
    for (int i = 0; i < c->n_lod; i++)
        if (!strcmp(c->lod[i].var, name))
            return c->lod[i].value;
    if (depth > 512)
        return -1;
    const pd_op *op = NULL;
    for (size_t i = 0; i < c->b->n_ops && !op; i++) {
        const pd_op *o = c->b->ops[i];
        for (size_t k = 0; k < o->n_outputs && !op; k++)
            for (size_t a = 0; a < o->outputs[k]->n_arguments; a++)
                if (!strcmp(o->outputs[k]->arguments[a], name)) {
                    op = o;
                    break;
                }
    }
    if (!op || !keeps(op))
        return -1;
    int v = -1;
    for (size_t s = 0; s < sizeof(lod_slots) / sizeof(lod_slots[0]) && v < 0; s++)
        for (size_t k = 0; k < op->n_inputs && v < 0; k++) {
            const Paddle__Framework__Proto__OpDesc__Var *in = op->inputs[k];
            if (strcmp(in->parameter, lod_slots[s]) != 0)
                continue;
            for (size_t a = 0; a < in->n_arguments && v < 0; a++)
                if (strcmp(in->arguments[a], name) != 0)
                    v = lod_find(c, in->arguments[a], depth + 1);
        }
    if (v >= 0)
        skiff__pd_lod_set(c, name, v); /* a cache: a full table only costs time */
    return v;
}

int skiff__pd_lod_of(skiff__pd_ctx *c, const char *name)
{
    return name ? lod_find(c, name, 0) : -1;
}

/* The LoD of an op's sequence input; an error when it has none. */
static skiff_status_t *need_lod(skiff__pd_ctx *c, const pd_op *op, const char *name,
                                const char *slot, int *out)
{
    *out = skiff__pd_lod_of(c, name);
    if (*out < 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "op %s: input %s ('%s') carries no LoD (feed it as a LoD tensor: "
                                "lod_level 1)",
                                op->type, slot, name ? name : "");
    return NULL;
}

/* An optional input's value, -1 when the slot is empty. */
static skiff_status_t *opt_in(skiff__pd_ctx *c, const pd_op *op, const char *slot, int *out)
{
    const char *n = skiff__pd_slot(op->inputs, op->n_inputs, slot);
    *out = -1;
    return n ? skiff__pd_need(c, op, n, slot, out) : NULL;
}

static skiff_status_t *out_named(const pd_op *op, const char *slot, const char **out)
{
    *out = skiff__pd_slot(op->outputs, op->n_outputs, slot);
    if (!*out || !(*out)[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s has no output %s", op->type, slot);
    return NULL;
}

/* An activation attribute of a recurrent op, checked and copied to n. */
static skiff_status_t *act_attr(skiff__node *n, const pd_op *op, const char *name, const char *dflt)
{
    static const char *const known[] = {"", "identity", "linear", "sigmoid", "tanh", "relu"};
    const char *v = skiff__pd_attr_str(op, name, dflt);
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(v, known[i]))
            return skiff__pd_node_attr_str(n, name, v);
    return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                            "op %s: %s '%s' (sigmoid, tanh, relu or identity are supported)",
                            op->type, name, v);
}

/* ---- the ops ------------------------------------------------------------------------ */

/* lookup_table (Ids [..., 1]) and lookup_table_v2 (any Ids): rows of W. */
static skiff_status_t *map_lookup_table(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    const char *wn = skiff__pd_slot(op->inputs, op->n_inputs, "W"),
               *idn = skiff__pd_slot(op->inputs, op->n_inputs, "Ids"), *on;
    int in[2];
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, wn, "W", &in[0])) ||
        (st = skiff__pd_need(c, op, idn, "Ids", &in[1])))
        return st;
    if (skiff__pd_attr_bool(op, "is_distributed", false))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: a distributed table", op->type);
    int64_t pad = skiff__pd_attr_int(op, "padding_idx", -1);
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = skiff__pd_emit_in(c, SKIFF_DOMAIN_PADDLE, "lookup_table", in, 2, outs, 1, &n)) ||
        (st = skiff__pd_node_attr_int(n, "padding_idx", pad < 0 ? -1 : pad)))
        return st;
    return skiff__pd_node_attr_int(n, "v2", arg != NULL);
}

/* sequence_pool: one row per sequence. */
static skiff_status_t *map_sequence_pool(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"), *on;
    int in[2];
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &in[0])) ||
        (st = need_lod(c, op, xn, "X", &in[1])))
        return st;
    static const char *const types[] = {"SUM", "AVERAGE", "SQRT", "MAX", "LAST", "FIRST"};
    const char *pt = skiff__pd_attr_str(op, "pooltype", "AVERAGE");
    bool ok = false;
    for (size_t i = 0; i < 6; i++)
        ok |= !strcmp(pt, types[i]);
    if (!ok)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "op sequence_pool: pooltype '%s' (SUM, AVERAGE, SQRT, MAX, LAST "
                                "or FIRST)",
                                pt);
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = skiff__pd_emit_in(c, SKIFF_DOMAIN_PADDLE, "sequence_pool", in, 2, outs, 1, &n)) ||
        (st = skiff__pd_node_attr_str(n, "pooltype", pt)))
        return st;
    return skiff__pd_node_attr_float(n, "pad_value",
                                     (float)skiff__pd_attr_float(op, "pad_value", 0.0));
}

/* sequence_conv: a window of contextLength rows of the same sequence. */
static skiff_status_t *map_sequence_conv(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"),
               *fn = skiff__pd_slot(op->inputs, op->n_inputs, "Filter"), *on;
    int in[3];
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &in[0])) ||
        (st = skiff__pd_need(c, op, fn, "Filter", &in[1])) ||
        (st = need_lod(c, op, xn, "X", &in[2])))
        return st;
    int64_t len = skiff__pd_attr_int(op, "contextLength", 0),
            start = skiff__pd_attr_int(op, "contextStart", 0),
            stride = skiff__pd_attr_int(op, "contextStride", 1);
    if (skiff__pd_attr_bool(op, "paddingTrainable", false) ||
        skiff__pd_slot(op->inputs, op->n_inputs, "PaddingData"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "op sequence_conv: paddingTrainable (only zero padding)");
    if (stride != 1 || len < 1)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "op sequence_conv: contextStride %lld and contextLength %lld "
                                "(stride 1 and a length of at least 1)",
                                (long long)stride, (long long)len);
    const char *outs[1] = {on};
    skiff__node *n;
    if ((st = skiff__pd_emit_in(c, SKIFF_DOMAIN_PADDLE, "sequence_conv", in, 3, outs, 1, &n)) ||
        (st = skiff__pd_node_attr_int(n, "context_length", len)))
        return st;
    return skiff__pd_node_attr_int(n, "context_start", start);
}

/* sequence_softmax: a softmax within each sequence. */
static skiff_status_t *map_sequence_softmax(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "X"), *on;
    int in[2];
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "X", &in[0])) ||
        (st = need_lod(c, op, xn, "X", &in[1])))
        return st;
    const char *outs[1] = {on};
    skiff__node *n;
    return skiff__pd_emit_in(c, SKIFF_DOMAIN_PADDLE, "sequence_softmax", in, 2, outs, 1, &n);
}

/* gru: Input (projected), Weight, Bias, H0 -> Hidden. */
static skiff_status_t *map_gru(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "Input"),
               *wn = skiff__pd_slot(op->inputs, op->n_inputs, "Weight"), *hn;
    int in[5];
    skiff_status_t *st;
    if ((st = out_named(op, "Hidden", &hn)) || (st = skiff__pd_need(c, op, xn, "Input", &in[0])) ||
        (st = need_lod(c, op, xn, "Input", &in[1])) ||
        (st = skiff__pd_need(c, op, wn, "Weight", &in[2])) ||
        (st = opt_in(c, op, "Bias", &in[3])) || (st = opt_in(c, op, "H0", &in[4])))
        return st;
    const char *outs[1] = {hn};
    skiff__node *n;
    if ((st = skiff__pd_emit_in(c, SKIFF_DOMAIN_PADDLE, "gru", in, 5, outs, 1, &n)) ||
        (st = act_attr(n, op, "activation", "tanh")) ||
        (st = act_attr(n, op, "gate_activation", "sigmoid")) ||
        (st = skiff__pd_node_attr_int(n, "is_reverse",
                                      skiff__pd_attr_bool(op, "is_reverse", false))))
        return st;
    return skiff__pd_node_attr_int(n, "origin_mode", skiff__pd_attr_bool(op, "origin_mode", false));
}

/* lstm: Input (projected), Weight, Bias, H0, C0 -> Hidden, Cell. */
static skiff_status_t *map_lstm(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "Input"),
               *wn = skiff__pd_slot(op->inputs, op->n_inputs, "Weight"), *hn,
               *cn = skiff__pd_slot(op->outputs, op->n_outputs, "Cell");
    int in[6];
    skiff_status_t *st;
    if ((st = out_named(op, "Hidden", &hn)) || (st = skiff__pd_need(c, op, xn, "Input", &in[0])) ||
        (st = need_lod(c, op, xn, "Input", &in[1])) ||
        (st = skiff__pd_need(c, op, wn, "Weight", &in[2])) ||
        (st = opt_in(c, op, "Bias", &in[3])) || (st = opt_in(c, op, "H0", &in[4])) ||
        (st = opt_in(c, op, "C0", &in[5])))
        return st;
    char cell[300];
    if (!cn || !cn[0]) {
        skiff__pd_tmp_name(c, cell, sizeof(cell), hn, "cell");
        cn = cell;
    }
    const char *outs[2] = {hn, cn};
    skiff__node *n;
    if ((st = skiff__pd_emit_in(c, SKIFF_DOMAIN_PADDLE, "lstm", in, 6, outs, 2, &n)) ||
        (st = act_attr(n, op, "gate_activation", "sigmoid")) ||
        (st = act_attr(n, op, "cell_activation", "tanh")) ||
        (st = act_attr(n, op, "candidate_activation", "tanh")) ||
        (st = skiff__pd_node_attr_int(n, "is_reverse",
                                      skiff__pd_attr_bool(op, "is_reverse", false))))
        return st;
    return skiff__pd_node_attr_int(n, "use_peepholes",
                                   skiff__pd_attr_bool(op, "use_peepholes", true));
}

/* crf_decoding: Emission, Transition, Label -> ViterbiPath. */
static skiff_status_t *map_crf_decoding(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *en = skiff__pd_slot(op->inputs, op->n_inputs, "Emission"),
               *tn = skiff__pd_slot(op->inputs, op->n_inputs, "Transition"), *pn;
    int in[4];
    skiff_status_t *st;
    if ((st = out_named(op, "ViterbiPath", &pn)))
        return st;
    if (skiff__pd_slot(op->inputs, op->n_inputs, "Length"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "op crf_decoding: a Length input (padded emissions; LoD input "
                                "only)");
    if ((st = skiff__pd_need(c, op, en, "Emission", &in[0])) ||
        (st = need_lod(c, op, en, "Emission", &in[1])) ||
        (st = skiff__pd_need(c, op, tn, "Transition", &in[2])) ||
        (st = opt_in(c, op, "Label", &in[3])))
        return st;
    const char *outs[1] = {pn};
    skiff__node *n;
    if ((st = skiff__pd_emit_in(c, SKIFF_DOMAIN_PADDLE, "crf_decoding", in, 4, outs, 1, &n)))
        return st;
    /* int64 tag ids, whatever the program's VarDesc says (old ones say FP32) */
    skiff__value *v = &c->g->values[n->out[0]];
    v->dtype = SKIFF_DTYPE_INT64;
    v->ndim = 2;
    v->dims[0] = -1;
    v->dims[1] = 1;
    return NULL;
}

/* fc: Input flattened to 2-D at in_num_col_dims, times W, plus Bias, then
 * activation_type. Out keeps Input's first in_num_col_dims dims. */
static skiff_status_t *map_fc(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *xn = skiff__pd_slot(op->inputs, op->n_inputs, "Input"),
               *wn = skiff__pd_slot(op->inputs, op->n_inputs, "W"), *on;
    int x, w, b;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = skiff__pd_need(c, op, xn, "Input", &x)) ||
        (st = skiff__pd_need(c, op, wn, "W", &w)) || (st = opt_in(c, op, "Bias", &b)))
        return st;
    int64_t k = skiff__pd_attr_int(op, "in_num_col_dims", 1);
    const char *act = skiff__pd_attr_str(op, "activation_type", "");
    bool relu = !strcmp(act, "relu");
    if (act[0] && !relu)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "op fc: activation_type '%s' (none or relu)", act);
    if (skiff__pd_rank_of(c, wn) != 2 || k < 1 || k >= SKIFF_MAX_DIMS)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "op fc: W ('%s') must be 2-D and in_num_col_dims (%lld) at least 1",
                                wn, (long long)k);
    /* [d0 .. d(k-1), K]: Reshape keeps the leading dims (0) and joins the rest. */
    int64_t shape[SKIFF_MAX_DIMS];
    for (int64_t i = 0; i < k; i++)
        shape[i] = 0;
    shape[k] = -1;
    int rs[2] = {x, skiff__pd_const_i64(c, on, shape, (int)k + 1)};
    if (rs[1] < 0)
        return OOM();
    char flat[300], prod[300], sum[300];
    skiff__pd_tmp_name(c, flat, sizeof(flat), on, "flat");
    skiff__pd_tmp_name(c, prod, sizeof(prod), on, "mm");
    skiff__pd_tmp_name(c, sum, sizeof(sum), on, "bias");
    const char *o1[1] = {flat}, *o2[1] = {b < 0 && !relu ? on : prod}, *o3[1] = {relu ? sum : on},
               *o4[1] = {on};
    skiff__node *n;
    if ((st = skiff__pd_emit(c, "Reshape", rs, 2, o1, 1, &n)))
        return st;
    int mm[2] = {n->out[0], w};
    if ((st = skiff__pd_emit(c, "MatMul", mm, 2, o2, 1, &n)))
        return st;
    int y = n->out[0];
    if (b >= 0) {
        /* Bias [N] or [1, N]: as [N], it broadcasts over every row. */
        int64_t minus1 = -1;
        int br[2] = {b, skiff__pd_const_i64(c, on, &minus1, 1)};
        char bflat[300];
        skiff__pd_tmp_name(c, bflat, sizeof(bflat), on, "b");
        const char *ob[1] = {bflat};
        if (br[1] < 0)
            return OOM();
        if ((st = skiff__pd_emit(c, "Reshape", br, 2, ob, 1, &n)))
            return st;
        int add[2] = {y, n->out[0]};
        if ((st = skiff__pd_emit(c, "Add", add, 2, relu ? o3 : o4, 1, &n)))
            return st;
        y = n->out[0];
    }
    if (!relu)
        return NULL;
    return skiff__pd_emit(c, "Relu", &y, 1, o4, 1, &n);
}

/* The ops this file maps, and how. */
const skiff__pd_map skiff__pd_ops_seq[] = {
    {.type = "lookup_table", .map = map_lookup_table},
    {.type = "lookup_table_v2", .map = map_lookup_table, .arg = "v2"},
    {.type = "sequence_pool", .map = map_sequence_pool},
    {.type = "sequence_conv", .map = map_sequence_conv},
    {.type = "sequence_softmax", .map = map_sequence_softmax},
    {.type = "gru", .map = map_gru},
    {.type = "lstm", .map = map_lstm},
    {.type = "crf_decoding", .map = map_crf_decoding},
    {.type = "fc", .map = map_fc},
    {.type = NULL},
};
