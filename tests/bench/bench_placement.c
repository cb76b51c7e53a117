/* Placement benchmark: 10,000 services x 3 replicas over 1,000 members in 3
 * zones, weights 1..4. For the bounded algorithm (eps 0.25), plain weighted
 * rendezvous (no bound) and a token ring with 256 virtual nodes per member
 * (Cassandra style, SimpleStrategy: the next R distinct members clockwise),
 * prints the time to compute, max/mean load relative to the fair share, and
 * the replicas that change member when one member leaves and one joins.
 * Then, for eps 0.1, 0.25, 0.5 and 1.0, Starling's bounded placement beside
 * the anchor of issue 16: consistent hashing with bounded loads (Mirrokni,
 * Thorup, Zadimoghaddam), the same token ring where each replica walks on to
 * the first member under its cap ceil((1 + eps) * T * w / W); written here
 * for the comparison only.
 * Times are the CPU time of the process (one thread), so that a busy machine
 * slows them less than it would wall-clock times. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "starling/placement.h"

#include "../common/random_cluster.h"

#define NM 1000
#define NS 10000
#define R 3
#define VN 256

static char mname[NM + 1][16], sname[NS][16], zname[3][4] = {"z0", "z1", "z2"};
static sl_placement_member mem[NM + 1];
static sl_placement_service svc[NS];

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

static uint64_t hstr(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
    return mix(h);
}

/* Assignment as member *names* per (service, replica): comparable across runs
 * whose member arrays differ. */
typedef const char *assign[NS][R];

typedef struct tok {
    uint64_t h;
    uint32_t m;
} tok;

static int tok_cmp(const void *a, const void *b)
{
    const tok *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return (x->m > y->m) - (x->m < y->m);
}

/* The sorted tokens of one member list, kept so that the small-cluster
 * table sorts each list once for all its rings (the large case times the
 * ring, so it passes no cache). */
typedef struct ring_tokens {
    uint64_t key; /* of the names, weights and states; 0: empty */
    size_t nt;
    tok *t;
} ring_tokens;

#define RING_CACHE 3

/* What ring_place takes as arg: eps in thousandths (< 0: no cap) and an
 * optional cache of RING_CACHE token lists. */
typedef struct ring_options {
    int32_t eps;
    ring_tokens *cache;
} ring_options;

static uint64_t members_key(const sl_placement_member *m, size_t nm)
{
    uint64_t k = mix(nm + 1);
    for (size_t i = 0; i < nm; i++)
        k = mix(k ^ hstr(m[i].name)) + ((uint64_t)m[i].weight << 8) + (uint64_t)m[i].state;
    return k | 1;
}

/* The tokens: 256 per unit of weight of each member that is not draining,
 * sorted; from the cache when it has them. Exits when out of memory. */
static tok *ring_tokens_of(const ring_options *o, const sl_placement_member *m, size_t nm,
                           size_t *ntp)
{
    uint64_t key = o->cache ? members_key(m, nm) : 0;
    for (int i = 0; o->cache && i < RING_CACHE; i++)
        if (o->cache[i].key == key) {
            *ntp = o->cache[i].nt;
            return o->cache[i].t;
        }
    size_t nt = 0;
    for (size_t i = 0; i < nm; i++)
        if (m[i].state != SL_PLACEMENT_DRAINING)
            nt += (size_t)VN * (m[i].weight ? m[i].weight : 1);
    tok *t = malloc((nt + 1) * sizeof *t);
    if (!t) {
        fprintf(stderr, "bench_placement: out of memory\n");
        exit(1);
    }
    nt = 0;
    for (size_t i = 0; i < nm; i++) {
        if (m[i].state == SL_PLACEMENT_DRAINING)
            continue;
        uint64_t w = m[i].weight ? m[i].weight : 1, h = hstr(m[i].name);
        for (uint64_t v = 0; v < VN * w; v++)
            t[nt++] = (tok){mix(h + v * 0x9e3779b97f4a7c15ull), (uint32_t)i};
    }
    qsort(t, nt, sizeof *t, tok_cmp);
    *ntp = nt;
    if (o->cache) { /* replaces the oldest entry */
        free(o->cache[RING_CACHE - 1].t);
        memmove(&o->cache[1], &o->cache[0], (RING_CACHE - 1) * sizeof *o->cache);
        o->cache[0] = (ring_tokens){key, nt, t};
    }
    return t;
}

