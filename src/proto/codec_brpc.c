/* codec_brpc.c - brpc's baidu_std frames: the 12-byte header, RpcMeta (on
 * protobuf-c code generated from pb/baidu_rpc_meta.proto), the payload with
 * its optional gzip compression, both directions. Pure functions over bytes,
 * so the front end (src/serve/brpc) and a client share them and the fuzzer
 * reaches all of them (tests/fuzz/fuzz_brpc.c).
 *
 * Sizes are checked before anything is read: meta_size within body_size,
 * attachment_size within what the meta leaves, the inflated payload within
 * the caller's limit (a small gzip member cannot grow past it: inflation
 * stops at the limit).
 */
#include <limits.h>
#include <string.h>
#include <zlib.h>

#include "baidu_rpc_meta.pb-c.h"
#include "core/core.h"
#include "proto/codec_int.h"

typedef Brpc__Policy__RpcMeta pb_meta;

static void *pb_alloc(void *data, size_t n) { return skiff__malloc(n ? n : 1); }
static void pb_free(void *data, void *p) { skiff__free(p); }
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

skiff__brpc_head_result skiff__brpc_head(const void *p, size_t len, uint32_t *out_body_size,
                                         uint32_t *out_meta_size)
{
    const unsigned char *b = p;
    size_t m = len < 4 ? len : 4;
    if (memcmp(b, "PRPC", m) != 0)
        return SKIFF__BRPC_HEAD_MAGIC;
    if (len < SKIFF__BRPC_HEAD)
        return SKIFF__BRPC_HEAD_MORE;
    *out_body_size = be32(b + 4);
    *out_meta_size = be32(b + 8);
    if (*out_meta_size > *out_body_size)
        return SKIFF__BRPC_HEAD_META;
    return SKIFF__BRPC_HEAD_OK;
}

static const char *str_or_empty(const char *s) { return s ? s : ""; }

skiff_status_t *skiff__brpc_meta_decode(const void *p, size_t len, skiff__brpc_meta *out)
{
    memset(out, 0, sizeof(*out));
    pb_meta *m = brpc__policy__rpc_meta__unpack(&pb_allocator, len, p);
    if (!m)
        return skiff__alloc_failed()
                   ? skiff__codec_oom()
                   : skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                      "the %zu-byte RpcMeta is not a brpc RpcMeta message", len);
    out->msg = m;
    out->service = out->method = out->error_text = "";
    if (m->request) {
        out->has_request = true;
        out->service = str_or_empty(m->request->service_name);
        out->method = str_or_empty(m->request->method_name);
        out->log_id = m->request->has_log_id ? m->request->log_id : 0;
        out->timeout_ms = m->request->has_timeout_ms ? m->request->timeout_ms : 0;
    }
    if (m->response) {
        out->has_response = true;
        out->error_code = m->response->has_error_code ? m->response->error_code : 0;
        out->error_text = str_or_empty(m->response->error_text);
    }
    out->compress_type = m->has_compress_type ? m->compress_type : 0;
    out->correlation_id = m->has_correlation_id ? m->correlation_id : 0;
    out->attachment_size = m->has_attachment_size ? m->attachment_size : 0;
    for (size_t i = 0; i < m->n_user_fields; i++) {
        const Brpc__Policy__UserFieldsEntry *e = m->user_fields[i];
        if (e->key && !strcmp(e->key, "model"))
            out->model = str_or_empty(e->value);
    }
    return NULL;
}

void skiff__brpc_meta_free(skiff__brpc_meta *m)
{
    if (m->msg)
        brpc__policy__rpc_meta__free_unpacked(m->msg, &pb_allocator);
    memset(m, 0, sizeof(*m));
}

/* ---- gzip ------------------------------------------------------------------------ */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    return skiff__calloc(items ? items : 1, size ? size : 1);
}
static void z_free(voidpf opaque, voidpf p) { skiff__free(p); }

