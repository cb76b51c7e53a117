/* The health-check decisions, without I/O (see runtime/check_policy.h). */
#include "runtime/check_policy.h"

sl__check_verdict sl__check_observe(sl__check_state *st, const sl_check *c,
                                    sl_replica_status status, bool passed)
{
    switch (status) {
    case SL_REPLICA_STARTING: st->fails = 0; return passed ? SL__CHECK_READY : SL__CHECK_NOTHING;
    case SL_REPLICA_RUNNING:
        if (passed || c->kind == SL_CHECK_DEFAULT) {
            st->fails = 0;
            return SL__CHECK_NOTHING;
        }
        if (++st->fails < sl_check_failures(c))
            return SL__CHECK_NOTHING;
        st->fails = 0;
        return SL__CHECK_UNHEALTHY;
    case SL_REPLICA_FAILED:
    case SL_REPLICA_STOPPING:
    case SL_REPLICA_OOM:
    case SL_REPLICA_UNHEALTHY: break;
    }
    return SL__CHECK_NOTHING;
}

uint32_t sl__check_period_ms(const sl_check *c, sl_replica_status status)
{
    if (status == SL_REPLICA_STARTING)
        return SL__CHECK_STARTING_MS;
    if (status == SL_REPLICA_RUNNING && c->kind != SL_CHECK_DEFAULT)
        return sl_check_interval_ms(c);
    return 0;
}
