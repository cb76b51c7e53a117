/* The scenario parser.
 *
 * A scenario is read one line at a time. A `#` starts a comment; blank lines
 * are skipped; a line is split into whitespace-separated tokens, and `|` and
 * `>` are tokens of their own even without spaces around them, so that
 * `n0-n9|n10-n19` reads as three tokens. The first statement must be `nodes`
 * and the timeline ends with `run`; only `expect` lines may follow it.
 *
 * Parsing happens in two passes. The first reads statements into a scenario
 * without judging their order in time; the second sorts the `at` actions by
 * time (stable, so that two actions at the same time keep the order they were
 * written in) and checks what needs the timeline: a node must exist when it is
 * named (the initial nodes plus every `join` before; the `via` node of a
 * write too), and nothing may happen after the end of the run. It also
 * refuses a service named twice in the catalog (by `service` or `services`),
 * naming both lines. Each error message names the file and line and says what
 * was expected and what was found. */
#include "scenario.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "starling/catalog.h"
#include "starling/rng.h"

#define MAX_TOKENS 4096
#define MAX_LINE 65536

typedef struct parser {
    const char *file;
    int line;
    char *err;
    size_t errcap;
    char **tok; /* the current line's tokens */
    int ntok;
    char *scratch; /* where the tokens' bytes live, NUL-terminated */
    bool seen_run;
    bool seen[16]; /* settings already given, to refuse duplicates */
    sl_sim_scenario *sc;
} parser;

enum {
    SET_SEED,
    SET_PROFILE,
    SET_LATENCY,
    SET_LOSS,
    SET_ZONES,
    SET_SEAL,
    SET_PUSHPULL,
    SET_LIFEGUARD,
    SET_SEEDS,
    SET_STARTUP,
    SET_STOPPING,
    SET__COUNT
};

/* The longest startup or stopping delay a scenario may ask for. */
#define DELAY_MAX_MS (60u * 60u * 1000u)

/* A service name as the simulator accepts it: 1..63 bytes of [A-Za-z0-9._-],
 * starting with a letter or digit. That is the catalog's rule
 * (sl_service_name_check) made a little stricter: no leading '_'. */
#define SVC_NAME_MAX (SL_SVC_NAME_MAX < 63 ? SL_SVC_NAME_MAX : 63)

static const char *const action_names[] = {
    [SL_SIM_CRASH] = "crash",
    [SL_SIM_PAUSE] = "pause",
    [SL_SIM_LEAVE] = "leave",
    [SL_SIM_RESTART] = "restart",
    [SL_SIM_PARTITION] = "partition",
    [SL_SIM_CUT] = "cut",
    [SL_SIM_LOSS] = "loss",
    [SL_SIM_JOIN] = "join",
    [SL_SIM_HEAL] = "heal",
    [SL_SIM_DEPLOY] = "deploy",
    [SL_SIM_SCALE] = "scale",
    [SL_SIM_RM] = "rm",
    [SL_SIM_FAIL_START] = "fail-start",
    [SL_SIM_FIX_START] = "fix-start",
    [SL_SIM_DRAIN] = "drain",
    [SL_SIM_UNHEALTHY] = "unhealthy",
    [SL_SIM_HEALTHY] = "healthy",
};

static const char *const metric_names[] = {
    [SL_SIM_M_CONVERGED] = "converged",
    [SL_SIM_M_DETECT_FIRST] = "detect_first",
    [SL_SIM_M_DETECT_ALL] = "detect_all",
    [SL_SIM_M_LEAVE_SEEN] = "leave_seen",
    [SL_SIM_M_FALSE_POSITIVES] = "false_positives",
    [SL_SIM_M_FALSE_POSITIVES_PAUSED] = "false_positives_paused",
    [SL_SIM_M_HEALTHY_DEAD] = "healthy_declared_dead",
    [SL_SIM_M_ALIVE_DEAD] = "alive_declared_dead",
    [SL_SIM_M_GHOSTS] = "ghosts",
    [SL_SIM_M_CONVERGED_AT] = "converged_at",
    [SL_SIM_M_LIVE] = "live",
    [SL_SIM_M_MSGS] = "messages_per_node_per_s",
    [SL_SIM_M_SERVICES_BACK] = "services_at_count_within",
    [SL_SIM_M_MIN_RUNNING] = "min_running",
    [SL_SIM_M_DUPLICATES_GONE] = "duplicates_gone_within",
    [SL_SIM_M_LOST_WRITES] = "lost_writes",
    [SL_SIM_M_STARTS_PER_LOST] = "starts_per_lost",
    [SL_SIM_M_CATALOG_CONVERGED] = "catalog_converged_within",
    [SL_SIM_M_WRITES_RUNNING] = "writes_running_within",
    [SL_SIM_M_UNHEALTHY] = "unhealthy",
    [SL_SIM_M_STALE_VERSIONS] = "stale_versions",
    [SL_SIM_M_REVERTS] = "reverts",
};

static const char *const op_names[] = {
    [SL_SIM_OP_LE] = "<=", [SL_SIM_OP_LT] = "<",  [SL_SIM_OP_GE] = ">=",
    [SL_SIM_OP_GT] = ">",  [SL_SIM_OP_EQ] = "==",
};

const char *sl_sim_action_name(sl_sim_action_type t)
{
    return (unsigned)t < sizeof action_names / sizeof *action_names ? action_names[t] : "?";
}

const char *sl_sim_metric_name(sl_sim_metric m)
{
    return (unsigned)m < SL_SIM_M__COUNT ? metric_names[m] : "?";
}

const char *sl_sim_op_name(sl_sim_op op)
{
    return (unsigned)op < sizeof op_names / sizeof *op_names ? op_names[op] : "?";
}

bool sl_sim_set_has(const sl_sim_set *s, int i)
{
    for (size_t k = 0; k < s->n; k++)
        if (i >= s->r[k].lo && i <= s->r[k].hi)
            return true;
    return false;
}

/* Writes "file:line: message" into the error buffer and returns -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(parser *p, const char *fmt, ...)
{
    int n = snprintf(p->err, p->errcap, "%s:%d: ", p->file, p->line);
    if (n < 0 || (size_t)n >= p->errcap)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errcap - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* The token at index i, or "end of line" for messages. */
