/* The runtime core's application state (gossip/appstate.c), on a fake
 * clock: the view placement reads, the debounce of reconciling and saving
 * (with its maximum delay), writes and their spreading between two peers,
 * the snapshot and how current a restored catalog is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "starling/appstate.h"
#include "starling/error.h"
#include "../../gossip/wire.h"

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

static void keep_last_line(void *ud, sl_app_level level, const char *msg)
{
    (void)level;
    snprintf(ud, 512, "%s", msg);
}

/* A state for node `name`, logging its last line into `logged` (512 bytes,
 * or NULL). */
static sl_appstate *new_app(const char *name, char *logged)
{
    sl_appstate_config c = {.node = name,
                            .generation = 1,
                            .persist = true,
                            .pol = {.horizon_ms = SL_CATALOG_HORIZON_MS},
                            .sync_grace_ms = 60000,
                            .alone = true,
                            .log = logged ? keep_last_line : NULL,
                            .ud = logged,
                            .now_ms = 0};
    sl_appstate *a;
    assert_int_equal(sl_appstate_new(&c, &a), 0);
    return a;
}

/* One member advertising metadata out of bounds (slots 65536) used to make
 * placement fail on every peer, so that no peer started, stopped or
 * re-hosted anything again. It is left out now, and counted. */
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
    sl_meta_set_tag(&drain, SL_TAG_DRAINING, "1");
    alive(s, "bad", 2, &bad);
    alive(s, "good", 3, &good);
    alive(s, "leaving", 4, &drain);
    assert_int_equal(sl_swim_count(s, SL_MEMBER_ALIVE), 4);
    char logged[512] = "";
    sl_appstate *a = new_app("self", logged);
    sl_app_view v;
    assert_int_equal(sl_appstate_build_view(a, s, 0, &v), 0);
    assert_int_equal(v.n, 3);
    assert_int_equal(v.invalid, 1);
    assert_non_null(strstr(logged, "(e.g. bad)")); /* named in the log, once */
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
    sl_placement_service svc = {"web", 2, 0, 0, SL_PLACEMENT_SPREAD_ZONE, NULL, 0};
    sl_placement *p;
    assert_int_equal(sl_placement_compute(v.pm, v.n, &svc, 1, NULL, &p), 0);
    for (uint32_t r = 0; r < 2; r++)
        assert_true(sl_placement_node(p, 0, r) >= 0);
    sl_placement_free(p);
    sl_app_view_free(&v);
    sl_appstate_free(a);
    sl_swim_free(s);
}

static sl_service web_spec(uint32_t replicas)
{
    static char *argv[] = {"/bin/true"};
    sl_service s = {.replicas = replicas, .argc = 1, .argv = argv};
    snprintf(s.name, sizeof s.name, "web");
    return s;
}

/* A write asks for a reconcile after the debounce and a save after the save
 * delay; nothing is due before. */
static void a_write_asks_for_reconcile_and_save(void **state)
{
    (void)state;
    sl_appstate *a = new_app("n1", NULL);
    assert_int_equal(sl_appstate_tick(a, 0, 1000), 0);
    sl_service w = web_spec(2);
    char err[256];
    assert_int_equal(sl_appstate_deploy(a, &w, 100, 1000, err, sizeof err), 0);
    assert_int_equal(sl_appstate_deadline(a), 100 + SL_APP_SAVE_DELAY_MS);
    assert_int_equal(sl_appstate_tick(a, 299, 1000), 0);
    assert_int_equal(sl_appstate_tick(a, 300, 1000), SL_APP_DO_SAVE);
    assert_int_equal(sl_appstate_deadline(a), 100 + SL_APP_DEBOUNCE_MS);
    assert_int_equal(sl_appstate_tick(a, 599, 1000), 0);
    assert_int_equal(sl_appstate_tick(a, 600, 1000), SL_APP_DO_RECONCILE);
    /* Nothing more until housekeeping. */
    assert_int_equal(sl_appstate_deadline(a), SL_APP_GC_EVERY_MS);
    /* A refused write asks for nothing and says why. */
    assert_int_equal(sl_appstate_scale(a, "nope", 3, 700, 1000, err, sizeof err), SL_ENOTFOUND);
    assert_string_equal(err, "no service named 'nope'");
    assert_int_equal(sl_appstate_deadline(a), SL_APP_GC_EVERY_MS);
    sl_appstate_free(a);
}

