/* skiff/client.h - a client for skiff (and Paddle Serving) servers, in C.
 *
 * libskiff_client.so calls a served model the way Paddle Serving's Python
 * Client does: it reads the model's client conf (serving_client_conf.prototxt:
 * feed and fetch variables, their aliases, types and LoD flags), takes named
 * feeds, filters the fetch list against the conf, and returns one tensor per
 * fetch name (plus its LoD). Link with `pkg-config --cflags --libs skiff_client`
 * (which brings libskiff.so, the home of skiff_status_* and skiff_tensor_*).
 *
 *     skiff_client_t *c;
 *     skiff_status_t *st = skiff_client_new("uci_housing_client", "127.0.0.1:9393",
 *                                           NULL, &c);
 *     skiff_client_feed_t feed = {.name = "x", .tensor = x};
 *     skiff_client_result_t *res;
 *     st = skiff_client_predict(c, &feed, 1, NULL, 0, NULL, &res);
 *     const skiff_tensor_t *price = skiff_client_result_find(res, "price")->tensor;
 *     skiff_client_result_free(res);
 *     skiff_client_free(c);
 *
 * Transports (skiff_client_transport_t): baidu_std (brpc's protocol, Paddle
 * Serving 0.9's Request/Response messages; the default), and HTTP/1.1 POSTs to
 * /GeneralModelService/inference with the same messages as protobuf or JSON,
 * and gRPC: HTTP/2 (libnghttp2) calls to
 * /baidu.paddle_serving.predictor.general_model.GeneralModelService/inference
 * with the same protobuf messages, length-prefixed (flag 0, 4-byte length),
 * headers content-type application/grpc, te: trailers, grpc-timeout (the
 * call's timeout) and model (options.model); the answer's trailers decide:
 * grpc-status 0 and one message, or grpc-status N and grpc-message, which
 * becomes the returned status (its code from N, the message kept). A gRPC
 * connection in the pool keeps its HTTP/2 session: each call is one new
 * stream on it.
 *
 * Endpoints: a comma-separated "host:port" list. Each call starts at the next
 * endpoint in turn (round robin) and, when it cannot connect, the connection
 * breaks before an answer, or the answer does not come within the timeout,
 * goes on to the next endpoint, until each has been tried once. An error the
 * server answers with (a bad feed, an unknown model) is returned at once.
 *
 * Connections are pooled per endpoint and reused; a pooled connection the
 * server has closed is noticed and replaced (the call is sent again once on
 * a fresh connection when a reused one breaks before any byte of the answer).
 *
 * Errors: every function returning skiff_status_t * returns NULL on success;
 * otherwise the caller owns the status (skiff_status_free). Codes:
 *   INVALID_ARG        a bad argument or feed (before sending), or the
 *                      server's -5100 / HTTP 400 (its text is the message)
 *   NOT_FOUND          the conf file; the server's 404 (unknown model, service)
 *   UNAVAILABLE        no endpoint could be reached ("no endpoint answered:
 *                      host:port: why; ..."), or the server is overloaded
 *   DEADLINE_EXCEEDED  every endpoint tried timed out
 *   INTERNAL           a broken answer (not a frame, a message that does not
 *                      decode, a correlation id not ours), or the server's -5000
 *   (gRPC: the code of grpc-status: 3 INVALID_ARG, 4 DEADLINE_EXCEEDED,
 *   5 NOT_FOUND, 8 RESOURCE_EXHAUSTED, 12 UNSUPPORTED, 14 UNAVAILABLE,
 *   2/13/15 INTERNAL; a missing grpc-status is a broken answer)
 *   RESOURCE_EXHAUSTED out of memory
 * A server's own text is kept in the message.
 *
 * Threads: one skiff_client_t may be used by any number of threads at once
 * (each call takes its own pooled connection); skiff_client_free only when no
 * call is running. Results are plain values owned by their caller.
 */
#ifndef SKIFF_CLIENT_H
#define SKIFF_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "skiff/api.h"
#include "skiff/status.h"
#include "skiff/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct skiff_client skiff_client_t;

/* How requests travel. New values only at the end. */
typedef enum skiff_client_transport {
    SKIFF_CLIENT_BRPC = 0,       /* baidu_std, Paddle 0.9 protobuf messages */
    SKIFF_CLIENT_HTTP_PROTO = 1, /* HTTP POST, Content-Type application/proto */
    SKIFF_CLIENT_HTTP_JSON = 2,  /* HTTP POST, Paddle 0.9 proto3 JSON */
    SKIFF_CLIENT_GRPC = 3,       /* gRPC (HTTP/2), GeneralModelService/inference */
} skiff_client_transport_t;

