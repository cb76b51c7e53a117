/* Internal: the agent's configuration, from its command-line flags. */
#ifndef STARLING_NODE_CONFIG_H
#define STARLING_NODE_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "log.h"
#include "rpc.h"
#include "starling/meta.h"
#include "starling/swim.h"

#define SL__SEEDS_MAX 64
#define SL__HOSTPORT_MAX 300 /* a host name (255) plus ":65535" */

typedef struct sl__agent_config {
    char name[SL_SWIM_NAME_MAX + 1];
    char cluster[SL_SWIM_CLUSTER_MAX + 1];
    char profile[8];
    sl_addr bind;      /* gossip, UDP and TCP */
    sl_addr advertise; /* family 0 until resolved */
    sl_addr rpc;
    char data_dir[4096]; /* "" without a data dir */
    sl_meta meta;        /* zone and tags */
    sl_swim_timing timing;
    sl__log_level log_level;
    uint32_t rpc_idle_ms;                        /* RPC connections silent this long are closed */
    char rpc_token[SL__RPC_TOKEN_MAX + 1];       /* --rpc-token, "" for DIR/rpc-token */
    uint32_t rpc_auth_timeout_ms;                /* to finish the handshake and the first request */
    uint32_t rpc_max_monitors;                   /* monitor streams at once */
    char seeds[SL__SEEDS_MAX][SL__HOSTPORT_MAX]; /* --join HOST:PORT, as given */
    int nseeds;
} sl__agent_config;

/* Default ports, as Serf's. */
#define SL__GOSSIP_PORT 7946
#define SL__RPC_PORT 7373

/* Parses the agent's flags (argv[0] is "agent"). Returns 0 with *cfg filled,
 * 1 when --help was asked (usage already printed to stdout), or 2 for a usage
 * error (one line and the usage already printed to stderr). */
int sl__agent_config_parse(int argc, char **argv, sl__agent_config *cfg);

/* Prints the agent's usage. */
void sl__agent_usage(FILE *to);

#endif
