/* `starling rollout NAME`: the progress of a service's rolling update. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"

static const char rollout_usage[] =
    "Usage: starling rollout NAME [--rpc HOST:PORT] [--json]\n" SL__CLI_TOKEN_USAGE "\n"
    "Shows how far the rolling update of service NAME has come, as the peer at\n"
    "--rpc sees it: the version the catalog asks for and the previous one (8\n"
    "hex digits, as `where` shows them), the rollout parameters (see `deploy\n"
    "--help`), the state (complete: all replicas run the new version, running,\n"
    "and no surge replica is left; otherwise in progress), counts of replicas\n"
    "on the new version and running, on an older one, surge replicas (indexes\n"
    "from the replica count up) and new replicas failing, then every replica.\n"
    "A rollout whose new replicas are not healthy within --progress-deadline\n"
    "halts where it is (and, with --auto-revert, goes back to the previous\n"
    "version); `starling rollback NAME` goes back by hand.\n"
    "With --json, the agent's object: name, replicas, version, previous,\n"
    "parameters, state, new_running, old, surge, failing, list.\n" SL__CLI_TOKEN_HELP;

static long long i_of(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static const char *s_of(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && *s ? s : "-";
}

int sl__cmd_rollout(int argc, char **argv)
{
    sl__cli cli = {.name = "rollout", .usage = rollout_usage};
    int rc = sl__cli_parse(&cli, argc, argv, 0, 1, 1);
    json_t *reply;
    if (rc >= 0)
        return rc;
    if (sl__cli_call(&cli, json_pack("{s:s, s:s}", "command", "rollout", "name", cli.args[0]),
                     &reply, SL__CLI_TIMEOUT_MS) != 0)
        return 1;
    if (cli.json) {
        sl__cli_print_json(reply);
        json_decref(reply);
        return 0;
    }
    json_t *p = json_object_get(reply, "parameters");
    printf("%s: version %s, previous %s\n", s_of(reply, "name"), s_of(reply, "version"),
           s_of(reply, "previous"));
    printf("state: %s: %lld of %lld replicas on the new version and running, %lld on an older "
           "one, %lld surge, %lld new failing\n",
           s_of(reply, "state"), i_of(reply, "new_running"), i_of(reply, "replicas"),
           i_of(reply, "old"), i_of(reply, "surge"), i_of(reply, "failing"));
    printf("parameters: max-surge %lld, max-unavailable %lld, min-healthy %.1fs, "
           "progress-deadline %.0fs, auto-revert %s\n",
           i_of(p, "max_surge"), i_of(p, "max_unavailable"), i_of(p, "min_healthy_ms") / 1000.0,
           i_of(p, "progress_deadline_ms") / 1000.0,
           json_is_true(json_object_get(p, "auto_revert")) ? "on" : "off");
    printf("%7s  %-16s  %-8s  %-9s  %s\n", "REPLICA", "NODE", "VERSION", "STATUS", "");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(reply, "list"), i, r)
    {
        printf("%7lld  %-16s  %-8s  %-9s  %s\n", i_of(r, "replica"), s_of(r, "node"),
               s_of(r, "version"), s_of(r, "status"),
               json_is_true(json_object_get(r, "surge")) ? "surge"
               : json_is_true(json_object_get(r, "new")) ? "new"
                                                         : "old");
    }
    json_decref(reply);
    return 0;
}
