/* Sealed gossip: the keyring, the seal itself, and cores that hold different
 * keys, on the fake world. Also the incarnation limits that keep a forged
 * incarnation from silencing a member for good. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../sim/world.h"
#include "starling/error.h"
#include "starling/keyring.h"
#include "starling/swim.h"
#include "../../gossip/wire.h"

static void key_of(uint8_t key[SL_KEY_BYTES], uint8_t fill)
{
    memset(key, fill, SL_KEY_BYTES);
    key[0] = 0x5a;
}

static void keyring_install_use_remove(void **state)
{
    (void)state;
    sl_keyring kr;
    uint8_t a[SL_KEY_BYTES], b[SL_KEY_BYTES], c[SL_KEY_BYTES];
    key_of(a, 1);
    key_of(b, 2);
    key_of(c, 3);
    sl_keyring_init(&kr);
    assert_int_equal(sl_keyring_install(&kr, a), 1);
    assert_int_equal(sl_keyring_install(&kr, a), 0); /* already there */
    assert_int_equal(sl_keyring_install(&kr, b), 1);
    assert_int_equal(sl_keyring_find(&kr, a), 0); /* the first key is the primary */
    assert_int_equal(sl_keyring_remove(&kr, a), SL_ESTATE);
    assert_int_equal(sl_keyring_use(&kr, c), SL_ENOTFOUND);
    assert_int_equal(sl_keyring_use(&kr, b), 0);
    assert_int_equal(sl_keyring_find(&kr, b), 0);
    assert_int_equal(sl_keyring_remove(&kr, a), 0);
    assert_int_equal(sl_keyring_remove(&kr, a), SL_ENOTFOUND);
    assert_int_equal(kr.n, 1);
    for (int i = 0; i < SL_KEYRING_MAX - 1; i++) {
        key_of(c, (uint8_t)(10 + i));
        assert_int_equal(sl_keyring_install(&kr, c), 1);
    }
    key_of(c, 99);
    assert_int_equal(sl_keyring_install(&kr, c), SL_EFULL);
    sl_keyring_wipe(&kr);
    assert_int_equal(kr.n, 0);
}

static void key_text_round_trip(void **state)
{
    (void)state;
    uint8_t k[SL_KEY_BYTES], back[SL_KEY_BYTES];
    char text[SL_KEY_B64_LEN];
    key_of(k, 7);
    sl_key_encode(k, text, sizeof text);
    assert_int_equal(strlen(text), 44);
    assert_int_equal(sl_key_decode(text, back), 0);
    assert_memory_equal(k, back, SL_KEY_BYTES);
    assert_int_equal(sl_key_decode("c2hvcnQ=", back), SL_EINVAL); /* 5 bytes */
    assert_int_equal(sl_key_decode("not base64!", back), SL_EINVAL);
    text[43] = '#';
    assert_int_equal(sl_key_decode(text, back), SL_EINVAL);
    assert_int_equal(sl_key_decode("", back), SL_EINVAL);
}

