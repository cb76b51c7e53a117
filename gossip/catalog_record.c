/* One catalog record: its checks, its codec and its signature.
 *
 *   record := [1, name, stamp, writer, deleted, replicas, cpu, mem, spread,
 *              [arg...], [KEY=VALUE...], opts?]                  (unsigned)
 *           | [1, ..., [KEY=VALUE...], signer, sig, opts?]       (signed)
 *
 * The first eleven fields are the content; `signer` (bin 32, an Ed25519
 * public key) and `sig` (bin 64) are appended when the record is signed, so
 * that a peer of an older version, which skips trailing fields, still reads
 * it.
 *
 * Options. Fields added after the first eleven (the health check, a user,
 * rollout parameters, the previous version; a log cap later) are one trailing map, `opts`,
 * at index 11 of an unsigned record and 13 of a signed one, so that the
 * signature fields stay where older peers look for them:
 *
 *   opts := { key: value, ... }    key: a positive integer, strictly
 *                                  increasing; value: an unsigned integer
 *                                  (64 bits), a string (at most
 *                                  SL_CHECK_ARG_MAX bytes, no NUL), a bool,
 *                                  or, for key 14 only, the array `prev`,
 *                                  for key 15 only, a bin of 64 bytes
 *
 * At most SL_SVC_OPTS_MAX entries. An option at its default value is not
 * written, and a record without options has no map (an empty map is
 * refused), so a record has one encoding and records written before options
 * existed encode, and verify, as they always did. The keys known here:
 *
 *   1 check kind (sl_check_kind, 1..3)   2 check arg (string)
 *   3 check interval ms   4 check timeout ms   5 check failures
 *   6 spec stamp   7 count stamp   (field groups, catalog.h: unsigned
 *     integers of 64 bits, below the record's stamp; written only when
 *     they differ from it, that is by a scale, or a deploy that kept the
 *     count, so that a deploy or an rm stays what older versions wrote)
 *   8 user (string, 1..SL_SVC_USER_MAX bytes, sl_service_user_check: the
 *     user the replicas run as; absent: the agent's user)
 *   9 max surge (0..SL_SVC_REPLICAS_MAX; written when it was given, even 0
 *     or 1: absent means the default, SL_ROLL_SURGE)
 *   10 max unavailable   11 min healthy ms   12 progress deadline ms
 *     (unsigned, never 0: 0 is the default, not written; bounds in
 *     sl_rollout_validate, which also refuses surge and unavailable both 0)
 *   13 auto-revert (bool, only true: false is the default, not written)
 *   14 prev: the version the last deploy replaced (sl_service_prev), one
 *     nested array of exactly eight fields, each bounded as the record's own:
 *
 *       prev := [[arg...], [KEY=VALUE...], check kind, check arg (string,
 *                may be empty), check interval ms, check timeout ms,
 *                check failures, user (string, may be empty)]
 *
 *     with 1..SL_SVC_ARGS_MAX arguments (the first not empty) and at most
 *     SL_SVC_ENV_MAX entries of at most SL_SVC_STR_MAX bytes each; every
 *     field is always written (the array has one layout), and a later
 *     version that adds to it uses a new key. Never on a tombstone.
 *   15 revert signature (bin, exactly SL_OPERATOR_SIG_BYTES): the signature,
 *     by this record's signer, of sl_service_revert_of(this record), made
 *     by a signed `deploy --auto-revert`; absent otherwise.
 *
 * Keys 9..15 are the spec group's, like the command (catalog.h). Note for
 * mixed versions: a peer of a version before key 14 keeps unknown options
 * only when they are scalars within SL_SVC_OPTS_EXTRA_MAX bytes, so it
 * refuses a record that carries `prev`; keys 9..13 it keeps verbatim.
 *
 * A key above the last one known here was written by a newer version: its
 * entry is kept verbatim (at most SL_SVC_OPTS_EXTRA_MAX bytes of them) and
 * written back after the known ones, so that the record is passed on and
 * re-encoded unchanged. Further fields go into this map with the next keys;
 * the format needs no new version.
 *
 * The signature covers
 *
 *   "starling-catalog-v1" 0x00 cluster-label 0x00 content
 *
 * where content is the canonical encoding of the eleven fields (this file's
 * own encoder: msgpack-c packs every integer in its shortest form), as an
 * array of twelve with the options map last when the record has options, so
 * that a record re-encoded from its decoded fields verifies, a record of one
 * cluster cannot be replayed into another that trusts the same operator,
 * and options cannot be added to or removed from a signed record. (A peer of
 * a version before options refuses a signed record that has some: its
 * signature does not verify over the eleven fields alone. That is the safe
 * side: such a peer would run the service without its options.)
 *
 * Every limit is enforced on decode exactly as on encode: field sizes and
 * counts, and SL_SVC_RECORD_MAX for the whole encoded record, so that a
 * record accepted from the network can always be encoded again (saved,
 * pushed, gossiped). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_internal.h"
#include "mp.h"
#include "starling/error.h"

#define SIGN_DOMAIN "starling-catalog-v1"
#define CONTENT_FIELDS 11

/* Option keys (see the top of this file). Append only. */
enum {
    OPT_CHECK_KIND = 1,
    OPT_CHECK_ARG = 2,
    OPT_CHECK_INTERVAL = 3,
    OPT_CHECK_TIMEOUT = 4,
    OPT_CHECK_FAILURES = 5,
    OPT_SPEC_STAMP = 6,
    OPT_COUNT_STAMP = 7,
    OPT_USER = 8,
    OPT_ROLL_SURGE = 9,
    OPT_ROLL_UNAVAILABLE = 10,
    OPT_ROLL_MIN_HEALTHY = 11,
    OPT_ROLL_DEADLINE = 12,
    OPT_ROLL_AUTO_REVERT = 13,
    OPT_PREV = 14,
    OPT_REVERT_SIG = 15,
    OPT_LAST_KNOWN = OPT_REVERT_SIG,
};

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

