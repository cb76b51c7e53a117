/* The replica supervisor's ports: picking a free port for a replica.
 *
 * Each replica gets a port from the configured range, kept across its
 * restarts while still free so that its address is stable. A port is free
 * when no replica of this supervisor holds it and a TCP socket can bind
 * host:port (SO_REUSEADDR, as servers bind, so TIME_WAIT does not count);
 * the probe socket is closed at once. Another program may take the port
 * between the check and the replica's bind; the replica then fails to start
 * and its restart may get another port. Allocation goes round the range from
 * where it last stopped, so that a port just released is not handed out
 * again at once to a replica whose clients may still be connecting to it. */
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/supervisor_internal.h"

static bool port_held(const sl__supervisor *s, const sl__sup_replica *except, uint16_t port)
{
    for (const sl__sup_replica *r = s->head; r; r = r->next)
        if (r != except && r->port == port)
            return true;
    return false;
}

void sl__sup_set_port(struct sockaddr_storage *a, uint16_t port)
{
    if (a->ss_family == AF_INET)
        ((struct sockaddr_in *)a)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

/* True when a TCP socket can bind host:port right now. */
static bool port_bindable(const sl__supervisor *s, uint16_t port)
{
    struct sockaddr_storage a = s->addr;
    sl__sup_set_port(&a, port);
    int fd = socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = bind(fd, (struct sockaddr *)&a, s->addr_len) == 0;
    close(fd);
    return ok;
}

/* Returns a free port for r (its own one when still free), or 0. */
uint16_t sl__sup_pick_port(sl__sup_replica *r)
{
    sl__supervisor *s = r->sup;
    if (r->port && port_bindable(s, r->port))
        return r->port;
    uint32_t span = (uint32_t)s->port_max - s->port_min + 1;
    for (uint32_t i = 0; i < span; i++) {
        uint16_t p = s->next_port;
        s->next_port = p == s->port_max ? s->port_min : (uint16_t)(p + 1);
        if (!port_held(s, r, p) && port_bindable(s, p))
            return p;
    }
    return 0;
}