/* A steady trickle of changes, one every 400 ms (shorter than the 500 ms
 * debounce), used to postpone reconciling and saving for ever: both now
 * happen within their maximum delay of the first change. */
static void a_trickle_cannot_postpone_for_ever(void **state)
{
    (void)state;
    sl_appstate *a = new_app("n1", NULL);
    char err[256];
    uint64_t first_reconcile = 0, first_save = 0;
    unsigned reconciles = 0;
    for (uint64_t t = 0; t <= 10000; t += 100) {
        if (t % 400 == 0) {
            sl_service w = web_spec(1 + (uint32_t)(t / 400) % 5);
            assert_int_equal(sl_appstate_deploy(a, &w, t, 1000 + t, err, sizeof err), 0);
        }
        unsigned todo = sl_appstate_tick(a, t, 1000 + t);
        if ((todo & SL_APP_DO_RECONCILE) && !reconciles++)
            first_reconcile = t;
        if ((todo & SL_APP_DO_SAVE) && !first_save)
            first_save = t;
    }
    assert_true(first_reconcile > 0 && first_reconcile <= 4 * SL_APP_DEBOUNCE_MS);
    assert_true(first_save > 0 && first_save <= SL_APP_SAVE_MAX_MS);
    /* At most 2 s after the first change not yet served, which comes at most
     * 400 ms after the last reconcile: 4 in 10 s at least. */
    assert_true(reconciles >= 10000 / (4 * SL_APP_DEBOUNCE_MS + 400));
    sl_appstate_free(a);
}

/* A hand-off's poll time is honoured without waiting for the debounce. */
static void a_handoff_poll_is_due_at_its_time(void **state)
{
    (void)state;
    sl_appstate *a = new_app("n1", NULL);
    sl_appstate_reconciled(a, 1, 1000);
    assert_int_equal(sl_appstate_deadline(a), 1000);
    assert_int_equal(sl_appstate_tick(a, 1000, 1), SL_APP_DO_RECONCILE);
    sl_appstate_reconciled(a, 0, UINT64_MAX);
    assert_int_equal(sl_appstate_deadline(a), SL_APP_GC_EVERY_MS);
    sl_appstate_free(a);
}

/* A reconcile that could not run is tried again, sooner first, then less
 * and less often while it keeps failing; one that runs resets that. */
static void a_failed_reconcile_is_tried_again(void **state)
{
    (void)state;
    sl_appstate *a = new_app("n1", NULL);
    assert_int_equal(sl_appstate_reconcile_failed(a, 5000), SL_APP_RETRY_MIN_MS);
    assert_int_equal(sl_appstate_deadline(a), 5000 + SL_APP_RETRY_MIN_MS);
    assert_int_equal(sl_appstate_tick(a, 5000 + SL_APP_RETRY_MIN_MS, 1), SL_APP_DO_RECONCILE);
    assert_int_equal(sl_appstate_reconcile_failed(a, 6000), 2 * SL_APP_RETRY_MIN_MS);
    assert_int_equal(sl_appstate_deadline(a), 6000 + 2 * SL_APP_RETRY_MIN_MS);
    for (int i = 0; i < 10; i++)
        sl_appstate_reconcile_failed(a, 6000);
    assert_int_equal(sl_appstate_reconcile_failed(a, 7000), SL_APP_RETRY_MAX_MS);
    assert_int_equal(sl_appstate_stats(a)->reconcile_retries, 13);
    sl_appstate_reconciled(a, 0, UINT64_MAX);
    assert_int_equal(sl_appstate_deadline(a), SL_APP_GC_EVERY_MS);
    assert_int_equal(sl_appstate_reconcile_failed(a, 8000), SL_APP_RETRY_MIN_MS);
    sl_appstate_free(a);
}

