/* The service catalog (see include/starling/catalog.h for the contract).
 *
 * A record on the wire, as an application message:
 *
 *   [1, name, lamport, writer, deleted, replicas, cpu, mem, spread,
 *    [arg...], [KEY=VALUE...]]
 *
 * and the whole catalog as an array of records. The ordering of writes is
 * (lamport, writer). The stamp is a hybrid logical clock: every write takes
 * max(clock + 1, wall_ms * SL_CATALOG_TICKS_PER_MS), clock being the highest
 * stamp seen or written. The first term orders causally related writes (a
 * change made after seeing another always wins over it, whatever the
 * clocks say); the second orders concurrent ones by the writers' wall
 * clocks, which is what an operator who ran `scale` on one peer and `rm` on
 * another a moment later expects (with plain Lamport stamps both would get
 * the same number and the writer's name would pick, silently undoing the
 * rm). The writer's name breaks exact ties, the same way on every peer. A
 * peer whose clock runs ahead wins concurrent writes for as long as it is
 * ahead; everyone's clock then follows its stamps, so causal order holds.
 *
 * Records are kept in an array sorted by name: catalogs are small (at most
 * SL_CATALOG_SERVICES_MAX), lookups are binary searches, and iteration order
 * is the same on every peer. */
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "starling/catalog.h"
#include "starling/error.h"

struct sl_catalog {
    sl_service *s;
    size_t n, cap;
    uint64_t clock; /* the highest stamp seen or written */
};

sl_catalog *sl_catalog_new(void)
{
    return calloc(1, sizeof(sl_catalog));
}

static void strv_free(char **v, uint32_t n)
{
    if (!v)
        return;
    for (uint32_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void service_clear(sl_service *s)
{
    strv_free(s->argv, s->argc);
    strv_free(s->env, s->envc);
    s->argv = s->env = NULL;
    s->argc = s->envc = 0;
}

void sl_catalog_free(sl_catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        service_clear(&c->s[i]);
    free(c->s);
    free(c);
}

int sl_service_name_check(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SL_SVC_NAME_MAX || name[0] == '.' || name[0] == '-')
        return SL_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return SL_EINVAL;
    }
    return 0;
}

static int env_check(const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return SL_EINVAL;
    for (const char *p = kv; p < eq; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9' && p != kv) || *p == '_'))
            return SL_EINVAL;
    return 0;
}

/* Checks the user-settable fields of a spec. */
static int spec_check(const sl_service *s)
{
    if (sl_service_name_check(s->name) || s->replicas > SL_SVC_REPLICAS_MAX ||
        s->argc > SL_SVC_ARGS_MAX || s->envc > SL_SVC_ENV_MAX || s->spread > SL_SPREAD_NODES)
        return SL_EINVAL;
    if (!s->deleted && (s->argc == 0 || !s->argv[0][0]))
        return SL_EINVAL;
    for (uint32_t i = 0; i < s->argc; i++)
        if (strlen(s->argv[i]) > SL_SVC_STR_MAX)
            return SL_EINVAL;
    for (uint32_t i = 0; i < s->envc; i++)
        if (strlen(s->env[i]) > SL_SVC_STR_MAX || env_check(s->env[i]))
            return SL_EINVAL;
    return 0;
}

static int record_encode(const sl_service *s, sl__mp_writer *w)
{
    msgpack_packer *pk = &w->pk;
    msgpack_pack_array(pk, 11);
    msgpack_pack_uint8(pk, SL_APPMSG_SERVICE);
    sl__mp_put_str(w, s->name, strlen(s->name));
    msgpack_pack_uint64(pk, s->lamport);
    sl__mp_put_str(w, s->writer, strlen(s->writer));
    if (s->deleted)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    msgpack_pack_uint32(pk, s->replicas);
    msgpack_pack_uint32(pk, s->cpu_milli);
    msgpack_pack_uint32(pk, s->mem_mb);
    msgpack_pack_uint32(pk, s->spread);
    msgpack_pack_array(pk, s->argc);
    for (uint32_t i = 0; i < s->argc; i++)
        sl__mp_put_str(w, s->argv[i], strlen(s->argv[i]));
    msgpack_pack_array(pk, s->envc);
    for (uint32_t i = 0; i < s->envc; i++)
        sl__mp_put_str(w, s->env[i], strlen(s->env[i]));
    return w->overflow ? SL_ETOOBIG : 0;
}

/* Reads an array of at most max strings into a new vector. */
static int read_strv(sl__mp_reader *r, uint32_t max, char ***out, uint32_t *count)
{
    uint32_t n;
    *out = NULL;
    *count = 0;
    if (sl__mp_read_array(r, &n) || n > max)
        return SL_EMALFORMED;
    if (n == 0)
        return 0;
    char **v = calloc(n, sizeof *v);
    if (!v)
        return SL_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const char *s;
        uint32_t len;
        if (sl__mp_read_str(r, &s, &len) || len > SL_SVC_STR_MAX || memchr(s, 0, len) ||
            !(v[i] = malloc(len + 1))) {
            strv_free(v, n);
            return SL_EMALFORMED;
        }
        memcpy(v[i], s, len);
        v[i][len] = 0;
    }
    *out = v;
    *count = n;
    return 0;
}

