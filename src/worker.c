/* Worker threads: each owns an event loop, its SO_REUSEPORT listeners
 * (or dup()s of the sockets handed in: listen.c) and every session it
 * accepts; nothing on the data path is shared. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "http.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"
#include "wsb_limits.h"

static void  worker_accept_cb(struct evconnlistener *, evutil_socket_t,
     struct sockaddr *, int, void *);
static void  worker_accept_error_cb(struct evconnlistener *, void *);
static void  worker_backoff_cb(evutil_socket_t, short, void *);
static void  worker_notify_cb(evutil_socket_t, short, void *);
static void *worker_main(void *);
static int   worker_listen(struct worker *, char *, size_t);
static int   worker_listen_shared(struct worker *, char *, size_t);
static int  worker_listener_add(struct worker *, struct evconnlistener *, int);
static void worker_stop_accepting(struct worker *, int);
static void worker_lag_cb(evutil_socket_t, short, void *);

/* Each worker's loop-lag timer (--metrics), by worker id: the timer and
 * when it is due (CLOCK_MONOTONIC, microseconds). */
static struct worker_lag {
	struct event *ev;
	long long     due_us;
} worker_lags[WSB_MAX_WORKERS];

/* Milliseconds on the monotonic clock. */
long long
worker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Microseconds on the monotonic clock. */
static long long
worker_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Arm the loop-lag timer of w for WSB_LOOP_LAG_SAMPLE_MSEC from now. */
static void
worker_lag_arm(struct worker *w)
{
	struct worker_lag *l = &worker_lags[w->id];
	struct timeval	   tv = { 0, WSB_LOOP_LAG_SAMPLE_MSEC * 1000 };

	l->due_us = worker_now_us() + WSB_LOOP_LAG_SAMPLE_MSEC * 1000LL;
	evtimer_add(l->ev, &tv);
}

/* The loop-lag timer fired: how late it fired is the lag (a loop busy
 * with other callbacks, or blocked, runs its timers late). */
static void
worker_lag_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	metrics_loop_lag(w, worker_now_us() - worker_lags[w->id].due_us);
	worker_lag_arm(w);
}

/* The addresses of the sockets handed in (listen.c), n of them, into
 * srv: what the start-up line shows.  0, or -1 with err set. */
static int
worker_listen_handed_in(struct server *srv, int n, char *err, size_t errlen)
{
	const int *fds;
	int	   i;

	listen_sockets(&fds);
	for (i = 0; i < n; i++) {
		srv->listen_addr_lens[i] = sizeof(srv->listen_addrs[i]);
		if (getsockname(fds[i],
			(struct sockaddr *)&srv->listen_addrs[i],
			&srv->listen_addr_lens[i]) == -1) {
			snprintf(err, errlen, "listening socket: %s",
			    strerror(errno));
			return -1;
		}
	}
	srv->nlisten = n;
	return 0;
}

/*
 * Resolve the listen addresses into srv.  Sockets handed in (--inetd,
 * --unix-listen, socket activation) are obtained here, once, and
 * replace the address.  A bare port listens on every IPv4 and IPv6
 * address the host has; a host listens on its first address, IPv6
 * first with -6 and IPv4 first otherwise (websockify).
 */
int
worker_listen_resolve(struct server *srv, char *err, size_t errlen)
{
	const struct config *cfg = srv->cfg;
	struct addrinfo	     hints, *res, *ai;
	int		     r, pass, fam;

	if ((r = listen_open(cfg, WORKER_MAX_LISTENERS, err, errlen)) != 0)
		return r == -1 ? -1 :
				 worker_listen_handed_in(srv, r, err, errlen);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* No AI_ADDRCONFIG: it ignores loopback, and a host with only
	 * loopback must still listen; an unusable family fails at bind. */
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((r = getaddrinfo(cfg->listen_host, cfg->listen_port, &hints,
		 &res)) != 0) {
		snprintf(err, errlen, "listen address %s: %s",
		    cfg->listen_host != NULL ? cfg->listen_host : "*",
		    gai_strerror(r));
		return -1;
	}
	srv->nlisten = 0;
	for (pass = 0; pass < 2; pass++) {
		fam = (pass == 0) == (cfg->prefer_ipv6 != 0) ? AF_INET6 :
							       AF_INET;
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			if (ai->ai_family != fam ||
			    srv->nlisten == WORKER_MAX_LISTENERS)
				continue;
			if (cfg->listen_host != NULL && srv->nlisten == 1)
				continue;
			memcpy(&srv->listen_addrs[srv->nlisten], ai->ai_addr,
			    ai->ai_addrlen);
			srv->listen_addr_lens[srv->nlisten] = ai->ai_addrlen;
			srv->nlisten++;
		}
	}
	freeaddrinfo(res);
	if (srv->nlisten == 0) {
		snprintf(err, errlen, "listen address %s: no usable address",
		    cfg->listen_host != NULL ? cfg->listen_host : "*");
		return -1;
	}
	return 0;
}

