/* Tests of the starling-sim scenario parser: the documented example parses
 * to what it says, and each kind of mistake gets a message naming the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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
    assert_string_equal(
        err, "t:5: expected a statement (nodes, seed, profile, latency, loss, "
             "zones, seal, pushpull, lifeguard, seeds, service, services, startup, stopping, at, "
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

static void runtime_statements(void **state)
{
    (void)state;
    static const char text[] = "nodes 10\n"
                               "service web replicas 3 spread nodes mem 256 cpu 500\n"
                               "service Db.1_x-y replicas 1000\n"
                               "services 3 replicas 2\n"
                               "service last replicas 1 cpu 0\n"
                               "startup 2s 1s\n"
                               "stopping 250ms\n"
                               "at 5s deploy api replicas 4 via n3\n"
                               "at 6s scale web 0 via n9\n"
                               "at 7s rm Db.1_x-y via n0\n"
                               "at 8s fail-start web\n"
                               "at 9s fix-start web\n"
                               "at 10s drain n1 n4-n5\n"
                               "at 11s deploy api replicas 4 version 7 via n2\n"
                               "run 20s\n"
                               "expect services_at_count_within <= 10s\n"
                               "expect min_running >= 1\n"
                               "expect duplicates_gone_within <= 5s\n"
                               "expect lost_writes == 0\n"
                               "expect starts_per_lost <= 1.5\n"
                               "expect catalog_converged_within <= 2s\n"
                               "expect duplicates_gone_within 7s\n"
                               "expect writes_running_within 4500ms\n";
    sl_sim_scenario sc;
    char err[256];
    if (sl_sim_scenario_parse(text, "rt", &sc, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_true(sc.runtime);
    assert_int_equal(sc.nservices, 6);
    const sl_sim_service *s = sc.services;
    assert_string_equal(s[0].name, "web");
    assert_int_equal(s[0].replicas, 3);
    assert_int_equal(s[0].cpu_milli, 500);
    assert_int_equal(s[0].mem_mb, 256);
    assert_true(s[0].spread_nodes);
    assert_int_equal(s[0].line, 2);
    assert_string_equal(s[1].name, "Db.1_x-y");
    assert_int_equal(s[1].replicas, 1000);
    assert_int_equal(s[1].cpu_milli, 0);
    assert_int_equal(s[1].mem_mb, 0);
    assert_false(s[1].spread_nodes); /* the default: zones */
    for (int k = 0; k < 3; k++) {    /* `services` expanded in order */
        char name[16];
        snprintf(name, sizeof name, "s%d", k);
        assert_string_equal(s[2 + k].name, name);
        assert_int_equal(s[2 + k].replicas, 2);
        assert_int_equal(s[2 + k].line, 4);
    }
    assert_string_equal(s[5].name, "last");
    assert_int_equal(sc.startup_ms, 2000);
    assert_int_equal(sc.startup_jitter_ms, 1000);
    assert_int_equal(sc.stopping_ms, 250);
    assert_int_equal(sc.stopping_jitter_ms, 0);

    assert_int_equal(sc.nactions, 7);
    const sl_sim_action *a = sc.actions;
    assert_int_equal(a[0].type, SL_SIM_DEPLOY);
    assert_string_equal(a[0].service, "api");
    assert_int_equal(a[0].replicas, 4);
    assert_int_equal(a[0].via, 3);
    assert_int_equal(a[0].version, 0);
    assert_int_equal(a[6].type, SL_SIM_DEPLOY); /* `version K`: another spec */
    assert_int_equal(a[6].version, 7);
    assert_int_equal(a[6].via, 2);
    assert_int_equal(a[1].type, SL_SIM_SCALE);
    assert_string_equal(a[1].service, "web");
    assert_int_equal(a[1].replicas, 0);
    assert_int_equal(a[1].via, 9);
    assert_int_equal(a[2].type, SL_SIM_RM);
    assert_string_equal(a[2].service, "Db.1_x-y");
    assert_int_equal(a[2].via, 0);
    assert_int_equal(a[3].type, SL_SIM_FAIL_START);
    assert_string_equal(a[3].service, "web");
    assert_int_equal(a[4].type, SL_SIM_FIX_START);
    assert_string_equal(a[4].service, "web");
    assert_int_equal(a[5].type, SL_SIM_DRAIN);
    assert_int_equal(a[5].nodes.n, 2);
    assert_true(sl_sim_set_has(&a[5].nodes, 5));
    assert_false(sl_sim_set_has(&a[5].nodes, 3));
    assert_int_equal(sc.nexpects, 8);
    assert_int_equal(sc.expects[0].metric, SL_SIM_M_SERVICES_BACK);
    assert_true(sc.expects[0].value == 10.0);
    assert_int_equal(sc.expects[1].metric, SL_SIM_M_MIN_RUNNING);
    assert_int_equal(sc.expects[2].metric, SL_SIM_M_DUPLICATES_GONE);
    assert_int_equal(sc.expects[3].metric, SL_SIM_M_LOST_WRITES);
    assert_int_equal(sc.expects[4].metric, SL_SIM_M_STARTS_PER_LOST);
    assert_true(sc.expects[4].value == 1.5);
    assert_int_equal(sc.expects[5].metric, SL_SIM_M_CATALOG_CONVERGED);
    assert_true(sc.expects[5].value == 2.0);
    /* A bound named "..._within" without an operator is an upper bound. */
    assert_int_equal(sc.expects[6].metric, SL_SIM_M_DUPLICATES_GONE);
    assert_int_equal(sc.expects[6].op, SL_SIM_OP_LE);
    assert_true(sc.expects[6].value == 7.0);
    assert_int_equal(sc.expects[7].metric, SL_SIM_M_WRITES_RUNNING);
    assert_int_equal(sc.expects[7].op, SL_SIM_OP_LE);
    assert_true(sc.expects[7].value == 4.5);
    sl_sim_scenario_deinit(&sc);
    assert_int_equal(sc.nservices, 0);
    assert_null(sc.services);

    assert_string_equal(sl_sim_action_name(SL_SIM_DEPLOY), "deploy");
    assert_string_equal(sl_sim_action_name(SL_SIM_SCALE), "scale");
    assert_string_equal(sl_sim_action_name(SL_SIM_RM), "rm");
    assert_string_equal(sl_sim_action_name(SL_SIM_FAIL_START), "fail-start");
    assert_string_equal(sl_sim_action_name(SL_SIM_FIX_START), "fix-start");
    assert_string_equal(sl_sim_action_name(SL_SIM_DRAIN), "drain");
}

