/*
 * TokenRedis: a token's target is the Redis value of "namespace:token"
 * (or "token"); the source is "host[:port[:db[:password[:namespace]]]]".
 *
 * Each worker has one hiredis async connection on its loop (hiredis'
 * libevent adapter), made at worker_create and reused: AUTH and SELECT
 * are pipelined ahead of the lookups, one GETRANGE per lookup (a value
 * is read only up to WSB_TOKEN_REDIS_MAX_VALUE + 1 bytes, however large
 * it is).  hiredis can neither cancel a sent command nor time it out, so
 * a lookup is a record hiredis hands back with its reply (or NULL when
 * the connection is freed), cancel() only forgets done(), and each
 * lookup's timer runs even once cancelled: a timeout drops the
 * connection (a stopped Redis holds every command).  Commands awaiting a
 * reply are bounded per worker (WSB_MAX_TOKEN_LOOKUPS).  A
 * refused, lost or dropped connection is remade after a back-off;
 * meanwhile lookups answer 503 at once.  hiredis resolves names with a
 * blocking getaddrinfo(), so create() resolves the host once, at
 * start-up, and the workers connect to that numeric address.  The pure
 * parsers of the source and of a token's value are in token_redis_parse.c.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "http.h"
#include "log.h"
#include "token.h"
#include "token_redis.h"
#include "wsb_limits.h"

/* The plugin's process-wide state (create). */
struct token_redis {
	struct token_redis_source src;
	char			  addr[INET6_ADDRSTRLEN];     /* numeric */
	char			  desc[INET6_ADDRSTRLEN + 8]; /* for logs */
	size_t			  buflen;
	char			  buf[]; /* src's strings */
};

/* One worker's connection and its reconnect timer. */
struct token_redis_worker {
	const struct token_redis *tr;
	struct event_base	 *base;
	redisAsyncContext	 *ac;	   /* NULL while disconnected */
	struct event		 *retry;   /* reconnect after back-off */
	int			  backoff; /* msec before the next connect */
	int			  healthy; /* a reply came on ac */
	int			  down;	   /* an outage was logged */
	int			  destroying;
	int			  pending; /* commands awaiting a reply */
	const char		 *why;	   /* why pending lookups fail */
};

/* A lookup in flight: hiredis' privdata for one GETRANGE.  Freed when its
 * reply (or NULL) comes back; done is NULL once cancelled or answered. */
struct token_lookup {
	struct token_redis_worker *w;
	token_done_fn		   done;
	void			  *arg;
	struct event		  *timer;
};

/* Privdata of the set-up commands: which one failed. */
static char token_redis_auth[] = "AUTH";
static char token_redis_select[] = "SELECT";

static int   token_redis_resolve(struct token_redis *, char *, size_t);
static void *token_redis_create(const char *, char *, size_t);
static void  token_redis_destroy(void *);
static void *token_redis_worker_create(void *, struct token_worker *,
    struct event_base *);
static void  token_redis_worker_destroy(void *);
static void  token_redis_connect(struct token_redis_worker *);
static void  token_redis_drop(struct token_redis_worker *, const char *);
static void  token_redis_schedule(struct token_redis_worker *);
static void  token_redis_outage(struct token_redis_worker *, const char *);
static const char *token_redis_errcode(const redisReply *, char *, size_t);
static void	   token_redis_retry_cb(evutil_socket_t, short, void *);
static void	   token_redis_lost_cb(const redisAsyncContext *, int);
static void	   token_redis_setup_cb(redisAsyncContext *, void *, void *);
static void	   token_redis_reply_cb(redisAsyncContext *, void *, void *);
static void token_redis_answer(token_done_fn, void *, const redisReply *);
static void token_redis_timeout_cb(evutil_socket_t, short, void *);
static struct token_lookup *token_redis_lookup(void *, const char *, size_t,
    token_done_fn, void *);
static void		    token_redis_cancel(struct token_lookup *);

/* The host as a numeric address, IPv4 first as hiredis itself does:
 * start-up may block, a worker may not. */
static int
token_redis_resolve(struct token_redis *tr, char *err, size_t errlen)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct addrinfo	 hints, *res;
	char		 port[16];
	size_t		 i;
	int		 r = EAI_NONAME;

	for (i = 0; i < 2 && r != 0; i++) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = families[i];
		hints.ai_socktype = SOCK_STREAM;
		r = getaddrinfo(tr->src.host, NULL, &hints, &res);
	}
	if (r == 0) {
		r = getnameinfo(res->ai_addr, res->ai_addrlen, tr->addr,
		    sizeof(tr->addr), NULL, 0, NI_NUMERICHOST);
		freeaddrinfo(res);
	}
	if (r != 0) {
		snprintf(err, errlen, "cannot resolve the Redis host '%s': %s",
		    tr->src.host, gai_strerror(r));
		return -1;
	}
	snprintf(port, sizeof(port), "%d", tr->src.port);
	http_format_authority(tr->desc, sizeof(tr->desc), tr->addr, port);
	return 0;
}

