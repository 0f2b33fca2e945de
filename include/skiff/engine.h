/* skiff/engine.h - the native ONNX inference engine.
 *
 * A model is loaded once and compiled into an immutable skiff_model_t that any
 * number of threads share. Each thread that runs it owns a skiff_context_t
 * (its buffers, per-shape compiled work, intra-op thread count), so N
 * contexts run one model concurrently without locks.
 *
 *     skiff_model_t *m; skiff_context_t *c;
 *     skiff_model_load("model.onnx", NULL, &m);
 *     skiff_context_new(m, NULL, &c);
 *     skiff_context_run(c, inputs, n_in, outputs);   // outputs borrowed
 *     skiff_context_free(c); skiff_model_free(m);
 */
#ifndef SKIFF_ENGINE_H
#define SKIFF_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "skiff/api.h"
#include "skiff/status.h"
#include "skiff/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct skiff_model skiff_model_t;
typedef struct skiff_context skiff_context_t;

/* Description of a graph input or output. dims[i] is -1 where the dimension
 * is dynamic (symbolic or unknown); ndim is -1 when the rank is unknown. */
typedef struct skiff_value_info {
    const char *name;
    skiff_dtype_t dtype;
    int ndim;
    int64_t dims[SKIFF_MAX_DIMS];
} skiff_value_info_t;

/* Arithmetic the engine runs a model's convolutions and matrix products
 * in (docs/precision.md). FP32 everywhere by default; BF16 runs Conv,
 * ConvTranspose and Gemm/MatMul by constant weights on bfloat16 inputs and
 * weights with float32 accumulation and float32 results, every other op
 * and every graph input and output staying float32; INT8 runs a quantized
 * (QDQ) model's convolutions and products on 8-bit integers. */
typedef enum skiff_precision {
    SKIFF_PRECISION_FP32 = 0,
    SKIFF_PRECISION_BF16 = 1,
    SKIFF_PRECISION_INT8 = 2,
} skiff_precision_t;

/* "fp32", "bf16", "int8". */
SKIFF_API const char *skiff_precision_name(skiff_precision_t p);
/* Parses a precision name as Paddle's --precision takes it (case
 * insensitive; "fp32"/"float32", "bf16"/"bfloat16", "int8"). False for
 * anything else, fp16 included (no CPU kernels). */
SKIFF_API bool skiff_precision_parse(const char *s, skiff_precision_t *out);

typedef struct skiff_model_options {
    int optimize; /* graph passes (fold, fuse); default 1 */
    int verbose;  /* log pass statistics at INFO; default 1 */
    /* A model directory whose files have other names (Paddle's
     * --model_filename / --params_filename): the model file inside the
     * directory (an ONNX file when it ends in .onnx, else a Paddle
     * program) and, for a Paddle program, its combined parameter file
     * (NULL: one file per parameter). NULL: recognised by their names. */
    const char *model_filename;
    const char *params_filename;
    /* Requested precision (default FP32). Where the CPU lacks the
     * instructions (AVX512-BF16 for BF16), the model runs in FP32 and one
     * warning says why; skiff_model_precision tells what is in use. */
    skiff_precision_t precision;
} skiff_model_options_t;

typedef struct skiff_context_options {
    int threads; /* intra-op threads; <= 0: all cores the process may use */
    /* Largest intermediate or output tensor a run may create, in bytes; a
     * run that needs a bigger one fails with RESOURCE_EXHAUSTED naming the
     * node. 0: no limit beyond the engine's own (256 GiB). */
    size_t max_tensor_bytes;
    /* Most multiply-adds one Conv, ConvTranspose, pooling, Gemm, MatMul or
     * recurrent node may take in a run (RESOURCE_EXHAUSTED beyond); 0: no
     * limit. For running models nobody vetted. */
    uint64_t max_node_macs;
    /* Most iterations the Loop, Scan and SequenceMap nodes of a run may take
     * together, nested subgraphs included (RESOURCE_EXHAUSTED beyond, naming
     * the node); 0: 1,048,576. A loop whose trip count and condition come
     * from the model or the request cannot make a run hang. */
    uint64_t max_loop_iterations;
} skiff_context_options_t;

/* True when path is a Paddle inference model skiff_model_load reads: a
 * directory with `__model__` (parameters one file each, or `__params__` /
 * `params`), `inference.pdmodel` + `.pdiparams` or `model.pdmodel` +
 * `.pdiparams`, Paddle 3's `inference.json` (or `model.json`) + `.pdiparams`,
 * or such a program file itself. */
SKIFF_API bool skiff_model_is_paddle(const char *path);

/* Loads and compiles a model: an ONNX file (external data files resolved
 * relative to its directory), or a Paddle inference model (a directory or
 * program file; see skiff_model_is_paddle). opts may be NULL for defaults.
 * Caller owns *out_model (free with skiff_model_free). */
SKIFF_API skiff_status_t *skiff_model_load(const char *path, const skiff_model_options_t *opts,
                                           skiff_model_t **out_model);

/* Same from memory (borrowed for the call only). base_dir resolves external
 * data; NULL disallows it. */
