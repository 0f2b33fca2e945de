/* Unit tests for the Paddle pipeline codecs (codec_pipeline.h): Paddle's
 * exact answer JSON, requests as Paddle's clients send them, round trips of
 * every elem_type through JSON and protobuf in both directions, every
 * refusal with its message, the limits, and allocation failure at every
 * allocation. Registered in test_codec.c's main(). */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "proto/codec_pipeline.h"

void test_pipe_seed_answer(void **state);
void test_pipe_request_json(void **state);
void test_pipe_roundtrip(void **state);
void test_pipe_tensor_json(void **state);
void test_pipe_bad_json(void **state);
void test_pipe_bad_pb(void **state);
void test_pipe_limits(void **state);
void test_pipe_encode_errors(void **state);
void test_pipe_errno(void **state);
void test_pipe_alloc_failures(void **state);

static void expect_err(skiff_status_t *st, skiff_code_t code, const char *frag, const char *body)
{
    if (!st)
        fail_msg("expected an error containing \"%s\", got success\n  body: %s", frag, body);
    const char *m = skiff_status_message(st);
    if (!strstr(m, frag))
        fail_msg("message \"%s\"\n  lacks \"%s\"\n  body: %s", m, frag, body);
    if (skiff_status_code(st) != code)
        fail_msg("code %s, expected %s for \"%s\"", skiff_code_name(skiff_status_code(st)),
                 skiff_code_name(code), m);
    skiff_status_free(st);
}

static skiff__pipe_msg *dec_req(const char *body)
{
    skiff__pipe_msg *m = NULL;
    skiff_status_t *st = skiff__pipe_decode_request_json(body, strlen(body), NULL, &m);
    if (st)
        fail_msg("decode failed: %s\n  body: %s", skiff_status_message(st), body);
    return m;
}

static skiff_tensor_t *mk(skiff_dtype_t dt, int nd, const int64_t *dims, const void *data)
{
    skiff_tensor_t *t;
    assert_null(skiff_tensor_new(dt, nd, dims, &t));
    if (!data)
        return t;
    if (dt == SKIFF_DTYPE_STRING) {
        const char *const *s = data;
        for (int64_t i = 0; i < skiff_tensor_numel(t); i++)
            ((char **)t->data)[i] = skiff__strdup(s[i]);
    } else if (t->nbytes) {
        memcpy(t->data, data, t->nbytes);
    }
    return t;
}

static void assert_same_msg(const skiff__pipe_msg *a, const skiff__pipe_msg *b)
{
    assert_int_equal(a->n_items, b->n_items);
    for (int i = 0; i < a->n_items; i++) {
        const skiff__pipe_item *x = &a->items[i], *y = &b->items[i];
        assert_string_equal(x->key ? x->key : "", y->key);
        assert_true((x->str != NULL) == (y->str != NULL));
        if (x->str) {
            assert_int_equal(x->str_len, y->str_len);
            assert_memory_equal(x->str, y->str, x->str_len);
            continue;
        }
        const skiff_tensor_t *s = x->tensor, *t = y->tensor;
        assert_int_equal(s->dtype, t->dtype);
        assert_int_equal(s->ndim, t->ndim);
        for (int d = 0; d < s->ndim; d++)
            assert_int_equal(s->dims[d], t->dims[d]);
        assert_int_equal(s->nbytes, t->nbytes);
        if (s->dtype == SKIFF_DTYPE_STRING)
            for (int64_t k = 0; k < skiff_tensor_numel(s); k++)
                assert_string_equal(((char **)s->data)[k], ((char **)t->data)[k]);
        else if (s->nbytes)
            assert_memory_equal(s->data, t->data, s->nbytes);
        assert_int_equal(x->n_lod, y->n_lod);
        if (x->n_lod)
            assert_memory_equal(x->lod, y->lod, sizeof(int64_t) * (size_t)x->n_lod);
        assert_int_equal(x->bytes, y->bytes);
    }
}

/* ---- Paddle's answer, byte for byte ------------------------------------------------ */

void test_pipe_seed_answer(void **state)
{
    skiff__pipe_item it = {.key = "price", .str = "18.901152", .str_len = 9};
    skiff__pipe_msg m = {.items = &it, .n_items = 1};
    skiff__buf b = {0};
    assert_null(skiff__pipe_encode_response_json(&m, &b));
    assert_string_equal(
        b.data, "{\"err_no\":0,\"err_msg\":\"\",\"key\":[\"price\"],\"value\":[\"18.901152\"],"
                "\"tensors\":[]}");
    /* An error answer: no items, err_no and the message escaped. */
    skiff__buf_reset(&b);
    skiff__pipe_msg e = {.err_no = skiff__pipe_errno_of(SKIFF_CODE_INVALID_ARG),
                         .err_msg = "key \"x\" bad"};
    assert_null(skiff__pipe_encode_response_json(&e, &b));
    assert_string_equal(b.data, "{\"err_no\":5000,\"err_msg\":\"key \\\"x\\\" bad\",\"key\":[],"
                                "\"value\":[],\"tensors\":[]}");
    /* ... and read back by a client. */
    skiff__pipe_msg *got = NULL;
    assert_null(skiff__pipe_decode_response_json(b.data, b.len, NULL, &got));
    assert_int_equal(got->err_no, 5000);
    assert_string_equal(got->err_msg, "key \"x\" bad");
    assert_int_equal(got->n_items, 0);
    assert_int_equal(skiff__pipe_code_of(got->err_no), SKIFF_CODE_INVALID_ARG);
    skiff__pipe_msg_free(got);
    skiff__buf_free(&b);
}