static void seal_open_and_refuse(void **state)
{
    (void)state;
    sl_keyring kr, other, both;
    uint8_t a[SL_KEY_BYTES], b[SL_KEY_BYTES], nonce[SL_SEAL_NONCE];
    key_of(a, 1);
    key_of(b, 2);
    memset(nonce, 0x42, sizeof nonce);
    sl_keyring_init(&kr);
    sl_keyring_init(&other);
    sl_keyring_init(&both);
    sl_keyring_install(&kr, a);
    sl_keyring_install(&other, b);
    sl_keyring_install(&both, b);
    sl_keyring_install(&both, a);
    const uint8_t msg[] = "\x01\x00hello";
    uint8_t sealed[128], plain[128];
    int n = sl_seal(&kr, SL_SEAL_PACKET, "prod", nonce, msg, sizeof msg, sealed, sizeof sealed);
    assert_int_equal(n, (int)sizeof msg + SL_SEAL_OVERHEAD);
    assert_true(sl_is_sealed(sealed, (size_t)n));
    int p = sl_open(&kr, SL_SEAL_PACKET, "prod", sealed, (size_t)n, plain, sizeof plain);
    assert_int_equal(p, (int)sizeof msg);
    assert_memory_equal(plain, msg, sizeof msg);
    /* A secondary key opens too: what a rotation relies on. */
    assert_int_equal(sl_open(&both, SL_SEAL_PACKET, "prod", sealed, (size_t)n, plain, sizeof plain),
                     (int)sizeof msg);
    assert_int_equal(
        sl_open(&other, SL_SEAL_PACKET, "prod", sealed, (size_t)n, plain, sizeof plain), SL_EAUTH);
    /* Bound to its domain and cluster label. */
    assert_int_equal(sl_open(&kr, SL_SEAL_STATE, "prod", sealed, (size_t)n, plain, sizeof plain),
                     SL_EAUTH);
    assert_int_equal(sl_open(&kr, SL_SEAL_PACKET, "dev", sealed, (size_t)n, plain, sizeof plain),
                     SL_EAUTH);
    for (int i = 1; i < n; i++) { /* any flipped byte: nonce, ciphertext, tag */
        sealed[i] ^= 0x01;
        assert_int_equal(
            sl_open(&kr, SL_SEAL_PACKET, "prod", sealed, (size_t)n, plain, sizeof plain), SL_EAUTH);
        sealed[i] ^= 0x01;
    }
    assert_int_equal(
        sl_open(&kr, SL_SEAL_PACKET, "prod", sealed, SL_SEAL_OVERHEAD - 1, plain, sizeof plain),
        SL_EMALFORMED);
    assert_int_equal(sl_open(&kr, SL_SEAL_PACKET, "prod", msg, sizeof msg, plain, sizeof plain),
                     SL_EMALFORMED);
    sl_keyring empty;
    sl_keyring_init(&empty);
    assert_int_equal(sl_seal(&empty, SL_SEAL_PACKET, "", nonce, msg, 4, sealed, sizeof sealed),
                     SL_ESTATE);
    assert_int_equal(sl_seal(&kr, SL_SEAL_PACKET, "", nonce, msg, sizeof msg, sealed, 20),
                     SL_ESPACE);
}

/* ---- cores that hold different keys, on the fake world ---- */

static sl_world *sealed_world(uint64_t seed)
{
    sl_world_config cfg = {.seed = seed, .latency_us = 1000, .jitter_us = 500, .sealed = true};
    assert_int_equal(sl_swim_profile("lan", &cfg.timing), 0);
    sl_world *w = sl_world_new(&cfg);
    assert_non_null(w);
    return w;
}

static bool all_alive(sl_world *w, void *ud)
{
    int n = *(int *)ud;
    for (int i = 0; i < n; i++)
        if (!sl_world_all_see(w, sl_world_name(w, i), SL_MEMBER_ALIVE))
            return false;
    return true;
}

static void counts_events(void *ud, int node, uint64_t now_ms, const sl_swim_event *ev)
{
    (void)node;
    (void)now_ms;
    uint64_t *failed = ud;
    if (ev->type == SL_EVENT_FAILED || ev->type == SL_EVENT_SUSPECT)
        (*failed)++;
}

/* A sealed world of n nodes n0..n(n-1), joined through n0 and converged. */
static sl_world *sealed_cluster(uint64_t seed, int n)
{
    sl_world *w = sealed_world(seed);
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(sl_world_add_node(w, name, NULL, 0, i ? 0 : -1), i);
    }
    assert_true(sl_world_run_until_pred(w, all_alive, &n, 20000));
    return w;
}

static uint64_t drops(sl_world *w, int n, sl_swim_drop d)
{
    uint64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += sl_swim_get_stats(sl_world_core(w, i))->drops[d];
    return sum;
}

/* A node with another key, and one with none, try to join a sealed cluster:
 * neither gets in, neither learns a member, and every try is counted. */
static void strangers_never_join(void **state)
{
    (void)state;
    int n = 4;
    sl_world *w = sealed_cluster(3, n);
    sl_keyring wrong;
    uint8_t k[SL_KEY_BYTES];
    key_of(k, 66);
    sl_keyring_init(&wrong);
    sl_keyring_install(&wrong, k);
    int keyed = sl_world_add_node_keyed(w, "intruder-keyed", NULL, 0, 0, &wrong);
    int plain = sl_world_add_node_keyed(w, "intruder-plain", NULL, 0, 1, NULL);
    assert_true(keyed > 0 && plain > 0);
    sl_world_run_until(w, sl_world_now(w) + 60000);
    for (int i = 0; i < n; i++) {
        sl_member_state st;
        assert_int_equal(sl_world_state_of(w, i, "intruder-keyed", &st), SL_ENOTFOUND);
        assert_int_equal(sl_world_state_of(w, i, "intruder-plain", &st), SL_ENOTFOUND);
        assert_int_equal(sl_swim_size(sl_world_core(w, i)), (size_t)n);
    }
    assert_int_equal(sl_swim_size(sl_world_core(w, keyed)), 1);
    assert_int_equal(sl_swim_size(sl_world_core(w, plain)), 1);
    assert_true(drops(w, n, SL_DROP_KEY) > 0);      /* the wrong key */
    assert_true(drops(w, n, SL_DROP_UNSEALED) > 0); /* no key at all */
    /* Nothing at all was sent to them: their join states did not open, so no
     * member replied, and none learnt of them to probe or gossip to. */
    assert_int_equal(sl_swim_get_stats(sl_world_core(w, keyed))->packets_in, 0);
    assert_int_equal(sl_swim_get_stats(sl_world_core(w, plain))->packets_in, 0);
    sl_world_free(w);
}

