/* The SWIM precedence rules, message by message, as memberlist's state tests
 * check them: one sl_swim core, no world and no network, fed hand-built
 * packets (sl_wire_put_header + sl_wire_put_msg) at a clock that does not
 * move, so that nothing but the message under test can change a member.
 *
 * Each test states what the core does today (gossip/swim_update.c): news is
 * ordered by incarnation, and for one incarnation left/dead > suspect >
 * alive; news about ourselves is refuted or reported as a conflict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "starling/error.h"
#include "starling/swim.h"
#include "../../gossip/wire.h"

#define ME "me"
#define NOW 1000000

/* One core and what it did: the packets it sent and the events it gave. */
typedef struct rig {
    sl_swim *s;
    uint8_t sent[8][1400];
    size_t sent_len[8];
    int nsent;
    sl_swim_event_type ev[64];
    char ev_name[64][SL_SWIM_NAME_MAX + 1];
    char ev_from[64][SL_SWIM_NAME_MAX + 1];
    int nev;
} rig;

static void on_send(void *ud, const sl_addr *to, const uint8_t *buf, size_t len)
{
    (void)to;
    rig *r = ud;
    if (r->nsent < 8 && len <= sizeof r->sent[0]) {
        memcpy(r->sent[r->nsent], buf, len);
        r->sent_len[r->nsent++] = len;
    }
}

static void on_event(void *ud, const sl_swim_event *ev)
{
    rig *r = ud;
    if (r->nev == 64)
        return;
    r->ev[r->nev] = ev->type;
    snprintf(r->ev_name[r->nev], sizeof r->ev_name[0], "%s", ev->name);
    snprintf(r->ev_from[r->nev], sizeof r->ev_from[0], "%s", ev->from ? ev->from : "");
    r->nev++;
}

static const sl_addr my_addr = {.family = SL_ADDR_V4, .port = 7946, .ip = {10, 0, 0, 1}};

static sl_addr addr_of(uint8_t last)
{
    return sl_addr_v4(10, 0, 0, last, 7946);
}

/* A core named "me" at generation 1 (incarnation {1, 0}), LAN timing. */
static rig *rig_new(void)
{
    rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    sl_swim_config cfg = {.name = ME,
                          .addr = my_addr,
                          .cluster = "",
                          .generation = 1,
                          .seed = 42,
                          .cb = {.send = on_send, .event = on_event, .ud = r}};
    assert_int_equal(sl_swim_profile("lan", &cfg.timing), 0);
    assert_int_equal(sl_swim_new(&cfg, NOW, &r->s), 0);
    return r;
}

static void rig_free(rig *r)
{
    sl_swim_free(r->s);
    free(r);
}

/* Delivers one packet holding the single message m, as if from `from`, at
 * now_ms. */
static void feed_at(rig *r, const sl_msg *m, sl_addr from, uint64_t now_ms)
{
    uint8_t pkt[1400];
    int hl = sl_wire_put_header(pkt, sizeof pkt, "");
    assert_true(hl > 0);
    int ml = sl_wire_put_msg(pkt + hl, sizeof pkt - (size_t)hl, m);
    assert_true(ml > 0);
    sl_swim_recv(r->s, &from, pkt, (size_t)(hl + ml), now_ms);
}

/* The same at NOW. */
static void feed(rig *r, const sl_msg *m, sl_addr from)
{
    feed_at(r, m, from, NOW);
}

static sl_incarnation inc(uint32_t gen, uint32_t ctr)
{
    return (sl_incarnation){gen, ctr};
}

static void alive(rig *r, const char *name, sl_addr a, sl_incarnation i)
{
    sl_msg m = {.type = SL_MSG_ALIVE,
                .name = name,
                .name_len = (uint32_t)strlen(name),
                .addr = a,
                .inc = i};
    feed(r, &m, a);
}

/* Suspect or dead news about name at i, declared by `from`. */
static void accuse(rig *r, uint32_t type, const char *name, sl_incarnation i, const char *from)
{
    sl_msg m = {.type = type,
                .name = name,
                .name_len = (uint32_t)strlen(name),
                .inc = i,
                .from = from,
                .from_len = (uint32_t)strlen(from)};
    feed(r, &m, addr_of(200));
}

