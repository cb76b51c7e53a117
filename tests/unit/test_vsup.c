/* The virtual supervisor (sim/vsup.h) on virtual time: every test records
 * the callbacks into a log and checks the statuses, their times, ports,
 * restart counts and stats against the contract. No clock, no sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../sim/vsup.h"
#include "starling/catalog.h"
#include "starling/error.h"

#define EVENTS_MAX 1024

typedef struct event {
    bool removed; /* on_removed rather than on_change */
    char service[SL_SVC_NAME_MAX + 1];
    uint32_t replica;
    sl_replica_status status;
    uint16_t port;
    uint32_t restarts;
    uint64_t at_ms;
    uint32_t version;
} event;

typedef struct fixture fixture;

/* A hook a test sets to re-enter the supervisor from a callback. */
typedef void (*hook_fn)(fixture *f, const event *e);

struct fixture {
    sl_vsup *s;
    event ev[EVENTS_MAX];
    size_t n;
    bool failing;   /* what cfg.fails answers */
    size_t fails_n; /* how many times it was asked */
    hook_fn hook;
    int hook_calls;
    sl_check check; /* what cfg.check_of answers for "web" */
    bool sick;      /* what cfg.check_fails answers */
};

static void record(fixture *f, const sl_vsup_replica *r, bool removed)
{
    assert_true(f->n < EVENTS_MAX);
    event *e = &f->ev[f->n++];
    e->removed = removed;
    snprintf(e->service, sizeof e->service, "%s", r->service);
    e->replica = r->replica;
    e->status = r->status;
    e->port = r->port;
    e->restarts = r->restarts;
    e->at_ms = r->at_ms;
    e->version = r->version;
    if (f->hook) {
        event copy = *e;
        f->hook(f, &copy);
        /* The service name stays valid for the whole callback, even when
         * the hook has removed the replica. */
        assert_string_equal(r->service, copy.service);
    }
}

static void on_change(void *ud, const sl_vsup_replica *r)
{
    record(ud, r, false);
}

static void on_removed(void *ud, const sl_vsup_replica *r)
{
    record(ud, r, true);
}

static bool fails(void *ud, const char *service)
{
    fixture *f = ud;
    f->fails_n++;
    return f->failing;
}

static const sl_check *check_of(void *ud, const char *service)
{
    fixture *f = ud;
    return strcmp(service, "web") ? NULL : &f->check;
}

static bool check_fails(void *ud, const char *service)
{
    return ((fixture *)ud)->sick;
}

static sl_vsup_config config(fixture *f)
{
    return (sl_vsup_config){
        .startup_ms = 500,
        .startup_jitter_ms = 200,
        .stopping_ms = 100,
        .backoff_base_ms = 100,
        .backoff_max_ms = 400,
        .healthy_after_ms = 1000,
        .seed = 42,
        .fails = fails,
        .check_of = check_of,
        .check_fails = check_fails,
        .on_change = on_change,
        .on_removed = on_removed,
        .ud = f,
    };
}

static void setup_with(fixture *f, const sl_vsup_config *cfg)
{
    memset(f, 0, sizeof *f);
    f->s = sl_vsup_new(cfg);
    assert_non_null(f->s);
}

/* A fixture without jitter: startup 10 ms, stop 100 ms. */
static void setup_exact(fixture *f)
{
    sl_vsup_config cfg = config(f);
    cfg.startup_ms = 10;
    cfg.startup_jitter_ms = 0;
    setup_with(f, &cfg);
}

static void check_event(const event *e, bool removed, const char *service, uint32_t replica,
                        sl_replica_status status, uint64_t at_ms)
{
    assert_int_equal(e->removed, removed);
    assert_string_equal(e->service, service);
    assert_int_equal(e->replica, replica);
    assert_int_equal(e->status, status);
    assert_int_equal(e->at_ms, at_ms);
}

static sl_replica_status status_of(fixture *f, const char *service, uint32_t replica)
{
    sl_vsup_replica r;
    assert_int_equal(sl_vsup_find(f->s, service, replica, &r), 0);
    return r.status;
}

/* Runs every deadline up to `until`, one tick per deadline. */
static void run_until(fixture *f, uint64_t until)
{
    uint64_t d;
    while ((d = sl_vsup_deadline(f->s)) <= until)
        sl_vsup_tick(f->s, d);
}

/* ---- starting ---------------------------------------------------------- */