/* ---- requests as clients send them --------------------------------------------------- */

void test_pipe_request_json(void **state)
{
    /* Paddle's uci example: one key, its value a string of numbers. */
    skiff__pipe_msg *m = dec_req("{\"key\":[\"x\"],\"value\":[\"0.0137, -0.1136, 0.2553\"],"
                                 "\"logid\":10000,\"name\":\"uci\",\"method\":\"prediction\","
                                 "\"clientip\":\"10.0.0.1\"}");
    assert_int_equal(m->n_items, 1);
    assert_int_equal(m->n_pairs, 1);
    assert_string_equal(m->items[0].key, "x");
    assert_string_equal(m->items[0].str, "0.0137, -0.1136, 0.2553");
    assert_int_equal(m->items[0].str_len, 23);
    assert_null(m->items[0].tensor);
    assert_int_equal(m->logid, 10000);
    assert_string_equal(m->name, "uci");
    assert_string_equal(m->method, "prediction");
    assert_string_equal(m->clientip, "10.0.0.1");
    skiff__pipe_msg_free(m);

    /* Empty: every field absent; logid as a string; an escape in a value. */
    m = dec_req("{}");
    assert_int_equal(m->n_items, 0);
    assert_string_equal(m->name, "");
    assert_string_equal(m->clientip, "");
    skiff__pipe_msg_free(m);
    m = dec_req("{\"key\":[\"a\",\"b\"],\"value\":[\"1\",\"x\\ty\"],\"logid\":\"-7\","
                "\"tensors\":null}");
    assert_int_equal(m->logid, -7);
    assert_int_equal(m->items[1].str_len, 3);
    assert_memory_equal(m->items[1].str, "x\ty", 4);
    skiff__pipe_msg_free(m);

    /* Tensors in proto3 JSON: int64 as strings, camelCase names, NaN,
     * base64 bytes, lod; pairs come first whatever the order. */
    m = dec_req(
        "{\"tensors\":[{\"int64_data\":[\"-9007199254740993\",2,3.0],\"elem_type\":0,"
        "\"shape\":[3],\"name\":\"ids\",\"lod\":[0,1,3]},"
        "{\"floatData\":[1.5,\"NaN\",\"-Infinity\",\"2.5\"],\"elemType\":\"1\",\"shape\":[2,2],"
        "\"name\":\"f\"},"
        "{\"byte_data\":\"AP8B\",\"elem_type\":13,\"name\":\"raw\"},"
        "{\"uint32_data\":[16256],\"elem_type\":6,\"shape\":[1],\"name\":\"bf\"},"
        "{\"float_data\":[0.5],\"elem_type\":5,\"shape\":[],\"name\":\"h\"},"
        "{\"str_data\":[\"\\u00e9t\\u00e9\"],\"elem_type\":12,\"shape\":[1,1],\"name\":\"s\"},"
        "{\"bool_data\":[true,false],\"elem_type\":9,\"shape\":[2]}],"
        "\"key\":[\"k\"],\"value\":[\"v\"]}");
    assert_int_equal(m->n_items, 8);
    assert_int_equal(m->n_pairs, 1);
    assert_string_equal(m->items[0].key, "k");
    const skiff_tensor_t *t = m->items[1].tensor;
    assert_int_equal(t->dtype, SKIFF_DTYPE_INT64);
    assert_int_equal(((int64_t *)t->data)[0], -9007199254740993LL);
    assert_int_equal(((int64_t *)t->data)[2], 3);
    assert_int_equal(m->items[1].n_lod, 3);
    assert_int_equal(m->items[1].lod[2], 3);
    t = m->items[2].tensor;
    assert_int_equal(t->dtype, SKIFF_DTYPE_FLOAT32);
    assert_int_equal(t->ndim, 2);
    assert_true(isnan(((float *)t->data)[1]));
    assert_true(isinf(((float *)t->data)[2]) && ((float *)t->data)[2] < 0);
    assert_true(((float *)t->data)[3] == 2.5f);
    t = m->items[3].tensor;
    assert_int_equal(t->dtype, SKIFF_DTYPE_UINT8);
    assert_true(m->items[3].bytes);
    assert_int_equal(t->ndim, 1);
    assert_int_equal(t->dims[0], 3);
    assert_memory_equal(t->data, "\x00\xff\x01", 3);
    t = m->items[4].tensor;
    assert_int_equal(t->dtype, SKIFF_DTYPE_BFLOAT16);
    assert_true(skiff__bf16_to_f32(((uint16_t *)t->data)[0]) == 1.0f);
    t = m->items[5].tensor;
    assert_int_equal(t->dtype, SKIFF_DTYPE_FLOAT16);
    assert_int_equal(t->ndim, 0);
    assert_true(skiff__f16_to_f32(((uint16_t *)t->data)[0]) == 0.5f);
    t = m->items[6].tensor;
    assert_string_equal(((char **)t->data)[0], "\xc3\xa9t\xc3\xa9");
    assert_string_equal(m->items[7].key, "");
    assert_memory_equal(m->items[7].tensor->data, "\x01\x00", 2);
    skiff__pipe_msg_free(m);
}

/* ---- round trips ------------------------------------------------------------------------ */

