/* http.c - the HTTP/1.1 frontend on libmicrohttpd.
 *
 * The acceptor (server.c) owns the listening socket and hands each HTTP
 * connection to one of N libmicrohttpd daemons, each an epoll I/O thread
 * without a listening socket of its own (libmicrohttpd ignores its thread
 * pool in that mode, so N daemons stand in for the pool). An I/O thread reads
 * the request, routes it, decodes the body into tensors (codec.h), and then
 * either runs the model inline - tiny models, an idle instance, nothing
 * queued - and answers in the same call, or queues the job, suspends the
 * connection, and answers when the instance resumes it. Encoding happens on
 * the I/O thread in both cases; instance threads only compute.
 *
 * Every response passes through respond(), which also keeps the counters and
 * writes the error and access log lines, so no path can answer uncounted.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <linux/tcp.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "serve/serve_int.h"
#include "skiff/skiff.h"

typedef enum api_kind {
    API_NONE = 0,
    API_PADDLE_WEB,
    API_PADDLE09,
    API_KSERVE,
} api_kind;

typedef enum route_id {
    R_NOT_FOUND = 0,
    R_ROOT,
    R_METRICS,
    R_V2,
    R_V2_LIVE,
    R_V2_READY,
    R_V2_ALL_STATS,
    R_V2_MODEL,
    R_V2_MODEL_READY,
    R_V2_MODEL_INFER,
    R_V2_MODEL_CONFIG,
    R_V2_MODEL_STATS,
    R_PADDLE_WEB,
    R_PADDLE09,
} route_id;

/* The route table: what each path does and which method it takes. */
static const struct {
    route_id id;
    const char *method;
    api_kind api;
    const char *pattern; /* for docs and 405 messages */
} routes[] = {
    {R_ROOT, "GET", API_NONE, "/"},
    {R_METRICS, "GET", API_NONE, "/metrics"},
    {R_V2, "GET", API_KSERVE, "/v2"},
    {R_V2_LIVE, "GET", API_KSERVE, "/v2/health/live"},
    {R_V2_READY, "GET", API_KSERVE, "/v2/health/ready"},
    {R_V2_ALL_STATS, "GET", API_KSERVE, "/v2/models/stats"},
    {R_V2_MODEL, "GET", API_KSERVE, "/v2/models/{m}[/versions/{v}]"},
    {R_V2_MODEL_READY, "GET", API_KSERVE, "/v2/models/{m}[/versions/{v}]/ready"},
    {R_V2_MODEL_INFER, "POST", API_KSERVE, "/v2/models/{m}[/versions/{v}]/infer"},
    {R_V2_MODEL_CONFIG, "GET", API_KSERVE, "/v2/models/{m}[/versions/{v}]/config"},
    {R_V2_MODEL_STATS, "GET", API_KSERVE, "/v2/models/{m}[/versions/{v}]/stats"},
    {R_PADDLE_WEB, "POST", API_PADDLE_WEB, "/{name}/prediction"},
    {R_PADDLE09, "POST", API_PADDLE09, "/GeneralModelService/inference"},
};

typedef enum req_state { RS_HEADERS = 0, RS_BODY, RS_QUEUED, RS_SUBMIT_FAILED } req_state;

struct hconn;

typedef struct hreq {
    skiff__server *s;
    struct hconn *hc;    /* the connection's context when this hreq lives in it */
    struct hconn *owner; /* the connection's context, wherever this hreq lives */
    struct MHD_Connection *conn;
    const char *method; /* borrowed from libmicrohttpd for the request's life */
    const char *url;
    int route; /* index into routes[], or -1 */
    route_id rid;
    api_kind api;
    skiff__served *sm;
    char model_name[160];
    bool bad_version;
    req_state state;
    uint64_t t0;
    uint64_t log_id;
    int64_t content_length; /* -1 unknown */
    skiff__buf body;
    skiff__infer_request *dec;
    skiff__job *job;
    skiff_status_t *submit_err;
    int status;      /* answered status, 0 until then */
    int pend_status; /* an error found mid-body, answered once the body ends */
    skiff_code_t pend_code;
    char pend_msg[160];
    size_t resp_bytes;
    bool in_flight;
    bool infer; /* an inference request: counted in its model's stats */
    enum MHD_Result inline_ret;
    bool model_counted;
} hreq;

/* Per connection, reused by its requests one after another (libmicrohttpd
 * handles a connection's requests strictly in turn): the request state, a job
 * for the model last used, and the response bytes. A keep-alive client then
 * costs no allocation of these per request. */
typedef struct hconn {
    hreq req;
    bool req_in_use;
    skiff__job *job;
    const skiff__served *job_model;
    skiff__buf out; /* body of the last answer; libmicrohttpd sends it from here */
    skiff__buf in;  /* a request body's buffer, kept for the next one when small */

    /* For the head watchdog; the list is guarded by the server's conns_mu. */
    struct hconn *prev, *next;
    int fd;
    _Atomic bool active;   /* a request's head has arrived; not answered yet */
    _Atomic uint32_t done; /* requests answered on this connection */
    uint32_t seen_done;    /* the watchdog's copy of done */
    bool primed;           /* the watchdog has looked at it once */
    bool cut;              /* the watchdog shut it down */
    uint64_t rx_base;      /* bytes received when the last request ended */
    uint64_t head_since;   /* when bytes of an unfinished head were first seen */
} hconn;

/* Request bodies up to this size leave their buffer to the connection's next
 * request, which then reads its body without a malloc. */
#define BODY_KEEP ((size_t)64 << 10)

/* A scratch buffer per I/O thread for small answers (errors, metadata),
 * freed when the thread ends. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static skiff__buf scratch_fallback; /* used only if the key cannot be made */

static void scratch_free(void *p)
{
    skiff__buf_free(p);
    skiff__free(p);
}

static void scratch_init(void)
{
    if (pthread_key_create(&scratch_key, scratch_free) != 0)
        scratch_key = (pthread_key_t)-1;
}

static skiff__buf *scratch(void)
{
    pthread_once(&scratch_once, scratch_init);
    if (scratch_key == (pthread_key_t)-1)
        return &scratch_fallback;
    skiff__buf *b = pthread_getspecific(scratch_key);
    if (!b) {
        b = skiff__calloc(1, sizeof(*b));
        if (!b || pthread_setspecific(scratch_key, b) != 0) {
            skiff__free(b);
            return &scratch_fallback;
        }
    }
    return b;
}

/* ---- small helpers ----------------------------------------------------------- */

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static void client_addr(struct MHD_Connection *c, char *buf, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, cap, "-");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)cap);
}

