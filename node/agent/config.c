/* The agent's flags. Every flag is checked here, before anything is opened,
 * so that a typo costs one clear line and exit code 2 rather than a half
 * started agent. */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"
#include "rpc/rpc.h"
#include "rpc/rpc_token.h"
#include "runtime/replica_log.h"
#include "starling/error.h"

void sl__agent_usage(FILE *to)
{
    fprintf(to,
            "Usage: starling agent [options]\n\n"
            "Runs a Starling peer: gossips membership with the other peers and answers\n"
            "the command-line tools on its RPC address. Stop it with SIGTERM or SIGINT:\n"
            "it announces its leave, waits until the news has spread, and exits 0.\n\n"
            "Options:\n"
            "  --name NAME          unique member name (default: the host name)\n"
            "  --bind HOST:PORT     gossip address, UDP and TCP (default 0.0.0.0:%d)\n"
            "  --advertise HOST:PORT  address the others reach us at (default: the bind\n"
            "                       address, or the first non-loopback IPv4 address when\n"
            "                       binding 0.0.0.0); 0.0.0.0 is refused\n"
            "  --join HOST:PORT     a peer to join; repeatable; retried with backoff until\n"
            "                       one answers, and again whenever we find ourselves alone\n"
            "  --rpc HOST:PORT      RPC address for the CLI (default 127.0.0.1:%d); outside\n"
            "                       loopback it needs --rpc-token or --data-dir\n"
            "  --data-dir DIR       remembers peers and the boot generation here; restarted\n"
            "                       without --join, the agent rejoins the peers it knew.\n"
            "                       Holds the RPC token, DIR/rpc-token (made on first start,\n"
            "                       mode 0600): the CLI reads it with --data-dir DIR\n"
            "  --zone ZONE          failure zone, spread in the member's metadata\n"
            "  --tag KEY=VALUE      a tag in the member's metadata; repeatable\n"
            "  --slots N            this peer's share of replicas, relative to the others\n"
            "                       (placement weight, 1..65535; default 1)\n"
            "  --cpu MILLI          CPU capacity for replicas, in millicores (default:\n"
            "                       unlimited); services' --cpu requests must fit it\n"
            "  --mem MB             memory capacity for replicas, in MB (default: unlimited)\n"
            "  --no-cgroups         never put replicas in cgroups: services' --cpu and --mem\n"
            "                       are then not enforced (see `starling info`, limits)\n"
            "  --profile P          lan (default), local (loopback, fast) or wan\n"
            "  --lifeguard on|off   Lifeguard's local health awareness, nacks, dynamic\n"
            "                       suspicion timeout and buddy system (default on); off\n"
            "                       runs plain SWIM, to measure what Lifeguard buys\n"
            "  --cluster LABEL      only peers with the same label talk to each other\n"
            "  --rpc-idle SECONDS   close RPC connections that sent nothing for this\n"
            "                       long (1..86400; default %d); monitors are exempt\n"
            "  --rpc-token TOKEN    the RPC token (%d to %d bytes), used instead of\n"
            "                       DIR/rpc-token; the CLI must present it (--token,\n"
            "                       STARLING_RPC_TOKEN). Without it or --data-dir, a token\n"
            "                       is made in the agent's private temporary directory\n"
            "                       (its path is logged)\n"
            "  --rpc-auth-timeout SECONDS  close RPC connections that have not finished the\n"
            "                       handshake and their first request by then (1..3600;\n"
            "                       default %d); at most %d may be unauthenticated at once\n"
            "  --rpc-max-monitors N  monitor and `logs` streams served at once (0..%d;\n"
            "                       default %d)\n"
            "  --log-max MB         cap of each replica log file on this peer (1..4096;\n"
            "                       default 10); the file is rotated before it passes the\n"
            "                       cap and 2 rotated files are kept\n"
            "  --log-level L        debug, info (default), warn or error\n"
            "\nSecurity (see SECURITY.md):\n"
            "  --encrypt KEY        seal all gossip with this cluster key (base64, from\n"
            "                       `starling keygen`); it becomes the primary key of the\n"
            "                       keyring, kept in DATA_DIR/keyring (mode 0600) with a\n"
            "                       data dir. Without a key, gossip is not sealed.\n"
            "  --operator-key PUB   run only catalog writes signed by this operator key\n"
            "                       (base64, from `starling operator-keygen`); repeatable;\n"
            "                       also read from DATA_DIR/operator-keys, one per line.\n"
            "                       Without any, unsigned writes are run (and a warning says so)\n"
            "  --clock-skew SECONDS refuse catalog writes stamped further ahead of this\n"
            "                       peer's clock (default %llu)\n"
            "  --tombstone-ttl D    keep deleted services' tombstones this long, counted from\n"
            "                       the delete: 90s, 30m, 24h, 7d (default 7d)\n"
            "\nLimits:\n"
            "  --max-members N      members held at most (default %u)\n"
            "  --max-meta BYTES     largest member metadata accepted (64..%u; default %u)\n"
            "  --max-services N     catalog records held at most (default %u)\n"
            "  --max-state MB       largest push-pull state or catalog file accepted (default %u)\n"
            "  --max-inbound-streams N  push-pull and join streams served at once (default %u)\n"
            "  --max-streams-per-ip N   of which from one IP address (default %u)\n"
            "  -h, --help           this help\n",
            SL__GOSSIP_PORT, SL__RPC_PORT, SL__RPC_IDLE_MS / 1000, SL__RPC_TOKEN_MIN,
            SL__RPC_TOKEN_MAX, SL__RPC_AUTH_TIMEOUT_MS / 1000, SL__RPC_UNAUTH_MAX,
            SL__RPC_MONITORS_LIMIT, SL__RPC_MONITORS_MAX,
            (unsigned long long)(SL_CATALOG_SKEW_MS / 1000), SL_SWIM_MEMBERS_DEFAULT,
            SL_SWIM_META_MAX, SL_SWIM_META_MAX, SL_CATALOG_SERVICES_MAX, SL__MAX_STATE_MB_DEFAULT,
            SL__MAX_INBOUND_STREAMS_DEFAULT, SL__MAX_STREAMS_PER_IP_DEFAULT);
}

