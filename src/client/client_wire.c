/* client_wire.c - the bytes of each transport: a request written whole (a
 * baidu_std frame around a Paddle 0.9 protobuf Request, or an HTTP/1.1 POST
 * of the Request as protobuf or JSON), and an answer read incrementally
 * (a frame's header then its body; HTTP through http_parser) and decoded
 * with the codec table's client half (src/proto). Nothing here touches a
 * socket, so the unit tests feed it canned bytes. */
#include <http_parser.h>
#include <string.h>
#include <strings.h>

#include "client/client_int.h"
#include "core/core.h"

skiff_code_t skiff__client_brpc_code(int32_t error_code)
{
    if (error_code == 404)
        return SKIFF_CODE_NOT_FOUND;
    if (error_code == -5001)
        return SKIFF_CODE_UNAVAILABLE;
    if (error_code == -5100)
        return SKIFF_CODE_INVALID_ARG;
    if (error_code == 1008 /* brpc ERPCTIMEDOUT */)
        return SKIFF_CODE_DEADLINE_EXCEEDED;
    if (error_code >= 400 && error_code < 600)
        return skiff__code_from_http(error_code);
    return SKIFF_CODE_INTERNAL;
}

static skiff_status_t *oom(void)
{
    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory encoding the request");
}

skiff_status_t *skiff__client_encode(const skiff__client_wire *w, const skiff__request_out *r,
                                     int64_t correlation_id, int32_t timeout_ms, const char *host,
                                     skiff__buf *out)
{
    skiff__buf body = {0}, packed = {0};
    size_t len = 0;
    skiff_status_t *st = NULL;
    switch (w->transport) {
    case SKIFF_CLIENT_BRPC: {
        st = skiff__encode_paddle09_pb_request(r, &body, &len);
        if (!st && w->gzip)
            st = skiff__brpc_gzip(body.data, body.len, &packed);
        const skiff__buf *payload = w->gzip ? &packed : &body;
        skiff__brpc_call_out c = {.service = SKIFF__CLIENT_SERVICE,
                                  .method = SKIFF__CLIENT_METHOD,
                                  .model = w->model,
                                  .correlation_id = correlation_id,
                                  .log_id = (int64_t)r->log_id,
                                  .timeout_ms = timeout_ms,
                                  .compress_type = w->gzip ? SKIFF__BRPC_GZIP : 0};
        if (!st)
            st = skiff__brpc_encode_request(&c, payload->data, payload->len, out);
        break;
    }
    case SKIFF_CLIENT_HTTP_PROTO:
    case SKIFF_CLIENT_HTTP_JSON: {
        bool proto = w->transport == SKIFF_CLIENT_HTTP_PROTO;
        st = proto ? skiff__encode_paddle09_pb_request(r, &body, &len)
                   : skiff__encode_paddle09_request(r, &body, &len);
        /* a multi-model server's model: ?model=NAME (percent-encoded) */
        if (!st && !skiff__buf_lit(out, "POST " SKIFF__CLIENT_HTTP_PATH))
            st = oom();
        if (!st && w->model && w->model[0]) {
            bool ok = skiff__buf_lit(out, "?model=");
            for (const unsigned char *m = (const unsigned char *)w->model; ok && *m; m++)
                ok = (*m >= '0' && *m <= '9') || ((*m | 32) >= 'a' && (*m | 32) <= 'z') ||
                             *m == '_' || *m == '-' || *m == '.'
                         ? skiff__buf_char(out, (char)*m)
                         : skiff__buf_printf(out, "%%%02X", *m);
            if (!ok)
                st = oom();
        }
        if (!st &&
            !skiff__buf_printf(out,
                               " HTTP/1.1\r\n"
                               "Host: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
                               host, proto ? "application/proto" : "application/json", body.len))
            st = oom();
        if (!st && timeout_ms > 0 &&
            !skiff__buf_printf(out, "X-Request-Timeout-Ms: %d\r\n", (int)timeout_ms))
            st = oom();
        /* headers end: the blank line, then the body */
        if (!st && (!skiff__buf_lit(out, "\r\n") || !skiff__buf_append(out, body.data, body.len)))
            st = oom();
        break;
    }
    case SKIFF_CLIENT_GRPC: {
        /* the length-prefixed message: flag 0 (not compressed), length big-endian */
        st = skiff__encode_paddle09_pb_request(r, &body, &len);
        if (!st && body.len > UINT32_MAX)
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                  "the request is %zu bytes, over gRPC's 4 GiB message limit",
                                  body.len);
        uint8_t head[5] = {0, (uint8_t)(body.len >> 24), (uint8_t)(body.len >> 16),
                           (uint8_t)(body.len >> 8), (uint8_t)body.len};
        if (!st &&
            (!skiff__buf_append(out, head, 5) || !skiff__buf_append(out, body.data, body.len)))
            st = oom();
        break;
    }
    default:
        st = skiff_status_new(SKIFF_CODE_UNSUPPORTED, "transport %d is not supported",
                              (int)w->transport);
    }
    skiff__buf_free(&body);
    skiff__buf_free(&packed);
    return st;
}