int sl_service_user_check(const char *user)
{
    size_t n = strnlen(user, SL_SVC_USER_MAX + 1);
    if (n == 0 || n > SL_SVC_USER_MAX || user[0] == '-')
        return SL_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char ch = user[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return SL_EINVAL;
    }
    return 0;
}

int sl__env_check(const char *kv)
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

/* ---- health checks ---------------------------------------------------- */

/* An HTTP path we put on a request line: '/', then visible ASCII. */
static bool http_path_ok(const char *p)
{
    if (p[0] != '/')
        return false;
    for (; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return false;
    return true;
}

int sl_check_validate(const sl_check *c)
{
    size_t n = strnlen(c->arg, sizeof c->arg);
    if (n > SL_CHECK_ARG_MAX || c->interval_ms > SL_CHECK_INTERVAL_MAX_MS ||
        c->timeout_ms > SL_CHECK_TIMEOUT_MAX_MS || c->failures > SL_CHECK_FAILURES_MAX)
        return SL_EINVAL;
    switch (c->kind) {
    case SL_CHECK_DEFAULT:
        return n || c->interval_ms || c->timeout_ms || c->failures ? SL_EINVAL : 0;
    case SL_CHECK_TCP: return n ? SL_EINVAL : 0;
    case SL_CHECK_HTTP: return http_path_ok(c->arg) ? 0 : SL_EINVAL;
    case SL_CHECK_EXEC: return n ? 0 : SL_EINVAL;
    }
    return SL_EINVAL;
}

int sl_check_parse(const char *spec, sl_check *out)
{
    sl_check c = *out;
    const char *arg = "";
    if (!strcmp(spec, "tcp"))
        c.kind = SL_CHECK_TCP;
    else if (!strncmp(spec, "http:", 5))
        c.kind = SL_CHECK_HTTP, arg = spec + 5;
    else if (!strncmp(spec, "exec:", 5))
        c.kind = SL_CHECK_EXEC, arg = spec + 5;
    else
        return SL_EINVAL;
    if (strlen(arg) > SL_CHECK_ARG_MAX)
        return SL_EINVAL;
    snprintf(c.arg, sizeof c.arg, "%s", arg);
    if (sl_check_validate(&c))
        return SL_EINVAL;
    *out = c;
    return 0;
}

void sl_check_format(const sl_check *c, char *buf, size_t cap)
{
    static const char *const names[] = {"default", "tcp", "http:", "exec:"};
    const char *k = (unsigned)c->kind < 4 ? names[c->kind] : "?";
    snprintf(buf, cap, "%s%s", k, c->kind >= SL_CHECK_HTTP ? c->arg : "");
}

uint32_t sl_check_interval_ms(const sl_check *c)
{
    return c->interval_ms ? c->interval_ms : SL_CHECK_INTERVAL_MS;
}

uint32_t sl_check_timeout_ms(const sl_check *c)
{
    return c->timeout_ms ? c->timeout_ms : SL_CHECK_TIMEOUT_MS;
}

uint32_t sl_check_failures(const sl_check *c)
{
    return c->failures ? c->failures : SL_CHECK_FAILURES;
}

/* ---- records ---------------------------------------------------------- */

static uint32_t opts_count(const sl_service *s);

int sl__service_check(const sl_service *s)
{
    if (sl_check_validate(&s->check) || s->opts_extra_len > SL_SVC_OPTS_EXTRA_MAX ||
        s->opts_extra_n > SL_SVC_OPTS_MAX || opts_count(s) > SL_SVC_OPTS_MAX ||
        (s->user[0] && sl_service_user_check(s->user)) || sl_rollout_validate(&s->rollout) ||
        (s->prev.has && (s->deleted || sl__prev_check(&s->prev))))
        return SL_EINVAL;
    if (sl_service_name_check(s->name) || s->replicas > SL_SVC_REPLICAS_MAX ||
        s->argc > SL_SVC_ARGS_MAX || s->envc > SL_SVC_ENV_MAX || s->spread > SL_SPREAD_NODES ||
        strlen(s->writer) > SL_SVC_WRITER_MAX || s->spec_stamp > s->stamp ||
        s->replicas_stamp > s->stamp)
        return SL_EINVAL;
    if (!s->deleted && (s->argc == 0 || !s->argv[0][0]))
        return SL_EINVAL;
    for (uint32_t i = 0; i < s->argc; i++)
        if (strlen(s->argv[i]) > SL_SVC_STR_MAX)
            return SL_EINVAL;
    for (uint32_t i = 0; i < s->envc; i++)
        if (strlen(s->env[i]) > SL_SVC_STR_MAX || sl__env_check(s->env[i]))
            return SL_EINVAL;
    return 0;
}

/* The number of option entries s writes. */
static uint32_t opts_count(const sl_service *s)
{
    const sl_check *c = &s->check;
    uint32_t n = s->opts_extra_n;
    if (c->kind != SL_CHECK_DEFAULT)
        n += 1 + (c->arg[0] != 0) + (c->interval_ms != 0) + (c->timeout_ms != 0) +
             (c->failures != 0);
    n += (sl__spec_stamp(s) != s->stamp) + (sl__replicas_stamp(s) != s->stamp);
    n += s->user[0] != 0;
    const sl_rollout *ro = &s->rollout;
    n += ro->surge_set + (ro->max_unavailable != 0) + (ro->min_healthy_ms != 0) +
         (ro->deadline_ms != 0) + ro->auto_revert;
    n += s->prev.has + s->has_revert_sig;
    return n;
}

static void put_u32_opt(sl__mp_writer *w, uint32_t key, uint32_t v)
{
    if (!v)
        return;
    msgpack_pack_uint32(&w->pk, key);
    msgpack_pack_uint32(&w->pk, v);
}

static void pack_strv(sl__mp_writer *w, char *const *v, uint32_t n)
{
    msgpack_pack_array(&w->pk, n);
    for (uint32_t i = 0; i < n; i++)
        sl__mp_put_str(w, v[i], strlen(v[i]));
}

/* Packs options 9..15: the rollout parameters, the previous version and
 * the revert signature. */
static void pack_rollout_prev(const sl_service *s, sl__mp_writer *w)
{
    const sl_rollout *ro = &s->rollout;
    if (ro->surge_set) { /* 0 is a value here: written whenever it was given */
        msgpack_pack_uint32(&w->pk, OPT_ROLL_SURGE);
        msgpack_pack_uint32(&w->pk, ro->max_surge);
    }
    put_u32_opt(w, OPT_ROLL_UNAVAILABLE, ro->max_unavailable);
    put_u32_opt(w, OPT_ROLL_MIN_HEALTHY, ro->min_healthy_ms);
    put_u32_opt(w, OPT_ROLL_DEADLINE, ro->deadline_ms);
    if (ro->auto_revert) {
        msgpack_pack_uint32(&w->pk, OPT_ROLL_AUTO_REVERT);
        msgpack_pack_true(&w->pk);
    }
    if (s->prev.has) {
        const sl_service_prev *p = &s->prev;
        msgpack_pack_uint32(&w->pk, OPT_PREV);
        msgpack_pack_array(&w->pk, 8);
        pack_strv(w, p->argv, p->argc);
        pack_strv(w, p->env, p->envc);
        msgpack_pack_uint32(&w->pk, p->check.kind);
        sl__mp_put_str(w, p->check.arg, strlen(p->check.arg));
        msgpack_pack_uint32(&w->pk, p->check.interval_ms);
        msgpack_pack_uint32(&w->pk, p->check.timeout_ms);
        msgpack_pack_uint32(&w->pk, p->check.failures);
        sl__mp_put_str(w, p->user, strlen(p->user));
    }
    if (s->has_revert_sig) {
        msgpack_pack_uint32(&w->pk, OPT_REVERT_SIG);
        sl__mp_put_bin(w, s->revert_sig, sizeof s->revert_sig);
    }
}

/* Packs the options map (see the top of this file); nothing when empty. */
static void pack_opts(const sl_service *s, sl__mp_writer *w)
{
    uint32_t n = opts_count(s);
    const sl_check *c = &s->check;
    if (n == 0)
        return;
    msgpack_pack_map(&w->pk, n);
    if (c->kind != SL_CHECK_DEFAULT) {
        put_u32_opt(w, OPT_CHECK_KIND, c->kind);
        if (c->arg[0]) {
            msgpack_pack_uint32(&w->pk, OPT_CHECK_ARG);
            sl__mp_put_str(w, c->arg, strlen(c->arg));
        }
        put_u32_opt(w, OPT_CHECK_INTERVAL, c->interval_ms);
        put_u32_opt(w, OPT_CHECK_TIMEOUT, c->timeout_ms);
        put_u32_opt(w, OPT_CHECK_FAILURES, c->failures);
    }
    if (sl__spec_stamp(s) != s->stamp) {
        msgpack_pack_uint32(&w->pk, OPT_SPEC_STAMP);
        msgpack_pack_uint64(&w->pk, sl__spec_stamp(s));
    }
    if (sl__replicas_stamp(s) != s->stamp) {
        msgpack_pack_uint32(&w->pk, OPT_COUNT_STAMP);
        msgpack_pack_uint64(&w->pk, sl__replicas_stamp(s));
    }
    if (s->user[0]) {
        msgpack_pack_uint32(&w->pk, OPT_USER);
        sl__mp_put_str(w, s->user, strlen(s->user));
    }
    pack_rollout_prev(s, w);
    if (s->opts_extra_len)
        msgpack_pack_str_body(&w->pk, s->opts_extra, s->opts_extra_len); /* raw bytes */
}

/* Packs the eleven content fields, as one array of `fields` elements. */
static void pack_content(const sl_service *s, sl__mp_writer *w, uint32_t fields)
{
    msgpack_packer *pk = &w->pk;
    msgpack_pack_array(pk, fields);
    msgpack_pack_uint8(pk, SL_APPMSG_SERVICE);
    sl__mp_put_str(w, s->name, strlen(s->name));
    msgpack_pack_uint64(pk, s->stamp);
    sl__mp_put_str(w, s->writer, strlen(s->writer));
    if (s->deleted)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    msgpack_pack_uint32(pk, s->replicas);
    msgpack_pack_uint32(pk, s->cpu_milli);
    msgpack_pack_uint32(pk, s->mem_mb);
    msgpack_pack_uint32(pk, s->spread);
    pack_strv(w, s->argv, s->argc);
    pack_strv(w, s->env, s->envc);
}

int sl__service_pack(const sl_service *s, sl__mp_writer *w)
{
    size_t start = w->len;
    uint32_t opts = opts_count(s) ? 1 : 0;
    pack_content(s, w, CONTENT_FIELDS + opts + (s->is_signed ? 2 : 0));
    if (s->is_signed) {
        sl__mp_put_bin(w, s->signer, sizeof s->signer);
        sl__mp_put_bin(w, s->sig, sizeof s->sig);
    }
    pack_opts(s, w);
    return w->overflow || w->len - start > SL_SVC_RECORD_MAX ? SL_ETOOBIG : 0;
}

int sl_service_encode(const sl_service *rec, uint8_t *buf, size_t cap)
{
    if (sl__service_check(rec))
        return SL_EINVAL;
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf, cap);
    if (sl__service_pack(rec, &w) != 0)
        return SL_ETOOBIG;
    return (int)w.len;
}

