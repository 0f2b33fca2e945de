/* brpc.c - the brpc baidu_std front end: Paddle Serving's RPC clients
 * (GeneralModelService.inference and .debug, both wire generations) on the
 * one port.
 *
 * The acceptor hands a connection whose first bytes are "PRPC" to one of N
 * I/O threads (round robin), each an edge-triggered epoll loop over its
 * connections, as the HTTP/1.1 front end does. Frames (codec_brpc.c) are
 * cut from the connection's input; a frame's RpcMeta names the service, the
 * method and the model (docs/rpc.md), its payload (gzip-inflated when
 * compress_type says so) goes through the shared inference path (infer.c)
 * with the codec of its generation (skiff__paddle_rpc_generation), and the
 * answer frame echoes the correlation_id. Requests on a connection are
 * handled one at a time in arrival order: a pipelining client gets every
 * answer, each with its own correlation_id; while a job waits for an
 * instance the connection stops reading.
 *
 * Errors: a frame that can be read but not served (unknown service, method
 * or model, a bad compress_type, a payload that is not a Request, a shape
 * the model does not take) is answered with error_code and error_text in the
 * RpcResponseMeta, and the connection goes on. Bytes that are not a frame
 * (another magic, meta_size past body_size, an RpcMeta that does not decode)
 * close the connection: nothing after them can be trusted. A body over
 * --max_body_size is answered with an error (with the correlation_id when
 * the meta is readable), then the connection closes.
 *
 * Timers run a few times per --request_timeout_s: a frame not complete
 * --request_timeout_s after its first byte closes the connection; an idle
 * connection closes after --idle_timeout_s.
 *
 * Drain (SIGTERM): calls in flight are answered; then, and at once where
 * nothing is in flight, the connection closes. A call that arrives during the
 * drain is not run and not answered: its connection closes, so the client's
 * retry on a new connection (through a load balancer: another replica) takes
 * it. baidu_std has no "go away" message, and an error answer would end the
 * call in the client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "serve/infer.h"
#include "serve/serve_int.h"

#define READ_STEP ((size_t)16 << 10)
/* A meta larger than this is not read to answer an oversized body. */
#define META_PEEK_MAX ((size_t)64 << 10)
#define LINGER_NS 2000000000ull
/* Answers the client has not read past this: stop reading its requests. */
#define PIPELINE_MAX ((size_t)1 << 20)

static const char service_name[] =
    "baidu.paddle_serving.predictor.general_model.GeneralModelService";

struct biothr;

typedef enum bphase {
    BP_OPEN = 0,  /* reading and answering frames */
    BP_CLOSING,   /* a last answer queued; close once it is written */
    BP_LINGERING, /* written, write side shut: draining input */
} bphase;

typedef struct bconn {
    struct biothr *t;
    int fd;
    bphase phase;
    skiff__buf in; /* bytes read, not yet framed, from in_off */
    size_t in_off;
    skiff__buf wq; /* answer bytes the socket has not taken, from wq_off */
    size_t wq_off;
    skiff__buf payload; /* the current request's payload (inflated) */
    skiff__buf out;     /* the current answer's payload */
    skiff__buf frame;   /* the current answer frame */
    /* The request being handled. */
    skiff__infer_call call;
    bool busy;   /* its job waits for an instance */
    bool active; /* counted in s->in_flight */
    int64_t corr;
    int32_t compress;
    uint64_t t0;
    uint64_t log_id;
    const char *model_name;
    skiff__job *job; /* kept between requests (infer.c) */
    skiff__served *job_model;
    uint64_t frame_since; /* first byte of an incomplete frame; 0 none */
    bool want_read, read_eof, peer_gone, closed;
    uint64_t last_io, linger_since;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct bconn *prev, *next, *resume_next;
} bconn;

typedef struct bpending {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct bpending *next;
} bpending;

