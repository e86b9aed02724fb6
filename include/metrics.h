/*
 * --metrics: Prometheus text exposition (format 0.0.4) on GET /metrics
 * and GET /healthz, served by libevent's evhttp on the main thread's
 * loop.  Every counter lives in its worker's slot and is written only by
 * that worker's thread (a relaxed load and store: no lock, no locked
 * instruction on the data path); a scrape sums the slots.
 */
#ifndef WSB_METRICS_H
#define WSB_METRICS_H

#include <stdatomic.h>
#include <stddef.h>

#include "worker.h"
#include "wsb_limits.h"

struct event_base;
struct evbuffer;

/* How a connection ended (wsbridge_sessions_total{outcome}). */
enum metrics_outcome {
	METRICS_OUTCOME_DROPPED,   /* no request answered (left, timed out,
				    * TLS failed) */
	METRICS_OUTCOME_WEB,	   /* --web requests answered */
	METRICS_OUTCOME_REFUSED,   /* an HTTP error reply */
	METRICS_OUTCOME_WEBSOCKET, /* upgraded: a WebSocket session */
	METRICS_NOUTCOMES
};

/* Why an HTTP error reply was sent (wsbridge_refusals_total{reason}):
 * fixed values, never what a peer sent. */
enum metrics_refusal {
	METRICS_REFUSAL_OTHER,
	METRICS_REFUSAL_MALFORMED,     /* bad or oversized request head */
	METRICS_REFUSAL_NOT_WEBSOCKET, /* plain HTTP without --web */
	METRICS_REFUSAL_TLS_REQUIRED,  /* --ssl-only, plain client */
	METRICS_REFUSAL_HANDSHAKE,     /* RFC 6455 4.2.1 check failed */
	METRICS_REFUSAL_AUTH,	       /* --auth-plugin said no */
	METRICS_REFUSAL_TOKEN,	       /* missing, refused or lookup failed */
	METRICS_REFUSAL_MAX_CONNECTIONS,
	METRICS_REFUSAL_MAX_CONNECTIONS_PER_IP,
	METRICS_REFUSAL_INTERNAL, /* out of memory */
	METRICS_NREFUSALS
};

/* Token lookup results (wsbridge_token_lookups_total{result}), in the
 * order of enum token_result. */
#define METRICS_NTOKEN_RESULTS 3

/* HTTP statuses counted by name; others are "other" (the last index). */
#define METRICS_NSTATUS 15
/* Close codes counted by name; others are "other" (the last index). */
#define METRICS_NCLOSE 11
/* Histogram buckets (upper bounds in microseconds, metrics_format.c),
 * without +Inf. */
#define METRICS_NBUCKETS 12

/* A histogram: counts per bucket (not cumulative), count, sum in us. */
struct metrics_hist {
	atomic_ullong bucket[METRICS_NBUCKETS + 1]; /* last: +Inf */
	atomic_ullong count;
	atomic_ullong sum_us;
};

/* One worker's counters.  Only atomic_ullong members (a scrape adds the
 * slots up member by member). */
struct metrics_counts {
	atomic_ullong	    connections; /* accepted */
	atomic_ullong	    ended[METRICS_NOUTCOMES];
	atomic_ullong	    websockets; /* upgrades accepted */
	atomic_ullong	    refusals[METRICS_NREFUSALS][METRICS_NSTATUS];
	atomic_ullong	    web[METRICS_NSTATUS];
	atomic_ullong	    close_sent[METRICS_NCLOSE];
	atomic_ullong	    close_received[METRICS_NCLOSE];
	atomic_ullong	    bytes_to_target; /* payload, client to target */
	atomic_ullong	    bytes_to_client; /* payload, target to client */
	atomic_ullong	    tls_handshakes;
	atomic_ullong	    tls_failures;
	atomic_ullong	    token[METRICS_NTOKEN_RESULTS];
	struct metrics_hist token_latency;
	struct metrics_hist loop_lag;
};

/* A worker's slot, on cache lines of its own (no false sharing). */
struct metrics_slot {
	struct metrics_counts c;
} __attribute__((aligned(64)));

/* Indexed by worker id; zero-initialised. */
extern struct metrics_slot metrics_slots[WSB_MAX_WORKERS];

/* Add n to a counter of the calling worker's slot (single writer). */
static inline void
metrics_add(atomic_ullong *c, unsigned long long n)
{
	atomic_store_explicit(c,
	    atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

/* The counters of worker w (its thread only writes them). */
#define METRICS(w) (&metrics_slots[(w)->id].c)
#define METRICS_INC(w, field) metrics_add(&METRICS(w)->field, 1)

/* Gauges read at scrape time. */
struct metrics_gauges {
	long long connections_open; /* every accepted connection */
	long long open_fds;	    /* /proc/self/fd; -1: unknown */
	long long max_fds;	    /* RLIMIT_NOFILE soft limit */
	long long limit_addresses;  /* per-address table entries */
	double	  start_time;	    /* Unix time, seconds */
	int	  accepting;
	int	  max_connections; /* 0: none */
	int	  max_connections_per_ip;
};

/* metrics_format.c (pure). */
/* The index of an HTTP status in METRICS_NSTATUS (the last: other). */
int metrics_status_index(int status);
/* The status of index i, or 0 for "other". */
int metrics_status_at(int i);
/* The index of a Close code in METRICS_NCLOSE (the last: other). */
int metrics_close_index(int code);
/* The bucket of value_us in a histogram (METRICS_NBUCKETS: +Inf). */
int metrics_bucket_index(unsigned long long value_us);
/* Record value_us (microseconds) in h (single writer). */
void metrics_observe(struct metrics_hist *h, unsigned long long value_us);
/* Label values (static strings). */
const char *metrics_outcome_name(int outcome);
const char *metrics_refusal_name(int reason);
/* Add every counter of from into to (plain loads; one reader). */
void metrics_sum(struct metrics_counts *to, const struct metrics_counts *from);
/*
 * Write the exposition text for sum (every worker added up), the
 * per-worker loop lag of w[0..nworkers-1], the gauges g, and token
 * lookups labelled plugin (NULL: no token plugin) to out.  0, or -1 if
 * out of memory.
 */
int metrics_format(struct evbuffer *out, const struct metrics_counts *sum,
    const struct metrics_counts *const *w, int nworkers,
    const struct metrics_gauges *g, const char *plugin);

/* metrics.c. */
struct metrics_server;
/*
 * Serve /metrics and /healthz on srv->cfg's --metrics address (a bare
 * port: every IPv4 and IPv6 address; an address: exactly it) on base,
 * the main thread's loop.  /healthz is 200 while
 * atomic_load(&srv->accepting), else 503.  Returns the server (free it
 * with metrics_stop()), or NULL with a one-line err (errlen bytes): the
 * address cannot be bound.  Without --metrics, returns NULL with err "".
 */
struct metrics_server *metrics_start(struct event_base *base,
    struct server *srv, char *err, size_t errlen);
/* Close the listener and free ms (NULL: nothing). */
void metrics_stop(struct metrics_server *ms);
/* Record one loop-lag sample of worker w (its thread), in microseconds. */
void metrics_loop_lag(struct worker *w, long long lag_us);

#endif
