/* grpc.c - the gRPC front end: KServe v2's inference.GRPCInferenceService,
 * grpc.health.v1.Health and Paddle's GeneralModelService.inference on the
 * one port (docs/grpc.md).
 *
 * The acceptor hands a connection that starts with the HTTP/2 preface to one
 * of N I/O threads (round robin), each an edge-triggered epoll loop as in
 * the brpc front end. HTTP/2 itself is nghttp2's: each connection has an
 * nghttp2 server session fed with the bytes read (nghttp2_session_mem_recv)
 * and drained into the socket (nghttp2_session_mem_send). On top of it this
 * file does gRPC: a request's headers (:path, content-type, te, grpc-timeout,
 * grpc-encoding), its one length-prefixed message, and the answer as
 * headers, one length-prefixed message and trailers (grpc-status,
 * grpc-message percent-encoded), or trailers only for an error.
 *
 * Streams of a connection are independent: ModelInfer goes through the
 * shared inference path (infer.c) with its own call per stream, so many
 * calls of one connection wait for instances at once; a queued job's
 * completion comes back through the thread's resume list.
 *
 * Drain (SIGTERM), HTTP/2's graceful shutdown: every connection gets a
 * GOAWAY with the largest stream id (a notice: start no new calls here) and
 * a PING; when the PING comes back, the peer has seen the notice, and the
 * final GOAWAY (the last stream id taken) follows. Calls that arrive before
 * the final GOAWAY are served, since a proxy cannot resend a call it has
 * already sent (nginx's grpc_pass does not buffer the request body); calls in
 * flight finish; the connection closes when it has none. Health/Check answers
 * NOT_SERVING and ServerReady false meanwhile. The drain hook waits (at most
 * NOTICE_NS) until every connection has sent its final GOAWAY, so the process
 * does not exit under a call that came in the notice's round trip.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
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
#include "grpc_health.pb-c.h"
#include "grpc_service.pb-c.h"
#include "serve/infer.h"
#include "serve/serve_int.h"
#include "skiff/skiff.h"

#define READ_STEP ((size_t)64 << 10)
/* Answers the client has not read past this: stop reading its requests. */
#define PENDING_MAX ((size_t)4 << 20)
#define LINGER_NS 2000000000ull
/* Drain: longest wait for the PING after the GOAWAY notice to come back. */
#define NOTICE_NS 1000000000ull
#define MAX_STREAMS 256

static const char kserve_service[] = "inference.GRPCInferenceService";
static const char health_service[] = "grpc.health.v1.Health";
static const char paddle_service[] =
    "baidu.paddle_serving.predictor.general_model.GeneralModelService";
static const char pipeline_service[] = "baidu.paddle_serving.pipeline_serving.PipelineService";

typedef enum gmethod {
    GM_NONE = 0,
    GM_LIVE,
    GM_READY,
    GM_MODEL_READY,
    GM_SERVER_META,
    GM_MODEL_META,
    GM_INFER,
    GM_CONFIG,
    GM_STATS,
    GM_HEALTH,
    GM_PADDLE,
    GM_PIPELINE,
} gmethod;

static const struct {
    const char *service;
    const char *method;
    gmethod m;
} methods[] = {
    {kserve_service, "ServerLive", GM_LIVE},
    {kserve_service, "ServerReady", GM_READY},
    {kserve_service, "ModelReady", GM_MODEL_READY},
    {kserve_service, "ServerMetadata", GM_SERVER_META},
    {kserve_service, "ModelMetadata", GM_MODEL_META},
    {kserve_service, "ModelInfer", GM_INFER},
    {kserve_service, "ModelConfig", GM_CONFIG},
    {kserve_service, "ModelStatistics", GM_STATS},
    {health_service, "Check", GM_HEALTH},
    {paddle_service, "inference", GM_PADDLE},
    {paddle_service, "debug", GM_PADDLE},
    {pipeline_service, "inference", GM_PIPELINE},
};

struct giothr;
struct gconn;

typedef struct gstream {
    struct gconn *c;
    int32_t id;
    char path[256];
    char ctype[96];
    char timeout[24];
    char encoding[32];
    char model[160];
    bool post, has_path, has_ctype, te_ok, has_timeout, has_encoding, accept_gzip, has_model;
    bool path_long;
    skiff__buf body;   /* DATA as received: the length-prefixed message */
    skiff__buf msg;    /* the message inflated, when it came compressed */
    const char *mdata; /* the message: in body (after its prefix) or msg */
    size_t mlen;
    bool answered; /* a response was submitted (or the stream ended) */
    bool busy;     /* its job waits for an instance */
    bool gone;     /* the stream closed while busy */
    bool active;   /* counted in s->in_flight */
    bool gzip_out;
    gmethod method;
    const char *model_name;
    skiff__infer_call call;
    skiff__buf out;   /* the answer, after 5 bytes left for its prefix */
    skiff__buf gz;    /* scratch for gzip-compressing the answer */
    size_t resp_off;  /* bytes of out handed to DATA frames */
    size_t resp_sent; /* of those, bytes queued for the socket */
    bool pinned;      /* out is referenced by the connection's send queue */
    uint64_t t0, log_id;
    struct gstream *prev, *next, *resume_next;
} gstream;

typedef struct gseg {
    const char *p; /* NULL: bytes of wq from off */
    size_t off, len;
} gseg;

typedef struct gconn {
    struct giothr *t;
    int fd;
    nghttp2_session *h2;
    /* The send queue: segments written in order, each either bytes of wq
     * (nghttp2's frames, copied) or a span of a stream's answer (DATA
     * payloads, referenced, not copied). */
    skiff__buf wq;
    struct gseg *segs;
    int n_segs, cap_segs, seg_i; /* segments; the first not yet fully sent */
    size_t seg_off;              /* bytes of segs[seg_i] sent */
    size_t q_bytes;              /* bytes queued and not yet sent */
    char **retired;              /* answers of freed streams still referenced */
    int n_retired, cap_retired;
    gstream *streams;
    int busy; /* streams whose job waits for an instance */
    bool goaway, read_eof, peer_gone, closed, deleting;
    bool notice, notice_acked; /* drain: GOAWAY notice + PING sent; PING back */
    uint64_t last_io, goaway_since, notice_since;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct gconn *prev, *next;
} gconn;

typedef struct gpending {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct gpending *next;
} gpending;

typedef struct giothr {
    skiff__server *s;
    int index;
    pthread_t th;
    bool started;
    int ep, evfd;
    pthread_mutex_t mu; /* guards adopt, resume, stop */
    gpending *adopt;
    gstream *resume;
    bool stop;
    gconn *conns;
    gconn *dead;
    bool drain_swept; /* this thread's connections got the drain's notice */
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    char rbuf[READ_STEP]; /* what recv reads, handed to nghttp2 */
} giothr;

typedef struct grpc_fe {
    giothr *t;
    int n;
    _Atomic unsigned rr;
    _Atomic int notices; /* drain: connections with a notice and no final GOAWAY yet */
    _Atomic int swept;   /* drain: I/O threads that have sent their notices */
} grpc_fe;

/* ---- helpers --------------------------------------------------------------------- */

static void peer_str(const gconn *c, char *buf, size_t cap)
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

