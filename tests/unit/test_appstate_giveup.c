/* Give-ups through the application state (gossip/appstate.c): a peer that
 * fails to start a replica 3 times in a row gives it up, its report says
 * so, and the view every peer builds for placement avoids that (service,
 * node) pair, by push-pull or gossip, until the give-up ends; hand-off
 * successors that are trying are told apart from those that gave up. */
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
#include "starling/giveup.h"
#include "../../gossip/wire.h"

static void no_send(void *ud, const sl_addr *to, const uint8_t *buf, size_t len)
{
    (void)ud;
    (void)to;
    (void)buf;
    (void)len;
}

/* A SWIM core named `self` that knows n1, n2 and n3 alive. */
static sl_swim *core_of(const char *self, uint8_t octet)
{
    sl_swim_config cfg = {.name = self,
                          .addr = sl_addr_v4(127, 0, 0, octet, 7946),
                          .generation = 1,
                          .seed = octet,
                          .cb = {.send = no_send}};
    assert_int_equal(sl_swim_profile("lan", &cfg.timing), 0);
    sl_swim *s;
    assert_int_equal(sl_swim_new(&cfg, 0, &s), 0);
    const char *names[] = {"n1", "n2", "n3"};
    for (uint8_t i = 0; i < 3; i++) {
        if (!strcmp(names[i], self))
            continue;
        uint8_t meta[SL_SWIM_META_MAX], pkt[1024];
        sl_meta m = {0};
        int ml = sl_meta_encode(&m, meta, sizeof meta);
        int h = sl_wire_put_header(pkt, sizeof pkt, "");
        sl_msg a = {.type = SL_MSG_ALIVE,
                    .name = names[i],
                    .name_len = 2,
                    .addr = sl_addr_v4(127, 0, 0, (uint8_t)(i + 1), 7946),
                    .inc = {1, 0},
                    .meta = meta,
                    .meta_len = (uint32_t)ml};
        int n = sl_wire_put_msg(pkt + h, sizeof pkt - (size_t)h, &a);
        sl_addr from = a.addr;
        sl_swim_recv(s, &from, pkt, (size_t)(h + n), 10);
    }
    return s;
}

static sl_appstate *app_of(const char *name, sl_swim *s)
{
    sl_appstate_config c = {.node = name, .generation = 1, .sync_grace_ms = 60000, .alone = true};
    sl_appstate *a;
    assert_int_equal(sl_appstate_new(&c, &a), 0);
    sl_appstate_attach(a, s, 0);
    return a;
}

/* Push-pull from `from` into `to` at now. */
static void push(sl_appstate *from, sl_appstate *to, uint64_t now)
{
    uint8_t *st;
    size_t len;
    assert_int_equal(sl_appstate_user_state(from, &st, &len), 0);
    assert_int_equal(sl_appstate_user_merge(to, st, len, now, 1700000000000ull + now), 0);
    free(st);
}