_Static_assert(SL__LOG_MAX_MB_LIMIT == 4096 && SL__LOG_MAX_MB_DEFAULT == 10,
               "the help and the message below spell these out");
_Static_assert(SL__RPC_MONITORS_LIMIT == 55 && SL__RPC_TOKEN_MIN == 16 && SL__RPC_TOKEN_MAX == 1024,
               "the messages below spell these limits out");

/* Parses a decimal number in [min, max]. Returns 0 or -1. */
static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || s[0] == '-' || errno || v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "starling agent: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    sl__agent_usage(stderr);
    return 2;
}

static int parse_tag(sl__agent_config *cfg, const char *arg)
{
    const char *eq = strchr(arg, '=');
    char key[SL_META_TAG_KEY_MAX + 2];
    if (!eq || eq == arg || (size_t)(eq - arg) > SL_META_TAG_KEY_MAX)
        return -1;
    memcpy(key, arg, (size_t)(eq - arg));
    key[eq - arg] = 0;
    return sl_meta_set_tag(&cfg->meta, key, eq + 1) == 0 ? 0 : -1;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static void set_defaults(sl__agent_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    if (gethostname(cfg->name, sizeof cfg->name) != 0 || !cfg->name[0])
        strcpy(cfg->name, "starling");
    cfg->name[SL_SWIM_NAME_MAX] = 0;
    strcpy(cfg->profile, "lan");
    sl_addr_parse("0.0.0.0", SL__GOSSIP_PORT, &cfg->bind);
    sl_addr_parse("127.0.0.1", SL__RPC_PORT, &cfg->rpc);
    cfg->log_level = SL__LOG_INFO;
    cfg->rpc_idle_ms = SL__RPC_IDLE_MS;
    cfg->rpc_auth_timeout_ms = SL__RPC_AUTH_TIMEOUT_MS;
    cfg->rpc_max_monitors = SL__RPC_MONITORS_MAX;
    cfg->log_max_mb = SL__LOG_MAX_MB_DEFAULT;
    cfg->clock_skew_ms = SL_CATALOG_SKEW_MS;
    cfg->tombstone_ttl_ms = SL_CATALOG_HORIZON_MS;
    cfg->max_members = SL_SWIM_MEMBERS_DEFAULT;
    cfg->max_meta = SL_SWIM_META_MAX;
    cfg->max_services = SL_CATALOG_SERVICES_MAX;
    cfg->max_state_bytes = SL__MAX_STATE_MB_DEFAULT << 20;
    cfg->max_inbound_streams = SL__MAX_INBOUND_STREAMS_DEFAULT;
    cfg->max_streams_per_ip = SL__MAX_STREAMS_PER_IP_DEFAULT;
}

/* Parses "90s", "30m", "24h", "7d" (or plain seconds) into ms within
 * [min_ms, max_ms]. Returns 0 or -1. */
static int parse_duration_ms(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t unit = 1000;
    if (end == s || s[0] == '-' || errno)
        return -1;
    if (*end == 's' || *end == 'm' || *end == 'h' || *end == 'd') {
        unit = *end == 's' ? 1000 : *end == 'm' ? 60000 : *end == 'h' ? 3600000 : 86400000;
        end++;
    }
    if (*end || v > max_ms / unit || v * unit < min_ms)
        return -1;
    *out = v * unit;
    return 0;
}

enum {
    OPT_NAME = 256,
    OPT_BIND,
    OPT_ADV,
    OPT_JOIN,
    OPT_RPC,
    OPT_DATA,
    OPT_ZONE,
    OPT_TAG,
    OPT_SLOTS,
    OPT_CPU,
    OPT_MEM,
    OPT_NO_CGROUPS,
    OPT_PROFILE,
    OPT_LIFEGUARD,
    OPT_CLUSTER,
    OPT_LOG,
    OPT_RPC_IDLE,
    OPT_RPC_TOKEN,
    OPT_RPC_AUTH_TIMEOUT,
    OPT_RPC_MAX_MONITORS,
    OPT_LOG_MAX,
    OPT_ENCRYPT,
    OPT_OPERATOR_KEY,
    OPT_CLOCK_SKEW,
    OPT_TOMBSTONE_TTL,
    OPT_MAX_MEMBERS,
    OPT_MAX_META,
    OPT_MAX_SERVICES,
    OPT_MAX_STATE,
    OPT_MAX_INBOUND,
    OPT_MAX_PER_IP,
};

static const struct option long_opts[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"bind", required_argument, NULL, OPT_BIND},
    {"advertise", required_argument, NULL, OPT_ADV},
    {"join", required_argument, NULL, OPT_JOIN},
    {"rpc", required_argument, NULL, OPT_RPC},
    {"data-dir", required_argument, NULL, OPT_DATA},
    {"zone", required_argument, NULL, OPT_ZONE},
    {"tag", required_argument, NULL, OPT_TAG},
    {"slots", required_argument, NULL, OPT_SLOTS},
    {"cpu", required_argument, NULL, OPT_CPU},
    {"mem", required_argument, NULL, OPT_MEM},
    {"no-cgroups", no_argument, NULL, OPT_NO_CGROUPS},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"lifeguard", required_argument, NULL, OPT_LIFEGUARD},
    {"cluster", required_argument, NULL, OPT_CLUSTER},
    {"log-level", required_argument, NULL, OPT_LOG},
    {"rpc-idle", required_argument, NULL, OPT_RPC_IDLE},
    {"rpc-token", required_argument, NULL, OPT_RPC_TOKEN},
    {"rpc-auth-timeout", required_argument, NULL, OPT_RPC_AUTH_TIMEOUT},
    {"rpc-max-monitors", required_argument, NULL, OPT_RPC_MAX_MONITORS},
    {"log-max", required_argument, NULL, OPT_LOG_MAX},
    {"encrypt", required_argument, NULL, OPT_ENCRYPT},
    {"operator-key", required_argument, NULL, OPT_OPERATOR_KEY},
    {"clock-skew", required_argument, NULL, OPT_CLOCK_SKEW},
    {"tombstone-ttl", required_argument, NULL, OPT_TOMBSTONE_TTL},
    {"max-members", required_argument, NULL, OPT_MAX_MEMBERS},
    {"max-meta", required_argument, NULL, OPT_MAX_META},
    {"max-services", required_argument, NULL, OPT_MAX_SERVICES},
    {"max-state", required_argument, NULL, OPT_MAX_STATE},
    {"max-inbound-streams", required_argument, NULL, OPT_MAX_INBOUND},
    {"max-streams-per-ip", required_argument, NULL, OPT_MAX_PER_IP},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Applies one security or limit flag. Returns 0 or the exit code of a usage
 * error. */