/* Copies a header value into dst (cap bytes); false when it does not fit. */
static bool copy_hdr(char *dst, size_t cap, const uint8_t *v, size_t n)
{
    if (n >= cap) {
        memcpy(dst, v, cap - 1);
        dst[cap - 1] = '\0';
        return false;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
    return true;
}

static bool hdr_is(const uint8_t *name, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(name, lit, n) == 0;
}

/* grpc-message: percent-encoded, every byte outside 0x20..0x7e and '%'. */
static void pct_encode(const char *msg, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p && o + 4 < cap; p++) {
        if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

/* grpc-timeout "<1-8 digits><H|M|S|m|u|n>" as milliseconds (at least 1).
 * false when it is not that. */
static bool parse_timeout(const char *v, int64_t *ms)
{
    size_t n = strlen(v);
    if (n < 2 || n > 9)
        return false;
    int64_t x = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (!isdigit((unsigned char)v[i]))
            return false;
        x = x * 10 + (v[i] - '0');
    }
    int64_t ns_per;
    switch (v[n - 1]) {
    case 'H': ns_per = 3600000000000ll; break;
    case 'M': ns_per = 60000000000ll; break;
    case 'S': ns_per = 1000000000ll; break;
    case 'm': ns_per = 1000000ll; break;
    case 'u': ns_per = 1000ll; break;
    case 'n': ns_per = 1ll; break;
    default: return false;
    }
    /* Hours of 8 digits overflow nanoseconds: count in milliseconds. */
    int64_t r;
    if (ns_per >= 1000000ll)
        r = x * (ns_per / 1000000ll);
    else
        r = (x * ns_per + 999999) / 1000000;
    if (r > (int64_t)1 << 40)
        r = (int64_t)1 << 40;
    *ms = r < 1 ? 1 : r;
    return true;
}

/* ---- writing ---------------------------------------------------------------------- */

/* Bytes queued before a send (several answers of one connection go out in
 * one sendmsg). */
#define FLUSH_BATCH ((size_t)1 << 20)
#define IOV_BATCH 64

/* Appends a segment; owned bytes are copied into wq. */
static bool q_add(gconn *c, const char *p, const void *owned, size_t len)
{
    if (!len)
        return true;
    if (!p && c->n_segs > 0 && !c->segs[c->n_segs - 1].p &&
        c->segs[c->n_segs - 1].off + c->segs[c->n_segs - 1].len == c->wq.len) {
        if (!skiff__buf_append(&c->wq, owned, len))
            return false;
        c->segs[c->n_segs - 1].len += len;
        c->q_bytes += len;
        return true;
    }
    if (c->n_segs == c->cap_segs) {
        int cap = c->cap_segs ? c->cap_segs * 2 : 16;
        gseg *g = skiff__realloc(c->segs, sizeof(*g) * (size_t)cap);
        if (!g)
            return false;
        c->segs = g;
        c->cap_segs = cap;
    }
    gseg *g = &c->segs[c->n_segs];
    if (p) {
        *g = (gseg){.p = p, .len = len};
    } else {
        *g = (gseg){.off = c->wq.len, .len = len};
        if (!skiff__buf_append(&c->wq, owned, len))
            return false;
    }
    c->n_segs++;
    c->q_bytes += len;
    return true;
}

/* Everything queued is written: the queue and the answers it kept alive go. */
static void q_clear(gconn *c)
{
    c->n_segs = c->seg_i = 0;
    c->seg_off = c->q_bytes = 0;
    c->wq.len = 0;
    if (c->wq.cap > ((size_t)4 << 20))
        skiff__buf_free(&c->wq);
    for (int i = 0; i < c->n_retired; i++)
        skiff__free(c->retired[i]);
    c->n_retired = 0;
    for (gstream *st = c->streams; st; st = st->next)
        st->pinned = false;
}

/* Writes the queue into the socket. false when the peer is gone; true when
 * all is written or the socket is full. */
static bool q_write(gconn *c)
{
    if (c->n_segs == 0)
        return true;
    while (c->seg_i < c->n_segs) {
        struct iovec iov[IOV_BATCH];
        int k = 0;
        for (int i = c->seg_i; i < c->n_segs && k < IOV_BATCH; i++, k++) {
            const gseg *g = &c->segs[i];
            const char *base = g->p ? g->p : c->wq.data + g->off;
            size_t skip = i == c->seg_i ? c->seg_off : 0;
            iov[k] = (struct iovec){.iov_base = (void *)(base + skip), .iov_len = g->len - skip};
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)k};
        ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            c->peer_gone = true;
            return false;
        }
        c->last_io = skiff__now_ns();
        size_t left = (size_t)n;
        c->q_bytes -= left;
        while (left > 0) {
            size_t rest = c->segs[c->seg_i].len - c->seg_off;
            if (left < rest) {
                c->seg_off += left;
                break;
            }
            left -= rest;
            c->seg_i++;
            c->seg_off = 0;
        }
    }
    q_clear(c);
    return true;
}

/* Moves nghttp2's output into the socket. false when the connection is gone. */
static bool conn_flush(gconn *c)
{
    for (;;) {
        if (!q_write(c))
            return false;
        if (c->seg_i < c->n_segs || !c->h2)
            return true; /* the socket is full, or nothing more can come */
        /* Everything nghttp2 has ready (an answer's HEADERS, DATA and
         * trailers; several streams' answers) goes out in one sendmsg, up to
         * FLUSH_BATCH bytes at a time. DATA payloads are not copied: the
         * send-data callback queues a reference to the answer. */
        for (;;) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->h2, &data);
            if (n < 0) {
                c->peer_gone = true;
                return false;
            }
            if (n == 0)
                break;
            if (!q_add(c, NULL, data, (size_t)n)) {
                c->peer_gone = true;
                return false;
            }
            if (c->q_bytes >= FLUSH_BATCH)
                break;
        }
        if (c->n_segs == 0)
            return true;
    }
}

