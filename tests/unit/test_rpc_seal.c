/* The sealed RPC channel (node/rpc/rpc_seal.c): the handshake and key
 * derivation pinned by a known answer, round trips both ways, and every way
 * a frame must fail to open: the wrong token, a flipped byte, a replayed or
 * reordered frame, a frame sent back to its sender, a cut frame, and a spent
 * counter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "rpc/rpc_seal.h"

#define TOKEN "correct horse battery staple"

/* A client and a server that shook hands with the given tokens. */
typedef struct pair {
    sl__seal client, server;
} pair;

static void handshake(pair *p, const char *client_token, const char *server_token)
{
    uint8_t ch[SL__SEAL_HELLO_LEN], sh[SL__SEAL_HELLO_LEN];
    uint8_t cn[SL__SEAL_NONCE_LEN], sn[SL__SEAL_NONCE_LEN];
    uint8_t cn_seen[SL__SEAL_NONCE_LEN], sn_seen[SL__SEAL_NONCE_LEN];
    uint8_t ck[SL__SEAL_KEYBYTES], sk[SL__SEAL_KEYBYTES];
    sl__seal_hello(ch, cn);
    sl__seal_hello(sh, sn);
    assert_int_equal(sl__seal_hello_parse(ch, sizeof ch, cn_seen), 0);
    assert_int_equal(sl__seal_hello_parse(sh, sizeof sh, sn_seen), 0);
    assert_memory_equal(cn, cn_seen, sizeof cn);
    sl__seal_token_key(client_token, strlen(client_token), ck);
    sl__seal_token_key(server_token, strlen(server_token), sk);
    sl__seal_init(&p->client, ck, cn, sn_seen, false);
    sl__seal_init(&p->server, sk, cn_seen, sn, true);
}

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

/* The derivation is the protocol: pinned by values computed apart, with
 * Python's hashlib.blake2b (digest_size=32, key=base). */
static void keys_known_answer(void **state)
{
    (void)state;
    static const char base_hex[] =
        "e3ac8aa053887b79a4a0972b8e51022aca2694d3b5a385e75d2eaa8f612fa3ae";
    static const char c2s_hex[] =
        "aec6d6a0f01ade22efc8d72586c6bfdcf2ffa6bcceed4e7792811ec868c3f757";
    static const char s2c_hex[] =
        "a0bed18c596b833be77274de5d74be17821ecc585a39d3ba4cf0242934791e50";
    uint8_t cn[32], sn[32], key[32];
    char hex[65];
    for (int i = 0; i < 32; i++) {
        cn[i] = (uint8_t)i;
        sn[i] = (uint8_t)(32 + i);
    }
    sl__seal_token_key(TOKEN, strlen(TOKEN), key);
    assert_string_equal(sodium_bin2hex(hex, sizeof hex, key, 32), base_hex);
    sl__seal s;
    sl__seal_init(&s, key, cn, sn, false);
    assert_string_equal(sodium_bin2hex(hex, sizeof hex, s.k_send, 32), c2s_hex);
    assert_string_equal(sodium_bin2hex(hex, sizeof hex, s.k_recv, 32), s2c_hex);
    assert_int_equal(s.n_send, 0);
    assert_int_equal(s.d_send, SL__SEAL_C2S);
    sl__seal_init(&s, key, cn, sn, true);
    assert_string_equal(sodium_bin2hex(hex, sizeof hex, s.k_send, 32), s2c_hex);
    assert_string_equal(sodium_bin2hex(hex, sizeof hex, s.k_recv, 32), c2s_hex);
    sl__seal_wipe(&s);
    assert_true(sodium_is_zero(s.k_send, 32) && sodium_is_zero(s.k_recv, 32));
}

