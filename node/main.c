/* `starling`: one binary, subcommands in the style of Serf and Consul. This
 * file only dispatches; every subcommand lives in node/cmd_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

#define SL_VERSION "0.1.0"

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("starling %s\n", SL_VERSION);
    return 0;
}

const sl__command sl__commands[] = {
    {"agent", "Run a peer: gossip membership, answer the CLI", sl__cmd_agent},
    {"members", "List the members one peer knows", sl__cmd_members},
    {"info", "Show one peer's name, addresses and counters", sl__cmd_info},
    {"join", "Ask a peer to join other peers", sl__cmd_join},
    {"leave", "Make a peer leave the cluster gracefully and stop", sl__cmd_leave},
    {"monitor", "Stream membership events from a peer", sl__cmd_monitor},
    {"deploy", "Create or replace a service in the cluster's catalog", sl__cmd_deploy},
    {"scale", "Change a service's replica count", sl__cmd_scale},
    {"rm", "Remove a service; its replicas stop everywhere", sl__cmd_rm},
    {"rollback", "Write back the version a service's last deploy replaced", sl__cmd_rollback},
    {"services", "List the services the cluster wants", sl__cmd_services},
    {"ps", "List the replicas one peer runs", sl__cmd_ps},
    {"where", "List where every replica of a service runs", sl__cmd_where},
    {"rollout", "Show how far a service's rolling update has come", sl__cmd_rollout},
    {"logs", "Print or follow a replica's output, from the peer that runs it", sl__cmd_logs},
    {"drain", "Hand a peer's replicas to others before it leaves", sl__cmd_drain},
    {"keygen", "Print a new random cluster key (for --encrypt and keys install)", sl__cmd_keygen},
    {"keys", "List, install, use or remove a cluster key on every live member", sl__cmd_keys},
    {"operator-keygen", "Create an operator key pair for signing the desired state",
     sl__cmd_operator_keygen},
    {"plan", "Compute replica placement for given members and services (what-if)", sl__cmd_plan},
    {"version", "Print the version", cmd_version},
    {"_exec", "internal: the shim that runs a replica", sl__cmd_exec},
    {NULL, NULL, NULL},
};

static void usage(FILE *to)
{
    fprintf(to, "Usage: starling <command> [options]\n\n"
                "A masterless runtime for services: every machine runs the same peer.\n\n"
                "Commands:\n");
    for (const sl__command *c = sl__commands; c->name; c++)
        if (c->name[0] != '_') /* internal commands are not listed */
            fprintf(to, "  %-16s %s\n", c->name, c->summary);
    fprintf(to, "\nRun 'starling <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version"))
        return cmd_version(0, NULL);
    for (const sl__command *c = sl__commands; c->name; c++)
        if (!strcmp(c->name, argv[1]))
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "starling: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
