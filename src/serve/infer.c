/* infer.c - from a decoded request to an encoded answer, for every front end.
 *
 * The order of a request: pick the model, decode the body with the API's
 * codec, fill a job (reused from the transport's cache when the model is the
 * same), set the deadline (X-Request-Timeout-Ms, then the request's own
 * parameter, then --timeout_ms), let the model check the job, then run it
 * inline when the model says an instance is idle and the run is short, or
 * queue it. Encoding happens on the transport's thread in both cases, while
 * the outputs are still in the instance's context for an inline run. Every
 * answer goes through one place (set_result / error_result), which counts the
 * request in its model's statistics exactly once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "serve/infer.h"
#include "serve/serve_int.h"

static void count_request(skiff__infer_call *c, skiff_code_t code)
{
    if (c->sm && c->counted_in_flight && !c->counted_request) {
        c->counted_request = true;
        c->sm->sv->ops->count_request(c->sm->sv, code, skiff__now_ns() - c->t0);
    }
}

void skiff__infer_error(skiff__api api, skiff_code_t code, int status, const char *msg,
                        skiff__buf *out, skiff__infer_result *res)
{
    skiff__buf_reset(out);
    skiff_status_t *st = skiff__codec_of(api)->encode_error(code, msg, out);
    res->ctype = skiff__codec_of(api)->content_type;
    res->json_len = 0;
    if (st) {
        skiff_status_free(st);
        static const char fallback[] = "{\"error\":\"out of memory\"}";
        skiff__buf_reset(out);
        if (!skiff__buf_append(out, fallback, sizeof(fallback) - 1))
            out->len = 0;
        code = SKIFF_CODE_RESOURCE_EXHAUSTED;
        status = 500;
        msg = "out of memory encoding an error";
        res->ctype = "application/json";
    }
    res->status = status;
    res->code = code;
    res->retry_after = status == 503 && code == SKIFF_CODE_RESOURCE_EXHAUSTED;
    snprintf(res->msg, sizeof(res->msg), "%s", msg);
}

static void error_result(skiff__infer_call *c, skiff_code_t code, int status, skiff__buf *out,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void error_result(skiff__infer_call *c, skiff_code_t code, int status, skiff__buf *out,
                         const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    count_request(c, code);
    skiff__infer_error(c->api, code, status, msg, out, &c->res);
}

static void status_result(skiff__infer_call *c, skiff_status_t *st, skiff__buf *out)
{
    skiff_code_t code = skiff_status_code(st);
    error_result(c, code, skiff_code_http_status(code), out, "%s", skiff_status_message(st));
    skiff_status_free(st);
}

/* Paddle 0.9 without ?model=: the request's "model" field names the model,
 * or the first one serves. */
static const skiff__model_io *pick_model(void *user, const char *model, skiff_status_t **out_st)
{
    skiff__infer_call *c = user;
    skiff__repo *r = &c->s->repo;
    if (!model && r->n == 0) {
        *out_st = skiff_status_new(SKIFF_CODE_NOT_FOUND, "no model is served here (only a "
                                                         "pipeline: POST /{name}/{method})");
        return NULL;
    } else if (!model) {
        c->sm = &r->models[0];
    } else if (!(c->sm = skiff__repo_find(r, model, strlen(model)))) {
        *out_st = skiff_status_new(SKIFF_CODE_NOT_FOUND, "unknown model '%.*s'", 128, model);
        return NULL;
    }
    return &c->sm->io;
}

static skiff_status_t *decode(skiff__infer_call *c, const skiff__infer_args *a, skiff__buf *body)
{
    skiff__decode_in in = {.body = body->data ? body->data : "",
                           .len = body->len,
                           .io = c->sm ? &c->sm->io : NULL,
                           .pick = pick_model,
                           .pick_user = c,
                           .limits = &c->s->limits,
                           .header_length = -1};
    const char *v = a->header_length;
    if (c->api == SKIFF__API_KSERVE && v &&
        (!skiff__parse_i64(v, &in.header_length) || in.header_length < 0 ||
         (uint64_t)in.header_length > in.len))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "Inference-Header-Content-Length '%s' is not a length within "
                                "the %zu-byte body",
                                v, in.len);
    return skiff__codec_of(c->api)->decode_request(&in, &c->dec);
}

static void count_in_flight(skiff__infer_call *c)
{
    if (c->sm && !c->counted_in_flight) {
        c->counted_in_flight = true;
        atomic_fetch_add_explicit(&c->sm->sv->ops->stats(c->sm->sv)->in_flight, 1,
                                  memory_order_relaxed);
    }
}