skiff_status_t *skiff__brpc_gunzip(const void *p, size_t len, int64_t max_out, skiff__buf *out)
{
    if (len > UINT_MAX)
        return skiff__codec_bad("gzip payload of %zu bytes is too large", len);
    z_stream z = {.zalloc = z_alloc, .zfree = z_free};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return skiff__codec_oom();
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)len;
    size_t start = out->len;
    skiff_status_t *st = NULL;
    for (;;) {
        if (!skiff__buf_reserve(out, 64 << 10)) {
            st = skiff__codec_oom();
            break;
        }
        size_t room = out->cap - out->len - 1;
        if (room > UINT_MAX)
            room = UINT_MAX;
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)room;
        int rc = inflate(&z, Z_NO_FLUSH);
        out->len += room - z.avail_out;
        if ((int64_t)(out->len - start) > max_out) {
            st = skiff__codec_bad("the gzip payload inflates past the %lld-byte limit "
                                  "(--max_body_size)",
                                  (long long)max_out);
            break;
        }
        if (rc == Z_STREAM_END) {
            if (z.avail_in != 0)
                st = skiff__codec_bad("%u bytes follow the gzip payload's end", z.avail_in);
            break;
        }
        if (rc == Z_MEM_ERROR) {
            st = skiff__codec_oom();
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            st = skiff__codec_bad("the gzip payload is broken at byte %lu: %s", z.total_in,
                                  z.msg ? z.msg : "invalid data");
            break;
        }
        if (rc == Z_BUF_ERROR && z.avail_in == 0) {
            st = skiff__codec_bad("the gzip payload ends early (after %u bytes)", (unsigned)len);
            break;
        }
    }
    inflateEnd(&z);
    if (st)
        out->len = start;
    if (out->data)
        out->data[out->len] = '\0';
    return st;
}

skiff_status_t *skiff__brpc_gzip(const void *p, size_t len, skiff__buf *out)
{
    if (len > UINT_MAX)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "a payload of %zu bytes is too large "
                                "to gzip",
                                len);
    z_stream z = {.zalloc = z_alloc, .zfree = z_free};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return skiff__codec_enc_oom();
    uLong bound = deflateBound(&z, (uLong)len);
    skiff_status_t *st = NULL;
    if (!skiff__buf_reserve(out, bound + 1)) {
        st = skiff__codec_enc_oom();
    } else {
        z.next_in = (Bytef *)(uintptr_t)p;
        z.avail_in = (uInt)len;
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)bound;
        int rc = deflate(&z, Z_FINISH);
        if (rc != Z_STREAM_END)
            st = skiff_status_new(SKIFF_CODE_INTERNAL, "gzip: deflate failed (%d)", rc);
        else
            out->len += bound - z.avail_out;
        out->data[out->len] = '\0';
    }
    deflateEnd(&z);
    return st;
}

/* ---- payloads -------------------------------------------------------------------- */

skiff_status_t *skiff__brpc_payload(const void *body, size_t body_size, size_t meta_size,
                                    const skiff__brpc_meta *m, int64_t max_payload, skiff__buf *out)
{
    if (meta_size > body_size)
        return skiff__codec_bad("meta_size %zu is larger than body_size %zu", meta_size, body_size);
    size_t rest = body_size - meta_size;
    if (m->attachment_size < 0 || (size_t)m->attachment_size > rest)
        return skiff__codec_bad("attachment_size %d does not fit the %zu bytes after the "
                                "RpcMeta",
                                m->attachment_size, rest);
    const char *p = (const char *)body + meta_size;
    size_t len = rest - (size_t)m->attachment_size;
    if (m->compress_type == SKIFF__BRPC_GZIP)
        return skiff__brpc_gunzip(p, len, max_payload, out);
    if (m->compress_type != 0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "compress_type %d is not served (0 none and 2 gzip are)",
                                m->compress_type);
    if ((int64_t)len > max_payload)
        return skiff__codec_bad("the %zu-byte payload is over the %lld-byte limit", len,
                                (long long)max_payload);
    if (!skiff__buf_append(out, p, len))
        return skiff__codec_oom();
    return NULL;
}