void sl_service_clear(sl_service *s)
{
    sl__strv_free(s->argv, s->argc);
    sl__strv_free(s->env, s->envc);
    s->argv = s->env = NULL;
    s->argc = s->envc = 0;
    sl__strv_free(s->prev.argv, s->prev.argc);
    sl__strv_free(s->prev.env, s->prev.envc);
    s->prev = (sl_service_prev){0};
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
            for (uint32_t k = 0; k < i; k++)
                free(v[k]);
            free(v);
            return SL_EMALFORMED;
        }
        memcpy(v[i], s, len);
        v[i][len] = 0;
    }
    *out = v;
    *count = n;
    return 0;
}

/* Reads option 14, the previous version, into out->prev (which then owns
 * its vectors, also on failure: sl_service_clear frees them). Bounds are
 * checked here as far as the reader goes, the rest by sl__prev_check. */
static int read_prev(sl__mp_reader *r, sl_service *out)
{
    sl_service_prev *p = &out->prev;
    uint32_t n, kind;
    if (sl__mp_read_array(r, &n) || n != 8)
        return SL_EMALFORMED;
    p->has = true;
    if (read_strv(r, SL_SVC_ARGS_MAX, &p->argv, &p->argc) ||
        read_strv(r, SL_SVC_ENV_MAX, &p->env, &p->envc) || sl__mp_read_u32(r, &kind) ||
        kind > SL_CHECK_EXEC || sl__mp_read_cstr(r, p->check.arg, SL_CHECK_ARG_MAX) ||
        sl__mp_read_u32(r, &p->check.interval_ms) || sl__mp_read_u32(r, &p->check.timeout_ms) ||
        sl__mp_read_u32(r, &p->check.failures) || sl__mp_read_cstr(r, p->user, SL_SVC_USER_MAX))
        return SL_EMALFORMED;
    p->check.kind = (sl_check_kind)kind;
    return sl__prev_check(p) ? SL_EMALFORMED : 0;
}

