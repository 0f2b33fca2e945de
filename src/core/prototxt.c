/* prototxt.c - protobuf text format reader (GeneralModelConfig: model/conf.c).
 *
 * Design: a hand-written recursive-descent parser builds a schema-free tree
 * (skiff__pt_field), and a second pass maps the tree onto the one schema
 * skiff needs (model/conf.c). Keeping the two apart lets the pipeline config and the
 * fuzzer reuse the parser, and keeps every schema error pointing at the exact
 * line and column of the value at fault. Input is untrusted (a model dir may
 * come from anywhere): nesting depth is bounded and every allocation checked.
 */
#include "prototxt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "core.h"

#define PT_MAX_DEPTH 64

typedef struct parser {
    const char *s;
    size_t len;
    size_t pos;
    int line, col;
    const char *origin;
    skiff_status_t *err;
} parser;

/* ---- errors --------------------------------------------------------------- */

skiff_status_t *skiff__pt_error_at(const char *origin, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s:%d:%d: %s", origin ? origin : "<text>",
                            line, col, msg);
}

static void set_err(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(parser *p, const char *fmt, ...)
{
    if (p->err)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->err = skiff__pt_error_at(p->origin, p->line, p->col, "%s", msg);
}

static void set_oom(parser *p)
{
    if (!p->err)
        p->err = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "%s: out of memory parsing",
                                  p->origin ? p->origin : "<text>");
}

/* Describes what sits at the cursor, for "expected X, got Y" messages. */
static void describe_here(const parser *p, char *buf, size_t cap)
{
    if (p->pos >= p->len) {
        snprintf(buf, cap, "end of input");
        return;
    }
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c < 0x20 || c >= 0x7f) {
        snprintf(buf, cap, "byte 0x%02x", c);
        return;
    }
    size_t n = 0;
    while (p->pos + n < p->len && n < 24) {
        unsigned char d = (unsigned char)p->s[p->pos + n];
        if (d <= 0x20 || d >= 0x7f || (n > 0 && strchr("{}<>[]:,;\"'#", d)))
            break;
        n++;
    }
    if (n == 0)
        n = 1;
    snprintf(buf, cap, "'%.*s'", (int)n, p->s + p->pos);
}

/* ---- lexing ---------------------------------------------------------------- */

static void advance(parser *p)
{
    if (p->pos >= p->len)
        return;
    if (p->s[p->pos] == '\n') {
        p->line++;
        p->col = 1;
    } else {
        p->col++;
    }
    p->pos++;
}

static int peekc(const parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static void skip_space(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == '#') {
            while (p->pos < p->len && p->s[p->pos] != '\n')
                advance(p);
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            advance(p);
        } else {
            break;
        }
    }
}

