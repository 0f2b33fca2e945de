/* Unit tests for src/serve codecs (codec.h): the Paddle web, Paddle 0.9 and
 * KServe v2 decoders and encoders. Good requests are checked value by value;
 * bad ones come from tables, each asserting its status code and a fragment of
 * the message a client would read. Allocation failure is injected at every
 * allocation of a representative decode and encode.
 *
 * This file holds the unit_serve executable's main(); other serve tests added
 * to tests/unit/serve/ must register their groups here. */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "proto/codec.h"
#include "proto/codec_int.h"

/* ---- models ------------------------------------------------------------------ */

static const int64_t D13[] = {13}, D1[] = {1}, D2[] = {2}, DSEQ[] = {-1}, DDYN[] = {-1, 4},
                     D22[] = {2, 2};

/* uci_housing: x [13] -> price [1] (tensor fc_0.tmp_1) */
static const skiff__io_spec housing_in[] = {{.name = "x",
                                             .alias = "x",
                                             .dtype = SKIFF_DTYPE_FLOAT32,
                                             .ndim = 1,
                                             .dims = D13,
                                             .batched = true}};
static const skiff__io_spec housing_out[] = {{.name = "fc_0.tmp_1",
                                              .alias = "price",
                                              .dtype = SKIFF_DTYPE_FLOAT32,
                                              .ndim = 1,
                                              .dims = D1,
                                              .batched = true}};
static const skiff__model_io M_HOUSING = {housing_in, 1, housing_out, 1};

static const skiff__io_spec two_in[] = {
    {.name = "x", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 1, .dims = D13, .batched = true},
    {.name = "y", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 1, .dims = D1, .batched = true}};
static const skiff__io_spec two_out[] = {
    {.name = "a", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 1, .dims = D1, .batched = true},
    {.name = "b", .dtype = SKIFF_DTYPE_STRING, .ndim = 1, .dims = D1, .batched = true}};
static const skiff__model_io M_TWO = {two_in, 2, two_out, 2};

static const skiff__io_spec lod_in[] = {{.name = "word",
                                         .alias = "words",
                                         .dtype = SKIFF_DTYPE_INT64,
                                         .ndim = 1,
                                         .dims = DSEQ,
                                         .batched = true,
                                         .is_lod = true}};
static const skiff__model_io M_LOD = {lod_in, 1, housing_out, 1};