typedef enum resp_mem {
    RESP_COPY,       /* libmicrohttpd copies the bytes */
    RESP_TAKE,       /* skiff__malloc'd bytes libmicrohttpd frees */
    RESP_PERSISTENT, /* bytes that outlive the response (the connection's buffer) */
} resp_mem;

/* Queues a response with `len` bytes of body and keeps the books: status
 * counters, per-model outcome, error log line, access log line. */
static enum MHD_Result respond(hreq *h, int status, skiff_code_t code, const char *data, size_t len,
                               resp_mem mem, const char *ctype, const char *errmsg, size_t json_len)
{
    struct MHD_Response *r =
        mem == RESP_TAKE
            ? MHD_create_response_from_buffer_with_free_callback(len, (void *)data, skiff__free)
            : MHD_create_response_from_buffer(len, (void *)data,
                                              mem == RESP_COPY ? MHD_RESPMEM_MUST_COPY
                                                               : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (mem == RESP_TAKE)
            skiff__free((void *)data);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (json_len && json_len != len) {
        char n[32];
        snprintf(n, sizeof(n), "%zu", json_len);
        MHD_add_response_header(r, "Inference-Header-Content-Length", n);
    }
    if (status == 503 && code == SKIFF_CODE_RESOURCE_EXHAUSTED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (atomic_load_explicit(&h->s->draining, memory_order_relaxed))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(h->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    h->status = status;
    h->resp_bytes = len;
    int cls = status / 100;
    if (cls >= 1 && cls <= 5)
        atomic_fetch_add_explicit(&h->s->http_status[cls], 1, memory_order_relaxed);
    if (h->sm && h->infer && !h->model_counted) {
        h->model_counted = true;
        skiff__model_count_request(h->sm->model, code, skiff__now_ns() - h->t0);
    } else if (!h->sm && status == 404) {
        atomic_fetch_add_explicit(&h->s->unrouted, 1, memory_order_relaxed);
    }
    if (errmsg && status >= 400) {
        char peer[64];
        client_addr(h->conn, peer, sizeof(peer));
        skiff_log(status >= 500 ? SKIFF_LOG_ERROR : SKIFF_LOG_WARN,
                  "log_id=%llu %s %s %s -> %d %s: %s", (unsigned long long)h->log_id, peer,
                  h->method, h->url, status, skiff_code_name(code), errmsg);
    }
    return ret;
}

/* An error answer in the format of the request's API. */
static enum MHD_Result respond_error(hreq *h, skiff_code_t code, int status, const char *msg)
{
    skiff__buf *b = scratch();
    skiff__buf_reset(b);
    skiff_status_t *st;
    if (h->api == API_PADDLE_WEB) {
        st = skiff__encode_paddle_web_error(msg, b);
    } else if (h->api == API_PADDLE09) {
        int err_no = code == SKIFF_CODE_RESOURCE_EXHAUSTED                            ? -5001
                     : code == SKIFF_CODE_INVALID_ARG || code == SKIFF_CODE_NOT_FOUND ? -5100
                                                                                      : -5000;
        st = skiff__encode_paddle09_error(err_no, msg, b);
    } else {
        st = skiff__encode_error_json(msg, b);
    }
    if (st) {
        skiff_status_free(st);
        static const char fallback[] = "{\"error\":\"out of memory\"}";
        return respond(h, 500, SKIFF_CODE_RESOURCE_EXHAUSTED, fallback, sizeof(fallback) - 1,
                       RESP_COPY, "application/json", "out of memory encoding an error", 0);
    }
    return respond(h, status, code, b->data, b->len, RESP_COPY, "application/json", msg, 0);
}

static enum MHD_Result respond_status(hreq *h, skiff_status_t *st)
{
    skiff_code_t code = skiff_status_code(st);
    enum MHD_Result r =
        respond_error(h, code, skiff_code_http_status(code), skiff_status_message(st));
    skiff_status_free(st);
    return r;
}

static enum MHD_Result respond_errorf(hreq *h, skiff_code_t code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum MHD_Result respond_errorf(hreq *h, skiff_code_t code, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return respond_error(h, code, status, msg);
}

static enum MHD_Result respond_buf(hreq *h, int status, const char *ctype)
{
    skiff__buf *b = scratch();
    return respond(h, status, SKIFF_CODE_OK, b->data ? b->data : "", b->len, RESP_COPY, ctype, NULL,
                   0);
}

/* ---- routing ------------------------------------------------------------------ */

/* The request body is decoded (or refused): a connection keeps a small
 * buffer for its next request. */
static void body_release(hreq *h)
{
    if (h->hc && !h->hc->in.data && h->body.cap > 0 && h->body.cap <= BODY_KEEP) {
        skiff__buf_reset(&h->body);
        h->hc->in = h->body;
        h->body = (skiff__buf){0};
    } else {
        skiff__buf_free(&h->body);
    }
}

/* Copies a path segment into a NUL-terminated name, cut to fit. */
static void seg_copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static bool seg_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* Splits the path into at most 8 segments. */
static int split_path(const char *url, const char *seg[8], size_t len[8])
{
    int n = 0;
    const char *p = url;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        if (n == 8)
            return 9;
        seg[n] = p;
        len[n] = (size_t)(e - p);
        n++;
        p = e;
    }
    return n;
}

static route_id match(hreq *h, const char *url)
{
    const char *seg[8];
    size_t len[8];
    int n = split_path(url, seg, len);
    if (n == 0)
        return R_ROOT;
    if (n == 1 && seg_eq(seg[0], len[0], "metrics"))
        return R_METRICS;
    if (seg_eq(seg[0], len[0], "v2")) {
        if (n == 1)
            return R_V2;
        if (n == 3 && seg_eq(seg[1], len[1], "health")) {
            if (seg_eq(seg[2], len[2], "live"))
                return R_V2_LIVE;
            if (seg_eq(seg[2], len[2], "ready"))
                return R_V2_READY;
            return R_NOT_FOUND;
        }
        if (n >= 3 && seg_eq(seg[1], len[1], "models")) {
            if (n == 3 && seg_eq(seg[2], len[2], "stats"))
                return R_V2_ALL_STATS;
            seg_copy(h->model_name, sizeof(h->model_name), seg[2], len[2]);
            h->sm = skiff__server_find(h->s, seg[2], len[2]);
            int k = 3;
            if (n >= 5 && seg_eq(seg[3], len[3], "versions")) {
                /* One version per model, called "1" (Triton's default). */
                h->bad_version = !seg_eq(seg[4], len[4], "1");
                k = 5;
            }
            if (n == k)
                return R_V2_MODEL;
            if (n == k + 1) {
                if (seg_eq(seg[k], len[k], "ready"))
                    return R_V2_MODEL_READY;
                if (seg_eq(seg[k], len[k], "infer"))
                    return R_V2_MODEL_INFER;
                if (seg_eq(seg[k], len[k], "config"))
                    return R_V2_MODEL_CONFIG;
                if (seg_eq(seg[k], len[k], "stats"))
                    return R_V2_MODEL_STATS;
            }
        }
        return R_NOT_FOUND;
    }
    if (n == 2 && seg_eq(seg[0], len[0], "GeneralModelService") &&
        seg_eq(seg[1], len[1], "inference"))
        return R_PADDLE09;
    if (n == 2 && seg_eq(seg[1], len[1], "prediction")) {
        seg_copy(h->model_name, sizeof(h->model_name), seg[0], len[0]);
        h->sm = skiff__server_find(h->s, seg[0], len[0]);
        return R_PADDLE_WEB;
    }
    return R_NOT_FOUND;
}

/* ---- JSON building for the small GET answers --------------------------------- */

static bool put(skiff__buf *b, const char *s) { return skiff__buf_append(b, s, strlen(s)); }

static bool putf(skiff__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool putf(skiff__buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < sizeof(tmp) && skiff__buf_append(b, tmp, (size_t)n);
}

static bool put_str(skiff__buf *b, const char *s)
{
    return skiff__buf_json_string(b, s, strlen(s));
}

static const char *triton_type(skiff_dtype_t t)
{
    switch (t) {
    case SKIFF_DTYPE_BOOL: return "TYPE_BOOL";
    case SKIFF_DTYPE_UINT8: return "TYPE_UINT8";
    case SKIFF_DTYPE_UINT16: return "TYPE_UINT16";
    case SKIFF_DTYPE_UINT32: return "TYPE_UINT32";
    case SKIFF_DTYPE_UINT64: return "TYPE_UINT64";
    case SKIFF_DTYPE_INT8: return "TYPE_INT8";
    case SKIFF_DTYPE_INT16: return "TYPE_INT16";
    case SKIFF_DTYPE_INT32: return "TYPE_INT32";
    case SKIFF_DTYPE_INT64: return "TYPE_INT64";
    case SKIFF_DTYPE_FLOAT16: return "TYPE_FP16";
    case SKIFF_DTYPE_FLOAT32: return "TYPE_FP32";
    case SKIFF_DTYPE_FLOAT64: return "TYPE_FP64";
    case SKIFF_DTYPE_STRING: return "TYPE_STRING";
    case SKIFF_DTYPE_BFLOAT16: return "TYPE_BF16";
    default: return "TYPE_INVALID";
    }
}

/* [-1,13]: the var's full shape, batch dim first when batched. */
static bool put_var_shape(skiff__buf *b, const skiff__model_var *v, bool with_batch)
{
    bool ok = put(b, "[");
    bool first = true;
    if (with_batch && v->batched) {
        ok = ok && putf(b, "%lld", (long long)v->fixed_batch);
        first = false;
    }
    for (int i = 0; ok && i < v->ndim; i++) {
        ok = putf(b, "%s%lld", first ? "" : ",", (long long)v->dims[i]);
        first = false;
    }
    if (v->ndim < 0 && !with_batch)
        ok = ok && put(b, "-1");
    return ok && put(b, "]");
}

static bool put_tensor_list(skiff__buf *b, const skiff__model_var *vars, int n)
{
    bool ok = put(b, "[");
    for (int i = 0; ok && i < n; i++) {
        const char *dt = skiff_dtype_kserve_name(vars[i].dtype);
        ok = put(b, i ? ",{\"name\":" : "{\"name\":") && put_str(b, vars[i].alias) &&
             put(b, ",\"datatype\":") && put_str(b, dt ? dt : "UNKNOWN") && put(b, ",\"shape\":") &&
             put_var_shape(b, &vars[i], true) && put(b, "}");
    }
    return ok && put(b, "]");
}

static bool build_model_meta(skiff__buf *b, const skiff__served *sm)
{
    const skiff__model_desc *d = sm->d;
    return put(b, "{\"name\":") && put_str(b, d->name) &&
           put(b, ",\"versions\":[\"1\"],\"platform\":\"skiff_onnx\",\"inputs\":") &&
           put_tensor_list(b, d->feed, d->n_feed) && put(b, ",\"outputs\":") &&
           put_tensor_list(b, d->fetch, d->n_fetch) && put(b, "}");
}

static bool put_config_io(skiff__buf *b, const skiff__model_var *vars, int n, bool batched_model)
{
    bool ok = put(b, "[");
    for (int i = 0; ok && i < n; i++) {
        const skiff__model_var *v = &vars[i];
        ok = put(b, i ? ",{\"name\":" : "{\"name\":") && put_str(b, v->alias) &&
             putf(b, ",\"data_type\":\"%s\",\"dims\":", triton_type(v->dtype)) &&
             put_var_shape(b, v, !batched_model) &&
             (!v->is_lod || put(b, ",\"allow_ragged_batch\":true")) && put(b, "}");
    }
    return ok && put(b, "]");
}

static bool build_model_config(skiff__buf *b, const skiff__served *sm)
{
    const skiff__model_desc *d = sm->d;
    /* Triton's convention: max_batch_size > 0 means dims leave out the batch. */
    bool batched = d->mergeable;
    bool ok = put(b, "{\"name\":") && put_str(b, d->name) &&
              put(b, ",\"platform\":\"skiff_onnx\",\"backend\":\"skiff\"") &&
              putf(b, ",\"max_batch_size\":%d,\"input\":", batched ? d->max_batch : 0) &&
              put_config_io(b, d->feed, d->n_feed, batched) && put(b, ",\"output\":") &&
              put_config_io(b, d->fetch, d->n_fetch, batched) &&
              putf(b, ",\"instance_group\":[{\"count\":%d,\"kind\":\"KIND_CPU\"}]", d->instances);
    if (ok && batched)
        ok = putf(b, ",\"dynamic_batching\":{\"max_queue_delay_microseconds\":%d}",
                  d->max_queue_delay_us);
    return ok && putf(b,
                      ",\"parameters\":{\"intra_op_threads\":{\"string_value\":\"%d\"},"
                      "\"inline\":{\"string_value\":\"%s\"}}}",
                      d->threads, d->inline_ok ? "true" : "false");
}

static bool put_stat(skiff__buf *b, const char *name, uint64_t count, uint64_t ns, bool comma)
{
    return putf(b, "%s\"%s\":{\"count\":%llu,\"ns\":%llu}", comma ? "," : "", name,
                (unsigned long long)count, (unsigned long long)ns);
}

static bool build_model_stats(skiff__buf *b, skiff__served *sm)
{
    skiff__model_stats *st = skiff__model_get_stats(sm->model);
#define L(x) atomic_load_explicit(&st->x, memory_order_relaxed)
    uint64_t ok_n = L(req_by_code[SKIFF_CODE_OK]), fail_n = 0;
    for (int i = 1; i < 10; i++)
        fail_n += L(req_by_code[i]);
    bool ok = put(b, "{\"name\":") && put_str(b, sm->d->name) &&
              putf(b,
                   ",\"version\":\"1\",\"last_inference\":%llu,\"inference_count\":%llu,"
                   "\"execution_count\":%llu,\"inference_stats\":{",
                   (unsigned long long)L(last_inference_ms), (unsigned long long)L(inference_count),
                   (unsigned long long)L(execution_count)) &&
              put_stat(b, "success", ok_n, L(success_ns), false) &&
              put_stat(b, "fail", fail_n, L(fail_ns), true) &&
              put_stat(b, "queue", L(queue_count), L(queue_ns), true) &&
              put_stat(b, "compute_input", L(compute_count), 0, true) &&
              put_stat(b, "compute_infer", L(compute_count), L(compute_ns), true) &&
              put_stat(b, "compute_output", L(compute_count), 0, true) &&
              put(b, "},\"batch_stats\":[]}");
#undef L
    return ok;
}

/* ---- GET endpoints --------------------------------------------------------------- */

static enum MHD_Result oom_answer(hreq *h)
{
    return respond_errorf(h, SKIFF_CODE_RESOURCE_EXHAUSTED, 500, "out of memory");
}

static enum MHD_Result handle_get(hreq *h)
{
    skiff__server *s = h->s;
    skiff__buf *b = scratch();
    skiff__buf_reset(b);
    bool ready = atomic_load(&s->ready) && !atomic_load(&s->draining);
    switch (h->rid) {
    case R_ROOT: {
        bool ok = putf(b, "{\"name\":\"skiff\",\"version\":\"%s\",\"models\":[", SKIFF_VERSION);
        for (int i = 0; ok && i < s->n_models; i++)
            ok = (i == 0 || put(b, ",")) && put_str(b, s->models[i].d->name);
        ok = ok && put(b, "],\"endpoints\":[\"POST /{model}/prediction\","
                          "\"POST /GeneralModelService/inference\",\"GET /v2\","
                          "\"GET /v2/health/live\",\"GET /v2/health/ready\","
                          "\"GET /v2/models/{model}\",\"GET /v2/models/{model}/ready\","
                          "\"POST /v2/models/{model}/infer\",\"GET /v2/models/{model}/config\","
                          "\"GET /v2/models/{model}/stats\",\"GET /metrics\"]}");
        return ok ? respond_buf(h, 200, "application/json") : oom_answer(h);
    }
    case R_METRICS:
        if (!skiff__metrics_render(s, b))
            return oom_answer(h);
        return respond_buf(h, 200, "text/plain; version=0.0.4; charset=utf-8");
    case R_V2:
        return putf(b,
                    "{\"name\":\"skiff\",\"version\":\"%s\",\"extensions\":["
                    "\"binary_tensor_data\",\"model_configuration\",\"statistics\"]}",
                    SKIFF_VERSION)
                   ? respond_buf(h, 200, "application/json")
                   : oom_answer(h);
    case R_V2_LIVE: return respond_buf(h, 200, "application/json");
    case R_V2_READY:
        if (!ready)
            return respond_errorf(h, SKIFF_CODE_UNAVAILABLE, 503, "server is %s",
                                  atomic_load(&s->draining) ? "shutting down" : "starting");
        return respond_buf(h, 200, "application/json");
    case R_V2_ALL_STATS: {
        bool ok = put(b, "{\"model_stats\":[");
        for (int i = 0; ok && i < s->n_models; i++)
            ok = (i == 0 || put(b, ",")) && build_model_stats(b, &s->models[i]);
        ok = ok && put(b, "]}");
        return ok ? respond_buf(h, 200, "application/json") : oom_answer(h);
    }
    default: break;
    }
    /* Per-model GETs. */
    skiff__served *sm = h->sm;
    switch (h->rid) {
    case R_V2_MODEL:
        return build_model_meta(b, sm) ? respond_buf(h, 200, "application/json") : oom_answer(h);
    case R_V2_MODEL_READY:
        if (!ready)
            return respond_errorf(
                h, SKIFF_CODE_UNAVAILABLE, 503, "model '%s' is not ready: %s", sm->d->name,
                atomic_load(&s->draining) ? "server is shutting down" : "server is starting");
        return respond_buf(h, 200, "application/json");
    case R_V2_MODEL_CONFIG:
        return build_model_config(b, sm) ? respond_buf(h, 200, "application/json") : oom_answer(h);
    case R_V2_MODEL_STATS: {
        bool ok = put(b, "{\"model_stats\":[") && build_model_stats(b, sm) && put(b, "]}");
        return ok ? respond_buf(h, 200, "application/json") : oom_answer(h);
    }
    default: return respond_errorf(h, SKIFF_CODE_INTERNAL, 500, "unhandled route");
    }
}

/* ---- inference ------------------------------------------------------------------ */

static bool parse_u64(const char *s, uint64_t *out)
{
    int64_t v;
    if (!s || !skiff__parse_i64(s, &v) || v < 0)
        return false;
    *out = (uint64_t)v;
    return true;
}

/* Paddle 0.9 without ?model=: the request's "model" field names the model,
 * or the first one serves (the rule for several models). */
static const skiff__model_io *pick_model(void *user, const char *model, skiff_status_t **out_st)
{
    hreq *h = user;
    if (!model) {
        h->sm = &h->s->models[0];
    } else if (!(h->sm = skiff__server_find(h->s, model, strlen(model)))) {
        *out_st = skiff_status_new(SKIFF_CODE_NOT_FOUND, "unknown model '%.*s'", 128, model);
        return NULL;
    }
    return &h->sm->io;
}

static skiff_status_t *decode(hreq *h, skiff__infer_request **out)
{
    const char *body = h->body.data ? h->body.data : "";
    size_t len = h->body.len;
    switch (h->api) {
    case API_PADDLE_WEB: return skiff__decode_paddle_web(body, len, &h->sm->io, &h->s->limits, out);
    case API_PADDLE09: {
        const char *ct = header(h->conn, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (ct && strncmp(ct, "application/proto", 17) == 0)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "Content-Type %s is not supported yet: send the Request as "
                                    "JSON (application/json)",
                                    ct);
        if (!h->sm) /* the body's "model" field picks one */
            return skiff__decode_paddle09_pick(body, len, pick_model, h, &h->s->limits, out);
        return skiff__decode_paddle09(body, len, &h->sm->io, &h->s->limits, out);
    }
    case API_KSERVE: {
        int64_t hl = -1;
        const char *v = header(h->conn, "Inference-Header-Content-Length");
        if (v && (!skiff__parse_i64(v, &hl) || hl < 0 || (uint64_t)hl > len))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "Inference-Header-Content-Length '%s' is not a length within "
                                    "the %zu-byte body",
                                    v, len);
        return skiff__decode_kserve(body, len, hl, &h->sm->io, &h->s->limits, out);
    }
    default: return skiff_status_new(SKIFF_CODE_INTERNAL, "no decoder for this route");
    }
}

static void job_done(skiff__job *job, void *user)
{
    hreq *h = user;
    /* The I/O thread calls the handler again once resumed and answers there. */
    MHD_resume_connection(h->conn);
}

/* Output k of the model is in the answer (and as binary?) */
static int collect_outputs(hreq *h, skiff__infer_output *outs, int cap)
{
    const skiff__model_desc *d = h->sm->d;
    skiff__job *job = h->job;
    int n = 0;
    if (h->dec->n_outputs > 0) {
        for (int i = 0; i < h->dec->n_outputs && n < cap; i++) {
            int k = h->dec->outputs[i].spec;
            if (k < 0 || k >= d->n_fetch || !job->outputs[k])
                continue;
            outs[n++] = (skiff__infer_output){.name = d->fetch[k].name,
                                              .alias = d->fetch[k].alias,
                                              .tensor = job->outputs[k],
                                              .lod = job->out_lod[k],
                                              .n_lod = job->n_out_lod[k],
                                              /* the decoder merged binary_data_output
                                                 in, and "binary_data": false wins */
                                              .binary = h->dec->outputs[i].binary};
        }
    } else {
        for (int k = 0; k < d->n_fetch && n < cap; k++) {
            if (!job->outputs[k])
                continue;
            outs[n++] = (skiff__infer_output){.name = d->fetch[k].name,
                                              .alias = d->fetch[k].alias,
                                              .tensor = job->outputs[k],
                                              .lod = job->out_lod[k],
                                              .n_lod = job->n_out_lod[k],
                                              .binary = h->dec->binary_output_all};
        }
    }
    return n;
}

static enum MHD_Result answer_job(hreq *h)
{
    skiff__job *job = h->job;
    if (job->status) {
        skiff_status_t *st = job->status;
        job->status = NULL;
        return respond_status(h, skiff_status_wrap(st, "model '%s'", h->sm->d->name));
    }
    skiff__infer_output outs_small[16];
    skiff__infer_output *outs = outs_small;
    int cap = h->sm->d->n_fetch + (h->dec->n_outputs > 0 ? h->dec->n_outputs : 0);
    if (cap > 16) {
        outs = skiff__calloc((size_t)cap, sizeof(*outs));
        if (!outs)
            return oom_answer(h);
    }
    int n = collect_outputs(h, outs, cap);
    /* The connection's buffer when there is one (the previous answer on it is
     * sent by now); a fresh one handed to libmicrohttpd otherwise. */
    skiff__buf own = {0};
    skiff__buf *b = h->hc ? &h->hc->out : &own;
    if (h->hc && b->cap > ((size_t)1 << 20))
        skiff__buf_free(b); /* do not pin a huge answer's memory to the connection */
    skiff__buf_reset(b);
    size_t json_len = 0;
    skiff_status_t *st;
    switch (h->api) {
    case API_PADDLE_WEB: st = skiff__encode_paddle_web(outs, n, b); break;
    case API_PADDLE09: st = skiff__encode_paddle09(outs, n, h->log_id, b); break;
    default:
        st = skiff__encode_kserve(h->sm->d->name, "1", h->dec->id, outs, n, b, &json_len);
        break;
    }
    if (outs != outs_small)
        skiff__free(outs);
    if (st) {
        skiff__buf_free(&own);
        return respond_status(h, st);
    }
    bool binary = h->api == API_KSERVE && json_len != b->len;
    const char *ctype = binary ? "application/octet-stream" : "application/json";
    if (h->hc)
        return respond(h, 200, SKIFF_CODE_OK, b->data ? b->data : "", b->len, RESP_PERSISTENT,
                       ctype, NULL, binary ? json_len : 0);
    size_t len = own.len;
    char *data = own.data ? own.data : skiff__strdup("");
    if (!data)
        return oom_answer(h);
    return respond(h, 200, SKIFF_CODE_OK, data, len, RESP_TAKE, ctype, NULL, binary ? json_len : 0);
}

/* run_inline's callback: encode while the outputs still sit in the borrowed
 * context, which saves copying them. */
static void inline_answer(skiff__job *job, void *user)
{
    hreq *h = user;
    h->inline_ret = answer_job(h);
}

static enum MHD_Result start_infer(hreq *h)
{
    skiff__server *s = h->s;
    if (h->api == API_PADDLE09 && !h->sm) {
        /* ?model= picks the model; without it the body's "model" field does,
         * while it is decoded (pick_model), or the first model serves. */
        const char *q = MHD_lookup_connection_value(h->conn, MHD_GET_ARGUMENT_KIND, "model");
        if (q && q[0] && !(h->sm = skiff__server_find(s, q, strlen(q))))
            return respond_errorf(h, SKIFF_CODE_NOT_FOUND, 404, "unknown model '%.128s'", q);
    }
    if (h->sm) {
        h->infer = true;
        atomic_fetch_add_explicit(&skiff__model_get_stats(h->sm->model)->in_flight, 1,
                                  memory_order_relaxed);
    }
    skiff_status_t *st = decode(h, &h->dec);
    if (h->sm && !h->infer) { /* picked while decoding */
        h->infer = true;
        atomic_fetch_add_explicit(&skiff__model_get_stats(h->sm->model)->in_flight, 1,
                                  memory_order_relaxed);
    }
    if (st)
        return respond_status(h, st);
    skiff__served *sm = h->sm;
    /* The decoded request is self-contained: the body can go. */
    body_release(h);
    if (h->dec->log_id)
        h->log_id = h->dec->log_id;
    if (h->hc && h->hc->job && h->hc->job_model == sm) {
        h->job = h->hc->job;
        h->hc->job = NULL;
    } else if ((st = skiff__job_new(sm->model, &h->job))) {
        return respond_status(h, st);
    }
    skiff__job *job = h->job;
    for (int i = 0; i < h->dec->n_inputs; i++) {
        int k = h->dec->inputs[i].spec;
        if (k < 0 || k >= sm->d->n_feed)
            return respond_errorf(h, SKIFF_CODE_INVALID_ARG, 400, "unknown input '%s'",
                                  h->dec->inputs[i].name);
        if (job->inputs[k])
            return respond_errorf(h, SKIFF_CODE_INVALID_ARG, 400, "input '%s' is given twice",
                                  sm->d->feed[k].alias);
        job->inputs[k] = h->dec->inputs[i].tensor;
        job->lod[k] = h->dec->inputs[i].lod;
        job->n_lod[k] = h->dec->inputs[i].n_lod;
    }
    for (int i = 0; i < h->dec->n_outputs; i++) {
        int k = h->dec->outputs[i].spec;
        if (k >= 0 && k < sm->d->n_fetch)
            job->want[k] = true;
    }
    /* Deadline: header, then the request's own parameter, then the default. */
    int64_t timeout_us = 0;
    const char *th = header(h->conn, "X-Request-Timeout-Ms");
    if (th) {
        int64_t ms;
        if (!skiff__parse_i64(th, &ms) || ms <= 0 || ms > (int64_t)1 << 40)
            return respond_errorf(h, SKIFF_CODE_INVALID_ARG, 400,
                                  "X-Request-Timeout-Ms '%s' is not a positive number of "
                                  "milliseconds",
                                  th);
        timeout_us = ms * 1000;
    } else if (h->dec->timeout_us > 0) {
        timeout_us = h->dec->timeout_us;
    } else if (s->cfg->timeout_ms > 0) {
        timeout_us = s->cfg->timeout_ms * 1000;
    }
    job->deadline_ns = timeout_us > 0 ? h->t0 + (uint64_t)timeout_us * 1000 : 0;
    job->log_id = h->log_id;
    job->done = job_done;
    job->user = h;
    if ((st = skiff__model_check_job(sm->model, job)))
        return respond_status(h, st);
    if (skiff__model_run_inline(sm->model, job, inline_answer, h))
        return h->inline_ret;
    h->state = RS_QUEUED;
    MHD_suspend_connection(h->conn);
    st = skiff__model_submit(sm->model, job);
    if (st) {
        h->state = RS_SUBMIT_FAILED;
        h->submit_err = st;
        MHD_resume_connection(h->conn);
    }
    return MHD_YES;
}

/* ---- the libmicrohttpd callbacks ------------------------------------------------------ */

static enum MHD_Result on_request(hreq *h)
{
    skiff__server *s = h->s;
    if (h->route < 0) {
        if (h->rid != R_NOT_FOUND) {
            /* Known path, wrong method. */
            const char *allow = "GET";
            for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
                if (routes[i].id == h->rid)
                    allow = routes[i].method;
            return respond_errorf(h, SKIFF_CODE_INVALID_ARG, 405,
                                  "%s is not allowed on %s (use %s)", h->method, h->url, allow);
        }
        return respond_errorf(h, SKIFF_CODE_NOT_FOUND, 404,
                              "no endpoint %s %s (GET / lists the endpoints)", h->method, h->url);
    }
    bool per_model = h->rid >= R_V2_MODEL && h->rid <= R_PADDLE_WEB;
    if (per_model && !h->sm) {
        char names[512];
        size_t off = 0;
        names[0] = '\0';
        for (int i = 0; i < s->n_models && off + 1 < sizeof(names); i++)
            off += (size_t)snprintf(names + off, sizeof(names) - off, "%s'%s'", i ? ", " : "",
                                    s->models[i].d->name);
        return respond_errorf(h, SKIFF_CODE_NOT_FOUND, 404, "unknown model '%s' (serving %s)",
                              h->model_name, names);
    }
    if (per_model && h->bad_version)
        return respond_errorf(h, SKIFF_CODE_NOT_FOUND, 404, "model '%s' has only version \"1\"",
                              h->model_name);
    if (strcmp(routes[h->route].method, "POST") == 0) {
        if (atomic_load(&s->draining))
            return respond_errorf(h, SKIFF_CODE_UNAVAILABLE, 503,
                                  "server is shutting down; retry on another replica");
        int status = 0;
        skiff_status_t *st =
            skiff__decode_content(header(h->conn, MHD_HTTP_HEADER_CONTENT_ENCODING), &h->body,
                                  s->cfg->max_body_size, &status);
        if (st) {
            enum MHD_Result r =
                respond_error(h, skiff_status_code(st), status, skiff_status_message(st));
            skiff_status_free(st);
            return r;
        }
        return start_infer(h);
    }
    return handle_get(h);
}

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    skiff__server *s = cls;
    hreq *h = *con_cls;
    if (!h) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        hconn *hc = ci ? ci->socket_context : NULL;
        if (hc && !hc->req_in_use) {
            h = &hc->req;
            memset(h, 0, sizeof(*h));
            h->hc = hc;
            hc->req_in_use = true;
            h->body = hc->in; /* empty, with the last body's memory */
            hc->in = (skiff__buf){0};
        } else {
            h = skiff__calloc(1, sizeof(*h));
            if (!h)
                return MHD_NO;
        }
        *con_cls = h;
        h->owner = hc;
        if (hc)
            atomic_store_explicit(&hc->active, true, memory_order_relaxed);
        h->s = s;
        h->conn = conn;
        h->method = method;
        h->url = url;
        h->t0 = skiff__now_ns();
        h->content_length = -1;
        h->in_flight = true;
        atomic_fetch_add(&s->in_flight, 1);
        uint64_t lid;
        const char *lh = header(conn, "X-Log-Id");
        if (!lh)
            lh = header(conn, "log_id");
        h->log_id = parse_u64(lh, &lid) ? lid : atomic_fetch_add(&s->log_seq, 1) + 1;
        h->rid = match(h, url);
        h->route = -1;
        bool head = strcmp(method, "HEAD") == 0;
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
            if (routes[i].id == h->rid) {
                h->api = routes[i].api;
                if (!strcmp(routes[i].method, method) || (head && !strcmp(routes[i].method, "GET")))
                    h->route = (int)i;
            }
        }
        /* libmicrohttpd bounds headers by its memory pool; this makes the
         * limit the one the user set. */
        size_t hsize = strlen(method) + strlen(url) + 12;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_header, &hsize);
        if (hsize > (size_t)s->cfg->max_header_size)
            return respond_errorf(h, SKIFF_CODE_INVALID_ARG, 431,
                                  "request line and headers of about %zu bytes are larger than "
                                  "--max_header_size %d",
                                  hsize, s->cfg->max_header_size);
        /* RFC 9112 3.2: an HTTP/1.1 request without Host gets 400. */
        if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && !header(conn, MHD_HTTP_HEADER_HOST))
            return respond_error(h, SKIFF_CODE_INVALID_ARG, 400,
                                 "HTTP/1.1 request without a Host header");
        const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t v;
        if (cl && skiff__parse_i64(cl, &v))
            h->content_length = v;
        if (h->content_length > s->cfg->max_body_size)
            return respond_errorf(h, SKIFF_CODE_INVALID_ARG, 413,
                                  "request body of %lld bytes is larger than --max_body_size %lld",
                                  (long long)h->content_length, (long long)s->cfg->max_body_size);
        h->state = RS_BODY;
        return MHD_YES;
    }
    if (h->status)
        return MHD_YES; /* answered early (413 on Content-Length) */
    if (h->state == RS_BODY && *upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        uint64_t took = skiff__now_ns() - h->t0;
        uint64_t limit = (uint64_t)s->cfg->request_timeout_s * 1000000000ull;
        /* libmicrohttpd cannot answer in the middle of a body: remember the
         * error, drop the rest, answer at its end - or hang up on a client
         * that keeps trickling long past the limit. */
        if (h->pend_status)
            return took > 2 * limit ? MHD_NO : MHD_YES;
        if ((int64_t)(h->body.len + n) > s->cfg->max_body_size) {
            h->pend_status = 413;
            h->pend_code = SKIFF_CODE_INVALID_ARG;
            snprintf(h->pend_msg, sizeof(h->pend_msg),
                     "request body is larger than --max_body_size %lld",
                     (long long)s->cfg->max_body_size);
            skiff__buf_free(&h->body);
            return MHD_YES;
        }
        if (took > limit) {
            h->pend_status = 408;
            h->pend_code = SKIFF_CODE_DEADLINE_EXCEEDED;
            snprintf(h->pend_msg, sizeof(h->pend_msg),
                     "request body not received within --request_timeout_s %d",
                     s->cfg->request_timeout_s);
            skiff__buf_free(&h->body);
            return MHD_YES;
        }
        if (h->body.len == 0 && h->content_length > 0 &&
            !skiff__buf_reserve(&h->body, (size_t)h->content_length))
            return oom_answer(h);
        if (!skiff__buf_append(&h->body, upload_data, n))
            return oom_answer(h);
        return MHD_YES;
    }
    switch (h->state) {
    case RS_BODY:
        if (h->pend_status)
            return respond_error(h, h->pend_code, h->pend_status, h->pend_msg);
        return on_request(h);
    case RS_QUEUED: return answer_job(h);
    case RS_SUBMIT_FAILED: {
        skiff_status_t *st = h->submit_err;
        h->submit_err = NULL;
        return respond_status(h, st);
    }
    default: return MHD_NO;
    }
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    skiff__server *s = cls;
    hreq *h = *con_cls;
    if (!h)
        return;
    *con_cls = NULL;
    if (s->cfg->access_log) {
        char peer[64];
        client_addr(conn, peer, sizeof(peer));
        skiff_log(SKIFF_LOG_INFO, "access %s \"%s %s\" %d %zu %.3fms log_id=%llu%s", peer,
                  h->method, h->url, h->status, h->resp_bytes,
                  (double)(skiff__now_ns() - h->t0) / 1e6, (unsigned long long)h->log_id,
                  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection failed)");
    }
    if (h->sm && h->infer) {
        if (!h->model_counted)
            skiff__model_count_request(h->sm->model, SKIFF_CODE_CANCELLED, skiff__now_ns() - h->t0);
        atomic_fetch_sub_explicit(&skiff__model_get_stats(h->sm->model)->in_flight, 1,
                                  memory_order_relaxed);
    }
    hconn *hc = h->hc;
    if (hc && h->job && !hc->job) {
        /* Keep the job for the connection's next request. */
        skiff__job_clear(h->job);
        hc->job = h->job;
        hc->job_model = h->sm;
        h->job = NULL;
    }
    skiff__job_free(h->job);
    skiff__infer_request_free(h->dec);
    skiff_status_free(h->submit_err);
    body_release(h);
    if (h->in_flight)
        atomic_fetch_sub(&s->in_flight, 1);
    if (h->owner) {
        atomic_store_explicit(&h->owner->active, false, memory_order_relaxed);
        atomic_fetch_add_explicit(&h->owner->done, 1, memory_order_release);
    }
    if (hc)
        hc->req_in_use = false;
    else
        skiff__free(h);
}

