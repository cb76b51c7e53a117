/* The catalog on disk: see catalog_file.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../gossip/mp.h"
#include "catalog_file.h"
#include "datadir.h"
#include "starling/error.h"

#define FILE_VERSION 2

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

/* Splits the file into its catalog bytes and save time. Returns 0 or
 * SL_EMALFORMED. */
static int unwrap(const uint8_t *buf, size_t len, const uint8_t **cat, uint32_t *cat_len,
                  uint64_t *saved, uint64_t wall_ms)
{
    sl__mp_reader r, probe;
    uint32_t n;
    uint64_t version;
    sl__mp_reader_init(&r, buf, len);
    probe = r;
    if (sl__mp_read_array(&probe, &n) != 0)
        return SL_EMALFORMED;
    if (n == 0 || sl__mp_read_uint(&probe, &version) != 0) {
        /* An earlier version's file: the catalog itself. */
        *cat = buf;
        *cat_len = (uint32_t)len;
        *saved = wall_ms;
        return len <= UINT32_MAX ? 0 : SL_EMALFORMED;
    }
    if (n < 3 || version != FILE_VERSION || sl__mp_read_uint(&probe, saved) != 0 ||
        sl__mp_read_bin(&probe, cat, cat_len) != 0 || sl__mp_remaining(&probe) != 0)
        return SL_EMALFORMED;
    return 0;
}

static void move_aside(const char *dir, const char *path, uint64_t wall_ms, const char *why,
                       sl__catalog_load *out)
{
    snprintf(out->aside, sizeof out->aside, "%s/%s.corrupt.%llu", dir, SL__CATALOG_FILE,
             (unsigned long long)(wall_ms / 1000));
    snprintf(out->why, sizeof out->why, "%s", why);
    if (rename(path, out->aside) != 0)
        snprintf(out->aside, sizeof out->aside, "(could not rename it: %s)", strerror(errno));
    out->moved_aside = true;
}

int sl__catalog_file_load(const char *dir, sl_catalog *cat, uint64_t wall_ms, size_t max_bytes,
                          sl__catalog_load *out)
{
    char path[4200];
    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "%s/%s", dir, SL__CATALOG_FILE);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, max_bytes, &buf, &len);
    if (rc == -ENOENT)
        return 0;
    if (rc == SL_ETOOBIG) {
        move_aside(dir, path, wall_ms, "larger than the largest catalog accepted", out);
        return 0;
    }
    if (rc != 0)
        return rc == SL_ENOMEM ? -ENOMEM : rc;
    const uint8_t *cb;
    uint32_t cl;
    uint64_t saved;
    int m = unwrap(buf, len, &cb, &cl, &saved, wall_ms) == 0
                ? sl_catalog_merge(cat, cb, cl, wall_ms, SL_CATALOG_CURRENT)
                : SL_EMALFORMED;
    free(buf);
    if (m < 0) {
        move_aside(dir, path, wall_ms, "it does not decode as a catalog", out);
        return 0;
    }
    out->found = true;
    out->saved_wall_ms = saved;
    out->records = sl_catalog_size(cat);
    return 0;
}

int sl__catalog_file_save(const char *dir, const sl_catalog *cat, uint64_t wall_ms)
{
    uint8_t *enc;
    size_t len;
    if (sl_catalog_encode(cat, &enc, &len) != 0)
        return SL_ENOMEM;
    size_t cap = len + 32;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        free(enc);
        return SL_ENOMEM;
    }
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf, cap);
    msgpack_pack_array(&w.pk, 3);
    msgpack_pack_uint8(&w.pk, FILE_VERSION);
    msgpack_pack_uint64(&w.pk, wall_ms);
    sl__mp_put_bin(&w, enc, len);
    free(enc);
    int rc =
        w.overflow ? SL_ENOMEM : sl__datadir_write(dir, SL__CATALOG_FILE, (const char *)buf, w.len);
    free(buf);
    return rc;
}