/* every input optional, so each type can be tested alone */
static const skiff__io_spec types_in[] = {
    {.name = "i",
     .dtype = SKIFF_DTYPE_INT64,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
    {.name = "s",
     .dtype = SKIFF_DTYPE_STRING,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
    {.name = "u",
     .dtype = SKIFF_DTYPE_UINT8,
     .ndim = 1,
     .dims = D2,
     .batched = true,
     .optional = true},
    {.name = "b",
     .dtype = SKIFF_DTYPE_BOOL,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
    {.name = "h",
     .dtype = SKIFF_DTYPE_FLOAT16,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
    {.name = "n",
     .dtype = SKIFF_DTYPE_INT32,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
    {.name = "d",
     .dtype = SKIFF_DTYPE_FLOAT64,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
    {.name = "f",
     .dtype = SKIFF_DTYPE_FLOAT32,
     .ndim = 1,
     .dims = D1,
     .batched = true,
     .optional = true},
};
static const skiff__model_io M_TYPES = {types_in, 8, housing_out, 1};

static const skiff__io_spec dyn_in[] = {
    {.name = "d", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 2, .dims = DDYN, .batched = true}};
static const skiff__model_io M_DYN = {dyn_in, 1, housing_out, 1};

static const skiff__io_spec fixed_in[] = {
    {.name = "f", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 2, .dims = D22, .batched = false}};
static const skiff__model_io M_FIXED = {fixed_in, 1, housing_out, 1};

static const skiff__io_spec alias_in[] = {{.name = "x_name",
                                           .alias = "x",
                                           .dtype = SKIFF_DTYPE_FLOAT32,
                                           .ndim = 1,
                                           .dims = D1,
                                           .batched = true}};
static const skiff__model_io M_ALIAS = {alias_in, 1, housing_out, 1};

static const skiff__io_spec pair_in[] = {
    {.name = "p", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 1, .dims = D2, .batched = true}};
static const skiff__model_io M_PAIR = {pair_in, 1, housing_out, 1};

#define X13                                                                                        \
    "[0.0137,-0.1136,0.2553,-0.0692,0.0501,-0.0019,0.0765,-0.0977,0.1049,0.0212,0.0301,0.0437,-0." \
    "0432]"
#define X12                                                                                        \
    "[0.0137,-0.1136,0.2553,-0.0692,0.0501,-0.0019,0.0765,-0.0977,0.1049,0.0212,0.0301,0.0437]"
static const float X13V[13] = {0.0137f,  -0.1136f, 0.2553f, -0.0692f, 0.0501f, -0.0019f, 0.0765f,
                               -0.0977f, 0.1049f,  0.0212f, 0.0301f,  0.0437f, -0.0432f};

/* ---- helpers ----------------------------------------------------------------- */

typedef skiff_status_t *(*decode_fn)(const char *, size_t, const skiff__model_io *,
                                     const skiff__codec_limits *, skiff__infer_request **);

static skiff_status_t *dec_kserve_json(const char *b, size_t n, const skiff__model_io *io,
                                       const skiff__codec_limits *l, skiff__infer_request **r)
{
    return skiff__decode_kserve(b, n, -1, io, l, r);
}

static skiff__infer_request *ok_decode(decode_fn fn, const skiff__model_io *io, const char *body)
{
    skiff__infer_request *r = NULL;
    skiff_status_t *st = fn(body, strlen(body), io, NULL, &r);
    if (st)
        fail_msg("decode failed: %s\n  body: %s", skiff_status_message(st), body);
    assert_non_null(r);
    return r;
}

static void expect_msg(skiff_status_t *st, skiff_code_t code, const char *frag, const char *body)
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

static const float *fdata(const skiff__infer_request *r, int i)
{
    return (const float *)r->inputs[i].tensor->data;
}

static void assert_dims(const skiff_tensor_t *t, int nd, const int64_t *d)
{
    char a[100], b[100];
    if (t->ndim != nd || memcmp(t->dims, d, sizeof(int64_t) * (size_t)nd) != 0)
        fail_msg("shape %s, expected %s", skiff_shape_str(t->ndim, t->dims, a, sizeof(a)),
                 skiff_shape_str(nd, d, b, sizeof(b)));
}

typedef struct bad_case {
    const skiff__model_io *io;
    const char *body;
    skiff_code_t code;
    const char *frag;
    size_t len;         /* 0 = strlen(body) */
    int64_t header_len; /* KServe: Inference-Header-Content-Length, 0 = none */
} bad_case;

#define BAD(io, body, frag)                                                                        \
    {                                                                                              \
        io, body, SKIFF_CODE_INVALID_ARG, frag, 0, 0                                               \
    }
#define UNS(io, body, frag)                                                                        \
    {                                                                                              \
        io, body, SKIFF_CODE_UNSUPPORTED, frag, 0, 0                                               \
    }

static int run_bad(decode_fn fn, const bad_case *cases, size_t n)
{
    static const skiff__codec_limits lim = {
        .max_elements = 1000, .max_inputs = 8, .max_outputs = 4};
    for (size_t i = 0; i < n; i++) {
        skiff__infer_request *r = (skiff__infer_request *)1;
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].body);
        skiff_status_t *st = fn(cases[i].body, len, cases[i].io, &lim, &r);
        if (r != NULL)
            fail_msg("case %zu: *out_req not NULL on error", i);
        expect_msg(st, cases[i].code, cases[i].frag, cases[i].body);
    }
    return (int)n;
}

/* Fails allocation 1, 2, ... of fn(body) until a run completes without hitting
 * an injected failure; every failing run must report RESOURCE_EXHAUSTED. */
static void alloc_walk(decode_fn fn, const skiff__model_io *io, const char *body, size_t len)
{
    /* jansson 2.14's lexer ignores its own buffer-growth failures (lex_save
     * drops the error; akheron/jansson PR #735) and can then write out of
     * bounds, so failures are injected only after json_loadb's allocations. */
    skiff__alloc_fail_at(0);
    json_t *pre = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    long first = skiff__alloc_count() + 1;
    json_decref(pre);
    for (long n = first; n < 100000; n++) {
        skiff__alloc_fail_at(n);
        skiff__infer_request *r = NULL;
        skiff_status_t *st = fn(body, len, io, NULL, &r);
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (!failed) {
            if (st)
                fail_msg("clean run failed: %s", skiff_status_message(st));
            skiff__infer_request_free(r);
            return;
        }
        if (!st)
            fail_msg("allocation %ld failed but decode succeeded", n);
        if (skiff_status_code(st) != SKIFF_CODE_RESOURCE_EXHAUSTED)
            fail_msg("allocation %ld failed, got %s: %s", n, skiff_code_name(skiff_status_code(st)),
                     skiff_status_message(st));
        assert_null(r);
        skiff_status_free(st);
    }
    fail_msg("alloc walk did not finish");
}

static skiff_tensor_t *mk(skiff_dtype_t dt, int nd, const int64_t *dims, const void *data)
{
    skiff_tensor_t *t;
    assert_null(skiff_tensor_new(dt, nd, dims, &t));
    if (data && dt != SKIFF_DTYPE_STRING)
        memcpy(t->data, data, t->nbytes);
    if (data && dt == SKIFF_DTYPE_STRING) {
        const char *const *s = data;
        for (int64_t i = 0; i < skiff_tensor_numel(t); i++)
            ((char **)t->data)[i] = skiff__strdup(s[i]);
    }
    return t;
}

static void assert_valid_json(const char *s, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("invalid JSON (%s at %d): %.*s", e.text, e.position, (int)n, s);
    json_decref(j);
}

/* ============================== Paddle web ===================================== */

static void test_web_housing(void **state)
{
    skiff__infer_request *r = ok_decode(skiff__decode_paddle_web, &M_HOUSING,
                                        "{\"feed\":[{\"x\":" X13 "}],\"fetch\":[\"price\"]}");
    assert_int_equal(r->n_inputs, 1);
    assert_string_equal(r->inputs[0].name, "x");
    assert_int_equal(r->inputs[0].spec, 0);
    assert_int_equal(r->inputs[0].tensor->dtype, SKIFF_DTYPE_FLOAT32);
    assert_dims(r->inputs[0].tensor, 2, (int64_t[]){1, 13});
    for (int i = 0; i < 13; i++)
        assert_true(fdata(r, 0)[i] == X13V[i]);
    assert_null(r->inputs[0].lod);
    assert_int_equal(r->n_outputs, 1);
    assert_string_equal(r->outputs[0].name, "price");
    assert_int_equal(r->outputs[0].spec, 0);
    assert_int_equal(r->batch, 1);
    skiff__infer_request_free(r);

    /* fetch by tensor name works too; a list of two dicts is a batch of 2 */
    r = ok_decode(skiff__decode_paddle_web, &M_HOUSING,
                  "{\"feed\":[{\"x\":" X13 "},{\"x\":" X13 "}],\"fetch\":[\"fc_0.tmp_1\"]}");
    assert_dims(r->inputs[0].tensor, 2, (int64_t[]){2, 13});
    assert_true(fdata(r, 0)[13] == X13V[0] && fdata(r, 0)[25] == X13V[12]);
    assert_int_equal(r->batch, 2);
    assert_int_equal(r->outputs[0].spec, 0);
    skiff__infer_request_free(r);

    /* nested with batch dim; one dict holding two instances flat; feed as a dict;
     * fetch as one string; fetch left out */
    r = ok_decode(skiff__decode_paddle_web, &M_HOUSING, "{\"feed\":[{\"x\":[" X13 "]}]}");
    assert_dims(r->inputs[0].tensor, 2, (int64_t[]){1, 13});
    assert_int_equal(r->n_outputs, 0);
    skiff__infer_request_free(r);
    r = ok_decode(skiff__decode_paddle_web, &M_HOUSING,
                  "{\"feed\":{\"x\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,"
                  "23,24,25]},\"fetch\":\"price\"}");
    assert_dims(r->inputs[0].tensor, 2, (int64_t[]){2, 13});
    assert_true(fdata(r, 0)[25] == 25.0f);
    assert_int_equal(r->batch, 2);
    assert_int_equal(r->n_outputs, 1);
    skiff__infer_request_free(r);
}

static void test_web_types(void **state)
{
    skiff__infer_request *r =
        ok_decode(skiff__decode_paddle_web, &M_TYPES,
                  "{\"feed\":[{\"i\":[9007199254740993],\"s\":[\"h\\u00e9llo\"],\"u\":[0,255],"
                  "\"b\":[true],\"h\":[0.5],\"n\":[-2147483648],\"d\":[0.1],\"f\":[3.0]}]}");
    assert_int_equal(r->n_inputs, 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(r->inputs[i].spec, i);
    assert_true(((int64_t *)r->inputs[0].tensor->data)[0] == 9007199254740993LL);
    assert_string_equal(((char **)r->inputs[1].tensor->data)[0], "h\xc3\xa9llo");
    assert_int_equal(((uint8_t *)r->inputs[2].tensor->data)[1], 255);
    assert_dims(r->inputs[2].tensor, 2, (int64_t[]){1, 2});
    assert_int_equal(((uint8_t *)r->inputs[3].tensor->data)[0], 1);
    assert_int_equal(((uint16_t *)r->inputs[4].tensor->data)[0], 0x3800);
    assert_int_equal(((int32_t *)r->inputs[5].tensor->data)[0], INT32_MIN);
    assert_true(((double *)r->inputs[6].tensor->data)[0] == 0.1);
    assert_true(fdata(r, 7)[0] == 3.0f);
    skiff__infer_request_free(r);

    /* integral reals into int types; bool as 0/1 */
    r = ok_decode(skiff__decode_paddle_web, &M_TYPES, "{\"feed\":[{\"i\":[3.0],\"b\":[0]}]}");
    assert_true(((int64_t *)r->inputs[0].tensor->data)[0] == 3);
    assert_int_equal(((uint8_t *)r->inputs[1].tensor->data)[0], 0);
    skiff__infer_request_free(r);
}

static void test_web_lod(void **state)
{
    skiff__infer_request *r = ok_decode(skiff__decode_paddle_web, &M_LOD,
                                        "{\"feed\":[{\"words\":[1,2,3]},{\"words\":[4,5]}],"
                                        "\"fetch\":[\"price\"]}");
    assert_int_equal(r->n_inputs, 1);
    assert_string_equal(r->inputs[0].name, "words");
    assert_dims(r->inputs[0].tensor, 1, (int64_t[]){5});
    const int64_t *v = r->inputs[0].tensor->data;
    assert_true(v[0] == 1 && v[4] == 5);
    assert_int_equal(r->inputs[0].n_lod, 3);
    assert_true(r->inputs[0].lod[0] == 0 && r->inputs[0].lod[1] == 3 && r->inputs[0].lod[2] == 5);
    assert_int_equal(r->batch, 2);
    skiff__infer_request_free(r);

    /* explicit offsets per dict are shifted as dicts are concatenated */
    r = ok_decode(skiff__decode_paddle_web, &M_LOD,
                  "{\"feed\":[{\"words\":[1,2,3],\"words.lod\":[0,1,3]},{\"words\":[[4],[5]],"
                  "\"words.lod\":[0,2]}]}");
    assert_dims(r->inputs[0].tensor, 1, (int64_t[]){5});
    assert_int_equal(r->inputs[0].n_lod, 4);
    int64_t want[] = {0, 1, 3, 5};
    assert_memory_equal(r->inputs[0].lod, want, sizeof(want));
    assert_int_equal(r->batch, 3);
    skiff__infer_request_free(r);
}

static void test_web_shapes(void **state)
{
    /* dynamic dims take the nested shape, with or without a batch dim */
    skiff__infer_request *r =
        ok_decode(skiff__decode_paddle_web, &M_DYN, "{\"feed\":[{\"d\":[[1,2,3,4],[5,6,7,8]]}]}");
    assert_dims(r->inputs[0].tensor, 3, (int64_t[]){1, 2, 4});
    assert_true(fdata(r, 0)[7] == 8.0f);
    skiff__infer_request_free(r);
    r = ok_decode(skiff__decode_paddle_web, &M_DYN,
                  "{\"feed\":[{\"d\":[[[1,2,3,4]],[[5,6,7,8]]]},{\"d\":[[9,9,9,9]]}]}");
    assert_dims(r->inputs[0].tensor, 3, (int64_t[]){3, 1, 4});
    assert_int_equal(r->batch, 3);
    skiff__infer_request_free(r);

    /* no batch dim: the value is the whole tensor */
    r = ok_decode(skiff__decode_paddle_web, &M_FIXED, "{\"feed\":[{\"f\":[1,2,3,4]}]}");
    assert_dims(r->inputs[0].tensor, 2, (int64_t[]){2, 2});
    assert_int_equal(r->batch, 1);
    skiff__infer_request_free(r);

    /* alias and tensor name both select the input */
    r = ok_decode(skiff__decode_paddle_web, &M_ALIAS, "{\"feed\":[{\"x_name\":[1]}]}");
    assert_string_equal(r->inputs[0].name, "x_name");
    assert_int_equal(r->inputs[0].spec, 0);
    skiff__infer_request_free(r);

    /* optional inputs may be left out */
    r = ok_decode(skiff__decode_paddle_web, &M_TYPES, "{\"feed\":[{\"f\":[1]}]}");
    assert_int_equal(r->n_inputs, 1);
    assert_int_equal(r->inputs[0].spec, 7);
    skiff__infer_request_free(r);

    /* no model description: shapes from the data, numbers as float32 */
    r = ok_decode(
        skiff__decode_paddle_web, NULL,
        "{\"feed\":[{\"a\":[1,2],\"t\":\"x\"},{\"a\":[3,4],\"t\":\"y\"}],\"fetch\":[\"z\"]}");
    assert_int_equal(r->n_inputs, 2);
    assert_int_equal(r->inputs[0].spec, -1);
    assert_dims(r->inputs[0].tensor, 2, (int64_t[]){2, 2});
    assert_true(fdata(r, 0)[3] == 4.0f);
    assert_int_equal(r->inputs[1].tensor->dtype, SKIFF_DTYPE_STRING);
    assert_dims(r->inputs[1].tensor, 1, (int64_t[]){2});
    assert_string_equal(((char **)r->inputs[1].tensor->data)[1], "y");
    assert_int_equal(r->outputs[0].spec, -1);
    skiff__infer_request_free(r);
}

static const bad_case web_bad[] = {
    BAD(&M_HOUSING, "", "empty request body"),
    BAD(&M_HOUSING, "{", "malformed JSON at byte 1"),
    BAD(&M_HOUSING, "{\"feed\":[]} x", "malformed JSON at byte"),
    BAD(&M_HOUSING, "[1]", "request body is a list, expected a JSON object"),
    BAD(&M_HOUSING, "{\"feed\":[],\"feed\":[]}", "duplicate object key"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":\"\xff\"}]}", "malformed JSON"),
    BAD(&M_HOUSING, "{}", "missing \"feed\""),
    BAD(&M_HOUSING, "{\"feed\":5}", "\"feed\" is a number, expected a list of objects"),
    BAD(&M_HOUSING, "{\"feed\":[]}", "\"feed\" is an empty list"),
    BAD(&M_HOUSING, "{\"feed\":[5]}", "feed[0] is a number, expected an object of inputs"),
    BAD(&M_HOUSING, "{\"feed\":[{\"y\":[1]}]}", "feed[0]: unknown input 'y'; model inputs: 'x'"),
    BAD(&M_HOUSING, "{\"feed\":[{}]}", "missing input 'x'"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "},{}]}", "feed[1]: missing input 'x'"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":[1,2]}]}",
        "input 'x': expected a multiple of 13 elements (shape [13] per instance), got 2"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":[]}]}", "expected a multiple of 13 elements"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":[1,2,3,\"4\",5,6,7,8,9,10,11,12,13]}]}",
        "input 'x': element 3 is a string, expected a number"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":[null,2,3,4,5,6,7,8,9,10,11,12,13]}]}",
        "input 'x': element 0 is null, expected a number"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":[1,2,3,4,5,6,7,8,9,10,11,12,{}]}]}",
        "element 12 is an object, expected a number"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":[true,2,3,4,5,6,7,8,9,10,11,12,13]}]}",
        "element 0 is a boolean, expected a number"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "},{\"x\":[1,2,3,4,5,6,7,8,9,10,11,12,\"z\"]}]}",
        "feed[1]: input 'x': element 12 is a string"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":[1e39,2,3,4,5,6,7,8,9,10,11,12,13]}]}",
        "element 0 (1e+39) is out of range for float32"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":[[[[[[[[[[1]]]]]]]]]]}]}", "nested more than 8 deep"),
    BAD(&M_PAIR, "{\"feed\":[{\"p\":[[1,2],[3]]}]}",
        "input 'p': ragged nested lists: a list at depth 1 near element 2 has 1 items, expected 2"),
    BAD(&M_PAIR, "{\"feed\":[{\"p\":[[1,2],3]}]}",
        "ragged nested lists: found a number at depth 1"),
    BAD(&M_PAIR, "{\"feed\":[{\"p\":[[1,[2]],[3,4]]}]}", "element 1 is a list, expected a number"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],\"fetch\":[\"cost\"]}",
        "unknown output 'cost' in \"fetch\"; model outputs: 'price'"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],\"fetch\":[\"price\",\"fc_0.tmp_1\"]}",
        "output 'fc_0.tmp_1' listed twice"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],\"fetch\":5}",
        "\"fetch\" is a number, expected a list of output names"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],\"fetch\":[1]}",
        "\"fetch\"[0] is a number, expected an output name"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],\"fetch\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
        "more than the limit of 4"),
    BAD(&M_TWO, "{\"feed\":[{\"x\":[" X13 "," X13 "],\"y\":[1]}]}",
        "input 'y': batch of 1 rows differs from input 'x' batch of 2"),
    BAD(&M_ALIAS, "{\"feed\":[{\"x\":[1],\"x_name\":[2]}]}",
        "feed[0]: input 'x' given twice (as 'x' and 'x_name')"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 ",\"x.lod\":[0,1]}]}",
        "'x.lod' given but input 'x' is not a LoD input"),
    BAD(&M_LOD, "{\"feed\":[{\"words\":[1,2,3],\"words.lod\":[1,3]}]}",
        "feed[0]: 'words.lod': lod must start at 0, got 1"),
    BAD(&M_LOD, "{\"feed\":[{\"words\":[1,2,3],\"words.lod\":[0,5]}]}",
        "lod ends at 5 but the data has 3 rows"),
    BAD(&M_LOD, "{\"feed\":[{\"words\":[1,2,3],\"words.lod\":[0,2,1,3]}]}",
        "lod offsets must not decrease (offset 2 is 1 after 2)"),
    BAD(&M_LOD, "{\"feed\":[{\"words\":[1,2,3],\"words.lod\":\"a\"}]}",
        "'words.lod' is a string, expected a list of offsets"),
    BAD(&M_LOD, "{\"feed\":[{\"words\":[1,2,3],\"words.lod\":[0]}]}", "needs at least 2 offsets"),
    BAD(&M_LOD, "{\"feed\":[{\"words\":[1,2,3],\"words.lod\":[0,\"3\"]}]}",
        "offset 1 is a string, expected an integer"),
    BAD(&M_LOD, "{\"feed\":[{\"words.lod\":[0,1]}]}",
        "lod given for input 'words' but not its values"),
    BAD(&M_TYPES, "{\"feed\":[{\"i\":[1.5]}]}",
        "input 'i': element 0 (1.5) is not an integer, expected int64"),
    BAD(&M_TYPES, "{\"feed\":[{\"n\":[3000000000]}]}",
        "element 0 (3000000000) is out of range for int32"),
    BAD(&M_TYPES, "{\"feed\":[{\"u\":[-1,0]}]}", "element 0 (-1) is out of range for uint8"),
    BAD(&M_TYPES, "{\"feed\":[{\"u\":[0,1e300]}]}", "element 1 (1e+300) is out of range for uint8"),
    BAD(&M_TYPES, "{\"feed\":[{\"s\":[5]}]}",
        "input 's': element 0 is a number, expected a string"),
    BAD(&M_TYPES, "{\"feed\":[{\"b\":[2]}]}", "element 0 is a number, expected a boolean"),
    BAD(&M_TYPES, "{\"feed\":[{\"h\":[70000]}]}", "out of range for float16"),
    BAD(&M_FIXED, "{\"feed\":[{\"f\":[1,2,3,4]},{\"f\":[1,2,3,4]}]}",
        "the model takes no batch dimension, so \"feed\" must hold one instance, got 2"),
    BAD(&M_FIXED, "{\"feed\":[{\"f\":[1,2,3,4,5,6,7,8]}]}",
        "expected 4 elements (shape [2,2]), got 8"),
    BAD(&M_DYN, "{\"feed\":[{\"d\":[1,2,3]}]}",
        "input 'd': expected shape [-1,4] per instance, optionally with a batch dim, got nested "
        "shape [3]"),
    BAD(&M_DYN, "{\"feed\":[{\"d\":[[1,2,3,4]]},{\"d\":[[1,2,3,4],[5,6,7,8]]}]}",
        "feed[1]: input 'd': shape [2,4] per instance differs from feed[0]'s [1,4]"),
    BAD(&M_HOUSING,
        "{\"feed\":[{\"x\":[" X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13
        "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13
        "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13
        "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13
        "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13
        "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13
        "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13 "," X13
        "," X13 "," X13 "]}]}",
        "more than 1000 elements, the limit"),
    BAD(&M_HOUSING, "{\"feed\":[{},{},{},{},{},{},{},{},{}]}",
        "holds 9 instances, more than the limit of 8"),
    BAD(NULL, "{\"feed\":[{\"a\":[1]},{\"b\":[1]}]}", "feed[1]: missing input 'a'"),
    BAD(NULL, "{\"feed\":[{\"a\":[1]},{\"a\":[1],\"b\":[1]}]}",
        "feed[1]: input 'b' is not in feed[0]"),
};

