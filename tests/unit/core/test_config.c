/* Unit tests for the declarative config table (config.c): defaults, flags,
 * the YAML front, and errors that name the flag or the file, line and key.
 * Registered in test_core.c's main(). */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "core/config.h"
#include "core/core.h"

void test_config_flags(void **state);
void test_config_yaml(void **state);

typedef struct opts {
    int port;
    int64_t big;
    const char *host;
    bool verbose;
    const char *mode;
    const char **items;
    int n_items;
} opts;

#define O(f) offsetof(opts, f)
static const skiff__cfg_key keys[] = {
    {"port", SKIFF__CFG_INT, O(port), 80, NULL, 1, 65535, NULL, "N", "port"},
    {"big", SKIFF__CFG_I64, O(big), 5, NULL, 0, (int64_t)1 << 40, NULL, "N", "a big one"},
    {"host", SKIFF__CFG_STR, O(host), 0, "localhost", 0, 0, NULL, "H", "host"},
    {"verbose", SKIFF__CFG_BOOL, O(verbose), 0, NULL, 0, 0, NULL, NULL, "verbose"},
    {"mode", SKIFF__CFG_CHOICE, O(mode), 0, "a", 0, 0, "a|b", "M", "mode"},
    {"item", SKIFF__CFG_LIST, O(items), 0, NULL, 0, 0, NULL, "X", "items", O(n_items)},
    {"old", SKIFF__CFG_IGNORED, 0, 0, NULL, 0, 0, NULL, "V", "ignored"},
};
static const skiff__cfg_table table = {keys, sizeof(keys) / sizeof(keys[0]), "test"};

static void expect_error(skiff_status_t *st, const char *needle)
{
    assert_non_null(st);
    if (!strstr(skiff_status_message(st), needle))
        fail_msg("'%s' lacks '%s'", skiff_status_message(st), needle);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    skiff_status_free(st);
}

static skiff_status_t *argv_parse(opts *o, skiff__arena *a, const char *line)
{
    static char buf[512];
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof(buf), "%s", line);
    argv[argc++] = "test";
    for (char *t = strtok(buf, " "); t && argc < 32; t = strtok(NULL, " "))
        argv[argc++] = t;
    bool help;
    skiff__cfg_defaults(&table, o);
    return skiff__cfg_parse_argv(&table, o, argc, argv, a, NULL, NULL, &help);
}

void test_config_flags(void **state)
{
    skiff__arena *a = skiff__arena_new(256);
    opts o;
    skiff__cfg_defaults(&table, &o);
    assert_int_equal(o.port, 80);
    assert_string_equal(o.host, "localhost");
    assert_string_equal(o.mode, "a");
    assert_int_equal(o.n_items, 0);
    assert_null(argv_parse(&o, a, "--port 81 --big=7 --verbose --mode b --item x y --old 3"));
    assert_int_equal(o.port, 81);
    assert_int_equal(o.big, 7);
    assert_true(o.verbose);
    assert_string_equal(o.mode, "b");
    assert_int_equal(o.n_items, 2);
    assert_string_equal(o.items[1], "y");
    assert_null(argv_parse(&o, a, "--verbose=false"));
    assert_false(o.verbose);
    expect_error(argv_parse(&o, a, "--port 0"), "--port 0 is out of range [1, 65535]");
    expect_error(argv_parse(&o, a, "--port x"), "--port expects an integer, got 'x'");
    expect_error(argv_parse(&o, a, "--mode c"), "--mode expects one of a|b, got 'c'");
    expect_error(argv_parse(&o, a, "--verbose=maybe"), "--verbose expects true or false");
    expect_error(argv_parse(&o, a, "--nope 1"), "unknown option '--nope' (see test --help)");
    expect_error(argv_parse(&o, a, "--port"), "--port needs a value");
    expect_error(argv_parse(&o, a, "--item --port 3"), "--item needs at least one X");
    expect_error(argv_parse(&o, a, "stray"), "unexpected argument 'stray'");
    skiff__arena_free(a);
}

static skiff_status_t *yaml(opts *o, skiff__arena *a, const char *text)
{
    skiff__cfg_defaults(&table, o);
    return skiff__cfg_parse_yaml_text(&table, o, text, strlen(text), "t.yml", a);
}

void test_config_yaml(void **state)
{
    skiff__arena *a = skiff__arena_new(256);
    opts o;
    assert_null(yaml(&o, a,
                     "# settings\nport: 8080\nhost: \"0.0.0.0\"\nverbose: yes\nitem: [m1, m2:x]\n"
                     "big: 1099511627776\nmode: b\n"));
    assert_int_equal(o.port, 8080);
    assert_string_equal(o.host, "0.0.0.0");
    assert_true(o.verbose);
    assert_int_equal(o.n_items, 2);
    assert_string_equal(o.items[1], "m2:x");
    assert_int_equal(o.big, (int64_t)1 << 40);
    assert_null(yaml(&o, a, "item:\n  - one\n"));
    assert_int_equal(o.n_items, 1);
    assert_null(yaml(&o, a, "item: single\n"));
    assert_string_equal(o.items[0], "single");
    assert_null(yaml(&o, a, ""));
    assert_null(yaml(&o, a, "---\n"));
    /* Errors: file, line and key. */
    expect_error(yaml(&o, a, "port: 8080\nmode: c\n"), "t.yml:2: mode expects one of a|b");
    expect_error(yaml(&o, a, "\n\nwhat: 1\n"), "t.yml:3: what: unknown key");
    expect_error(yaml(&o, a, "port: [1, 2]\n"), "t.yml:1: port: expected a value, got a list");
    expect_error(yaml(&o, a, "item: {a: 1}\n"), "expected a value or a list of values");
    expect_error(yaml(&o, a, "item: [[a]]\n"), "list items must be values, got a list");
    expect_error(yaml(&o, a, "- a\n- b\n"), "t.yml:1: expected a mapping of keys to values");
    expect_error(yaml(&o, a, "host: \"open\n"), "malformed YAML");
    expect_error(yaml(&o, a, "port: !!int 3\n"), "tags");
    expect_error(yaml(&o, a, "port: 1\n---\nport: 2\n"), "only one YAML document");
    expect_error(yaml(&o, a, "port: &p 1\nbig: *p\n"), "got an alias");
    skiff_status_t *st = skiff__cfg_parse_yaml(&table, &o, "/nonexistent/x.yml", a);
    assert_non_null(st);
    assert_non_null(strstr(skiff_status_message(st), "config file"));
    skiff_status_free(st);
    skiff__arena_free(a);
}