typedef skiff_status_t *(*enc_fn)(const skiff__pipe_msg *, skiff__buf *);
typedef skiff_status_t *(*dec_fn)(const char *, size_t, const skiff__codec_limits *,
                                  skiff__pipe_msg **);

static skiff_status_t *dec_req_pb(const char *b, size_t n, const skiff__codec_limits *l,
                                  skiff__pipe_msg **o)
{
    return skiff__pipe_decode_request_pb(b, n, l, o);
}
static skiff_status_t *dec_resp_pb(const char *b, size_t n, const skiff__codec_limits *l,
                                   skiff__pipe_msg **o)
{
    return skiff__pipe_decode_response_pb(b, n, l, o);
}

static const struct {
    const char *name;
    enc_fn enc;
    dec_fn dec;
    bool request;
} forms[] = {
    {"request JSON", skiff__pipe_encode_request_json, skiff__pipe_decode_request_json, true},
    {"request pb", skiff__pipe_encode_request_pb, dec_req_pb, true},
    {"response JSON", skiff__pipe_encode_response_json, skiff__pipe_decode_response_json, false},
    {"response pb", skiff__pipe_encode_response_pb, dec_resp_pb, false},
};

/* Every supported dtype, a LoD, BYTES, a rank-0 and an empty tensor. */
typedef struct sample {
    skiff__pipe_item items[16];
    skiff__pipe_msg m;
} sample;

static void sample_make(sample *s)
{
    memset(s, 0, sizeof(*s));
    static const int64_t d3[] = {3}, d22[] = {2, 2}, d0[] = {0, 4};
    static const int64_t lod[] = {0, 2, 3};
    static const int64_t i64[] = {INT64_MIN, -1, INT64_MAX};
    static const float f32[] = {1.5f, -0.0f, 3.4e38f, 1e-45f};
    static const int32_t i32[] = {INT32_MIN, 0, INT32_MAX};
    static const double f64[] = {0.1, -1e308, 5e-324};
    static const int16_t i16[] = {-32768, 1, 32767};
    static const uint16_t f16[] = {0x3c00, 0x8000, 0x7bff, 0x0001};
    static const uint16_t bf16[] = {0x3f80, 0xff80, 0x0001};
    static const uint8_t u8[] = {0, 128, 255};
    static const int8_t i8[] = {-128, 0, 127};
    static const uint8_t bl[] = {1, 0, 1};
    static const char *const str[] = {"a", "", "\xe6\x97\xa5\xe6\x9c\xac"};
    static const uint8_t raw[] = {'\x93', 'N', 'U', 'M', 0};
    static const float one = 7.0f;
    int n = 0;
    s->items[n++] = (skiff__pipe_item){.key = "k1", .str = "v1", .str_len = 2};
    s->items[n++] = (skiff__pipe_item){.key = "k2", .str = "", .str_len = 0};
    s->items[n++] = (skiff__pipe_item){
        .key = "i64", .tensor = mk(SKIFF_DTYPE_INT64, 1, d3, i64), .lod = lod, .n_lod = 3};
    s->items[n++] =
        (skiff__pipe_item){.key = "f32", .tensor = mk(SKIFF_DTYPE_FLOAT32, 2, d22, f32)};
    s->items[n++] = (skiff__pipe_item){.key = "i32", .tensor = mk(SKIFF_DTYPE_INT32, 1, d3, i32)};
    s->items[n++] = (skiff__pipe_item){.key = "f64", .tensor = mk(SKIFF_DTYPE_FLOAT64, 1, d3, f64)};
    s->items[n++] = (skiff__pipe_item){.key = "i16", .tensor = mk(SKIFF_DTYPE_INT16, 1, d3, i16)};
    s->items[n++] =
        (skiff__pipe_item){.key = "f16", .tensor = mk(SKIFF_DTYPE_FLOAT16, 2, d22, f16)};
    s->items[n++] =
        (skiff__pipe_item){.key = "bf16", .tensor = mk(SKIFF_DTYPE_BFLOAT16, 1, d3, bf16)};
    s->items[n++] = (skiff__pipe_item){.key = "u8", .tensor = mk(SKIFF_DTYPE_UINT8, 1, d3, u8)};
    s->items[n++] = (skiff__pipe_item){.key = "i8", .tensor = mk(SKIFF_DTYPE_INT8, 1, d3, i8)};
    s->items[n++] = (skiff__pipe_item){.key = "b", .tensor = mk(SKIFF_DTYPE_BOOL, 1, d3, bl)};
    s->items[n++] = (skiff__pipe_item){.key = "s", .tensor = mk(SKIFF_DTYPE_STRING, 1, d3, str)};
    int64_t d5[] = {5};
    s->items[n++] = (skiff__pipe_item){
        .key = "raw", .tensor = mk(SKIFF_DTYPE_UINT8, 1, d5, raw), .bytes = true};
    s->items[n++] =
        (skiff__pipe_item){.key = "one", .tensor = mk(SKIFF_DTYPE_FLOAT32, 0, NULL, &one)};
    s->items[n++] =
        (skiff__pipe_item){.key = "empty", .tensor = mk(SKIFF_DTYPE_INT32, 2, d0, NULL)};
    s->m = (skiff__pipe_msg){.items = s->items,
                             .n_items = n,
                             .name = "uci",
                             .method = "prediction",
                             .clientip = "127.0.0.1",
                             .logid = -42,
                             .err_no = 7000,
                             .err_msg = "type \xe2\x9c\x97"};
}

