/* paddle_ops_more.c - Paddle's shape, indexing, reduction and remaining
 * math ops as ONNX nodes of the same meaning (split, squeeze/unsqueeze,
 * stack, gather, scatter, top_k, where, expand, range, cumsum, arg_max,
 * layer_norm, gelu, clip, pow, reduce_*, ...). Where Paddle's rule differs
 * from the ONNX op's (unsqueeze's axis order, expand's -1, scatter's
 * accumulation), the mapping converts. */
#include <stdio.h>
#include <string.h>

#include "paddle_int.h"

#define OOM() skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory")

/* The idx-th argument of an input (or output) slot, or NULL; *count gets
 * the slot's argument count when count is not NULL. */
static const char *arg_of(Paddle__Framework__Proto__OpDesc__Var **vars, size_t n, const char *param,
                          size_t idx, size_t *count)
{
    for (size_t i = 0; i < n; i++)
        if (vars[i]->parameter && !strcmp(vars[i]->parameter, param)) {
            if (count)
                *count = vars[i]->n_arguments;
            return idx < vars[i]->n_arguments && vars[i]->arguments[idx][0]
                       ? vars[i]->arguments[idx]
                       : NULL;
        }
    if (count)
        *count = 0;
    return NULL;
}

static const char *in_arg(const pd_op *op, const char *param)
{
    return arg_of(op->inputs, op->n_inputs, param, 0, NULL);
}

static const char *out_arg(const pd_op *op, const char *param)
{
    return arg_of(op->outputs, op->n_outputs, param, 0, NULL);
}

/* Input X and output `oslot` of an op: the common shape of these ops. */
static skiff_status_t *x_and_out(skiff__pd_ctx *c, const pd_op *op, const char *xslot,
                                 const char *oslot, int *x, const char **on)
{
    *on = out_arg(op, oslot);
    if (!*on)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s has no output %s", op->type, oslot);
    return skiff__pd_need(c, op, in_arg(op, xslot), xslot, x);
}

/* The constant int values of a value (a parameter or a folded constant),
 * or -1 when it is not constant. */
static int const_ints(skiff__pd_ctx *c, int v, int64_t *out, int cap)
{
    const skiff_tensor_t *t = v >= 0 ? c->g->values[v].constant : NULL;
    if (!t || skiff_tensor_numel(t) > cap)
        return -1;
    for (int64_t i = 0; i < skiff_tensor_numel(t); i++)
        out[i] = skiff__tensor_get_i64(t, i);
    return (int)skiff_tensor_numel(t);
}

/* Declared dims of a variable (its VarDesc, or a constant's), rank or -1. */
static int dims_of(skiff__pd_ctx *c, const char *name, int64_t *dims)
{
    int v = skiff__pd_value_of(c, name);
    if (v >= 0 && c->g->values[v].constant) {
        const skiff_tensor_t *t = c->g->values[v].constant;
        memcpy(dims, t->dims, sizeof(int64_t) * (size_t)t->ndim);
        return t->ndim;
    }
    const pd_tensor_desc *td = skiff__pd_tensor_desc(skiff__pd_find_var(c->b, name));
    if (!td || td->n_dims > SKIFF_MAX_DIMS)
        return -1;
    for (size_t i = 0; i < td->n_dims; i++)
        dims[i] = td->dims[i];
    return (int)td->n_dims;
}

static skiff_status_t *one(skiff__pd_ctx *c, const char *type, const int *ins, int n_in,
                           const char *out, skiff__node **n)
{
    const char *outs[1] = {out};
    return skiff__pd_emit(c, type, ins, n_in, outs, 1, n);
}

/* A fresh intermediate value name for an op's output. */
static const char *mid_name(skiff__pd_ctx *c, char *buf, size_t cap, const char *on,
                            const char *what)
{
    skiff__pd_tmp_name(c, buf, cap, on, what);
    return buf;
}

/* *v reshaped to one dimension ([-1]), as a value named after `on`. */
static skiff_status_t *flatten_1d(skiff__pd_ctx *c, const char *on, const char *what, int *v)
{
    int64_t flat = -1;
    char mid[300];
    int r[2] = {*v, skiff__pd_const_i64(c, on, &flat, 1)};
    if (r[1] < 0)
        return OOM();
    skiff__node *n;
    skiff_status_t *st = one(c, "Reshape", r, 2, mid_name(c, mid, sizeof(mid), on, what), &n);
    if (!st)
        *v = n->out[0];
    return st;
}

/* ---- shape ops ---------------------------------------------------------------- */

/* split: equal parts (num) or sizes (sections, one of them -1 = the rest),
 * along axis (attribute or AxisTensor constant). */
static skiff_status_t *map_split(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    skiff_status_t *st;
    if ((st = skiff__pd_need(c, op, in_arg(op, "X"), "X", &x)))
        return st;
    size_t n_out = 0;
    arg_of(op->outputs, op->n_outputs, "Out", 0, &n_out);
    if (n_out == 0 || n_out > 64)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op split: %zu outputs", n_out);
    int64_t axis = skiff__pd_attr_int(op, "axis", 0);
    if (in_arg(op, "AxisTensor")) {
        int64_t a;
        if (const_ints(c, skiff__pd_value_of(c, in_arg(op, "AxisTensor")), &a, 1) != 1)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op split: a computed AxisTensor");
        axis = a;
    }
    int64_t dims[SKIFF_MAX_DIMS], sec[64];
    int r = dims_of(c, in_arg(op, "X"), dims);
    if (axis < 0 && r > 0)
        axis += r;
    int ns = skiff__pd_attr_ints(op, "sections", sec, 64);
    if (arg_of(op->inputs, op->n_inputs, "SectionsTensorList", 0, NULL))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op split: a SectionsTensorList input");
    int ins[2] = {x, -1}, n_in = 1;
    if (ns > 0) {
        if ((size_t)ns != n_out)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op split: %d sections for %zu outputs",
                                    ns, n_out);
        int unknown = -1;
        int64_t known = 0;
        for (int i = 0; i < ns; i++) {
            if (sec[i] < 0) {
                if (unknown >= 0)
                    return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                            "op split: more than one section is -1");
                unknown = i;
            } else {
                known += sec[i];
            }
        }
        if (unknown >= 0) {
            if (r <= 0 || axis < 0 || axis >= r || dims[axis] < 0)
                return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                        "op split: a -1 section on an axis of unknown size");
            sec[unknown] = dims[axis] - known;
        }
        if ((ins[1] = skiff__pd_const_i64(c, in_arg(op, "X"), sec, ns)) < 0)
            return OOM();
        n_in = 2;
    }
    const char *outs[64];
    for (size_t i = 0; i < n_out; i++)
        if (!(outs[i] = arg_of(op->outputs, op->n_outputs, "Out", i, NULL)))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op split: output %zu has no name", i);
    skiff__node *n;
    if ((st = skiff__pd_emit(c, "Split", ins, n_in, outs, (int)n_out, &n)))
        return st;
    return skiff__pd_node_attr_int(n, "axis", axis);
}

