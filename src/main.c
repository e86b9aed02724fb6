/* Start-up, signals and the lifecycle options; the work is in the
 * worker threads. */
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "wsb_config.h"
#include "http.h"
#include "log.h"
#include "session.h"
#include "tls.h"
#include "token.h"
#include "web.h"
#include "worker.h"
#include "wsb_limits.h"

/* How often the main thread looks at the session counters. */
#define MAIN_TICK_MSEC 100

struct main_state {
	struct server	   server;
	struct worker	  *workers[WSB_MAX_WORKERS];
	int		   nworkers;
	struct event_base *base;
	long long	   started_ms;
	long long	   stop_deadline_ms; /* 0: not stopping */
	int		   accepting;
};

static void main_signal_cb(evutil_socket_t, short, void *);
static void main_reload_cb(evutil_socket_t, short, void *);
static void main_tick_cb(evutil_socket_t, short, void *);
static void main_check_target(const struct config *);
static void main_log_settings(const struct main_state *);
static void main_run(struct main_state *);
static int  main_tokens(struct server *, char *, size_t);

/* SIGINT or SIGTERM: stop accepting, send every client Close 1001 and
 * exit once the sessions have closed (or --shutdown-timeout passed).  A
 * second signal exits at once. */
static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_state   *ms = arg;
	const struct config *cfg = ms->server.cfg;
	int		     i;

	if (ms->stop_deadline_ms != 0 || cfg->shutdown_timeout == 0) {
		log_info("got signal %d, exiting now", (int)sig);
		event_base_loopexit(ms->base, NULL);
		return;
	}
	log_info("got signal %d: no longer accepting, Close 1001 to %d "
		 "session%s, exiting when they have closed (at most %d s)",
	    (int)sig, atomic_load(&ms->server.active_sessions),
	    atomic_load(&ms->server.active_sessions) == 1 ? "" : "s",
	    cfg->shutdown_timeout);
	ms->accepting = 0;
	ms->stop_deadline_ms =
	    worker_now_ms() + (long long)cfg->shutdown_timeout * 1000;
	for (i = 0; i < ms->nworkers; i++)
		worker_command(ms->workers[i], WORKER_CMD_GOING_AWAY);
}

/* SIGHUP: reload certificate, key and CA files; live sessions go on. */
static void
main_reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *ms = arg;
	char		   err[512];

	token_router_reload(ms->server.tokens);
	if (!tls_server_enabled()) {
		log_info("SIGHUP: no TLS certificate to reload");
		return;
	}
	if (tls_reload(ms->server.cfg, err, sizeof(err)) == -1)
		log_warnx("SIGHUP: reload failed, keeping the old "
			  "certificate: %s",
		    err);
	else
		log_info("SIGHUP: certificate, key and CA files reloaded");
}

/* Act on --run-once, --timeout and --idle-timeout. */
static void
main_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct main_state   *ms = arg;
	const struct config *cfg = ms->server.cfg;
	long long	     now = worker_now_ms();
	int		     active, i;

	active = atomic_load(&ms->server.active_sessions);
	if (ms->stop_deadline_ms != 0 && active > 0 &&
	    now >= ms->stop_deadline_ms) {
		log_info(
		    "--shutdown-timeout: %d session%s still open, closing "
		    "them",
		    active, active == 1 ? "" : "s");
		event_base_loopexit(ms->base, NULL);
		return;
	}
	if (cfg->run_once &&
	    atomic_load(&ms->server.websocket_sessions_ended) > 0) {
		log_info("--run-once: first WebSocket session ended, exiting");
		event_base_loopexit(ms->base, NULL);
		return;
	}
	if (cfg->timeout > 0 && ms->accepting &&
	    now - ms->started_ms >= (long long)cfg->timeout * 1000) {
		log_info("--timeout: %d s passed, no longer accepting",
		    cfg->timeout);
		for (i = 0; i < ms->nworkers; i++)
			worker_command(ms->workers[i], WORKER_CMD_STOP_ACCEPT);
		ms->accepting = 0;
	}
	if (!ms->accepting && active == 0) {
		log_info("no longer accepting and no sessions left, exiting");
		event_base_loopexit(ms->base, NULL);
		return;
	}
	if (cfg->idle_timeout > 0 && active == 0 &&
	    now - atomic_load(&ms->server.idle_since_ms) >=
		(long long)cfg->idle_timeout * 1000) {
		log_info("--idle-timeout: no session for %d s, exiting",
		    cfg->idle_timeout);
		event_base_loopexit(ms->base, NULL);
	}
}

