/*
 * The PROXY protocol around a session (haproxy's doc/proxy-protocol.txt):
 * with --proxy-protocol, the phase that reads the header a proxy sends
 * before anything else, on the bare socket and without taking a byte
 * past it, so the TLS sniff and the HTTP phase then run as on any
 * connection; without it, the hint for a request head that is a PROXY
 * header; and, with --target-proxy-protocol, the header for the target.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proxy_proto.h"
#include "session_int.h"
#include "worker.h"
#include "wsb_config.h"
#include "wsb_limits.h"

/* The header being read: the bytes taken so far and the read event,
 * whose timeout is what is left of the deadline. */
struct session_proxy {
	struct event *ev;
	size_t	      have;
	unsigned char buf[WSB_PROXY_HEADER_MAX];
};

static void session_proxy_read_cb(evutil_socket_t, short, void *);
static int  session_proxy_read(struct session *, int);
static void session_proxy_fail(struct session *, const char *, size_t);
static void session_proxy_done(struct session *, int,
    const struct proxy_header *);
static int  session_proxy_wait(struct session *);

/* See session_int.h. */
void
session_proxy_start(struct session *s, int fd)
{
	struct session_proxy *sp;

	s->sniff_fd = fd; /* session_end() closes it until we are done */
	/* Not calloc: the 2 KiB buffer need not be zeroed (a third of the
	 * phase's cost per connection). */
	if ((sp = malloc(sizeof(*sp))) == NULL) {
		session_warn(s, "out of memory, connection dropped");
		session_end(s);
		return;
	}
	sp->ev = NULL;
	sp->have = 0;
	s->proxy = sp;
	/* A proxy writes its header as soon as it has connected: it is
	 * usually here already, and then no read event is needed. */
	if (session_proxy_read(s, fd) == 1)
		return;
	sp->ev =
	    event_new(s->worker->base, fd, EV_READ, session_proxy_read_cb, s);
	if (sp->ev == NULL || session_proxy_wait(s) == -1) {
		session_warn(s, "out of memory, connection dropped");
		session_end(s);
	}
}

/* See session_int.h. */
void
session_proxy_free(struct session *s)
{
	if (s->proxy == NULL)
		return;
	if (s->proxy->ev != NULL)
		event_free(s->proxy->ev);
	free(s->proxy);
	s->proxy = NULL;
}

/* Wait for more of the header until the deadline (counted from the
 * accept: a total, not per byte).  -1 if the event cannot be added. */
static int
session_proxy_wait(struct session *s)
{
	long long left =
	    s->started_ms + WSB_PROXY_HEADER_TIMEOUT_MSEC - worker_now_ms();
	struct timeval tv;

	if (left < 0)
		left = 0;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	return event_add(s->proxy->ev, &tv);
}

/* Header bytes, the end of the connection, or the deadline. */
static void
session_proxy_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	if (what & EV_TIMEOUT) {
		session_proxy_fail(s,
		    "no complete PROXY protocol header in time",
		    s->proxy->have);
		return;
	}
	if (session_proxy_read(s, fd) == 0 && session_proxy_wait(s) == -1)
		session_proxy_fail(s, "out of memory", s->proxy->have);
}

/*
 * Peek at what may still belong to the header, and take exactly the
 * header's bytes: the next protocol's first byte stays unread.  0: wait
 * for more; 1: the phase is over (the header was bad or the connection
 * gone, and the session ended; or it was complete and the session went
 * on).
 */