/* squeeze / squeeze2: axes (empty: every size-1 dim). */
static skiff_status_t *map_squeeze(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    int64_t axes[SKIFF_MAX_DIMS];
    int na = skiff__pd_attr_ints(op, "axes", axes, SKIFF_MAX_DIMS);
    skiff__node *n;
    if (na <= 0)
        return one(c, "Squeeze", &x, 1, on, &n);
    /* Paddle leaves an axis whose size is not 1; drop such axes when the
     * sizes are known. */
    int64_t dims[SKIFF_MAX_DIMS];
    int r = dims_of(c, in_arg(op, "X"), dims), k = 0;
    for (int i = 0; i < na; i++) {
        int64_t a = axes[i] < 0 && r > 0 ? axes[i] + r : axes[i];
        if (r > 0 && a >= 0 && a < r && dims[a] > 1)
            continue;
        axes[k++] = axes[i];
    }
    if (k == 0)
        return one(c, "Identity", &x, 1, on, &n);
    int ins[2] = {x, skiff__pd_const_i64(c, on, axes, k)};
    if (ins[1] < 0)
        return OOM();
    return one(c, "Squeeze", ins, 2, on, &n);
}

/* unsqueeze / unsqueeze2: Paddle inserts the axes one after another, each
 * negative axis counted from the rank reached so far; the positions they
 * end up at are ONNX's axes. */
static skiff_status_t *map_unsqueeze(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    int64_t axes[SKIFF_MAX_DIMS];
    int na = skiff__pd_attr_ints(op, "axes", axes, SKIFF_MAX_DIMS);
    if (in_arg(op, "AxesTensor") || arg_of(op->inputs, op->n_inputs, "AxesTensorList", 0, NULL)) {
        const char *an = in_arg(op, "AxesTensor");
        na = an ? const_ints(c, skiff__pd_value_of(c, an), axes, SKIFF_MAX_DIMS) : -1;
        if (na < 0)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: computed axes", op->type);
    }
    int r = skiff__pd_rank_of(c, in_arg(op, "X"));
    if (na <= 0 || r < 0 || r + na > SKIFF_MAX_DIMS)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s: %d axes on rank %d", op->type, na,
                                r);
    bool mark[SKIFF_MAX_DIMS] = {false};
    int cur = r;
    for (int i = 0; i < na; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + cur + 1 : axes[i];
        if (a < 0 || a > cur)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s: axis %lld out of range",
                                    op->type, (long long)axes[i]);
        for (int j = cur; j > a; j--)
            mark[j] = mark[j - 1];
        mark[a] = true;
        cur++;
    }
    int64_t pos[SKIFF_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < cur; i++)
        if (mark[i])
            pos[k++] = i;
    int ins[2] = {x, skiff__pd_const_i64(c, on, pos, k)};
    if (ins[1] < 0)
        return OOM();
    skiff__node *n;
    return one(c, "Unsqueeze", ins, 2, on, &n);
}

/* stack: X[i] each unsqueezed at axis, then concatenated (output Y). */
static skiff_status_t *map_stack(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *on = out_arg(op, "Y");
    size_t nx = 0;
    arg_of(op->inputs, op->n_inputs, "X", 0, &nx);
    if (!on || nx == 0 || nx > 256)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op stack: %zu inputs or no output Y", nx);
    int64_t axis = skiff__pd_attr_int(op, "axis", 0);
    int r = skiff__pd_rank_of(c, arg_of(op->inputs, op->n_inputs, "X", 0, NULL));
    if (axis < 0) {
        if (r < 0)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op stack: axis %lld of unknown rank",
                                    (long long)axis);
        axis += r + 1;
    }
    int ins[256];
    int ax = skiff__pd_const_i64(c, on, &axis, 1);
    if (ax < 0)
        return OOM();
    for (size_t i = 0; i < nx; i++) {
        const char *xn = arg_of(op->inputs, op->n_inputs, "X", i, NULL);
        int x;
        skiff_status_t *st;
        if ((st = skiff__pd_need(c, op, xn, "X", &x)))
            return st;
        char mid[300];
        int u[2] = {x, ax};
        skiff__node *n;
        if ((st = one(c, "Unsqueeze", u, 2, mid_name(c, mid, sizeof(mid), on, "u"), &n)))
            return st;
        ins[i] = n->out[0];
    }
    skiff__node *n;
    skiff_status_t *st;
    if ((st = one(c, "Concat", ins, (int)nx, on, &n)))
        return st;
    return skiff__pd_node_attr_int(n, "axis", axis);
}

/* flatten / flatten2 (axis: [prod(:axis), prod(axis:)], ONNX's Flatten). */
static skiff_status_t *map_flatten(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    skiff__node *n;
    if ((st = one(c, "Flatten", &x, 1, on, &n)))
        return st;
    return skiff__pd_node_attr_int(n, "axis", skiff__pd_attr_int(op, "axis", 1));
}

