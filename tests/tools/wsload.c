/*
 * wsload: a WebSocket (RFC 6455) load generator for the benchmark and the
 * integration tests.  It talks to a bridge in front of an echo backend and
 * prints one line of key=value results on stdout.
 *
 * Every client frame is masked with a fresh mask; every echoed byte is
 * checked against what was sent (the bridge may re-frame the stream, so
 * the check is on the byte stream, not on message boundaries).  With --raw
 * there is no WebSocket at all: plain TCP echo, for proxies such as
 * haproxy in TCP mode.  With --tls (or a wss:// URL) every mode runs over
 * TLS: an OpenSSL client driving its own non-blocking socket (SSL_read and
 * SSL_write straight on the descriptor, retried on WANT_READ/WANT_WRITE);
 * --raw --tls is a plain TLS echo, for a proxy that terminates TLS in front
 * of a TCP echo server.  Only loopback addresses are accepted.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Largest message payload: the benchmark uses 64 KiB; 1 MiB leaves room. */
#define WL_MAX_SIZE (1024 * 1024)

/* The sent byte stream repeats with this period (a prime, so message and
 * period boundaries drift apart and a misplaced chunk is caught). */
#define WL_PATTERN_PERIOD 65521

/* Largest handshake response head we accept; servers send a few hundred
 * bytes. */
#define WL_MAX_RESPONSE_HEAD 8192

/* Payload bytes each throughput connection keeps in flight: 1 MiB keeps a
 * loopback pipe full through a proxy with 256 KiB buffers. */
#define WL_DEFAULT_WINDOW (1024 * 1024)

/* One socket read.  We read for ourselves: libevent 2.1's evbuffer_read()
 * (and so every bufferevent) reads at most 4 KiB a call, whatever
 * bufferevent_set_max_single_read() says, and the client must not be the
 * bottleneck of the benchmark. */
#define WL_MAX_SINGLE_IO (256 * 1024)

/* Reads per readiness callback, so one busy connection cannot starve the
 * others on its loop. */
#define WL_READS_PER_CB 4

/* TLS: room reserved for one SSL_read.  A record carries at most 16 KiB of
 * plaintext and SSL_read returns one record at a time, so 64 KiB holds
 * several reads in one buffer chain. */
#define WL_TLS_READ (64 * 1024)

/* TLS: plaintext handed to one SSL_write.  With partial writes enabled
 * OpenSSL sends it as 16 KiB records and returns after what the socket
 * took; bigger calls only make the retry bookkeeping longer. */
#define WL_TLS_WRITE (256 * 1024)

/* Most connections: the machine caps descriptors at 20000 per process. */
#define WL_MAX_CONNS 19000

/* Most threads; each one runs its own event loop. */
#define WL_MAX_THREADS 16

/* Most RTT samples kept (8 bytes each). */
#define WL_MAX_COUNT 1000000

/* Longest measurement or hold, in seconds: everything here is bounded. */
#define WL_MAX_SECONDS 3600

/* How often a loop looks at the stop flag set by a signal. */
#define WL_TICK_MSEC 50

/* Pause before a connection-rate loop retries after a failure, so a dead
 * server is not hammered in a tight loop. */
#define WL_RETRY_MSEC 10

/* Idle mode: most handshakes in progress at once; more overflows the
 * listen backlog of a slow server. */
#define WL_DEFAULT_CONCURRENCY 256

/* Control frames carry at most 125 bytes (RFC 6455 5.5). */
#define WL_MAX_CONTROL_PAYLOAD 125

/* Largest frame header: 2 + 8 (64-bit length) + 4 (mask). */
#define WL_MAX_FRAME_HEADER 14

/* Most distinct paths --path-range draws from: 32 bits of the PRNG, and
 * far more tokens than a benchmark's token file holds. */
#define WL_MAX_PATH_RANGE 1000000000

/* Bytes of the message sent by the rtt/connrate/idle handshake checks. */
#define WL_SMALL_MSG 64

#define WL_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum wl_mode {
	WL_MODE_THROUGHPUT,
	WL_MODE_RTT,
	WL_MODE_CONNRATE,
	WL_MODE_IDLE
};

enum wl_state {
	WL_ST_NONE, /* no socket */
	WL_ST_CONNECTING,
	WL_ST_TLS,	 /* TCP up, TLS handshake in progress */
	WL_ST_HANDSHAKE, /* request sent, waiting for 101 */
	WL_ST_OPEN,	 /* exchanging data */
	WL_ST_CLOSING,	 /* our Close sent, waiting for the server's */
	WL_ST_HELD	 /* idle mode: proven, now just held open */
};

/* Immutable after argument parsing. */
struct wl_opts {
	enum wl_mode		mode;
	char			host[64];
	int			port;
	char			path[256];
	long			path_range; /* --path-range: {} in path */
	const char	       *protocol;
	struct sockaddr_storage addr;
	int			addrlen;
	int			raw;
	int			tls;
	int			insecure;
	const char	       *cafile;
	int			conns;
	int			threads;
	int			concurrency;
	size_t			size;
	size_t			window;
	long			count;
	double			seconds;
	double			warmup;
	double			hold;
	double			timeout;
	double			max_time;
	int			verify;
};

struct wl_runner;

/*
 * One client connection (the slot is reused across connection-rate
 * cycles).  Output is written as soon as it is queued; the write event is
 * armed only while the socket holds some back, or while connecting.
 */
struct wl_conn {
	struct wl_runner *r;
	evutil_socket_t	  fd;  /* -1 when closed */
	struct event	 *rev; /* persistent, with the inactivity timeout */
	struct event	 *wev;
	int		  wev_armed;
	struct evbuffer	 *in;
	struct evbuffer	 *out;
	unsigned int	  gen; /* bumped on release: a callback sees reuse */
	enum wl_state	  state;
	char		  accept[32]; /* expected Sec-WebSocket-Accept */
	uint64_t	  tx;	      /* payload bytes sent */
	uint64_t	  rx;	      /* payload bytes echoed back */
	uint64_t frame_left;	  /* payload bytes left in the current frame */
	struct timespec t0;	  /* cycle start, or RTT send time */
	SSL	       *ssl;	  /* --tls: the TLS connection on fd */
	size_t		tls_wlen; /* an SSL_write to repeat with this length */
	int		tls_rblocked; /* SSL_read wants the socket writable */
};

/* One thread: an event loop and the connections it drives. */
struct wl_runner {
	int		   id;
	pthread_t	   thread;
	struct event_base *base;
	struct wl_conn	  *conns;
	int		   nconns;
	struct event	  *tick;
	struct event	  *t_start;
	struct event	  *t_end;
	struct event	  *t_deadline;
	struct event	  *t_hold;
	struct event	  *ev_stdin;
	uint64_t	   prng;

	uint64_t rx_bytes; /* all payload echoed, whole run */
	uint64_t cycles;   /* completed connection-rate cycles */
	double	 cycle_ms; /* sum of their durations */
	uint64_t errors;
	uint64_t verify_errors;
	uint64_t connected; /* handshakes completed */
	int	 alive;	    /* throughput: connections still working */
	int	 timed_out;
	int	 stopping;
	char	 first_error[160];

	/* measurement window snapshots */
	int		started, ended;
	struct timespec ts_start, ts_end;
	uint64_t	rx_start, rx_end;
	uint64_t	cycles_start, cycles_end;
	double		cycle_ms_start, cycle_ms_end;

	/* rtt */
	double *samples;
	long	nsamples;
	long	sent_msgs;

	/* idle */
	int		next_open;
	int		opened, failed, dropped;
	int		ready;
	int		opening; /* inside wl_idle_progress: no recursion */
	struct timespec ts_ready;
};

static struct wl_opts	     opts;
static SSL_CTX		    *wl_ssl_ctx; /* --tls; shared by every thread */
static __thread char	     wl_tls_err[160]; /* see wl_tls_error() */
static unsigned char	     wl_pattern[WL_PATTERN_PERIOD + WL_MAX_SIZE];
static struct timespec	     wl_start;
static volatile sig_atomic_t wl_stop;

static void wl_read_cb(evutil_socket_t, short, void *);
static void wl_write_cb(evutil_socket_t, short, void *);
static int  wl_flush(struct wl_conn *);
static void wl_tick_cb(evutil_socket_t, short, void *);
static void wl_start_cb(evutil_socket_t, short, void *);
static void wl_end_cb(evutil_socket_t, short, void *);
static void wl_deadline_cb(evutil_socket_t, short, void *);
static void wl_hold_cb(evutil_socket_t, short, void *);
static void wl_stdin_cb(evutil_socket_t, short, void *);
static void wl_retry_cb(evutil_socket_t, short, void *);
static void wl_conn_start(struct wl_conn *);
static void wl_tls_handshake(struct wl_conn *);

