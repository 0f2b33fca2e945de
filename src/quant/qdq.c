/* qdq.c - an ONNX model rewritten into ONNX Runtime's QDQ form.
 *
 * The model is decoded with the protobuf-c code the engine's loader uses and
 * written back with the same code's packer: the rewrite builds a new graph
 * message whose node and initializer arrays mix the decoded messages
 * (borrowed, never changed) with new ones, so nothing is encoded by hand.
 *
 * What is quantized: Conv (weights of rank 3 to 5), and MatMul and Gemm by a
 * constant matrix, each with float32 weights held in the model (an
 * initializer or a Constant node). For each:
 *   - its input 0 goes through QuantizeLinear -> DequantizeLinear, uint8
 *     asymmetric with the calibrated range (one pair per tensor, shared by
 *     every quantized reader);
 *   - its weights become an int8 initializer, symmetric (zero point 0), one
 *     scale per output channel (axis 0 for Conv and for Gemm with transB,
 *     axis 1 for MatMul's and Gemm's [K, N]), read through DequantizeLinear;
 *   - Conv's constant bias becomes int32 with scale x_scale * w_scale and
 *     zero point 0, read through DequantizeLinear (ONNX Runtime's rule, and
 *     what its QDQ Conv fusion takes); Gemm's C stays float32.
 * The node's output stays float32. Every other node is left as it is; a node
 * with float32 weights that is not quantized gets a note saying why. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "quant_int.h"

static void *pb_alloc(void *data, size_t size) { return skiff__malloc(size); }
static void pb_free(void *data, void *p) { skiff__free(p); }
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

/* ---- memory and small builders -------------------------------------------- */

void *skiff__qdq_alloc(skiff__qdq *q, size_t size)
{
    if (q->n_keep == q->cap_keep) {
        size_t cap = q->cap_keep ? q->cap_keep * 2 : 256;
        void **k = skiff__realloc(q->keep, cap * sizeof(*k));
        if (!k)
            return NULL;
        q->keep = k;
        q->cap_keep = cap;
    }
    void *p = skiff__calloc(1, size ? size : 1);
    if (p)
        q->keep[q->n_keep++] = p;
    return p;
}

static char *vstrf(skiff__qdq *q, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *s = n >= 0 ? skiff__qdq_alloc(q, (size_t)n + 1) : NULL;
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *skiff__qdq_strf(skiff__qdq *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vstrf(q, fmt, ap);
    va_end(ap);
    return s;
}

skiff_status_t *skiff__qdq_add_note(skiff__qdq *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vstrf(q, fmt, ap);
    va_end(ap);
    char **notes = s ? skiff__qdq_alloc(q, sizeof(char *) * (size_t)(q->n_notes + 1)) : NULL;
    if (!notes)
        return SKIFF__QDQ_OOM();
    if (q->n_notes)
        memcpy(notes, q->notes, sizeof(char *) * (size_t)q->n_notes);
    notes[q->n_notes++] = s;
    q->notes = notes;
    return NULL;
}

static bool push_name(skiff__qdq *q, const char *name)
{
    if (!name || !name[0])
        return true;
    if (q->n_names == q->cap_names) {
        size_t cap = q->cap_names ? q->cap_names * 2 : 1024;
        const char **a = skiff__realloc(q->names, cap * sizeof(*a));
        if (!a)
            return false;
        q->names = a;
        q->cap_names = cap;
    }
    q->names[q->n_names++] = name;
    return true;
}

static bool name_used(const skiff__qdq *q, const char *s)
{
    for (size_t i = 0; i < q->n_names; i++)
        if (!strcmp(q->names[i], s))
            return true;
    return false;
}

const char *skiff__qdq_unique_name(skiff__qdq *q, const char *base)
{
    char *s = skiff__qdq_strf(q, "%s", base);
    for (int k = 1; s && name_used(q, s); k++)
        s = skiff__qdq_strf(q, "%s_%d", base, k);
    return s && push_name(q, s) ? s : NULL;
}

Onnx__NodeProto *skiff__qdq_node(skiff__qdq *q, const char *op, const char *name,
                                 const char *const *in, int n_in, const char *const *out, int n_out)
{
    Onnx__NodeProto *n = skiff__qdq_alloc(q, sizeof(*n));
    char **i = skiff__qdq_alloc(q, sizeof(char *) * (size_t)(n_in + 1));
    char **o = skiff__qdq_alloc(q, sizeof(char *) * (size_t)(n_out + 1));
    if (!n || !i || !o)
        return NULL;
    onnx__node_proto__init(n);
    for (int k = 0; k < n_in; k++)
        i[k] = (char *)in[k];
    for (int k = 0; k < n_out; k++)
        o[k] = (char *)out[k];
    n->input = i;
    n->n_input = (size_t)n_in;
    n->output = o;
    n->n_output = (size_t)n_out;
    n->op_type = (char *)op;
    n->name = (char *)name;
    n->domain = (char *)"";
    return n;
}

skiff_status_t *skiff__qdq_set_attr_int(skiff__qdq *q, Onnx__NodeProto *n, const char *name,
                                        int64_t v)
{
    Onnx__AttributeProto *a = skiff__qdq_alloc(q, sizeof(*a));
    Onnx__AttributeProto **arr = skiff__qdq_alloc(q, sizeof(*arr) * (n->n_attribute + 1));
    if (!a || !arr)
        return SKIFF__QDQ_OOM();
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    if (n->n_attribute)
        memcpy(arr, n->attribute, sizeof(*arr) * n->n_attribute);
    arr[n->n_attribute++] = a;
    n->attribute = arr;
    return NULL;
}

Onnx__TensorProto *skiff__qdq_tensor_new(skiff__qdq *q, const char *name, int dtype, int ndim,
                                         const int64_t *dims, const void *data, size_t nbytes)
{
    Onnx__TensorProto *t = skiff__qdq_alloc(q, sizeof(*t));
    int64_t *d = skiff__qdq_alloc(q, sizeof(int64_t) * (size_t)(ndim + 1));
    uint8_t *raw = skiff__qdq_alloc(q, nbytes);
    if (!t || !d || !raw)
        return NULL;
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dtype;
    if (ndim)
        memcpy(d, dims, sizeof(int64_t) * (size_t)ndim);
    t->dims = d;
    t->n_dims = (size_t)ndim;
    if (nbytes)
        memcpy(raw, data, nbytes);
    t->has_raw_data = 1;
    t->raw_data.data = raw;
    t->raw_data.len = nbytes;
    return t;
}

static skiff_status_t *grow(void ***arr, size_t *n, size_t *cap, size_t want)
{
    if (want <= *cap)
        return NULL;
    size_t c = *cap ? *cap : 64;
    while (c < want)
        c *= 2;
    void **a = skiff__realloc(*arr, c * sizeof(void *));
    if (!a)
        return SKIFF__QDQ_OOM();
    *arr = a;
    *cap = c;
    (void)n;
    return NULL;
}

skiff_status_t *skiff__qdq_insert(skiff__qdq *q, size_t pos, Onnx__NodeProto *n)
{
    if (!n)
        return SKIFF__QDQ_OOM();
    skiff_status_t *st = grow((void ***)&q->nodes, &q->n_nodes, &q->cap_nodes, q->n_nodes + 1);
    if (st)
        return st;
    memmove(q->nodes + pos + 1, q->nodes + pos, sizeof(*q->nodes) * (q->n_nodes - pos));
    q->nodes[pos] = n;
    q->n_nodes++;
    for (size_t k = 0; k < n->n_output; k++)
        if (!push_name(q, n->output[k]))
            return SKIFF__QDQ_OOM();
    return NULL;
}

skiff_status_t *skiff__qdq_add_init(skiff__qdq *q, Onnx__TensorProto *t)
{
    if (!t)
        return SKIFF__QDQ_OOM();
    skiff_status_t *st = grow((void ***)&q->inits, &q->n_inits, &q->cap_inits, q->n_inits + 1);
    if (st)
        return st;
    q->inits[q->n_inits++] = t;
    return push_name(q, t->name) ? NULL : SKIFF__QDQ_OOM();
}

const Onnx__AttributeProto *skiff__qdq_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    return NULL;
}

