/* Unit tests for src/core: status, tensors, npy, float16, allocation
 * failure injection. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* needs the headers above */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "skiff/engine.h"

static void test_status(void **state)
{
    skiff_status_t *st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "input '%s': bad", "x");
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    assert_string_equal(skiff_status_message(st), "input 'x': bad");
    st = skiff_status_wrap(st, "model %d", 3);
    assert_string_equal(skiff_status_message(st), "model 3: input 'x': bad");
    assert_int_equal(skiff_code_http_status(skiff_status_code(st)), 400);
    skiff_status_free(st);
    assert_int_equal(skiff_status_code(NULL), SKIFF_CODE_OK);
    assert_string_equal(skiff_status_message(NULL), "");
    assert_null(skiff_status_wrap(NULL, "x"));
    assert_int_equal(skiff_code_http_status(SKIFF_CODE_NOT_FOUND), 404);
    assert_int_equal(skiff_code_http_status(SKIFF_CODE_UNAVAILABLE), 503);
    assert_int_equal(skiff_code_http_status(SKIFF_CODE_DEADLINE_EXCEEDED), 504);
    assert_int_equal(skiff_code_grpc_status(SKIFF_CODE_INVALID_ARG), 3);
    assert_string_equal(skiff_code_name(SKIFF_CODE_INTERNAL), "INTERNAL");
    skiff_status_free(NULL);
}

/* The one code table: every code maps to each protocol's code. */
static void test_status_table(void **state)
{
    static const struct {
        skiff_code_t code;
        int http, grpc, paddle, pipeline;
    } want[] = {
        {SKIFF_CODE_OK, 200, 0, 0, 0},
        {SKIFF_CODE_INVALID_ARG, 400, 3, -5100, 5000},
        {SKIFF_CODE_NOT_FOUND, 404, 5, -5100, 3002},
        {SKIFF_CODE_ALREADY_EXISTS, 409, 6, -5000, 10000},
        {SKIFF_CODE_UNAVAILABLE, 503, 14, -5000, 3001},
        {SKIFF_CODE_UNSUPPORTED, 501, 12, -5000, 3000},
        {SKIFF_CODE_RESOURCE_EXHAUSTED, 503, 8, -5001, 10000},
        {SKIFF_CODE_DEADLINE_EXCEEDED, 504, 4, -5000, 6000},
        {SKIFF_CODE_CANCELLED, 499, 1, -5000, 10000},
        {SKIFF_CODE_INTERNAL, 500, 13, -5000, 10000},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        skiff_code_t c = want[i].code;
        assert_int_equal(skiff_code_http_status(c), want[i].http);
        assert_int_equal(skiff_code_grpc_status(c), want[i].grpc);
        assert_int_equal(skiff__code_paddle_errno(c), want[i].paddle);
        assert_int_equal(skiff__code_pipeline_errno(c), want[i].pipeline);
        assert_string_not_equal(skiff_code_name(c), "UNKNOWN");
    }
    /* Out of the table: the protocols' "internal / unknown". */
    assert_int_equal(skiff_code_http_status((skiff_code_t)99), 500);
    assert_int_equal(skiff_code_grpc_status((skiff_code_t)99), 2);
    assert_int_equal(skiff__code_paddle_errno((skiff_code_t)99), -5000);
    assert_int_equal(skiff__code_pipeline_errno((skiff_code_t)99), 10000);
    assert_string_equal(skiff_code_name((skiff_code_t)99), "UNKNOWN");
}