static void start_runs_after_jittered_delay(void **state)
{
    fixture f;
    sl_vsup_config cfg = config(&f);
    setup_with(&f, &cfg);
    assert_int_equal(sl_vsup_deadline(f.s), UINT64_MAX);
    enum { N = 300 };
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(sl_vsup_start(f.s, "web", i, 1000), 0);
    assert_int_equal(f.n, N);
    for (uint32_t i = 0; i < N; i++) {
        check_event(&f.ev[i], false, "web", i, SL_REPLICA_STARTING, 1000);
        assert_int_equal(f.ev[i].port, SL_VSUP_PORT_BASE + i);
        assert_int_equal(f.ev[i].restarts, 0);
    }
    assert_int_equal(sl_vsup_count(f.s), N);
    uint64_t d = sl_vsup_deadline(f.s);
    assert_true(d >= 1300 && d <= 1700);
    sl_vsup_tick(f.s, d - 1);
    assert_int_equal(f.n, N); /* nothing before the first deadline */
    sl_vsup_tick(f.s, 5000);  /* everything, each at its own time */
    assert_int_equal(f.n, 2 * N);
    uint64_t lo = UINT64_MAX, hi = 0, prev = 0;
    for (size_t i = N; i < 2 * N; i++) {
        assert_int_equal(f.ev[i].status, SL_REPLICA_RUNNING);
        uint64_t at = f.ev[i].at_ms;
        assert_true(at >= 1300 && at <= 1700);
        assert_true(at >= prev); /* in time order */
        prev = at;
        lo = at < lo ? at : lo;
        hi = at > hi ? at : hi;
        assert_int_equal(status_of(&f, "web", f.ev[i].replica), SL_REPLICA_RUNNING);
    }
    assert_true(lo < 1350 && hi > 1650); /* spread over the whole window */
    assert_int_equal(sl_vsup_deadline(f.s), UINT64_MAX);
    assert_int_equal(sl_vsup_get_stats(f.s)->starts, N);
    assert_int_equal(sl_vsup_get_stats(f.s)->restarts, 0);
    sl_vsup_free(f.s);
}

static void start_again_is_left_alone(void **state)
{
    fixture f;
    setup_exact(&f);
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 0), 0);
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 5), 0); /* starting */
    run_until(&f, 10);
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 20), 0); /* running */
    assert_int_equal(sl_vsup_crash(f.s, "web", 0, 30), 0);
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 40), 0); /* failed */
    assert_int_equal(f.n, 3);
    check_event(&f.ev[2], false, "web", 0, SL_REPLICA_FAILED, 30);
    assert_int_equal(sl_vsup_deadline(f.s), 130); /* the retry is unchanged */
    assert_int_equal(sl_vsup_get_stats(f.s)->starts, 1);
    sl_vsup_free(f.s);
}

static void zero_jitter_ties_run_in_start_order(void **state)
{
    fixture f;
    setup_exact(&f);
    const char *names[] = {"zeta", "alpha", "mid"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(sl_vsup_start(f.s, names[i], 7, 100), 0);
    assert_int_equal(sl_vsup_deadline(f.s), 110);
    sl_vsup_tick(f.s, 110);
    assert_int_equal(f.n, 6);
    for (int i = 0; i < 3; i++)
        check_event(&f.ev[3 + i], false, names[i], 7, SL_REPLICA_RUNNING, 110);
    sl_vsup_free(f.s);
}

static void bad_names_are_refused(void **state)
{
    fixture f;
    setup_exact(&f);
    char longest[SL_SVC_NAME_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[SL_SVC_NAME_MAX] = '\0';
    assert_int_equal(sl_vsup_start(f.s, NULL, 0, 0), SL_EINVAL);
    assert_int_equal(sl_vsup_start(f.s, "", 0, 0), SL_EINVAL);
    assert_int_equal(sl_vsup_start(f.s, longest, 0, 0), 0);
    longest[SL_SVC_NAME_MAX] = 'a';
    longest[SL_SVC_NAME_MAX + 1] = '\0';
    assert_int_equal(sl_vsup_start(f.s, longest, 0, 0), SL_EINVAL);
    assert_int_equal(sl_vsup_count(f.s), 1);
    assert_int_equal(sl_vsup_stop(f.s, NULL, 0, 0), SL_ENOTFOUND);
    assert_int_equal(sl_vsup_crash(f.s, "nope", 0, 0), SL_ENOTFOUND);
    assert_int_equal(sl_vsup_find(f.s, "nope", 0, NULL), SL_ENOTFOUND);
    assert_int_equal(sl_vsup_crash_service(f.s, NULL, 0), 0);
    sl_vsup_free(f.s);
}

/* ---- stopping ---------------------------------------------------------- */

static void stop_removes_after_the_stop_delay(void **state)
{
    fixture f;
    setup_exact(&f);
    assert_int_equal(sl_vsup_start(f.s, "web", 3, 0), 0);
    run_until(&f, 10);
    assert_int_equal(sl_vsup_stop(f.s, "web", 3, 50), 0);
    assert_int_equal(f.n, 3);
    check_event(&f.ev[2], false, "web", 3, SL_REPLICA_STOPPING, 50);
    assert_int_equal(sl_vsup_count(f.s), 1);              /* stopping ones are known */
    assert_int_equal(sl_vsup_stop(f.s, "web", 3, 60), 0); /* already stopping */
    assert_int_equal(f.n, 3);
    assert_int_equal(sl_vsup_deadline(f.s), 150);
    sl_vsup_tick(f.s, 149);
    assert_int_equal(f.n, 3);
    sl_vsup_tick(f.s, 1000);
    assert_int_equal(f.n, 4);
    check_event(&f.ev[3], true, "web", 3, SL_REPLICA_STOPPING, 150);
    assert_int_equal(f.ev[3].port, SL_VSUP_PORT_BASE);
    assert_int_equal(sl_vsup_count(f.s), 0);
    assert_int_equal(sl_vsup_find(f.s, "web", 3, NULL), SL_ENOTFOUND);
    assert_int_equal(sl_vsup_stop(f.s, "web", 3, 200), SL_ENOTFOUND);
    sl_vsup_tick(f.s, 100000);
    assert_int_equal(f.n, 4); /* on_removed fired once */
    const sl_vsup_stats *st = sl_vsup_get_stats(f.s);
    assert_int_equal(st->stops, 1);
    assert_int_equal(st->removed, 1);
    sl_vsup_free(f.s);
}

static void stop_while_starting(void **state)
{
    fixture f;
    setup_exact(&f);
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 0), 0);
    assert_int_equal(sl_vsup_stop(f.s, "web", 0, 5), 0);
    run_until(&f, 1000);
    assert_int_equal(f.n, 3); /* never RUNNING */
    check_event(&f.ev[1], false, "web", 0, SL_REPLICA_STOPPING, 5);
    check_event(&f.ev[2], true, "web", 0, SL_REPLICA_STOPPING, 105);
    sl_vsup_free(f.s);
}

