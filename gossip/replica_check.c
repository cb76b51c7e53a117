/* The health-check decisions, without I/O (see starling/replica_check.h). */
#include "starling/replica_check.h"

sl_replica_check_verdict sl_replica_check_observe(sl_replica_check_state *st, const sl_check *c,
                                                  sl_replica_status status, bool passed)
{
    switch (status) {
    case SL_REPLICA_STARTING:
        st->fails = 0;
        return passed ? SL_REPLICA_CHECK_READY : SL_REPLICA_CHECK_NOTHING;
    case SL_REPLICA_RUNNING:
        if (passed || c->kind == SL_CHECK_DEFAULT) {
            st->fails = 0;
            return SL_REPLICA_CHECK_NOTHING;
        }
        if (++st->fails < sl_check_failures(c))
            return SL_REPLICA_CHECK_NOTHING;
        st->fails = 0;
        return SL_REPLICA_CHECK_UNHEALTHY;
    case SL_REPLICA_FAILED:
    case SL_REPLICA_STOPPING:
    case SL_REPLICA_OOM:
    case SL_REPLICA_UNHEALTHY: break;
    }
    return SL_REPLICA_CHECK_NOTHING;
}

uint32_t sl_replica_check_period_ms(const sl_check *c, sl_replica_status status)
{
    if (status == SL_REPLICA_STARTING)
        return SL_REPLICA_CHECK_STARTING_MS;
    if (status == SL_REPLICA_RUNNING && c->kind != SL_CHECK_DEFAULT)
        return sl_check_interval_ms(c);
    return 0;
}
