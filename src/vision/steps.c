/* steps.c - the registry of built-in steps: a table of names, each with a
 * create function that reads its (key, value) parameters into a step's
 * fields and a run function over tensors.
 *
 * Parameters are read through a small reader that remembers which keys a
 * step asked for; any key left over is an error naming it, so a typo in
 * config.yml fails at load time rather than silently taking a default. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/defaults.h"
#include "../text/text.h"
#include "ocr.h"
#include "steps.h"
#include "vision.h"

#define MAX_VALUES 8

struct skiff__step {
    const struct step_def *def;
    int64_t i[8];
    double f[8];
    float v1[MAX_VALUES], v2[MAX_VALUES];
    int nv1, nv2;
    int perm[SKIFF_MAX_DIMS];
    int nperm;
    skiff__labels *labels; /* label / dictionary file */
    skiff__wordpiece *wp;  /* WordPiece vocabulary */
    char *s0;
};

typedef struct preader {
    const char *step;
    const skiff__step_param *p;
    size_t n;
    unsigned char used[64];
    skiff_status_t *err;
} preader;

static const skiff__step_param *p_find(preader *r, const char *key)
{
    for (size_t i = 0; i < r->n && i < 64; i++)
        if (r->p[i].key && strcmp(r->p[i].key, key) == 0) {
            r->used[i] = 1;
            return &r->p[i];
        }
    return NULL;
}

static bool p_fail(preader *r, const char *key, const char *value, const char *want)
{
    if (!r->err)
        r->err = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                  "step '%s': parameter '%s': expected %s, got '%s'", r->step, key,
                                  want, value ? value : "(null)");
    return false;
}

static bool p_int(preader *r, const char *key, int64_t def, int64_t lo, int64_t hi, int64_t *out)
{
    const skiff__step_param *p = p_find(r, key);
    *out = def;
    if (!p)
        return true;
    int64_t v;
    char want[96];
    snprintf(want, sizeof want, "an integer in [%lld, %lld]", (long long)lo, (long long)hi);
    if (!p->value || !skiff__parse_i64(p->value, &v) || v < lo || v > hi)
        return p_fail(r, key, p->value, want);
    *out = v;
    return true;
}

static bool p_double(preader *r, const char *key, double def, double lo, double hi, double *out)
{
    const skiff__step_param *p = p_find(r, key);
    *out = def;
    if (!p)
        return true;
    double v;
    char want[96];
    snprintf(want, sizeof want, "a number in [%g, %g]", lo, hi);
    if (!p->value || !skiff__parse_double(p->value, &v) || !(v >= lo && v <= hi))
        return p_fail(r, key, p->value, want);
    *out = v;
    return true;
}

static bool p_bool(preader *r, const char *key, bool def, bool *out)
{
    const skiff__step_param *p = p_find(r, key);
    *out = def;
    if (!p)
        return true;
    const char *v = p->value ? p->value : "";
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "1"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "0"))
        *out = false;
    else
        return p_fail(r, key, p->value, "true or false");
    return true;
}

/* "[0.5, 0.5, 0.5]", "0.5,0.5,0.5" or "0.5". */
static bool p_floats(preader *r, const char *key, const float *def, int ndef, float *out,
                     int *out_n)
{
    const skiff__step_param *p = p_find(r, key);
    memcpy(out, def, sizeof(float) * (size_t)ndef);
    *out_n = ndef;
    if (!p)
        return true;
    const char *s = p->value ? p->value : "";
    int n = 0;
    char tok[64];
    const char *q = s;
    while (*q == ' ' || *q == '[')
        q++;
    while (*q && *q != ']') {
        size_t len = strcspn(q, ",]");
        while (len && q[len - 1] == ' ')
            len--;
        double v;
        if (n == MAX_VALUES || len == 0 || len >= sizeof tok)
            return p_fail(r, key, s, "a list of up to 8 numbers");
        memcpy(tok, q, len);
        tok[len] = '\0';
        if (!skiff__parse_double(tok, &v))
            return p_fail(r, key, s, "a list of numbers");
        out[n++] = (float)v;
        q += strcspn(q, ",]");
        if (*q == ',')
            q++;
        while (*q == ' ')
            q++;
    }
    if (n == 0)
        return p_fail(r, key, s, "a list of numbers");
    *out_n = n;
    return true;
}

