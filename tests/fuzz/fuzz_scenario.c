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
 *   - the runtime's statements: `via` names a node that exists by then,
 *     every service name follows the rule and is unique in the catalog,
 *     replica counts are within their bounds, jitters at most their means,
 *     and `runtime` is on when one of them appears (off, the delays are
 *     at their defaults);
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

static bool name_ok(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == 0 || n >= cap || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

static void check_action(const sl_sim_action *a, long avail)
{
    bool wants_nodes = a->type == SL_SIM_CRASH || a->type == SL_SIM_PAUSE ||
                       a->type == SL_SIM_LEAVE || a->type == SL_SIM_RESTART ||
                       a->type == SL_SIM_LOSS || a->type == SL_SIM_DRAIN;
    bool named = (a->type >= SL_SIM_DEPLOY && a->type <= SL_SIM_FIX_START) ||
                 a->type == SL_SIM_UNHEALTHY || a->type == SL_SIM_HEALTHY;
    bool via = a->type == SL_SIM_DEPLOY || a->type == SL_SIM_SCALE || a->type == SL_SIM_RM;
    FUZZ_CHECK((unsigned)a->type <= SL_SIM_ACTION_LAST);
    FUZZ_CHECK(named ? name_ok(a->service, sizeof a->service) : a->service[0] == 0);
    FUZZ_CHECK(via ? a->via >= 0 && a->via < avail : a->via == 0);
    FUZZ_CHECK(a->replicas <= 1000);
    FUZZ_CHECK(a->type == SL_SIM_DEPLOY ? a->version <= SL_SIM_VERSION_MAX : a->version == 0);
    FUZZ_CHECK(a->type != SL_SIM_DEPLOY || a->replicas >= 1);
    /* A service's behaviour change may name nodes (`on SET`) or not. */
    bool nodes_optional = a->type == SL_SIM_FAIL_START || a->type == SL_SIM_FIX_START ||
                          a->type == SL_SIM_UNHEALTHY || a->type == SL_SIM_HEALTHY;
    check_set(&a->nodes, avail, !wants_nodes);
    FUZZ_CHECK(wants_nodes || nodes_optional || a->nodes.n == 0);
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
            /* Sorted by time, then line; one `stall` line expands into
             * several pauses, which may share a time. */
            FUZZ_CHECK(prev->at_ms < a->at_ms || (prev->at_ms == a->at_ms && prev->line <= a->line));
        }
        FUZZ_CHECK(a->at_ms <= sc->run_ms && a->line >= 1);
        check_action(a, avail);
        avail += a->count;
    }
    FUZZ_CHECK(avail == sc->max_nodes);
    bool runtime = sc->nservices > 0;
    for (size_t i = 0; i < sc->nactions; i++)
        runtime = runtime || sc->actions[i].type >= SL_SIM_DEPLOY;
    FUZZ_CHECK(!runtime || sc->runtime);
    /* Off: no delay was given either, so both are at their defaults. */
    FUZZ_CHECK(sc->runtime || (sc->startup_ms == 500 && sc->startup_jitter_ms == 200 &&
                               sc->stopping_ms == 100 && sc->stopping_jitter_ms == 0));
    FUZZ_CHECK(sc->startup_jitter_ms <= sc->startup_ms && sc->startup_ms <= 3600000);
    FUZZ_CHECK(sc->stopping_jitter_ms <= sc->stopping_ms && sc->stopping_ms <= 3600000);
    FUZZ_CHECK(sc->nservices <= SL_SIM_SERVICES_MAX && (sc->nservices == 0) == !sc->services);
    for (size_t i = 0; i < sc->nservices; i++) {
        const sl_sim_service *s = &sc->services[i];
        FUZZ_CHECK(name_ok(s->name, sizeof s->name) && s->line >= 1);
        FUZZ_CHECK(s->replicas >= 1 && s->replicas <= 1000);
        for (size_t j = 0; j < i && sc->nservices <= 1000; j++)
            FUZZ_CHECK(strcmp(s->name, sc->services[j].name) != 0);
    }
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
               a->jitter_us == b->jitter_us && a->runtime == b->runtime &&
               a->nservices == b->nservices && a->startup_ms == b->startup_ms &&
               a->startup_jitter_ms == b->startup_jitter_ms && a->stopping_ms == b->stopping_ms &&
               a->stopping_jitter_ms == b->stopping_jitter_ms);
    for (size_t i = 0; i < a->nservices; i++)
        FUZZ_CHECK(strcmp(a->services[i].name, b->services[i].name) == 0 &&
                   a->services[i].replicas == b->services[i].replicas);
    for (size_t i = 0; i < a->nactions; i++)
        FUZZ_CHECK(a->actions[i].at_ms == b->actions[i].at_ms &&
                   a->actions[i].line == b->actions[i].line &&
                   a->actions[i].type == b->actions[i].type &&
                   a->actions[i].nodes.n == b->actions[i].nodes.n &&
                   a->actions[i].ngroups == b->actions[i].ngroups &&
                   a->actions[i].via == b->actions[i].via &&
                   a->actions[i].replicas == b->actions[i].replicas &&
                   strcmp(a->actions[i].service, b->actions[i].service) == 0);
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
        {"runtime", "nodes 6\nzones 2\nservice web replicas 3 cpu 500 mem 256 spread nodes\n"
                    "services 4 replicas 2\nstartup 1s 300ms\nstopping 200ms 50ms\n"
                    "at 2s deploy api replicas 2 via n1\nat 3s scale web 5 via n2\n"
                    "at 4s rm s1 via n0\nat 5s fail-start api\nat 6s fix-start api\n"
                    "at 7s join 1\nat 8s drain n5-n6\nat 9s crash n3\nrun 60s\n"
                    "expect services_at_count_within <= 20s\nexpect lost_writes == 0\n"
                    "expect min_running >= 1\nexpect catalog_converged_within <= 5s\n"},
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
                   sc.expects == NULL && sc.nservices == 0 && sc.services == NULL);
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
