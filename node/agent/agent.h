/* Internal: the agent, one libuv loop driving one SWIM core.
 *
 * agent.c owns the loop, the UDP socket, the timers and the core; stream.c
 * the TCP push-pulls and joins on the gossip port; seeds.c the joining and
 * re-joining of seeds; rpc_server.c the RPC port. They share this structure;
 * everything runs on the loop's thread. */
#ifndef STARLING_NODE_AGENT_H
#define STARLING_NODE_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent/config.h"
#include "starling/keyring.h"
#include "starling/rejoin.h"
#include "starling/swim.h"

typedef struct sl__pp sl__pp;
typedef struct sl__rpc_conn sl__rpc_conn;
typedef struct sl__join sl__join;

/* Counters of the driver, next to the core's own (sl_swim_stats). */
typedef struct sl__agent_counters {
    uint64_t pushpull_ok, pushpull_failed; /* outbound periodic exchanges */
    uint64_t joins_ok, joins_failed;       /* outbound join exchanges */
    uint64_t streams_in, streams_refused;  /* inbound exchanges served / refused */
    uint64_t streams_unauthentic;          /* states that did not open with our keys */
    uint64_t udp_send_errors, udp_send_dropped;
    uint64_t rpc_requests, rpc_errors;
    uint64_t rpc_auth_failures; /* RPC frames that did not open (rpc_server.c) */
} sl__agent_counters;

/* The RPC's credentials and their bookkeeping (rpc_server.c, rpc_token.c). */
typedef struct sl__rpc_auth {
    uint8_t key[32];   /* the base key derived from the token, never the token */
    char source[4200]; /* where the token came from: "flag" or "file PATH" */
    int unauth;        /* connections not authenticated yet */
    uint64_t log_ms;   /* when the last failure was logged */
    uint64_t unlogged; /* failures since, not logged yet */
    bool created;      /* the token file was made at this start */
} sl__rpc_auth;

/* The push-pull and join streams (stream.c writes them; others read). */
typedef struct sl__streams {
    sl__pp *list; /* open streams, both directions */
    int out;      /* outbound periodic push-pulls in flight */
    int in;       /* inbound streams being served */
    size_t bytes; /* bytes inbound streams buffer, against their budget */
} sl__streams;

/* Joining through the seeds or the remembered peers (seeds.c writes them;
 * agent.c only initialises, stops and closes the timer, with its other
 * handles). */
typedef struct sl__seeding {
    uv_timer_t timer; /* the rejoin policy's next step */
    sl__join *join;   /* the join round in flight, if any */
    sl_rejoin rejoin; /* when and whom to join (gossip/rejoin.c) */
} sl__seeding;

struct sl__runtime;
struct sl__keys;

typedef struct sl__agent {
    uv_loop_t loop;
    sl__agent_config cfg;
    sl_swim *swim;
    struct sl__runtime *runtime; /* the self-healing runtime (runtime.h) */
    uint32_t generation;
    uint64_t started_ms;
    /* Where the agent keeps its files: the data dir, or without one a private
     * directory made at start (mode 0700) and removed at a clean exit. */
    char state_dir[4096];
    bool state_dir_private;
    int lock_fd; /* DATA_DIR/lock, held while we run; -1 without a data dir */

    uv_udp_t udp;
    uv_tcp_t gossip_tcp; /* push-pull and joins */
    uv_tcp_t rpc_tcp;
    uv_timer_t rpc_sweep; /* closes idle RPC connections (rpc_server.c) */
    uv_timer_t tick;      /* fires at sl_swim_next_deadline() */
    uv_timer_t save;      /* debounced save of the peers file */
    uv_timer_t leave;     /* polls the spread of our leave */
    uv_signal_t sigterm, sigint;
    uint64_t armed_deadline;

    sl__streams streams; /* written by stream.c only */
    sl__seeding seeding; /* written by seeds.c only */
    sl__rpc_conn *rpcs;
    int nrpc;
    sl__rpc_auth rpc_auth;

    sl_addr *known; /* peers remembered from the data dir */
    size_t nknown;

    bool peers_dirty;
    bool leaving;
    bool stopping;
    uint64_t leave_deadline_ms;
    int leave_pp; /* push-pulls carrying our leave, in flight */
    sl__agent_counters ctr;

    /* Security: the keyring the core borrows (sealing), the operator keys the
     * runtime trusts, and the rate limit of the log of refused traffic. */
    sl_keyring keyring;
    struct sl__keys *keys; /* cluster-wide keyring operations (keys.h) */
    uint8_t operator_keys[SL_CATALOG_TRUST_MAX][SL_OPERATOR_PUB_BYTES];
    int noperator_keys;
    uint64_t refused_logged, refused_log_ms; /* drops counted at the last log line, when */
    int refused_lines;                       /* lines logged before the rate limit */

    /* One receive buffer shared by every socket: libuv calls the read callback
     * right after filling the buffer, so no two reads ever hold it at once. */
    uint8_t rbuf[65536];
} sl__agent;

