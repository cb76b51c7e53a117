/* `starling deploy`: put a service into the cluster's catalog. Any peer
 * accepts it and gossips it; every peer then runs the replicas it owns. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_sign.h"
#include "cli/commands.h"
#include "starling/catalog.h"

static const char usage[] =
    "Usage: starling deploy NAME --replicas N [--cpu MILLI] [--mem MB] [--env K=V]...\n"
    "                       [--spread zones|nodes] [--operator-secret FILE]\n"
    "                       [--check tcp|http:/PATH|exec:CMD] [--check-interval DURATION]\n"
    "                       [--check-timeout DURATION] [--check-failures N]\n"
    "                       [--user NAME] [--max-surge N] [--max-unavailable N]\n"
    "                       [--min-healthy DURATION] [--progress-deadline DURATION]\n"
    "                       [--auto-revert]\n"
    "                       [--rpc HOST:PORT] [--json]\n"
    "                       [--token TOKEN | --token-file FILE | --data-dir DIR]\n"
    "                       -- CMD [ARGS...]\n\n"
    "Creates or replaces service NAME in the cluster's catalog through the agent at\n"
    "--rpc (default 127.0.0.1:7373, or $STARLING_RPC_ADDR). Every peer computes the\n"
    "placement and the owners start N replicas of CMD, each with STARLING_SERVICE,\n"
    "STARLING_REPLICA, STARLING_NODE, STARLING_HOST and STARLING_PORT in its\n"
    "environment. Replicas of one service go to distinct nodes, spread over zones\n"
    "first (--spread nodes ignores zones). --cpu and --mem are requests per replica\n"
    "(millicores, MB) that must fit a node's advertised capacity, and limits\n"
    "(cpu.max, memory.max) where the agent can use cgroup v2: a replica over its\n"
    "--mem is then OOM-killed and shown as oom (`starling info` says whether\n"
    "limits are enforced there). When two peers change the same service at once,\n"
    "the last writer wins for each part: the spec, and the replica count (a scale\n"
    "racing a deploy keeps both).\n"
    "Rolling updates: deploying a service again with another command, environment,\n"
    "check or user replaces its replicas in steps. At most --max-surge N (default\n"
    "1) new replicas run beyond the count at once, and at most --max-unavailable N\n"
    "(default 0) replicas are down at once (not both 0); each new replica must stay\n"
    "healthy (running by its check) for --min-healthy DURATION (default 10s)\n"
    "before the next step. A rollout whose new replicas are not healthy within\n"
    "--progress-deadline DURATION (default 10m) halts, the old replicas kept; with\n"
    "--auto-revert the catalog then goes back to the previous version everywhere.\n"
    "Both durations are at most 24h. The catalog keeps the version a deploy\n"
    "replaced (one version back; a deploy that changes only the count, requests\n"
    "or rollout flags keeps the one it had), so `starling rollback NAME` writes it\n"
    "back; a service whose record would be over the size limit with it keeps\n"
    "none. A redeploy with the same command, environment, check and user restarts\n"
    "nothing.\n"
    "--user NAME: the replicas run as user NAME (its uid, gid and groups; HOME,\n"
    "USER and LOGNAME set to its), in their cgroup as before; their logs stay the\n"
    "agent's. Without it they run as the agent's user. It needs agents running as\n"
    "root: the agent at --rpc refuses it (exit 1) when it is not root, and a peer\n"
    "that is not root, or has no user NAME, fails to start the replica (the reason\n"
    "is in the replica's log and the agent's), which goes to another peer after 3\n"
    "failed starts. NAME: up to 32 of A-Z a-z 0-9 . _ -, not starting with '-'.\n"
    "Exec health checks run as NAME too.\n"
    "Health checks: a replica is starting until its check passes, then running;\n"
    "--check-failures N (default 3) failed checks in a row while running make it\n"
    "unhealthy, and it is stopped and restarted with the usual backoff. The check\n"
    "runs every --check-interval (default 5s; every 150ms while starting) and\n"
    "fails after --check-timeout (default 2s). `--check tcp`: a connect to the\n"
    "replica's port succeeds; `--check http:/PATH`: GET PATH on the port answers\n"
    "2xx; `--check exec:CMD`: `/bin/sh -c CMD` exits 0 (it gets the replica's\n"
    "STARLING_* variables; killed, with its process group, at the timeout).\n"
    "Without --check a replica is running once its port accepts a connection or\n"
    "it stayed up 2s, and is never checked again. DURATION: N (seconds), Ns, Nms\n"
    "or Nm (minutes).\n"
    "With --operator-secret FILE (or $STARLING_OPERATOR_SECRET naming the file), the\n"
    "record is signed with that operator key (see `starling operator-keygen`): peers\n"
    "started with --operator-key run only signed records. Without it, the agent\n"
    "writes the record on its own authority, which such peers refuse.\n" SL__CLI_TOKEN_HELP;

static int bad(const sl__cli *cli, const char *what, const char *arg)
{
    fprintf(stderr, "starling %s: %s '%s'\n%s", cli->name, what, arg, cli->usage);
    return 2;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || s[0] == '-' || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Reads a duration: N (seconds), Ns, Nms or Nm (minutes), 1 ms up to max
 * ms. */
