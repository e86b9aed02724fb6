/*
 * The upgrade phase of a session: check the handshake (RFC 6455 4.2.1)
 * and auth, choose the target (the fixed one, or by token without
 * blocking), connect it without blocking, then answer 101 and start the
 * relay, or Close 1011 saying what failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "auth.h"
#include "handshake.h"
#include "http.h"
#include "proxy_proto.h"
#include "metrics.h"
#include "session_int.h"
#include "target.h"
#include "tls.h"
#include "token.h"
#include "worker.h"
#include "wsb_config.h"
#include "wsb_limits.h"

/* Longest request path shown in a log line, before escaping. */
#define SESSION_UPGRADE_LOG_PATH 256
/* Room for a token's target ("unix_socket:PATH" or "host:port"). */
#define SESSION_TARGET_MAX 512

/* A lookup's answer kept while token_lookup_start() has not returned. */
struct session_answer {
	int		  answered;
	enum token_result result;
	char		  target[SESSION_TARGET_MAX];
	char		  why[128];
};

static void session_upgrade_connected_cb(struct bufferevent *, const char *,
    const char *, void *);
static void session_upgrade_hold_cb(struct bufferevent *, void *);
static void session_upgrade_event_cb(struct bufferevent *, short, void *);
static int  session_upgrade_lookup(struct session *,
     const struct http_request *, size_t);
static void session_upgrade_token_cb(enum token_result, const char *,
    const char *, void *);
static void session_upgrade_answer(struct session *, enum token_result,
    const char *, const char *);
static void session_upgrade_connect(struct session *,
    const struct target_spec *);
static int  session_upgrade_describe(struct session *,
     const struct http_request *);
static void session_upgrade_hide_token(struct session *,
    const struct target_spec *);
static int  session_upgrade_limit(struct session *,
     const struct http_request *);

/* Microseconds on the monotonic clock (token lookup latency). */
static long long
session_upgrade_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * --max-connections and --max-connections-per-ip (the client's real
 * address): count this WebSocket session, before any token lookup or
 * target connect, or answer 503 with one log line.  0, or -1 when
 * refused.
 */
static int
session_upgrade_limit(struct session *s, const struct http_request *req)
{
	const struct config *cfg = session_config(s);
	const char	    *why;
	int		     r;

	if (cfg->max_connections <= 0 && cfg->max_connections_per_ip <= 0)
		return 0;
	r = connlimit_acquire(cfg->max_connections,
	    cfg->max_connections_per_ip,
	    (const struct sockaddr *)&s->client_addr, &s->limit);
	switch (r) {
	case 0:
		return 0;
	case CONNLIMIT_TOTAL:
		s->refusal = METRICS_REFUSAL_MAX_CONNECTIONS;
		why = "too many WebSocket sessions (--max-connections)";
		break;
	case CONNLIMIT_PER_ADDR:
		s->refusal = METRICS_REFUSAL_MAX_CONNECTIONS_PER_IP;
		why = "too many WebSocket sessions from this address "
		      "(--max-connections-per-ip)";
		break;
	default:
		s->refusal = METRICS_REFUSAL_INTERNAL;
		why = "out of memory";
		break;
	}
	session_http_error(s, req, NULL, 0, 503, NULL, why);
	return -1;
}

/*
 * An upgrade request's head (head_len bytes, still in the input): refuse
 * it with an HTTP status, or accept it and connect the target (at once,
 * or once its token is looked up).  Returns 0 when going on,
 * SESSION_ENDED or -1 when refused.
 */