/* expand_v2 (shape; -1 keeps the dim) and expand_as_v2 (target_shape or Y's
 * shape): Expand, whose broadcast keeps a dim where the shape says 1. */
static skiff_status_t *map_expand(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    int ins[2] = {x, -1};
    skiff__node *n;
    if (!strcmp(op->type, "expand_as_v2") && in_arg(op, "Y")) {
        int y;
        char mid[300];
        if ((st = skiff__pd_need(c, op, in_arg(op, "Y"), "Y", &y)) ||
            (st = one(c, "Shape", &y, 1, mid_name(c, mid, sizeof(mid), on, "shape"), &n)))
            return st;
        ins[1] = n->out[0];
        return one(c, "Expand", ins, 2, on, &n);
    }
    int64_t shape[SKIFF_MAX_DIMS];
    int ns = skiff__pd_attr_ints(op, !strcmp(op->type, "expand_as_v2") ? "target_shape" : "shape",
                                 shape, SKIFF_MAX_DIMS);
    const char *sn = in_arg(op, "Shape");
    if (sn) {
        int sv;
        if ((st = skiff__pd_need(c, op, sn, "Shape", &sv)))
            return st;
        ns = const_ints(c, sv, shape, SKIFF_MAX_DIMS);
        if (ns < 0) {
            ins[1] = sv; /* computed: used as it is (Paddle's -1 cannot be met) */
            return one(c, "Expand", ins, 2, on, &n);
        }
    }
    if (arg_of(op->inputs, op->n_inputs, "expand_shapes_tensor", 0, NULL))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: expand_shapes_tensor", op->type);
    if (ns <= 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s: no shape", op->type);
    for (int i = 0; i < ns; i++)
        if (shape[i] == -1)
            shape[i] = 1;
    if ((ins[1] = skiff__pd_const_i64(c, on, shape, ns)) < 0)
        return OOM();
    return one(c, "Expand", ins, 2, on, &n);
}

/* expand (v1): expand_times repeats each dim: Tile. */
static skiff_status_t *map_tile(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    int64_t times[SKIFF_MAX_DIMS];
    int nt = skiff__pd_attr_ints(op, arg, times, SKIFF_MAX_DIMS);
    if (nt <= 0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: no constant %s", op->type, arg);
    int r = skiff__pd_rank_of(c, in_arg(op, "X"));
    if (r >= 0 && nt > r) {
        /* tile's repeat_times may name more dims than X has: X gains
         * leading 1s first. */
        int64_t lead[SKIFF_MAX_DIMS];
        for (int i = 0; i < nt - r; i++)
            lead[i] = i;
        char mid[300];
        int u[2] = {x, skiff__pd_const_i64(c, on, lead, nt - r)};
        skiff__node *n;
        if (u[1] < 0)
            return OOM();
        if ((st = one(c, "Unsqueeze", u, 2, mid_name(c, mid, sizeof(mid), on, "u"), &n)))
            return st;
        x = n->out[0];
    } else if (r >= 0 && nt < r) {
        int64_t full[SKIFF_MAX_DIMS] = {0};
        for (int i = 0; i < r; i++)
            full[i] = i < r - nt ? 1 : times[i - (r - nt)];
        memcpy(times, full, sizeof(int64_t) * (size_t)r);
        nt = r;
    }
    int ins[2] = {x, skiff__pd_const_i64(c, on, times, nt)};
    if (ins[1] < 0)
        return OOM();
    skiff__node *n;
    return one(c, "Tile", ins, 2, on, &n);
}

/* ---- indexing ---------------------------------------------------------------------- */

/* gather: X rows (axis, default 0) picked by a 1-D Index ([N, 1] too). */
static skiff_status_t *map_gather(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x, idx;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)) ||
        (st = skiff__pd_need(c, op, in_arg(op, "Index"), "Index", &idx)))
        return st;
    int64_t axis = skiff__pd_attr_int(op, "axis", 0);
    if (in_arg(op, "Axis") &&
        const_ints(c, skiff__pd_value_of(c, in_arg(op, "Axis")), &axis, 1) != 1)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op gather: a computed Axis");
    skiff__node *n;
    if (skiff__pd_rank_of(c, in_arg(op, "Index")) == 2 && (st = flatten_1d(c, on, "idx", &idx)))
        return st;
    int ins[2] = {x, idx};
    if ((st = one(c, "Gather", ins, 2, on, &n)))
        return st;
    return skiff__pd_node_attr_int(n, "axis", axis);
}

static skiff_status_t *map_gather_nd(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x, idx;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)) ||
        (st = skiff__pd_need(c, op, in_arg(op, "Index"), "Index", &idx)))
        return st;
    int ins[2] = {x, idx};
    skiff__node *n;
    return one(c, "GatherND", ins, 2, on, &n);
}

/* scatter: rows Ids of X replaced by Updates (overwrite), or, without
 * overwrite, set to the sum of the updates aimed at them (the rows are
 * zeroed first, then the updates added). */
