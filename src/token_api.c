/*
 * BaseTokenAPI and JSONTokenApi, as websockify names them: GET the source
 * URL with the token in it; a 2xx answer names the target.  Each worker
 * drives its own libcurl multi handle from its libevent loop
 * (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION), so a request never
 * blocks the worker and connections to the token service are reused.
 * The pure parts (URL template, answer bodies) are in token_api_parse.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "token.h"
#include "token_api.h"
#include "wsb_limits.h"

/* A target from a body of at most WSB_TOKEN_API_MAX_BODY bytes. */
#define TOKEN_API_MAX_TARGET (WSB_TOKEN_API_MAX_BODY + 16)
/* A log phrase: "token API: " and curl's error, cut. */
#define TOKEN_API_MAX_WHY 160

/* The process-wide state: the URL template and the answer's form. */
struct token_api {
	char *tmpl;
	int   json;   /* JSONTokenApi */
	char *cafile; /* $SSL_CERT_FILE, or NULL: libcurl's default */
	char *capath; /* $SSL_CERT_DIR, or NULL */
};

/* One socket libcurl wants watched: its event on the worker's loop. */
struct api_sock {
	LIST_ENTRY(api_sock) entry;
	struct event	    *ev;
};

/* A worker's side: its multi handle (and so its connection cache), the
 * multi's timer, its sockets and lookups. */
struct api_worker {
	struct token_api  *api;
	struct event_base *base;
	CURLM		  *multi;
	struct event	  *timer;
	LIST_HEAD(, api_sock) socks;
	TAILQ_HEAD(api_list, api_lookup) running; /* in the multi */
	struct api_list			 ready;	  /* answered, done() due */
};

/* One request: while running its easy handle is in the multi; once
 * answered it waits on ready for its done() call. */
struct api_lookup {
	TAILQ_ENTRY(api_lookup) entry;
	struct api_worker      *w;
	int			running;
	CURL		       *easy;
	token_done_fn		done;
	void		       *arg;
	char		       *url;	 /* holds the encoded token */
	size_t			enc_off; /* where, and its length */
	size_t			enc_len;
	char			body[WSB_TOKEN_API_MAX_BODY];
	size_t			bodylen;
	int			too_large;
	enum token_result	result;
	char			target[TOKEN_API_MAX_TARGET];
	char			why[TOKEN_API_MAX_WHY];
	char			errbuf[CURL_ERROR_SIZE];
};

/* The plugin's ops. */
static void *token_api_create(const char *, int, char *, size_t);
static void *token_api_create_plain(const char *, char *, size_t);
static void *token_api_create_json(const char *, char *, size_t);
static void  token_api_destroy(void *);
static void *token_api_worker_create(void *, struct token_worker *,
    struct event_base *);
static void  token_api_worker_destroy(void *);
static void  token_api_cancel(struct token_lookup *);

static struct token_lookup *token_api_lookup(void *, const char *, size_t,
    token_done_fn, void *);

/* Requests on the worker's loop. */
static int    token_api_setup(struct api_lookup *);
static void   token_api_lookup_free(struct api_lookup *);
static size_t token_api_write_cb(char *, size_t, size_t, void *);
static int    token_api_socket_fn(CURL *, curl_socket_t, int, void *, void *);
static int    token_api_timer_fn(CURLM *, long, void *);
static void   token_api_sock_cb(evutil_socket_t, short, void *);
static void   token_api_timer_cb(evutil_socket_t, short, void *);
static void   token_api_check(struct api_worker *);
static void   token_api_finish(struct api_lookup *, CURLcode);
static void   token_api_curl_why(struct api_lookup *, CURLcode);

const struct token_plugin_ops token_api_ops = {
	.name = "BaseTokenAPI",
	.create = token_api_create_plain,
	.destroy = token_api_destroy,
	.worker_create = token_api_worker_create,
	.worker_destroy = token_api_worker_destroy,
	.lookup = token_api_lookup,
	.cancel = token_api_cancel,
};