static void ring_cache_clear(ring_tokens *cache)
{
    for (int i = 0; i < RING_CACHE; i++) {
        free(cache[i].t);
        cache[i] = (ring_tokens){0, 0, NULL};
    }
}

/* The token ring as an rc_place_fn (tests/common/random_cluster.h): 256
 * tokens per unit of weight and member, hashed from its name; draining
 * members have none. Services in the caller's order; each replica takes the
 * first member clockwise from the hash of the service's name that does not
 * hold the service yet and has the cpu and memory left. arg is a
 * ring_options: with eps >= 0 it is the bounded-load ring, a member also
 * being skipped at its cap ceil((1000 + eps) * T * w / (1000 * W)), the very
 * bound of Starling's placement; with eps < 0 the plain ring. Zones are
 * ignored (SimpleStrategy). */
static int ring_place(void *arg, const sl_placement_member *m, size_t nm,
                      const sl_placement_service *s, size_t ns, int32_t *node)
{
    const ring_options *o = arg;
    int32_t eps = o->eps;
    uint64_t total = 0, wsum = 0;
    size_t nt = 0;
    for (size_t i = 0; i < ns; i++)
        total += s[i].replicas;
    for (size_t i = 0; i < nm; i++)
        if (m[i].state != SL_PLACEMENT_DRAINING)
            wsum += m[i].weight ? m[i].weight : 1;
    tok *t = ring_tokens_of(o, m, nm, &nt);
    uint32_t *cap = calloc(nm + 1, sizeof *cap), *load = calloc(nm + 1, sizeof *load);
    uint64_t *cpu = calloc(nm + 1, sizeof *cpu), *memu = calloc(nm + 1, sizeof *memu);
    if (!cap || !load || !cpu || !memu) {
        fprintf(stderr, "bench_placement: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < nm; i++) {
        if (m[i].state == SL_PLACEMENT_DRAINING)
            continue;
        uint64_t w = m[i].weight ? m[i].weight : 1, top = (1000 + (uint64_t)eps) * total * w,
                 den = 1000 * wsum;
        cap[i] = eps < 0 ? UINT32_MAX : (uint32_t)((top + den - 1) / den);
    }
    size_t k = 0;
    for (size_t i = 0; i < ns; i++) {
        uint64_t h = hstr(s[i].name);
        size_t lo = 0, hi = nt;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (t[mid].h < h)
                lo = mid + 1;
            else
                hi = mid;
        }
        size_t first = k, j = 0;
        for (uint32_t r = 0; r < s[i].replicas; r++) {
            node[k] = -1;
            for (; j < nt; j++) {
                uint32_t x = t[(lo + j) % nt].m;
                int skip = load[x] >= cap[x] ||
                           (m[x].cpu_milli && cpu[x] + s[i].cpu_milli > m[x].cpu_milli) ||
                           (m[x].mem_mb && memu[x] + s[i].mem_mb > m[x].mem_mb);
                for (size_t q = first; q < k; q++)
                    skip |= node[q] == (int32_t)x;
                if (!skip) {
                    node[k] = (int32_t)x;
                    load[x]++;
                    cpu[x] += s[i].cpu_milli;
                    memu[x] += s[i].mem_mb;
                    break;
                }
            }
            k++;
        }
    }
    if (!o->cache)
        free(t);
    free(cap);
    free(load);
    free(cpu);
    free(memu);
    return 0;
}

/* The token ring over members[0..n) minus `skip` (see ring_place); fills a,
 * returns seconds. */
