/* test_registry.c - the step registry: unknown names and keys, bad values,
 * messages that name the step and the key, allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "skiff/steps.h"
#include "vision/steps.h"

static void expect_error(const char *name, const skiff__step_param *p, size_t n, const char *want1,
                         const char *want2)
{
    skiff__step *s = (skiff__step *)1;
    skiff_status_t *st = skiff__vision_step_new(name, p, n, &s);
    assert_non_null(st);
    assert_null(s);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    const char *m = skiff_status_message(st);
    if (!strstr(m, want1) || (want2 && !strstr(m, want2)))
        fail_msg("message '%s' lacks '%s' / '%s'", m, want1, want2 ? want2 : "");
    skiff_status_free(st);
}

static void test_unknown_step(void **state)
{
    expect_error("NoSuchStep", NULL, 0, "unknown step 'NoSuchStep'", NULL);
}

static void test_unknown_key(void **state)
{
    skiff__step_param p[] = {{"limit_side_len", "960"}, {"limt_type", "max"}};
    expect_error("DetResizeForTest", p, 2, "step 'DetResizeForTest'", "'limt_type'");
}

static void test_bad_values(void **state)
{
    skiff__step_param a[] = {{"limit_side_len", "abc"}};
    expect_error("DetResizeForTest", a, 1, "'DetResizeForTest'", "'limit_side_len'");
    skiff__step_param b[] = {{"limit_type", "sideways"}};
    expect_error("DetResizeForTest", b, 1, "'limit_type'", "one of max, min, resize_long");
    skiff__step_param c[] = {{"mean", "[0.5, x]"}};
    expect_error("NormalizeImage", c, 1, "'NormalizeImage'", "'mean'");
    skiff__step_param d[] = {{"mean", "0.5,0.5"}, {"std", "0.5,0.5,0.5"}};
    expect_error("Normalize", d, 2, "'Normalize'", "'std'");
    skiff__step_param e[] = {{"value", "0"}};
    expect_error("Div", e, 1, "'Div'", "'value'");
    skiff__step_param f[] = {{"interpolation", "bicubicish"}};
    expect_error("Resize", f, 1, "'Resize'", "'interpolation'");
    skiff__step_param g[] = {{"character_dict_path", "/nonexistent/dict.txt"}};
    expect_error("CTCLabelDecode", g, 1, "'CTCLabelDecode'", "'character_dict_path'");
    skiff__step_param h[] = {{"iou_threshold", "1.5"}};
    expect_error("NMS", h, 1, "'NMS'", "'iou_threshold'");
    skiff__step_param i[] = {{"mode", "mirror"}};
    expect_error("PadStride", i, 1, "'mode'", "one of constant, edge");
}

static void test_run_errors(void **state)
{
    skiff__step *s = NULL;
    skiff__step_param p[] = {{"width", "4"}, {"height", "3"}, {"interpolation", "cubic"}};
    assert_null(skiff__vision_step_new("Resize", p, 3, &s));
    assert_string_equal(skiff__vision_step_name(s), "Resize");
    skiff_tensor_t *out[SKIFF_STEP_MAX_OUT];
    int n = -1;
    skiff_status_t *st = skiff__vision_step_run(s, NULL, 0, out, SKIFF_STEP_MAX_OUT, &n);
    assert_non_null(st);
    assert_non_null(strstr(skiff_status_message(st), "step 'Resize'"));
    assert_int_equal(n, 0);
    skiff_status_free(st);
    int64_t d[2] = {2, 2};
    skiff_tensor_t *t = NULL;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_UINT8, 2, d, &t));
    const skiff_tensor_t *in[1] = {t};
    st = skiff__vision_step_run(s, in, 1, out, SKIFF_STEP_MAX_OUT, &n);
    assert_non_null(st);
    assert_non_null(strstr(skiff_status_message(st), "HWC"));
    skiff_status_free(st);
    /* A good run, then every allocation failing in turn. */
    int64_t d3[3] = {5, 7, 3};
    skiff_tensor_t *img = NULL;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_UINT8, 3, d3, &img));
    in[0] = img;
    assert_null(skiff__vision_step_run(s, in, 1, out, SKIFF_STEP_MAX_OUT, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->dims[0], 3);
    assert_int_equal(out[0]->dims[1], 4);
    skiff_tensor_free(out[0]);
    for (long k = 1; k < 20; k++) {
        skiff__alloc_fail_at(k);
        st = skiff__vision_step_run(s, in, 1, out, SKIFF_STEP_MAX_OUT, &n);
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (!failed) {
            assert_null(st);
            skiff_tensor_free(out[0]);
            break;
        }
        assert_non_null(st);
        assert_int_equal(n, 0);
        skiff_status_free(st);
    }
    skiff_tensor_free(img);
    skiff_tensor_free(t);
    skiff__vision_step_free(s);
}