static const char *tok_or_eol(const parser *p, int i)
{
    return i < p->ntok ? p->tok[i] : "end of line";
}

static int expected(parser *p, int i, const char *what)
{
    if (i < p->ntok)
        return fail(p, "expected %s, got '%s'", what, p->tok[i]);
    return fail(p, "expected %s, got end of line", what);
}

int sl_sim_parse_duration_us(const char *s, uint64_t *us)
{
    uint64_t ip = 0, fp = 0, scale = 1;
    const char *c = s;
    if (*c < '0' || *c > '9')
        return -1;
    for (; *c >= '0' && *c <= '9'; c++) {
        if (ip > UINT64_MAX / 100)
            return -1;
        ip = ip * 10 + (uint64_t)(*c - '0');
    }
    if (*c == '.') {
        c++;
        if (*c < '0' || *c > '9')
            return -1;
        for (; *c >= '0' && *c <= '9'; c++) {
            if (scale >= 1000000000ull)
                return -1; /* at most 9 decimals */
            fp = fp * 10 + (uint64_t)(*c - '0');
            scale *= 10;
        }
    }
    uint64_t unit;
    if (strcmp(c, "us") == 0)
        unit = 1;
    else if (strcmp(c, "ms") == 0)
        unit = 1000;
    else if (strcmp(c, "s") == 0)
        unit = 1000000;
    else if (strcmp(c, "m") == 0)
        unit = 60000000;
    else
        return -1;
    if (ip > UINT64_MAX / unit / 2)
        return -1;
    *us = ip * unit + fp * unit / scale;
    return 0;
}

/* Parses a duration that must be a whole number of milliseconds. */
static int parse_ms(parser *p, int i, const char *what, uint64_t *ms)
{
    uint64_t us;
    if (i >= p->ntok || sl_sim_parse_duration_us(p->tok[i], &us) != 0)
        return expected(p, i, what);
    if (us % 1000 != 0)
        return fail(p, "expected a whole number of milliseconds, got '%s'", p->tok[i]);
    *ms = us / 1000;
    return 0;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_prob(const char *s, double *out)
{
    if ((*s < '0' || *s > '9') && *s != '.')
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || !(v >= 0.0 && v <= 1.0))
        return -1;
    *out = v;
    return 0;
}

/* Parses "nK" into K; no sign, no leading zeros (so each node has one name). */
static int parse_node_name(const char *s, size_t len, int *out)
{
    if (len < 2 || s[0] != 'n')
        return -1;
    if (s[1] == '0' && len > 2)
        return -1;
    long v = 0;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v >= SL_SIM_NODES_MAX)
            return -1;
    }
    *out = (int)v;
    return 0;
}

/* Parses "nA" or "nA-nB" into a range. */
static int parse_range(const char *s, sl_sim_range *r)
{
    const char *dash = strchr(s, '-');
    if (!dash) {
        if (parse_node_name(s, strlen(s), &r->lo) != 0)
            return -1;
        r->hi = r->lo;
        return 0;
    }
    if (parse_node_name(s, (size_t)(dash - s), &r->lo) != 0)
        return -1;
    if (parse_node_name(dash + 1, strlen(dash + 1), &r->hi) != 0)
        return -1;
    return r->lo <= r->hi ? 0 : -1;
}

static bool is_node_token(const char *s)
{
    sl_sim_range r;
    return parse_range(s, &r) == 0;
}

/* Reads node ranges from token *i while they parse; at least one. */
static int parse_set(parser *p, int *i, sl_sim_set *set)
{
    int start = *i;
    while (*i < p->ntok && is_node_token(p->tok[*i]))
        (*i)++;
    if (*i == start) {
        if (start < p->ntok && p->tok[start][0] == 'n' && strchr(p->tok[start], '-'))
            return fail(p, "expected a node range like n3-n7 (low first), got '%s'", p->tok[start]);
        return expected(p, start, "a node like n5 or a range like n3-n7");
    }
    set->n = (size_t)(*i - start);
    set->r = calloc(set->n, sizeof *set->r);
    if (!set->r)
        return fail(p, "out of memory");
    for (int k = start; k < *i; k++)
        parse_range(p->tok[k], &set->r[k - start]);
    return 0;
}

static int end_of_line(parser *p, int i)
{
    if (i < p->ntok)
        return fail(p, "expected end of line, got '%s'", p->tok[i]);
    return 0;
}

static bool svc_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SVC_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

/* Parses a service name at token i into out (capacity SVC_NAME_MAX + 1). */
static int parse_svc_name(parser *p, int i, char *out, size_t cap)
{
    if (i >= p->ntok || !svc_name_ok(p->tok[i]))
        return expected(p, i,
                        "a service name (1 to 63 letters, digits, '.', '_' or '-', starting "
                        "with a letter or digit)");
    snprintf(out, cap, "%s", p->tok[i]);
    return 0;
}

/* Parses a replica count at token i: min..SL_SVC_REPLICAS_MAX. */
static int parse_replicas(parser *p, int i, uint64_t min, uint32_t *out)
{
    uint64_t v;
    if (i >= p->ntok || parse_uint(p->tok[i], SL_SVC_REPLICAS_MAX, &v) != 0 || v < min) {
        char what[64];
        snprintf(what, sizeof what, "a number of replicas from %u to %u", (unsigned)min,
                 (unsigned)SL_SVC_REPLICAS_MAX);
        return expected(p, i, what);
    }
    *out = (uint32_t)v;
    return 0;
}

/* Parses "via NODE" at token i, then the end of the line. */
static int parse_via(parser *p, int i, sl_sim_action *a)
{
    if (i >= p->ntok || strcmp(p->tok[i], "via") != 0)
        return expected(p, i, "'via' and the node the write is made on");
    i++;
    if (i >= p->ntok || parse_node_name(p->tok[i], strlen(p->tok[i]), &a->via) != 0)
        return expected(p, i, "a node like n3");
    return end_of_line(p, i + 1);
}

