/*
 * The client's address behind trusted proxies (--trusted-proxy): a list
 * of CIDRs and the request headers a proxy adds (RFC 7239 Forwarded,
 * X-Forwarded-For, X-Real-IP).  Pure: no I/O, no allocation.
 */
#ifndef WSB_FORWARDED_H
#define WSB_FORWARDED_H

#include <stddef.h>

#include <sys/socket.h>

#include "wsb_limits.h"

struct http_request;

/* An IP address (and port) as a proxy names it.  An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is always held as the IPv4 address. */
struct forwarded_addr {
	int	       family;	 /* AF_INET or AF_INET6 */
	unsigned char  addr[16]; /* network order; AF_INET uses 4 bytes */
	unsigned short port;	 /* host order; 0 when none was given */
};

/* One network: the address with its host bits cleared, and its prefix
 * length (0 to 32 for AF_INET, 0 to 128 for AF_INET6). */
struct forwarded_cidr {
	struct forwarded_addr net;
	unsigned	      bits;
};

/* The trusted proxies: --trusted-proxy's CIDRs, parsed. */
struct forwarded_trust {
	size_t		      n;
	struct forwarded_cidr cidr[WSB_MAX_TRUSTED_PROXIES];
};

/*
 * Parse list, CIDRs separated by blanks ("127.0.0.1 10.0.0.0/8 ::1/128");
 * each is an IPv4 or IPv6 address, optionally with "/bits" (without it,
 * the one address).  Host bits set below the prefix are cleared
 * ("10.1.2.3/8" is 10.0.0.0/8, as nginx's set_real_ip_from); an
 * IPv4-mapped network ("::ffff:10.0.0.0/104") is held as IPv4.  NULL or
 * an empty list trusts nobody.  0, or -1 with a one-line message naming
 * the bad CIDR in err (errlen bytes; err may be NULL): not an address, a
 * bad prefix, more than WSB_MAX_TRUSTED_PROXIES CIDRs.
 */
int forwarded_trust_parse(const char *list, struct forwarded_trust *t,
    char *err, size_t errlen);

/* The start-up check of --trusted-proxy's list: forwarded_trust_parse()
 * without keeping the result.  0 good, -1 with the message in err. */
int forwarded_check(const char *list, char *err, size_t errlen);

/* 1 if a is inside one of t's networks, else 0.  IPv4 networks match
 * IPv4 addresses only, IPv6 networks IPv6 ones. */
int forwarded_trusts(const struct forwarded_trust *t,
    const struct forwarded_addr			  *a);

/* A socket address (AF_INET or AF_INET6) as a forwarded_addr, the port
 * kept, IPv4-mapped IPv6 made IPv4.  0, or -1 for any other family. */
int forwarded_addr_from_sockaddr(const struct sockaddr *sa,
    struct forwarded_addr			       *a);

/* a as a socket address in ss (port a->port, 0 if none).  Returns its
 * length. */
socklen_t forwarded_addr_to_sockaddr(const struct forwarded_addr *a,
    struct sockaddr_storage					 *ss);

/*
 * One node as proxies write it, s[0..len): "192.0.2.1", "192.0.2.1:80",
 * "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:80" (RFC 7239 6, also
 * what X-Forwarded-For carries); an obfuscated port ("_a1") is dropped.
 * 1 with *a set; 0 when s is not an address ("unknown", "_hidden", a
 * name, an IPv6 zone, a bad port, anything else).
 */
int forwarded_parse_node(const char *s, size_t len, struct forwarded_addr *a);

/*
 * The client's address in the request of a trusted proxy, as nginx's
 * realip module with real_ip_recursive on: the first header present of
 *   Forwarded (RFC 7239 4, the for= of each element; all Forwarded
 *     headers in order form one list),
 *   X-Forwarded-For (all of them joined by ','),
 *   X-Real-IP (the last one; one address),
 * is walked from the right: trusted addresses (proxies) are skipped, the
 * first untrusted one is the client; when all are trusted, the left-most.
 * A hop that is not an address (RFC 7239 "unknown", an obfuscated
 * identifier, a name; a Forwarded element without for=) stops the walk:
 * who is behind it is not known.  A header present but empty counts as
 * absent.  *how is set to the header's name whenever one was present.
 * Returns:
 *    1  found: *client set (its port, if any, from the header)
 *    0  none of these headers present
 *   -1  the walk stopped at a hop that is not an address, or a Forwarded
 *       header is malformed: keep the connection's address
 */
int forwarded_client(const struct http_request *req,
    const struct forwarded_trust *t, struct forwarded_addr *client,
    const char **how);

#endif
