/* text.c - vocabulary lookup and BERT's WordPiece tokeniser.
 *
 * The vocabulary is an open-addressing hash table over the file's lines
 * (kept in one buffer). Tokenising runs BERT's basic tokeniser (split on
 * whitespace, split off punctuation and CJK ideographs one by one, drop
 * control characters, optionally lowercase and strip combining accents of
 * Latin letters) and then, per word, greedy longest-match-first: the longest
 * vocabulary prefix, then "##"-prefixed continuations; a word that cannot be
 * covered, or longer than max_chars characters, is one unk. */
#include <string.h>

#include "text.h"

struct skiff__wordpiece {
    char *mem;
    const char **tok;
    size_t *len;
    int64_t n;
    int64_t *slot; /* hash -> id + 1; 0 empty */
    size_t nslot;
    int64_t unk;
    bool lower;
    int max_chars;
};

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int64_t find(const skiff__wordpiece *wp, const char *s, size_t n)
{
    size_t m = wp->nslot - 1;
    for (size_t i = hash(s, n) & m;; i = (i + 1) & m) {
        int64_t v = wp->slot[i];
        if (!v)
            return -1;
        if (wp->len[v - 1] == n && memcmp(wp->tok[v - 1], s, n) == 0)
            return v - 1;
    }
}

void skiff__wordpiece_free(skiff__wordpiece *wp)
{
    if (!wp)
        return;
    skiff__free(wp->mem);
    skiff__free(wp->tok);
    skiff__free(wp->len);
    skiff__free(wp->slot);
    skiff__free(wp);
}

skiff_status_t *skiff__wordpiece_load(const char *path, const char *unk, bool lower, int max_chars,
                                      skiff__wordpiece **out)
{
    *out = NULL;
    void *data = NULL;
    size_t size = 0;
    skiff_status_t *st = skiff__read_file(path, &data, &size);
    if (st)
        return st;
    skiff__wordpiece *wp = skiff__calloc(1, sizeof *wp);
    if (!wp) {
        skiff__free(data);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "vocab '%s': out of memory", path);
    }
    wp->mem = data;
    wp->lower = lower;
    wp->max_chars = max_chars > 0 ? max_chars : 100;
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += wp->mem[i] == '\n';
    wp->nslot = 16;
    while (wp->nslot < lines * 2)
        wp->nslot *= 2;
    wp->tok = skiff__malloc(sizeof(char *) * lines);
    wp->len = skiff__malloc(sizeof(size_t) * lines);
    wp->slot = skiff__calloc(wp->nslot, sizeof(int64_t));
    if (!wp->tok || !wp->len || !wp->slot) {
        skiff__wordpiece_free(wp);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "vocab '%s': out of memory", path);
    }
    size_t at = 0;
    while (at < size) {
        size_t e = at;
        while (e < size && wp->mem[e] != '\n')
            e++;
        size_t end = e;
        while (end > at && (wp->mem[end - 1] == '\r' || wp->mem[end - 1] == ' '))
            end--;
        int64_t id = wp->n++;
        wp->tok[id] = wp->mem + at;
        wp->len[id] = end - at;
        /* The first of duplicate lines keeps the name, as a dict built in
         * order would keep the last; BERT vocabularies have none. */
        if (find(wp, wp->tok[id], wp->len[id]) < 0) {
            size_t m = wp->nslot - 1, i = hash(wp->tok[id], wp->len[id]) & m;
            while (wp->slot[i])
                i = (i + 1) & m;
            wp->slot[i] = id + 1;
        }
        at = e + 1;
    }
    wp->unk = find(wp, unk, strlen(unk));
    if (wp->unk < 0) {
        skiff__wordpiece_free(wp);
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "vocab '%s': unknown token '%s' not in it",
                                path, unk);
    }
    *out = wp;
    return NULL;
}

int64_t skiff__wordpiece_lookup(const skiff__wordpiece *wp, const char *tok, size_t n)
{
    int64_t id = find(wp, tok, n);
    return id < 0 ? wp->unk : id;
}

/* Decodes one UTF-8 character at s (n bytes left); invalid bytes read as
 * U+FFFD of length 1. */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *len)
{
    unsigned c = s[0];
    int need = c < 0x80             ? 0
               : (c & 0xE0) == 0xC0 ? 1
               : (c & 0xF0) == 0xE0 ? 2
               : (c & 0xF8) == 0xF0 ? 3
                                    : -1;
    if (need < 0 || (size_t)need >= n + 0) {
        if (need == 0) {
            *len = 1;
            return c;
        }
        *len = 1;
        return 0xFFFD;
    }
    uint32_t v = need == 0 ? c : c & (0x3F >> need);
    for (int i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *len = 1;
            return 0xFFFD;
        }
        v = v << 6 | (s[i] & 0x3F);
    }
    *len = (size_t)need + 1;
    return v;
}

