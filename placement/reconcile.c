/* The reconcile step: see include/starling/reconcile.h.
 *
 * State kept between steps, per local replica (one table, keyed by service
 * and replica index):
 *
 *   started   the spec hash the replica was last started with, so that a
 *             redeploy with another command restarts it;
 *   handoff   when a hand-off began, who the successor is, and when we first
 *             saw the successor report the replica running;
 *   rollout   when a rolling update restarted it (or started it as a surge
 *             replica), until it is healthy for min_healthy: past the
 *             progress deadline the rollout halts (and may revert).
 *
 * And per replica of a service in a rollout, wherever it runs (the watch
 * table): since when its owner has reported it running the new version,
 * which makes it "done" after min_healthy. Watches of services no longer
 * in a rollout go at the end of the step. Rollouts cost a step O(R +
 * members) per service whose record has a previous version.
 *
 * Entries go when the caller says the replica is gone
 * (sl_reconciler_forget) or when it no longer appears among the local
 * replicas. Lookups are linear: a peer holds tens of replicas, rarely
 * thousands, and each step is O(local + placed here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "starling/reconcile.h"

typedef struct entry {
    char service[SL_SVC_NAME_MAX + 1];
    uint32_t replica;
    bool has_spec;
    uint64_t spec_hash;
    bool handing;                  /* a hand-off is in flight */
    uint64_t since_ms;             /* it began then */
    uint64_t successor_running_ms; /* we first saw the successor run it, or 0 */
    char successor[SL_SVC_WRITER_MAX + 1];
    bool seen; /* among the local replicas in this step */
    /* Rolling updates: when we started it with the spec it runs as a step
     * of a rollout (a restart, or a surge replica), 0 when not, or once it
     * was done; whether it is a surge replica kept in this step; and
     * whether we asked for the revert of its version already. */
    uint64_t roll_since_ms;
    bool surge_kept;
    bool revert_asked;
} entry;

/* A replica of a service in a rollout, as we see it: since when its owner
 * has reported it running `version` (0: it does not). */
typedef struct watch {
    char service[SL_SVC_NAME_MAX + 1];
    uint32_t replica;
    uint32_t version;
    uint64_t since_ms;
    bool seen;
} watch;

/* Surge replicas one service runs at most, whatever max_surge says. */
#define SURGE_MAX 64

/* A service's surge replicas as this step placed them, for the hand-off of
 * one that runs here but whose surge node is now another. */
typedef struct surge_view {
    size_t s;
    uint32_t R, S;
    bool needed; /* an old replica still runs, or a new one is not done yet */
    int32_t owner[SURGE_MAX];
} surge_view;

struct sl_reconciler {
    uint32_t handoff_ms;
    entry *e;
    size_t n, cap;
    sl_rc_action *act;
    size_t nact, act_cap;
    sl_placement_cache *pc; /* the last step's placement input: incremental */
    watch *w;
    size_t nw, wcap;
    surge_view *sv; /* this step's, one per service in a rollout */
    size_t nsv, svcap;
};

sl_reconciler *sl_reconciler_new(uint32_t handoff_ms)
{
    sl_reconciler *rc = calloc(1, sizeof *rc);
    if (!rc)
        return NULL;
    rc->handoff_ms = handoff_ms ? handoff_ms : SL_RC_HANDOFF_MS;
    rc->pc = sl_placement_cache_new();
    if (!rc->pc) {
        free(rc);
        return NULL;
    }
    return rc;
}

void sl_reconciler_free(sl_reconciler *rc)
{
    if (!rc)
        return;
    free(rc->e);
    free(rc->w);
    free(rc->sv);
    free(rc->act);
    sl_placement_cache_free(rc->pc);
    free(rc);
}