static void hello_parse(void **state)
{
    (void)state;
    uint8_t h[SL__SEAL_HELLO_LEN + 1], nonce[32], seen[32];
    sl__seal_hello(h, nonce);
    assert_memory_equal(h, "SLRPC1", 6);
    assert_int_equal(sl__seal_hello_parse(h, SL__SEAL_HELLO_LEN, seen), 0);
    assert_memory_equal(seen, nonce, 32);
    assert_int_equal(sl__seal_hello_parse(h, SL__SEAL_HELLO_LEN - 1, seen), -1);
    assert_int_equal(sl__seal_hello_parse(h, SL__SEAL_HELLO_LEN + 1, seen), -1);
    h[5] = '2';
    assert_int_equal(sl__seal_hello_parse(h, SL__SEAL_HELLO_LEN, seen), -1);
    /* Two hellos never share a nonce. */
    uint8_t other[32];
    sl__seal_hello(h, other);
    assert_memory_not_equal(nonce, other, 32);
}

/* Seals msg from `from` and opens it at `to`; returns what open returned. */
static long transfer(sl__seal *from, sl__seal *to, const char *msg, char *got, size_t cap)
{
    uint8_t ct[256];
    long n = sl__seal_seal(from, (const uint8_t *)msg, strlen(msg), ct, sizeof ct);
    assert_int_equal(n, (long)strlen(msg) + SL__SEAL_ABYTES);
    long m = sl__seal_open(to, ct, (size_t)n, (uint8_t *)got, cap);
    if (m >= 0)
        got[m] = 0;
    return m;
}

static void round_trip_both_ways(void **state)
{
    (void)state;
    pair p;
    char got[256];
    handshake(&p, TOKEN, TOKEN);
    for (int i = 0; i < 5; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "request %d", i);
        assert_int_equal(transfer(&p.client, &p.server, msg, got, sizeof got), (long)strlen(msg));
        assert_string_equal(got, msg);
        snprintf(msg, sizeof msg, "reply %d, a little longer", i);
        assert_int_equal(transfer(&p.server, &p.client, msg, got, sizeof got), (long)strlen(msg));
        assert_string_equal(got, msg);
    }
    /* An empty payload is a valid frame too. */
    assert_int_equal(transfer(&p.client, &p.server, "", got, sizeof got), 0);
    assert_int_equal(p.client.n_send, 6);
    assert_int_equal(p.server.n_recv, 6);
    assert_int_equal(p.server.n_send, 5);
    /* The sealed bytes are not the plaintext. */
    uint8_t ct[64];
    long n = sl__seal_seal(&p.client, (const uint8_t *)"secret-secret", 13, ct, sizeof ct);
    assert_int_equal(n, 13 + SL__SEAL_ABYTES);
    assert_null(memmem(ct, (size_t)n, "secret", 6));
}

static void wrong_token_fails(void **state)
{
    (void)state;
    pair p;
    char got[256];
    handshake(&p, "not the right token at all", TOKEN);
    assert_int_equal(transfer(&p.client, &p.server, "deploy", got, sizeof got), SL__SEAL_EOPEN);
    handshake(&p, "", TOKEN); /* no token */
    assert_int_equal(transfer(&p.client, &p.server, "deploy", got, sizeof got), SL__SEAL_EOPEN);
    /* One byte more or less of the token is another token. */
    handshake(&p, TOKEN "x", TOKEN);
    assert_int_equal(transfer(&p.client, &p.server, "deploy", got, sizeof got), SL__SEAL_EOPEN);
    /* The same token in two handshakes gives other keys. */
    pair q;
    handshake(&p, TOKEN, TOKEN);
    handshake(&q, TOKEN, TOKEN);
    assert_memory_not_equal(p.client.k_send, q.client.k_send, 32);
    assert_int_equal(transfer(&p.client, &q.server, "deploy", got, sizeof got), SL__SEAL_EOPEN);
}

