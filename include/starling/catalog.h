/* The service catalog: the cluster's desired state, replicated everywhere.
 *
 * One record per service: its name, replica count, command and arguments,
 * environment, resource requests and spread policy, stamped with a hybrid
 * logical clock (field `stamp`) and the writer's name. Any peer accepts a
 * change; the highest (stamp, writer) wins everywhere, whatever order the
 * news arrives in (last writer wins, with a total order so that two peers
 * never disagree). The stamp is the larger of "one more than every stamp the
 * writer has seen" and "the writer's wall clock in ms, times
 * SL_CATALOG_TICKS_PER_MS": a change made after seeing another always wins
 * over it, and of two changes made without seeing each other (`scale` on one
 * peer, `rm` on another half a second later, before the first news arrived)
 * the later one by the clocks wins, not the one whose writer sorts last.
 *
 * Signed records. A record may carry an Ed25519 signature by an operator key
 * over its content and the cluster label. A catalog that trusts operator
 * keys (sl_catalog_policy) stores and passes on only records signed by one
 * of them; anything else is refused and counted, never stored. A catalog
 * that trusts no key accepts unsigned and signed records alike.
 *
 * Time. Every record is checked against the caller's wall clock: one stamped
 * more than `skew_ms` ahead of it is refused (it would win every later write
 * for as long as the clocks allow), and so is a stamp of the last few
 * values, which leave no room for a later write. A delete is a tombstone
 * record, kept until its stamp is older than the horizon (`horizon_ms`,
 * like Serf's tombstone timeout, counted from the stamp, so a restart does
 * not reset it) and then collected. Records older than the horizon that
 * arrive for a name we do not hold are refused when they come alone (a
 * replayed or very late message) or from a peer whose catalog is not
 * current (see sl_catalog_sync); a peer whose own catalog is not current
 * drops, on its first exchange with a current peer, its records older than
 * the horizon that the current peer no longer has: they were deleted while
 * it was away and the tombstones are gone.
 *
 * Field groups. A record holds two groups of fields, each with its own
 * stamp: the spec (command, arguments, environment, requests, spread, the
 * options: check, user, rollout and previous version, and whether it is
 * deleted) and the replica count. A write stamps only the
 * groups it changes and carries the others with the stamps it read them
 * with: `scale` changes the count, `deploy` the spec (and the count when
 * it differs from the current one), `rm` both. The catalog takes each group
 * from the record whose stamp for it is highest (ties: the record's own
 * (stamp, writer)), so a `scale` racing a `deploy` of a new command keeps
 * both: the new command and the new count. A scale racing an rm stays
 * deleted (deleted is spec), a deploy after an rm revives the service.
 * Records are stored as written, one or two per name (the winner of each
 * group), so that a signature still covers exactly what its operator
 * wrote; the merged view is what sl_catalog_find and sl_catalog_at return.
 * Older peers, which know only whole records, keep the newest of the two.
 *
 * Sans-IO: records travel as application messages of the SWIM core
 * (sl_swim_broadcast) and the whole catalog in push-pulls; the agent also
 * persists the encoded catalog in its data directory. Every decoder here is
 * strict and bounded; every limit is checked on decode as on encode. */
#ifndef STARLING_CATALOG_H
#define STARLING_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_SVC_NAME_MAX 63 /* [a-zA-Z0-9._-], starting with a letter or digit */
#define SL_SVC_ARGS_MAX 32 /* command plus arguments */
#define SL_SVC_ENV_MAX 32  /* KEY=VALUE entries */
#define SL_SVC_STR_MAX 256 /* bytes of one argument or environment entry */
#define SL_SVC_REPLICAS_MAX 1000
#define SL_SVC_WRITER_MAX 64 /* bytes of the writer's name (a member name) */
#define SL_SVC_RECORD_MAX                                                                          \
    1000 /* bytes of one encoded record, signature included: it must fit a gossip message */
