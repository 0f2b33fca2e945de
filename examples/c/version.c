/* version.c - skiff/version.h: the version compiled against and the one
 * running, which differ when libskiff.so was upgraded under the program.
 *
 *     cc version.c $(pkg-config --cflags --libs skiff) -o version && ./version
 */
#include <stdio.h>
#include <string.h>

#include <skiff/version.h>

int main(void)
{
    printf("compiled against skiff %s (%d.%d.%d, number %d)\n", SKIFF_VERSION, SKIFF_VERSION_MAJOR,
           SKIFF_VERSION_MINOR, SKIFF_VERSION_PATCH, SKIFF_VERSION_NUMBER);
    printf("running with libskiff %s\n", skiff_version());
    /* Same major version: same ABI. */
    int major = 0;
    if (sscanf(skiff_version(), "%d.", &major) != 1 || major != SKIFF_VERSION_MAJOR) {
        fprintf(stderr, "libskiff %s does not match the headers (%s)\n", skiff_version(),
                SKIFF_VERSION);
        return 1;
    }
    return strcmp(skiff_version(), SKIFF_VERSION) == 0 ? 0 : 1;
}
