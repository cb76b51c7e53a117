/* `starling logs`: prints, and with --follow streams, a replica's output
 * from whichever peer runs it. The agent at --rpc says where the replica
 * runs; when that is another peer, the CLI connects to the RPC address that
 * peer advertises, with the same token (node/rpc/rpc_logs.c says why). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "rpc/rpc_client.h"
#include "rpc/rpc_logs.h"
#include "starling/catalog.h"

static const char usage[] =
    "Usage: starling logs NAME [--replica I] [--tail N] [--follow] [--here]\n"
    "                     [--rpc HOST:PORT]\n" SL__CLI_TOKEN_USAGE "\n"
    "Prints the output (stdout and stderr, with the agent's \"[starling] ...\" notes of\n"
    "its starts and exits) of replica I (default 0) of service NAME, from the peer\n"
    "that runs it: the agent at --rpc (default 127.0.0.1:7373, or $STARLING_RPC_ADDR)\n"
    "knows which peer that is and the RPC address it advertises; the CLI connects\n"
    "there with the same token. A replica that runs nowhere is read from this agent's\n"
    "own files, if it has them.\n\n"
    "  --replica I   the replica (default 0)\n"
    "  --tail N      only the last N lines (0..100000; default: all the agent keeps,\n"
    "                the live file and 2 rotated ones, see the agent's --log-max)\n"
    "  -f, --follow  then print new output as it comes, until interrupted (Ctrl-C,\n"
    "                exit 0), until the replica stops or moves away from that peer\n"
    "                (a message on stderr, exit 0), or until that peer's agent stops\n"
    "                or falls silent for 15 s (exit 1)\n"
    "  --here        read the files of the agent at --rpc itself, wherever the\n"
    "                replica runs now (the log of a replica that moved away)\n\n"
    "Exit status: 0 when the output is printed, 1 on an error, 2 on a usage error.\n"
    "A closed standard output (`| head`) ends it quietly with 0.\n" SL__CLI_TOKEN_HELP;

/* A following stream hears from the agent at least every keepalive; this
 * long without a frame means the peer is gone. */
#define SILENCE_MS (3 * SL__LOGS_KEEPALIVE_MS)

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int bad(const sl__cli *cli, const char *what, const char *arg)
{
    fprintf(stderr, "starling %s: %s '%s'\n%s", cli->name, what, arg, cli->usage);
    return 2;
}

