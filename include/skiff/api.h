/* skiff/api.h - SKIFF_API, the mark of every public function.
 *
 * libskiff is built with -fvisibility=hidden: a function is exported from the
 * shared library only when its declaration in include/skiff/ carries SKIFF_API
 * (and its name starts with skiff_, which the library's linker version script
 * also requires). Everything else stays internal to the library.
 */
#ifndef SKIFF_API_H
#define SKIFF_API_H

#ifndef SKIFF_API
#if defined(__GNUC__) || defined(__clang__)
#define SKIFF_API __attribute__((visibility("default")))
#else
#define SKIFF_API
#endif
#endif

#endif
