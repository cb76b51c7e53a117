/* The runtime: desired state in, replicas out.
 *
 * Desired state. The service catalog (gossip/catalog.c) is replicated to
 * every peer: a local change (deploy, scale, rm) is stamped with a hybrid
 * logical clock (past everything seen, and at least this machine's wall
 * clock) and broadcast as an application message on the SWIM core's
 * packets; a received record that is newer than ours is stored and passed
 * on, so news spreads epidemically; the whole catalog also rides every
 * push-pull, which repairs whatever gossip missed and brings a rejoining
 * peer up to date. Every change is persisted to DATA_DIR/catalog (temp file,
 * fsync, rename), so a full-cluster restart loses nothing.
 *
 * Actual state. Each node publishes, per service, what it runs: replica
 * indexes with status, port and restarts (gossip/reports.c). `where` reads
 * them, and so does the hand-off: a node that gives up a replica waits until
 * the successor reports it running (reconcile.c).
 *
 * Processes. The supervisor (supervisor.c) runs the replicas; every status
 * change it reports is published here. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../gossip/mp.h"
#include "datadir.h"
#include "log.h"
#include "runtime_internal.h"
#include "starling/error.h"
#include "starling/meta.h"

#define CATALOG_FILE "catalog"
#define SAVE_DELAY_MS 200
#define GC_INTERVAL_MS 60000

uint64_t sl__runtime_now(const sl__runtime *rt)
{
    return uv_now(rt->loop);
}

/* The wall clock in ms since the epoch, for the catalog's write stamps (0
 * when it cannot be read: the stamps are then plain Lamport times). */
static uint64_t wall_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t key_of(const char *a, const char *b, const char *c)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *parts[] = {a, b, c};
    for (int i = 0; i < 3; i++)
        for (const char *p = parts[i]; p && *p; p++)
            h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    return h;
}

static uint64_t key_bytes(char tag, const uint8_t *buf, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint8_t)tag;
    for (size_t i = 0; i < len; i++)
        h = (h ^ buf[i]) * 0x100000001b3ull;
    return h;
}

static void broadcast(sl__runtime *rt, uint64_t key, const uint8_t *buf, size_t len)
{
    if (rt->swim && sl_swim_broadcast(rt->swim, key, buf, len) != 0)
        sl__warn("cannot gossip a %zu-byte update: too large", len);
}

/* ---- persistence ---- */

static void save_now(sl__runtime *rt)
{
    if (!rt->data_dir)
        return;
    uint8_t *buf;
    size_t len;
    if (sl_catalog_encode(rt->cat, &buf, &len) != 0) {
        sl__error("cannot encode the catalog: out of memory");
        return;
    }
    int rc = sl__datadir_write(rt->data_dir, CATALOG_FILE, (const char *)buf, len);
    if (rc != 0)
        sl__error("cannot save the catalog in %s: %s", rt->data_dir, strerror(-rc));
    free(buf);
}

static void on_save_timer(uv_timer_t *t)
{
    save_now(t->data);
}

static void save_soon(sl__runtime *rt)
{
    if (rt->data_dir && !rt->closing)
        uv_timer_start(&rt->save_timer, on_save_timer, SAVE_DELAY_MS, 0);
}

/* Reads DIR/catalog (bounded) and merges it. Returns 0, or a negative code
 * when the file exists but cannot be read or is corrupt. */
static int load_catalog(sl__runtime *rt)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", rt->data_dir, CATALOG_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > (off_t)SL_SWIM_STATE_MAX) {
        close(fd);
        return SL_ETOOBIG;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    int rc = got == st.st_size ? sl_catalog_merge(rt->cat, buf, (size_t)got, 0) : SL_EMALFORMED;
    free(buf);
    if (rc < 0)
        return rc;
    sl__info("loaded %zu catalog records from %s", sl_catalog_size(rt->cat), path);
    return 0;
}

/* ---- reports ---- */

void sl__runtime_publish(sl__runtime *rt, const char *service)
{
    sl_report r = {.version = ((uint64_t)rt->cfg.generation << 32) | ++rt->report_ctr};
    snprintf(r.node, sizeof r.node, "%s", rt->node);
    snprintf(r.service, sizeof r.service, "%s", service);
    sl__local_replica *local;
    size_t n = sl__runtime_local(rt, &local);
    for (size_t i = 0; i < n && r.n < SL_REPORT_REPLICAS_MAX; i++)
        if (!strcmp(local[i].service, service))
            r.replicas[r.n++] = (sl_replica_report){local[i].replica, local[i].status,
                                                    local[i].port, local[i].restarts};
    free(local);
    uint8_t msg[512];
    size_t len;
    if (sl_reports_put(rt->rep, &r, msg, sizeof msg, &len) == 0)
        broadcast(rt, key_of("r", rt->node, service), msg, len);
}

