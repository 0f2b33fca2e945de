/* rpc_bench.c - the driver of bench/rpc/run.sh: THREADS threads, each making
 * blocking skiff_client_predict calls on one shared client for SECONDS, the
 * uci house as the feed. Prints one line:
 *   calls=N errors=E seconds=S rps=R p50_us=A p99_us=B
 *
 *   rpc_bench CLIENT_CONF ENDPOINT brpc|http|http_proto|grpc THREADS SECONDS [FLOATS]
 *
 * FLOATS > 0 feeds a float32 tensor of that many elements to a model whose
 * conf takes one float feed (the 3x224x224 round trip). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skiff/client.h"

#define MAX_LAT 4000000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct worker {
    skiff_client_t *c;
    const char *feed;
    skiff_tensor_t *x;
    double until;
    long calls, errors;
    unsigned *lat_us; /* this thread's latencies */
    long n_lat, cap_lat;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    skiff_client_feed_t f = {.name = w->feed, .tensor = w->x};
    while (now_s() < w->until) {
        skiff_client_result_t *res = NULL;
        double t0 = now_s();
        skiff_status_t *st = skiff_client_predict(w->c, &f, 1, NULL, 0, NULL, &res);
        double dt = now_s() - t0;
        if (st) {
            if (w->errors++ == 0)
                fprintf(stderr, "rpc_bench: %s\n", skiff_status_message(st));
            skiff_status_free(st);
        }
        skiff_client_result_free(res);
        w->calls++;
        if (w->n_lat < w->cap_lat)
            w->lat_us[w->n_lat++] = (unsigned)(dt * 1e6);
    }
    return NULL;
}

static int cmp_u(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: rpc_bench CLIENT_CONF ENDPOINT brpc|http|http_proto|grpc THREADS "
                        "SECONDS [FLOATS]\n");
        return 2;
    }
    skiff_client_options_t o = {.timeout_ms = 30000};
    o.transport = !strcmp(argv[3], "http")         ? SKIFF_CLIENT_HTTP_JSON
                  : !strcmp(argv[3], "http_proto") ? SKIFF_CLIENT_HTTP_PROTO
                  : !strcmp(argv[3], "grpc")       ? SKIFF_CLIENT_GRPC
                                                   : SKIFF_CLIENT_BRPC;
    long threads = strtol(argv[4], NULL, 10);
    double seconds = strtod(argv[5], NULL);
    long floats = argc > 6 ? strtol(argv[6], NULL, 10) : 0;
    if (threads < 1 || threads > 1024 || seconds <= 0 || floats < 0 || floats > 100000000) {
        fprintf(stderr, "rpc_bench: bad THREADS, SECONDS or FLOATS\n");
        return 2;
    }
    skiff_client_t *c = NULL;
    skiff_status_t *st = skiff_client_new(argv[1], argv[2], &o, &c);
    if (st) {
        fprintf(stderr, "rpc_bench: %s\n", skiff_status_message(st));
        return 1;
    }
    static const float house[13] = {0.0137f,  -0.1136f, 0.2553f,  -0.0692f, 0.0582f,
                                    -0.0727f, -0.1583f, -0.0584f, 0.6283f,  0.4919f,
                                    0.1856f,  0.0795f,  -0.0332f};
    skiff_tensor_t *x = NULL;
    if (floats) {
        int64_t dims[3] = {3, 224, floats / (3 * 224)};
        if (dims[2] * 3 * 224 != floats)
            dims[0] = floats, dims[1] = 1, dims[2] = 1;
        st = skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 3, dims, &x);
        for (long i = 0; !st && i < floats; i++)
            ((float *)x->data)[i] = (float)(i % 1000) / 1000.0f;
    } else {
        int64_t dims[1] = {13};
        st = skiff_tensor_wrap(SKIFF_DTYPE_FLOAT32, 1, dims, (void *)house, sizeof(house), &x);
    }
    worker *ws = calloc((size_t)threads, sizeof(*ws));
    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    if (st || !ws || !tids) {
        fprintf(stderr, "rpc_bench: out of memory\n");
        return 1;
    }
    double t0 = now_s();
    long started = 0;
    for (long i = 0; i < threads; i++) {
        ws[i] = (worker){.c = c,
                         .feed = skiff_client_feed_name(c, 0),
                         .x = x,
                         .until = t0 + seconds,
                         .cap_lat = MAX_LAT / threads};
        ws[i].lat_us = malloc(sizeof(unsigned) * (size_t)ws[i].cap_lat);
        if (!ws[i].lat_us || pthread_create(&tids[i], NULL, run, &ws[i]) != 0)
            break;
        started++;
    }
    long calls = 0, errors = 0, n = 0;
    for (long i = 0; i < started; i++) {
        pthread_join(tids[i], NULL);
        calls += ws[i].calls;
        errors += ws[i].errors;
        n += ws[i].n_lat;
    }
    double took = now_s() - t0;
    unsigned *all = malloc(sizeof(unsigned) * (size_t)(n ? n : 1));
    long k = 0;
    for (long i = 0; all && i < started; i++) {
        memcpy(all + k, ws[i].lat_us, sizeof(unsigned) * (size_t)ws[i].n_lat);
        k += ws[i].n_lat;
    }
    if (all && n)
        qsort(all, (size_t)n, sizeof(unsigned), cmp_u);
    printf("calls=%ld errors=%ld seconds=%.3f rps=%.1f p50_us=%u p99_us=%u\n", calls, errors, took,
           (double)calls / took, all && n ? all[n / 2] : 0, all && n ? all[(n * 99) / 100] : 0);
    for (long i = 0; i < threads; i++)
        free(ws[i].lat_us);
    free(all);
    free(ws);
    free(tids);
    skiff_tensor_free(x);
    skiff_client_free(c);
    return errors ? 1 : 0;
}