static void conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    skiff__server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&s->connections, 1);
        /* Without memory for it, requests fall back to their own state (and
         * the connection to the idle timeout alone). */
        hconn *hc = skiff__calloc(1, sizeof(hconn));
        *socket_context = hc;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (hc && ci) {
            hc->fd = ci->connect_fd;
            pthread_mutex_lock(&s->conns_mu);
            hc->next = s->conns;
            if (s->conns)
                s->conns->prev = hc;
            s->conns = hc;
            pthread_mutex_unlock(&s->conns_mu);
        } else if (hc) {
            hc->fd = -1;
        }
    } else {
        atomic_fetch_sub(&s->connections, 1);
        hconn *hc = *socket_context;
        if (hc && hc->fd >= 0) {
            /* libmicrohttpd closes the socket after this returns, so the
             * watchdog never shuts down a descriptor that was reused. */
            pthread_mutex_lock(&s->conns_mu);
            if (hc->prev)
                hc->prev->next = hc->next;
            else
                s->conns = hc->next;
            if (hc->next)
                hc->next->prev = hc->prev;
            pthread_mutex_unlock(&s->conns_mu);
        }
        if (hc) {
            skiff__job_free(hc->job);
            skiff__buf_free(&hc->out);
            skiff__buf_free(&hc->in);
            skiff__free(hc);
            *socket_context = NULL;
        }
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    if (!SKIFF_LOG_ON(SKIFF_LOG_DEBUG))
        return;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    skiff_log(SKIFF_LOG_DEBUG, "http: %s", msg);
}