static void stop_of_a_failed_replica_removes_at_once(void **state)
{
    fixture f;
    setup_exact(&f);
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 0), 0);
    run_until(&f, 10);
    assert_int_equal(sl_vsup_crash(f.s, "web", 0, 20), 0);
    assert_int_equal(f.n, 3);
    assert_int_equal(sl_vsup_stop(f.s, "web", 0, 30), 0);
    assert_int_equal(f.n, 4); /* before stop() returned, and no STOPPING change */
    check_event(&f.ev[3], true, "web", 0, SL_REPLICA_STOPPING, 30);
    assert_int_equal(sl_vsup_count(f.s), 0);
    assert_int_equal(sl_vsup_deadline(f.s), UINT64_MAX); /* the retry is gone */
    const sl_vsup_stats *st = sl_vsup_get_stats(f.s);
    assert_int_equal(st->stops, 1);
    assert_int_equal(st->removed, 1);
    assert_int_equal(st->failures, 1);
    sl_vsup_free(f.s);
}

static void start_while_stopping_starts_after_the_stop(void **state)
{
    fixture f;
    setup_exact(&f);
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 0), 0);
    run_until(&f, 10);
    assert_int_equal(sl_vsup_crash(f.s, "web", 0, 20), 0); /* restarts 1 at 120 */
    run_until(&f, 130);
    assert_int_equal(status_of(&f, "web", 0), SL_REPLICA_RUNNING);
    assert_int_equal(sl_vsup_stop(f.s, "web", 0, 200), 0);
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 210), 0);
    size_t n = f.n;
    run_until(&f, 300);
    /* Not removed in between: STARTING at the end of the stop, a fresh
     * start (restarts 0), on the same port. */
    assert_int_equal(f.n, n + 1);
    check_event(&f.ev[n], false, "web", 0, SL_REPLICA_STARTING, 300);
    assert_int_equal(f.ev[n].restarts, 0);
    assert_int_equal(f.ev[n].port, SL_VSUP_PORT_BASE);
    run_until(&f, 310);
    check_event(&f.ev[n + 1], false, "web", 0, SL_REPLICA_RUNNING, 310);
    for (size_t i = 0; i < f.n; i++)
        assert_false(f.ev[i].removed);
    const sl_vsup_stats *st = sl_vsup_get_stats(f.s);
    assert_int_equal(st->starts, 1);
    assert_int_equal(st->restarts, 2); /* the retry and the start after the stop */
    assert_int_equal(st->removed, 0);
    sl_vsup_free(f.s);
}

static uint32_t version_of(fixture *f, const char *service, uint32_t replica)
{
    sl_vsup_replica r;
    assert_int_equal(sl_vsup_find(f->s, service, replica, &r), 0);
    return r.version;
}

/* A replica carries the version of the start that spawned its run: a start
 * of a stopping one (a restart with a new spec) takes effect when it starts
 * again; retries and starts of a running one keep the version. */
static void the_spec_version_follows_the_run(void **state)
{
    (void)state;
    fixture f;
    setup_exact(&f);
    assert_int_equal(sl_vsup_start_version(f.s, "web", 0, 0x11u, 0), 0);
    assert_int_equal(f.ev[0].version, 0x11u); /* STARTING */
    run_until(&f, 10);
    assert_int_equal(f.ev[1].version, 0x11u);                             /* RUNNING */
    assert_int_equal(sl_vsup_start_version(f.s, "web", 0, 0x22u, 20), 0); /* left alone */
    assert_int_equal(version_of(&f, "web", 0), 0x11u);
    assert_int_equal(sl_vsup_crash(f.s, "web", 0, 30), 0); /* retried at 130 */
    run_until(&f, 140);
    assert_int_equal(status_of(&f, "web", 0), SL_REPLICA_RUNNING);
    assert_int_equal(version_of(&f, "web", 0), 0x11u);

    assert_int_equal(sl_vsup_stop(f.s, "web", 0, 200), 0);
    assert_int_equal(sl_vsup_start_version(f.s, "web", 0, 0x22u, 200), 0);
    assert_int_equal(version_of(&f, "web", 0), 0x11u); /* still the old run, stopping */
    size_t n = f.n;
    run_until(&f, 300);
    check_event(&f.ev[n], false, "web", 0, SL_REPLICA_STARTING, 300);
    assert_int_equal(f.ev[n].version, 0x22u);
    assert_int_equal(version_of(&f, "web", 0), 0x22u);

    /* sl_vsup_start: not known. */
    assert_int_equal(sl_vsup_start(f.s, "api", 0, 400), 0);
    assert_int_equal(version_of(&f, "api", 0), 0);
    sl_vsup_free(f.s);
}

