/* fuzz_paddle.c - Paddle's program and parameter files: the ProgramDesc
 * decoder (protobuf-c, framework.proto), the tensor-stream reader of
 * combined parameters, the checks against each VarDesc, feed/fetch, and the
 * op mappings into the graph.
 *
 * Input: 4 bytes (little-endian) of program length, the program, then the
 * combined parameter file; both are written to a private directory as
 * __model__ and __params__ and loaded as a user's model would be. Seeds:
 * corpus/fuzz_paddle/, small programs and parameters tools/paddle_seeds.py
 * builds from src/engine/paddle/framework.proto (a run may add the real
 * models of ../paddle-models as extra seeds; they stay out of the
 * repository).
 *
 * Beyond "no crash, no leak": a refusal is a clean status; a model that loads
 * runs once on zeros of its declared input shapes (batch 1). */
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
    snprintf(path, sizeof(path), "%s/__model__", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/__params__", dir);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    snprintf(dir, sizeof(dir), "/tmp/skiff-fuzz-paddle-XXXXXX");
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t plen = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                    (uint32_t)data[3] << 24;
    if (plen > size - 4)
        plen = (uint32_t)(size - 4);
    put("__model__", data + 4, plen);
    put("__params__", data + 4 + plen, size - 4 - plen);
    skiff_model_t *m = NULL;
    skiff_status_t *st = skiff_model_load(dir, NULL, &m);
    if (st) {
        FUZZ_CHECK(m == NULL && skiff_status_message(st)[0] != '\0');
        skiff_status_free(st);
        return 0;
    }
    /* Run once on zeros of the declared shapes (unknown dims: 1). */
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
    skiff_model_free(m);
    return 0;
}