/* ---- reading the model ------------------------------------------------------ */

static bool onnx_domain(const char *d) { return !d || !d[0] || !strcmp(d, "ai.onnx"); }

/* The constant tensor of a name: an initializer, the converted ones, or a
 * Constant node's value. */
static const Onnx__TensorProto *find_const(const skiff__qdq *q, const char *name)
{
    if (!name || !name[0])
        return NULL;
    const Onnx__GraphProto *g = q->mp->graph;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name))
            return g->initializer[i];
    for (size_t i = 0; i < q->n_inits; i++)
        if (!strcmp(q->inits[i]->name, name))
            return q->inits[i];
    for (size_t i = 0; i < q->n_nodes; i++) {
        const Onnx__NodeProto *n = q->nodes[i];
        if (n->n_output == 1 && n->output[0] && !strcmp(n->output[0], name) && n->op_type &&
            !strcmp(n->op_type, "Constant") && onnx_domain(n->domain)) {
            const Onnx__AttributeProto *a = skiff__qdq_attr(n, "value");
            return a ? a->t : NULL;
        }
    }
    return NULL;
}

static int64_t tensor_numel(const Onnx__TensorProto *t)
{
    int64_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || (t->dims[i] && n > INT64_MAX / t->dims[i]))
            return -1;
        n *= t->dims[i];
    }
    return n;
}

/* Whether a tensor is float32 data held in the model, matching its dims;
 * *why says what is wrong when not. */
static bool tensor_f32_ok(const Onnx__TensorProto *t, const char **why)
{
    int64_t n = tensor_numel(t);
    if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        *why = "its weights are not float32";
        return false;
    }
    if (t->n_external_data ||
        (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)) {
        *why = "its weights are in an external data file";
        return false;
    }
    if (n < 0 ||
        (t->has_raw_data ? t->raw_data.len != (size_t)n * 4 : t->n_float_data != (size_t)n)) {
        *why = "its weight tensor's data does not match its dims";
        return false;
    }
    return true;
}

/* Whether every value of a float32 tensor that tensor_f32_ok accepted is
 * finite (a NaN or infinite weight has no int8 value). */
static bool tensor_finite(const Onnx__TensorProto *t)
{
    size_t n = (size_t)tensor_numel(t);
    const uint8_t *raw = t->has_raw_data ? t->raw_data.data : NULL;
    for (size_t i = 0; i < n; i++) {
        float v;
        if (raw)
            memcpy(&v, raw + 4 * i, 4);
        else
            v = t->float_data[i];
        if (!isfinite(v))
            return false;
    }
    return true;
}

/* A float32 tensor's values as a new array (freed with q); NULL with *why
 * set when it is not float32 data held in the model or memory ran out. */
static float *tensor_f32(skiff__qdq *q, const Onnx__TensorProto *t, const char **why)
{
    if (!tensor_f32_ok(t, why))
        return NULL;
    size_t n = (size_t)tensor_numel(t);
    float *v = skiff__qdq_alloc(q, n * sizeof(float));
    if (!v) {
        *why = "out of memory";
        return NULL;
    }
    /* raw_data is little-endian float32, as on every CPU skiff runs on */
    if (n)
        memcpy(v, t->has_raw_data ? (const void *)t->raw_data.data : (const void *)t->float_data,
               n * 4);
    return v;
}

static bool in_list(const char *list, const char *name)
{
    if (!list || !name || !name[0])
        return false;
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == len && !strncmp(p, name, n))
            return true;
        p += n + (e ? 1 : 0);
    }
    return false;
}

/* Every name of --exclude must be a node's name or first output. */
static skiff_status_t *check_exclude(const skiff__qdq *q)
{
    const char *list = q->opts.exclude;
    for (const char *p = list ? list : ""; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        bool found = n == 0;
        for (size_t i = 0; i < q->n_nodes && !found; i++) {
            const Onnx__NodeProto *nd = q->nodes[i];
            found = (nd->name && strlen(nd->name) == n && !strncmp(nd->name, p, n)) ||
                    (nd->n_output && nd->output[0] && strlen(nd->output[0]) == n &&
                     !strncmp(nd->output[0], p, n));
        }
        if (!found)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "--exclude: the model has no node or node output named "
                                    "'%.*s'",
                                    (int)n, p);
        p += n + (e ? 1 : 0);
    }
    return NULL;
}

static const char *node_label(const Onnx__NodeProto *n)
{
    if (n->name && n->name[0])
        return n->name;
    return n->n_output && n->output[0] ? n->output[0] : "";
}

/* Is this node one with float32 weights (a constant input with two dims
 * or more over 1)? Those that stay float32 get a note. */
static bool has_weights(const skiff__qdq *q, const Onnx__NodeProto *n)
{
    for (size_t k = 0; k < n->n_input; k++) {
        const Onnx__TensorProto *t = find_const(q, n->input[k]);
        int big = 0; /* dims over 1: a [1, C, 1, 1] bias is no weight matrix */
        for (size_t d = 0; t && d < t->n_dims; d++)
            big += t->dims[d] > 1;
        if (t && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && big >= 2)
            return true;
    }
    return false;
}

/* Decides whether node i is quantized; fills *qn or says why not (NULL why:
 * not a candidate, and nothing to say). */
