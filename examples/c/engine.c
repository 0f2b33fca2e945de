/* engine.c - skiff/engine.h: load an ONNX model once, run it in a context.
 * With no arguments it runs the UCI housing model of examples/uci_housing on
 * one row and prints the predicted price.
 *
 *     cc engine.c $(pkg-config --cflags --libs skiff) -o engine
 *     ./engine examples/uci_housing/uci_housing_model/model.onnx
 */
#include <stdio.h>

#include <skiff/engine.h>

static int fail(skiff_status_t *st)
{
    fprintf(stderr, "error: %s: %s\n", skiff_code_name(skiff_status_code(st)),
            skiff_status_message(st));
    skiff_status_free(st);
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "examples/uci_housing/uci_housing_model/model.onnx";

    /* The model: immutable once loaded, shared by every thread. */
    skiff_model_t *model = NULL;
    skiff_status_t *st = skiff_model_load(path, NULL, &model);
    if (st)
        return fail(st);
    const skiff_value_info_t *in = skiff_model_input(model, 0);
    const skiff_value_info_t *out = skiff_model_output(model, 0);
    printf("%s: %d input(s), first '%s' %s; %d output(s), first '%s'\n", path,
           skiff_model_input_count(model), in->name, skiff_dtype_name(in->dtype),
           skiff_model_output_count(model), out->name);
    if (skiff_model_input_count(model) != 1 || skiff_model_output_count(model) > 8 ||
        in->dtype != SKIFF_DTYPE_FLOAT32 || in->ndim != 2 || in->dims[1] != 13) {
        fprintf(stderr, "this example feeds one row of 13 floats (the UCI housing model)\n");
        skiff_model_free(model);
        return 1;
    }

    /* A context: one per thread that runs the model. */
    skiff_context_options_t opts = {.threads = 1};
    skiff_context_t *ctx = NULL;
    st = skiff_context_new(model, &opts, &ctx);
    if (st) {
        skiff_model_free(model);
        return fail(st);
    }

    /* One row of the Boston housing data, already normalised; the tensor
     * borrows the array, so nothing is copied in. */
    float row[13] = {0.0137f,  -0.1136f, 0.2553f, -0.0692f, 0.0582f, -0.0727f, -0.1583f,
                     -0.0584f, 0.6283f,  0.4919f, 0.1856f,  0.0795f, -0.0332f};
    const int64_t dims[] = {1, 13};
    skiff_tensor_t *x = NULL;
    st = skiff_tensor_wrap(SKIFF_DTYPE_FLOAT32, 2, dims, row, sizeof(row), &x);
    const skiff_tensor_t *outputs[8] = {0};
    if (!st)
        st = skiff_context_run(ctx, (const skiff_tensor_t *const *)&x, 1, outputs);
    if (st) {
        skiff_tensor_free(x);
        skiff_context_free(ctx);
        skiff_model_free(model);
        return fail(st);
    }
    /* outputs[] belong to the context until its next run. */
    char shape[64];
    const skiff_tensor_t *y = outputs[0];
    printf("%s %s = %.6f\n", out->name, skiff_shape_str(y->ndim, y->dims, shape, sizeof(shape)),
           (double)((const float *)y->data)[0]);

    skiff_tensor_free(x);
    skiff_context_free(ctx);
    skiff_model_free(model);
    return 0;
}
