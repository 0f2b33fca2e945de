/* model.h - the model layer: serving model directories and the scheduler that
 * runs requests on them.
 *
 * A skiff__model is one served model: its ONNX graph compiled once, its
 * Paddle feed/fetch variables (name <-> alias), a bounded request queue, and N
 * instances, each a named thread with its own engine context. Frontends turn
 * bytes into a skiff__job (borrowed input tensors in feed order) and submit it;
 * an instance runs it, possibly merged with other queued jobs into one batch,
 * and calls the job's done callback. Frontends never touch the engine.
 *
 * Scheduling never delays an idle model: a job submitted while an instance is
 * free runs at once (or inline on the caller's thread, see
 * skiff__model_run_inline). Only jobs that queued up while every instance was
 * busy are merged, up to max_batch rows, waiting at most max_queue_delay_us
 * from the oldest one for more to arrive.
 *
 * Internal to skiff. Threads: a model's functions may be called from any
 * thread concurrently, except open/close.
 */
#ifndef SKIFF_MODEL_H
#define SKIFF_MODEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/defaults.h"
#include "model/conf.h"
#include "skiff/engine.h"
#include "skiff/status.h"
#include "skiff/tensor.h"

#define SKIFF__BATCH_SIZES_MAX 32

typedef enum skiff__inline_mode {
    SKIFF__INLINE_AUTO = 0, /* inline when a warm-up run takes under inline_max_us */
    SKIFF__INLINE_ON = 1,
    SKIFF__INLINE_OFF = 2,
} skiff__inline_mode;

typedef struct skiff__model_options {
    const char *name;       /* served name; NULL = the directory's basename */
    int instances;          /* instance threads; >= 1 (the CLI resolves "auto") */
    int threads;            /* intra-op threads per instance; >= 1 */
    int max_batch;          /* most rows merged into one run (--batch_infer_size) */
    int max_queue_delay_us; /* longest a backlog waits to fill a batch */
    /* Batch sizes a run is padded up to (--batch_sizes): "any" (no
     * padding), "auto" (powers of two up to max_batch, and max_batch) or an
     * ascending list "1,2,4,8". NULL = "any". */
    const char *batch_sizes;
    /* Batch sizes each instance runs once at startup (--warmup_batches),
     * in the same forms; NULL = "1". */
    const char *warmup_batches;
    /* Shapes of the first input each instance runs once at startup, the
     * other inputs as the one-row warm-up makes them (a pipeline op's
     * local_service_conf.warmup_shapes): shape i has warmup_ndims[i] sizes
     * at warmup_dims[i * 8]. */
    const int64_t *warmup_dims;
    const int *warmup_ndims;
    int n_warmup_shapes;
    /* --warmup_shapes: "[NAME:]AxBxC,..." (a shape without NAME: for every
     * model); this model's shapes join those above. NULL: none. */
    const char *warmup_spec;
    int queue_size; /* jobs waiting at most; more get RESOURCE_EXHAUSTED */
    skiff__inline_mode inline_mode;
    int inline_max_us; /* AUTO threshold */
    /* Contexts kept for inline runs besides the instances' (the serve layer
     * passes its I/O thread count), made only when inline runs are on: each
     * I/O thread can then run a tiny model without waiting for an instance. */
    int inline_slots;
    bool optimize; /* engine graph passes */
    /* A directory's model and parameter file names when they are not the
     * recognised ones (--model_filename / --params_filename); NULL = by
     * name. */
    const char *model_filename;
    const char *params_filename;
    skiff_precision_t precision; /* requested; the engine may fall back to fp32 */
    /* --precision's spec (see skiff__model_precision_for), resolved against
     * the served name; wins over `precision` where it names one. NULL: none. */
    const char *precision_spec;
} skiff__model_options;

/* The precision a --precision spec gives the model served as `name`: one
 * precision for every model ("bf16"), or per model ("resnet=bf16,bert=int8",
 * a bare entry the default for the rest); fp32 when spec is NULL or names
 * other models only. An error names the flag and the entry when the spec is
 * malformed; name NULL only checks it. */
skiff_status_t *skiff__model_precision_for(const char *spec, const char *name,
                                           skiff_precision_t *out);

/* Fills options with the SKIFF_DEFAULT_* values (1 instance, 1 thread). */
void skiff__model_options_default(skiff__model_options *opts);

/* The shapes of a --warmup_shapes spec for the model `name` (NULL: every
 * item, only the syntax checked): up to SKIFF__WARM_SHAPES_MAX shapes, shape
 * i at dims[i * 8] with ndims[i] sizes. */
#define SKIFF__WARM_SHAPES_MAX 64
skiff_status_t *skiff__parse_warm_spec(const char *spec, const char *name, int64_t *dims,
                                       int *ndims, int *n);

