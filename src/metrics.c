/*
 * --metrics: GET /metrics (Prometheus text) and GET /healthz on a
 * listener of its own, served by evhttp on the main thread's loop.  A
 * scrape adds the workers' slots up (metrics_format.c formats them) and
 * counts the open files then: nothing on the data path.
 */
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "connlimit.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "token.h"
#include "worker.h"

/* Most listening addresses of the metrics server (a bare port: IPv4 and
 * IPv6). */
#define METRICS_MAX_LISTENERS 2
/* Seconds a scraper has to send its request (and read the reply). */
#define METRICS_HTTP_TIMEOUT_SEC 10
/* A scrape request has no body and a short head. */
#define METRICS_MAX_HEAD 8192

struct metrics_slot metrics_slots[WSB_MAX_WORKERS];

struct metrics_server {
	struct evhttp	      *http;
	struct server	      *srv;
	const char	      *plugin; /* the token plugin's name, or NULL */
	double		       start_time;
	struct evconnlistener *listeners[METRICS_MAX_LISTENERS];
	int		       nlisteners;
	struct event	      *backoff; /* out of descriptors: a pause */
};

/* The one metrics server, for its listeners' error callback (whose
 * argument evhttp takes). */
static struct metrics_server *metrics_current;

static void metrics_request_cb(struct evhttp_request *, void *);

/* Reply code (reason) with what the output buffer holds; to HEAD, its
 * length in Content-Length and no body (evhttp 2.1 would send it). */
static void
metrics_send(struct evhttp_request *req, int code, const char *reason)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	char		 len[24];

	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(len, sizeof(len), "%zu", evbuffer_get_length(out));
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Length", len);
		evbuffer_drain(out, evbuffer_get_length(out));
	}
	evhttp_send_reply(req, code, reason, NULL);
}

/* accept() failed: out of descriptors or memory, pause the listeners
 * (as the workers do) rather than spin; anything else is passing. */
static void
metrics_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct metrics_server *ms = metrics_current;
	struct timeval	       tv = { 0, WSB_ACCEPT_BACKOFF_MSEC * 1000 };
	int		       err = EVUTIL_SOCKET_ERROR(), i;

	if (ms == NULL ||
	    (err != EMFILE && err != ENFILE && err != ENOBUFS &&
		err != ENOMEM)) {
		log_debug("metrics: accept: %s", strerror(err));
		return;
	}
	log_warnx("metrics: accept: %s; pausing %d ms", strerror(err),
	    WSB_ACCEPT_BACKOFF_MSEC);
	for (i = 0; i < ms->nlisteners; i++)
		evconnlistener_disable(ms->listeners[i]);
	evtimer_add(ms->backoff, &tv);
}

/* Accept again after the pause. */
static void
metrics_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_server *ms = arg;
	int		       i;

	for (i = 0; i < ms->nlisteners; i++)
		evconnlistener_enable(ms->listeners[i]);
}

/* Record a loop-lag sample of worker w (its own thread). */
void
metrics_loop_lag(struct worker *w, long long lag_us)
{
	metrics_observe(&METRICS(w)->loop_lag,
	    lag_us > 0 ? (unsigned long long)lag_us : 0);
}

/* Open descriptors: the entries of /proc/self/fd, less the one reading
 * it.  -1 if it cannot be read. */
