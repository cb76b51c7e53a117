/* The agent's log: levels, stderr, one line per event. The line is built in
 * a local buffer and written with a single call so that lines from one
 * process never interleave. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"

static sl__log_level min_level = SL__LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void sl__log_set_level(sl__log_level level)
{
    min_level = level;
}

int sl__log_parse_level(const char *s, sl__log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, names[i])) {
            *out = (sl__log_level)i;
            return 0;
        }
    }
    if (!strcmp(s, "warning")) {
        *out = SL__LOG_WARN;
        return 0;
    }
    return -1;
}

int sl__log_enabled(sl__log_level level)
{
    return level >= min_level;
}

void sl__log(sl__log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ [%s] ", ts.tv_nsec / 1000000L,
                  level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