static bool is_ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(int c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

/* Characters of an unquoted scalar: identifiers, integers, floats (1e-5,
 * -inf, 0x1F, 1.5f). */
static bool is_scalar_char(int c) { return is_ident_char(c) || c == '.' || c == '-' || c == '+'; }

/* ---- tree building ----------------------------------------------------------- */

static void field_clear(skiff__pt_field *f)
{
    skiff__free(f->name);
    skiff__free(f->value);
    for (int i = 0; i < f->n_fields; i++)
        field_clear(&f->fields[i]);
    skiff__free(f->fields);
}

void skiff__pt_free(skiff__pt_field *root)
{
    if (!root)
        return;
    field_clear(root);
    skiff__free(root);
}

/* Appends a zeroed child to msg; NULL on out-of-memory. */
static skiff__pt_field *add_child(parser *p, skiff__pt_field *msg, int *cap)
{
    if (msg->n_fields == *cap) {
        int ncap = *cap ? *cap * 2 : 4;
        skiff__pt_field *nf = skiff__realloc(msg->fields, (size_t)ncap * sizeof(*nf));
        if (!nf) {
            set_oom(p);
            return NULL;
        }
        msg->fields = nf;
        *cap = ncap;
    }
    skiff__pt_field *f = &msg->fields[msg->n_fields++];
    memset(f, 0, sizeof(*f));
    return f;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool put_utf8(skiff__buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return skiff__buf_append(b, u, n);
}

/* Reads one quoted string (cursor on the quote) and appends its bytes. */
static bool lex_string(parser *p, skiff__buf *b)
{
    int q = peekc(p);
    int sline = p->line, scol = p->col;
    advance(p);
    for (;;) {
        int c = peekc(p);
        if (c < 0 || c == '\n') {
            if (!p->err)
                p->err = skiff__pt_error_at(p->origin, sline, scol, "unterminated string");
            return false;
        }
        if (c == q) {
            advance(p);
            return true;
        }
        if (c != '\\') {
            if (!skiff__buf_char(b, (char)c)) {
                set_oom(p);
                return false;
            }
            advance(p);
            continue;
        }
        advance(p);
        int e = peekc(p);
        char out;
        switch (e) {
        case 'n': out = '\n'; break;
        case 't': out = '\t'; break;
        case 'r': out = '\r'; break;
        case 'a': out = '\a'; break;
        case 'b': out = '\b'; break;
        case 'f': out = '\f'; break;
        case 'v': out = '\v'; break;
        case '\\': out = '\\'; break;
        case '\'': out = '\''; break;
        case '"': out = '"'; break;
        case '?': out = '?'; break;
        case 'x':
        case 'X': {
            advance(p);
            int v = 0, n = 0;
            while (n < 2 && hexval(peekc(p)) >= 0) {
                v = v * 16 + hexval(peekc(p));
                advance(p);
                n++;
            }
            if (n == 0) {
                set_err(p, "'\\x' escape needs a hex digit");
                return false;
            }
            if (!skiff__buf_char(b, (char)v)) {
                set_oom(p);
                return false;
            }
            continue;
        }
        case 'u':
        case 'U': {
            int want = e == 'u' ? 4 : 8;
            advance(p);
            uint32_t cp = 0;
            for (int i = 0; i < want; i++) {
                int h = hexval(peekc(p));
                if (h < 0) {
                    set_err(p, "'\\%c' escape needs %d hex digits", e, want);
                    return false;
                }
                cp = cp * 16 + (uint32_t)h;
                advance(p);
            }
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                set_err(p, "'\\%c' escape names no Unicode character (0x%x)", e, cp);
                return false;
            }
            if (!put_utf8(b, cp)) {
                set_oom(p);
                return false;
            }
            continue;
        }
        default:
            if (e >= '0' && e <= '7') {
                int v = 0, n = 0;
                while (n < 3 && peekc(p) >= '0' && peekc(p) <= '7') {
                    v = v * 8 + (peekc(p) - '0');
                    advance(p);
                    n++;
                }
                if (v > 255) {
                    set_err(p, "octal escape is larger than a byte");
                    return false;
                }
                if (!skiff__buf_char(b, (char)v)) {
                    set_oom(p);
                    return false;
                }
                continue;
            }
            if (e < 0) {
                set_err(p, "unterminated string");
            } else {
                char what[32];
                describe_here(p, what, sizeof(what));
                set_err(p, "unknown escape '\\' followed by %s", what);
            }
            return false;
        }
        advance(p);
        if (!skiff__buf_char(b, out)) {
            set_oom(p);
            return false;
        }
    }
}

static bool parse_body(parser *p, skiff__pt_field *msg, int close, int oline, int ocol, int depth);

/* Parses one value (cursor on its first char) into f, whose name is set. */
static bool parse_value(parser *p, skiff__pt_field *f, bool had_colon, int depth)
{
    int c = peekc(p);
    if (!f->line) {
        f->line = p->line;
        f->col = p->col;
    }
    if (c == '{' || c == '<') {
        if (depth >= PT_MAX_DEPTH) {
            set_err(p, "messages nested deeper than %d", PT_MAX_DEPTH);
            return false;
        }
        int oline = p->line, ocol = p->col;
        advance(p);
        f->kind = SKIFF__PT_MESSAGE;
        return parse_body(p, f, c == '{' ? '}' : '>', oline, ocol, depth + 1);
    }
    if (!had_colon) {
        char what[40];
        describe_here(p, what, sizeof(what));
        set_err(p, "expected ':' or '{' after field name '%s', got %s", f->name, what);
        return false;
    }
    if (c == '"' || c == '\'') {
        skiff__buf b = {0};
        if (!skiff__buf_append(&b, "", 0)) {
            set_oom(p);
            return false;
        }
        /* Adjacent literals concatenate, as in C and protobuf. */
        do {
            if (!lex_string(p, &b)) {
                skiff__free(b.data);
                return false;
            }
            skip_space(p);
        } while (peekc(p) == '"' || peekc(p) == '\'');
        f->kind = SKIFF__PT_STRING;
        f->value = b.data;
        f->value_len = b.len;
        return true;
    }
    if (c >= 0 && is_scalar_char(c)) {
        size_t start = p->pos;
        while (p->pos < p->len && is_scalar_char(peekc(p)))
            advance(p);
        f->kind = SKIFF__PT_SCALAR;
        f->value = skiff__strndup(p->s + start, p->pos - start);
        if (!f->value) {
            set_oom(p);
            return false;
        }
        f->value_len = p->pos - start;
        return true;
    }
    char what[40];
    describe_here(p, what, sizeof(what));
    set_err(p, "expected a value for field '%s', got %s", f->name, what);
    return false;
}

/* Parses fields until `close` (0 = end of input). */
static bool parse_body(parser *p, skiff__pt_field *msg, int close, int oline, int ocol, int depth)
{
    int cap = 0;
    for (;;) {
        skip_space(p);
        int c = peekc(p);
        if (c < 0) {
            if (close) {
                set_err(p, "expected '%c' to close the message opened at %d:%d, got end of input",
                        close, oline, ocol);
                return false;
            }
            return true;
        }
        if (c == close) {
            advance(p);
            return true;
        }
        if (c == '[') {
            set_err(p, "extension and Any fields ('[...]' names) are not supported");
            return false;
        }
        if (!is_ident_start(c)) {
            char what[40];
            describe_here(p, what, sizeof(what));
            set_err(p, "expected a field name, got %s", what);
            return false;
        }
        size_t nstart = p->pos;
        int nline = p->line, ncol = p->col;
        while (p->pos < p->len && is_ident_char(peekc(p)))
            advance(p);
        size_t nlen = p->pos - nstart;
        skip_space(p);
        bool colon = false;
        if (peekc(p) == ':') {
            colon = true;
            advance(p);
            skip_space(p);
        }
        if (peekc(p) == '[') {
            if (!colon) {
                set_err(p, "expected ':' before the list of field '%.*s'", (int)nlen,
                        p->s + nstart);
                return false;
            }
            /* A list: each element becomes one repeated field. */
            advance(p);
            skip_space(p);
            if (peekc(p) == ']') {
                advance(p);
            } else {
                for (;;) {
                    skiff__pt_field *f = add_child(p, msg, &cap);
                    if (!f)
                        return false;
                    f->name = skiff__strndup(p->s + nstart, nlen);
                    if (!f->name) {
                        set_oom(p);
                        return false;
                    }
                    if (!parse_value(p, f, true, depth))
                        return false;
                    skip_space(p);
                    if (peekc(p) == ',') {
                        advance(p);
                        skip_space(p);
                        continue;
                    }
                    if (peekc(p) == ']') {
                        advance(p);
                        break;
                    }
                    char what[40];
                    describe_here(p, what, sizeof(what));
                    set_err(p, "expected ',' or ']' in the list of field '%.*s', got %s", (int)nlen,
                            p->s + nstart, what);
                    return false;
                }
            }
        } else {
            skiff__pt_field *f = add_child(p, msg, &cap);
            if (!f)
                return false;
            f->name = skiff__strndup(p->s + nstart, nlen);
            if (!f->name) {
                set_oom(p);
                return false;
            }
            f->line = nline;
            f->col = ncol;
            if (!parse_value(p, f, colon, depth))
                return false;
        }
        skip_space(p);
        if (peekc(p) == ',' || peekc(p) == ';')
            advance(p);
    }
}

skiff_status_t *skiff__pt_parse(const char *text, size_t len, const char *origin,
                                skiff__pt_field **out_root)
{
    *out_root = NULL;
    skiff__pt_field *root = skiff__calloc(1, sizeof(*root));
    if (!root)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory parsing %s",
                                origin ? origin : "<text>");
    root->name = skiff__strdup("");
    if (!root->name) {
        skiff__free(root);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory parsing %s",
                                origin ? origin : "<text>");
    }
    root->kind = SKIFF__PT_MESSAGE;
    root->line = 1;
    root->col = 1;
    parser p = {.s = text, .len = len, .line = 1, .col = 1, .origin = origin};
    /* A UTF-8 byte order mark is not content. */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        p.pos = 3;
    if (!parse_body(&p, root, 0, 1, 1, 0)) {
        skiff__pt_free(root);
        return p.err ? p.err
                     : skiff_status_new(SKIFF_CODE_INTERNAL, "prototxt parser failed silently");
    }
    *out_root = root;
    return NULL;
}