static void test_web_bad(void **state)
{
    int n = run_bad(skiff__decode_paddle_web, web_bad, sizeof(web_bad) / sizeof(web_bad[0]));
    assert_true(n >= 30);
}

static void test_web_encode(void **state)
{
    skiff__buf b = {0};
    float pv[] = {18.5f};
    skiff_tensor_t *price = mk(SKIFF_DTYPE_FLOAT32, 2, (int64_t[]){1, 1}, pv);
    skiff__infer_output o = {.name = "fc_0.tmp_1", .alias = "price", .tensor = price};
    assert_null(skiff__encode_paddle_web(&o, 1, &b));
    assert_string_equal(b.data, "{\"result\":{\"price\":[[18.5]]}}");

    /* LoD, strings, bools, ints, NaN, scalars, empty and float16 */
    skiff__buf_reset(&b);
    const char *sv[] = {"a\"b", "\xe4\xb8\xad"};
    skiff_tensor_t *s = mk(SKIFF_DTYPE_STRING, 1, (int64_t[]){2}, sv);
    uint8_t bv[] = {1, 0};
    skiff_tensor_t *bo = mk(SKIFF_DTYPE_BOOL, 1, (int64_t[]){2}, bv);
    int64_t iv[] = {-9223372036854775807LL - 1, 7, 0};
    skiff_tensor_t *it = mk(SKIFF_DTYPE_INT64, 2, (int64_t[]){3, 1}, iv);
    float fv[] = {NAN, INFINITY, 0.1f, 1e-7f, -3.0f, 3.4028235e38f};
    skiff_tensor_t *ft = mk(SKIFF_DTYPE_FLOAT32, 3, (int64_t[]){1, 2, 3}, fv);
    double dv[] = {0.1};
    skiff_tensor_t *sc = mk(SKIFF_DTYPE_FLOAT64, 0, NULL, dv);
    skiff_tensor_t *em = mk(SKIFF_DTYPE_FLOAT32, 2, (int64_t[]){0, 2}, NULL);
    uint16_t hv[] = {0x3c00, 0xc000};
    skiff_tensor_t *h = mk(SKIFF_DTYPE_FLOAT16, 1, (int64_t[]){2}, hv);
    int64_t lod[] = {0, 1, 3};
    skiff__infer_output os[] = {
        {.name = "s", .tensor = s},
        {.name = "b", .tensor = bo},
        {.name = "i", .alias = "ids", .tensor = it, .lod = lod, .n_lod = 3},
        {.name = "f", .tensor = ft},
        {.name = "sc", .tensor = sc},
        {.name = "e", .tensor = em},
        {.name = "h", .tensor = h},
    };
    assert_null(skiff__encode_paddle_web(os, 7, &b));
    assert_string_equal(b.data,
                        "{\"result\":{\"s\":[\"a\\\"b\",\"\xe4\xb8\xad\"],\"b\":[true,false],"
                        "\"ids\":[[-9223372036854775808],[7],[0]],\"ids.lod\":[0,1,3],"
                        "\"f\":[[[null,null,0.1],[1e-07,-3.0,3.4028235e+38]]],\"sc\":0.1,"
                        "\"e\":[],\"h\":[1.0,-2.0]}}");
    assert_valid_json(b.data, b.len);

    /* error body */
    skiff__buf_reset(&b);
    assert_null(skiff__encode_paddle_web_error("bad \"x\"", &b));
    assert_string_equal(b.data, "{\"result\":\"bad \\\"x\\\"\"}");

    /* allocation failure anywhere gives RESOURCE_EXHAUSTED */
    for (long n = 1;; n++) {
        skiff__buf_free(&b);
        skiff__alloc_fail_at(n);
        skiff_status_t *st = skiff__encode_paddle_web(os, 7, &b);
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (!failed) {
            assert_null(st);
            break;
        }
        assert_int_equal(skiff_status_code(st), SKIFF_CODE_RESOURCE_EXHAUSTED);
        skiff_status_free(st);
    }
    skiff__buf_free(&b);
    skiff_tensor_t *ts[] = {price, s, bo, it, ft, sc, em, h};
    for (int i = 0; i < 8; i++)
        skiff_tensor_free(ts[i]);
}

/* ============================== Paddle 0.9 ===================================== */

static void test_p09_housing(void **state)
{
    skiff__infer_request *r = ok_decode(
        skiff__decode_paddle09, &M_HOUSING,
        "{\"tensor\":[{\"float_data\":" X13 ",\"elem_type\":1,\"name\":\"x\",\"alias_name\":\"x\","
        "\"shape\":[1,13]}],\"fetch_var_names\":[\"price\"],\"log_id\":7}");
    assert_int_equal(r->n_inputs, 1);
    assert_dims(r->inputs[0].tensor, 2, (int64_t[]){1, 13});
    for (int i = 0; i < 13; i++)
        assert_true(fdata(r, 0)[i] == X13V[i]);
    assert_int_equal(r->log_id, 7);
    assert_int_equal(r->n_outputs, 1);
    assert_int_equal(r->outputs[0].spec, 0);
    assert_int_equal(r->batch, 1);
    skiff__infer_request_free(r);

    /* camelCase JSON names, shape without the batch dim, uint64 log_id as a string,
     * proto3's "NaN", and numeric strings */
    r = ok_decode(
        skiff__decode_paddle09, &M_HOUSING,
        "{\"tensor\":[{\"floatData\":[\"NaN\",\"-Infinity\",\"1.5\",4,5,6,7,8,9,10,11,"
        "12,13],\"elemType\":1,\"aliasName\":\"x\",\"shape\":[13]}],"
        "\"fetchVarNames\":[],\"logId\":\"18446744073709551615\",\"profileServer\":false}");
    assert_dims(r->inputs[0].tensor, 2, (int64_t[]){1, 13});
    assert_true(isnan(fdata(r, 0)[0]) && isinf(fdata(r, 0)[1]) && fdata(r, 0)[1] < 0);
    assert_true(fdata(r, 0)[2] == 1.5f);
    assert_true(r->log_id == UINT64_MAX);
    assert_int_equal(r->n_outputs, 0);
    skiff__infer_request_free(r);

    /* batch of 2, matched by tensor name */
    r = ok_decode(skiff__decode_paddle09, &M_ALIAS,
                  "{\"tensor\":[{\"float_data\":[1,2],\"elem_type\":1,\"name\":\"x_name\","
                  "\"shape\":[2,1]}]}");
    assert_int_equal(r->batch, 2);
    assert_string_equal(r->inputs[0].name, "x_name");
    skiff__infer_request_free(r);
}

static void test_p09_types(void **state)
{
    /* AAH/ = bytes 00 01 ff */
    skiff__infer_request *r = ok_decode(
        skiff__decode_paddle09, &M_TYPES,
        "{\"tensor\":[{\"int64_data\":[\"-5\"],\"elem_type\":0,\"name\":\"i\",\"shape\":[1,1]},"
        "{\"data\":[\"hi\"],\"elem_type\":20,\"name\":\"s\",\"shape\":[1,1]},"
        "{\"tensor_content\":\"AP8=\",\"elem_type\":7,\"name\":\"u\",\"shape\":[1,2]},"
        "{\"bool_data\":[true],\"elem_type\":9,\"name\":\"b\",\"shape\":[1,1]},"
        "{\"tensor_content\":\"ADw\",\"elem_type\":5,\"name\":\"h\",\"shape\":[1,1]},"
        "{\"int_data\":[-7],\"elem_type\":2,\"name\":\"n\",\"shape\":[1,1]},"
        "{\"float64_data\":[1e300],\"elem_type\":3,\"name\":\"d\",\"shape\":[1,1]},"
        "{\"tensor_content\":\"AADAPw==\",\"elem_type\":1,\"name\":\"f\",\"shape\":[1,1]}]}");
    assert_int_equal(r->n_inputs, 8);
    assert_true(((int64_t *)r->inputs[0].tensor->data)[0] == -5);
    assert_string_equal(((char **)r->inputs[1].tensor->data)[0], "hi");
    assert_int_equal(((uint8_t *)r->inputs[2].tensor->data)[0], 0);
    assert_int_equal(((uint8_t *)r->inputs[2].tensor->data)[1], 255);
    assert_int_equal(((uint8_t *)r->inputs[3].tensor->data)[0], 1);
    assert_int_equal(((uint16_t *)r->inputs[4].tensor->data)[0], 0x3c00);
    assert_int_equal(((int32_t *)r->inputs[5].tensor->data)[0], -7);
    assert_true(((double *)r->inputs[6].tensor->data)[0] == 1e300);
    assert_true(fdata(r, 7)[0] == 1.5f);
    skiff__infer_request_free(r);

    /* LoD */
    r = ok_decode(skiff__decode_paddle09, &M_LOD,
                  "{\"tensor\":[{\"int64_data\":[1,2,3,4,5],\"elem_type\":0,\"name\":\"word\","
                  "\"alias_name\":\"words\",\"shape\":[5,1],\"lod\":[0,2,5]}]}");
    assert_int_equal(r->inputs[0].n_lod, 3);
    assert_true(r->inputs[0].lod[1] == 2 && r->inputs[0].lod[2] == 5);
    assert_int_equal(r->batch, 2);
    skiff__infer_request_free(r);

    /* no model description */
    r = ok_decode(skiff__decode_paddle09, NULL,
                  "{\"tensor\":[{\"int_data\":[1,2,3],\"elem_type\":2,\"name\":\"q\","
                  "\"shape\":[3]}]}");
    assert_int_equal(r->inputs[0].tensor->dtype, SKIFF_DTYPE_INT32);
    assert_int_equal(r->inputs[0].spec, -1);
    skiff__infer_request_free(r);
}

