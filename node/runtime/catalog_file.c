/* The catalog on disk: see catalog_file.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/catalog_file.h"
#include "agent/datadir.h"
#include "starling/error.h"

/* Reads the whole regular file at path into a new buffer. Returns 0, a
 * negative errno, or SL_ETOOBIG (larger than max). */
static int read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return SL_ETOOBIG;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf)
        return SL_ENOMEM;
    *out = buf;
    *len = got;
    return 0;
}

int sl__catalog_file_read(const char *dir, size_t max_bytes, uint8_t **out, size_t *len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, SL__CATALOG_FILE);
    return read_file(path, max_bytes, out, len);
}

void sl__catalog_file_move_aside(const char *dir, uint64_t wall_ms, char *aside, size_t cap)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, SL__CATALOG_FILE);
    snprintf(aside, cap, "%s/%s.corrupt.%llu", dir, SL__CATALOG_FILE,
             (unsigned long long)(wall_ms / 1000));
    if (rename(path, aside) != 0)
        snprintf(aside, cap, "(could not rename it: %s)", strerror(errno));
}

int sl__catalog_file_write(const char *dir, const uint8_t *buf, size_t len)
{
    return sl__datadir_write(dir, SL__CATALOG_FILE, (const char *)buf, len);
}
