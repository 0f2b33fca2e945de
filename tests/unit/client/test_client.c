/* test_client.c - the client layer against canned bytes and in-process fake
 * servers (threads on 127.0.0.1 that answer one connection with fixed
 * bytes): conf loading, request encoding, answer decoding for both
 * transports, failover order, error mapping, broken answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client_int.h"
#include "core/core.h"

#define UCI_CONF SKIFF_SOURCE_DIR "/examples/uci_housing/uci_housing_client"
#define IMDB_CONF SKIFF_SOURCE_DIR "/examples/imdb/imdb_lstm_client_conf"

/* ---- a fake server: accepts connections, answers each with canned bytes --------- */

typedef struct fake {
    int lfd;
    int port;
    const void *answer; /* NULL: close at once; (void *)1: read and stall */
    size_t len;
    int accepted;
    pthread_t th;
} fake;

static void *fake_run(void *arg)
{
    fake *f = arg;
    int c = accept(f->lfd, NULL, NULL);
    if (c < 0)
        return NULL;
    f->accepted++;
    char buf[4096];
    ssize_t n = recv(c, buf, sizeof(buf), 0); /* the request (small here) */
    (void)n;
    if (f->answer == (void *)1)
        usleep(400 * 1000);
    else if (f->answer)
        (void)!send(c, f->answer, f->len, MSG_NOSIGNAL);
    close(c);
    return NULL;
}

static void fake_start(fake *f, const void *answer, size_t len)
{
    *f = (fake){.answer = answer, .len = len};
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    socklen_t al = sizeof(a);
    getsockname(f->lfd, (struct sockaddr *)&a, &al);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->th, NULL, fake_run, f), 0);
}

static void fake_stop(fake *f)
{
    shutdown(f->lfd, SHUT_RDWR);
    pthread_join(f->th, NULL);
    close(f->lfd);
}

static int dead_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof(a));
    socklen_t al = sizeof(a);
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    return ntohs(a.sin_port);
}

/* ---- canned answers ----------------------------------------------------------------- */

/* A Paddle 0.9 Response with one float32 output named fc_0.tmp_1 / price. */
static void p09_answer(skiff__buf *payload, float v, const int64_t *lod, int n_lod)
{
    int64_t dims[2] = {1, 1};
    skiff_tensor_t *t = NULL;
    assert_null(skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, dims, &t));
    ((float *)t->data)[0] = v;
    skiff__infer_output o = {
        .name = "fc_0.tmp_1", .alias = "price", .tensor = t, .lod = lod, .n_lod = n_lod};
    size_t len = 0;
    assert_null(skiff__encode_paddle09_pb_named(&o, 1, 0, "uci", payload, &len));
    skiff_tensor_free(t);
}

static void brpc_answer(skiff__buf *frame, int64_t corr, int32_t code, const char *text, float v)
{
    skiff__buf payload = {0};
    if (!code)
        p09_answer(&payload, v, NULL, 0);
    assert_null(skiff__brpc_encode_response(corr, code, text, 0, payload.data, payload.len, frame));
    skiff__buf_free(&payload);
}

/* ---- conf ------------------------------------------------------------------------- */

