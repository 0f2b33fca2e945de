/* routes.c - the HTTP API: one route table, the GET answers, and inference
 * handed to the shared path (infer.c).
 *
 * The table below is the API's single list: routing matches paths to its
 * rows, a wrong method gets 405 with the row's methods in Allow, OPTIONS gets
 * 204 with the same Allow, and GET / lists the rows. Errors take the format
 * of the route's API (docs/http-api.md): Paddle web {"result": msg}, Paddle
 * 0.9 {"err_no", "err_msg"}, everything else {"error": msg}.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "serve/http/http_int.h"
#include "skiff/skiff.h"

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
    R_PIPELINE,
    R_OPENAPI,
    R_STATUS_STATS,
    R_STATUS_FILE,
    R_STAR, /* OPTIONS * */
} route_id;

/* The route table: what each path does, which method it takes, its API (for
 * the error format) and how GET / and the docs write it. */
static const struct route {
    route_id id;
    const char *method;
    skiff__api api;
    bool per_model;
    const char *pattern;
} routes[] = {
    {R_PADDLE_WEB, "POST", SKIFF__API_PADDLE_WEB, true, "/{model}/prediction"},
    {R_PADDLE09, "POST", SKIFF__API_PADDLE09, false, "/GeneralModelService/inference"},
    {R_PIPELINE, "POST", SKIFF__API_PIPELINE, false, "/{pipeline}/{method}"},
    {R_V2, "GET", SKIFF__API_KSERVE, false, "/v2"},
    {R_V2_LIVE, "GET", SKIFF__API_KSERVE, false, "/v2/health/live"},
    {R_V2_READY, "GET", SKIFF__API_KSERVE, false, "/v2/health/ready"},
    {R_V2_MODEL, "GET", SKIFF__API_KSERVE, true, "/v2/models/{model}[/versions/1]"},
    {R_V2_MODEL_READY, "GET", SKIFF__API_KSERVE, true, "/v2/models/{model}[/versions/1]/ready"},
    {R_V2_MODEL_INFER, "POST", SKIFF__API_KSERVE, true, "/v2/models/{model}[/versions/1]/infer"},
    {R_V2_MODEL_CONFIG, "GET", SKIFF__API_KSERVE, true, "/v2/models/{model}[/versions/1]/config"},
    {R_V2_MODEL_STATS, "GET", SKIFF__API_KSERVE, true, "/v2/models/{model}[/versions/1]/stats"},
    {R_V2_ALL_STATS, "GET", SKIFF__API_KSERVE, false, "/v2/models/stats"},
    {R_METRICS, "GET", SKIFF__API_NONE, false, "/metrics"},
    {R_OPENAPI, "GET", SKIFF__API_NONE, false, "/openapi.json"},
    {R_STATUS_STATS, "GET", SKIFF__API_NONE, false, "/status/stats.json"},
    {R_STATUS_FILE, "GET", SKIFF__API_NONE, false, "/status/{file}"},
    {R_ROOT, "GET", SKIFF__API_NONE, false, "/"},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

static const struct route *route_row(route_id id)
{
    for (size_t i = 0; i < N_ROUTES; i++)
        if (routes[i].id == id)
            return &routes[i];
    return NULL;
}

/* "Allow: GET, HEAD, OPTIONS\r\n" for a route (RFC 9110 10.2.1). */
static void allow_line(route_id id, char *buf, size_t cap)
{
    const struct route *r = route_row(id);
    if (!r || !strcmp(r->method, "GET") || id == R_STAR)
        snprintf(buf, cap, "Allow: %s\r\n",
                 id == R_STAR ? "GET, HEAD, POST, OPTIONS" : "GET, HEAD, OPTIONS");
    else
        snprintf(buf, cap, "Allow: %s, OPTIONS\r\n", r->method);
}

void skiff__http_error(hreq *h, skiff_code_t code, int status, const char *extra, const char *fmt,
                       ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    skiff__buf *b = skiff__http_out(h);
    skiff__infer_error(h->api, code, status, msg, b, &h->res);
    skiff__http_answer(h, &h->res, extra, b->data, b->len);
}

/* A route's pattern for one model: {model} replaced, [optional] parts left out. */
static size_t expand_pattern(const char *p, const char *model, char *out, size_t cap)
{
    size_t n = 0;
    while (*p && n + 1 < cap) {
        if (*p == '[') {
            const char *close = strchr(p, ']');
            p = close ? close + 1 : p + strlen(p);
        } else if (!strncmp(p, "{model}", 7)) {
            n += (size_t)snprintf(out + n, cap - n, "%s", model);
            p += 7;
        } else {
            out[n++] = *p++;
        }
    }
    out[n < cap ? n : cap - 1] = '\0';
    return n;
}

void skiff__http_log_routes(const skiff__server *s)
{
    char line[512], path[256];
    for (int m = 0; m < s->repo.n; m++) {
        const char *name = s->repo.models[m].d->name;
        size_t off = 0;
        line[0] = '\0';
        for (size_t i = 0; i < N_ROUTES && off < sizeof(line); i++) {
            if (!routes[i].per_model || strcmp(routes[i].method, "POST") != 0)
                continue;
            expand_pattern(routes[i].pattern, name, path, sizeof(path));
            off += (size_t)snprintf(line + off, sizeof(line) - off, "%sPOST %s", off ? " | " : "",
                                    path);
        }
        skiff_log(SKIFF_LOG_INFO, "  model '%s': %s", name, line);
    }
    size_t off = 0;
    line[0] = '\0';
    for (size_t i = 0; i < N_ROUTES && off < sizeof(line); i++)
        if (!routes[i].per_model)
            off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s %s", off ? ", " : "",
                                    routes[i].method, routes[i].pattern);
    skiff_log(SKIFF_LOG_INFO, "  also: %s; per model GET /v2/models/{model}[/ready|/config|/stats]",
              line);
    /* a wildcard address is opened as the loopback one; IPv6 in brackets */
    const char *host = s->cfg->host ? s->cfg->host : "";
    bool any = !host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
    bool v6 = !any && strchr(host, ':') != NULL;
    skiff_log(SKIFF_LOG_INFO, "  status page: open http://%s%s%s:%d/ in a browser (docs/deploy.md)",
              v6 ? "[" : "", any ? "127.0.0.1" : host, v6 ? "]" : "", s->port);
}

