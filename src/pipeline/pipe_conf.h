/* pipe_conf.h - a pipeline's config.yml (Paddle Serving's keys plus skiff's
 * own) read into plain structs. docs/pipeline.md lists every key.
 *
 * Paddle's keys: rpc_port, http_port, worker_num, build_dag_each_worker,
 * dag{is_thread_op, retry, client_type, use_profile, channel_size,
 * tracer{interval_s}}, op.NAME{concurrency, timeout, retry, batch_size,
 * auto_batching_timeout, server_endpoints, fetch_list, client_config,
 * local_service_conf{model_config, client_type, devices, thread_num,
 * mem_optim, ir_optim, precision, use_calib, ...}}. Keys that mean nothing
 * to skiff are accepted and listed in `notes` (one line each, with file and
 * line), never refused. skiff's keys: top-level `name` (the service name in
 * /{name}/{method}), and per op `input_ops`, `preprocess`, `postprocess`,
 * `class` (a Python op), `plugin` (a C plugin .so), `plugin_params`.
 *
 * A step in preprocess/postprocess is a one-key mapping `StepName: {params}`
 * or a bare `StepName`; params `in` and `out` (a name or a list of names)
 * say which of the op's named values the step reads and writes, every other
 * param goes to the step as a (key, value) string; a YAML list value becomes
 * "[a, b, c]".
 *
 * `name` defaults to the op's own name when the file has exactly one op, else
 * to "default_service"; it must be non-empty and hold no '/'.
 *
 * Errors are INVALID_ARG and name the file, line and key path:
 * "config.yml:12: op.uci.concurrency: expected an integer 1..1024, got 'x'";
 * YAML syntax errors "config.yml:3:7: YAML: <libyaml's problem>". Refused:
 * wrong types, values out of range, op names empty or holding '/', a key
 * given twice in one mapping (libyaml keeps both), op names included, input_ops
 * naming an unknown op, the op itself, or making a cycle, steps without a
 * name or with more than one key, a file without ops, and, so that a hostile
 * file stays cheap, YAML anchors and aliases and anything past the limits
 * below. A null value (`key:` alone) reads as the key not given.
 *
 * Paddle's quirks kept: retry 0 reads as 1 (with a note); timeout,
 * auto_batching_timeout and tracer.interval_s of 0 read as -1 (none);
 * `concurrency` and `fetch_list` may also sit in local_service_conf (the
 * op's own key wins when both are given). rpc_port and http_port may both be
 * absent: the caller decides whether a port comes from elsewhere.
 *
 * Threads: any; a conf is immutable once read.
 */
#ifndef SKIFF_PIPELINE_PIPE_CONF_H
#define SKIFF_PIPELINE_PIPE_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "skiff/status.h"

/* Limits a file must keep (beyond them it is refused, by name). */
#define SKIFF__PIPE_MAX_FILE ((size_t)1 << 20) /* bytes of config.yml */
#define SKIFF__PIPE_MAX_OPS 256
#define SKIFF__PIPE_MAX_STEPS 64  /* per preprocess/postprocess list */
#define SKIFF__PIPE_MAX_PARAMS 64 /* per step, in/out included; plugin_params */
#define SKIFF__PIPE_MAX_DEPTH 32  /* nested lists and mappings */
#define SKIFF__PIPE_MAX_KEYS 256  /* keys of any one mapping skiff reads */
#define SKIFF__PIPE_MAX_LIST 256  /* names in input_ops, fetch_list, ... */
#define SKIFF__PIPE_MAX_NOTES 256 /* listed; one more line counts the rest */

typedef struct skiff__pipe_kv {
    const char *key;
    const char *value;
} skiff__pipe_kv;

typedef struct skiff__pipe_step {
    const char *name;       /* the built-in step's name */
    skiff__pipe_kv *params; /* without in/out */
    int n_params;
    const char **in; /* names read; NULL/0: the step's default (see docs) */
    int n_in;
    const char **out; /* names written; NULL/0: the same as in */
    int n_out;
    int line; /* 1-based line in the file, for messages */
} skiff__pipe_step;

