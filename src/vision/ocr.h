/* ocr.h - the OCR and classification post-processing steps (ocr.c): label
 * files, CTC greedy decoding, top-k, NMS, box ordering and filtering, the
 * recogniser's resize, the classifier's rotation. Any thread; no state. */
#ifndef SKIFF_VISION_OCR_H
#define SKIFF_VISION_OCR_H

#include "../core/core.h"

/* Lines of a label or dictionary file. */
typedef struct skiff__labels {
    char **s;
    int64_t n;
    char *mem;
} skiff__labels;

/* Reads a file of one label per line (CR LF or LF; a last line without a
 * newline counts). blank_first / space_last add "" at the front and " " at
 * the end, as PaddleOCR's CTC decoder does. Caller frees with
 * skiff__labels_free. */
skiff_status_t *skiff__labels_read(const char *path, bool blank_first, bool space_last,
                                   skiff__labels **out);
void skiff__labels_free(skiff__labels *l);

/* probs: [T, C] or [N, T, C] float32. Greedy CTC: argmax per step, repeats
 * merged, index 0 (blank) dropped; score = mean of the kept maxima (0 when
 * none). out_text: string [N]; out_score: float32 [N]. */
skiff_status_t *skiff__ocr_ctc_decode(const skiff_tensor_t *probs, const skiff__labels *dict,
                                      skiff_tensor_t **out_text, skiff_tensor_t **out_score);

/* x: [C] or [N, C]; k best per row (ties: lower index first), after a
 * softmax when softmax is set. out_idx int64 [N, k], out_score float32
 * [N, k], out_label string [N, k] when labels is not NULL. */
skiff_status_t *skiff__ocr_topk(const skiff_tensor_t *x, int64_t k, bool softmax,
                                const skiff__labels *labels, skiff_tensor_t **out_idx,
                                skiff_tensor_t **out_score, skiff_tensor_t **out_label);

/* boxes [N, 4] (x1, y1, x2, y2), scores [N]: greedy NMS by descending score
 * (stable), dropping scores < score_thr and IoU > iou_thr. out: int64 [K]. */
skiff_status_t *skiff__ocr_nms(const skiff_tensor_t *boxes, const skiff_tensor_t *scores,
                               double iou_thr, double score_thr, int64_t max_out,
                               skiff_tensor_t **out);

/* boxes [N, 4, 2] float32 -> reading order (PaddleOCR's sorted_boxes). */
skiff_status_t *skiff__ocr_sort_boxes(const skiff_tensor_t *boxes, skiff_tensor_t **out);

/* PaddleOCR's filter_tag_det_res: order each box's points clockwise from
 * top-left, clip to the image (h, w), drop boxes with a side <= 3. */
skiff_status_t *skiff__ocr_filter_boxes(const skiff_tensor_t *boxes, int64_t h, int64_t w,
                                        skiff_tensor_t **out);

/* The recogniser's resize_norm_img: height img_h, width img_h * max(ratio,
 * w/h) (rounded up to a multiple of mult when mult > 1) capped at max_w,
 * right padding with 0, values to [-1, 1]. HWC uint8 in, CHW float32 out. */
skiff_status_t *skiff__ocr_rec_resize(const skiff_tensor_t *img, int64_t img_h, int64_t img_w,
                                      int64_t max_w, int64_t mult, skiff_tensor_t **out);

/* The same for a batch of crops as GetRotateCropImage gives them: crops
 * [N, H, W, C] uint8 or float32, crop i in crops[i, :sizes[i][0],
 * :sizes[i][1]] (sizes int64 [N, 2]). All crops are padded to one width:
 * img_h * max(img_w / img_h, the widest crop's w / h), capped at max_w, as
 * PaddleOCR pads the crops of one recogniser batch. out: float32 [N, C,
 * img_h, W]. */
skiff_status_t *skiff__ocr_rec_resize_batch(const skiff_tensor_t *crops,
                                            const skiff_tensor_t *sizes, int64_t img_h,
                                            int64_t img_w, int64_t max_w, int64_t mult,
                                            skiff_tensor_t **out);