/* Parses groups separated by `sep` ("|" or ">") into a->groups. */
static int parse_groups(parser *p, int i, const char *sep, sl_sim_action *a)
{
    for (;;) {
        sl_sim_set *g = realloc(a->groups, (a->ngroups + 1) * sizeof *g);
        if (!g)
            return fail(p, "out of memory");
        a->groups = g;
        memset(&g[a->ngroups], 0, sizeof *g);
        if (parse_set(p, &i, &g[a->ngroups++]) != 0)
            return -1;
        if (i < p->ntok && strcmp(p->tok[i], sep) == 0) {
            i++;
            continue;
        }
        break;
    }
    if (a->ngroups < 2) {
        char what[48];
        snprintf(what, sizeof what, "'%s' and another group of nodes", sep);
        return expected(p, i, what);
    }
    if (strcmp(sep, ">") == 0 && a->ngroups != 2)
        return fail(p, "expected one '>' between two groups of nodes");
    return end_of_line(p, i);
}

/* Parses what follows "at TIME VERB". */
static int parse_action_args(parser *p, int i, sl_sim_action *a)
{
    uint64_t v;
    switch (a->type) {
    case SL_SIM_CRASH:
    case SL_SIM_LEAVE:
    case SL_SIM_RESTART:
        if (parse_set(p, &i, &a->nodes) != 0)
            return -1;
        return end_of_line(p, i);
    case SL_SIM_PAUSE:
        if (parse_set(p, &i, &a->nodes) != 0)
            return -1;
        if (parse_ms(p, i, "a pause duration like 4s", &a->duration_ms) != 0)
            return -1;
        if (a->duration_ms == 0)
            return fail(p, "expected a pause longer than 0ms");
        return end_of_line(p, i + 1);
    case SL_SIM_LOSS:
        if (parse_set(p, &i, &a->nodes) != 0)
            return -1;
        if (i >= p->ntok || parse_prob(p->tok[i], &a->loss) != 0)
            return expected(p, i, "a loss probability between 0 and 1");
        return end_of_line(p, i + 1);
    case SL_SIM_PARTITION: return parse_groups(p, i, "|", a);
    case SL_SIM_CUT: return parse_groups(p, i, ">", a);
    case SL_SIM_JOIN:
        if (i >= p->ntok || parse_uint(p->tok[i], SL_SIM_NODES_MAX, &v) != 0 || v == 0)
            return expected(p, i, "a number of nodes to join");
        a->count = (int)v;
        return end_of_line(p, i + 1);
    case SL_SIM_HEAL: return end_of_line(p, i);
    case SL_SIM_DEPLOY:
        if (parse_svc_name(p, i, a->service, sizeof a->service) != 0)
            return -1;
        if (strcmp(tok_or_eol(p, i + 1), "replicas") != 0)
            return expected(p, i + 1, "'replicas N'");
        if (parse_replicas(p, i + 2, 1, &a->replicas) != 0)
            return -1;
        if (strcmp(tok_or_eol(p, i + 3), "version") == 0) {
            uint64_t ver;
            if (i + 4 >= p->ntok || parse_uint(p->tok[i + 4], SL_SIM_VERSION_MAX, &ver) != 0 ||
                ver == 0)
                return expected(p, i + 4, "a version from 1 to 1000000");
            a->version = (uint32_t)ver;
            return parse_via(p, i + 5, a);
        }
        return parse_via(p, i + 3, a);
    case SL_SIM_SCALE:
        if (parse_svc_name(p, i, a->service, sizeof a->service) != 0)
            return -1;
        if (parse_replicas(p, i + 1, 0, &a->replicas) != 0)
            return -1;
        return parse_via(p, i + 2, a);
    case SL_SIM_RM:
        if (parse_svc_name(p, i, a->service, sizeof a->service) != 0)
            return -1;
        return parse_via(p, i + 1, a);
    case SL_SIM_FAIL_START:
    case SL_SIM_FIX_START:
    case SL_SIM_UNHEALTHY:
    case SL_SIM_HEALTHY:
        if (parse_svc_name(p, i, a->service, sizeof a->service) != 0)
            return -1;
        if (strcmp(tok_or_eol(p, i + 1), "on") != 0)
            return end_of_line(p, i + 1); /* every node */
        i += 2;
        if (parse_set(p, &i, &a->nodes) != 0)
            return -1;
        return end_of_line(p, i);
    case SL_SIM_DRAIN:
        if (parse_set(p, &i, &a->nodes) != 0)
            return -1;
        return end_of_line(p, i);
    }
    return fail(p, "'%s' is not parsed yet", sl_sim_action_name(a->type));
}

/* The most pauses one `stall` line may expand into. */
#define STALL_PAUSES_MAX 200000

/* at T stall NODES for D1 D2 every G1 G2 until T2 [probing]: every node of
 * the set pauses again and again from T to T2, each pause D1..D2 long and
 * the gaps between them G1..G2 (uniform), from a random phase. Expanded
 * here into `pause` actions, drawn from a generator seeded by the line and
 * the node (so the same for every --seed: the faults are part of the
 * scenario). With `probing`, each pause waits (at most a probe interval)
 * for the node's next probe to start: sl_world_pause_at_probe(). */
