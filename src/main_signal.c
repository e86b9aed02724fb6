/* Signals: every one an operator might send, each with a log line, on
 * the main thread's event loop. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

#include <event2/event.h>

#include "daemon.h"
#include "log.h"
#include "main_int.h"
#include "notify.h"
#include "tls.h"
#include "token.h"
#include "worker.h"
#include "wsb_config.h"

static void main_stop_cb(evutil_socket_t, short, void *);
static void main_drain_cb(evutil_socket_t, short, void *);
static void main_reload_cb(evutil_socket_t, short, void *);
static void main_reopen_cb(evutil_socket_t, short, void *);
static void main_ignored_cb(evutil_socket_t, short, void *);

/*
 * Every signal an operator might send, and what it does: none kills the
 * process silently.  SIGQUIT stops gracefully, as nginx's does; the
 * rest at the end are logged and ignored (SIGXFSZ then gives EFBIG).
 * SIGPIPE is ignored outright; SIGCHLD belongs to wrap mode.
 */
static const struct main_signal {
	int sig;
	void (*cb)(evutil_socket_t, short, void *);
} main_signals[] = {
	{ SIGINT, main_stop_cb },
	{ SIGTERM, main_stop_cb },
	{ SIGQUIT, main_stop_cb },
	{ SIGUSR2, main_drain_cb },
	{ SIGHUP, main_reload_cb },
	{ SIGUSR1, main_reopen_cb },
	{ SIGALRM, main_ignored_cb },
	{ SIGVTALRM, main_ignored_cb },
	{ SIGPROF, main_ignored_cb },
	{ SIGIO, main_ignored_cb },
	{ SIGPWR, main_ignored_cb },
	{ SIGSTKFLT, main_ignored_cb },
	{ SIGXCPU, main_ignored_cb },
	{ SIGXFSZ, main_ignored_cb },
};
#define MAIN_NSIGNALS (sizeof(main_signals) / sizeof(main_signals[0]))
_Static_assert(MAIN_NSIGNALS <= MAIN_MAX_SIGNALS,
    "raise MAIN_MAX_SIGNALS in main_int.h");

/* Stop accepting, send every client Close 1001 and exit once the
 * sessions have closed (or --shutdown-timeout passed).  A second stop
 * exits at once.  why names the cause in the log line. */
void
main_stop(struct main_state *ms, const char *why)
{
	const struct config *cfg = ms->server.cfg;
	int		     i, active;

	if (ms->stop_deadline_ms != 0 || cfg->shutdown_timeout == 0) {
		log_info("%s, exiting now", why);
		notify_stopping("exiting");
		event_base_loopexit(ms->base, NULL);
		return;
	}
	active = atomic_load(&ms->server.active_sessions);
	log_info("%s: no longer accepting, Close 1001 to %d session%s, "
		 "exiting when they have closed (at most %d s)",
	    why, active, active == 1 ? "" : "s", cfg->shutdown_timeout);
	notify_stopping("stopping: Close 1001 to every session");
	ms->accepting = 0;
	atomic_store(&ms->server.accepting, 0);
	ms->stop_deadline_ms =
	    worker_now_ms() + (long long)cfg->shutdown_timeout * 1000;
	for (i = 0; i < ms->nworkers; i++)
		worker_command(ms->workers[i], WORKER_CMD_GOING_AWAY);
}

/* SIGINT, SIGTERM or SIGQUIT: stop gracefully (main_stop). */
static void
main_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	char why[64];

	snprintf(why, sizeof(why), "got %s", daemon_signal_name((int)sig));
	main_stop(arg, why);
}

/* SIGUSR2: drain for a rolling restart: stop accepting, let the live
 * sessions end by themselves, exit when the last has (main_tick_cb). */
