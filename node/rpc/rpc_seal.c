/* The sealed RPC channel between the CLI and an agent: protocol v1.
 *
 * Why. The RPC port deploys code: whoever can talk to it can make every peer
 * run a command. So every connection, loopback too (one code path), proves
 * that it holds the agent's RPC token, and every byte after that is sealed,
 * so that a frame can be neither read, forged, replayed nor reordered by
 * someone on the path. The token never crosses the wire, and nothing here
 * compares secrets with memcmp: a client is authenticated by its first
 * sealed frame opening under a key only the token gives (AEAD verification
 * is constant time).
 *
 * The wire. The connection carries frames (frame.h: a 4-byte big-endian
 * length, then that many bytes).
 *
 *   1. client -> server, one plain frame: "SLRPC1" || cn (32 random bytes)
 *   2. server -> client, one plain frame: "SLRPC1" || sn (32 random bytes)
 *
 * Both derive, with BLAKE2b (libsodium's crypto_generichash):
 *
 *   base  = BLAKE2b-256("starling-rpc-token-v1" || token)
 *   k_c2s = BLAKE2b-256(key = base, "c2s" || cn || sn)
 *   k_s2c = BLAKE2b-256(key = base, "s2c" || cn || sn)
 *
 *   3. every later frame, both ways: XChaCha20-Poly1305-IETF(k_dir,
 *      nonce = the direction's message counter, little-endian in the first 8
 *      of 24 bytes, the other 16 zero; associated data = "SLRPC1" || d, d = 1
 *      client to server, 2 server to client) of the msgpack map (rpc.h).
 *      The payload is ciphertext || 16-byte tag; the counter is not sent.
 *
 * Each direction's counter starts at 0 and grows by one per frame. It is
 * never sent, so a frame replayed, dropped or moved does not open: the
 * receiver expects the next counter. Both nonces are fresh per connection,
 * so the keys are too, and a counter nonce is never reused under one key (a
 * counter that would wrap closes the connection; at 2^64 frames it never
 * will, but the check is what makes the claim true).
 *
 * The server authenticates the client by its first sealed frame: if it does
 * not open (no token, wrong token, garbage), the server answers one plain
 * frame "SLRPC1!" || a one-line UTF-8 reason, and closes. The client tells a
 * refusal from a sealed reply by trying to open first: a refusal comes only
 * in answer to the first request, and it does not open. Any later frame that
 * does not open closes the connection without a word. A server hello whose
 * nonce begins with '!' looks like a refusal too, so a client checks for a
 * hello first (38 bytes and the magic), and a refusal is never 38 bytes long
 * (a 31-byte reason gets a trailing space).
 *
 * What it does not do: the server is not authenticated before the client's
 * first request is sent. A fake agent learns that request (sealed under keys
 * it cannot derive, so it learns nothing of its content) and answers a
 * refusal at most; it can never answer a sealed reply. */
#include <sodium.h>
#include <string.h>

#include "rpc/rpc_seal.h"

#define TOKEN_LABEL "starling-rpc-token-v1"

_Static_assert(SL__SEAL_ABYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "the tag is 16 bytes");
_Static_assert(SL__SEAL_KEYBYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES &&
                   SL__SEAL_KEYBYTES == crypto_generichash_BYTES,
               "keys are 32 bytes");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "nonces are 24 bytes");

void sl__seal_token_key(const void *token, size_t len, uint8_t key[SL__SEAL_KEYBYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, SL__SEAL_KEYBYTES);
    crypto_generichash_update(&st, (const uint8_t *)TOKEN_LABEL, sizeof TOKEN_LABEL - 1);
    crypto_generichash_update(&st, token, len);
    crypto_generichash_final(&st, key, SL__SEAL_KEYBYTES);
    sodium_memzero(&st, sizeof st);
}

void sl__seal_hello(uint8_t out[SL__SEAL_HELLO_LEN], uint8_t nonce[SL__SEAL_NONCE_LEN])
{
    randombytes_buf(nonce, SL__SEAL_NONCE_LEN);
    memcpy(out, SL__SEAL_MAGIC, SL__SEAL_MAGIC_LEN);
    memcpy(out + SL__SEAL_MAGIC_LEN, nonce, SL__SEAL_NONCE_LEN);
}

int sl__seal_hello_parse(const uint8_t *p, size_t n, uint8_t nonce[SL__SEAL_NONCE_LEN])
{
    if (n != SL__SEAL_HELLO_LEN || memcmp(p, SL__SEAL_MAGIC, SL__SEAL_MAGIC_LEN) != 0)
        return -1;
    memcpy(nonce, p + SL__SEAL_MAGIC_LEN, SL__SEAL_NONCE_LEN);
    return 0;
}