static ssize_t data_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *user)
{
    gstream *st = src->ptr;
    size_t left = st->out.len - st->resp_off;
    size_t n = left < len ? left : len;
    st->resp_off += n;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (st->resp_off == st->out.len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv tr[] = {{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE}};
        if (nghttp2_submit_trailer(h2, id, tr, 1) != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return (ssize_t)n;
}

/* A DATA frame of an answer: its header copied, its payload referenced. */
static int send_data(nghttp2_session *h2, nghttp2_frame *f, const uint8_t *framehd, size_t length,
                     nghttp2_data_source *src, void *user)
{
    gconn *c = user;
    gstream *st = src->ptr;
    static const char zeros[256];
    size_t pad = f->data.padlen;
    uint8_t padlen = pad ? (uint8_t)(pad - 1) : 0;
    if (length > st->out.len - st->resp_sent || !q_add(c, NULL, framehd, 9) ||
        (pad && !q_add(c, NULL, &padlen, 1)) ||
        !q_add(c, st->out.data + st->resp_sent, NULL, length) ||
        (pad > 1 && !q_add(c, NULL, zeros, pad - 1)))
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->resp_sent += length;
    st->pinned = true;
    return 0;
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE             \
    }

static void count_answer(gstream *st, skiff_code_t code, const char *msg)
{
    skiff__server *s = st->c->t->s;
    atomic_fetch_add_explicit(&s->grpc_answers[code == SKIFF_CODE_OK ? 0 : 1], 1,
                              memory_order_relaxed);
    if (code != SKIFF_CODE_OK) {
        char peer[64];
        peer_str(st->c, peer, sizeof(peer));
        skiff_log(code == SKIFF_CODE_INTERNAL ? SKIFF_LOG_ERROR : SKIFF_LOG_WARN,
                  "log_id=%" PRIu64 " %s gRPC %s -> %d %s: %s", st->log_id, peer,
                  st->has_path ? st->path : "-", skiff_code_grpc_status(code),
                  skiff_code_name(code), msg);
    }
    if (s->cfg->access_log) {
        char peer[64];
        peer_str(st->c, peer, sizeof(peer));
        skiff_log(SKIFF_LOG_INFO, "access %s grpc %s %s %d %zu %.3fms log_id=%" PRIu64, peer,
                  st->has_path ? st->path : "-", st->model_name ? st->model_name : "-",
                  skiff_code_grpc_status(code), st->out.len,
                  (double)(skiff__now_ns() - st->t0) / 1e6, st->log_id);
    }
}

/* An error: trailers only (HTTP status http_status, normally 200). */
static void answer_error_http(gstream *st, skiff_code_t code, const char *http_status,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void answer_error_http(gstream *st, skiff_code_t code, const char *http_status,
                              const char *fmt, ...)
{
    if (st->answered || st->gone)
        return;
    st->answered = true;
    char msg[1024], enc[3072], gs[16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    count_answer(st, code, msg);
    pct_encode(msg, enc, sizeof(enc));
    snprintf(gs, sizeof(gs), "%d", skiff_code_grpc_status(code));
    nghttp2_nv nv[] = {NV(":status", http_status), NV("content-type", "application/grpc"),
                       NV("grpc-status", gs), NV("grpc-message", enc),
                       NV("grpc-accept-encoding", "identity,gzip")};
    if (nghttp2_submit_response(st->c->h2, st->id, nv, sizeof(nv) / sizeof(nv[0]), NULL) != 0)
        nghttp2_submit_rst_stream(st->c->h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

#define answer_error(st, code, ...) answer_error_http(st, code, "200", __VA_ARGS__)

/* The message in st->out after its 5 reserved bytes, length-prefixed there
 * (gzip-compressed when the call's request was), then grpc-status 0. */
static void answer_ok(gstream *st)
{
    if (st->answered || st->gone)
        return;
    if (st->out.len < 5) {
        answer_error(st, SKIFF_CODE_INTERNAL, "the answer lacks its message prefix");
        return;
    }
    st->resp_off = st->resp_sent = 0;
    uint8_t head[5] = {0};
    if (st->gzip_out) {
        skiff__buf_reset(&st->gz);
        skiff_status_t *gst = NULL;
        if (!skiff__buf_append(&st->gz, head, 5) ||
            (gst = skiff__brpc_gzip(st->out.data + 5, st->out.len - 5, &st->gz))) {
            skiff_status_free(gst);
            answer_error(st, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory writing the answer");
            return;
        }
        skiff__buf t = st->out;
        st->out = st->gz;
        st->gz = t;
        head[0] = 1;
    }
    size_t mlen = st->out.len - 5;
    head[1] = (uint8_t)(mlen >> 24);
    head[2] = (uint8_t)(mlen >> 16);
    head[3] = (uint8_t)(mlen >> 8);
    head[4] = (uint8_t)mlen;
    memcpy(st->out.data, head, 5);
    st->answered = true;
    count_answer(st, SKIFF_CODE_OK, "");
    nghttp2_nv gz[] = {NV(":status", "200"), NV("content-type", "application/grpc"),
                       NV("grpc-accept-encoding", "identity,gzip"), NV("grpc-encoding", "gzip")};
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = data_read};
    if (nghttp2_submit_response(st->c->h2, st->id, gz, st->gzip_out ? 4 : 3, &dp) != 0)
        nghttp2_submit_rst_stream(st->c->h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

/* Packs a protobuf-c message into st->out and answers it. */
static void answer_pb(gstream *st, const ProtobufCMessage *m)
{
    skiff__buf_reset(&st->out);
    size_t n = protobuf_c_message_get_packed_size(m);
    if (!skiff__buf_reserve(&st->out, n + 5)) {
        answer_error(st, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory writing the answer");
        return;
    }
    st->out.len = 5 + protobuf_c_message_pack(m, (uint8_t *)st->out.data + 5);
    answer_ok(st);
}

/* ---- streams ------------------------------------------------------------------------- */

static void stream_free(gstream *st)
{
    gconn *c = st->c;
    if (st->prev)
        st->prev->next = st->next;
    else if (c->streams == st)
        c->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    skiff__buf_free(&st->body);
    skiff__buf_free(&st->msg);
    skiff__buf_free(&st->gz);
    if (st->pinned && c->seg_i < c->n_segs) {
        /* the send queue still points into the answer: freed once written */
        if (c->n_retired == c->cap_retired) {
            int cap = c->cap_retired ? c->cap_retired * 2 : 8;
            char **r = skiff__realloc(c->retired, sizeof(*r) * (size_t)cap);
            if (!r) {
                /* cannot keep it: the queued bytes would dangle */
                c->peer_gone = true;
                c->n_segs = c->seg_i = 0;
                c->q_bytes = 0;
            } else {
                c->retired = r;
                c->cap_retired = cap;
            }
        }
        if (c->n_retired < c->cap_retired) {
            c->retired[c->n_retired++] = st->out.data;
            st->out = (skiff__buf){0};
        }
    }
    skiff__buf_free(&st->out);
    skiff__free(st);
}

/* The end of an inference call: the books. */
static void call_end(gstream *st)
{
    skiff__server *s = st->c->t->s;
    skiff__infer_finish(&st->call);
    if (st->active)
        atomic_fetch_sub(&s->in_flight, 1);
    st->active = false;
}

static void infer_done(void *user);

static skiff__served *model_named(gstream *st, const char *name, size_t len)
{
    skiff__repo *r = &st->c->t->s->repo;
    skiff__served *sm = skiff__repo_find(r, name, len);
    if (!sm) {
        char names[256] = "";
        size_t off = 0;
        for (int i = 0; i < r->n && off < sizeof(names); i++)
            off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", i ? ", " : "",
                                    r->models[i].d->name);
        answer_error(st, SKIFF_CODE_NOT_FOUND, "unknown model '%.*s' (served: %s)",
                     (int)(len > 128 ? 128 : len), name, names);
    }
    return sm;
}

/* A top-level length-delimited field of a protobuf message (the first
 * one), without decoding the rest. false when absent or unreadable. */
static bool pb_peek_bytes(const uint8_t *p, size_t n, uint32_t field, const uint8_t **out,
                          size_t *out_len)
{
    size_t i = 0;
    while (i < n) {
        uint64_t key = 0;
        int sh = 0;
        while (i < n && sh < 64) {
            key |= (uint64_t)(p[i] & 0x7f) << sh;
            sh += 7;
            if (!(p[i++] & 0x80))
                break;
        }
        uint32_t wt = (uint32_t)(key & 7);
        uint64_t len = 0;
        switch (wt) {
        case 0:
            while (i < n && (p[i++] & 0x80))
                ;
            continue;
        case 1: len = 8; break;
        case 5: len = 4; break;
        case 2:
            sh = 0;
            while (i < n && sh < 64) {
                len |= (uint64_t)(p[i] & 0x7f) << sh;
                sh += 7;
                if (!(p[i++] & 0x80))
                    break;
            }
            if ((key >> 3) == field && len <= n - i) {
                *out = p + i;
                *out_len = (size_t)len;
                return true;
            }
            break;
        default: return false;
        }
        if (len > n - i)
            return false;
        i += (size_t)len;
    }
    return false;
}

static void run_infer(gstream *st, skiff__api api, skiff__served *sm)
{
    skiff__server *s = st->c->t->s;
    st->model_name = sm ? sm->d->name : s->pipe ? skiff__pipeline_name(s->pipe) : "-";
    char tmo[24];
    int64_t ms = 0;
    if (st->has_timeout)
        parse_timeout(st->timeout, &ms);
    if (ms > 0)
        snprintf(tmo, sizeof(tmo), "%" PRId64, ms);
    skiff__infer_args a = {.api = api,
                           .model = sm,
                           .timeout_ms = ms > 0 ? tmo : NULL,
                           .t0 = st->t0,
                           .log_id = st->log_id,
                           .out_head = 5};
    skiff__buf_reset(&st->out);
    atomic_fetch_add(&s->in_flight, 1);
    st->active = true;
    skiff__buf view = {.data = (char *)st->mdata, .len = st->mlen};
    bool answered = skiff__infer_start(s, &st->call, &a, &view, infer_done, st, &st->out);
    /* decoded: the request's bytes are not needed any more */
    skiff__buf_free(&st->body);
    skiff__buf_free(&st->msg);
    st->mdata = NULL;
    st->mlen = 0;
    if (!answered) {
        st->busy = true;
        st->c->busy++;
        return;
    }
    st->log_id = st->call.log_id;
    if (st->call.res.code == SKIFF_CODE_OK || st->call.res.in_body)
        answer_ok(st);
    else
        answer_error(st, st->call.res.code, "%s", st->call.res.msg);
    call_end(st);
}

static void fill_tensor_meta(Inference__ModelMetadataResponse__TensorMetadata *tm,
                             const skiff__model_var *v, int64_t *shape)
{
    inference__model_metadata_response__tensor_metadata__init(tm);
    tm->name = v->alias;
    const char *dt = skiff_dtype_kserve_name(v->dtype);
    tm->datatype = (char *)(dt ? dt : "UNKNOWN");
    size_t k = 0;
    if (v->batched)
        shape[k++] = v->fixed_batch;
    for (int i = 0; i < v->ndim; i++)
        shape[k++] = v->dims[i];
    if (v->ndim < 0 && !v->batched)
        shape[k++] = -1;
    tm->n_shape = k;
    tm->shape = shape;
}

static void answer_model_meta(gstream *st, skiff__served *sm)
{
    const skiff__model_desc *d = sm->d;
    int n = d->n_feed + d->n_fetch;
    Inference__ModelMetadataResponse__TensorMetadata *tm =
        skiff__calloc((size_t)n + 1, sizeof(*tm));
    Inference__ModelMetadataResponse__TensorMetadata **tp =
        skiff__calloc((size_t)n + 1, sizeof(*tp));
    int64_t *shapes = skiff__calloc(((size_t)n + 1) * (SKIFF_MAX_DIMS + 1), sizeof(int64_t));
    if (!tm || !tp || !shapes) {
        answer_error(st, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        for (int i = 0; i < n; i++) {
            const skiff__model_var *v = i < d->n_feed ? &d->feed[i] : &d->fetch[i - d->n_feed];
            fill_tensor_meta(&tm[i], v, shapes + (size_t)i * (SKIFF_MAX_DIMS + 1));
            tp[i] = &tm[i];
        }
        Inference__ModelMetadataResponse r = INFERENCE__MODEL_METADATA_RESPONSE__INIT;
        char *versions[] = {"1"};
        r.name = (char *)d->name;
        r.n_versions = 1;
        r.versions = versions;
        r.platform = (char *)(d->platform ? d->platform : "skiff_onnx");
        r.n_inputs = (size_t)d->n_feed;
        r.inputs = tp;
        r.n_outputs = (size_t)d->n_fetch;
        r.outputs = tp + d->n_feed;
        answer_pb(st, &r.base);
    }
    skiff__free(tm);
    skiff__free(tp);
    skiff__free(shapes);
}

static Inference__DataType triton_type(skiff_dtype_t dt)
{
    switch (dt) {
    case SKIFF_DTYPE_BOOL: return INFERENCE__DATA_TYPE__TYPE_BOOL;
    case SKIFF_DTYPE_UINT8: return INFERENCE__DATA_TYPE__TYPE_UINT8;
    case SKIFF_DTYPE_UINT16: return INFERENCE__DATA_TYPE__TYPE_UINT16;
    case SKIFF_DTYPE_UINT32: return INFERENCE__DATA_TYPE__TYPE_UINT32;
    case SKIFF_DTYPE_UINT64: return INFERENCE__DATA_TYPE__TYPE_UINT64;
    case SKIFF_DTYPE_INT8: return INFERENCE__DATA_TYPE__TYPE_INT8;
    case SKIFF_DTYPE_INT16: return INFERENCE__DATA_TYPE__TYPE_INT16;
    case SKIFF_DTYPE_INT32: return INFERENCE__DATA_TYPE__TYPE_INT32;
    case SKIFF_DTYPE_INT64: return INFERENCE__DATA_TYPE__TYPE_INT64;
    case SKIFF_DTYPE_FLOAT16: return INFERENCE__DATA_TYPE__TYPE_FP16;
    case SKIFF_DTYPE_FLOAT32: return INFERENCE__DATA_TYPE__TYPE_FP32;
    case SKIFF_DTYPE_FLOAT64: return INFERENCE__DATA_TYPE__TYPE_FP64;
    case SKIFF_DTYPE_STRING: return INFERENCE__DATA_TYPE__TYPE_STRING;
    case SKIFF_DTYPE_BFLOAT16: return INFERENCE__DATA_TYPE__TYPE_BF16;
    default: return INFERENCE__DATA_TYPE__TYPE_INVALID;
    }
}

/* Triton's ModelConfig, the part perf_analyzer reads (as GET .../config). */
static void answer_model_config(gstream *st, skiff__served *sm)
{
    const skiff__model_desc *d = sm->d;
    bool batched = d->mergeable;
    int n = d->n_feed + d->n_fetch;
    Inference__ModelInput *in = skiff__calloc((size_t)d->n_feed + 1, sizeof(*in));
    Inference__ModelInput **inp = skiff__calloc((size_t)d->n_feed + 1, sizeof(*inp));
    Inference__ModelOutput *ou = skiff__calloc((size_t)d->n_fetch + 1, sizeof(*ou));
    Inference__ModelOutput **oup = skiff__calloc((size_t)d->n_fetch + 1, sizeof(*oup));
    int64_t *dims = skiff__calloc(((size_t)n + 1) * (SKIFF_MAX_DIMS + 1), sizeof(int64_t));
    if (!in || !inp || !ou || !oup || !dims) {
        answer_error(st, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const skiff__model_var *v = i < d->n_feed ? &d->feed[i] : &d->fetch[i - d->n_feed];
        int64_t *dv = dims + (size_t)i * (SKIFF_MAX_DIMS + 1);
        size_t k = 0;
        if (!batched && v->batched)
            dv[k++] = v->fixed_batch;
        for (int j = 0; j < v->ndim; j++)
            dv[k++] = v->dims[j];
        if (v->ndim < 0 && batched)
            k = 0;
        else if (v->ndim < 0)
            dv[k++] = -1;
        if (i < d->n_feed) {
            inference__model_input__init(&in[i]);
            in[i].name = v->alias;
            in[i].data_type = triton_type(v->dtype);
            in[i].n_dims = k;
            in[i].dims = dv;
            in[i].allow_ragged_batch = v->is_lod;
            inp[i] = &in[i];
        } else {
            int j = i - d->n_feed;
            inference__model_output__init(&ou[j]);
            ou[j].name = v->alias;
            ou[j].data_type = triton_type(v->dtype);
            ou[j].n_dims = k;
            ou[j].dims = dv;
            oup[j] = &ou[j];
        }
    }
    Inference__ModelDynamicBatching db = INFERENCE__MODEL_DYNAMIC_BATCHING__INIT;
    db.max_queue_delay_microseconds = (uint64_t)d->max_queue_delay_us;
    Inference__ModelConfig cfg = INFERENCE__MODEL_CONFIG__INIT;
    cfg.name = (char *)d->name;
    cfg.platform = (char *)(d->platform ? d->platform : "skiff_onnx");
    cfg.backend = "skiff";
    cfg.max_batch_size = batched ? d->max_batch : 0;
    cfg.n_input = (size_t)d->n_feed;
    cfg.input = inp;
    cfg.n_output = (size_t)d->n_fetch;
    cfg.output = oup;
    cfg.dynamic_batching = batched ? &db : NULL;
    Inference__ModelConfigResponse r = INFERENCE__MODEL_CONFIG_RESPONSE__INIT;
    r.config = &cfg;
    answer_pb(st, &r.base);
done:
    skiff__free(in);
    skiff__free(inp);
    skiff__free(ou);
    skiff__free(oup);
    skiff__free(dims);
}

static void answer_model_stats(gstream *st, skiff__served *sm)
{
    skiff__model_stats *ms = sm->sv->ops->stats(sm->sv);
#define L(x) atomic_load_explicit(&ms->x, memory_order_relaxed)
    uint64_t fail_n = skiff__stats_failures(ms);
    Inference__StatisticDuration d[6];
    for (int i = 0; i < 6; i++)
        inference__statistic_duration__init(&d[i]);
    d[0].count = L(req_by_code[SKIFF_CODE_OK]);
    d[0].ns = L(success_ns);
    d[1].count = fail_n;
    d[1].ns = L(fail_ns);
    d[2].count = L(queue_count);
    d[2].ns = L(queue_ns);
    d[3].count = L(compute_count);
    d[4].count = L(compute_count);
    d[4].ns = L(compute_ns);
    d[5].count = L(compute_count);
    Inference__InferStatistics is = INFERENCE__INFER_STATISTICS__INIT;
    is.success = &d[0];
    is.fail = &d[1];
    is.queue = &d[2];
    is.compute_input = &d[3];
    is.compute_infer = &d[4];
    is.compute_output = &d[5];
    Inference__ModelStatistics m = INFERENCE__MODEL_STATISTICS__INIT;
    m.name = (char *)sm->d->name;
    m.version = "1";
    m.last_inference = L(last_inference_ms);
    m.inference_count = L(inference_count);
    m.execution_count = L(execution_count);
    m.inference_stats = &is;
#undef L
    Inference__ModelStatistics *mp[] = {&m};
    Inference__ModelStatisticsResponse r = INFERENCE__MODEL_STATISTICS_RESPONSE__INIT;
    r.n_model_stats = 1;
    r.model_stats = mp;
    answer_pb(st, &r.base);
}

/* The small methods: the request names at most a model (field 1). */
static void small_method(gstream *st)
{
    skiff__server *s = st->c->t->s;
    bool ready = atomic_load(&s->ready) && !atomic_load(&s->draining);
    const uint8_t *name = NULL;
    size_t name_len = 0;
    bool has_name = pb_peek_bytes((const uint8_t *)st->mdata, st->mlen, 1, &name, &name_len);
    switch (st->method) {
    case GM_LIVE: {
        Inference__ServerLiveResponse r = INFERENCE__SERVER_LIVE_RESPONSE__INIT;
        r.live = true;
        answer_pb(st, &r.base);
        return;
    }
    case GM_READY: {
        Inference__ServerReadyResponse r = INFERENCE__SERVER_READY_RESPONSE__INIT;
        r.ready = ready;
        answer_pb(st, &r.base);
        return;
    }
    case GM_SERVER_META: {
        Inference__ServerMetadataResponse r = INFERENCE__SERVER_METADATA_RESPONSE__INIT;
        char *ext[] = {"binary_tensor_data", "model_configuration", "statistics"};
        r.name = "skiff";
        r.version = SKIFF_VERSION;
        r.n_extensions = 3;
        r.extensions = ext;
        answer_pb(st, &r.base);
        return;
    }
    case GM_HEALTH: {
        Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        if (has_name && name_len > 0 && !skiff__repo_find(&s->repo, (const char *)name, name_len)) {
            answer_error(st, SKIFF_CODE_NOT_FOUND, "unknown service '%.*s' (\"\" or a model name)",
                         (int)(name_len > 128 ? 128 : name_len), (const char *)name);
            return;
        }
        r.status = ready ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                         : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
        answer_pb(st, &r.base);
        return;
    }
    default: break;
    }
    if (!has_name || name_len == 0) {
        answer_error(st, SKIFF_CODE_INVALID_ARG, "the request names no model (field name)");
        return;
    }
    skiff__served *sm = model_named(st, (const char *)name, name_len);
    if (!sm)
        return;
    st->model_name = sm->d->name;
    switch (st->method) {
    case GM_MODEL_READY: {
        Inference__ModelReadyResponse r = INFERENCE__MODEL_READY_RESPONSE__INIT;
        r.ready = ready;
        answer_pb(st, &r.base);
        return;
    }
    case GM_MODEL_META: answer_model_meta(st, sm); return;
    case GM_CONFIG: answer_model_config(st, sm); return;
    case GM_STATS: answer_model_stats(st, sm); return;
    default: answer_error(st, SKIFF_CODE_INTERNAL, "method not routed"); return;
    }
}

/* Finds the method of st->path; answers UNIMPLEMENTED when none. */
static bool route(gstream *st)
{
    const char *p = st->path;
    const char *slash = p[0] == '/' ? strchr(p + 1, '/') : NULL;
    if (!slash) {
        answer_error(st, SKIFF_CODE_UNSUPPORTED, "'%.200s' is not a /<service>/<method> path", p);
        return false;
    }
    size_t sl = (size_t)(slash - p - 1);
    bool known_service = false;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strlen(methods[i].service) != sl || memcmp(methods[i].service, p + 1, sl) != 0)
            continue;
        known_service = true;
        if (!strcmp(methods[i].method, slash + 1)) {
            st->method = methods[i].m;
            return true;
        }
    }
    if (known_service)
        answer_error(st, SKIFF_CODE_UNSUPPORTED, "unknown method '%.64s' of service %.*s",
                     slash + 1, (int)sl, p + 1);
    else
        answer_error(st, SKIFF_CODE_UNSUPPORTED, "unknown service '%.*s' (served: %s, %s, %s, %s)",
                     (int)(sl > 160 ? 160 : sl), p + 1, kserve_service, health_service,
                     paddle_service, pipeline_service);
    return false;
}

/* Finds the one request message: in the body after its prefix, or inflated
 * into st->msg (st->mdata, st->mlen). */
static bool unframe(gstream *st)
{
    skiff__server *s = st->c->t->s;
    const uint8_t *b = (const uint8_t *)st->body.data;
    size_t n = st->body.len;
    if (n < 5) {
        answer_error(st, SKIFF_CODE_INVALID_ARG,
                     "the request has %zu bytes: no complete 5-byte message prefix", n);
        return false;
    }
    uint32_t mlen = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
    if (b[0] > 1) {
        answer_error(st, SKIFF_CODE_INVALID_ARG, "message flag %u is not 0 or 1 (compressed)",
                     b[0]);
        return false;
    }
    if ((size_t)mlen != n - 5) {
        if ((size_t)mlen > n - 5)
            answer_error(st, SKIFF_CODE_INVALID_ARG,
                         "the message prefix says %" PRIu32 " bytes, the stream carried %zu", mlen,
                         n - 5);
        else
            answer_error(st, SKIFF_CODE_INVALID_ARG,
                         "more than one request message (%zu bytes after the first): the "
                         "methods are unary",
                         n - 5 - mlen);
        return false;
    }
    skiff__buf_reset(&st->msg);
    if (b[0] == 1) {
        if (!st->has_encoding || !strcasecmp(st->encoding, "identity")) {
            answer_error(st, SKIFF_CODE_INVALID_ARG,
                         "a compressed message without a grpc-encoding to read it with");
            return false;
        }
        if (strcasecmp(st->encoding, "gzip") != 0) {
            answer_error(st, SKIFF_CODE_UNSUPPORTED,
                         "grpc-encoding '%.32s' is not served (identity and gzip are)",
                         st->encoding);
            return false;
        }
        skiff_status_t *gst = skiff__brpc_gunzip(b + 5, mlen, s->cfg->max_body_size, &st->msg);
        if (gst) {
            skiff_code_t code = skiff_status_code(gst);
            if (strstr(skiff_status_message(gst), "max"))
                code = SKIFF_CODE_RESOURCE_EXHAUSTED;
            answer_error(st, code, "gzip message: %s", skiff_status_message(gst));
            skiff_status_free(gst);
            return false;
        }
        st->gzip_out = st->accept_gzip;
        skiff__buf_free(&st->body);
        st->mdata = st->msg.data ? st->msg.data : "";
        st->mlen = st->msg.len;
    } else {
        st->mdata = (const char *)b + 5;
        st->mlen = mlen;
    }
    return true;
}

/* A whole request (END_STREAM seen). */
static void handle_request(gstream *st)
{
    skiff__server *s = st->c->t->s;
    st->t0 = skiff__now_ns();
    st->log_id = atomic_fetch_add(&s->log_seq, 1) + 1;
    if (st->answered)
        return;
    if (!st->post) {
        answer_error_http(st, SKIFF_CODE_UNSUPPORTED, "405", "gRPC calls are POST requests");
        return;
    }
    const char *ct = st->ctype;
    if (!st->has_ctype || strncasecmp(ct, "application/grpc", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != '+' && ct[16] != ';')) {
        answer_error_http(st, SKIFF_CODE_INVALID_ARG, "415",
                          "content-type '%.64s' is not application/grpc(+proto)",
                          st->has_ctype ? ct : "");
        return;
    }
    if (ct[16] == '+' && strncasecmp(ct + 17, "proto", 5) != 0) {
        answer_error_http(st, SKIFF_CODE_INVALID_ARG, "415",
                          "content-type '%.64s': only protobuf messages are served", ct);
        return;
    }
    if (!st->has_path || st->path_long) {
        answer_error(st, SKIFF_CODE_UNSUPPORTED, "no :path, or one over %zu bytes",
                     sizeof(st->path) - 1);
        return;
    }
    if (!route(st))
        return;
    if (!st->te_ok) {
        answer_error(st, SKIFF_CODE_INVALID_ARG, "the request lacks 'te: trailers'");
        return;
    }
    int64_t ms;
    if (st->has_timeout && !parse_timeout(st->timeout, &ms)) {
        answer_error(st, SKIFF_CODE_INVALID_ARG,
                     "grpc-timeout '%.20s' is not 1-8 digits and a unit (H, M, S, m, u, n)",
                     st->timeout);
        return;
    }
    bool always = st->method == GM_HEALTH || st->method == GM_LIVE || st->method == GM_READY;
    /* Draining: calls that came before the final GOAWAY are served (see the
     * top of the file); nghttp2 drops the later ones, so this is a guard. */
    if (!always && atomic_load_explicit(&s->draining, memory_order_relaxed) && st->c->goaway) {
        answer_error(st, SKIFF_CODE_UNAVAILABLE,
                     "the server is shutting down: call another replica");
        return;
    }
    if (!unframe(st))
        return;
    if (st->method == GM_INFER) {
        const uint8_t *name = NULL;
        size_t len = 0;
        if (!pb_peek_bytes((const uint8_t *)st->mdata, st->mlen, 1, &name, &len) || !len) {
            answer_error(st, SKIFF_CODE_INVALID_ARG, "the ModelInferRequest names no model_name");
            return;
        }
        skiff__served *sm = model_named(st, (const char *)name, len);
        if (sm)
            run_infer(st, SKIFF__API_KSERVE_GRPC, sm);
    } else if (st->method == GM_PADDLE) {
        skiff__served *sm = st->has_model   ? model_named(st, st->model, strlen(st->model))
                            : s->repo.n > 0 ? &s->repo.models[0]
                                            : model_named(st, "", 0);
        if (sm)
            run_infer(st, SKIFF__API_PADDLE09_RPC, sm);
    } else if (st->method == GM_PIPELINE) {
        run_infer(st, SKIFF__API_PIPELINE_GRPC, NULL);
    } else {
        small_method(st);
    }
}

/* ---- nghttp2 callbacks ------------------------------------------------------------------ */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *user)
{
    gconn *c = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    gstream *st = skiff__calloc(1, sizeof(*st));
    if (!st)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->c = c;
    st->id = f->hd.stream_id;
    st->next = c->streams;
    if (c->streams)
        c->streams->prev = st;
    c->streams = st;
    if (nghttp2_session_set_stream_user_data(h2, st->id, st) != 0) {
        stream_free(st);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *v, size_t vlen, uint8_t flags, void *user)
{
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    gstream *st = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    if (!st)
        return 0;
    if (hdr_is(name, nlen, ":path")) {
        st->has_path = true;
        st->path_long = !copy_hdr(st->path, sizeof(st->path), v, vlen);
    } else if (hdr_is(name, nlen, ":method")) {
        st->post = vlen == 4 && !memcmp(v, "POST", 4);
    } else if (hdr_is(name, nlen, "content-type")) {
        st->has_ctype = true;
        copy_hdr(st->ctype, sizeof(st->ctype), v, vlen);
    } else if (hdr_is(name, nlen, "te")) {
        st->te_ok = vlen == 8 && !memcmp(v, "trailers", 8);
    } else if (hdr_is(name, nlen, "grpc-timeout")) {
        st->has_timeout = true;
        if (!copy_hdr(st->timeout, sizeof(st->timeout), v, vlen))
            st->timeout[0] = '?'; /* too long: refused as it stands */
    } else if (hdr_is(name, nlen, "grpc-encoding")) {
        st->has_encoding = true;
        copy_hdr(st->encoding, sizeof(st->encoding), v, vlen);
    } else if (hdr_is(name, nlen, "grpc-accept-encoding")) {
        for (size_t i = 0; i + 4 <= vlen; i++)
            if (!strncasecmp((const char *)v + i, "gzip", 4))
                st->accept_gzip = true;
    } else if (hdr_is(name, nlen, "model")) {
        st->has_model = copy_hdr(st->model, sizeof(st->model), v, vlen);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    gconn *c = user;
    gstream *st = nghttp2_session_get_stream_user_data(h2, id);
    if (!st || st->answered)
        return 0;
    int64_t max = c->t->s->cfg->max_body_size;
    if ((int64_t)(st->body.len + len) > max + 5) {
        answer_error(st, SKIFF_CODE_RESOURCE_EXHAUSTED,
                     "the request message is over --max_body_size %lld bytes", (long long)max);
        skiff__buf_free(&st->body);
        return 0;
    }
    if (!skiff__buf_append(&st->body, data, len)) {
        answer_error(st, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory reading the request");
        skiff__buf_free(&st->body);
        return 0;
    }
    if (st->body.len >= 5) {
        const uint8_t *b = (const uint8_t *)st->body.data;
        uint32_t mlen = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
        if ((int64_t)mlen > max) {
            answer_error(st, SKIFF_CODE_RESOURCE_EXHAUSTED,
                         "the request message of %" PRIu32 " bytes is over --max_body_size %lld",
                         mlen, (long long)max);
            skiff__buf_free(&st->body);
        } else if (st->body.len < (size_t)mlen + 5 &&
                   !skiff__buf_reserve(&st->body, (size_t)mlen + 5 - st->body.len)) {
            /* the whole message's room at once, not by doubling */
            answer_error(st, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory reading the request");
            skiff__buf_free(&st->body);
        }
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *user)
{
    if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK)) {
        gconn *c = user;
        if (c->notice)
            c->notice_acked = true; /* the final GOAWAY goes in conn_settle */
        return 0;
    }
    if ((f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    gstream *st = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    if (st && !st->busy)
        handle_request(st);
    return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t err, void *user)
{
    gconn *c = user;
    gstream *st = nghttp2_session_get_stream_user_data(h2, id);
    if (!st || c->deleting)
        return 0;
    nghttp2_session_set_stream_user_data(h2, id, NULL);
    if (st->busy) {
        st->gone = true; /* freed when its job comes back */
        return 0;
    }
    stream_free(st);
    return 0;
}

/* ---- connections ------------------------------------------------------------------------ */

/* The drain's notice is answered by a final GOAWAY, or the connection is gone. */
static void notice_done(gconn *c)
{
    if (c->notice && !c->goaway) {
        grpc_fe *fe = c->t->s->fe[SKIFF__PROTO_HTTP2];
        atomic_fetch_sub(&fe->notices, 1);
    }
}

static void conn_close(gconn *c)
{
    giothr *t = c->t;
    if (c->closed)
        return;
    notice_done(c);
    c->goaway = true; /* counted out once */
    c->deleting = true;
    nghttp2_session_del(c->h2);
    c->h2 = NULL;
    while (c->streams) {
        gstream *st = c->streams;
        if (st->active)
            call_end(st);
        stream_free(st);
    }
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

static void conn_free(gconn *c)
{
    c->seg_i = c->n_segs; /* nothing more is sent: the answers kept go */
    q_clear(c);
    skiff__free(c->segs);
    skiff__free(c->retired);
    skiff__buf_free(&c->wq);
    skiff__free(c);
}

static void bury_dead(giothr *t)
{
    while (t->dead) {
        gconn *c = t->dead;
        t->dead = c->next;
        conn_free(c);
    }
}

static void send_goaway(gconn *c)
{
    if (c->goaway || !c->h2)
        return;
    notice_done(c);
    c->goaway = true;
    c->goaway_since = skiff__now_ns();
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                          NGHTTP2_NO_ERROR, NULL, 0);
}

/* Drain, in two steps: the GOAWAY notice (last stream id 2^31-1) with a
 * PING; the final GOAWAY once the PING is back or NOTICE_NS has passed. */
static void drain_step(gconn *c)
{
    if (c->goaway || !c->h2)
        return;
    uint64_t now = skiff__now_ns();
    if (!c->notice) {
        grpc_fe *fe = c->t->s->fe[SKIFF__PROTO_HTTP2];
        if (nghttp2_submit_shutdown_notice(c->h2) != 0 ||
            nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL) != 0) {
            send_goaway(c);
            return;
        }
        c->notice = true;
        c->notice_since = now;
        atomic_fetch_add(&fe->notices, 1);
        return;
    }
    if (c->notice_acked || now - c->notice_since > NOTICE_NS)
        send_goaway(c);
}

/* After any event: write what nghttp2 has, close what is finished. A
 * connection with a job waiting for an instance stays until it is back. */
static void conn_settle(gconn *c)
{
    if (c->closed)
        return;
    if (!c->peer_gone && atomic_load(&c->t->s->draining))
        drain_step(c);
    if (!c->peer_gone)
        conn_flush(c);
    if (c->busy > 0)
        return;
    bool done = c->peer_gone || c->read_eof ||
                (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2));
    if (c->goaway && !c->streams && c->q_bytes == 0)
        done = true;
    if (done && (c->peer_gone || c->q_bytes == 0))
        conn_close(c);
}

static void conn_read(gconn *c)
{
    for (;;) {
        if (c->q_bytes > PENDING_MAX)
            return; /* the client is not reading its answers */
        char *buf = c->t->rbuf;
        ssize_t n = recv(c->fd, buf, READ_STEP, 0);
        if (n > 0) {
            c->last_io = skiff__now_ns();
            ssize_t r = nghttp2_session_mem_recv(c->h2, (const uint8_t *)buf, (size_t)n);
            if (r < 0) {
                char peer[64];
                peer_str(c, peer, sizeof(peer));
                skiff_log(SKIFF_LOG_WARN, "gRPC %s: HTTP/2 error: %s; closing the connection", peer,
                          nghttp2_strerror((int)r));
                atomic_fetch_add(&c->t->s->grpc_broken, 1);
                conn_flush(c);
                c->peer_gone = true;
                return;
            }
            if (!conn_flush(c))
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

static void conn_new(giothr *t, const gpending *pf)
{
    skiff__server *s = t->s;
    gconn *c = skiff__calloc(1, sizeof(*c));
    if (!c || nghttp2_session_server_new2(&c->h2, t->cbs, c, t->opt) != 0) {
        skiff__free(c);
        close(pf->fd);
        atomic_fetch_sub(&s->connections, 1);
        return;
    }
    c->t = t;
    c->fd = pf->fd;
    c->addr = pf->addr;
    c->addr_len = pf->addr_len;
    c->last_io = skiff__now_ns();
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
        nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 16 << 20) != 0 ||
        epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        nghttp2_session_del(c->h2);
        close(c->fd);
        skiff__free(c);
        atomic_fetch_sub(&s->connections, 1);
        return;
    }
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    conn_read(c);
    conn_settle(c);
}

static void stream_resume(gstream *st)
{
    gconn *c = st->c;
    st->busy = false;
    c->busy--;
    if (!st->gone && !c->peer_gone) {
        skiff__infer_resume(&st->call, &st->out);
        st->log_id = st->call.log_id;
        if (st->call.res.code == SKIFF_CODE_OK || st->call.res.in_body)
            answer_ok(st);
        else
            answer_error(st, st->call.res.code, "%s", st->call.res.msg);
    }
    call_end(st);
    if (st->gone)
        stream_free(st);
    conn_settle(c);
}

static void infer_done(void *user)
{
    gstream *st = user;
    giothr *t = st->c->t;
    pthread_mutex_lock(&t->mu);
    st->resume_next = t->resume;
    t->resume = st;
    pthread_mutex_unlock(&t->mu);
    uint64_t one = 1;
    while (write(t->evfd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* ---- the I/O thread ---------------------------------------------------------------------- */

static void timers(giothr *t, uint64_t now)
{
    skiff__server *s = t->s;
    uint64_t idle_limit = (uint64_t)s->cfg->idle_timeout_s * 1000000000ull;
    for (gconn *c = t->conns, *next; c; c = next) {
        next = c->next;
        if (c->busy)
            continue;
        if (c->goaway && now - c->goaway_since > LINGER_NS)
            c->peer_gone = true;
        else if (!c->streams && now - c->last_io > idle_limit)
            send_goaway(c);
        conn_settle(c);
    }
}

static void take_handoffs(giothr *t)
{
    uint64_t v;
    while (read(t->evfd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&t->mu);
    gpending *adopt = t->adopt;
    gstream *resume = t->resume;
    t->adopt = NULL;
    t->resume = NULL;
    pthread_mutex_unlock(&t->mu);
    while (resume) {
        gstream *st = resume;
        resume = st->resume_next;
        stream_resume(st);
    }
    while (adopt) {
        gpending *pf = adopt;
        adopt = pf->next;
        conn_new(t, pf);
        skiff__free(pf);
    }
    if (atomic_load(&t->s->draining)) {
        for (gconn *c = t->conns, *next; c; c = next) {
            next = c->next;
            conn_settle(c);
        }
        if (!t->drain_swept) {
            t->drain_swept = true;
            atomic_fetch_add(&((grpc_fe *)t->s->fe[SKIFF__PROTO_HTTP2])->swept, 1);
        }
    }
}

static void *io_main(void *arg)
{
    giothr *t = arg;
    char name[16];
    snprintf(name, sizeof(name), "sk-grpc-%d", t->index);
    pthread_setname_np(pthread_self(), name);
    uint64_t period = 250000000ull;
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
            gconn *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            if (c->closed)
                continue;
            if (e & EPOLLOUT)
                conn_flush(c);
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR) || c->q_bytes <= PENDING_MAX)
                conn_read(c);
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

static void grpc_stop(skiff__server *s)
{
    grpc_fe *fe = s->fe[SKIFF__PROTO_HTTP2];
    if (!fe)
        return;
    for (int i = 0; i < fe->n; i++) {
        giothr *t = &fe->t[i];
        if (t->started) {
            pthread_mutex_lock(&t->mu);
            t->stop = true;
            pthread_mutex_unlock(&t->mu);
            uint64_t one = 1;
            if (write(t->evfd, &one, sizeof(one)) < 0)
                skiff_log(SKIFF_LOG_WARN, "gRPC: waking I/O thread %d failed", i);
            pthread_join(t->th, NULL);
        }
        while (t->adopt) {
            gpending *pf = t->adopt;
            t->adopt = pf->next;
            close(pf->fd);
            atomic_fetch_sub(&s->connections, 1);
            skiff__free(pf);
        }
        if (t->ep >= 0)
            close(t->ep);
        if (t->evfd >= 0)
            close(t->evfd);
        if (t->cbs)
            nghttp2_session_callbacks_del(t->cbs);
        if (t->opt)
            nghttp2_option_del(t->opt);
        if (t->s)
            pthread_mutex_destroy(&t->mu);
    }
    skiff__free(fe->t);
    skiff__free(fe);
    s->fe[SKIFF__PROTO_HTTP2] = NULL;
}

static skiff_status_t *grpc_start(skiff__server *s)
{
    grpc_fe *fe = skiff__calloc(1, sizeof(*fe));
    if (!fe)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    s->fe[SKIFF__PROTO_HTTP2] = fe;
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
        giothr *t = &fe->t[i];
        t->s = s;
        t->index = i;
        pthread_mutex_init(&t->mu, NULL);
        if (nghttp2_session_callbacks_new(&t->cbs) != 0 || nghttp2_option_new(&t->opt) != 0)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        nghttp2_session_callbacks_set_on_begin_headers_callback(t->cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(t->cbs, on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(t->cbs, on_data_chunk);
        nghttp2_session_callbacks_set_on_frame_recv_callback(t->cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(t->cbs, on_stream_close);
        nghttp2_session_callbacks_set_send_data_callback(t->cbs, send_data);
        nghttp2_option_set_max_deflate_dynamic_table_size(t->opt, 4096);
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        t->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = t};
        if (t->ep < 0 || t->evfd < 0 || epoll_ctl(t->ep, EPOLL_CTL_ADD, t->evfd, &ev) != 0)
            return skiff_status_new(SKIFF_CODE_INTERNAL, "gRPC I/O thread %d: %s", i,
                                    strerror(errno));
        if (pthread_create(&t->th, NULL, io_main, t) != 0)
            return skiff_status_new(SKIFF_CODE_INTERNAL, "cannot start gRPC I/O thread %d", i);
        t->started = true;
    }
    return NULL;
}

static void grpc_adopt(skiff__server *s, int fd, const struct sockaddr *addr, socklen_t len)
{
    grpc_fe *fe = s->fe[SKIFF__PROTO_HTTP2];
    if (atomic_fetch_add(&s->connections, 1) >= s->cfg->max_connections) {
        atomic_fetch_sub(&s->connections, 1);
        atomic_fetch_add(&s->conn_refused_limit, 1);
        close(fd);
        return;
    }
    gpending *pf = skiff__calloc(1, sizeof(*pf));
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
    giothr *t =
        &fe->t[atomic_fetch_add_explicit(&fe->rr, 1, memory_order_relaxed) % (unsigned)fe->n];
    pthread_mutex_lock(&t->mu);
    pf->next = t->adopt;
    t->adopt = pf;
    pthread_mutex_unlock(&t->mu);
    uint64_t one = 1;
    while (write(t->evfd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* Wakes every I/O thread, whose connections then get the GOAWAY notice, and
 * waits until each has sent its final GOAWAY (NOTICE_NS and a little more at
 * most): a call that arrives before that is served, so the caller's wait for
 * calls in flight must not start before. */
static void grpc_drain(skiff__server *s)
{
    grpc_fe *fe = s->fe[SKIFF__PROTO_HTTP2];
    if (!fe)
        return;
    int started = 0;
    for (int i = 0; i < fe->n; i++) {
        uint64_t one = 1;
        if (!fe->t[i].started)
            continue;
        started++;
        if (write(fe->t[i].evfd, &one, sizeof(one)) < 0)
            skiff_log(SKIFF_LOG_WARN, "gRPC: waking I/O thread %d failed", i);
    }
    uint64_t until = skiff__now_ns() + NOTICE_NS + 500000000ull;
    while ((atomic_load(&fe->swept) < started || atomic_load(&fe->notices) > 0) &&
           skiff__now_ns() < until) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int64_t grpc_open_connections(const skiff__server *s)
{
    return atomic_load(&s->connections);
}

static void grpc_log_summary(const skiff__server *s)
{
    skiff_log(SKIFF_LOG_INFO,
              "  gRPC (HTTP/2) on the same port: %s (KServe v2), %s/Check, %s/inference",
              kserve_service, health_service, paddle_service);
}

const skiff__frontend skiff__grpc_frontend = {
    .name = "gRPC",
    .start = grpc_start,
    .adopt = grpc_adopt,
    .drain = grpc_drain,
    .stop = grpc_stop,
    .open_connections = grpc_open_connections,
    .log_summary = grpc_log_summary,
};
