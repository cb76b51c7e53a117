/* Internal: the sealed RPC channel, protocol v1 (see rpc_seal.c for the
 * protocol and why it is built this way).
 *
 * Both ends hold the token. After a plain handshake of two nonces, every
 * frame's payload is sealed with XChaCha20-Poly1305 under a key per
 * direction, with a message counter as nonce. This file knows bytes only:
 * no sockets, no clock, no files; the randomness for the handshake comes
 * from libsodium's generator. */
#ifndef STARLING_NODE_RPC_SEAL_H
#define STARLING_NODE_RPC_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The handshake: the 6-byte magic then a 32-byte nonce, one frame each way. */
#define SL__SEAL_MAGIC "SLRPC1"
#define SL__SEAL_MAGIC_LEN 6
#define SL__SEAL_NONCE_LEN 32
#define SL__SEAL_HELLO_LEN (SL__SEAL_MAGIC_LEN + SL__SEAL_NONCE_LEN)

/* The refusal: one plain frame "SLRPC1!" then a one-line UTF-8 reason. */
#define SL__SEAL_REFUSAL "SLRPC1!"
#define SL__SEAL_REFUSAL_LEN 7
#define SL__SEAL_REASON_MAX 200
#define SL__SEAL_REFUSAL_MAX (SL__SEAL_REFUSAL_LEN + SL__SEAL_REASON_MAX + 1)

/* Bytes a sealed payload adds to its plaintext (the Poly1305 tag). */
#define SL__SEAL_ABYTES 16
#define SL__SEAL_KEYBYTES 32

/* The direction bytes that end the associated data. */
enum { SL__SEAL_C2S = 1, SL__SEAL_S2C = 2 };

/* Error codes. */
enum {
    SL__SEAL_EOPEN = -1, /* does not open: wrong key, tampered, replayed, reordered, cut */
    SL__SEAL_EWRAP = -2, /* the direction's counter is spent: close the connection */
    SL__SEAL_ESIZE = -3, /* the output buffer is too small */
};

/* One end of a sealed connection: the two directional keys and counters.
 * A plain value; wipe it with sl__seal_wipe() when the connection ends. */
typedef struct sl__seal {
    uint8_t k_send[SL__SEAL_KEYBYTES], k_recv[SL__SEAL_KEYBYTES];
    uint64_t n_send, n_recv; /* the next counter of each direction */
    uint8_t d_send, d_recv;  /* SL__SEAL_C2S or SL__SEAL_S2C */
} sl__seal;

/* Derives the base key from a token (len bytes, any content): BLAKE2b-256 of
 * "starling-rpc-token-v1" || token, into key (caller's buffer). The token
 * itself need not be kept after this. */
void sl__seal_token_key(const void *token, size_t len, uint8_t key[SL__SEAL_KEYBYTES]);

/* Writes a hello (magic and a fresh random nonce) into out, and the nonce
 * into nonce, for the other side's sl__seal_init. Both buffers are the
 * caller's. */
void sl__seal_hello(uint8_t out[SL__SEAL_HELLO_LEN], uint8_t nonce[SL__SEAL_NONCE_LEN]);

/* Checks that p[0..n) is a hello and copies its nonce into nonce. Returns 0,
 * or -1 when it is not exactly a v1 hello. */
int sl__seal_hello_parse(const uint8_t *p, size_t n, uint8_t nonce[SL__SEAL_NONCE_LEN]);

/* Derives both directional keys from the base key and the two nonces (cn
 * the client's, sn the server's) and sets both counters to 0. is_server
 * picks which key seals and which opens. Fills *s (caller's memory). */
void sl__seal_init(sl__seal *s, const uint8_t key[SL__SEAL_KEYBYTES],
                   const uint8_t cn[SL__SEAL_NONCE_LEN], const uint8_t sn[SL__SEAL_NONCE_LEN],
                   bool is_server);

/* Seals pt[0..len) into out (capacity cap, at least len + SL__SEAL_ABYTES;
 * out must not overlap pt) under the next send counter, which it consumes.
 * Returns the sealed length, SL__SEAL_ESIZE, or SL__SEAL_EWRAP when the
 * counter is spent (nothing is written then: close the connection). */
long sl__seal_seal(sl__seal *s, const uint8_t *pt, size_t len, uint8_t *out, size_t cap);

/* Opens ct[0..len) into out (capacity cap, at least len - SL__SEAL_ABYTES;
 * out must not overlap ct) under the next receive counter, consumed only on
 * success. Returns the plaintext length, SL__SEAL_EOPEN (wrong key,
 * tampered, replayed, reordered or truncated), SL__SEAL_ESIZE, or
 * SL__SEAL_EWRAP when the counter is spent. */
long sl__seal_open(sl__seal *s, const uint8_t *ct, size_t len, uint8_t *out, size_t cap);

/* Writes a refusal frame payload ("SLRPC1!" and reason, cut to
 * SL__SEAL_REASON_MAX bytes) into out (capacity at least
 * SL__SEAL_REFUSAL_MAX). Returns its length, never SL__SEAL_HELLO_LEN (see
 * rpc_seal.c). */
size_t sl__seal_refusal(const char *reason, uint8_t *out);

/* Checks whether p[0..n) is a refusal; if so copies its reason into reason
 * (capacity cap, NUL-terminated, cut at the first line end, every byte
 * outside printable ASCII shown as '?' so that a hostile agent cannot send
 * terminal escapes). Returns true for a refusal. */
bool sl__seal_is_refusal(const uint8_t *p, size_t n, char *reason, size_t cap);

/* Erases the keys in *s. */
void sl__seal_wipe(sl__seal *s);

#endif
