/* The runtime's RPC commands: deploy, scale, rm, rollback, drain, services,
 * ps, where.
 * rpc_server.c hands every command it does not know itself to
 * sl__rpc_runtime(). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "rpc/rpc_rollout.h"
#include "rpc/rpc_runtime.h"
#include "runtime/runtime.h"
#include "starling/error.h"

/* Base64 of bytes, as a new JSON string. */
static json_t *b64_json(const uint8_t *b, size_t n)
{
    size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char *text = malloc(cap);
    if (!text)
        return NULL;
    sodium_bin2base64(text, cap, b, n, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string(text);
    free(text);
    return j;
}

/* Copies a JSON array of strings into a NULL-terminated vector of borrowed
 * pointers. Returns the count, or -1 when it is not such an array. */
static int strv_of(json_t *arr, const char **out, int max)
{
    size_t i;
    json_t *v;
    if (!json_is_array(arr) || json_array_size(arr) > (size_t)max)
        return -1;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            return -1;
        out[i] = json_string_value(v);
    }
    return (int)json_array_size(arr);
}

/* Reads the optional "check" object of a deploy: {"spec": "http:/healthz",
 * "interval_ms", "timeout_ms", "failures"}. Returns 0, or -1 with err set. */
static int check_of(json_t *req, sl_check *out, char *err, size_t errcap)
{
    json_t *c = json_object_get(req, "check");
    *out = (sl_check){0};
    if (!c)
        return 0;
    const char *spec = json_string_value(json_object_get(c, "spec"));
    json_t *nums[] = {json_object_get(c, "interval_ms"), json_object_get(c, "timeout_ms"),
                      json_object_get(c, "failures")};
    uint32_t *dst[] = {&out->interval_ms, &out->timeout_ms, &out->failures};
    if (!json_is_object(c) || !spec || sl_check_parse(spec, out) != 0)
        goto bad;
    for (int i = 0; i < 3; i++) {
        if (!nums[i])
            continue;
        json_int_t v = json_integer_value(nums[i]);
        if (!json_is_integer(nums[i]) || v < 0 || v > UINT32_MAX)
            goto bad;
        *dst[i] = (uint32_t)v;
    }
    if (sl_check_validate(out) == 0)
        return 0;
bad:
    snprintf(err, errcap,
             "deploy: the check must be tcp, http:/PATH (visible ASCII) or exec:CMD (at most %d "
             "bytes), with an interval up to %u ms, a timeout up to %u ms and 1..%u failures",
             SL_CHECK_ARG_MAX, SL_CHECK_INTERVAL_MAX_MS, SL_CHECK_TIMEOUT_MAX_MS,
             SL_CHECK_FAILURES_MAX);
    return -1;
}

/* Reads the optional "rollout" object of a deploy: {"max_surge",
 * "max_unavailable", "min_healthy_ms", "deadline_ms" (integers), "auto_revert"
 * (bool)}, each optional. Returns 0, or -1 with err set. */
static int rollout_of(json_t *req, sl_rollout *out, char *err, size_t errcap)
{
    json_t *o = json_object_get(req, "rollout");
    *out = (sl_rollout){0};
    if (!o)
        return 0;
    const char *keys[] = {"max_surge", "max_unavailable", "min_healthy_ms", "deadline_ms"};
    uint32_t *dst[] = {&out->max_surge, &out->max_unavailable, &out->min_healthy_ms,
                       &out->deadline_ms};
    json_t *revert = json_object_get(o, "auto_revert");
    if (!json_is_object(o) || (revert && !json_is_boolean(revert)))
        goto bad;
    for (int i = 0; i < 4; i++) {
        json_t *v = json_object_get(o, keys[i]);
        if (!v)
            continue;
        json_int_t n = json_integer_value(v);
        if (!json_is_integer(v) || n < 0 || n > UINT32_MAX)
            goto bad;
        *dst[i] = (uint32_t)n;
    }
    out->surge_set = json_object_get(o, "max_surge") != NULL;
    out->auto_revert = json_is_true(revert);
    if (sl_rollout_validate(out) == 0)
        return 0;
bad:
    snprintf(err, errcap,
             "deploy: the rollout needs max_surge and max_unavailable of 0..%d, not both 0, and "
             "min_healthy_ms and deadline_ms up to %u",
             SL_SVC_REPLICAS_MAX, SL_ROLL_TIME_MAX_MS);
    return -1;
}

