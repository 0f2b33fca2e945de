/* config.c - the flags of `skiff serve`, as one table (core/config.h): name,
 * type, default, bounds, help. The same table parses argv, reads a YAML file
 * of the same keys (--config), checks bounds and prints --help, so they can
 * never disagree. Paddle Serving's flag names are used where it has one; its
 * flags that mean nothing here are accepted with a note, so existing scripts
 * keep working.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/core.h"
#include "model/model.h"
#include "proto/codec.h"
#include "serve/serve.h"

#define OFF(f) offsetof(skiff__serve_config, f)

static const skiff__cfg_key flags[] = {
    {"model", SKIFF__CFG_LIST, OFF(models), 0, NULL, 0, 0, NULL, "DIR[:NAME] ...",
     "serving model directories (model.onnx + serving_server_conf.prototxt) or .onnx files; "
     "each is served as NAME, or under its directory's name without :NAME",
     OFF(n_models)},
    {"name", SKIFF__CFG_STR, OFF(name), 0, NULL, 0, 0, NULL, "NAME",
     "served name of a single model (default: the directory's name); Paddle web URL "
     "/NAME/prediction. With several models use --model DIR:NAME"},
    {"port", SKIFF__CFG_INT, OFF(port), SKIFF_DEFAULT_PORT, NULL, 0, 65535, NULL, "N",
     "TCP port for every protocol; 0 picks a free one"},
    {"host", SKIFF__CFG_STR, OFF(host), 0, SKIFF_DEFAULT_HOST, 0, 0, NULL, "ADDR",
     "address to listen on (0.0.0.0 for every interface)"},
    {"pipeline", SKIFF__CFG_STR, OFF(pipeline), 0, NULL, 0, 0, NULL, "CONFIG.YML",
     "serve a pipeline: Paddle Serving's config.yml (ops, their models and steps; "
     "docs/pipeline.md) on its http_port and rpc_port, unless --port is given; its models "
     "are served by their op names too"},
    {"py_main", SKIFF__CFG_STR, OFF(py_main), 0, NULL, 0, 0, NULL, "SCRIPT.PY",
     "with --pipeline: run a Paddle web_service.py in skiff's embedded Python; the ops its "
     "WebService.get_pipeline_response returns are the pipeline, configured by the config.yml "
     "op sections of the same names (python3 web_service.py does this itself)"},
    {"config", SKIFF__CFG_STR, OFF(config), 0, NULL, 0, 0, NULL, "FILE",
     "read these settings from a YAML file first (keys are the flag names, e.g. port: 9393, "
     "model: [a:uci, b]); flags given here win"},
    {"port_file", SKIFF__CFG_STR, OFF(port_file), 0, NULL, 0, 0, NULL, "PATH",
     "write the port listened on to PATH once ready (useful with --port 0)"},
    {"thread", SKIFF__CFG_INT, OFF(threads), 0, " = auto", 0, 1024, NULL, "N",
     "intra-op compute threads per instance; 0 = auto (instances x threads <= cores)"},
    {"instances", SKIFF__CFG_INT, OFF(instances), 0, " = auto", 0, 1024, NULL, "N",
     "instances per model, each a thread with its own engine context; 0 = auto"},
    {"io_threads", SKIFF__CFG_INT, OFF(io_threads), 0, " = auto", 0, 256, NULL, "N",
     "HTTP I/O threads (parse, encode, and run tiny models inline); 0 = auto"},
    {"batch_infer_size", SKIFF__CFG_INT, OFF(batch_infer_size), SKIFF_DEFAULT_BATCH_INFER_SIZE,
     NULL, 1, 1 << 20, NULL, "N", "most rows merged into one run when requests queue up"},
    {"batch_sizes", SKIFF__CFG_STR, OFF(batch_sizes), 0, "any", 0, 0, NULL, "LIST",
     "batch sizes a run is padded up to with copies of its last row, so the engine compiles "
     "fewer shapes: any = no padding, auto = powers of two up to --batch_infer_size, or e.g. "
     "1,4,16,32"},
    {"warmup_batches", SKIFF__CFG_STR, OFF(warmup_batches), 0, "1", 0, 0, NULL, "LIST",
     "batch sizes each instance runs once at startup, so no request pays their first run "
     "(kernels are compiled per shape): e.g. 1,2,4,8, or auto (powers of two up to "
     "--batch_infer_size)"},
    {"warmup_shapes", SKIFF__CFG_STR, OFF(warmup_shapes), 0, NULL, 0, 0, NULL, "LIST",
     "shapes of a model's first input each instance runs once at startup, for models whose "
     "input sizes vary (kernels are compiled per shape): e.g. 1x3x480x640,1x3x640x640; "
     "NAME:1x3x48x320 for one model of several (a pipeline op's model by the op's name)"},
    {"max_queue_delay_us", SKIFF__CFG_INT, OFF(max_queue_delay_us),
     SKIFF_DEFAULT_MAX_QUEUE_DELAY_US, NULL, 0, 10000000, NULL, "US",
     "longest a backlog waits for a batch to fill (an idle model never waits)"},
    {"queue_size", SKIFF__CFG_INT, OFF(queue_size), SKIFF_DEFAULT_QUEUE_SIZE, NULL, 1, 1 << 24,
     NULL, "N", "requests waiting per model; beyond it requests get 503 with Retry-After"},
    {"max_body_size", SKIFF__CFG_I64, OFF(max_body_size), SKIFF_DEFAULT_MAX_BODY_SIZE, NULL, 1024,
     (int64_t)1 << 40, NULL, "BYTES", "largest request body (413 beyond)"},
    {"max_header_size", SKIFF__CFG_INT, OFF(max_header_size), SKIFF_DEFAULT_MAX_HEADER_SIZE, NULL,
     1024, 1 << 20, NULL, "BYTES", "largest request line + headers (431 beyond)"},
    {"max_elements", SKIFF__CFG_I64, OFF(max_elements), SKIFF_CODEC_DEFAULT_MAX_ELEMENTS, NULL, 1,
     (int64_t)1 << 40, NULL, "N", "most tensor elements in one request"},
    {"idle_timeout_s", SKIFF__CFG_INT, OFF(idle_timeout_s), SKIFF_DEFAULT_IDLE_TIMEOUT_S, NULL, 1,
     86400, NULL, "S", "close a keep-alive connection idle (no request) for this long"},
    {"request_timeout_s", SKIFF__CFG_INT, OFF(request_timeout_s), SKIFF_DEFAULT_REQUEST_TIMEOUT_S,
     NULL, 1, 86400, NULL, "S",
     "a request's head and body must be complete this long after its first byte (408 "
     "beyond); a connection that sends nothing is closed after it"},
    {"timeout_ms", SKIFF__CFG_I64, OFF(timeout_ms), 0, NULL, 0, (int64_t)1 << 40, NULL, "MS",
     "default deadline of a request in the queue (0 = none); requests may set their own with "
     "X-Request-Timeout-Ms or KServe parameters.timeout"},
    {"grace_s", SKIFF__CFG_INT, OFF(grace_s), SKIFF_DEFAULT_GRACE_S, NULL, 0, 3600, NULL, "S",
     "on SIGTERM/SIGINT, how long in-flight requests may take to finish"},
    {"inline", SKIFF__CFG_CHOICE, OFF(inline_mode), 0, "auto", 0, 0, "auto|on|off", "MODE",
     "run a request on the I/O thread when an instance is idle: auto = when the model's "
     "warm-up run is under --inline_max_us"},
    {"inline_max_us", SKIFF__CFG_INT, OFF(inline_max_us), SKIFF_DEFAULT_INLINE_MAX_US, NULL, 0,
     10000000, NULL, "US", "--inline auto threshold"},
    {"max_connections", SKIFF__CFG_INT, OFF(max_connections), SKIFF_DEFAULT_MAX_CONNECTIONS, NULL,
     1, 1 << 20, NULL, "N", "open connections at most"},
    {"access_log", SKIFF__CFG_BOOL, OFF(access_log), 0, NULL, 0, 0, NULL, NULL,
     "log one line per request"},
    {"log_level", SKIFF__CFG_CHOICE, OFF(log_level), 0, "info", 0, 0, "debug|info|warn|error",
     "LEVEL", "log verbosity"},
    {"ir_optim", SKIFF__CFG_BOOL, OFF(ir_optim), 1, NULL, 0, 0, NULL, NULL,
     "graph optimisation passes (fold, fuse); --ir_optim=false turns them off"},
    {"model_filename", SKIFF__CFG_STR, OFF(model_filename), 0, NULL, 0, 0, NULL, "NAME",
     "the model file in each --model directory when it has another name than the recognised "
     "ones (model.onnx, __model__, inference.pdmodel, ...): a Paddle program, or ONNX when it "
     "ends in .onnx (Paddle's flag)"},
    {"params_filename", SKIFF__CFG_STR, OFF(params_filename), 0, NULL, 0, 0, NULL, "NAME",
     "with --model_filename: the Paddle program's combined parameter file (absent: one file "
     "per parameter)"},
    {"precision", SKIFF__CFG_STR, OFF(precision), 0, "fp32", 0, 0, NULL, "P",
     "fp32, bf16 or int8 (Paddle's flag): bf16 runs convolutions and products on bfloat16 "
     "where the CPU has AVX512-BF16 (fp32 with a warning where not), int8 a quantized model's; "
     "per model as NAME=P,NAME=P (a bare P sets the rest; a pipeline op by its name); "
     "docs/precision.md"},
    {"use_calib", SKIFF__CFG_BOOL, OFF(use_calib), 0, NULL, 0, 0, NULL, NULL,
     "serve calibrated models: every --model directory must hold the calibration.json "
     "`skiff quantize` writes (Paddle's flag)"},
    /* Paddle Serving flags without a meaning here. */
    {"gpu_ids", SKIFF__CFG_IGNORED, 0, 0, NULL, 0, 0, NULL, "IDS",
     "Paddle compatibility; CPU only, ignored"},
    {"workdir", SKIFF__CFG_IGNORED, 0, 0, NULL, 0, 0, NULL, "DIR", "Paddle compatibility; ignored"},
    {"runtime_thread_num", SKIFF__CFG_IGNORED, 0, 0, NULL, 0, 0, NULL, "N",
     "Paddle compatibility; use --thread"},
    {"mem_optim_off", SKIFF__CFG_IGNORED, 0, 0, NULL, 0, 0, NULL, NULL,
     "Paddle compatibility; buffers are always planned"},
    {"enable_prometheus", SKIFF__CFG_IGNORED, 0, 0, NULL, 0, 0, NULL, NULL,
     "Paddle compatibility; GET /metrics is always on, on --port"},
    {"prometheus_port", SKIFF__CFG_IGNORED, 0, 0, NULL, 0, 0, NULL, "N",
     "Paddle compatibility; metrics share --port"},
    {"request_cache_size", SKIFF__CFG_IGNORED, 0, 0, NULL, 0, 0, NULL, "N",
     "Paddle compatibility; ignored"},
};
#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))

