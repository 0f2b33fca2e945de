/* signal.c - the audio front end operators of opset 17: DFT, STFT, the
 * cosine-sum windows (HannWindow, HammingWindow, BlackmanWindow) and
 * MelWeightMatrix.
 *
 * Complex values are a trailing dimension of 2 (real, imaginary); a real
 * signal has a trailing 1. A transform of length n runs as an iterative
 * radix-2 FFT when n is a power of two and as a direct DFT over a twiddle
 * table (index k * j mod n, so no angle is recomputed) otherwise; both in
 * double. The inverse transform scales by 1/n, as numpy.fft.ifft. */
#include <math.h>
#include <string.h>

#include "../../engine_int.h"

static const double TWO_PI = 6.283185307179586476925286766559;

/* ==== the transform ============================================================= */

typedef struct fft_plan {
    int64_t n;
    bool pow2, inverse;
    double *tw; /* n twiddles: cos, sin of -2*pi*m/n (conjugated for the inverse) */
    double *buf;
} fft_plan;

/* Scratch for a plan of length n: twiddles plus work and output lines. */
static size_t fft_bytes(int64_t n) { return (size_t)n * 2 * sizeof(double) * 3; }

static void fft_init(fft_plan *p, int64_t n, bool inverse, double *mem)
{
    p->n = n;
    p->inverse = inverse;
    p->pow2 = n > 0 && (n & (n - 1)) == 0;
    p->tw = mem;
    p->buf = mem + 2 * n;
    double sign = inverse ? 1.0 : -1.0;
    for (int64_t m = 0; m < n; m++) {
        double a = TWO_PI * (double)m / (double)n;
        p->tw[2 * m] = cos(a);
        p->tw[2 * m + 1] = sign * sin(a);
    }
}

/* Transforms x (n complex values) in place. */
static void fft_run(const fft_plan *p, double *x)
{
    const int64_t n = p->n;
    if (p->pow2) {
        for (int64_t i = 1, j = 0; i < n; i++) { /* bit reversal */
            int64_t bit = n >> 1;
            for (; j & bit; bit >>= 1)
                j ^= bit;
            j |= bit;
            if (i < j) {
                double tr = x[2 * i], ti = x[2 * i + 1];
                x[2 * i] = x[2 * j];
                x[2 * i + 1] = x[2 * j + 1];
                x[2 * j] = tr;
                x[2 * j + 1] = ti;
            }
        }
        for (int64_t len = 2; len <= n; len <<= 1) {
            int64_t step = n / len;
            for (int64_t s = 0; s < n; s += len) {
                for (int64_t k = 0; k < len / 2; k++) {
                    const double wr = p->tw[2 * k * step], wi = p->tw[2 * k * step + 1];
                    double *a = x + 2 * (s + k), *b = x + 2 * (s + k + len / 2);
                    double br = b[0] * wr - b[1] * wi, bi = b[0] * wi + b[1] * wr;
                    b[0] = a[0] - br;
                    b[1] = a[1] - bi;
                    a[0] += br;
                    a[1] += bi;
                }
            }
        }
    } else {
        double *y = p->buf;
        for (int64_t k = 0; k < n; k++) {
            double re = 0.0, im = 0.0;
            int64_t m = 0;
            for (int64_t j = 0; j < n; j++) {
                const double wr = p->tw[2 * m], wi = p->tw[2 * m + 1];
                re += x[2 * j] * wr - x[2 * j + 1] * wi;
                im += x[2 * j] * wi + x[2 * j + 1] * wr;
                m += k;
                if (m >= n)
                    m -= n;
            }
            y[2 * k] = re;
            y[2 * k + 1] = im;
        }
        memcpy(x, y, (size_t)n * 2 * sizeof(double));
    }
    if (p->inverse)
        for (int64_t i = 0; i < 2 * n; i++)
            x[i] /= (double)n;
}