int
session_upgrade(struct session *s, const struct http_request *req,
    size_t head_len)
{
	const struct config    *cfg = session_config(s);
	struct handshake_result res;
	struct auth_result	ares;
	struct target_spec	spec;
	char			cn[256];

	if (handshake_check(req, &res) != 101) {
		s->refusal = METRICS_REFUSAL_HANDSHAKE;
		session_http_error(s, req, NULL, 0, res.status,
		    res.extra_headers, res.reason);
		return -1;
	}
	if (auth_check(cfg, req, session_peer_cn(s, cn, sizeof(cn)), &ares) !=
	    0) {
		s->refusal = METRICS_REFUSAL_AUTH;
		session_http_error(s, req, NULL, 0, ares.status,
		    ares.extra_headers, ares.reason);
		return -1;
	}
	if (session_upgrade_limit(s, req) == -1)
		return -1;
	memcpy(s->accept, res.accept, sizeof(s->accept));
	s->protocol_binary = res.protocol != NULL;
	if (s->worker->server->tokens != NULL)
		return session_upgrade_lookup(s, req, head_len);
	if (session_upgrade_describe(s, req) == -1)
		return -1;
	evbuffer_drain(bufferevent_get_input(s->client.bev), head_len);
	memset(&spec, 0, sizeof(spec));
	spec.host = cfg->target_host;
	spec.port = cfg->target_port;
	spec.unix_path = cfg->unix_target;
	spec.tls = cfg->ssl_target;
	session_upgrade_connect(s, &spec);
	return 0;
}

/*
 * Take the token and start its lookup, draining the head (head_len
 * bytes); the handshake deadline keeps running.  0 while going on, -1
 * (the session ended or is closing) when refused.
 */
static int
session_upgrade_lookup(struct session *s, const struct http_request *req,
    size_t head_len)
{
	const struct config  *cfg = session_config(s);
	struct worker	     *w = s->worker;
	struct session_answer answer;
	struct token_lookup  *l;
	char		      tok[WSB_MAX_TOKEN + 1];
	int		      n;

	n = token_from_request(req, cfg->host_token, tok, sizeof(tok));
	if (n <= 0) {
		s->refusal = METRICS_REFUSAL_TOKEN;
		session_http_error(s, req, NULL, 0, 400, NULL,
		    n == 0 ?
			(cfg->host_token ? "no token (empty Host header)" :
					   "no token in the request") :
			"malformed or overlong token");
		return -1;
	}
	token_fingerprint(tok, (size_t)n, s->token_fp);
	if (session_upgrade_describe(s, req) == -1)
		return -1;
	evbuffer_drain(bufferevent_get_input(s->client.bev), head_len);
	if (w->tokens == NULL &&
	    (w->tokens = token_worker_create(w->server->tokens, w->base)) ==
		NULL) {
		session_upgrade_answer(s, TOKEN_UNAVAILABLE, NULL,
		    "out of memory");
		return -1;
	}
	/* Frames that follow wait in the input (up to the high mark). */
	bufferevent_setcb(s->client.bev, session_upgrade_hold_cb, NULL,
	    session_upgrade_event_cb, s);
	s->phase = SESSION_LOOKUP;
	memset(&answer, 0, sizeof(answer));
	s->answer = &answer;
	s->lookup_us = session_upgrade_now_us();
	l = token_lookup_start(w->tokens, tok, (size_t)n,
	    session_upgrade_token_cb, s);
	explicit_bzero(tok, (size_t)n);
	s->answer = NULL;
	if (l != NULL) {
		s->lookup = l;
		return 0;
	}
	session_upgrade_answer(s, answer.result,
	    answer.result == TOKEN_FOUND ? answer.target : NULL,
	    answer.why[0] != '\0' ? answer.why : NULL);
	return 0;
}

/* The plugin answered: at once (kept for session_upgrade_lookup) or
 * later, from the loop. */
static void
session_upgrade_token_cb(enum token_result r, const char *target,
    const char *why, void *arg)
{
	struct session *s = arg;

	if (s->answer != NULL) {
		s->answer->answered = 1;
		s->answer->result = r;
		snprintf(s->answer->target, sizeof(s->answer->target), "%s",
		    target != NULL ? target : "");
		snprintf(s->answer->why, sizeof(s->answer->why), "%s",
		    why != NULL ? why : "");
		return;
	}
	s->lookup = NULL;
	session_upgrade_answer(s, r, target, why);
}

