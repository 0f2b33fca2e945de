/* vision.h - the vision layer's internal API: image and tensor resampling
 * shared by the engine (ONNX Resize) and the image steps. This layer calls
 * only core. */
#ifndef SKIFF_VISION_H
#define SKIFF_VISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

/* ---- resize (resize.c) ----------------------------------------------------- */
/* Resampling of an N-d tensor by per-axis tap tables, with ONNX Resize's
 * semantics. A caller fills a skiff__resize_params, builds each axis' table
 * with skiff__vision_resize_axis into memory it owns, then runs one of the
 * three resamplers. Nothing here allocates or keeps state: any thread, any
 * number of calls at once. Antialiased downscaling is not implemented (ONNX
 * Resize rejects it); it would come as a wider tap table. */

typedef enum skiff__resize_mode {
    SKIFF_RESIZE_NEAREST,
    SKIFF_RESIZE_LINEAR,
    SKIFF_RESIZE_CUBIC
} skiff__resize_mode;

typedef enum skiff__resize_coord {
    SKIFF_RESIZE_CT_HALF_PIXEL,
    SKIFF_RESIZE_CT_HALF_PIXEL_SYMMETRIC,
    SKIFF_RESIZE_CT_PYTORCH_HALF_PIXEL,
    SKIFF_RESIZE_CT_ALIGN_CORNERS,
    SKIFF_RESIZE_CT_ASYMMETRIC,
    SKIFF_RESIZE_CT_TF_HALF_PIXEL_FOR_NN,
    SKIFF_RESIZE_CT_TF_CROP_AND_RESIZE,
} skiff__resize_coord;

typedef enum skiff__resize_nearest {
    SKIFF_RESIZE_NM_ROUND_PREFER_FLOOR,
    SKIFF_RESIZE_NM_ROUND_PREFER_CEIL,
    SKIFF_RESIZE_NM_FLOOR,
    SKIFF_RESIZE_NM_CEIL,
    SKIFF_RESIZE_NM_SIMPLE, /* opset < 11 and Upsample: floor, or ceil when downsampling */
} skiff__resize_nearest;

typedef struct skiff__resize_params {
    skiff__resize_mode mode;
    skiff__resize_coord ct;   /* coordinate_transformation_mode */
    skiff__resize_nearest nm; /* nearest_mode */
    double cubic_a;           /* cubic_coeff_a (-0.75 in ONNX and OpenCV) */
    bool exclude_outside;     /* renormalise the taps that fall inside */
    bool antialias;           /* linear/cubic downscaling widens the filter by 1/scale */
    double extrap;            /* extrapolation_value (tf_crop_and_resize) */
    int rank;
    int64_t in[SKIFF_MAX_DIMS], out[SKIFF_MAX_DIMS];
    double scale[SKIFF_MAX_DIMS];                        /* out / in, or the given scales */
    double roi_s[SKIFF_MAX_DIMS], roi_e[SKIFF_MAX_DIMS]; /* tf_crop_and_resize region; else 0, 1 */
} skiff__resize_params;

/* One axis' tap table: the caller provides idx, w ([out][ntap]) and outside
 * ([out]) and sets ntap (skiff__vision_resize_ntap);
 * skiff__vision_resize_axis fills them and the flags. */
typedef struct skiff__resize_axis {
    int ntap;
    int64_t *idx;           /* [out][ntap], clamped to [0, in) */
    double *w;              /* [out][ntap] */
    unsigned char *outside; /* [out]: tf_crop_and_resize extrapolates here */
    bool identity;          /* output == input along this axis */
    bool any_outside;
} skiff__resize_axis;

/* Taps per output along axis d: 1 nearest, 2 linear, 4 cubic; with
 * p->antialias and scale[d] < 1, the stretched filter's 2 - 2 * (floor(-r /
 * scale) + 1) taps (r = 1 linear, 2 cubic), as Resize-18 defines them. */
int skiff__vision_resize_ntap(const skiff__resize_params *p, int d);

/* Fills axis d's tap table for p (coordinate transformation p->ct, nearest
 * rounding p->nm, cubic coefficient p->cubic_a, exclude_outside, antialias);
 * ax->ntap must be skiff__vision_resize_ntap(p, d). */
void skiff__vision_resize_axis(const skiff__resize_params *p, int d, skiff__resize_axis *ax);

/* Nearest resampling of any fixed-size element type (es bytes) from src
 * (shape p->in) to dst (shape p->out); extrap_elem is the element written
 * where tf_crop_and_resize falls outside. ix32, when not NULL, is work space
 * for p->out[rank-1] int32 indices (es == 4 only). */
void skiff__vision_resize_nearest(const skiff__resize_params *p, const skiff__resize_axis *ax,
                                  const void *src, void *dst, size_t es, const void *extrap_elem,
                                  int32_t *ix32, int threads);

/* Bytes of work area skiff__vision_resize_plane needs with `threads`
 * threads; 0 when the sizes overflow. */
size_t skiff__vision_resize_plane_size(const skiff__resize_params *p, int threads);

/* float32 linear/cubic resampling of planes: every axis but the last two
 * (ay, ax) is unchanged. work: skiff__vision_resize_plane_size bytes,
 * 64-byte aligned. */
void skiff__vision_resize_plane(const skiff__resize_params *p, const skiff__resize_axis *ay,
                                const skiff__resize_axis *ax, const float *src, float *dst,
                                void *work, int threads);

