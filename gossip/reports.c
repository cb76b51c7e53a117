/* Node reports (see include/starling/reports.h).
 *
 *   report := [2, node, service, version, [entry...]]
 *   entry  := [replica, status, port, restarts, gave_up?, spec_version?]
 *
 * The trailing elements of an entry are optional, each appended after the
 * fields that older versions read (decoders skip any elements after those
 * they know, so a newer peer may append more). gave_up (0 or 1) is written
 * when set or when spec_version follows; spec_version (a uint32, the low
 * bits of the replica's spec hash) only when known (not 0). An entry
 * without it decodes with version 0 (not known).
 *
 * A report replaces an older one for the same (node, service) when its
 * version is higher. Only the node itself writes its reports, so versions
 * never tie between different contents. The table is an array of pointers
 * sorted by (node, service), like the catalog: deterministic, and an insert
 * shifts pointers, not reports (a node may hold thousands). */
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "starling/error.h"
#include "starling/reports.h"
#include "starling/rng.h"

/* A report as held: its key and replicas in one allocation sized to what
 * it holds. A peer holds one per (node, service) of the cluster, thousands:
 * a full sl_report is 536 bytes, a held one about 52, and its version and
 * key share the first cache line, so a copy already held is recognised with
 * one read of memory. Layout after the header: node, NUL, service, NUL,
 * padding to 4, then `cap` replica slots of which the first n are used. */
typedef struct held {
    uint64_t version;
    uint8_t node_len, svc_len;
    uint8_t n, cap;
    char key[];
} held;

static const char *held_node(const held *h)
{
    return h->key;
}

static const char *held_service(const held *h)
{
    return h->key + h->node_len + 1;
}

static size_t held_reps_offset(size_t node_len, size_t svc_len)
{
    return (offsetof(held, key) + node_len + 1 + svc_len + 1 + 3) & ~(size_t)3;
}

static sl_replica_report *held_reps(const held *h)
{
    return (sl_replica_report *)((char *)h + held_reps_offset(h->node_len, h->svc_len));
}

/* An index entry: the key's hash beside the pointer, so that a probe that
 * meets another key does not read that report. */
struct slot {
    uint64_t hash;
    held *r;
};

struct sl_reports {
    held **r; /* each malloc()ed, sorted by (node, service) */
    size_t n, cap;
    /* The same reports by (node, service): open addressing, linear
     * probing, a power of two at least 4/3 of n; most reports a node
     * receives are copies of one it holds, found here without a search. */
    struct slot *idx;
    size_t idx_cap;
    uint64_t gave_up_stored; /* reports listing a given-up replica stored so far */
};

static uint64_t key_hash(const char *node, const char *service)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = node; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;
    for (const char *p = service; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    return sl_mix64(h);
}

static bool held_is(const held *h, const char *node, size_t node_len, const char *service,
                    size_t svc_len)
{
    return h->node_len == node_len && h->svc_len == svc_len && !memcmp(h->key, node, node_len) &&
           !memcmp(held_service(h), service, svc_len);
}

/* The slot holding `node`/`service` (whose key_hash is h), or the empty
 * slot where it would go. */
static struct slot *idx_slot_hashed(const struct sl_reports *t, const char *node,
                                    const char *service, uint64_t h)
{
    size_t nl = strlen(node), sl = strlen(service);
    for (size_t i = h & (t->idx_cap - 1);; i = (i + 1) & (t->idx_cap - 1)) {
        struct slot *s = &t->idx[i];
        if (!s->r || (s->hash == h && held_is(s->r, node, nl, service, sl)))
            return s;
    }
}

static struct slot *idx_slot(const struct sl_reports *t, const char *node, const char *service)
{
    return idx_slot_hashed(t, node, service, key_hash(node, service));
}

static held *idx_find(const struct sl_reports *t, const char *node, const char *service)
{
    return t->idx_cap ? idx_slot(t, node, service)->r : NULL;
}

/* Rebuilds the index for the reports held, with room for `want` of them.
 * Returns 0 or SL_ENOMEM (then the old index stays). */
