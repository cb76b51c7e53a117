/* Parsing and printing of sl_addr values. No name resolution here: the core
 * only ever sees numeric addresses. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "starling/addr.h"
#include "starling/error.h"

bool sl_addr_eq(const sl_addr *a, const sl_addr *b)
{
    if (a->family != b->family || a->port != b->port)
        return false;
    size_t n = a->family == SL_ADDR_V6 ? 16 : 4;
    return memcmp(a->ip, b->ip, n) == 0;
}

sl_addr sl_addr_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    sl_addr x = {.family = SL_ADDR_V4, .port = port};
    x.ip[0] = a;
    x.ip[1] = b;
    x.ip[2] = c;
    x.ip[3] = d;
    return x;
}

static int parse_port(const char *s, uint16_t *out)
{
    if (!*s)
        return SL_EINVAL;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 65535 || s[0] == '-' || s[0] == '+')
        return SL_EINVAL;
    *out = (uint16_t)v;
    return 0;
}

int sl_addr_parse(const char *s, uint16_t default_port, sl_addr *out)
{
    char host[64];
    const char *port = NULL;
    sl_addr a = {0};
    if (!s)
        return SL_EINVAL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || (size_t)(close - s - 1) >= sizeof host)
            return SL_EINVAL;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = 0;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return SL_EINVAL;
        if (inet_pton(AF_INET6, host, a.ip) != 1)
            return SL_EINVAL;
        a.family = SL_ADDR_V6;
    } else {
        const char *colon = strrchr(s, ':');
        size_t hl = colon ? (size_t)(colon - s) : strlen(s);
        if (hl >= sizeof host)
            return SL_EINVAL;
        memcpy(host, s, hl);
        host[hl] = 0;
        if (colon)
            port = colon + 1;
        if (inet_pton(AF_INET, host, a.ip) != 1)
            return SL_EINVAL;
        a.family = SL_ADDR_V4;
    }
    if (port) {
        if (parse_port(port, &a.port) != 0)
            return SL_EINVAL;
    } else if (default_port) {
        a.port = default_port;
    } else {
        return SL_EINVAL;
    }
    *out = a;
    return 0;
}

char *sl_addr_format(const sl_addr *a, char *buf, size_t cap)
{
    char host[48];
    if (a->family == SL_ADDR_V6) {
        inet_ntop(AF_INET6, a->ip, host, sizeof host);
        snprintf(buf, cap, "[%s]:%u", host, a->port);
    } else if (a->family == SL_ADDR_V4) {
        inet_ntop(AF_INET, a->ip, host, sizeof host);
        snprintf(buf, cap, "%s:%u", host, a->port);
    } else {
        snprintf(buf, cap, "-");
    }
    return buf;
}

bool sl_addr_is_unspecified(const sl_addr *a)
{
    static const uint8_t zero[16];
    size_t n = a->family == SL_ADDR_V6 ? 16 : 4;
    return memcmp(a->ip, zero, n) == 0;
}