/* The nodes the view of a avoids for web, joined with ','. */
static void avoided(sl_appstate *a, sl_swim *s, char *out, size_t cap)
{
    sl_app_view v;
    assert_int_equal(sl_appstate_build_view(a, s, 1700000000000ull, &v), 0);
    assert_int_equal(v.nsvc, 1);
    out[0] = 0;
    for (uint32_t k = 0; k < v.ps[0].navoid; k++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", k ? "," : "", v.ps[0].avoid[k]);
    sl_app_view_free(&v);
}

static bool fail_start(sl_appstate *a, uint64_t now)
{
    assert_false(sl_appstate_replica_status(a, "web", 0, SL_REPLICA_STARTING, now));
    return sl_appstate_replica_status(a, "web", 0, SL_REPLICA_FAILED, now);
}

static void a_give_up_is_avoided_everywhere_until_it_ends(void **state)
{
    (void)state;
    sl_swim *s1 = core_of("n1", 1), *s2 = core_of("n2", 2);
    sl_appstate *a = app_of("n1", s1), *b = app_of("n2", s2);
    static char *argv[] = {"/bin/missing"};
    sl_service web = {.replicas = 1, .argc = 1, .argv = argv};
    strcpy(web.name, "web");
    char err[256], av[128];
    assert_int_equal(sl_appstate_deploy(a, &web, 0, 1700000000000ull, err, sizeof err), 0);
    push(a, b, 5);
    /* b runs it and fails to start it: twice is not enough. */
    assert_false(fail_start(b, 1000));
    assert_false(fail_start(b, 2000));
    sl_replica_report failing = {.replica = 0, .status = SL_REPLICA_FAILED};
    sl_appstate_publish(b, "web", &failing, 1);
    assert_false(sl_appstate_trying(b, "n2", "web", 1));
    assert_true(sl_appstate_trying(b, "n2", "web", 0)); /* a successor still trying */
    push(b, a, 2100);
    avoided(a, s1, av, sizeof av);
    assert_string_equal(av, "");
    /* The third in a row: given up, b stops it and publishes (the driver's
     * on_removed), and placement on b avoids b at once. */
    assert_true(fail_start(b, 3000));
    assert_int_equal(sl_appstate_stats(b)->give_ups, 1);
    sl_appstate_publish(b, "web", NULL, 0);
    avoided(b, s2, av, sizeof av);
    assert_string_equal(av, "n2");
    assert_false(sl_appstate_trying(b, "n2", "web", 0)); /* gave up: not trying */
    assert_int_equal(sl_reports_replica_status(sl_appstate_reports(b), "n2", "web", 0),
                     SL_REPLICA_FAILED);
    /* a learns it by push-pull, and reconciles soon. */
    push(b, a, 3100);
    avoided(a, s1, av, sizeof av);
    assert_string_equal(av, "n2");
    assert_true(sl_appstate_deadline(a) <= 3100 + 4 * SL_APP_DEBOUNCE_MS);
    /* The give-up ends after SL_GIVEUP_FOR_MS: b publishes its report
     * without it, and a stops avoiding b. */
    assert_true(sl_appstate_deadline(b) <= 3000 + SL_GIVEUP_FOR_MS);
    sl_appstate_tick(b, 3000 + SL_GIVEUP_FOR_MS - 1, 1700000000000ull);
    avoided(b, s2, av, sizeof av);
    assert_string_equal(av, "n2");
    sl_appstate_tick(b, 3000 + SL_GIVEUP_FOR_MS, 1700000000000ull);
    avoided(b, s2, av, sizeof av);
    assert_string_equal(av, "");
    push(b, a, 3000 + SL_GIVEUP_FOR_MS + 100);
    avoided(a, s1, av, sizeof av);
    assert_string_equal(av, "");
    sl_appstate_free(a);
    sl_appstate_free(b);
    sl_swim_free(s1);
    sl_swim_free(s2);
}

/* A redeploy with another spec ends a give-up at once; a scale does not. */
static void a_new_spec_ends_it_a_scale_does_not(void **state)
{
    (void)state;
    sl_swim *s2 = core_of("n2", 2);
    sl_appstate *b = app_of("n2", s2);
    static char *v1[] = {"/bin/missing"}, *v2[] = {"/bin/found"};
    sl_service web = {.replicas = 1, .argc = 1, .argv = v1};
    strcpy(web.name, "web");
    char err[256], av[128];
    assert_int_equal(sl_appstate_deploy(b, &web, 0, 1700000000000ull, err, sizeof err), 0);
    for (int i = 0; i < SL_GIVEUP_AFTER - 1; i++)
        assert_false(fail_start(b, 100 + (uint64_t)i));
    assert_true(fail_start(b, 200));
    sl_appstate_publish(b, "web", NULL, 0);
    assert_int_equal(sl_appstate_scale(b, "web", 2, 300, 1700000000300ull, err, sizeof err), 0);
    sl_appstate_tick(b, 400, 1700000000400ull);
    avoided(b, s2, av, sizeof av);
    assert_string_equal(av, "n2");
    web.argv = v2;
    assert_int_equal(sl_appstate_deploy(b, &web, 500, 1700000000500ull, err, sizeof err), 0);
    sl_appstate_tick(b, 600, 1700000000600ull);
    avoided(b, s2, av, sizeof av);
    assert_string_equal(av, "");
    sl_appstate_free(b);
    sl_swim_free(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_give_up_is_avoided_everywhere_until_it_ends),
        cmocka_unit_test(a_new_spec_ends_it_a_scale_does_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
