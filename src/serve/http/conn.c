/* conn.c - the HTTP/1.1 transport: I/O threads, connections, framing, limits.
 *
 * The acceptor hands each HTTP connection to one of N I/O threads (round
 * robin). A thread runs an edge-triggered epoll loop over its connections;
 * nothing else touches them. Request framing is parsed by Debian's
 * http-parser (libhttp-parser, the parser Node.js used for years), which
 * refuses what RFC 9112 calls invalid framing: a Content-Length that is not
 * one decimal number, two Content-Length fields, Transfer-Encoding together
 * with Content-Length, bad chunk sizes. Everything around the parser is
 * skiff's, for reasons libmicrohttpd (used before) could not meet:
 * every error a client can cause, framing errors included, gets one
 * well-formed answer with the JSON error body of the route's API; a body that
 * is still arriving after --request_timeout_s gets 408; limits answer at once
 * and close the connection cleanly (a lingering close, so the answer is not
 * lost to a reset).
 *
 * A request is parsed, then handled (routes.c): answered on the spot, or its
 * job queued, in which case the connection stops reading until an instance
 * hands the request back through the thread's resume list (an eventfd wakes
 * the loop). Pipelined requests are answered in order, one at a time.
 * Answers go out with one writev; whatever the socket does not take is kept
 * in the connection's write queue and sent on EPOLLOUT.
 *
 * Timers run a few times per --request_timeout_s: a request whose head or
 * body is not complete --request_timeout_s after its first byte gets 408 and
 * the connection closes; an idle keep-alive connection closes after
 * --idle_timeout_s, and so does one whose client stopped reading answers.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "serve/http/http_int.h"

/* Request bodies up to this size leave their buffer to the connection's next
 * request, which then reads its body without a malloc. */
#define BODY_KEEP ((size_t)64 << 10)
/* Reads go into the connection's buffer in steps of this size. */
#define READ_STEP ((size_t)16 << 10)
/* A client that pipelines more than this ahead of its answers waits. */
#define PIPELINE_MAX ((size_t)1 << 20)
/* After a closing answer, unread input is drained this long before close. */
#define LINGER_NS 2000000000ull

struct iothr;

typedef enum conn_phase {
    CP_OPEN = 0,  /* reading and answering requests */
    CP_CLOSING,   /* answer queued; close once it is written */
    CP_LINGERING, /* answer written, write side shut: draining input */
} conn_phase;

typedef struct hconn {
    struct iothr *t;
    int fd;
    conn_phase phase;
    http_parser parser;
    skiff__buf in; /* bytes read and not yet parsed, from in_off */
    size_t in_off;
    skiff__buf wq; /* bytes of answers the socket has not taken, from wq_off */
    size_t wq_off;
    skiff__buf out;  /* body of the current answer */
    skiff__buf keep; /* a small body buffer kept for the next request */
    hreq req;
    skiff__job *job; /* kept between requests (infer.c) */
    skiff__served *job_model;
    bool want_read;   /* input may be waiting that was not read (ET) */
    bool read_eof;    /* the client sent FIN: answer what is in, then close */
    bool peer_gone;   /* reset or unusable: close as soon as no job points here */
    bool closed;      /* closed; freed once the current event batch is done */
    uint64_t last_io; /* last byte read or written */
    uint64_t linger_since;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct hconn *prev, *next; /* the thread's connections */
    struct hconn *resume_next; /* the thread's resume list */
} hconn;

typedef struct pending_fd {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct pending_fd *next;
} pending_fd;

typedef struct iothr {
    skiff__server *s;
    int index;
    pthread_t th;
    bool started;
    int ep;
    int evfd;
    pthread_mutex_t mu; /* guards adopt, resume, stop */
    pending_fd *adopt;
    hconn *resume;
    bool stop;
    hconn *conns;
    hconn *dead; /* closed in this event batch: freed after it */
    time_t date_sec;
    char date[40];
} iothr;

typedef struct http1 {
    iothr *t;
    int n;
    _Atomic unsigned rr;
} http1;

static http_parser_settings settings;

/* ---- small helpers ----------------------------------------------------------- */

static void peer_str(const hconn *c, char *buf, size_t cap)
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

