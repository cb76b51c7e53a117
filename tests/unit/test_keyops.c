/* Keyring operations: the codec of operations and answers (round trips,
 * every bound, truncated and random input), the stamp window, what applying
 * each operation does to a keyring, and the bounded memory of ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "starling/catalog.h"
#include "starling/error.h"
#include "starling/keyops.h"
#include "starling/keyring.h"
#include "starling/rng.h"

static void key_of(uint8_t key[SL_KEY_BYTES], uint8_t fill)
{
    memset(key, fill, SL_KEY_BYTES);
    key[0] = 0x5a;
}

static sl_keyop op_of(int type, uint8_t fill)
{
    sl_keyop op;
    memset(&op, 0, sizeof op);
    op.id = 0x1122334455667788ull;
    snprintf(op.origin, sizeof op.origin, "n1");
    op.type = type;
    if (type != SL_KEYOP_LIST)
        key_of(op.key, fill);
    op.stamp_ms = 1700000000000ull;
    return op;
}

static sl_keyanswer answer_of(uint32_t nkeys)
{
    sl_keyanswer a;
    memset(&a, 0, sizeof a);
    a.id = 42;
    snprintf(a.node, sizeof a.node, "web-3");
    for (uint32_t i = 0; i < nkeys; i++)
        key_of(a.keys[i], (uint8_t)(i + 1));
    a.nkeys = nkeys;
    return a;
}

/* ---- hand-made messages, for what our encoder never writes ---- */

typedef struct raw {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} raw;

static void raw_init(raw *r)
{
    msgpack_sbuffer_init(&r->sb);
    msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
}

static void raw_bin(raw *r, uint8_t fill, size_t len)
{
    uint8_t b[64];
    memset(b, fill, sizeof b);
    msgpack_pack_bin(&r->pk, len);
    msgpack_pack_bin_body(&r->pk, b, len);
}

static void raw_str(raw *r, const char *s)
{
    msgpack_pack_str(&r->pk, strlen(s));
    msgpack_pack_str_body(&r->pk, s, strlen(s));
}

/* An operation [3, id, origin, type, key of klen bytes (nil if klen < 0),
 * stamp, extra...]. */
static int raw_op(raw *r, uint32_t fields, uint64_t kind, uint64_t id, const char *origin,
                  uint64_t type, int klen, int extra)
{
    raw_init(r);
    msgpack_pack_array(&r->pk, fields + (uint32_t)extra);
    msgpack_pack_uint64(&r->pk, kind);
    if (fields > 1)
        msgpack_pack_uint64(&r->pk, id);
    if (fields > 2)
        raw_str(r, origin);
    if (fields > 3)
        msgpack_pack_uint64(&r->pk, type);
    if (fields > 4) {
        if (klen < 0)
            msgpack_pack_nil(&r->pk);
        else
            raw_bin(r, 7, (size_t)klen);
    }
    if (fields > 5)
        msgpack_pack_uint64(&r->pk, 1700000000000ull);
    for (int i = 0; i < extra; i++)
        raw_str(r, "later");
    sl_keyop op;
    int rc = sl_keyop_decode((const uint8_t *)r->sb.data, r->sb.size, &op);
    msgpack_sbuffer_destroy(&r->sb);
    return rc;
}

/* ---- round trips ---- */

