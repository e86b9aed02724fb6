/*
 * Private to main.c and main_signal.c: the main thread's state, and the
 * signal handling main_signal.c does for it.
 */
#ifndef WSB_MAIN_INT_H
#define WSB_MAIN_INT_H

#include <stddef.h>

#include "worker.h"
#include "wsb_limits.h"

struct event_base;
struct metrics_server;
struct wrap;

/* Signals handled (main_signal.c's table fits). */
#define MAIN_MAX_SIGNALS 16
/* How often the main thread looks at the session counters. */
#define MAIN_TICK_MSEC 100
/* Draining, how long after SIGUSR2 before looking for a successor on
 * the port: by then every worker has closed its listeners. */
#define MAIN_HANDOVER_MSEC 500

struct main_state {
	struct server	   server;
	struct worker	  *workers[WSB_MAX_WORKERS];
	int		   nworkers;
	struct event_base *base;
	struct wrap	  *wrap;
	long long	   started_ms;
	long long	   stop_deadline_ms; /* 0: not stopping */
	int		   accepting;
	int		   draining; /* SIGUSR2: sessions end by themselves */
	long long	   drain_ms; /* when the drain began */
	int		   exit_code;
	long		   nofile;	/* RLIMIT_NOFILE raised to, or -1 */
	struct metrics_server *metrics; /* --metrics, or NULL */
	struct event	      *sigs[MAIN_MAX_SIGNALS]; /* main_signals_add */
	size_t		       nsigs;
};

/* Block (how SIG_BLOCK) or unblock (SIG_UNBLOCK) every signal handled:
 * blocked from the first line of main() until the handlers are in place,
 * so one sent during start-up waits instead of killing silently. */
void main_signals_mask(int how);
/* Handle every signal on ms->base (the events in ms->sigs), then let
 * through those that waited.  Exits (fatalx) if one cannot be handled. */
void main_signals_add(struct main_state *ms);
/* Free the events of main_signals_add; the signals are ignored from
 * then on (the process is winding down). */
void main_signals_free(struct main_state *ms);
/* Stop accepting, send every client Close 1001 and exit once the
 * sessions have closed (or --shutdown-timeout passed); a second stop
 * exits at once.  why names the cause in the log line. */
void main_stop(struct main_state *ms, const char *why);
/* Wrap mode's on_exit (wrap.h): the command exited and --wrap-mode exit:
 * stop as on SIGTERM and exit with code. */
void main_wrap_exit(int code, void *arg);

#endif
