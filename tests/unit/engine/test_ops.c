/* Unit tests for the detection, signal, text, loss and random operators
 * (detect.c, sample.c, signal.c, strings.c, unique.c, bitwise.c, loss.c,
 * random.c): what the conformance cases do not reach. The one-node models
 * come from tools/make_test_models.py (tests/data/ops_*.onnx); expected
 * values are worked out by hand in the comments. Run from test_engine.c's
 * main as the group "ops". */
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* needs the headers above */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "engine/engine_int.h"
#include "skiff/engine.h"

#ifndef SKIFF_TEST_DATA
#error "SKIFF_TEST_DATA must point at tests/data"
#endif
#define DATA(f) SKIFF_TEST_DATA "/" f

static const skiff_model_options_t quiet = {.optimize = 1, .verbose = 0};

/* A model and one context on it. */
typedef struct run_t {
    skiff_model_t *m;
    skiff_context_t *c;
    const skiff_tensor_t *out[4];
} run_t;

static void open_model(run_t *r, const char *path)
{
    memset(r, 0, sizeof(*r));
    skiff_status_t *st = skiff_model_load(path, &quiet, &r->m);
    if (!st)
        st = skiff_context_new(r->m, NULL, &r->c);
    if (st)
        fail_msg("%s: %s", path, skiff_status_message(st));
}

static void close_model(run_t *r)
{
    skiff_context_free(r->c);
    skiff_model_free(r->m);
}

static skiff_status_t *run(run_t *r, skiff_tensor_t **in, int n)
{
    return skiff_context_run(r->c, (const skiff_tensor_t *const *)in, n, r->out);
}

