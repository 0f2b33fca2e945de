/* server.c - one port for every protocol, the server's life from start to
 * drain.
 *
 * The acceptor thread owns the listening socket. It accepts, then peeks at
 * the first bytes a client sends (MSG_PEEK leaves them in the socket) and
 * hands the socket to the frontend that speaks that protocol: HTTP/1.1, and
 * "PRPC" (brpc baidu_std, src/serve/brpc); "PRI * HTTP/2.0" (gRPC) is
 * recognised and refused. Sockets whose first bytes have not
 * arrived wait in the acceptor's epoll set, so a silent client never blocks
 * anyone, and are closed when --request_timeout_s passes.
 *
 * Shutdown: SIGTERM/SIGINT (taken with sigwait on the main thread, blocked in
 * every other) turns readiness off, closes the listening socket so new
 * connections are refused, waits for in-flight requests up to --grace_s,
 * then stops the I/O threads and the models and returns 0; when the grace
 * period ran out with requests still in flight it returns SKIFF__EXIT_CUT.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "pipeline/pyop.h"
#include "serve/serve_int.h"
#include "skiff/skiff.h"

skiff__served *skiff__repo_find(const skiff__repo *r, const char *name, size_t len)
{
    for (int i = 0; i < r->n; i++) {
        const char *n = r->models[i].d->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return &r->models[i];
    }
    return NULL;
}

/* ---- the front-end table -------------------------------------------------------- */

static const skiff__frontend *const frontends[SKIFF__PROTO_COUNT] = {
    [SKIFF__PROTO_HTTP1] = &skiff__http1_frontend,
    [SKIFF__PROTO_BRPC] = &skiff__brpc_frontend,
    [SKIFF__PROTO_HTTP2] = &skiff__grpc_frontend,
};

static const char *const proto_names[SKIFF__PROTO_COUNT] = {
    [SKIFF__PROTO_HTTP1] = "HTTP/1.1",
    [SKIFF__PROTO_HTTP2] = "HTTP/2 (gRPC)",
    [SKIFF__PROTO_BRPC] = "brpc (PRPC)",
    [SKIFF__PROTO_TLS] = "TLS",
};

const skiff__frontend *skiff__frontend_of(skiff__proto p)
{
    return (unsigned)p < SKIFF__PROTO_COUNT ? frontends[p] : NULL;
}

void skiff__http_adopt(skiff__server *s, int fd, const struct sockaddr *addr, socklen_t len)
{
    skiff__http1_frontend.adopt(s, fd, addr, len);
}

/* ---- acceptor ----------------------------------------------------------------- */

typedef struct pending {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    uint64_t since;
    struct pending *prev, *next;
} pending;

/* What sniff() saw: a protocol (skiff__proto), or one of these. */
enum { P_WAIT = -1, P_CLOSED = -2 };

static int sniff(int fd)
{
    char buf[8];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return P_CLOSED;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? P_WAIT : P_CLOSED;
    if ((unsigned char)buf[0] == 0x16)
        return SKIFF__PROTO_TLS;
    /* A prefix of a binary protocol's preface: wait for more bytes. */
    static const char *const prefaces[] = {"PRI ", "PRPC"};
    for (int k = 0; k < 2; k++) {
        size_t m = (size_t)n < 4 ? (size_t)n : 4;
        if (memcmp(buf, prefaces[k], m) == 0)
            return m < 4 ? P_WAIT : (k == 0 ? SKIFF__PROTO_HTTP2 : SKIFF__PROTO_BRPC);
    }
    return SKIFF__PROTO_HTTP1;
}

static void dispatch(skiff__server *s, int fd, const struct sockaddr *addr, socklen_t len, int p)
{
    if (p < 0) {
        close(fd);
        return;
    }
    const skiff__frontend *fe = skiff__frontend_of((skiff__proto)p);
    if (fe) {
        fe->adopt(s, fd, addr, len);
        return;
    }
    static _Atomic int told;
    if (!atomic_exchange(&told, 1))
        skiff_log(
            SKIFF_LOG_WARN,
            "a client spoke %s on port %d: not served (HTTP/1.1, brpc and gRPC are); closing such "
            "connections (logged once)",
            proto_names[p], s->port);
    atomic_fetch_add(&s->conn_refused_proto, 1);
    close(fd);
}