/* The one dtype table: every protocol's name or code of a dtype. */
static void test_dtype_table(void **state)
{
    assert_string_equal(skiff_dtype_kserve_name(SKIFF_DTYPE_FLOAT32), "FP32");
    assert_string_equal(skiff__dtype_triton_name(SKIFF_DTYPE_BFLOAT16), "TYPE_BF16");
    assert_string_equal(skiff__dtype_triton_name((skiff_dtype_t)99), "TYPE_INVALID");
    assert_int_equal(skiff__dtype_paddle_code(SKIFF_DTYPE_INT64), 0);
    assert_int_equal(skiff__dtype_paddle_code(SKIFF_DTYPE_STRING), 20);
    assert_int_equal(skiff__dtype_paddle_code(SKIFF_DTYPE_UINT32), -1);
    assert_int_equal(skiff__dtype_from_paddle(1), SKIFF_DTYPE_FLOAT32);
    assert_int_equal(skiff__dtype_from_paddle(10), SKIFF_DTYPE_UNDEFINED); /* complex64 */
    assert_int_equal(skiff__dtype_from_paddle(-1), SKIFF_DTYPE_UNDEFINED);
    assert_string_equal(skiff__paddle_type_name(11), "complex128");
    assert_string_equal(skiff__paddle_type_name(42), "unknown");
    assert_int_equal(skiff__dtype_from_onnx_name("DOUBLE"), SKIFF_DTYPE_FLOAT64);
    assert_int_equal(skiff__dtype_from_onnx_name("float"), SKIFF_DTYPE_FLOAT32);
    assert_int_equal(skiff__dtype_from_onnx_name("COMPLEX64"), SKIFF_DTYPE_UNDEFINED);
    assert_int_equal(skiff__dtype_from_onnx_name("nope"), SKIFF_DTYPE_UNDEFINED);
    /* Every dtype a name in each table where it has one, and back. */
    for (int d = 1; d <= SKIFF_DTYPE_BFLOAT16; d++) {
        const char *k = skiff_dtype_kserve_name((skiff_dtype_t)d);
        if (k)
            assert_int_equal(skiff_dtype_from_kserve(k), d);
        int code = skiff__dtype_paddle_code((skiff_dtype_t)d);
        if (code >= 0 && skiff_dtype_size((skiff_dtype_t)d))
            assert_int_equal(skiff__dtype_from_paddle(code), d);
    }
}

static void test_tensor(void **state)
{
    int64_t dims[] = {2, 3};
    skiff_tensor_t *t;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, dims, &t));
    assert_int_equal(t->nbytes, 24);
    assert_int_equal(skiff_tensor_numel(t), 6);
    ((float *)t->data)[5] = 1.5f;
    skiff_tensor_t *c;
    assert_null(skiff_tensor_clone(t, &c));
    assert_true(((float *)c->data)[5] == 1.5f);
    char buf[64];
    assert_string_equal(skiff_shape_str(2, dims, buf, sizeof(buf)), "[2,3]");
    skiff_tensor_free(t);
    skiff_tensor_free(c);

    int64_t bad[] = {-1, 3};
    skiff_status_t *st = skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, bad, &t);
    assert_non_null(st);
    assert_non_null(strstr(skiff_status_message(st), "[-1,3]"));
    skiff_status_free(st);
    int64_t huge[] = {INT64_MAX, 4};
    st = skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, huge, &t);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    skiff_status_free(st);

    assert_int_equal(skiff_dtype_from_kserve("FP32"), SKIFF_DTYPE_FLOAT32);
    assert_int_equal(skiff_dtype_from_kserve("INT64"), SKIFF_DTYPE_INT64);
    assert_int_equal(skiff_dtype_from_kserve("nope"), SKIFF_DTYPE_UNDEFINED);
    assert_string_equal(skiff_dtype_kserve_name(SKIFF_DTYPE_BOOL), "BOOL");
    assert_int_equal(skiff_shape_numel(0, NULL), 1);
}

static void test_npy_roundtrip(void **state)
{
    static const skiff_dtype_t types[] = {SKIFF_DTYPE_FLOAT32, SKIFF_DTYPE_INT64,
                                          SKIFF_DTYPE_UINT8,   SKIFF_DTYPE_FLOAT16,
                                          SKIFF_DTYPE_BOOL,    SKIFF_DTYPE_INT32};
    for (int r = 0; r <= 3; r++) {
        for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
            int64_t dims[] = {2, 3, 1};
            skiff_tensor_t *t;
            assert_null(skiff_tensor_new(types[k], r, dims, &t));
            for (size_t i = 0; i < t->nbytes; i++)
                ((unsigned char *)t->data)[i] =
                    types[k] == SKIFF_DTYPE_BOOL ? (i & 1) : (unsigned char)i;
            void *buf;
            size_t size;
            assert_null(skiff__npy_write_buffer(t, &buf, &size));
            assert_int_equal((10 + ((unsigned char *)buf)[8]) % 64, 0);
            skiff_tensor_t *u;
            skiff_status_t *st = skiff__npy_read_buffer(buf, size, &u);
            if (st)
                fail_msg("%s", skiff_status_message(st));
            assert_int_equal(u->dtype, t->dtype);
            assert_int_equal(u->ndim, r);
            for (int d = 0; d < r; d++)
                assert_int_equal(u->dims[d], dims[d]);
            assert_memory_equal(u->data, t->data, t->nbytes);
            skiff__free(buf);
            skiff_tensor_free(t);
            skiff_tensor_free(u);
        }
    }
}