static void stop_again_cancels_a_pending_start(void **state)
{
    fixture f;
    setup_exact(&f);
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 0), 0);
    run_until(&f, 10);
    assert_int_equal(sl_vsup_stop(f.s, "web", 0, 20), 0);
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 30), 0);
    assert_int_equal(sl_vsup_stop(f.s, "web", 0, 40), 0);
    run_until(&f, 1000);
    assert_int_equal(f.n, 4);
    check_event(&f.ev[3], true, "web", 0, SL_REPLICA_STOPPING, 120);
    assert_int_equal(sl_vsup_get_stats(f.s)->stops, 1);
    sl_vsup_free(f.s);
}

/* ---- failures ---------------------------------------------------------- */

static void crash_retries_with_doubling_capped_backoff(void **state)
{
    fixture f;
    setup_exact(&f); /* base 100, max 400, healthy after 1000 */
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 0), 0);
    run_until(&f, 10);
    uint64_t now = 10;
    const uint64_t expect[] = {100, 200, 400, 400, 400};
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(sl_vsup_crash(f.s, "web", 0, now), 0);
        check_event(&f.ev[f.n - 1], false, "web", 0, SL_REPLICA_FAILED, now);
        assert_int_equal(f.ev[f.n - 1].restarts, i);
        assert_int_equal(sl_vsup_deadline(f.s), now + expect[i]);
        sl_vsup_tick(f.s, now + expect[i]);
        check_event(&f.ev[f.n - 1], false, "web", 0, SL_REPLICA_STARTING, now + expect[i]);
        assert_int_equal(f.ev[f.n - 1].restarts, i + 1);
        assert_int_equal(f.ev[f.n - 1].port, SL_VSUP_PORT_BASE);
        now += expect[i] + 10;
        sl_vsup_tick(f.s, now);
        check_event(&f.ev[f.n - 1], false, "web", 0, SL_REPLICA_RUNNING, now);
    }
    /* A run shorter than healthy_after_ms keeps the backoff at its cap. */
    now += 999;
    assert_int_equal(sl_vsup_crash(f.s, "web", 0, now), 0);
    assert_int_equal(sl_vsup_deadline(f.s), now + 400);
    now += 400 + 10;
    run_until(&f, now);
    assert_int_equal(status_of(&f, "web", 0), SL_REPLICA_RUNNING);
    /* One that lasted healthy_after_ms resets it to the base. */
    now += 1000;
    assert_int_equal(sl_vsup_crash(f.s, "web", 0, now), 0);
    assert_int_equal(sl_vsup_deadline(f.s), now + 100);
    run_until(&f, now + 110);
    assert_int_equal(sl_vsup_crash(f.s, "web", 0, now + 110), 0);
    assert_int_equal(sl_vsup_deadline(f.s), now + 110 + 200);
    const sl_vsup_stats *st = sl_vsup_get_stats(f.s);
    assert_int_equal(st->failures, 8);
    assert_int_equal(st->restarts, 7);
    assert_int_equal(st->starts, 1);
    sl_vsup_free(f.s);
}

static void failing_starts_never_run(void **state)
{
    fixture f;
    setup_exact(&f);
    f.failing = true;
    assert_int_equal(sl_vsup_start(f.s, "bad", 0, 1000), 0);
    assert_int_equal(f.n, 1);
    check_event(&f.ev[0], false, "bad", 0, SL_REPLICA_STARTING, 1000);
    assert_int_equal(sl_vsup_deadline(f.s), 1000); /* fails at once, via tick */
    sl_vsup_tick(f.s, 1000);
    check_event(&f.ev[1], false, "bad", 0, SL_REPLICA_FAILED, 1000);
    /* Retries at +100, +200, +400, +400: each STARTING then FAILED at once. */
    run_until(&f, 1000 + 100 + 200 + 400 + 400);
    const uint64_t at[] = {1100, 1300, 1700, 2100};
    assert_int_equal(f.n, 2 + 2 * 4);
    for (uint32_t i = 0; i < 4; i++) {
        check_event(&f.ev[2 + 2 * i], false, "bad", 0, SL_REPLICA_STARTING, at[i]);
        check_event(&f.ev[3 + 2 * i], false, "bad", 0, SL_REPLICA_FAILED, at[i]);
        assert_int_equal(f.ev[2 + 2 * i].restarts, i + 1);
    }
    for (size_t i = 0; i < f.n; i++)
        assert_int_not_equal(f.ev[i].status, SL_REPLICA_RUNNING);
    assert_int_equal(sl_vsup_get_stats(f.s)->failures, 5);
    /* Once its service is fixed, the next retry runs. */
    f.failing = false;
    run_until(&f, 2500 + 10);
    check_event(&f.ev[f.n - 1], false, "bad", 0, SL_REPLICA_RUNNING, 2510);
    assert_int_equal(f.ev[f.n - 1].restarts, 5);
    sl_vsup_free(f.s);
}

