/* cmd_serve.c - `skiff serve`: parse the flags (serve/config.c holds the
 * table) and run the server until SIGTERM/SIGINT; `skiff pipeline
 * config.yml [flags]` is `skiff serve --pipeline config.yml [flags]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "serve/serve.h"

int skiff__cmd_serve(int argc, char **argv)
{
    skiff__serve_config cfg;
    bool help = false;
    skiff_status_t *st = skiff__serve_config_parse(argc, argv, &cfg, &help);
    if (help) {
        skiff__serve_config_help(stdout);
        skiff__serve_config_free(&cfg);
        return 0;
    }
    if (st) {
        fprintf(stderr, "skiff serve: %s\n", skiff_status_message(st));
        skiff_status_free(st);
        skiff__serve_config_free(&cfg);
        return 2;
    }
    int rc = skiff__serve_run(&cfg);
    skiff__serve_config_free(&cfg);
    return rc;
}

int skiff__cmd_pipeline(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            printf("usage: skiff pipeline CONFIG.YML [serve flags]\n\n"
                   "Serves a Paddle Serving pipeline config.yml: the same as skiff serve "
                   "--pipeline CONFIG.YML (docs/pipeline.md). The flags are skiff serve's "
                   "(skiff serve --help).\n");
            return 0;
        }
        fprintf(stderr, "skiff pipeline: usage: skiff pipeline CONFIG.YML [serve flags]\n");
        return 2;
    }
    char **av = skiff__calloc((size_t)argc + 2, sizeof(char *));
    if (!av) {
        fprintf(stderr, "skiff pipeline: out of memory\n");
        return 1;
    }
    av[0] = "serve";
    av[1] = "--pipeline";
    for (int i = 1; i < argc; i++)
        av[i + 1] = argv[i];
    int rc = skiff__cmd_serve(argc + 1, av);
    skiff__free(av);
    return rc;
}