static skiff_status_t *map_scatter(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x, ids, upd;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)) ||
        (st = skiff__pd_need(c, op, in_arg(op, "Ids"), "Ids", &ids)) ||
        (st = skiff__pd_need(c, op, in_arg(op, "Updates"), "Updates", &upd)))
        return st;
    char m1[300], m2[300], m3[300], m4[300];
    int64_t shape[2] = {-1, 1};
    int r[2] = {ids, skiff__pd_const_i64(c, on, shape, 2)};
    if (r[1] < 0)
        return OOM();
    skiff__node *n;
    if ((st = one(c, "Reshape", r, 2, mid_name(c, m1, sizeof(m1), on, "ids"), &n)))
        return st;
    int idx = n->out[0];
    bool overwrite = skiff__pd_attr_bool(op, "overwrite", true);
    if (overwrite) {
        int ins[3] = {x, idx, upd};
        return one(c, "ScatterND", ins, 3, on, &n);
    }
    /* zeros shaped like Updates, of its dtype: Updates * 0 would turn an
     * infinity into NaN, so ConstantOfShape(Shape(Updates)) */
    if ((st = one(c, "Shape", &upd, 1, mid_name(c, m2, sizeof(m2), on, "ushape"), &n)))
        return st;
    int us = n->out[0];
    if ((st = one(c, "ConstantOfShape", &us, 1, mid_name(c, m3, sizeof(m3), on, "zeros"), &n)))
        return st;
    skiff__node *zn = n;
    skiff_dtype_t dt = c->g->values[upd].dtype;
    int64_t d1 = 1;
    skiff_tensor_t *zt;
    if (skiff_tensor_new(dt == SKIFF_DTYPE_UNDEFINED ? SKIFF_DTYPE_FLOAT32 : dt, 1, &d1, &zt))
        return OOM();
    memset(zt->data, 0, zt->nbytes);
    skiff__attr *a = NULL;
    if ((st = skiff__pd_node_attr_int(zn, "value", 0))) {
        skiff_tensor_free(zt);
        return st;
    }
    a = &zn->attrs[zn->n_attrs - 1];
    a->type = SKIFF_ATTR_TENSOR;
    a->t = zt;
    int z3[3] = {x, idx, zn->out[0]};
    if ((st = one(c, "ScatterND", z3, 3, mid_name(c, m4, sizeof(m4), on, "zeroed"), &n)))
        return st;
    int a3[3] = {n->out[0], idx, upd};
    if ((st = one(c, "ScatterND", a3, 3, on, &n)))
        return st;
    return skiff__pd_node_attr_str(n, "reduction", "add");
}

/* top_k (last axis) / top_k_v2 (axis, largest, sorted): Out and Indices. */
static skiff_status_t *map_top_k(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x, k;
    const char *on, *in_ = out_arg(op, "Indices");
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    if (!in_)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s has no output Indices", op->type);
    skiff__node *n;
    if (in_arg(op, "K")) {
        char mid[300];
        if ((st = skiff__pd_need(c, op, in_arg(op, "K"), "K", &k)))
            return st;
        /* K arrives as int32 [1]; TopK reads int64 [1] */
        if ((st = one(c, "Cast", &k, 1, mid_name(c, mid, sizeof(mid), on, "k"), &n)) ||
            (st = skiff__pd_node_attr_int(n, "to", SKIFF_DTYPE_INT64)))
            return st;
        k = n->out[0];
    } else {
        int64_t kv = skiff__pd_attr_int(op, "k", 1);
        if ((k = skiff__pd_const_i64(c, on, &kv, 1)) < 0)
            return OOM();
    }
    int ins[2] = {x, k};
    const char *outs[2] = {on, in_};
    if ((st = skiff__pd_emit(c, "TopK", ins, 2, outs, 2, &n)) ||
        (st = skiff__pd_node_attr_int(n, "axis", skiff__pd_attr_int(op, "axis", -1))) ||
        (st = skiff__pd_node_attr_int(n, "largest", skiff__pd_attr_bool(op, "largest", true))))
        return st;
    return skiff__pd_node_attr_int(n, "sorted", skiff__pd_attr_bool(op, "sorted", true));
}

/* where: Condition ? X : Y. */
static skiff_status_t *map_where(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int cond, x, y;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)) ||
        (st = skiff__pd_need(c, op, in_arg(op, "Condition"), "Condition", &cond)) ||
        (st = skiff__pd_need(c, op, in_arg(op, "Y"), "Y", &y)))
        return st;
    int ins[3] = {cond, x, y};
    skiff__node *n;
    return one(c, "Where", ins, 3, on, &n);
}

/* arg_max / arg_min: axis, keepdims, flatten, dtype (int64, or int32: 2). */
static skiff_status_t *map_arg(skiff__pd_ctx *c, const pd_op *op, const char *onnx_op)
{
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    skiff__node *n;
    int64_t axis = skiff__pd_attr_int(op, "axis", 0);
    if (skiff__pd_attr_bool(op, "flatten", false)) {
        if ((st = flatten_1d(c, on, "flat", &x)))
            return st;
        axis = 0;
    }
    int64_t dtype = skiff__pd_attr_int(op, "dtype", 3);
    if (dtype != 2 && dtype != 3 && dtype != -1)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: dtype %lld", op->type,
                                (long long)dtype);
    char mid[300];
    const char *dst = dtype == 2 ? mid_name(c, mid, sizeof(mid), on, "i64") : on;
    if ((st = one(c, onnx_op, &x, 1, dst, &n)) || (st = skiff__pd_node_attr_int(n, "axis", axis)) ||
        (st = skiff__pd_node_attr_int(n, "keepdims", skiff__pd_attr_bool(op, "keepdims", false))))
        return st;
    if (dtype != 2)
        return NULL;
    int v = n->out[0];
    if ((st = one(c, "Cast", &v, 1, on, &n)))
        return st;
    return skiff__pd_node_attr_int(n, "to", SKIFF_DTYPE_INT32);
}

/* ---- math --------------------------------------------------------------------------- */

/* range: Start, End, Step (tensors). */
static skiff_status_t *map_range(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int s, e, d;
    const char *on = out_arg(op, "Out");
    skiff_status_t *st;
    if (!on)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op range has no output Out");
    if ((st = skiff__pd_need(c, op, in_arg(op, "Start"), "Start", &s)) ||
        (st = skiff__pd_need(c, op, in_arg(op, "End"), "End", &e)) ||
        (st = skiff__pd_need(c, op, in_arg(op, "Step"), "Step", &d)))
        return st;
    /* Paddle passes [1]-shaped tensors; Range takes scalars. */
    int ins[3] = {s, e, d};
    for (int i = 0; i < 3; i++) {
        char mid[300];
        int r[2] = {ins[i], skiff__pd_const_i64(c, on, NULL, 0)};
        skiff__node *n;
        if (r[1] < 0)
            return OOM();
        if ((st = one(c, "Reshape", r, 2, mid_name(c, mid, sizeof(mid), on, "scalar"), &n)))
            return st;
        ins[i] = n->out[0];
    }
    skiff__node *n;
    return one(c, "Range", ins, 3, on, &n);
}

