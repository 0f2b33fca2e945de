/* quant_int.h - what qdq.c and opset.c share: the rewrite's state. */
#ifndef SKIFF_QUANT_INT_H
#define SKIFF_QUANT_INT_H

#include "onnx.pb-c.h"
#include "quant.h"

/* A node to quantize: its index in nodes[], the weight's input slot and
 * tensor, the axis of its output channels, and Conv's bias slot (or -1). */
typedef struct skiff__qnode {
    int node;
    const Onnx__TensorProto *w;
    int w_axis;
    int bias; /* input slot of a constant float bias turned int32, or -1 */
    int act;  /* index into tensors[] of its input 0 */
} skiff__qnode;

struct skiff__qdq {
    Onnx__ModelProto *mp; /* as decoded; never modified */
    skiff__qdq_opts opts;
    int opset;        /* default-domain opset written */
    bool per_channel; /* opts.per_channel and an opset that allows it */
    /* The working node list: shallow copies of the model's nodes with their
     * own input and attribute arrays (strings and attributes borrowed from
     * mp), changed by the opset conversion, plus nodes it adds. */
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    /* initializers the conversion adds */
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    skiff__qnode *qn;
    int n_qn;
    const char **tensors; /* activations to calibrate (borrowed names) */
    bool *all_readers;    /* per activation: every reader goes through its pair */
    int n_tensors;
    char **notes;
    int n_notes;
    /* every name the model uses, and those the rewrite made (unique_name) */
    const char **names;
    size_t n_names, cap_names;
    /* every allocation made for the rewrite, freed together */
    void **keep;
    size_t n_keep, cap_keep;
};

/* Zeroed memory freed with q. NULL when out of memory. */
void *skiff__qdq_alloc(skiff__qdq *q, size_t size);
/* A printf-formatted string freed with q. */
char *skiff__qdq_strf(skiff__qdq *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a note line. */
skiff_status_t *skiff__qdq_add_note(skiff__qdq *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A name no tensor or node of the model has yet: base, or base_1, base_2... */
const char *skiff__qdq_unique_name(skiff__qdq *q, const char *base);
/* A new node (added to nothing yet); attrs borrowed. */
Onnx__NodeProto *skiff__qdq_node(skiff__qdq *q, const char *op, const char *name,
                                 const char *const *in, int n_in, const char *const *out,
                                 int n_out);
/* Appends an attribute to a working or new node. */
skiff_status_t *skiff__qdq_set_attr_int(skiff__qdq *q, Onnx__NodeProto *n, const char *name,
                                        int64_t v);
/* A tensor initializer with a copy of data. */
Onnx__TensorProto *skiff__qdq_tensor_new(skiff__qdq *q, const char *name, int dtype, int ndim,
                                         const int64_t *dims, const void *data, size_t nbytes);
/* Inserts node at position pos of the working list. */
skiff_status_t *skiff__qdq_insert(skiff__qdq *q, size_t pos, Onnx__NodeProto *n);
skiff_status_t *skiff__qdq_add_init(skiff__qdq *q, Onnx__TensorProto *t);
/* An attribute of a node by name, or NULL. */
const Onnx__AttributeProto *skiff__qdq_attr(const Onnx__NodeProto *n, const char *name);

/* Converts the working nodes from the model's opset to 13 where every
 * operator allows; *out_ok false (with a note naming the operator that did
 * not) leaves the nodes as they were. */
skiff_status_t *skiff__qdq_upgrade(skiff__qdq *q, int from, bool *out_ok);

#define SKIFF__QDQ_OOM() skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory quantizing")

#endif
