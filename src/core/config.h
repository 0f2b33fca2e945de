/* config.h - configuration as one declarative table: key, type, default,
 * bounds, help. The same table fills defaults, parses command-line flags,
 * reads a YAML file of the same keys, checks bounds and choices, and prints
 * --help, so none of them can disagree. Errors name where the value came
 * from: the flag (--port), or the file, line and key (serve.yml:3: port).
 *
 * A table describes the fields of one C struct by offset; the struct owns
 * nothing the table writes except through `strings` (an arena the caller
 * keeps for the struct's life: YAML values are copied there; flag values are
 * borrowed from argv).
 *
 * Threads: any, one table/struct pair at a time.
 */
#ifndef SKIFF_CORE_CONFIG_H
#define SKIFF_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/arena.h"
#include "skiff/status.h"

typedef enum skiff__cfg_type {
    SKIFF__CFG_INT,     /* int, bounded by min..max */
    SKIFF__CFG_I64,     /* int64_t, bounded */
    SKIFF__CFG_STR,     /* const char * */
    SKIFF__CFG_BOOL,    /* bool; a flag alone means true, --x=false too */
    SKIFF__CFG_CHOICE,  /* const char *, one of choices "a|b|c" */
    SKIFF__CFG_LIST,    /* const char ** at offset, int count at count_offset */
    SKIFF__CFG_IGNORED, /* accepted with a note (compatibility); metavar NULL: takes no value */
} skiff__cfg_type;

typedef struct skiff__cfg_key {
    const char *name;
    skiff__cfg_type type;
    size_t offset;
    int64_t def_int;
    const char *def_str;
    int64_t min, max;
    const char *choices;
    const char *metavar;
    const char *help;
    size_t count_offset; /* LIST only */
} skiff__cfg_key;

typedef struct skiff__cfg_table {
    const skiff__cfg_key *keys;
    size_t n;
    const char *command; /* "skiff serve", for messages */
} skiff__cfg_table;

/* Every key's default into obj (LIST: empty). */
void skiff__cfg_defaults(const skiff__cfg_table *t, void *obj);

/* The key called name (len bytes), or NULL. */
const skiff__cfg_key *skiff__cfg_find(const skiff__cfg_table *t, const char *name, size_t len);

/* Sets one scalar key from text: parsed and checked against its type,
 * bounds and choices. `where` names the source in errors ("--port",
 * "serve.yml:3: port"). val is borrowed: copy it first when it does not
 * outlive obj. LIST keys append one item. */
skiff_status_t *skiff__cfg_set(const skiff__cfg_table *t, void *obj, const skiff__cfg_key *k,
                               const char *val, const char *where);

/* Flags: --key VALUE, --key=VALUE, bool flags alone, LIST keys take every
 * following argument up to the next --flag. -h/--help sets *out_help and
 * stops. Values are borrowed from argv; list storage comes from strings.
 * argv[0] is the subcommand name. `positional`, when not NULL, is asked
 * about an argument that is no flag (return an error status, or NULL to
 * accept it). */
typedef skiff_status_t *(*skiff__cfg_positional_cb)(const char *arg, void *user);
skiff_status_t *skiff__cfg_parse_argv(const skiff__cfg_table *t, void *obj, int argc, char **argv,
                                      skiff__arena *strings, skiff__cfg_positional_cb positional,
                                      void *user, bool *out_help);

/* A YAML file whose top level is a mapping of the table's keys to scalars
 * (LIST keys: a scalar or a sequence of scalars). Values are copied into
 * strings. Unknown keys, wrong shapes and bad values are errors naming the
 * file, line and key. */
skiff_status_t *skiff__cfg_parse_yaml(const skiff__cfg_table *t, void *obj, const char *path,
                                      skiff__arena *strings);
/* The same from text in memory (origin names it in errors). */
skiff_status_t *skiff__cfg_parse_yaml_text(const skiff__cfg_table *t, void *obj, const char *text,
                                           size_t len, const char *origin, skiff__arena *strings);

/* Every key with its metavar, help, default and bounds, one per line. */
void skiff__cfg_help(const skiff__cfg_table *t, FILE *f);

#endif
