/* Unit tests for the engine core: loading, validation, passes, execution,
 * and clean failure on bad models and bad inputs. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* needs the headers above */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "engine/engine_int.h"
#include "onnx.pb-c.h"
#include "skiff/engine.h"

#ifndef SKIFF_TEST_DATA
#error "SKIFF_TEST_DATA must point at tests/data"
#endif
#define DATA(f) SKIFF_TEST_DATA "/" f

static const skiff_model_options_t quiet = {.optimize = 1, .verbose = 0};

static skiff_model_t *load_ok(const char *path)
{
    skiff_model_t *m = NULL;
    skiff_status_t *st = skiff_model_load(path, &quiet, &m);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    return m;
}

static skiff_tensor_t *npy(const char *path)
{
    skiff_tensor_t *t = NULL;
    skiff_status_t *st = skiff__npy_read_file(path, &t);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    return t;
}

static void assert_close(const skiff_tensor_t *got, const skiff_tensor_t *want)
{
    assert_int_equal(got->dtype, want->dtype);
    assert_int_equal(got->ndim, want->ndim);
    for (int i = 0; i < got->ndim; i++)
        assert_int_equal(got->dims[i], want->dims[i]);
    const float *a = got->data, *b = want->data;
    for (int64_t i = 0; i < skiff_tensor_numel(want); i++)
        if (fabsf(a[i] - b[i]) > 1e-4f + 1e-3f * fabsf(b[i]))
            fail_msg("element %lld: got %g, want %g", (long long)i, a[i], b[i]);
}

static void expect_error(skiff_status_t *st, skiff_code_t code, const char *fragment)
{
    if (!st)
        fail_msg("expected an error containing '%s'", fragment);
    if (skiff_status_code(st) != code || !strstr(skiff_status_message(st), fragment))
        fail_msg("got %s '%s', want %s with '%s'", skiff_code_name(skiff_status_code(st)),
                 skiff_status_message(st), skiff_code_name(code), fragment);
    skiff_status_free(st);
}

static void test_mlp_runs(void **state)
{
    skiff_model_t *m = load_ok(DATA("mlp.onnx"));
    assert_int_equal(skiff_model_input_count(m), 1);
    assert_int_equal(skiff_model_output_count(m), 1);
    const skiff_value_info_t *in = skiff_model_input(m, 0);
    assert_string_equal(in->name, "x");
    assert_int_equal(in->ndim, 2);
    assert_int_equal(in->dims[0], -1);
    assert_int_equal(in->dims[1], 4);
    assert_int_equal(skiff_model_output_index(m, "y"), 0);
    skiff_context_t *c;
    assert_null(skiff_context_new(m, NULL, &c));
    skiff_tensor_t *x = npy(DATA("mlp_x.npy")), *y = npy(DATA("mlp_y.npy"));
    const skiff_tensor_t *out[1];
    for (int rep = 0; rep < 3; rep++) { /* reruns reuse pooled buffers */
        skiff_status_t *st = skiff_context_run(c, (const skiff_tensor_t *const *)&x, 1, out);
        if (st)
            fail_msg("%s", skiff_status_message(st));
        assert_close(out[0], y);
    }
    size_t peak, naive;
    skiff_context_memory_stats(c, &peak, &naive);
    assert_true(peak > 0 && naive > 0);
    skiff_tensor_free(x);
    skiff_tensor_free(y);
    skiff_context_free(c);
    skiff_model_free(m);
}

static void test_input_validation(void **state)
{
    skiff_model_t *m = load_ok(DATA("mlp.onnx"));
    skiff_context_t *c;
    assert_null(skiff_context_new(m, NULL, &c));
    const skiff_tensor_t *out[1];
    int64_t d_bad[] = {1, 5};
    skiff_tensor_t *x;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, d_bad, &x));
    expect_error(skiff_context_run(c, (const skiff_tensor_t *const *)&x, 1, out),
                 SKIFF_CODE_INVALID_ARG, "input 'x': expected shape [-1,4], got [1,5]");
    skiff_tensor_free(x);
    int64_t d_ok[] = {1, 4};
    assert_null(skiff_tensor_new(SKIFF_DTYPE_INT64, 2, d_ok, &x));
    expect_error(skiff_context_run(c, (const skiff_tensor_t *const *)&x, 1, out),
                 SKIFF_CODE_INVALID_ARG, "input 'x': expected float32, got int64");
    expect_error(skiff_context_run(c, (const skiff_tensor_t *const *)&x, 0, out),
                 SKIFF_CODE_INVALID_ARG, "expected 1 inputs, got 0");
    skiff_tensor_free(x);
    skiff_context_free(c);
    skiff_model_free(m);
}

static void test_bad_models(void **state)
{
    skiff_model_t *m = NULL;
    expect_error(skiff_model_load(DATA("unsupported.onnx"), &quiet, &m), SKIFF_CODE_UNSUPPORTED,
                 "unsupported operators: com.example.FooOp (node 'foo1', opset 13), "
                 "com.example.BarOp (node 'bar1', opset 13)");
    expect_error(skiff_model_load(DATA("no-such-file.onnx"), &quiet, &m), SKIFF_CODE_NOT_FOUND,
                 "cannot open");
    expect_error(skiff_model_load(SKIFF_TEST_DATA, &quiet, &m), SKIFF_CODE_INVALID_ARG,
                 "is a directory");
    expect_error(skiff_model_load_buffer("garbage!", 8, NULL, &quiet, &m), SKIFF_CODE_INVALID_ARG,
                 "not a valid ONNX model");
    /* Every truncation of a valid model is an error or a valid model, never a crash. */
    void *buf;
    size_t size;
    assert_null(skiff__read_file(DATA("mlp.onnx"), &buf, &size));
    for (size_t len = 0; len < size; len++) {
        skiff_status_t *st = skiff_model_load_buffer(buf, len, NULL, &quiet, &m);
        if (!st) {
            skiff_model_free(m);
            m = NULL;
        }
        skiff_status_free(st);
    }
    /* External data needs a directory. */
    skiff__free(buf);
    assert_null(skiff__read_file(DATA("external.onnx"), &buf, &size));
    expect_error(skiff_model_load_buffer(buf, size, NULL, &quiet, &m), SKIFF_CODE_INVALID_ARG,
                 "loaded from memory");
    skiff__free(buf);
}

static void test_external_data(void **state)
{
    skiff_model_t *m = load_ok(DATA("external.onnx"));
    skiff_context_t *c;
    assert_null(skiff_context_new(m, NULL, &c));
    int64_t d[] = {1, 4};
    skiff_tensor_t *x;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, d, &x));
    float *xv = x->data;
    xv[0] = 1, xv[1] = 2, xv[2] = 3, xv[3] = 4;
    skiff_tensor_t *w = npy(DATA("external_w.npy"));
    const skiff_tensor_t *out[1];
    skiff_status_t *st = skiff_context_run(c, (const skiff_tensor_t *const *)&x, 1, out);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    const float *wv = w->data, *y = out[0]->data;
    for (int j = 0; j < 2; j++) {
        float want = 0;
        for (int i = 0; i < 4; i++)
            want += xv[i] * wv[i * 2 + j];
        assert_true(fabsf(y[j] - want) < 1e-4f);
    }
    skiff_tensor_free(x);
    skiff_tensor_free(w);
    skiff_context_free(c);
    skiff_model_free(m);
}

static void test_constant_folding(void **state)
{
    skiff_model_t *m = load_ok(DATA("fold.onnx"));
    skiff_context_t *c;
    assert_null(skiff_context_new(m, NULL, &c));
    int64_t d[] = {3};
    skiff_tensor_t *x;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 1, d, &x));
    const skiff_tensor_t *out[1];
    assert_null(skiff_context_run(c, (const skiff_tensor_t *const *)&x, 1, out));
    const float *y = out[0]->data;
    assert_true(y[0] == 2.0f && y[1] == 4.0f && y[2] == 6.0f);
    skiff_tensor_free(x);
    skiff_context_free(c);
    skiff_model_free(m);
}

uint64_t skiff__context_memo_hits(const skiff_context_t *c); /* engine_int.h */

/* Runs shape_chain.onnx on an n x m input of 0, 1, 2...: y is [n*m, 1] with
 * y[i] = i + n*m. */
static void run_chain(skiff_context_t *c, int64_t n, int64_t m)
{
    int64_t d[] = {n, m};
    skiff_tensor_t *x;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, d, &x));
    for (int64_t i = 0; i < n * m; i++)
        ((float *)x->data)[i] = (float)i;
    const skiff_tensor_t *out[1];
    skiff_status_t *st = skiff_context_run(c, (const skiff_tensor_t *const *)&x, 1, out);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    assert_int_equal(out[0]->ndim, 2);
    assert_int_equal(out[0]->dims[0], n * m);
    assert_int_equal(out[0]->dims[1], 1);
    for (int64_t i = 0; i < n * m; i++)
        assert_true(((const float *)out[0]->data)[i] == (float)(i + n * m));
    skiff_tensor_free(x);
}

/* Shape -> Gather -> Mul -> Unsqueeze -> Concat -> Reshape: the shape-derived
 * nodes answer from the context's memo while the input shape stays, and are
 * recomputed (right) whenever it changes. */
static void test_shape_memo(void **state)
{
    skiff_model_t *m = load_ok(DATA("shape_chain.onnx"));
    skiff_context_t *c;
    assert_null(skiff_context_new(m, NULL, &c));
    run_chain(c, 2, 3);
    assert_int_equal(skiff__context_memo_hits(c), 0);
    run_chain(c, 2, 3);
    uint64_t per_run = skiff__context_memo_hits(c);
    assert_true(per_run >= 5); /* Gather x2, Mul, Unsqueeze, Concat, Cast */
    run_chain(c, 4, 5);
    assert_int_equal(skiff__context_memo_hits(c), per_run);
    run_chain(c, 4, 5);
    assert_int_equal(skiff__context_memo_hits(c), 2 * per_run);
    run_chain(c, 2, 3);
    run_chain(c, 3, 2); /* same element count, other shape */
    run_chain(c, 1, 7);
    run_chain(c, 1, 7);
    assert_int_equal(skiff__context_memo_hits(c), 3 * per_run);
    skiff_context_free(c);
    skiff_model_free(m);
}

