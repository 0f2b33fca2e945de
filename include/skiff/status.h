/* skiff/status.h - error reporting for every public function.
 *
 * Public functions return skiff_status_t *: NULL means success, anything else
 * is an error object carrying a code and a human-readable message. The caller
 * owns the object and frees it with skiff_status_free(). Codes are never
 * renumbered; one table maps them to HTTP and gRPC status codes.
 *
 * Threads: status objects are plain values; any thread may create, read or
 * free one, but a single object is used by one thread at a time.
 */
#ifndef SKIFF_STATUS_H
#define SKIFF_STATUS_H

#include "skiff/api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum skiff_code {
    SKIFF_CODE_OK = 0,
    SKIFF_CODE_INVALID_ARG = 1,
    SKIFF_CODE_NOT_FOUND = 2,
    SKIFF_CODE_ALREADY_EXISTS = 3,
    SKIFF_CODE_UNAVAILABLE = 4,
    SKIFF_CODE_UNSUPPORTED = 5,
    SKIFF_CODE_RESOURCE_EXHAUSTED = 6,
    SKIFF_CODE_DEADLINE_EXCEEDED = 7,
    SKIFF_CODE_CANCELLED = 8,
    SKIFF_CODE_INTERNAL = 9,
} skiff_code_t;

typedef struct skiff_status skiff_status_t;

/* Creates an error with a printf-style message. Never returns NULL: when memory
 * is exhausted it returns a shared static RESOURCE_EXHAUSTED object, which
 * skiff_status_free() recognises and leaves alone. */
SKIFF_API skiff_status_t *skiff_status_new(skiff_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Returns a new status whose message is "<prefix>: <old message>", same code;
 * frees `st`. Returns NULL when st is NULL. */
SKIFF_API skiff_status_t *skiff_status_wrap(skiff_status_t *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Code of an error; SKIFF_CODE_OK for NULL. */
SKIFF_API skiff_code_t skiff_status_code(const skiff_status_t *st);

/* Message of an error (borrowed, valid until the status is freed); "" for NULL. */
SKIFF_API const char *skiff_status_message(const skiff_status_t *st);

/* Frees an error. Accepts NULL. */
SKIFF_API void skiff_status_free(skiff_status_t *st);

/* Upper-case name of a code ("INVALID_ARG"). */
SKIFF_API const char *skiff_code_name(skiff_code_t code);

/* HTTP status a code maps to (Triton's choices: 400, 404, 503, 500, ...). */
SKIFF_API int skiff_code_http_status(skiff_code_t code);

/* gRPC status code a code maps to. */
SKIFF_API int skiff_code_grpc_status(skiff_code_t code);

#ifdef __cplusplus
}
#endif
#endif
