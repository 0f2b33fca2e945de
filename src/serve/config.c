/* config.c - the flags of `skiff serve`, as one table: name, type, default,
 * bounds, help. The same table parses argv, checks bounds and prints --help,
 * so the three can never disagree. Paddle Serving's flag names are used where
 * it has one; its flags that mean nothing here are accepted with a note, so
 * existing scripts keep working.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "model/model.h"
#include "proto/codec.h"
#include "serve/serve.h"

typedef enum flag_type { F_INT, F_I64, F_STR, F_BOOL, F_LIST, F_CHOICE, F_IGNORED } flag_type;

typedef struct flag {
    const char *name;
    flag_type type;
    size_t offset;
    int64_t def_int;
    const char *def_str;
    int64_t min, max;
    const char *choices; /* F_CHOICE: "a|b|c" */
    const char *metavar;
    const char *help;
} flag;

#define OFF(f) offsetof(skiff__serve_config, f)

static const flag flags[] = {
    {"model", F_LIST, OFF(models), 0, NULL, 0, 0, NULL, "DIR[:NAME] ...",
     "serving model directories (model.onnx + serving_server_conf.prototxt) or .onnx files; "
     "each is served as NAME, or under its directory's name without :NAME"},
    {"name", F_STR, OFF(name), 0, NULL, 0, 0, NULL, "NAME",
     "served name of a single model (default: the directory's name); Paddle web URL "
     "/NAME/prediction. With several models use --model DIR:NAME"},
    {"port", F_INT, OFF(port), SKIFF_DEFAULT_PORT, NULL, 0, 65535, NULL, "N",
     "TCP port for every protocol; 0 picks a free one"},
    {"host", F_STR, OFF(host), 0, SKIFF_DEFAULT_HOST, 0, 0, NULL, "ADDR",
     "address to listen on (0.0.0.0 for every interface)"},
    {"port_file", F_STR, OFF(port_file), 0, NULL, 0, 0, NULL, "PATH",
     "write the port listened on to PATH once ready (useful with --port 0)"},
    {"thread", F_INT, OFF(threads), 0, NULL, 0, 1024, NULL, "N",
     "intra-op compute threads per instance; 0 = auto (instances x threads <= cores)"},
    {"instances", F_INT, OFF(instances), 0, NULL, 0, 1024, NULL, "N",
     "instances per model, each a thread with its own engine context; 0 = auto"},
    {"io_threads", F_INT, OFF(io_threads), 0, NULL, 0, 256, NULL, "N",
     "HTTP I/O threads (parse, encode, and run tiny models inline); 0 = auto"},
    {"batch_infer_size", F_INT, OFF(batch_infer_size), SKIFF_DEFAULT_BATCH_INFER_SIZE, NULL, 1,
     1 << 20, NULL, "N", "most rows merged into one run when requests queue up"},
    {"batch_sizes", F_STR, OFF(batch_sizes), 0, "any", 0, 0, NULL, "LIST",
     "batch sizes a run is padded up to with copies of its last row, so the engine compiles "
     "fewer shapes: any = no padding, auto = powers of two up to --batch_infer_size, or e.g. "
     "1,4,16,32"},
    {"warmup_batches", F_STR, OFF(warmup_batches), 0, "1", 0, 0, NULL, "LIST",
     "batch sizes each instance runs once at startup, so no request pays their first run "
     "(kernels are compiled per shape): e.g. 1,2,4,8, or auto (powers of two up to "
     "--batch_infer_size)"},
    {"max_queue_delay_us", F_INT, OFF(max_queue_delay_us), SKIFF_DEFAULT_MAX_QUEUE_DELAY_US, NULL,
     0, 10000000, NULL, "US",
     "longest a backlog waits for a batch to fill (an idle model never waits)"},
    {"queue_size", F_INT, OFF(queue_size), SKIFF_DEFAULT_QUEUE_SIZE, NULL, 1, 1 << 24, NULL, "N",
     "requests waiting per model; beyond it requests get 503 with Retry-After"},
    {"max_body_size", F_I64, OFF(max_body_size), SKIFF_DEFAULT_MAX_BODY_SIZE, NULL, 1024,
     (int64_t)1 << 40, NULL, "BYTES", "largest request body (413 beyond)"},
    {"max_header_size", F_INT, OFF(max_header_size), SKIFF_DEFAULT_MAX_HEADER_SIZE, NULL, 1024,
     1 << 20, NULL, "BYTES", "largest request line + headers (431 beyond)"},
    {"max_elements", F_I64, OFF(max_elements), SKIFF_CODEC_DEFAULT_MAX_ELEMENTS, NULL, 1,
     (int64_t)1 << 40, NULL, "N", "most tensor elements in one request"},
    {"idle_timeout_s", F_INT, OFF(idle_timeout_s), SKIFF_DEFAULT_IDLE_TIMEOUT_S, NULL, 1, 86400,
     NULL, "S", "close a keep-alive connection idle (no request) for this long"},
    {"request_timeout_s", F_INT, OFF(request_timeout_s), SKIFF_DEFAULT_REQUEST_TIMEOUT_S, NULL, 1,
     86400, NULL, "S",
     "a request's head and body must be complete this long after its first byte (408 "
     "beyond); a connection that sends nothing is closed after it"},
    {"timeout_ms", F_I64, OFF(timeout_ms), 0, NULL, 0, (int64_t)1 << 40, NULL, "MS",
     "default deadline of a request in the queue (0 = none); requests may set their own with "
     "X-Request-Timeout-Ms or KServe parameters.timeout"},
    {"grace_s", F_INT, OFF(grace_s), SKIFF_DEFAULT_GRACE_S, NULL, 0, 3600, NULL, "S",
     "on SIGTERM/SIGINT, how long in-flight requests may take to finish"},
    {"inline", F_CHOICE, OFF(inline_mode), 0, "auto", 0, 0, "auto|on|off", "MODE",
     "run a request on the I/O thread when an instance is idle: auto = when the model's "
     "warm-up run is under --inline_max_us"},
    {"inline_max_us", F_INT, OFF(inline_max_us), SKIFF_DEFAULT_INLINE_MAX_US, NULL, 0, 10000000,
     NULL, "US", "--inline auto threshold"},
    {"max_connections", F_INT, OFF(max_connections), SKIFF_DEFAULT_MAX_CONNECTIONS, NULL, 1,
     1 << 20, NULL, "N", "open connections at most"},
    {"access_log", F_BOOL, OFF(access_log), 0, NULL, 0, 0, NULL, NULL, "log one line per request"},
    {"log_level", F_CHOICE, OFF(log_level), 0, "info", 0, 0, "debug|info|warn|error", "LEVEL",
     "log verbosity"},
    {"ir_optim", F_BOOL, OFF(ir_optim), 1, NULL, 0, 0, NULL, NULL,
     "graph optimisation passes (fold, fuse); --ir_optim=false turns them off"},
    /* Paddle Serving flags without a meaning here. */
    {"gpu_ids", F_IGNORED, 0, 0, NULL, 0, 0, NULL, "IDS",
     "Paddle compatibility; CPU only, ignored"},
    {"workdir", F_IGNORED, 0, 0, NULL, 0, 0, NULL, "DIR", "Paddle compatibility; ignored"},
    {"runtime_thread_num", F_IGNORED, 0, 0, NULL, 0, 0, NULL, "N",
     "Paddle compatibility; use --thread"},
    {"precision", F_IGNORED, 0, 0, NULL, 0, 0, NULL, "P", "Paddle compatibility; fp32 only"},
    {"mem_optim_off", F_IGNORED, 0, 0, NULL, 0, 0, NULL, NULL,
     "Paddle compatibility; buffers are always planned"},
    {"enable_prometheus", F_IGNORED, 0, 0, NULL, 0, 0, NULL, NULL,
     "Paddle compatibility; GET /metrics is always on, on --port"},
    {"prometheus_port", F_IGNORED, 0, 0, NULL, 0, 0, NULL, "N",
     "Paddle compatibility; metrics share --port"},
    {"request_cache_size", F_IGNORED, 0, 0, NULL, 0, 0, NULL, "N", "Paddle compatibility; ignored"},
};
#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))

