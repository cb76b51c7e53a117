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
    return x->h < y->h ? -1 : x->h > y->h;
}

/* Token ring over members[0..n) minus `skip`; fills a, returns seconds.
 * With eps >= 0 it is the bounded-load ring: services in index order, each
 * replica on the first member clockwise that does not hold the service yet
 * and is below its cap ceil((1 + eps) * NS * R * w / W); with eps < 0 the
 * plain token ring (no cap). */
static double ring(size_t n, size_t skip, double eps, assign a, uint32_t *load)
{
    double t0 = now();
    size_t nt = 0;
    double wsum = 0;
    tok *t = malloc(n * 4 * VN * sizeof *t);
    uint32_t *cap = malloc(n * sizeof *cap);
    for (size_t i = 0; i < n; i++)
        if (i != skip)
            wsum += mem[i].weight;
    for (size_t i = 0; i < n; i++) {
        cap[i] = eps < 0 ? UINT32_MAX
                         : (uint32_t)((1.0 + eps) * NS * R * mem[i].weight / wsum + 0.999999);
        if (i != skip)
            for (uint32_t v = 0; v < VN * mem[i].weight; v++)
                t[nt++] = (tok){mix(hstr(mname[i]) + v * 0x9e3779b97f4a7c15ull), (uint32_t)i};
    }
    qsort(t, nt, sizeof *t, tok_cmp);
    memset(load, 0, (NM + 1) * sizeof *load);
    for (size_t s = 0; s < NS; s++) {
        uint64_t h = hstr(sname[s]);
        size_t lo = 0, hi = nt;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (t[mid].h < h)
                lo = mid + 1;
            else
                hi = mid;
        }
        uint32_t got[R];
        int k = 0;
        for (size_t j = 0; k < R && j < nt; j++) {
            uint32_t m = t[(lo + j) % nt].m;
            int dup = load[m] >= cap[m];
            for (int q = 0; q < k; q++)
                dup |= got[q] == m;
            if (!dup) {
                got[k] = m;
                a[s][k++] = mname[m];
                load[m]++;
            }
        }
        for (; k < R; k++)
            a[s][k] = NULL;
    }
    free(t);
    free(cap);
    return now() - t0;
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

static void report(const char *name, int kind, uint32_t eps_milli)
{
    static assign base, rm, add;
    static uint32_t load[NM + 1], l2[NM + 1];
    size_t victim = 17;
    double dt = run(kind, NM, SIZE_MAX, eps_milli, base, load);
    double wsum = 0, worst = 0;
    for (size_t i = 0; i < NM; i++)
        wsum += mem[i].weight;
    for (size_t i = 0; i < NM; i++) {
        double share = (double)NS * R * mem[i].weight / wsum, r = load[i] / share;
        worst = r > worst ? r : worst;
    }
    uint32_t held = load[victim];
    run(kind, NM, victim, eps_milli, rm, l2);
    run(kind, NM + 1, SIZE_MAX, eps_milli, add, l2);
    double share_new = (double)NS * R * mem[NM].weight / (wsum + mem[NM].weight);
    size_t cr = changed(base, rm), ca = changed(base, add);
    printf("%-24s %8.3f s   max/fair %.3f   removal: held %u moved %zu (%.2fx)   addition: share "
           "%.1f moved %zu (%.2fx)\n",
           name, dt, worst, held, cr, (double)cr / held, share_new, ca, (double)ca / share_new);
}

int main(void)
{
    for (size_t i = 0; i <= NM; i++) {
        snprintf(mname[i], sizeof mname[i], "node-%zu", i);
        mem[i] = (sl_placement_member){mname[i], zname[i % 3],      1 + (uint32_t)(mix(i) % 4), 0,
                                       0,        SL_PLACEMENT_ALIVE};
    }
    for (size_t i = 0; i < NS; i++) {
        snprintf(sname[i], sizeof sname[i], "svc-%zu", i);
        svc[i] = (sl_placement_service){sname[i], R, 0, 0, SL_PLACEMENT_SPREAD_ZONE, NULL, 0};
    }
    printf("placement: %d services x %d replicas over %d members (3 zones, weights 1..4); "
           "max/fair = max over members of load / fair share\n",
           NS, R, NM);
    report("bounded (eps 0.25)", 0, 250);
    report("plain rendezvous", 1, 0);
    report("token ring (256 vn)", 2, 0);
    printf("against consistent hashing with bounded loads (the same ring, walking on past full "
           "members):\n");
    static const uint32_t eps[] = {100, 250, 500, 1000};
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        char a[40], b[40];
        snprintf(a, sizeof a, "bounded (eps %.2f)", eps[i] / 1000.0);
        snprintf(b, sizeof b, "bounded ring (eps %.2f)", eps[i] / 1000.0);
        report(a, 0, eps[i]);
        report(b, 3, eps[i]);
    }
    return 0;
}
