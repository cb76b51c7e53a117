/* Internal: the runtime's RPC commands (rpc_runtime.c). */
#ifndef STARLING_NODE_RPC_RUNTIME_H
#define STARLING_NODE_RPC_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent/agent.h"

/* Runs command `cmd` of the runtime with request `req`. Sets *handled to
 * false when cmd is not one of the runtime's. Otherwise returns the reply
 * object (a new reference), or NULL with a one-line reason in err. */
json_t *sl__rpc_runtime(sl__agent *a, const char *cmd, json_t *req, char *err, size_t errcap,
                        bool *handled);

/* The `security` part of `info`: sealing, keys, operator trust, and what
 * was refused. A new reference, or NULL when out of memory. */
json_t *sl__rpc_security_json(sl__agent *a);

/* The `limits` part of `info`: whether --cpu and --mem are enforced (mode
 * "on", "kill-only" or "off"), why, and the cgroup replicas go below. A new
 * reference, or NULL when out of memory. */
json_t *sl__rpc_limits_json(sl__agent *a);

#endif
