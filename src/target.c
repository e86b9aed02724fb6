/* Resolve the target with evdns (never blocking the loop) and try every
 * address returned, in order, until one connects. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "http.h"
#include "log.h"
#include "target.h"
#include "tls.h"
#include "wsb_limits.h"

struct target_connect {
	struct event_base		 *base;
	struct target_spec		  spec; /* points to the copies */
	char				 *host, *port, *unix_path;
	void				 *preamble; /* spec.preamble's copy */
	int				  preamble_sent; /* this attempt */
	target_done_fn			  done;
	void				 *arg;
	struct evdns_getaddrinfo_request *dns_req;
	struct evutil_addrinfo		 *addrs;    /* the resolved list */
	struct evutil_addrinfo		 *next;	    /* next one to try */
	struct bufferevent		 *bev;	    /* attempt under way */
	struct bufferevent		 *result;   /* connected bev */
	int				  in_start; /* inside _start() */
	int				  finished;
	int				  last_err;
	const char			 *reason; /* for the client */
	char				  reason_buf[WSB_MAX_CLOSE_REASON + 1];
	char				  why[320]; /* for the log */
};

static void target_dns_cb(int, struct evutil_addrinfo *, void *);
static void target_event_cb(struct bufferevent *, short, void *);
static void target_try_next(struct target_connect *);
static void target_finish(struct target_connect *, struct bufferevent *);
static int  target_try_addr(struct target_connect *, const struct sockaddr *,
     socklen_t);
static void target_report(struct target_connect *);
static struct bufferevent *target_tls_wrap(struct target_connect *, int);
static void target_tls_reason(struct target_connect *, struct bufferevent *,
    int);
static const char *target_errno_reason(int);
static void	   target_free(struct target_connect *);
static int	   target_spec_copy(struct target_connect *,
	    const struct target_spec *);
static int	   target_send_preamble(struct target_connect *, int);
static int	   target_preamble_then_tls(struct target_connect *,
	    struct bufferevent *);

/* With --ssl-target, a TLS client bufferevent on fd (its TCP connect
 * may still be under way: the handshake waits for it).  NULL on
 * failure, fd untouched. */
static struct bufferevent *
target_tls_wrap(struct target_connect *tc, int fd)
{
	struct bufferevent *bev;
	SSL		   *ssl;

	if ((ssl = tls_target_ssl_new(tc->spec.host)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(tc->base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		SSL_free(ssl);
	return bev;
}

const char *
target_describe(const struct target_spec *spec, char *buf, size_t len)
{
	if (spec->unix_path != NULL)
		snprintf(buf, len, "unix:%s", spec->unix_path);
	else
		http_format_authority(buf, len, spec->host, spec->port);
	return buf;
}

/* A client-safe reason for a failed connect's errno: no addresses. */
static const char *
target_errno_reason(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ENOENT:
		return "target refused the connection";
	case ETIMEDOUT:
		return "target timed out";
	case ENOMEM:
		return "out of memory";
	default:
		return "target unreachable";
	}
}

/* Copy spec into tc.  -1 out of memory. */
static int
target_spec_copy(struct target_connect *tc, const struct target_spec *spec)
{
	tc->spec.tls = spec->tls;
	if (spec->preamble_len > 0) {
		if ((tc->preamble = malloc(spec->preamble_len)) == NULL)
			return -1;
		memcpy(tc->preamble, spec->preamble, spec->preamble_len);
		tc->spec.preamble = tc->preamble;
		tc->spec.preamble_len = spec->preamble_len;
	}
	if (spec->unix_path != NULL)
		return (tc->spec.unix_path = tc->unix_path =
			       strdup(spec->unix_path)) == NULL ?
		    -1 :
		    0;
	if ((tc->spec.host = tc->host = strdup(spec->host)) == NULL ||
	    (tc->spec.port = tc->port = strdup(spec->port)) == NULL)
		return -1;
	return 0;
}

/* Free tc and its copies of the spec. */
static void
target_free(struct target_connect *tc)
{
	free(tc->host);
	free(tc->port);
	free(tc->unix_path);
	free(tc->preamble);
	free(tc);
}

struct target_connect *
target_connect_start(struct event_base *base, struct evdns_base *dns,
    const struct target_spec *spec, target_done_fn done, void *arg)
{
	struct target_connect *tc;
	struct evutil_addrinfo hints;
	struct sockaddr_un     sun;

	if ((tc = calloc(1, sizeof(*tc))) == NULL ||
	    target_spec_copy(tc, spec) == -1) {
		if (tc != NULL)
			target_free(tc);
		done(NULL, "out of memory", "target: out of memory", arg);
		return NULL;
	}
	tc->base = base;
	tc->done = done;
	tc->arg = arg;
	tc->last_err = ECONNREFUSED;
	tc->in_start = 1;

	if (tc->spec.unix_path != NULL) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(tc->spec.unix_path) >= sizeof(sun.sun_path)) {
			tc->last_err = ENAMETOOLONG;
			target_finish(tc, NULL);
		} else {
			strcpy(sun.sun_path, tc->spec.unix_path);
			if (target_try_addr(tc, (struct sockaddr *)&sun,
				sizeof(sun)) == -1)
				target_finish(tc, NULL);
		}
	} else {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_protocol = IPPROTO_TCP;
		/* No ADDRCONFIG: it ignores loopback, so a host whose only
		 * IPv6 is ::1 could not reach [::1]; every address returned
		 * is tried anyway. */
		tc->dns_req = evdns_getaddrinfo(dns, tc->spec.host,
		    tc->spec.port, &hints, target_dns_cb, tc);
	}
	tc->in_start = 0;
	if (tc->finished) {
		target_report(tc);
		return NULL;
	}
	return tc;
}

