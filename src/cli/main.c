/* main.c - the skiff executable: dispatches to subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "skiff/skiff.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"serve", skiff__cmd_serve, "serve model directories over HTTP (Paddle Serving + KServe v2)"},
    {"pipeline", skiff__cmd_pipeline,
     "serve a Paddle pipeline config.yml (the same as serve --pipeline)"},
    {"convert", skiff__cmd_convert, "write serving model/client directories from an ONNX model"},
    {"run", skiff__cmd_run, "run an ONNX model on .npy inputs and time it"},
    {"predict", skiff__cmd_predict, "call a served model (brpc or HTTP) and print its outputs"},
    {"quantize", skiff__cmd_quantize,
     "calibrate a model on samples and write an int8 (QDQ) serving directory"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "skiff %s - model serving with a native ONNX engine\n\n"
            "usage: skiff <command> [options]    (skiff <command> --help for its options)\n\n"
            "commands:\n",
            SKIFF_VERSION);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
}

/* OpenMP threads spin after each parallel region before they sleep; with
 * libgomp's default (300,000 spins) an idle intra-op thread keeps burning a
 * core for a while after every run, which on a shared or CPU-quota'd machine
 * takes the time the I/O threads or the partner thread need (measured: 5-10x
 * slower runs when the machine is oversubscribed). libgomp reads its settings
 * when it is loaded, before main, so when the user has set neither
 * OMP_WAIT_POLICY nor GOMP_SPINCOUNT, skiff sets a short spin and runs itself
 * again once. SKIFF_OMP_SPIN=default keeps libgomp's own behaviour. */
#define SKIFF_GOMP_SPINCOUNT "10000"

static void tune_openmp(char **argv)
{
    const char *mode = getenv("SKIFF_OMP_SPIN");
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || (mode && !strcmp(mode, "default")))
        return;
    if (setenv("GOMP_SPINCOUNT", mode && mode[0] ? mode : SKIFF_GOMP_SPINCOUNT, 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* exec failed: go on with libgomp's defaults */
    unsetenv("GOMP_SPINCOUNT");
}

int main(int argc, char **argv)
{
    tune_openmp(argv);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("skiff %s\n", SKIFF_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "skiff: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
