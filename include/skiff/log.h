/* skiff/log.h - where skiff's log goes, and how much of it.
 *
 * skiff logs through one entry point. A message below the current level is
 * dropped before it is formatted, so a quiet level costs one comparison. By
 * default every message is written to stderr as one line:
 *
 *     2026-11-27T10:00:00.123Z INFO  model 'uci': 1 instance, 13 inputs ...
 *
 * An embedder routes messages to its own logger with skiff_log_set_sink().
 * Identical ERROR messages that repeat are folded: the 1000th, 2000th, ...
 * repetition is passed on with " (repeated N times)" appended, and the count
 * left over is reported as its own ERROR message when a different one comes.
 *
 * Threads: every function here may be called from any thread at any time.
 */
#ifndef SKIFF_LOG_H
#define SKIFF_LOG_H

#include "skiff/api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum skiff_log_level {
    SKIFF_LOG_DEBUG = 0,
    SKIFF_LOG_INFO = 1,
    SKIFF_LOG_WARN = 2,
    SKIFF_LOG_ERROR = 3,
    SKIFF_LOG_OFF = 4, /* as a level to set: log nothing */
} skiff_log_level_t;

/* Receives one message: its level (DEBUG..ERROR) and its text, without
 * timestamp, level name or trailing newline (borrowed for the call only).
 * Calls are serialised under skiff's log lock: one at a time, on whichever
 * thread logged. A sink must not call skiff_log_set_sink() or block for
 * long; it may call skiff_log_set_level() and skiff_log_get_level(). */
typedef void (*skiff_log_cb)(skiff_log_level_t level, const char *message, void *user);

/* Messages below `level` are dropped (SKIFF_LOG_OFF: all of them). The
 * default is SKIFF_LOG_INFO. */
SKIFF_API void skiff_log_set_level(skiff_log_level_t level);
SKIFF_API skiff_log_level_t skiff_log_get_level(void);

/* Sends every message to cb(level, message, user) instead of stderr; NULL
 * restores stderr. `user` is borrowed: it must stay valid until another call
 * replaces the sink. Once this returns, the previous sink is not called
 * again. */
SKIFF_API void skiff_log_set_sink(skiff_log_cb cb, void *user);

#ifdef __cplusplus
}
#endif
#endif