/* The delays are set even when no statement names them; a scenario of
 * membership only leaves the runtime off; any one runtime statement turns it
 * on. */
static void runtime_defaults_and_flag(void **state)
{
    (void)state;
    sl_sim_scenario sc;
    char err[256];
    assert_int_equal(sl_sim_scenario_parse(example, "ex.scn", &sc, err, sizeof err), 0);
    assert_false(sc.runtime);
    assert_int_equal(sc.nservices, 0);
    assert_null(sc.services);
    assert_int_equal(sc.startup_ms, 500);
    assert_int_equal(sc.startup_jitter_ms, 200);
    assert_int_equal(sc.stopping_ms, 100);
    assert_int_equal(sc.stopping_jitter_ms, 0);
    sl_sim_scenario_deinit(&sc);

    static const char *const on[] = {
        "nodes 2\nservice a replicas 1\nrun 1s\n",
        "nodes 2\nservices 1 replicas 1\nrun 1s\n",
        "nodes 2\nstartup 1s\nrun 1s\n",
        "nodes 2\nstopping 0ms\nrun 1s\n",
        "nodes 2\nat 0s deploy a replicas 1 via n1\nrun 1s\n",
        "nodes 2\nat 0s scale a 2 via n1\nrun 1s\n",
        "nodes 2\nat 0s rm a via n1\nrun 1s\n",
        "nodes 2\nat 0s fail-start a\nrun 1s\n",
        "nodes 2\nat 0s fix-start a\nrun 1s\n",
        "nodes 2\nat 0s drain n0-n1\nrun 1s\n",
    };
    for (size_t i = 0; i < sizeof on / sizeof *on; i++) {
        if (sl_sim_scenario_parse(on[i], "t", &sc, err, sizeof err) != 0)
            fail_msg("case %zu: %s", i, err);
        if (!sc.runtime)
            fail_msg("case %zu: runtime is off", i);
        sl_sim_scenario_deinit(&sc);
    }

    /* A statement that sets one delay leaves the other at its default. */
    assert_int_equal(
        sl_sim_scenario_parse("nodes 1\nstopping 3s 1s\nrun 1s\n", "t", &sc, err, sizeof err), 0);
    assert_int_equal(sc.startup_ms, 500);
    assert_int_equal(sc.startup_jitter_ms, 200);
    assert_int_equal(sc.stopping_ms, 3000);
    assert_int_equal(sc.stopping_jitter_ms, 1000);
    sl_sim_scenario_deinit(&sc);
}

