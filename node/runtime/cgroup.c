/* Replica cgroups (cgroup v2): probing what the agent may use, creating a
 * replica's cgroup with its limits, reading its OOM kills, killing and
 * removing it. See runtime/cgroup.h for the modes and the layout.
 *
 * Why probe so carefully. "cgroup v2 is mounted" says little: on a hybrid
 * layout the v2 tree is mounted at /sys/fs/cgroup/unified with the cpu and
 * memory controllers bound to v1, so only hugetlb (or nothing) is listed in
 * its cgroup.controllers; in a container the tree may be read-only; under
 * systemd the agent's cgroup is writable only when the unit has
 * Delegate=yes. So the probe checks each step it relies on, in order, and
 * the first one that fails is the reason it gives. */
#include "runtime/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *sl__cgroup_mode_name(sl__cgroup_mode m)
{
    switch (m) {
    case SL__CGROUP_LIMITS: return "on";
    case SL__CGROUP_KILL_ONLY: return "kill-only";
    default: return "off";
    }
}

/* ---- small file helpers ----------------------------------------------- */

/* Reads up to cap-1 bytes of a small file into buf. Returns the length or a
 * negative errno. */
static long read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    buf[n] = 0;
    close(fd);
    return (long)n;
}

/* Writes s to an existing file (cgroup files are never created by us),
 * truncating it as a shell's `echo s > file` does (cgroup files ignore that;
 * the fake trees of the tests need it). Returns 0 or a negative errno; the
 * kernel reports a refused value as the error of write(). */
static int write_existing(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = strlen(s);
    ssize_t w = write(fd, s, n);
    int e = w < 0 ? errno : (size_t)w != n ? EIO : 0;
    close(fd);
    return -e;
}

/* out = dir/name; "" when it does not fit (every later open then fails). */
static void join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        out[0] = 0;
}

/* Sets cg->why (truncated when a path makes it longer than it can hold). */
__attribute__((format(printf, 2, 3))) static void say(sl__cgroup *cg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cg->why, sizeof cg->why, fmt, ap);
    va_end(ap);
}

/* Whether the space-separated list in s has the word w ("+w" counts too:
 * fake trees in tests hold what was written to cgroup.subtree_control). */
static bool has_word(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = s; *p;) {
        p += strspn(p, " \t\n+");
        size_t len = strcspn(p, " \t\n");
        if (len == n && !strncmp(p, w, n))
            return true;
        p += len;
    }
    return false;
}

/* Undoes the octal escapes (\040 for a space) of a mountinfo field, in place. */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7' &&
            p[3] >= '0' && p[3] <= '7') {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
}

/* ---- probing ---------------------------------------------------------- */

/* Finds the first cgroup2 mount in a mountinfo file: its root within the
 * hierarchy and its mount point. Returns 0 or -ENOENT. */
static int find_mount(const char *mountinfo, char *root, char *point, size_t cap)
{
    FILE *f = fopen(mountinfo, "re");
    if (!f)
        return -ENOENT;
    char line[8192];
    int rc = -ENOENT;
    while (rc && fgets(line, sizeof line, f)) {
        /* id parent major:minor root point options [optional...] - type source super */
        char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        char type[64];
        if (sscanf(sep + 3, "%63s", type) != 1 || strcmp(type, "cgroup2") != 0)
            continue;
        *sep = 0;
        char *save = NULL, *field = strtok_r(line, " ", &save);
        for (int i = 1; field && i < 4; i++)
            field = strtok_r(NULL, " ", &save);
        char *pt = field ? strtok_r(NULL, " ", &save) : NULL;
        if (!field || !pt || strlen(field) >= cap || strlen(pt) >= cap)
            continue;
        memcpy(root, field, strlen(field) + 1);
        memcpy(point, pt, strlen(pt) + 1);
        unescape(root);
        unescape(point);
        rc = 0;
    }
    fclose(f);
    return rc;
}

