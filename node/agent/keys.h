/* Internal: the agent's side of cluster-wide keyring operations (keys.c).
 *
 * keys.c owns every change to the agent's keyring after start: it applies
 * the operations that arrive by gossip (application message kinds
 * SL_APPMSG_KEYOP and SL_APPMSG_KEYANSWER, which agent.c hands it before the
 * runtime sees anything), persists the keyring in DATA_DIR/keyring when it
 * changed, passes operations and answers on, and runs the operations the RPC
 * starts (`starling keys ...`): apply here first, spread, collect the
 * answers until every member live at the start answered or the deadline
 * passed, then answer the RPC. Everything runs on the agent's loop. */
#ifndef STARLING_NODE_KEYS_H
#define STARLING_NODE_KEYS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"

typedef struct sl__keys sl__keys;
typedef struct sl__keys_wait sl__keys_wait;

/* At most this many operations started here wait for answers at once. */
#define SL__KEYS_WAITS_MAX 8

/* Creates the agent's key-operation state (a->keys). Returns 0 or
 * SL_ENOMEM. */
int sl__keys_new(sl__agent *a);

/* Cancels every waiting operation (their callbacks are not called) and
 * closes their timers; the loop must run afterwards to finish closing. */
void sl__keys_close(sl__agent *a);

/* Frees a->keys (after the loop has drained) and wipes what it held. */
void sl__keys_free(sl__agent *a);

/* Handles a received application message of kind SL_APPMSG_KEYOP or
 * SL_APPMSG_KEYANSWER (called from the core's user_msg callback). Returns 0,
 * or a negative code for a message refused (malformed, unsealed traffic,
 * outside the time window), which the core counts as SL_DROP_USER. */
int sl__keys_user_msg(sl__agent *a, const uint8_t *buf, size_t len);

/* Called once when an operation started by sl__keys_start() ends, with the
 * reply (a new reference the callee owns): {"op", "id" (16 hex digits),
 * "total" (members live at the start, plus others that answered),
 * "answered", "keys": [{"key" (base64), "holders", "primary"}] (most held
 * first), "missing": [names of live members that did not answer], "errors":
 * [{"node", "error"}], "elapsed_ms"}. */
typedef void (*sl__keys_done)(void *ud, json_t *reply);

/* Starts the operation an RPC request describes: {"op": "install" | "use" |
 * "remove" | "list", "key": base64 (not for list), "timeout_ms": optional}.
 * It is applied here first, then spread; done is called later, from the
 * loop, exactly once unless sl__keys_detach() is called first. Returns the
 * operation, or NULL with a one-line reason in err (done is then never
 * called): a bad request, a peer without a key, too many operations at
 * once, or a removal of this peer's own primary key. */
sl__keys_wait *sl__keys_start(sl__agent *a, json_t *req, sl__keys_done done, void *ud, char *err,
                              size_t errcap);

/* Forgets the operation's callback (its RPC connection closed): it ends
 * silently. */
void sl__keys_detach(sl__keys_wait *w);

#endif
