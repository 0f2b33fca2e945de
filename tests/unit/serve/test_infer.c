/* Unit tests for the shared inference path (infer.c) through a fake
 * transport: a server without a listening socket serves the uci example, and
 * requests go straight into skiff__infer_start the way a front end hands
 * them over - inline runs, queued runs resumed from the done callback, model
 * choice, errors in each API's format - with the model's counters checked
 * after each. Registered in test_serve.c's main(). */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "serve/infer.h"
#include "serve/serve_int.h"

void test_infer_inline(void **state);
void test_infer_queued(void **state);
void test_infer_errors(void **state);

#define X13                                                                                        \
    "0.0137,-0.1136,0.2553,-0.0692,0.0582,-0.0727,-0.1583,-0.0584,0.6283,0.4919,0.1856,0.0795,-0." \
    "0332"

typedef struct fake {
    skiff__serve_config cfg;
    skiff__server *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} fake;

static fake *fake_open(const char *inline_mode)
{
    fake *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    char *args[] = {"serve",
                    "--model",
                    SKIFF_TEST_MODEL,
                    "--name",
                    "uci",
                    "--io_threads",
                    "1",
                    "--instances",
                    "1",
                    "--inline",
                    (char *)inline_mode,
                    "--log_level",
                    "error"};
    bool help;
    assert_null(
        skiff__serve_config_parse((int)(sizeof(args) / sizeof(args[0])), args, &f->cfg, &help));
    assert_null(skiff__server_open(&f->cfg, false, &f->s));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    return f;
}

