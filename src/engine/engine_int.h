/* engine_int.h - the engine's private graph IR and kernel interface.
 *
 * A loaded model is a skiff__graph: values (every tensor name: inputs,
 * initializers, intermediates, outputs) and nodes in topological order. Each
 * node is bound at load time to a skiff__op from the registry. At run time
 * the executor walks the nodes; each kernel reads its inputs, computes its
 * output shapes itself, asks the context for output buffers with
 * skiff__kctx_output() and fills them. Shape inference and execution are one
 * function, so a kernel's shape rule can never drift from what it computes.
 *
 * Kernels may keep two kinds of state:
 *   node->prep   immutable, made once at load by op->prepare (packed weights);
 *                shared by all contexts.
 *   *kctx->cache mutable, per context and node (e.g. oneDNN primitives
 *                compiled for the last input shape); freed by op->cache_free.
 */
#ifndef SKIFF_ENGINE_INT_H
#define SKIFF_ENGINE_INT_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"
#include "skiff/engine.h"

typedef enum skiff__attr_type {
    SKIFF_ATTR_UNDEFINED = 0,
    SKIFF_ATTR_FLOAT = 1,
    SKIFF_ATTR_INT = 2,
    SKIFF_ATTR_STRING = 3,
    SKIFF_ATTR_TENSOR = 4,
    SKIFF_ATTR_GRAPH = 5,
    SKIFF_ATTR_FLOATS = 6,
    SKIFF_ATTR_INTS = 7,
    SKIFF_ATTR_STRINGS = 8,
} skiff__attr_type;

typedef struct skiff__attr {
    char *name;
    skiff__attr_type type;
    int64_t i;
    float f;
    char *s; /* NUL-terminated copy */
    size_t s_len;
    int64_t *ints;
    float *floats;
    char **strings;
    int n; /* element count of ints / floats / strings */
    skiff_tensor_t *t;
    /* SKIFF_ATTR_GRAPH: the subgraph as parsed (g), then compiled (sub,
     * which owns it from then on: compile.c), and for each of its captured
     * inputs (g->inputs[g->n_formal + j]) the node input that feeds it
     * (sub_in[j], an index into node->in). All owned by the attribute. */
    struct skiff__graph *g;
    struct skiff_model *sub;
    int *sub_in;
} skiff__attr;

/* Activation fused into a producing Conv/Gemm/MatMul by the fusion pass. */
typedef enum skiff__act {
    SKIFF_ACT_NONE = 0,
    SKIFF_ACT_RELU,
    SKIFF_ACT_CLIP, /* alpha = min, beta = max */
    SKIFF_ACT_SIGMOID,
    SKIFF_ACT_HARDSIGMOID, /* alpha, beta as ONNX */
    SKIFF_ACT_HARDSWISH,
    SKIFF_ACT_LEAKYRELU, /* alpha */
    SKIFF_ACT_TANH,
    SKIFF_ACT_LINEAR,    /* alpha * x + beta: a Mul, Add or Sub by a constant scalar */
    SKIFF_ACT_GELU,      /* x/2 (1 + erf(x / sqrt 2)) */
    SKIFF_ACT_GELU_TANH, /* Gelu's approximate="tanh" form */
} skiff__act;

/* Activations a node carries at most. */
#define SKIFF_MAX_ACTS 4

typedef struct skiff__fused_act {
    skiff__act kind;
    float alpha, beta;
} skiff__fused_act;

struct skiff__op;

typedef struct skiff__node {
    char *name;
    char *op_type;
    char *domain;
    int opset; /* opset version of the node's domain in this model */
    int n_in, n_out;
    int *in; /* value indices; -1 for an omitted optional input */
    int *out;
    int n_attrs;
    skiff__attr *attrs;
    const struct skiff__op *op;
    void *prep; /* op->prepare's immutable state */
    /* Set by fusion passes: */
    skiff__fused_act act[SKIFF_MAX_ACTS]; /* applied in order after the op */
    int n_act;
    int sum_input; /* value index added to the output after the op (sum post-op), or -1 */
    /* Set by skiff__plan_layouts: in[0], the sum input and out[0] are held
     * channels-last (N, spatial..., C) rather than row-major. */
    bool x_cl, sum_cl, y_cl;
    /* Set by skiff__plan_precision: the node's convolution or product runs
     * on bfloat16 inputs and weights (float32 accumulation and result);
     * y_bf16: a bf16 Conv whose every reader is a bf16 convolution also
     * writes its result as bfloat16 (where its post-ops run in oneDNN),
     * so the readers skip their float32 -> bfloat16 conversion. */
    bool bf16, y_bf16;
    bool dead;
    /* A node with subgraphs (If, Loop, Scan, SequenceMap): the last
     * n_implicit of in[] are values of this graph (or, through it, of the
     * graphs around it) that its subgraphs read. They are ordinary inputs to
     * every pass and to liveness, so they are neither freed nor folded
     * away while the node still needs them. */
    int n_implicit;
} skiff__node;

