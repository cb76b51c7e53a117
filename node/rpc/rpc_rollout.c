/* The `rollout` RPC command: how far a service's rolling update has come,
 * as this peer sees it (the catalog's spec and previous version, and the
 * live members' reports of every replica's version and status). It reads
 * what the reconcilers of every peer read (placement/reconcile.c); nothing
 * here decides anything. */
#include <stdio.h>
#include <string.h>

#include "rpc/rpc_rollout.h"
#include "runtime/runtime.h"
#include "starling/reconcile.h"

static void hex32(uint32_t v, char out[9])
{
    snprintf(out, 9, "%08x", v);
}

/* The version (low 32 bits of the spec hash) of a record's previous spec. */
static uint32_t prev_version(const sl_service *s)
{
    sl_service p = {0};
    p.argc = s->prev.argc;
    p.argv = s->prev.argv;
    p.envc = s->prev.envc;
    p.env = s->prev.env;
    p.check = s->prev.check;
    snprintf(p.user, sizeof p.user, "%s", s->prev.user);
    return (uint32_t)sl_service_spec_hash(&p);
}

static bool live(sl__agent *a, const char *node)
{
    sl_member_view v;
    return sl_swim_find(a->swim, node, &v) == 0 &&
           (v.state == SL_MEMBER_ALIVE || v.state == SL_MEMBER_SUSPECT);
}

json_t *sl__rpc_rollout(sl__agent *a, json_t *req, char *err, size_t errcap)
{
    const char *name = json_string_value(json_object_get(req, "name"));
    if (!name) {
        snprintf(err, errcap, "rollout needs a service name");
        return NULL;
    }
    const sl_service *s = sl_catalog_find(sl__runtime_catalog(a->runtime), name);
    if (!s) {
        snprintf(err, errcap, "no service named '%s'", name);
        return NULL;
    }
    uint32_t version = (uint32_t)sl_service_spec_hash(s);
    char vhex[9], phex[9];
    hex32(version, vhex);
    json_t *o = json_pack("{s:s, s:i, s:s}", "name", name, "replicas", (json_int_t)s->replicas,
                          "version", vhex);
    if (s->prev.has) {
        hex32(prev_version(s), phex);
        json_object_set_new(o, "previous", json_string(phex));
    }
    json_object_set_new(
        o, "parameters",
        json_pack("{s:i, s:i, s:i, s:i, s:b}", "max_surge",
                  (json_int_t)sl_rollout_max_surge(&s->rollout), "max_unavailable",
                  (json_int_t)s->rollout.max_unavailable, "min_healthy_ms",
                  (json_int_t)sl_rollout_min_healthy_ms(&s->rollout), "progress_deadline_ms",
                  (json_int_t)sl_rollout_deadline_ms(&s->rollout), "auto_revert",
                  s->rollout.auto_revert));
    const sl_reports *rep = sl__runtime_reports(a->runtime);
    json_t *list = json_array();
    uint32_t new_running = 0, old = 0, surge = 0, failing = 0;
    sl_report r;
    for (size_t i = 0; sl_reports_at(rep, i, &r); i++) {
        if (strcmp(r.service, name) != 0 || !live(a, r.node))
            continue;
        for (uint32_t k = 0; k < r.n; k++) {
            const sl_replica_report *x = &r.replicas[k];
            bool is_new = x->version == version;
            char h[9];
            hex32(x->version, h);
            const char *st = x->gave_up ? "gave-up" : sl_replica_status_name(x->status);
            json_array_append_new(list, json_pack("{s:i, s:s, s:s, s:s, s:b, s:b}", "replica",
                                                  (json_int_t)x->replica, "node", r.node,
                                                  "version", h, "status", st, "new", is_new,
                                                  "surge", x->replica >= s->replicas));
            if (x->replica >= s->replicas)
                surge++;
            else if (!is_new && x->status != SL_REPLICA_STOPPING)
                old++;
            else if (is_new && x->status == SL_REPLICA_RUNNING)
                new_running++;
            if (is_new && (x->gave_up || x->status == SL_REPLICA_FAILED ||
                           x->status == SL_REPLICA_UNHEALTHY || x->status == SL_REPLICA_OOM))
                failing++;
        }
    }
    const char *state = new_running >= s->replicas && !surge && !old ? "complete" : "in progress";
    json_object_set_new(o, "state", json_string(state));
    json_object_set_new(o, "new_running", json_integer(new_running));
    json_object_set_new(o, "old", json_integer(old));
    json_object_set_new(o, "surge", json_integer(surge));
    json_object_set_new(o, "failing", json_integer(failing));
    json_object_set_new(o, "list", list);
    return o;
}
