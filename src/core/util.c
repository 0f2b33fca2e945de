/* util.c - number parsing, clocks, half-precision conversion, file reading,
 * CPU counting. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

bool skiff__parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || end == s)
        return false;
    *out = v;
    return true;
}

bool skiff__parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end != '\0' || end == s)
        return false;
    *out = v;
    return true;
}

uint64_t skiff__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

float skiff__f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t skiff__f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (absx < 0x38800000u) { /* below the smallest normal: subnormal or zero */
        if (absx < 0x33000000u)
            return (uint16_t)sign;
        uint32_t e = absx >> 23;
        uint32_t m = (absx & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t half = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t e = (absx >> 23) - 127 + 15;
    uint32_t m = absx & 0x7fffff;
    uint32_t h = (e << 10) | (m >> 13);
    uint32_t rem = m & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

float skiff__bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t skiff__f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

skiff_status_t *skiff__read_file(const char *path, void **out_data, size_t *out_size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return skiff_status_new(errno == ENOENT ? SKIFF_CODE_NOT_FOUND : SKIFF_CODE_INVALID_ARG,
                                "cannot open '%s': %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "cannot seek '%s'", path);
    }
    long len = ftell(f);
    if (len < 0) {
        fclose(f);
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "'%s' is not a regular file", path);
    }
    rewind(f);
    void *buf = skiff__malloc((size_t)len + 1);
    if (!buf) {
        fclose(f);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED,
                                "out of memory reading '%s' (%ld bytes)", path, len);
    }
    size_t got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    if (got != (size_t)len) {
        skiff__free(buf);
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "short read on '%s'", path);
    }
    ((char *)buf)[len] = '\0';
    *out_data = buf;
    *out_size = (size_t)len;
    return NULL;
}

skiff_status_t *skiff__map_file(const char *path, const void **out_data, size_t *out_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return skiff_status_new(errno == ENOENT ? SKIFF_CODE_NOT_FOUND : SKIFF_CODE_INVALID_ARG,
                                "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "'%s' is not a regular file", path);
    }
    static const char empty[1];
    if (sb.st_size == 0) {
        close(fd);
        *out_data = empty;
        *out_size = 0;
        return NULL;
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "cannot map '%s' (%lld bytes): %s",
                                path, (long long)sb.st_size, strerror(err));
    *out_data = p;
    *out_size = (size_t)sb.st_size;
    return NULL;
}

void skiff__unmap_file(const void *data, size_t size)
{
    if (data && size)
        munmap((void *)data, size);
}

void skiff__map_drop(const void *addr, size_t len)
{
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t page = pg > 0 ? (uintptr_t)pg : 4096;
    uintptr_t a = ((uintptr_t)addr + page - 1) & ~(page - 1);
    uintptr_t e = ((uintptr_t)addr + len) & ~(page - 1);
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_DONTNEED);
}

/* Cores from cgroup v2 cpu.max ("max 100000" or "200000 100000"), or 0. */
static int cgroup_cpus(void)
{
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (!f)
        return 0;
    char quota[32] = {0};
    long period = 0;
    int n = fscanf(f, "%31s %ld", quota, &period);
    fclose(f);
    if (n != 2 || strcmp(quota, "max") == 0 || period <= 0)
        return 0;
    int64_t q;
    if (!skiff__parse_i64(quota, &q) || q <= 0)
        return 0;
    int c = (int)((q + period - 1) / period);
    return c > 0 ? c : 1;
}

int skiff_cpu_count(void)
{
    int n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        n = CPU_COUNT(&set);
    if (n <= 0)
        n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int cg = cgroup_cpus();
    if (cg > 0 && cg < n)
        n = cg;
    return n > 0 ? n : 1;
}