static void tampered_byte_fails(void **state)
{
    (void)state;
    const char *msg = "{\"command\":\"deploy\"}";
    size_t len = strlen(msg);
    uint8_t ct[128], bad[128], out[128];
    for (size_t i = 0; i < len + SL__SEAL_ABYTES; i++) {
        pair p;
        handshake(&p, TOKEN, TOKEN);
        long n = sl__seal_seal(&p.client, (const uint8_t *)msg, len, ct, sizeof ct);
        memcpy(bad, ct, (size_t)n);
        bad[i] ^= (uint8_t)(1u << (i % 8));
        assert_int_equal(sl__seal_open(&p.server, bad, (size_t)n, out, sizeof out), SL__SEAL_EOPEN);
        /* The failure consumed nothing: the genuine frame still opens. */
        assert_int_equal(sl__seal_open(&p.server, ct, (size_t)n, out, sizeof out), (long)len);
    }
    /* A frame sent back to its sender (other key, other direction byte). */
    pair p;
    handshake(&p, TOKEN, TOKEN);
    long n = sl__seal_seal(&p.client, (const uint8_t *)msg, len, ct, sizeof ct);
    assert_int_equal(sl__seal_open(&p.client, ct, (size_t)n, out, sizeof out), SL__SEAL_EOPEN);
}

static void replayed_or_reordered_fails(void **state)
{
    (void)state;
    pair p;
    handshake(&p, TOKEN, TOKEN);
    uint8_t f0[64], f1[64], out[64];
    long n0 = sl__seal_seal(&p.client, (const uint8_t *)"first", 5, f0, sizeof f0);
    long n1 = sl__seal_seal(&p.client, (const uint8_t *)"second", 6, f1, sizeof f1);
    /* The second frame first: it does not open where the first is due. */
    assert_int_equal(sl__seal_open(&p.server, f1, (size_t)n1, out, sizeof out), SL__SEAL_EOPEN);
    assert_int_equal(sl__seal_open(&p.server, f0, (size_t)n0, out, sizeof out), 5);
    /* The first again: a replay. */
    assert_int_equal(sl__seal_open(&p.server, f0, (size_t)n0, out, sizeof out), SL__SEAL_EOPEN);
    assert_int_equal(sl__seal_open(&p.server, f1, (size_t)n1, out, sizeof out), 6);
    assert_memory_equal(out, "second", 6);
    assert_int_equal(sl__seal_open(&p.server, f1, (size_t)n1, out, sizeof out), SL__SEAL_EOPEN);
    /* A frame dropped on the way: the next one does not open either. */
    uint8_t f2[64], f3[64];
    sl__seal_seal(&p.client, (const uint8_t *)"third", 5, f2, sizeof f2);
    long n3 = sl__seal_seal(&p.client, (const uint8_t *)"fourth", 6, f3, sizeof f3);
    assert_int_equal(sl__seal_open(&p.server, f3, (size_t)n3, out, sizeof out), SL__SEAL_EOPEN);
}

static void truncated_input_fails(void **state)
{
    (void)state;
    pair p;
    handshake(&p, TOKEN, TOKEN);
    uint8_t ct[64], out[64];
    long n = sl__seal_seal(&p.client, (const uint8_t *)"hello there", 11, ct, sizeof ct);
    for (long cut = 0; cut < n; cut++)
        assert_int_equal(sl__seal_open(&p.server, ct, (size_t)cut, out, sizeof out),
                         SL__SEAL_EOPEN);
    /* Too small an output buffer is its own error, and consumes nothing. */
    assert_int_equal(sl__seal_open(&p.server, ct, (size_t)n, out, 10), SL__SEAL_ESIZE);
    assert_int_equal(sl__seal_open(&p.server, ct, (size_t)n, out, sizeof out), 11);
    assert_int_equal(sl__seal_seal(&p.client, out, 11, ct, 11 + SL__SEAL_ABYTES - 1),
                     SL__SEAL_ESIZE);
    assert_int_equal(p.client.n_send, 1);
}