static bool candidate(skiff__qdq *q, size_t i, skiff__qnode *qn, const char **why)
{
    const Onnx__NodeProto *n = q->nodes[i];
    const char *op = n->op_type ? n->op_type : "";
    *why = NULL;
    if (!onnx_domain(n->domain)) {
        if (has_weights(q, n))
            *why = "skiff quantize has no int8 form for operators outside ONNX's domain";
        return false;
    }
    bool conv = !strcmp(op, "Conv"), mm = !strcmp(op, "MatMul"), gemm = !strcmp(op, "Gemm");
    if (!conv && !mm && !gemm) {
        if (strcmp(op, "Constant") && has_weights(q, n))
            *why = "skiff quantize has no int8 form for this operator";
        return false;
    }
    if (n->n_input < 2 || !n->input[0] || !n->input[0][0])
        return false;
    if (find_const(q, n->input[0]))
        return false; /* constant in, constant out: folding's business */
    const Onnx__TensorProto *w = find_const(q, n->input[1]);
    if (!w) {
        *why = "its second input is not a constant";
        return false;
    }
    if (conv && (w->n_dims < 3 || w->n_dims > 5)) {
        *why = "its weights are not of rank 3 to 5";
        return false;
    }
    if ((mm || gemm) && w->n_dims != 2) {
        *why = "its constant matrix is not of rank 2";
        return false;
    }
    if (!tensor_f32_ok(w, why))
        return false;
    if (!tensor_finite(w)) {
        *why = "its weights hold NaN or infinite values";
        return false;
    }
    if (gemm) {
        const Onnx__AttributeProto *ta = skiff__qdq_attr(n, "transA");
        const Onnx__AttributeProto *tb = skiff__qdq_attr(n, "transB");
        (void)ta;
        qn->w_axis = tb && tb->i ? 0 : 1;
    } else {
        qn->w_axis = conv ? 0 : 1;
    }
    qn->node = (int)i;
    qn->w = w;
    qn->bias = -1;
    if (conv && n->n_input >= 3 && n->input[2] && n->input[2][0]) {
        const Onnx__TensorProto *b = find_const(q, n->input[2]);
        const char *ignored;
        if (b && b->n_dims == 1 && b->dims[0] == w->dims[0] && tensor_f32_ok(b, &ignored))
            qn->bias = 2;
    }
    return true;
}

/* Adds an activation to calibrate (once); all: every reader of it reads
 * it through its QuantizeLinear -> DequantizeLinear, not only quantized
 * nodes. */
static skiff_status_t *add_tensor(skiff__qdq *q, const char *name, bool all, int *out_index)
{
    for (int i = 0; i < q->n_tensors; i++)
        if (!strcmp(q->tensors[i], name)) {
            q->all_readers[i] |= all;
            *out_index = i;
            return NULL;
        }
    const char **t = skiff__qdq_alloc(q, sizeof(char *) * (size_t)(q->n_tensors + 1));
    bool *a = skiff__qdq_alloc(q, sizeof(bool) * (size_t)(q->n_tensors + 1));
    if (!t || !a)
        return SKIFF__QDQ_OOM();
    if (q->n_tensors) {
        memcpy(t, q->tensors, sizeof(char *) * (size_t)q->n_tensors);
        memcpy(a, q->all_readers, sizeof(bool) * (size_t)q->n_tensors);
    }
    t[q->n_tensors] = name;
    a[q->n_tensors] = all;
    q->tensors = t;
    q->all_readers = a;
    *out_index = q->n_tensors++;
    return NULL;
}

/* The working nodes reading a name: how many, and the last one's index. */
static int node_readers(const skiff__qdq *q, const char *name, size_t *out_last)
{
    int count = 0;
    for (size_t i = 0; i < q->n_nodes; i++)
        for (size_t k = 0; k < q->nodes[i]->n_input; k++)
            if (q->nodes[i]->input[k] && !strcmp(q->nodes[i]->input[k], name)) {
                count++;
                *out_last = i;
            }
    return count;
}

/* With quantized outputs, the tensor after a quantized node that gets the
 * pair: its output, or, where a Relu or Clip is that output's only reader,
 * the activation's output (ONNX Runtime drops such an activation in front of
 * a QuantizeLinear whose range it covers, and fuses the rest into
 * QLinearConv / QLinearMatMul). NULL: nothing reads the output. */
static const char *output_target(const skiff__qdq *q, const Onnx__NodeProto *n)
{
    if (!n->n_output || !n->output[0] || !n->output[0][0])
        return NULL;
    const char *y = n->output[0];
    size_t at = 0;
    if (node_readers(q, y, &at) != 1)
        return node_readers(q, y, &at) ? y : NULL;
    const Onnx__GraphProto *g = q->mp->graph;
    for (size_t i = 0; i < g->n_output; i++)
        if (g->output[i]->name && !strcmp(g->output[i]->name, y))
            return y;
    const Onnx__NodeProto *r = q->nodes[at];
    if (onnx_domain(r->domain) && r->op_type &&
        (!strcmp(r->op_type, "Relu") || !strcmp(r->op_type, "Clip")) && r->n_output == 1 &&
        r->output[0] && r->output[0][0] && node_readers(q, r->output[0], &at) > 0)
        return r->output[0];
    return y;
}

static skiff_status_t *plan(skiff__qdq *q)
{
    skiff__qnode *all = skiff__qdq_alloc(q, sizeof(*all) * (q->n_nodes + 1));
    if (!all)
        return SKIFF__QDQ_OOM();
    int n_all = 0;
    skiff_status_t *st = NULL;
    for (size_t i = 0; i < q->n_nodes && !st; i++) {
        const Onnx__NodeProto *n = q->nodes[i];
        const char *why;
        if (candidate(q, i, &all[n_all], &why)) {
            if (in_list(q->opts.exclude, n->name) ||
                (n->n_output && in_list(q->opts.exclude, n->output[0])))
                st = skiff__qdq_add_note(q, "kept fp32: node '%s' (%s): named by --exclude",
                                         node_label(n), n->op_type);
            else
                n_all++;
        } else if (why) {
            st = skiff__qdq_add_note(q, "kept fp32: node '%s' (%s): %s", node_label(n), n->op_type,
                                     why);
        }
    }
    if (st)
        return st;
    int first = 0, last = n_all;
    if (q->opts.keep_first_last && n_all > 0) {
        for (int k = 0; k < (n_all > 1 ? 2 : 1) && !st; k++) {
            const Onnx__NodeProto *n = q->nodes[all[k ? n_all - 1 : 0].node];
            st = skiff__qdq_add_note(q,
                                     "kept fp32: node '%s' (%s): the %s quantizable node "
                                     "(--keep_first_last)",
                                     node_label(n), n->op_type, k ? "last" : "first");
        }
        first = 1;
        last = n_all > 1 ? n_all - 1 : 1;
    }
    q->qn = all + first;
    q->n_qn = last > first ? last - first : 0;
    for (int k = 0; k < q->n_qn && !st; k++)
        st = add_tensor(q, q->nodes[q->qn[k].node]->input[0], false, &q->qn[k].act);
    for (int k = 0; k < q->n_qn && !st && q->opts.quantize_outputs; k++) {
        const char *t = output_target(q, q->nodes[q->qn[k].node]);
        int ignored;
        if (t)
            st = add_tensor(q, t, true, &ignored);
    }
    return st;
}

static int readers(const skiff__qdq *q, const char *name);

/* ---- BatchNormalization folded into the Conv before it ------------------- */

/* A constant float32 vector of m values held in the model, or NULL. */
static const float *const_vec(skiff__qdq *q, const char *name, int64_t m)
{
    const Onnx__TensorProto *t = find_const(q, name);
    const char *why;
    if (!t || t->n_dims != 1 || t->dims[0] != m)
        return NULL;
    return tensor_f32(q, t, &why);
}

/* Conv node c whose one output is read by exactly one node (at *at) and is
 * no graph output: the start of a fold. */
static bool conv_read_once(const skiff__qdq *q, const Onnx__NodeProto *c, size_t *at)
{
    return onnx_domain(c->domain) && c->op_type && !strcmp(c->op_type, "Conv") && c->n_input >= 2 &&
           c->n_output == 1 && c->output[0] && node_readers(q, c->output[0], at) == 1 &&
           readers(q, c->output[0]) == 1;
}