/* A target that does not resolve yet is reported, not fatal: the
 * backend may come later, and each connection reports it again. */
static void
main_check_target(const struct config *cfg)
{
	struct addrinfo hints, *res;
	int		r;

	if (cfg->unix_target != NULL || cfg->token_plugin != NULL)
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(cfg->target_host, cfg->target_port, &hints,
		 &res)) != 0) {
		log_warnx("target %s:%s does not resolve now (%s); "
			  "connections will retry",
		    cfg->target_host, cfg->target_port, gai_strerror(r));
		return;
	}
	freeaddrinfo(res);
}

/* The token plugin, its source checked and loaded; warn about auth that
 * can never pass.  -1 with a one-line err. */
static int
main_tokens(struct server *srv, char *err, size_t errlen)
{
	const struct config	      *cfg = srv->cfg;
	const struct token_plugin_ops *ops;
	char			       why[400];

	if (cfg->auth_plugin == CONFIG_AUTH_CERT_CN && !cfg->verify_client)
		log_warnx("ClientCertCNAuth without --verify-client: every "
			  "WebSocket will get 403");
	if (cfg->token_plugin == NULL)
		return 0;
	if ((ops = token_plugin_find(cfg->token_plugin)) == NULL) {
		snprintf(err, errlen,
		    "--token-plugin: '%s' is not supported (TokenFile, "
		    "ReadOnlyTokenFile, TokenFileName, "
		    "UnixDomainSocketDirectory, TokenRedis, BaseTokenAPI, "
		    "JSONTokenApi, JWTTokenApi)",
		    cfg->token_plugin);
		return -1;
	}
	if ((srv->tokens = token_router_create(ops, cfg->token_source, why,
		 sizeof(why))) == NULL) {
		snprintf(err, errlen, "--token-plugin %s: %s", ops->name, why);
		return -1;
	}
	return 0;
}

/* The start-up line, like websockify's settings summary. */
static void
main_log_settings(const struct main_state *ms)
{
	const struct config *cfg = ms->server.cfg;
	char		     addr[64], listen[256] = "", tgt[300];
	size_t		     n = 0;
	int		     i;

	for (i = 0; i < ms->server.nlisten && n < sizeof(listen); i++) {
		http_format_sockaddr(addr, sizeof(addr),
		    (const struct sockaddr *)&ms->server.listen_addrs[i]);
		n += (size_t)snprintf(listen + n, sizeof(listen) - n, "%s%s",
		    i > 0 ? " " : "", addr);
	}
	if (cfg->token_plugin != NULL)
		snprintf(tgt, sizeof(tgt), "targets by token (%s%s)",
		    cfg->token_plugin, cfg->host_token ? ", Host header" : "");
	else if (cfg->unix_target != NULL)
		snprintf(tgt, sizeof(tgt), "unix:%s", cfg->unix_target);
	else
		http_format_authority(tgt, sizeof(tgt), cfg->target_host,
		    cfg->target_port);
	log_info("wsbridge %s: listening on %s (%s), proxying to %s%s, "
		 "%d worker%s",
	    PACKAGE_VERSION, listen,
	    !tls_server_enabled() ? "ws:// only" :
		cfg->ssl_only	  ? "wss:// only" :
				    "ws:// and wss://",
	    tgt, cfg->ssl_target ? " over TLS" : "", ms->nworkers,
	    ms->nworkers == 1 ? "" : "s");
}

/*
 * Handle signals (before any socket listens), start the workers, run
 * the main loop until SIGINT or SIGTERM, then stop and free the workers.
 */
