/* serve.h - the serve layer as the CLI sees it: a configuration (one
 * declarative table parses flags, validates them and prints --help) and a
 * server that runs until SIGTERM/SIGINT.
 *
 * Internal to skiff. Threads: parse/help/main are called from the main
 * thread; the server starts its own threads and joins them before returning.
 */
#ifndef SKIFF_SERVE_H
#define SKIFF_SERVE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/defaults.h"
#include "skiff/status.h"

struct skiff__arena;

typedef struct skiff__serve_config {
    const char *config;       /* --config FILE (YAML), or NULL */
    const char *pipeline;     /* --pipeline config.yml, or NULL */
    const char *py_main;      /* --py_main web_service.py: its WebService's ops, or NULL */
    bool port_given;          /* --port on the command line or in --config */
    const char **models;      /* directories (borrowed from argv or the arena); n_models >= 1
                                 unless pipeline is given */
    const char **model_names; /* [n_models]: NAME of DIR:NAME, or NULL */
    int n_models;
    const char *name; /* served name of a single model */
    const char *host;
    int port; /* 0 = any free port (logged, and written to port_file) */
    const char *port_file;
    int threads;    /* intra-op threads per instance; 0 = auto */
    int instances;  /* instances per model; 0 = auto */
    int io_threads; /* HTTP I/O threads; 0 = auto */
    int batch_infer_size;
    const char *batch_sizes;    /* auto | any | ascending list */
    const char *warmup_batches; /* the same forms */
    const char *warmup_shapes;  /* "[NAME:]AxBxC,...": first-input shapes run at start */
    int max_queue_delay_us;
    int queue_size;
    int64_t max_body_size;
    int max_header_size;
    int64_t max_elements;
    int idle_timeout_s;
    int request_timeout_s;
    int grace_s;
    int64_t timeout_ms;      /* default per-request deadline; 0 = none */
    const char *inline_mode; /* auto | on | off */
    int inline_max_us;
    int max_connections;
    bool access_log;
    const char *log_level;
    bool ir_optim;
    const char *model_filename; /* Paddle's: other file names in every --model dir */
    const char *params_filename;
    /* --precision: one precision for every model ("bf16"), or per model
     * ("resnet=bf16,bert=int8", a bare entry the default for the rest);
     * checked at parse time (skiff__model_precision_for). */
    const char *precision;
    bool use_calib; /* Paddle's: every --model dir must be calibrated (calibration.json) */
    struct skiff__arena *arena; /* lists and YAML values; freed by skiff__serve_config_free */
} skiff__serve_config;

/* Fills defaults, reads --config FILE (YAML, the same keys) when given, then
 * parses argv (argv[0] is the subcommand name; flags win over the file, and
 * --model on the command line replaces the file's list). Sets *out_help and
 * returns NULL for --help. Errors are INVALID_ARG naming the flag, or the
 * file, line and key. Strings are borrowed from argv or held in cfg->arena:
 * free with skiff__serve_config_free (also after an error). */
skiff_status_t *skiff__serve_config_parse(int argc, char **argv, skiff__serve_config *cfg,
                                          bool *out_help);
void skiff__serve_config_free(skiff__serve_config *cfg);

/* Prints every flag with its default and help. */
void skiff__serve_config_help(FILE *f);

/* Exit status of `skiff serve` when SIGTERM's grace period ran out and
 * requests in flight were cut (0 after a clean drain, 1 on a start error). */
#define SKIFF__EXIT_CUT 3

/* Loads the models, listens, serves until SIGTERM/SIGINT, drains and
 * returns the process exit status (0 after a clean drain, SKIFF__EXIT_CUT
 * when requests were cut). */
int skiff__serve_run(const skiff__serve_config *cfg);

#endif
