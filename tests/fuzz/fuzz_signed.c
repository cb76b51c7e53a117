/* libFuzzer target: signed desired state. A catalog whose policy trusts two
 * operator keys (0 and 1 of fuzz_operator_key(), cluster label "prod")
 * and already holds three signed records (web, db, and the tombstone of
 * old) receives records and whole catalogs at the wall clock WALL_MS.
 *
 * The first byte picks what it receives:
 *
 *   S_APPLY        the rest as one record (sl_catalog_apply);
 *   S_MERGE        the next byte says the sender's sync state and ours, the
 *                  rest is a whole catalog (sl_catalog_merge);
 *   S_BUILD_APPLY  the rest builds one record (build_record: its fields, a
 *                  signer among the trusted keys, an untrusted one or none,
 *                  the label it is signed for, a stamp around WALL_MS), which
 *                  is signed, then maybe mutated (a field changed after
 *                  signing, bytes flipped after encoding), then applied;
 *   S_BUILD_MERGE  a catalog of up to 8 such records and raw byte chunks,
 *                  mixed, merged.
 *
 * With bit 2 of the first byte set, the catalog may hold only the three
 * records it has (max_records 3), so that new names are refused as full.
 *
 * Properties, beyond ASan, UBSan and LSan:
 *   - whatever the trusting catalog holds is signed by a trusted key and
 *     verifies (sl_service_verify) for its label;
 *   - a refused or not newer record changes nothing (and, unless refused
 *     for want of room, not even the clock);
 *   - a record signed by a trusted key for "prod", not mutated, and
 *     stamped within the skew and the horizon is never refused but for
 *     want of room, and then the catalog holds it or something newer;
 *   - the catalog encodes into one that a fresh trusting catalog merges
 *     whole, record for record, and so does one that trusts no key.
 *
 * Seeds (FUZZ_SEEDS=DIR, kept in tests/fuzz/corpus/signed/): records signed
 * by each key, unsigned, a tombstone, a mixed catalog, build programs. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "starling/error.h"

enum { S_APPLY, S_MERGE, S_BUILD_APPLY, S_BUILD_MERGE, S_COUNT };

#define WALL_MS 1767225600000ull /* 2026-01-01, the wall clock of every call */
#define LABEL "prod"
#define INPUT_MAX 16384
#define MERGE_RECORDS_MAX 8

static uint8_t pub[3][SL_OPERATOR_PUB_BYTES], sec[3][SL_OPERATOR_SEC_BYTES];
static uint32_t max_records; /* of the catalog under test */

static const char name_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
static const char env_key_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789";

/* A catalog trusting keys 0 and 1 for LABEL, holding at most `limit`
 * records (0: the default). */
static sl_catalog *trusting_catalog(uint32_t limit)
{
    sl_catalog *c = sl_catalog_new();
    sl_catalog_policy pol = {.trusted = (const uint8_t(*)[SL_OPERATOR_PUB_BYTES])pub,
                             .ntrusted = 2,
                             .cluster = LABEL,
                             .max_records = limit};
    FUZZ_CHECK(c && sl_catalog_set_policy(c, &pol) == 0);
    return c;
}

/* ---- building records ---- */

/* What build_record made, to judge the outcome. */
typedef struct built {
    sl_service rec;
    char *argv[SL_SVC_ARGS_MAX], *env[SL_SVC_ENV_MAX];
    char args[SL_SVC_ARGS_MAX][SL_SVC_STR_MAX + 1], envs[SL_SVC_ENV_MAX][SL_SVC_STR_MAX + 1];
    bool trusted_sig; /* signed by a trusted key for LABEL */
    bool mutated;
    int64_t delta_ms; /* stamp minus WALL_MS, when not raw */
    bool raw_stamp;
    uint8_t bytes[SL_SVC_RECORD_MAX];
    size_t len; /* 0: it did not encode */
} built;

enum {
    B_DELETED = 1 << 0,
    B_SIGNER = 3 << 1, /* 0, 1: trusted; 2: untrusted; 3: unsigned */
    B_LABEL = 3 << 3,  /* 0, 3: LABEL; 1: ""; 2: "other" */
    B_MUTATE = 1 << 5, /* a field changed after signing */
    B_FLIP = 1 << 6,   /* bytes flipped after encoding */
    B_RAW_STAMP = 1 << 7
};

static void strip_nul(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!s[i])
            s[i] = '0';
}