#define T1(fields) "{\"tensor\":[{" fields "}]}"
#define XF "\"name\":\"x\",\"elem_type\":1,\"shape\":[1,13],"
static const bad_case p09_bad[] = {
    BAD(&M_HOUSING, "", "empty request body"),
    BAD(&M_HOUSING, "{\"tensor\":", "malformed JSON at byte 10"),
    BAD(&M_HOUSING, "{}", "missing \"tensor\""),
    BAD(&M_HOUSING, "{\"tensor\":{}}", "\"tensor\" is an object, expected a list of tensors"),
    BAD(&M_HOUSING, "{\"tensor\":[7]}", "tensor[0] is a number, expected an object"),
    BAD(&M_HOUSING, "{\"tensor\":[],\"fetch\":[]}", "Request: unknown field 'fetch'"),
    BAD(&M_HOUSING, T1(XF "\"float_data\":" X13 ",\"dtype\":1"),
        "tensor[0]: unknown field 'dtype'"),
    BAD(&M_HOUSING, T1("\"elem_type\":1,\"float_data\":[1]"),
        "tensor[0] has neither name nor alias_name"),
    BAD(&M_HOUSING, T1("\"name\":5,\"float_data\":[1]"), "name is a number, expected a string"),
    BAD(&M_HOUSING, T1("\"name\":\"z\",\"float_data\":[1]"),
        "unknown input 'z'; model inputs: 'x'"),
    BAD(&M_HOUSING, "{\"tensor\":[{" XF "\"float_data\":" X13 "},{" XF "\"float_data\":" X13 "}]}",
        "input 'x' given twice"),
    BAD(&M_HOUSING, "{\"tensor\":[]}", "missing input 'x'"),
    BAD(&M_HOUSING, T1("\"name\":\"x\",\"elem_type\":\"one\",\"float_data\":[1]"),
        "input 'x': elem_type is a string, expected an integer"),
    BAD(&M_HOUSING, T1("\"name\":\"x\",\"elem_type\":42,\"float_data\":[1]"),
        "input 'x': unknown elem_type 42"),
    UNS(&M_HOUSING, T1("\"name\":\"x\",\"elem_type\":10"), "complex elem_type 10 is not supported"),
    BAD(&M_HOUSING, T1("\"name\":\"x\",\"shape\":[1,13],\"int64_data\":[1]"),
        "input 'x': elem_type 0 (int64) does not match the model's float32 (elem_type 1)"),
    BAD(&M_HOUSING, T1(XF "\"int64_data\":[1]"),
        "elem_type 1 (float32) carries values in float_data, got int64_data"),
    BAD(&M_HOUSING, T1(XF "\"float_data\":" X13 ",\"tensor_content\":\"AAAA\""),
        "values given in both float_data and tensor_content"),
    BAD(&M_HOUSING, T1("\"name\":\"x\",\"elem_type\":1,\"shape\":13,\"float_data\":" X13),
        "shape is a number, expected a list of dims"),
    BAD(&M_HOUSING, T1("\"name\":\"x\",\"elem_type\":1,\"shape\":[-1,13],\"float_data\":" X13),
        "shape[0] is -1, expected a dim in 0..2147483647"),
    BAD(&M_HOUSING, T1("\"name\":\"x\",\"elem_type\":1,\"shape\":[\"a\"],\"float_data\":" X13),
        "shape[0] is a string, expected an integer"),
    BAD(&M_HOUSING, T1("\"name\":\"x\",\"elem_type\":1,\"shape\":[1,1,1,1,1,1,1,1,13]"),
        "shape has 9 dims, more than 8"),
    BAD(&M_HOUSING, T1(XF "\"float_data\":" X12),
        "input 'x': shape [1,13] needs 13 elements, float_data has 12"),
    BAD(&M_HOUSING, T1("\"name\":\"x\",\"elem_type\":1,\"shape\":[1,12],\"float_data\":" X12),
        "input 'x': expected shape [-1,13], got [1,12]"),
    BAD(&M_HOUSING, T1(XF "\"float_data\":[1,2,\"x\",4,5,6,7,8,9,10,11,12,13]"),
        "input 'x': element 2 is a string that is not a number"),
    BAD(&M_HOUSING, T1(XF "\"float_data\":[1,2,3,null,5,6,7,8,9,10,11,12,13]"),
        "element 3 is null, expected a number"),
    BAD(&M_HOUSING, T1(XF "\"float_data\":\"abc\""), "float_data is a string, expected a list"),
    BAD(&M_TYPES, T1("\"name\":\"u\",\"elem_type\":7,\"shape\":[1,2],\"tensor_content\":\"!!\""),
        "input 'u': tensor_content is not valid base64"),
    BAD(&M_TYPES, T1("\"name\":\"u\",\"elem_type\":7,\"shape\":[1,2],\"tensor_content\":\"AAAA\""),
        "shape [1,2] needs 2 bytes of tensor_content, got 3"),
    BAD(&M_TYPES, T1("\"name\":\"u\",\"elem_type\":7,\"shape\":[1,2],\"tensor_content\":[0,1]"),
        "tensor_content is a list, expected a base64 string"),
    BAD(&M_TYPES, T1("\"name\":\"n\",\"elem_type\":2,\"shape\":[1,1],\"int_data\":[3000000000]"),
        "element 0 (3000000000) is out of range for int32"),
    BAD(&M_TYPES, T1("\"name\":\"i\",\"elem_type\":0,\"shape\":[1,1],\"int64_data\":[\"1x\"]"),
        "element 0 is a string that is not a integer"),
    BAD(&M_TYPES, T1("\"name\":\"s\",\"elem_type\":20,\"shape\":[1,1],\"data\":[1]"),
        "input 's': element 0 is a number, expected a string"),
    BAD(&M_HOUSING, T1(XF "\"float_data\":" X13 ",\"lod\":[0,1]"),
        "input 'x': lod given but the input is not a LoD input"),
    BAD(&M_LOD,
        T1("\"name\":\"word\",\"elem_type\":0,\"shape\":[3,1],\"int64_data\":[1,2,3],\"lod\":[1,"
           "3]"),
        "input 'word': lod must start at 0, got 1"),
    BAD(&M_LOD,
        T1("\"name\":\"word\",\"elem_type\":0,\"shape\":[3,1],\"int64_data\":[1,2,3],\"lod\":[0,"
           "2]"),
        "lod ends at 2 but the data has 3 rows"),
    BAD(&M_LOD,
        T1("\"name\":\"word\",\"elem_type\":0,\"shape\":[3,1],\"int64_data\":[1,2,3],\"lod\":[0,"
           "\"a\"]"),
        "lod[1] is a string, expected an integer"),
    BAD(&M_LOD,
        T1("\"name\":\"word\",\"elem_type\":0,\"shape\":[3,1],\"int64_data\":[1,2,3],\"lod\":{}"),
        "lod is an object, expected a list of offsets"),
    BAD(&M_HOUSING, "{\"tensor\":[{" XF "\"float_data\":" X13 "}],\"log_id\":-1}",
        "log_id is a number, expected an unsigned integer"),
    BAD(&M_HOUSING,
        "{\"tensor\":[{" XF "\"float_data\":" X13 "}],\"log_id\":\"18446744073709551616\"}",
        "log_id is a string that is not one, expected an unsigned integer"),
    BAD(&M_HOUSING, "{\"tensor\":[{" XF "\"float_data\":" X13 "}],\"profile_server\":1}",
        "profile_server is a number, expected a boolean"),
    BAD(&M_HOUSING, "{\"tensor\":[{" XF "\"float_data\":" X13 "}],\"fetch_var_names\":[\"cost\"]}",
        "unknown output 'cost' in \"fetch_var_names\"; model outputs: 'price'"),
    BAD(&M_TWO,
        "{\"tensor\":[{\"name\":\"x\",\"elem_type\":1,\"shape\":[2,13],\"float_data\":["
        "1,2,3,4,5,6,7,8,9,10,11,12,13,1,2,3,4,5,6,7,8,9,10,11,12,13]},{\"name\":\"y\","
        "\"elem_type\":1,\"shape\":[1,1],\"float_data\":[1]}]}",
        "input 'y': batch of 1 rows differs from input 'x' batch of 2"),
    BAD(&M_HOUSING, T1("\"name\":\"x\",\"elem_type\":1,\"shape\":[100,13]"),
        "shape [100,13] exceeds the limit of 1000 elements"),
    BAD(NULL, "{\"tensor\":[]}", "\"tensor\" is an empty list"),
};

static void test_p09_bad(void **state)
{
    int n = run_bad(skiff__decode_paddle09, p09_bad, sizeof(p09_bad) / sizeof(p09_bad[0]));
    assert_true(n >= 30);
}

static void test_p09_encode(void **state)
{
    skiff__buf b = {0};
    float pv[] = {18.901098f};
    skiff_tensor_t *price = mk(SKIFF_DTYPE_FLOAT32, 2, (int64_t[]){1, 1}, pv);
    skiff__infer_output o = {.name = "fc_0.tmp_1", .alias = "price", .tensor = price};
    assert_null(skiff__encode_paddle09(&o, 1, 0, &b));
    assert_string_equal(b.data,
                        "{\"outputs\":[{\"tensor\":[{\"float_data\":[18.901098],\"elem_type\":1,"
                        "\"shape\":[1,1],\"name\":\"fc_0.tmp_1\",\"alias_name\":\"price\"}],"
                        "\"engine_name\":\"GeneralInferOp_0\"}]}");

    skiff__buf_reset(&b);
    uint8_t uv[] = {0, 1, 255};
    skiff_tensor_t *u = mk(SKIFF_DTYPE_UINT8, 1, (int64_t[]){3}, uv);
    float fv[] = {NAN, -INFINITY};
    skiff_tensor_t *f = mk(SKIFF_DTYPE_FLOAT32, 1, (int64_t[]){2}, fv);
    int64_t iv[] = {1, 2, 3};
    skiff_tensor_t *it = mk(SKIFF_DTYPE_INT64, 2, (int64_t[]){3, 1}, iv);
    int64_t lod[] = {0, 1, 3};
    skiff__infer_output os[] = {{.name = "u", .tensor = u},
                                {.name = "f", .tensor = f},
                                {.name = "i", .tensor = it, .lod = lod, .n_lod = 3}};
    assert_null(skiff__encode_paddle09(os, 3, 42, &b));
    assert_string_equal(b.data,
                        "{\"outputs\":[{\"tensor\":[{\"tensor_content\":\"AAH/\",\"elem_type\":7,"
                        "\"shape\":[3],\"name\":\"u\",\"alias_name\":\"u\"},{\"float_data\":["
                        "\"NaN\",\"-Infinity\"],\"elem_type\":1,\"shape\":[2],\"name\":\"f\","
                        "\"alias_name\":\"f\"},{\"int64_data\":[1,2,3],\"elem_type\":0,\"shape\":"
                        "[3,1],\"lod\":[0,1,3],\"name\":\"i\",\"alias_name\":\"i\"}],"
                        "\"engine_name\":\"GeneralInferOp_0\"}],\"log_id\":42}");
    assert_valid_json(b.data, b.len);

    /* a type Paddle has no code for */
    skiff__buf_reset(&b);
    skiff_tensor_t *u32 = mk(SKIFF_DTYPE_UINT32, 1, (int64_t[]){1}, NULL);
    skiff__infer_output ou = {.name = "w", .tensor = u32};
    expect_msg(skiff__encode_paddle09(&ou, 1, 0, &b), SKIFF_CODE_UNSUPPORTED,
               "output 'w': uint32 has no Paddle elem_type", "");

    skiff__buf_reset(&b);
    assert_null(skiff__encode_paddle09_error(-5100, "InferService inference failed!", &b));
    assert_string_equal(b.data,
                        "{\"err_no\":-5100,\"err_msg\":\"InferService inference failed!\"}");

    /* what the encoder writes, the decoder reads back */
    skiff__buf_reset(&b);
    skiff__infer_output back = {.name = "x", .tensor = NULL};
    float xv[13];
    memcpy(xv, X13V, sizeof(xv));
    skiff_tensor_t *x = mk(SKIFF_DTYPE_FLOAT32, 2, (int64_t[]){1, 13}, xv);
    back.tensor = x;
    assert_null(skiff__encode_paddle09(&back, 1, 0, &b));
    /* turn the Response's "outputs":[{"tensor":[..]}] into a Request's "tensor":[..] */
    json_t *resp = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(resp);
    json_t *req = json_object();
    json_object_set(req, "tensor",
                    json_object_get(json_array_get(json_object_get(resp, "outputs"), 0), "tensor"));
    char *rs = json_dumps(req, 0);
    skiff__infer_request *r = ok_decode(skiff__decode_paddle09, &M_HOUSING, rs);
    assert_memory_equal(r->inputs[0].tensor->data, xv, sizeof(xv));
    skiff__infer_request_free(r);
    skiff__free(rs);
    json_decref(req);
    json_decref(resp);

    skiff__buf_free(&b);
    skiff_tensor_free(price);
    skiff_tensor_free(u);
    skiff_tensor_free(f);
    skiff_tensor_free(it);
    skiff_tensor_free(u32);
    skiff_tensor_free(x);
}

/* ================================ KServe ========================================= */

static void test_kserve_json(void **state)
{
    skiff__infer_request *r = ok_decode(
        dec_kserve_json, &M_HOUSING,
        "{\"id\":\"req-1\",\"parameters\":{\"timeout\":5000,\"priority\":1},\"inputs\":[{\"name\":"
        "\"x\",\"shape\":[1,13],\"datatype\":\"FP32\",\"data\":" X13 "}],\"outputs\":[{\"name\":"
        "\"fc_0.tmp_1\",\"parameters\":{\"binary_data\":true}}]}");
    assert_string_equal(r->id, "req-1");
    assert_int_equal(r->timeout_us, 5000);
    assert_int_equal(r->n_inputs, 1);
    assert_dims(r->inputs[0].tensor, 2, (int64_t[]){1, 13});
    for (int i = 0; i < 13; i++)
        assert_true(fdata(r, 0)[i] == X13V[i]);
    assert_int_equal(r->n_outputs, 1);
    assert_true(r->outputs[0].binary);
    assert_int_equal(r->outputs[0].spec, 0);
    assert_false(r->binary_output_all);
    skiff__infer_request_free(r);

    /* nested data, binary_data_output for all outputs, output by alias */
    r = ok_decode(dec_kserve_json, &M_HOUSING,
                  "{\"parameters\":{\"binary_data_output\":true},\"inputs\":[{\"name\":\"x\","
                  "\"shape\":[1,13],\"datatype\":\"FP32\",\"data\":[" X13 "]}],\"outputs\":["
                  "{\"name\":\"price\"}]}");
    assert_null(r->id);
    assert_true(r->binary_output_all);
    assert_true(r->outputs[0].binary);
    skiff__infer_request_free(r);

    /* every JSON datatype */
    r = ok_decode(dec_kserve_json, &M_TYPES,
                  "{\"inputs\":[{\"name\":\"s\",\"shape\":[2,1],\"datatype\":\"BYTES\",\"data\":"
                  "[\"a\",\"\"]},{\"name\":\"b\",\"shape\":[2,1],\"datatype\":\"BOOL\",\"data\":"
                  "[false,true]},{\"name\":\"h\",\"shape\":[2,1],\"datatype\":\"FP16\",\"data\":"
                  "[1,-2]},{\"name\":\"u\",\"shape\":[2,2],\"datatype\":\"UINT8\",\"data\":"
                  "[[1,2],[3,4]]}]}");
    assert_int_equal(r->n_inputs, 4);
    assert_string_equal(((char **)r->inputs[0].tensor->data)[1], "");
    assert_int_equal(((uint8_t *)r->inputs[1].tensor->data)[1], 1);
    assert_int_equal(((uint16_t *)r->inputs[2].tensor->data)[1], 0xc000);
    assert_int_equal(((uint8_t *)r->inputs[3].tensor->data)[3], 4);
    assert_int_equal(r->batch, 2);
    skiff__infer_request_free(r);

    /* no model description: anything goes */
    r = ok_decode(
        dec_kserve_json, NULL,
        "{\"inputs\":[{\"name\":\"q\",\"shape\":[],\"datatype\":\"INT64\",\"data\":[-3]}],"
        "\"outputs\":[{\"name\":\"zz\"}]}");
    assert_int_equal(r->inputs[0].tensor->ndim, 0);
    assert_true(((int64_t *)r->inputs[0].tensor->data)[0] == -3);
    assert_int_equal(r->outputs[0].spec, -1);
    skiff__infer_request_free(r);
}

