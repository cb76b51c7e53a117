/* Incremental placement (sl_placement_cache_compute) against full runs
 * (sl_placement_compute): random inputs, then chains of random changes of
 * every kind (member added, removed, re-weighted, drained or undrained,
 * capacity, zone, alive/suspect; service added, removed, scaled, requests,
 * spread; several at once; other options), each result compared field by
 * field with a full run on the same input: every replica's member and
 * reason, every member's load and bound, the unplaced count. The counters
 * must show that the incremental path ran and reused lists, and that more
 * changes than SL_PLACEMENT_CACHE_CHANGES_MAX fell back to a full run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "starling/error.h"
#include "starling/placement.h"
#include "starling/rng.h"

#define PI_NAME 24
#define PI_MEMBERS_MAX 400
#define PI_SERVICES_MAX 400

typedef struct pmem {
    char name[PI_NAME];
    char zone[PI_NAME];
    sl_placement_member m;
} pmem;

typedef struct psv {
    char name[PI_NAME];
    sl_placement_service s;
} psv;

typedef struct world {
    sl_rng rng;
    pmem mem[PI_MEMBERS_MAX];
    size_t nm;
    psv svc[PI_SERVICES_MAX];
    size_t ns;
    uint32_t next_name;
    uint32_t nzones;
    bool caps;    /* members have capacities, services requests */
    bool weights; /* weights vary */
    sl_placement_options o;
} world;

static uint32_t below(world *w, uint32_t n)
{
    return (uint32_t)sl_rng_below(&w->rng, n);
}

static void random_member(world *w, pmem *p)
{
    snprintf(p->name, sizeof p->name, "m%u", w->next_name++ * 7919u % 100003u);
    uint32_t z = below(w, w->nzones + 1);
    snprintf(p->zone, sizeof p->zone, "z%u", z);
    p->m =
        (sl_placement_member){.name = p->name,
                              .zone = z == w->nzones ? NULL : p->zone,
                              .weight = w->weights ? below(w, 5) : 1,
                              .cpu_milli = w->caps && below(w, 2) ? 500 + below(w, 4) * 500 : 0,
                              .mem_mb = w->caps && below(w, 3) == 0 ? 512 + below(w, 4) * 512 : 0,
                              .state = below(w, 12) == 0  ? SL_PLACEMENT_DRAINING
                                       : below(w, 6) == 0 ? SL_PLACEMENT_SUSPECT
                                                          : SL_PLACEMENT_ALIVE};
}

static void random_service(world *w, psv *p)
{
    snprintf(p->name, sizeof p->name, "s%u", w->next_name++ * 104729u % 1000003u);
    p->s = (sl_placement_service){.name = p->name,
                                  .replicas = below(w, 6),
                                  .cpu_milli = w->caps && below(w, 2) ? 100 + below(w, 5) * 100 : 0,
                                  .mem_mb = w->caps && below(w, 3) == 0 ? 128 * below(w, 4) : 0,
                                  .spread = below(w, 4) ? SL_PLACEMENT_SPREAD_ZONE
                                                        : SL_PLACEMENT_SPREAD_NODE};
}

static void world_init(world *w, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    sl_rng_seed(&w->rng, seed);
    /* Mostly more members than a candidate list holds (16), so that lists
     * are cut and a change can enter or leave them. */
    w->nm = below(w, 8) == 0 ? 1 + below(w, 15) : 17 + below(w, 80);
    w->ns = below(w, 60);
    w->nzones = below(w, 5);
    w->caps = below(w, 3) == 0;
    w->weights = below(w, 2);
    sl_placement_options_init(&w->o);
    uint32_t e = below(w, 6);
    w->o.eps_milli = e == 0 ? 0 : e == 1 ? 50 : e == 2 ? 1000 : 250;
    w->o.unbounded = below(w, 10) == 0;
    for (size_t i = 0; i < w->nm; i++)
        random_member(w, &w->mem[i]);
    for (size_t i = 0; i < w->ns; i++)
        random_service(w, &w->svc[i]);
}