/* Conv c (weights w, m output channels of `per` values) reads the folded
 * weights wv and bias bv as new initializers named after its own with
 * `suffix`, and writes `out` (the last folded node's output). */
static skiff_status_t *conv_take_folded(skiff__qdq *q, Onnx__NodeProto *c,
                                        const Onnx__TensorProto *w, float *wv, float *bv, int64_t m,
                                        int64_t per, const char *suffix, char *out_name)
{
    const char *wn = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_%s", c->input[1], suffix));
    const char *bname = skiff__qdq_unique_name(
        q,
        skiff__qdq_strf(q, "%s_bias_%s", c->name && c->name[0] ? c->name : c->output[0], suffix));
    Onnx__TensorProto *wt =
        wn ? skiff__qdq_tensor_new(q, wn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, (int)w->n_dims,
                                   w->dims, wv, sizeof(float) * (size_t)(m * per))
           : NULL;
    Onnx__TensorProto *bt =
        bname ? skiff__qdq_tensor_new(q, bname, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, &m, bv,
                                      sizeof(float) * (size_t)m)
              : NULL;
    char **in = skiff__qdq_alloc(q, sizeof(char *) * 4);
    char **out = skiff__qdq_alloc(q, sizeof(char *) * 2);
    skiff_status_t *st;
    if (!wt || !bt || !in || !out)
        return SKIFF__QDQ_OOM();
    if ((st = skiff__qdq_add_init(q, wt)) || (st = skiff__qdq_add_init(q, bt)))
        return st;
    in[0] = c->input[0];
    in[1] = (char *)wn;
    in[2] = (char *)bname;
    out[0] = out_name;
    c->input = in;
    c->n_input = 3;
    c->output = out;
    c->n_output = 1;
    return NULL;
}

/* Conv -> BatchNormalization (inference form, constant statistics, the
 * Conv's output read by nothing else) becomes one Conv with the scale in its
 * weights and the shift in its bias, as ONNX Runtime's quantizer prepares a
 * model: quantizing the Conv's output before a per-channel scale would give
 * the channels the normalisation enlarges the error of the largest, and the
 * weights are quantized per channel after the scale either way. */
static skiff_status_t *fold_batchnorm(skiff__qdq *q)
{
    int folded = 0;
    for (size_t i = 0; i < q->n_nodes; i++) {
        Onnx__NodeProto *c = q->nodes[i];
        size_t at = 0;
        if (!conv_read_once(q, c, &at))
            continue;
        const Onnx__NodeProto *bn = q->nodes[at];
        if (!onnx_domain(bn->domain) || !bn->op_type || strcmp(bn->op_type, "BatchNormalization") ||
            bn->n_input != 5 || strcmp(bn->input[0], c->output[0]) || bn->n_output < 1 ||
            !bn->output[0] || !bn->output[0][0])
            continue;
        bool extra_out = false;
        for (size_t o = 1; o < bn->n_output; o++)
            extra_out |= bn->output[o] && bn->output[o][0];
        const Onnx__AttributeProto *tm = skiff__qdq_attr(bn, "training_mode");
        const Onnx__TensorProto *w = find_const(q, c->input[1]);
        const char *why;
        if (extra_out || (tm && tm->i) || !w || w->n_dims < 3 || !tensor_f32_ok(w, &why) ||
            readers(q, c->input[1]) != 1)
            continue;
        int64_t m = w->dims[0], per = tensor_numel(w) / (m ? m : 1);
        const float *gamma = const_vec(q, bn->input[1], m), *beta = const_vec(q, bn->input[2], m);
        const float *mean = const_vec(q, bn->input[3], m), *var = const_vec(q, bn->input[4], m);
        const float *bias = NULL;
        bool has_bias = c->n_input >= 3 && c->input[2] && c->input[2][0];
        if (has_bias && !(bias = const_vec(q, c->input[2], m)))
            continue;
        if (!gamma || !beta || !mean || !var)
            continue;
        const Onnx__AttributeProto *ea = skiff__qdq_attr(bn, "epsilon");
        double eps = ea && ea->has_f ? ea->f : 1e-5;
        float *wv = tensor_f32(q, w, &why);
        float *bv = skiff__qdq_alloc(q, sizeof(float) * (size_t)(m + 1));
        if (!wv || !bv)
            return SKIFF__QDQ_OOM();
        for (int64_t k = 0; k < m; k++) {
            double sc = gamma[k] / sqrt((double)var[k] + eps);
            for (int64_t e = 0; e < per; e++)
                wv[k * per + e] = (float)(wv[k * per + e] * sc);
            bv[k] = (float)(((bias ? bias[k] : 0) - mean[k]) * sc + beta[k]);
        }
        skiff_status_t *st = conv_take_folded(q, c, w, wv, bv, m, per, "bn", bn->output[0]);
        if (st)
            return st;
        memmove(q->nodes + at, q->nodes + at + 1, sizeof(*q->nodes) * (q->n_nodes - at - 1));
        q->n_nodes--;
        folded++;
    }
    return folded ? skiff__qdq_add_note(q,
                                        "folded %d BatchNormalization node%s into the Conv "
                                        "before %s",
                                        folded, folded == 1 ? "" : "s", folded == 1 ? "it" : "them")
                  : NULL;
}

/* ---- constant scalings after a Conv folded into it ------------------------ */

/* The per-channel values of constant c against a Conv output with m channels
 * and nsp spatial dims: one value (every dim 1), or m along the channel axis
 * ([1, m, 1, ...] or [m, 1, ...]); NULL otherwise. *per_ch says which. */
static const float *affine_values(skiff__qdq *q, const char *name, int64_t m, int nsp, bool *per_ch)
{
    const Onnx__TensorProto *t = find_const(q, name);
    const char *why;
    if (!t || !tensor_f32_ok(t, &why) || (int)t->n_dims > 2 + nsp)
        return NULL;
    int64_t n = tensor_numel(t);
    *per_ch = n != 1;
    if (n != 1) {
        int ch = (int)t->n_dims - 1 - nsp; /* the channel axis, aligned right */
        if (n != m || ch < 0)
            return NULL;
        for (size_t i = 0; i < t->n_dims; i++)
            if (t->dims[i] != ((int)i == ch ? m : 1))
                return NULL;
    }
    return tensor_f32(q, t, &why);
}

/* Conv -> Mul(a) [-> Add(b)], or Conv -> Add(b), with a and b constant
 * scalars or per-channel vectors and each output read by the next node only,
 * becomes one Conv with a in its weights and a * bias + b in its bias (the
 * learnable affine blocks of PP-LCNetV3, PP-OCRv4's backbone). Quantizing the
 * Conv's output before a scaling would leave a float Mul and Add between
 * every pair of int8 convolutions. */