/* ---- the head watchdog -------------------------------------------------------------- */

/* libmicrohttpd's timeout restarts with every byte, so a client sending its
 * headers a byte at a time would hold a connection forever. The watchdog
 * looks at every idle connection (no request being handled) a few times per
 * --request_timeout_s: once the kernel shows bytes received since the last
 * answer, a head is on its way, and if it has not become a request within
 * --request_timeout_s the socket is shut down (libmicrohttpd then closes it). */
static uint64_t rx_bytes(int fd, bool *ok)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    *ok = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
          len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received);
    return *ok ? ti.tcpi_bytes_received : 0;
}

static void watch_one(skiff__server *s, hconn *hc, uint64_t now, uint64_t limit)
{
    if (hc->cut)
        return;
    if (atomic_load_explicit(&hc->active, memory_order_relaxed)) {
        hc->head_since = 0;
        return;
    }
    bool ok;
    uint64_t rx = rx_bytes(hc->fd, &ok);
    if (!ok)
        return; /* not TCP (tests hand over socket pairs) */
    uint32_t d = atomic_load_explicit(&hc->done, memory_order_acquire);
    if (!hc->primed || d != hc->seen_done) {
        /* A new connection counts every byte; after an answer, the bytes
         * already in are the last request's (or a pipelined head). */
        hc->rx_base = hc->primed || d > 0 ? rx : 0;
        hc->primed = true;
        hc->seen_done = d;
        hc->head_since = 0;
    }
    if (rx <= hc->rx_base)
        return;
    if (!hc->head_since) {
        hc->head_since = now;
        return;
    }
    if (now - hc->head_since > limit) {
        hc->cut = true;
        shutdown(hc->fd, SHUT_RDWR);
        atomic_fetch_add(&s->conn_head_timeout, 1);
        skiff_log(SKIFF_LOG_WARN,
                  "closed a connection whose request head was still arriving after "
                  "--request_timeout_s %d",
                  s->cfg->request_timeout_s);
    }
}

