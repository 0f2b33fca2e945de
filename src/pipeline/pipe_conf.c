/* pipe_conf.c - a pipeline's config.yml read into skiff__pipe_conf
 * (pipe_conf.h lists the keys and the rules).
 *
 * The text goes through libyaml twice. The first pass reads events only: it
 * reports syntax errors with line and column, and refuses anchors, aliases,
 * a second document and nesting past SKIFF__PIPE_MAX_DEPTH before any node
 * is built (aliases are refused because a tree of aliases of aliases grows
 * exponentially when walked, and libyaml's loader turns a self-referencing
 * anchor into a cycle of nodes). The second pass loads the document
 * (yaml_parser_load), so every node keeps its line for messages, and walks
 * it section by section. The walk keeps the dotted key path of the node it
 * is in (r->kp), which every error and note names.
 *
 * Keys skiff does not read are notes, never errors: Paddle's configs carry
 * many, and refusing them would refuse those configs.
 */
#include "pipeline/pipe_conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "core/core.h"

typedef struct op_extra {
    int input_ops_line; /* 0: no input_ops */
    int *inputs;        /* input_ops as op indices */
    bool set_concurrency, set_fetch_list;
    int state; /* cycle search: 0 unseen, 1 on the path, 2 done */
} op_extra;

typedef struct rd {
    const char *path;
    yaml_document_t *doc;
    skiff__pipe_conf *c;
    skiff__arena *a;
    op_extra *x;     /* one per op */
    int notes_cap;   /* slots in c->notes */
    int notes_extra; /* notes past SKIFF__PIPE_MAX_NOTES, counted only */
    char kp[512];    /* the key path being read */
    size_t kp_len;
} rd;

/* ---- messages ------------------------------------------------------------ */

static skiff_status_t *oom(const rd *r)
{
    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "%s: out of memory reading the config",
                            r->path);
}

static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

/* kp_push appends ".seg" (or "seg" at the top) and returns the length to
 * give kp_pop; kp_index appends "[i]". A path past the buffer is cut: it
 * only ever names things in messages. */
static size_t kp_add(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t kp_add(rd *r, const char *fmt, ...)
{
    size_t old = r->kp_len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->kp + old, sizeof(r->kp) - old, fmt, ap);
    va_end(ap);
    if (n > 0)
        r->kp_len = strlen(r->kp);
    return old;
}

static size_t kp_push(rd *r, const char *seg)
{
    return kp_add(r, "%s%s", r->kp_len ? "." : "", seg);
}

static size_t kp_index(rd *r, int i) { return kp_add(r, "[%d]", i); }

static void kp_pop(rd *r, size_t old)
{
    r->kp_len = old;
    r->kp[old] = '\0';
}

static skiff_status_t *bad(const rd *r, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static skiff_status_t *bad(const rd *r, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s:%d: %s: %s", r->path, n ? line_of(n) : 1,
                            r->kp_len ? r->kp : "(top level)", msg);
}

/* Appends a line to c->notes, growing the array by doubling. */
static skiff_status_t *push_note(rd *r, const char *line, size_t len)
{
    skiff__pipe_conf *c = r->c;
    if (c->n_notes == r->notes_cap) {
        int cap = r->notes_cap ? 2 * r->notes_cap : 8;
        const char **grown = skiff__arena_alloc(r->a, (size_t)cap * sizeof(*grown), 8);
        if (!grown)
            return oom(r);
        if (c->n_notes)
            memcpy(grown, c->notes, (size_t)c->n_notes * sizeof(*grown));
        c->notes = grown;
        r->notes_cap = cap;
    }
    char *s = skiff__arena_strndup(r->a, line, len);
    if (!s)
        return oom(r);
    c->notes[c->n_notes++] = s;
    return NULL;
}

/* Adds "PATH:LINE: key.path: text" to c->notes; past SKIFF__PIPE_MAX_NOTES
 * only counts it. */
