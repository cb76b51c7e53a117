/* Internal: conversions between the core's sl_addr values and the sockaddrs
 * that libuv and the socket API take. */
#ifndef STARLING_NODE_NET_H
#define STARLING_NODE_NET_H

#include <stdbool.h>
#include <sys/socket.h>

#include "starling/addr.h"

/* Fills *ss from a; returns the sockaddr length. */
socklen_t sl__addr_to_sockaddr(const sl_addr *a, struct sockaddr_storage *ss);

/* Fills *a from sa (IPv4 or IPv6; an IPv4-mapped IPv6 address becomes IPv4).
 * Returns 0, or -1 for another family. */
int sl__addr_from_sockaddr(const struct sockaddr *sa, sl_addr *a);

/* Finds the first non-loopback address of the given family (SL_ADDR_V4 or
 * SL_ADDR_V6) on this machine. Returns 0 or -1 when there is none. */
int sl__addr_pick_local(int family, sl_addr *out);

/* Returns true for a loopback address: 127.0.0.0/8, ::1, or an IPv4-mapped
 * IPv6 address in 127.0.0.0/8. */
bool sl__addr_is_loopback(const sl_addr *a);

/* Lower-cases the first letter of an error message, for "cannot reach agent
 * at ...: connection refused" style lines. Returns buf. */
char *sl__lc_first(const char *msg, char *buf, size_t cap);

#endif
