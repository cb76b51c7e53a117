/* The application state of one peer: see include/starling/appstate.h.
 *
 * Desired state. A local change (deploy, scale, rm) is stamped with the
 * catalog's hybrid logical clock and broadcast as an application message on
 * the SWIM core's packets; a received record that is newer than ours is
 * stored and passed on, so news spreads epidemically; the whole catalog also
 * rides every push-pull, which repairs what gossip missed and brings a
 * rejoining peer up to date. Every change asks for a save, so that a full
 * cluster restart loses nothing.
 *
 * Actual state. Each node publishes, per service, what it runs: replica
 * indexes with status, port and restarts. `where` reads them, and so does the
 * hand-off: a node that gives up a replica waits until the successor reports
 * it running (placement/reconcile.c).
 *
 * Giving up. A local replica that fails to start too often in a row is
 * given up (giveup.h): our report lists it with gave_up set for a while, and
 * every peer's placement avoids the pair (service, us) while our report says
 * so (avoid.h indexes the pairs from the reports), so that the next
 * candidate runs it. We end the give-up by publishing the report without it.
 *
 * Timers. Three due times, kept here as numbers: reconcile (debounced, with
 * a maximum delay, or a hand-off's poll time), save (the same, shorter) and
 * housekeeping (periodic). The driver sleeps until sl_appstate_deadline()
 * and calls sl_appstate_tick(). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avoid.h"
#include "mp.h"
#include "starling/appstate.h"
#include "starling/error.h"
#include "starling/giveup.h"

#define SNAPSHOT_VERSION 2
#define REFUSED_LOG_EVERY_MS 10000 /* refused records: at most one log line per period */
#define NEVER UINT64_MAX

/* One due time with a debounce: asked at t, due at t + delay, but never
 * later than max after the first request not yet served. */
typedef struct debounced {
    uint64_t due, first;
} debounced;

struct sl_appstate {
    sl_appstate_config cfg;
    char *node;
    sl_swim *swim;
    sl_catalog *cat;
    sl_reports *rep;
    uint64_t report_ctr;
    debounced reconcile, save;
    uint64_t poll_at;  /* a waiting hand-off's re-check, or a failed reconcile's retry */
    uint32_t retry_ms; /* the last retry delay, 0 after a reconcile that ran */
    uint64_t gc_at, gc_every;
    size_t handoffs; /* waiting, as of the last reconcile */
    bool draining;
    uint64_t started_ms, saved_at_ms;
    uint64_t refused_logged_ms;
    size_t invalid_members; /* as last logged */
    sl_giveup *gu;          /* our replicas that failed to start, and those given up */
    sl__avoid av;           /* (service, node) pairs placement avoids */
    sl_app_stats st;
};

