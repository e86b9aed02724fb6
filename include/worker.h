/* Worker threads: one event loop and SO_REUSEPORT listeners each. */
#ifndef WSB_WORKER_H
#define WSB_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "wsb_config.h"

struct event_base;
struct evdns_base;
struct evconnlistener;
struct event;
struct evbuffer;
struct session;
struct worker;
struct token_router;
struct token_worker;

/* Most listening addresses (a bare port: IPv4 and IPv6). */
#define WORKER_MAX_LISTENERS 4

/* What a worker does with a connection it accepted (fd is the caller's
 * to close on failure), and with its connections at shutdown: set by
 * main, so the worker depends on no session code. */
typedef void (*worker_accept_fn)(struct worker *w, int fd,
    const struct sockaddr *sa, socklen_t salen);
typedef void (*worker_close_all_fn)(struct worker *w);
/* Tell every session of w the bridge is going away (graceful stop). */
typedef void (*worker_going_away_fn)(struct worker *w);

/* Shared by every thread: immutable config and atomic counters. */
struct forwarded_trust;

struct server {
	const struct config    *cfg;
	worker_accept_fn	accept;
	worker_close_all_fn	close_all;
	worker_going_away_fn	going_away;
	struct token_router    *tokens; /* NULL: one fixed target */
	struct forwarded_trust *trust;	/* --trusted-proxy, parsed once
					      * at start; NULL: none */
	atomic_int		active_sessions;
	atomic_ullong		next_session_id;
	atomic_int		websocket_sessions_ended; /* --run-once */
	atomic_llong		idle_since_ms; /* CLOCK_MONOTONIC, ms */
	atomic_int		accepting;     /* 0 while starting, draining or
					    * stopping (/healthz says 503) */
	atomic_int		listening;     /* workers whose listeners are
					    * still open */
	struct sockaddr_storage listen_addrs[WORKER_MAX_LISTENERS];
	socklen_t		listen_addr_lens[WORKER_MAX_LISTENERS];
	int			nlisten;
};

/* Commands from the main thread, set in cmd then signalled on notify. */
#define WORKER_CMD_STOP_ACCEPT 0x1
#define WORKER_CMD_STOP 0x2
#define WORKER_CMD_GOING_AWAY 0x4 /* Close 1001 to every session */

struct worker {
	int		       id;
	struct server	      *server;
	pthread_t	       thread;
	struct event_base     *base;
	struct evdns_base     *dns;
	struct evconnlistener *listeners[WORKER_MAX_LISTENERS];
	int		       nlisteners;
	struct event	      *backoff;	  /* EMFILE: retry accept */
	struct event	      *notify;	  /* main thread's commands */
	int		       notify_fd; /* eventfd */
	atomic_int	       cmd;
	struct evbuffer	      *scratch; /* one frame on its way out */
	struct token_worker   *tokens;	/* made at the first lookup */
	TAILQ_HEAD(, session) sessions;
};

int worker_listen_resolve(struct server *srv, char *err, size_t errlen);
struct worker *worker_create(struct server *srv, int id, char *err,
    size_t errlen);
int	       worker_start(struct worker *w);
void	       worker_command(struct worker *w, int cmd);
void	       worker_join_free(struct worker *w);
void	       worker_session_started(struct worker *w);
void	       worker_session_ended(struct worker *w, int was_websocket);
long long      worker_now_ms(void);
/*
 * Whether another socket already listens on sa (len bytes): a bind
 * without SO_REUSEPORT then fails with EADDRINUSE, whereas our own
 * listeners (SO_REUSEPORT) would join it silently.  Returns 1 if held,
 * 0 if free or if the probe itself cannot tell.  Any thread.
 */
int worker_port_held(const struct sockaddr *sa, socklen_t len);

#endif
