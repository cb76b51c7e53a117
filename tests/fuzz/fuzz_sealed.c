/* libFuzzer target: sealed gossip. A core that holds a keyring (keys 0 and
 * 1 of fuzz_keyring(), either one the primary) and already knows alpha,
 * beta and gamma, with a catalog and reports behind it in the agent's
 * layout, receives a datagram or a push-pull state.
 *
 * The first byte picks what it receives:
 *
 *   M_RECV          the rest as a datagram, as it is (sealed or not);
 *   M_RECV_SEAL     the rest sealed first, so that the bytes after opening
 *                   are the fuzzer's and reach the inner decoder;
 *   M_STATE         the rest as a push-pull state, as it is;
 *   M_STATE_SEAL    the rest sealed as a state first;
 *   M_STATE_PLAIN   the rest as a state into a core without a key (the
 *                   agent's application layout, which fuzz_decoders lacks).
 *
 * For the two _SEAL modes the next byte says how it is sealed (OPT_*): with
 * key 0, 1 or the foreign key 2, for the wrong cluster label, in the wrong
 * domain, tampered with after sealing, or for a receiver that holds no key.
 * The first byte divided by M_COUNT sets limits on the receiver: bit 0, it
 * holds at most the 4 members it knows (news of others is dropped as full);
 * bit 1, it believes no generation past 7 (the one every core starts with).
 *
 * Properties, beyond ASan, UBSan and LSan:
 *   - whatever does not open with one of the receiver's keys changes
 *     nothing (the membership view, the catalog, the reports) and counts
 *     exactly one drop (unsealed, key, malformed or full);
 *   - what does open is never counted as unsealed or foreign;
 *   - every datagram a keyed core sends is sealed and opens with its
 *     keyring, and fits its max_packet (checked as it is sent);
 *   - the state it ends with round-trips into a fresh keyed core, sealed,
 *     and a core without the key learns nothing from it.
 *
 * Seeds (FUZZ_SEEDS=DIR, kept in tests/fuzz/corpus/sealed/): a sealed ping
 * with a catalog record and a report piggybacked, the same in the clear to
 * be sealed, a sealed and a plain push-pull state with an application
 * state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "starling/error.h"

enum { M_RECV, M_RECV_SEAL, M_STATE, M_STATE_SEAL, M_STATE_PLAIN, M_COUNT };

enum {
    OPT_KEY = 3,          /* 0, 1: installed keys; 2: foreign; 3: key 0, wrong label */
    OPT_DOMAIN = 1 << 2,  /* sealed in the other domain (a datagram as a state...) */
    OPT_PLAIN = 1 << 3,   /* the receiver holds no key */
    OPT_TAMPER = 1 << 4,  /* one byte flipped after sealing (the next input byte says which) */
    OPT_PRIMARY1 = 1 << 5 /* the receiver's primary key is key 1 */
};

#define STATE_MAX 16384 /* bytes a seeded input may be; -max_len is below */

static uint8_t *known_plain, *known_sealed;
static size_t known_plain_len, known_sealed_len;

static bool drops_once(const sl_swim_stats *before, const sl_swim_stats *after)
{
    static const sl_swim_drop open_drops[] = {SL_DROP_UNSEALED, SL_DROP_KEY, SL_DROP_MALFORMED,
                                              SL_DROP_FULL};
    uint64_t grew = 0;
    for (size_t i = 0; i < sizeof open_drops / sizeof *open_drops; i++)
        grew += after->drops[open_drops[i]] - before->drops[open_drops[i]];
    return grew == 1;
}

/* Seals p[0..n) as `opt` says into out (capacity cap). Returns the length,
 * or 0 when it cannot be sealed (too long). */
static size_t seal_as(uint8_t opt, uint8_t domain, uint8_t tamper_at, const uint8_t *p, size_t n,
                      uint8_t *out, size_t cap)
{
    sl_keyring one;
    uint8_t key[SL_KEY_BYTES], nonce[SL_SEAL_NONCE];
    int k = opt & OPT_KEY;
    fuzz_cluster_key(k == 3 ? 0 : k, key);
    sl_keyring_init(&one);
    sl_keyring_install(&one, key);
    memset(nonce, 0xa5 ^ opt, sizeof nonce);
    if (opt & OPT_DOMAIN)
        domain = domain == SL_SEAL_PACKET ? SL_SEAL_STATE : SL_SEAL_PACKET;
    int len = sl_seal(&one, domain, k == 3 ? "other" : "", nonce, p, n, out, cap);
    if (len <= 0)
        return 0;
    if (opt & OPT_TAMPER)
        out[tamper_at % (size_t)len] ^= 0x01;
    return (size_t)len;
}