static void crash_service_crashes_starting_and_running(void **state)
{
    fixture f;
    setup_exact(&f);
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(sl_vsup_start(f.s, "a", i, 0), 0);
    assert_int_equal(sl_vsup_start(f.s, "b", 0, 0), 0);
    assert_int_equal(sl_vsup_start(f.s, "ab", 0, 0), 0);
    run_until(&f, 10);
    assert_int_equal(sl_vsup_crash(f.s, "a", 1, 20), 0);      /* a.1 FAILED */
    assert_int_equal(sl_vsup_stop(f.s, "a", 2, 20), 0);       /* a.2 STOPPING */
    assert_int_equal(sl_vsup_start(f.s, "a", 9, 20), 0);      /* a.9 STARTING */
    assert_int_equal(sl_vsup_crash_service(f.s, "a", 30), 3); /* a.0, a.3, a.9 */
    assert_int_equal(status_of(&f, "a", 0), SL_REPLICA_FAILED);
    assert_int_equal(status_of(&f, "a", 1), SL_REPLICA_FAILED);
    assert_int_equal(status_of(&f, "a", 2), SL_REPLICA_STOPPING);
    assert_int_equal(status_of(&f, "a", 3), SL_REPLICA_FAILED);
    assert_int_equal(status_of(&f, "a", 9), SL_REPLICA_FAILED);
    assert_int_equal(status_of(&f, "b", 0), SL_REPLICA_RUNNING);
    assert_int_equal(status_of(&f, "ab", 0), SL_REPLICA_RUNNING);
    assert_int_equal(sl_vsup_crash_service(f.s, "nope", 30), 0);
    assert_int_equal(sl_vsup_get_stats(f.s)->failures, 4);
    /* A stopping replica that crashes is gone at once. */
    size_t n = f.n;
    assert_int_equal(sl_vsup_crash(f.s, "a", 2, 40), 0);
    assert_int_equal(f.n, n + 1);
    check_event(&f.ev[n], true, "a", 2, SL_REPLICA_STOPPING, 40);
    assert_int_equal(sl_vsup_find(f.s, "a", 2, NULL), SL_ENOTFOUND);
    assert_int_equal(sl_vsup_get_stats(f.s)->failures, 4);
    /* Crashing a failed one does nothing. */
    n = f.n;
    assert_int_equal(sl_vsup_crash(f.s, "a", 1, 40), 0);
    assert_int_equal(f.n, n);
    sl_vsup_free(f.s);
}

static void crash_while_stopping_with_a_pending_start(void **state)
{
    fixture f;
    setup_exact(&f);
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 0), 0);
    run_until(&f, 10);
    assert_int_equal(sl_vsup_stop(f.s, "web", 0, 20), 0);
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 30), 0);
    assert_int_equal(sl_vsup_crash(f.s, "web", 0, 40), 0);
    /* The old process is gone early: the pending start runs now. */
    check_event(&f.ev[f.n - 1], false, "web", 0, SL_REPLICA_STARTING, 40);
    run_until(&f, 1000);
    check_event(&f.ev[f.n - 1], false, "web", 0, SL_REPLICA_RUNNING, 50);
    assert_int_equal(sl_vsup_get_stats(f.s)->removed, 0);
    sl_vsup_free(f.s);
}

/* ---- health checks ------------------------------------------------------ */

/* web has a check (every 1000 ms while running, 2 failures), db none: web
 * is STARTING until its first check after the start-up delay passes, then
 * RUNNING; failing checks make it UNHEALTHY after 2 intervals, it restarts
 * after the backoff and stays STARTING until its checks pass again. db runs
 * after its start-up delay and is never checked. */
