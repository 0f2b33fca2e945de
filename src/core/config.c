/* config.c - one declarative table per command: defaults, flags, a YAML file
 * of the same keys, bounds and help all come from it (config.h).
 *
 * The YAML front reads with libyaml's event parser (Debian's libyaml): a
 * top-level mapping of scalars, or of sequences of scalars for list keys.
 * Anchors, tags and nested mappings are refused by name, with the line.
 */
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/config.h"
#include "core/core.h"

void skiff__cfg_defaults(const skiff__cfg_table *t, void *obj)
{
    for (size_t i = 0; i < t->n; i++) {
        const skiff__cfg_key *k = &t->keys[i];
        char *p = (char *)obj + k->offset;
        switch (k->type) {
        case SKIFF__CFG_INT: *(int *)p = (int)k->def_int; break;
        case SKIFF__CFG_I64: *(int64_t *)p = k->def_int; break;
        case SKIFF__CFG_STR:
        case SKIFF__CFG_CHOICE: *(const char **)p = k->def_str; break;
        case SKIFF__CFG_BOOL: *(bool *)p = k->def_int != 0; break;
        case SKIFF__CFG_LIST:
            *(const char ***)p = NULL;
            *(int *)((char *)obj + k->count_offset) = 0;
            break;
        default: break;
        }
    }
}