static void sample_free(sample *s)
{
    for (int i = 0; i < s->m.n_items; i++)
        skiff_tensor_free(s->items[i].tensor);
}

void test_pipe_roundtrip(void **state)
{
    sample s;
    sample_make(&s);
    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        skiff__buf b = {0};
        skiff_status_t *st = forms[f].enc(&s.m, &b);
        if (st)
            fail_msg("%s: encode failed: %s", forms[f].name, skiff_status_message(st));
        skiff__pipe_msg *got = NULL;
        st = forms[f].dec(b.data, b.len, NULL, &got);
        if (st)
            fail_msg("%s: decode failed: %s\n  body: %s", forms[f].name, skiff_status_message(st),
                     b.data);
        assert_same_msg(&s.m, got);
        assert_int_equal(got->n_pairs, 2);
        if (forms[f].request) {
            assert_string_equal(got->name, "uci");
            assert_string_equal(got->method, "prediction");
            assert_string_equal(got->clientip, "127.0.0.1");
            assert_int_equal(got->logid, -42);
            assert_int_equal(got->err_no, 0);
        } else {
            assert_int_equal(got->err_no, 7000);
            assert_string_equal(got->err_msg, s.m.err_msg);
            assert_string_equal(got->name, "");
        }
        /* Encoding the decoded message gives the same bytes. */
        skiff__buf again = {0};
        assert_null(forms[f].enc(got, &again));
        assert_int_equal(again.len, b.len);
        assert_memory_equal(again.data, b.data, b.len);
        skiff__buf_free(&again);
        skiff__pipe_msg_free(got);
        skiff__buf_free(&b);
    }
    /* Pairs and tensors interleaved: pairs first on the wire. */
    skiff__pipe_item mixed[3] = {s.items[2], s.items[0], s.items[3]};
    skiff__pipe_msg mm = {.items = mixed, .n_items = 3};
    skiff__buf b = {0};
    assert_null(skiff__pipe_encode_request_pb(&mm, &b));
    skiff__pipe_msg *got = NULL;
    assert_null(skiff__pipe_decode_request_pb(b.data, b.len, NULL, &got));
    assert_int_equal(got->n_pairs, 1);
    assert_string_equal(got->items[0].key, "k1");
    assert_string_equal(got->items[1].key, "i64");
    assert_string_equal(got->items[2].key, "f32");
    skiff__pipe_msg_free(got);
    skiff__buf_free(&b);
    sample_free(&s);
}

/* A tensor in an answer: proto3 JSON, int64 as strings, non-finite floats
 * as proto3's strings, lod only when present. */
void test_pipe_tensor_json(void **state)
{
    static const int64_t d2[] = {2}, lod[] = {0, 2};
    static const int64_t i64[] = {-3, 9007199254740993LL};
    static const float f[] = {NAN, -INFINITY};
    skiff__pipe_item it[3] = {
        {.key = "ids", .tensor = mk(SKIFF_DTYPE_INT64, 1, d2, i64), .lod = lod, .n_lod = 2},
        {.key = "f", .tensor = mk(SKIFF_DTYPE_FLOAT32, 1, d2, f)},
        {.key = "price", .str = "1", .str_len = 1},
    };
    skiff__pipe_msg m = {.items = it, .n_items = 3};
    skiff__buf b = {0};
    assert_null(skiff__pipe_encode_response_json(&m, &b));
    assert_string_equal(
        b.data, "{\"err_no\":0,\"err_msg\":\"\",\"key\":[\"price\"],\"value\":[\"1\"],\"tensors\":["
                "{\"int64_data\":[\"-3\",\"9007199254740993\"],\"elem_type\":0,\"shape\":[2],"
                "\"lod\":[0,2],\"name\":\"ids\"},"
                "{\"float_data\":[\"NaN\",\"-Infinity\"],\"elem_type\":1,\"shape\":[2],"
                "\"name\":\"f\"}]}");
    /* A request writes int64 as numbers and logid always. */
    skiff__buf_reset(&b);
    skiff__pipe_msg q = {.items = it, .n_items = 1, .logid = 5};
    assert_null(skiff__pipe_encode_request_json(&q, &b));
    assert_string_equal(b.data, "{\"key\":[],\"value\":[],\"tensors\":[{\"int64_data\":[-3,"
                                "9007199254740993],\"elem_type\":0,\"shape\":[2],\"lod\":[0,2],"
                                "\"name\":\"ids\"}],\"logid\":5}");
    skiff__buf_free(&b);
    skiff_tensor_free(it[0].tensor);
    skiff_tensor_free(it[1].tensor);
}

/* ---- refusals ------------------------------------------------------------------------------ */