static int parse_num(const char *s, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Parses the command line into cli and req. Returns -1 to go on, or the
 * exit code. */
static int parse(sl__cli *cli, int argc, char **argv, json_t *req)
{
    static const struct option opts[] = {
        {"replica", required_argument, NULL, 'i'},
        {"tail", required_argument, NULL, 'n'},
        {"follow", no_argument, NULL, 'f'},
        {"here", no_argument, NULL, 'H'},
        {"rpc", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        SL__CLI_TOKEN_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *env = getenv("STARLING_RPC_ADDR");
    cli->rpc = env && env[0] ? env : "127.0.0.1:7373";
    opterr = 0;
    optind = 1;
    int opt;
    long v;
    while ((opt = getopt_long(argc, argv, ":hf", opts, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(cli->usage, stdout); return 0;
        case 'r': cli->rpc = optarg; break;
        case 'f': json_object_set_new(req, "follow", json_true()); break;
        case 'H': json_object_set_new(req, "here", json_true()); break;
        case 'i':
            if (parse_num(optarg, SL_SVC_REPLICAS_MAX - 1, &v) != 0)
                return bad(cli, "--replica must be a replica number:", optarg);
            json_object_set_new(req, "replica", json_integer(v));
            break;
        case 'n':
            if (parse_num(optarg, SL__LOGS_TAIL_MAX, &v) != 0)
                return bad(cli, "--tail must be 0..100000 lines:", optarg);
            json_object_set_new(req, "tail", json_integer(v));
            break;
        case SL__CLI_OPT_TOKEN:
        case SL__CLI_OPT_TOKEN_FILE:
        case SL__CLI_OPT_DATA_DIR:
            if (sl__cli_token_flag(cli, opt, optarg) != 0)
                return 2;
            break;
        case ':': return bad(cli, "a value is missing after", argv[optind - 1]);
        default: return bad(cli, "unknown option", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return argc - optind ? bad(cli, "unexpected argument", argv[optind + 1])
                             : (fprintf(stderr, "starling logs: missing the service name\n%s",
                                        cli->usage),
                                2);
    json_object_set_new(req, "name", json_string(argv[optind]));
    return -1;
}

/* Asks the agent at cli->rpc, then the one it redirects to. Returns 0 with
 * c connected and the stream's first reply in *reply, or 1 after printing
 * the error. */
static int open_stream(sl__cli *cli, sl__rpc_client *c, json_t *req, json_t **reply, char *target,
                       size_t cap)
{
    char err[512];
    for (int hop = 0; hop < 2; hop++) {
        if (sl__cli_connect(cli, c, 5000, err, sizeof err) != 0 ||
            sl__rpc_call(c, req, reply, SL__CLI_TIMEOUT_MS, err, sizeof err) != 0) {
            if (!interrupted)
                sl__cli_rpc_error(cli, c, err);
            return 1;
        }
        const char *e = json_string_value(json_object_get(*reply, "error"));
        const char *to = json_string_value(json_object_get(*reply, "redirect"));
        if (e) {
            sl__cli_error(cli, "%s", e);
            return 1;
        }
        if (!to) {
            snprintf(target, cap, "%s", cli->rpc);
            return 0;
        }
        if (hop == 1) {
            sl__cli_error(cli, "the agent at %s sent us on again, to %s", cli->rpc, to);
            return 1;
        }
        snprintf(target, cap, "%s", to);
        cli->rpc = target;
        json_object_set_new(req, "here", json_true());
        json_decref(*reply);
        *reply = NULL;
        sl__rpc_close(c);
    }
    return 1;
}

/* Writes one frame's text. Returns 0, 1 after an error it printed, or 3
 * when standard output is closed. */
static int print_data(const sl__cli *cli, json_t *data)
{
    size_t n = json_string_length(data);
    if (fwrite(json_string_value(data), 1, n, stdout) == n && fflush(stdout) == 0)
        return 0;
    if (errno == EPIPE)
        return 3;
    sl__cli_error(cli, "cannot write the output: %s", strerror(errno));
    return 1;
}

/* Prints the stream until its end. Returns the exit code. */
static int stream(const sl__cli *cli, sl__rpc_client *c, const char *node, bool follow)
{
    char err[512];
    json_t *msg = NULL;
    int r;
    while (!interrupted && (r = sl__rpc_read(c, &msg, follow ? SILENCE_MS : SL__CLI_TIMEOUT_MS, err,
                                             sizeof err)) == 0) {
        json_t *data = json_object_get(msg, "data");
        const char *end = json_string_value(json_object_get(msg, "end"));
        int rc = json_is_string(data) ? print_data(cli, data) : 0;
        if (!rc && end && !json_is_true(json_object_get(msg, "eof")))
            sl__cli_error(cli, "%s", end);
        json_decref(msg);
        if (rc || end)
            return rc == 3 ? 0 : rc;
    }
    if (interrupted)
        return 0;
    if (r == 1)
        sl__cli_error(cli, "the agent at %s (%s) closed the stream before its end: did it stop?",
                      cli->rpc, node);
    else
        sl__cli_error(cli, "%s", err);
    return 1;
}

int sl__cmd_logs(int argc, char **argv)
{
    sl__cli cli = {.name = "logs", .usage = usage};
    json_t *req = json_pack("{s:s}", "command", "logs"), *reply = NULL;
    int rc = parse(&cli, argc, argv, req);
    if (rc >= 0) {
        json_decref(req);
        return rc;
    }
    /* No SA_RESTART: the signal must interrupt the blocking wait. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout shows as EPIPE */
    sl__rpc_client c;
    char target[320];
    bool follow = json_is_true(json_object_get(req, "follow"));
    rc = open_stream(&cli, &c, req, &reply, target, sizeof target);
    if (rc == 0) {
        char node[128];
        const char *name = json_string_value(json_object_get(reply, "node"));
        snprintf(node, sizeof node, "node %s", name ? name : "unknown");
        rc = stream(&cli, &c, node, follow);
    } else if (interrupted) {
        rc = 0;
    }
    json_decref(reply);
    json_decref(req);
    sl__rpc_close(&c);
    return rc;
}
