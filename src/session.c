/*
 * One client connection, from accept to close: the request head, the
 * upgrade, the relay in both directions with backpressure, and the close
 * handshake.  A session lives and dies on one worker thread and ends in
 * exactly one function, session_close().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "auth.h"
#include "frame.h"
#include "handshake.h"
#include "http.h"
#include "log.h"
#include "session.h"
#include "target.h"
#include "tls.h"
#include "web.h"
#include "worker.h"
#include "wsb_limits.h"

enum session_state {
	SESSION_HANDSHAKE,	/* reading the request head */
	SESSION_CONNECTING,	/* upgrade accepted; connecting the target */
	SESSION_OPEN,		/* relaying both ways */
	SESSION_CLOSING,	/* a Close was sent or received */
};

/* Where the client connection is on its way out. */
enum client_phase {
	CLIENT_ACTIVE,		/* frames are decoded */
	CLIENT_FLUSHING,	/* output draining; input discarded */
	CLIENT_LINGER,		/* FIN sent; discard input until EOF */
};

struct session {
	TAILQ_ENTRY(session)	 entry;
	struct worker		*worker;
	unsigned long long	 id;
	enum session_state	 state;
	enum client_phase	 client_phase;
	struct bufferevent	*client;
	struct bufferevent	*target;
	struct target_connect	*connecting;
	struct event		*timer;	/* handshake, close wait, linger */
	struct event		*heartbeat;
	struct event		*sniff;	/* first byte: TLS or plain? */
	int			 sniff_fd;

	/* Client frame decoder: the frame whose payload is streaming. */
	struct frame_header	 fh;
	uint64_t		 remaining;	/* payload bytes still due */
	uint64_t		 offset;	/* payload bytes done */
	struct frame_msg_state	 msg;
	unsigned		 in_frame:1;
	unsigned		 close_sent:1;
	unsigned		 close_received:1;
	unsigned		 client_paused:1;  /* target output full */
	unsigned		 target_paused:1;  /* client output full */
	unsigned		 target_draining:1;
	unsigned		 ping_outstanding:1;
	unsigned		 upgraded:1;
	unsigned		 protocol_binary:1;
	unsigned		 tls:1;

	const char		*closer;	/* who closed, for the log */
	int			 close_code;
	unsigned long long	 to_target, to_client;
	long long		 started_ms;
	char			 peer[INET6_ADDRSTRLEN + 8];
	char			 accept[HANDSHAKE_ACCEPT_LEN + 1];
};

static void session_client_read_cb(struct bufferevent *, void *);
static void session_client_write_cb(struct bufferevent *, void *);
static void session_client_event_cb(struct bufferevent *, short, void *);
static void session_target_read_cb(struct bufferevent *, void *);
static void session_target_write_cb(struct bufferevent *, void *);
static void session_target_event_cb(struct bufferevent *, short, void *);
static void session_timer_cb(evutil_socket_t, short, void *);
static void session_heartbeat_cb(evutil_socket_t, short, void *);
static void session_target_connected_cb(struct bufferevent *, const char *,
    void *);

static void session_close(struct session *);
static int session_maybe_end(struct session *);
static void session_handshake(struct session *);
static int session_web(struct session *, const struct http_request *,
    size_t);
static int session_http_error(struct session *, int, const char *,
    const char *);
static int session_client_frames(struct session *);
static int session_control(struct session *, uint8_t *, size_t);
static void session_unmask_move(struct session *, struct evbuffer *,
    struct evbuffer *, size_t);
static int session_protocol_error(struct session *,
    const struct frame_error *);
static void session_send_close(struct session *, int, const char *);
static int session_client_finish(struct session *);
static int session_client_linger(struct session *);
static int session_target_finish(struct session *);
static void session_free_client(struct session *);
static void session_free_target(struct session *);
static void session_relay_target(struct session *);
static void session_target_gone(struct session *, int, const char *);
static void session_timer_set(struct session *, int);
static int session_read_more(struct bufferevent *);
static void session_tls_read_more(struct bufferevent *, SSL *);
static void session_tls_send(SSL *, struct evbuffer *);
static void session_send(struct bufferevent *, struct evbuffer *);
static void session_flush_to_target(struct session *, struct evbuffer *);
static void session_sniff_cb(evutil_socket_t, short, void *);
static int session_client_attach(struct session *, struct bufferevent *);
static void session_log_tls_error(struct session *, struct bufferevent *,
    const char *);

