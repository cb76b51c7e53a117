/* The service catalog (see include/starling/catalog.h for the contract; one
 * record's codec and signature are in catalog_record.c).
 *
 * The ordering of writes is (stamp, writer). The stamp is a hybrid
 * logical clock: every write takes max(clock + 1, wall_ms *
 * SL_CATALOG_TICKS_PER_MS), clock being the highest stamp seen or written.
 * The first term orders causally related writes (a change made after seeing
 * another always wins over it, whatever the clocks say); the second orders
 * concurrent ones by the writers' wall clocks, which is what an operator who
 * ran `scale` on one peer and `rm` on another a moment later expects (with
 * plain Lamport stamps both would get the same number and the writer's name
 * would pick, silently undoing the rm). The writer's name breaks exact ties,
 * the same way on every peer.
 *
 * What the clock must not allow. A peer whose clock runs ahead wins
 * concurrent writes while it is ahead; everyone's clock then follows its
 * stamps, so causal order holds. A record stamped far ahead (a broken clock,
 * or a forgery by a holder of the gossip key) would win every later write
 * until the wall clocks caught up, and one stamped near 2^64 forever (the
 * +1 would wrap): so records beyond skew_ms of our wall clock, or above
 * SL__STAMP_MAX, are refused, and local stamps saturate below that bound.
 *
 * Why a horizon. A tombstone cannot be kept forever, and once it is
 * collected, an old live record of the same name is indistinguishable from
 * one never deleted. Tombstones are collected by the age of their stamp (a
 * restarted peer keeps the ones it saved for as long as the others), and
 * records older than the horizon are only believed from a peer whose catalog
 * is current, in a full exchange: a lone message that old is a replay or a
 * straggler, and a peer back from longer than the horizon away first learns
 * from a current peer what was deleted meanwhile.
 *
 * Field groups. Each name holds the record whose spec group wins and, when
 * it is another record, the one whose count wins (see catalog.h), each
 * stored as it was written: which records are held is the maximum of each
 * group over every record seen, under a total order ((group stamp, stamp,
 * writer)), so it does not depend on the order they came in, and applying a
 * record twice changes nothing. The merged view (spec of the one, count of
 * the other) is built from them after every change.
 *
 * Entries are kept in an array sorted by name: catalogs are small (at most
 * max_records), lookups are binary searches, and iteration order is the
 * same on every peer. */
#include <stdlib.h>
#include <string.h>

#include "catalog_internal.h"
#include "starling/error.h"
#include "starling/swim.h"

/* One name: the records that win its field groups, and their merged view. */
typedef struct entry {
    sl_service view;  /* spec's fields, count's replicas; vectors borrowed from spec */
    sl_service spec;  /* the record whose spec group wins (owns its vectors) */
    sl_service count; /* the record whose count wins, when has_count */
    bool has_count;   /* false: spec's record wins the count too */
} entry;

struct sl_catalog {
    entry *s;
    size_t n, cap;
    uint64_t clock; /* the highest stamp seen or written */
    uint8_t trusted[SL_CATALOG_TRUST_MAX][SL_OPERATOR_PUB_BYTES];
    size_t ntrusted;
    char cluster[SL_SWIM_CLUSTER_MAX + 1];
    uint64_t skew_ms, horizon_ms;
    uint32_t max_records;
    sl_catalog_sync sync;
    sl_catalog_stats stats;
};

static void entry_clear(entry *e)
{
    sl_service_clear(&e->spec);
    if (e->has_count)
        sl_service_clear(&e->count);
    e->has_count = false;
}

sl_catalog *sl_catalog_new(void)
{
    sl_catalog *c = calloc(1, sizeof(sl_catalog));
    if (!c)
        return NULL;
    c->skew_ms = SL_CATALOG_SKEW_MS;
    c->horizon_ms = SL_CATALOG_HORIZON_MS;
    c->max_records = SL_CATALOG_SERVICES_MAX;
    c->sync = SL_CATALOG_NEW;
    return c;
}

void sl_catalog_free(sl_catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        entry_clear(&c->s[i]);
    free(c->s);
    free(c);
}