/* max_tensor_bytes: a run needing a bigger tensor fails cleanly, naming the
 * node, and the same context runs again within the limit. */
static void test_tensor_limit(void **state)
{
    skiff_model_t *m = load_ok(DATA("shape_chain.onnx"));
    skiff_context_options_t co = {.threads = 1, .max_tensor_bytes = 4096};
    skiff_context_t *c;
    assert_null(skiff_context_new(m, &co, &c));
    int64_t big[] = {64, 64}; /* 16 KiB of float32 */
    skiff_tensor_t *x;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, big, &x));
    const skiff_tensor_t *out[1];
    skiff_status_t *st = skiff_context_run(c, (const skiff_tensor_t *const *)&x, 1, out);
    assert_non_null(st);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_RESOURCE_EXHAUSTED);
    if (!strstr(skiff_status_message(st), "more than the limit of 4096"))
        fail_msg("%s", skiff_status_message(st));
    skiff_status_free(st);
    skiff_tensor_free(x);
    run_chain(c, 4, 5); /* 80 bytes: fine */
    skiff_context_free(c);
    skiff_model_free(m);

    /* max_node_macs: the MLP's products are over a limit of 10 */
    m = load_ok(DATA("mlp.onnx"));
    skiff_context_options_t co2 = {.threads = 1, .max_node_macs = 10};
    assert_null(skiff_context_new(m, &co2, &c));
    x = npy(DATA("mlp_x.npy"));
    st = skiff_context_run(c, (const skiff_tensor_t *const *)&x, 1, out);
    assert_non_null(st);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_RESOURCE_EXHAUSTED);
    if (!strstr(skiff_status_message(st), "multiply-adds, more than the limit of 10"))
        fail_msg("%s", skiff_status_message(st));
    skiff_status_free(st);
    skiff_tensor_free(x);
    skiff_context_free(c);
    skiff_model_free(m);
}

static char pass_line[512];
static void capture(skiff_log_level_t level, const char *line, void *user)
{
    if (strstr(line, "graph passes:"))
        snprintf(pass_line, sizeof(pass_line), "%s", line);
}

/* Loads `model` with the pass log captured, checks that the log line names
 * every fragment in `want` (NULL-terminated), and that a run on x_npy still
 * matches y_npy. */
static void check_fusion(const char *model, const char *const *want, const char *x_npy,
                         const char *y_npy)
{
    skiff_log_set_sink(capture, NULL);
    skiff_log_set_level(SKIFF_LOG_INFO);
    skiff_model_options_t verbose = {.optimize = 1, .verbose = 1};
    skiff_model_t *m = NULL;
    skiff_status_t *st = skiff_model_load(model, &verbose, &m);
    skiff_log_set_sink(NULL, NULL);
    skiff_log_set_level(SKIFF_LOG_ERROR);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    for (int i = 0; want[i]; i++)
        if (!strstr(pass_line, want[i]))
            fail_msg("'%s' lacks '%s'", pass_line, want[i]);
    skiff_context_t *c;
    assert_null(skiff_context_new(m, NULL, &c));
    skiff_tensor_t *x = npy(x_npy), *y = npy(y_npy);
    const skiff_tensor_t *out[1];
    st = skiff_context_run(c, (const skiff_tensor_t *const *)&x, 1, out);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    assert_close(out[0], y);
    skiff_tensor_free(x);
    skiff_tensor_free(y);
    skiff_context_free(c);
    skiff_model_free(m);
}

/* The erf-GELU and the ReduceMean/Sub/Pow/Sqrt/Div layer norm each become one
 * fused node, and the result still matches the reference. */
static void test_subgraph_fusion(void **state)
{
    static const char *const want[] = {"1 gelu, 1 layernorm", NULL};
    check_fusion(DATA("gelu_ln.onnx"), want, DATA("gelu_ln_x.npy"), DATA("gelu_ln_y.npy"));
}

/* A Linear layer's erf-GELU as torch exports it (the GELU's x is the bias
 * Add): one Gelu, fused with the bias into the MatMul. */
static void test_gelu_linear_fusion(void **state)
{
    static const char *const want[] = {"1 activations fused", "1 gelu", NULL};
    check_fusion(DATA("gelu_linear.onnx"), want, DATA("gelu_linear_x.npy"),
                 DATA("gelu_linear_y.npy"));
}

/* paddle2onnx's decomposed hardswish becomes one HardSwish fused into the Conv. */
static void test_hardswish_fusion(void **state)
{
    static const char *const want[] = {"1 activations fused", "1 hardswish", NULL};
    check_fusion(DATA("hardswish.onnx"), want, DATA("hardswish_x.npy"), DATA("hardswish_y.npy"));
}

/* Fails each allocation of loading `model` and running it on xs[0..runs-1] in
 * turn: every failure must be a clean RESOURCE_EXHAUSTED error (ASan/LSan
 * catch crashes and leaks). The undisturbed last output goes to `check`. */
static void alloc_loop(const char *model, const skiff_tensor_t *const *xs, int runs,
                       void (*check)(const skiff_tensor_t *out))
{
    long n;
    for (n = 1; n < 100000; n++) {
        skiff__alloc_fail_at(n);
        skiff_model_t *m = NULL;
        skiff_context_t *c = NULL;
        const skiff_tensor_t *out[4]; /* the models have at most four outputs */
        skiff_status_t *st = skiff_model_load(model, &quiet, &m);
        if (!st)
            st = skiff_context_new(m, NULL, &c);
        for (int r = 0; r < runs && !st; r++)
            st = skiff_context_run(c, &xs[r], 1, out);
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (failed) {
            if (!st)
                fail_msg("%s: allocation %ld failed but the runs succeeded", model, n);
            assert_int_equal(skiff_status_code(st), SKIFF_CODE_RESOURCE_EXHAUSTED);
        } else {
            if (st)
                fail_msg("%s: %s", model, skiff_status_message(st));
            check(out[0]);
        }
        skiff_status_free(st);
        skiff_context_free(c);
        skiff_model_free(m);
        if (!failed)
            break;
    }
    assert_true(n > 10);
}

static void mlp_shape_ok(const skiff_tensor_t *out) { assert_int_equal(out->ndim, 2); }

static void test_alloc_failure_loop(void **state)
{
    skiff_tensor_t *x = npy(DATA("mlp_x.npy"));
    const skiff_tensor_t *xs[] = {x};
    alloc_loop(DATA("mlp.onnx"), xs, 1, mlp_shape_ok);
    skiff_tensor_free(x);
}

static void chain_ok(const skiff_tensor_t *out)
{
    assert_int_equal(out->dims[0], 6);
    assert_true(((const float *)out->data)[0] == 6.0f);
}

/* The same for a model with a shape chain, run four times with two shapes,
 * so that the shape memo's allocations fail too. */
static void test_alloc_failure_memo(void **state)
{
    int64_t d1[] = {2, 3}, d2[] = {3, 5};
    skiff_tensor_t *x1, *x2;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, d1, &x1));
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, d2, &x2));
    const skiff_tensor_t *xs[] = {x1, x1, x2, x1};
    alloc_loop(DATA("shape_chain.onnx"), xs, 4, chain_ok);
    skiff_tensor_free(x1);
    skiff_tensor_free(x2);
}

int skiff__model_cl_values(const skiff_model_t *m); /* engine_int.h */

/* Runs `model` on DATA(<model>_x.npy) (or its first image) and checks each
 * output i against DATA(<model>_<names[i]>.npy). */
static void run_check(skiff_context_t *c, const char *model, const char *const *names, int n,
                      bool first_only)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s_x.npy", SKIFF_TEST_DATA, model);
    skiff_tensor_t *x = npy(path);
    if (first_only) {
        x->nbytes /= (size_t)x->dims[0];
        x->dims[0] = 1;
    }
    const skiff_tensor_t *out[4];
    skiff_status_t *st = skiff_context_run(c, (const skiff_tensor_t *const *)&x, 1, out);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    for (int k = 0; k < n; k++) {
        snprintf(path, sizeof(path), "%s/%s_%s.npy", SKIFF_TEST_DATA, model, names[k]);
        skiff_tensor_t *want = npy(path);
        if (first_only) {
            want->nbytes /= (size_t)want->dims[0];
            want->dims[0] = 1;
        }
        assert_close(out[k], want);
        skiff_tensor_free(want);
    }
    skiff_tensor_free(x);
}

static void run_cl_chain(skiff_context_t *c, bool first_only)
{
    static const char *const names[] = {"y", "side", "z"};
    run_check(c, "cl_chain", names, 3, first_only);
}

/* Convolutions and pools pass channels-last tensors between them, with
 * every mix of layouts at a fused sum, a pool oneDNN declines, and each
 * convolution kernel (timed choice, or pinned by SKIFF_CONV_ALGO): the
 * results match the reference at batch 2, again from the cache, and at a
 * new batch size. */
static void test_channels_last_chain(void **state)
{
    static const char *const algos[] = {NULL, "blocked", "plain", "winograd", "matmul"};
    for (size_t a = 0; a < sizeof(algos) / sizeof(algos[0]); a++) {
        if (algos[a])
            setenv("SKIFF_CONV_ALGO", algos[a], 1);
        else
            unsetenv("SKIFF_CONV_ALGO");
        for (int opt = 0; opt < 2; opt++) {
            skiff_model_options_t o = {.optimize = opt, .verbose = 0};
            skiff_model_t *m = NULL;
            skiff_status_t *st = skiff_model_load(DATA("cl_chain.onnx"), &o, &m);
            if (st)
                fail_msg("%s", skiff_status_message(st));
            /* unoptimised, the Relu and Add nodes between them keep all
             * but c4 -> GlobalAveragePool row-major; optimised (Relus and
             * Adds fused) c1, p1, c2, the AveragePool, c4 and c5 or c6 */
            assert_int_equal(skiff__model_cl_values(m), opt ? 6 : 1);
            skiff_context_t *c;
            assert_null(skiff_context_new(m, NULL, &c));
            run_cl_chain(c, false);
            run_cl_chain(c, false);
            run_cl_chain(c, true);
            skiff_context_free(c);
            skiff_model_free(m);
        }
    }
    unsetenv("SKIFF_CONV_ALGO");
}

