/* Runs a scenario on a fake world and keeps what the report needs.
 *
 * The runner owns the world and the tracker for one run: it starts the
 * nodes, applies each `at` action at its time, samples the views once per
 * simulated second for the time series, and at the end checks the tracker
 * against the cores. Everything it does is a function of the scenario and
 * the seed; it never reads a clock (progress timing is the caller's). */
#ifndef STARLING_SIM_RUNNER_H
#define STARLING_SIM_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime.h"
#include "scenario.h"
#include "services.h"
#include "track.h"
#include "world.h"

/* Per-service running counts are kept for the JSON time series only up to
 * this many services (the overall counts always are). */
#define SL_SIM_SERIES_SERVICES_MAX 32

/* One row of the time series: the state at the end of second t_s. */
typedef struct sl_sim_sample {
    uint32_t t_s;
    sl_sim_views v;
    bool converged;
    uint64_t packets, bytes; /* sent during this second, by all nodes */
    sl_sim_svc_sample svc;   /* the services, when the runtime runs */
} sl_sim_sample;

typedef struct sl_sim_run {
    const sl_sim_scenario *sc;
    uint64_t seed;
    sl_world *w;
    sl_sim_track *track;
    sl_sim_sample *samples;
    size_t nsamples;
    uint64_t node_ms;           /* live node-milliseconds, for per-node rates */
    uint64_t verify_bad;        /* (observer, member) pairs where events and cores disagree */
    char verify_msg[256];       /* the first of them */
    uint64_t skipped_actions;   /* actions on nodes in the wrong state (crash a crashed node) */
    uint64_t alloc_failures;    /* allocations the live cores saw fail: the run is invalid */
    uint64_t probe_interval_ms; /* the profile's, unscaled: how long a `probing` stall waits */
    /* The runtime (scenario's runtime on): NULL otherwise. */
    sl_sim_runtime *rt;
    sl_sim_svc *svc;
    uint32_t *svc_series;    /* running per service per sample, when few services */
    size_t svc_series_ns;    /* services in it (0: none kept) */
    uint64_t writes_refused; /* writes a node refused (down, or the core said no) */
    char write_msg[384];     /* the first refusal */
} sl_sim_run;

/* What the caller wants to see while the run goes. */
typedef struct sl_sim_hooks {
    /* Called once per simulated second; may be NULL. */
    void (*progress)(void *ud, const sl_sim_run *r, uint64_t now_ms);
    void *ud;
    /* When set, every membership event every live node reports is written
     * there, one line each: "TIME OBSERVER EVENT MEMBER [by DECLARER] GEN.CTR". */
    FILE *trace;
} sl_sim_hooks;

/* Runs the scenario with the given seed to its end. Returns 0 and sets
 * *out (free it with sl_sim_run_free()), or -1 with a message in err. The
 * scenario must outlive the run; hooks may be NULL. */
int sl_sim_execute(const sl_sim_scenario *sc, uint64_t seed, const sl_sim_hooks *hooks,
                   sl_sim_run **out, char *err, size_t errcap);

void sl_sim_run_free(sl_sim_run *r);

#endif
