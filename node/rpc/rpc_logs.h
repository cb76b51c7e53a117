/* Internal: the `logs` RPC command (rpc_logs.c).
 *
 * "logs" {name, replica?, tail?, follow?, here?} answers one of:
 *
 *   {"redirect": "HOST:PORT", "node": NAME}   the replica runs on NAME: ask
 *                                              the agent at HOST:PORT (its
 *                                              SL__RPC_TAG) with "here": true
 *   {"node": NAME, "file": PATH}              a stream follows on this
 *                                              connection:
 *   {"data": TEXT} ...                        the file's bytes (bytes that
 *                                              are not UTF-8 shown as '?')
 *   {"end": REASON, "eof": true|false}        the last frame; the agent
 *                                              then closes the connection
 *
 * and, while following and nothing else is sent, an empty {} every
 * SL__LOGS_KEEPALIVE_MS, so that the client can tell a silent replica from
 * a peer that is gone; or an error. Without follow the stream ends at the end of the files
 * ("eof": true); with it, when the replica no longer runs on this agent
 * ("eof": false, REASON says so). A client that stops reading makes the
 * stream wait: nothing is queued past SL__LOGS_BACKLOG bytes. */
#ifndef STARLING_NODE_RPC_LOGS_H
#define STARLING_NODE_RPC_LOGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "agent/agent.h"

#define SL__LOGS_TAIL_MAX 100000      /* --tail lines, at most */
#define SL__LOGS_CHUNK (64u << 10)    /* bytes read and sent per frame, at most */
#define SL__LOGS_BACKLOG (256u << 10) /* unsent bytes before the stream waits */
#define SL__LOGS_POLL_MS 100          /* how often a followed file is looked at */
#define SL__LOGS_KEEPALIVE_MS 5000    /* a following stream sends {} after this much silence */

typedef struct sl__log_stream sl__log_stream;

/* Where a stream's frames go: the RPC connection. send seals and queues msg
 * (borrowed) as one frame, closing the connection once it is out when last
 * is set; it returns 0 or -1. queued is the connection's write queue. */
typedef struct sl__log_sink {
    int (*send)(void *ud, json_t *msg, bool last);
    uv_stream_t *queued;
    void *ud;
} sl__log_sink;

/* Runs "logs" with request req. Returns the reply (a new reference), or
 * NULL with a one-line reason in err. When the reply opens a stream, *out
 * is set to it: it starts sending on sink from the loop, after the reply,
 * and the caller frees it with sl__log_stream_free() when the connection
 * closes. */
json_t *sl__rpc_logs(sl__agent *a, json_t *req, const sl__log_sink *sink, sl__log_stream **out,
                     char *err, size_t errcap);

/* Stops the stream and frees it (once its timer is closed); it sends
 * nothing more. */
void sl__log_stream_free(sl__log_stream *ls);

#endif
