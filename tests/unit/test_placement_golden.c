/* Golden placements: the exact result of sl_placement_compute() for a fixed
 * set of inputs, recorded from the code before the speed-up of issue 16, so
 * that any later optimisation is proven to give bit-identical answers.
 *
 * Each case is drawn from its own seed and varies what the algorithm looks
 * at: cluster size (1 to 2,000 members, plus the benchmark's 1,000 x 10,000
 * x 3), zones (none, one, up to 7, some members without a zone), weights (all
 * equal, 1..4, 0 meaning 1, up to 65535), cpu and memory capacities (none,
 * loose, tight enough to leave replicas unplaced), suspect and draining
 * members, spread modes, replica counts from 0 to more than there are
 * members, eps from 0 to 10 and unbounded. The digest covers, for every
 * (service, replica), the member and the reason, then every member's load
 * and bound and the unplaced count.
 *
 * PL_GOLDEN_PRINT=1 prints the digests instead of checking them (to record
 * a new table after a deliberate change of the algorithm, which is then no
 * longer "same results"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "starling/placement.h"
#include "starling/rng.h"

#include "../../placement/internal.h"

#define GN_NAME 48
#define GN_RANDOM 120

typedef struct gcase {
    size_t nm, ns;
    sl_placement_member *m;
    sl_placement_service *s;
    char (*mname)[GN_NAME];
    char (*zname)[GN_NAME];
    char (*sname)[GN_NAME];
    sl_placement_options o;
} gcase;

static void g_alloc(gcase *c, size_t nm, size_t ns)
{
    c->nm = nm;
    c->ns = ns;
    c->m = calloc(nm + 1, sizeof *c->m);
    c->s = calloc(ns + 1, sizeof *c->s);
    c->mname = calloc(nm + 1, GN_NAME);
    c->zname = calloc(nm + 1, GN_NAME);
    c->sname = calloc(ns + 1, GN_NAME);
    assert_true(c->m && c->s && c->mname && c->zname && c->sname);
    sl_placement_options_init(&c->o);
}

static void g_free(gcase *c)
{
    free(c->m);
    free(c->s);
    free(c->mname);
    free(c->zname);
    free(c->sname);
}

static uint64_t g_below(sl_rng *r, uint64_t n)
{
    return sl_rng_below(r, n);
}

/* A random case: every knob drawn from the seed. */
static void g_random(gcase *c, uint64_t seed)
{
    sl_rng r;
    sl_rng_seed(&r, seed);
    static const size_t top[] = {3, 12, 60, 250, 700, 2000};
    size_t nm = 1 + (size_t)g_below(&r, top[g_below(&r, 6)]);
    size_t ns = 1 + (size_t)g_below(&r, (1 + g_below(&r, 4)) * nm + 8);
    if (nm * ns > 1000000)
        ns = 1000000 / nm;
    g_alloc(c, nm, ns);
    uint32_t nzones = (uint32_t)g_below(&r, 8);  /* 0: no zone names at all */
    unsigned wmode = (unsigned)g_below(&r, 5);   /* how weights are drawn */
    unsigned cap = (unsigned)g_below(&r, 3);     /* 0 none, 1 loose, 2 tight */
    unsigned states = (unsigned)g_below(&r, 10); /* 0 alive, 1 mixed, 2 many, 9 none */
    states = states == 9 ? 3 : states % 3;
    unsigned spread = (unsigned)g_below(&r, 3); /* 0 zone, 1 node, 2 mixed */
    uint32_t wconst = 1 + (uint32_t)g_below(&r, 5);
    for (size_t i = 0; i < nm; i++) {
        sl_placement_member *m = &c->m[i];
        snprintf(c->mname[i], GN_NAME, "m-%llx-%zu", (unsigned long long)g_below(&r, 1u << 20), i);
        m->name = c->mname[i];
        if (nzones == 0 || g_below(&r, 50) == 0) {
            m->zone = g_below(&r, 2) ? NULL : "";
        } else {
            snprintf(c->zname[i], GN_NAME, "zone%u", (unsigned)g_below(&r, nzones));
            m->zone = c->zname[i];
        }
        switch (wmode) {
        case 0: m->weight = wconst; break;
        case 1: m->weight = 1 + (uint32_t)g_below(&r, 4); break;
        case 2: m->weight = (uint32_t)g_below(&r, 3); break; /* 0 means 1 */
        case 3: m->weight = 1 + (uint32_t)g_below(&r, SL_PLACEMENT_WEIGHT_MAX); break;
        default: m->weight = g_below(&r, 10) ? 1 : 1 + (uint32_t)g_below(&r, 100); break;
        }
        if (cap && g_below(&r, 2)) {
            m->cpu_milli = cap == 1 ? 8000 + 1000 * (uint32_t)g_below(&r, 16)
                                    : 200 + 100 * (uint32_t)g_below(&r, 30);
            m->mem_mb = cap == 1 ? 8192 + 1024 * (uint32_t)g_below(&r, 16)
                                 : 128 + 64 * (uint32_t)g_below(&r, 40);
        }
        uint64_t st = g_below(&r, 100);
        m->state = states == 3                    ? SL_PLACEMENT_DRAINING
                   : states == 0                  ? SL_PLACEMENT_ALIVE
                   : st < 80 - 30 * (states == 2) ? SL_PLACEMENT_ALIVE
                   : st < 90 - 10 * (states == 2) ? SL_PLACEMENT_SUSPECT
                                                  : SL_PLACEMENT_DRAINING;
    }
    for (size_t i = 0; i < ns; i++) {
        sl_placement_service *s = &c->s[i];
        snprintf(c->sname[i], GN_NAME, "s%llx.%zu", (unsigned long long)g_below(&r, 1u << 16), i);
        s->name = c->sname[i];
        uint64_t k = g_below(&r, 40);
        s->replicas = k == 0               ? 0
                      : k == 1 && nm < 100 ? (uint32_t)(nm + 1)
                                           : 1 + (uint32_t)g_below(&r, 7);
        if (cap) {
            s->cpu_milli = g_below(&r, 2) ? 0 : 50 * (1 + (uint32_t)g_below(&r, 20));
            s->mem_mb = g_below(&r, 2) ? 0 : 32 * (1 + (uint32_t)g_below(&r, 32));
        }
        s->spread = spread == 0 ? SL_PLACEMENT_SPREAD_ZONE
                    : spread == 1
                        ? SL_PLACEMENT_SPREAD_NODE
                        : (g_below(&r, 3) ? SL_PLACEMENT_SPREAD_ZONE : SL_PLACEMENT_SPREAD_NODE);
    }
    static const uint32_t eps[] = {0, 1, 100, 250, 250, 500, 1000, SL_PLACEMENT_EPS_MILLI_MAX};
    c->o.eps_milli = eps[g_below(&r, 8)];
    c->o.unbounded = g_below(&r, 4) == 0;
}