/* k = BLAKE2b-256(key = base, label || cn || sn). */
static void derive(uint8_t k[SL__SEAL_KEYBYTES], const uint8_t base[SL__SEAL_KEYBYTES],
                   const char label[3], const uint8_t *cn, const uint8_t *sn)
{
    uint8_t in[3 + 2 * SL__SEAL_NONCE_LEN];
    memcpy(in, label, 3);
    memcpy(in + 3, cn, SL__SEAL_NONCE_LEN);
    memcpy(in + 3 + SL__SEAL_NONCE_LEN, sn, SL__SEAL_NONCE_LEN);
    crypto_generichash(k, SL__SEAL_KEYBYTES, in, sizeof in, base, SL__SEAL_KEYBYTES);
}

void sl__seal_init(sl__seal *s, const uint8_t key[SL__SEAL_KEYBYTES],
                   const uint8_t cn[SL__SEAL_NONCE_LEN], const uint8_t sn[SL__SEAL_NONCE_LEN],
                   bool is_server)
{
    memset(s, 0, sizeof *s);
    derive(is_server ? s->k_recv : s->k_send, key, "c2s", cn, sn);
    derive(is_server ? s->k_send : s->k_recv, key, "s2c", cn, sn);
    s->d_send = is_server ? SL__SEAL_S2C : SL__SEAL_C2S;
    s->d_recv = is_server ? SL__SEAL_C2S : SL__SEAL_S2C;
}

static void make_nonce(uint8_t nonce[24], uint64_t ctr)
{
    memset(nonce, 0, 24);
    for (int i = 0; i < 8; i++)
        nonce[i] = (uint8_t)(ctr >> (8 * i));
}

static void make_ad(uint8_t ad[SL__SEAL_MAGIC_LEN + 1], uint8_t dir)
{
    memcpy(ad, SL__SEAL_MAGIC, SL__SEAL_MAGIC_LEN);
    ad[SL__SEAL_MAGIC_LEN] = dir;
}

long sl__seal_seal(sl__seal *s, const uint8_t *pt, size_t len, uint8_t *out, size_t cap)
{
    if (s->n_send == UINT64_MAX)
        return SL__SEAL_EWRAP;
    if (cap < SL__SEAL_ABYTES || len > cap - SL__SEAL_ABYTES)
        return SL__SEAL_ESIZE;
    uint8_t nonce[24], ad[SL__SEAL_MAGIC_LEN + 1];
    unsigned long long clen = 0;
    make_nonce(nonce, s->n_send);
    make_ad(ad, s->d_send);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, pt, len, ad, sizeof ad, NULL, nonce,
                                               s->k_send);
    s->n_send++;
    return (long)clen;
}

long sl__seal_open(sl__seal *s, const uint8_t *ct, size_t len, uint8_t *out, size_t cap)
{
    if (s->n_recv == UINT64_MAX)
        return SL__SEAL_EWRAP;
    if (len < SL__SEAL_ABYTES)
        return SL__SEAL_EOPEN;
    if (cap < len - SL__SEAL_ABYTES)
        return SL__SEAL_ESIZE;
    uint8_t nonce[24], ad[SL__SEAL_MAGIC_LEN + 1];
    unsigned long long mlen = 0;
    make_nonce(nonce, s->n_recv);
    make_ad(ad, s->d_recv);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, ct, len, ad, sizeof ad, nonce,
                                                   s->k_recv) != 0)
        return SL__SEAL_EOPEN;
    s->n_recv++;
    return (long)mlen;
}

size_t sl__seal_refusal(const char *reason, uint8_t *out)
{
    size_t n = strlen(reason);
    if (n > SL__SEAL_REASON_MAX)
        n = SL__SEAL_REASON_MAX;
    memcpy(out, SL__SEAL_REFUSAL, SL__SEAL_REFUSAL_LEN);
    memcpy(out + SL__SEAL_REFUSAL_LEN, reason, n);
    /* Never the length of a hello, which a refusal resembles when the hello's
     * nonce begins with '!': a reason of that length gets a trailing space. */
    if (SL__SEAL_REFUSAL_LEN + n == SL__SEAL_HELLO_LEN)
        out[SL__SEAL_REFUSAL_LEN + n++] = ' ';
    return SL__SEAL_REFUSAL_LEN + n;
}

bool sl__seal_is_refusal(const uint8_t *p, size_t n, char *reason, size_t cap)
{
    if (n < SL__SEAL_REFUSAL_LEN || memcmp(p, SL__SEAL_REFUSAL, SL__SEAL_REFUSAL_LEN) != 0)
        return false;
    size_t k = 0;
    for (size_t i = SL__SEAL_REFUSAL_LEN; i < n && k + 1 < cap; i++) {
        uint8_t ch = p[i];
        if (ch == '\n' || ch == '\r')
            break;
        reason[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    if (cap)
        reason[k] = 0;
    return true;
}

void sl__seal_wipe(sl__seal *s)
{
    sodium_memzero(s, sizeof *s);
}
