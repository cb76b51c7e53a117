/* Internal: the agent's log. One line per event on stderr, with a level.
 *
 * Lines look like "2025-01-31T12:00:00.123Z [INFO] member n3 failed". Only
 * messages at or above the configured level are written. Nothing here is
 * per packet at info: chatter goes to debug. */
#ifndef STARLING_NODE_LOG_H
#define STARLING_NODE_LOG_H

typedef enum sl__log_level {
    SL__LOG_DEBUG = 0,
    SL__LOG_INFO = 1,
    SL__LOG_WARN = 2,
    SL__LOG_ERROR = 3,
} sl__log_level;

/* Sets the lowest level written (SL__LOG_INFO by default). */
void sl__log_set_level(sl__log_level level);

/* Parses "debug", "info", "warn" or "error". Returns 0 or -1. */
int sl__log_parse_level(const char *s, sl__log_level *out);

/* Returns true when messages at `level` are written. */
int sl__log_enabled(sl__log_level level);

/* Writes one line at `level` (a trailing newline is added). */
void sl__log(sl__log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sl__debug(...) sl__log(SL__LOG_DEBUG, __VA_ARGS__)
#define sl__info(...) sl__log(SL__LOG_INFO, __VA_ARGS__)
#define sl__warn(...) sl__log(SL__LOG_WARN, __VA_ARGS__)
#define sl__error(...) sl__log(SL__LOG_ERROR, __VA_ARGS__)

#endif