typedef enum skiff__pipe_client_type {
    SKIFF__PIPE_LOCAL = 0, /* local_predictor: in-process */
    SKIFF__PIPE_BRPC,
    SKIFF__PIPE_GRPC,
    SKIFF__PIPE_HTTP,
} skiff__pipe_client_type;

typedef struct skiff__pipe_op_conf {
    const char *name;
    int line;
    const char **input_ops; /* names; NULL/0: the request */
    int n_input_ops;
    int concurrency;               /* threads, >= 1 (default 1) */
    int64_t timeout_ms;            /* -1: none */
    int retry;                     /* tries, >= 1 (default 1) */
    int batch_size;                /* >= 1 (default 1) */
    int64_t auto_batching_timeout; /* ms; -1: none */
    const char **server_endpoints; /* remote ops: "host:port" */
    int n_server_endpoints;
    const char **fetch_list;
    int n_fetch_list;
    const char *client_config; /* remote ops: client conf dir or file; NULL */
    /* local_service_conf */
    const char *model_config; /* model directory, relative paths resolved
                                 against the config file's folder; NULL:
                                 the op runs no model */
    skiff__pipe_client_type client_type;
    const char *devices;      /* as written; NULL or "": the CPU */
    int thread_num;           /* 0: skiff's default */
    bool ir_optim, mem_optim; /* Paddle's defaults false, true; no effect */
    const char *precision;    /* fp32 (default), fp16, bf16 or int8, lower case */
    /* warmup_shapes (skiff's own): shapes of the model's first input run
     * once per instance at startup; shape i is warmup_dims[i * 8 ..] with
     * warmup_ndims[i] dims */
    int64_t *warmup_dims;
    int *warmup_ndims;
    int n_warmup_shapes;
    skiff__pipe_step *pre;
    int n_pre;
    skiff__pipe_step *post;
    int n_post;
    const char *py_class; /* `class: module.Name`, or NULL */
    void *py_obj;         /* the Python op object (pyop.h), set by the caller: from
                             py_class, or registered by a --py_main script */
    const char *plugin;   /* path of a .so, or NULL */
    skiff__pipe_kv *plugin_params;
    int n_plugin_params;
    /* `split:` run preprocess, model and postprocess once per group of at
     * most split_rows rows of the split_in values (rows in the order of
     * split_sort's widths when given), then join the split_out values'
     * rows back in the original order. n_split_in 0: one run. */
    const char **split_in;
    int n_split_in;
    const char **split_out;
    int n_split_out;
    int split_rows;
    const char *split_sort; /* int64 [N,2] (height, width) sizes, or NULL */
    int split_parallel;     /* groups run at once (default 1); the op's model
                               gets at least this many instances */
} skiff__pipe_op_conf;

typedef struct skiff__pipe_conf {
    const char *path; /* the file read */
    const char *dir;  /* its folder, for relative paths */
    const char *name; /* `name`; default: the only op's name, or "default_service" */
    int rpc_port;     /* 0: not given */
    int http_port;
    int worker_num;
    bool build_dag_each_worker;
    /* dag */
    bool is_thread_op;
    int dag_retry;
    skiff__pipe_client_type dag_client_type;
    bool use_profile;
    int channel_size;          /* 0: Paddle's unbounded; skiff bounds it (docs) */
    int64_t tracer_interval_s; /* -1: off */
    skiff__pipe_op_conf *ops;  /* in file order */
    int n_ops;
    const char **notes; /* "config.yml:7: dag.is_thread_op: ... (no effect: ...)" */
    int n_notes;
    skiff__arena *arena; /* owns every string and array above */
} skiff__pipe_conf;

/* Reads the file at path. Caller frees *out with skiff__pipe_conf_free. */
skiff_status_t *skiff__pipe_conf_load(const char *path, skiff__pipe_conf **out);
/* The same from bytes (fuzzers, tests); `path` names them in messages and
 * gives the folder relative paths are resolved against. */
skiff_status_t *skiff__pipe_conf_parse(const char *text, size_t len, const char *path,
                                       skiff__pipe_conf **out);
void skiff__pipe_conf_free(skiff__pipe_conf *c);

#endif
