/* npy.c - NumPy .npy reader and writer.
 *
 * The header is a Python dict literal; we parse only the three keys NumPy
 * writes ('descr', 'fortran_order', 'shape') with a small scanner rather than
 * a general evaluator, and check the data size against the file size before
 * touching the data, so a file that lies about its size is an error. */
#include <stdio.h>
#include <string.h>

#include "core.h"

static const struct {
    const char *descr;
    skiff_dtype_t dtype;
} npy_types[] = {
    {"b1", SKIFF_DTYPE_BOOL},    {"i1", SKIFF_DTYPE_INT8},    {"u1", SKIFF_DTYPE_UINT8},
    {"i2", SKIFF_DTYPE_INT16},   {"u2", SKIFF_DTYPE_UINT16},  {"i4", SKIFF_DTYPE_INT32},
    {"u4", SKIFF_DTYPE_UINT32},  {"i8", SKIFF_DTYPE_INT64},   {"u8", SKIFF_DTYPE_UINT64},
    {"f2", SKIFF_DTYPE_FLOAT16}, {"f4", SKIFF_DTYPE_FLOAT32}, {"f8", SKIFF_DTYPE_FLOAT64},
};

#define NPY_ERR(...) skiff_status_new(SKIFF_CODE_INVALID_ARG, ".npy: " __VA_ARGS__)

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Finds 'key' in the header dict and returns a pointer just past its ':'. */
static const char *find_key(const char *h, const char *end, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = h; p + kl + 2 <= end; p++) {
        if ((*p == '\'' || *p == '"') && p[kl + 1] == *p && memcmp(p + 1, key, kl) == 0) {
            const char *q = skip_ws(p + kl + 2, end);
            if (q < end && *q == ':')
                return skip_ws(q + 1, end);
        }
    }
    return NULL;
}

static skiff_status_t *parse_header(const char *h, size_t hlen, skiff_dtype_t *dtype, int *ndim,
                                    int64_t *dims)
{
    const char *end = h + hlen;
    const char *p = find_key(h, end, "descr");
    if (!p || p >= end || (*p != '\'' && *p != '"'))
        return NPY_ERR("header has no 'descr'");
    char q = *p++;
    const char *d0 = p;
    while (p < end && *p != q)
        p++;
    if (p >= end)
        return NPY_ERR("unterminated 'descr'");
    size_t dl = (size_t)(p - d0);
    if (dl < 2 || dl > 8)
        return NPY_ERR("unsupported dtype descr of %zu chars", dl);
    char order = d0[0];
    const char *code = d0 + 1;
    size_t cl = dl - 1;
    if (order == '>' && !(cl == 2 && (code[1] == '1')))
        return NPY_ERR("big-endian arrays are not supported (descr '%.*s'); save with "
                       "dtype.newbyteorder('<')",
                       (int)dl, d0);
    if (order != '<' && order != '|' && order != '=' && order != '>')
        return NPY_ERR("unsupported dtype descr '%.*s'", (int)dl, d0);
    *dtype = SKIFF_DTYPE_UNDEFINED;
    for (size_t i = 0; i < sizeof(npy_types) / sizeof(npy_types[0]); i++)
        if (strlen(npy_types[i].descr) == cl && memcmp(npy_types[i].descr, code, cl) == 0)
            *dtype = npy_types[i].dtype;
    if (*dtype == SKIFF_DTYPE_UNDEFINED)
        return NPY_ERR("unsupported dtype descr '%.*s' (supported: b1 i1 u1 i2 u2 i4 u4 i8 u8 "
                       "f2 f4 f8)",
                       (int)dl, d0);

    p = find_key(h, end, "fortran_order");
    if (!p)
        return NPY_ERR("header has no 'fortran_order'");
    if (end - p >= 4 && memcmp(p, "True", 4) == 0)
        return NPY_ERR("fortran_order arrays are not supported; save a C-order array "
                       "(np.ascontiguousarray)");
    if (!(end - p >= 5 && memcmp(p, "False", 5) == 0))
        return NPY_ERR("bad 'fortran_order' value");

    p = find_key(h, end, "shape");
    if (!p || p >= end || *p != '(')
        return NPY_ERR("header has no 'shape' tuple");
    p++;
    *ndim = 0;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end)
            return NPY_ERR("unterminated 'shape'");
        if (*p == ')')
            break;
        if (*p < '0' || *p > '9')
            return NPY_ERR("bad character '%c' in 'shape'", *p);
        int64_t v = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
                return NPY_ERR("dimension too large in 'shape'");
            p++;
        }
        if (*ndim >= SKIFF_MAX_DIMS)
            return NPY_ERR("more than %d dimensions", SKIFF_MAX_DIMS);
        dims[(*ndim)++] = v;
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p++;
    }
    return NULL;
}