const skiff__cfg_key *skiff__cfg_find(const skiff__cfg_table *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->keys[i].name) == len && strncmp(t->keys[i].name, name, len) == 0)
            return &t->keys[i];
    return NULL;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"}, *const no[] = {"false", "0", "no",
                                                                                "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = true;
            return true;
        }
        if (!strcasecmp(s, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

static skiff_status_t *bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static skiff_status_t *bad(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s", msg);
}

/* Appends to a LIST key: the array is rebuilt in the arena (lists are short). */
static skiff_status_t *list_append(void *obj, const skiff__cfg_key *k, const char *val,
                                   skiff__arena *strings)
{
    const char ***items = (const char ***)(void *)((char *)obj + k->offset);
    int *n = (int *)(void *)((char *)obj + k->count_offset);
    const char **grown =
        strings ? skiff__arena_calloc(strings, (size_t)*n + 2, sizeof(char *), _Alignof(char *))
                : NULL;
    if (!grown)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    if (*n)
        memcpy(grown, *items, sizeof(char *) * (size_t)*n);
    grown[(*n)++] = val;
    *items = grown;
    return NULL;
}

static skiff_status_t *set_value(const skiff__cfg_table *t, void *obj, const skiff__cfg_key *k,
                                 const char *val, const char *where, skiff__arena *strings)
{
    char *p = (char *)obj + k->offset;
    switch (k->type) {
    case SKIFF__CFG_INT:
    case SKIFF__CFG_I64: {
        int64_t v;
        if (!skiff__parse_i64(val, &v))
            return bad("%s expects an integer, got '%s'", where, val);
        if (v < k->min || v > k->max)
            return bad("%s %lld is out of range [%lld, %lld]", where, (long long)v,
                       (long long)k->min, (long long)k->max);
        if (k->type == SKIFF__CFG_INT)
            *(int *)p = (int)v;
        else
            *(int64_t *)p = v;
        return NULL;
    }
    case SKIFF__CFG_BOOL: {
        bool v;
        if (!parse_bool(val, &v))
            return bad("%s expects true or false, got '%s'", where, val);
        *(bool *)p = v;
        return NULL;
    }
    case SKIFF__CFG_STR: *(const char **)p = val; return NULL;
    case SKIFF__CFG_CHOICE:
        if (!choice_ok(k->choices, val))
            return bad("%s expects one of %s, got '%s'", where, k->choices, val);
        *(const char **)p = val;
        return NULL;
    case SKIFF__CFG_LIST: return list_append(obj, k, val, strings);
    case SKIFF__CFG_IGNORED:
        skiff_log(SKIFF_LOG_INFO, "note: %s is accepted for compatibility and has no effect (%s)",
                  where, k->help);
        return NULL;
    }
    return bad("%s: unknown key type", where);
}

skiff_status_t *skiff__cfg_set(const skiff__cfg_table *t, void *obj, const skiff__cfg_key *k,
                               const char *val, const char *where)
{
    if (k->type == SKIFF__CFG_LIST)
        return bad("%s: a list takes its items from the command line or a YAML sequence", where);
    return set_value(t, obj, k, val, where, NULL);
}

/* ---- flags ----------------------------------------------------------------------- */

skiff_status_t *skiff__cfg_parse_argv(const skiff__cfg_table *t, void *obj, int argc, char **argv,
                                      skiff__arena *strings, skiff__cfg_positional_cb positional,
                                      void *user, bool *out_help)
{
    *out_help = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *out_help = true;
            return NULL;
        }
        if (strncmp(a, "--", 2) != 0) {
            skiff_status_t *st =
                positional ? positional(a, user) : bad("unexpected argument '%s'", a);
            if (st)
                return st;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const skiff__cfg_key *k = skiff__cfg_find(t, name, nlen);
        if (!k)
            return bad("unknown option '--%.*s' (see %s --help)", (int)nlen, name, t->command);
        char where[96];
        snprintf(where, sizeof(where), "--%s", k->name);
        skiff_status_t *st;
        if (k->type == SKIFF__CFG_LIST) {
            int n0 = *(int *)(void *)((char *)obj + k->count_offset);
            if (eq && (st = list_append(obj, k, eq + 1, strings)))
                return st;
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
                if ((st = list_append(obj, k, argv[++i], strings)))
                    return st;
            if (*(int *)(void *)((char *)obj + k->count_offset) == n0)
                return bad("%s needs at least one %s", where, k->metavar ? k->metavar : "value");
            continue;
        }
        bool takes_no_value =
            k->type == SKIFF__CFG_BOOL || (k->type == SKIFF__CFG_IGNORED && !k->metavar);
        if (takes_no_value && !eq) {
            if ((st = set_value(t, obj, k, "true", where, strings)))
                return st;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val)
            return bad("%s needs a value", where);
        if ((st = set_value(t, obj, k, val, where, strings)))
            return st;
    }
    return NULL;
}

/* ---- YAML ----------------------------------------------------------------------- */

typedef struct yreader {
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_ev;
    const char *origin;
} yreader;

static skiff_status_t *ynext(yreader *y)
{
    if (y->have_ev)
        yaml_event_delete(&y->ev);
    y->have_ev = false;
    if (!yaml_parser_parse(&y->parser, &y->ev))
        return bad("%s:%zu:%zu: malformed YAML: %s", y->origin, y->parser.problem_mark.line + 1,
                   y->parser.problem_mark.column + 1,
                   y->parser.problem ? y->parser.problem : "parse error");
    y->have_ev = true;
    return NULL;
}

static const char *ev_kind(const yaml_event_t *e)
{
    switch (e->type) {
    case YAML_MAPPING_START_EVENT: return "a mapping";
    case YAML_SEQUENCE_START_EVENT: return "a list";
    case YAML_SCALAR_EVENT: return "a value";
    case YAML_ALIAS_EVENT: return "an alias";
    default: return "nothing";
    }
}

/* The current scalar event's value, copied into strings. */
static skiff_status_t *scalar_copy(yreader *y, skiff__arena *strings, const char **out)
{
    const yaml_event_t *e = &y->ev;
    if (e->data.scalar.tag)
        return bad("%s:%zu: tags (%s) are not supported", y->origin, e->start_mark.line + 1,
                   (const char *)e->data.scalar.tag);
    *out = skiff__arena_strndup(strings, (const char *)e->data.scalar.value, e->data.scalar.length);
    return *out ? NULL : skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
}

static skiff_status_t *yaml_value(const skiff__cfg_table *t, void *obj, yreader *y,
                                  const skiff__cfg_key *k, const char *where, skiff__arena *strings)
{
    skiff_status_t *st;
    const char *val = NULL;
    if (y->ev.type == YAML_SCALAR_EVENT) {
        if ((st = scalar_copy(y, strings, &val)))
            return st;
        return set_value(t, obj, k, val, where, strings);
    }
    if (y->ev.type != YAML_SEQUENCE_START_EVENT || k->type != SKIFF__CFG_LIST)
        return bad("%s: expected %s, got %s", where,
                   k->type == SKIFF__CFG_LIST ? "a value or a list of values" : "a value",
                   ev_kind(&y->ev));
    for (;;) {
        if ((st = ynext(y)))
            return st;
        if (y->ev.type == YAML_SEQUENCE_END_EVENT)
            return NULL;
        if (y->ev.type != YAML_SCALAR_EVENT)
            return bad("%s: list items must be values, got %s", where, ev_kind(&y->ev));
        if ((st = scalar_copy(y, strings, &val)) || (st = list_append(obj, k, val, strings)))
            return st;
    }
}

static skiff_status_t *yaml_mapping(const skiff__cfg_table *t, void *obj, yreader *y,
                                    skiff__arena *strings)
{
    skiff_status_t *st;
    for (;;) {
        if ((st = ynext(y)))
            return st;
        if (y->ev.type == YAML_MAPPING_END_EVENT)
            return NULL;
        if (y->ev.type != YAML_SCALAR_EVENT)
            return bad("%s:%zu: expected a key, got %s", y->origin, y->ev.start_mark.line + 1,
                       ev_kind(&y->ev));
        size_t line = y->ev.start_mark.line + 1;
        const char *key = (const char *)y->ev.data.scalar.value;
        size_t klen = y->ev.data.scalar.length;
        const skiff__cfg_key *k = skiff__cfg_find(t, key, klen);
        char where[160];
        snprintf(where, sizeof(where), "%s:%zu: %.*s", y->origin, line,
                 (int)(klen < 64 ? klen : 64), key);
        if (!k)
            return bad("%s: unknown key (see %s --help for the keys)", where, t->command);
        if ((st = ynext(y)) || (st = yaml_value(t, obj, y, k, where, strings)))
            return st;
    }
}

skiff_status_t *skiff__cfg_parse_yaml_text(const skiff__cfg_table *t, void *obj, const char *text,
                                           size_t len, const char *origin, skiff__arena *strings)
{
    yreader y = {.origin = origin ? origin : "<yaml>"};
    if (!yaml_parser_initialize(&y.parser))
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)text, len);
    skiff_status_t *st = NULL;
    bool seen_doc = false;
    for (;;) {
        if ((st = ynext(&y)))
            break;
        yaml_event_type_t ty = y.ev.type;
        if (ty == YAML_STREAM_END_EVENT)
            break;
        if (ty == YAML_STREAM_START_EVENT || ty == YAML_DOCUMENT_END_EVENT)
            continue;
        if (ty == YAML_DOCUMENT_START_EVENT) {
            if (seen_doc) {
                st = bad("%s:%zu: only one YAML document is read", y.origin,
                         y.ev.start_mark.line + 1);
                break;
            }
            seen_doc = true;
            continue;
        }
        if (ty == YAML_SCALAR_EVENT && y.ev.data.scalar.length == 0)
            continue; /* an empty document */
        if (ty != YAML_MAPPING_START_EVENT) {
            st = bad("%s:%zu: expected a mapping of keys to values, got %s", y.origin,
                     y.ev.start_mark.line + 1, ev_kind(&y.ev));
            break;
        }
        if ((st = yaml_mapping(t, obj, &y, strings)))
            break;
    }
    if (y.have_ev)
        yaml_event_delete(&y.ev);
    yaml_parser_delete(&y.parser);
    return st;
}