static int stmt_stall(parser *p, uint64_t at_ms)
{
    sl_sim_scenario *sc = p->sc;
    sl_sim_set set = {0};
    int i = 3;
    uint64_t d1, d2, g1, g2, until;
    if (parse_set(p, &i, &set) != 0)
        return -1;
    int rc = 0;
    if (strcmp(tok_or_eol(p, i), "for") != 0)
        rc = expected(p, i, "'for D1 D2 every G1 G2 until T2'");
    else if (parse_ms(p, i + 1, "a shortest stall like 1s", &d1) != 0 ||
             parse_ms(p, i + 2, "a longest stall like 3s", &d2) != 0)
        rc = -1;
    else if (strcmp(tok_or_eol(p, i + 3), "every") != 0)
        rc = expected(p, i + 3, "'every G1 G2'");
    else if (parse_ms(p, i + 4, "a shortest gap like 2s", &g1) != 0 ||
             parse_ms(p, i + 5, "a longest gap like 6s", &g2) != 0)
        rc = -1;
    else if (strcmp(tok_or_eol(p, i + 6), "until") != 0)
        rc = expected(p, i + 6, "'until T2'");
    else if (parse_ms(p, i + 7, "an end time like 300s", &until) != 0)
        rc = -1;
    else if (d1 == 0 || d2 < d1 || g1 == 0 || g2 < g1 || until <= at_ms)
        rc = fail(p, "expected 0 < D1 <= D2, 0 < G1 <= G2 and T2 after T");
    bool probing = rc == 0 && strcmp(tok_or_eol(p, i + 8), "probing") == 0;
    if (rc == 0 && probing)
        rc = end_of_line(p, i + 9);
    else if (rc == 0 && i + 8 < p->ntok)
        rc = expected(p, i + 8, "'probing' or the end of the line");
    size_t added = 0;
    for (size_t k = 0; k < set.n && rc == 0; k++)
        for (int n = set.r[k].lo; n <= set.r[k].hi && rc == 0; n++) {
            sl_rng g;
            sl_rng_seed(&g, sl_mix64(((uint64_t)p->line << 32) ^ (uint64_t)n ^ 0x7374616c6cull));
            uint64_t t = at_ms + sl_rng_below(&g, g2 + 1);
            while (t < until && rc == 0) {
                uint64_t d = d1 + sl_rng_below(&g, d2 - d1 + 1);
                sl_sim_action *arr = NULL;
                if (++added > STALL_PAUSES_MAX)
                    rc = fail(p, "expected at most %d stalls from one line", STALL_PAUSES_MAX);
                else if (!(arr = realloc(sc->actions, (sc->nactions + 1) * sizeof *arr)))
                    rc = fail(p, "out of memory");
                if (rc)
                    break;
                sc->actions = arr;
                sl_sim_action *a = &arr[sc->nactions];
                *a = (sl_sim_action){.at_ms = t,
                                     .line = p->line,
                                     .type = SL_SIM_PAUSE,
                                     .duration_ms = d,
                                     .at_probe = probing};
                a->nodes.r = malloc(sizeof *a->nodes.r);
                if (!a->nodes.r) {
                    rc = fail(p, "out of memory");
                    break;
                }
                a->nodes.r[0] = (sl_sim_range){n, n};
                a->nodes.n = 1;
                sc->nactions++;
                t += d + g1 + sl_rng_below(&g, g2 - g1 + 1);
            }
        }
    free(set.r);
    return rc;
}

static int stmt_at(parser *p)
{
    sl_sim_scenario *sc = p->sc;
    sl_sim_action a = {.line = p->line};
    if (parse_ms(p, 1, "a time like 30s", &a.at_ms) != 0)
        return -1;
    const char *verb = tok_or_eol(p, 2);
    if (strcmp(verb, "stall") == 0)
        return stmt_stall(p, a.at_ms);
    size_t t;
    for (t = 0; t < sizeof action_names / sizeof *action_names; t++)
        if (strcmp(verb, action_names[t]) == 0)
            break;
    if (t == sizeof action_names / sizeof *action_names)
        return expected(p, 2,
                        "crash, pause, stall, leave, restart, partition, cut, loss, join, heal, "
                        "deploy, scale, rm, fail-start, fix-start, drain, unhealthy or healthy");
    a.type = (sl_sim_action_type)t;
    if (a.type >= SL_SIM_DEPLOY)
        sc->runtime = true;
    sl_sim_action *arr = realloc(sc->actions, (sc->nactions + 1) * sizeof *arr);
    if (!arr)
        return fail(p, "out of memory");
    sc->actions = arr;
    arr[sc->nactions++] = a; /* owned by the scenario from here, even on error */
    return parse_action_args(p, 3, &arr[sc->nactions - 1]);
}

static bool metric_is_time(sl_sim_metric m)
{
    return m == SL_SIM_M_DETECT_FIRST || m == SL_SIM_M_DETECT_ALL || m == SL_SIM_M_LEAVE_SEEN ||
           m == SL_SIM_M_CONVERGED_AT || m == SL_SIM_M_SERVICES_BACK ||
           m == SL_SIM_M_DUPLICATES_GONE || m == SL_SIM_M_CATALOG_CONVERGED ||
           m == SL_SIM_M_WRITES_RUNNING;
}

static bool metric_is_within(sl_sim_metric m)
{
    return m == SL_SIM_M_SERVICES_BACK || m == SL_SIM_M_DUPLICATES_GONE ||
           m == SL_SIM_M_CATALOG_CONVERGED || m == SL_SIM_M_WRITES_RUNNING;
}

/* expect converged | expect METRIC OP VALUE | expect METRIC_within TIME */
static int stmt_expect(parser *p)
{
    sl_sim_expect e = {.line = p->line};
    const char *name = tok_or_eol(p, 1);
    size_t m;
    for (m = 0; m < SL_SIM_M__COUNT; m++)
        if (strcmp(name, metric_names[m]) == 0)
            break;
    if (m == SL_SIM_M__COUNT)
        return expected(
            p, 1,
            "converged, detect_first, detect_all, leave_seen, false_positives, "
            "false_positives_paused, healthy_declared_dead, alive_declared_dead, ghosts, "
            "converged_at, live, "
            "messages_per_node_per_s, services_at_count_within, min_running, "
            "duplicates_gone_within, lost_writes, starts_per_lost, catalog_converged_within, "
            "writes_running_within, unhealthy, stale_versions or reverts");
    e.metric = (sl_sim_metric)m;
    int i = 2;
    if (e.metric != SL_SIM_M_CONVERGED) {
        /* `expect METRIC OP VALUE`; a bound named "..._within" may omit
         * the operator: `expect services_at_count_within 30s` is <=. */
        size_t o;
        for (o = 0; o < sizeof op_names / sizeof *op_names; o++)
            if (strcmp(tok_or_eol(p, 2), op_names[o]) == 0)
                break;
        int at = 3;
        if (o == sizeof op_names / sizeof *op_names) {
            if (!metric_is_within(e.metric))
                return expected(p, 2, "one of <= < >= > ==");
            o = SL_SIM_OP_LE;
            at = 2;
        }
        e.op = (sl_sim_op)o;
        uint64_t us;
        const char *v = tok_or_eol(p, at);
        if (metric_is_time(e.metric)) {
            if (p->ntok < at + 1 || sl_sim_parse_duration_us(v, &us) != 0)
                return expected(p, at, "a time like 10s");
            e.value = (double)us / 1e6;
        } else {
            char *end;
            e.value = strtod(v, &end);
            if (p->ntok < at + 1 || *end != '\0' || end == v || (*v < '0' || *v > '9'))
                return expected(p, at, "a number");
        }
        i = at + 1;
    }
    if (end_of_line(p, i) != 0)
        return -1;
    size_t off = 0;
    for (int k = 0; k < p->ntok; k++)
        off += (size_t)snprintf(e.text + off, off < sizeof e.text ? sizeof e.text - off : 0, "%s%s",
                                k ? " " : "", p->tok[k]);
    sl_sim_expect *arr = realloc(p->sc->expects, (p->sc->nexpects + 1) * sizeof *arr);
    if (!arr)
        return fail(p, "out of memory");
    p->sc->expects = arr;
    arr[p->sc->nexpects++] = e;
    return 0;
}