#define SL_CATALOG_SERVICES_MAX 10000         /* records held at most, by default */
#define SL_APPMSG_SERVICE 1                   /* application message kind of a service record */
#define SL_CATALOG_TICKS_PER_MS 4096u         /* stamps per ms of wall clock */
#define SL_CATALOG_SKEW_MS (5 * 60 * 1000ull) /* default clock skew allowed */
#define SL_CATALOG_HORIZON_MS (7 * 24 * 3600 * 1000ull) /* default tombstone horizon */
#define SL_OPERATOR_PUB_BYTES 32                        /* an Ed25519 public key */
#define SL_OPERATOR_SEC_BYTES 64 /* an Ed25519 secret key (libsodium's layout) */
#define SL_OPERATOR_SIG_BYTES 64
#define SL_CATALOG_TRUST_MAX 16 /* operator keys trusted at most */

/* Options: small typed fields after the eleven original ones (see the top of
 * gossip/catalog_record.c for the format). */
#define SL_SVC_OPTS_MAX 16        /* entries of a record's options map */
#define SL_SVC_OPTS_EXTRA_MAX 128 /* bytes of options of a newer version, kept verbatim */
#define SL_CHECK_ARG_MAX 256      /* bytes of an HTTP check's path or an exec check's command */
#define SL_CHECK_INTERVAL_MS 5000 /* default period of a check while running */
#define SL_CHECK_TIMEOUT_MS 2000  /* default time one check may take */
#define SL_CHECK_FAILURES 3       /* default failed checks in a row that make a replica unhealthy */
#define SL_CHECK_INTERVAL_MAX_MS 3600000u
#define SL_CHECK_TIMEOUT_MAX_MS 600000u
#define SL_CHECK_FAILURES_MAX 100u
#define SL_SVC_USER_MAX 32 /* bytes of the user a service runs as (Linux's useradd limit) */

/* How a replica's health is checked. Wire values: append only. */
typedef enum sl_check_kind {
    SL_CHECK_DEFAULT = 0, /* no check given: running once the port accepts a
                           * connection or after 2 s up; never checked again */
    SL_CHECK_TCP = 1,     /* a TCP connect to the replica's port succeeds */
    SL_CHECK_HTTP = 2,    /* GET arg on the replica's port answers 2xx */
    SL_CHECK_EXEC = 3,    /* `/bin/sh -c arg` exits 0 */
} sl_check_kind;

/* A service's health check. Zero is the default check, and a zero interval,
 * timeout or failure count means the default one. */
typedef struct sl_check {
    sl_check_kind kind;
    char arg[SL_CHECK_ARG_MAX + 1]; /* HTTP: the path ("/healthz"); exec: the command */
    uint32_t interval_ms;           /* 0: SL_CHECK_INTERVAL_MS */
    uint32_t timeout_ms;            /* 0: SL_CHECK_TIMEOUT_MS */
    uint32_t failures;              /* 0: SL_CHECK_FAILURES */
} sl_check;

/* Rolling updates (issue 15): defaults and bounds. */
#define SL_ROLL_SURGE 1u                          /* default extra new replicas at once */
#define SL_ROLL_MIN_HEALTHY_MS 10000u             /* default time a new replica stays healthy */
#define SL_ROLL_DEADLINE_MS (10u * 60u * 1000u)   /* default progress deadline */
#define SL_ROLL_TIME_MAX_MS (24u * 3600u * 1000u) /* cap of min-healthy and the deadline */

/* How a redeploy replaces running replicas (issue 15). Zero means the
 * defaults. Part of the spec group (it follows the spec's stamp in the
 * merged view, like the command and the check). */
typedef struct sl_rollout {
    bool surge_set;           /* max_surge was given; otherwise SL_ROLL_SURGE (1) */
    uint32_t max_surge;       /* extra new replicas at once, 0..SL_SVC_REPLICAS_MAX */
    uint32_t max_unavailable; /* replicas that may be down at once, default 0, up to
                               * SL_SVC_REPLICAS_MAX */
    uint32_t min_healthy_ms;  /* 0: SL_ROLL_MIN_HEALTHY_MS (10 s) */
    uint32_t deadline_ms;     /* progress deadline, 0: SL_ROLL_DEADLINE_MS (10 min) */
    bool auto_revert;         /* a rollout past its deadline writes the previous spec back */
} sl_rollout;