/* Accept a connection: a session waiting for its request head. */
void
session_accept(struct worker *w, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct session	*s;
	char		 addr[INET6_ADDRSTRLEN];

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warnx("%s: out of memory, connection dropped", __func__);
		close(fd);
		return;
	}
	s->worker = w;
	s->id = atomic_fetch_add(&w->server->next_session_id, 1) + 1;
	s->started_ms = worker_now_ms();
	s->close_code = CLOSE_NO_STATUS;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		snprintf(s->peer, sizeof(s->peer), "%s:%u", addr,
		    ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		snprintf(s->peer, sizeof(s->peer), "[%s]:%u", addr,
		    ntohs(sin6->sin6_port));
	} else
		snprintf(s->peer, sizeof(s->peer), "local");

	s->sniff_fd = -1;
	if ((s->timer = evtimer_new(w->base, session_timer_cb, s)) == NULL) {
		log_warnx("%s: out of memory, connection dropped", __func__);
		close(fd);
		free(s);
		return;
	}
	TAILQ_INSERT_TAIL(&w->sessions, s, entry);
	worker_session_started(w);
	/* The deadline covers the TLS handshake and the request head. */
	session_timer_set(s, WSB_HANDSHAKE_TIMEOUT_SEC);
	log_debug("session %llu: %s: accepted %s", s->id, __func__, s->peer);

	if (tls_server_enabled()) {
		/* Wait for the first byte to tell TLS from plain. */
		s->sniff_fd = fd;
		s->sniff = event_new(w->base, fd, EV_READ, session_sniff_cb,
		    s);
		if (s->sniff == NULL || event_add(s->sniff, NULL) == -1) {
			log_warnx("%s: out of memory, connection dropped",
			    __func__);
			session_close(s);
		}
		return;
	}
	if (session_client_attach(s, bufferevent_socket_new(w->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == -1) {
		close(fd);
		session_close(s);
	}
}

/* Make bev the client connection and start reading.  -1 if bev is
 * NULL (allocation failed). */
static int
session_client_attach(struct session *s, struct bufferevent *bev)
{
	if (bev == NULL) {
		log_warnx("session %llu: %s: out of memory, connection "
		    "dropped", s->id, __func__);
		return -1;
	}
	s->client = bev;
	bufferevent_set_max_single_read(bev, WSB_MAX_SINGLE_IO);
	bufferevent_set_max_single_write(bev, WSB_MAX_SINGLE_IO);
	bufferevent_setcb(bev, session_client_read_cb,
	    session_client_write_cb, session_client_event_cb, s);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return 0;
}

/*
 * The first byte decides, as in websockify: 0x16 (a TLS handshake
 * record) or 0x80 (an SSLv2-style hello) is TLS, anything else plain.
 */
static void
session_sniff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session		*s = arg;
	struct bufferevent	*bev;
	unsigned char		 b;
	ssize_t			 r;
	SSL			*ssl;

	event_free(s->sniff);
	s->sniff = NULL;
	r = recv(fd, &b, 1, MSG_PEEK);
	if (r <= 0) {
		s->closer = "client (before the handshake)";
		session_close(s);	/* closes sniff_fd */
		return;
	}
	s->sniff_fd = -1;
	if (b == 0x16 || b == 0x80) {
		if ((ssl = tls_server_ssl_new()) == NULL) {
			log_warnx("session %llu: %s: cannot make a TLS "
			    "session", s->id, s->peer);
			close(fd);
			session_close(s);
			return;
		}
		bev = bufferevent_openssl_socket_new(s->worker->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (bev == NULL)
			SSL_free(ssl);
		s->tls = 1;
	} else
		bev = bufferevent_socket_new(s->worker->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if (session_client_attach(s, bev) == -1) {
		close(fd);
		session_close(s);
		return;
	}
	if (!s->tls && s->worker->server->cfg->ssl_only)
		session_http_error(s, 400, NULL, "this port requires TLS: "
		    "use https:// or wss://");
}

/* Close every session of a worker, at shutdown. */
void
session_close_all(struct worker *w)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&w->sessions)) != NULL) {
		if (s->closer == NULL)
			s->closer = "shutdown";
		session_close(s);
	}
}

/*
 * The one place a session ends: cancel what is under way, log the close
 * line, free the bufferevents (closing their sockets), then the state.
 */
static void
session_close(struct session *s)
{
	struct worker	*w = s->worker;
	long long	 ms = worker_now_ms() - s->started_ms;

	if (s->connecting != NULL) {
		target_connect_cancel(s->connecting);
		s->connecting = NULL;
	}
	if (s->upgraded)
		log_info("session %llu: %s: closed by %s, code %d, "
		    "%llu bytes to target, %llu bytes to client, %lld.%03lld s",
		    s->id, s->peer, s->closer != NULL ? s->closer : "bridge",
		    s->close_code, s->to_target, s->to_client, ms / 1000,
		    ms % 1000);
	else
		log_debug("session %llu: %s: closed before upgrade (%s)",
		    s->id, s->peer, s->closer != NULL ? s->closer : "bridge");
	if (s->sniff != NULL) {
		event_free(s->sniff);
		s->sniff = NULL;
	}
	if (s->sniff_fd != -1) {
		close(s->sniff_fd);
		s->sniff_fd = -1;
	}
	session_free_client(s);
	session_free_target(s);
	if (s->timer != NULL) {
		event_free(s->timer);
		s->timer = NULL;
	}
	if (s->heartbeat != NULL) {
		event_free(s->heartbeat);
		s->heartbeat = NULL;
	}
	TAILQ_REMOVE(&w->sessions, s, entry);
	worker_session_ended(w, s->upgraded);
	free(s);
}

/* End the session once neither side is left.  -1 if it ended. */
static int
session_maybe_end(struct session *s)
{
	if (s->client != NULL || s->target != NULL || s->connecting != NULL)
		return 0;
	session_close(s);
	return -1;
}