static int idx_rebuild(struct sl_reports *t, size_t want)
{
    size_t cap = t->idx_cap ? t->idx_cap : 64;
    while (cap < want + want / 3)
        cap *= 2;
    struct slot *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return SL_ENOMEM;
    for (size_t k = 0; k < t->n; k++) {
        uint64_t h = key_hash(held_node(t->r[k]), held_service(t->r[k]));
        size_t i = h & (cap - 1);
        while (idx[i].r)
            i = (i + 1) & (cap - 1);
        idx[i] = (struct slot){h, t->r[k]};
    }
    free(t->idx);
    t->idx = idx;
    t->idx_cap = cap;
    return 0;
}

/* A held copy of r (checked by report_check), room for its replicas. */
static held *held_make(const sl_report *r)
{
    size_t nl = strlen(r->node), sl = strlen(r->service);
    size_t off = held_reps_offset(nl, sl);
    uint32_t cap = r->n ? r->n : 1;
    held *h = malloc(off + cap * sizeof(sl_replica_report));
    if (!h)
        return NULL;
    h->version = r->version;
    h->node_len = (uint8_t)nl;
    h->svc_len = (uint8_t)sl;
    h->n = (uint8_t)r->n;
    h->cap = (uint8_t)cap;
    memcpy(h->key, r->node, nl + 1);
    memcpy(h->key + nl + 1, r->service, sl + 1);
    memcpy(held_reps(h), r->replicas, r->n * sizeof(sl_replica_report));
    return h;
}

static void held_copy_out(const held *h, sl_report *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->node, held_node(h), h->node_len);
    memcpy(out->service, held_service(h), h->svc_len);
    out->version = h->version;
    out->n = h->n;
    memcpy(out->replicas, held_reps(h), h->n * sizeof(sl_replica_report));
}

const char *sl_replica_status_name(sl_replica_status s)
{
    static const char *names[] = {"starting", "running", "failed", "stopping", "oom", "unhealthy"};
    return (unsigned)s <= SL_REPLICA_STATUS_LAST ? names[s] : "unknown";
}

sl_reports *sl_reports_new(void)
{
    return calloc(1, sizeof(sl_reports));
}

void sl_reports_free(sl_reports *t)
{
    if (t) {
        for (size_t i = 0; i < t->n; i++)
            free(t->r[i]);
        free(t->r);
        free(t->idx);
    }
    free(t);
}

static int report_check(const sl_report *r)
{
    if (!r->node[0] || sl_service_name_check(r->service) || r->n > SL_REPORT_REPLICAS_MAX)
        return SL_EINVAL;
    for (uint32_t i = 0; i < r->n; i++)
        if (r->replicas[i].status > SL_REPLICA_STATUS_LAST || r->replicas[i].port > 65535 ||
            (r->replicas[i].gave_up && r->replicas[i].status == SL_REPLICA_RUNNING) ||
            r->replicas[i].replica >= SL_SVC_REPLICAS_MAX)
            return SL_EINVAL;
    return 0;
}

static void report_encode(sl__mp_writer *w, const char *node, size_t node_len, const char *service,
                          size_t svc_len, uint64_t version, uint32_t n,
                          const sl_replica_report *reps)
{
    msgpack_packer *pk = &w->pk;
    msgpack_pack_array(pk, 5);
    msgpack_pack_uint8(pk, SL_APPMSG_REPORT);
    sl__mp_put_str(w, node, node_len);
    sl__mp_put_str(w, service, svc_len);
    msgpack_pack_uint64(pk, version);
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_array(pk, reps[i].version ? 6 : reps[i].gave_up ? 5 : 4);
        msgpack_pack_uint32(pk, reps[i].replica);
        msgpack_pack_uint32(pk, reps[i].status);
        msgpack_pack_uint32(pk, reps[i].port);
        msgpack_pack_uint32(pk, reps[i].restarts);
        if (reps[i].gave_up || reps[i].version)
            msgpack_pack_uint8(pk, reps[i].gave_up ? 1 : 0);
        if (reps[i].version)
            msgpack_pack_uint32(pk, reps[i].version);
    }
}