static void mutate_fields(built *b, fuzz_in *in)
{
    sl_service *r = &b->rec;
    uint8_t what = fuzz_u8(in);
    switch (what % 12) {
    case 0: r->replicas++; break;
    case 1: r->name[0] = r->name[0] == 'a' ? 'b' : 'a'; break;
    case 2: r->stamp++; break;
    case 3: snprintf(r->writer, sizeof r->writer, "mallory"); break;
    case 4: memcpy(r->signer, pub[r->signer[0] == pub[0][0] ? 1 : 0], sizeof r->signer); break;
    case 5: {
        size_t at = fuzz_u8(in) % SL_OPERATOR_SIG_BYTES;
        r->sig[at] ^= 1 + fuzz_u8(in) % 255;
        break;
    }
    case 6: r->signer[fuzz_u8(in) % SL_OPERATOR_PUB_BYTES] ^= 0x80; break;
    case 7: r->deleted = !r->deleted; break;
    case 8:
        if (r->argc)
            snprintf(b->args[0], sizeof b->args[0], "/bin/sh");
        break;
    case 9:
        if (r->envc)
            b->envs[0][0] = b->envs[0][0] == 'X' ? 'Y' : 'X';
        break;
    case 10: r->spread ^= 1; break;
    default: r->mem_mb += 1 + fuzz_u8(in); break;
    }
    b->mutated = true;
}

/* Builds, signs and encodes one record from the input (see the top). */
static void build_record(fuzz_in *in, built *b)
{
    memset(b, 0, sizeof *b);
    sl_service *r = &b->rec;
    uint8_t flags = fuzz_u8(in);
    r->deleted = flags & B_DELETED;
    if (fuzz_str(in, r->name, SL_SVC_NAME_MAX, name_chars) == 0)
        snprintf(r->name, sizeof r->name, "web");
    if (fuzz_str(in, r->writer, SL_SVC_WRITER_MAX, name_chars) == 0)
        snprintf(r->writer, sizeof r->writer, "op");
    b->raw_stamp = flags & B_RAW_STAMP;
    if (b->raw_stamp) {
        r->stamp = fuzz_u64(in);
    } else {
        b->delta_ms = (int32_t)fuzz_u32(in);
        r->stamp =
            (uint64_t)((int64_t)WALL_MS + b->delta_ms) * SL_CATALOG_TICKS_PER_MS + fuzz_u8(in);
    }
    r->replicas = fuzz_u8(in) % 8;
    r->cpu_milli = fuzz_u8(in);
    r->mem_mb = fuzz_u8(in);
    r->spread = fuzz_u8(in) % 2;
    r->argc = fuzz_u8(in) % 4 + (r->deleted ? 0 : 1);
    for (uint32_t i = 0; i < r->argc; i++) {
        size_t n = fuzz_str(in, b->args[i], 40, NULL);
        strip_nul(b->args[i], n);
        if (i == 0 && n == 0)
            snprintf(b->args[i], sizeof b->args[i], "/bin/true");
        b->argv[i] = b->args[i];
    }
    r->envc = fuzz_u8(in) % 3;
    for (uint32_t i = 0; i < r->envc; i++) {
        char key[9], val[30];
        if (fuzz_str(in, key, 8, env_key_chars) == 0 || (key[0] >= '0' && key[0] <= '9'))
            snprintf(key, sizeof key, "K");
        strip_nul(val, fuzz_str(in, val, 29, NULL));
        snprintf(b->envs[i], sizeof b->envs[i], "%s=%s", key, val);
        b->env[i] = b->envs[i];
    }
    r->argv = b->argv;
    r->env = b->env;
    int signer = (flags & B_SIGNER) >> 1, label = (flags & B_LABEL) >> 3;
    const char *labels[] = {LABEL, "", "other", LABEL};
    if (signer < 3 && sl_service_sign(r, labels[label], sec[signer]) == 0)
        b->trusted_sig = signer < 2 && (label == 0 || label == 3);
    if (flags & B_MUTATE)
        mutate_fields(b, in);
    int n = sl_service_encode(r, b->bytes, sizeof b->bytes);
    b->len = n > 0 ? (size_t)n : 0;
    if ((flags & B_FLIP) && b->len) {
        int flips = 1 + fuzz_u8(in) % 4;
        for (int i = 0; i < flips; i++) {
            size_t at = fuzz_u8(in) % b->len;
            b->bytes[at] ^= 1 + fuzz_u8(in) % 255;
        }
        b->mutated = true;
    }
}

/* ---- properties ---- */

/* Everything c holds is signed by a trusted key and verifies for LABEL. */
static void check_all_trusted(const sl_catalog *c)
{
    for (size_t i = 0; i < sl_catalog_size(c); i++) {
        const sl_service *r = sl_catalog_at(c, i);
        FUZZ_CHECK(r->is_signed);
        FUZZ_CHECK(sl_catalog_trusts(c, r->signer));
        FUZZ_CHECK(sl_service_verify(r, LABEL));
    }
}

