/*
 * The HTTP phase of a session: read request heads (bounded, with a
 * deadline), answer --web requests with keep-alive, send error replies,
 * and hand an upgrade request to session_upgrade.c.  Idle keep-alive time
 * starts only when a reply has been fully written.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "auth.h"
#include "forwarded.h"
#include "handshake.h"
#include "http.h"
#include "proxy_proto.h"
#include "metrics.h"
#include "session_int.h"
#include "web.h"
#include "wsb_config.h"
#include "wsb_limits.h"

/* Longest request path shown in a log line, before escaping. */
#define SESSION_HTTP_LOG_PATH 256

static void session_http_write_cb(struct bufferevent *, void *);
static void session_http_event_cb(struct bufferevent *, short, void *);
static void session_http_next(struct session *);
static int  session_http_request(struct session *, const struct http_request *,
     size_t);
static int  session_http_web(struct session *, const struct http_request *,
     size_t);
static void session_http_wait_drain(struct session *);
static void session_http_forwarded(struct session *,
    const struct http_request *);

/* Start (or return to) reading request heads on the client. */
void
session_http_start(struct session *s)
{
	s->phase = SESSION_HTTP;
	bufferevent_setcb(s->client.bev, session_http_read_cb,
	    session_http_write_cb, session_http_event_cb, s);
}

/* Client bytes while in the HTTP phase. */
void
session_http_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (!s->web_waiting)
		session_http_next(s);
}

/*
 * Parse and answer request heads while complete ones are buffered and
 * the connection stays open.  Bytes after an upgrade request's head stay
 * in the input: they are frames.
 */
static void
session_http_next(struct session *s)
{
	struct evbuffer	   *in = bufferevent_get_input(s->client.bev);
	struct http_request req;
	size_t		    len, n;
	const char	   *buf;
	int		    r;

	while (s->phase == SESSION_HTTP && !s->web_waiting &&
	    (len = evbuffer_get_length(in)) > 0) {
		n = len < WSB_MAX_REQUEST_HEAD ? len : WSB_MAX_REQUEST_HEAD;
		buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		if (buf == NULL) {
			s->refusal = METRICS_REFUSAL_INTERNAL;
			session_http_error(s, NULL, NULL, 0, 500, NULL,
			    "out of memory");
			return;
		}
		r = http_parse_request(buf, n, &req);
		if (r == -2 && len >= WSB_MAX_REQUEST_HEAD) {
			s->refusal = METRICS_REFUSAL_MALFORMED;
			session_http_error(s, NULL, buf, n, 431, NULL,
			    "request head larger than 16 KiB");
			return;
		}
		if (r == -2)
			return;
		if (r == -1) {
			s->refusal = METRICS_REFUSAL_MALFORMED;
			if (proxy_proto_detect(buf, n)) {
				session_proxy_refuse(s, buf, n);
				return;
			}
			session_http_error(s, NULL, buf, n, 400, NULL,
			    "malformed request head");
			return;
		}
		if (session_http_request(s, &req, (size_t)r) != 0)
			return;
	}
}

/*
 * Who the client of this request is (--trusted-proxy, forwarded.h): from
 * a trusted TCP peer's Forwarded, X-Forwarded-For or X-Real-IP, else the
 * client the connection gave.  Per request: a keep-alive connection from
 * a proxy carries many clients' requests.
 */
