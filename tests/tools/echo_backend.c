/*
 * echo_backend: a fast TCP echo server for the integration tests and the
 * benchmark.  Every byte read on a connection is written back on it.
 *
 *	echo_backend [--host H] [--port P] [--threads N]
 *
 * After listening it prints the bound port as one line on stdout, so a
 * test can start it on port 0 and read where it went.  Exits 0 on SIGTERM
 * or SIGINT.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>

/* Stop reading a connection whose unsent echo passes this: a client that
 * sends but does not read must not grow our memory without bound. */
#define ECHO_HIGH_WATER (1024 * 1024)

/* Resume reading once the unsent echo has drained to this. */
#define ECHO_LOW_WATER (256 * 1024)

/* One socket read or write.  We do our own reads: libevent 2.1's
 * evbuffer_read() (and so every bufferevent) reads at most 4 KiB a call,
 * whatever bufferevent_set_max_single_read() says. */
#define ECHO_MAX_SINGLE_IO (256 * 1024)

/* Reads per readiness callback, so one busy client cannot starve others. */
#define ECHO_READS_PER_CB 4

/* listen() backlog: connection-rate benchmarks open thousands of sockets
 * a second; the kernel caps this at net.core.somaxconn anyway. */
#define ECHO_BACKLOG 4096

/* Most worker threads; the benchmark machine has two cores. */
#define ECHO_MAX_THREADS 64

/* Pause accepting this long when out of descriptors, instead of spinning. */
#define ECHO_ACCEPT_BACKOFF_MSEC 100

struct echo_worker;

/*
 * One echoed connection; lives on the worker that accepted it.  Bytes read
 * are written straight back; only what the socket does not take is queued
 * in out, and only then is the write event armed (no epoll_ctl churn while
 * the client keeps up).
 */
struct echo_conn {
	evutil_socket_t	 fd;
	struct event	*rev;
	struct event	*wev;
	struct evbuffer *out;
	int		 reading; /* rev is armed */
	int eof; /* client half-closed: finish echoing, then close */
	struct echo_worker    *worker;
	TAILQ_ENTRY(echo_conn) entry;
};

TAILQ_HEAD(echo_conns, echo_conn);

/* One thread: an event loop with its own listening socket. */
struct echo_worker {
	int		       id;
	evutil_socket_t	       fd;
	pthread_t	       thread;
	struct event_base     *base;
	struct evconnlistener *listener;
	struct event	      *backoff;
	struct echo_conns      conns;
	unsigned long	       nconns;
	unsigned char	      *scratch; /* ECHO_MAX_SINGLE_IO bytes */
};

static void echo_accept_cb(struct evconnlistener *, evutil_socket_t,
    struct sockaddr *, int, void *);
static void echo_accept_error_cb(struct evconnlistener *, void *);
static void echo_backoff_cb(evutil_socket_t, short, void *);
static void echo_read_cb(evutil_socket_t, short, void *);
static void echo_write_cb(evutil_socket_t, short, void *);

/* Print usage to the given stream. */
static void
echo_usage(FILE *fp)
{
	fputs("usage: echo_backend [--host H] [--port P] [--threads N]\n"
	      "  --host H      address to listen on (default 127.0.0.1)\n"
	      "  --port P      port, 0 picks a free one (default 0)\n"
	      "  --threads N   event loops sharing the port (SO_REUSEPORT)\n"
	      "Prints the bound port on stdout, echoes every byte back,\n"
	      "exits 0 on SIGTERM/SIGINT.\n",
	    fp);
}

/* Print a message with errno and exit: start-up failures only. */
static void
echo_fatal(const char *what)
{
	fprintf(stderr, "echo_backend: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Raise the soft descriptor limit to the hard one: 5000+ clients. */
static void
echo_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Open a listening socket on host:port.  With reuseport every worker binds
 * its own socket to the same port and the kernel spreads connections.
 * Returns the descriptor; the bound port is stored in *boundp.
 */
static evutil_socket_t
echo_listen(const char *host, int port, int reuseport, int *boundp)
{
	struct sockaddr_storage ss;
	struct sockaddr_in     *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6    *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		sslen;
	evutil_socket_t		fd;
	int			on = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sslen = sizeof(*sin6);
	} else {
		fprintf(stderr, "echo_backend: bad address %s\n", host);
		exit(2);
	}

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		echo_fatal("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		echo_fatal("SO_REUSEADDR");
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1)
		echo_fatal("SO_REUSEPORT");
	if (bind(fd, (struct sockaddr *)&ss, sslen) == -1)
		echo_fatal("bind");
	if (listen(fd, ECHO_BACKLOG) == -1)
		echo_fatal("listen");

	sslen = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1)
		echo_fatal("getsockname");
	*boundp =
	    ntohs(ss.ss_family == AF_INET ? sin->sin_port : sin6->sin6_port);
	return fd;
}