static void unlink_pending(pending **head, pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        *head = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void *acceptor_main(void *arg)
{
    skiff__server *s = arg;
    pthread_setname_np(pthread_self(), "sk-accept");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        skiff_log(SKIFF_LOG_ERROR, "acceptor: epoll_create1: %s", strerror(errno));
        return NULL;
    }
    static char listen_tag, listen_tag2, wake_tag;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_tag};
    epoll_ctl(ep, EPOLL_CTL_ADD, s->listen_fd, &ev);
    if (s->listen_fd2 >= 0) {
        ev.data.ptr = &listen_tag2;
        epoll_ctl(ep, EPOLL_CTL_ADD, s->listen_fd2, &ev);
    }
    ev.data.ptr = &wake_tag;
    epoll_ctl(ep, EPOLL_CTL_ADD, s->wake_fd, &ev);
    pending *head = NULL;
    uint64_t sniff_limit = (uint64_t)s->cfg->request_timeout_s * 1000000000ull;
    bool running = true;
    while (running) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 1000);
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &wake_tag) {
                running = false;
                break;
            }
            if (tag == &listen_tag || tag == &listen_tag2) {
                int lfd = tag == &listen_tag ? s->listen_fd : s->listen_fd2;
                for (;;) {
                    struct sockaddr_storage sa;
                    socklen_t sl = sizeof(sa);
                    int fd =
                        accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                            continue;
                        if (errno == EMFILE || errno == ENFILE)
                            skiff_log(SKIFF_LOG_ERROR, "accept: %s (raise ulimit -n)",
                                      strerror(errno));
                        break;
                    }
                    atomic_fetch_add(&s->conn_accepted, 1);
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    int p = sniff(fd);
                    if (p != P_WAIT) {
                        dispatch(s, fd, (struct sockaddr *)&sa, sl, p);
                        continue;
                    }
                    pending *pd = skiff__calloc(1, sizeof(*pd));
                    if (!pd) {
                        close(fd);
                        continue;
                    }
                    pd->fd = fd;
                    memcpy(&pd->addr, &sa, sl);
                    pd->addr_len = sl;
                    pd->since = skiff__now_ns();
                    struct epoll_event pe = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = pd};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &pe) != 0) {
                        close(fd);
                        skiff__free(pd);
                        continue;
                    }
                    pd->next = head;
                    if (head)
                        head->prev = pd;
                    head = pd;
                }
                continue;
            }
            pending *pd = tag;
            int p = sniff(pd->fd);
            if (p == P_WAIT && !(evs[i].events & (EPOLLHUP | EPOLLERR)))
                continue;
            epoll_ctl(ep, EPOLL_CTL_DEL, pd->fd, NULL);
            unlink_pending(&head, pd);
            dispatch(s, pd->fd, (struct sockaddr *)&pd->addr, pd->addr_len,
                     p == P_WAIT ? P_CLOSED : p);
            skiff__free(pd);
        }
        /* Connections that never said anything. */
        uint64_t now = skiff__now_ns();
        for (pending *pd = head, *next; pd; pd = next) {
            next = pd->next;
            if (now - pd->since > sniff_limit || !running) {
                epoll_ctl(ep, EPOLL_CTL_DEL, pd->fd, NULL);
                unlink_pending(&head, pd);
                close(pd->fd);
                if (running)
                    atomic_fetch_add(&s->conn_sniff_timeout, 1);
                skiff__free(pd);
            }
        }
    }
    while (head) {
        pending *pd = head;
        head = pd->next;
        close(pd->fd);
        skiff__free(pd);
    }
    close(ep);
    return NULL;
}

/* ---- startup ------------------------------------------------------------------ */

/* Listens on host:port into s->listen_fd (s->port), or with second into
 * s->listen_fd2 (s->port2). */
static skiff_status_t *listen_on(skiff__server *s, const char *host, int port, bool second)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "--host %s: %s", host, gai_strerror(rc));
    int err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
            err = errno;
            close(fd);
            continue;
        }
        struct sockaddr_storage sa;
        socklen_t sl = sizeof(sa);
        getsockname(fd, (struct sockaddr *)&sa, &sl);
        int got = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&sa)->sin_port);
        *(second ? &s->port2 : &s->port) = got;
        *(second ? &s->listen_fd2 : &s->listen_fd) = fd;
        freeaddrinfo(res);
        return NULL;
    }
    freeaddrinfo(res);
    return skiff_status_new(err == EADDRINUSE ? SKIFF_CODE_ALREADY_EXISTS : SKIFF_CODE_UNAVAILABLE,
                            "cannot listen on %s:%d: %s", host, port, strerror(err));
}