static int apply_security(sl__agent_config *cfg, int opt, const char *arg)
{
    uint32_t v;
    uint64_t ms;
    switch (opt) {
    case OPT_ENCRYPT:
        if (sl_key_decode(arg, cfg->encrypt) != 0)
            return bad("--encrypt wants a 32-byte key in base64 (see `starling keygen`), not "
                       "'%s'",
                       arg);
        cfg->have_encrypt = true;
        return 0;
    case OPT_OPERATOR_KEY:
        if (cfg->noperator_keys == SL_CATALOG_TRUST_MAX)
            return bad("too many --operator-key flags (at most 16): '%s'", arg);
        if (sl__operator_pub_decode(arg, cfg->operator_keys[cfg->noperator_keys]) != 0)
            return bad("--operator-key wants a public key in base64 (see `starling "
                       "operator-keygen`), not '%s'",
                       arg);
        cfg->noperator_keys++;
        return 0;
    case OPT_CLOCK_SKEW:
        if (parse_u32(arg, 1, 86400, &v) != 0)
            return bad("--clock-skew must be 1..86400 seconds: '%s'", arg);
        cfg->clock_skew_ms = (uint64_t)v * 1000;
        return 0;
    case OPT_TOMBSTONE_TTL:
        if (parse_duration_ms(arg, 10000, 3650ull * 86400000, &ms) != 0)
            return bad("--tombstone-ttl must be a duration from 10s to 3650d (90s, 30m, 24h, "
                       "7d): '%s'",
                       arg);
        cfg->tombstone_ttl_ms = ms;
        return 0;
    case OPT_MAX_MEMBERS:
        if (parse_u32(arg, 2, (1u << 24) - 2, &v) != 0)
            return bad("--max-members must be 2..16777214: '%s'", arg);
        cfg->max_members = v;
        return 0;
    case OPT_MAX_META:
        if (parse_u32(arg, 64, SL_SWIM_META_MAX, &v) != 0)
            return bad("--max-meta must be 64..512 bytes: '%s'", arg);
        cfg->max_meta = v;
        return 0;
    case OPT_MAX_SERVICES:
        if (parse_u32(arg, 1, 1000000, &v) != 0)
            return bad("--max-services must be 1..1000000: '%s'", arg);
        cfg->max_services = v;
        return 0;
    case OPT_MAX_STATE:
        if (parse_u32(arg, 1, SL_SWIM_STATE_MAX >> 20, &v) != 0)
            return bad("--max-state must be 1..64 MB: '%s'", arg);
        cfg->max_state_bytes = v << 20;
        return 0;
    case OPT_MAX_INBOUND:
        if (parse_u32(arg, 1, 1024, &v) != 0)
            return bad("--max-inbound-streams must be 1..1024: '%s'", arg);
        cfg->max_inbound_streams = v;
        return 0;
    case OPT_MAX_PER_IP:
        if (parse_u32(arg, 1, 1024, &v) != 0)
            return bad("--max-streams-per-ip must be 1..1024: '%s'", arg);
        cfg->max_streams_per_ip = v;
        return 0;
    }
    return 2;
}

