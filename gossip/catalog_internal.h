/* Internal: what catalog.c and catalog_record.c share. */
#ifndef STARLING_GOSSIP_CATALOG_INTERNAL_H
#define STARLING_GOSSIP_CATALOG_INTERNAL_H

#include "mp.h"
#include "starling/catalog.h"

/* Stamps above this are refused, and local writes saturate here, so that a
 * later write always has room to win (a record stamped 2^64-1 would win
 * forever). Far beyond any wall clock: 2^63 / 4096 ms is 71 million years. */
#define SL__STAMP_MAX (UINT64_MAX >> 1)

/* A record's field group stamps (see catalog.h): 0, in a record built by
 * hand, means the record's own stamp. */
static inline uint64_t sl__spec_stamp(const sl_service *s)
{
    return s->spec_stamp ? s->spec_stamp : s->stamp;
}
static inline uint64_t sl__replicas_stamp(const sl_service *s)
{
    return s->replicas_stamp ? s->replicas_stamp : s->stamp;
}

/* A deep copy of a vector of n strings (NULL when n is 0). Returns NULL
 * when out of memory with n > 0. */
char **sl__strv_copy(char *const *v, uint32_t n);

/* Frees a vector of n strings. NULL is fine. */
void sl__strv_free(char **v, uint32_t n);

/* Checks one environment entry: KEY=VALUE, KEY [A-Za-z_][A-Za-z0-9_]*.
 * Returns 0 or SL_EINVAL. */
int sl__env_check(const char *kv);

/* Checks a record's previous version (when it has one): the same bounds as
 * the record's own argv, env, check and user. Returns 0 or SL_EINVAL. */
int sl__prev_check(const sl_service_prev *p);

/* Checks the user-settable fields of a record. Returns 0 or SL_EINVAL. */
int sl__service_check(const sl_service *s);

/* Packs a record (with its signature when signed) into w. Returns 0, or
 * SL_ETOOBIG when it overflows w or SL_SVC_RECORD_MAX. */
int sl__service_pack(const sl_service *s, sl__mp_writer *w);

/* Reads one record at r into *out (vectors owned by the caller). Returns 0
 * or SL_EMALFORMED (then *out holds nothing to free). */
int sl__service_read(sl__mp_reader *r, sl_service *out);

#endif