static void collect(void *ud, const sl__replica_info *r)
{
    struct collector {
        sl__local_replica *a;
        size_t n, cap;
    } *c = ud;
    if (c->n == c->cap)
        return;
    sl__local_replica *x = &c->a[c->n++];
    snprintf(x->service, sizeof x->service, "%s", r->service);
    x->replica = r->replica;
    x->status = r->status;
    x->port = r->port;
    x->restarts = r->restarts;
    x->pid = r->pid;
}

size_t sl__runtime_local(const sl__runtime *rt, sl__local_replica **out)
{
    struct collector {
        sl__local_replica *a;
        size_t n, cap;
    } c = {NULL, 0, sl__supervisor_count(rt->sup)};
    c.a = calloc(c.cap ? c.cap : 1, sizeof *c.a);
    if (c.a)
        sl__supervisor_foreach(rt->sup, collect, &c);
    else
        c.n = 0;
    *out = c.a;
    return c.n;
}

static void on_replica_change(void *ud, const sl__replica_info *r)
{
    sl__runtime *rt = ud;
    if (r->status == SL_REPLICA_FAILED)
        sl__warn("replica %s/%u failed (exit %lld, signal %d, restarts %u)", r->service, r->replica,
                 (long long)r->exit_status, r->term_signal, r->restarts);
    else
        sl__info("replica %s/%u %s on port %u", r->service, r->replica,
                 sl_replica_status_name(r->status), r->port);
    sl__runtime_publish(rt, r->service);
}

static void on_replica_removed(void *ud, const sl__replica_info *r)
{
    sl__runtime *rt = ud;
    sl__info("replica %s/%u stopped", r->service, r->replica);
    sl__reconcile_forget(rt, r->service, r->replica);
    char service[SL_SVC_NAME_MAX + 1];
    snprintf(service, sizeof service, "%s", r->service);
    sl__runtime_publish(rt, service);
}

/* ---- the core's application callbacks ---- */

int sl__runtime_user_msg(sl__runtime *rt, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    int kind = sl_appmsg_kind(buf, len), rc;
    if (kind == SL_APPMSG_SERVICE) {
        rc = sl_catalog_apply(rt->cat, buf, len, now_ms);
        if (rc == 1) {
            broadcast(rt, key_bytes('s', buf, len), buf, len);
            save_soon(rt);
            sl__reconcile_soon(rt);
        }
    } else if (kind == SL_APPMSG_REPORT) {
        rc = sl_reports_apply(rt->rep, buf, len);
        if (rc == 1) {
            broadcast(rt, key_bytes('r', buf, len), buf, len);
            if (rt->nho)
                sl__reconcile_soon(rt);
        }
    } else {
        return SL_EMALFORMED;
    }
    return rc < 0 ? rc : 0;
}

int sl__runtime_user_state(sl__runtime *rt, uint8_t **out, size_t *len)
{
    uint8_t *cat = NULL, *rep = NULL;
    size_t cl, rl;
    if (sl_catalog_encode(rt->cat, &cat, &cl) != 0 || sl_reports_encode(rt->rep, &rep, &rl) != 0) {
        free(cat);
        return SL_ENOMEM;
    }
    size_t cap = cl + rl + 32;
    uint8_t *buf = malloc(cap);
    int rc = SL_ENOMEM;
    if (buf) {
        sl__mp_writer w;
        sl__mp_writer_init(&w, buf, cap);
        msgpack_pack_array(&w.pk, 2);
        sl__mp_put_bin(&w, cat, cl);
        sl__mp_put_bin(&w, rep, rl);
        if (!w.overflow) {
            *out = buf;
            *len = w.len;
            rc = 0;
        } else {
            free(buf);
        }
    }
    free(cat);
    free(rep);
    return rc;
}