static skiff_status_t *fold_affine(skiff__qdq *q)
{
    int folded = 0;
    for (size_t i = 0; i < q->n_nodes; i++) {
        Onnx__NodeProto *c = q->nodes[i];
        size_t at = 0;
        if (!conv_read_once(q, c, &at))
            continue;
        const Onnx__TensorProto *w = find_const(q, c->input[1]);
        const char *why;
        if (!w || w->n_dims < 3 || !tensor_f32_ok(w, &why) || readers(q, c->input[1]) != 1)
            continue;
        int64_t m = w->dims[0], per = tensor_numel(w) / (m ? m : 1);
        int nsp = (int)w->n_dims - 2;
        bool has_bias = c->n_input >= 3 && c->input[2] && c->input[2][0];
        const float *bias = has_bias ? const_vec(q, c->input[2], m) : NULL;
        if (has_bias && (!bias || readers(q, c->input[2]) != 1))
            continue;
        /* up to two nodes: Mul then Add, or Add */
        size_t idx[2];
        const float *val[2];
        bool pc[2], is_mul[2];
        int n_aff = 0;
        const char *cur = c->output[0];
        size_t where = at;
        while (n_aff < 2) {
            const Onnx__NodeProto *a = q->nodes[where];
            bool mul = a->op_type && !strcmp(a->op_type, "Mul");
            bool add = a->op_type && !strcmp(a->op_type, "Add");
            if (!onnx_domain(a->domain) || (!mul && !add) || (mul && n_aff > 0) ||
                a->n_input != 2 || a->n_output != 1 || !a->output[0] || !a->output[0][0])
                break;
            int k = !strcmp(a->input[0], cur) ? 1 : !strcmp(a->input[1], cur) ? 0 : -1;
            if (k < 0 || !strcmp(a->input[0], a->input[1]))
                break;
            const float *v = affine_values(q, a->input[k], m, nsp, &pc[n_aff]);
            if (!v)
                break;
            idx[n_aff] = where;
            val[n_aff] = v;
            is_mul[n_aff] = mul;
            n_aff++;
            cur = a->output[0];
            if (n_aff == 2 || node_readers(q, cur, &where) != 1 || readers(q, cur) != 1)
                break;
        }
        if (n_aff == 0)
            continue;
        float *wv = tensor_f32(q, w, &why);
        float *bv = skiff__qdq_alloc(q, sizeof(float) * (size_t)(m + 1));
        if (!wv || !bv)
            return SKIFF__QDQ_OOM();
        for (int64_t k = 0; k < m; k++)
            bv[k] = bias ? bias[k] : 0.f;
        for (int j = 0; j < n_aff; j++)
            for (int64_t k = 0; k < m; k++) {
                float v = val[j][pc[j] ? k : 0];
                if (is_mul[j]) {
                    for (int64_t e = 0; e < per; e++)
                        wv[k * per + e] *= v;
                    bv[k] *= v;
                } else {
                    bv[k] += v;
                }
            }
        skiff_status_t *st = conv_take_folded(q, c, w, wv, bv, m, per, "affine",
                                              q->nodes[idx[n_aff - 1]]->output[0]);
        if (st)
            return st;
        /* drop the folded nodes, the later index first (the earlier one
         * then stays where it is) */
        if (n_aff == 2 && idx[0] < idx[1]) {
            size_t t = idx[0];
            idx[0] = idx[1];
            idx[1] = t;
        }
        for (int j = 0; j < n_aff; j++) {
            size_t r = idx[j];
            memmove(q->nodes + r, q->nodes + r + 1, sizeof(*q->nodes) * (q->n_nodes - r - 1));
            q->n_nodes--;
            if (r < i)
                i--;
        }
        folded++;
    }
    return folded ? skiff__qdq_add_note(q,
                                        "folded the constant scalings (Mul, Add) after %d Conv "
                                        "node%s into %s",
                                        folded, folded == 1 ? "" : "s", folded == 1 ? "it" : "them")
                  : NULL;
}

/* ---- opening ---------------------------------------------------------------- */

static int default_opset(const Onnx__ModelProto *mp)
{
    for (size_t i = 0; i < mp->n_opset_import; i++)
        if (onnx_domain(mp->opset_import[i]->domain))
            return (int)mp->opset_import[i]->version;
    return 0;
}

static skiff_status_t *collect_names(skiff__qdq *q)
{
    const Onnx__GraphProto *g = q->mp->graph;
    bool ok = true;
    for (size_t i = 0; i < g->n_input; i++)
        ok &= push_name(q, g->input[i]->name);
    for (size_t i = 0; i < g->n_output; i++)
        ok &= push_name(q, g->output[i]->name);
    for (size_t i = 0; i < g->n_initializer; i++)
        ok &= push_name(q, g->initializer[i]->name);
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        ok &= push_name(q, n->name);
        for (size_t k = 0; k < n->n_output; k++)
            ok &= push_name(q, n->output[k]);
    }
    return ok ? NULL : SKIFF__QDQ_OOM();
}

skiff_status_t *skiff__qdq_open(const void *data, size_t size, const skiff__qdq_opts *opts,
                                skiff__qdq **out)
{
    *out = NULL;
    skiff__qdq *q = skiff__calloc(1, sizeof(*q));
    if (!q)
        return SKIFF__QDQ_OOM();
    q->opts = *opts;
    skiff_status_t *st = NULL;
    q->mp = onnx__model_proto__unpack(&pb_allocator, size, data);
    if (!q->mp) {
        st = skiff__alloc_failed() ? SKIFF__QDQ_OOM()
                                   : skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                                      "not a valid ONNX model (protobuf decoding "
                                                      "failed)");
        goto fail;
    }
    const Onnx__GraphProto *g = q->mp->graph;
    if (!g) {
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "the ONNX model has no graph");
        goto fail;
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; k < n->n_attribute; k++)
            if (n->attribute[k]->g || n->attribute[k]->n_graphs) {
                st = skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                      "node '%s' (%s) holds a subgraph; skiff quantize rewrites "
                                      "flat graphs only",
                                      node_label(n), n->op_type ? n->op_type : "");
                goto fail;
            }
    }
    if ((st = collect_names(q)) ||
        (st = grow((void ***)&q->nodes, &q->n_nodes, &q->cap_nodes, g->n_node + 1)))
        goto fail;
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *c = skiff__qdq_alloc(q, sizeof(*c));
        char **in = skiff__qdq_alloc(q, sizeof(char *) * (g->node[i]->n_input + 1));
        if (!c || !in) {
            st = SKIFF__QDQ_OOM();
            goto fail;
        }
        *c = *g->node[i];
        if (c->n_input)
            memcpy(in, c->input, sizeof(char *) * c->n_input);
        c->input = in;
        q->nodes[q->n_nodes++] = c;
    }
    int from = default_opset(q->mp);
    q->opset = from;
    q->per_channel = opts->per_channel;
    if (from < 13) {
        bool ok = false;
        if ((st = skiff__qdq_upgrade(q, from, &ok)))
            goto fail;
        if (ok) {
            q->opset = 13;
            st = skiff__qdq_add_note(q,
                                     "converted the model from opset %d to opset 13 (per-channel "
                                     "DequantizeLinear needs 13)",
                                     from);
        } else if (q->per_channel) {
            q->per_channel = false;
            st = skiff__qdq_add_note(q,
                                     "weights quantized per tensor: opset %d has no "
                                     "per-channel DequantizeLinear",
                                     from);
        }
        if (!st && q->opset < 10) {
            st = skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                  "the model is opset %d and cannot be converted to opset 13; "
                                  "QuantizeLinear needs opset 10 or later",
                                  from);
        }
        if (st)
            goto fail;
    }
    if ((st = fold_batchnorm(q)) || (st = fold_affine(q)) || (st = check_exclude(q)) ||
        (st = plan(q)))
        goto fail;
    *out = q;
    return NULL;
