/* core_server.c - KServe v2 ModelInfer served by gRPC core's C API (libgrpc)
 * instead of skiff's nghttp2 front end, for bench/grpc_core/run.sh: the one
 * measurement behind docs/grpc.md's choice of HTTP/2 library.
 *
 *   core_server [--grpc_port N] [--grpc_port_file F] [--cq_threads N] SERVE_FLAGS...
 *
 * SERVE_FLAGS are `skiff serve`'s (--model DIR, --threads, --instances, ...):
 * the models load through the same server object (skiff__server_open without
 * a listening socket), and each call goes through the shared inference path
 * (infer.c) with api SKIFF__API_KSERVE_GRPC, so the work per call - decode
 * the ModelInferRequest, check, run inline or queue, encode the
 * ModelInferResponse - is the nghttp2 front end's. Only the transport
 * differs: HTTP/2 and gRPC framing are core's.
 *
 * Threads: N completion-queue threads (default: as many as skiff's gRPC I/O
 * threads), each with its own queue and a stock of requested calls. A call's
 * state machine runs on the thread of its queue: requested (ModelInfer is a
 * registered method whose message core reads before it reports the call,
 * as gRPC C++ does for unary methods: no RECV_MESSAGE batch) -> decode,
 * infer -> answer sent (RECV_CLOSE_ON_SERVER in the same batch) -> freed.
 * Core has no way to post a user event to a queue, so a job that was queued
 * rather than run inline is encoded and answered from the instance thread
 * that ran it (grpc_call_start_batch may be called from any thread); skiff's
 * front end hands it back to its I/O thread instead.
 *
 * Only ModelInfer is served; another method gets UNIMPLEMENTED. SIGTERM or
 * SIGINT shuts down: calls in flight are cancelled, then everything is freed.
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "serve/infer.h"
#include "serve/serve_int.h"
#include "skiff/skiff.h"

#define CALLS_REQUESTED 32  /* ModelInfer calls each queue keeps asked for */
#define GENERIC_REQUESTED 2 /* calls of other methods */
#define MAX_CQ_THREADS 64

static const char infer_method[] = "/inference.GRPCInferenceService/ModelInfer";

typedef struct cqthr {
    grpc_completion_queue *cq;
    pthread_t thr;
} cqthr;

typedef enum cstate { CS_REQUESTED, CS_SENT } cstate;

typedef struct ccall {
    cstate state;
    cqthr *t;
    bool registered; /* ModelInfer, its message read with the call */
    grpc_call *call;
    grpc_call_details details; /* generic calls only */
    gpr_timespec deadline;     /* registered calls only */
    grpc_metadata_array md;
    grpc_byte_buffer *in;
    grpc_byte_buffer *resp;
    grpc_slice status_details;
    int cancelled;
    uint64_t t0; /* when core handed the call over */
    bool infer_started;
    skiff__infer_call ic;
    skiff__buf msg;
    skiff__buf out;
} ccall;

static grpc_server *server;
static void *infer_rm; /* ModelInfer, registered */
static skiff__server *srv;
static _Atomic bool shutting_down;

/* Asks core for one more call: ModelInfer (registered, its message read
 * with it) or any other method (generic, answered UNIMPLEMENTED). */
static void request_call(cqthr *t, bool registered)
{
    if (atomic_load(&shutting_down))
        return;
    ccall *c = skiff__calloc(1, sizeof(*c));
    if (!c) {
        skiff_log(SKIFF_LOG_ERROR, "core_server: out of memory asking for a call");
        return;
    }
    c->t = t;
    c->registered = registered;
    c->status_details = grpc_empty_slice();
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    grpc_call_error e =
        registered
            ? grpc_server_request_registered_call(server, infer_rm, &c->call, &c->deadline, &c->md,
                                                  &c->in, t->cq, t->cq, c)
            : grpc_server_request_call(server, &c->call, &c->details, &c->md, t->cq, t->cq, c);
    if (e != GRPC_CALL_OK) {
        skiff_log(SKIFF_LOG_ERROR, "core_server: asking for a call: %d", (int)e);
        grpc_call_details_destroy(&c->details);
        grpc_metadata_array_destroy(&c->md);
        skiff__free(c);
    }
}