/* The Date header's value (RFC 9110 6.6.1), formatted once a second. */
static const char *date_now(iothr *t)
{
    time_t now = time(NULL);
    if (now != t->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(t->date, sizeof(t->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        t->date_sec = now;
    }
    return t->date;
}

static const struct {
    const char *name;
    size_t len;
} known_names[HK_COUNT] = {
#define K(id, str) [id] = {str, sizeof(str) - 1}
    K(HK_HOST, "Host"),
    K(HK_CONTENT_LENGTH, "Content-Length"),
    K(HK_TRANSFER_ENCODING, "Transfer-Encoding"),
    K(HK_EXPECT, "Expect"),
    K(HK_CONTENT_TYPE, "Content-Type"),
    K(HK_CONTENT_ENCODING, "Content-Encoding"),
    K(HK_INFERENCE_HEADER_CONTENT_LENGTH, "Inference-Header-Content-Length"),
    K(HK_X_REQUEST_TIMEOUT_MS, "X-Request-Timeout-Ms"),
    K(HK_X_LOG_ID, "X-Log-Id"),
    K(HK_LOG_ID, "log_id"),
    K(HK_ACCEPT, "Accept"),
    K(HK_IF_NONE_MATCH, "If-None-Match"),
#undef K
};

/* One pass over the headers: the ones skiff reads, by enum. */
static void index_headers(hreq *h)
{
    for (int i = 0; i < h->n_hdr; i++) {
        const hheader *x = &h->hdr[i];
        for (int k = 0; k < HK_COUNT; k++) {
            if (x->name_len == known_names[k].len && !h->known[k] &&
                !strcasecmp(h->head.data + x->name, known_names[k].name)) {
                h->known[k] = h->head.data + x->value;
                break;
            }
        }
    }
}

static bool parse_u64(const char *s, uint64_t *out)
{
    int64_t v;
    if (!s || !skiff__parse_i64(s, &v) || v < 0)
        return false;
    *out = (uint64_t)v;
    return true;
}

/* ---- writing ------------------------------------------------------------------ */

static void conn_close(hconn *c);

/* Sends what the write queue holds. false when the connection is gone. */
static bool flush(hconn *c)
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
    if (c->phase == CP_CLOSING) {
        /* The answer is out; the client may still be sending (a refused
         * body): shut our side and read until it stops, so that closing with
         * unread input does not reset the connection before the client has
         * read the answer. */
        shutdown(c->fd, SHUT_WR);
        c->phase = CP_LINGERING;
        c->linger_since = skiff__now_ns();
    }
    return true;
}

/* Writes head + body now, keeping what the socket does not take. */
static void send_answer(hconn *c, const char *head, size_t hlen, const char *body, size_t blen)
{
    size_t done = 0;
    if (c->wq.len == c->wq_off) {
        struct iovec iov[2] = {{(void *)head, hlen}, {(void *)body, blen}};
        for (;;) {
            ssize_t n = writev(c->fd, iov, blen ? 2 : 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0) {
                done = (size_t)n;
                c->last_io = skiff__now_ns();
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                c->peer_gone = true;
                return;
            }
            break;
        }
    }
    bool ok = true;
    if (done < hlen)
        ok = skiff__buf_append(&c->wq, head + done, hlen - done);
    size_t bdone = done > hlen ? done - hlen : 0;
    if (ok && bdone < blen)
        ok = skiff__buf_append(&c->wq, body + bdone, blen - bdone);
    if (!ok) {
        c->peer_gone = true; /* no memory to hold the answer: drop the connection */
        return;
    }
    if (c->wq.len > c->wq_off)
        flush(c);
    else if (c->phase == CP_CLOSING)
        flush(c); /* nothing left to send: go on to the lingering close */
}

skiff__buf *skiff__http_out(hreq *h)
{
    hconn *c = h->c;
    if (c->out.cap > ((size_t)1 << 20))
        skiff__buf_free(&c->out); /* do not pin a huge answer's memory to the connection */
    skiff__buf_reset(&c->out);
    return &c->out;
}

void skiff__http_answer(hreq *h, const skiff__infer_result *res, const char *extra,
                        const char *data, size_t len)
{
    hconn *c = h->c;
    skiff__server *s = h->s;
    int status = res->status;
    bool keep = c->phase == CP_OPEN && h->head_done && http_should_keep_alive(&c->parser) &&
                !atomic_load_explicit(&s->draining, memory_order_relaxed) && h->state != HR_HEAD &&
                h->state != HR_BODY;
    if (!keep && c->phase == CP_OPEN)
        c->phase = CP_CLOSING;
    /* The head, written with copies (snprintf took a visible share of a
     * small request's CPU). Every piece is bounded: 1024 bytes always fit
     * (the status page's security headers are the longest extra). */
    char head[1024];
    skiff__head_w w = {head, head + sizeof(head) - 1};
    char num[24];
    skiff__hw_lit(&w, "HTTP/1.1 ");
    skiff__hw_put(&w, num, skiff__u64_dec(num, (uint64_t)status));
    skiff__hw_lit(&w, " ");
    skiff__hw_lit(&w, skiff__http_reason(status));
    skiff__hw_lit(&w, "\r\nDate: ");
    skiff__hw_lit(&w, date_now(c->t));
    skiff__hw_lit(&w, "\r\n");
    /* 204 and 304 carry no body (RFC 9110 15.3.5, 15.4.5) */
    bool no_body = status == 204 || status == 304;
    if (!no_body && res->ctype) {
        skiff__hw_lit(&w, "Content-Type: ");
        skiff__hw_lit(&w, res->ctype);
        skiff__hw_lit(&w, "\r\n");
    }
    if (!no_body) {
        skiff__hw_lit(&w, "Content-Length: ");
        skiff__hw_put(&w, num, skiff__u64_dec(num, len));
        skiff__hw_lit(&w, "\r\n");
    }
    if (res->json_len) {
        skiff__hw_lit(&w, "Inference-Header-Content-Length: ");
        skiff__hw_put(&w, num, skiff__u64_dec(num, res->json_len));
        skiff__hw_lit(&w, "\r\n");
    }
    if (res->retry_after)
        skiff__hw_lit(&w, "Retry-After: 1\r\n");
    if (extra)
        skiff__hw_lit(&w, extra);
    if (!keep)
        skiff__hw_lit(&w, "Connection: close\r\n");
    else if (c->parser.http_major == 1 && c->parser.http_minor == 0)
        skiff__hw_lit(&w, "Connection: keep-alive\r\n");
    skiff__hw_lit(&w, "\r\n");
    size_t n = (size_t)(w.p - head);
    if (no_body || h->is_head)
        len = 0;
    send_answer(c, head, n, data, len);

    h->status = status;
    h->resp_bytes = len;
    int cls = status / 100;
    if (cls >= 1 && cls <= 5)
        atomic_fetch_add_explicit(&s->http_status[cls], 1, memory_order_relaxed);
    if (!h->sm && !h->call.sm && status == 404)
        atomic_fetch_add_explicit(&s->unrouted, 1, memory_order_relaxed);
    if (status >= 400 && res->msg[0]) {
        char peer[64];
        peer_str(c, peer, sizeof(peer));
        skiff_log(status >= 500 ? SKIFF_LOG_ERROR : SKIFF_LOG_WARN,
                  "log_id=%llu %s %s %s -> %d %s: %s", (unsigned long long)h->log_id, peer,
                  h->method ? h->method : "-", h->path ? h->path : "-", status,
                  skiff_code_name(res->code), res->msg);
    }
}

/* ---- requests ----------------------------------------------------------------- */

static void req_begin(hconn *c)
{
    hreq *h = &c->req;
    skiff__buf head = h->head, body = c->keep;
    skiff__infer_call call = h->call; /* keeps the job cache pointers */
    memset(h, 0, sizeof(*h));
    h->call = call;
    h->head = head;
    skiff__buf_reset(&h->head);
    h->body = body;
    c->keep = (skiff__buf){0};
    h->s = c->t->s;
    h->c = c;
    h->state = HR_HEAD;
    h->t0 = skiff__now_ns();
    h->content_length = -1;
}

/* The request is over (answered, or its connection gone). */
static void req_end(hconn *c)
{
    hreq *h = &c->req;
    skiff__server *s = h->s;
    if (h->state == HR_IDLE)
        return;
    if (s->cfg->access_log && h->head_done) {
        char peer[64];
        peer_str(c, peer, sizeof(peer));
        skiff_log(SKIFF_LOG_INFO, "access %s \"%s %s\" %d %zu %.3fms log_id=%llu%s", peer,
                  h->method, h->path, h->status, h->resp_bytes,
                  (double)(skiff__now_ns() - h->t0) / 1e6, (unsigned long long)h->log_id,
                  h->status ? "" : " (connection failed)");
    }
    skiff__infer_finish(&h->call);
    if (!c->keep.data && h->body.cap > 0 && h->body.cap <= BODY_KEEP) {
        skiff__buf_reset(&h->body);
        c->keep = h->body;
    } else {
        skiff__buf_free(&h->body);
    }
    h->body = (skiff__buf){0};
    if (h->head.cap > ((size_t)16 << 10))
        skiff__buf_free(&h->head);
    if (h->in_flight)
        atomic_fetch_sub(&s->in_flight, 1);
    h->in_flight = false;
    h->state = HR_IDLE;
}

/* An error found by the transport itself: answered, and the connection
 * closes after it (the rest of the input cannot be trusted). */
static void fail(hconn *c, skiff_code_t code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(hconn *c, skiff_code_t code, int status, const char *fmt, ...)
{
    hreq *h = &c->req;
    if (h->state == HR_IDLE)
        req_begin(c);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->phase == CP_OPEN)
        c->phase = CP_CLOSING;
    skiff__http_error(h, code, status, NULL, "%s", msg);
    req_end(c);
}

/* ---- the parser's callbacks ----------------------------------------------------- */

/* Appends a fragment of a head token; a new token starts after a NUL. */
static int head_piece(hreq *h, int kind, bool new_token, const char *at, size_t len, uint32_t *off,
                      uint32_t *tlen)
{
    if (new_token) {
        if (h->last_cb && !skiff__buf_append(&h->head, "", 1))
            return -1;
        *off = (uint32_t)h->head.len;
        *tlen = 0;
    }
    h->last_cb = kind;
    if ((int64_t)(h->head.len + len) > h->s->cfg->max_header_size + 64)
        return -2;
    if (!skiff__buf_append(&h->head, at, len))
        return -1;
    *tlen += (uint32_t)len;
    return 0;
}

static int head_error(http_parser *p, int rc)
{
    hconn *c = p->data;
    if (rc == -1)
        fail(c, SKIFF_CODE_RESOURCE_EXHAUSTED, 503, "out of memory reading the request head");
    else
        fail(c, SKIFF_CODE_INVALID_ARG, 431,
             "request line and headers are larger than --max_header_size %d",
             c->t->s->cfg->max_header_size);
    return -1;
}

static int on_message_begin(http_parser *p)
{
    hconn *c = p->data;
    if (c->req.state == HR_IDLE)
        req_begin(c);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    hreq *h = &((hconn *)p->data)->req;
    int rc = head_piece(h, 1, h->last_cb != 1, at, len, &h->url_off, &h->url_len);
    return rc ? head_error(p, rc) : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    hreq *h = &((hconn *)p->data)->req;
    if (h->head_done)
        return 0; /* a chunked body's trailer: not used */
    if (h->last_cb != 2) {
        if (h->n_hdr == HTTP_MAX_HEADERS) {
            return head_error(p, -2);
        }
        h->n_hdr++;
    }
    hheader *x = &h->hdr[h->n_hdr - 1];
    int rc = head_piece(h, 2, h->last_cb != 2, at, len, &x->name, &x->name_len);
    return rc ? head_error(p, rc) : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    hreq *h = &((hconn *)p->data)->req;
    if (h->head_done)
        return 0;
    hheader *x = &h->hdr[h->n_hdr - 1];
    int rc = head_piece(h, 3, h->last_cb != 3, at, len, &x->value, &x->value_len);
    return rc ? head_error(p, rc) : 0;
}

/* The head is in: check it, route it, and refuse early what will not fit. */
static int on_headers_complete(http_parser *p)
{
    hconn *c = p->data;
    hreq *h = &c->req;
    skiff__server *s = h->s;
    if (h->last_cb == 2) /* a field without a value */
        h->hdr[h->n_hdr - 1].value = (uint32_t)h->head.len;
    if (!skiff__buf_append(&h->head, "", 1) || !skiff__buf_append(&h->head, "", 1)) {
        fail(c, SKIFF_CODE_RESOURCE_EXHAUSTED, 503, "out of memory reading the request head");
        return -1;
    }
    h->head_done = true;
    index_headers(h);
    h->state = HR_BODY;
    h->in_flight = true;
    atomic_fetch_add(&s->in_flight, 1);
    h->method = http_method_str((enum http_method)p->method);
    h->is_head = p->method == HTTP_HEAD;
    char *url = h->head.data + h->url_off;
    char *q = strchr(url, '?');
    if (q) {
        *q = '\0';
        h->query = q + 1;
    } else {
        h->query = "";
    }
    skiff__http_unescape(url);
    h->path = url;
    uint64_t lid;
    const char *lh = skiff__http_known(h, HK_X_LOG_ID);
    if (!lh)
        lh = skiff__http_known(h, HK_LOG_ID);
    h->log_id = parse_u64(lh, &lid) ? lid : atomic_fetch_add(&s->log_seq, 1) + 1;
    skiff__http_route(h);
    if (h->head.len > (size_t)s->cfg->max_header_size) {
        fail(c, SKIFF_CODE_INVALID_ARG, 431,
             "request line and headers of %zu bytes are larger than --max_header_size %d",
             h->head.len, s->cfg->max_header_size);
        return -1;
    }
    /* RFC 9112 3.2: an HTTP/1.1 request without Host gets 400. */
    if (p->http_major == 1 && p->http_minor == 1 && !skiff__http_known(h, HK_HOST)) {
        fail(c, SKIFF_CODE_INVALID_ARG, 400, "HTTP/1.1 request without a Host header");
        return -1;
    }
    if (p->http_major != 1) {
        fail(c, SKIFF_CODE_UNSUPPORTED, 505, "HTTP/%u.%u is not supported (use HTTP/1.1)",
             p->http_major, p->http_minor);
        return -1;
    }
    if (skiff__http_known(h, HK_CONTENT_LENGTH) && skiff__http_known(h, HK_TRANSFER_ENCODING)) {
        /* RFC 9112 6.1: such a message may be smuggling; answer and close. */
        fail(c, SKIFF_CODE_INVALID_ARG, 400,
             "request has both Transfer-Encoding and Content-Length (RFC 9112 6.1)");
        return -1;
    }
    if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX)
        h->content_length = (int64_t)p->content_length;
    if (h->content_length > s->cfg->max_body_size) {
        fail(c, SKIFF_CODE_INVALID_ARG, 413,
             "request body of %lld bytes is larger than --max_body_size %lld",
             (long long)h->content_length, (long long)s->cfg->max_body_size);
        return -1;
    }
    if (h->content_length > 0 && !skiff__buf_reserve(&h->body, (size_t)h->content_length)) {
        fail(c, SKIFF_CODE_RESOURCE_EXHAUSTED, 503,
             "out of memory for a request body of %lld bytes", (long long)h->content_length);
        return -1;
    }
    const char *expect = skiff__http_known(h, HK_EXPECT);
    if (expect && p->http_minor >= 1 && !strcasecmp(expect, "100-continue") &&
        (h->content_length > 0 || (p->flags & F_CHUNKED))) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        send_answer(c, cont, sizeof(cont) - 1, NULL, 0);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    hconn *c = p->data;
    hreq *h = &c->req;
    int64_t max = h->s->cfg->max_body_size;
    if ((int64_t)(h->body.len + len) > max) {
        fail(c, SKIFF_CODE_INVALID_ARG, 413, "request body is larger than --max_body_size %lld",
             (long long)max);
        return -1;
    }
    if (!skiff__buf_append(&h->body, at, len)) {
        fail(c, SKIFF_CODE_RESOURCE_EXHAUSTED, 503, "out of memory reading the request body");
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    hconn *c = p->data;
    c->req.state = HR_HANDLING;
    http_parser_pause(p, 1); /* handled outside the parser */
    return 0;
}

/* ---- reading and parsing ---------------------------------------------------------- */

/* A request the parser refused: one 400 naming the rule it broke, in the
 * error format of the route when the request line got that far. */
static void framing_error(hconn *c, enum http_errno e)
{
    hreq *h = &c->req;
    if (h->state == HR_IDLE)
        req_begin(c);
    if (!h->head_done && h->last_cb >= 2 && h->head.len > h->url_off) {
        /* The request line is in: route it for the error format (and logs). */
        h->method = http_method_str((enum http_method)c->parser.method);
        h->path = h->head.data + h->url_off;
        char *q = strchr(h->path, '?');
        if (q)
            *q = '\0';
        skiff__http_route(h);
    }
    bool te = false;
    for (int i = 0; i < h->n_hdr; i++)
        te = te || !strcasecmp(h->head.data + h->hdr[i].name, "Transfer-Encoding");
    switch (e) {
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        if (te)
            fail(c, SKIFF_CODE_INVALID_ARG, 400,
                 "request has both Transfer-Encoding and Content-Length (RFC 9112 6.1)");
        else
            fail(c, SKIFF_CODE_INVALID_ARG, 400,
                 "request has more than one Content-Length (RFC 9112 6.3)");
        return;
    case HPE_INVALID_CONTENT_LENGTH:
        fail(c, SKIFF_CODE_INVALID_ARG, 400,
             "Content-Length is not one decimal number of bytes (RFC 9112 6.3)");
        return;
    case HPE_INVALID_VERSION:
        fail(c, SKIFF_CODE_INVALID_ARG, 400, "malformed HTTP version in the request line");
        return;
    default:
        fail(c, SKIFF_CODE_INVALID_ARG, 400, "malformed HTTP/1.1 request: %s",
             http_errno_description(e));
        return;
    }
}

/* A request is complete: answer it (or queue it). */
static void dispatch(hconn *c)
{
    hreq *h = &c->req;
    skiff__http_handle(h);
    if (h->state == HR_QUEUED)
        return;
    req_end(c);
}

/* Parses what is buffered, answering complete requests in turn, until the
 * input runs out, a request is queued, or the connection is closing. */
static void parse_input(hconn *c)
{
    while (c->phase == CP_OPEN && c->req.state != HR_QUEUED && !c->peer_gone) {
        if (c->wq.len - c->wq_off > PIPELINE_MAX)
            break; /* the client is not reading its answers: wait */
        size_t avail = c->in.len - c->in_off;
        if (avail == 0)
            break;
        size_t n = http_parser_execute(&c->parser, &settings, c->in.data + c->in_off, avail);
        c->in_off += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            dispatch(c);
            continue;
        }
        if (e != HPE_OK) {
            if (c->phase == CP_OPEN) /* not answered by a callback already */
                framing_error(c, e);
            break;
        }
        if (n < avail)
            break;
    }
    /* Keep only unparsed bytes. */
    if (c->in_off == c->in.len) {
        c->in.len = 0;
        c->in_off = 0;
        if (c->in.cap > 4 * READ_STEP)
            skiff__buf_free(&c->in);
    } else if (c->in_off > 0) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
}