/* ---- routing ------------------------------------------------------------------ */

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

static route_id match_v2(hreq *h, const char *seg[8], const size_t len[8], int n)
{
    if (n == 1)
        return R_V2;
    if (n == 3 && seg_eq(seg[1], len[1], "health")) {
        if (seg_eq(seg[2], len[2], "live"))
            return R_V2_LIVE;
        if (seg_eq(seg[2], len[2], "ready"))
            return R_V2_READY;
        return R_NOT_FOUND;
    }
    if (n < 3 || !seg_eq(seg[1], len[1], "models"))
        return R_NOT_FOUND;
    if (n == 3 && seg_eq(seg[2], len[2], "stats"))
        return R_V2_ALL_STATS;
    seg_copy(h->model_name, sizeof(h->model_name), seg[2], len[2]);
    h->sm = skiff__repo_find(&h->s->repo, seg[2], len[2]);
    int k = 3;
    if (n >= 5 && seg_eq(seg[3], len[3], "versions")) {
        /* One version per model, called "1" (Triton's default). */
        h->bad_version = !seg_eq(seg[4], len[4], "1");
        k = 5;
    }
    if (n == k)
        return R_V2_MODEL;
    if (n != k + 1)
        return R_NOT_FOUND;
    static const struct {
        const char *name;
        route_id id;
    } leaf[] = {{"ready", R_V2_MODEL_READY},
                {"infer", R_V2_MODEL_INFER},
                {"config", R_V2_MODEL_CONFIG},
                {"stats", R_V2_MODEL_STATS}};
    for (size_t i = 0; i < sizeof(leaf) / sizeof(leaf[0]); i++)
        if (seg_eq(seg[k], len[k], leaf[i].name))
            return leaf[i].id;
    return R_NOT_FOUND;
}

