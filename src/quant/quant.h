/* quant.h - post-training static quantization (`skiff quantize`): the
 * activation range collectors of calibration (calib.c) and the rewriting of
 * an ONNX model into ONNX Runtime's QDQ form (qdq.c, with the opset
 * conversions of opset.c). docs/precision.md, "Calibration", is the user's
 * description; this header is the reference for the code.
 *
 * The flow: skiff__qdq_open decodes the model and picks the nodes to
 * quantize; skiff__qdq_calib_model gives the same model with every
 * activation to calibrate added as a graph output; the caller runs it on the
 * calibration samples and feeds each such output to its skiff__calib
 * (twice for the histogram methods: ranges first, then histograms over
 * them); skiff__qdq_write turns the ranges into the QDQ model.
 *
 * Threads: every object here is used by one thread at a time. */
#ifndef SKIFF_QUANT_H
#define SKIFF_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ---- calibration ---------------------------------------------------------- */

typedef enum skiff__calib_method {
    SKIFF__CALIB_MINMAX = 0,     /* the smallest and largest value seen */
    SKIFF__CALIB_PERCENTILE = 1, /* the central `percentile` % of the values */
    SKIFF__CALIB_ENTROPY = 2,    /* the |x| threshold of least KL divergence */
} skiff__calib_method;

/* "minmax", "percentile", "entropy"; false for anything else. */
bool skiff__calib_method_parse(const char *s, skiff__calib_method *out);
const char *skiff__calib_method_name(skiff__calib_method m);

/* Histogram bins of the percentile and entropy methods. */
#define SKIFF__CALIB_BINS 2048

/* One activation tensor's statistics. Non-finite values are counted apart
 * and otherwise ignored. */
typedef struct skiff__calib {
    double min, max; /* of every finite value observed (pass 1) */
    uint64_t count;  /* finite values observed in pass 1 */
    uint64_t nonfinite;
    uint64_t *hist; /* SKIFF__CALIB_BINS bins over [0, hist_hi] of |x| (pass 2) */
    double hist_hi;
} skiff__calib;

void skiff__calib_init(skiff__calib *c);
void skiff__calib_free(skiff__calib *c); /* the histogram; the struct is the caller's */
/* Pass 1: widens [min, max]. */
void skiff__calib_observe(skiff__calib *c, const float *x, size_t n);
/* Pass 2 (percentile, entropy): allocates the histogram over the range of
 * pass 1; then each sample's values are added. */
skiff_status_t *skiff__calib_hist_begin(skiff__calib *c);
void skiff__calib_hist_add(skiff__calib *c, const float *x, size_t n);

/* The range to quantize to, always holding 0: minmax gives [min, max];
 * percentile clips |x| at the `percentile` quantile (0 < percentile <= 100)
 * of the histogram; entropy clips |x| at the threshold whose 128-level (a
 * tensor with negative values) or 255-level (non-negative) quantization of
 * the histogram is closest to it in KL divergence (TensorRT's method), but
 * never below the 99.9th percentile. Exact zeros are not in the histogram.
 * The clipped side never reaches past pass 1's range. */
void skiff__calib_range(const skiff__calib *c, skiff__calib_method m, double percentile,
                        float *out_lo, float *out_hi);

/* uint8 asymmetric parameters of [lo, hi] (widened to hold 0): scale =
 * (hi - lo) / 255, zero point round(-lo / scale); scale 1, zero point 0 for
 * an empty range. */
void skiff__quant_params_u8(float lo, float hi, float *out_scale, uint8_t *out_zero_point);

/* ---- the QDQ rewrite ------------------------------------------------------- */

typedef struct skiff__qdq_opts {
    /* int8 weights per output channel (true) or one scale per tensor. */
    bool per_channel;
    /* weights in [-63, 63] instead of [-127, 127]: room for CPUs without
     * VNNI, whose u8 x s8 pair sums saturate at 16 bits (ORT's reduce_range) */
    bool reduce_range;
    /* the first and the last quantizable node (in the model's node order)
     * stay float32 */
    bool keep_first_last;
    /* also quantize each quantized node's output (or, where a Relu or Clip
     * is its only reader, that activation's output) for every reader: the
     * layout ONNX Runtime fuses into QLinearConv / QLinearMatMul */
    bool quantize_outputs;
    /* comma-separated node names (or their first output's name) that stay
     * float32; borrowed; NULL for none */
    const char *exclude;
} skiff__qdq_opts;

typedef struct skiff__qdq skiff__qdq;

/* Decodes an ONNX model (borrowed for the call) and plans the rewrite:
 * which Conv, MatMul and Gemm nodes are quantized, which activations they
 * read, and which nodes with weights stay float32 and why. A model older
 * than opset 13 is converted to opset 13 where its operators allow (the
 * per-channel DequantizeLinear needs 13), else its weights are quantized
 * per tensor. Errors: INVALID_ARG for a file that is not an ONNX model, an
 * --exclude name that is no node. Caller owns *out. */
skiff_status_t *skiff__qdq_open(const void *data, size_t size, const skiff__qdq_opts *opts,
                                skiff__qdq **out);
void skiff__qdq_free(skiff__qdq *q); /* accepts NULL */

/* The activations to calibrate (float32 tensor names), in the order
 * skiff__qdq_write takes their ranges. Borrowed from q. */
int skiff__qdq_tensor_count(const skiff__qdq *q);
const char *skiff__qdq_tensor(const skiff__qdq *q, int i);

/* Quantized nodes, and the notes: one line per node with weights that stays
 * float32 (naming it, its op and why), and one per conversion made (opset,
 * per-tensor fallback). Borrowed from q. */
int skiff__qdq_quantized_count(const skiff__qdq *q);
const char *skiff__qdq_quantized(const skiff__qdq *q, int i); /* node name */
int skiff__qdq_note_count(const skiff__qdq *q);
const char *skiff__qdq_note(const skiff__qdq *q, int i);
/* The opset of the written model's default domain. */
int skiff__qdq_opset(const skiff__qdq *q);

/* The model (converted to the written opset) with every activation to
 * calibrate also a graph output. *out is the caller's (skiff__free). */
skiff_status_t *skiff__qdq_calib_model(skiff__qdq *q, uint8_t **out, size_t *out_size);

/* The QDQ model: lo[i], hi[i] is the range of skiff__qdq_tensor(q, i). *out
 * is the caller's (skiff__free). */
skiff_status_t *skiff__qdq_write(skiff__qdq *q, const float *lo, const float *hi, uint8_t **out,
                                 size_t *out_size);

#endif