static skiff_status_t *make_specs(skiff__served *sm)
{
    const skiff__model_desc *d = sm->d;
    sm->in_specs = skiff__calloc((size_t)d->n_feed + 1, sizeof(skiff__io_spec));
    sm->out_specs = skiff__calloc((size_t)d->n_fetch + 1, sizeof(skiff__io_spec));
    if (!sm->in_specs || !sm->out_specs)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    for (int pass = 0; pass < 2; pass++) {
        const skiff__model_var *vars = pass ? d->fetch : d->feed;
        skiff__io_spec *specs = pass ? sm->out_specs : sm->in_specs;
        int n = pass ? d->n_fetch : d->n_feed;
        for (int i = 0; i < n; i++) {
            specs[i] = (skiff__io_spec){.name = vars[i].name,
                                        .alias = vars[i].alias,
                                        .dtype = vars[i].dtype,
                                        .ndim = vars[i].ndim,
                                        .dims = vars[i].dims,
                                        .batched = vars[i].batched,
                                        .is_lod = vars[i].is_lod,
                                        .optional = false};
        }
    }
    sm->io = (skiff__model_io){sm->in_specs, d->n_feed, sm->out_specs, d->n_fetch};
    return NULL;
}

static void var_line(const skiff__model_var *v, bool feed)
{
    int64_t dims[SKIFF_MAX_DIMS];
    int n = 0;
    if (v->batched)
        dims[n++] = v->fixed_batch;
    for (int i = 0; i < v->ndim && n < SKIFF_MAX_DIMS; i++)
        dims[n++] = v->dims[i];
    char shape[160];
    if (v->ndim < 0)
        snprintf(shape, sizeof(shape), "(any shape)");
    else
        skiff_shape_str(n, dims, shape, sizeof(shape));
    skiff_log(SKIFF_LOG_INFO, "    %s %-20s %-8s %-14s%s%s", feed ? "input " : "output", v->alias,
              skiff_dtype_name(v->dtype), shape, strcmp(v->alias, v->name) ? " tensor " : "",
              strcmp(v->alias, v->name) ? v->name : "");
    if (v->is_lod)
        skiff_log(SKIFF_LOG_INFO,
                  "           (LoD: variable-length sequences, offsets in "
                  "\"%s.lod\")",
                  v->alias);
}