static const skiff__asset *find_asset(const char *name, size_t n)
{
    for (int i = 0; i < skiff__n_assets; i++)
        if (seg_eq(name, n, skiff__assets[i].name))
            return &skiff__assets[i];
    return NULL;
}

static route_id match(hreq *h, const char *url)
{
    if (!strcmp(url, "*"))
        return R_STAR;
    const char *seg[8];
    size_t len[8];
    int n = split_path(url, seg, len);
    if (n == 0)
        return R_ROOT;
    if (n == 1 && seg_eq(seg[0], len[0], "metrics"))
        return R_METRICS;
    if (n == 1 && seg_eq(seg[0], len[0], "openapi.json")) {
        h->asset = find_asset("openapi.json", 12);
        return R_OPENAPI;
    }
    /* The page's files. Only their own names match, so a pipeline named
     * "status" keeps every other /status/{method}. */
    if (n == 2 && seg_eq(seg[0], len[0], "status")) {
        if (seg_eq(seg[1], len[1], "stats.json"))
            return R_STATUS_STATS;
        if ((h->asset = find_asset(seg[1], len[1])) != NULL)
            return R_STATUS_FILE;
    }
    if (seg_eq(seg[0], len[0], "v2"))
        return match_v2(h, seg, len, n);
    if (n == 2 && seg_eq(seg[0], len[0], "GeneralModelService") &&
        seg_eq(seg[1], len[1], "inference"))
        return R_PADDLE09;
    /* a pipeline's /{name}/{method} before a model's /{model}/prediction */
    if (n == 2 && h->s->pipe && seg_eq(seg[0], len[0], skiff__pipeline_name(h->s->pipe)))
        return R_PIPELINE;
    if (n == 2 && seg_eq(seg[1], len[1], "prediction")) {
        seg_copy(h->model_name, sizeof(h->model_name), seg[0], len[0]);
        h->sm = skiff__repo_find(&h->s->repo, seg[0], len[0]);
        return R_PADDLE_WEB;
    }
    return R_NOT_FOUND;
}

void skiff__http_route(hreq *h)
{
    h->rid = match(h, h->path);
    h->route = -1;
    h->api = SKIFF__API_NONE;
    const struct route *r = route_row((route_id)h->rid);
    if (!r)
        return;
    h->api = r->api;
    if (!strcmp(r->method, h->method) || (h->is_head && !strcmp(r->method, "GET")))
        h->route = (int)(r - routes);
}

/* ---- JSON building for the small GET answers --------------------------------- */

/* [-1,13]: the var's full shape, batch dim first when batched. */
static bool put_var_shape(skiff__buf *b, const skiff__model_var *v, bool with_batch)
{
    bool ok = skiff__buf_lit(b, "[");
    bool first = true;
    if (with_batch && v->batched) {
        ok = ok && skiff__buf_printf(b, "%lld", (long long)v->fixed_batch);
        first = false;
    }
    for (int i = 0; ok && i < v->ndim; i++) {
        ok = skiff__buf_printf(b, "%s%lld", first ? "" : ",", (long long)v->dims[i]);
        first = false;
    }
    if (v->ndim < 0 && !with_batch)
        ok = ok && skiff__buf_lit(b, "-1");
    return ok && skiff__buf_lit(b, "]");
}