void
target_connect_cancel(struct target_connect *tc)
{
	if (tc == NULL)
		return;
	tc->done = NULL;
	if (tc->dns_req != NULL) {
		/* target_dns_cb runs with EVUTIL_EAI_CANCEL and frees tc. */
		evdns_getaddrinfo_cancel(tc->dns_req);
		return;
	}
	target_finish(tc, NULL);
}

/* Resolution finished: start on the first address. */
static void
target_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct target_connect *tc = arg;
	char		       desc[128];

	tc->dns_req = NULL;
	if (result == EVUTIL_EAI_CANCEL || tc->done == NULL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		target_finish(tc, NULL);
		return;
	}
	if (result != 0) {
		snprintf(tc->why, sizeof(tc->why), "target %s: %s",
		    target_describe(&tc->spec, desc, sizeof(desc)),
		    evutil_gai_strerror(result));
		tc->reason = "target unreachable";
		target_finish(tc, NULL);
		return;
	}
	tc->addrs = tc->next = res;
	tc->last_err = ECONNREFUSED;
	target_try_next(tc);
}

/* Try the next resolved address, or give up with the last error. */
static void
target_try_next(struct target_connect *tc)
{
	struct evutil_addrinfo *ai;

	while ((ai = tc->next) != NULL) {
		tc->next = ai->ai_next;
		if (target_try_addr(tc, ai->ai_addr,
			(socklen_t)ai->ai_addrlen) == 0)
			return;
	}
	target_finish(tc, NULL);
}

/*
 * Start one non-blocking connect, bounded by a write timeout.  connect()
 * is called here, not by libevent, so an immediate failure has its real
 * errno and is reported once.  0: under way (or done), -1: failed at once
 * with tc->last_err set.
 */
static int
target_try_addr(struct target_connect *tc, const struct sockaddr *sa,
    socklen_t salen)
{
	struct timeval	    tv = { WSB_CONNECT_TIMEOUT_SEC, 0 };
	struct bufferevent *bev;
	int		    fd, one = 1, r;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		tc->last_err = errno;
		return -1;
	}
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	tc->preamble_sent = tc->spec.preamble_len == 0;
	if (((r = connect(fd, sa, salen)) == -1 && errno != EINPROGRESS) ||
	    (r == 0 && target_send_preamble(tc, fd) == -1)) {
		tc->last_err = errno;
		close(fd);
		return -1;
	}
	/* A preamble goes before the TLS handshake: TLS once connected. */
	if (tc->spec.tls && (r == 0 || tc->spec.preamble_len == 0)) {
		/* The TLS handshake waits for a connect still under way. */
		if ((tc->bev = target_tls_wrap(tc, fd)) == NULL)
			goto nomem;
		bufferevent_set_timeouts(tc->bev, NULL, &tv);
		bufferevent_setcb(tc->bev, NULL, NULL, target_event_cb, tc);
		bufferevent_enable(tc->bev, EV_READ | EV_WRITE);
		return 0;
	}
	if ((bev = bufferevent_socket_new(tc->base, fd,
		 BEV_OPT_CLOSE_ON_FREE)) == NULL)
		goto nomem;
	if (r == 0) { /* a unix socket connects at once */
		target_finish(tc, bev);
		return 0;
	}
	tc->bev = bev;
	bufferevent_set_timeouts(bev, NULL, &tv);
	/* With a socket set and no address, libevent only waits for the
	 * connect under way to finish. */
	if (bufferevent_socket_connect(bev, NULL, 0) == -1) {
		tc->last_err = errno != 0 ? errno : ECONNREFUSED;
		bufferevent_free(bev);
		tc->bev = NULL;
		return -1;
	}
	bufferevent_setcb(bev, NULL, NULL, target_event_cb, tc);
	return 0;

nomem:
	close(fd);
	tc->last_err = ENOMEM;
	return -1;
}