typedef struct skiff__value {
    char *name;
    skiff_dtype_t dtype; /* declared, UNDEFINED when unknown */
    int ndim;            /* declared, -1 when unknown */
    int64_t dims[SKIFF_MAX_DIMS];
    skiff_tensor_t *constant; /* initializer or folded constant; owned by the graph */
    int producer;             /* node index or -1 */
    int n_consumers;          /* live node inputs + graph outputs referencing it */
    bool is_input, is_output;
    /* A graph input whose declared sizes (hint) are what the model was
     * exported with, not a requirement: dims holds -1 there, so any size
     * runs; the model's input info shows the hint (a Paddle feed without
     * need_check_feed). */
    bool hinted;
    int64_t hint[SKIFF_MAX_DIMS];
} skiff__value;

typedef struct skiff__graph {
    skiff__value *values;
    int n_values, cap_values;
    skiff__node *nodes;
    int n_nodes, cap_nodes;
    int *inputs; /* graph inputs that are not initializers */
    int n_inputs;
    int *outputs;
    int n_outputs;
    int opset; /* default-domain opset */
    char *name;
    int *hash;        /* open-addressing name -> value index table, -1 empty */
    int hash_cap;     /* power of two, > 2 * n_values */
    char **ext_files; /* external data files of initializers, as the model names them */
    int n_ext_files;
    char *paddle_program; /* a Paddle model's program file name; NULL for ONNX */
    /* A subgraph (the body of an If, Loop, Scan or SequenceMap): inputs[0,
     * n_formal) are its declared inputs, the rest the values it reads from
     * the graphs around it, captured[j] being inputs[n_formal + j]'s value
     * in the enclosing graph. depth: 0 for the model's graph, 1 for its
     * subgraphs and so on. */
    int n_formal;
    int *captured;
    int depth;
    bool is_sub;
    struct skiff__graph *outer; /* the enclosing graph, while parsing only */
} skiff__graph;

/* ---- kernel interface ---- */
typedef struct skiff__exec skiff__exec;

typedef struct skiff__kctx {
    const skiff__node *node;
    const skiff__graph *graph;
    const skiff_tensor_t *const *in; /* NULL entries for omitted optional inputs */
    int n_in;
    skiff_tensor_t **out; /* filled by skiff__kctx_output */
    int n_out;
    void **cache; /* per-context, per-node mutable state */
    int threads;  /* intra-op threads for this context */
    skiff__exec *exec;
} skiff__kctx;

/* Where a kernel runs. Only CPU kernels exist today; a CUDA backend adds its
 * own tables (src/engine/kernels/cuda) with the same rows. */
typedef enum skiff__backend {
    SKIFF_BACKEND_CPU = 0,
    SKIFF_BACKEND_CUDA,
} skiff__backend;

/* Operator domains. ONNX's default domain is written "" in models and
 * "ai.onnx" in some; the registry treats both as one. skiff's own fused ops,
 * if any, live in "skiff", so a custom domain's op can never resolve to an
 * ONNX op of the same name. */
#define SKIFF_DOMAIN_ONNX ""
#define SKIFF_DOMAIN_SKIFF "skiff"
/* Kernels of Paddle ops that no ONNX op computes the same way (Paddle's
 * detection, sequence and fake-quantization ops); only the Paddle loader
 * emits nodes of this domain. */
#define SKIFF_DOMAIN_PADDLE "paddle"

/* One row of an op table: written with designated initializers, so members
 * left out are NULL / 0 (.domain NULL = the ONNX default domain, .backend 0 =
 * CPU). See docs/contributing-ops.md. */
typedef struct skiff__op {
    const char *type;       /* op_type as in the model */
    const char *domain;     /* NULL or "" for ONNX's default domain */
    int min_opset;          /* oldest opset form implemented (1 when all) */
    skiff__backend backend; /* SKIFF_BACKEND_CPU unless said */
    /* Optional, at load time after constant folding: validate attributes and
     * constant inputs, pre-pack weights into node->prep. */
    skiff_status_t *(*prepare)(skiff__node *node, const skiff__graph *graph);
    skiff_status_t *(*run)(skiff__kctx *ctx);
    void (*prep_free)(void *prep); /* optional */
    /* Optional: bytes node->prep holds (weights packed for the kernel), and
     * in *out_source those of the model's constants it took over and still
     * holds as loaded (skiff_model_weight_stats). Any thread. */
    size_t (*prep_bytes)(void *prep, size_t *out_source);
    void (*cache_free)(void *cache); /* optional */
    unsigned flags;                  /* SKIFF_OP_* */
} skiff__op;