/* --help text, one line per entry. */
static const char *const wl_help[] = {
	"usage: wsload [options] [ws[s]://HOST:PORT/PATH | HOST:PORT]",
	"",
	"Modes (--mode):",
	"  throughput  each of --conns connections keeps --window payload",
	"              bytes of --size binary messages in flight for",
	"              --seconds (after --warmup); prints mbps= (MiB/s of",
	"              echoed payload), msgs=",
	"  rtt         one connection, one --size message at a time,",
	"              --count times; prints p50_us= p99_us= (and min, p90,",
	"              max, mean)",
	"  connrate    --conns loops of connect, handshake, one 64-byte",
	"              echo, Close, wait for the server's Close or EOF;",
	"              prints cps= (--raw: connect, 64-byte echo, close)",
	"              and connected= (handshakes over the whole run,",
	"              warm-up included)",
	"  idle        open --conns connections (handshake + one 64-byte",
	"              echo each, --concurrency at a time), print a line",
	"              starting 'ready opened=N', hold them --hold seconds",
	"              or until stdin (when a pipe) closes, then print the",
	"              result line",
	"",
	"Options:",
	"  --host H         target address, loopback only (127.0.0.1)",
	"  --port P         target port",
	"  --path P         request path (default /)",
	"  --path-range N   a {} in the path becomes a number in [0, N),",
	"                   drawn at random for each connection (e.g.",
	"                   --path '/?token=t{}' over N tokens)",
	"  --raw            plain TCP echo, no WebSocket",
	"  --tls            TLS on every connection (wss://; with --raw a",
	"                   plain TLS echo); a wss:// URL implies it",
	"  --cafile F       verify the server against the CA certificates",
	"                   in F (PEM) and its IP address (default: the",
	"                   system CAs)",
	"  --insecure       do not verify the server's certificate",
	"  --protocol P     Sec-WebSocket-Protocol to offer (default",
	"                   binary; '' offers none)",
	"  --conns N        connections (default 1; idle: 1000)",
	"  --size N         message payload bytes (default 65536; rtt 64)",
	"  --window N       throughput payload bytes in flight per",
	"                   connection (default 1 MiB, at least a message)",
	"  --seconds T      measured time (default 5)",
	"  --warmup T       unmeasured time first (default 1, connrate 0.5,",
	"                   rtt/idle 0)",
	"  --count N        rtt messages (default 10000; first 10% warm up)",
	"  --hold T         idle hold seconds (default 10)",
	"  --concurrency N  idle: handshakes in progress at once (256)",
	"  --threads N      event loops for throughput/connrate (default 1)",
	"  --timeout T      per-connection inactivity timeout (default 10)",
	"  --max-time T     hard limit on the whole run (default: derived)",
	"  --no-verify      do not check echoed bytes against those sent",
	"Sizes take a k or m suffix (x1024, x1048576).",
	"",
	"Results: one line of key=value pairs on stdout (idle: the ready",
	"line, then the result line).  Exit 0 when no error was seen, 1",
	"otherwise, 2 on bad usage.",
};

/* Print usage to the given stream. */
static void
wl_usage(FILE *fp)
{
	size_t i;

	for (i = 0; i < sizeof(wl_help) / sizeof(wl_help[0]); i++)
		fprintf(fp, "%s\n", wl_help[i]);
}

/* Print a message and exit: start-up failures only. */
static void
wl_fatalx(const char *msg, const char *arg)
{
	fprintf(stderr, "wsload: %s%s%s\n", msg, arg ? ": " : "",
	    arg ? arg : "");
	exit(2);
}

/* Seconds since the run started. */
static double
wl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)(ts.tv_sec - wl_start.tv_sec) +
	    (double)(ts.tv_nsec - wl_start.tv_nsec) / 1e9;
}

/* Microseconds between two times. */
static double
wl_elapsed_us(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e6 +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e3;
}

/* A timeval from seconds, for libevent timers. */
static struct timeval
wl_tv(double sec)
{
	struct timeval tv;

	if (sec < 0)
		sec = 0;
	tv.tv_sec = (time_t)sec;
	tv.tv_usec = (suseconds_t)((sec - (double)tv.tv_sec) * 1e6);
	return tv;
}