static void health_checks_gate_running_and_make_unhealthy(void **state)
{
    fixture f;
    setup_exact(&f); /* startup 10 ms, backoff base 100 */
    f.check = (sl_check){.kind = SL_CHECK_TCP, .interval_ms = 1000, .failures = 2};
    assert_int_equal(sl_vsup_start(f.s, "web", 0, 0), 0);
    assert_int_equal(sl_vsup_start(f.s, "db", 0, 0), 0);
    run_until(&f, 149);
    check_event(&f.ev[f.n - 1], false, "db", 0, SL_REPLICA_RUNNING, 10);
    assert_int_equal(status_of(&f, "web", 0), SL_REPLICA_STARTING);
    run_until(&f, 150);
    check_event(&f.ev[f.n - 1], false, "web", 0, SL_REPLICA_RUNNING, 150);
    run_until(&f, 1000);
    f.sick = true;
    run_until(&f, 2149); /* one failure at 1150 */
    assert_int_equal(status_of(&f, "web", 0), SL_REPLICA_RUNNING);
    run_until(&f, 2150); /* the second: unhealthy */
    check_event(&f.ev[f.n - 1], false, "web", 0, SL_REPLICA_UNHEALTHY, 2150);
    run_until(&f, 2250); /* restarted after the backoff */
    check_event(&f.ev[f.n - 1], false, "web", 0, SL_REPLICA_STARTING, 2250);
    assert_int_equal(f.ev[f.n - 1].restarts, 1);
    size_t n = f.n;
    run_until(&f, 3000); /* its checks still fail: it stays starting */
    assert_int_equal(f.n, n);
    assert_int_equal(status_of(&f, "web", 0), SL_REPLICA_STARTING);
    f.sick = false;
    run_until(&f, 3150); /* 2250 + 6 * 150 */
    check_event(&f.ev[f.n - 1], false, "web", 0, SL_REPLICA_RUNNING, 3150);
    assert_int_equal(status_of(&f, "db", 0), SL_REPLICA_RUNNING);
    const sl_vsup_stats *st = sl_vsup_get_stats(f.s);
    assert_int_equal(st->unhealthy, 1);
    assert_int_equal(st->failures, 0);
    /* Stopping a checked replica cancels its checks: removed after the stop delay. */
    assert_int_equal(sl_vsup_stop(f.s, "web", 0, 3200), 0);
    run_until(&f, 3300);
    check_event(&f.ev[f.n - 1], true, "web", 0, SL_REPLICA_STOPPING, 3300);
    sl_vsup_free(f.s);
}

/* ---- ports ------------------------------------------------------------- */

static uint16_t port_of(fixture *f, const char *service, uint32_t replica)
{
    sl_vsup_replica r;
    assert_int_equal(sl_vsup_find(f->s, service, replica, &r), 0);
    return r.port;
}

static void ports_take_the_lowest_free_slot(void **state)
{
    fixture f;
    setup_exact(&f);
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(sl_vsup_start(f.s, "web", i, 0), 0);
    run_until(&f, 10);
    assert_int_equal(sl_vsup_stop(f.s, "web", 2, 20), 0);
    assert_int_equal(sl_vsup_stop(f.s, "web", 0, 20), 0);
    assert_int_equal(sl_vsup_start(f.s, "new", 0, 30), 0); /* slots 0 and 2 still held */
    assert_int_equal(port_of(&f, "new", 0), SL_VSUP_PORT_BASE + 4);
    run_until(&f, 200);
    assert_int_equal(sl_vsup_count(f.s), 3);
    assert_int_equal(sl_vsup_start(f.s, "new", 1, 300), 0);
    assert_int_equal(sl_vsup_start(f.s, "new", 2, 300), 0);
    assert_int_equal(sl_vsup_start(f.s, "new", 3, 300), 0);
    assert_int_equal(port_of(&f, "new", 1), SL_VSUP_PORT_BASE + 0);
    assert_int_equal(port_of(&f, "new", 2), SL_VSUP_PORT_BASE + 2);
    assert_int_equal(port_of(&f, "new", 3), SL_VSUP_PORT_BASE + 5);
    assert_int_equal(port_of(&f, "web", 1), SL_VSUP_PORT_BASE + 1);
    assert_int_equal(port_of(&f, "web", 3), SL_VSUP_PORT_BASE + 3);
    sl_vsup_free(f.s);
}

/* ---- determinism ------------------------------------------------------- */

/* The same script on a fresh supervisor; returns it with its log. */
static void script(fixture *f, uint64_t seed)
{
    sl_vsup_config cfg = config(f);
    cfg.seed = seed;
    cfg.stopping_jitter_ms = 50;
    setup_with(f, &cfg);
    for (uint32_t i = 0; i < 20; i++)
        assert_int_equal(sl_vsup_start(f->s, i % 2 ? "odd" : "even", i, i * 7), 0);
    run_until(f, 900);
    sl_vsup_crash_service(f->s, "odd", 900);
    for (uint32_t i = 0; i < 20; i += 3)
        sl_vsup_stop(f->s, i % 2 ? "odd" : "even", i, 1000);
    run_until(f, 20000);
}

static void same_seed_same_times(void **state)
{
    fixture *a = malloc(sizeof *a), *b = malloc(sizeof *b), *c = malloc(sizeof *c);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    script(a, 7);
    script(b, 7);
    script(c, 8);
    assert_true(a->n > 60);
    assert_int_equal(a->n, b->n);
    assert_memory_equal(a->ev, b->ev, a->n * sizeof a->ev[0]);
    bool differs = a->n != c->n;
    for (size_t i = 0; !differs && i < a->n; i++)
        differs = a->ev[i].at_ms != c->ev[i].at_ms || a->ev[i].replica != c->ev[i].replica;
    assert_true(differs);
    sl_vsup_free(a->s);
    sl_vsup_free(b->s);
    sl_vsup_free(c->s);
    free(a);
    free(b);
    free(c);
}