/* A Conv whose fused addend dies there writes over the addend's buffer:
 * right on the first run (which times the kernels, each trial adding into
 * the same buffer) and on the runs after, for each kernel. */
static void test_sum_in_place(void **state)
{
    static const char *const algos[] = {NULL, "blocked", "plain", "winograd", "matmul"};
    static const char *const names[] = {"y1", "y2"};
    for (size_t a = 0; a < sizeof(algos) / sizeof(algos[0]); a++) {
        if (algos[a])
            setenv("SKIFF_CONV_ALGO", algos[a], 1);
        else
            unsetenv("SKIFF_CONV_ALGO");
        skiff_model_t *m = load_ok(DATA("sum_inplace.onnx"));
        skiff_context_t *c;
        assert_null(skiff_context_new(m, NULL, &c));
        for (int r = 0; r < 3; r++)
            run_check(c, "sum_inplace", names, 2, r == 2);
        skiff_context_free(c);
        skiff_model_free(m);
    }
    unsetenv("SKIFF_CONV_ALGO");
}

/* Gemm and MatMul by constant weights: packed once and shared, with a row
 * bias, a fused sum (copied, or in place), C, and the fallbacks to sgemm,
 * at batch 2 twice, then at batch 1 (a new primitive), in two contexts. */
static void test_gemm_packed(void **state)
{
    static const char *const names[] = {"y1", "y2", "y3", "y4"};
    skiff_model_t *m = load_ok(DATA("gemm_packed.onnx"));
    skiff_context_t *c1, *c2;
    assert_null(skiff_context_new(m, NULL, &c1));
    assert_null(skiff_context_new(m, NULL, &c2));
    for (int r = 0; r < 3; r++) {
        run_check(c1, "gemm_packed", names, 4, r == 2);
        run_check(c2, "gemm_packed", names, 4, r == 1);
    }
    skiff_context_free(c1);
    skiff_context_free(c2);
    skiff_model_free(m);
}

/* Mul/Add/Sub by constant scalars: right after a Conv they fold into its
 * weights and bias (2 scalings folded: Mul, Add), which leaves the linear
 * post-op free for the steps after its HardSwish (HardSwish and the linear
 * steps after it fuse into the Conv); into the Gemm they fuse as linear steps
 * (adjacent ones merged), 6 activations fused in all; the vector . vector
 * MatMul keeps its Mul, whose [1] constant makes the scalar a [1]. Checked
 * for each convolution kernel. */
static void test_linear_fusion(void **state)
{
    static const char *const algos[] = {NULL, "blocked", "plain", "winograd"};
    static const char *const names[] = {"y1", "y2", "y3"};
    for (size_t a = 0; a < sizeof(algos) / sizeof(algos[0]); a++) {
        if (algos[a])
            setenv("SKIFF_CONV_ALGO", algos[a], 1);
        else
            unsetenv("SKIFF_CONV_ALGO");
        pass_line[0] = '\0';
        skiff_log_set_sink(capture, NULL);
        skiff_log_set_level(SKIFF_LOG_INFO);
        skiff_model_options_t verbose = {.optimize = 1, .verbose = 1};
        skiff_model_t *m = NULL;
        skiff_status_t *st = skiff_model_load(DATA("conv_affine.onnx"), &verbose, &m);
        skiff_log_set_sink(NULL, NULL);
        skiff_log_set_level(SKIFF_LOG_ERROR);
        if (st)
            fail_msg("%s", skiff_status_message(st));
        if (!strstr(pass_line, " 2 scalings folded, 6 activations fused"))
            fail_msg("'%s' lacks '2 scalings folded, 6 activations fused'", pass_line);
        skiff_context_t *c;
        assert_null(skiff_context_new(m, NULL, &c));
        const skiff_tensor_t *in[2] = {npy(DATA("conv_affine_x.npy")),
                                       npy(DATA("conv_affine_v.npy"))};
        for (int r = 0; r < 2; r++) {
            const skiff_tensor_t *out[3];
            if ((st = skiff_context_run(c, in, 2, out)))
                fail_msg("%s", skiff_status_message(st));
            for (int k = 0; k < 3; k++) {
                char path[512];
                snprintf(path, sizeof(path), "%s/conv_affine_%s.npy", SKIFF_TEST_DATA, names[k]);
                skiff_tensor_t *want = npy(path);
                assert_close(out[k], want);
                skiff_tensor_free(want);
            }
        }
        skiff_tensor_free((skiff_tensor_t *)in[0]);
        skiff_tensor_free((skiff_tensor_t *)in[1]);
        skiff_context_free(c);
        skiff_model_free(m);
    }
    unsetenv("SKIFF_CONV_ALGO");
}

static void cl_chain_ok(const skiff_tensor_t *out)
{
    skiff_tensor_t *want = npy(DATA("cl_chain_y.npy"));
    assert_close(out, want);
    skiff_tensor_free(want);
}

static void test_alloc_failure_cl_chain(void **state)
{
    skiff_tensor_t *x = npy(DATA("cl_chain_x.npy"));
    const skiff_tensor_t *xs[] = {x, x};
    alloc_loop(DATA("cl_chain.onnx"), xs, 2, cl_chain_ok);
    skiff_tensor_free(x);
}

/* graph with the given opsets as an IR 8 model, serialized into *out
 * (caller frees with free()); returns its size. */
static size_t pack_model(Onnx__GraphProto *graph, Onnx__OperatorSetIdProto **opsets,
                         size_t n_opsets, uint8_t **out)
{
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    model.has_ir_version = 1;
    model.ir_version = 8;
    model.n_opset_import = n_opsets;
    model.opset_import = opsets;
    model.graph = graph;
    size_t n = onnx__model_proto__get_packed_size(&model);
    *out = malloc(n);
    assert_non_null(*out);
    onnx__model_proto__pack(&model, *out);
    return n;
}

/* A one-node model y = <op_type>(x) of `domain`, serialized. Caller frees
 * *out with free(). */
static size_t one_node_model(const char *domain, const char *op_type, uint8_t **out)
{
    char *in[] = {"x"}, *outn[] = {"y"};
    Onnx__NodeProto node = ONNX__NODE_PROTO__INIT;
    node.n_input = 1;
    node.input = in;
    node.n_output = 1;
    node.output = outn;
    node.name = "r1";
    node.op_type = (char *)op_type;
    node.domain = (char *)domain;
    Onnx__NodeProto *nodes[] = {&node};
    Onnx__ValueInfoProto vx = ONNX__VALUE_INFO_PROTO__INIT, vy = ONNX__VALUE_INFO_PROTO__INIT;
    vx.name = "x";
    vy.name = "y";
    Onnx__ValueInfoProto *ins[] = {&vx}, *outs[] = {&vy};
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.n_node = 1;
    graph.node = nodes;
    graph.name = "domains";
    graph.n_input = 1;
    graph.input = ins;
    graph.n_output = 1;
    graph.output = outs;
    Onnx__OperatorSetIdProto onnx = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    onnx.domain = "";
    onnx.has_version = 1;
    onnx.version = 13;
    Onnx__OperatorSetIdProto custom = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    custom.domain = "com.example";
    custom.has_version = 1;
    custom.version = 1;
    Onnx__OperatorSetIdProto *opsets[] = {&onnx, &custom};
    return pack_model(&graph, opsets, 2, out);
}

/* A one-node model y = Conv(x, w) with a ks x ks kernel (1 or 3), stride 1
 * and pads (ks - 1) / 2, c channels in and out, and an input of any shape.
 * w[m][k][i][j] = (m + 2k + i - j) / 64, stored as raw_data when raw (as
 * exporters write weights), else as float_data. Caller frees *out. */
static size_t conv_model_as(int64_t c, int64_t ks, bool raw, uint8_t **out)
{
    int64_t p = (ks - 1) / 2;
    int64_t wd[] = {c, c, ks, ks}, pads[] = {p, p, p, p};
    size_t nw = (size_t)(c * c * ks * ks);
    float *w = malloc(sizeof(float) * nw);
    assert_non_null(w);
    for (int64_t m = 0, i = 0; m < c; m++)
        for (int64_t k = 0; k < c; k++)
            for (int64_t r = 0; r < ks; r++)
                for (int64_t q = 0; q < ks; q++)
                    w[i++] = (float)(m + 2 * k + r - q) / 64.0f;
    Onnx__TensorProto wt = ONNX__TENSOR_PROTO__INIT;
    wt.name = "w";
    wt.n_dims = 4;
    wt.dims = wd;
    wt.has_data_type = 1;
    wt.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    if (raw) {
        wt.has_raw_data = 1;
        wt.raw_data.len = sizeof(float) * nw;
        wt.raw_data.data = (uint8_t *)w;
    } else {
        wt.n_float_data = nw;
        wt.float_data = w;
    }
    Onnx__TensorProto *inits[] = {&wt};
    Onnx__AttributeProto pa = ONNX__ATTRIBUTE_PROTO__INIT;
    pa.name = "pads";
    pa.has_type = 1;
    pa.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    pa.n_ints = 4;
    pa.ints = pads;
    Onnx__AttributeProto *attrs[] = {&pa};
    char *in[] = {"x", "w"}, *outn[] = {"y"};
    Onnx__NodeProto node = ONNX__NODE_PROTO__INIT;
    node.n_input = 2;
    node.input = in;
    node.n_output = 1;
    node.output = outn;
    node.name = "conv";
    node.op_type = "Conv";
    node.n_attribute = 1;
    node.attribute = attrs;
    Onnx__NodeProto *nodes[] = {&node};
    Onnx__ValueInfoProto vx = ONNX__VALUE_INFO_PROTO__INIT, vy = ONNX__VALUE_INFO_PROTO__INIT;
    vx.name = "x";
    vy.name = "y";
    Onnx__ValueInfoProto *ins[] = {&vx}, *outs[] = {&vy};
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.n_node = 1;
    graph.node = nodes;
    graph.name = "conv";
    graph.n_input = 1;
    graph.input = ins;
    graph.n_output = 1;
    graph.output = outs;
    graph.n_initializer = 1;
    graph.initializer = inits;
    Onnx__OperatorSetIdProto onnx = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    onnx.domain = "";
    onnx.has_version = 1;
    onnx.version = 13;
    Onnx__OperatorSetIdProto *opsets[] = {&onnx};
    size_t n = pack_model(&graph, opsets, 1, out);
    free(w);
    return n;
}