/* A deploy or a signed write with --user goes through root agents only:
 * this one would never start such a replica itself (cmd_exec.c), and an
 * operator who ran one here would see only failed starts. Returns 0, or -1
 * with err set. */
static int user_allowed(const char *user, char *err, size_t errcap)
{
    if (!user || !user[0] || geteuid() == 0)
        return 0;
    snprintf(err, errcap,
             "deploy: --user %s needs an agent running as root; this one runs as uid %u", user,
             (unsigned)geteuid());
    return -1;
}

static json_t *deploy(sl__agent *a, json_t *req, char *err, size_t errcap)
{
    const char *argv[SL_SVC_ARGS_MAX + 1], *env[SL_SVC_ENV_MAX + 1];
    const char *name = json_string_value(json_object_get(req, "name"));
    const char *spread = json_string_value(json_object_get(req, "spread"));
    json_int_t replicas = json_integer_value(json_object_get(req, "replicas"));
    int argc = strv_of(json_object_get(req, "argv"), argv, SL_SVC_ARGS_MAX);
    int envc =
        json_object_get(req, "env") ? strv_of(json_object_get(req, "env"), env, SL_SVC_ENV_MAX) : 0;
    if (!name || strlen(name) > SL_SVC_NAME_MAX || argc < 1 || envc < 0 || replicas < 0 ||
        replicas > SL_SVC_REPLICAS_MAX) {
        snprintf(err, errcap,
                 "deploy needs a name (up to %d bytes), 0..%d replicas, a "
                 "command of at most %d words and at most %d KEY=VALUE entries",
                 SL_SVC_NAME_MAX, SL_SVC_REPLICAS_MAX, SL_SVC_ARGS_MAX, SL_SVC_ENV_MAX);
        return NULL;
    }
    sl_service spec = {.replicas = (uint32_t)replicas,
                       .cpu_milli = (uint32_t)json_integer_value(json_object_get(req, "cpu")),
                       .mem_mb = (uint32_t)json_integer_value(json_object_get(req, "mem")),
                       .spread =
                           spread && !strcmp(spread, "nodes") ? SL_SPREAD_NODES : SL_SPREAD_ZONES,
                       .argc = (uint32_t)argc,
                       .argv = (char **)argv,
                       .envc = (uint32_t)envc,
                       .env = (char **)env};
    snprintf(spec.name, sizeof spec.name, "%s", name);
    if (check_of(req, &spec.check, err, errcap) != 0 ||
        rollout_of(req, &spec.rollout, err, errcap) != 0)
        return NULL;
    json_t *user = json_object_get(req, "user");
    if (user && (!json_is_string(user) || sl_service_user_check(json_string_value(user)))) {
        snprintf(err, errcap,
                 "deploy: the user must be a POSIX user name: 1..%d of A-Z a-z 0-9 . _ -, "
                 "not starting with '-'",
                 SL_SVC_USER_MAX);
        return NULL;
    }
    if (user) {
        snprintf(spec.user, sizeof spec.user, "%s", json_string_value(user));
        if (user_allowed(spec.user, err, errcap) != 0)
            return NULL;
    }
    if (sl__runtime_deploy(a->runtime, &spec, err, errcap) != 0)
        return NULL;
    return json_pack("{s:s, s:i}", "name", name, "replicas", replicas);
}

