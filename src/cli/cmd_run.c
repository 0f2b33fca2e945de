/* cmd_run.c - `skiff run`: load a model (an ONNX file or a serving
 * directory), feed .npy inputs, write .npy outputs, and time repeated runs.
 * With a serving directory, inputs and output files use the conf's aliases,
 * as every client does; tensor names are accepted for inputs too. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "core/core.h"
#include "model/model.h"
#include "skiff/skiff.h"

static void run_usage(FILE *f)
{
    fprintf(f, "usage: skiff run MODEL [--input NAME=FILE.npy ...] [options]\n\n"
               "Runs a model once per repeat on .npy inputs, writes each output as\n"
               "<name>.npy and prints shapes and timing. MODEL is an .onnx file or a serving\n"
               "directory (model.onnx + serving_server_conf.prototxt); with a directory, NAME\n"
               "and the output files use the conf's alias names (tensor names work too).\n\n"
               "options:\n"
               "  --input NAME=FILE.npy   input tensor (repeat for each input; a single-input\n"
               "                          model also takes just FILE.npy)\n"
               "  --output-dir DIR        write outputs here (default: none written)\n"
               "  --threads N             intra-op threads, 0 to 1000000; 0 = all usable cores\n"
               "                          (default 0)\n"
               "  --repeat N              timed runs, 1 to 1000000 (default 1)\n"
               "  --warmup N              untimed runs first, 0 to 1000000 (default 0)\n"
               "  --no-optimize           skip graph passes (folding, fusion)\n"
               "  --precision P           fp32 (default), bf16 (convolutions and products on\n"
               "                          bfloat16 where the CPU has AVX512-BF16) or int8 (a\n"
               "                          quantized model); see docs/precision.md\n"
               "  --model_filename NAME   the model file inside a MODEL directory with other\n"
               "                          names (Paddle's flag): a Paddle program, or ONNX\n"
               "                          when it ends in .onnx\n"
               "  --params_filename NAME  its combined Paddle parameter file (absent: one file\n"
               "                          per parameter)\n"
               "  --profile               print time per operator type over the timed runs\n"
               "  --quiet                 only errors\n"
               "  --help                  this text\n");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Output names may contain '/', ':' and the like; keep [A-Za-z0-9._-]. */