/* Reads options 9..14 (see the top of this file) into out. */
static int read_rollout_prev_opt(sl__mp_reader *r, uint64_t key, sl_service *out)
{
    sl_rollout *ro = &out->rollout;
    uint32_t v = 0;
    bool b;
    if (key == OPT_PREV)
        return read_prev(r, out);
    if (key == OPT_REVERT_SIG) { /* exactly a signature's 64 bytes */
        const uint8_t *sig;
        uint32_t len;
        if (sl__mp_read_bin(r, &sig, &len) || len != SL_OPERATOR_SIG_BYTES)
            return SL_EMALFORMED;
        memcpy(out->revert_sig, sig, len);
        out->has_revert_sig = true;
        return 0;
    }
    if (key == OPT_ROLL_AUTO_REVERT) { /* only true: false is the default */
        if (sl__mp_read_bool(r, &b) || !b)
            return SL_EMALFORMED;
        ro->auto_revert = true;
        return 0;
    }
    if (sl__mp_read_u32(r, &v))
        return SL_EMALFORMED;
    if (key == OPT_ROLL_SURGE) { /* any value: written whenever it was given */
        ro->surge_set = true;
        ro->max_surge = v;
        return 0;
    }
    if (v == 0) /* a default value is never written */
        return SL_EMALFORMED;
    switch (key) {
    case OPT_ROLL_UNAVAILABLE: ro->max_unavailable = v; return 0;
    case OPT_ROLL_MIN_HEALTHY: ro->min_healthy_ms = v; return 0;
    case OPT_ROLL_DEADLINE: ro->deadline_ms = v; return 0;
    }
    return SL_EMALFORMED;
}