/* Ignored flags that take no value. */
static bool ignored_is_bool(const flag *f) { return f->metavar == NULL; }

void skiff__serve_config_help(FILE *f)
{
    fprintf(f, "usage: skiff serve --model DIR[:NAME] [DIR[:NAME] ...] [options]\n\n"
               "Serves model directories over HTTP on one port: Paddle Serving's web API\n"
               "(POST /{name}/prediction), its 0.9 API (POST /GeneralModelService/inference),\n"
               "KServe v2 (/v2/...) and Prometheus metrics (GET /metrics).\n\n"
               "options:\n");
    for (size_t i = 0; i < N_FLAGS; i++) {
        const flag *fl = &flags[i];
        char left[80];
        snprintf(left, sizeof(left), "--%s%s%s", fl->name, fl->metavar ? " " : "",
                 fl->metavar ? fl->metavar : "");
        char def[64] = "";
        switch (fl->type) {
        case F_INT:
        case F_I64:
            snprintf(def, sizeof(def), " [default: %lld%s; %lld to %lld]", (long long)fl->def_int,
                     fl->def_int == 0 &&
                             (!strcmp(fl->name, "thread") || !strcmp(fl->name, "instances") ||
                              !strcmp(fl->name, "io_threads"))
                         ? " = auto"
                         : "",
                     (long long)fl->min, (long long)fl->max);
            break;
        case F_STR:
        case F_CHOICE:
            if (fl->def_str)
                snprintf(def, sizeof(def), " [default: %s]", fl->def_str);
            break;
        case F_BOOL:
            snprintf(def, sizeof(def), " [default: %s]", fl->def_int ? "true" : "false");
            break;
        default: break;
        }
        if (strlen(left) > 30)
            fprintf(f, "  %s\n  %-30s %s%s\n", left, "", fl->help, def);
        else
            fprintf(f, "  %-30s %s%s\n", left, fl->help, def);
    }
    fprintf(f, "  %-30s %s\n", "-h, --help", "show this help");
    fprintf(f,
            "\nUnits are in the flag's name (_s seconds, _ms milliseconds, _us microseconds),\n"
            "sizes in bytes. Exit status: 0 after a clean drain, 1 when the server cannot\n"
            "start, %d when --grace_s ran out and requests in flight were cut.\n",
            SKIFF__EXIT_CUT);
}