SKIFF_API skiff_status_t *skiff_model_load_buffer(const void *data, size_t size,
                                                  const char *base_dir,
                                                  const skiff_model_options_t *opts,
                                                  skiff_model_t **out_model);

/* Frees a model. All contexts made from it must be freed first. Accepts NULL. */
SKIFF_API void skiff_model_free(skiff_model_t *model);

/* The external data files the model's initializers read, as the model names
 * them (relative to the model file's directory), each once; for a Paddle
 * model, its parameter files (the combined file, or one per parameter).
 * Borrowed. */
SKIFF_API int skiff_model_external_file_count(const skiff_model_t *model);
SKIFF_API const char *skiff_model_external_file(const skiff_model_t *model, int i);

/* For a Paddle model, the name of its program file in its directory
 * (`__model__`, `inference.pdmodel`, ...); NULL for an ONNX model.
 * Borrowed. */
SKIFF_API const char *skiff_model_paddle_program(const skiff_model_t *model);

/* The precision the model runs in (after any fallback), and how many of
 * its nodes run in it: the convolutions and products that run in reduced
 * precision (0 for FP32). */
SKIFF_API skiff_precision_t skiff_model_precision(const skiff_model_t *model);
SKIFF_API int skiff_model_reduced_nodes(const skiff_model_t *model);

/* Bytes of weights the model holds: *out_constant its constants as loaded
 * (initializers and folded values), *out_packed the copies its convolutions
 * and matrix products packed into the layouts their kernels read. Packing
 * happens at a context's first run of each input shape; a constant that
 * only its packing node reads is then released, so after a first run the
 * weights are held about once, mostly packed. Any thread. */
SKIFF_API void skiff_model_weight_stats(const skiff_model_t *model, size_t *out_constant,
                                        size_t *out_packed);

/* Graph inputs (initializers excluded) and outputs. Borrowed from the model. */
SKIFF_API int skiff_model_input_count(const skiff_model_t *model);
SKIFF_API int skiff_model_output_count(const skiff_model_t *model);
SKIFF_API const skiff_value_info_t *skiff_model_input(const skiff_model_t *model, int index);
SKIFF_API const skiff_value_info_t *skiff_model_output(const skiff_model_t *model, int index);

/* Index of an input/output by name, or -1. */
SKIFF_API int skiff_model_input_index(const skiff_model_t *model, const char *name);
SKIFF_API int skiff_model_output_index(const skiff_model_t *model, const char *name);

/* Creates an execution context. opts may be NULL. Caller owns the result.
 * Threads: one thread at a time per context; contexts of one model may run
 * concurrently. */
SKIFF_API skiff_status_t *skiff_context_new(const skiff_model_t *model,
                                            const skiff_context_options_t *opts,
                                            skiff_context_t **out_context);

SKIFF_API void skiff_context_free(skiff_context_t *context);

/* Runs the model. inputs[i] is the tensor for model input i (in
 * skiff_model_input order), borrowed for the call. On success outputs[j]
 * points at output j, owned by the context and valid until the next run or
 * skiff_context_free. Errors name the input or node at fault. */
SKIFF_API skiff_status_t *skiff_context_run(skiff_context_t *context,
                                            const skiff_tensor_t *const *inputs, int n_inputs,
                                            const skiff_tensor_t **outputs);

/* Peak bytes of intermediate buffers the last run held at once, and the sum
 * of all intermediate buffers (what a plan without reuse would need). */
SKIFF_API void skiff_context_memory_stats(const skiff_context_t *context, size_t *out_peak,
                                          size_t *out_naive);

/* What the context holds beside the model, from its runs so far: in
 * *out_buffers its pool of intermediate buffers (the peak above, plus what
 * reuse could not fit), in *out_scratch the one scratch buffer every node's
 * temporary work shares (oneDNN scratchpads, inputs and outputs reordered to
 * a kernel's layout), grown to the largest any node asked for. The weights
 * are the model's, shared by every context. */
SKIFF_API void skiff_context_memory_held(const skiff_context_t *context, size_t *out_buffers,
                                         size_t *out_scratch);

/* Threads under shared cores: a context with more than one thread runs on
 * half of them while that is measured to be faster (a neighbour holding one
 * of the cores; docs/configuration.md, "Shared cores"). The thread count the
 * last run used, the reduced count, the runs made on the reduced count so far
 * and the times the context changed between the two. SKIFF_THREADS_ADAPT=0
 * in the environment when the context is created keeps the full count. */
SKIFF_API void skiff_context_thread_stats(const skiff_context_t *context, int *out_threads,
                                          int *out_reduced_threads, uint64_t *out_reduced_runs,
                                          uint64_t *out_switches);

/* Per-operator timing. When on, each run adds every node's wall time to a
 * per-op-type table; skiff_context_profile_write() prints the table, most
 * expensive first, and resets it. Off by default (costs two clock reads per
 * node). */
SKIFF_API void skiff_context_set_profiling(skiff_context_t *context, int on);
SKIFF_API void skiff_context_profile_write(skiff_context_t *context, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
