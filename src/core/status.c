/* status.c - error objects and the one table mapping codes to protocols. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

struct skiff_status {
    skiff_code_t code;
    char *message;
};

/* Returned when the error itself cannot be allocated. */
static struct skiff_status oom_status = {SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory"};

/* The one table from skiff's codes to every protocol's: HTTP status, gRPC
 * status (google.rpc.Code), Paddle Serving's err_no in RPC and web answers
 * (-5000 framework, -5001 memory, -5100 op inference error) and the Paddle
 * pipeline's error codes (0.8+: INPUT_PARAMS_ERROR 5000, NO_SERVICE 3002,
 * TIMEOUT 6000, ...). Front ends never map codes by hand. */
static const struct {
    const char *name;
    int http;
    int grpc;
    int paddle;
    int pipeline;
} code_table[] = {
    [SKIFF_CODE_OK] = {"OK", 200, 0, 0, 0},
    [SKIFF_CODE_INVALID_ARG] = {"INVALID_ARG", 400, 3, -5100, 5000},
    [SKIFF_CODE_NOT_FOUND] = {"NOT_FOUND", 404, 5, -5100, 3002},
    [SKIFF_CODE_ALREADY_EXISTS] = {"ALREADY_EXISTS", 409, 6, -5000, 10000},
    [SKIFF_CODE_UNAVAILABLE] = {"UNAVAILABLE", 503, 14, -5000, 3001},
    [SKIFF_CODE_UNSUPPORTED] = {"UNSUPPORTED", 501, 12, -5000, 3000},
    [SKIFF_CODE_RESOURCE_EXHAUSTED] = {"RESOURCE_EXHAUSTED", 503, 8, -5001, 10000},
    [SKIFF_CODE_DEADLINE_EXCEEDED] = {"DEADLINE_EXCEEDED", 504, 4, -5000, 6000},
    [SKIFF_CODE_CANCELLED] = {"CANCELLED", 499, 1, -5000, 10000},
    [SKIFF_CODE_INTERNAL] = {"INTERNAL", 500, 13, -5000, 10000},
};

#define N_CODES (sizeof(code_table) / sizeof(code_table[0]))

static skiff_status_t *status_vnew(skiff_code_t code, const char *fmt, va_list ap)
{
    skiff_status_t *st = skiff__malloc(sizeof(*st));
    if (!st)
        return &oom_status;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    st->message = skiff__malloc((size_t)n + 1);
    if (!st->message) {
        skiff__free(st);
        return &oom_status;
    }
    vsnprintf(st->message, (size_t)n + 1, fmt, ap);
    st->code = code;
    return st;
}

skiff_status_t *skiff_status_new(skiff_code_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    skiff_status_t *st = status_vnew(code, fmt, ap);
    va_end(ap);
    return st;
}

skiff_status_t *skiff_status_wrap(skiff_status_t *st, const char *fmt, ...)
{
    if (!st)
        return NULL;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    skiff_status_t *out = skiff_status_new(st->code, "%s: %s", prefix, st->message);
    skiff_status_free(st);
    return out;
}

skiff_code_t skiff_status_code(const skiff_status_t *st) { return st ? st->code : SKIFF_CODE_OK; }

const char *skiff_status_message(const skiff_status_t *st) { return st ? st->message : ""; }

void skiff_status_free(skiff_status_t *st)
{
    if (!st || st == &oom_status)
        return;
    skiff__free(st->message);
    skiff__free(st);
}

const char *skiff_code_name(skiff_code_t code)
{
    return (unsigned)code < N_CODES ? code_table[code].name : "UNKNOWN";
}

int skiff_code_http_status(skiff_code_t code)
{
    return (unsigned)code < N_CODES ? code_table[code].http : 500;
}

int skiff_code_grpc_status(skiff_code_t code)
{
    return (unsigned)code < N_CODES ? code_table[code].grpc : 2;
}

int skiff__code_paddle_errno(skiff_code_t code)
{
    return (unsigned)code < N_CODES ? code_table[code].paddle : -5000;
}

int skiff__code_pipeline_errno(skiff_code_t code)
{
    return (unsigned)code < N_CODES ? code_table[code].pipeline : 10000;
}

skiff_code_t skiff__code_from_http(int http)
{
    if (http >= 200 && http < 300)
        return SKIFF_CODE_OK;
    for (unsigned c = 1; c < N_CODES; c++)
        if (code_table[c].http == http && c != SKIFF_CODE_RESOURCE_EXHAUSTED)
            return (skiff_code_t)c;
    return http == 429                 ? SKIFF_CODE_RESOURCE_EXHAUSTED
           : http >= 400 && http < 500 ? SKIFF_CODE_INVALID_ARG
                                       : SKIFF_CODE_INTERNAL;
}

skiff_code_t skiff__code_from_paddle_errno(int err_no)
{
    if (err_no == 0)
        return SKIFF_CODE_OK;
    return err_no == -5100   ? SKIFF_CODE_INVALID_ARG
           : err_no == -5001 ? SKIFF_CODE_RESOURCE_EXHAUSTED
                             : SKIFF_CODE_INTERNAL;
}