/* cumsum: axis (or the flattened tensor), exclusive, reverse. */
static skiff_status_t *map_cumsum(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    int64_t axis = skiff__pd_attr_int(op, "axis", -1);
    skiff__node *n;
    if (skiff__pd_attr_bool(op, "flatten", false)) {
        if ((st = flatten_1d(c, on, "flat", &x)))
            return st;
        axis = 0;
    }
    int ins[2] = {x, skiff__pd_add_const(c, on, SKIFF_DTYPE_INT64, 0, NULL, &axis)};
    if (ins[1] < 0)
        return OOM();
    if ((st = one(c, "CumSum", ins, 2, on, &n)) ||
        (st = skiff__pd_node_attr_int(n, "exclusive", skiff__pd_attr_bool(op, "exclusive", false))))
        return st;
    return skiff__pd_node_attr_int(n, "reverse", skiff__pd_attr_bool(op, "reverse", false));
}

/* A scalar float constant. */
static int const_f32(skiff__pd_ctx *c, const char *base, float v)
{
    return skiff__pd_add_const(c, base, SKIFF_DTYPE_FLOAT32, 0, NULL, &v);
}

/* clip: min/max attributes, or Min/Max tensors ([1]). */
static skiff_status_t *map_clip(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    int ins[3] = {x, -1, -1};
    const char *slots[2] = {"Min", "Max"}, *attrs[2] = {"min", "max"};
    for (int i = 0; i < 2; i++) {
        int v = in_arg(op, slots[i]) ? skiff__pd_value_of(c, in_arg(op, slots[i])) : -1;
        const skiff_tensor_t *t = v >= 0 ? c->g->values[v].constant : NULL;
        float f = (float)skiff__pd_attr_float(op, attrs[i], i ? 3.4e38 : -3.4e38);
        if (v >= 0 && !t)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op clip: a computed %s", slots[i]);
        if (t && skiff_tensor_numel(t) == 1)
            f = (float)skiff__tensor_get_f64(t, 0);
        if ((ins[1 + i] = const_f32(c, on, f)) < 0)
            return OOM();
    }
    skiff__node *n;
    return one(c, "Clip", ins, 3, on, &n);
}

/* pow: X ^ factor (attribute or FactorTensor). */
static skiff_status_t *map_pow(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x, f;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    if (in_arg(op, "FactorTensor")) {
        if ((st = skiff__pd_need(c, op, in_arg(op, "FactorTensor"), "FactorTensor", &f)))
            return st;
    } else if ((f = const_f32(c, on, (float)skiff__pd_attr_float(op, "factor", 1.0))) < 0) {
        return OOM();
    }
    int ins[2] = {x, f};
    skiff__node *n;
    return one(c, "Pow", ins, 2, on, &n);
}

/* reduce_*: dim, keep_dim, reduce_all. */
static skiff_status_t *map_reduce(skiff__pd_ctx *c, const pd_op *op, const char *onnx_op)
{
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    int64_t axes[SKIFF_MAX_DIMS];
    int na = skiff__pd_attr_ints(op, "dim", axes, SKIFF_MAX_DIMS);
    bool all = skiff__pd_attr_bool(op, "reduce_all", false) || na <= 0;
    skiff__node *n;
    int ins[2] = {x, -1}, n_in = 1;
    bool axes_input = !strcmp(onnx_op, "ReduceSum");
    if (!all && axes_input) {
        if ((ins[1] = skiff__pd_const_i64(c, on, axes, na)) < 0)
            return OOM();
        n_in = 2;
    }
    if ((st = one(c, onnx_op, ins, n_in, on, &n)) ||
        (st = skiff__pd_node_attr_int(n, "keepdims", skiff__pd_attr_bool(op, "keep_dim", false))))
        return st;
    if (!all && !axes_input)
        return skiff__pd_node_attr_ints(n, "axes", axes, na);
    return NULL;
}

/* layer_norm: normalised over dims [begin_norm_axis, rank); Scale and Bias
 * are flat vectors of those dims' product. */
static skiff_status_t *map_layer_norm(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Y", &x, &on)))
        return st;
    int64_t begin = skiff__pd_attr_int(op, "begin_norm_axis", 1), dims[SKIFF_MAX_DIMS];
    int r = dims_of(c, in_arg(op, "X"), dims);
    if (r < 0 || begin < 1 || begin >= r)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "op layer_norm: begin_norm_axis %lld of rank %d", (long long)begin,
                                r);
    int64_t inner = 1;
    bool known = true;
    for (int i = (int)begin; i < r; i++) {
        known = known && dims[i] > 0;
        inner *= dims[i] > 0 ? dims[i] : 1;
    }
    int ins[3] = {x, -1, -1};
    const char *slots[2] = {"Scale", "Bias"};
    for (int i = 0; i < 2; i++) {
        const char *pn = in_arg(op, slots[i]);
        int v = pn ? skiff__pd_value_of(c, pn) : -1;
        const skiff_tensor_t *t = v >= 0 ? c->g->values[v].constant : NULL;
        if (pn && v < 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "op layer_norm: input %s ('%s') is not defined before it",
                                    slots[i], pn);
        if (!known && (!t || r - begin > 1))
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "op layer_norm: normalised dims of unknown size");
        if (v >= 0 && !t) {
            ins[1 + i] = v; /* computed, over one trailing dim */
            continue;
        }
        if (t && skiff_tensor_numel(t) != inner)
            return skiff_status_new(
                SKIFF_CODE_INVALID_ARG, "op layer_norm: %s '%s' has %lld values, expected %lld",
                slots[i], pn, (long long)skiff_tensor_numel(t), (long long)inner);
        /* the vector shaped as the normalised dims (ones / zeros when
         * absent) */
        float *buf = skiff__malloc(sizeof(float) * (size_t)inner);
        if (!buf)
            return OOM();
        for (int64_t k = 0; k < inner; k++)
            buf[k] = t ? (float)skiff__tensor_get_f64(t, k) : i == 0 ? 1.0f : 0.0f;
        ins[1 + i] =
            skiff__pd_add_const(c, on, SKIFF_DTYPE_FLOAT32, (int)(r - begin), dims + begin, buf);
        skiff__free(buf);
        if (ins[1 + i] < 0)
            return OOM();
    }
    skiff__node *n;
    if ((st = one(c, "LayerNormalization", ins, 3, on, &n)) ||
        (st = skiff__pd_node_attr_int(n, "axis", begin)))
        return st;
    return skiff__pd_node_attr_float(n, "epsilon",
                                     (float)skiff__pd_attr_float(op, "epsilon", 1e-5));
}