static int once(parser *p, int which)
{
    if (p->seen[which])
        return fail(p, "'%s' is given twice", p->tok[0]);
    p->seen[which] = true;
    return 0;
}

/* seeds NODES: the --join list every node starts with. */
static int stmt_seeds(parser *p)
{
    sl_sim_scenario *sc = p->sc;
    if (once(p, SET_SEEDS) != 0)
        return -1;
    int i = 1;
    sl_sim_set set = {0};
    if (parse_set(p, &i, &set) != 0)
        return -1;
    int rc = 0;
    for (size_t k = 0; k < set.n && rc == 0; k++)
        for (int n = set.r[k].lo; n <= set.r[k].hi && rc == 0; n++) {
            if (sc->nseeds == SL_REJOIN_SEEDS_MAX)
                rc = fail(p, "expected at most %d seeds", SL_REJOIN_SEEDS_MAX);
            else
                sc->seeds[sc->nseeds++] = n;
        }
    free(set.r);
    sc->seeds_line = p->line;
    return rc ? rc : end_of_line(p, i);
}

static int stmt_setting(parser *p)
{
    sl_sim_scenario *sc = p->sc;
    const char *k = p->tok[0];
    uint64_t v;
    if (strcmp(k, "seed") == 0) {
        if (once(p, SET_SEED) != 0)
            return -1;
        if (p->ntok < 2 || parse_uint(p->tok[1], UINT64_MAX, &v) != 0)
            return expected(p, 1, "a seed (an unsigned integer)");
        sc->seed = v;
        sc->seed_given = true;
        return end_of_line(p, 2);
    }
    if (strcmp(k, "profile") == 0) {
        if (once(p, SET_PROFILE) != 0)
            return -1;
        const char *n = tok_or_eol(p, 1);
        if (strcmp(n, "lan") != 0 && strcmp(n, "local") != 0 && strcmp(n, "wan") != 0)
            return expected(p, 1, "a profile: lan, local or wan");
        snprintf(sc->profile, sizeof sc->profile, "%s", n);
        return end_of_line(p, 2);
    }
    if (strcmp(k, "latency") == 0) {
        if (once(p, SET_LATENCY) != 0)
            return -1;
        uint64_t base, jit = 0;
        if (p->ntok < 2 || sl_sim_parse_duration_us(p->tok[1], &base) != 0 || base > 60000000)
            return expected(p, 1, "a latency like 1ms (at most 60s)");
        if (p->ntok >= 3 && (sl_sim_parse_duration_us(p->tok[2], &jit) != 0 || jit > 60000000))
            return expected(p, 2, "a jitter like 0.5ms (at most 60s)");
        sc->latency_us = (uint32_t)base;
        sc->jitter_us = (uint32_t)jit;
        return end_of_line(p, p->ntok >= 3 ? 3 : 2);
    }
    if (strcmp(k, "seal") == 0) {
        if (once(p, SET_SEAL) != 0)
            return -1;
        const char *onoff = tok_or_eol(p, 1);
        if (strcmp(onoff, "on") != 0 && strcmp(onoff, "off") != 0)
            return expected(p, 1, "seal on or seal off");
        sc->sealed = strcmp(onoff, "on") == 0;
        return end_of_line(p, 2);
    }
    if (strcmp(k, "lifeguard") == 0) {
        if (once(p, SET_LIFEGUARD) != 0)
            return -1;
        const char *onoff = tok_or_eol(p, 1);
        if (strcmp(onoff, "on") != 0 && strcmp(onoff, "off") != 0)
            return expected(p, 1, "lifeguard on or lifeguard off");
        sc->plain_swim = strcmp(onoff, "off") == 0;
        return end_of_line(p, 2);
    }
    if (strcmp(k, "pushpull") == 0) {
        if (once(p, SET_PUSHPULL) != 0)
            return -1;
        const char *how = tok_or_eol(p, 1);
        if (strcmp(how, "reply-before-merge") != 0 && strcmp(how, "reply-after-merge") != 0)
            return expected(p, 1, "pushpull reply-before-merge or pushpull reply-after-merge");
        sc->pp_reply_before_merge = strcmp(how, "reply-before-merge") == 0;
        return end_of_line(p, 2);
    }
    if (strcmp(k, "loss") == 0) {
        if (once(p, SET_LOSS) != 0)
            return -1;
        if (p->ntok < 2 || parse_prob(p->tok[1], &sc->loss) != 0)
            return expected(p, 1, "a loss probability between 0 and 1");
        return end_of_line(p, 2);
    }
    if (once(p, SET_ZONES) != 0)
        return -1; /* "zones" */
    if (p->ntok < 2 || parse_uint(p->tok[1], 1000, &v) != 0 || v == 0)
        return expected(p, 1, "a number of zones from 1 to 1000");
    sc->zones = (int)v;
    return end_of_line(p, 2);
}