/* Disable and free the client bufferevent (closes the socket). */
static void
session_free_client(struct session *s)
{
	if (s->client == NULL)
		return;
	bufferevent_disable(s->client, EV_READ | EV_WRITE);
	bufferevent_free(s->client);
	s->client = NULL;
}

/* Disable and free the target bufferevent (closes the socket). */
static void
session_free_target(struct session *s)
{
	if (s->target == NULL)
		return;
	bufferevent_disable(s->target, EV_READ | EV_WRITE);
	bufferevent_free(s->target);
	s->target = NULL;
}

/* (Re)arm the session timer for sec seconds. */
static void
session_timer_set(struct session *s, int sec)
{
	struct timeval	 tv = { sec, 0 };

	evtimer_add(s->timer, &tv);
}

/* The handshake deadline, the wait for the client's Close, or the
 * lingering close ran out. */
static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;

	switch (s->state) {
	case SESSION_HANDSHAKE:
		log_info("%s: idle or incomplete request, dropped", s->peer);
		s->closer = "handshake timeout";
		session_close(s);
		return;
	default:
		break;
	}
	if (s->client_phase == CLIENT_ACTIVE) {
		log_debug("session %llu: %s: no Close from the client in %d s",
		    s->id, __func__, WSB_CLOSE_WAIT_SEC);
		session_client_finish(s);
		return;
	}
	/* Lingering or flushing took too long. */
	session_free_client(s);
	session_maybe_end(s);
}

/*
 * libevent 2.1 reads at most 4 KiB per callback (EVBUFFER_MAX_READ in
 * evbuffer_read()), whatever bufferevent_set_max_single_read() says, which
 * costs a quarter of the throughput: read the rest of what a plain socket
 * holds, up to WSB_MAX_SINGLE_IO (TLS: session_tls_read_more()).
 * Returns 0, or the errno of a failed read (a reset would otherwise reach
 * libevent as a plain EOF on its next read).
 */
static int
session_read_more(struct bufferevent *bev)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v[2];
	struct iovec		 iov[2];
	size_t			 got = 0, want, left;
	ssize_t			 n;
	int			 nv, k, err = 0;
	SSL			*ssl;

	/* Under libevent's cap: the socket is drained, and reserving space
	 * for nothing would cost memory per idle connection. */
	if (evbuffer_get_length(in) < 4096)
		return 0;
	if ((ssl = bufferevent_openssl_get_ssl(bev)) != NULL) {
		session_tls_read_more(bev, ssl);
		return 0;
	}
	/* A socket bufferevent keeps its input's end frozen between reads. */
	evbuffer_unfreeze(in, 0);
	while (got < WSB_MAX_SINGLE_IO) {
		nv = evbuffer_reserve_space(in,
		    (ev_ssize_t)(WSB_MAX_SINGLE_IO - got), v, 2);
		if (nv < 1)
			break;
		for (k = 0, want = 0; k < nv; k++) {
			iov[k].iov_base = v[k].iov_base;
			iov[k].iov_len = v[k].iov_len;
			want += v[k].iov_len;
		}
		n = readv(bufferevent_getfd(bev), iov, nv);
		if (n <= 0) {
			/* EOF is seen again by libevent's next read. */
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				err = errno;
			break;
		}
		left = (size_t)n;
		for (k = 0; k < nv && left > 0; k++) {
			if (v[k].iov_len > left)
				v[k].iov_len = left;
			left -= v[k].iov_len;
		}
		evbuffer_commit_space(in, v, k);
		got += (size_t)n;
		if ((size_t)n < want)
			break;	/* drained */
	}
	evbuffer_freeze(in, 0);
	return err;
}

/*
 * libevent 2.1's bufferevent_openssl decrypts one record (at most 16 KiB)
 * per callback, so every record is a trip through the loop and a frame of
 * its own: decrypt every record the socket holds, up to WSB_MAX_SINGLE_IO.
 * Anything but data (WANT_READ, WANT_WRITE for a key update, EOF, an
 * error) ends the loop and is left to libevent's next SSL call, which
 * sees it again.
 */
static void
session_tls_read_more(struct bufferevent *bev, SSL *ssl)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v;
	size_t			 got = 0;
	int			 n;

	while (got < WSB_MAX_SINGLE_IO) {
		if (evbuffer_reserve_space(in, WSB_TLS_RECORD, &v, 1) < 1)
			break;
		ERR_clear_error();
		if ((n = SSL_read(ssl, v.iov_base, (int)v.iov_len)) <= 0) {
			ERR_clear_error();
			break;
		}
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
		got += (size_t)n;
	}
}

/*
 * TLS output the way session_send() does plain output: when nothing is
 * queued, SSL_write() at once, one record per WSB_TLS_RECORD bytes with
 * the frame header in the first (bufferevent_openssl would wait for the
 * next EV_WRITE and give the header a record of its own).  What is not
 * written stays at the head of buf; queued on the bufferevent, its retry
 * passes the same bytes (libevent sets SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
 */