/* xorshift64*: cheap per-frame masks, seeded from OpenSSL's RNG. */
static uint32_t
wl_random32(struct wl_runner *r)
{
	r->prng ^= r->prng >> 12;
	r->prng ^= r->prng << 25;
	r->prng ^= r->prng >> 27;
	return (uint32_t)((r->prng * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Remember the first error of a runner, to explain a bad result. */
static void
wl_note_error(struct wl_runner *r, const char *what, const char *detail)
{
	r->errors++;
	if (r->first_error[0] == '\0')
		snprintf(r->first_error, sizeof(r->first_error), "%s%s%.100s",
		    what, detail ? ": " : "", detail ? detail : "");
}

/* Copy len bytes from src to dst, XORed with the 4-byte mask. */
static void
wl_mask_copy(unsigned char *dst, const unsigned char *src, size_t len,
    const unsigned char key[4])
{
	unsigned char kb[8];
	uint64_t      k, v;
	size_t	      i = 0;

	memcpy(kb, key, 4);
	memcpy(kb + 4, key, 4);
	memcpy(&k, kb, 8);
	for (; i + 8 <= len; i += 8) {
		memcpy(&v, src + i, 8);
		v ^= k;
		memcpy(dst + i, &v, 8);
	}
	for (; i < len; i++)
		dst[i] = src[i] ^ key[i & 3];
}

/* Write a frame header into p; returns its length. */
static size_t
wl_frame_header(unsigned char *p, int opcode, uint64_t len,
    const unsigned char key[4])
{
	size_t n = 0;
	int    i;

	p[n++] = 0x80 | (unsigned char)opcode; /* FIN */
	if (len < 126) {
		p[n++] = 0x80 | (unsigned char)len;
	} else if (len <= 0xffff) {
		p[n++] = 0x80 | 126;
		p[n++] = (unsigned char)(len >> 8);
		p[n++] = (unsigned char)len;
	} else {
		p[n++] = 0x80 | 127;
		for (i = 7; i >= 0; i--)
			p[n++] = (unsigned char)(len >> (8 * i));
	}
	memcpy(p + n, key, 4);
	return n + 4;
}

/* Queue a masked control frame (Close, Pong) with a small payload. */
static void
wl_send_control(struct wl_conn *c, int opcode, const unsigned char *payload,
    size_t len)
{
	unsigned char buf[WL_MAX_FRAME_HEADER + WL_MAX_CONTROL_PAYLOAD];
	unsigned char key[4];
	uint32_t      m = wl_random32(c->r);
	size_t	      n;

	if (len > WL_MAX_CONTROL_PAYLOAD)
		len = WL_MAX_CONTROL_PAYLOAD;
	memcpy(key, &m, 4);
	n = wl_frame_header(buf, opcode, len, key);
	wl_mask_copy(buf + n, payload, len, key);
	if (evbuffer_add(c->out, buf, n + len) == 0)
		(void)wl_flush(c);
}

/* Queue nmsg messages of size bytes each, continuing the pattern stream:
 * masked binary frames, or bare bytes with --raw.  One reservation, so the
 * whole batch goes out in as few writes as the socket allows. */
static int
wl_send_data(struct wl_conn *c, size_t size, size_t nmsg)
{
	struct evbuffer	     *out = c->out;
	struct evbuffer_iovec v;
	size_t hdr = opts.raw ? 0 : (size < 126 ? 6 : size <= 0xffff ? 8 : 14);
	size_t total = (hdr + size) * nmsg, i, off = 0;
	unsigned char *p;

	if (nmsg == 0)
		return 0;
	if (evbuffer_reserve_space(out, (ev_ssize_t)total, &v, 1) != 1 ||
	    v.iov_len < total)
		return -1;
	p = v.iov_base;
	for (i = 0; i < nmsg; i++) {
		const unsigned char *src =
		    wl_pattern + (size_t)(c->tx % WL_PATTERN_PERIOD);

		if (opts.raw) {
			memcpy(p + off, src, size);
		} else {
			unsigned char key[4];
			uint32_t      m = wl_random32(c->r);

			memcpy(key, &m, 4);
			off += wl_frame_header(p + off, 0x2, size, key);
			wl_mask_copy(p + off, src, size, key);
		}
		off += size;
		c->tx += size;
	}
	v.iov_len = off;
	return evbuffer_commit_space(out, &v, 1);
}

/* Check echoed bytes against the sent stream at the current offset. */
static int
wl_verify(struct wl_conn *c, const unsigned char *p, size_t len)
{
	uint64_t pos = c->rx;

	while (len > 0) {
		size_t o = (size_t)(pos % WL_PATTERN_PERIOD);
		size_t k = WL_PATTERN_PERIOD - o;

		if (k > len)
			k = len;
		if (memcmp(p, wl_pattern + o, k) != 0)
			return -1;
		p += k;
		len -= k;
		pos += k;
	}
	return 0;
}

/* Count (and check) n payload bytes at the head of the input, drain them. */
static int
wl_consume(struct wl_conn *c, struct evbuffer *in, size_t n)
{
	struct evbuffer_iovec v[8];
	int		      nv, i;

	while (n > 0) {
		size_t done = 0;

		nv = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, 8);
		for (i = 0; i < nv && i < 8 && done < n; i++) {
			size_t l = v[i].iov_len;

			if (l > n - done)
				l = n - done;
			if (opts.verify && wl_verify(c, v[i].iov_base, l)) {
				c->r->verify_errors++;
				return -1;
			}
			c->rx += l;
			c->r->rx_bytes += l;
			done += l;
		}
		if (done == 0)
			return -1;
		evbuffer_drain(in, done);
		n -= done;
	}
	return 0;
}

/* A clean end: send TLS close_notify (once, without waiting for the
 * server's), as a browser does; the socket is released next. */
static void
wl_conn_goodbye(struct wl_conn *c)
{
	if (c->ssl != NULL && SSL_is_init_finished(c->ssl)) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
}

/* Close a connection's socket; the slot may be started again. */
static void
wl_conn_release(struct wl_conn *c)
{
	if (c->rev != NULL) {
		event_free(c->rev);
		c->rev = NULL;
	}
	if (c->wev != NULL) {
		event_free(c->wev);
		c->wev = NULL;
	}
	c->wev_armed = 0;
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	c->tls_wlen = 0;
	c->tls_rblocked = 0;
	if (c->fd != -1) {
		evutil_closesocket(c->fd);
		c->fd = -1;
	}
	if (c->in != NULL)
		evbuffer_drain(c->in, evbuffer_get_length(c->in));
	if (c->out != NULL)
		evbuffer_drain(c->out, evbuffer_get_length(c->out));
	c->gen++;
	c->state = WL_ST_NONE;
}

/* Arm the write event (no timeout: the read event carries it). */
static int
wl_want_write(struct wl_conn *c)
{
	if (c->wev_armed)
		return 0;
	if (event_add(c->wev, NULL) == -1)
		return -1;
	c->wev_armed = 1;
	return 0;
}

/* Remember why a TLS call failed (the oldest OpenSSL error, or the errno
 * behind an SSL_ERROR_SYSCALL) for wl_errtext(); sets errno to EPROTO. */
static void
wl_tls_error(int ssl_err)
{
	unsigned long e = ERR_peek_error();

	if (e != 0)
		ERR_error_string_n(e, wl_tls_err, sizeof(wl_tls_err));
	else if (ssl_err == SSL_ERROR_SYSCALL && errno != 0)
		snprintf(wl_tls_err, sizeof(wl_tls_err), "%s",
		    strerror(errno));
	else if (ssl_err == SSL_ERROR_SYSCALL)
		snprintf(wl_tls_err, sizeof(wl_tls_err),
		    "unexpected EOF in TLS");
	else
		snprintf(wl_tls_err, sizeof(wl_tls_err), "SSL error %d",
		    ssl_err);
	ERR_clear_error();
	errno = EPROTO;
}

/* Why the last socket or TLS call failed. */
static const char *
wl_errtext(void)
{
	if (errno == EPROTO && wl_tls_err[0] != '\0')
		return wl_tls_err;
	return strerror(errno);
}

/*
 * --tls: hand queued output to SSL_write until the socket pushes back.
 * A write that returned WANT_WRITE/WANT_READ must be repeated with the
 * same length (the bytes stay at the head of the buffer, so the pointer
 * is the same too).  Returns 1 if output remains and the write event is
 * wanted, 0 if not, -1 on error (errno set).
 */
static int
wl_flush_tls(struct wl_conn *c)
{
	struct evbuffer_iovec v;
	int		      n, err;

	while (evbuffer_get_length(c->out) > 0) {
		if (evbuffer_peek(c->out, -1, NULL, &v, 1) < 1)
			return 0;
		if (c->tls_wlen == 0)
			c->tls_wlen = v.iov_len < WL_TLS_WRITE ? v.iov_len :
								 WL_TLS_WRITE;
		ERR_clear_error();
		n = SSL_write(c->ssl, v.iov_base, (int)c->tls_wlen);
		if (n > 0) {
			c->tls_wlen = 0;
			evbuffer_drain(c->out, (size_t)n);
			continue;
		}
		switch ((err = SSL_get_error(c->ssl, n))) {
		case SSL_ERROR_WANT_WRITE:
			return 1;
		case SSL_ERROR_WANT_READ:
			/* the read event is always armed, and the read
			 * callback flushes after reading */
			return 0;
		default:
			wl_tls_error(err);
			return -1;
		}
	}
	return 0;
}

/* Write what is queued until the socket pushes back; arm the write event
 * only then.  Returns -1 on a socket error (errno set). */
static int
wl_flush(struct wl_conn *c)
{
	int n, more = 0;

	if (c->fd == -1 || c->state == WL_ST_CONNECTING ||
	    c->state == WL_ST_TLS)
		return 0;
	if (c->ssl != NULL) {
		if ((more = wl_flush_tls(c)) == -1)
			return -1;
	} else {
		while (evbuffer_get_length(c->out) > 0) {
			n = evbuffer_write(c->out, c->fd);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 &&
			    (errno == EAGAIN || errno == EWOULDBLOCK)) {
				more = 1;
				break;
			}
			if (n <= 0)
				return -1;
		}
	}
	if (more || c->tls_rblocked) {
		if (wl_want_write(c) == -1)
			return -1;
	} else if (c->wev_armed) {
		event_del(c->wev);
		c->wev_armed = 0;
	}
	return 0;
}

/* Everything a runner does is finished: leave its loop. */
static void
wl_runner_stop(struct wl_runner *r)
{
	r->stopping = 1;
	event_base_loopbreak(r->base);
}

/* Idle mode: a connection finished opening (or failed); open the next one
 * and announce when every connection has been tried. */
static void
wl_idle_progress(struct wl_runner *r)
{
	struct timeval tv;

	if (r->opening)
		return;
	r->opening = 1;
	while (r->next_open < r->nconns &&
	    r->next_open - r->opened - r->failed < opts.concurrency)
		wl_conn_start(&r->conns[r->next_open++]);
	r->opening = 0;
	if (r->ready || r->opened + r->failed < r->nconns)
		return;
	r->ready = 1;
	clock_gettime(CLOCK_MONOTONIC, &r->ts_ready);
	printf("ready opened=%d failed=%d open_s=%.3f\n", r->opened, r->failed,
	    wl_now());
	fflush(stdout);
	tv = wl_tv(opts.hold);
	evtimer_add(r->t_hold, &tv);
}

/* A connection failed or the server closed it: count it and carry on the
 * way the mode wants (retry, give up, or record a drop). */
static void
wl_conn_fail(struct wl_conn *c, const char *what, const char *detail)
{
	struct wl_runner *r = c->r;
	enum wl_state	  st = c->state;
	struct timeval	  tv = { 0, WL_RETRY_MSEC * 1000 };

	wl_conn_release(c);
	if (r->stopping)
		return;
	switch (opts.mode) {
	case WL_MODE_THROUGHPUT:
		wl_note_error(r, what, detail);
		if (--r->alive == 0)
			wl_runner_stop(r);
		break;
	case WL_MODE_RTT:
		wl_note_error(r, what, detail);
		wl_runner_stop(r);
		break;
	case WL_MODE_CONNRATE:
		wl_note_error(r, what, detail);
		event_base_once(r->base, -1, EV_TIMEOUT, wl_retry_cb, c, &tv);
		break;
	case WL_MODE_IDLE:
		if (st == WL_ST_HELD) {
			r->dropped++;
			if (r->first_error[0] == '\0')
				wl_note_error(r, "held connection lost", what);
			else
				r->errors++;
		} else {
			r->failed++;
			wl_note_error(r, what, detail);
			wl_idle_progress(r);
		}
		break;
	}
}

/* Connection-rate retry timer: start the loop's next cycle. */
static void
wl_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wl_conn *c = arg;

	if (!c->r->stopping)
		wl_conn_start(c);
}

/* A connection-rate cycle completed: count it, start the next. */
static void
wl_cycle_done(struct wl_conn *c)
{
	struct wl_runner *r = c->r;
	struct timespec	  now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	r->cycles++;
	r->cycle_ms += wl_elapsed_us(&c->t0, &now) / 1e3;
	wl_conn_goodbye(c);
	wl_conn_release(c);
	if (!r->stopping)
		wl_conn_start(c);
}

/* Send the next RTT probe and note when it left. */
static int
wl_rtt_send(struct wl_conn *c)
{
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	c->r->sent_msgs++;
	return wl_send_data(c, opts.size, 1);
}

/* Top the throughput window up to its size. */
static int
wl_fill(struct wl_conn *c)
{
	uint64_t inflight = c->tx - c->rx;
	size_t	 n;

	if (inflight >= opts.window)
		return 0;
	n = (size_t)((opts.window - inflight) / opts.size);
	if (n == 0 && inflight == 0)
		n = 1;
	return wl_send_data(c, opts.size, n);
}

