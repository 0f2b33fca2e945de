/* paddle_int.h - what the Paddle loader (paddle.c: program, parameters,
 * feeds and fetches) and its op mappings (paddle_ops.c) share. Internal to
 * the engine. */
#ifndef SKIFF_ENGINE_PADDLE_INT_H
#define SKIFF_ENGINE_PADDLE_INT_H

#include "engine_int.h"
#include "framework.pb-c.h"

typedef Paddle__Framework__Proto__ProgramDesc pd_program;
typedef Paddle__Framework__Proto__BlockDesc pd_block;
typedef Paddle__Framework__Proto__VarDesc pd_var;
typedef Paddle__Framework__Proto__OpDesc pd_op;
typedef Paddle__Framework__Proto__OpDesc__Attr pd_attr;
typedef Paddle__Framework__Proto__VarType__TensorDesc pd_tensor_desc;

/* A variable the program writes again, and its latest value. */
typedef struct skiff__pd_rename {
    char *name;
    int value;
} skiff__pd_rename;
/* LoD entries a skiff__pd_ctx remembers (a feed's, then those found). */
#define SKIFF__PD_LODS 64

/* A program being mapped into a graph. */
typedef struct skiff__pd_ctx {
    const pd_block *b;
    skiff__graph *g;
    int tmp;               /* names of values skiff adds */
    skiff__pd_rename *ren; /* variables written again (latest last) */
    int n_ren, cap_ren;
    /* The LoD that travels with a variable: the graph value of its level-0
     * offsets (int64 [n_seq + 1]). A feed with lod_level > 0 brings its own
     * (the graph input <feed>.lod); every other variable's is found from the
     * op that computes it (skiff__pd_lod_of). var borrows the program. */
    struct {
        const char *var;
        int value;
    } lod[SKIFF__PD_LODS];
    int n_lod;
} skiff__pd_ctx;

/* Frees what mapping a program left in the context (not the graph). */
void skiff__pd_ctx_free(skiff__pd_ctx *c);
/* The graph of a program's block (its feed, fetch and other ops, Paddle's
 * legacy ones): the parameters (its persistable variables) from params_path
 * (combined, sorted-name order) or, when that is NULL or "", one file each
 * in dir; each checked against its variable. paddle.c; the ProgramDesc and
 * the PIR front end (paddle_pir.c) share it. */
skiff_status_t *skiff__paddle_graph(const pd_block *b, const char *dir, const char *model_path,
                                    const char *params_path, skiff__graph **out_graph);
/* paddle_pir.c: a PIR program (inference.json) translated into a block of
 * legacy ops, then skiff__paddle_graph's. */
skiff_status_t *skiff__paddle_pir_parse(const char *dir, const char *model_path,
                                        const char *params_path, skiff__graph **out_graph);

/* VarType.Type (data) -> dtype; UNDEFINED for the others. */
skiff_dtype_t skiff__pd_dtype(int t);
const pd_var *skiff__pd_find_var(const pd_block *b, const char *name);
/* A dense tensor var's TensorDesc, or NULL. */
const pd_tensor_desc *skiff__pd_tensor_desc(const pd_var *v);
const pd_attr *skiff__pd_attr(const pd_op *op, const char *name);
int64_t skiff__pd_attr_int(const pd_op *op, const char *name, int64_t def);
/* The first argument of slot `param` of an op's inputs or outputs, or NULL. */
const char *skiff__pd_slot(Paddle__Framework__Proto__OpDesc__Var **vars, size_t n,
                           const char *param);
/* The graph value of a variable name, or -1. */
int skiff__pd_value_of(skiff__pd_ctx *c, const char *name);

/* ---- paddle_map.c: what the op mappings share ---- */

/* Appends a node op_type(ins) -> outs (of ONNX's default domain, or of
 * `domain`: SKIFF_DOMAIN_PADDLE for kernels of Paddle's own semantics); the
 * outputs are created as values and must not exist yet. */
skiff_status_t *skiff__pd_emit(skiff__pd_ctx *c, const char *op_type, const int *ins, int n_in,
                               const char *const *outs, int n_out, skiff__node **out_node);