static skiff_status_t *note(rd *r, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static skiff_status_t *note(rd *r, const yaml_node_t *n, const char *fmt, ...)
{
    if (r->c->n_notes >= SKIFF__PIPE_MAX_NOTES) {
        r->notes_extra++;
        return NULL;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char line[1200];
    int len = snprintf(line, sizeof(line), "%s:%d: %s: %s", r->path, n ? line_of(n) : 1,
                       r->kp_len ? r->kp : "(top level)", msg);
    if (len < 0)
        len = 0;
    if ((size_t)len >= sizeof(line))
        len = (int)sizeof(line) - 1;
    return push_note(r, line, (size_t)len);
}

/* ---- nodes --------------------------------------------------------------- */

static yaml_node_t *node(const rd *r, int id) { return yaml_document_get_node(r->doc, id); }

static bool is_scalar(const yaml_node_t *n) { return n->type == YAML_SCALAR_NODE; }

static const char *sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* `key:` alone, `~` or `null`: what PyYAML reads as None. */
static bool is_null(const yaml_node_t *n)
{
    if (!is_scalar(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = sval(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* What a node is, for "expected X, got Y". */
static const char *got(const yaml_node_t *n, char *buf, size_t size)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (is_null(n))
        return "null";
    snprintf(buf, size, "'%.60s%s'", sval(n), n->data.scalar.length > 60 ? "..." : "");
    return buf;
}

/* A scalar as a C string; a NUL byte inside would cut it, so it is refused. */
static skiff_status_t *want_text(const rd *r, const yaml_node_t *n, const char *what)
{
    char g[80];
    if (!is_scalar(n) || is_null(n))
        return bad(r, n, "expected %s, got %s", what, got(n, g, sizeof(g)));
    if (memchr(sval(n), '\0', n->data.scalar.length))
        return bad(r, n, "expected %s, got a string holding a NUL byte", what);
    return NULL;
}

static bool word_in(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (!strcasecmp(s, *words))
            return true;
    return false;
}

static const char *const true_words[] = {"true", "yes", "on", NULL};
static const char *const false_words[] = {"false", "no", "off", NULL};

/* Whether a key skiff has no use for was set to something (not false, 0,
 * "", null or an empty collection): only then is it worth a note. */
static bool truthy(const yaml_node_t *n)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return n->data.sequence.items.top > n->data.sequence.items.start;
    if (n->type == YAML_MAPPING_NODE)
        return n->data.mapping.pairs.top > n->data.mapping.pairs.start;
    return !is_null(n) && *sval(n) && !word_in(sval(n), false_words) && strcmp(sval(n), "0");
}

static skiff_status_t *get_i64(const rd *r, const yaml_node_t *n, int64_t lo, int64_t hi,
                               int64_t *out)
{
    char g[80];
    if (!is_scalar(n) || !skiff__parse_i64(sval(n), out) || *out < lo || *out > hi) {
        if (hi == INT64_MAX)
            return bad(r, n, "expected an integer >= %lld, got %s", (long long)lo,
                       got(n, g, sizeof(g)));
        return bad(r, n, "expected an integer %lld..%lld, got %s", (long long)lo, (long long)hi,
                   got(n, g, sizeof(g)));
    }
    return NULL;
}

static skiff_status_t *get_int(const rd *r, const yaml_node_t *n, int lo, int hi, int *out)
{
    char g[80];
    int64_t v = 0;
    if (!is_scalar(n) || !skiff__parse_i64(sval(n), &v) || v < lo || v > hi)
        return bad(r, n, "expected an integer %d..%d, got %s", lo, hi, got(n, g, sizeof(g)));
    *out = (int)v;
    return NULL;
}

static skiff_status_t *get_bool(const rd *r, const yaml_node_t *n, bool *out)
{
    char g[80];
    if (is_scalar(n) && word_in(sval(n), true_words))
        *out = true;
    else if (is_scalar(n) && word_in(sval(n), false_words))
        *out = false;
    else
        return bad(r, n, "expected true or false, got %s", got(n, g, sizeof(g)));
    return NULL;
}

static skiff_status_t *get_str(const rd *r, const yaml_node_t *n, const char **out)
{
    skiff_status_t *st = want_text(r, n, "a string");
    if (st)
        return st;
    *out = skiff__arena_strndup(r->a, sval(n), n->data.scalar.length);
    return *out ? NULL : oom(r);
}

/* A path, relative ones resolved against the config file's folder. */
static skiff_status_t *get_path(const rd *r, const yaml_node_t *n, const char **out)
{
    skiff_status_t *st = want_text(r, n, "a path");
    if (st)
        return st;
    const char *s = sval(n), *dir = r->c->dir;
    if (!*s)
        return bad(r, n, "expected a path, got ''");
    if (s[0] == '/' || !strcmp(dir, ".")) {
        *out = skiff__arena_strndup(r->a, s, strlen(s));
        return *out ? NULL : oom(r);
    }
    size_t nd = strlen(dir), ns = strlen(s);
    bool slash = dir[nd - 1] == '/';
    char *p = skiff__arena_alloc(r->a, nd + ns + 2, 1);
    if (!p)
        return oom(r);
    memcpy(p, dir, nd);
    if (!slash)
        p[nd++] = '/';
    memcpy(p + nd, s, ns + 1);
    *out = p;
    return NULL;
}

/* One of `choices` ("a|b|c"), matched without regard to case; *out gets its
 * index. */
static skiff_status_t *get_choice(const rd *r, const yaml_node_t *n, const char *const *choices,
                                  const char *shown, int *out)
{
    char g[80];
    if (is_scalar(n))
        for (int i = 0; choices[i]; i++)
            if (!strcasecmp(sval(n), choices[i])) {
                *out = i;
                return NULL;
            }
    return bad(r, n, "expected one of %s, got %s", shown, got(n, g, sizeof(g)));
}

/* A name or a list of names (input_ops, fetch_list, in, out, ...): each a
 * non-empty string. */
static skiff_status_t *get_names(const rd *r, const yaml_node_t *n, const char ***out, int *n_out)
{
    char g[80];
    if (is_scalar(n)) {
        skiff_status_t *st = want_text(r, n, "a name or a list of names");
        if (st)
            return st;
        if (!n->data.scalar.length)
            return bad(r, n, "expected a name, got ''");
        const char **v = skiff__arena_alloc(r->a, sizeof(*v), 8);
        if (!v || !(v[0] = skiff__arena_strndup(r->a, sval(n), n->data.scalar.length)))
            return oom(r);
        *out = v;
        *n_out = 1;
        return NULL;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return bad(r, n, "expected a name or a list of names, got %s", got(n, g, sizeof(g)));
    yaml_node_item_t *it = n->data.sequence.items.start, *end = n->data.sequence.items.top;
    long count = end - it;
    if (count > SKIFF__PIPE_MAX_LIST)
        return bad(r, n, "%ld names; at most %d are read", count, SKIFF__PIPE_MAX_LIST);
    const char **v = skiff__arena_calloc(r->a, (size_t)count + 1, sizeof(*v), 8);
    if (!v)
        return oom(r);
    for (int i = 0; it < end; it++, i++) {
        const yaml_node_t *e = node(r, *it);
        if (!is_scalar(e) || is_null(e) || !e->data.scalar.length)
            return bad(r, e, "item %d: expected a name, got %s", i,
                       is_scalar(e) && !is_null(e) ? "''" : got(e, g, sizeof(g)));
        if (memchr(sval(e), '\0', e->data.scalar.length))
            return bad(r, e, "item %d: expected a name, got a string holding a NUL byte", i);
        if (!(v[i] = skiff__arena_strndup(r->a, sval(e), e->data.scalar.length)))
            return oom(r);
    }
    *out = count ? v : NULL;
    *n_out = (int)count;
    return NULL;
}

/* Checks a mapping skiff reads: at most SKIFF__PIPE_MAX_KEYS keys, each a
 * string, none twice. `ops` words the repeat for op names. */
static skiff_status_t *check_map(rd *r, const yaml_node_t *m, bool ops)
{
    yaml_node_pair_t *start = m->data.mapping.pairs.start, *top = m->data.mapping.pairs.top;
    long count = top - start;
    int max = ops ? SKIFF__PIPE_MAX_OPS : SKIFF__PIPE_MAX_KEYS;
    if (count > max)
        return bad(r, m, "%ld %s; at most %d are read", count, ops ? "ops" : "keys", max);
    for (yaml_node_pair_t *p = start; p < top; p++) {
        const yaml_node_t *k = node(r, p->key);
        skiff_status_t *st = want_text(r, k, ops ? "an op name" : "a key");
        if (st)
            return st;
        for (yaml_node_pair_t *q = start; q < p; q++) {
            const yaml_node_t *k0 = node(r, q->key);
            if (k0->data.scalar.length != k->data.scalar.length || strcmp(sval(k0), sval(k)))
                continue;
            size_t old = kp_push(r, sval(k));
            st = ops ? bad(r, k, "a second op named '%s' (the first is on line %d)", sval(k),
                           line_of(k0))
                     : bad(r, k, "given twice (first on line %d)", line_of(k0));
            kp_pop(r, old);
            return st;
        }
    }
    return NULL;
}

/* A section's mapping: null reads as empty (*out NULL), anything else not
 * a mapping is refused. */
static skiff_status_t *want_map(rd *r, const yaml_node_t *n, const char *what,
                                const yaml_node_t **out)
{
    char g[80];
    *out = NULL;
    if (is_null(n))
        return NULL;
    if (n->type != YAML_MAPPING_NODE)
        return bad(r, n, "expected %s, got %s", what, got(n, g, sizeof(g)));
    *out = n;
    return check_map(r, n, false);
}

/* A mapping's pairs; none for NULL (a section given as null). */
static yaml_node_pair_t *pairs(const yaml_node_t *m)
{
    return m ? m->data.mapping.pairs.start : NULL;
}

static yaml_node_pair_t *pairs_end(const yaml_node_t *m)
{
    return m ? m->data.mapping.pairs.top : NULL;
}

static skiff_status_t *unknown(rd *r, const yaml_node_t *k)
{
    return note(r, k, "not a key skiff reads (ignored)");
}

/* ---- step params: scalars as written, lists as "[a, b, c]" ---------------- */

/* Bytes of a value's text (NUL excluded), or SIZE_MAX when a mapping (or a
 * NUL byte) is in it. Nesting is bounded by the first pass. */
static size_t text_len(const rd *r, const yaml_node_t *n)
{
    if (n->type == YAML_MAPPING_NODE)
        return SIZE_MAX;
    if (is_scalar(n))
        return memchr(sval(n), '\0', n->data.scalar.length) ? SIZE_MAX : n->data.scalar.length;
    size_t len = 2;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        size_t e = text_len(r, node(r, *it));
        if (e == SIZE_MAX)
            return SIZE_MAX;
        len += e + (it > n->data.sequence.items.start ? 2 : 0);
    }
    return len;
}

static char *text_put(const rd *r, const yaml_node_t *n, char *o)
{
    if (is_scalar(n)) {
        memcpy(o, sval(n), n->data.scalar.length);
        return o + n->data.scalar.length;
    }
    *o++ = '[';
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        if (it > n->data.sequence.items.start) {
            *o++ = ',';
            *o++ = ' ';
        }
        o = text_put(r, node(r, *it), o);
    }
    *o++ = ']';
    return o;
}

/* Every pair of a mapping as (key, value) strings, skipping in/out when
 * `io` (those are the step's names). */
static skiff_status_t *get_params(rd *r, const yaml_node_t *m, bool io, skiff__pipe_kv **out,
                                  int *n_out)
{
    long count = m->data.mapping.pairs.top - m->data.mapping.pairs.start;
    if (count > SKIFF__PIPE_MAX_PARAMS)
        return bad(r, m, "%ld params; at most %d are read", count, SKIFF__PIPE_MAX_PARAMS);
    skiff__pipe_kv *kv = skiff__arena_calloc(r->a, (size_t)count + 1, sizeof(*kv), 8);
    if (!kv)
        return oom(r);
    int n = 0;
    for (yaml_node_pair_t *p = pairs(m); p != pairs_end(m); p++) {
        const yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        if (io && (!strcmp(sval(k), "in") || !strcmp(sval(k), "out")))
            continue;
        size_t len = text_len(r, v);
        if (len == SIZE_MAX) {
            size_t old = kp_push(r, sval(k));
            skiff_status_t *st =
                bad(r, v, "expected a value or a list of values, got %s",
                    v->type == YAML_MAPPING_NODE ? "a mapping" : "a string holding a NUL byte");
            kp_pop(r, old);
            return st;
        }
        char *s = skiff__arena_alloc(r->a, len + 1, 1);
        kv[n].key = skiff__arena_strndup(r->a, sval(k), k->data.scalar.length);
        if (!s || !kv[n].key)
            return oom(r);
        *text_put(r, v, s) = '\0';
        kv[n++].value = s;
    }
    *out = n ? kv : NULL;
    *n_out = n;
    return NULL;
}

/* ---- preprocess / postprocess --------------------------------------------- */

static skiff_status_t *read_step(rd *r, const yaml_node_t *item, skiff__pipe_step *s)
{
    char g[80];
    s->line = line_of(item);
    if (is_scalar(item)) {
        skiff_status_t *st = want_text(r, item, "a step name");
        if (st)
            return st;
        if (!item->data.scalar.length)
            return bad(r, item, "a step needs a name, got ''");
        s->name = skiff__arena_strndup(r->a, sval(item), item->data.scalar.length);
        return s->name ? NULL : oom(r);
    }
    if (item->type != YAML_MAPPING_NODE)
        return bad(r, item, "expected a step (`Name` or `Name: {params}`), got %s",
                   got(item, g, sizeof(g)));
    long keys = item->data.mapping.pairs.top - item->data.mapping.pairs.start;
    if (keys != 1)
        return bad(r, item,
                   "a step is a mapping with one key, its name; got %ld keys (are its params "
                   "indented under the name?)",
                   keys);
    const yaml_node_t *k = node(r, item->data.mapping.pairs.start->key);
    const yaml_node_t *v = node(r, item->data.mapping.pairs.start->value);
    skiff_status_t *st = want_text(r, k, "a step name");
    if (st)
        return st;
    if (!k->data.scalar.length)
        return bad(r, k, "a step needs a name, got ''");
    if (!(s->name = skiff__arena_strndup(r->a, sval(k), k->data.scalar.length)))
        return oom(r);
    size_t old = kp_push(r, s->name);
    const yaml_node_t *m = NULL;
    if (!(st = want_map(r, v, "the step's params as a mapping", &m)) && m) {
        for (yaml_node_pair_t *p = pairs(m); p != pairs_end(m); p++) {
            const yaml_node_t *pk = node(r, p->key), *pv = node(r, p->value);
            bool in = !strcmp(sval(pk), "in");
            if (!in && strcmp(sval(pk), "out"))
                continue;
            size_t o2 = kp_push(r, sval(pk));
            if (!is_null(pv))
                st = in ? get_names(r, pv, &s->in, &s->n_in) : get_names(r, pv, &s->out, &s->n_out);
            kp_pop(r, o2);
            if (st)
                break;
        }
        if (!st)
            st = get_params(r, m, true, &s->params, &s->n_params);
        /* file parameters (character_dict_path, label_path, vocab_path,
         * label_file, ...) are relative to the config's folder, as
         * model_config is */
        for (int i = 0; !st && i < s->n_params; i++) {
            const char *k = s->params[i].key, *v = s->params[i].value;
            size_t kl = strlen(k);
            bool file = (kl > 5 && !strcmp(k + kl - 5, "_path")) ||
                        (kl > 5 && !strcmp(k + kl - 5, "_file"));
            if (!file || !v || !v[0] || v[0] == '/' || !strcmp(r->c->dir, "."))
                continue;
            size_t nd = strlen(r->c->dir), nv = strlen(v);
            char *pth = skiff__arena_alloc(r->a, nd + nv + 2, 1);
            if (!pth) {
                st = oom(r);
                break;
            }
            memcpy(pth, r->c->dir, nd);
            if (pth[nd - 1] != '/')
                pth[nd++] = '/';
            memcpy(pth + nd, v, nv + 1);
            s->params[i].value = pth;
        }
    }
    kp_pop(r, old);
    return st;
}

static skiff_status_t *read_steps(rd *r, const yaml_node_t *n, skiff__pipe_step **out, int *n_out)
{
    char g[80];
    if (is_null(n))
        return NULL;
    if (n->type != YAML_SEQUENCE_NODE)
        return bad(r, n, "expected a list of steps, got %s", got(n, g, sizeof(g)));
    yaml_node_item_t *it = n->data.sequence.items.start, *end = n->data.sequence.items.top;
    long count = end - it;
    if (count > SKIFF__PIPE_MAX_STEPS)
        return bad(r, n, "%ld steps; at most %d are read", count, SKIFF__PIPE_MAX_STEPS);
    skiff__pipe_step *v = skiff__arena_calloc(r->a, (size_t)count + 1, sizeof(*v), 8);
    if (!v)
        return oom(r);
    for (int i = 0; it < end; it++, i++) {
        size_t old = kp_index(r, i);
        skiff_status_t *st = read_step(r, node(r, *it), &v[i]);
        kp_pop(r, old);
        if (st)
            return st;
    }
    *out = count ? v : NULL;
    *n_out = (int)count;
    return NULL;
}

/* ---- sections --------------------------------------------------------------- */

static const char *const client_names[] = {"local_predictor", "brpc", "grpc", "http", NULL};
static const char *const precisions[] = {"fp32", "fp16", "bf16", "int8", NULL};

/* local_service_conf keys Paddle reads that skiff has no use for, with what
 * skiff does instead; noted when set to anything but false/0/empty. */
static const struct {
    const char *key;
    const char *instead;
} lsc_no_effect[] = {
    {"device_type", "skiff runs on the CPU here"},
    {"use_gpu", "skiff runs on the CPU here"},
    {"use_trt", "skiff runs on the CPU here"},
    {"use_lite", "skiff runs on the CPU here"},
    {"use_xpu", "skiff runs on the CPU here"},
    {"use_ascend_cl", "skiff runs on the CPU here"},
    {"gpu_multi_stream", "skiff runs on the CPU here"},
    {"use_calib", "skiff runs the model's own weights, with no calibration"},
    {"use_mkldnn", "skiff always runs its CPU kernels on oneDNN"},
    {"mkldnn_cache_capacity", "skiff caches oneDNN primitives per instance on its own"},
    {"mkldnn_op_list", "skiff always runs its CPU kernels on oneDNN"},
    {"mkldnn_bf16_op_list", "skiff runs fp32 here"},
    {"min_subgraph_size", "skiff builds no TensorRT subgraphs"},
    {"dynamic_shape_info", "skiff's kernels take any shape"},
    {"use_encryption_model", "skiff reads plain model files only"},
};

/* warmup_shapes: [[1, 3, 48, 320], ...]: at most SKIFF__PIPE_MAX_LIST shapes
 * of 1 to 8 sizes, each 1 to 65536 */
static skiff_status_t *read_warmup_shapes(rd *r, skiff__pipe_op_conf *op, const yaml_node_t *v)
{
    char g[80];
    if (v->type != YAML_SEQUENCE_NODE)
        return bad(r, v, "expected a list of shapes ([[1, 3, 48, 320], ...]), got %s",
                   got(v, g, sizeof(g)));
    yaml_node_item_t *it = v->data.sequence.items.start, *end = v->data.sequence.items.top;
    long count = end - it;
    if (count > SKIFF__PIPE_MAX_LIST)
        return bad(r, v, "%ld shapes; at most %d are read", count, SKIFF__PIPE_MAX_LIST);
    op->warmup_dims = skiff__arena_calloc(r->a, (size_t)count * 8 + 1, sizeof(int64_t), 8);
    op->warmup_ndims = skiff__arena_calloc(r->a, (size_t)count + 1, sizeof(int), 8);
    if (!op->warmup_dims || !op->warmup_ndims)
        return oom(r);
    for (int i = 0; it < end; it++, i++) {
        const yaml_node_t *s = node(r, *it);
        if (s->type != YAML_SEQUENCE_NODE)
            return bad(r, s, "shape %d: expected a list of sizes, got %s", i, got(s, g, sizeof(g)));
        yaml_node_item_t *d = s->data.sequence.items.start, *dend = s->data.sequence.items.top;
        if (dend - d < 1 || dend - d > 8)
            return bad(r, s, "shape %d: expected 1 to 8 sizes, got %ld", i, (long)(dend - d));
        for (int k = 0; d < dend; d++, k++) {
            skiff_status_t *st = get_i64(r, node(r, *d), 1, 65536, &op->warmup_dims[i * 8 + k]);
            if (st)
                return st;
        }
        op->warmup_ndims[i] = (int)(s->data.sequence.items.top - s->data.sequence.items.start);
    }
    op->n_warmup_shapes = (int)count;
    return NULL;
}

static skiff_status_t *read_lsc(rd *r, skiff__pipe_op_conf *op, op_extra *x, const yaml_node_t *m)
{
    int choice = 0;
    for (yaml_node_pair_t *p = pairs(m); p != pairs_end(m); p++) {
        const yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        const char *key = sval(k);
        size_t old = kp_push(r, key);
        skiff_status_t *st = NULL;
        if (is_null(v)) {
            /* not given */
        } else if (!strcmp(key, "model_config")) {
            st = get_path(r, v, &op->model_config);
        } else if (!strcmp(key, "client_type")) {
            if (!(st = get_choice(r, v, client_names, "local_predictor|brpc|grpc|http", &choice)))
                op->client_type = (skiff__pipe_client_type)choice;
        } else if (!strcmp(key, "devices")) {
            if (!(st = get_str(r, v, &op->devices)) && op->devices[0])
                st = note(r, v, "'%.60s': skiff runs on the CPU here (no effect)", op->devices);
        } else if (!strcmp(key, "thread_num")) {
            st = get_int(r, v, 0, 1024, &op->thread_num);
        } else if (!strcmp(key, "warmup_shapes")) {
            st = read_warmup_shapes(r, op, v);
        } else if (!strcmp(key, "mem_optim") || !strcmp(key, "ir_optim")) {
            bool mem = key[0] == 'm';
            if (!(st = get_bool(r, v, mem ? &op->mem_optim : &op->ir_optim)))
                st = note(r, k,
                          mem ? "no effect: skiff always plans the model's memory before it runs"
                              : "no effect: skiff always runs its graph passes when it loads a "
                                "model");
        } else if (!strcmp(key, "precision")) {
            if (!(st = get_choice(r, v, precisions, "fp32|fp16|bf16|int8", &choice))) {
                op->precision = precisions[choice];
                if (choice == 1)
                    st = note(r, v,
                              "fp16: no effect: no fp16 kernels on CPU; runs fp32 (bf16 "
                              "is the reduced precision skiff runs)");
            }
        } else if (!strcmp(key, "concurrency")) {
            if (x->set_concurrency)
                st = note(r, k, "op.%s.concurrency is given too; that one is used", op->name);
            else
                st = get_int(r, v, 1, 1024, &op->concurrency);
        } else if (!strcmp(key, "fetch_list")) {
            if (x->set_fetch_list)
                st = note(r, k, "op.%s.fetch_list is given too; that one is used", op->name);
            else
                st = get_names(r, v, &op->fetch_list, &op->n_fetch_list);
        } else {
            size_t i = 0, n = sizeof(lsc_no_effect) / sizeof(lsc_no_effect[0]);
            while (i < n && strcmp(key, lsc_no_effect[i].key))
                i++;
            if (i == n)
                st = unknown(r, k);
            else if (truthy(v))
                st = note(r, k, "no effect: %s", lsc_no_effect[i].instead);
        }
        kp_pop(r, old);
        if (st)
            return st;
    }
    return NULL;
}

static skiff_status_t *read_class(const rd *r, const yaml_node_t *v, const char **out)
{
    skiff_status_t *st = get_str(r, v, out);
    if (st)
        return st;
    const char *dot = strrchr(*out, '.');
    if (!dot || dot == *out || !dot[1] || **out == '.')
        return bad(r, v, "expected module.ClassName, got '%.60s'", *out);
    return NULL;
}

/* split: {in: [names], out: [names], rows: N, sort_by: name, parallel: P} */
static skiff_status_t *read_split(rd *r, skiff__pipe_op_conf *op, const yaml_node_t *v)
{
    const yaml_node_t *m = NULL;
    skiff_status_t *st = want_map(r, v, "a mapping (in, out, rows, sort_by, parallel)", &m);
    if (st || !m)
        return st;
    op->split_rows = 6; /* PaddleOCR's rec_batch_num */
    op->split_parallel = 1;
    for (yaml_node_pair_t *p = pairs(m); p != pairs_end(m); p++) {
        const yaml_node_t *k = node(r, p->key), *e = node(r, p->value);
        const char *key = sval(k);
        size_t old = kp_push(r, key);
        if (!strcmp(key, "in"))
            st = get_names(r, e, &op->split_in, &op->n_split_in);
        else if (!strcmp(key, "out"))
            st = get_names(r, e, &op->split_out, &op->n_split_out);
        else if (!strcmp(key, "rows"))
            st = get_int(r, e, 1, 1 << 20, &op->split_rows);
        else if (!strcmp(key, "sort_by"))
            st = get_str(r, e, &op->split_sort);
        else if (!strcmp(key, "parallel"))
            st = get_int(r, e, 1, 64, &op->split_parallel);
        else /* skiff's own key: a typo is an error, not a Paddle key to note */
            st = bad(r, k, "unknown key '%s' (split takes in, out, rows, sort_by, parallel)", key);
        kp_pop(r, old);
        if (st)
            return st;
    }
    if (op->n_split_in == 0 || op->n_split_out == 0)
        return bad(r, v,
                   "split needs 'in' (the values cut into groups of rows) and 'out' (the "
                   "values joined after)");
    return NULL;
}

static skiff_status_t *read_op(rd *r, skiff__pipe_op_conf *op, op_extra *x, const yaml_node_t *m)
{
    op->concurrency = 1;
    op->timeout_ms = -1;
    op->retry = 1;
    op->batch_size = 1;
    op->auto_batching_timeout = -1;
    op->client_type = SKIFF__PIPE_LOCAL;
    op->mem_optim = true;
    op->precision = "fp32";
    const yaml_node_t *lsc = NULL, *lsc_key = NULL;
    for (yaml_node_pair_t *p = pairs(m); p != pairs_end(m); p++) {
        const yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        const char *key = sval(k);
        size_t old = kp_push(r, key);
        skiff_status_t *st = NULL;
        if (!strcmp(key, "local_service_conf")) {
            /* read after the op's own keys, which win over its copies */
            lsc_key = k;
            st = want_map(r, v, "a mapping", &lsc);
        } else if (is_null(v)) {
            /* not given */
        } else if (!strcmp(key, "concurrency")) {
            st = get_int(r, v, 1, 1024, &op->concurrency);
            x->set_concurrency = true;
        } else if (!strcmp(key, "timeout")) {
            if (!(st = get_i64(r, v, -1, INT64_MAX, &op->timeout_ms)) && op->timeout_ms == 0)
                op->timeout_ms = -1;
        } else if (!strcmp(key, "retry")) {
            if (!(st = get_int(r, v, 0, 1000, &op->retry)) && op->retry == 0) {
                op->retry = 1;
                st = note(r, v, "0 reads as 1 (one try, as Paddle makes it)");
            }
        } else if (!strcmp(key, "batch_size")) {
            st = get_int(r, v, 1, 1 << 20, &op->batch_size);
        } else if (!strcmp(key, "auto_batching_timeout")) {
            if (!(st = get_i64(r, v, -1, INT64_MAX, &op->auto_batching_timeout)) &&
                op->auto_batching_timeout == 0)
                op->auto_batching_timeout = -1;
        } else if (!strcmp(key, "server_endpoints")) {
            st = get_names(r, v, &op->server_endpoints, &op->n_server_endpoints);
        } else if (!strcmp(key, "fetch_list")) {
            st = get_names(r, v, &op->fetch_list, &op->n_fetch_list);
            x->set_fetch_list = true;
        } else if (!strcmp(key, "client_config")) {
            st = get_path(r, v, &op->client_config);
        } else if (!strcmp(key, "input_ops")) {
            x->input_ops_line = line_of(v);
            st = get_names(r, v, &op->input_ops, &op->n_input_ops);
        } else if (!strcmp(key, "preprocess")) {
            st = read_steps(r, v, &op->pre, &op->n_pre);
        } else if (!strcmp(key, "postprocess")) {
            st = read_steps(r, v, &op->post, &op->n_post);
        } else if (!strcmp(key, "class")) {
            st = read_class(r, v, &op->py_class);
        } else if (!strcmp(key, "plugin")) {
            st = get_path(r, v, &op->plugin);
        } else if (!strcmp(key, "split")) {
            st = read_split(r, op, v);
        } else if (!strcmp(key, "plugin_params")) {
            const yaml_node_t *pm = NULL;
            if (!(st = want_map(r, v, "a mapping of params", &pm)) && pm)
                st = get_params(r, pm, false, &op->plugin_params, &op->n_plugin_params);
        } else {
            st = unknown(r, k);
        }
        kp_pop(r, old);
        if (st)
            return st;
    }
    if (!lsc)
        return NULL;
    size_t old = kp_push(r, sval(lsc_key));
    skiff_status_t *st = read_lsc(r, op, x, lsc);
    kp_pop(r, old);
    return st;
}

static skiff_status_t *read_ops(rd *r, const yaml_node_t *k, const yaml_node_t *v)
{
    char g[80];
    skiff__pipe_conf *c = r->c;
    if (is_null(v) ||
        (v->type == YAML_MAPPING_NODE && v->data.mapping.pairs.top == v->data.mapping.pairs.start))
        return bad(r, k, "no ops: config.yml needs op.NAME sections");
    if (v->type != YAML_MAPPING_NODE)
        return bad(r, v, "expected a mapping of op names to op sections, got %s",
                   got(v, g, sizeof(g)));
    skiff_status_t *st = check_map(r, v, true);
    if (st)
        return st;
    int n = (int)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    c->ops = skiff__arena_calloc(r->a, (size_t)n, sizeof(*c->ops), 8);
    r->x = skiff__arena_calloc(r->a, (size_t)n, sizeof(*r->x), 8);
    if (!c->ops || !r->x)
        return oom(r);
    for (yaml_node_pair_t *p = pairs(v); p != pairs_end(v); p++) {
        const yaml_node_t *ok = node(r, p->key), *ov = node(r, p->value);
        skiff__pipe_op_conf *op = &c->ops[c->n_ops];
        size_t old = kp_push(r, sval(ok));
        if (!ok->data.scalar.length)
            st = bad(r, ok, "an op needs a name, got ''");
        else if (strchr(sval(ok), '/'))
            st = bad(r, ok, "an op name cannot hold '/' (it is part of a URL)");
        else if (!(op->name = skiff__arena_strndup(r->a, sval(ok), ok->data.scalar.length)))
            st = oom(r);
        const yaml_node_t *m = NULL;
        if (!st) {
            op->line = line_of(ok);
            st = want_map(r, ov, "a mapping (the op's keys)", &m);
        }
        if (!st)
            st = read_op(r, op, &r->x[c->n_ops], m);
        if (!st && op->py_class && op->n_split_in)
            st = bad(r, ok,
                     "split does not apply to a Python op (class:): its preprocess, process "
                     "and postprocess run once per request");
        kp_pop(r, old);
        if (st)
            return st;
        c->n_ops++;
    }
    return NULL;
}

static skiff_status_t *read_dag(rd *r, const yaml_node_t *m)
{
    skiff__pipe_conf *c = r->c;
    int choice = 0;
    for (yaml_node_pair_t *p = pairs(m); p != pairs_end(m); p++) {
        const yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        const char *key = sval(k);
        size_t old = kp_push(r, key);
        skiff_status_t *st = NULL;
        if (is_null(v)) {
            /* not given */
        } else if (!strcmp(key, "is_thread_op")) {
            if (!(st = get_bool(r, v, &c->is_thread_op)) && !c->is_thread_op)
                st = note(r, v, "false: no effect: skiff runs every op on threads of one process");
        } else if (!strcmp(key, "retry")) {
            if (!(st = get_int(r, v, 0, 1000, &c->dag_retry)) && c->dag_retry == 0) {
                c->dag_retry = 1;
                st = note(r, v, "0 reads as 1 (one try, as Paddle makes it)");
            }
        } else if (!strcmp(key, "client_type")) {
            if (!(st = get_choice(r, v, client_names, "brpc|grpc|local_predictor|http", &choice)))
                c->dag_client_type = (skiff__pipe_client_type)choice;
        } else if (!strcmp(key, "use_profile")) {
            st = get_bool(r, v, &c->use_profile);
        } else if (!strcmp(key, "channel_size")) {
            st = get_int(r, v, 0, 1 << 30, &c->channel_size);
        } else if (!strcmp(key, "tracer")) {
            const yaml_node_t *t = NULL;
            if (!(st = want_map(r, v, "a mapping", &t))) {
                for (yaml_node_pair_t *q = pairs(t); q != pairs_end(t); q++) {
                    const yaml_node_t *tk = node(r, q->key), *tv = node(r, q->value);
                    size_t o2 = kp_push(r, sval(tk));
                    if (!strcmp(sval(tk), "interval_s")) {
                        if (!is_null(tv) &&
                            !(st = get_i64(r, tv, -1, INT64_MAX, &c->tracer_interval_s)) &&
                            c->tracer_interval_s == 0)
                            c->tracer_interval_s = -1;
                    } else {
                        st = unknown(r, tk);
                    }
                    kp_pop(r, o2);
                    if (st)
                        break;
                }
            }
        } else {
            st = unknown(r, k);
        }
        kp_pop(r, old);
        if (st)
            return st;
    }
    return NULL;
}

static skiff_status_t *read_top(rd *r, const yaml_node_t *root)
{
    skiff__pipe_conf *c = r->c;
    const yaml_node_t *m = NULL, *ops_k = NULL, *ops_v = NULL;
    skiff_status_t *st = root ? want_map(r, root, "a mapping", &m) : NULL;
    if (st)
        return st;
    if (!m)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s:%d: no ops: config.yml needs op.NAME sections", r->path,
                                root ? line_of(root) : 1);
    for (yaml_node_pair_t *p = pairs(m); p != pairs_end(m); p++) {
        const yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        const char *key = sval(k);
        size_t old = kp_push(r, key);
        if (!strcmp(key, "op")) {
            ops_k = k;
            ops_v = v;
        } else if (is_null(v)) {
            /* not given */
        } else if (!strcmp(key, "rpc_port")) {
            st = get_int(r, v, 0, 65535, &c->rpc_port);
        } else if (!strcmp(key, "http_port")) {
            st = get_int(r, v, 0, 65535, &c->http_port);
        } else if (!strcmp(key, "worker_num")) {
            st = get_int(r, v, 1, 1024, &c->worker_num);
        } else if (!strcmp(key, "build_dag_each_worker")) {
            if (!(st = get_bool(r, v, &c->build_dag_each_worker)) && c->build_dag_each_worker)
                st = note(r, v, "true: no effect: skiff builds one DAG that every worker shares");
        } else if (!strcmp(key, "dag")) {
            const yaml_node_t *d = NULL;
            if (!(st = want_map(r, v, "a mapping", &d)))
                st = read_dag(r, d);
        } else if (!strcmp(key, "name")) {
            if (!(st = get_str(r, v, &c->name))) {
                if (!c->name[0])
                    st = bad(r, v, "the service needs a name, got ''");
                else if (strchr(c->name, '/'))
                    st = bad(r, v, "a service name cannot hold '/' (it is part of a URL)");
            }
        } else {
            st = unknown(r, k);
        }
        kp_pop(r, old);
        if (st)
            return st;
    }
    if (!ops_k)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s:%d: no ops: config.yml needs op.NAME sections", r->path,
                                line_of(m));
    size_t old = kp_push(r, "op");
    st = read_ops(r, ops_k, ops_v);
    kp_pop(r, old);
    return st;
}

/* ---- the op graph ----------------------------------------------------------- */

static int op_index(const skiff__pipe_conf *c, const char *name)
{
    for (int i = 0; i < c->n_ops; i++)
        if (!strcmp(c->ops[i].name, name))
            return i;
    return -1;
}

static skiff_status_t *graph_error(const rd *r, int op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static skiff_status_t *graph_error(const rd *r, int op, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s:%d: op.%s.input_ops: %s", r->path,
                            r->x[op].input_ops_line, r->c->ops[op].name, msg);
}

/* Depth-first from op i; path[] holds the ops being visited. A back edge to
 * an op on the path closes a cycle, named from that op round to itself. */
static skiff_status_t *find_cycle(const rd *r, int i, int *path, int depth)
{
    const skiff__pipe_conf *c = r->c;
    op_extra *x = &r->x[i];
    x->state = 1;
    path[depth] = i;
    for (int e = 0; e < c->ops[i].n_input_ops; e++) {
        int j = x->inputs[e];
        if (r->x[j].state == 2)
            continue;
        if (r->x[j].state == 0) {
            skiff_status_t *st = find_cycle(r, j, path, depth + 1);
            if (st)
                return st;
            continue;
        }
        int from = depth;
        while (path[from] != j)
            from--;
        char names[768];
        size_t len = 0;
        for (int d = from; d <= depth + 1 && len < sizeof(names); d++) {
            int n = snprintf(names + len, sizeof(names) - len, "%s%s", d > from ? " -> " : "",
                             c->ops[d <= depth ? path[d] : j].name);
            if (n < 0)
                break;
            len += (size_t)n;
        }
        return graph_error(r, i, "the ops read each other in a cycle: %s", names);
    }
    x->state = 2;
    return NULL;
}

static skiff_status_t *check_graph(rd *r)
{
    skiff__pipe_conf *c = r->c;
    for (int i = 0; i < c->n_ops; i++) {
        skiff__pipe_op_conf *op = &c->ops[i];
        op_extra *x = &r->x[i];
        if (!op->n_input_ops)
            continue;
        x->inputs = skiff__arena_alloc(r->a, (size_t)op->n_input_ops * sizeof(int), 8);
        if (!x->inputs)
            return oom(r);
        for (int e = 0; e < op->n_input_ops; e++) {
            int j = op_index(c, op->input_ops[e]);
            if (j < 0)
                return graph_error(r, i, "no op named '%.60s'", op->input_ops[e]);
            if (j == i)
                return graph_error(r, i, "an op cannot read its own output");
            for (int f = 0; f < e; f++)
                if (x->inputs[f] == j)
                    return graph_error(r, i, "'%s' is named twice", op->input_ops[e]);
            x->inputs[e] = j;
        }
    }
    int *path = skiff__arena_alloc(r->a, (size_t)c->n_ops * sizeof(int), 8);
    if (!path)
        return oom(r);
    for (int i = 0; i < c->n_ops; i++) {
        if (r->x[i].state)
            continue;
        skiff_status_t *st = find_cycle(r, i, path, 0);
        if (st)
            return st;
    }
    return NULL;
}

/* ---- the two passes ---------------------------------------------------------- */

static skiff_status_t *yaml_error(const char *path, const char *text, size_t len,
                                  const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "%s: out of memory reading YAML",
                                path);
    size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
    if (p->error == YAML_READER_ERROR) {
        /* the reader gives a byte offset, not a mark */
        line = 1;
        col = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++, col++)
            if (text[i] == '\n') {
                line++;
                col = 0;
            }
    }
    return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s:%zu:%zu: YAML: %s%s%s%s", path, line, col,
                            p->problem ? p->problem : "malformed", p->context ? " (" : "",
                            p->context ? p->context : "", p->context ? ")" : "");
}