/* The connection is usable (101 checked, or TCP up with --raw). */
static int
wl_conn_opened(struct wl_conn *c)
{
	struct wl_runner *r = c->r;

	c->state = WL_ST_OPEN;
	r->connected++;
	switch (opts.mode) {
	case WL_MODE_THROUGHPUT:
		return wl_fill(c);
	case WL_MODE_RTT:
		return wl_rtt_send(c);
	case WL_MODE_CONNRATE:
	case WL_MODE_IDLE:
		return wl_send_data(c, WL_SMALL_MSG, 1);
	}
	return 0;
}

/* Echoed bytes arrived: move the mode along.  Returns -1 if the
 * connection was released. */
static int
wl_conn_progress(struct wl_conn *c)
{
	struct wl_runner *r = c->r;
	struct timespec	  now;

	if (c->state != WL_ST_OPEN || c->rx < c->tx)
		goto partial;
	switch (opts.mode) {
	case WL_MODE_THROUGHPUT:
		break;
	case WL_MODE_RTT:
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (r->sent_msgs > opts.count / 10)
			r->samples[r->nsamples++] =
			    wl_elapsed_us(&c->t0, &now);
		if (r->sent_msgs >= opts.count) {
			wl_runner_stop(r);
			return 0;
		}
		return wl_rtt_send(c);
	case WL_MODE_CONNRATE:
		if (opts.raw) {
			wl_cycle_done(c);
			return -1;
		}
		c->state = WL_ST_CLOSING;
		wl_send_control(c, 0x8, (const unsigned char *)"\x03\xe8", 2);
		return 0;
	case WL_MODE_IDLE:
		c->state = WL_ST_HELD;
		event_add(c->rev, NULL); /* no inactivity timeout now */
		r->opened++;
		wl_idle_progress(r);
		return 0;
	}
partial:
	if (opts.mode == WL_MODE_THROUGHPUT && c->state == WL_ST_OPEN)
		return wl_fill(c);
	return 0;
}

/* The server sent Close: expected while closing, a loss otherwise. */
static int
wl_got_close(struct wl_conn *c, const unsigned char *p, size_t len)
{
	char code[16];

	if (c->state == WL_ST_CLOSING) {
		wl_cycle_done(c);
		return -1;
	}
	snprintf(code, sizeof(code), "%u",
	    len >= 2 ? (unsigned)(p[0] << 8 | p[1]) : 1005);
	wl_send_control(c, 0x8, p, len >= 2 ? 2 : 0);
	wl_conn_fail(c, "server sent Close", code);
	return -1;
}

/*
 * Decode server frames from the input, which may hold any part of any
 * number of frames.  Data payload is counted as it arrives; control
 * frames are handled once whole.  Returns 0 when the input is used up,
 * -1 when the connection was released.
 */
static int
wl_ws_input(struct wl_conn *c)
{
	struct evbuffer *in = c->in;
	unsigned char	 h[WL_MAX_FRAME_HEADER];
	unsigned char	 ctl[WL_MAX_CONTROL_PAYLOAD];
	size_t		 avail, hn, need, n;
	uint64_t	 plen;
	int		 opcode, i;

	for (;;) {
		avail = evbuffer_get_length(in);
		if (c->frame_left > 0) {
			if (avail == 0)
				return 0;
			n = avail < c->frame_left ? avail : c->frame_left;
			if (wl_consume(c, in, n) == -1) {
				wl_conn_fail(c, "echo mismatch", NULL);
				return -1;
			}
			c->frame_left -= n;
			continue;
		}
		if (avail < 2)
			return 0;
		hn = avail < sizeof(h) ? avail : sizeof(h);
		evbuffer_copyout(in, h, hn);
		opcode = h[0] & 0x0f;
		plen = h[1] & 0x7f;
		need = 2 +
		    (plen == 126	? 2 :
			    plen == 127 ? 8 :
					  0) +
		    ((h[1] & 0x80) ? 4 : 0);
		if (hn < need)
			return 0;
		if (h[1] & 0x80 || h[0] & 0x70) {
			wl_conn_fail(c, "protocol error",
			    "masked or reserved bits in server frame");
			return -1;
		}
		if (plen == 126) {
			plen = (uint64_t)h[2] << 8 | h[3];
		} else if (plen == 127) {
			plen = 0;
			for (i = 0; i < 8; i++)
				plen = plen << 8 | h[2 + i];
			if (plen >> 63) {
				wl_conn_fail(c, "protocol error",
				    "64-bit length with top bit set");
				return -1;
			}
		}
		if (opcode >= 0x8) {
			if (!(h[0] & 0x80) || plen > WL_MAX_CONTROL_PAYLOAD) {
				wl_conn_fail(c, "protocol error",
				    "bad control frame");
				return -1;
			}
			if (avail < need + plen)
				return 0;
			evbuffer_drain(in, need);
			evbuffer_remove(in, ctl, (size_t)plen);
			if (opcode == 0x8)
				return wl_got_close(c, ctl, (size_t)plen);
			if (opcode == 0x9)
				wl_send_control(c, 0xa, ctl, (size_t)plen);
			else if (opcode != 0xa) {
				wl_conn_fail(c, "protocol error",
				    "unknown control opcode");
				return -1;
			}
			continue;
		}
		if (opcode > 0x2) {
			wl_conn_fail(c, "protocol error", "unknown opcode");
			return -1;
		}
		evbuffer_drain(in, need);
		c->frame_left = plen;
	}
}

/* Compare a header value, trimmed, case-insensitively. */
static int
wl_header_is(const char *value, const char *want)
{
	size_t n;

	while (*value == ' ' || *value == '\t')
		value++;
	n = strlen(want);
	if (strncasecmp(value, want, n) != 0)
		return 0;
	value += n;
	while (*value == ' ' || *value == '\t')
		value++;
	return *value == '\0';
}

/* Check a complete response head: 101, Upgrade, Connection, the accept
 * key and the subprotocol.  Returns NULL if good, else what is wrong. */
static const char *
wl_check_response(struct wl_conn *c, char *head)
{
	char *line, *next, *colon, *value;
	int   got_accept = 0, got_upgrade = 0, got_connection = 0;

	if (strncmp(head, "HTTP/1.1 101", 12) != 0 ||
	    (head[12] != ' ' && head[12] != '\r'))
		return "status is not 101";
	line = strstr(head, "\r\n") + 2;
	for (; *line != '\0' && *line != '\r'; line = next) {
		if ((next = strstr(line, "\r\n")) == NULL)
			return "malformed head";
		*next = '\0';
		next += 2;
		if ((colon = strchr(line, ':')) == NULL)
			return "header line without colon";
		*colon = '\0';
		value = colon + 1;
		if (strcasecmp(line, "Sec-WebSocket-Accept") == 0) {
			if (!wl_header_is(value, c->accept))
				return "wrong Sec-WebSocket-Accept";
			got_accept = 1;
		} else if (strcasecmp(line, "Upgrade") == 0) {
			got_upgrade = wl_header_is(value, "websocket");
		} else if (strcasecmp(line, "Connection") == 0) {
			got_connection = strcasestr(value, "upgrade") != NULL;
		} else if (strcasecmp(line, "Sec-WebSocket-Protocol") == 0) {
			if (opts.protocol[0] == '\0' ||
			    !wl_header_is(value, opts.protocol))
				return "unexpected Sec-WebSocket-Protocol";
		}
	}
	if (!got_accept)
		return "no Sec-WebSocket-Accept";
	if (!got_upgrade)
		return "no Upgrade: websocket";
	if (!got_connection)
		return "no Connection: Upgrade";
	return NULL;
}

/* Waiting for the 101: once the head is complete, check it.  Returns 1
 * when open, 0 for need more, -1 when the connection was released. */
static int
wl_handshake_input(struct wl_conn *c)
{
	struct evbuffer	   *in = c->in;
	char		    head[WL_MAX_RESPONSE_HEAD + 1];
	struct evbuffer_ptr p;
	const char	   *err;
	size_t		    len;

	p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (p.pos == -1) {
		if (evbuffer_get_length(in) > WL_MAX_RESPONSE_HEAD) {
			wl_conn_fail(c, "handshake", "response head too big");
			return -1;
		}
		return 0;
	}
	len = (size_t)p.pos + 4;
	if (len > WL_MAX_RESPONSE_HEAD) {
		wl_conn_fail(c, "handshake", "response head too big");
		return -1;
	}
	evbuffer_remove(in, head, len);
	head[len] = '\0';
	if ((err = wl_check_response(c, head)) != NULL) {
		head[strcspn(head, "\r\n")] = '\0';
		wl_conn_fail(c, err, head);
		return -1;
	}
	if (wl_conn_opened(c) == -1) {
		wl_conn_fail(c, "out of memory", NULL);
		return -1;
	}
	return 1;
}

