/* Unit tests for the codec table (codec_table.c) in both directions: for each
 * API a client's request is encoded, then decoded the way the server does,
 * and must give back the same tensors (dtypes, shapes, bytes, LoD); an
 * answer's error is in the API's shape. Registered in test_codec.c's main(). */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "core/core.h"
#include "proto/codec.h"
#include "proto/codec_int.h"

void test_codec_table_roundtrip(void **state);
void test_codec_table_errors(void **state);
void test_codec_table_responses(void **state);

static const int64_t D3[] = {3}, DSEQ[] = {-1};

/* A model of four inputs of different kinds; its io as the server sees it. */
static const skiff__io_spec rt_in[] = {
    {.name = "x",
     .alias = "feat",
     .dtype = SKIFF_DTYPE_FLOAT32,
     .ndim = 1,
     .dims = D3,
     .batched = true},
    {.name = "ids", .dtype = SKIFF_DTYPE_INT64, .ndim = 1, .dims = D3, .batched = true},
    {.name = "mask", .dtype = SKIFF_DTYPE_BOOL, .ndim = 1, .dims = D3, .batched = true},
    {.name = "h", .dtype = SKIFF_DTYPE_FLOAT16, .ndim = 1, .dims = D3, .batched = true},
};
static const skiff__io_spec rt_out[] = {{.name = "y",
                                         .alias = "score",
                                         .dtype = SKIFF_DTYPE_FLOAT32,
                                         .ndim = 1,
                                         .dims = D3,
                                         .batched = true}};
static const skiff__model_io M_RT = {rt_in, 4, rt_out, 1};

static const skiff__io_spec seq_in[] = {{.name = "w",
                                         .dtype = SKIFF_DTYPE_INT64,
                                         .ndim = 1,
                                         .dims = DSEQ,
                                         .batched = true,
                                         .is_lod = true}};
static const skiff__model_io M_SEQ = {seq_in, 1, rt_out, 1};

static skiff_tensor_t *make(skiff_dtype_t dt, int64_t rows, int64_t cols)
{
    int64_t dims[2] = {rows, cols};
    skiff_tensor_t *t;
    assert_null(skiff_tensor_new(dt, 2, dims, &t));
    uint8_t *p = t->data;
    for (size_t i = 0; i < t->nbytes; i++)
        p[i] = (uint8_t)(i * 7 + 3);
    if (dt == SKIFF_DTYPE_FLOAT32)
        for (int64_t i = 0; i < rows * cols; i++)
            ((float *)t->data)[i] = 0.1f * (float)i - 0.7f;
    if (dt == SKIFF_DTYPE_BOOL)
        for (int64_t i = 0; i < rows * cols; i++)
            ((uint8_t *)t->data)[i] = (uint8_t)(i % 3 == 0);
    if (dt == SKIFF_DTYPE_FLOAT16)
        for (int64_t i = 0; i < rows * cols; i++)
            ((uint16_t *)t->data)[i] = skiff__f32_to_f16(0.5f * (float)i);
    return t;
}

static void same_tensor(const skiff_tensor_t *a, const skiff_tensor_t *b)
{
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(a->ndim, b->ndim);
    for (int i = 0; i < a->ndim; i++)
        assert_int_equal(a->dims[i], b->dims[i]);
    assert_int_equal(a->nbytes, b->nbytes);
    assert_memory_equal(a->data, b->data, a->nbytes);
}

/* Encodes r with api's codec, decodes it against io, checks every input. */
static void roundtrip(skiff__api api, const skiff__model_io *io, const skiff__request_out *r)
{
    const skiff__codec *c = skiff__codec_of(api);
    assert_int_equal(c->api, api);
    skiff__buf body = {0};
    size_t json_len = 0;
    skiff_status_t *st = c->encode_request(r, &body, &json_len);
    if (st)
        fail_msg("%s encode_request: %s", c->name, skiff_status_message(st));
    assert_true(json_len > 0 && json_len <= body.len);
    skiff__codec_limits lim0 = {0}, lim;
    skiff__codec_limits_resolve(&lim0, &lim);
    skiff__decode_in in = {.body = body.data,
                           .len = body.len,
                           .io = io,
                           .limits = &lim,
                           .header_length = json_len < body.len ? (int64_t)json_len : -1};
    skiff__infer_request *req = NULL;
    st = c->decode_request(&in, &req);
    if (st)
        fail_msg("%s decode_request of %.*s: %s", c->name, (int)json_len, body.data,
                 skiff_status_message(st));
    assert_int_equal(req->n_inputs, r->n_inputs);
    for (int i = 0; i < r->n_inputs; i++) {
        const skiff__infer_input *got = &req->inputs[i];
        assert_int_equal(got->spec, i);
        same_tensor(r->inputs[i].tensor, got->tensor);
        assert_int_equal(got->n_lod, r->inputs[i].n_lod);
        if (got->n_lod)
            assert_memory_equal(got->lod, r->inputs[i].lod, sizeof(int64_t) * (size_t)got->n_lod);
    }
    assert_int_equal(req->n_outputs, r->n_fetch);
    if (r->n_fetch)
        assert_int_equal(req->outputs[0].spec, 0);
    if (api == SKIFF__API_PADDLE09 && r->log_id)
        assert_int_equal(req->log_id, r->log_id);
    skiff__infer_request_free(req);
    skiff__buf_free(&body);
}

