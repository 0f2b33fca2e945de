/* skiff/steps.h - the built-in pre- and post-processing steps, outside a server.
 *
 * The steps a pipeline's ops run (image decode, BGR2RGB, Div, Normalize,
 * Resize, CenterCrop, Transpose, CTCLabelDecode, ...; docs/steps.md lists
 * them with their parameters) can be created and run by any program: a client
 * that prepares its images itself gets exactly the server's arithmetic.
 * Parameters are (key, value) strings, as config.yml writes them.
 *
 *     skiff_step_param_t p[] = {{"width", "640"}, {"height", "640"}};
 *     skiff_step_t *s;
 *     skiff_step_new("Resize", p, 2, &s);
 *     skiff_tensor_t *out[SKIFF_STEP_MAX_OUTPUTS];
 *     int n;
 *     skiff_step_run(s, in, 1, out, SKIFF_STEP_MAX_OUTPUTS, &n);   // caller owns out[0..n)
 *     skiff_step_free(s);
 *
 * Images are HWC tensors (height, width, channels), uint8 or float32, BGR as
 * cv2 reads them unless a step says otherwise.
 *
 * Threads: a created step is immutable; any number of threads may run one
 * step at once, and different steps are independent.
 */
#ifndef SKIFF_STEPS_H
#define SKIFF_STEPS_H

#include <stddef.h>

#include "skiff/api.h"
#include "skiff/status.h"
#include "skiff/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most tensors one step returns. */
#define SKIFF_STEP_MAX_OUTPUTS 4

/* A created step (opaque). */
typedef struct skiff_step skiff_step_t;

/* One parameter: key and value as NUL-terminated strings ("mean",
 * "[0.485, 0.456, 0.406]"; "is_scale", "false"). */
typedef struct skiff_step_param {
    const char *key;
    const char *value;
} skiff_step_param_t;

/* Creates step `name` with n parameters. The parameters are read (and
 * copied where kept) during the call; the arrays and strings are borrowed for
 * the call only. An unknown name, an unknown key or a bad value is
 * SKIFF_CODE_INVALID_ARG with a message naming the step and the key. Caller
 * owns *out_step and frees it with skiff_step_free(). */
SKIFF_API skiff_status_t *skiff_step_new(const char *name, const skiff_step_param_t *params,
                                         size_t n, skiff_step_t **out_step);

/* Runs the step on n_in input tensors (borrowed for the call; never
 * modified). On success writes up to cap new tensors to outputs and their
 * count to *out_n; the caller owns each and frees it with skiff_tensor_free().
 * On error nothing is written to outputs and *out_n is 0; a step with more
 * outputs than cap is SKIFF_CODE_INVALID_ARG (SKIFF_STEP_MAX_OUTPUTS is always
 * enough). */
SKIFF_API skiff_status_t *skiff_step_run(const skiff_step_t *step,
                                         const skiff_tensor_t *const *inputs, int n_in,
                                         skiff_tensor_t **outputs, int cap, int *out_n);

/* The name the step was created with; borrowed, valid while the step lives.
 * "" for NULL. */
SKIFF_API const char *skiff_step_name(const skiff_step_t *step);

/* Frees a step. Accepts NULL. */
SKIFF_API void skiff_step_free(skiff_step_t *step);

/* The built-in steps' names, for help and discovery: index 0, 1, ... until
 * NULL. The strings are static. */
SKIFF_API const char *skiff_step_name_at(int index);

#ifdef __cplusplus
}
#endif
#endif
