/* cmd_serve.c - `skiff serve`: parse the flags (serve/config.c holds the
 * table) and run the server until SIGTERM/SIGINT. */
#include <stdio.h>

#include "cli/cli.h"
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