static const struct {
    const char *body;
    skiff_code_t code;
    const char *frag;
} bad_json[] = {
    {"", SKIFF_CODE_INVALID_ARG, "empty request body"},
    {"[1]", SKIFF_CODE_INVALID_ARG, "request body is a list, expected a JSON object"},
    {"{\"key\":[\"a\"],", SKIFF_CODE_INVALID_ARG, "malformed JSON"},
    {"{\"key\":[\"a\",\"b\"],\"value\":[\"1\"]}", SKIFF_CODE_INVALID_ARG,
     "key and value must have the same length: key has 2 entries, value has 1"},
    {"{\"value\":[\"1\"]}", SKIFF_CODE_INVALID_ARG, "key has 0 entries, value has 1"},
    {"{\"key\":\"a\",\"value\":[\"1\"]}", SKIFF_CODE_INVALID_ARG,
     "'key' must be a list, got a string"},
    {"{\"key\":[\"a\"],\"value\":[1]}", SKIFF_CODE_INVALID_ARG,
     "value[0] must be a string, got a number"},
    {"{\"key\":[\"a\\u0000\"],\"value\":[\"1\"]}", SKIFF_CODE_INVALID_ARG,
     "\\u0000 is not allowed"},
    {"{\"feed\":[]}", SKIFF_CODE_INVALID_ARG, "request: unknown field 'feed'"},
    {"{\"logid\":\"x\"}", SKIFF_CODE_INVALID_ARG, "'logid' must be an integer, got a string"},
    {"{\"logid\":1.5}", SKIFF_CODE_INVALID_ARG, "'logid' must be an integer, got a number"},
    {"{\"name\":1}", SKIFF_CODE_INVALID_ARG, "'name' must be a string, got a number"},
    {"{\"clientip\":[]}", SKIFF_CODE_INVALID_ARG, "'clientip' must be a string, got a list"},
    {"{\"tensors\":{}}", SKIFF_CODE_INVALID_ARG, "'tensors' must be a list, got an object"},
    {"{\"tensors\":[1]}", SKIFF_CODE_INVALID_ARG, "tensors[0] must be an object, got a number"},
    {"{\"tensors\":[{\"name\":5}]}", SKIFF_CODE_INVALID_ARG,
     "tensors[0]: 'name' must be a string, got a number"},
    {"{\"tensors\":[{\"name\":\"x\",\"data\":[1]}]}", SKIFF_CODE_INVALID_ARG,
     "tensor 'x': unknown field 'data'"},
    {"{\"tensors\":[{\"name\":\"x\",\"float_data\":[1,2,3],\"elem_type\":1,\"shape\":[2,2]}]}",
     SKIFF_CODE_INVALID_ARG,
     "tensor 'x': elem_type 1 (FP32) with shape [2,2] needs 4 values in float_data, got 3"},
    {"{\"tensors\":[{\"name\":\"x\",\"float_data\":[1,2],\"elem_type\":1}]}",
     SKIFF_CODE_INVALID_ARG,
     "tensor 'x': elem_type 1 (FP32) with shape [] needs 1 values in float_data, got 2"},
    {"{\"tensors\":[{\"float_data\":[1],\"shape\":[1]}]}", SKIFF_CODE_INVALID_ARG,
     "tensors[0]: elem_type 0 (INT64) carries its values in int64_data, but float_data holds 1"},
    {"{\"tensors\":[{\"name\":\"x\",\"elem_type\":14}]}", SKIFF_CODE_INVALID_ARG,
     "tensor 'x': unknown elem_type 14 (Paddle's are 0 to 13)"},
    {"{\"tensors\":[{\"name\":\"x\",\"elem_type\":-1}]}", SKIFF_CODE_INVALID_ARG,
     "unknown elem_type -1"},
    {"{\"tensors\":[{\"name\":\"x\",\"elem_type\":\"FP32\"}]}", SKIFF_CODE_INVALID_ARG,
     "tensor 'x': 'elem_type' must be an int32, got a string"},
    {"{\"tensors\":[{\"name\":\"c\",\"complex64_data\":[1,2],\"elem_type\":10,\"shape\":[1]}]}",
     SKIFF_CODE_UNSUPPORTED, "tensor 'c': elem_type 10 (COMPLEX64) is not supported"},
    {"{\"tensors\":[{\"name\":\"c\",\"elem_type\":11}]}", SKIFF_CODE_UNSUPPORTED,
     "elem_type 11 (COMPLEX128) is not supported"},
    {"{\"tensors\":[{\"name\":\"x\",\"int_data\":[1],\"elem_type\":2,\"shape\":[-1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': shape [-1] has a negative dimension"},
    {"{\"tensors\":[{\"name\":\"x\",\"elem_type\":2,\"shape\":[1,1,1,1,1,1,1,1,1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': shape has 9 dimensions, at most 8 are supported"},
    {"{\"tensors\":[{\"name\":\"x\",\"int_data\":[1],\"elem_type\":2,\"shape\":[65536,65536]}]}",
     SKIFF_CODE_INVALID_ARG, "with shape [65536,65536] needs 4294967296 values in int_data, got 1"},
    {"{\"tensors\":[{\"name\":\"x\",\"int_data\":[1],\"elem_type\":2,\"shape\":[3000000000]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': shape[0] = 3000000000 is out of range for int32"},
    {"{\"tensors\":[{\"name\":\"x\",\"int_data\":[2147483648],\"elem_type\":2,\"shape\":[1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': int_data[0] = 2147483648 is out of range for int32"},
    {"{\"tensors\":[{\"name\":\"x\",\"int_data\":[1,\"a\"],\"elem_type\":2,\"shape\":[2]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': int_data[1] must be an integer, got a string"},
    {"{\"tensors\":[{\"name\":\"x\",\"int_data\":[1,null],\"elem_type\":2,\"shape\":[2]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': int_data[1] must be an integer, got null"},
    {"{\"tensors\":[{\"name\":\"x\",\"int_data\":[300],\"elem_type\":8,\"shape\":[1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': int_data[0] = 300 is out of range for INT8"},
    {"{\"tensors\":[{\"name\":\"x\",\"int_data\":[40000],\"elem_type\":4,\"shape\":[1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': int_data[0] = 40000 is out of range for INT16"},
    {"{\"tensors\":[{\"name\":\"x\",\"uint32_data\":[256],\"elem_type\":7,\"shape\":[1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': uint32_data[0] = 256 is out of range for UINT8"},
    {"{\"tensors\":[{\"name\":\"x\",\"uint32_data\":[65536],\"elem_type\":6,\"shape\":[1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': uint32_data[0] = 65536 is out of range for BF16"},
    {"{\"tensors\":[{\"name\":\"x\",\"uint32_data\":[-1],\"elem_type\":7,\"shape\":[1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': uint32_data[0] = -1 is out of range for uint32"},
    {"{\"tensors\":[{\"name\":\"x\",\"float_data\":[1e39],\"elem_type\":1,\"shape\":[1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': float_data[0] = 1e+39 is out of range for float"},
    {"{\"tensors\":[{\"name\":\"x\",\"float_data\":[70000],\"elem_type\":5,\"shape\":[1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': float_data[0] = 70000 is out of range for FP16"},
    {"{\"tensors\":[{\"name\":\"x\",\"float_data\":[\"inf\"],\"elem_type\":1,\"shape\":[1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': float_data[0] must be a number, got a string"},
    {"{\"tensors\":[{\"name\":\"x\",\"bool_data\":[1],\"elem_type\":9,\"shape\":[1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': bool_data[0] must be true or false, got a number"},
    {"{\"tensors\":[{\"name\":\"x\",\"str_data\":[\"a\",2],\"elem_type\":12,\"shape\":[2]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': str_data[1] must be a string, got a number"},
    {"{\"tensors\":[{\"name\":\"x\",\"str_data\":[\"a\\u0000\"],\"elem_type\":12,\"shape\":[1]}]}",
     SKIFF_CODE_INVALID_ARG, "\\u0000 is not allowed"},
    {"{\"tensors\":[{\"name\":\"x\",\"byte_data\":\"!!\",\"elem_type\":13}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': 'byte_data' is not base64"},
    {"{\"tensors\":[{\"name\":\"x\",\"byte_data\":[1],\"elem_type\":13}]}", SKIFF_CODE_INVALID_ARG,
     "tensor 'x': 'byte_data' must be a base64 string, got a list"},
    {"{\"tensors\":[{\"name\":\"x\",\"byte_data\":\"AAAA\",\"elem_type\":13,\"shape\":[2]}]}",
     SKIFF_CODE_INVALID_ARG,
     "tensor 'x': elem_type 13 (BYTES) with shape [2] needs 2 values in byte_data, got 3"},
    {"{\"tensors\":[{\"name\":\"x\",\"int_data\":[1,2],\"elem_type\":2,\"shape\":[2],"
     "\"lod\":[0,1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': lod ends at 1 but the data has 2 rows"},
    {"{\"tensors\":[{\"name\":\"x\",\"int_data\":[1],\"elem_type\":2,\"lod\":[0,1]}]}",
     SKIFF_CODE_INVALID_ARG, "tensor 'x': has a lod but no dimensions"},
    {"{\"tensors\":[{\"name\":\"x\",\"shape\":\"1\"}]}", SKIFF_CODE_INVALID_ARG,
     "tensor 'x': 'shape' must be a list, got a string"},
};