/* Counts of the change kinds applied, to show the test covers them all. */
enum {
    CH_ADD,
    CH_REMOVE,
    CH_WEIGHT,
    CH_DRAIN,
    CH_CAP,
    CH_ZONE,
    CH_SUSPECT,
    CH_SADD,
    CH_SREMOVE,
    CH_SCALE,
    CH_SREQ,
    CH_SSPREAD,
    CH_KINDS
};
static unsigned applied[CH_KINDS];

static void one_change(world *w)
{
    uint32_t kind = below(w, CH_KINDS);
    if (kind <= CH_SUSPECT && w->nm == 0)
        kind = CH_ADD;
    if (kind >= CH_SREMOVE && w->ns == 0)
        kind = CH_SADD;
    if ((kind == CH_ADD && w->nm == PI_MEMBERS_MAX) ||
        (kind == CH_SADD && w->ns == PI_SERVICES_MAX))
        kind = kind == CH_ADD ? CH_REMOVE : CH_SREMOVE;
    pmem *m = w->nm ? &w->mem[below(w, (uint32_t)w->nm)] : NULL;
    psv *s = w->ns ? &w->svc[below(w, (uint32_t)w->ns)] : NULL;
    applied[kind]++;
    switch (kind) {
    case CH_ADD: random_member(w, &w->mem[w->nm++]); break;
    case CH_REMOVE: /* the last one takes its place: the input order changes */
        *m = w->mem[--w->nm];
        break;
    case CH_WEIGHT: m->m.weight = 1 + (m->m.weight + below(w, 3)) % 6; break;
    case CH_DRAIN:
        m->m.state =
            m->m.state == SL_PLACEMENT_DRAINING ? SL_PLACEMENT_ALIVE : SL_PLACEMENT_DRAINING;
        break;
    case CH_CAP: m->m.cpu_milli = below(w, 2) ? 0 : 200 + below(w, 6) * 300; break;
    case CH_ZONE:
        /* Mostly between the zones there are, sometimes to a new one. */
        snprintf(m->zone, sizeof m->zone, "z%u",
                 below(w, 4) && w->nzones ? below(w, w->nzones) : w->nzones + below(w, 2));
        m->m.zone = m->zone;
        break;
    case CH_SUSPECT:
        m->m.state = m->m.state == SL_PLACEMENT_SUSPECT ? SL_PLACEMENT_ALIVE : SL_PLACEMENT_SUSPECT;
        break;
    case CH_SADD: random_service(w, &w->svc[w->ns++]); break;
    case CH_SREMOVE: *s = w->svc[--w->ns]; break;
    case CH_SCALE: s->s.replicas = below(w, 7); break;
    case CH_SREQ: s->s.cpu_milli = below(w, 2) ? 0 : 100 * below(w, 8); break;
    case CH_SSPREAD:
        s->s.spread = s->s.spread == SL_PLACEMENT_SPREAD_ZONE ? SL_PLACEMENT_SPREAD_NODE
                                                              : SL_PLACEMENT_SPREAD_ZONE;
        break;
    }
    /* Moves and copies left the string pointers at other buffers. */
    for (size_t i = 0; i < w->nm; i++) {
        w->mem[i].m.name = w->mem[i].name;
        if (w->mem[i].m.zone)
            w->mem[i].m.zone = w->mem[i].zone;
    }
    for (size_t i = 0; i < w->ns; i++)
        w->svc[i].s.name = w->svc[i].name;
}

/* Fails unless a and b are the same placement of w's input. */
static void assert_same(const world *w, const sl_placement *a, const sl_placement *b)
{
    assert_int_equal(sl_placement_unplaced(a), sl_placement_unplaced(b));
    for (size_t i = 0; i < w->nm; i++) {
        assert_int_equal(sl_placement_load(a, i), sl_placement_load(b, i));
        assert_int_equal(sl_placement_bound(a, i), sl_placement_bound(b, i));
    }
    for (size_t s = 0; s < w->ns; s++)
        for (uint32_t r = 0; r < w->svc[s].s.replicas; r++) {
            assert_int_equal(sl_placement_node(a, s, r), sl_placement_node(b, s, r));
            assert_int_equal(sl_placement_reason_of(a, s, r), sl_placement_reason_of(b, s, r));
        }
}