static skiff_status_t *event_error(const char *path, const yaml_event_t *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static skiff_status_t *event_error(const char *path, const yaml_event_t *e, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s:%zu:%zu: YAML: %s", path,
                            e->start_mark.line + 1, e->start_mark.column + 1, msg);
}

/* The first pass (see the top of the file). */
static skiff_status_t *scan(const char *path, const char *text, size_t len)
{
    yaml_parser_t *p = skiff__calloc(1, sizeof(*p));
    yaml_event_t *e = skiff__calloc(1, sizeof(*e));
    skiff_status_t *st = NULL;
    if (!p || !e || !yaml_parser_initialize(p)) {
        skiff__free(p);
        skiff__free(e);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "%s: out of memory", path);
    }
    yaml_parser_set_input_string(p, (const unsigned char *)text, len);
    int depth = 0, docs = 0;
    for (bool end = false; !end && !st;) {
        if (!yaml_parser_parse(p, e)) {
            st = yaml_error(path, text, len, p);
            break;
        }
        const char *anchor = NULL;
        switch (e->type) {
        case YAML_STREAM_END_EVENT: end = true; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                st = event_error(path, e, "a second document; config.yml holds one");
            break;
        case YAML_ALIAS_EVENT:
            st = event_error(path, e, "aliases are not read (*%.60s)",
                             (const char *)e->data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT: anchor = (const char *)e->data.scalar.anchor; break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            anchor = e->type == YAML_SEQUENCE_START_EVENT
                         ? (const char *)e->data.sequence_start.anchor
                         : (const char *)e->data.mapping_start.anchor;
            if (++depth > SKIFF__PIPE_MAX_DEPTH)
                st = event_error(path, e, "nested deeper than %d levels", SKIFF__PIPE_MAX_DEPTH);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        default: break;
        }
        if (anchor && !st)
            st = event_error(path, e, "anchors are not read (&%.60s)", anchor);
        yaml_event_delete(e);
    }
    yaml_parser_delete(p);
    skiff__free(p);
    skiff__free(e);
    return st;
}