static size_t conv_model(int64_t c, int64_t ks, uint8_t **out)
{
    return conv_model_as(c, ks, false, out);
}

/* Runs conv_model(c, ks) on an input of shape [n, c, h, w] filled with
 * (i % 7 - 3) / 4 and checks y against the direct sum; returns the trials
 * run (skiff__conv_trials) during the run. */
static uint64_t conv_run(skiff_context_t *ctx, int64_t ks, int64_t n, int64_t c, int64_t h,
                         int64_t w)
{
    int64_t d[] = {n, c, h, w};
    skiff_tensor_t *x;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 4, d, &x));
    float *xv = x->data;
    for (int64_t i = 0; i < skiff_tensor_numel(x); i++)
        xv[i] = (float)(i % 7 - 3) / 4.0f;
    uint64_t before = skiff__conv_trials();
    const skiff_tensor_t *y;
    skiff_status_t *st = skiff_context_run(ctx, (const skiff_tensor_t *const *)&x, 1, &y);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    uint64_t trials = skiff__conv_trials() - before;
    assert_int_equal(y->ndim, 4);
    assert_int_equal(y->dims[2], h);
    assert_int_equal(y->dims[3], w);
    const float *yv = y->data;
    for (int64_t b = 0; b < n; b++)
        for (int64_t m = 0; m < c; m++)
            for (int64_t r = 0; r < h; r += 5)
                for (int64_t q = 0; q < w; q += 3) {
                    double want = 0;
                    for (int64_t k = 0; k < c; k++)
                        for (int64_t i = 0; i < ks; i++)
                            for (int64_t j = 0; j < ks; j++) {
                                int64_t rr = r + i - (ks - 1) / 2, qq = q + j - (ks - 1) / 2;
                                if (rr < 0 || rr >= h || qq < 0 || qq >= w)
                                    continue;
                                want += (double)(m + 2 * k + i - j) / 64.0 *
                                        xv[((b * c + k) * h + rr) * w + qq];
                            }
                    float got = yv[((b * c + m) * h + r) * w + q];
                    if (fabs(got - want) > 1e-4 + 1e-4 * fabs(want))
                        fail_msg("[%lld,%lld,%lld,%lld]: got %g, want %g", (long long)b,
                                 (long long)m, (long long)r, (long long)q, got, want);
                }
    skiff_tensor_free(x);
    return trials;
}

/* A convolution times its kernels once per shape class (batch 1 or more,
 * image sizes within a factor of 2 in pixels of a timed one, either way),
 * shared by every context:
 * new image sizes in a class it has timed run the kernel it chose without
 * a trial, and SKIFF_CONV_ALGO skips the trials. The model is a 1x1 with
 * row-major ends, where oneDNN's blocked kernel (which reorders) is timed
 * against its GEMM-based one (which does not) on images of up to 1024
 * pixels. */
/* Runs n runs through the thread-count policy on a synthetic clock: a run in
 * mode m takes ms[m] milliseconds. Returns the runs made in the reduced mode;
 * *now advances. */
static int adapt_runs(skiff__thr_adapt *a, uint64_t sig, int n, const double ms[2], uint64_t *now)
{
    int reduced = 0;
    for (int i = 0; i < n; i++) {
        int m = skiff__adapt_pick(a, sig, *now);
        reduced += m == 1;
        uint64_t dt = (uint64_t)(ms[m] * 1e6);
        *now += dt;
        skiff__adapt_note(a, m, dt, *now);
    }
    return reduced;
}

static void test_thread_adapt(void **state)
{
    (void)state;
    skiff__thr_adapt a;
    uint64_t now = 1000000000ull;
    skiff__adapt_init(&a, 2);
    assert_true(a.on);
    assert_int_equal(a.threads[0], 2);
    assert_int_equal(a.threads[1], 1);
    /* Quiet: one thread is 1.6x slower. The full count stays, and the probes
     * of the other mode stay rare (the first one compiles, then they
     * stretch out): under 2% of 2000 runs. */
    const double quiet[2] = {10.0, 16.0};
    int red = adapt_runs(&a, 7, 2000, quiet, &now);
    assert_int_equal(a.cur, 0);
    assert_true(red >= 2 && red <= 40);
    /* A neighbour takes a core: two threads are now 5x slower than one. The
     * context moves to one thread within a few dozen runs. */
    const double busy[2] = {50.0, 16.0};
    int before = (int)a.switches;
    adapt_runs(&a, 7, 100, busy, &now);
    assert_int_equal(a.cur, 1);
    assert_int_equal((int)a.switches, before + 1);
    /* ... and stays there: of the next 1000 runs almost all on one thread. */
    red = adapt_runs(&a, 7, 1000, busy, &now);
    assert_true(red >= 980);
    /* The core comes back: the full count returns within the longest probe
     * period (64 runs or 2 s of runs). */
    adapt_runs(&a, 7, 300, quiet, &now);
    assert_int_equal(a.cur, 0);
    /* A new input shape keeps the mode and times it afresh. */
    adapt_runs(&a, 8, 1, quiet, &now);
    assert_int_equal(a.cur, 0);
    assert_int_equal(a.seen[0], 1);
    /* One thread: nothing to adapt. */
    skiff__adapt_init(&a, 1);
    assert_false(a.on);
}

static void test_conv_shape_classes(void **state)
{
    (void)state;
    unsetenv("SKIFF_CONV_ALGO");
    uint8_t *buf;
    size_t n = conv_model(16, 1, &buf);
    skiff_model_t *m = NULL;
    skiff_status_t *st = skiff_model_load_buffer(buf, n, ".", &quiet, &m);
    free(buf);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    skiff_context_t *c1, *c2;
    assert_null(skiff_context_new(m, NULL, &c1));
    assert_null(skiff_context_new(m, NULL, &c2));
    assert_int_equal(conv_run(c1, 1, 1, 16, 20, 20), 1); /* 400 pixels: timed */
    assert_int_equal(conv_run(c1, 1, 1, 16, 20, 20), 0); /* the cached primitive */
    assert_int_equal(conv_run(c1, 1, 1, 16, 23, 31), 0); /* 713: within 2x of 400 */
    assert_int_equal(conv_run(c2, 1, 1, 16, 31, 17), 0); /* other context, same class */
    assert_int_equal(conv_run(c1, 1, 3, 16, 20, 20), 1); /* batch above 1 */
    assert_int_equal(conv_run(c2, 1, 2, 16, 22, 22), 0);
    assert_int_equal(conv_run(c1, 1, 1, 16, 15, 15), 0); /* 225: within 2x of 400 */
    assert_int_equal(conv_run(c1, 1, 1, 16, 10, 10), 1); /* 100: 4x from 400, the one timed */
    assert_int_equal(conv_run(c2, 1, 1, 16, 9, 13), 0);  /* 117: near 100 */
    assert_int_equal(conv_run(c1, 1, 1, 16, 40, 40), 0); /* 1600: GEMM-based not timed */
    setenv("SKIFF_CONV_ALGO", "blocked", 1);
    assert_int_equal(conv_run(c1, 1, 1, 16, 5, 5), 0); /* 25: new class, pinned */
    unsetenv("SKIFF_CONV_ALGO");
    skiff_context_free(c1);
    skiff_context_free(c2);
    skiff_model_free(m);

    /* a 3x3 (Winograd may be timed where oneDNN has it) gets the right
     * results at sizes in and out of a timed class */
    n = conv_model(16, 3, &buf);
    st = skiff_model_load_buffer(buf, n, ".", &quiet, &m);
    free(buf);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    assert_null(skiff_context_new(m, NULL, &c1));
    assert_true(conv_run(c1, 3, 1, 16, 20, 20) <= 1);
    assert_int_equal(conv_run(c1, 3, 1, 16, 23, 31), 0);
    assert_true(conv_run(c1, 3, 2, 16, 12, 9) <= 1);
    assert_int_equal(conv_run(c1, 3, 4, 16, 13, 9), 0);
    skiff_context_free(c1);
    skiff_model_free(m);
}

/* ---- weights held once ---- */

/* y = MatMul(a, b) + s with b a constant [k, n] in raw_data,
 * b[i][j] = ((3i + j) % 11 - 5) / 16; a and s are inputs of any shape (the
 * Add fuses into the MatMul as its sum). Caller frees *out. */
static size_t matmul_model(int64_t k, int64_t n, uint8_t **out)
{
    int64_t bd[] = {k, n};
    float *b = malloc(sizeof(float) * (size_t)(k * n));
    assert_non_null(b);
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < n; j++)
            b[i * n + j] = (float)((3 * i + j) % 11 - 5) / 16.0f;
    Onnx__TensorProto bt = ONNX__TENSOR_PROTO__INIT;
    bt.name = "b";
    bt.n_dims = 2;
    bt.dims = bd;
    bt.has_data_type = 1;
    bt.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    bt.has_raw_data = 1;
    bt.raw_data.len = sizeof(float) * (size_t)(k * n);
    bt.raw_data.data = (uint8_t *)b;
    Onnx__TensorProto *inits[] = {&bt};
    char *mm_in[] = {"a", "b"}, *mm_out[] = {"p"}, *add_in[] = {"p", "s"}, *add_out[] = {"y"};
    Onnx__NodeProto mm = ONNX__NODE_PROTO__INIT, add = ONNX__NODE_PROTO__INIT;
    mm.n_input = 2;
    mm.input = mm_in;
    mm.n_output = 1;
    mm.output = mm_out;
    mm.name = "mm";
    mm.op_type = "MatMul";
    add.n_input = 2;
    add.input = add_in;
    add.n_output = 1;
    add.output = add_out;
    add.name = "add";
    add.op_type = "Add";
    Onnx__NodeProto *nodes[] = {&mm, &add};
    Onnx__ValueInfoProto va = ONNX__VALUE_INFO_PROTO__INIT, vs = ONNX__VALUE_INFO_PROTO__INIT,
                         vy = ONNX__VALUE_INFO_PROTO__INIT;
    va.name = "a";
    vs.name = "s";
    vy.name = "y";
    Onnx__ValueInfoProto *ins[] = {&va, &vs}, *outs[] = {&vy};
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.n_node = 2;
    graph.node = nodes;
    graph.name = "matmul";
    graph.n_input = 2;
    graph.input = ins;
    graph.n_output = 1;
    graph.output = outs;
    graph.n_initializer = 1;
    graph.initializer = inits;
    Onnx__OperatorSetIdProto onnx = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    onnx.domain = "";
    onnx.has_version = 1;
    onnx.version = 13;
    Onnx__OperatorSetIdProto *opsets[] = {&onnx};
    size_t sz = pack_model(&graph, opsets, 1, out);
    free(b);
    return sz;
}