/* r's parameters with the defaults filled in. */
uint32_t sl_rollout_max_surge(const sl_rollout *r);
uint32_t sl_rollout_min_healthy_ms(const sl_rollout *r);
uint32_t sl_rollout_deadline_ms(const sl_rollout *r);

/* Checks r's fields: returns SL_EINVAL when the surge (with its default)
 * and max_unavailable are both 0 (a rollout could never progress), when
 * either is over SL_SVC_REPLICAS_MAX, or when min_healthy_ms or
 * deadline_ms is over SL_ROLL_TIME_MAX_MS (24 h); otherwise 0. */
int sl_rollout_validate(const sl_rollout *r);

/* The version a redeploy replaced: what `rollback` and auto-revert write
 * back. Only the spec's run-time part (command, environment, check, user):
 * requests, count and rollout stay the live record's. Owned like the
 * record's argv/env (a stored record's by the catalog, a decoded one's by
 * the caller: sl_service_clear frees them too). */
typedef struct sl_service_prev {
    bool has; /* false: no previous version (the other fields are zero) */
    uint32_t argc;
    char **argv;
    uint32_t envc;
    char **env;
    sl_check check;
    char user[SL_SVC_USER_MAX + 1];
} sl_service_prev;

typedef enum sl_spread {
    SL_SPREAD_ZONES = 0, /* distinct nodes, spread over zones first (default) */
    SL_SPREAD_NODES = 1, /* distinct nodes, zones ignored */
} sl_spread;

/* One service, in two roles with one type. As the spec of a local write
 * (sl_catalog_put) the fields from name to env count (argv and env borrowed
 * for the call); the catalog stamps the record and names the writer itself.
 * As a record (stored, received, or signed by an operator and applied whole)
 * every field is set, and a stored record's argv/env are the catalog's. */
typedef struct sl_service {
    char name[SL_SVC_NAME_MAX + 1];
    uint32_t replicas;
    uint32_t cpu_milli; /* requested per replica; 0 = none */
    uint32_t mem_mb;
    sl_spread spread;
    uint32_t argc;
    char **argv; /* owned by the catalog for stored records */
    uint32_t envc;
    char **env;
    uint64_t stamp; /* the write's hybrid logical clock: wall ms, then a counter */
    /* Field groups (see "Field groups" above): the stamp of the write that
     * last set the spec (everything but the count: command, environment,
     * requests, spread, deleted) and the one that last set the replica
     * count. Each is <= stamp; a record that carries neither (all records of
     * older versions, every deploy and rm) has both equal to stamp. In a
     * record built by hand, 0 means stamp. */
    uint64_t spec_stamp;
    uint64_t replicas_stamp;
    char writer[SL_SVC_WRITER_MAX + 1];
    bool deleted;
    sl_check check; /* an option: written only when not the default */
    /* An option: the user the replicas run as (`deploy --user`), a POSIX
     * user name (sl_service_user_check); "" (the default, not written): the
     * agent's user. */
    char user[SL_SVC_USER_MAX + 1];
    /* Options of the spec group (issue 15): how a redeploy rolls out (zero:
     * the defaults, not written), and the spec it replaced (has false: none,
     * not written). sl_catalog_put sets prev itself (sl_service_carry_prev). */
    sl_rollout rollout;
    sl_service_prev prev;
    /* An option (key 15): an operator's signature, by the record's own
     * signer, of the record that reverts this one (sl_service_revert_of),
     * made by `deploy --auto-revert` on a signed write, so that peers that
     * run only signed records can still revert the rollout by themselves. */
    bool has_revert_sig;
    uint8_t revert_sig[SL_OPERATOR_SIG_BYTES];
    /* Options this version does not know (written by a newer one), kept
     * verbatim so that the record encodes (and verifies) as it came. */
    uint32_t opts_extra_n;   /* entries */
    uint32_t opts_extra_len; /* bytes */
    uint8_t opts_extra[SL_SVC_OPTS_EXTRA_MAX];
    bool is_signed; /* signer and sig are set */
    uint8_t signer[SL_OPERATOR_PUB_BYTES];
    uint8_t sig[SL_OPERATOR_SIG_BYTES];
} sl_service;

