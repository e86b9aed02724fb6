/*
 * Socket I/O beside libevent's bufferevents: reading past libevent 2.1's
 * 4 KiB read cap, and writing at once when nothing is queued.  Knows
 * nothing about sessions.
 */
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/sockios.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "io.h"
#include "wsb_limits.h"

/* libevent 2.2 reads what the socket holds (up to max_single_read). */
#define IO_READ_CAPPED (LIBEVENT_VERSION_NUMBER < 0x02020000)

/* Space offered to the first read of a callback: libevent 2.1's own
 * per-read size (EVBUFFER_MAX_READ); later reads get the rest of
 * WSB_MAX_SINGLE_IO. */
#define IO_FIRST_READ 4096

static size_t io_socket_read(struct bufferevent *, size_t, int *);
static int    io_socket_read_more(struct bufferevent *);
static int    io_tls_read_more(struct bufferevent *, SSL *);
static void   io_tls_send(SSL *, struct evbuffer *);

int
io_read_more(struct bufferevent *bev)
{
	SSL *ssl;

	/* Under libevent's cap the socket is drained, and reserving space
	 * for nothing would cost memory per idle connection. */
	if (!IO_READ_CAPPED ||
	    evbuffer_get_length(bufferevent_get_input(bev)) < 4096)
		return 0;
	if ((ssl = bufferevent_openssl_get_ssl(bev)) != NULL)
		return io_tls_read_more(bev, ssl);
	return io_socket_read_more(bev);
}

/*
 * readv() into reserved input space, first bytes, then up to
 * WSB_MAX_SINGLE_IO in all, until the socket is drained.  Returns the
 * bytes read; *err is 0 (drained), IO_READ_EOF, or the errno of a failed
 * read or reservation.
 */
static size_t
io_socket_read(struct bufferevent *bev, size_t first, int *err)
{
	struct evbuffer	     *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[2];
	struct iovec	      iov[2];
	size_t		      got = 0, want, left;
	ssize_t		      n;
	int		      nv, k;

	*err = 0;
	/* A socket bufferevent keeps its input's end frozen between reads. */
	evbuffer_unfreeze(in, 0);
	while (got < WSB_MAX_SINGLE_IO) {
		nv = evbuffer_reserve_space(in,
		    (ev_ssize_t)(got == 0 ? first : WSB_MAX_SINGLE_IO - got),
		    v, 2);
		if (nv < 1) {
			*err = ENOMEM;
			break;
		}
		for (k = 0, want = 0; k < nv; k++) {
			iov[k].iov_base = v[k].iov_base;
			iov[k].iov_len = v[k].iov_len;
			want += v[k].iov_len;
		}
		if ((n = readv(bufferevent_getfd(bev), iov, nv)) <= 0) {
			if (n == 0)
				*err = IO_READ_EOF;
			else if (errno != EAGAIN && errno != EINTR)
				*err = errno;
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
			break; /* drained */
	}
	evbuffer_freeze(in, 0);
	return got;
}

/* What libevent's capped read left in the socket; an EOF is seen again
 * by libevent's next read. */
static int
io_socket_read_more(struct bufferevent *bev)
{
	int err;

	(void)io_socket_read(bev, WSB_MAX_SINGLE_IO, &err);
	return err == IO_READ_EOF || err == ENOMEM ? 0 : err;
}

ssize_t
io_read(struct bufferevent *bev)
{
	size_t got;
	int    err;

	/* An EOF or error after bytes is seen again at the next read. */
	if ((got = io_socket_read(bev, IO_FIRST_READ, &err)) > 0)
		return (ssize_t)got;
	if (err == IO_READ_EOF)
		return 0;
	errno = err != 0 ? err : EAGAIN;
	return -1;
}

/*
 * libevent 2.1's bufferevent_openssl decrypts one record (at most 16 KiB)
 * per callback: decrypt every record the socket holds, up to
 * WSB_MAX_SINGLE_IO.  WANT_READ (drained) and WANT_WRITE (a key update)
 * are left to libevent's next SSL call.  What SSL_read consumed for good
 * is reported, since libevent would never see it again: the peer's
 * close_notify as IO_READ_EOF, a failure as its errno (EPROTO for a TLS
 * error).
 */
static int
io_tls_read_more(struct bufferevent *bev, SSL *ssl)
{
	struct evbuffer	     *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v;
	size_t		      got = 0;
	int		      n, e, err = 0;

	while (got < WSB_MAX_SINGLE_IO) {
		if (evbuffer_reserve_space(in, WSB_TLS_RECORD, &v, 1) < 1)
			break;
		ERR_clear_error();
		errno = 0;
		if ((n = SSL_read(ssl, v.iov_base, (int)v.iov_len)) <= 0) {
			e = SSL_get_error(ssl, n);
			if (e == SSL_ERROR_ZERO_RETURN)
				err = IO_READ_EOF;
			else if (e == SSL_ERROR_SYSCALL)
				err = errno != 0 ? errno : ECONNRESET;
			else if (e == SSL_ERROR_SSL)
				err = EPROTO;
			ERR_clear_error();
			break;
		}
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
		got += (size_t)n;
	}
	return err;
}

/*
 * SSL_write() at once, one record per WSB_TLS_RECORD bytes with the frame
 * header in the first (bufferevent_openssl would wait for the next
 * EV_WRITE and give the header a record of its own).  What is not written
 * stays at the head of buf; queued on the bufferevent, its retry passes
 * the same bytes (libevent sets SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
 */
static void
io_tls_send(SSL *ssl, struct evbuffer *buf)
{
	unsigned char *p;
	size_t	       len;
	int	       n;

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

size_t
io_send(struct bufferevent *bev, struct evbuffer *buf)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	SSL		*ssl = bufferevent_openssl_get_ssl(bev);
	size_t		 before = evbuffer_get_length(buf), sent = 0;

	if (evbuffer_get_length(out) == 0) {
		if (ssl != NULL)
			io_tls_send(ssl, buf);
		else
			(void)evbuffer_write(buf, bufferevent_getfd(bev));
		sent = before - evbuffer_get_length(buf);
	}
	if (evbuffer_get_length(buf) > 0)
		evbuffer_add_buffer(out, buf);
	return sent;
}

unsigned long long
io_unacked(int fd)
{
	int n = 0;

	if (fd < 0 || ioctl(fd, SIOCOUTQ, &n) == -1 || n < 0)
		return 0;
	return (unsigned long long)n;
}