/* Act on a lookup's answer: connect, 403 or 503, with one log line. */
static void
session_upgrade_answer(struct session *s, enum token_result r,
    const char *target, const char *why)
{
	struct target_spec spec;
	char		   buf[SESSION_TARGET_MAX], esc[4 * 128 + 4];
	int		   status = r == TOKEN_UNAVAILABLE ? 503 : 403;

	if (s->lookup_us != 0) {
		METRICS_INC(s->worker, token[r]);
		metrics_observe(&METRICS(s->worker)->token_latency,
		    (unsigned long long)(session_upgrade_now_us() -
			s->lookup_us));
		s->lookup_us = 0;
	}
	s->refusal = METRICS_REFUSAL_TOKEN;
	memset(&spec, 0, sizeof(spec));
	if (r == TOKEN_FOUND &&
	    token_target_parse(target, &spec, buf, sizeof(buf)) == -1) {
		why = "the token's target is not host:port or "
		      "unix_socket:PATH";
		status = 403;
		r = TOKEN_NOT_FOUND;
	}
	if (r != TOKEN_FOUND) {
		esc[0] = '\0';
		if (why != NULL)
			log_escape(esc, sizeof(esc), why, strlen(why));
		session_info(s, "HTTP %d %s: token %s %s%s%s%s, %s", status,
		    http_status_text(status), s->token_fp,
		    status == 503 ? "lookup failed" : "refused",
		    esc[0] != '\0' ? " (" : "", esc, esc[0] != '\0' ? ")" : "",
		    s->upgrade_log);
		session_http_reply_error(s, status, NULL,
		    status == 503 ? "token lookup unavailable" :
				    "invalid token");
		return;
	}
	spec.tls = session_config(s)->ssl_target;
	session_upgrade_connect(s, &spec);
}

/* The handshake deadline passed during the lookup: 503. */
void
session_upgrade_deadline(struct session *s)
{
	token_lookup_cancel(s->lookup);
	s->lookup = NULL;
	session_upgrade_answer(s, TOKEN_UNAVAILABLE, NULL,
	    "no answer before the handshake deadline");
}

/* A Unix socket named like the token (UnixDomainSocketDirectory): its
 * name is the token, a secret; the log shows its fingerprint instead. */
static void
session_upgrade_hide_token(struct session *s, const struct target_spec *spec)
{
	const char *base;
	char	    fp[9];

	if (s->token_fp[0] == '\0' || spec->unix_path == NULL ||
	    (base = strrchr(spec->unix_path, '/')) == NULL)
		return;
	base++;
	if (strcmp(token_fingerprint(base, strlen(base), fp), s->token_fp) !=
	    0)
		return;
	snprintf(s->target_name, sizeof(s->target_name), "unix:%.*s<token %s>",
	    (int)(base - spec->unix_path) > 100 ?
		100 :
		(int)(base - spec->unix_path),
	    spec->unix_path, s->token_fp);
}

/* Connect spec: the client is held (reading on, up to the high mark)
 * until the target answers. */
static void
session_upgrade_connect(struct session *s, const struct target_spec *spec)
{
	struct target_connect *tc;
	struct target_spec     sp;
	char		       hdr[PROXY_PROTO_BUILD_MAX];
	int		       n;

	target_describe(spec, s->target_name, sizeof(s->target_name));
	session_upgrade_hide_token(s, spec);
	session_info(s, "%s, target %s%s%s", s->upgrade_log, s->target_name,
	    s->token_fp[0] != '\0' ? ", token " : "", s->token_fp);
	free(s->upgrade_log);
	s->upgrade_log = NULL;
	evtimer_del(s->timer);
	bufferevent_setcb(s->client.bev, session_upgrade_hold_cb, NULL,
	    session_upgrade_event_cb, s);
	s->upgraded = 1;
	METRICS_INC(s->worker, websockets);
	s->phase = SESSION_CONNECTING;
	sp = *spec; /* with --target-proxy-protocol, a PROXY header first */
	n = session_proxy_target_header(s, hdr, sizeof(hdr));
	sp.preamble = n > 0 ? hdr : NULL;
	sp.preamble_len = n > 0 ? (size_t)n : 0;
	tc = target_connect_start(s->worker->base, s->worker->dns, &sp,
	    session_upgrade_connected_cb, s);
	if (s->phase == SESSION_CONNECTING)
		s->connecting = tc;
}

