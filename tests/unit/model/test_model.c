/* test_model.c - unit tests of the model layer and of the prototxt reader it
 * builds on (core/prototxt.c): conf parsing and its errors, conf <-> graph
 * checks, the scheduler (inline runs, queued runs, merging, deadlines, a full
 * queue). One executable for the layer, as tests/CMakeLists.txt expects.
 *
 * Models come from the repository (examples/uci_housing, tests/integration/
 * models), found relative to this file. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/core.h"
#include "model/conf.h"
#include "model/model.h"

static char repo_root[1024];

static const char *repo_path(const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", repo_root, rel);
    return buf;
}

/* ---- prototxt: the generic reader ----------------------------------------------- */

static skiff__pt_field *parse_ok(const char *text)
{
    skiff__pt_field *root = NULL;
    skiff_status_t *st = skiff__pt_parse(text, strlen(text), "t", &root);
    if (st)
        fail_msg("parse failed: %s", skiff_status_message(st));
    return root;
}

/* Asserts that parsing fails with a message containing `want`. */
static void parse_err(const char *text, const char *want)
{
    skiff__pt_field *root = NULL;
    skiff_status_t *st = skiff__pt_parse(text, strlen(text), "t", &root);
    if (!st)
        fail_msg("expected an error containing \"%s\" for: %s", want, text);
    if (!strstr(skiff_status_message(st), want))
        fail_msg("error \"%s\" does not contain \"%s\"", skiff_status_message(st), want);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    assert_null(root);
    skiff_status_free(st);
}

static void test_pt_basic(void **state)
{
    skiff__pt_field *r = parse_ok("# comment\n"
                                  "a: 1  b: \"two\" # trailing\n"
                                  "m { x: -3 y: 'q' } n: < z: 0x10 >, list: [1, 2, 3];\n"
                                  "msgs: [{k: 1}, {k: 2}]\n");
    assert_int_equal(r->n_fields, 9);
    assert_string_equal(r->fields[0].name, "a");
    assert_int_equal(r->fields[0].kind, SKIFF__PT_SCALAR);
    assert_string_equal(r->fields[1].value, "two");
    assert_int_equal(r->fields[1].kind, SKIFF__PT_STRING);
    assert_int_equal(r->fields[2].kind, SKIFF__PT_MESSAGE);
    assert_int_equal(r->fields[2].n_fields, 2);
    int64_t v;
    assert_true(skiff__pt_get_i64(&r->fields[2].fields[0], &v));
    assert_int_equal(v, -3);
    assert_true(skiff__pt_get_i64(&r->fields[3].fields[0], &v));
    assert_int_equal(v, 16);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(r->fields[4 + i].name, "list");
        assert_true(skiff__pt_get_i64(&r->fields[4 + i], &v));
        assert_int_equal(v, i + 1);
    }
    assert_int_equal(r->fields[7].kind, SKIFF__PT_MESSAGE);
    assert_int_equal(r->fields[8].fields[0].value[0], '2');
    /* Positions are 1-based line:col of the field name, or of the element
     * in a list. */
    assert_int_equal(r->fields[1].line, 2);
    assert_int_equal(r->fields[1].col, 7);
    assert_int_equal(r->fields[5].line, 3);
    assert_int_equal(r->fields[5].col, 46);
    skiff__pt_free(r);
}

static void test_pt_strings(void **state)
{
    skiff__pt_field *r =
        parse_ok("s: \"a\\n\\t\\\"\\\\\\'\\x41\\101\\u00e9\" t: 'it''s' u: \"x\" 'y' \"z\"");
    assert_string_equal(r->fields[0].value, "a\n\t\"\\'AA\xc3\xa9");
    assert_string_equal(r->fields[1].value, "its");
    assert_string_equal(r->fields[2].value, "xyz");
    skiff__pt_free(r);
    r = parse_ok("s: \"nul\\0byte\"");
    assert_int_equal(r->fields[0].value_len, 8);
    skiff__pt_free(r);
    r = parse_ok("");
    assert_int_equal(r->n_fields, 0);
    skiff__pt_free(r);
    r = parse_ok("\xef\xbb\xbf a: 1");
    assert_int_equal(r->n_fields, 1);
    skiff__pt_free(r);
}

static void test_pt_errors(void **state)
{
    parse_err("a 1", "t:1:3: expected ':' or '{' after field name 'a', got '1'");
    parse_err("a: \"unterminated", "t:1:4: unterminated string");
    parse_err("a: \"x\ny\"", "unterminated string");
    parse_err("a: \"\\q\"", "unknown escape");
    parse_err("a: \"\\x\"", "'\\x' escape needs a hex digit");
    parse_err("a: \"\\u12\"", "needs 4 hex digits");
    parse_err("a: \"\\ud800\"", "names no Unicode character");
    parse_err("m {\n  x: 1\n", "t:3:1: expected '}' to close the message opened at 1:3");
    parse_err("m { x: 1 >", "expected a field name, got '>'");
    parse_err("}", "t:1:1: expected a field name, got '}'");
    parse_err("a: ", "expected a value for field 'a', got end of input");
    parse_err("a: [1 2]", "expected ',' or ']' in the list of field 'a'");
    parse_err("a [1]", "expected ':' before the list");
    parse_err("[ext.field]: 1", "extension and Any fields");
    parse_err("a: @", "expected a value for field 'a', got '@'");
    parse_err("a: \x01", "byte 0x01");
    char deep[400];
    size_t n = 0;
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(deep + n, sizeof(deep) - n, "m{");
    parse_err(deep, "nested deeper than 64");
}

