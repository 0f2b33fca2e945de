/* client_int.h - the client layer's pieces (include/skiff/client.h is its API):
 * endpoints and the connection pool (client_net.c), the transports' request
 * bytes and answer reading (client_wire.c), feeds and results (client.c).
 * Declared here so the unit tests (tests/unit/client/) can drive each piece.
 *
 * Threads: an endpoint's pool is guarded by its mutex; everything else works
 * on the caller's own values. Memory: skiff__malloc & co.
 */
#ifndef SKIFF_CLIENT_CLIENT_INT_H
#define SKIFF_CLIENT_CLIENT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "model/conf.h"
#include "proto/codec.h"
#include "skiff/client.h"

#define SKIFF__CLIENT_DEFAULT_TIMEOUT_MS 20000
#define SKIFF__CLIENT_DEFAULT_MAX_IDLE 64
/* Largest answer read (a brpc frame body or an HTTP body). */
#define SKIFF__CLIENT_MAX_ANSWER ((size_t)1 << 30)
#define SKIFF__CLIENT_SERVICE "baidu.paddle_serving.predictor.general_model.GeneralModelService"
#define SKIFF__CLIENT_METHOD "inference"
#define SKIFF__CLIENT_HTTP_PATH "/GeneralModelService/inference"
#define SKIFF__CLIENT_GRPC_PATH "/" SKIFF__CLIENT_SERVICE "/" SKIFF__CLIENT_METHOD

/* ---- endpoints and connections (client_net.c) ------------------------------------ */

/* A gRPC connection's HTTP/2 session (client_grpc.c); NULL on the others. */
typedef struct skiff__client_h2 skiff__client_h2;

/* A pooled connection: the socket and, for gRPC, the HTTP/2 session on it
 * (kept with the socket so that a reused connection goes on with its state). */
typedef struct skiff__client_conn {
    int fd;
    skiff__client_h2 *h2;
} skiff__client_conn;

/* Closes fd and frees the session. */
void skiff__client_conn_close(skiff__client_conn *conn);

typedef struct skiff__client_ep {
    char *label; /* "host:port" as given */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    pthread_mutex_t mu;       /* guards idle / n_idle */
    skiff__client_conn *idle; /* pooled connections, most recently used last */
    int n_idle;
    int cap_idle;
} skiff__client_ep;

/* Parses "host:port[,host:port...]" (spaces around entries ignored; [v6]:port
 * taken) and resolves each host. Caller owns *out (skiff__client_eps_free). */
skiff_status_t *skiff__client_eps_parse(const char *list, int max_idle, skiff__client_ep **out,
                                        int *out_n);
void skiff__client_eps_free(skiff__client_ep *eps, int n);

/* How an exchange with one endpoint ended. */
typedef enum skiff__client_fail {
    SKIFF__CLIENT_OK = 0,
    SKIFF__CLIENT_ANSWERED, /* the server answered with an error: return it */
    SKIFF__CLIENT_NET,      /* could not connect, or the connection broke: next endpoint */
    SKIFF__CLIENT_STALE,    /* broke before any answer byte (gRPC: a reused one): once more */
    SKIFF__CLIENT_TIMEOUT,  /* no answer in time: next endpoint */
    SKIFF__CLIENT_BROKEN,   /* bytes that are not an answer: next endpoint */
} skiff__client_fail;

/* A pooled connection, or a new one (connected before deadline_ns, a
 * skiff__now_ns() time; h2 NULL). *out_reused says which. fd -1 and a status
 * on failure. A pooled plain connection with bytes or EOF waiting is closed;
 * an HTTP/2 one is only closed on EOF (its peer may have sent frames such as
 * a SETTINGS ack or a PING while it was idle). */
skiff__client_conn skiff__client_conn_get(skiff__client_ep *ep, uint64_t deadline_ns,
                                          bool *out_reused, skiff_status_t **out_st,
                                          skiff__client_fail *out_fail);
/* Gives a connection back to the pool (closed when the pool is full). */
void skiff__client_conn_put(skiff__client_ep *ep, skiff__client_conn conn);

/* Writes all n bytes before the deadline. */
skiff_status_t *skiff__client_send(int fd, const void *p, size_t n, uint64_t deadline_ns,
                                   skiff__client_fail *out_fail);
/* Reads some bytes (at most cap) before the deadline: *out_n > 0, or 0 when
 * the peer closed. */
skiff_status_t *skiff__client_recv(int fd, void *p, size_t cap, uint64_t deadline_ns, size_t *out_n,
                                   skiff__client_fail *out_fail);

/* ---- the transports' bytes (client_wire.c) -------------------------------------- */

typedef struct skiff__client_wire {
    skiff_client_transport_t transport;
    const char *model; /* or NULL */
    bool gzip;
} skiff__client_wire;

/* The whole request (a brpc frame, or an HTTP request with its headers)
 * appended to out; for gRPC the length-prefixed message only (5 bytes: flag 0,
 * the length big-endian; then the Request), its headers being the HTTP/2
 * session's (client_grpc.c). host: the Host header's value. */
skiff_status_t *skiff__client_encode(const skiff__client_wire *w, const skiff__request_out *r,
                                     int64_t correlation_id, int32_t timeout_ms, const char *host,
                                     skiff__buf *out);