const struct token_plugin_ops token_json_api_ops = {
	.name = "JSONTokenApi",
	.create = token_api_create_json,
	.destroy = token_api_destroy,
	.worker_create = token_api_worker_create,
	.worker_destroy = token_api_worker_destroy,
	.lookup = token_api_lookup,
	.cancel = token_api_cancel,
};

/* Check the source and start libcurl (main thread, start-up). */
static void *
token_api_create(const char *source, int json, char *err, size_t errlen)
{
	curl_version_info_data *v;
	struct token_api       *api;
	const char	       *env;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "token API: cannot start libcurl");
		return NULL;
	}
	if (token_api_url_check(source, err, errlen) == -1)
		goto fail;
	v = curl_version_info(CURLVERSION_NOW);
	if (strncasecmp(source, "https:", 6) == 0 &&
	    (v->features & CURL_VERSION_SSL) == 0) {
		snprintf(err, errlen, "token API: libcurl %s has no TLS",
		    v->version);
		goto fail;
	}
	if ((v->features & CURL_VERSION_ASYNCHDNS) == 0)
		log_warnx(
		    "token API: libcurl %s resolves names synchronously: "
		    "a slow DNS answer stalls a worker",
		    v->version);
	if ((api = calloc(1, sizeof(*api))) == NULL ||
	    (api->tmpl = strdup(source)) == NULL)
		goto nomem;
	api->json = json;
	/* libcurl has its own CA file; trust what OpenSSL users set. */
	if ((env = getenv("SSL_CERT_FILE")) != NULL && *env != '\0' &&
	    (api->cafile = strdup(env)) == NULL)
		goto nomem;
	if ((env = getenv("SSL_CERT_DIR")) != NULL && *env != '\0' &&
	    (api->capath = strdup(env)) == NULL)
		goto nomem;
	return api;
nomem:
	snprintf(err, errlen, "out of memory");
	if (api != NULL) {
		token_api_destroy(api); /* and curl_global_cleanup() */
		return NULL;
	}
fail:
	curl_global_cleanup();
	return NULL;
}

/* BaseTokenAPI's create(). */
static void *
token_api_create_plain(const char *source, char *err, size_t errlen)
{
	return token_api_create(source, 0, err, errlen);
}

/* JSONTokenApi's create(). */
static void *
token_api_create_json(const char *source, char *err, size_t errlen)
{
	return token_api_create(source, 1, err, errlen);
}

/* Free the state; libcurl's global part goes with it. */
static void
token_api_destroy(void *state)
{
	struct token_api *api = state;

	free(api->tmpl);
	free(api->cafile);
	free(api->capath);
	free(api);
	curl_global_cleanup();
}

/* A worker's multi handle, driven by base. */
static void *
token_api_worker_create(void *state, struct token_worker *tw,
    struct event_base *base)
{
	struct api_worker *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->api = state;
	w->base = base;
	LIST_INIT(&w->socks);
	TAILQ_INIT(&w->running);
	TAILQ_INIT(&w->ready);
	if ((w->timer = evtimer_new(base, token_api_timer_cb, w)) == NULL ||
	    (w->multi = curl_multi_init()) == NULL ||
	    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION,
		token_api_socket_fn) != CURLM_OK ||
	    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w) != CURLM_OK ||
	    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION,
		token_api_timer_fn) != CURLM_OK ||
	    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w) != CURLM_OK) {
		token_api_worker_destroy(w);
		return NULL;
	}
	return w;
}

/* Cancel what is left, then free the multi, its sockets' events and the
 * timer, on the worker's thread while its loop still exists. */
static void
token_api_worker_destroy(void *wstate)
{
	struct api_worker *w = wstate;
	struct api_lookup *l;
	struct api_sock	  *s;

	while ((l = TAILQ_FIRST(&w->running)) != NULL)
		token_api_cancel((struct token_lookup *)l);
	while ((l = TAILQ_FIRST(&w->ready)) != NULL)
		token_api_cancel((struct token_lookup *)l);
	if (w->multi != NULL) {
		/* No callbacks while the cache closes: we free every event. */
		curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, NULL);
		curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, NULL);
		curl_multi_cleanup(w->multi);
	}
	while ((s = LIST_FIRST(&w->socks)) != NULL) {
		LIST_REMOVE(s, entry);
		event_free(s->ev);
		free(s);
	}
	if (w->timer != NULL)
		event_free(w->timer);
	free(w);
}

