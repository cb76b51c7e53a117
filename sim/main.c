/* starling-sim: run the real gossip core for many virtual nodes.
 *
 * A scenario file says how many nodes start, the network they live on, what
 * happens to them and when (crashes, pauses, leaves, restarts, partitions,
 * one-way cuts, lossy nodes, joins, heals), how long to run, and optionally
 * what the run must show (`expect` lines). This program parses it (sim/
 * scenario.c), runs it on the fake world (sim/runner.c, sim/world.c), where
 * every node is a real sl_swim core on one virtual clock, follows every
 * node's beliefs against the truth (sim/track.c), and reports (sim/report.c):
 * a human summary, a JSON report and a per-second CSV time series.
 *
 * Everything is single-threaded and deterministic: the same scenario and
 * seed give the same bytes out, except the JSON `perf` block (wall time,
 * events per second, peak memory) and the progress line on stderr, which are
 * the only places a real clock is read. That makes a run a replayable bug
 * report and a benchmark at once.
 *
 * Exit codes: 0 when every expectation and invariant holds; 1 when one does
 * not, or the run fails (out of memory, cannot write a report); 2 for a usage
 * or scenario error. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "runner.h"
#include "scenario.h"

static const char usage[] =
    "usage: starling-sim SCENARIO [--seed N] [--json FILE] [--csv FILE] [--trace FILE] [--quiet]\n"
    "\n"
    "Runs the SWIM gossip core for every node of SCENARIO on a virtual clock and\n"
    "reports detection times, false positives, convergence, ghosts and traffic.\n"
    "When the scenario names services (or a runtime action), every node also runs\n"
    "the runtime core with a virtual supervisor, and the report says how long\n"
    "until every service is back at its count after each action, duplicates,\n"
    "starts per replica lost, write convergence and lost writes.\n"
    "\n"
    "  --seed N     use seed N instead of the scenario's `seed` (default 1)\n"
    "  --json FILE  write the JSON report to FILE ('-' for stdout) instead of\n"
    "               printing the human summary\n"
    "  --csv FILE   write the per-second time series to FILE ('-' for stdout)\n"
    "  --trace FILE write every membership event every live node reports to FILE,\n"
    "               one line each: TIME OBSERVER EVENT MEMBER [by DECLARER] GEN.CTR\n"
    "  --quiet      print neither the summary nor progress on stderr\n"
    "  --help       show this help\n"
    "\n"
    "The same scenario and seed give the same report, but for its `perf` block.\n"
    "Exit status: 0 when every `expect` line and invariant holds, 1 when one\n"
    "does not (or the run fails), 2 for a usage or scenario error.\n"
    "The scenario language is described in README.md, \"Simulating a cluster\".\n";

typedef struct options {
    const char *scenario, *json, *csv, *trace;
    bool quiet, seed_given;
    uint64_t seed;
} options;

typedef struct progress {
    bool on;
    bool tty;
    double start, last;
    bool shown;
} progress;

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* kilobytes on Linux */
}