static void call_free(ccall *c)
{
    if (c->infer_started)
        skiff__infer_finish(&c->ic);
    if (c->in)
        grpc_byte_buffer_destroy(c->in);
    if (c->resp)
        grpc_byte_buffer_destroy(c->resp);
    grpc_slice_unref(c->status_details);
    if (c->call)
        grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    skiff__buf_free(&c->msg);
    skiff__buf_free(&c->out);
    skiff__free(c);
}

/* The answer: headers, the message when code is OK, the status; with
 * RECV_CLOSE_ON_SERVER, so the batch completes when the call is over. */
static void answer(ccall *c, skiff_code_t code, const char *msg)
{
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (code == SKIFF_CODE_OK) {
        /* The encoded answer is handed to core as it is: no copy. */
        grpc_slice s =
            c->out.len ? grpc_slice_new(c->out.data, c->out.len, skiff__free) : grpc_empty_slice();
        if (c->out.len)
            c->out = (skiff__buf){0};
        c->resp = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->resp;
    }
    grpc_slice_unref(c->status_details);
    c->status_details = grpc_slice_from_copied_string(code == SKIFF_CODE_OK ? "" : msg);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)skiff_code_grpc_status(code);
    ops[n++].data.send_status_from_server.status_details =
        code == SKIFF_CODE_OK ? NULL : &c->status_details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    c->state = CS_SENT;
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, c, NULL);
    if (e != GRPC_CALL_OK) {
        skiff_log(SKIFF_LOG_ERROR, "core_server: answer batch: %d", (int)e);
        call_free(c);
    }
}

static void answer_infer(ccall *c)
{
    atomic_fetch_add(&srv->grpc_answers[c->ic.res.code == SKIFF_CODE_OK ? 0 : 1], 1);
    answer(c, c->ic.res.code, c->ic.res.msg);
}

/* A queued job ran: on the instance thread (see the file comment). */
static void infer_done(void *user)
{
    ccall *c = user;
    skiff__infer_resume(&c->ic, &c->out);
    answer_infer(c);
}

/* ModelInferRequest's model_name (field 1, length-delimited) without
 * decoding the rest: the shared path needs the model before the decoder. */
static bool peek_model_name(const uint8_t *p, size_t n, const uint8_t **out, size_t *out_len)
{
    size_t i = 0;
    while (i < n) {
        uint64_t key = 0, v = 0;
        for (int sh = 0; i < n && sh < 64; sh += 7) {
            key |= (uint64_t)(p[i] & 0x7f) << sh;
            if (!(p[i++] & 0x80))
                break;
        }
        unsigned wire = (unsigned)(key & 7);
        if (wire == 0) {
            while (i < n && (p[i++] & 0x80))
                ;
            continue;
        }
        if (wire == 1 || wire == 5) {
            i += wire == 1 ? 8 : 4;
            continue;
        }
        if (wire != 2)
            return false;
        for (int sh = 0; i < n && sh < 64; sh += 7) {
            v |= (uint64_t)(p[i] & 0x7f) << sh;
            if (!(p[i++] & 0x80))
                break;
        }
        if (v > n - i)
            return false;
        if ((key >> 3) == 1) {
            *out = p + i;
            *out_len = (size_t)v;
            return true;
        }
        i += (size_t)v;
    }
    return false;
}

