/* Internal: replica cgroups (cgroup v2), for resource limits and for killing
 * a whole replica at once.
 *
 * At start the agent probes what it may use (sl__cgroup_new): the cgroup v2
 * mount (from /proc/self/mountinfo), its own cgroup (the "0::" line of
 * /proc/self/cgroup), whether that cgroup is writable, and whether the cpu
 * and memory controllers can be enabled for its children. The answer is one
 * of three modes:
 *
 *   SL__CGROUP_LIMITS     every replica runs in a cgroup of its own below the
 *                         agent's, with cpu.max and memory.max from the
 *                         service's --cpu and --mem, memory.oom.group set (an
 *                         OOM kill takes the whole replica), and its
 *                         memory.events oom_kill counter read when it exits,
 *                         so that an OOM kill is reported as one;
 *   SL__CGROUP_KILL_ONLY  a writable cgroup v2 without those controllers (a
 *                         hybrid layout whose v2 tree has only hugetlb, say):
 *                         replicas still get a cgroup each, used only to kill
 *                         everything in it at once (cgroup.kill) when the
 *                         replica ends or is stopped;
 *   SL__CGROUP_OFF        nothing: limits are not enforced and the shim's
 *                         subreaper alone keeps replicas from escaping.
 *
 * The reason is a sentence that `starling info` shows and the agent logs
 * once; nothing fails for want of cgroups.
 *
 * The "no internal processes" rule of cgroup v2: a cgroup (other than the
 * root) that holds processes cannot enable controllers for its children.
 * When enabling them in the agent's own cgroup fails with EBUSY, the agent
 * moves itself into a leaf of its own, AGENT_CGROUP/starling-PID.agent (as
 * `systemd-run --scope` and Nomad do), and tries once more; if other
 * processes share the agent's cgroup that still fails, and the reason says
 * so. Replica cgroups are AGENT_CGROUP/starling-PID.SERVICE.INDEX, where PID
 * is the agent's, so that agents sharing a cgroup do not collide.
 *
 * The paths read are parameters, so that unit tests can point the probe at a
 * fake tree (a temporary directory with the files). Nothing here runs on the
 * loop or keeps handles; every call is a few small file operations. */
#ifndef STARLING_NODE_CGROUP_H
#define STARLING_NODE_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sl__cgroup_mode {
    SL__CGROUP_OFF = 0,
    SL__CGROUP_KILL_ONLY = 1,
    SL__CGROUP_LIMITS = 2,
} sl__cgroup_mode;

/* Returns "off", "kill-only" or "on". */
const char *sl__cgroup_mode_name(sl__cgroup_mode m);

typedef struct sl__cgroup_config {
    const char *mountinfo;   /* NULL: /proc/self/mountinfo */
    const char *self_cgroup; /* NULL: /proc/self/cgroup */
    int pid;                 /* names our cgroups, and moves into the agent leaf; 0: getpid() */
    bool disabled;           /* do not probe: OFF, "disabled" (tests, --no-cgroups) */
} sl__cgroup_config;

#define SL__CGROUP_PATH_MAX 4096
#define SL__CGROUP_WHY_MAX 1024
#define SL__CGROUP_CPU_PERIOD_US 100000  /* cpu.max period: 100 ms, the kernel's default */
#define SL__CGROUP_CPU_QUOTA_MIN_US 1000 /* the kernel refuses a smaller quota */

typedef struct sl__cgroup {
    sl__cgroup_mode mode;
    int pid;
    char mount[SL__CGROUP_PATH_MAX]; /* the cgroup2 mount point, "" if none */
    char base[SL__CGROUP_PATH_MAX];  /* the agent's cgroup: replica cgroups go below it */
    char why[SL__CGROUP_WHY_MAX];    /* one sentence: what is enforced, or why not */
    bool moved;                      /* the agent moved itself into base/starling-PID.agent */
} sl__cgroup;

/* Probes what the agent may use and fills *cg (caller-owned, no heap).
 * May move the calling process into a leaf cgroup (see above). Never fails:
 * what it cannot use makes the mode lower and says why in cg->why. */
void sl__cgroup_probe(const sl__cgroup_config *cfg, sl__cgroup *cg);

/* The cpu.max line for cpu_milli thousandths of a CPU ("max 100000" for 0):
 * quota = milli * period / 1000 microseconds, at least the kernel's minimum. */
void sl__cgroup_cpu_max(uint32_t cpu_milli, char *buf, size_t cap);

/* The memory.max line for mem_mb MiB ("max" for 0). */
void sl__cgroup_mem_max(uint32_t mem_mb, char *buf, size_t cap);

/* Creates (or reuses) the cgroup of one replica and, in LIMITS mode, writes
 * its limits (cpu.max, memory.max, memory.swap.max 0 where swap accounting
 * exists, memory.oom.group 1). Writes its path into path (capacity cap) and
 * the replica cgroup's oom_kill count so far into *oom_kills. Returns 0, or a
 * negative errno with a short description in *what ("mkdir", "cpu.max", ...);
 * OFF mode returns -ENOTSUP. */
int sl__cgroup_prepare(const sl__cgroup *cg, const char *service, uint32_t replica,
                       uint32_t cpu_milli, uint32_t mem_mb, char *path, size_t cap,
                       uint64_t *oom_kills, const char **what);

/* The oom_kill counter of memory.events in the cgroup at path, or 0 when it
 * cannot be read. */
uint64_t sl__cgroup_oom_kills(const char *path);

/* Kills every process in the cgroup at path (cgroup.kill). Returns 0 or a
 * negative errno. */
int sl__cgroup_kill(const char *path);

/* Kills what is left in the cgroup at path and removes it. Returns 0 or a
 * negative errno (EBUSY while killed processes are still exiting). */
int sl__cgroup_remove(const char *path);

/* Moves the calling process into the cgroup at path (writes its pid into
 * cgroup.procs): what the shim does before it forks the command. Returns 0
 * or a negative errno. */
int sl__cgroup_enter(const char *path);

#endif