/* The outputs in the answer, in the order asked for (or the fetch order). */
static int collect_outputs(skiff__infer_call *c, skiff__infer_output *outs, int cap)
{
    const skiff__model_desc *d = c->sm->d;
    skiff__job *job = c->job;
    int n = 0;
    int nreq = c->dec->n_outputs;
    for (int i = 0; i < (nreq > 0 ? nreq : d->n_fetch) && n < cap; i++) {
        int k = nreq > 0 ? c->dec->outputs[i].spec : i;
        if (k < 0 || k >= d->n_fetch || !job->outputs[k])
            continue;
        outs[n++] = (skiff__infer_output){.name = d->fetch[k].name,
                                          .alias = d->fetch[k].alias,
                                          .tensor = job->outputs[k],
                                          .lod = job->out_lod[k],
                                          .n_lod = job->n_out_lod[k],
                                          /* the decoder merged binary_data_output in,
                                             and "binary_data": false wins */
                                          .binary = nreq > 0 ? c->dec->outputs[i].binary
                                                             : c->dec->binary_output_all};
    }
    return n;
}

static void encode_answer(skiff__infer_call *c, skiff__buf *out)
{
    skiff__job *job = c->job;
    if (job->status) {
        skiff_status_t *st = job->status;
        job->status = NULL;
        status_result(c, skiff_status_wrap(st, "model '%s'", c->sm->d->name), out);
        return;
    }
    skiff__infer_output outs_small[16];
    skiff__infer_output *outs = outs_small;
    int cap = c->sm->d->n_fetch + (c->dec->n_outputs > 0 ? c->dec->n_outputs : 0);
    if (cap > 16) {
        outs = skiff__calloc((size_t)cap, sizeof(*outs));
        if (!outs) {
            error_result(c, SKIFF_CODE_RESOURCE_EXHAUSTED, 500, out, "out of memory");
            return;
        }
    }
    int n = collect_outputs(c, outs, cap);
    skiff__buf_reset(out);
    if (c->out_head) {
        if (!skiff__buf_reserve(out, c->out_head)) {
            if (outs != outs_small)
                skiff__free(outs);
            error_result(c, SKIFF_CODE_RESOURCE_EXHAUSTED, 500, out, "out of memory");
            return;
        }
        memset(out->data, 0, c->out_head);
        out->len = c->out_head;
    }
    size_t json_len = 0;
    skiff__encode_in in = {.outs = outs,
                           .n_outs = n,
                           .model_name = c->sm->d->name,
                           .model_version = "1",
                           .id = c->dec->id,
                           .log_id = c->log_id};
    skiff_status_t *st = skiff__codec_of(c->api)->encode_response(&in, out, &json_len);
    if (outs != outs_small)
        skiff__free(outs);
    if (st) {
        status_result(c, st, out);
        return;
    }
    bool binary = c->api == SKIFF__API_KSERVE && json_len < out->len;
    count_request(c, SKIFF_CODE_OK);
    c->res = (skiff__infer_result){.status = 200,
                                   .code = SKIFF_CODE_OK,
                                   .ctype = skiff__codec_content_type(c->api, json_len, out->len),
                                   .json_len = binary ? json_len : 0};
}

typedef struct inline_ctx {
    skiff__infer_call *c;
    skiff__buf *out;
} inline_ctx;

/* run_inline's callback: encode while the outputs still sit in the borrowed
 * context, which saves copying them. */
static void inline_answer(skiff__job *job, void *user)
{
    inline_ctx *ic = user;
    encode_answer(ic->c, ic->out);
}

static void job_done(skiff__job *job, void *user)
{
    skiff__infer_call *c = user;
    c->done(c->user);
}

/* Deadline: the header, then the request's own parameter, then the default. */
static bool deadline(skiff__infer_call *c, const skiff__infer_args *a, skiff__buf *out)
{
    int64_t timeout_us = 0;
    if (a->timeout_ms) {
        int64_t ms;
        if (!skiff__parse_i64(a->timeout_ms, &ms) || ms <= 0 || ms > (int64_t)1 << 40) {
            error_result(c, SKIFF_CODE_INVALID_ARG, 400, out,
                         "X-Request-Timeout-Ms '%s' is not a positive number of milliseconds "
                         "(1 to %lld)",
                         a->timeout_ms, (long long)1 << 40);
            return false;
        }
        timeout_us = ms * 1000;
    } else if (c->dec->timeout_us > 0) {
        timeout_us = c->dec->timeout_us;
    } else if (c->s->cfg->timeout_ms > 0) {
        timeout_us = c->s->cfg->timeout_ms * 1000;
    }
    c->job->deadline_ns = timeout_us > 0 ? c->t0 + (uint64_t)timeout_us * 1000 : 0;
    return true;
}

