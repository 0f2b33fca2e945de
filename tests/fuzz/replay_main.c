/* replay_main.c - runs a fuzz target over files without libFuzzer, so the
 * committed corpus is replayed by plain CTest (and under ASan/UBSan in the
 * sanitizer build).
 *
 *     fuzz_npy_replay PATH...   each PATH a file, or a directory whose regular
 *                               files are fed (not recursively), in name order
 *
 * Exit 0 when every input ran; a bug in the target aborts or trips a sanitizer.
 * An unreadable path or an empty directory is an error too: a replay that
 * silently ran nothing would hide a broken corpus. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "fuzz.h"

/* Targets may leave LLVMFuzzerInitialize out; libFuzzer treats it as weak too. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path)
{
    void *data = NULL;
    size_t size = 0;
    skiff_status_t *st = skiff__read_file(path, &data, &size);
    if (st) {
        fprintf(stderr, "replay: %s\n", skiff_status_message(st));
        skiff_status_free(st);
        return -1;
    }
    /* Exactly `size` bytes in a buffer of their own, so ASan catches a read one
     * past the end (skiff__read_file allocates one more for a NUL). */
    uint8_t *copy = skiff__malloc(size);
    if (!copy) {
        skiff__free(data);
        fprintf(stderr, "replay: out of memory for %s\n", path);
        return -1;
    }
    if (size)
        memcpy(copy, data, size);
    skiff__free(data);
    LLVMFuzzerTestOneInput(copy, size);
    skiff__free(copy);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feeds the regular files of one directory; returns how many, or -1. */
static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open directory %s\n", dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **grown = skiff__realloc(names, ncap * sizeof(*names));
            if (!grown) {
                rc = -1;
                break;
            }
            names = grown;
            cap = ncap;
        }
        size_t len = strlen(dir) + 1 + strlen(e->d_name) + 1;
        names[n] = skiff__malloc(len);
        if (!names[n]) {
            rc = -1;
            break;
        }
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);
    int ran = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (rc == 0 && stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (run_file(names[i]) != 0)
                rc = -1;
            else
                ran++;
        }
        skiff__free(names[i]);
    }
    skiff__free(names);
    return rc ? rc : ran;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) {
            fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
            return 1;
        }
        int ran = S_ISDIR(sb.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) == 0 ? 1 : -1);
        if (ran < 0)
            return 1;
        if (ran == 0) {
            fprintf(stderr, "replay: %s holds no input files\n", argv[i]);
            return 1;
        }
        total += ran;
    }
    printf("replay: %d inputs ran cleanly\n", total);
    return 0;
}