static void fake_close(fake *f)
{
    skiff__server_close(f->s);
    skiff__serve_config_free(&f->cfg);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

/* The done callback: a real transport would wake its I/O thread. */
static void on_done(void *user)
{
    fake *f = user;
    pthread_mutex_lock(&f->mu);
    f->done++;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* One request through infer.c as a front end would send it; the answer's
 * bytes land in *out, its result in c->res. */
static void run(fake *f, skiff__infer_call *c, skiff__api api, skiff__served *model,
                const char *body, skiff__buf *out)
{
    skiff__buf b = {0};
    assert_true(skiff__buf_append(&b, body, strlen(body)));
    skiff__infer_args a = {.api = api, .model = model, .t0 = skiff__now_ns(), .log_id = 5};
    f->done = 0;
    if (!skiff__infer_start(f->s, c, &a, &b, on_done, f, out)) {
        pthread_mutex_lock(&f->mu);
        while (!f->done)
            pthread_cond_wait(&f->cv, &f->mu);
        pthread_mutex_unlock(&f->mu);
        skiff__infer_resume(c, out);
    }
    skiff__buf_free(&b);
    assert_true(out->len > 0);
    skiff__buf_append(out, "", 1); /* NUL-terminated for the asserts */
}

static uint64_t count(fake *f, skiff_code_t code)
{
    return atomic_load(
        &f->s->repo.models[0].sv->ops->stats(f->s->repo.models[0].sv)->req_by_code[code]);
}

static void check_answers(fake *f)
{
    skiff__served *uci = skiff__repo_find(&f->s->repo, "uci", 3);
    assert_non_null(uci);
    skiff__infer_call c = {0};
    skiff__buf out = {0};
    uint64_t ok0 = count(f, SKIFF_CODE_OK);

    run(f, &c, SKIFF__API_PADDLE_WEB, uci, "{\"feed\":[{\"x\":[" X13 "]}],\"fetch\":[\"price\"]}",
        &out);
    assert_int_equal(c.res.status, 200);
    assert_string_equal(out.data, "{\"result\":{\"price\":[[22.989538]]}}");
    skiff__infer_finish(&c);

    run(f, &c, SKIFF__API_KSERVE, uci,
        "{\"id\":\"7\",\"inputs\":[{\"name\":\"x\",\"shape\":[1,13],\"datatype\":\"FP32\","
        "\"data\":[" X13 "]}]}",
        &out);
    assert_int_equal(c.res.status, 200);
    assert_string_equal(c.res.ctype, "application/json");
    assert_non_null(strstr(out.data, "\"id\":\"7\""));
    assert_non_null(strstr(out.data, "22.989538"));
    skiff__infer_finish(&c);

    /* Paddle 0.9 without a route model: the body's "model" picks it. */
    run(f, &c, SKIFF__API_PADDLE09, NULL,
        "{\"model\":\"uci\",\"tensor\":[{\"float_data\":[" X13 "],\"elem_type\":1,"
        "\"name\":\"x\",\"shape\":[1,13]}],\"fetch_var_names\":[\"price\"]}",
        &out);
    assert_int_equal(c.res.status, 200);
    assert_ptr_equal(c.sm, uci);
    assert_non_null(strstr(out.data, "22.989538"));
    skiff__infer_finish(&c);

    assert_int_equal(count(f, SKIFF_CODE_OK), ok0 + 3);
    assert_int_equal(atomic_load(&uci->sv->ops->stats(uci->sv)->in_flight), 0);
    skiff__buf_free(&out);
}

void test_infer_inline(void **state)
{
    fake *f = fake_open("on");
    check_answers(f);
    fake_close(f);
}

void test_infer_queued(void **state)
{
    fake *f = fake_open("off");
    check_answers(f);
    /* A transport's job cache: the second request reuses the first's job. */
    skiff__served *uci = &f->s->repo.models[0];
    skiff__job *cache = NULL;
    skiff__served *cache_model = NULL;
    skiff__infer_call c = {.job_cache = &cache, .job_cache_model = &cache_model};
    skiff__buf out = {0};
    run(f, &c, SKIFF__API_PADDLE_WEB, uci, "{\"feed\":[{\"x\":[" X13 "]}]}", &out);
    skiff__infer_finish(&c);
    assert_non_null(cache);
    skiff__job *kept = cache;
    run(f, &c, SKIFF__API_PADDLE_WEB, uci, "{\"feed\":[{\"x\":[" X13 "]}]}", &out);
    assert_int_equal(c.res.status, 200);
    assert_ptr_equal(c.job, kept);
    skiff__infer_finish(&c);
    skiff__job_free(cache);
    skiff__buf_free(&out);
    fake_close(f);
}

void test_infer_errors(void **state)
{
    /* The front-end table: HTTP/1.1, brpc and gRPC (HTTP/2) are served;
     * TLS is recognised but has no front end. */
    assert_ptr_equal(skiff__frontend_of(SKIFF__PROTO_HTTP1), &skiff__http1_frontend);
    assert_ptr_equal(skiff__frontend_of(SKIFF__PROTO_HTTP2), &skiff__grpc_frontend);
    assert_ptr_equal(skiff__frontend_of(SKIFF__PROTO_BRPC), &skiff__brpc_frontend);
    assert_null(skiff__frontend_of(SKIFF__PROTO_TLS));
    assert_null(skiff__frontend_of(SKIFF__PROTO_COUNT));
    fake *f = fake_open("auto");
    skiff__served *uci = &f->s->repo.models[0];
    skiff__infer_call c = {0};
    skiff__buf out = {0};
    uint64_t bad0 = count(f, SKIFF_CODE_INVALID_ARG);

    /* Each API's error shape, with a message naming the input. */
    run(f, &c, SKIFF__API_PADDLE_WEB, uci, "{\"feed\":[{\"x\":[1,2]}]}", &out);
    assert_int_equal(c.res.status, 400);
    assert_int_equal(c.res.code, SKIFF_CODE_INVALID_ARG);
    assert_non_null(strstr(out.data, "{\"result\":\"input 'x'"));
    skiff__infer_finish(&c);
    run(f, &c, SKIFF__API_KSERVE, uci, "{\"inputs\":[]", &out);
    assert_int_equal(c.res.status, 400);
    assert_non_null(strstr(out.data, "{\"error\":"));
    skiff__infer_finish(&c);
    run(f, &c, SKIFF__API_PADDLE09, NULL, "{\"model\":\"nope\",\"tensor\":[]}", &out);
    assert_int_equal(c.res.status, 404);
    assert_non_null(strstr(out.data, "\"err_no\":-5100"));
    assert_non_null(strstr(out.data, "unknown model 'nope'"));
    skiff__infer_finish(&c);
    assert_int_equal(count(f, SKIFF_CODE_INVALID_ARG), bad0 + 2);

    /* ?model= that names no model: 404 before decoding, nothing counted. */
    skiff__buf b = {0};
    skiff__infer_args a = {.api = SKIFF__API_PADDLE09, .model_query = "zz", .t0 = skiff__now_ns()};
    assert_true(skiff__infer_start(f->s, &c, &a, &b, on_done, f, &out));
    assert_int_equal(c.res.status, 404);
    skiff__infer_finish(&c);
    /* A bad X-Request-Timeout-Ms is the client's error. */
    const char *body = "{\"feed\":[{\"x\":[" X13 "]}]}";
    assert_true(skiff__buf_append(&b, body, strlen(body)));
    a = (skiff__infer_args){
        .api = SKIFF__API_PADDLE_WEB, .model = uci, .timeout_ms = "-3", .t0 = skiff__now_ns()};
    assert_true(skiff__infer_start(f->s, &c, &a, &b, on_done, f, &out));
    assert_int_equal(c.res.status, 400);
    assert_non_null(strstr(c.res.msg, "X-Request-Timeout-Ms '-3'"));
    skiff__infer_finish(&c);

    /* Errors a transport finds itself, in each API's format. */
    skiff__infer_result r;
    skiff__infer_error(SKIFF__API_PADDLE09, SKIFF_CODE_RESOURCE_EXHAUSTED, 503, "full", &out, &r);
    assert_int_equal(r.status, 503);
    assert_true(r.retry_after);
    assert_int_equal(out.len, strlen("{\"err_no\":-5001,\"err_msg\":\"full\"}"));
    assert_memory_equal(out.data, "{\"err_no\":-5001,\"err_msg\":\"full\"}", out.len);
    skiff__infer_error(SKIFF__API_NONE, SKIFF_CODE_INVALID_ARG, 400, "bad \"x\"", &out, &r);
    assert_memory_equal(out.data, "{\"error\":\"bad \\\"x\\\"\"}", out.len);
    assert_int_equal(atomic_load(&uci->sv->ops->stats(uci->sv)->in_flight), 0);
    skiff__buf_free(&b);
    skiff__buf_free(&out);
    fake_close(f);
}