/* A scalar integer input (shape [] or [1]). */
static skiff_status_t *int_scalar(const skiff__kctx *ctx, int i, const char *name, int64_t *v)
{
    const skiff_tensor_t *t;
    skiff_status_t *st = skiff__kctx_input(ctx, i, name, &t);
    if (st)
        return st;
    if (t->dtype != SKIFF_DTYPE_INT32 && t->dtype != SKIFF_DTYPE_INT64)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected int32 or int64, got %s", name,
                           skiff_dtype_name(t->dtype));
    if (skiff_tensor_numel(t) != 1 || t->ndim > 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected a scalar, got %d dims", name, t->ndim);
    *v = skiff__tensor_get_i64(t, 0);
    return NULL;
}

/* ==== DFT ======================================================================= */

static skiff_status_t *run_dft(skiff__kctx *ctx)
{
    const skiff_tensor_t *X;
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "input", &X)))
        return st;
    char a[64];
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "input", X->dtype);
    const int rank = X->ndim;
    if (rank < 2 || (X->dims[rank - 1] != 1 && X->dims[rank - 1] != 2))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'input': expected [batch, signal dims..., 1 or 2], got %s",
                           skiff_shape_str(rank, X->dims, a, sizeof(a)));
    const int64_t comps = X->dims[rank - 1];
    int64_t onesided = skiff__attr_int(ctx->node, "onesided", 0);
    int64_t inverse = skiff__attr_int(ctx->node, "inverse", 0);
    int64_t axis_attr = skiff__attr_int(ctx->node, "axis", 1);
    int axis;
    if ((onesided != 0 && onesided != 1) || (inverse != 0 && inverse != 1))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attributes 'onesided', 'inverse': expected 0 or 1, got %lld, %lld",
                           (long long)onesided, (long long)inverse);
    if (onesided && inverse)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attributes 'onesided' and 'inverse' cannot both be 1");
    if (onesided && comps == 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'onesided': a complex input has no one-sided transform");
    if (!skiff__norm_axis(axis_attr, rank, &axis) || axis == rank - 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'axis': %lld is not a signal axis of input %s",
                           (long long)axis_attr, skiff_shape_str(rank, X->dims, a, sizeof(a)));
    const int64_t L = X->dims[axis];
    int64_t n = L;
    if (skiff__kctx_opt(ctx, 1) && (st = int_scalar(ctx, 1, "dft_length", &n)))
        return st;
    if (n < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'dft_length': expected >= 1, got %lld", (long long)n);
    const int64_t nout = onesided ? n / 2 + 1 : n;
    int64_t od[SKIFF_MAX_DIMS];
    memcpy(od, X->dims, sizeof(int64_t) * (size_t)rank);
    od[axis] = nout;
    od[rank - 1] = 2;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= X->dims[i];
    for (int i = axis + 1; i < rank - 1; i++)
        inner *= X->dims[i];
    double per = (n & (n - 1)) == 0 ? (double)n * log2((double)n + 1.0) : (double)n * (double)n;
    if ((st = skiff__kctx_cost(ctx, (double)outer * (double)inner * per * 4.0)))
        return st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, rank, od, &st);
    if (!Y)
        return st;
    if (skiff_tensor_numel(Y) == 0)
        return NULL;
    double *mem = skiff__kctx_scratch(ctx, fft_bytes(n));
    if (!mem)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory for a %lld-point DFT",
                           (long long)n);
    fft_plan p;
    fft_init(&p, n, inverse != 0, mem);
    double *line = mem + 4 * n;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            for (int64_t j = 0; j < n; j++) {
                int64_t src = ((o * L + j) * inner + i) * comps;
                line[2 * j] = j < L ? skiff__tensor_get_f64(X, src) : 0.0;
                line[2 * j + 1] = j < L && comps == 2 ? skiff__tensor_get_f64(X, src + 1) : 0.0;
            }
            fft_run(&p, line);
            for (int64_t k = 0; k < nout; k++) {
                int64_t dst = ((o * nout + k) * inner + i) * 2;
                skiff__store_f64(Y->data, Y->dtype, dst, line[2 * k]);
                skiff__store_f64(Y->data, Y->dtype, dst + 1, line[2 * k + 1]);
            }
        }
    }
    return NULL;
}