static int report_decode(sl__mp_reader *rd, sl_report *r)
{
    uint32_t n, m;
    uint64_t kind;
    memset(r, 0, sizeof *r);
    if (sl__mp_read_array(rd, &n) || n < 5 || sl__mp_read_uint(rd, &kind) ||
        kind != SL_APPMSG_REPORT || sl__mp_read_cstr(rd, r->node, SL_SWIM_NAME_MAX) ||
        sl__mp_read_cstr(rd, r->service, SL_SVC_NAME_MAX) || sl__mp_read_uint(rd, &r->version) ||
        sl__mp_read_array(rd, &m) || m > SL_REPORT_REPLICAS_MAX)
        return SL_EMALFORMED;
    r->n = m;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t f;
        sl_replica_report *x = &r->replicas[i];
        if (sl__mp_read_array(rd, &f) || f < 4 || sl__mp_read_u32(rd, &x->replica) ||
            sl__mp_read_u32(rd, &x->status) || sl__mp_read_u32(rd, &x->port) ||
            sl__mp_read_u32(rd, &x->restarts))
            return SL_EMALFORMED;
        uint32_t flag = 0;
        if (f >= 5 && (sl__mp_read_u32(rd, &flag) || flag > 1))
            return SL_EMALFORMED;
        x->gave_up = flag == 1;
        if (f >= 6 && sl__mp_read_u32(rd, &x->version))
            return SL_EMALFORMED;
        for (uint32_t k = 6; k < f; k++)
            if (sl__mp_skip(rd))
                return SL_EMALFORMED;
    }
    for (uint32_t k = 5; k < n; k++)
        if (sl__mp_skip(rd))
            return SL_EMALFORMED;
    return report_check(r) ? SL_EMALFORMED : 0;
}

static int cmp_key(const held *a, const char *node, const char *service)
{
    int c = strcmp(held_node(a), node);
    return c ? c : strcmp(held_service(a), service);
}

static size_t locate(const sl_reports *t, const char *node, const char *service, bool *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_key(t->r[mid], node, service);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Replaces the held report h with the newer r: in place when its replicas
 * fit, else a new allocation that takes the old one's place in the array
 * and the index. */
static int replace(sl_reports *t, held *h, const sl_report *r)
{
    if (r->n <= h->cap) {
        h->version = r->version;
        h->n = (uint8_t)r->n;
        memcpy(held_reps(h), r->replicas, r->n * sizeof(sl_replica_report));
        return 1;
    }
    bool found;
    size_t pos = locate(t, r->node, r->service, &found);
    held *bigger = held_make(r);
    if (!found || !bigger) {
        free(bigger);
        return SL_ENOMEM;
    }
    if (t->idx_cap) {
        struct slot *s = idx_slot(t, r->node, r->service);
        if (s->r == h)
            s->r = bigger;
    }
    t->r[pos] = bigger;
    free(h);
    return 1;
}

static bool lists_gave_up(const sl_report *r)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (r->replicas[i].gave_up)
            return true;
    return false;
}

static int store_report(sl_reports *t, const sl_report *r);

static int store(sl_reports *t, const sl_report *r)
{
    int rc = store_report(t, r);
    if (rc == 1 && lists_gave_up(r))
        t->gave_up_stored++;
    return rc;
}

static int store_report(sl_reports *t, const sl_report *r)
{
    held *known = idx_find(t, r->node, r->service);
    bool found = known != NULL;
    size_t pos = 0;
    if (!known) { /* held but not indexed when the index was lost to a failed allocation */
        pos = locate(t, r->node, r->service, &found);
        if (found)
            known = t->r[pos];
    }
    if (known)
        return r->version <= known->version ? 0 : replace(t, known, r);
    if (t->n >= SL_REPORTS_MAX)
        return SL_ETOOBIG;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        held **p = realloc(t->r, cap * sizeof *p);
        if (!p)
            return SL_ENOMEM;
        t->r = p;
        t->cap = cap;
    }
    if ((t->n + 1) + (t->n + 1) / 3 > t->idx_cap && idx_rebuild(t, t->n + 1) != 0)
        return SL_ENOMEM;
    held *copy = held_make(r);
    if (!copy)
        return SL_ENOMEM;
    memmove(&t->r[pos + 1], &t->r[pos], (t->n - pos) * sizeof *t->r);
    t->r[pos] = copy;
    t->n++;
    *idx_slot(t, r->node, r->service) = (struct slot){key_hash(r->node, r->service), copy};
    return 1;
}

