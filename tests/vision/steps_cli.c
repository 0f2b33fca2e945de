/* steps_cli.c - runs one built-in step by name for the oracle tests
 * (test_steps.py):
 *
 *   steps_cli STEP [key=value ...] -- INPUT... -o OUT_PREFIX
 *
 * An INPUT is a .npy file, "str:TEXT" (a one-element string tensor),
 * "lines:FILE" (a string tensor [n] of FILE's n lines, each ended by '\n';
 * an empty file gives [0]) or any other file (its bytes as uint8). Output i goes to
 * OUT_PREFIX<i>.npy, or to OUT_PREFIX<i>.txt (one string a line) for string tensors. Errors go to
 * stderr with exit status 1.
 *
 *   steps_cli --bench IMAGE N
 *
 * times ImageDecode + DetResizeForTest(960, max) + NormalizeImage, best of N.
 *
 *   steps_cli --repeat N STEP [key=value ...] -- INPUT... -o OUT_PREFIX
 *
 * runs the step N times and prints the best time before writing outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "vision/steps.h"

static skiff_status_t *load_input(const char *arg, skiff_tensor_t **out)
{
    if (!strncmp(arg, "str:", 4)) {
        int64_t d[1] = {1};
        skiff_status_t *st = skiff_tensor_new(SKIFF_DTYPE_STRING, 1, d, out);
        if (st)
            return st;
        char *s = skiff__strdup(arg + 4);
        if (!s)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        ((char **)(*out)->data)[0] = s;
        return NULL;
    }
    if (!strncmp(arg, "lines:", 6)) {
        void *data;
        size_t n;
        skiff_status_t *st = skiff__read_file(arg + 6, &data, &n);
        if (st)
            return st;
        const char *p = data;
        int64_t d[1] = {0};
        for (size_t i = 0; i < n; i++)
            d[0] += p[i] == '\n';
        st = skiff_tensor_new(SKIFF_DTYPE_STRING, 1, d, out);
        for (size_t i = 0, at = 0, k = 0; !st && i < n; i++) {
            if (p[i] != '\n')
                continue;
            char *s = skiff__malloc(i - at + 1);
            if (!s) {
                st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
                break;
            }
            memcpy(s, p + at, i - at);
            s[i - at] = '\0';
            ((char **)(*out)->data)[k++] = s;
            at = i + 1;
        }
        skiff__free(data);
        return st;
    }
    size_t l = strlen(arg);
    if (l > 4 && !strcmp(arg + l - 4, ".npy"))
        return skiff__npy_read_file(arg, out);
    void *data;
    size_t n;
    skiff_status_t *st = skiff__read_file(arg, &data, &n);
    if (st)
        return st;
    int64_t d[1] = {(int64_t)n};
    st = skiff_tensor_new(SKIFF_DTYPE_UINT8, 1, d, out);
    if (!st && n)
        memcpy((*out)->data, data, n);
    skiff__free(data);
    return st;
}

static int bench(const char *path, int n)
{
    void *data;
    size_t len;
    skiff_status_t *st = skiff__read_file(path, &data, &len);
    if (st) {
        fprintf(stderr, "%s\n", skiff_status_message(st));
        return 1;
    }
    int64_t d[1] = {(int64_t)len};
    skiff_tensor_t *raw = NULL;
    skiff_tensor_wrap(SKIFF_DTYPE_UINT8, 1, d, data, len, &raw);
    skiff__step *dec, *rs, *nm;
    skiff__step_param rp[] = {{"limit_side_len", "960"}, {"limit_type", "max"}};
    skiff__vision_step_new("ImageDecode", NULL, 0, &dec);
    skiff__vision_step_new("DetResizeForTest", rp, 2, &rs);
    skiff__vision_step_new("NormalizeImage", NULL, 0, &nm);
    double best[3] = {1e30, 1e30, 1e30};
    for (int it = 0; it < n; it++) {
        skiff_tensor_t *a[4], *b[4], *c[4];
        int na, nb, nc;
        const skiff_tensor_t *in[1] = {raw};
        uint64_t t0 = skiff__now_ns();
        st = skiff__vision_step_run(dec, in, 1, a, 4, &na);
        uint64_t t1 = skiff__now_ns();
        in[0] = a[0];
        if (!st)
            st = skiff__vision_step_run(rs, in, 1, b, 4, &nb);
        uint64_t t2 = skiff__now_ns();
        in[0] = b[0];
        if (!st)
            st = skiff__vision_step_run(nm, in, 1, c, 4, &nc);
        uint64_t t3 = skiff__now_ns();
        if (st) {
            fprintf(stderr, "%s\n", skiff_status_message(st));
            return 1;
        }
        double t[3] = {(t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6};
        for (int k = 0; k < 3; k++)
            best[k] = t[k] < best[k] ? t[k] : best[k];
        if (it == 0)
            printf("decoded %lldx%lld, resized to %lldx%lld\n", (long long)a[0]->dims[1],
                   (long long)a[0]->dims[0], (long long)b[0]->dims[1], (long long)b[0]->dims[0]);
        skiff_tensor_free(a[0]);
        skiff_tensor_free(b[0]);
        skiff_tensor_free(b[1]);
        skiff_tensor_free(c[0]);
    }
    printf("decode %.2f ms, det_resize %.2f ms, normalize %.2f ms, total %.2f ms (best of %d)\n",
           best[0], best[1], best[2], best[0] + best[1] + best[2], n);
    skiff_tensor_free(raw);
    skiff__free(data);
    skiff__vision_step_free(dec);
    skiff__vision_step_free(rs);
    skiff__vision_step_free(nm);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--bench"))
        return bench(argv[2], (int)strtol(argv[3], NULL, 10));
    int repeat = 1;
    if (argc > 3 && !strcmp(argv[1], "--repeat")) {
        repeat = (int)strtol(argv[2], NULL, 10);
        repeat = repeat < 1 ? 1 : repeat;
        argv += 2;
        argc -= 2;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: steps_cli STEP [key=value ...] -- INPUT... -o OUT_PREFIX\n");
        return 2;
    }
    skiff__step_param params[64];
    char *kv[64];
    int np = 0, i = 2;
    for (; i < argc && strcmp(argv[i], "--") && np < 64; i++) {
        kv[np] = skiff__strdup(argv[i]);
        char *eq = kv[np] ? strchr(kv[np], '=') : NULL;
        if (!eq) {
            fprintf(stderr, "bad parameter '%s' (want key=value)\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        params[np].key = kv[np];
        params[np].value = eq + 1;
        np++;
    }
    skiff_tensor_t *in[16] = {0};
    const char *prefix = "out";
    int nin = 0, rc = 1;
    skiff__step *s = NULL;
    skiff_status_t *st = NULL;
    for (i++; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            prefix = argv[++i];
            continue;
        }
        if (nin == 16)
            break;
        st = load_input(argv[i], &in[nin]);
        if (st)
            goto out;
        nin++;
    }
    st = skiff__vision_step_new(argv[1], params, (size_t)np, &s);
    if (st)
        goto out;
    skiff_tensor_t *outs[SKIFF_STEP_MAX_OUT];
    int nout = 0;
    double best = 1e30;
    for (int it = 0; it < repeat; it++) {
        if (it) {
            for (int k = 0; k < nout; k++)
                skiff_tensor_free(outs[k]);
        }
        uint64_t t0 = skiff__now_ns();
        st = skiff__vision_step_run(s, (const skiff_tensor_t *const *)in, nin, outs,
                                    SKIFF_STEP_MAX_OUT, &nout);
        double ms = (double)(skiff__now_ns() - t0) / 1e6;
        best = ms < best ? ms : best;
        if (st)
            goto out;
    }
    if (repeat > 1)
        printf("%s: %.3f ms (best of %d)\n", argv[1], best, repeat);
    rc = 0;
    for (int k = 0; k < nout; k++) {
        char path[4096];
        if (outs[k]->dtype == SKIFF_DTYPE_STRING) {
            snprintf(path, sizeof path, "%s%d.txt", prefix, k);
            FILE *f = fopen(path, "wb");
            int64_t n = skiff_tensor_numel(outs[k]);
            for (int64_t j = 0; f && j < n; j++)
                fprintf(f, "%s\n", ((char **)outs[k]->data)[j]);
            if (!f || fclose(f))
                rc = 1;
        } else {
            snprintf(path, sizeof path, "%s%d.npy", prefix, k);
            skiff_status_t *w = skiff__npy_write_file(outs[k], path);
            if (w) {
                fprintf(stderr, "%s\n", skiff_status_message(w));
                skiff_status_free(w);
                rc = 1;
            }
        }
        skiff_tensor_free(outs[k]);
    }
out:
    if (st) {
        fprintf(stderr, "%s\n", skiff_status_message(st));
        skiff_status_free(st);
    }
    skiff__vision_step_free(s);
    for (int k = 0; k < nin; k++)
        skiff_tensor_free(in[k]);
    for (int k = 0; k < np; k++)
        skiff__free(kv[k]);
    return rc;
}
