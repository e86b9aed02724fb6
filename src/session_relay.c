/*
 * The relay phase of a session: client frames unmasked in place and
 * streamed to the target, target bytes framed and moved to the client,
 * control frames and the Close handshake, backpressure both ways (every
 * byte owed to a side counts, Pongs and Close included) and half-close
 * (the heartbeat is in session_heartbeat.c).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "frame.h"
#include "io.h"
#include "metrics.h"
#include "record.h"
#include "session_int.h"
#include "worker.h"
#include "wsb_config.h"
#include "wsb_limits.h"

static void session_relay_client_read_cb(struct bufferevent *, void *);
static void session_relay_client_write_cb(struct bufferevent *, void *);
static void session_relay_target_read_cb(struct bufferevent *, void *);
static void session_relay_target_write_cb(struct bufferevent *, void *);
static void session_relay_target_event_cb(struct bufferevent *, short, void *);
static int  session_relay_frames(struct session *);
static int  session_relay_frame_header(struct session *, struct evbuffer *,
     size_t);
static int  session_relay_control(struct session *, uint8_t *, size_t);
static void session_relay_unmask_move(struct session *, struct evbuffer *,
    struct evbuffer *, size_t);
static void session_relay_to_target(struct session *, struct evbuffer *);
static int  session_relay_protocol_error(struct session *,
     const struct frame_error *);
static void session_relay_to_client(struct session *);
static void session_relay_target_lost(struct session *, int, const char *);
static int  session_relay_half_close(struct session *);
static void session_relay_target_fin(struct session *);

/* Both sides connected and the 101 queued: relay both ways. */
void
session_relay_start(struct session *s)
{
	const struct config *cfg = session_config(s);
	struct timeval	     tv = { cfg->heartbeat, 0 };

	/* --record: from the 101 on, as websockify's handle_websocket. */
	s->record = record_open(cfg->record, s->id, s->peer);
	bufferevent_setcb(s->client.bev, session_relay_client_read_cb,
	    session_relay_client_write_cb, session_relay_client_event_cb, s);
	bufferevent_setcb(s->target.bev, session_relay_target_read_cb,
	    session_relay_target_write_cb, session_relay_target_event_cb, s);
	bufferevent_setwatermark(s->client.bev, EV_WRITE, WSB_LOW_WATER, 0);
	bufferevent_setwatermark(s->target.bev, EV_WRITE, WSB_LOW_WATER, 0);
	side_set_send_timeout(&s->client);
	side_set_send_timeout(&s->target);
	s->client.paused_by_peer = 0;
	side_set_reading(&s->client);
	if (cfg->heartbeat > 0) {
		s->heartbeat = event_new(s->worker->base, -1, EV_PERSIST,
		    session_heartbeat_cb, s);
		if (s->heartbeat != NULL)
			evtimer_add(s->heartbeat, &tv);
	}
	/* Frames that came with the request head. */
	if (evbuffer_get_length(bufferevent_get_input(s->client.bev)) > 0)
		session_relay_frames(s);
}

/* The target could not be reached: Close 1011 with reason (no internal
 * addresses) and wait for the client's Close. */
void
session_relay_refuse(struct session *s, const char *reason)
{
	s->closer = "target";
	s->close_code = CLOSE_INTERNAL_ERROR;
	s->record = record_open(session_config(s)->record, s->id, s->peer);
	bufferevent_setcb(s->client.bev, session_relay_client_read_cb,
	    session_relay_client_write_cb, session_relay_client_event_cb, s);
	side_set_send_timeout(&s->client);
	session_relay_send_close(s, CLOSE_INTERNAL_ERROR, reason);
	s->client.paused_by_peer = 0;
	side_set_reading(&s->client);
	/* The client's Close may have come with the request head. */
	if (evbuffer_get_length(bufferevent_get_input(s->client.bev)) > 0)
		session_relay_frames(s);
}

/* Client bytes: frames. */
static void
session_relay_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	int		err;

	err = side_read_more(&s->client);
	if (session_relay_frames(s) == SESSION_ENDED)
		return;
	if (err != 0 && s->client.bev == bev)
		side_report(&s->client, err);
}

