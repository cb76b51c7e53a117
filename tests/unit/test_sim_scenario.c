/* Tests of the starling-sim scenario parser: the documented example parses
 * to what it says, and each kind of mistake gets a message naming the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../sim/scenario.h"

static const char example[] =
    "nodes 200                 # n0..n199 start at t=0 and join through n0 (first statement)\n"
    "seed 7                    # default 1; --seed overrides\n"
    "profile lan               # lan | local | wan (default lan)\n"
    "latency 1ms 0.5ms         # one-way base latency and uniform jitter\n"
    "loss 0.01                 # loss probability on every link\n"
    "zones 3                   # node i is in zone z(i mod 3)\n"
    "seal off                  # packets and states sealed with a cluster key (default on)\n"
    "pushpull reply-before-merge\n"
    "at 30s crash n5 n7-n9     # gone at once, says nothing (a machine lost)\n"
    "at 30s pause n10 4s       # stalls 4 s (no receive, no timers), then resumes\n"
    "at 40s leave n11          # graceful leave\n"
    "at 50s restart n5         # same name, fresh process, joins again\n"
    "at 60s partition n0-n99 | n100-n199   # two-way cut between the groups\n"
    "at 60s cut n1 > n2        # one-way: packets from n1 to n2 are lost\n"
    "at 60s loss n3 0.3        # loss on every link of n3\n"
    "at 60s join 20            # 20 new nodes, next free names, join through a random live node\n"
    "at 120s heal              # lift every partition, cut and per-node loss\n"
    "run 300s                  # simulated time (last statement)\n";

static void parses_the_documented_example(void **state)
{
    (void)state;
    sl_sim_scenario sc;
    char err[256];
    assert_int_equal(sl_sim_scenario_parse(example, "ex.scn", &sc, err, sizeof err), 0);
    assert_int_equal(sc.nodes, 200);
    assert_int_equal(sc.max_nodes, 220);
    assert_true(sc.seed_given);
    assert_int_equal(sc.seed, 7);
    assert_string_equal(sc.profile, "lan");
    assert_int_equal(sc.latency_us, 1000);
    assert_int_equal(sc.jitter_us, 500);
    assert_true(sc.loss > 0.0099 && sc.loss < 0.0101);
    assert_int_equal(sc.zones, 3);
    assert_false(sc.sealed);
    assert_true(sc.pp_reply_before_merge);
    assert_int_equal(sc.run_ms, 300000);
    assert_int_equal(sc.nactions, 9);

    const sl_sim_action *a = sc.actions;
    assert_int_equal(a[0].type, SL_SIM_CRASH);
    assert_int_equal(a[0].at_ms, 30000);
    assert_int_equal(a[0].nodes.n, 2);
    assert_int_equal(a[0].nodes.r[1].lo, 7);
    assert_int_equal(a[0].nodes.r[1].hi, 9);
    assert_true(sl_sim_set_has(&a[0].nodes, 8));
    assert_false(sl_sim_set_has(&a[0].nodes, 6));
    assert_int_equal(a[1].type, SL_SIM_PAUSE);
    assert_int_equal(a[1].duration_ms, 4000);
    assert_int_equal(a[2].type, SL_SIM_LEAVE);
    assert_int_equal(a[3].type, SL_SIM_RESTART);
    assert_int_equal(a[4].type, SL_SIM_PARTITION);
    assert_int_equal(a[4].ngroups, 2);
    assert_int_equal(a[4].groups[1].r[0].lo, 100);
    assert_int_equal(a[4].groups[1].r[0].hi, 199);
    assert_int_equal(a[5].type, SL_SIM_CUT);
    assert_int_equal(a[5].groups[0].r[0].lo, 1);
    assert_int_equal(a[5].groups[1].r[0].lo, 2);
    assert_int_equal(a[6].type, SL_SIM_LOSS);
    assert_true(a[6].loss > 0.29 && a[6].loss < 0.31);
    assert_int_equal(a[7].type, SL_SIM_JOIN);
    assert_int_equal(a[7].count, 20);
    assert_int_equal(a[8].type, SL_SIM_HEAL);
    assert_int_equal(a[8].at_ms, 120000);
    sl_sim_scenario_deinit(&sc);
}

static void defaults_sorting_and_expectations(void **state)
{
    (void)state;
    static const char text[] = "nodes 5\n"
                               "at 2m heal\n"
                               "at 1.5s crash n1\n"
                               "at 1500ms cut n0>n2 n3\n"
                               "partition_is_not_a_statement_here_but_comment # x\n";
    sl_sim_scenario sc;
    char err[256];
    assert_int_equal(sl_sim_scenario_parse(text, "t", &sc, err, sizeof err), -1);
    assert_string_equal(err, "t:5: expected a statement (nodes, seed, profile, latency, loss, "
                             "zones, seal, pushpull, service, services, startup, stopping, at, "
                             "run, expect), got "
                             "'partition_is_not_a_statement_here_but_comment'");

    static const char ok[] = "nodes 5\n"
                             "at 2m heal\n"
                             "at 1.5s crash n1\n"
                             "at 1500ms cut n0>n2 n3\n"
                             "expect detect_all <= 20s\n"
                             "run 3m\n"
                             "expect converged\n"
                             "expect false_positives == 0\n";
    assert_int_equal(sl_sim_scenario_parse(ok, "t", &sc, err, sizeof err), 0);
    assert_int_equal(sc.seed, 1);
    assert_false(sc.seed_given);
    assert_string_equal(sc.profile, "lan");
    assert_int_equal(sc.zones, 0);
    assert_true(sc.sealed);
    assert_false(sc.pp_reply_before_merge); /* the default: answered at delivery */
    assert_int_equal(sc.nactions, 3);
    assert_int_equal(sc.actions[0].type, SL_SIM_CRASH); /* same time: line order */
    assert_int_equal(sc.actions[1].type, SL_SIM_CUT);
    assert_int_equal(sc.actions[1].groups[1].n, 2);
    assert_int_equal(sc.actions[2].type, SL_SIM_HEAL);
    assert_int_equal(sc.actions[2].at_ms, 120000);
    assert_int_equal(sc.nexpects, 3);
    assert_int_equal(sc.expects[0].metric, SL_SIM_M_DETECT_ALL);
    assert_int_equal(sc.expects[0].op, SL_SIM_OP_LE);
    assert_true(sc.expects[0].value == 20.0);
    assert_string_equal(sc.expects[0].text, "expect detect_all <= 20s");
    assert_int_equal(sc.expects[1].metric, SL_SIM_M_CONVERGED);
    assert_int_equal(sc.expects[2].op, SL_SIM_OP_EQ);
    sl_sim_scenario_deinit(&sc);
}

