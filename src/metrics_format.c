/*
 * The pure half of --metrics: label tables, histogram buckets, adding
 * the workers' counters up, and the Prometheus text exposition format
 * 0.0.4 (HELP and TYPE lines; counters end in _total; units in names).
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "metrics.h"

/* HTTP statuses with a label of their own, in index order. */
static const int metrics_statuses[METRICS_NSTATUS - 1] = { 200, 206, 301, 304,
	400, 401, 403, 404, 405, 416, 426, 431, 500, 503 };

/* Close codes with a label of their own (1005: the Close had none). */
static const int metrics_codes[METRICS_NCLOSE - 1] = { 1000, 1001, 1002, 1003,
	1005, 1007, 1008, 1009, 1010, 1011 };

/* Histogram upper bounds, microseconds: 1 ms to 2.5 s (a token lookup
 * times out at 2 s; a loop stalled for more is broken anyway). */
static const unsigned long long metrics_bounds[METRICS_NBUCKETS] = { 100, 500,
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
	2500000 };

static const char *const metrics_outcomes[METRICS_NOUTCOMES] = { "dropped",
	"web", "refused", "websocket" };

static const char *const metrics_refusals[METRICS_NREFUSALS] = { "other",
	"malformed_request", "not_websocket", "tls_required", "handshake",
	"auth", "token", "max_connections", "max_connections_per_ip",
	"internal" };

/* Token results, in enum token_result's order. */
static const char *const metrics_token_results[METRICS_NTOKEN_RESULTS] = {
	"found", "not_found", "unavailable"
};

/* Index of status (see metrics.h). */
int
metrics_status_index(int status)
{
	int i;

	for (i = 0; i < METRICS_NSTATUS - 1; i++)
		if (metrics_statuses[i] == status)
			return i;
	return METRICS_NSTATUS - 1;
}

/* Status at index i, 0 for other. */
int
metrics_status_at(int i)
{
	return i >= 0 && i < METRICS_NSTATUS - 1 ? metrics_statuses[i] : 0;
}

/* Index of a Close code (see metrics.h). */
int
metrics_close_index(int code)
{
	int i;

	for (i = 0; i < METRICS_NCLOSE - 1; i++)
		if (metrics_codes[i] == code)
			return i;
	return METRICS_NCLOSE - 1;
}

/* Bucket of a value (see metrics.h). */
int
metrics_bucket_index(unsigned long long value_us)
{
	int i;

	for (i = 0; i < METRICS_NBUCKETS; i++)
		if (value_us <= metrics_bounds[i])
			return i;
	return METRICS_NBUCKETS;
}

/* Record a value in a histogram (single writer). */
void
metrics_observe(struct metrics_hist *h, unsigned long long value_us)
{
	metrics_add(&h->bucket[metrics_bucket_index(value_us)], 1);
	metrics_add(&h->count, 1);
	metrics_add(&h->sum_us, value_us);
}

/* Outcome label. */
const char *
metrics_outcome_name(int outcome)
{
	return outcome >= 0 && outcome < METRICS_NOUTCOMES ?
	    metrics_outcomes[outcome] :
	    "dropped";
}

/* Refusal reason label. */
const char *
metrics_refusal_name(int reason)
{
	return reason >= 0 && reason < METRICS_NREFUSALS ?
	    metrics_refusals[reason] :
	    "other";
}

/* Add from's counters to to's: the struct is an array of counters. */
void
metrics_sum(struct metrics_counts *to, const struct metrics_counts *from)
{
	_Static_assert(sizeof(struct metrics_counts) % sizeof(atomic_ullong) ==
		0,
	    "struct metrics_counts holds counters only");
	atomic_ullong	    *t = (atomic_ullong *)to;
	const atomic_ullong *f = (const atomic_ullong *)from;
	size_t		     i, n = sizeof(*to) / sizeof(*t);

	for (i = 0; i < n; i++)
		atomic_store_explicit(&t[i],
		    atomic_load_explicit(&t[i], memory_order_relaxed) +
			atomic_load_explicit(&f[i], memory_order_relaxed),
		    memory_order_relaxed);
}