/* Replicas of `service` reported in `status` by live members. */
static int status_count(sl__agent *a, const char *service, sl_replica_status status)
{
    const sl_reports *rep = sl__runtime_reports(a->runtime);
    int n = 0;
    sl_report rr, *r = &rr;
    for (size_t i = 0; sl_reports_at(rep, i, r); i++) {
        sl_member_view v;
        if (strcmp(r->service, service) != 0 || sl_swim_find(a->swim, r->node, &v) != 0 ||
            (v.state != SL_MEMBER_ALIVE && v.state != SL_MEMBER_SUSPECT))
            continue;
        for (uint32_t k = 0; k < r->n; k++)
            n += r->replicas[k].status == status;
    }
    return n;
}

static json_t *strv_json(char **v, uint32_t n)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* A service's rollout parameters, defaults filled in. */
static json_t *rollout_json(const sl_rollout *r)
{
    return json_pack("{s:i, s:i, s:I, s:I, s:b}", "max_surge", (json_int_t)sl_rollout_max_surge(r),
                     "max_unavailable", (json_int_t)r->max_unavailable, "min_healthy_ms",
                     (json_int_t)sl_rollout_min_healthy_ms(r), "deadline_ms",
                     (json_int_t)sl_rollout_deadline_ms(r), "auto_revert", r->auto_revert);
}

/* The previous version a rollback writes back: {argv, env, check, user?}. */
static json_t *prev_json(const sl_service_prev *p)
{
    char check[SL_CHECK_ARG_MAX + 8];
    sl_check_format(&p->check, check, sizeof check);
    json_t *o = json_pack("{s:o, s:o, s:s}", "argv", strv_json(p->argv, p->argc), "env",
                          strv_json(p->env, p->envc), "check", check);
    if (o && p->user[0])
        json_object_set_new(o, "user", json_string(p->user));
    return o;
}

static json_t *services(sl__agent *a)
{
    const sl_catalog *cat = sl__runtime_catalog(a->runtime);
    json_t *list = json_array();
    for (size_t i = 0; i < sl_catalog_size(cat); i++) {
        const sl_service *s = sl_catalog_at(cat, i);
        if (s->deleted)
            continue;
        json_array_append_new(
            list,
            json_pack("{s:s, s:i, s:i, s:i, s:i, s:s, s:o, s:o, s:I, s:I, s:s}", "name", s->name,
                      "replicas", (json_int_t)s->replicas, "running",
                      (json_int_t)status_count(a, s->name, SL_REPLICA_RUNNING), "cpu",
                      (json_int_t)s->cpu_milli, "mem", (json_int_t)s->mem_mb, "spread",
                      s->spread == SL_SPREAD_NODES ? "nodes" : "zones", "argv",
                      strv_json(s->argv, s->argc), "env", strv_json(s->env, s->envc), "stamp",
                      (json_int_t)s->stamp, "lamport", (json_int_t)s->stamp, "writer", s->writer));
        json_t *last = json_array_get(list, json_array_size(list) - 1);
        char check[SL_CHECK_ARG_MAX + 8];
        sl_check_format(&s->check, check, sizeof check);
        if (last) {
            json_object_set_new(last, "unhealthy",
                                json_integer(status_count(a, s->name, SL_REPLICA_UNHEALTHY)));
            json_t *c = json_pack("{s:s}", "spec", check);
            if (s->check.kind != SL_CHECK_DEFAULT) {
                json_object_set_new(c, "interval_ms",
                                    json_integer(sl_check_interval_ms(&s->check)));
                json_object_set_new(c, "timeout_ms", json_integer(sl_check_timeout_ms(&s->check)));
                json_object_set_new(c, "failures", json_integer(sl_check_failures(&s->check)));
            }
            json_object_set_new(last, "check", c);
            if (s->user[0]) /* absent: the agent's user */
                json_object_set_new(last, "user", json_string(s->user));
            if (s->has_revert_sig) /* absent: no revert signed in advance */
                json_object_set_new(last, "revert_signed", json_true());
            json_object_set_new(last, "rollout", rollout_json(&s->rollout));
            json_object_set_new(last, "previous", s->prev.has ? prev_json(&s->prev) : json_null());
        }
        if (last && s->is_signed)
            json_object_set_new(last, "signed_by", b64_json(s->signer, sizeof s->signer));
    }
    return json_pack("{s:o}", "services", list);
}