static bool put_tensor_list(skiff__buf *b, const skiff__model_var *vars, int n)
{
    bool ok = skiff__buf_lit(b, "[");
    for (int i = 0; ok && i < n; i++) {
        const char *dt = skiff_dtype_kserve_name(vars[i].dtype);
        ok = skiff__buf_lit(b, i ? ",{\"name\":" : "{\"name\":") &&
             skiff__buf_cstr(b, vars[i].alias) && skiff__buf_lit(b, ",\"datatype\":") &&
             skiff__buf_cstr(b, dt ? dt : "UNKNOWN") && skiff__buf_lit(b, ",\"shape\":") &&
             put_var_shape(b, &vars[i], true) && skiff__buf_lit(b, "}");
    }
    return ok && skiff__buf_lit(b, "]");
}

static bool build_model_meta(skiff__buf *b, const skiff__served *sm)
{
    const skiff__model_desc *d = sm->d;
    return skiff__buf_lit(b, "{\"name\":") && skiff__buf_cstr(b, d->name) &&
           skiff__buf_lit(b, ",\"versions\":[\"1\"],\"platform\":") &&
           skiff__buf_cstr(b, d->platform ? d->platform : "skiff_onnx") &&
           skiff__buf_lit(b, ",\"inputs\":") && put_tensor_list(b, d->feed, d->n_feed) &&
           skiff__buf_lit(b, ",\"outputs\":") && put_tensor_list(b, d->fetch, d->n_fetch) &&
           skiff__buf_lit(b, ",\"parameters\":{\"precision\":") &&
           skiff__buf_cstr(b, d->precision ? d->precision : "fp32") && skiff__buf_lit(b, "}}");
}

static bool put_config_io(skiff__buf *b, const skiff__model_var *vars, int n, bool batched_model)
{
    bool ok = skiff__buf_lit(b, "[");
    for (int i = 0; ok && i < n; i++) {
        const skiff__model_var *v = &vars[i];
        ok = skiff__buf_lit(b, i ? ",{\"name\":" : "{\"name\":") && skiff__buf_cstr(b, v->alias) &&
             skiff__buf_printf(
                 b, ",\"data_type\":\"%s\",\"dims\":", skiff__dtype_triton_name(v->dtype)) &&
             put_var_shape(b, v, !batched_model) &&
             (!v->is_lod || skiff__buf_lit(b, ",\"allow_ragged_batch\":true")) &&
             skiff__buf_lit(b, "}");
    }
    return ok && skiff__buf_lit(b, "]");
}

static bool build_model_config(skiff__buf *b, const skiff__served *sm)
{
    const skiff__model_desc *d = sm->d;
    /* Triton's convention: max_batch_size > 0 means dims leave out the batch. */
    bool batched = d->mergeable;
    bool ok =
        skiff__buf_lit(b, "{\"name\":") && skiff__buf_cstr(b, d->name) &&
        skiff__buf_lit(b, ",\"platform\":") &&
        skiff__buf_cstr(b, d->platform ? d->platform : "skiff_onnx") &&
        skiff__buf_lit(b, ",\"backend\":\"skiff\"") &&
        skiff__buf_printf(b, ",\"max_batch_size\":%d,\"input\":", batched ? d->max_batch : 0) &&
        put_config_io(b, d->feed, d->n_feed, batched) && skiff__buf_lit(b, ",\"output\":") &&
        put_config_io(b, d->fetch, d->n_fetch, batched) &&
        skiff__buf_printf(b, ",\"instance_group\":[{\"count\":%d,\"kind\":\"KIND_CPU\"}]",
                          d->instances);
    if (ok && batched)
        ok = skiff__buf_printf(b, ",\"dynamic_batching\":{\"max_queue_delay_microseconds\":%d}",
                               d->max_queue_delay_us);
    return ok &&
           skiff__buf_printf(b,
                             ",\"parameters\":{\"intra_op_threads\":{\"string_value\":\"%d\"},"
                             "\"inline\":{\"string_value\":\"%s\"},"
                             "\"precision\":{\"string_value\":\"%s\"}}}",
                             d->threads, d->inline_ok ? "true" : "false",
                             d->precision ? d->precision : "fp32");
}