static double ring(size_t n, size_t skip, double eps, assign a, uint32_t *load)
{
    sl_placement_member *m = malloc((n + 1) * sizeof *m);
    uint32_t *map = malloc((n + 1) * sizeof *map);
    int32_t *node = malloc((size_t)NS * R * sizeof *node);
    ring_options e = {eps < 0 ? -1 : (int32_t)(eps * 1000 + 0.5), NULL};
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (i != skip) {
            map[k] = (uint32_t)i;
            m[k++] = mem[i];
        }
    double t0 = now();
    ring_place(&e, m, k, svc, NS, node);
    double dt = now() - t0;
    memset(load, 0, (NM + 1) * sizeof *load);
    for (size_t s = 0; s < NS; s++)
        for (uint32_t r = 0; r < R; r++) {
            int32_t x = node[s * R + r];
            a[s][r] = x < 0 ? NULL : mname[map[x]];
            if (x >= 0)
                load[map[x]]++;
        }
    free(m);
    free(map);
    free(node);
    return dt;
}

static double hrw(size_t n, size_t skip, const sl_placement_options *o, assign a, uint32_t *load)
{
    sl_placement_member *m = malloc((n + 1) * sizeof *m);
    uint32_t *map = malloc((n + 1) * sizeof *map);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (i != skip) {
            map[k] = (uint32_t)i;
            m[k++] = mem[i];
        }
    sl_placement *p = NULL;
    double t0 = now();
    if (sl_placement_compute(m, k, svc, NS, o, &p)) {
        fprintf(stderr, "bench_placement: compute failed\n");
        exit(1);
    }
    double dt = now() - t0;
    memset(load, 0, (NM + 1) * sizeof *load);
    for (size_t s = 0; s < NS; s++)
        for (uint32_t r = 0; r < R; r++) {
            int32_t x = sl_placement_node(p, s, r);
            a[s][r] = x < 0 ? NULL : mname[map[x]];
            if (x >= 0)
                load[map[x]]++;
        }
    sl_placement_free(p);
    free(m);
    free(map);
    return dt;
}

static size_t changed(assign a, assign b)
{
    size_t c = 0;
    for (size_t s = 0; s < NS; s++)
        for (int r = 0; r < R; r++)
            c += a[s][r] != b[s][r];
    return c;
}

/* kind 0: Starling bounded, 1: plain rendezvous, 2: token ring, 3: bounded
 * ring; eps_milli for 0 and 3. */
static double run(int kind, size_t n, size_t skip, uint32_t eps_milli, assign a, uint32_t *load)
{
    sl_placement_options o;
    sl_placement_options_init(&o);
    o.unbounded = kind == 1;
    if (kind == 0)
        o.eps_milli = eps_milli;
    if (kind == 2 || kind == 3)
        return ring(n, skip, kind == 2 ? -1.0 : eps_milli / 1000.0, a, load);
    return hrw(n, skip, &o, a, load);
}

typedef struct large_row {
    double max_fair, rm, add;
} large_row;

static large_row report(const char *name, int kind, uint32_t eps)
{
    static assign base, rm, add;
    static uint32_t load[NM + 1], l2[NM + 1];
    size_t victim = 17;
    double dt = run(kind, NM, SIZE_MAX, eps, base, load);
    double wsum = 0, worst = 0;
    for (size_t i = 0; i < NM; i++)
        wsum += mem[i].weight;
    for (size_t i = 0; i < NM; i++) {
        double share = (double)NS * R * mem[i].weight / wsum, r = load[i] / share;
        worst = r > worst ? r : worst;
    }
    uint32_t held = load[victim];
    run(kind, NM, victim, eps, rm, l2);
    run(kind, NM + 1, SIZE_MAX, eps, add, l2);
    double share_new = (double)NS * R * mem[NM].weight / (wsum + mem[NM].weight);
    size_t cr = changed(base, rm), ca = changed(base, add);
    printf("%-24s %8.3f s   max/fair %.3f   removal: held %u moved %zu (%.2fx)   addition: share "
           "%.1f moved %zu (%.2fx)\n",
           name, dt, worst, held, cr, (double)cr / held, share_new, ca, (double)ca / share_new);
    return (large_row){worst, (double)cr / held, (double)ca / share_new};
}