void test_codec_table_roundtrip(void **state)
{
    skiff_tensor_t *x = make(SKIFF_DTYPE_FLOAT32, 2, 3), *ids = make(SKIFF_DTYPE_INT64, 2, 3),
                   *mask = make(SKIFF_DTYPE_BOOL, 2, 3), *h = make(SKIFF_DTYPE_FLOAT16, 2, 3);
    const char *fetch[] = {"score"};
    for (int binary = 0; binary < 2; binary++) {
        skiff__infer_output in[] = {
            {.name = "x", .alias = "feat", .tensor = x, .binary = binary},
            {.name = "ids", .alias = "ids", .tensor = ids, .binary = binary},
            {.name = "mask", .alias = "mask", .tensor = mask, .binary = binary},
            {.name = "h", .alias = "h", .tensor = h, .binary = binary},
        };
        skiff__request_out r = {.inputs = in,
                                .n_inputs = 4,
                                .fetch = fetch,
                                .n_fetch = 1,
                                .id = "r1",
                                .log_id = 42,
                                .binary_outputs = binary};
        roundtrip(SKIFF__API_KSERVE, &M_RT, &r);
        if (binary)
            continue;
        /* Paddle web has no float16 (JSON numbers come back as the
         * model's type): the first three inputs. */
        skiff__request_out web = r;
        web.n_inputs = 3;
        skiff__io_spec web_in[3];
        memcpy(web_in, rt_in, sizeof(web_in));
        skiff__model_io m_web = {web_in, 3, rt_out, 1};
        roundtrip(SKIFF__API_PADDLE_WEB, &m_web, &web);
        roundtrip(SKIFF__API_PADDLE09, &M_RT, &r);
        roundtrip(SKIFF__API_PADDLE09_PB, &M_RT, &r);
    }
    /* LoD: two sequences of 3 and 2 ids. */
    int64_t dims[2] = {5, 1};
    skiff_tensor_t *w;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_INT64, 2, dims, &w));
    for (int i = 0; i < 5; i++)
        ((int64_t *)w->data)[i] = 100 + i;
    const int64_t lod[] = {0, 3, 5};
    skiff__infer_output seq[] = {{.name = "w", .alias = "w", .tensor = w, .lod = lod, .n_lod = 3}};
    skiff__request_out rs = {.inputs = seq, .n_inputs = 1, .fetch = fetch, .n_fetch = 1};
    roundtrip(SKIFF__API_PADDLE09, &M_SEQ, &rs);
    roundtrip(SKIFF__API_PADDLE09_PB, &M_SEQ, &rs);
    skiff_tensor_free(w);
    skiff_tensor_free(x);
    skiff_tensor_free(ids);
    skiff_tensor_free(mask);
    skiff_tensor_free(h);
}

void test_codec_table_errors(void **state)
{
    static const struct {
        skiff__api api;
        const char *want;
    } cases[] = {
        {SKIFF__API_PADDLE_WEB, "{\"result\":\"bad x\"}"},
        {SKIFF__API_PADDLE09, "{\"err_no\":-5100,\"err_msg\":\"bad x\"}"},
        {SKIFF__API_KSERVE, "{\"error\":\"bad x\"}"},
        {SKIFF__API_NONE, "{\"error\":\"bad x\"}"},
        {(skiff__api)77, "{\"error\":\"bad x\"}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        skiff__buf b = {0};
        assert_null(
            skiff__codec_of(cases[i].api)->encode_error(SKIFF_CODE_INVALID_ARG, "bad x", &b));
        assert_string_equal(b.data, cases[i].want);
        skiff__buf_free(&b);
    }
    /* No codec for a non-inference API: a clean error, never a crash. */
    skiff__infer_request *req = NULL;
    skiff__decode_in in = {.body = "{}", .len = 2};
    skiff_status_t *st = skiff__codec_of(SKIFF__API_NONE)->decode_request(&in, &req);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INTERNAL);
    skiff_status_free(st);
    assert_null(req);
    assert_string_equal(skiff__codec_content_type(SKIFF__API_KSERVE, 10, 10), "application/json");
    assert_string_equal(skiff__codec_content_type(SKIFF__API_KSERVE, 10, 14),
                        "application/octet-stream");
    assert_string_equal(skiff__codec_content_type(SKIFF__API_PADDLE09_PB, 10, 10),
                        "application/proto");
    assert_int_equal(skiff__codec_paddle09_by_type("application/proto"), SKIFF__API_PADDLE09_PB);
    assert_int_equal(skiff__codec_paddle09_by_type("Application/X-Protobuf; charset=x"),
                     SKIFF__API_PADDLE09_PB);
    assert_int_equal(skiff__codec_paddle09_by_type("application/json"), SKIFF__API_PADDLE09);
    assert_int_equal(skiff__codec_paddle09_by_type("application/protocol"), SKIFF__API_PADDLE09);
    assert_int_equal(skiff__codec_paddle09_by_type(NULL), SKIFF__API_PADDLE09);
    /* A binary error: Response.err_no (field 5, varint) then err_msg (6). */
    skiff__buf e = {0};
    assert_null(
        skiff__codec_of(SKIFF__API_PADDLE09_PB)->encode_error(SKIFF_CODE_INVALID_ARG, "bad x", &e));
    assert_int_equal((uint8_t)e.data[0], 0x28);
    assert_int_equal((uint8_t)e.data[e.len - 7], 0x32);
    assert_memory_equal(e.data + e.len - 5, "bad x", 5);
    skiff__buf_free(&e);
    /* Garbage is refused as a malformed Request, never a crash. */
    skiff__codec_limits lim0 = {0}, lim;
    skiff__codec_limits_resolve(&lim0, &lim);
    skiff__decode_in bin = {.body = "\xff\xff\xff", .len = 3, .io = &M_RT, .limits = &lim};
    st = skiff__codec_of(SKIFF__API_PADDLE09_PB)->decode_request(&bin, &req);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    assert_non_null(strstr(skiff_status_message(st), "not a Paddle 0.9 Request"));
    skiff_status_free(st);
}

