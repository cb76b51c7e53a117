/* Internal: the `rollout` RPC command (rpc_rollout.c). */
#ifndef STARLING_NODE_RPC_ROLLOUT_H
#define STARLING_NODE_RPC_ROLLOUT_H

#include <jansson.h>
#include <stddef.h>

#include "agent/agent.h"

/* The progress of service req.name's rollout as this peer sees it: the
 * catalog's version and previous version (8 hex digits, the low 32 bits of
 * the spec hash, as `where` shows them), the rollout parameters, a state
 * ("complete": every replica 0..R-1 runs the new version, running, and no
 * surge replica is left; else "in progress"), counts (new_running, old,
 * surge, failing: new replicas failed, unhealthy, oom or given up) and the
 * list of replicas. A new reference, or NULL with a reason in err. */
json_t *sl__rpc_rollout(sl__agent *a, json_t *req, char *err, size_t errcap);

#endif