static void operations_round_trip(void **state)
{
    (void)state;
    for (int t = SL_KEYOP_INSTALL; t <= SL_KEYOP_LIST; t++) {
        sl_keyop op = op_of(t, 3), back;
        uint8_t buf[SL_KEYOP_MSG_MAX];
        int n = sl_keyop_encode(&op, buf, sizeof buf);
        assert_true(n > 0 && n <= 121);
        assert_int_equal(sl_appmsg_kind(buf, (size_t)n), SL_APPMSG_KEYOP);
        assert_int_equal(sl_keyop_decode(buf, (size_t)n, &back), 0);
        assert_true(back.id == op.id && back.stamp_ms == op.stamp_ms);
        assert_int_equal(back.type, t);
        assert_string_equal(back.origin, "n1");
        assert_memory_equal(back.key, op.key, SL_KEY_BYTES);
        assert_int_equal(sl_keyop_type_parse(sl_keyop_type_name(t)), t);
    }
    /* The largest one fits the documented bound. */
    sl_keyop big = op_of(SL_KEYOP_INSTALL, 1);
    memset(big.origin, 'x', SL_SWIM_NAME_MAX);
    big.origin[SL_SWIM_NAME_MAX] = 0;
    big.id = big.stamp_ms = UINT64_MAX;
    uint8_t buf[SL_KEYOP_MSG_MAX];
    int n = sl_keyop_encode(&big, buf, sizeof buf);
    assert_true(n > 0 && n <= 121);
    assert_int_equal(sl_keyop_type_parse("rotate"), SL_EINVAL);
    assert_int_equal(sl_keyop_type_parse(NULL), SL_EINVAL);
    assert_string_equal(sl_keyop_type_name(9), "unknown");
}

static void answers_round_trip(void **state)
{
    (void)state;
    uint32_t counts[] = {0, 1, 2, SL_KEYRING_MAX};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        sl_keyanswer a = answer_of(counts[i]), back;
        if (i == 2)
            snprintf(a.error, sizeof a.error, "the key is not installed here");
        uint8_t buf[SL_KEYOP_MSG_MAX];
        int n = sl_keyanswer_encode(&a, buf, sizeof buf);
        assert_true(n > 0);
        assert_int_equal(sl_appmsg_kind(buf, (size_t)n), SL_APPMSG_KEYANSWER);
        assert_int_equal(sl_keyanswer_decode(buf, (size_t)n, &back), 0);
        assert_true(back.id == a.id);
        assert_string_equal(back.node, a.node);
        assert_string_equal(back.error, a.error);
        assert_int_equal(back.nkeys, a.nkeys);
        assert_memory_equal(back.keys, a.keys, sizeof a.keys);
    }
    /* The largest answer fits SL_KEYOP_MSG_MAX and a gossip message. */
    sl_keyanswer big = answer_of(SL_KEYRING_MAX);
    memset(big.node, 'n', SL_SWIM_NAME_MAX);
    memset(big.error, 'e', SL_KEYOP_ERROR_MAX);
    big.id = UINT64_MAX;
    uint8_t buf[SL_KEYOP_MSG_MAX];
    int n = sl_keyanswer_encode(&big, buf, sizeof buf);
    assert_true(n > 0 && n <= SL_KEYOP_MSG_MAX && n <= SL_SWIM_USER_MAX);
    assert_int_equal(sl_keyanswer_encode(&big, buf, (size_t)n - 1), SL_ESPACE);
}

/* ---- bounds ---- */

static void encoders_refuse_what_decoders_would(void **state)
{
    (void)state;
    uint8_t buf[SL_KEYOP_MSG_MAX];
    sl_keyop op = op_of(SL_KEYOP_USE, 1);
    op.id = 0;
    assert_int_equal(sl_keyop_encode(&op, buf, sizeof buf), SL_EINVAL);
    op = op_of(SL_KEYOP_USE, 1);
    op.origin[0] = 0;
    assert_int_equal(sl_keyop_encode(&op, buf, sizeof buf), SL_EINVAL);
    op = op_of(SL_KEYOP_USE, 1);
    op.type = 0;
    assert_int_equal(sl_keyop_encode(&op, buf, sizeof buf), SL_EINVAL);
    op.type = SL_KEYOP_LIST + 1;
    assert_int_equal(sl_keyop_encode(&op, buf, sizeof buf), SL_EINVAL);
    op = op_of(SL_KEYOP_USE, 1);
    assert_int_equal(sl_keyop_encode(&op, buf, 10), SL_ESPACE);

    sl_keyanswer a = answer_of(2);
    a.id = 0;
    assert_int_equal(sl_keyanswer_encode(&a, buf, sizeof buf), SL_EINVAL);
    a = answer_of(2);
    a.node[0] = 0;
    assert_int_equal(sl_keyanswer_encode(&a, buf, sizeof buf), SL_EINVAL);
    a = answer_of(2);
    a.nkeys = SL_KEYRING_MAX + 1;
    assert_int_equal(sl_keyanswer_encode(&a, buf, sizeof buf), SL_EINVAL);
    a = answer_of(2);
    memcpy(a.keys[1], a.keys[0], SL_KEY_BYTES); /* the same key twice */
    assert_int_equal(sl_keyanswer_encode(&a, buf, sizeof buf), SL_EINVAL);
}

