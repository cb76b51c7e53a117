/* The agent's stream and RPC decoders face anyone who can reach its ports:
 * frames (length-prefixed) and msgpack-to-JSON values. Round trips, the
 * bounds, the msgpack-c trap, and 100k random and truncated inputs that must
 * give a value or an error, never a crash or an unbounded allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc/frame.h"
#include "rpc/mpjson.h"
#include "starling/error.h"
#include "starling/rng.h"

static void mpjson_round_trip(void **state)
{
    (void)state;
    json_t *v =
        json_pack("{s:s, s:i, s:b, s:n, s:[i, s, {s:f}]}", "command", "deploy", "seq",
                  (json_int_t)-42, "flag", 1, "none", "list", (json_int_t)1, "two", "x", 1.5);
    uint8_t *buf;
    size_t len;
    assert_int_equal(sl__mpjson_encode(v, &buf, &len), 0);
    json_t *back;
    assert_int_equal(sl__mpjson_decode(buf, len, &back), 0);
    assert_true(json_equal(v, back));
    /* Trailing bytes and truncation are refused. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0xc0;
    json_t *bad = NULL;
    assert_int_equal(sl__mpjson_decode(longer, len + 1, &bad), -1);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(sl__mpjson_decode(buf, cut, &bad), -1);
    assert_null(bad);
    free(longer);
    free(buf);
    json_decref(v);
    json_decref(back);
}

static void mpjson_refuses_traps(void **state)
{
    (void)state;
    json_t *v = NULL;
    /* An array claiming 64M elements in 5 bytes: refused before allocating. */
    const uint8_t trap[] = {0xdd, 0x04, 0x00, 0x00, 0x00};
    assert_int_equal(sl__mpjson_decode(trap, sizeof trap, &v), -1);
    /* A map with an integer key. */
    const uint8_t intkey[] = {0x81, 0x01, 0x02};
    assert_int_equal(sl__mpjson_decode(intkey, sizeof intkey, &v), -1);
    /* Nesting deeper than the limit. */
    uint8_t deep[SL__MPJSON_DEPTH + 8];
    memset(deep, 0x91, sizeof deep - 1);
    deep[sizeof deep - 1] = 0xc0;
    assert_int_equal(sl__mpjson_decode(deep, sizeof deep, &v), -1);
    assert_null(v);
}

static void frames_reassemble_and_bound(void **state)
{
    (void)state;
    sl__frame f;
    sl__frame_init(&f, 1000);
    uint8_t stream[3 + 4 + 5 + 4];
    sl__frame_header(stream, 3);
    memcpy(stream + 4, "abc", 3);
    sl__frame_header(stream + 7, 5);
    memcpy(stream + 11, "hello", 5);
    /* Fed one byte at a time, both frames come out whole. */
    int frames = 0;
    for (size_t i = 0; i < sizeof stream; i++) {
        const uint8_t *p = stream + i;
        size_t n = 1;
        int rc = sl__frame_feed(&f, &p, &n);
        assert_true(rc >= 0);
        if (rc == 1) {
            assert_memory_equal(f.data, frames == 0 ? "abc" : "hello", f.want);
            frames++;
            sl__frame_reset(&f);
        }
    }
    assert_int_equal(frames, 2);
    /* A declared length over the bound is refused at once. */
    uint8_t huge[4];
    sl__frame_header(huge, 1u << 30);
    const uint8_t *p = huge;
    size_t n = 4;
    assert_int_equal(sl__frame_feed(&f, &p, &n), SL_ETOOBIG);
    assert_true(f.cap <= 1000);
    sl__frame_deinit(&f);
}

static void decoders_survive_garbage(void **state)
{
    (void)state;
    json_t *seed = json_pack("{s:s, s:i, s:[s, s], s:{s:b}}", "command", "where", "seq",
                             (json_int_t)7, "argv", "a", "b", "o", "k", 0);
    uint8_t *good;
    size_t good_len;
    assert_int_equal(sl__mpjson_encode(seed, &good, &good_len), 0);
    sl_rng rng;
    sl_rng_seed(&rng, 11);
    uint8_t buf[512];
    int decoded = 0;
    for (int i = 0; i < 100000; i++) {
        size_t len;
        if (i % 2) {
            len = (size_t)sl_rng_below(&rng, good_len + 1);
            memcpy(buf, good, len);
            for (int f = (int)sl_rng_below(&rng, 4); f > 0 && len; f--)
                buf[sl_rng_below(&rng, len)] = (uint8_t)sl_rng_next(&rng);
        } else {
            len = (size_t)sl_rng_below(&rng, sizeof buf);
            for (size_t k = 0; k < len; k++)
                buf[k] = (uint8_t)sl_rng_next(&rng);
        }
        json_t *v = NULL;
        if (sl__mpjson_decode(buf, len, &v) == 0) {
            decoded++;
            json_decref(v);
        }
        sl__frame fr;
        sl__frame_init(&fr, 256);
        const uint8_t *p = buf;
        size_t n = len;
        while (n > 0) {
            int rc = sl__frame_feed(&fr, &p, &n);
            if (rc < 0)
                break;
            if (rc == 1)
                sl__frame_reset(&fr);
        }
        assert_true(fr.cap <= 256 + 4096);
        sl__frame_deinit(&fr);
    }
    assert_true(decoded > 0); /* some mutations stay valid */
    free(good);
    json_decref(seed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mpjson_round_trip),
        cmocka_unit_test(mpjson_refuses_traps),
        cmocka_unit_test(frames_reassemble_and_bound),
        cmocka_unit_test(decoders_survive_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