int sl_catalog_set_policy(sl_catalog *c, const sl_catalog_policy *p)
{
    if (p->ntrusted > SL_CATALOG_TRUST_MAX ||
        (p->cluster && strlen(p->cluster) > SL_SWIM_CLUSTER_MAX))
        return SL_EINVAL;
    if (p->ntrusted) /* p->trusted may be NULL then, which memcpy does not allow */
        memcpy(c->trusted, p->trusted, p->ntrusted * SL_OPERATOR_PUB_BYTES);
    c->ntrusted = p->ntrusted;
    snprintf(c->cluster, sizeof c->cluster, "%s", p->cluster ? p->cluster : "");
    c->skew_ms = p->skew_ms ? p->skew_ms : SL_CATALOG_SKEW_MS;
    c->horizon_ms = p->horizon_ms ? p->horizon_ms : SL_CATALOG_HORIZON_MS;
    c->max_records = p->max_records ? p->max_records : SL_CATALOG_SERVICES_MAX;
    return 0;
}

bool sl_catalog_requires_signatures(const sl_catalog *c)
{
    return c->ntrusted > 0;
}

bool sl_catalog_trusts(const sl_catalog *c, const uint8_t pub[SL_OPERATOR_PUB_BYTES])
{
    for (size_t i = 0; i < c->ntrusted; i++)
        if (memcmp(c->trusted[i], pub, SL_OPERATOR_PUB_BYTES) == 0)
            return true;
    return false;
}

void sl_catalog_set_sync(sl_catalog *c, sl_catalog_sync s)
{
    c->sync = s;
}

sl_catalog_sync sl_catalog_get_sync(const sl_catalog *c)
{
    return c->sync;
}

const sl_catalog_stats *sl_catalog_get_stats(const sl_catalog *c)
{
    return &c->stats;
}

uint64_t sl_catalog_clock(const sl_catalog *c)
{
    return c->clock;
}

uint64_t sl_catalog_next_stamp(uint64_t clock, uint64_t wall_ms)
{
    uint64_t wall = wall_ms < SL__STAMP_MAX / SL_CATALOG_TICKS_PER_MS
                        ? wall_ms * SL_CATALOG_TICKS_PER_MS
                        : SL__STAMP_MAX;
    uint64_t next = clock < SL__STAMP_MAX ? clock + 1 : SL__STAMP_MAX;
    return next > wall ? next : wall;
}

/* Binary search: returns the position of name, or where it would go. */
static size_t locate(const sl_catalog *c, const char *name, bool *found)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(c->s[mid].view.name, name);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* The order of writes: (stamp, writer). */
static bool newer(const sl_service *a, const sl_service *b)
{
    if (a->stamp != b->stamp)
        return a->stamp > b->stamp;
    return strcmp(a->writer, b->writer) > 0;
}

/* Whether a wins the spec group over b: the higher spec stamp, then the
 * newer write. */
static bool wins_spec(const sl_service *a, const sl_service *b)
{
    if (sl__spec_stamp(a) != sl__spec_stamp(b))
        return sl__spec_stamp(a) > sl__spec_stamp(b);
    return newer(a, b);
}

static bool wins_count(const sl_service *a, const sl_service *b)
{
    if (sl__replicas_stamp(a) != sl__replicas_stamp(b))
        return sl__replicas_stamp(a) > sl__replicas_stamp(b);
    return newer(a, b);
}

/* Rebuilds e's merged view from its records. */
static void set_view(entry *e)
{
    const sl_service *cnt = e->has_count ? &e->count : &e->spec;
    const sl_service *last = newer(cnt, &e->spec) ? cnt : &e->spec;
    e->view = e->spec;
    e->view.replicas = cnt->replicas;
    e->view.stamp = last->stamp;
    memcpy(e->view.writer, last->writer, sizeof e->view.writer);
    e->view.spec_stamp = sl__spec_stamp(&e->spec);
    e->view.replicas_stamp = sl__replicas_stamp(cnt);
    if (e->has_count) /* a merge of two writes: no one signature covers it */
        e->view.is_signed = false;
}

/* Takes rec (its vectors) into e for the groups it wins. Returns 1 when it
 * won one, 0 when not (rec's vectors are then freed). */
static int entry_take(entry *e, sl_service *rec)
{
    bool spec = wins_spec(rec, &e->spec);
    bool count = wins_count(rec, e->has_count ? &e->count : &e->spec);
    if (!spec && !count) {
        sl_service_clear(rec);
        return 0;
    }
    if (spec && count) {
        entry_clear(e);
        e->spec = *rec;
    } else if (spec) {
        if (e->has_count)
            sl_service_clear(&e->spec);
        else
            e->count = e->spec; /* the old record still holds the count */
        e->has_count = true;
        e->spec = *rec;
    } else {
        if (e->has_count)
            sl_service_clear(&e->count);
        e->count = *rec;
        e->has_count = true;
    }
    set_view(e);
    return 1;
}

/* Whether a stamp is older than the horizon at wall_ms (never without a
 * clock). */