/* The benchmark's case: 10,000 services x 3 over 1,000 members in 3 zones,
 * weights 1..4 (tests/bench/bench_placement.c). */
static void g_bench(gcase *c, bool unbounded)
{
    g_alloc(c, 1000, 10000);
    static const char *zones[3] = {"z0", "z1", "z2"};
    for (size_t i = 0; i < c->nm; i++) {
        snprintf(c->mname[i], GN_NAME, "node-%zu", i);
        c->m[i] = (sl_placement_member){
            c->mname[i], zones[i % 3], 1 + (uint32_t)(sl_mix64(i) % 4), 0, 0, SL_PLACEMENT_ALIVE};
    }
    for (size_t i = 0; i < c->ns; i++) {
        snprintf(c->sname[i], GN_NAME, "svc-%zu", i);
        c->s[i] = (sl_placement_service){c->sname[i], 3, 0, 0, SL_PLACEMENT_SPREAD_ZONE, NULL, 0};
    }
    c->o.unbounded = unbounded;
}

static uint64_t g_fold(uint64_t h, uint64_t v)
{
    return sl_mix64(h ^ v) + 0x9e3779b97f4a7c15ull;
}

/* Replicas by reason over all cases, printed with PL_GOLDEN_PRINT
 * to show that the cases reach every reason. */
static size_t g_reasons[SL_PLACEMENT_REASON_COUNT];

