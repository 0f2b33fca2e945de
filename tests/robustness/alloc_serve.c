/* alloc_serve.c - fails each allocation of loading a serving model and of
 * serving one request in turn, and checks that every failure is a clean error.
 *
 *   alloc_serve MODEL_DIR [--phase load|serve|all] [--max-n N] [--codes] [-v]
 *
 * Phase "load": for N = 1, 2, ... opens MODEL_DIR (skiff__model_open) with its
 * Nth allocation failing: the open must fail with a status, or succeed with a
 * model that then serves a request exactly like an undisturbed one.
 *
 * Phase "serve": opens the model twice (inline runs on, and off so requests
 * go through the queue and an instance thread), then for each request format
 * (Paddle web, Paddle 0.9 JSON, KServe v2 JSON) and each model, for N = 1, 2, ...
 * runs one request the way the shared inference path does (src/serve/infer.c:
 * decode the body with the codec, fill a job, check it, run it inline or
 * submit it and wait, encode the reply) with allocation N failing. Each run
 * must end in an error status or in the same reply bytes as an undisturbed
 * run, and the next undisturbed request must still get those bytes (a failure
 * must not leave the model broken). The loop for one format ends at the first
 * N that the run never reaches.
 *
 * "Clean" means: no crash, no hang (a queued job that never completes is a
 * failure after 30 s), and no leak - run under the ASan build, LeakSanitizer
 * checks at exit that every error path freed what it had. With --codes an
 * injected failure must also surface as RESOURCE_EXHAUSTED, not as the
 * client's fault (INVALID_ARG) or anything else; without it, such statuses are
 * listed but do not fail the test.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "model/model.h"
#include "proto/codec.h"

/* The demo row of examples/uci_housing in each request format. */
#define X13_A "0.0137,-0.1136,0.2553,-0.0692,0.0582,-0.0727,-0.1583,"
#define X13_B "-0.0584,0.6283,0.4919,0.1856,0.0795,-0.0332"
#define X13 X13_A X13_B

typedef enum fmt { F_PADDLE_WEB, F_PADDLE09, F_KSERVE, F_COUNT } fmt;

static const char *const fmt_name[F_COUNT] = {"paddle_web", "paddle09", "kserve"};

static const char *const fmt_body[F_COUNT] = {
    "{\"feed\":[{\"x\":[" X13 "]},{\"x\":[" X13 "]}],\"fetch\":[\"price\"]}",
    "{\"tensor\":[{\"float_data\":[" X13 "," X13 "],\"elem_type\":1,\"name\":\"x\","
    "\"alias_name\":\"x\",\"shape\":[2,13]}],\"fetch_var_names\":[\"price\"],\"log_id\":9}",
    "{\"id\":\"a1\",\"inputs\":[{\"name\":\"x\",\"shape\":[2,13],\"datatype\":\"FP32\","
    "\"data\":[" X13 "," X13 "]}],\"outputs\":[{\"name\":\"price\"}]}",
};

typedef struct served {
    skiff__model *model;
    const skiff__model_desc *d;
    skiff__io_spec in[8];
    skiff__io_spec out[8];
    skiff__model_io io;
    const char *label;
} served;

static bool verbose;
static bool strict_codes;
static long max_n = 100000;
static int n_failures;
static int n_odd_codes;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "alloc_serve: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    n_failures++;
}

/* The codec's view of the model's feed and fetch vars, as server.c builds it. */
static bool make_io(served *s)
{
    const skiff__model_desc *d = s->d;
    if (d->n_feed > 8 || d->n_fetch > 8)
        return false;
    for (int pass = 0; pass < 2; pass++) {
        const skiff__model_var *vars = pass ? d->fetch : d->feed;
        skiff__io_spec *specs = pass ? s->out : s->in;
        int n = pass ? d->n_fetch : d->n_feed;
        for (int i = 0; i < n; i++)
            specs[i] = (skiff__io_spec){.name = vars[i].name,
                                        .alias = vars[i].alias,
                                        .dtype = vars[i].dtype,
                                        .ndim = vars[i].ndim,
                                        .dims = vars[i].dims,
                                        .batched = vars[i].batched,
                                        .is_lod = vars[i].is_lod};
    }
    s->io = (skiff__model_io){s->in, d->n_feed, s->out, d->n_fetch};
    return true;
}

/* ---- one request, as http.c serves it ---------------------------------------- */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} waiter;