/* Start a GET for token; done() comes from the loop, never from here
 * unless the request cannot be made. */
static struct token_lookup *
token_api_lookup(void *wstate, const char *token, size_t len,
    token_done_fn done, void *arg)
{
	struct api_worker *w = wstate;
	struct api_lookup *l;
	size_t tlen = strlen(w->api->tmpl), urllen = tlen + 3 * len;
	int    n;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		goto fail;
	l->w = w;
	l->done = done;
	l->arg = arg;
	if ((l->url = malloc(urllen)) == NULL ||
	    (n = token_api_url_build(w->api->tmpl, token, len, l->url,
		 urllen)) == -1)
		goto fail;
	l->enc_off = (size_t)(strstr(w->api->tmpl, "%s") - w->api->tmpl);
	l->enc_len = (size_t)n - (tlen - 2);
	if ((l->easy = curl_easy_init()) == NULL || token_api_setup(l) == -1 ||
	    curl_multi_add_handle(w->multi, l->easy) != CURLM_OK)
		goto fail;
	l->running = 1;
	TAILQ_INSERT_TAIL(&w->running, l, entry);
	return (struct token_lookup *)l;
fail:
	if (l != NULL)
		token_api_lookup_free(l);
	done(TOKEN_UNAVAILABLE, NULL, "token API: cannot start a request",
	    arg);
	return NULL;
}

/* The request's options: GET, bounded, verified, no redirects. */
static int
token_api_setup(struct api_lookup *l)
{
	struct token_api *api = l->w->api;
	CURL		 *e = l->easy;
	int		  rc = CURLE_OK;

	rc |= curl_easy_setopt(e, CURLOPT_URL, l->url);
	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, l);
	rc |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, token_api_write_cb);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, l);
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, l->errbuf);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    (long)WSB_TOKEN_LOOKUP_TIMEOUT_MSEC);
	rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE,
	    (long)WSB_TOKEN_API_MAX_BODY);
#if LIBCURL_VERSION_NUM >= 0x075500
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (api->cafile != NULL)
		rc |= curl_easy_setopt(e, CURLOPT_CAINFO, api->cafile);
	if (api->capath != NULL)
		rc |= curl_easy_setopt(e, CURLOPT_CAPATH, api->capath);
	rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, "wsbridge");
	return rc == CURLE_OK ? 0 : -1;
}

/* Free a lookup that is in no list; the URL held the token. */
static void
token_api_lookup_free(struct api_lookup *l)
{
	if (l->easy != NULL)
		curl_easy_cleanup(l->easy);
	if (l->url != NULL) {
		explicit_bzero(l->url, strlen(l->url));
		free(l->url);
	}
	free(l);
}

/* Stop a lookup; done() is never called for it. */
static void
token_api_cancel(struct token_lookup *tl)
{
	struct api_lookup *l = (struct api_lookup *)tl;
	struct api_worker *w = l->w;

	if (l->running) {
		curl_multi_remove_handle(w->multi, l->easy);
		TAILQ_REMOVE(&w->running, l, entry);
	} else
		TAILQ_REMOVE(&w->ready, l, entry);
	token_api_lookup_free(l);
}

/* Keep the body, up to WSB_TOKEN_API_MAX_BODY bytes; more aborts. */
static size_t
token_api_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct api_lookup *l = arg;
	size_t		   len = size * n;

	if (len > sizeof(l->body) - l->bodylen) {
		l->too_large = 1;
		return 0; /* CURLE_WRITE_ERROR */
	}
	memcpy(l->body + l->bodylen, data, len);
	l->bodylen += len;
	return len;
}

