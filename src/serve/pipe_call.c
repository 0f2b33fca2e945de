/* pipe_call.c - a pipeline request on the shared inference path: the front
 * ends start it with skiff__infer_start and an API of SKIFF__API_PIPELINE
 * (HTTP JSON, POST /{name}/{method}) or SKIFF__API_PIPELINE_GRPC
 * (PipelineService/inference), and resume it as any queued call.
 *
 * The request's key/value pairs become string values and its tensors tensor
 * values of the pipeline (pipeline.h); the key "pipeline.profile" asks for
 * the per-op timeline instead of being a value. The answer: each string
 * value the last ops produced as a key/value pair, every other value as a
 * tensor. Errors are answers too, with Paddle's err_no (HTTP status 200, as
 * Paddle's gateway answers), so a Paddle client reads them as it always did.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "proto/codec_pipeline.h"
#include "serve/infer.h"
#include "serve/serve_int.h"

static bool is_pb(const skiff__infer_call *c) { return c->api == SKIFF__API_PIPELINE_GRPC; }

/* The answer to a failed call: err_no and the message, no values. */
static void pipe_error(skiff__infer_call *c, skiff_code_t code, int err_no, const char *msg,
                       skiff__buf *out)
{
    skiff__pipe_msg m = {.err_no = err_no ? err_no : skiff__pipe_errno_of(code), .err_msg = msg};
    skiff__buf_reset(out);
    if (c->out_head && skiff__buf_reserve(out, c->out_head)) {
        memset(out->data, 0, c->out_head);
        out->len = c->out_head;
    }
    skiff_status_t *st = is_pb(c) ? skiff__pipe_encode_response_pb(&m, out)
                                  : skiff__pipe_encode_response_json(&m, out);
    if (st) {
        skiff_status_free(st);
        out->len = 0;
    }
    c->res = (skiff__infer_result){.status = 200,
                                   .code = code,
                                   .ctype = skiff__codec_of(c->api)->content_type,
                                   .in_body = true};
    snprintf(c->res.msg, sizeof(c->res.msg), "%s", msg);
    if (st || out->len == 0) {
        c->res.status = 500;
        c->res.code = SKIFF_CODE_RESOURCE_EXHAUSTED;
        c->res.in_body = false;
    }
}

static void pipe_done(void *user)
{
    skiff__infer_call *c = user;
    c->done(c->user);
}

/* The request's pairs and tensors into the call's values. */
static skiff_status_t *fill(skiff__pipe_call *pc, skiff__pipe_msg *m)
{
    for (int i = 0; i < m->n_items; i++) {
        skiff__pipe_item *it = &m->items[i];
        skiff_status_t *st;
        if (it->str) {
            if (!strcmp(it->key, "pipeline.profile")) {
                pc->profile = it->str_len == 1 && it->str[0] == '1'; /* Paddle's client sends "1" */
                continue;
            }
            st = skiff__pipe_dict_put_str(&pc->in, it->key, strlen(it->key), it->str, it->str_len);
        } else {
            if (!it->key[0])
                return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                        "tensor %d has no name: the ops read values by name", i);
            st = skiff__pipe_dict_put(&pc->in, it->key, strlen(it->key), it->tensor, it->lod,
                                      it->n_lod);
            it->tensor = NULL; /* the values own it now */
        }
        if (st)
            return st;
    }
    return NULL;
}