static bool p_ints(preader *r, const char *key, const int *def, int ndef, int *out, int *out_n)
{
    float v[MAX_VALUES];
    float d[MAX_VALUES];
    for (int i = 0; i < ndef; i++)
        d[i] = (float)def[i];
    if (!p_floats(r, key, d, ndef, v, out_n))
        return false;
    for (int i = 0; i < *out_n; i++) {
        if (v[i] != floorf(v[i]))
            return p_fail(r, key, p_find(r, key)->value, "a list of integers");
        out[i] = (int)v[i];
    }
    return true;
}

static bool p_str(preader *r, const char *key, const char *def, const char **out)
{
    const skiff__step_param *p = p_find(r, key);
    *out = p ? p->value : def;
    if (p && !p->value)
        return p_fail(r, key, NULL, "a string");
    return true;
}

/* One of names[] (or its index as a number). */
static bool p_enum(preader *r, const char *key, const char *const *names, int def, int *out)
{
    const skiff__step_param *p = p_find(r, key);
    *out = def;
    if (!p)
        return true;
    char want[160] = "one of";
    for (int i = 0; names[i]; i++) {
        if (p->value && !strcmp(p->value, names[i])) {
            *out = i;
            return true;
        }
        size_t l = strlen(want);
        snprintf(want + l, sizeof want - l, "%s %s", i ? "," : "", names[i]);
    }
    int64_t v;
    if (p->value && skiff__parse_i64(p->value, &v) && v >= 0) {
        for (int i = 0; names[i]; i++)
            if (i == v) {
                *out = i;
                return true;
            }
    }
    return p_fail(r, key, p->value, want);
}

/* ---- run helpers ------------------------------------------------------------------ */

#define STEP_ERR(s, code, ...) step_err(s, code, __VA_ARGS__)

