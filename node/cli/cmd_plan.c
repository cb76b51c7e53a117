/* `starling plan`: computes the placement for members and services read from
 * JSON files, without any agent: an operator's what-if tool, and a way to
 * check from outside what the agents compute (they call the same function,
 * sl_placement_compute). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "starling/placement.h"

#include "cli/commands.h"

static void plan_usage(FILE *to)
{
    fprintf(to, "Usage: starling plan --members FILE --services FILE [--eps E] [--json]\n\n"
                "Computes which member hosts each service replica, exactly as every agent\n"
                "does, from two JSON files (arrays of objects; other keys are ignored):\n"
                "  members:  {\"name\": \"n1\", \"zone\": \"z1\", \"weight\": 2, \"cpu\": 4000,\n"
                "             \"mem\": 8192, \"state\": \"alive\"}\n"
                "            zone default \"\", weight default 1, cpu (millicores) and mem (MB)\n"
                "            default unlimited (0 also means unlimited), state one of alive,\n"
                "            suspect, draining (default alive)\n"
                "  services: {\"name\": \"web\", \"replicas\": 3, \"cpu\": 500, \"mem\": 256,\n"
                "             \"spread\": \"zone\"}\n"
                "            cpu and mem requests default 0, spread zone (default) or node\n\n"
                "Options:\n"
                "  --members FILE   the members file (required)\n"
                "  --services FILE  the services file (required)\n"
                "  --eps E          load bound slack: no member above ceil((1+E) * its fair\n"
                "                   share); 0 to 10, default 0.25\n"
                "  --json           print {\"assignments\": [...], \"unplaced\": [...]}\n"
                "  -h, --help       show this help\n\n"
                "Exit status: 0 when the placement was computed (even with unplaced replicas),\n"
                "1 on a bad file, 2 on a usage error.\n");
}

/* Reads an optional non-negative integer field; returns 0 or -1 after
 * printing an error. */
static int get_uint(const char *file, size_t i, json_t *o, const char *key, uint32_t max,
                    uint32_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
        fprintf(stderr, "starling plan: %s: element %zu: \"%s\" must be an integer from 0 to %u\n",
                file, i, key, max);
        return -1;
    }
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