/* `services` may name up to SL_SIM_SERVICES_MAX at once; one more in all is
 * refused; and a duplicate among them is found without n^2 work. */
static void services_limit(void **state)
{
    (void)state;
    sl_sim_scenario sc;
    char err[256];
    assert_int_equal(sl_sim_scenario_parse("nodes 1\nservices 100000 replicas 1\nrun 1s\n", "t",
                                           &sc, err, sizeof err),
                     0);
    assert_int_equal(sc.nservices, SL_SIM_SERVICES_MAX);
    assert_string_equal(sc.services[99999].name, "s99999");
    sl_sim_scenario_deinit(&sc);
    assert_int_equal(sl_sim_scenario_parse("nodes 1\nservices 100000 replicas 1\n"
                                           "service x replicas 1\nrun 1s\n",
                                           "t", &sc, err, sizeof err),
                     -1);
    assert_string_equal(err, "t:3: expected at most 100000 services in all, got 100001");
    assert_int_equal(sl_sim_scenario_parse("nodes 1\nservices 99999 replicas 1\n"
                                           "service s5000 replicas 1\nrun 1s\n",
                                           "t", &sc, err, sizeof err),
                     -1);
    assert_string_equal(err, "t:3: service 's5000' is given twice (lines 2 and 3)");
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
     "f:2: expected crash, pause, stall, leave, restart, partition, cut, loss, join, heal, deploy, "
     "scale, rm, fail-start, fix-start, drain, unhealthy or healthy, got 'explode'"},
    {"nodes 3\nat 1s stall n1 for 2s 1s every 1s 2s until 9s\nrun 10s\n",
     "f:2: expected 0 < D1 <= D2, 0 < G1 <= G2 and T2 after T"},
    {"nodes 3\nat 1s stall n1 for 1s 2s until 9s\nrun 10s\n",
     "f:2: expected 'every G1 G2', got 'until'"},
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
    {"nodes 3\nat 1s stall n0 for 1s 2s every 1s 2s until 5s often\nrun 9s\n",
     "f:2: expected 'probing' or the end of the line, got 'often'"},
    {"nodes 3\nat 1s stall n0 for 1s 2s every 1s 2s until 5s probing x\nrun 9s\n",
     "f:2: expected end of line, got 'x'"},
    {"nodes 3\nrun 1s\nexpect happiness\n",
     "f:3: expected converged, detect_first, detect_all, leave_seen, false_positives, "
     "false_positives_paused, healthy_declared_dead, alive_declared_dead, ghosts, converged_at, "
     "live, "
     "messages_per_node_per_s, "
     "services_at_count_within, "
     "min_running, duplicates_gone_within, lost_writes, starts_per_lost, "
     "catalog_converged_within, writes_running_within, unhealthy, stale_versions or "
     "reverts, got 'happiness'"},
    {"nodes 3\nat 1s deploy web replicas 2 version 0 via n1\nrun 2s\n",
     "f:2: expected a version from 1 to 1000000, got '0'"},
    {"nodes 3\nat 1s deploy web replicas 2 version via n1\nrun 2s\n",
     "f:2: expected a version from 1 to 1000000, got 'via'"},
    /* The runtime's statements. */
    {"nodes 3\nservice\nrun 1s\n",
     "f:2: expected a service name (1 to 63 letters, digits, '.', '_' or '-', starting with a "
     "letter or digit), got end of line"},
    {"nodes 3\nservice _web replicas 1\nrun 1s\n",
     "f:2: expected a service name (1 to 63 letters, digits, '.', '_' or '-', starting with a "
     "letter or digit), got '_web'"},
    {"nodes 3\nservice -web replicas 1\nrun 1s\n",
     "f:2: expected a service name (1 to 63 letters, digits, '.', '_' or '-', starting with a "
     "letter or digit), got '-web'"},
    {"nodes 3\nservice w/b replicas 1\nrun 1s\n",
     "f:2: expected a service name (1 to 63 letters, digits, '.', '_' or '-', starting with a "
     "letter or digit), got 'w/b'"},
    {"nodes 3\nservice "
     "a23456789012345678901234567890123456789012345678901234567890123 replicas 1\nrun 1s\n",
     NULL}, /* 63 bytes */
    {"nodes 3\nservice "
     "a234567890123456789012345678901234567890123456789012345678901234 replicas 1\nrun 1s\n",
     "f:2: expected a service name (1 to 63 letters, digits, '.', '_' or '-', starting with a "
     "letter or digit), got "
     "'a234567890123456789012345678901234567890123456789012345678901234'"},
    {"nodes 3\nservice web\nrun 1s\n", "f:2: expected 'replicas N', got end of line"},
    {"nodes 3\nservice web cpu 5 replicas 1\nrun 1s\n", "f:2: expected 'replicas N', got 'cpu'"},
    {"nodes 3\nservice web replicas 0\nrun 1s\n",
     "f:2: expected a number of replicas from 1 to 1000, got '0'"},
    {"nodes 3\nservice web replicas 1001\nrun 1s\n",
     "f:2: expected a number of replicas from 1 to 1000, got '1001'"},
    {"nodes 3\nservice web replicas\nrun 1s\n",
     "f:2: expected a number of replicas from 1 to 1000, got end of line"},
    {"nodes 3\nservice web replicas 1 cpu\nrun 1s\n",
     "f:2: expected a CPU request in millicores like 500, got end of line"},
    {"nodes 3\nservice web replicas 1 cpu -1\nrun 1s\n",
     "f:2: expected a CPU request in millicores like 500, got '-1'"},
    {"nodes 3\nservice web replicas 1 mem 4294967296\nrun 1s\n",
     "f:2: expected a memory request in MB like 256, got '4294967296'"},
    {"nodes 3\nservice web replicas 1 spread racks\nrun 1s\n",
     "f:2: expected spread zones or spread nodes, got 'racks'"},
    {"nodes 3\nservice web replicas 1 cpu 1 mem 2 cpu 3\nrun 1s\n", "f:2: 'cpu' is given twice"},
    {"nodes 3\nservice web replicas 1 spread zones spread nodes\nrun 1s\n",
     "f:2: 'spread' is given twice"},
    {"nodes 3\nservice web replicas 1 gpu 1\nrun 1s\n",
     "f:2: expected cpu, mem, spread, check, check-interval, check-failures or end of line, "
     "got 'gpu'"},
    {"nodes 3\nservice web replicas 1 check ping\nrun 1s\n",
     "f:2: expected a check like tcp, http:/healthz or exec:true, got 'ping'"},
    {"nodes 3\nservice web replicas 1 check default\nrun 1s\n",
     "f:2: expected a check like tcp, http:/healthz or exec:true, got 'default'"},
    {"nodes 3\nservice web replicas 1 check-interval 1s\nrun 1s\n",
     "f:2: check-interval and check-failures need a 'check KIND'"},
    {"nodes 3\nservice web replicas 1 check tcp check-interval 0s\nrun 1s\n",
     "f:2: expected a check interval from 1ms to 1h, got '0s'"},
    {"nodes 3\nservice web replicas 1 check tcp check-failures 101\nrun 1s\n",
     "f:2: expected a number of failed checks from 1 to 100, got '101'"},
    {"nodes 3\nservice web replicas 1 check tcp check tcp\nrun 1s\n",
     "f:2: 'check' is given twice"},
    {"nodes 3\nservice web replicas 1\nseed 2\nservice web replicas 2\nrun 1s\n",
     "f:4: service 'web' is given twice (lines 2 and 4)"},
    {"nodes 3\nservice s1 replicas 1\nservices 3 replicas 2\nrun 1s\n",
     "f:3: service 's1' is given twice (lines 2 and 3)"},
    {"nodes 3\nservices 3 replicas 2\nservice s2 replicas 1\nrun 1s\n",
     "f:3: service 's2' is given twice (lines 2 and 3)"},
    {"nodes 3\nservices 2 replicas 1\nservices 2 replicas 3\nrun 1s\n",
     "f:3: service 's0' is given twice (lines 2 and 3)"},
    {"nodes 3\nservice b replicas 1\nservice a replicas 1\nservice a replicas 1\n"
     "service b replicas 1\nrun 1s\n",
     "f:4: service 'a' is given twice (lines 3 and 4)"}, /* the earliest repeat */
    {"nodes 3\nservice S1 replicas 1\nservices 2 replicas 1\nrun 1s\n", NULL}, /* case counts */
    {"nodes 3\nservices 0 replicas 1\nrun 1s\n",
     "f:2: expected a number of services from 1 to 100000, got '0'"},
    {"nodes 3\nservices 100001 replicas 1\nrun 1s\n",
     "f:2: expected a number of services from 1 to 100000, got '100001'"},
    {"nodes 3\nservices 4\nrun 1s\n", "f:2: expected 'replicas N', got end of line"},
    {"nodes 3\nservices 4 replicas 2 cpu 1\nrun 1s\n", "f:2: expected end of line, got 'cpu'"},
    {"nodes 3\nstartup\nrun 1s\n",
     "f:2: expected a startup time like 500ms (at most 1h), got end of line"},
    {"nodes 3\nstartup 2h\nrun 1s\n",
     "f:2: expected a startup time like 500ms (at most 1h), got '2h'"},
    {"nodes 3\nstartup 61m\nrun 1s\n",
     "f:2: expected a startup time like 500ms (at most 1h), got '61m'"},
    {"nodes 3\nstartup 60m 60m\nrun 1s\n", NULL},
    {"nodes 3\nstartup 1.5ms\nrun 1s\n",
     "f:2: expected a whole number of milliseconds, got '1.5ms'"},
    {"nodes 3\nstartup 1s soon\nrun 1s\n", "f:2: expected a jitter like 200ms, got 'soon'"},
    {"nodes 3\nstartup 1s 2s\nrun 1s\n",
     "f:2: expected a jitter of at most the mean (1s), got '2s'"},
    {"nodes 3\nstartup 1s 1s 1s\nrun 1s\n", "f:2: expected end of line, got '1s'"},
    {"nodes 3\nstartup 1s\nstartup 2s\nrun 1s\n", "f:3: 'startup' is given twice"},
    {"nodes 3\nstopping 10ms 11ms\nrun 1s\n",
     "f:2: expected a jitter of at most the mean (10ms), got '11ms'"},
    {"nodes 3\nstopping x\nrun 1s\n",
     "f:2: expected a stopping time like 100ms (at most 1h), got 'x'"},
    {"nodes 3\nstopping 1s\nstartup 1s\nstopping 1s\nrun 1s\n", "f:4: 'stopping' is given twice"},
    {"nodes 3\nat 1s deploy web replicas 2\nrun 1s\n",
     "f:2: expected 'via' and the node the write is made on, got end of line"},
    {"nodes 3\nat 1s deploy web replicas 2 on n1\nrun 1s\n",
     "f:2: expected 'via' and the node the write is made on, got 'on'"},
    {"nodes 3\nat 1s deploy web 2 via n1\nrun 1s\n", "f:2: expected 'replicas N', got '2'"},
    {"nodes 3\nat 1s deploy web replicas 0 via n1\nrun 1s\n",
     "f:2: expected a number of replicas from 1 to 1000, got '0'"},
    {"nodes 3\nat 1s deploy .web replicas 1 via n1\nrun 1s\n",
     "f:2: expected a service name (1 to 63 letters, digits, '.', '_' or '-', starting with a "
     "letter or digit), got '.web'"},
    {"nodes 3\nat 1s deploy web replicas 1 via\nrun 1s\n",
     "f:2: expected a node like n3, got end of line"},
    {"nodes 3\nat 1s deploy web replicas 1 via n0-n1\nrun 1s\n",
     "f:2: expected a node like n3, got 'n0-n1'"},
    {"nodes 3\nat 1s deploy web replicas 1 via n1 n2\nrun 1s\n",
     "f:2: expected end of line, got 'n2'"},
    {"nodes 3\nat 1s deploy web replicas 1 via n3\nrun 1s\n",
     "f:2: n3 does not exist at 1.000s (3 nodes by then: n0-n2)"},
    {"nodes 3\nat 2s deploy web replicas 1 via n3\nat 1s join 1\nrun 3s\n", NULL},
    {"nodes 3\nat 1s deploy web replicas 1 via n3\nat 1s join 1\nrun 3s\n",
     "f:2: n3 does not exist at 1.000s (3 nodes by then: n0-n2)"}, /* the join comes after */
    {"nodes 3\nat 1s scale web 2 via n4\nat 0s join 1\nrun 3s\n",
     "f:2: n4 does not exist at 1.000s (4 nodes by then: n0-n3)"},
    {"nodes 3\nat 1s rm web via n7\nrun 3s\n",
     "f:2: n7 does not exist at 1.000s (3 nodes by then: n0-n2)"},
    {"nodes 3\nat 1s scale web via n1\nrun 1s\n",
     "f:2: expected a number of replicas from 0 to 1000, got 'via'"},
    {"nodes 3\nat 1s scale web 1001 via n1\nrun 1s\n",
     "f:2: expected a number of replicas from 0 to 1000, got '1001'"},
    {"nodes 3\nat 1s scale web replicas 2 via n1\nrun 1s\n",
     "f:2: expected a number of replicas from 0 to 1000, got 'replicas'"},
    {"nodes 3\nat 1s rm web\nrun 1s\n",
     "f:2: expected 'via' and the node the write is made on, got end of line"},
    {"nodes 3\nat 1s rm\nrun 1s\n",
     "f:2: expected a service name (1 to 63 letters, digits, '.', '_' or '-', starting with a "
     "letter or digit), got end of line"},
    {"nodes 3\nat 1s fail-start\nrun 1s\n",
     "f:2: expected a service name (1 to 63 letters, digits, '.', '_' or '-', starting with a "
     "letter or digit), got end of line"},
    {"nodes 3\nat 1s fail-start web now\nrun 1s\n", "f:2: expected end of line, got 'now'"},
    {"nodes 3\nat 1s fix-start web via n1\nrun 1s\n", "f:2: expected end of line, got 'via'"},
    {"nodes 3\nat 1s drain\nrun 1s\n",
     "f:2: expected a node like n5 or a range like n3-n7, got end of line"},
    {"nodes 3\nat 1s drain n1-n3\nrun 1s\n",
     "f:2: n3 does not exist at 1.000s (3 nodes by then: n0-n2)"},
    {"nodes 3\nat 2s drain n3\nat 1s join 1\nrun 3s\n", NULL},
    {"nodes 3\nat 1s drain n2 web\nrun 1s\n", "f:2: expected end of line, got 'web'"},
    {"nodes 3\nat 5s drain n1\nrun 1s\n",
     "f:2: expected a time within the run (1.000s), got 5.000s"},
    {"nodes 3\nrun 1s\nservice web replicas 1\n",
     "f:3: expected only 'expect' lines after 'run', got 'service'"},
    {"nodes 3\nrun 1s\nexpect lost_writes <= x\n", "f:3: expected a number, got 'x'"},
    {"nodes 3\nrun 1s\nexpect services_at_count_within <= 3\n",
     "f:3: expected a time like 10s, got '3'"},
    {"nodes 3\nrun 1s\nexpect catalog_converged_within < 3\n",
     "f:3: expected a time like 10s, got '3'"},
};

