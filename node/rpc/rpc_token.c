/* The RPC token's sources: see rpc_token.h. Plain POSIX file I/O, run once
 * at start (the agent) or before the one connection (the CLI). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/datadir.h"
#include "agent/net.h"
#include "rpc/rpc.h"
#include "rpc/rpc_seal.h"
#include "rpc/rpc_token.h"
#include "starling/error.h"

/* Random bytes in a generated token: 256 bits. */
#define TOKEN_RANDOM_BYTES 32

size_t sl__rpc_token_trim(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r' ||
                     s[n - 1] == '\v' || s[n - 1] == '\f'))
        n--;
    return n;
}

static int errno_line(char *err, size_t cap, const char *path, int e)
{
    char msg[128];
    snprintf(err, cap, "cannot read the RPC token from %s: %s", path,
             sl__lc_first(strerror(e), msg, sizeof msg));
    return e == ENOENT ? 1 : -1;
}

/* The checks of the agent's own file, on the open descriptor (so that what
 * is checked is what is read). Returns 0 or -1 with err filled. */
static int check_private(const char *path, const struct stat *st, char *err, size_t cap)
{
    unsigned mode = (unsigned)st->st_mode & 07777;
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, cap, "%s is not a regular file: refusing to use it as the RPC token", path);
        return -1;
    }
    if (st->st_uid != geteuid()) {
        snprintf(err, cap, "%s belongs to uid %u, not to this user (uid %u): chown it", path,
                 (unsigned)st->st_uid, (unsigned)geteuid());
        return -1;
    }
    if (mode & 077) {
        snprintf(err, cap, "%s is %s by other users (mode %04o): chmod 600 it", path,
                 mode & 044 ? "readable" : "writable", mode);
        return -1;
    }
    return 0;
}

int sl__rpc_token_read(const char *path, bool strict, char *tok, size_t cap, size_t *len, char *err,
                       size_t errcap)
{
    struct stat st;
    if (strict) {
        if (lstat(path, &st) != 0)
            return errno_line(err, errcap, path, errno);
        if (S_ISLNK(st.st_mode)) {
            snprintf(err, errcap,
                     "%s is a symbolic link: refusing to follow it (make it a regular file of "
                     "mode 0600)",
                     path);
            return -1;
        }
    }
    /* O_NONBLOCK: a FIFO put in the file's place must not block the open. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (strict ? O_NOFOLLOW : 0));
    if (fd < 0)
        return errno_line(err, errcap, path, errno);
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return errno_line(err, errcap, path, e);
    }
    if (strict ? check_private(path, &st, err, errcap) != 0 : !S_ISREG(st.st_mode)) {
        if (!strict)
            snprintf(err, errcap, "%s is not a regular file: cannot read an RPC token from it",
                     path);
        close(fd);
        return -1;
    }
    char buf[SL__RPC_TOKEN_FILE_MAX + 1];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return errno_line(err, errcap, path, e);
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    int rc = -1;
    n = sl__rpc_token_trim(buf, n);
    if (n > SL__RPC_TOKEN_MAX)
        snprintf(err, errcap, "%s holds more than %d bytes: not an RPC token", path,
                 SL__RPC_TOKEN_MAX);
    else if (memchr(buf, 0, n))
        snprintf(err, errcap, "%s holds a NUL byte: not an RPC token", path);
    else if (n < SL__RPC_TOKEN_MIN)
        snprintf(err, errcap, "%s holds a token of %zu bytes: at least %d are needed", path, n,
                 SL__RPC_TOKEN_MIN);
    else if (n >= cap)
        snprintf(err, errcap, "%s: the token does not fit", path);
    else
        rc = 0;
    if (rc == 0) {
        memcpy(tok, buf, n);
        tok[n] = 0;
        *len = n;
    }
    sodium_memzero(buf, sizeof buf);
    return rc;
}

int sl__rpc_token_check_exposure(const sl__agent_config *cfg)
{
    if (sl__addr_is_loopback(&cfg->rpc) || cfg->rpc_token[0] || cfg->data_dir[0])
        return 0;
    char buf[SL_ADDR_STRLEN];
    fprintf(stderr,
            "starling agent: --rpc %s is not a loopback address: pass --rpc-token TOKEN or "
            "--data-dir DIR, or the RPC token would sit in a temporary directory that no "
            "remote client can know\n",
            sl_addr_format(&cfg->rpc, buf, sizeof buf));
    return -1;
}

/* Writes a new random token into DIR/rpc-token (mode 0600, atomically).
 * Returns 0 with the token in tok (capacity at least 64) and *len, or a
 * negative errno. */
static int create_token(const char *dir, char *tok, size_t *len)
{
    uint8_t raw[TOKEN_RANDOM_BYTES];
    char text[sodium_base64_ENCODED_LEN(TOKEN_RANDOM_BYTES,
                                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
              1];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(text, sizeof text - 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t n = strlen(text);
    text[n] = '\n';
    int rc = sl__datadir_write(dir, SL__RPC_TOKEN_FILE, text, n + 1);
    if (rc == 0) {
        memcpy(tok, text, n);
        tok[n] = 0;
        *len = n;
    }
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(text, sizeof text);
    return rc;
}

int sl__rpc_token_agent(const sl__agent_config *cfg, const char *dir, uint8_t key[32], char *source,
                        size_t cap, bool *created)
{
    *created = false;
    if (cfg->rpc_token[0]) {
        sl__seal_token_key(cfg->rpc_token, strlen(cfg->rpc_token), key);
        snprintf(source, cap, "flag");
        return 0;
    }
    char path[4200], tok[SL__RPC_TOKEN_MAX + 1], err[4400];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, SL__RPC_TOKEN_FILE);
    int rc = sl__rpc_token_read(path, true, tok, sizeof tok, &len, err, sizeof err);
    if (rc == 1) {
        int w = create_token(dir, tok, &len);
        if (w != 0) {
            fprintf(stderr, "starling agent: cannot create the RPC token %s: %s\n", path,
                    sl_strerror(w));
            return -1;
        }
        *created = true;
        rc = 0;
    }
    if (rc != 0) {
        fprintf(stderr, "starling agent: %s\n", err);
        return -1;
    }
    sl__seal_token_key(tok, len, key);
    sodium_memzero(tok, sizeof tok);
    snprintf(source, cap, "file %s", path);
    return 0;
}
