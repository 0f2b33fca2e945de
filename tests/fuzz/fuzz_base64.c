/* fuzz_base64.c - the base64 decoder of image requests
 * (skiff__vision_base64_decode). Whatever it accepts must re-encode (with
 * the standard alphabet, padded) to the input's alphabet characters with
 * whitespace removed, URL-safe characters mapped and padding normalised. */
#include <string.h>

#include "core/buf.h"
#include "fuzz.h"
#include "vision/vision.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = NULL;
    size_t n = 0;
    skiff_status_t *st = skiff__vision_base64_decode((const char *)data, size, &out, &n);
    if (st) {
        FUZZ_CHECK(out == NULL);
        skiff_status_free(st);
        return 0;
    }
    FUZZ_CHECK(n <= size / 4 * 3 + 3);
    skiff__buf b = {0};
    if (skiff__buf_base64(&b, out, n)) {
        size_t j = 0, total = 0;
        for (size_t i = 0; i < size; i++)
            total += data[i] != ' ' && data[i] != '\t' && data[i] != '\r' && data[i] != '\n' &&
                     data[i] != '\f' && data[i] != '\v' && data[i] != '=';
        for (size_t i = 0; i < size; i++) {
            char c = (char)data[i];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v' ||
                c == '=')
                continue;
            c = c == '-' ? '+' : c == '_' ? '/' : c;
            /* A final partial group's last character may carry unused low
             * bits, which the decoder drops; the rest must match. */
            FUZZ_CHECK(j < b.len && (b.data[j] == c || (j + 1 == total && total % 4)));
            j++;
        }
        for (j = total; j < b.len; j++)
            FUZZ_CHECK(b.data[j] == '=');
    }
    skiff__buf_free(&b);
    skiff__free(out);
    return 0;
}