/* ---- callbacks that call back in ---------------------------------------- */

/* RUNNING "a": stop it and start "b" of the same index. FAILED anything:
 * stop it, which removes it at once, inside the callback. Removed "b": start
 * it again, a new replica under the same key. */
static void reenter(fixture *f, const event *e)
{
    f->hook_calls++;
    if (!e->removed && e->status == SL_REPLICA_RUNNING && !strcmp(e->service, "a")) {
        assert_int_equal(sl_vsup_stop(f->s, "a", e->replica, e->at_ms), 0);
        assert_int_equal(sl_vsup_start(f->s, "b", e->replica, e->at_ms), 0);
    } else if (!e->removed && e->status == SL_REPLICA_FAILED) {
        assert_int_equal(sl_vsup_stop(f->s, e->service, e->replica, e->at_ms), 0);
        /* Gone, unless its on_removed (just above, nested) started it again. */
        sl_vsup_replica r;
        if (!strcmp(e->service, "b") && e->replica == 0) {
            assert_int_equal(sl_vsup_find(f->s, "b", 0, &r), 0);
            assert_int_equal(r.status, SL_REPLICA_STARTING);
        } else {
            assert_int_equal(sl_vsup_find(f->s, e->service, e->replica, NULL), SL_ENOTFOUND);
        }
    } else if (e->removed && !strcmp(e->service, "b") && e->replica == 0 && f->hook_calls < 40) {
        assert_int_equal(sl_vsup_find(f->s, "b", 0, NULL), SL_ENOTFOUND);
        assert_int_equal(sl_vsup_start(f->s, "b", 0, e->at_ms), 0);
    }
}

static void callbacks_may_start_and_stop(void **state)
{
    fixture f;
    setup_exact(&f);
    f.hook = reenter;
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(sl_vsup_start(f.s, "a", i, 0), 0);
    run_until(&f, 10);
    /* a.* ran and are stopping; b.* are starting. */
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(status_of(&f, "a", i), SL_REPLICA_STOPPING);
        assert_int_equal(status_of(&f, "b", i), SL_REPLICA_STARTING);
    }
    run_until(&f, 200);
    assert_int_equal(sl_vsup_count(f.s), 3);
    /* A crash of every b: each FAILED callback removes its replica. */
    assert_int_equal(sl_vsup_crash_service(f.s, "b", 300), 3);
    /* b.0's removal started it again, from inside on_removed. */
    assert_int_equal(sl_vsup_count(f.s), 1);
    sl_vsup_replica r;
    assert_int_equal(sl_vsup_find(f.s, "b", 0, &r), 0);
    assert_int_equal(r.status, SL_REPLICA_STARTING);
    assert_int_equal(r.at_ms, 300);
    assert_int_equal(r.restarts, 0);
    /* A stop inside a fail-start's FAILED callback. */
    f.failing = true;
    assert_int_equal(sl_vsup_start(f.s, "c", 0, 400), 0);
    sl_vsup_tick(f.s, 400);
    assert_int_equal(sl_vsup_find(f.s, "c", 0, NULL), SL_ENOTFOUND);
    check_event(&f.ev[f.n - 1], true, "c", 0, SL_REPLICA_STOPPING, 400);
    sl_vsup_free(f.s);
}

/* ---- listing ----------------------------------------------------------- */

typedef struct listing {
    char names[16][SL_SVC_NAME_MAX + 1];
    uint32_t replicas[16];
    size_t n;
} listing;

static void collect(void *ud, const sl_vsup_replica *r)
{
    listing *l = ud;
    assert_true(l->n < 16);
    snprintf(l->names[l->n], sizeof l->names[0], "%s", r->service);
    l->replicas[l->n++] = r->replica;
}

static void foreach_is_sorted_by_service_then_replica(void **state)
{
    fixture f;
    setup_exact(&f);
    const char *svc[] = {"b", "a", "ab", "a", "b", "a", "B"};
    const uint32_t rep[] = {2, 10, 0, 0, 0, 2, 5};
    for (int i = 0; i < 7; i++)
        assert_int_equal(sl_vsup_start(f.s, svc[i], rep[i], 0), 0);
    listing l = {0};
    sl_vsup_foreach(f.s, collect, &l);
    const char *want_svc[] = {"B", "a", "a", "a", "ab", "b", "b"};
    const uint32_t want_rep[] = {5, 0, 2, 10, 0, 0, 2};
    assert_int_equal(l.n, 7);
    for (int i = 0; i < 7; i++) {
        assert_string_equal(l.names[i], want_svc[i]);
        assert_int_equal(l.replicas[i], want_rep[i]);
    }
    memset(&l, 0, sizeof l);
    sl_vsup_foreach_of(f.s, "a", collect, &l);
    assert_int_equal(l.n, 3); /* not "ab" */
    assert_int_equal(l.replicas[0], 0);
    assert_int_equal(l.replicas[1], 2);
    assert_int_equal(l.replicas[2], 10);
    memset(&l, 0, sizeof l);
    sl_vsup_foreach_of(f.s, "c", collect, &l);
    sl_vsup_foreach_of(f.s, NULL, collect, &l);
    assert_int_equal(l.n, 0);
    sl_vsup_free(f.s);
}