static const skiff__cfg_table table = {flags, N_FLAGS, "skiff serve"};

void skiff__serve_config_help(FILE *f)
{
    fprintf(f, "usage: skiff serve --model DIR[:NAME] [DIR[:NAME] ...] [options]\n\n"
               "Serves model directories over HTTP on one port: Paddle Serving's web API\n"
               "(POST /{name}/prediction), its 0.9 API (POST /GeneralModelService/inference),\n"
               "KServe v2 (/v2/...) and Prometheus metrics (GET /metrics).\n\n"
               "options:\n");
    skiff__cfg_help(&table, f);
    fprintf(f, "  %-30s %s\n", "-h, --help", "show this help");
    fprintf(f,
            "\nUnits are in the flag's name (_s seconds, _ms milliseconds, _us microseconds),\n"
            "sizes in bytes. Exit status: 0 after a clean drain, 1 when the server cannot\n"
            "start, %d when --grace_s ran out and requests in flight were cut.\n",
            SKIFF__EXIT_CUT);
}

void skiff__serve_config_free(skiff__serve_config *cfg)
{
    skiff__arena_free(cfg->arena);
    cfg->arena = NULL;
    cfg->models = NULL;
    cfg->model_names = NULL;
    cfg->n_models = 0;
}

static bool served_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* --model DIR:NAME: the part after the last ':' names the model when it is a
 * valid served name (letters, digits, '_', '-', '.') and DIR is not empty. */