static bool expired(const sl_catalog *c, uint64_t stamp, uint64_t wall_ms)
{
    uint64_t ms = stamp / SL_CATALOG_TICKS_PER_MS;
    return wall_ms > c->horizon_ms && ms < wall_ms - c->horizon_ms;
}

bool sl_catalog_believed(const sl_catalog *c, const sl_service *s, uint64_t wall_ms)
{
    return c->sync != SL_CATALOG_RETURNING || !expired(c, s->stamp, wall_ms);
}

/* Whether the policy lets rec in. `old_ok`: records older than the horizon
 * are believed (a full exchange with a current peer, or our own disk).
 * Returns 0 or the refusal, counted. */
static int admit(sl_catalog *c, const sl_service *rec, uint64_t wall_ms, bool old_ok)
{
    if (c->ntrusted && !rec->is_signed) {
        c->stats.unsigned_++;
        return SL_EAUTH;
    }
    if (c->ntrusted &&
        (!sl_catalog_trusts(c, rec->signer) || !sl_service_verify(rec, c->cluster))) {
        c->stats.bad_signature++;
        return SL_EAUTH;
    }
    uint64_t skew = c->skew_ms;
    if (rec->stamp > SL__STAMP_MAX ||
        (wall_ms && rec->stamp / SL_CATALOG_TICKS_PER_MS > wall_ms + skew)) {
        c->stats.future++;
        return SL_EFUTURE;
    }
    if (!old_ok && expired(c, rec->stamp, wall_ms)) {
        bool found;
        locate(c, rec->name, &found);
        if (!found) {
            c->stats.expired++;
            return SL_EEXPIRED;
        }
    }
    return 0;
}

/* Stores rec (taking its vectors) if it is newer than what we hold.
 * Returns 1 stored, 0 not newer (rec's vectors are then freed), or an error. */
static int store(sl_catalog *c, sl_service *rec)
{
    bool found;
    size_t pos = locate(c, rec->name, &found);
    if (rec->stamp > c->clock)
        c->clock = rec->stamp;
    if (found)
        return entry_take(&c->s[pos], rec);
    if (c->n >= c->max_records) {
        c->stats.full++;
        sl_service_clear(rec);
        return SL_EFULL;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        entry *s = realloc(c->s, cap * sizeof *s);
        if (!s) {
            sl_service_clear(rec);
            return SL_ENOMEM;
        }
        c->s = s;
        c->cap = cap;
    }
    memmove(&c->s[pos + 1], &c->s[pos], (c->n - pos) * sizeof *c->s);
    c->s[pos] = (entry){.spec = *rec};
    set_view(&c->s[pos]);
    c->n++;
    return 1;
}

void sl_service_stamp_write(sl_service *rec, const sl_service *cur, uint64_t stamp,
                            bool spec_changed)
{
    rec->stamp = rec->spec_stamp = rec->replicas_stamp = stamp;
    if (rec->deleted || !cur || cur->deleted)
        return;
    if (!spec_changed)
        rec->spec_stamp = sl__spec_stamp(cur);
    if (rec->replicas == cur->replicas)
        rec->replicas_stamp = sl__replicas_stamp(cur);
}

/* What a local write does with the previous version (see catalog_prev.c). */
typedef enum prev_mode {
    PREV_CARRY, /* a deploy: sl_service_carry_prev over the current record */
    PREV_KEEP,  /* a scale, rm or rollback: spec's prev, copied */
} prev_mode;

/* Stamps, encodes and stores a local write of spec (whose vectors are
 * borrowed from the caller and copied on success); spec_changed: see
 * sl_service_stamp_write. */
