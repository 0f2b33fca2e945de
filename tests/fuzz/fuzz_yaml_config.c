/* fuzz_yaml_config.c - a `skiff serve --config` file: libyaml's event parser
 * and skiff's YAML front of the config table (core/config.c), on a table with
 * every key type, named and bounded like skiff serve's (the text goes in
 * without a file).
 *
 * Input: the file's bytes. Seeds: corpus/fuzz_yaml_config/.
 *
 * Beyond "no crash, no leak": every refusal is the client's fault
 * (INVALID_ARG) and names the file, and an accepted file gives values within
 * the table's bounds. */
#include <string.h>

#include "core/config.h"
#include "core/core.h"
#include "fuzz.h"

typedef struct cfg {
    int port;
    int64_t size;
    const char *host;
    bool flag;
    const char *mode;
    const char **models;
    int n_models;
} cfg;

#define O(f) offsetof(cfg, f)
static const skiff__cfg_key keys[] = {
    {"port", SKIFF__CFG_INT, O(port), 9393, NULL, 0, 65535, NULL, "N", "port"},
    {"max_body_size", SKIFF__CFG_I64, O(size), 1024, NULL, 1024, (int64_t)1 << 40, NULL, "B", "b"},
    {"host", SKIFF__CFG_STR, O(host), 0, "127.0.0.1", 0, 0, NULL, "ADDR", "host"},
    {"access_log", SKIFF__CFG_BOOL, O(flag), 0, NULL, 0, 0, NULL, NULL, "flag"},
    {"inline", SKIFF__CFG_CHOICE, O(mode), 0, "auto", 0, 0, "auto|on|off", "M", "mode"},
    {"model", SKIFF__CFG_LIST, O(models), 0, NULL, 0, 0, NULL, "DIR", "models", O(n_models)},
    {"gpu_ids", SKIFF__CFG_IGNORED, 0, 0, NULL, 0, 0, NULL, "IDS", "ignored"},
};
static const skiff__cfg_table table = {keys, sizeof(keys) / sizeof(keys[0]), "skiff serve"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    skiff__arena *a = skiff__arena_new(512);
    FUZZ_CHECK(a != NULL);
    cfg c;
    skiff__cfg_defaults(&table, &c);
    skiff_status_t *st =
        skiff__cfg_parse_yaml_text(&table, &c, (const char *)data, size, "serve.yml", a);
    if (st) {
        FUZZ_CHECK(skiff_status_code(st) == SKIFF_CODE_INVALID_ARG ||
                   skiff_status_code(st) == SKIFF_CODE_RESOURCE_EXHAUSTED);
        FUZZ_CHECK(strstr(skiff_status_message(st), "serve.yml") != NULL ||
                   skiff_status_code(st) == SKIFF_CODE_RESOURCE_EXHAUSTED);
        skiff_status_free(st);
    } else {
        FUZZ_CHECK(c.port >= 0 && c.port <= 65535);
        FUZZ_CHECK(c.size >= 1024);
        FUZZ_CHECK(!strcmp(c.mode, "auto") || !strcmp(c.mode, "on") || !strcmp(c.mode, "off"));
        for (int i = 0; i < c.n_models; i++)
            FUZZ_CHECK(c.models[i] != NULL);
    }
    skiff__arena_free(a);
    return 0;
}