/* Decodes one record; on success the caller owns out's vectors. */
static int record_decode(sl__mp_reader *r, sl_service *out)
{
    uint32_t n;
    uint64_t kind;
    memset(out, 0, sizeof *out);
    if (sl__mp_read_array(r, &n) || n < 11 || sl__mp_read_uint(r, &kind) ||
        kind != SL_APPMSG_SERVICE || sl__mp_read_cstr(r, out->name, SL_SVC_NAME_MAX) ||
        sl__mp_read_uint(r, &out->lamport) || sl__mp_read_cstr(r, out->writer, 64) ||
        sl__mp_read_bool(r, &out->deleted) || sl__mp_read_u32(r, &out->replicas) ||
        sl__mp_read_u32(r, &out->cpu_milli) || sl__mp_read_u32(r, &out->mem_mb) ||
        sl__mp_read_u32(r, &out->spread))
        return SL_EMALFORMED;
    if (read_strv(r, SL_SVC_ARGS_MAX, &out->argv, &out->argc))
        return SL_EMALFORMED;
    if (read_strv(r, SL_SVC_ENV_MAX, &out->env, &out->envc)) {
        service_clear(out);
        return SL_EMALFORMED;
    }
    for (uint32_t i = 11; i < n; i++)
        if (sl__mp_skip(r)) {
            service_clear(out);
            return SL_EMALFORMED;
        }
    if (spec_check(out) || !out->writer[0]) {
        service_clear(out);
        return SL_EMALFORMED;
    }
    return 0;
}

/* Binary search: returns the position of name, or where it would go. */
static size_t locate(const sl_catalog *c, const char *name, bool *found)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(c->s[mid].name, name);
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

static bool newer(const sl_service *a, const sl_service *b)
{
    if (a->lamport != b->lamport)
        return a->lamport > b->lamport;
    return strcmp(a->writer, b->writer) > 0;
}

/* Stores rec (taking its vectors) if it is newer than what we hold.
 * Returns 1 stored, 0 not newer (rec's vectors are then freed), or an error. */
static int store(sl_catalog *c, sl_service *rec, uint64_t now_ms)
{
    bool found;
    size_t pos = locate(c, rec->name, &found);
    if (rec->lamport > c->clock)
        c->clock = rec->lamport;
    if (found && !newer(rec, &c->s[pos])) {
        service_clear(rec);
        return 0;
    }
    rec->changed_ms = now_ms;
    if (found) {
        service_clear(&c->s[pos]);
        c->s[pos] = *rec;
    } else {
        if (c->n >= SL_CATALOG_SERVICES_MAX) {
            service_clear(rec);
            return SL_ETOOBIG;
        }
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 16;
            sl_service *s = realloc(c->s, cap * sizeof *s);
            if (!s) {
                service_clear(rec);
                return SL_ENOMEM;
            }
            c->s = s;
            c->cap = cap;
        }
        memmove(&c->s[pos + 1], &c->s[pos], (c->n - pos) * sizeof *c->s);
        c->s[pos] = *rec;
        c->n++;
    }
    return 1;
}

static char **strv_copy(char *const *v, uint32_t n)
{
    if (n == 0)
        return NULL;
    char **out = calloc(n, sizeof *out);
    for (uint32_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(v[i]))) {
            strv_free(out, n);
            return NULL;
        }
    return out;
}

/* Stamps, encodes and stores a local write of rec (whose vectors are
 * borrowed from the caller and copied on success). */