static void run_ok(run_t *r, skiff_tensor_t **in, int n)
{
    skiff_status_t *st = run(r, in, n);
    if (st)
        fail_msg("%s", skiff_status_message(st));
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

/* A tensor owning a copy of `data` (NULL: zeros). */
static skiff_tensor_t *tensor(skiff_dtype_t dt, int ndim, const int64_t *dims, const void *data)
{
    skiff_tensor_t *t = NULL;
    skiff_status_t *st = skiff_tensor_new(dt, ndim, dims, &t);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    if (data && t->nbytes)
        memcpy(t->data, data, t->nbytes);
    return t;
}

static skiff_tensor_t *strings(int n, const char *const *v)
{
    int64_t d = n;
    skiff_tensor_t *t = tensor(SKIFF_DTYPE_STRING, 1, &d, NULL);
    for (int i = 0; i < n; i++)
        ((char **)t->data)[i] = skiff__strdup(v[i]);
    return t;
}

static void free_all(skiff_tensor_t **t, int n)
{
    for (int i = 0; i < n; i++)
        skiff_tensor_free(t[i]);
}

static void expect_i64(const skiff_tensor_t *t, int ndim, const int64_t *dims, const int64_t *want)
{
    assert_int_equal(t->dtype, SKIFF_DTYPE_INT64);
    assert_int_equal(t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        assert_int_equal(t->dims[i], dims[i]);
    for (int64_t i = 0; i < skiff_tensor_numel(t); i++)
        if (((const int64_t *)t->data)[i] != want[i])
            fail_msg("element %lld: got %lld, want %lld", (long long)i,
                     (long long)((const int64_t *)t->data)[i], (long long)want[i]);
}

static void expect_strings(const skiff_tensor_t *t, int n, const char *const *want)
{
    assert_int_equal(t->dtype, SKIFF_DTYPE_STRING);
    assert_int_equal(skiff_tensor_numel(t), n);
    for (int i = 0; i < n; i++)
        if (strcmp(((char *const *)t->data)[i], want[i]) != 0)
            fail_msg("string %d: got '%s', want '%s'", i, ((char *const *)t->data)[i], want[i]);
}

/* ---- NonMaxSuppression ---- */

/* Boxes b0 [0,0,10,10], b1 [0,1,10,11] (IoU with b0 90/110 = 0.82), b2
 * [20,20,30,30] (apart), b3 [0,0,0,5] (zero area: overlaps nothing).
 * Class 0 scores .9 .95 .5 .99, class 1 .1 .2 .3 0; iou .5, score > .15:
 * class 0 keeps 3, 1, drops 0 (0.82 with 1), keeps 2; class 1 keeps 2, 1. */
static void nms_case(const char *model, const float *boxes)
{
    static const float scores[] = {.9f, .95f, .5f, .99f, .1f, .2f, .3f, 0.f};
    const int64_t bd[] = {1, 4, 4}, sd[] = {1, 2, 4}, one = 1;
    int64_t max = 10;
    float iou = 0.5f, thr = 0.15f;
    skiff_tensor_t *in[] = {
        tensor(SKIFF_DTYPE_FLOAT32, 3, bd, boxes), tensor(SKIFF_DTYPE_FLOAT32, 3, sd, scores),
        tensor(SKIFF_DTYPE_INT64, 1, &one, &max), tensor(SKIFF_DTYPE_FLOAT32, 1, &one, &iou),
        tensor(SKIFF_DTYPE_FLOAT32, 1, &one, &thr)};
    run_t r;
    open_model(&r, model);
    run_ok(&r, in, 5);
    static const int64_t want[] = {0, 0, 3, 0, 0, 1, 0, 0, 2, 0, 1, 2, 0, 1, 1};
    const int64_t wd[] = {5, 3};
    expect_i64(r.out[0], 2, wd, want);
    /* one box per class */
    *(int64_t *)in[2]->data = 1;
    run_ok(&r, in, 5);
    static const int64_t want1[] = {0, 0, 3, 0, 1, 2};
    const int64_t wd1[] = {2, 3};
    expect_i64(r.out[0], 2, wd1, want1);
    /* no box at all */
    *(int64_t *)in[2]->data = 0;
    run_ok(&r, in, 5);
    const int64_t wd0[] = {0, 3};
    expect_i64(r.out[0], 2, wd0, NULL);
    /* bad inputs, named */
    *(int64_t *)in[2]->data = 10;
    *(float *)in[3]->data = 1.5f;
    expect_error(run(&r, in, 5), SKIFF_CODE_INVALID_ARG, "iou_threshold");
    *(float *)in[3]->data = 0.5f;
    in[1]->dims[2] = 3;
    expect_error(run(&r, in, 5), SKIFF_CODE_INVALID_ARG, "input 'scores'");
    in[1]->dims[2] = 4;
    close_model(&r);
    free_all(in, 5);
}

static void test_nms(void **state)
{
    (void)state;
    static const float corners[] = {0, 0, 10, 10, 0, 1, 10, 11, 20, 20, 30, 30, 0, 0, 0, 5};
    nms_case(DATA("ops_nms.onnx"), corners);
    /* the same boxes as [x_center, y_center, width, height] */
    static const float centers[] = {5, 5, 10, 10, 6, 5, 10, 10, 25, 25, 10, 10, 2.5f, 0, 5, 0};
    nms_case(DATA("ops_nms_center.onnx"), centers);
}

/* ---- RoiAlign, GridSample ---- */

static void test_roialign_errors(void **state)
{
    (void)state;
    const int64_t xd[] = {1, 2, 4, 4}, rd[] = {1, 4}, one = 1;
    static const float roi[] = {0, 0, 3, 3};
    int64_t bi = 0;
    skiff_tensor_t *in[] = {tensor(SKIFF_DTYPE_FLOAT32, 4, xd, NULL),
                            tensor(SKIFF_DTYPE_FLOAT32, 2, rd, roi),
                            tensor(SKIFF_DTYPE_INT64, 1, &one, &bi)};
    run_t r;
    open_model(&r, DATA("ops_roialign.onnx"));
    run_ok(&r, in, 3);
    assert_int_equal(r.out[0]->ndim, 4);
    assert_int_equal(r.out[0]->dims[1], 2);
    assert_int_equal(r.out[0]->dims[2], 2);
    *(int64_t *)in[2]->data = 1;
    expect_error(run(&r, in, 3), SKIFF_CODE_INVALID_ARG, "batch_indices");
    *(int64_t *)in[2]->data = 0;
    ((float *)in[1]->data)[2] = NAN;
    expect_error(run(&r, in, 3), SKIFF_CODE_INVALID_ARG, "non-finite");
    close_model(&r);
    free_all(in, 3);
}

static void test_gridsample_errors(void **state)
{
    (void)state;
    const int64_t x5[] = {1, 1, 2, 2, 2}, g5[] = {1, 2, 2, 2, 3};
    const int64_t x4[] = {1, 1, 2, 2}, g4[] = {1, 3, 3, 3};
    skiff_tensor_t *in5[] = {tensor(SKIFF_DTYPE_FLOAT32, 5, x5, NULL),
                             tensor(SKIFF_DTYPE_FLOAT32, 5, g5, NULL)};
    skiff_tensor_t *in4[] = {tensor(SKIFF_DTYPE_FLOAT32, 4, x4, NULL),
                             tensor(SKIFF_DTYPE_FLOAT32, 4, g4, NULL)};
    run_t r;
    open_model(&r, DATA("ops_gridsample.onnx"));
    expect_error(run(&r, in5, 2), SKIFF_CODE_UNSUPPORTED, "4-D");
    expect_error(run(&r, in4, 2), SKIFF_CODE_INVALID_ARG, "input 'grid'");
    in4[1]->dims[3] = 2;
    in4[1]->nbytes = 18 * sizeof(float);
    run_ok(&r, in4, 2); /* zeros in, zeros out */
    for (int i = 0; i < 9; i++)
        assert_true(((const float *)r.out[0]->data)[i] == 0.0f);
    /* locations far outside read zeros (no integer overflow on the way) */
    float *g = in4[1]->data, *x = in4[0]->data;
    for (int i = 0; i < 4; i++)
        x[i] = 1.0f;
    for (int i = 0; i < 18; i++)
        g[i] = i % 3 == 0 ? 1e30f : i % 3 == 1 ? -1e30f : 3e9f;
    run_ok(&r, in4, 2);
    for (int i = 0; i < 9; i++)
        assert_true(((const float *)r.out[0]->data)[i] == 0.0f);
    close_model(&r);
    free_all(in5, 2);
    free_all(in4, 2);
}

/* ---- losses, DFT ---- */

static void test_nll_ignore(void **state)
{
    (void)state;
    /* sum of -x[n, t[n]] over n whose target is not ignore_index (-1): 3 */
    static const float x[] = {-1, -2, -3, -4, -5, -6};
    const int64_t xd[] = {2, 3}, td = 2;
    int64_t t[] = {2, -1};
    skiff_tensor_t *in[] = {tensor(SKIFF_DTYPE_FLOAT32, 2, xd, x),
                            tensor(SKIFF_DTYPE_INT64, 1, &td, t)};
    run_t r;
    open_model(&r, DATA("ops_nll.onnx"));
    run_ok(&r, in, 2);
    assert_int_equal(r.out[0]->ndim, 0);
    assert_true(fabsf(*(const float *)r.out[0]->data - 3.0f) < 1e-6f);
    ((int64_t *)in[1]->data)[1] = 7;
    expect_error(run(&r, in, 2), SKIFF_CODE_INVALID_ARG, "input 'target': class 7");
    close_model(&r);
    free_all(in, 2);
}

static void test_dft_attrs(void **state)
{
    (void)state;
    const int64_t xd[] = {1, 8, 1};
    skiff_tensor_t *in[] = {tensor(SKIFF_DTYPE_FLOAT32, 3, xd, NULL)};
    run_t r;
    open_model(&r, DATA("ops_dft_bad.onnx"));
    expect_error(run(&r, in, 1), SKIFF_CODE_INVALID_ARG, "cannot both be 1");
    close_model(&r);
    free_all(in, 1);
}

/* ---- random ops ---- */

static void test_random_seed(void **state)
{
    (void)state;
    run_t a, b;
    float first[64];
    open_model(&a, DATA("ops_uniform_seed.onnx"));
    open_model(&b, DATA("ops_uniform_seed.onnx"));
    run_ok(&a, NULL, 0);
    memcpy(first, a.out[0]->data, sizeof(first));
    for (int i = 0; i < 64; i++)
        assert_true(first[i] >= -2.0f && first[i] < 3.0f);
    /* the same seed in a new context: the same values */
    run_ok(&b, NULL, 0);
    assert_memory_equal(first, b.out[0]->data, sizeof(first));
    /* the next run of a context continues its sequence (and nothing was
     * folded into a constant) */
    run_ok(&a, NULL, 0);
    assert_memory_not_equal(first, a.out[0]->data, sizeof(first));
    close_model(&a);
    close_model(&b);
    /* without a seed two contexts draw differently */
    open_model(&a, DATA("ops_uniform.onnx"));
    open_model(&b, DATA("ops_uniform.onnx"));
    run_ok(&a, NULL, 0);
    memcpy(first, a.out[0]->data, sizeof(first));
    run_ok(&b, NULL, 0);
    assert_memory_not_equal(first, b.out[0]->data, sizeof(first));
    close_model(&a);
    close_model(&b);
}

static void test_bernoulli_multinomial(void **state)
{
    (void)state;
    static const float p[] = {0, 1, 0, 1, 0.5f};
    const int64_t pd = 5;
    skiff_tensor_t *in[] = {tensor(SKIFF_DTYPE_FLOAT32, 1, &pd, p)};
    run_t r;
    open_model(&r, DATA("ops_bernoulli.onnx"));
    run_ok(&r, in, 1);
    const float *y = r.out[0]->data;
    assert_true(y[0] == 0.0f && y[1] == 1.0f && y[2] == 0.0f && y[3] == 1.0f);
    assert_true(y[4] == 0.0f || y[4] == 1.0f);
    ((float *)in[0]->data)[2] = 1.5f;
    expect_error(run(&r, in, 1), SKIFF_CODE_INVALID_ARG, "not a probability");
    close_model(&r);
    free_all(in, 1);

    /* classes of probability .7, .3, 0: 200 draws never give class 2, and
     * give class 0 about 140 times (standard deviation 6.5) */
    const float lp[] = {logf(0.7f), logf(0.3f), -INFINITY};
    const int64_t xd[] = {1, 3};
    skiff_tensor_t *x[] = {tensor(SKIFF_DTYPE_FLOAT32, 2, xd, lp)};
    open_model(&r, DATA("ops_multinomial.onnx"));
    run_ok(&r, x, 1);
    assert_int_equal(r.out[0]->dtype, SKIFF_DTYPE_INT64);
    assert_int_equal(r.out[0]->dims[1], 200);
    int zeros = 0;
    for (int i = 0; i < 200; i++) {
        int64_t v = ((const int64_t *)r.out[0]->data)[i];
        assert_true(v == 0 || v == 1);
        zeros += v == 0;
    }
    assert_true(zeros > 100 && zeros < 180);
    close_model(&r);
    free_all(x, 1);
}

/* ---- text ---- */

static void test_string_normalizer(void **state)
{
    (void)state;
    /* case-insensitive stop words "über" and "the"; then upper case. 'ß'
     * has no one-letter capital and stays. Without a UTF-8 locale on the
     * machine only ASCII letters change. */
    static const char *const x[] = {"Über", "straße", "the", "café", "THE"};
    skiff_tensor_t *in[] = {strings(5, x)};
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    static const char *const utf8[] = {"STRAßE", "CAFÉ"}, *const ascii[] = {"STRAßE", "CAFé"};
    run_t r;
    open_model(&r, DATA("ops_strnorm.onnx"));
    run_ok(&r, in, 1);
    expect_strings(r.out[0], 2, l ? utf8 : ascii);
    if (l)
        freelocale(l);
    /* everything dropped: one empty string */
    static const char *const stop[] = {"The", "ÜBER"};
    skiff_tensor_t *in2[] = {strings(2, stop)};
    run_ok(&r, in2, 1);
    static const char *const empty[] = {""};
    expect_strings(r.out[0], 1, empty);
    close_model(&r);
    free_all(in, 1);
    free_all(in2, 1);
}

static void test_tfidf_attrs(void **state)
{
    (void)state;
    skiff_model_t *m = NULL;
    expect_error(skiff_model_load(DATA("ops_tfidf_bad.onnx"), &quiet, &m), SKIFF_CODE_INVALID_ARG,
                 "attribute 'mode'");
    assert_null(m);
}

static void test_unique_strings(void **state)
{
    (void)state;
    /* unsorted: first-occurrence order */
    static const char *const x[] = {"b", "a", "b", "c", "a"};
    skiff_tensor_t *in[] = {strings(5, x)};
    run_t r;
    open_model(&r, DATA("ops_unique.onnx"));
    run_ok(&r, in, 1);
    static const char *const y[] = {"b", "a", "c"};
    expect_strings(r.out[0], 3, y);
    static const int64_t idx[] = {0, 1, 3}, inv[] = {0, 1, 0, 2, 1}, cnt[] = {2, 2, 1};
    const int64_t d3 = 3, d5 = 5;
    expect_i64(r.out[1], 1, &d3, idx);
    expect_i64(r.out[2], 1, &d5, inv);
    expect_i64(r.out[3], 1, &d3, cnt);
    close_model(&r);
    free_all(in, 1);
}

static void test_bitshift_wide(void **state)
{
    (void)state;
    /* a shift by the width or more gives 0 */
    static const uint32_t x[] = {1, 0x80000000u, 7}, s[] = {31, 1, 32};
    const int64_t d = 3;
    skiff_tensor_t *in[] = {tensor(SKIFF_DTYPE_UINT32, 1, &d, x),
                            tensor(SKIFF_DTYPE_UINT32, 1, &d, s)};
    run_t r;
    open_model(&r, DATA("ops_bitshift.onnx"));
    run_ok(&r, in, 2);
    const uint32_t *z = r.out[0]->data;
    assert_true(z[0] == 0x80000000u && z[1] == 0 && z[2] == 0);
    in[1]->dtype = SKIFF_DTYPE_INT32;
    expect_error(run(&r, in, 2), SKIFF_CODE_INVALID_ARG, "expected uint32");
    in[1]->dtype = SKIFF_DTYPE_UINT32;
    close_model(&r);
    free_all(in, 2);
}

/* ---- Resize-18 antialias ---- */

/* 0..7 halved, linear, half_pixel: output o samples x = 2o + 0.5 with the
 * triangle stretched to radius 2: taps 2o-1..2o+2 (clamped) weighted
 * .125 .375 .375 .125 -> 0.625 2.5 4.5 6.375 (without antialias: 0.5 2.5
 * 4.5 6.5). */
static void test_resize_antialias(void **state)
{
    (void)state;
    static const float x[] = {0, 1, 2, 3, 4, 5, 6, 7}, sc[] = {1, 1, 1, 0.5f};
    static const float want[] = {0.625f, 2.5f, 4.5f, 6.375f};
    const int64_t xd[] = {1, 1, 1, 8}, four = 4;
    skiff_tensor_t *in[] = {tensor(SKIFF_DTYPE_FLOAT32, 4, xd, x),
                            tensor(SKIFF_DTYPE_FLOAT32, 1, &four, sc)};
    run_t r;
    open_model(&r, DATA("ops_resize_aa.onnx"));
    run_ok(&r, in, 2);
    assert_int_equal(r.out[0]->dims[3], 4);
    for (int i = 0; i < 4; i++)
        if (fabsf(((const float *)r.out[0]->data)[i] - want[i]) > 1e-6f)
            fail_msg("element %d: got %g, want %g", i, ((const float *)r.out[0]->data)[i], want[i]);
    close_model(&r);
    free_all(in, 2);
}

const struct CMUnitTest skiff_test_ops[] = {
    cmocka_unit_test(test_resize_antialias),  cmocka_unit_test(test_nms),
    cmocka_unit_test(test_roialign_errors),   cmocka_unit_test(test_gridsample_errors),
    cmocka_unit_test(test_nll_ignore),        cmocka_unit_test(test_dft_attrs),
    cmocka_unit_test(test_random_seed),       cmocka_unit_test(test_bernoulli_multinomial),
    cmocka_unit_test(test_string_normalizer), cmocka_unit_test(test_tfidf_attrs),
    cmocka_unit_test(test_unique_strings),    cmocka_unit_test(test_bitshift_wide),
};
const size_t skiff_test_ops_count = sizeof(skiff_test_ops) / sizeof(skiff_test_ops[0]);