/* A full rotation while the cluster runs: install the new key everywhere,
 * use it, remove the old one. No member is ever suspected. */
static void rotation_causes_no_false_failure(void **state)
{
    (void)state;
    uint64_t bad = 0;
    int n = 8;
    sl_world *w = sealed_cluster(5, n);
    sl_world_on_event(w, counts_events, &bad);
    uint8_t fresh[SL_KEY_BYTES], old[SL_KEY_BYTES];
    key_of(fresh, 77);
    memcpy(old, sl_world_keyring(w, 0)->key[0], SL_KEY_BYTES);
    for (int i = 0; i < n; i++) {
        assert_int_equal(sl_keyring_install(sl_world_keyring(w, i), fresh), 1);
        sl_world_run_until(w, sl_world_now(w) + 700); /* peers change one at a time */
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(sl_keyring_use(sl_world_keyring(w, i), fresh), 0);
        sl_world_run_until(w, sl_world_now(w) + 700);
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(sl_keyring_remove(sl_world_keyring(w, i), old), 0);
        sl_world_run_until(w, sl_world_now(w) + 700);
    }
    sl_world_run_until(w, sl_world_now(w) + 60000);
    assert_int_equal(bad, 0);
    assert_true(all_alive(w, &n));
    assert_int_equal(drops(w, n, SL_DROP_KEY), 0);
    sl_world_free(w);
}

/* Using a key before every peer holds it is what an operator must not do:
 * the peers without it cannot hear the one that uses it. The test shows the
 * failure the ordering prevents, so that it cannot silently stop mattering. */
static void using_a_key_not_installed_everywhere_splits(void **state)
{
    (void)state;
    int n = 3;
    sl_world *w = sealed_cluster(6, n);
    uint8_t fresh[SL_KEY_BYTES];
    key_of(fresh, 78);
    sl_keyring_install(sl_world_keyring(w, 2), fresh);
    sl_keyring_use(sl_world_keyring(w, 2), fresh);
    sl_world_run_until(w, sl_world_now(w) + 60000);
    sl_member_state st;
    assert_int_equal(sl_world_state_of(w, 0, "n2", &st), 0);
    assert_int_not_equal(st, SL_MEMBER_ALIVE);
    assert_true(drops(w, 2, SL_DROP_KEY) > 0);
    sl_world_free(w);
}

/* ---- incarnations that cannot wrap ---- */

typedef struct sent {
    int packets;
    int pushpulls; /* push-pulls the core asked for */
} sent;

static void count_pushpull(void *ud, const sl_addr *to, const char *name)
{
    (void)to;
    (void)name;
    ((sent *)ud)->pushpulls++;
}

static void fixed_entropy(void *ud, uint8_t *buf, size_t len)
{
    (void)ud;
    memset(buf, 7, len); /* a test: never do this for real */
}

static void count_send(void *ud, const sl_addr *to, const uint8_t *buf, size_t len)
{
    (void)to;
    (void)buf;
    (void)len;
    ((sent *)ud)->packets++;
}

static sl_swim *lone_core(sent *out)
{
    sl_swim_config cfg = {.name = "self",
                          .addr = sl_addr_v4(127, 0, 0, 1, 7946),
                          .generation = 5,
                          .seed = 1,
                          .cb = {.send = count_send, .ud = out}};
    assert_int_equal(sl_swim_profile("lan", &cfg.timing), 0);
    sl_swim *s;
    assert_int_equal(sl_swim_new(&cfg, 0, &s), 0);
    return s;
}

/* Feeds the core an ALIVE about itself at incarnation (gen, ctr). */
static void alive_about_self(sl_swim *s, uint32_t gen, uint32_t ctr)
{
    uint8_t pkt[256];
    int h = sl_wire_put_header(pkt, sizeof pkt, "");
    sl_msg m = {.type = SL_MSG_ALIVE,
                .name = "self",
                .name_len = 4,
                .addr = sl_addr_v4(127, 0, 0, 1, 7946),
                .inc = {gen, ctr}};
    int n = sl_wire_put_msg(pkt + h, sizeof pkt - (size_t)h, &m);
    assert_true(h > 0 && n > 0);
    sl_addr from = sl_addr_v4(127, 0, 0, 2, 7946);
    sl_swim_recv(s, &from, pkt, (size_t)(h + n), 1000);
}

