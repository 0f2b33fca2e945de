/* steps.c - skiff/steps.h: the server's pre-processing steps in a program of
 * one's own. A 4x6 BGR image becomes a normalised 3x4x6 float CHW tensor,
 * step by step: BGR2RGB, Div(255), Normalize (ImageNet mean and std),
 * Transpose.
 *
 *     cc steps.c $(pkg-config --cflags --libs skiff) -o steps && ./steps
 */
#include <stdio.h>

#include <skiff/status.h>
#include <skiff/steps.h>
#include <skiff/tensor.h>

static int fail(skiff_status_t *st)
{
    fprintf(stderr, "%s\n", skiff_status_message(st));
    skiff_status_free(st);
    return 1;
}

int main(void)
{
    int nsteps = 0;
    while (skiff_step_name_at(nsteps))
        nsteps++;
    printf("%d built-in steps, the first %s\n", nsteps, skiff_step_name_at(0));

    /* The image is the program's memory, borrowed by the tensor: no copy. */
    unsigned char pixels[4][6][3];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 6; x++)
            for (int c = 0; c < 3; c++)
                pixels[y][x][c] = (unsigned char)(40 * y + 30 * x + 10 * c);
    const int64_t dims[] = {4, 6, 3};
    skiff_tensor_t *img = NULL;
    skiff_status_t *st = skiff_tensor_wrap(SKIFF_DTYPE_UINT8, 3, dims, pixels, sizeof pixels, &img);
    if (st)
        return fail(st);

    const skiff_step_param_t div[] = {{"value", "255"}};
    const skiff_step_param_t norm[] = {
        {"mean", "[0.485, 0.456, 0.406]"}, {"std", "[0.229, 0.224, 0.225]"}, {"is_scale", "false"}};
    const skiff_step_param_t chw[] = {{"perm", "[2, 0, 1]"}};
    struct {
        const char *name;
        const skiff_step_param_t *params;
        size_t n;
    } chain[] = {
        {"BGR2RGB", NULL, 0}, {"Div", div, 1}, {"Normalize", norm, 3}, {"Transpose", chw, 1}};

    skiff_tensor_t *cur = img;
    for (size_t i = 0; i < sizeof chain / sizeof chain[0]; i++) {
        skiff_step_t *s = NULL;
        st = skiff_step_new(chain[i].name, chain[i].params, chain[i].n, &s);
        skiff_tensor_t *out[SKIFF_STEP_MAX_OUTPUTS];
        int n = 0;
        if (!st)
            st = skiff_step_run(s, (const skiff_tensor_t *const *)&cur, 1, out,
                                SKIFF_STEP_MAX_OUTPUTS, &n);
        skiff_step_free(s);
        skiff_tensor_free(cur); /* the wrapped image: frees the struct, not `pixels` */
        if (st)
            return fail(st);
        cur = out[0];
        for (int k = 1; k < n; k++)
            skiff_tensor_free(out[k]);
    }

    char shape[64];
    const float *v = cur->data;
    /* pixel (0,0): B=0, G=10, R=20 -> first RGB channel is R: (20/255 - 0.485) / 0.229 */
    printf("out: %s %s, [0][0][0] = %.4f\n", skiff_dtype_name(cur->dtype),
           skiff_shape_str(cur->ndim, cur->dims, shape, sizeof shape), (double)v[0]);
    int ok = cur->dtype == SKIFF_DTYPE_FLOAT32 && cur->ndim == 3 && cur->dims[0] == 3 &&
             cur->dims[1] == 4 && cur->dims[2] == 6 &&
             v[0] > (20.0f / 255 - 0.485f) / 0.229f - 1e-4f &&
             v[0] < (20.0f / 255 - 0.485f) / 0.229f + 1e-4f;
    skiff_tensor_free(cur);

    /* A typo in a parameter is an error naming the step and the key. */
    skiff_step_t *bad = NULL;
    const skiff_step_param_t typo[] = {{"vlaue", "2"}};
    st = skiff_step_new("Div", typo, 1, &bad);
    printf("typo: %s\n", st ? skiff_status_message(st) : "accepted");
    ok = ok && st && skiff_status_code(st) == SKIFF_CODE_INVALID_ARG && !bad;
    skiff_status_free(st);
    return ok ? 0 : 1;
}
