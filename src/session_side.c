/*
 * One side of a session, client or target, written once for both: set-up
 * (counting bytes as they cross the socket), reading (our own reads of a
 * plain socket, libevent's for TLS), pause and resume, the look at a
 * paused side for its peer's reset, sending, and freeing.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "io.h"
#include "session_int.h"
#include "worker.h"
#include "wsb_config.h"
#include "wsb_limits.h"

static void side_watch_cb(evutil_socket_t, short, void *);
static void side_read_cb(evutil_socket_t, short, void *);
static void side_read_switch(struct side *, int);
static void side_count_cb(struct evbuffer *, const struct evbuffer_cb_info *,
    void *);

/*
 * Make bev the side's connection, with callbacks (NULL: none yet),
 * counting bytes as they cross the socket, reading and writing.
 */
void
side_attach(struct side *side, struct bufferevent *bev,
    void (*readcb)(struct bufferevent *, void *),
    void (*writecb)(struct bufferevent *, void *),
    void (*eventcb)(struct bufferevent *, short, void *))
{
	side->bev = bev;
	side->shutdown = SIDE_OPEN;
	bufferevent_set_max_single_read(bev, WSB_MAX_SINGLE_IO);
	bufferevent_set_max_single_write(bev, WSB_MAX_SINGLE_IO);
	/* Our reads of a plain socket count themselves; libevent's (TLS)
	 * are counted as they reach the input. */
	if (bufferevent_openssl_get_ssl(bev) != NULL)
		evbuffer_add_cb(bufferevent_get_input(bev), side_count_cb,
		    side);
	bufferevent_setcb(bev, readcb, writecb, eventcb, side->session);
	/*
	 * A socket bufferevent starts with EV_WRITE enabled and its write
	 * event not added: libevent adds it when bytes are queued.
	 * Enabling EV_WRITE with nothing queued would add the event, wake
	 * once and remove it (two epoll_ctl).  TLS needs both for its
	 * handshake.
	 */
	if (bufferevent_openssl_get_ssl(bev) != NULL ||
	    (bufferevent_get_enabled(bev) & EV_WRITE) == 0)
		bufferevent_enable(bev, EV_WRITE);
	/* A plain socket is read here, not by libevent (see side_read_cb);
	 * without memory for the event, libevent reads it. */
	if (bufferevent_openssl_get_ssl(bev) == NULL)
		side->rev = event_new(side->session->worker->base,
		    bufferevent_getfd(bev), EV_READ | EV_PERSIST, side_read_cb,
		    side);
	side_read_switch(side, 1);
	side->reading = 1;
}

/* Start or stop reading a side: our read event or libevent's. */
static void
side_read_switch(struct side *side, int on)
{
	if (side->rev != NULL && on)
		event_add(side->rev, NULL);
	else if (side->rev != NULL)
		event_del(side->rev);
	else if (on)
		bufferevent_enable(side->bev, EV_READ);
	else
		bufferevent_disable(side->bev, EV_READ);
}

/*
 * A plain side's socket is readable: read it (io_read, no FIONREAD) and
 * hand the bytes to the bufferevent's read callback, or an EOF or error
 * to its event callback, as libevent would, reading stopped.
 */
static void
side_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct side	   *side = arg;
	struct bufferevent *bev = side->bev;
	bufferevent_data_cb readcb;
	void		   *cbarg;
	ssize_t		    n;
	int		    err;

	if ((n = io_read(bev)) > 0) {
		side->bytes_read += (unsigned long long)n;
		bufferevent_getcb(bev, &readcb, NULL, NULL, &cbarg);
		if (readcb != NULL)
			readcb(bev, cbarg);
		return;
	}
	err = errno;
	if (n == -1 && (err == EAGAIN || err == EINTR))
		return;
	event_del(side->rev);
	side->reading = 0;
	side_report(side, n == 0 ? IO_READ_EOF : err);
}

/* What the socket still holds past libevent's read cap when libevent
 * reads the side (see io_read_more); our own reads take it all. */
int
side_read_more(struct side *side)
{
	return side->rev != NULL ? 0 : io_read_more(side->bev);
}

/* Count bytes libevent read into a TLS side's input. */
static void
side_count_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct side *side = arg;

	side->bytes_read += info->n_added;
}

/*
 * Bytes written to the side's socket (TLS: handed to the TLS layer): all
 * that was handed to the side, less what its output still holds.  No
 * callback on the hot path.
 */
unsigned long long
side_bytes_written(const struct side *side)
{
	if (side->bev == NULL)
		return side->bytes_handed;
	return side->bytes_handed -
	    evbuffer_get_length(bufferevent_get_output(side->bev));
}

