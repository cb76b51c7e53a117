/* sl_addr <-> sockaddr, and the choice of an address to advertise. */
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "agent/net.h"

socklen_t sl__addr_to_sockaddr(const sl_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == SL_ADDR_V6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a->port);
        memcpy(&s6->sin6_addr, a->ip, 16);
        return sizeof *s6;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a->port);
    memcpy(&s4->sin_addr, a->ip, 4);
    return sizeof *s4;
}

int sl__addr_from_sockaddr(const struct sockaddr *sa, sl_addr *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(a, 0, sizeof *a);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        a->family = SL_ADDR_V4;
        a->port = ntohs(s4->sin_port);
        memcpy(a->ip, &s4->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        a->port = ntohs(s6->sin6_port);
        if (!memcmp(&s6->sin6_addr, mapped, 12)) {
            a->family = SL_ADDR_V4;
            memcpy(a->ip, (const uint8_t *)&s6->sin6_addr + 12, 4);
        } else {
            a->family = SL_ADDR_V6;
            memcpy(a->ip, &s6->sin6_addr, 16);
        }
        return 0;
    }
    return -1;
}

int sl__addr_pick_local(int family, sl_addr *out)
{
    uv_interface_address_t *ifs;
    int n, rc = -1;
    if (uv_interface_addresses(&ifs, &n) != 0)
        return -1;
    for (int i = 0; i < n && rc != 0; i++) {
        if (ifs[i].is_internal)
            continue;
        sl_addr a;
        if (sl__addr_from_sockaddr((const struct sockaddr *)&ifs[i].address, &a) != 0 ||
            a.family != family)
            continue;
        /* Link-local IPv6 addresses need a scope to be usable: skip them. */
        if (a.family == SL_ADDR_V6 && a.ip[0] == 0xfe && (a.ip[1] & 0xc0) == 0x80)
            continue;
        *out = a;
        rc = 0;
    }
    uv_free_interface_addresses(ifs, n);
    return rc;
}

bool sl__addr_is_loopback(const sl_addr *a)
{
    static const uint8_t one[16] = {[15] = 1};
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
    if (a->family == SL_ADDR_V4)
        return a->ip[0] == 127;
    if (a->family == SL_ADDR_V6)
        return !memcmp(a->ip, one, 16) || (!memcmp(a->ip, mapped, 12) && a->ip[12] == 127);
    return false;
}

char *sl__lc_first(const char *msg, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", msg);
    /* Only a capitalised first word is lowered: acronyms stay as they are. */
    if (buf[0] && isupper((unsigned char)buf[0]) && !isupper((unsigned char)buf[1]))
        buf[0] = (char)tolower((unsigned char)buf[0]);
    return buf;
}