/* Reads the cgroup v2 path of the "0::" line. Returns 0 or -ENOENT. */
static int find_own(const char *self_cgroup, char *rel, size_t cap)
{
    FILE *f = fopen(self_cgroup, "re");
    if (!f)
        return -ENOENT;
    char line[8192];
    int rc = -ENOENT;
    while (rc && fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::", 3) != 0)
            continue;
        line[strcspn(line, "\n")] = 0;
        if (strlen(line + 3) < cap) {
            memcpy(rel, line + 3, strlen(line + 3) + 1);
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

/* Removes the empty cgroups left below base by agents that are gone
 * (starling-PID.* of a PID that no longer runs): a killed agent cannot
 * clean up after itself. Best effort. */
static void sweep_stale(const sl__cgroup *cg)
{
    DIR *d = opendir(cg->base);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid;
        int end = 0;
        if (sscanf(e->d_name, "starling-%ld.%n", &pid, &end) != 1 || end == 0 || pid <= 0 ||
            pid == cg->pid)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* still running (or not ours to ask about) */
        char path[SL__CGROUP_PATH_MAX + 256];
        join(path, sizeof path, cg->base, e->d_name);
        rmdir(path);
    }
    closedir(d);
}

/* Whether the kernel gives child cgroups a cgroup.kill file (5.14 and
 * later): a child of base is made to look, and removed again. */
static bool kill_supported(const sl__cgroup *cg)
{
    char dir[SL__CGROUP_PATH_MAX + 64], file[SL__CGROUP_PATH_MAX + 96];
    if (snprintf(dir, sizeof dir, "%s/starling-%d.probe", cg->base, cg->pid) >= (int)sizeof dir)
        return false;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return false;
    join(file, sizeof file, dir, "cgroup.kill");
    bool ok = access(file, W_OK) == 0;
    rmdir(dir);
    return ok;
}

/* Enables cpu and memory for base's children; on EBUSY (base holds
 * processes: the no-internal-processes rule) moves us into a leaf of our own
 * first. Returns 0 or the negative errno of the last try. */
static int enable_controllers(sl__cgroup *cg)
{
    char ctl[SL__CGROUP_PATH_MAX + 64];
    join(ctl, sizeof ctl, cg->base, "cgroup.subtree_control");
    int rc = write_existing(ctl, "+cpu +memory");
    if (rc == -EBUSY) {
        char leaf[SL__CGROUP_PATH_MAX + 64];
        if (snprintf(leaf, sizeof leaf, "%s/starling-%d.agent", cg->base, cg->pid) >=
            (int)sizeof leaf)
            return -ENAMETOOLONG;
        if (mkdir(leaf, 0755) != 0 && errno != EEXIST)
            return -errno;
        if ((rc = sl__cgroup_enter(leaf)) != 0)
            return rc;
        cg->moved = true;
        rc = write_existing(ctl, "+cpu +memory");
    }
    if (rc)
        return rc;
    char now[512];
    if (read_small(ctl, now, sizeof now) < 0 || !has_word(now, "cpu") || !has_word(now, "memory"))
        return -EIO;
    return 0;
}

/* Falls back to KILL_ONLY (when the kernel has cgroup.kill) or OFF, with
 * the reason why limits are off: "off (REASON)", and in KILL_ONLY mode what
 * the cgroups are still good for. */
__attribute__((format(printf, 2, 3))) static void limits_off(sl__cgroup *cg, const char *fmt, ...)
{
    char why[SL__CGROUP_WHY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    cg->mode = kill_supported(cg) ? SL__CGROUP_KILL_ONLY : SL__CGROUP_OFF;
    say(cg, "off (%.400s)%s", why,
        cg->mode == SL__CGROUP_KILL_ONLY ? "; replicas are still killed whole through cgroup.kill"
                                         : "");
}

void sl__cgroup_probe(const sl__cgroup_config *cfg, sl__cgroup *cg)
{
    memset(cg, 0, sizeof *cg);
    cg->pid = cfg->pid > 0 ? cfg->pid : (int)getpid();
    if (cfg->disabled) {
        say(cg, "off (cgroups disabled)");
        return;
    }
    const char *mi = cfg->mountinfo ? cfg->mountinfo : "/proc/self/mountinfo";
    const char *sc = cfg->self_cgroup ? cfg->self_cgroup : "/proc/self/cgroup";
    char root[SL__CGROUP_PATH_MAX], rel[SL__CGROUP_PATH_MAX];
    if (find_mount(mi, root, cg->mount, sizeof cg->mount) != 0) {
        say(cg, "off (no cgroup v2 is mounted)");
        return;
    }
    if (find_own(sc, rel, sizeof rel) != 0) {
        say(cg, "off (the agent is in no cgroup v2: no 0:: line in %s)", sc);
        return;
    }
    /* A mount of a subtree (root "/x") shows the cgroups below /x. */
    size_t rl = strcmp(root, "/") ? strlen(root) : 0;
    if (rl && (strncmp(rel, root, rl) != 0 || (rel[rl] && rel[rl] != '/'))) {
        say(cg, "off (the agent's cgroup %s is not below %s mounted at %s)", rel, root, cg->mount);
        return;
    }
    const char *below = rel + rl;
    while (*below == '/')
        below++;
    int n = snprintf(cg->base, sizeof cg->base, "%s%s%s", cg->mount, *below ? "/" : "", below);
    if (n < 0 || (size_t)n >= sizeof cg->base - 300) {
        say(cg, "off (the agent's cgroup path is too long)");
        cg->base[0] = 0;
        return;
    }
    char file[SL__CGROUP_PATH_MAX + 64];
    join(file, sizeof file, cg->base, "cgroup.procs");
    if (access(cg->base, W_OK) != 0 || access(file, W_OK) != 0) {
        say(cg,
            "off (the agent's cgroup %s is not writable: run it with a delegated cgroup, e.g. "
            "systemd-run -p Delegate=yes)",
            cg->base);
        return;
    }
    sweep_stale(cg);
    char ctl[512];
    join(file, sizeof file, cg->base, "cgroup.controllers");
    if (read_small(file, ctl, sizeof ctl) < 0)
        ctl[0] = 0;
    bool cpu = has_word(ctl, "cpu"), mem = has_word(ctl, "memory");
    if (!cpu || !mem) {
        limits_off(cg, "cgroup v2 at %s has no %s controller", cg->mount,
                   !cpu && !mem ? "cpu or memory"
                   : !cpu       ? "cpu"
                                : "memory");
        return;
    }
    int rc = enable_controllers(cg);
    if (rc) {
        limits_off(cg, "cannot enable cpu and memory for the children of %s: %s%s", cg->base,
                   strerror(-rc),
                   rc == -EBUSY ? " (other processes share the agent's cgroup: give the agent "
                                  "one of its own, e.g. systemd-run --scope -p Delegate=yes)"
                                : "");
        return;
    }
    cg->mode = SL__CGROUP_LIMITS;
    say(cg, "on (cpu.max and memory.max per replica, below %s)", cg->base);
}

/* ---- one replica's cgroup --------------------------------------------- */

void sl__cgroup_cpu_max(uint32_t cpu_milli, char *buf, size_t cap)
{
    if (!cpu_milli) {
        snprintf(buf, cap, "max %u", (unsigned)SL__CGROUP_CPU_PERIOD_US);
        return;
    }
    uint64_t quota = (uint64_t)cpu_milli * SL__CGROUP_CPU_PERIOD_US / 1000;
    if (quota < SL__CGROUP_CPU_QUOTA_MIN_US)
        quota = SL__CGROUP_CPU_QUOTA_MIN_US;
    snprintf(buf, cap, "%" PRIu64 " %u", quota, (unsigned)SL__CGROUP_CPU_PERIOD_US);
}

void sl__cgroup_mem_max(uint32_t mem_mb, char *buf, size_t cap)
{
    if (!mem_mb)
        snprintf(buf, cap, "max");
    else
        snprintf(buf, cap, "%" PRIu64, (uint64_t)mem_mb * 1024 * 1024);
}

int sl__cgroup_prepare(const sl__cgroup *cg, const char *service, uint32_t replica,
                       uint32_t cpu_milli, uint32_t mem_mb, char *path, size_t cap,
                       uint64_t *oom_kills, const char **what)
{
    *oom_kills = 0;
    *what = "cgroups";
    if (cg->mode == SL__CGROUP_OFF)
        return -ENOTSUP;
    int n =
        snprintf(path, cap, "%s/starling-%d.%s.%u", cg->base, cg->pid, service, (unsigned)replica);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    *what = "mkdir";
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return -errno;
    *oom_kills = sl__cgroup_oom_kills(path);
    if (cg->mode != SL__CGROUP_LIMITS)
        return 0;
    char file[SL__CGROUP_PATH_MAX + 64], v[64];
    sl__cgroup_cpu_max(cpu_milli, v, sizeof v);
    join(file, sizeof file, path, "cpu.max");
    int rc;
    *what = "cpu.max";
    if ((rc = write_existing(file, v)) != 0)
        return rc;
    sl__cgroup_mem_max(mem_mb, v, sizeof v);
    join(file, sizeof file, path, "memory.max");
    *what = "memory.max";
    if ((rc = write_existing(file, v)) != 0)
        return rc;
    /* Over its memory a replica is to be killed, not swapped out; and killed
     * whole, not one process of it. Kernels without swap accounting lack the
     * first file: that is fine. */
    join(file, sizeof file, path, "memory.swap.max");
    if (access(file, F_OK) == 0) {
        *what = "memory.swap.max";
        if ((rc = write_existing(file, mem_mb ? "0" : "max")) != 0)
            return rc;
    }
    join(file, sizeof file, path, "memory.oom.group");
    *what = "memory.oom.group";
    return write_existing(file, "1");
}

uint64_t sl__cgroup_oom_kills(const char *path)
{
    char file[SL__CGROUP_PATH_MAX + 64], buf[1024];
    join(file, sizeof file, path, "memory.events");
    if (read_small(file, buf, sizeof buf) <= 0)
        return 0;
    for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        unsigned long long v;
        if (sscanf(p, "oom_kill %llu", &v) == 1)
            return v;
    }
    return 0;
}

int sl__cgroup_kill(const char *path)
{
    char file[SL__CGROUP_PATH_MAX + 64];
    join(file, sizeof file, path, "cgroup.kill");
    return write_existing(file, "1");
}

int sl__cgroup_remove(const char *path)
{
    sl__cgroup_kill(path);
    return rmdir(path) == 0 || errno == ENOENT ? 0 : -errno;
}

int sl__cgroup_enter(const char *path)
{
    char file[SL__CGROUP_PATH_MAX + 64], pid[24];
    join(file, sizeof file, path, "cgroup.procs");
    snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    return write_existing(file, pid);
}