/* Release one connection: events, queued output, socket. */
static void
echo_conn_free(struct echo_conn *c)
{
	TAILQ_REMOVE(&c->worker->conns, c, entry);
	c->worker->nconns--;
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->out != NULL)
		evbuffer_free(c->out);
	evutil_closesocket(c->fd);
	free(c);
}

/* Take a new client: non-blocking, NODELAY, a read event. */
static void
echo_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct echo_worker *w = arg;
	struct echo_conn   *c;
	int		    on = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->fd = fd;
	c->worker = w;
	TAILQ_INSERT_TAIL(&w->conns, c, entry);
	w->nconns++;
	c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, echo_read_cb, c);
	c->wev =
	    event_new(w->base, fd, EV_WRITE | EV_PERSIST, echo_write_cb, c);
	c->out = evbuffer_new();
	if (c->rev == NULL || c->wev == NULL || c->out == NULL ||
	    event_add(c->rev, NULL) == -1) {
		echo_conn_free(c);
		return;
	}
	c->reading = 1;
}

/* accept() failed; on EMFILE/ENFILE pause the listener for a moment. */
static void
echo_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct echo_worker *w = arg;
	struct timeval	    tv = { 0, ECHO_ACCEPT_BACKOFF_MSEC * 1000 };
	int		    err = EVUTIL_SOCKET_ERROR();

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return;
	fprintf(stderr, "echo_backend: accept: %s\n", strerror(err));
	evconnlistener_disable(l);
	evtimer_add(w->backoff, &tv);
}

/* Back-off over: accept again. */
static void
echo_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct echo_worker *w = arg;

	evconnlistener_enable(w->listener);
}

/* Queue bytes the socket did not take and wait for it to drain. */
static int
echo_queue(struct echo_conn *c, const unsigned char *p, size_t len)
{
	if (evbuffer_add(c->out, p, len) == -1)
		return -1;
	return event_add(c->wev, NULL);
}

/*
 * Echo n bytes just read: straight back to the socket when nothing is
 * queued (the common case), else behind what is queued.  Returns -1 when
 * the connection is broken.
 */
static int
echo_send(struct echo_conn *c, const unsigned char *p, size_t n)
{
	ssize_t w;

	if (evbuffer_get_length(c->out) > 0)
		return echo_queue(c, p, n);
	do {
		w = send(c->fd, p, n, MSG_NOSIGNAL);
	} while (w == -1 && errno == EINTR);
	if (w == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		w = 0;
	}
	if ((size_t)w < n)
		return echo_queue(c, p + w, n - (size_t)w);
	return 0;
}

/* Readable: read big chunks and echo them; stop at high water or EOF. */
static void
echo_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct echo_conn *c = arg;
	unsigned char	 *buf = c->worker->scratch;
	ssize_t		  n;
	int		  i;

	for (i = 0; i < ECHO_READS_PER_CB; i++) {
		if (evbuffer_get_length(c->out) >= ECHO_HIGH_WATER) {
			event_del(c->rev);
			c->reading = 0;
			return;
		}
		n = read(fd, buf, ECHO_MAX_SINGLE_IO);
		if (n > 0) {
			if (echo_send(c, buf, (size_t)n) == -1) {
				echo_conn_free(c);
				return;
			}
			if (n < ECHO_MAX_SINGLE_IO)
				return; /* socket drained */
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == 0 && evbuffer_get_length(c->out) > 0) {
			/* half-close: finish the echo from the write side */
			c->eof = 1;
			event_del(c->rev);
			c->reading = 0;
			return;
		}
		echo_conn_free(c); /* EOF with nothing queued, or error */
		return;
	}
}

