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

#include <nghttp2/nghttp2.h>

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
    int conns; /* connections served, one after the other */
    int accepted;
    pthread_t th;
} fake;

static void *fake_run(void *arg)
{
    fake *f = arg;
    for (int k = 0; k < f->conns; k++) {
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
    }
    return NULL;
}

static void fake_start_n(fake *f, const void *answer, size_t len, int conns)
{
    *f = (fake){.answer = answer, .len = len, .conns = conns};
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    socklen_t al = sizeof(a);
    getsockname(f->lfd, (struct sockaddr *)&a, &al);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->th, NULL, fake_run, f), 0);
}

static void fake_start(fake *f, const void *answer, size_t len) { fake_start_n(f, answer, len, 1); }

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
    assert_null(skiff_client_new(UCI_CONF, "127.0.0.1:1", &o, &c));
    skiff_client_free(c);
    o.transport = (skiff_client_transport_t)9;
    st = skiff_client_new(UCI_CONF, "127.0.0.1:1", &o, &c);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
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

    /* a stalled server, then one that closes at once: timeout then NET, both named;
     * a connection closed before the answer gets the call once more (two accepted) */
    fake stall, closer;
    fake_start(&stall, (void *)1, 0);
    fake_start_n(&closer, NULL, 0, 2);
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
    assert_int_equal(closer.accepted, 2);

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

/* ---- gRPC: the client's session against a server session made here ------------- */

typedef struct h2srv {
    nghttp2_session *s;
    skiff__buf headers; /* "name: value\n" of the last request */
    skiff__buf data;    /* its DATA */
    int32_t stream;     /* its stream, once END_STREAM came */
    skiff__buf resp;    /* the answer's DATA */
    size_t resp_off;
    const nghttp2_nv *trailer;
    size_t n_trailer;
} h2srv;

static int srv_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                      const uint8_t *v, size_t vlen, uint8_t flags, void *user)
{
    h2srv *h = user;
    assert_true(skiff__buf_printf(&h->headers, "%.*s: %.*s\n", (int)nlen, (const char *)name,
                                  (int)vlen, (const char *)v));
    return 0;
}

static int srv_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t n,
                    void *user)
{
    h2srv *h = user;
    assert_true(skiff__buf_append(&h->data, d, n));
    return 0;
}

static int srv_frame(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    h2srv *h = user;
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        h->stream = f->hd.stream_id;
    return 0;
}

static ssize_t srv_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *user)
{
    h2srv *h = user;
    size_t n = h->resp.len - h->resp_off < len ? h->resp.len - h->resp_off : len;
    memcpy(buf, h->resp.data + h->resp_off, n);
    h->resp_off += n;
    if (h->resp_off == h->resp.len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        assert_int_equal(nghttp2_submit_trailer(s, id, h->trailer, h->n_trailer), 0);
    }
    return (ssize_t)n;
}