/* The kernel applies node->act[] after its result, so the fusion pass may
 * fold a following activation node into it. */
#define SKIFF_OP_FUSES_ACT 1u
/* The kernel adds the tensor in ctx->in[ctx->n_in] (node->sum_input) to its
 * result, so the fusion pass may fold a following Add into it. */
#define SKIFF_OP_FUSES_SUM 2u
/* The kernel reads in[0] (and the fused sum) channels-last when
 * node->x_cl (node->sum_cl) says so. */
#define SKIFF_OP_CL_X 4u
/* Never constant-folded (sequence ops: their values are not model
 * constants). */
#define SKIFF_OP_NO_FOLD 32u
/* The kernel takes sequence and optional values (SKIFF__DTYPE_SEQUENCE,
 * SKIFF__DTYPE_OPTIONAL) as inputs; the executor refuses them to any
 * other. */
#define SKIFF_OP_TAKES_SEQ 64u
/* The kernel writes out[0] channels-last when node->y_cl says so. */
#define SKIFF_OP_CL_Y 8u
/* ...but only in the layout its in[0] has (x_cl == y_cl). */
#define SKIFF_OP_CL_SAME 16u
/* The CL_* flags hold only where in[1] and in[2] (a QuantizeLinear's or
 * DequantizeLinear's scale and zero point), when given, are constant
 * scalars: then each value maps to one value, whatever the layout. */
#define SKIFF_OP_CL_SCALAR 128u

/* Allocates output `idx` with the given type and shape from the context's
 * buffer pool and stores it in ctx->out[idx]. The data is uninitialised.
 * Returns NULL with an error in *st on failure. */
skiff_tensor_t *skiff__kctx_output(skiff__kctx *ctx, int idx, skiff_dtype_t dtype, int ndim,
                                   const int64_t *dims, skiff_status_t **st);

/* The same, but output `idx` takes over the buffer of input `in_idx`
 * (ctx->in index; n_in for the fused sum) when that input dies at this node
 * and has the same type and shape, so the kernel can accumulate into it in
 * place; otherwise a fresh buffer, as skiff__kctx_output. The kernel must
 * allow for out->data == in->data. */
skiff_tensor_t *skiff__kctx_output_over(skiff__kctx *ctx, int idx, int in_idx, skiff_dtype_t dtype,
                                        int ndim, const int64_t *dims, skiff_status_t **st);

/* Makes output `idx` share input `in_idx`'s data with a new shape (Reshape,
 * Squeeze, Identity...). The element count must match. */
skiff_status_t *skiff__kctx_alias(skiff__kctx *ctx, int idx, int in_idx, int ndim,
                                  const int64_t *dims);

/* A buffer of at least `size` bytes (64-byte aligned) for the running
 * node's temporary work, shared by all the nodes of a context: valid until
 * the node returns. NULL when out of memory. */
void *skiff__kctx_scratch(skiff__kctx *ctx, size_t size);

/* n rounded up to whole pages: a kernel that carves several buffers out of
 * its scratch starts each part page-aligned. */
static inline size_t skiff__page_up(size_t n) { return (n + 4095) & ~(size_t)4095; }

/* The compute guard: an error when a node's work (about `macs` multiply-adds)
 * is over the context's max_node_macs. Heavy kernels call it once their
 * shapes are known, before they compute. */
skiff_status_t *skiff__kctx_cost(skiff__kctx *ctx, double macs);

/* ---- sequences and optionals ----
 * ONNX's sequence and optional values travel through the executor as
 * tensors of two internal types: `data` is an array of dims[0] owned
 * element tensors (skiff_tensor_t *; for an optional 0 or 1 of them), and
 * SKIFF__SEQ_ELEM(t) holds the element type (so an empty sequence still
 * knows it). They never reach the public API: a graph output of such a type
 * is refused. Elements are copies (skiff__value_clone), so every sequence
 * owns its elements and freeing one (skiff__value_free) frees them. */
