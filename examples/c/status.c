/* status.c - skiff/status.h: errors as objects. A public function returns
 * NULL on success or a status the caller owns, with a code and a message;
 * each code has its HTTP and gRPC equivalents.
 *
 *     cc status.c $(pkg-config --cflags --libs skiff) -o status && ./status
 */
#include <stdio.h>

#include <skiff/status.h>

/* A function in the library's style: NULL on success, an error otherwise. */
static skiff_status_t *parse_port(int port)
{
    if (port <= 0 || port > 65535)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "port: expected 1..65535, got %d", port);
    return NULL;
}

int main(void)
{
    skiff_status_t *st = parse_port(8080);
    if (st) { /* not expected */
        skiff_status_free(st);
        return 1;
    }
    st = parse_port(70000);
    /* Wrapping adds context and keeps the code; it frees the status it wraps. */
    st = skiff_status_wrap(st, "config '%s'", "server.yml");
    printf("code %s (%d), HTTP %d, gRPC %d\n", skiff_code_name(skiff_status_code(st)),
           (int)skiff_status_code(st), skiff_code_http_status(skiff_status_code(st)),
           skiff_code_grpc_status(skiff_status_code(st)));
    printf("message: %s\n", skiff_status_message(st));
    int ok = skiff_status_code(st) == SKIFF_CODE_INVALID_ARG;
    skiff_status_free(st);
    /* NULL reads as success everywhere. */
    ok = ok && skiff_status_code(NULL) == SKIFF_CODE_OK && skiff_status_message(NULL)[0] == '\0';
    skiff_status_free(NULL);
    return ok ? 0 : 1;
}
