/* text.h - the text layer: vocabularies and BERT's WordPiece tokeniser, for
 * the pipeline's text steps. Calls only core.
 *
 * Threads: a loaded vocabulary is immutable; any number of threads may
 * tokenise with it at once. */
#ifndef SKIFF_TEXT_H
#define SKIFF_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

typedef struct skiff__wordpiece skiff__wordpiece;

/* Loads a vocabulary file (one token a line; the id is the line number).
 * unk: the token for unknown words ("[UNK]"), which must be in the file.
 * lower: lowercase (and strip accents of Latin letters) before splitting.
 * max_chars: longer words become unk (BERT: 100). Caller frees. */
skiff_status_t *skiff__wordpiece_load(const char *path, const char *unk, bool lower, int max_chars,
                                      skiff__wordpiece **out);
void skiff__wordpiece_free(skiff__wordpiece *wp);

/* The id of a whole token, or the unk id when absent. */
int64_t skiff__wordpiece_lookup(const skiff__wordpiece *wp, const char *tok, size_t n);

/* Basic tokeniser (whitespace, punctuation, CJK characters split, control
 * characters dropped) then greedy longest-match-first with "##"
 * continuations. Appends ids to *ids (grown with skiff__realloc; caller
 * frees). */
skiff_status_t *skiff__wordpiece_tokenize(const skiff__wordpiece *wp, const char *text, size_t n,
                                          int64_t **ids, size_t *count);

#endif