static void left(rig *r, const char *name, sl_incarnation i)
{
    sl_msg m = {.type = SL_MSG_LEFT, .name = name, .name_len = (uint32_t)strlen(name), .inc = i};
    feed(r, &m, addr_of(200));
}

static sl_member_view view_of(rig *r, const char *name)
{
    sl_member_view v;
    assert_int_equal(sl_swim_find(r->s, name, &v), 0);
    return v;
}

static sl_member_state state_of(rig *r, const char *name)
{
    return view_of(r, name).state;
}

static void assert_inc(sl_incarnation got, sl_incarnation want)
{
    if (sl_incarnation_cmp(got, want) != 0)
        fail_msg("incarnation {%u, %u}, want {%u, %u}", got.gen, got.ctr, want.gen, want.ctr);
}

static uint64_t drops(rig *r, sl_swim_drop why)
{
    return sl_swim_get_stats(r->s)->drops[why];
}

static uint64_t events(rig *r, sl_swim_event_type t)
{
    return sl_swim_get_stats(r->s)->events[t];
}

/* Whether the core sends an alive about us at incarnation i: a peer pings
 * us, and the ack carries our queued news piggyback. */
static bool announces_self_at(rig *r, sl_incarnation i)
{
    r->nsent = 0;
    sl_msg ping = {.type = SL_MSG_PING,
                   .seq = 7,
                   .name = ME,
                   .name_len = 2,
                   .from = "a",
                   .from_len = 1,
                   .addr = addr_of(2)};
    feed(r, &ping, addr_of(2));
    for (int p = 0; p < r->nsent; p++) {
        const char *cl;
        uint32_t cl_len;
        sl_wire_iter it;
        sl_msg m;
        assert_int_equal(sl_wire_open(r->sent[p], r->sent_len[p], &cl, &cl_len, &it), 0);
        while (sl_wire_next(&it, &m) == 1)
            if (m.type == SL_MSG_ALIVE && m.name_len == 2 && memcmp(m.name, ME, 2) == 0 &&
                sl_incarnation_cmp(m.inc, i) == 0)
                return true;
    }
    return false;
}

/* A member that left is not dead: for one incarnation a leave is the better
 * news, so it overturns a death, and a death does not overturn a leave. */
static void left_beats_dead_at_the_same_incarnation(void **state)
{
    (void)state;
    rig *r = rig_new();
    alive(r, "a", addr_of(2), inc(1, 3));
    accuse(r, SL_MSG_DEAD, "a", inc(1, 3), "b");
    assert_int_equal(state_of(r, "a"), SL_MEMBER_DEAD);
    left(r, "a", inc(1, 3));
    assert_int_equal(state_of(r, "a"), SL_MEMBER_LEFT);
    assert_int_equal(events(r, SL_EVENT_FAILED), 1);
    assert_int_equal(events(r, SL_EVENT_LEFT), 1);
    /* An older leave does not overturn a death. */
    alive(r, "c", addr_of(3), inc(1, 3));
    accuse(r, SL_MSG_DEAD, "c", inc(1, 3), "b");
    left(r, "c", inc(1, 2));
    assert_int_equal(state_of(r, "c"), SL_MEMBER_DEAD);
    rig_free(r);
}

/* Dead news after a leave is dropped as stale, at the same incarnation and
 * also at a newer one: nothing but alive news moves a member that left. */
static void dead_after_left_is_ignored(void **state)
{
    (void)state;
    rig *r = rig_new();
    alive(r, "a", addr_of(2), inc(1, 3));
    left(r, "a", inc(1, 3));
    assert_int_equal(state_of(r, "a"), SL_MEMBER_LEFT);
    uint64_t stale = drops(r, SL_DROP_STALE);
    accuse(r, SL_MSG_DEAD, "a", inc(1, 3), "b");
    assert_int_equal(state_of(r, "a"), SL_MEMBER_LEFT);
    accuse(r, SL_MSG_DEAD, "a", inc(1, 4), "b");
    assert_int_equal(state_of(r, "a"), SL_MEMBER_LEFT);
    assert_inc(view_of(r, "a").inc, inc(1, 3));
    assert_int_equal(drops(r, SL_DROP_STALE), stale + 2);
    assert_int_equal(events(r, SL_EVENT_FAILED), 0);
    /* A newer alive does bring it back. */
    alive(r, "a", addr_of(2), inc(1, 4));
    assert_int_equal(state_of(r, "a"), SL_MEMBER_ALIVE);
    assert_int_equal(events(r, SL_EVENT_ALIVE_AGAIN), 1);
    rig_free(r);
}

