/* conv_int.h - the convolution attribute and shape rules conv.c (Conv,
 * ConvTranspose) shares with quant_conv.c (ConvInteger, QLinearConv), so
 * pads, strides, dilations, group and auto_pad mean the same in both. */
#ifndef SKIFF_CONV_INT_H
#define SKIFF_CONV_INT_H

#include "../../engine_int.h"

#define CONV_MAX_SP 3 /* oneDNN: 1D, 2D and 3D convolutions */

typedef enum { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID } auto_pad_t;

typedef struct conv_attrs {
    int nsp;
    int64_t group;
    int64_t k[CONV_MAX_SP], s[CONV_MAX_SP], d[CONV_MAX_SP];
    int64_t pb[CONV_MAX_SP], pe[CONV_MAX_SP];
    int64_t out_pad[CONV_MAX_SP], out_shape[CONV_MAX_SP];
    bool has_k, has_out_shape;
    auto_pad_t auto_pad;
} conv_attrs;

/* Reads group, auto_pad, kernel_shape, strides, dilations, pads (and for
 * ConvTranspose output_padding, output_shape) of a node with nsp spatial
 * dims into *a; an error naming the attribute when one is malformed. */
skiff_status_t *skiff__conv_parse_attrs(const skiff__node *node, int nsp, bool transpose,
                                        conv_attrs *a);

/* Checks the weight W (named wname in messages) against C input channels
 * and the group, sets *M, the output channels, and fills a->k from W's
 * spatial dims (an error when kernel_shape says otherwise). */
skiff_status_t *skiff__conv_weight_shape(const skiff__kctx *ctx, const char *wname,
                                         const skiff_tensor_t *W, int64_t C, bool transpose,
                                         conv_attrs *a, int64_t *M);

/* The output's spatial dims (yd[2..]) and the effective pads in a->pb/pe;
 * for ConvTranspose also the uncropped size in full[] and *crop when the
 * pads cut into it. *degenerate when a dim is empty. a->k must hold the
 * kernel's spatial dims. */
skiff_status_t *skiff__conv_out_shape(const skiff__kctx *ctx, const skiff_tensor_t *X,
                                      bool transpose, conv_attrs *a, int64_t *yd, int64_t *full,
                                      bool *degenerate, bool *crop);

/* ---- int8 convolutions on oneDNN (conv.c) ----
 * QLinearConv whose scales, zero points, weights and bias are constants,
 * with int8 weights of zero zero point, runs on oneDNN's int8 kernels;
 * skiff__qlinear_conv_prepare leaves node->prep NULL otherwise (then the
 * reference kernel in quant_conv.c runs it). */
skiff_status_t *skiff__qlinear_conv_prepare(skiff__node *node, const skiff__graph *graph);
bool skiff__conv_q_ready(const skiff__node *node);
skiff_status_t *skiff__conv_q_run(skiff__kctx *ctx);
void skiff__conv_prep_free(void *prep);
size_t skiff__conv_prep_bytes(void *prep, size_t *out_source);

#endif