/* Shows progress on stderr once a run has taken more than two seconds. */
static void on_progress(void *ud, const sl_sim_run *r, uint64_t now_ms)
{
    progress *p = ud;
    if (!p->on)
        return;
    double t = wall_now(), every = p->tty ? 0.5 : 10.0;
    if (t - p->start < 2.0 || t - p->last < every)
        return;
    p->last = t;
    p->shown = true;
    double sim = (double)now_ms / 1000.0, wall = t - p->start;
    fprintf(stderr,
            "starling-sim: %.0f/%.0f s simulated, %d live, %" PRIu64
            " events, %.1f s wall (%.2fx real time)%s",
            sim, (double)r->sc->run_ms / 1000.0, sl_sim_track_live(r->track),
            sl_world_events_processed(r->w), wall, wall > 0 ? sim / wall : 0.0,
            p->tty ? "   \r" : "\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o->quiet = true;
        } else if (strcmp(a, "--seed") == 0 && has_value) {
            char *end;
            const char *v = argv[++i];
            errno = 0;
            o->seed = strtoull(v, &end, 10);
            if (*v < '0' || *v > '9' || *end || errno) {
                fprintf(stderr, "starling-sim: --seed expects an unsigned integer, got '%s'\n", v);
                return -1;
            }
            o->seed_given = true;
        } else if (strcmp(a, "--json") == 0 && has_value) {
            o->json = argv[++i];
        } else if (strcmp(a, "--trace") == 0 && has_value) {
            o->trace = argv[++i];
        } else if (strcmp(a, "--csv") == 0 && has_value) {
            o->csv = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "starling-sim: unknown option or missing value: %s\n", a);
            return -1;
        } else if (o->scenario) {
            fprintf(stderr, "starling-sim: one scenario at a time (got '%s' and '%s')\n",
                    o->scenario, a);
            return -1;
        } else {
            o->scenario = a;
        }
    }
    if (!o->scenario) {
        fputs("starling-sim: no scenario given\n", stderr);
        return -1;
    }
    return 0;
}

/* Writes one report to path ("-" is stdout). Returns 0 or -1. */
static int write_out(const char *path, const sl_sim_run *r, const char *scn,
                     const sl_sim_perf *perf, bool json)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "starling-sim: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = json ? sl_sim_report_json(r, scn, perf, f) : sl_sim_report_csv(r, f);
    if (f == stdout)
        rc |= fflush(f) == 0 ? 0 : -1;
    else
        rc |= fclose(f) == 0 ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "starling-sim: cannot write %s\n", path);
    return rc;
}

int main(int argc, char **argv)
{
    options o = {0};
    if (parse_args(argc, argv, &o) != 0) {
        fputs("run 'starling-sim --help' for usage\n", stderr);
        return 2;
    }
    sl_sim_scenario sc;
    char err[512];
    if (sl_sim_scenario_load(o.scenario, &sc, err, sizeof err) != 0) {
        fprintf(stderr, "starling-sim: %s\n", err);
        return 2;
    }
    uint64_t seed = o.seed_given ? o.seed : sc.seed;
    progress p = {.on = !o.quiet, .tty = isatty(2) == 1};
    p.start = p.last = wall_now();
    sl_sim_hooks hooks = {.progress = on_progress, .ud = &p};
    if (o.trace && !(hooks.trace = strcmp(o.trace, "-") ? fopen(o.trace, "w") : stdout)) {
        fprintf(stderr, "starling-sim: %s: %s\n", o.trace, strerror(errno));
        sl_sim_scenario_deinit(&sc);
        return 1;
    }
    sl_sim_run *r;
    int run_rc = sl_sim_execute(&sc, seed, &hooks, &r, err, sizeof err);
    bool trace_bad = hooks.trace && (hooks.trace == stdout ? fflush(stdout) : fclose(hooks.trace));
    if (run_rc != 0) {
        fprintf(stderr, "starling-sim: %s\n", err);
        sl_sim_scenario_deinit(&sc);
        return 1;
    }
    if (trace_bad)
        fprintf(stderr, "starling-sim: cannot write %s\n", o.trace);
    if (p.shown && p.tty)
        fputs("\n", stderr);
    sl_sim_perf perf = {.wall_s = wall_now() - p.start,
                        .events = sl_world_events_processed(r->w),
                        .peak_rss_mb = peak_rss_mb()};
    int rc = sl_sim_run_ok(r) && !trace_bad ? 0 : 1;
    if (o.json && write_out(o.json, r, o.scenario, &perf, true) != 0)
        rc = 1;
    if (o.csv && write_out(o.csv, r, o.scenario, &perf, false) != 0)
        rc = 1;
    if (!o.json && !o.quiet)
        sl_sim_report_text(r, o.scenario, &perf, stdout);
    sl_sim_run_free(r);
    sl_sim_scenario_deinit(&sc);
    return rc;
}
