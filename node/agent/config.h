/* Internal: the agent's configuration, from its command-line flags. */
#ifndef STARLING_NODE_CONFIG_H
#define STARLING_NODE_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "agent/log.h"
#include "rpc/rpc.h"
#include "starling/catalog.h"
#include "starling/keyring.h"
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
    bool plain_swim; /* --lifeguard off: plain SWIM (set into timing after parsing) */
    bool no_cgroups; /* --no-cgroups: replicas get no cgroup, limits are off */
    sl__log_level log_level;
    uint32_t rpc_idle_ms;                        /* RPC connections silent this long are closed */
    char rpc_token[SL__RPC_TOKEN_MAX + 1];       /* --rpc-token, "" for DIR/rpc-token */
    uint32_t rpc_auth_timeout_ms;                /* to finish the handshake and the first request */
    uint32_t rpc_max_monitors;                   /* monitor and log streams at once */
    uint32_t log_max_mb;                         /* --log-max: per replica log file */
    char seeds[SL__SEEDS_MAX][SL__HOSTPORT_MAX]; /* --join HOST:PORT, as given */
    int nseeds;

    /* Security (SECURITY.md). */
    bool have_encrypt;             /* --encrypt KEY given */
    uint8_t encrypt[SL_KEY_BYTES]; /* installed as the primary key at start */
    uint8_t operator_keys[SL_CATALOG_TRUST_MAX][SL_OPERATOR_PUB_BYTES]; /* --operator-key */
    int noperator_keys;
    uint64_t clock_skew_ms;    /* --clock-skew: records stamped further ahead are refused */
    uint64_t tombstone_ttl_ms; /* --tombstone-ttl: the catalog's horizon */

    /* Limits (README, "Limits"). */
    uint32_t max_members;         /* --max-members */
    uint32_t max_meta;            /* --max-meta: bytes of another member's metadata */
    uint32_t max_services;        /* --max-services */
    uint32_t max_state_bytes;     /* --max-state MB: a push-pull state, a frame */
    uint32_t max_inbound_streams; /* --max-inbound-streams */
    uint32_t max_streams_per_ip;  /* --max-streams-per-ip */
} sl__agent_config;

/* Defaults of the limits. */
#define SL__MAX_STATE_MB_DEFAULT 64
#define SL__MAX_INBOUND_STREAMS_DEFAULT 32
#define SL__MAX_STREAMS_PER_IP_DEFAULT 4

/* Default ports, as Serf's. */
#define SL__GOSSIP_PORT 7946
#define SL__RPC_PORT 7373

/* Parses the agent's flags (argv[0] is "agent"). Returns 0 with *cfg filled,
 * 1 when --help was asked (usage already printed to stdout), or 2 for a usage
 * error (one line and the usage already printed to stderr). */
int sl__agent_config_parse(int argc, char **argv, sl__agent_config *cfg);

/* Decodes an operator public key from base64. Returns 0 or -1. */
int sl__operator_pub_decode(const char *text, uint8_t pub[SL_OPERATOR_PUB_BYTES]);

/* Prints the agent's usage. */
void sl__agent_usage(FILE *to);

#endif