/* The request message is in: copy it out of core's slices, infer. */
static void on_read(ccall *c)
{
    if (!c->in) {
        answer(c, SKIFF_CODE_INVALID_ARG, "the call carries no request message");
        return;
    }
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, c->in)) {
        answer(c, SKIFF_CODE_INVALID_ARG, "the request message does not decompress");
        return;
    }
    size_t total = grpc_byte_buffer_length(c->in);
    bool ok = skiff__buf_reserve(&c->msg, total ? total : 1);
    grpc_slice s;
    while (ok && grpc_byte_buffer_reader_next(&rd, &s)) {
        ok = skiff__buf_append(&c->msg, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
        grpc_slice_unref(s);
    }
    grpc_byte_buffer_reader_destroy(&rd);
    grpc_byte_buffer_destroy(c->in);
    c->in = NULL;
    if (!ok) {
        answer(c, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory reading the request");
        return;
    }
    if (atomic_load_explicit(&srv->draining, memory_order_relaxed)) {
        answer(c, SKIFF_CODE_UNAVAILABLE, "the server is shutting down");
        return;
    }
    const uint8_t *name = NULL;
    size_t len = 0;
    if (!peek_model_name((const uint8_t *)c->msg.data, c->msg.len, &name, &len) || !len) {
        answer(c, SKIFF_CODE_INVALID_ARG, "the ModelInferRequest names no model_name");
        return;
    }
    skiff__served *sm = skiff__repo_find(&srv->repo, (const char *)name, len);
    if (!sm) {
        char m[200];
        snprintf(m, sizeof(m), "unknown model '%.*s'", (int)(len > 128 ? 128 : len), name);
        answer(c, SKIFF_CODE_NOT_FOUND, m);
        return;
    }
    /* grpc-timeout, as the nghttp2 front end passes it (rounded up to a ms). */
    char tmo[24];
    const char *timeout = NULL;
    gpr_timespec dl = c->deadline;
    if (gpr_time_cmp(dl, gpr_inf_future(dl.clock_type)) != 0) {
        gpr_timespec left = gpr_time_sub(dl, gpr_now(dl.clock_type));
        int64_t ms = left.tv_sec * 1000 + (left.tv_nsec + 999999) / 1000000;
        snprintf(tmo, sizeof(tmo), "%" PRId64, ms > 0 ? ms : 1);
        timeout = tmo;
    }
    skiff__infer_args a = {.api = SKIFF__API_KSERVE_GRPC,
                           .model = sm,
                           .timeout_ms = timeout,
                           .t0 = c->t0,
                           .log_id = atomic_fetch_add(&srv->log_seq, 1) + 1};
    c->infer_started = true;
    if (skiff__infer_start(srv, &c->ic, &a, &c->msg, infer_done, c, &c->out))
        answer_infer(c);
}

static void on_event(cqthr *t, ccall *c, bool ok)
{
    if (c->state == CS_SENT || !ok) { /* over, or the server is shutting down */
        call_free(c);
        return;
    }
    c->t0 = skiff__now_ns();
    request_call(t, c->registered);
    if (c->registered)
        on_read(c);
    else
        answer(c, SKIFF_CODE_UNSUPPORTED, "only ModelInfer is served here");
}

static void *cq_main(void *arg)
{
    cqthr *t = arg;
    for (int i = 0; i < CALLS_REQUESTED; i++)
        request_call(t, true);
    for (int i = 0; i < GENERIC_REQUESTED; i++)
        request_call(t, false);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(t->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE && ev.tag)
            on_event(t, ev.tag, ev.success != 0);
    }
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: core_server [--grpc_port N] [--grpc_port_file F] [--cq_threads N] "
                    "SERVE_FLAGS... (skiff serve's: --model DIR, --threads N, ...)\n");
    return 2;
}