/* Reads one known option's value into out. */
static int read_known_opt(sl__mp_reader *r, uint64_t key, sl_service *out)
{
    sl_check *c = &out->check;
    uint32_t v = 0;
    if (key >= OPT_ROLL_SURGE)
        return read_rollout_prev_opt(r, key, out);
    if (key == OPT_SPEC_STAMP || key == OPT_COUNT_STAMP) {
        uint64_t at; /* a group stamp: below the record's (equal is the default, not written) */
        if (sl__mp_read_uint(r, &at) || at == 0 || at >= out->stamp)
            return SL_EMALFORMED;
        *(key == OPT_SPEC_STAMP ? &out->spec_stamp : &out->replicas_stamp) = at;
        return 0;
    }
    if (key == OPT_USER) /* never empty: the default is not written */
        return sl__mp_read_cstr(r, out->user, SL_SVC_USER_MAX) || sl_service_user_check(out->user)
                   ? SL_EMALFORMED
                   : 0;
    if (key == OPT_CHECK_ARG)
        return sl__mp_read_cstr(r, c->arg, SL_CHECK_ARG_MAX) || !c->arg[0] ? SL_EMALFORMED : 0;
    if (sl__mp_read_u32(r, &v) || v == 0) /* a default value is never written */
        return SL_EMALFORMED;
    switch (key) {
    case OPT_CHECK_KIND:
        if (v > SL_CHECK_EXEC)
            return SL_EMALFORMED;
        c->kind = (sl_check_kind)v;
        return 0;
    case OPT_CHECK_INTERVAL: c->interval_ms = v; return 0;
    case OPT_CHECK_TIMEOUT: c->timeout_ms = v; return 0;
    case OPT_CHECK_FAILURES: c->failures = v; return 0;
    }
    return SL_EMALFORMED;
}