static bool put_stat(skiff__buf *b, const char *name, uint64_t count, uint64_t ns, bool comma)
{
    return skiff__buf_printf(b, "%s\"%s\":{\"count\":%llu,\"ns\":%llu}", comma ? "," : "", name,
                             (unsigned long long)count, (unsigned long long)ns);
}

static bool build_model_stats(skiff__buf *b, skiff__served *sm)
{
    skiff__model_stats *st = sm->sv->ops->stats(sm->sv);
#define L(x) atomic_load_explicit(&st->x, memory_order_relaxed)
    uint64_t ok_n = L(req_by_code[SKIFF_CODE_OK]), fail_n = skiff__stats_failures(st);
    bool ok = skiff__buf_lit(b, "{\"name\":") && skiff__buf_cstr(b, sm->d->name) &&
              skiff__buf_printf(
                  b,
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
              skiff__buf_lit(b, "},\"batch_stats\":[]}");
#undef L
    return ok;
}

/* ---- GET endpoints --------------------------------------------------------------- */

static void answer_extra(hreq *h, skiff__buf *b, bool ok, const char *ctype, const char *extra)
{
    if (!ok) {
        skiff__http_error(h, SKIFF_CODE_RESOURCE_EXHAUSTED, 500, NULL, "out of memory");
        return;
    }
    h->res = (skiff__infer_result){.status = 200, .code = SKIFF_CODE_OK, .ctype = ctype};
    skiff__http_answer(h, &h->res, extra, b->data ? b->data : "", b->len);
}

static void answer_buf(hreq *h, skiff__buf *b, bool ok, const char *ctype)
{
    answer_extra(h, b, ok, ctype, NULL);
}

/* The status page's files: revalidated on every load (no-cache + ETag, so an
 * upgraded server is seen at once and an unchanged file costs a 304), and a
 * policy that lets the page load nothing from anywhere but this server. */
#define PAGE_HEADERS                                                                               \
    "Cache-Control: no-cache\r\n"                                                                  \
    "X-Content-Type-Options: nosniff\r\n"                                                          \
    "Referrer-Policy: no-referrer\r\n"                                                             \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "           \
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "              \
    "frame-ancestors 'none'\r\n"

static void answer_asset(hreq *h, const skiff__asset *a, bool vary)
{
    if (!a) { /* a build without the file: not expected, answered all the same */
        skiff__http_error(h, SKIFF_CODE_NOT_FOUND, 404, NULL, "%s is not built in", h->path);
        return;
    }
    char extra[512];
    snprintf(extra, sizeof(extra), "%sETag: %s\r\n" PAGE_HEADERS, vary ? "Vary: Accept\r\n" : "",
             a->etag);
    if (skiff__http_etag_match(skiff__http_known(h, HK_IF_NONE_MATCH), a->etag)) {
        h->res = (skiff__infer_result){.status = 304, .code = SKIFF_CODE_OK};
        skiff__http_answer(h, &h->res, extra, "", 0);
        return;
    }
    h->res = (skiff__infer_result){.status = 200, .code = SKIFF_CODE_OK, .ctype = a->ctype};
    skiff__http_answer(h, &h->res, extra, (const char *)a->data, a->len);
}

/* GET / as JSON: the models, the endpoints, and the server facts the status
 * page shows (uptime, cores, threads, protocols and ports). */
static bool build_root(hreq *h, skiff__buf *b)
{
    skiff__server *s = h->s;
    bool ok =
        skiff__buf_printf(b, "{\"name\":\"skiff\",\"version\":\"%s\",\"models\":[", SKIFF_VERSION);
    for (int i = 0; ok && i < s->repo.n; i++)
        ok = (i == 0 || skiff__buf_lit(b, ",")) && skiff__buf_cstr(b, s->repo.models[i].d->name);
    ok = ok && skiff__buf_lit(b, "],\"endpoints\":[");
    for (size_t i = 0; ok && i < N_ROUTES; i++)
        ok = skiff__buf_printf(b, "%s\"%s %s\"", i ? "," : "", routes[i].method, routes[i].pattern);
    ok =
        ok &&
        skiff__buf_printf(b,
                          "],\"uptime_s\":%.3f,\"start_time\":%lld,\"cores\":%d,\"io_threads\":%d,"
                          "\"instances\":%d,\"threads\":%d,\"host\":",
                          (double)(skiff__now_ns() - s->start_ns) / 1e9, (long long)s->start_wall_s,
                          skiff_cpu_count(), s->io_threads, s->instances, s->threads) &&
        skiff__buf_cstr(b, s->cfg->host ? s->cfg->host : "") &&
        skiff__buf_printf(b, ",\"ports\":[%d", s->port) &&
        (s->listen_fd2 < 0 || skiff__buf_printf(b, ",%d", s->port2)) &&
        /* every port sniffs the protocol (server.c): each one speaks all three */
        skiff__buf_lit(b, "],\"protocols\":[\"HTTP/1.1\",\"gRPC\",\"brpc baidu_std\"],"
                          "\"pipeline\":");
    if (ok && s->pipe)
        ok = skiff__buf_cstr(b, skiff__pipeline_name(s->pipe));
    else if (ok)
        ok = skiff__buf_lit(b, "null");
    return ok && skiff__buf_lit(b, "}");
}

/* GET /status/stats.json: the counters the page's charts poll, raw and
 * cumulative (the page takes differences between two reads). */
static bool build_status_stats(skiff__server *s, skiff__buf *b)
{
#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)
    bool ok = skiff__buf_printf(b, "{\"uptime_s\":%.3f,\"in_flight\":%lld,\"connections\":%lld,",
                                (double)(skiff__now_ns() - s->start_ns) / 1e9,
                                (long long)LD(s->in_flight), (long long)LD(s->connections)) &&
              skiff__buf_lit(b, "\"http_responses\":{");
    for (int c = 1; ok && c <= 5; c++)
        ok = skiff__buf_printf(b, "%s\"%dxx\":%llu", c > 1 ? "," : "", c,
                               (unsigned long long)LD(s->http_status[c]));
    ok = ok && skiff__buf_lit(b, "},\"latency_bounds_us\":[");
    for (int i = 0; ok && i < SKIFF__HIST_N; i++)
        ok = skiff__buf_printf(b, "%s%.0f", i ? "," : "", skiff__latency_bounds_us[i]);
    ok = ok && skiff__buf_lit(b, "],\"models\":[");
    for (int m = 0; ok && m < s->repo.n; m++) {
        skiff__served *sm = &s->repo.models[m];
        skiff__model_stats *st = sm->sv->ops->stats(sm->sv);
        uint64_t fail = skiff__stats_failures(st);
        int64_t inf = LD(st->in_flight);
        ok = (m == 0 || skiff__buf_lit(b, ",")) && skiff__buf_lit(b, "{\"name\":") &&
             skiff__buf_cstr(b, sm->d->name) &&
             skiff__buf_printf(
                 b,
                 ",\"success\":%llu,\"fail\":%llu,\"rows\":%llu,\"runs\":%llu,\"in_flight\":%lld,"
                 "\"queue_depth\":%d,\"latency_us\":{\"count\":%llu,\"sum\":%llu,\"buckets\":[",
                 (unsigned long long)LD(st->req_by_code[SKIFF_CODE_OK]), (unsigned long long)fail,
                 (unsigned long long)LD(st->inference_count),
                 (unsigned long long)LD(st->execution_count), (long long)(inf > 0 ? inf : 0),
                 sm->sv->ops->queue_depth(sm->sv), (unsigned long long)LD(st->e2e_us.count),
                 (unsigned long long)LD(st->e2e_us.sum));
        for (int i = 0; ok && i <= SKIFF__HIST_N; i++)
            ok = skiff__buf_printf(b, "%s%llu", i ? "," : "",
                                   (unsigned long long)LD(st->e2e_us.bucket[i]));
        ok = ok && skiff__buf_lit(b, "]}}");
    }
#undef LD
    return ok && skiff__buf_lit(b, "]}");
}

static void handle_get(hreq *h)
{
    skiff__server *s = h->s;
    skiff__buf *b = skiff__http_out(h);
    bool ready = atomic_load(&s->ready) && !atomic_load(&s->draining);
    const char *json = "application/json";
    const char *why = atomic_load(&s->draining) ? "shutting down" : "starting";
    skiff__served *sm = h->sm;
    switch ((route_id)h->rid) {
    case R_ROOT:
        /* the page for a browser, the JSON summary for everyone else (RFC 9110 12.5.1) */
        if (skiff__http_prefers_html(skiff__http_known(h, HK_ACCEPT)))
            answer_asset(h, find_asset("index.html", 10), true);
        else
            answer_extra(h, b, build_root(h, b), json, "Vary: Accept\r\n");
        return;
    case R_OPENAPI:
    case R_STATUS_FILE: answer_asset(h, h->asset, false); return;
    case R_STATUS_STATS:
        answer_extra(h, b, build_status_stats(s, b), json, "Cache-Control: no-store\r\n");
        return;
    case R_METRICS:
        answer_buf(h, b, skiff__metrics_render(s, b), "text/plain; version=0.0.4; charset=utf-8");
        return;
    case R_V2:
        answer_buf(
            h, b,
            skiff__buf_printf(b,
                              "{\"name\":\"skiff\",\"version\":\"%s\",\"extensions\":["
                              "\"binary_tensor_data\",\"model_configuration\",\"statistics\"]}",
                              SKIFF_VERSION),
            json);
        return;
    case R_V2_LIVE: answer_buf(h, b, skiff__buf_lit(b, "{\"live\":true}"), json); return;
    case R_V2_READY:
        if (!ready)
            skiff__http_error(h, SKIFF_CODE_UNAVAILABLE, 503, NULL, "server is %s", why);
        else
            answer_buf(h, b, skiff__buf_lit(b, "{\"ready\":true}"), json);
        return;
    case R_V2_ALL_STATS: {
        bool ok = skiff__buf_lit(b, "{\"model_stats\":[");
        for (int i = 0; ok && i < s->repo.n; i++)
            ok = (i == 0 || skiff__buf_lit(b, ",")) && build_model_stats(b, &s->repo.models[i]);
        answer_buf(h, b, ok && skiff__buf_lit(b, "]}"), json);
        return;
    }
    case R_V2_MODEL: answer_buf(h, b, build_model_meta(b, sm), json); return;
    case R_V2_MODEL_READY:
        if (!ready)
            skiff__http_error(h, SKIFF_CODE_UNAVAILABLE, 503, NULL,
                              "model '%s' is not ready: server is %s", sm->d->name, why);
        else
            answer_buf(h, b,
                       skiff__buf_lit(b, "{\"name\":") && skiff__buf_cstr(b, sm->d->name) &&
                           skiff__buf_lit(b, ",\"ready\":true}"),
                       json);
        return;
    case R_V2_MODEL_CONFIG: answer_buf(h, b, build_model_config(b, sm), json); return;
    case R_V2_MODEL_STATS:
        answer_buf(h, b,
                   skiff__buf_lit(b, "{\"model_stats\":[") && build_model_stats(b, sm) &&
                       skiff__buf_lit(b, "]}"),
                   json);
        return;
    default: skiff__http_error(h, SKIFF_CODE_INTERNAL, 500, NULL, "unhandled route"); return;
    }
}

/* ---- inference ------------------------------------------------------------------ */

/* ?model=NAME from the query string, decoded into buf; NULL when absent. */
static const char *query_model(const char *q, char *buf, size_t cap)
{
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n > 6 && !memcmp(q, "model=", 6)) {
            seg_copy(buf, cap, q + 6, n - 6);
            return buf;
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static void start_infer(hreq *h)
{
    char qm[160];
    skiff__infer_args a = {
        .api = h->api,
        .model = h->sm,
        .model_query = h->api == SKIFF__API_PADDLE09 ? query_model(h->query, qm, sizeof(qm)) : NULL,
        .content_type = skiff__http_known(h, HK_CONTENT_TYPE),
        .header_length = skiff__http_known(h, HK_INFERENCE_HEADER_CONTENT_LENGTH),
        .timeout_ms = skiff__http_known(h, HK_X_REQUEST_TIMEOUT_MS),
        .t0 = h->t0,
        .log_id = h->log_id,
    };
    skiff__buf *out = skiff__http_out(h);
    if (!skiff__infer_start(h->s, &h->call, &a, &h->body, skiff__http_job_done, h, out)) {
        h->state = HR_QUEUED;
        return;
    }
    if (h->call.log_id)
        h->log_id = h->call.log_id;
    skiff__http_answer(h, &h->call.res, NULL, out->data ? out->data : "", out->len);
}

void skiff__http_resumed(hreq *h)
{
    skiff__buf *out = skiff__http_out(h);
    skiff__infer_resume(&h->call, out);
    skiff__http_answer(h, &h->call.res, NULL, out->data ? out->data : "", out->len);
}

static void unknown_model(hreq *h)
{
    skiff__server *s = h->s;
    char names[512];
    size_t off = 0;
    names[0] = '\0';
    for (int i = 0; i < s->repo.n && off + 1 < sizeof(names); i++)
        off += (size_t)snprintf(names + off, sizeof(names) - off, "%s'%s'", i ? ", " : "",
                                s->repo.models[i].d->name);
    skiff__http_error(h, SKIFF_CODE_NOT_FOUND, 404, NULL, "unknown model '%s' (serving %s)",
                      h->model_name, names);
}

void skiff__http_handle(hreq *h)
{
    skiff__server *s = h->s;
    char allow[96];
    if (h->rid == R_NOT_FOUND) {
        skiff__http_error(h, SKIFF_CODE_NOT_FOUND, 404, NULL,
                          "no endpoint %s %s (GET / lists the endpoints)", h->method, h->path);
        return;
    }
    if (!strcmp(h->method, "OPTIONS")) {
        allow_line((route_id)h->rid, allow, sizeof(allow));
        h->res = (skiff__infer_result){.status = 204, .code = SKIFF_CODE_OK};
        skiff__http_answer(h, &h->res, allow, "", 0);
        return;
    }
    if (h->route < 0) {
        allow_line((route_id)h->rid, allow, sizeof(allow));
        const struct route *r = route_row((route_id)h->rid);
        skiff__http_error(h, SKIFF_CODE_INVALID_ARG, 405, allow, "%s is not allowed on %s (use %s)",
                          h->method, h->path, r ? r->method : "OPTIONS");
        return;
    }
    const struct route *r = &routes[h->route];
    if (r->per_model && !h->sm) {
        unknown_model(h);
        return;
    }
    if (r->per_model && h->bad_version) {
        skiff__http_error(h, SKIFF_CODE_NOT_FOUND, 404, NULL, "model '%s' has only version \"1\"",
                          h->model_name);
        return;
    }
    if (strcmp(r->method, "POST") != 0) {
        handle_get(h);
        return;
    }
    if (atomic_load(&s->draining)) {
        skiff__http_error(h, SKIFF_CODE_UNAVAILABLE, 503, NULL,
                          "server is shutting down; retry on another replica");
        return;
    }
    int status = 0;
    skiff_status_t *st = skiff__decode_content(skiff__http_known(h, HK_CONTENT_ENCODING), &h->body,
                                               s->cfg->max_body_size, &status);
    if (st) {
        skiff__http_error(h, skiff_status_code(st), status, NULL, "%s", skiff_status_message(st));
        skiff_status_free(st);
        return;
    }
    start_infer(h);
}
