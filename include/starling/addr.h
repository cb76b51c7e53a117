/* Network addresses as plain values.
 *
 * The sans-IO core never opens a socket, but it has to name where packets go
 * and where members live. sl_addr is a small value type (IPv4 or IPv6 plus a
 * port) that the core compares, hashes, encodes and prints; the drivers turn
 * it into sockaddrs. */
#ifndef STARLING_ADDR_H
#define STARLING_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { SL_ADDR_V4 = 4, SL_ADDR_V6 = 6 };

/* "[ffff:...:ffff]:65535" plus the terminator. */
#define SL_ADDR_STRLEN 56

typedef struct sl_addr {
    uint8_t family; /* SL_ADDR_V4, SL_ADDR_V6, or 0 for "no address" */
    uint8_t pad;
    uint16_t port;  /* host byte order */
    uint8_t ip[16]; /* network byte order; IPv4 uses the first 4 bytes */
} sl_addr;

/* Returns true when a and b are the same family, address and port. */
bool sl_addr_eq(const sl_addr *a, const sl_addr *b);

/* Builds an IPv4 address from four octets and a port. */
sl_addr sl_addr_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port);

/* Parses "HOST:PORT" where HOST is a dotted IPv4 address or a bracketed IPv6
 * address ("[::1]:7946"). When default_port is non-zero the ":PORT" part may
 * be omitted. Names are not resolved here. Returns 0 or SL_EINVAL. */
int sl_addr_parse(const char *s, uint16_t default_port, sl_addr *out);

/* Formats "host:port" (IPv6 bracketed) into buf of at least SL_ADDR_STRLEN
 * bytes and returns buf. */
char *sl_addr_format(const sl_addr *a, char *buf, size_t cap);

/* Returns true for the unspecified addresses 0.0.0.0 and [::]. */
bool sl_addr_is_unspecified(const sl_addr *a);

#endif
