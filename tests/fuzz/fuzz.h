/* What the libFuzzer targets under tests/fuzz/ share (fuzz_common.c): the
 * application a SWIM core talks to, cores with and without a keyring, the
 * fixed keys, a membership every fuzzed core knows first, the round-trip
 * checks, the seed writer and a reader that turns fuzz bytes into values.
 *
 * One binary per target, each with its own LLVMFuzzerTestOneInput:
 *   fuzz_decoders  every decoder of gossip/ and node/'s framing and RPC payloads
 *   fuzz_sealed    datagrams and push-pull states into cores holding a keyring
 *   fuzz_signed    signed catalog records into catalogs that trust operator keys
 *   fuzz_scenario  the simulator's scenario parser
 * `make fuzz` builds and runs them all (tests/fuzz/run.sh); a crash in any
 * aborts the process, and libFuzzer keeps the input.
 *
 * Every target is deterministic: keys, nonces and seeds come from fixed
 * values or from the input, never from the clock or the system. */
#ifndef STARLING_TESTS_FUZZ_H
#define STARLING_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/catalog.h"
#include "starling/keyring.h"
#include "starling/reports.h"
#include "starling/swim.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message when cond is false: a property that failed. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)
_Noreturn void fuzz_fail(const char *file, int line, const char *what);

/* ---- the application behind a core ---- */

/* How the application state of a push-pull is laid out. */
typedef enum fuzz_appstate {
    FUZZ_APP_CATALOG, /* the catalog alone (what fuzz_decoders has always fed) */
    FUZZ_APP_AGENT,   /* the agent's [catalog, reports, sync] (node/runtime/runtime.c) */
} fuzz_appstate;

typedef struct fuzz_app {
    sl_catalog *cat;
    sl_reports *rep;
    fuzz_appstate layout;
    uint8_t last[1500]; /* the last datagram sent, for the seeds */
    size_t last_len;
    size_t sent;       /* datagrams sent */
    size_t max_packet; /* the core's: no datagram sent may be larger */
    /* With a key: every datagram sent must open with it (SL_SEAL_PACKET). */
    const sl_keyring *must_seal;
    char cluster[SL_SWIM_CLUSTER_MAX + 1];
    uint64_t entropy;     /* the nonce counter */
    uint32_t max_members; /* for the next fuzz_core(); 0: the default */
} fuzz_app;

void fuzz_app_init(fuzz_app *a, fuzz_appstate layout);
void fuzz_app_free(fuzz_app *a);

/* A core named `name` at ip:7946, cluster label `cluster`, generation 7,
 * the lan profile, talking to a. kr may be NULL (plain traffic); with a key
 * in it, every datagram the core sends is checked to be sealed. */
sl_swim *fuzz_core(const char *name, const char *ip, const char *cluster, const sl_keyring *kr,
                   fuzz_app *a);

/* ---- fixed keys ---- */

/* Cluster keys: 0 and 1 are installed in fuzz_keyring() (0 the primary),
 * 2 is foreign. */
void fuzz_cluster_key(int i, uint8_t key[SL_KEY_BYTES]);
void fuzz_keyring(sl_keyring *kr);

/* Operator keys (Ed25519, from fixed seeds): 0 and 1 are trusted by
 * fuzz_trusting_catalog(), 2 is not. */
void fuzz_operator_key(int i, uint8_t pub[SL_OPERATOR_PUB_BYTES],
                       uint8_t sec[SL_OPERATOR_SEC_BYTES]);

/* ---- a membership to start from ---- */

/* A plain state naming alpha, beta and gamma (the cluster label ""); with
 * FUZZ_APP_AGENT, also an application state (a catalog with one service, a
 * report table with one report). Sets *len; the caller frees it. */
uint8_t *fuzz_known_state(fuzz_appstate layout, size_t *len);

/* ---- properties ---- */

/* Whatever s now holds encodes into a state that a fresh core with the same
 * label and keyring (kr, may be NULL) and application layout merges; with a
 * key, that state is sealed and a plain core refuses it. */
void fuzz_check_state_round_trip(sl_swim *s, const char *cluster, const sl_keyring *kr,
                                 fuzz_appstate layout);
void fuzz_check_catalog_round_trip(const sl_catalog *c);
void fuzz_check_reports_round_trip(const sl_reports *r);

/* A digest of a core's membership view (names, addresses, incarnations,
 * states, metadata), to tell whether anything changed. */
uint64_t fuzz_view_digest(const sl_swim *s);

/* ---- seeds ---- */

/* Writes prefix (plen bytes) then buf into DIR/name. */
void fuzz_write_seed(const char *dir, const char *name, const uint8_t *prefix, size_t plen,
                     const uint8_t *buf, size_t len);

/* ---- turning fuzz bytes into values ---- */

/* Takes values from the front of the input; once it is used up, every value
 * is 0 and every string empty. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in;

uint8_t fuzz_u8(fuzz_in *in);
uint32_t fuzz_u32(fuzz_in *in);
uint64_t fuzz_u64(fuzz_in *in);
/* Copies a string of at most max bytes (a length byte, then the bytes) into
 * out (capacity max + 1), mapping each byte into `alphabet` when it is not
 * NULL. Returns the length. */
size_t fuzz_str(fuzz_in *in, char *out, size_t max, const char *alphabet);

#endif
