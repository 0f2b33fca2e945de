/* new_shapes.c - what a model's first run at a new input shape costs: one
 * context runs the model once at each shape in turn (shapes it has not seen
 * in this process, so nothing is warm), then runs each shape again REPEAT
 * times for the steady state. The first input takes the shape; it is filled
 * with a fixed pseudo-random pattern in [0, 1).
 *
 *   new_shapes MODEL SHAPE... [--repeat N] [--threads N]
 *
 * SHAPE is written 1x3x480x640. Prints one line per shape:
 *   shape first_ms first_cpu_ms steady_median_ms steady_min_ms steady_cpu_ms
 * where the cpu columns are the process's CPU time during the first run and
 * the median over the repeats (all threads), less sensitive to other load
 * on the machine than the wall times. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skiff/skiff.h"

#define MAX_SHAPES 64

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int parse_shape(const char *s, int64_t *dims)
{
    int n = 0;
    while (*s && n < SKIFF_MAX_DIMS) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 0)
            return -1;
        dims[n++] = v;
        if (*end == 'x')
            end++;
        else if (*end)
            return -1;
        s = end;
    }
    return *s ? -1 : n;
}

static int fail(skiff_status_t *st)
{
    fprintf(stderr, "new_shapes: %s\n", skiff_status_message(st));
    skiff_status_free(st);
    return 1;
}

/* One run at inputs[0]; the time in ms (and the CPU time in *cpu), or < 0. */
static double run_once(skiff_context_t *ctx, skiff_tensor_t **inputs, int n_in, double *cpu)
{
    const skiff_tensor_t *outputs[64];
    double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), t0 = clock_ms(CLOCK_MONOTONIC);
    skiff_status_t *st =
        skiff_context_run(ctx, (const skiff_tensor_t *const *)inputs, n_in, outputs);
    double dt = clock_ms(CLOCK_MONOTONIC) - t0;
    if (cpu)
        *cpu = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
    if (st) {
        fail(st);
        return -1;
    }
    return dt;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL;
    int64_t dims[MAX_SHAPES][SKIFF_MAX_DIMS];
    int nd[MAX_SHAPES], n_shapes = 0, repeat = 5, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            repeat = (int)strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = (int)strtol(argv[++i], NULL, 10);
        } else if (!model_path) {
            model_path = argv[i];
        } else if (n_shapes < MAX_SHAPES &&
                   (nd[n_shapes] = parse_shape(argv[i], dims[n_shapes])) > 0) {
            n_shapes++;
        } else {
            fprintf(stderr, "new_shapes: bad argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!model_path || n_shapes == 0 || repeat < 1) {
        fprintf(stderr, "usage: new_shapes MODEL SHAPE... [--repeat N] [--threads N]\n");
        return 2;
    }
    skiff_model_options_t mo = {.optimize = 1, .verbose = 0};
    skiff_model_t *model = NULL;
    skiff_status_t *st = skiff_model_load(model_path, &mo, &model);
    if (st)
        return fail(st);
    int n_in = skiff_model_input_count(model);
    if (n_in != 1) {
        fprintf(stderr, "new_shapes: the model has %d inputs; only one-input models\n", n_in);
        skiff_model_free(model);
        return 2;
    }
    skiff_context_options_t co = {.threads = threads};
    skiff_context_t *ctx = NULL;
    if ((st = skiff_context_new(model, &co, &ctx))) {
        skiff_model_free(model);
        return fail(st);
    }
    skiff_tensor_t *x[MAX_SHAPES] = {0};
    double first[MAX_SHAPES], first_cpu[MAX_SHAPES];
    int rc = 1;
    for (int s = 0; s < n_shapes; s++) {
        if ((st = skiff_tensor_new(SKIFF_DTYPE_FLOAT32, nd[s], dims[s], &x[s]))) {
            fail(st);
            goto out;
        }
        float *p = x[s]->data;
        uint32_t r = 12345u;
        for (int64_t k = 0; k < skiff_tensor_numel(x[s]); k++) {
            r = r * 1664525u + 1013904223u;
            p[k] = (float)(r >> 8) / 16777216.0f;
        }
    }
    for (int s = 0; s < n_shapes; s++)
        if ((first[s] = run_once(ctx, &x[s], 1, &first_cpu[s])) < 0)
            goto out;
    double *t = malloc(sizeof(double) * 2 * (size_t)repeat);
    if (!t)
        goto out;
    double *c = t + repeat;
    for (int s = 0; s < n_shapes; s++) {
        for (int k = 0; k < repeat; k++)
            if ((t[k] = run_once(ctx, &x[s], 1, &c[k])) < 0) {
                free(t);
                goto out;
            }
        qsort(t, (size_t)repeat, sizeof(double), cmp_double);
        qsort(c, (size_t)repeat, sizeof(double), cmp_double);
        char buf[128];
        printf("%-20s %10.1f %10.1f %10.2f %10.2f %10.2f\n",
               skiff_shape_str(nd[s], dims[s], buf, sizeof(buf)), first[s], first_cpu[s],
               t[repeat / 2], t[0], c[repeat / 2]);
    }
    free(t);
    rc = 0;
out:
    for (int s = 0; s < n_shapes; s++)
        skiff_tensor_free(x[s]);
    skiff_context_free(ctx);
    skiff_model_free(model);
    return rc;
}