uint64_t sl_service_spec_hash(const sl_service *svc)
{
    uint64_t h = 0xcbf29ce484222325ull;
    char *const *lists[] = {svc->argv, svc->env};
    uint32_t counts[] = {svc->argc, svc->envc};
    for (int l = 0; l < 2; l++) {
        for (uint32_t i = 0; i < counts[l]; i++)
            for (const char *c = lists[l][i];; c++) {
                h = (h ^ (uint8_t)*c) * 0x100000001b3ull; /* the NUL separates */
                if (!*c)
                    break;
            }
        h = (h ^ 0xff) * 0x100000001b3ull;
    }
    /* The health check, only when one is given, so that the hash of a
     * service without one is what it was before checks existed. */
    const sl_check *c = &svc->check;
    if (c->kind != SL_CHECK_DEFAULT) {
        uint32_t nums[] = {c->kind, c->interval_ms, c->timeout_ms, c->failures};
        for (int i = 0; i < 4; i++)
            h = (h ^ nums[i]) * 0x100000001b3ull;
        for (const char *p = c->arg; *p; p++)
            h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    }
    /* The user, only when one is given (same reason): a marker first, so
     * that no check argument followed by a user hashes as another split. */
    if (svc->user[0]) {
        h = (h ^ 0xfe) * 0x100000001b3ull;
        for (const char *p = svc->user; *p; p++)
            h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    }
    return h;
}

static entry *find(sl_reconciler *rc, const char *service, uint32_t replica)
{
    for (size_t i = 0; i < rc->n; i++)
        if (rc->e[i].replica == replica && !strcmp(rc->e[i].service, service))
            return &rc->e[i];
    return NULL;
}

/* Makes room for one more element in a growable array of n elements of
 * `size` bytes (*arr, capacity *cap), doubling it. Returns 0 or SL_ENOMEM. */
static int room_for_one(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t grown = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, grown * size);
    if (!p)
        return SL_ENOMEM;
    *arr = p;
    *cap = grown;
    return 0;
}

static entry *find_or_add(sl_reconciler *rc, const char *service, uint32_t replica)
{
    entry *x = find(rc, service, replica);
    if (x)
        return x;
    if (room_for_one((void **)&rc->e, &rc->cap, rc->n, sizeof *rc->e) != 0)
        return NULL;
    x = &rc->e[rc->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->service, sizeof x->service, "%s", service);
    x->replica = replica;
    return x;
}

void sl_reconciler_forget(sl_reconciler *rc, const char *service, uint32_t replica)
{
    entry *x = find(rc, service, replica);
    if (x)
        *x = rc->e[--rc->n];
}

size_t sl_reconciler_handoffs(const sl_reconciler *rc)
{
    size_t k = 0;
    for (size_t i = 0; i < rc->n; i++)
        k += rc->e[i].handing;
    return k;
}

static int emit(sl_reconciler *rc, sl_rc_action a)
{
    int e = room_for_one((void **)&rc->act, &rc->act_cap, rc->nact, sizeof *rc->act);
    if (e)
        return e;
    rc->act[rc->nact++] = a;
    return 0;
}

static size_t find_service(const sl_reconcile_input *in, const char *name)
{
    for (size_t i = 0; i < in->nsvc; i++)
        if (!strcmp(in->svc[i]->name, name))
            return i;
    return SIZE_MAX;
}

static const sl_rc_local *find_local(const sl_reconcile_input *in, const char *service,
                                     uint32_t replica)
{
    for (size_t i = 0; i < in->nlocal; i++)
        if (in->local[i].replica == replica && !strcmp(in->local[i].service, service))
            return &in->local[i];
    return NULL;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* ---- rolling updates (see the header) ---- */

/* One service's rollout as this step sees it. */
typedef struct rollout {
    const sl_service *svc;
    size_t s;          /* its index in the input */
    uint64_t hash;     /* of the spec the catalog now says */
    uint32_t version;  /* its low 32 bits, as reports carry it */
    uint32_t R, S, U;  /* replicas, surge replicas, unavailable allowed */
    uint64_t min_healthy, deadline;
    int32_t owner_of_surge[SURGE_MAX];
    bool any_old;      /* a slot's owner runs an older version */
    bool *done;        /* R + S entries: the slot's owner runs it, new, healthy for min_healthy */
} rollout;

static watch *watch_of(sl_reconciler *rc, const char *service, uint32_t replica)
{
    for (size_t i = 0; i < rc->nw; i++)
        if (rc->w[i].replica == replica && !strcmp(rc->w[i].service, service))
            return &rc->w[i];
    if (room_for_one((void **)&rc->w, &rc->wcap, rc->nw, sizeof *rc->w) != 0)
        return NULL;
    watch *w = &rc->w[rc->nw++];
    memset(w, 0, sizeof *w);
    snprintf(w->service, sizeof w->service, "%s", service);
    w->replica = replica;
    return w;
}

/* FNV-1a, then splitmix64's finaliser: the surge nodes' rendezvous. */
static uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return mix64(h);
}