/* A service's health check and the statements that make checks fail. */
static void health_check_statements(void **state)
{
    (void)state;
    static const char text[] = "nodes 10\n"
                               "service web replicas 3 check http:/healthz check-interval 1s "
                               "check-failures 4\n"
                               "service db replicas 1 check exec:true\n"
                               "service plain replicas 1\n"
                               "at 5s unhealthy web on n1-n2\n"
                               "at 9s healthy web\n"
                               "run 20s\n"
                               "expect unhealthy == 1\n";
    sl_sim_scenario sc;
    char err[256];
    if (sl_sim_scenario_parse(text, "hc", &sc, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_true(sc.runtime);
    assert_int_equal(sc.nservices, 3);
    const sl_check *c = sc.services[0].check;
    assert_non_null(c);
    assert_int_equal(c->kind, SL_CHECK_HTTP);
    assert_string_equal(c->arg, "/healthz");
    assert_int_equal(c->interval_ms, 1000);
    assert_int_equal(c->failures, 4);
    c = sc.services[1].check;
    assert_non_null(c);
    assert_int_equal(c->kind, SL_CHECK_EXEC);
    assert_string_equal(c->arg, "true");
    assert_int_equal(c->interval_ms, 0); /* the defaults */
    assert_int_equal(c->failures, 0);
    assert_null(sc.services[2].check);
    assert_int_equal(sc.nactions, 2);
    assert_int_equal(sc.actions[0].type, SL_SIM_UNHEALTHY);
    assert_string_equal(sc.actions[0].service, "web");
    assert_true(sl_sim_set_has(&sc.actions[0].nodes, 2));
    assert_false(sl_sim_set_has(&sc.actions[0].nodes, 3));
    assert_int_equal(sc.actions[1].type, SL_SIM_HEALTHY);
    assert_int_equal(sc.actions[1].nodes.n, 0);
    assert_string_equal(sl_sim_action_name(SL_SIM_UNHEALTHY), "unhealthy");
    assert_int_equal(sc.nexpects, 1);
    assert_int_equal(sc.expects[0].metric, SL_SIM_M_UNHEALTHY);
    sl_sim_scenario_deinit(&sc);
}

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
        assert_int_equal(sc.nservices, 0);
        assert_null(sc.services);
        assert_false(sc.runtime);
    }
}