static void
session_tls_send(SSL *ssl, struct evbuffer *buf)
{
	unsigned char	*p;
	size_t		 len;
	int		 n;

	while ((len = evbuffer_get_length(buf)) > 0) {
		if (len > WSB_TLS_RECORD)
			len = WSB_TLS_RECORD;
		if ((p = evbuffer_pullup(buf, (ev_ssize_t)len)) == NULL)
			break;
		ERR_clear_error();
		if ((n = SSL_write(ssl, p, (int)len)) <= 0) {
			ERR_clear_error();
			break;
		}
		evbuffer_drain(buf, (size_t)n);
	}
}

/*
 * Send what buf holds on bev's socket at once when nothing is queued ahead
 * of it: this saves an event-loop round (latency) and the write event's
 * epoll changes.  What the socket does not take (or all of it, for TLS)
 * is queued on the bufferevent, whose own write reports any error.
 */
static void
session_send(struct bufferevent *bev, struct evbuffer *buf)
{
	struct evbuffer	*out = bufferevent_get_output(bev);
	SSL		*ssl = bufferevent_openssl_get_ssl(bev);

	if (evbuffer_get_length(out) == 0 && ssl != NULL)
		session_tls_send(ssl, buf);
	else if (evbuffer_get_length(out) == 0)
		(void)evbuffer_write(buf, bufferevent_getfd(bev));
	if (evbuffer_get_length(buf) > 0)
		evbuffer_add_buffer(out, buf);
}

/* Client bytes: the request head, then frames. */
static void
session_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	int		 err;

	if (s->client_phase != CLIENT_ACTIVE) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	switch (s->state) {
	case SESSION_HANDSHAKE:
		session_handshake(s);
		break;
	case SESSION_OPEN:
	case SESSION_CLOSING:
		err = session_read_more(bev);
		if (session_client_frames(s) == -1)
			return;
		if (err != 0 && s->client == bev) {
			errno = err;
			session_client_event_cb(bev, BEV_EVENT_READING |
			    BEV_EVENT_ERROR, s);
		}
		break;
	case SESSION_CONNECTING:
		break;	/* reading is off; bytes wait for the target */
	}
}

/*
 * Parse the request head and answer it: an error status, or (once the
 * target is connected) 101.  Bytes after the head stay in the input and
 * are decoded as frames.
 */
static void
session_handshake(struct session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->client);
	struct http_request	 req;
	const struct config	*cfg = s->worker->server->cfg;
	struct handshake_result	 res;
	struct auth_result	 ares;
	struct target_connect	*tc;
	size_t			 len, n;
	const char		*buf;
	char			 desc[128], subject[256];
	int			 r;

next:
	len = evbuffer_get_length(in);
	if (len == 0)
		return;
	n = len < WSB_MAX_REQUEST_HEAD ? len : WSB_MAX_REQUEST_HEAD;
	if ((buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n)) == NULL) {
		session_http_error(s, 500, NULL, "out of memory");
		return;
	}
	r = http_parse_request(buf, n, &req);
	if (r == -2) {
		if (len >= WSB_MAX_REQUEST_HEAD)
			session_http_error(s, 431, NULL,
			    "request head larger than 16 KiB");
		return;
	}
	if (r == -1) {
		session_http_error(s, 400, NULL, "malformed request head");
		return;
	}
	if (!handshake_is_upgrade(&req)) {
		if (cfg->web != NULL) {
			/* Keep-alive: the next request may already be here. */
			if (session_web(s, &req, (size_t)r) == 0)
				goto next;
			return;
		}
		if (req.method_len == 3 && memcmp(req.method, "GET", 3) == 0)
			session_http_error(s, 405, NULL,
			    "this port serves WebSocket connections only "
			    "(no --web)");
		else
			session_http_error(s, 405, "Allow: GET\r\n",
			    "method not allowed");
		return;
	}
	if (handshake_check(&req, &res) != 101) {
		session_http_error(s, res.status, res.extra_headers,
		    res.reason);
		return;
	}
	if (auth_check(cfg, &req, &ares) != 0) {
		session_http_error(s, ares.status, ares.extra_headers,
		    ares.reason);
		return;
	}
	memcpy(s->accept, res.accept, sizeof(s->accept));
	s->protocol_binary = res.protocol != NULL;
	subject[0] = '\0';
	if (s->tls)
		tls_peer_subject(bufferevent_openssl_get_ssl(s->client),
		    subject, sizeof(subject));
	log_info("session %llu: %s: %s connection, path %.*s, target %s%s%s",
	    s->id, s->peer, s->tls ? "WebSocket TLS (wss://)" :
	    "WebSocket (ws://)",
	    (int)(req.path_len > 256 ? 256 : req.path_len), req.path,
	    target_describe(s->worker, desc, sizeof(desc)),
	    subject[0] != '\0' ? ", client certificate " : "", subject);
	evbuffer_drain(in, (size_t)r);
	evtimer_del(s->timer);
	bufferevent_disable(s->client, EV_READ);
	s->upgraded = 1;
	s->state = SESSION_CONNECTING;
	tc = target_connect_start(s->worker, session_target_connected_cb, s);
	if (s->state == SESSION_CONNECTING)
		s->connecting = tc;
}

/*
 * A plain HTTP request with --web: a file, a listing or an error, and an
 * access-log line.  0: the connection stays for the next request; 1:
 * reading paused until the response drains; -1: closing.
 */