static size_t utf8_put(uint32_t c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | c >> 12);
        o[1] = (char)(0x80 | (c >> 6 & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | c >> 18);
    o[1] = (char)(0x80 | (c >> 12 & 0x3F));
    o[2] = (char)(0x80 | (c >> 6 & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

static bool is_space(uint32_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xA0 || c == 0x3000 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x202F || c == 0x205F;
}

static bool is_control(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return false;
    return c < 0x20 || (c >= 0x7F && c < 0xA0) || c == 0xFFFD || c == 0;
}

static bool is_punct(uint32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return true;
    return (c >= 0x2010 && c <= 0x2027) || (c >= 0x3001 && c <= 0x3003) ||
           (c >= 0xFF01 && c <= 0xFF0F) || c == 0xA1 || c == 0xBF || c == 0xAB || c == 0xBB;
}

static bool is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Lowercase and accent stripping for ASCII and Latin-1 letters; combining
 * marks (U+0300..U+036F) are dropped. */
static uint32_t fold(uint32_t c, bool *drop)
{
    *drop = c >= 0x300 && c <= 0x36F;
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c >= 0xC0 && c <= 0xFF && c != 0xD7 && c != 0xF7) {
        static const char base[] = "aaaaaaaceeeeiiiidnooooo ouuuuyts"
                                   "aaaaaaaceeeeiiiidnooooo ouuuuyty";
        char b = base[(c - 0xC0) & 0x3F];
        if (c == 0xC6 || c == 0xE6 || c == 0xDF || c == 0xD0 || c == 0xF0 || c == 0xDE ||
            c == 0xFE || c == 0xD8 || c == 0xF8)
            return c >= 0xE0 ? c : c + 0x20 * (c != 0xDF);
        return (uint32_t)b;
    }
    return c;
}

static bool push(int64_t **ids, size_t *count, size_t *cap, int64_t v)
{
    if (*count == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        int64_t *p = skiff__realloc(*ids, sizeof(int64_t) * nc);
        if (!p)
            return false;
        *ids = p;
        *cap = nc;
    }
    (*ids)[(*count)++] = v;
    return true;
}

/* Greedy longest-match-first over one word (UTF-8, nchar characters). */
static bool word_pieces(const skiff__wordpiece *wp, const char *w, size_t n, size_t nchar,
                        char *tmp, int64_t **ids, size_t *count, size_t *cap)
{
    if ((int)nchar > wp->max_chars)
        return push(ids, count, cap, wp->unk);
    size_t first = *count, start = 0;
    while (start < n) {
        size_t end = n;
        int64_t found = -1;
        while (end > start) {
            size_t l = 0;
            if (start > 0) {
                memcpy(tmp, "##", 2);
                l = 2;
            }
            memcpy(tmp + l, w + start, end - start);
            found = find(wp, tmp, l + end - start);
            if (found >= 0)
                break;
            /* Back up one whole UTF-8 character. */
            do
                end--;
            while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80);
        }
        if (found < 0) {
            *count = first;
            return push(ids, count, cap, wp->unk);
        }
        if (!push(ids, count, cap, found))
            return false;
        start = end;
    }
    return true;
}

skiff_status_t *skiff__wordpiece_tokenize(const skiff__wordpiece *wp, const char *text, size_t n,
                                          int64_t **ids, size_t *count)
{
    size_t cap = *count;
    char *word = skiff__malloc(n * 4 + 8), *tmp = skiff__malloc(n * 4 + 8);
    if (!word || !tmp) {
        skiff__free(word);
        skiff__free(tmp);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "wordpiece: out of memory");
    }
    const unsigned char *s = (const unsigned char *)text;
    size_t wl = 0, wchars = 0, i = 0;
    bool ok = true;
    while (ok && i <= n) {
        uint32_t c = 0;
        size_t len = 1;
        bool end = i == n;
        if (!end)
            c = utf8_next(s + i, n - i, &len);
        bool drop = false;
        if (!end && wp->lower)
            c = fold(c, &drop);
        if (!end && (is_control(c) || drop)) {
            i += len;
            continue;
        }
        bool sep = end || is_space(c), single = !end && (is_punct(c) || is_cjk(c));
        if ((sep || single) && wl) {
            ok = word_pieces(wp, word, wl, wchars, tmp, ids, count, &cap);
            wl = wchars = 0;
        }
        if (ok && single) {
            char one[4];
            size_t l = utf8_put(c, one);
            ok = word_pieces(wp, one, l, 1, tmp, ids, count, &cap);
        } else if (!sep) {
            wl += utf8_put(c, word + wl);
            wchars++;
        }
        i += len;
    }
    skiff__free(word);
    skiff__free(tmp);
    return ok ? NULL : skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "wordpiece: out of memory");
}