#define SKIFF__DTYPE_SEQUENCE ((skiff_dtype_t)64)
#define SKIFF__DTYPE_OPTIONAL ((skiff_dtype_t)65)
#define SKIFF__SEQ_ELEM(t) ((t)->dims[SKIFF_MAX_DIMS - 1])
static inline bool skiff__is_seq(const skiff_tensor_t *t)
{
    return t && (t->dtype == SKIFF__DTYPE_SEQUENCE || t->dtype == SKIFF__DTYPE_OPTIONAL);
}
/* A deep copy of a tensor, sequence or optional; caller owns *out. */
skiff_status_t *skiff__value_clone(const skiff_tensor_t *src, skiff_tensor_t **out);
/* Frees what skiff__value_clone made (elements included); NULL is fine. */
void skiff__value_free(skiff_tensor_t *t);
/* Output `idx` as a sequence (kind SKIFF__DTYPE_SEQUENCE) or optional of n
 * element slots, all NULL, of element type elem; the kernel fills the slots
 * with owned tensors. NULL with *st on failure. */
skiff_tensor_t *skiff__kctx_output_seq(skiff__kctx *ctx, int idx, skiff_dtype_t kind, int64_t n,
                                       int64_t elem, skiff_status_t **st);
/* Output `idx` as a copy of src (a tensor, string tensor, sequence or
 * optional). */
skiff_status_t *skiff__kctx_output_copy(skiff__kctx *ctx, int idx, const skiff_tensor_t *src);

/* ---- subgraphs (exec.c) ----
 * A node with subgraphs runs each in a child context of its own context:
 * made once (skiff__sub_context) and kept in the node's cache, it shares
 * the parent's buffer pool and its limits (max_tensor_bytes, max_node_macs,
 * the loop-iteration budget), and runs the compiled subgraph with the same
 * executor. Values that must outlive a child's run (loop-carried state,
 * scan slices, results) are held in skiff__rt slots, which keep a reference
 * on their pool buffer. */
struct skiff__block;
typedef struct skiff__rt {
    skiff_tensor_t t;         /* data points into blk, or is borrowed when blk is NULL */
    struct skiff__block *blk; /* the pool buffer it holds a reference on */
    int pending;              /* executor use: consumers still to run */
    bool set;
} skiff__rt;

/* A child context for subgraph `sub` of the running node, sharing the
 * context's pool and limits (in constant folding, a context of its own).
 * Caller owns *out (skiff_context_free). */
skiff_status_t *skiff__sub_context(skiff__kctx *ctx, const struct skiff_model *sub,
                                   skiff_context_t **out);
/* Runs child `sc` on in[0..n) (its declared inputs, then its captured
 * ones): a slot with blk NULL is borrowed for the run, one with a buffer
 * shares it. The outputs stay readable (skiff__sub_output) until the next
 * run or skiff__sub_release. */
skiff_status_t *skiff__sub_run(skiff_context_t *sc, skiff__rt *const *in, int n);
const skiff_tensor_t *skiff__sub_output(skiff_context_t *sc, int i);
/* Keeps output i of sc's last run in *h past its next run: a reference on
 * its buffer, or a copy in a pool buffer when it has none (a constant or an
 * input passed through). *h must be empty (set false). */
skiff_status_t *skiff__sub_hold(skiff_context_t *sc, int i, skiff__rt *h);
/* A pool buffer for a tensor of this type and shape in *h (empty). */
skiff_status_t *skiff__sub_alloc(skiff_context_t *sc, skiff_dtype_t dtype, int ndim,
                                 const int64_t *dims, skiff__rt *h);
/* Drops what *h holds (nothing when empty). */
void skiff__rt_release(skiff_context_t *sc, skiff__rt *h);
/* Releases every value of sc's last run, so its buffers go back to the pool. */
void skiff__sub_release(skiff_context_t *sc);
/* Output `idx` of the running node takes over *h (which is left empty); in
 * constant folding, a copy. */
skiff_status_t *skiff__kctx_output_rt(skiff__kctx *ctx, int idx, skiff_context_t *sc, skiff__rt *h);
/* The loop guard: counts n more iterations (of a Loop, Scan or SequenceMap)
 * against the run's budget (skiff_context_options_t.max_loop_iterations,
 * shared by every subgraph of the run); RESOURCE_EXHAUSTED naming the node
 * when it is spent. */
skiff_status_t *skiff__kctx_iterate(skiff__kctx *ctx, uint64_t n);
/* The largest tensor the running node may make (max_tensor_bytes, or the
 * engine's own limit). */
size_t skiff__kctx_max_bytes(const skiff__kctx *ctx);
/* The loop budget of a run when the options set none, and the deepest
 * nesting of subgraphs a model may have. */
#define SKIFF__MAX_LOOP_ITERATIONS ((uint64_t)1 << 20)
#define SKIFF__FOLD_MAX_ITERATIONS ((uint64_t)1 << 8)
#define SKIFF__MAX_SUBGRAPH_DEPTH 16