static void h2srv_new(h2srv *h)
{
    *h = (h2srv){0};
    nghttp2_session_callbacks *cb;
    assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_on_header_callback(cb, srv_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, srv_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_frame);
    assert_int_equal(nghttp2_session_server_new(&h->s, cb, h), 0);
    nghttp2_session_callbacks_del(cb);
    assert_int_equal(nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static void h2srv_free(h2srv *h)
{
    nghttp2_session_del(h->s);
    skiff__buf_free(&h->headers);
    skiff__buf_free(&h->data);
    skiff__buf_free(&h->resp);
}

/* Moves bytes both ways until neither side has any to send. */
static void pump(skiff__client_h2 *c, h2srv *h)
{
    for (int round = 0; round < 16; round++) {
        skiff__buf out = {0};
        assert_null(skiff__client_h2_output(c, &out));
        if (out.len)
            assert_int_equal(nghttp2_session_mem_recv(h->s, (const uint8_t *)out.data, out.len),
                             (ssize_t)out.len);
        skiff__buf_free(&out);
        const uint8_t *p;
        ssize_t n, total = 0;
        while ((n = nghttp2_session_mem_send(h->s, &p)) > 0) {
            assert_null(skiff__client_h2_input(c, p, (size_t)n));
            total += n;
        }
        if (total == 0 && skiff__client_h2_done(c))
            return;
    }
}

static void h2srv_reset_request(h2srv *h)
{
    skiff__buf_reset(&h->headers);
    skiff__buf_reset(&h->data);
    h->stream = 0;
}

#define SNV(n, v)                                                                                  \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE                 \
    }

static void test_grpc(void **state)
{
    skiff__model_conf *conf = read_conf(UCI_CONF "/serving_client_conf.prototxt");
    float xs[13] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    int64_t dims[1] = {13};
    skiff_tensor_t *x = NULL;
    assert_null(skiff_tensor_wrap(SKIFF_DTYPE_FLOAT32, 1, dims, xs, sizeof(xs), &x));
    skiff_client_feed_t feed = {.name = "x", .tensor = x};
    skiff__client_req r;
    assert_null(skiff__client_req_build(conf, &feed, 1, NULL, 0, false, &r));
    skiff__request_out ro = {
        .inputs = r.inputs, .n_inputs = 1, .fetch = r.fetch, .n_fetch = r.n_fetch, .log_id = 3};

    /* the message: flag 0, the length big-endian, then the 0.9 Request */
    skiff__client_wire w = {.transport = SKIFF_CLIENT_GRPC, .model = "uci"};
    skiff__buf msg = {0}, pb = {0};
    size_t len = 0;
    assert_null(skiff__client_encode(&w, &ro, 1, 1500, "h:1", &msg));
    assert_null(skiff__encode_paddle09_pb_request(&ro, &pb, &len));
    const uint8_t *m = (const uint8_t *)msg.data;
    assert_int_equal(msg.len, pb.len + 5);
    assert_int_equal(m[0], 0);
    assert_int_equal((uint32_t)m[1] << 24 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 8 | m[4],
                     pb.len);
    assert_memory_equal(m + 5, pb.data, pb.len);

    /* the headers and DATA as a server sees them */
    skiff__client_h2 *c = NULL;
    assert_null(skiff__client_h2_new(&c));
    h2srv h;
    h2srv_new(&h);
    bool refused = true;
    assert_null(skiff__client_h2_start(c, &w, &msg, 1500, "h:1", &refused));
    assert_false(refused);
    skiff__buf out = {0};
    assert_null(skiff__client_h2_output(c, &out));
    assert_true(out.len > 24 && !memcmp(out.data, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24));
    assert_int_equal(nghttp2_session_mem_recv(h.s, (const uint8_t *)out.data, out.len),
                     (ssize_t)out.len);
    skiff__buf_free(&out);
    assert_true(skiff__buf_char(&h.headers, '\0'));
    const char *hd = (const char *)h.headers.data;
    assert_non_null(strstr(hd, ":method: POST\n"));
    assert_non_null(strstr(hd, ":path: /baidu.paddle_serving.predictor.general_model."
                               "GeneralModelService/inference\n"));
    assert_non_null(strstr(hd, ":authority: h:1\n"));
    assert_non_null(strstr(hd, "content-type: application/grpc\n"));
    assert_non_null(strstr(hd, "te: trailers\n"));
    assert_non_null(strstr(hd, "grpc-timeout: 1500m\n"));
    assert_non_null(strstr(hd, "model: uci\n"));
    assert_int_equal(h.stream, 1);
    assert_int_equal(h.data.len, msg.len);
    assert_memory_equal(h.data.data, msg.data, msg.len);

    /* a canned answer: HEADERS, the Response behind its prefix, grpc-status 0 */
    skiff__buf payload = {0};
    p09_answer(&payload, 22.5f, NULL, 0);
    uint8_t head[5] = {0, 0, 0, (uint8_t)(payload.len >> 8), (uint8_t)payload.len};
    assert_true(skiff__buf_append(&h.resp, head, 5));
    assert_true(skiff__buf_append(&h.resp, payload.data, payload.len));
    nghttp2_nv ok_tr[] = {SNV("grpc-status", "0")};
    h.trailer = ok_tr;
    h.n_trailer = 1;
    nghttp2_nv resp_h[] = {SNV(":status", "200"), SNV("content-type", "application/grpc")};
    nghttp2_data_provider dp = {.read_callback = srv_read};
    assert_int_equal(nghttp2_submit_response(h.s, 1, resp_h, 2, &dp), 0);
    pump(c, &h);
    assert_true(skiff__client_h2_done(c));
    skiff__infer_request *ans = NULL;
    bool answered = true;
    assert_null(skiff__client_h2_decode(c, &ans, &answered));
    assert_int_equal(ans->n_inputs, 1);
    assert_true(((float *)ans->inputs[0].tensor->data)[0] == 22.5f);
    skiff__infer_request_free(ans);
    assert_true(skiff__client_h2_reusable(c));

    /* the same session, a second stream: an error in trailers only */
    h2srv_reset_request(&h);
    assert_null(skiff__client_h2_start(c, &w, &msg, 0, "h:1", &refused));
    pump(c, &h);
    assert_int_equal(h.stream, 3);
    assert_true(skiff__buf_char(&h.headers, '\0'));
    assert_null(strstr((const char *)h.headers.data, "grpc-timeout"));
    nghttp2_nv err_h[] = {SNV(":status", "200"), SNV("content-type", "application/grpc"),
                          SNV("grpc-status", "3"),
                          SNV("grpc-message", "input 'x': expected shape [-1,13]%2C got [1,2]")};
    assert_int_equal(nghttp2_submit_response(h.s, 3, err_h, 4, NULL), 0);
    pump(c, &h);
    assert_true(skiff__client_h2_done(c));
    skiff_status_t *st = skiff__client_h2_decode(c, &ans, &answered);
    assert_true(answered);
    assert_null(ans);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    assert_string_equal(skiff_status_message(st),
                        "server: input 'x': expected shape [-1,13], got [1,2] (grpc-status 3)");
    skiff_status_free(st);

    /* grpc-status 0 but the prefix lies about the length: broken, not answered */
    h2srv_reset_request(&h);
    assert_null(skiff__client_h2_start(c, &w, &msg, 0, "h:1", &refused));
    pump(c, &h);
    assert_int_equal(h.stream, 5);
    skiff__buf_reset(&h.resp);
    h.resp_off = 0;
    head[4] = (uint8_t)(payload.len + 1);
    assert_true(skiff__buf_append(&h.resp, head, 5));
    assert_true(skiff__buf_append(&h.resp, payload.data, payload.len));
    assert_int_equal(nghttp2_submit_response(h.s, 5, resp_h, 2, &dp), 0);
    pump(c, &h);
    st = skiff__client_h2_decode(c, &ans, &answered);
    assert_false(answered);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INTERNAL);
    assert_non_null(strstr(skiff_status_message(st), "prefix says"));
    skiff_status_free(st);

    /* no grpc-status at all: broken */
    h2srv_reset_request(&h);
    assert_null(skiff__client_h2_start(c, &w, &msg, 0, "h:1", &refused));
    pump(c, &h);
    nghttp2_nv bare_h[] = {SNV(":status", "200"), SNV("content-type", "application/grpc")};
    assert_int_equal(nghttp2_submit_response(h.s, 7, bare_h, 2, NULL), 0);
    pump(c, &h);
    st = skiff__client_h2_decode(c, &ans, &answered);
    assert_false(answered);
    assert_non_null(strstr(skiff_status_message(st), "no grpc-status"));
    skiff_status_free(st);

    /* GOAWAY: the session takes no new stream, and says so */
    assert_int_equal(nghttp2_submit_goaway(h.s, NGHTTP2_FLAG_NONE, 7, NGHTTP2_NO_ERROR, NULL, 0),
                     0);
    pump(c, &h);
    assert_false(skiff__client_h2_reusable(c));
    st = skiff__client_h2_start(c, &w, &msg, 0, "h:1", &refused);
    assert_true(refused);
    skiff_status_free(st);

    assert_int_equal(skiff__client_grpc_code(5), SKIFF_CODE_NOT_FOUND);
    assert_int_equal(skiff__client_grpc_code(14), SKIFF_CODE_UNAVAILABLE);
    assert_int_equal(skiff__client_grpc_code(99), SKIFF_CODE_INTERNAL);

    skiff__client_h2_free(c);
    h2srv_free(&h);
    skiff__buf_free(&payload);
    skiff__buf_free(&msg);
    skiff__buf_free(&pb);
    skiff__client_req_free(&r);
    skiff_tensor_free(x);
    skiff__model_conf_free(conf);
}