static long long
metrics_open_fds(void)
{
	DIR	      *d;
	struct dirent *e;
	long long      n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* When the process started, Unix time in seconds: /proc/self/stat's
 * start time (clock ticks after boot) added to the boot time; now if it
 * cannot be read. */
static double
metrics_start_time(void)
{
	struct timespec	   real, boot;
	unsigned long long ticks;
	char		   buf[1024], *p;
	FILE		  *f;
	size_t		   n = 0;
	int		   i;

	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	if ((f = fopen("/proc/self/stat", "re")) != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	/* Fields after the command name (which may hold anything but
	 * ends at the last ')'): state is field 3, starttime field 22. */
	if ((p = strrchr(buf, ')')) == NULL)
		goto now;
	for (i = 2; i < 22 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p, " %llu", &ticks) != 1 ||
	    sysconf(_SC_CLK_TCK) <= 0)
		goto now;
	return (double)real.tv_sec - (double)boot.tv_sec +
	    ((double)real.tv_nsec - (double)boot.tv_nsec) / 1e9 +
	    (double)ticks / (double)sysconf(_SC_CLK_TCK);
now:
	return (double)real.tv_sec + (double)real.tv_nsec / 1e9;
}

/* The gauges, read now. */
static void
metrics_gauges_read(struct metrics_server *ms, struct metrics_gauges *g)
{
	struct rlimit rl;

	memset(g, 0, sizeof(*g));
	g->connections_open = atomic_load(&ms->srv->active_sessions);
	g->open_fds = metrics_open_fds();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		g->max_fds =
		    rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur;
	g->limit_addresses = connlimit_addresses();
	g->start_time = ms->start_time;
	g->accepting = atomic_load(&ms->srv->accepting) != 0;
	g->max_connections = ms->srv->cfg->max_connections;
	g->max_connections_per_ip = ms->srv->cfg->max_connections_per_ip;
}

/* GET /metrics: every worker's slot added up, formatted. */
static void
metrics_scrape(struct metrics_server *ms, struct evhttp_request *req)
{
	const struct metrics_counts *w[WSB_MAX_WORKERS];
	struct metrics_counts	    *sum;
	struct metrics_gauges	     g;
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	int		 i, n = ms->srv->cfg->workers;

	if (n > WSB_MAX_WORKERS)
		n = WSB_MAX_WORKERS;
	if ((sum = calloc(1, sizeof(*sum))) == NULL) {
		evhttp_send_error(req, 503, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		w[i] = &metrics_slots[i].c;
		metrics_sum(sum, w[i]);
	}
	metrics_gauges_read(ms, &g);
	if (metrics_format(out, sum, w, n, &g, ms->plugin) == -1) {
		free(sum);
		evbuffer_drain(out, evbuffer_get_length(out));
		evhttp_send_error(req, 503, "out of memory");
		return;
	}
	free(sum);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	metrics_send(req, 200, "OK");
}

/* Answer a request: GET or HEAD /metrics and /healthz, else 404 (405
 * for another method). */
static void
metrics_request_cb(struct evhttp_request *req, void *arg)
{
	struct metrics_server	*ms = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char	 *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer	 *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);

	if (path == NULL)
		path = "";
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		/* evhttp_send_error() would drop the Allow header. */
		evhttp_add_header(hdr, "Allow", "GET, HEAD");
		evhttp_add_header(hdr, "Content-Type",
		    "text/plain; charset=utf-8");
		evbuffer_add_printf(out, "method not allowed\n");
		evhttp_send_reply(req, 405, "Method Not Allowed", NULL);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		metrics_scrape(ms, req);
		return;
	}
	if (strcmp(path, "/healthz") != 0) {
		evhttp_send_error(req, 404, NULL);
		return;
	}
	evhttp_add_header(hdr, "Content-Type", "text/plain; charset=utf-8");
	if (atomic_load(&ms->srv->accepting)) {
		evbuffer_add_printf(out, "ok\n");
		metrics_send(req, 200, "OK");
	} else {
		evbuffer_add_printf(out, "draining\n");
		metrics_send(req, 503, "Service Unavailable");
	}
}

/*
 * Bind the metrics listeners: a bare port on every IPv4 and IPv6
 * address (one family missing is skipped), an address exactly (its
 * first resolution).  0, or -1 with err.
 */