/* Runs matmul_model(k, n) with a [m, k] and s [m, s_cols] (n, or 1: a sum
 * that broadcasts along the rows, which the packed path does not take) and
 * checks y against the direct sum. */
static void matmul_run(skiff_context_t *ctx, int64_t m, int64_t k, int64_t n, int64_t s_cols)
{
    int64_t ad[] = {m, k}, sd[] = {m, s_cols};
    skiff_tensor_t *in[2];
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, ad, &in[0]));
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, sd, &in[1]));
    float *av = in[0]->data, *sv = in[1]->data;
    for (int64_t i = 0; i < m * k; i++)
        av[i] = (float)(i % 5 - 2) / 4.0f;
    for (int64_t i = 0; i < m * s_cols; i++)
        sv[i] = (float)(i % 3);
    const skiff_tensor_t *y;
    skiff_status_t *st = skiff_context_run(ctx, (const skiff_tensor_t *const *)in, 2, &y);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->dims[0], m);
    assert_int_equal(y->dims[1], n);
    const float *yv = y->data;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double want = sv[i * s_cols + (s_cols == 1 ? 0 : j)];
            for (int64_t q = 0; q < k; q++)
                want += (double)av[i * k + q] * ((3 * q + j) % 11 - 5) / 16.0;
            if (fabs(yv[i * n + j] - want) > 1e-4 + 1e-4 * fabs(want))
                fail_msg("y[%lld,%lld]: got %g, want %g", (long long)i, (long long)j, yv[i * n + j],
                         want);
        }
    skiff_tensor_free(in[0]);
    skiff_tensor_free(in[1]);
}

typedef struct conv_job {
    skiff_context_t *ctx;
    int64_t h, w;
} conv_job;

static void *conv_thread(void *arg)
{
    conv_job *j = arg;
    conv_run(j->ctx, 3, 1, 192, j->h, j->w);
    return NULL;
}

/* A weight only its node reads is held once: as loaded until the first run
 * packs it, then only packed. A new input shape whose kernel wants another
 * layout (oneDNN's GEMM-based convolution reads the model's own) derives it
 * from the packed copy, with the same results; two contexts compiling at
 * once share one store. The model goes through a file, so the loader's
 * initializer-by-initializer decoding with the mapping's pages dropped runs
 * too (the 1.3 MB weights are over its 1 MB split size). */
