/* Connecting to a target without blocking the loop: resolved with evdns,
 * every address tried in order, optionally TLS (--ssl-target). */
#ifndef WSB_TARGET_H
#define WSB_TARGET_H

#include <stddef.h>

struct bufferevent;
struct event_base;
struct evdns_base;
struct target_connect;

/* Where one session's target is.  The strings are copied by
 * target_connect_start(); the caller keeps ownership. */
struct target_spec {
	const char *host;      /* TCP: name or address (no brackets) */
	const char *port;      /* TCP: port number */
	const char *unix_path; /* non-NULL: a Unix socket instead */
	int	    tls;       /* TLS to the target (--ssl-target) */
	/* Bytes sent first once connected, before TLS and any payload (a
	 * PROXY protocol header, --target-proxy-protocol); NULL: none. */
	const void *preamble;
	size_t	    preamble_len;
};

/*
 * Called once: bev connected (TCP_NODELAY set; the caller owns it), or
 * bev NULL with reason, safe to show the client ("target refused the
 * connection", "target unreachable", "TLS to target failed: certificate
 * verify failed": never a host, address or port), and detail, the whole
 * story for the log ("target 127.0.0.1:5900: Connection refused").
 */
typedef void (*target_done_fn)(struct bufferevent *bev, const char *reason,
    const char *detail, void *arg);

/*
 * Begin connecting base's session to spec, resolving with dns.  Returns a
 * handle for target_connect_cancel(), or NULL when done() has already
 * been called (out of memory, or a numeric address that failed at once).
 * done() is never called before this returns a handle.
 */
struct target_connect *target_connect_start(struct event_base *base,
    struct evdns_base *dns, const struct target_spec *spec,
    target_done_fn done, void *arg);

/* Stop an attempt; done() is not called.  tc may be NULL. */
void target_connect_cancel(struct target_connect *tc);

/* spec as text for log lines, "host:port", "[v6]:port" or "unix:PATH",
 * in buf (len bytes, NUL-terminated, truncated).  Returns buf. */
const char *target_describe(const struct target_spec *spec, char *buf,
    size_t len);

#endif