/* gelu: erf form, or the tanh form when approximate. */
static skiff_status_t *map_gelu(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    skiff__node *n;
    if ((st = one(c, "Gelu", &x, 1, on, &n)))
        return st;
    return skiff__pd_node_attr_str(n, "approximate",
                                   skiff__pd_attr_bool(op, "approximate", false) ? "tanh" : "none");
}

/* Activations ONNX has as one op but with Paddle's attribute names, and the
 * ones it composes: silu x*sigmoid(x), square x*x, rsqrt 1/sqrt(x), elu,
 * log_softmax, mish. */
static skiff_status_t *map_act_more(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    skiff__node *n;
    char mid[300];
    if (!strcmp(op->type, "silu")) {
        if ((st = one(c, "Sigmoid", &x, 1, mid_name(c, mid, sizeof(mid), on, "sig"), &n)))
            return st;
        int ins[2] = {x, n->out[0]};
        return one(c, "Mul", ins, 2, on, &n);
    }
    if (!strcmp(op->type, "square")) {
        int ins[2] = {x, x};
        return one(c, "Mul", ins, 2, on, &n);
    }
    if (!strcmp(op->type, "rsqrt")) {
        if ((st = one(c, "Sqrt", &x, 1, mid_name(c, mid, sizeof(mid), on, "sqrt"), &n)))
            return st;
        int s = n->out[0];
        return one(c, "Reciprocal", &s, 1, on, &n);
    }
    if (!strcmp(op->type, "elu")) {
        if ((st = one(c, "Elu", &x, 1, on, &n)))
            return st;
        return skiff__pd_node_attr_float(n, "alpha", (float)skiff__pd_attr_float(op, "alpha", 1.0));
    }
    if (!strcmp(op->type, "log_softmax")) {
        if ((st = one(c, "LogSoftmax", &x, 1, on, &n)))
            return st;
        return skiff__pd_node_attr_int(n, "axis", skiff__pd_attr_int(op, "axis", -1));
    }
    /* mish: x * tanh(softplus(x)) (Paddle's threshold keeps softplus exact
     * for large x, as the kernel does) */
    if ((st = one(c, "Mish", &x, 1, on, &n)))
        return st;
    n->opset = 18;
    return NULL;
}

/* assign: a copy. sum: the sum of its X inputs. */
static skiff_status_t *map_assign_sum(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *on = out_arg(op, "Out");
    size_t nx = 0;
    arg_of(op->inputs, op->n_inputs, "X", 0, &nx);
    if (!on || nx == 0 || nx > 256)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s: %zu inputs or no output Out",
                                op->type, nx);
    int ins[256];
    for (size_t i = 0; i < nx; i++) {
        skiff_status_t *st =
            skiff__pd_need(c, op, arg_of(op->inputs, op->n_inputs, "X", i, NULL), "X", &ins[i]);
        if (st)
            return st;
    }
    skiff__node *n;
    return one(c, !strcmp(op->type, "assign") ? "Identity" : "Sum", ins,
               !strcmp(op->type, "assign") ? 1 : (int)nx, on, &n);
}

/* not_equal: Not(Equal) with the elementwise axis rule of X and Y (same
 * rank, or Y trailing). */
static skiff_status_t *map_not_equal(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x, y;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)) ||
        (st = skiff__pd_need(c, op, in_arg(op, "Y"), "Y", &y)))
        return st;
    char mid[300];
    skiff__node *n;
    int ins[2] = {x, y};
    if ((st = one(c, "Equal", ins, 2, mid_name(c, mid, sizeof(mid), on, "eq"), &n)))
        return st;
    int e = n->out[0];
    return one(c, "Not", &e, 1, on, &n);
}

/* fill_any_like / full_like: X's shape filled with value, of dtype (-1:
 * X's). */
static skiff_status_t *map_full_like(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    int64_t code = skiff__pd_attr_int(op, "dtype", -1);
    skiff_dtype_t dt = code < 0 ? c->g->values[x].dtype : skiff__pd_dtype((int)code);
    if (dt == SKIFF_DTYPE_UNDEFINED)
        dt = SKIFF_DTYPE_FLOAT32;
    double v = skiff__pd_attr_float(op, "value", 0.0);
    skiff__node *n;
    char mid[300];
    if ((st = one(c, "Shape", &x, 1, mid_name(c, mid, sizeof(mid), on, "shape"), &n)))
        return st;
    int s = n->out[0];
    int64_t d1 = 1;
    skiff_tensor_t *t;
    if (skiff_tensor_new(dt, 1, &d1, &t))
        return OOM();
    skiff__store_f64(t->data, dt, 0, v);
    if ((st = one(c, "ConstantOfShape", &s, 1, on, &n)) ||
        (st = skiff__pd_node_attr_int(n, "value", 0))) {
        skiff_tensor_free(t);
        return st;
    }
    skiff__attr *a = &n->attrs[n->n_attrs - 1];
    a->type = SKIFF_ATTR_TENSOR;
    a->t = t;
    return NULL;
}

/* Activations with Paddle's parameters: softplus (beta, threshold: x past
 * threshold / beta is x itself, as ONNX's Softplus gives in float32),
 * logsigmoid (-softplus(-x)), hard_shrink (Shrink), brelu (Clip),
 * thresholded_relu, selu. */
