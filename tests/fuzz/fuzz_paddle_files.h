/* fuzz_paddle_files.h - what the two Paddle model fuzz targets (ProgramDesc
 * and PIR) share: the input split into a program file and a combined
 * parameter file, written under the given names to a private directory,
 * loaded as a user's model would be, and, when it loads, run once on zeros
 * of its declared input shapes (unknown dims: 1). A refusal must be a clean
 * status. Each target includes this once. */
#ifndef SKIFF_FUZZ_PADDLE_FILES_H
#define SKIFF_FUZZ_PADDLE_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "fuzz.h"
#include "skiff/skiff.h"

static char pd_dir[64];
static const char *pd_names[2]; /* program, parameters */

static void pd_cleanup(void)
{
    char path[128];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", pd_dir, pd_names[i]);
        unlink(path);
    }
    rmdir(pd_dir);
}

/* For LLVMFuzzerInitialize: the private directory and the two file names. */
static void pd_setup(const char *tag, const char *program, const char *params)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    snprintf(pd_dir, sizeof(pd_dir), "/tmp/skiff-fuzz-%s-XXXXXX", tag);
    FUZZ_CHECK(mkdtemp(pd_dir) != NULL);
    pd_names[0] = program;
    pd_names[1] = params;
    atexit(pd_cleanup);
}

static void pd_put(const char *name, const uint8_t *data, size_t n)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", pd_dir, name);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    if (n)
        FUZZ_CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

/* Runs m once on zeros of its declared input shapes (unknown dims: 1). */
static void pd_run_once(skiff_model_t *m)
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

/* One input: 4 bytes (little-endian) of program length, the program, then
 * the parameters. */
static int pd_fuzz_one(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t plen = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                    (uint32_t)data[3] << 24;
    if (plen > size - 4)
        plen = (uint32_t)(size - 4);
    pd_put(pd_names[0], data + 4, plen);
    pd_put(pd_names[1], data + 4 + plen, size - 4 - plen);
    skiff_model_t *m = NULL;
    skiff_status_t *st = skiff_model_load(pd_dir, NULL, &m);
    if (st) {
        FUZZ_CHECK(m == NULL && skiff_status_message(st)[0] != '\0');
        skiff_status_free(st);
        return 0;
    }
    pd_run_once(m);
    skiff_model_free(m);
    return 0;
}

#endif