static skiff_status_t *parse_into(rd *r, const char *text, size_t len)
{
    skiff_status_t *st = scan(r->path, text, len);
    if (st)
        return st;
    yaml_parser_t *p = skiff__calloc(1, sizeof(*p));
    yaml_document_t *doc = skiff__calloc(1, sizeof(*doc));
    if (!p || !doc || !yaml_parser_initialize(p)) {
        skiff__free(p);
        skiff__free(doc);
        return oom(r);
    }
    yaml_parser_set_input_string(p, (const unsigned char *)text, len);
    if (!yaml_parser_load(p, doc)) {
        st = yaml_error(r->path, text, len, p);
    } else {
        r->doc = doc;
        st = read_top(r, yaml_document_get_root_node(doc));
        if (!st)
            st = check_graph(r);
        yaml_document_delete(doc);
        r->doc = NULL;
    }
    yaml_parser_delete(p);
    skiff__free(p);
    skiff__free(doc);
    return st;
}

static skiff_status_t *set_path(skiff__pipe_conf *c, const char *path)
{
    size_t n = strlen(path);
    const char *slash = strrchr(path, '/');
    c->path = skiff__arena_strndup(c->arena, path, n);
    if (!slash)
        c->dir = skiff__arena_strndup(c->arena, ".", 1);
    else
        c->dir = skiff__arena_strndup(c->arena, path, slash == path ? 1 : (size_t)(slash - path));
    if (!c->path || !c->dir)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "%s: out of memory", path);
    return NULL;
}