/* Computes w's input both ways and compares. */
static void check(world *w, sl_placement_cache *k)
{
    sl_placement_member m[PI_MEMBERS_MAX];
    sl_placement_service s[PI_SERVICES_MAX];
    for (size_t i = 0; i < w->nm; i++)
        m[i] = w->mem[i].m;
    for (size_t i = 0; i < w->ns; i++)
        s[i] = w->svc[i].s;
    sl_placement *full = NULL, *inc = NULL;
    assert_int_equal(sl_placement_compute(m, w->nm, s, w->ns, &w->o, &full), 0);
    assert_int_equal(sl_placement_cache_compute(k, m, w->nm, s, w->ns, &w->o, &inc), 0);
    assert_same(w, full, inc);
    sl_placement_free(full);
    sl_placement_free(inc);
}

static void test_random_changes(void **state)
{
    (void)state;
    uint64_t changes = 0, multi = 0;
    sl_placement_cache_stats st;
    sl_placement_cache *k = sl_placement_cache_new();
    assert_non_null(k);
    for (uint64_t seed = 1; seed <= 300; seed++) {
        world w;
        world_init(&w, seed);
        check(&w, k); /* the cache still holds the last world: many changes */
        for (int step = 0; step < 20; step++) {
            uint32_t n = 1;
            if (below(&w, 8) == 0) { /* several at once, sometimes too many */
                n = 2 + below(&w, SL_PLACEMENT_CACHE_CHANGES_MAX + 2);
                multi++;
            }
            for (uint32_t i = 0; i < n; i++)
                one_change(&w);
            changes += n;
            if (below(&w, 40) == 0) { /* other options: a full run */
                w.o.eps_milli = w.o.eps_milli == 250 ? 100 : 250;
            }
            check(&w, k);
        }
    }
    sl_placement_cache_stats_get(k, &st);
    fprintf(stderr,
            "# %llu changes (%llu steps with several); cache: %llu incremental, "
            "%llu full, %llu lists kept, %llu rebuilt, natives of %llu services kept (%llu that "
            "scanned a changed zone)\n",
            (unsigned long long)changes, (unsigned long long)multi,
            (unsigned long long)st.incremental, (unsigned long long)st.full,
            (unsigned long long)st.lists_kept, (unsigned long long)st.lists_rebuilt,
            (unsigned long long)st.natives_kept, (unsigned long long)st.scans_kept);
    for (int i = 0; i < CH_KINDS; i++)
        assert_true(applied[i] > 100);
    assert_true(changes >= 6000);
    assert_true(st.incremental > 5000);
    assert_true(st.full >= 300 && st.full < 1000); /* each new world, and the rest */
    assert_true(st.lists_kept > 4 * st.lists_rebuilt);
    assert_true(st.lists_rebuilt > 1000);
    assert_true(st.natives_kept > 10000);
    sl_placement_cache_free(k);
}

/* One change on a cluster large enough for cut lists everywhere: the
 * incremental call must say one change and recompute few lists. */