/* Reads and keeps verbatim the value of an option of a newer version: an
 * unsigned integer (of up to 64 bits), a short string or a bool, nothing
 * nested. */
static int read_extra_opt(sl__mp_reader *r, const uint8_t *entry, sl_service *out)
{
    uint64_t u;
    const char *str;
    uint32_t len;
    bool b;
    sl__mp_reader peek = *r;
    if (sl__mp_read_uint(&peek, &u) == 0)
        *r = peek;
    else if ((peek = *r, sl__mp_read_str(&peek, &str, &len) == 0) && len <= SL_CHECK_ARG_MAX &&
             !memchr(str, 0, len))
        *r = peek;
    else if ((peek = *r, sl__mp_read_bool(&peek, &b) == 0))
        *r = peek;
    else
        return SL_EMALFORMED;
    size_t n = (size_t)(r->p - entry);
    if (out->opts_extra_len + n > SL_SVC_OPTS_EXTRA_MAX)
        return SL_EMALFORMED;
    memcpy(out->opts_extra + out->opts_extra_len, entry, n);
    out->opts_extra_len += (uint32_t)n;
    out->opts_extra_n++;
    return 0;
}

/* Reads the options map (see the top of this file). */
static int read_opts(sl__mp_reader *r, sl_service *out)
{
    uint32_t n;
    uint64_t key, last = 0;
    if (sl__mp_read_map(r, &n) || n == 0 || n > SL_SVC_OPTS_MAX)
        return SL_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *entry = r->p;
        if (sl__mp_read_uint(r, &key) || key <= last || key > UINT32_MAX)
            return SL_EMALFORMED;
        last = key;
        int rc =
            key <= OPT_LAST_KNOWN ? read_known_opt(r, key, out) : read_extra_opt(r, entry, out);
        if (rc)
            return SL_EMALFORMED;
    }
    /* Check fields are written only with a kind: fields without one would
     * be dropped when the record is encoded again. */
    if (out->check.kind == SL_CHECK_DEFAULT && (out->check.arg[0] || out->check.interval_ms ||
                                                out->check.timeout_ms || out->check.failures))
        return SL_EMALFORMED;
    return 0;
}

/* The optional signature fields and options, then whatever later versions
 * append. */
static int read_tail(sl__mp_reader *r, uint32_t n, sl_service *out)
{
    uint32_t i = CONTENT_FIELDS;
    if (n == CONTENT_FIELDS + 1) {
        if (read_opts(r, out))
            return SL_EMALFORMED;
        i++;
    }
    if (n >= CONTENT_FIELDS + 2) {
        const uint8_t *signer, *sig;
        uint32_t sl, gl;
        if (sl__mp_read_bin(r, &signer, &sl) || sl != SL_OPERATOR_PUB_BYTES ||
            sl__mp_read_bin(r, &sig, &gl) || gl != SL_OPERATOR_SIG_BYTES)
            return SL_EMALFORMED;
        memcpy(out->signer, signer, sl);
        memcpy(out->sig, sig, gl);
        out->is_signed = true;
        i += 2;
        if (n >= CONTENT_FIELDS + 3) {
            if (read_opts(r, out))
                return SL_EMALFORMED;
            i++;
        }
    }
    for (; i < n; i++)
        if (sl__mp_skip(r))
            return SL_EMALFORMED;
    if (!out->spec_stamp) /* no group stamps: the record's own */
        out->spec_stamp = out->stamp;
    if (!out->replicas_stamp)
        out->replicas_stamp = out->stamp;
    return 0;
}