/* Check the source and resolve its host (main thread, start-up). */
static void *
token_redis_create(const char *source, char *err, size_t errlen)
{
	struct token_redis *tr;
	size_t		    len = strlen(source) + 1;

	if ((tr = calloc(1, sizeof(*tr) + len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tr->buflen = len;
	if (token_redis_source_parse(source, &tr->src, tr->buf, len, err,
		errlen) == -1 ||
	    token_redis_resolve(tr, err, errlen) == -1) {
		token_redis_destroy(tr);
		return NULL;
	}
	log_info("TokenRedis: redis at %s, db %d%s%s", tr->desc, tr->src.db,
	    tr->src.password != NULL ? ", with a password" : "",
	    tr->src.ns != NULL ? ", with a namespace" : "");
	return tr;
}

/* Free the state; the password does not outlive it. */
static void
token_redis_destroy(void *state)
{
	struct token_redis *tr = state;

	if (tr == NULL)
		return;
	explicit_bzero(tr->buf, tr->buflen);
	free(tr);
}

/* This worker's connection, begun at once on its loop. */
static void *
token_redis_worker_create(void *state, struct token_worker *tw,
    struct event_base *base)
{
	struct token_redis_worker *w;

	(void)tw;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->tr = state;
	w->base = base;
	w->backoff = WSB_TOKEN_REDIS_RETRY_MIN_MSEC;
	if ((w->retry = evtimer_new(base, token_redis_retry_cb, w)) == NULL) {
		free(w);
		return NULL;
	}
	token_redis_connect(w);
	return w;
}

/* Free the connection (hiredis hands back every record with NULL, and
 * no done() is called any more) and the worker's state. */
static void
token_redis_worker_destroy(void *wstate)
{
	struct token_redis_worker *w = wstate;
	redisAsyncContext	  *ac = w->ac;

	w->destroying = 1;
	w->ac = NULL;
	if (ac != NULL)
		redisAsyncFree(ac);
	event_free(w->retry);
	free(w);
}

/* Connect to Redis; AUTH and SELECT go first in the pipeline. */
static void
token_redis_connect(struct token_redis_worker *w)
{
	const struct token_redis *tr = w->tr;
	redisAsyncContext	 *ac;

	w->why = NULL;
	w->healthy = 0;
	if ((ac = redisAsyncConnect(tr->addr, tr->src.port)) == NULL ||
	    ac->err != 0) {
		token_redis_outage(w,
		    ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		token_redis_schedule(w);
		return;
	}
	ac->data = w;
	redisLibeventAttach(ac, w->base);
	redisAsyncSetConnectCallback(ac, token_redis_lost_cb);
	redisAsyncSetDisconnectCallback(ac, token_redis_lost_cb);
	w->ac = ac;
	if (tr->src.password != NULL)
		redisAsyncCommand(ac, token_redis_setup_cb, token_redis_auth,
		    "AUTH %s", tr->src.password);
	if (tr->src.db != 0)
		redisAsyncCommand(ac, token_redis_setup_cb, token_redis_select,
		    "SELECT %d", tr->src.db);
}

/* Let the connection go: its lookups fail with why, and a new one is
 * made after the back-off.  (Inside a hiredis callback, hiredis frees it
 * when the callback returns.) */
static void
token_redis_drop(struct token_redis_worker *w, const char *why)
{
	redisAsyncContext *ac = w->ac;

	if (ac == NULL)
		return;
	w->ac = NULL;
	w->why = why;
	redisAsyncFree(ac);
	token_redis_schedule(w);
}

/* Reconnect after the back-off (0 once: at once), which then doubles
 * from its minimum up to its maximum. */
static void
token_redis_schedule(struct token_redis_worker *w)
{
	struct timeval tv;

	if (w->destroying || evtimer_pending(w->retry, NULL))
		return;
	tv.tv_sec = w->backoff / 1000;
	tv.tv_usec = (w->backoff % 1000) * 1000;
	evtimer_add(w->retry, &tv);
	w->backoff *= 2;
	if (w->backoff < WSB_TOKEN_REDIS_RETRY_MIN_MSEC)
		w->backoff = WSB_TOKEN_REDIS_RETRY_MIN_MSEC;
	else if (w->backoff > WSB_TOKEN_REDIS_RETRY_MAX_MSEC)
		w->backoff = WSB_TOKEN_REDIS_RETRY_MAX_MSEC;
}

/* Say once per outage that Redis is out of reach (detail never holds
 * a token or the password); later failures go to the debug log. */
static void
token_redis_outage(struct token_redis_worker *w, const char *detail)
{
	if (w->down) {
		log_debug("TokenRedis: redis at %s: %s", w->tr->desc, detail);
		return;
	}
	w->down = 1;
	log_warnx("TokenRedis: redis at %s: %s; lookups answer 503 until it "
		  "is back",
	    w->tr->desc, detail);
}

/* The back-off ran out. */
static void
token_redis_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct token_redis_worker *w = arg;

	(void)fd;
	(void)what;
	if (w->ac == NULL)
		token_redis_connect(w);
}

/* The connect failed, or a connection broke: hiredis hands the records
 * back with NULL (before this when it broke, after when the connect
 * failed) and frees ac when this returns.  A good connect does nothing:
 * the first reply marks Redis healthy. */
static void
token_redis_lost_cb(const redisAsyncContext *ac, int status)
{
	struct token_redis_worker *w = ac->data;

	if (status == REDIS_OK || w == NULL || w->ac != ac)
		return; /* connected, or we let it go ourselves */
	w->ac = NULL;
	if (!(ac->c.flags & REDIS_CONNECTED))
		w->why = "redis: cannot connect";
	if (w->healthy) { /* e.g. Redis' idle "timeout": reconnect now */
		log_info("TokenRedis: redis at %s closed the connection (%s); "
			 "reconnecting",
		    w->tr->desc, ac->c.err != 0 ? ac->c.errstr : "closed");
		w->backoff = 0;
	} else
		token_redis_outage(w,
		    ac->c.err != 0 ? ac->c.errstr : "connection closed");
	token_redis_schedule(w);
}

/* The code word of an error reply ("WRONGPASS", "NOAUTH"), never its
 * text, which may quote a key and so the token. */
static const char *
token_redis_errcode(const redisReply *r, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; i + 1 < outlen && i < (size_t)r->len && r->str[i] >= 'A' &&
	     r->str[i] <= 'Z';
	     i++)
		out[i] = r->str[i];
	out[i] = '\0';
	return i > 0 ? out : "error";
}

/* AUTH's or SELECT's reply: a refusal makes the connection useless. */
static void
token_redis_setup_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct token_redis_worker *w = ac->data;
	const redisReply	  *r = reply;
	const char		  *cmd = privdata;
	char			   code[32], detail[96];

	if (r == NULL || w == NULL || w->ac != ac ||
	    r->type != REDIS_REPLY_ERROR)
		return;
	snprintf(detail, sizeof(detail), "%s refused (%s)", cmd,
	    token_redis_errcode(r, code, sizeof(code)));
	token_redis_outage(w, detail);
	token_redis_drop(w,
	    cmd == token_redis_auth ? "redis: AUTH failed" :
				      "redis: SELECT failed");
}

/* GETRANGE the token's key; the reply, a timeout or a drop answers. */
static struct token_lookup *
token_redis_lookup(void *wstate, const char *token, size_t len,
    token_done_fn done, void *arg)
{
	struct token_redis_worker *w = wstate;
	const char		  *ns = w->tr->src.ns;
	struct token_lookup	  *l;
	struct timeval		   tv = { WSB_TOKEN_LOOKUP_TIMEOUT_MSEC / 1000,
			    (WSB_TOKEN_LOOKUP_TIMEOUT_MSEC % 1000) * 1000 };
	int			   r = REDIS_ERR;

	if (w->ac == NULL) {
		token_redis_schedule(w);
		done(TOKEN_UNAVAILABLE, NULL, "redis: not connected", arg);
		return NULL;
	}
	/* Cancelled lookups still wait for their reply: bound them too. */
	if (w->pending >= WSB_MAX_TOKEN_LOOKUPS) {
		done(TOKEN_UNAVAILABLE, NULL,
		    "redis: too many commands pending", arg);
		return NULL;
	}
	if ((l = calloc(1, sizeof(*l))) != NULL &&
	    (l->timer = evtimer_new(w->base, token_redis_timeout_cb, l)) !=
		NULL) {
		l->w = w;
		l->done = done;
		l->arg = arg;
		/* GETRANGE, not GET: a value is read only up to one byte
		 * past the longest accepted, whatever its size in Redis (a
		 * missing key reads as ""). */
		r = ns != NULL ? redisAsyncCommand(w->ac, token_redis_reply_cb,
				     l, "GETRANGE %s:%b 0 %d", ns, token, len,
				     WSB_TOKEN_REDIS_MAX_VALUE) :
				 redisAsyncCommand(w->ac, token_redis_reply_cb,
				     l, "GETRANGE %b 0 %d", token, len,
				     WSB_TOKEN_REDIS_MAX_VALUE);
	}
	if (r != REDIS_OK) {
		if (l != NULL && l->timer != NULL)
			event_free(l->timer);
		free(l);
		done(TOKEN_UNAVAILABLE, NULL, "redis: not connected", arg);
		return NULL;
	}
	w->pending++;
	evtimer_add(l->timer, &tv);
	return l;
}

/* A GETRANGE reply, or NULL when its connection went: free the record,
 * answer unless cancelled. */
static void
token_redis_reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct token_lookup	  *l = privdata;
	struct token_redis_worker *w = l->w;
	const redisReply	  *r = reply;
	token_done_fn		   done = l->done;
	void			  *arg = l->arg;

	(void)ac;
	event_free(l->timer);
	free(l);
	w->pending--;
	if (r != NULL && r->type != REDIS_REPLY_ERROR && !w->healthy) {
		w->healthy = 1; /* answers come: reset the back-off */
		w->backoff = WSB_TOKEN_REDIS_RETRY_MIN_MSEC;
		if (w->down)
			log_info("TokenRedis: redis at %s answers again",
			    w->tr->desc);
		w->down = 0;
	}
	if (done == NULL || w->destroying)
		return;
	if (r == NULL)
		done(TOKEN_UNAVAILABLE, NULL,
		    w->why != NULL ? w->why : "redis: connection lost", arg);
	else
		token_redis_answer(done, arg, r);
}

