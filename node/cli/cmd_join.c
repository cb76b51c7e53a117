/* `starling join`: asks an agent to join other peers. */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/commands.h"

static const char usage[] =
    "Usage: starling join [--rpc HOST:PORT] [--json] HOST:PORT...\n" SL__CLI_TOKEN_USAGE "\n"
    "Asks the agent at --rpc (default 127.0.0.1:7373, or $STARLING_RPC_ADDR) to join\n"
    "the peers at the given gossip addresses, and waits for the outcome. Succeeds\n"
    "when at least one of them answered; exits 1 when none did.\n" SL__CLI_TOKEN_HELP;

int sl__cmd_join(int argc, char **argv)
{
    sl__cli cli = {.name = "join", .usage = usage};
    int rc = sl__cli_parse(&cli, argc, argv, 0, 1, 64);
    if (rc >= 0)
        return rc;
    json_t *addrs = json_array();
    for (int i = 0; i < cli.nargs; i++)
        json_array_append_new(addrs, json_string(cli.args[i]));
    json_t *reply;
    if (sl__cli_call(&cli, json_pack("{s:s,s:o}", "command", "join", "addrs", addrs), &reply,
                     SL__CLI_TIMEOUT_MS))
        return 1;
    json_object_del(reply, "seq");
    if (cli.json) {
        sl__cli_print_json(reply);
    } else {
        long long n = (long long)json_integer_value(json_object_get(reply, "joined"));
        printf("joined %lld of %d peer%s\n", n, cli.nargs, cli.nargs == 1 ? "" : "s");
    }
    json_decref(reply);
    return 0;
}