static skiff_status_t *step_err(const skiff__step *s, skiff_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *sname(const skiff__step *s);

static skiff_status_t *step_err(const skiff__step *s, skiff_code_t code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return skiff_status_new(code, "step '%s': %s", sname(s), msg);
}

/* Prefixes an error from below with the step's name. */
static skiff_status_t *wrap(const skiff__step *s, skiff_status_t *st)
{
    if (!st)
        return NULL;
    skiff_status_t *w = skiff_status_new(skiff_status_code(st), "step '%s': %s", sname(s),
                                         skiff_status_message(st));
    skiff_status_free(st);
    return w;
}

/* A run's ending: n outputs on success, none (and the error wrapped) else;
 * skiff__vision_step_run frees whatever outputs a failed run left. */
static skiff_status_t *one_out(const skiff__step *s, skiff_status_t *st, int n, int *out_n)
{
    *out_n = st ? 0 : n;
    return wrap(s, st);
}

static skiff_status_t *need_inputs(const skiff__step *s, int nin, int want)
{
    if (nin < want)
        return STEP_ERR(s, SKIFF_CODE_INVALID_ARG, "expected %d input%s, got %d", want,
                        want == 1 ? "" : "s", nin);
    return NULL;
}

/* The bytes of a uint8 tensor or of a one-element string tensor. */
static bool tensor_bytes(const skiff_tensor_t *t, const uint8_t **p, size_t *n)
{
    if (t->dtype == SKIFF_DTYPE_UINT8 || t->dtype == SKIFF_DTYPE_INT8) {
        *p = t->data;
        *n = t->nbytes;
        return true;
    }
    if (t->dtype == SKIFF_DTYPE_STRING && skiff_tensor_numel(t) == 1 && t->data) {
        const char *s = ((char *const *)t->data)[0];
        *p = (const uint8_t *)(s ? s : "");
        *n = s ? strlen(s) : 0;
        return true;
    }
    return false;
}

/* ---- the steps ---------------------------------------------------------------------- */

typedef skiff_status_t *(*step_run_fn)(const skiff__step *s, const skiff_tensor_t *const *in,
                                       int nin, skiff_tensor_t **out, int *out_n);
typedef bool (*step_create_fn)(skiff__step *s, preader *r);

typedef struct step_def {
    const char *name;
    step_create_fn create;
    step_run_fn run;
    int nin; /* inputs needed; -1: one or more */
} step_def;

static const char *sname(const skiff__step *s) { return s->def->name; }

/* Base64Decode: text -> bytes. */
static skiff_status_t *run_base64(const skiff__step *s, const skiff_tensor_t *const *in, int nin,
                                  skiff_tensor_t **out, int *out_n)
{
    const uint8_t *p;
    size_t n;
    if (!tensor_bytes(in[0], &p, &n))
        return STEP_ERR(s, SKIFF_CODE_INVALID_ARG, "input 0: expected a string or uint8 tensor");
    uint8_t *d;
    size_t len;
    skiff_status_t *st = skiff__vision_base64_decode((const char *)p, n, &d, &len);
    if (st)
        return wrap(s, st);
    int64_t dims[1] = {(int64_t)len};
    st = skiff__vision_tensor_alloc(SKIFF_DTYPE_UINT8, 1, dims, &out[0]);
    if (!st)
        memcpy(out[0]->data, d, len);
    skiff__free(d);
    *out_n = st ? 0 : 1;
    return wrap(s, st);
}

/* ImageDecode: file bytes -> HWC uint8 BGR (RGB with to_rgb). */
static bool create_decode(skiff__step *s, preader *r)
{
    bool rgb;
    return p_int(r, "max_pixels", SKIFF_DEFAULT_IMAGE_MAX_PIXELS, 1, (int64_t)1 << 40, &s->i[0]) &&
           p_bool(r, "to_rgb", false, &rgb) && ((s->i[1] = rgb), true);
}

static skiff_status_t *run_decode(const skiff__step *s, const skiff_tensor_t *const *in, int nin,
                                  skiff_tensor_t **out, int *out_n)
{
    const uint8_t *p;
    size_t n;
    if (!tensor_bytes(in[0], &p, &n))
        return STEP_ERR(s, SKIFF_CODE_INVALID_ARG, "input 0: expected a string or uint8 tensor");
    skiff__image_opts o = {.max_pixels = s->i[0], .rgb = s->i[1] != 0};
    skiff_status_t *st = skiff__vision_image_decode(p, n, &o, &out[0]);
    *out_n = st ? 0 : 1;
    return wrap(s, st);
}

static skiff_status_t *run_bgr2rgb(const skiff__step *s, const skiff_tensor_t *const *in, int nin,
                                   skiff_tensor_t **out, int *out_n)
{
    skiff_status_t *st = skiff__vision_swap_channels(in[0], &out[0]);
    *out_n = st ? 0 : 1;
    return wrap(s, st);
}

static bool create_div(skiff__step *s, preader *r)
{
    if (!p_double(r, "value", 255.0, -HUGE_VAL, HUGE_VAL, &s->f[0]))
        return false;
    if (s->f[0] == 0.0)
        return p_fail(r, "value", "0", "a non-zero number");
    return true;
}

static skiff_status_t *run_div(const skiff__step *s, const skiff_tensor_t *const *in, int nin,
                               skiff_tensor_t **out, int *out_n)
{
    skiff_status_t *st = skiff__vision_div(in[0], (float)s->f[0], &out[0]);
    *out_n = st ? 0 : 1;
    return wrap(s, st);
}

/* Normalize / NormalizeImage: Paddle's mean, std and is_scale (or scale). */
static bool create_normalize(skiff__step *s, preader *r)
{
    static const float dm[3] = {0.485f, 0.456f, 0.406f}, ds[3] = {0.229f, 0.224f, 0.225f};
    bool is_scale;
    double scale;
    if (!p_floats(r, "mean", dm, 3, s->v1, &s->nv1) || !p_floats(r, "std", ds, 3, s->v2, &s->nv2) ||
        !p_bool(r, "is_scale", true, &is_scale) ||
        !p_double(r, "scale", is_scale ? 1.0 / 255.0 : 1.0, -HUGE_VAL, HUGE_VAL, &scale))
        return false;
    /* PaddleOCR writes scale as the string "1./255." */
    if (s->nv1 != s->nv2) {
        char v[32];
        snprintf(v, sizeof v, "%d values", s->nv2);
        return p_fail(r, "std", v, "as many values as mean");
    }
    for (int i = 0; i < s->nv2; i++)
        if (s->v2[i] == 0.f)
            return p_fail(r, "std", "0", "non-zero values");
    s->f[0] = scale;
    return true;
}

static skiff_status_t *run_normalize(const skiff__step *s, const skiff_tensor_t *const *in, int nin,
                                     skiff_tensor_t **out, int *out_n)
{
    skiff_status_t *st =
        skiff__vision_normalize(in[0], (float)s->f[0], s->v1, s->v2, s->nv1, &out[0]);
    *out_n = st ? 0 : 1;
    return wrap(s, st);
}

static const char *const interp_names[] = {"nearest", "linear", "cubic", "area", NULL};

static bool create_resize(skiff__step *s, preader *r)
{
    int interp;
    if (!p_int(r, "width", 0, 1, 1 << 20, &s->i[0]) ||
        !p_int(r, "height", 0, 1, 1 << 20, &s->i[1]) ||
        !p_int(r, "size", 0, 1, 1 << 20, &s->i[2]) ||
        !p_double(r, "fx", 0.0, 1e-6, 1e6, &s->f[0]) ||
        !p_double(r, "fy", 0.0, 1e-6, 1e6, &s->f[1]) ||
        !p_enum(r, "interpolation", interp_names, SKIFF_INTERP_LINEAR, &interp))
        return false;
    s->i[3] = interp;
    if (s->i[2]) {
        if (!s->i[0])
            s->i[0] = s->i[2];
        if (!s->i[1])
            s->i[1] = s->i[2];
    }
    bool by_factor = s->f[0] > 0.0 || s->f[1] > 0.0;
    if (by_factor && (s->i[0] || s->i[1]))
        return p_fail(r, "fx", "(given with a size)", "either fx and fy, or width and height");
    if (by_factor && !(s->f[0] > 0.0 && s->f[1] > 0.0))
        return p_fail(r, s->f[0] > 0.0 ? "fy" : "fx", "(missing)", "both fx and fy");
    if (!by_factor && (!s->i[0] || !s->i[1]))
        return p_fail(r, "width", "(missing)", "width and height, or size, or fx and fy");
    return true;
}

/* cv2's size for a factor: saturate_cast<int>(len * f), which rounds to
 * nearest, ties to even. */
static int64_t factor_len(int64_t len, double f) { return (int64_t)nearbyint((double)len * f); }

static skiff_status_t *run_resize(const skiff__step *s, const skiff_tensor_t *const *in, int nin,
                                  skiff_tensor_t **out, int *out_n)
{
    skiff_status_t *st;
    if (s->f[0] > 0.0) {
        st = skiff__vision_check_image(in[0], "input 0");
        if (!st) {
            int64_t w = factor_len(in[0]->dims[1], s->f[0]),
                    h = factor_len(in[0]->dims[0], s->f[1]);
            if (w < 1 || h < 1)
                st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                      "input 0: a %lldx%lld image scaled by fx %g, fy %g is "
                                      "%lldx%lld pixels (expected at least 1x1)",
                                      (long long)in[0]->dims[1], (long long)in[0]->dims[0], s->f[0],
                                      s->f[1], (long long)w, (long long)h);
            else
                st = skiff__vision_resize_image_scaled(in[0], w, h, s->f[0], s->f[1],
                                                       (skiff__interp)s->i[3], &out[0]);
        }
    } else {
        st = skiff__vision_resize_image(in[0], s->i[0], s->i[1], (skiff__interp)s->i[3], &out[0]);
    }
    *out_n = st ? 0 : 1;
    return wrap(s, st);
}