/* Runs an agent with cfg until it is told to stop. Returns the process exit
 * code: 0 after a clean leave, 1 when it could not start. */
int sl__agent_run(const sl__agent_config *cfg);

/* The loop's notion of now, in milliseconds, for the core. */
uint64_t sl__agent_now(sl__agent *a);

/* Re-arms the tick timer at the core's next deadline. Call after every call
 * into the core that may have changed it. */
void sl__agent_rearm(sl__agent *a);

/* Starts a graceful leave: the core announces it, and the agent stops once it
 * has spread or a bounded time has passed. A second call stops at once. */
void sl__agent_leave(sl__agent *a, const char *why);

/* Asks for the peers file to be saved soon (debounced). */
void sl__agent_peers_changed(sl__agent *a);

/* libuv allocation callback handing out the shared receive buffer. */
void sl__agent_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* Profile-dependent timeouts, in milliseconds. */
uint32_t sl__agent_stream_timeout_ms(const sl__agent *a);

/* ---- stream.c: push-pull and joins over TCP on the gossip port ---- */

/* Called once when an exchange ends: status 0 when the peer's state was merged,
 * otherwise a negative libuv or SL_E* code. */
typedef void (*sl__pp_done)(void *ud, int status);

/* Starts listening for exchanges on the gossip port (already bound). Returns
 * 0 or a libuv error code. */
int sl__stream_listen(sl__agent *a);

/* Starts an exchange with host:port (numeric or a name, resolved
 * asynchronously). join selects a join (sl_swim_encode_state(join=true)).
 * done (may be NULL) is called exactly once, later, from the loop. Returns 0,
 * or a negative code when it could not start; done is then never called. */
int sl__pp_start(sl__agent *a, const char *hostport, const sl_addr *addr, bool join,
                 sl__pp_done done, void *ud);

/* Aborts every exchange (their done callbacks get UV_ECANCELED) and closes
 * the listener. */
void sl__stream_close_all(sl__agent *a);

/* ---- seeds.c: joining, retrying, and partition healing through seeds ---- */

/* Called when a join round ends: ok is the number of peers joined. */
typedef void (*sl__join_done)(void *ud, int ok, int first_error);

/* Starts joining the given HOST:PORT strings, all at once. done is called
 * once when every attempt ended, unless sl__join_detach() was called. Returns
 * the round, or NULL when out of memory. */
sl__join *sl__join_start(sl__agent *a, const char *const *hosts, const sl_addr *addrs, size_t n,
                         sl__join_done done, void *ud);

/* Forgets the round's callback: it will end silently. */
void sl__join_detach(sl__join *j);

/* Starts the seed timer, which drives the rejoin policy (starling/rejoin.h):
 * joins the --join seeds (or the remembered peers) with backoff until one
 * answers, re-joins whenever we are alone, and push-pulls with a seed once
 * per push-pull interval while joined. Does nothing without seeds or
 * remembered peers. */
void sl__seeds_start(sl__agent *a);

/* ---- rpc_server.c: the RPC port ---- */

/* Starts listening on the RPC port (already bound). Returns 0 or a libuv
 * error code. */
int sl__rpc_listen(sl__agent *a);

/* Streams a membership event to every monitor client. */
void sl__rpc_event(sl__agent *a, const sl_swim_event *ev);

/* Logs, once the agent has started, where its RPC token is. */
void sl__rpc_log_token(const sl__agent *a);

/* Closes every RPC connection and the listener. */
void sl__rpc_close_all(sl__agent *a);

#endif