int sl_reports_put(sl_reports *t, const sl_report *r, uint8_t *msg, size_t cap, size_t *msg_len)
{
    if (report_check(r))
        return SL_EINVAL;
    sl__mp_writer w;
    sl__mp_writer_init(&w, msg, cap);
    report_encode(&w, r->node, strlen(r->node), r->service, strlen(r->service), r->version, r->n,
                  r->replicas);
    if (w.overflow)
        return SL_ESPACE;
    int rc = store(t, r);
    if (rc < 0)
        return rc;
    *msg_len = w.len;
    return 0;
}

int sl_reports_apply(sl_reports *t, const uint8_t *buf, size_t len,
                     bool (*keep)(void *ud, const char *node), void *ud)
{
    sl__mp_reader rd;
    sl_report r;
    /* Most reports are copies of one held (gossip brings each about
     * mult * log N times to every peer): those cost one lookup, two reads
     * of memory a cache rarely holds (a peer holds thousands of reports).
     * The first is asked for before the whole report is decoded, so that
     * the two overlap. */
    uint64_t h = 0;
    uint64_t version;
    if (t->idx_cap && sl_reports_peek(buf, len, r.node, r.service, &version) == 0) {
        h = key_hash(r.node, r.service);
        __builtin_prefetch(&t->idx[h & (t->idx_cap - 1)]);
    }
    sl__mp_reader_init(&rd, buf, len);
    if (report_decode(&rd, &r) || sl__mp_remaining(&rd) != 0)
        return SL_EMALFORMED;
    const held *known = NULL;
    if (t->idx_cap)
        known = idx_slot_hashed(t, r.node, r.service, h ? h : key_hash(r.node, r.service))->r;
    if (known && known->version >= r.version)
        return 0;
    if (!known && keep && !keep(ud, r.node))
        return SL_ENOTFOUND;
    int rc = store(t, &r);
    return rc < 0 ? SL_EMALFORMED : rc;
}

int sl_reports_encode(const sl_reports *t, uint8_t **out, size_t *len)
{
    size_t cap = 16;
    /* Str headers and fixed fields; per replica, its array header, 4 uint32,
     * the flag and the spec version (27 bytes at most). */
    for (size_t i = 0; i < t->n; i++)
        cap += 32 + t->r[i]->node_len + t->r[i]->svc_len + t->r[i]->n * 27u;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return SL_ENOMEM;
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf, cap);
    msgpack_pack_array(&w.pk, t->n);
    for (size_t i = 0; i < t->n; i++) {
        const held *h = t->r[i];
        report_encode(&w, held_node(h), h->node_len, held_service(h), h->svc_len, h->version, h->n,
                      held_reps(h));
    }
    if (w.overflow) {
        free(buf);
        return SL_ENOMEM;
    }
    *out = buf;
    *len = w.len;
    return 0;
}

int sl_reports_merge(sl_reports *t, const uint8_t *buf, size_t len)
{
    sl__mp_reader rd, check;
    uint32_t n;
    sl_report r;
    sl__mp_reader_init(&rd, buf, len);
    if (sl__mp_read_array(&rd, &n) || n > SL_REPORTS_MAX)
        return SL_EMALFORMED;
    check = rd;
    for (uint32_t i = 0; i < n; i++)
        if (report_decode(&check, &r))
            return SL_EMALFORMED;
    if (sl__mp_remaining(&check) != 0)
        return SL_EMALFORMED;
    int stored = 0;
    for (uint32_t i = 0; i < n; i++) {
        report_decode(&rd, &r);
        if (store(t, &r) == 1)
            stored++;
    }
    return stored;
}