/* What a catalog accepts. */
typedef struct sl_catalog_policy {
    /* Operator public keys whose signatures are trusted; with none, records
     * need no signature. Copied. */
    const uint8_t (*trusted)[SL_OPERATOR_PUB_BYTES];
    size_t ntrusted;      /* at most SL_CATALOG_TRUST_MAX */
    const char *cluster;  /* the cluster label signatures cover; copied; NULL = "" */
    uint64_t skew_ms;     /* 0: SL_CATALOG_SKEW_MS */
    uint64_t horizon_ms;  /* 0: SL_CATALOG_HORIZON_MS */
    uint32_t max_records; /* 0: SL_CATALOG_SERVICES_MAX */
} sl_catalog_policy;

/* Whether a peer's catalog is current, as it says in every push-pull. */
typedef enum sl_catalog_sync {
    SL_CATALOG_CURRENT = 0,   /* kept up to date: its old records are believed */
    SL_CATALOG_NEW = 1,       /* empty and never synced: nothing to believe or drop */
    SL_CATALOG_RETURNING = 2, /* loaded from a file older than the horizon */
} sl_catalog_sync;

/* Counters of what was refused, by reason. */
typedef struct sl_catalog_stats {
    uint64_t malformed;     /* bytes that do not decode, or over a limit */
    uint64_t unsigned_;     /* no signature while operator keys are trusted */
    uint64_t bad_signature; /* a signature by an untrusted key, or one that does not verify */
    uint64_t future;        /* stamped beyond the clock skew */
    uint64_t expired;       /* older than the horizon, for a name not held */
    uint64_t full;          /* a new name while max_records are held */
    uint64_t dropped_stale; /* own old records dropped after returning (deleted meanwhile) */
} sl_catalog_stats;

typedef struct sl_catalog sl_catalog;

/* Creates an empty catalog (state SL_CATALOG_NEW, the default policy: no
 * trusted key). Returns NULL when out of memory. */
sl_catalog *sl_catalog_new(void);

/* Frees the catalog and every record. NULL is fine. */
void sl_catalog_free(sl_catalog *c);

/* Replaces the policy (copied). Records already held are not re-checked;
 * the agent sets the policy before it loads anything. Returns 0 or
 * SL_EINVAL (too many keys). */
int sl_catalog_set_policy(sl_catalog *c, const sl_catalog_policy *p);

/* Returns true when operator keys are trusted (writes must be signed). */
bool sl_catalog_requires_signatures(const sl_catalog *c);

/* Returns true when pub is one of the trusted operator keys. */
bool sl_catalog_trusts(const sl_catalog *c, const uint8_t pub[SL_OPERATOR_PUB_BYTES]);

/* Sets / reads whether our own catalog is current (see sl_catalog_sync). A
 * full merge from a current peer makes it current; otherwise the driver
 * decides: a first peer with nobody to ask is current at once, and a peer
 * that found no current peer within a grace period (a whole cluster back
 * from a long shutdown) declares itself current. */
void sl_catalog_set_sync(sl_catalog *c, sl_catalog_sync s);
sl_catalog_sync sl_catalog_get_sync(const sl_catalog *c);

/* Returns false for a record we hold that is not believed yet: our catalog
 * is returning and the record is older than the horizon at wall_ms (it may
 * have been deleted while we were away). Such records are kept, but not
 * run, until a current peer confirms or drops them. */
bool sl_catalog_believed(const sl_catalog *c, const sl_service *s, uint64_t wall_ms);