/* DetResizeForTest: out 0 the resized image, out 1 [src_h, src_w, ratio_h,
 * ratio_w] (PaddleOCR's shape_list). */
static bool create_det_resize(skiff__step *s, preader *r)
{
    static const char *const lt[] = {"max", "min", "resize_long", NULL};
    int t;
    if (!p_int(r, "limit_side_len", 960, 1, 1 << 16, &s->i[0]) ||
        !p_enum(r, "limit_type", lt, SKIFF_LIMIT_MAX, &t))
        return false;
    s->i[1] = t;
    return true;
}

static skiff_status_t *run_det_resize(const skiff__step *s, const skiff_tensor_t *const *in,
                                      int nin, skiff_tensor_t **out, int *out_n)
{
    skiff_status_t *st = skiff__vision_check_image(in[0], "input 0");
    if (st)
        return wrap(s, st);
    int64_t h = in[0]->dims[0], w = in[0]->dims[1], nh, nw;
    st = skiff__vision_det_resize_dims(h, w, s->i[0], (skiff__limit_type)s->i[1], &nh, &nw);
    if (!st)
        st = skiff__vision_resize_image(in[0], nw, nh, SKIFF_INTERP_LINEAR, &out[0]);
    if (st)
        return wrap(s, st);
    int64_t d4[1] = {4};
    st = skiff__vision_tensor_alloc(SKIFF_DTYPE_FLOAT32, 1, d4, &out[1]);
    if (st) {
        skiff_tensor_free(out[0]);
        out[0] = NULL;
        return wrap(s, st);
    }
    float *sh = out[1]->data;
    sh[0] = (float)h;
    sh[1] = (float)w;
    sh[2] = (float)((double)nh / (double)h);
    sh[3] = (float)((double)nw / (double)w);
    *out_n = 2;
    return NULL;
}