static int
metrics_bind(struct metrics_server *ms, struct event_base *base,
    const char *host, const char *port, char *err, size_t errlen)
{
	struct addrinfo	       hints, *res, *ai;
	struct evconnlistener *l;
	unsigned	       flags;
	char		       addr[64];
	int		       r, n = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "--metrics %s: %s",
		    host != NULL ? host : "*", gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL && n < METRICS_MAX_LISTENERS;
	     ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
		    LEV_OPT_REUSEABLE;
		if (ai->ai_family == AF_INET6)
			flags |= LEV_OPT_BIND_IPV6ONLY;
		/* Shared as the main port is (SO_REUSEPORT, refused when
		 * held unless --reuse-port): a new instance joining the port
		 * joins its health check too, so once the old one has gone a
		 * load balancer checking this port finds the new one. */
		flags |= LEV_OPT_REUSEABLE_PORT;
		http_format_sockaddr(addr, sizeof(addr), ai->ai_addr);
		if (!ms->srv->cfg->reuse_port &&
		    worker_port_held(ai->ai_addr, ai->ai_addrlen)) {
			snprintf(err, errlen,
			    "--metrics: cannot listen on %s: %s (another "
			    "process holds it; --reuse-port shares it)",
			    addr, strerror(EADDRINUSE));
			freeaddrinfo(res);
			return -1;
		}
		l = evconnlistener_new_bind(base, NULL, NULL, flags, 128,
		    ai->ai_addr, (int)ai->ai_addrlen);
		if (l == NULL && host == NULL &&
		    (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
			continue;
		if (l == NULL) {
			snprintf(err, errlen,
			    "--metrics: cannot listen on %s: %s", addr,
			    strerror(errno));
			freeaddrinfo(res);
			return -1;
		}
		if (evhttp_bind_listener(ms->http, l) == NULL) {
			evconnlistener_free(l);
			snprintf(err, errlen, "--metrics: out of memory");
			freeaddrinfo(res);
			return -1;
		}
		evconnlistener_set_error_cb(l, metrics_accept_error_cb);
		ms->listeners[ms->nlisteners++] = l;
		log_info("metrics: http://%s/metrics and /healthz", addr);
		n++;
		if (host != NULL)
			break;
	}
	freeaddrinfo(res);
	if (n == 0) {
		snprintf(err, errlen, "--metrics: no address to listen on");
		return -1;
	}
	return 0;
}

/* The server (see metrics.h). */
struct metrics_server *
metrics_start(struct event_base *base, struct server *srv, char *err,
    size_t errlen)
{
	const struct config	      *cfg = srv->cfg;
	const struct token_plugin_ops *ops;
	struct metrics_server	      *ms;

	if (errlen > 0)
		err[0] = '\0';
	if (cfg->metrics_port == NULL)
		return NULL;
	if ((ms = calloc(1, sizeof(*ms))) == NULL ||
	    (ms->http = evhttp_new(base)) == NULL) {
		free(ms);
		snprintf(err, errlen, "--metrics: out of memory");
		return NULL;
	}
	ms->srv = srv;
	if ((ms->backoff = evtimer_new(base, metrics_backoff_cb, ms)) ==
	    NULL) {
		metrics_stop(ms);
		snprintf(err, errlen, "--metrics: out of memory");
		return NULL;
	}
	metrics_current = ms;
	if (cfg->token_plugin != NULL &&
	    (ops = token_plugin_find(cfg->token_plugin)) != NULL)
		ms->plugin = ops->name;
	ms->start_time = metrics_start_time();
	/* Every method reaches metrics_request_cb, which says 405: evhttp
	 * itself would say 501 to one it was not told to allow. */
	evhttp_set_allowed_methods(ms->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
		EVHTTP_REQ_PATCH);
	evhttp_set_timeout(ms->http, METRICS_HTTP_TIMEOUT_SEC);
	evhttp_set_max_headers_size(ms->http, METRICS_MAX_HEAD);
	evhttp_set_max_body_size(ms->http, 0);
	evhttp_set_gencb(ms->http, metrics_request_cb, ms);
	if (metrics_bind(ms, base, cfg->metrics_host, cfg->metrics_port, err,
		errlen) == -1) {
		metrics_stop(ms);
		return NULL;
	}
	return ms;
}

/* Stop serving (see metrics.h). */
void
metrics_stop(struct metrics_server *ms)
{
	if (ms == NULL)
		return;
	if (metrics_current == ms)
		metrics_current = NULL;
	if (ms->backoff != NULL)
		event_free(ms->backoff);
	evhttp_free(ms->http);
	free(ms);
}