static uint64_t g_digest(const gcase *c)
{
    sl_placement *p = NULL;
    assert_int_equal(sl_placement_compute(c->m, c->nm, c->s, c->ns, &c->o, &p), 0);
    uint64_t h = g_fold(0, c->nm * 1000003 + c->ns);
    for (size_t s = 0; s < c->ns; s++)
        for (uint32_t i = 0; i < c->s[s].replicas; i++) {
            sl_placement_reason why = sl_placement_reason_of(p, s, i);
            g_reasons[why]++;
            h = g_fold(h, (uint64_t)(uint32_t)sl_placement_node(p, s, i) << 8 | why);
        }
    for (size_t n = 0; n < c->nm; n++)
        h = g_fold(h, (uint64_t)sl_placement_load(p, n) << 32 | sl_placement_bound(p, n));
    h = g_fold(h, sl_placement_unplaced(p));
    sl_placement_free(p);
    return h;
}

/* Recorded from commit 21ebeb5 (main before issue 16): cases 0..GN_RANDOM-1
 * are g_random(seed 1000 + i), then the benchmark bounded and unbounded. */
/* Replicas over all cases, by reason (placed or why not):
 *   placed: 149899
 *   no eligible member (alive or suspect): 16744
 *   fewer eligible members than replicas: 416
 *   no member has enough free cpu or memory: 185
 *   every member that fits is at its load bound: 218
 */