static int
session_web(struct session *s, const struct http_request *req,
    size_t consumed)
{
	const struct config	*cfg = s->worker->server->cfg;
	struct evbuffer		*out = bufferevent_get_output(s->client);
	struct auth_result	 ares;
	size_t			 bytes = 0;
	int			 status, keep_alive;

	if (cfg->web_auth && auth_check(cfg, req, &ares) != 0) {
		/* A browser retries a 401 on the same connection. */
		keep_alive = ares.status == 401 && !http_request_has_body(req);
		web_error(out, ares.status, ares.extra_headers, ares.reason,
		    keep_alive, req->method_len == 4 &&
		    memcmp(req->method, "HEAD", 4) == 0);
		status = ares.status;
	} else
		status = web_respond(cfg, req, out, &keep_alive, &bytes);
	log_info("%s: %.*s %.*s %d %zu", s->peer, (int)req->method_len,
	    req->method, (int)(req->path_len > 256 ? 256 : req->path_len),
	    req->path, status, bytes);
	evbuffer_drain(bufferevent_get_input(s->client), consumed);
	if (!keep_alive) {
		s->closer = "web";
		s->state = SESSION_CLOSING;
		session_client_finish(s);
		return -1;
	}
	session_timer_set(s, WSB_KEEPALIVE_TIMEOUT_SEC);
	if (evbuffer_get_length(out) >= WSB_HIGH_WATER) {
		bufferevent_disable(s->client, EV_READ);
		s->client_paused = 1;
		return 1;
	}
	return 0;
}

/* Answer with an HTTP error, log why, and close after the flush. */
static int
session_http_error(struct session *s, int status, const char *extra,
    const char *reason)
{
	char	 buf[512];
	int	 n;

	log_info("%s: HTTP %d %s: %s", s->peer, status,
	    http_status_text(status), reason);
	if ((n = http_format_error(buf, sizeof(buf), status, extra, reason)) >
	    0)
		evbuffer_add(bufferevent_get_output(s->client), buf, (size_t)n);
	s->closer = "bridge";
	s->state = SESSION_CLOSING;
	return session_client_finish(s);
}

/* The target connected (bev) or could not be reached (why). */
static void
session_target_connected_cb(struct bufferevent *bev, const char *why,
    void *arg)
{
	struct session	*s = arg;
	struct evbuffer	*out = bufferevent_get_output(s->client);
	struct handshake_result res;
	struct timeval	 tv;
	char		 buf[256];
	int		 n;

	s->connecting = NULL;
	memset(&res, 0, sizeof(res));
	memcpy(res.accept, s->accept, sizeof(res.accept));
	res.protocol = s->protocol_binary ? "binary" : NULL;
	if ((n = handshake_format_101(buf, sizeof(buf), &res)) > 0)
		evbuffer_add(out, buf, (size_t)n);
	s->state = SESSION_OPEN;

	if (bev == NULL) {
		/* Browsers show close reasons, not HTTP statuses. */
		log_warnx("session %llu: %s: %s", s->id, s->peer, why);
		s->closer = "target";
		s->close_code = CLOSE_INTERNAL_ERROR;
		session_send_close(s, CLOSE_INTERNAL_ERROR, why);
		bufferevent_enable(s->client, EV_READ);
		session_timer_set(s, WSB_CLOSE_WAIT_SEC);
		return;
	}
	s->target = bev;
	bufferevent_set_max_single_read(bev, WSB_MAX_SINGLE_IO);
	bufferevent_set_max_single_write(bev, WSB_MAX_SINGLE_IO);
	bufferevent_setcb(bev, session_target_read_cb,
	    session_target_write_cb, session_target_event_cb, s);
	bufferevent_setwatermark(bev, EV_WRITE, WSB_LOW_WATER, 0);
	bufferevent_setwatermark(s->client, EV_WRITE, WSB_LOW_WATER, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	bufferevent_enable(s->client, EV_READ);
	if (s->worker->server->cfg->heartbeat > 0) {
		s->heartbeat = event_new(s->worker->base, -1, EV_PERSIST,
		    session_heartbeat_cb, s);
		if (s->heartbeat != NULL) {
			tv.tv_sec = s->worker->server->cfg->heartbeat;
			tv.tv_usec = 0;
			evtimer_add(s->heartbeat, &tv);
		}
	}
	log_debug("session %llu: %s: target connected", s->id, __func__);
	/* Frames that came with the request head. */
	if (evbuffer_get_length(bufferevent_get_input(s->client)) > 0)
		session_client_frames(s);
}

/*
 * Decode client frames and stream data payload to the target as it
 * arrives: nothing waits for a whole frame or message; only control
 * frames (at most 125 bytes) wait until complete.  -1 if the session
 * ended.
 */
static int
session_client_frames(struct session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->client);
	struct evbuffer		*pending = s->worker->scratch;
	struct evbuffer		*out;
	struct frame_error	 err;
	uint8_t			 buf[WSB_MAX_FRAME_HEADER +
				     WSB_MAX_CONTROL_PAYLOAD];
	size_t			 avail, n;
	int			 r;

	/* Payload collects in the worker's scratch buffer and goes to the
	 * target before anything that may close it, and at the end. */
	while (s->client_phase == CLIENT_ACTIVE &&
	    (avail = evbuffer_get_length(in)) > 0) {
		if (!s->in_frame) {
			n = avail < WSB_MAX_FRAME_HEADER ? avail :
			    WSB_MAX_FRAME_HEADER;
			evbuffer_copyout(in, buf, n);
			r = frame_decode_header(buf, n, 1, &s->fh, &err);
			if (r == -2)
				break;
			if (r == -1) {
				session_flush_to_target(s, pending);
				return session_protocol_error(s, &err);
			}
			if (s->fh.opcode & 0x8) {
				if (avail < (size_t)r + s->fh.length)
					break;
				session_flush_to_target(s, pending);
				evbuffer_drain(in, (size_t)r);
				n = (size_t)s->fh.length;
				evbuffer_remove(in, buf, n);
				frame_unmask(buf, n, s->fh.mask, 0);
				if (session_control(s, buf, n) == -1)
					return -1;
				continue;
			}
			if (frame_check_sequence(&s->msg, &s->fh, &err) ==
			    -1) {
				session_flush_to_target(s, pending);
				return session_protocol_error(s, &err);
			}
			evbuffer_drain(in, (size_t)r);
			s->remaining = s->fh.length;
			s->offset = 0;
			s->in_frame = s->remaining > 0;
			if (s->worker->server->cfg->traffic)
				log_traffic('}');
			continue;
		}
		n = avail < s->remaining ? avail : (size_t)s->remaining;
		if (s->close_sent || s->target == NULL ||
		    s->target_draining)
			evbuffer_drain(in, n);
		else {
			session_unmask_move(s, in, pending, n);
			s->to_target += n;
		}
		s->offset += n;
		s->remaining -= n;
		if (s->remaining == 0)
			s->in_frame = 0;
	}
	session_flush_to_target(s, pending);

	/* Backpressure: a slow target stops the client. */
	if (s->target != NULL && !s->client_paused) {
		out = bufferevent_get_output(s->target);
		if (evbuffer_get_length(out) >= WSB_HIGH_WATER) {
			bufferevent_disable(s->client, EV_READ);
			s->client_paused = 1;
		}
	}
	return 0;
}

