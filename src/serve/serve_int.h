/* serve_int.h - what the serve layer's files share: the server object, the
 * served models as front ends see them (the repository).
 * Not for other layers (they use serve.h). */
#ifndef SKIFF_SERVE_INT_H
#define SKIFF_SERVE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "model/servable.h"
#include "pipeline/pipeline.h"
#include "proto/codec.h"
#include "serve/frontend.h"
#include "serve/serve.h"

/* One model as the frontends see it. */
typedef struct skiff__served {
    skiff__servable *sv;
    const skiff__model_desc *d; /* borrowed from sv */
    skiff__io_spec *in_specs;   /* codec view of d->feed / d->fetch */
    skiff__io_spec *out_specs;
    skiff__model_io io;
} skiff__served;

/* The served models, as every front end sees them. Read-only after start. */
typedef struct skiff__repo {
    skiff__served *models;
    int n;
} skiff__repo;

/* Looks a served model up by name (len bytes). NULL when none. */
skiff__served *skiff__repo_find(const skiff__repo *r, const char *name, size_t len);

typedef struct skiff__server {
    const skiff__serve_config *cfg;
    skiff__repo repo;
    skiff__codec_limits limits;
    int threads; /* resolved per-instance threads (for the summary) */
    int instances;
    int io_threads;

    int listen_fd;
    int port;
    int listen_fd2; /* a pipeline's second port (rpc_port beside http_port), or -1 */
    int port2;

    /* --pipeline: its config, the DAG, and the repo index of each op's model */
    skiff__pipe_conf *pconf;
    skiff__pipeline *pipe;
    struct skiff__py_graph *pygraph; /* --py_main's registered ops */
    const char **model_paths;        /* [repo.n] the directory each model came from */
    int wake_fd;                     /* eventfd: stops the acceptor */
    pthread_t acceptor;
    bool acceptor_started;

    void *fe[SKIFF__PROTO_COUNT]; /* each front end's own state */

    _Atomic bool ready;
    _Atomic bool draining;
    _Atomic int64_t in_flight;   /* requests being handled, every front end */
    _Atomic int64_t connections; /* open connections, every front end */
    _Atomic uint64_t log_seq;    /* log ids for requests that bring none */

    /* Server-wide counters for /metrics. */
    _Atomic uint64_t http_status[6]; /* by class: [1]=1xx .. [5]=5xx */
    _Atomic uint64_t unrouted;       /* requests that reached no model */
    _Atomic uint64_t conn_accepted;
    _Atomic uint64_t conn_refused_proto; /* first bytes of an unsupported protocol */
    _Atomic uint64_t conn_refused_limit; /* over --max_connections */
    _Atomic uint64_t conn_sniff_timeout;
    _Atomic uint64_t conn_cut_head;   /* request head not in within --request_timeout_s */
    _Atomic uint64_t conn_cut_body;   /* request body not in within --request_timeout_s */
    _Atomic uint64_t rpc_answers[2];  /* brpc answers: [0] ok, [1] with an error */
    _Atomic uint64_t rpc_broken;      /* brpc connections closed for bytes that are not frames */
    _Atomic uint64_t grpc_answers[2]; /* gRPC answers: [0] grpc-status 0, [1] an error */
    _Atomic uint64_t grpc_broken;     /* gRPC connections closed for HTTP/2 errors */
    uint64_t start_ns;
    int64_t start_wall_s;
} skiff__server;

/* server.c: loads the models and starts the front ends; with do_listen also
 * the listening socket and the acceptor (without, connections come in
 * through skiff__http_adopt only: tests and fuzzers). Caller owns *out_server. */
skiff_status_t *skiff__server_open(const skiff__serve_config *cfg, bool do_listen,
                                   skiff__server **out_server);
/* Stops everything and frees the server. No request may be in flight. */
void skiff__server_close(skiff__server *s);

/* Hands a socket to the HTTP/1.1 front end, as the acceptor does; it owns
 * (and closes) fd after. For tests and fuzzers that serve without listening. */
void skiff__http_adopt(skiff__server *s, int fd, const struct sockaddr *addr, socklen_t len);

/* content_encoding.c: replaces *body by its decoded bytes when `encoding`
 * (the Content-Encoding header, may be NULL) is gzip or deflate, leaves it
 * for identity, and refuses anything else. The decoded size is bounded by
 * max_out. On error *http_status holds the status to answer (400, 413, 415
 * or 503) and *body is untouched. */
skiff_status_t *skiff__decode_content(const char *encoding, skiff__buf *body, int64_t max_out,
                                      int *http_status);

/* metrics.c: Prometheus text exposition of every counter. false on OOM. */
bool skiff__metrics_render(skiff__server *s, skiff__buf *out);

#endif
