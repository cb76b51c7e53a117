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
#include "catalog_file.h"
#include "datadir.h"
#include "log.h"
#include "runtime_internal.h"
#include "starling/error.h"
#include "starling/meta.h"

#define SAVE_DELAY_MS 200
#define GC_INTERVAL_MS 60000
#define FILE_FRESH_MS (3600 * 1000) /* the catalog file is re-saved at least this often */
#define REFUSED_LOG_EVERY_MS 10000  /* refused records: at most one log line per period */

uint64_t sl__runtime_now(const sl__runtime *rt)
{
    return uv_now(rt->loop);
}

uint64_t sl__wall_ms(void)
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
    int rc = sl__catalog_file_save(rt->data_dir, rt->cat, sl__wall_ms());
    if (rc != 0)
        sl__error("cannot save the catalog in %s: %s", rt->data_dir,
                  rc == SL_ENOMEM ? "out of memory" : strerror(-rc));
    else
        rt->saved_at_ms = sl__runtime_now(rt);
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

/* Reads DIR/catalog. A corrupt file is moved aside (the peers refill the
 * catalog); a file that cannot be read stops the start. Sets how current
 * the catalog is: loaded from a file saved within the horizon, current; from
 * an older one, returning; without a file, new. */
static int load_catalog(sl__runtime *rt)
{
    sl__catalog_load ld;
    uint64_t wall = sl__wall_ms();
    const sl_catalog_stats before = *sl_catalog_get_stats(rt->cat);
    int rc = sl__catalog_file_load(rt->data_dir, rt->cat, wall, rt->cfg.max_catalog_bytes, &ld);
    if (rc != 0) {
        sl__error("cannot read the catalog in %s/%s: %s", rt->data_dir, SL__CATALOG_FILE,
                  strerror(-rc));
        return rc;
    }
    if (ld.moved_aside)
        sl__error("the catalog file %s/%s is corrupt (%s): moved it to %s; starting with an "
                  "empty catalog, to be refilled from the peers",
                  rt->data_dir, SL__CATALOG_FILE, ld.why, ld.aside);
    if (!ld.found)
        return 0;
    const sl_catalog_stats *after = sl_catalog_get_stats(rt->cat);
    uint64_t refused = (after->unsigned_ - before.unsigned_) +
                       (after->bad_signature - before.bad_signature) +
                       (after->future - before.future);
    if (refused)
        sl__warn("%llu records of the saved catalog were not loaded: unsigned or not signed by "
                 "a trusted operator key, or stamped in the future",
                 (unsigned long long)refused);
    bool old = ld.saved_wall_ms + rt->cfg.horizon_ms < wall;
    sl_catalog_set_sync(rt->cat, old ? SL_CATALOG_RETURNING : SL_CATALOG_CURRENT);
    sl__info("loaded %zu catalog records from %s/%s%s", ld.records, rt->data_dir, SL__CATALOG_FILE,
             old ? " saved longer ago than the tombstone horizon: its old records wait for a "
                   "current peer to confirm them"
                 : "");
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

/* Whether a report is about a member we know (alive, suspect, dead or left):
 * reports about names that never were members would never be forgotten. */
static bool about_a_member(sl__runtime *rt, const char *node)
{
    sl_member_view v;
    return rt->swim && sl_swim_find(rt->swim, node, &v) == 0;
}

static bool is_member(void *ud, const char *node)
{
    return about_a_member(ud, node);
}

/* Counts a record the catalog refused, and says so in the log now and then
 * (the reason is in the catalog's counters, shown by `info`). */
static void refused(sl__runtime *rt, int rc)
{
    rt->records_refused++;
    uint64_t now = sl__runtime_now(rt);
    if (rt->refused_logged_ms && now - rt->refused_logged_ms < REFUSED_LOG_EVERY_MS)
        return;
    rt->refused_logged_ms = now;
    sl__warn("refused a catalog record from the cluster: %s (%llu refused so far; see "
             "`starling info`)",
             sl_strerror(rc), (unsigned long long)rt->records_refused);
}

int sl__runtime_user_msg(sl__runtime *rt, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    (void)now_ms;
    int kind = sl_appmsg_kind(buf, len), rc;
    if (kind == SL_APPMSG_SERVICE) {
        rc = sl_catalog_apply(rt->cat, buf, len, sl__wall_ms());
        if (rc == 1) {
            broadcast(rt, key_bytes('s', buf, len), buf, len);
            save_soon(rt);
            sl__reconcile_soon(rt);
        } else if (rc < 0) {
            refused(rt, rc);
        }
    } else if (kind == SL_APPMSG_REPORT) {
        char node[SL_SVC_WRITER_MAX + 1];
        if (sl_reports_peek_node(buf, len, node) != 0)
            return SL_EMALFORMED;
        if (!about_a_member(rt, node)) {
            rt->reports_refused++;
            return SL_ENOTFOUND;
        }
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

/* The application state of a push-pull: [catalog, reports, sync], sync
 * saying whether our catalog is current (sl_catalog_sync). */
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
        msgpack_pack_array(&w.pk, 3);
        sl__mp_put_bin(&w, cat, cl);
        sl__mp_put_bin(&w, rep, rl);
        msgpack_pack_uint8(&w.pk, (uint8_t)sl_catalog_get_sync(rt->cat));
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
    (void)now_ms;
    sl__mp_reader r;
    uint32_t n, cl, rl;
    uint64_t sync = SL_CATALOG_CURRENT; /* an earlier version's state says nothing */
    const uint8_t *cat, *rep;
    sl__mp_reader_init(&r, buf, len);
    if (sl__mp_read_array(&r, &n) || n < 2 || sl__mp_read_bin(&r, &cat, &cl) ||
        sl__mp_read_bin(&r, &rep, &rl) || (n >= 3 && sl__mp_read_uint(&r, &sync)) ||
        sync > SL_CATALOG_RETURNING)
        return SL_EMALFORMED;
    sl_catalog_sync was = sl_catalog_get_sync(rt->cat);
    uint64_t dropped = sl_catalog_get_stats(rt->cat)->dropped_stale;
    int c = sl_catalog_merge(rt->cat, cat, cl, sl__wall_ms(), (sl_catalog_sync)sync);
    int m = sl_reports_merge(rt->rep, rep, rl);
    sl_reports_forget_unless(rt->rep, is_member, rt);
    uint64_t gone = sl_catalog_get_stats(rt->cat)->dropped_stale - dropped;
    if (was != SL_CATALOG_CURRENT && sl_catalog_get_sync(rt->cat) == SL_CATALOG_CURRENT)
        sl__info("the catalog is current again (from a peer's push-pull)%s",
                 gone ? "; records deleted while this peer was away are dropped" : "");
    if (c > 0 || gone) {
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

/* Explains a refused write in one line. */
static void write_error(const sl__runtime *rt, int rc, const char *name, char *err, size_t errcap)
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
    else if (rc == SL_EAUTH && sl_catalog_requires_signatures(rt->cat))
        snprintf(err, errcap,
                 "this peer runs only what a trusted operator key signed: pass "
                 "--operator-secret FILE (or set STARLING_OPERATOR_SECRET) with a key it trusts");
    else if (rc == SL_EAUTH)
        snprintf(err, errcap, "the write's signature does not verify");
    else if (rc == SL_ESTALE)
        snprintf(err, errcap, "a newer write of service '%s' exists: this one does not win", name);
    else if (rc == SL_EFUTURE)
        snprintf(err, errcap,
                 "the write of '%s' is stamped more than %llu s ahead of this peer's clock", name,
                 (unsigned long long)(rt->cfg.skew_ms / 1000));
    else if (rc == SL_EFULL)
        snprintf(err, errcap, "the catalog holds its maximum of %u services", rt->cfg.max_services);
    else
        snprintf(err, errcap, "%s", sl_strerror(rc));
}

static int local_write(sl__runtime *rt, int rc, const uint8_t *msg, size_t len, const char *name,
                       char *err, size_t errcap)
{
    if (rc != 0) {
        write_error(rt, rc, name, err, errcap);
        return rc;
    }
    broadcast(rt, key_bytes('s', msg, len), msg, len);
    save_soon(rt);
    sl__reconcile_soon(rt);
    return 0;
}

int sl__runtime_deploy(sl__runtime *rt, const sl_service *spec, char *err, size_t errcap)
{
    uint8_t msg[SL_SVC_RECORD_MAX];
    size_t len = 0;
    int rc = sl_catalog_put(rt->cat, spec, rt->node, sl__wall_ms(), msg, sizeof msg, &len);
    return local_write(rt, rc, msg, len, spec->name, err, errcap);
}

int sl__runtime_scale(sl__runtime *rt, const char *name, uint32_t replicas, char *err,
                      size_t errcap)
{
    uint8_t msg[SL_SVC_RECORD_MAX];
    size_t len = 0;
    int rc =
        sl_catalog_scale(rt->cat, name, replicas, rt->node, sl__wall_ms(), msg, sizeof msg, &len);
    return local_write(rt, rc, msg, len, name, err, errcap);
}

int sl__runtime_remove(sl__runtime *rt, const char *name, char *err, size_t errcap)
{
    uint8_t msg[SL_SVC_RECORD_MAX];
    size_t len = 0;
    int rc = sl_catalog_delete(rt->cat, name, rt->node, sl__wall_ms(), msg, sizeof msg, &len);
    return local_write(rt, rc, msg, len, name, err, errcap);
}

int sl__runtime_write(sl__runtime *rt, const uint8_t *rec, size_t len, char *err, size_t errcap)
{
    sl_service peek;
    char name[SL_SVC_NAME_MAX + 1] = "?";
    if (sl_service_decode(rec, len, &peek) == 0) {
        snprintf(name, sizeof name, "%s", peek.name);
        sl_service_clear(&peek);
    }
    int rc = sl_catalog_apply(rt->cat, rec, len, sl__wall_ms());
    if (rc == 0)
        rc = SL_ESTALE;
    if (rc == SL_EMALFORMED) {
        snprintf(err, errcap, "the record does not decode, or is over a limit");
        return rc;
    }
    if (rc == SL_EAUTH && sl_catalog_requires_signatures(rt->cat)) {
        snprintf(err, errcap,
                 "this peer does not trust the operator key that signed the write (it trusts "
                 "%zu key%s; see `starling info`)",
                 rt->cfg.noperator_keys, rt->cfg.noperator_keys == 1 ? "" : "s");
        return rc;
    }
    return local_write(rt, rc == 1 ? 0 : rc, rec, len, name, err, errcap);
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

uint64_t sl__runtime_reports_refused(const sl__runtime *rt)
{
    return rt->reports_refused;
}

void sl__runtime_gc_counts(const sl__runtime *rt, uint64_t *runs, uint64_t *collected)
{
    *runs = rt->gc_runs;
    *collected = rt->tombstones_collected;
}

const sl_reports *sl__runtime_reports(const sl__runtime *rt)
{
    return rt->rep;
}

/* ---- lifecycle ---- */

/* Every minute: collect tombstones past the horizon, forget reports about
 * names that are not members, declare the catalog current when no current
 * peer answered within the grace period, and keep the file's save time
 * fresh (an hour at most behind), since that is how the next start knows
 * how long this peer was away. */
static void on_gc_timer(uv_timer_t *t)
{
    sl__runtime *rt = t->data;
    uint64_t now = sl__runtime_now(rt);
    size_t gone = sl_catalog_gc(rt->cat, sl__wall_ms());
    bool save = gone > 0;
    rt->gc_runs++;
    rt->tombstones_collected += gone;
    sl_reports_forget_unless(rt->rep, is_member, rt);
    if (sl_catalog_get_sync(rt->cat) != SL_CATALOG_CURRENT &&
        now - rt->started_ms >= rt->cfg.sync_grace_ms) {
        sl__warn("no current peer shared its catalog within %u s: taking this peer's catalog as "
                 "current",
                 rt->cfg.sync_grace_ms / 1000);
        sl_catalog_set_sync(rt->cat, SL_CATALOG_CURRENT);
    }
    if (save || now - rt->saved_at_ms >= FILE_FRESH_MS)
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
    sl_catalog_policy pol = {.trusted = cfg->operator_keys,
                             .ntrusted = cfg->noperator_keys,
                             .cluster = cfg->cluster,
                             .skew_ms = cfg->skew_ms,
                             .horizon_ms = cfg->horizon_ms,
                             .max_records = cfg->max_services};
    if (rc == 0 && sl_catalog_set_policy(rt->cat, &pol) != 0)
        rc = SL_EINVAL;
    rt->started_ms = uv_now(loop);
    rt->saved_at_ms = rt->started_ms;
    if (rc == 0 && rt->data_dir)
        rc = load_catalog(rt);
    if (rc == 0 && cfg->alone && sl_catalog_get_sync(rt->cat) == SL_CATALOG_NEW)
        sl_catalog_set_sync(rt->cat, SL_CATALOG_CURRENT); /* the first peer: the source */
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
    /* Every minute, or more often with a short horizon (a hundredth of it,
     * at least every second), so that tombstones never outlive it by much. */
    uint64_t every = cfg->horizon_ms / 100;
    every = every < 1000 ? 1000 : every > GC_INTERVAL_MS ? GC_INTERVAL_MS : every;
    uv_timer_start(&rt->gc_timer, on_gc_timer, every, every);
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