/* Send the payload collected for the target (dropped if it is gone). */
static void
session_flush_to_target(struct session *s, struct evbuffer *pending)
{
	if (evbuffer_get_length(pending) == 0)
		return;
	if (s->target == NULL || s->target_draining)
		evbuffer_drain(pending, evbuffer_get_length(pending));
	else
		session_send(s->target, pending);
}

/*
 * Unmask n payload bytes where they lie in the input buffer, then move
 * them to the target's output without copying.  Writing through
 * evbuffer_peek() is safe here: a socket bufferevent's input holds only
 * heap chains it owns, never references or file segments.
 */
static void
session_unmask_move(struct session *s, struct evbuffer *in,
    struct evbuffer *out, size_t n)
{
	struct evbuffer_iovec	 v[8];
	size_t			 chunk, l;
	uint64_t		 off = s->offset;
	int			 nv, i;

	while (n > 0) {
		nv = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, 8);
		if (nv > 8)
			nv = 8;
		chunk = 0;
		for (i = 0; i < nv && chunk < n; i++) {
			l = v[i].iov_len < n - chunk ? v[i].iov_len :
			    n - chunk;
			frame_unmask(v[i].iov_base, l, s->fh.mask,
			    off + chunk);
			chunk += l;
		}
		evbuffer_remove_buffer(in, out, chunk);
		off += chunk;
		n -= chunk;
	}
}

/* A whole control frame from the client.  -1 if the session ended. */
static int
session_control(struct session *s, uint8_t *p, size_t len)
{
	struct evbuffer		*out = bufferevent_get_output(s->client);
	struct frame_error	 err;
	const uint8_t		*reason;
	size_t			 rlen, hl;
	uint8_t			 hdr[WSB_MAX_FRAME_HEADER];
	char			 rbuf[WSB_MAX_CLOSE_REASON + 1];
	int			 code;

	switch (s->fh.opcode) {
	case FRAME_OP_PING:
		if (!s->close_sent) {
			hl = frame_encode_header(hdr, 1, FRAME_OP_PONG, len,
			    NULL);
			evbuffer_add(out, hdr, hl);
			evbuffer_add(out, p, len);
		}
		return 0;
	case FRAME_OP_PONG:
		s->ping_outstanding = 0;
		return 0;
	default:
		break;
	}

	/* Close */
	if (frame_parse_close(p, len, &code, &reason, &rlen, &err) == -1)
		return session_protocol_error(s, &err);
	s->close_received = 1;
	if (s->close_sent) {
		/* The client's answer to our Close. */
		log_debug("session %llu: %s: client answered Close %d", s->id,
		    __func__, code);
		return session_client_finish(s);
	}
	s->closer = "client";
	s->close_code = code;
	if (rlen > 0)
		memcpy(rbuf, reason, rlen);
	rbuf[rlen] = '\0';
	/* Echo the code and reason; an empty Close gets an empty one. */
	session_send_close(s, code, rbuf);
	if (session_target_finish(s) == -1)
		return -1;
	return session_client_finish(s);
}