/* Appends n services to the catalog, zeroed but for their line; returns
 * the first, or NULL (with the message written) past SL_SIM_SERVICES_MAX. */
static sl_sim_service *add_services(parser *p, size_t n)
{
    sl_sim_scenario *sc = p->sc;
    if (n > SL_SIM_SERVICES_MAX - sc->nservices) {
        fail(p, "expected at most %d services in all, got %zu", SL_SIM_SERVICES_MAX,
             sc->nservices + n);
        return NULL;
    }
    sl_sim_service *arr = realloc(sc->services, (sc->nservices + n) * sizeof *arr);
    if (!arr) {
        fail(p, "out of memory");
        return NULL;
    }
    sc->services = arr;
    sl_sim_service *first = &arr[sc->nservices];
    memset(first, 0, n * sizeof *first);
    for (size_t k = 0; k < n; k++)
        first[k].line = p->line;
    sc->nservices += n;
    return first;
}

/* What `service` options were given, with the check parsed on the side
 * (stored only once the line is fine). */
typedef struct svc_opts {
    unsigned given;
    sl_check check;
} svc_opts;

/* Parses one option of `service` at token i: cpu MILLI, mem MB, spread
 * zones|nodes, check KIND, check-interval T or check-failures N, each at
 * most once. */
static int service_option(parser *p, int i, sl_sim_service *s, svc_opts *o_)
{
    static const char *const opts[] = {"cpu", "mem", "spread", "check", "check-interval",
                                       "check-failures"};
    enum { NOPTS = sizeof opts / sizeof *opts };
    const char *k = p->tok[i];
    unsigned o;
    for (o = 0; o < NOPTS; o++)
        if (strcmp(k, opts[o]) == 0)
            break;
    if (o == NOPTS)
        return expected(p, i, "cpu, mem, spread, check, check-interval, check-failures or end of line");
    if (o_->given & (1u << o))
        return fail(p, "'%s' is given twice", k);
    o_->given |= 1u << o;
    uint64_t v;
    const char *val = tok_or_eol(p, i + 1);
    switch (o) {
    case 2:
        if (strcmp(val, "zones") != 0 && strcmp(val, "nodes") != 0)
            return expected(p, i + 1, "spread zones or spread nodes");
        s->spread_nodes = strcmp(val, "nodes") == 0;
        return 0;
    case 3: {
        sl_check c = {0}; /* sl_check_parse keeps the other fields: validated as zero */
        if (i + 1 >= p->ntok || sl_check_parse(val, &c) != 0 || c.kind == SL_CHECK_DEFAULT)
            return expected(p, i + 1, "a check like tcp, http:/healthz or exec:true");
        o_->check.kind = c.kind;
        memcpy(o_->check.arg, c.arg, sizeof c.arg);
        return 0;
    }
    case 4:
        if (parse_ms(p, i + 1, "a check interval like 1s", &v) != 0)
            return -1;
        if (v == 0 || v > SL_CHECK_INTERVAL_MAX_MS)
            return fail(p, "expected a check interval from 1ms to 1h, got '%s'", val);
        o_->check.interval_ms = (uint32_t)v;
        return 0;
    case 5:
        if (i + 1 >= p->ntok || parse_uint(val, SL_CHECK_FAILURES_MAX, &v) != 0 || v == 0)
            return expected(p, i + 1, "a number of failed checks from 1 to 100");
        o_->check.failures = (uint32_t)v;
        return 0;
    }
    if (i + 1 >= p->ntok || parse_uint(val, UINT32_MAX, &v) != 0)
        return expected(p, i + 1,
                        o == 0 ? "a CPU request in millicores like 500"
                               : "a memory request in MB like 256");
    if (o == 0)
        s->cpu_milli = (uint32_t)v;
    else
        s->mem_mb = (uint32_t)v;
    return 0;
}

/* service NAME replicas N [cpu MILLI] [mem MB] [spread zones|nodes]
 *   [check KIND [check-interval T] [check-failures N]] */
static int stmt_service(parser *p)
{
    sl_sim_service s = {.line = p->line};
    if (parse_svc_name(p, 1, s.name, sizeof s.name) != 0)
        return -1;
    if (strcmp(tok_or_eol(p, 2), "replicas") != 0)
        return expected(p, 2, "'replicas N'");
    if (parse_replicas(p, 3, 1, &s.replicas) != 0)
        return -1;
    svc_opts o = {0};
    for (int i = 4; i < p->ntok; i += 2)
        if (service_option(p, i, &s, &o) != 0)
            return -1;
    if ((o.check.interval_ms || o.check.failures) && o.check.kind == SL_CHECK_DEFAULT)
        return fail(p, "check-interval and check-failures need a 'check KIND'");
    if (o.check.kind != SL_CHECK_DEFAULT) {
        s.check = malloc(sizeof *s.check);
        if (!s.check)
            return fail(p, "out of memory");
        *s.check = o.check;
    }
    sl_sim_service *to = add_services(p, 1);
    if (!to) {
        free(s.check);
        return -1;
    }
    *to = s;
    return 0;
}

/* services COUNT replicas N: named s0, s1, ... */
static int stmt_services(parser *p)
{
    uint64_t count;
    uint32_t replicas;
    if (p->ntok < 2 || parse_uint(p->tok[1], SL_SIM_SERVICES_MAX, &count) != 0 || count == 0)
        return expected(p, 1, "a number of services from 1 to 100000");
    if (strcmp(tok_or_eol(p, 2), "replicas") != 0)
        return expected(p, 2, "'replicas N'");
    if (parse_replicas(p, 3, 1, &replicas) != 0 || end_of_line(p, 4) != 0)
        return -1;
    sl_sim_service *s = add_services(p, (size_t)count);
    if (!s)
        return -1;
    for (size_t k = 0; k < count; k++) {
        snprintf(s[k].name, sizeof s[k].name, "s%zu", k);
        s[k].replicas = replicas;
    }
    return 0;
}

/* startup MEAN [JITTER] | stopping MEAN [JITTER]: the virtual supervisor's
 * delays, each drawn from MEAN +- JITTER; the jitter is at most the mean. */
