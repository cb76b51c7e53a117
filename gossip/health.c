/* Lifeguard's local health awareness (Dadgar, Phillips, Currey, "Lifeguard:
 * Local Health Awareness for More Accurate Failure Detection", 2017; what
 * memberlist calls awareness).
 *
 * A member that is itself slow (CPU-starved, stalled, on a lossy link) sees
 * its probes fail and accuses healthy peers. Its health score says how
 * likely that is: it grows by one for a probe that got no ack at all, by one
 * for each member we asked to probe for us that sent no nack either (a nack
 * says "I could not reach it either", so a missing one points at us), and
 * by one each time we must refute a suspicion about ourselves; it shrinks by
 * one for a probe acked directly. The score stretches our own probe
 * interval and probe timeout by (score + 1), so a struggling member probes
 * less and waits longer before it suspects anyone. With timing.plain_swim
 * the score stays 0. */
#include "swim_internal.h"

void sl__health_apply(sl_swim *s, int delta)
{
    if (s->t.plain_swim)
        return;
    int h = (int)s->health + delta;
    if (h < 0)
        h = 0;
    if (h > SL_SWIM_HEALTH_MAX)
        h = SL_SWIM_HEALTH_MAX;
    s->health = (uint32_t)h;
}

uint64_t sl__health_scale(const sl_swim *s, uint64_t ms)
{
    return ms * (s->health + 1u);
}

uint64_t sl__probe_timeout_at(const sl_swim *s)
{
    return s->probe.sent_ms + sl__health_scale(s, s->t.probe_timeout_ms);
}

uint32_t sl_swim_health(const sl_swim *s)
{
    return s->health;
}
