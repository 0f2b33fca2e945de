/* version.c - the library's version, from the generated skiff/version.h. */
#include "skiff/version.h"

const char *skiff_version(void) { return SKIFF_VERSION; }
