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
 * less and waits longer before it suspects anyone.
 *
 * A member also sees its own slowness directly: a tick that comes long after
 * its gossip timer fell due (the timer every tick re-arms, one gossip
 * interval ahead) means the process was stalled, stopped or starved of CPU,
 * and whatever came meanwhile is still unread. A probe that "timed out"
 * during the stall says nothing about the target (its ack is most likely in
 * that backlog), and a suspicion that "ran out" may have its refutation
 * there. Lifeguard's premise is that a member must not trust its own failure
 * detector while it is slow (the paper's local health awareness: the
 * protocol's own missed deadlines count against the local member first;
 * memberlist's awareness). Neither the paper nor memberlist checks the
 * lateness of its own timers; this is that premise applied to a slowness
 * the member can see directly. So, once the lateness is more than a
 * probe timeout: the score grows by one, the probe under way starts its
 * wait again from now (it ends a whole, health-scaled probe interval later,
 * by which time its ack has been read), and no suspicion is declared dead
 * before lag_until_ms, one probe timeout after the resume. This keeps a
 * stalled member from sending the late suspicions about healthy peers that
 * issue 14's scenario (a) is made of, the same way the score keeps a slow
 * one from probing eagerly. With timing.plain_swim none of this runs and
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

void sl__health_check_lag(sl_swim *s, uint64_t now_ms)
{
    if (s->t.plain_swim || now_ms <= s->next_gossip_ms + s->t.probe_timeout_ms)
        return;
    sl__health_apply(s, 1);
    s->lag_until_ms = now_ms + s->t.probe_timeout_ms;
    if (s->probe.active && !s->probe.acked) {
        s->probe.sent_ms = now_ms;
        uint64_t end = now_ms + sl__health_scale(s, s->t.probe_interval_ms);
        if (s->next_probe_ms < end)
            s->next_probe_ms = end;
    }
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