/* After reports were dropped: the index again, or none (then lookups miss
 * it and store() searches the array: locate() finds what idx_find would). */
static void forget_index(sl_reports *t)
{
    if (idx_rebuild(t, t->n) != 0) {
        free(t->idx);
        t->idx = NULL;
        t->idx_cap = 0;
    }
}

void sl_reports_forget_node(sl_reports *t, const char *node)
{
    size_t j = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(held_node(t->r[i]), node) != 0)
            t->r[j++] = t->r[i];
        else
            free(t->r[i]);
    }
    if (j != t->n) {
        t->n = j;
        forget_index(t);
    }
}

uint64_t sl_reports_gave_up_stored(const sl_reports *t)
{
    return t->gave_up_stored;
}

size_t sl_reports_size(const sl_reports *t)
{
    return t->n;
}

bool sl_reports_at(const sl_reports *t, size_t i, sl_report *out)
{
    if (i >= t->n)
        return false;
    held_copy_out(t->r[i], out);
    return true;
}

/* The held report of (node, service), or NULL. */
static const held *find(const sl_reports *t, const char *node, const char *service)
{
    if (t->idx_cap)
        return idx_find(t, node, service);
    bool found;
    size_t pos = locate(t, node, service, &found);
    return found ? t->r[pos] : NULL;
}

bool sl_reports_find(const sl_reports *t, const char *node, const char *service, sl_report *out)
{
    const held *h = find(t, node, service);
    if (h && out)
        held_copy_out(h, out);
    return h != NULL;
}

/* The entry of `replica` in the held report of (node, service), or NULL. */
static const sl_replica_report *find_replica(const sl_reports *t, const char *node,
                                             const char *service, uint32_t replica)
{
    const held *h = find(t, node, service);
    const sl_replica_report *reps = h ? held_reps(h) : NULL;
    for (uint32_t i = 0; h && i < h->n; i++)
        if (reps[i].replica == replica)
            return &reps[i];
    return NULL;
}

int sl_reports_replica_status(const sl_reports *t, const char *node, const char *service,
                              uint32_t replica)
{
    const sl_replica_report *x = find_replica(t, node, service, replica);
    return x ? (int)x->status : -1;
}

bool sl_reports_replica(const sl_reports *t, const char *node, const char *service,
                        uint32_t replica, sl_replica_report *out)
{
    const sl_replica_report *x = find_replica(t, node, service, replica);
    if (x && out)
        *out = *x;
    return x != NULL;
}

size_t sl_reports_forget_unless(sl_reports *t, bool (*keep)(void *ud, const char *node), void *ud)
{
    char last[SL_SWIM_NAME_MAX + 1] = "";
    bool last_kept = false;
    size_t j = 0, gone = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (i == 0 || strcmp(last, held_node(t->r[i])) != 0) { /* sorted by node: ask once each */
            memcpy(last, held_node(t->r[i]), t->r[i]->node_len + 1u);
            last_kept = keep(ud, last);
        }
        if (last_kept) {
            t->r[j++] = t->r[i];
        } else {
            free(t->r[i]);
            gone++;
        }
    }
    t->n = j;
    if (gone)
        forget_index(t);
    return gone;
}

int sl_reports_peek(const uint8_t *buf, size_t len, char node[SL_SWIM_NAME_MAX + 1],
                    char service[SL_SVC_NAME_MAX + 1], uint64_t *version)
{
    sl__mp_reader rd;
    uint32_t n;
    uint64_t kind;
    sl__mp_reader_init(&rd, buf, len);
    if (sl__mp_read_array(&rd, &n) || n < 5 || sl__mp_read_uint(&rd, &kind) ||
        kind != SL_APPMSG_REPORT || sl__mp_read_cstr(&rd, node, SL_SWIM_NAME_MAX) || !node[0] ||
        sl__mp_read_cstr(&rd, service, SL_SVC_NAME_MAX) || !service[0] ||
        sl__mp_read_uint(&rd, version))
        return SL_EMALFORMED;
    return 0;
}