/* Returns the refusal counters. */
const sl_catalog_stats *sl_catalog_get_stats(const sl_catalog *c);

/* Returns the highest stamp seen or written. */
uint64_t sl_catalog_clock(const sl_catalog *c);

/* The stamp of a write made now: max(clock + 1, wall_ms *
 * SL_CATALOG_TICKS_PER_MS), saturating below the stamps that are refused. */
uint64_t sl_catalog_next_stamp(uint64_t clock, uint64_t wall_ms);

/* Checks a service name. Returns 0 or SL_EINVAL. */
int sl_service_name_check(const char *name);

/* Checks a user name for `deploy --user`: 1..SL_SVC_USER_MAX bytes of the
 * POSIX portable set (A-Z a-z 0-9 . _ -), not starting with '-'. Whether
 * the user exists is for the node that runs the replica. Returns 0 or
 * SL_EINVAL. */
int sl_service_user_check(const char *user);

/* Writes a local, unsigned change: spec's name, replicas, requests, spread,
 * argv, env and options (check, user, rollout, opts_extra) are copied
 * (spec's stamp, writer, signature, deleted and prev are ignored: prev is
 * set by sl_service_carry_prev over the current record); it is stamped with
 * sl_catalog_next_stamp(clock, wall_ms) (wall_ms: the writer's wall clock in ms since the epoch; 0
 * gives a plain Lamport clock) and `writer`. On success, encodes the new record into msg (capacity
 * cap, at least SL_SVC_RECORD_MAX) for the caller to broadcast and sets
 * *msg_len. Returns 0, SL_EINVAL (bad name, replicas over
 * SL_SVC_REPLICAS_MAX, an empty command, too many or too long arguments or
 * environment entries, "K=V" malformed, a check sl_check_validate refuses), SL_ETOOBIG (the record
 * would not fit SL_SVC_RECORD_MAX), SL_EAUTH (the policy requires signed writes), SL_ESTALE (a
 * record that cannot be beaten is held: the write would not win), SL_EFULL or SL_ENOMEM. */
int sl_catalog_put(sl_catalog *c, const sl_service *spec, const char *writer, uint64_t wall_ms,
                   uint8_t *msg, size_t cap, size_t *msg_len);

/* Deletes a service by writing a tombstone. Same outputs as sl_catalog_put;
 * SL_ENOTFOUND if no live record has that name. */
int sl_catalog_delete(sl_catalog *c, const char *name, const char *writer, uint64_t wall_ms,
                      uint8_t *msg, size_t cap, size_t *msg_len);

/* Sets the replica count of a live service (a put of its record with a new
 * count, whose spec group keeps the stamp it had: see "Field groups"; its
 * rollout and previous version are kept as they are). Same outputs as
 * sl_catalog_put. */
int sl_catalog_scale(sl_catalog *c, const char *name, uint32_t replicas, const char *writer,
                     uint64_t wall_ms, uint8_t *msg, size_t cap, size_t *msg_len);

/* Rolls a live service back to its previous version: a deploy (the spec
 * group gets the new stamp) of sl_service_rollback_of(live record): the
 * previous command, environment, check and user become the spec, and the
 * spec they replace becomes the previous version, so a second rollback
 * undoes the first. Count, requests, spread and rollout are kept. Same
 * outputs as sl_catalog_put; SL_ENOTFOUND when no live record has that
 * name, SL_ESTATE when it keeps no previous version. */
int sl_catalog_rollback(sl_catalog *c, const char *name, const char *writer, uint64_t wall_ms,
                        uint8_t *msg, size_t cap, size_t *msg_len);

/* Applies one record received from a peer (an application message of kind
 * SL_APPMSG_SERVICE), or a signed write from the CLI, checked against the
 * policy and wall_ms (0: no clock, no time checks). Returns 1 when it was
 * newer and stored (pass it on), 0 when we already had it or something
 * newer, or a refusal, counted: SL_EMALFORMED, SL_EAUTH (unsigned while
 * signatures are required, or a bad or untrusted signature), SL_EFUTURE,
 * SL_EEXPIRED, SL_EFULL. */
