/* core.h - services every layer uses: allocation, logging, .npy files,
 * float16 conversion, CPU facts. Internal: not part of the public API. */
#ifndef SKIFF_CORE_H
#define SKIFF_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skiff/log.h"
#include "skiff/status.h"
#include "skiff/tensor.h"

/* ---- allocation ----------------------------------------------------------
 * Every allocation in skiff goes through these, so a test build can fail the
 * Nth one (SKIFF_FAIL_ALLOC_AT=N in the environment, or
 * skiff__alloc_fail_at()) and prove each failure is a clean error. */
void *skiff__malloc(size_t size);
void *skiff__calloc(size_t n, size_t size);
void *skiff__realloc(void *p, size_t size);
void *skiff__aligned_alloc(size_t size);
/* Gives the free pages inside the heap back to the system. glibc returns
 * only the top of its heap by itself, so memory freed between live blocks
 * (a model's weights released once packed, packing buffers of a trial)
 * otherwise stays resident. Costs a walk of the heap's free lists: for
 * setup paths after a large free, never per run. A no-op without glibc. */
void skiff__heap_trim(void); /* 64-byte aligned; free with skiff__free */
char *skiff__strdup(const char *s);
char *skiff__strndup(const char *s, size_t n);
void skiff__free(void *p);

/* Fault injection: fail allocation number n (1-based) counted from now; 0
 * turns it off (but keeps counting). Allocations are counted only once this
 * or SKIFF_FAIL_ALLOC_AT has armed the counter; skiff__alloc_count gives
 * the count since the last call of skiff__alloc_fail_at. */
void skiff__alloc_fail_at(long n);
long skiff__alloc_count(void);
bool skiff__alloc_failed(void); /* an injected failure has happened */

/* Overflow-checked size arithmetic: false on overflow. */
static inline bool skiff__mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* Byte offsets for carving one buffer into 64-byte aligned pieces: each
 * skiff__carve_take returns the next piece's offset; overflow is sticky. */
typedef struct skiff__carve {
    size_t off;
    bool overflow;
} skiff__carve;

static inline size_t skiff__carve_take(skiff__carve *c, size_t n, size_t esize)
{
    size_t bytes, at = c->off;
    if (!skiff__mul_size(n, esize, &bytes) || bytes > SIZE_MAX - 64 - at) {
        c->overflow = true;
        return 0;
    }
    c->off = at + ((bytes + 63) & ~(size_t)63);
    return at;
}

/* ---- logging -------------------------------------------------------------
 * Levels, level setting and the sink are public (skiff/log.h). */