/* 180-degree rotation of an HWC image. */
skiff_status_t *skiff__ocr_rotate180(const skiff_tensor_t *img, skiff_tensor_t **out);

/* The classifier's rotation for a batch of crops (as
 * skiff__ocr_rec_resize_batch takes them) with probs float32 [N, 2] ("0",
 * "180"): crop i is turned 180 degrees within its size when probs[i][1] >
 * probs[i][0] and > thresh. out: a new batch of the same shape. */
skiff_status_t *skiff__ocr_rotate180_batch(const skiff_tensor_t *crops, const skiff_tensor_t *sizes,
                                           const skiff_tensor_t *probs, double thresh,
                                           skiff_tensor_t **out);

/* PaddleOCR's DBPostProcess parameters (score_mode slow when slow;
 * unclip_integer: the unclip on corners truncated to integers, as
 * PaddleOCR's pyclipper call). */
typedef struct skiff__db_params {
    double thresh, box_thresh, unclip_ratio;
    int64_t max_candidates, min_size;
    bool use_dilation, slow, unclip_integer;
} skiff__db_params;

/* PaddleOCR's DBPostProcess (box_type quad) on prob, float32 [1,1,H,W] (or
 * [1,H,W], [H,W]), with shape float32 [4] = [src_h, src_w, ratio_h,
 * ratio_w]. out_boxes: float32 [N,4,2] in source pixels (top-left,
 * top-right, bottom-right, bottom-left); out_scores: float32 [N]. NaN
 * probabilities are INVALID_ARG. Caller owns both outputs. */
skiff_status_t *skiff__ocr_db_postprocess(const skiff_tensor_t *prob, const skiff_tensor_t *shape,
                                          const skiff__db_params *prm, skiff_tensor_t **out_boxes,
                                          skiff_tensor_t **out_scores);

/* PaddleOCR's get_rotate_crop_image for each of boxes, float32 [N,4,2], on
 * img, uint8 HWC (1 to 4 channels): perspective warp (cubic, replicated
 * border) to int(max side) x int(max side), rotated 90 degrees
 * counter-clockwise when height/width >= 1.5. out_crops: uint8 [N, maxH,
 * maxW, C], each crop at the top-left, zeros elsewhere; out_sizes: int64
 * [N, 2] (height, width) of each crop. Points more than 1 pixel outside the
 * image, non-finite points and boxes under 1 pixel are INVALID_ARG. margin
 * (pixels, >= 0) widens each box on all four sides along its own edges
 * before the crop, the points then clipped to the image. */
skiff_status_t *skiff__ocr_rotate_crop(const skiff_tensor_t *img, const skiff_tensor_t *boxes,
                                       double margin, skiff_tensor_t **out_crops,
                                       skiff_tensor_t **out_sizes);

/* MergeLines' parameters: boxes scoring under drop_score (or read as blank)
 * are left out; a box joins a line when their vertical extents overlap by at
 * least overlap of the lower height; sep goes between joined texts (borrowed
 * for the call); cls_thresh decides, with classifier probabilities, which
 * boxes were turned 180 degrees. */
typedef struct skiff__line_params {
    double drop_score, overlap, cls_thresh;
    const char *sep;
} skiff__line_params;

/* The boxes of one text line joined in reading order. boxes float32
 * [N,4,2] (any order), texts string [N], scores float32 [N], cls NULL or
 * float32 [N,2] ("0", "180": lines most of whose boxes were turned read
 * right to left, and a page most of whose boxes were turned, bottom to top).
 * Lines go top to bottom by their boxes' vertical centres; within a line,
 * left to right. out_text: string [M]; out_boxes: float32 [M,4,2], the
 * axis-aligned hull of each line's boxes (top-left, top-right, bottom-right,
 * bottom-left); out_scores: float32 [M], the mean of the boxes' scores.
 * Caller owns the outputs. */
skiff_status_t *skiff__ocr_merge_lines(const skiff_tensor_t *boxes, const skiff_tensor_t *texts,
                                       const skiff_tensor_t *scores, const skiff_tensor_t *cls,
                                       const skiff__line_params *prm, skiff_tensor_t **out_text,
                                       skiff_tensor_t **out_boxes, skiff_tensor_t **out_scores);

#endif