int sl_catalog_apply(sl_catalog *c, const uint8_t *buf, size_t len, uint64_t wall_ms);

/* Encodes the whole catalog (tombstones included) into a malloc()ed buffer
 * the caller frees. Returns 0 or SL_ENOMEM. */
int sl_catalog_encode(const sl_catalog *c, uint8_t **out, size_t *len);

/* Merges a whole catalog from a push-pull (from a peer that said its
 * catalog is `from`) or from disk (pass SL_CATALOG_CURRENT). The structure
 * is validated first: on SL_EMALFORMED nothing changed. Records the policy
 * refuses are skipped and counted, the others are merged. When our own
 * catalog is not current and `from` is, our records older than the horizon
 * that the peer lacks are dropped and ours becomes current. Returns the
 * number of records that were newer and stored (>= 0). */
int sl_catalog_merge(sl_catalog *c, const uint8_t *buf, size_t len, uint64_t wall_ms,
                     sl_catalog_sync from);

/* Forgets tombstones whose stamp is older than the horizon at wall_ms.
 * Returns how many. */
size_t sl_catalog_gc(sl_catalog *c, uint64_t wall_ms);

/* Services, tombstones included, sorted by name: each the merged view of
 * the records held for it (see "Field groups"; a view merged from two
 * records has is_signed false: each record carries its own signature). The
 * pointers stay valid until the next change to the catalog. */
size_t sl_catalog_size(const sl_catalog *c);
const sl_service *sl_catalog_at(const sl_catalog *c, size_t i);

/* The live (not deleted) record named `name`, or NULL. */
const sl_service *sl_catalog_find(const sl_catalog *c, const char *name);

/* The record named `name`, tombstone or not, or NULL. */
const sl_service *sl_catalog_find_any(const sl_catalog *c, const char *name);

/* The record, as written (signature included), that holds the spec of
 * `name`: the winner of the spec group (see "Field groups"), or NULL. The
 * pointer stays valid until the next change to the catalog. */
const sl_service *sl_catalog_find_spec_record(const sl_catalog *c, const char *name);

/* Returns the kind of an application message (its first field), or
 * SL_EMALFORMED. */
int sl_appmsg_kind(const uint8_t *buf, size_t len);

/* Parses a check as `deploy --check` takes it: "tcp", "http:/PATH" or
 * "exec:CMD" into out->kind and out->arg (the other fields untouched).
 * Returns 0 or SL_EINVAL. */
int sl_check_parse(const char *spec, sl_check *out);

/* Formats c's kind and arg the way sl_check_parse reads them ("default"
 * for the default check) into buf (truncated to cap). */
void sl_check_format(const sl_check *c, char *buf, size_t cap);

/* Checks a check's fields. Returns 0 or SL_EINVAL. */
int sl_check_validate(const sl_check *c);

/* c's interval, timeout and failure count with the defaults filled in. */
uint32_t sl_check_interval_ms(const sl_check *c);
uint32_t sl_check_timeout_ms(const sl_check *c);
uint32_t sl_check_failures(const sl_check *c);

/* ---- records on their own (catalog_record.c): what the CLI signs ---- */

/* Encodes rec (its signature too when is_signed) into buf. Returns the
 * length, SL_EINVAL (a field out of its bounds) or SL_ETOOBIG (over
 * SL_SVC_RECORD_MAX or cap). */
int sl_service_encode(const sl_service *rec, uint8_t *buf, size_t cap);

/* Decodes one record filling buf[0..len) into *out, whose argv and env are
 * then owned by the caller (free them with sl_service_clear). Returns 0 or
 * SL_EMALFORMED. */
int sl_service_decode(const uint8_t *buf, size_t len, sl_service *out);

/* Frees a decoded record's vectors (its prev's too) and empties them. */
void sl_service_clear(sl_service *rec);