/* ---- freeing and scale ------------------------------------------------- */

static void free_with_live_replicas_fires_nothing(void **state)
{
    fixture f;
    setup_exact(&f);
    assert_int_equal(sl_vsup_start(f.s, "a", 0, 0), 0);
    assert_int_equal(sl_vsup_start(f.s, "a", 1, 0), 0);
    assert_int_equal(sl_vsup_start(f.s, "a", 2, 0), 0);
    run_until(&f, 10);
    assert_int_equal(sl_vsup_stop(f.s, "a", 1, 20), 0);
    assert_int_equal(sl_vsup_crash(f.s, "a", 2, 20), 0);
    size_t n = f.n;
    sl_vsup_free(f.s);
    assert_int_equal(f.n, n);
    sl_vsup_free(NULL);
}

static void ten_thousand_replicas(void **state)
{
    fixture *f = malloc(sizeof *f);
    assert_non_null(f);
    sl_vsup_config cfg = config(f);
    cfg.on_change = NULL;
    cfg.on_removed = NULL;
    setup_with(f, &cfg);
    enum { N = 10000 };
    char name[16];
    /* Started in an order that is not the sorted one. */
    for (uint32_t i = 0; i < N; i++) {
        uint32_t k = (i * 7919u) % N;
        snprintf(name, sizeof name, "s%u", k % 100);
        assert_int_equal(sl_vsup_start(f->s, name, k / 100, i), 0);
    }
    assert_int_equal(sl_vsup_count(f->s), N);
    sl_vsup_tick(f->s, N + 1000);
    assert_int_equal(sl_vsup_deadline(f->s), UINT64_MAX);
    assert_int_equal(sl_vsup_crash_service(f->s, "s42", N + 1000), 100);
    for (uint32_t k = 0; k < N; k += 2) {
        snprintf(name, sizeof name, "s%u", k % 100);
        assert_int_equal(sl_vsup_stop(f->s, name, k / 100, N + 2000), 0);
    }
    run_until(f, N + 100000);
    assert_int_equal(sl_vsup_count(f->s), N / 2);
    assert_int_equal(sl_vsup_get_stats(f->s)->removed, N / 2);
    sl_vsup_free(f->s);
    free(f);
}

static void every_port_held_is_full(void **state)
{
    fixture *f = malloc(sizeof *f);
    assert_non_null(f);
    sl_vsup_config cfg = config(f);
    cfg.on_change = NULL;
    cfg.on_removed = NULL;
    setup_with(f, &cfg);
    const uint32_t slots = 65535 - SL_VSUP_PORT_BASE + 1;
    for (uint32_t i = 0; i < slots; i++)
        assert_int_equal(sl_vsup_start(f->s, "web", i, 0), 0);
    assert_int_equal(port_of(f, "web", slots - 1), 65535);
    assert_int_equal(sl_vsup_start(f->s, "web", slots, 0), SL_EFULL);
    assert_int_equal(sl_vsup_count(f->s), slots);
    assert_int_equal(sl_vsup_stop(f->s, "web", 7, 0), 0);
    run_until(f, 10000);
    assert_int_equal(sl_vsup_start(f->s, "web", slots, 10000), 0);
    assert_int_equal(port_of(f, "web", slots), SL_VSUP_PORT_BASE + 7);
    sl_vsup_free(f->s);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(start_runs_after_jittered_delay),
        cmocka_unit_test(start_again_is_left_alone),
        cmocka_unit_test(zero_jitter_ties_run_in_start_order),
        cmocka_unit_test(bad_names_are_refused),
        cmocka_unit_test(stop_removes_after_the_stop_delay),
        cmocka_unit_test(stop_while_starting),
        cmocka_unit_test(stop_of_a_failed_replica_removes_at_once),
        cmocka_unit_test(start_while_stopping_starts_after_the_stop),
        cmocka_unit_test(the_spec_version_follows_the_run),
        cmocka_unit_test(stop_again_cancels_a_pending_start),
        cmocka_unit_test(crash_retries_with_doubling_capped_backoff),
        cmocka_unit_test(failing_starts_never_run),
        cmocka_unit_test(crash_service_crashes_starting_and_running),
        cmocka_unit_test(crash_while_stopping_with_a_pending_start),
        cmocka_unit_test(ports_take_the_lowest_free_slot),
        cmocka_unit_test(same_seed_same_times),
        cmocka_unit_test(callbacks_may_start_and_stop),
        cmocka_unit_test(foreach_is_sorted_by_service_then_replica),
        cmocka_unit_test(free_with_live_replicas_fires_nothing),
        cmocka_unit_test(ten_thousand_replicas),
        cmocka_unit_test(every_port_held_is_full),
        cmocka_unit_test(health_checks_gate_running_and_make_unhealthy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
