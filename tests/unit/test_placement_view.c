/* The members placement sees: one member advertising metadata out of
 * bounds (slots 65536) used to make placement fail on every peer, so that no
 * peer started, stopped or re-hosted anything again. It is left out now,
 * and counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../node/placement_view.h"
#include "starling/error.h"
#include "starling/wire.h"

static void no_send(void *ud, const sl_addr *to, const uint8_t *buf, size_t len)
{
    (void)ud;
    (void)to;
    (void)buf;
    (void)len;
}

/* Feeds the core an ALIVE of `name` with metadata m. */
static void alive(sl_swim *s, const char *name, uint8_t last_octet, const sl_meta *m)
{
    uint8_t meta[SL_SWIM_META_MAX], pkt[1024];
    int ml = sl_meta_encode(m, meta, sizeof meta);
    assert_true(ml >= 0);
    int h = sl_wire_put_header(pkt, sizeof pkt, "");
    sl_msg a = {.type = SL_MSG_ALIVE,
                .name = name,
                .name_len = (uint32_t)strlen(name),
                .addr = sl_addr_v4(127, 0, 0, last_octet, 7946),
                .inc = {1, 0},
                .meta = meta,
                .meta_len = (uint32_t)ml};
    int n = sl_wire_put_msg(pkt + h, sizeof pkt - (size_t)h, &a);
    assert_true(n > 0);
    sl_addr from = sl_addr_v4(127, 0, 0, last_octet, 7946);
    sl_swim_recv(s, &from, pkt, (size_t)(h + n), 10);
}

static void invalid_metadata_is_left_out(void **state)
{
    (void)state;
    sl_swim_config cfg = {.name = "self",
                          .addr = sl_addr_v4(127, 0, 0, 1, 7946),
                          .generation = 1,
                          .seed = 1,
                          .cb = {.send = no_send}};
    assert_int_equal(sl_swim_profile("lan", &cfg.timing), 0);
    sl_swim *s;
    assert_int_equal(sl_swim_new(&cfg, 0, &s), 0);
    sl_meta bad = {.slots = 65536}, good = {.slots = 2}, drain = {0};
    sl_meta_set_tag(&drain, SL__TAG_DRAINING, "1");
    alive(s, "bad", 2, &bad);
    alive(s, "good", 3, &good);
    alive(s, "leaving", 4, &drain);
    assert_int_equal(sl_swim_count(s, SL_MEMBER_ALIVE), 4);
    sl__placement_view v;
    assert_int_equal(sl__placement_view_build(s, &v), 0);
    assert_int_equal(v.n, 3);
    assert_int_equal(v.invalid, 1);
    assert_string_equal(v.first_invalid, "bad");
    for (size_t i = 0; i < v.n; i++) {
        assert_string_not_equal(v.pm[i].name, "bad");
        if (!strcmp(v.pm[i].name, "good"))
            assert_int_equal(v.pm[i].weight, 2);
        if (!strcmp(v.pm[i].name, "leaving"))
            assert_int_equal(v.pm[i].state, SL_PLACEMENT_DRAINING);
    }
    assert_true(v.self >= 0);
    assert_string_equal(v.pm[v.self].name, "self");
    /* And placement runs, over the valid members. */
    sl_placement_service svc = {"web", 2, 0, 0, SL_PLACEMENT_SPREAD_ZONE};
    sl_placement *p;
    assert_int_equal(sl_placement_compute(v.pm, v.n, &svc, 1, NULL, &p), 0);
    for (uint32_t r = 0; r < 2; r++)
        assert_true(sl_placement_node(p, 0, r) >= 0);
    sl_placement_free(p);
    sl__placement_view_free(&v);
    sl_swim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invalid_metadata_is_left_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