static void test_pt_scalars(void **state)
{
    skiff__pt_field *r = parse_ok("a: true b: f c: 1 d: yes e: 077 f: -0x7fffffffffffffff g: 1.5 "
                                  "h: 99999999999999999999 i: \"1\"");
    bool b;
    int64_t v;
    assert_true(skiff__pt_get_bool(&r->fields[0], &b) && b);
    assert_true(skiff__pt_get_bool(&r->fields[1], &b) && !b);
    assert_true(skiff__pt_get_bool(&r->fields[2], &b) && b);
    assert_false(skiff__pt_get_bool(&r->fields[3], &b));
    assert_true(skiff__pt_get_i64(&r->fields[4], &v));
    assert_int_equal(v, 077);
    assert_true(skiff__pt_get_i64(&r->fields[5], &v));
    assert_int_equal(v, -0x7fffffffffffffffLL);
    assert_false(skiff__pt_get_i64(&r->fields[6], &v));
    assert_false(skiff__pt_get_i64(&r->fields[7], &v));
    assert_false(skiff__pt_get_i64(&r->fields[8], &v)); /* a string is not an integer */
    skiff__pt_free(r);
}

static void test_pt_quote(void **state)
{
    char buf[64];
    size_t n = skiff__pt_quote("a\"b\\c\n\x01", 7, buf, sizeof(buf));
    assert_string_equal(buf, "\"a\\\"b\\\\c\\n\\001\"");
    assert_int_equal(n, strlen(buf));
    /* Truncation still terminates and reports the full length. */
    char small[4];
    assert_int_equal(skiff__pt_quote("abcdef", 6, small, sizeof(small)), 8);
    assert_string_equal(small, "\"ab");
    /* What quote writes, parse reads back. */
    const char raw[] = "tab\there \"q\" \\ \x7f end";
    char lit[128], text[160];
    skiff__pt_quote(raw, sizeof(raw) - 1, lit, sizeof(lit));
    snprintf(text, sizeof(text), "s: %s", lit);
    skiff__pt_field *r = parse_ok(text);
    assert_string_equal(r->fields[0].value, raw);
    skiff__pt_free(r);
}

/* ---- prototxt: GeneralModelConfig ---------------------------------------------- */

static const char uci_conf[] = "feed_var {\n"
                               "  name: \"x\"\n"
                               "  alias_name: \"x\"\n"
                               "  is_lod_tensor: false\n"
                               "  feed_type: 1\n"
                               "  shape: 13\n"
                               "}\n"
                               "fetch_var {\n"
                               "  name: \"fc_0.tmp_1\"\n"
                               "  alias_name: \"price\"\n"
                               "  is_lod_tensor: false\n"
                               "  fetch_type: 1\n"
                               "  shape: 1\n"
                               "}\n";

static void conf_err(const char *text, const char *want)
{
    skiff__model_conf *c = NULL;
    skiff_status_t *st = skiff__model_conf_parse(text, strlen(text), "conf", &c);
    if (!st)
        fail_msg("expected an error containing \"%s\"", want);
    if (!strstr(skiff_status_message(st), want))
        fail_msg("error \"%s\" does not contain \"%s\"", skiff_status_message(st), want);
    assert_null(c);
    skiff_status_free(st);
}

