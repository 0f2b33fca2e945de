/* frontend.h - the front ends behind the one port.
 *
 * The acceptor (server.c) peeks at a new connection's first bytes, names the
 * protocol, and hands the socket to that protocol's front end through this
 * table. A front end owns its connections and I/O threads from adopt() on;
 * it reaches models only through the server's repository (serve_int.h) and
 * the shared inference path (infer.h), so no front end copies request logic.
 *
 * Threads: start, drain and stop are called from the server's main thread;
 * adopt from the acceptor thread (or a test's thread); open_connections from
 * any thread.
 */
#ifndef SKIFF_SERVE_FRONTEND_H
#define SKIFF_SERVE_FRONTEND_H

#include <stdint.h>
#include <sys/socket.h>

#include "skiff/status.h"

struct skiff__server;

/* What the acceptor recognises from a connection's first bytes. */
typedef enum skiff__proto {
    SKIFF__PROTO_HTTP1 = 0, /* anything else: HTTP/1.x */
    SKIFF__PROTO_HTTP2,     /* "PRI * HTTP/2.0" preface (gRPC) */
    SKIFF__PROTO_BRPC,      /* "PRPC" (brpc baidu_std) */
    SKIFF__PROTO_TLS,       /* a TLS ClientHello */
    SKIFF__PROTO_COUNT
} skiff__proto;

typedef struct skiff__frontend {
    const char *name; /* the protocol as logs name it */
    /* Starts the front end's threads; its state goes in s->fe[proto]. */
    skiff_status_t *(*start)(struct skiff__server *s);
    /* Takes an accepted, non-blocking socket; owns (and closes) it after. */
    void (*adopt)(struct skiff__server *s, int fd, const struct sockaddr *addr, socklen_t len);
    /* Shutdown began (s->draining is set): finish what is in flight and
     * tell clients to go elsewhere. */
    void (*drain)(struct skiff__server *s);
    /* Closes every connection and joins the threads. No request may be in
     * flight. Safe after a failed or partial start. */
    void (*stop)(struct skiff__server *s);
    int64_t (*open_connections)(const struct skiff__server *s);
    /* Logs what it serves (the startup summary's endpoint lines). */
    void (*log_summary)(const struct skiff__server *s);
} skiff__frontend;

/* The front end for a protocol; NULL when skiff does not serve it. */
const skiff__frontend *skiff__frontend_of(skiff__proto p);

/* The front ends (each in its own folder). */
extern const skiff__frontend skiff__http1_frontend; /* http/ */
extern const skiff__frontend skiff__brpc_frontend;  /* brpc/ */
extern const skiff__frontend skiff__grpc_frontend;  /* grpc/ (HTTP/2) */

#endif