/* Writable: drain the queue; resume reading at low water; close after a
 * half-close once everything is echoed. */
static void
echo_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct echo_conn *c = arg;
	size_t		  left;

	if (evbuffer_write_atmost(c->out, fd, ECHO_MAX_SINGLE_IO) == -1 &&
	    errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		echo_conn_free(c);
		return;
	}
	left = evbuffer_get_length(c->out);
	if (left == 0) {
		event_del(c->wev);
		if (c->eof) {
			echo_conn_free(c);
			return;
		}
	}
	if (!c->reading && !c->eof && left <= ECHO_LOW_WATER) {
		if (event_add(c->rev, NULL) == -1) {
			echo_conn_free(c);
			return;
		}
		c->reading = 1;
	}
}

/* Thread body: run one worker's loop until told to stop. */
static void *
echo_worker_main(void *arg)
{
	struct echo_worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

/* Build a worker around an already listening socket. */
static void
echo_worker_init(struct echo_worker *w, int id, evutil_socket_t fd)
{
	w->id = id;
	w->fd = fd;
	TAILQ_INIT(&w->conns);
	if ((w->base = event_base_new()) == NULL)
		echo_fatal("event_base_new");
	w->listener = evconnlistener_new(w->base, echo_accept_cb, w,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (w->listener == NULL)
		echo_fatal("evconnlistener_new");
	evconnlistener_set_error_cb(w->listener, echo_accept_error_cb);
	if ((w->backoff = evtimer_new(w->base, echo_backoff_cb, w)) == NULL)
		echo_fatal("evtimer_new");
	if ((w->scratch = malloc(ECHO_MAX_SINGLE_IO)) == NULL)
		echo_fatal("malloc");
}

/* Free a stopped worker and every connection it still holds. */
static void
echo_worker_free(struct echo_worker *w)
{
	struct echo_conn *c;

	while ((c = TAILQ_FIRST(&w->conns)) != NULL)
		echo_conn_free(c);
	event_free(w->backoff);
	evconnlistener_free(w->listener);
	event_base_free(w->base);
	free(w->scratch);
}

/* Parse a bounded decimal option or exit with usage. */
static int
echo_parse_int(const char *s, int lo, int hi, const char *name)
{
	char *end;
	long  v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "echo_backend: bad %s: %s\n", name, s);
		exit(2);
	}
	return (int)v;
}

/* Start the workers, print the port, run until SIGTERM or SIGINT. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "host", required_argument,
						      NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	struct echo_worker	   workers[ECHO_MAX_THREADS];
	const char		  *host = "127.0.0.1";
	int			   port = 0, nthreads = 1, bound, i, ch, sig;
	sigset_t		   set;

	while ((ch = getopt_long(argc, argv, "H:p:t:h", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'H':
			host = optarg;
			break;
		case 'p':
			port = echo_parse_int(optarg, 0, 65535, "port");
			break;
		case 't':
			nthreads = echo_parse_int(optarg, 1, ECHO_MAX_THREADS,
			    "threads");
			break;
		case 'h':
			echo_usage(stdout);
			return 0;
		default:
			echo_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		echo_usage(stderr);
		return 2;
	}

	/* Workers inherit this mask; the main thread takes the signals. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		echo_fatal("pthread_sigmask");
	if (evthread_use_pthreads() == -1)
		echo_fatal("evthread_use_pthreads");
	echo_raise_nofile();

	memset(workers, 0, sizeof(workers));
	for (i = 0; i < nthreads; i++) {
		evutil_socket_t fd;

		fd = echo_listen(host, port, nthreads > 1, &bound);
		port = bound; /* the others join the port the first one got */
		echo_worker_init(&workers[i], i, fd);
	}
	printf("%d\n", port);
	fflush(stdout);

	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&workers[i].thread, NULL, echo_worker_main,
			&workers[i]) != 0) {
			errno = EAGAIN;
			echo_fatal("pthread_create");
		}
	}

	while (sigwait(&set, &sig) != 0)
		continue;

	for (i = 0; i < nthreads; i++)
		event_base_loopbreak(workers[i].base);
	for (i = 0; i < nthreads; i++) {
		pthread_join(workers[i].thread, NULL);
		echo_worker_free(&workers[i]);
	}
	libevent_global_shutdown();
	return 0;
}