static void test_conf_parse(void **state)
{
    skiff__model_conf *c = NULL;
    assert_null(skiff__model_conf_parse(uci_conf, strlen(uci_conf), "uci", &c));
    assert_int_equal(c->n_feed, 1);
    assert_int_equal(c->n_fetch, 1);
    assert_string_equal(c->feed[0].name, "x");
    assert_int_equal(c->feed[0].type, 1);
    assert_int_equal(c->feed[0].n_shape, 1);
    assert_int_equal(c->feed[0].shape[0], 13);
    assert_string_equal(c->fetch[0].alias_name, "price");
    assert_false(c->fetch[0].is_lod_tensor);

    /* Format writes Paddle's layout back, byte for byte. */
    char *text = NULL;
    size_t len = 0;
    assert_null(skiff__model_conf_format(c, &text, &len));
    assert_string_equal(text, uci_conf);
    assert_int_equal(len, strlen(uci_conf));
    skiff__free(text);

    /* The binary form protobuf would write (checked against python protobuf). */
    uint8_t *bin = NULL;
    size_t blen = 0;
    assert_null(skiff__model_conf_encode(c, &bin, &blen));
    static const uint8_t want[] = {0x0a, 0x0c, 0x0a, 0x01, 'x',  0x12, 0x01, 'x',  0x18, 0x00, 0x20,
                                   0x01, 0x28, 0x0d, 0x12, 0x19, 0x0a, 0x0a, 'f',  'c',  '_',  '0',
                                   '.',  't',  'm',  'p',  '_',  '1',  0x12, 0x05, 'p',  'r',  'i',
                                   'c',  'e',  0x18, 0x00, 0x20, 0x01, 0x28, 0x01};
    assert_int_equal(blen, sizeof(want));
    assert_memory_equal(bin, want, sizeof(want));
    skiff__free(bin);
    skiff__model_conf_free(c);

    /* Any order, lists, no alias (defaults to name), lod, comments. */
    const char *t2 = "fetch_var { fetch_type: 0 name: 'out' }  # no alias\n"
                     "feed_var: { shape: [3, 224, 224] feed_type: 1; name: \"img\" "
                     "alias_name: \"image\" }\n"
                     "feed_var < name: \"ids\" is_lod_tensor: true feed_type: 0 shape: -1 >\n";
    assert_null(skiff__model_conf_parse(t2, strlen(t2), "t2", &c));
    assert_int_equal(c->n_feed, 2);
    assert_int_equal(c->feed[0].n_shape, 3);
    assert_int_equal(c->feed[0].shape[2], 224);
    assert_string_equal(c->feed[0].alias_name, "image");
    assert_true(c->feed[1].is_lod_tensor);
    assert_int_equal(c->feed[1].shape[0], -1);
    assert_string_equal(c->fetch[0].alias_name, "out");
    skiff__model_conf_free(c);
}

static void test_conf_errors(void **state)
{
    conf_err("feed_var { name: \"x\" colour: 3 }", "conf:1:22: unknown field 'colour' in feed_var");
    conf_err("feed_var { name: \"x\" fetch_type: 1 }", "did you mean feed_type?");
    conf_err("feed_var {\n  name: x\n}", "conf:2:3: feed_var.name expects a quoted string");
    conf_err("feed_var { name: \"x\" name: \"y\" }", "feed_var.name is given more than once");
    conf_err("feed_var { name: \"x\" feed_type: 12 }",
             "feed_var.feed_type 12 is not a Paddle type");
    conf_err("feed_var { name: \"x\" feed_type: one }", "expects an integer type code");
    conf_err("feed_var { name: \"x\" is_lod_tensor: maybe }", "expects true or false, got 'maybe'");
    conf_err("feed_var { name: \"x\" shape: 1.5 }", "feed_var.shape expects an int32");
    conf_err("feed_var { name: \"x\" shape: 4294967296 }", "feed_var.shape expects an int32");
    conf_err("feed_var { name: \"x\" shape: [1,2,3,4,5,6,7,8] }", "more than 7 dims");
    conf_err("feed_var { alias_name: \"x\" }", "conf:1:1: feed_var has no name");
    conf_err("feed_var: 3", "feed_var expects a message");
    conf_err("model_var { }", "unknown field 'model_var' in GeneralModelConfig");
    conf_err(
        "feed_var { name: \"a\" alias_name: \"k\" } feed_var { name: \"b\" alias_name: \"k\" }",
        "alias_name 'k' is used twice");
    conf_err("feed_var { name: \"a\\0b\" }", "contains a NUL byte");
}

static void test_paddle_types(void **state)
{
    assert_int_equal(skiff__paddle_type_dtype(0), SKIFF_DTYPE_INT64);
    assert_int_equal(skiff__paddle_type_dtype(1), SKIFF_DTYPE_FLOAT32);
    assert_int_equal(skiff__paddle_type_dtype(20), SKIFF_DTYPE_STRING);
    assert_int_equal(skiff__paddle_type_dtype(10), SKIFF_DTYPE_UNDEFINED);
    assert_int_equal(skiff__paddle_type_from_dtype(SKIFF_DTYPE_INT32), 2);
    assert_int_equal(skiff__paddle_type_from_dtype(SKIFF_DTYPE_UINT32), -1);
    assert_string_equal(skiff__paddle_type_name(6), "bfloat16");
    assert_string_equal(skiff__paddle_type_name(99), "unknown");
}

static void test_conf_fault_injection(void **state)
{
    /* Every allocation the conf reader makes may fail: each failure must be
     * a clean error, never a crash or a leak (ASan builds check the latter). */
    for (long n = 1; n < 400; n++) {
        skiff__model_conf *c = NULL;
        skiff__alloc_fail_at(n);
        skiff_status_t *st = skiff__model_conf_parse(uci_conf, strlen(uci_conf), "uci", &c);
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (!failed) {
            assert_null(st);
            skiff__model_conf_free(c);
            return;
        }
        assert_non_null(st);
        assert_null(c);
        skiff_status_free(st);
    }
    fail_msg("conf parse never finished without an injected failure");
}

/* ---- model directories ------------------------------------------------------------ */