static int
session_proxy_read(struct session *s, int fd)
{
	struct session_proxy *sp = s->proxy;
	struct proxy_header   h;
	size_t		      want, take;
	ssize_t		      n;
	int		      r;

	want = proxy_proto_want(sp->buf, sp->have);
	if (want > sizeof(sp->buf) - sp->have)
		want = sizeof(sp->buf) - sp->have;
	n = recv(fd, sp->buf + sp->have, want, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n == 0 && sp->have == 0) {
		/* A TCP health check or a port probe, not a broken proxy. */
		session_debug(s, "closed before a PROXY protocol header");
		s->closer = "client (before the PROXY header)";
		session_end(s);
		return 1;
	}
	if (n <= 0) {
		session_proxy_fail(s,
		    n == 0 ? "connection closed before a complete PROXY "
			     "protocol header" :
			     strerror(errno),
		    sp->have);
		return 1;
	}
	r = proxy_proto_parse(sp->buf, sp->have + (size_t)n, &h);
	if (r == -1) {
		session_proxy_fail(s, h.error, sp->have + (size_t)n);
		return 1;
	}
	take = r > 0 ? (size_t)r - sp->have : (size_t)n;
	if (recv(fd, sp->buf + sp->have, take, 0) != (ssize_t)take) {
		session_proxy_fail(s, "cannot read the PROXY protocol header",
		    sp->have);
		return 1;
	}
	sp->have += take;
	if (r == -2)
		return 0;
	session_proxy_done(s, fd, &h);
	return 1;
}

/* One line saying why, with what came (escaped), and close: no HTTP
 * answer, as the peer is a proxy that spoke wrongly. */
static void
session_proxy_fail(struct session *s, const char *why, size_t len)
{
	char got[WSB_LOG_VALUE_MAX];

	log_escape(got, sizeof(got), s->proxy->buf, len);
	session_info(s, "bad PROXY protocol header: %s, got \"%s\", closed",
	    why, got);
	s->closer = "client (bad PROXY header)";
	session_end(s);
}

/* The header is complete: the client it names (if any) is the client;
 * then the connection goes on as if freshly accepted, with the
 * request-head deadline counted from now. */
static void
session_proxy_done(struct session *s, int fd, const struct proxy_header *h)
{
	const char *how = h->version == 1 ? "PROXY v1" : "PROXY v2";

	if (h->relayed)
		session_set_client(s, (const struct sockaddr *)&h->src,
		    h->src_len, how);
	else
		session_debug(s, "%s %s: the connection's own address kept",
		    how,
		    h->local		? "LOCAL" :
			h->version == 1 ? "UNKNOWN" :
					  "without a TCP or Unix address");
	session_proxy_free(s);
	s->sniff_fd = -1;
	session_timer_set(s, WSB_HANDSHAKE_TIMEOUT_SEC);
	session_start(s, fd);
}

/* See session_int.h. */
int
session_proxy_refuse(struct session *s, const char *buf, size_t len)
{
	const char *eol = memchr(buf, '\n', len);
	char	    got[WSB_LOG_VALUE_MAX];

	/* v1: its line; v2: the fixed part, which holds no line. */
	if (buf[0] == 'P' && eol != NULL)
		len = (size_t)(eol - buf + 1);
	else if (buf[0] != 'P' && len > PROXY_PROTO_V2_FIXED)
		len = PROXY_PROTO_V2_FIXED;
	log_escape(got, sizeof(got), buf, len);
	session_info(s,
	    "HTTP 400 Bad Request: malformed request head (a PROXY "
	    "protocol header: start wsbridge with --proxy-protocol?), "
	    "request \"%s\"",
	    got);
	return session_http_reply_error(s, 400, NULL,
	    "malformed request head");
}

/* See session_int.h. */
int
session_proxy_target_header(struct session *s, void *out, size_t outlen)
{
	struct sockaddr_storage local;
	socklen_t		llen = sizeof(local);
	int			v = session_config(s)->target_proxy_protocol;

	if (v == 0)
		return 0;
	memset(&local, 0, sizeof(local));
	if (getsockname(bufferevent_getfd(s->client.bev),
		(struct sockaddr *)&local, &llen) == -1)
		local.ss_family = AF_UNSPEC;
	return proxy_proto_build(v, (const struct sockaddr *)&s->client_addr,
	    (const struct sockaddr *)&local, out, outlen);
}