/* An answer being read: feed it the bytes as they come. */
typedef struct skiff__client_reader {
    const skiff__client_wire *w;
    int64_t correlation_id;
    skiff__buf raw;  /* brpc: the frame so far; HTTP: the body */
    skiff__buf aux;  /* brpc: the inflated payload; HTTP: Content-Type */
    void *http;      /* HTTP: the parser state */
    bool done;       /* a whole answer was read */
    bool keep_alive; /* the connection may serve another call */
    int http_status;
    bool ctype_proto;
} skiff__client_reader;

skiff_status_t *skiff__client_reader_init(skiff__client_reader *rd, const skiff__client_wire *w,
                                          int64_t correlation_id);
void skiff__client_reader_free(skiff__client_reader *rd);
/* Takes n more bytes (n == 0: the peer closed). Errors are broken answers
 * (SKIFF_CODE_INTERNAL); rd->done says when the answer is complete. */
skiff_status_t *skiff__client_reader_feed(skiff__client_reader *rd, const void *p, size_t n);
/* A complete answer decoded: the outputs (as a decoded message's inputs,
 * named by their alias), or the server's error (*out_answered true). */
skiff_status_t *skiff__client_reader_decode(skiff__client_reader *rd, skiff__infer_request **out,
                                            bool *out_answered);

/* The code of a brpc error_code (404, Paddle's err_no). */
skiff_code_t skiff__client_brpc_code(int32_t error_code);

/* ---- gRPC: HTTP/2 through libnghttp2 (client_grpc.c) ------------------------------ */

/* A client session on one connection; calls run one at a time on it (a
 * pooled connection serves one caller), each on a new stream. Sans I/O: the
 * caller moves the bytes, so the unit tests can drive it with canned ones. */
skiff_status_t *skiff__client_h2_new(skiff__client_h2 **out);
void skiff__client_h2_free(skiff__client_h2 *h2); /* accepts NULL */
/* Opens the call's stream: POST SKIFF__CLIENT_GRPC_PATH with content-type
 * application/grpc, te: trailers, grpc-timeout (timeout_ms > 0), model (when
 * w->model is set), and msg (a length-prefixed message, borrowed until the
 * call ends) as its DATA. An error with *out_refused set means this session
 * takes no new stream (the server sent GOAWAY): use a fresh connection. */
skiff_status_t *skiff__client_h2_start(skiff__client_h2 *h2, const skiff__client_wire *w,
                                       const skiff__buf *msg, int32_t timeout_ms,
                                       const char *authority, bool *out_refused);
/* Appends the bytes the session wants sent now to out. */
skiff_status_t *skiff__client_h2_output(skiff__client_h2 *h2, skiff__buf *out);
/* Takes n bytes from the server. Errors: the bytes are not HTTP/2 or the
 * answer is over SKIFF__CLIENT_MAX_ANSWER (INTERNAL). */
skiff_status_t *skiff__client_h2_input(skiff__client_h2 *h2, const void *p, size_t n);
/* The call's stream is closed (answered, reset or refused). */
bool skiff__client_h2_done(const skiff__client_h2 *h2);
/* Any byte of the call's answer (a HEADERS frame) came. */
bool skiff__client_h2_answering(const skiff__client_h2 *h2);
/* The session may carry another call (no GOAWAY, no error). */
bool skiff__client_h2_reusable(const skiff__client_h2 *h2);
/* A closed call's answer: the outputs, or the server's error (grpc-status
 * != 0 with its grpc-message, or the Response's err_no; *out_answered). */
skiff_status_t *skiff__client_h2_decode(skiff__client_h2 *h2, skiff__infer_request **out,
                                        bool *out_answered);
/* The code of a gRPC status number. */
skiff_code_t skiff__client_grpc_code(int grpc_status);

/* One try on one endpoint over gRPC: a pooled (or new) connection and its
 * session, a stream, the answer. msg: skiff__client_encode's bytes. */
skiff__client_fail skiff__client_grpc_exchange(skiff__client_ep *ep, const skiff__client_wire *w,
                                               const skiff__buf *msg, int32_t timeout_ms,
                                               uint64_t deadline_ns, skiff__infer_request **out_ans,
                                               skiff_status_t **out_st);

/* ---- feeds and answers (client.c) ------------------------------------------------ */

/* A request's encoded inputs, built from the feeds against the conf. */
typedef struct skiff__client_req {
    skiff__infer_output *inputs; /* [conf->n_feed] */
    int n_inputs;
    skiff_tensor_t **owned; /* tensors made for the request (reshaped, converted) */
    int64_t **owned_lod;
    const char **fetch; /* borrowed names (the conf's aliases) */
    int n_fetch;
} skiff__client_req;

skiff_status_t *skiff__client_req_build(const skiff__model_conf *conf,
                                        const skiff_client_feed_t *feeds, int n_feeds,
                                        const char *const *fetch, int n_fetch, bool batch,
                                        skiff__client_req *out);
void skiff__client_req_free(skiff__client_req *r);

/* The fetch map of a decoded answer: outputs named by conf aliases, those not
 * asked for dropped. Takes the tensors out of ans. */
skiff_status_t *skiff__client_result_build(const skiff__model_conf *conf, skiff__infer_request *ans,
                                           const char *const *fetch, int n_fetch,
                                           skiff_client_result_t **out);

#endif