/* Why a TLS connect failed, kept in tc->why unless it was plain TCP. */
static void
target_tls_reason(struct target_connect *tc, struct bufferevent *bev, int err)
{
	char buf[96], desc[128];

	if (tls_bev_error_text(bev, buf, sizeof(buf)) != NULL) {
		snprintf(tc->why, sizeof(tc->why), "target %s: TLS: %s",
		    target_describe(&tc->spec, desc, sizeof(desc)), buf);
		/* OpenSSL's reason text names no host ("certificate
		 * verify failed"). */
		snprintf(tc->reason_buf, sizeof(tc->reason_buf),
		    "TLS to target failed: %s", buf);
		tc->reason = tc->reason_buf;
	} else if (err == 0 || err == EAGAIN) {
		snprintf(tc->why, sizeof(tc->why),
		    "target %s: TLS handshake "
		    "failed (not a TLS server?)",
		    target_describe(&tc->spec, desc, sizeof(desc)));
		tc->reason = "TLS to target failed: handshake failed";
	} else {
		tc->why[0] = '\0'; /* a socket error: strerror later */
		tc->reason = NULL;
	}
}

/* Send the preamble, if any, on a connected socket, before anything
 * else: a fresh connection's send buffer takes its few bytes whole.  -1
 * with errno if it did not go. */
static int
target_send_preamble(struct target_connect *tc, int fd)
{
	ssize_t n;

	tc->preamble_sent = 1;
	if (tc->spec.preamble_len == 0)
		return 0;
	n = send(fd, tc->spec.preamble, tc->spec.preamble_len, MSG_NOSIGNAL);
	if (n == (ssize_t)tc->spec.preamble_len)
		return 0;
	if (n >= 0)
		errno = EAGAIN;
	return -1;
}

/* The plain connection bev is up: send the preamble; with TLS, the
 * socket becomes a TLS bufferevent's (bev freed) and its handshake
 * starts.  -1 with errno if it failed (bev then still to be freed). */
static int
target_preamble_then_tls(struct target_connect *tc, struct bufferevent *bev)
{
	struct timeval tv = { WSB_CONNECT_TIMEOUT_SEC, 0 };
	int	       fd = bufferevent_getfd(bev);

	if (target_send_preamble(tc, fd) == -1)
		return -1;
	if (!tc->spec.tls)
		return 0;
	bufferevent_setfd(bev, -1); /* fd is the TLS bufferevent's now */
	bufferevent_free(bev);
	if ((tc->bev = target_tls_wrap(tc, fd)) == NULL) {
		close(fd);
		tc->last_err = ENOMEM;
		target_try_next(tc);
		return 0;
	}
	bufferevent_set_timeouts(tc->bev, NULL, &tv);
	bufferevent_setcb(tc->bev, NULL, NULL, target_event_cb, tc);
	bufferevent_enable(tc->bev, EV_READ | EV_WRITE);
	return 0;
}

/* Connected, refused or timed out. */
static void
target_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct target_connect *tc = arg;
	int		       err, tls;

	if ((what & BEV_EVENT_CONNECTED) && !tc->preamble_sent) {
		tls = tc->spec.tls; /* tc may be gone after try_next */
		if (target_preamble_then_tls(tc, bev) == -1) {
			tc->last_err = errno;
			bufferevent_free(bev);
			tc->bev = NULL;
			target_try_next(tc);
			return;
		}
		if (tls)
			return; /* the TLS handshake is under way */
	}
	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_set_timeouts(bev, NULL, NULL);
		tc->bev = NULL;
		target_finish(tc, bev);
		return;
	}
	err = EVUTIL_SOCKET_ERROR();
	if (what & BEV_EVENT_TIMEOUT)
		err = ETIMEDOUT;
	else if (bufferevent_openssl_get_ssl(bev) != NULL)
		target_tls_reason(tc, bev, err);
	tc->last_err = err != 0 ? err : ECONNREFUSED;
	bufferevent_free(bev);
	tc->bev = NULL;
	target_try_next(tc);
}

/* Record the outcome; report it now unless still inside _start(). */
static void
target_finish(struct target_connect *tc, struct bufferevent *bev)
{
	char desc[128], ebuf[96];

	int err = tc->last_err > 0 ? tc->last_err : ECONNREFUSED;

	if (bev == NULL && tc->why[0] == '\0')
		snprintf(tc->why, sizeof(tc->why), "target %s: %s",
		    target_describe(&tc->spec, desc, sizeof(desc)),
		    strerror_r(err, ebuf, sizeof(ebuf)));
	if (bev == NULL && tc->reason == NULL)
		tc->reason = target_errno_reason(err);
	tc->result = bev;
	tc->finished = 1;
	if (!tc->in_start)
		target_report(tc);
}

/* Call done() once and free everything but the connected bev. */
static void
target_report(struct target_connect *tc)
{
	target_done_fn	    done = tc->done;
	void		   *arg = tc->arg;
	struct bufferevent *bev = tc->result;
	char		    why[sizeof(tc->why)];
	char		    reason[sizeof(tc->reason_buf)];

	memcpy(why, tc->why, sizeof(why));
	snprintf(reason, sizeof(reason), "%s",
	    tc->reason != NULL ? tc->reason : "target unreachable");
	if (tc->bev != NULL)
		bufferevent_free(tc->bev);
	if (tc->addrs != NULL)
		evutil_freeaddrinfo(tc->addrs);
	target_free(tc);
	if (done != NULL)
		done(bev, bev != NULL ? NULL : reason,
		    bev != NULL ? NULL : why, arg);
	else if (bev != NULL)
		bufferevent_free(bev);
}