/* What a GETRANGE reply means for the session. */
static void
token_redis_answer(token_done_fn done, void *arg, const redisReply *r)
{
	char target[WSB_TOKEN_REDIS_MAX_VALUE + 1], why[48], code[32];

	switch (r->type) {
	case REDIS_REPLY_NIL:
		done(TOKEN_NOT_FOUND, NULL, "not in redis", arg);
		break;
	case REDIS_REPLY_STRING:
		if (r->len == 0) { /* GETRANGE of a missing key */
			done(TOKEN_NOT_FOUND, NULL, "not in redis", arg);
			break;
		}
		if (token_redis_value_parse(r->str, (size_t)r->len, target,
			sizeof(target)) < 0)
			done(TOKEN_NOT_FOUND, NULL, "malformed value", arg);
		else
			done(TOKEN_FOUND, target, NULL, arg);
		break;
	case REDIS_REPLY_ERROR: /* WRONGTYPE: a value, but not a string */
		snprintf(why, sizeof(why), "redis: error %s",
		    token_redis_errcode(r, code, sizeof(code)));
		if (strcmp(why, "redis: error WRONGTYPE") != 0) {
			done(TOKEN_UNAVAILABLE, NULL, why, arg);
			break;
		}
		/* FALLTHROUGH */
	default:
		done(TOKEN_NOT_FOUND, NULL, "malformed value", arg);
		break;
	}
}

/* No reply in time: Redis holds every command behind this one, so the
 * connection goes (the others fail too) and a new one is made. */
static void
token_redis_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct token_lookup	  *l = arg;
	struct token_redis_worker *w = l->w;
	token_done_fn		   done = l->done;
	void			  *darg = l->arg;

	(void)fd;
	(void)what;
	l->done = NULL;
	token_redis_outage(w, "no answer in time");
	token_redis_drop(w, "redis: timed out"); /* frees l */
	if (done != NULL)
		done(TOKEN_UNAVAILABLE, NULL, "redis: timed out", darg);
}

/* Forget the session: the record waits for its reply to be freed, and
 * its timer still runs, so a Redis that stopped answering is dropped
 * even when every client waiting on it has left. */
static void
token_redis_cancel(struct token_lookup *l)
{
	l->done = NULL;
}

const struct token_plugin_ops token_redis_ops = {
	.name = "TokenRedis",
	.create = token_redis_create,
	.destroy = token_redis_destroy,
	.worker_create = token_redis_worker_create,
	.worker_destroy = token_redis_worker_destroy,
	.lookup = token_redis_lookup,
	.cancel = token_redis_cancel,
};
