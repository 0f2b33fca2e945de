/* client_net.c - endpoints, the per-endpoint connection pool, and socket I/O
 * with a deadline.
 *
 * Sockets are non-blocking and every wait is a poll() bounded by the call's
 * deadline, so a server that accepts and never answers costs the caller the
 * timeout and no more. A pooled connection is checked before reuse (a peek
 * that finds the peer's FIN or an error closes it); a reused connection that
 * breaks anyway before the answer's first byte is reported STALE and the
 * caller sends once more on a fresh one. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client/client_int.h"
#include "core/core.h"

static skiff_status_t *ep_parse(const char *s, size_t n, int max_idle, skiff__client_ep *ep)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char host[256], port[16];
    const char *colon = NULL;
    for (size_t i = n; i-- > 0;)
        if (s[i] == ':') {
            colon = s + i;
            break;
        }
    size_t hl = colon ? (size_t)(colon - s) : 0, pl = colon ? n - hl - 1 : 0;
    if (!colon || pl == 0 || pl >= sizeof(port) || hl >= sizeof(host))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "endpoint '%.*s': expected host:port",
                                (int)(n > 200 ? 200 : n), s);
    const char *h = s;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']')
        h++, hl -= 2;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, colon + 1, pl);
    port[pl] = '\0';
    int64_t pv;
    if (!skiff__parse_i64(port, &pv) || pv <= 0 || pv > 65535)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "endpoint '%.*s': port '%s' is not a number in 1..65535", (int)n, s,
                                port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(hl ? host : "127.0.0.1", port, &hints, &ai);
    if (rc != 0 || !ai)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "endpoint '%.*s': cannot resolve '%s': %s",
                                (int)n, s, host, gai_strerror(rc));
    memcpy(&ep->addr, ai->ai_addr, ai->ai_addrlen);
    ep->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    ep->label = skiff__malloc(n + 1);
    ep->cap_idle = max_idle;
    ep->idle = skiff__malloc(sizeof(*ep->idle) * (size_t)(max_idle ? max_idle : 1));
    if (!ep->label || !ep->idle) {
        skiff__free(ep->label);
        skiff__free(ep->idle);
        ep->label = NULL;
        ep->idle = NULL;
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    memcpy(ep->label, s, n);
    ep->label[n] = '\0';
    pthread_mutex_init(&ep->mu, NULL);
    return NULL;
}

skiff_status_t *skiff__client_eps_parse(const char *list, int max_idle, skiff__client_ep **out,
                                        int *out_n)
{
    *out = NULL;
    *out_n = 0;
    if (!list || !list[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "no endpoint given (expected host:port[,host:port...])");
    int n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    skiff__client_ep *eps = skiff__calloc((size_t)n, sizeof(*eps));
    if (!eps)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    int k = 0;
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        skiff_status_t *st = ep_parse(p, len, max_idle, &eps[k]);
        if (st) {
            skiff__client_eps_free(eps, k);
            return st;
        }
        k++;
        if (!e)
            break;
        p = e + 1;
    }
    *out = eps;
    *out_n = k;
    return NULL;
}

void skiff__client_eps_free(skiff__client_ep *eps, int n)
{
    if (!eps)
        return;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < eps[i].n_idle; j++)
            skiff__client_conn_close(&eps[i].idle[j]);
        pthread_mutex_destroy(&eps[i].mu);
        skiff__free(eps[i].idle);
        skiff__free(eps[i].label);
    }
    skiff__free(eps);
}

/* ms left before the deadline for poll(); 0 when it has passed. */
static int ms_left(uint64_t deadline_ns)
{
    uint64_t now = skiff__now_ns();
    if (now >= deadline_ns)
        return 0;
    uint64_t ms = (deadline_ns - now + 999999) / 1000000;
    return ms > 1000000000 ? 1000000000 : (int)ms;
}

/* Waits for `events` on fd: 1 ready, 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, uint64_t deadline_ns)
{
    for (;;) {
        int left = ms_left(deadline_ns);
        if (left == 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, left);
        if (rc > 0)
            return 1;
        if (rc == 0)
            continue; /* ms_left decides */
        if (errno != EINTR)
            return -1;
    }
}

/* A pooled connection is usable when a peek finds nothing to read: data or
 * EOF there means the server closed it (or broke the protocol). */