int main(int argc, char **argv)
{
    long port = 0, nthr = 0;
    const char *port_file = NULL;
    char **rest = skiff__calloc((size_t)argc + 1, sizeof(*rest));
    if (!rest)
        return 1;
    int nrest = 0;
    rest[nrest++] = "serve";
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--grpc_port") && i + 1 < argc) {
            port = strtol(argv[++i], &end, 10);
            if (*end || port < 0 || port > 65535)
                return usage();
        } else if (!strcmp(argv[i], "--grpc_port_file") && i + 1 < argc) {
            port_file = argv[++i];
        } else if (!strcmp(argv[i], "--cq_threads") && i + 1 < argc) {
            nthr = strtol(argv[++i], &end, 10);
            if (*end || nthr < 1 || nthr > MAX_CQ_THREADS)
                return usage();
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    /* Signals are taken on this thread only, as `skiff serve` does. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    skiff__serve_config cfg;
    bool help = false;
    skiff_status_t *st = skiff__serve_config_parse(nrest, rest, &cfg, &help);
    if (st || help) {
        if (st)
            fprintf(stderr, "core_server: %s\n", skiff_status_message(st));
        else
            skiff__serve_config_help(stderr);
        skiff_status_free(st);
        skiff__serve_config_free(&cfg);
        skiff__free(rest);
        return st ? 2 : 0;
    }
    if ((st = skiff__server_open(&cfg, false, &srv))) {
        fprintf(stderr, "core_server: %s\n", skiff_status_message(st));
        skiff_status_free(st);
        skiff__serve_config_free(&cfg);
        skiff__free(rest);
        return 1;
    }
    if (!nthr)
        nthr = srv->io_threads;

    grpc_init();
    grpc_arg args[] = {
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
         .value.integer = cfg.max_body_size > INT32_MAX ? INT32_MAX : (int)cfg.max_body_size},
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
         .value.integer = INT32_MAX},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_CONCURRENT_STREAMS, .value.integer = 256},
    };
    grpc_channel_args cargs = {.num_args = sizeof(args) / sizeof(args[0]), .args = args};
    server = grpc_server_create(&cargs, NULL);
    infer_rm = grpc_server_register_method(server, infer_method, NULL,
                                           GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    cqthr thr[MAX_CQ_THREADS];
    for (long i = 0; i < nthr; i++) {
        thr[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(server, thr[i].cq, NULL);
    }
    char addr[64];
    snprintf(addr, sizeof(addr), "%s:%ld", cfg.host, port);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int bound = grpc_server_add_http2_port(server, addr, creds);
    grpc_server_credentials_release(creds);
    if (!bound) {
        fprintf(stderr, "core_server: cannot listen on %s\n", addr);
        return 1;
    }
    grpc_server_start(server);
    for (long i = 0; i < nthr; i++)
        pthread_create(&thr[i].thr, NULL, cq_main, &thr[i]);
    skiff_log(SKIFF_LOG_INFO, "core_server: libgrpc %s on %s:%d, %ld completion-queue threads",
              grpc_version_string(), cfg.host, bound, nthr);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (f) {
            fprintf(f, "%d\n", bound);
            fclose(f);
        }
    }

    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    atomic_store(&shutting_down, true);
    atomic_store(&srv->draining, true);
    grpc_completion_queue *sq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_server_shutdown_and_notify(server, sq, NULL);
    grpc_server_cancel_all_calls(server);
    grpc_completion_queue_pluck(sq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_server_destroy(server);
    grpc_completion_queue_shutdown(sq);
    grpc_completion_queue_destroy(sq);
    for (long i = 0; i < nthr; i++)
        grpc_completion_queue_shutdown(thr[i].cq);
    for (long i = 0; i < nthr; i++) {
        pthread_join(thr[i].thr, NULL);
        grpc_completion_queue_destroy(thr[i].cq);
    }
    grpc_shutdown();
    /* run.sh reads this line: h2load counts an error answer (HTTP 200,
     * grpc-status other than 0) as a success. */
    fprintf(stderr, "core_server: answers ok=%" PRIu64 " error=%" PRIu64 "\n",
            atomic_load(&srv->grpc_answers[0]), atomic_load(&srv->grpc_answers[1]));
    skiff__server_close(srv);
    skiff__serve_config_free(&cfg);
    skiff__free(rest);
    return 0;
}