/* c encodes into a catalog that a fresh trusting one merges whole. */
static void check_round_trip(const sl_catalog *c)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    FUZZ_CHECK(sl_catalog_encode(c, &buf, &len) == 0);
    sl_catalog *d = trusting_catalog(0);
    FUZZ_CHECK(sl_catalog_merge(d, buf, len, WALL_MS, SL_CATALOG_CURRENT) ==
               (int)sl_catalog_size(c));
    FUZZ_CHECK(sl_catalog_size(d) == sl_catalog_size(c));
    for (size_t i = 0; i < sl_catalog_size(c); i++) {
        const sl_service *x = sl_catalog_at(c, i), *y = sl_catalog_at(d, i);
        FUZZ_CHECK(strcmp(x->name, y->name) == 0 && x->stamp == y->stamp &&
                   strcmp(x->writer, y->writer) == 0 && x->deleted == y->deleted &&
                   memcmp(x->sig, y->sig, sizeof x->sig) == 0);
    }
    sl_catalog_free(d);
    /* A catalog that trusts no key (its policy's `trusted` left NULL) takes
     * signed records alike. */
    d = sl_catalog_new();
    sl_catalog_policy open_pol = {.cluster = LABEL};
    FUZZ_CHECK(d && sl_catalog_set_policy(d, &open_pol) == 0);
    FUZZ_CHECK(sl_catalog_merge(d, buf, len, WALL_MS, SL_CATALOG_CURRENT) ==
               (int)sl_catalog_size(c));
    sl_catalog_free(d);
    free(buf);
}

static bool same_bytes(const sl_catalog *c, const uint8_t *before, size_t before_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    FUZZ_CHECK(sl_catalog_encode(c, &buf, &len) == 0);
    bool same = len == before_len && memcmp(buf, before, len) == 0;
    free(buf);
    return same;
}

/* Applies one record and checks what the outcome allows. b: how it was
 * built, or NULL for raw bytes. */
static void apply_one(sl_catalog *c, const uint8_t *p, size_t n, const built *b)
{
    uint8_t *before = NULL;
    size_t before_len = 0;
    FUZZ_CHECK(sl_catalog_encode(c, &before, &before_len) == 0);
    sl_catalog_stats st = *sl_catalog_get_stats(c);
    uint64_t clock = sl_catalog_clock(c);
    size_t size = sl_catalog_size(c);
    bool held_before = b && sl_catalog_find_any(c, b->rec.name);
    int rc = sl_catalog_apply(c, p, n, WALL_MS);
    if (rc <= 0)
        FUZZ_CHECK(same_bytes(c, before, before_len));
    /* Only a record that passed every check but found no room (its stamp
     * was seen) may move the clock without being stored. */
    if (rc <= 0 && rc != SL_EFULL)
        FUZZ_CHECK(sl_catalog_clock(c) == clock);
    if (rc == SL_EAUTH)
        FUZZ_CHECK(sl_catalog_get_stats(c)->unsigned_ + sl_catalog_get_stats(c)->bad_signature ==
                   st.unsigned_ + st.bad_signature + 1);
    if (b && b->trusted_sig && !b->mutated && b->len && !b->raw_stamp &&
        b->delta_ms <= (int64_t)SL_CATALOG_SKEW_MS &&
        b->delta_ms >= -(int64_t)SL_CATALOG_HORIZON_MS) {
        /* A good record is never refused (unless it is a new name and the
         * catalog is full), and the catalog then holds it or something
         * newer. */
        if (rc == SL_EFULL) {
            FUZZ_CHECK(!held_before && size == max_records);
            free(before);
            return;
        }
        FUZZ_CHECK(rc >= 0);
        const sl_service *held = sl_catalog_find_any(c, b->rec.name);
        FUZZ_CHECK(held);
        FUZZ_CHECK(held->stamp > b->rec.stamp ||
                   (held->stamp == b->rec.stamp && strcmp(held->writer, b->rec.writer) >= 0));
        if (rc == 1)
            FUZZ_CHECK(held->stamp == b->rec.stamp && strcmp(held->writer, b->rec.writer) == 0 &&
                       held->deleted == b->rec.deleted && held->replicas == b->rec.replicas);
    }
    free(before);
}