/* One replica; a given-up one (reports.h) has the status "gave-up". Its spec
 * version is 8 hex digits, or "" when not known (0). */
static json_t *replica_json(const char *service, uint32_t replica, const char *node,
                            uint32_t status, bool gave_up, const sl_addr *host, uint32_t port,
                            uint32_t restarts, uint32_t version)
{
    char addr[SL_ADDR_STRLEN], ver[9] = "";
    sl_addr at = *host;
    at.port = (uint16_t)port;
    sl_addr_format(&at, addr, sizeof addr);
    if (version)
        snprintf(ver, sizeof ver, "%08x", (unsigned)version);
    json_t *o = json_pack("{s:s, s:i, s:s, s:s, s:i, s:s}", "service", service, "replica",
                          (json_int_t)replica, "status",
                          gave_up ? "gave-up" : sl_replica_status_name(status), "addr",
                          port ? addr : "", "restarts", (json_int_t)restarts, "version", ver);
    if (node)
        json_object_set_new(o, "node", json_string(node));
    return o;
}

static json_t *ps(sl__agent *a)
{
    sl__local_replica *local;
    size_t n = sl__runtime_local(a->runtime, &local);
    sl_member_view self;
    sl_swim_find(a->swim, sl_swim_name(a->swim), &self);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = replica_json(local[i].service, local[i].replica, NULL, local[i].status, false,
                                 &self.addr, local[i].port, local[i].restarts, local[i].version);
        json_object_set_new(o, "pid", json_integer(local[i].pid));
        json_array_append_new(list, o);
    }
    free(local);
    return json_pack("{s:o}", "replicas", list);
}

static json_t *where(sl__agent *a, json_t *req, char *err, size_t errcap)
{
    const char *name = json_string_value(json_object_get(req, "name"));
    if (!name) {
        snprintf(err, errcap, "where needs a service name");
        return NULL;
    }
    const sl_reports *rep = sl__runtime_reports(a->runtime);
    json_t *list = json_array();
    sl_report rr, *r = &rr;
    for (size_t i = 0; sl_reports_at(rep, i, r); i++) {
        sl_member_view v;
        if (strcmp(r->service, name) != 0 || sl_swim_find(a->swim, r->node, &v) != 0 ||
            (v.state != SL_MEMBER_ALIVE && v.state != SL_MEMBER_SUSPECT))
            continue;
        for (uint32_t k = 0; k < r->n; k++) {
            const sl_replica_report *x = &r->replicas[k];
            json_array_append_new(list,
                                  replica_json(name, x->replica, r->node, x->status, x->gave_up,
                                               &v.addr, x->port, x->restarts, x->version));
        }
    }
    if (json_array_size(list) == 0 && !sl_catalog_find(sl__runtime_catalog(a->runtime), name)) {
        json_decref(list);
        snprintf(err, errcap, "no service named '%s'", name);
        return NULL;
    }
    return json_pack("{s:o}", "replicas", list);
}

/* What a client needs to write a signed record: the catalog's clock (for the
 * stamp), the cluster label and our name (the signature covers the label;
 * the writer is the peer that takes the write), whether signatures are
 * required, and the current record of `name` if any. */
