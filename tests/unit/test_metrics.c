/*
 * Unit tests for --metrics' pure half (src/metrics_format.c: labels,
 * buckets, sums, the exposition text) and the connection limits
 * (src/connlimit.c: address keys, the counts at their edges, threads).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <criterion/criterion.h>
#include <event2/buffer.h>

#include "connlimit.h"
#include "metrics.h"
#include "test_helpers.h"

/* Slots the formatter's symbol needs when metrics.c is not linked. */
struct metrics_slot metrics_slots[WSB_MAX_WORKERS];

/* HTTP statuses: each known one has its own index, the rest share the
 * last ("other"). */
Test(metrics_format, status_index)
{
	static const struct {
		int	    status, other;
		const char *desc;
	} t[] = {
		{ 200, 0, "web file" },
		{ 400, 0, "bad request" },
		{ 403, 0, "token refused" },
		{ 431, 0, "head too large" },
		{ 503, 0, "limits" },
		{ 418, 1, "unknown status" },
		{ 0, 1, "zero" },
		{ -1, 1, "negative" },
	};
	size_t i;
	int    idx;

	for (i = 0; i < NELEM(t); i++) {
		idx = metrics_status_index(t[i].status);
		cr_assert(idx >= 0 && idx < METRICS_NSTATUS, "%s", t[i].desc);
		cr_assert_eq(idx == METRICS_NSTATUS - 1, t[i].other, "%s",
		    t[i].desc);
		cr_assert_eq(metrics_status_at(idx),
		    t[i].other ? 0 : t[i].status, "%s", t[i].desc);
	}
}

/* Close codes: a bounded set, others are "other". */
Test(metrics_format, close_index)
{
	static const struct {
		int code, other;
	} t[] = {
		{ 1000, 0 },
		{ 1001, 0 },
		{ 1005, 0 },
		{ 1011, 0 },
		{ 1006, 1 },
		{ 3000, 1 },
		{ 4999, 1 },
		{ 65535, 1 },
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++)
		cr_assert_eq(metrics_close_index(t[i].code) ==
			METRICS_NCLOSE - 1,
		    t[i].other, "code %d", t[i].code);
	cr_assert_neq(metrics_close_index(1000), metrics_close_index(1001));
}

/* Buckets are upper bounds, inclusive; past the last is +Inf. */
Test(metrics_format, bucket_index)
{
	cr_assert_eq(metrics_bucket_index(0), 0);
	cr_assert_eq(metrics_bucket_index(100), 0, "100 us is le 0.0001");
	cr_assert_eq(metrics_bucket_index(101), 1);
	cr_assert_eq(metrics_bucket_index(2500000), METRICS_NBUCKETS - 1);
	cr_assert_eq(metrics_bucket_index(2500001), METRICS_NBUCKETS);
	cr_assert_eq(metrics_bucket_index(~0ULL), METRICS_NBUCKETS);
}

/* Summing adds every counter, histograms included. */
Test(metrics_format, sum)
{
	struct metrics_counts *a = calloc(1, sizeof(*a)),
			      *b = calloc(1, sizeof(*b)),
			      *s = calloc(1, sizeof(*s));

	metrics_add(&a->bytes_to_target, 5);
	metrics_add(&b->bytes_to_target, 7);
	metrics_add(&b->refusals[METRICS_REFUSAL_AUTH][1], 2);
	metrics_observe(&a->loop_lag, 300);
	metrics_observe(&b->loop_lag, 3000000);
	metrics_sum(s, a);
	metrics_sum(s, b);
	cr_assert_eq(s->bytes_to_target, 12);
	cr_assert_eq(s->refusals[METRICS_REFUSAL_AUTH][1], 2);
	cr_assert_eq(s->loop_lag.count, 2);
	cr_assert_eq(s->loop_lag.sum_us, 3000300);
	cr_assert_eq(s->loop_lag.bucket[1], 1);
	cr_assert_eq(s->loop_lag.bucket[METRICS_NBUCKETS], 1);
	free(a);
	free(b);
	free(s);
}

/* The text: HELP/TYPE lines, labels, cumulative buckets, and only
 * fixed label values. */
Test(metrics_format, text)
{
	struct metrics_counts	    *c = calloc(1, sizeof(*c));
	const struct metrics_counts *w[1] = { c };
	struct metrics_gauges	     g = { .connections_open = 3,
		       .open_fds = 9,
		       .max_fds = 1024,
		       .accepting = 1 };
	struct evbuffer		    *out = evbuffer_new();
	char			    *text;

	metrics_add(&c->websockets, 4);
	metrics_add(&c->ended[METRICS_OUTCOME_WEBSOCKET], 1);
	metrics_add(&c->refusals[METRICS_REFUSAL_MAX_CONNECTIONS]
				[metrics_status_index(503)],
	    2);
	metrics_add(&c->close_received[metrics_close_index(4000)], 1);
	metrics_observe(&c->loop_lag, 200);
	metrics_observe(&c->loop_lag, 200);
	metrics_observe(&c->token_latency, 1500);
	cr_assert_eq(metrics_format(out, c, w, 1, &g, "TokenFile"), 0);
	evbuffer_add(out, "", 1);
	text = (char *)evbuffer_pullup(out, -1);
	cr_assert(strstr(text, "# TYPE wsbridge_sessions_total counter\n"));
	cr_assert(strstr(text, "\nwsbridge_websocket_sessions_open 3\n"));
	cr_assert(strstr(text, "\nwsbridge_connections_open 3\n"));
	cr_assert(strstr(text,
	    "\nwsbridge_refusals_total{status=\"503\","
	    "reason=\"max_connections\"} 2\n"));
	cr_assert(strstr(text,
	    "\nwsbridge_close_frames_total{direction=\"received\","
	    "code=\"other\"} 1\n"));
	cr_assert(strstr(text,
	    "\nwsbridge_event_loop_lag_seconds_bucket{worker=\"0\","
	    "le=\"0.0005\"} 2\n"));
	cr_assert(strstr(text,
	    "\nwsbridge_event_loop_lag_seconds_bucket{worker=\"0\","
	    "le=\"+Inf\"} 2\n"));
	cr_assert(strstr(text,
	    "\nwsbridge_event_loop_lag_seconds_count{worker=\"0\"} 2\n"));
	cr_assert(strstr(text,
	    "\nwsbridge_token_lookup_duration_seconds_bucket{plugin="
	    "\"TokenFile\",le=\"0.0025\"} 1\n"));
	cr_assert(strstr(text, "\nprocess_max_fds 1024\n"));
	cr_assert(strstr(text, "\nwsbridge_accepting 1\n"));
	/* No token plugin, no token series. */
	evbuffer_drain(out, evbuffer_get_length(out));
	metrics_format(out, c, w, 1, &g, NULL);
	evbuffer_add(out, "", 1);
	cr_assert_null(strstr((char *)evbuffer_pullup(out, -1), "token"));
	evbuffer_free(out);
	free(c);
}