static void counter_wrap_closes(void **state)
{
    (void)state;
    pair p;
    handshake(&p, TOKEN, TOKEN);
    p.client.n_send = UINT64_MAX - 1;
    p.server.n_recv = UINT64_MAX - 1;
    uint8_t ct[64], out[64];
    /* The last counter is still used, on both ends... */
    long n = sl__seal_seal(&p.client, (const uint8_t *)"last", 4, ct, sizeof ct);
    assert_int_equal(n, 4 + SL__SEAL_ABYTES);
    assert_int_equal(sl__seal_open(&p.server, ct, (size_t)n, out, sizeof out), 4);
    /* ...then neither end goes on: the counter would wrap to 0. */
    assert_int_equal(sl__seal_seal(&p.client, (const uint8_t *)"more", 4, ct, sizeof ct),
                     SL__SEAL_EWRAP);
    assert_int_equal(p.client.n_send, UINT64_MAX);
    assert_int_equal(sl__seal_open(&p.server, ct, (size_t)n, out, sizeof out), SL__SEAL_EWRAP);
    /* The counter sits in the nonce's first 8 bytes, little-endian: a frame
     * sealed at counter 2^32 does not open at counter 0 or 1. */
    handshake(&p, TOKEN, TOKEN);
    p.client.n_send = 1ull << 32;
    n = sl__seal_seal(&p.client, (const uint8_t *)"high", 4, ct, sizeof ct);
    assert_int_equal(sl__seal_open(&p.server, ct, (size_t)n, out, sizeof out), SL__SEAL_EOPEN);
    p.server.n_recv = 1ull << 32;
    assert_int_equal(sl__seal_open(&p.server, ct, (size_t)n, out, sizeof out), 4);
}

static void refusal_frames(void **state)
{
    (void)state;
    uint8_t buf[SL__SEAL_REFUSAL_MAX];
    char reason[256];
    size_t n = sl__seal_refusal("wrong or missing RPC token", buf);
    assert_int_equal(n, 7 + 26);
    assert_true(sl__seal_is_refusal(buf, n, reason, sizeof reason));
    assert_string_equal(reason, "wrong or missing RPC token");
    /* A reason is one printable line; a long one is cut. */
    const uint8_t hostile[] = "SLRPC1!bad\x1b[31m\xc3\xa9 end\nsecond line";
    assert_true(sl__seal_is_refusal(hostile, sizeof hostile - 1, reason, sizeof reason));
    assert_string_equal(reason, "bad?[31m?? end");
    char longer[400];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    n = sl__seal_refusal(longer, buf);
    assert_int_equal(n, SL__SEAL_REFUSAL_LEN + SL__SEAL_REASON_MAX);
    assert_true(sl__seal_is_refusal(buf, n, reason, 8));
    assert_string_equal(reason, "xxxxxxx");
    /* A hello whose nonce begins with '!' looks like a refusal: so a refusal
     * is never as long as a hello, and a hello parses as one. */
    n = sl__seal_refusal("a reason of exactly 31 bytes...", buf);
    assert_int_not_equal(n, SL__SEAL_HELLO_LEN);
    assert_true(sl__seal_is_refusal(buf, n, reason, sizeof reason));
    assert_string_equal(reason, "a reason of exactly 31 bytes... ");
    uint8_t hello[SL__SEAL_HELLO_LEN], nonce[SL__SEAL_NONCE_LEN];
    sl__seal_hello(hello, nonce);
    hello[SL__SEAL_MAGIC_LEN] = '!';
    assert_int_equal(sl__seal_hello_parse(hello, sizeof hello, nonce), 0);
    assert_true(sl__seal_is_refusal(hello, sizeof hello, reason, sizeof reason));
    /* Anything else is not a refusal. */
    assert_false(sl__seal_is_refusal((const uint8_t *)"SLRPC1", 6, reason, sizeof reason));
    assert_false(sl__seal_is_refusal((const uint8_t *)"SLRPC1?x", 8, reason, sizeof reason));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_known_answer),     cmocka_unit_test(hello_parse),
        cmocka_unit_test(round_trip_both_ways),  cmocka_unit_test(wrong_token_fails),
        cmocka_unit_test(tampered_byte_fails),   cmocka_unit_test(replayed_or_reordered_fails),
        cmocka_unit_test(truncated_input_fails), cmocka_unit_test(counter_wrap_closes),
        cmocka_unit_test(refusal_frames),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
