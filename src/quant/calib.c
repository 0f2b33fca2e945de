/* calib.c - activation ranges for static quantization.
 *
 * Every method starts from the smallest and largest value a tensor took over
 * the calibration samples. minmax stops there: no value is ever clipped,
 * which costs resolution when a few values lie far out. The two histogram
 * methods clip |x| at a threshold found on a histogram of |x| over
 * [0, max |x|] with SKIFF__CALIB_BINS bins, filled in a second pass over the
 * samples (the bins need the range first): percentile takes the quantile,
 * entropy the threshold whose quantized histogram is closest to the whole one
 * in KL divergence (TensorRT's calibrator): for each candidate i (levels to
 * bins), the reference P is the first i bins with every count past them
 * added to the last, Q is the first i bins merged into `levels` groups and
 * spread back evenly over each group's non-empty bins. One histogram of |x|
 * serves both signs: a tensor that takes negative values is quantized to 255
 * levels across [-T, T], 128 on each side, a non-negative one to 255 levels
 * in [0, T]. */
#include <math.h>
#include <string.h>

#include "quant.h"

/* The share of |x| (in %) the entropy method always keeps unclipped. */
#define SKIFF__CALIB_ENTROPY_KEEP 99.9

static const char *const method_names[] = {"minmax", "percentile", "entropy"};

bool skiff__calib_method_parse(const char *s, skiff__calib_method *out)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, method_names[i])) {
            *out = (skiff__calib_method)i;
            return true;
        }
    return false;
}

const char *skiff__calib_method_name(skiff__calib_method m)
{
    return (unsigned)m < 3 ? method_names[m] : "unknown";
}

void skiff__calib_init(skiff__calib *c)
{
    memset(c, 0, sizeof(*c));
    c->min = INFINITY;
    c->max = -INFINITY;
}

void skiff__calib_free(skiff__calib *c)
{
    if (c) {
        skiff__free(c->hist);
        c->hist = NULL;
    }
}

void skiff__calib_observe(skiff__calib *c, const float *x, size_t n)
{
    float lo = INFINITY, hi = -INFINITY;
    uint64_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v)) {
            bad++;
            continue;
        }
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    c->nonfinite += bad;
    c->count += n - bad;
    if (lo < c->min)
        c->min = lo;
    if (hi > c->max)
        c->max = hi;
}

skiff_status_t *skiff__calib_hist_begin(skiff__calib *c)
{
    skiff__free(c->hist);
    c->hist = skiff__calloc(SKIFF__CALIB_BINS, sizeof(uint64_t));
    if (!c->hist)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory for a histogram");
    double a = c->count ? fmax(fabs(c->min), fabs(c->max)) : 0;
    c->hist_hi = a > 0 ? a : 1;
    return NULL;
}

void skiff__calib_hist_add(skiff__calib *c, const float *x, size_t n)
{
    const double k = SKIFF__CALIB_BINS / c->hist_hi;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v) || v == 0)
            continue;
        double b = fabs((double)v) * k;
        size_t bin = b >= SKIFF__CALIB_BINS ? SKIFF__CALIB_BINS - 1 : (size_t)b;
        c->hist[bin]++;
    }
}

/* The smallest threshold under which at least `percentile` % of |x| lies:
 * the upper edge of the bin where the running count reaches it. */
static double percentile_threshold(const skiff__calib *c, double percentile)
{
    uint64_t total = 0;
    for (int i = 0; i < SKIFF__CALIB_BINS; i++)
        total += c->hist[i];
    double want = (double)total * percentile / 100.0, run = 0;
    for (int i = 0; i < SKIFF__CALIB_BINS; i++) {
        run += (double)c->hist[i];
        if (run >= want)
            return c->hist_hi * (i + 1) / SKIFF__CALIB_BINS;
    }
    return c->hist_hi;
}

/* Moves a little mass onto the empty bins of a distribution (normalised to
 * sum 1), so that KL(P || Q) stays finite where Q is empty and P is not. */