/*
 * Decode client frames and stream data payload to the target as it
 * arrives: nothing waits for a whole frame or message; only control
 * frames (at most 125 bytes) wait until complete.  A Ping that arrives
 * while the client's output is above the high mark waits, and the
 * client is not read, until that output drains.  SESSION_ENDED if the
 * session ended.
 */
static int
session_relay_frames(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->client.bev);
	struct evbuffer *pending = s->worker->scratch;
	size_t		 avail, n;
	int		 r;

	while (s->client.shutdown == SIDE_OPEN && !s->client.paused_by_self &&
	    (avail = evbuffer_get_length(in)) > 0) {
		if (!s->in_frame) {
			r = session_relay_frame_header(s, in, avail);
			if (r == SESSION_ENDED)
				return SESSION_ENDED;
			if (r == 1)
				break;
			continue;
		}
		n = avail < s->remaining ? avail : (size_t)s->remaining;
		if (s->close_sent || s->target.bev == NULL ||
		    s->target.shutdown != SIDE_OPEN)
			evbuffer_drain(in, n);
		else
			session_relay_unmask_move(s, in, pending, n);
		s->offset += n;
		s->remaining -= n;
		if (s->remaining == 0)
			s->in_frame = 0;
	}
	session_relay_to_target(s, pending);
	/* Backpressure: a slow target stops the client. */
	if (side_output_full(&s->target) && !s->client.paused_by_peer) {
		s->client.paused_by_peer = 1;
		side_set_reading(&s->client);
	}
	return 0;
}

/*
 * A frame header at the head of the input (avail bytes): a control frame
 * is handled whole, a data frame's payload starts streaming.  0: go on;
 * 1: wait for more bytes (or for the client's output to drain);
 * SESSION_ENDED.
 */
static int
session_relay_frame_header(struct session *s, struct evbuffer *in,
    size_t avail)
{
	struct frame_error err;
	uint8_t		   buf[WSB_MAX_FRAME_HEADER + WSB_MAX_CONTROL_PAYLOAD];
	size_t		   n;
	int		   r;

	n = avail < WSB_MAX_FRAME_HEADER ? avail : WSB_MAX_FRAME_HEADER;
	evbuffer_copyout(in, buf, n);
	r = frame_decode_header(buf, n, 1, &s->fh, &err);
	if (r == -2)
		return 1;
	if (r == -1)
		return session_relay_protocol_error(s, &err);
	if (s->fh.opcode & 0x8) {
		if (avail < (size_t)r + s->fh.length)
			return 1;
		if (s->fh.opcode == FRAME_OP_PING && !s->close_sent &&
		    side_output_full(&s->client)) {
			/* Its Pong would pass the high mark. */
			s->client.paused_by_self = 1;
			side_set_reading(&s->client);
			return 1;
		}
		session_relay_to_target(s, s->worker->scratch);
		evbuffer_drain(in, (size_t)r);
		n = (size_t)s->fh.length;
		evbuffer_remove(in, buf, n);
		frame_unmask(buf, n, s->fh.mask, 0);
		return session_relay_control(s, buf, n);
	}
	if (frame_check_sequence(&s->msg, &s->fh, &err) == -1)
		return session_relay_protocol_error(s, &err);
	evbuffer_drain(in, (size_t)r);
	s->remaining = s->fh.length;
	s->offset = 0;
	s->in_frame = s->remaining > 0;
	if (session_config(s)->traffic)
		log_traffic('}');
	return 0;
}

/* Send the payload collected for the target (dropped if it is gone). */
static void
session_relay_to_target(struct session *s, struct evbuffer *pending)
{
	size_t n = evbuffer_get_length(pending);

	if (n == 0)
		return;
	record_evbuffer(s->record, RECORD_FROM_CLIENT, pending, n);
	if (s->target.bev == NULL || s->target.shutdown != SIDE_OPEN) {
		evbuffer_drain(pending, evbuffer_get_length(pending));
		return;
	}
	metrics_add(&METRICS(s->worker)->bytes_to_target, n);
	side_send(&s->target, pending);
}

