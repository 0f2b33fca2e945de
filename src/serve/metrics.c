/* metrics.c - GET /metrics in the Prometheus text format (version 0.0.4).
 *
 * Every number is read from atomics the request path keeps anyway, so a
 * scrape takes no lock on the hot path (the queue depth takes the model's
 * lock for an instant). Histograms have fixed log-scale buckets (1-2.5-5 per
 * decade for latency, powers of two for batch rows) so series from different
 * servers aggregate. Paddle Serving's counter names are exported next to
 * skiff's, so existing dashboards keep working.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "serve/serve_int.h"

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static bool help(skiff__buf *b, const char *name, const char *type, const char *text)
{
    return skiff__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* One histogram series; `scale` divides bucket bounds and the sum (us -> s). */
static bool hist(skiff__buf *b, const char *name, const char *model, const skiff__hist *h,
                 const double *bounds, double scale)
{
    uint64_t cum = 0;
    bool ok = true;
    for (int i = 0; ok && i < SKIFF__HIST_N; i++) {
        cum += LD(h->bucket[i]);
        ok = skiff__buf_printf(b, "%s_bucket{model=\"%s\",le=\"%g\"} %llu\n", name, model,
                               bounds[i] / scale, (unsigned long long)cum);
    }
    cum += LD(h->bucket[SKIFF__HIST_N]);
    return ok &&
           skiff__buf_printf(b, "%s_bucket{model=\"%s\",le=\"+Inf\"} %llu\n", name, model,
                             (unsigned long long)cum) &&
           skiff__buf_printf(b, "%s_sum{model=\"%s\"} %.6f\n", name, model,
                             (double)LD(h->sum) / scale) &&
           skiff__buf_printf(b, "%s_count{model=\"%s\"} %llu\n", name, model,
                             (unsigned long long)LD(h->count));
}

typedef uint64_t (*stat_fn)(skiff__model_stats *st, skiff__served *sm);

static uint64_t f_success(skiff__model_stats *st, skiff__served *sm)
{
    return LD(st->req_by_code[SKIFF_CODE_OK]);
}
static uint64_t f_failure(skiff__model_stats *st, skiff__served *sm)
{
    return skiff__stats_failures(st);
}
static uint64_t f_rows(skiff__model_stats *st, skiff__served *sm)
{
    return LD(st->inference_count);
}
static uint64_t f_execs(skiff__model_stats *st, skiff__served *sm)
{
    return LD(st->execution_count);
}
static uint64_t f_inline(skiff__model_stats *st, skiff__served *sm) { return LD(st->inline_count); }
static uint64_t f_merged(skiff__model_stats *st, skiff__served *sm) { return LD(st->merged_jobs); }
static uint64_t f_padded(skiff__model_stats *st, skiff__served *sm) { return LD(st->padded_rows); }
static uint64_t f_e2e_us(skiff__model_stats *st, skiff__served *sm) { return LD(st->e2e_us.sum); }
static uint64_t f_compute_us(skiff__model_stats *st, skiff__served *sm)
{
    return LD(st->compute_ns) / 1000;
}
static uint64_t f_queue_depth(skiff__model_stats *st, skiff__served *sm)
{
    return (uint64_t)sm->sv->ops->queue_depth(sm->sv);
}
static uint64_t f_inflight(skiff__model_stats *st, skiff__served *sm)
{
    int64_t v = LD(st->in_flight);
    return v > 0 ? (uint64_t)v : 0;
}
static uint64_t f_instances(skiff__model_stats *st, skiff__served *sm)
{
    return sm->d->instances > 0 ? (uint64_t)sm->d->instances : 0;
}

