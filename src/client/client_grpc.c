/* client_grpc.c - the gRPC transport: Paddle's GeneralModelService/inference
 * (the 0.9 Request and Response messages) over HTTP/2, the framing done by
 * libnghttp2's client session.
 *
 * A connection keeps its session with it in the pool, so a reused connection
 * costs one new stream (HEADERS + DATA) and no handshake. The session is used
 * without I/O of its own (nghttp2_session_mem_send / mem_recv): the exchange
 * below moves the bytes over the client's non-blocking socket with the call's
 * deadline, the same way the other transports do, and the unit tests drive
 * the session with canned bytes. Windows are opened wide (a 16 MiB stream
 * window, 1 GiB for the connection) because answers may be large tensors and
 * a round trip per 64 KiB would dominate them. A misbehaving server shows as
 * a status: nghttp2 rejects bad frames, the answer is bounded by
 * SKIFF__CLIENT_MAX_ANSWER, and a missing grpc-status is a broken answer. */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client/client_int.h"
#include "core/core.h"

#define STREAM_WINDOW (16 << 20)
#define CONN_WINDOW (1 << 30)
#define MAX_GRPC_MESSAGE 1024
#define KEEP_BUF (256 << 10) /* larger buffers are not kept in the pool */

struct skiff__client_h2 {
    nghttp2_session *s;
    /* the call in flight */
    int32_t stream;
    const skiff__buf *msg; /* borrowed: the request message */
    size_t msg_off;
    bool closed;     /* the stream is closed */
    bool answering;  /* its response HEADERS came */
    uint32_t reset;  /* RST_STREAM error code, 0 when closed normally */
    int http_status; /* :status */
    int grpc_status; /* -1: no grpc-status */
    bool ctype_grpc;
    char grpc_message[MAX_GRPC_MESSAGE];
    skiff__buf body;
    bool too_big;
    bool oom;
    bool goaway;   /* the server sent GOAWAY: no new stream on this session */
    size_t seen;   /* bytes received on the session, up to 5 */
    skiff__buf wq; /* bytes to send, kept across calls (no allocation per call) */
};

static skiff_status_t *oom(void)
{
    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
}

skiff_code_t skiff__client_grpc_code(int g)
{
    static const skiff_code_t table[] = {
        [0] = SKIFF_CODE_OK,
        [1] = SKIFF_CODE_CANCELLED,
        [2] = SKIFF_CODE_INTERNAL,           /* UNKNOWN */
        [3] = SKIFF_CODE_INVALID_ARG,        /* INVALID_ARGUMENT */
        [4] = SKIFF_CODE_DEADLINE_EXCEEDED,  /* DEADLINE_EXCEEDED */
        [5] = SKIFF_CODE_NOT_FOUND,          /* NOT_FOUND */
        [6] = SKIFF_CODE_ALREADY_EXISTS,     /* ALREADY_EXISTS */
        [7] = SKIFF_CODE_INVALID_ARG,        /* PERMISSION_DENIED */
        [8] = SKIFF_CODE_RESOURCE_EXHAUSTED, /* RESOURCE_EXHAUSTED */
        [9] = SKIFF_CODE_INVALID_ARG,        /* FAILED_PRECONDITION */
        [10] = SKIFF_CODE_UNAVAILABLE,       /* ABORTED */
        [11] = SKIFF_CODE_INVALID_ARG,       /* OUT_OF_RANGE */
        [12] = SKIFF_CODE_UNSUPPORTED,       /* UNIMPLEMENTED */
        [13] = SKIFF_CODE_INTERNAL,          /* INTERNAL */
        [14] = SKIFF_CODE_UNAVAILABLE,       /* UNAVAILABLE */
        [15] = SKIFF_CODE_INTERNAL,          /* DATA_LOSS */
        [16] = SKIFF_CODE_INVALID_ARG,       /* UNAUTHENTICATED */
    };
    if (g < 0 || g >= (int)(sizeof(table) / sizeof(table[0])))
        return SKIFF_CODE_INTERNAL;
    return table[g];
}

/* ---- the session's callbacks -------------------------------------------------- */