/*
 * --tls: decrypt what the socket has into the input buffer, one record
 * per SSL_read, up to the same budget as plain reads.  Returns as
 * wl_read_socket().  When the budget ends the loop while OpenSSL still
 * holds bytes, the read event is made active again: epoll would not
 * report bytes that already left the kernel.
 */
static int
wl_read_tls(struct wl_conn *c)
{
	struct evbuffer_iovec v;
	size_t		      got = 0;
	int		      n, err;

	c->tls_rblocked = 0;
	while (got < (size_t)WL_MAX_SINGLE_IO * WL_READS_PER_CB) {
		if (evbuffer_reserve_space(c->in, WL_TLS_READ, &v, 1) != 1) {
			errno = ENOMEM;
			return -1;
		}
		ERR_clear_error();
		errno = 0;
		n = SSL_read(c->ssl, v.iov_base,
		    v.iov_len < INT32_MAX ? (int)v.iov_len : INT32_MAX);
		if (n > 0) {
			v.iov_len = (size_t)n;
			if (evbuffer_commit_space(c->in, &v, 1) == -1) {
				errno = ENOMEM;
				return -1;
			}
			got += (size_t)n;
			continue;
		}
		switch ((err = SSL_get_error(c->ssl, n))) {
		case SSL_ERROR_WANT_READ:
			return 0;
		case SSL_ERROR_WANT_WRITE:
			/* a renegotiation or key update: wait to write */
			c->tls_rblocked = 1;
			return wl_want_write(c);
		case SSL_ERROR_ZERO_RETURN:
			return 1; /* close_notify */
		case SSL_ERROR_SYSCALL:
			if (errno == 0)
				return 1; /* EOF without close_notify */
			wl_tls_error(err);
			return -1;
		default:
			wl_tls_error(err);
			return -1;
		}
	}
	if (SSL_has_pending(c->ssl))
		event_active(c->rev, EV_READ, 1);
	return 0;
}

/*
 * Read what the socket has, in big chunks, into the input buffer.
 * Returns 1 when the server closed its side, 0 when the socket is drained
 * for now, -1 on error (errno set).
 */
static int
wl_read_socket(struct wl_conn *c)
{
	struct evbuffer_iovec v[2];
	struct iovec	      iov[2];
	ssize_t		      n;
	size_t		      left;
	int		      i, k, nv;

	if (c->ssl != NULL)
		return wl_read_tls(c);
	for (i = 0; i < WL_READS_PER_CB; i++) {
		nv = evbuffer_reserve_space(c->in, WL_MAX_SINGLE_IO, v, 2);
		if (nv < 1) {
			errno = ENOMEM;
			return -1;
		}
		for (k = 0; k < nv; k++) {
			iov[k].iov_base = v[k].iov_base;
			iov[k].iov_len = v[k].iov_len;
		}
		n = readv(c->fd, iov, nv);
		if (n == 0)
			return 1;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		left = (size_t)n;
		for (k = 0; k < nv && left > 0; k++) {
			if (v[k].iov_len > left)
				v[k].iov_len = left;
			left -= v[k].iov_len;
		}
		if (evbuffer_commit_space(c->in, v, k) == -1) {
			errno = ENOMEM;
			return -1;
		}
		if (n < WL_MAX_SINGLE_IO)
			return 0;
	}
	return 0;
}

/* Socket readable (or silent too long): handshake, then frames or raw
 * bytes, then whatever the mode sends next. */
static void
wl_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wl_conn *c = arg;
	unsigned int	gen = c->gen;
	int		eof;

	if (what & EV_TIMEOUT) {
		wl_conn_fail(c, "timeout",
		    c->state == WL_ST_TLS	    ? "TLS handshake" :
			c->state == WL_ST_HANDSHAKE ? "handshake" :
						      "data");
		return;
	}
	if (c->state == WL_ST_TLS) {
		wl_tls_handshake(c);
		return;
	}
	if ((eof = wl_read_socket(c)) == -1) {
		wl_conn_fail(c, "socket error", wl_errtext());
		return;
	}
	if (c->state == WL_ST_HANDSHAKE && wl_handshake_input(c) != 1) {
		if (c->gen == gen && eof) /* closed before a full head */
			wl_conn_fail(c, "server closed the connection",
			    "during handshake");
		return;
	}
	if (opts.raw) {
		if (wl_consume(c, c->in, evbuffer_get_length(c->in)) == -1) {
			wl_conn_fail(c, "echo mismatch", NULL);
			return;
		}
	} else if (wl_ws_input(c) == -1) {
		return;
	}
	if (eof) {
		if (c->state == WL_ST_CLOSING)
			wl_cycle_done(c);
		else
			wl_conn_fail(c, "server closed the connection", NULL);
		return;
	}
	if (wl_conn_progress(c) == -1 || c->gen != gen)
		return;
	if (wl_flush(c) == -1)
		wl_conn_fail(c, "socket error", wl_errtext());
}

/* Compute the key we send and the accept value we expect back. */
static int
wl_make_key(struct wl_conn *c, char key[32])
{
	unsigned char raw[16], md[EVP_MAX_MD_SIZE];
	char	      buf[96];
	unsigned int  mdlen;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	snprintf(buf, sizeof(buf), "%s%s", key, WL_WS_GUID);
	if (EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_sha1(), NULL) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)c->accept, md, mdlen);
	return 0;
}

/* The request path of a new connection: opts.path, with --path-range its
 * first {} replaced by a number drawn from the runner's PRNG. */
static void
wl_request_path(struct wl_conn *c, char *buf, size_t len)
{
	const char *brace;

	if (opts.path_range == 0 ||
	    (brace = strstr(opts.path, "{}")) == NULL) {
		snprintf(buf, len, "%s", opts.path);
		return;
	}
	snprintf(buf, len, "%.*s%lu%s", (int)(brace - opts.path), opts.path,
	    (unsigned long)(wl_random32(c->r) % (uint32_t)opts.path_range),
	    brace + 2);
}

/* The transport is up (TCP, and TLS with --tls): send the upgrade
 * request (or start the echo with --raw). */
static void
wl_transport_up(struct wl_conn *c)
{
	unsigned int gen = c->gen;
	char	     key[32], path[sizeof(opts.path) + 16];
	int	     rv;

	if (opts.raw) {
		rv = wl_conn_opened(c);
	} else if (wl_make_key(c, key) == -1) {
		wl_conn_fail(c, "key", "OpenSSL failed");
		return;
	} else {
		c->state = WL_ST_HANDSHAKE;
		wl_request_path(c, path, sizeof(path));
		rv = evbuffer_add_printf(c->out,
		    "GET %s HTTP/1.1\r\n"
		    "Host: %s%s%s:%d\r\n"
		    "Upgrade: websocket\r\n"
		    "Connection: Upgrade\r\n"
		    "Sec-WebSocket-Key: %s\r\n"
		    "Sec-WebSocket-Version: 13\r\n"
		    "%s%s%s"
		    "\r\n",
		    path, strchr(opts.host, ':') ? "[" : "", opts.host,
		    strchr(opts.host, ':') ? "]" : "", opts.port, key,
		    opts.protocol[0] ? "Sec-WebSocket-Protocol: " : "",
		    opts.protocol, opts.protocol[0] ? "\r\n" : "");
	}
	if (c->gen != gen)
		return;
	if (rv < 0) {
		wl_conn_fail(c, "out of memory", NULL);
		return;
	}
	if (wl_flush(c) == -1)
		wl_conn_fail(c, "socket error", wl_errtext());
}

/* Drive the TLS handshake one step; on success start the session.  The
 * read event (with the inactivity timeout) is always armed; the write
 * event only while OpenSSL waits to write. */
static void
wl_tls_handshake(struct wl_conn *c)
{
	char detail[200];
	long vr;
	int  n, err;

	ERR_clear_error();
	errno = 0;
	n = SSL_do_handshake(c->ssl);
	if (n == 1) {
		if (c->wev_armed) {
			event_del(c->wev);
			c->wev_armed = 0;
		}
		/* records read with the handshake's last flight */
		if (SSL_has_pending(c->ssl))
			event_active(c->rev, EV_READ, 1);
		wl_transport_up(c);
		return;
	}
	switch ((err = SSL_get_error(c->ssl, n))) {
	case SSL_ERROR_WANT_READ:
		if (c->wev_armed) {
			event_del(c->wev);
			c->wev_armed = 0;
		}
		return;
	case SSL_ERROR_WANT_WRITE:
		if (wl_want_write(c) == -1)
			wl_conn_fail(c, "event_add", NULL);
		return;
	default:
		vr = SSL_get_verify_result(c->ssl);
		wl_tls_error(err);
		if (vr != X509_V_OK)
			snprintf(detail, sizeof(detail), "%s",
			    X509_verify_cert_error_string(vr));
		else
			snprintf(detail, sizeof(detail), "%s", wl_tls_err);
		wl_conn_fail(c, "TLS handshake", detail);
		return;
	}
}