static void summary(skiff__server *s)
{
    const skiff__serve_config *c = s->cfg;
    skiff_log(SKIFF_LOG_INFO,
              "skiff %s serving %d model%s on http://%s:%d (%d I/O thread%s, %d "
              "core%s available)",
              SKIFF_VERSION, s->repo.n, s->repo.n == 1 ? "" : "s", c->host, s->port, s->io_threads,
              s->io_threads == 1 ? "" : "s", skiff_cpu_count(), skiff_cpu_count() == 1 ? "" : "s");
    for (int i = 0; i < s->repo.n; i++) {
        const skiff__model_desc *d = s->repo.models[i].d;
        char inl[64], wu[32], mem[64] = "";
        if (d->warmup_us >= 1000.0)
            snprintf(wu, sizeof(wu), "%.1f ms", d->warmup_us / 1000.0);
        else
            snprintf(wu, sizeof(wu), "%.1f us", d->warmup_us);
        if (d->inline_ok)
            snprintf(inl, sizeof(inl), "inline when idle (warm-up %s)", wu);
        else if (d->warmup_us > 0)
            snprintf(inl, sizeof(inl), "queued (warm-up %s)", wu);
        else
            snprintf(inl, sizeof(inl), "queued");
        if (d->inst_bytes >= ((size_t)1 << 20))
            snprintf(mem, sizeof(mem),
                     ", %.1f MiB of activations and scratch per instance at 1 row",
                     (double)d->inst_bytes / 1048576.0);
        else if (d->inst_bytes)
            snprintf(mem, sizeof(mem),
                     ", %.1f KiB of activations and scratch per instance at 1 row",
                     (double)d->inst_bytes / 1024.0);
        skiff_log(SKIFF_LOG_INFO, "  model '%s' from %s, precision %s", d->name, d->onnx_path,
                  d->precision ? d->precision : "fp32");
        skiff_log(SKIFF_LOG_INFO, "    %d instance%s x %d thread%s, queue %d, %s%s%s", d->instances,
                  d->instances == 1 ? "" : "s", d->threads, d->threads == 1 ? "" : "s",
                  d->queue_size, inl, mem, d->mergeable ? "" : ", no batch merging");
        if (d->mergeable) {
            char sizes[160] = "any";
            size_t off = 0;
            for (int k = 0; k < d->n_batch_sizes && off < sizeof(sizes); k++)
                off += (size_t)snprintf(sizes + off, sizeof(sizes) - off, "%s%d", k ? "," : "",
                                        d->batch_sizes[k]);
            skiff_log(SKIFF_LOG_INFO,
                      "    dynamic batching up to %d rows, %d us max queue delay, padded to %s "
                      "rows",
                      d->max_batch, d->max_queue_delay_us, sizes);
        }
        for (int k = 0; k < d->n_feed; k++)
            var_line(&d->feed[k], true);
        for (int k = 0; k < d->n_fetch; k++)
            var_line(&d->fetch[k], false);
    }
    for (int p = 0; p < SKIFF__PROTO_COUNT; p++)
        if (frontends[p] && frontends[p]->log_summary)
            frontends[p]->log_summary(s);
    if (s->pipe) {
        const skiff__pipe_conf *pc = s->pconf;
        const char *name = skiff__pipeline_name(s->pipe);
        skiff_log(SKIFF_LOG_INFO,
                  "  pipeline '%s' from %s: POST /%s/{method} (key/value JSON) and gRPC "
                  "baidu.paddle_serving.pipeline_serving.PipelineService/inference",
                  name, pc->path, name);
        if (s->listen_fd2 >= 0)
            skiff_log(SKIFF_LOG_INFO, "    also listening on port %d (rpc_port)", s->port2);
        for (int i = 0; i < pc->n_ops; i++) {
            const skiff__pipe_op_conf *oc = &pc->ops[i];
            char ins[256] = "the request";
            size_t off = 0;
            for (int k = 0; k < oc->n_input_ops && off < sizeof(ins); k++)
                off += (size_t)snprintf(ins + off, sizeof(ins) - off, "%s%s", k ? ", " : "",
                                        oc->input_ops[k]);
            skiff_log(SKIFF_LOG_INFO,
                      "    op %-12s %d thread%s, reads %s; %s%s%d preprocess step%s, %d "
                      "postprocess step%s%s",
                      oc->name, oc->concurrency, oc->concurrency == 1 ? "" : "s", ins,
                      oc->py_obj ? "Python op, " : "", oc->model_config ? "model, " : "no model, ",
                      oc->n_pre, oc->n_pre == 1 ? "" : "s", oc->n_post, oc->n_post == 1 ? "" : "s",
                      oc->timeout_ms > 0 ? ", with a timeout" : "");
        }
    }
    skiff_log(SKIFF_LOG_INFO, "ready (SIGTERM drains, grace %d s)", c->grace_s);
}

/* Instances x threads per model within the cores, unless the user chose both. */
static void budget(skiff__server *s)
{
    const skiff__serve_config *c = s->cfg;
    int cores = skiff_cpu_count(), m = s->repo.n > 0 ? s->repo.n : 1;
    int th = c->threads, inst = c->instances;
    if (th <= 0 && inst <= 0) {
        th = 1;
        inst = cores / m;
    } else if (inst <= 0) {
        inst = cores / (th * m);
    } else if (th <= 0) {
        th = cores / (inst * m);
    } else if (inst * th * m > cores) {
        skiff_log(SKIFF_LOG_WARN,
                  "%d model%s x %d instances x %d threads = %d compute threads on "
                  "%d cores: expect them to compete",
                  m, m == 1 ? "" : "s", inst, th, inst * th * m, cores);
    }
    s->threads = th > 0 ? th : 1;
    s->instances = inst > 0 ? inst : 1;
    s->io_threads = c->io_threads > 0 ? c->io_threads : (cores < 4 ? cores : 4);
    if (s->io_threads < 1)
        s->io_threads = 1;
}

static skiff_log_level_t parse_level(const char *s)
{
    if (!strcmp(s, "debug"))
        return SKIFF_LOG_DEBUG;
    if (!strcmp(s, "warn"))
        return SKIFF_LOG_WARN;
    if (!strcmp(s, "error"))
        return SKIFF_LOG_ERROR;
    return SKIFF_LOG_INFO;
}