/* Stamps a write made at `stamp` over cur, the current record of its name
 * (NULL: none): sets rec's stamp and field group stamps. The groups the
 * write changes get `stamp`, the others keep cur's group stamps: the spec
 * changes when spec_changed (a deploy), the count when it differs from
 * cur's; both change when rec or cur is deleted or there is no cur. The
 * catalog's own writes use it, and so does the CLI for signed ones. */
void sl_service_stamp_write(sl_service *rec, const sl_service *cur, uint64_t stamp,
                            bool spec_changed);

/* Returns true when a and b have the same spec as a rollout sees it:
 * argv, env, check and user (not the count, requests, spread, rollout or
 * previous version). A redeploy with the same spec changes no replica. */
bool sl_service_same_spec(const sl_service *a, const sl_service *b);

/* Sets rec->prev for a deploy of rec written over cur, the current record
 * of its name (NULL: none). rec->prev is overwritten, not freed (it must
 * own nothing). No cur, or a deleted one: no previous version. cur's spec
 * differs from rec's (sl_service_same_spec): prev := cur's argv, env,
 * check and user. The same spec: prev := cur->prev (kept across a
 * redeploy that changes only the count, requests or rollout). The vectors
 * are deep copies that rec then owns (sl_service_clear frees them).
 *
 * Size: when rec with that prev could not be encoded within
 * SL_SVC_RECORD_MAX by a later write (measured with a signature, the
 * largest stamps and the longest writer name, so that any scale or
 * rollback of it still fits), rec is left without prev: the deploy is
 * written, and a rollback then says there is no previous version. Call it
 * on a record whose argv and env are set. Returns 0 or SL_ENOMEM (rec->prev
 * is then empty). */
int sl_service_carry_prev(sl_service *rec, const sl_service *cur);

/* Builds in *out the record of a rollback of cur (a live record): cur's
 * name, count, requests, spread, rollout and unknown options; cur->prev's
 * argv, env, check and user as the spec; cur's argv, env, check and user as
 * out->prev. out's vectors (and prev's) are deep copies that the caller
 * frees with sl_service_clear; its stamps and writer are cur's and it is
 * unsigned: the caller stamps it (sl_service_stamp_write with spec_changed),
 * names the writer and signs it if needed. Returns 0, SL_ESTATE (cur is
 * deleted or has no previous version; *out is then zeroed) or SL_ENOMEM. */
int sl_service_rollback_of(const sl_service *cur, sl_service *out);

/* The writer of a record sl_service_revert_of builds. */
#define SL_REVERT_WRITER "auto-revert"

/* Builds in *out the record that --auto-revert writes over cur (a live
 * record holding the spec to revert: the deploy, or a scale over it): the
 * rollback of its spec (sl_service_rollback_of) with auto_revert off (a
 * revert is not reverted in turn) and no revert signature, whose spec
 * group is stamped one above cur's spec stamp, whose count group (0
 * replicas, stamped 1) loses to every count written, so that the count
 * stays, and whose writer is SL_REVERT_WRITER. It is a function of cur's
 * spec group alone: every peer builds the same bytes from any record that
 * holds the spec, the CLI signs them when it signs the deploy
 * (revert_sig), and two peers that revert at once write one record.
 * Unsigned; the caller frees it with sl_service_clear. Returns 0,
 * SL_ESTATE (no previous version) or SL_ENOMEM. */
int sl_service_revert_of(const sl_service *cur, sl_service *out);

/* Signs rec (its content and `cluster`) with an operator secret key,
 * setting signer, sig and is_signed. Returns 0 or SL_EINVAL. */
int sl_service_sign(sl_service *rec, const char *cluster,
                    const uint8_t secret[SL_OPERATOR_SEC_BYTES]);

/* Returns true when rec is signed and its signature verifies for `cluster`
 * (whoever the signer is: trust is the catalog's policy). */
bool sl_service_verify(const sl_service *rec, const char *cluster);

#endif