static void older_incarnation_suspect_is_ignored(void **state)
{
    (void)state;
    rig *r = rig_new();
    alive(r, "a", addr_of(2), inc(1, 3));
    uint64_t stale = drops(r, SL_DROP_STALE);
    accuse(r, SL_MSG_SUSPECT, "a", inc(1, 2), "b");
    accuse(r, SL_MSG_SUSPECT, "a", inc(0, 9), "b");
    assert_int_equal(state_of(r, "a"), SL_MEMBER_ALIVE);
    assert_inc(view_of(r, "a").inc, inc(1, 3));
    assert_int_equal(drops(r, SL_DROP_STALE), stale + 2);
    assert_int_equal(events(r, SL_EVENT_SUSPECT), 0);
    rig_free(r);
}

static void suspect_at_the_current_incarnation_makes_a_suspect(void **state)
{
    (void)state;
    rig *r = rig_new();
    alive(r, "a", addr_of(2), inc(1, 3));
    accuse(r, SL_MSG_SUSPECT, "a", inc(1, 3), "b");
    assert_int_equal(state_of(r, "a"), SL_MEMBER_SUSPECT);
    assert_inc(view_of(r, "a").inc, inc(1, 3));
    assert_int_equal(events(r, SL_EVENT_SUSPECT), 1);
    assert_string_equal(r->ev_name[r->nev - 1], "a");
    assert_string_equal(r->ev_from[r->nev - 1], "b");
    /* The same suspicion again from the same member confirms nothing. */
    uint64_t stale = drops(r, SL_DROP_STALE);
    accuse(r, SL_MSG_SUSPECT, "a", inc(1, 3), "b");
    assert_int_equal(drops(r, SL_DROP_STALE), stale + 1);
    assert_int_equal(events(r, SL_EVENT_SUSPECT), 1);
    /* A suspicion of a newer incarnation than we hold makes a suspect too. */
    alive(r, "c", addr_of(3), inc(1, 3));
    accuse(r, SL_MSG_SUSPECT, "c", inc(1, 5), "b");
    assert_int_equal(state_of(r, "c"), SL_MEMBER_SUSPECT);
    assert_inc(view_of(r, "c").inc, inc(1, 5));
    rig_free(r);
}

static void newer_alive_refutes_a_suspect(void **state)
{
    (void)state;
    rig *r = rig_new();
    alive(r, "a", addr_of(2), inc(1, 3));
    accuse(r, SL_MSG_SUSPECT, "a", inc(1, 3), "b");
    assert_int_equal(state_of(r, "a"), SL_MEMBER_SUSPECT);
    /* Alive at the suspected incarnation is older news than the suspicion. */
    alive(r, "a", addr_of(2), inc(1, 3));
    assert_int_equal(state_of(r, "a"), SL_MEMBER_SUSPECT);
    alive(r, "a", addr_of(2), inc(1, 4));
    assert_int_equal(state_of(r, "a"), SL_MEMBER_ALIVE);
    assert_inc(view_of(r, "a").inc, inc(1, 4));
    assert_int_equal(events(r, SL_EVENT_ALIVE_AGAIN), 1);
    /* An older alive, after that, changes nothing. */
    alive(r, "a", addr_of(2), inc(1, 2));
    assert_inc(view_of(r, "a").inc, inc(1, 4));
    assert_int_equal(events(r, SL_EVENT_ALIVE_AGAIN), 1);
    rig_free(r);
}