/* The client broke RFC 6455: Close with the code, then close both. */
static int
session_protocol_error(struct session *s, const struct frame_error *err)
{
	log_warnx("session %llu: %s: protocol error: %s (close %d)", s->id,
	    s->peer, err->reason, err->code);
	s->closer = "bridge (protocol error)";
	s->close_code = err->code;
	session_send_close(s, err->code, err->reason);
	if (session_target_finish(s) == -1)
		return -1;
	return session_client_finish(s);
}

/* Queue a Close frame for the client, once. */
static void
session_send_close(struct session *s, int code, const char *reason)
{
	uint8_t	 frame[2 + WSB_MAX_CONTROL_PAYLOAD];
	size_t	 n;

	if (s->close_sent || s->client == NULL)
		return;
	n = frame_encode_close(frame, code, reason);
	evbuffer_add(bufferevent_get_output(s->client), frame, n);
	s->close_sent = 1;
	s->state = SESSION_CLOSING;
}

/*
 * Close the client connection once what we queued for it is sent: flush,
 * then FIN, then read and discard until the client's EOF (a lingering
 * close, so unread input never turns our FIN into a reset that destroys
 * the Close frame in flight).  -1 if the session ended.
 */
static int
session_client_finish(struct session *s)
{
	struct timeval	 tv = { WSB_LINGER_SEC, 0 };

	if (s->client == NULL)
		return session_maybe_end(s);
	if (s->client_phase != CLIENT_ACTIVE)
		return 0;
	s->client_phase = CLIENT_FLUSHING;
	if (s->heartbeat != NULL)
		event_del(s->heartbeat);
	bufferevent_setwatermark(s->client, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(s->client, NULL, &tv);
	bufferevent_enable(s->client, EV_READ | EV_WRITE);
	/* No deadline while bytes still go out: a slow reader gets all of
	 * them; one that makes no progress for WSB_LINGER_SEC times out. */
	evtimer_del(s->timer);
	if (evbuffer_get_length(bufferevent_get_output(s->client)) == 0)
		return session_client_linger(s);
	return 0;
}

/* The client's output is flushed: send FIN and wait for its EOF. */
static int
session_client_linger(struct session *s)
{
	s->client_phase = CLIENT_LINGER;
	/* TLS: close_notify first; the output is flushed, so it goes out
	 * after every byte queued before it. */
	if (s->tls)
		SSL_shutdown(bufferevent_openssl_get_ssl(s->client));
	if (shutdown(bufferevent_getfd(s->client), SHUT_WR) == -1) {
		session_free_client(s);
		return session_maybe_end(s);
	}
	bufferevent_set_timeouts(s->client, NULL, NULL);
	session_timer_set(s, WSB_CLOSE_WAIT_SEC);
	return 0;
}

/* Close the target once what the client sent is delivered.  -1 if the
 * session ended. */
static int
session_target_finish(struct session *s)
{
	struct timeval	 tv = { WSB_LINGER_SEC, 0 };

	if (s->connecting != NULL) {
		target_connect_cancel(s->connecting);
		s->connecting = NULL;
	}
	if (s->target == NULL)
		return session_maybe_end(s);
	bufferevent_disable(s->target, EV_READ);
	s->target_draining = 1;
	if (evbuffer_get_length(bufferevent_get_output(s->target)) == 0) {
		session_free_target(s);
		return session_maybe_end(s);
	}
	bufferevent_setwatermark(s->target, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(s->target, NULL, &tv);
	return 0;
}

/* The client's output drained below the low mark, or is empty. */
static void
session_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	if (s->client_phase == CLIENT_FLUSHING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			session_client_linger(s);
		return;
	}
	if (s->state == SESSION_HANDSHAKE && s->client_paused) {
		/* A large file went out: take the next request. */
		s->client_paused = 0;
		bufferevent_enable(bev, EV_READ);
		session_handshake(s);
		return;
	}
	if (s->target_paused && s->target != NULL && !s->target_draining) {
		s->target_paused = 0;
		bufferevent_enable(s->target, EV_READ);
	}
}

/* EOF, error or write timeout on the client connection. */
static void
session_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		/* A TLS handshake finished; nothing to do until the head. */
		log_debug("session %llu: %s: TLS established", s->id, __func__);
		return;
	}
	if (s->state == SESSION_HANDSHAKE) {
		if (s->tls && (what & BEV_EVENT_ERROR) &&
		    s->client_phase == CLIENT_ACTIVE)
			session_log_tls_error(s, bev, "TLS handshake failed");
		s->closer = "client (before the handshake)";
		session_close(s);
		return;
	}
	if (s->tls && (what & BEV_EVENT_ERROR) &&
	    s->client_phase == CLIENT_ACTIVE)
		session_log_tls_error(s, bev, "TLS connection lost");
	if (s->client_phase == CLIENT_ACTIVE && !s->close_received &&
	    s->closer == NULL) {
		/* Lost without a Close: deliver what it sent, then close. */
		log_debug("session %llu: %s: client connection lost%s%s",
		    s->id, __func__, what & BEV_EVENT_ERROR ? ": " : "",
		    what & BEV_EVENT_ERROR ? strerror(EVUTIL_SOCKET_ERROR()) :
		    "");
		s->closer = "client (connection lost)";
		s->close_code = 1006;
	}
	session_free_client(s);
	if (session_target_finish(s) == -1)
		return;
	session_maybe_end(s);
}