static void
main_drain_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *ms = arg;
	int		   i, active;

	if (!ms->accepting) {
		log_info("got SIGUSR2: already %s",
		    ms->draining ? "draining" : "stopping");
		return;
	}
	active = atomic_load(&ms->server.active_sessions);
	log_info("got SIGUSR2: draining: no longer accepting; %d session%s "
		 "on, exiting when the last has ended",
	    active, active == 1 ? " goes" : "s go");
	notify_stopping("draining");
	ms->accepting = 0;
	atomic_store(&ms->server.accepting, 0);
	ms->draining = 1;
	ms->drain_ms = worker_now_ms();
	for (i = 0; i < ms->nworkers; i++)
		worker_command(ms->workers[i], WORKER_CMD_STOP_ACCEPT);
}

/* SIGHUP: reload certificate, key and CA files and the token source;
 * live sessions go on.  Told to systemd as a reload. */
static void
main_reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *ms = arg;
	char		   err[512];

	/* Stopping or draining, systemd has been told STOPPING=1: no
	 * READY=1 may follow. */
	if (ms->accepting)
		notify_reloading();
	token_router_reload(ms->server.tokens);
	if (!tls_server_enabled())
		log_info("got SIGHUP: %s",
		    ms->server.tokens != NULL ?
			"reloading the token source; no TLS certificate "
			"to reload" :
			"no TLS certificate or token source to reload");
	else if (tls_reload(ms->server.cfg, err, sizeof(err)) == -1)
		log_warnx("got SIGHUP: reload failed, keeping the old "
			  "certificate: %s",
		    err);
	else
		log_info("got SIGHUP: certificate, key and CA files reloaded");
	if (ms->accepting)
		notify_ready("reloaded");
}

/* SIGUSR1: reopen --log-file (logrotate's postrotate). */
static void
main_reopen_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *ms = arg;

	if (ms->server.cfg->log_file == NULL)
		log_info("got SIGUSR1: no --log-file to reopen");
	else
		log_reopen();
}

/* A signal that would kill the process by default: logged, ignored. */
static void
main_ignored_cb(evutil_socket_t sig, short what, void *arg)
{
	log_info("got %s: ignored", daemon_signal_name((int)sig));
}

/* Wrap mode's command exited and --wrap-mode exit: stop as on SIGTERM
 * and exit with its status. */
void
main_wrap_exit(int code, void *arg)
{
	struct main_state *ms = arg;
	char		   why[64];

	ms->exit_code = code;
	snprintf(why, sizeof(why), "wrapped command exited (%d)", code);
	main_stop(ms, why);
}

/* Block (how SIG_BLOCK) or unblock (SIG_UNBLOCK) main_signals: blocked
 * from the first line of main() until their handlers are in place, so
 * one sent during start-up waits instead of killing silently. */
void
main_signals_mask(int how)
{
	sigset_t set;
	size_t	 i;

	sigemptyset(&set);
	for (i = 0; i < MAIN_NSIGNALS; i++)
		sigaddset(&set, main_signals[i].sig);
	sigprocmask(how, &set, NULL);
}

/* Handle every signal; see main_int.h. */
void
main_signals_add(struct main_state *ms)
{
	size_t i;

	for (i = 0; i < MAIN_NSIGNALS; i++) {
		if ((ms->sigs[i] = evsignal_new(ms->base, main_signals[i].sig,
			 main_signals[i].cb, ms)) == NULL ||
		    evsignal_add(ms->sigs[i], NULL) == -1)
			fatalx("cannot handle %s",
			    daemon_signal_name(main_signals[i].sig));
		ms->nsigs++;
	}
	main_signals_mask(SIG_UNBLOCK);
}

/* Free the signal events; the signals are ignored from then on, as
 * freeing an event puts the default action back, and a signal arriving
 * while the process winds down must not kill it (exit 0 stays 0). */
void
main_signals_free(struct main_state *ms)
{
	size_t i;

	main_signals_mask(SIG_BLOCK);
	for (i = 0; i < ms->nsigs; i++) {
		event_free(ms->sigs[i]);
		signal(main_signals[i].sig, SIG_IGN);
	}
	ms->nsigs = 0;
}