static const uint64_t golden[GN_RANDOM + 2] = {
    0x29a618ebdc641dcbull, /* 0: 464 members, 405 services, eps 100 */
    0xa6ecb8af7136a14eull, /* 1: 49 members, 18 services, eps 100 */
    0xc48ea7b58ed9922bull, /* 2: 676 members, 1479 services, eps 0 */
    0x0ea7e590ae8c13adull, /* 3: 2 members, 12 services, eps 0 unbounded */
    0xb5e7683e6a08942cull, /* 4: 2 members, 1 services, eps 500 */
    0x90a7e3514d956860ull, /* 5: 12 members, 30 services, eps 100 unbounded */
    0x454c3ecb228422f0ull, /* 6: 1105 members, 904 services, eps 100 */
    0xb05b3c1b8aa7d546ull, /* 7: 1318 members, 758 services, eps 100 unbounded */
    0xc6f3782a7aada4d0ull, /* 8: 2 members, 2 services, eps 0 */
    0x54a0faa972cac2f2ull, /* 9: 194 members, 736 services, eps 1 unbounded */
    0xb01b5db6628e815eull, /* 10: 19 members, 3 services, eps 250 */
    0xaafe2c2d0abf0b32ull, /* 11: 217 members, 832 services, eps 250 unbounded */
    0x8da32e1f83c56096ull, /* 12: 1008 members, 132 services, eps 1000 */
    0xc174aba78ac1b3f5ull, /* 13: 12 members, 11 services, eps 0 */
    0x8e39a64da1c21ec5ull, /* 14: 1 members, 4 services, eps 250 */
    0x0534ed87bc9f006cull, /* 15: 1425 members, 701 services, eps 250 */
    0x3c0a598b4107c55full, /* 16: 352 members, 248 services, eps 10000 */
    0x7801121fd50c2c8eull, /* 17: 398 members, 47 services, eps 500 */
    0x8052c47e6a1d3cadull, /* 18: 2 members, 12 services, eps 1 */
    0xebcabb28da9ea0afull, /* 19: 164 members, 219 services, eps 0 */
    0x0188caf39e79d4c3ull, /* 20: 1 members, 10 services, eps 1 */
    0xf8b7ac8af5e7b451ull, /* 21: 7 members, 4 services, eps 250 */
    0xfe27e775233e748eull, /* 22: 2 members, 14 services, eps 250 unbounded */
    0x4d81ed9a11a86a93ull, /* 23: 2 members, 7 services, eps 250 unbounded */
    0xaa9ba1d877fd30a2ull, /* 24: 3 members, 14 services, eps 1 */
    0xfd36995354342b92ull, /* 25: 120 members, 69 services, eps 1 */
    0x94975b29ba9b09a2ull, /* 26: 10 members, 22 services, eps 0 */
    0xa1201292796fb3f0ull, /* 27: 1602 members, 16 services, eps 250 unbounded */
    0xb6aeb86b842f4b7cull, /* 28: 242 members, 163 services, eps 0 */
    0x75fb595b3f42dd0cull, /* 29: 55 members, 18 services, eps 250 */
    0x73caa96f871d4b14ull, /* 30: 10 members, 10 services, eps 0 */
    0x3272787e067c8256ull, /* 31: 3 members, 4 services, eps 0 */
    0xd9f4f10eb5a009b5ull, /* 32: 2 members, 15 services, eps 1000 */
    0xbe50d446738676a7ull, /* 33: 2 members, 6 services, eps 0 unbounded */
    0x3a4d3367eb7a7e7full, /* 34: 196 members, 106 services, eps 0 unbounded */
    0x50e3bbc61dc3e50cull, /* 35: 2 members, 4 services, eps 500 */
    0x6c21eceecca52a87ull, /* 36: 3 members, 3 services, eps 250 unbounded */
    0x07bc7a2c537340c9ull, /* 37: 1 members, 3 services, eps 500 */
    0xddf640e6985b7424ull, /* 38: 112 members, 54 services, eps 500 */
    0x8e2569aa18349f86ull, /* 39: 1453 members, 688 services, eps 0 unbounded */
    0xe384d2d51d788ba6ull, /* 40: 3 members, 6 services, eps 1000 */
    0x224ec62c7a787e78ull, /* 41: 7 members, 10 services, eps 500 */
    0x30deaaf3f93b605aull, /* 42: 83 members, 173 services, eps 1 */
    0x7db97fde93ff9434ull, /* 43: 10 members, 18 services, eps 250 */
    0xb517c3423a9f27f8ull, /* 44: 1055 members, 947 services, eps 500 */
    0x96feba7c50e48349ull, /* 45: 8 members, 7 services, eps 100 unbounded */
    0xe90e61b9228ade2bull, /* 46: 2 members, 3 services, eps 250 */
    0x297bc7c75d478585ull, /* 47: 241 members, 212 services, eps 250 unbounded */
    0x061c15ec64e4dcf3ull, /* 48: 1312 members, 762 services, eps 250 unbounded */
    0x14b1c305ad2fa123ull, /* 49: 1653 members, 604 services, eps 250 */
    0x8d7192cafcdd13e3ull, /* 50: 1 members, 6 services, eps 250 */
    0xe7ef64f3080231c3ull, /* 51: 389 members, 109 services, eps 1000 */
    0xda73799fabc4284eull, /* 52: 38 members, 75 services, eps 500 unbounded */
    0x103d84c17d8f09f7ull, /* 53: 12 members, 6 services, eps 0 */
    0x05d6512b6eaf356dull, /* 54: 7 members, 5 services, eps 1 unbounded */
    0x8118914d6bda1b93ull, /* 55: 2 members, 7 services, eps 250 */
    0x77368a20e13f8091ull, /* 56: 14 members, 12 services, eps 0 */
    0xe86d6eabe74412c3ull, /* 57: 1004 members, 996 services, eps 10000 unbounded */
    0x8a1c28e4290847b2ull, /* 58: 284 members, 311 services, eps 10000 */
    0x3bb41eb0dc0c2110ull, /* 59: 3 members, 4 services, eps 10000 unbounded */
    0x2e69634f483c370full, /* 60: 586 members, 501 services, eps 1 */
    0x7482c35b09080558ull, /* 61: 2 members, 16 services, eps 500 */
    0x632cd10ada6697a1ull, /* 62: 16 members, 7 services, eps 250 */
    0x9164e4234c08ba81ull, /* 63: 9 members, 25 services, eps 250 unbounded */
    0xb2db6e66267c4813ull, /* 64: 60 members, 47 services, eps 500 */
    0x86e5bb4e12998422ull, /* 65: 1 members, 7 services, eps 10000 unbounded */
    0x49ff468c2978e733ull, /* 66: 247 members, 71 services, eps 10000 unbounded */
    0x7a5ca7a11e9e32bbull, /* 67: 41 members, 16 services, eps 250 */
    0xa0198e282977931bull, /* 68: 65 members, 127 services, eps 100 unbounded */
    0x23d70e532df64c0aull, /* 69: 2 members, 6 services, eps 1000 */
    0x38d22025d8504643ull, /* 70: 893 members, 1119 services, eps 250 unbounded */
    0x5127e4ce5a3dc4f3ull, /* 71: 3 members, 5 services, eps 1000 */
    0x50c5c9936de9db98ull, /* 72: 478 members, 213 services, eps 100 */
    0x772978d581d0e8c4ull, /* 73: 1670 members, 598 services, eps 100 unbounded */
    0x50f4be400b7debf3ull, /* 74: 3 members, 7 services, eps 500 */
    0x34037bef489621deull, /* 75: 205 members, 792 services, eps 10000 */
    0x1b75b29cafe30a14ull, /* 76: 217 members, 642 services, eps 10000 */
    0x336d9a1eda7357f1ull, /* 77: 29 members, 33 services, eps 100 */
    0xbceb1b14543176d6ull, /* 78: 869 members, 211 services, eps 1 */
    0xf5d0a8aca9d33b46ull, /* 79: 358 members, 872 services, eps 500 */
    0xebe21a3dc74f0679ull, /* 80: 2 members, 5 services, eps 100 */
    0x3d0272811eae8c69ull, /* 81: 1183 members, 845 services, eps 100 */
    0x0ce9b9a40ffeb288ull, /* 82: 7 members, 11 services, eps 10000 unbounded */
    0x0166b274c7cae26dull, /* 83: 279 members, 303 services, eps 250 unbounded */
    0xd0992d449e3f5d5full, /* 84: 2 members, 6 services, eps 0 */
    0x2996f2726ed9f6a3ull, /* 85: 2 members, 1 services, eps 100 */
    0xfb73f6d377555d57ull, /* 86: 229 members, 32 services, eps 0 unbounded */
    0x110f508edcfa08ffull, /* 87: 606 members, 833 services, eps 0 */
    0x1625fd8c1bb3342dull, /* 88: 141 members, 281 services, eps 500 */
    0x808853c92e864542ull, /* 89: 774 members, 1291 services, eps 100 */
    0x40a9962bbfe5aee0ull, /* 90: 1 members, 1 services, eps 1000 */
    0xa81dce1b11a3a1d8ull, /* 91: 2 members, 3 services, eps 10000 unbounded */
    0x026eda4063c5bd07ull, /* 92: 180 members, 168 services, eps 1000 */
    0x5f14e751776dc8d7ull, /* 93: 111 members, 5 services, eps 10000 */
    0x97aa7b18011d0e13ull, /* 94: 1 members, 8 services, eps 250 unbounded */
    0x99de5fb58a6a40ddull, /* 95: 36 members, 36 services, eps 1 */
    0x7b141a20bd3b4bb5ull, /* 96: 3 members, 9 services, eps 250 */
    0xdc65f5be37b7e3deull, /* 97: 342 members, 88 services, eps 100 unbounded */
    0xdb2ca617f2acbc93ull, /* 98: 397 members, 263 services, eps 250 unbounded */
    0xa31d4994d476b587ull, /* 99: 47 members, 20 services, eps 1000 */
    0x3082ff30afe05906ull, /* 100: 3 members, 16 services, eps 0 */
    0x4480f7d284d8cb5bull, /* 101: 1 members, 6 services, eps 1000 unbounded */
    0xb33ec609415de638ull, /* 102: 10 members, 2 services, eps 10000 unbounded */
    0x1dbf02e84fb38e24ull, /* 103: 1368 members, 730 services, eps 250 */
    0xacc55e2ef0897213ull, /* 104: 633 members, 366 services, eps 10000 */
    0xda089caf878659b4ull, /* 105: 1 members, 3 services, eps 10000 */
    0x3edfb6e0e703be9bull, /* 106: 1675 members, 597 services, eps 250 */
    0xde77c2fa583e2909ull, /* 107: 204 members, 671 services, eps 1000 */
    0xb3339bbd9e6c2629ull, /* 108: 1540 members, 649 services, eps 1 */
    0x720ae77531803132ull, /* 109: 26 members, 49 services, eps 10000 */
    0xfcf7a1125744f537ull, /* 110: 397 members, 604 services, eps 0 */
    0x039714b78ddab9d0ull, /* 111: 209 members, 141 services, eps 500 */
    0x0679355963e6e650ull, /* 112: 3 members, 8 services, eps 100 */
    0x47480536e53b937bull, /* 113: 1925 members, 519 services, eps 250 */
    0xa57ec9a64ba5aa46ull, /* 114: 3 members, 4 services, eps 1000 */
    0x10cd24962a090bc7ull, /* 115: 52 members, 164 services, eps 10000 unbounded */
    0xbc1f34f9d67f79d3ull, /* 116: 1 members, 4 services, eps 1000 */
    0x183eba57741a5771ull, /* 117: 38 members, 128 services, eps 1000 unbounded */
    0x0edf8352dbc871f9ull, /* 118: 507 members, 574 services, eps 100 */
    0x9add6371c90715cfull, /* 119: 1863 members, 536 services, eps 0 unbounded */
    0xeac39568d853ed82ull, /* 120: 1000 members, 10000 services, eps 250 */
    0x4bed1daf95c7ff51ull, /* 121: 1000 members, 10000 services, eps 250 unbounded */
};