/* Error naming the node: "node 'conv1' (Conv): <message>". */
skiff_status_t *skiff__kerr(const skiff__kctx *ctx, skiff_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
skiff_status_t *skiff__node_err(const skiff__node *node, skiff_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Attribute lookup; the default is returned when the attribute is absent. */
const skiff__attr *skiff__attr_find(const skiff__node *node, const char *name);
int64_t skiff__attr_int(const skiff__node *node, const char *name, int64_t dflt);
float skiff__attr_float(const skiff__node *node, const char *name, float dflt);
const char *skiff__attr_str(const skiff__node *node, const char *name, const char *dflt);
/* Returns the count (or -1 when absent) and points *out at the borrowed array. */
int skiff__attr_ints(const skiff__node *node, const char *name, const int64_t **out);
int skiff__attr_floats(const skiff__node *node, const char *name, const float **out);

/* ---- small helpers every kernel uses (kernel_util.c) ---- */

/* Intra-op threads for the running node, at least 1. */
static inline int skiff__kctx_threads(const skiff__kctx *ctx)
{
    return ctx->threads > 0 ? ctx->threads : 1;
}

/* Input i, or NULL when the node omits it (an optional input). */
static inline const skiff_tensor_t *skiff__kctx_opt(const skiff__kctx *ctx, int i)
{
    return i < ctx->n_in ? ctx->in[i] : NULL;
}

/* An error naming input i ("missing required input 1 'indices'") when the
 * node omits it; NULL when present. */
skiff_status_t *skiff__kctx_need(const skiff__kctx *ctx, int i, const char *what);

/* "input '<name>': dtype <dt> is not supported" (UNSUPPORTED). */
skiff_status_t *skiff__kctx_bad_dtype(const skiff__kctx *ctx, const char *name, skiff_dtype_t dt);

/* Input i in *out when it is present, has data and a valid shape; else an
 * error naming it ("missing required input 'B'") and *out = NULL. */
skiff_status_t *skiff__kctx_input(const skiff__kctx *ctx, int i, const char *name,
                                  const skiff_tensor_t **out);

/* A buffer of at least `bytes` (64-byte aligned) kept in the node's
 * per-context cache slot (*ctx->cache) and grown, never shrunk, so repeated
 * runs do not allocate; the first `keep` bytes survive a growth (tables
 * built before the size of the rest was known). Ops using it set
 * .cache_free = skiff__kcache_buf_free. NULL with *st on failure. */
void *skiff__kcache_buf(skiff__kctx *ctx, size_t bytes, size_t keep, skiff_status_t **st);
void skiff__kcache_buf_free(void *cache);

/* Stores v as element i of a numeric buffer; integers round to nearest and
 * saturate, as an image pipeline expects of a uint8 resize. Inline: kernels
 * call it per element. */
static inline void skiff__store_f64(void *data, skiff_dtype_t t, int64_t i, double v)
{
#define SKIFF__SAT(T, lo, hi)                                                                      \
    do {                                                                                           \
        double r = nearbyint(v);                                                                   \
        ((T *)data)[i] = r != r ? (T)0 : r < (lo) ? (T)(lo) : r > (hi) ? (T)(hi) : (T)r;           \
    } while (0)
    switch (t) {
    case SKIFF_DTYPE_FLOAT32: ((float *)data)[i] = (float)v; break;
    case SKIFF_DTYPE_FLOAT64: ((double *)data)[i] = v; break;
    case SKIFF_DTYPE_FLOAT16: ((uint16_t *)data)[i] = skiff__f32_to_f16((float)v); break;
    case SKIFF_DTYPE_BFLOAT16: ((uint16_t *)data)[i] = skiff__f32_to_bf16((float)v); break;
    case SKIFF_DTYPE_INT8: SKIFF__SAT(int8_t, -128.0, 127.0); break;
    case SKIFF_DTYPE_UINT8: SKIFF__SAT(uint8_t, 0.0, 255.0); break;
    case SKIFF_DTYPE_INT16: SKIFF__SAT(int16_t, -32768.0, 32767.0); break;
    case SKIFF_DTYPE_UINT16: SKIFF__SAT(uint16_t, 0.0, 65535.0); break;
    case SKIFF_DTYPE_INT32: SKIFF__SAT(int32_t, -2147483648.0, 2147483647.0); break;
    case SKIFF_DTYPE_UINT32: SKIFF__SAT(uint32_t, 0.0, 4294967295.0); break;
    case SKIFF_DTYPE_INT64:
        SKIFF__SAT(int64_t, -9223372036854775808.0, 9223372036854774784.0);
        break;
    case SKIFF_DTYPE_UINT64: SKIFF__SAT(uint64_t, 0.0, 18446744073709549568.0); break;
    default: break;
    }
#undef SKIFF__SAT
}

/* Normalises an axis in [-rank, rank) to [0, rank); false when out of range. */
bool skiff__norm_axis(int64_t axis, int rank, int *out);

/* Numpy-style broadcast of two shapes; false when incompatible. */
bool skiff__broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *out_n,
                            int64_t *out);

/* Reads element i of an integer tensor (int32/int64/uint8/...) as int64. */
int64_t skiff__tensor_get_i64(const skiff_tensor_t *t, int64_t i);
/* Reads element i of a numeric tensor as double. */
double skiff__tensor_get_f64(const skiff_tensor_t *t, int64_t i);

/* ---- registry ---- */
/* Op tables, one per kernel file (src/engine/kernels/cpu/<file>.c exports
 * skiff__ops_<file>), each ending with a {.type = NULL} row; registry.c
 * chains them. */
extern const skiff__op skiff__ops_cast[];
extern const skiff__op skiff__ops_conv[];
extern const skiff__op skiff__ops_einsum[];
extern const skiff__op skiff__ops_elementwise[];
extern const skiff__op skiff__ops_gather[];
extern const skiff__op skiff__ops_gemm[];
extern const skiff__op skiff__ops_layout[];
extern const skiff__op skiff__ops_misc[];
extern const skiff__op skiff__ops_paddle_quant[];
extern const skiff__op skiff__ops_nn[];
extern const skiff__op skiff__ops_paddle_seq[];
extern const skiff__op skiff__ops_pool[];
extern const skiff__op skiff__ops_quant[];
extern const skiff__op skiff__ops_quant_conv[];
extern const skiff__op skiff__ops_quant_matmul[];
extern const skiff__op skiff__ops_reduce[];
extern const skiff__op skiff__ops_resize[];
extern const skiff__op skiff__ops_rnn[];
extern const skiff__op skiff__ops_shape[];
extern const skiff__op skiff__ops_softmax[];
extern const skiff__op skiff__ops_paddle_detect[];
extern const skiff__op skiff__ops_loss[];
extern const skiff__op skiff__ops_detect[];
extern const skiff__op skiff__ops_sample[];
extern const skiff__op skiff__ops_signal[];
extern const skiff__op skiff__ops_bitwise[];
extern const skiff__op skiff__ops_unique[];
extern const skiff__op skiff__ops_strings[];
extern const skiff__op skiff__ops_random[];
extern const skiff__op skiff__ops_control[];
extern const skiff__op skiff__ops_sequence[];

/* The CPU kernel for op_type in `domain` ("" and "ai.onnx" are the same
 * domain; any other must match exactly) whose min_opset <= opset, or NULL. */
const skiff__op *skiff__op_find(const char *domain, const char *op_type, int opset);

/* Every registered op, in table order, for tools and tests: calls fn once
 * per row with the name of its table ("conv" for skiff__ops_conv, which is
 * kernels/cpu/conv.c). */
void skiff__op_foreach(void (*fn)(const skiff__op *op, const char *table, void *arg), void *arg);

/* ---- graph ---- */
/* drop_pages: data is a mapping of skiff__map_file's whose pages may be
 * dropped as the loader is done with them (see onnx.c). */
skiff_status_t *skiff__onnx_parse(const void *data, size_t size, const char *base_dir,
                                  bool drop_pages, skiff__graph **out_graph);
void skiff__graph_free(skiff__graph *g);
/* Binds every live node to its kernel; one error lists every op without one. */
skiff_status_t *skiff__graph_bind_kernels(skiff__graph *g);

/* paddle.c: a Paddle inference model: the program at model_path (a
 * ProgramDesc, or a PIR program when it ends in .json: paddle_pir.c), its
 * parameters in params_path (combined) or, when that is NULL or "", one file
 * per parameter in dir. */
skiff_status_t *skiff__paddle_parse(const char *dir, const char *model_path,
                                    const char *params_path, skiff__graph **out_graph);
/* The program and combined-params files of a Paddle model directory
 * (__model__ [+ __params__ | params], inference.pdmodel + .pdiparams,
 * model.pdmodel + .pdiparams, inference.json / model.json + .pdiparams);
 * params "" for separate parameter files.
 * false when dir holds no Paddle model. */
bool skiff__paddle_find(const char *dir, char *model, size_t mcap, char *params, size_t pcap);
int skiff__graph_find_value(const skiff__graph *g, const char *name);
/* Adds a value (name copied); returns its index or -1 on OOM. */
int skiff__graph_add_value(skiff__graph *g, const char *name);
void skiff__graph_recount(skiff__graph *g);
void skiff__node_free_fields(skiff__node *n);

/* Decodes one serialized onnx.TensorProto (e.g. a conformance test's
 * input_0.pb). Caller owns *out_tensor; *out_name (may be NULL) gets a copy of
 * the tensor's name, freed with skiff__free. */
skiff_status_t *skiff__onnx_read_tensor(const void *data, size_t size, skiff_tensor_t **out_tensor,
                                        char **out_name);

/* ---- passes (passes.c) ---- */
typedef struct skiff__pass_stats {
    int removed_identity, folded, dead, bn_folded, act_fused, sum_fused, gelu_fused, ln_fused,
        hardswish_fused, bias_folded;
    int scale_folded;   /* Mul/Add/Sub of scalars folded into a Conv's weights and bias */
    int qdq_fused;      /* int8: convolutions fused with their (De)QuantizeLinear */
    int qdq_float;      /* int8: quantized convolutions left float (oneDNN cannot run them) */
    int qdq_saturating; /* of qdq_fused, those skiff__conv_q_may_saturate */
    int qdq_sum_fused;  /* of qdq_fused, those that add a quantized residual (fuse_qdq_sums) */
    int qdq_mm_fused;   /* int8: products by constant weights fused with their (De)QuantizeLinear */
} skiff__pass_stats;
/* int8: the quantized (QDQ) convolutions become int8 convolutions (skiff
 * QConv): DequantizeLinear of the input and of constant int8 weights, the
 * Conv, its fused activations and a QuantizeLinear of the result, when
 * oneDNN can run them (skiff__conv_q_unfit). */
skiff_status_t *skiff__graph_optimize(skiff__graph *g, bool int8, skiff__pass_stats *stats);

/* Decides which values are held channels-last (sets the nodes' x_cl,
 * sum_cl and y_cl): those made by one node that can write them so and read
 * only by nodes that can read them so (SKIFF_OP_CL_*), never a graph input,
 * output or constant. oneDNN's convolutions run channels-last, so such an
 * edge skips the two reorders a row-major tensor costs between them.
 * Returns false when out of memory (every layout then stays row-major). */
bool skiff__plan_layouts(skiff__graph *g);

/* Marks the nodes that run in reduced precision (node->bf16) for `p`:
 * Conv and ConvTranspose with constant float32 weights, Gemm and MatMul
 * whose B is a constant float32 matrix; everything else stays float32
 * (softmax, normalisations, reductions, elementwise math, recurrences,
 * graph inputs and outputs). Returns how many it marked. */
int skiff__plan_precision(skiff__graph *g, skiff_precision_t p);

/* Why the int8 convolution node n (inputs in QLinearConv's order; fused:
 * the int8 pass's skiff QConv, whose result may stay float and whose bias
 * is float) cannot run on oneDNN's int8 kernels, or NULL when it can
 * (kernels/cpu/conv.c). */
const char *skiff__conv_q_unfit(const skiff__node *n, const skiff__graph *g, bool fused);

/* Whether uint8 x int8 products of the int8 convolution n can saturate on
 * this CPU: without VNNI, oneDNN (as every engine using vpmaddubsw) adds
 * two u8 x s8 products in int16, which overflows when two neighbouring input
 * channels' weights have |w1| + |w2| > 128 (weights beyond 7 bits). */
bool skiff__conv_q_may_saturate(const skiff__node *n, const skiff__graph *g);

/* Why the int8 product n (skiff QMatMul, inputs in QLinearMatMul's order;
 * y_scale and y_zero_point absent: a float result) cannot run on oneDNN's
 * int8 matmul, or NULL when it can (kernels/cpu/quant_matmul.c). */
const char *skiff__qmatmul_unfit(const skiff__node *n, const skiff__graph *g);

/* Whether this CPU runs bf16 convolutions and products natively
 * (AVX512-BF16 or AMX through oneDNN); when not, *why says so. */
bool skiff__cpu_has_bf16(const char **why);

/* ---- compiled model (compile.c; run by exec.c) ---- */

/* What a node is to the shape memo (see exec.c). */
enum { SKIFF__SHAPE_NONE = 0, SKIFF__SHAPE_ROOT, SKIFF__SHAPE_DERIVED };

struct skiff_model {
    skiff__graph *g;
    skiff_value_info_t *in_info;  /* what skiff_model_input_info shows */
    skiff_value_info_t *in_check; /* what a run's inputs are checked against */
    skiff_value_info_t *out_info;
    int *order; /* live nodes in execution order */
    int n_order;
    unsigned char *shape_kind; /* per node: SKIFF__SHAPE_*; NULL when the graph has no Shape/Size */
    int n_derived;
    skiff_precision_t precision; /* in use, after any fallback */
    int n_reduced;               /* nodes marked by skiff__plan_precision */
};

/* Thread count that follows the cores the context actually gets. With every
 * core to itself a context runs its full thread count; when a neighbour takes
 * one of the cores, a thread that lost its core holds every other thread at
 * the end of each parallel node (oneDNN splits work statically), and runs
 * get several times slower than on fewer threads. The context then measures
 * a few runs on `reduced` threads and keeps whichever mode is faster for the
 * input shape it is being fed, probing the other mode again now and then
 * (more rarely while the choice holds, and never more than about 1% of the
 * time; sooner when the current mode's runs drift above 1.5x the fastest run
 * seen for the shape, the sign of a lost core). The figures are per input
 * shape, so a shape is judged once it has been run a few times; the mode
 * carries over to new shapes. Primitive
 * caches are kept per thread count (dnnl_util.c), so switching back and forth
 * compiles nothing twice. SKIFF_THREADS_ADAPT=0 pins the thread count. */

#define SKIFF__ADAPT_RUNS_MIN 2
#define SKIFF__ADAPT_RUNS_MAX 64
#define SKIFF__ADAPT_NS_MIN 10000000ull   /* 10 ms */
#define SKIFF__ADAPT_NS_MAX 2000000000ull /* 2 s */
#define SKIFF__ADAPT_SLOW 1.5             /* a run this much over the shape's fastest: contention */
#define SKIFF__ADAPT_WIN 0.9              /* the other mode must be this much faster to switch */
typedef struct skiff__thr_adapt {
    bool on;
    int threads[2];      /* [0] full, [1] reduced */
    int cur;             /* the mode runs use */
    uint64_t sig;        /* the input shapes the figures below are for */
    int seen[2];         /* runs per mode for sig; the first compiles, so it is not timed */
    double ewma[2];      /* recent run time per mode (ns); 0: none yet */
    double best[2];      /* fastest run per mode for sig (ns) */
    bool suspect;        /* the current mode looks starved: probe the other */
    uint64_t since;      /* runs since the last probe */
    uint64_t last_ns;    /* when the last probe ran */
    uint64_t last_extra; /* what it cost over a run of the current mode */
    uint64_t period_runs, period_ns;
    uint64_t switches, reduced_runs;
    int probe_n;      /* timed runs of the try in progress */
    double probe_sum; /* and their sum (ns) */
} skiff__thr_adapt;

void skiff__adapt_init(skiff__thr_adapt *a, int threads);
/* The mode (0 full, 1 reduced) a run with input shapes `sig` starting at
 * `now` (ns) uses; then skiff__adapt_note with what it took. */
int skiff__adapt_pick(skiff__thr_adapt *a, uint64_t sig, uint64_t now);
void skiff__adapt_note(skiff__thr_adapt *a, int mode, uint64_t dt, uint64_t now);

/* True when the node, or a node of one of its subgraphs, does not compute
 * a function of its inputs (random ops, other domains): never folded nor
 * answered from the shape memo. */
bool skiff__node_nondeterministic(const skiff__node *n);
/* Compiles every subgraph of g's nodes (attr->g into attr->sub), innermost
 * first, with the model's options. */
skiff_status_t *skiff__compile_subgraphs(skiff__graph *g, const skiff_model_options_t *opts);

/* exec.c: nodes answered from the shape memo so far (tests). */
uint64_t skiff__context_memo_hits(const skiff_context_t *c);
/* compile.c: values the layout plan holds channels-last (tests). */
int skiff__model_cl_values(const skiff_model_t *m);
/* kernels/cpu/conv.c: times the convolution kernels were timed against
 * each other in this process, one per node and shape class (tests). */
uint64_t skiff__conv_trials(void);
/* Evaluates one node whose inputs are all constants, storing its outputs as
 * constants. Used by constant folding. */
skiff_status_t *skiff__fold_node(skiff__graph *g, int node_index, bool *too_big);

/* The largest tensor a kernel may create (256 GiB), and the largest a
 * constant-folded value may be: bigger results stay computed at run time
 * rather than stored in the model (*too_big from skiff__fold_node, which is
 * also set when a node is over SKIFF__FOLD_MAX_MACS). */
#define SKIFF__MAX_TENSOR_BYTES ((size_t)1 << 38)
#define SKIFF__FOLD_MAX_BYTES ((size_t)64 << 20)
/* Nor does folding run a node that needs more than this much arithmetic. */
#define SKIFF__FOLD_MAX_MACS ((uint64_t)1 << 30)

#endif
