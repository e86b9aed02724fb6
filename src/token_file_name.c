/*
 * The token-file plugins: TokenFile and ReadOnlyTokenFile (a table from
 * token_file.c, shared by every worker, replaced whole on a reload),
 * TokenFileName (the token names a file holding the target) and
 * UnixDomainSocketDirectory (the token names a socket).  Whatever touches
 * the disk on a worker's behalf runs as a job on the token job thread.
 * TokenFile's watch on its source is in token_file_watch.c.
 *
 * TokenFile: with no reload due (token_file_watch.c says) the answer
 * comes at once (one poll(), one hash lookup, one copy); otherwise the
 * lookup becomes a job that reloads and then looks up, so an edit
 * applies to the very next connection.  A source changed within the last
 * WSB_TOKEN_FILE_QUIET_MSEC is not read: the job waits for the quiet,
 * once, or answers from the last table when the source changed after
 * the lookup came (it keeps changing: the last table is the old side of
 * an edit under way).  A load during which the source changed is thrown
 * away: a lookup sees the table from before an edit or after it, never
 * half of one.
 */
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "token.h"
#include "token_file.h"
#include "token_file_int.h"
#include "wsb_limits.h"

/* Loads in a row thrown away because the source changed while being
 * read (or waits for it to be quiet), before the job gives up and leaves
 * the reload to the next lookup. */
#define TOKEN_FILE_TRIES 3

/* TokenFileName's and UnixDomainSocketDirectory's state. */
struct token_file_dir {
	char  *dir; /* absolute */
	size_t dirlen;
};

static void token_file_job_cb(void *);
static void token_file_finish_cb(void *);
static int  token_file_find(struct token_file_state *, const char *, size_t,
     char *);
static int  token_file_pending(int);
static void token_file_edit_job(struct token_lookup *);
static void token_file_update(struct token_file_state *, long long);
static void token_file_install(struct token_file_state *,
    struct token_file_table *, const char *);
static void token_file_name_job(struct token_lookup *);
static void token_file_unix_job(struct token_lookup *);

/* Hand a lookup to the job thread; done() comes back on this worker.
 * NULL when done() has been called already (out of memory, busy). */
struct token_lookup *
token_file_defer(struct token_file_worker *w, token_file_job_fn job,
    const char *token, size_t len, token_done_fn done, void *arg)
{
	struct token_lookup *l;

	if ((l = calloc(1, sizeof(*l) + len + 1)) == NULL) {
		done(TOKEN_UNAVAILABLE, NULL, "out of memory", arg);
		return NULL;
	}
	l->st = w->st;
	l->job = job;
	l->done = done;
	l->arg = arg;
	l->result = TOKEN_UNAVAILABLE;
	l->why = "token lookup failed";
	l->t0 = token_file_realtime();
	l->len = len;
	memcpy(l->token, token, len);
	if (token_worker_offload(w->tw, token_file_job_cb,
		token_file_finish_cb, l) == -1) {
		free(l);
		done(TOKEN_UNAVAILABLE, NULL, "token file lookups busy", arg);
		return NULL;
	}
	return l;
}

/* Now, in msec of CLOCK_REALTIME (the clock of file times). */
long long
token_file_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* On the job thread: the plugin's job. */
static void
token_file_job_cb(void *arg)
{
	struct token_lookup *l = arg;

	l->job(l);
}

/* Back on the worker: answer unless cancelled; forget the token. */
static void
token_file_finish_cb(void *arg)
{
	struct token_lookup *l = arg;

	if (!l->cancelled)
		l->done(l->result, l->result == TOKEN_FOUND ? l->target : NULL,
		    l->why, l->arg);
	explicit_bzero(l->token, l->len);
	free(l);
}

/* The session left: the finish frees, done() is not called. */
void
token_file_cancel(struct token_lookup *l)
{
	l->cancelled = 1;
}

/* A worker's view of the plugin's state. */
void *
token_file_worker_create(void *st, struct token_worker *tw,
    struct event_base *base)
{
	struct token_file_worker *w;

	(void)base;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->st = st;
	w->tw = tw;
	return w;
}

/* Free a worker's view (its lookups are answered or cancelled). */
void
token_file_worker_destroy(void *wstate)
{
	free(wstate);
}

/* The target of token into out (WSB_TOKEN_FILE_MAX_TARGET + 1 bytes),
 * from the current table.  1 found, 0 not. */
