/* steps_api.c - include/skiff/steps.h: the step registry (steps.c) as public
 * API. The public handle wraps the internal step so that the internal struct
 * can change without touching the ABI, and the public parameter type is copied
 * into the internal one rather than cast, so the two may differ one day. */
#include <string.h>

#include "../core/core.h"
#include "skiff/steps.h"
#include "steps.h"

struct skiff_step {
    skiff__step *impl;
};

skiff_status_t *skiff_step_new(const char *name, const skiff_step_param_t *params, size_t n,
                               skiff_step_t **out_step)
{
    if (!out_step)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "skiff_step_new: out_step is NULL");
    *out_step = NULL;
    if (n && !params)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "step '%s': %zu parameters but params is NULL",
                                name ? name : "(null)", n);
    skiff__step_param *p = NULL;
    if (n) {
        p = skiff__calloc(n, sizeof *p);
        if (!p)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "step '%s': out of memory",
                                    name ? name : "(null)");
        for (size_t i = 0; i < n; i++) {
            p[i].key = params[i].key;
            p[i].value = params[i].value;
        }
    }
    skiff_step_t *s = skiff__calloc(1, sizeof *s);
    skiff_status_t *st = s ? skiff__vision_step_new(name, p, n, &s->impl)
                           : skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED,
                                              "step '%s': out of memory", name ? name : "(null)");
    skiff__free(p);
    if (st) {
        skiff__free(s);
        return st;
    }
    *out_step = s;
    return NULL;
}

skiff_status_t *skiff_step_run(const skiff_step_t *step, const skiff_tensor_t *const *inputs,
                               int n_in, skiff_tensor_t **outputs, int cap, int *out_n)
{
    if (out_n)
        *out_n = 0;
    if (!step || !out_n || (cap > 0 && !outputs) || n_in < 0 || (n_in > 0 && !inputs))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "skiff_step_run: %s is NULL or out of range",
                                !step                   ? "step"
                                : !out_n                ? "out_n"
                                : n_in < 0              ? "n_in"
                                : (n_in > 0 && !inputs) ? "inputs"
                                                        : "outputs");
    return skiff__vision_step_run(step->impl, inputs, n_in, outputs, cap, out_n);
}

const char *skiff_step_name(const skiff_step_t *step)
{
    return step ? skiff__vision_step_name(step->impl) : "";
}

void skiff_step_free(skiff_step_t *step)
{
    if (!step)
        return;
    skiff__vision_step_free(step->impl);
    skiff__free(step);
}

const char *skiff_step_name_at(int index) { return skiff__vision_step_name_at(index); }