static void on_done(skiff__job *job, void *user)
{
    waiter *w = user;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static skiff_status_t *decode(fmt f, const served *s, skiff__infer_request **req)
{
    const char *body = fmt_body[f];
    size_t len = strlen(body);
    switch (f) {
    case F_PADDLE_WEB: return skiff__decode_paddle_web(body, len, &s->io, NULL, req);
    case F_PADDLE09: return skiff__decode_paddle09(body, len, &s->io, NULL, req);
    default: return skiff__decode_kserve(body, len, -1, &s->io, NULL, req);
    }
}

/* One request in flight: what the encoder needs, and its result. */
typedef struct run_ctx {
    const served *s;
    fmt f;
    const skiff__infer_request *req;
    skiff__buf *out;
    skiff_status_t *st;
} run_ctx;

/* The job's outcome as reply bytes (http.c's answer_job). */
static skiff_status_t *encode_reply(run_ctx *c, skiff__job *job)
{
    if (job->status) {
        skiff_status_t *st = job->status;
        job->status = NULL;
        return st;
    }
    const served *s = c->s;
    skiff__infer_output outs[8];
    int n = 0;
    for (int k = 0; k < s->d->n_fetch && n < 8; k++) {
        if (!job->outputs[k])
            continue;
        outs[n++] = (skiff__infer_output){.name = s->d->fetch[k].name,
                                          .alias = s->d->fetch[k].alias,
                                          .tensor = job->outputs[k],
                                          .lod = job->out_lod[k],
                                          .n_lod = job->n_out_lod[k]};
    }
    size_t json_len = 0;
    switch (c->f) {
    case F_PADDLE_WEB: return skiff__encode_paddle_web(outs, n, c->out);
    case F_PADDLE09: return skiff__encode_paddle09(outs, n, c->req->log_id, c->out);
    default: return skiff__encode_kserve(s->d->name, "1", c->req->id, outs, n, c->out, &json_len);
    }
}

/* run_inline's callback: encode while the outputs sit in the borrowed context. */
static void inline_encode(skiff__job *job, void *user)
{
    run_ctx *c = user;
    c->st = encode_reply(c, job);
}

/* Runs the job inline, or through the queue and waits; false when it hung. */
static bool run_job(served *s, skiff__job *job, run_ctx *c)
{
    c->st = NULL;
    if (skiff__model_run_inline(s->model, job, inline_encode, c))
        return true;
    waiter w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    job->done = on_done;
    job->user = &w;
    skiff_status_t *st = skiff__model_submit(s->model, job);
    if (!st) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 30;
        pthread_mutex_lock(&w.mu);
        while (!w.done) {
            if (pthread_cond_timedwait(&w.cv, &w.mu, &until) == ETIMEDOUT) {
                pthread_mutex_unlock(&w.mu);
                return false; /* w stays in use by the instance: leak it with the job */
            }
        }
        pthread_mutex_unlock(&w.mu);
        st = encode_reply(c, job);
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    c->st = st;
    return true;
}

/* Decode, run, encode. On success the reply is in *out (reset first). Sets
 * *hung when a queued job never completed (the job is then leaked on purpose:
 * an instance may still write to it). */
static skiff_status_t *serve_one(served *s, fmt f, skiff__buf *out, bool *hung)
{
    skiff__infer_request *req = NULL;
    skiff__job *job = NULL;
    skiff_status_t *st;
    *hung = false;
    skiff__buf_reset(out);
    if ((st = decode(f, s, &req)))
        goto done;
    if ((st = skiff__job_new(s->model, &job)))
        goto done;
    for (int i = 0; i < req->n_inputs; i++) {
        int k = req->inputs[i].spec;
        if (k < 0 || k >= s->d->n_feed || job->inputs[k]) {
            st = skiff_status_new(SKIFF_CODE_INTERNAL, "decoder returned input %d spec %d", i, k);
            goto done;
        }
        job->inputs[k] = req->inputs[i].tensor;
        job->lod[k] = req->inputs[i].lod;
        job->n_lod[k] = req->inputs[i].n_lod;
    }
    for (int i = 0; i < req->n_outputs; i++) {
        int k = req->outputs[i].spec;
        if (k >= 0 && k < s->d->n_fetch)
            job->want[k] = true;
    }
    job->log_id = req->log_id;
    if ((st = skiff__model_check_job(s->model, job)))
        goto done;
    run_ctx c = {.s = s, .f = f, .req = req, .out = out};
    if (!run_job(s, job, &c)) {
        *hung = true;
        job = NULL;
        st = skiff_status_new(SKIFF_CODE_INTERNAL, "queued job did not complete in 30 s");
        goto done;
    }
    st = c.st;
done:
    skiff__job_free(job);
    skiff__infer_request_free(req);
    return st;
}

/* ---- the loops ------------------------------------------------------------------ */

/* Classifies the outcome of one run with allocation n failing. Returns true
 * while n is still within the run (the failure was hit). */
static bool judge(const char *what, long n, skiff_status_t *st, const skiff__buf *got,
                  const skiff__buf *ref, int *errors, int *absorbed)
{
    bool hit = skiff__alloc_failed();
    if (st) {
        skiff_code_t code = skiff_status_code(st);
        const char *msg = skiff_status_message(st);
        if (!hit) {
            fail("%s: allocation %ld: an error without an injected failure: %s", what, n, msg);
        } else if (!msg || !*msg) {
            fail("%s: allocation %ld: an error status without a message", what, n);
        } else if (code != SKIFF_CODE_RESOURCE_EXHAUSTED) {
            n_odd_codes++;
            if (strict_codes)
                fail("%s: allocation %ld failed but the error is %s: %s", what, n,
                     skiff_code_name(code), msg);
            else
                fprintf(stderr,
                        "alloc_serve: note: %s: allocation %ld failed but the error is %s: "
                        "%s\n",
                        what, n, skiff_code_name(code), msg);
        }
        if (verbose)
            fprintf(stderr, "  %s N=%ld: %s: %s\n", what, n, skiff_code_name(code), msg);
        (*errors)++;
        skiff_status_free(st);
        return hit;
    }
    if (got->len != ref->len || memcmp(got->data, ref->data, ref->len) != 0)
        fail("%s: allocation %ld: success, but the reply differs from the undisturbed one:\n  got  "
             "%.*s\n  want %.*s",
             what, n, (int)(got->len < 300 ? got->len : 300), got->data ? got->data : "",
             (int)(ref->len < 300 ? ref->len : 300), ref->data);
    if (hit)
        (*absorbed)++;
    return hit;
}

static void serve_loop(served *s, fmt f)
{
    char what[96];
    snprintf(what, sizeof(what), "serve %s (%s)", fmt_name[f], s->label);
    skiff__buf ref = {0}, got = {0};
    bool hung;
    skiff__alloc_fail_at(0);
    skiff_status_t *st = serve_one(s, f, &ref, &hung);
    if (st) {
        fail("%s: the undisturbed request failed: %s", what, skiff_status_message(st));
        skiff_status_free(st);
        skiff__buf_free(&ref);
        return;
    }
    long allocs = skiff__alloc_count();
    int errors = 0, absorbed = 0;
    long n;
    for (n = 1; n <= max_n; n++) {
        skiff__alloc_fail_at(n);
        st = serve_one(s, f, &got, &hung);
        bool hit = judge(what, n, st, &got, &ref, &errors, &absorbed);
        skiff__alloc_fail_at(0);
        if (hung) {
            fail("%s: allocation %ld: the queued job never completed", what, n);
            break;
        }
        /* The model must still serve: the next undisturbed request gets the same reply. */
        st = serve_one(s, f, &got, &hung);
        if (st || hung || got.len != ref.len || memcmp(got.data, ref.data, ref.len) != 0) {
            fail("%s: after allocation %ld failed, an undisturbed request %s", what, n,
                 st     ? skiff_status_message(st)
                 : hung ? "hung"
                        : "got a different reply");
            skiff_status_free(st);
            break;
        }
        if (!hit)
            break;
    }
    if (n > max_n)
        fail("%s: still hitting failures at N=%ld (--max-n)", what, max_n);
    printf("alloc_serve: %-32s %4ld allocations per request; failed 1..%ld in turn: %d clean "
           "errors, %d absorbed\n",
           what, allocs, n - 1, errors, absorbed);
    skiff__buf_free(&ref);
    skiff__buf_free(&got);
}

static skiff_status_t *open_served(const char *dir, skiff__inline_mode mode, const char *label,
                                   served *s)
{
    skiff__model_options o;
    skiff__model_options_default(&o);
    o.name = "uci";
    o.inline_mode = mode;
    o.inline_slots = 2; /* as skiff serve with two I/O threads */
    memset(s, 0, sizeof(*s));
    s->label = label;
    skiff_status_t *st = skiff__model_open(dir, &o, &s->model);
    if (st)
        return st;
    s->d = skiff__model_describe(s->model);
    if (!make_io(s))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "more than 8 feed or fetch vars");
    return NULL;
}