static void test_weights_released(void **state)
{
    (void)state;
    const size_t wbytes = sizeof(float) * 192 * 192 * 9;
    uint8_t *buf;
    size_t n = conv_model_as(192, 3, true, &buf);
    char path[] = "/tmp/skiff-test-weights-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
    free(buf);
    skiff_model_t *m = load_ok(path);
    size_t constant, packed;
    skiff_model_weight_stats(m, &constant, &packed);
    assert_int_equal(constant, wbytes);
    assert_int_equal(packed, 0);
    skiff_context_t *c1, *c2;
    assert_null(skiff_context_new(m, NULL, &c1));
    assert_null(skiff_context_new(m, NULL, &c2));
    /* oneDNN's direct kernel packs the weights into its blocked layout */
    setenv("SKIFF_CONV_ALGO", "blocked", 1);
    conv_run(c1, 3, 1, 192, 12, 12);
    skiff_model_weight_stats(m, &constant, &packed);
    assert_int_equal(constant, 0);
    assert_true(packed >= wbytes);
    conv_run(c2, 3, 1, 192, 12, 12);
    /* the model's layout again, from the packed copy, exactly */
    setenv("SKIFF_CONV_ALGO", "plain", 1);
    conv_run(c1, 3, 1, 192, 7, 9);
    conv_run(c2, 3, 2, 192, 5, 6);
    unsetenv("SKIFF_CONV_ALGO");
    conv_run(c1, 3, 1, 192, 12, 12);
    skiff_model_weight_stats(m, &constant, &packed);
    assert_int_equal(constant, 0);
    skiff_context_free(c1);
    skiff_context_free(c2);
    skiff_model_free(m);

    /* two contexts' first runs at once, each packing and releasing */
    m = load_ok(path);
    assert_null(skiff_context_new(m, NULL, &c1));
    assert_null(skiff_context_new(m, NULL, &c2));
    conv_job jobs[2] = {{c1, 12, 12}, {c2, 9, 15}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, conv_thread, &jobs[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    skiff_model_weight_stats(m, &constant, &packed);
    assert_true(packed >= wbytes);
    conv_run(c1, 3, 1, 192, 9, 15);
    skiff_context_free(c1);
    skiff_context_free(c2);
    skiff_model_free(m);
    unlink(path);

    /* MatMul: held once whichever layout its primitive reads (the model's
     * own is lent, not copied); a run that leaves the packed path (a sum
     * broadcast along the rows) reads B as stored, derived where released */
    const size_t bbytes = sizeof(float) * 256 * 96;
    n = matmul_model(256, 96, &buf);
    skiff_status_t *st = skiff_model_load_buffer(buf, n, ".", &quiet, &m);
    free(buf);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    skiff_model_weight_stats(m, &constant, &packed);
    assert_int_equal(constant, bbytes);
    assert_null(skiff_context_new(m, NULL, &c1));
    matmul_run(c1, 3, 256, 96, 96);
    skiff_model_weight_stats(m, &constant, &packed);
    /* one copy: the model's own, lent, or a packed one alone (its columns
     * padded to the kernel's block on AVX-512: 96 -> 128) */
    if (constant)
        assert_true(constant == bbytes && packed == 0);
    else
        assert_true(packed >= bbytes && packed < 2 * bbytes);
    const size_t packed_once = packed;
    matmul_run(c1, 3, 256, 96, 1);
    matmul_run(c1, 5, 256, 96, 96);
    skiff_model_weight_stats(m, &constant, &packed);
    /* at most the layout as stored again beside the packed copy */
    assert_true(constant + packed <= packed_once + bbytes);
    skiff_context_free(c1);
    skiff_model_free(m);
}

/* ---- quantization kernels (quant.c): cases the conformance data does not
 * reach, expected values worked out by hand ---- */

#define Q_NO_AXIS INT64_MIN

/* A one-node model o0..o<n_out-1> = <op_type>(i0..i<n_in-1>) of ONNX opset
 * `opset`, with attribute axis unless Q_NO_AXIS; a NULL name leaves that
 * input out (an omitted optional input). Caller frees *out with free(). */
static size_t q_model(const char *op_type, int opset, int n_in, char **in, int n_out, int64_t axis,
                      uint8_t **out)
{
    char *outn[] = {"o0", "o1", "o2"};
    Onnx__NodeProto node = ONNX__NODE_PROTO__INIT;
    char *node_in[8];
    for (int i = 0; i < n_in; i++)
        node_in[i] = in[i] ? in[i] : "";
    node.n_input = (size_t)n_in;
    node.input = node_in;
    node.n_output = (size_t)n_out;
    node.output = outn;
    node.name = "q1";
    node.op_type = (char *)op_type;
    Onnx__AttributeProto ax = ONNX__ATTRIBUTE_PROTO__INIT;
    Onnx__AttributeProto *attrs[] = {&ax};
    if (axis != Q_NO_AXIS) {
        ax.name = "axis";
        ax.has_type = 1;
        ax.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        ax.has_i = 1;
        ax.i = axis;
        node.n_attribute = 1;
        node.attribute = attrs;
    }
    Onnx__NodeProto *nodes[] = {&node};
    Onnx__ValueInfoProto vi[8], vo[3];
    Onnx__ValueInfoProto *ins[8], *outs[3];
    int n_graph_in = 0;
    for (int i = 0; i < n_in; i++) {
        if (!in[i])
            continue;
        onnx__value_info_proto__init(&vi[n_graph_in]);
        vi[n_graph_in].name = in[i];
        ins[n_graph_in] = &vi[n_graph_in];
        n_graph_in++;
    }
    for (int i = 0; i < n_out; i++) {
        onnx__value_info_proto__init(&vo[i]);
        vo[i].name = outn[i];
        outs[i] = &vo[i];
    }
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.n_node = 1;
    graph.node = nodes;
    graph.name = "quant";
    graph.n_input = (size_t)n_graph_in;
    graph.input = ins;
    graph.n_output = (size_t)n_out;
    graph.output = outs;
    Onnx__OperatorSetIdProto onnx = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    onnx.domain = "";
    onnx.has_version = 1;
    onnx.version = opset;
    Onnx__OperatorSetIdProto *opsets[] = {&onnx};
    return pack_model(&graph, opsets, 1, out);
}

/* Runs the one-node model on the given inputs (NULL = omitted) and returns
 * the run's status; on success outputs[] are the context's, valid until
 * *out_ctx is freed. */
static skiff_status_t *q_run(const char *op_type, int opset, int n_in,
                             const skiff_tensor_t *const *inputs, int n_out, int64_t axis,
                             skiff_model_t **out_m, skiff_context_t **out_ctx,
                             const skiff_tensor_t **outputs)
{
    char *names[8] = {"i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7"};
    const skiff_tensor_t *fed[8];
    int n_fed = 0;
    for (int i = 0; i < n_in; i++) {
        if (!inputs[i])
            names[i] = NULL;
        else
            fed[n_fed++] = inputs[i];
    }
    uint8_t *buf;
    size_t n = q_model(op_type, opset, n_in, names, n_out, axis, &buf);
    *out_m = NULL;
    *out_ctx = NULL;
    skiff_status_t *st = skiff_model_load_buffer(buf, n, ".", &quiet, out_m);
    free(buf);
    if (!st)
        st = skiff_context_new(*out_m, NULL, out_ctx);
    if (!st)
        st = skiff_context_run(*out_ctx, fed, n_fed, outputs);
    return st;
}

static void q_done(skiff_model_t *m, skiff_context_t *c, skiff_tensor_t **ts, int n)
{
    skiff_context_free(c);
    skiff_model_free(m);
    for (int i = 0; i < n; i++)
        skiff_tensor_free(ts[i]);
}

static skiff_tensor_t *q_wrap(skiff_dtype_t dt, int ndim, const int64_t *dims, const void *data)
{
    skiff_tensor_t *t = NULL;
    size_t nb = (size_t)skiff_shape_numel(ndim, dims) * skiff_dtype_size(dt);
    skiff_status_t *st = skiff_tensor_wrap(dt, ndim, dims, (void *)data, nb, &t);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    return t;
}

/* got's dtype, shape and bytes equal want's; integer elements print on a
 * mismatch. */
static void q_expect(const skiff_tensor_t *got, skiff_dtype_t dt, int ndim, const int64_t *dims,
                     const void *want)
{
    assert_int_equal(got->dtype, dt);
    assert_int_equal(got->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        assert_int_equal(got->dims[i], dims[i]);
    for (int64_t i = 0; i < skiff_shape_numel(ndim, dims); i++) {
        double g = skiff__tensor_get_f64(got, i);
        double w;
        switch (dt) {
        case SKIFF_DTYPE_UINT8: w = ((const uint8_t *)want)[i]; break;
        case SKIFF_DTYPE_INT8: w = ((const int8_t *)want)[i]; break;
        case SKIFF_DTYPE_INT32: w = ((const int32_t *)want)[i]; break;
        default: w = ((const float *)want)[i]; break;
        }
        if (g != w)
            fail_msg("element %lld: got %g, want %g", (long long)i, g, w);
    }
}

/* Round half to even before the zero point is added, saturation at both
 * ends, NaN to the zero point, for uint8 and int8. */
static void test_quantize_rounding(void **state)
{
    (void)state;
    static const float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 300.f, -300.f, NAN, 1e9f};
    static const float one = 1.0f;
    static const uint8_t zu = 10;
    static const int8_t zi = -3;
    /* uint8, zero point 10: rint(x) + 10, clamped to [0, 255] */
    static const uint8_t want_u[] = {10, 12, 12, 10, 8, 8, 255, 0, 10, 255};
    /* int8, zero point -3: rint(x) - 3, clamped to [-128, 127] */
    static const int8_t want_i[] = {-3, -1, -1, -3, -5, -5, 127, -128, -3, 127};
    const int64_t n10 = 10;
    for (int k = 0; k < 2; k++) {
        skiff_tensor_t *ts[] = {q_wrap(SKIFF_DTYPE_FLOAT32, 1, &n10, x),
                                q_wrap(SKIFF_DTYPE_FLOAT32, 0, NULL, &one),
                                k == 0 ? q_wrap(SKIFF_DTYPE_UINT8, 0, NULL, &zu)
                                       : q_wrap(SKIFF_DTYPE_INT8, 0, NULL, &zi)};
        skiff_model_t *m;
        skiff_context_t *c;
        const skiff_tensor_t *y[1];
        skiff_status_t *st = q_run("QuantizeLinear", 10, 3, (const skiff_tensor_t *const *)ts, 1,
                                   Q_NO_AXIS, &m, &c, y);
        if (st)
            fail_msg("%s", skiff_status_message(st));
        if (k == 0)
            q_expect(y[0], SKIFF_DTYPE_UINT8, 1, &n10, want_u);
        else
            q_expect(y[0], SKIFF_DTYPE_INT8, 1, &n10, want_i);
        q_done(m, c, ts, 3);
    }
    /* No zero point: uint8 with zero point 0. */
    skiff_tensor_t *ts[] = {q_wrap(SKIFF_DTYPE_FLOAT32, 1, &n10, x),
                            q_wrap(SKIFF_DTYPE_FLOAT32, 0, NULL, &one), NULL};
    static const uint8_t want0[] = {0, 2, 2, 0, 0, 0, 255, 0, 0, 255};
    skiff_model_t *m;
    skiff_context_t *c;
    const skiff_tensor_t *y[1];
    skiff_status_t *st =
        q_run("QuantizeLinear", 13, 3, (const skiff_tensor_t *const *)ts, 1, Q_NO_AXIS, &m, &c, y);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    q_expect(y[0], SKIFF_DTYPE_UINT8, 1, &n10, want0);
    q_done(m, c, ts, 2);
}

/* Per-axis scales and zero points, ties inside; and a scale of the wrong
 * length named in the error. */
static void test_quantize_per_axis(void **state)
{
    (void)state;
    static const float x[] = {1, 2, 3, 4, 5, 6};
    static const float s[] = {1, 2, 4};
    static const uint8_t z[] = {0, 10, 100};
    /* [1/1, 2/2, 3/4=0.75] -> [1, 1, 1] + z; [4, 2.5, 1.5] -> [4, 2, 2] + z */
    static const uint8_t want[] = {1, 11, 101, 4, 12, 102};
    const int64_t xd[] = {2, 3}, n3 = 3;
    skiff_tensor_t *ts[] = {q_wrap(SKIFF_DTYPE_FLOAT32, 2, xd, x),
                            q_wrap(SKIFF_DTYPE_FLOAT32, 1, &n3, s),
                            q_wrap(SKIFF_DTYPE_UINT8, 1, &n3, z)};
    skiff_model_t *m;
    skiff_context_t *c;
    const skiff_tensor_t *y[1];
    skiff_status_t *st =
        q_run("QuantizeLinear", 13, 3, (const skiff_tensor_t *const *)ts, 1, -1, &m, &c, y);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    q_expect(y[0], SKIFF_DTYPE_UINT8, 2, xd, want);
    q_done(m, c, ts, 0);
    /* axis 0 has 2 entries, the scale 3 */
    expect_error(q_run("QuantizeLinear", 13, 3, (const skiff_tensor_t *const *)ts, 1, 0, &m, &c, y),
                 SKIFF_CODE_INVALID_ARG,
                 "node 'q1' (QuantizeLinear): input 'y_scale': expected 2 values (dim 0 of 'x' "
                 "[2,3]), got 3");
    q_done(m, c, ts, 0);
    /* per axis before opset 13 */
    expect_error(
        q_run("QuantizeLinear", 10, 3, (const skiff_tensor_t *const *)ts, 1, Q_NO_AXIS, &m, &c, y),
        SKIFF_CODE_INVALID_ARG, "input 'y_scale': expected a scalar before opset 13");
    q_done(m, c, ts, 3);
}

/* DequantizeLinear per axis 0 with int8 zero points, and int32 without one. */
static void test_dequantize(void **state)
{
    (void)state;
    static const int8_t x[] = {-128, 127, 0, 5};
    static const float s[] = {0.5f, 2.0f};
    static const int8_t z[] = {1, -3};
    static const float want[] = {-64.5f, 63.0f, 6.0f, 16.0f};
    const int64_t xd[] = {2, 2}, n2 = 2;
    skiff_tensor_t *ts[] = {q_wrap(SKIFF_DTYPE_INT8, 2, xd, x),
                            q_wrap(SKIFF_DTYPE_FLOAT32, 1, &n2, s),
                            q_wrap(SKIFF_DTYPE_INT8, 1, &n2, z)};
    skiff_model_t *m;
    skiff_context_t *c;
    const skiff_tensor_t *y[1];
    skiff_status_t *st =
        q_run("DequantizeLinear", 13, 3, (const skiff_tensor_t *const *)ts, 1, 0, &m, &c, y);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    q_expect(y[0], SKIFF_DTYPE_FLOAT32, 2, xd, want);
    q_done(m, c, ts, 3);

    static const int32_t xi[] = {-2147483647 - 1, 2147483647, 3};
    static const float sc = 0.25f;
    static const float want_i[] = {-536870912.0f, 536870912.0f, 0.75f};
    const int64_t n3 = 3;
    skiff_tensor_t *ti[] = {q_wrap(SKIFF_DTYPE_INT32, 1, &n3, xi),
                            q_wrap(SKIFF_DTYPE_FLOAT32, 0, NULL, &sc)};
    st = q_run("DequantizeLinear", 10, 2, (const skiff_tensor_t *const *)ti, 1, Q_NO_AXIS, &m, &c,
               y);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    q_expect(y[0], SKIFF_DTYPE_FLOAT32, 1, &n3, want_i);
    q_done(m, c, ti, 2);
}

/* An all-zero input: scale 1 (not 0 / 0), zero point 0, y 0. */
static void test_dynamic_quantize_zeros(void **state)
{
    (void)state;
    static const float x[4] = {0};
    static const uint8_t want[4] = {0};
    static const float want_s = 1.0f;
    static const uint8_t want_z = 0;
    const int64_t n4 = 4;
    skiff_tensor_t *ts[] = {q_wrap(SKIFF_DTYPE_FLOAT32, 1, &n4, x)};
    skiff_model_t *m;
    skiff_context_t *c;
    const skiff_tensor_t *y[3];
    skiff_status_t *st = q_run("DynamicQuantizeLinear", 11, 1, (const skiff_tensor_t *const *)ts, 3,
                               Q_NO_AXIS, &m, &c, y);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    q_expect(y[0], SKIFF_DTYPE_UINT8, 1, &n4, want);
    q_expect(y[1], SKIFF_DTYPE_FLOAT32, 0, NULL, &want_s);
    q_expect(y[2], SKIFF_DTYPE_UINT8, 0, NULL, &want_z);
    q_done(m, c, ts, 1);
}

/* MatMulInteger: uint8 A with per-row zero points, int8 B with per-column
 * ones, and a batch of 2 sharing B. QLinearMatMul on the same sums,
 * requantized with a tie and saturation. */
static void test_matmul_integer(void **state)
{
    (void)state;
    /* A - a_zp per row: [[0,1,2],[1,2,3]], twice; B - b_zp per column:
     * [[-1,3],[3,-3],[5,7]]: row 0 -> [13, 11], row 1 -> [20, 18] */
    static const uint8_t a[] = {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6};
    static const uint8_t za[] = {1, 3};
    static const int8_t b[] = {-1, 2, 3, -4, 5, 6};
    static const int8_t zb[] = {0, -1};
    static const int32_t want[] = {13, 11, 20, 18, 13, 11, 20, 18};
    const int64_t ad[] = {2, 2, 3}, bd[] = {3, 2}, yd[] = {2, 2, 2}, n2 = 2;
    skiff_tensor_t *ts[] = {q_wrap(SKIFF_DTYPE_UINT8, 3, ad, a), q_wrap(SKIFF_DTYPE_INT8, 2, bd, b),
                            q_wrap(SKIFF_DTYPE_UINT8, 1, &n2, za),
                            q_wrap(SKIFF_DTYPE_INT8, 1, &n2, zb)};
    skiff_model_t *m;
    skiff_context_t *c;
    const skiff_tensor_t *y[1];
    skiff_status_t *st =
        q_run("MatMulInteger", 10, 4, (const skiff_tensor_t *const *)ts, 1, Q_NO_AXIS, &m, &c, y);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    q_expect(y[0], SKIFF_DTYPE_INT32, 3, yd, want);
    q_done(m, c, ts, 0);

    /* a zero point per column of A is not per row */
    const int64_t n3 = 3;
    static const uint8_t za3[] = {1, 2, 3};
    skiff_tensor_t *bad = q_wrap(SKIFF_DTYPE_UINT8, 1, &n3, za3);
    const skiff_tensor_t *tb[] = {ts[0], ts[1], bad, ts[3]};
    expect_error(q_run("MatMulInteger", 10, 4, tb, 1, Q_NO_AXIS, &m, &c, y), SKIFF_CODE_INVALID_ARG,
                 "input 'a_zero_point': shape [3] is neither a scalar nor per row of 'A' [2,2,3]");
    q_done(m, c, &bad, 1);

    /* scales per row / column, like the zero points:
     * sums * (0.5 * 0.25 / 1) = [1.625, 1.375, 2.5, 2.25] -> rint [2, 1, 2, 2],
     * + y_zp 126 -> [128 -> 127 saturated, 127, 128 -> 127, 127] for int8;
     * with y_zp -128: [-126, -127, -126, -126] */
    static const float sa[] = {0.5f, 0.5f}, sb[] = {0.25f, 0.25f}, sy = 1.0f;
    static const int8_t zy_hi = 126, zy_lo = -128;
    static const int8_t want_hi[] = {127, 127, 127, 127, 127, 127, 127, 127};
    static const int8_t want_lo[] = {-126, -127, -126, -126, -126, -127, -126, -126};
    for (int k = 0; k < 2; k++) {
        skiff_tensor_t *q[] = {q_wrap(SKIFF_DTYPE_FLOAT32, 1, &n2, sa),
                               q_wrap(SKIFF_DTYPE_FLOAT32, 1, &n2, sb),
                               q_wrap(SKIFF_DTYPE_FLOAT32, 0, NULL, &sy),
                               q_wrap(SKIFF_DTYPE_INT8, 0, NULL, k == 0 ? &zy_hi : &zy_lo)};
        const skiff_tensor_t *tq[] = {ts[0], q[0], ts[2], ts[1], q[1], ts[3], q[2], q[3]};
        st = q_run("QLinearMatMul", 10, 8, tq, 1, Q_NO_AXIS, &m, &c, y);
        if (st)
            fail_msg("%s", skiff_status_message(st));
        q_expect(y[0], SKIFF_DTYPE_INT8, 3, yd, k == 0 ? want_hi : want_lo);
        q_done(m, c, q, 4);
    }
    q_done(NULL, NULL, ts, 4);
}

/* ConvInteger with a zero point per output channel: x - 1 = [0, 1, 2],
 * w - w_zp = [[1, 2], [2, 3]] -> [[2, 5], [3, 8]]. */
static void test_conv_integer(void **state)
{
    (void)state;
    static const uint8_t x[] = {1, 2, 3}, zx = 1;
    static const int8_t w[] = {1, 2, 3, 4}, zw[] = {0, 1};
    static const int32_t want[] = {2, 5, 3, 8};
    const int64_t xd[] = {1, 1, 3}, wd[] = {2, 1, 2}, yd[] = {1, 2, 2}, n2 = 2;
    skiff_tensor_t *ts[] = {q_wrap(SKIFF_DTYPE_UINT8, 3, xd, x), q_wrap(SKIFF_DTYPE_INT8, 3, wd, w),
                            q_wrap(SKIFF_DTYPE_UINT8, 0, NULL, &zx),
                            q_wrap(SKIFF_DTYPE_INT8, 1, &n2, zw)};
    skiff_model_t *m;
    skiff_context_t *c;
    const skiff_tensor_t *y[1];
    skiff_status_t *st =
        q_run("ConvInteger", 10, 4, (const skiff_tensor_t *const *)ts, 1, Q_NO_AXIS, &m, &c, y);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    q_expect(y[0], SKIFF_DTYPE_INT32, 3, yd, want);
    q_done(m, c, ts, 4);
}

/* The registry matches domains exactly: a custom domain's "Relu" is not
 * ONNX's Relu, and the loader lists it as unsupported. */
static void test_op_domains(void **state)
{
    (void)state;
    const skiff__op *relu = skiff__op_find("", "Relu", 13);
    assert_non_null(relu);
    assert_ptr_equal(skiff__op_find("ai.onnx", "Relu", 13), relu);
    assert_ptr_equal(skiff__op_find(NULL, "Relu", 13), relu);
    assert_null(skiff__op_find("com.example", "Relu", 13));
    assert_null(skiff__op_find("skiff", "Relu", 13));
    assert_null(skiff__op_find("", "Resize", 9)); /* below its min_opset */

    static const char *const ok_domains[] = {"", "ai.onnx"};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *buf;
        size_t n = one_node_model(ok_domains[i], "Relu", &buf);
        skiff_model_t *m = NULL;
        skiff_status_t *st = skiff_model_load_buffer(buf, n, ".", &quiet, &m);
        if (st)
            fail_msg("domain '%s': %s", ok_domains[i], skiff_status_message(st));
        skiff_model_free(m);
        free(buf);
    }
    uint8_t *buf;
    size_t n = one_node_model("com.example", "Relu", &buf);
    skiff_model_t *m = NULL;
    expect_error(skiff_model_load_buffer(buf, n, ".", &quiet, &m), SKIFF_CODE_UNSUPPORTED,
                 "unsupported operator: com.example.Relu (node 'r1', opset 13)");
    assert_null(m);
    free(buf);
}

/* Every registered op appears in docs/operators.md's list of kernels, with
 * its table and opset, and the list names nothing else. */
typedef struct doc_check {
    const char *doc;
    int n_ops;
    int missing;
} doc_check;

static void doc_row(const skiff__op *op, const char *table, void *arg)
{
    doc_check *dc = arg;
    char row[256];
    snprintf(row, sizeof(row), "| %s | %s | %d | %s.c |", op->type,
             op->domain && op->domain[0] ? op->domain : "ai.onnx", op->min_opset, table);
    dc->n_ops++;
    if (!strstr(dc->doc, row)) {
        print_error("docs/operators.md lacks the row: %s\n", row);
        dc->missing++;
    }
}

static void test_operators_doc(void **state)
{
    (void)state;
    FILE *f = fopen(SKIFF_TEST_DATA "/../../docs/operators.md", "rb");
    assert_non_null(f);
    static char doc[1 << 17];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = '\0';
    doc_check dc = {.doc = doc};
    skiff__op_foreach(doc_row, &dc);
    assert_int_equal(dc.missing, 0);
    const char *b = strstr(doc, "<!-- kernels:begin -->"), *e = strstr(doc, "<!-- kernels:end -->");
    assert_non_null(b);
    assert_non_null(e);
    int rows = 0;
    for (const char *p = b; p < e && (p = strstr(p, "\n| ")) && p < e; p++)
        rows++;
    /* the header row, then one row per op */
    if (rows != dc.n_ops + 1)
        fail_msg("docs/operators.md lists %d kernels, the registry has %d", rows - 1, dc.n_ops);
}

/* The Paddle operator list in docs/paddle-models.md is the registry's, table
 * by table in registry order (tools/paddle_ops_doc.py writes it). */
void skiff__pd_foreach(void (*fn)(const char *type, const char *table, void *arg), void *arg);

typedef struct pd_doc {
    char *text;
    size_t len, cap;
    const char *table;
} pd_doc;

static void pd_put(pd_doc *d, const char *s)
{
    size_t n = strlen(s);
    if (d->len + n + 1 > d->cap) {
        d->cap = (d->len + n + 1) * 2;
        d->text = realloc(d->text, d->cap);
        assert_non_null(d->text);
    }
    memcpy(d->text + d->len, s, n + 1);
    d->len += n;
}

static void pd_row(const char *type, const char *table, void *arg)
{
    pd_doc *d = arg;
    if (!d->table || strcmp(d->table, table)) {
        if (d->table)
            pd_put(d, " |\n");
        pd_put(d, "| ");
        pd_put(d, table);
        pd_put(d, ".c | ");
        d->table = table;
    } else {
        pd_put(d, ", ");
    }
    pd_put(d, "`");
    pd_put(d, type);
    pd_put(d, "`");
}

static void test_paddle_ops_doc(void **state)
{
    (void)state;
    FILE *f = fopen(SKIFF_TEST_DATA "/../../docs/paddle-models.md", "rb");
    assert_non_null(f);
    static char doc[1 << 17];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = '\0';
    pd_doc d = {0};
    pd_put(&d, "<!-- paddle-ops:begin -->\n| file | Paddle operators |\n|---|---|\n");
    skiff__pd_foreach(pd_row, &d);
    pd_put(&d, " |\n<!-- paddle-ops:end -->");
    if (!strstr(doc, d.text))
        fail_msg("docs/paddle-models.md's operator list is not the registry's; run "
                 "tools/paddle_ops_doc.py. The registry's:\n%s",
                 d.text);
    free(d.text);
}

/* test_ops.c: the detection, signal, text, loss and random operators. */
extern const struct CMUnitTest skiff_test_ops[];
extern const size_t skiff_test_ops_count;
/* ---- control flow ---- */

static skiff_tensor_t *i64_scalar(int64_t v)
{
    skiff_tensor_t *t;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_INT64, 0, NULL, &t));
    *(int64_t *)t->data = v;
    return t;
}

