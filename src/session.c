/*
 * A session's lifetime: accept, the TLS sniff, the session timer, the
 * orderly shutdown of each side, and the one place a session ends,
 * session_end().  The sides are in session_side.c; the phases in
 * session_http.c, session_upgrade.c and session_relay.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/ssl.h>

#include "http.h"
#include "io.h"
#include "metrics.h"
#include "record.h"
#include "session.h"
#include "session_int.h"
#include "target.h"
#include "token.h"
#include "tls.h"
#include "worker.h"
#include "wsb_config.h"
#include "wsb_limits.h"

/* linger_outq until the first look at a lingering client (SIOCOUTQ is
 * read then, not when the FIN goes out). */
#define SESSION_OUTQ_UNKNOWN (~0ULL)

static void session_sniff_cb(evutil_socket_t, short, void *);
static void session_timer_cb(evutil_socket_t, short, void *);
static void session_client_discard_cb(struct bufferevent *, void *);
static void session_client_flushed_cb(struct bufferevent *, void *);
static void session_client_closing_event_cb(struct bufferevent *, short,
    void *);
static void session_target_flushed_cb(struct bufferevent *, void *);
static void session_target_closing_event_cb(struct bufferevent *, short,
    void *);
static int  session_client_fin(struct session *);
static void session_client_linger_check(struct session *);
static void session_side_init(struct session *, struct side *, const char *,
    struct side *);
static int  session_start_client(struct session *, struct bufferevent *);

/* Accept a connection: a session waiting for its request head. */
void
session_accept(struct worker *w, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warnx("%s: out of memory, connection dropped", __func__);
		close(fd);
		return;
	}
	s->worker = w;
	s->id = atomic_fetch_add(&w->server->next_session_id, 1) + 1;
	s->started_ms = worker_now_ms();
	s->close_code = CLOSE_NO_STATUS;
	s->sniff_fd = -1;
	if (salen > sizeof(s->client_addr))
		salen = sizeof(s->client_addr);
	memcpy(&s->client_addr, sa, salen);
	s->client_addr_len = salen;
	http_format_sockaddr(s->peer, sizeof(s->peer), sa);
	session_side_init(s, &s->client, "client", &s->target);
	session_side_init(s, &s->target, "target", &s->client);
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
	session_debug(s, "accepted");
	if (session_config(s)->proxy_protocol)
		session_proxy_start(s, fd); /* then session_start() */
	else
		session_start(s, fd);
}

/* The connection's first bytes, past any PROXY header: TLS or plain. */
void
session_start(struct session *s, int fd)
{
	struct worker *w = s->worker;

	if (tls_server_enabled()) {
		/* Wait for the first byte to tell TLS from plain. */
		s->sniff_fd = fd;
		s->sniff =
		    event_new(w->base, fd, EV_READ, session_sniff_cb, s);
		if (s->sniff == NULL || event_add(s->sniff, NULL) == -1) {
			session_warn(s, "out of memory, connection dropped");
			session_end(s);
		}
		return;
	}
	if (session_start_client(s,
		bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE)) ==
	    -1) {
		close(fd);
		session_end(s);
	}
}

/* A side before it has a connection. */
static void
session_side_init(struct session *s, struct side *side, const char *name,
    struct side *peer)
{
	side->session = s;
	side->name = name;
	side->peer = peer;
}

/* Make bev the client connection and read request heads.  -1 if bev is
 * NULL (allocation failed). */
static int
session_start_client(struct session *s, struct bufferevent *bev)
{
	if (bev == NULL) {
		session_warn(s, "out of memory, connection dropped");
		return -1;
	}
	side_attach(&s->client, bev, NULL, NULL, NULL);
	session_http_start(s);
	return 0;
}

/*
 * The first byte decides, as in websockify: 0x16 (a TLS handshake
 * record) or 0x80 (an SSLv2-style hello) is TLS, anything else plain.
 */