static bool create_center_crop(skiff__step *s, preader *r)
{
    if (!p_int(r, "size", 224, 1, 1 << 20, &s->i[2]) ||
        !p_int(r, "width", s->i[2], 1, 1 << 20, &s->i[0]) ||
        !p_int(r, "height", s->i[2], 1, 1 << 20, &s->i[1]))
        return false;
    return true;
}

static skiff_status_t *run_center_crop(const skiff__step *s, const skiff_tensor_t *const *in,
                                       int nin, skiff_tensor_t **out, int *out_n)
{
    skiff_status_t *st = skiff__vision_check_image(in[0], "input 0");
    if (!st)
        st = skiff__vision_crop(in[0], (in[0]->dims[1] - s->i[0]) / 2,
                                (in[0]->dims[0] - s->i[1]) / 2, s->i[0], s->i[1], &out[0]);
    *out_n = st ? 0 : 1;
    return wrap(s, st);
}

static bool create_pad(skiff__step *s, preader *r)
{
    return p_int(r, "top", 0, 0, 1 << 15, &s->i[0]) &&
           p_int(r, "bottom", 0, 0, 1 << 15, &s->i[1]) &&
           p_int(r, "left", 0, 0, 1 << 15, &s->i[2]) &&
           p_int(r, "right", 0, 0, 1 << 15, &s->i[3]) &&
           p_double(r, "value", 0.0, -HUGE_VAL, HUGE_VAL, &s->f[0]);
}

static skiff_status_t *run_pad(const skiff__step *s, const skiff_tensor_t *const *in, int nin,
                               skiff_tensor_t **out, int *out_n)
{
    skiff_status_t *st =
        skiff__vision_pad(in[0], s->i[0], s->i[1], s->i[2], s->i[3], (float)s->f[0], &out[0]);
    *out_n = st ? 0 : 1;
    return wrap(s, st);
}

/* PadStride: stride (32), value (0), mode (constant: value; edge: the
 * image's border pixels repeated, as cv2.BORDER_REPLICATE). */
static bool create_pad_stride(skiff__step *s, preader *r)
{
    static const char *const modes[] = {"constant", "edge", NULL};
    int mode;
    if (!p_int(r, "stride", 32, 1, 4096, &s->i[0]) ||
        !p_double(r, "value", 0.0, -HUGE_VAL, HUGE_VAL, &s->f[0]) ||
        !p_enum(r, "mode", modes, 0, &mode))
        return false;
    s->i[1] = mode;
    return true;
}

static skiff_status_t *run_pad_stride(const skiff__step *s, const skiff_tensor_t *const *in,
                                      int nin, skiff_tensor_t **out, int *out_n)
{
    skiff_status_t *st = skiff__vision_check_image(in[0], "input 0");
    if (!st) {
        int64_t k = s->i[0], h = in[0]->dims[0], w = in[0]->dims[1];
        int64_t bottom = (h + k - 1) / k * k - h, right = (w + k - 1) / k * k - w;
        st = s->i[1] ? skiff__vision_pad_edge(in[0], 0, bottom, 0, right, &out[0])
                     : skiff__vision_pad(in[0], 0, bottom, 0, right, (float)s->f[0], &out[0]);
    }
    *out_n = st ? 0 : 1;
    return wrap(s, st);
}

static bool create_permute(skiff__step *s, preader *r)
{
    static const int hwc2chw[3] = {2, 0, 1};
    return p_ints(r, "perm", hwc2chw, 3, s->perm, &s->nperm);
}

static skiff_status_t *run_permute(const skiff__step *s, const skiff_tensor_t *const *in, int nin,
                                   skiff_tensor_t **out, int *out_n)
{
    skiff_status_t *st = skiff__vision_permute(in[0], s->perm, s->nperm, &out[0]);
    *out_n = st ? 0 : 1;
    return wrap(s, st);
}

static bool create_stack(skiff__step *s, preader *r)
{
    return p_double(r, "pad_value", 0.0, -HUGE_VAL, HUGE_VAL, &s->f[0]);
}

static skiff_status_t *run_stack(const skiff__step *s, const skiff_tensor_t *const *in, int nin,
                                 skiff_tensor_t **out, int *out_n)
{
    skiff_status_t *st = skiff__vision_stack(in, nin, (float)s->f[0], &out[0]);
    *out_n = st ? 0 : 1;
    return wrap(s, st);
}

#include "steps_detect.inc"
#include "steps_ocr.inc"
#include "steps_text.inc"