/* An event loop whose epoll changes are applied once per loop turn, just
 * before epoll_wait: an add and a remove on one socket in one turn cost
 * one epoll_ctl or none.  (libevent's caveat, a socket and its dup()
 * both in the loop, does not arise here.) */
static struct event_base *
worker_base_new(void)
{
	struct event_config *cfg;
	struct event_base   *base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

/* Whether another socket already listens on sa; see worker.h. */
int
worker_port_held(const struct sockaddr *sa, socklen_t len)
{
	int fd, one = 1, held;

	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	held = bind(fd, sa, len) == -1 && errno == EADDRINUSE;
	close(fd);
	return held;
}

/* Install listener l for listen address i (NULL: failed, errno set).
 * Accepted TCP sockets inherit TCP_NODELAY from the listener (Linux):
 * one setsockopt here, none per connection.  0 or -1. */
static int
worker_listener_add(struct worker *w, struct evconnlistener *l, int i)
{
	int one = 1;

	if (l == NULL)
		return -1;
	evconnlistener_set_error_cb(l, worker_accept_error_cb);
	if (w->server->listen_addrs[i].ss_family != AF_UNIX)
		setsockopt(evconnlistener_get_fd(l), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one));
	w->listeners[w->nlisteners++] = l;
	return 0;
}

/* Listen on a dup() of each socket handed in (listen.c): no bind, no
 * SO_REUSEPORT, no probe.  Every worker's loop polls the same socket;
 * the one whose accept() wins gets the connection.  Once the last
 * worker has its copies the originals are closed, so the socket closes
 * when the workers stop accepting.  0, or -1 with err set. */
static int
worker_listen_shared(struct worker *w, char *err, size_t errlen)
{
	struct evconnlistener *l;
	const int	      *fds;
	int		       i, n, fd, saved;

	n = listen_sockets(&fds);
	for (i = 0; i < n; i++) {
		l = NULL;
		/* Backlog 0: the socket listens already; no listen(). */
		if ((fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 0)) != -1 &&
		    (l = evconnlistener_new(w->base, worker_accept_cb, w,
			 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0,
			 fd)) == NULL) {
			saved = errno;
			close(fd);
			errno = saved;
		}
		if (worker_listener_add(w, l, i) == -1) {
			snprintf(err, errlen, "listening socket %d: %s",
			    fds[i], strerror(errno));
			return -1;
		}
	}
	if (w->id == w->server->cfg->workers - 1)
		listen_release();
	return 0;
}

/* Open the worker's listeners (SO_REUSEPORT), one per listen address.
 * The first worker refuses an address another process holds, unless
 * --reuse-port.  0, or -1 with err set. */