static skiff__model *open_model(const char *rel, int instances, skiff__inline_mode inl)
{
    char path[2048];
    skiff__model_options o;
    skiff__model_options_default(&o);
    o.instances = instances;
    o.inline_mode = inl;
    skiff__model *m = NULL;
    skiff_status_t *st = skiff__model_open(repo_path(rel, path, sizeof(path)), &o, &m);
    if (st)
        fail_msg("open %s: %s", rel, skiff_status_message(st));
    return m;
}

static void test_open_uci(void **state)
{
    skiff__model *m = open_model("examples/uci_housing/uci_housing_model", 1, SKIFF__INLINE_AUTO);
    const skiff__model_desc *d = skiff__model_describe(m);
    assert_string_equal(d->name, "uci_housing_model");
    assert_int_equal(d->n_feed, 1);
    assert_string_equal(d->feed[0].alias, "x");
    assert_true(d->feed[0].batched);
    assert_int_equal(d->feed[0].ndim, 1);
    assert_int_equal(d->feed[0].dims[0], 13);
    assert_int_equal(d->feed[0].fixed_batch, -1);
    assert_string_equal(d->fetch[0].name, "fc_0.tmp_1");
    assert_string_equal(d->fetch[0].alias, "price");
    assert_true(d->mergeable);
    assert_true(d->inline_ok); /* a 13x1 Gemm warms up far below 200 us */
    skiff__model_close(m);
}

/* Writes a temporary model dir holding the uci model and `conf`. */
static void make_dir_with_conf(char *dir, size_t cap, const char *conf)
{
    char tmpl[] = "/tmp/skiff-test-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    snprintf(dir, cap, "%s", tmpl);
    char src[2048], dst[2048];
    void *data;
    size_t size;
    assert_null(skiff__read_file(
        repo_path("examples/uci_housing/uci_housing_model/model.onnx", src, sizeof(src)), &data,
        &size));
    snprintf(dst, sizeof(dst), "%s/model.onnx", dir);
    FILE *f = fopen(dst, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
    skiff__free(data);
    if (conf) {
        snprintf(dst, sizeof(dst), "%s/serving_server_conf.prototxt", dir);
        f = fopen(dst, "w");
        assert_non_null(f);
        fputs(conf, f);
        fclose(f);
    }
}

static void remove_dir(const char *dir)
{
    char p[2048];
    snprintf(p, sizeof(p), "%s/model.onnx", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/serving_server_conf.prototxt", dir);
    unlink(p);
    rmdir(dir);
}

static void open_err(const char *conf, const char *want)
{
    char dir[256];
    make_dir_with_conf(dir, sizeof(dir), conf);
    skiff__model *m = NULL;
    skiff_status_t *st = skiff__model_open(dir, NULL, &m);
    if (!st)
        fail_msg("expected an error containing \"%s\"", want);
    if (!strstr(skiff_status_message(st), want))
        fail_msg("error \"%s\" does not contain \"%s\"", skiff_status_message(st), want);
    assert_null(m);
    skiff_status_free(st);
    remove_dir(dir);
}

static void test_open_errors(void **state)
{
    open_err("feed_var { name: \"y\" feed_type: 1 shape: 13 } fetch_var { name: \"fc_0.tmp_1\" "
             "fetch_type: 1 shape: 1 }",
             "feed_var 'y' is not an input of the model (inputs: 'x')");
    open_err("feed_var { name: \"x\" feed_type: 0 shape: 13 } fetch_var { name: \"fc_0.tmp_1\" "
             "fetch_type: 1 shape: 1 }",
             "declares feed_type 0 (int64) but the model's tensor 'x' is float32");
    open_err("feed_var { name: \"x\" feed_type: 1 shape: 12 } fetch_var { name: \"fc_0.tmp_1\" "
             "fetch_type: 1 shape: 1 }",
             "has shape [12] but the model's tensor 'x' has shape [-1,13]");
    open_err("feed_var { name: \"x\" feed_type: 1 shape: [2, 13, 1] } fetch_var { name: "
             "\"fc_0.tmp_1\" fetch_type: 1 shape: 1 }",
             "has shape [2,13,1] (without the batch dim) but the model's tensor 'x' has shape "
             "[-1,13]");
    open_err("feed_var { name: \"x\" feed_type: 1 shape: 13 } fetch_var { name: \"out\" "
             "fetch_type: 1 shape: 1 }",
             "fetch_var 'out' is not an output of the model (outputs: 'fc_0.tmp_1')");
    open_err("fetch_var { name: \"fc_0.tmp_1\" fetch_type: 1 shape: 1 }",
             "no feed_var (model inputs: 'x')");
    open_err("feed_var { name: \"x\" feed_type: 1 shape: 13 }", "no fetch_var");
    open_err("feed_var { name: \"x\" feed_type: 1 shape: 13 } garbage",
             "serving_server_conf.prototxt:1:");

    skiff__model *m = NULL;
    skiff_status_t *st = skiff__model_open("/nonexistent/dir", NULL, &m);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_NOT_FOUND);
    skiff_status_free(st);
    char dir[256];
    make_dir_with_conf(dir, sizeof(dir), NULL);
    skiff__model_options o;
    skiff__model_options_default(&o);
    o.name = "bad/name";
    st = skiff__model_open(dir, &o, &m);
    assert_non_null(strstr(skiff_status_message(st), "may only use letters"));
    skiff_status_free(st);
    remove_dir(dir);
}

static void test_open_without_conf(void **state)
{
    /* A bare model.onnx serves with vars from the graph (names as aliases). */
    char dir[256];
    make_dir_with_conf(dir, sizeof(dir), NULL);
    skiff__model *m = NULL;
    skiff__model_options o;
    skiff__model_options_default(&o);
    o.name = "bare";
    assert_null(skiff__model_open(dir, &o, &m));
    const skiff__model_desc *d = skiff__model_describe(m);
    assert_string_equal(d->name, "bare");
    assert_string_equal(d->fetch[0].alias, "fc_0.tmp_1");
    assert_int_equal(d->feed[0].dims[0], 13);
    skiff__model_close(m);
    remove_dir(dir);
}

static void test_conf_from_graph(void **state)
{
    char path[2048];
    skiff_model_t *e = NULL;
    assert_null(skiff_model_load(
        repo_path("examples/uci_housing/uci_housing_model/model.onnx", path, sizeof(path)), NULL,
        &e));
    skiff__model_conf *c = NULL;
    assert_null(skiff__model_conf_from_graph(e, NULL, "price", &c));
    char *text = NULL;
    assert_null(skiff__model_conf_format(c, &text, NULL));
    assert_string_equal(text, uci_conf); /* what make_model.py writes by hand */
    skiff__free(text);
    skiff__model_conf_free(c);
    skiff_status_t *st = skiff__model_conf_from_graph(e, "a,b", "p,p", &c);
    assert_null(st); /* extra feed aliases are ignored; one output only */
    skiff__model_conf_free(c);
    skiff_model_free(e);
}

/* ---- scheduling ---------------------------------------------------------------- */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} waiter;