/* TCP is up: start TLS, or the session itself. */
static void
wl_connected(struct wl_conn *c)
{
	struct timeval tv = wl_tv(opts.timeout);

	if (event_add(c->rev, &tv) == -1) {
		wl_conn_fail(c, "event_add", NULL);
		return;
	}
	if (!opts.tls) {
		wl_transport_up(c);
		return;
	}
	if ((c->ssl = SSL_new(wl_ssl_ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		ERR_clear_error();
		wl_conn_fail(c, "TLS", "SSL_new failed");
		return;
	}
	if (!opts.insecure &&
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), opts.host) !=
		1) {
		ERR_clear_error();
		wl_conn_fail(c, "TLS", "cannot set the address to verify");
		return;
	}
	SSL_set_connect_state(c->ssl);
	c->state = WL_ST_TLS;
	wl_tls_handshake(c);
}

/* Writable: the connect finished (or timed out), or queued output can go. */
static void
wl_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wl_conn *c = arg;
	socklen_t	len = sizeof(int);
	int		err = 0;

	if (c->state == WL_ST_CONNECTING) {
		if (what & EV_TIMEOUT) {
			wl_conn_fail(c, "timeout", "connect");
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0) {
			wl_conn_fail(c, "connect", strerror(err));
			return;
		}
		event_del(c->wev);
		c->wev_armed = 0;
		wl_connected(c);
		return;
	}
	if (c->state == WL_ST_TLS) {
		wl_tls_handshake(c);
		return;
	}
	if (c->tls_rblocked) {
		/* SSL_read was waiting for this; it flushes too */
		wl_read_cb(fd, EV_READ, c);
		return;
	}
	if (wl_flush(c) == -1)
		wl_conn_fail(c, "socket error", wl_errtext());
}

/* Open a connection: a new non-blocking socket, its events, connect. */
static void
wl_conn_start(struct wl_conn *c)
{
	struct wl_runner *r = c->r;
	struct timeval	  tv = wl_tv(opts.timeout);
	int		  on = 1;

	c->tx = c->rx = c->frame_left = 0;
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	if (c->in == NULL && (c->in = evbuffer_new()) == NULL) {
		wl_conn_fail(c, "out of memory", NULL);
		return;
	}
	if (c->out == NULL && (c->out = evbuffer_new()) == NULL) {
		wl_conn_fail(c, "out of memory", NULL);
		return;
	}
	c->fd = socket(opts.addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		wl_conn_fail(c, "socket", strerror(errno));
		return;
	}
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	c->rev =
	    event_new(r->base, c->fd, EV_READ | EV_PERSIST, wl_read_cb, c);
	c->wev =
	    event_new(r->base, c->fd, EV_WRITE | EV_PERSIST, wl_write_cb, c);
	if (c->rev == NULL || c->wev == NULL) {
		wl_conn_fail(c, "out of memory", NULL);
		return;
	}
	c->state = WL_ST_CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&opts.addr,
		(socklen_t)opts.addrlen) == 0) {
		wl_connected(c);
		return;
	}
	if (errno != EINPROGRESS) {
		wl_conn_fail(c, "connect", strerror(errno));
		return;
	}
	if (event_add(c->wev, &tv) == -1) {
		wl_conn_fail(c, "event_add", NULL);
		return;
	}
	c->wev_armed = 1;
}

/* Snapshot counters at the start of the measured window. */
static void
wl_start_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wl_runner *r = arg;

	clock_gettime(CLOCK_MONOTONIC, &r->ts_start);
	r->rx_start = r->rx_bytes;
	r->cycles_start = r->cycles;
	r->cycle_ms_start = r->cycle_ms;
	r->started = 1;
}

/* Snapshot counters at the end of the measured window (or early stop). */
static void
wl_end_snapshot(struct wl_runner *r)
{
	if (!r->started || r->ended)
		return;
	clock_gettime(CLOCK_MONOTONIC, &r->ts_end);
	r->rx_end = r->rx_bytes;
	r->cycles_end = r->cycles;
	r->cycle_ms_end = r->cycle_ms;
	r->ended = 1;
}

/* Measured window over: record and stop. */
static void
wl_end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wl_runner *r = arg;

	wl_end_snapshot(r);
	wl_runner_stop(r);
}

/* Hard limit on the whole run reached. */
static void
wl_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wl_runner *r = arg;

	r->timed_out = 1;
	wl_note_error(r, "run exceeded --max-time", NULL);
	wl_runner_stop(r);
}

/* Idle hold time is over. */
static void
wl_hold_cb(evutil_socket_t fd, short what, void *arg)
{
	wl_runner_stop(arg);
}

/* Idle mode: stdin (a pipe) closed, so the caller is done measuring. */
static void
wl_stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	char	buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		wl_runner_stop(arg);
}

/* Periodic: a signal asked us to stop. */
static void
wl_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	if (wl_stop)
		wl_runner_stop(arg);
}