/* Whether the receiver (keyring kr, label "") can open buf as `domain`;
 * without a key, whether it is plain at all. */
static bool opens(const sl_keyring *kr, uint8_t domain, const uint8_t *buf, size_t len, size_t cap)
{
    if (!kr)
        return !sl_is_sealed(buf, len);
    if (!sl_is_sealed(buf, len) || len < SL_SEAL_OVERHEAD || len - SL_SEAL_OVERHEAD > cap)
        return false;
    uint8_t *plain = malloc(len);
    if (!plain)
        abort();
    bool ok = sl_open(kr, domain, "", buf, len, plain, len) >= 0;
    free(plain);
    return ok;
}

enum { LIMIT_MEMBERS = 1, LIMIT_GEN = 2 };

static void run(int mode, uint8_t opt, int limits, const uint8_t *p, size_t n)
{
    sl_keyring kr;
    fuzz_keyring(&kr);
    if (opt & OPT_PRIMARY1) {
        uint8_t k1[SL_KEY_BYTES];
        fuzz_cluster_key(1, k1);
        sl_keyring_use(&kr, k1);
    }
    bool plain_core = mode == M_STATE_PLAIN || (opt & OPT_PLAIN);
    const sl_keyring *rk = plain_core ? NULL : &kr;
    bool datagram = mode == M_RECV || mode == M_RECV_SEAL;
    uint8_t domain = datagram ? SL_SEAL_PACKET : SL_SEAL_STATE;

    fuzz_app a;
    fuzz_app_init(&a, FUZZ_APP_AGENT);
    a.max_members = limits & LIMIT_MEMBERS ? 4 : 0;
    sl_swim *s = fuzz_core("fuzz", "127.0.0.3", "", rk, &a);
    if (limits & LIMIT_GEN)
        sl_swim_set_gen_limit(s, 7);
    bool join = false;
    FUZZ_CHECK(sl_swim_merge_state(s, rk ? known_sealed : known_plain,
                                   rk ? known_sealed_len : known_plain_len, 1000, &join) == 0);
    FUZZ_CHECK(sl_swim_size(s) == 4 && sl_catalog_size(a.cat) == 1);

    uint8_t *sealed = NULL;
    if (mode == M_RECV_SEAL || mode == M_STATE_SEAL) {
        uint8_t tamper_at = 0;
        if ((opt & OPT_TAMPER) && n > 0)
            tamper_at = *p++, n--;
        size_t cap = n + SL_SEAL_OVERHEAD;
        sealed = malloc(cap);
        if (!sealed)
            abort();
        n = seal_as(opt, domain, tamper_at, p, n, sealed, cap);
        p = sealed;
    }

    size_t max_plain = datagram ? sl_swim_get_timing(s)->max_packet : SIZE_MAX;
    bool ok = opens(rk, domain, p, n, max_plain);
    sl_swim_stats before = *sl_swim_get_stats(s);
    uint64_t view = fuzz_view_digest(s), clock = sl_catalog_clock(a.cat);
    size_t ncat = sl_catalog_size(a.cat), nrep = sl_reports_size(a.rep), sent = a.sent;
    sl_addr from;
    sl_addr_parse("127.0.0.2", 7946, &from);
    if (datagram)
        sl_swim_recv(s, &from, p, n, 1500);
    else
        sl_swim_merge_state(s, p, n, 1500, &join);
    const sl_swim_stats *after = sl_swim_get_stats(s);
    if (!ok) {
        FUZZ_CHECK(drops_once(&before, after));
        FUZZ_CHECK(after->msgs_in == before.msgs_in && a.sent == sent);
        FUZZ_CHECK(fuzz_view_digest(s) == view);
        FUZZ_CHECK(sl_catalog_size(a.cat) == ncat && sl_catalog_clock(a.cat) == clock);
        FUZZ_CHECK(sl_reports_size(a.rep) == nrep);
    } else {
        FUZZ_CHECK(after->drops[SL_DROP_UNSEALED] == before.drops[SL_DROP_UNSEALED]);
        FUZZ_CHECK(after->drops[SL_DROP_KEY] == before.drops[SL_DROP_KEY]);
    }

    /* Probes and gossip, then suspicion timeouts, then reaping, over
     * whatever came in: every datagram sent is checked by on_send. */
    static const uint64_t at[] = {3000, 60000, 1000000};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
        sl_swim_tick(s, at[i]);
    fuzz_check_state_round_trip(s, "", rk, FUZZ_APP_AGENT);
    fuzz_check_catalog_round_trip(a.cat);
    fuzz_check_reports_round_trip(a.rep);
    sl_swim_free(s);
    fuzz_app_free(&a);
    free(sealed);
}