static void test_one_member_counts(void **state)
{
    (void)state;
    enum { NM = 200, NS = 300 };
    static char mn[NM + 1][24], sn[NS][24];
    sl_placement_member m[NM + 1];
    sl_placement_service s[NS];
    for (int i = 0; i < NM + 1; i++) {
        snprintf(mn[i], sizeof mn[i], "node-%03d", i);
        m[i] = (sl_placement_member){.name = mn[i], .zone = i % 3 ? "a" : "b", .weight = 1};
    }
    for (int i = 0; i < NS; i++) {
        snprintf(sn[i], sizeof sn[i], "svc-%03d", i);
        s[i] = (sl_placement_service){.name = sn[i], .replicas = 3};
    }
    sl_placement_cache *k = sl_placement_cache_new();
    sl_placement *p = NULL, *q = NULL;
    sl_placement_cache_stats st;
    assert_int_equal(sl_placement_cache_compute(k, m, NM, s, NS, NULL, &p), 0);
    sl_placement_free(p);
    sl_placement_cache_stats_get(k, &st);
    assert_int_equal(st.full, 1);
    assert_int_equal(st.last_changes, UINT32_MAX);
    /* node-200 joins. */
    assert_int_equal(sl_placement_cache_compute(k, m, NM + 1, s, NS, NULL, &p), 0);
    assert_int_equal(sl_placement_compute(m, NM + 1, s, NS, NULL, &q), 0);
    sl_placement_cache_stats_get(k, &st);
    assert_int_equal(st.incremental, 1);
    assert_int_equal(st.last_changes, 1);
    assert_int_equal(st.lists_rebuilt, 0); /* a join only enters lists */
    assert_int_equal(st.lists_kept, 3 * NS);
    for (int i = 0; i < NS; i++)
        for (uint32_t r = 0; r < 3; r++)
            assert_int_equal(sl_placement_node(p, (size_t)i, r),
                             sl_placement_node(q, (size_t)i, r));
    sl_placement_free(p);
    sl_placement_free(q);
    /* node-007 drains: the lists that held it (about 16 / 201 of them). */
    m[7].state = SL_PLACEMENT_DRAINING;
    assert_int_equal(sl_placement_cache_compute(k, m, NM + 1, s, NS, NULL, &p), 0);
    sl_placement_free(p);
    sl_placement_cache_stats_get(k, &st);
    assert_int_equal(st.incremental, 2);
    assert_true(st.lists_rebuilt > 0 && st.lists_rebuilt < 3 * NS / 4);
    /* Errors empty the cache: a duplicate name, then a full run. */
    m[1].name = m[0].name;
    assert_int_equal(sl_placement_cache_compute(k, m, NM + 1, s, NS, NULL, &p), SL_EINVAL);
    m[1].name = mn[1];
    assert_int_equal(sl_placement_cache_compute(k, m, NM + 1, s, NS, NULL, &p), 0);
    sl_placement_free(p);
    sl_placement_cache_stats_get(k, &st);
    assert_int_equal(st.full, 2);
    assert_int_equal(sl_placement_cache_compute(NULL, m, NM, s, NS, NULL, &p), SL_EINVAL);
    sl_placement_cache_free(k);
    sl_placement_cache_free(NULL);
}

/* Members moving between the zones there are (the zone set stays): the
 * kept natives must not be those of the services whose lists hold them. */
static void test_zone_moves(void **state)
{
    (void)state;
    enum { NM = 60, NS = 200 };
    static char mn[NM][24], sn[NS][24];
    static const char *zones[3] = {"a", "b", "c"};
    sl_placement_member m[NM];
    sl_placement_service s[NS];
    for (int i = 0; i < NM; i++) {
        snprintf(mn[i], sizeof mn[i], "node-%03d", i);
        m[i] = (sl_placement_member){.name = mn[i], .zone = zones[i % 3], .weight = 1};
    }
    for (int i = 0; i < NS; i++) {
        snprintf(sn[i], sizeof sn[i], "svc-%03d", i);
        s[i] = (sl_placement_service){.name = sn[i], .replicas = 1 + (uint32_t)i % 4};
    }
    world w = {.nm = NM, .ns = NS};
    for (int i = 0; i < NS; i++)
        w.svc[i].s = s[i];
    sl_placement_cache *k = sl_placement_cache_new();
    sl_placement *p = NULL, *q = NULL;
    assert_int_equal(sl_placement_cache_compute(k, m, NM, s, NS, NULL, &p), 0);
    sl_placement_free(p);
    for (int i = 0; i < 30; i++) {
        m[i].zone = zones[(i + 1 + i / 10) % 3];
        assert_int_equal(sl_placement_cache_compute(k, m, NM, s, NS, NULL, &p), 0);
        assert_int_equal(sl_placement_compute(m, NM, s, NS, NULL, &q), 0);
        assert_same(&w, p, q);
        sl_placement_free(p);
        sl_placement_free(q);
    }
    sl_placement_cache_stats st;
    sl_placement_cache_stats_get(k, &st);
    assert_int_equal(st.incremental, 30);
    fprintf(stderr, "# zone moves: natives of %llu services kept\n",
            (unsigned long long)st.natives_kept);
    assert_true(st.natives_kept > 0);
    sl_placement_cache_free(k);
}