/* Chooses the surge nodes of ro: for each surge replica, the member (not
 * draining) with the highest rendezvous score among those that hold no
 * replica of the service and no earlier surge replica, else among those
 * that hold no earlier surge replica; -1 when there is none. */
static int pick_surge_nodes(const sl_reconcile_input *in, const sl_placement *p, rollout *ro)
{
    uint8_t *hold = calloc(in->nmembers ? in->nmembers : 1, 1);
    if (!hold)
        return SL_ENOMEM;
    for (uint32_t j = 0; j < ro->R; j++) {
        int32_t o = sl_placement_node(p, ro->s, j);
        if (o >= 0)
            hold[o] = 1;
    }
    uint64_t sh = name_hash(ro->svc->name);
    for (uint32_t k = 0; k < ro->S; k++) {
        int32_t best = -1;
        uint64_t best_score = 0;
        for (int pass = 0; pass < 2 && best < 0; pass++)
            for (size_t m = 0; m < in->nmembers; m++) {
                if (in->members[m].state == SL_PLACEMENT_DRAINING || hold[m] > pass)
                    continue;
                uint64_t score = mix64(sh ^ ((uint64_t)(ro->R + k) * 0x9e3779b97f4a7c15ull) ^
                                       name_hash(in->members[m].name));
                if (best < 0 || score > best_score) {
                    best = (int32_t)m;
                    best_score = score;
                }
            }
        ro->owner_of_surge[k] = best;
        if (best >= 0)
            hold[best] = 2;
    }
    free(hold);
    return 0;
}

static int32_t owner_of(const sl_placement *p, const rollout *ro, uint32_t j)
{
    return j < ro->R ? sl_placement_node(p, ro->s, j) : ro->owner_of_surge[j - ro->R];
}

/* What the owner of replica j runs of the service: *runs_new when it runs
 * the new version (running), and whether it runs an older one (any status
 * but stopping). Our own replicas from what we started, others' from their
 * reports. */
static void owner_runs(sl_reconciler *rc, const sl_reconcile_input *in, const rollout *ro,
                       int32_t owner, uint32_t j, bool *runs_new, bool *runs_old)
{
    *runs_new = *runs_old = false;
    if (owner < 0)
        return;
    if (owner == in->self) {
        const sl_rc_local *l = find_local(in, ro->svc->name, j);
        entry *x = find(rc, ro->svc->name, j);
        if (!l || !x || !x->has_spec || l->status == SL_REPLICA_STOPPING)
            return;
        *runs_new = l->status == SL_REPLICA_RUNNING && x->spec_hash == ro->hash;
        *runs_old = x->spec_hash != ro->hash;
        return;
    }
    sl_replica_status st;
    uint32_t ver = 0;
    if (!in->replica(in->replica_ud, in->members[owner].name, ro->svc->name, j, &st, &ver) ||
        st == SL_REPLICA_STOPPING || ver == 0)
        return;
    *runs_new = st == SL_REPLICA_RUNNING && ver == ro->version;
    *runs_old = ver != ro->version;
}

/* Fills ro (the surge nodes, which slots run old, which are done) for
 * service s. Returns 0, or SL_ENOMEM (then ro->done is NULL). */