static skiff_status_t *split_model_names(skiff__serve_config *cfg)
{
    cfg->model_names = skiff__arena_calloc(cfg->arena, (size_t)cfg->n_models + 1, sizeof(char *),
                                           _Alignof(char *));
    const char **dirs = skiff__arena_calloc(cfg->arena, (size_t)cfg->n_models + 1, sizeof(char *),
                                            _Alignof(char *));
    if (!cfg->model_names || !dirs)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    for (int i = 0; i < cfg->n_models; i++) {
        const char *m = cfg->models[i], *colon = strrchr(m, ':');
        dirs[i] = m;
        if (!colon || colon == m || !served_name_ok(colon + 1))
            continue;
        char *dir = skiff__arena_strndup(cfg->arena, m, (size_t)(colon - m));
        if (!dir)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        dirs[i] = dir;
        cfg->model_names[i] = colon + 1;
    }
    cfg->models = dirs;
    for (int i = 0; i < cfg->n_models; i++)
        if (cfg->model_names[i] && cfg->name)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "--model %s:%s names the model already: leave out --name",
                                    cfg->models[i], cfg->model_names[i]);
    return NULL;
}

static skiff_status_t *positional(const char *a, void *user)
{
    if (!strcmp(a, "stop") || !strcmp(a, "kill"))
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "'skiff serve %s' is not supported: send SIGTERM to the server "
                                "process (it drains and exits)",
                                a);
    return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                            "unexpected argument '%s' (model directories follow --model)", a);
}

