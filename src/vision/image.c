/* image.c - from client bytes to an HWC uint8 image: base64 text (as
 * PaddleOCR clients send it) and JPEG, PNG, WebP files.
 *
 * The output is what OpenCV's imdecode(IMREAD_COLOR) gives, so models
 * trained on cv2-read images see the same pixels: three channels in BGR
 * order (RGB on request), grey replicated, alpha dropped (not composited),
 * palettes expanded, 16-bit samples cut to their high byte. JPEG and PNG go
 * through the same libjpeg-turbo and libpng that OpenCV uses on this
 * system, so decoded pixels are identical, not just close.
 *
 * Outside bytes are never trusted: the size in the header is checked against
 * a pixel limit before any buffer is allocated (a 100-byte PNG can claim
 * 65535x65535), progressive JPEGs are limited in their number of scans (each
 * scan redoes the whole image's work), and a truncated file is an error
 * rather than a grey bottom half. The libraries report errors by longjmp;
 * everything they may skip over is declared volatile and freed after. */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>

#include "../core/defaults.h"
#include "vision.h"

/* ---- base64 -------------------------------------------------------------- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

static bool b64_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

skiff_status_t *skiff__vision_base64_decode(const char *s, size_t n, uint8_t **out_data,
                                            size_t *out_len)
{
    *out_data = NULL;
    *out_len = 0;
    uint8_t *dst = skiff__malloc(n / 4 * 3 + 3);
    if (!dst)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "base64: out of memory");
    size_t len = 0, pad = 0, pad_at = 0;
    uint32_t acc = 0;
    int have = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (b64_space(c))
            continue;
        if (c == '=') {
            if (!pad)
                pad_at = i;
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad) {
            skiff__free(dst);
            if (v < 0)
                return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                        "base64: invalid character 0x%02x at offset %zu", c, i);
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "base64: data after padding at offset %zu", i);
        }
        acc = acc << 6 | (uint32_t)v;
        if (++have == 4) {
            dst[len++] = (uint8_t)(acc >> 16);
            dst[len++] = (uint8_t)(acc >> 8);
            dst[len++] = (uint8_t)acc;
            have = 0;
            acc = 0;
        }
    }
    /* A final group of 1 sextet cannot hold a byte; padding, when present,
     * must complete the group to 4. */
    if (have == 1 || (pad && (pad > 2 || have + (int)pad != 4))) {
        skiff__free(dst);
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "base64: bad length (%d characters in the last group, %zu "
                                "padding characters at offset %zu)",
                                have, pad, pad ? pad_at : n);
    }
    if (have == 2) {
        dst[len++] = (uint8_t)(acc >> 4);
    } else if (have == 3) {
        dst[len++] = (uint8_t)(acc >> 10);
        dst[len++] = (uint8_t)(acc >> 2);
    }
    *out_data = dst;
    *out_len = len;
    return NULL;
}

/* ---- common ---------------------------------------------------------------- */

static skiff_status_t *img_alloc(const char *fmt, int64_t w, int64_t h, const skiff__image_opts *o,
                                 skiff_tensor_t **out)
{
    int64_t maxp = o && o->max_pixels > 0 ? o->max_pixels : SKIFF_DEFAULT_IMAGE_MAX_PIXELS;
    if (w <= 0 || h <= 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: empty image (%lldx%lld)", fmt,
                                (long long)w, (long long)h);
    if (w > maxp || h > maxp || w * h > maxp)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED,
                                "%s: image of %lldx%lld pixels exceeds the limit of %lld pixels",
                                fmt, (long long)w, (long long)h, (long long)maxp);
    int64_t dims[3] = {h, w, 3};
    skiff_tensor_t *t = skiff__calloc(1, sizeof *t);
    void *data = skiff__malloc((size_t)(w * h * 3));
    if (!t || !data) {
        skiff__free(t);
        skiff__free(data);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "%s: out of memory for %lldx%lld",
                                fmt, (long long)w, (long long)h);
    }
    t->dtype = SKIFF_DTYPE_UINT8;
    t->ndim = 3;
    memcpy(t->dims, dims, sizeof dims);
    t->data = data;
    t->nbytes = (size_t)(w * h * 3);
    t->flags = SKIFF_TENSOR_OWNS_DATA;
    *out = t;
    return NULL;
}

