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
 * named (the initial nodes plus every `join` before), and nothing may happen
 * after the end of the run. Each error message names the file and line and
 * says what was expected and what was found. */
#include "scenario.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    bool seen[8]; /* settings already given, to refuse duplicates */
    sl_sim_scenario *sc;
} parser;

enum { SET_SEED, SET_PROFILE, SET_LATENCY, SET_LOSS, SET_ZONES, SET_SEAL, SET_PUSHPULL };

static const char *const action_names[] = {
    [SL_SIM_CRASH] = "crash",     [SL_SIM_PAUSE] = "pause",         [SL_SIM_LEAVE] = "leave",
    [SL_SIM_RESTART] = "restart", [SL_SIM_PARTITION] = "partition", [SL_SIM_CUT] = "cut",
    [SL_SIM_LOSS] = "loss",       [SL_SIM_JOIN] = "join",           [SL_SIM_HEAL] = "heal",
};

static const char *const metric_names[] = {
    [SL_SIM_M_CONVERGED] = "converged",
    [SL_SIM_M_DETECT_FIRST] = "detect_first",
    [SL_SIM_M_DETECT_ALL] = "detect_all",
    [SL_SIM_M_LEAVE_SEEN] = "leave_seen",
    [SL_SIM_M_FALSE_POSITIVES] = "false_positives",
    [SL_SIM_M_FALSE_POSITIVES_PAUSED] = "false_positives_paused",
    [SL_SIM_M_GHOSTS] = "ghosts",
    [SL_SIM_M_CONVERGED_AT] = "converged_at",
    [SL_SIM_M_LIVE] = "live",
    [SL_SIM_M_MSGS] = "messages_per_node_per_s",
    [SL_SIM_M_SERVICES_BACK] = "services_back",
    [SL_SIM_M_MIN_RUNNING] = "min_running_rebalance",
    [SL_SIM_M_DUPLICATES_GONE] = "duplicates_gone",
    [SL_SIM_M_LOST_WRITES] = "lost_writes",
    [SL_SIM_M_STARTS_PER_LOST] = "starts_per_lost",
    [SL_SIM_M_CATALOG_CONVERGED] = "catalog_converged",
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
    default: return fail(p, "'%s' is not parsed yet", sl_sim_action_name(a->type));
    }
    return -1;
}

static int stmt_at(parser *p)
{
    sl_sim_scenario *sc = p->sc;
    sl_sim_action a = {.line = p->line};
    if (parse_ms(p, 1, "a time like 30s", &a.at_ms) != 0)
        return -1;
    const char *verb = tok_or_eol(p, 2);
    size_t t;
    for (t = 0; t < sizeof action_names / sizeof *action_names; t++)
        if (strcmp(verb, action_names[t]) == 0)
            break;
    if (t == sizeof action_names / sizeof *action_names)
        return expected(p, 2, "crash, pause, leave, restart, partition, cut, loss, join or heal");
    a.type = (sl_sim_action_type)t;
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
           m == SL_SIM_M_DUPLICATES_GONE || m == SL_SIM_M_CATALOG_CONVERGED;
}

/* expect converged | expect METRIC OP VALUE */
static int stmt_expect(parser *p)
{
    sl_sim_expect e = {.line = p->line};
    const char *name = tok_or_eol(p, 1);
    size_t m;
    for (m = 0; m < SL_SIM_M__COUNT; m++)
        if (strcmp(name, metric_names[m]) == 0)
            break;
    if (m == SL_SIM_M__COUNT)
        return expected(p, 1,
                        "converged, detect_first, detect_all, leave_seen, false_positives, "
                        "false_positives_paused, ghosts, converged_at, live or "
                        "messages_per_node_per_s");
    e.metric = (sl_sim_metric)m;
    int i = 2;
    if (e.metric != SL_SIM_M_CONVERGED) {
        size_t o;
        for (o = 0; o < sizeof op_names / sizeof *op_names; o++)
            if (strcmp(tok_or_eol(p, 2), op_names[o]) == 0)
                break;
        if (o == sizeof op_names / sizeof *op_names)
            return expected(p, 2, "one of <= < >= > ==");
        e.op = (sl_sim_op)o;
        uint64_t us;
        const char *v = tok_or_eol(p, 3);
        if (metric_is_time(e.metric)) {
            if (p->ntok < 4 || sl_sim_parse_duration_us(v, &us) != 0)
                return expected(p, 3, "a time like 10s");
            e.value = (double)us / 1e6;
        } else {
            char *end;
            e.value = strtod(v, &end);
            if (p->ntok < 4 || *end != '\0' || end == v || (*v < '0' || *v > '9'))
                return expected(p, 3, "a number");
        }
        i = 4;
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
        strcmp(k, "pushpull") == 0)
        return stmt_setting(p);
    return fail(p,
                "expected a statement (nodes, seed, profile, latency, loss, zones, seal, pushpull, "
                "at, run, expect), got '%s'",
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
    return 0;
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
    memset(sc, 0, sizeof *sc);
}