/*
 * Unmask n payload bytes where they lie in the input buffer, then move
 * them to out without copying.  Writing through evbuffer_peek() is safe
 * here: a socket bufferevent's input holds only heap chains it owns,
 * never references or file segments.
 */
static void
session_relay_unmask_move(struct session *s, struct evbuffer *in,
    struct evbuffer *out, size_t n)
{
	struct evbuffer_iovec v[8];
	size_t		      chunk, l;
	uint64_t	      off = s->offset;
	int		      nv, i;

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

/* A whole control frame from the client.  SESSION_ENDED if the session
 * ended. */
static int
session_relay_control(struct session *s, uint8_t *p, size_t len)
{
	struct frame_error err;
	const uint8_t	  *reason;
	size_t		   rlen, hl;
	uint8_t		   hdr[WSB_MAX_FRAME_HEADER];
	char		   rbuf[WSB_MAX_CLOSE_REASON + 1];
	int		   code;

	switch (s->fh.opcode) {
	case FRAME_OP_PING:
		if (!s->close_sent) {
			hl = frame_encode_header(hdr, 1, FRAME_OP_PONG, len,
			    NULL);
			side_queue(&s->client, hdr, hl);
			side_queue(&s->client, p, len);
		}
		return 0;
	case FRAME_OP_PONG:
		s->ping_outstanding = 0;
		return 0;
	default:
		break;
	}
	if (frame_parse_close(p, len, &code, &reason, &rlen, &err) == -1)
		return session_relay_protocol_error(s, &err);
	s->close_received = 1;
	METRICS_INC(s->worker, close_received[metrics_close_index(code)]);
	if (s->close_sent) {
		session_debug(s, "client answered Close %d", code);
		return session_client_shutdown(s);
	}
	s->closer = "client";
	s->close_code = code;
	if (rlen > 0)
		memcpy(rbuf, reason, rlen);
	rbuf[rlen] = '\0';
	if (rlen > 0) {
		char esc[4 * WSB_MAX_CLOSE_REASON + 4];

		log_escape(esc, sizeof(esc), rbuf, rlen);
		session_info(s, "client Close %d, reason \"%s\"", code, esc);
	}
	/* Echo the code and reason; an empty Close gets an empty one. */
	session_relay_send_close(s, code, rbuf);
	if (session_target_shutdown(s) == SESSION_ENDED)
		return SESSION_ENDED;
	return session_client_shutdown(s);
}

/* The client broke RFC 6455: Close with the code, then close both. */
static int
session_relay_protocol_error(struct session *s, const struct frame_error *err)
{
	session_relay_to_target(s, s->worker->scratch);
	session_warn(s, "protocol error: %s (close %d)", err->reason,
	    err->code);
	s->closer = "bridge (protocol error)";
	s->close_code = err->code;
	session_relay_send_close(s, err->code, err->reason);
	if (session_target_shutdown(s) == SESSION_ENDED)
		return SESSION_ENDED;
	return session_client_shutdown(s);
}

/*
 * Queue a Close frame for the client, once.  The wait for the client's
 * Close starts only when ours has been written (see the write callback),
 * so a slow reader still gets everything before it.
 */
void
session_relay_send_close(struct session *s, int code, const char *reason)
{
	uint8_t frame[2 + WSB_MAX_CONTROL_PAYLOAD];
	size_t	n;

	if (s->close_sent || s->client.bev == NULL)
		return;
	n = frame_encode_close(frame, code, reason);
	METRICS_INC(s->worker, close_sent[metrics_close_index(code)]);
	evbuffer_add(s->worker->scratch, frame, n);
	side_send(&s->client, s->worker->scratch);
	s->close_sent = 1;
	s->phase = SESSION_CLOSING;
	if (s->heartbeat != NULL)
		event_del(s->heartbeat);
	bufferevent_setwatermark(s->client.bev, EV_WRITE, 0, 0);
	/* Written at once: the wait for the client's Close starts now. */
	if (evbuffer_get_length(bufferevent_get_output(s->client.bev)) == 0 &&
	    !s->close_wait_armed) {
		s->close_wait_armed = 1;
		session_timer_set(s, WSB_CLOSE_WAIT_SEC);
	}
}

/* The client's output drained to the low mark (to empty once our Close
 * is queued). */
static void
session_relay_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	struct side    *c = &s->client;