static void
session_sniff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session	   *s = arg;
	struct bufferevent *bev;
	unsigned char	    b;
	SSL		   *ssl;

	event_free(s->sniff);
	s->sniff = NULL;
	if (recv(fd, &b, 1, MSG_PEEK) <= 0) {
		s->closer = "client (before the handshake)";
		session_end(s); /* closes sniff_fd */
		return;
	}
	s->sniff_fd = -1;
	if (b == 0x16 || b == 0x80) {
		if ((ssl = tls_server_ssl_new()) == NULL) {
			session_warn(s, "cannot make a TLS session");
			close(fd);
			session_end(s);
			return;
		}
		bev = bufferevent_openssl_socket_new(s->worker->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (bev == NULL)
			SSL_free(ssl);
		s->client.tls = 1;
	} else
		bev = bufferevent_socket_new(s->worker->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if (session_start_client(s, bev) == -1) {
		close(fd);
		session_end(s);
		return;
	}
	if (!s->client.tls && session_config(s)->ssl_only) {
		s->refusal = METRICS_REFUSAL_TLS_REQUIRED;
		session_http_error(s, NULL, NULL, 0, 400, NULL,
		    "this port requires TLS: "
		    "use https:// or wss://");
	}
}

/* The immutable configuration. */
const struct config *
session_config(const struct session *s)
{
	return s->worker->server->cfg;
}

/* Close every session of a worker, at shutdown. */
void
session_close_all(struct worker *w)
{
	struct session *s;

	while ((s = TAILQ_FIRST(&w->sessions)) != NULL) {
		if (s->closer == NULL)
			s->closer = "shutdown";
		session_end(s);
	}
	/* Token lookups were cancelled with their sessions. */
	token_worker_free(w->tokens);
	w->tokens = NULL;
}

/* Graceful stop: Close 1001 to relaying clients, the rest end. */
void
session_going_away(struct worker *w)
{
	struct session *s, *next;

	for (s = TAILQ_FIRST(&w->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->phase == SESSION_CLOSING)
			continue;
		if (s->phase != SESSION_RELAY) {
			s->closer = "shutdown";
			session_end(s);
			continue;
		}
		s->closer = "bridge (shutdown)";
		s->close_code = CLOSE_GOING_AWAY;
		session_relay_send_close(s, CLOSE_GOING_AWAY, "going away");
		session_target_shutdown(s);
	}
}

/*
 * The one place a session ends: cancel what is under way, log the close
 * line (bytes counted as written to each socket), free both sides
 * (closing their sockets), then the state.
 */
void
session_end(struct session *s)
{
	struct worker *w = s->worker;
	long long      ms = worker_now_ms() - s->started_ms;

	if (s->connecting != NULL) {
		target_connect_cancel(s->connecting);
		s->connecting = NULL;
	}
	token_lookup_cancel(s->lookup);
	s->lookup = NULL;
	free(s->upgrade_log);
	record_close(s->record);
	session_proxy_free(s);
	if (s->upgraded)
		session_info(s,
		    "closed by %s, code %d, %llu bytes to target, "
		    "%llu bytes to client, %lld.%03lld s",
		    s->closer != NULL ? s->closer : "bridge", s->close_code,
		    side_bytes_written(&s->target),
		    side_bytes_written(&s->client), ms / 1000, ms % 1000);
	else
		session_debug(s, "closed before upgrade (%s)",
		    s->closer != NULL ? s->closer : "bridge");
	if (s->sniff != NULL)
		event_free(s->sniff);
	if (s->sniff_fd != -1)
		close(s->sniff_fd);
	side_free(&s->client);
	side_free(&s->target);
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->heartbeat != NULL)
		event_free(s->heartbeat);
	TAILQ_REMOVE(&w->sessions, s, entry);
	connlimit_release(&s->limit);
	if (s->client.tls && !s->tls_done)
		METRICS_INC(w, tls_failures);
	METRICS_INC(w,
	    ended[s->upgraded ? METRICS_OUTCOME_WEBSOCKET : s->outcome]);
	worker_session_ended(w, s->upgraded);
	free(s);
}

/* End the session once neither side is left.  SESSION_ENDED if it
 * ended, else 0. */