static int rollout_view(sl_reconciler *rc, const sl_reconcile_input *in, const sl_placement *p,
                        size_t s, rollout *ro, sl_reconcile_result *out)
{
    const sl_service *svc = in->svc[s];
    memset(ro, 0, sizeof *ro);
    ro->svc = svc;
    ro->s = s;
    ro->hash = sl_service_spec_hash(svc);
    ro->version = (uint32_t)ro->hash;
    ro->R = svc->replicas;
    ro->S = sl_rollout_max_surge(&svc->rollout);
    ro->S = ro->S < ro->R ? ro->S : ro->R;
    ro->S = ro->S < SURGE_MAX ? ro->S : SURGE_MAX;
    if (ro->R + ro->S > SL_SVC_REPLICAS_MAX) /* surge indexes stay valid replica indexes */
        ro->S = SL_SVC_REPLICAS_MAX - ro->R;
    ro->U = svc->rollout.max_unavailable;
    ro->min_healthy = sl_rollout_min_healthy_ms(&svc->rollout);
    ro->deadline = sl_rollout_deadline_ms(&svc->rollout);
    int e = pick_surge_nodes(in, p, ro);
    if (e)
        return e;
    ro->done = calloc(ro->R + ro->S + 1, sizeof *ro->done);
    if (!ro->done)
        return SL_ENOMEM;
    uint64_t now = in->now_ms;
    for (uint32_t j = 0; j < ro->R + ro->S; j++) {
        int32_t o = owner_of(p, ro, j);
        bool runs_new, runs_old;
        owner_runs(rc, in, ro, o, j, &runs_new, &runs_old);
        if (j < ro->R)
            ro->any_old |= runs_old;
        watch *w = watch_of(rc, svc->name, j);
        if (!w)
            return SL_ENOMEM;
        w->seen = true;
        if (!runs_new) {
            w->since_ms = 0;
            continue;
        }
        if (!w->since_ms || w->version != ro->version) {
            w->since_ms = now ? now : 1;
            w->version = ro->version;
        }
        if (now - w->since_ms >= ro->min_healthy)
            ro->done[j] = true;
        else
            out->next_ms = min_u64(out->next_ms, w->since_ms + ro->min_healthy);
    }
    return 0;
}

/* A new replica here (slot or surge j, entry x) started by the rollout:
 * done, it leaves the rollout's watch; past the deadline, the rollout
 * halts and may ask for the revert. */
static int watch_deadline(sl_reconciler *rc, const sl_reconcile_input *in, const rollout *ro,
                          uint32_t j, entry *x, sl_reconcile_result *out)
{
    if (!x->roll_since_ms)
        return 0;
    if (ro->done[j]) {
        x->roll_since_ms = 0;
        return 0;
    }
    uint64_t at = x->roll_since_ms + ro->deadline;
    if (in->now_ms < at) {
        /* A local status change does not call us: look again soon. */
        out->next_ms = min_u64(out->next_ms, min_u64(at, in->now_ms + SL_RC_POLL_MS));
        return 0;
    }
    if (!out->rollouts_halted++) {
        out->first_halted_service = ro->svc->name;
        out->first_halted_replica = j;
    }
    if (!ro->svc->rollout.auto_revert || x->revert_asked)
        return 0;
    x->revert_asked = true;
    return emit(rc, (sl_rc_action){
                        .kind = SL_RC_REVERT, .service = ro->svc->name, .replica = j, .svc = ro->svc});
}

