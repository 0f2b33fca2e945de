/* fuzz_prototxt.c - the protobuf text-format reader and the GeneralModelConfig
 * schema on top (core/prototxt.c), which read model directories from anywhere.
 *
 * Beyond "no crash, no leak": every error names a position, and every conf
 * that parses formats back to text that parses to the same conf (a field the
 * reader half-understood shows up as a mismatch), and encodes to binary. */
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "model/conf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

static bool same_var(const skiff__conf_var *a, const skiff__conf_var *b)
{
    return !strcmp(a->name, b->name) && !strcmp(a->alias_name, b->alias_name) &&
           a->is_lod_tensor == b->is_lod_tensor && a->type == b->type && a->n_shape == b->n_shape &&
           memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->n_shape) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    skiff__pt_field *root = NULL;
    skiff_status_t *st = skiff__pt_parse((const char *)data, size, "f", &root);
    if (st) {
        FUZZ_CHECK(root == NULL);
        FUZZ_CHECK(skiff_status_code(st) == SKIFF_CODE_RESOURCE_EXHAUSTED ||
                   strncmp(skiff_status_message(st), "f:", 2) == 0);
        skiff_status_free(st);
    }
    skiff__pt_free(root);

    skiff__model_conf *c = NULL;
    st = skiff__model_conf_parse((const char *)data, size, "f", &c);
    if (st) {
        FUZZ_CHECK(c == NULL);
        skiff_status_free(st);
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    st = skiff__model_conf_format(c, &text, &len);
    FUZZ_CHECK(st == NULL);
    skiff__model_conf *back = NULL;
    st = skiff__model_conf_parse(text, len, "formatted", &back);
    FUZZ_CHECK(st == NULL);
    FUZZ_CHECK(back->n_feed == c->n_feed && back->n_fetch == c->n_fetch);
    for (int i = 0; i < c->n_feed; i++)
        FUZZ_CHECK(same_var(&c->feed[i], &back->feed[i]));
    for (int i = 0; i < c->n_fetch; i++)
        FUZZ_CHECK(same_var(&c->fetch[i], &back->fetch[i]));
    uint8_t *bin = NULL;
    size_t blen = 0;
    FUZZ_CHECK(skiff__model_conf_encode(c, &bin, &blen) == NULL);
    skiff__free(bin);
    skiff__free(text);
    skiff__model_conf_free(back);
    skiff__model_conf_free(c);
    return 0;
}