static bool name_is(const uint8_t *n, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(n, lit, len) == 0;
}

static bool parse_small_int(const uint8_t *v, size_t len, int *out)
{
    if (len == 0 || len > 6)
        return false;
    int x = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return true;
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 32) >= 'a' && (c | 32) <= 'f')
        return (c | 32) - 'a' + 10;
    return -1;
}

/* grpc-message is percent-encoded; a bad escape is kept as it came. */
static void pct_decode(char *dst, size_t cap, const uint8_t *v, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < cap; i++) {
        int hi, lo;
        if (v[i] == '%' && i + 2 < len && (hi = hex_val(v[i + 1])) >= 0 &&
            (lo = hex_val(v[i + 2])) >= 0) {
            dst[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dst[k++] = (char)v[i];
        }
    }
    dst[k] = '\0';
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *v, size_t vlen, uint8_t flags, void *user)
{
    (void)s;
    (void)flags;
    skiff__client_h2 *h = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->hd.stream_id != h->stream)
        return 0;
    h->answering = true;
    int x;
    if (name_is(name, nlen, ":status")) {
        if (parse_small_int(v, vlen, &x))
            h->http_status = x;
    } else if (name_is(name, nlen, "grpc-status")) {
        h->grpc_status = parse_small_int(v, vlen, &x) ? x : 2 /* UNKNOWN */;
    } else if (name_is(name, nlen, "grpc-message")) {
        pct_decode(h->grpc_message, sizeof(h->grpc_message), v, vlen);
    } else if (name_is(name, nlen, "content-type")) {
        h->ctype_grpc = vlen >= 16 && memcmp(v, "application/grpc", 16) == 0;
    }
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream, const uint8_t *data,
                   size_t len, void *user)
{
    (void)s;
    (void)flags;
    skiff__client_h2 *h = user;
    if (stream != h->stream)
        return 0;
    if (h->body.len + len > SKIFF__CLIENT_MAX_ANSWER + 5) {
        h->too_big = true;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (!skiff__buf_append(&h->body, data, len)) {
        h->oom = true;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_close(nghttp2_session *s, int32_t stream, uint32_t error_code, void *user)
{
    (void)s;
    skiff__client_h2 *h = user;
    if (stream == h->stream) {
        h->closed = true;
        h->reset = error_code;
    }
    return 0;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    (void)s;
    skiff__client_h2 *h = user;
    if (f->hd.type == NGHTTP2_GOAWAY)
        h->goaway = true;
    return 0;
}

static ssize_t msg_read(nghttp2_session *s, int32_t stream, uint8_t *buf, size_t len,
                        uint32_t *flags, nghttp2_data_source *src, void *user)
{
    (void)s;
    (void)stream;
    (void)src;
    skiff__client_h2 *h = user;
    size_t left = h->msg->len - h->msg_off;
    size_t n = left < len ? left : len;
    if (n)
        memcpy(buf, (const char *)h->msg->data + h->msg_off, n);
    h->msg_off += n;
    if (h->msg_off == h->msg->len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* ---- the session ---------------------------------------------------------------- */

skiff_status_t *skiff__client_h2_new(skiff__client_h2 **out)
{
    *out = NULL;
    skiff__client_h2 *h = skiff__calloc(1, sizeof(*h));
    if (!h)
        return oom();
    nghttp2_session_callbacks *cb = NULL;
    if (nghttp2_session_callbacks_new(&cb) != 0) {
        skiff__free(h);
        return oom();
    }
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    int rc = nghttp2_session_client_new(&h->s, cb, h);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) {
        skiff__free(h);
        return oom();
    }
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW}};
    if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
        nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW) != 0) {
        skiff__client_h2_free(h);
        return oom();
    }
    *out = h;
    return NULL;
}

void skiff__client_h2_free(skiff__client_h2 *h)
{
    if (!h)
        return;
    nghttp2_session_del(h->s);
    skiff__buf_free(&h->body);
    skiff__buf_free(&h->wq);
    skiff__free(h);
}

#define NV(n, v, vl)                                                                               \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE                  \
    }