static int write_local(sl_catalog *c, const sl_service *spec, bool deleted, bool spec_changed,
                       prev_mode pm, const char *writer, uint64_t wall_ms, uint8_t *msg, size_t cap,
                       size_t *msg_len)
{
    if (c->ntrusted)
        return SL_EAUTH;
    if (!writer || !*writer || strlen(writer) > SL_SVC_WRITER_MAX)
        return SL_EINVAL;
    sl_service rec = *spec;
    const sl_service *cur = sl_catalog_find_any(c, spec->name);
    rec.deleted = deleted;
    rec.is_signed = false;
    sl_service_stamp_write(&rec, cur, sl_catalog_next_stamp(c->clock, wall_ms), spec_changed);
    strcpy(rec.writer, writer);
    /* From here rec owns its prev (a copy); argv and env are still spec's. */
    int rc = 0;
    if (pm == PREV_CARRY)
        rc = sl_service_carry_prev(&rec, cur);
    else if (spec->prev.has && !deleted) {
        rec.prev = spec->prev;
        rec.prev.argv = sl__strv_copy(spec->prev.argv, spec->prev.argc);
        rec.prev.env = sl__strv_copy(spec->prev.env, spec->prev.envc);
        if ((spec->prev.argc && !rec.prev.argv) || (spec->prev.envc && !rec.prev.env))
            rc = SL_ENOMEM;
    } else
        rec.prev = (sl_service_prev){0};
    sl__mp_writer w;
    sl__mp_writer_init(&w, msg, cap < SL_SVC_RECORD_MAX ? cap : SL_SVC_RECORD_MAX);
    if (rc == 0 && sl__service_check(&rec))
        rc = SL_EINVAL;
    if (rc == 0 && sl__service_pack(&rec, &w) != 0)
        rc = SL_ETOOBIG;
    if (rc == 0) {
        rec.argv = sl__strv_copy(spec->argv, spec->argc);
        rec.env = sl__strv_copy(spec->env, spec->envc);
        if ((spec->argc && !rec.argv) || (spec->envc && !rec.env))
            rc = SL_ENOMEM;
    } else {
        rec.argv = rec.env = NULL; /* spec's: not ours to free */
        rec.argc = rec.envc = 0;
    }
    if (rc != 0) {
        sl_service_clear(&rec);
        return rc;
    }
    rc = store(c, &rec);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return SL_ESTALE; /* only a record at the saturated stamp can beat us */
    *msg_len = w.len;
    return 0;
}

int sl_catalog_put(sl_catalog *c, const sl_service *spec, const char *writer, uint64_t wall_ms,
                   uint8_t *msg, size_t cap, size_t *msg_len)
{
    return write_local(c, spec, false, true, PREV_CARRY, writer, wall_ms, msg, cap, msg_len);
}

int sl_catalog_delete(sl_catalog *c, const char *name, const char *writer, uint64_t wall_ms,
                      uint8_t *msg, size_t cap, size_t *msg_len)
{
    const sl_service *cur = sl_catalog_find(c, name);
    if (!cur)
        return SL_ENOTFOUND;
    sl_service tomb = {0};
    strcpy(tomb.name, cur->name);
    return write_local(c, &tomb, true, true, PREV_KEEP, writer, wall_ms, msg, cap, msg_len);
}

int sl_catalog_scale(sl_catalog *c, const char *name, uint32_t replicas, const char *writer,
                     uint64_t wall_ms, uint8_t *msg, size_t cap, size_t *msg_len)
{
    const sl_service *cur = sl_catalog_find(c, name);
    if (!cur)
        return SL_ENOTFOUND;
    sl_service spec = *cur;
    spec.replicas = replicas;
    return write_local(c, &spec, false, false, PREV_KEEP, writer, wall_ms, msg, cap, msg_len);
}

int sl_catalog_rollback(sl_catalog *c, const char *name, const char *writer, uint64_t wall_ms,
                        uint8_t *msg, size_t cap, size_t *msg_len)
{
    const sl_service *cur = sl_catalog_find(c, name);
    sl_service rb;
    if (!cur)
        return SL_ENOTFOUND;
    int rc = sl_service_rollback_of(cur, &rb);
    if (rc != 0)
        return rc;
    rc = write_local(c, &rb, false, true, PREV_KEEP, writer, wall_ms, msg, cap, msg_len);
    sl_service_clear(&rb);
    return rc;
}

int sl_catalog_apply(sl_catalog *c, const uint8_t *buf, size_t len, uint64_t wall_ms)
{
    sl_service rec;
    if (sl_service_decode(buf, len, &rec) != 0) {
        c->stats.malformed++;
        return SL_EMALFORMED;
    }
    int rc = admit(c, &rec, wall_ms, false);
    if (rc != 0) {
        sl_service_clear(&rec);
        return rc;
    }
    return store(c, &rec);
}

int sl_catalog_encode(const sl_catalog *c, uint8_t **out, size_t *len)
{
    size_t records = 0;
    for (size_t i = 0; i < c->n; i++)
        records += 1 + c->s[i].has_count;
    size_t cap = 16 + records * (SL_SVC_RECORD_MAX + 16);
    uint8_t *buf = malloc(cap);
    if (!buf)
        return SL_ENOMEM;
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf, cap);
    msgpack_pack_array(&w.pk, records);
    for (size_t i = 0; i < c->n; i++) {
        sl__service_pack(&c->s[i].spec, &w);
        if (c->s[i].has_count)
            sl__service_pack(&c->s[i].count, &w);
    }
    if (w.overflow) {
        free(buf);
        return SL_ENOMEM;
    }
    *out = buf;
    *len = w.len;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* After a returning peer's first exchange with a current one: forgets our
 * records older than the horizon whose names the peer's catalog (names,
 * sorted) does not hold. They were deleted while we were away. */