static bool fill_job(skiff__infer_call *c, skiff__buf *out)
{
    skiff__served *sm = c->sm;
    skiff_status_t *st;
    if (c->job_cache && *c->job_cache && *c->job_cache_model == sm) {
        c->job = *c->job_cache;
        *c->job_cache = NULL;
    } else if ((st = sm->sv->ops->job_new(sm->sv, &c->job))) {
        status_result(c, st, out);
        return false;
    }
    skiff__job *job = c->job;
    for (int i = 0; i < c->dec->n_inputs; i++) {
        int k = c->dec->inputs[i].spec;
        if (k < 0 || k >= sm->d->n_feed) {
            error_result(c, SKIFF_CODE_INVALID_ARG, 400, out, "unknown input '%s'",
                         c->dec->inputs[i].name);
            return false;
        }
        if (job->inputs[k]) {
            error_result(c, SKIFF_CODE_INVALID_ARG, 400, out, "input '%s' is given twice",
                         sm->d->feed[k].alias);
            return false;
        }
        job->inputs[k] = c->dec->inputs[i].tensor;
        job->lod[k] = c->dec->inputs[i].lod;
        job->n_lod[k] = c->dec->inputs[i].n_lod;
    }
    for (int i = 0; i < c->dec->n_outputs; i++) {
        int k = c->dec->outputs[i].spec;
        if (k >= 0 && k < sm->d->n_fetch)
            job->want[k] = true;
    }
    return true;
}

bool skiff__infer_start(skiff__server *s, skiff__infer_call *c, const skiff__infer_args *a,
                        skiff__buf *body, skiff__infer_done_cb done, void *user, skiff__buf *out)
{
    c->s = s;
    c->api =
        a->api == SKIFF__API_PADDLE09 ? skiff__codec_paddle09_by_type(a->content_type) : a->api;
    c->sm = a->model;
    c->t0 = a->t0;
    c->out_head = a->out_head;
    c->log_id = a->log_id;
    c->done = done;
    c->user = user;
    if (c->api == SKIFF__API_PIPELINE || c->api == SKIFF__API_PIPELINE_GRPC)
        return skiff__pipe_start(s, c, a, body, out);
    bool p09 = c->api == SKIFF__API_PADDLE09 || c->api == SKIFF__API_PADDLE09_PB;
    if (p09 && !c->sm && a->model_query && a->model_query[0]) {
        c->sm = skiff__repo_find(&s->repo, a->model_query, strlen(a->model_query));
        if (!c->sm) {
            error_result(c, SKIFF_CODE_NOT_FOUND, 404, out, "unknown model '%.128s'",
                         a->model_query);
            return true;
        }
    }
    count_in_flight(c);
    skiff_status_t *st = decode(c, a, body);
    count_in_flight(c); /* a model picked while decoding */
    if (st) {
        status_result(c, st, out);
        return true;
    }
    if (c->dec->log_id)
        c->log_id = c->dec->log_id;
    if (!fill_job(c, out) || !deadline(c, a, out))
        return true;
    skiff__job *job = c->job;
    job->log_id = c->log_id;
    job->done = job_done;
    job->user = c;
    if ((st = c->sm->sv->ops->check(c->sm->sv, job))) {
        status_result(c, st, out);
        return true;
    }
    inline_ctx ic = {c, out};
    if (c->sm->sv->ops->run_inline(c->sm->sv, job, inline_answer, &ic))
        return true;
    c->queued = true;
    st = c->sm->sv->ops->submit(c->sm->sv, job);
    if (st) {
        c->queued = false;
        status_result(c, st, out);
        return true;
    }
    return false;
}

void skiff__infer_resume(skiff__infer_call *c, skiff__buf *out)
{
    c->queued = false;
    if (c->pc) {
        skiff__pipe_resume(c, out);
        return;
    }
    encode_answer(c, out);
}

void skiff__infer_finish(skiff__infer_call *c)
{
    skiff__pipe_finish(c);
    if (c->sm && c->counted_in_flight) {
        count_request(c, SKIFF_CODE_CANCELLED);
        atomic_fetch_sub_explicit(&c->sm->sv->ops->stats(c->sm->sv)->in_flight, 1,
                                  memory_order_relaxed);
    }
    if (c->job && c->job_cache && !*c->job_cache) {
        /* Keep the job for the transport's next request. */
        skiff__job_clear(c->job);
        *c->job_cache = c->job;
        *c->job_cache_model = c->sm;
        c->job = NULL;
    }
    skiff__job_free(c->job);
    skiff__infer_request_free(c->dec);
    skiff__job **cache = c->job_cache;
    skiff__served **cache_model = c->job_cache_model;
    memset(c, 0, sizeof(*c));
    c->job_cache = cache;
    c->job_cache_model = cache_model;
}