	if (s->close_sent) {
		if (!s->close_wait_armed &&
		    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			s->close_wait_armed = 1;
			session_timer_set(s, WSB_CLOSE_WAIT_SEC);
		}
		return;
	}
	if (s->target.paused_by_peer) {
		s->target.paused_by_peer = 0;
		side_set_reading(&s->target);
	}
	if (c->paused_by_self) {
		c->paused_by_self = 0;
		side_set_reading(c);
		session_relay_frames(s);
	}
}

/*
 * EOF, error or send timeout on the client connection (also while the
 * target is being connected).  A reset or a stall closes the target at
 * once.  A plain client's EOF is a half-close: what it sent goes to the
 * target, then the target gets a FIN, and what the target still sends
 * reaches the client until the target closes.
 */
void
session_relay_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	int		abort_target = 0;

	if (s->client.tls && (what & BEV_EVENT_ERROR))
		session_log_tls_error(s, bev, "TLS connection lost");
	if (what & BEV_EVENT_TIMEOUT) {
		session_info(s, "client took no bytes for %d s, dropped",
		    session_config(s)->send_timeout);
		if (s->closer == NULL)
			s->closer = "bridge (client send timeout)";
		abort_target = 1;
	} else if (what & BEV_EVENT_ERROR)
		abort_target = 1;
	if (!s->close_received && s->closer == NULL) {
		session_debug(s, "client connection lost%s%s",
		    what & BEV_EVENT_ERROR ? ": " : "",
		    what & BEV_EVENT_ERROR ? strerror(EVUTIL_SOCKET_ERROR()) :
					     "");
		s->closer = "client (connection lost)";
		s->close_code = 1006;
	}
	if ((what & BEV_EVENT_EOF) && session_relay_half_close(s) == 0)
		return;
	side_free(&s->client);
	if (abort_target)
		side_free(&s->target);
	if (session_target_shutdown(s) == SESSION_ENDED)
		return;
	session_end_if_done(s);
}

/*
 * The client sent EOF: if both sides can carry on half-closed (plain
 * client, plain target, relaying), stop reading the client and send the
 * target a FIN once its output is flushed.  0 if so, -1 if the session
 * closes instead.
 */
static int
session_relay_half_close(struct session *s)
{
	struct side *t = &s->target;

	if (s->client.tls || t->bev == NULL || t->tls ||
	    t->shutdown != SIDE_OPEN || s->phase != SESSION_RELAY)
		return -1;
	s->client.eof = 1;
	side_set_reading(&s->client);
	t->fin_pending = 1;
	bufferevent_setwatermark(t->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(t->bev)) == 0)
		session_relay_target_fin(s);
	s->half_close_seen = t->bytes_read;
	session_timer_set(s, WSB_HALF_CLOSE_IDLE_SEC);
	return 0;
}

/*
 * A half-closed session (the client sent EOF) lasts while the target
 * still sends: after WSB_HALF_CLOSE_IDLE_SEC without a byte from it,
 * both are closed (haproxy's "timeout client-fin").
 */
void
session_relay_half_close_check(struct session *s)
{
	if (s->target.bev != NULL &&
	    s->target.bytes_read != s->half_close_seen) {
		s->half_close_seen = s->target.bytes_read;
		session_timer_set(s, WSB_HALF_CLOSE_IDLE_SEC);
		return;
	}
	session_debug(s, "half-closed and idle for %d s",
	    WSB_HALF_CLOSE_IDLE_SEC);
	side_free(&s->target);
	session_client_shutdown(s);
}