static int
token_file_find(struct token_file_state *st, const char *token, size_t len,
    char *out)
{
	const char *t;
	size_t	    n;

	pthread_mutex_lock(&st->lock);
	if ((t = token_file_table_get(st->table, token, len)) != NULL) {
		/* The parser keeps targets within the bound. */
		n = strnlen(t, WSB_TOKEN_FILE_MAX_TARGET);
		memcpy(out, t, n);
		out[n] = '\0';
	}
	pthread_mutex_unlock(&st->lock);
	return t != NULL;
}

/* Whether inotify has events waiting (an error counts as yes). */
static int
token_file_pending(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) != 0;
}

/* Answer from the table, at once unless an edit is to be taken in. */
static struct token_lookup *
token_file_lookup(void *wstate, const char *token, size_t len,
    token_done_fn done, void *arg)
{
	struct token_file_worker *w = wstate;
	struct token_file_state	 *st = w->st;
	struct token_lookup	 *l;
	char			  target[WSB_TOKEN_FILE_MAX_TARGET + 1];

	if (st->ifd != -1 && token_file_pending(st->ifd)) {
		/* Reading the queue is no disk work; other files' writes
		 * end here, without a job. */
		pthread_mutex_lock(&st->evlock);
		token_file_drain(st);
		pthread_mutex_unlock(&st->evlock);
	}
	/* owed first: a job clears it only once counted in busy, and
	 * stays counted until its table is in place.  A write left open
	 * past its grace is owed too. */
	if (st->ifd != -1 &&
	    (atomic_load(&st->owed) || atomic_load(&st->busy) > 0 ||
		(atomic_load(&st->hold) != 0 &&
		    token_file_now() >= atomic_load(&st->hold)))) {
		atomic_fetch_add(&st->busy, 1);
		l = token_file_defer(w, token_file_edit_job, token, len, done,
		    arg);
		if (l == NULL)
			atomic_fetch_sub(&st->busy, 1);
		return l;
	}
	if (token_file_find(st, token, len, target))
		done(TOKEN_FOUND, target, NULL, arg);
	else
		done(TOKEN_NOT_FOUND, NULL, "not in the token file", arg);
	return NULL;
}

/* Job: take the edits in, then look up in the table that results. */
static void
token_file_edit_job(struct token_lookup *l)
{
	struct token_file_state *st = l->st;

	pthread_mutex_lock(&st->loadlock);
	token_file_update(st, l->t0);
	pthread_mutex_unlock(&st->loadlock);
	atomic_fetch_sub(&st->busy, 1);
	if (token_file_find(st, l->token, l->len, l->target)) {
		l->result = TOKEN_FOUND;
		l->why = NULL;
	} else {
		l->result = TOKEN_NOT_FOUND;
		l->why = "not in the token file";
	}
}

/*
 * Reload while a reload is due (loadlock held), for a lookup that came
 * at t0 (msec, token_file_realtime()).  The source is looked at first
 * (and watched as what it is now).  A source changed in the last
 * WSB_TOKEN_FILE_QUIET_MSEC is not read: if it changed after t0 the
 * last table answers; else the job waits for the quiet (once, at most
 * that long).  A load is kept only if nothing about the source happened
 * while it ran.  After TOKEN_FILE_TRIES tries the reload is left owed
 * to the next lookup (or to the IN_CLOSE_WRITE still to come).
 */
static void
token_file_update(struct token_file_state *st, long long t0)
{
	struct token_file_table *t;
	struct token_file_mark	 m, after;
	struct timespec		 ts;
	char			 err[PATH_MAX + 128];
	long long		 wait;
	unsigned		 gen;
	int			 tries, other, waited = 0;

	for (tries = 0; tries < TOKEN_FILE_TRIES; tries++) {
		if (!token_file_take(st, &gen, &other))
			return;
		token_file_look(st->source, &m);
		pthread_mutex_lock(&st->evlock);
		token_file_arm(st, &m.sb);
		pthread_mutex_unlock(&st->evlock);
		if (other && token_file_same(&m.sb, &st->loaded))
			continue;
		if ((wait = token_file_unsettled(&m, t0)) != 0) {
			token_file_owe(st);
			if (wait < 0 || waited)
				return;
			ts.tv_sec = wait / 1000;
			ts.tv_nsec = wait % 1000 * 1000000;
			nanosleep(&ts, NULL);
			waited = 1;
			continue;
		}
		t = token_file_load(st->source, err, sizeof(err));
		token_file_look(st->source, &after);
		if (token_file_moved(st, gen) ||
		    !token_file_same(&m.sb, &after.sb) ||
		    m.newest != after.newest) {
			token_file_table_free(t);
			token_file_owe(st);
			continue;
		}
		st->loaded = m.sb;
		if (t != NULL)
			token_file_install(st, t, "edited");
		else
			log_warnx("%s: %s; keeping the last %zu token%s",
			    st->plugin, err, token_file_table_count(st->table),
			    token_file_table_count(st->table) == 1 ? "" : "s");
	}
}