static const struct {
    const char *name;
    const char *type;
    stat_fn fn;
    const char *help;
} per_model[] = {
    {"skiff_inference_count_total", "counter", f_rows, "Rows (batch items) inferred."},
    {"skiff_execution_count_total", "counter", f_execs, "Engine runs (one per formed batch)."},
    {"skiff_inline_runs_total", "counter", f_inline,
     "Requests run on the I/O thread because an instance was idle."},
    {"skiff_merged_requests_total", "counter", f_merged,
     "Requests that ran merged with others in one batch."},
    {"skiff_batch_padding_rows_total", "counter", f_padded,
     "Rows added to runs to reach an allowed batch size (--batch_sizes)."},
    {"skiff_queue_depth", "gauge", f_queue_depth, "Requests waiting in the model's queue."},
    {"skiff_model_inflight_requests", "gauge", f_inflight,
     "Requests for the model being handled now."},
    {"skiff_model_instances", "gauge", f_instances,
     "Instances (engine contexts, each with a thread) serving the model."},
    /* Paddle Serving's names. */
    {"pd_query_request_success_total", "counter", f_success, "Successful requests (Paddle name)."},
    {"pd_query_request_failure_total", "counter", f_failure, "Failed requests (Paddle name)."},
    {"pd_inference_count_total", "counter", f_rows, "Rows inferred (Paddle name)."},
    {"pd_query_request_duration_us_total", "counter", f_e2e_us,
     "Sum of end-to-end request latency in microseconds (Paddle name)."},
    {"pd_inference_duration_us_total", "counter", f_compute_us,
     "Sum of inference time in microseconds (Paddle name)."},
};