void skiff__server_close(skiff__server *s)
{
    if (!s)
        return;
    if (s->acceptor_started) {
        uint64_t w = 1;
        if (write(s->wake_fd, &w, sizeof(w)) < 0)
            skiff_log(SKIFF_LOG_WARN, "acceptor wake-up failed: %s", strerror(errno));
        pthread_join(s->acceptor, NULL);
        s->acceptor_started = false;
    }
    for (int p = 0; p < SKIFF__PROTO_COUNT; p++)
        if (frontends[p])
            frontends[p]->stop(s);
    skiff__pipeline_free(s->pipe);
    for (int i = 0; s->pconf && i < s->pconf->n_ops; i++)
        skiff__py_obj_free(s->pconf->ops[i].py_obj);
    skiff__py_graph_free(s->pygraph);
    for (int i = 0; s->repo.models && i < s->repo.n; i++) {
        if (s->repo.models[i].sv)
            s->repo.models[i].sv->ops->close(s->repo.models[i].sv);
        skiff__free(s->repo.models[i].in_specs);
        skiff__free(s->repo.models[i].out_specs);
    }
    skiff__free(s->repo.models);
    skiff__free(s->model_paths);
    if (s->pconf)
        skiff__pipe_conf_free(s->pconf);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->listen_fd2 >= 0)
        close(s->listen_fd2);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    skiff__free(s);
}

static char *conf_str(skiff__pipe_conf *c, const char *s)
{
    return skiff__arena_strndup(c->arena, s, strlen(s));
}

/* --py_main: the script's WebService names the pipeline and its ops (in its
 * graph's order, with its input ops); config.yml's op sections of the same
 * names give their settings, sections the graph does not use are left out.
 * Then every `class:` op of the file is made. */
static skiff_status_t *python_ops(skiff__server *s)
{
    skiff__pipe_conf *c = s->pconf;
    skiff_status_t *st;
    if (s->cfg->py_main) {
        if ((st = skiff__py_load_script(s->cfg->py_main, &s->pygraph)))
            return st;
        skiff__py_graph *g = s->pygraph;
        skiff__pipe_op_conf *ops = skiff__arena_calloc(c->arena, (size_t)g->n_ops + 1, sizeof(*ops),
                                                       _Alignof(skiff__pipe_op_conf));
        char *name = conf_str(c, g->name);
        if (!ops || !name)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        for (int i = 0; i < g->n_ops; i++) {
            skiff__py_op_decl *d = &g->ops[i];
            skiff__pipe_op_conf *oc = &ops[i];
            const skiff__pipe_op_conf *from = NULL;
            for (int k = 0; k < c->n_ops; k++)
                if (!strcmp(c->ops[k].name, d->name))
                    from = &c->ops[k];
            if (from) {
                *oc = *from;
            } else {
                *oc = (skiff__pipe_op_conf){.concurrency = 1,
                                            .timeout_ms = -1,
                                            .retry = 1,
                                            .batch_size = 1,
                                            .auto_batching_timeout = -1,
                                            .client_type = SKIFF__PIPE_LOCAL,
                                            .precision = "fp32",
                                            .mem_optim = true};
                if (!(oc->name = conf_str(c, d->name)))
                    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
            }
            oc->input_ops = skiff__arena_calloc(c->arena, (size_t)d->n_inputs + 1, sizeof(char *),
                                                _Alignof(char *));
            if (!oc->input_ops)
                return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
            for (int k = 0; k < d->n_inputs; k++)
                if (!(oc->input_ops[k] = conf_str(c, d->inputs[k])))
                    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
            oc->n_input_ops = d->n_inputs;
            oc->py_class = NULL;
            oc->py_obj = d->obj; /* the conf owns the reference now */
            d->obj = NULL;
        }
        for (int k = 0; k < c->n_ops; k++) {
            bool used = false;
            for (int i = 0; i < g->n_ops; i++)
                used = used || !strcmp(c->ops[k].name, g->ops[i].name);
            if (!used)
                skiff_log(SKIFF_LOG_INFO,
                          "%s:%d: op.%s: not an op of %s's pipeline (left out, as Paddle does)",
                          c->path, c->ops[k].line, c->ops[k].name, s->cfg->py_main);
        }
        c->ops = ops;
        c->n_ops = g->n_ops;
        c->name = name;
    }
    for (int i = 0; i < c->n_ops; i++) {
        skiff__pipe_op_conf *oc = &c->ops[i];
        if (oc->py_class && !oc->py_obj &&
            (st = skiff__py_new_op(oc->py_class, oc->name, c->dir, &oc->py_obj)))
            return skiff_status_wrap(st, "%s:%d", c->path, oc->line);
    }
    return NULL;
}