/* Surge replicas: run them here while the rollout needs them. */
static int run_surge(sl_reconciler *rc, const sl_reconcile_input *in, rollout *ro,
                     sl_reconcile_result *out)
{
    bool all_done = true;
    for (uint32_t j = 0; j < ro->R; j++)
        all_done &= ro->done[j];
    if (room_for_one((void **)&rc->sv, &rc->svcap, rc->nsv, sizeof *rc->sv) != 0)
        return SL_ENOMEM;
    surge_view *v = &rc->sv[rc->nsv++];
    v->s = ro->s;
    v->R = ro->R;
    v->S = ro->S;
    v->needed = ro->any_old || !all_done;
    memcpy(v->owner, ro->owner_of_surge, sizeof v->owner);
    for (uint32_t k = 0; k < ro->S; k++) {
        if (ro->owner_of_surge[k] != in->self)
            continue;
        uint32_t r = ro->R + k;
        const sl_rc_local *l = find_local(in, ro->svc->name, r);
        entry *x = find(rc, ro->svc->name, r);
        bool runs_current = l && l->status != SL_REPLICA_STOPPING && x && x->has_spec &&
                            x->spec_hash == ro->hash;
        /* Started while an old replica runs; kept, once running the new
         * version, until every slot is done. */
        if (!ro->any_old && !(runs_current && !all_done))
            continue;
        x = find_or_add(rc, ro->svc->name, r);
        if (!x)
            return SL_ENOMEM;
        x->seen = x->surge_kept = true;
        x->handing = false;
        /* Reports of the slots do not call us: look again soon. */
        out->next_ms = min_u64(out->next_ms, in->now_ms + SL_RC_POLL_MS);
        if (runs_current)
            continue;
        sl_rc_kind k2 = !l || l->status == SL_REPLICA_STOPPING ? SL_RC_START : SL_RC_RESTART;
        x->has_spec = true;
        x->spec_hash = ro->hash;
        x->roll_since_ms = in->now_ms ? in->now_ms : 1;
        x->revert_asked = false;
        int e = emit(rc, (sl_rc_action){
                             .kind = k2, .service = ro->svc->name, .replica = r, .svc = ro->svc});
        if (e)
            return e;
    }
    for (uint32_t k = 0; k < ro->S; k++) {
        entry *x = ro->owner_of_surge[k] == in->self ? find(rc, ro->svc->name, ro->R + k) : NULL;
        if (x && x->surge_kept) {
            int e = watch_deadline(rc, in, ro, ro->R + k, x, out);
            if (e)
                return e;
        }
    }
    return 0;
}

/* Whether slot i, ours and running an older version, may restart now. */
static bool slot_may_restart(const rollout *ro, uint32_t i)
{
    uint32_t not_done = 0, surge_done = 0;
    for (uint32_t j = 0; j < i; j++)
        not_done += !ro->done[j];
    for (uint32_t k = 0; k < ro->S; k++)
        surge_done += ro->done[ro->R + k];
    return not_done < ro->U + surge_done;
}

/* Whether the service's redeploys roll: the catalog kept a previous
 * version (every peer sees the same record, so every peer agrees). */
static bool rolls(const sl_reconcile_input *in, const sl_service *svc)
{
    return in->replica && svc->prev.has;
}

/* Starts what is placed here and not running (or running an older spec,
 * when the rollout lets it). */