int sl__runtime_user_merge(sl__runtime *rt, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    sl__mp_reader r;
    uint32_t n, cl, rl;
    const uint8_t *cat, *rep;
    sl__mp_reader_init(&r, buf, len);
    if (sl__mp_read_array(&r, &n) || n < 2 || sl__mp_read_bin(&r, &cat, &cl) ||
        sl__mp_read_bin(&r, &rep, &rl))
        return SL_EMALFORMED;
    int c = sl_catalog_merge(rt->cat, cat, cl, now_ms);
    int m = sl_reports_merge(rt->rep, rep, rl);
    if (c > 0) {
        save_soon(rt);
        sl__reconcile_soon(rt);
    } else if (m > 0 && rt->nho) {
        sl__reconcile_soon(rt);
    }
    return c < 0 || m < 0 ? SL_EMALFORMED : 0;
}

void sl__runtime_member_event(sl__runtime *rt, const sl_swim_event *ev)
{
    if (ev->type == SL_EVENT_REAPED)
        sl_reports_forget_node(rt->rep, ev->name);
    /* A suspect still counts for placement: only changes of who is alive
     * (or of a member's metadata: zone, capacity, draining) move replicas. */
    if (ev->type != SL_EVENT_SUSPECT && ev->type != SL_EVENT_CONFLICT)
        sl__reconcile_soon(rt);
}

/* ---- operations ---- */

static int local_write(sl__runtime *rt, int rc, const uint8_t *msg, size_t len, const char *name,
                       char *err, size_t errcap)
{
    if (rc == SL_ENOTFOUND)
        snprintf(err, errcap, "no service named '%s'", name);
    else if (rc == SL_ETOOBIG)
        snprintf(err, errcap, "service '%s' is too large to gossip (max %d bytes encoded)", name,
                 SL_SVC_RECORD_MAX);
    else if (rc == SL_EINVAL)
        snprintf(err, errcap,
                 "invalid service '%s': name [A-Za-z0-9._-] up to %d, replicas up to %d, a "
                 "command, at most %d arguments and %d KEY=VALUE entries of %d bytes",
                 name, SL_SVC_NAME_MAX, SL_SVC_REPLICAS_MAX, SL_SVC_ARGS_MAX, SL_SVC_ENV_MAX,
                 SL_SVC_STR_MAX);
    else if (rc != 0)
        snprintf(err, errcap, "%s", sl_strerror(rc));
    if (rc != 0)
        return rc;
    broadcast(rt, key_bytes('s', msg, len), msg, len);
    save_soon(rt);
    sl__reconcile_soon(rt);
    return 0;
}

int sl__runtime_deploy(sl__runtime *rt, const sl_service *spec, char *err, size_t errcap)
{
    uint8_t msg[SL_SVC_RECORD_MAX];
    size_t len = 0;
    int rc = sl_catalog_put(rt->cat, spec, rt->node, sl__runtime_now(rt), wall_ms(), msg,
                            sizeof msg, &len);
    return local_write(rt, rc, msg, len, spec->name, err, errcap);
}

int sl__runtime_scale(sl__runtime *rt, const char *name, uint32_t replicas, char *err,
                      size_t errcap)
{
    uint8_t msg[SL_SVC_RECORD_MAX];
    size_t len = 0;
    int rc = sl_catalog_scale(rt->cat, name, replicas, rt->node, sl__runtime_now(rt), wall_ms(),
                              msg, sizeof msg, &len);
    return local_write(rt, rc, msg, len, name, err, errcap);
}

int sl__runtime_remove(sl__runtime *rt, const char *name, char *err, size_t errcap)
{
    uint8_t msg[SL_SVC_RECORD_MAX];
    size_t len = 0;
    int rc = sl_catalog_delete(rt->cat, name, rt->node, sl__runtime_now(rt), wall_ms(), msg,
                               sizeof msg, &len);
    return local_write(rt, rc, msg, len, name, err, errcap);
}

int sl__runtime_drain(sl__runtime *rt, char *err, size_t errcap)
{
    sl_member_view self;
    sl_meta meta;
    uint8_t buf[SL_SWIM_META_MAX];
    if (!rt->swim || sl_swim_find(rt->swim, rt->node, &self) != 0 ||
        sl_meta_decode(self.meta, self.meta_len, &meta) != 0) {
        snprintf(err, errcap, "cannot read this member's metadata");
        return SL_ESTATE;
    }
    int len = sl_meta_set_tag(&meta, SL__TAG_DRAINING, "1");
    if (len == 0)
        len = sl_meta_encode(&meta, buf, sizeof buf);
    if (len < 0 || sl_swim_set_meta(rt->swim, buf, (size_t)len, sl__runtime_now(rt)) != 0) {
        snprintf(err, errcap, "cannot mark this member as draining: metadata too large");
        return SL_ETOOBIG;
    }
    rt->draining = true;
    sl__info("draining: handing every replica to other members");
    sl__reconcile_soon(rt);
    return 0;
}

