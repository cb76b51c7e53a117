/* `starling keygen` and `starling keys list|install|use|remove KEY`: new
 * cluster keys, and the keyring of every live member changed at once
 * through any peer (keys.c runs the operation, include/starling/keyops.h
 * says how it travels). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "starling/keyops.h"
#include "starling/keyring.h"

static const char keygen_usage[] =
    "Usage: starling keygen\n\n"
    "Prints a new random cluster key: 32 bytes from libsodium's generator, as\n"
    "standard base64 on one line. Give it to every peer with --encrypt KEY, or\n"
    "rotate a running cluster to it with `starling keys install|use|remove`.\n"
    "Keep it secret: whoever holds it can read and join the cluster's gossip.\n";

static const char keys_usage[] =
    "Usage: starling keys list [--rpc HOST:PORT] [--timeout SECONDS] [--json]\n"
    "       starling keys install|use|remove KEY [--rpc HOST:PORT] [--timeout SECONDS] [--json]\n\n"
    "Reads or changes the keyring (the keys that seal gossip) of every live\n"
    "member at once. The agent at --rpc (default 127.0.0.1:7373, or\n"
    "$STARLING_RPC_ADDR) applies the operation to itself first, spreads it by\n"
    "gossip, and waits until every member alive or suspect at the start has\n"
    "answered, or --timeout SECONDS passed (default 5 with the local profile, 15\n"
    "otherwise). Peers with a data dir save their keyring in DATA_DIR/keyring.\n\n"
    "  list          change nothing; show the keys the members hold\n"
    "  install KEY   add KEY to every keyring (it opens traffic; the primary still seals)\n"
    "  use KEY       make KEY, already installed everywhere, the primary that seals\n"
    "  remove KEY    take KEY out of every keyring (an error where it is the primary;\n"
    "                refused outright when it is the primary of the agent at --rpc)\n\n"
    "Installing a key already held, or removing one not held, changes nothing and is\n"
    "no error; using a key not installed is an error on that member. Operations\n"
    "travel only on sealed gossip: an agent without a key refuses them.\n\n"
    "Prints each key with the number of members that hold it and on how many it is\n"
    "the primary (KEY, INSTALLED n/total, PRIMARY n/total), then the members that\n"
    "did not answer and those that answered with an error. Keys are shown in full:\n"
    "whoever can reach the RPC holds them anyway. With --json, prints {\"op\", \"id\",\n"
    "\"total\", \"answered\", \"keys\": [{\"key\", \"holders\", \"primary\"}], \"missing\":\n"
    "[names], \"errors\": [{\"node\", \"error\"}], \"elapsed_ms\"}.\n\n"
    "Exit status: 0 when every live member answered without error; 1 otherwise\n"
    "(one line on stderr says what is missing; the table is printed all the same);\n"
    "2 for a usage error.\n\n"
    "A rotation: `starling keygen` -> NEW; `keys install NEW`; `keys use NEW`;\n"
    "`keys remove OLD`; each step must answer from every member before the next.\n";

int sl__cmd_keygen(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(keygen_usage, stdout);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "starling keygen: unexpected argument '%s'\n%s", argv[1], keygen_usage);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "starling keygen: cannot initialise libsodium\n");
        return 1;
    }
    uint8_t key[SL_KEY_BYTES];
    char text[SL_KEY_B64_LEN];
    randombytes_buf(key, sizeof key);
    puts(sl_key_encode(key, text, sizeof text));
    sodium_memzero(key, sizeof key);
    sodium_memzero(text, sizeof text);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* Takes --timeout SECONDS (or --timeout=SECONDS) out of argv, which the
 * shared parser does not know, into *seconds. Returns the new argc, or -1
 * after a usage error. */
static int take_timeout(int argc, char **argv, long *seconds)
{
    int out = 0;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--")) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        if (!strcmp(argv[i], "--timeout")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "starling keys: --timeout needs a value\n%s", keys_usage);
                return -1;
            }
            v = argv[++i];
        } else if (!strncmp(argv[i], "--timeout=", 10)) {
            v = argv[i] + 10;
        } else {
            argv[out++] = argv[i];
            continue;
        }
        char *end;
        *seconds = strtol(v, &end, 10);
        if (!*v || *end || *seconds < 1 || *seconds > 3600) {
            fprintf(stderr, "starling keys: --timeout must be 1..3600 seconds, not '%s'\n%s", v,
                    keys_usage);
            return -1;
        }
    }
    argv[out] = NULL;
    return out;
}

/* Appends name to a list of a few names ("a, b, c, ..."), kept in buf. */
static void add_name(char *buf, size_t cap, int *count, const char *name)
{
    size_t n = strlen(buf);
    if (*count < 5)
        snprintf(buf + n, cap - n, "%s%s", *count ? ", " : "", name ? name : "?");
    else if (*count == 5)
        snprintf(buf + n, cap - n, ", ...");
    (*count)++;
}

/* Says "n1, n2" for the members that did not answer. */
static void missing_text(json_t *missing, char *buf, size_t cap)
{
    size_t i;
    json_t *e;
    int count = 0;
    buf[0] = 0;
    json_array_foreach(missing, i, e) add_name(buf, cap, &count, json_string_value(e));
}

/* Says "'why' (n1, n2); 'other why' (n3)" for the errors, grouped by their
 * text, the first three texts only. */
