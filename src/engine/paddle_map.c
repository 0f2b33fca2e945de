/* paddle_map.c - what every Paddle op mapping uses: appending graph nodes
 * and their attributes, reading an op's attributes and slots, constants and
 * names of the values a mapping adds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paddle_int.h"

#define OOM() skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory")

/* Attributes a mapped node holds at most (Conv: strides, dilations, group,
 * pads, output_padding). */
#define NODE_ATTRS 8

double skiff__pd_attr_float(const pd_op *op, const char *name, double def)
{
    const pd_attr *a = skiff__pd_attr(op, name);
    if (!a)
        return def;
    return a->has_f ? a->f : a->has_float64 ? a->float64 : def;
}

bool skiff__pd_attr_bool(const pd_op *op, const char *name, bool def)
{
    const pd_attr *a = skiff__pd_attr(op, name);
    return a && a->has_b ? a->b : def;
}

/* A new value for a variable written again, named name@wN; the name now
 * resolves to it. -1 when out of memory. */
static int new_version(skiff__pd_ctx *c, const char *name)
{
    if (c->n_ren == c->cap_ren) {
        int cap = c->cap_ren ? c->cap_ren * 2 : 8;
        skiff__pd_rename *r = skiff__realloc(c->ren, sizeof(*r) * (size_t)cap);
        if (!r)
            return -1;
        c->ren = r;
        c->cap_ren = cap;
    }
    char vname[300];
    skiff__pd_tmp_name(c, vname, sizeof(vname), name, "w");
    char *copy = skiff__strdup(name);
    int v = copy ? skiff__graph_add_value(c->g, vname) : -1;
    if (v < 0) {
        skiff__free(copy);
        return -1;
    }
    c->ren[c->n_ren++] = (skiff__pd_rename){.name = copy, .value = v};
    return v;
}

void skiff__pd_ctx_free(skiff__pd_ctx *c)
{
    for (int i = 0; i < c->n_ren; i++)
        skiff__free(c->ren[i].name);
    skiff__free(c->ren);
    c->ren = NULL;
    c->n_ren = c->cap_ren = 0;
}

/* Appends a node op_type(ins) -> outs, outputs created. */
skiff_status_t *skiff__pd_emit_in(skiff__pd_ctx *c, const char *domain, const char *op_type,
                                  const int *ins, int n_in, const char *const *outs, int n_out,
                                  skiff__node **out_node)
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
    n->domain = skiff__strdup(domain);
    n->opset = g->opset;
    n->in = skiff__malloc(sizeof(int) * (size_t)(n_in + 1));
    n->out = skiff__malloc(sizeof(int) * (size_t)(n_out + 1));
    n->attrs = skiff__calloc(NODE_ATTRS, sizeof(skiff__attr));
    if (!n->name || !n->op_type || !n->domain || !n->in || !n->out || !n->attrs)
        return OOM();
    n->n_in = n_in;
    memcpy(n->in, ins, sizeof(int) * (size_t)n_in);
    for (int i = 0; i < n_out; i++) {
        int v = skiff__pd_value_of(c, outs[i]);
        if (v >= 0 &&
            (g->values[v].producer >= 0 || g->values[v].constant || g->values[v].is_input)) {
            /* Paddle programs may write a variable again (a second
             * quantization of one activation, in-place ops): the new write
             * is a new value, and later readers of the name get it. */
            if ((v = new_version(c, outs[i])) < 0)
                return OOM();
        }
        if (v < 0 && (v = skiff__graph_add_value(g, outs[i])) < 0)
            return OOM();
        g->values[v].producer = g->n_nodes - 1;
        n->out[i] = v;
        n->n_out = i + 1;
    }
    *out_node = n;
    return NULL;
}

