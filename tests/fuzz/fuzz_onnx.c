/* fuzz_onnx.c - loading a model from bytes (skiff_model_load_buffer, no base
 * directory, so external data is refused), then running it once.
 *
 * A model file is outside input: `skiff serve` loads whatever the user points
 * it at, and a model repository may be writable by others. So loading must
 * turn any bytes into either a model or a clean error, and a model that
 * loaded must run on inputs of its declared shapes (zeros; dynamic dims taken
 * as 1) to either outputs or an error, never a crash or a leak. Runs are
 * skipped when the inputs would be large, to keep each execution fast. */
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "skiff/engine.h"

/* Largest total element count of the inputs a fuzzed model is run with. */
#define FUZZ_ONNX_MAX_INPUT_ELEMS 4096

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

static void check_info(const skiff_value_info_t *vi)
{
    FUZZ_CHECK(vi != NULL && vi->name != NULL);
    FUZZ_CHECK(vi->ndim >= -1 && vi->ndim <= SKIFF_MAX_DIMS);
}

/* Builds zero inputs of the declared shapes; false when a run should be
 * skipped (too big, unknown rank or a dtype we do not make). */
static bool make_inputs(const skiff_model_t *m, int n_in, skiff_tensor_t **ins)
{
    int64_t total = 0;
    for (int i = 0; i < n_in; i++) {
        const skiff_value_info_t *vi = skiff_model_input(m, i);
        if (vi->ndim < 0 || skiff_dtype_size(vi->dtype) == 0 || vi->dtype == SKIFF_DTYPE_STRING)
            return false;
        int64_t dims[SKIFF_MAX_DIMS];
        int64_t numel = 1;
        for (int d = 0; d < vi->ndim; d++) {
            dims[d] = vi->dims[d] < 0 ? 1 : vi->dims[d];
            if (dims[d] > FUZZ_ONNX_MAX_INPUT_ELEMS)
                return false;
            numel *= dims[d];
            if (numel > FUZZ_ONNX_MAX_INPUT_ELEMS)
                return false;
        }
        total += numel;
        if (total > FUZZ_ONNX_MAX_INPUT_ELEMS)
            return false;
        skiff_status_t *st = skiff_tensor_new(vi->dtype, vi->ndim, dims, &ins[i]);
        if (st) {
            skiff_status_free(st);
            return false;
        }
    }
    return true;
}

static void run_once(const skiff_model_t *m)
{
    int n_in = skiff_model_input_count(m);
    int n_out = skiff_model_output_count(m);
    FUZZ_CHECK(n_in >= 0 && n_out >= 0);
    for (int i = 0; i < n_in; i++) {
        const skiff_value_info_t *vi = skiff_model_input(m, i);
        check_info(vi);
        FUZZ_CHECK(skiff_model_input_index(m, vi->name) >= 0);
    }
    for (int i = 0; i < n_out; i++)
        check_info(skiff_model_output(m, i));

    /* Bounded intermediates and per-node work: a fuzzed model may pad or
     * tile its way to gigabytes, or ask a convolution for a 512x512 kernel
     * over a padded plane - slow work rather than a bug; and a Loop may
     * ask for 2^62 iterations. */
    skiff_context_options_t copts = {.threads = 1,
                                     .max_tensor_bytes = (size_t)16 << 20,
                                     .max_node_macs = (uint64_t)1 << 28,
                                     .max_loop_iterations = 256};
    skiff_context_t *ctx = NULL;
    skiff_status_t *st = skiff_context_new(m, &copts, &ctx);
    if (st) {
        skiff_status_free(st);
        return;
    }
    skiff_tensor_t **ins = skiff__calloc((size_t)n_in + 1, sizeof(*ins));
    const skiff_tensor_t **outs = skiff__calloc((size_t)n_out + 1, sizeof(*outs));
    if (ins && outs && make_inputs(m, n_in, ins)) {
        st = skiff_context_run(ctx, (const skiff_tensor_t *const *)ins, n_in, outs);
        if (!st) {
            for (int j = 0; j < n_out; j++) {
                FUZZ_CHECK(outs[j] != NULL);
                FUZZ_CHECK(outs[j]->nbytes ==
                           (size_t)skiff_tensor_numel(outs[j]) * skiff_dtype_size(outs[j]->dtype));
            }
        }
        skiff_status_free(st);
    }
    if (ins)
        for (int i = 0; i < n_in; i++)
            skiff_tensor_free(ins[i]);
    skiff__free(ins);
    skiff__free(outs);
    skiff_context_free(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    skiff_model_options_t opts = {.optimize = 1, .verbose = 0};
    skiff_model_t *m = NULL;
    skiff_status_t *st = skiff_model_load_buffer(data, size, NULL, &opts, &m);
    if (st) {
        FUZZ_CHECK(m == NULL);
        FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
        skiff_status_free(st);
        return 0;
    }
    FUZZ_CHECK(m != NULL);
    run_once(m);
    skiff_model_free(m);
    /* A model that loads runs again under --precision int8, whose pass
     * rewrites quantized convolutions (and bf16 where the CPU has it). */
    for (int p = SKIFF_PRECISION_BF16; p <= SKIFF_PRECISION_INT8; p++) {
        opts.precision = (skiff_precision_t)p;
        m = NULL;
        st = skiff_model_load_buffer(data, size, NULL, &opts, &m);
        if (st) {
            FUZZ_CHECK(m == NULL);
            skiff_status_free(st);
            continue;
        }
        FUZZ_CHECK(skiff_model_precision(m) == SKIFF_PRECISION_FP32 ||
                   skiff_model_precision(m) == (skiff_precision_t)p);
        if (skiff_model_precision(m) == (skiff_precision_t)p) /* else the fp32 run again */
            run_once(m);
        skiff_model_free(m);
    }
    return 0;
}
