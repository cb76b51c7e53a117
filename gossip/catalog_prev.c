/* Rolling updates in the catalog (issue 15): a record's rollout parameters
 * and the previous version of its spec, what a deploy keeps of it, and the
 * record of a rollback. The codec of both is catalog_record.c's (options 9
 * to 14); the decisions of a rollout (which replica to replace when) are
 * placement's, not this file's.
 *
 * Why the previous version lives in the record. `rollback` and auto-revert
 * must work from any peer, also after the peer that deployed is gone, so
 * the previous spec travels with the record, signed with it, and follows
 * the spec group when a scale races a deploy (the merged view takes both
 * from the record that wins the spec). One version back is enough for
 * both, and it keeps the record small: the whole record, previous version
 * included, must fit SL_SVC_RECORD_MAX (a gossip message).
 *
 * The carry rule (sl_service_carry_prev): a deploy of another spec keeps
 * the one it replaces; a deploy of the same spec (a change of count,
 * requests or rollout only) keeps the previous version it had, so that
 * `deploy --replicas 5` after a bad release still rolls back to the good
 * one; a deploy over nothing or over a tombstone keeps none. A scale keeps
 * the record's previous version as it is. A rollback swaps the two specs,
 * so that two rollbacks in a row get back to where they started.
 *
 * Room for later writes. Whether a previous version is kept is decided
 * once, at the deploy, by measuring the record as a later write over it
 * could be at most: signed, with the largest stamps, the longest writer
 * name, the largest count, plus ROOM_SLACK bytes for a rollback, which
 * moves the check and user between the options (where defaults take no
 * room) and the previous version's fixed array (where every field takes at
 * least a byte): six fields, up to one byte each way per spec, so a swap
 * changes the size by at most 12 bytes, rounded up to 16. A deploy that
 * would not leave that room is written without a previous version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_internal.h"
#include "starling/error.h"

#define ROOM_SLACK 16 /* bytes a rollback may add (see above) */

uint32_t sl_rollout_max_surge(const sl_rollout *r)
{
    return r->surge_set ? r->max_surge : SL_ROLL_SURGE;
}

uint32_t sl_rollout_min_healthy_ms(const sl_rollout *r)
{
    return r->min_healthy_ms ? r->min_healthy_ms : SL_ROLL_MIN_HEALTHY_MS;
}

uint32_t sl_rollout_deadline_ms(const sl_rollout *r)
{
    return r->deadline_ms ? r->deadline_ms : SL_ROLL_DEADLINE_MS;
}

int sl_rollout_validate(const sl_rollout *r)
{
    uint32_t surge = sl_rollout_max_surge(r);
    if (surge > SL_SVC_REPLICAS_MAX || r->max_unavailable > SL_SVC_REPLICAS_MAX ||
        r->min_healthy_ms > SL_ROLL_TIME_MAX_MS || r->deadline_ms > SL_ROLL_TIME_MAX_MS)
        return SL_EINVAL;
    if (surge == 0 && r->max_unavailable == 0) /* no step could ever be taken */
        return SL_EINVAL;
    return 0;
}

char **sl__strv_copy(char *const *v, uint32_t n)
{
    if (n == 0)
        return NULL;
    char **out = calloc(n, sizeof *out);
    for (uint32_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(v[i]))) {
            sl__strv_free(out, i);
            return NULL;
        }
    return out;
}

