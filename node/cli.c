/* Shared CLI plumbing: see cli.h. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rpc_client.h"

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

int sl__cli_parse(sl__cli *cli, int argc, char **argv, int extra, int min_args, int max_args)
{
    static const struct option opts[] = {
        {"rpc", required_argument, NULL, 'r'},    {"json", no_argument, NULL, 'j'},
        {"status", required_argument, NULL, 's'}, {"operator-secret", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
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

int sl__cli_call(const sl__cli *cli, json_t *req, json_t **reply, int timeout_ms)
{
    sl__rpc_client c;
    char err[512];
    int rc = 1;
    if (!req) {
        sl__cli_error(cli, "out of memory");
        return 1;
    }
    if (sl__rpc_connect(&c, cli->rpc, 5000, err, sizeof err) != 0) {
        sl__cli_error(cli, "%s", err);
    } else if (sl__rpc_call(&c, req, reply, timeout_ms, err, sizeof err) != 0) {
        sl__cli_error(cli, "%s", err);
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
