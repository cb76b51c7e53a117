/* Internal: the CLI's end of the RPC (see rpc.h), with blocking sockets.
 *
 * The CLI does one thing and exits, so it needs no event loop: it connects,
 * sends a request frame, and waits for the reply with poll() and a deadline.
 * Every failure is described in `err` as one line that names the agent's
 * address, ready to print. */
#ifndef STARLING_NODE_RPC_CLIENT_H
#define STARLING_NODE_RPC_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#include "frame.h"

typedef struct sl__rpc_client {
    int fd;
    char addr[320];
    json_int_t seq;
    sl__frame in;
    unsigned char buf[16384];
    size_t have, off; /* unread bytes in buf */
} sl__rpc_client;

/* Connects to hostport ("HOST:PORT", HOST numeric or a name) within
 * timeout_ms. Returns 0, or -1 with err filled. */
int sl__rpc_connect(sl__rpc_client *c, const char *hostport, int timeout_ms, char *err,
                    size_t errcap);

/* Sends req (borrowed; "seq" is set here) and waits up to timeout_ms for the
 * reply, stored in *reply (a new reference). A reply carrying "error" is
 * returned as it is. Returns 0, or -1 with err filled. */
int sl__rpc_call(sl__rpc_client *c, json_t *req, json_t **reply, int timeout_ms, char *err,
                 size_t errcap);

/* Reads the next frame (timeout_ms < 0 waits forever). Returns 0 with *msg
 * set, 1 when the agent closed the connection, or -1 with err filled (also
 * when interrupted by a signal: errno is then EINTR). */
int sl__rpc_read(sl__rpc_client *c, json_t **msg, int timeout_ms, char *err, size_t errcap);

/* Closes the connection and frees its buffers. */
void sl__rpc_close(sl__rpc_client *c);

#endif