static bool still_open(const skiff__client_conn *conn)
{
    char c;
    ssize_t r = recv(conn->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r > 0)
        return conn->h2 != NULL;
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void skiff__client_conn_close(skiff__client_conn *conn)
{
    if (conn->fd >= 0)
        close(conn->fd);
    skiff__client_h2_free(conn->h2);
    *conn = (skiff__client_conn){.fd = -1};
}

skiff__client_conn skiff__client_conn_get(skiff__client_ep *ep, uint64_t deadline_ns,
                                          bool *out_reused, skiff_status_t **out_st,
                                          skiff__client_fail *out_fail)
{
    *out_st = NULL;
    *out_reused = false;
    skiff__client_conn none = {.fd = -1};
    for (;;) {
        skiff__client_conn conn = none;
        pthread_mutex_lock(&ep->mu);
        if (ep->n_idle > 0)
            conn = ep->idle[--ep->n_idle];
        pthread_mutex_unlock(&ep->mu);
        if (conn.fd < 0)
            break;
        if (still_open(&conn)) {
            *out_reused = true;
            return conn;
        }
        skiff__client_conn_close(&conn);
    }
    int fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *out_fail = SKIFF__CLIENT_NET;
        *out_st = skiff_status_new(SKIFF_CODE_UNAVAILABLE, "socket: %s", strerror(errno));
        return none;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&ep->addr, ep->addrlen) != 0) {
        if (errno != EINPROGRESS) {
            int e = errno;
            close(fd);
            *out_fail = SKIFF__CLIENT_NET;
            *out_st = skiff_status_new(SKIFF_CODE_UNAVAILABLE, "connect: %s", strerror(e));
            return none;
        }
        int w = wait_fd(fd, POLLOUT, deadline_ns);
        int err = 0;
        socklen_t el = sizeof(err);
        if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
            err = errno;
        if (w != 1 || err) {
            int e = w == 0 ? ETIMEDOUT : w < 0 ? errno : err;
            close(fd);
            *out_fail = w == 0 ? SKIFF__CLIENT_TIMEOUT : SKIFF__CLIENT_NET;
            *out_st = w == 0 ? skiff_status_new(SKIFF_CODE_DEADLINE_EXCEEDED, "connect timed out")
                             : skiff_status_new(SKIFF_CODE_UNAVAILABLE, "connect: %s", strerror(e));
            return none;
        }
    }
    return (skiff__client_conn){.fd = fd};
}

void skiff__client_conn_put(skiff__client_ep *ep, skiff__client_conn conn)
{
    pthread_mutex_lock(&ep->mu);
    if (ep->n_idle < ep->cap_idle) {
        ep->idle[ep->n_idle++] = conn;
        conn.fd = -1;
        conn.h2 = NULL;
    }
    pthread_mutex_unlock(&ep->mu);
    skiff__client_conn_close(&conn);
}

skiff_status_t *skiff__client_send(int fd, const void *p, size_t n, uint64_t deadline_ns,
                                   skiff__client_fail *out_fail)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w > 0) {
            c += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(fd, POLLOUT, deadline_ns);
            if (r == 1)
                continue;
            if (r == 0) {
                *out_fail = SKIFF__CLIENT_TIMEOUT;
                return skiff_status_new(SKIFF_CODE_DEADLINE_EXCEEDED, "sending timed out");
            }
        }
        *out_fail = SKIFF__CLIENT_NET;
        return skiff_status_new(SKIFF_CODE_UNAVAILABLE, "send: %s", strerror(errno));
    }
    return NULL;
}

skiff_status_t *skiff__client_recv(int fd, void *p, size_t cap, uint64_t deadline_ns, size_t *out_n,
                                   skiff__client_fail *out_fail)
{
    *out_n = 0;
    for (;;) {
        ssize_t r = recv(fd, p, cap, 0);
        if (r >= 0) {
            *out_n = (size_t)r;
            return NULL;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = wait_fd(fd, POLLIN, deadline_ns);
            if (w == 1)
                continue;
            if (w == 0) {
                *out_fail = SKIFF__CLIENT_TIMEOUT;
                return skiff_status_new(SKIFF_CODE_DEADLINE_EXCEEDED, "no answer in time");
            }
        }
        *out_fail = SKIFF__CLIENT_NET;
        return skiff_status_new(SKIFF_CODE_UNAVAILABLE, "recv: %s", strerror(errno));
    }
}