static int stmt_delay(parser *p)
{
    bool startup = strcmp(p->tok[0], "startup") == 0;
    if (once(p, startup ? SET_STARTUP : SET_STOPPING) != 0)
        return -1;
    uint64_t mean, jit = 0;
    char what[64];
    snprintf(what, sizeof what, "a %s time like %s (at most 1h)", p->tok[0],
             startup ? "500ms" : "100ms");
    if (parse_ms(p, 1, what, &mean) != 0)
        return -1;
    if (mean > DELAY_MAX_MS)
        return expected(p, 1, what);
    if (p->ntok >= 3) {
        if (parse_ms(p, 2, "a jitter like 200ms", &jit) != 0)
            return -1;
        if (jit > mean)
            return fail(p, "expected a jitter of at most the mean (%s), got '%s'", p->tok[1],
                        p->tok[2]);
    }
    if (end_of_line(p, p->ntok >= 3 ? 3 : 2) != 0)
        return -1;
    if (startup) {
        p->sc->startup_ms = (uint32_t)mean;
        p->sc->startup_jitter_ms = (uint32_t)jit;
    } else {
        p->sc->stopping_ms = (uint32_t)mean;
        p->sc->stopping_jitter_ms = (uint32_t)jit;
    }
    return 0;
}

static int statement(parser *p)
{
    sl_sim_scenario *sc = p->sc;
    const char *k = p->tok[0];
    bool first = sc->nodes == 0;
    if (first != (strcmp(k, "nodes") == 0)) {
        if (first)
            return fail(p, "expected 'nodes N' as the first statement, got '%s'", k);
        return fail(p, "'nodes' is given twice");
    }
    if (p->seen_run && strcmp(k, "expect") != 0)
        return fail(p, "expected only 'expect' lines after 'run', got '%s'", k);
    if (first) {
        uint64_t v;
        if (p->ntok < 2 || parse_uint(p->tok[1], SL_SIM_NODES_MAX, &v) != 0 || v == 0)
            return expected(p, 1, "a number of nodes from 1 to 1000000");
        sc->nodes = (int)v;
        return end_of_line(p, 2);
    }
    if (strcmp(k, "at") == 0)
        return stmt_at(p);
    if (strcmp(k, "expect") == 0)
        return stmt_expect(p);
    if (strcmp(k, "run") == 0) {
        if (parse_ms(p, 1, "a run time like 300s", &sc->run_ms) != 0)
            return -1;
        if (sc->run_ms == 0)
            return fail(p, "expected a run time longer than 0s");
        p->seen_run = true;
        return end_of_line(p, 2);
    }
    if (strcmp(k, "seed") == 0 || strcmp(k, "profile") == 0 || strcmp(k, "latency") == 0 ||
        strcmp(k, "loss") == 0 || strcmp(k, "zones") == 0 || strcmp(k, "seal") == 0 ||
        strcmp(k, "pushpull") == 0 || strcmp(k, "lifeguard") == 0)
        return stmt_setting(p);
    if (strcmp(k, "seeds") == 0)
        return stmt_seeds(p);
    bool service = strcmp(k, "service") == 0, services = strcmp(k, "services") == 0;
    if (service || services || strcmp(k, "startup") == 0 || strcmp(k, "stopping") == 0) {
        sc->runtime = true;
        if (service)
            return stmt_service(p);
        return services ? stmt_services(p) : stmt_delay(p);
    }
    return fail(
        p,
        "expected a statement (nodes, seed, profile, latency, loss, zones, seal, pushpull, "
        "lifeguard, seeds, service, services, startup, stopping, at, run, expect), got '%s'",
        k);
}

/* Splits line into p->tok. Tokens need their own terminators and `|` and `>`
 * are split off, so they are copied into p->scratch (twice the line's size). */
static int tokenize(parser *p, char *line)
{
    p->ntok = 0;
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    static const char sep[] = " \t\r\v\f";
    char *out = p->scratch;
    for (char *c = line; *c;) {
        if (strchr(sep, *c)) {
            c++;
            continue;
        }
        if (p->ntok == MAX_TOKENS)
            return fail(p, "expected at most %d words", MAX_TOKENS);
        p->tok[p->ntok++] = out;
        if (*c == '|' || (*c == '>' && c[1] != '=')) {
            *out++ = *c++;
        } else {
            while (*c && !strchr(sep, *c) && *c != '|' && !(*c == '>' && c[1] != '='))
                *out++ = *c++;
        }
        *out++ = '\0';
    }
    return 0;
}

static int cmp_action(const void *x, const void *y)
{
    const sl_sim_action *a = x, *b = y;
    if (a->at_ms != b->at_ms)
        return a->at_ms < b->at_ms ? -1 : 1;
    return a->line < b->line ? -1 : a->line > b->line;
}

static int check_set(parser *p, const sl_sim_action *a, const sl_sim_set *s, int avail)
{
    for (size_t k = 0; k < s->n; k++)
        if (s->r[k].hi >= avail)
            return fail(p, "n%d does not exist at %.3fs (%d nodes by then: n0-n%d)", s->r[k].hi,
                        (double)a->at_ms / 1000.0, avail, avail - 1);
    return 0;
}

static int cmp_service(const void *x, const void *y)
{
    const sl_sim_service *a = *(const sl_sim_service *const *)x;
    const sl_sim_service *b = *(const sl_sim_service *const *)y;
    int c = strcmp(a->name, b->name);
    if (c != 0)
        return c;
    return a->line < b->line ? -1 : a->line > b->line;
}

/* Refuses a service named twice, at the earliest line that repeats a name,
 * naming the line it was first given on. Sorted, so that `services 100000`
 * costs n log n rather than n^2. */
