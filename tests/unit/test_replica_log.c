/* A replica's log writer (node/runtime/replica_log.c), in a private
 * temporary directory: it rotates .log -> .log.1 -> .log.2 before a file
 * passes its budget (the cap less the room for the supervisor's notes),
 * drops what is older, cuts only at line ends (a line longer than a whole
 * file excepted), rotates a file found full when it opens it, refuses a
 * cap too small for the notes and never writes through a symlink. */
#include <errno.h>
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

#include "agent/datadir.h"
#include "runtime/replica_log.h"

#define CAP (2 * SL__LOG_NOTE_ROOM)      /* the smallest cap */
#define BUDGET (CAP - SL__LOG_NOTE_ROOM) /* what the writer fills a file with */

static char dir[256], path[512];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/starling-log-test-XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    return sl__log_path(path, sizeof path, dir, "web", 3, 0);
}

static int teardown(void **state)
{
    (void)state;
    sl__datadir_remove_private(dir);
    return 0;
}

/* The file of generation gen, malloc()ed and NUL-terminated; NULL if none. */
static char *slurp(int gen, long *len)
{
    char p[600];
    assert_int_equal(sl__log_path(p, sizeof p, dir, "web", 3, gen), 0);
    FILE *f = fopen(p, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)*len + 1);
    assert_int_equal(fread(s, 1, (size_t)*len, f), (size_t)*len);
    fclose(f);
    return s;
}

static void test_names(void **state)
{
    (void)state;
    char p[64];
    assert_int_equal(sl__log_path(p, sizeof p, "/d", "web", 2, 0), 0);
    assert_string_equal(p, "/d/web.2.log");
    assert_int_equal(sl__log_path(p, sizeof p, "/d", "web", 2, 2), 0);
    assert_string_equal(p, "/d/web.2.log.2");
    assert_int_equal(sl__log_path(p, 8, "/d", "web", 2, 0), -1);
    assert_true(sl__log_name_ok("web-1.x_y"));
    assert_false(sl__log_name_ok("../etc"));
    assert_false(sl__log_name_ok("a/b"));
    assert_false(sl__log_name_ok(""));
    assert_false(sl__log_name_ok(NULL));
}

/* 1000 numbered lines of 100 bytes, 7 per write, through a budget of 40
 * lines: three
 * files, each under the budget and holding whole lines, which together are
 * the last lines written, in order. */
static void test_rotates_at_line_ends(void **state)
{
    (void)state;
    sl__log_writer w;
    assert_int_equal(sl__log_writer_open(&w, path, CAP), 0);
    char lines[700 + 1];
    for (int i = 0; i < 1000; i += 7) { /* 7 lines a write: cuts fall inside a write */
        int k = 0;
        for (int j = i; j < i + 7 && j < 1000; j++, k++) {
            char *l = lines + 100 * k;
            char num[16];
            snprintf(num, sizeof num, "%05d ", j);
            memcpy(l, num, 6);
            memset(l + 6, '0', 93);
            l[99] = '\n';
            l[100] = 0;
        }
        assert_int_equal(strlen(lines), 100 * (size_t)k);
        assert_int_equal(sl__log_writer_write(&w, lines, 100 * (size_t)k), 0);
    }
    sl__log_writer_close(&w);
    assert_true(w.rotations > 20);
    char p[600];
    assert_int_equal(sl__log_path(p, sizeof p, dir, "web", 3, 3), 0);
    assert_int_equal(access(p, F_OK), -1);
    int next = -1;
    for (int gen = SL__LOG_KEEP; gen >= 0; gen--) {
        long len = 0;
        char *s = slurp(gen, &len);
        assert_non_null(s);
        assert_true(len > 0 && len <= BUDGET);
        assert_int_equal(len % 100, 0);
        for (long off = 0; off < len; off += 100) {
            int n = atoi(s + off);
            assert_true(next < 0 || n == next);
            next = n + 1;
            assert_int_equal(s[off + 99], '\n');
        }
        free(s);
    }
    assert_int_equal(next, 1000);
}

/* A line longer than a whole file is split, never lost. */
static void test_splits_a_huge_line(void **state)
{
    (void)state;
    sl__log_writer w;
    assert_int_equal(sl__log_writer_open(&w, path, CAP), 0);
    size_t n = BUDGET + 1000;
    char *big = malloc(n);
    memset(big, 'x', n);
    big[n - 1] = '\n';
    assert_int_equal(sl__log_writer_write(&w, big, n), 0);
    sl__log_writer_close(&w);
    long a = 0, b = 0;
    char *one = slurp(1, &a), *live = slurp(0, &b);
    assert_int_equal(a, BUDGET);
    assert_int_equal(b, 1000);
    free(one);
    free(live);
    free(big);
}

/* A file already at its budget (the supervisor's notes fill it between two
 * runs) is rotated when the next run opens it. */
static void test_open_rotates_a_full_file(void **state)
{
    (void)state;
    FILE *f = fopen(path, "w");
    for (int i = 0; i < BUDGET; i++)
        fputc(i % 50 == 49 ? '\n' : 'n', f);
    fclose(f);
    sl__log_writer w;
    assert_int_equal(sl__log_writer_open(&w, path, CAP), 0);
    assert_int_equal(w.rotations, 1);
    assert_int_equal(sl__log_writer_write(&w, "fresh\n", 6), 0);
    sl__log_writer_close(&w);
    long len = 0;
    char *s = slurp(0, &len);
    assert_string_equal(s, "fresh\n");
    free(s);
}

static void test_refuses(void **state)
{
    (void)state;
    sl__log_writer w;
    assert_int_equal(sl__log_writer_open(&w, path, CAP - 1), -EINVAL);
    char target[600];
    snprintf(target, sizeof target, "%s/elsewhere", dir);
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(sl__log_writer_open(&w, path, CAP), -ELOOP);
    assert_int_equal(access(target, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_rotates_at_line_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_splits_a_huge_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_rotates_a_full_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