static json_t *catalog_get(sl__agent *a, json_t *req)
{
    const sl_catalog *cat = sl__runtime_catalog(a->runtime);
    const char *name = json_string_value(json_object_get(req, "name"));
    json_t *o = json_pack("{s:I, s:s, s:s, s:b}", "clock", (json_int_t)sl_catalog_clock(cat),
                          "cluster", a->cfg.cluster, "node", a->cfg.name, "signatures_required",
                          sl_catalog_requires_signatures(cat));
    const sl_service *cur = name ? sl_catalog_find_any(cat, name) : NULL;
    uint8_t buf[SL_SVC_RECORD_MAX];
    int n = cur ? sl_service_encode(cur, buf, sizeof buf) : -1;
    if (o && n > 0)
        json_object_set_new(o, "record", b64_json(buf, (size_t)n));
    return o;
}

/* `rollback NAME`, unsigned: sl_catalog_rollback through the runtime (the
 * path --auto-revert takes too). Replies {name, argv}: the command now
 * wanted. */
static json_t *rollback(sl__agent *a, json_t *req, char *err, size_t errcap)
{
    const sl_catalog *cat = sl__runtime_catalog(a->runtime);
    const char *name = json_string_value(json_object_get(req, "name"));
    if (!name) {
        snprintf(err, errcap, "rollback needs a service name");
        return NULL;
    }
    if (sl_catalog_requires_signatures(cat)) {
        snprintf(err, errcap,
                 "this peer runs only what a trusted operator key signed: pass "
                 "--operator-secret FILE (or set STARLING_OPERATOR_SECRET) with a key it trusts");
        return NULL;
    }
    const sl_service *cur = sl_catalog_find(cat, name);
    if (cur && cur->prev.has && user_allowed(cur->prev.user, err, errcap) != 0)
        return NULL;
    if (sl__runtime_rollback(a->runtime, name, err, errcap) != 0)
        return NULL;
    cur = sl_catalog_find(cat, name); /* the rollback's record */
    json_t *argv = cur ? strv_json(cur->argv, cur->argc) : json_array();
    return json_pack("{s:s, s:o}", "name", name, "argv", argv);
}

/* A whole record written by the client (signed with an operator key). */
static json_t *write_record(sl__agent *a, json_t *req, char *err, size_t errcap)
{
    const char *text = json_string_value(json_object_get(req, "record"));
    uint8_t rec[SL_SVC_RECORD_MAX];
    size_t len = 0;
    if (!text || sodium_base642bin(rec, sizeof rec, text, strlen(text), NULL, &len, NULL,
                                   sodium_base64_VARIANT_ORIGINAL) != 0) {
        snprintf(err, errcap,
                 "write needs a record: a catalog record of at most %d bytes, in "
                 "base64",
                 SL_SVC_RECORD_MAX);
        return NULL;
    }
    sl_service probe;
    if (sl_service_decode(rec, len, &probe) == 0) { /* a bad one: sl__runtime_write says why */
        int refused = user_allowed(probe.user, err, errcap);
        sl_service_clear(&probe);
        if (refused)
            return NULL;
    }
    if (sl__runtime_write(a->runtime, rec, len, err, errcap) != 0)
        return NULL;
    return json_object();
}

