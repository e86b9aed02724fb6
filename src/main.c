/* Start-up and the lifecycle options (signals: main_signal.c); the work
 * is in the worker threads. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "wsb_config.h"
#include "daemon.h"
#include "forwarded.h"
#include "http.h"
#include "log.h"
#include "main_int.h"
#include "metrics.h"
#include "notify.h"
#include "record.h"
#include "session.h"
#include "tls.h"
#include "token.h"
#include "web.h"
#include "worker.h"
#include "wrap.h"
#include "wsb_limits.h"

static void main_tick_cb(evutil_socket_t, short, void *);
static int  main_port_shared(const struct main_state *);
static void main_check_target(const struct config *);
static void main_log_settings(const struct main_state *);
static void main_run(struct main_state *);
static void main_stdio_open(void);
static int  main_tokens(struct server *, char *, size_t);
static int  main_trust(struct server *, char *, size_t);

/* Whether, our own listeners closed, another process listens on one of
 * our TCP listen addresses (a successor that joined with --reuse-port). */
static int
main_port_shared(const struct main_state *ms)
{
	const struct server *srv = &ms->server;
	int		     i;

	for (i = 0; i < srv->nlisten; i++)
		if (srv->listen_addrs[i].ss_family != AF_UNIX &&
		    worker_port_held(
			(const struct sockaddr *)&srv->listen_addrs[i],
			srv->listen_addr_lens[i]))
			return 1;
	return 0;
}