void test_pipe_bad_json(void **state)
{
    for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
        skiff__pipe_msg *m = (skiff__pipe_msg *)1;
        skiff_status_t *st =
            skiff__pipe_decode_request_json(bad_json[i].body, strlen(bad_json[i].body), NULL, &m);
        assert_null(m);
        expect_err(st, bad_json[i].code, bad_json[i].frag, bad_json[i].body);
    }
    /* Responses: their own fields. */
    const char *r = "{\"err_no\":\"x\"}";
    skiff__pipe_msg *m = NULL;
    expect_err(skiff__pipe_decode_response_json(r, strlen(r), NULL, &m), SKIFF_CODE_INVALID_ARG,
               "'err_no' must be an int32, got a string", r);
    r = "{\"err_msg\":3}";
    expect_err(skiff__pipe_decode_response_json(r, strlen(r), NULL, &m), SKIFF_CODE_INVALID_ARG,
               "'err_msg' must be a string, got a number", r);
    r = "{\"logid\":3}";
    expect_err(skiff__pipe_decode_response_json(r, strlen(r), NULL, &m), SKIFF_CODE_INVALID_ARG,
               "response: unknown field 'logid'", r);
    r = "{\"errNo\":6000,\"errMsg\":\"late\"}";
    assert_null(skiff__pipe_decode_response_json(r, strlen(r), NULL, &m));
    assert_int_equal(m->err_no, 6000);
    assert_string_equal(m->err_msg, "late");
    skiff__pipe_msg_free(m);
}

