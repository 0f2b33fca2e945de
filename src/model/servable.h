/* servable.h - what the serve layer serves: anything that takes a job of
 * named input tensors and gives back output tensors. A model directory is one
 * (servable.c wraps skiff__model: queue, batcher, instances); a pipeline of
 * several models will be another, behind the same endpoints, counters and
 * front ends. The serve layer sees only this table.
 *
 * Threads: describe, stats and queue_depth from any thread; job_new, check,
 * run_inline and submit from the front ends' threads, concurrently; a
 * submitted job's done callback runs on the servable's own thread. close
 * once, with nothing in flight.
 */
#ifndef SKIFF_MODEL_SERVABLE_H
#define SKIFF_MODEL_SERVABLE_H

#include "model/model.h"

typedef struct skiff__servable skiff__servable;

typedef struct skiff__servable_ops {
    const char *kind; /* "model", "pipeline": for logs and /v2/models/{m} platform */
    /* Inputs, outputs, batching and instances; borrowed for the servable's life. */
    const skiff__model_desc *(*describe)(const skiff__servable *sv);
    /* A job sized for this servable's inputs and outputs; caller owns it. */
    skiff_status_t *(*job_new)(const skiff__servable *sv, skiff__job **out_job);
    /* Checks a filled job against the inputs (dtypes, shapes, rows). */
    skiff_status_t *(*check)(const skiff__servable *sv, skiff__job *job);
    /* Runs the job on the caller's thread when that is cheaper than a queue
     * hand-off, calling with_outputs(job, user) while the outputs are valid;
     * false when it declined (then submit it). */
    bool (*run_inline)(skiff__servable *sv, skiff__job *job, skiff__job_done_cb with_outputs,
                       void *user);
    /* Queues the job; job->done(job, job->user) runs when it is finished.
     * On error the callback is never called. */
    skiff_status_t *(*submit)(skiff__servable *sv, skiff__job *job);
    /* Counters and histograms; live for the servable's life. */
    skiff__model_stats *(*stats)(skiff__servable *sv);
    /* Counts one finished request by outcome and end-to-end time. */
    void (*count_request)(skiff__servable *sv, skiff_code_t code, uint64_t e2e_ns);
    int (*queue_depth)(skiff__servable *sv);
    void (*close)(skiff__servable *sv);
} skiff__servable_ops;

struct skiff__servable {
    const skiff__servable_ops *ops;
    void *impl;
};

/* A model directory (or .onnx file) as a servable. Caller owns *out (close
 * it with sv->ops->close). */
skiff_status_t *skiff__servable_open_model(const char *path, const skiff__model_options *opts,
                                           skiff__servable **out);

#endif
