/* fuzz.h - what every fuzz target shares.
 *
 * A target is one file tests/fuzz/fuzz_<name>.c defining LLVMFuzzerTestOneInput
 * (and optionally LLVMFuzzerInitialize), with seeds in tests/fuzz/corpus/fuzz_<name>/.
 * tests/fuzz/CMakeLists.txt builds it twice: as a libFuzzer binary when SKIFF_FUZZ is on,
 * and linked with replay_main.c as fuzz_<name>_replay, a CTest test that feeds it every
 * corpus file, so the ordinary (and sanitizer) test runs cover the corpora.
 * docs/reliability.md says how to run, extend and reproduce. */
#ifndef SKIFF_FUZZ_H
#define SKIFF_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property the code under test broke (not a clean error): abort so both
 * libFuzzer and the replay driver report it with the input that did it. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#endif