/* Act on --run-once, --timeout and --idle-timeout. */
static void
main_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct main_state   *ms = arg;
	const struct config *cfg = ms->server.cfg;
	long long	     now = worker_now_ms();
	int		     active, listening, i;

	/* Read first: a worker counts the connections it takes from its
	 * listen queue (active) before its listeners as closed. */
	listening = atomic_load(&ms->server.listening);
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
		atomic_store(&ms->server.accepting, 0);
	}
	/* Once the workers have closed their listeners (else the probe
	 * would find our own). */
	if (ms->draining && ms->metrics != NULL && listening == 0 &&
	    now - ms->drain_ms >= MAIN_HANDOVER_MSEC && main_port_shared(ms)) {
		/* A successor joined the port (--reuse-port): its /healthz
		 * answers from now on, not our 503 half the time.  Said
		 * once it is so. */
		metrics_stop(ms->metrics);
		ms->metrics = NULL;
		log_info("draining: another process listens on the port; "
			 "its /metrics and /healthz answer from now on");
	}
	/* Not before every worker closed its listeners: what they took
	 * from their listen queues is served first. */
	if (!ms->accepting && active == 0 && listening == 0) {
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

/* --trusted-proxy's list parsed once, for every request head to use
 * (config_parse checked it already).  -1 with err (out of memory). */
static int
main_trust(struct server *srv, char *err, size_t errlen)
{
	struct forwarded_trust *t;

	if (srv->cfg->trusted_proxy == NULL)
		return 0;
	if ((t = malloc(sizeof(*t))) == NULL ||
	    forwarded_trust_parse(srv->cfg->trusted_proxy, t, err, errlen) ==
		-1) {
		if (t == NULL)
			snprintf(err, errlen, "out of memory");
		free(t);
		return -1;
	}
	srv->trust = t;
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

	if (cfg->unix_listen != NULL)
		snprintf(listen, sizeof(listen), "unix:%s", cfg->unix_listen);
	for (i = 0; cfg->unix_listen == NULL && i < ms->server.nlisten &&
	     n < sizeof(listen);
	     i++) {
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

/* Descriptors 0, 1 and 2 open (on /dev/null if they were closed), so
 * no socket or log file of ours takes one and is later closed by -D's
 * redirection or written to as stderr. */
static void
main_stdio_open(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= STDERR_FILENO)
		;
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Listening: the pid file, the wrapped command, then the workers run;
 * systemd and a waiting -D parent are told. */
static void
main_serve(struct main_state *ms)
{
	const struct config *cfg = ms->server.cfg;
	char		     err[512];
	long		     nofile;
	int		     i;

	if (cfg->pid_file != NULL &&
	    daemon_pid_file_write(cfg->pid_file, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (cfg->wrap_cmd != NULL &&
	    (ms->wrap = wrap_start(ms->base, cfg, atoi(cfg->listen_port),
		 atoi(cfg->target_port), main_wrap_exit, ms, err,
		 sizeof(err))) == NULL)
		fatalx("%s", err);
	ms->accepting = 1;
	atomic_store(&ms->server.accepting, 1);
	main_log_settings(ms);
	/* A session holds a client and a target socket, and its recording
	 * with --record. */
	if ((nofile = ms->nofile) != -1)
		log_info("open files: up to %ld, room for about %ld "
			 "sessions",
		    nofile,
		    nofile > WSB_FD_RESERVE ?
			(nofile - WSB_FD_RESERVE) / (cfg->record ? 3 : 2) :
			0);
	for (i = 0; i < ms->nworkers; i++)
		if (worker_start(ms->workers[i]) == -1)
			fatal("cannot start worker thread %d", i);
	notify_ready("listening");
	daemon_ready();
}

/*
 * Handle signals (before any socket listens), start the workers, run
 * the main loop until a stop, then stop and free the workers.
 */
static void
main_run(struct main_state *ms)
{
	struct event  *tick;
	struct timeval tv = { 0, MAIN_TICK_MSEC * 1000 };
	char	       err[512];
	size_t	       i;

	if ((ms->base = event_base_new()) == NULL)
		fatalx("cannot create the main event loop");
	main_signals_add(ms);
	/* Before any socket is accepted; logged once listening. */
	ms->nofile = daemon_raise_nofile();
	tick = event_new(ms->base, -1, EV_PERSIST, main_tick_cb, ms);
	if (tick == NULL || evtimer_add(tick, &tv) == -1)
		fatalx("cannot set up the main timer");
	for (i = 0; i < (size_t)ms->server.cfg->workers; i++) {
		if ((ms->workers[i] = worker_create(&ms->server, (int)i, err,
			 sizeof(err))) == NULL)
			fatalx("%s", err);
		ms->nworkers++;
	}
	/* NULL with an empty err: no --metrics. */
	if ((ms->metrics = metrics_start(ms->base, &ms->server, err,
		 sizeof(err))) == NULL &&
	    err[0] != '\0')
		fatalx("%s", err);
	main_serve(ms);

	event_base_dispatch(ms->base);

	metrics_stop(ms->metrics);

	for (i = 0; i < (size_t)ms->nworkers; i++)
		worker_command(ms->workers[i], WORKER_CMD_STOP);
	for (i = 0; i < (size_t)ms->nworkers; i++)
		worker_join_free(ms->workers[i]);
	wrap_stop(ms->wrap);
	record_shutdown();
	token_router_free(ms->server.tokens);
	ms->server.tokens = NULL;
	daemon_pid_file_remove(ms->server.cfg->pid_file);
	main_signals_free(ms);
	event_free(tick);
	event_base_free(ms->base);
}

/* Wrap mode: the target is a free port on 127.0.0.1 that the command's
 * bind() on the source port is moved to.  -1 with err. */
static int
main_wrap_target(struct config *cfg, char *err, size_t errlen)
{
	int port;

	if (cfg->wrap_cmd == NULL)
		return 0;
	if ((port = wrap_free_port(err, errlen)) == -1)
		return -1;
	free(cfg->target_host);
	free(cfg->target_port);
	cfg->target_port = NULL;
	if ((cfg->target_host = strdup("127.0.0.1")) == NULL ||
	    asprintf(&cfg->target_port, "%d", port) == -1) {
		cfg->target_port = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * Before the addresses: -D forks (the parent waits), the log opens, the
 * open-files limit is raised, wrap mode picks its port.  -1 with err
 * (exit 2).
 */
static int
main_service(struct config *cfg, char *err, size_t errlen)
{
	if (cfg->daemon &&
	    (daemon_absolute_paths(cfg, err, errlen) == -1 ||
		daemon_start(err, errlen) == -1))
		return -1;
	if (log_open(cfg, err, errlen) == -1)
		return -1;
	if (cfg->libserver)
		log_warnx("--libserver is ignored: it chooses one of "
			  "websockify's Python server engines");
	return main_wrap_target(cfg, err, errlen);
}

int
main(int argc, char **argv)
{
	static struct main_state ms;
	struct config		 cfg;
	char			 err[512];

	main_signals_mask(SIG_BLOCK);
	main_stdio_open();
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
	if (main_service(&cfg, err, sizeof(err)) == -1) {
		/* Cannot start (a log that cannot be opened, no fork): 1, as
		 * for a port in use. */
		fprintf(stderr, "wsbridge: %s\n", err);
		log_close();
		config_free(&cfg);
		return 1;
	}

	ms.server.cfg = &cfg;
	ms.server.accept = session_accept;
	ms.server.close_all = session_close_all;
	ms.server.going_away = session_going_away;
	ms.started_ms = worker_now_ms();
	atomic_store(&ms.server.idle_since_ms, ms.started_ms);
	if (worker_listen_resolve(&ms.server, err, sizeof(err)) == -1) {
		/* A socket handed in that is wrong, or a Unix socket in use,
		 * is no usage error: the bridge cannot start. */
		if (cfg.inetd || cfg.unix_listen != NULL || cfg.listen_fds) {
			fprintf(stderr, "wsbridge: %s\n", err);
			ms.exit_code = 1;
		} else
			fprintf(stderr, "wsbridge: %s\n%s", err,
			    config_usage());
		goto fail;
	}
	main_check_target(&cfg);
	if (main_trust(&ms.server, err, sizeof(err)) == -1 ||
	    web_init(&cfg, err, sizeof(err)) == -1 ||
	    tls_init(&cfg, err, sizeof(err)) == -1 ||
	    main_tokens(&ms.server, err, sizeof(err)) == -1) {
		fprintf(stderr, "wsbridge: %s\n", err);
		goto fail;
	}

	main_run(&ms);
	free(ms.server.trust);
	tls_free();
	log_close();
	config_free(&cfg);
	return ms.exit_code;

fail:
	/* Start-up refused: exit 2 (or 1 if set), leaving nothing allocated
	 * behind. */
	token_router_free(ms.server.tokens);
	free(ms.server.trust);
	tls_free();
	log_close();
	config_free(&cfg);
	return ms.exit_code != 0 ? ms.exit_code : 2;
}