/* The pipeline's find callback: an op's model in the repository. */

/* --use_calib: a model directory (or a model file's directory) must hold the
 * calibration.json that `skiff quantize` writes next to a QDQ model.onnx, so
 * a flag meant for a calibrated model never serves an fp32 one by mistake. */
static skiff_status_t *check_calibrated(const char *path)
{
    char dir[4096], rec[4200];
    struct stat sb;
    snprintf(dir, sizeof(dir), "%s", path);
    if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof(dir), ".");
    }
    snprintf(rec, sizeof(rec), "%s/calibration.json", dir);
    if (stat(rec, &sb) == 0 && S_ISREG(sb.st_mode))
        return NULL;
    return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                            "--use_calib: %s is not a calibrated model (no calibration.json; "
                            "write one with skiff quantize --model %s --calib DIR)",
                            path, path);
}

static skiff__servable *pipe_model(void *user, const skiff__pipe_op_conf *op)
{
    skiff__server *s = user;
    for (int i = 0; i < s->repo.n; i++)
        if (s->model_paths[i] && !strcmp(s->model_paths[i], op->model_config))
            return s->repo.models[i].sv;
    return NULL;
}

skiff_status_t *skiff__server_open(const skiff__serve_config *cfg, bool do_listen,
                                   skiff__server **out_server)
{
    *out_server = NULL;
    skiff__codec_init();
    skiff__server *s = skiff__calloc(1, sizeof(*s));
    if (!s)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    s->cfg = cfg;
    s->listen_fd = -1;
    s->listen_fd2 = -1;
    s->wake_fd = -1;
    s->start_ns = skiff__now_ns();
    s->start_wall_s = (int64_t)time(NULL);
    s->limits = (skiff__codec_limits){.max_elements = cfg->max_elements};
    skiff_status_t *st = NULL;
    const char **names = NULL;
    if (cfg->pipeline && (st = skiff__pipe_conf_load(cfg->pipeline, &s->pconf)))
        goto fail;
    if (s->pconf && (st = python_ops(s)))
        goto fail;
    /* --model's models, then each pipeline model once, named by its op */
    int n_pipe = s->pconf ? s->pconf->n_ops : 0;
    s->repo.models = skiff__calloc((size_t)(cfg->n_models + n_pipe) + 1, sizeof(*s->repo.models));
    s->model_paths = skiff__calloc((size_t)(cfg->n_models + n_pipe) + 1, sizeof(char *));
    names = skiff__calloc((size_t)(cfg->n_models + n_pipe) + 1, sizeof(char *));
    if (!s->repo.models || !s->model_paths || !names) {
        st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto fail;
    }
    for (int i = 0; i < cfg->n_models; i++) {
        s->model_paths[i] = cfg->models[i];
        names[i] = cfg->model_names && cfg->model_names[i] ? cfg->model_names[i] : cfg->name;
    }
    s->repo.n = cfg->n_models;
    for (int k = 0; k < n_pipe; k++) {
        const skiff__pipe_op_conf *oc = &s->pconf->ops[k];
        if (!oc->model_config)
            continue;
        bool seen = false;
        for (int i = cfg->n_models; i < s->repo.n; i++)
            seen = seen || !strcmp(s->model_paths[i], oc->model_config);
        if (!seen) {
            s->model_paths[s->repo.n] = oc->model_config;
            names[s->repo.n++] = oc->name;
        }
    }
    budget(s);
    for (int i = 0; i < s->repo.n; i++) {
        skiff__model_options mo;
        skiff__model_options_default(&mo);
        mo.name = names[i];
        mo.instances = s->instances;
        mo.threads = s->threads;
        mo.max_batch = cfg->batch_infer_size;
        mo.max_queue_delay_us = cfg->max_queue_delay_us;
        mo.batch_sizes = cfg->batch_sizes;
        mo.warmup_batches = cfg->warmup_batches;
        mo.warmup_spec = cfg->warmup_shapes;
        mo.queue_size = cfg->queue_size;
        mo.inline_mode = !strcmp(cfg->inline_mode, "on")    ? SKIFF__INLINE_ON
                         : !strcmp(cfg->inline_mode, "off") ? SKIFF__INLINE_OFF
                                                            : SKIFF__INLINE_AUTO;
        mo.inline_max_us = cfg->inline_max_us;
        mo.inline_slots = s->io_threads;
        mo.optimize = cfg->ir_optim;
        mo.model_filename = cfg->model_filename;
        mo.params_filename = cfg->params_filename;
        /* a pipeline op's model too (by the op's name where NAME=P), unless its
         * local_service_conf.precision names another than fp32 */
        mo.precision_spec = cfg->precision;
        /* a pipeline op's auto-batching is its model's: batch_size rows at
         * most per run, auto_batching_timeout the longest a backlog waits */
        for (int k = 0; i >= cfg->n_models && s->pconf && k < s->pconf->n_ops; k++) {
            const skiff__pipe_op_conf *oc = &s->pconf->ops[k];
            if (!oc->model_config || strcmp(oc->model_config, s->model_paths[i]) != 0)
                continue;
            if (oc->batch_size > 1)
                mo.max_batch = oc->batch_size;
            if (oc->auto_batching_timeout > 0)
                mo.max_queue_delay_us =
                    (int)(oc->auto_batching_timeout > 10000 ? 10000000
                                                            : oc->auto_batching_timeout * 1000);
            if (oc->thread_num > 0)
                mo.threads = oc->thread_num;
            mo.warmup_dims = oc->warmup_dims;
            mo.warmup_ndims = oc->warmup_ndims;
            mo.n_warmup_shapes = oc->n_warmup_shapes;
            /* a split op's parallel groups each run on an instance of their own */
            if (oc->split_parallel > mo.instances)
                mo.instances = oc->split_parallel;
            if (oc->precision && strcmp(oc->precision, "fp32") != 0) {
                mo.precision_spec = NULL;
                if (!skiff_precision_parse(oc->precision, &mo.precision))
                    mo.precision = SKIFF_PRECISION_FP32; /* fp16: noted when the conf was read */
            }
            break;
        }
        if (cfg->use_calib && i < cfg->n_models && (st = check_calibrated(s->model_paths[i])))
            goto fail;
        /* a calibrated model is served in int8 unless --precision says more */
        if (cfg->use_calib && i < cfg->n_models &&
            (!cfg->precision || strcmp(cfg->precision, "fp32") == 0)) {
            mo.precision_spec = NULL;
            mo.precision = SKIFF_PRECISION_INT8;
        }
        uint64_t t0 = skiff__now_ns();
        if ((st = skiff__servable_open_model(s->model_paths[i], &mo, &s->repo.models[i].sv))) {
            if (i >= cfg->n_models)
                st = skiff_status_wrap(st, "%s: op %s", cfg->pipeline, names[i]);
            goto fail;
        }
        s->repo.models[i].d = s->repo.models[i].sv->ops->describe(s->repo.models[i].sv);
        skiff_log(SKIFF_LOG_DEBUG, "loaded %s in %.1f ms", s->model_paths[i],
                  (double)(skiff__now_ns() - t0) / 1e6);
        for (int j = 0; j < i; j++) {
            if (!strcmp(s->repo.models[j].d->name, s->repo.models[i].d->name)) {
                st = skiff_status_new(
                    SKIFF_CODE_ALREADY_EXISTS,
                    "two models are named '%s' (%s and %s): name them with --model DIR:NAME",
                    s->repo.models[i].d->name, s->model_paths[j], s->model_paths[i]);
                goto fail;
            }
        }
        if ((st = make_specs(&s->repo.models[i])))
            goto fail;
    }
    if (s->pconf) {
        for (int i = 0; s->pconf->notes && i < s->pconf->n_notes; i++)
            skiff_log(SKIFF_LOG_INFO, "%s", s->pconf->notes[i]);
        if ((st = skiff__pipeline_new(s->pconf, pipe_model, s, &s->pipe)))
            goto fail;
    }
    if (do_listen) {
        /* a pipeline listens on its http_port and rpc_port unless --port is given */
        int p1 = cfg->port, p2 = 0;
        if (s->pconf && !cfg->port_given && (s->pconf->http_port || s->pconf->rpc_port)) {
            p1 = s->pconf->http_port ? s->pconf->http_port : s->pconf->rpc_port;
            p2 = s->pconf->http_port && s->pconf->rpc_port != p1 ? s->pconf->rpc_port : 0;
        }
        if ((st = listen_on(s, cfg->host, p1, false)) ||
            (p2 && (st = listen_on(s, cfg->host, p2, true))))
            goto fail;
    }
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake_fd < 0) {
        st = skiff_status_new(SKIFF_CODE_INTERNAL, "eventfd: %s", strerror(errno));
        goto fail;
    }
    for (int p = 0; p < SKIFF__PROTO_COUNT; p++)
        if (frontends[p] && (st = frontends[p]->start(s)))
            goto fail;
    if (do_listen) {
        if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
            st = skiff_status_new(SKIFF_CODE_INTERNAL, "cannot start the acceptor thread");
            goto fail;
        }
        s->acceptor_started = true;
    }
    atomic_store(&s->ready, true);
    skiff__free(names);
    *out_server = s;
    return NULL;
