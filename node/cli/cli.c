/* Shared CLI plumbing: see cli.h. */
#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rpc/rpc.h"
#include "rpc/rpc_client.h"
#include "rpc/rpc_seal.h"
#include "rpc/rpc_token.h"

void sl__cli_error(const sl__cli *cli, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "starling %s: %s\n", cli->name, msg);
}

static int usage_error(const sl__cli *cli, const char *fmt, const char *arg)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg);
    fprintf(stderr, "starling %s: %s\n%s", cli->name, msg, cli->usage);
    return 2;
}

int sl__cli_token_flag(sl__cli *cli, int opt, const char *arg)
{
    switch (opt) {
    case SL__CLI_OPT_TOKEN: {
        /* Never echoed: a usage error must not print the token. */
        size_t n = sl__rpc_token_trim(arg, strlen(arg));
        if (n < SL__RPC_TOKEN_MIN || n > SL__RPC_TOKEN_MAX)
            return usage_error(cli, "--token must be 16 to 1024 bytes long%s", "");
        cli->token = arg;
        return 0;
    }
    case SL__CLI_OPT_TOKEN_FILE:
        if (!arg[0])
            return usage_error(cli, "--token-file needs a file name%s", "");
        cli->token_file = arg;
        return 0;
    case SL__CLI_OPT_DATA_DIR:
        if (!arg[0])
            return usage_error(cli, "--data-dir needs a directory%s", "");
        cli->data_dir = arg;
        return 0;
    }
    return 2;
}

int sl__cli_parse(sl__cli *cli, int argc, char **argv, int extra, int min_args, int max_args)
{
    static const struct option opts[] = {
        {"rpc", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"status", required_argument, NULL, 's'},
        {"operator-secret", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        SL__CLI_TOKEN_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *env = getenv("STARLING_RPC_ADDR");
    cli->rpc = env && env[0] ? env : "127.0.0.1:7373";
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":hj", opts, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(cli->usage, stdout); return 0;
        case 'r': cli->rpc = optarg; break;
        case 'j': cli->json = true; break;
        case 's':
            if (!(extra & SL__CLI_STATUS))
                return usage_error(cli, "unknown option '%s'", "--status");
            if (strcmp(optarg, "alive") && strcmp(optarg, "suspect") && strcmp(optarg, "dead") &&
                strcmp(optarg, "left"))
                return usage_error(cli, "--status must be alive, suspect, dead or left: '%s'",
                                   optarg);
            cli->status = optarg;
            break;
        case 'k':
            if (!(extra & SL__CLI_SECRET))
                return usage_error(cli, "unknown option '%s'", "--operator-secret");
            cli->secret = optarg;
            break;
        case SL__CLI_OPT_TOKEN:
        case SL__CLI_OPT_TOKEN_FILE:
        case SL__CLI_OPT_DATA_DIR:
            if (sl__cli_token_flag(cli, opt, optarg) != 0)
                return 2;
            break;
        case ':': return usage_error(cli, "%s needs a value", argv[optind - 1]);
        default: return usage_error(cli, "unknown option '%s'", argv[optind - 1]);
        }
    }
    cli->args = argv + optind;
    cli->nargs = argc - optind;
    if (cli->nargs < min_args)
        return usage_error(cli, "missing argument%s", "");
    if (cli->nargs > max_args)
        return usage_error(cli, "unexpected argument '%s'", cli->args[max_args]);
    return -1;
}

/* The environment variable name when set and not empty. */
static const char *env_value(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* Whether the flags or the environment name a token at all. */
static bool have_token_source(const sl__cli *cli)
{
    return cli->token || cli->token_file || cli->data_dir || env_value("STARLING_RPC_TOKEN") ||
           env_value("STARLING_RPC_TOKEN_FILE") || env_value("STARLING_DATA_DIR");
}

/* Finds the token (see SL__CLI_TOKEN_HELP for the order) and derives its
 * base key into key; without any, the key of the empty token, which no
 * agent accepts. Returns 0, or -1 with err filled. */
static int token_key(const sl__cli *cli, uint8_t key[SL__SEAL_KEYBYTES], char *err, size_t cap)
{
    char tok[SL__RPC_TOKEN_MAX + 1], path[4200];
    size_t len = 0;
    const char *dir = NULL, *file = NULL, *text = NULL, *v;
    if (cli->token)
        text = cli->token;
    else if (cli->token_file)
        file = cli->token_file;
    else if (cli->data_dir)
        dir = cli->data_dir;
    else if ((v = env_value("STARLING_RPC_TOKEN")))
        text = v;
    else if ((v = env_value("STARLING_RPC_TOKEN_FILE")))
        file = v;
    else if ((v = env_value("STARLING_DATA_DIR")))
        dir = v;
    if (dir) {
        snprintf(path, sizeof path, "%s/%s", dir, SL__RPC_TOKEN_FILE);
        file = path;
    }
    if (text) {
        len = sl__rpc_token_trim(text, strlen(text));
        if (len < SL__RPC_TOKEN_MIN || len > SL__RPC_TOKEN_MAX) {
            snprintf(err, cap, "$STARLING_RPC_TOKEN must be 16 to 1024 bytes long");
            return -1;
        }
        sl__seal_token_key(text, len, key);
    } else if (file) {
        if (sl__rpc_token_read(file, false, tok, sizeof tok, &len, err, cap) != 0)
            return -1;
        sl__seal_token_key(tok, len, key);
        sodium_memzero(tok, sizeof tok);
    } else {
        sl__seal_token_key("", 0, key);
    }
    return 0;
}

int sl__cli_connect(const sl__cli *cli, sl__rpc_client *c, int timeout_ms, char *err, size_t errcap)
{
    uint8_t key[SL__SEAL_KEYBYTES];
    if (token_key(cli, key, err, errcap) != 0) {
        /* Leave c closable. */
        memset(c, 0, sizeof *c);
        c->fd = -1;
        return -1;
    }
    int rc = sl__rpc_connect(c, cli->rpc, key, timeout_ms, err, errcap);
    sodium_memzero(key, sizeof key);
    return rc;
}

void sl__cli_rpc_error(const sl__cli *cli, const sl__rpc_client *c, const char *err)
{
    if (c->refused && !have_token_source(cli))
        sl__cli_error(cli,
                      "%s (pass --token, --token-file or --data-dir; see 'starling %s --help')",
                      err, cli->name);
    else
        sl__cli_error(cli, "%s", err);
}

int sl__cli_call(const sl__cli *cli, json_t *req, json_t **reply, int timeout_ms)
{
    sl__rpc_client c;
    char err[512];
    int rc = 1;
    if (!req) {
        sl__cli_error(cli, "out of memory");
        return 1;
    }
    if (sl__cli_connect(cli, &c, 5000, err, sizeof err) != 0 ||
        sl__rpc_call(&c, req, reply, timeout_ms, err, sizeof err) != 0) {
        sl__cli_rpc_error(cli, &c, err);
    } else if (json_is_string(json_object_get(*reply, "error"))) {
        sl__cli_error(cli, "%s", json_string_value(json_object_get(*reply, "error")));
        json_decref(*reply);
    } else {
        rc = 0;
    }
    sl__rpc_close(&c);
    json_decref(req);
    return rc;
}

void sl__cli_print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s)
        puts(s);
    free(s);
}