static const step_def step_defs[] = {{"Base64Decode", NULL, run_base64, 1},
                                     {"ImageDecode", create_decode, run_decode, 1},
                                     {"BGR2RGB", NULL, run_bgr2rgb, 1},
                                     {"RGB2BGR", NULL, run_bgr2rgb, 1},
                                     {"Div", create_div, run_div, 1},
                                     {"Normalize", create_normalize, run_normalize, 1},
                                     {"NormalizeImage", create_normalize, run_normalize, 1},
                                     {"Resize", create_resize, run_resize, 1},
                                     {"DetResizeForTest", create_det_resize, run_det_resize, 1},
                                     {"ResizeByFactor", create_det_resize, run_det_resize, 1},
                                     {"CenterCrop", create_center_crop, run_center_crop, 1},
                                     {"Pad", create_pad, run_pad, 1},
                                     {"PadStride", create_pad_stride, run_pad_stride, 1},
                                     {"Transpose", create_permute, run_permute, 1},
                                     {"Permute", create_permute, run_permute, 1},
                                     {"ToCHWImage", create_permute, run_permute, 1},
                                     {"Stack", create_stack, run_stack, -1},
                                     OCR_STEP_DEFS,
                                     TEXT_STEP_DEFS,
                                     DETECT_STEP_DEFS};

#define NSTEPS (sizeof step_defs / sizeof step_defs[0])

const char *skiff__vision_step_name_at(int i)
{
    return i >= 0 && (size_t)i < NSTEPS ? step_defs[i].name : NULL;
}

const char *skiff__vision_step_name(const skiff__step *s) { return s ? s->def->name : ""; }

void skiff__vision_step_free(skiff__step *s)
{
    if (!s)
        return;
    skiff__labels_free(s->labels);
    skiff__wordpiece_free(s->wp);
    skiff__free(s->s0);
    skiff__free(s);
}

skiff_status_t *skiff__vision_step_new(const char *name, const skiff__step_param *params, size_t n,
                                       skiff__step **out_step)
{
    *out_step = NULL;
    const step_def *def = NULL;
    for (size_t i = 0; name && i < NSTEPS; i++)
        if (!strcmp(step_defs[i].name, name))
            def = &step_defs[i];
    if (!def)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "unknown step '%s'",
                                name ? name : "(null)");
    if (n > 64)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "step '%s': %zu parameters (at most 64)",
                                name, n);
    skiff__step *s = skiff__calloc(1, sizeof *s);
    if (!s)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "step '%s': out of memory", name);
    s->def = def;
    preader r = {.step = def->name, .p = params, .n = n};
    if (def->create && !def->create(s, &r) && !r.err)
        r.err = skiff_status_new(SKIFF_CODE_INVALID_ARG, "step '%s': bad parameters", name);
    for (size_t i = 0; !r.err && i < n; i++)
        if (!r.used[i])
            r.err = skiff_status_new(SKIFF_CODE_INVALID_ARG, "step '%s': unknown parameter '%s'",
                                     name, params[i].key ? params[i].key : "(null)");
    if (r.err) {
        skiff__vision_step_free(s);
        return r.err;
    }
    *out_step = s;
    return NULL;
}

skiff_status_t *skiff__vision_step_run(const skiff__step *s, const skiff_tensor_t *const *in,
                                       int nin, skiff_tensor_t **out, int cap, int *out_n)
{
    *out_n = 0;
    skiff_status_t *st = need_inputs(s, nin, s->def->nin < 0 ? 1 : s->def->nin);
    if (st)
        return st;
    for (int i = 0; i < nin; i++)
        if (!in[i])
            return STEP_ERR(s, SKIFF_CODE_INVALID_ARG, "input %d is missing", i);
    skiff_tensor_t *tmp[SKIFF_STEP_MAX_OUT] = {0};
    /* the step counts its outputs into *out_n; reset on every failure */
    st = s->def->run(s, in, nin, tmp, out_n);
    int n = *out_n;
    if (st) {
        *out_n = 0;
        for (int i = 0; i < SKIFF_STEP_MAX_OUT; i++)
            skiff_tensor_free(tmp[i]);
        return st;
    }
    if (n > cap) {
        *out_n = 0;
        for (int i = 0; i < n; i++)
            skiff_tensor_free(tmp[i]);
        return STEP_ERR(s, SKIFF_CODE_INVALID_ARG, "%d outputs, room for %d", n, cap);
    }
    for (int i = 0; i < n; i++)
        out[i] = tmp[i];
    return NULL;
}