/* Protobuf bytes written by hand: field tags and lengths. */
void test_pipe_bad_pb(void **state)
{
    skiff__pipe_msg *m = NULL;
    /* field 1 (key) without a value */
    expect_err(skiff__pipe_decode_request_pb("\x0a\x01"
                                             "a",
                                             3, NULL, &m),
               SKIFF_CODE_INVALID_ARG,
               "key and value must have the same length: key has 1 entries, value has 0", "pb");
    expect_err(skiff__pipe_decode_request_pb("\x0a\x05"
                                             "a",
                                             3, NULL, &m),
               SKIFF_CODE_INVALID_ARG,
               "the 3-byte body is not a Paddle pipeline Request in protobuf binary", "pb");
    expect_err(skiff__pipe_decode_response_pb("\xff", 1, NULL, &m), SKIFF_CODE_INVALID_ARG,
               "not a Paddle pipeline Response", "pb");
    /* tensors[0] {float_data packed [1.0] elem_type 1 shape [2]} */
    static const char t1[] = "\x1a\x0d\x12\x04\x00\x00\x80\x3f\xa0\x01\x01\xaa\x01\x01\x02";
    expect_err(skiff__pipe_decode_request_pb(t1, sizeof(t1) - 1, NULL, &m), SKIFF_CODE_INVALID_ARG,
               "tensors[0]: elem_type 1 (FP32) with shape [2] needs 2 values in float_data, got 1",
               "pb");
    /* the same with shape [1] decodes */
    static const char t2[] = "\x1a\x0d\x12\x04\x00\x00\x80\x3f\xa0\x01\x01\xaa\x01\x01\x01";
    assert_null(skiff__pipe_decode_request_pb(t2, sizeof(t2) - 1, NULL, &m));
    assert_int_equal(m->n_items, 1);
    assert_true(((float *)m->items[0].tensor->data)[0] == 1.0f);
    skiff__pipe_msg_free(m);
    /* elem_type 10 */
    static const char t3[] = "\x1a\x03\xa0\x01\x0a";
    expect_err(skiff__pipe_decode_request_pb(t3, sizeof(t3) - 1, NULL, &m), SKIFF_CODE_UNSUPPORTED,
               "tensors[0]: elem_type 10 (COMPLEX64) is not supported", "pb");
    /* the empty body is the empty Request */
    assert_null(skiff__pipe_decode_request_pb("", 0, NULL, &m));
    assert_int_equal(m->n_items, 0);
    skiff__pipe_msg_free(m);
}

void test_pipe_limits(void **state)
{
    skiff__codec_limits lim = {.max_inputs = 2, .max_elements = 4};
    const char *ok = "{\"key\":[\"a\",\"b\"],\"value\":[\"1\",\"2\"],\"tensors\":[{\"int_data\":"
                     "[1,2],\"elem_type\":2,\"shape\":[2]},{\"str_data\":[\"x\",\"y\"],"
                     "\"elem_type\":12,\"shape\":[2]}]}";
    skiff__pipe_msg *m = NULL;
    assert_null(skiff__pipe_decode_request_json(ok, strlen(ok), &lim, &m));
    /* the same message as protobuf, at the limits too */
    skiff__buf b = {0};
    assert_null(skiff__pipe_encode_request_pb(m, &b));
    skiff__pipe_msg_free(m);
    assert_null(skiff__pipe_decode_request_pb(b.data, b.len, &lim, &m));
    skiff__pipe_msg_free(m);
    lim.max_elements = 3;
    expect_err(skiff__pipe_decode_request_pb(b.data, b.len, &lim, &m), SKIFF_CODE_INVALID_ARG,
               "tensors[1]: its 2 values take the message past the limit of 3 elements", "pb");
    expect_err(skiff__pipe_decode_request_json(ok, strlen(ok), &lim, &m), SKIFF_CODE_INVALID_ARG,
               "tensors[1]: its 2 values take the message past the limit of 3 elements", ok);
    lim = (skiff__codec_limits){.max_inputs = 1};
    expect_err(skiff__pipe_decode_request_json(ok, strlen(ok), &lim, &m), SKIFF_CODE_INVALID_ARG,
               "key: 2 entries, more than the limit of 1", ok);
    expect_err(skiff__pipe_decode_request_pb(b.data, b.len, &lim, &m), SKIFF_CODE_INVALID_ARG,
               "key: 2 entries, more than the limit of 1", "pb");
    const char *two = "{\"tensors\":[{},{}]}";
    expect_err(skiff__pipe_decode_request_json(two, strlen(two), &lim, &m), SKIFF_CODE_INVALID_ARG,
               "tensors: 2 tensors, more than the limit of 1", two);
    /* base64 bytes count against max_elements */
    lim = (skiff__codec_limits){.max_elements = 2};
    const char *raw = "{\"tensors\":[{\"byte_data\":\"AAAA\",\"elem_type\":13}]}";
    expect_err(skiff__pipe_decode_request_json(raw, strlen(raw), &lim, &m), SKIFF_CODE_INVALID_ARG,
               "tensors[0]: its 3 values take the message past the limit of 2 elements", raw);
    skiff__buf_free(&b);
}

