/* The agent's key files: see security.h. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/datadir.h"
#include "agent/security.h"

/* Files here are small: a keyring of 16 keys is 720 bytes. */
#define KEY_FILE_MAX 65536

int sl__read_secret_file(const char *path, bool private_only, char *buf, size_t cap, char *err,
                         size_t errcap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errcap, "cannot open %s: %s%s", path, strerror(errno),
                 errno == ELOOP ? " (a symlink: refused)" : "");
        return -1;
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) != 0)
        snprintf(err, errcap, "cannot stat %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        snprintf(err, errcap, "%s is not a regular file", path);
    else if (private_only && (st.st_mode & 077))
        snprintf(err, errcap, "%s is accessible by other users (mode %04o): chmod 600 it", path,
                 (unsigned)(st.st_mode & 07777));
    else if ((size_t)st.st_size >= cap)
        snprintf(err, errcap, "%s is too large (%lld bytes, at most %zu)", path,
                 (long long)st.st_size, cap - 1);
    else
        rc = 0;
    size_t got = 0;
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errcap, "cannot read %s: %s", path, r < 0 ? strerror(errno) : "short");
            rc = -1;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (rc != 0)
        return -1;
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r' || buf[got - 1] == ' ' ||
                       buf[got - 1] == '\t'))
        got--;
    buf[got] = 0;
    return 0;
}

/* Reads DIR/NAME when it exists. Returns 1 with its text in buf, 0 when it
 * does not exist, -1 with err. */
static int read_key_file(const char *dir, const char *name, bool private_only, char *buf,
                         size_t cap, char *err, size_t errcap)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return 0;
    if (sl__read_secret_file(path, private_only, buf, cap, err, errcap) != 0)
        return -1;
    if (!private_only && (st.st_mode & 022)) {
        snprintf(err, errcap, "%s may be written by other users (mode %04o): chmod 644 it", path,
                 (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 1;
}

/* Calls fn on every line of text that is not empty or a comment. Stops at
 * the first line fn refuses (returns -1). */
static int each_line(char *text, int (*fn)(void *ud, const char *line, int no), void *ud)
{
    int no = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        no++;
        while (*line == ' ' || *line == '\t')
            line++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (!*line || *line == '#')
            continue;
        if (fn(ud, line, no) != 0)
            return -1;
    }
    return 0;
}

typedef struct keyring_load {
    sl_keyring *kr;
    const char *path;
    char *err;
    size_t errcap;
} keyring_load;

static int add_key(void *ud, const char *line, int no)
{
    keyring_load *l = ud;
    uint8_t key[SL_KEY_BYTES];
    if (sl_key_decode(line, key) != 0) {
        snprintf(l->err, l->errcap, "%s:%d: not a 32-byte key in base64", l->path, no);
        return -1;
    }
    int rc = sl_keyring_install(l->kr, key);
    sodium_memzero(key, sizeof key);
    if (rc < 0) {
        snprintf(l->err, l->errcap, "%s: more than %d keys", l->path, SL_KEYRING_MAX);
        return -1;
    }
    return 0;
}

int sl__keyring_file_load(const char *dir, sl_keyring *kr, char *err, size_t errcap)
{
    char text[KEY_FILE_MAX], path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, SL__KEYRING_FILE);
    int rc = read_key_file(dir, SL__KEYRING_FILE, true, text, sizeof text, err, errcap);
    if (rc <= 0)
        return rc;
    keyring_load l = {kr, path, err, errcap};
    rc = each_line(text, add_key, &l);
    sodium_memzero(text, sizeof text);
    return rc;
}

int sl__keyring_file_save(const char *dir, const sl_keyring *kr)
{
    char text[SL_KEYRING_MAX * (SL_KEY_B64_LEN + 1) + 1];
    size_t len = 0;
    for (uint32_t i = 0; i < kr->n; i++) {
        sl_key_encode(kr->key[i], text + len, sizeof text - len);
        len += strlen(text + len);
        text[len++] = '\n';
    }
    int rc = sl__datadir_write(dir, SL__KEYRING_FILE, text, len);
    sodium_memzero(text, sizeof text);
    return rc;
}

typedef struct opkeys_load {
    uint8_t (*keys)[SL_OPERATOR_PUB_BYTES];
    int *n, max;
    const char *path;
    char *err;
    size_t errcap;
} opkeys_load;

static int add_operator_key(void *ud, const char *line, int no)
{
    opkeys_load *l = ud;
    uint8_t pub[SL_OPERATOR_PUB_BYTES];
    if (sl__operator_pub_decode(line, pub) != 0) {
        snprintf(l->err, l->errcap, "%s:%d: not an operator public key in base64", l->path, no);
        return -1;
    }
    for (int i = 0; i < *l->n; i++)
        if (!memcmp(l->keys[i], pub, sizeof pub))
            return 0;
    if (*l->n == l->max) {
        snprintf(l->err, l->errcap, "%s: more than %d operator keys in all", l->path, l->max);
        return -1;
    }
    memcpy(l->keys[(*l->n)++], pub, sizeof pub);
    return 0;
}

int sl__operator_keys_load(const char *dir, uint8_t (*keys)[SL_OPERATOR_PUB_BYTES], int *n, int max,
                           char *err, size_t errcap)
{
    char text[KEY_FILE_MAX], path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, SL__OPERATOR_KEYS_FILE);
    int rc = read_key_file(dir, SL__OPERATOR_KEYS_FILE, false, text, sizeof text, err, errcap);
    if (rc <= 0)
        return rc;
    opkeys_load l = {keys, n, max, path, err, errcap};
    return each_line(text, add_operator_key, &l);
}