/* Separable interpolation in double, last axis first (any axes change). a
 * holds the input (shape p->in); a and b are each large enough for the
 * largest intermediate shape. Returns the one of the two that holds the
 * result. */
double *skiff__vision_resize_generic(const skiff__resize_params *p, const skiff__resize_axis *ax,
                                     double *a, double *b);

/* ---- images (image.c, pixel.c) ---------------------------------------------
 * Images are skiff_tensor_t in HWC layout, uint8 or float32; every function
 * returns a new tensor the caller owns (skiff_tensor_free) and leaves its
 * input alone. Any thread; they keep no state. */

typedef struct skiff__image_opts {
    int64_t max_pixels; /* width x height limit; 0: SKIFF_DEFAULT_IMAGE_MAX_PIXELS */
    bool rgb;           /* RGB channel order instead of OpenCV's BGR */
} skiff__image_opts;

/* cv2's interpolation numbering. */
typedef enum skiff__interp {
    SKIFF_INTERP_NEAREST = 0,
    SKIFF_INTERP_LINEAR = 1,
    SKIFF_INTERP_CUBIC = 2,
    SKIFF_INTERP_AREA = 3,
} skiff__interp;

typedef enum skiff__limit_type {
    SKIFF_LIMIT_MAX,
    SKIFF_LIMIT_MIN,
    SKIFF_LIMIT_RESIZE_LONG,
} skiff__limit_type;

/* Base64 (standard or URL-safe alphabet, padding optional, whitespace
 * skipped). *out_data: new buffer, caller frees with skiff__free. Errors name
 * the offset of the bad character. */
skiff_status_t *skiff__vision_base64_decode(const char *s, size_t n, uint8_t **out_data,
                                            size_t *out_len);
/* JPEG, PNG or WebP bytes -> [H, W, 3] uint8, as cv2.imdecode(IMREAD_COLOR). */
skiff_status_t *skiff__vision_image_decode(const void *data, size_t n, const skiff__image_opts *o,
                                           skiff_tensor_t **out_image);
/* A new zero-size-checked tensor with uninitialised data. */
skiff_status_t *skiff__vision_tensor_alloc(skiff_dtype_t dt, int ndim, const int64_t *dims,
                                           skiff_tensor_t **out);
/* NULL when t is an [H, W, C] uint8/float32 image; else an error naming what. */
skiff_status_t *skiff__vision_check_image(const skiff_tensor_t *t, const char *what);
/* cv2.resize(src, (out_w, out_h), interpolation=interp); uint8 results are
 * cv2's within 1 grey level. */
skiff_status_t *skiff__vision_resize_image(const skiff_tensor_t *src, int64_t out_w, int64_t out_h,
                                           skiff__interp interp, skiff_tensor_t **out);
/* cv2.resize(src, None, fx=fx, fy=fy) when out_w and out_h are cv2's rounding
 * of the source size times the factors: the source coordinates come from the
 * factors themselves, not from the size ratio (fx or fy <= 0: the ratio). */
skiff_status_t *skiff__vision_resize_image_scaled(const skiff_tensor_t *src, int64_t out_w,
                                                  int64_t out_h, double fx, double fy,
                                                  skiff__interp interp, skiff_tensor_t **out);
/* PaddleOCR's DetResizeForTest size rule: dims multiples of 32, at least 32. */
skiff_status_t *skiff__vision_det_resize_dims(int64_t h, int64_t w, int64_t limit_side_len,
                                              skiff__limit_type lt, int64_t *out_h, int64_t *out_w);
/* (x * scale - mean[c]) / std[c] in float32; nch is 1 (all channels) or C. */
skiff_status_t *skiff__vision_normalize(const skiff_tensor_t *src, float scale, const float *mean,
                                        const float *stdv, int nch, skiff_tensor_t **out);
skiff_status_t *skiff__vision_div(const skiff_tensor_t *src, float value, skiff_tensor_t **out);
/* Swaps channels 0 and 2 (BGR <-> RGB). */
skiff_status_t *skiff__vision_swap_channels(const skiff_tensor_t *src, skiff_tensor_t **out);
skiff_status_t *skiff__vision_crop(const skiff_tensor_t *src, int64_t x0, int64_t y0, int64_t w,
                                   int64_t h, skiff_tensor_t **out);
skiff_status_t *skiff__vision_pad(const skiff_tensor_t *src, int64_t top, int64_t bottom,
                                  int64_t left, int64_t right, float value, skiff_tensor_t **out);
/* The same, the padding filled with the image's border pixels repeated
 * outward (cv2.BORDER_REPLICATE); an empty image pads with 0. */
skiff_status_t *skiff__vision_pad_edge(const skiff_tensor_t *src, int64_t top, int64_t bottom,
                                       int64_t left, int64_t right, skiff_tensor_t **out);
/* numpy.transpose(src, perm), any fixed-size dtype. */
skiff_status_t *skiff__vision_permute(const skiff_tensor_t *src, const int *perm, int n,
                                      skiff_tensor_t **out);
/* n float32 CHW tensors -> [n, C, maxH, maxW], padded bottom/right. */
skiff_status_t *skiff__vision_stack(const skiff_tensor_t *const *imgs, int n, float pad_value,
                                    skiff_tensor_t **out);
void skiff__vision_swap_rb(uint8_t *p, size_t npix);

#endif