static void
main_run(struct main_state *ms)
{
	struct event  *ev_int, *ev_term, *ev_hup, *tick;
	struct timeval tv = { 0, MAIN_TICK_MSEC * 1000 };
	char	       err[512];
	int	       i;

	if ((ms->base = event_base_new()) == NULL)
		fatalx("cannot create the main event loop");
	ev_int = evsignal_new(ms->base, SIGINT, main_signal_cb, ms);
	ev_term = evsignal_new(ms->base, SIGTERM, main_signal_cb, ms);
	ev_hup = evsignal_new(ms->base, SIGHUP, main_reload_cb, ms);
	tick = event_new(ms->base, -1, EV_PERSIST, main_tick_cb, ms);
	if (ev_int == NULL || ev_term == NULL || ev_hup == NULL ||
	    tick == NULL || evsignal_add(ev_int, NULL) == -1 ||
	    evsignal_add(ev_term, NULL) == -1 ||
	    evsignal_add(ev_hup, NULL) == -1 || evtimer_add(tick, &tv) == -1)
		fatalx("cannot set up signal handling");

	for (i = 0; i < ms->server.cfg->workers; i++) {
		if ((ms->workers[i] = worker_create(&ms->server, i, err,
			 sizeof(err))) == NULL)
			fatalx("%s", err);
		ms->nworkers++;
	}
	ms->accepting = 1;
	main_log_settings(ms);
	for (i = 0; i < ms->nworkers; i++)
		if (worker_start(ms->workers[i]) == -1)
			fatal("cannot start worker thread %d", i);

	event_base_dispatch(ms->base);

	for (i = 0; i < ms->nworkers; i++)
		worker_command(ms->workers[i], WORKER_CMD_STOP);
	for (i = 0; i < ms->nworkers; i++)
		worker_join_free(ms->workers[i]);
	token_router_free(ms->server.tokens);
	ms->server.tokens = NULL;
	event_free(ev_int);
	event_free(ev_term);
	event_free(ev_hup);
	event_free(tick);
	event_base_free(ms->base);
}

int
main(int argc, char **argv)
{
	static struct main_state ms;
	struct config		 cfg;
	char			 err[512];

	signal(SIGPIPE, SIG_IGN);
	/*
	 * Relay buffers are evbuffer chains of up to WSB_MAX_SINGLE_IO,
	 * glibc's default mmap threshold: left to itself, glibc gives a
	 * worker arena's freed top back to the kernel after nearly every
	 * chain and the next one faults it in again (150,000 page faults a
	 * second at 64 KiB, a quarter of the CPU).  Keep freed memory, up to
	 * a bound, for the next chain.  Both are needed: a fixed trim
	 * threshold alone freezes the mmap threshold at 128 KiB.
	 */
	mallopt(M_MMAP_THRESHOLD, WSB_MALLOC_MMAP_THRESHOLD);
	mallopt(M_TRIM_THRESHOLD, WSB_MALLOC_TRIM_THRESHOLD);
	switch (config_parse(argc, argv, &cfg, err, sizeof(err))) {
	case CONFIG_HELP:
		fputs(config_help(), stdout);
		return 0;
	case CONFIG_VERSION:
		printf("wsbridge %s\n", PACKAGE_VERSION);
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "wsbridge: %s\n%s", err, config_usage());
		return 2;
	default:
		break;
	}
	log_init(cfg.verbose);

	ms.server.cfg = &cfg;
	ms.server.accept = session_accept;
	ms.server.close_all = session_close_all;
	ms.server.going_away = session_going_away;
	ms.started_ms = worker_now_ms();
	atomic_store(&ms.server.idle_since_ms, ms.started_ms);
	if (worker_listen_resolve(&ms.server, err, sizeof(err)) == -1) {
		fprintf(stderr, "wsbridge: %s\n%s", err, config_usage());
		goto fail;
	}
	main_check_target(&cfg);
	if (web_init(&cfg, err, sizeof(err)) == -1 ||
	    tls_init(&cfg, err, sizeof(err)) == -1 ||
	    main_tokens(&ms.server, err, sizeof(err)) == -1) {
		fprintf(stderr, "wsbridge: %s\n", err);
		goto fail;
	}

	main_run(&ms);
	tls_free();
	config_free(&cfg);
	return 0;

fail:
	/* Start-up refused: exit 2, leaving nothing allocated behind. */
	token_router_free(ms.server.tokens);
	tls_free();
	config_free(&cfg);
	return 2;
}
