/* One error domain: the project's codes never collide with a negated errno
 * or a libuv code, and sl_strerror() prints both as what they are. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "starling/error.h"

static const int own[] = {SL_EINVAL,   SL_ENOMEM,    SL_ETOOBIG,  SL_EMALFORMED, SL_EVERSION,
                          SL_ECLUSTER, SL_ENOTFOUND, SL_ESTATE,   SL_ESPACE,     SL_EAUTH,
                          SL_ESTALE,   SL_EFUTURE,   SL_EEXPIRED, SL_EFULL};
#define NOWN (sizeof own / sizeof own[0])

/* Every code of ours is below every negated errno and libuv's -errno codes,
 * and has a message of its own. */
static void own_codes_are_disjoint_from_errno(void **state)
{
    (void)state;
    for (size_t i = 0; i < NOWN; i++) {
        assert_true(own[i] <= -1001);
        assert_true(sl_is_own_error(own[i]));
        assert_string_not_equal(sl_strerror(own[i]), "unknown error");
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(own[i], own[j]);
            assert_string_not_equal(sl_strerror(own[i]), sl_strerror(own[j]));
        }
        for (int e = 1; e < 1000; e++)
            assert_int_not_equal(own[i], -e);
    }
    assert_false(sl_is_own_error(0));
    assert_false(sl_is_own_error(-EACCES));
    assert_false(sl_is_own_error(SL_E__LAST - 1));
}

/* A negated errno prints the system's message: an EACCES on the data dir
 * says "Permission denied", an EIO says what the system says about it, and
 * neither is taken for one of ours (before, -2 was both ENOENT and out of
 * memory, -5 both EIO and "unsupported wire version"). */
static void errno_prints_the_system_message(void **state)
{
    (void)state;
    int errs[] = {EACCES, EIO, ENOENT, ENOSPC, EROFS, ENOMEM, EINVAL};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        assert_string_equal(sl_strerror(-errs[i]), strerror(errs[i]));
        for (size_t j = 0; j < NOWN; j++)
            assert_string_not_equal(sl_strerror(-errs[i]), sl_strerror(own[j]));
    }
    assert_string_equal(sl_strerror(SL_ENOMEM), "out of memory");
    assert_string_equal(sl_strerror(0), "success");
    assert_string_equal(sl_strerror(-5000), "unknown error");
    assert_string_equal(sl_strerror(12), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(own_codes_are_disjoint_from_errno),
        cmocka_unit_test(errno_prints_the_system_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
