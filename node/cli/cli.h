/* Internal: what the CLI commands share: the common flags (--rpc, --json,
 * --help, and the token's --token, --token-file, --data-dir), connecting
 * with the token, one RPC call with its error handling, and output
 * helpers. */
#ifndef STARLING_NODE_CLI_H
#define STARLING_NODE_CLI_H

#include <jansson.h>
#include <stdbool.h>

#include "rpc/rpc_client.h"

typedef struct sl__cli {
    const char *name; /* the command, for messages */
    const char *usage;
    const char *rpc;        /* --rpc, or $STARLING_RPC_ADDR, or 127.0.0.1:7373 */
    bool json;              /* --json */
    const char *status;     /* --status, for commands that accept it */
    const char *secret;     /* --operator-secret FILE, for commands that write the catalog */
    const char *token;      /* --token (checked), or NULL */
    const char *token_file; /* --token-file, or NULL */
    const char *data_dir;   /* --data-dir: the agent's, for DIR/rpc-token */
    char **args;            /* positional arguments */
    int nargs;
} sl__cli;

/* Options a command accepts beyond --rpc, --json, --help and the token's. */
enum { SL__CLI_STATUS = 1, SL__CLI_SECRET = 2 };

/* The token's flags, for the getopt_long tables of commands that parse their
 * own flags (cmd_deploy.c); sl__cli_parse() takes them too. */
enum { SL__CLI_OPT_TOKEN = 0x1000, SL__CLI_OPT_TOKEN_FILE, SL__CLI_OPT_DATA_DIR };
#define SL__CLI_TOKEN_OPTIONS                                                                      \
    {"token", required_argument, NULL, SL__CLI_OPT_TOKEN},                                         \
        {"token-file", required_argument, NULL, SL__CLI_OPT_TOKEN_FILE},                           \
    {                                                                                              \
        "data-dir", required_argument, NULL, SL__CLI_OPT_DATA_DIR                                  \
    }

/* For every command's usage: the second line of "Usage:", and the paragraph
 * that says how the token is found. */
#define SL__CLI_TOKEN_USAGE "       [--token TOKEN | --token-file FILE | --data-dir DIR]\n"
#define SL__CLI_TOKEN_HELP                                                                         \
    "\nThe agent's RPC needs its token (never sent: it keys the sealed channel). The\n"            \
    "first of these is used: --token TOKEN (16 to 1024 bytes); --token-file FILE\n"                \
    "(the file's content, trailing white space ignored); --data-dir DIR, the\n"                    \
    "agent's data dir (reads DIR/rpc-token, which the agent makes on first start);\n"              \
    "then $STARLING_RPC_TOKEN, $STARLING_RPC_TOKEN_FILE, $STARLING_DATA_DIR. Without\n"            \
    "any, the agent refuses the request.\n"

/* Applies one of the token's flags (opt is an SL__CLI_OPT_* value, arg its
 * value, kept by reference). Returns 0, or 2 after printing a usage error. */
int sl__cli_token_flag(sl__cli *cli, int opt, const char *arg);

/* Connects to the agent at cli->rpc with the token the flags and the
 * environment give, within timeout_ms. Returns 0, or -1 with err filled
 * (one line); call sl__rpc_close(c) in every case. */
int sl__cli_connect(const sl__cli *cli, sl__rpc_client *c, int timeout_ms, char *err,
                    size_t errcap);

/* Prints an RPC failure as one line: err, and when the agent refused the
 * token and none was given, how to give one. */
void sl__cli_rpc_error(const sl__cli *cli, const sl__rpc_client *c, const char *err);

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