static void set_defaults(skiff__serve_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_FLAGS; i++) {
        const flag *fl = &flags[i];
        char *p = (char *)cfg + fl->offset;
        switch (fl->type) {
        case F_INT: *(int *)p = (int)fl->def_int; break;
        case F_I64: *(int64_t *)p = fl->def_int; break;
        case F_STR:
        case F_CHOICE: *(const char **)p = fl->def_str; break;
        case F_BOOL: *(bool *)p = fl->def_int != 0; break;
        default: break;
        }
    }
}

void skiff__serve_config_free(skiff__serve_config *cfg)
{
    for (int i = 0; cfg->model_names && i < cfg->n_models; i++)
        if (cfg->model_names[i])
            skiff__free((void *)cfg->models[i]); /* the DIR part of DIR:NAME */
    skiff__free((void *)cfg->models);
    skiff__free((void *)cfg->model_names);
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
    cfg->model_names = skiff__calloc((size_t)cfg->n_models + 1, sizeof(char *));
    if (!cfg->model_names)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    for (int i = 0; i < cfg->n_models; i++) {
        const char *m = cfg->models[i], *colon = strrchr(m, ':');
        if (!colon || colon == m || !served_name_ok(colon + 1))
            continue;
        char *dir = skiff__strndup(m, (size_t)(colon - m));
        if (!dir)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        cfg->models[i] = dir;
        cfg->model_names[i] = colon + 1;
    }
    for (int i = 0; i < cfg->n_models; i++)
        if (cfg->model_names[i] && cfg->name)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "--model %s:%s names the model already: leave out --name",
                                    cfg->models[i], cfg->model_names[i]);
    return NULL;
}