static void test_names(void **state)
{
    int n = 0;
    while (skiff__vision_step_name_at(n))
        n++;
    assert_true(n >= 20);
    for (int i = 0; i < n; i++) {
        const char *name = skiff__vision_step_name_at(i);
        skiff__step *s = NULL;
        skiff_status_t *st = skiff__vision_step_new(name, NULL, 0, &s);
        /* Steps with a required file parameter must say which. */
        if (st) {
            assert_non_null(strstr(skiff_status_message(st), name));
            skiff_status_free(st);
        }
        skiff__vision_step_free(s);
    }
}

/* include/skiff/steps.h: the same registry behind the public handle. */
static void test_public_api(void **state)
{
    skiff_step_t *s = NULL;
    skiff_status_t *st = skiff_step_new("Resize", NULL, 1, &s);
    assert_non_null(st);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    assert_null(s);
    skiff_status_free(st);
    st = skiff_step_new("Resize", NULL, 0, NULL);
    assert_non_null(st);
    skiff_status_free(st);
    const skiff_step_param_t typo[] = {{"vlaue", "4"}};
    st = skiff_step_new("Div", typo, 1, &s);
    assert_non_null(st);
    assert_non_null(strstr(skiff_status_message(st), "'vlaue'"));
    assert_null(s);
    skiff_status_free(st);

    /* parameters are borrowed for the call only */
    char w[8] = "4", h[8] = "3";
    const skiff_step_param_t p[] = {{"width", w}, {"height", h}};
    assert_null(skiff_step_new("Resize", p, 2, &s));
    w[0] = 'x'; /* the step kept its own copy */
    assert_string_equal(skiff_step_name(s), "Resize");
    assert_string_equal(skiff_step_name(NULL), "");
    int64_t d3[3] = {5, 7, 3};
    skiff_tensor_t *img = NULL;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_UINT8, 3, d3, &img));
    const skiff_tensor_t *in[1] = {img};
    skiff_tensor_t *out[SKIFF_STEP_MAX_OUTPUTS];
    int n = -1;
    st = skiff_step_run(NULL, in, 1, out, SKIFF_STEP_MAX_OUTPUTS, &n);
    assert_non_null(st);
    assert_non_null(strstr(skiff_status_message(st), "step"));
    assert_int_equal(n, 0);
    skiff_status_free(st);
    st = skiff_step_run(s, NULL, 1, out, SKIFF_STEP_MAX_OUTPUTS, &n);
    assert_non_null(strstr(skiff_status_message(st), "inputs"));
    skiff_status_free(st);
    st = skiff_step_run(s, in, 1, out, 0, &n);
    assert_non_null(st); /* one output, room for none */
    assert_int_equal(n, 0);
    skiff_status_free(st);
    assert_null(skiff_step_run(s, in, 1, out, SKIFF_STEP_MAX_OUTPUTS, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->dims[0], 3);
    assert_int_equal(out[0]->dims[1], 4);
    skiff_tensor_free(out[0]);
    skiff_step_free(s);
    skiff_step_free(NULL);

    /* every allocation of skiff_step_new failing in turn */
    w[0] = '4';
    for (long k = 1; k < 20; k++) {
        s = NULL;
        skiff__alloc_fail_at(k);
        st = skiff_step_new("Resize", p, 2, &s);
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (!failed) {
            assert_null(st);
            skiff_step_free(s);
            break;
        }
        assert_non_null(st);
        assert_null(s);
        skiff_status_free(st);
    }
    skiff_tensor_free(img);

    int names = 0;
    for (; skiff_step_name_at(names); names++)
        assert_string_equal(skiff_step_name_at(names), skiff__vision_step_name_at(names));
    assert_true(names >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_step), cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_bad_values),   cmocka_unit_test(test_run_errors),
        cmocka_unit_test(test_names),        cmocka_unit_test(test_public_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
