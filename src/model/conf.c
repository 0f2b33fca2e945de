/* conf.c - Paddle Serving's GeneralModelConfig: read from the text format
 * (on core's protobuf text reader), checked field by field with errors that
 * name the file, line and column, and written back in Paddle's text layout
 * and protobuf binary form. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/core.h"
#include "model/conf.h"

/* ---- GeneralModelConfig ------------------------------------------------------ */

skiff_dtype_t skiff__paddle_type_dtype(int type) { return skiff__dtype_from_paddle(type); }

int skiff__paddle_type_from_dtype(skiff_dtype_t dtype) { return skiff__dtype_paddle_code(dtype); }

static void var_clear(skiff__conf_var *v)
{
    skiff__free(v->name);
    skiff__free(v->alias_name);
}

void skiff__model_conf_free(skiff__model_conf *conf)
{
    if (!conf)
        return;
    for (int i = 0; i < conf->n_feed; i++)
        var_clear(&conf->feed[i]);
    for (int i = 0; i < conf->n_fetch; i++)
        var_clear(&conf->fetch[i]);
    skiff__free(conf->feed);
    skiff__free(conf->fetch);
    skiff__free(conf);
}

static skiff_status_t *take_string(const char *origin, const skiff__pt_field *f, const char *var,
                                   char **dst)
{
    if (f->kind != SKIFF__PT_STRING)
        return skiff__pt_error_at(origin, f->line, f->col, "%s.%s expects a quoted string", var,
                                  f->name);
    if (*dst)
        return skiff__pt_error_at(origin, f->line, f->col, "%s.%s is given more than once", var,
                                  f->name);
    if (strlen(f->value) != f->value_len)
        return skiff__pt_error_at(origin, f->line, f->col, "%s.%s contains a NUL byte", var,
                                  f->name);
    *dst = skiff__strdup(f->value);
    if (!*dst)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
}