/* Client bytes while the target connects: kept for the relay; past the
 * high mark the client is paused until the relay starts. */
static void
session_upgrade_hold_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (evbuffer_get_length(bufferevent_get_input(bev)) >=
		WSB_HIGH_WATER &&
	    !s->client.paused_by_peer) {
		s->client.paused_by_peer = 1;
		side_set_reading(&s->client);
	}
}

/* The client's EOF or error while the token is looked up: it left, the
 * lookup is cancelled.  Its EOF while the target connects: paused, it is
 * read again when the relay starts (EOF stays readable) and handled
 * there.  Errors and timeouts end the session as in the relay. */
static void
session_upgrade_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) &&
	    s->phase == SESSION_LOOKUP) {
		/* Gone before its 101: nothing to look up for. */
		session_info(s, "client closed during the lookup of token %s",
		    s->token_fp);
		s->closer = "client";
		session_end(s);
		return;
	}
	if ((what & BEV_EVENT_EOF) && s->phase == SESSION_CONNECTING) {
		s->client.paused_by_peer = 1;
		side_set_reading(&s->client);
		return;
	}
	session_relay_client_event_cb(bev, what, arg);
}

/* The start of the connection line, kept until the target is known:
 * scheme, path (token values hidden) and client certificate, escaped.
 * -1 (the session is closing) when out of memory. */
static int
session_upgrade_describe(struct session *s, const struct http_request *req)
{
	char   path[4 * SESSION_UPGRADE_LOG_PATH + 4];
	char   subject[256], esc[4 * sizeof(subject) + 4];
	size_t plen, len;

	plen = req->path_len < SESSION_UPGRADE_LOG_PATH ?
	    req->path_len :
	    SESSION_UPGRADE_LOG_PATH;
	log_escape_path(path, sizeof(path), req->path, plen);
	subject[0] = esc[0] = '\0';
	if (s->client.tls) {
		tls_peer_subject(bufferevent_openssl_get_ssl(s->client.bev),
		    subject, sizeof(subject));
		log_escape(esc, sizeof(esc), subject, strlen(subject));
	}
	len = strlen(path) + strlen(esc) + 96;
	free(s->upgrade_log);
	if ((s->upgrade_log = malloc(len)) == NULL) {
		s->refusal = METRICS_REFUSAL_INTERNAL;
		session_http_reply_error(s, 503, NULL, "out of memory");
		return -1;
	}
	snprintf(s->upgrade_log, len, "%s connection, path %s%s%s",
	    s->client.tls ? "WebSocket TLS (wss://)" : "WebSocket (ws://)",
	    path, esc[0] != '\0' ? ", client certificate " : "", esc);
	return 0;
}

/*
 * The target connected (bev), or could not be reached (reason for the
 * client, detail for the log).  Either way the client gets its 101:
 * browsers show Close reasons, not HTTP statuses.
 */
static void
session_upgrade_connected_cb(struct bufferevent *bev, const char *reason,
    const char *detail, void *arg)
{
	struct session	       *s = arg;
	struct handshake_result res;
	char			buf[256];
	int			n;

	s->connecting = NULL;
	memset(&res, 0, sizeof(res));
	memcpy(res.accept, s->accept, sizeof(res.accept));
	res.protocol = s->protocol_binary ? "binary" : NULL;
	/* Written at once: queueing it would cost a write event. */
	if ((n = handshake_format_101(buf, sizeof(buf), &res)) > 0 &&
	    evbuffer_add(s->worker->scratch, buf, (size_t)n) == 0)
		side_send(&s->client, s->worker->scratch);
	s->phase = SESSION_RELAY;
	if (bev == NULL) {
		session_warn(s, "%s", detail);
		session_relay_refuse(s, reason);
		return;
	}
	side_attach(&s->target, bev, NULL, NULL, NULL);
	session_debug(s, "target connected");
	session_relay_start(s);
}
