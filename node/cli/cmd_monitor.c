/* `starling monitor`: streams membership events until interrupted. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "rpc/rpc_client.h"

static const char usage[] =
    "Usage: starling monitor [--rpc HOST:PORT] [--json]\n" SL__CLI_TOKEN_USAGE "\n"
    "Prints every membership event the agent at --rpc (default 127.0.0.1:7373, or\n"
    "$STARLING_RPC_ADDR) sees, one line each (with --json, one JSON object per\n"
    "line), until interrupted (Ctrl-C, exit 0) or until the agent stops (exit 1).\n"
    "An agent serves a limited number of monitors at once (its --rpc-max-monitors,\n"
    "default 16): beyond that, monitor exits 1 with the agent's error.\n" SL__CLI_TOKEN_HELP;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void print_event(const sl__cli *cli, json_t *e)
{
    if (cli->json) {
        sl__cli_print_json(e);
    } else {
        const char *from = json_string_value(json_object_get(e, "from"));
        printf("%s  %-12s %-20s %-22s %s%s%s\n", json_string_value(json_object_get(e, "time")),
               json_string_value(json_object_get(e, "event")),
               json_string_value(json_object_get(e, "name")),
               json_string_value(json_object_get(e, "addr")),
               json_string_value(json_object_get(e, "status")), from ? " by " : "",
               from ? from : "");
    }
    fflush(stdout);
}

int sl__cmd_monitor(int argc, char **argv)
{
    sl__cli cli = {.name = "monitor", .usage = usage};
    int rc = sl__cli_parse(&cli, argc, argv, 0, 0, 0);
    if (rc >= 0)
        return rc;
    /* No SA_RESTART: the signal must interrupt the blocking wait. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sl__rpc_client c;
    char err[512];
    json_t *req = json_pack("{s:s}", "command", "monitor"), *msg = NULL;
    rc = 1;
    if (sl__cli_connect(&cli, &c, 5000, err, sizeof err) != 0 ||
        sl__rpc_call(&c, req, &msg, SL__CLI_TIMEOUT_MS, err, sizeof err) != 0) {
        if (!interrupted)
            sl__cli_rpc_error(&cli, &c, err);
        rc = interrupted ? 0 : 1;
    } else if (json_is_string(json_object_get(msg, "error"))) {
        sl__cli_error(&cli, "%s", json_string_value(json_object_get(msg, "error")));
    } else {
        json_decref(msg);
        msg = NULL;
        int r = 0;
        while (!interrupted && (r = sl__rpc_read(&c, &msg, -1, err, sizeof err)) == 0) {
            print_event(&cli, msg);
            json_decref(msg);
            msg = NULL;
        }
        if (interrupted)
            rc = 0;
        else if (r == 1)
            sl__cli_error(&cli, "the agent at %s closed the connection", cli.rpc);
        else
            sl__cli_error(&cli, "%s", err);
    }
    json_decref(msg);
    json_decref(req);
    sl__rpc_close(&c);
    return rc;
}