/* ---- reading an answer ---------------------------------------------------------- */

typedef struct http_state {
    http_parser parser;
    skiff__client_reader *rd;
    bool in_ctype; /* the header being read is Content-Type */
    bool field_done;
    char field[32];
    size_t field_len;
    bool too_big;
} http_state;

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    http_state *h = p->data;
    if (h->field_done) { /* a new header starts */
        h->field_len = 0;
        h->field_done = false;
    }
    size_t room = sizeof(h->field) - 1 - h->field_len;
    size_t k = n < room ? n : room;
    memcpy(h->field + h->field_len, at, k);
    h->field_len += k;
    h->field[h->field_len] = '\0';
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    http_state *h = p->data;
    h->field_done = true;
    if (strcasecmp(h->field, "content-type") == 0 && h->rd->aux.len < 256)
        return skiff__buf_append(&h->rd->aux, at, n) ? 0 : 1;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    http_state *h = p->data;
    h->rd->http_status = (int)p->status_code;
    if (!skiff__buf_char(&h->rd->aux, '\0'))
        return 1;
    h->rd->ctype_proto = strstr((const char *)h->rd->aux.data, "proto") != NULL;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    http_state *h = p->data;
    if (h->rd->raw.len + n > SKIFF__CLIENT_MAX_ANSWER) {
        h->too_big = true;
        return 1;
    }
    return skiff__buf_append(&h->rd->raw, at, n) ? 0 : 1;
}

static int on_message_complete(http_parser *p)
{
    http_state *h = p->data;
    h->rd->done = true;
    h->rd->keep_alive = http_should_keep_alive(p) != 0;
    return 0;
}

static const http_parser_settings http_cbs = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static bool is_http(const skiff__client_wire *w)
{
    return w->transport == SKIFF_CLIENT_HTTP_JSON || w->transport == SKIFF_CLIENT_HTTP_PROTO;
}

skiff_status_t *skiff__client_reader_init(skiff__client_reader *rd, const skiff__client_wire *w,
                                          int64_t correlation_id)
{
    *rd = (skiff__client_reader){.w = w, .correlation_id = correlation_id};
    if (is_http(w)) {
        http_state *h = skiff__calloc(1, sizeof(*h));
        if (!h)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        http_parser_init(&h->parser, HTTP_RESPONSE);
        h->parser.data = h;
        h->rd = rd;
        rd->http = h;
    }
    return NULL;
}

void skiff__client_reader_free(skiff__client_reader *rd)
{
    skiff__buf_free(&rd->raw);
    skiff__buf_free(&rd->aux);
    skiff__free(rd->http);
    rd->http = NULL;
}

static skiff_status_t *broken(const char *fmt, const char *what)
{
    return skiff_status_new(SKIFF_CODE_INTERNAL, fmt, what);
}

