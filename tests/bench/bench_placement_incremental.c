/* Incremental placement benchmark: CPU time of sl_placement_cache_compute()
 * after one change against sl_placement_compute() on the same input, in the
 * same invocation, with the two results compared replica by replica.
 *
 *   bench_placement_incremental [MEMBERS SERVICES REPLICAS [FULL_RUNS [CPU]]]
 *
 * Defaults: 1,000 members in 3 zones with weights 1..4, 10,000 services x 3
 * replicas, eps 0.25 (the placement benchmark's cluster). Each change kind
 * runs on several members or services, one change per call, each applied to
 * the input the previous call saw. FULL_RUNS (default: all) limits how many
 * of the changes also get a full run to compare with (the full run of
 * 10,000 members x 100,000 x 3 takes seconds); the others are timed
 * incrementally only. CPU (default 0) is every replica's cpu request in
 * millicores, on members of unlimited capacity: the same placement, but
 * requests make the first greedy global, so that it is never reused. Then the agent's step
 * (sl_reconcile(), which keeps its own cache, as node/runtime does; member 0 is "self", holding
 * nothing yet) after one member drains or comes back, against the same step with a fresh reconciler
 * (a full placement). The view the agent builds from gossip first (sl_appstate_build_view) is not
 * included. Times are process CPU time (one thread). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "starling/placement.h"
#include "starling/reconcile.h"

static size_t nm, ns;
static uint32_t reps;
static char (*mname)[32], (*sname)[32];
static const char *zname[3] = {"z0", "z1", "z2"};
static sl_placement_member *mem;
static sl_placement_service *svc;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Whether a and b place every replica of the current input alike. */
static int same(const sl_placement *a, const sl_placement *b, size_t nsvc)
{
    if (sl_placement_unplaced(a) != sl_placement_unplaced(b))
        return 0;
    for (size_t s = 0; s < nsvc; s++)
        for (uint32_t r = 0; r < svc[s].replicas; r++)
            if (sl_placement_node(a, s, r) != sl_placement_node(b, s, r) ||
                sl_placement_reason_of(a, s, r) != sl_placement_reason_of(b, s, r))
                return 0;
    for (size_t i = 0; i < nm; i++)
        if (sl_placement_load(a, i) != sl_placement_load(b, i) ||
            sl_placement_bound(a, i) != sl_placement_bound(b, i))
            return 0;
    return 1;
}

typedef struct tally {
    const char *what;
    unsigned n, full_n;
    double inc, inc_max, full;
    uint64_t rebuilt;
} tally;

static sl_placement_cache *cache;
static unsigned full_left;
static int failed;

/* Times one call on the current input (nmembers, nsvc) into t. */
static void measure(tally *t, size_t nmembers, size_t nsvc)
{
    sl_placement_cache_stats a, b;
    sl_placement_cache_stats_get(cache, &a);
    sl_placement *p = NULL, *q = NULL;
    double t0 = now();
    if (sl_placement_cache_compute(cache, mem, nmembers, svc, nsvc, NULL, &p)) {
        fprintf(stderr, "incremental compute failed\n");
        exit(1);
    }
    double dt = now() - t0;
    sl_placement_cache_stats_get(cache, &b);
    if (b.incremental != a.incremental + 1 || b.last_changes != 1) {
        fprintf(stderr, "%s: not an incremental call with one change\n", t->what);
        failed = 1;
    }
    t->n++;
    t->inc += dt;
    t->inc_max = dt > t->inc_max ? dt : t->inc_max;
    t->rebuilt += b.lists_rebuilt - a.lists_rebuilt;
    if (full_left) {
        full_left--;
        size_t keep = nm;
        nm = nmembers;
        t0 = now();
        if (sl_placement_compute(mem, nmembers, svc, nsvc, NULL, &q)) {
            fprintf(stderr, "full compute failed\n");
            exit(1);
        }
        t->full += now() - t0;
        t->full_n++;
        if (!same(p, q, nsvc)) {
            fprintf(stderr, "%s: incremental result differs from the full run\n", t->what);
            failed = 1;
        }
        nm = keep;
        sl_placement_free(q);
    }
    sl_placement_free(p);
}

static void print(const tally *t)
{
    double inc = t->inc / t->n;
    if (t->full_n) {
        double full = t->full / t->full_n;
        printf("  %-22s %3u  incremental %8.2f ms (max %8.2f)  full %9.1f ms  x%6.1f  lists "
               "rebuilt %6.0f\n",
               t->what, t->n, inc * 1e3, t->inc_max * 1e3, full * 1e3, full / inc,
               (double)t->rebuilt / t->n);
    } else {
        printf("  %-22s %3u  incremental %8.2f ms (max %8.2f)  full       -             lists "
               "rebuilt %6.0f\n",
               t->what, t->n, inc * 1e3, t->inc_max * 1e3, (double)t->rebuilt / t->n);
    }
}