/* Say why a TLS client connection failed; a peer that closed TCP
 * without close_notify is named as such, not as an error. */
static void
session_log_tls_error(struct session *s, struct bufferevent *bev,
    const char *what)
{
	char		 buf[256];
	int		 err = EVUTIL_SOCKET_ERROR();

	if (tls_bev_error_text(bev, buf, sizeof(buf)) != NULL)
		log_info("%s: %s: %s", s->peer, what, buf);
	else if (err != 0 && err != EAGAIN)
		log_info("%s: %s: %s", s->peer, what, strerror(err));
	else
		log_info("%s: %s: peer closed TCP without TLS close_notify",
		    s->peer, what);
}

/* Target bytes: one frame per read, the chain moved, not copied. */
static void
session_target_read_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;
	int		 err;

	err = session_read_more(bev);
	session_relay_target(s);
	if (err != 0) {
		errno = err;
		session_target_event_cb(bev, BEV_EVENT_READING |
		    BEV_EVENT_ERROR, s);
	}
}

/* Frame whatever the target sent and move it to the client. */
static void
session_relay_target(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->target);
	struct evbuffer	*out;
	uint8_t		 hdr[WSB_MAX_FRAME_HEADER];
	size_t		 n = evbuffer_get_length(in), hl;

	if (n == 0)
		return;
	if (s->close_sent || s->client == NULL ||
	    s->client_phase != CLIENT_ACTIVE) {
		evbuffer_drain(in, n);
		return;
	}
	out = bufferevent_get_output(s->client);
	hl = frame_encode_header(hdr, 1, FRAME_OP_BINARY, n, NULL);
	evbuffer_add(s->worker->scratch, hdr, hl);
	evbuffer_add_buffer(s->worker->scratch, in);
	session_send(s->client, s->worker->scratch);
	s->to_client += n;
	if (s->worker->server->cfg->traffic)
		log_traffic('{');
	/* Backpressure: a slow client stops the target. */
	if (evbuffer_get_length(out) >= WSB_HIGH_WATER) {
		bufferevent_disable(s->target, EV_READ);
		s->target_paused = 1;
	}
}

/* The target's output drained below the low mark, or is empty. */
static void
session_target_write_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	if (s->target_draining) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			session_free_target(s);
			session_maybe_end(s);
		}
		return;
	}
	if (s->client_paused && s->client != NULL &&
	    s->client_phase == CLIENT_ACTIVE) {
		s->client_paused = 0;
		bufferevent_enable(s->client, EV_READ);
	}
}

/* EOF, reset or write timeout on the target connection. */
static void
session_target_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	char		 why[160], desc[128], ebuf[96];
	int		 err = EVUTIL_SOCKET_ERROR();

	if (s->target_draining) {
		session_free_target(s);
		session_maybe_end(s);
		return;
	}
	/* What the target sent before it closed goes out first. */
	session_relay_target(s);
	if (what & BEV_EVENT_EOF)
		session_target_gone(s, CLOSE_NORMAL, "target closed");
	else {
		snprintf(why, sizeof(why), "target %s: %s",
		    target_describe(s->worker, desc, sizeof(desc)),
		    what & BEV_EVENT_TIMEOUT ? "timed out" :
		    strerror_r(err != 0 ? err : ECONNRESET, ebuf,
		    sizeof(ebuf)));
		log_warnx("session %llu: %s: %s", s->id, s->peer, why);
		session_target_gone(s, CLOSE_INTERNAL_ERROR, why);
	}
}

/* The target went away: Close the client with code and reason and wait
 * briefly for its Close. */
static void
session_target_gone(struct session *s, int code, const char *reason)
{
	session_free_target(s);
	if (s->closer == NULL) {
		s->closer = "target";
		s->close_code = code;
	}
	session_send_close(s, code, reason);
	if (s->client == NULL) {
		session_maybe_end(s);
		return;
	}
	if (s->client_paused) {
		s->client_paused = 0;
		bufferevent_enable(s->client, EV_READ);
	}
	session_timer_set(s, WSB_CLOSE_WAIT_SEC);
}

/* Ping the client; drop it if the last ping went unanswered. */
static void
session_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;
	uint8_t		 hdr[WSB_MAX_FRAME_HEADER];
	size_t		 hl;

	if (s->state != SESSION_OPEN || s->client == NULL)
		return;
	if (s->ping_outstanding && !s->client_paused) {
		log_info("session %llu: %s: no pong within %d s, dropped",
		    s->id, s->peer, s->worker->server->cfg->heartbeat);
		s->closer = "bridge (heartbeat timeout)";
		s->close_code = 1006;
		session_close(s);
		return;
	}
	hl = frame_encode_header(hdr, 1, FRAME_OP_PING, 0, NULL);
	evbuffer_add(bufferevent_get_output(s->client), hdr, hl);
	s->ping_outstanding = 1;
}
