/* Internal: the RPC protocol between the CLI and an agent.
 *
 * A TCP connection to the agent's RPC address carries frames (frame.h), each
 * one msgpack map (mpjson.h). The client sends a request
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
 * the client closes the connection; "keys" {op, key?, timeout_ms?} -> the
 * result of a cluster-wide keyring operation (keys.h), once every live member
 * answered or the deadline passed. Unknown commands get an error. */
#ifndef STARLING_NODE_RPC_H
#define STARLING_NODE_RPC_H

/* Requests are small; replies may list many members. */
#define SL__RPC_REQUEST_MAX (1u << 20)
#define SL__RPC_REPLY_MAX (16u << 20)

/* A request connection that sends nothing this long is closed (the default
 * of --rpc-idle). */
#define SL__RPC_IDLE_MS 60000

/* Connections served at once; more are refused. */
#define SL__RPC_CONNS_MAX 64

/* A monitor whose unsent backlog grows past this is dropped. */
#define SL__RPC_MONITOR_BACKLOG (1u << 20)

#endif