int
session_end_if_done(struct session *s)
{
	if (s->client.bev != NULL || s->target.bev != NULL ||
	    s->connecting != NULL)
		return 0;
	session_end(s);
	return SESSION_ENDED;
}

/* (Re)arm the session timer for sec seconds. */
void
session_timer_set(struct session *s, int sec)
{
	struct timeval tv = { sec, 0 };

	evtimer_add(s->timer, &tv);
}

/*
 * The session timer ran out: the request-head deadline or keep-alive
 * idle time (HTTP), the wait for the client's Close after ours, a look
 * at a half-closed session, or at a lingering close.
 */
static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	if (s->client.shutdown == SIDE_LINGER) {
		session_client_linger_check(s);
		return;
	}
	if (s->phase == SESSION_LOOKUP) {
		session_upgrade_deadline(s);
		return;
	}
	if (s->phase == SESSION_HTTP) {
		session_info(s, "%s, dropped",
		    s->client.bytes_handed > 0 ? "keep-alive connection idle" :
						 "idle or incomplete request");
		s->closer = "handshake timeout";
		session_end(s);
		return;
	}
	if (s->client.eof && !s->close_sent) {
		session_relay_half_close_check(s);
		return;
	}
	session_debug(s, "no Close from the client in %d s",
	    WSB_CLOSE_WAIT_SEC);
	session_client_shutdown(s);
}

/* Who the client is, told by a proxy; see session_int.h. */
void
session_set_client(struct session *s, const struct sockaddr *sa, socklen_t len,
    const char *how)
{
	char was[sizeof(s->peer)];

	if (len > sizeof(s->client_addr))
		len = sizeof(s->client_addr);
	memcpy(was, s->peer, sizeof(was));
	memcpy(&s->client_addr, sa, len);
	s->client_addr_len = len;
	http_format_sockaddr(s->peer, sizeof(s->peer), sa);
	session_debug(s, "client address from %s, via %s", how, was);
}

/* The client's verified certificate CN (tls_peer_cn), or NULL. */
const char *
session_peer_cn(struct session *s, char *buf, size_t len)
{
	if (!s->client.tls || s->client.bev == NULL)
		return NULL;
	return tls_peer_cn(bufferevent_openssl_get_ssl(s->client.bev), buf,
	    len);
}

/* Say why a TLS client connection failed; a peer that closed TCP
 * without close_notify is named as such, not as an error. */
void
session_log_tls_error(struct session *s, struct bufferevent *bev,
    const char *what)
{
	char buf[256], esc[512];
	int  err = EVUTIL_SOCKET_ERROR();

	if (tls_bev_error_text(bev, buf, sizeof(buf)) != NULL) {
		log_escape(esc, sizeof(esc), buf, strlen(buf));
		session_info(s, "%s: %s", what, esc);
	} else if (err != 0 && err != EAGAIN)
		session_info(s, "%s: %s", what, strerror(err));
	else
		session_info(s, "%s: peer closed TCP without TLS close_notify",
		    what);
}

/*
 * Close the client connection once what is owed to it is sent: flush,
 * then FIN, then read and discard until the client's EOF (a lingering
 * close, so unread input never turns our FIN into a reset that destroys
 * the Close frame in flight).  No deadline while bytes go out: only
 * --send-timeout without progress.  SESSION_ENDED if the session ended.
 */
int
session_client_shutdown(struct session *s)
{
	struct side *c = &s->client;

	if (c->bev == NULL)
		return session_end_if_done(s);
	if (c->shutdown != SIDE_OPEN)
		return 0;
	c->shutdown = SIDE_FLUSHING;
	if (s->heartbeat != NULL)
		event_del(s->heartbeat);
	evtimer_del(s->timer);
	bufferevent_setcb(c->bev, session_client_discard_cb,
	    session_client_flushed_cb, session_client_closing_event_cb, s);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	side_set_send_timeout(c);
	side_set_reading(c);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		return session_client_fin(s);
	return 0;
}

/* A closing client's input is discarded. */
static void
session_client_discard_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	evbuffer_drain(in, evbuffer_get_length(in));
}