static void smooth(double *d, int n)
{
    const double eps = 1e-4;
    int zeros = 0;
    for (int i = 0; i < n; i++)
        zeros += d[i] == 0;
    if (zeros == 0 || zeros == n)
        return;
    double take = eps * zeros / (n - zeros);
    for (int i = 0; i < n; i++)
        d[i] = d[i] == 0 ? eps : d[i] - take;
}

static double entropy_threshold(const skiff__calib *c, int levels, double *p, double *q)
{
    const uint64_t *h = c->hist;
    const int nb = SKIFF__CALIB_BINS;
    double best_kl = INFINITY;
    int best = nb;
    double tail = 0; /* counts past bin i - 1 */
    for (int i = 0; i < nb; i++)
        tail += (double)h[i];
    for (int i = 0; i < levels && i < nb; i++)
        tail -= (double)h[i];
    for (int i = levels; i <= nb; i++) {
        if (i > levels)
            tail -= (double)h[i - 1];
        double psum = 0;
        for (int k = 0; k < i; k++) {
            p[k] = (double)h[k];
            psum += p[k];
        }
        p[i - 1] += tail;
        psum += tail;
        if (psum <= 0)
            continue;
        /* Q: the i bins in `levels` groups, each group's count spread over
         * its non-empty bins */
        double qsum = 0;
        for (int g = 0; g < levels; g++) {
            int a = (int)((int64_t)g * i / levels), b = (int)((int64_t)(g + 1) * i / levels);
            double sum = 0;
            int nonzero = 0;
            for (int k = a; k < b; k++) {
                sum += (double)h[k];
                nonzero += h[k] != 0;
            }
            for (int k = a; k < b; k++)
                q[k] = h[k] != 0 ? sum / nonzero : 0;
            qsum += sum;
        }
        if (qsum <= 0)
            continue;
        for (int k = 0; k < i; k++) {
            p[k] /= psum;
            q[k] /= qsum;
        }
        smooth(p, i);
        smooth(q, i);
        double kl = 0;
        for (int k = 0; k < i; k++)
            if (p[k] > 0 && q[k] > 0)
                kl += p[k] * log(p[k] / q[k]);
        if (kl < best_kl) {
            best_kl = kl;
            best = i;
        }
    }
    return c->hist_hi * best / nb;
}

void skiff__calib_range(const skiff__calib *c, skiff__calib_method m, double percentile,
                        float *out_lo, float *out_hi)
{
    if (c->count == 0) {
        *out_lo = *out_hi = 0;
        return;
    }
    double lo = c->min, hi = c->max;
    if (m != SKIFF__CALIB_MINMAX && c->hist) {
        double t;
        if (m == SKIFF__CALIB_PERCENTILE) {
            t = percentile_threshold(c, percentile);
        } else {
            /* two work rows of SKIFF__CALIB_BINS doubles, on the stack:
             * 32 KiB */
            double p[SKIFF__CALIB_BINS], q[SKIFF__CALIB_BINS];
            t = entropy_threshold(c, lo < 0 ? 128 : 255, p, q);
            /* floor: the KL criterion, fitted on a few samples' sparse
             * histograms, clipped half of some tensors' values (all of a
             * tensor lying away from 0); it may clip 0.1% at most */
            double floor_t = percentile_threshold(c, SKIFF__CALIB_ENTROPY_KEEP);
            t = t < floor_t ? floor_t : t;
        }
        lo = lo < -t ? -t : lo;
        hi = hi > t ? t : hi;
    }
    *out_lo = (float)(lo < 0 ? lo : 0);
    *out_hi = (float)(hi > 0 ? hi : 0);
}

void skiff__quant_params_u8(float lo, float hi, float *out_scale, uint8_t *out_zero_point)
{
    lo = lo < 0 ? lo : 0;
    hi = hi > 0 ? hi : 0;
    float scale = (hi - lo) / 255.0f;
    if (!(scale > 0) || !isfinite(scale)) {
        *out_scale = 1;
        *out_zero_point = 0;
        return;
    }
    float zp = nearbyintf(-lo / scale);
    *out_scale = scale;
    *out_zero_point = (uint8_t)(zp < 0 ? 0 : zp > 255 ? 255 : zp);
}