static void test_conf(void **state)
{
    skiff_client_t *c = NULL;
    assert_null(skiff_client_new(UCI_CONF, "127.0.0.1:1", NULL, &c));
    assert_int_equal(skiff_client_feed_count(c), 1);
    assert_string_equal(skiff_client_feed_name(c, 0), "x");
    assert_string_equal(skiff_client_fetch_name(c, 0), "price");
    assert_null(skiff_client_fetch_name(c, 1));
    skiff_client_free(c);
    /* the file itself works too */
    assert_null(
        skiff_client_new(IMDB_CONF "/serving_client_conf.prototxt", "localhost:9", NULL, &c));
    assert_string_equal(skiff_client_fetch_name(c, 0), "prediction");
    skiff_client_free(c);

    skiff_status_t *st = skiff_client_new("/nonexistent", "127.0.0.1:1", NULL, &c);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_NOT_FOUND);
    assert_null(c);
    skiff_status_free(st);
    st = skiff_client_new(UCI_CONF, "127.0.0.1", NULL, &c);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    assert_non_null(strstr(skiff_status_message(st), "expected host:port"));
    skiff_status_free(st);
    st = skiff_client_new(UCI_CONF, "127.0.0.1:99999", NULL, &c);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    skiff_status_free(st);
    skiff_client_options_t o = {.transport = SKIFF_CLIENT_GRPC};
    st = skiff_client_new(UCI_CONF, "127.0.0.1:1", &o, &c);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_UNSUPPORTED);
    skiff_status_free(st);
}

/* ---- request building and encoding ------------------------------------------------ */

static skiff__model_conf *read_conf(const char *dir)
{
    skiff__model_conf *conf = NULL;
    assert_null(skiff__model_conf_read_file(dir, &conf));
    return conf;
}

static void test_request(void **state)
{
    skiff__model_conf *conf = read_conf(UCI_CONF "/serving_client_conf.prototxt");
    double xs[13] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    int64_t dims[1] = {13};
    skiff_tensor_t *x = NULL;
    assert_null(skiff_tensor_wrap(SKIFF_DTYPE_FLOAT64, 1, dims, xs, sizeof(xs), &x));
    skiff_client_feed_t feed = {.name = "x", .tensor = x};
    const char *fetch[] = {"nope", "price"};
    skiff__client_req r;
    assert_null(skiff__client_req_build(conf, &feed, 1, fetch, 2, false, &r));
    /* batch=false adds the batch dim; float64 becomes the conf's float32 */
    assert_int_equal(r.n_inputs, 1);
    assert_int_equal(r.inputs[0].tensor->ndim, 2);
    assert_int_equal(r.inputs[0].tensor->dims[0], 1);
    assert_int_equal(r.inputs[0].tensor->dtype, SKIFF_DTYPE_FLOAT32);
    assert_true(((float *)r.inputs[0].tensor->data)[12] == 13.0f);
    assert_int_equal(r.n_fetch, 1);
    assert_string_equal(r.fetch[0], "price");

    /* both transports' bytes */
    skiff__request_out ro = {
        .inputs = r.inputs, .n_inputs = 1, .fetch = r.fetch, .n_fetch = 1, .log_id = 7};
    skiff__client_wire w = {.transport = SKIFF_CLIENT_BRPC};
    skiff__buf out = {0};
    assert_null(skiff__client_encode(&w, &ro, 42, 1000, "h:1", &out));
    uint32_t body, meta;
    assert_int_equal(skiff__brpc_head(out.data, out.len, &body, &meta), SKIFF__BRPC_HEAD_OK);
    assert_int_equal(out.len, SKIFF__BRPC_HEAD + body);
    skiff__brpc_meta m;
    assert_null(skiff__brpc_meta_decode(out.data + SKIFF__BRPC_HEAD, meta, &m));
    assert_int_equal(m.correlation_id, 42);
    assert_int_equal(m.log_id, 7);
    assert_int_equal(m.timeout_ms, 1000);
    assert_string_equal(m.service, SKIFF__CLIENT_SERVICE);
    assert_string_equal(m.method, "inference");
    skiff__brpc_meta_free(&m);

    skiff__buf_reset(&out);
    w.transport = SKIFF_CLIENT_HTTP_JSON;
    w.model = "uci";
    assert_null(skiff__client_encode(&w, &ro, 1, 0, "h:1", &out));
    assert_non_null(strstr(out.data, "POST /GeneralModelService/inference?model=uci HTTP/1.1\r\n"));
    assert_non_null(strstr(out.data, "Content-Type: application/json\r\n"));
    const char *b = strstr(out.data, "\r\n\r\n");
    assert_non_null(b);
    assert_non_null(strstr(b, "\"fetch_var_names\":[\"price\"]"));
    assert_non_null(strstr(b, "\"shape\":[1,13]"));
    skiff__buf_free(&out);
    skiff__client_req_free(&r);

    /* Paddle's errors: every name filtered away; a feed missing; a wrong name */
    const char *bad[] = {"nope"};
    skiff_status_t *st = skiff__client_req_build(conf, &feed, 1, bad, 1, false, &r);
    assert_non_null(strstr(skiff_status_message(st), "Fetch names should not be empty"));
    skiff_status_free(st);
    st = skiff__client_req_build(conf, NULL, 0, NULL, 0, false, &r);
    assert_non_null(strstr(skiff_status_message(st), "feed 'x' is missing"));
    skiff_status_free(st);
    skiff_client_feed_t wrong = {.name = "y", .tensor = x};
    st = skiff__client_req_build(conf, &wrong, 1, NULL, 0, false, &r);
    assert_non_null(strstr(skiff_status_message(st), "Wrong feed name"));
    skiff_status_free(st);
    skiff_tensor_free(x);
    skiff__model_conf_free(conf);

    /* a LoD var without lod: one sequence, rows [n,1] */
    conf = read_conf(IMDB_CONF "/serving_client_conf.prototxt");
    int64_t words[4] = {1, 2, 3, 4}, wd[1] = {4};
    assert_null(skiff_tensor_wrap(SKIFF_DTYPE_INT64, 1, wd, words, sizeof(words), &x));
    feed = (skiff_client_feed_t){.name = "words", .tensor = x};
    assert_null(skiff__client_req_build(conf, &feed, 1, NULL, 0, false, &r));
    assert_int_equal(r.inputs[0].tensor->dims[0], 4);
    assert_int_equal(r.inputs[0].tensor->dims[1], 1);
    assert_int_equal(r.inputs[0].n_lod, 2);
    assert_int_equal(r.inputs[0].lod[1], 4);
    skiff__client_req_free(&r);
    /* batch=true with [2,2]: two sequences of 2 */
    int64_t wd2[2] = {2, 2};
    skiff_tensor_free(x);
    assert_null(skiff_tensor_wrap(SKIFF_DTYPE_INT64, 2, wd2, words, sizeof(words), &x));
    feed.tensor = x;
    assert_null(skiff__client_req_build(conf, &feed, 1, NULL, 0, true, &r));
    assert_int_equal(r.inputs[0].n_lod, 3);
    assert_int_equal(r.inputs[0].lod[2], 4);
    skiff__client_req_free(&r);
    skiff_tensor_free(x);
    skiff__model_conf_free(conf);
}