static void
session_http_forwarded(struct session *s, const struct http_request *req)
{
	const struct forwarded_trust *trust = s->worker->server->trust;
	struct forwarded_addr	      peer, client;
	struct sockaddr_storage	      ss;
	socklen_t		      len = sizeof(ss);
	const char		     *how = NULL;
	int			      r = 0;

	if (trust == NULL)
		return;
	if (s->conn_client_len == 0) {
		s->conn_client = s->client_addr;
		s->conn_client_len = s->client_addr_len;
	}
	/* Judged: who wrote these headers, the connection's client (the
	 * TCP peer, or the client a PROXY header named: behind a TCP-mode
	 * proxy the headers are the client's own, never to be believed). */
	if (forwarded_addr_from_sockaddr((struct sockaddr *)&s->conn_client,
		&peer) == 0 &&
	    forwarded_trusts(trust, &peer))
		r = forwarded_client(req, trust, &client, &how);
	if (r == 1) {
		len = forwarded_addr_to_sockaddr(&client, &ss);
		if (len != s->client_addr_len ||
		    memcmp(&ss, &s->client_addr, len) != 0)
			session_set_client(s, (struct sockaddr *)&ss, len,
			    how);
		return;
	}
	if (r == -1)
		session_debug(s,
		    "%s names no usable address: the client "
		    "stays the connection's",
		    how);
	if (s->conn_client_len != s->client_addr_len ||
	    memcmp(&s->conn_client, &s->client_addr, s->conn_client_len) != 0)
		session_set_client(s, (struct sockaddr *)&s->conn_client,
		    s->conn_client_len, "the connection");
}

/* One request head: web, upgrade, or an error.  0: the connection takes
 * the next request now; otherwise it does not (yet). */
static int
session_http_request(struct session *s, const struct http_request *req,
    size_t head_len)
{
	const struct config *cfg = session_config(s);

	session_http_forwarded(s, req);
	if (handshake_is_upgrade(req))
		return session_upgrade(s, req, head_len) == 0 ? 1 : -1;
	if (cfg->web != NULL)
		return session_http_web(s, req, head_len);
	s->refusal = METRICS_REFUSAL_NOT_WEBSOCKET;
	if (http_method_is(req, "GET"))
		session_http_error(s, req, NULL, 0, 405, NULL,
		    "this port "
		    "serves WebSocket connections only (no --web)");
	else
		session_http_error(s, req, NULL, 0, 405, "Allow: GET\r\n",
		    "method not allowed");
	return -1;
}

/*
 * A plain HTTP request with --web: a file, a listing or an error, and an
 * access-log line (untrusted bytes escaped).  0: the connection takes the
 * next request now; 1: waiting for the reply to drain; -1: closing.
 */
static int
session_http_web(struct session *s, const struct http_request *req,
    size_t head_len)
{
	const struct config *cfg = session_config(s);
	struct evbuffer	    *out = bufferevent_get_output(s->client.bev);
	struct auth_result   ares;
	size_t	    bytes = 0, plen, before = evbuffer_get_length(out);
	const char *note = NULL;
	int	    status, keep_alive;
	char	    method[64], path[4 * SESSION_HTTP_LOG_PATH + 4], cn[256];

	if (cfg->web_auth &&
	    auth_check(cfg, req, session_peer_cn(s, cn, sizeof(cn)), &ares) !=
		0) {
		/* A browser retries a 401 on the same connection. */
		keep_alive = ares.status == 401 && !http_request_has_body(req);
		web_error(out, ares.status, ares.extra_headers, ares.reason,
		    keep_alive, http_method_is(req, "HEAD"));
		status = ares.status;
	} else
		status =
		    web_respond(cfg, req, out, &keep_alive, &bytes, &note);
	METRICS_INC(s->worker, web[metrics_status_index(status)]);
	s->outcome = METRICS_OUTCOME_WEB;
	s->client.bytes_handed += evbuffer_get_length(out) - before;
	plen = req->path_len < SESSION_HTTP_LOG_PATH ? req->path_len :
						       SESSION_HTTP_LOG_PATH;
	log_escape(method, sizeof(method), req->method, req->method_len);
	log_escape_path(path, sizeof(path), req->path, plen);
	session_info(s, "%s %s %d %zu%s%s%s", method, path, status, bytes,
	    note != NULL ? " (" : "", note != NULL ? note : "",
	    note != NULL ? ")" : "");
	evbuffer_drain(bufferevent_get_input(s->client.bev), head_len);
	if (!keep_alive) {
		s->closer = "web";
		s->phase = SESSION_CLOSING;
		session_client_shutdown(s);
		return -1;
	}
	if (evbuffer_get_length(out) == 0) {
		session_timer_set(s, WSB_KEEPALIVE_TIMEOUT_SEC);
		return 0;
	}
	session_http_wait_drain(s);
	return 1;
}

