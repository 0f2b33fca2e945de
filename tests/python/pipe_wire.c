/* pipe_wire.c - a filter over the Paddle pipeline codecs for
 * tests/python/pipeline_pb_check.py, which checks them against the official
 * protobuf library: reads one message on stdin in the form argv[1] names,
 * writes it to stdout in the form argv[2] names. Forms: req-json, req-pb,
 * resp-json, resp-pb (a request stays a request). Exit 1 with the status
 * message on stderr when the codecs refuse. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "proto/codec_pipeline.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: pipe_wire IN-FORM OUT-FORM < in > out\n");
        return 2;
    }
    skiff__codec_init();
    skiff__buf in = {0}, out = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
        if (!skiff__buf_append(&in, chunk, n))
            return 2;
    const char *body = in.data ? in.data : "";
    skiff__pipe_msg *m = NULL;
    skiff_status_t *st;
    if (!strcmp(argv[1], "req-json"))
        st = skiff__pipe_decode_request_json(body, in.len, NULL, &m);
    else if (!strcmp(argv[1], "req-pb"))
        st = skiff__pipe_decode_request_pb(body, in.len, NULL, &m);
    else if (!strcmp(argv[1], "resp-json"))
        st = skiff__pipe_decode_response_json(body, in.len, NULL, &m);
    else
        st = skiff__pipe_decode_response_pb(body, in.len, NULL, &m);
    if (!st) {
        if (!strcmp(argv[2], "req-json"))
            st = skiff__pipe_encode_request_json(m, &out);
        else if (!strcmp(argv[2], "req-pb"))
            st = skiff__pipe_encode_request_pb(m, &out);
        else if (!strcmp(argv[2], "resp-json"))
            st = skiff__pipe_encode_response_json(m, &out);
        else
            st = skiff__pipe_encode_response_pb(m, &out);
    }
    int rc = 0;
    if (st) {
        fprintf(stderr, "%s: %s\n", skiff_code_name(skiff_status_code(st)),
                skiff_status_message(st));
        skiff_status_free(st);
        rc = 1;
    } else if (out.len) {
        rc = fwrite(out.data, 1, out.len, stdout) == out.len ? 0 : 2;
    }
    skiff__pipe_msg_free(m);
    skiff__buf_free(&in);
    skiff__buf_free(&out);
    return rc;
}