int main(int argc, char **argv)
{
    nm = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    ns = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
    reps = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 3;
    full_left = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : ~0u;
    uint32_t cpu = argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 10) : 0;
    if (nm < 20 || ns < 20 || reps == 0) {
        fprintf(stderr,
                "usage: bench_placement_incremental [MEMBERS SERVICES REPLICAS [FULL_RUNS [CPU]]]\n"
                "(at least 20 members and 20 services)\n");
        return 2;
    }
    mname = calloc(nm + 1, sizeof *mname);
    sname = calloc(ns + 1, sizeof *sname);
    mem = calloc(nm + 1, sizeof *mem);
    svc = calloc(ns + 1, sizeof *svc);
    cache = sl_placement_cache_new();
    if (!mname || !sname || !mem || !svc || !cache)
        return 1;
    for (size_t i = 0; i <= nm; i++) {
        snprintf(mname[i], sizeof mname[i], "node-%06zu", i);
        mem[i] = (sl_placement_member){.name = mname[i],
                                       .zone = zname[i % 3],
                                       .weight = 1 + (uint32_t)(mix(i) % 4),
                                       .state = SL_PLACEMENT_ALIVE};
    }
    for (size_t i = 0; i <= ns; i++) {
        snprintf(sname[i], sizeof sname[i], "svc-%07zu", i);
        svc[i] = (sl_placement_service){.name = sname[i], .replicas = reps, .cpu_milli = cpu};
    }
    printf("incremental placement: %zu members (3 zones, weights 1..4), %zu services x %u, "
           "eps 0.25, cpu request %u\n",
           nm, ns, reps, cpu);
    sl_placement *p = NULL;
    double t0 = now();
    if (sl_placement_cache_compute(cache, mem, nm, svc, ns, NULL, &p))
        return 1;
    printf("  first call (full, fills the cache): %.1f ms\n", (now() - t0) * 1e3);
    sl_placement_free(p);

    enum { K = 5 };
    tally t[] = {{.what = "member joins"},        {.what = "member leaves"},
                 {.what = "member re-weighted"},  {.what = "member drained"},
                 {.what = "member undrained"},    {.what = "service added"},
                 {.what = "service scaled 3->5"}, {.what = "service removed"}};
    for (int k = 0; k < K; k++) {
        size_t victim = (size_t)(mix(100 + (uint64_t)k) % nm);
        measure(&t[0], nm + 1, ns); /* node-<nm> joins (sorted last) */
        measure(&t[1], nm, ns);     /* and leaves */
        uint32_t w = mem[victim].weight;
        mem[victim].weight = w % 4 + 1;
        measure(&t[2], nm, ns);
        mem[victim].weight = w;
        measure(&t[2], nm, ns);
        mem[victim].state = SL_PLACEMENT_DRAINING;
        measure(&t[3], nm, ns);
        mem[victim].state = SL_PLACEMENT_ALIVE;
        measure(&t[4], nm, ns);
        measure(&t[5], nm, ns + 1);
        size_t s = (size_t)(mix(200 + (uint64_t)k) % ns);
        svc[s].replicas = reps + 2;
        measure(&t[6], nm, ns + 1);
        svc[s].replicas = reps;
        measure(&t[6], nm, ns + 1);
        measure(&t[7], nm, ns);
    }
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        print(&t[i]);
    /* The agent's reconcile step after one membership change. */
    sl_service *cat = calloc(ns, sizeof *cat);
    const sl_service **cp = calloc(ns, sizeof *cp);
    char *argv0[] = {"/bin/true", NULL};
    if (!cat || !cp)
        return 1;
    for (size_t i = 0; i < ns; i++) {
        snprintf(cat[i].name, sizeof cat[i].name, "%s", sname[i]);
        cat[i].replicas = reps;
        cat[i].cpu_milli = cpu;
        cat[i].argc = 1;
        cat[i].argv = argv0;
        cp[i] = &cat[i];
    }
    sl_reconcile_input in = {
        .members = mem, .nmembers = nm, .self = 0, .svc = cp, .ps = svc, .nsvc = ns};
    sl_reconciler *rc = sl_reconciler_new(0);
    sl_reconcile_result res;
    if (!rc || sl_reconcile(rc, &in, &res))
        return 1;
    double step_inc = 0, step_full = 0, step_max = 0;
    size_t starts = 0;
    for (int k = 0; k < K; k++) {
        size_t victim = 1 + (size_t)(mix(300 + (uint64_t)k) % (nm - 1));
        for (int back = 0; back < 2; back++) {
            mem[victim].state = back ? SL_PLACEMENT_ALIVE : SL_PLACEMENT_DRAINING;
            t0 = now();
            if (sl_reconcile(rc, &in, &res))
                return 1;
            double dt = now() - t0;
            step_inc += dt;
            step_max = dt > step_max ? dt : step_max;
            starts += res.n;
            if (k == 0) {
                sl_reconciler *fresh = sl_reconciler_new(0);
                t0 = now();
                if (!fresh || sl_reconcile(fresh, &in, &res))
                    return 1;
                step_full += now() - t0;
                sl_reconciler_free(fresh);
            }
        }
    }
    sl_placement_cache_stats rst;
    sl_reconciler_placement_stats(rc, &rst);
    printf("  agent step (sl_reconcile) after a member drains or returns: %.2f ms (max %.2f) "
           "over %d steps (%llu incremental); the same step with a full placement: %.1f ms\n",
           step_inc / (2 * K) * 1e3, step_max * 1e3, 2 * K, (unsigned long long)rst.incremental,
           step_full / 2 * 1e3);
    if (rst.incremental != 2 * K)
        failed = 1;
    sl_reconciler_free(rc);
    free(cat);
    free(cp);
    (void)starts;

    sl_placement_cache_stats st;
    sl_placement_cache_stats_get(cache, &st);
    printf("  cache: %llu incremental calls, %llu full; lists kept %llu, rebuilt %llu\n",
           (unsigned long long)st.incremental, (unsigned long long)st.full,
           (unsigned long long)st.lists_kept, (unsigned long long)st.lists_rebuilt);
    printf("  results identical to the full runs: %s\n", failed ? "NO" : "yes");
    sl_placement_cache_free(cache);
    free(mname);
    free(sname);
    free(mem);
    free(svc);
    return failed;
}