/* ---- answers ------------------------------------------------------------------------ */

static skiff_status_t *read_all(skiff__client_wire *w, int64_t corr, const void *p, size_t n,
                                skiff__infer_request **ans, bool *answered)
{
    skiff__client_reader rd;
    assert_null(skiff__client_reader_init(&rd, w, corr));
    /* in two pieces, as a socket might deliver them */
    skiff_status_t *st = skiff__client_reader_feed(&rd, p, n / 2);
    if (!st)
        st = skiff__client_reader_feed(&rd, (const char *)p + n / 2, n - n / 2);
    if (!st && !rd.done)
        st = skiff__client_reader_feed(&rd, NULL, 0);
    if (!st && !rd.done)
        st = skiff_status_new(SKIFF_CODE_UNAVAILABLE, "incomplete");
    if (!st)
        st = skiff__client_reader_decode(&rd, ans, answered);
    skiff__client_reader_free(&rd);
    return st;
}

static void test_answers(void **state)
{
    skiff__client_wire w = {.transport = SKIFF_CLIENT_BRPC};
    skiff__buf f = {0};
    skiff__infer_request *ans = NULL;
    bool answered = false;
    brpc_answer(&f, 5, 0, NULL, 22.5f);
    assert_null(read_all(&w, 5, f.data, f.len, &ans, &answered));
    assert_int_equal(ans->n_inputs, 1);
    assert_string_equal(ans->inputs[0].name, "price");
    assert_true(((float *)ans->inputs[0].tensor->data)[0] == 22.5f);
    skiff__infer_request_free(ans);
    /* not our correlation id: a broken answer */
    skiff_status_t *st = read_all(&w, 6, f.data, f.len, &ans, &answered);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INTERNAL);
    assert_false(answered);
    assert_non_null(strstr(skiff_status_message(st), "correlation_id 5, expected 6"));
    skiff_status_free(st);
    /* the server's errors keep their text; codes mapped */
    const struct {
        int32_t code;
        skiff_code_t want;
    } map[] = {{404, SKIFF_CODE_NOT_FOUND},
               {-5100, SKIFF_CODE_INVALID_ARG},
               {-5001, SKIFF_CODE_UNAVAILABLE},
               {-5000, SKIFF_CODE_INTERNAL}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        skiff__buf_reset(&f);
        brpc_answer(&f, 9, map[i].code, "input 'x': expected shape [-1,13]", 0);
        st = read_all(&w, 9, f.data, f.len, &ans, &answered);
        assert_true(answered);
        assert_int_equal(skiff_status_code(st), map[i].want);
        assert_non_null(strstr(skiff_status_message(st), "input 'x': expected shape [-1,13]"));
        skiff_status_free(st);
    }
    /* garbage */
    st = read_all(&w, 1, "HTTP/1.1 200 OK\r\n", 17, &ans, &answered);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INTERNAL);
    skiff_status_free(st);
    skiff__buf_free(&f);

    /* HTTP protobuf, with LoD */
    skiff__buf payload = {0}, http = {0};
    int64_t lod[3] = {0, 1, 1};
    p09_answer(&payload, 1.25f, lod, 3);
    skiff__buf_printf(&http,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/proto\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      payload.len);
    skiff__buf_append(&http, payload.data, payload.len);
    w.transport = SKIFF_CLIENT_HTTP_PROTO;
    assert_null(read_all(&w, 1, http.data, http.len, &ans, &answered));
    assert_int_equal(ans->inputs[0].n_lod, 3);
    assert_true(((float *)ans->inputs[0].tensor->data)[0] == 1.25f);
    skiff__model_conf *conf = read_conf(UCI_CONF "/serving_client_conf.prototxt");
    skiff_client_result_t *res = NULL;
    const char *fetch[] = {"price"};
    assert_null(skiff__client_result_build(conf, ans, fetch, 1, &res));
    assert_int_equal(res->n_outputs, 1);
    assert_int_equal(skiff_client_result_find(res, "price")->n_lod, 3);
    skiff_client_result_free(res);
    skiff__infer_request_free(ans);
    skiff__model_conf_free(conf);

    /* HTTP JSON error answer */
    const char *err = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                      "Content-Length: 41\r\n\r\n{\"err_no\":-5100,\"err_msg\":\"bad input x!\"}";
    w.transport = SKIFF_CLIENT_HTTP_JSON;
    st = read_all(&w, 1, err, strlen(err), &ans, &answered);
    assert_true(answered);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    assert_non_null(strstr(skiff_status_message(st), "bad input x!"));
    skiff_status_free(st);
    /* an HTML error page: the HTTP status's code and the text */
    const char *page = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy";
    st = read_all(&w, 1, page, strlen(page), &ans, &answered);
    assert_true(answered);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_UNAVAILABLE);
    assert_non_null(strstr(skiff_status_message(st), "busy"));
    skiff_status_free(st);
    skiff__buf_free(&payload);
    skiff__buf_free(&http);
}

