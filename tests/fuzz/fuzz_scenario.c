/* libFuzzer target: the simulator's scenario parser (sim/scenario.c) on
 * any text. The input is copied and NUL-terminated (a scenario file with a
 * NUL byte is refused before parsing: sl_sim_scenario_load), and parsed.
 *
 * Properties, beyond ASan, UBSan and LSan:
 *   - a refusal is one message "fuzz.scn:LINE: ..." and leaves the
 *     scenario empty;
 *   - a scenario that parses has 1..SL_SIM_NODES_MAX nodes, a run time, a
 *     known profile, and actions sorted by time, then by line, each within
 *     the run; every node an action names exists by then (the initial
 *     nodes plus the joins before it, which also add up to max_nodes);
 *     ranges run low to high, partitions have two or more disjoint groups
 *     and cuts exactly two; pauses last, losses are probabilities, joins
 *     add someone; every `expect` names a known metric and operator;
 *   - parsing is deterministic: the same text parses the same way twice.
 *
 * Seeds (FUZZ_SEEDS=DIR, kept in tests/fuzz/corpus/scenario/): scenarios
 * using every statement; tests/fuzz/scenario.dict lists the words. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sim/scenario.h"
#include "fuzz.h"

#define INPUT_MAX 65536

static void check_set(const sl_sim_set *s, long avail, bool may_be_empty)
{
    FUZZ_CHECK(may_be_empty || s->n > 0);
    for (size_t k = 0; k < s->n; k++) {
        FUZZ_CHECK(s->r[k].lo >= 0 && s->r[k].lo <= s->r[k].hi);
        FUZZ_CHECK(s->r[k].hi < avail);
    }
}

static bool sets_overlap(const sl_sim_set *a, const sl_sim_set *b)
{
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < b->n; j++)
            if (a->r[i].lo <= b->r[j].hi && b->r[j].lo <= a->r[i].hi)
                return true;
    return false;
}

static void check_action(const sl_sim_action *a, long avail)
{
    bool wants_nodes = a->type == SL_SIM_CRASH || a->type == SL_SIM_PAUSE ||
                       a->type == SL_SIM_LEAVE || a->type == SL_SIM_RESTART ||
                       a->type == SL_SIM_LOSS;
    FUZZ_CHECK((unsigned)a->type <= SL_SIM_HEAL);
    check_set(&a->nodes, avail, !wants_nodes);
    FUZZ_CHECK(wants_nodes || a->nodes.n == 0);
    for (size_t g = 0; g < a->ngroups; g++)
        check_set(&a->groups[g], avail, false);
    switch (a->type) {
    case SL_SIM_PARTITION:
        FUZZ_CHECK(a->ngroups >= 2);
        for (size_t g = 0; g < a->ngroups; g++)
            for (size_t h = 0; h < g; h++)
                FUZZ_CHECK(!sets_overlap(&a->groups[g], &a->groups[h]));
        break;
    case SL_SIM_CUT: FUZZ_CHECK(a->ngroups == 2); break;
    default: FUZZ_CHECK(a->ngroups == 0); break;
    }
    if (a->type == SL_SIM_PAUSE)
        FUZZ_CHECK(a->duration_ms > 0);
    if (a->type == SL_SIM_LOSS)
        FUZZ_CHECK(a->loss >= 0.0 && a->loss <= 1.0);
    FUZZ_CHECK(a->type == SL_SIM_JOIN ? a->count > 0 : a->count == 0);
}

static void check_scenario(const sl_sim_scenario *sc)
{
    FUZZ_CHECK(sc->nodes >= 1 && sc->nodes <= SL_SIM_NODES_MAX);
    FUZZ_CHECK(sc->max_nodes >= sc->nodes && sc->max_nodes <= SL_SIM_NODES_MAX);
    FUZZ_CHECK(sc->run_ms > 0);
    FUZZ_CHECK(strcmp(sc->profile, "lan") == 0 || strcmp(sc->profile, "local") == 0 ||
               strcmp(sc->profile, "wan") == 0);
    FUZZ_CHECK(sc->loss >= 0.0 && sc->loss <= 1.0);
    FUZZ_CHECK(sc->zones >= 0 && sc->zones <= 1000);
    FUZZ_CHECK(sc->nactions == 0 || sc->actions);
    long avail = sc->nodes;
    for (size_t i = 0; i < sc->nactions; i++) {
        const sl_sim_action *a = &sc->actions[i];
        if (i > 0) {
            const sl_sim_action *prev = &sc->actions[i - 1];
            FUZZ_CHECK(prev->at_ms < a->at_ms || (prev->at_ms == a->at_ms && prev->line < a->line));
        }
        FUZZ_CHECK(a->at_ms <= sc->run_ms && a->line >= 1);
        check_action(a, avail);
        avail += a->count;
    }
    FUZZ_CHECK(avail == sc->max_nodes);
    for (size_t i = 0; i < sc->nexpects; i++) {
        const sl_sim_expect *e = &sc->expects[i];
        FUZZ_CHECK((unsigned)e->metric < SL_SIM_M__COUNT && (unsigned)e->op <= SL_SIM_OP_EQ);
        FUZZ_CHECK(memchr(e->text, 0, sizeof e->text) != NULL && e->line >= 1);
        FUZZ_CHECK(!isnan(e->value));
    }
}

/* The fields two parses of one text must agree on. */
static void check_same(const sl_sim_scenario *a, const sl_sim_scenario *b)
{
    FUZZ_CHECK(a->nodes == b->nodes && a->max_nodes == b->max_nodes && a->seed == b->seed &&
               a->run_ms == b->run_ms && a->nactions == b->nactions && a->nexpects == b->nexpects &&
               a->sealed == b->sealed && a->latency_us == b->latency_us &&
               a->jitter_us == b->jitter_us);
    for (size_t i = 0; i < a->nactions; i++)
        FUZZ_CHECK(a->actions[i].at_ms == b->actions[i].at_ms &&
                   a->actions[i].line == b->actions[i].line &&
                   a->actions[i].type == b->actions[i].type &&
                   a->actions[i].nodes.n == b->actions[i].nodes.n &&
                   a->actions[i].ngroups == b->actions[i].ngroups);
}

