/* http_int.h - what the HTTP/1.1 front end's two files share: a request as
 * the transport (conn.c: sockets, framing, limits, timers) hands it to the
 * routes (routes.c: the route table, the GET answers, inference through
 * infer.c), and the one call that answers it. */
#ifndef SKIFF_SERVE_HTTP_INT_H
#define SKIFF_SERVE_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/infer.h"
#include "serve/serve_int.h"

#define HTTP_MAX_HEADERS 64

struct hconn;

typedef struct hheader {
    uint32_t name, name_len; /* offsets into hreq.head */
    uint32_t value, value_len;
} hheader;

/* The request headers skiff reads, found in one pass over the head. */
typedef enum hknown {
    HK_HOST,
    HK_CONTENT_LENGTH,
    HK_TRANSFER_ENCODING,
    HK_EXPECT,
    HK_CONTENT_TYPE,
    HK_CONTENT_ENCODING,
    HK_INFERENCE_HEADER_CONTENT_LENGTH,
    HK_X_REQUEST_TIMEOUT_MS,
    HK_X_LOG_ID,
    HK_LOG_ID, /* Paddle clients' log_id header */
    HK_ACCEPT,
    HK_IF_NONE_MATCH,
    HK_COUNT
} hknown;

typedef enum hreq_state {
    HR_IDLE = 0, /* between requests */
    HR_HEAD,     /* the request line or headers are arriving */
    HR_BODY,     /* the head is in, the body is arriving */
    HR_HANDLING, /* complete, being answered */
    HR_QUEUED,   /* its job waits for an instance */
} hreq_state;

/* One request; lives in its connection and is reused by the next one. */
typedef struct hreq {
    skiff__server *s;
    struct hconn *c;
    hreq_state state;
    /* The head, copied out of the read buffer as it is parsed: each token
     * NUL-terminated. Offsets stay valid while it grows. */
    skiff__buf head;
    uint32_t url_off, url_len;
    hheader hdr[HTTP_MAX_HEADERS];
    int n_hdr;
    int last_cb; /* 0 none, 1 url, 2 field, 3 value */
    bool head_done;
    const char *known[HK_COUNT]; /* first value of each, or NULL */
    /* Set when the head is complete. */
    const char *method;
    char *path;        /* percent-decoded (%00 kept as is) */
    const char *query; /* after '?', or "" */
    bool is_head;      /* HEAD: answer without the body */
    uint64_t t0;
    uint64_t log_id;
    int64_t content_length; /* -1 none */
    bool expect_continue;
    skiff__buf body;

    /* Routing (routes.c). */
    int rid;   /* route id, 0 = no such path */
    int route; /* index into the route table when the method matches, else -1 */
    skiff__api api;
    skiff__served *sm;
    char model_name[160];
    bool bad_version;
    const struct skiff__asset *asset; /* GET /status/{file}, /openapi.json, the page at / */

    skiff__infer_call call;
    skiff__infer_result res; /* answers that are not inference */
    bool in_flight;          /* counted in s->in_flight */
    int status;              /* answered status, 0 until then */
    size_t resp_bytes;
} hreq;

/* One of the headers skiff reads (the first if sent twice), or NULL. */
static inline const char *skiff__http_known(const hreq *h, hknown k) { return h->known[k]; }

/* conn.c: answers the request: status line, Date, Content-Type,
 * Content-Length, the extra header lines (each ending in CRLF; may be NULL),
 * and `len` bytes of body (copied or sent before this returns). Keeps the
 * books: status counters, error and access log lines. res->msg, when not
 * empty on an error status, goes to the error log. */
void skiff__http_answer(hreq *h, const skiff__infer_result *res, const char *extra,
                        const char *data, size_t len);

/* conn.c: the connection's buffer for an answer's body (reset); it stays
 * untouched until the next request on the connection. */
skiff__buf *skiff__http_out(hreq *h);

/* conn.c: called on an instance thread when h's queued job is done. */
void skiff__http_job_done(void *user);

/* util.c: the reason phrase of a status ("Not Found"; "Unknown"). */
const char *skiff__http_reason(int status);
/* util.c: percent-decodes a path in place, except %00, which stays as it is:
 * a NUL would cut the path short of what the client asked for. */
void skiff__http_unescape(char *s);
/* util.c: a bounded writer for a response head (end leaves room for a NUL). */
typedef struct skiff__head_w {
    char *p, *end;
} skiff__head_w;
void skiff__hw_put(skiff__head_w *w, const char *s, size_t n);
void skiff__hw_lit(skiff__head_w *w, const char *s);
/* util.c: decimal digits of v into buf (no NUL); returns their count (<= 20). */
size_t skiff__u64_dec(char *buf, uint64_t v);

/* negotiate.c: one media type and how an Accept header weighs it. */
typedef struct skiff__media {
    const char *type, *subtype; /* "text", "html" (lower case) */
    int q;                      /* out: weight in thousandths (0..1000), -1 when no range matched */
    int spec;                   /* out: the deciding range: 3 type/subtype, 2 type/star,
                                   1 star/star, 0 none */
} skiff__media;
/* negotiate.c: weighs each of m[0..n) against an Accept header's value
 * (RFC 9110 12.5.1): the most specific matching range decides, malformed
 * elements are skipped. accept may be NULL (then nothing matches). */
void skiff__http_accept_weigh(const char *accept, skiff__media *m, int n);
/* negotiate.c: true when an Accept value names text/html (or text/star)
 * with a weight above 0 and at least application/json's: GET / then answers
 * the status page. NULL and star/star alone answer JSON. */
bool skiff__http_prefers_html(const char *accept);
/* negotiate.c: true when an If-None-Match value ("*" or a list of entity
 * tags, weak or not) holds etag (with its quotes). NULL never matches. */
bool skiff__http_etag_match(const char *if_none_match, const char *etag);

/* The status page's files and /openapi.json, embedded at build time from
 * src/serve/http/status/ (tools/embed_files.cmake writes the table). */
typedef struct skiff__asset {
    const char *name;  /* file name: "index.html" */
    const char *ctype; /* Content-Type */
    const char *etag;  /* a strong entity tag of the content, quotes included */
    const unsigned char *data;
    size_t len;
} skiff__asset;
extern const skiff__asset skiff__assets[];
extern const int skiff__n_assets;

/* routes.c: the head is in (h->method, h->path, h->query, headers): finds
 * the route. */
void skiff__http_route(hreq *h);
/* routes.c: the whole request is in: answers it (skiff__http_answer) or
 * queues its job (h->state = HR_QUEUED). */
void skiff__http_handle(hreq *h);
/* routes.c: logs the endpoints, from the route table (the startup summary). */
void skiff__http_log_routes(const skiff__server *s);
/* routes.c: a queued job is done: answers it. */
void skiff__http_resumed(hreq *h);
/* routes.c: an error answer in the format of h's API (from its route). */
void skiff__http_error(hreq *h, skiff_code_t code, int status, const char *extra, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

#endif