/* ---- failover, against fake servers ------------------------------------------------ */

static skiff_status_t *call_uci(skiff_client_t *c, skiff_client_result_t **res)
{
    float xs[13] = {0};
    int64_t dims[1] = {13};
    skiff_tensor_t *x = NULL;
    assert_null(skiff_tensor_wrap(SKIFF_DTYPE_FLOAT32, 1, dims, xs, sizeof(xs), &x));
    skiff_client_feed_t feed = {.name = "x", .tensor = x};
    skiff_status_t *st = skiff_client_predict(c, &feed, 1, NULL, 0, NULL, res);
    skiff_tensor_free(x);
    return st;
}

static void test_failover(void **state)
{
    /* first endpoint dead, second answers (correlation id 2: each try takes one) */
    skiff__buf f = {0};
    brpc_answer(&f, 2, 0, NULL, 3.5f);
    fake live;
    fake_start(&live, f.data, f.len);
    char eps[128];
    snprintf(eps, sizeof(eps), "127.0.0.1:%d,127.0.0.1:%d", dead_port(), live.port);
    skiff_client_t *c = NULL;
    skiff_client_options_t o = {.timeout_ms = 2000};
    assert_null(skiff_client_new(UCI_CONF, eps, &o, &c));
    skiff_client_result_t *res = NULL;
    skiff_status_t *st = call_uci(c, &res);
    assert_null(st);
    assert_true(((float *)skiff_client_result_find(res, "price")->tensor->data)[0] == 3.5f);
    skiff_client_result_free(res);
    fake_stop(&live);
    assert_int_equal(live.accepted, 1);
    skiff_client_free(c);

    /* a server error ends the call: the next endpoint is not tried */
    skiff__buf_reset(&f);
    brpc_answer(&f, 1, -5100, "bad feed", 0);
    fake e1, e2;
    fake_start(&e1, f.data, f.len);
    fake_start(&e2, f.data, f.len);
    snprintf(eps, sizeof(eps), "127.0.0.1:%d,127.0.0.1:%d", e1.port, e2.port);
    assert_null(skiff_client_new(UCI_CONF, eps, &o, &c));
    st = call_uci(c, &res);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    assert_non_null(strstr(skiff_status_message(st), "bad feed"));
    skiff_status_free(st);
    skiff_client_free(c);
    shutdown(e2.lfd, SHUT_RDWR);
    fake_stop(&e1);
    fake_stop(&e2);
    assert_int_equal(e1.accepted + e2.accepted, 1);

    /* a stalled server, then one that closes at once: timeout then NET, both named */
    fake stall, closer;
    fake_start(&stall, (void *)1, 0);
    fake_start(&closer, NULL, 0);
    snprintf(eps, sizeof(eps), "127.0.0.1:%d,127.0.0.1:%d", stall.port, closer.port);
    o.timeout_ms = 150;
    assert_null(skiff_client_new(UCI_CONF, eps, &o, &c));
    st = call_uci(c, &res);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_UNAVAILABLE);
    const char *msg = skiff_status_message(st);
    assert_non_null(strstr(msg, "no answer in time (timeout)"));
    assert_non_null(strstr(msg, "closed by the server before answering"));
    assert_true(strstr(msg, "no answer in time") < strstr(msg, "closed by")); /* in order */
    skiff_status_free(st);
    skiff_client_free(c);
    fake_stop(&stall);
    fake_stop(&closer);

    /* bytes that are not a frame: INTERNAL */
    fake junk;
    fake_start(&junk, "GARBAGE-GARBAGE!", 16);
    snprintf(eps, sizeof(eps), "127.0.0.1:%d", junk.port);
    assert_null(skiff_client_new(UCI_CONF, eps, &o, &c));
    st = call_uci(c, &res);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INTERNAL);
    assert_non_null(strstr(skiff_status_message(st), "not a baidu_std frame"));
    skiff_status_free(st);
    skiff_client_free(c);
    fake_stop(&junk);
    skiff__buf_free(&f);
}

int main(void)
{
    skiff__codec_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_failover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