/* `stall` expands into pauses of each node, within the window, as long as
 * asked, with the gaps asked, and the same every time it is parsed. */
static void stall_expands_into_pauses(void **state)
{
    (void)state;
    const char *text = "nodes 4\nat 10s stall n1-n2 for 1s 3s every 2s 6s until 60s\nrun 70s\n";
    sl_sim_scenario a, b;
    char err[256];
    assert_int_equal(sl_sim_scenario_parse(text, "t", &a, err, sizeof err), 0);
    assert_int_equal(sl_sim_scenario_parse(text, "t", &b, err, sizeof err), 0);
    assert_int_equal(a.nactions, b.nactions);
    assert_true(a.nactions >= 2 * 7); /* 50 s of at most 3 + 6 s per stall */
    uint64_t last_end[4] = {0};
    int per_node[4] = {0};
    for (size_t i = 0; i < a.nactions; i++) {
        const sl_sim_action *x = &a.actions[i];
        assert_int_equal(x->type, SL_SIM_PAUSE);
        assert_int_equal(x->nodes.n, 1);
        int n = x->nodes.r[0].lo;
        assert_true(n == 1 || n == 2);
        assert_true(x->at_ms >= 10000 && x->at_ms < 60000);
        assert_true(x->duration_ms >= 1000 && x->duration_ms <= 3000);
        if (per_node[n]++)
            assert_true(x->at_ms >= last_end[n] + 2000);
        last_end[n] = x->at_ms + x->duration_ms;
        assert_int_equal(x->at_ms, b.actions[i].at_ms);
        assert_int_equal(x->duration_ms, b.actions[i].duration_ms);
    }
    assert_true(per_node[1] > 0 && per_node[2] > 0);
    for (size_t i = 0; i < a.nactions; i++)
        assert_false(a.actions[i].at_probe);
    sl_sim_scenario_deinit(&a);
    sl_sim_scenario_deinit(&b);
    /* `probing` marks every pause to wait for the node's next probe. */
    const char *probing =
        "nodes 4\nat 10s stall n1-n2 for 1s 3s every 2s 6s until 60s probing\nrun 70s\n";
    assert_int_equal(sl_sim_scenario_parse(probing, "t", &a, err, sizeof err), 0);
    assert_true(a.nactions >= 2 * 7);
    for (size_t i = 0; i < a.nactions; i++)
        assert_true(a.actions[i].at_probe);
    sl_sim_scenario_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_the_documented_example),
        cmocka_unit_test(defaults_sorting_and_expectations),
        cmocka_unit_test(durations),
        cmocka_unit_test(health_check_statements),
        cmocka_unit_test(errors_name_the_line),
        cmocka_unit_test(runtime_statements),
        cmocka_unit_test(runtime_defaults_and_flag),
        cmocka_unit_test(services_limit),
        cmocka_unit_test(stall_expands_into_pauses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