/* Put t in place of the table and free the old one (loadlock held). */
static void
token_file_install(struct token_file_state *st, struct token_file_table *t,
    const char *why)
{
	struct token_file_table *old;

	pthread_mutex_lock(&st->lock);
	old = st->table;
	st->table = t;
	pthread_mutex_unlock(&st->lock);
	token_file_table_free(old);
	log_info("%s %s %s: %zu token%s", st->plugin, st->source, why,
	    token_file_table_count(t),
	    token_file_table_count(t) == 1 ? "" : "s");
}

/* SIGHUP: watch again if a watch was lost (as what the source is now),
 * and reload (a failure keeps the last table). */
static void
token_file_reload(void *state)
{
	struct token_file_state *st = state;
	struct token_file_table *t;
	struct token_file_mark	 m;
	char			 err[PATH_MAX + 128];

	pthread_mutex_lock(&st->loadlock);
	token_file_look(st->source, &m);
	if (st->ifd != -1) {
		pthread_mutex_lock(&st->evlock);
		token_file_watch(st);
		token_file_arm(st, &m.sb);
		pthread_mutex_unlock(&st->evlock);
	}
	st->loaded = m.sb;
	if ((t = token_file_load(st->source, err, sizeof(err))) != NULL)
		token_file_install(st, t, "reloaded");
	else
		log_warnx("%s: %s; keeping the last %zu token%s", st->plugin,
		    err, token_file_table_count(st->table),
		    token_file_table_count(st->table) == 1 ? "" : "s");
	pthread_mutex_unlock(&st->loadlock);
}

/* Free a TokenFile's or ReadOnlyTokenFile's state. */
static void
token_file_destroy(void *state)
{
	struct token_file_state *st = state;
	size_t			 i;

	if (st == NULL)
		return;
	if (st->ifd != -1)
		close(st->ifd);
	token_file_table_free(st->table);
	for (i = 0; i < st->nwriting; i++)
		free(st->writing[i]);
	free(st->writing);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->evlock);
	pthread_mutex_destroy(&st->loadlock);
	free(st->source);
	free(st->parent);
	free(st);
}

/* Load source; with watch, watch it first so no edit is missed. */
static void *
token_file_create_common(const char *plugin, const char *source, int watch,
    char *err, size_t errlen)
{
	struct token_file_state *st;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st->plugin = plugin;
	st->ifd = st->pwd = st->dwd = st->isdir = -1;
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->evlock, NULL);
	pthread_mutex_init(&st->loadlock, NULL);
	if ((st->source = token_file_abspath(source, err, errlen)) == NULL)
		goto fail;
	if (access(st->source, R_OK) == -1) {
		snprintf(err, errlen, "token source %s: %s", st->source,
		    strerror(errno));
		goto fail;
	}
	if (stat(st->source, &st->loaded) == -1)
		memset(&st->loaded, 0, sizeof(st->loaded));
	if (watch && token_file_watch_start(st, err, errlen) == -1)
		goto fail;
	if ((st->table = token_file_load(st->source, err, errlen)) == NULL)
		goto fail;
	log_info("%s %s: %zu token%s", plugin, st->source,
	    token_file_table_count(st->table),
	    token_file_table_count(st->table) == 1 ? "" : "s");
	return st;
fail:
	token_file_destroy(st);
	return NULL;
}

/* TokenFile: reloaded on every edit. */
static void *
token_file_create(const char *source, char *err, size_t errlen)
{
	return token_file_create_common("TokenFile", source, 1, err, errlen);
}

/* ReadOnlyTokenFile: loaded once (and on SIGHUP). */
static void *
token_file_ro_create(const char *source, char *err, size_t errlen)
{
	return token_file_create_common("ReadOnlyTokenFile", source, 0, err,
	    errlen);
}