void skiff_log(skiff_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define SKIFF_LOG_ON(lvl) ((lvl) >= skiff_log_get_level())

/* ---- dtype tables (tensor.c; skiff_dtype_name/kserve_name are public) ---- */
const char *skiff__dtype_triton_name(skiff_dtype_t dtype);   /* "TYPE_FP32"; TYPE_INVALID */
skiff_dtype_t skiff__dtype_from_onnx_name(const char *name); /* "FLOAT", "int64"; UNDEFINED */
int skiff__dtype_paddle_code(skiff_dtype_t dtype);           /* Paddle elem_type; -1 none */
skiff_dtype_t skiff__dtype_from_paddle(int code);            /* UNDEFINED: none (or complex) */
const char *skiff__paddle_type_name(int code);               /* "float32", "complex64", "unknown" */

/* ---- protocol codes --------------------------------------------------------
 * The rest of the code table in status.c (HTTP and gRPC are public:
 * skiff_code_http_status, skiff_code_grpc_status). */
int skiff__code_paddle_errno(skiff_code_t code);   /* Paddle Serving err_no: -5000, -5001, -5100 */
int skiff__code_pipeline_errno(skiff_code_t code); /* Paddle pipeline err_no: 5000, 6000, ... */
/* The other way, for clients reading an answer: an HTTP status (503 reads
 * as UNAVAILABLE, 4xx not in the table as INVALID_ARG, the rest INTERNAL),
 * a Paddle err_no. */
skiff_code_t skiff__code_from_http(int http);
skiff_code_t skiff__code_from_paddle_errno(int err_no);

/* ---- strings --------------------------------------------------------------- */
/* Parses a whole decimal integer; false on junk, empty or overflow. */
bool skiff__parse_i64(const char *s, int64_t *out);
bool skiff__parse_double(const char *s, double *out);

/* Monotonic clock in nanoseconds. */
uint64_t skiff__now_ns(void);

/* ---- CPU ----------------------------------------------------------------- */
/* Number of CPU cores this process may use: its affinity mask, capped by the
 * cgroup v2 cpu.max quota (rounded up); at least 1. */
int skiff_cpu_count(void);

/* ---- float16 / bfloat16 -------------------------------------------------- */
float skiff__f16_to_f32(uint16_t h);
uint16_t skiff__f32_to_f16(float f);
float skiff__bf16_to_f32(uint16_t h);
uint16_t skiff__f32_to_bf16(float f);

/* ---- dtype predicates ------------------------------------------------------ */
/* float16 or bfloat16: storage types that kernels widen to float32. */
static inline bool skiff__dtype_is_half(skiff_dtype_t dt)
{
    return dt == SKIFF_DTYPE_FLOAT16 || dt == SKIFF_DTYPE_BFLOAT16;
}

/* float32, float64, float16 or bfloat16. */
static inline bool skiff__dtype_is_float(skiff_dtype_t dt)
{
    return dt == SKIFF_DTYPE_FLOAT32 || dt == SKIFF_DTYPE_FLOAT64 || skiff__dtype_is_half(dt);
}

/* A signed or unsigned integer type of 8 to 64 bits (not bool). */
static inline bool skiff__dtype_is_int(skiff_dtype_t dt)
{
    switch (dt) {
    case SKIFF_DTYPE_INT8:
    case SKIFF_DTYPE_INT16:
    case SKIFF_DTYPE_INT32:
    case SKIFF_DTYPE_INT64:
    case SKIFF_DTYPE_UINT8:
    case SKIFF_DTYPE_UINT16:
    case SKIFF_DTYPE_UINT32:
    case SKIFF_DTYPE_UINT64: return true;
    default: return false;
    }
}

/* A float or integer type: what arithmetic kernels take. */
static inline bool skiff__dtype_is_numeric(skiff_dtype_t dt)
{
    return skiff__dtype_is_float(dt) || skiff__dtype_is_int(dt);
}

/* ---- .npy files ------------------------------------------------------------
 * NumPy format 1.0-3.0, little-endian, C order; dtypes b1 i1 u1 i2 u2 i4 u4 i8
 * u8 f2 f4 f8. Big-endian and fortran_order arrays are refused by name. */
skiff_status_t *skiff__npy_read_buffer(const void *data, size_t size, skiff_tensor_t **out_tensor);
skiff_status_t *skiff__npy_read_file(const char *path, skiff_tensor_t **out_tensor);
/* Serialises to a new buffer the caller frees with skiff__free. */
skiff_status_t *skiff__npy_write_buffer(const skiff_tensor_t *t, void **out_data, size_t *out_size);
skiff_status_t *skiff__npy_write_file(const skiff_tensor_t *t, const char *path);

/* Reads a whole file into a new buffer (caller frees with skiff__free). */
skiff_status_t *skiff__read_file(const char *path, void **out_data, size_t *out_size);

/* Maps a whole file read-only (private, pages populated from the page cache
 * up front): no buffer to fill or zero, which for a model of hundreds of MB
 * is most of the cost of reading it. Release with skiff__unmap_file. An
 * empty file maps to a valid zero-length pointer. */
skiff_status_t *skiff__map_file(const char *path, const void **out_data, size_t *out_size);
void skiff__unmap_file(const void *data, size_t size);
/* Drops the resident pages of part of a mapping made by skiff__map_file
 * (the whole pages inside [addr, addr + len)): they stop counting in the
 * process's memory, and reading them again reads the file. For a loader
 * done with a range of the file. */
void skiff__map_drop(const void *addr, size_t len);

#endif