skiff_status_t *skiff__npy_read_buffer(const void *data, size_t size, skiff_tensor_t **out_tensor)
{
    const unsigned char *b = data;
    if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return NPY_ERR("not a .npy file (bad magic)");
    unsigned major = b[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = (size_t)b[8] | ((size_t)b[9] << 8);
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12)
            return NPY_ERR("truncated header");
        hlen = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        hoff = 12;
    } else {
        return NPY_ERR("unsupported format version %u", major);
    }
    if (hlen > size - hoff)
        return NPY_ERR("header length %zu exceeds file size %zu", hlen, size);
    skiff_dtype_t dtype = SKIFF_DTYPE_UNDEFINED;
    int ndim = 0;
    int64_t dims[SKIFF_MAX_DIMS];
    skiff_status_t *st = parse_header((const char *)b + hoff, hlen, &dtype, &ndim, dims);
    if (st)
        return st;
    size_t off = hoff + hlen;
    int64_t n = skiff_shape_numel(ndim, dims);
    size_t need;
    if (n < 0 || !skiff__mul_size((size_t)n, skiff_dtype_size(dtype), &need))
        return NPY_ERR("shape overflows");
    if (need != size - off) {
        char sb[160];
        return NPY_ERR("shape %s of %s needs %zu data bytes, file has %zu",
                       skiff_shape_str(ndim, dims, sb, sizeof(sb)), skiff_dtype_name(dtype), need,
                       size - off);
    }
    skiff_tensor_t *t;
    st = skiff_tensor_new(dtype, ndim, dims, &t);
    if (st)
        return st;
    if (need)
        memcpy(t->data, b + off, need);
    if (dtype == SKIFF_DTYPE_BOOL) {
        unsigned char *v = t->data;
        for (size_t i = 0; i < need; i++)
            v[i] = v[i] != 0;
    }
    *out_tensor = t;
    return NULL;
}

skiff_status_t *skiff__npy_read_file(const char *path, skiff_tensor_t **out_tensor)
{
    void *buf;
    size_t size;
    skiff_status_t *st = skiff__read_file(path, &buf, &size);
    if (st)
        return st;
    st = skiff__npy_read_buffer(buf, size, out_tensor);
    skiff__free(buf);
    return skiff_status_wrap(st, "'%s'", path);
}

skiff_status_t *skiff__npy_write_buffer(const skiff_tensor_t *t, void **out_data, size_t *out_size)
{
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof(npy_types) / sizeof(npy_types[0]); i++)
        if (npy_types[i].dtype == t->dtype)
            descr = npy_types[i].descr;
    if (!descr)
        return NPY_ERR("cannot write element type %s", skiff_dtype_name(t->dtype));
    char shape[256] = "";
    size_t sl = 0;
    for (int i = 0; i < t->ndim; i++)
        sl += (size_t)snprintf(shape + sl, sizeof(shape) - sl, i ? ", %lld" : "%lld",
                               (long long)t->dims[i]);
    char hdr[400];
    int n =
        snprintf(hdr, sizeof(hdr), "{'descr': '%c%s', 'fortran_order': False, 'shape': (%s%s), }",
                 descr[1] == '1' ? '|' : '<', descr, shape, t->ndim == 1 ? "," : "");
    /* Pad with spaces so the data starts on a 64-byte boundary; end with \n. */
    size_t total_hdr = 10 + (size_t)n + 1;
    size_t pad = (64 - total_hdr % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    size_t size = 10 + hlen + t->nbytes;
    unsigned char *out = skiff__malloc(size);
    if (!out)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory writing .npy");
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)(hlen & 0xff);
    out[9] = (unsigned char)(hlen >> 8);
    memcpy(out + 10, hdr, (size_t)n);
    memset(out + 10 + n, ' ', pad);
    out[10 + (size_t)n + pad] = '\n';
    if (t->nbytes)
        memcpy(out + 10 + hlen, t->data, t->nbytes);
    *out_data = out;
    *out_size = size;
    return NULL;
}

skiff_status_t *skiff__npy_write_file(const skiff_tensor_t *t, const char *path)
{
    void *buf;
    size_t size;
    skiff_status_t *st = skiff__npy_write_buffer(t, &buf, &size);
    if (st)
        return st;
    FILE *f = fopen(path, "wb");
    if (!f) {
        skiff__free(buf);
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "cannot write '%s'", path);
    }
    size_t w = fwrite(buf, 1, size, f);
    int rc = fclose(f);
    skiff__free(buf);
    if (w != size || rc != 0)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "short write on '%s'", path);
    return NULL;
}