static void safe_name(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++) {
        char c = in[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
    if (i == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        snprintf(out, cap, "output");
}

/* A feed (or fetch) var's other name in the conf: the alias of a tensor name
 * (to_alias), or the tensor name of an alias; the name itself when the conf
 * has no such var. A LoD var's offsets, <name>.lod, go by <alias>.lod (in
 * buf, NAME_CAP bytes). */
#define NAME_CAP 300
static const char *conf_name(const skiff__model_conf *conf, const char *name, bool fetch,
                             bool to_alias, char *buf)
{
    int n = conf ? (fetch ? conf->n_fetch : conf->n_feed) : 0;
    size_t len = strlen(name);
    bool lod = len > 4 && !strcmp(name + len - 4, ".lod");
    for (int i = 0; i < n; i++) {
        const skiff__conf_var *v = fetch ? &conf->fetch[i] : &conf->feed[i];
        const char *from = to_alias ? v->name : v->alias_name;
        if (!strcmp(from, name))
            return to_alias ? v->alias_name : v->name;
        if (lod && strlen(from) == len - 4 && !strncmp(from, name, len - 4)) {
            snprintf(buf, NAME_CAP, "%s.lod", to_alias ? v->alias_name : v->name);
            return buf;
        }
    }
    return name;
}

static const char *alias_of(const skiff__model_conf *conf, const char *name, bool fetch, char *buf)
{
    return conf_name(conf, name, fetch, true, buf);
}

static void print_tensor_line(const char *kind, const char *name, const skiff_tensor_t *t)
{
    char sb[200];
    printf("  %-6s %-24s %-8s %s\n", kind, name, skiff_dtype_name(t->dtype),
           skiff_shape_str(t->ndim, t->dims, sb, sizeof(sb)));
}

int skiff__cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},
        {"output-dir", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 't'},
        {"repeat", required_argument, NULL, 'r'},
        {"warmup", required_argument, NULL, 'w'},
        {"no-optimize", no_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"profile", no_argument, NULL, 'p'},
        {"model_filename", required_argument, NULL, 'M'},
        {"params_filename", required_argument, NULL, 'P'},
        {"precision", required_argument, NULL, 'x'},
        {NULL, 0, NULL, 0},
    };
    const char *inputs[64];
    int n_inputs = 0;
    const char *out_dir = NULL, *model_filename = NULL, *params_filename = NULL;
    int64_t threads = 0, repeat = 1, warmup = 0;
    int optimize = 1, quiet = 0, profile = 0;
    skiff_precision_t precision = SKIFF_PRECISION_FP32;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:o:t:r:w:nqh", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (n_inputs == 64) {
                fprintf(stderr, "skiff run: too many --input flags\n");
                return 2;
            }
            inputs[n_inputs++] = optarg;
            break;
        case 'o': out_dir = optarg; break;
        case 'M': model_filename = optarg; break;
        case 'P': params_filename = optarg; break;
        case 'x':
            if (!skiff_precision_parse(optarg, &precision)) {
                fprintf(stderr, "skiff run: --precision expects fp32, bf16 or int8, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 't':
        case 'r':
        case 'w': {
            int64_t v;
            int64_t lo = c == 'r' ? 1 : 0;
            if (!skiff__parse_i64(optarg, &v) || v < lo || v > 1000000) {
                fprintf(stderr,
                        "skiff run: --%s expects an integer from %lld to 1000000, got '%s'\n",
                        c == 't'   ? "threads"
                        : c == 'r' ? "repeat"
                                   : "warmup",
                        (long long)lo, optarg);
                return 2;
            }
            *(c == 't' ? &threads : c == 'r' ? &repeat : &warmup) = v;
            break;
        }
        case 'n': optimize = 0; break;
        case 'q': quiet = 1; break;
        case 'p': profile = 1; break;
        case 'h': run_usage(stdout); return 0;
        default: run_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "skiff run: expected one MODEL argument (an .onnx file or a serving "
                        "directory)\n\n");
        run_usage(stderr);
        return 2;
    }
    if (repeat < 1)
        repeat = 1;
    const char *model_path = argv[optind];
    if (quiet)
        skiff_log_set_level(SKIFF_LOG_ERROR);

    int rc = 1;
    skiff_model_t *model = NULL;
    skiff_context_t *ctx = NULL;
    skiff_tensor_t *tensors[64] = {0};
    char nb[NAME_CAP]; /* a name conf_name builds */
    const skiff_tensor_t *outputs[256];
    double *times = NULL;
    char *onnx_path = NULL;
    skiff__model_conf *conf = NULL;
    skiff_model_options_t mo = {.optimize = optimize,
                                .verbose = !quiet,
                                .model_filename = model_filename,
                                .params_filename = params_filename,
                                .precision = precision};
    uint64_t t0 = skiff__now_ns();
    skiff_status_t *st = skiff__model_dir_resolve(model_path, model_filename, &onnx_path, &conf);
    if (!st)
        st = skiff_model_load(onnx_path, &mo, &model);
    if (st)
        goto fail;
    double load_ms = (double)(skiff__now_ns() - t0) / 1e6;
    int n_in = skiff_model_input_count(model);
    int n_out = skiff_model_output_count(model);
    if (n_in > 64 || n_out > 256) {
        st = skiff_status_new(SKIFF_CODE_UNSUPPORTED, "model has too many inputs/outputs");
        goto fail;
    }
    for (int i = 0; i < n_inputs; i++) {
        const char *eq = strchr(inputs[i], '=');
        int idx;
        const char *file;
        if (!eq && n_in == 1 && n_inputs == 1) {
            idx = 0;
            file = inputs[i];
        } else if (!eq) {
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "--input '%s': expected NAME=FILE.npy",
                                  inputs[i]);
            goto fail;
        } else {
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(eq - inputs[i]), inputs[i]);
            idx = skiff_model_input_index(model, conf_name(conf, name, false, false, nb));
            file = eq + 1;
            if (idx < 0) {
                char list[1024] = "";
                size_t off = 0;
                for (int k = 0; k < n_in && off < sizeof(list); k++)
                    off += (size_t)snprintf(
                        list + off, sizeof(list) - off, "%s'%s'", k ? ", " : "",
                        alias_of(conf, skiff_model_input(model, k)->name, false, nb));
                st = skiff_status_new(SKIFF_CODE_NOT_FOUND,
                                      "--input: the model has no input '%s' (inputs: %s)", name,
                                      list);
                goto fail;
            }
        }
        if (tensors[idx]) {
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "input '%s' given twice",
                                  alias_of(conf, skiff_model_input(model, idx)->name, false, nb));
            goto fail;
        }
        st = skiff__npy_read_file(file, &tensors[idx]);
        if (st)
            goto fail;
    }
    for (int i = 0; i < n_in; i++)
        if (!tensors[i]) {
            const char *in_name = alias_of(conf, skiff_model_input(model, i)->name, false, nb);
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                  "input '%s' is missing: pass --input %s=FILE.npy", in_name,
                                  in_name);
            goto fail;
        }
    skiff_context_options_t co = {.threads = (int)threads};
    st = skiff_context_new(model, &co, &ctx);
    if (st)
        goto fail;
    times = skiff__malloc(sizeof(double) * (size_t)repeat);
    if (!times) {
        st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < warmup + repeat; i++) {
        if (i == warmup)
            skiff_context_set_profiling(ctx, profile);
        uint64_t s = skiff__now_ns();
        st = skiff_context_run(ctx, (const skiff_tensor_t *const *)tensors, n_in, outputs);
        if (st)
            goto fail;
        if (i >= warmup)
            times[i - warmup] = (double)(skiff__now_ns() - s) / 1e6;
    }
    if (!quiet) {
        printf("model %s (loaded in %.1f ms)\n", model_path, load_ms);
        printf("precision %s", skiff_precision_name(skiff_model_precision(model)));
        if (skiff_model_precision(model) != SKIFF_PRECISION_FP32)
            printf(" (%d convolutions and products; the rest fp32)",
                   skiff_model_reduced_nodes(model));
        printf("\n");
        for (int i = 0; i < n_in; i++)
            print_tensor_line("input", alias_of(conf, skiff_model_input(model, i)->name, false, nb),
                              tensors[i]);
        for (int i = 0; i < n_out; i++)
            print_tensor_line(
                "output", alias_of(conf, skiff_model_output(model, i)->name, true, nb), outputs[i]);
        qsort(times, (size_t)repeat, sizeof(double), cmp_double);
        size_t peak, naive;
        skiff_context_memory_stats(ctx, &peak, &naive);
        printf("runs %lld (warmup %lld, threads %d): min %.3f ms, median %.3f ms, p90 %.3f ms\n",
               (long long)repeat, (long long)warmup, threads ? (int)threads : skiff_cpu_count(),
               times[0], times[repeat / 2],
               times[(repeat * 9) / 10 < repeat ? (repeat * 9) / 10 : repeat - 1]);
        size_t buffers, scratch;
        skiff_context_memory_held(ctx, &buffers, &scratch);
        printf("intermediate memory: %.2f MiB arena (naive sum %.2f MiB); the context holds "
               "%.2f MiB of buffers and %.2f MiB of scratch\n",
               (double)peak / 1048576.0, (double)naive / 1048576.0, (double)buffers / 1048576.0,
               (double)scratch / 1048576.0);
        size_t w_const, w_packed;
        skiff_model_weight_stats(model, &w_const, &w_packed);
        printf("weights: %.2f MiB packed for their kernels, %.2f MiB as loaded\n",
               (double)w_packed / 1048576.0, (double)w_const / 1048576.0);
        int tnow, treduced;
        uint64_t reduced, switches;
        skiff_context_thread_stats(ctx, &tnow, &treduced, &reduced, &switches);
        if (reduced)
            printf("shared cores: %llu of %lld runs on %d threads (a neighbour held a core; "
                   "%llu switches)\n",
                   (unsigned long long)reduced, (long long)(repeat + warmup), treduced,
                   (unsigned long long)switches);
    }
    if (profile)
        skiff_context_profile_write(ctx, stdout);
    if (out_dir) {
        mkdir(out_dir, 0755);
        for (int i = 0; i < n_out; i++) {
            char fname[300], path[4096];
            safe_name(alias_of(conf, skiff_model_output(model, i)->name, true, nb), fname,
                      sizeof(fname));
            snprintf(path, sizeof(path), "%s/%s.npy", out_dir, fname);
            st = skiff__npy_write_file(outputs[i], path);
            if (st)
                goto fail;
        }
    }
    rc = 0;
fail:
    if (st) {
        fprintf(stderr, "skiff run: error: %s\n", skiff_status_message(st));
        skiff_status_free(st);
    }
    skiff__free(times);
    for (int i = 0; i < 64; i++)
        skiff_tensor_free(tensors[i]);
    skiff_context_free(ctx);
    skiff_model_free(model);
    skiff__model_conf_free(conf);
    skiff__free(onnx_path);
    return rc;
}