/* cf_loop.onnx with n iterations, optimized or not: the Loop's last carried
 * value and its scan output, the Scan's running sums (tools/make_test_models.py
 * has the numbers). Two runs per context, so the child contexts and the held
 * buffers are reused. */
static void run_cf_loop(int optimize)
{
    skiff_model_options_t o = quiet;
    o.optimize = optimize;
    skiff_model_t *m = NULL;
    skiff_status_t *st = skiff_model_load(DATA("cf_loop.onnx"), &o, &m);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    skiff_context_t *c = NULL;
    assert_null(skiff_context_new(m, NULL, &c));
    skiff_tensor_t *x = npy(DATA("cf_loop_x.npy")), *acc = npy(DATA("cf_loop_acc.npy"));
    skiff_tensor_t *rows = npy(DATA("cf_loop_rows.npy")), *sums = npy(DATA("cf_loop_sums.npy"));
    skiff_tensor_t *n4 = i64_scalar(4), *n0 = i64_scalar(0);
    for (int r = 0; r < 2; r++) {
        const skiff_tensor_t *in[] = {x, n4}, *out[3];
        st = skiff_context_run(c, in, 2, out);
        if (st)
            fail_msg("%s", skiff_status_message(st));
        assert_close(out[0], acc);
        assert_close(out[1], rows);
        assert_close(out[2], sums);
    }
    /* no iteration: the initial value, empty scans */
    const skiff_tensor_t *in0[] = {x, n0}, *out0[3];
    st = skiff_context_run(c, in0, 2, out0);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    assert_close(out0[0], x);
    assert_int_equal(skiff_tensor_numel(out0[1]), 0);
    assert_int_equal(skiff_tensor_numel(out0[2]), 0);
    skiff_tensor_free(n4);
    skiff_tensor_free(n0);
    skiff_tensor_free(x);
    skiff_tensor_free(acc);
    skiff_tensor_free(rows);
    skiff_tensor_free(sums);
    skiff_context_free(c);
    skiff_model_free(m);
}