static void suspicion_or_death_about_us_is_refuted(void **state)
{
    (void)state;
    rig *r = rig_new();
    assert_inc(sl_swim_incarnation(r->s), inc(1, 0));
    alive(r, "a", addr_of(2), inc(1, 0));
    accuse(r, SL_MSG_SUSPECT, ME, inc(1, 0), "a");
    assert_inc(sl_swim_incarnation(r->s), inc(1, 1));
    assert_int_equal(view_of(r, ME).state, SL_MEMBER_ALIVE);
    assert_int_equal(sl_swim_get_stats(r->s)->refutes, 1);
    assert_true(announces_self_at(r, inc(1, 1)));
    /* A death at a later counter than ours: we move past it. */
    accuse(r, SL_MSG_DEAD, ME, inc(1, 7), "a");
    assert_inc(sl_swim_incarnation(r->s), inc(1, 8));
    assert_int_equal(sl_swim_get_stats(r->s)->refutes, 2);
    assert_true(announces_self_at(r, inc(1, 8)));
    /* Older news about us is stale: no new incarnation. */
    uint64_t stale = drops(r, SL_DROP_STALE);
    accuse(r, SL_MSG_SUSPECT, ME, inc(1, 2), "a");
    assert_inc(sl_swim_incarnation(r->s), inc(1, 8));
    assert_int_equal(drops(r, SL_DROP_STALE), stale + 1);
    assert_int_equal(events(r, SL_EVENT_SUSPECT), 0);
    assert_int_equal(events(r, SL_EVENT_FAILED), 0);
    rig_free(r);
}

/* An alive for our name from another address is someone else using it: it
 * is counted and reported once, never applied and never fought over. */
static void alive_for_our_name_elsewhere_is_a_conflict(void **state)
{
    (void)state;
    rig *r = rig_new();
    alive(r, ME, addr_of(9), inc(1, 5));
    alive(r, ME, addr_of(9), inc(1, 6));
    assert_int_equal(drops(r, SL_DROP_CONFLICT), 2);
    assert_int_equal(events(r, SL_EVENT_CONFLICT), 1);
    assert_inc(sl_swim_incarnation(r->s), inc(1, 0));
    assert_int_equal(sl_swim_get_stats(r->s)->refutes, 0);
    sl_member_view v = view_of(r, ME);
    assert_true(sl_addr_eq(&v.addr, &my_addr));
    assert_int_equal(v.state, SL_MEMBER_ALIVE);
    /* The same for a live member we know. */
    alive(r, "a", addr_of(2), inc(1, 3));
    alive(r, "a", addr_of(8), inc(1, 4));
    assert_int_equal(drops(r, SL_DROP_CONFLICT), 3);
    v = view_of(r, "a");
    assert_true(sl_addr_eq(&v.addr, (const sl_addr[]){addr_of(2)}));
    assert_inc(v.inc, inc(1, 3));
    rig_free(r);
}

/* Lifeguard (gossip/health.c): a core whose tick comes long after its
 * timers fell due was stalled, and what came meanwhile is still unread; a
 * suspicion that ran out during the stall is not declared dead before that
 * backlog is read (here it holds the suspect's refutation). The same core
 * ticked on time declares the suspect dead when its 4 s run out. */
static void a_stalled_core_reads_its_backlog_before_declaring_death(void **state)
{
    (void)state;
    for (int stalled = 0; stalled <= 1; stalled++) {
        rig *r = rig_new();
        alive(r, "a", addr_of(2), inc(1, 0));
        accuse(r, SL_MSG_SUSPECT, "a", inc(1, 0), "b");
        uint64_t t = NOW;
        for (; t < NOW + (stalled ? 500 : 30000); t += 100)
            sl_swim_tick(r->s, t);
        t = NOW + 30000;
        sl_swim_tick(r->s, t); /* on resume: the timers first */
        sl_msg refute = {.type = SL_MSG_ALIVE,
                         .name = "a",
                         .name_len = 1,
                         .addr = addr_of(2),
                         .inc = inc(1, 1)};
        feed_at(r, &refute, addr_of(2), t); /* then the backlog */
        sl_swim_tick(r->s, t + 1000);
        assert_int_equal(events(r, SL_EVENT_FAILED), stalled ? 0 : 1);
        assert_int_equal(state_of(r, "a"), SL_MEMBER_ALIVE);
        assert_true(sl_swim_health(r->s) > 0 || !stalled);
        rig_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(left_beats_dead_at_the_same_incarnation),
        cmocka_unit_test(dead_after_left_is_ignored),
        cmocka_unit_test(older_incarnation_suspect_is_ignored),
        cmocka_unit_test(suspect_at_the_current_incarnation_makes_a_suspect),
        cmocka_unit_test(newer_alive_refutes_a_suspect),
        cmocka_unit_test(suspicion_or_death_about_us_is_refuted),
        cmocka_unit_test(alive_for_our_name_elsewhere_is_a_conflict),
        cmocka_unit_test(a_stalled_core_reads_its_backlog_before_declaring_death),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