int sl__service_read(sl__mp_reader *r, sl_service *out)
{
    uint32_t n, spread;
    uint64_t kind;
    const uint8_t *start = r->p;
    memset(out, 0, sizeof *out);
    if (sl__mp_read_array(r, &n) || n < CONTENT_FIELDS || sl__mp_read_uint(r, &kind) ||
        kind != SL_APPMSG_SERVICE || sl__mp_read_cstr(r, out->name, SL_SVC_NAME_MAX) ||
        sl__mp_read_uint(r, &out->stamp) || sl__mp_read_cstr(r, out->writer, SL_SVC_WRITER_MAX) ||
        sl__mp_read_bool(r, &out->deleted) || sl__mp_read_u32(r, &out->replicas) ||
        sl__mp_read_u32(r, &out->cpu_milli) || sl__mp_read_u32(r, &out->mem_mb) ||
        sl__mp_read_u32(r, &spread) || spread > SL_SPREAD_NODES)
        return SL_EMALFORMED;
    out->spread = (sl_spread)spread;
    if (read_strv(r, SL_SVC_ARGS_MAX, &out->argv, &out->argc))
        return SL_EMALFORMED;
    if (read_strv(r, SL_SVC_ENV_MAX, &out->env, &out->envc) || read_tail(r, n, out) ||
        (size_t)(r->p - start) > SL_SVC_RECORD_MAX || sl__service_check(out) || !out->writer[0]) {
        sl_service_clear(out);
        return SL_EMALFORMED;
    }
    return 0;
}

int sl_service_decode(const uint8_t *buf, size_t len, sl_service *out)
{
    sl__mp_reader r;
    sl__mp_reader_init(&r, buf, len);
    if (sl__service_read(&r, out) != 0)
        return SL_EMALFORMED;
    if (sl__mp_remaining(&r) != 0) {
        sl_service_clear(out);
        return SL_EMALFORMED;
    }
    return 0;
}

/* The bytes a signature covers (see the top of this file). Returns the
 * length, or 0 when they do not fit. */
static size_t signed_bytes(const sl_service *s, const char *cluster, uint8_t *buf, size_t cap)
{
    size_t cl = cluster ? strlen(cluster) : 0, dl = sizeof SIGN_DOMAIN; /* with its NUL */
    if (cap < dl + cl + 1)
        return 0;
    memcpy(buf, SIGN_DOMAIN, dl);
    if (cl)
        memcpy(buf + dl, cluster, cl);
    buf[dl + cl] = 0;
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf + dl + cl + 1, cap - dl - cl - 1);
    pack_content(s, &w, CONTENT_FIELDS + (opts_count(s) ? 1 : 0));
    pack_opts(s, &w);
    return w.overflow ? 0 : dl + cl + 1 + w.len;
}

int sl_service_sign(sl_service *rec, const char *cluster,
                    const uint8_t secret[SL_OPERATOR_SEC_BYTES])
{
    uint8_t msg[SL_SVC_RECORD_MAX + 128];
    size_t n = sl__service_check(rec) ? 0 : signed_bytes(rec, cluster, msg, sizeof msg);
    if (n == 0)
        return SL_EINVAL;
    crypto_sign_detached(rec->sig, NULL, msg, n, secret);
    crypto_sign_ed25519_sk_to_pk(rec->signer, secret);
    rec->is_signed = true;
    return 0;
}

bool sl_service_verify(const sl_service *rec, const char *cluster)
{
    uint8_t msg[SL_SVC_RECORD_MAX + 128];
    size_t n = rec->is_signed ? signed_bytes(rec, cluster, msg, sizeof msg) : 0;
    return n > 0 && crypto_sign_verify_detached(rec->sig, msg, n, rec->signer) == 0;
}