/* An address in text, as a sockaddr. */
static socklen_t
addr(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in  *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return sizeof(*sin);
	}
	cr_assert(inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1, "%s",
	    text);
	sin6->sin6_family = AF_INET6;
	return sizeof(*sin6);
}

/* IPv4 and its IPv4-mapped IPv6 form are one client; others differ;
 * Unix sockets have no key. */
Test(connlimit, key)
{
	static const struct {
		const char *a, *b;
		int	    same;
	} t[] = {
		{ "127.0.0.2", "::ffff:127.0.0.2", 1 },
		{ "10.1.2.3", "10.1.2.3", 1 },
		{ "127.0.0.2", "127.0.0.3", 0 },
		{ "::1", "127.0.0.1", 0 },
		{ "2001:db8::1", "2001:db8::2", 0 },
	};
	struct sockaddr_storage sa, sb;
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	unsigned char		ka[CONNLIMIT_KEY_LEN], kb[CONNLIMIT_KEY_LEN];
	size_t			i;

	for (i = 0; i < NELEM(t); i++) {
		addr(t[i].a, &sa);
		addr(t[i].b, &sb);
		cr_assert_eq(connlimit_key((struct sockaddr *)&sa, ka), 0);
		cr_assert_eq(connlimit_key((struct sockaddr *)&sb, kb), 0);
		cr_assert_eq(memcmp(ka, kb, sizeof(ka)) == 0, t[i].same,
		    "%s vs %s", t[i].a, t[i].b);
	}
	cr_assert_eq(connlimit_key((struct sockaddr *)&sun, ka), -1);
}

/* Both limits at their edges: N allowed, N+1 refused, one released lets
 * one more in; the table empties when the counts do. */
Test(connlimit, edges)
{
	struct sockaddr_storage a, b, m;
	struct connlimit_hold	h[5], x;
	int			i;

	addr("127.0.0.2", &a);
	addr("127.0.0.3", &b);
	addr("::ffff:127.0.0.2", &m);
	for (i = 0; i < 2; i++)
		cr_assert_eq(
		    connlimit_acquire(4, 2, (struct sockaddr *)&a, &h[i]), 0);
	/* The mapped form is the same client: past its 2. */
	cr_assert_eq(connlimit_acquire(4, 2, (struct sockaddr *)&m, &x),
	    CONNLIMIT_PER_ADDR);
	cr_assert_null(x.addr);
	cr_assert_eq(connlimit_total(), 2, "a refusal holds nothing");
	cr_assert_eq(connlimit_addresses(), 1);
	for (i = 2; i < 4; i++)
		cr_assert_eq(
		    connlimit_acquire(4, 2, (struct sockaddr *)&b, &h[i]), 0);
	cr_assert_eq(connlimit_addresses(), 2);
	addr("127.0.0.4", &m);
	cr_assert_eq(connlimit_acquire(4, 2, (struct sockaddr *)&m, &x),
	    CONNLIMIT_TOTAL);
	cr_assert_eq(connlimit_addresses(), 2, "no entry for a refusal");
	connlimit_release(&h[0]);
	cr_assert_eq(connlimit_acquire(4, 2, (struct sockaddr *)&m, &h[4]), 0);
	connlimit_release(&h[4]);
	connlimit_release(&h[4]); /* zeroed: a no-op */
	for (i = 1; i < 4; i++)
		connlimit_release(&h[i]);
	cr_assert_eq(connlimit_total(), 0);
	cr_assert_eq(connlimit_addresses(), 0);
}

/* Many threads racing for 10 places never hold more than 10. */
static void *
connlimit_racer(void *arg)
{
	struct sockaddr_storage a;
	struct connlimit_hold	h;
	int			i, *over = arg;

	addr("192.0.2.1", &a);
	for (i = 0; i < 20000; i++) {
		if (connlimit_acquire(10, 10, (struct sockaddr *)&a, &h) != 0)
			continue;
		if (connlimit_total() > 10)
			__atomic_store_n(over, 1, __ATOMIC_RELAXED);
		connlimit_release(&h);
	}
	return NULL;
}

/* Across threads the limits hold and the counts return to zero. */
Test(connlimit, threads)
{
	pthread_t t[4];
	int	  i, over = 0;

	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, connlimit_racer, &over);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(over, 0);
	cr_assert_eq(connlimit_total(), 0);
	cr_assert_eq(connlimit_addresses(), 0);
}