static skiff_status_t *map_var(const char *origin, const skiff__pt_field *m, bool feed,
                               skiff__conf_var *v)
{
    const char *var = feed ? "feed_var" : "fetch_var";
    const char *type_field = feed ? "feed_type" : "fetch_type";
    const char *other_type = feed ? "fetch_type" : "feed_type";
    bool seen_lod = false, seen_type = false;
    skiff_status_t *st;
    for (int i = 0; i < m->n_fields; i++) {
        const skiff__pt_field *f = &m->fields[i];
        if (!strcmp(f->name, "name")) {
            if ((st = take_string(origin, f, var, &v->name)))
                return st;
        } else if (!strcmp(f->name, "alias_name")) {
            if ((st = take_string(origin, f, var, &v->alias_name)))
                return st;
        } else if (!strcmp(f->name, "is_lod_tensor")) {
            if (seen_lod)
                return skiff__pt_error_at(origin, f->line, f->col,
                                          "%s.is_lod_tensor is given more than once", var);
            if (!skiff__pt_get_bool(f, &v->is_lod_tensor))
                return skiff__pt_error_at(origin, f->line, f->col,
                                          "%s.is_lod_tensor expects true or false, got %s%s%s", var,
                                          f->kind == SKIFF__PT_MESSAGE ? "a message" : "'",
                                          f->kind == SKIFF__PT_MESSAGE ? "" : f->value,
                                          f->kind == SKIFF__PT_MESSAGE ? "" : "'");
            seen_lod = true;
        } else if (!strcmp(f->name, type_field)) {
            int64_t t;
            if (seen_type)
                return skiff__pt_error_at(origin, f->line, f->col, "%s.%s is given more than once",
                                          var, type_field);
            if (!skiff__pt_get_i64(f, &t))
                return skiff__pt_error_at(origin, f->line, f->col,
                                          "%s.%s expects an integer type code", var, type_field);
            if (t < 0 || t > 1000 || strcmp(skiff__paddle_type_name((int)t), "unknown") == 0)
                return skiff__pt_error_at(
                    origin, f->line, f->col,
                    "%s.%s %lld is not a Paddle type code (0 int64, 1 float32, "
                    "2 int32, 3 float64, 4 int16, 5 float16, 6 bfloat16, 7 uint8, "
                    "8 int8, 9 bool, 10 complex64, 11 complex128, 20 string)",
                    var, type_field, (long long)t);
            v->type = (int)t;
            seen_type = true;
        } else if (!strcmp(f->name, "shape")) {
            int64_t d;
            if (!skiff__pt_get_i64(f, &d) || d < INT32_MIN || d > INT32_MAX)
                return skiff__pt_error_at(origin, f->line, f->col, "%s.shape expects an int32",
                                          var);
            if (v->n_shape >= SKIFF__CONF_MAX_SHAPE)
                return skiff__pt_error_at(
                    origin, f->line, f->col,
                    "%s.shape has more than %d dims (skiff supports %d with the "
                    "batch dim)",
                    var, SKIFF__CONF_MAX_SHAPE, SKIFF_MAX_DIMS);
            v->shape[v->n_shape++] = d;
        } else if (!strcmp(f->name, other_type)) {
            return skiff__pt_error_at(origin, f->line, f->col,
                                      "unknown field '%s' in %s (did you mean %s?)", f->name, var,
                                      type_field);
        } else {
            return skiff__pt_error_at(origin, f->line, f->col,
                                      "unknown field '%s' in %s (expected name, alias_name, "
                                      "is_lod_tensor, %s, shape)",
                                      f->name, var, type_field);
        }
    }
    if (!v->name || !v->name[0])
        return skiff__pt_error_at(origin, m->line, m->col, "%s has no name", var);
    if (!v->alias_name) {
        v->alias_name = skiff__strdup(v->name);
        if (!v->alias_name)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    return NULL;
}

skiff_status_t *skiff__model_conf_parse(const char *text, size_t len, const char *origin,
                                        skiff__model_conf **out_conf)
{
    *out_conf = NULL;
    skiff__pt_field *root;
    skiff_status_t *st = skiff__pt_parse(text, len, origin, &root);
    if (st)
        return st;
    skiff__model_conf *conf = skiff__calloc(1, sizeof(*conf));
    int n_feed = 0, n_fetch = 0;
    for (int i = 0; i < root->n_fields; i++) {
        if (!strcmp(root->fields[i].name, "feed_var"))
            n_feed++;
        else if (!strcmp(root->fields[i].name, "fetch_var"))
            n_fetch++;
    }
    if (!conf || (n_feed && !(conf->feed = skiff__calloc((size_t)n_feed, sizeof(*conf->feed)))) ||
        (n_fetch && !(conf->fetch = skiff__calloc((size_t)n_fetch, sizeof(*conf->fetch))))) {
        st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto fail;
    }
    for (int i = 0; i < root->n_fields; i++) {
        const skiff__pt_field *f = &root->fields[i];
        bool feed = !strcmp(f->name, "feed_var");
        if (!feed && strcmp(f->name, "fetch_var") != 0) {
            st =
                skiff__pt_error_at(origin, f->line, f->col,
                                   "unknown field '%s' in GeneralModelConfig (expected feed_var or "
                                   "fetch_var)",
                                   f->name);
            goto fail;
        }
        if (f->kind != SKIFF__PT_MESSAGE) {
            st = skiff__pt_error_at(origin, f->line, f->col, "%s expects a message '{ ... }'",
                                    f->name);
            goto fail;
        }
        skiff__conf_var *v = feed ? &conf->feed[conf->n_feed++] : &conf->fetch[conf->n_fetch++];
        if ((st = map_var(origin, f, feed, v)))
            goto fail;
        /* Aliases are the keys clients use: two vars behind one key would
         * make requests ambiguous. */
        skiff__conf_var *list = feed ? conf->feed : conf->fetch;
        int n = feed ? conf->n_feed : conf->n_fetch;
        for (int j = 0; j < n - 1; j++) {
            if (!strcmp(list[j].alias_name, v->alias_name)) {
                st = skiff__pt_error_at(origin, f->line, f->col, "%s alias_name '%s' is used twice",
                                        f->name, v->alias_name);
                goto fail;
            }
        }
    }
    skiff__pt_free(root);
    *out_conf = conf;
    return NULL;
fail:
    skiff__pt_free(root);
    skiff__model_conf_free(conf);
    return st;
}

skiff_status_t *skiff__model_conf_read_file(const char *path, skiff__model_conf **out_conf)
{
    void *data;
    size_t size;
    *out_conf = NULL;
    skiff_status_t *st = skiff__read_file(path, &data, &size);
    if (st)
        return st;
    st = skiff__model_conf_parse(data, size, path, out_conf);
    skiff__free(data);
    return st;
}

static bool sb_quoted(skiff__buf *b, const char *s)
{
    size_t need = skiff__pt_quote(s, strlen(s), NULL, 0);
    char *q = skiff__malloc(need + 1);
    if (!q)
        return false;
    skiff__pt_quote(s, strlen(s), q, need + 1);
    bool ok = skiff__buf_append(b, q, need);
    skiff__free(q);
    return ok;
}

static bool format_var(skiff__buf *b, const skiff__conf_var *v, bool feed)
{
    bool ok = skiff__buf_printf(b, "%s {\n  name: ", feed ? "feed_var" : "fetch_var") &&
              sb_quoted(b, v->name ? v->name : "") &&
              skiff__buf_append(b, "\n  alias_name: ", 15) &&
              sb_quoted(b, v->alias_name ? v->alias_name : (v->name ? v->name : "")) &&
              skiff__buf_printf(b, "\n  is_lod_tensor: %s\n  %s: %d\n",
                                v->is_lod_tensor ? "true" : "false",
                                feed ? "feed_type" : "fetch_type", v->type);
    for (int i = 0; ok && i < v->n_shape; i++)
        ok = skiff__buf_printf(b, "  shape: %lld\n", (long long)v->shape[i]);
    return ok && skiff__buf_append(b, "}\n", 2);
}

skiff_status_t *skiff__model_conf_format(const skiff__model_conf *conf, char **out_text,
                                         size_t *out_len)
{
    skiff__buf b = {0};
    bool ok = skiff__buf_append(&b, "", 0);
    for (int i = 0; ok && i < conf->n_feed; i++)
        ok = format_var(&b, &conf->feed[i], true);
    for (int i = 0; ok && i < conf->n_fetch; i++)
        ok = format_var(&b, &conf->fetch[i], false);
    if (!ok) {
        skiff__free(b.data);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory formatting conf");
    }
    *out_text = b.data;
    if (out_len)
        *out_len = b.len;
    return NULL;
}

/* ---- binary form (*.stream.prototxt) ------------------------------------------ */

static bool sb_varint(skiff__buf *b, uint64_t v)
{
    char tmp[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        tmp[n++] = (char)(byte | (v ? 0x80 : 0));
    } while (v);
    return skiff__buf_append(b, tmp, n);
}

static bool sb_bytes_field(skiff__buf *b, int field, const char *s, size_t n)
{
    return sb_varint(b, ((uint64_t)field << 3) | 2) && sb_varint(b, n) &&
           skiff__buf_append(b, s, n);
}

/* int32 fields encode negatives as 10-byte varints (sign-extended). */
static bool sb_int_field(skiff__buf *b, int field, int64_t v)
{
    return sb_varint(b, (uint64_t)field << 3) && sb_varint(b, (uint64_t)v);
}

/* Appends field `field` holding the FeedVar/FetchVar message of v. */
static bool encode_var(skiff__buf *out, int field, const skiff__conf_var *v)
{
    skiff__buf b = {0};
    const char *name = v->name ? v->name : "";
    const char *alias = v->alias_name ? v->alias_name : name;
    bool ok = skiff__buf_append(&b, "", 0) && sb_bytes_field(&b, 1, name, strlen(name)) &&
              sb_bytes_field(&b, 2, alias, strlen(alias)) &&
              sb_int_field(&b, 3, v->is_lod_tensor ? 1 : 0) && sb_int_field(&b, 4, v->type);
    for (int i = 0; ok && i < v->n_shape; i++)
        ok = sb_int_field(&b, 5, (int32_t)v->shape[i]);
    ok = ok && sb_bytes_field(out, field, b.data, b.len);
    skiff__free(b.data);
    return ok;
}

skiff_status_t *skiff__model_conf_encode(const skiff__model_conf *conf, uint8_t **out_data,
                                         size_t *out_len)
{
    skiff__buf b = {0};
    bool ok = skiff__buf_append(&b, "", 0);
    for (int i = 0; ok && i < conf->n_feed; i++)
        ok = encode_var(&b, 1, &conf->feed[i]);
    for (int i = 0; ok && i < conf->n_fetch; i++)
        ok = encode_var(&b, 2, &conf->fetch[i]);
    if (!ok) {
        skiff__free(b.data);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory encoding conf");
    }
    *out_data = (uint8_t *)b.data;
    *out_len = b.len;
    return NULL;
}
