/* The data directory: see datadir.h. Plain POSIX file I/O; this runs at start,
 * at shutdown and at most once a second in between (debounced by the agent),
 * so blocking the loop for a few fsyncs is acceptable. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "agent/datadir.h"

/* Bytes of the agent name kept in a private directory name. */
#define NAME_SAFE_MAX 40

int sl__datadir_open(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(dir, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    return 0;
}

int sl__datadir_lock(const char *dir, long *holder)
{
    char path[4200], buf[32];
    *holder = 0;
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            buf[n] = 0;
            *holder = strtol(buf, NULL, 10);
        }
        close(fd);
        return e == EWOULDBLOCK ? -EBUSY : -e;
    }
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int sl__datadir_write(const char *dir, const char *name, const char *data, size_t len)
{
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    /* A fresh file of mode 0600 (less under the umask), whatever was left
     * there: a stale temporary file of another mode is removed, and a symlink
     * planted in its place is removed too, never followed (O_EXCL). */
    if (unlink(tmp) != 0 && errno != ENOENT)
        return -errno;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = write_all(fd, data, len);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int sl__datadir_next_generation(const char *dir, uint32_t *gen)
{
    char path[4200], buf[32];
    snprintf(path, sizeof path, "%s/generation", dir);
    uint64_t last = 0;
    FILE *f = fopen(path, "re");
    if (f) {
        if (fgets(buf, sizeof buf, f))
            last = strtoull(buf, NULL, 10);
        fclose(f);
    }
    uint64_t next = last + 1;
    uint64_t now = (uint64_t)time(NULL);
    if (now > next)
        next = now;
    /* The core never believes generation 2^32-1 (there must be room to
     * refute): past it, this data dir's peer can never win over its past.
     * Refuse rather than wrap or stay put. */
    if (next >= UINT32_MAX)
        return -EOVERFLOW;
    int n = snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)next);
    int rc = sl__datadir_write(dir, "generation", buf, (size_t)n);
    if (rc != 0)
        return rc;
    *gen = (uint32_t)next;
    return 0;
}

int sl__datadir_save_peers(const char *dir, const char *const *names, const sl_addr *addrs,
                           size_t n)
{
    /* A name is at most 64 bytes and an address 56: 128 per line is enough. */
    size_t cap = n * 128 + 1, len = 0;
    char *text = malloc(cap);
    if (!text)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char a[SL_ADDR_STRLEN];
        sl_addr_format(&addrs[i], a, sizeof a);
        len += (size_t)snprintf(text + len, cap - len, "%s %s\n", names[i], a);
    }
    int rc = sl__datadir_write(dir, "peers", text, len);
    free(text);
    return rc;
}

size_t sl__datadir_load_peers(const char *dir, sl_addr *addrs, size_t cap)
{
    char path[4200], line[512];
    snprintf(path, sizeof path, "%s/peers", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        char *sp = strrchr(line, ' ');
        if (!sp)
            continue;
        sp[strcspn(sp, "\r\n")] = 0;
        if (sl_addr_parse(sp + 1, 0, &addrs[n]) == 0)
            n++;
    }
    fclose(f);
    return n;
}

int sl__datadir_make_private(const char *name, char *out, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    char safe[NAME_SAFE_MAX + 1];
    size_t k = 0;
    for (const char *p = name; *p && k < NAME_SAFE_MAX; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        safe[k++] = ok ? ch : '_';
    }
    safe[k] = 0;
    int n = snprintf(out, cap, "%s/starling-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", safe);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    if (!mkdtemp(out))
        return -errno;
    return 0;
}

/* Unlinks every entry of dir that is not a directory. */
static void remove_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_type != DT_DIR)
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

void sl__datadir_remove_private(const char *dir)
{
    char logs[4200];
    snprintf(logs, sizeof logs, "%s/logs", dir);
    remove_files(logs);
    rmdir(logs);
    remove_files(dir);
    rmdir(dir);
}
