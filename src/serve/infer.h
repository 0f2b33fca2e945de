/* infer.h - the one inference path every front end shares.
 *
 * A front end (HTTP/1.1 today; brpc and gRPC next) turns its bytes into a
 * skiff__infer_args and calls skiff__infer_start. From there to the encoded
 * answer everything is here: model choice (the route's model, or for Paddle
 * 0.9 the ?model= query or the body's "model" field), decoding with the
 * request's codec, filling the job, the deadline, the model's checks, an
 * inline run or a queued one, output selection, encoding, the error format
 * of the request's API, and all the per-model bookkeeping (in-flight gauge,
 * request outcome counters). A transport supplies one callback for a queued
 * job's completion and gets back a status, a content type and bytes.
 *
 * Threads: a call belongs to the transport thread that started it; the done
 * callback runs on an instance thread and must only hand the call back to
 * that transport thread, which then calls skiff__infer_resume.
 */
#ifndef SKIFF_SERVE_INFER_H
#define SKIFF_SERVE_INFER_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "proto/codec.h"

struct skiff__server;
struct skiff__served;

/* What a transport knows about one request. Everything is borrowed for the
 * duration of skiff__infer_start only. */
typedef struct skiff__infer_args {
    skiff__api api;
    struct skiff__served *model; /* chosen by the route; NULL lets the request choose */
    const char *model_query;     /* Paddle 0.9's ?model=, or NULL */
    const char *content_type;    /* or NULL */
    const char *header_length;   /* KServe Inference-Header-Content-Length, or NULL */
    const char *timeout_ms;      /* X-Request-Timeout-Ms, or NULL */
    uint64_t t0;                 /* when the request began (skiff__now_ns) */
    uint64_t log_id;
    /* Bytes at the start of *out an answer leaves to the transport (gRPC's
     * 5-byte message prefix, written in place afterwards); errors do not. */
    size_t out_head;
} skiff__infer_args;

/* An answer: status, content type and the bytes in the caller's buffer. */
typedef struct skiff__infer_result {
    int status; /* HTTP status (front ends map other protocols from code) */
    skiff_code_t code;
    const char *ctype;
    size_t json_len;  /* KServe binary: bytes of the JSON head; 0 otherwise */
    bool retry_after; /* overloaded: the client may retry in a second */
    bool in_body;     /* an error the answer's body carries with a success status
                         (pipelines: err_no), not the transport's status */
    char msg[1024];   /* an error's message ("" on success), for logs */
} skiff__infer_result;

/* Called on an instance thread when a queued job has run. */
typedef void (*skiff__infer_done_cb)(void *user);

/* One inference request in flight. Zero it before skiff__infer_start; it
 * lives in the transport's per-request state. */
typedef struct skiff__infer_call {
    struct skiff__server *s;
    skiff__api api;
    struct skiff__served *sm; /* the model, once known */
    skiff__infer_request *dec;
    skiff__job *job;
    skiff__infer_done_cb done;
    void *user;
    /* A job kept by the transport between requests (one per connection),
     * or NULL pointers: skiff__infer_start takes it when the model matches,
     * skiff__infer_finish puts the call's job back. */
    skiff__job **job_cache;
    struct skiff__served **job_cache_model;
    uint64_t t0;
    uint64_t log_id;
    bool counted_in_flight;
    bool counted_request;
    bool queued;
    size_t out_head;             /* from skiff__infer_args */
    struct skiff__pipe_call *pc; /* a pipeline call (pipe_call.c), or NULL */
    skiff__infer_result res;
} skiff__infer_call;

/* Starts the request whose body is `body` (consumed: it may be released as
 * soon as it is decoded; the call never keeps a pointer into it). Returns
 * true when answered already (c->res and *out hold the answer), false when
 * the job is queued: c->done(c->user) will run on an instance thread, after
 * which the transport calls skiff__infer_resume on its own thread. */
bool skiff__infer_start(struct skiff__server *s, skiff__infer_call *c, const skiff__infer_args *a,
                        skiff__buf *body, skiff__infer_done_cb done, void *user, skiff__buf *out);

/* pipe_call.c: the pipeline APIs' side of start, resume and finish. */
bool skiff__pipe_start(struct skiff__server *s, skiff__infer_call *c, const skiff__infer_args *a,
                       skiff__buf *body, skiff__buf *out);
void skiff__pipe_resume(skiff__infer_call *c, skiff__buf *out);
void skiff__pipe_finish(skiff__infer_call *c);

/* Encodes a queued job's answer into *out (c->res). */
void skiff__infer_resume(skiff__infer_call *c, skiff__buf *out);

/* The end of the request, answered or not (a client gone mid-request counts
 * as CANCELLED): counters, and the call's memory. c can be reused after. */
void skiff__infer_finish(skiff__infer_call *c);

/* An error answer in the format of `api`, for errors the transport finds
 * itself (routing, limits, framing). *out is reset first. */
void skiff__infer_error(skiff__api api, skiff_code_t code, int status, const char *msg,
                        skiff__buf *out, skiff__infer_result *res);

#endif