typedef struct biothr {
    skiff__server *s;
    int index;
    pthread_t th;
    bool started;
    int ep, evfd;
    pthread_mutex_t mu; /* guards adopt, resume, stop */
    bpending *adopt;
    bconn *resume;
    bool stop;
    bconn *conns;
    bconn *dead;
} biothr;

typedef struct brpc_fe {
    biothr *t;
    int n;
    _Atomic unsigned rr;
} brpc_fe;

/* ---- helpers --------------------------------------------------------------------- */

static void peer_str(const bconn *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "-");
    const struct sockaddr *sa = (const struct sockaddr *)&c->addr;
    if (c->addr_len == 0)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)cap);
}

/* Sends the write queue. false when the connection is gone. */
static bool flush(bconn *c)
{
    while (c->wq_off < c->wq.len) {
        ssize_t n = send(c->fd, c->wq.data + c->wq_off, c->wq.len - c->wq_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->wq_off += (size_t)n;
            c->last_io = skiff__now_ns();
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        c->peer_gone = true;
        return false;
    }
    c->wq_off = 0;
    c->wq.len = 0;
    if (c->wq.cap > ((size_t)4 << 20))
        skiff__buf_free(&c->wq);
    if (c->phase == BP_CLOSING) {
        /* The last answer is out: shut our side and read until the client
         * stops, so unread input does not reset the answer away. */
        shutdown(c->fd, SHUT_WR);
        c->phase = BP_LINGERING;
        c->linger_since = skiff__now_ns();
    }
    return true;
}

static void send_bytes(bconn *c, const char *p, size_t n)
{
    if (!skiff__buf_append(&c->wq, p, n)) {
        c->peer_gone = true; /* no memory for the answer: drop the connection */
        return;
    }
    flush(c);
}

/* The RpcResponseMeta error_code of a status code: 404 for what is not
 * there (Paddle's "Not found service"), else Paddle's err_no. */
static int32_t rpc_error_code(skiff_code_t code)
{
    return code == SKIFF_CODE_NOT_FOUND ? 404 : skiff__code_paddle_errno(code);
}

/* Writes an answer frame: the payload in c->out on success, the error
 * otherwise. Keeps the books. */
static void write_answer(bconn *c, skiff_code_t code, const char *msg)
{
    skiff__server *s = c->t->s;
    skiff__buf_reset(&c->frame);
    int32_t ec = code == SKIFF_CODE_OK ? 0 : rpc_error_code(code);
    skiff_status_t *st = skiff__brpc_encode_response(c->corr, ec, msg, c->compress, c->out.data,
                                                     c->out.len, &c->frame);
    if (st) {
        skiff_log(SKIFF_LOG_ERROR, "brpc: log_id=%" PRIu64 " correlation_id=%" PRId64 ": %s",
                  c->log_id, c->corr, skiff_status_message(st));
        ec = skiff__code_paddle_errno(SKIFF_CODE_INTERNAL);
        code = SKIFF_CODE_INTERNAL;
        skiff__buf_reset(&c->frame);
        skiff_status_t *st2 = skiff__brpc_encode_response(c->corr, ec, skiff_status_message(st), 0,
                                                          NULL, 0, &c->frame);
        skiff_status_free(st);
        if (st2) {
            skiff_status_free(st2);
            c->peer_gone = true;
            return;
        }
    }
    atomic_fetch_add_explicit(&s->rpc_answers[code == SKIFF_CODE_OK ? 0 : 1], 1,
                              memory_order_relaxed);
    if (code != SKIFF_CODE_OK) {
        char peer[64];
        peer_str(c, peer, sizeof(peer));
        skiff_log(code == SKIFF_CODE_INTERNAL ? SKIFF_LOG_ERROR : SKIFF_LOG_WARN,
                  "log_id=%" PRIu64 " %s brpc correlation_id=%" PRId64 " -> %d %s: %s", c->log_id,
                  peer, c->corr, ec, skiff_code_name(code), msg);
    }
    if (s->cfg->access_log) {
        char peer[64];
        peer_str(c, peer, sizeof(peer));
        skiff_log(SKIFF_LOG_INFO,
                  "access %s brpc %s correlation_id=%" PRId64 " %d %zu %.3fms log_id=%" PRIu64,
                  peer, c->model_name ? c->model_name : "-", c->corr, ec, c->frame.len,
                  (double)(skiff__now_ns() - c->t0) / 1e6, c->log_id);
    }
    send_bytes(c, c->frame.data, c->frame.len);
    if (c->frame.cap > ((size_t)1 << 20))
        skiff__buf_free(&c->frame);
}

static void call_end(bconn *c)
{
    skiff__server *s = c->t->s;
    skiff__infer_finish(&c->call);
    if (c->active)
        atomic_fetch_sub(&s->in_flight, 1);
    c->active = false;
    c->busy = false;
    if (c->payload.cap > ((size_t)1 << 20))
        skiff__buf_free(&c->payload);
    if (c->out.cap > ((size_t)1 << 20))
        skiff__buf_free(&c->out);
}

/* An error answer the front end finds itself (routing, limits, payload). */
static void reject(bconn *c, skiff_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reject(bconn *c, skiff_code_t code, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    skiff__buf_reset(&c->out);
    write_answer(c, code, msg);
}

/* ---- requests ------------------------------------------------------------------------ */

static void job_done(void *user);

/* The service name picks the model: the service itself (the first model)
 * or "<service>/<model>". NULL with *why set when it names nothing. */
static skiff__served *route(bconn *c, const skiff__brpc_meta *m, char *why, size_t cap)
{
    skiff__repo *r = &c->t->s->repo;
    size_t n = sizeof(service_name) - 1;
    const char *sv = m->service;
    const char *model = m->model;
    size_t model_len = model ? strlen(model) : 0;
    if (strncmp(sv, service_name, n) != 0 || (sv[n] != '\0' && sv[n] != '/')) {
        snprintf(why, cap, "Not found service: %.160s", sv);
        return NULL;
    }
    if (sv[n] == '/') {
        model = sv + n + 1;
        model_len = strlen(model);
    }
    if (strcmp(m->method, "inference") != 0 && strcmp(m->method, "debug") != 0) {
        snprintf(why, cap, "Not found method: %.64s in service %.160s (inference and debug are)",
                 m->method, service_name);
        return NULL;
    }
    if ((!model || !model_len) && r->n == 0) {
        snprintf(why, cap, "no model is served here (only a pipeline)");
        return NULL;
    }
    if (!model || !model_len)
        return &r->models[0];
    skiff__served *sm = skiff__repo_find(r, model, model_len);
    if (!sm) {
        char names[256] = "";
        size_t off = 0;
        for (int i = 0; i < r->n && off < sizeof(names); i++)
            off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", i ? ", " : "",
                                    r->models[i].d->name);
        snprintf(why, cap, "Not found model: '%.*s' (served: %s)",
                 (int)(model_len > 128 ? 128 : model_len), model, names);
    }
    return sm;
}

/* A whole frame: body_size bytes at body, the meta first. */
static void handle_frame(bconn *c, const char *body, size_t body_size, size_t meta_size)
{
    skiff__server *s = c->t->s;
    skiff__brpc_meta m;
    skiff_status_t *st = skiff__brpc_meta_decode(body, meta_size, &m);
    if (st) {
        char peer[64];
        peer_str(c, peer, sizeof(peer));
        skiff_log(SKIFF_LOG_WARN, "brpc %s: %s; closing the connection", peer,
                  skiff_status_message(st));
        skiff_status_free(st);
        atomic_fetch_add(&s->rpc_broken, 1);
        c->peer_gone = true;
        return;
    }
    if (atomic_load_explicit(&s->draining, memory_order_relaxed)) {
        /* A call that came after SIGTERM is neither run nor answered: the
         * connection closes, and a client that lost its connection before the
         * answer sends the call again on a new one (Paddle's client and
         * skiff's do), which a load balancer gives to another replica. An
         * error answer would end the call there instead. */
        skiff__brpc_meta_free(&m);
        c->phase = BP_CLOSING;
        return;
    }
    c->t0 = skiff__now_ns();
    c->corr = m.correlation_id;
    c->compress = m.compress_type == SKIFF__BRPC_GZIP ? SKIFF__BRPC_GZIP : 0;
    c->log_id = m.log_id > 0 ? (uint64_t)m.log_id : atomic_fetch_add(&s->log_seq, 1) + 1;
    c->model_name = NULL;
    atomic_fetch_add(&s->in_flight, 1);
    c->active = true;
    char why[512];
    skiff__served *sm = NULL;
    if (!m.has_request) {
        reject(c, SKIFF_CODE_INVALID_ARG, "the RpcMeta carries no request meta (field 1)");
    } else if (!(sm = route(c, &m, why, sizeof(why)))) {
        reject(c, SKIFF_CODE_NOT_FOUND, "%s", why);
    } else {
        c->model_name = sm->d->name;
        skiff__buf_reset(&c->payload);
        st =
            skiff__brpc_payload(body, body_size, meta_size, &m, s->cfg->max_body_size, &c->payload);
        if (st) {
            reject(c, skiff_status_code(st), "%s", skiff_status_message(st));
            skiff_status_free(st);
        } else {
            int gen = skiff__paddle_rpc_generation(c->payload.data ? c->payload.data : "",
                                                   c->payload.len);
            char tmo[24];
            if (m.timeout_ms > 0)
                snprintf(tmo, sizeof(tmo), "%d", (int)m.timeout_ms);
            skiff__infer_args a = {.api =
                                       gen == 4 ? SKIFF__API_PADDLE04_RPC : SKIFF__API_PADDLE09_RPC,
                                   .model = sm,
                                   .timeout_ms = m.timeout_ms > 0 ? tmo : NULL,
                                   .t0 = c->t0,
                                   .log_id = c->log_id};
            skiff__buf_reset(&c->out);
            if (!skiff__infer_start(s, &c->call, &a, &c->payload, job_done, c, &c->out)) {
                c->busy = true;
                skiff__brpc_meta_free(&m);
                return;
            }
            c->log_id = c->call.log_id;
            write_answer(c, c->call.res.code, c->call.res.msg);
        }
    }
    skiff__brpc_meta_free(&m);
    call_end(c);
}

/* A body over --max_body_size: answered (with the correlation_id when the
 * meta is in and readable), then the connection closes. false while the
 * meta is still arriving. */
static bool refuse_oversize(bconn *c, const char *p, size_t avail, uint32_t body_size,
                            uint32_t meta_size)
{
    skiff__server *s = c->t->s;
    c->corr = 0;
    if (meta_size <= META_PEEK_MAX) {
        if (avail < SKIFF__BRPC_HEAD + meta_size)
            return false;
        skiff__brpc_meta m;
        skiff_status_t *st = skiff__brpc_meta_decode(p + SKIFF__BRPC_HEAD, meta_size, &m);
        if (!st)
            c->corr = m.correlation_id;
        skiff_status_free(st);
        skiff__brpc_meta_free(&m);
    }
    c->compress = 0;
    c->t0 = skiff__now_ns();
    c->log_id = atomic_fetch_add(&s->log_seq, 1) + 1;
    c->model_name = NULL;
    c->phase = BP_CLOSING;
    reject(c, SKIFF_CODE_INVALID_ARG,
           "the frame's body of %" PRIu32 " bytes is over --max_body_size %lld", body_size,
           (long long)s->cfg->max_body_size);
    return true;
}

/* Cuts and handles the frames in the input, one at a time. */
static void parse_input(bconn *c)
{
    skiff__server *s = c->t->s;
    while (c->phase == BP_OPEN && !c->busy && !c->peer_gone) {
        size_t avail = c->in.len - c->in_off;
        if (avail == 0) {
            c->frame_since = 0;
            break;
        }
        if (c->wq.len - c->wq_off > PIPELINE_MAX)
            break; /* the client is not reading its answers */
        const char *p = c->in.data + c->in_off;
        uint32_t body_size = 0, meta_size = 0;
        skiff__brpc_head_result hr = skiff__brpc_head(p, avail, &body_size, &meta_size);
        if (hr == SKIFF__BRPC_HEAD_MAGIC || hr == SKIFF__BRPC_HEAD_META) {
            char peer[64];
            peer_str(c, peer, sizeof(peer));
            if (hr == SKIFF__BRPC_HEAD_MAGIC)
                skiff_log(SKIFF_LOG_WARN,
                          "brpc %s: bytes that are not a baidu_std frame (no "
                          "\"PRPC\"); closing the connection",
                          peer);
            else
                skiff_log(SKIFF_LOG_WARN,
                          "brpc %s: meta_size %" PRIu32 " is larger than body_size %" PRIu32
                          "; closing the connection",
                          peer, meta_size, body_size);
            atomic_fetch_add(&s->rpc_broken, 1);
            c->peer_gone = true;
            break;
        }
        if (!c->frame_since)
            c->frame_since = skiff__now_ns();
        if (hr == SKIFF__BRPC_HEAD_MORE)
            break;
        if ((int64_t)body_size > s->cfg->max_body_size) {
            refuse_oversize(c, p, avail, body_size, meta_size);
            break;
        }
        if (avail - SKIFF__BRPC_HEAD < body_size) {
            /* Room for the whole frame, so the next reads land in place. */
            if (!skiff__buf_reserve(&c->in, SKIFF__BRPC_HEAD + body_size - avail))
                c->peer_gone = true;
            break;
        }
        c->in_off += SKIFF__BRPC_HEAD + body_size;
        c->frame_since = 0;
        handle_frame(c, p + SKIFF__BRPC_HEAD, body_size, meta_size);
    }
    /* Keep only bytes not framed yet. */
    if (c->in_off == c->in.len) {
        c->in.len = 0;
        c->in_off = 0;
        if (c->in.cap > 4 * READ_STEP)
            skiff__buf_free(&c->in);
    } else if (c->in_off > 0 && !c->busy) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
}

static void conn_read(bconn *c, bool all_in)
{
    c->want_read = false;
    for (;;) {
        if (c->phase == BP_OPEN && (c->busy || c->wq.len - c->wq_off > PIPELINE_MAX)) {
            c->want_read = true;
            return;
        }
        char drain[4096];
        char *dst;
        size_t cap;
        if (c->phase == BP_OPEN) {
            if (!skiff__buf_reserve(&c->in, READ_STEP)) {
                c->peer_gone = true;
                return;
            }
            dst = c->in.data + c->in.len;
            cap = c->in.cap - c->in.len;
        } else {
            dst = drain;
            cap = sizeof(drain);
        }
        ssize_t n = recv(c->fd, dst, cap, 0);
        if (n > 0) {
            c->last_io = skiff__now_ns();
            if (c->phase != BP_OPEN)
                continue;
            c->in.len += (size_t)n;
            parse_input(c);
            if (c->peer_gone)
                return;
            if ((size_t)n < cap && !all_in)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0)
            c->peer_gone = true;
        else
            c->read_eof = true;
        return;
    }
}

/* ---- connections ------------------------------------------------------------------------ */

static void conn_close(bconn *c)
{
    biothr *t = c->t;
    if (c->closed)
        return;
    call_end(c);
    epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->closed = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = t->dead;
    t->dead = c;
    atomic_fetch_sub(&t->s->connections, 1);
}

static void conn_free(bconn *c)
{
    skiff__job_free(c->job);
    skiff__buf_free(&c->in);
    skiff__buf_free(&c->wq);
    skiff__buf_free(&c->payload);
    skiff__buf_free(&c->out);
    skiff__buf_free(&c->frame);
    skiff__free(c);
}

static void bury_dead(biothr *t)
{
    while (t->dead) {
        bconn *c = t->dead;
        t->dead = c->next;
        conn_free(c);
    }
}

/* After any event: close what is finished. A connection whose job waits
 * for an instance stays until the instance hands it back. */
static void conn_settle(bconn *c)
{
    if (c->closed || c->busy)
        return;
    if (c->read_eof && c->phase == BP_OPEN)
        c->phase = BP_CLOSING; /* every whole frame in is answered */
    /* Draining: a connection with no call in flight and no frame half read
     * closes now (its answers written first), so its client reconnects
     * elsewhere before it sends another call here. */
    if (c->phase == BP_OPEN && c->in.len == c->in_off &&
        atomic_load_explicit(&c->t->s->draining, memory_order_relaxed))
        c->phase = BP_CLOSING;
    if (c->phase == BP_CLOSING && c->wq.len == c->wq_off && !c->peer_gone)
        flush(c);
    if (c->phase == BP_LINGERING && c->read_eof)
        c->peer_gone = true;
    if (c->peer_gone)
        conn_close(c);
}

static void conn_new(biothr *t, const bpending *pf)
{
    skiff__server *s = t->s;
    bconn *c = skiff__calloc(1, sizeof(*c));
    if (!c) {
        close(pf->fd);
        atomic_fetch_sub(&s->connections, 1);
        return;
    }
    c->t = t;
    c->fd = pf->fd;
    c->addr = pf->addr;
    c->addr_len = pf->addr_len;
    c->last_io = skiff__now_ns();
    c->call.job_cache = &c->job;
    c->call.job_cache_model = &c->job_model;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        skiff__free(c);
        atomic_fetch_sub(&s->connections, 1);
        return;
    }
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    conn_read(c, false);
    conn_settle(c);
}