static void write_seeds(const char *dir)
{
    static const struct {
        const char *name, *text;
    } seeds[] = {
        {"crash", "nodes 10\nseed 3\nprofile local\nlatency 1ms 0.5ms\nloss 0.01\n"
                  "at 5s crash n3 n5-n7\nrun 60s\nexpect detect_all <= 20s\n"
                  "expect false_positives == 0\n"},
        {"everything",
         "# every statement\nnodes 20\nzones 3\nseal off\nprofile wan\n"
         "at 1s pause n1 2s\nat 2s leave n2\nat 3s restart n3\n"
         "at 4s partition n0-n4 | n5-n9|n10-n19\nat 5s cut n1 > n2\nat 6s loss n3 0.3\n"
         "at 7s join 5\nat 8s crash n24\nat 9s heal\nrun 2m\nexpect converged\n"
         "expect live >= 19\nexpect messages_per_node_per_s < 100\n"},
        {"unsorted", "nodes 3\nat 20s join 2\nat 10s crash n1\nat 30s crash n4\nat 20s heal\n"
                     "run 40s\nexpect ghosts == 0\nexpect converged_at <= 35s\n"},
        {"bad", "nodes 5\nat soon crash n1\nrun 10s\n"},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++)
        fuzz_write_seed(dir, seeds[i].name, NULL, 0, (const uint8_t *)seeds[i].text,
                        strlen(seeds[i].text));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *dir = getenv("FUZZ_SEEDS");
    if (dir && *dir)
        write_seeds(dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_MAX)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = 0;
    sl_sim_scenario sc, again;
    char err[256], err2[256];
    int rc = sl_sim_scenario_parse(text, "fuzz.scn", &sc, err, sizeof err);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(strncmp(err, "fuzz.scn:", 9) == 0 && memchr(err, 0, sizeof err));
        FUZZ_CHECK(sc.nactions == 0 && sc.actions == NULL && sc.nexpects == 0 &&
                   sc.expects == NULL);
    } else {
        check_scenario(&sc);
    }
    int rc2 = sl_sim_scenario_parse(text, "fuzz.scn", &again, err2, sizeof err2);
    FUZZ_CHECK(rc2 == rc);
    if (rc == 0)
        check_same(&sc, &again);
    else
        FUZZ_CHECK(strcmp(err, err2) == 0);
    sl_sim_scenario_deinit(&sc);
    sl_sim_scenario_deinit(&again);
    free(text);
    return 0;
}
