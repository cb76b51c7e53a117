/* The replica supervisor's readiness probes: when a STARTING replica becomes
 * RUNNING.
 *
 * Readiness is probed with a TCP connect to host:port every SL__SUP_PROBE_MS,
 * one attempt at a time, on the loop: a refused connect on loopback answers
 * at once. Services that never listen count as running once they have stayed
 * up ready_after_ms. A probe belongs to one run of the replica (r->run), so
 * that the answer to a probe of a process that has since exited is ignored. */
#include "runtime/supervisor_internal.h"

void sl__sup_probe_closed(uv_handle_t *h)
{
    sl__sup_replica *r = h->data;
    r->probe_open = false;
    r->open_handles--;
    sl__sup_maybe_free(r);
}

static void set_running(sl__sup_replica *r)
{
    uv_timer_stop(&r->timer);
    sl__sup_set_status(r, SL_REPLICA_RUNNING);
}

static void probe_done(uv_connect_t *req, int status)
{
    sl__sup_replica *r = req->data;
    if (!uv_is_closing((uv_handle_t *)&r->probe))
        uv_close((uv_handle_t *)&r->probe, sl__sup_probe_closed);
    if (status == 0 && !r->removed && r->status == SL_REPLICA_STARTING && r->pid &&
        r->probe_run == r->run)
        set_running(r);
}

static void start_probe(sl__sup_replica *r)
{
    sl__supervisor *s = r->sup;
    if (uv_tcp_init(s->loop, &r->probe) != 0)
        return;
    r->probe.data = r;
    r->probe_open = true;
    r->open_handles++;
    r->probe_run = r->run;
    r->conn.data = r;
    struct sockaddr_storage a = s->addr;
    sl__sup_set_port(&a, r->port);
    if (uv_tcp_connect(&r->conn, &r->probe, (struct sockaddr *)&a, probe_done) != 0)
        uv_close((uv_handle_t *)&r->probe, sl__sup_probe_closed);
}

void sl__sup_probe_tick(uv_timer_t *t)
{
    sl__sup_replica *r = t->data;
    sl__supervisor *s = r->sup;
    if (r->status != SL_REPLICA_STARTING || !r->pid) {
        uv_timer_stop(t);
        return;
    }
    if (uv_now(s->loop) - r->spawned_at >= s->ready_after_ms)
        set_running(r);
    else if (!r->probe_open)
        start_probe(r);
}