static void conn_resume(bconn *c)
{
    c->busy = false;
    if (!c->peer_gone) {
        skiff__infer_resume(&c->call, &c->out);
        c->log_id = c->call.log_id;
        write_answer(c, c->call.res.code, c->call.res.msg);
    }
    call_end(c);
    if (!c->peer_gone) {
        parse_input(c);
        if (c->want_read || c->read_eof)
            conn_read(c, c->read_eof);
    }
    conn_settle(c);
}

static void job_done(void *user)
{
    bconn *c = user;
    biothr *t = c->t;
    pthread_mutex_lock(&t->mu);
    c->resume_next = t->resume;
    t->resume = c;
    pthread_mutex_unlock(&t->mu);
    uint64_t one = 1;
    while (write(t->evfd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* ---- the I/O thread ---------------------------------------------------------------------- */

static void timers(biothr *t, uint64_t now)
{
    skiff__server *s = t->s;
    uint64_t req_limit = (uint64_t)s->cfg->request_timeout_s * 1000000000ull;
    uint64_t idle_limit = (uint64_t)s->cfg->idle_timeout_s * 1000000000ull;
    for (bconn *c = t->conns, *next; c; c = next) {
        next = c->next;
        if (c->busy)
            continue;
        if (c->phase == BP_LINGERING) {
            if (now - c->linger_since > LINGER_NS)
                c->peer_gone = true;
        } else if (c->frame_since && now - c->frame_since > req_limit) {
            char peer[64];
            peer_str(c, peer, sizeof(peer));
            skiff_log(SKIFF_LOG_WARN,
                      "brpc %s: a frame not received within --request_timeout_s %d; closing "
                      "the connection",
                      peer, s->cfg->request_timeout_s);
            atomic_fetch_add(&s->conn_cut_body, 1);
            c->peer_gone = true;
        } else if (now - c->last_io > idle_limit) {
            c->peer_gone = true;
        }
        conn_settle(c);
    }
}

static void take_handoffs(biothr *t)
{
    uint64_t v;
    while (read(t->evfd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&t->mu);
    bpending *adopt = t->adopt;
    bconn *resume = t->resume;
    t->adopt = NULL;
    t->resume = NULL;
    pthread_mutex_unlock(&t->mu);
    while (resume) {
        bconn *c = resume;
        resume = c->resume_next;
        conn_resume(c);
    }
    while (adopt) {
        bpending *pf = adopt;
        adopt = pf->next;
        conn_new(t, pf);
        skiff__free(pf);
    }
    if (atomic_load(&t->s->draining))
        for (bconn *c = t->conns, *next; c; c = next) {
            next = c->next;
            conn_settle(c); /* closes the idle ones (brpc_drain woke us) */
        }
}

static void *io_main(void *arg)
{
    biothr *t = arg;
    char name[16];
    snprintf(name, sizeof(name), "sk-brpc-%d", t->index);
    pthread_setname_np(pthread_self(), name);
    skiff__server *s = t->s;
    uint64_t period = (uint64_t)s->cfg->request_timeout_s * 1000000000ull / 8;
    if (period < 100000000ull)
        period = 100000000ull;
    if (period > 1000000000ull)
        period = 1000000000ull;
    uint64_t next_tick = skiff__now_ns() + period;
    for (;;) {
        struct epoll_event evs[64];
        uint64_t now = skiff__now_ns();
        int wait_ms = now >= next_tick ? 0 : (int)((next_tick - now) / 1000000ull) + 1;
        int n = epoll_wait(t->ep, evs, 64, wait_ms);
        pthread_mutex_lock(&t->mu);
        bool stop = t->stop;
        pthread_mutex_unlock(&t->mu);
        if (stop)
            break;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == t) {
                take_handoffs(t);
                continue;
            }
            bconn *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            if (c->closed)
                continue;
            if (e & EPOLLOUT) {
                flush(c);
                if (!c->busy && c->in.len > c->in_off)
                    parse_input(c); /* frames that waited for the client to read */
            }
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR) || c->want_read)
                conn_read(c, (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
            conn_settle(c);
        }
        now = skiff__now_ns();
        if (now >= next_tick) {
            timers(t, now);
            next_tick = now + period;
        }
        bury_dead(t);
    }
    while (t->conns)
        conn_close(t->conns);
    bury_dead(t);
    return NULL;
}

/* ---- the front end ---------------------------------------------------------------------- */

static void brpc_stop(skiff__server *s)
{
    brpc_fe *fe = s->fe[SKIFF__PROTO_BRPC];
    if (!fe)
        return;
    for (int i = 0; i < fe->n; i++) {
        biothr *t = &fe->t[i];
        if (t->started) {
            pthread_mutex_lock(&t->mu);
            t->stop = true;
            pthread_mutex_unlock(&t->mu);
            uint64_t one = 1;
            if (write(t->evfd, &one, sizeof(one)) < 0)
                skiff_log(SKIFF_LOG_WARN, "brpc: waking I/O thread %d failed", i);
            pthread_join(t->th, NULL);
        }
        while (t->adopt) {
            bpending *pf = t->adopt;
            t->adopt = pf->next;
            close(pf->fd);
            atomic_fetch_sub(&s->connections, 1);
            skiff__free(pf);
        }
        if (t->ep >= 0)
            close(t->ep);
        if (t->evfd >= 0)
            close(t->evfd);
        if (t->s)
            pthread_mutex_destroy(&t->mu);
    }
    skiff__free(fe->t);
    skiff__free(fe);
    s->fe[SKIFF__PROTO_BRPC] = NULL;
}

static skiff_status_t *brpc_start(skiff__server *s)
{
    brpc_fe *fe = skiff__calloc(1, sizeof(*fe));
    if (!fe)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    s->fe[SKIFF__PROTO_BRPC] = fe;
    fe->n = s->io_threads;
    fe->t = skiff__calloc((size_t)fe->n, sizeof(*fe->t));
    if (!fe->t) {
        fe->n = 0;
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (int i = 0; i < fe->n; i++) {
        fe->t[i].ep = -1;
        fe->t[i].evfd = -1;
    }
    for (int i = 0; i < fe->n; i++) {
        biothr *t = &fe->t[i];
        t->s = s;
        t->index = i;
        pthread_mutex_init(&t->mu, NULL);
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        t->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = t};
        if (t->ep < 0 || t->evfd < 0 || epoll_ctl(t->ep, EPOLL_CTL_ADD, t->evfd, &ev) != 0)
            return skiff_status_new(SKIFF_CODE_INTERNAL, "brpc I/O thread %d: %s", i,
                                    strerror(errno));
        if (pthread_create(&t->th, NULL, io_main, t) != 0)
            return skiff_status_new(SKIFF_CODE_INTERNAL, "cannot start brpc I/O thread %d", i);
        t->started = true;
    }
    return NULL;
}

static void brpc_adopt(skiff__server *s, int fd, const struct sockaddr *addr, socklen_t len)
{
    brpc_fe *fe = s->fe[SKIFF__PROTO_BRPC];
    if (atomic_fetch_add(&s->connections, 1) >= s->cfg->max_connections) {
        atomic_fetch_sub(&s->connections, 1);
        atomic_fetch_add(&s->conn_refused_limit, 1);
        close(fd);
        return;
    }
    bpending *pf = skiff__calloc(1, sizeof(*pf));
    if (!pf) {
        atomic_fetch_sub(&s->connections, 1);
        close(fd);
        return;
    }
    pf->fd = fd;
    if (addr && len <= sizeof(pf->addr)) {
        memcpy(&pf->addr, addr, len);
        pf->addr_len = len;
    }
    biothr *t =
        &fe->t[atomic_fetch_add_explicit(&fe->rr, 1, memory_order_relaxed) % (unsigned)fe->n];
    pthread_mutex_lock(&t->mu);
    pf->next = t->adopt;
    t->adopt = pf;
    pthread_mutex_unlock(&t->mu);
    uint64_t one = 1;
    while (write(t->evfd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* Wakes every I/O thread: connections with nothing in flight close at once;
 * the others close after their answer. */
static void brpc_drain(skiff__server *s)
{
    brpc_fe *fe = s->fe[SKIFF__PROTO_BRPC];
    for (int i = 0; fe && i < fe->n; i++) {
        uint64_t one = 1;
        if (fe->t[i].started && write(fe->t[i].evfd, &one, sizeof(one)) < 0)
            skiff_log(SKIFF_LOG_WARN, "brpc: waking I/O thread %d failed", i);
    }
}

static int64_t brpc_open_connections(const skiff__server *s)
{
    return atomic_load(&s->connections);
}

static void brpc_log_summary(const skiff__server *s)
{
    skiff_log(SKIFF_LOG_INFO,
              "  brpc baidu_std on the same port: %s.inference and .debug "
              "(Paddle Serving 0.3-0.6 and 0.9 clients)",
              service_name);
    if (s->repo.n > 1)
        skiff_log(SKIFF_LOG_INFO,
                  "    model: service \"%s/<model>\" or RpcMeta user_fields \"model\"; "
                  "default '%s'",
                  service_name, s->repo.models[0].d->name);
}

const skiff__frontend skiff__brpc_frontend = {
    .name = "brpc",
    .start = brpc_start,
    .adopt = brpc_adopt,
    .drain = brpc_drain,
    .stop = brpc_stop,
    .open_connections = brpc_open_connections,
    .log_summary = brpc_log_summary,
};