skiff_status_t *skiff__pd_emit_in(skiff__pd_ctx *c, const char *domain, const char *op_type,
                                  const int *ins, int n_in, const char *const *outs, int n_out,
                                  skiff__node **out_node);
/* Node attributes (at most 8 per node). */
skiff_status_t *skiff__pd_node_attr_int(skiff__node *n, const char *name, int64_t v);
skiff_status_t *skiff__pd_node_attr_float(skiff__node *n, const char *name, float v);
skiff_status_t *skiff__pd_node_attr_str(skiff__node *n, const char *name, const char *v);
skiff_status_t *skiff__pd_node_attr_ints(skiff__node *n, const char *name, const int64_t *v,
                                         int count);
skiff_status_t *skiff__pd_node_attr_floats(skiff__node *n, const char *name, const float *v,
                                           int count);
/* An op's attributes, or def when absent. */
double skiff__pd_attr_float(const pd_op *op, const char *name, double def);
bool skiff__pd_attr_bool(const pd_op *op, const char *name, bool def);
const char *skiff__pd_attr_str(const pd_op *op, const char *name, const char *def);
/* An int list attribute (ints or longs) into v (at most cap); its count, or
 * -1 when absent. */
int skiff__pd_attr_ints(const pd_op *op, const char *name, int64_t *v, int cap);
/* A new constant value named after `base` (the value index, -1 when out of
 * memory); const_i64: an int64 vector. */
int skiff__pd_add_const(skiff__pd_ctx *c, const char *base, skiff_dtype_t dt, int ndim,
                        const int64_t *dims, const void *data);
int skiff__pd_const_i64(skiff__pd_ctx *c, const char *base, const int64_t *v, int n);
/* Rank of a variable from its value or VarDesc, -1 unknown. */
int skiff__pd_rank_of(skiff__pd_ctx *c, const char *name);
/* The op's output variable in slot Out (an op without one is refused). */
skiff_status_t *skiff__pd_out_slot(const pd_op *op, const char **out);
/* The value of input `name` (slot `slotname`), refused when not defined yet. */
skiff_status_t *skiff__pd_need(skiff__pd_ctx *c, const pd_op *op, const char *name,
                               const char *slotname, int *out);
/* A fresh name for a value a mapping adds: base@whatN. */
void skiff__pd_tmp_name(skiff__pd_ctx *c, char *buf, size_t cap, const char *base,
                        const char *what);

/* ---- the op registry ---- */

/* One Paddle op type and the function that maps it; `arg` is passed through
 * (an ONNX op name where one mapping serves several types). Tables end with
 * a row whose type is NULL. */
typedef struct skiff__pd_map {
    const char *type;
    skiff_status_t *(*map)(skiff__pd_ctx *c, const pd_op *op, const char *arg);
    const char *arg;
} skiff__pd_map;

/* The tables, one per file of mappings (paddle_ops*.c). */
extern const skiff__pd_map skiff__pd_ops_basic[];
extern const skiff__pd_map skiff__pd_ops_quant[];
extern const skiff__pd_map skiff__pd_ops_more[];
extern const skiff__pd_map skiff__pd_ops_detect[];
extern const skiff__pd_map skiff__pd_ops_seq[];

/* ---- paddle_ops_seq.c: LoD ---- */

/* The graph value of the LoD offsets that travel with variable `name`, or -1
 * when it has none: its own entry, else that of the input of the op that
 * computes it when that op keeps its input's rows in order (elementwise ops,
 * activations, mul, lookup_table, gru, ...); sequence_pool and ops that
 * reorder or reduce rows drop it. */
int skiff__pd_lod_of(skiff__pd_ctx *c, const char *name);
/* Records that `name` carries the LoD in graph value `value`; false when the
 * table is full. */
bool skiff__pd_lod_set(skiff__pd_ctx *c, const char *name, int value);

/* paddle.c: the newest version of an op that skiff reads (0 for most). */
int skiff__pd_op_version_known(const char *op);

/* Maps one op into graph nodes; *known false (and NULL) for an op with no
 * mapping. */
skiff_status_t *skiff__pd_map_op(skiff__pd_ctx *c, const pd_op *op, bool *known);
/* Calls fn for every Paddle op type mapped, in table order. */
void skiff__pd_foreach(void (*fn)(const char *type, const char *table, void *arg), void *arg);

#endif