skiff_status_t *skiff__client_h2_start(skiff__client_h2 *h, const skiff__client_wire *w,
                                       const skiff__buf *msg, int32_t timeout_ms,
                                       const char *authority, bool *out_refused)
{
    *out_refused = false;
    if (h->goaway || !nghttp2_session_check_request_allowed(h->s)) {
        *out_refused = true;
        return skiff_status_new(SKIFF_CODE_UNAVAILABLE, "the server takes no new stream (GOAWAY)");
    }
    h->stream = -1;
    h->msg = msg;
    h->msg_off = 0;
    h->closed = h->answering = h->too_big = h->oom = h->ctype_grpc = false;
    h->reset = 0;
    h->http_status = 0;
    h->grpc_status = -1;
    h->grpc_message[0] = '\0';
    skiff__buf_reset(&h->body);
    /* grpc-timeout: at most 8 digits, then the unit */
    char tmo[16];
    int tl = 0;
    if (timeout_ms > 0)
        tl = timeout_ms <= 99999999 ? snprintf(tmo, sizeof(tmo), "%dm", (int)timeout_ms)
                                    : snprintf(tmo, sizeof(tmo), "%dS", (int)(timeout_ms / 1000));
    nghttp2_nv nv[9] = {
        NV(":method", "POST", 4),
        NV(":scheme", "http", 4),
        NV(":path", SKIFF__CLIENT_GRPC_PATH, sizeof(SKIFF__CLIENT_GRPC_PATH) - 1),
        NV(":authority", authority, strlen(authority)),
        NV("content-type", "application/grpc", 16),
        NV("te", "trailers", 8),
        NV("user-agent", "skiff-client", 12),
    };
    size_t n = 7;
    if (tl > 0)
        nv[n++] = (nghttp2_nv)NV("grpc-timeout", tmo, (size_t)tl);
    if (w->model && w->model[0])
        nv[n++] = (nghttp2_nv)NV("model", w->model, strlen(w->model));
    nghttp2_data_provider dp = {.read_callback = msg_read};
    int32_t id = nghttp2_submit_request(h->s, NULL, nv, n, &dp, NULL);
    if (id < 0) {
        *out_refused = id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE;
        return id == NGHTTP2_ERR_NOMEM
                   ? oom()
                   : skiff_status_new(SKIFF_CODE_UNAVAILABLE, "HTTP/2: %s", nghttp2_strerror(id));
    }
    h->stream = id;
    return NULL;
}

skiff_status_t *skiff__client_h2_output(skiff__client_h2 *h, skiff__buf *out)
{
    for (;;) {
        const uint8_t *p = NULL;
        ssize_t n = nghttp2_session_mem_send(h->s, &p);
        if (n < 0)
            return n == NGHTTP2_ERR_NOMEM ? oom()
                                          : skiff_status_new(SKIFF_CODE_INTERNAL, "HTTP/2: %s",
                                                             nghttp2_strerror((int)n));
        if (n == 0)
            return NULL;
        if (!skiff__buf_append(out, p, (size_t)n))
            return oom();
    }
}

skiff_status_t *skiff__client_h2_input(skiff__client_h2 *h, const void *p, size_t n)
{
    /* the server's preface is a SETTINGS frame (type 4, flags 0): nghttp2
       would take other bytes for an unknown frame type and wait for its
       length, so an HTTP/1.1 answer is recognised here */
    for (size_t i = 0; h->seen < 5 && i < n; i++, h->seen++) {
        uint8_t b = ((const uint8_t *)p)[i];
        if ((h->seen == 3 && b != NGHTTP2_SETTINGS) || (h->seen == 4 && b != 0))
            return skiff_status_new(SKIFF_CODE_INTERNAL, "answer: not HTTP/2 (the server's first "
                                                         "frame is not SETTINGS)");
    }
    ssize_t r = nghttp2_session_mem_recv(h->s, p, n);
    if (h->too_big)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "answer: the message is over %zu bytes",
                                SKIFF__CLIENT_MAX_ANSWER);
    if (h->oom || r == NGHTTP2_ERR_NOMEM)
        return oom();
    if (r < 0)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "answer: not HTTP/2: %s",
                                nghttp2_strerror((int)r));
    /* nghttp2 ends a session on a connection error (bytes that are not
       HTTP/2, a bad frame) by queueing GOAWAY and reading no more */
    if (!h->closed && !nghttp2_session_want_read(h->s))
        return skiff_status_new(SKIFF_CODE_INTERNAL,
                                "answer: not HTTP/2, or a protocol error ended the session");
    return NULL;
}