static void say(const sl_appstate *a, sl_app_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(const sl_appstate *a, sl_app_level level, const char *fmt, ...)
{
    if (!a->cfg.log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    a->cfg.log(a->cfg.ud, level, msg);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static void ask(debounced *d, uint64_t now, uint32_t delay, uint32_t max)
{
    if (d->due == NEVER)
        d->first = now;
    d->due = min_u64(now + delay, d->first + max);
}

static bool due(debounced *d, uint64_t now)
{
    if (d->due > now)
        return false;
    d->due = NEVER;
    return true;
}

static void reconcile_soon(sl_appstate *a, uint64_t now)
{
    ask(&a->reconcile, now, a->cfg.debounce_ms, 4 * a->cfg.debounce_ms);
}

static void save_soon(sl_appstate *a, uint64_t now)
{
    if (a->cfg.persist)
        ask(&a->save, now, SL_APP_SAVE_DELAY_MS, SL_APP_SAVE_MAX_MS);
}

/* ---- lifecycle ---- */

int sl_appstate_new(const sl_appstate_config *cfg, sl_appstate **out)
{
    sl_appstate *a = calloc(1, sizeof *a);
    if (!a)
        return SL_ENOMEM;
    a->cfg = *cfg;
    if (!a->cfg.debounce_ms)
        a->cfg.debounce_ms = SL_APP_DEBOUNCE_MS;
    a->node = strdup(cfg->node ? cfg->node : "");
    a->cat = sl_catalog_new();
    a->rep = sl_reports_new();
    a->gu = sl_giveup_new(cfg->give_up_after, cfg->give_up_ms);
    if (!a->gu &&
        (cfg->give_up_after > SL_GIVEUP_AFTER_MAX || cfg->give_up_ms > SL_GIVEUP_FOR_MAX_MS)) {
        sl_appstate_free(a);
        return SL_EINVAL;
    }
    if (!a->node || !a->cat || !a->rep || !a->gu) {
        sl_appstate_free(a);
        return SL_ENOMEM;
    }
    a->cfg.node = a->node;
    if (sl_catalog_set_policy(a->cat, &cfg->pol) != 0) {
        sl_appstate_free(a);
        return SL_EINVAL;
    }
    a->reconcile.due = a->save.due = a->poll_at = NEVER;
    a->started_ms = a->saved_at_ms = cfg->now_ms;
    /* Every minute, or more often with a short horizon (a hundredth of it, at
     * least every second), so that tombstones never outlive it by much. */
    uint64_t every = cfg->pol.horizon_ms ? cfg->pol.horizon_ms / 100 : SL_APP_GC_EVERY_MS;
    a->gc_every = every < 1000 ? 1000 : every > SL_APP_GC_EVERY_MS ? SL_APP_GC_EVERY_MS : every;
    a->gc_at = cfg->now_ms + a->gc_every;
    if (cfg->alone)
        sl_catalog_set_sync(a->cat, SL_CATALOG_CURRENT); /* the first peer: the source */
    *out = a;
    return 0;
}

void sl_appstate_free(sl_appstate *a)
{
    if (!a)
        return;
    sl_catalog_free(a->cat);
    sl_reports_free(a->rep);
    sl_giveup_free(a->gu);
    sl__avoid_free(&a->av);
    free(a->node);
    free(a);
}

void sl_appstate_attach(sl_appstate *a, sl_swim *swim, uint64_t now_ms)
{
    a->swim = swim;
    if (swim)
        reconcile_soon(a, now_ms);
}

const sl_catalog *sl_appstate_catalog(const sl_appstate *a)
{
    return a->cat;
}

const sl_reports *sl_appstate_reports(const sl_appstate *a)
{
    return a->rep;
}

const sl_app_stats *sl_appstate_stats(const sl_appstate *a)
{
    return &a->st;
}

bool sl_appstate_draining(const sl_appstate *a)
{
    return a->draining;
}

/* ---- gossip ---- */

/* FNV-1a over the parts, each followed by a 0 byte (names hold none), so
 * that ("n1", "0s") and ("n10", "s") differ. */
static uint64_t key_of(const char *a, const char *b, const char *c)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *parts[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        for (const char *p = parts[i]; p && *p; p++)
            h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
        h *= 0x100000001b3ull; /* the 0 byte: h ^ 0 == h */
    }
    return h;
}

/* Broadcast keys name what an update is about (swim.h): a catalog record
 * its service, a report its (node, service). A newer record or report then
 * replaces the older one still queued, on its writer and on every peer that
 * passes it on, so only the newest version keeps spreading. */
static uint64_t record_key(const char *service)
{
    return key_of("s", service, NULL);
}

static uint64_t report_key(const char *node, const char *service)
{
    return key_of("r", node, service);
}

/* The service a record message is about (its second field), or "" when it
 * cannot be read: then the record was not stored either. */
static void record_name(const uint8_t *buf, size_t len, char name[SL_SVC_NAME_MAX + 1])
{
    sl__mp_reader r;
    uint32_t n;
    uint64_t kind;
    sl__mp_reader_init(&r, buf, len);
    if (sl__mp_read_array(&r, &n) || sl__mp_read_uint(&r, &kind) ||
        sl__mp_read_cstr(&r, name, SL_SVC_NAME_MAX))
        name[0] = 0;
}

static void broadcast(sl_appstate *a, uint64_t key, const uint8_t *buf, size_t len)
{
    if (a->swim && sl_swim_broadcast(a->swim, key, buf, len) != 0)
        say(a, SL_APP_WARN, "cannot gossip a %zu-byte update: too large", len);
}

/* Whether a report is about a member we know (alive, suspect, dead or left):
 * reports about names that never were members would never be forgotten. */
static bool is_member(void *ud, const char *node)
{
    sl_appstate *a = ud;
    sl_member_view v;
    return a->swim && sl_swim_find(a->swim, node, &v) == 0;
}

/* Counts a record the catalog refused, and says so in the log now and then
 * (the reason is in the catalog's counters, shown by `info`). */
static void refused(sl_appstate *a, int rc, uint64_t now)
{
    a->st.records_refused++;
    if (a->refused_logged_ms && now - a->refused_logged_ms < REFUSED_LOG_EVERY_MS)
        return;
    a->refused_logged_ms = now ? now : 1;
    say(a, SL_APP_WARN,
        "refused a catalog record from the cluster: %s (%llu refused so far; see "
        "`starling info`)",
        sl_strerror(rc), (unsigned long long)a->st.records_refused);
}

/* A record was stored: spread it, persist, reconcile. */
static void changed(sl_appstate *a, const uint8_t *msg, size_t len, uint64_t now)
{
    char name[SL_SVC_NAME_MAX + 1];
    a->st.catalog_changes++;
    record_name(msg, len, name);
    broadcast(a, record_key(name), msg, len);
    save_soon(a, now);
    reconcile_soon(a, now);
}

int sl_appstate_user_msg(sl_appstate *a, const uint8_t *buf, size_t len, uint64_t now_ms,
                         uint64_t wall_ms)
{
    int kind = sl_appmsg_kind(buf, len), rc;
    if (kind == SL_APPMSG_SERVICE) {
        rc = sl_catalog_apply(a->cat, buf, len, wall_ms);
        if (rc == 1)
            changed(a, buf, len, now_ms);
        else if (rc < 0)
            refused(a, rc, now_ms);
    } else if (kind == SL_APPMSG_REPORT) {
        rc = sl_reports_apply(a->rep, buf, len, is_member, a);
        if (rc == SL_ENOTFOUND) {
            a->st.reports_refused++;
            return rc;
        }
        char node[SL_SVC_WRITER_MAX + 1], service[SL_SVC_NAME_MAX + 1];
        uint64_t version;
        if (rc == 1 && sl_reports_peek(buf, len, node, service, &version) == 0) {
            broadcast(a, report_key(node, service), buf, len);
            sl_report r;
            bool held = sl_reports_find(a->rep, node, service, &r);
            if (sl__avoid_update(&a->av, node, service, held ? &r : NULL) || a->handoffs)
                reconcile_soon(a, now_ms); /* a give-up moves replicas; a hand-off waits */
        }
    } else {
        return SL_EMALFORMED;
    }
    return rc < 0 ? rc : 0;
}

int sl_appstate_user_state(sl_appstate *a, uint8_t **out, size_t *len)
{
    uint8_t *cat = NULL, *rep = NULL;
    size_t cl, rl;
    if (sl_catalog_encode(a->cat, &cat, &cl) != 0 || sl_reports_encode(a->rep, &rep, &rl) != 0) {
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
        msgpack_pack_uint8(&w.pk, (uint8_t)sl_catalog_get_sync(a->cat));
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

int sl_appstate_user_merge(sl_appstate *a, const uint8_t *buf, size_t len, uint64_t now_ms,
                           uint64_t wall_ms)
{
    sl__mp_reader r;
    uint32_t n, cl, rl;
    uint64_t sync = SL_CATALOG_CURRENT; /* an earlier version's state says nothing */
    const uint8_t *cat, *rep;
    sl__mp_reader_init(&r, buf, len);
    if (sl__mp_read_array(&r, &n) || n < 2 || sl__mp_read_bin(&r, &cat, &cl) ||
        sl__mp_read_bin(&r, &rep, &rl) || (n >= 3 && sl__mp_read_uint(&r, &sync)) ||
        sync > SL_CATALOG_RETURNING)
        return SL_EMALFORMED;
    sl_catalog_sync was = sl_catalog_get_sync(a->cat);
    uint64_t dropped = sl_catalog_get_stats(a->cat)->dropped_stale;
    int c = sl_catalog_merge(a->cat, cat, cl, wall_ms, (sl_catalog_sync)sync);
    int m = sl_reports_merge(a->rep, rep, rl);
    size_t forgot = sl_reports_forget_unless(a->rep, is_member, a);
    bool moved = sl__avoid_refresh(&a->av, a->rep, m > 0 || forgot > 0);
    uint64_t gone = sl_catalog_get_stats(a->cat)->dropped_stale - dropped;
    if (was != SL_CATALOG_CURRENT && sl_catalog_get_sync(a->cat) == SL_CATALOG_CURRENT)
        say(a, SL_APP_INFO, "the catalog is current again (from a peer's push-pull)%s",
            gone ? "; records deleted while this peer was away are dropped" : "");
    if (c > 0 || gone) {
        a->st.catalog_changes += c > 0 ? (uint64_t)c : 0;
        save_soon(a, now_ms);
        reconcile_soon(a, now_ms);
    } else if (moved || (m > 0 && a->handoffs)) {
        reconcile_soon(a, now_ms);
    }
    return c < 0 || m < 0 ? SL_EMALFORMED : 0;
}

void sl_appstate_member_event(sl_appstate *a, const sl_swim_event *ev, uint64_t now_ms)
{
    if (ev->type == SL_EVENT_REAPED) {
        sl_reports_forget_node(a->rep, ev->name);
        sl__avoid_refresh(&a->av, a->rep, true);
    }
    /* A suspect still counts for placement: only changes of who is alive
     * (or of a member's metadata: zone, capacity, draining) move replicas. */
    if (ev->type != SL_EVENT_SUSPECT && ev->type != SL_EVENT_CONFLICT)
        reconcile_soon(a, now_ms);
}

/* ---- local writes ---- */

/* Explains a refused write in one line. */
static void write_error(const sl_appstate *a, int rc, const char *name, char *err, size_t errcap)
{
    const sl_catalog_policy *p = &a->cfg.pol;
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
    else if (rc == SL_EAUTH && sl_catalog_requires_signatures(a->cat))
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
                 (unsigned long long)(p->skew_ms / 1000));
    else if (rc == SL_EFULL)
        snprintf(err, errcap, "the catalog holds its maximum of %u services", p->max_records);
    else
        snprintf(err, errcap, "%s", sl_strerror(rc));
}

static int local_write(sl_appstate *a, int rc, const uint8_t *msg, size_t len, const char *name,
                       uint64_t now, char *err, size_t errcap)
{
    if (rc != 0) {
        write_error(a, rc, name, err, errcap);
        return rc;
    }
    changed(a, msg, len, now);
    return 0;
}

int sl_appstate_deploy(sl_appstate *a, const sl_service *spec, uint64_t now_ms, uint64_t wall_ms,
                       char *err, size_t errcap)
{
    uint8_t msg[SL_SVC_RECORD_MAX];
    size_t len = 0;
    int rc = sl_catalog_put(a->cat, spec, a->node, wall_ms, msg, sizeof msg, &len);
    return local_write(a, rc, msg, len, spec->name, now_ms, err, errcap);
}

int sl_appstate_scale(sl_appstate *a, const char *name, uint32_t replicas, uint64_t now_ms,
                      uint64_t wall_ms, char *err, size_t errcap)
{
    uint8_t msg[SL_SVC_RECORD_MAX];
    size_t len = 0;
    int rc = sl_catalog_scale(a->cat, name, replicas, a->node, wall_ms, msg, sizeof msg, &len);
    return local_write(a, rc, msg, len, name, now_ms, err, errcap);
}

int sl_appstate_remove(sl_appstate *a, const char *name, uint64_t now_ms, uint64_t wall_ms,
                       char *err, size_t errcap)
{
    uint8_t msg[SL_SVC_RECORD_MAX];
    size_t len = 0;
    int rc = sl_catalog_delete(a->cat, name, a->node, wall_ms, msg, sizeof msg, &len);
    return local_write(a, rc, msg, len, name, now_ms, err, errcap);
}

int sl_appstate_rollback(sl_appstate *a, const char *name, uint64_t now_ms, uint64_t wall_ms,
                         char *err, size_t errcap)
{
    uint8_t msg[SL_SVC_RECORD_MAX];
    size_t len = 0;
    int rc = sl_catalog_rollback(a->cat, name, a->node, wall_ms, msg, sizeof msg, &len);
    if (rc == SL_ESTATE) {
        snprintf(err, errcap, "%s has no previous version to roll back to", name);
        return rc;
    }
    if (rc == SL_ENOTFOUND) {
        snprintf(err, errcap, "no service named '%s'", name);
        return rc;
    }
    return local_write(a, rc, msg, len, name, now_ms, err, errcap);
}

int sl_appstate_revert(sl_appstate *a, const sl_service *rolling, uint64_t now_ms,
                       uint64_t wall_ms, char *err, size_t errcap)
{
    const sl_service *cur = sl_catalog_find_spec_record(a->cat, rolling->name);
    if (!cur || cur->deleted || !sl_service_same_spec(cur, rolling)) {
        snprintf(err, errcap, "the spec of %s changed meanwhile: nothing to revert", rolling->name);
        return SL_ESTALE;
    }
    sl_service rv;
    int rc = sl_service_revert_of(cur, &rv);
    if (rc == SL_ESTATE) {
        snprintf(err, errcap, "%s has no previous version to revert to", rolling->name);
        return rc;
    }
    if (rc != 0) {
        snprintf(err, errcap, "%s", sl_strerror(rc));
        return rc;
    }
    if (sl_catalog_requires_signatures(a->cat)) {
        if (!cur->is_signed || !cur->has_revert_sig) {
            sl_service_clear(&rv);
            snprintf(err, errcap,
                     "this peer runs only signed records and the deploy of %s carries no signed "
                     "revert (sign it with `deploy --auto-revert --operator-secret`); run "
                     "`starling rollback %s` with an operator key",
                     rolling->name, rolling->name);
            return SL_EAUTH;
        }
        rv.is_signed = true; /* the operator signed this very record with the deploy */
        memcpy(rv.signer, cur->signer, sizeof rv.signer);
        memcpy(rv.sig, cur->revert_sig, sizeof rv.sig);
    }
    uint8_t buf[SL_SVC_RECORD_MAX];
    int n = sl_service_encode(&rv, buf, sizeof buf);
    sl_service_clear(&rv);
    if (n < 0) {
        snprintf(err, errcap, "the revert of %s does not fit a record", rolling->name);
        return n;
    }
    rc = sl_appstate_write(a, buf, (size_t)n, now_ms, wall_ms, err, errcap);
    if (rc == SL_ESTALE) /* another peer wrote the same revert first */
        snprintf(err, errcap, "%s is reverted already", rolling->name);
    return rc;
}

int sl_appstate_write(sl_appstate *a, const uint8_t *rec, size_t len, uint64_t now_ms,
                      uint64_t wall_ms, char *err, size_t errcap)
{
    sl_service peek;
    char name[SL_SVC_NAME_MAX + 1] = "?";
    if (sl_service_decode(rec, len, &peek) == 0) {
        snprintf(name, sizeof name, "%s", peek.name);
        sl_service_clear(&peek);
    }
    int rc = sl_catalog_apply(a->cat, rec, len, wall_ms);
    if (rc == 0)
        rc = SL_ESTALE;
    if (rc == SL_EMALFORMED) {
        snprintf(err, errcap, "the record does not decode, or is over a limit");
        return rc;
    }
    if (rc == SL_EAUTH && sl_catalog_requires_signatures(a->cat)) {
        snprintf(err, errcap,
                 "this peer does not trust the operator key that signed the write (it trusts "
                 "%zu key%s; see `starling info`)",
                 a->cfg.pol.ntrusted, a->cfg.pol.ntrusted == 1 ? "" : "s");
        return rc;
    }
    return local_write(a, rc == 1 ? 0 : rc, rec, len, name, now_ms, err, errcap);
}

int sl_appstate_drain(sl_appstate *a, uint64_t now_ms, char *err, size_t errcap)
{
    sl_member_view self;
    sl_meta meta;
    uint8_t buf[SL_SWIM_META_MAX];
    if (!a->swim || sl_swim_find(a->swim, a->node, &self) != 0 ||
        sl_meta_decode(self.meta, self.meta_len, &meta) != 0) {
        snprintf(err, errcap, "cannot read this member's metadata");
        return SL_ESTATE;
    }
    int len = sl_meta_set_tag(&meta, SL_TAG_DRAINING, "1");
    if (len == 0)
        len = sl_meta_encode(&meta, buf, sizeof buf);
    if (len < 0 || sl_swim_set_meta(a->swim, buf, (size_t)len, now_ms) != 0) {
        snprintf(err, errcap, "cannot mark this member as draining: metadata too large");
        return SL_ETOOBIG;
    }
    a->draining = true;
    say(a, SL_APP_INFO, "draining: handing every replica to other members");
    reconcile_soon(a, now_ms);
    return 0;
}

/* ---- reports ---- */

void sl_appstate_publish(sl_appstate *a, const char *service, const sl_replica_report *reps,
                         uint32_t n)
{
    sl_report r = {.version = ((uint64_t)a->cfg.generation << 32) | ++a->report_ctr};
    snprintf(r.node, sizeof r.node, "%s", a->node);
    snprintf(r.service, sizeof r.service, "%s", service);
    for (uint32_t i = 0; i < n; i++) {
        if (r.n == SL_REPORT_REPLICAS_MAX) {
            a->st.reports_truncated += n - i;
            break;
        }
        r.replicas[r.n++] = reps[i];
    }
    r.n = sl_giveup_annotate(a->gu, service, r.replicas, r.n, SL_REPORT_REPLICAS_MAX);
    uint8_t msg[SL_SWIM_USER_MAX];
    size_t len;
    if (sl_reports_put(a->rep, &r, msg, sizeof msg, &len) == 0) {
        broadcast(a, report_key(a->node, service), msg, len);
        sl__avoid_update(&a->av, a->node, service, &r);
    }
}

/* Publishes our report of `service` again, as held, without the give-ups
 * that ended (giveup.c no longer holds them). */
static void republish(void *ud, const char *service)
{
    sl_appstate *a = ud;
    sl_report r;
    if (!sl_reports_find(a->rep, a->node, service, &r))
        return;
    uint32_t k = 0;
    for (uint32_t i = 0; i < r.n; i++)
        if (!r.replicas[i].gave_up || sl_giveup_active(a->gu, service, r.replicas[i].replica))
            r.replicas[k++] = r.replicas[i];
    sl_appstate_publish(a, service, r.replicas, k);
}

static uint64_t spec_of(void *ud, const char *service)
{
    const sl_service *s = sl_catalog_find(((sl_appstate *)ud)->cat, service);
    return s ? s->spec_stamp : 0;
}

bool sl_appstate_replica_status(sl_appstate *a, const char *service, uint32_t replica,
                                sl_replica_status st, uint64_t now_ms)
{
    if (!sl_giveup_note(a->gu, service, replica, st, spec_of(a, service), now_ms))
        return false;
    a->st.give_ups++;
    say(a, SL_APP_WARN,
        "replica %s/%u failed to start %u times in a row: giving it up here for %u s, so that "
        "another peer runs it",
        service, replica, a->cfg.give_up_after ? a->cfg.give_up_after : SL_GIVEUP_AFTER,
        (a->cfg.give_up_ms ? a->cfg.give_up_ms : SL_GIVEUP_FOR_MS) / 1000);
    reconcile_soon(a, now_ms);
    return true;
}

void sl_appstate_replica_gone(sl_appstate *a, const char *service, uint32_t replica)
{
    sl_giveup_gone(a->gu, service, replica);
}

bool sl_appstate_trying(void *ud, const char *node, const char *service, uint32_t replica)
{
    const sl_appstate *a = ud;
    sl_report r;
    if (!sl_reports_find(a->rep, node, service, &r))
        return false;
    for (uint32_t i = 0; i < r.n; i++)
        if (r.replicas[i].replica == replica)
            return !r.replicas[i].gave_up && r.replicas[i].status != SL_REPLICA_RUNNING &&
                   r.replicas[i].status != SL_REPLICA_STOPPING;
    return false;
}

static int by_member_name(const void *a, const void *b)
{
    return strcmp(((const sl_placement_member *)a)->name, ((const sl_placement_member *)b)->name);
}

void sl_app_view_sort(sl_app_view *v, const char *self)
{
    qsort(v->pm, v->n, sizeof *v->pm, by_member_name);
    v->self = -1;
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->pm[i].name, self))
            v->self = (int)i;
}

bool sl_appstate_replica(void *ud, const char *node, const char *service, uint32_t replica,
                         sl_replica_status *status, uint32_t *version)
{
    const sl_appstate *a = ud;
    sl_replica_report r;
    if (!sl_reports_replica(a->rep, node, service, replica, &r))
        return false;
    *status = (sl_replica_status)r.status;
    *version = r.version;
    return true;
}

bool sl_appstate_runs(void *ud, const char *node, const char *service, uint32_t replica)
{
    const sl_appstate *a = ud;
    return sl_reports_replica_status(a->rep, node, service, replica) == SL_REPLICA_RUNNING;
}

/* ---- time ---- */

uint64_t sl_appstate_deadline(const sl_appstate *a)
{
    uint64_t d = min_u64(a->reconcile.due, a->poll_at);
    d = min_u64(d, sl_giveup_deadline(a->gu));
    return min_u64(d, min_u64(a->save.due, a->gc_at));
}

/* Collect tombstones past the horizon, forget reports about names that are
 * not members, declare the catalog current when no current peer answered
 * within the grace period, and keep the snapshot's save time fresh (an hour
 * at most behind), since that is how the next start knows how long this
 * peer was away. */
static void housekeeping(sl_appstate *a, uint64_t now, uint64_t wall)
{
    size_t gone = sl_catalog_gc(a->cat, wall);
    a->st.gc_runs++;
    a->st.tombstones_collected += gone;
    if (sl_reports_forget_unless(a->rep, is_member, a) && sl__avoid_refresh(&a->av, a->rep, true))
        reconcile_soon(a, now);
    if (sl_catalog_get_sync(a->cat) != SL_CATALOG_CURRENT &&
        now - a->started_ms >= a->cfg.sync_grace_ms) {
        say(a, SL_APP_WARN,
            "no current peer shared its catalog within %u s: taking this peer's catalog as "
            "current",
            a->cfg.sync_grace_ms / 1000);
        sl_catalog_set_sync(a->cat, SL_CATALOG_CURRENT);
    }
    if (gone || now - a->saved_at_ms >= SL_APP_FILE_FRESH_MS)
        save_soon(a, now);
}

unsigned sl_appstate_tick(sl_appstate *a, uint64_t now_ms, uint64_t wall_ms)
{
    unsigned todo = 0;
    if (a->gc_at <= now_ms) {
        housekeeping(a, now_ms, wall_ms);
        a->gc_at = now_ms + a->gc_every;
    }
    if (sl_giveup_count(a->gu) && sl_giveup_expire(a->gu, now_ms, spec_of, republish, a))
        reconcile_soon(a, now_ms); /* placement may give those replicas back to us */
    bool poll = a->poll_at <= now_ms;
    if (due(&a->reconcile, now_ms) || poll) {
        a->poll_at = NEVER;
        a->reconcile.due = NEVER;
        a->st.reconciles++;
        todo |= SL_APP_DO_RECONCILE;
    }
    if (due(&a->save, now_ms)) {
        a->st.saves++;
        todo |= SL_APP_DO_SAVE;
    }
    return todo;
}

void sl_appstate_reconciled(sl_appstate *a, size_t handoffs, uint64_t next_ms)
{
    a->handoffs = handoffs;
    a->poll_at = next_ms;
    a->retry_ms = 0;
}

uint32_t sl_appstate_reconcile_failed(sl_appstate *a, uint64_t now_ms)
{
    a->retry_ms = a->retry_ms ? a->retry_ms * 2 : SL_APP_RETRY_MIN_MS;
    if (a->retry_ms > SL_APP_RETRY_MAX_MS)
        a->retry_ms = SL_APP_RETRY_MAX_MS;
    a->poll_at = min_u64(a->poll_at, now_ms + a->retry_ms);
    a->st.reconcile_retries++;
    return a->retry_ms;
}

void sl_appstate_saved(sl_appstate *a, uint64_t now_ms)
{
    a->saved_at_ms = now_ms;
}

/* ---- the view ---- */

static bool is_draining(const sl_meta *m)
{
    for (uint32_t i = 0; i < m->ntags; i++)
        if (!strcmp(m->tags[i].key, SL_TAG_DRAINING))
            return strcmp(m->tags[i].value, "1") == 0;
    return false;
}

static int view_members(sl_appstate *a, const sl_swim *swim, sl_app_view *v)
{
    size_t n = sl_swim_size(swim);
    const char *first_invalid = NULL;
    v->pm = calloc(n ? n : 1, sizeof *v->pm);
    v->meta = calloc(n ? n : 1, sizeof *v->meta);
    if (!v->pm || !v->meta)
        return SL_ENOMEM;
    v->self = -1;
    for (size_t i = 0; i < n; i++) {
        sl_member_view mv;
        sl_swim_member_at(swim, i, &mv);
        if (mv.state != SL_MEMBER_ALIVE && mv.state != SL_MEMBER_SUSPECT)
            continue;
        sl_meta *m = &v->meta[v->n];
        if (sl_meta_decode(mv.meta, mv.meta_len, m) != 0 || m->slots > SL_PLACEMENT_WEIGHT_MAX) {
            if (!v->invalid++)
                first_invalid = mv.name;
            continue;
        }
        sl_placement_member *p = &v->pm[v->n];
        p->name = mv.name;
        p->zone = m->zone;
        p->weight = m->slots ? m->slots : 1;
        p->cpu_milli = m->cpu_milli;
        p->mem_mb = m->mem_mb;
        p->state = is_draining(m)                  ? SL_PLACEMENT_DRAINING
                   : mv.state == SL_MEMBER_SUSPECT ? SL_PLACEMENT_SUSPECT
                                                   : SL_PLACEMENT_ALIVE;
        if (mv.is_self)
            v->self = (int)v->n;
        v->n++;
    }
    if (v->invalid != a->invalid_members) {
        if (v->invalid)
            say(a, SL_APP_WARN,
                "%zu live member%s left out of placement for invalid metadata (e.g. %s)",
                v->invalid, v->invalid == 1 ? "" : "s", first_invalid);
        a->invalid_members = v->invalid;
    }
    return 0;
}

static int view_services(sl_appstate *a, uint64_t wall, sl_app_view *v)
{
    size_t n = sl_catalog_size(a->cat);
    v->svc = calloc(n ? n : 1, sizeof *v->svc);
    v->ps = calloc(n ? n : 1, sizeof *v->ps);
    v->avoid = calloc(a->av.n ? a->av.n : 1, sizeof *v->avoid);
    v->avoid_names = calloc(a->av.n ? a->av.n : 1, sizeof *v->avoid_names);
    if (!v->svc || !v->ps || !v->avoid || !v->avoid_names)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const sl_service *s = sl_catalog_at(a->cat, i);
        if (s->deleted || !sl_catalog_believed(a->cat, s, wall))
            continue; /* deleted, or maybe deleted while we were away */
        v->svc[v->nsvc] = s;
        size_t first, navoid = sl__avoid_range(&a->av, s->name, &first);
        for (size_t k = first; k < first + navoid; k++) {
            memcpy(v->avoid_names[k], a->av.p[k].node, sizeof v->avoid_names[k]);
            v->avoid[k] = v->avoid_names[k];
        }
        v->ps[v->nsvc] = (sl_placement_service){.name = s->name,
                                                .replicas = s->replicas,
                                                .cpu_milli = s->cpu_milli,
                                                .mem_mb = s->mem_mb,
                                                .spread = s->spread == SL_SPREAD_NODES
                                                              ? SL_PLACEMENT_SPREAD_NODE
                                                              : SL_PLACEMENT_SPREAD_ZONE,
                                                .avoid = navoid ? &v->avoid[first] : NULL,
                                                .navoid = (uint32_t)navoid};
        v->nsvc++;
    }
    return 0;
}