/*
 * A reply is on its way: no idle timer while it drains (only
 * --send-timeout without progress), and no next request until it is
 * written, so what one connection holds stays bounded.
 */
static void
session_http_wait_drain(struct session *s)
{
	evtimer_del(s->timer);
	s->web_waiting = 1;
	s->client.paused_by_self = 1;
	side_set_reading(&s->client);
	bufferevent_setwatermark(s->client.bev, EV_WRITE, 0, 0);
	side_set_send_timeout(&s->client);
}

/* The client's output drained: after a --web reply, idle time starts and
 * the next request is taken. */
static void
session_http_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (!s->web_waiting ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	s->web_waiting = 0;
	s->client.paused_by_self = 0;
	side_set_reading(&s->client);
	bufferevent_set_timeouts(bev, NULL, NULL);
	session_timer_set(s, WSB_KEEPALIVE_TIMEOUT_SEC);
	session_http_next(s);
}

/* TLS established, or the client went away (or stalled) before any
 * upgrade. */
static void
session_http_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		s->tls_done = 1;
		METRICS_INC(s->worker, tls_handshakes);
		session_debug(s, "TLS established");
		return;
	}
	if (s->client.tls && (what & BEV_EVENT_ERROR))
		session_log_tls_error(s, bev, "TLS handshake failed");
	if (what & BEV_EVENT_TIMEOUT)
		session_info(s, "client took no bytes for %d s, dropped",
		    session_config(s)->send_timeout);
	s->closer = "client (before the handshake)";
	session_end(s);
}

/*
 * The request for a log line, every byte escaped: method and path, and
 * the Origin when there is one; or, for a head that does not parse (req
 * NULL), its first line as sent.
 */
static void
session_http_describe(const struct http_request *req, const char *raw,
    size_t rawlen, char *buf, size_t len)
{
	char	    m[64], p[WSB_LOG_VALUE_MAX], o[WSB_LOG_VALUE_MAX];
	const char *origin, *eol;
	size_t	    olen = 0;

	if (req == NULL) {
		if ((eol = memchr(raw, '\n', rawlen)) != NULL)
			rawlen = (size_t)(eol - raw);
		log_escape_path(p, sizeof(p), raw, rawlen);
		snprintf(buf, len, "\"%s\"", p);
		return;
	}
	log_escape(m, sizeof(m), req->method, req->method_len);
	log_escape_path(p, sizeof(p), req->path, req->path_len);
	origin = http_header_get(req, "Origin", &olen);
	if (origin != NULL)
		log_escape(o, sizeof(o), origin, olen);
	snprintf(buf, len, "\"%s %s\"%s%s%s", m, p,
	    origin != NULL ? ", origin \"" : "", origin != NULL ? o : "",
	    origin != NULL ? "\"" : "");
}

/*
 * Answer with an HTTP error, log why and for which request (req, or raw
 * bytes when the head did not parse; both NULL: none), and close after
 * the flush.  SESSION_ENDED if the session ended.
 */
int
session_http_error(struct session *s, const struct http_request *req,
    const char *raw, size_t rawlen, int status, const char *extra,
    const char *reason)
{
	char what[3 * WSB_LOG_VALUE_MAX];

	what[0] = '\0';
	if (req != NULL || raw != NULL)
		session_http_describe(req, raw, rawlen, what, sizeof(what));
	session_info(s, "HTTP %d %s: %s%s%s", status, http_status_text(status),
	    reason, what[0] != '\0' ? ", request " : "", what);
	return session_http_reply_error(s, status, extra, reason);
}

/* Send the error reply (the caller logged why), then close after the
 * flush.  SESSION_ENDED if the session ended. */
int
session_http_reply_error(struct session *s, int status, const char *extra,
    const char *reason)
{
	char buf[512];
	int  n;

	METRICS_INC(s->worker,
	    refusals[s->refusal][metrics_status_index(status)]);
	s->outcome = METRICS_OUTCOME_REFUSED;
	if ((n = http_format_error(buf, sizeof(buf), status, extra, reason)) >
	    0)
		side_queue(&s->client, buf, (size_t)n);
	s->closer = "bridge";
	s->phase = SESSION_CLOSING;
	return session_client_shutdown(s);
}