static void test_kserve_binary(void **state)
{
    /* JSON header then 13 floats then a BYTES tensor of two elements */
    static const skiff__io_spec in2[] = {
        {.name = "x", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 1, .dims = D13, .batched = true},
        {.name = "s", .dtype = SKIFF_DTYPE_STRING, .ndim = 1, .dims = D2, .batched = true}};
    static const skiff__model_io io = {in2, 2, housing_out, 1};
    const char *hdr = "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,13],\"datatype\":\"FP32\","
                      "\"parameters\":{\"binary_data_size\":52}},{\"name\":\"s\",\"shape\":[1,2],"
                      "\"datatype\":\"BYTES\",\"parameters\":{\"binary_data_size\":13}}]}";
    char body[512];
    size_t hl = strlen(hdr), n = hl;
    memcpy(body, hdr, hl);
    memcpy(body + n, X13V, 52);
    n += 52;
    memcpy(body + n, "\x03\0\0\0abc\x02\0\0\0hi", 13);
    n += 13;
    skiff__infer_request *r = NULL;
    skiff_status_t *st = skiff__decode_kserve(body, n, (int64_t)hl, &io, NULL, &r);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    assert_memory_equal(r->inputs[0].tensor->data, X13V, 52);
    assert_string_equal(((char **)r->inputs[1].tensor->data)[0], "abc");
    assert_string_equal(((char **)r->inputs[1].tensor->data)[1], "hi");
    skiff__infer_request_free(r);

    /* allocation failures all along the binary path */
    alloc_walk(dec_kserve_json, &M_HOUSING,
               "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,13],\"datatype\":\"FP32\",\"data\":" X13
               "}],\"outputs\":[{\"name\":\"price\"}]}",
               strlen("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,13],\"datatype\":\"FP32\","
                      "\"data\":" X13 "}],\"outputs\":[{\"name\":\"price\"}]}"));
}

/* binary cases need explicit lengths: body, length, header length */
#define BIN(io, s, hl, frag)                                                                       \
    {                                                                                              \
        io, s, SKIFF_CODE_INVALID_ARG, frag, sizeof(s) - 1, hl                                     \
    }
#define HX                                                                                         \
    "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,1],\"datatype\":\"FP32\",\"parameters\":{\"binary_" \
    "data_size\":4}}]}"
#define HS                                                                                         \
    "{\"inputs\":[{\"name\":\"s\",\"shape\":[1,1],\"datatype\":\"BYTES\",\"parameters\":{"         \
    "\"binary_data_size\":8}}]}"
#define KIN(fields) "{\"inputs\":[{" fields "}]}"
#define KX "\"name\":\"x\",\"datatype\":\"FP32\","

static const skiff__io_spec one_in[] = {
    {.name = "x", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 1, .dims = D1, .batched = true}};
static const skiff__model_io M_ONE = {one_in, 1, housing_out, 1};
static const skiff__io_spec str_in[] = {
    {.name = "s", .dtype = SKIFF_DTYPE_STRING, .ndim = 1, .dims = D1, .batched = true}};
static const skiff__model_io M_STR = {str_in, 1, housing_out, 1};

static const bad_case ks_bad[] = {
    BAD(&M_HOUSING, "", "empty request body"),
    BAD(&M_HOUSING, "{\"inputs\":[}", "malformed JSON at byte 12"),
    BAD(&M_HOUSING, "\"x\"", "request body is a string, expected a JSON object"),
    BAD(&M_HOUSING, "{}", "missing \"inputs\""),
    BAD(&M_HOUSING, "{\"inputs\":{}}", "\"inputs\" is an object, expected a list"),
    BAD(&M_HOUSING, "{\"inputs\":[]}", "\"inputs\" is an empty list"),
    BAD(&M_HOUSING, "{\"inputs\":[1]}", "inputs[0] is a number, expected an object"),
    BAD(&M_HOUSING, KIN("\"shape\":[1]"), "inputs[0] has no \"name\""),
    BAD(&M_HOUSING, KIN("\"name\":1"), "inputs[0]: \"name\" is a number, expected a string"),
    BAD(&M_HOUSING, KIN("\"name\":\"x\",\"shape\":[1,13]"), "input 'x': missing \"datatype\""),
    BAD(&M_HOUSING, KIN("\"name\":\"x\",\"datatype\":1"),
        "\"datatype\" is a number, expected a string"),
    BAD(&M_HOUSING, KIN("\"name\":\"x\",\"datatype\":\"FP33\""),
        "input 'x': unknown datatype 'FP33'"),
    BAD(&M_HOUSING, KIN("\"name\":\"y\",\"datatype\":\"FP32\""),
        "unknown input 'y'; model inputs: 'x'"),
    BAD(&M_HOUSING, KIN("\"name\":\"x\",\"datatype\":\"INT64\",\"shape\":[1,13]"),
        "input 'x': expected datatype FP32, got INT64"),
    BAD(&M_ONE,
        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,1],\"data\":[1]},"
        "{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,1],\"data\":[1]}]}",
        "duplicate input 'x'"),
    BAD(&M_HOUSING, KIN(KX "\"data\":[1]"), "input 'x': missing \"shape\""),
    BAD(&M_HOUSING, KIN(KX "\"shape\":13"), "\"shape\" is a number, expected a list of dims"),
    BAD(&M_HOUSING, KIN(KX "\"shape\":[1,-13]"), "shape[1] is -13, dims must not be negative"),
    BAD(&M_HOUSING, KIN(KX "\"shape\":[1,\"13\"]"), "shape[1] is a string, expected an integer"),
    BAD(&M_HOUSING, KIN(KX "\"shape\":[1,1,1,1,1,1,1,1,13]"), "shape has 9 dims, more than 8"),
    BAD(&M_HOUSING, KIN(KX "\"shape\":[1,12],\"data\":" X12),
        "input 'x': expected shape [-1,13], got [1,12]"),
    BAD(&M_HOUSING, KIN(KX "\"shape\":[1000,13]"), "exceeds the limit of 1000 elements"),
    BAD(&M_HOUSING, KIN(KX "\"shape\":[1,13],\"data\":" X12),
        "input 'x': shape [1,13] needs 13 elements, data has 12"),
    BAD(&M_HOUSING, KIN(KX "\"shape\":[1,13]"),
        "input 'x': missing \"data\" (or parameters.binary_data_size)"),
    BAD(&M_HOUSING, KIN(KX "\"shape\":[1,13],\"data\":[1,2,3,\"4\",5,6,7,8,9,10,11,12,13]"),
        "input 'x': element 3 is a string, expected a number"),
    BAD(&M_PAIR,
        KIN("\"name\":\"p\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[[1,2],[3,4,5]]"),
        "ragged nested lists"),
    BAD(&M_HOUSING, KIN(KX "\"shape\":[1,13],\"parameters\":[]"),
        "\"parameters\" is a list, expected an object"),
    UNS(&M_HOUSING, KIN(KX "\"shape\":[1,13],\"parameters\":{\"shared_memory_region\":\"r\"}"),
        "input 'x': shared memory inputs are not supported"),
    BAD(&M_HOUSING, KIN(KX "\"shape\":[1,13],\"parameters\":{\"binary_data_size\":-4}"),
        "binary_data_size is negative, expected a byte count"),
    BAD(&M_HOUSING, KIN(KX "\"shape\":[1,13],\"parameters\":{\"binary_data_size\":52}"),
        "binary_data_size given but the request has no Inference-Header-Content-Length header"),
    BAD(&M_HOUSING,
        KIN(KX "\"shape\":[1,13],\"data\":" X13 ",\"parameters\":{\"binary_data_size\":52}"),
        "both \"data\" and binary_data_size given"),
    BIN(&M_ONE, HX "\1\2\3", sizeof(HX) - 1,
        "binary_data_size 4 runs past the end of the body (3 bytes of binary data left)"),
    BIN(&M_ONE, HX "\1\2\3\4\5", sizeof(HX) - 1,
        "the body has 5 bytes of binary data after the JSON header, but the inputs' "
        "binary_data_size add up to 4"),
    BIN(&M_ONE, HX "\1\2\3\4", 500, "Inference-Header-Content-Length 500 exceeds the body's"),
    BIN(&M_ONE,
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,1],\"datatype\":\"FP32\",\"parameters\":"
        "{\"binary_data_size\":3}}]}\1\2\3",
        sizeof("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,1],"
               "\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":3}}]}") -
            1,
        "input 'x': shape [1,1] of FP32 needs 4 bytes, binary_data_size is 3"),
    BIN(&M_STR, HS "\x09\0\0\0abcd", sizeof(HS) - 1,
        "binary BYTES element 0 claims 9 bytes, only 4 remain"),
    BIN(&M_STR, HS "\x02\0\0\0ab\0\0", sizeof(HS) - 1,
        "binary_data_size is 8 but the 1 BYTES elements use 6"),
    BIN(&M_STR, HS "\x04\0\0\0a\0cd", sizeof(HS) - 1, "BYTES element 0 contains a NUL byte"),
    BIN(&M_STR,
        "{\"inputs\":[{\"name\":\"s\",\"shape\":[1,1],\"datatype\":\"BYTES\",\"parameters\":"
        "{\"binary_data_size\":2}}]}\1\2",
        sizeof("{\"inputs\":[{\"name\":\"s\",\"shape\":[1,1],"
               "\"datatype\":\"BYTES\",\"parameters\":{\"binary_data_size\":2}}]}") -
            1,
        "binary BYTES data ends inside the length of element 0"),
    BIN(&M_ONE, HX "{}", 3, "malformed JSON at byte 3"),
    BAD(&M_HOUSING,
        "{\"inputs\":[{" KX "\"shape\":[1,13],\"data\":" X13 "}],\"outputs\":[{\"name\":\"z\"}]}",
        "unknown output 'z'; model outputs: 'price'"),
    BAD(&M_HOUSING,
        "{\"inputs\":[{" KX "\"shape\":[1,13],\"data\":" X13 "}],\"outputs\":[{\"name\":\"price\"},"
        "{\"name\":\"fc_0.tmp_1\"}]}",
        "duplicate output 'fc_0.tmp_1'"),
    BAD(&M_HOUSING, "{\"inputs\":[{" KX "\"shape\":[1,13],\"data\":" X13 "}],\"outputs\":{}}",
        "\"outputs\" is an object, expected a list"),
    BAD(&M_HOUSING, "{\"inputs\":[{" KX "\"shape\":[1,13],\"data\":" X13 "}],\"outputs\":[{}]}",
        "outputs[0]: \"name\" is missing, expected a string"),
    BAD(&M_HOUSING,
        "{\"inputs\":[{" KX "\"shape\":[1,13],\"data\":" X13 "}],\"outputs\":[{\"name\":"
        "\"price\",\"parameters\":{\"binary_data\":1}}]}",
        "output 'price': binary_data is a number, expected a boolean"),
    UNS(&M_HOUSING,
        "{\"inputs\":[{" KX "\"shape\":[1,13],\"data\":" X13 "}],\"outputs\":[{\"name\":"
        "\"price\",\"parameters\":{\"classification\":3}}]}",
        "the classification extension is not supported"),
    BAD(&M_HOUSING, "{\"id\":5,\"inputs\":[]}", "\"id\" is a number, expected a string"),
    BAD(&M_HOUSING, "{\"parameters\":1,\"inputs\":[]}",
        "\"parameters\" is a number, expected an object"),
    BAD(&M_HOUSING, "{\"parameters\":{\"binary_data_output\":\"yes\"},\"inputs\":[]}",
        "parameters.binary_data_output is a string, expected a boolean"),
    BAD(&M_HOUSING, "{\"parameters\":{\"timeout\":-1},\"inputs\":[]}",
        "parameters.timeout is negative, expected microseconds"),
    BAD(&M_TWO, "{\"inputs\":[{" KX "\"shape\":[1,13],\"data\":" X13 "}]}", "missing input 'y'"),
    BAD(&M_TWO,
        "{\"inputs\":[{" KX "\"shape\":[1,13],\"data\":" X13
        "},{\"name\":\"y\",\"datatype\":\"FP32\","
        "\"shape\":[2,1],\"data\":[1,2]}]}",
        "input 'y': batch of 2 differs from input 'x' batch of 1"),
    BAD(&M_HOUSING, "{\"inputs\":[1,2,3,4,5,6,7,8,9]}",
        "\"inputs\" holds 9 inputs, more than the limit of 8"),
};

