/* Internal: the RPC protocol between the CLI and an agent.
 *
 * A TCP connection to the agent's RPC address carries frames (frame.h). The
 * channel is sealed and token-authenticated, protocol v1 (rpc_seal.c has the
 * details and the reasons):
 *
 *   client -> server  "SLRPC1" || 32 random bytes     (plain frame)
 *   server -> client  "SLRPC1" || 32 random bytes     (plain frame)
 *   then every frame, both ways, is sealed with XChaCha20-Poly1305 under a
 *   key per direction derived from the token and both nonces (BLAKE2b),
 *   with a per-direction message counter as nonce.
 *
 * The client's first sealed frame authenticates it. If it does not open (no
 * token, wrong token, garbage), the agent answers one plain frame "SLRPC1!"
 * followed by a one-line reason, counts it (rpc_auth_failures in `info`),
 * and closes. A later frame that does not open closes the connection. The
 * token never crosses the wire.
 *
 * Inside the seal each frame is one msgpack map (mpjson.h). The client sends
 * a request
 *
 *   {"command": "members", "seq": 1, ...arguments}
 *
 * and the agent answers with one frame
 *
 *   {"seq": 1, ...results}          or   {"seq": 1, "error": "one line"}
 *
 * Commands: "members" {status?} -> {members: [...]}; "info" -> {...};
 * "join" {addrs: ["HOST:PORT", ...]} -> {joined: n}; "leave" -> {};
 * "monitor" -> {} followed by one frame per membership event,
 * {"event", "name", "addr", "status", "incarnation", "time", "from"?}, until
 * the client closes the connection (at most --rpc-max-monitors at once: a
 * further one gets an error); "keys" {op, key?, timeout_ms?} -> the result
 * of a cluster-wide keyring operation (keys.h), once every live member
 * answered or the deadline passed; "logs" {name, replica?, tail?, follow?,
 * here?} -> a redirect to the peer that runs the replica, or {node, file}
 * followed by the log's frames (rpc_logs.h). Unknown commands get an error. */
#ifndef STARLING_NODE_RPC_H
#define STARLING_NODE_RPC_H

/* Requests are small; replies may list many members. Both bounds are on the
 * plaintext: a sealed frame is SL__SEAL_ABYTES longer. */
#define SL__RPC_REQUEST_MAX (1u << 20)
#define SL__RPC_REPLY_MAX (16u << 20)

/* A request connection that sends nothing this long is closed (the default
 * of --rpc-idle). */
#define SL__RPC_IDLE_MS 60000

/* Connections served at once; more are refused. */
#define SL__RPC_CONNS_MAX 64

/* A connection must finish the handshake and open its first sealed request
 * this soon after it was accepted (the default of --rpc-auth-timeout). */
#define SL__RPC_AUTH_TIMEOUT_MS 5000

/* Connections not yet authenticated, at most, at once: a new one beyond
 * this closes the one that has waited longest (silent ones first), or
 * itself when all are younger than a quarter of a second (rpc_server.c).
 * A quarter of the connection cap, so that a flood of silent connections
 * leaves 48 slots to clients holding the token, and a CLI that shakes hands
 * in milliseconds still gets in while 16 silent ones are held. */
#define SL__RPC_UNAUTH_MAX 16

/* Monitor streams at once (the default of --rpc-max-monitors); the flag
 * must stay below the connection cap minus 8, so that monitors can never
 * take the slots that requests need. */
#define SL__RPC_MONITORS_MAX 16
#define SL__RPC_MONITORS_LIMIT (SL__RPC_CONNS_MAX - 9)

/* The RPC token's length, in bytes (trailing white space not counted). */
#define SL__RPC_TOKEN_MIN 16
#define SL__RPC_TOKEN_MAX 1024

/* The metadata tag in which each agent advertises its RPC address
 * ("HOST:PORT"), set by the agent itself (agent.c). `starling logs` asks its
 * agent where a replica runs and, when it runs elsewhere, connects to that
 * agent's RPC address with the same token (rpc_logs.c). */
#define SL__RPC_TAG "starling.rpc"

/* A monitor whose unsent backlog grows past this is dropped. */
#define SL__RPC_MONITOR_BACKLOG (1u << 20)

#endif