int sl_appstate_build_view(sl_appstate *a, const sl_swim *swim, uint64_t wall_ms, sl_app_view *v)
{
    memset(v, 0, sizeof *v);
    int rc = view_members(a, swim, v);
    if (rc == 0)
        rc = view_services(a, wall_ms, v);
    if (rc != 0)
        sl_app_view_free(v);
    return rc;
}

void sl_app_view_free(sl_app_view *v)
{
    free(v->pm);
    free(v->meta);
    free(v->svc);
    free(v->ps);
    free(v->avoid);
    free(v->avoid_names);
    memset(v, 0, sizeof *v);
}

/* ---- the snapshot ---- */

int sl_appstate_snapshot(const sl_appstate *a, uint64_t wall_ms, uint8_t **out, size_t *len)
{
    uint8_t *enc;
    size_t el;
    if (sl_catalog_encode(a->cat, &enc, &el) != 0)
        return SL_ENOMEM;
    size_t cap = el + 32;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        free(enc);
        return SL_ENOMEM;
    }
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf, cap);
    msgpack_pack_array(&w.pk, 3);
    msgpack_pack_uint8(&w.pk, SNAPSHOT_VERSION);
    msgpack_pack_uint64(&w.pk, wall_ms);
    sl__mp_put_bin(&w, enc, el);
    free(enc);
    if (w.overflow) {
        free(buf);
        return SL_ENOMEM;
    }
    *out = buf;
    *len = w.len;
    return 0;
}

