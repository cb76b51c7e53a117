/* The RPC token's sources (node/rpc/rpc_token.c), in a private temporary
 * directory: the agent's file is created once with mode 0600 and reused;
 * a file open to others, a symlink, a directory, a short token or a NUL byte
 * is refused; the CLI's reading follows what the user names; trailing white
 * space is never part of a token; a non-loopback RPC needs a token or a data
 * dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "agent/datadir.h"
#include "rpc/rpc_seal.h"
#include "rpc/rpc_token.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/starling-token-test-XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return sodium_init() < 0 || !mkdtemp(dir) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    sl__datadir_remove_private(dir);
    return 0;
}

static void put(const char *name, const char *text, mode_t mode)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

/* Reads DIR/name; returns what sl__rpc_token_read returned, err in err. */
static int read_tok(const char *name, bool strict, char *tok, size_t *len, char *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return sl__rpc_token_read(path, strict, tok, SL__RPC_TOKEN_MAX + 1, len, err, 512);
}

static void trim_drops_trailing_space_only(void **state)
{
    (void)state;
    assert_int_equal(sl__rpc_token_trim("abc \t\r\n", 7), 3);
    assert_int_equal(sl__rpc_token_trim("  a b", 5), 5);
    assert_int_equal(sl__rpc_token_trim("\n\n", 2), 0);
}

static void agent_creates_then_reuses(void **state)
{
    (void)state;
    static sl__agent_config cfg; /* large: off the stack */
    memset(&cfg, 0, sizeof cfg);
    uint8_t k1[32], k2[32], k3[32];
    char src[600], path[512], text[128];
    bool created = false;
    snprintf(path, sizeof path, "%s/rpc-token", dir);
    unlink(path);
    assert_int_equal(sl__rpc_token_agent(&cfg, dir, k1, src, sizeof src, &created), 0);
    assert_true(created);
    char want[600];
    snprintf(want, sizeof want, "file %s", path);
    assert_string_equal(src, want);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof text, f));
    fclose(f);
    assert_int_equal(strlen(text), 44); /* 43 characters of base64, a newline */
    assert_int_equal(
        strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    /* The key is the one of the file's token, trailing newline excluded. */
    sl__seal_token_key(text, 43, k3);
    assert_memory_equal(k1, k3, 32);
    /* A second start reuses the file. */
    assert_int_equal(sl__rpc_token_agent(&cfg, dir, k2, src, sizeof src, &created), 0);
    assert_false(created);
    assert_memory_equal(k1, k2, 32);
    /* The flag wins over the file, and is not written anywhere. */
    strcpy(cfg.rpc_token, "a-token-given-by-flag");
    assert_int_equal(sl__rpc_token_agent(&cfg, dir, k2, src, sizeof src, &created), 0);
    assert_string_equal(src, "flag");
    sl__seal_token_key("a-token-given-by-flag", 21, k3);
    assert_memory_equal(k2, k3, 32);
}