/* --config FILE's value, and whether argv names models and a port itself. */
static const char *find_config(int argc, char **argv, bool *argv_models, bool *port_flag)
{
    *port_flag = false;
    const char *file = NULL;
    *argv_models = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            file = argv[i] + 9;
        else if (!strcmp(argv[i], "--model") || !strncmp(argv[i], "--model=", 8))
            *argv_models = true;
        else if (!strcmp(argv[i], "--port") || !strncmp(argv[i], "--port=", 7))
            *port_flag = true;
    }
    return file;
}

skiff_status_t *skiff__serve_config_parse(int argc, char **argv, skiff__serve_config *cfg,
                                          bool *out_help)
{
    memset(cfg, 0, sizeof(*cfg));
    skiff__cfg_defaults(&table, cfg);
    *out_help = false;
    cfg->arena = skiff__arena_new(1024);
    if (!cfg->arena)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    bool argv_models, port_flag;
    const char *file = find_config(argc, argv, &argv_models, &port_flag);
    skiff_status_t *st;
    if (file) {
        if ((st = skiff__cfg_parse_yaml(&table, cfg, file, cfg->arena)))
            return st;
        cfg->port_given = cfg->port != SKIFF_DEFAULT_PORT;
        if (argv_models) { /* the command line's models replace the file's */
            cfg->models = NULL;
            cfg->n_models = 0;
        }
    }
    if ((st = skiff__cfg_parse_argv(&table, cfg, argc, argv, cfg->arena, positional, NULL,
                                    out_help)) ||
        *out_help)
        return st;
    cfg->port_given = cfg->port_given || port_flag;
    if (cfg->py_main && !cfg->pipeline)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "--py_main %s needs --pipeline config.yml (its ops' settings)",
                                cfg->py_main);
    if (cfg->n_models == 0 && !cfg->pipeline)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "--model DIR (or --pipeline config.yml) is required (see skiff "
                                "serve --help)");
    if (cfg->name && cfg->n_models > 1)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "--name names a single model; with several, name each as --model "
                                "DIR:NAME (or each is served under its directory's name)");
    if ((st = split_model_names(cfg)))
        return st;
    int sizes[SKIFF__BATCH_SIZES_MAX], n;
    st = skiff__parse_batch_sizes("--batch_sizes", cfg->batch_sizes, cfg->batch_infer_size, sizes,
                                  &n);
    if (!st)
        st = skiff__parse_batch_sizes("--warmup_batches", cfg->warmup_batches,
                                      cfg->batch_infer_size, sizes, &n);
    skiff_precision_t p;
    if (!st)
        st = skiff__model_precision_for(cfg->precision, NULL, &p);
    if (!st && cfg->warmup_shapes) {
        int64_t dims[SKIFF__WARM_SHAPES_MAX * 8];
        int nd[SKIFF__WARM_SHAPES_MAX], nw;
        st = skiff__parse_warm_spec(cfg->warmup_shapes, NULL, dims, nd, &nw);
    }
    return st;
}