/* Splits a snapshot into its catalog bytes and save time. */
static int unwrap(const uint8_t *buf, size_t len, const uint8_t **cat, uint32_t *cat_len,
                  uint64_t *saved, uint64_t wall_ms)
{
    sl__mp_reader probe;
    uint32_t n;
    uint64_t version;
    sl__mp_reader_init(&probe, buf, len);
    if (sl__mp_read_array(&probe, &n) != 0)
        return SL_EMALFORMED;
    if (n == 0 || sl__mp_read_uint(&probe, &version) != 0) {
        /* An earlier version's file: the catalog itself, taken as saved now. */
        *cat = buf;
        *cat_len = (uint32_t)len;
        *saved = wall_ms;
        return len <= UINT32_MAX ? 0 : SL_EMALFORMED;
    }
    if (n < 3 || version != SNAPSHOT_VERSION || sl__mp_read_uint(&probe, saved) != 0 ||
        sl__mp_read_bin(&probe, cat, cat_len) != 0 || sl__mp_remaining(&probe) != 0)
        return SL_EMALFORMED;
    return 0;
}

int sl_appstate_restore(sl_appstate *a, const uint8_t *buf, size_t len, uint64_t wall_ms,
                        sl_app_restore *info)
{
    const uint8_t *cb;
    uint32_t cl;
    memset(info, 0, sizeof *info);
    const sl_catalog_stats before = *sl_catalog_get_stats(a->cat);
    if (unwrap(buf, len, &cb, &cl, &info->saved_wall_ms, wall_ms) != 0 ||
        sl_catalog_merge(a->cat, cb, cl, wall_ms, SL_CATALOG_CURRENT) < 0)
        return SL_EMALFORMED;
    const sl_catalog_stats *after = sl_catalog_get_stats(a->cat);
    info->refused = (after->unsigned_ - before.unsigned_) +
                    (after->bad_signature - before.bad_signature) + (after->future - before.future);
    info->records = sl_catalog_size(a->cat);
    info->old = info->saved_wall_ms + a->cfg.pol.horizon_ms < wall_ms;
    sl_catalog_set_sync(a->cat, info->old ? SL_CATALOG_RETURNING : SL_CATALOG_CURRENT);
    return 0;
}