/* Applies one parsed flag. Returns 0 or the exit code of a usage error. */
static int apply(sl__agent_config *cfg, int opt, const char *arg)
{
    switch (opt) {
    case OPT_NAME:
        if (!arg[0] || copy_str(cfg->name, sizeof cfg->name, arg) != 0)
            return bad("--name must be 1 to 64 bytes: '%s'", arg);
        return 0;
    case OPT_BIND:
        if (sl_addr_parse(arg, SL__GOSSIP_PORT, &cfg->bind) != 0)
            return bad("--bind wants HOST:PORT with a numeric host: '%s'", arg);
        return 0;
    case OPT_ADV:
        if (sl_addr_parse(arg, 0, &cfg->advertise) != 0)
            return bad("--advertise wants HOST:PORT with a numeric host: '%s'", arg);
        if (sl_addr_is_unspecified(&cfg->advertise) || cfg->advertise.port == 0)
            return bad("--advertise must be an address others can reach, not '%s'", arg);
        return 0;
    case OPT_JOIN:
        if (cfg->nseeds == SL__SEEDS_MAX)
            return bad("too many --join flags (at most 64): '%s'", arg);
        if (!strchr(arg, ':') || copy_str(cfg->seeds[cfg->nseeds], SL__HOSTPORT_MAX, arg) != 0)
            return bad("--join wants HOST:PORT: '%s'", arg);
        cfg->nseeds++;
        return 0;
    case OPT_RPC:
        if (sl_addr_parse(arg, SL__RPC_PORT, &cfg->rpc) != 0)
            return bad("--rpc wants HOST:PORT with a numeric host: '%s'", arg);
        return 0;
    case OPT_DATA:
        if (!arg[0] || copy_str(cfg->data_dir, sizeof cfg->data_dir - 32, arg) != 0)
            return bad("--data-dir is empty or too long: '%s'", arg);
        return 0;
    case OPT_ZONE:
        if (copy_str(cfg->meta.zone, sizeof cfg->meta.zone, arg) != 0)
            return bad("--zone is longer than 63 bytes: '%s'", arg);
        return 0;
    case OPT_TAG:
        if (parse_tag(cfg, arg) != 0)
            return bad("--tag wants KEY=VALUE (key <= 63, value <= 127 bytes, <= 16 tags): "
                       "'%s'",
                       arg);
        return 0;
    case OPT_SLOTS:
        if (parse_u32(arg, 1, 65535, &cfg->meta.slots) != 0)
            return bad("--slots must be 1..65535: '%s'", arg);
        return 0;
    case OPT_CPU:
        if (parse_u32(arg, 1, UINT32_MAX, &cfg->meta.cpu_milli) != 0)
            return bad("--cpu must be a positive number of millicores: '%s'", arg);
        return 0;
    case OPT_MEM:
        if (parse_u32(arg, 1, UINT32_MAX, &cfg->meta.mem_mb) != 0)
            return bad("--mem must be a positive number of MB: '%s'", arg);
        return 0;
    case OPT_NO_CGROUPS: cfg->no_cgroups = true; return 0;
    case OPT_PROFILE:
        if (sl_swim_profile(arg, &cfg->timing) != 0 ||
            copy_str(cfg->profile, sizeof cfg->profile, arg) != 0)
            return bad("--profile must be lan, local or wan: '%s'", arg);
        return 0;
    case OPT_LIFEGUARD:
        if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
            return bad("--lifeguard must be on or off: '%s'", arg);
        cfg->plain_swim = strcmp(arg, "off") == 0;
        return 0;
    case OPT_CLUSTER:
        if (copy_str(cfg->cluster, sizeof cfg->cluster, arg) != 0)
            return bad("--cluster is longer than 64 bytes: '%s'", arg);
        return 0;
    case OPT_RPC_IDLE: {
        uint32_t secs;
        if (parse_u32(arg, 1, 86400, &secs) != 0)
            return bad("--rpc-idle must be 1..86400 seconds: '%s'", arg);
        cfg->rpc_idle_ms = secs * 1000;
        return 0;
    }
    case OPT_RPC_TOKEN: {
        /* Never echoed: a usage error must not print the token. */
        size_t n = sl__rpc_token_trim(arg, strlen(arg));
        if (n < SL__RPC_TOKEN_MIN || n > SL__RPC_TOKEN_MAX)
            return bad("--rpc-token must be 16 to 1024 bytes long (not counting trailing "
                       "white space)%s",
                       "");
        memcpy(cfg->rpc_token, arg, n);
        cfg->rpc_token[n] = 0;
        return 0;
    }
    case OPT_RPC_AUTH_TIMEOUT: {
        uint32_t secs;
        if (parse_u32(arg, 1, 3600, &secs) != 0)
            return bad("--rpc-auth-timeout must be 1..3600 seconds: '%s'", arg);
        cfg->rpc_auth_timeout_ms = secs * 1000;
        return 0;
    }
    case OPT_RPC_MAX_MONITORS:
        if (parse_u32(arg, 0, SL__RPC_MONITORS_LIMIT, &cfg->rpc_max_monitors) != 0)
            return bad("--rpc-max-monitors must be 0..55 (below the 64 connections minus 8): "
                       "'%s'",
                       arg);
        return 0;
    case OPT_LOG_MAX:
        if (parse_u32(arg, 1, SL__LOG_MAX_MB_LIMIT, &cfg->log_max_mb) != 0)
            return bad("--log-max must be 1..4096 MB: '%s'", arg);
        return 0;
    case OPT_LOG:
        if (sl__log_parse_level(arg, &cfg->log_level) != 0)
            return bad("--log-level must be debug, info, warn or error: '%s'", arg);
        return 0;
    }
    return apply_security(cfg, opt, arg);
}