static void errors_text(json_t *errors, char *buf, size_t cap)
{
    const char *why[3] = {NULL, NULL, NULL};
    char names[3][200];
    int count[3] = {0, 0, 0}, groups = 0, others = 0;
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *w = json_string_value(json_object_get(e, "error"));
        const char *node = json_string_value(json_object_get(e, "node"));
        int g = 0;
        w = w ? w : "?";
        while (g < groups && strcmp(why[g], w))
            g++;
        if (g == groups && groups == 3) {
            others++;
            continue;
        }
        if (g == groups) {
            why[groups] = w;
            names[groups++][0] = 0;
        }
        add_name(names[g], sizeof names[g], &count[g], node);
    }
    size_t n = 0;
    buf[0] = 0;
    for (int g = 0; g < groups && n < cap; g++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s (%s)", g ? "; " : "", why[g], names[g]);
    if (others && n < cap)
        snprintf(buf + n, cap - n, "; %d more", others);
}

static void print_table(json_t *r)
{
    json_int_t total = json_integer_value(json_object_get(r, "total"));
    json_t *keys = json_object_get(r, "keys"), *e;
    size_t i;
    printf("%-44s  %-9s  %s\n", "KEY", "INSTALLED", "PRIMARY");
    json_array_foreach(keys, i, e)
    {
        char inst[48], prim[48];
        snprintf(inst, sizeof inst, "%lld/%lld",
                 (long long)json_integer_value(json_object_get(e, "holders")), (long long)total);
        snprintf(prim, sizeof prim, "%lld/%lld",
                 (long long)json_integer_value(json_object_get(e, "primary")), (long long)total);
        const char *k = json_string_value(json_object_get(e, "key"));
        printf("%-44s  %-9s  %s\n", k ? k : "?", inst, prim);
    }
    printf("%lld of %lld members answered\n",
           (long long)json_integer_value(json_object_get(r, "answered")), (long long)total);
    json_array_foreach(json_object_get(r, "missing"), i, e)
        printf("no answer from %s\n", json_string_value(e) ? json_string_value(e) : "?");
    json_array_foreach(json_object_get(r, "errors"), i, e)
    {
        const char *n = json_string_value(json_object_get(e, "node"));
        const char *why = json_string_value(json_object_get(e, "error"));
        printf("error from %s: %s\n", n ? n : "?", why ? why : "?");
    }
}

/* Says in one line what is missing, if anything. Returns the exit code. */
static int verdict(const sl__cli *cli, json_t *r)
{
    json_t *missing = json_object_get(r, "missing"), *errors = json_object_get(r, "errors");
    size_t nm = json_array_size(missing), ne = json_array_size(errors);
    long long total = (long long)json_integer_value(json_object_get(r, "total"));
    char a[1100] = "", b[1100] = "", text[1000];
    if (nm == 0 && ne == 0)
        return 0;
    if (nm) {
        missing_text(missing, text, sizeof text);
        snprintf(a, sizeof a, "%zu of %lld members did not answer (%s)", nm, total, text);
    }
    if (ne) {
        errors_text(errors, text, sizeof text);
        snprintf(b, sizeof b, "%zu of %lld members answered with an error: %s", ne, total, text);
    }
    /* Not sl__cli_error(): its line is shorter than what a few errors take. */
    fprintf(stderr, "starling %s: %s%s%s\n", cli->name, a, nm && ne ? "; " : "", b);
    return 1;
}

int sl__cmd_keys(int argc, char **argv)
{
    sl__cli cli = {.name = "keys", .usage = keys_usage};
    long timeout_s = 0;
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args) {
        sl__cli_error(&cli, "out of memory");
        return 1;
    }
    memcpy(args, argv, (size_t)argc * sizeof *args);
    int n = take_timeout(argc, args, &timeout_s);
    int rc = n < 0 ? 2 : sl__cli_parse(&cli, n, args, 0, 1, 2);
    int type = rc >= 0 ? -1 : sl_keyop_type_parse(cli.args[0]);
    uint8_t key[SL_KEY_BYTES];
    if (rc < 0 && type < 0) {
        fprintf(stderr, "starling keys: unknown operation '%s': list, install, use or remove\n%s",
                cli.args[0], keys_usage);
        rc = 2;
    } else if (rc < 0 && type == SL_KEYOP_LIST && cli.nargs != 1) {
        fprintf(stderr, "starling keys: list takes no key\n%s", keys_usage);
        rc = 2;
    } else if (rc < 0 && type != SL_KEYOP_LIST &&
               (cli.nargs != 2 || sl_key_decode(cli.args[1], key) != 0)) {
        fprintf(stderr,
                "starling keys: %s wants one 32-byte key in base64 (see `starling keygen`)\n%s",
                cli.args[0], keys_usage);
        rc = 2;
    }
    sodium_memzero(key, sizeof key);
    if (rc >= 0) {
        free(args);
        return rc;
    }
    json_t *req = json_pack("{s:s, s:s}", "command", "keys", "op", cli.args[0]), *reply;
    if (req && type != SL_KEYOP_LIST)
        json_object_set_new(req, "key", json_string(cli.args[1]));
    if (req && timeout_s)
        json_object_set_new(req, "timeout_ms", json_integer((json_int_t)timeout_s * 1000));
    free(args);
    /* The agent answers at its deadline at the latest; allow for the rest. */
    int wait_ms = (int)(timeout_s ? timeout_s : 15) * 1000 + 10000;
    if (sl__cli_call(&cli, req, &reply, wait_ms) != 0)
        return 1;
    json_object_del(reply, "seq");
    if (!json_is_array(json_object_get(reply, "keys"))) {
        sl__cli_error(&cli, "the agent's reply has no key list");
        json_decref(reply);
        return 1;
    }
    if (cli.json)
        sl__cli_print_json(reply);
    else
        print_table(reply);
    rc = verdict(&cli, reply);
    json_decref(reply);
    return rc;
}