/* Set up a runner's loop, timers and connection slots. */
static void
wl_runner_init(struct wl_runner *r, int id, int nconns)
{
	struct timeval tick = { 0, WL_TICK_MSEC * 1000 };
	struct stat    st;
	int	       i;

	r->id = id;
	r->nconns = nconns;
	if ((r->base = event_base_new()) == NULL)
		wl_fatalx("event_base_new failed", NULL);
	if ((r->conns = calloc((size_t)nconns, sizeof(*r->conns))) == NULL)
		wl_fatalx("out of memory", NULL);
	for (i = 0; i < nconns; i++) {
		r->conns[i].r = r;
		r->conns[i].fd = -1;
	}
	if (RAND_bytes((unsigned char *)&r->prng, sizeof(r->prng)) != 1)
		wl_fatalx("RAND_bytes failed", NULL);
	r->prng |= 1;
	r->tick = event_new(r->base, -1, EV_PERSIST, wl_tick_cb, r);
	r->t_start = evtimer_new(r->base, wl_start_cb, r);
	r->t_end = evtimer_new(r->base, wl_end_cb, r);
	r->t_deadline = evtimer_new(r->base, wl_deadline_cb, r);
	r->t_hold = evtimer_new(r->base, wl_hold_cb, r);
	if (!r->tick || !r->t_start || !r->t_end || !r->t_deadline ||
	    !r->t_hold)
		wl_fatalx("evtimer_new failed", NULL);
	event_add(r->tick, &tick);
	if (opts.mode == WL_MODE_RTT &&
	    (r->samples = calloc((size_t)opts.count, sizeof(double))) == NULL)
		wl_fatalx("out of memory", NULL);
	if (opts.mode == WL_MODE_IDLE && fstat(0, &st) == 0 &&
	    (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		evutil_make_socket_nonblocking(0);
		r->ev_stdin = event_new(r->base, 0, EV_READ | EV_PERSIST,
		    wl_stdin_cb, r);
		if (r->ev_stdin != NULL)
			event_add(r->ev_stdin, NULL);
	}
}

/* Thread body: start the connections and run the loop until done. */
static void *
wl_runner_main(void *arg)
{
	struct wl_runner *r = arg;
	struct timeval	  tv;
	double		  now = wl_now();
	int		  i;

	tv = wl_tv(opts.max_time - now);
	evtimer_add(r->t_deadline, &tv);
	if (opts.mode == WL_MODE_THROUGHPUT || opts.mode == WL_MODE_CONNRATE) {
		tv = wl_tv(opts.warmup - now);
		evtimer_add(r->t_start, &tv);
		tv = wl_tv(opts.warmup + opts.seconds - now);
		evtimer_add(r->t_end, &tv);
	}
	r->alive = r->nconns;
	if (opts.mode == WL_MODE_IDLE) {
		wl_idle_progress(r);
	} else {
		for (i = 0; i < r->nconns && !r->stopping; i++)
			wl_conn_start(&r->conns[i]);
	}
	if (!r->stopping)
		event_base_dispatch(r->base);
	wl_end_snapshot(r);
	return NULL;
}

/* Release everything a runner holds. */
static void
wl_runner_free(struct wl_runner *r)
{
	int i;

	for (i = 0; i < r->nconns; i++) {
		wl_conn_goodbye(&r->conns[i]);
		wl_conn_release(&r->conns[i]);
		if (r->conns[i].in != NULL)
			evbuffer_free(r->conns[i].in);
		if (r->conns[i].out != NULL)
			evbuffer_free(r->conns[i].out);
	}
	if (r->ev_stdin)
		event_free(r->ev_stdin);
	event_free(r->tick);
	event_free(r->t_start);
	event_free(r->t_end);
	event_free(r->t_deadline);
	event_free(r->t_hold);
	event_base_free(r->base);
	free(r->conns);
	free(r->samples);
}

/* qsort comparator for doubles. */
static int
wl_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static double
wl_percentile(const double *v, long n, double pct)
{
	long k;

	if (n == 0)
		return 0;
	k = (long)ceil(pct / 100.0 * (double)n) - 1;
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return v[k];
}

/* Sum the runners and print the result line.  Returns the exit status. */
static int
wl_report(struct wl_runner *rs, int nr)
{
	uint64_t bytes = 0, cycles = 0, errors = 0, verr = 0, connected = 0;
	double	 secs = 0, cms = 0, mean = 0;
	int	 i, ok, started = 0;
	long	 j;

	for (i = 0; i < nr; i++) {
		struct wl_runner *r = &rs[i];

		if (r->started && r->ended) {
			bytes += r->rx_end - r->rx_start;
			cycles += r->cycles_end - r->cycles_start;
			cms += r->cycle_ms_end - r->cycle_ms_start;
			secs += wl_elapsed_us(&r->ts_start, &r->ts_end) / 1e6;
			started++;
		}
		errors += r->errors;
		verr += r->verify_errors;
		connected += r->connected;
		if (r->first_error[0] != '\0')
			fprintf(stderr,
			    "wsload: runner %d: %" PRIu64
			    " errors, first: %s\n",
			    i, r->errors, r->first_error);
	}
	if (started > 0)
		secs /= started;
	switch (opts.mode) {
	case WL_MODE_THROUGHPUT:
		printf("mode=throughput raw=%d tls=%d conns=%d size=%zu "
		       "window=%zu seconds=%.3f bytes=%" PRIu64
		       " mbps=%.1f msgs=%" PRIu64 " msgs_per_s=%.0f"
		       " connected=%" PRIu64 " errors=%" PRIu64
		       " verify_errors=%" PRIu64 "\n",
		    opts.raw, opts.tls, opts.conns, opts.size, opts.window,
		    secs, bytes,
		    secs > 0 ? (double)bytes / secs / 1048576.0 : 0.0,
		    bytes / opts.size,
		    secs > 0 ? (double)(bytes / opts.size) / secs : 0.0,
		    connected, errors, verr);
		ok = bytes > 0;
		break;
	case WL_MODE_RTT: {
		struct wl_runner *r = &rs[0];

		qsort(r->samples, (size_t)r->nsamples, sizeof(double),
		    wl_cmp_double);
		for (j = 0; j < r->nsamples; j++)
			mean += r->samples[j];
		if (r->nsamples > 0)
			mean /= (double)r->nsamples;
		printf("mode=rtt raw=%d tls=%d size=%zu count=%ld samples=%ld "
		       "min_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
		       "max_us=%.1f mean_us=%.1f errors=%" PRIu64
		       " verify_errors=%" PRIu64 "\n",
		    opts.raw, opts.tls, opts.size, opts.count, r->nsamples,
		    wl_percentile(r->samples, r->nsamples, 0),
		    wl_percentile(r->samples, r->nsamples, 50),
		    wl_percentile(r->samples, r->nsamples, 90),
		    wl_percentile(r->samples, r->nsamples, 99),
		    wl_percentile(r->samples, r->nsamples, 100), mean, errors,
		    verr);
		ok = r->nsamples > 0;
		break;
	}
	case WL_MODE_CONNRATE:
		printf("mode=connrate raw=%d tls=%d conns=%d seconds=%.3f "
		       "cycles=%" PRIu64
		       " cps=%.1f mean_ms=%.3f errors=%" PRIu64
		       " verify_errors=%" PRIu64 " connected=%" PRIu64 "\n",
		    opts.raw, opts.tls, opts.conns, secs, cycles,
		    secs > 0 ? (double)cycles / secs : 0.0,
		    cycles > 0 ? cms / (double)cycles : 0.0, errors, verr,
		    connected);
		ok = cycles > 0;
		break;
	case WL_MODE_IDLE:
	default: {
		struct wl_runner *r = &rs[0];
		struct timespec	  now;
		double		  held = 0;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (r->ready)
			held = wl_elapsed_us(&r->ts_ready, &now) / 1e6;
		printf("mode=idle raw=%d tls=%d conns=%d opened=%d failed=%d "
		       "dropped=%d held_s=%.3f errors=%" PRIu64
		       " verify_errors=%" PRIu64 "\n",
		    opts.raw, opts.tls, opts.conns, r->opened, r->failed,
		    r->dropped, held, errors, verr);
		ok = r->opened == opts.conns;
		break;
	}
	}
	fflush(stdout);
	return ok && errors == 0 && verr == 0 ? 0 : 1;
}

/* Parse a bounded number, with an optional k/m suffix (x1024). */
static double
wl_parse_num(const char *s, double lo, double hi, const char *name)
{
	char  *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*end == 'k' || *end == 'K') {
		v *= 1024;
		end++;
	} else if (*end == 'm' || *end == 'M') {
		v *= 1024 * 1024;
		end++;
	}
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
		wl_fatalx("bad value for", name);
	return v;
}

/* Split "ws[s]://host:port/path", "tcp://host:port" or "host:port". */
static void
wl_parse_url(const char *url)
{
	char buf[384], *p, *host, *port, *path;

	if (strlen(url) >= sizeof(buf))
		wl_fatalx("URL too long", url);
	if (strncmp(url, "ws://", 5) == 0) {
		url += 5;
	} else if (strncmp(url, "wss://", 6) == 0) {
		url += 6;
		opts.tls = 1;
	} else if (strncmp(url, "tcp://", 6) == 0) {
		url += 6;
	} else if (strstr(url, "://") != NULL) {
		wl_fatalx("only ws://, wss:// and tcp:// URLs", url);
	}
	snprintf(buf, sizeof(buf), "%s", url);
	if ((path = strchr(buf, '/')) != NULL) {
		snprintf(opts.path, sizeof(opts.path), "%s", path);
		*path = '\0';
	}
	host = buf;
	if (*host == '[') {
		host++;
		if ((p = strchr(host, ']')) == NULL)
			wl_fatalx("bad URL", url);
		*p++ = '\0';
		port = *p == ':' ? p + 1 : NULL;
	} else if (strchr(host, ':') != strrchr(host, ':')) {
		port =
		    NULL; /* a bare IPv6 address: the port comes from --port */
	} else if ((port = strrchr(host, ':')) != NULL) {
		*port++ = '\0';
	}
	if (strlen(host) >= sizeof(opts.host))
		wl_fatalx("host too long", host);
	if (*host != '\0')
		memcpy(opts.host, host, strlen(host) + 1);
	if (port != NULL)
		opts.port = (int)wl_parse_num(port, 1, 65535, "port");
}

/* Turn host:port into a socket address; refuse anything off loopback. */
static void
wl_resolve(void)
{
	struct sockaddr_in  *sin = (struct sockaddr_in *)&opts.addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&opts.addr;

	if (strcmp(opts.host, "localhost") == 0)
		snprintf(opts.host, sizeof(opts.host), "127.0.0.1");
	memset(&opts.addr, 0, sizeof(opts.addr));
	if (inet_pton(AF_INET, opts.host, &sin->sin_addr) == 1) {
		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
			wl_fatalx("only loopback targets", opts.host);
		sin->sin_family = AF_INET;
		sin->sin_port = htons(opts.port);
		opts.addrlen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, opts.host, &sin6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			wl_fatalx("only loopback targets", opts.host);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(opts.port);
		opts.addrlen = sizeof(*sin6);
	} else {
		wl_fatalx("not a numeric address", opts.host);
	}
	if (opts.port == 0)
		wl_fatalx("no port given", NULL);
}