static int start_owned(sl_reconciler *rc, const sl_reconcile_input *in, const sl_placement *p,
                       sl_reconcile_result *out)
{
    for (size_t s = 0; s < in->nsvc && in->self >= 0; s++) {
        const sl_service *svc = in->svc[s];
        uint64_t h = 0;
        bool hashed = false;
        rollout ro = {0};
        bool viewed = false;
        int e = 0;
        if (rolls(in, svc)) { /* we may be a surge node: look at every slot */
            e = rollout_view(rc, in, p, s, &ro, out);
            viewed = true;
            if (!e && (ro.any_old || ro.S))
                e = run_surge(rc, in, &ro, out);
            h = ro.hash;
            hashed = true;
        }
        for (uint32_t r = 0; r < svc->replicas && !e; r++) {
            if (sl_placement_node(p, s, r) != in->self)
                continue;
            if (!hashed) {
                h = sl_service_spec_hash(svc);
                hashed = true;
            }
            const sl_rc_local *l = find_local(in, svc->name, r);
            entry *x = find_or_add(rc, svc->name, r);
            if (!x) {
                e = SL_ENOMEM;
                break;
            }
            x->handing = false; /* ours again */
            x->seen = true;
            sl_rc_kind k;
            if (!l || l->status == SL_REPLICA_STOPPING)
                k = SL_RC_START; /* the supervisor restarts a stopping one once stopped */
            else if (x->has_spec && x->spec_hash != h) {
                k = SL_RC_RESTART;
                if (viewed && !slot_may_restart(&ro, r)) {
                    out->rollout_waiting++;
                    out->next_ms = min_u64(out->next_ms, in->now_ms + SL_RC_POLL_MS);
                    continue;
                }
                if (viewed) { /* watched until done: see watch_deadline */
                    x->roll_since_ms = in->now_ms ? in->now_ms : 1;
                    x->revert_asked = false;
                    out->next_ms = min_u64(out->next_ms, in->now_ms + SL_RC_POLL_MS);
                }
            } else if (!x->has_spec) {
                x->has_spec = true; /* held before we knew (a restart of the driver) */
                x->spec_hash = h;
                continue;
            } else {
                if (viewed)
                    e = watch_deadline(rc, in, &ro, r, x, out);
                continue;
            }
            if (k == SL_RC_START)
                x->roll_since_ms = 0; /* a fresh start is no step of a rollout */
            x->has_spec = true;
            x->spec_hash = h;
            e = emit(rc, (sl_rc_action){.kind = k, .service = svc->name, .replica = r, .svc = svc});
        }
        free(ro.done);
        if (e)
            return e;
    }
    return 0;
}


/* Decides, for each local replica placement does not give us, whether to
 * keep it or stop it now. */
static int give_up_foreign(sl_reconciler *rc, const sl_reconcile_input *in, const sl_placement *p,
                           sl_reconcile_result *out)
{
    uint64_t now = in->now_ms;
    for (size_t i = 0; i < in->nlocal; i++) {
        const sl_rc_local *l = &in->local[i];
        if (l->status == SL_REPLICA_STOPPING)
            continue;
        entry *kept = find(rc, l->service, l->replica);
        if (kept && kept->surge_kept)
            continue; /* run_surge saw it */
        size_t s = find_service(in, l->service);
        int32_t owner = s == SIZE_MAX || l->replica >= in->svc[s]->replicas
                            ? -2 /* deleted or scaled down: nobody */
                            : sl_placement_node(p, s, l->replica);
        /* A surge replica whose surge node is now another, while the
         * rollout still needs it: handed off, make before break. */
        for (size_t k = 0; owner == -2 && s != SIZE_MAX && k < rc->nsv; k++) {
            const surge_view *v = &rc->sv[k];
            if (v->s == s && v->needed && l->replica >= v->R && l->replica < v->R + v->S &&
                v->owner[l->replica - v->R] >= 0)
                owner = v->owner[l->replica - v->R];
        }
        if (owner >= 0 && owner == in->self)
            continue; /* start_owned saw it */
        entry *x = find_or_add(rc, l->service, l->replica);
        if (!x)
            return SL_ENOMEM;
        x->seen = true;
        if (owner == -1) { /* unplaceable: keep what we have */
            x->handing = false;
            continue;
        }
        sl_rc_action a = {.kind = SL_RC_STOP, .service = l->service, .replica = l->replica};
        if (owner == -2) {
            a.why = SL_RC_STOP_GONE;
        } else {
            const char *succ = in->members[owner].name;
            if (!x->handing || strcmp(x->successor, succ)) {
                x->handing = true;
                x->since_ms = now;
                x->successor_running_ms = 0;
                snprintf(x->successor, sizeof x->successor, "%s", succ);
                if (!out->handoffs_begun++) {
                    out->first_begun_service = l->service;
                    out->first_begun_replica = l->replica;
                    out->first_begun_successor = succ;
                }
            }
            /* The successor must run it now, and must have run it for the
             * whole linger: a successor that stopped running it (it crashed,
             * it gave it up) starts the linger again when it runs again. */
            bool runs = in->runs && in->runs(in->runs_ud, succ, l->service, l->replica);
            if (!runs)
                x->successor_running_ms = 0;
            else if (!x->successor_running_ms)
                x->successor_running_ms = now ? now : 1;
            bool trying =
                !runs && in->trying && in->trying(in->trying_ud, succ, l->service, l->replica);
            if (runs && now - x->successor_running_ms >= SL_RC_LINGER_MS)
                a.why = SL_RC_STOP_HANDED;
            else if (!runs && !trying && now - x->since_ms >= rc->handoff_ms)
                a.why = SL_RC_STOP_TIMEOUT;
            else {
                uint64_t at = runs     ? x->successor_running_ms + SL_RC_LINGER_MS
                              : trying ? now + SL_RC_POLL_MS
                                       : min_u64(now + SL_RC_POLL_MS, x->since_ms + rc->handoff_ms);
                out->next_ms = min_u64(out->next_ms, at);
                out->handoffs++;
                continue;
            }
            a.successor = succ;
        }
        x->handing = false;
        int e = emit(rc, a);
        if (e)
            return e;
    }
    return 0;
}

