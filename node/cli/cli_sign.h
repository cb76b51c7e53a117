/* Internal: catalog writes signed by an operator key, made by the CLI.
 *
 * When the CLI holds an operator secret key (--operator-secret FILE, or the
 * file named by $STARLING_OPERATOR_SECRET), `deploy`, `scale`, `rm` and
 * `rollback` build
 * the catalog record themselves, sign it, and hand the whole record to the
 * agent ("write"), instead of asking the agent to write on its own
 * authority. Peers that trust operator keys run only such records. The
 * record's stamp follows the agent's catalog clock (asked with
 * "catalog-get"), so that the write wins over everything the agent has
 * seen; its writer is the agent's name. */
#ifndef STARLING_NODE_CLI_SIGN_H
#define STARLING_NODE_CLI_SIGN_H

#include <stdint.h>

#include "cli/cli.h"
#include "starling/catalog.h"

/* The operator secret file from --operator-secret (may be NULL) or
 * $STARLING_OPERATOR_SECRET; NULL when neither is set. */
const char *sl__cli_secret_path(const char *flag);

/* What a signed write does. */
typedef enum sl__signed_op {
    SL__SIGNED_DEPLOY,   /* spec: the whole service */
    SL__SIGNED_SCALE,    /* name and replicas; the rest from the current record */
    SL__SIGNED_RM,       /* name */
    SL__SIGNED_ROLLBACK, /* name: the current record's previous version back
                          * (sl_service_rollback_of) */
} sl__signed_op;

/* Signs and writes one change through the agent at cli->rpc with the secret
 * key in secret_path. spec is used by DEPLOY (name, replicas, requests,
 * argv, env, check, user, rollout; its previous version is carried over
 * the current record, sl_service_carry_prev), name and replicas by SCALE
 * (which keeps the record's rollout and previous version), RM and
 * ROLLBACK. Returns 0, or 1 after printing one error line ("NAME has no
 * previous version to roll back to" for a ROLLBACK without one). */
int sl__cli_signed_write(const sl__cli *cli, const char *secret_path, sl__signed_op op,
                         const sl_service *spec, const char *name, uint32_t replicas);

#endif