static skiff_status_t *dec_kserve_case(const char *b, size_t n, const skiff__model_io *io,
                                       const skiff__codec_limits *l, skiff__infer_request **r);
static int64_t case_header_len;
static skiff_status_t *dec_kserve_case(const char *b, size_t n, const skiff__model_io *io,
                                       const skiff__codec_limits *l, skiff__infer_request **r)
{
    return skiff__decode_kserve(b, n, case_header_len ? case_header_len : -1, io, l, r);
}

static void test_kserve_bad(void **state)
{
    size_t n = sizeof(ks_bad) / sizeof(ks_bad[0]);
    for (size_t i = 0; i < n; i++) {
        case_header_len = ks_bad[i].header_len;
        run_bad(dec_kserve_case, &ks_bad[i], 1);
    }
    case_header_len = 0;
    assert_true(n >= 30);
}

static void test_kserve_encode(void **state)
{
    skiff__buf b = {0};
    float pv[] = {18.5f, 0.25f};
    skiff_tensor_t *price = mk(SKIFF_DTYPE_FLOAT32, 2, (int64_t[]){2, 1}, pv);
    const char *sv[] = {"abc", "\n"};
    skiff_tensor_t *s = mk(SKIFF_DTYPE_STRING, 1, (int64_t[]){2}, sv);
    skiff__infer_output os[] = {{.name = "fc_0.tmp_1", .alias = "price", .tensor = price},
                                {.name = "s", .tensor = s}};
    size_t jl = 0;
    assert_null(skiff__encode_kserve("uci", "1", "r\"1", os, 2, &b, &jl));
    const char *want =
        "{\"model_name\":\"uci\",\"model_version\":\"1\",\"id\":\"r\\\"1\",\"outputs\":["
        "{\"name\":\"price\",\"datatype\":\"FP32\",\"shape\":[2,1],\"data\":[18.5,0.25]},"
        "{\"name\":\"s\",\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"abc\",\"\\n\"]}]}";
    assert_string_equal(b.data, want);
    assert_int_equal(jl, strlen(want));

    /* binary: JSON then raw floats then length-prefixed strings */
    skiff__buf_reset(&b);
    os[0].binary = os[1].binary = true;
    assert_null(skiff__encode_kserve("uci", NULL, NULL, os, 2, &b, &jl));
    const char *wj =
        "{\"model_name\":\"uci\",\"outputs\":[{\"name\":\"price\",\"datatype\":\"FP32\","
        "\"shape\":[2,1],\"parameters\":{\"binary_data_size\":8}},{\"name\":\"s\","
        "\"datatype\":\"BYTES\",\"shape\":[2],\"parameters\":{\"binary_data_size\":12}}]}";
    assert_int_equal(jl, strlen(wj));
    assert_memory_equal(b.data, wj, jl);
    assert_int_equal(b.len, jl + 8 + 12);
    assert_memory_equal(b.data + jl, pv, 8);
    assert_memory_equal(b.data + jl + 8, "\x03\0\0\0abc\x01\0\0\0\n", 12);

    /* the binary response is a valid binary request for a model with those inputs */
    static const skiff__io_spec rin[] = {
        {.name = "price", .dtype = SKIFF_DTYPE_FLOAT32, .ndim = 1, .dims = D1, .batched = true}};
    static const skiff__model_io rio = {rin, 1, NULL, 0};
    skiff__buf_reset(&b);
    os[0].binary = true;
    assert_null(skiff__encode_kserve("uci", NULL, NULL, os, 1, &b, &jl));
    /* rename "outputs" to "inputs" (same length minus one: rebuild instead) */
    json_t *j = json_loadb(b.data, jl, 0, NULL);
    assert_non_null(j);
    json_t *req = json_object();
    json_object_set(req, "inputs", json_object_get(j, "outputs"));
    char *hdr = json_dumps(req, JSON_COMPACT);
    skiff__buf rb = {0};
    assert_true(skiff__buf_lit(&rb, hdr));
    size_t hl = rb.len;
    assert_true(skiff__buf_append(&rb, b.data + jl, b.len - jl));
    skiff__infer_request *r = NULL;
    skiff_status_t *st = skiff__decode_kserve(rb.data, rb.len, (int64_t)hl, &rio, NULL, &r);
    if (st)
        fail_msg("%s", skiff_status_message(st));
    assert_memory_equal(r->inputs[0].tensor->data, pv, 8);
    skiff__infer_request_free(r);
    skiff__buf_free(&rb);
    skiff__free(hdr);
    json_decref(req);
    json_decref(j);

    skiff__buf_reset(&b);
    assert_null(skiff__encode_error_json("input 'x': bad \xff\x01", &b));
    assert_string_equal(b.data, "{\"error\":\"input 'x': bad \xef\xbf\xbd\\u0001\"}");
    assert_valid_json(b.data, b.len);

    skiff__buf_free(&b);
    skiff_tensor_free(price);
    skiff_tensor_free(s);
}

/* ============================== shared pieces ===================================== */

static void test_numbers(void **state)
{
    skiff__buf b = {0};
    struct {
        float v;
        const char *s;
    } fc[] = {{0.1f, "0.1"},
              {1.0f, "1.0"},
              {-0.0f, "-0.0"},
              {100.0f, "100.0"},
              {1e10f, "1e+10"},
              {0.3f, "0.3"},
              {16777216.0f, "16777216.0"},
              {1.17549435e-38f, "1.1754944e-38"},
              {2.5e-5f, "2.5e-05"},
              {0.333333343f, "0.33333334"}};
    for (size_t i = 0; i < sizeof(fc) / sizeof(fc[0]); i++) {
        skiff__buf_reset(&b);
        assert_true(skiff__buf_f32(&b, fc[i].v));
        assert_string_equal(b.data, fc[i].s);
    }
    /* every float written reads back exactly, and is what the plain
     * "shortest %g that reads back" loop writes */
    uint32_t x = 12345;
    uint64_t x64 = 777;
    for (int i = 0; i < 40000; i++) {
        x = x * 1664525u + 1013904223u;
        float f;
        memcpy(&f, &x, 4);
        if (i % 4 == 1)
            f = (float)(x % 100000) / 1000.0f; /* short decimals */
        if (!isfinite(f))
            continue;
        skiff__buf_reset(&b);
        assert_true(skiff__buf_f32(&b, f));
        float back = strtof(b.data, NULL);
        if (memcmp(&back, &f, 4) != 0)
            fail_msg("%.9g written as %s", (double)f, b.data);
        char ref[48];
        for (int p = 6; p <= 9; p++) {
            snprintf(ref, sizeof(ref), "%.*g", p, (double)f);
            if (strtof(ref, NULL) == f)
                break;
        }
        if (strncmp(b.data, ref, strlen(ref)) != 0)
            fail_msg("%.9g written as %s, %%g gives %s", (double)f, b.data, ref);

        x64 = x64 * 6364136223846793005ULL + 1442695040888963407ULL;
        double d;
        memcpy(&d, &x64, 8);
        if (!isfinite(d))
            continue;
        skiff__buf_reset(&b);
        assert_true(skiff__buf_f64(&b, d));
        double dback = strtod(b.data, NULL);
        if (memcmp(&dback, &d, 8) != 0)
            fail_msg("%.17g written as %s", d, b.data);
        for (int p = 15; p <= 17; p++) {
            snprintf(ref, sizeof(ref), "%.*g", p, d);
            if (strtod(ref, NULL) == d)
                break;
        }
        if (strncmp(b.data, ref, strlen(ref)) != 0)
            fail_msg("%.17g written as %s, %%g gives %s", d, b.data, ref);
    }
    skiff__buf_reset(&b);
    assert_true(skiff__buf_f64(&b, 0.1) && skiff__buf_char(&b, ' ') &&
                skiff__buf_f64(&b, 1.0 / 3.0) && skiff__buf_char(&b, ' ') &&
                skiff__buf_f64(&b, NAN) && skiff__buf_char(&b, ' ') &&
                skiff__buf_i64(&b, INT64_MIN) && skiff__buf_char(&b, ' ') &&
                skiff__buf_u64(&b, UINT64_MAX));
    assert_string_equal(b.data,
                        "0.1 0.3333333333333333 null -9223372036854775808 18446744073709551615");

    /* base64 both ways, with and without padding */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        skiff__buf_reset(&b);
        assert_true(skiff__buf_base64(&b, plain[i], strlen(plain[i])));
        assert_string_equal(b.len ? b.data : "", enc[i]);
        uint8_t out[16];
        size_t n = 99;
        assert_true(skiff__base64_decode(enc[i], strlen(enc[i]), out, &n));
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(out, plain[i], n);
    }
    uint8_t out[16];
    size_t n;
    assert_true(skiff__base64_decode("Zm9vYg", 6, out, &n) && n == 4);
    assert_true(skiff__base64_decode("-_8", 3, out, &n) && n == 2 && out[0] == 0xfb &&
                out[1] == 0xff);
    assert_false(skiff__base64_decode("Z", 1, out, &n));
    assert_false(skiff__base64_decode("Zm 9", 4, out, &n));

    /* JSON strings: escapes, valid UTF-8 kept, invalid bytes replaced */
    skiff__buf_reset(&b);
    const char raw[] = "q\"b\\s\t\x01\xc3\xa9\xf0\x9f\x98\x80\xed\xa0\x80\xc0\xaf";
    assert_true(skiff__buf_json_string(&b, raw, sizeof(raw) - 1));
    assert_string_equal(b.data, "\"q\\\"b\\\\s\\t\\u0001\xc3\xa9\xf0\x9f\x98\x80"
                                "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_valid_json(b.data, b.len);
    skiff__buf_free(&b);
}

static void test_alloc_failures(void **state)
{
    const char *web = "{\"feed\":[{\"x\":" X13 "},{\"x\":" X13 "}],\"fetch\":[\"price\"]}";
    alloc_walk(skiff__decode_paddle_web, &M_HOUSING, web, strlen(web));
    const char *lod = "{\"feed\":[{\"words\":[1,2,3],\"words.lod\":[0,1,3]},{\"words\":[4]}]}";
    alloc_walk(skiff__decode_paddle_web, &M_LOD, lod, strlen(lod));
    const char *nul = "{\"feed\":[{\"a\":[\"x\",\"y\"]}]}";
    alloc_walk(skiff__decode_paddle_web, NULL, nul, strlen(nul));
    const char *p09 = "{\"tensor\":[{\"int64_data\":[\"-5\"],\"elem_type\":0,\"name\":\"i\","
                      "\"shape\":[1,1]},{\"data\":[\"hi\"],\"elem_type\":20,\"name\":\"s\","
                      "\"shape\":[1,1]},{\"tensor_content\":\"AP8=\",\"elem_type\":7,\"name\":"
                      "\"u\",\"shape\":[1,2]}],\"fetch_var_names\":[\"price\"]}";
    alloc_walk(skiff__decode_paddle09, &M_TYPES, p09, strlen(p09));
    const char *ks = "{\"id\":\"a\",\"inputs\":[{\"name\":\"s\",\"shape\":[2,1],\"datatype\":"
                     "\"BYTES\",\"data\":[\"a\",\"b\"]}],\"outputs\":[{\"name\":\"price\"}]}";
    alloc_walk(dec_kserve_json, &M_TYPES, ks, strlen(ks));
}

/* ============================== streaming decoders ============================== */

/* Both decoders of a body must produce the same request (the fuzz targets
 * check this at scale; these are the cases worth naming). */
