/* Socket I/O beside libevent's bufferevents: its 2.1 read cap, and
 * writing at once when nothing is queued. */
#ifndef WSB_IO_H
#define WSB_IO_H

#include <stddef.h>
#include <sys/types.h>

struct bufferevent;
struct evbuffer;

/*
 * Read what bev's socket still holds after libevent's own read, up to
 * WSB_MAX_SINGLE_IO bytes, into bev's input (libevent 2.1 reads at most
 * 4 KiB per callback: EVBUFFER_MAX_READ).  TLS bufferevents decrypt every
 * whole record available.  Returns 0; the errno of a failed read (a reset
 * would otherwise reach libevent as a plain EOF on its next read; EPROTO
 * for a TLS error); or IO_READ_EOF when a TLS peer's close_notify was
 * read (libevent would not see it again).  The caller handles the bytes
 * read first.  A no-op on libevent 2.2 and later.
 */
#define IO_READ_EOF (-1)
int io_read_more(struct bufferevent *bev);

/*
 * Read what bev's plain socket holds, up to WSB_MAX_SINGLE_IO bytes, into
 * bev's input, for a caller that reads instead of libevent (whose
 * evbuffer_read asks FIONREAD first: one ioctl per read).  Returns the
 * bytes read (an EOF or error behind them shows at the next call), 0 at
 * EOF, or -1 with errno (EAGAIN: nothing to read).
 */
ssize_t io_read(struct bufferevent *bev);

/*
 * Send buf's bytes on bev: written to the socket at once when bev's output
 * is empty (TLS: SSL_write, one record per WSB_TLS_RECORD bytes), the rest
 * moved to bev's output, whose write reports errors.  buf is left empty.
 * Returns the bytes written at once (those never pass through the output
 * buffer, so a caller counting written bytes adds them).
 */
size_t io_send(struct bufferevent *bev, struct evbuffer *buf);

/*
 * Bytes sent on fd but not yet acknowledged by the peer (SIOCOUTQ), or 0
 * when unknown.  Lets a lingering close wait while a slow reader still
 * takes data.
 */
unsigned long long io_unacked(int fd);

#endif