/* Disable and free a side's bufferevent (closes the socket). */
void
side_free(struct side *side)
{
	struct bufferevent *bev = side->bev;

	if (side->watch != NULL) {
		event_free(side->watch);
		side->watch = NULL;
	}
	if (side->rev != NULL) {
		event_free(side->rev);
		side->rev = NULL;
	}
	if (bev == NULL)
		return;
	/* What the output still holds is never written. */
	side->bytes_handed = side_bytes_written(side);
	side->bev = NULL;
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	bufferevent_free(bev);
}

/*
 * Read from a side unless backpressure pauses it (or the target is being
 * flushed).  A paused side is looked at every WSB_PAUSED_CHECK_MSEC for
 * the peer's reset or FIN, so a peer that is gone is noticed without
 * reading.  (An EV_CLOSED event cannot do it: libevent 2.1's epoll
 * backend turns EPOLLERR|EPOLLHUP into EV_READ|EV_WRITE only, so a reset
 * would never reach it and would wake the loop forever.)
 */
void
side_set_reading(struct side *side)
{
	struct timeval tv = { 0, WSB_PAUSED_CHECK_MSEC * 1000 };
	int	       want;

	if (side->bev == NULL)
		return;
	if (side->shutdown != SIDE_OPEN)
		want = side == &side->session->client;
	else
		want = !side->paused_by_peer && !side->paused_by_self &&
		    !side->eof;
	if (want != side->reading)
		side_read_switch(side, want);
	side->reading = want;
	if (want || side->shutdown != SIDE_OPEN) {
		if (side->watch != NULL)
			event_del(side->watch);
		return;
	}
	if (side->watch == NULL)
		side->watch = event_new(side->session->worker->base, -1,
		    EV_PERSIST, side_watch_cb, side);
	if (side->watch != NULL &&
	    !event_pending(side->watch, EV_TIMEOUT, NULL))
		event_add(side->watch, &tv);
}

/*
 * A look at a paused side's socket without reading it: a reset (or any
 * socket error) is reported to the side's event callback as a read
 * error.  A FIN waits behind the bytes not yet read, which are still
 * delivered; the looks go on, for a reset after it.
 */
static void
side_watch_cb(evutil_socket_t unused, short what, void *arg)
{
	struct side  *side = arg;
	struct pollfd pfd;
	int	      err = 0;
	socklen_t     len = sizeof(err);

	pfd.fd = bufferevent_getfd(side->bev);
	pfd.events = POLLRDHUP;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) <= 0)
		return;
	if (getsockopt(pfd.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == 0) {
		if (!side->peer_fin)
			session_debug(side->session,
			    "%s sent FIN while paused", side->name);
		side->peer_fin = 1;
		return;
	}
	event_del(side->watch);
	side_report(side, err);
}

/*
 * Report what a read beside libevent found (io_read_more(), a look at a
 * paused side) to the side's event callback of the moment, as libevent
 * would: err an errno (a read error) or IO_READ_EOF (EOF).  The session
 * may have ended on return.
 */
void
side_report(struct side *side, int err)
{
	bufferevent_event_cb eventcb;
	void		    *cbarg;

	if (side->bev == NULL)
		return;
	bufferevent_getcb(side->bev, NULL, NULL, &eventcb, &cbarg);
	if (eventcb == NULL)
		return;
	if (err == IO_READ_EOF) {
		eventcb(side->bev, BEV_EVENT_READING | BEV_EVENT_EOF, cbarg);
		return;
	}
	errno = err;
	EVUTIL_SET_SOCKET_ERROR(err);
	eventcb(side->bev, BEV_EVENT_READING | BEV_EVENT_ERROR, cbarg);
}

/* 1 if what the bridge owes the side passed the high mark. */
int
side_output_full(const struct side *side)
{
	return side->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(side->bev)) >=
	    WSB_HIGH_WATER;
}

/* Send buf on the side at once where the socket takes it (see io_send),
 * counting what was written directly. */
void
side_send(struct side *side, struct evbuffer *buf)
{
	side->bytes_handed += evbuffer_get_length(buf);
	(void)io_send(side->bev, buf);
}

/* Queue len bytes for the side (a control frame, an HTTP reply). */
void
side_queue(struct side *side, const void *data, size_t len)
{
	if (evbuffer_add(bufferevent_get_output(side->bev), data, len) == 0)
		side->bytes_handed += len;
}

/* A side that takes no bytes for --send-timeout seconds while it is owed
 * some is dropped (libevent's write timeout restarts on progress). */
void
side_set_send_timeout(struct side *side)
{
	struct timeval tv = { session_config(side->session)->send_timeout, 0 };

	bufferevent_set_timeouts(side->bev, NULL, &tv);
}