static int parse_ms(const char *s, uint32_t max, uint32_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || s[0] == '-' || end == s || v > UINT32_MAX)
        return -1;
    if (!strcmp(end, "ms"))
        ;
    else if (!*end || !strcmp(end, "s"))
        v *= 1000;
    else if (!strcmp(end, "m") && v <= UINT32_MAX / 60000)
        v *= 60000;
    else
        return -1;
    if (v == 0 || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* The "rollout" object of a deploy request: the flags given, NULL when
 * none was (the defaults). */
static json_t *rollout_json(const sl_rollout *r)
{
    if (!r->surge_set && !r->max_unavailable && !r->min_healthy_ms && !r->deadline_ms &&
        !r->auto_revert)
        return NULL;
    json_t *o = json_object();
    if (r->surge_set)
        json_object_set_new(o, "max_surge", json_integer(r->max_surge));
    if (r->max_unavailable)
        json_object_set_new(o, "max_unavailable", json_integer(r->max_unavailable));
    if (r->min_healthy_ms)
        json_object_set_new(o, "min_healthy_ms", json_integer(r->min_healthy_ms));
    if (r->deadline_ms)
        json_object_set_new(o, "deadline_ms", json_integer(r->deadline_ms));
    if (r->auto_revert)
        json_object_set_new(o, "auto_revert", json_true());
    return o;
}

/* Builds the spec from the flags and writes it signed. */
static int signed_deploy(const sl__cli *cli, const char *secret, const char *name,
                         uint32_t replicas, uint32_t cpu, uint32_t mem, const char *spread,
                         json_t *env, const sl_check *check, const char *user,
                         const sl_rollout *rollout, int argc, char **argv)
{
    char *envv[SL_SVC_ENV_MAX];
    size_t nenv = json_array_size(env);
    if (strlen(name) > SL_SVC_NAME_MAX || nenv > SL_SVC_ENV_MAX || argc > SL_SVC_ARGS_MAX) {
        sl__cli_error(cli,
                      "invalid service '%s': name up to %d bytes, at most %d arguments and "
                      "%d --env entries",
                      name, SL_SVC_NAME_MAX, SL_SVC_ARGS_MAX, SL_SVC_ENV_MAX);
        return 1;
    }
    for (size_t i = 0; i < nenv; i++)
        envv[i] = (char *)json_string_value(json_array_get(env, i));
    sl_service spec = {.replicas = replicas,
                       .cpu_milli = cpu,
                       .mem_mb = mem,
                       .spread = !strcmp(spread, "nodes") ? SL_SPREAD_NODES : SL_SPREAD_ZONES,
                       .argc = (uint32_t)argc,
                       .argv = argv,
                       .envc = (uint32_t)nenv,
                       .env = envv,
                       .check = *check,
                       .rollout = *rollout};
    snprintf(spec.name, sizeof spec.name, "%s", name);
    snprintf(spec.user, sizeof spec.user, "%s", user ? user : "");
    return sl__cli_signed_write(cli, secret, SL__SIGNED_DEPLOY, &spec, name, replicas);
}

int sl__cmd_deploy(int argc, char **argv)
{
    static const struct option opts[] = {
        {"replicas", required_argument, NULL, 'n'},
        {"cpu", required_argument, NULL, 'c'},
        {"mem", required_argument, NULL, 'm'},
        {"env", required_argument, NULL, 'e'},
        {"spread", required_argument, NULL, 's'},
        {"rpc", required_argument, NULL, 'r'},
        {"operator-secret", required_argument, NULL, 'k'},
        {"check", required_argument, NULL, 'C'},
        {"check-interval", required_argument, NULL, 'I'},
        {"check-timeout", required_argument, NULL, 'T'},
        {"check-failures", required_argument, NULL, 'F'},
        {"user", required_argument, NULL, 'u'},
        {"max-surge", required_argument, NULL, 'S'},
        {"max-unavailable", required_argument, NULL, 'U'},
        {"min-healthy", required_argument, NULL, 'H'},
        {"progress-deadline", required_argument, NULL, 'D'},
        {"auto-revert", no_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        SL__CLI_TOKEN_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    sl__cli cli = {.name = "deploy", .usage = usage};
    const char *env_rpc = getenv("STARLING_RPC_ADDR");
    cli.rpc = env_rpc && env_rpc[0] ? env_rpc : "127.0.0.1:7373";
    uint32_t replicas = 0, cpu = 0, mem = 0;
    bool have_replicas = false;
    const char *spread = "zones";
    sl_check check = {0};
    bool check_tuned = false;
    const char *user = NULL;
    sl_rollout roll = {0};
    json_t *env = json_array();
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":hj", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            json_decref(env);
            fputs(usage, stdout);
            return 0;
        case 'n':
            if (parse_u32(optarg, SL_SVC_REPLICAS_MAX, &replicas))
                return json_decref(env), bad(&cli, "--replicas must be 0..1000, not", optarg);
            have_replicas = true;
            break;
        case 'c':
            if (parse_u32(optarg, UINT32_MAX, &cpu))
                return json_decref(env), bad(&cli, "--cpu must be millicores, not", optarg);
            break;
        case 'm':
            if (parse_u32(optarg, UINT32_MAX, &mem))
                return json_decref(env), bad(&cli, "--mem must be megabytes, not", optarg);
            break;
        case 'e':
            if (!strchr(optarg, '=') || optarg[0] == '=')
                return json_decref(env), bad(&cli, "--env takes KEY=VALUE, not", optarg);
            json_array_append_new(env, json_string(optarg));
            break;
        case 's':
            if (strcmp(optarg, "zones") && strcmp(optarg, "nodes"))
                return json_decref(env), bad(&cli, "--spread must be zones or nodes, not", optarg);
            spread = optarg;
            break;
        case 'C':
            if (sl_check_parse(optarg, &check) != 0)
                return json_decref(env),
                       bad(&cli, "--check must be tcp, http:/PATH or exec:CMD, not", optarg);
            break;
        case 'I':
            if (parse_ms(optarg, SL_CHECK_INTERVAL_MAX_MS, &check.interval_ms))
                return json_decref(env),
                       bad(&cli, "--check-interval must be a duration up to 3600s, not", optarg);
            check_tuned = true;
            break;
        case 'T':
            if (parse_ms(optarg, SL_CHECK_TIMEOUT_MAX_MS, &check.timeout_ms))
                return json_decref(env),
                       bad(&cli, "--check-timeout must be a duration up to 600s, not", optarg);
            check_tuned = true;
            break;
        case 'F':
            if (parse_u32(optarg, SL_CHECK_FAILURES_MAX, &check.failures) || !check.failures)
                return json_decref(env), bad(&cli, "--check-failures must be 1..100, not", optarg);
            check_tuned = true;
            break;
        case 'u':
            if (sl_service_user_check(optarg) != 0)
                return json_decref(env),
                       bad(&cli,
                           "--user must be a user name (up to 32 of A-Z a-z 0-9 . _ -, not "
                           "starting with '-'), not",
                           optarg);
            user = optarg;
            break;
        case 'S':
            if (parse_u32(optarg, SL_SVC_REPLICAS_MAX, &roll.max_surge))
                return json_decref(env), bad(&cli, "--max-surge must be 0..1000, not", optarg);
            roll.surge_set = true;
            break;
        case 'U':
            if (parse_u32(optarg, SL_SVC_REPLICAS_MAX, &roll.max_unavailable))
                return json_decref(env),
                       bad(&cli, "--max-unavailable must be 0..1000, not", optarg);
            break;
        case 'H':
            if (parse_ms(optarg, SL_ROLL_TIME_MAX_MS, &roll.min_healthy_ms))
                return json_decref(env),
                       bad(&cli, "--min-healthy must be a duration up to 24h, not", optarg);
            break;
        case 'D':
            if (parse_ms(optarg, SL_ROLL_TIME_MAX_MS, &roll.deadline_ms))
                return json_decref(env),
                       bad(&cli, "--progress-deadline must be a duration up to 24h, not", optarg);
            break;
        case 'A': roll.auto_revert = true; break;
        case 'r': cli.rpc = optarg; break;
        case 'k': cli.secret = optarg; break;
        case 'j': cli.json = true; break;
        case SL__CLI_OPT_TOKEN:
        case SL__CLI_OPT_TOKEN_FILE:
        case SL__CLI_OPT_DATA_DIR:
            if (sl__cli_token_flag(&cli, opt, optarg) != 0)
                return json_decref(env), 2;
            break;
        case ':': return json_decref(env), bad(&cli, "missing value for", argv[optind - 1]);
        default: return json_decref(env), bad(&cli, "unknown option", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return json_decref(env), bad(&cli, "missing", "NAME");
    const char *name = argv[optind++];
    if (optind < argc && !strcmp(argv[optind], "--"))
        optind++;
    if (optind >= argc)
        return json_decref(env), bad(&cli, "missing the command after", "--");
    if (!have_replicas)
        return json_decref(env), bad(&cli, "missing", "--replicas N");
    if (check_tuned && check.kind == SL_CHECK_DEFAULT)
        return json_decref(env), bad(&cli,
                                     "--check-interval, --check-timeout and "
                                     "--check-failures need",
                                     "--check");
    if (sl_rollout_validate(&roll) != 0) {
        json_decref(env);
        fprintf(stderr,
                "starling deploy: --max-surge 0 needs --max-unavailable 1 or more (a rollout "
                "could never take a step)\n%s",
                usage);
        return 2;
    }
    const char *secret = sl__cli_secret_path(cli.secret);
    if (secret) {
        int rc = signed_deploy(&cli, secret, name, replicas, cpu, mem, spread, env, &check, user,
                               &roll, argc - optind, argv + optind);
        json_decref(env);
        if (rc == 0 && !cli.json)
            printf("deployed %s: %u replica%s (signed)\n", name, replicas,
                   replicas == 1 ? "" : "s");
        else if (rc == 0) {
            json_t *out = json_pack("{s:s, s:i, s:b}", "name", name, "replicas",
                                    (json_int_t)replicas, "signed", 1);
            sl__cli_print_json(out);
            json_decref(out);
        }
        return rc;
    }
    json_t *cmd = json_array();
    for (int i = optind; i < argc; i++)
        json_array_append_new(cmd, json_string(argv[i]));
    json_t *req = json_pack("{s:s, s:s, s:i, s:i, s:i, s:s, s:o, s:o}", "command", "deploy", "name",
                            name, "replicas", (json_int_t)replicas, "cpu", (json_int_t)cpu, "mem",
                            (json_int_t)mem, "spread", spread, "argv", cmd, "env", env);
    if (check.kind != SL_CHECK_DEFAULT) {
        char spec[SL_CHECK_ARG_MAX + 8];
        sl_check_format(&check, spec, sizeof spec);
        json_t *c = json_pack("{s:s}", "spec", spec);
        if (check.interval_ms)
            json_object_set_new(c, "interval_ms", json_integer(check.interval_ms));
        if (check.timeout_ms)
            json_object_set_new(c, "timeout_ms", json_integer(check.timeout_ms));
        if (check.failures)
            json_object_set_new(c, "failures", json_integer(check.failures));
        json_object_set_new(req, "check", c);
    }
    if (user)
        json_object_set_new(req, "user", json_string(user));
    json_t *ro = rollout_json(&roll);
    if (ro)
        json_object_set_new(req, "rollout", ro);
    json_t *reply;
    if (sl__cli_call(&cli, req, &reply, SL__CLI_TIMEOUT_MS) != 0)
        return 1;
    if (cli.json)
        sl__cli_print_json(reply);
    else
        printf("deployed %s: %u replica%s\n", name, replicas, replicas == 1 ? "" : "s");
    json_decref(reply);
    return 0;
}