/* A server that answers gRPC with bytes that are not HTTP/2, or stalls. */
static void test_grpc_misbehaving(void **state)
{
    skiff_client_options_t o = {.transport = SKIFF_CLIENT_GRPC, .timeout_ms = 300};
    skiff_client_t *c = NULL;
    skiff_client_result_t *res = NULL;
    char eps[64];
    fake junk;
    fake_start(&junk, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
    snprintf(eps, sizeof(eps), "127.0.0.1:%d", junk.port);
    assert_null(skiff_client_new(UCI_CONF, eps, &o, &c));
    skiff_status_t *st = call_uci(c, &res);
    assert_null(res);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INTERNAL);
    assert_non_null(strstr(skiff_status_message(st), "not HTTP/2"));
    skiff_status_free(st);
    skiff_client_free(c);
    fake_stop(&junk);

    fake stall;
    fake_start(&stall, (void *)1, 0);
    snprintf(eps, sizeof(eps), "127.0.0.1:%d,127.0.0.1:%d", stall.port, dead_port());
    o.timeout_ms = 150;
    assert_null(skiff_client_new(UCI_CONF, eps, &o, &c));
    st = call_uci(c, &res);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_UNAVAILABLE);
    assert_non_null(strstr(skiff_status_message(st), "no answer in time (timeout)"));
    assert_non_null(strstr(skiff_status_message(st), "refused"));
    skiff_status_free(st);
    skiff_client_free(c);
    fake_stop(&stall);
}

int main(void)
{
    skiff__codec_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf),    cmocka_unit_test(test_request),
        cmocka_unit_test(test_answers), cmocka_unit_test(test_failover),
        cmocka_unit_test(test_grpc),    cmocka_unit_test(test_grpc_misbehaving),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