int sl_reconcile_placed(sl_reconciler *rc, const sl_reconcile_input *in, const sl_placement *p,
                        sl_reconcile_result *out)
{
    memset(out, 0, sizeof *out);
    out->next_ms = UINT64_MAX;
    rc->nact = 0;
    for (size_t i = 0; i < rc->n; i++)
        rc->e[i].seen = rc->e[i].surge_kept = false;
    rc->nsv = 0;
    for (size_t i = 0; i < rc->nw; i++)
        rc->w[i].seen = false;
    int e = start_owned(rc, in, p, out);
    if (!e)
        e = give_up_foreign(rc, in, p, out);
    if (e)
        return e;
    /* Entries of replicas that neither run here nor are placed here, and
     * watches of services no longer in a rollout. */
    for (size_t i = 0; i < rc->n;)
        if (!rc->e[i].seen)
            rc->e[i] = rc->e[--rc->n];
        else
            i++;
    for (size_t i = 0; i < rc->nw;)
        if (!rc->w[i].seen)
            rc->w[i] = rc->w[--rc->nw];
        else
            i++;
    out->actions = rc->act;
    out->n = rc->nact;
    return 0;
}

int sl_reconcile(sl_reconciler *rc, const sl_reconcile_input *in, sl_reconcile_result *out)
{
    sl_placement *p = NULL;
    int e =
        sl_placement_cache_compute(rc->pc, in->members, in->nmembers, in->ps, in->nsvc, NULL, &p);
    if (e)
        return e;
    e = sl_reconcile_placed(rc, in, p, out);
    sl_placement_free(p);
    return e;
}

void sl_reconciler_placement_stats(const sl_reconciler *rc, sl_placement_cache_stats *out)
{
    sl_placement_cache_stats_get(rc->pc, out);
}

int sl_rc_locals_init(sl_rc_locals *l, size_t cap)
{
    memset(l, 0, sizeof *l);
    l->a = calloc(cap ? cap : 1, sizeof *l->a);
    l->names = calloc(cap ? cap : 1, sizeof *l->names);
    if (!l->a || !l->names) {
        sl_rc_locals_free(l);
        return SL_ENOMEM;
    }
    l->cap = cap;
    return 0;
}

void sl_rc_locals_add(sl_rc_locals *l, const char *service, uint32_t replica,
                      sl_replica_status status)
{
    if (l->n == l->cap)
        return;
    snprintf(l->names[l->n], sizeof l->names[l->n], "%s", service);
    l->a[l->n] = (sl_rc_local){l->names[l->n], replica, status};
    l->n++;
}

void sl_rc_locals_free(sl_rc_locals *l)
{
    free(l->a);
    free(l->names);
    memset(l, 0, sizeof *l);
}
