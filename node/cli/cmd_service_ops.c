/* `starling scale NAME N`, `starling rm NAME`, `starling rollback NAME` and
 * `starling drain`: small changes to the desired state, each one RPC to any
 * peer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_sign.h"
#include "cli/commands.h"
#include "starling/catalog.h"

static const char scale_usage[] =
    "Usage: starling scale NAME N [--operator-secret FILE] [--rpc HOST:PORT] "
    "[--json]\n" SL__CLI_TOKEN_USAGE "\n"
    "Sets the replica count of service NAME (0..1000). Replicas keep their index:\n"
    "scaling down stops the highest indexes, scaling up adds new ones.\n"
    "With --operator-secret FILE (or $STARLING_OPERATOR_SECRET naming the file), the\n"
    "change is signed with that operator key, as peers that trust operator keys\n"
    "require; without it the agent writes it on its own authority.\n" SL__CLI_TOKEN_HELP;

static const char rm_usage[] =
    "Usage: starling rm NAME [--operator-secret FILE] [--rpc HOST:PORT] "
    "[--json]\n" SL__CLI_TOKEN_USAGE "\n"
    "Removes service NAME from the catalog; every peer stops its replicas. The\n"
    "deletion is kept as a tombstone (--tombstone-ttl of the agents, 7 days by\n"
    "default) so that no stale peer brings the service back. --operator-secret\n"
    "signs the delete (see `starling scale --help`).\n" SL__CLI_TOKEN_HELP;

static const char rollback_usage[] =
    "Usage: starling rollback NAME [--operator-secret FILE] [--rpc HOST:PORT] "
    "[--json]\n" SL__CLI_TOKEN_USAGE "\n"
    "Writes back the version of service NAME that its last deploy of another\n"
    "command, environment, check or user replaced (the catalog keeps one version\n"
    "back): that spec becomes the wanted one, rolled out like a deploy, and the\n"
    "spec it replaces becomes the previous version, so a second rollback undoes\n"
    "the first. The replica count, requests and rollout flags stay as they are.\n"
    "Fails (exit 1) when NAME keeps no previous version: it was never redeployed\n"
    "with another spec since it was created, or that record would have been over\n"
    "the size limit. --operator-secret signs the write (see `starling scale\n"
    "--help`).\n" SL__CLI_TOKEN_HELP;

static const char drain_usage[] =
    "Usage: starling drain [--rpc HOST:PORT] [--json]\n" SL__CLI_TOKEN_USAGE "\n"
    "Marks the peer at --rpc as draining: placement gives it nothing, and it hands\n"
    "each of its replicas to its new owner, keeping it until the successor reports\n"
    "it running (make before break). Waits until the peer runs no replica (up to\n"
    "10 minutes), then it can leave with `starling leave`.\n" SL__CLI_TOKEN_HELP;

static int simple(sl__cli *cli, json_t *req)
{
    json_t *reply;
    if (sl__cli_call(cli, req, &reply, SL__CLI_TIMEOUT_MS) != 0)
        return 1;
    if (cli->json)
        sl__cli_print_json(reply);
    json_decref(reply);
    return 0;
}

int sl__cmd_scale(int argc, char **argv)
{
    sl__cli cli = {.name = "scale", .usage = scale_usage};
    int rc = sl__cli_parse(&cli, argc, argv, SL__CLI_SECRET, 2, 2);
    if (rc >= 0)
        return rc;
    char *end;
    long n = strtol(cli.args[1], &end, 10);
    if (*end || !cli.args[1][0] || n < 0 || n > SL_SVC_REPLICAS_MAX) {
        fprintf(stderr, "starling scale: the replica count must be 0..%d, not '%s'\n%s",
                SL_SVC_REPLICAS_MAX, cli.args[1], scale_usage);
        return 2;
    }
    const char *secret = sl__cli_secret_path(cli.secret);
    if (secret)
        rc = sl__cli_signed_write(&cli, secret, SL__SIGNED_SCALE, NULL, cli.args[0], (uint32_t)n);
    else
        rc = simple(&cli, json_pack("{s:s, s:s, s:i}", "command", "scale", "name", cli.args[0],
                                    "replicas", (json_int_t)n));
    if (rc == 0 && !cli.json)
        printf("scaled %s to %ld replica%s\n", cli.args[0], n, n == 1 ? "" : "s");
    return rc;
}

int sl__cmd_rm(int argc, char **argv)
{
    sl__cli cli = {.name = "rm", .usage = rm_usage};
    int rc = sl__cli_parse(&cli, argc, argv, SL__CLI_SECRET, 1, 1);
    if (rc >= 0)
        return rc;
    const char *secret = sl__cli_secret_path(cli.secret);
    if (secret)
        rc = sl__cli_signed_write(&cli, secret, SL__SIGNED_RM, NULL, cli.args[0], 0);
    else
        rc = simple(&cli, json_pack("{s:s, s:s}", "command", "rm", "name", cli.args[0]));
    if (rc == 0 && !cli.json)
        printf("removed %s\n", cli.args[0]);
    return rc;
}

int sl__cmd_rollback(int argc, char **argv)
{
    sl__cli cli = {.name = "rollback", .usage = rollback_usage};
    int rc = sl__cli_parse(&cli, argc, argv, SL__CLI_SECRET, 1, 1);
    if (rc >= 0)
        return rc;
    const char *secret = sl__cli_secret_path(cli.secret);
    if (secret)
        rc = sl__cli_signed_write(&cli, secret, SL__SIGNED_ROLLBACK, NULL, cli.args[0], 0);
    else
        rc = simple(&cli, json_pack("{s:s, s:s}", "command", "rollback", "name", cli.args[0]));
    if (rc == 0 && !cli.json)
        printf("rolled %s back to its previous version%s\n", cli.args[0],
               secret ? " (signed)" : "");
    else if (rc == 0 && secret)
        printf("{\"name\":\"%s\",\"signed\":true}\n", cli.args[0]); /* a checked name */
    return rc;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sl__cmd_drain(int argc, char **argv)
{
    sl__cli cli = {.name = "drain", .usage = drain_usage};
    int rc = sl__cli_parse(&cli, argc, argv, 0, 0, 0);
    if (rc >= 0)
        return rc;
    json_t *reply;
    if (sl__cli_call(&cli, json_pack("{s:s}", "command", "drain"), &reply, SL__CLI_TIMEOUT_MS))
        return 1;
    json_decref(reply);
    long long deadline = now_ms() + 600000;
    long long left = -1;
    while (now_ms() < deadline) {
        if (sl__cli_call(&cli, json_pack("{s:s}", "command", "ps"), &reply, SL__CLI_TIMEOUT_MS))
            return 1;
        left = (long long)json_array_size(json_object_get(reply, "replicas"));
        json_decref(reply);
        if (left == 0)
            break;
        if (!cli.json)
            fprintf(stderr, "draining: %lld replica%s still here\n", left, left == 1 ? "" : "s");
        struct timespec pause = {1, 0}; /* a poll interval, not synchronisation */
        nanosleep(&pause, NULL);
    }
    if (left != 0) {
        sl__cli_error(&cli, "still running %lld replicas after 10 minutes", left);
        return 1;
    }
    if (cli.json)
        puts("{\"drained\":true}");
    else
        puts("drained: this peer runs no replica; `starling leave` to leave the cluster");
    return 0;
}
