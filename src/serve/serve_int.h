/* serve_int.h - what the serve layer's files share: the server object, the
 * served models as frontends see them, and the HTTP frontend's entry points.
 * Not for other layers (they use serve.h). */
#ifndef SKIFF_SERVE_INT_H
#define SKIFF_SERVE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "model/model.h"
#include "serve/codec.h"
#include "serve/serve.h"

/* One model as the frontends see it. */
typedef struct skiff__served {
    skiff__model *model;
    const skiff__model_desc *d; /* borrowed from model */
    skiff__io_spec *in_specs;   /* codec view of d->feed / d->fetch */
    skiff__io_spec *out_specs;
    skiff__model_io io;
} skiff__served;

struct MHD_Daemon;

typedef struct skiff__server {
    const skiff__serve_config *cfg;
    skiff__served *models;
    int n_models;
    skiff__codec_limits limits;
    int threads; /* resolved per-instance threads (for the summary) */
    int instances;
    int io_threads;

    int listen_fd;
    int port;
    int wake_fd; /* eventfd: stops the acceptor */
    pthread_t acceptor;
    bool acceptor_started;

    struct MHD_Daemon **mhd; /* one per I/O thread */
    int n_mhd;
    _Atomic unsigned rr;

    /* The head watchdog (http.c): cuts connections whose request line and
     * headers take longer than --request_timeout_s to arrive. */
    pthread_t watchdog;
    bool watchdog_started;
    pthread_mutex_t conns_mu; /* guards the connection list and stop flag */
    bool conns_mu_init;
    pthread_cond_t watchdog_cv;
    bool watchdog_stop;
    struct hconn *conns;                /* every open HTTP connection with a context */
    _Atomic uint64_t conn_head_timeout; /* connections cut by the watchdog */

    _Atomic bool ready;
    _Atomic bool draining;
    _Atomic int64_t in_flight;   /* HTTP requests being handled */
    _Atomic int64_t connections; /* open HTTP connections */
    _Atomic uint64_t log_seq;    /* log ids for requests that bring none */

    /* Server-wide counters for /metrics. */
    _Atomic uint64_t http_status[6]; /* by class: [1]=1xx .. [5]=5xx */
    _Atomic uint64_t unrouted;       /* requests that reached no model */
    _Atomic uint64_t conn_accepted;
    _Atomic uint64_t conn_refused_proto; /* first bytes of an unsupported protocol */
    _Atomic uint64_t conn_sniff_timeout;
    uint64_t start_ns;
    int64_t start_wall_s;
} skiff__server;

/* server.c: loads the models and starts the I/O threads; with do_listen also
 * the listening socket and the acceptor (without, connections come in
 * through skiff__http_adopt only: tests and fuzzers). Caller owns *out_server. */
skiff_status_t *skiff__server_open(const skiff__serve_config *cfg, bool do_listen,
                                   skiff__server **out_server);
/* Stops everything and frees the server. No request may be in flight. */
void skiff__server_close(skiff__server *s);

/* Looks a served model up by name (len bytes). NULL when none. */
skiff__served *skiff__server_find(skiff__server *s, const char *name, size_t len);

/* http.c: starts the I/O threads (libmicrohttpd daemons without a listening
 * socket of their own). */
skiff_status_t *skiff__http_start(skiff__server *s);
/* Hands an accepted socket to an I/O thread; it owns (and closes) fd after. */
void skiff__http_adopt(skiff__server *s, int fd, const struct sockaddr *addr, socklen_t len);
void skiff__http_stop(skiff__server *s);

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