static void load_loop(const char *dir)
{
    served s;
    skiff__buf ref = {0}, got = {0};
    bool hung;
    skiff__alloc_fail_at(0);
    skiff_status_t *st = open_served(dir, SKIFF__INLINE_AUTO, "load", &s);
    if (!st)
        st = serve_one(&s, F_PADDLE_WEB, &ref, &hung);
    skiff__model_close(s.model);
    if (st) {
        fail("load: the undisturbed open and request failed: %s", skiff_status_message(st));
        skiff_status_free(st);
        skiff__buf_free(&ref);
        return;
    }
    int errors = 0, absorbed = 0;
    long n;
    for (n = 1; n <= max_n; n++) {
        skiff__alloc_fail_at(n);
        st = open_served(dir, SKIFF__INLINE_AUTO, "load", &s);
        bool hit = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (st) {
            skiff_code_t code = skiff_status_code(st);
            if (!hit) {
                fail("load: allocation %ld: open failed without an injected failure: %s", n,
                     skiff_status_message(st));
            } else if (code != SKIFF_CODE_RESOURCE_EXHAUSTED) {
                n_odd_codes++;
                if (strict_codes)
                    fail("load: allocation %ld failed but the error is %s: %s", n,
                         skiff_code_name(code), skiff_status_message(st));
                else
                    fprintf(stderr,
                            "alloc_serve: note: load: allocation %ld failed but the error "
                            "is %s: %s\n",
                            n, skiff_code_name(code), skiff_status_message(st));
            }
            if (verbose)
                fprintf(stderr, "  load N=%ld: %s\n", n, skiff_status_message(st));
            skiff_status_free(st);
            errors++;
            skiff__model_close(s.model); /* NULL after a failed open */
            continue;
        }
        /* Opened (the failure absorbed, or past the last allocation): it must serve. */
        st = serve_one(&s, F_PADDLE_WEB, &got, &hung);
        if (hung) {
            fail("load: allocation %ld: the model opened but its request hung", n);
            break;
        }
        if (st || got.len != ref.len || memcmp(got.data, ref.data, ref.len) != 0)
            fail("load: allocation %ld: the model opened but its request %s", n,
                 st ? skiff_status_message(st) : "got a different reply");
        skiff_status_free(st);
        skiff__model_close(s.model);
        if (!hit)
            break;
        absorbed++;
    }
    if (n > max_n)
        fail("load: still hitting failures at N=%ld (--max-n)", max_n);
    printf("alloc_serve: %-32s failed allocations 1..%ld in turn: %d clean errors, %d absorbed\n",
           "load (skiff__model_open)", n - 1, errors, absorbed);
    skiff__buf_free(&ref);
    skiff__buf_free(&got);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *phase = "all";
    for (int i = 1; i < argc; i++) {
        int64_t v;
        if (!strcmp(argv[i], "--phase") && i + 1 < argc) {
            phase = argv[++i];
        } else if (!strcmp(argv[i], "--max-n") && i + 1 < argc) {
            if (!skiff__parse_i64(argv[++i], &v) || v < 1) {
                fprintf(stderr, "alloc_serve: --max-n wants a positive number\n");
                return 2;
            }
            max_n = (long)v;
        } else if (!strcmp(argv[i], "--codes")) {
            strict_codes = true;
        } else if (!strcmp(argv[i], "-v")) {
            verbose = true;
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "usage: alloc_serve MODEL_DIR [--phase load|serve|all] [--max-n N] "
                            "[--codes] [-v]\n");
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "alloc_serve: no MODEL_DIR\n");
        return 2;
    }
    bool do_load = !strcmp(phase, "load") || !strcmp(phase, "all");
    bool do_serve = !strcmp(phase, "serve") || !strcmp(phase, "all");
    if (!do_load && !do_serve) {
        fprintf(stderr, "alloc_serve: --phase is load, serve or all\n");
        return 2;
    }
    /* Errors are expected by the thousand; keep the output to the summary. */
    skiff_log_set_level(verbose ? SKIFF_LOG_DEBUG : SKIFF_LOG_OFF);
    skiff__codec_init(); /* jansson allocates through skiff__malloc from here */

    if (do_load)
        load_loop(dir);
    if (do_serve) {
        served models[2];
        static const struct {
            skiff__inline_mode mode;
            const char *label;
        } kinds[2] = {{SKIFF__INLINE_ON, "inline"}, {SKIFF__INLINE_OFF, "queued"}};
        for (int k = 0; k < 2; k++) {
            skiff_status_t *st = open_served(dir, kinds[k].mode, kinds[k].label, &models[k]);
            if (st) {
                fail("cannot open %s: %s", dir, skiff_status_message(st));
                skiff_status_free(st);
                skiff__model_close(models[k].model);
                models[k].model = NULL;
                continue;
            }
            for (int f = 0; f < F_COUNT; f++)
                serve_loop(&models[k], (fmt)f);
            skiff__model_close(models[k].model);
        }
    }
    skiff__alloc_fail_at(0);
    if (n_odd_codes)
        printf("alloc_serve: %d injected failures surfaced with a code other than "
               "RESOURCE_EXHAUSTED%s\n",
               n_odd_codes, strict_codes ? "" : " (listed above; --codes makes them fail)");
    if (n_failures) {
        printf("alloc_serve: %d failures\n", n_failures);
        return 1;
    }
    printf("alloc_serve: every injected allocation failure was a clean error\n");
    return 0;
}
