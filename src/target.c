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

#include "log.h"
#include "target.h"
#include "tls.h"
#include "worker.h"
#include "wsb_limits.h"

struct target_connect {
	struct worker			*worker;
	target_done_fn			 done;
	void				*arg;
	struct evdns_getaddrinfo_request *dns_req;
	struct evutil_addrinfo		*addrs;	/* the resolved list */
	struct evutil_addrinfo		*next;	/* next one to try */
	struct bufferevent		*bev;	/* attempt under way */
	struct bufferevent		*result;	/* connected bev */
	int				 in_start;	/* inside _start() */
	int				 finished;
	int				 last_err;
	char				 why[320];
};

static void target_dns_cb(int, struct evutil_addrinfo *, void *);
static void target_event_cb(struct bufferevent *, short, void *);
static void target_try_next(struct target_connect *);
static void target_finish(struct target_connect *, struct bufferevent *);
static int target_try_addr(struct target_connect *, const struct sockaddr *,
    socklen_t);
static void target_report(struct target_connect *);
static struct bufferevent *target_tls_wrap(struct target_connect *, int);
static void target_tls_reason(struct target_connect *, struct bufferevent *,
    int);

/* With --ssl-target, a TLS client bufferevent on fd (its TCP connect
 * may still be under way: the handshake waits for it).  NULL on
 * failure, fd untouched. */
static struct bufferevent *
target_tls_wrap(struct target_connect *tc, int fd)
{
	const struct config	*cfg = tc->worker->server->cfg;
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = tls_target_ssl_new(cfg->target_host)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(tc->worker->base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		SSL_free(ssl);
	return bev;
}

/* The configured target as text, for log lines and close reasons. */
const char *
target_describe(const struct worker *w, char *buf, size_t len)
{
	const struct config *cfg = w->server->cfg;

	if (cfg->unix_target != NULL)
		snprintf(buf, len, "unix:%s", cfg->unix_target);
	else if (strchr(cfg->target_host, ':') != NULL)
		snprintf(buf, len, "[%s]:%s", cfg->target_host,
		    cfg->target_port);
	else
		snprintf(buf, len, "%s:%s", cfg->target_host,
		    cfg->target_port);
	return buf;
}

/*
 * Begin connecting.  Returns a handle for target_connect_cancel(), or NULL
 * when done() has already been called (a numeric address that failed at
 * once).  done() is never called before this returns a handle.
 */
struct target_connect *
target_connect_start(struct worker *w, target_done_fn done, void *arg)
{
	const struct config	*cfg = w->server->cfg;
	struct target_connect	*tc;
	struct evutil_addrinfo	 hints;
	struct sockaddr_un	 sun;

	if ((tc = calloc(1, sizeof(*tc))) == NULL) {
		done(NULL, "out of memory", arg);
		return NULL;
	}
	tc->worker = w;
	tc->done = done;
	tc->arg = arg;
	tc->last_err = ECONNREFUSED;
	tc->in_start = 1;

	if (cfg->unix_target != NULL) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(cfg->unix_target) >= sizeof(sun.sun_path)) {
			tc->last_err = ENAMETOOLONG;
			target_finish(tc, NULL);
		} else {
			strcpy(sun.sun_path, cfg->unix_target);
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
		tc->dns_req = evdns_getaddrinfo(w->dns, cfg->target_host,
		    cfg->target_port, &hints, target_dns_cb, tc);
	}
	tc->in_start = 0;
	if (tc->finished) {
		target_report(tc);
		return NULL;
	}
	return tc;
}

/* Stop an attempt; the callback is not called. */
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
	struct target_connect	*tc = arg;
	char			 desc[128];

	tc->dns_req = NULL;
	if (result == EVUTIL_EAI_CANCEL || tc->done == NULL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		target_finish(tc, NULL);
		return;
	}
	if (result != 0) {
		snprintf(tc->why, sizeof(tc->why), "target %s: %s",
		    target_describe(tc->worker, desc, sizeof(desc)),
		    evutil_gai_strerror(result));
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
	struct evutil_addrinfo	*ai;

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
	const struct config *cfg = tc->worker->server->cfg;
	struct timeval	 tv = { WSB_CONNECT_TIMEOUT_SEC, 0 };
	struct bufferevent *bev;
	int		 fd, one = 1, r;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		tc->last_err = errno;
		return -1;
	}
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((r = connect(fd, sa, salen)) == -1 && errno != EINPROGRESS) {
		tc->last_err = errno;
		close(fd);
		return -1;
	}
	if (cfg->ssl_target) {
		/* The TLS handshake waits for a connect still under way. */
		if ((tc->bev = target_tls_wrap(tc, fd)) == NULL)
			goto nomem;
		bufferevent_set_timeouts(tc->bev, NULL, &tv);
		bufferevent_setcb(tc->bev, NULL, NULL, target_event_cb, tc);
		bufferevent_enable(tc->bev, EV_READ | EV_WRITE);
		return 0;
	}
	if ((bev = bufferevent_socket_new(tc->worker->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		goto nomem;
	if (r == 0) {		/* a unix socket connects at once */
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
target_tls_reason(struct target_connect *tc, struct bufferevent *bev,
    int err)
{
	char		 buf[160], desc[128];

	if (tls_bev_error_text(bev, buf, sizeof(buf)) != NULL)
		snprintf(tc->why, sizeof(tc->why), "target %s: TLS: %s",
		    target_describe(tc->worker, desc, sizeof(desc)), buf);
	else if (err == 0 || err == EAGAIN)
		snprintf(tc->why, sizeof(tc->why), "target %s: TLS handshake "
		    "failed (not a TLS server?)",
		    target_describe(tc->worker, desc, sizeof(desc)));
	else
		tc->why[0] = '\0';	/* a socket error: strerror later */
}

/* Connected, refused or timed out. */
static void
target_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct target_connect	*tc = arg;
	int			 err;

	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_set_timeouts(bev, NULL, NULL);
		tc->bev = NULL;
		target_finish(tc, bev);
		return;
	}
	err = EVUTIL_SOCKET_ERROR();
	if (what & BEV_EVENT_TIMEOUT)
		err = ETIMEDOUT;
	else if (tc->worker->server->cfg->ssl_target)
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
	char	 desc[128], ebuf[96];

	if (bev == NULL && tc->why[0] == '\0')
		snprintf(tc->why, sizeof(tc->why), "target %s: %s",
		    target_describe(tc->worker, desc, sizeof(desc)),
		    strerror_r(tc->last_err > 0 ? tc->last_err : ECONNREFUSED,
		    ebuf, sizeof(ebuf)));
	tc->result = bev;
	tc->finished = 1;
	if (!tc->in_start)
		target_report(tc);
}

/* Call done() once and free everything but the connected bev. */
static void
target_report(struct target_connect *tc)
{
	target_done_fn		 done = tc->done;
	void			*arg = tc->arg;
	struct bufferevent	*bev = tc->result;
	char			 why[sizeof(tc->why)];

	memcpy(why, tc->why, sizeof(why));
	if (tc->bev != NULL)
		bufferevent_free(tc->bev);
	if (tc->addrs != NULL)
		evutil_freeaddrinfo(tc->addrs);
	free(tc);
	if (done != NULL)
		done(bev, bev != NULL ? NULL : why, arg);
	else if (bev != NULL)
		bufferevent_free(bev);
}