void test_pipe_encode_errors(void **state)
{
    static const int64_t d1[] = {1}, big[] = {3000000000LL};
    static const uint16_t u16 = 1;
    skiff__pipe_item it = {.key = "u", .tensor = mk(SKIFF_DTYPE_UINT16, 1, d1, &u16)};
    skiff__pipe_msg m = {.items = &it, .n_items = 1};
    skiff__buf b = {0};
    expect_err(skiff__pipe_encode_response_json(&m, &b), SKIFF_CODE_UNSUPPORTED,
               "tensor 'u': uint16 has no pipeline elem_type", "enc");
    assert_int_equal(b.len, 0);
    skiff_tensor_free(it.tensor);
    it.tensor = NULL;
    expect_err(skiff__pipe_encode_response_pb(&m, &b), SKIFF_CODE_INVALID_ARG,
               "item 0 ('u') must hold either a value or a tensor", "enc");
    static const float f = 1;
    it =
        (skiff__pipe_item){.key = "f", .tensor = mk(SKIFF_DTYPE_FLOAT32, 1, d1, &f), .bytes = true};
    expect_err(skiff__pipe_encode_request_pb(&m, &b), SKIFF_CODE_INVALID_ARG,
               "tensor 'f': only uint8 or int8 tensors travel as byte_data, not float32", "enc");
    skiff_tensor_free(it.tensor);
    skiff_tensor_t wide = {.dtype = SKIFF_DTYPE_UINT8, .ndim = 1, .dims = {big[0]}};
    it = (skiff__pipe_item){.tensor = &wide};
    expect_err(skiff__pipe_encode_request_json(&m, &b), SKIFF_CODE_UNSUPPORTED,
               "item 0 (a tensor): dim 3000000000 does not fit the pipeline's int32 shape", "enc");
    it = (skiff__pipe_item){.key = "k", .str = "a\0b", .str_len = 3};
    expect_err(skiff__pipe_encode_request_pb(&m, &b), SKIFF_CODE_INVALID_ARG,
               "the value of key 'k' holds a NUL byte, which the protobuf form cannot carry",
               "enc");
    /* JSON carries it */
    assert_null(skiff__pipe_encode_request_json(&m, &b));
    assert_non_null(strstr(b.data, "\"a\\u0000b\""));
    skiff__buf_free(&b);
}

void test_pipe_errno(void **state)
{
    static const struct {
        skiff_code_t code;
        int err_no;
    } map[] = {
        {SKIFF_CODE_OK, 0},
        {SKIFF_CODE_INVALID_ARG, SKIFF__PIPE_INPUT_PARAMS_ERROR},
        {SKIFF_CODE_NOT_FOUND, SKIFF__PIPE_NO_SERVICE},
        {SKIFF_CODE_UNAVAILABLE, SKIFF__PIPE_CLOSED_ERROR},
        {SKIFF_CODE_UNSUPPORTED, SKIFF__PIPE_NOT_IMPLEMENTED},
        {SKIFF_CODE_DEADLINE_EXCEEDED, SKIFF__PIPE_TIMEOUT},
        {SKIFF_CODE_INTERNAL, SKIFF__PIPE_UNKNOW},
        {SKIFF_CODE_RESOURCE_EXHAUSTED, SKIFF__PIPE_UNKNOW},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        assert_int_equal(skiff__pipe_errno_of(map[i].code), map[i].err_no);
    /* The other way; the codes above that are one-to-one come back. */
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(skiff__pipe_code_of(map[i].err_no), map[i].code);
    assert_int_equal(skiff__pipe_code_of(SKIFF__PIPE_TYPE_ERROR), SKIFF_CODE_INVALID_ARG);
    assert_int_equal(skiff__pipe_code_of(SKIFF__PIPE_CLIENT_ERROR), SKIFF_CODE_CANCELLED);
    assert_int_equal(skiff__pipe_code_of(SKIFF__PIPE_INIT_ERROR), SKIFF_CODE_UNAVAILABLE);
    assert_int_equal(skiff__pipe_code_of(SKIFF__PIPE_PRODUCT_ERROR + 3), SKIFF_CODE_INTERNAL);
    assert_int_equal(skiff__pipe_code_of(SKIFF__PIPE_CONF_ERROR), SKIFF_CODE_INTERNAL);
}

/* ---- allocation failure --------------------------------------------------------------- */

/* Fails each allocation of fn in turn, from `first` on: every failure must
 * be a clean RESOURCE_EXHAUSTED with nothing returned (leaks show under
 * ASan). */
static void alloc_walk(const char *what, dec_fn dec, enc_fn enc, const skiff__pipe_msg *src,
                       const char *body, size_t len)
{
    long first = 1;
    if (dec && body[0] == '{') {
        /* jansson 2.14's lexer mishandles its own buffer-growth failures
         * (see skiff__codec_init), so failures start after json_loadb's. */
        skiff__alloc_fail_at(0);
        json_t *pre = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
        first = skiff__alloc_count() + 1;
        json_decref(pre);
    }
    for (long n = first; n < 100000; n++) {
        skiff__alloc_fail_at(n);
        skiff__pipe_msg *m = NULL;
        skiff__buf b = {0};
        skiff_status_t *st = dec ? dec(body, len, NULL, &m) : enc(src, &b);
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        skiff__buf_free(&b);
        if (!failed) {
            if (st)
                fail_msg("%s: clean run failed: %s", what, skiff_status_message(st));
            skiff__pipe_msg_free(m);
            return;
        }
        if (!st)
            fail_msg("%s: allocation %ld failed but the call succeeded", what, n);
        if (skiff_status_code(st) != SKIFF_CODE_RESOURCE_EXHAUSTED)
            fail_msg("%s: allocation %ld failed, got %s: %s", what, n,
                     skiff_code_name(skiff_status_code(st)), skiff_status_message(st));
        assert_null(m);
        skiff_status_free(st);
    }
    fail_msg("%s: alloc walk did not finish", what);
}

void test_pipe_alloc_failures(void **state)
{
    sample s;
    sample_make(&s);
    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        alloc_walk(forms[f].name, NULL, forms[f].enc, &s.m, NULL, 0);
        skiff__buf b = {0};
        assert_null(forms[f].enc(&s.m, &b));
        alloc_walk(forms[f].name, forms[f].dec, NULL, NULL, b.data, b.len);
        skiff__buf_free(&b);
    }
    sample_free(&s);
}