skiff_status_t *skiff__cfg_parse_yaml(const skiff__cfg_table *t, void *obj, const char *path,
                                      skiff__arena *strings)
{
    void *data = NULL;
    size_t size = 0;
    skiff_status_t *st = skiff__read_file(path, &data, &size);
    if (st)
        return skiff_status_wrap(st, "config file");
    st = skiff__cfg_parse_yaml_text(t, obj, data, size, path, strings);
    skiff__free(data);
    return st;
}

/* ---- help -------------------------------------------------------------------------- */

void skiff__cfg_help(const skiff__cfg_table *t, FILE *f)
{
    for (size_t i = 0; i < t->n; i++) {
        const skiff__cfg_key *k = &t->keys[i];
        char left[80];
        snprintf(left, sizeof(left), "--%s%s%s", k->name, k->metavar ? " " : "",
                 k->metavar ? k->metavar : "");
        char def[96] = "";
        switch (k->type) {
        case SKIFF__CFG_INT:
        case SKIFF__CFG_I64:
            snprintf(def, sizeof(def), " [default: %lld%s; %lld to %lld]", (long long)k->def_int,
                     k->def_str ? k->def_str : "", (long long)k->min, (long long)k->max);
            break;
        case SKIFF__CFG_STR:
        case SKIFF__CFG_CHOICE:
            if (k->def_str)
                snprintf(def, sizeof(def), " [default: %s]", k->def_str);
            break;
        case SKIFF__CFG_BOOL:
            snprintf(def, sizeof(def), " [default: %s]", k->def_int ? "true" : "false");
            break;
        default: break;
        }
        if (strlen(left) > 30)
            fprintf(f, "  %s\n  %-30s %s%s\n", left, "", k->help, def);
        else
            fprintf(f, "  %-30s %s%s\n", left, k->help, def);
    }
}