/* Reads until the socket is empty (the loop is edge-triggered), parsing as
 * it goes. A read that did not fill the buffer emptied the socket: Linux
 * signals every later arrival as a new edge, so the call that would only
 * say EAGAIN is skipped (one system call less per request), unless the peer
 * closed (all_in: read to the end to see the FIN). */
static void conn_read(hconn *c, bool all_in)
{
    c->want_read = false;
    for (;;) {
        bool busy = c->req.state == HR_QUEUED || c->wq.len - c->wq_off > PIPELINE_MAX;
        if (c->phase == CP_OPEN && (busy || c->in.len > PIPELINE_MAX)) {
            c->want_read = true; /* read again once the request is answered */
            return;
        }
        char *dst;
        char drain[4096];
        size_t cap;
        if (c->phase == CP_OPEN) {
            if (!skiff__buf_reserve(&c->in, READ_STEP)) {
                c->peer_gone = true;
                return;
            }
            dst = c->in.data + c->in.len;
            cap = c->in.cap - c->in.len;
        } else {
            dst = drain; /* closing: input is read and dropped */
            cap = sizeof(drain);
        }
        ssize_t n = recv(c->fd, dst, cap, 0);
        if (n > 0) {
            c->last_io = skiff__now_ns();
            if (c->phase != CP_OPEN)
                continue;
            c->in.len += (size_t)n;
            parse_input(c);
            if ((size_t)n < cap && !all_in)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->want_read = false;
            return;
        }
        c->want_read = false;
        if (n < 0) {
            c->peer_gone = true;
            return;
        }
        /* FIN: nothing more will come. A request still in its head or body
         * never completes; one that is complete is still answered (a client
         * may half-close after sending). */
        c->read_eof = true;
        if (c->phase == CP_OPEN && c->req.state != HR_QUEUED) {
            http_parser_execute(&c->parser, &settings, NULL, 0);
            enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
            if (e == HPE_PAUSED) {
                http_parser_pause(&c->parser, 0);
                dispatch(c);
            } else if (e != HPE_OK && (c->req.state == HR_HEAD || c->req.state == HR_BODY)) {
                fail(c, SKIFF_CODE_INVALID_ARG, 400,
                     "the connection was half-closed before the request %s was complete",
                     c->req.state == HR_HEAD ? "head" : "body");
            }
        }
        return;
    }
}