static skiff_status_t *map_act_params(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    skiff__node *n;
    char m1[300], m2[300];
    if (!strcmp(op->type, "softplus")) {
        float beta = (float)skiff__pd_attr_float(op, "beta", 1.0);
        if (beta == 1.0f)
            return one(c, "Softplus", &x, 1, on, &n);
        if (!(beta > 0.0f))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op softplus: beta %g", (double)beta);
        int b = const_f32(c, on, beta), ib = const_f32(c, on, 1.0f / beta);
        if (b < 0 || ib < 0)
            return OOM();
        int in1[2] = {x, b};
        if ((st = one(c, "Mul", in1, 2, mid_name(c, m1, sizeof(m1), on, "bx"), &n)))
            return st;
        int bx = n->out[0];
        if ((st = one(c, "Softplus", &bx, 1, mid_name(c, m2, sizeof(m2), on, "sp"), &n)))
            return st;
        int in2[2] = {n->out[0], ib};
        return one(c, "Mul", in2, 2, on, &n);
    }
    if (!strcmp(op->type, "logsigmoid")) {
        if ((st = one(c, "Neg", &x, 1, mid_name(c, m1, sizeof(m1), on, "neg"), &n)))
            return st;
        int v = n->out[0];
        if ((st = one(c, "Softplus", &v, 1, mid_name(c, m2, sizeof(m2), on, "sp"), &n)))
            return st;
        v = n->out[0];
        return one(c, "Neg", &v, 1, on, &n);
    }
    if (!strcmp(op->type, "hard_shrink")) {
        if ((st = one(c, "Shrink", &x, 1, on, &n)))
            return st;
        return skiff__pd_node_attr_float(n, "lambd",
                                         (float)skiff__pd_attr_float(op, "threshold", 0.5));
    }
    if (!strcmp(op->type, "brelu")) {
        int ins[3] = {x, const_f32(c, on, (float)skiff__pd_attr_float(op, "t_min", 0.0)),
                      const_f32(c, on, (float)skiff__pd_attr_float(op, "t_max", 24.0))};
        if (ins[1] < 0 || ins[2] < 0)
            return OOM();
        return one(c, "Clip", ins, 3, on, &n);
    }
    if (!strcmp(op->type, "thresholded_relu")) {
        if ((st = one(c, "ThresholdedRelu", &x, 1, on, &n)))
            return st;
        return skiff__pd_node_attr_float(n, "alpha",
                                         (float)skiff__pd_attr_float(op, "threshold", 1.0));
    }
    /* selu */
    if ((st = one(c, "Selu", &x, 1, on, &n)) ||
        (st = skiff__pd_node_attr_float(
             n, "alpha", (float)skiff__pd_attr_float(op, "alpha", 1.6732632423543772))))
        return st;
    return skiff__pd_node_attr_float(n, "gamma",
                                     (float)skiff__pd_attr_float(op, "scale", 1.0507009873554805));
}

/* prelu: Alpha for all ([1]), per channel ([C]: axis 1 for NCHW, the last
 * for NHWC) or per element (X's dims after the batch). */
static skiff_status_t *map_prelu(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x, a;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)) ||
        (st = skiff__pd_need(c, op, in_arg(op, "Alpha"), "Alpha", &a)))
        return st;
    const char *mode = skiff__pd_attr_str(op, "mode", "all");
    int r = skiff__pd_rank_of(c, in_arg(op, "X"));
    const skiff_tensor_t *t = c->g->values[a].constant;
    skiff__node *n;
    if (!strcmp(mode, "channel") && r > 2 &&
        strcmp(skiff__pd_attr_str(op, "data_format", "NCHW"), "NHWC")) {
        if (!t)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op prelu: a computed Alpha");
        int64_t dims[SKIFF_MAX_DIMS];
        dims[0] = skiff_tensor_numel(t);
        for (int i = 1; i < r - 1; i++)
            dims[i] = 1;
        a = skiff__pd_add_const(c, on, t->dtype, r - 1, dims, t->data);
        if (a < 0)
            return OOM();
    } else if (!strcmp(mode, "element") && t && t->ndim == r) {
        /* [1, ...] with the batch dim: broadcasts as it is */
    } else if (strcmp(mode, "all") && strcmp(mode, "channel") && strcmp(mode, "element")) {
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op prelu: mode '%s'", mode);
    }
    int ins[2] = {x, a};
    return one(c, "PRelu", ins, 2, on, &n);
}

/* instance_norm: X, Scale, Bias (ones / zeros when absent), epsilon. */
static skiff_status_t *map_instance_norm(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Y", &x, &on)))
        return st;
    int64_t dims[SKIFF_MAX_DIMS];
    int r = dims_of(c, in_arg(op, "X"), dims);
    int ins[3] = {x, -1, -1};
    const char *slots[2] = {"Scale", "Bias"};
    for (int i = 0; i < 2; i++) {
        if (in_arg(op, slots[i])) {
            if ((st = skiff__pd_need(c, op, in_arg(op, slots[i]), slots[i], &ins[1 + i])))
                return st;
            continue;
        }
        if (r < 2 || dims[1] <= 0)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "op instance_norm: no %s and an unknown channel count",
                                    slots[i]);
        float *buf = skiff__malloc(sizeof(float) * (size_t)dims[1]);
        if (!buf)
            return OOM();
        for (int64_t k = 0; k < dims[1]; k++)
            buf[k] = i == 0 ? 1.0f : 0.0f;
        ins[1 + i] = skiff__pd_add_const(c, on, SKIFF_DTYPE_FLOAT32, 1, &dims[1], buf);
        skiff__free(buf);
        if (ins[1 + i] < 0)
            return OOM();
    }
    skiff__node *n;
    if ((st = one(c, "InstanceNormalization", ins, 3, on, &n)))
        return st;
    return skiff__pd_node_attr_float(n, "epsilon",
                                     (float)skiff__pd_attr_float(op, "epsilon", 1e-5));
}

