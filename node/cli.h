/* Internal: what the CLI commands share: the common flags (--rpc, --json,
 * --help), one RPC call with its error handling, and output helpers. */
#ifndef STARLING_NODE_CLI_H
#define STARLING_NODE_CLI_H

#include <jansson.h>
#include <stdbool.h>

typedef struct sl__cli {
    const char *name; /* the command, for messages */
    const char *usage;
    const char *rpc;    /* --rpc, or $STARLING_RPC_ADDR, or 127.0.0.1:7373 */
    bool json;          /* --json */
    const char *status; /* --status, for commands that accept it */
    const char *secret; /* --operator-secret FILE, for commands that write the catalog */
    char **args;        /* positional arguments */
    int nargs;
} sl__cli;

/* Options a command accepts beyond --rpc, --json and --help. */
enum { SL__CLI_STATUS = 1, SL__CLI_SECRET = 2 };

/* Parses argv (argv[0] is the command's name). Returns -1 to go on, or the
 * exit code to return at once: 0 after --help (usage on stdout), 2 after a
 * usage error (one line and the usage on stderr). */
int sl__cli_parse(sl__cli *cli, int argc, char **argv, int extra, int min_args, int max_args);

/* Sends req (stolen) to the agent and waits up to timeout_ms. Returns 0 with
 * *reply set, or 1 after printing one error line (unreachable agent, or the
 * agent's own error). */
int sl__cli_call(const sl__cli *cli, json_t *req, json_t **reply, int timeout_ms);

/* Prints v as JSON on one line. */
void sl__cli_print_json(const json_t *v);

/* Prints "starling CMD: message" on stderr. */
void sl__cli_error(const sl__cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The default RPC deadline: long enough for a join to time out first. */
#define SL__CLI_TIMEOUT_MS 30000

#endif