static void on_done(skiff__job *job, void *user)
{
    waiter *w = user;
    pthread_mutex_lock(&w->mu);
    w->done++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void wait_for(waiter *w, int n)
{
    pthread_mutex_lock(&w->mu);
    while (w->done < n)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

/* uci's linear model, evaluated here from its output for a zero row (the
 * bias) and unit rows (bias + w_i), to check results independently. */
static float uci_run_inline(skiff__model *m, const float *row)
{
    int64_t dims[2] = {1, 13};
    skiff_tensor_t *t;
    assert_null(
        skiff_tensor_wrap(SKIFF_DTYPE_FLOAT32, 2, dims, (void *)row, 13 * sizeof(float), &t));
    skiff__job *job;
    assert_null(skiff__job_new(m, &job));
    job->inputs[0] = t;
    assert_true(skiff__model_run_inline(m, job, NULL, NULL));
    assert_null(job->status);
    assert_int_equal(job->outputs[0]->ndim, 2);
    float y = ((float *)job->outputs[0]->data)[0];
    skiff__job_free(job);
    skiff_tensor_free(t);
    return y;
}

static void test_inline_and_queue(void **state)
{
    skiff__model *m = open_model("examples/uci_housing/uci_housing_model", 2, SKIFF__INLINE_ON);
    float zero[13] = {0};
    float bias = uci_run_inline(m, zero);
    float w[13];
    for (int i = 0; i < 13; i++) {
        float row[13] = {0};
        row[i] = 1;
        w[i] = uci_run_inline(m, row) - bias;
    }
    /* The seed's request: the Paddle Serving demo row. */
    static const float demo[13] = {0.0137f,  -0.1136f, 0.2553f,  -0.0692f, 0.0582f,
                                   -0.0727f, -0.1583f, -0.0584f, 0.6283f,  0.4919f,
                                   0.1856f,  0.0795f,  -0.0332f};
    float expect = bias;
    for (int i = 0; i < 13; i++)
        expect += demo[i] * w[i];
    float got = uci_run_inline(m, demo);
    assert_float_equal(got, expect, 1e-3);
    assert_true(got > 10 && got < 40); /* a plausible price, in $1000s */

    /* 64 jobs of 1..4 rows each through the queue (inline off for them):
     * whatever merging happens, each answer must be its own rows'. */
    enum { N = 64 };
    waiter wt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    skiff__job *jobs[N];
    skiff_tensor_t *ins[N];
    float *data[N];
    for (int j = 0; j < N; j++) {
        int rows = 1 + j % 4;
        data[j] = skiff__malloc(sizeof(float) * 13 * (size_t)rows);
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < 13; i++)
                data[j][r * 13 + i] = (float)((j * 7 + r * 3 + i) % 11) / 10.0f - 0.5f;
        int64_t dims[2] = {rows, 13};
        assert_null(skiff_tensor_wrap(SKIFF_DTYPE_FLOAT32, 2, dims, data[j],
                                      sizeof(float) * 13 * (size_t)rows, &ins[j]));
        assert_null(skiff__job_new(m, &jobs[j]));
        jobs[j]->inputs[0] = ins[j];
        jobs[j]->done = on_done;
        jobs[j]->user = &wt;
        assert_null(skiff__model_submit(m, jobs[j]));
    }
    wait_for(&wt, N);
    for (int j = 0; j < N; j++) {
        int rows = 1 + j % 4;
        assert_null(jobs[j]->status);
        assert_int_equal(jobs[j]->rows, rows);
        const skiff_tensor_t *o = jobs[j]->outputs[0];
        assert_int_equal(o->dims[0], rows);
        for (int r = 0; r < rows; r++) {
            float e = bias;
            for (int i = 0; i < 13; i++)
                e += data[j][r * 13 + i] * w[i];
            assert_float_equal(((float *)o->data)[r], e, 1e-3);
        }
        skiff__job_free(jobs[j]);
        skiff_tensor_free(ins[j]);
        skiff__free(data[j]);
    }
    skiff__model_stats *st = skiff__model_get_stats(m);
    assert_true(atomic_load(&st->inference_count) >= 14 + 160);
    skiff__model_close(m);
}

static void test_check_job(void **state)
{
    skiff__model *m = open_model("examples/uci_housing/uci_housing_model", 1, SKIFF__INLINE_OFF);
    skiff__job *job;
    assert_null(skiff__job_new(m, &job));
    skiff_status_t *st = skiff__model_check_job(m, job);
    assert_string_equal(skiff_status_message(st), "missing input 'x'");
    skiff_status_free(st);
    float buf[26] = {0};
    int64_t d1[2] = {2, 12};
    skiff_tensor_t *t;
    assert_null(skiff_tensor_wrap(SKIFF_DTYPE_FLOAT32, 2, d1, buf, sizeof(float) * 24, &t));
    job->inputs[0] = t;
    st = skiff__model_check_job(m, job);
    assert_string_equal(skiff_status_message(st), "input 'x': expected shape [-1,13], got [2,12]");
    skiff_status_free(st);
    skiff_tensor_free(t);
    int32_t ib[13] = {0};
    int64_t d2[2] = {1, 13};
    assert_null(skiff_tensor_wrap(SKIFF_DTYPE_INT32, 2, d2, ib, sizeof(ib), &t));
    job->inputs[0] = t;
    st = skiff__model_check_job(m, job);
    assert_string_equal(skiff_status_message(st), "input 'x': expected float32, got int32");
    skiff_status_free(st);
    /* submit refuses synchronously, without calling done */
    st = skiff__model_submit(m, job);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    skiff_status_free(st);
    skiff_tensor_free(t);
    skiff__job_free(job);
    skiff__model_close(m);
}

static void test_deadline_and_full_queue(void **state)
{
    /* The slow model takes tens of ms per row on one instance, so jobs queue. */
    char path[2048];
    skiff__model_options o;
    skiff__model_options_default(&o);
    o.instances = 1;
    o.queue_size = 2;
    o.inline_mode = SKIFF__INLINE_OFF;
    o.max_batch = 1; /* no merging: every job waits its turn */
    skiff__model *m = NULL;
    assert_null(
        skiff__model_open(repo_path("tests/integration/models/slow", path, sizeof(path)), &o, &m));
    float x = 0.001f;
    int64_t dims[2] = {1, 1};
    skiff_tensor_t *t;
    assert_null(skiff_tensor_wrap(SKIFF_DTYPE_FLOAT32, 2, dims, &x, sizeof(x), &t));
    waiter wt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    enum { N = 6 };
    skiff__job *jobs[N];
    int accepted = 0, full = 0;
    for (int j = 0; j < N; j++) {
        assert_null(skiff__job_new(m, &jobs[j]));
        jobs[j]->inputs[0] = t;
        jobs[j]->done = on_done;
        jobs[j]->user = &wt;
        /* job 1 may wait at most 1 ms: it sits behind job 0's run. */
        if (j == 1)
            jobs[j]->deadline_ns = skiff__now_ns() + 1000000;
        skiff_status_t *st = skiff__model_submit(m, jobs[j]);
        if (st) {
            assert_int_equal(skiff_status_code(st), SKIFF_CODE_RESOURCE_EXHAUSTED);
            assert_non_null(strstr(skiff_status_message(st), "queue is full"));
            skiff_status_free(st);
            full++;
            skiff__job_free(jobs[j]);
            jobs[j] = NULL;
        } else {
            accepted++;
        }
    }
    assert_true(full >= 1);
    wait_for(&wt, accepted);
    assert_non_null(jobs[1]);
    assert_int_equal(skiff_status_code(jobs[1]->status), SKIFF_CODE_DEADLINE_EXCEEDED);
    assert_non_null(strstr(skiff_status_message(jobs[1]->status), "deadline passed"));
    assert_null(jobs[0]->status);
    /* y = x^7 * 512^7 with K = 6 MatMuls */
    float y = ((float *)jobs[0]->outputs[0]->data)[0];
    assert_float_equal(y, 9.2233720e-3f, 1e-5);
    for (int j = 0; j < N; j++)
        skiff__job_free(jobs[j]);
    skiff_tensor_free(t);
    skiff__model_close(m);
}

static void test_lod_merge(void **state)
{
    /* seq: emb = 2 * words, LoD in and out. Several jobs with different
     * sequence counts and lengths; their LoD must come back per job. */
    skiff__model *m = open_model("tests/integration/models/seq", 1, SKIFF__INLINE_OFF);
    enum { N = 16 };
    waiter wt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    skiff__job *jobs[N];
    skiff_tensor_t *ins[N];
    int64_t words[N][8], lods[N][4];
    for (int j = 0; j < N; j++) {
        int n_seq = 1 + j % 3, len = 0;
        lods[j][0] = 0;
        for (int s = 0; s < n_seq; s++) {
            len += 1 + (j + s) % 2;
            lods[j][s + 1] = len;
        }
        for (int k = 0; k < len; k++)
            words[j][k] = j * 10 + k;
        int64_t dims[2] = {len, 1};
        assert_null(skiff_tensor_wrap(SKIFF_DTYPE_INT64, 2, dims, words[j],
                                      sizeof(int64_t) * (size_t)len, &ins[j]));
        assert_null(skiff__job_new(m, &jobs[j]));
        jobs[j]->inputs[0] = ins[j];
        jobs[j]->lod[0] = lods[j];
        jobs[j]->n_lod[0] = n_seq + 1;
        jobs[j]->done = on_done;
        jobs[j]->user = &wt;
        assert_null(skiff__model_submit(m, jobs[j]));
    }
    wait_for(&wt, N);
    for (int j = 0; j < N; j++) {
        int n_seq = 1 + j % 3;
        assert_null(jobs[j]->status);
        assert_int_equal(jobs[j]->rows, n_seq);
        const skiff_tensor_t *o = jobs[j]->outputs[0];
        assert_int_equal(o->dims[0], lods[j][n_seq]);
        for (int k = 0; k < o->dims[0]; k++)
            assert_float_equal(((float *)o->data)[k], 2.0f * (float)words[j][k], 0);
        assert_int_equal(jobs[j]->n_out_lod[0], n_seq + 1);
        assert_memory_equal(jobs[j]->out_lod[0], lods[j], sizeof(int64_t) * (size_t)(n_seq + 1));
        skiff__job_free(jobs[j]);
        skiff_tensor_free(ins[j]);
    }
    skiff__model_close(m);
}

static void sizes_ok(const char *spec, int max_batch, const char *want)
{
    int sizes[SKIFF__BATCH_SIZES_MAX], n = -1;
    skiff_status_t *st = skiff__parse_batch_sizes("--batch_sizes", spec, max_batch, sizes, &n);
    if (st)
        fail_msg("'%s': %s", spec ? spec : "(null)", skiff_status_message(st));
    char got[256] = "";
    size_t off = 0;
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%d", i ? "," : "", sizes[i]);
    assert_string_equal(got, want);
}

static void sizes_err(const char *spec, int max_batch, const char *want)
{
    int sizes[SKIFF__BATCH_SIZES_MAX], n;
    skiff_status_t *st = skiff__parse_batch_sizes("--batch_sizes", spec, max_batch, sizes, &n);
    if (!st)
        fail_msg("'%s' parsed", spec);
    if (!strstr(skiff_status_message(st), want))
        fail_msg("'%s': \"%s\" lacks \"%s\"", spec, skiff_status_message(st), want);
    skiff_status_free(st);
}

/* Runs one uci job of `rows` rows through the queue; returns its outputs'
 * first column in out and the rows the scheduler padded for it. */
static uint64_t uci_queued(skiff__model *m, int rows, float *out)
{
    waiter wt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    float x[16 * 13];
    for (int i = 0; i < rows * 13; i++)
        x[i] = (float)((i * 5) % 17) / 8.0f - 1.0f;
    int64_t dims[2] = {rows, 13};
    skiff_tensor_t *t;
    assert_null(
        skiff_tensor_wrap(SKIFF_DTYPE_FLOAT32, 2, dims, x, sizeof(float) * 13 * (size_t)rows, &t));
    skiff__job *job;
    assert_null(skiff__job_new(m, &job));
    job->inputs[0] = t;
    job->done = on_done;
    job->user = &wt;
    uint64_t before = atomic_load(&skiff__model_get_stats(m)->padded_rows);
    assert_null(skiff__model_submit(m, job));
    wait_for(&wt, 1);
    assert_null(job->status);
    assert_int_equal(job->outputs[0]->dims[0], rows);
    assert_int_equal(job->batch_rows, rows);
    memcpy(out, job->outputs[0]->data, sizeof(float) * (size_t)rows);
    skiff__job_free(job);
    skiff_tensor_free(t);
    return atomic_load(&skiff__model_get_stats(m)->padded_rows) - before;
}

static void test_batch_sizes(void **state)
{
    sizes_ok(NULL, 32, "");
    sizes_ok("auto", 32, "1,2,4,8,16,32");
    sizes_ok("auto", 12, "1,2,4,8,12");
    sizes_ok("auto", 1, "1");
    sizes_ok("any", 32, "");
    sizes_ok("3,5,32", 32, "3,5,32");
    sizes_err("4,2", 32, "ascending");
    sizes_err("2,2", 32, "ascending");
    sizes_err("0", 32, "from 1 to --batch_infer_size (32)");
    sizes_err("64", 32, "from 1 to");
    sizes_err("1,,2", 32, "from 1 to");
    sizes_err("", 32, "from 1 to");
    sizes_err("8,", 32, "from 1 to");
    sizes_err("two", 32, "from 1 to");

    /* Padded and unpadded runs give the same rows; only the padded model
     * counts padding, and nothing past the largest size is padded. */
    char path[2048];
    skiff__model_options o;
    skiff__model_options_default(&o);
    o.inline_mode = SKIFF__INLINE_OFF;
    o.batch_sizes = "4,8";
    skiff__model *pad = NULL, *plain = NULL;
    assert_null(skiff__model_open(
        repo_path("examples/uci_housing/uci_housing_model", path, sizeof(path)), &o, &pad));
    assert_int_equal(skiff__model_describe(pad)->n_batch_sizes, 2);
    o.batch_sizes = "any";
    assert_null(skiff__model_open(
        repo_path("examples/uci_housing/uci_housing_model", path, sizeof(path)), &o, &plain));
    static const int rows[] = {1, 3, 4, 5, 8, 11};
    static const int padded[] = {3, 1, 0, 3, 0, 0};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        float a[16], b[16];
        assert_int_equal(uci_queued(pad, rows[i], a), padded[i]);
        assert_int_equal(uci_queued(plain, rows[i], b), 0);
        for (int r = 0; r < rows[i]; r++)
            assert_float_equal(a[r], b[r], 1e-5);
    }
    skiff__model_close(pad);
    skiff__model_close(plain);

    /* Warm-up batch sizes: each instance runs them at open; the model then
     * answers as before. */
    o.batch_sizes = NULL;
    o.warmup_batches = "1,3,8";
    o.instances = 2;
    skiff__model *m = NULL;
    assert_null(skiff__model_open(
        repo_path("examples/uci_housing/uci_housing_model", path, sizeof(path)), &o, &m));
    assert_int_equal(skiff__model_describe(m)->n_warmup_batches, 3);
    assert_int_equal(skiff__model_describe(m)->warmup_batches[2], 8);
    {
        float a[16];
        assert_int_equal(uci_queued(m, 3, a), 0);
        skiff__model *ref = NULL;
        o.warmup_batches = NULL;
        assert_null(skiff__model_open(
            repo_path("examples/uci_housing/uci_housing_model", path, sizeof(path)), &o, &ref));
        assert_int_equal(skiff__model_describe(ref)->n_warmup_batches, 1);
        float b[16];
        uci_queued(ref, 3, b);
        for (int r = 0; r < 3; r++)
            assert_float_equal(a[r], b[r], 1e-6);
        skiff__model_close(ref);
    }
    skiff__model_close(m);

    /* A bad spec fails the open, naming the flag. */
    static const struct {
        const char *sizes, *warm, *want;
    } bad[] = {{"8,4", NULL, "--batch_sizes '8,4'"},
               {NULL, "4,2", "--warmup_batches '4,2'"},
               {NULL, "64", "--warmup_batches '64'"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.batch_sizes = bad[i].sizes;
        o.warmup_batches = bad[i].warm;
        m = NULL;
        skiff_status_t *st = skiff__model_open(
            repo_path("examples/uci_housing/uci_housing_model", path, sizeof(path)), &o, &m);
        assert_non_null(st);
        if (!strstr(skiff_status_message(st), bad[i].want))
            fail_msg("\"%s\" lacks \"%s\"", skiff_status_message(st), bad[i].want);
        assert_null(m);
        skiff_status_free(st);
    }
}

int main(int argc, char **argv)
{
    /* This file sits at <root>/tests/unit/model/test_model.c. */
    snprintf(repo_root, sizeof(repo_root), "%s", __FILE__);
    for (int up = 0; up < 4; up++) {
        char *slash = strrchr(repo_root, '/');
        if (slash)
            *slash = '\0';
        else /* compiled with a relative path: assume the repository root */
            snprintf(repo_root, sizeof(repo_root), ".");
    }
    skiff_log_set_level(SKIFF_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pt_basic),
        cmocka_unit_test(test_pt_strings),
        cmocka_unit_test(test_pt_errors),
        cmocka_unit_test(test_pt_scalars),
        cmocka_unit_test(test_pt_quote),
        cmocka_unit_test(test_conf_parse),
        cmocka_unit_test(test_conf_errors),
        cmocka_unit_test(test_paddle_types),
        cmocka_unit_test(test_conf_fault_injection),
        cmocka_unit_test(test_open_uci),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_open_without_conf),
        cmocka_unit_test(test_conf_from_graph),
        cmocka_unit_test(test_check_job),
        cmocka_unit_test(test_inline_and_queue),
        cmocka_unit_test(test_lod_merge),
        cmocka_unit_test(test_deadline_and_full_queue),
        cmocka_unit_test(test_batch_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