/* Reads an optional string field; returns 0 or -1 after printing an error. */
static int get_str(const char *file, size_t i, json_t *o, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        fprintf(stderr, "starling plan: %s: element %zu: \"%s\" must be a string\n", file, i, key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* Loads a JSON array from path; returns it or NULL after printing an error. */
static json_t *load_array(const char *path)
{
    json_error_t err;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "starling plan: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    json_t *root = json_loadf(f, 0, &err);
    fclose(f);
    if (!root) {
        fprintf(stderr, "starling plan: %s: invalid JSON at line %d, column %d: %s\n", path,
                err.line, err.column, err.text);
        return NULL;
    }
    if (!json_is_array(root)) {
        fprintf(stderr, "starling plan: %s: expected a JSON array of objects\n", path);
        json_decref(root);
        return NULL;
    }
    return root;
}

static int parse_member(const char *file, size_t i, json_t *o, sl_placement_member *m)
{
    const char *state = NULL;
    memset(m, 0, sizeof *m);
    m->zone = "";
    m->weight = 1;
    if (!json_is_object(o)) {
        fprintf(stderr, "starling plan: %s: element %zu: expected an object\n", file, i);
        return -1;
    }
    if (get_str(file, i, o, "name", &m->name) || get_str(file, i, o, "zone", &m->zone) ||
        get_uint(file, i, o, "weight", SL_PLACEMENT_WEIGHT_MAX, &m->weight) ||
        get_uint(file, i, o, "cpu", UINT32_MAX, &m->cpu_milli) ||
        get_uint(file, i, o, "mem", UINT32_MAX, &m->mem_mb) || get_str(file, i, o, "state", &state))
        return -1;
    if (!m->name || !*m->name) {
        fprintf(stderr, "starling plan: %s: element %zu: \"name\" is required\n", file, i);
        return -1;
    }
    if (m->weight == 0) {
        fprintf(stderr, "starling plan: %s: element %zu: \"weight\" must be at least 1\n", file, i);
        return -1;
    }
    if (state && sl_placement_state_parse(state, &m->state)) {
        fprintf(stderr,
                "starling plan: %s: element %zu: unknown state \"%s\" (alive, suspect, "
                "draining)\n",
                file, i, state);
        return -1;
    }
    return 0;
}

static int parse_service(const char *file, size_t i, json_t *o, sl_placement_service *s)
{
    const char *spread = NULL;
    memset(s, 0, sizeof *s);
    if (!json_is_object(o)) {
        fprintf(stderr, "starling plan: %s: element %zu: expected an object\n", file, i);
        return -1;
    }
    if (get_str(file, i, o, "name", &s->name) ||
        get_uint(file, i, o, "replicas", 1u << 20, &s->replicas) ||
        get_uint(file, i, o, "cpu", UINT32_MAX, &s->cpu_milli) ||
        get_uint(file, i, o, "mem", UINT32_MAX, &s->mem_mb) ||
        get_str(file, i, o, "spread", &spread))
        return -1;
    if (!s->name || !*s->name || !json_object_get(o, "replicas")) {
        fprintf(stderr, "starling plan: %s: element %zu: \"name\" and \"replicas\" are required\n",
                file, i);
        return -1;
    }
    if (spread && sl_placement_spread_parse(spread, &s->spread)) {
        fprintf(stderr, "starling plan: %s: element %zu: unknown spread \"%s\" (zone, node)\n",
                file, i, spread);
        return -1;
    }
    return 0;
}

static void print_result(const sl_placement_member *m, const sl_placement_service *s, size_t ns,
                         const sl_placement *p, int as_json)
{
    if (!as_json) {
        printf("%-24s %7s  %s\n", "SERVICE", "REPLICA", "MEMBER");
        for (size_t i = 0; i < ns; i++)
            for (uint32_t r = 0; r < s[i].replicas; r++) {
                int32_t n = sl_placement_node(p, i, r);
                printf("%-24s %7u  %s\n", s[i].name, r,
                       n >= 0 ? m[n].name
                              : sl_placement_reason_name(sl_placement_reason_of(p, i, r)));
            }
        printf("%zu unplaced\n", sl_placement_unplaced(p));
        return;
    }
    json_t *root = json_object(), *as = json_array(), *un = json_array();
    for (size_t i = 0; i < ns; i++)
        for (uint32_t r = 0; r < s[i].replicas; r++) {
            int32_t n = sl_placement_node(p, i, r);
            if (n >= 0)
                json_array_append_new(as, json_pack("{s:s, s:I, s:s}", "service", s[i].name,
                                                    "replica", (json_int_t)r, "node", m[n].name));
            else
                json_array_append_new(
                    un,
                    json_pack("{s:s, s:I, s:s}", "service", s[i].name, "replica", (json_int_t)r,
                              "reason", sl_placement_reason_name(sl_placement_reason_of(p, i, r))));
        }
    json_object_set_new(root, "assignments", as);
    json_object_set_new(root, "unplaced", un);
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(root);
}

/* Parses the options; returns 0, or 2 after printing a usage error, or -1
 * for --help. */
static int parse_args(int argc, char **argv, const char **mfile, const char **sfile,
                      sl_placement_options *o, int *as_json)
{
    static const struct option longopts[] = {
        {"members", required_argument, NULL, 'm'}, {"services", required_argument, NULL, 's'},
        {"eps", required_argument, NULL, 'e'},     {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    int c;
    char *end;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': *mfile = optarg; break;
        case 's': *sfile = optarg; break;
        case 'j': *as_json = 1; break;
        case 'h': return -1;
        case 'e': {
            double e = strtod(optarg, &end);
            if (end == optarg || *end || !(e >= 0 && e <= 10)) {
                fprintf(stderr, "starling plan: --eps must be a number from 0 to 10\n");
                return 2;
            }
            o->eps_milli = (uint32_t)lround(e * 1000);
            break;
        }
        default:
            fprintf(stderr, "starling plan: unknown or incomplete option '%s'\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc || !*mfile || !*sfile) {
        fprintf(stderr, "starling plan: %s\n",
                optind < argc ? "unexpected argument" : "--members and --services are required");
        return 2;
    }
    return 0;
}

int sl__cmd_plan(int argc, char **argv)
{
    const char *mfile = NULL, *sfile = NULL;
    int as_json = 0, rc = 1;
    sl_placement_options o;
    sl_placement_options_init(&o);
    int u = parse_args(argc, argv, &mfile, &sfile, &o, &as_json);
    if (u) {
        plan_usage(u < 0 ? stdout : stderr);
        return u < 0 ? 0 : 2;
    }
    json_t *mj = load_array(mfile), *sj = mj ? load_array(sfile) : NULL;
    size_t nm = mj ? json_array_size(mj) : 0, ns = sj ? json_array_size(sj) : 0;
    sl_placement_member *m = calloc(nm + 1, sizeof *m);
    sl_placement_service *s = calloc(ns + 1, sizeof *s);
    sl_placement *p = NULL;
    if (!mj || !sj || !m || !s)
        goto out;
    for (size_t i = 0; i < nm; i++)
        if (parse_member(mfile, i, json_array_get(mj, i), &m[i]))
            goto out;
    for (size_t i = 0; i < ns; i++)
        if (parse_service(sfile, i, json_array_get(sj, i), &s[i]))
            goto out;
    int err = sl_placement_compute(m, nm, s, ns, &o, &p);
    if (err) {
        fprintf(stderr, "starling plan: %s\n",
                err == SL_EINVAL ? "invalid input: duplicate member or service names, or more "
                                   "than 2^30 replicas in total"
                                 : sl_strerror(err));
        goto out;
    }
    print_result(m, s, ns, p, as_json);
    rc = 0;
out:
    sl_placement_free(p);
    free(m);
    free(s);
    json_decref(mj);
    json_decref(sj);
    return rc;
}