static int check_service_names(parser *p)
{
    sl_sim_scenario *sc = p->sc;
    if (sc->nservices < 2)
        return 0;
    const sl_sim_service **by = malloc(sc->nservices * sizeof *by);
    if (!by)
        return fail(p, "out of memory");
    for (size_t i = 0; i < sc->nservices; i++)
        by[i] = &sc->services[i];
    qsort(by, sc->nservices, sizeof *by, cmp_service);
    const sl_sim_service *first = NULL, *again = NULL;
    for (size_t i = 1; i < sc->nservices; i++)
        if (strcmp(by[i - 1]->name, by[i]->name) == 0 && (!again || by[i]->line < again->line) &&
            (i < 2 || strcmp(by[i - 2]->name, by[i]->name) != 0)) {
            first = by[i - 1];
            again = by[i];
        }
    int rc = 0;
    if (again) {
        p->line = again->line;
        rc = fail(p, "service '%s' is given twice (lines %d and %d)", again->name, first->line,
                  again->line);
    }
    free(by);
    return rc;
}

/* The second pass: sorts the timeline and checks it. */
static int check_timeline(parser *p)
{
    sl_sim_scenario *sc = p->sc;
    if (sc->nodes == 0)
        return fail(p, "expected 'nodes N' as the first statement");
    if (!p->seen_run)
        return fail(p, "expected 'run TIME' as the last statement");
    if (sc->nactions)
        qsort(sc->actions, sc->nactions, sizeof *sc->actions, cmp_action);
    long avail = sc->nodes;
    for (size_t i = 0; i < sc->nactions; i++) {
        const sl_sim_action *a = &sc->actions[i];
        p->line = a->line;
        if (a->at_ms > sc->run_ms)
            return fail(p, "expected a time within the run (%.3fs), got %.3fs",
                        (double)sc->run_ms / 1000.0, (double)a->at_ms / 1000.0);
        if (check_set(p, a, &a->nodes, (int)avail) != 0)
            return -1;
        bool via = a->type == SL_SIM_DEPLOY || a->type == SL_SIM_SCALE || a->type == SL_SIM_RM;
        if (via && a->via >= avail)
            return fail(p, "n%d does not exist at %.3fs (%ld nodes by then: n0-n%ld)", a->via,
                        (double)a->at_ms / 1000.0, avail, avail - 1);
        for (size_t g = 0; g < a->ngroups; g++) {
            if (check_set(p, a, &a->groups[g], (int)avail) != 0)
                return -1;
            for (size_t h = 0; h < g && a->type == SL_SIM_PARTITION; h++)
                for (size_t k = 0; k < a->groups[g].n; k++)
                    for (int n = a->groups[g].r[k].lo; n <= a->groups[g].r[k].hi; n++)
                        if (sl_sim_set_has(&a->groups[h], n))
                            return fail(p, "expected disjoint groups, n%d is in two", n);
        }
        avail += a->count;
        if (avail > SL_SIM_NODES_MAX)
            return fail(p, "expected at most %d nodes in all", SL_SIM_NODES_MAX);
    }
    sc->max_nodes = (int)avail;
    for (int i = 0; i < sc->nseeds; i++)
        if (sc->seeds[i] >= sc->max_nodes) {
            p->line = sc->seeds_line;
            return fail(p, "seed n%d never exists (the run has %d nodes: n0-n%d)", sc->seeds[i],
                        sc->max_nodes, sc->max_nodes - 1);
        }
    return check_service_names(p);
}

static int parse_text(parser *p, const char *text)
{
    char *line = malloc(MAX_LINE + 1);
    p->tok = malloc(MAX_TOKENS * sizeof *p->tok);
    p->scratch = malloc(2 * MAX_LINE + 2);
    int rc = 0;
    if (!line || !p->tok || !p->scratch) {
        rc = fail(p, "out of memory");
        goto out;
    }
    for (const char *c = text; *c && rc == 0;) {
        const char *nl = strchr(c, '\n');
        size_t len = nl ? (size_t)(nl - c) : strlen(c);
        p->line++;
        if (len > MAX_LINE) {
            rc = fail(p, "expected a line of at most %d bytes", MAX_LINE);
            break;
        }
        memcpy(line, c, len);
        line[len] = '\0';
        c += len + (nl ? 1 : 0);
        rc = tokenize(p, line);
        if (rc == 0 && p->ntok > 0)
            rc = statement(p);
    }
    if (rc == 0)
        rc = check_timeline(p);
out:
    free(line);
    free(p->tok);
    free(p->scratch);
    p->tok = NULL;
    p->ntok = 0;
    return rc;
}

int sl_sim_scenario_parse(const char *text, const char *file, sl_sim_scenario *out, char *err,
                          size_t errcap)
{
    memset(out, 0, sizeof *out);
    out->seed = 1;
    out->sealed = true;
    out->startup_ms = 500;
    out->startup_jitter_ms = 200;
    out->stopping_ms = 100;
    out->stopping_jitter_ms = 0;
    snprintf(out->profile, sizeof out->profile, "lan");
    parser p = {.file = file, .err = err, .errcap = errcap, .sc = out};
    if (errcap)
        err[0] = '\0';
    if (parse_text(&p, text) != 0) {
        sl_sim_scenario_deinit(out);
        return -1;
    }
    return 0;
}

int sl_sim_scenario_load(const char *path, sl_sim_scenario *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 65536;
            char *nb = cap <= (64u << 20) ? realloc(buf, cap + 1) : NULL;
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errcap, "%s: too large or out of memory", path);
                return -1;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad || memchr(buf, '\0', len)) {
        free(buf);
        snprintf(err, errcap, "%s: %s", path, bad ? "read error" : "not a text file");
        return -1;
    }
    buf[len] = '\0';
    int rc = sl_sim_scenario_parse(buf, path, out, err, errcap);
    free(buf);
    return rc;
}

void sl_sim_scenario_deinit(sl_sim_scenario *sc)
{
    for (size_t i = 0; i < sc->nactions; i++) {
        free(sc->actions[i].nodes.r);
        for (size_t g = 0; g < sc->actions[i].ngroups; g++)
            free(sc->actions[i].groups[g].r);
        free(sc->actions[i].groups);
    }
    free(sc->actions);
    free(sc->expects);
    for (size_t i = 0; i < sc->nservices; i++)
        free(sc->services[i].check);
    free(sc->services);
    memset(sc, 0, sizeof *sc);
}
