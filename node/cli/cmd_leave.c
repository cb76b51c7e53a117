/* `starling leave`: makes an agent leave the cluster gracefully and stop. */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "rpc/rpc_client.h"

static const char usage[] =
    "Usage: starling leave [--rpc HOST:PORT] [--json]\n" SL__CLI_TOKEN_USAGE "\n"
    "Makes the agent at --rpc (default 127.0.0.1:7373, or $STARLING_RPC_ADDR)\n"
    "announce a graceful leave, as SIGTERM does, and waits (up to 30 s) until it\n"
    "has spread the news and stopped. The others then list it as 'left'.\n" SL__CLI_TOKEN_HELP;

int sl__cmd_leave(int argc, char **argv)
{
    sl__cli cli = {.name = "leave", .usage = usage};
    int rc = sl__cli_parse(&cli, argc, argv, 0, 0, 0);
    if (rc >= 0)
        return rc;
    sl__rpc_client c;
    char err[512];
    json_t *req = json_pack("{s:s}", "command", "leave"), *reply = NULL;
    rc = 1;
    if (sl__cli_connect(&cli, &c, 5000, err, sizeof err) != 0 ||
        sl__rpc_call(&c, req, &reply, SL__CLI_TIMEOUT_MS, err, sizeof err) != 0) {
        sl__cli_rpc_error(&cli, &c, err);
    } else if (json_is_string(json_object_get(reply, "error"))) {
        sl__cli_error(&cli, "%s", json_string_value(json_object_get(reply, "error")));
    } else {
        /* The agent closes every RPC connection when it stops: wait for that. */
        json_t *more = NULL;
        int r;
        while ((r = sl__rpc_read(&c, &more, SL__CLI_TIMEOUT_MS, err, sizeof err)) == 0)
            json_decref(more);
        if (r == 1) {
            rc = 0;
            if (cli.json)
                puts("{\"left\":true}");
            else
                printf("the agent at %s left the cluster and stopped\n", cli.rpc);
        } else {
            sl__cli_error(&cli, "%s", err);
        }
    }
    json_decref(reply);
    json_decref(req);
    sl__rpc_close(&c);
    return rc;
}