bool skiff__client_h2_done(const skiff__client_h2 *h) { return h->closed; }
bool skiff__client_h2_answering(const skiff__client_h2 *h) { return h->answering; }

bool skiff__client_h2_reusable(const skiff__client_h2 *h)
{
    return !h->goaway && (nghttp2_session_want_read(h->s) || nghttp2_session_want_write(h->s)) &&
           nghttp2_session_check_request_allowed(h->s);
}

/* A broken answer is INTERNAL, whatever code the decoder gave its message. */
static skiff_status_t *as_broken(skiff_status_t *st)
{
    if (skiff_status_code(st) == SKIFF_CODE_RESOURCE_EXHAUSTED ||
        skiff_status_code(st) == SKIFF_CODE_INTERNAL)
        return st;
    skiff_status_t *b = skiff_status_new(SKIFF_CODE_INTERNAL, "%s", skiff_status_message(st));
    skiff_status_free(st);
    return b;
}

skiff_status_t *skiff__client_h2_decode(skiff__client_h2 *h, skiff__infer_request **out,
                                        bool *out_answered)
{
    *out = NULL;
    *out_answered = false;
    if (!h->closed)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "answer: the stream is still open");
    if (h->grpc_status > 0) {
        *out_answered = true;
        return skiff_status_new(
            skiff__client_grpc_code(h->grpc_status), "server: %s (grpc-status %d)",
            h->grpc_message[0] ? h->grpc_message : "error without a message", h->grpc_status);
    }
    if (h->grpc_status < 0) {
        if (h->reset)
            return skiff_status_new(SKIFF_CODE_UNAVAILABLE, "the server reset the stream (%s)",
                                    nghttp2_http2_strerror(h->reset));
        if (h->http_status && h->http_status != 200) {
            *out_answered = true;
            return skiff_status_new(skiff__code_from_http(h->http_status),
                                    "server: HTTP %d without grpc-status", h->http_status);
        }
        return skiff_status_new(SKIFF_CODE_INTERNAL, "answer: no grpc-status");
    }
    if (!h->ctype_grpc)
        return skiff_status_new(SKIFF_CODE_INTERNAL,
                                "answer: content-type is not application/grpc");
    const uint8_t *b = (const uint8_t *)h->body.data;
    if (h->body.len < 5)
        return skiff_status_new(SKIFF_CODE_INTERNAL,
                                "answer: grpc-status 0 with %zu bytes, not a message", h->body.len);
    uint32_t len = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
    if (b[0] != 0)
        return skiff_status_new(SKIFF_CODE_INTERNAL,
                                "answer: a compressed message (flag %u), none was asked for", b[0]);
    if ((size_t)len + 5 != h->body.len)
        return skiff_status_new(SKIFF_CODE_INTERNAL,
                                "answer: the message prefix says %u bytes, %zu came", len,
                                h->body.len - 5);
    skiff__decode_in in = {.body = (const char *)b + 5, .len = len, .header_length = -1};
    skiff_status_t *st = skiff__codec_of(SKIFF__API_PADDLE09_PB)->decode_response(&in, out);
    if (st && strncmp(skiff_status_message(st), "server: ", 8) == 0)
        *out_answered = true;
    else if (st)
        st = as_broken(st);
    return st;
}

/* ---- an exchange over a socket -------------------------------------------------- */