const struct token_plugin_ops token_file_ops = {
	.name = "TokenFile",
	.create = token_file_create,
	.reload = token_file_reload,
	.destroy = token_file_destroy,
	.worker_create = token_file_worker_create,
	.worker_destroy = token_file_worker_destroy,
	.lookup = token_file_lookup,
	.cancel = token_file_cancel,
};

const struct token_plugin_ops token_file_ro_ops = {
	.name = "ReadOnlyTokenFile",
	.create = token_file_ro_create,
	.reload = token_file_reload,
	.destroy = token_file_destroy,
	.worker_create = token_file_worker_create,
	.worker_destroy = token_file_worker_destroy,
	.lookup = token_file_lookup,
	.cancel = token_file_cancel,
};

/* TokenFileName, UnixDomainSocketDirectory: source must be a directory. */
static void *
token_file_dir_create(const char *source, char *err, size_t errlen)
{
	struct token_file_dir *d;
	struct stat	       sb;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((d->dir = token_file_abspath(source, err, errlen)) == NULL)
		goto fail;
	d->dirlen = strlen(d->dir);
	if (stat(d->dir, &sb) == -1) {
		snprintf(err, errlen, "token source %s: %s", d->dir,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "token source %s: not a directory",
		    d->dir);
		goto fail;
	}
	return d;
fail:
	free(d->dir);
	free(d);
	return NULL;
}

/* Free a TokenFileName's or UnixDomainSocketDirectory's state. */
static void
token_file_dir_destroy(void *state)
{
	struct token_file_dir *d = state;

	if (d == NULL)
		return;
	free(d->dir);
	free(d);
}

/* TokenFileName and UnixDomainSocketDirectory: a token that is no plain
 * file name is refused without touching the disk; else a job. */
static struct token_lookup *
token_file_dir_lookup(void *wstate, const char *token, size_t len,
    token_done_fn done, void *arg, token_file_job_fn job)
{
	struct token_file_worker *w = wstate;
	struct token_file_dir	 *d = w->st;

	if (!token_file_name_ok(token, len) ||
	    d->dirlen + 1 + len >= PATH_MAX) {
		done(TOKEN_NOT_FOUND, NULL, "token is not a file name", arg);
		return NULL;
	}
	return token_file_defer(w, job, token, len, done, arg);
}

/* TokenFileName: the file DIR/TOKEN, read in a job. */
static struct token_lookup *
token_file_name_lookup(void *wstate, const char *token, size_t len,
    token_done_fn done, void *arg)
{
	return token_file_dir_lookup(wstate, token, len, done, arg,
	    token_file_name_job);
}

/* UnixDomainSocketDirectory: the socket DIR/TOKEN, looked at in a job;
 * its path must fit a sockaddr_un. */
static struct token_lookup *
token_file_unix_lookup(void *wstate, const char *token, size_t len,
    token_done_fn done, void *arg)
{
	struct token_file_worker *w = wstate;
	struct token_file_dir	 *d = w->st;
	struct sockaddr_un	  sun;

	if (d->dirlen + 1 + len >= sizeof(sun.sun_path)) {
		done(TOKEN_NOT_FOUND, NULL, "socket path too long", arg);
		return NULL;
	}
	return token_file_dir_lookup(wstate, token, len, done, arg,
	    token_file_unix_job);
}

/* Job: TokenFileName's read. */
static void
token_file_name_job(struct token_lookup *l)
{
	struct token_file_dir *d = l->st;

	l->result = token_file_name_read(d->dir, l->token, l->target, &l->why);
}

/* Job: UnixDomainSocketDirectory's look. */
static void
token_file_unix_job(struct token_lookup *l)
{
	struct token_file_dir *d = l->st;

	l->result =
	    token_file_unix_check(d->dir, l->token, l->target, &l->why);
}

const struct token_plugin_ops token_file_name_ops = {
	.name = "TokenFileName",
	.create = token_file_dir_create,
	.destroy = token_file_dir_destroy,
	.worker_create = token_file_worker_create,
	.worker_destroy = token_file_worker_destroy,
	.lookup = token_file_name_lookup,
	.cancel = token_file_cancel,
};

const struct token_plugin_ops token_unix_dir_ops = {
	.name = "UnixDomainSocketDirectory",
	.create = token_file_dir_create,
	.destroy = token_file_dir_destroy,
	.worker_create = token_file_worker_create,
	.worker_destroy = token_file_worker_destroy,
	.lookup = token_file_unix_lookup,
	.cancel = token_file_cancel,
};