skiff_status_t *skiff__client_reader_feed(skiff__client_reader *rd, const void *p, size_t n)
{
    if (rd->done)
        return n ? broken("%s after the answer", "bytes") : NULL;
    if (rd->http) {
        http_state *h = rd->http;
        size_t used = http_parser_execute(&h->parser, &http_cbs, p, n);
        enum http_errno e = HTTP_PARSER_ERRNO(&h->parser);
        if (h->too_big)
            return skiff_status_new(SKIFF_CODE_INTERNAL, "answer: the body is over %zu bytes",
                                    SKIFF__CLIENT_MAX_ANSWER);
        if (e != HPE_OK)
            return skiff_status_new(SKIFF_CODE_INTERNAL, "answer: not HTTP: %s",
                                    http_errno_description(e));
        if (used < n)
            return broken("%s after the answer", "bytes");
        return NULL;
    }
    if (n == 0)
        return NULL;
    if (!skiff__buf_append(&rd->raw, p, n))
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory reading the answer");
    uint32_t body_size, meta_size;
    skiff__brpc_head_result hr =
        skiff__brpc_head(rd->raw.data, rd->raw.len, &body_size, &meta_size);
    if (hr == SKIFF__BRPC_HEAD_MORE)
        return NULL;
    if (hr == SKIFF__BRPC_HEAD_MAGIC)
        return broken("answer: not a baidu_std frame (%s)", "no PRPC magic");
    if (hr == SKIFF__BRPC_HEAD_META)
        return broken("answer: %s", "meta_size is larger than body_size");
    if (body_size > SKIFF__CLIENT_MAX_ANSWER)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "answer: a %u-byte frame is over %zu bytes",
                                body_size, SKIFF__CLIENT_MAX_ANSWER);
    size_t whole = SKIFF__BRPC_HEAD + (size_t)body_size;
    if (rd->raw.len > whole)
        return broken("%s after the answer frame", "bytes");
    if (rd->raw.len == whole) {
        rd->done = true;
        rd->keep_alive = true;
    }
    return NULL;
}

/* A decoder's status is the server's error when it says so ("server: ...",
 * codec_response.c); anything else means the answer itself is broken. */
static bool from_server(const skiff_status_t *st)
{
    return strncmp(skiff_status_message(st), "server: ", 8) == 0;
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

skiff_status_t *skiff__client_reader_decode(skiff__client_reader *rd, skiff__infer_request **out,
                                            bool *out_answered)
{
    *out = NULL;
    *out_answered = false;
    skiff_status_t *st;
    if (rd->http) {
        skiff__decode_in in = {.body = (const char *)rd->raw.data,
                               .len = rd->raw.len,
                               .header_length = -1,
                               .http_status = rd->http_status};
        if (rd->http_status >= 300 && rd->raw.len == 0) {
            *out_answered = true;
            return skiff_status_new(skiff__code_from_http(rd->http_status),
                                    "server: HTTP %d without a body", rd->http_status);
        }
        st = skiff__codec_of(rd->ctype_proto ? SKIFF__API_PADDLE09_PB : SKIFF__API_PADDLE09)
                 ->decode_response(&in, out);
        if (st && rd->http_status >= 300 && !from_server(st)) {
            /* an error page that is not a Paddle Response: its code and text */
            skiff_status_free(st);
            *out_answered = true;
            size_t n = rd->raw.len > 300 ? 300 : rd->raw.len;
            return skiff_status_new(skiff__code_from_http(rd->http_status), "server: HTTP %d: %.*s",
                                    rd->http_status, (int)n, (const char *)rd->raw.data);
        }
        if (st && from_server(st))
            *out_answered = true;
        return st && !*out_answered ? as_broken(st) : st;
    }
    uint32_t body_size = 0, meta_size = 0;
    (void)skiff__brpc_head(rd->raw.data, rd->raw.len, &body_size, &meta_size);
    const char *body = rd->raw.data + SKIFF__BRPC_HEAD;
    skiff__brpc_meta m;
    st = skiff__brpc_meta_decode(body, meta_size, &m);
    if (st)
        return skiff_status_wrap(st, "answer: RpcMeta");
    if (m.correlation_id != rd->correlation_id) {
        st = skiff_status_new(SKIFF_CODE_INTERNAL,
                              "answer: correlation_id %lld, expected %lld (not this call's answer)",
                              (long long)m.correlation_id, (long long)rd->correlation_id);
    } else if (m.error_code != 0) {
        *out_answered = true;
        st = skiff_status_new(skiff__client_brpc_code(m.error_code), "server: %s (error %d)",
                              m.error_text && m.error_text[0] ? m.error_text
                                                              : "error without a message",
                              (int)m.error_code);
    } else {
        st = skiff__brpc_payload(body, body_size, meta_size, &m, (int64_t)SKIFF__CLIENT_MAX_ANSWER,
                                 &rd->aux);
        if (st) {
            st = skiff_status_wrap(st, "answer");
        } else {
            skiff__decode_in in = {
                .body = (const char *)rd->aux.data, .len = rd->aux.len, .header_length = -1};
            st = skiff__codec_of(SKIFF__API_PADDLE09_PB)->decode_response(&in, out);
            if (st && from_server(st))
                *out_answered = true;
            else if (st)
                st = as_broken(st);
        }
    }
    skiff__brpc_meta_free(&m);
    return st;
}