static void *watchdog_main(void *arg)
{
    skiff__server *s = arg;
    uint64_t limit = (uint64_t)s->cfg->request_timeout_s * 1000000000ull;
    uint64_t period = limit / 8;
    if (period < 100000000ull)
        period = 100000000ull;
    if (period > 1000000000ull)
        period = 1000000000ull;
    pthread_mutex_lock(&s->conns_mu);
    while (!s->watchdog_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t at = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + period;
        ts.tv_sec = (time_t)(at / 1000000000ull);
        ts.tv_nsec = (long)(at % 1000000000ull);
        int rc = pthread_cond_timedwait(&s->watchdog_cv, &s->conns_mu, &ts);
        if (s->watchdog_stop)
            break;
        if (rc != ETIMEDOUT && rc != 0)
            continue;
        uint64_t now = skiff__now_ns();
        for (hconn *hc = s->conns; hc; hc = hc->next)
            watch_one(s, hc, now, limit);
    }
    pthread_mutex_unlock(&s->conns_mu);
    return NULL;
}

static skiff_status_t *watchdog_start(skiff__server *s)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "cannot start the connection watchdog");
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&s->watchdog_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "cannot start the connection watchdog");
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
        pthread_cond_destroy(&s->watchdog_cv);
        return skiff_status_new(SKIFF_CODE_INTERNAL, "cannot start the connection watchdog");
    }
    s->watchdog_started = true;
    return NULL;
}