static void test_control_flow(void **state)
{
    run_cf_loop(1);
    run_cf_loop(0);
    /* torch's export of a scripted loop with a branch and a list */
    skiff_model_t *m = load_ok(DATA("cf_torch_loop.onnx"));
    skiff_context_t *c = NULL;
    assert_null(skiff_context_new(m, NULL, &c));
    skiff_tensor_t *x = npy(DATA("cf_torch_loop_x.npy")), *n = i64_scalar(5);
    skiff_tensor_t *y = npy(DATA("cf_torch_loop_y.npy"));
    skiff_tensor_t *stacked = npy(DATA("cf_torch_loop_stacked.npy"));
    const skiff_tensor_t *in[] = {x, n}, *out[2];
    for (int r = 0; r < 2; r++) {
        skiff_status_t *st = skiff_context_run(c, in, 2, out);
        if (st)
            fail_msg("%s", skiff_status_message(st));
        assert_close(out[0], y);
        assert_close(out[1], stacked);
    }
    skiff_tensor_free(x);
    skiff_tensor_free(n);
    skiff_tensor_free(y);
    skiff_tensor_free(stacked);
    skiff_context_free(c);
    skiff_model_free(m);
}

/* Sequences made in a Loop, stacked, counted and split. */
static void test_sequences(void **state)
{
    skiff_model_t *m = load_ok(DATA("cf_seq.onnx"));
    skiff_context_t *c = NULL;
    assert_null(skiff_context_new(m, NULL, &c));
    skiff_tensor_t *x = npy(DATA("cf_loop_x.npy")), *n = i64_scalar(3);
    const skiff_tensor_t *in[] = {x, n}, *out[3];
    for (int r = 0; r < 2; r++) {
        skiff_status_t *st = skiff_context_run(c, in, 2, out);
        if (st)
            fail_msg("%s", skiff_status_message(st));
        assert_int_equal(out[0]->ndim, 2);
        assert_int_equal(out[0]->dims[0], 3);
        assert_int_equal(out[0]->dims[1], 3);
        const float *y = out[0]->data, *xv = x->data;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                assert_true(y[i * 3 + j] == (float)i * xv[j]);
        assert_int_equal(*(const int64_t *)out[1]->data, 3);
        assert_int_equal(out[2]->ndim, 0);
        assert_true(*(const float *)out[2]->data == xv[2]);
    }
    skiff_tensor_free(n);
    skiff_context_free(c);
    skiff_model_free(m);
    /* SequenceMap: a body per element, reading a tensor input and an outer value */
    m = load_ok(DATA("cf_seqmap.onnx"));
    assert_null(skiff_context_new(m, NULL, &c));
    const skiff_tensor_t *xin[] = {x}, *y[1];
    skiff_status_t *st = skiff_context_run(c, xin, 1, y);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    assert_int_equal(y[0]->ndim, 2);
    const float *yv = y[0]->data, *xv = x->data;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            assert_true(yv[i * 3 + j] == 2.0f * xv[i] * xv[j]);
    skiff_tensor_free(x);
    skiff_context_free(c);
    skiff_model_free(m);
}

/* A loop whose condition never ends stops at the loop budget, quickly and
 * with an error naming the node; the default budget applies without one. */
static void test_loop_guard(void **state)
{
    skiff_model_t *m = load_ok(DATA("cf_forever.onnx"));
    skiff_context_options_t o = {.threads = 1, .max_loop_iterations = 1000};
    skiff_context_t *c = NULL;
    assert_null(skiff_context_new(m, &o, &c));
    int64_t one = 1;
    skiff_tensor_t *x;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 1, &one, &x));
    *(float *)x->data = 0;
    const skiff_tensor_t *in[] = {x}, *out[1];
    for (int r = 0; r < 2; r++) /* the budget is per run */
        expect_error(skiff_context_run(c, in, 1, out), SKIFF_CODE_RESOURCE_EXHAUSTED,
                     "more than 1000 loop iterations");
    skiff_tensor_free(x);
    skiff_context_free(c);
    skiff_model_free(m);
}

/* Subgraphs nested too deep, and branches that do not match their node,
 * are refused at load with a message saying so. */
static void test_control_flow_bad(void **state)
{
    skiff_model_t *m = NULL;
    expect_error(skiff_model_load(DATA("cf_deep.onnx"), &quiet, &m), SKIFF_CODE_INVALID_ARG,
                 "nested more than 16 deep");
    expect_error(skiff_model_load(DATA("cf_mismatch.onnx"), &quiet, &m), SKIFF_CODE_INVALID_ARG,
                 "has 0 inputs and 2 outputs, the node needs 0 and 1");
    assert_null(m);
}

static void cf_loop_ok(const skiff_tensor_t *out) { assert_int_equal(out->dims[0], 3); }

/* Every allocation of loading and running the control-flow model fails in
 * turn: a clean error each time, no leak. */
static void test_alloc_failure_control_flow(void **state)
{
    long n;
    skiff_tensor_t *x = npy(DATA("cf_loop_x.npy")), *n4 = i64_scalar(4);
    const skiff_tensor_t *xs[] = {x, n4};
    for (n = 1; n < 100000; n++) {
        skiff__alloc_fail_at(n);
        skiff_model_t *m = NULL;
        skiff_context_t *c = NULL;
        const skiff_tensor_t *out[3];
        skiff_status_t *st = skiff_model_load(DATA("cf_loop.onnx"), &quiet, &m);
        if (!st)
            st = skiff_context_new(m, NULL, &c);
        for (int r = 0; r < 2 && !st; r++)
            st = skiff_context_run(c, xs, 2, out);
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (failed) {
            if (!st)
                fail_msg("allocation %ld failed but the runs succeeded", n);
            assert_int_equal(skiff_status_code(st), SKIFF_CODE_RESOURCE_EXHAUSTED);
        } else {
            if (st)
                fail_msg("%s", skiff_status_message(st));
            cf_loop_ok(out[0]);
        }
        skiff_status_free(st);
        skiff_context_free(c);
        skiff_model_free(m);
        if (!failed)
            break;
    }
    assert_true(n > 10);
    skiff_tensor_free(x);
    skiff_tensor_free(n4);
}

int main(void)
{
    skiff_log_set_level(SKIFF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_runs),
        cmocka_unit_test(test_paddle_ops_doc),
        cmocka_unit_test(test_input_validation),
        cmocka_unit_test(test_bad_models),
        cmocka_unit_test(test_external_data),
        cmocka_unit_test(test_constant_folding),
        cmocka_unit_test(test_shape_memo),
        cmocka_unit_test(test_tensor_limit),
        cmocka_unit_test(test_subgraph_fusion),
        cmocka_unit_test(test_gelu_linear_fusion),
        cmocka_unit_test(test_hardswish_fusion),
        cmocka_unit_test(test_alloc_failure_loop),
        cmocka_unit_test(test_control_flow),
        cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_loop_guard),
        cmocka_unit_test(test_control_flow_bad),
        cmocka_unit_test(test_alloc_failure_control_flow),
        cmocka_unit_test(test_alloc_failure_memo),
        cmocka_unit_test(test_channels_last_chain),
        cmocka_unit_test(test_alloc_failure_cl_chain),
        cmocka_unit_test(test_sum_in_place),
        cmocka_unit_test(test_gemm_packed),
        cmocka_unit_test(test_linear_fusion),
        cmocka_unit_test(test_conv_shape_classes),
        cmocka_unit_test(test_weights_released),
        cmocka_unit_test(test_thread_adapt),
        cmocka_unit_test(test_op_domains),
        cmocka_unit_test(test_quantize_rounding),
        cmocka_unit_test(test_quantize_per_axis),
        cmocka_unit_test(test_dequantize),
        cmocka_unit_test(test_dynamic_quantize_zeros),
        cmocka_unit_test(test_matmul_integer),
        cmocka_unit_test(test_conv_integer),
        cmocka_unit_test(test_operators_doc),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed +
           _cmocka_run_group_tests("ops", skiff_test_ops, skiff_test_ops_count, NULL, NULL);
}