/* libcurl's socket callback: watch fd as it asks, on the worker's loop. */
static int
token_api_socket_fn(CURL *e, curl_socket_t fd, int what, void *userp,
    void *sockp)
{
	struct api_worker *w = userp;
	struct api_sock	  *s = sockp;
	short		   events = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			LIST_REMOVE(s, entry);
			event_free(s->ev);
			free(s);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -1;
		if ((s->ev = event_new(w->base, fd, events, token_api_sock_cb,
			 w)) == NULL) {
			free(s);
			return -1;
		}
		LIST_INSERT_HEAD(&w->socks, s, entry);
		curl_multi_assign(w->multi, fd, s);
	} else {
		event_del(s->ev);
		event_assign(s->ev, w->base, fd, events, token_api_sock_cb, w);
	}
	return event_add(s->ev, NULL) == 0 ? 0 : -1;
}

/* libcurl's timer callback: one timer, moved or stopped. */
static int
token_api_timer_fn(CURLM *m, long ms, void *userp)
{
	struct api_worker *w = userp;
	struct timeval	   tv;

	if (ms < 0)
		return evtimer_del(w->timer) == 0 ? 0 : -1;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return evtimer_add(w->timer, &tv) == 0 ? 0 : -1;
}

/* A socket libcurl watches is ready. */
static void
token_api_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_worker *w = arg;
	int		   flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(w->multi, fd, flags, &running);
	token_api_check(w);
}

/* libcurl's timeout came. */
static void
token_api_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_worker *w = arg;
	int		   running;

	curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	token_api_check(w);
}

/* Take the finished transfers out of the multi, then answer them: a
 * done() may start or cancel lookups, never while curl is in a call. */
static void
token_api_check(struct api_worker *w)
{
	struct api_lookup *l;
	CURLMsg		  *m;
	CURLcode	   code;
	char		  *priv;
	int		   left;

	while ((m = curl_multi_info_read(w->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		code = m->data.result;
		priv = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		if ((l = (struct api_lookup *)priv) != NULL)
			token_api_finish(l, code);
	}
	while ((l = TAILQ_FIRST(&w->ready)) != NULL) {
		TAILQ_REMOVE(&w->ready, l, entry);
		l->done(l->result, l->result == TOKEN_FOUND ? l->target : NULL,
		    l->why[0] != '\0' ? l->why : NULL, l->arg);
		token_api_lookup_free(l);
	}
}

/* A transfer ended: its outcome, its handle freed (its connection stays
 * in the multi's cache), the lookup moved to ready. */
static void
token_api_finish(struct api_lookup *l, CURLcode code)
{
	struct api_worker *w = l->w;
	long		   status = 0;

	curl_easy_getinfo(l->easy, CURLINFO_RESPONSE_CODE, &status);
	if (code == CURLE_OK ||
	    (status != 0 &&
		(code == CURLE_WRITE_ERROR ||
		    code == CURLE_FILESIZE_EXCEEDED)))
		l->result = token_api_answer(w->api->json, status, l->body,
		    l->bodylen, code != CURLE_OK, l->target, sizeof(l->target),
		    l->why, sizeof(l->why));
	else {
		l->result = TOKEN_UNAVAILABLE;
		token_api_curl_why(l, code);
	}
	curl_multi_remove_handle(w->multi, l->easy);
	curl_easy_cleanup(l->easy);
	l->easy = NULL;
	TAILQ_REMOVE(&w->running, l, entry);
	l->running = 0;
	TAILQ_INSERT_TAIL(&w->ready, l, entry);
}

/* The log phrase for a failed transfer: curl's detailed error unless it
 * could show the URL or the token, then its generic one. */
static void
token_api_curl_why(struct api_lookup *l, CURLcode code)
{
	const char *msg = l->errbuf;
	char	   *p;

	if (code == CURLE_OPERATION_TIMEDOUT)
		msg = "timed out";
	else if (msg[0] == '\0' || strstr(msg, "://") != NULL ||
	    (l->enc_len > 0 &&
		memmem(msg, strlen(msg), l->url + l->enc_off, l->enc_len) !=
		    NULL))
		msg = curl_easy_strerror(code);
	snprintf(l->why, sizeof(l->why), "token API: %s", msg);
	for (p = l->why; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}
