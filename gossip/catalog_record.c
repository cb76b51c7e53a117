/* One catalog record: its checks, its codec and its signature.
 *
 *   record := [1, name, stamp, writer, deleted, replicas, cpu, mem, spread,
 *              [arg...], [KEY=VALUE...], signer?, sig?]
 *
 * The first eleven fields are the content; `signer` (bin 32, an Ed25519
 * public key) and `sig` (bin 64) are appended when the record is signed, so
 * that a peer of an older version, which skips trailing fields, still reads
 * it. Extensions follow, in this order (a decoder tells the signature from
 * an extension by its type, bin):
 *
 *   groups := [spec_stamp, replicas_stamp]   the field groups' stamps
 *
 * written only when one of them differs from `stamp` (a scale, or a deploy
 * that kept the count): deploys and rms stay exactly what older peers wrote.
 * The signature covers
 *
 *   "starling-catalog-v1" 0x00 cluster-label 0x00 content
 *
 * where content is the canonical encoding of the eleven fields (this file's
 * own encoder: msgpack-c packs every integer in its shortest form), as an
 * array of eleven, or, for a record with groups, of twelve: the eleven and
 * `groups`, so that an operator's signature covers which groups the write
 * changed and nobody can move a signed field group forward in time. A
 * record re-encoded from its decoded fields verifies, and a record of one
 * cluster cannot be replayed into another that trusts the same operator.
 * (An older peer verifies only eleven-field content: it refuses signed
 * records with groups, and keeps the newest whole record of the others.)
 *
 * Every limit is enforced on decode exactly as on encode: field sizes and
 * counts, and SL_SVC_RECORD_MAX for the whole encoded record, so that a
 * record accepted from the network can always be encoded again (saved,
 * pushed, gossiped). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_internal.h"
#include "mp.h"
#include "starling/error.h"

#define SIGN_DOMAIN "starling-catalog-v1"
#define CONTENT_FIELDS 11

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

int sl__service_check(const sl_service *s)
{
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
        if (strlen(s->env[i]) > SL_SVC_STR_MAX || env_check(s->env[i]))
            return SL_EINVAL;
    return 0;
}

/* Whether rec carries field group stamps of its own (see the top). */
static bool has_groups(const sl_service *s)
{
    return sl__spec_stamp(s) != s->stamp || sl__replicas_stamp(s) != s->stamp;
}

static void pack_groups(const sl_service *s, sl__mp_writer *w)
{
    msgpack_pack_array(&w->pk, 2);
    msgpack_pack_uint64(&w->pk, sl__spec_stamp(s));
    msgpack_pack_uint64(&w->pk, sl__replicas_stamp(s));
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
    msgpack_pack_array(pk, s->argc);
    for (uint32_t i = 0; i < s->argc; i++)
        sl__mp_put_str(w, s->argv[i], strlen(s->argv[i]));
    msgpack_pack_array(pk, s->envc);
    for (uint32_t i = 0; i < s->envc; i++)
        sl__mp_put_str(w, s->env[i], strlen(s->env[i]));
}

int sl__service_pack(const sl_service *s, sl__mp_writer *w)
{
    size_t start = w->len;
    uint32_t fields = CONTENT_FIELDS + (s->is_signed ? 2 : 0) + (has_groups(s) ? 1 : 0);
    pack_content(s, w, fields);
    if (s->is_signed) {
        sl__mp_put_bin(w, s->signer, sizeof s->signer);
        sl__mp_put_bin(w, s->sig, sizeof s->sig);
    }
    if (has_groups(s))
        pack_groups(s, w);
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
    for (uint32_t i = 0; s->argv && i < s->argc; i++)
        free(s->argv[i]);
    for (uint32_t i = 0; s->env && i < s->envc; i++)
        free(s->env[i]);
    free(s->argv);
    free(s->env);
    s->argv = s->env = NULL;
    s->argc = s->envc = 0;
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

/* The group stamps extension: each at most the record's stamp. */
static int read_groups(sl__mp_reader *r, sl_service *out)
{
    uint32_t n;
    if (sl__mp_read_array(r, &n) || n != 2 || sl__mp_read_uint(r, &out->spec_stamp) ||
        sl__mp_read_uint(r, &out->replicas_stamp) || out->spec_stamp == 0 ||
        out->replicas_stamp == 0 || out->spec_stamp > out->stamp ||
        out->replicas_stamp > out->stamp)
        return SL_EMALFORMED;
    return 0;
}

/* The optional signature fields (a bin first), then the extensions, then
 * whatever later versions append. */
static int read_tail(sl__mp_reader *r, uint32_t n, sl_service *out)
{
    uint32_t i = CONTENT_FIELDS;
    sl__mp_reader peek = *r;
    const uint8_t *bin;
    uint32_t binlen;
    out->spec_stamp = out->replicas_stamp = out->stamp;
    if (n >= CONTENT_FIELDS + 2 && sl__mp_read_bin(&peek, &bin, &binlen) == 0) {
        const uint8_t *signer, *sig;
        uint32_t sl, gl;
        if (sl__mp_read_bin(r, &signer, &sl) || sl != SL_OPERATOR_PUB_BYTES ||
            sl__mp_read_bin(r, &sig, &gl) || gl != SL_OPERATOR_SIG_BYTES)
            return SL_EMALFORMED;
        memcpy(out->signer, signer, sl);
        memcpy(out->sig, sig, gl);
        out->is_signed = true;
        i += 2;
    }
    if (i < n) {
        if (read_groups(r, out))
            return SL_EMALFORMED;
        i++;
    }
    for (; i < n; i++)
        if (sl__mp_skip(r))
            return SL_EMALFORMED;
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
    pack_content(s, &w, has_groups(s) ? CONTENT_FIELDS + 1 : CONTENT_FIELDS);
    if (has_groups(s))
        pack_groups(s, &w);
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