json_t *sl__rpc_security_json(sl__agent *a)
{
    static const char *syncs[] = {"current", "new", "returning"};
    const sl_catalog *cat = a->runtime ? sl__runtime_catalog(a->runtime) : NULL;
    json_t *o = json_pack("{s:b, s:i, s:i, s:b, s:I}", "sealed", sl_swim_sealed(a->swim), "keys",
                          (json_int_t)a->keyring.n, "operator_keys", (json_int_t)a->noperator_keys,
                          "signatures_required", cat && sl_catalog_requires_signatures(cat),
                          "streams_unauthentic", (json_int_t)a->ctr.streams_unauthentic);
    if (!o)
        return NULL;
    json_t *warn = json_array();
    if (!a->keyring.n)
        json_array_append_new(warn, json_string("gossip is not sealed: anyone who can reach the "
                                                "gossip port can join and read the cluster"));
    if (!a->noperator_keys)
        json_array_append_new(warn, json_string("no operator key: this peer runs unsigned "
                                                "catalog writes"));
    json_object_set_new(o, "warnings", warn);
    if (!cat)
        return o;
    const sl_catalog_stats *st = sl_catalog_get_stats(cat);
    json_t *refused = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I}", "malformed", (json_int_t)st->malformed, "unsigned",
        (json_int_t)st->unsigned_, "bad_signature", (json_int_t)st->bad_signature, "future",
        (json_int_t)st->future, "expired", (json_int_t)st->expired, "full", (json_int_t)st->full);
    uint64_t runs, collected;
    size_t tombstones = 0;
    for (size_t i = 0; i < sl_catalog_size(cat); i++)
        tombstones += sl_catalog_at(cat, i)->deleted;
    sl__runtime_gc_counts(a->runtime, &runs, &collected);
    json_t *c = json_pack(
        "{s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "sync", syncs[sl_catalog_get_sync(cat)],
        "refused", refused, "dropped_stale", (json_int_t)st->dropped_stale, "reports_refused",
        (json_int_t)sl__runtime_reports_refused(a->runtime), "records",
        (json_int_t)sl_catalog_size(cat), "tombstones", (json_int_t)tombstones, "gc_runs",
        (json_int_t)runs, "tombstones_collected", (json_int_t)collected);
    json_object_set_new(o, "catalog", c);
    return o;
}

json_t *sl__rpc_runtime(sl__agent *a, const char *cmd, json_t *req, char *err, size_t errcap,
                        bool *handled)
{
    const char *name = json_string_value(json_object_get(req, "name"));
    json_int_t n = json_integer_value(json_object_get(req, "replicas"));
    *handled = true;
    if (!a->runtime) {
        *handled = false;
        return NULL;
    }
    if (!strcmp(cmd, "deploy"))
        return deploy(a, req, err, errcap);
    if (!strcmp(cmd, "scale")) {
        if (!name || n < 0 || n > SL_SVC_REPLICAS_MAX) {
            snprintf(err, errcap, "scale needs a name and 0..%d replicas", SL_SVC_REPLICAS_MAX);
            return NULL;
        }
        return sl__runtime_scale(a->runtime, name, (uint32_t)n, err, errcap) ? NULL : json_object();
    }
    if (!strcmp(cmd, "rm")) {
        if (!name) {
            snprintf(err, errcap, "rm needs a service name");
            return NULL;
        }
        return sl__runtime_remove(a->runtime, name, err, errcap) ? NULL : json_object();
    }
    if (!strcmp(cmd, "rollback"))
        return rollback(a, req, err, errcap);
    if (!strcmp(cmd, "catalog-get"))
        return catalog_get(a, req);
    if (!strcmp(cmd, "write"))
        return write_record(a, req, err, errcap);
    if (!strcmp(cmd, "drain"))
        return sl__runtime_drain(a->runtime, err, errcap) ? NULL : json_object();
    if (!strcmp(cmd, "services"))
        return services(a);
    if (!strcmp(cmd, "ps"))
        return ps(a);
    if (!strcmp(cmd, "where"))
        return where(a, req, err, errcap);
    if (!strcmp(cmd, "rollout"))
        return sl__rpc_rollout(a, req, err, errcap);
    *handled = false;
    return NULL;
}

json_t *sl__rpc_limits_json(sl__agent *a)
{
    const sl__cgroup *cg = a->runtime ? sl__runtime_cgroup(a->runtime) : NULL;
    if (!cg)
        return json_pack("{s:b,s:s,s:s}", "enforced", 0, "mode", "off", "why", "off (no runtime)");
    return json_pack("{s:b,s:s,s:s,s:s}", "enforced", cg->mode == SL__CGROUP_LIMITS, "mode",
                     sl__cgroup_mode_name(cg->mode), "why", cg->why, "cgroup",
                     cg->mode == SL__CGROUP_OFF ? "" : cg->base);
}