fail:
    skiff__qdq_free(q);
    return st;
}

void skiff__qdq_free(skiff__qdq *q)
{
    if (!q)
        return;
    if (q->mp)
        onnx__model_proto__free_unpacked(q->mp, &pb_allocator);
    for (size_t i = 0; i < q->n_keep; i++)
        skiff__free(q->keep[i]);
    skiff__free(q->keep);
    skiff__free(q->nodes);
    skiff__free(q->inits);
    skiff__free(q->names);
    skiff__free(q);
}

int skiff__qdq_tensor_count(const skiff__qdq *q) { return q->n_tensors; }
const char *skiff__qdq_tensor(const skiff__qdq *q, int i) { return q->tensors[i]; }
int skiff__qdq_quantized_count(const skiff__qdq *q) { return q->n_qn; }
const char *skiff__qdq_quantized(const skiff__qdq *q, int i)
{
    return node_label(q->nodes[q->qn[i].node]);
}
int skiff__qdq_note_count(const skiff__qdq *q) { return q->n_notes; }
const char *skiff__qdq_note(const skiff__qdq *q, int i) { return q->notes[i]; }
int skiff__qdq_opset(const skiff__qdq *q) { return q->opset; }

/* ---- writing ---------------------------------------------------------------- */

/* The model message to pack: the decoded one with the graph, its nodes,
 * initializers and outputs and the opset replaced (all owned by q). */
static skiff_status_t *pack(skiff__qdq *q, Onnx__NodeProto **nodes, size_t n_nodes,
                            Onnx__TensorProto **inits, size_t n_inits,
                            Onnx__ValueInfoProto **outputs, size_t n_outputs, uint8_t **out,
                            size_t *out_size)
{
    Onnx__ModelProto *m = skiff__qdq_alloc(q, sizeof(*m));
    Onnx__GraphProto *g = skiff__qdq_alloc(q, sizeof(*g));
    Onnx__OperatorSetIdProto **ops =
        skiff__qdq_alloc(q, sizeof(*ops) * (q->mp->n_opset_import + 1));
    Onnx__OperatorSetIdProto *def = skiff__qdq_alloc(q, sizeof(*def));
    if (!m || !g || !ops || !def)
        return SKIFF__QDQ_OOM();
    *m = *q->mp;
    *g = *q->mp->graph;
    g->node = nodes;
    g->n_node = n_nodes;
    g->initializer = inits;
    g->n_initializer = n_inits;
    g->output = outputs;
    g->n_output = n_outputs;
    m->graph = g;
    onnx__operator_set_id_proto__init(def);
    def->domain = (char *)"";
    def->has_version = 1;
    def->version = q->opset;
    size_t k = 0;
    ops[k++] = def;
    for (size_t i = 0; i < q->mp->n_opset_import; i++)
        if (!onnx_domain(q->mp->opset_import[i]->domain))
            ops[k++] = q->mp->opset_import[i];
    m->opset_import = ops;
    m->n_opset_import = k;
    if (m->has_ir_version && m->ir_version < 7)
        m->ir_version = 7; /* opset 13's IR */
    size_t n = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = skiff__malloc(n ? n : 1);
    if (!buf)
        return SKIFF__QDQ_OOM();
    onnx__model_proto__pack(m, buf);
    *out = buf;
    *out_size = n;
    return NULL;
}

static bool graph_input(const skiff__qdq *q, const char *name)
{
    const Onnx__GraphProto *g = q->mp->graph;
    for (size_t i = 0; i < g->n_input; i++)
        if (g->input[i]->name && !strcmp(g->input[i]->name, name))
            return true;
    return false;
}

/* The original initializers and the conversion's, minus those in drop and
 * those nothing reads any more (weights a fold replaced). */
static Onnx__TensorProto **init_list(skiff__qdq *q, size_t extra, size_t *out_n,
                                     const char *const *drop, size_t n_drop)
{
    const Onnx__GraphProto *g = q->mp->graph;
    Onnx__TensorProto **a =
        skiff__qdq_alloc(q, sizeof(*a) * (g->n_initializer + q->n_inits + extra + 1));
    if (!a)
        return NULL;
    size_t n = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        size_t count = pass ? q->n_inits : g->n_initializer;
        for (size_t i = 0; i < count; i++) {
            Onnx__TensorProto *t = pass ? q->inits[i] : g->initializer[i];
            bool dropped = t->name && readers(q, t->name) == 0 && !graph_input(q, t->name);
            for (size_t d = 0; d < n_drop && !dropped; d++)
                dropped = t->name && !strcmp(t->name, drop[d]);
            if (!dropped)
                a[n++] = t;
        }
    }
    *out_n = n;
    return a;
}

skiff_status_t *skiff__qdq_calib_model(skiff__qdq *q, uint8_t **out, size_t *out_size)
{
    const Onnx__GraphProto *g = q->mp->graph;
    Onnx__ValueInfoProto **outs =
        skiff__qdq_alloc(q, sizeof(*outs) * (g->n_output + (size_t)q->n_tensors + 1));
    if (!outs)
        return SKIFF__QDQ_OOM();
    size_t n = 0;
    for (size_t i = 0; i < g->n_output; i++)
        outs[n++] = g->output[i];
    for (int t = 0; t < q->n_tensors; t++) {
        bool have = false;
        for (size_t i = 0; i < g->n_output && !have; i++)
            have = g->output[i]->name && !strcmp(g->output[i]->name, q->tensors[t]);
        for (size_t i = 0; i < g->n_input && !have; i++)
            have = g->input[i]->name && !strcmp(g->input[i]->name, q->tensors[t]);
        if (have)
            continue;
        Onnx__ValueInfoProto *vi = skiff__qdq_alloc(q, sizeof(*vi));
        if (!vi)
            return SKIFF__QDQ_OOM();
        onnx__value_info_proto__init(vi);
        vi->name = (char *)q->tensors[t];
        outs[n++] = vi;
    }
    size_t n_inits;
    Onnx__TensorProto **inits = init_list(q, 0, &n_inits, NULL, 0);
    if (!inits)
        return SKIFF__QDQ_OOM();
    return pack(q, q->nodes, q->n_nodes, inits, n_inits, outs, n, out, out_size);
}

/* How many working nodes (and graph outputs) read a name. */
static int readers(const skiff__qdq *q, const char *name)
{
    int count = 0;
    for (size_t i = 0; i < q->n_nodes; i++)
        for (size_t k = 0; k < q->nodes[i]->n_input; k++)
            count += q->nodes[i]->input[k] && !strcmp(q->nodes[i]->input[k], name);
    const Onnx__GraphProto *g = q->mp->graph;
    for (size_t i = 0; i < g->n_output; i++)
        count += g->output[i]->name && !strcmp(g->output[i]->name, name);
    return count;
}

/* What one quantized weight (or bias) becomes: an initializer triple and
 * its DequantizeLinear. */
typedef struct wq_out {
    Onnx__TensorProto *t[3]; /* values, scale, zero point */
    Onnx__NodeProto *dq;
} wq_out;