/* ---- The random small clusters of tests/unit/test_placement.c ---- */

#ifndef SMALL_SEEDS /* fewer for a quick check, e.g. under ASan: -DSMALL_SEEDS=1 */
#define SMALL_SEEDS 20
#endif
#define SMALL_CASES 120
#define NEPS 4
static const uint32_t eps_milli[NEPS] = {100, 250, 500, 1000};

/* Algorithms of the small-cluster table: Starling bounded at each eps, plain
 * rendezvous, the token ring, the bounded ring at each eps. */
#define NALG (2 * NEPS + 2)

typedef struct small_row {
    double max_fair, rm, add; /* sums over seeds of per-seed means */
} small_row;

static void alg(int a, rc_place_fn *fn, void **arg, sl_placement_options *o, ring_options *e)
{
    sl_placement_options_init(o);
    if (a < NEPS) {
        o->eps_milli = eps_milli[a];
        *fn = rc_place_starling;
        *arg = o;
    } else if (a == NEPS) {
        o->unbounded = true;
        *fn = rc_place_starling;
        *arg = o;
    } else {
        e->eps = a == NEPS + 1 ? -1 : (int32_t)eps_milli[a - NEPS - 2];
        *fn = ring_place;
        *arg = e;
    }
}

/* Seeds 1..20 of test_placement (its test_moves_seeds_1_to_20: the clusters
 * of seed + 1, the removal and the addition it draws), every algorithm on the
 * same clusters with the same choices. */
static void small_clusters(small_row *row)
{
    memset(row, 0, NALG * sizeof *row);
    for (uint64_t seed = 1; seed <= SMALL_SEEDS; seed++) {
        sl_rng r;
        sl_rng_seed(&r, seed + 1);
        rc_stats rm[NALG], add[NALG];
        ring_tokens cache[RING_CACHE] = {{0, 0, NULL}};
        double mf[NALG] = {0};
        memset(rm, 0, sizeof rm);
        memset(add, 0, sizeof add);
        for (int k = 0; k < SMALL_CASES; k++) {
            rc_cluster c;
            rc_random(&c, &r, NULL);
            int32_t *node = malloc((rc_total(&c) + 1) * sizeof *node);
            sl_rng fork = r, next = r;
            for (int a = 0; a < NALG; a++) {
                rc_place_fn fn;
                void *arg;
                sl_placement_options o;
                ring_options e = {0, cache};
                alg(a, &fn, &arg, &o, &e);
                sl_rng choices = fork;
                if (!node || rc_place(&c, fn, arg, node) ||
                    rc_remove_one(&c, node, fn, arg, &choices, &rm[a]) ||
                    rc_add_one(&c, node, fn, arg, &choices, &add[a])) {
                    fprintf(stderr, "bench_placement: small cluster failed\n");
                    exit(1);
                }
                mf[a] += rc_max_over_fair(&c, node) / SMALL_CASES;
                if (a == 1) /* eps 0.25: the test's own sequence */
                    next = choices;
            }
            r = next;
            ring_cache_clear(cache);
            free(node);
            rc_free(&c);
        }
        for (int a = 0; a < NALG; a++) {
            row[a].max_fair += mf[a] / SMALL_SEEDS;
            row[a].rm += rc_mean(&rm[a]) / SMALL_SEEDS;
            row[a].add += rc_mean(&add[a]) / SMALL_SEEDS;
        }
    }
}