static int
worker_listen(struct worker *w, char *err, size_t errlen)
{
	struct evconnlistener *l;
	unsigned	       flags;
	int		       i, saved;
	char		       addr[64];
	const int	      *fds;

	if (listen_sockets(&fds) > 0)
		return worker_listen_shared(w, err, errlen);
	for (i = 0; i < w->server->nlisten; i++) {
		if (w->id == 0 &&
		    worker_port_held(
			(struct sockaddr *)&w->server->listen_addrs[i],
			w->server->listen_addr_lens[i])) {
			http_format_sockaddr(addr, sizeof(addr),
			    (struct sockaddr *)&w->server->listen_addrs[i]);
			if (!w->server->cfg->reuse_port) {
				snprintf(err, errlen,
				    "cannot listen on %s: %s (another "
				    "process holds it; --reuse-port shares "
				    "it)",
				    addr, strerror(EADDRINUSE));
				return -1;
			}
			log_info("%s: another process listens there too "
				 "(--reuse-port): the kernel splits new "
				 "connections between them",
			    addr);
		}
		flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
		    LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT;
		if (w->server->listen_addrs[i].ss_family == AF_INET6)
			flags |= LEV_OPT_BIND_IPV6ONLY;
		l = evconnlistener_new_bind(w->base, worker_accept_cb, w,
		    flags, WSB_LISTEN_BACKLOG,
		    (struct sockaddr *)&w->server->listen_addrs[i],
		    (int)w->server->listen_addr_lens[i]);
		if (l == NULL) {
			saved = errno;
			http_format_sockaddr(addr, sizeof(addr),
			    (struct sockaddr *)&w->server->listen_addrs[i]);
			/* A host without IPv6 still serves IPv4, and the
			 * reverse, when the listen address is a bare port. */
			if (w->server->cfg->listen_host == NULL &&
			    (saved == EAFNOSUPPORT ||
				saved == EADDRNOTAVAIL)) {
				log_debug("%s: skip %s: %s", __func__, addr,
				    strerror(saved));
				continue;
			}
			snprintf(err, errlen, "cannot listen on %s: %s", addr,
			    strerror(saved));
			return -1;
		}
		worker_listener_add(w, l, i);
	}
	return 0;
}

