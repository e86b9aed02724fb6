/*
 * The upgrade phase of a session: check the handshake (RFC 6455 4.2.1)
 * and auth, choose the target, connect it without blocking, then answer
 * 101 and start the relay, or Close 1011 saying what failed.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "auth.h"
#include "handshake.h"
#include "http.h"
#include "session_int.h"
#include "target.h"
#include "tls.h"
#include "worker.h"
#include "wsb_config.h"
#include "wsb_limits.h"

/* Longest request path shown in a log line, before escaping. */
#define SESSION_UPGRADE_LOG_PATH 256

static void session_upgrade_connected_cb(struct bufferevent *, const char *,
    const char *, void *);
static void session_upgrade_hold_cb(struct bufferevent *, void *);
static void session_upgrade_event_cb(struct bufferevent *, short, void *);
static void session_upgrade_choose_target(struct session *,
    struct target_spec *);
static void session_upgrade_log(struct session *, const struct http_request *,
    const struct target_spec *);

/*
 * An upgrade request's head (head_len bytes, still in the input): refuse
 * it with an HTTP status, or accept it and connect the target.  Returns
 * 0 when connecting, SESSION_ENDED or -1 when refused.
 */
int
session_upgrade(struct session *s, const struct http_request *req,
    size_t head_len)
{
	const struct config    *cfg = session_config(s);
	struct handshake_result res;
	struct auth_result	ares;
	struct target_spec	spec;
	struct target_connect  *tc;

	if (handshake_check(req, &res) != 101) {
		session_http_error(s, req, NULL, 0, res.status,
		    res.extra_headers, res.reason);
		return -1;
	}
	if (auth_check(cfg, req, &ares) != 0) {
		session_http_error(s, req, NULL, 0, ares.status,
		    ares.extra_headers, ares.reason);
		return -1;
	}
	memcpy(s->accept, res.accept, sizeof(s->accept));
	s->protocol_binary = res.protocol != NULL;
	session_upgrade_choose_target(s, &spec);
	session_upgrade_log(s, req, &spec);
	evbuffer_drain(bufferevent_get_input(s->client.bev), head_len);
	evtimer_del(s->timer);
	/* Frames that follow wait in the input until the target is up;
	 * reading goes on (an EOF is seen at once), up to the high mark. */
	bufferevent_setcb(s->client.bev, session_upgrade_hold_cb, NULL,
	    session_upgrade_event_cb, s);
	s->upgraded = 1;
	s->phase = SESSION_CONNECTING;
	tc = target_connect_start(s->worker->base, s->worker->dns, &spec,
	    session_upgrade_connected_cb, s);
	if (s->phase == SESSION_CONNECTING)
		s->connecting = tc;
	return 0;
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

/* The client's EOF while the target connects: paused, it is read again
 * when the relay starts (EOF stays readable) and handled there.  Errors
 * and timeouts end the session as in the relay. */
static void
session_upgrade_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if ((what & BEV_EVENT_EOF) && s->phase == SESSION_CONNECTING) {
		s->client.paused_by_peer = 1;
		side_set_reading(&s->client);
		return;
	}
	session_relay_client_event_cb(bev, what, arg);
}

/* The target for this session: today the one on the command line. */
static void
session_upgrade_choose_target(struct session *s, struct target_spec *spec)
{
	const struct config *cfg = session_config(s);

	memset(spec, 0, sizeof(*spec));
	spec->host = cfg->target_host;
	spec->port = cfg->target_port;
	spec->unix_path = cfg->unix_target;
	spec->tls = cfg->ssl_target;
}

/* The connection line: scheme, path and client certificate escaped. */
static void
session_upgrade_log(struct session *s, const struct http_request *req,
    const struct target_spec *spec)
{
	char   path[4 * SESSION_UPGRADE_LOG_PATH + 4];
	char   subject[256], esc[4 * sizeof(subject) + 4];
	size_t plen;

	plen = req->path_len < SESSION_UPGRADE_LOG_PATH ?
	    req->path_len :
	    SESSION_UPGRADE_LOG_PATH;
	log_escape(path, sizeof(path), req->path, plen);
	subject[0] = esc[0] = '\0';
	if (s->client.tls) {
		tls_peer_subject(bufferevent_openssl_get_ssl(s->client.bev),
		    subject, sizeof(subject));
		log_escape(esc, sizeof(esc), subject, strlen(subject));
	}
	session_info(s, "%s connection, path %s, target %s%s%s",
	    s->client.tls ? "WebSocket TLS (wss://)" : "WebSocket (ws://)",
	    path,
	    target_describe(spec, s->target_name, sizeof(s->target_name)),
	    esc[0] != '\0' ? ", client certificate " : "", esc);
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