static void refutation_moves_to_a_new_generation(void **state)
{
    (void)state;
    sent out = {0};
    sl_swim *s = lone_core(&out);
    alive_about_self(s, 5, UINT32_MAX); /* a counter at its end */
    sl_incarnation inc = sl_swim_incarnation(s);
    assert_int_equal(inc.gen, 6);
    assert_int_equal(inc.ctr, 0);
    /* The top generation is never believed, so it can always be refuted. */
    alive_about_self(s, UINT32_MAX, UINT32_MAX);
    assert_int_equal(sl_swim_get_stats(s)->drops[SL_DROP_FUTURE], 1);
    assert_int_equal(sl_swim_incarnation(s).gen, 6);
    sl_swim_free(s);
}

static void generation_limit_bounds_forgeries(void **state)
{
    (void)state;
    sent out = {0};
    sl_swim *s = lone_core(&out);
    sl_swim_set_gen_limit(s, 100);
    alive_about_self(s, 101, 0); /* past the limit: not believed */
    assert_int_equal(sl_swim_get_stats(s)->drops[SL_DROP_FUTURE], 1);
    assert_int_equal(sl_swim_incarnation(s).gen, 5);
    /* At the limit with the counter exhausted: no refutation fits yet, and
     * the attempt leaves our incarnation as it was... */
    alive_about_self(s, 100, UINT32_MAX);
    assert_int_equal(sl_swim_get_stats(s)->incarnation_exhausted, 1);
    assert_int_equal(sl_swim_incarnation(s).gen, 5);
    /* ...so that once the limit has moved on (the agent's clock), the same
     * news is refuted. */
    sl_swim_set_gen_limit(s, 101);
    alive_about_self(s, 100, UINT32_MAX);
    sl_incarnation inc = sl_swim_incarnation(s);
    assert_int_equal(inc.gen, 101);
    assert_int_equal(inc.ctr, 0);
    sl_swim_free(s);
}

/* A ping from a sender we never heard of used to make the core push its
 * whole state to the address the ping named: an amplifier for anyone. Now
 * only with sealed traffic, where the sender holds the cluster key. */
static void no_pushpull_towards_strangers(void **state)
{
    (void)state;
    sl_keyring kr;
    uint8_t k[SL_KEY_BYTES];
    key_of(k, 5);
    sl_keyring_init(&kr);
    sl_keyring_install(&kr, k);
    for (int sealed = 0; sealed < 2; sealed++) {
        sent out = {0};
        sl_swim_config cfg = {.name = "self",
                              .addr = sl_addr_v4(127, 0, 0, 1, 7946),
                              .generation = 1,
                              .seed = 3,
                              .keyring = sealed ? &kr : NULL,
                              .cb = {.send = count_send,
                                     .pushpull = count_pushpull,
                                     .entropy = fixed_entropy,
                                     .ud = &out}};
        assert_int_equal(sl_swim_profile("lan", &cfg.timing), 0);
        sl_swim *s;
        assert_int_equal(sl_swim_new(&cfg, 0, &s), 0);
        uint8_t pkt[256], box[512];
        int h = sl_wire_put_header(pkt, sizeof pkt, "");
        sl_msg ping = {.type = SL_MSG_PING,
                       .seq = 1,
                       .name = "self",
                       .name_len = 4,
                       .from = "stranger",
                       .from_len = 8,
                       .addr = sl_addr_v4(10, 1, 2, 3, 7946)};
        int n = h + sl_wire_put_msg(pkt + h, sizeof pkt - (size_t)h, &ping);
        const uint8_t *in = pkt;
        if (sealed) {
            uint8_t nonce[SL_SEAL_NONCE] = {1};
            n = sl_seal(&kr, SL_SEAL_PACKET, "", nonce, pkt, (size_t)n, box, sizeof box);
            in = box;
        }
        sl_addr from = sl_addr_v4(127, 0, 0, 9, 7946);
        sl_swim_recv(s, &from, in, (size_t)n, 5000);
        assert_int_equal(out.packets, 1); /* the ack */
        assert_int_equal(out.pushpulls, sealed ? 1 : 0);
        sl_swim_free(s);
    }
}

/* ---- limits: a state or a stream of news cannot grow the member table
 * past max_members ---- */