skiff_status_t *skiff__pd_emit(skiff__pd_ctx *c, const char *op_type, const int *ins, int n_in,
                               const char *const *outs, int n_out, skiff__node **out_node)
{
    return skiff__pd_emit_in(c, SKIFF_DOMAIN_ONNX, op_type, ins, n_in, outs, n_out, out_node);
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

skiff_status_t *skiff__pd_node_attr_int(skiff__node *n, const char *name, int64_t v)
{
    skiff__attr *a = new_attr(n, name, SKIFF_ATTR_INT);
    if (!a)
        return OOM();
    a->i = v;
    return NULL;
}

skiff_status_t *skiff__pd_node_attr_float(skiff__node *n, const char *name, float v)
{
    skiff__attr *a = new_attr(n, name, SKIFF_ATTR_FLOAT);
    if (!a)
        return OOM();
    a->f = v;
    return NULL;
}

skiff_status_t *skiff__pd_node_attr_str(skiff__node *n, const char *name, const char *v)
{
    skiff__attr *a = new_attr(n, name, SKIFF_ATTR_STRING);
    if (!a || !(a->s = skiff__strdup(v)))
        return OOM();
    a->s_len = strlen(v);
    return NULL;
}

skiff_status_t *skiff__pd_node_attr_ints(skiff__node *n, const char *name, const int64_t *v,
                                         int count)
{
    skiff__attr *a = new_attr(n, name, SKIFF_ATTR_INTS);
    if (!a || !(a->ints = skiff__malloc(sizeof(int64_t) * (size_t)(count + 1))))
        return OOM();
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)count);
    a->n = count;
    return NULL;
}

skiff_status_t *skiff__pd_node_attr_floats(skiff__node *n, const char *name, const float *v,
                                           int count)
{
    skiff__attr *a = new_attr(n, name, SKIFF_ATTR_FLOATS);
    if (!a || !(a->floats = skiff__malloc(sizeof(float) * (size_t)(count + 1))))
        return OOM();
    memcpy(a->floats, v, sizeof(float) * (size_t)count);
    a->n = count;
    return NULL;
}

/* A Paddle int list attribute (ints or longs) into v (at most cap); its count,
 * or -1 when absent. */
int skiff__pd_attr_ints(const pd_op *op, const char *name, int64_t *v, int cap)
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

const char *skiff__pd_attr_str(const pd_op *op, const char *name, const char *def)
{
    const pd_attr *a = skiff__pd_attr(op, name);
    return a && a->s ? a->s : def;
}

/* A new constant value (a scalar or a small vector) named after `base`. */
int skiff__pd_add_const(skiff__pd_ctx *c, const char *base, skiff_dtype_t dt, int ndim,
                        const int64_t *dims, const void *data)
{
    char name[300];
    snprintf(name, sizeof(name), "%s@skiff%d", base, c->tmp++);
    int v = skiff__graph_add_value(c->g, name);
    if (v < 0)
        return -1;
    skiff_tensor_t *t;
    skiff_status_t *st = skiff_tensor_new(dt, ndim, dims, &t);
    if (st) {
        skiff_status_free(st); /* out of memory: the caller says so */
        return -1;
    }
    if (t->nbytes)
        memcpy(t->data, data, t->nbytes);
    skiff__value *val = &c->g->values[v];
    val->constant = t;
    val->dtype = dt;
    val->ndim = ndim;
    if (ndim > 0)
        memcpy(val->dims, dims, sizeof(int64_t) * (size_t)ndim);
    return v;
}

/* Rank of a variable from its VarDesc (or its constant), -1 unknown. */
int skiff__pd_rank_of(skiff__pd_ctx *c, const char *name)
{
    int v = skiff__pd_value_of(c, name);
    if (v >= 0 && c->g->values[v].ndim >= 0)
        return c->g->values[v].ndim;
    const pd_tensor_desc *td = skiff__pd_tensor_desc(skiff__pd_find_var(c->b, name));
    return td ? (int)td->n_dims : -1;
}

/* ---- op mappings -------------------------------------------------------------------- */

/* The op's output variable name in slot Out; an op without one is refused. */
skiff_status_t *skiff__pd_out_slot(const pd_op *op, const char **out)
{
    *out = skiff__pd_slot(op->outputs, op->n_outputs, "Out");
    if (!*out || !(*out)[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s has no output Out", op->type);
    return NULL;
}

skiff_status_t *skiff__pd_need(skiff__pd_ctx *c, const pd_op *op, const char *name,
                               const char *slotname, int *out)
{
    *out = skiff__pd_value_of(c, name);
    if (!name || *out < 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "op %s: input %s ('%s') is not defined before it", op->type,
                                slotname, name ? name : "");
    return NULL;
}

/* A constant int64 vector. */
int skiff__pd_const_i64(skiff__pd_ctx *c, const char *base, const int64_t *v, int n)
{
    int64_t len = n;
    return skiff__pd_add_const(c, base, SKIFF_DTYPE_INT64, 1, &len, v);
}

/* A named intermediate value of an op's output. */
void skiff__pd_tmp_name(skiff__pd_ctx *c, char *buf, size_t cap, const char *base, const char *what)
{
    snprintf(buf, cap, "%s@%s%d", base, what, c->tmp++);
}