/* A closing client's output drained: send FIN. */
static void
session_client_flushed_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (s->client.shutdown == SIDE_FLUSHING &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		session_client_fin(s);
}

/* EOF (the normal end of a lingering close), error or send timeout. */
static void
session_client_closing_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	/* A plain client that half-closes may still read what it is owed
	 * (TLS cannot: libevent stops writing after close_notify). */
	if ((what & BEV_EVENT_EOF) && s->client.shutdown == SIDE_FLUSHING &&
	    !s->client.tls) {
		s->client.reading = 0;
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		session_info(s,
		    "client took no bytes for %d s while closing, "
		    "dropped",
		    session_config(s)->send_timeout);
	side_free(&s->client);
	session_end_if_done(s);
}

/* The client's output is flushed: close_notify (TLS), FIN, then wait for
 * its EOF.  SESSION_ENDED if the session ended. */
static int
session_client_fin(struct session *s)
{
	struct side *c = &s->client;

	/*
	 * Both Closes crossed on plain TCP and nothing is unread: the client
	 * sends nothing more but its FIN (RFC 6455 5.5.1), so close() cannot
	 * turn into a reset, and what the kernel still holds for the client
	 * is sent before our FIN.  No lingering needed.  (TLS lingers: the
	 * client's close_notify would meet a closed socket.)
	 */
	if (!c->tls && s->close_received &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
		side_free(c);
		return session_end_if_done(s);
	}
	c->shutdown = SIDE_LINGER;
	if (c->tls)
		SSL_shutdown(bufferevent_openssl_get_ssl(c->bev));
	if (shutdown(bufferevent_getfd(c->bev), SHUT_WR) == -1) {
		side_free(c);
		return session_end_if_done(s);
	}
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	c->linger_outq = SESSION_OUTQ_UNKNOWN; /* read at the first look */
	c->linger_stuck_ms = 0;
	session_timer_set(s, WSB_CLOSE_WAIT_SEC);
	return 0;
}

/*
 * No EOF from a lingering client yet.  While the kernel still holds
 * unacknowledged bytes for it and they move, keep waiting (a slow reader
 * gets everything); close when all is acknowledged or nothing moved for
 * --send-timeout seconds.
 */
static void
session_client_linger_check(struct session *s)
{
	struct side	  *c = &s->client;
	unsigned long long outq = io_unacked(bufferevent_getfd(c->bev));

	if (outq > 0 && outq != c->linger_outq)
		c->linger_stuck_ms = 0;
	else if (outq > 0)
		c->linger_stuck_ms += 1000;
	c->linger_outq = outq;
	if (outq == 0 ||
	    c->linger_stuck_ms >= session_config(s)->send_timeout * 1000LL) {
		side_free(c);
		session_end_if_done(s);
		return;
	}
	session_timer_set(s, 1);
}

/*
 * Close the target once what the client sent is delivered (bounded by
 * --send-timeout without progress).  SESSION_ENDED if the session ended.
 */
int
session_target_shutdown(struct session *s)
{
	struct side *t = &s->target;

	if (s->connecting != NULL) {
		target_connect_cancel(s->connecting);
		s->connecting = NULL;
	}
	if (t->bev == NULL)
		return session_end_if_done(s);
	if (t->shutdown != SIDE_OPEN)
		return 0;
	t->shutdown = SIDE_FLUSHING;
	side_set_reading(t);
	if (evbuffer_get_length(bufferevent_get_output(t->bev)) == 0) {
		side_free(t);
		return session_end_if_done(s);
	}
	bufferevent_setcb(t->bev, NULL, session_target_flushed_cb,
	    session_target_closing_event_cb, s);
	bufferevent_setwatermark(t->bev, EV_WRITE, 0, 0);
	side_set_send_timeout(t);
	return 0;
}

/* A closing target's output drained: close it. */
static void
session_target_flushed_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		side_free(&s->target);
		session_end_if_done(s);
	}
}

/* A closing target failed, closed, or took nothing for too long. */
static void
session_target_closing_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	side_free(&s->target);
	session_end_if_done(s);
}