static void member_limit_holds(void **state)
{
    (void)state;
    sl_world *w = sealed_cluster(9, 6);
    uint8_t *st;
    size_t len;
    assert_int_equal(sl_swim_encode_state(sl_world_core(w, 0), false, &st, &len), 0);
    sent out = {0};
    sl_swim_config cfg = {.name = "small",
                          .addr = sl_addr_v4(127, 9, 9, 9, 7946),
                          .generation = 1,
                          .seed = 2,
                          .max_members = 4,
                          .keyring = sl_world_keyring(w, 0),
                          .cb = {.send = count_send, .entropy = NULL, .ud = &out}};
    assert_int_equal(sl_swim_profile("lan", &cfg.timing), 0);
    sl_swim *s;
    assert_int_equal(sl_swim_new(&cfg, 0, &s), SL_EINVAL); /* a keyring needs entropy */
    cfg.keyring = NULL;
    assert_int_equal(sl_swim_new(&cfg, 0, &s), 0);
    /* A plain state of 6 members: over the limit, refused whole. */
    sl_keyring *kr = sl_world_keyring(w, 0);
    sl_keyring saved = *kr;
    kr->n = 0; /* encode it plain */
    free(st);
    assert_int_equal(sl_swim_encode_state(sl_world_core(w, 0), false, &st, &len), 0);
    *kr = saved;
    assert_int_equal(sl_swim_merge_state(s, st, len, 10, NULL), SL_EFULL);
    assert_int_equal(sl_swim_size(s), 1);
    assert_int_equal(sl_swim_get_stats(s)->drops[SL_DROP_FULL], 1);
    free(st);
    /* News of members one by one: the table stops at 4. */
    for (int i = 0; i < 6; i++) {
        uint8_t pkt[256];
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        int h = sl_wire_put_header(pkt, sizeof pkt, "");
        sl_msg m = {.type = SL_MSG_ALIVE,
                    .name = name,
                    .name_len = (uint32_t)strlen(name),
                    .addr = sl_addr_v4(127, 8, 0, (uint8_t)(i + 1), 7946),
                    .inc = {1, 0}};
        int k = sl_wire_put_msg(pkt + h, sizeof pkt - (size_t)h, &m);
        sl_addr from = sl_addr_v4(127, 8, 0, 1, 7946);
        sl_swim_recv(s, &from, pkt, (size_t)(h + k), 20);
    }
    assert_int_equal(sl_swim_size(s), 4);
    assert_int_equal(sl_swim_get_stats(s)->drops[SL_DROP_FULL], 1 + 3);
    sl_swim_free(s);
    /* Metadata past max_meta: the member is not taken. */
    cfg.max_members = 0;
    cfg.max_meta = 64;
    assert_int_equal(sl_swim_new(&cfg, 0, &s), 0);
    uint8_t pkt[512], meta[100] = {0x80}; /* an empty map, then padding */
    int h = sl_wire_put_header(pkt, sizeof pkt, "");
    sl_msg m = {.type = SL_MSG_ALIVE,
                .name = "fat",
                .name_len = 3,
                .addr = sl_addr_v4(127, 8, 0, 9, 7946),
                .inc = {1, 0},
                .meta = meta,
                .meta_len = sizeof meta};
    int k = sl_wire_put_msg(pkt + h, sizeof pkt - (size_t)h, &m);
    sl_addr from = sl_addr_v4(127, 8, 0, 9, 7946);
    sl_swim_recv(s, &from, pkt, (size_t)(h + k), 20);
    assert_int_equal(sl_swim_size(s), 1);
    assert_int_equal(sl_swim_get_stats(s)->drops[SL_DROP_FULL], 1);
    m.meta_len = 64; /* at the limit: taken */
    k = sl_wire_put_msg(pkt + h, sizeof pkt - (size_t)h, &m);
    sl_swim_recv(s, &from, pkt, (size_t)(h + k), 21);
    assert_int_equal(sl_swim_size(s), 2);
    sl_swim_free(s);
    sl_world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keyring_install_use_remove),
        cmocka_unit_test(key_text_round_trip),
        cmocka_unit_test(seal_open_and_refuse),
        cmocka_unit_test(strangers_never_join),
        cmocka_unit_test(rotation_causes_no_false_failure),
        cmocka_unit_test(using_a_key_not_installed_everywhere_splits),
        cmocka_unit_test(refutation_moves_to_a_new_generation),
        cmocka_unit_test(generation_limit_bounds_forgeries),
        cmocka_unit_test(no_pushpull_towards_strangers),
        cmocka_unit_test(member_limit_holds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