static void small_report(const char *dat)
{
    small_row row[NALG];
    small_clusters(row);
    printf("random small clusters (test_placement's, seeds 1..%d x %d clusters; means of per-seed "
           "means of per-cluster ratios; max/fair is the mean per cluster):\n",
           SMALL_SEEDS, SMALL_CASES);
    printf("%-6s | %-26s | %-26s | %-26s | %-26s\n", "eps", "Starling bounded", "plain rendezvous",
           "token ring", "bounded ring");
    printf("%-6s | %-26s | %-26s | %-26s | %-26s\n", "", "max/fair rm/held add/share",
           "max/fair rm/held add/share", "max/fair rm/held add/share",
           "max/fair rm/held add/share");
    FILE *f = dat ? fopen(dat, "w") : NULL;
    if (dat && !f)
        fprintf(stderr, "bench_placement: cannot write %s\n", dat);
    if (f)
        fprintf(f, "# eps starling(maxfair rm add) plain(...) ring(...) bounded_ring(...)\n");
    for (int i = 0; i < NEPS; i++) {
        const small_row *x[4] = {&row[i], &row[NEPS], &row[NEPS + 1], &row[NEPS + 2 + i]};
        printf("%-6.2f", eps_milli[i] / 1000.0);
        if (f)
            fprintf(f, "%.2f", eps_milli[i] / 1000.0);
        for (int j = 0; j < 4; j++) {
            printf(" | %8.3f %7.3f %9.3f", x[j]->max_fair, x[j]->rm, x[j]->add);
            if (f)
                fprintf(f, " %.4f %.4f %.4f", x[j]->max_fair, x[j]->rm, x[j]->add);
        }
        printf("\n");
        if (f)
            fprintf(f, "\n");
    }
    if (f)
        fclose(f);
}

/* With a directory argument, also writes the tables for the plot there
 * (placement_large.dat, placement_small.dat; tests/bench/bench_placement.sh
 * draws them). */
int main(int argc, char **argv)
{
    char large_dat[512], small_dat[512];
    setvbuf(stdout, NULL, _IOLBF, 0); /* each line as it comes, also into a pipe */
    if (argc > 1) {
        snprintf(large_dat, sizeof large_dat, "%s/placement_large.dat", argv[1]);
        snprintf(small_dat, sizeof small_dat, "%s/placement_small.dat", argv[1]);
    }
    for (size_t i = 0; i <= NM; i++) {
        snprintf(mname[i], sizeof mname[i], "node-%zu", i);
        mem[i] = (sl_placement_member){mname[i], zname[i % 3],      1 + (uint32_t)(mix(i) % 4), 0,
                                       0,        SL_PLACEMENT_ALIVE};
    }
    for (size_t i = 0; i < NS; i++) {
        snprintf(sname[i], sizeof sname[i], "svc-%zu", i);
        svc[i] = (sl_placement_service){sname[i], R, 0, 0, SL_PLACEMENT_SPREAD_ZONE};
    }
    printf("placement: %d services x %d replicas over %d members (3 zones, weights 1..4); "
           "max/fair = max over members of load / fair share\n",
           NS, R, NM);
    report("bounded (eps 0.25)", 0, 250);
    large_row plain = report("plain rendezvous", 1, 0), tring = report("token ring (256 vn)", 2, 0);
    FILE *f = argc > 1 ? fopen(large_dat, "w") : NULL;
    if (argc > 1 && !f)
        fprintf(stderr, "bench_placement: cannot write %s\n", large_dat);
    if (f)
        fprintf(f, "# eps starling(maxfair rm add) plain(...) ring(...) bounded_ring(...)\n");
    printf("against consistent hashing with bounded loads (the same ring, walking on past full "
           "members):\n");
    for (size_t i = 0; i < NEPS; i++) {
        char a[40], b[40];
        snprintf(a, sizeof a, "bounded (eps %.2f)", eps_milli[i] / 1000.0);
        snprintf(b, sizeof b, "bounded ring (eps %.2f)", eps_milli[i] / 1000.0);
        large_row x = report(a, 0, eps_milli[i]), y = report(b, 3, eps_milli[i]);
        if (f)
            fprintf(f, "%.2f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f\n",
                    eps_milli[i] / 1000.0, x.max_fair, x.rm, x.add, plain.max_fair, plain.rm,
                    plain.add, tring.max_fair, tring.rm, tring.add, y.max_fair, y.rm, y.add);
    }
    if (f)
        fclose(f);
    small_report(argc > 1 ? small_dat : NULL);
    return 0;
}
