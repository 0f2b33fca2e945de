/* client.c - calling a served model with libskiff_client (skiff/client.h).
 *
 *   example_client CLIENT_CONF ENDPOINTS [brpc|http|http_proto] [THREADS] [CALLS]
 *
 * Loads the uci_housing client conf, predicts the price of one house, then
 * has THREADS threads (default 1) make CALLS calls each (default 1) on the
 * one shared client, checking every answer against the first, bit for bit.
 * Prints the price and "ok: N calls"; exits non-zero on any error.
 *
 * Build against an install: cc client.c $(pkg-config --cflags --libs skiff_client)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/client.h"

static const float house[13] = {0.0137f,  -0.1136f, 0.2553f, -0.0692f, 0.0582f, -0.0727f, -0.1583f,
                                -0.0584f, 0.6283f,  0.4919f, 0.1856f,  0.0795f, -0.0332f};

typedef struct job {
    skiff_client_t *client;
    int calls;
    float expect;
    int failures;
} job;

/* One call: the feed borrows `house`; the result is ours to free. */
static skiff_status_t *price_of(skiff_client_t *c, float *out_price)
{
    int64_t dims[1] = {13};
    skiff_tensor_t *x = NULL;
    skiff_status_t *st =
        skiff_tensor_wrap(SKIFF_DTYPE_FLOAT32, 1, dims, (void *)house, sizeof(house), &x);
    if (st)
        return st;
    skiff_client_feed_t feed = {.name = "x", .tensor = x};
    const char *fetch[] = {"price"};
    skiff_client_result_t *res = NULL;
    st = skiff_client_predict(c, &feed, 1, fetch, 1, NULL, &res); /* batch=false: [1,13] */
    skiff_tensor_free(x);
    if (st)
        return st;
    const skiff_client_output_t *p = skiff_client_result_find(res, "price");
    if (!p || p->tensor->dtype != SKIFF_DTYPE_FLOAT32 || skiff_tensor_numel(p->tensor) != 1)
        st = skiff_status_new(SKIFF_CODE_INTERNAL, "the answer has no float32 'price'");
    else
        *out_price = ((const float *)p->tensor->data)[0];
    skiff_client_result_free(res);
    return st;
}

static void *worker(void *arg)
{
    job *j = arg;
    for (int i = 0; i < j->calls; i++) {
        float p = 0;
        skiff_status_t *st = price_of(j->client, &p);
        if (st || memcmp(&p, &j->expect, sizeof(p)) != 0) {
            if (j->failures++ < 3)
                fprintf(stderr, "call %d: %s (price %.9g)\n", i,
                        st ? skiff_status_message(st) : "a different answer", p);
        }
        skiff_status_free(st);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr,
                "usage: %s CLIENT_CONF ENDPOINTS [brpc|http|http_proto] [THREADS] [CALLS]\n",
                argv[0]);
        return 2;
    }
    skiff_client_options_t o = {.transport = SKIFF_CLIENT_BRPC, .timeout_ms = 10000};
    if (argc > 3 && !strcmp(argv[3], "http"))
        o.transport = SKIFF_CLIENT_HTTP_JSON;
    else if (argc > 3 && !strcmp(argv[3], "http_proto"))
        o.transport = SKIFF_CLIENT_HTTP_PROTO;
    long threads = argc > 4 ? strtol(argv[4], NULL, 10) : 1;
    long calls = argc > 5 ? strtol(argv[5], NULL, 10) : 1;
    if (threads < 1 || threads > 256 || calls < 1 || calls > 100000000) {
        fprintf(stderr, "THREADS must be 1..256 and CALLS at least 1\n");
        return 2;
    }
    skiff_client_t *c = NULL;
    skiff_status_t *st = skiff_client_new(argv[1], argv[2], &o, &c);
    float first = 0;
    if (!st)
        st = price_of(c, &first);
    if (st) {
        fprintf(stderr, "example_client: %s\n", skiff_status_message(st));
        skiff_status_free(st);
        skiff_client_free(c);
        return 1;
    }
    printf("price: %.8g\n", first);
    job *jobs = calloc((size_t)threads, sizeof(*jobs));
    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    int failures = 0;
    if (!jobs || !tids) {
        failures = 1;
        threads = 0;
    }
    int started = 0;
    for (long t = 0; t < threads; t++) {
        jobs[t] = (job){.client = c, .calls = (int)calls, .expect = first};
        if (pthread_create(&tids[t], NULL, worker, &jobs[t]) != 0) {
            failures++;
            break;
        }
        started++;
    }
    for (int t = 0; t < started; t++) {
        pthread_join(tids[t], NULL);
        failures += jobs[t].failures;
    }
    free(jobs);
    free(tids);
    skiff_client_free(c);
    if (failures) {
        fprintf(stderr, "example_client: %d failed calls\n", failures);
        return 1;
    }
    printf("ok: %ld calls\n", 1 + started * calls);
    return 0;
}