static void swap_rb(uint8_t *p, size_t npix)
{
    for (size_t i = 0; i < npix; i++) {
        uint8_t t = p[3 * i];
        p[3 * i] = p[3 * i + 2];
        p[3 * i + 2] = t;
    }
}

/* ---- JPEG -------------------------------------------------------------------- */

typedef struct jpg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpg_err;

static void jpg_error_exit(j_common_ptr c)
{
    jpg_err *e = (jpg_err *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings: libjpeg pads a truncated or corrupt stream and carries on; here
 * that is an error, so a half image never reaches a model. */
static void jpg_emit(j_common_ptr c, int level)
{
    if (level < 0)
        jpg_error_exit(c);
}

/* Every progressive scan redoes work over the whole image: a file of many
 * tiny scans costs minutes. Real encoders write about 10. */
#define JPG_MAX_SCANS 256

static void jpg_progress(j_common_ptr c)
{
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (c->is_decompressor && d->input_scan_number > JPG_MAX_SCANS) {
        jpg_err *e = (jpg_err *)c->err;
        snprintf(e->msg, sizeof e->msg, "more than %d progressive scans", JPG_MAX_SCANS);
        longjmp(e->jb, 1);
    }
}

static skiff_status_t *decode_jpeg(const uint8_t *data, size_t n, const skiff__image_opts *o,
                                   skiff_tensor_t **out)
{
    struct jpeg_decompress_struct d;
    struct jpeg_progress_mgr prog = {.progress_monitor = jpg_progress};
    jpg_err err;
    skiff_tensor_t *volatile t = NULL;
    uint8_t *volatile row = NULL;
    skiff_status_t *volatile st = NULL;
    memset(&d, 0, sizeof d);
    d.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpg_error_exit;
    err.mgr.emit_message = jpg_emit;
    err.msg[0] = '\0';
    if (setjmp(err.jb)) {
        if (!st)
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "jpeg: %s", err.msg);
        goto done;
    }
    jpeg_create_decompress(&d);
    d.progress = &prog;
    jpeg_mem_src(&d, data, (unsigned long)n);
    jpeg_read_header(&d, TRUE);
    bool cmyk = d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK;
    if (cmyk)
        d.out_color_space = JCS_CMYK;
    else
        d.out_color_space = o && o->rgb ? JCS_RGB : JCS_EXT_BGR;
    jpeg_calc_output_dimensions(&d);
    skiff_tensor_t *img = NULL;
    st = img_alloc("jpeg", d.output_width, d.output_height, o, &img);
    if (st)
        goto done;
    t = img;
    if (cmyk) {
        row = skiff__malloc((size_t)d.output_width * 4);
        if (!row) {
            st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "jpeg: out of memory");
            goto done;
        }
    }
    jpeg_start_decompress(&d);
    while (d.output_scanline < d.output_height) {
        uint8_t *dst = (uint8_t *)t->data + (size_t)d.output_scanline * d.output_width * 3;
        JSAMPROW rp = cmyk ? row : dst;
        if (jpeg_read_scanlines(&d, &rp, 1) != 1) {
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "jpeg: truncated at row %u",
                                  d.output_scanline);
            goto done;
        }
        if (cmyk) {
            /* Adobe's inverted CMYK, as most CMYK JPEGs are written. */
            bool rgb = o && o->rgb;
            for (JDIMENSION x = 0; x < d.output_width; x++) {
                unsigned k = row[4 * x + 3];
                uint8_t r = (uint8_t)((row[4 * x] * k + 127) / 255);
                uint8_t g = (uint8_t)((row[4 * x + 1] * k + 127) / 255);
                uint8_t b = (uint8_t)((row[4 * x + 2] * k + 127) / 255);
                dst[3 * x] = rgb ? r : b;
                dst[3 * x + 1] = g;
                dst[3 * x + 2] = rgb ? b : r;
            }
        }
    }
    jpeg_finish_decompress(&d);