static void test_golden(void **state)
{
    (void)state;
    bool print = getenv("PL_GOLDEN_PRINT") != NULL;
    size_t bad = 0;
    for (size_t i = 0; i < GN_RANDOM + 2; i++) {
        gcase c;
        memset(&c, 0, sizeof c);
        if (i < GN_RANDOM)
            g_random(&c, 1000 + i);
        else
            g_bench(&c, i == GN_RANDOM + 1);
        uint64_t h = g_digest(&c);
        fflush(stdout);
        if (print) {
            printf("    0x%016llxull, /* %zu: %zu members, %zu services, eps %u%s */\n",
                   (unsigned long long)h, i, c.nm, c.ns, (unsigned)c.o.eps_milli,
                   c.o.unbounded ? " unbounded" : "");
        } else if (h != golden[i]) {
            fprintf(stderr, "golden case %zu (%zu members, %zu services): %016llx, want %016llx\n",
                    i, c.nm, c.ns, (unsigned long long)h, (unsigned long long)golden[i]);
            bad++;
        }
        g_free(&c);
    }
    if (print)
        for (int k = 0; k < SL_PLACEMENT_REASON_COUNT; k++)
            printf("    /* %s: %zu */\n", sl_placement_reason_name((sl_placement_reason)k),
                   g_reasons[k]);
    assert_int_equal(bad, 0);
}