void sl__strv_free(char **v, uint32_t n)
{
    for (uint32_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int sl__prev_check(const sl_service_prev *p)
{
    if (p->argc == 0 || p->argc > SL_SVC_ARGS_MAX || p->envc > SL_SVC_ENV_MAX || !p->argv ||
        !p->argv[0][0] || sl_check_validate(&p->check) ||
        (p->user[0] && sl_service_user_check(p->user)))
        return SL_EINVAL;
    for (uint32_t i = 0; i < p->argc; i++)
        if (strlen(p->argv[i]) > SL_SVC_STR_MAX)
            return SL_EINVAL;
    for (uint32_t i = 0; i < p->envc; i++)
        if (strlen(p->env[i]) > SL_SVC_STR_MAX || sl__env_check(p->env[i]))
            return SL_EINVAL;
    return 0;
}

static bool strv_equal(char *const *a, uint32_t na, char *const *b, uint32_t nb)
{
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static bool check_equal(const sl_check *a, const sl_check *b)
{
    return a->kind == b->kind && !strcmp(a->arg, b->arg) && a->interval_ms == b->interval_ms &&
           a->timeout_ms == b->timeout_ms && a->failures == b->failures;
}

bool sl_service_same_spec(const sl_service *a, const sl_service *b)
{
    return strv_equal(a->argv, a->argc, b->argv, b->argc) &&
           strv_equal(a->env, a->envc, b->env, b->envc) && check_equal(&a->check, &b->check) &&
           !strcmp(a->user, b->user);
}

/* *dst := a deep copy of the spec (argv, env, check, user) in src. Returns
 * 0 or SL_ENOMEM (*dst is then empty). */
static int prev_copy(sl_service_prev *dst, uint32_t argc, char *const *argv, uint32_t envc,
                     char *const *env, const sl_check *check, const char *user)
{
    *dst = (sl_service_prev){.has = true, .argc = argc, .envc = envc, .check = *check};
    memcpy(dst->user, user, sizeof dst->user);
    dst->argv = sl__strv_copy(argv, argc);
    dst->env = sl__strv_copy(env, envc);
    if ((argc && !dst->argv) || (envc && !dst->env)) {
        sl__strv_free(dst->argv, dst->argc);
        sl__strv_free(dst->env, dst->envc);
        *dst = (sl_service_prev){0};
        return SL_ENOMEM;
    }
    return 0;
}

/* Whether rec leaves room for any later write over it (see the top). */
static bool leaves_room(const sl_service *rec)
{
    uint8_t buf[SL_SVC_RECORD_MAX + 64];
    sl_service worst = *rec;
    worst.stamp = SL__STAMP_MAX;
    worst.spec_stamp = worst.replicas_stamp = SL__STAMP_MAX - 1; /* both written, 9 bytes */
    worst.replicas = SL_SVC_REPLICAS_MAX;
    memset(worst.writer, 'w', SL_SVC_WRITER_MAX);
    worst.writer[SL_SVC_WRITER_MAX] = 0;
    worst.is_signed = true;
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf, sizeof buf);
    return sl__service_pack(&worst, &w) == 0 && w.len + ROOM_SLACK <= SL_SVC_RECORD_MAX;
}

int sl_service_carry_prev(sl_service *rec, const sl_service *cur)
{
    int rc = 0;
    rec->prev = (sl_service_prev){0};
    if (!cur || cur->deleted || rec->deleted)
        return 0;
    if (!sl_service_same_spec(rec, cur))
        rc = prev_copy(&rec->prev, cur->argc, cur->argv, cur->envc, cur->env, &cur->check,
                       cur->user);
    else if (cur->prev.has)
        rc = prev_copy(&rec->prev, cur->prev.argc, cur->prev.argv, cur->prev.envc, cur->prev.env,
                       &cur->prev.check, cur->prev.user);
    if (rc == 0 && rec->prev.has && !leaves_room(rec)) {
        sl__strv_free(rec->prev.argv, rec->prev.argc);
        sl__strv_free(rec->prev.env, rec->prev.envc);
        rec->prev = (sl_service_prev){0};
    }
    return rc;
}

int sl_service_rollback_of(const sl_service *cur, sl_service *out)
{
    memset(out, 0, sizeof *out);
    if (!cur || cur->deleted || !cur->prev.has)
        return SL_ESTATE;
    const sl_service_prev *p = &cur->prev;
    sl_service rb = *cur; /* name, count, requests, spread, rollout, stamps, options */
    rb.argc = rb.envc = 0;
    rb.argv = rb.env = NULL;
    rb.is_signed = false;
    rb.has_revert_sig = false; /* it signed the revert of cur, not of this */
    if (prev_copy(&rb.prev, cur->argc, cur->argv, cur->envc, cur->env, &cur->check, cur->user))
        return SL_ENOMEM;
    rb.argv = sl__strv_copy(p->argv, p->argc);
    rb.env = sl__strv_copy(p->env, p->envc);
    rb.argc = p->argc;
    rb.envc = p->envc;
    rb.check = p->check;
    memcpy(rb.user, p->user, sizeof rb.user);
    if ((p->argc && !rb.argv) || (p->envc && !rb.env)) {
        sl_service_clear(&rb);
        return SL_ENOMEM;
    }
    *out = rb;
    return 0;
}

int sl_service_revert_of(const sl_service *cur, sl_service *out)
{
    int rc = sl_service_rollback_of(cur, out);
    if (rc != 0)
        return rc;
    /* Only what the spec group holds, which every record holding that spec
     * (the deploy, a scale over it) carries alike: never the count, the
     * record's own stamp or its writer. */
    uint64_t spec_at = cur->spec_stamp ? cur->spec_stamp : cur->stamp;
    out->rollout.auto_revert = false;
    out->has_revert_sig = false;
    memset(out->revert_sig, 0, sizeof out->revert_sig);
    memset(out->signer, 0, sizeof out->signer);
    memset(out->sig, 0, sizeof out->sig);
    out->is_signed = false;
    out->stamp = spec_at + 1;
    out->spec_stamp = out->stamp;
    out->replicas = 0;
    out->replicas_stamp = 1; /* below every count written: the count stays */
    snprintf(out->writer, sizeof out->writer, "%s", SL_REVERT_WRITER);
    return 0;
}
