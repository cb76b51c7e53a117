/* A replica's log files: names, the cap and rotation (replica_log.h). The
 * writer runs in the `starling _exec` shim, the only process that writes the
 * replica's output, so that rotation never races another writer of the
 * same bytes: the supervisor's notes are whole lines appended by name, and
 * land in whichever file is live at the time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/replica_log.h"

bool sl__log_name_ok(const char *name)
{
    return name && name[0] && name[0] != '.' && !strchr(name, '/') && strlen(name) < 256;
}

int sl__log_path(char *buf, size_t cap, const char *dir, const char *service, uint32_t replica,
                 int gen)
{
    int n = gen ? snprintf(buf, cap, "%s/%s.%u.log.%d", dir, service, (unsigned)replica, gen)
                : snprintf(buf, cap, "%s/%s.%u.log", dir, service, (unsigned)replica);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int open_live(const char *path)
{
    /* Never through a symlink, as the supervisor opens it. */
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
}

/* The byte budget of this writer in one file. */
static uint64_t budget(const sl__log_writer *w)
{
    return w->max - SL__LOG_NOTE_ROOM;
}

/* .log.(K-1) -> .log.K, ..., .log -> .log.1, then a new .log. */
static int rotate(sl__log_writer *w)
{
    char from[4200], to[4200];
    for (int gen = SL__LOG_KEEP; gen > 0; gen--) {
        snprintf(to, sizeof to, "%s.%d", w->path, gen);
        if (gen > 1)
            snprintf(from, sizeof from, "%s.%d", w->path, gen - 1);
        else
            snprintf(from, sizeof from, "%s", w->path);
        if (rename(from, to) != 0 && errno != ENOENT)
            return -errno;
    }
    if (w->fd >= 0)
        close(w->fd);
    w->fd = open_live(w->path);
    w->rotations++;
    return w->fd < 0 ? -errno : 0;
}

static int64_t size_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (int64_t)st.st_size : -1;
}

int sl__log_writer_open(sl__log_writer *w, const char *path, uint64_t max)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    if (max < 2 * SL__LOG_NOTE_ROOM ||
        snprintf(w->path, sizeof w->path, "%s", path) >= (int)sizeof w->path)
        return -EINVAL;
    w->max = max;
    if ((w->fd = open_live(path)) < 0)
        return -errno;
    int64_t size = size_of(w->fd);
    if (size >= 0 && (uint64_t)size >= budget(w))
        return rotate(w);
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The length of the longest prefix of p[0..room) that ends a line, or 0. */
static size_t whole_lines(const char *p, size_t room)
{
    for (size_t i = room; i > 0; i--)
        if (p[i - 1] == '\n')
            return i;
    return 0;
}

int sl__log_writer_write(sl__log_writer *w, const char *buf, size_t n)
{
    while (n > 0) {
        if (w->fd < 0 && (w->fd = open_live(w->path)) < 0)
            return -errno;
        int64_t size = size_of(w->fd);
        if (size < 0)
            return -errno;
        uint64_t room = (uint64_t)size < budget(w) ? budget(w) - (uint64_t)size : 0;
        if (n <= room)
            return write_all(w->fd, buf, n);
        size_t k = whole_lines(buf, (size_t)room);
        if (k == 0 && size == 0)
            k = (size_t)room; /* one line longer than a whole file: split it */
        if (k > 0) {
            int rc = write_all(w->fd, buf, k);
            if (rc)
                return rc;
            buf += k;
            n -= k;
        }
        int rc = rotate(w);
        if (rc)
            return rc;
    }
    return 0;
}

void sl__log_writer_close(sl__log_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}
