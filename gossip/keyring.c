/* The keyring and sealing (see include/starling/keyring.h for the format).
 *
 * Why AEAD with random nonces. XChaCha20-Poly1305 takes a 192-bit nonce, so
 * nonces drawn at random never repeat in practice (the birthday bound is
 * 2^96 messages per key), and no counter has to survive restarts or be
 * shared between the agents that hold the same key. The associated data
 * binds a sealed message to its version, its domain (datagram or state) and
 * the cluster label, all sent in the clear or implied.
 *
 * Why try every key. During a rotation, peers seal with the old or the new
 * primary for a while; a receiver that holds both opens either. The primary
 * is tried first because nearly every message is sealed with it, so an
 * opening costs one Poly1305 verification in the steady state and at most
 * SL_KEYRING_MAX for a message no key opens. */
#include <sodium.h>
#include <string.h>

#include "starling/error.h"
#include "starling/keyring.h"
#include "starling/swim.h"

void sl_keyring_init(sl_keyring *kr)
{
    memset(kr, 0, sizeof *kr);
}

void sl_keyring_wipe(sl_keyring *kr)
{
    sodium_memzero(kr, sizeof *kr);
}

int sl_keyring_find(const sl_keyring *kr, const uint8_t key[SL_KEY_BYTES])
{
    for (uint32_t i = 0; i < kr->n; i++)
        if (sodium_memcmp(kr->key[i], key, SL_KEY_BYTES) == 0)
            return (int)i;
    return -1;
}

int sl_keyring_install(sl_keyring *kr, const uint8_t key[SL_KEY_BYTES])
{
    if (sl_keyring_find(kr, key) >= 0)
        return 0;
    if (kr->n == SL_KEYRING_MAX)
        return SL_EFULL;
    memcpy(kr->key[kr->n++], key, SL_KEY_BYTES);
    return 1;
}

int sl_keyring_use(sl_keyring *kr, const uint8_t key[SL_KEY_BYTES])
{
    int i = sl_keyring_find(kr, key);
    if (i < 0)
        return SL_ENOTFOUND;
    uint8_t tmp[SL_KEY_BYTES];
    memcpy(tmp, kr->key[0], SL_KEY_BYTES);
    memcpy(kr->key[0], kr->key[i], SL_KEY_BYTES);
    memcpy(kr->key[i], tmp, SL_KEY_BYTES);
    sodium_memzero(tmp, sizeof tmp);
    return 0;
}

int sl_keyring_remove(sl_keyring *kr, const uint8_t key[SL_KEY_BYTES])
{
    int i = sl_keyring_find(kr, key);
    if (i < 0)
        return SL_ENOTFOUND;
    if (i == 0)
        return SL_ESTATE;
    memmove(kr->key[i], kr->key[i + 1], (kr->n - (uint32_t)i - 1) * SL_KEY_BYTES);
    kr->n--;
    sodium_memzero(kr->key[kr->n], SL_KEY_BYTES);
    return 0;
}

int sl_key_decode(const char *text, uint8_t key[SL_KEY_BYTES])
{
    size_t got = 0;
    const char *end = NULL;
    uint8_t buf[SL_KEY_BYTES + 4];
    if (!text ||
        sodium_base642bin(buf, sizeof buf, text, strlen(text), NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != SL_KEY_BYTES || (end && *end)) {
        sodium_memzero(buf, sizeof buf);
        return SL_EINVAL;
    }
    memcpy(key, buf, SL_KEY_BYTES);
    sodium_memzero(buf, sizeof buf);
    return 0;
}

char *sl_key_encode(const uint8_t key[SL_KEY_BYTES], char *out, size_t cap)
{
    if (cap < SL_KEY_B64_LEN) {
        if (cap)
            out[0] = 0;
        return out;
    }
    return sodium_bin2base64(out, cap, key, SL_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
}

bool sl_is_sealed(const uint8_t *buf, size_t len)
{
    return len >= 1 && buf[0] == SL_SEAL_VERSION;
}

/* The associated data: version, domain, cluster label. */
static size_t make_ad(uint8_t *ad, uint8_t domain, const char *cluster)
{
    size_t cl = cluster ? strlen(cluster) : 0;
    if (cl > SL_SWIM_CLUSTER_MAX)
        cl = SL_SWIM_CLUSTER_MAX;
    ad[0] = SL_SEAL_VERSION;
    ad[1] = domain;
    if (cl)
        memcpy(ad + 2, cluster, cl);
    return 2 + cl;
}

int sl_seal(const sl_keyring *kr, uint8_t domain, const char *cluster,
            const uint8_t nonce[SL_SEAL_NONCE], const uint8_t *plain, size_t len, uint8_t *out,
            size_t cap)
{
    if (!kr || kr->n == 0)
        return SL_ESTATE;
    if (cap < SL_SEAL_OVERHEAD || len > cap - SL_SEAL_OVERHEAD || len > INT32_MAX)
        return SL_ESPACE;
    uint8_t ad[2 + SL_SWIM_CLUSTER_MAX];
    size_t adlen = make_ad(ad, domain, cluster);
    out[0] = SL_SEAL_VERSION;
    memcpy(out + 1, nonce, SL_SEAL_NONCE);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + SL_SEAL_NONCE, &clen, plain, len, ad,
                                               adlen, NULL, nonce, kr->key[0]);
    return (int)(1 + SL_SEAL_NONCE + clen);
}

int sl_open(const sl_keyring *kr, uint8_t domain, const char *cluster, const uint8_t *in,
            size_t len, uint8_t *out, size_t cap)
{
    if (!kr || kr->n == 0)
        return SL_ESTATE;
    if (len < SL_SEAL_OVERHEAD || in[0] != SL_SEAL_VERSION || len > INT32_MAX)
        return SL_EMALFORMED;
    if (cap < len - SL_SEAL_OVERHEAD)
        return SL_ESPACE;
    uint8_t ad[2 + SL_SWIM_CLUSTER_MAX];
    size_t adlen = make_ad(ad, domain, cluster);
    const uint8_t *nonce = in + 1, *c = in + 1 + SL_SEAL_NONCE;
    size_t clen = len - 1 - SL_SEAL_NONCE;
    for (uint32_t i = 0; i < kr->n; i++) {
        unsigned long long plen = 0;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, c, clen, ad, adlen, nonce,
                                                       kr->key[i]) == 0)
            return (int)plen;
    }
    return SL_EAUTH;
}