static void assert_same_request(const skiff__infer_request *a, const skiff__infer_request *b)
{
    assert_int_equal(a->n_inputs, b->n_inputs);
    assert_int_equal(a->n_outputs, b->n_outputs);
    for (int i = 0; i < a->n_inputs; i++) {
        const skiff_tensor_t *s = a->inputs[i].tensor, *t = b->inputs[i].tensor;
        assert_string_equal(a->inputs[i].name, b->inputs[i].name);
        assert_int_equal(a->inputs[i].spec, b->inputs[i].spec);
        assert_int_equal(s->dtype, t->dtype);
        assert_dims(s, t->ndim, t->dims);
        assert_int_equal(s->nbytes, t->nbytes);
        assert_memory_equal(s->data, t->data, s->nbytes);
    }
    for (int i = 0; i < a->n_outputs; i++) {
        assert_string_equal(a->outputs[i].name, b->outputs[i].name);
        assert_int_equal(a->outputs[i].spec, b->outputs[i].spec);
        assert_int_equal(a->outputs[i].binary, b->outputs[i].binary);
    }
    assert_int_equal(a->batch, b->batch);
    assert_int_equal(a->binary_output_all, b->binary_output_all);
    assert_int_equal(a->timeout_us, b->timeout_us);
    assert_true((a->id == NULL) == (b->id == NULL));
    if (a->id)
        assert_string_equal(a->id, b->id);
}

/* The forms clients send must take the fast path - a regression there costs
 * every request the jansson tree, silently - and give what jansson gives. */
static void expect_web_fast(const skiff__model_io *io, const char *body)
{
    skiff__infer_request *f = NULL, *t = NULL;
    skiff_status_t *st = NULL;
    if (skiff__decode_paddle_web_fast(body, strlen(body), io, NULL, &f, &st) != SKIFF__FAST_OK)
        fail_msg("the fast decoder declined\n  body: %s", body);
    st = skiff__decode_paddle_web_tree(body, strlen(body), io, NULL, &t);
    if (st)
        fail_msg("the tree decoder failed: %s\n  body: %s", skiff_status_message(st), body);
    assert_same_request(f, t);
    skiff__infer_request_free(f);
    skiff__infer_request_free(t);
}

static void expect_web_declined(const skiff__model_io *io, const char *body)
{
    skiff__infer_request *f = NULL;
    skiff_status_t *st = NULL;
    if (skiff__decode_paddle_web_fast(body, strlen(body), io, NULL, &f, &st) != SKIFF__FAST_DECLINE)
        fail_msg("the fast decoder did not decline\n  body: %s", body);
    assert_null(f);
    assert_null(st);
}

static void expect_ks_fast(const skiff__model_io *io, const char *body, size_t len, int64_t hl)
{
    skiff__infer_request *f = NULL, *t = NULL;
    skiff_status_t *st = NULL;
    if (skiff__decode_kserve_fast(body, len, hl, io, NULL, &f, &st) != SKIFF__FAST_OK)
        fail_msg("the fast decoder declined\n  body: %.*s", (int)(hl >= 0 ? hl : (int64_t)len),
                 body);
    st = skiff__decode_kserve_tree(body, len, hl, io, NULL, &t);
    if (st)
        fail_msg("the tree decoder failed: %s", skiff_status_message(st));
    assert_same_request(f, t);
    skiff__infer_request_free(f);
    skiff__infer_request_free(t);
}

static void test_fast_paths(void **state)
{
    /* Paddle web: the seed's request as curl sends it, batches, nesting,
     * feed as one dict, every form of fetch, whitespace, key order */
    expect_web_fast(&M_HOUSING,
                    "{\"feed\":[{\"x\": [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, "
                    "-0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332]}], "
                    "\"fetch\":[\"price\"]}");
    expect_web_fast(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "},{\"x\":" X13 "}],\"fetch\":\"price\"}");
    expect_web_fast(&M_HOUSING, "{\"feed\":[{\"x\":[" X13 "," X13 "]}]}");
    expect_web_fast(&M_HOUSING, "{\"fetch\":null,\"feed\":{\"x\":" X13 "}}");
    expect_web_fast(&M_HOUSING,
                    " \r\n\t{ \"fetch\" : [ ] , \"feed\" : [ { \"x\" : " X13 " } ] } \n");
    expect_web_fast(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],\"fetch\":[\"fc_0.tmp_1\"]}");
    expect_web_fast(&M_TYPES, "{\"feed\":[{\"i\":[9007199254740993],\"n\":[-2147483648],"
                              "\"d\":[0.1],\"f\":[3]}]}");
    expect_web_fast(&M_DYN, "{\"feed\":[{\"d\":[[[1,2,3,4]],[[5,6,7,8]]]},{\"d\":[[9,9,9,9]]}]}");
    expect_web_fast(&M_FIXED, "{\"feed\":[{\"f\":[[1,2],[3,4]]}]}");
    expect_web_fast(&M_ALIAS, "{\"feed\":[{\"x_name\":[1]}]}");
    expect_web_fast(&M_TWO, "{\"feed\":[{\"y\":[1],\"x\":" X13 "}]}");

    /* forms left to jansson: the answer is the same, only slower */
    expect_web_declined(&M_HOUSING, "{\"feed\":[{\"\\u0078\":" X13 "}]}");        /* escaped key */
    expect_web_declined(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],\"log_id\":1}"); /* extra key */
    expect_web_declined(&M_LOD, "{\"feed\":[{\"words\":[1,2,3]}]}");              /* LoD */
    expect_web_declined(&M_TYPES, "{\"feed\":[{\"s\":[\"a\"]}]}");                /* strings */
    expect_web_declined(&M_TYPES, "{\"feed\":[{\"i\":[3.0]}]}"); /* a real for an integer */
    expect_web_declined(&M_TYPES, "{\"feed\":[{\"b\":[true]}]}");
    expect_web_declined(NULL, "{\"feed\":[{\"a\":[1]}]}"); /* no model description */
    skiff__infer_request *r =
        ok_decode(skiff__decode_paddle_web, &M_HOUSING, "{\"feed\":[{\"\\u0078\":" X13 "}]}");
    assert_string_equal(r->inputs[0].name, "x");
    skiff__infer_request_free(r);

    /* KServe: JSON as Triton's client writes it, with and without outputs,
     * id and parameters; the binary extension */
    const char *ks = "{\"id\":\"7\",\"inputs\":[{\"name\":\"x\",\"shape\":[1,13],\"datatype\":"
                     "\"FP32\",\"data\":" X13 "},{\"name\":\"y\",\"shape\":[1,1],\"datatype\":"
                     "\"FP32\",\"data\":[[-0]]}],\"outputs\":[{\"name\":\"a\",\"parameters\":"
                     "{\"binary_data\":false}},{\"name\":\"b\"}],\"parameters\":{"
                     "\"binary_data_output\":true,\"timeout\":5000}}";
    expect_ks_fast(&M_TWO, ks, strlen(ks), -1);
    r = NULL;
    assert_null(skiff__decode_kserve(ks, strlen(ks), -1, &M_TWO, NULL, &r));
    assert_false(r->outputs[0].binary); /* "binary_data": false beats binary_data_output */
    assert_true(r->outputs[1].binary);
    assert_int_equal(r->timeout_us, 5000);
    skiff__infer_request_free(r);
    ks = "{\"inputs\":[{\"name\":\"x\",\"shape\":[2,13],\"datatype\":\"FP32\",\"data\":[" X13
         "," X13 "]}]}";
    expect_ks_fast(&M_HOUSING, ks, strlen(ks), -1);
    char body[512];
    const char *hdr = "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,13],\"datatype\":\"FP32\","
                      "\"parameters\":{\"binary_data_size\":52}}],\"outputs\":[{\"name\":"
                      "\"price\",\"parameters\":{\"binary_data\":true}}]}";
    size_t n = strlen(hdr);
    memcpy(body, hdr, n);
    memcpy(body + n, X13V, 52);
    expect_ks_fast(&M_HOUSING, body, n + 52, (int64_t)n);
    r = NULL;
    assert_null(skiff__decode_kserve(body, n + 52, (int64_t)n, &M_HOUSING, NULL, &r));
    assert_memory_equal(r->inputs[0].tensor->data, X13V, 52);
    assert_true(r->outputs[0].binary);
    skiff__infer_request_free(r);
}

/* Number forms: every one through the whole decoder, checked against what
 * strtod/strtoll make of the text (the jansson path's reading). */
static void test_stream_numbers(void **state)
{
    static const struct {
        const char *text;
        double want;
        bool neg_zero;
    } f64[] = {
        {"1e2", 100, false},
        {"1E+2", 100, false},
        {"-1.5e-3", -1.5e-3, false},
        {"0.5e1", 5, false},
        {"0", 0, false},
        {"-0", 0, false}, /* an integer: jansson reads 0, so +0.0 */
        {"-0.0", 0, true},
        {"-0e5", 0, true},
        {"0e999999999", 0, false},
        {"1e-400", 0, false}, /* underflow is no error */
        {"4.9406564584124654e-324", 4.9406564584124654e-324, false},
        {"2.2250738585072011e-308", 2.2250738585072011e-308, false},
        {"1.7976931348623157e308", 1.7976931348623157e308, false},
        {"9007199254740993", 9007199254740992.0, false}, /* int64, then the nearest double */
        {"-9223372036854775808", -9223372036854775808.0, false},
        {"0.1000000000000000055511151231257827", 0.1, false},
        {"123456789012345678901234567890.5", 123456789012345678901234567890.5, false},
        {"0.000000000000000000000000000000000000000000000000000000000000000000001", 1e-69, false},
        {"100000000000000000000000e-23", 1.0, false},
        {"1e22", 1e22, false},
        {"1e23", 1e23, false},
    };
    char body[256];
    for (size_t i = 0; i < sizeof(f64) / sizeof(f64[0]); i++) {
        snprintf(body, sizeof(body), "{\"feed\":[{\"d\":[%s]}]}", f64[i].text);
        expect_web_fast(&M_TYPES, body);
        skiff__infer_request *r = ok_decode(skiff__decode_paddle_web, &M_TYPES, body);
        double got = ((double *)r->inputs[0].tensor->data)[0];
        if (got != f64[i].want || (got == 0 && (bool)signbit(got) != f64[i].neg_zero))
            fail_msg("%s read as %.17g, expected %.17g", f64[i].text, got, f64[i].want);
        skiff__infer_request_free(r);
    }
    /* float32 goes through double, as skiff__codec_leaf converts */
    snprintf(body, sizeof(body), "{\"feed\":[{\"f\":[3.4028235e38]}]}");
    expect_web_fast(&M_TYPES, body);
    snprintf(body, sizeof(body), "{\"feed\":[{\"f\":[1e-46]}]}");
    expect_web_fast(&M_TYPES, body);
    snprintf(body, sizeof(body), "{\"feed\":[{\"f\":[-0]}]}");
    skiff__infer_request *r = ok_decode(skiff__decode_paddle_web, &M_TYPES, body);
    assert_false(signbit(fdata(r, 0)[0]));
    skiff__infer_request_free(r);
    /* integers */
    snprintf(body, sizeof(body), "{\"feed\":[{\"i\":[-9223372036854775808],\"n\":[2147483647]}]}");
    expect_web_fast(&M_TYPES, body);
}