static void drop_forgotten(sl_catalog *c, const char **names, size_t n, uint64_t wall_ms)
{
    size_t j = 0;
    for (size_t i = 0; i < c->n; i++) {
        const char *key = c->s[i].view.name;
        if (expired(c, c->s[i].view.stamp, wall_ms) &&
            !bsearch(&key, names, n, sizeof *names, by_name)) {
            entry_clear(&c->s[i]);
            c->stats.dropped_stale++;
            continue;
        }
        c->s[j++] = c->s[i];
    }
    c->n = j;
}

int sl_catalog_merge(sl_catalog *c, const uint8_t *buf, size_t len, uint64_t wall_ms,
                     sl_catalog_sync from)
{
    sl__mp_reader r, check;
    uint32_t n;
    sl_service rec;
    sl__mp_reader_init(&r, buf, len);
    if (sl__mp_read_array(&r, &n) || n > 2 * (uint64_t)c->max_records) {
        c->stats.malformed++;
        return SL_EMALFORMED;
    }
    check = r;
    for (uint32_t i = 0; i < n; i++) {
        if (sl__service_read(&check, &rec)) {
            c->stats.malformed++;
            return SL_EMALFORMED;
        }
        sl_service_clear(&rec);
    }
    if (sl__mp_remaining(&check) != 0) {
        c->stats.malformed++;
        return SL_EMALFORMED;
    }
    bool settle = c->sync != SL_CATALOG_CURRENT && from == SL_CATALOG_CURRENT;
    char(*names)[SL_SVC_NAME_MAX + 1] = settle ? malloc((n ? n : 1) * sizeof *names) : NULL;
    const char **sorted = names ? malloc((n ? n : 1) * sizeof *sorted) : NULL;
    int stored = 0;
    for (uint32_t i = 0; i < n; i++) {
        sl__service_read(&r, &rec); /* validated above */
        if (sorted) {
            memcpy(names[i], rec.name, sizeof names[i]);
            sorted[i] = names[i];
        }
        if (admit(c, &rec, wall_ms, from == SL_CATALOG_CURRENT) != 0) {
            sl_service_clear(&rec);
            continue;
        }
        if (store(c, &rec) == 1)
            stored++;
    }
    if (settle && sorted) {
        qsort(sorted, n, sizeof *sorted, by_name);
        if (c->sync == SL_CATALOG_RETURNING)
            drop_forgotten(c, sorted, n, wall_ms);
        c->sync = SL_CATALOG_CURRENT;
    }
    free(sorted);
    free(names);
    return stored;
}

size_t sl_catalog_gc(sl_catalog *c, uint64_t wall_ms)
{
    size_t j = 0, gone = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->s[i].view.deleted && expired(c, c->s[i].view.stamp, wall_ms)) {
            entry_clear(&c->s[i]);
            gone++;
            continue;
        }
        c->s[j++] = c->s[i];
    }
    c->n = j;
    return gone;
}

size_t sl_catalog_size(const sl_catalog *c)
{
    return c->n;
}

const sl_service *sl_catalog_at(const sl_catalog *c, size_t i)
{
    return i < c->n ? &c->s[i].view : NULL;
}

const sl_service *sl_catalog_find_any(const sl_catalog *c, const char *name)
{
    bool found;
    size_t pos = locate(c, name, &found);
    return found ? &c->s[pos].view : NULL;
}

const sl_service *sl_catalog_find_spec_record(const sl_catalog *c, const char *name)
{
    bool found;
    size_t pos = locate(c, name, &found);
    return found ? &c->s[pos].spec : NULL;
}

const sl_service *sl_catalog_find(const sl_catalog *c, const char *name)
{
    const sl_service *s = sl_catalog_find_any(c, name);
    return s && !s->deleted ? s : NULL;
}

int sl_appmsg_kind(const uint8_t *buf, size_t len)
{
    sl__mp_reader r;
    uint32_t n;
    uint64_t kind;
    sl__mp_reader_init(&r, buf, len);
    if (sl__mp_read_array(&r, &n) || n < 1 || sl__mp_read_uint(&r, &kind) || kind > 255)
        return SL_EMALFORMED;
    return (int)kind;
}
