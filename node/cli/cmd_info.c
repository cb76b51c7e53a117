/* `starling info`: one peer's own view: name, addresses, counters. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"

static const char usage[] =
    "Usage: starling info [--rpc HOST:PORT] [--json]\n" SL__CLI_TOKEN_USAGE "\n"
    "Shows the agent at --rpc (default 127.0.0.1:7373, or $STARLING_RPC_ADDR): its\n"
    "name, addresses, cluster, profile, incarnation, member counts by status, its\n"
    "counters (packets, probes, push-pulls, drops by reason, events, RPC requests\n"
    "and authentication failures), its RPC clients, where its RPC token came from\n"
    "(rpc_token: \"flag\" or \"file PATH\"; never the token itself), and its\n"
    "security: whether gossip is sealed, how many keys and operator keys it holds,\n"
    "what its catalog refused and why (weaknesses are printed first as WARNING\n"
    "lines); and lifeguard: whether Lifeguard is on, and the agent's own health\n"
    "score (0 healthy .. 8: how many times over its probes are slowed, less "
    "one); and limits: whether --cpu and --mem are enforced (enforced, mode on,\n"
    "kill-only or off), why not when they are not, and the cgroup replicas go\n"
    "below.\n" SL__CLI_TOKEN_HELP;

/* Prints an object as "prefix.key  value" lines, nested objects flattened. */
static void print_flat(const char *prefix, json_t *v)
{
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e)
    {
        char key[128];
        snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", k);
        if (json_is_object(e)) {
            print_flat(key, e);
        } else if (json_is_string(e)) {
            printf("%-36s %s\n", key, json_string_value(e)[0] ? json_string_value(e) : "-");
        } else if (json_is_integer(e)) {
            printf("%-36s %lld\n", key, (long long)json_integer_value(e));
        } else if (json_is_boolean(e)) {
            printf("%-36s %s\n", key, json_is_true(e) ? "true" : "false");
        }
    }
}

int sl__cmd_info(int argc, char **argv)
{
    sl__cli cli = {.name = "info", .usage = usage};
    int rc = sl__cli_parse(&cli, argc, argv, 0, 0, 0);
    if (rc >= 0)
        return rc;
    json_t *reply;
    if (sl__cli_call(&cli, json_pack("{s:s}", "command", "info"), &reply, SL__CLI_TIMEOUT_MS))
        return 1;
    json_object_del(reply, "seq");
    if (cli.json) {
        sl__cli_print_json(reply);
    } else {
        json_t *warn = json_object_get(json_object_get(reply, "security"), "warnings");
        size_t i;
        json_t *w;
        json_array_foreach(warn, i, w) printf("WARNING: %s\n", json_string_value(w));
        print_flat("", reply);
    }
    json_decref(reply);
    return 0;
}
