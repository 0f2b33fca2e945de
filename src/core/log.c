/* log.c - one logging entry point: level checked before formatting, lines
 * written whole to a pluggable sink (stderr by default), identical repeated
 * errors folded into a count. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core.h"

static skiff_log_level_t log_level = SKIFF_LOG_INFO;
static skiff_log_cb log_sink;
static void *log_user;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_line[256];
static unsigned long repeats;

void skiff_log_set_level(skiff_log_level_t level) { log_level = level; }
skiff_log_level_t skiff_log_get_level(void) { return log_level; }

void skiff_log_set_sink(skiff_log_cb cb, void *user)
{
    pthread_mutex_lock(&log_lock);
    log_sink = cb;
    log_user = user;
    pthread_mutex_unlock(&log_lock);
}

static void emit(skiff_log_level_t level, const char *line)
{
    if (log_sink) {
        log_sink(level, line, log_user);
    } else {
        fputs(line, stderr);
        fputc('\n', stderr);
    }
}

void skiff_log(skiff_log_level_t level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[2200];
    snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
             names[level > SKIFF_LOG_ERROR ? SKIFF_LOG_ERROR : level], msg);

    pthread_mutex_lock(&log_lock);
    if (level >= SKIFF_LOG_ERROR && strncmp(last_line, msg, sizeof(last_line) - 1) == 0) {
        /* Identical error again: count it instead of flooding the log. */
        if (++repeats % 1000 != 0) {
            pthread_mutex_unlock(&log_lock);
            return;
        }
        snprintf(line + strlen(line), sizeof(line) - strlen(line), " (repeated %lu times)",
                 repeats);
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
    emit(level, line);
    pthread_mutex_unlock(&log_lock);
}
