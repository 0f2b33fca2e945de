/* fuzz_paddle_pir.c - Paddle 3's PIR programs: the JSON reader and the
 * translation of PIR ops into legacy ones (src/engine/paddle_pir.c), then
 * what the ProgramDesc loader shares with it: the tensor-stream reader of the
 * combined parameters, the checks against each variable, feed/fetch and the
 * op mappings into the graph.
 *
 * Input: 4 bytes (little-endian) of program length, the program's JSON text,
 * then the combined parameter file; both are written to a private directory
 * as inference.json and inference.pdiparams and loaded as a user's model
 * would be. Seeds: corpus/fuzz_paddle_pir/, small programs and parameters
 * that tools/paddle_seeds.py writes with the builder of
 * tests/paddle_ops/cases_pir.py (nothing of a real model). fuzz_paddle_pir.dict
 * holds the format's keys and op names.
 *
 * Beyond "no crash, no leak": a refusal is a clean status; a model that loads
 * runs once on zeros of its declared input shapes (batch 1), as fuzz_paddle.c
 * does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "fuzz.h"
#include "skiff/skiff.h"

static char dir[64];

static void cleanup(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/inference.json", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/inference.pdiparams", dir);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    snprintf(dir, sizeof(dir), "/tmp/skiff-fuzz-pir-XXXXXX");
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    atexit(cleanup);
    return 0;
}

static void put(const char *name, const uint8_t *data, size_t n)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    if (n)
        FUZZ_CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

/* Runs m once on zeros of its declared input shapes (unknown dims: 1). */
static void run_once(skiff_model_t *m)
{
    int n_in = skiff_model_input_count(m);
    skiff_tensor_t *in[8] = {0};
    bool ok = n_in <= 8;
    for (int i = 0; ok && i < n_in; i++) {
        const skiff_value_info_t *vi = skiff_model_input(m, i);
        int64_t dims[SKIFF_MAX_DIMS];
        int64_t numel = 1;
        for (int d = 0; d < vi->ndim; d++) {
            dims[d] = vi->dims[d] > 0 ? vi->dims[d] : 1;
            if (dims[d] > 4096 || __builtin_mul_overflow(numel, dims[d], &numel))
                numel = 4097; /* too big to run here */
        }
        ok = vi->ndim >= 0 && numel <= 4096 && vi->dtype != SKIFF_DTYPE_STRING;
        if (ok) {
            skiff_status_t *tst = skiff_tensor_new(vi->dtype, vi->ndim, dims, &in[i]);
            ok = tst == NULL;
            skiff_status_free(tst);
        }
        if (ok)
            memset(in[i]->data, 0, in[i]->nbytes);
    }
    if (ok) {
        skiff_context_t *ctx = NULL;
        skiff_context_options_t co = {
            .threads = 1, .max_tensor_bytes = (size_t)16 << 20, .max_node_macs = 1 << 24};
        if (!skiff_context_new(m, &co, &ctx)) {
            const skiff_tensor_t *outs[64];
            if (skiff_model_output_count(m) <= 64)
                skiff_status_free(
                    skiff_context_run(ctx, (const skiff_tensor_t *const *)in, n_in, outs));
        }
        skiff_context_free(ctx);
    }
    for (int i = 0; i < 8; i++)
        skiff_tensor_free(in[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t plen = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                    (uint32_t)data[3] << 24;
    if (plen > size - 4)
        plen = (uint32_t)(size - 4);
    put("inference.json", data + 4, plen);
    put("inference.pdiparams", data + 4 + plen, size - 4 - plen);
    skiff_model_t *m = NULL;
    skiff_status_t *st = skiff_model_load(dir, NULL, &m);
    if (st) {
        FUZZ_CHECK(m == NULL && skiff_status_message(st)[0] != '\0');
        skiff_status_free(st);
        return 0;
    }
    run_once(m);
    skiff_model_free(m);
    return 0;
}