/* Resolves a --batch_sizes or --warmup_batches spec (see
 * skiff__model_options) against max_batch into at most
 * SKIFF__BATCH_SIZES_MAX ascending sizes; *n = 0 for "any". `flag` names
 * the option in errors. */
skiff_status_t *skiff__parse_batch_sizes(const char *flag, const char *spec, int max_batch,
                                         int *sizes, int *n);

/* One feed or fetch variable. */
typedef struct skiff__model_var {
    char *name;  /* model tensor name */
    char *alias; /* client-facing name */
    bool is_lod;
    int paddle_type;
    skiff_dtype_t dtype;
    int ndim; /* dims below, without the batch dim when batched; -1 any */
    int64_t dims[SKIFF_MAX_DIMS];
    bool batched;        /* the model tensor has a leading batch dim */
    int64_t fixed_batch; /* that dim's size when the graph fixes it, else -1 */
    int engine_index;    /* index in skiff_model_input/output order */
    /* The engine index of the var's LoD offsets (a Paddle LoD feed's
     * <name>.lod input, filled from the job's LoD; a fetch's <name>.lod
     * output, answered as its LoD), or -1. */
    int lod_index;
} skiff__model_var;

/* Fixed log-scale histogram buckets (upper bounds, microseconds / rows). */
#define SKIFF__HIST_N 20
extern const double skiff__latency_bounds_us[SKIFF__HIST_N];
extern const double skiff__batch_bounds[SKIFF__HIST_N];

typedef struct skiff__hist {
    _Atomic uint64_t bucket[SKIFF__HIST_N + 1]; /* last = +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum; /* microseconds, or rows */
} skiff__hist;

void skiff__hist_add(skiff__hist *h, const double *bounds, uint64_t v);

/* Per-model counters; all atomics, read without locks by /metrics. */
typedef struct skiff__model_stats {
    _Atomic uint64_t req_by_code[10]; /* requests by final skiff_code_t */
    _Atomic uint64_t inference_count; /* rows inferred */
    _Atomic uint64_t execution_count; /* engine runs */
    _Atomic uint64_t inline_count;    /* jobs run on the I/O thread */
    _Atomic uint64_t merged_jobs;     /* jobs that ran merged with others */
    _Atomic uint64_t padded_rows;     /* rows added to reach an allowed batch size */
    _Atomic uint64_t success_ns, fail_ns, queue_ns, compute_ns; /* sums, Triton stats */
    _Atomic uint64_t queue_count, compute_count;
    _Atomic int64_t in_flight;
    _Atomic uint64_t last_inference_ms; /* wall clock ms of the last run */
    skiff__hist e2e_us, queue_us, compute_us, batch_rows;
} skiff__model_stats;

/* Requests that ended in any code but OK (the sum of req_by_code[1..]). */
uint64_t skiff__stats_failures(skiff__model_stats *st);

/* What a model is; borrowed from the model, immutable after open. */
typedef struct skiff__model_desc {
    const char *name;
    const char *dir;
    const char *onnx_path;
    /* KServe's platform: "skiff_onnx", or "skiff_paddle" for a Paddle
     * program (static string). */
    const char *platform;
    const char *precision; /* in use: "fp32", "bf16" or "int8" (static string) */
    skiff__model_var *feed;
    int n_feed;
    skiff__model_var *fetch;
    int n_fetch;
    bool mergeable; /* jobs may be merged along the batch dim */
    int instances;
    int threads;
    int max_batch;
    int max_queue_delay_us;
    /* Rows a run is padded up to (ascending; none = no padding). Only for
     * mergeable models and jobs without LoD inputs. */
    int batch_sizes[SKIFF__BATCH_SIZES_MAX];
    int n_batch_sizes;
    int warmup_batches[SKIFF__BATCH_SIZES_MAX]; /* run once per instance at startup */
    int n_warmup_batches;
    int queue_size;
    bool inline_ok;    /* resolved inline mode */
    double warmup_us;  /* one-row warm-up run time, 0 if not measured */
    size_t inst_bytes; /* an instance's intermediate buffers and scratch after the warm-up
                          (its own memory; the weights are shared), 0 if not measured */
} skiff__model_desc;

typedef struct skiff__model skiff__model;

/* What a model path names, without loading it: the ONNX file (a directory's
 * model.onnx or only *.onnx; a file path as it is; the directory itself
 * when it holds a Paddle model or model_filename names its file) and the directory's
 * serving_server_conf.prototxt when it has one (*out_conf NULL otherwise).
 * Caller frees *out_onnx with skiff__free and *out_conf with
 * skiff__model_conf_free. */
skiff_status_t *skiff__model_dir_resolve(const char *path, const char *model_filename,
                                         char **out_onnx, skiff__model_conf **out_conf);