/* libmicrohttpd's percent-decoding, except that %00 stays as it is: a NUL
 * would cut the path short of what the client asked for (/v2/models/m%00x
 * would route as /v2/models/m). Returns the new length. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r;) {
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            unsigned hi = (unsigned)(isdigit((unsigned char)r[1])
                                         ? r[1] - '0'
                                         : (tolower((unsigned char)r[1]) - 'a' + 10));
            unsigned lo = (unsigned)(isdigit((unsigned char)r[2])
                                         ? r[2] - '0'
                                         : (tolower((unsigned char)r[2]) - 'a' + 10));
            unsigned v = hi * 16 + lo;
            if (v != 0) {
                *w++ = (char)v;
                r += 3;
                continue;
            }
        }
        *w++ = *r++;
    }
    *w = '\0';
    return (size_t)(w - s);
}

skiff_status_t *skiff__http_start(skiff__server *s)
{
    const skiff__serve_config *c = s->cfg;
    s->n_mhd = s->io_threads;
    s->mhd = skiff__calloc((size_t)s->n_mhd, sizeof(*s->mhd));
    if (!s->mhd)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    /* The connection's memory pool holds the request line, headers and read
     * buffer. libmicrohttpd zeroes all of it for every request on a
     * keep-alive connection, so it is kept small: an 80 KiB pool cost ~10% of
     * the CPU of a small request (measured with perf), while bodies arrive
     * just as well in 8 KiB reads. */
    size_t pool = (size_t)c->max_header_size + 8 * 1024;
    unsigned per = (unsigned)(c->max_connections / s->n_mhd + 1);
    if (pthread_mutex_init(&s->conns_mu, NULL) != 0)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "cannot create a mutex");
    s->conns_mu_init = true;
    skiff_status_t *st = watchdog_start(s);
    if (st)
        return st;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_NO_LISTEN_SOCKET |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    for (int i = 0; i < s->n_mhd; i++) {
        s->mhd[i] = MHD_start_daemon(
            flags, 0, NULL, NULL, handler, s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
            per, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_NOTIFY_CONNECTION,
            conn_notify, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_UNESCAPE_CALLBACK,
            unescape, NULL, MHD_OPTION_END);
        if (!s->mhd[i])
            return skiff_status_new(SKIFF_CODE_INTERNAL, "cannot start HTTP I/O thread %d", i);
    }
    return NULL;
}