/* A write on one peer reaches another through a push-pull state. */
static void push_pull_carries_the_catalog(void **state)
{
    (void)state;
    sl_appstate *a = new_app("n1", NULL), *b = new_app("n2", NULL);
    sl_service w = web_spec(3);
    char err[256];
    assert_int_equal(sl_appstate_deploy(a, &w, 0, 1000, err, sizeof err), 0);
    uint8_t *st;
    size_t len;
    assert_int_equal(sl_appstate_user_state(a, &st, &len), 0);
    assert_int_equal(sl_appstate_user_merge(b, st, len, 10, 1010), 0);
    free(st);
    const sl_service *got = sl_catalog_find(sl_appstate_catalog(b), "web");
    assert_non_null(got);
    assert_int_equal(got->replicas, 3);
    assert_int_equal(sl_appstate_deadline(b), 10 + SL_APP_SAVE_DELAY_MS); /* and b saves it */
    /* Garbage is refused and changes nothing. */
    uint8_t junk[] = {0x93, 0x01, 0x02};
    assert_int_equal(sl_appstate_user_merge(b, junk, sizeof junk, 20, 1020), SL_EMALFORMED);
    assert_int_equal(sl_catalog_size(sl_appstate_catalog(b)), 1);
    sl_appstate_free(a);
    sl_appstate_free(b);
}

/* The snapshot restores the catalog; one saved longer ago than the horizon
 * comes back returning (its records wait for a current peer), a corrupt one
 * is refused. */
static void snapshot_restores_and_dates_the_catalog(void **state)
{
    (void)state;
    sl_appstate *a = new_app("n1", NULL);
    sl_service w = web_spec(2);
    char err[256];
    uint64_t wall = 10ull * SL_CATALOG_HORIZON_MS;
    assert_int_equal(sl_appstate_deploy(a, &w, 0, wall, err, sizeof err), 0);
    uint8_t *snap;
    size_t len;
    assert_int_equal(sl_appstate_snapshot(a, wall, &snap, &len), 0);
    sl_app_restore info;
    sl_appstate *fresh = new_app("n1", NULL);
    assert_int_equal(sl_appstate_restore(fresh, snap, len, wall + 1000, &info), 0);
    assert_int_equal(info.records, 1);
    assert_false(info.old);
    assert_int_equal(sl_catalog_get_sync(sl_appstate_catalog(fresh)), SL_CATALOG_CURRENT);
    sl_appstate *away = new_app("n1", NULL);
    assert_int_equal(sl_appstate_restore(away, snap, len, wall + SL_CATALOG_HORIZON_MS + 1, &info),
                     0);
    assert_true(info.old);
    assert_int_equal(sl_catalog_get_sync(sl_appstate_catalog(away)), SL_CATALOG_RETURNING);
    snap[len / 2] ^= 0xff;
    sl_appstate *bad = new_app("n1", NULL);
    int rc = sl_appstate_restore(bad, snap, len - 3, wall, &info);
    assert_int_equal(rc, SL_EMALFORMED);
    free(snap);
    sl_appstate_free(a);
    sl_appstate_free(fresh);
    sl_appstate_free(away);
    sl_appstate_free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invalid_metadata_is_left_out),
        cmocka_unit_test(a_write_asks_for_reconcile_and_save),
        cmocka_unit_test(a_trickle_cannot_postpone_for_ever),
        cmocka_unit_test(a_handoff_poll_is_due_at_its_time),
        cmocka_unit_test(a_failed_reconcile_is_tried_again),
        cmocka_unit_test(push_pull_carries_the_catalog),
        cmocka_unit_test(snapshot_restores_and_dates_the_catalog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