/* pad2d (paddings top, bottom, left, right) and pad3d (left, right, top,
 * bottom, front, back) of NCHW / NCDHW data: constant, reflect, edge /
 * replicate. */
static skiff_status_t *map_pad(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)))
        return st;
    bool three = !strcmp(op->type, "pad3d");
    int64_t p[6] = {0};
    int np = skiff__pd_attr_ints(op, "paddings", p, 6);
    if (in_arg(op, "Paddings") &&
        (np = const_ints(c, skiff__pd_value_of(c, in_arg(op, "Paddings")), p, 6)) < 0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: computed Paddings", op->type);
    if (np != (three ? 6 : 4))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s: %d paddings, expected %d", op->type,
                                np, three ? 6 : 4);
    const char *fmt = skiff__pd_attr_str(op, "data_format", three ? "NCDHW" : "NCHW");
    if (strcmp(fmt, three ? "NCDHW" : "NCHW"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: data_format %s", op->type, fmt);
    const char *mode = skiff__pd_attr_str(op, "mode", "constant");
    const char *onnx_mode = !strcmp(mode, "constant")                             ? "constant"
                            : !strcmp(mode, "reflect")                            ? "reflect"
                            : !strcmp(mode, "edge") || !strcmp(mode, "replicate") ? "edge"
                                                                                  : NULL;
    if (!onnx_mode)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: mode '%s'", op->type, mode);
    int64_t pads[10] = {0};
    int rank = three ? 5 : 4;
    if (three) { /* begins: N C D H W, then ends */
        pads[2] = p[4], pads[3] = p[2], pads[4] = p[0];
        pads[7] = p[5], pads[8] = p[3], pads[9] = p[1];
    } else {
        pads[2] = p[0], pads[3] = p[2];
        pads[6] = p[1], pads[7] = p[3];
    }
    float value = (float)skiff__pd_attr_float(op, three ? "value" : "pad_value", 0.0);
    int ins[3] = {x, skiff__pd_const_i64(c, on, pads, 2 * rank), const_f32(c, on, value)};
    if (ins[1] < 0 || ins[2] < 0)
        return OOM();
    skiff__node *n;
    if ((st = one(c, "Pad", ins, 3, on, &n)))
        return st;
    return skiff__pd_node_attr_str(n, "mode", onnx_mode);
}

/* bmm: batched matrix product. */
static skiff_status_t *map_bmm(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int x, y;
    const char *on;
    skiff_status_t *st;
    if ((st = x_and_out(c, op, "X", "Out", &x, &on)) ||
        (st = skiff__pd_need(c, op, in_arg(op, "Y"), "Y", &y)))
        return st;
    int ins[2] = {x, y};
    skiff__node *n;
    return one(c, "MatMul", ins, 2, on, &n);
}

const skiff__pd_map skiff__pd_ops_more[] = {
    {.type = "split", .map = map_split},
    {.type = "squeeze", .map = map_squeeze},
    {.type = "squeeze2", .map = map_squeeze},
    {.type = "unsqueeze", .map = map_unsqueeze},
    {.type = "unsqueeze2", .map = map_unsqueeze},
    {.type = "stack", .map = map_stack},
    {.type = "flatten", .map = map_flatten},
    {.type = "flatten2", .map = map_flatten},
    {.type = "expand_v2", .map = map_expand},
    {.type = "expand_as_v2", .map = map_expand},
    {.type = "expand", .map = map_tile, .arg = "expand_times"},
    {.type = "tile", .map = map_tile, .arg = "repeat_times"},
    {.type = "gather", .map = map_gather},
    {.type = "gather_nd", .map = map_gather_nd},
    {.type = "scatter", .map = map_scatter},
    {.type = "top_k", .map = map_top_k},
    {.type = "top_k_v2", .map = map_top_k},
    {.type = "where", .map = map_where},
    {.type = "arg_max", .map = map_arg, .arg = "ArgMax"},
    {.type = "arg_min", .map = map_arg, .arg = "ArgMin"},
    {.type = "range", .map = map_range},
    {.type = "cumsum", .map = map_cumsum},
    {.type = "clip", .map = map_clip},
    {.type = "pow", .map = map_pow},
    {.type = "reduce_sum", .map = map_reduce, .arg = "ReduceSum"},
    {.type = "reduce_mean", .map = map_reduce, .arg = "ReduceMean"},
    {.type = "reduce_max", .map = map_reduce, .arg = "ReduceMax"},
    {.type = "reduce_min", .map = map_reduce, .arg = "ReduceMin"},
    {.type = "reduce_prod", .map = map_reduce, .arg = "ReduceProd"},
    {.type = "layer_norm", .map = map_layer_norm},
    {.type = "gelu", .map = map_gelu},
    {.type = "silu", .map = map_act_more},
    {.type = "square", .map = map_act_more},
    {.type = "rsqrt", .map = map_act_more},
    {.type = "elu", .map = map_act_more},
    {.type = "log_softmax", .map = map_act_more},
    {.type = "mish", .map = map_act_more},
    {.type = "assign", .map = map_assign_sum},
    {.type = "sum", .map = map_assign_sum},
    {.type = "not_equal", .map = map_not_equal},
    {.type = "fill_any_like", .map = map_full_like},
    {.type = "full_like", .map = map_full_like},
    {.type = "softplus", .map = map_act_params},
    {.type = "logsigmoid", .map = map_act_params},
    {.type = "hard_shrink", .map = map_act_params},
    {.type = "brelu", .map = map_act_params},
    {.type = "thresholded_relu", .map = map_act_params},
    {.type = "selu", .map = map_act_params},
    {.type = "prelu", .map = map_prelu},
    {.type = "instance_norm", .map = map_instance_norm},
    {.type = "pad2d", .map = map_pad},
    {.type = "pad3d", .map = map_pad},
    {.type = "bmm", .map = map_bmm},
    {.type = NULL},
};