/* Make a worker with its loop, resolver and listeners (main thread). */
struct worker *
worker_create(struct server *srv, int id, char *err, size_t errlen)
{
	struct worker *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->id = id;
	w->server = srv;
	w->notify_fd = -1;
	TAILQ_INIT(&w->sessions);
	if ((w->base = worker_base_new()) == NULL) {
		snprintf(err, errlen, "cannot create an event loop");
		goto fail;
	}
	w->dns = evdns_base_new(w->base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS |
		EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (w->dns == NULL) /* no resolv.conf: still read /etc/hosts */
		w->dns = evdns_base_new(w->base, 0);
	if (w->dns == NULL) {
		snprintf(err, errlen, "cannot create a DNS resolver");
		goto fail;
	}
	if ((w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (w->notify = event_new(w->base, w->notify_fd, EV_READ | EV_PERSIST,
		 worker_notify_cb, w)) == NULL ||
	    event_add(w->notify, NULL) == -1) {
		snprintf(err, errlen, "cannot create a notification event: %s",
		    strerror(errno));
		goto fail;
	}
	if ((w->backoff = evtimer_new(w->base, worker_backoff_cb, w)) ==
		NULL ||
	    (w->scratch = evbuffer_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (w->server->cfg->metrics_port != NULL &&
	    (worker_lags[id].ev = evtimer_new(w->base, worker_lag_cb, w)) ==
		NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (worker_listen(w, err, errlen) == -1)
		goto fail;
	if (w->nlisteners == 0) {
		snprintf(err, errlen, "no address to listen on");
		goto fail;
	}
	atomic_fetch_add(&srv->listening, 1);
	return w;

fail:
	worker_join_free(w);
	return NULL;
}

/* Run the worker's loop in its own thread. */
int
worker_start(struct worker *w)
{
	sigset_t set, old;
	int	 r;

	/* Signals belong to the main thread. */
	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	r = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		errno = r;
		return -1;
	}
	return 0;
}

/* The thread: run until told to stop. */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	/* Armed here: the first sample must not count the start-up. */
	if (worker_lags[w->id].ev != NULL)
		worker_lag_arm(w);
	event_base_dispatch(w->base);
	return NULL;
}

/* Tell a worker to stop accepting or stop (from the main thread). */
void
worker_command(struct worker *w, int cmd)
{
	uint64_t one = 1;

	atomic_fetch_or(&w->cmd, cmd);
	(void)!write(w->notify_fd, &one, sizeof(one));
}

/* Commands from the main thread, run in the worker's thread. */
static void
worker_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	uint64_t       n;
	int	       cmd;

	(void)!read(fd, &n, sizeof(n));
	cmd = atomic_exchange(&w->cmd, 0);
	if (cmd &
	    (WORKER_CMD_STOP_ACCEPT | WORKER_CMD_STOP | WORKER_CMD_GOING_AWAY))
		worker_stop_accepting(w,
		    !(cmd & (WORKER_CMD_STOP | WORKER_CMD_GOING_AWAY)));
	if ((cmd & WORKER_CMD_GOING_AWAY) && w->server->going_away != NULL)
		w->server->going_away(w);
	if (cmd & WORKER_CMD_STOP) {
		w->server->close_all(w);
		event_base_loopexit(w->base, NULL);
	}
}

/*
 * Close the listening sockets; sessions go on.  take_queued (a drain):
 * first accept what the kernel has queued on them.  Those clients are
 * connected already, and closing a listener resets its queue, even when
 * a successor shares the port (SO_REUSEPORT does not hand the queue on
 * unless net.ipv4.tcp_migrate_req is set): a rolling restart would lose
 * them.  Counted down in server->listening once per worker.
 */
static void
worker_stop_accepting(struct worker *w, int take_queued)
{
	struct sockaddr_storage ss;
	socklen_t		len;
	int			i, n, fd;

	for (i = 0; i < w->nlisteners; i++) {
		/* At most a full queue: a client flood cannot keep the
		 * worker here, away from its sessions. */
		for (n = 0; take_queued && n < WSB_LISTEN_BACKLOG; n++) {
			len = sizeof(ss);
			fd = accept4(evconnlistener_get_fd(w->listeners[i]),
			    (struct sockaddr *)&ss, &len,
			    SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd == -1)
				break; /* EAGAIN: none left; else give up */
			w->server->accept(w, fd, (struct sockaddr *)&ss, len);
		}
		evconnlistener_free(w->listeners[i]);
	}
	if (w->nlisteners > 0)
		atomic_fetch_sub(&w->server->listening, 1);
	w->nlisteners = 0;
	if (w->backoff != NULL)
		evtimer_del(w->backoff);
}

/* Wait for the thread (if started) and free everything. */
void
worker_join_free(struct worker *w)
{
	int i;

	if (w == NULL)
		return;
	if (w->thread)
		pthread_join(w->thread, NULL);
	if (w->server->close_all != NULL)
		w->server->close_all(w);
	for (i = 0; i < w->nlisteners; i++)
		evconnlistener_free(w->listeners[i]);
	if (w->backoff != NULL)
		event_free(w->backoff);
	if (worker_lags[w->id].ev != NULL) {
		event_free(worker_lags[w->id].ev);
		worker_lags[w->id].ev = NULL;
	}
	if (w->scratch != NULL)
		evbuffer_free(w->scratch);
	if (w->notify != NULL)
		event_free(w->notify);
	if (w->notify_fd != -1)
		close(w->notify_fd);
	if (w->dns != NULL)
		evdns_base_free(w->dns, 1);
	if (w->base != NULL)
		event_base_free(w->base);
	free(w);
}

/* A connection arrived: hand it to a new session on this thread. */
static void
worker_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct worker *w = arg;

	w->server->accept(w, fd, sa, (socklen_t)salen);
}

/* accept() failed: out of descriptors pauses accepting briefly rather
 * than spinning on a ready listener. */
static void
worker_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct worker *w = arg;
	struct timeval tv = { 0, WSB_ACCEPT_BACKOFF_MSEC * 1000 };
	int	       err = EVUTIL_SOCKET_ERROR(), i;

	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		log_warnx("worker %d: accept: %s; pausing %d ms", w->id,
		    strerror(err), WSB_ACCEPT_BACKOFF_MSEC);
		for (i = 0; i < w->nlisteners; i++)
			evconnlistener_disable(w->listeners[i]);
		evtimer_add(w->backoff, &tv);
		return;
	}
	log_debug("worker %d: accept: %s", w->id, strerror(err));
}

/* Resume accepting after a back-off. */
static void
worker_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	int	       i;

	for (i = 0; i < w->nlisteners; i++)
		evconnlistener_enable(w->listeners[i]);
}

/* Count a new session (for --idle-timeout). */
void
worker_session_started(struct worker *w)
{
	atomic_fetch_add(&w->server->active_sessions, 1);
	METRICS_INC(w, connections);
}

/* Count an ended session; the main thread's tick acts on the counts. */
void
worker_session_ended(struct worker *w, int was_websocket)
{
	if (was_websocket)
		atomic_fetch_add(&w->server->websocket_sessions_ended, 1);
	if (atomic_fetch_sub(&w->server->active_sessions, 1) == 1)
		atomic_store(&w->server->idle_since_ms, worker_now_ms());
}
