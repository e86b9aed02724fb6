/*
 * Token routing: websockify's --token-plugin/--token-source.  A session's
 * token (the `token` query parameter, or the Host header with
 * --host-token) is looked up without blocking the worker; the answer is a
 * target, "not found" (403) or "back end unavailable" (503).
 *
 * Threads: token_router_*() run on the main thread; everything taking a
 * struct token_worker runs on that worker's thread.  Plugins (token_*.c)
 * describe themselves with a struct token_plugin_ops.
 */
#ifndef WSB_TOKEN_H
#define WSB_TOKEN_H

#include <stddef.h>

struct event_base;
struct http_request;
struct target_spec;
struct token_router;
struct token_worker;
struct token_lookup;

/* A lookup's outcome; each maps to one HTTP status. */
enum token_result {
	TOKEN_FOUND,	   /* target given: go on with the upgrade */
	TOKEN_NOT_FOUND,   /* unknown, expired or invalid token: 403 */
	TOKEN_UNAVAILABLE, /* back end down, timed out or busy: 503 */
};

/*
 * A lookup's answer, called exactly once on the worker's thread unless the
 * lookup was cancelled first.  target ("host:port", "[v6]:port" or
 * "unix_socket:PATH", NUL-terminated) is non-NULL only with TOKEN_FOUND;
 * why is a short phrase for the log line ("not in the token file",
 * "redis: connection refused"), NULL with TOKEN_FOUND or when there is
 * nothing to add.  Neither ever holds the token.  Both are the caller's
 * to copy: they live only during the call.
 */
typedef void (*token_done_fn)(enum token_result r, const char *target,
    const char *why, void *arg);

/*
 * One plugin, as websockify names it.  State is process-wide (made on the
 * main thread at start-up); wstate is per worker (made on that worker's
 * thread at its first lookup, so connections and events belong to its
 * loop).
 */
struct token_plugin_ops {
	const char *name; /* websockify's class name: "TokenFile" */

	/* Check and load source (main thread, start-up).  Returns the
	 * state, or NULL with a one-line reason in err (errlen bytes): the
	 * bridge then exits 2. */
	void *(*create)(const char *source, char *err, size_t errlen);
	/* SIGHUP on the main thread: reload what can be reloaded; logs its
	 * own outcome.  May be NULL. */
	void (*reload)(void *state);
	/* Free state at exit (main thread, after every worker stopped). */
	void (*destroy)(void *state);

	/* Per-worker state on base; NULL on failure (lookups then answer
	 * TOKEN_UNAVAILABLE).  May be NULL: wstate is then state. */
	void *(*worker_create)(void *state, struct token_worker *tw,
	    struct event_base *base);
	/* Free wstate on the worker's thread; lookups already cancelled. */
	void (*worker_destroy)(void *wstate);

	/* Look token (len bytes, NUL-terminated, no NUL inside, at most
	 * WSB_MAX_TOKEN) up.  Returns a handle for cancel(), or NULL when
	 * done() has already been called (a synchronous answer). */
	struct token_lookup *(*lookup)(void *wstate, const char *token,
	    size_t len, token_done_fn done, void *arg);
	/* Stop a lookup; done() is not called.  Never NULL. */
	void (*cancel)(struct token_lookup *l);
};

/* The plugins (token_file.c, token_redis.c, token_api.c, token_jwt.c). */
extern const struct token_plugin_ops token_file_ops;	  /* TokenFile */
extern const struct token_plugin_ops token_file_ro_ops;	  /* ReadOnly */
extern const struct token_plugin_ops token_file_name_ops; /* FileName */
extern const struct token_plugin_ops token_unix_dir_ops;  /* UDS dir */
extern const struct token_plugin_ops token_redis_ops;	  /* TokenRedis */
extern const struct token_plugin_ops token_api_ops;	  /* BaseTokenAPI */
extern const struct token_plugin_ops token_json_api_ops;  /* JSONTokenApi */
extern const struct token_plugin_ops token_jwt_ops;	  /* JWTTokenApi */

/*
 * The plugin named name, as websockify users write it: "TokenFile" or
 * "websockify.token_plugins.TokenFile".  Returns NULL for an unknown name.
 */
const struct token_plugin_ops *token_plugin_find(const char *name);

/*
 * Make the process-wide router for plugin ops and source (main thread).
 * Returns it, or NULL with a one-line reason in err (errlen bytes).
 */
struct token_router *token_router_create(const struct token_plugin_ops *ops,
    const char *source, char *err, size_t errlen);
/* SIGHUP: the plugin's reload (main thread). */
void token_router_reload(struct token_router *r);
/* Free r after every worker's token_worker_free() (main thread). */
void token_router_free(struct token_router *r);

/*
 * The worker's side of r, made on the worker's thread (its loop is base).
 * Returns NULL when out of memory.  Freed with token_worker_free() on the
 * same thread, after every lookup on it was cancelled or answered.
 */
struct token_worker *token_worker_create(struct token_router *r,
    struct event_base					     *base);
void		     token_worker_free(struct token_worker *tw);

/*
 * Begin looking token (len bytes, NUL-terminated) up on tw.  Past
 * WSB_MAX_TOKEN_LOOKUPS lookups in flight on this worker, answers
 * TOKEN_UNAVAILABLE at once.  Returns a handle for token_lookup_cancel(),
 * or NULL when done() has already been called.
 */
struct token_lookup *token_lookup_start(struct token_worker *tw,
    const char *token, size_t len, token_done_fn done, void *arg);
/* Stop lookup l (NULL allowed); done() is not called. */
void token_lookup_cancel(struct token_lookup *l);

/*
 * Run job(arg) on the process's one blocking-work thread (file reads:
 * TokenFileName, token file reloads), then finish(arg) on tw's worker
 * thread.  Jobs run one at a time, in order.  Returns 0, or -1 when the
 * job cannot be queued (nothing will run; the caller still owns arg).
 * finish() always runs, even at shutdown: it frees what it must.
 */
int token_worker_offload(struct token_worker *tw, void (*job)(void *),
    void (*finish)(void *), void *arg);

/*
 * The session's token (pure, no I/O): the first `token` query parameter
 * of req's path, percent-decoded, with trailing '\n' removed as
 * websockify does; or with host_token the Host header without its port
 * (an IPv6 literal keeps its brackets off: "[::1]:80" gives "::1").
 * Writes it NUL-terminated into out (outlen bytes).  Returns its length,
 * 0 when absent or empty, or -1 when too long or holding a NUL.
 */
int token_from_request(const struct http_request *req, int host_token,
    char *out, size_t outlen);

/*
 * Parse a token's target (pure): "host:port", "[v6]:port" (brackets
 * removed) or "unix_socket:PATH" into spec, whose strings point into buf
 * (buflen bytes, a copy of target is made there).  spec->tls is left
 * alone.  Returns 0, or -1 when malformed (no port, port not 1-65535,
 * empty host or path, a host with other than letters, digits and
 * ".-_:%").
 */
int token_target_parse(const char *target, struct target_spec *spec, char *buf,
    size_t buflen);

/* The token's fingerprint for logs: the first 8 hex digits of its
 * SHA-256, in out (at least 9 bytes, NUL-terminated).  Returns out. */
const char *token_fingerprint(const char *token, size_t len, char *out);

#endif