/* ==== STFT ====================================================================== */

static skiff_status_t *stft_sizes(const skiff__kctx *ctx, const skiff_tensor_t *X,
                                  const skiff_tensor_t *win, int64_t *step, int64_t *len)
{
    skiff_status_t *st;
    char a[64];
    if ((st = int_scalar(ctx, 1, "frame_step", step)))
        return st;
    if (*step < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'frame_step': expected >= 1, got %lld", (long long)*step);
    *len = -1;
    if (skiff__kctx_opt(ctx, 3) && (st = int_scalar(ctx, 3, "frame_length", len)))
        return st;
    if (win) {
        if (!skiff__dtype_is_float(win->dtype) || win->ndim != 1)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'window': expected a 1-D float tensor, got %s %s",
                               skiff_dtype_name(win->dtype),
                               skiff_shape_str(win->ndim, win->dims, a, sizeof(a)));
        if (*len >= 0 && *len != win->dims[0])
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'window': %lld values, but frame_length is %lld",
                               (long long)win->dims[0], (long long)*len);
        *len = win->dims[0];
    }
    if (*len < 0)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "one of inputs 'window' and 'frame_length' is required");
    if (*len < 1 || *len > X->dims[1])
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "frame length %lld: expected 1..%lld (the signal's length)",
                           (long long)*len, (long long)X->dims[1]);
    return NULL;
}

static skiff_status_t *run_stft(skiff__kctx *ctx)
{
    const skiff_tensor_t *X;
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "signal", &X)))
        return st;
    char a[64];
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "signal", X->dtype);
    if (X->ndim != 3 || (X->dims[2] != 1 && X->dims[2] != 2))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'signal': expected [batch, length, 1 or 2], got %s",
                           skiff_shape_str(X->ndim, X->dims, a, sizeof(a)));
    const int64_t comps = X->dims[2];
    int64_t onesided = skiff__attr_int(ctx->node, "onesided", 1);
    if (onesided != 0 && onesided != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'onesided': expected 0 or 1, got %lld", (long long)onesided);
    const skiff_tensor_t *win = skiff__kctx_opt(ctx, 2);
    if (onesided && (comps == 2 || (win && win->ndim == 2)))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'onesided': a complex signal has no one-sided transform");
    int64_t step = 0, n = 0;
    if ((st = stft_sizes(ctx, X, win, &step, &n)))
        return st;
    const int64_t B = X->dims[0], L = X->dims[1];
    const int64_t frames = (L - n) / step + 1, bins = onesided ? n / 2 + 1 : n;
    int64_t od[4] = {B, frames, bins, 2};
    double per = (n & (n - 1)) == 0 ? (double)n * log2((double)n + 1.0) : (double)n * (double)n;
    if ((st = skiff__kctx_cost(ctx, (double)B * (double)frames * per * 4.0)))
        return st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, X->dtype, 4, od, &st);
    if (!Y)
        return st;
    if (skiff_tensor_numel(Y) == 0)
        return NULL;
    double *mem = skiff__kctx_scratch(ctx, fft_bytes(n));
    if (!mem)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                           "out of memory for a %lld-point transform", (long long)n);
    fft_plan p;
    fft_init(&p, n, false, mem);
    double *line = mem + 4 * n;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t f = 0; f < frames; f++) {
            for (int64_t j = 0; j < n; j++) {
                int64_t src = (b * L + f * step + j) * comps;
                double w = win ? skiff__tensor_get_f64(win, j) : 1.0;
                line[2 * j] = w * skiff__tensor_get_f64(X, src);
                line[2 * j + 1] = comps == 2 ? w * skiff__tensor_get_f64(X, src + 1) : 0.0;
            }
            fft_run(&p, line);
            for (int64_t k = 0; k < bins; k++) {
                int64_t dst = ((b * frames + f) * bins + k) * 2;
                skiff__store_f64(Y->data, Y->dtype, dst, line[2 * k]);
                skiff__store_f64(Y->data, Y->dtype, dst + 1, line[2 * k + 1]);
            }
        }
    }
    return NULL;
}