bool skiff__pt_get_i64(const skiff__pt_field *f, int64_t *out)
{
    if (!f || f->kind != SKIFF__PT_SCALAR || !f->value || !f->value[0])
        return false;
    const char *s = f->value;
    /* strtoll would skip leading spaces and accept "0x" alone; tokens never
     * hold spaces, and a bare prefix leaves end at 'x', caught below. */
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || *end != '\0' || end == s)
        return false;
    *out = v;
    return true;
}

bool skiff__pt_get_bool(const skiff__pt_field *f, bool *out)
{
    if (!f || f->kind != SKIFF__PT_SCALAR || !f->value)
        return false;
    const char *v = f->value;
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "t") || !strcmp(v, "1")) {
        *out = true;
        return true;
    }
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "f") || !strcmp(v, "0")) {
        *out = false;
        return true;
    }
    return false;
}

size_t skiff__pt_quote(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (n + 1 < cap)                                                                           \
            buf[n] = (ch);                                                                         \
        n++;                                                                                       \
    } while (0)
    PUT('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            PUT('\\');
            PUT('"');
            break;
        case '\\':
            PUT('\\');
            PUT('\\');
            break;
        case '\n':
            PUT('\\');
            PUT('n');
            break;
        case '\t':
            PUT('\\');
            PUT('t');
            break;
        case '\r':
            PUT('\\');
            PUT('r');
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                PUT('\\');
                PUT((char)('0' + ((c >> 6) & 7)));
                PUT((char)('0' + ((c >> 3) & 7)));
                PUT((char)('0' + (c & 7)));
            } else {
                PUT((char)c); /* UTF-8 passes through as protobuf writes it */
            }
        }
    }
    PUT('"');
#undef PUT
    if (cap)
        buf[n < cap ? n : cap - 1] = '\0';
    return n;
}
