/* Signed catalog writes from the CLI: see cli_sign.h. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_sign.h"
#include "agent/security.h"
#include "starling/error.h"

const char *sl__cli_secret_path(const char *flag)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("STARLING_OPERATOR_SECRET");
    return env && *env ? env : NULL;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads the operator secret key (base64 of 64 bytes) from a private file. */
static int load_secret(const sl__cli *cli, const char *path, uint8_t sk[SL_OPERATOR_SEC_BYTES])
{
    char text[256], err[512];
    size_t got = 0;
    if (sl__read_secret_file(path, true, text, sizeof text, err, sizeof err) != 0) {
        sl__cli_error(cli, "operator secret: %s", err);
        return -1;
    }
    int rc = sodium_base642bin(sk, SL_OPERATOR_SEC_BYTES, text, strlen(text), NULL, &got, NULL,
                               sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(text, sizeof text);
    if (rc != 0 || got != SL_OPERATOR_SEC_BYTES) {
        sl__cli_error(cli,
                      "operator secret: %s does not hold a secret key from `starling "
                      "operator-keygen`",
                      path);
        return -1;
    }
    return 0;
}

/* Decodes the current record the agent sent (base64), into *cur. */
static int current_record(json_t *reply, sl_service *cur)
{
    const char *text = json_string_value(json_object_get(reply, "record"));
    uint8_t buf[SL_SVC_RECORD_MAX];
    size_t len = 0;
    if (!text || sodium_base642bin(buf, sizeof buf, text, strlen(text), NULL, &len, NULL,
                                   sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    return sl_service_decode(buf, len, cur) == 0 ? 0 : -1;
}

/* Builds the record of the write. *rec borrows spec's or cur's vectors,
 * except its own copies: the previous version of a DEPLOY, everything of a
 * ROLLBACK (see free_own). */
static int build(const sl__cli *cli, sl__signed_op op, const sl_service *spec, const char *name,
                 uint32_t replicas, json_t *info, sl_service *cur, bool *have_cur, sl_service *rec)
{
    *have_cur = current_record(info, cur) == 0;
    bool live = *have_cur && !cur->deleted;
    if (op == SL__SIGNED_DEPLOY) {
        *rec = *spec;
        rec->prev = (sl_service_prev){0};
    } else if (!live) {
        sl__cli_error(cli, "no service named '%s'", name);
        return -1;
    } else if (op == SL__SIGNED_SCALE) {
        *rec = *cur; /* its rollout and previous version too */
        rec->replicas = replicas;
    } else if (op == SL__SIGNED_ROLLBACK) {
        int rc = sl_service_rollback_of(cur, rec);
        if (rc == SL_ESTATE)
            sl__cli_error(cli, "%s has no previous version to roll back to", name);
        else if (rc != 0)
            sl__cli_error(cli, "out of memory");
        if (rc != 0)
            return -1;
    } else {
        memset(rec, 0, sizeof *rec);
        snprintf(rec->name, sizeof rec->name, "%s", cur->name);
        rec->deleted = true;
    }
    rec->deleted = op == SL__SIGNED_RM;
    rec->is_signed = false;
    /* Only the groups this write changes get the new stamp (a scale keeps
     * the spec's), so that it cannot undo a concurrent deploy. */
    sl_service_stamp_write(
        rec, *have_cur ? cur : NULL,
        sl_catalog_next_stamp((uint64_t)json_integer_value(json_object_get(info, "clock")),
                              wall_ms()),
        op != SL__SIGNED_SCALE);
    const char *node = json_string_value(json_object_get(info, "node"));
    snprintf(rec->writer, sizeof rec->writer, "%s", node ? node : "operator");
    if (op == SL__SIGNED_DEPLOY && sl_service_carry_prev(rec, live ? cur : NULL) != 0) {
        sl__cli_error(cli, "out of memory");
        return -1;
    }
    return 0;
}

/* Frees what build() copied into rec (see there). */
static void free_own(sl__signed_op op, sl_service *rec)
{
    if (op == SL__SIGNED_ROLLBACK) {
        sl_service_clear(rec);
    } else if (op == SL__SIGNED_DEPLOY) {
        sl_service prev_only = {.prev = rec->prev}; /* argv and env are spec's */
        sl_service_clear(&prev_only);
        rec->prev = (sl_service_prev){0};
    }
}

/* A deploy with --auto-revert and a previous version: signs, in advance,
 * the record that reverts it (sl_service_revert_of), so that peers which
 * run only signed records can revert by themselves; the signature travels
 * in the deploy (option 15). Left out, with a warning, when the deploy
 * would not fit a record with it. */
static void sign_revert(const sl__cli *cli, sl_service *rec, const char *cluster,
                        const uint8_t sk[SL_OPERATOR_SEC_BYTES])
{
    sl_service rv;
    if (!rec->rollout.auto_revert || !rec->prev.has || sl_service_revert_of(rec, &rv) != 0)
        return;
    if (sl_service_sign(&rv, cluster, sk) == 0) {
        rec->has_revert_sig = true;
        memcpy(rec->revert_sig, rv.sig, sizeof rec->revert_sig);
    }
    sl_service_clear(&rv);
    uint8_t probe[SL_SVC_RECORD_MAX];
    rec->is_signed = true; /* measured with its own signature */
    int n = sl_service_encode(rec, probe, sizeof probe);
    rec->is_signed = false;
    if (n < 0 && rec->has_revert_sig) {
        rec->has_revert_sig = false;
        fprintf(stderr,
                "starling %s: warning: no room for the signed revert in the record of %s: its "
                "rollout halts at the progress deadline but does not revert by itself\n",
                cli->name, rec->name);
    }
}

int sl__cli_signed_write(const sl__cli *cli, const char *secret_path, sl__signed_op op,
                         const sl_service *spec, const char *name, uint32_t replicas)
{
    uint8_t sk[SL_OPERATOR_SEC_BYTES];
    if (load_secret(cli, secret_path, sk) != 0)
        return 1;
    json_t *info;
    if (sl__cli_call(cli, json_pack("{s:s, s:s}", "command", "catalog-get", "name", name), &info,
                     SL__CLI_TIMEOUT_MS) != 0) {
        sodium_memzero(sk, sizeof sk);
        return 1;
    }
    sl_service cur, rec = {0};
    bool have_cur = false;
    int rc = build(cli, op, spec, name, replicas, info, &cur, &have_cur, &rec);
    const char *cluster = json_string_value(json_object_get(info, "cluster"));
    uint8_t buf[SL_SVC_RECORD_MAX];
    int n = -1;
    if (rc == 0 && op == SL__SIGNED_DEPLOY)
        sign_revert(cli, &rec, cluster ? cluster : "", sk);
    if (rc == 0 && sl_service_sign(&rec, cluster ? cluster : "", sk) != 0) {
        sl__cli_error(cli,
                      "invalid service '%s': name [A-Za-z0-9._-] up to %d, replicas up to "
                      "%d, a command, arguments and KEY=VALUE entries within bounds",
                      name, SL_SVC_NAME_MAX, SL_SVC_REPLICAS_MAX);
        rc = -1;
    }
    if (rc == 0 && (n = sl_service_encode(&rec, buf, sizeof buf)) < 0) {
        sl__cli_error(cli,
                      "service '%s' is too large to gossip (max %d bytes encoded, signature "
                      "included)",
                      name, SL_SVC_RECORD_MAX);
        rc = -1;
    }
    sodium_memzero(sk, sizeof sk);
    free_own(op, &rec);
    if (have_cur)
        sl_service_clear(&cur);
    json_decref(info);
    if (rc != 0)
        return 1;
    size_t cap = sodium_base64_encoded_len((size_t)n, sodium_base64_VARIANT_ORIGINAL);
    char *text = malloc(cap);
    if (!text) {
        sl__cli_error(cli, "out of memory");
        return 1;
    }
    sodium_bin2base64(text, cap, buf, (size_t)n, sodium_base64_VARIANT_ORIGINAL);
    json_t *reply;
    rc = sl__cli_call(cli, json_pack("{s:s, s:s}", "command", "write", "record", text), &reply,
                      SL__CLI_TIMEOUT_MS);
    free(text);
    if (rc != 0)
        return 1;
    json_decref(reply);
    return 0;
}