static skiff_status_t *dq_of(skiff__qdq *q, const char *base, int dtype, int ndim,
                             const int64_t *dims, const void *vals, size_t vbytes,
                             const float *scale, const void *zp, size_t zbytes, int64_t nch,
                             int axis, wq_out *o)
{
    const char *vn = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_quantized", base));
    const char *sn = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_scale", base));
    const char *zn = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_zero_point", base));
    const char *on =
        skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_DequantizeLinear_Output", base));
    const char *nn = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_DequantizeLinear", base));
    if (!vn || !sn || !zn || !on || !nn)
        return SKIFF__QDQ_OOM();
    bool per = axis >= 0;
    o->t[0] = skiff__qdq_tensor_new(q, vn, dtype, ndim, dims, vals, vbytes);
    o->t[1] = skiff__qdq_tensor_new(q, sn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, per ? 1 : 0, &nch,
                                    scale, sizeof(float) * (size_t)(per ? nch : 1));
    o->t[2] = skiff__qdq_tensor_new(q, zn,
                                    dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT32
                                        ? ONNX__TENSOR_PROTO__DATA_TYPE__INT32
                                        : ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
                                    per ? 1 : 0, &nch, zp, zbytes);
    const char *in[3] = {vn, sn, zn};
    o->dq = skiff__qdq_node(q, "DequantizeLinear", nn, in, 3, &on, 1);
    if (!o->t[0] || !o->t[1] || !o->t[2] || !o->dq)
        return SKIFF__QDQ_OOM();
    return per ? skiff__qdq_set_attr_int(q, o->dq, "axis", axis) : NULL;
}

/* Quantizes node k's weights: symmetric int8, per channel along its axis
 * (or per tensor), and its bias int32 when it has one. w_scale gets the
 * channel scales (nch of them; one when per tensor). */
static skiff_status_t *quantize_weights(skiff__qdq *q, const skiff__qnode *qn, float x_scale,
                                        wq_out *w_out, wq_out *b_out, bool *out_bias_done)
{
    const Onnx__NodeProto *n = q->nodes[qn->node];
    const Onnx__TensorProto *w = qn->w;
    const char *why = NULL;
    const float *v = tensor_f32(q, w, &why);
    int64_t numel = tensor_numel(w);
    if (!v)
        return why && !strcmp(why, "out of memory")
                   ? SKIFF__QDQ_OOM()
                   : skiff_status_new(SKIFF_CODE_INTERNAL, "weights of '%s' changed", n->input[1]);
    int ax = qn->w_axis;
    int64_t nch = w->dims[ax], outer = 1, inner = 1;
    for (int d = 0; d < ax; d++)
        outer *= w->dims[d];
    for (size_t d = (size_t)ax + 1; d < w->n_dims; d++)
        inner *= w->dims[d];
    int64_t ns = q->per_channel ? nch : 1;
    float *scale = skiff__qdq_alloc(q, sizeof(float) * (size_t)(nch + 1));
    int8_t *qv = skiff__qdq_alloc(q, (size_t)numel);
    int8_t *zp = skiff__qdq_alloc(q, (size_t)nch + 1);
    if (!scale || !qv || !zp)
        return SKIFF__QDQ_OOM();
    const float qmax = q->opts.reduce_range ? 63.0f : 127.0f;
    for (int64_t c = 0; c < nch; c++) {
        float amax = 0;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                float a = fabsf(v[(o * nch + c) * inner + i]);
                amax = a > amax ? a : amax;
            }
        scale[c] = amax;
    }
    if (!q->per_channel) {
        for (int64_t c = 1; c < nch; c++)
            scale[0] = scale[c] > scale[0] ? scale[c] : scale[0];
        for (int64_t c = 1; c < nch; c++)
            scale[c] = scale[0];
    }
    for (int64_t c = 0; c < nch; c++) {
        /* amax / qmax can underflow to 0 (denormal weights): scale 1 then */
        float sc = scale[c] / qmax;
        scale[c] = sc > 0 && isfinite(sc) ? sc : 1.0f;
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < nch; c++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t at = (o * nch + c) * inner + i;
                float r = nearbyintf(v[at] / scale[c]);
                qv[at] = (int8_t)(r < -qmax ? -qmax : r > qmax ? qmax : r);
            }
    const char *wname = n->input[1];
    skiff_status_t *st =
        dq_of(q, wname, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, (int)w->n_dims, w->dims, qv,
              (size_t)numel, scale, zp, (size_t)ns, nch, q->per_channel ? ax : -1, w_out);
    if (st || qn->bias < 0)
        return st;
    /* bias: int32 with scale x_scale * w_scale[c], unless that overflows */
    const Onnx__TensorProto *b = find_const(q, n->input[qn->bias]);
    const float *bv = b ? tensor_f32(q, b, &why) : NULL;
    int32_t *bq = skiff__qdq_alloc(q, sizeof(int32_t) * (size_t)(nch + 1));
    float *bs = skiff__qdq_alloc(q, sizeof(float) * (size_t)(nch + 1));
    int32_t *bz = skiff__qdq_alloc(q, sizeof(int32_t) * (size_t)(nch + 1));
    if (!bv || !bq || !bs || !bz)
        return SKIFF__QDQ_OOM();
    for (int64_t c = 0; c < nch; c++) {
        bs[c] = x_scale * scale[q->per_channel ? c : 0];
        double r = nearbyint((double)bv[c] / bs[c]);
        if (!(fabs(r) < 2147483647.0))
            return skiff__qdq_add_note(q,
                                       "node '%s' (%s): bias kept float32 (channel %lld "
                                       "does not fit int32 at scale %g)",
                                       node_label(n), n->op_type, (long long)c, (double)bs[c]);
        bq[c] = (int32_t)r;
    }
    int64_t bd = nch;
    st = dq_of(q, n->input[qn->bias], ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, &bd, bq,
               sizeof(int32_t) * (size_t)nch, bs, bz,
               sizeof(int32_t) * (size_t)(q->per_channel ? nch : 1), nch, q->per_channel ? 0 : -1,
               b_out);
    /* per tensor: one bias scale, the same for every channel */
    *out_bias_done = !st;
    return st;
}

/* The state of one write: the node and initializer lists being built and
 * each activation's pair. */
typedef struct wstate {
    Onnx__NodeProto **nodes;
    size_t n_nodes;
    Onnx__TensorProto **extra;
    size_t n_extra;
    const char **act_dq; /* the DequantizeLinear output of each activation, once made */
    float *act_scale;
} wstate;

static int tensor_index(const skiff__qdq *q, const char *name)
{
    for (int t = 0; name && t < q->n_tensors; t++)
        if (!strcmp(q->tensors[t], name))
            return t;
    return -1;
}

/* Appends activation t's QuantizeLinear -> DequantizeLinear (uint8 with the
 * range's scale and zero point). */
