/* scale_op.c - an example pipeline op plugin (include/skiff/op.h): multiplies
 * a float32 value by a factor and adds an offset.
 *
 *     op:
 *       scale:
 *         plugin: build/examples/plugin/libskiff_scale_op.so
 *         plugin_params: {in: x, out: y, factor: 2.0, offset: 0.5}
 *
 * It links nothing of skiff's: tensors and errors come from the host table.
 * Its state is read-only after create, so any number of op threads share it.
 */
#include <stdlib.h>
#include <string.h>

#include "skiff/op.h"

#ifndef SCALE_OP_ABI
#define SCALE_OP_ABI SKIFF_OP_ABI_VERSION
#endif

typedef struct scale_state {
    char in[128], out[128];
    float factor, offset;
} scale_state;

static const skiff_op_host *host;

static skiff_status_t *scale_create(const skiff_op_param *params, int n, void **state)
{
    scale_state *s = calloc(1, sizeof(*s));
    if (!s)
        return host->status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    memcpy(s->in, "x", 2);
    memcpy(s->out, "y", 2);
    s->factor = 1.0f;
    for (int i = 0; i < n; i++) {
        const char *k = params[i].key, *v = params[i].value ? params[i].value : "";
        char *end = NULL;
        if (!strcmp(k, "in") || !strcmp(k, "out")) {
            if (!v[0] || strlen(v) >= sizeof(s->in)) {
                free(s);
                return host->status_new(SKIFF_CODE_INVALID_ARG,
                                        "parameter '%s': expected a name of 1 to 127 bytes", k);
            }
            memcpy(!strcmp(k, "in") ? s->in : s->out, v, strlen(v) + 1);
        } else if (!strcmp(k, "factor") || !strcmp(k, "offset")) {
            float f = strtof(v, &end);
            if (end == v || *end) {
                free(s);
                return host->status_new(SKIFF_CODE_INVALID_ARG,
                                        "parameter '%s': expected a number, got '%s'", k, v);
            }
            *(!strcmp(k, "factor") ? &s->factor : &s->offset) = f;
        } else {
            free(s);
            return host->status_new(SKIFF_CODE_INVALID_ARG,
                                    "unknown parameter '%s' (in, out, factor, offset)", k);
        }
    }
    *state = s;
    return NULL;
}

static skiff_status_t *scale_process(void *state, const skiff_op_value *in, int n_in,
                                     skiff_op_value *out, int cap, int *n_out)
{
    const scale_state *s = state;
    *n_out = 0;
    const skiff_tensor_t *x = NULL;
    for (int i = 0; i < n_in; i++)
        if (!strcmp(in[i].name, s->in))
            x = in[i].tensor;
    if (!x)
        return host->status_new(SKIFF_CODE_INVALID_ARG, "no value '%s' to scale", s->in);
    if (x->dtype != SKIFF_DTYPE_FLOAT32)
        return host->status_new(SKIFF_CODE_INVALID_ARG, "'%s' is not float32", s->in);
    if (cap < 1)
        return host->status_new(SKIFF_CODE_INTERNAL, "no room for an output");
    skiff_tensor_t *y;
    skiff_status_t *st = host->tensor_new(SKIFF_DTYPE_FLOAT32, x->ndim, x->dims, &y);
    if (st)
        return st;
    int64_t n = host->tensor_numel(x);
    const float *a = x->data;
    float *b = y->data;
    for (int64_t i = 0; i < n; i++)
        b[i] = a[i] * s->factor + s->offset;
    out[0] = (skiff_op_value){s->out, y};
    *n_out = 1;
    return NULL;
}

static void scale_destroy(void *state) { free(state); }

static const skiff_op_desc desc = {
    .abi_version = SCALE_OP_ABI,
    .size = sizeof(skiff_op_desc),
    .name = "scale",
    .create = scale_create,
    .process = scale_process,
    .destroy = scale_destroy,
};

__attribute__((visibility("default"))) const skiff_op_desc *skiff_op_plugin(const skiff_op_host *h)
{
    if (!h || h->abi_version != SKIFF_OP_ABI_VERSION || h->size < sizeof(skiff_op_host))
        return NULL;
    host = h;
    return &desc;
}