/* ---- seeds ---- */

static void write_seed(const char *dir, const char *name, int mode, int opt, const uint8_t *buf,
                       size_t len)
{
    uint8_t prefix[2] = {(uint8_t)mode, (uint8_t)opt};
    fuzz_write_seed(dir, name, prefix, opt < 0 ? 1 : 2, buf, len);
}

/* A ping from alpha to beta with a catalog record and a report riding on
 * it, sealed or not; *len 0 if none was sent. */
static void ping_with_news(const sl_keyring *kr, uint8_t *out, size_t *len)
{
    fuzz_app a, b;
    fuzz_app_init(&a, FUZZ_APP_AGENT);
    fuzz_app_init(&b, FUZZ_APP_AGENT);
    sl_swim *x = fuzz_core("alpha", "127.0.0.1", "", kr, &a);
    sl_swim *y = fuzz_core("beta", "127.0.0.2", "", kr, &b);
    uint8_t *buf = NULL, msg[SL_SVC_RECORD_MAX];
    size_t n = 0;
    bool join;
    if (sl_swim_encode_state(y, true, &buf, &n) == 0)
        sl_swim_merge_state(x, buf, n, 1000, &join);
    free(buf);
    char *argv[] = {"/bin/echo", "hi"};
    sl_service spec = {.name = "api", .replicas = 1, .argc = 2, .argv = argv};
    if (sl_catalog_put(a.cat, &spec, "alpha", 1200, msg, sizeof msg, &n) == 0)
        sl_swim_broadcast(x, 1, msg, n);
    sl_report r = {.node = "alpha", .service = "api", .version = 9, .n = 1};
    r.replicas[0] = (sl_replica_report){.replica = 0, .status = SL_REPLICA_STARTING};
    if (sl_reports_put(a.rep, &r, msg, sizeof msg, &n) == 0)
        sl_swim_broadcast(x, 2, msg, n);
    for (uint64_t t = 1000; t < 4000 && a.last_len == 0; t += 100)
        sl_swim_tick(x, t);
    memcpy(out, a.last, a.last_len);
    *len = a.last_len;
    sl_swim_free(x);
    sl_swim_free(y);
    fuzz_app_free(&a);
    fuzz_app_free(&b);
}

static void write_seeds(const char *dir)
{
    sl_keyring kr;
    fuzz_keyring(&kr);
    uint8_t pkt[1500];
    size_t n = 0;
    ping_with_news(&kr, pkt, &n);
    if (n)
        write_seed(dir, "sealed-ping", M_RECV, -1, pkt, n);
    ping_with_news(NULL, pkt, &n);
    if (n) {
        write_seed(dir, "ping-to-seal", M_RECV_SEAL, 0, pkt, n);
        write_seed(dir, "ping-to-seal-key1", M_RECV_SEAL, 1, pkt, n);
    }
    write_seed(dir, "sealed-state", M_STATE, -1, known_sealed, known_sealed_len);
    write_seed(dir, "state-to-seal", M_STATE_SEAL, 0, known_plain, known_plain_len);
    write_seed(dir, "plain-state", M_STATE_PLAIN, -1, known_plain, known_plain_len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    known_plain = fuzz_known_state(FUZZ_APP_AGENT, &known_plain_len);
    sl_keyring kr;
    fuzz_keyring(&kr);
    uint8_t nonce[SL_SEAL_NONCE] = {1};
    known_sealed_len = known_plain_len + SL_SEAL_OVERHEAD;
    known_sealed = malloc(known_sealed_len);
    if (!known_sealed || sl_seal(&kr, SL_SEAL_STATE, "", nonce, known_plain, known_plain_len,
                                 known_sealed, known_sealed_len) != (int)known_sealed_len)
        abort();
    const char *dir = getenv("FUZZ_SEEDS");
    if (dir && *dir)
        write_seeds(dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > STATE_MAX)
        return 0;
    int mode = data[0] % M_COUNT;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    uint8_t opt = 0;
    if (mode == M_RECV_SEAL || mode == M_STATE_SEAL) {
        if (n == 0)
            return 0;
        opt = *p++;
        n--;
    }
    run(mode, opt, data[0] / M_COUNT, p, n);
    return 0;
}
