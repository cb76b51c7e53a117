/* Replica cgroups (node/runtime/cgroup.c) on a fake tree: a temporary
 * directory with a mountinfo file, a /proc/self/cgroup file and the cgroup
 * files the probe and the replica set-up read and write. This checks the
 * decisions (which mode, and the reason given) and the file writes (cpu.max,
 * memory.max, ...) that a machine without a delegated cgroup v2 cannot show
 * for real. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/cgroup.h"

#define FAKE_PID 4242

typedef struct tree {
    char dir[64];    /* the temporary directory */
    char mount[128]; /* dir/cg: the fake cgroup2 mount point */
    char mountinfo[128];
    char self[128];
} tree;

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

__attribute__((format(printf, 3, 4))) static void putf(const char *dir, const char *name,
                                                       const char *fmt, ...)
{
    char path[512], text[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    put(path, text);
}

static char *slurp(const char *dir, const char *name)
{
    static char buf[1024];
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* A tree whose mountinfo lists a cgroup2 mount at dir/cg (and, before it,
 * the v1 mounts of a hybrid layout), and whose process is in cgroup `rel`. */
static void make_tree(tree *t, const char *rel, const char *controllers)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/sl-cg-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->mount, sizeof t->mount, "%s/cg", t->dir);
    assert_int_equal(mkdir(t->mount, 0755), 0);
    snprintf(t->mountinfo, sizeof t->mountinfo, "%s/mountinfo", t->dir);
    snprintf(t->self, sizeof t->self, "%s/self-cgroup", t->dir);
    char mi[1024];
    snprintf(mi, sizeof mi,
             "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
             "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
             "41 31 0:38 / %s rw,relatime shared:9 - cgroup2 cgroup2 rw\n",
             t->mount);
    put(t->mountinfo, mi);
    char self[256];
    snprintf(self, sizeof self, "4:memory:/x\n1:cpu:/\n0::%s\n", rel);
    put(t->self, self);
    char base[256];
    snprintf(base, sizeof base, "%s%s", t->mount, strcmp(rel, "/") ? rel : "");
    for (char *p = base + strlen(t->mount) + 1; *p; p++) /* mkdir -p */
        if (*p == '/') {
            *p = 0;
            mkdir(base, 0755);
            *p = '/';
        }
    mkdir(base, 0755);
    putf(base, "cgroup.procs", "%s", "");
    putf(base, "cgroup.controllers", "%s\n", controllers);
    putf(base, "cgroup.subtree_control", "%s", "");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void drop_tree(tree *t)
{
    nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void probe(const tree *t, sl__cgroup *cg)
{
    sl__cgroup_config cfg = {.mountinfo = t->mountinfo, .self_cgroup = t->self, .pid = FAKE_PID};
    sl__cgroup_probe(&cfg, cg);
}

/* ---- decisions -------------------------------------------------------- */

static void cpu_and_memory_mean_limits(void **state)
{
    (void)state;
    tree t;
    make_tree(&t, "/svc/agent", "cpuset cpu io memory pids");
    sl__cgroup cg;
    probe(&t, &cg);
    assert_int_equal(cg.mode, SL__CGROUP_LIMITS);
    char base[256];
    snprintf(base, sizeof base, "%s/svc/agent", t.mount);
    assert_string_equal(cg.base, base);
    assert_string_equal(cg.mount, t.mount);
    /* It asked for both controllers for its children. */
    assert_string_equal(slurp(base, "cgroup.subtree_control"), "+cpu +memory");
    assert_non_null(strstr(cg.why, "on (cpu.max and memory.max per replica"));
    assert_string_equal(sl__cgroup_mode_name(cg.mode), "on");
    drop_tree(&t);
}

/* The layout of this project's test machine: cgroup2 at .../unified with
 * only hugetlb, and a kernel that has cgroup.kill (the probe's child cgroup
 * shows one): limits are off, saying why, and replicas still get a cgroup
 * to be killed through. */
static void hugetlb_only_means_kill_only(void **state)
{
    (void)state;
    tree t;
    make_tree(&t, "/", "hugetlb");
    char probe_dir[256];
    snprintf(probe_dir, sizeof probe_dir, "%s/starling-%d.probe", t.mount, FAKE_PID);
    assert_int_equal(mkdir(probe_dir, 0755), 0);
    putf(probe_dir, "cgroup.kill", "%s", "");
    sl__cgroup cg;
    probe(&t, &cg);
    assert_int_equal(cg.mode, SL__CGROUP_KILL_ONLY);
    char want[512];
    snprintf(want, sizeof want,
             "off (cgroup v2 at %s has no cpu or memory controller); replicas are still killed "
             "whole through cgroup.kill",
             t.mount);
    assert_string_equal(cg.why, want);
    assert_string_equal(cg.base, t.mount);
    /* Nothing was asked of the controllers it does not have. */
    assert_string_equal(slurp(t.mount, "cgroup.subtree_control"), "");
    drop_tree(&t);
}

/* The same without cgroup.kill (a kernel before 5.14): off. */
static void no_controllers_no_kill_means_off(void **state)
{
    (void)state;
    tree t;
    make_tree(&t, "/", "hugetlb");
    sl__cgroup cg;
    probe(&t, &cg);
    assert_int_equal(cg.mode, SL__CGROUP_OFF);
    char want[512];
    snprintf(want, sizeof want, "off (cgroup v2 at %s has no cpu or memory controller)", t.mount);
    assert_string_equal(cg.why, want);
    drop_tree(&t);
}

static void one_controller_missing_is_named(void **state)
{
    (void)state;
    tree t;
    make_tree(&t, "/a", "cpu pids");
    sl__cgroup cg;
    probe(&t, &cg);
    assert_int_equal(cg.mode, SL__CGROUP_OFF);
    assert_non_null(strstr(cg.why, "has no memory controller"));
    drop_tree(&t);
    make_tree(&t, "/a", "memory");
    probe(&t, &cg);
    assert_non_null(strstr(cg.why, "has no cpu controller"));
    drop_tree(&t);
}

static void no_cgroup2_mount_means_off(void **state)
{
    (void)state;
    tree t;
    make_tree(&t, "/", "cpu memory");
    put(t.mountinfo, "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                     "36 31 0:33 / /mnt/x rw - ext4 /dev/sda1 rw\n");
    sl__cgroup cg;
    probe(&t, &cg);
    assert_int_equal(cg.mode, SL__CGROUP_OFF);
    assert_string_equal(cg.why, "off (no cgroup v2 is mounted)");
    drop_tree(&t);
}

static void no_v2_line_means_off(void **state)
{
    (void)state;
    tree t;
    make_tree(&t, "/", "cpu memory");
    put(t.self, "4:memory:/x\n1:cpu:/\n");
    sl__cgroup cg;
    probe(&t, &cg);
    assert_int_equal(cg.mode, SL__CGROUP_OFF);
    assert_non_null(strstr(cg.why, "the agent is in no cgroup v2"));
    drop_tree(&t);
}

/* Our cgroup missing under the mount (a read-only or foreign tree, as a
 * container without a cgroup namespace shows): not writable, off. */
static void an_unwritable_cgroup_means_off(void **state)
{
    (void)state;
    tree t;
    make_tree(&t, "/", "cpu memory");
    put(t.self, "0::/not/here\n");
    sl__cgroup cg;
    probe(&t, &cg);
    assert_int_equal(cg.mode, SL__CGROUP_OFF);
    assert_non_null(strstr(cg.why, "is not writable"));
    assert_non_null(strstr(cg.why, "/not/here"));
    drop_tree(&t);
}

/* A mount of a subtree (mountinfo root /sys.slice) maps our cgroup path. */
static void a_subtree_mount_maps_the_path(void **state)
{
    (void)state;
    tree t;
    make_tree(&t, "/agent", "cpu memory");
    char mi[512];
    snprintf(mi, sizeof mi, "41 31 0:38 /sys.slice %s rw - cgroup2 cgroup2 rw\n", t.mount);
    put(t.mountinfo, mi);
    put(t.self, "0::/sys.slice/agent\n");
    sl__cgroup cg;
    probe(&t, &cg);
    char base[256];
    snprintf(base, sizeof base, "%s/agent", t.mount);
    assert_string_equal(cg.base, base);
    assert_int_equal(cg.mode, SL__CGROUP_LIMITS);
    put(t.self, "0::/elsewhere/agent\n");
    probe(&t, &cg);
    assert_int_equal(cg.mode, SL__CGROUP_OFF);
    assert_non_null(strstr(cg.why, "is not below /sys.slice"));
    drop_tree(&t);
}

static void disabled_means_off(void **state)
{
    (void)state;
    sl__cgroup cg;
    sl__cgroup_probe(&(sl__cgroup_config){.disabled = true}, &cg);
    assert_int_equal(cg.mode, SL__CGROUP_OFF);
    assert_string_equal(cg.why, "off (cgroups disabled)");
}

/* Empty cgroups of agents that are gone are swept; ours and others stay. */
static void stale_cgroups_of_dead_agents_are_swept(void **state)
{
    (void)state;
    tree t;
    make_tree(&t, "/", "cpu memory");
    char dead[256], live[256], other[256];
    snprintf(dead, sizeof dead, "%s/starling-999999999.web.0", t.mount); /* no such pid */
    snprintf(live, sizeof live, "%s/starling-%d.web.0", t.mount, (int)getpid());
    snprintf(other, sizeof other, "%s/someone-else", t.mount);
    assert_int_equal(mkdir(dead, 0755), 0);
    assert_int_equal(mkdir(live, 0755), 0);
    assert_int_equal(mkdir(other, 0755), 0);
    sl__cgroup cg;
    probe(&t, &cg);
    assert_int_not_equal(access(dead, F_OK), 0);
    assert_int_equal(access(live, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
    drop_tree(&t);
}

/* ---- one replica ------------------------------------------------------ */

static void limit_lines(void **state)
{
    (void)state;
    char b[64];
    sl__cgroup_cpu_max(0, b, sizeof b);
    assert_string_equal(b, "max 100000");
    sl__cgroup_cpu_max(250, b, sizeof b);
    assert_string_equal(b, "25000 100000");
    sl__cgroup_cpu_max(2000, b, sizeof b);
    assert_string_equal(b, "200000 100000");
    sl__cgroup_cpu_max(1, b, sizeof b); /* 100 us: below the kernel's minimum */
    assert_string_equal(b, "1000 100000");
    sl__cgroup_cpu_max(UINT32_MAX, b, sizeof b);
    assert_string_equal(b, "429496729500 100000");
    sl__cgroup_mem_max(0, b, sizeof b);
    assert_string_equal(b, "max");
    sl__cgroup_mem_max(64, b, sizeof b);
    assert_string_equal(b, "67108864");
    sl__cgroup_mem_max(UINT32_MAX, b, sizeof b);
    assert_string_equal(b, "4503599626321920");
}

/* The kernel would create these files with the cgroup; the fake tree has
 * them ready. */
static void fake_replica_cgroup(const char *dir, bool swap, const char *events)
{
    mkdir(dir, 0755);
    putf(dir, "cgroup.procs", "%s", "");
    putf(dir, "cgroup.kill", "%s", "");
    putf(dir, "cpu.max", "max 100000\n");
    putf(dir, "memory.max", "max\n");
    putf(dir, "memory.oom.group", "0\n");
    putf(dir, "memory.events", "%s", events);
    if (swap)
        putf(dir, "memory.swap.max", "max\n");
}

static void prepare_writes_the_limits(void **state)
{
    (void)state;
    tree t;
    make_tree(&t, "/agent", "cpu memory");
    sl__cgroup cg;
    probe(&t, &cg);
    assert_int_equal(cg.mode, SL__CGROUP_LIMITS);
    char want[256];
    snprintf(want, sizeof want, "%s/agent/starling-%d.web.3", t.mount, FAKE_PID);
    fake_replica_cgroup(want, true, "low 0\nhigh 0\nmax 7\noom 5\noom_kill 2\noom_group_kill 0\n");
    char path[SL__CGROUP_PATH_MAX];
    uint64_t ooms = 99;
    const char *what = NULL;
    assert_int_equal(sl__cgroup_prepare(&cg, "web", 3, 250, 64, path, sizeof path, &ooms, &what),
                     0);
    assert_string_equal(path, want);
    assert_int_equal(ooms, 2);
    assert_string_equal(slurp(path, "cpu.max"), "25000 100000");
    assert_string_equal(slurp(path, "memory.max"), "67108864");
    assert_string_equal(slurp(path, "memory.swap.max"), "0");
    assert_string_equal(slurp(path, "memory.oom.group"), "1");
    /* No limits asked: "max" everywhere, swap allowed again. */
    assert_int_equal(sl__cgroup_prepare(&cg, "web", 3, 0, 0, path, sizeof path, &ooms, &what), 0);
    assert_string_equal(slurp(path, "cpu.max"), "max 100000");
    assert_string_equal(slurp(path, "memory.max"), "max");
    assert_string_equal(slurp(path, "memory.swap.max"), "max");
    /* The OOM counter, and the kill. */
    putf(path, "memory.events", "low 0\noom 6\noom_kill 3\n");
    assert_int_equal(sl__cgroup_oom_kills(path), 3);
    assert_int_equal(sl__cgroup_kill(path), 0);
    assert_string_equal(slurp(path, "cgroup.kill"), "1");
    drop_tree(&t);
}

/* Without swap accounting there is no memory.swap.max: that is fine. A
 * missing cpu.max (the controller was not enabled after all) is an error
 * that names the file. */
static void prepare_without_swap_and_failures(void **state)
{
    (void)state;
    tree t;
    make_tree(&t, "/", "cpu memory");
    sl__cgroup cg;
    probe(&t, &cg);
    char dir[256], path[SL__CGROUP_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/starling-%d.db.0", t.mount, FAKE_PID);
    fake_replica_cgroup(dir, false, "oom_kill 0\n");
    uint64_t ooms;
    const char *what;
    assert_int_equal(sl__cgroup_prepare(&cg, "db", 0, 500, 128, path, sizeof path, &ooms, &what),
                     0);
    assert_string_equal(slurp(path, "memory.max"), "134217728");
    assert_int_equal(access(strcat(strcpy(dir, path), "/memory.swap.max"), F_OK), -1);
    /* A fresh cgroup of the fake tree has no files: cpu.max cannot be written. */
    assert_int_equal(sl__cgroup_prepare(&cg, "db", 1, 500, 128, path, sizeof path, &ooms, &what),
                     -ENOENT);
    assert_string_equal(what, "cpu.max");
    drop_tree(&t);
}

/* In KILL_ONLY mode a replica gets a cgroup and no limits are written. */
static void kill_only_prepares_without_limits(void **state)
{
    (void)state;
    tree t;
    make_tree(&t, "/", "hugetlb");
    char probe_dir[256];
    snprintf(probe_dir, sizeof probe_dir, "%s/starling-%d.probe", t.mount, FAKE_PID);
    mkdir(probe_dir, 0755);
    putf(probe_dir, "cgroup.kill", "%s", "");
    sl__cgroup cg;
    probe(&t, &cg);
    assert_int_equal(cg.mode, SL__CGROUP_KILL_ONLY);
    char path[SL__CGROUP_PATH_MAX];
    uint64_t ooms = 5;
    const char *what;
    assert_int_equal(sl__cgroup_prepare(&cg, "web", 0, 250, 64, path, sizeof path, &ooms, &what),
                     0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(ooms, 0);
    char f[SL__CGROUP_PATH_MAX + 16];
    snprintf(f, sizeof f, "%s/cpu.max", path);
    assert_int_equal(access(f, F_OK), -1); /* nothing written */
    sl__cgroup off = {.mode = SL__CGROUP_OFF};
    assert_int_equal(sl__cgroup_prepare(&off, "web", 0, 0, 0, path, sizeof path, &ooms, &what),
                     -ENOTSUP);
    drop_tree(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cpu_and_memory_mean_limits),
        cmocka_unit_test(hugetlb_only_means_kill_only),
        cmocka_unit_test(no_controllers_no_kill_means_off),
        cmocka_unit_test(one_controller_missing_is_named),
        cmocka_unit_test(no_cgroup2_mount_means_off),
        cmocka_unit_test(no_v2_line_means_off),
        cmocka_unit_test(an_unwritable_cgroup_means_off),
        cmocka_unit_test(a_subtree_mount_maps_the_path),
        cmocka_unit_test(disabled_means_off),
        cmocka_unit_test(stale_cgroups_of_dead_agents_are_swept),
        cmocka_unit_test(limit_lines),
        cmocka_unit_test(prepare_writes_the_limits),
        cmocka_unit_test(prepare_without_swap_and_failures),
        cmocka_unit_test(kill_only_prepares_without_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