bool skiff__pipe_start(skiff__server *s, skiff__infer_call *c, const skiff__infer_args *a,
                       skiff__buf *body, skiff__buf *out)
{
    char msg[1024];
    if (!s->pipe) {
        pipe_error(c, SKIFF_CODE_NOT_FOUND, 0, "no pipeline is served here", out);
        return true;
    }
    skiff__pipe_msg *m = NULL;
    skiff_status_t *st = is_pb(c)
                             ? skiff__pipe_decode_request_pb(body->data, body->len, &s->limits, &m)
                             : skiff__pipe_decode_request_json(body->data ? body->data : "",
                                                               body->len, &s->limits, &m);
    if (!st && m->name[0] && strcmp(m->name, skiff__pipeline_name(s->pipe)) != 0)
        st = skiff_status_new(SKIFF_CODE_NOT_FOUND,
                              "the request names service '%.128s'; this pipeline is '%s'", m->name,
                              skiff__pipeline_name(s->pipe));
    skiff__pipe_call *pc = NULL;
    if (!st) {
        if (m->logid > 0)
            c->log_id = (uint64_t)m->logid;
        pc = skiff__calloc(1, sizeof(*pc));
        st = pc ? fill(pc, m) : skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    skiff__pipe_msg_free(m);
    int64_t timeout_ms = s->cfg->timeout_ms;
    if (!st && a->timeout_ms && (!skiff__parse_i64(a->timeout_ms, &timeout_ms) || timeout_ms <= 0))
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "X-Request-Timeout-Ms '%s' is not a positive number of milliseconds",
                              a->timeout_ms);
    if (!st) {
        pc->deadline_ns = timeout_ms > 0 ? c->t0 + (uint64_t)timeout_ms * 1000000ull : 0;
        pc->log_id = c->log_id;
        pc->profile = pc->profile || s->pconf->use_profile;
        pc->done = pipe_done;
        pc->user = c;
        c->pc = pc;
        st = skiff__pipeline_submit(s->pipe, pc);
        if (!st && pc->sync_done) {
            skiff__pipe_resume(c, out); /* quick ops ran on this thread */
            return true;
        }
        if (!st)
            return false;
        c->pc = NULL;
    }
    snprintf(msg, sizeof(msg), "%s", skiff_status_message(st));
    pipe_error(c, skiff_status_code(st), 0, msg, out);
    skiff_status_free(st);
    if (pc) {
        skiff__pipe_call_clear(pc);
        skiff__free(pc);
    }
    return true;
}

void skiff__pipe_resume(skiff__infer_call *c, skiff__buf *out)
{
    skiff__pipe_call *pc = c->pc;
    if (pc->code != SKIFF_CODE_OK) {
        pipe_error(c, pc->code, pc->err_no, pc->msg, out);
        return;
    }
    skiff__pipe_dict *d = &pc->out;
    skiff__pipe_item small[16];
    skiff__pipe_item *items = d->n <= 16 ? small : skiff__calloc((size_t)d->n, sizeof(*items));
    if (!items) {
        pipe_error(c, SKIFF_CODE_RESOURCE_EXHAUSTED, 0, "out of memory", out);
        return;
    }
    for (int i = 0; i < d->n; i++) {
        const skiff__pipe_val *v = d->vars[i].v;
        const skiff_tensor_t *t = v->t;
        items[i] = (skiff__pipe_item){.key = d->vars[i].name};
        if (t->dtype == SKIFF_DTYPE_STRING && t->ndim == 0) {
            const char *str = ((char *const *)t->data)[0];
            items[i].str = str ? str : "";
            items[i].str_len = strlen(items[i].str);
        } else {
            items[i].tensor = (skiff_tensor_t *)t;
            items[i].lod = v->lod;
            items[i].n_lod = v->n_lod;
        }
    }
    skiff__pipe_msg m = {.items = items, .n_items = d->n, .err_msg = ""};
    skiff__buf_reset(out);
    bool ok = true;
    if (c->out_head) {
        ok = skiff__buf_reserve(out, c->out_head);
        if (ok) {
            memset(out->data, 0, c->out_head);
            out->len = c->out_head;
        }
    }
    skiff_status_t *st = !ok ? skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory")
                         : is_pb(c) ? skiff__pipe_encode_response_pb(&m, out)
                                    : skiff__pipe_encode_response_json(&m, out);
    if (items != small)
        skiff__free(items);
    if (st) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "writing the answer: %s", skiff_status_message(st));
        pipe_error(c, skiff_status_code(st), 0, msg, out);
        skiff_status_free(st);
        return;
    }
    c->res = (skiff__infer_result){
        .status = 200, .code = SKIFF_CODE_OK, .ctype = skiff__codec_of(c->api)->content_type};
}

void skiff__pipe_finish(skiff__infer_call *c)
{
    if (!c->pc)
        return;
    skiff__pipe_call_clear(c->pc);
    skiff__free(c->pc);
    c->pc = NULL;
}