void skiff__http_adopt(skiff__server *s, int fd, const struct sockaddr *addr, socklen_t len)
{
    unsigned i = atomic_fetch_add_explicit(&s->rr, 1, memory_order_relaxed) % (unsigned)s->n_mhd;
    if (MHD_add_connection(s->mhd[i], fd, addr, len) != MHD_YES)
        skiff_log(SKIFF_LOG_DEBUG, "http: could not adopt a connection (limit or memory)");
}

void skiff__http_stop(skiff__server *s)
{
    for (int i = 0; s->mhd && i < s->n_mhd; i++)
        if (s->mhd[i])
            MHD_stop_daemon(s->mhd[i]);
    skiff__free(s->mhd);
    s->mhd = NULL;
    s->n_mhd = 0;
    if (s->watchdog_started) {
        pthread_mutex_lock(&s->conns_mu);
        s->watchdog_stop = true;
        pthread_cond_signal(&s->watchdog_cv);
        pthread_mutex_unlock(&s->conns_mu);
        pthread_join(s->watchdog, NULL);
        pthread_cond_destroy(&s->watchdog_cv);
        s->watchdog_started = false;
    }
    if (s->conns_mu_init) {
        pthread_mutex_destroy(&s->conns_mu);
        s->conns_mu_init = false;
    }
}
