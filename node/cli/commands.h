/* The subcommands of the `starling` binary. Each lives in its own file
 * node/cmd_<name>.c and is listed once in node/main.c's table. A command gets
 * argv with argv[0] being its own name and returns the process exit code:
 * 0 on success, 1 on a failure it reported, 2 on a usage error. */
#ifndef STARLING_NODE_COMMANDS_H
#define STARLING_NODE_COMMANDS_H

typedef struct sl__command {
    const char *name;
    const char *summary; /* one line for `starling --help` */
    int (*run)(int argc, char **argv);
} sl__command;

/* The agent and the membership CLI (node/cli/cmd_agent.c, cmd_members.c, ...). */
int sl__cmd_agent(int argc, char **argv);
int sl__cmd_members(int argc, char **argv);
int sl__cmd_info(int argc, char **argv);
int sl__cmd_join(int argc, char **argv);
int sl__cmd_leave(int argc, char **argv);
int sl__cmd_monitor(int argc, char **argv);
int sl__cmd_deploy(int argc, char **argv);
int sl__cmd_scale(int argc, char **argv);
int sl__cmd_rm(int argc, char **argv);
int sl__cmd_rollback(int argc, char **argv);
int sl__cmd_services(int argc, char **argv);
int sl__cmd_ps(int argc, char **argv);
int sl__cmd_where(int argc, char **argv);
int sl__cmd_rollout(int argc, char **argv);
int sl__cmd_logs(int argc, char **argv);
int sl__cmd_drain(int argc, char **argv);
int sl__cmd_operator_keygen(int argc, char **argv);

/* Cluster keys (node/cli/cmd_keys.c). */
int sl__cmd_keygen(int argc, char **argv);
int sl__cmd_keys(int argc, char **argv);

/* The internal shim that spawns replicas (node/runtime/cmd_exec.c); not listed. */
int sl__cmd_exec(int argc, char **argv);

/* The table, terminated by an entry with a NULL name. */
extern const sl__command sl__commands[];

/* `starling plan`: node/cli/cmd_plan.c. */
int sl__cmd_plan(int argc, char **argv);

#endif
