/* steps.h - the built-in steps of the pipeline's ops, by name, with
 * parameters given as (key, value) strings as config.yml's `preprocess:` and
 * `postprocess:` lists give them. docs/steps.md lists every step with its
 * parameters, inputs and outputs.
 *
 *     skiff__step *s;
 *     skiff__step_param p[] = {{"limit_side_len", "960"}, {"limit_type", "max"}};
 *     st = skiff__vision_step_new("DetResizeForTest", p, 2, &s);
 *     st = skiff__vision_step_run(s, in, 1, out, SKIFF_STEP_MAX_OUT, &nout);
 *     skiff__vision_step_free(s);
 *
 * Errors name the step and, for parameters, the key and what was wrong with
 * its value. Threads: a created step is immutable; any number of threads may
 * run it at once. */
#ifndef SKIFF_VISION_STEPS_H
#define SKIFF_VISION_STEPS_H

#include <stddef.h>

#include "../core/core.h"

#define SKIFF_STEP_MAX_OUT 4

typedef struct skiff__step_param {
    const char *key;
    const char *value;
} skiff__step_param;

typedef struct skiff__step skiff__step;

/* Creates step `name` with n parameters (copied; the arrays are borrowed for
 * the call only). Unknown names, unknown keys and bad values are
 * INVALID_ARG. Caller owns *out_step. */
skiff_status_t *skiff__vision_step_new(const char *name, const skiff__step_param *params, size_t n,
                                       skiff__step **out_step);

/* Runs the step on nin input tensors (borrowed); writes up to cap new tensors
 * (caller owns each) to out and their count to *out_n. On error nothing is
 * written and *out_n is 0. */
skiff_status_t *skiff__vision_step_run(const skiff__step *s, const skiff_tensor_t *const *in,
                                       int nin, skiff_tensor_t **out, int cap, int *out_n);

/* The name the step was created with. */
const char *skiff__vision_step_name(const skiff__step *s);

void skiff__vision_step_free(skiff__step *s);

/* The registry's names, for help and errors: index 0.. until NULL. */
const char *skiff__vision_step_name_at(int i);

#endif