/* The header, the meta and the (compressed) payload onto out. */
static skiff_status_t *frame(const pb_meta *m, const void *payload, size_t len, bool gzip,
                             skiff__buf *out)
{
    size_t start = out->len;
    size_t mlen = protobuf_c_message_get_packed_size(&m->base);
    if (!skiff__buf_reserve(out, SKIFF__BRPC_HEAD + mlen + 1))
        return skiff__codec_enc_oom();
    out->len += SKIFF__BRPC_HEAD;
    out->len += protobuf_c_message_pack(&m->base, (uint8_t *)out->data + out->len);
    skiff_status_t *st = NULL;
    if (gzip && len)
        st = skiff__brpc_gzip(payload, len, out);
    else if (len && !skiff__buf_append(out, payload, len))
        st = skiff__codec_enc_oom();
    size_t body = out->len - start - SKIFF__BRPC_HEAD;
    if (!st && body > UINT32_MAX)
        st = skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                              "a %zu-byte body does not fit a brpc frame (4 GiB at most)", body);
    if (st) {
        out->len = start;
        return st;
    }
    unsigned char *h = (unsigned char *)out->data + start;
    memcpy(h, "PRPC", 4);
    put_be32(h + 4, (uint32_t)body);
    put_be32(h + 8, (uint32_t)mlen);
    out->data[out->len] = '\0';
    return NULL;
}

skiff_status_t *skiff__brpc_encode_response(int64_t correlation_id, int32_t error_code,
                                            const char *error_text, int32_t compress_type,
                                            const void *payload, size_t len, skiff__buf *out)
{
    pb_meta m;
    Brpc__Policy__RpcResponseMeta r;
    brpc__policy__rpc_meta__init(&m);
    brpc__policy__rpc_response_meta__init(&r);
    m.response = &r;
    m.has_correlation_id = true;
    m.correlation_id = correlation_id;
    bool gzip = error_code == 0 && compress_type == SKIFF__BRPC_GZIP && len > 0;
    if (gzip) {
        m.has_compress_type = true;
        m.compress_type = SKIFF__BRPC_GZIP;
    }
    if (error_code) {
        r.has_error_code = true;
        r.error_code = error_code;
        r.error_text = (char *)(error_text ? error_text : "");
        len = 0;
    }
    return frame(&m, payload, len, gzip, out);
}

skiff_status_t *skiff__brpc_encode_request(const skiff__brpc_call_out *c, const void *payload,
                                           size_t len, skiff__buf *out)
{
    pb_meta m;
    Brpc__Policy__RpcRequestMeta r;
    Brpc__Policy__UserFieldsEntry e, *ep = &e;
    brpc__policy__rpc_meta__init(&m);
    brpc__policy__rpc_request_meta__init(&r);
    m.request = &r;
    r.service_name = (char *)(c->service ? c->service : "");
    r.method_name = (char *)(c->method ? c->method : "");
    r.has_log_id = c->log_id != 0;
    r.log_id = c->log_id;
    r.has_timeout_ms = c->timeout_ms != 0;
    r.timeout_ms = c->timeout_ms;
    m.has_correlation_id = true;
    m.correlation_id = c->correlation_id;
    m.has_compress_type = c->compress_type != 0;
    m.compress_type = c->compress_type;
    if (c->model) {
        brpc__policy__user_fields_entry__init(&e);
        e.key = "model";
        e.value = (char *)c->model;
        m.n_user_fields = 1;
        m.user_fields = &ep;
    }
    if (c->compress_type != 0 && c->compress_type != SKIFF__BRPC_GZIP)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "compress_type %d: only 0 (none) and 2 (gzip) are written",
                                c->compress_type);
    return frame(&m, payload, len, c->compress_type == SKIFF__BRPC_GZIP, out);
}
