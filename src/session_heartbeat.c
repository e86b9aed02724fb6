/*
 * --heartbeat: a Ping to the client every interval, and the verdict on a
 * client that neither answers nor moves a byte.  Progress, not elapsed
 * time: a Ping queued behind data is not late.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "frame.h"
#include "io.h"
#include "session_int.h"
#include "worker.h"
#include "wsb_config.h"
#include "wsb_limits.h"

static unsigned long long session_heartbeat_progress(const struct session *);
static void		  session_heartbeat_timeout(struct session *);

/*
 * Client progress: bytes read from it and bytes its TCP acknowledged
 * (written less the unacknowledged queue, SIOCOUTQ).  It changes while a
 * slow reader reads, even when the bridge cannot write anything new.
 */
static unsigned long long
session_heartbeat_progress(const struct session *s)
{
	const struct side *c = &s->client;

	return c->bytes_read + side_bytes_written(c) -
	    io_unacked(bufferevent_getfd(c->bev));
}

/*
 * Every --heartbeat seconds: Ping the client (one at a time).  A Ping
 * queued behind data is not late: the client is alive while it reads or
 * acknowledges bytes; it is dropped only when its Ping is unanswered and
 * nothing moved for a whole interval.
 */
void
session_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;
	struct evbuffer *scratch = s->worker->scratch;
	uint8_t		 hdr[WSB_MAX_FRAME_HEADER];
	size_t		 hl;

	if (s->client.bev == NULL || s->close_sent)
		return;
	/*
	 * A client the bridge is not reading cannot be heard answering: while
	 * backpressure pauses it, it gets a Ping every interval, which a
	 * client that is gone answers with a reset (seen by the look at the
	 * paused side), and is never judged.
	 */
	if (s->ping_outstanding && s->client.reading &&
	    session_heartbeat_progress(s) == s->heartbeat_seen) {
		session_heartbeat_timeout(s);
		return;
	}
	if (!s->ping_outstanding || !s->client.reading) {
		hl = frame_encode_header(hdr, 1, FRAME_OP_PING, 0, NULL);
		evbuffer_add(scratch, hdr, hl);
		side_send(&s->client, scratch);
		s->ping_outstanding = 1;
	}
	s->heartbeat_seen = session_heartbeat_progress(s);
}

/*
 * No Pong and no progress for an interval: the client is taken for dead,
 * so the target is closed at once (as on a reset); the client still gets
 * Close 1011, flushed, which also brings a reset from a client that is
 * gone.
 */
static void
session_heartbeat_timeout(struct session *s)
{
	session_info(s,
	    "heartbeat timeout: no pong and no bytes moved "
	    "within %d s",
	    session_config(s)->heartbeat);
	s->closer = "bridge (heartbeat timeout)";
	s->close_code = CLOSE_INTERNAL_ERROR;
	session_relay_send_close(s, CLOSE_INTERNAL_ERROR, "heartbeat timeout");
	side_free(&s->target);
	if (session_target_shutdown(s) == SESSION_ENDED)
		return;
	session_client_shutdown(s);
}