static skiff_status_t *emit_pair(skiff__qdq *q, wstate *w, int t, float lo, float hi)
{
    const char *x = q->tensors[t];
    float scale;
    uint8_t zp;
    skiff__quant_params_u8(lo, hi, &scale, &zp);
    const char *sn = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_scale", x));
    const char *zn = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_zero_point", x));
    const char *qo = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_QuantizeLinear_Output", x));
    const char *dqo =
        skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_DequantizeLinear_Output", x));
    const char *qname = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_QuantizeLinear", x));
    const char *dqname = skiff__qdq_unique_name(q, skiff__qdq_strf(q, "%s_DequantizeLinear", x));
    if (!sn || !zn || !qo || !dqo || !qname || !dqname)
        return SKIFF__QDQ_OOM();
    Onnx__TensorProto *ts = skiff__qdq_tensor_new(q, sn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0,
                                                  NULL, &scale, sizeof(scale));
    Onnx__TensorProto *tz =
        skiff__qdq_tensor_new(q, zn, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, &zp, 1);
    const char *qin[3] = {x, sn, zn}, *dqin[3] = {qo, sn, zn};
    Onnx__NodeProto *qnode = skiff__qdq_node(q, "QuantizeLinear", qname, qin, 3, &qo, 1);
    Onnx__NodeProto *dqnode = skiff__qdq_node(q, "DequantizeLinear", dqname, dqin, 3, &dqo, 1);
    if (!ts || !tz || !qnode || !dqnode)
        return SKIFF__QDQ_OOM();
    w->extra[w->n_extra++] = ts;
    w->extra[w->n_extra++] = tz;
    w->nodes[w->n_nodes++] = qnode;
    w->nodes[w->n_nodes++] = dqnode;
    w->act_dq[t] = dqo;
    w->act_scale[t] = scale;
    return NULL;
}

skiff_status_t *skiff__qdq_write(skiff__qdq *q, const float *lo, const float *hi, uint8_t **out,
                                 size_t *out_size)
{
    /* at most: every node, 2 per activation, 2 per quantized node */
    size_t cap = q->n_nodes + 2 * (size_t)q->n_tensors + 2 * (size_t)q->n_qn + 1;
    wstate w = {0};
    w.nodes = skiff__qdq_alloc(q, sizeof(*w.nodes) * cap);
    w.extra = skiff__qdq_alloc(q, sizeof(*w.extra) *
                                      (8 * (size_t)q->n_qn + 2 * (size_t)q->n_tensors + 1));
    const char **drop = skiff__qdq_alloc(q, sizeof(*drop) * (2 * (size_t)q->n_qn + 1));
    w.act_dq = skiff__qdq_alloc(q, sizeof(*w.act_dq) * ((size_t)q->n_tensors + 1));
    w.act_scale = skiff__qdq_alloc(q, sizeof(float) * ((size_t)q->n_tensors + 1));
    int *qn_of = skiff__qdq_alloc(q, sizeof(int) * (q->n_nodes + 1));
    if (!w.nodes || !w.extra || !drop || !w.act_dq || !w.act_scale || !qn_of)
        return SKIFF__QDQ_OOM();
    size_t n_drop = 0;
    for (size_t i = 0; i < q->n_nodes; i++)
        qn_of[i] = -1;
    for (int k = 0; k < q->n_qn; k++)
        qn_of[q->qn[k].node] = k;
    skiff_status_t *st = NULL;
    /* graph inputs first */
    const Onnx__GraphProto *g = q->mp->graph;
    for (size_t i = 0; i < g->n_input && !st; i++) {
        int t = tensor_index(q, g->input[i]->name);
        if (t >= 0 && !w.act_dq[t])
            st = emit_pair(q, &w, t, lo[t], hi[t]);
    }
    for (size_t i = 0; i < q->n_nodes && !st; i++) {
        int k = qn_of[i];
        const Onnx__NodeProto *orig = q->nodes[i];
        /* the inputs read through a pair: a quantized node's input 0, and
         * every input that is an activation with all readers */
        char **in = NULL;
        for (size_t j = 0; j < orig->n_input && !st; j++) {
            int t = tensor_index(q, orig->input[j]);
            if (t < 0 || !(q->all_readers[t] || (k >= 0 && j == 0)))
                continue;
            if (!w.act_dq[t] && (st = emit_pair(q, &w, t, lo[t], hi[t])))
                break;
            if (!in) {
                in = skiff__qdq_alloc(q, sizeof(char *) * (orig->n_input + 1));
                if (!in)
                    return SKIFF__QDQ_OOM();
                memcpy(in, orig->input, sizeof(char *) * orig->n_input);
            }
            in[j] = (char *)w.act_dq[t];
        }
        if (st)
            break;
        Onnx__NodeProto *emit = q->nodes[i];
        if (in || k >= 0) {
            emit = skiff__qdq_alloc(q, sizeof(*emit));
            if (!emit)
                return SKIFF__QDQ_OOM();
            *emit = *orig;
            if (in)
                emit->input = in;
        }
        if (k >= 0) {
            const skiff__qnode *qn = &q->qn[k];
            wq_out wo = {0}, bo = {0};
            bool bias_done = false;
            if ((st = quantize_weights(q, qn, w.act_scale[qn->act], &wo, &bo, &bias_done)))
                break;
            emit->input[1] = wo.dq->output[0];
            w.nodes[w.n_nodes++] = wo.dq;
            for (int t = 0; t < 3; t++)
                w.extra[w.n_extra++] = wo.t[t];
            if (bias_done) {
                emit->input[qn->bias] = bo.dq->output[0];
                w.nodes[w.n_nodes++] = bo.dq;
                for (int t = 0; t < 3; t++)
                    w.extra[w.n_extra++] = bo.t[t];
            }
            /* the float weights (and bias) go when nothing else reads them */
            if (readers(q, orig->input[1]) == 1)
                drop[n_drop++] = orig->input[1];
            if (bias_done && readers(q, orig->input[qn->bias]) == 1)
                drop[n_drop++] = orig->input[qn->bias];
        }
        w.nodes[w.n_nodes++] = emit;
        for (size_t o = 0; o < orig->n_output && !st; o++) {
            int t = tensor_index(q, orig->output[o]);
            if (t >= 0 && !w.act_dq[t])
                st = emit_pair(q, &w, t, lo[t], hi[t]);
        }
    }
    if (st)
        return st;
    /* Constant nodes whose value was dropped */
    Onnx__NodeProto **nodes = w.nodes;
    size_t n_nodes = w.n_nodes, n_extra = w.n_extra, kept = 0;
    Onnx__TensorProto **extra = w.extra;
    for (size_t i = 0; i < n_nodes; i++) {
        const Onnx__NodeProto *n = nodes[i];
        bool gone = n->op_type && !strcmp(n->op_type, "Constant") && n->n_output == 1 &&
                    readers(q, n->output[0]) == 0;
        if (n->op_type && !strcmp(n->op_type, "Constant") && n->n_output == 1)
            for (size_t d = 0; d < n_drop && !gone; d++)
                gone = !strcmp(n->output[0], drop[d]);
        if (!gone)
            nodes[kept++] = nodes[i];
    }
    n_nodes = kept;
    size_t n_inits;
    Onnx__TensorProto **inits = init_list(q, n_extra, &n_inits, drop, n_drop);
    if (!inits)
        return SKIFF__QDQ_OOM();
    memcpy(inits + n_inits, extra, sizeof(*extra) * n_extra);
    n_inits += n_extra;
    return pack(q, nodes, n_nodes, inits, n_inits, g->output, g->n_output, out, out_size);
}
