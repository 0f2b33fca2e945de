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

/* A program being mapped into a graph. */
typedef struct skiff__pd_ctx {
    const pd_block *b;
    skiff__graph *g;
    int tmp; /* names of values skiff adds */
} skiff__pd_ctx;

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

/* paddle_ops.c: maps one op into graph nodes; *known false (and NULL) for an
 * op with no mapping. */
skiff_status_t *skiff__pd_map_op(skiff__pd_ctx *c, const pd_op *op, bool *known);

#endif