static bool parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "on")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no") || !strcmp(s, "off")) {
        *out = false;
        return true;
    }
    return false;
}

static bool choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

skiff_status_t *skiff__serve_config_parse(int argc, char **argv, skiff__serve_config *cfg,
                                          bool *out_help)
{
    set_defaults(cfg);
    *out_help = false;
    cfg->models = skiff__calloc((size_t)argc + 1, sizeof(char *));
    if (!cfg->models)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *out_help = true;
            return NULL;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (!strcmp(a, "stop") || !strcmp(a, "kill"))
                return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                        "'skiff serve %s' is not supported: send SIGTERM to the "
                                        "server process (it drains and exits)",
                                        a);
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "unexpected argument '%s' (model directories follow --model)",
                                    a);
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const flag *fl = NULL;
        for (size_t k = 0; k < N_FLAGS && !fl; k++)
            if (strlen(flags[k].name) == nlen && strncmp(flags[k].name, name, nlen) == 0)
                fl = &flags[k];
        if (!fl)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "unknown option '--%.*s' (see skiff serve --help)", (int)nlen,
                                    name);
        char *p = (char *)cfg + fl->offset;
        if (fl->type == F_LIST) {
            int n0 = cfg->n_models;
            if (eq)
                cfg->models[cfg->n_models++] = eq + 1;
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
                cfg->models[cfg->n_models++] = argv[++i];
            if (cfg->n_models == n0)
                return skiff_status_new(SKIFF_CODE_INVALID_ARG, "--%s needs at least one directory",
                                        fl->name);
            continue;
        }
        if (fl->type == F_BOOL || (fl->type == F_IGNORED && ignored_is_bool(fl))) {
            bool v = true;
            if (eq && !parse_bool(eq + 1, &v))
                return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                        "--%s expects true or false, got '%s'", fl->name, eq + 1);
            if (fl->type == F_BOOL)
                *(bool *)p = v;
            else
                skiff_log(SKIFF_LOG_INFO,
                          "note: --%s is accepted for Paddle Serving "
                          "compatibility and has no effect (%s)",
                          fl->name, fl->help);
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "--%s needs a value", fl->name);
        switch (fl->type) {
        case F_INT:
        case F_I64: {
            int64_t v;
            if (!skiff__parse_i64(val, &v))
                return skiff_status_new(SKIFF_CODE_INVALID_ARG, "--%s expects an integer, got '%s'",
                                        fl->name, val);
            if (v < fl->min || v > fl->max)
                return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                        "--%s %lld is out of range [%lld, %lld]", fl->name,
                                        (long long)v, (long long)fl->min, (long long)fl->max);
            if (fl->type == F_INT)
                *(int *)p = (int)v;
            else
                *(int64_t *)p = v;
            break;
        }
        case F_STR: *(const char **)p = val; break;
        case F_CHOICE:
            if (!choice_ok(fl->choices, val))
                return skiff_status_new(SKIFF_CODE_INVALID_ARG, "--%s expects one of %s, got '%s'",
                                        fl->name, fl->choices, val);
            *(const char **)p = val;
            break;
        case F_IGNORED:
            skiff_log(SKIFF_LOG_INFO,
                      "note: --%s is accepted for Paddle Serving compatibility and has no "
                      "effect (%s)",
                      fl->name, fl->help);
            break;
        default: break;
        }
    }
    if (cfg->n_models == 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "--model DIR is required (see skiff serve --help)");
    if (cfg->name && cfg->n_models > 1)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "--name names a single model; with several, name each as --model "
                                "DIR:NAME (or each is served under its directory's name)");
    skiff_status_t *nst = split_model_names(cfg);
    if (nst)
        return nst;
    int sizes[SKIFF__BATCH_SIZES_MAX], n;
    skiff_status_t *st = skiff__parse_batch_sizes("--batch_sizes", cfg->batch_sizes,
                                                  cfg->batch_infer_size, sizes, &n);
    if (!st)
        st = skiff__parse_batch_sizes("--warmup_batches", cfg->warmup_batches,
                                      cfg->batch_infer_size, sizes, &n);
    return st;
}
