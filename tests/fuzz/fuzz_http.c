/* fuzz_http.c - the HTTP frontend, in process: bytes a client could send go
 * through libmicrohttpd into skiff's routing, limits, body handling, decoders,
 * scheduler and encoders, over a socketpair to a server serving the uci
 * example model (no listening socket). The input is the raw byte stream of a
 * connection, so request lines, headers, chunked bodies and pipelined
 * requests are all in reach.
 *
 * Properties beyond "no crash, no leak": whatever comes back is HTTP/1.x, and
 * the server still answers a good request on a fresh connection afterwards
 * (checked every 64 inputs, so fuzzing stays fast). */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/core.h"
#include "fuzz.h"
#include "serve/serve_int.h"

static skiff__server *srv;
static skiff__serve_config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    signal(SIGPIPE, SIG_IGN);
    static char model[1024];
    snprintf(model, sizeof(model), "%s", __FILE__);
    for (int up = 0; up < 3; up++) { /* <root>/tests/fuzz/fuzz_http.c */
        char *slash = strrchr(model, '/');
        if (slash)
            *slash = '\0';
        else /* compiled with a relative path: assume the repository root */
            snprintf(model, sizeof(model), ".");
    }
    strncat(model, "/examples/uci_housing/uci_housing_model", sizeof(model) - strlen(model) - 1);
    char *args[] = {"serve", "--model",
                    model,   "--name",
                    "uci",   "--io_threads",
                    "1",     "--instances",
                    "1",     "--max_body_size",
                    "65536", "--max_header_size",
                    "4096",  "--request_timeout_s",
                    "2",     "--idle_timeout_s",
                    "2",     "--queue_size",
                    "8",     "--log_level",
                    "error"};
    bool help;
    skiff_status_t *st =
        skiff__serve_config_parse((int)(sizeof(args) / sizeof(args[0])), args, &cfg, &help);
    if (!st)
        st = skiff__server_open(&cfg, false, &srv);
    if (st) {
        fprintf(stderr, "fuzz_http: %s\n", skiff_status_message(st));
        abort();
    }
    return 0;
}

/* Sends `data` on a new connection, half-closes, collects the answer (at
 * most cap bytes kept) until the server closes or 3 s pass. */
static size_t exchange(const uint8_t *data, size_t size, char *out, size_t cap)
{
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    skiff__http_adopt(srv, sv[0], (struct sockaddr *)&addr, sizeof(addr));
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    size_t sent = 0, got = 0;
    bool wr_closed = false;
    uint64_t until = skiff__now_ns() + 3000000000ull;
    while (skiff__now_ns() < until) {
        if (sent == size && !wr_closed) {
            shutdown(sv[1], SHUT_WR);
            wr_closed = true;
        }
        struct pollfd p = {.fd = sv[1], .events = POLLIN | (wr_closed ? 0 : POLLOUT)};
        if (poll(&p, 1, 100) <= 0)
            continue;
        if ((p.revents & POLLOUT) && sent < size) {
            ssize_t n = send(sv[1], data + sent, size - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0)
                sent = size; /* the server closed: stop sending */
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[4096];
            ssize_t n = recv(sv[1], buf, sizeof(buf), 0);
            if (n <= 0)
                break;
            size_t keep = got < cap ? cap - got : 0;
            if (keep > (size_t)n)
                keep = (size_t)n;
            memcpy(out + got, buf, keep);
            got += (size_t)n;
        }
    }
    close(sv[1]);
    return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long runs;
    char out[64];
    size_t got = exchange(data, size, out, sizeof(out));
    if (got >= 8)
        FUZZ_CHECK(memcmp(out, "HTTP/1.", 7) == 0);
    if (++runs % 64 == 1) {
        static const char good[] =
            "POST /uci/prediction HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            "Content-Length: 55\r\n\r\n"
            "{\"feed\":[{\"x\":[0,0,0,0,0,0,0,0,0,0,0,0,0]}],\"fetch\":[]}";
        char ans[256];
        size_t n = exchange((const uint8_t *)good, sizeof(good) - 1, ans, sizeof(ans) - 1);
        ans[n < sizeof(ans) ? n : sizeof(ans) - 1] = '\0';
        FUZZ_CHECK(strncmp(ans, "HTTP/1.1 200", 12) == 0);
    }
    return 0;
}