/* Server encodes an answer, client decodes it: the same tensors come back
 * (named by alias); an error answer reads back as the server's status. */
static void response_roundtrip(skiff__api api, const skiff__infer_output *outs, int n)
{
    const skiff__codec *c = skiff__codec_of(api);
    skiff__buf body = {0};
    size_t json_len = 0;
    skiff__encode_in enc = {
        .outs = outs, .n_outs = n, .model_name = "m", .model_version = "1", .id = "7", .log_id = 9};
    skiff_status_t *st = c->encode_response(&enc, &body, &json_len);
    if (st)
        fail_msg("%s encode_response: %s", c->name, skiff_status_message(st));
    skiff__decode_in in = {.body = body.data,
                           .len = body.len,
                           .header_length = json_len < body.len ? (int64_t)json_len : -1,
                           .http_status = 200};
    skiff__infer_request *got = NULL;
    st = c->decode_response(&in, &got);
    if (st)
        fail_msg("%s decode_response: %s", c->name, skiff_status_message(st));
    assert_int_equal(got->n_inputs, n);
    for (int i = 0; i < n; i++) {
        same_tensor(outs[i].tensor, got->inputs[i].tensor);
        assert_string_equal(got->inputs[i].name,
                            api == SKIFF__API_PADDLE09 || api == SKIFF__API_PADDLE09_PB
                                ? outs[i].alias
                                : outs[i].alias);
        assert_int_equal(got->inputs[i].n_lod, outs[i].n_lod);
    }
    skiff__infer_request_free(got);
    skiff__buf_reset(&body);
    /* The error answer of the same API. */
    assert_null(c->encode_error(SKIFF_CODE_INVALID_ARG, "input 'x': bad", &body));
    in = (skiff__decode_in){
        .body = body.data, .len = body.len, .header_length = -1, .http_status = 400};
    st = c->decode_response(&in, &got);
    assert_non_null(st);
    assert_null(got);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    assert_string_equal(skiff_status_message(st), "server: input 'x': bad");
    skiff_status_free(st);
    skiff__buf_free(&body);
}

void test_codec_table_responses(void **state)
{
    skiff_tensor_t *y = make(SKIFF_DTYPE_FLOAT32, 2, 3), *ids = make(SKIFF_DTYPE_INT64, 2, 3),
                   *h = make(SKIFF_DTYPE_FLOAT16, 2, 1);
    skiff__infer_output outs[] = {
        {.name = "y", .alias = "score", .tensor = y},
        {.name = "ids", .alias = "top", .tensor = ids},
        {.name = "h", .alias = "half", .tensor = h},
    };
    response_roundtrip(SKIFF__API_KSERVE, outs, 3);
    outs[0].binary = outs[2].binary = true;
    response_roundtrip(SKIFF__API_KSERVE, outs, 3);
    outs[0].binary = outs[2].binary = false;
    response_roundtrip(SKIFF__API_PADDLE09, outs, 3);
    response_roundtrip(SKIFF__API_PADDLE09_PB, outs, 3);
    /* Paddle web JSON carries numbers only; read back as float32. */
    response_roundtrip(SKIFF__API_PADDLE_WEB, outs, 1);
    /* Garbage is an answer the client cannot read, never a crash. */
    for (int api = SKIFF__API_PADDLE_WEB; api < SKIFF__API_COUNT; api++) {
        skiff__decode_in in = {.body = "\x01{[", .len = 3, .header_length = -1, .http_status = 200};
        skiff__infer_request *got = NULL;
        skiff_status_t *st = skiff__codec_of((skiff__api)api)->decode_response(&in, &got);
        assert_non_null(st);
        assert_null(got);
        assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
        skiff_status_free(st);
    }
    skiff_tensor_free(y);
    skiff_tensor_free(ids);
    skiff_tensor_free(h);
}