/* The target's output is flushed after the client's EOF: pass it on. */
static void
session_relay_target_fin(struct session *s)
{
	s->target.fin_pending = 0;
	if (shutdown(bufferevent_getfd(s->target.bev), SHUT_WR) == -1)
		session_debug(s, "target: shutdown: %s", strerror(errno));
}

/* Target bytes: framed and moved to the client. */
static void
session_relay_target_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	int		err;

	err = side_read_more(&s->target);
	session_relay_to_client(s);
	if (err != 0 && s->target.bev == bev)
		side_report(&s->target, err);
}

/*
 * Frame whatever the target sent, at most WSB_MAX_OUT_FRAME payload bytes
 * a frame, and move it to the client (chains moved, not copied).
 */
static void
session_relay_to_client(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->target.bev);
	struct evbuffer *scratch = s->worker->scratch;
	uint8_t		 hdr[WSB_MAX_FRAME_HEADER];
	size_t		 n, hl;

	if (evbuffer_get_length(in) == 0)
		return;
	if (s->close_sent || s->client.bev == NULL ||
	    s->client.shutdown != SIDE_OPEN) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	record_evbuffer(s->record, RECORD_TO_CLIENT, in,
	    evbuffer_get_length(in));
	metrics_add(&METRICS(s->worker)->bytes_to_client,
	    evbuffer_get_length(in));
	while ((n = evbuffer_get_length(in)) > 0) {
		if (n > WSB_MAX_OUT_FRAME)
			n = WSB_MAX_OUT_FRAME;
		hl = frame_encode_header(hdr, 1, FRAME_OP_BINARY, n, NULL);
		evbuffer_add(scratch, hdr, hl);
		evbuffer_remove_buffer(in, scratch, n);
		if (session_config(s)->traffic)
			log_traffic('{');
	}
	side_send(&s->client, scratch);
	/* Backpressure: a slow client stops the target. */
	if (side_output_full(&s->client) && !s->target.paused_by_peer) {
		s->target.paused_by_peer = 1;
		side_set_reading(&s->target);
	}
}

/* The target's output drained to the low mark (to empty after the
 * client's EOF): read the client again, or pass the FIN on. */
static void
session_relay_target_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (s->target.fin_pending) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			session_relay_target_fin(s);
		return;
	}
	if (s->client.paused_by_peer && s->client.bev != NULL &&
	    s->client.shutdown == SIDE_OPEN) {
		s->client.paused_by_peer = 0;
		side_set_reading(&s->client);
		if (!s->client.paused_by_self)
			session_relay_frames(s);
	}
}

/* EOF, reset or send timeout on the target connection. */
static void
session_relay_target_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	char		ebuf[96];
	int		err = EVUTIL_SOCKET_ERROR();

	/* What the target sent before it closed goes out first. */
	session_relay_to_client(s);
	if (what & BEV_EVENT_EOF) {
		session_relay_target_lost(s, CLOSE_NORMAL, "target closed");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		session_warn(s, "target %s took no bytes for %d s, dropped",
		    s->target_name, session_config(s)->send_timeout);
		session_relay_target_lost(s, CLOSE_INTERNAL_ERROR,
		    "target timed out");
		return;
	}
	session_warn(s, "target %s: connection lost: %s", s->target_name,
	    strerror_r(err != 0 ? err : ECONNRESET, ebuf, sizeof(ebuf)));
	session_relay_target_lost(s, CLOSE_INTERNAL_ERROR,
	    "target connection lost");
}

/* The target went away: Close the client with code and reason once what
 * it is owed is written, and read on for its Close (a Ping that was
 * waiting for the output to drain is not answered any more). */
static void
session_relay_target_lost(struct session *s, int code, const char *reason)
{
	struct side *c = &s->client;

	side_free(&s->target);
	if (s->closer == NULL) {
		s->closer = "target";
		s->close_code = code;
	}
	session_relay_send_close(s, code, reason);
	if (c->bev == NULL) {
		session_end_if_done(s);
		return;
	}
	if (c->paused_by_peer || c->paused_by_self) {
		c->paused_by_peer = c->paused_by_self = 0;
		side_set_reading(c);
		session_relay_frames(s);
	}
}