done:
    jpeg_destroy_decompress(&d);
    skiff__free(row);
    if (st) {
        skiff_tensor_free(t);
        return st;
    }
    *out = t;
    return NULL;
}

/* ---- PNG ------------------------------------------------------------------------ */

typedef struct png_src {
    const uint8_t *p;
    size_t n, at;
    char msg[160];
} png_src;

static void png_read_cb(png_structp png, png_bytep dst, size_t len)
{
    png_src *s = png_get_io_ptr(png);
    if (len > s->n - s->at) {
        snprintf(s->msg, sizeof s->msg, "truncated file (%zu bytes)", s->n);
        png_error(png, s->msg);
    }
    memcpy(dst, s->p + s->at, len);
    s->at += len;
}

static void png_error_cb(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    if (msg != s->msg)
        snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn_cb(png_structp png, png_const_charp msg) {}

static skiff_status_t *decode_png(const uint8_t *data, size_t n, const skiff__image_opts *o,
                                  skiff_tensor_t **out)
{
    png_src src = {.p = data, .n = n};
    skiff_tensor_t *volatile t = NULL;
    png_bytep *volatile rows = NULL;
    skiff_status_t *volatile st = NULL;
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_error_cb, png_warn_cb);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "png: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        if (!st)
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "png: %s", src.msg);
        goto done;
    }
    png_set_read_fn(png, &src, png_read_cb);
    /* Ancillary chunks (text, ICC) may be large; the image data is bounded by
     * the pixel limit below. */
    png_set_chunk_malloc_max(png, 8u << 20);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
    skiff_tensor_t *img = NULL;
    st = img_alloc("png", w, h, o, &img);
    if (st)
        goto done;
    t = img;
    if (depth == 16)
        png_set_strip_16(png);
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_strip_alpha(png);
    if (!(o && o->rgb))
        png_set_bgr(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) {
        st = skiff_status_new(SKIFF_CODE_UNSUPPORTED, "png: unexpected row size");
        goto done;
    }
    rows = skiff__malloc(sizeof(png_bytep) * h);
    if (!rows) {
        st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "png: out of memory");
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = (uint8_t *)t->data + (size_t)y * w * 3;
    png_read_image(png, rows);
done:
    png_destroy_read_struct(&png, &info, NULL);
    skiff__free(rows);
    if (st) {
        skiff_tensor_free(t);
        return st;
    }
    *out = t;
    return NULL;
}

/* ---- WebP ------------------------------------------------------------------------ */

static skiff_status_t *decode_webp(const uint8_t *data, size_t n, const skiff__image_opts *o,
                                   skiff_tensor_t **out)
{
    int w = 0, h = 0;
    if (!WebPGetInfo(data, n, &w, &h))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "webp: bad header");
    skiff_tensor_t *t = NULL;
    skiff_status_t *st = img_alloc("webp", w, h, o, &t);
    if (st)
        return st;
    uint8_t *r = o && o->rgb ? WebPDecodeRGBInto(data, n, t->data, t->nbytes, w * 3)
                             : WebPDecodeBGRInto(data, n, t->data, t->nbytes, w * 3);
    if (!r) {
        skiff_tensor_free(t);
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "webp: corrupt or truncated data");
    }
    *out = t;
    return NULL;
}

/* ---- dispatch --------------------------------------------------------------------- */

skiff_status_t *skiff__vision_image_decode(const void *data, size_t n, const skiff__image_opts *o,
                                           skiff_tensor_t **out_image)
{
    const uint8_t *p = data;
    *out_image = NULL;
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return decode_jpeg(p, n, o, out_image);
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return decode_png(p, n, o, out_image);
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return decode_webp(p, n, o, out_image);
    /* bytes that are no image are bad input, not a missing feature */
    return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                            "image: unknown format (%zu bytes; expected JPEG, PNG or WebP)", n);
}

void skiff__vision_swap_rb(uint8_t *p, size_t npix) { swap_rb(p, npix); }