static void durations(void **state)
{
    (void)state;
    uint64_t us;
    assert_int_equal(sl_sim_parse_duration_us("1ms", &us), 0);
    assert_int_equal(us, 1000);
    assert_int_equal(sl_sim_parse_duration_us("0.5ms", &us), 0);
    assert_int_equal(us, 500);
    assert_int_equal(sl_sim_parse_duration_us("2m", &us), 0);
    assert_int_equal(us, 120000000);
    assert_int_equal(sl_sim_parse_duration_us("0.001s", &us), 0);
    assert_int_equal(us, 1000);
    assert_int_equal(sl_sim_parse_duration_us("5", &us), -1);
    assert_int_equal(sl_sim_parse_duration_us("s", &us), -1);
    assert_int_equal(sl_sim_parse_duration_us("1.s", &us), -1);
    assert_int_equal(sl_sim_parse_duration_us("-1s", &us), -1);
    assert_int_equal(sl_sim_parse_duration_us("3h", &us), -1);
    assert_int_equal(sl_sim_parse_duration_us("99999999999999999999s", &us), -1);
}

/* Each bad scenario and the exact message it must give. */
static const struct {
    const char *text;
    const char *msg;
} bad[] = {
    {"run 10s\n", "f:1: expected 'nodes N' as the first statement, got 'run'"},
    {"", "f:0: expected 'nodes N' as the first statement"},
    {"nodes 0\nrun 1s\n", "f:1: expected a number of nodes from 1 to 1000000, got '0'"},
    {"nodes 3\nat x crash n1\nrun 1s\n", "f:2: expected a time like 30s, got 'x'"},
    {"nodes 3\nat 1s explode n1\nrun 1s\n",
     "f:2: expected crash, pause, leave, restart, partition, cut, loss, join, heal, deploy, scale, "
     "rm, fail-start, fix-start or drain, got 'explode'"},
    {"nodes 3\nat 1s crash\nrun 1s\n",
     "f:2: expected a node like n5 or a range like n3-n7, got end of line"},
    {"nodes 3\nat 1s crash n2-n1\nrun 1s\n",
     "f:2: expected a node range like n3-n7 (low first), got 'n2-n1'"},
    {"nodes 3\nat 1s crash n01\nrun 1s\n",
     "f:2: expected a node like n5 or a range like n3-n7, got 'n01'"},
    {"nodes 3\nat 1s crash n3\nrun 1s\n",
     "f:2: n3 does not exist at 1.000s (3 nodes by then: n0-n2)"},
    {"nodes 3\nat 2s crash n3\nat 1s join 1\nrun 3s\n", NULL}, /* n3 exists by 2s */
    {"nodes 3\nrun 1s\n", NULL},                               /* no action at all */
    {"nodes 3\nat 1s crash n3\nat 2s join 1\nrun 3s\n",
     "f:2: n3 does not exist at 1.000s (3 nodes by then: n0-n2)"},
    {"nodes 3\nat 1s pause n1\nrun 1s\n",
     "f:2: expected a pause duration like 4s, got end of line"},
    {"nodes 3\nat 1s pause n1 1.5ms\nrun 1s\n",
     "f:2: expected a whole number of milliseconds, got '1.5ms'"},
    {"nodes 3\nat 1s partition n0 n1\nrun 1s\n",
     "f:2: expected '|' and another group of nodes, got end of line"},
    {"nodes 3\nat 1s partition n0-n1 | n1-n2\nrun 1s\n",
     "f:2: expected disjoint groups, n1 is in two"},
    {"nodes 3\nat 1s cut n0 > n1 > n2\nrun 1s\n",
     "f:2: expected one '>' between two groups of nodes"},
    {"nodes 3\nat 1s loss n1 1.5\nrun 1s\n",
     "f:2: expected a loss probability between 0 and 1, got '1.5'"},
    {"nodes 3\nat 1s join 0\nrun 1s\n", "f:2: expected a number of nodes to join, got '0'"},
    {"nodes 3\nat 1s heal now\nrun 1s\n", "f:2: expected end of line, got 'now'"},
    {"nodes 3\nat 5s heal\nrun 1s\n", "f:2: expected a time within the run (1.000s), got 5.000s"},
    {"nodes 3\nprofile lan\nprofile wan\nrun 1s\n", "f:3: 'profile' is given twice"},
    {"nodes 3\nprofile fast\nrun 1s\n", "f:2: expected a profile: lan, local or wan, got 'fast'"},
    {"nodes 3\nseal maybe\nrun 1s\n", "f:2: expected seal on or seal off, got 'maybe'"},
    {"nodes 3\nseal on\nseal off\nrun 1s\n", "f:3: 'seal' is given twice"},
    {"nodes 3\nnodes 4\nrun 1s\n", "f:2: 'nodes' is given twice"},
    {"nodes 3\nrun 1s\nat 1s heal\n", "f:3: expected only 'expect' lines after 'run', got 'at'"},
    {"nodes 3\nat 1s heal\n", "f:2: expected 'run TIME' as the last statement"},
    {"nodes 3\nlatency fast\nrun 1s\n",
     "f:2: expected a latency like 1ms (at most 60s), got 'fast'"},
    {"nodes 3\nzones 0\nrun 1s\n", "f:2: expected a number of zones from 1 to 1000, got '0'"},
    {"nodes 3\nseed -4\nrun 1s\n", "f:2: expected a seed (an unsigned integer), got '-4'"},
    {"nodes 3\nrun 1s\nexpect ghosts = 0\n", "f:3: expected one of <= < >= > ==, got '='"},
    {"nodes 3\nrun 1s\nexpect detect_all <= 3\n", "f:3: expected a time like 10s, got '3'"},
    {"nodes 3\nrun 1s\nexpect ghosts <= x\n", "f:3: expected a number, got 'x'"},
    {"nodes 3\nrun 1s\nexpect happiness\n",
     "f:3: expected converged, detect_first, detect_all, leave_seen, false_positives, "
     "false_positives_paused, ghosts, converged_at, live, messages_per_node_per_s, services_back, "
     "min_running_rebalance, duplicates_gone, lost_writes, starts_per_lost or catalog_converged, "
     "got 'happiness'"},
};

static void errors_name_the_line(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sl_sim_scenario sc;
        char err[512];
        int rc = sl_sim_scenario_parse(bad[i].text, "f", &sc, err, sizeof err);
        if (!bad[i].msg) {
            assert_int_equal(rc, 0);
            sl_sim_scenario_deinit(&sc);
            continue;
        }
        if (rc != -1 || strcmp(err, bad[i].msg) != 0)
            fail_msg("case %zu: rc %d, got \"%s\", want \"%s\"", i, rc, err, bad[i].msg);
        assert_int_equal(sc.nactions, 0); /* emptied on error */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_the_documented_example),
        cmocka_unit_test(defaults_sorting_and_expectations),
        cmocka_unit_test(durations),
        cmocka_unit_test(errors_name_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