/* Options; a zeroed struct (or NULL) means every default. */
typedef struct skiff_client_options {
    skiff_client_transport_t transport; /* default SKIFF_CLIENT_BRPC */
    int timeout_ms;            /* per endpoint tried: connect + send + answer (default 20000) */
    int max_idle_per_endpoint; /* pooled idle connections kept per endpoint (default 64) */
    const char *model;         /* a multi-model server's model (RpcMeta user_fields "model",
                                  HTTP: the Request's "model", gRPC: a "model" header);
                                  NULL = the server's default.
                                  Copied. */
    bool gzip;                 /* baidu_std: gzip the request payload (compress_type 2) */
} skiff_client_options_t;

/* Creates a client. conf_path: serving_client_conf.prototxt, or a directory
 * holding it. endpoints: "host:port[,host:port...]" (names are resolved now).
 * Nothing is connected yet. Caller owns *out_client (skiff_client_free). */
SKIFF_API skiff_status_t *skiff_client_new(const char *conf_path, const char *endpoints,
                                           const skiff_client_options_t *options,
                                           skiff_client_t **out_client);

/* Closes every pooled connection and frees the client. Accepts NULL. */
SKIFF_API void skiff_client_free(skiff_client_t *client);

/* The conf's feed and fetch aliases, in conf order; NULL past the end.
 * Borrowed until skiff_client_free. */
SKIFF_API int skiff_client_feed_count(const skiff_client_t *client);
SKIFF_API const char *skiff_client_feed_name(const skiff_client_t *client, int i);
SKIFF_API int skiff_client_fetch_count(const skiff_client_t *client);
SKIFF_API const char *skiff_client_fetch_name(const skiff_client_t *client, int i);

/* One feed: the conf alias and its value. Borrowed for the call. */
typedef struct skiff_client_feed {
    const char *name;             /* alias from the conf */
    const skiff_tensor_t *tensor; /* any numeric dtype is converted to the conf's type;
                                     STRING tensors feed string vars */
    const int64_t *lod;           /* LoD offsets [0, l1, l1+l2, ...] or NULL */
    int n_lod;
} skiff_client_feed_t;

/* Per-call settings; NULL means all defaults. */
typedef struct skiff_client_call {
    bool batch;      /* the tensors already carry the batch dim (Paddle's batch=True);
                        false: a leading dim of 1 is added */
    uint64_t log_id; /* sent to the server (0: none) */
    int timeout_ms;  /* this call's timeout per endpoint; 0: the client's */
} skiff_client_call_t;

/* One fetched output. */
typedef struct skiff_client_output {
    const char *name;       /* the fetch alias */
    skiff_tensor_t *tensor; /* shape as answered, batch dim included */
    const int64_t *lod;     /* LoD offsets, or NULL */
    int n_lod;
} skiff_client_output_t;

/* A call's outputs, in the order the server answered them. Everything in it
 * is owned by the result: free it with skiff_client_result_free; pointers
 * into it are valid until then. A caller may take a tensor away by setting
 * outputs[i].tensor to NULL (then owning it: skiff_tensor_free). */
typedef struct skiff_client_result {
    skiff_client_output_t *outputs;
    int n_outputs;
    uint64_t log_id; /* the call's log_id */
} skiff_client_result_t;

/* Runs one request. feeds: every feed var of the conf, by alias (as Paddle's
 * Client, a missing one is INVALID_ARG). fetch: aliases wanted; names not in
 * the conf's fetch list are dropped, and when none remains the call is
 * INVALID_ARG; NULL/0 fetches every fetch var. A LoD feed without lod is one
 * sequence (batch false or rank <= 1) or one sequence per row. On success the
 * caller owns *out_result. */
SKIFF_API skiff_status_t *skiff_client_predict(skiff_client_t *client,
                                               const skiff_client_feed_t *feeds, int n_feeds,
                                               const char *const *fetch, int n_fetch,
                                               const skiff_client_call_t *call,
                                               skiff_client_result_t **out_result);

/* The output named name (fetch alias), or NULL. Borrowed from the result. */
SKIFF_API const skiff_client_output_t *skiff_client_result_find(const skiff_client_result_t *result,
                                                                const char *name);

/* Frees a result and every tensor, name and LoD it holds. Accepts NULL. */
SKIFF_API void skiff_client_result_free(skiff_client_result_t *result);

#ifdef __cplusplus
}
#endif
#endif
