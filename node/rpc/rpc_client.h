/* Internal: the CLI's end of the RPC (see rpc.h), with blocking sockets.
 *
 * The CLI does one thing and exits, so it needs no event loop: it connects,
 * shakes hands (rpc_seal.h), sends a sealed request frame, and waits for the
 * reply with poll() and a deadline. Every failure is described in `err` as
 * one line that names the agent's address, ready to print. */
#ifndef STARLING_NODE_RPC_CLIENT_H
#define STARLING_NODE_RPC_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "rpc/frame.h"
#include "rpc/rpc_seal.h"

typedef struct sl__rpc_client {
    int fd;
    char addr[320];
    json_int_t seq;
    sl__frame in;
    sl__seal seal;
    bool refused; /* the agent refused our token (err says why) */
    unsigned char buf[16384];
    size_t have, off; /* unread bytes in buf */
} sl__rpc_client;

/* Connects to hostport ("HOST:PORT", HOST numeric or a name) and shakes
 * hands within timeout_ms; key is the base key of the token
 * (sl__seal_token_key). Whether the agent accepts the token shows with the
 * first call. Returns 0, or -1 with err filled. Call sl__rpc_close() in
 * every case. */
int sl__rpc_connect(sl__rpc_client *c, const char *hostport, const uint8_t key[SL__SEAL_KEYBYTES],
                    int timeout_ms, char *err, size_t errcap);

/* Sends req (borrowed; "seq" is set here) and waits up to timeout_ms for the
 * reply, stored in *reply (a new reference). A reply carrying "error" is
 * returned as it is. Returns 0, or -1 with err filled; c->refused tells a
 * refused token ("the agent at ADDR refused the RPC token: REASON"). */
int sl__rpc_call(sl__rpc_client *c, json_t *req, json_t **reply, int timeout_ms, char *err,
                 size_t errcap);

/* Reads and opens the next frame (timeout_ms < 0 waits forever). Returns 0
 * with *msg set, 1 when the agent closed the connection, or -1 with err
 * filled (also when interrupted by a signal: errno is then EINTR, and when
 * the agent refused the token: c->refused). */
int sl__rpc_read(sl__rpc_client *c, json_t **msg, int timeout_ms, char *err, size_t errcap);

/* Closes the connection, frees its buffers and wipes its keys. */
void sl__rpc_close(sl__rpc_client *c);

#endif