/* Parse the command line into opts, with per-mode defaults. */
static void
wl_parse_args(int argc, char **argv)
{
	static const struct option longopts[] = { { "mode", required_argument,
						      NULL, 'm' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "path-range", required_argument, NULL, 'R' },
		{ "protocol", required_argument, NULL, 'x' },
		{ "raw", no_argument, NULL, 'r' },
		{ "tls", no_argument, NULL, 'S' },
		{ "cafile", required_argument, NULL, 'A' },
		{ "insecure", no_argument, NULL, 'k' },
		{ "conns", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' },
		{ "seconds", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "count", required_argument, NULL, 'n' },
		{ "hold", required_argument, NULL, 'h' + 256 },
		{ "concurrency", required_argument, NULL, 'C' },
		{ "threads", required_argument, NULL, 'T' },
		{ "timeout", required_argument, NULL, 'o' },
		{ "max-time", required_argument, NULL, 'M' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	double			   size = -1, warmup = -1, conns = -1;
	int			   ch;

	snprintf(opts.host, sizeof(opts.host), "127.0.0.1");
	snprintf(opts.path, sizeof(opts.path), "/");
	opts.protocol = "binary";
	opts.mode = WL_MODE_THROUGHPUT;
	opts.threads = 1;
	opts.seconds = 5;
	opts.count = 10000;
	opts.hold = 10;
	opts.timeout = 10;
	opts.concurrency = WL_DEFAULT_CONCURRENCY;
	opts.window = WL_DEFAULT_WINDOW;
	opts.verify = 1;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			if (strcmp(optarg, "throughput") == 0)
				opts.mode = WL_MODE_THROUGHPUT;
			else if (strcmp(optarg, "rtt") == 0)
				opts.mode = WL_MODE_RTT;
			else if (strcmp(optarg, "connrate") == 0)
				opts.mode = WL_MODE_CONNRATE;
			else if (strcmp(optarg, "idle") == 0)
				opts.mode = WL_MODE_IDLE;
			else
				wl_fatalx("unknown mode", optarg);
			break;
		case 'H':
			if (strlen(optarg) >= sizeof(opts.host))
				wl_fatalx("host too long", optarg);
			memcpy(opts.host, optarg, strlen(optarg) + 1);
			break;
		case 'p':
			opts.port =
			    (int)wl_parse_num(optarg, 1, 65535, "port");
			break;
		case 'P':
			if (optarg[0] != '/')
				wl_fatalx("path must start with /", optarg);
			snprintf(opts.path, sizeof(opts.path), "%s", optarg);
			break;
		case 'R':
			opts.path_range = (long)wl_parse_num(optarg, 1,
			    WL_MAX_PATH_RANGE, "path-range");
			break;
		case 'x':
			opts.protocol = optarg;
			break;
		case 'r':
			opts.raw = 1;
			break;
		case 'S':
			opts.tls = 1;
			break;
		case 'A':
			opts.cafile = optarg;
			break;
		case 'k':
			opts.insecure = 1;
			break;
		case 'c':
			conns = wl_parse_num(optarg, 1, WL_MAX_CONNS, "conns");
			break;
		case 's':
			size = wl_parse_num(optarg, 1, WL_MAX_SIZE, "size");
			break;
		case 'w':
			opts.window = (size_t)wl_parse_num(optarg, 1,
			    256.0 * 1024 * 1024, "window");
			break;
		case 't':
			opts.seconds = wl_parse_num(optarg, 0.01,
			    WL_MAX_SECONDS, "seconds");
			break;
		case 'W':
			warmup =
			    wl_parse_num(optarg, 0, WL_MAX_SECONDS, "warmup");
			break;
		case 'n':
			opts.count = (long)wl_parse_num(optarg, 1,
			    WL_MAX_COUNT, "count");
			break;
		case 'h' + 256:
			opts.hold =
			    wl_parse_num(optarg, 0, WL_MAX_SECONDS, "hold");
			break;
		case 'C':
			opts.concurrency = (int)wl_parse_num(optarg, 1,
			    WL_MAX_CONNS, "concurrency");
			break;
		case 'T':
			opts.threads = (int)wl_parse_num(optarg, 1,
			    WL_MAX_THREADS, "threads");
			break;
		case 'o':
			opts.timeout = wl_parse_num(optarg, 0.01,
			    WL_MAX_SECONDS, "timeout");
			break;
		case 'M':
			opts.max_time = wl_parse_num(optarg, 0.01,
			    4 * WL_MAX_SECONDS, "max-time");
			break;
		case 'V':
			opts.verify = 0;
			break;
		case 'h':
			wl_usage(stdout);
			exit(0);
		default:
			wl_usage(stderr);
			exit(2);
		}
	}
	if (optind < argc - 1) {
		wl_usage(stderr);
		exit(2);
	}
	if (optind == argc - 1)
		wl_parse_url(argv[optind]);
	wl_resolve();
	if (opts.path_range > 0 && strstr(opts.path, "{}") == NULL)
		wl_fatalx("--path-range needs a {} in the path", opts.path);
	if ((opts.cafile != NULL || opts.insecure) && !opts.tls)
		wl_fatalx("--cafile and --insecure need --tls", NULL);
	if (opts.cafile != NULL && opts.insecure)
		wl_fatalx("--cafile and --insecure exclude each other", NULL);

	if (conns > 0)
		opts.conns = (int)conns;
	else
		opts.conns = opts.mode == WL_MODE_IDLE ? 1000 : 1;
	if (size > 0)
		opts.size = (size_t)size;
	else if (opts.mode == WL_MODE_THROUGHPUT)
		opts.size = 65536;
	else
		opts.size = WL_SMALL_MSG;
	if (opts.mode == WL_MODE_CONNRATE || opts.mode == WL_MODE_IDLE)
		opts.size = WL_SMALL_MSG;
	if (warmup >= 0)
		opts.warmup = warmup;
	else if (opts.mode == WL_MODE_THROUGHPUT)
		opts.warmup = 1;
	else if (opts.mode == WL_MODE_CONNRATE)
		opts.warmup = 0.5;
	if (opts.window < opts.size)
		opts.window = opts.size;
	if (opts.mode == WL_MODE_RTT)
		opts.conns = 1;
	if (opts.mode == WL_MODE_RTT || opts.mode == WL_MODE_IDLE)
		opts.threads = 1;
	if (opts.threads > opts.conns)
		opts.threads = opts.conns;
	if (opts.max_time == 0) {
		opts.max_time = opts.warmup + opts.timeout + 30;
		if (opts.mode == WL_MODE_THROUGHPUT ||
		    opts.mode == WL_MODE_CONNRATE)
			opts.max_time += opts.seconds;
		else if (opts.mode == WL_MODE_RTT)
			opts.max_time += 300;
		else
			opts.max_time += opts.hold + 300;
	}
}

/* Set the stop flag; each loop sees it within a tick. */
static void
wl_signal(int sig)
{
	wl_stop = 1;
}

/* Raise the soft descriptor limit; refuse more connections than fit. */
static void
wl_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
		if (rl.rlim_cur != RLIM_INFINITY &&
		    (rlim_t)opts.conns + 32 > rl.rlim_cur)
			wl_fatalx("--conns exceeds the descriptor limit",
			    NULL);
	}
}

/*
 * --tls: one client context for every connection and thread.  Each
 * connection is a full handshake (no session is ever offered for
 * resumption), so connrate over TLS counts full handshakes.
 */
static void
wl_tls_init(void)
{
	long mode = SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;

	if ((wl_ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		wl_fatalx("SSL_CTX_new failed", NULL);
	SSL_CTX_set_min_proto_version(wl_ssl_ctx, TLS1_2_VERSION);
	/* Idle connections hold their buffers otherwise: 5,000 of them
	 * would cost this process about 170 MB. */
	if (opts.mode == WL_MODE_IDLE)
		mode |= SSL_MODE_RELEASE_BUFFERS;
	SSL_CTX_set_mode(wl_ssl_ctx, mode);
	SSL_CTX_set_session_cache_mode(wl_ssl_ctx, SSL_SESS_CACHE_OFF);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* A server may close TCP without close_notify after a WebSocket
	 * Close: that is an EOF, not an error. */
	SSL_CTX_set_options(wl_ssl_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	if (opts.insecure) {
		SSL_CTX_set_verify(wl_ssl_ctx, SSL_VERIFY_NONE, NULL);
		return;
	}
	SSL_CTX_set_verify(wl_ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (opts.cafile != NULL) {
		if (SSL_CTX_load_verify_locations(wl_ssl_ctx, opts.cafile,
			NULL) != 1)
			wl_fatalx("cannot load CA certificates from",
			    opts.cafile);
	} else if (SSL_CTX_set_default_verify_paths(wl_ssl_ctx) != 1) {
		wl_fatalx("cannot load the system CA certificates", NULL);
	}
}

/* Parse, run the mode on one or more loops, print the result line. */
int
main(int argc, char **argv)
{
	struct wl_runner *rs;
	struct sigaction  sa;
	size_t		  i;
	int		  t, status;

	wl_parse_args(argc, argv);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wl_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	wl_raise_nofile();
	if (opts.tls)
		wl_tls_init();

	/* The byte stream every connection sends (and expects back). */
	for (i = 0; i < sizeof(wl_pattern); i++) {
		size_t k = i % WL_PATTERN_PERIOD;

		wl_pattern[i] = (unsigned char)((k * 2654435761u) >> 13);
	}

	if ((rs = calloc((size_t)opts.threads, sizeof(*rs))) == NULL)
		wl_fatalx("out of memory", NULL);
	clock_gettime(CLOCK_MONOTONIC, &wl_start);
	for (t = 0; t < opts.threads; t++)
		wl_runner_init(&rs[t], t,
		    opts.conns / opts.threads +
			(t < opts.conns % opts.threads));
	if (opts.threads == 1) {
		wl_runner_main(&rs[0]);
	} else {
		for (t = 0; t < opts.threads; t++)
			if (pthread_create(&rs[t].thread, NULL, wl_runner_main,
				&rs[t]) != 0)
				wl_fatalx("pthread_create failed", NULL);
		for (t = 0; t < opts.threads; t++)
			pthread_join(rs[t].thread, NULL);
	}
	status = wl_report(rs, opts.threads);
	for (t = 0; t < opts.threads; t++)
		wl_runner_free(&rs[t]);
	free(rs);
	SSL_CTX_free(wl_ssl_ctx);
	libevent_global_shutdown();
	return status;
}