bool skiff__metrics_render(skiff__server *s, skiff__buf *b)
{
    bool ok = true;
    ok = ok && help(b, "skiff_up", "gauge", "1 while the server runs.") &&
         skiff__buf_printf(b, "skiff_up 1\n");
    ok = ok &&
         help(b, "skiff_ready", "gauge", "1 when the server takes requests (0 while draining).") &&
         skiff__buf_printf(b, "skiff_ready %d\n", LD(s->ready) && !LD(s->draining) ? 1 : 0);
    ok = ok && help(b, "skiff_start_time_seconds", "gauge", "Unix time the server started.") &&
         skiff__buf_printf(b, "skiff_start_time_seconds %lld\n", (long long)s->start_wall_s);
    ok = ok && help(b, "skiff_inflight_requests", "gauge", "HTTP requests being handled now.") &&
         skiff__buf_printf(b, "skiff_inflight_requests %lld\n", (long long)LD(s->in_flight));
    ok = ok && help(b, "skiff_open_connections", "gauge", "Open client connections.") &&
         skiff__buf_printf(b, "skiff_open_connections %lld\n", (long long)LD(s->connections));
    ok = ok &&
         help(b, "skiff_connections_accepted_total", "counter", "TCP connections accepted.") &&
         skiff__buf_printf(b, "skiff_connections_accepted_total %llu\n",
                           (unsigned long long)LD(s->conn_accepted));
    ok = ok &&
         help(b, "skiff_connections_refused_total", "counter",
              "Connections closed before a request: unsupported protocol or no bytes in time.") &&
         skiff__buf_printf(b, "skiff_connections_refused_total{reason=\"protocol\"} %llu\n",
                           (unsigned long long)LD(s->conn_refused_proto)) &&
         skiff__buf_printf(b, "skiff_connections_refused_total{reason=\"timeout\"} %llu\n",
                           (unsigned long long)LD(s->conn_sniff_timeout)) &&
         skiff__buf_printf(b, "skiff_connections_refused_total{reason=\"limit\"} %llu\n",
                           (unsigned long long)LD(s->conn_refused_limit));
    ok = ok &&
         help(b, "skiff_connections_cut_total", "counter",
              "Connections answered 408 and closed because a request head or body took "
              "longer than --request_timeout_s.") &&
         skiff__buf_printf(b, "skiff_connections_cut_total{reason=\"slow_head\"} %llu\n",
                           (unsigned long long)LD(s->conn_cut_head)) &&
         skiff__buf_printf(b, "skiff_connections_cut_total{reason=\"slow_body\"} %llu\n",
                           (unsigned long long)LD(s->conn_cut_body));
    ok = ok && help(b, "skiff_http_responses_total", "counter", "HTTP responses by status class.");
    for (int c = 1; ok && c <= 5; c++)
        ok = skiff__buf_printf(b, "skiff_http_responses_total{code=\"%dxx\"} %llu\n", c,
                               (unsigned long long)LD(s->http_status[c]));
    ok =
        ok &&
        help(b, "skiff_rpc_responses_total", "counter",
             "RPC answers by protocol and result (brpc baidu_std: error_code 0 or not).") &&
        skiff__buf_printf(b,
                          "skiff_rpc_responses_total{protocol=\"baidu_std\",result=\"ok\"} %llu\n",
                          (unsigned long long)LD(s->rpc_answers[0])) &&
        skiff__buf_printf(
            b, "skiff_rpc_responses_total{protocol=\"baidu_std\",result=\"error\"} %llu\n",
            (unsigned long long)LD(s->rpc_answers[1])) &&
        skiff__buf_printf(b, "skiff_rpc_responses_total{protocol=\"grpc\",result=\"ok\"} %llu\n",
                          (unsigned long long)LD(s->grpc_answers[0])) &&
        skiff__buf_printf(b, "skiff_rpc_responses_total{protocol=\"grpc\",result=\"error\"} %llu\n",
                          (unsigned long long)LD(s->grpc_answers[1])) &&
        help(b, "skiff_rpc_broken_connections_total", "counter",
             "RPC connections closed for bytes that are not frames.") &&
        skiff__buf_printf(b, "skiff_rpc_broken_connections_total{protocol=\"baidu_std\"} %llu\n",
                          (unsigned long long)LD(s->rpc_broken)) &&
        skiff__buf_printf(b, "skiff_rpc_broken_connections_total{protocol=\"grpc\"} %llu\n",
                          (unsigned long long)LD(s->grpc_broken));
    ok = ok &&
         help(b, "skiff_unrouted_requests_total", "counter",
              "Requests that named no served model (unknown path or model).") &&
         skiff__buf_printf(b, "skiff_unrouted_requests_total %llu\n",
                           (unsigned long long)LD(s->unrouted));

    ok = ok && help(b, "skiff_requests_total", "counter",
                    "Finished requests per model by outcome (status code name).");
    for (int i = 0; ok && i < s->repo.n; i++) {
        skiff__model_stats *st = s->repo.models[i].sv->ops->stats(s->repo.models[i].sv);
        for (int c = 0; ok && c < 10; c++)
            ok = skiff__buf_printf(b, "skiff_requests_total{model=\"%s\",outcome=\"%s\"} %llu\n",
                                   s->repo.models[i].d->name,
                                   c == 0 ? "success" : skiff_code_name((skiff_code_t)c),
                                   (unsigned long long)LD(st->req_by_code[c]));
    }
    for (size_t k = 0; ok && k < sizeof(per_model) / sizeof(per_model[0]); k++) {
        ok = help(b, per_model[k].name, per_model[k].type, per_model[k].help);
        for (int i = 0; ok && i < s->repo.n; i++) {
            skiff__model_stats *st = s->repo.models[i].sv->ops->stats(s->repo.models[i].sv);
            ok = skiff__buf_printf(b, "%s{model=\"%s\"} %llu\n", per_model[k].name,
                                   s->repo.models[i].d->name,
                                   (unsigned long long)per_model[k].fn(st, &s->repo.models[i]));
        }
    }
    /* The load signal to scale replicas on (docs/deploy.md): in-flight requests
     * over instances. Below 1 an instance is idle somewhere; above 1 requests
     * wait in the queue. It rises with the offered load before latency does,
     * and counts requests, not bytes or rows, so big and small requests weigh
     * alike. A gauge of a ratio, so a HorizontalPodAutoscaler averages it over
     * pods without knowing each pod's instance count. */
    ok = ok && help(b, "skiff_model_inflight_per_instance", "gauge",
                    "Requests for the model being handled now, per instance (1 = every "
                    "instance busy; above 1 requests queue).");
    for (int i = 0; ok && i < s->repo.n; i++) {
        skiff__served *sm = &s->repo.models[i];
        uint64_t inflight = f_inflight(sm->sv->ops->stats(sm->sv), sm);
        uint64_t inst = f_instances(NULL, sm);
        ok = skiff__buf_printf(b, "skiff_model_inflight_per_instance{model=\"%s\"} %.9g\n",
                               sm->d->name, (double)inflight / (double)(inst ? inst : 1));
    }
    static const struct {
        const char *name;
        size_t off;
        bool batch;
        const char *help;
    } hists[] = {
        {"skiff_request_duration_seconds", offsetof(skiff__model_stats, e2e_us), false,
         "End-to-end request latency, first byte handled to response queued."},
        {"skiff_queue_duration_seconds", offsetof(skiff__model_stats, queue_us), false,
         "Time requests waited in the model queue."},
        {"skiff_compute_duration_seconds", offsetof(skiff__model_stats, compute_us), false,
         "Engine time per run (one run may serve a merged batch)."},
        {"skiff_batch_size", offsetof(skiff__model_stats, batch_rows), true,
         "Rows per engine run."},
    };
    for (size_t k = 0; ok && k < sizeof(hists) / sizeof(hists[0]); k++) {
        ok = help(b, hists[k].name, "histogram", hists[k].help);
        for (int i = 0; ok && i < s->repo.n; i++) {
            skiff__model_stats *st = s->repo.models[i].sv->ops->stats(s->repo.models[i].sv);
            const skiff__hist *h =
                (const skiff__hist *)(const void *)((const char *)st + hists[k].off);
            ok = hist(b, hists[k].name, s->repo.models[i].d->name, h,
                      hists[k].batch ? skiff__batch_bounds : skiff__latency_bounds_us,
                      hists[k].batch ? 1.0 : 1e6);
        }
    }
    if (ok && s->pipe) {
        const char *pn = skiff__pipeline_name(s->pipe);
        int n = skiff__pipeline_n_ops(s->pipe);
        ok = help(b, "skiff_pipeline_op_duration_seconds", "histogram",
                  "Time a pipeline op took for one request (steps and model, retries included).");
        for (int i = 0; ok && i < n; i++) {
            skiff__pipe_op_stats os;
            skiff__pipeline_op_stats(s->pipe, i, &os);
            for (int k = 0; ok && k < 12; k++)
                ok = skiff__buf_printf(b,
                                       "skiff_pipeline_op_duration_seconds_bucket{pipeline=\"%s\","
                                       "op=\"%s\",le=\"%g\"} %llu\n",
                                       pn, os.name, skiff__pipe_bounds_s[k],
                                       (unsigned long long)os.le_us[k]);
            ok = ok &&
                 skiff__buf_printf(
                     b,
                     "skiff_pipeline_op_duration_seconds_bucket{pipeline=\"%s\",op=\"%s\",le=\"+"
                     "Inf\"} %llu\n"
                     "skiff_pipeline_op_duration_seconds_sum{pipeline=\"%s\",op=\"%s\"} %.9f\n"
                     "skiff_pipeline_op_duration_seconds_count{pipeline=\"%s\",op=\"%s\"} %llu\n",
                     pn, os.name, (unsigned long long)(os.ok + os.failed), pn, os.name,
                     (double)os.sum_ns / 1e9, pn, os.name, (unsigned long long)(os.ok + os.failed));
        }
        ok = ok && help(b, "skiff_pipeline_op_requests_total", "counter",
                        "Requests each pipeline op ran, by outcome.");
        for (int i = 0; ok && i < n; i++) {
            skiff__pipe_op_stats os;
            skiff__pipeline_op_stats(s->pipe, i, &os);
            ok = skiff__buf_printf(
                b,
                "skiff_pipeline_op_requests_total{pipeline=\"%s\",op=\"%s\",result=\"ok\"} %llu\n"
                "skiff_pipeline_op_requests_total{pipeline=\"%s\",op=\"%s\",result=\"error\"} "
                "%llu\n",
                pn, os.name, (unsigned long long)os.ok, pn, os.name, (unsigned long long)os.failed);
        }
    }
    return ok;
}
