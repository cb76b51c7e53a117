/* The cluster keyring and the sealing of gossip traffic.
 *
 * Every datagram and every push-pull state between peers can be sealed with
 * XChaCha20-Poly1305 (libsodium's crypto_aead_xchacha20poly1305_ietf) under
 * a shared cluster key. A keyring holds up to SL_KEYRING_MAX keys: the
 * primary one seals, every installed one opens, so that a key can be rotated
 * on a running cluster (install the new key everywhere, use it, remove the
 * old one), as Serf's keyring does.
 *
 * A sealed message is
 *
 *   0x81  nonce[24]  ciphertext  tag[16]
 *
 * with the associated data 0x81, a domain byte (SL_SEAL_PACKET for a
 * datagram, SL_SEAL_STATE for a push-pull state) and the cluster label, so
 * that a sealed datagram cannot be replayed as a state, nor traffic of one
 * cluster label in another. The nonce comes from the caller (the SWIM core
 * asks its driver for random bytes): nothing here draws randomness or reads
 * a clock. Sans-IO, like the rest of gossip/.
 *
 * Memory: an sl_keyring is a plain value the caller owns (init, then install
 * / use / remove); the SWIM core borrows a pointer to it and reads it on
 * every packet, so a change applies to the next packet. */
#ifndef STARLING_KEYRING_H
#define STARLING_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_KEY_BYTES 32   /* a cluster key */
#define SL_KEY_B64_LEN 45 /* its standard base64 text with the terminator */
#define SL_KEYRING_MAX 16 /* keys held at most */
#define SL_SEAL_VERSION 0x81
#define SL_SEAL_NONCE 24
#define SL_SEAL_OVERHEAD (1 + SL_SEAL_NONCE + 16) /* bytes a seal adds */

/* Domains of sealed messages (associated data). Wire values: append only. */
enum { SL_SEAL_PACKET = 1, SL_SEAL_STATE = 2 };

typedef struct sl_keyring {
    uint8_t key[SL_KEYRING_MAX][SL_KEY_BYTES]; /* key[0] is the primary */
    uint32_t n;                                /* keys installed */
} sl_keyring;

/* Empties the keyring (no key: nothing is sealed). */
void sl_keyring_init(sl_keyring *kr);

/* Wipes the keys from memory (sodium_memzero) and empties the keyring. */
void sl_keyring_wipe(sl_keyring *kr);

/* Installs key (copied). The first key installed becomes the primary.
 * Returns 1 when added, 0 when it was already installed, or SL_EFULL. */
int sl_keyring_install(sl_keyring *kr, const uint8_t key[SL_KEY_BYTES]);

/* Makes an installed key the primary (the one that seals). Returns 0 or
 * SL_ENOTFOUND. */
int sl_keyring_use(sl_keyring *kr, const uint8_t key[SL_KEY_BYTES]);

/* Removes an installed key. The primary cannot be removed: use another key
 * first. Returns 0, SL_ENOTFOUND or SL_ESTATE (it is the primary). */
int sl_keyring_remove(sl_keyring *kr, const uint8_t key[SL_KEY_BYTES]);

/* Returns the position of key in the keyring (0 is the primary), or -1. */
int sl_keyring_find(const sl_keyring *kr, const uint8_t key[SL_KEY_BYTES]);

/* Decodes a key from its standard base64 text (44 characters, as `starling
 * keygen` prints). Returns 0 or SL_EINVAL. */
int sl_key_decode(const char *text, uint8_t key[SL_KEY_BYTES]);

/* Encodes a key as standard base64 into out (at least SL_KEY_B64_LEN bytes)
 * and returns out. */
char *sl_key_encode(const uint8_t key[SL_KEY_BYTES], char *out, size_t cap);

/* Seals plain[0..len) with the primary key into out (capacity cap, at least
 * len + SL_SEAL_OVERHEAD). nonce: SL_SEAL_NONCE fresh random bytes. Returns
 * the sealed length, SL_ESTATE (no key) or SL_ESPACE. */
int sl_seal(const sl_keyring *kr, uint8_t domain, const char *cluster,
            const uint8_t nonce[SL_SEAL_NONCE], const uint8_t *plain, size_t len, uint8_t *out,
            size_t cap);

/* Opens a sealed message with the primary key, then every other installed
 * key, writing the plaintext into out (capacity cap, at least
 * len - SL_SEAL_OVERHEAD). Returns the plaintext length, SL_EMALFORMED (too
 * short, or not a sealed message), SL_EAUTH (no installed key opens it, or it
 * was tampered with), SL_ESTATE (no key) or SL_ESPACE. */
int sl_open(const sl_keyring *kr, uint8_t domain, const char *cluster, const uint8_t *in,
            size_t len, uint8_t *out, size_t cap);

/* Returns true when buf starts like a sealed message. */
bool sl_is_sealed(const uint8_t *buf, size_t len);

#endif
