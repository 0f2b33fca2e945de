/* log.c - one logging entry point: level checked before formatting, messages
 * passed whole to a pluggable sink (skiff/log.h; stderr with a timestamp by
 * default), identical repeated errors folded into a count.
 *
 * The level is an atomic read without the lock, so a message below it costs
 * one load and a comparison; everything after formatting runs under one lock,
 * which keeps lines whole and the sink's calls one at a time. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core.h"

static _Atomic int log_level = SKIFF_LOG_INFO;
static skiff_log_cb log_sink;
static void *log_user;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_line[256];
static unsigned long repeats;

void skiff_log_set_level(skiff_log_level_t level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

skiff_log_level_t skiff_log_get_level(void)
{
    return (skiff_log_level_t)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void skiff_log_set_sink(skiff_log_cb cb, void *user)
{
    pthread_mutex_lock(&log_lock);
    log_sink = cb;
    log_user = user;
    pthread_mutex_unlock(&log_lock);
}

/* Called with log_lock held. */
static void emit(skiff_log_level_t level, const char *msg)
{
    if (log_sink) {
        log_sink(level, msg, log_user);
        return;
    }
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    /* One fputs of the whole line, so lines of other writers to stderr never
     * cut into it. */
    char line[2400];
    snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000, names[level > SKIFF_LOG_ERROR ? SKIFF_LOG_ERROR : level], msg);
    fputs(line, stderr);
}

void skiff_log(skiff_log_level_t level, const char *fmt, ...)
{
    if ((int)level < atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    if (level > SKIFF_LOG_ERROR)
        level = SKIFF_LOG_ERROR;
    char msg[2200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, 2048, fmt, ap); /* the rest leaves room for the repeat count */
    va_end(ap);

    pthread_mutex_lock(&log_lock);
    if (level >= SKIFF_LOG_ERROR && strncmp(last_line, msg, sizeof(last_line) - 1) == 0) {
        /* Identical error again: count it instead of flooding the log. */
        if (++repeats % 1000 != 0) {
            pthread_mutex_unlock(&log_lock);
            return;
        }
        size_t len = strlen(msg);
        snprintf(msg + len, sizeof(msg) - len, " (repeated %lu times)", repeats);
    } else {
        if (repeats > 0 && repeats % 1000 != 0) {
            char note[320];
            snprintf(note, sizeof(note), "last error repeated %lu more times", repeats % 1000);
            emit(SKIFF_LOG_ERROR, note);
        }
        repeats = 0;
        if (level >= SKIFF_LOG_ERROR)
            memcpy(last_line, msg, sizeof(last_line) - 1); /* msg is larger; compare a prefix */
        else
            last_line[0] = '\0';
    }
    emit(level, msg);
    pthread_mutex_unlock(&log_lock);
}
