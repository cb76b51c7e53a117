/* What a run showed: the JSON report, the CSV time series, the human
 * summary, and the verdict (expectations and invariants).
 *
 * Everything but the `perf` block is a function of the scenario and the seed,
 * and is written with fixed formatting (times rounded to the millisecond), so
 * that the same run gives the same bytes. */
#ifndef STARLING_SIM_REPORT_H
#define STARLING_SIM_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "runner.h"

/* Measurements of the run itself; the only part that varies between runs. */
typedef struct sl_sim_perf {
    double wall_s;
    uint64_t events;
    double peak_rss_mb;
} sl_sim_perf;

/* The value an expectation looks at; has is false when there is none (a
 * crash never seen by all, no crash at all, not converged). */
typedef struct sl_sim_verdict {
    const sl_sim_expect *e;
    bool has;
    double value;
    bool ok;
} sl_sim_verdict;

/* Evaluates expectation e against the run. */
sl_sim_verdict sl_sim_check(const sl_sim_run *r, const sl_sim_expect *e);

/* Returns true when every invariant holds (no ghosts, and the events agree
 * with the cores). */
bool sl_sim_invariants_ok(const sl_sim_run *r);

/* Returns true when the invariants hold and every expectation is met. */
bool sl_sim_run_ok(const sl_sim_run *r);

/* Writes the JSON report to f. `file` is the scenario's path. Returns 0 or
 * -1 (out of memory or a write error). */
int sl_sim_report_json(const sl_sim_run *r, const char *file, const sl_sim_perf *perf, FILE *f);

/* Writes the per-second CSV time series to f. Returns 0 or -1. */
int sl_sim_report_csv(const sl_sim_run *r, FILE *f);

/* Writes a short human summary to f. */
void sl_sim_report_text(const sl_sim_run *r, const char *file, const sl_sim_perf *perf, FILE *f);

#endif