/* The machine-specific paths (AVX-512 draws and logs) give the bits of the
 * portable ones; the golden digests above run whichever path this machine
 * takes (building with -DSL_PLACEMENT_NO_SIMD forces the portable one). */
static void test_fast_paths(void **state)
{
    (void)state;
    sl_rng r;
    sl_rng_seed(&r, 77);
    uint64_t hash[64], gold[64], xcut[SL__PLACEMENT_DRAW_CLASSES], xa[64], xb[64];
    uint8_t cls[64];
    uint32_t w[64];
    uint64_t sa[64], sb[64];
    for (int round = 0; round < 2000; round++) {
        uint64_t key = sl_rng_next(&r);
        for (int j = 0; j < 64; j++) {
            hash[j] = sl_rng_next(&r);
            gold[j] = hash[j] * 0x9e3779b97f4a7c15ull;
            cls[j] = (uint8_t)sl_rng_below(&r, SL__PLACEMENT_DRAW_CLASSES);
            w[j] = 1 + (uint32_t)sl_rng_below(&r, round % 2 ? 4 : SL_PLACEMENT_WEIGHT_MAX);
        }
        for (int k = 0; k < SL__PLACEMENT_DRAW_CLASSES; k++)
            xcut[k] = sl_rng_below(&r, 1ull << 53) + (round % 3 == 0 ? 1ull << 52 : 0);
        uint64_t ma = sl__placement_draw_block(true, key, hash, gold, cls, xcut, xa, 64);
        uint64_t mb = sl__placement_draw_block(false, key, hash, gold, cls, xcut, xb, 64);
        assert_true(ma == mb);
        assert_memory_equal(xa, xb, sizeof xa);
        for (int j = 0; j < 64; j++) {
            assert_true(xa[j] == sl__placement_pair_x(key, hash[j]));
            if (round % 5 == 0) /* small draws too: every top bit */
                xa[j] = 1 + (sl_rng_next(&r) >> (11 + sl_rng_below(&r, 53)));
        }
        size_t n = 1 + (size_t)sl_rng_below(&r, 64);
        sl__placement_score_many(true, xa, w, sa, n);
        sl__placement_score_many(false, xa, w, sb, n);
        for (size_t j = 0; j < n; j++) {
            assert_true(sa[j] == sb[j]);
            assert_true(sa[j] == sl__placement_score_x(xa[j], w[j]));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_fast_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