static const bad_case stream_bad[] = {
    /* numbers jansson refuses, or the types cannot hold */
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[1e309]}]}", "real number overflow"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[-1e309]}]}", "real number overflow"),
    BAD(&M_TYPES, "{\"feed\":[{\"i\":[9223372036854775808]}]}", "too big integer"),
    BAD(&M_TYPES, "{\"feed\":[{\"i\":[-9223372036854775809]}]}", "too big negative integer"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[123456789012345678901234567890]}]}", "too big integer"),
    BAD(&M_TYPES, "{\"feed\":[{\"f\":[3.5e38]}]}",
        "element 0 (3.5e+38) is out of range for float32"),
    BAD(&M_TYPES, "{\"feed\":[{\"n\":[2147483648]}]}", "(2147483648) is out of range for int32"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[01]}]}", "malformed JSON at byte 16 (line 1, column 16)"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[1.]}]}", "invalid token near '1.'"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[.5]}]}", "invalid token near '.'"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[+1]}]}", "invalid token near '+'"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[1e]}]}", "invalid token near '1e'"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[-]}]}", "invalid token near '-'"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[1e+]}]}", "invalid token"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[NaN]}]}", "invalid token"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[0x10]}]}", "malformed JSON"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[1 2]}]}", "malformed JSON"),
    BAD(&M_TYPES, "{\"feed\":[{\"d\":[1,]}]}", "malformed JSON"),
    /* escapes */
    BAD(&M_HOUSING, "{\"fe\\qd\":[]}", "invalid escape near '\"fe\\q'"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\\u12\":[1]}]}", "invalid escape"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\\ud800\":[1]}]}", "invalid Unicode '\\uD800'"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\\udc00\":[1]}]}", "invalid Unicode '\\uDC00'"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\\u0000\":[1]}]}", "NUL byte in object key not supported"),
    /* invalid UTF-8: a stray byte, overlong, a surrogate, past U+10FFFF, cut short */
    BAD(&M_HOUSING, "{\"feed\":[{\"x\xff\":" X13 "}]}", "unable to decode byte 0xff"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\xc0\xaf\":" X13 "}]}", "unable to decode byte 0xc0"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\xed\xa0\x80\":" X13 "}]}", "unable to decode byte 0xed"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\xf4\x90\x80\x80\":" X13 "}]}", "unable to decode byte 0xf4"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\xe4\xb8\":" X13 "}]}", "unable to decode byte 0xe4"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],\"fetch\":[\"pr\xffice\"]}",
        "unable to decode byte 0xff"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],\"fetch\":[\"a\tb\"]}", "control character 0x9"),
    BAD(&M_HOUSING, "\xef\xbb\xbf{\"feed\":[{\"x\":" X13 "}]}",
        "malformed JSON at byte 3"), /* BOM */
    /* nesting: the tensor limit, then jansson's depth limit */
    BAD(&M_PAIR, "{\"feed\":[{\"p\":[[[[[[[[[[1,2]]]]]]]]]]}]}", "nested more than 8 deep"),
    /* duplicate keys, at every level */
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],\"feed\":[{\"x\":" X13 "}]}",
        "duplicate object key near '\"feed\"'"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],\"fetch\":[],\"fetch\":[\"price\"]}",
        "duplicate object key near '\"fetch\"'"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 ",\"x\":" X13 "}]}",
        "duplicate object key near '\"x\"'"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],\"z\":{\"a\":1,\"a\":2}}", "duplicate object key"),
    /* the end of the body */
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}]} x", "end of file expected near 'x'"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}]}}", "end of file expected"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}]", "malformed JSON"),
    BAD(&M_HOUSING, "{\"feed\":[{\"x\":" X13 "}],}", "malformed JSON"),
    /* shapes the fast path declines and the tree words */
    BAD(&M_PAIR, "{\"feed\":[{\"p\":[[1,2],[3]]}]}", "ragged nested lists"),
    BAD(&M_PAIR, "{\"feed\":[{\"p\":[[1,2],[]]}]}", "ragged nested lists"),
    BAD(&M_PAIR, "{\"feed\":[{\"p\":[]}]}", "expected a multiple of 2 elements"),
    BAD(&M_TWO, "{\"feed\":[{\"x\":[" X13 "," X13 "],\"y\":[1]}]}",
        "input 'y': batch of 1 rows differs from input 'x' batch of 2"),
};

static void test_stream_bad(void **state)
{
    run_bad(skiff__decode_paddle_web, stream_bad, sizeof(stream_bad) / sizeof(stream_bad[0]));
    /* a NUL byte inside the body (JSON forbids it raw) */
    static const char nul[] = "{\"feed\":[{\"x\":" X13 "}]}\0";
    skiff__infer_request *r = NULL;
    expect_msg(skiff__decode_paddle_web(nul, sizeof(nul), &M_HOUSING, NULL, &r),
               SKIFF_CODE_INVALID_ARG, "malformed JSON", nul);
    /* 3000 levels: jansson's depth limit, not a stack overflow */
    size_t depth = 3000, n = 0;
    char *deep = malloc(2 * depth + 32);
    assert_non_null(deep);
    n += (size_t)snprintf(deep, 32, "{\"feed\":");
    memset(deep + n, '[', depth);
    n += depth;
    memset(deep + n, ']', depth);
    n += depth;
    deep[n++] = '}';
    expect_msg(skiff__decode_paddle_web(deep, n, &M_HOUSING, NULL, &r), SKIFF_CODE_INVALID_ARG,
               "maximum parsing depth reached", "3000 nested lists");
    free(deep);
    /* KServe too */
    static const bad_case ks_stream_bad[] = {
        BAD(&M_HOUSING,
            "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,13],\"datatype\":\"FP32\",\"data\":" X13
            "}],\"inputs\":[]}",
            "duplicate object key near '\"inputs\"'"),
        BAD(&M_HOUSING,
            "{\"inputs\":[{\"name\":\"x\",\"name\":\"x\",\"shape\":[1,13],\"datatype\":\"FP32\","
            "\"data\":" X13 "}]}",
            "duplicate object key"),
        BAD(&M_HOUSING,
            "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,13],\"datatype\":\"FP32\",\"data\":[1e39,"
            "2,3,4,5,6,7,8,9,10,11,12,13]}]}",
            "element 0 (1e+39) is out of range for float32"),
        BAD(&M_HOUSING,
            "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,13],\"datatype\":\"FP32\",\"data\":[1e400,"
            "2,3,4,5,6,7,8,9,10,11,12,13]}]}",
            "real number overflow"),
        BAD(&M_HOUSING,
            "{\"inputs\":[{\"name\":\"x\xff\",\"shape\":[1,13],\"datatype\":\"FP32\",\"data\":" X13
            "}]}",
            "unable to decode byte 0xff"),
        BAD(&M_HOUSING,
            "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,13],\"datatype\":\"FP32\",\"data\":" X13
            "}],\"outputs\":[{\"name\":\"price\",\"parameters\":{\"binary_data\":1}}]}",
            "binary_data is a number, expected a boolean"),
    };
    run_bad(dec_kserve_json, ks_stream_bad, sizeof(ks_stream_bad) / sizeof(ks_stream_bad[0]));
}

/* The fast paths' allocations fail cleanly too (alloc_walk starts past
 * jansson's allocations, which the fast path does not make). */
static void fast_alloc_walk(decode_fn fn, const skiff__model_io *io, const char *body, size_t len)
{
    for (long n = 1; n < 1000; n++) {
        skiff__alloc_fail_at(n);
        skiff__infer_request *r = NULL;
        skiff_status_t *st = fn(body, len, io, NULL, &r);
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (!failed) {
            if (st)
                fail_msg("clean run failed: %s", skiff_status_message(st));
            skiff__infer_request_free(r);
            return;
        }
        if (!st || skiff_status_code(st) != SKIFF_CODE_RESOURCE_EXHAUSTED)
            fail_msg("allocation %ld failed, got %s", n, st ? skiff_status_message(st) : "success");
        assert_null(r);
        skiff_status_free(st);
    }
    fail_msg("alloc walk did not finish");
}

static void test_fast_alloc_failures(void **state)
{
    const char *web = "{\"feed\":[{\"x\":" X13 "},{\"x\":" X13 "}],\"fetch\":[\"price\"]}";
    fast_alloc_walk(skiff__decode_paddle_web, &M_HOUSING, web, strlen(web));
    const char *big = "{\"feed\":{\"d\":[[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],"
                      "[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]]}}"; /* grows its buffer */
    fast_alloc_walk(skiff__decode_paddle_web, &M_DYN, big, strlen(big));
    const char *ks = "{\"id\":\"a\",\"inputs\":[{\"name\":\"x\",\"shape\":[1,13],\"datatype\":"
                     "\"FP32\",\"data\":" X13 "}],\"outputs\":[{\"name\":\"price\"}]}";
    fast_alloc_walk(dec_kserve_json, &M_HOUSING, ks, strlen(ks));
}

/* ---- Paddle 0.9 "model" ----------------------------------------------------------- */

static const char *picked;
static bool pick_called;

static const skiff__model_io *pick_housing(void *user, const char *model, skiff_status_t **out_st)
{
    pick_called = true;
    picked = model;
    if (model && strcmp(model, "uci") != 0) {
        *out_st = skiff_status_new(SKIFF_CODE_NOT_FOUND, "unknown model '%s'", model);
        return NULL;
    }
    return &M_HOUSING;
}

static void test_p09_model(void **state)
{
#define P09X "\"tensor\":[{\"float_data\":" X13 ",\"elem_type\":1,\"name\":\"x\",\"shape\":[1,13]}]"
    skiff__infer_request *r =
        ok_decode(skiff__decode_paddle09, &M_HOUSING, "{\"model\":\"uci\"," P09X "}");
    assert_string_equal(r->model, "uci");
    skiff__infer_request_free(r);
    r = ok_decode(skiff__decode_paddle09, &M_HOUSING, "{" P09X "}");
    assert_null(r->model);
    skiff__infer_request_free(r);

    const char *body = "{" P09X ",\"model\":\"uci\"}";
    r = NULL;
    pick_called = false;
    assert_null(skiff__decode_paddle09_pick(body, strlen(body), pick_housing, NULL, NULL, &r));
    assert_true(pick_called);
    assert_string_equal(picked, "uci");
    assert_string_equal(r->model, "uci");
    assert_int_equal(r->inputs[0].spec, 0);
    skiff__infer_request_free(r);
    body = "{" P09X "}";
    assert_null(skiff__decode_paddle09_pick(body, strlen(body), pick_housing, NULL, NULL, &r));
    assert_null(picked);
    skiff__infer_request_free(r);
    body = "{\"model\":\"nope\"," P09X "}";
    expect_msg(skiff__decode_paddle09_pick(body, strlen(body), pick_housing, NULL, NULL, &r),
               SKIFF_CODE_NOT_FOUND, "unknown model 'nope'", body);
    assert_null(r);
    body = "{\"model\":5," P09X "}";
    pick_called = false;
    expect_msg(skiff__decode_paddle09_pick(body, strlen(body), pick_housing, NULL, NULL, &r),
               SKIFF_CODE_INVALID_ARG, "model is a number, expected a model name", body);
    assert_false(pick_called);
    body = "{\"model\":\"uci\"," P09X ",\"model\":\"uci\"}";
    expect_msg(skiff__decode_paddle09_pick(body, strlen(body), pick_housing, NULL, NULL, &r),
               SKIFF_CODE_INVALID_ARG, "duplicate object key", body);
#undef P09X
}

/* a JSON error position points at the problem */
static void test_json_position(void **state)
{
    const char *body = "{\"feed\":[{\"x\":[1,2,,3]}]}";
    skiff__infer_request *r;
    skiff_status_t *st = skiff__decode_paddle_web(body, strlen(body), &M_HOUSING, NULL, &r);
    expect_msg(st, SKIFF_CODE_INVALID_ARG,
               "malformed JSON at byte 20 (line 1, column 20): unexpected token near ','", body);
}

static int setup(void **state)
{
    skiff__codec_init();
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

void test_codec_table_roundtrip(void **state);
void test_codec_table_errors(void **state);
void test_p09pb_requests(void **state);
void test_p09pb_responses(void **state);
void test_p09pb_alloc_failures(void **state);
void test_codec_table_responses(void **state);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_web_housing),
        cmocka_unit_test(test_web_types),
        cmocka_unit_test(test_web_lod),
        cmocka_unit_test(test_web_shapes),
        cmocka_unit_test(test_web_bad),
        cmocka_unit_test(test_web_encode),
        cmocka_unit_test(test_p09_housing),
        cmocka_unit_test(test_p09_types),
        cmocka_unit_test(test_p09_bad),
        cmocka_unit_test(test_p09_encode),
        cmocka_unit_test(test_kserve_json),
        cmocka_unit_test(test_kserve_binary),
        cmocka_unit_test(test_kserve_bad),
        cmocka_unit_test(test_kserve_encode),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_json_position),
        cmocka_unit_test(test_fast_paths),
        cmocka_unit_test(test_stream_numbers),
        cmocka_unit_test(test_stream_bad),
        cmocka_unit_test(test_fast_alloc_failures),
        cmocka_unit_test(test_p09_model),
        cmocka_unit_test(test_codec_table_roundtrip),
        cmocka_unit_test(test_codec_table_errors),
        cmocka_unit_test(test_codec_table_responses),
        cmocka_unit_test(test_pipe_seed_answer),
        cmocka_unit_test(test_pipe_request_json),
        cmocka_unit_test(test_pipe_roundtrip),
        cmocka_unit_test(test_pipe_tensor_json),
        cmocka_unit_test(test_pipe_bad_json),
        cmocka_unit_test(test_pipe_bad_pb),
        cmocka_unit_test(test_pipe_limits),
        cmocka_unit_test(test_pipe_encode_errors),
        cmocka_unit_test(test_pipe_errno),
        cmocka_unit_test(test_pipe_alloc_failures),
        cmocka_unit_test(test_p09pb_requests),
        cmocka_unit_test(test_p09pb_responses),
        cmocka_unit_test(test_p09pb_alloc_failures),
    };
    return cmocka_run_group_tests_name("proto_codec", tests, setup, NULL);
}