fail:
    skiff__free(names);
    skiff__server_close(s);
    return st;
}

int skiff__serve_run(const skiff__serve_config *cfg)
{
    skiff_log_set_level(parse_level(cfg->log_level));
    /* Signals go to the main thread only: block them before any thread
     * starts (threads inherit the mask), then sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    skiff__server *s = NULL;
    skiff_status_t *st = skiff__server_open(cfg, true, &s);
    if (st) {
        skiff_log(SKIFF_LOG_ERROR, "%s", skiff_status_message(st));
        skiff_status_free(st);
        return 1;
    }
    summary(s);
    if (cfg->port_file) {
        FILE *f = fopen(cfg->port_file, "w");
        if (f) {
            fprintf(f, "%d\n", s->port);
            fclose(f);
        } else {
            skiff_log(SKIFF_LOG_WARN, "cannot write --port_file %s: %s", cfg->port_file,
                      strerror(errno));
        }
    }

    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    skiff_log(SKIFF_LOG_INFO, "%s: draining (%lld requests in flight, grace %d s)",
              sig == SIGTERM ? "SIGTERM" : "SIGINT", (long long)atomic_load(&s->in_flight),
              cfg->grace_s);
    /* New connections are refused from here: the listening socket closes, and
     * only then do the front ends start to turn calls away. A client whose call
     * was turned away (a baidu_std connection closed unanswered) reconnects at
     * once; the other order would let that reconnection reach this process
     * again, through a load balancer that still counts it live, and be cut. */
    uint64_t one = 1;
    if (write(s->wake_fd, &one, sizeof(one)) < 0)
        skiff_log(SKIFF_LOG_WARN, "acceptor wake-up failed: %s", strerror(errno));
    pthread_join(s->acceptor, NULL);
    s->acceptor_started = false;
    close(s->listen_fd);
    s->listen_fd = -1;
    if (s->listen_fd2 >= 0)
        close(s->listen_fd2);
    s->listen_fd2 = -1;
    atomic_store(&s->draining, true);
    for (int p = 0; p < SKIFF__PROTO_COUNT; p++)
        if (frontends[p])
            frontends[p]->drain(s);
    uint64_t until = skiff__now_ns() + (uint64_t)cfg->grace_s * 1000000000ull;
    while (atomic_load(&s->in_flight) > 0 && skiff__now_ns() < until) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int64_t left = atomic_load(&s->in_flight);
    if (left > 0) {
        /* Queued jobs still point at their connections: the process is about
         * to exit, so leave the rest to the kernel. The exit status tells an
         * orchestrator that this stop was forced. */
        skiff_log(SKIFF_LOG_ERROR,
                  "grace period of %d s over with %lld request%s still in flight: cut; exiting "
                  "with status %d",
                  cfg->grace_s, (long long)left, left == 1 ? "" : "s", SKIFF__EXIT_CUT);
        /* No orderly teardown with jobs in flight: exit now (exit handlers,
         * a sanitizer's leak check among them, would only see the state the
         * cut leaves behind). */
        fflush(NULL);
        _exit(SKIFF__EXIT_CUT);
    }
    skiff__server_close(s);
    skiff_log(SKIFF_LOG_INFO, "drained; bye");
    return 0;
}