/* Member changes on a cluster with a small zone (z2): replicas dealt to it
 * seldom find a member of it among their list, so they scan the zone in
 * the first greedy, and a change in that zone must not keep their natives
 * unless none of its members' scores (old and new) could have won a scan.
 * Requests are off (the first greedy is per service) and the zone set stays. */
static void test_zone_scans(void **state)
{
    (void)state;
    sl_placement_cache *k = sl_placement_cache_new();
    assert_non_null(k);
    sl_placement_cache_stats st0, st;
    sl_placement_cache_stats_get(k, &st0);
    for (uint64_t seed = 1; seed <= 12; seed++) {
        world w;
        memset(&w, 0, sizeof w);
        sl_rng_seed(&w.rng, 1000 + seed);
        w.nzones = 3;
        w.weights = true;
        sl_placement_options_init(&w.o);
        w.nm = 90;
        w.ns = 120;
        for (size_t i = 0; i < w.nm; i++) {
            random_member(&w, &w.mem[i]);
            uint32_t z = i % 15 == 0 ? 2 : (uint32_t)(i % 2);
            snprintf(w.mem[i].zone, PI_NAME, "z%u", z);
            w.mem[i].m.zone = w.mem[i].zone;
            w.mem[i].m.state = SL_PLACEMENT_ALIVE;
        }
        for (size_t i = 0; i < w.ns; i++) {
            random_service(&w, &w.svc[i]);
            w.svc[i].s.replicas = 3;
            w.svc[i].s.spread = SL_PLACEMENT_SPREAD_ZONE;
        }
        check(&w, k);
        for (int step = 0; step < 40; step++) {
            pmem *m = &w.mem[below(&w, (uint32_t)w.nm)];
            switch (below(&w, 5)) {
            case 0: /* joins, mostly in the small zone */
                if (w.nm < PI_MEMBERS_MAX) {
                    m = &w.mem[w.nm++];
                    random_member(&w, m);
                    m->m.state = SL_PLACEMENT_ALIVE;
                    snprintf(m->zone, PI_NAME, "z%u", below(&w, 2) ? 2 : below(&w, 2));
                }
                break;
            case 1: /* leaves (never the last of the small zone: the zone set stays) */
                if (strcmp(m->zone, "z2") || below(&w, 2))
                    *m = w.mem[--w.nm];
                break;
            case 2: m->m.weight = 1 + (m->m.weight + below(&w, 3)) % 6; break;
            case 3:
                m->m.state = m->m.state == SL_PLACEMENT_DRAINING ? SL_PLACEMENT_ALIVE
                                                                 : SL_PLACEMENT_DRAINING;
                break;
            case 4: snprintf(m->zone, PI_NAME, "z%u", below(&w, 3)); break;
            }
            for (size_t i = 0; i < w.nm; i++) {
                w.mem[i].m.name = w.mem[i].name;
                w.mem[i].m.zone = w.mem[i].zone;
            }
            check(&w, k);
        }
    }
    sl_placement_cache_stats_get(k, &st);
    fprintf(stderr, "# zone scans: %llu incremental calls, natives of %llu services kept, %llu "
            "of them after a change in the zone they scanned\n",
            (unsigned long long)(st.incremental - st0.incremental),
            (unsigned long long)(st.natives_kept - st0.natives_kept),
            (unsigned long long)(st.scans_kept - st0.scans_kept));
    assert_true(st.incremental - st0.incremental > 300);
    assert_true(st.scans_kept - st0.scans_kept > 1000);
    sl_placement_cache_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_changes),
        cmocka_unit_test(test_one_member_counts),
        cmocka_unit_test(test_zone_moves),
        cmocka_unit_test(test_zone_scans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
