/* `starling members`: the membership as one peer sees it. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"

static const char usage[] =
    "Usage: starling members [--status alive|suspect|dead|left] [--rpc HOST:PORT] "
    "[--json]\n" SL__CLI_TOKEN_USAGE "\n"
    "Lists the members known to the agent at --rpc (default 127.0.0.1:7373, or\n"
    "$STARLING_RPC_ADDR), sorted by name: name, gossip address, status,\n"
    "incarnation (boot generation.counter), zone and tags. With --json, prints a\n"
    "JSON array of objects with the keys name, addr, status, incarnation {gen, ctr},\n"
    "zone, tags and self.\n" SL__CLI_TOKEN_HELP;

/* Formats a member's tags as "k=v,k=v" (or "-"). */
static void tags_text(json_t *tags, char *buf, size_t cap)
{
    const char *k;
    json_t *v;
    size_t n = 0;
    buf[0] = 0;
    json_object_foreach(tags, k, v)
    {
        int w = snprintf(buf + n, cap - n, "%s%s=%s", n ? "," : "", k,
                         json_is_string(v) ? json_string_value(v) : "?");
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    if (!buf[0])
        snprintf(buf, cap, "-");
}

static const char *str(json_t *m, const char *key)
{
    const char *s = json_string_value(json_object_get(m, key));
    return s && s[0] ? s : "-";
}

static void print_table(json_t *members)
{
    int wname = 4, waddr = 4;
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m)
    {
        int n = (int)strlen(str(m, "name")), a = (int)strlen(str(m, "addr"));
        wname = n > wname ? n : wname;
        waddr = a > waddr ? a : waddr;
    }
    printf("%-*s  %-*s  %-7s  %-14s  %-8s  %s\n", wname, "NAME", waddr, "ADDR", "STATUS",
           "INCARNATION", "ZONE", "TAGS");
    json_array_foreach(members, i, m)
    {
        char inc[32], tags[1024];
        json_t *in = json_object_get(m, "incarnation");
        snprintf(inc, sizeof inc, "%lld.%lld",
                 (long long)json_integer_value(json_object_get(in, "gen")),
                 (long long)json_integer_value(json_object_get(in, "ctr")));
        tags_text(json_object_get(m, "tags"), tags, sizeof tags);
        printf("%-*s  %-*s  %-7s  %-14s  %-8s  %s\n", wname, str(m, "name"), waddr, str(m, "addr"),
               str(m, "status"), inc, str(m, "zone"), tags);
    }
}

int sl__cmd_members(int argc, char **argv)
{
    sl__cli cli = {.name = "members", .usage = usage};
    int rc = sl__cli_parse(&cli, argc, argv, SL__CLI_STATUS, 0, 0);
    if (rc >= 0)
        return rc;
    json_t *req = json_pack("{s:s}", "command", "members"), *reply;
    if (req && cli.status)
        json_object_set_new(req, "status", json_string(cli.status));
    if (sl__cli_call(&cli, req, &reply, SL__CLI_TIMEOUT_MS) != 0)
        return 1;
    json_t *members = json_object_get(reply, "members");
    if (!json_is_array(members)) {
        sl__cli_error(&cli, "the agent's reply has no member list");
        json_decref(reply);
        return 1;
    }
    if (cli.json)
        sl__cli_print_json(members);
    else
        print_table(members);
    json_decref(reply);
    return 0;
}