/* A counter's value. */
static unsigned long long
metrics_get(const atomic_ullong *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* The HELP and TYPE lines of a metric. */
static void
metrics_head(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A status label's value: the number, or "other". */
static void
metrics_status_label(char *buf, size_t len, int i)
{
	if (metrics_status_at(i) != 0)
		snprintf(buf, len, "%d", metrics_status_at(i));
	else
		snprintf(buf, len, "other");
}

/* A Close code label's value. */
static void
metrics_code_label(char *buf, size_t len, int i)
{
	if (i < METRICS_NCLOSE - 1)
		snprintf(buf, len, "%d", metrics_codes[i]);
	else
		snprintf(buf, len, "other");
}

/* A histogram's series (name_bucket, name_sum, name_count), labels
 * (e.g. "worker=\"0\",") before le. */
static void
metrics_hist(struct evbuffer *out, const char *name, const char *labels,
    const struct metrics_hist *h)
{
	unsigned long long cum = 0;
	int		   i;

	for (i = 0; i < METRICS_NBUCKETS; i++) {
		cum += metrics_get(&h->bucket[i]);
		evbuffer_add_printf(out, "%s_bucket{%sle=\"%g\"} %llu\n", name,
		    labels, (double)metrics_bounds[i] / 1e6, cum);
	}
	evbuffer_add_printf(out, "%s_bucket{%sle=\"+Inf\"} %llu\n", name,
	    labels, metrics_get(&h->count));
	evbuffer_add_printf(out, "%s_sum{%.*s} %.6f\n", name,
	    (int)(strlen(labels) > 0 ? strlen(labels) - 1 : 0), labels,
	    (double)metrics_get(&h->sum_us) / 1e6);
	evbuffer_add_printf(out, "%s_count{%.*s} %llu\n", name,
	    (int)(strlen(labels) > 0 ? strlen(labels) - 1 : 0), labels,
	    metrics_get(&h->count));
}

/* Sessions: open gauges and totals by outcome. */
static void
metrics_format_sessions(struct evbuffer *out, const struct metrics_counts *c,
    const struct metrics_gauges *g)
{
	unsigned long long ws_open;
	int		   i;

	metrics_head(out, "wsbridge_connections_open", "gauge",
	    "Client connections open (HTTP and WebSocket).");
	evbuffer_add_printf(out, "wsbridge_connections_open %lld\n",
	    g->connections_open);
	metrics_head(out, "wsbridge_connections_total", "counter",
	    "Client connections accepted.");
	evbuffer_add_printf(out, "wsbridge_connections_total %llu\n",
	    metrics_get(&c->connections));
	ws_open = metrics_get(&c->websockets) -
	    metrics_get(&c->ended[METRICS_OUTCOME_WEBSOCKET]);
	metrics_head(out, "wsbridge_websocket_sessions_open", "gauge",
	    "WebSocket sessions open (upgrade accepted, not yet ended).");
	evbuffer_add_printf(out, "wsbridge_websocket_sessions_open %llu\n",
	    ws_open);
	metrics_head(out, "wsbridge_sessions_total", "counter",
	    "Connections ended, by outcome.");
	for (i = 0; i < METRICS_NOUTCOMES; i++)
		evbuffer_add_printf(out,
		    "wsbridge_sessions_total{outcome=\"%s\"} %llu\n",
		    metrics_outcomes[i], metrics_get(&c->ended[i]));
}

/* HTTP error replies by status and reason; --web replies by status. */
static void
metrics_format_http(struct evbuffer *out, const struct metrics_counts *c)
{
	char st[16];
	int  r, i;

	metrics_head(out, "wsbridge_refusals_total", "counter",
	    "HTTP error replies (refused requests and handshakes), by "
	    "status and reason.");
	for (r = 0; r < METRICS_NREFUSALS; r++)
		for (i = 0; i < METRICS_NSTATUS; i++) {
			if (metrics_get(&c->refusals[r][i]) == 0)
				continue;
			metrics_status_label(st, sizeof(st), i);
			evbuffer_add_printf(out,
			    "wsbridge_refusals_total{status=\"%s\","
			    "reason=\"%s\"} %llu\n",
			    st, metrics_refusals[r],
			    metrics_get(&c->refusals[r][i]));
		}
	metrics_head(out, "wsbridge_web_requests_total", "counter",
	    "--web requests answered, by status.");
	for (i = 0; i < METRICS_NSTATUS; i++) {
		if (metrics_get(&c->web[i]) == 0)
			continue;
		metrics_status_label(st, sizeof(st), i);
		evbuffer_add_printf(out,
		    "wsbridge_web_requests_total{status=\"%s\"} %llu\n", st,
		    metrics_get(&c->web[i]));
	}
}

/* Close frames both ways, payload bytes both ways, TLS handshakes. */
static void
metrics_format_relay(struct evbuffer *out, const struct metrics_counts *c)
{
	char code[16];
	int  i;

	metrics_head(out, "wsbridge_close_frames_total", "counter",
	    "WebSocket Close frames, by direction and code (1005: no code).");
	for (i = 0; i < METRICS_NCLOSE; i++) {
		metrics_code_label(code, sizeof(code), i);
		evbuffer_add_printf(out,
		    "wsbridge_close_frames_total{direction=\"sent\","
		    "code=\"%s\"} %llu\n"
		    "wsbridge_close_frames_total{direction=\"received\","
		    "code=\"%s\"} %llu\n",
		    code, metrics_get(&c->close_sent[i]), code,
		    metrics_get(&c->close_received[i]));
	}
	metrics_head(out, "wsbridge_payload_bytes_total", "counter",
	    "Payload bytes relayed, by direction.");
	evbuffer_add_printf(out,
	    "wsbridge_payload_bytes_total{direction=\"client_to_target\"} "
	    "%llu\n"
	    "wsbridge_payload_bytes_total{direction=\"target_to_client\"} "
	    "%llu\n",
	    metrics_get(&c->bytes_to_target),
	    metrics_get(&c->bytes_to_client));
	metrics_head(out, "wsbridge_tls_handshakes_total", "counter",
	    "TLS handshakes with clients, by result.");
	evbuffer_add_printf(out,
	    "wsbridge_tls_handshakes_total{result=\"ok\"} %llu\n"
	    "wsbridge_tls_handshakes_total{result=\"failed\"} %llu\n",
	    metrics_get(&c->tls_handshakes), metrics_get(&c->tls_failures));
}

/* Token lookups by result, and their latency. */
static void
metrics_format_token(struct evbuffer *out, const struct metrics_counts *c,
    const char *plugin)
{
	char labels[128];
	int  i;

	if (plugin == NULL)
		return;
	metrics_head(out, "wsbridge_token_lookups_total", "counter",
	    "Token lookups, by plugin and result.");
	for (i = 0; i < METRICS_NTOKEN_RESULTS; i++)
		evbuffer_add_printf(out,
		    "wsbridge_token_lookups_total{plugin=\"%s\","
		    "result=\"%s\"} %llu\n",
		    plugin, metrics_token_results[i],
		    metrics_get(&c->token[i]));
	metrics_head(out, "wsbridge_token_lookup_duration_seconds",
	    "histogram", "Time from a token lookup's start to its answer.");
	snprintf(labels, sizeof(labels), "plugin=\"%s\",", plugin);
	metrics_hist(out, "wsbridge_token_lookup_duration_seconds", labels,
	    &c->token_latency);
}

/* Loop lag per worker, files, limits, process start, health. */
static void
metrics_format_process(struct evbuffer *out,
    const struct metrics_counts *const *w, int nworkers,
    const struct metrics_gauges *g)
{
	char labels[32];
	int  i;

	metrics_head(out, "wsbridge_event_loop_lag_seconds", "histogram",
	    "How late each worker's periodic timer fired (actual minus "
	    "scheduled).");
	for (i = 0; i < nworkers; i++) {
		snprintf(labels, sizeof(labels), "worker=\"%d\",", i);
		metrics_hist(out, "wsbridge_event_loop_lag_seconds", labels,
		    &w[i]->loop_lag);
	}
	if (g->open_fds >= 0) {
		metrics_head(out, "process_open_fds", "gauge",
		    "Open file descriptors.");
		evbuffer_add_printf(out, "process_open_fds %lld\n",
		    g->open_fds);
	}
	metrics_head(out, "process_max_fds", "gauge",
	    "Limit on open file descriptors (RLIMIT_NOFILE).");
	evbuffer_add_printf(out, "process_max_fds %lld\n", g->max_fds);
	metrics_head(out, "process_start_time_seconds", "gauge",
	    "Start time of the process since the Unix epoch, in seconds.");
	evbuffer_add_printf(out, "process_start_time_seconds %.3f\n",
	    g->start_time);
	metrics_head(out, "wsbridge_max_connections", "gauge",
	    "--max-connections and --max-connections-per-ip (0: none).");
	evbuffer_add_printf(out,
	    "wsbridge_max_connections{scope=\"process\"} %d\n"
	    "wsbridge_max_connections{scope=\"address\"} %d\n",
	    g->max_connections, g->max_connections_per_ip);
	metrics_head(out, "wsbridge_limited_addresses", "gauge",
	    "Client addresses with WebSocket sessions counted against "
	    "--max-connections-per-ip.");
	evbuffer_add_printf(out, "wsbridge_limited_addresses %lld\n",
	    g->limit_addresses);
	metrics_head(out, "wsbridge_accepting", "gauge",
	    "1 while accepting connections, 0 while draining or stopping.");
	evbuffer_add_printf(out, "wsbridge_accepting %d\n", g->accepting);
}

/* The exposition text (see metrics.h). */
int
metrics_format(struct evbuffer *out, const struct metrics_counts *sum,
    const struct metrics_counts *const *w, int nworkers,
    const struct metrics_gauges *g, const char *plugin)
{
	size_t before = evbuffer_get_length(out);

	metrics_format_sessions(out, sum, g);
	metrics_format_http(out, sum);
	metrics_format_relay(out, sum);
	metrics_format_token(out, sum, plugin);
	metrics_format_process(out, w, nworkers, g);
	/* evbuffer_add_printf fails only without memory: the text is then
	 * shorter than its last line says. */
	return evbuffer_get_length(out) > before ? 0 : -1;
}