/* ==== windows and MelWeightMatrix ================================================ */

/* output_datatype: any numeric type; values convert as Cast does
 * (towards zero for integers). */
static skiff_status_t *out_dtype(const skiff__kctx *ctx, skiff_dtype_t *dt)
{
    int64_t v = skiff__attr_int(ctx->node, "output_datatype", SKIFF_DTYPE_FLOAT32);
    *dt = (skiff_dtype_t)v;
    if (v < 0 || v > 64 || !skiff__dtype_is_numeric(*dt))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'output_datatype': %lld is not a numeric type", (long long)v);
    return NULL;
}

static void store_cast(skiff_tensor_t *y, int64_t i, double v)
{
    skiff__store_f64(y->data, y->dtype, i, skiff__dtype_is_float(y->dtype) ? v : trunc(v));
}

/* a0 - a1 cos(2 pi k / N) + a2 cos(4 pi k / N), N = size (periodic) or
 * size - 1 (symmetric; a window of one point is 1). Evaluated in float32
 * step by step as the operator's function body defines it (angle = k *
 * (tau / N)), so an integer output_datatype truncates the same values. */
static skiff_status_t *cosine_window(skiff__kctx *ctx, float a0, float a1, float a2)
{
    int64_t size = 0;
    skiff_dtype_t dt = SKIFF_DTYPE_FLOAT32;
    skiff_status_t *st;
    if ((st = int_scalar(ctx, 0, "size", &size)) || (st = out_dtype(ctx, &dt)))
        return st;
    if (size < 0 || size > ((int64_t)1 << 32))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'size': expected 0..2^32, got %lld",
                           (long long)size);
    int64_t periodic = skiff__attr_int(ctx->node, "periodic", 1);
    if (periodic != 0 && periodic != 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'periodic': expected 0 or 1, got %lld", (long long)periodic);
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, dt, 1, &size, &st);
    if (!Y)
        return st;
    const float N = periodic ? (float)size : (float)(size - 1);
    const float inc = 6.2831853f / N;
    for (int64_t k = 0; k < size; k++) {
        float v = 1.0f;
        if (N > 0.0f) {
            float t = (float)k * inc;
            float c1 = cosf(t), c2 = cosf(t * 2.0f);
            float t0 = a0 - a1 * c1;
            v = t0 + a2 * c2;
        }
        store_cast(Y, k, v);
    }
    return NULL;
}

static skiff_status_t *run_hann(skiff__kctx *ctx) { return cosine_window(ctx, 0.5f, 0.5f, 0.0f); }
static skiff_status_t *run_hamming(skiff__kctx *ctx)
{
    return cosine_window(ctx, 0.54347826087f, 0.45652173913f, 0.0f);
}
static skiff_status_t *run_blackman(skiff__kctx *ctx)
{
    return cosine_window(ctx, 0.42f, 0.5f, 0.08f);
}

static skiff_status_t *float_scalar(const skiff__kctx *ctx, int i, const char *name, double *v)
{
    const skiff_tensor_t *t;
    skiff_status_t *st = skiff__kctx_input(ctx, i, name, &t);
    if (st)
        return st;
    if (!skiff__dtype_is_float(t->dtype) || skiff_tensor_numel(t) != 1 || t->ndim > 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input '%s': expected a float scalar, got %s of %lld elements", name,
                           skiff_dtype_name(t->dtype), (long long)skiff_tensor_numel(t));
    *v = skiff__tensor_get_f64(t, 0);
    return NULL;
}

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