skiff_status_t *skiff__pipe_conf_parse(const char *text, size_t len, const char *path,
                                       skiff__pipe_conf **out)
{
    *out = NULL;
    if (!path)
        path = "config.yml";
    if (len > SKIFF__PIPE_MAX_FILE)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: %zu bytes; a pipeline config may have at most %zu", path, len,
                                SKIFF__PIPE_MAX_FILE);
    skiff__arena *a = skiff__arena_new(4096);
    skiff__pipe_conf *c = a ? skiff__arena_calloc(a, 1, sizeof(*c), 8) : NULL;
    rd *r = skiff__calloc(1, sizeof(*r));
    if (!c || !r) {
        skiff__arena_free(a);
        skiff__free(r);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "%s: out of memory", path);
    }
    c->arena = a;
    c->worker_num = 1;
    c->is_thread_op = true;
    c->dag_retry = 1;
    c->dag_client_type = SKIFF__PIPE_BRPC;
    c->tracer_interval_s = -1;
    r->c = c;
    r->a = a;
    skiff_status_t *st = set_path(c, path);
    if (!st) {
        r->path = c->path;
        st = parse_into(r, text ? text : "", text ? len : 0);
    }
    if (!st && !c->name)
        c->name = c->n_ops == 1 ? c->ops[0].name : "default_service";
    if (!st && r->notes_extra) {
        char line[160];
        int len =
            snprintf(line, sizeof(line), "%s: %d more notes not listed", c->path, r->notes_extra);
        st = push_note(r, line, len > 0 && (size_t)len < sizeof(line) ? (size_t)len : 0);
    }
    skiff__free(r);
    if (st) {
        skiff__arena_free(a);
        return st;
    }
    *out = c;
    return NULL;
}

skiff_status_t *skiff__pipe_conf_load(const char *path, skiff__pipe_conf **out)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return skiff_status_new(errno == ENOENT ? SKIFF_CODE_NOT_FOUND : SKIFF_CODE_INVALID_ARG,
                                "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: not a file", path);
    if ((uint64_t)sb.st_size > SKIFF__PIPE_MAX_FILE)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: %lld bytes; a pipeline config may have at most %zu", path,
                                (long long)sb.st_size, SKIFF__PIPE_MAX_FILE);
    void *data = NULL;
    size_t size = 0;
    skiff_status_t *st = skiff__read_file(path, &data, &size);
    if (st)
        return st;
    st = skiff__pipe_conf_parse(data, size, path, out);
    skiff__free(data);
    return st;
}

void skiff__pipe_conf_free(skiff__pipe_conf *c)
{
    if (c)
        skiff__arena_free(c->arena);
}