static void unknown_and_malformed_operations_are_refused(void **state)
{
    (void)state;
    raw r;
    /* The reference: well formed, with and without a key, with an extra
     * trailing field (a later version's) which is skipped. */
    assert_int_equal(raw_op(&r, 6, 3, 9, "n1", SL_KEYOP_INSTALL, 32, 0), 0);
    assert_int_equal(raw_op(&r, 6, 3, 9, "n1", SL_KEYOP_LIST, -1, 0), 0);
    assert_int_equal(raw_op(&r, 6, 3, 9, "n1", SL_KEYOP_USE, 32, 2), 0);
    /* Unknown ops. */
    assert_int_equal(raw_op(&r, 6, 3, 9, "n1", 0, 32, 0), SL_EMALFORMED);
    assert_int_equal(raw_op(&r, 6, 3, 9, "n1", 5, 32, 0), SL_EMALFORMED);
    assert_int_equal(raw_op(&r, 6, 3, 9, "n1", 255, 32, 0), SL_EMALFORMED);
    assert_int_equal(raw_op(&r, 6, 3, 9, "n1", 1ull << 40, 32, 0), SL_EMALFORMED);
    /* Keys of the wrong size, missing, or present for list. */
    assert_int_equal(raw_op(&r, 6, 3, 9, "n1", SL_KEYOP_INSTALL, 31, 0), SL_EMALFORMED);
    assert_int_equal(raw_op(&r, 6, 3, 9, "n1", SL_KEYOP_INSTALL, 33, 0), SL_EMALFORMED);
    assert_int_equal(raw_op(&r, 6, 3, 9, "n1", SL_KEYOP_REMOVE, -1, 0), SL_EMALFORMED);
    assert_int_equal(raw_op(&r, 6, 3, 9, "n1", SL_KEYOP_LIST, 32, 0), SL_EMALFORMED);
    /* Another kind, id 0, names out of bounds, missing fields. */
    assert_int_equal(raw_op(&r, 6, 4, 9, "n1", SL_KEYOP_USE, 32, 0), SL_EMALFORMED);
    assert_int_equal(raw_op(&r, 6, 3, 0, "n1", SL_KEYOP_USE, 32, 0), SL_EMALFORMED);
    assert_int_equal(raw_op(&r, 6, 3, 9, "", SL_KEYOP_USE, 32, 0), SL_EMALFORMED);
    char longname[SL_SWIM_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(raw_op(&r, 6, 3, 9, longname, SL_KEYOP_USE, 32, 0), SL_EMALFORMED);
    assert_int_equal(raw_op(&r, 5, 3, 9, "n1", SL_KEYOP_USE, 32, 0), SL_EMALFORMED);
    /* A name with a NUL byte inside. */
    char nul[] = {'n', 0, '1', 0};
    raw_init(&r);
    msgpack_pack_array(&r.pk, 6);
    msgpack_pack_uint8(&r.pk, 3);
    msgpack_pack_uint8(&r.pk, 9);
    msgpack_pack_str(&r.pk, 3);
    msgpack_pack_str_body(&r.pk, nul, 3);
    msgpack_pack_uint8(&r.pk, SL_KEYOP_USE);
    raw_bin(&r, 1, 32);
    msgpack_pack_uint8(&r.pk, 1);
    sl_keyop op;
    assert_int_equal(sl_keyop_decode((const uint8_t *)r.sb.data, r.sb.size, &op), SL_EMALFORMED);
    msgpack_sbuffer_destroy(&r.sb);
    /* Trailing bytes after the message. */
    sl_keyop good = op_of(SL_KEYOP_USE, 2);
    uint8_t buf[SL_KEYOP_MSG_MAX];
    int n = sl_keyop_encode(&good, buf, sizeof buf);
    buf[n] = 0xc0;
    assert_int_equal(sl_keyop_decode(buf, (size_t)n + 1, &op), SL_EMALFORMED);
}

static void malformed_answers_are_refused(void **state)
{
    (void)state;
    raw r;
    sl_keyanswer a;
    /* Seventeen keys. */
    raw_init(&r);
    msgpack_pack_array(&r.pk, 5);
    msgpack_pack_uint8(&r.pk, 4);
    msgpack_pack_uint8(&r.pk, 9);
    raw_str(&r, "n2");
    raw_str(&r, "");
    msgpack_pack_array(&r.pk, SL_KEYRING_MAX + 1);
    for (int i = 0; i < SL_KEYRING_MAX + 1; i++)
        raw_bin(&r, (uint8_t)i, 32);
    assert_int_equal(sl_keyanswer_decode((const uint8_t *)r.sb.data, r.sb.size, &a), SL_EMALFORMED);
    msgpack_sbuffer_destroy(&r.sb);
    /* A key twice, a short key, an error string too long. */
    for (int c = 0; c < 3; c++) {
        raw_init(&r);
        msgpack_pack_array(&r.pk, 5);
        msgpack_pack_uint8(&r.pk, 4);
        msgpack_pack_uint8(&r.pk, 9);
        raw_str(&r, "n2");
        if (c == 2) {
            char e[SL_KEYOP_ERROR_MAX + 2];
            memset(e, 'e', sizeof e - 1);
            e[sizeof e - 1] = 0;
            raw_str(&r, e);
        } else {
            raw_str(&r, "");
        }
        msgpack_pack_array(&r.pk, 2);
        raw_bin(&r, 1, 32);
        raw_bin(&r, c == 0 ? 1 : 2, c == 1 ? 16 : 32);
        assert_int_equal(sl_keyanswer_decode((const uint8_t *)r.sb.data, r.sb.size, &a),
                         SL_EMALFORMED);
        msgpack_sbuffer_destroy(&r.sb);
    }
    /* An operation is not an answer, nor the reverse. */
    sl_keyop op = op_of(SL_KEYOP_USE, 1);
    uint8_t buf[SL_KEYOP_MSG_MAX];
    int n = sl_keyop_encode(&op, buf, sizeof buf);
    assert_int_equal(sl_keyanswer_decode(buf, (size_t)n, &a), SL_EMALFORMED);
    sl_keyanswer good = answer_of(1);
    n = sl_keyanswer_encode(&good, buf, sizeof buf);
    assert_int_equal(sl_keyop_decode(buf, (size_t)n, &op), SL_EMALFORMED);
}

/* Every strict prefix of a valid message is refused, and so is anything
 * random or mutated; nothing crashes (the sanitized build checks reads). */
static void truncated_and_random_input_never_crash(void **state)
{
    (void)state;
    uint8_t opb[SL_KEYOP_MSG_MAX], ansb[SL_KEYOP_MSG_MAX], buf[SL_KEYOP_MSG_MAX + 64];
    sl_keyop op = op_of(SL_KEYOP_INSTALL, 5), out;
    sl_keyanswer a = answer_of(SL_KEYRING_MAX), aout;
    snprintf(a.error, sizeof a.error, "refused");
    int on = sl_keyop_encode(&op, opb, sizeof opb);
    int an = sl_keyanswer_encode(&a, ansb, sizeof ansb);
    assert_true(on > 0 && an > 0);
    for (int len = 0; len < on; len++)
        assert_int_equal(sl_keyop_decode(opb, (size_t)len, &out), SL_EMALFORMED);
    for (int len = 0; len < an; len++)
        assert_int_equal(sl_keyanswer_decode(ansb, (size_t)len, &aout), SL_EMALFORMED);
    sl_rng rng;
    sl_rng_seed(&rng, 11);
    int accepted = 0;
    for (int i = 0; i < 200000; i++) {
        const uint8_t *src = i % 2 ? opb : ansb;
        size_t src_len = (size_t)(i % 2 ? on : an), len;
        if (i % 7 == 0) { /* pure noise */
            len = (size_t)sl_rng_below(&rng, sizeof buf);
            for (size_t k = 0; k < len; k++)
                buf[k] = (uint8_t)sl_rng_next(&rng);
        } else { /* a valid message, cut and with a few bytes changed */
            len = (size_t)sl_rng_below(&rng, src_len + 1);
            memcpy(buf, src, len);
            for (int f = (int)sl_rng_below(&rng, 4); f > 0 && len; f--)
                buf[sl_rng_below(&rng, len)] = (uint8_t)sl_rng_next(&rng);
        }
        if (sl_keyop_decode(buf, len, &out) == 0) {
            accepted++;
            assert_true(out.id != 0 && out.origin[0] && out.type >= SL_KEYOP_INSTALL &&
                        out.type <= SL_KEYOP_LIST);
            uint8_t again[SL_KEYOP_MSG_MAX];
            assert_true(sl_keyop_encode(&out, again, sizeof again) > 0);
        }
        if (sl_keyanswer_decode(buf, len, &aout) == 0) {
            accepted++;
            assert_true(aout.nkeys <= SL_KEYRING_MAX && aout.node[0]);
            uint8_t again[SL_KEYOP_MSG_MAX];
            assert_true(sl_keyanswer_encode(&aout, again, sizeof again) > 0);
        }
        sl_appmsg_kind(buf, len);
    }
    assert_true(accepted > 0); /* some mutations only change a value */
}

/* ---- the rules ---- */

static void stamps_outside_the_window_are_refused(void **state)
{
    (void)state;
    uint64_t now = 1700000000000ull;
    sl_keyop op = op_of(SL_KEYOP_LIST, 0);
    op.stamp_ms = now;
    assert_int_equal(sl_keyop_check_stamp(&op, now), 0);
    op.stamp_ms = now + SL_KEYOP_WINDOW_MS;
    assert_int_equal(sl_keyop_check_stamp(&op, now), 0);
    op.stamp_ms = now + SL_KEYOP_WINDOW_MS + 1;
    assert_int_equal(sl_keyop_check_stamp(&op, now), SL_EFUTURE);
    op.stamp_ms = now - SL_KEYOP_WINDOW_MS;
    assert_int_equal(sl_keyop_check_stamp(&op, now), 0);
    op.stamp_ms = now - SL_KEYOP_WINDOW_MS - 1;
    assert_int_equal(sl_keyop_check_stamp(&op, now), SL_EEXPIRED);
    op.stamp_ms = 0;
    assert_int_equal(sl_keyop_check_stamp(&op, now), SL_EEXPIRED);
    op.stamp_ms = UINT64_MAX;
    assert_int_equal(sl_keyop_check_stamp(&op, now), SL_EFUTURE);
}

static void applying_follows_the_keyring_rules(void **state)
{
    (void)state;
    sl_keyring kr;
    sl_keyanswer a;
    uint8_t k1[SL_KEY_BYTES], k2[SL_KEY_BYTES];
    key_of(k1, 1);
    key_of(k2, 2);
    sl_keyring_init(&kr);
    sl_keyring_install(&kr, k1);

    sl_keyop list = op_of(SL_KEYOP_LIST, 0);
    assert_int_equal(sl_keyop_apply(&kr, &list, "n2", &a), 0);
    assert_string_equal(a.node, "n2");
    assert_true(a.id == list.id && a.error[0] == 0 && a.nkeys == 1);
    assert_memory_equal(a.keys[0], k1, SL_KEY_BYTES);

    sl_keyop use2 = op_of(SL_KEYOP_USE, 2);
    assert_true(sl_keyop_apply(&kr, &use2, "n2", &a) == SL_ENOTFOUND && a.error[0]);
    assert_int_equal(sl_keyring_find(&kr, k1), 0); /* unchanged */

    sl_keyop inst2 = op_of(SL_KEYOP_INSTALL, 2);
    assert_int_equal(sl_keyop_apply(&kr, &inst2, "n2", &a), 1);
    assert_true(a.error[0] == 0 && a.nkeys == 2);
    assert_memory_equal(a.keys[0], k1, SL_KEY_BYTES);           /* the primary first, still k1 */
    assert_int_equal(sl_keyop_apply(&kr, &inst2, "n2", &a), 0); /* held: fine */

    assert_int_equal(sl_keyop_apply(&kr, &use2, "n2", &a), 1);
    assert_memory_equal(a.keys[0], k2, SL_KEY_BYTES);
    assert_int_equal(sl_keyop_apply(&kr, &use2, "n2", &a), 0); /* already the primary */

    sl_keyop rm2 = op_of(SL_KEYOP_REMOVE, 2);
    assert_true(sl_keyop_apply(&kr, &rm2, "n2", &a) == SL_ESTATE && a.error[0]);
    assert_int_equal(kr.n, 2);
    sl_keyop rm1 = op_of(SL_KEYOP_REMOVE, 1);
    assert_int_equal(sl_keyop_apply(&kr, &rm1, "n2", &a), 1);
    assert_true(kr.n == 1 && a.nkeys == 1 && a.error[0] == 0);
    assert_int_equal(sl_keyop_apply(&kr, &rm1, "n2", &a), 0); /* not held: fine */

    /* A full keyring refuses another key. */
    for (int i = 0; i < SL_KEYRING_MAX - 1; i++) {
        sl_keyop more = op_of(SL_KEYOP_INSTALL, (uint8_t)(10 + i));
        assert_int_equal(sl_keyop_apply(&kr, &more, "n2", &a), 1);
    }
    sl_keyop one_more = op_of(SL_KEYOP_INSTALL, 99);
    assert_true(sl_keyop_apply(&kr, &one_more, "n2", &a) == SL_EFULL && a.error[0]);
    assert_int_equal(a.nkeys, SL_KEYRING_MAX);
    /* Every answer encodes. */
    uint8_t buf[SL_KEYOP_MSG_MAX];
    assert_true(sl_keyanswer_encode(&a, buf, sizeof buf) > 0);
    sl_keyop bad = op_of(7, 1);
    assert_true(sl_keyop_apply(&kr, &bad, "n2", &a) == SL_EINVAL && a.error[0]);
    sl_keyring_wipe(&kr);
}

static void the_memory_of_ids_is_bounded(void **state)
{
    (void)state;
    static sl_keyop_seen s;
    sl_keyop_seen_init(&s);
    assert_false(sl_keyop_seen_has(&s, 5));
    assert_false(sl_keyop_seen_add(&s, 5));
    assert_true(sl_keyop_seen_add(&s, 5));
    assert_true(sl_keyop_seen_has(&s, 5));
    for (uint64_t v = 100; v < 100 + SL_KEYOP_SEEN_MAX - 1; v++)
        assert_false(sl_keyop_seen_add(&s, v));
    assert_true(sl_keyop_seen_has(&s, 5)); /* still within the memory */
    assert_false(sl_keyop_seen_add(&s, 1));
    assert_false(sl_keyop_seen_has(&s, 5)); /* the oldest was forgotten */
    assert_int_equal(s.n, SL_KEYOP_SEEN_MAX);
    /* Digests tell answers apart by operation and member. */
    assert_true(sl_keyanswer_digest(1, "a") != sl_keyanswer_digest(2, "a"));
    assert_true(sl_keyanswer_digest(1, "a") != sl_keyanswer_digest(1, "b"));
    assert_true(sl_keyanswer_digest(1, "") != sl_keyanswer_digest(1, "a"));
    assert_true(sl_keyanswer_digest(1, "a") == sl_keyanswer_digest(1, "a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(operations_round_trip),
        cmocka_unit_test(answers_round_trip),
        cmocka_unit_test(encoders_refuse_what_decoders_would),
        cmocka_unit_test(unknown_and_malformed_operations_are_refused),
        cmocka_unit_test(malformed_answers_are_refused),
        cmocka_unit_test(truncated_and_random_input_never_crash),
        cmocka_unit_test(stamps_outside_the_window_are_refused),
        cmocka_unit_test(applying_follows_the_keyring_rules),
        cmocka_unit_test(the_memory_of_ids_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