/* Writes a msgpack array header for n elements. */
static size_t array_header(uint8_t *out, uint32_t n)
{
    if (n < 16) {
        out[0] = (uint8_t)(0x90 | n);
        return 1;
    }
    out[0] = 0xdc;
    out[1] = (uint8_t)(n >> 8);
    out[2] = (uint8_t)n;
    return 3;
}

/* Builds a catalog of up to MERGE_RECORDS_MAX records, some built, some
 * raw chunks of the input, into out (capacity cap). Returns its length. */
static size_t build_catalog(fuzz_in *in, uint8_t *out, size_t cap)
{
    uint32_t count = fuzz_u8(in) % (MERGE_RECORDS_MAX + 1);
    size_t len = array_header(out, count);
    built *b = malloc(sizeof *b);
    if (!b)
        abort();
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *chunk;
        size_t n;
        if (fuzz_u8(in) % 4 == 3) { /* a raw chunk: anything at all */
            n = fuzz_u8(in);
            if (n > in->n)
                n = in->n;
            chunk = in->p;
            in->p += n;
            in->n -= n;
        } else {
            build_record(in, b);
            chunk = b->bytes;
            n = b->len;
        }
        if (n > cap - len)
            break;
        memcpy(out + len, chunk, n);
        len += n;
    }
    free(b);
    return len;
}

/* ---- seeds ---- */

/* Encodes a signed (key < 3) or unsigned record. */
static size_t make_record(const char *name, uint64_t stamp, bool deleted, int key,
                          const char *label, uint8_t *out, size_t cap)
{
    char *argv[] = {"/usr/bin/env", "serve"}, *env[] = {"PORT=8080"};
    sl_service r = {.replicas = 2,
                    .stamp = stamp,
                    .deleted = deleted,
                    .argc = deleted ? 0 : 2,
                    .argv = argv,
                    .envc = deleted ? 0 : 1,
                    .env = env};
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.writer, sizeof r.writer, "op");
    if (key < 3 && sl_service_sign(&r, label, sec[key]) != 0)
        abort();
    int n = sl_service_encode(&r, out, cap);
    if (n <= 0)
        abort();
    return (size_t)n;
}

static uint64_t stamp(int64_t delta_ms)
{
    return (uint64_t)((int64_t)WALL_MS + delta_ms) * SL_CATALOG_TICKS_PER_MS;
}

static void write_seeds(const char *dir)
{
    uint8_t rec[SL_SVC_RECORD_MAX], cat[4 * SL_SVC_RECORD_MAX + 8], mode;
    size_t n;
    mode = S_APPLY;
    n = make_record("web", stamp(1000), false, 0, LABEL, rec, sizeof rec);
    fuzz_write_seed(dir, "web-by-key0", &mode, 1, rec, n);
    n = make_record("db", stamp(2000), true, 1, LABEL, rec, sizeof rec);
    fuzz_write_seed(dir, "db-deleted-by-key1", &mode, 1, rec, n);
    n = make_record("web", stamp(3000), false, 2, LABEL, rec, sizeof rec);
    fuzz_write_seed(dir, "web-by-untrusted", &mode, 1, rec, n);
    n = make_record("api", stamp(0), false, 0, "other", rec, sizeof rec);
    fuzz_write_seed(dir, "api-other-label", &mode, 1, rec, n);
    n = make_record("api", stamp(0), false, 3, LABEL, rec, sizeof rec);
    fuzz_write_seed(dir, "api-unsigned", &mode, 1, rec, n);

    /* A catalog mixing them; the byte after the mode: we are returning, the
     * sender is current. */
    size_t len = array_header(cat, 4);
    len += make_record("api", stamp(-5000), false, 0, LABEL, cat + len, sizeof cat - len);
    len += make_record("db", stamp(-4000), false, 1, LABEL, cat + len, sizeof cat - len);
    len += make_record("old", stamp(-(int64_t)SL_CATALOG_HORIZON_MS - 1000), false, 0, LABEL,
                       cat + len, sizeof cat - len);
    len += make_record("web", stamp(100), false, 2, LABEL, cat + len, sizeof cat - len);
    uint8_t prefix[2] = {S_MERGE, 0x02};
    fuzz_write_seed(dir, "mixed-catalog", prefix, 2, cat, len);

    /* Build programs (see build_record): flags, name, writer, stamp (delta
     * ms, low bits), replicas, cpu, mem, spread, argc, args, envc, env. */
    static const uint8_t good[] = {S_BUILD_APPLY,
                                   0x00,
                                   3,
                                   'a',
                                   'p',
                                   'i',
                                   2,
                                   'o',
                                   'p',
                                   0,
                                   0,
                                   0x10,
                                   0,
                                   0,
                                   3,
                                   0,
                                   0,
                                   0,
                                   0,
                                   10,
                                   '/',
                                   'b',
                                   'i',
                                   'n',
                                   '/',
                                   's',
                                   'l',
                                   'e',
                                   'e',
                                   'p',
                                   1,
                                   1,
                                   'A',
                                   1,
                                   '1'};
    fuzz_write_seed(dir, "build-good", good, sizeof good, NULL, 0);
    /* Signed by key 1, then its signer swapped for key 0. */
    static const uint8_t swapped[] = {S_BUILD_APPLY,
                                      B_MUTATE | 1 << 1,
                                      3,
                                      'w',
                                      'e',
                                      'b',
                                      2,
                                      'o',
                                      'p',
                                      0,
                                      0,
                                      0x20,
                                      0,
                                      0,
                                      1,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      4};
    fuzz_write_seed(dir, "build-signer-swapped", swapped, sizeof swapped, NULL, 0);
    /* We are returning, the sender current: db by key 0, web by the
     * untrusted key. */
    static const uint8_t merge[] = {S_BUILD_MERGE,
                                    0x02,
                                    2,
                                    0,
                                    0x00,
                                    2,
                                    'd',
                                    'b',
                                    1,
                                    'x',
                                    0,
                                    0,
                                    0x30,
                                    0,
                                    0,
                                    1,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    2 << 1,
                                    3,
                                    'w',
                                    'e',
                                    'b',
                                    1,
                                    'y',
                                    0,
                                    0,
                                    0x40,
                                    0,
                                    0,
                                    2,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0};
    fuzz_write_seed(dir, "build-merge", merge, sizeof merge, NULL, 0);
}