int sl__agent_config_parse(int argc, char **argv, sl__agent_config *cfg)
{
    set_defaults(cfg);
    sl_swim_profile("lan", &cfg->timing);
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        if (opt == 'h') {
            sl__agent_usage(stdout);
            return 1;
        }
        if (opt == ':')
            return bad("%s needs a value", argv[optind - 1]);
        if (opt == '?')
            return bad("unknown option '%s'", argv[optind - 1]);
        int rc = apply(cfg, opt, optarg);
        if (opt == OPT_RPC_TOKEN) /* out of `ps` and /proc/PID/cmdline from now on */
            memset(optarg, 'x', strlen(optarg));
        if (rc)
            return rc;
    }
    if (optind < argc)
        return bad("unexpected argument '%s'", argv[optind]);
    cfg->timing.plain_swim = cfg->plain_swim; /* whatever order --profile came in */
    if (cfg->bind.port == 0)
        return bad("--bind needs a non-zero port%s", "");
    if (cfg->advertise.family && cfg->advertise.family != cfg->bind.family &&
        !sl_addr_is_unspecified(&cfg->bind))
        return bad("--advertise and --bind are of different address families%s", "");
    if (cfg->max_streams_per_ip > cfg->max_inbound_streams)
        return bad("--max-streams-per-ip cannot exceed --max-inbound-streams%s", "");
    return 0;
}

int sl__operator_pub_decode(const char *text, uint8_t pub[SL_OPERATOR_PUB_BYTES])
{
    size_t got = 0;
    const char *end = NULL;
    uint8_t buf[SL_OPERATOR_PUB_BYTES + 4];
    if (sodium_base642bin(buf, sizeof buf, text, strlen(text), NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != SL_OPERATOR_PUB_BYTES || (end && *end))
        return -1;
    memcpy(pub, buf, SL_OPERATOR_PUB_BYTES);
    return 0;
}