/* Opens a serving model directory (model.onnx + serving_server_conf.prototxt;
 * without a conf the feed/fetch vars come from the graph) or an .onnx file,
 * compiles it, checks the conf against the graph, and starts the instances.
 * Caller owns *out_model (skiff__model_close). */
skiff_status_t *skiff__model_open(const char *path, const skiff__model_options *opts,
                                  skiff__model **out_model);

/* Stops the instances after the queued jobs ran, frees everything. Jobs still
 * running must finish first (the server drains before closing). NULL ok. */
void skiff__model_close(skiff__model *m);

const skiff__model_desc *skiff__model_describe(const skiff__model *m);
skiff__model_stats *skiff__model_get_stats(skiff__model *m);

/* Jobs waiting in the queue now. */
int skiff__model_queue_depth(skiff__model *m);

/* ---- jobs ------------------------------------------------------------------ */

typedef struct skiff__job skiff__job;
typedef void (*skiff__job_done_cb)(skiff__job *job, void *user);

struct skiff__job {
    /* In: set by the submitter. Tensors and LoD are borrowed until done. */
    const skiff_tensor_t **inputs; /* [n_feed], feed order; NULL = absent */
    const int64_t **lod;           /* [n_feed] offsets or NULL */
    int *n_lod;                    /* [n_feed] */
    bool *want;                    /* [n_fetch]; all false = every output */
    uint64_t deadline_ns;          /* skiff__now_ns() clock; 0 = none */
    uint64_t log_id;
    skiff__job_done_cb done;
    void *user;

    /* Out: valid once done is called (or run_inline returned true). */
    skiff_status_t *status;   /* owned by the job */
    skiff_tensor_t **outputs; /* [n_fetch], owned; NULL where not wanted */
    int64_t **out_lod;        /* [n_fetch] owned offsets or NULL */
    int *n_out_lod;
    int64_t rows;   /* the job's batch (sequences for LoD) */
    int batch_rows; /* rows of the run it was part of */
    uint64_t t_submit, t_start, t_end;

    /* Private to the scheduler. */
    skiff__job *next;
    int64_t lod_rows;    /* dim-0 rows of the first LoD input, or -1 */
    int lod_input;       /* feed index of that input, or -1 */
    int n_feed, n_fetch; /* array lengths */
};

/* A job sized for model m, inputs empty. Caller owns it (skiff__job_free). */
skiff_status_t *skiff__job_new(const skiff__model *m, skiff__job **out_job);

/* Drops the outputs and status so the job can be submitted again. */
void skiff__job_reset(skiff__job *job);
/* Reset, and forgets the inputs, LoD, wanted outputs, deadline and callback
 * too: the job is as skiff__job_new made it, for the next request. */
void skiff__job_clear(skiff__job *job);
void skiff__job_free(skiff__job *job);

/* Validates the job's inputs against the model (every input present, batch
 * dims agree) and sets job->rows. Called by submit and run_inline; frontends
 * may call it earlier to answer 400 before queueing. */
skiff_status_t *skiff__model_check_job(const skiff__model *m, skiff__job *job);

/* Queues a job. On success done(job, user) is called exactly once, from an
 * instance thread, with job->status set on failure (DEADLINE_EXCEEDED when the
 * deadline passed while queued). Fails synchronously - without calling done -
 * with INVALID_ARG (bad inputs), RESOURCE_EXHAUSTED (queue full) or
 * UNAVAILABLE (closing). */
skiff_status_t *skiff__model_submit(skiff__model *m, skiff__job *job);

/* Runs the job now on the calling thread when the model allows inline runs,
 * nothing is queued and an instance is idle (its context is borrowed for the
 * run). Returns true when it ran, false when the job should be submitted
 * instead. The job's done callback is not called. With with_outputs NULL the
 * results stay in the job (outputs owned by it); otherwise with_outputs(job,
 * user) is called before the context goes back, with job->status or outputs
 * that point into the context - valid only during the call, and cleared after
 * it - so a caller that only encodes them copies nothing. */
bool skiff__model_run_inline(skiff__model *m, skiff__job *job, skiff__job_done_cb with_outputs,
                             void *user);

/* Counts a finished request (any outcome) in the model's stats. */
void skiff__model_count_request(skiff__model *m, skiff_code_t code, uint64_t e2e_ns);

/* ---- serving confs from a graph (skiff convert, dirs without a conf) ------ */

/* Builds a GeneralModelConfig from a compiled model's inputs and outputs:
 * the leading dim is the batch dim, aliases from the comma-separated lists
 * (NULL or shorter lists: the tensor names). Caller owns *out_conf. */
skiff_status_t *skiff__model_conf_from_graph(const skiff_model_t *engine, const char *feed_aliases,
                                             const char *fetch_aliases,
                                             skiff__model_conf **out_conf);

#endif
