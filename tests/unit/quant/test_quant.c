/* test_quant.c - unit tests of the quant layer's calibration math
 * (src/quant/calib.c): the three methods' ranges on data whose answer is
 * known, the uint8 parameters, and the rule that exact zeros stay out of the
 * histograms. The QDQ rewrite is tested end to end by tests/quant. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "quant/quant.h"

#define N 20000

/* Deterministic uniform values in [0, 1). */
static float unit(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffffff) / (float)(1 << 24);
}

/* Both passes over one array. */
static void range_of(const float *x, size_t n, skiff__calib_method m, double pct, float *lo,
                     float *hi)
{
    skiff__calib c;
    skiff__calib_init(&c);
    skiff__calib_observe(&c, x, n);
    if (m != SKIFF__CALIB_MINMAX) {
        skiff_status_t *st = skiff__calib_hist_begin(&c);
        assert_null(st);
        skiff__calib_hist_add(&c, x, n);
    }
    skiff__calib_range(&c, m, pct, lo, hi);
    skiff__calib_free(&c);
}

static void test_minmax(void **state)
{
    float x[] = {-1.5f, 0.25f, 3.0f, NAN, INFINITY, 2.0f};
    skiff__calib c;
    skiff__calib_init(&c);
    skiff__calib_observe(&c, x, 6);
    assert_int_equal(c.nonfinite, 2);
    assert_int_equal(c.count, 4);
    float lo, hi;
    skiff__calib_range(&c, SKIFF__CALIB_MINMAX, 0, &lo, &hi);
    assert_true(lo == -1.5f && hi == 3.0f);
    /* a positive-only tensor still reaches down to 0 */
    float y[] = {2.0f, 5.0f};
    range_of(y, 2, SKIFF__CALIB_MINMAX, 0, &lo, &hi);
    assert_true(lo == 0 && hi == 5.0f);
    /* nothing observed: an empty range */
    skiff__calib_init(&c);
    skiff__calib_range(&c, SKIFF__CALIB_ENTROPY, 0, &lo, &hi);
    assert_true(lo == 0 && hi == 0);
}

static void test_percentile_clips_outlier(void **state)
{
    static float x[N];
    uint32_t s = 1;
    for (int i = 0; i < N; i++)
        x[i] = unit(&s) * 2 - 1; /* [-1, 1) */
    x[7] = 100;                  /* one outlier */
    float lo, hi;
    range_of(x, N, SKIFF__CALIB_PERCENTILE, 99.9, &lo, &hi);
    /* the 99.9th percentile of |x| is ~0.999; one bin is 100 / 2048 wide */
    assert_true(hi > 0.95f && hi < 1.0f + 100.0f / 2048 + 1e-3f);
    assert_true(lo < -0.95f && lo >= -hi - 1e-6f);
    range_of(x, N, SKIFF__CALIB_PERCENTILE, 100, &lo, &hi);
    assert_true(hi == 100.0f);
}

static void test_entropy(void **state)
{
    static float x[N];
    uint32_t s = 2;
    /* a bell over [-4, 4] (sum of uniforms) and a few far outliers: the
     * threshold lies well inside the outliers and past most of the bell */
    for (int i = 0; i < N; i++)
        x[i] = (unit(&s) + unit(&s) + unit(&s) + unit(&s) - 2) * 2;
    for (int i = 0; i < 5; i++)
        x[i * 100] = 40.0f + (float)i;
    float lo, hi;
    range_of(x, N, SKIFF__CALIB_ENTROPY, 0, &lo, &hi);
    assert_true(hi > 2.0f && hi < 20.0f);
    assert_true(lo < -2.0f && lo > -20.0f);
    /* uniform values with no tail: little or nothing clipped */
    for (int i = 0; i < N; i++)
        x[i] = unit(&s) * 6;
    range_of(x, N, SKIFF__CALIB_ENTROPY, 0, &lo, &hi);
    assert_true(lo == 0 && hi > 5.0f && hi <= 6.0f);
}

static void test_zeros_left_out(void **state)
{
    /* the same values with and without a ReLU's zeros: the same ranges */
    static float x[N], y[2 * N];
    uint32_t s = 3;
    for (int i = 0; i < N; i++) {
        float v = unit(&s);
        x[i] = v * v * 6;
        y[2 * i] = x[i];
        y[2 * i + 1] = 0;
    }
    for (int m = SKIFF__CALIB_PERCENTILE; m <= SKIFF__CALIB_ENTROPY; m++) {
        float lo1, hi1, lo2, hi2;
        range_of(x, N, (skiff__calib_method)m, 99.9, &lo1, &hi1);
        range_of(y, 2 * N, (skiff__calib_method)m, 99.9, &lo2, &hi2);
        assert_true(lo1 == lo2 && hi1 == hi2);
        assert_true(hi1 > 3.0f);
    }
}

static void test_u8_params(void **state)
{
    float scale;
    uint8_t zp;
    skiff__quant_params_u8(-1.0f, 3.0f, &scale, &zp);
    assert_true(fabsf(scale - 4.0f / 255) < 1e-7f);
    assert_int_equal(zp, 64);
    skiff__quant_params_u8(0, 6.0f, &scale, &zp);
    assert_int_equal(zp, 0);
    skiff__quant_params_u8(-2.0f, 0, &scale, &zp);
    assert_int_equal(zp, 255);
    skiff__quant_params_u8(0, 0, &scale, &zp);
    assert_true(scale == 1.0f && zp == 0);
    skiff__quant_params_u8(1.0f, 2.0f, &scale, &zp); /* widened to hold 0 */
    assert_true(fabsf(scale - 2.0f / 255) < 1e-7f && zp == 0);
}

static void test_method_names(void **state)
{
    skiff__calib_method m;
    assert_true(skiff__calib_method_parse("entropy", &m) && m == SKIFF__CALIB_ENTROPY);
    assert_false(skiff__calib_method_parse("kl", &m));
    assert_string_equal(skiff__calib_method_name(SKIFF__CALIB_PERCENTILE), "percentile");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minmax),    cmocka_unit_test(test_percentile_clips_outlier),
        cmocka_unit_test(test_entropy),   cmocka_unit_test(test_zeros_left_out),
        cmocka_unit_test(test_u8_params), cmocka_unit_test(test_method_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