/* Triangular filters with peak 1 between num_mel_bins + 2 points equally
 * spaced in mel over [lower, upper], each point placed on spectrogram bin
 * floor((dft_length + 1) * f / sample_rate). */
static skiff_status_t *run_melweight(skiff__kctx *ctx)
{
    int64_t mels = 0, dftlen = 0, rate = 0;
    double lo = 0.0, hi = 0.0;
    skiff_dtype_t dt = SKIFF_DTYPE_FLOAT32;
    skiff_status_t *st;
    if ((st = int_scalar(ctx, 0, "num_mel_bins", &mels)) ||
        (st = int_scalar(ctx, 1, "dft_length", &dftlen)) ||
        (st = int_scalar(ctx, 2, "sample_rate", &rate)) ||
        (st = float_scalar(ctx, 3, "lower_edge_hertz", &lo)) ||
        (st = float_scalar(ctx, 4, "upper_edge_hertz", &hi)) || (st = out_dtype(ctx, &dt)))
        return st;
    if (mels < 1 || mels > (1 << 20) || dftlen < 1 || dftlen > ((int64_t)1 << 30) || rate < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "inputs 'num_mel_bins' %lld, 'dft_length' %lld, 'sample_rate' %lld: "
                           "expected each >= 1 (and mel bins <= 2^20, length <= 2^30)",
                           (long long)mels, (long long)dftlen, (long long)rate);
    if (!(lo >= 0.0) || !(hi > lo) || !(hi <= (double)rate))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "inputs 'lower_edge_hertz' %g, 'upper_edge_hertz' %g: expected 0 <= "
                           "lower < upper <= sample_rate %lld",
                           lo, hi, (long long)rate);
    const int64_t bins = dftlen / 2 + 1;
    if ((st = skiff__kctx_cost(ctx, (double)bins * (double)mels)))
        return st;
    int64_t od[2] = {bins, mels};
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, dt, 2, od, &st);
    if (!Y)
        return st;
    int64_t *pt = skiff__kctx_scratch(ctx, (size_t)(mels + 2) * sizeof(int64_t));
    if (!pt)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    double mlo = hz_to_mel(lo), step = (hz_to_mel(hi) - mlo) / (double)(mels + 2);
    for (int64_t i = 0; i < mels + 2; i++) {
        double f = mel_to_hz((double)i * step + mlo);
        int64_t b = (int64_t)floor((double)(dftlen + 1) * f / (double)rate);
        pt[i] = b < 0 ? 0 : b >= bins ? bins - 1 : b;
    }
    for (int64_t i = 0; i < bins * mels; i++)
        store_cast(Y, i, 0.0);
    for (int64_t m = 0; m < mels; m++) {
        int64_t l = pt[m], c = pt[m + 1], r = pt[m + 2];
        if (c == l)
            store_cast(Y, c * mels + m, 1.0);
        else
            for (int64_t j = l; j <= c; j++)
                store_cast(Y, j * mels + m, (double)(j - l) / (double)(c - l));
        for (int64_t j = c; j < r; j++)
            store_cast(Y, j * mels + m, (double)(r - j) / (double)(r - c));
    }
    return NULL;
}

const skiff__op skiff__ops_signal[] = {
    {.type = "DFT", .min_opset = 17, .run = run_dft},
    {.type = "STFT", .min_opset = 17, .run = run_stft},
    {.type = "HannWindow", .min_opset = 17, .run = run_hann},
    {.type = "HammingWindow", .min_opset = 17, .run = run_hamming},
    {.type = "BlackmanWindow", .min_opset = 17, .run = run_blackman},
    {.type = "MelWeightMatrix", .min_opset = 17, .run = run_melweight},
    {.type = NULL},
};