/* ---- the target ---- */

/* The records every input starts from: web (key 0), db (key 1) and the
 * tombstone of old (key 1), signed once. */
static uint8_t start_rec[3][SL_SVC_RECORD_MAX];
static size_t start_len[3];

static void make_start_records(void)
{
    start_len[0] =
        make_record("web", stamp(-60000), false, 0, LABEL, start_rec[0], SL_SVC_RECORD_MAX);
    start_len[1] =
        make_record("db", stamp(-50000), false, 1, LABEL, start_rec[1], SL_SVC_RECORD_MAX);
    start_len[2] =
        make_record("old", stamp(-40000), true, 1, LABEL, start_rec[2], SL_SVC_RECORD_MAX);
}

static sl_catalog *starting_catalog(uint32_t limit)
{
    sl_catalog *c = trusting_catalog(limit);
    for (int i = 0; i < 3; i++)
        FUZZ_CHECK(sl_catalog_apply(c, start_rec[i], start_len[i], WALL_MS) == 1);
    sl_catalog_set_sync(c, SL_CATALOG_CURRENT);
    return c;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    for (int i = 0; i < 3; i++)
        fuzz_operator_key(i, pub[i], sec[i]);
    make_start_records();
    const char *dir = getenv("FUZZ_SEEDS");
    if (dir && *dir)
        write_seeds(dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > INPUT_MAX)
        return 0;
    fuzz_in in = {data + 1, size - 1};
    /* Bit 2 of the first byte: a catalog already full (3 records at most). */
    max_records = data[0] & 4 ? 3 : SL_CATALOG_SERVICES_MAX;
    sl_catalog *c = starting_catalog(max_records);
    switch (data[0] % S_COUNT) {
    case S_APPLY: apply_one(c, in.p, in.n, NULL); break;
    case S_BUILD_APPLY: {
        built *b = malloc(sizeof *b);
        if (!b)
            abort();
        build_record(&in, b);
        apply_one(c, b->bytes, b->len, b);
        free(b);
        break;
    }
    case S_MERGE:
    case S_BUILD_MERGE: {
        uint8_t how = fuzz_u8(&in);
        sl_catalog_set_sync(c, (sl_catalog_sync)(how % 3));
        sl_catalog_sync from = (sl_catalog_sync)((how >> 4) % 3);
        if (data[0] % S_COUNT == S_MERGE) {
            sl_catalog_merge(c, in.p, in.n, WALL_MS, from);
        } else {
            size_t cap = 8 + MERGE_RECORDS_MAX * SL_SVC_RECORD_MAX;
            uint8_t *cat = malloc(cap);
            if (!cat)
                abort();
            size_t len = build_catalog(&in, cat, cap);
            sl_catalog_merge(c, cat, len, WALL_MS, from);
            free(cat);
        }
        break;
    }
    }
    check_all_trusted(c);
    check_round_trip(c);
    sl_catalog_free(c);
    return 0;
}
