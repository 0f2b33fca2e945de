/* pipeline.h - a pipeline: the ops of a config.yml (pipe_conf.h) run as a
 * DAG over named values (docs/pipeline.md).
 *
 * A request's values (a key/value pair's value is a 0-d STRING tensor, a
 * tensor is itself) enter the ops without input_ops; an op runs once all its
 * input ops are done, on one of its `concurrency` threads: it merges its
 * inputs' values (in input_ops order; a later input's value of the same name
 * wins), runs its preprocess steps, its model (feeds by alias from the
 * values, fetches written back by alias), its postprocess steps, and hands
 * every value on. The answer holds the values the last ops (those no op
 * reads) produced themselves, not those they were handed: for an op with a
 * model, its fetches and what its postprocess steps wrote; for an op
 * without one, what its steps wrote.
 *
 * Values are shared between ops by reference count, never copied; a step or
 * a model writes new tensors.
 *
 * Threads: submit from any thread, any number at once; a call's done
 * callback runs on an op thread. free once nothing is in flight.
 */
#ifndef SKIFF_PIPELINE_PIPELINE_H
#define SKIFF_PIPELINE_PIPELINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/servable.h"
#include "pipeline/pipe_conf.h"
#include "skiff/tensor.h"

/* A value shared by the ops that hold it. */
typedef struct skiff__pipe_val {
    _Atomic int refs;
    skiff_tensor_t *t; /* owned */
    int64_t *lod;      /* owned offsets, or NULL */
    int n_lod;
} skiff__pipe_val;

typedef struct skiff__pipe_var {
    char *name; /* owned */
    skiff__pipe_val *v;
    bool produced; /* written by the op holding the dict */
} skiff__pipe_var;

/* Named values, in the order they were first set. */
typedef struct skiff__pipe_dict {
    skiff__pipe_var *vars;
    int n, cap;
} skiff__pipe_dict;

/* Sets name to tensor t (stolen, also on error) with lod (copied; NULL for
 * none); replaces an older value of the name. */
skiff_status_t *skiff__pipe_dict_put(skiff__pipe_dict *d, const char *name, size_t name_len,
                                     skiff_tensor_t *t, const int64_t *lod, int n_lod);
/* A 0-d STRING tensor holding bytes s (n bytes) under name. */
skiff_status_t *skiff__pipe_dict_put_str(skiff__pipe_dict *d, const char *name, size_t name_len,
                                         const char *s, size_t n);
/* Sets name to v (a reference handed over, also on error), as produced. */
skiff_status_t *skiff__pipe_dict_set(skiff__pipe_dict *d, const char *name, skiff__pipe_val *v);
void skiff__pipe_val_ref(skiff__pipe_val *v);
void skiff__pipe_val_unref(skiff__pipe_val *v);
/* The variable called name, or NULL. */
const skiff__pipe_var *skiff__pipe_dict_get(const skiff__pipe_dict *d, const char *name);
/* Drops every value (the dict stays usable). */
void skiff__pipe_dict_clear(skiff__pipe_dict *d);
void skiff__pipe_dict_free(skiff__pipe_dict *d);

typedef struct skiff__pipeline skiff__pipeline;

/* Finds the servable of an op's model_config (already loaded by the caller;
 * it outlives the pipeline). NULL when there is none: the op's creation fails. */
typedef skiff__servable *(*skiff__pipe_find_cb)(void *user, const skiff__pipe_op_conf *op);

/* Builds the pipeline: steps created (a bad parameter names the op, the
 * step and its line), models looked up, fetch lists checked against the
 * models, threads started. conf must outlive the pipeline. */
skiff_status_t *skiff__pipeline_new(const skiff__pipe_conf *conf, skiff__pipe_find_cb find,
                                    void *user, skiff__pipeline **out);
/* The service name (conf's name). */
const char *skiff__pipeline_name(const skiff__pipeline *p);
/* Stops the threads; no call may be in flight. */
void skiff__pipeline_free(skiff__pipeline *p);

/* One request. The caller zeroes it, fills `in`, and keeps it alive until
 * done runs (or submit fails). */
typedef struct skiff__pipe_call {
    skiff__pipe_dict in;  /* the request's values (kept until skiff__pipe_call_clear) */
    skiff__pipe_dict out; /* the answer's values, once done */
    uint64_t deadline_ns; /* skiff__now_ns clock; 0 = none */
    uint64_t log_id;
    bool profile;      /* answer with "pipeline.profile" too */
    skiff_code_t code; /* SKIFF_CODE_OK, or why it failed */
    int err_no;        /* an op's own error code (a Python op's prod_errcode), or 0 */
    char msg[1024];    /* the error, naming the op */
    void (*done)(void *user);
    void *user;
    bool sync_done; /* submit finished the call itself (quick ops ran on the
                       caller's thread): done is not called, the answer is ready */
    void *priv;     /* the pipeline's */
} skiff__pipe_call;

/* Starts a call. On error (the pipeline's first queue is full: overload)
 * nothing runs and done is never called. When it returns with
 * c->sync_done set, the call is over and done is not called either. */
skiff_status_t *skiff__pipeline_submit(skiff__pipeline *p, skiff__pipe_call *c);
/* Frees a finished call's values (the call can be reused after). */
void skiff__pipe_call_clear(skiff__pipe_call *c);

/* Per-op figures for /metrics. */
typedef struct skiff__pipe_op_stats {
    const char *name;
    uint64_t ok, failed;
    uint64_t le_us[12]; /* cumulative counts at 100us .. 10s (see pipeline.c) */
    uint64_t sum_ns;
} skiff__pipe_op_stats;
int skiff__pipeline_n_ops(const skiff__pipeline *p);
void skiff__pipeline_op_stats(const skiff__pipeline *p, int i, skiff__pipe_op_stats *out);
extern const double skiff__pipe_bounds_s[12];

#endif