static void expect_npy_error(const char *data, size_t len, const char *fragment)
{
    skiff_tensor_t *t = NULL;
    skiff_status_t *st = skiff__npy_read_buffer(data, len, &t);
    if (!st)
        fail_msg("expected an error containing '%s'", fragment);
    if (!strstr(skiff_status_message(st), fragment))
        fail_msg("message '%s' lacks '%s'", skiff_status_message(st), fragment);
    skiff_status_free(st);
}

static void make_npy(char *out, size_t *len, const char *header, size_t data_bytes)
{
    size_t hl = strlen(header);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (char)(hl & 0xff);
    out[9] = (char)(hl >> 8);
    memcpy(out + 10, header, hl);
    memset(out + 10 + hl, 0, data_bytes);
    *len = 10 + hl + data_bytes;
}

static void test_npy_errors(void **state)
{
    char buf[512];
    size_t len;
    expect_npy_error("hello", 5, "bad magic");
    make_npy(buf, &len, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", 8);
    expect_npy_error(buf, len, "big-endian");
    make_npy(buf, &len, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }\n", 8);
    expect_npy_error(buf, len, "fortran_order");
    make_npy(buf, &len, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n", 8);
    expect_npy_error(buf, len, "needs 16 data bytes, file has 8");
    make_npy(buf, &len, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }\n", 8);
    expect_npy_error(buf, len, "unsupported dtype");
    make_npy(buf, &len,
             "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", 8);
    expect_npy_error(buf, len, "too large");
    make_npy(buf, &len,
             "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }\n", 4);
    expect_npy_error(buf, len, "more than 8");
    make_npy(buf, &len,
             "{'descr': '<f4', 'fortran_order': False, 'shape': (3037000500, 3037000500, 4), }\n",
             4);
    expect_npy_error(buf, len, "overflows");
    /* header length pointing past the end */
    make_npy(buf, &len, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", 4);
    buf[9] = 0x7f;
    expect_npy_error(buf, len, "exceeds file size");
}

static void test_f16(void **state)
{
    const float vals[] = {0.0f,           1.0f,           -2.5f,          65504.0f,
                          6.1035156e-05f, 5.9604645e-08f, 0.333251953125f};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        assert_true(skiff__f16_to_f32(skiff__f32_to_f16(vals[i])) == vals[i]);
    assert_true(isinf(skiff__f16_to_f32(skiff__f32_to_f16(1e6f))));
    assert_true(isnan(skiff__f16_to_f32(skiff__f32_to_f16(NAN))));
    assert_int_equal(skiff__f32_to_f16(1.0f), 0x3c00);
    assert_true(skiff__bf16_to_f32(skiff__f32_to_bf16(1.5f)) == 1.5f);
}

static void test_alloc_failure(void **state)
{
    /* Every allocation inside tensor creation fails cleanly in turn. */
    for (long n = 1; n < 10; n++) {
        skiff__alloc_fail_at(n);
        int64_t dims[] = {4};
        skiff_tensor_t *t = NULL;
        skiff_status_t *st = skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 1, dims, &t);
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (failed) {
            assert_non_null(st);
            assert_int_equal(skiff_status_code(st), SKIFF_CODE_RESOURCE_EXHAUSTED);
            skiff_status_free(st);
        } else {
            assert_null(st);
            skiff_tensor_free(t);
            break;
        }
    }
}

static void test_parse(void **state)
{
    int64_t v;
    assert_true(skiff__parse_i64("42", &v));
    assert_int_equal(v, 42);
    assert_false(skiff__parse_i64("42x", &v));
    assert_false(skiff__parse_i64("", &v));
    assert_false(skiff__parse_i64("99999999999999999999", &v));
    double d;
    assert_true(skiff__parse_double("1.5", &d));
    assert_true(d == 1.5);
    assert_true(skiff_cpu_count() >= 1);
}

void test_arena(void **state);
void test_config_flags(void **state);
void test_config_yaml(void **state);
void test_arena_alloc_failure(void **state);

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_dtype_table),
        cmocka_unit_test(test_tensor),
        cmocka_unit_test(test_npy_roundtrip),
        cmocka_unit_test(test_npy_errors),
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_arena_alloc_failure),
        cmocka_unit_test(test_config_flags),
        cmocka_unit_test(test_config_yaml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