skiff__client_fail skiff__client_grpc_exchange(skiff__client_ep *ep, const skiff__client_wire *w,
                                               const skiff__buf *msg, int32_t timeout_ms,
                                               uint64_t deadline, skiff__infer_request **out_ans,
                                               skiff_status_t **out_st)
{
    skiff__client_fail fail = SKIFF__CLIENT_NET;
    bool reused = false, refused = false;
    *out_ans = NULL;
    *out_st = NULL;
    skiff__client_conn conn = skiff__client_conn_get(ep, deadline, &reused, out_st, &fail);
    if (conn.fd < 0)
        return fail;
    skiff_status_t *st = conn.h2 ? NULL : skiff__client_h2_new(&conn.h2);
    if (st) {
        skiff__client_conn_close(&conn);
        *out_st = st;
        return SKIFF__CLIENT_ANSWERED; /* out of memory: no point in another endpoint */
    }
    st = skiff__client_h2_start(conn.h2, w, msg, timeout_ms, ep->label, &refused);
    if (st) {
        skiff__client_conn_close(&conn);
        *out_st = st;
        return refused && reused ? SKIFF__CLIENT_STALE : SKIFF__CLIENT_NET;
    }
    skiff__buf *wbuf = &conn.h2->wq;
    char rbuf[65536];
    bool got_any = false;
    for (;;) {
        skiff__buf_reset(wbuf);
        if ((st = skiff__client_h2_output(conn.h2, wbuf))) {
            fail = skiff_status_code(st) == SKIFF_CODE_RESOURCE_EXHAUSTED ? SKIFF__CLIENT_ANSWERED
                                                                          : SKIFF__CLIENT_BROKEN;
            break;
        }
        if (wbuf->len &&
            (st = skiff__client_send(conn.fd, wbuf->data, wbuf->len, deadline, &fail))) {
            if (reused && !got_any && fail == SKIFF__CLIENT_NET)
                fail = SKIFF__CLIENT_STALE;
            break;
        }
        if (skiff__client_h2_done(conn.h2))
            break;
        size_t n = 0;
        if ((st = skiff__client_recv(conn.fd, rbuf, sizeof(rbuf), deadline, &n, &fail))) {
            if (reused && !skiff__client_h2_answering(conn.h2) && fail == SKIFF__CLIENT_NET)
                fail = SKIFF__CLIENT_STALE;
            break;
        }
        if (n == 0) {
            bool answering = skiff__client_h2_answering(conn.h2);
            fail = reused && !answering ? SKIFF__CLIENT_STALE : SKIFF__CLIENT_NET;
            st = skiff_status_new(SKIFF_CODE_UNAVAILABLE, "connection closed by the server %s",
                                  answering ? "mid-answer" : "before answering");
            break;
        }
        got_any = true;
        if ((st = skiff__client_h2_input(conn.h2, rbuf, n))) {
            fail = skiff_status_code(st) == SKIFF_CODE_RESOURCE_EXHAUSTED ? SKIFF__CLIENT_ANSWERED
                                                                          : SKIFF__CLIENT_BROKEN;
            break;
        }
    }
    /* a pooled session keeps small buffers only */
    if (conn.h2 && conn.h2->wq.cap > KEEP_BUF)
        skiff__buf_free(&conn.h2->wq);
    if (!st) {
        bool answered = false;
        st = skiff__client_h2_decode(conn.h2, out_ans, &answered);
        if (conn.h2->body.cap > KEEP_BUF)
            skiff__buf_free(&conn.h2->body);
        fail = !st ? SKIFF__CLIENT_OK : answered ? SKIFF__CLIENT_ANSWERED : SKIFF__CLIENT_BROKEN;
        /* a stream the server refused before answering (REFUSED_STREAM, GOAWAY
           racing our HEADERS) never reached the model: send it once more */
        if (st && !answered && reused && !skiff__client_h2_answering(conn.h2)) {
            fail = SKIFF__CLIENT_STALE;
        }
        if (fail != SKIFF__CLIENT_BROKEN && fail != SKIFF__CLIENT_STALE &&
            skiff__client_h2_reusable(conn.h2)) {
            skiff__client_conn_put(ep, conn);
            conn = (skiff__client_conn){.fd = -1};
        }
    }
    skiff__client_conn_close(&conn);
    *out_st = st;
    return fail;
}