/* ---- connections --------------------------------------------------------------- */

/* Closes the socket now; the memory is freed after the current event batch,
 * which may still hold an event for this connection. */
static void conn_close(hconn *c)
{
    iothr *t = c->t;
    if (c->closed)
        return;
    req_end(c);
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

static void conn_free(hconn *c)
{
    skiff__job_free(c->job);
    skiff__buf_free(&c->in);
    skiff__buf_free(&c->wq);
    skiff__buf_free(&c->out);
    skiff__buf_free(&c->keep);
    skiff__buf_free(&c->req.head);
    skiff__buf_free(&c->req.body);
    skiff__free(c);
}

static void bury_dead(iothr *t)
{
    while (t->dead) {
        hconn *c = t->dead;
        t->dead = c->next;
        conn_free(c);
    }
}

/* After any event: close what is finished. A connection whose request waits
 * for an instance stays until the instance hands it back. */
static void conn_settle(hconn *c)
{
    if (c->closed || c->req.state == HR_QUEUED)
        return;
    if (c->read_eof && c->phase == CP_OPEN && c->req.state == HR_IDLE)
        c->phase = CP_CLOSING;
    if (c->phase == CP_CLOSING && c->wq.len == c->wq_off && !c->peer_gone)
        flush(c); /* moves on to lingering */
    if (c->phase == CP_LINGERING && c->read_eof)
        c->peer_gone = true;
    if (c->peer_gone)
        conn_close(c);
}

static void conn_new(iothr *t, const pending_fd *pf)
{
    skiff__server *s = t->s;
    hconn *c = skiff__calloc(1, sizeof(*c));
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
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->req.call.job_cache = &c->job;
    c->req.call.job_cache_model = &c->job_model;
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
    c->want_read = true;
    conn_read(c, false);
    conn_settle(c);
}

/* A queued request's job is done: answer it, then go on with the input. */
static void conn_resume(hconn *c)
{
    hreq *h = &c->req;
    h->state = HR_HANDLING;
    if (c->peer_gone) {
        req_end(c); /* counted as cancelled by infer.c */
    } else {
        skiff__http_resumed(h);
        req_end(c);
        parse_input(c);
        if (c->want_read)
            conn_read(c, false);
    }
    conn_settle(c);
}

void skiff__http_job_done(void *user)
{
    hreq *h = user;
    hconn *c = h->c;
    iothr *t = c->t;
    pthread_mutex_lock(&t->mu);
    c->resume_next = t->resume;
    t->resume = c;
    pthread_mutex_unlock(&t->mu);
    uint64_t one = 1;
    while (write(t->evfd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* ---- the I/O thread -------------------------------------------------------------- */

static void timers(iothr *t, uint64_t now)
{
    skiff__server *s = t->s;
    uint64_t req_limit = (uint64_t)s->cfg->request_timeout_s * 1000000000ull;
    uint64_t idle_limit = (uint64_t)s->cfg->idle_timeout_s * 1000000000ull;
    for (hconn *c = t->conns, *next; c; c = next) {
        next = c->next;
        hreq *h = &c->req;
        if (c->phase == CP_LINGERING) {
            if (now - c->linger_since > LINGER_NS)
                c->peer_gone = true;
        } else if (h->state == HR_HEAD || h->state == HR_BODY) {
            if (now - h->t0 > req_limit && c->phase == CP_OPEN) {
                bool body = h->state == HR_BODY;
                atomic_fetch_add(body ? &s->conn_cut_body : &s->conn_cut_head, 1);
                fail(c, SKIFF_CODE_DEADLINE_EXCEEDED, 408,
                     "request %s not received within --request_timeout_s %d",
                     body ? "body" : "head", s->cfg->request_timeout_s);
            }
        } else if (h->state == HR_IDLE) {
            bool stuck = c->wq.len > c->wq_off && now - c->last_io > idle_limit;
            bool idle = c->wq.len == c->wq_off && c->in.len == 0;
            if (stuck || (idle && now - c->last_io > idle_limit))
                c->peer_gone = true;
        }
        conn_settle(c);
    }
}

static void take_handoffs(iothr *t)
{
    uint64_t v;
    while (read(t->evfd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&t->mu);
    pending_fd *adopt = t->adopt;
    hconn *resume = t->resume;
    t->adopt = NULL;
    t->resume = NULL;
    pthread_mutex_unlock(&t->mu);
    while (resume) {
        hconn *c = resume;
        resume = c->resume_next;
        conn_resume(c);
    }
    while (adopt) {
        pending_fd *pf = adopt;
        adopt = pf->next;
        conn_new(t, pf);
        skiff__free(pf);
    }
}

static void *io_main(void *arg)
{
    iothr *t = arg;
    char name[16];
    snprintf(name, sizeof(name), "sk-http-%d", t->index);
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
        bool stop;
        pthread_mutex_lock(&t->mu);
        stop = t->stop;
        pthread_mutex_unlock(&t->mu);
        if (stop)
            break;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == t) {
                take_handoffs(t);
                continue;
            }
            hconn *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            if (c->closed)
                continue; /* closed by an earlier event of this batch */
            if (e & EPOLLOUT) {
                flush(c);
                if (c->in.len > c->in_off && c->req.state == HR_IDLE)
                    parse_input(c); /* pipelined requests waited for the answers */
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

/* ---- the front end ------------------------------------------------------------- */

static void h1_stop(skiff__server *s)
{
    http1 *fe = s->fe[SKIFF__PROTO_HTTP1];
    if (!fe)
        return;
    for (int i = 0; i < fe->n; i++) {
        iothr *t = &fe->t[i];
        if (t->started) {
            pthread_mutex_lock(&t->mu);
            t->stop = true;
            pthread_mutex_unlock(&t->mu);
            uint64_t one = 1;
            if (write(t->evfd, &one, sizeof(one)) < 0)
                skiff_log(SKIFF_LOG_WARN, "http: waking I/O thread %d failed", i);
            pthread_join(t->th, NULL);
        }
        while (t->adopt) {
            pending_fd *pf = t->adopt;
            t->adopt = pf->next;
            close(pf->fd);
            skiff__free(pf);
        }
        if (t->ep >= 0)
            close(t->ep);
        if (t->evfd >= 0)
            close(t->evfd);
        if (t->s) /* its mutex was made */
            pthread_mutex_destroy(&t->mu);
    }
    skiff__free(fe->t);
    skiff__free(fe);
    s->fe[SKIFF__PROTO_HTTP1] = NULL;
}

static skiff_status_t *h1_start(skiff__server *s)
{
    settings = (http_parser_settings){.on_message_begin = on_message_begin,
                                      .on_url = on_url,
                                      .on_header_field = on_header_field,
                                      .on_header_value = on_header_value,
                                      .on_headers_complete = on_headers_complete,
                                      .on_body = on_body,
                                      .on_message_complete = on_message_complete};
    http1 *fe = skiff__calloc(1, sizeof(*fe));
    if (!fe)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    s->fe[SKIFF__PROTO_HTTP1] = fe;
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
        iothr *t = &fe->t[i];
        t->s = s;
        t->index = i;
        pthread_mutex_init(&t->mu, NULL);
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        t->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = t};
        if (t->ep < 0 || t->evfd < 0 || epoll_ctl(t->ep, EPOLL_CTL_ADD, t->evfd, &ev) != 0)
            return skiff_status_new(SKIFF_CODE_INTERNAL, "HTTP I/O thread %d: %s", i,
                                    strerror(errno));
        if (pthread_create(&t->th, NULL, io_main, t) != 0)
            return skiff_status_new(SKIFF_CODE_INTERNAL, "cannot start HTTP I/O thread %d", i);
        t->started = true;
    }
    return NULL;
}

static void h1_adopt(skiff__server *s, int fd, const struct sockaddr *addr, socklen_t len)
{
    http1 *fe = s->fe[SKIFF__PROTO_HTTP1];
    if (atomic_fetch_add(&s->connections, 1) >= s->cfg->max_connections) {
        atomic_fetch_sub(&s->connections, 1);
        atomic_fetch_add(&s->conn_refused_limit, 1);
        close(fd);
        return;
    }
    pending_fd *pf = skiff__calloc(1, sizeof(*pf));
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
    iothr *t =
        &fe->t[atomic_fetch_add_explicit(&fe->rr, 1, memory_order_relaxed) % (unsigned)fe->n];
    pthread_mutex_lock(&t->mu);
    pf->next = t->adopt;
    t->adopt = pf;
    pthread_mutex_unlock(&t->mu);
    uint64_t one = 1;
    while (write(t->evfd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* Open connections stay: a client's next request on one (already on its way,
 * perhaps) is answered, with 503 for inference and `Connection: close`, so no
 * request is lost to a close racing with it. */
static void h1_drain(skiff__server *s) { (void)s; }

static int64_t h1_open_connections(const skiff__server *s) { return atomic_load(&s->connections); }

const skiff__frontend skiff__http1_frontend = {
    .name = "HTTP/1.1",
    .start = h1_start,
    .adopt = h1_adopt,
    .drain = h1_drain,
    .stop = h1_stop,
    .open_connections = h1_open_connections,
    .log_summary = skiff__http_log_routes,
};