const sl_catalog *sl__runtime_catalog(const sl__runtime *rt)
{
    return rt->cat;
}

const sl_reports *sl__runtime_reports(const sl__runtime *rt)
{
    return rt->rep;
}

/* ---- lifecycle ---- */

static void on_gc_timer(uv_timer_t *t)
{
    sl__runtime *rt = t->data;
    if (sl_catalog_gc(rt->cat, sl__runtime_now(rt), rt->cfg.tombstone_ms) > 0)
        save_soon(rt);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int sl__runtime_new(uv_loop_t *loop, const sl__runtime_config *cfg, sl__runtime **out)
{
    sl__runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return SL_ENOMEM;
    rt->loop = loop;
    rt->cfg = *cfg;
    rt->node = dup_or_null(cfg->node);
    rt->host = dup_or_null(cfg->host);
    rt->data_dir = dup_or_null(cfg->data_dir);
    rt->shim = dup_or_null(cfg->shim);
    rt->cat = sl_catalog_new();
    rt->rep = sl_reports_new();
    int rc = rt->cat && rt->rep && rt->node && rt->host && rt->shim ? 0 : SL_ENOMEM;
    if (rc == 0 && rt->data_dir && (rc = load_catalog(rt)) != 0)
        sl__error("cannot load the catalog from %s/%s: %s", rt->data_dir, CATALOG_FILE,
                  rc > -200 ? sl_strerror(rc) : strerror(-rc));
    /* Replica logs live in STATE_DIR/logs: the data dir, or the agent's
     * private directory (mode 0700) without one. */
    char logs[4096];
    snprintf(logs, sizeof logs, "%s/logs", cfg->state_dir);
    sl__supervisor_config sc = {.node = rt->node,
                                .host = rt->host,
                                .log_dir = logs,
                                .shim = rt->shim,
                                .grace_ms = cfg->grace_ms,
                                .on_change = on_replica_change,
                                .on_removed = on_replica_removed,
                                .ud = rt};
    int err = 0;
    if (rc == 0 && !(rt->sup = sl__supervisor_new(loop, &sc, &err))) {
        sl__error("cannot start the replica supervisor (logs in %s): %s", logs, uv_strerror(err));
        rc = SL_ESTATE;
    }
    if (rc != 0) {
        sl__runtime_free(rt);
        return rc;
    }
    uv_timer_t *timers[] = {&rt->reconcile_timer, &rt->save_timer, &rt->gc_timer};
    for (int i = 0; i < 3; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = rt;
        rt->open_handles++;
    }
    uv_timer_start(&rt->gc_timer, on_gc_timer, GC_INTERVAL_MS, GC_INTERVAL_MS);
    *out = rt;
    return 0;
}

void sl__runtime_attach(sl__runtime *rt, sl_swim *swim)
{
    rt->swim = swim;
    sl__reconcile_soon(rt);
}

static void maybe_done(sl__runtime *rt)
{
    if (rt->open_handles == 0 && rt->close_done)
        rt->close_done(rt->close_ud);
}

static void on_handle_closed(uv_handle_t *h)
{
    sl__runtime *rt = h->data;
    rt->open_handles--;
    maybe_done(rt);
}

static void on_supervisor_closed(void *ud)
{
    sl__runtime *rt = ud;
    rt->open_handles--;
    maybe_done(rt);
}

void sl__runtime_close(sl__runtime *rt, sl__supervisor_close_mode mode, void (*done)(void *ud),
                       void *ud)
{
    rt->closing = true;
    rt->close_done = done;
    rt->close_ud = ud;
    save_now(rt);
    uv_close((uv_handle_t *)&rt->reconcile_timer, on_handle_closed);
    uv_close((uv_handle_t *)&rt->save_timer, on_handle_closed);
    uv_close((uv_handle_t *)&rt->gc_timer, on_handle_closed);
    rt->open_handles++;
    sl__supervisor *sup = rt->sup;
    rt->sup = NULL; /* it frees itself */
    sl__supervisor_close(sup, mode, on_supervisor_closed, rt);
}

void sl__runtime_free(sl__runtime *rt)
{
    if (!rt)
        return;
    sl_catalog_free(rt->cat);
    sl_reports_free(rt->rep);
    free(rt->ho);
    free(rt->started);
    free(rt->node);
    free(rt->host);
    free(rt->data_dir);
    free(rt->shim);
    free(rt);
}
