/* `starling services`, `starling ps` and `starling where`: what the cluster
 * wants, what this peer runs, and where every replica of a service runs. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"

static const char services_usage[] =
    "Usage: starling services [--rpc HOST:PORT] [--json]\n" SL__CLI_TOKEN_USAGE "\n"
    "Lists the services in the catalog: name, wanted replicas, replicas reported\n"
    "running (their check passes) and unhealthy by live members, requests, the\n"
    "health check and the command. With --json, an array of objects with name,\n"
    "replicas, running, unhealthy, cpu, mem, spread, check ({spec, and for a\n"
    "given check interval_ms, timeout_ms, failures}), argv, env, stamp (the\n"
    "write's hybrid logical clock; also as lamport, its old name), writer,\n"
    "rollout ({max_surge, max_unavailable, min_healthy_ms, deadline_ms,\n"
    "auto_revert}, defaults filled in) and previous (the version `rollback`\n"
    "writes back: {argv, env, check, user if any}, or null).\n" SL__CLI_TOKEN_HELP;

static const char ps_usage[] =
    "Usage: starling ps [--rpc HOST:PORT] [--json]\n" SL__CLI_TOKEN_USAGE "\n"
    "Lists the replicas the peer at --rpc runs: service, replica, status\n"
    "(starting, running, unhealthy, failed, stopping, or oom: killed for using\n"
    "more than its --mem, waiting to restart), address, restarts, pid and version.\n"
    "A replica is running once its health check passes (see `deploy --help`). The pid\n"
    "is that of the small process that leads the replica's process group: a\n"
    "signal sent to it reaches the replica's command. The version names the spec\n"
    "the replica was started with (8 hex digits of its hash: command, arguments,\n"
    "environment, check and user); replicas of the same spec show the same one.\n"
    "With --json, an array of objects with service, replica, status, addr,\n"
    "restarts, pid and version (\"\" when not known).\n" SL__CLI_TOKEN_HELP;

static const char where_usage[] =
    "Usage: starling where NAME [--rpc HOST:PORT] [--json]\n" SL__CLI_TOKEN_USAGE "\n"
    "Lists every replica of service NAME in the cluster, as the live members\n"
    "report them: service, replica, node, status (starting, running, unhealthy,\n"
    "failed, stopping, oom, or gave-up: that node failed to start it too often\n"
    "in a row and placement avoids it there for a while), addr (host:port of\n"
    "the replica), restarts and version: the spec the replica was started with\n"
    "(8 hex digits of its hash: command, arguments, environment, check and user;\n"
    "\"-\" when its node does not say, as older versions do), so that during a\n"
    "rolling update old and new replicas can be told apart. With --json, an array\n"
    "of objects with those keys (version \"\" when not known).\n" SL__CLI_TOKEN_HELP;

static const char *s_of(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && *s ? s : "-";
}

static long long i_of(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static int fetch(sl__cli *cli, json_t *req, const char *key, json_t **reply, json_t **list)
{
    if (sl__cli_call(cli, req, reply, SL__CLI_TIMEOUT_MS) != 0)
        return 1;
    *list = json_object_get(*reply, key);
    if (!json_is_array(*list)) {
        sl__cli_error(cli, "the agent's reply has no '%s' list", key);
        json_decref(*reply);
        return 1;
    }
    return 0;
}

int sl__cmd_services(int argc, char **argv)
{
    sl__cli cli = {.name = "services", .usage = services_usage};
    int rc = sl__cli_parse(&cli, argc, argv, 0, 0, 0);
    json_t *reply, *list, *s;
    size_t i;
    if (rc >= 0)
        return rc;
    if (fetch(&cli, json_pack("{s:s}", "command", "services"), "services", &reply, &list))
        return 1;
    if (cli.json) {
        sl__cli_print_json(list);
    } else {
        printf("%-20s  %8s  %7s  %9s  %6s  %6s  %-16s  %s\n", "NAME", "REPLICAS", "RUNNING",
               "UNHEALTHY", "CPU", "MEM", "CHECK", "COMMAND");
        json_array_foreach(list, i, s)
        {
            char cmd[512] = "";
            size_t n = 0, k;
            json_t *a;
            json_array_foreach(json_object_get(s, "argv"), k, a)
            {
                int w =
                    snprintf(cmd + n, sizeof cmd - n, "%s%s", k ? " " : "", json_string_value(a));
                if (w < 0 || (size_t)w >= sizeof cmd - n)
                    break;
                n += (size_t)w;
            }
            printf("%-20s  %8lld  %7lld  %9lld  %6lld  %6lld  %-16s  %s\n", s_of(s, "name"),
                   i_of(s, "replicas"), i_of(s, "running"), i_of(s, "unhealthy"), i_of(s, "cpu"),
                   i_of(s, "mem"), s_of(json_object_get(s, "check"), "spec"), cmd);
        }
    }
    json_decref(reply);
    return 0;
}

static void print_replicas(json_t *list, bool with_node)
{
    size_t i;
    json_t *r;
    printf("%-20s  %7s  %s%-9s  %-22s  %8s  %s\n", "SERVICE", "REPLICA",
           with_node ? "NODE        " : "", "STATUS", "ADDR", "RESTARTS", "VERSION");
    json_array_foreach(list, i, r)
    {
        if (with_node)
            printf("%-20s  %7lld  %-12s%-9s  %-22s  %8lld  %s\n", s_of(r, "service"),
                   i_of(r, "replica"), s_of(r, "node"), s_of(r, "status"), s_of(r, "addr"),
                   i_of(r, "restarts"), s_of(r, "version"));
        else
            printf("%-20s  %7lld  %-9s  %-22s  %8lld  %s\n", s_of(r, "service"), i_of(r, "replica"),
                   s_of(r, "status"), s_of(r, "addr"), i_of(r, "restarts"), s_of(r, "version"));
    }
}

int sl__cmd_ps(int argc, char **argv)
{
    sl__cli cli = {.name = "ps", .usage = ps_usage};
    int rc = sl__cli_parse(&cli, argc, argv, 0, 0, 0);
    json_t *reply, *list;
    if (rc >= 0)
        return rc;
    if (fetch(&cli, json_pack("{s:s}", "command", "ps"), "replicas", &reply, &list))
        return 1;
    if (cli.json)
        sl__cli_print_json(list);
    else
        print_replicas(list, false);
    json_decref(reply);
    return 0;
}

int sl__cmd_where(int argc, char **argv)
{
    sl__cli cli = {.name = "where", .usage = where_usage};
    int rc = sl__cli_parse(&cli, argc, argv, 0, 1, 1);
    json_t *reply, *list;
    if (rc >= 0)
        return rc;
    if (fetch(&cli, json_pack("{s:s, s:s}", "command", "where", "name", cli.args[0]), "replicas",
              &reply, &list))
        return 1;
    if (cli.json)
        sl__cli_print_json(list);
    else
        print_replicas(list, true);
    json_decref(reply);
    return 0;
}
