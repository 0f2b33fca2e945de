/* model_int.h - what model.c (loading) and sched.c (scheduling) share. */
#ifndef SKIFF_MODEL_INT_H
#define SKIFF_MODEL_INT_H

#include <pthread.h>

#include "model/model.h"

typedef struct skiff__instance {
    struct skiff__model *m;
    int index;
    pthread_t thread;
    bool started;
    bool busy; /* running a batch, or lent to an inline run */
    skiff_context_t *ctx;
    const skiff_tensor_t **in_ptrs;  /* scratch: engine inputs of one run */
    const skiff_tensor_t **out_ptrs; /* scratch: engine outputs of one run */
    struct skiff__job **batch;       /* scratch: the jobs of one batch */
} skiff__instance;

struct skiff__model {
    skiff__model_desc d;
    skiff_model_t *engine;
    skiff__model_stats stats;
    int n_engine_in;
    int n_engine_out;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* queue became non-empty, an instance came back, closing */
    skiff__job *head, *tail;
    int depth;
    bool closing;
    skiff__instance *inst;
    int n_inst;
    skiff__instance *islot; /* contexts only inline runs use (no thread) */
    int n_islot;
    int idle;    /* instances neither running nor lent */
    int filling; /* instances waiting for a batch to fill */
};

/* sched.c: starts the instance threads (contexts already made). */
skiff_status_t *skiff__sched_start(skiff__model *m);
/* sched.c: stops them after the queue drained. */
void skiff__sched_stop(skiff__model *m);
/* sched.c: one run of a single job on an instance's context (no queue, no
 * stats); the result lands in the job (status too), and is returned as well. */
skiff_status_t *skiff__sched_run_one(skiff__model *m, skiff__instance *in, skiff__job *job);

#endif