static void strict_refuses_unsafe_files(void **state)
{
    (void)state;
    char tok[SL__RPC_TOKEN_MAX + 1], err[512];
    size_t len = 0;
    put("t", "a-fine-token-of-24-bytes\n", 0600);
    assert_int_equal(read_tok("t", true, tok, &len, err), 0);
    assert_string_equal(tok, "a-fine-token-of-24-bytes");
    assert_int_equal(len, 24);
    put("t", "a-fine-token-of-24-bytes\n", 0644);
    assert_int_equal(read_tok("t", true, tok, &len, err), -1);
    assert_non_null(strstr(err, "/t is readable by other users (mode 0644): chmod 600 it"));
    put("t", "a-fine-token-of-24-bytes\n", 0640);
    assert_int_equal(read_tok("t", true, tok, &len, err), -1);
    assert_non_null(strstr(err, "readable by other users (mode 0640)"));
    put("t", "a-fine-token-of-24-bytes\n", 0602);
    assert_int_equal(read_tok("t", true, tok, &len, err), -1);
    assert_non_null(strstr(err, "writable by other users (mode 0602)"));
    /* Not strict (the CLI): the user's own choice of file is read. */
    assert_int_equal(read_tok("t", false, tok, &len, err), 0);
    /* A symlink to a good file: refused when strict, followed when not. */
    put("good", "a-fine-token-of-24-bytes", 0600);
    char link[512], target[512];
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(target, sizeof target, "%s/good", dir);
    unlink(link);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(read_tok("link", true, tok, &len, err), -1);
    assert_non_null(strstr(err, "is a symbolic link: refusing to follow it"));
    assert_int_equal(read_tok("link", false, tok, &len, err), 0);
    /* A directory, a missing file. */
    char sub[512];
    snprintf(sub, sizeof sub, "%s/logs", dir);
    mkdir(sub, 0700);
    assert_int_equal(read_tok("logs", true, tok, &len, err), -1);
    assert_non_null(strstr(err, "is not a regular file"));
    assert_int_equal(read_tok("logs", false, tok, &len, err), -1);
    assert_int_equal(read_tok("missing", true, tok, &len, err), 1);
    assert_non_null(strstr(err, "no such file or directory"));
    assert_int_equal(read_tok("missing", false, tok, &len, err), 1);
}

static void bad_contents_are_refused(void **state)
{
    (void)state;
    char tok[SL__RPC_TOKEN_MAX + 1], err[512];
    size_t len = 0;
    put("t", "fifteen-bytes!!\n\n", 0600);
    assert_int_equal(read_tok("t", true, tok, &len, err), -1);
    assert_non_null(strstr(err, "holds a token of 15 bytes: at least 16 are needed"));
    put("t", "sixteen-bytes!!!", 0600);
    assert_int_equal(read_tok("t", true, tok, &len, err), 0);
    assert_int_equal(len, 16);
    char big[SL__RPC_TOKEN_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    put("t", big, 0600);
    assert_int_equal(read_tok("t", true, tok, &len, err), -1);
    assert_non_null(strstr(err, "holds more than 1024 bytes"));
    char path[512];
    snprintf(path, sizeof path, "%s/t", dir);
    FILE *f = fopen(path, "w");
    fwrite("a-token-with\0-a-nul-byte", 1, 24, f);
    fclose(f);
    assert_int_equal(read_tok("t", true, tok, &len, err), -1);
    assert_non_null(strstr(err, "holds a NUL byte"));
}

static void exposure_needs_a_token_or_a_data_dir(void **state)
{
    (void)state;
    static sl__agent_config cfg;
    memset(&cfg, 0, sizeof cfg);
    const char *loopback[] = {"127.0.0.1:7373", "127.44.3.9:7373", "[::1]:7373"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(sl_addr_parse(loopback[i], 0, &cfg.rpc), 0);
        assert_int_equal(sl__rpc_token_check_exposure(&cfg), 0);
    }
    /* These print their one line on stderr, which the test log keeps. */
    const char *outside[] = {"0.0.0.0:7373", "10.0.0.1:7373", "128.0.0.1:7373", "[::]:7373"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(sl_addr_parse(outside[i], 0, &cfg.rpc), 0);
        assert_int_equal(sl__rpc_token_check_exposure(&cfg), -1);
    }
    strcpy(cfg.rpc_token, "a-token-given-by-flag");
    assert_int_equal(sl__rpc_token_check_exposure(&cfg), 0);
    cfg.rpc_token[0] = 0;
    strcpy(cfg.data_dir, "/var/lib/starling");
    assert_int_equal(sl__rpc_token_check_exposure(&cfg), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trim_drops_trailing_space_only),
        cmocka_unit_test(agent_creates_then_reuses),
        cmocka_unit_test(strict_refuses_unsafe_files),
        cmocka_unit_test(bad_contents_are_refused),
        cmocka_unit_test(exposure_needs_a_token_or_a_data_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