static int write_local(sl_catalog *c, const sl_service *spec, bool deleted, const char *writer,
                       uint64_t now_ms, uint64_t wall_ms, uint8_t *msg, size_t cap,
                       size_t *msg_len)
{
    sl_service rec = *spec;
    rec.deleted = deleted;
    uint64_t wall = wall_ms < UINT64_MAX / SL_CATALOG_TICKS_PER_MS
                        ? wall_ms * SL_CATALOG_TICKS_PER_MS
                        : UINT64_MAX - 1;
    rec.lamport = c->clock + 1 > wall ? c->clock + 1 : wall;
    if (!writer || !*writer || strlen(writer) > 64)
        return SL_EINVAL;
    strcpy(rec.writer, writer);
    if (spec_check(&rec))
        return SL_EINVAL;
    sl__mp_writer w;
    sl__mp_writer_init(&w, msg, cap < SL_SVC_RECORD_MAX ? cap : SL_SVC_RECORD_MAX);
    if (record_encode(&rec, &w) != 0)
        return SL_ETOOBIG;
    rec.argv = strv_copy(spec->argv, spec->argc);
    rec.env = strv_copy(spec->env, spec->envc);
    if ((spec->argc && !rec.argv) || (spec->envc && !rec.env)) {
        service_clear(&rec);
        return SL_ENOMEM;
    }
    int rc = store(c, &rec, now_ms);
    if (rc < 0)
        return rc;
    *msg_len = w.len;
    return 0;
}

int sl_catalog_put(sl_catalog *c, const sl_service *spec, const char *writer, uint64_t now_ms,
                   uint64_t wall_ms, uint8_t *msg, size_t cap, size_t *msg_len)
{
    return write_local(c, spec, false, writer, now_ms, wall_ms, msg, cap, msg_len);
}

int sl_catalog_delete(sl_catalog *c, const char *name, const char *writer, uint64_t now_ms,
                      uint64_t wall_ms, uint8_t *msg, size_t cap, size_t *msg_len)
{
    const sl_service *cur = sl_catalog_find(c, name);
    if (!cur)
        return SL_ENOTFOUND;
    sl_service tomb = {0};
    strcpy(tomb.name, cur->name);
    return write_local(c, &tomb, true, writer, now_ms, wall_ms, msg, cap, msg_len);
}

int sl_catalog_scale(sl_catalog *c, const char *name, uint32_t replicas, const char *writer,
                     uint64_t now_ms, uint64_t wall_ms, uint8_t *msg, size_t cap,
                     size_t *msg_len)
{
    const sl_service *cur = sl_catalog_find(c, name);
    if (!cur)
        return SL_ENOTFOUND;
    sl_service spec = *cur;
    spec.replicas = replicas;
    return write_local(c, &spec, false, writer, now_ms, wall_ms, msg, cap, msg_len);
}

int sl_catalog_apply(sl_catalog *c, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    sl__mp_reader r;
    sl_service rec;
    sl__mp_reader_init(&r, buf, len);
    if (record_decode(&r, &rec) || sl__mp_remaining(&r) != 0) {
        if (sl__mp_remaining(&r) != 0 && rec.name[0])
            service_clear(&rec);
        return SL_EMALFORMED;
    }
    int rc = store(c, &rec, now_ms);
    return rc < 0 ? SL_EMALFORMED : rc;
}

int sl_catalog_encode(const sl_catalog *c, uint8_t **out, size_t *len)
{
    size_t cap = 16 + c->n * (SL_SVC_RECORD_MAX + 16);
    uint8_t *buf = malloc(cap);
    if (!buf)
        return SL_ENOMEM;
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf, cap);
    msgpack_pack_array(&w.pk, (size_t)c->n);
    for (size_t i = 0; i < c->n; i++)
        record_encode(&c->s[i], &w);
    if (w.overflow) {
        free(buf);
        return SL_ENOMEM;
    }
    *out = buf;
    *len = w.len;
    return 0;
}

int sl_catalog_merge(sl_catalog *c, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    sl__mp_reader r, check;
    uint32_t n;
    sl_service rec;
    sl__mp_reader_init(&r, buf, len);
    if (sl__mp_read_array(&r, &n) || n > SL_CATALOG_SERVICES_MAX)
        return SL_EMALFORMED;
    check = r;
    for (uint32_t i = 0; i < n; i++) {
        if (record_decode(&check, &rec))
            return SL_EMALFORMED;
        service_clear(&rec);
    }
    if (sl__mp_remaining(&check) != 0)
        return SL_EMALFORMED;
    int stored = 0;
    for (uint32_t i = 0; i < n; i++) {
        record_decode(&r, &rec); /* validated above */
        if (store(c, &rec, now_ms) == 1)
            stored++;
    }
    return stored;
}

size_t sl_catalog_gc(sl_catalog *c, uint64_t now_ms, uint64_t keep_ms)
{
    size_t j = 0, gone = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->s[i].deleted && now_ms - c->s[i].changed_ms >= keep_ms) {
            service_clear(&c->s[i]);
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
    return i < c->n ? &c->s[i] : NULL;
}

const sl_service *sl_catalog_find(const sl_catalog *c, const char *name)
{
    bool found;
    size_t pos = locate(c, name, &found);
    return found && !c->s[pos].deleted ? &c->s[pos] : NULL;
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
