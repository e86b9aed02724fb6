/*
 * The token-file plugins: TokenFile and ReadOnlyTokenFile (a table from
 * token_file.c, shared by every worker, replaced whole on a reload),
 * TokenFileName (the token names a file holding the target) and
 * UnixDomainSocketDirectory (the token names a socket).  Whatever touches
 * the disk on a worker's behalf runs as a job on the token job thread.
 *
 * TokenFile watches its source's directory with inotify.  A lookup
 * looks at the event queue (poll()); events there are read on the
 * worker (no disk work: a queue read), and those about other files end
 * there.  With no reload due the answer comes at once (one poll(), one
 * hash lookup, one copy); otherwise the lookup becomes a job that
 * reloads and then looks up, so an edit applies to the very next
 * connection.  A file being written (an IN_MODIFY not yet followed by
 * its IN_CLOSE_WRITE) is not read until it is closed (or left alone for
 * WSB_TOKEN_FILE_WRITE_GRACE_MSEC), and a load during which the source
 * changed is thrown away: a lookup sees the table from before an edit
 * or after it, never half of one.  (Except within the microseconds
 * between a truncation and its IN_MODIFY, which the kernel queues just
 * after: a reload that falls there reads the file empty.  A rename over
 * the file is the atomic edit.)
 */
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "token.h"
#include "token_file.h"
#include "wsb_limits.h"

/* What a TokenFile watch listens for in the directory.  IN_MODIFY
 * (by name: whatever inode the name has now) says a file is being
 * written; its IN_CLOSE_WRITE, that it is done. */
#define TOKEN_FILE_DIR_EVENTS                                       \
	(IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | \
	    IN_DELETE | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | \
	    IN_ONLYDIR)

/* Loads in a row thrown away because the file changed while being read,
 * before the job gives up and leaves the reload to the next lookup. */
#define TOKEN_FILE_TRIES 3

/* TokenFile's and ReadOnlyTokenFile's process-wide state. */
struct token_file_state {
	const char		*plugin; /* for log lines */
	char			*source; /* absolute */
	pthread_mutex_t		 lock;	 /* table */
	struct token_file_table *table;
	int			 ifd;  /* TokenFile's inotify or -1 */
	atomic_int		 busy; /* reload jobs queued or running */
	atomic_int		 owed; /* a reload is due, nothing written */
	atomic_llong		 hold; /* writes seen: wait until (msec) */
	/* The events, drained by workers and jobs alike (never held
	 * across a load). */
	pthread_mutex_t evlock;
	int		dwd;	 /* the directory's watch, or -1 */
	char	       *dir;	 /* the directory watched */
	const char     *name;	 /* file source: its name in dir */
	int		dirty;	 /* an event concerned the source */
	int		other;	 /* file source: another name changed */
	unsigned	gen;	 /* events that concerned the source */
	char	      **writing; /* names written and not yet closed */
	size_t		nwriting, capwriting;
	/* Loads: the job thread, SIGHUP. */
	pthread_mutex_t loadlock;
	struct stat	loaded; /* file source, at the last load */
};

/* TokenFileName's and UnixDomainSocketDirectory's state. */
struct token_file_dir {
	char  *dir; /* absolute */
	size_t dirlen;
};

/* A worker's view of any of them: the state and where to offload. */
struct token_file_worker {
	void		    *st;
	struct token_worker *tw;
};

/* What a job does, on the job thread, to answer l. */
typedef void (*token_file_job_fn)(struct token_lookup *l);

/* A lookup answered by a job. */
struct token_lookup {
	void		 *st;
	token_file_job_fn job;
	token_done_fn	  done;
	void		 *arg;
	int		  cancelled; /* worker thread only */
	enum token_result result;
	const char	 *why; /* a literal */
	char		  target[WSB_TOKEN_FILE_MAX_TARGET + 1];
	size_t		  len;
	char		  token[]; /* len + 1 bytes */
};

static long long token_file_now(void);

static struct token_lookup *token_file_defer(struct token_file_worker *,
    token_file_job_fn, const char *, size_t, token_done_fn, void *);
static void		    token_file_job_cb(void *);
static void		    token_file_finish_cb(void *);
static int  token_file_find(struct token_file_state *, const char *, size_t,
     char *);
static int  token_file_pending(int);
static void token_file_edit_job(struct token_lookup *);
static int  token_file_take(struct token_file_state *, unsigned *, int *);
static int  token_file_moved(struct token_file_state *, unsigned);
static void token_file_update(struct token_file_state *);
static void token_file_drain(struct token_file_state *);
static int  token_file_event(struct token_file_state *,
     const struct inotify_event *);
static void token_file_writing(struct token_file_state *, const char *, int);
static int  token_file_same(const struct stat *, const struct stat *);
static void token_file_unwatch(struct token_file_state *);
static void token_file_watch(struct token_file_state *);
static void token_file_install(struct token_file_state *,
    struct token_file_table *, const char *);
static void token_file_name_job(struct token_lookup *);
static void token_file_unix_job(struct token_lookup *);

/* Hand a lookup to the job thread; done() comes back on this worker.
 * NULL when done() has been called already (out of memory, busy). */
static struct token_lookup *
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
static void
token_file_cancel(struct token_lookup *l)
{
	l->cancelled = 1;
}

/* A worker's view of the plugin's state. */
static void *
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
static void
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

/* Now, in msec of CLOCK_MONOTONIC (coarse: no system call). */
static long long
token_file_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
	token_file_update(st);
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
 * Take a due reload (loadlock held): drain, and if the source changed
 * and no file is being written (or the writes' grace is over: they are
 * then forgotten), clear the debt.  Returns 1 with the event count in
 * *gen and *other set when only another name changed (the file is then
 * stat()ed first), or 0 when nothing is due now.
 */
static int
token_file_take(struct token_file_state *st, unsigned *gen, int *other)
{
	int due;

	pthread_mutex_lock(&st->evlock);
	token_file_drain(st);
	if (st->nwriting > 0 && token_file_now() >= atomic_load(&st->hold))
		token_file_writing(st, NULL, 0);
	due = st->nwriting == 0 && (st->dirty || st->other);
	if (due) {
		*other = !st->dirty;
		*gen = st->gen;
		st->dirty = st->other = 0;
		atomic_store(&st->owed, 0);
	}
	pthread_mutex_unlock(&st->evlock);
	return due;
}

/* After a load: whether the source changed while it ran (then the load
 * is thrown away and the reload is owed again). */
static int
token_file_moved(struct token_file_state *st, unsigned gen)
{
	int moved;

	pthread_mutex_lock(&st->evlock);
	token_file_drain(st);
	if ((moved = st->gen != gen || st->nwriting > 0))
		st->dirty = 1;
	atomic_store(&st->owed, st->nwriting == 0 && (st->dirty || st->other));
	pthread_mutex_unlock(&st->evlock);
	return moved;
}

/*
 * Reload while a reload is due (loadlock held).  A load is kept only if
 * nothing about the source happened while it ran; otherwise it is tried
 * again, TOKEN_FILE_TRIES times at most, then left owed to the next
 * lookup (or to the IN_CLOSE_WRITE still to come).
 */
static void
token_file_update(struct token_file_state *st)
{
	struct token_file_table *t;
	struct stat		 sb;
	char			 err[PATH_MAX + 128];
	unsigned		 gen;
	int			 tries, other;

	for (tries = 0; tries < TOKEN_FILE_TRIES; tries++) {
		if (!token_file_take(st, &gen, &other))
			return;
		if (stat(st->source, &sb) == -1)
			memset(&sb, 0, sizeof(sb));
		if (other && token_file_same(&sb, &st->loaded))
			continue;
		t = token_file_load(st->source, err, sizeof(err));
		if (token_file_moved(st, gen)) {
			token_file_table_free(t);
			continue;
		}
		st->loaded = sb;
		if (t != NULL)
			token_file_install(st, t, "edited");
		else
			log_warnx("%s: %s; keeping the last %zu tokens",
			    st->plugin, err,
			    token_file_table_count(st->table));
	}
}

/* Read every pending event (evlock held) and note what they say. */
static void
token_file_drain(struct token_file_state *st)
{
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t			    n;
	char			   *p;

	for (;;) {
		if ((n = read(st->ifd, buf, sizeof(buf))) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (token_file_event(st, ev)) {
				st->dirty = 1;
				st->gen++;
			}
		}
	}
	if (st->nwriting == 0)
		atomic_store(&st->hold, 0);
	atomic_store(&st->owed, st->nwriting == 0 && (st->dirty || st->other));
}

/* One event (evlock held): 1 if it concerns the source.  Another name
 * that comes or goes in a file source's directory sets other (it may be
 * a symlink the source goes through); writes to other files, and hidden
 * names in a directory source, count for nothing. */
static int
token_file_event(struct token_file_state *st, const struct inotify_event *ev)
{
	const char *name;

	if (ev->mask & IN_Q_OVERFLOW) {
		token_file_writing(st, NULL, 0); /* closes were lost too */
		return 1;
	}
	if (ev->wd != st->dwd || st->dwd == -1)
		return 0; /* a watch given up */
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
		token_file_unwatch(st);
		return 0;
	}
	if (ev->len == 0)
		return 0;
	name = ev->name;
	if (st->name == NULL && name[0] == '.')
		return 0; /* not loaded: token_file_load_dir() */
	if (st->name != NULL && strcmp(name, st->name) != 0) {
		st->other |= (ev->mask &
				 (IN_CREATE | IN_DELETE | IN_MOVED_FROM |
				     IN_MOVED_TO)) != 0;
		return 0;
	}
	/* A name created and then written is seen by its IN_MODIFY; one
	 * reloaded between the two is read empty (as websockify would). */
	token_file_writing(st, name, (ev->mask & IN_MODIFY) != 0);
	return 1;
}

/* Note name as being written (on), or as closed, gone or replaced;
 * name NULL: forget them all. */
static void
token_file_writing(struct token_file_state *st, const char *name, int on)
{
	char **nw;
	size_t i;

	if (on) /* a write: the grace starts again */
		atomic_store(&st->hold,
		    token_file_now() + WSB_TOKEN_FILE_WRITE_GRACE_MSEC);
	if (name == NULL) {
		while (st->nwriting > 0)
			free(st->writing[--st->nwriting]);
		atomic_store(&st->hold, 0);
		return;
	}
	for (i = 0; i < st->nwriting; i++)
		if (strcmp(st->writing[i], name) == 0)
			break;
	if (!on && i < st->nwriting) {
		free(st->writing[i]);
		st->writing[i] = st->writing[--st->nwriting];
		if (st->nwriting == 0)
			atomic_store(&st->hold, 0);
	}
	if (!on || i < st->nwriting)
		return;
	if (st->nwriting == st->capwriting) {
		if ((nw = reallocarray(st->writing, st->capwriting + 8,
			 sizeof(*nw))) == NULL)
			return; /* then it is read as it is, as websockify */
		st->writing = nw;
		st->capwriting += 8;
	}
	if ((st->writing[st->nwriting] = strdup(name)) != NULL)
		st->nwriting++;
}

/* Whether two stats are the same file with the same contents. */
static int
token_file_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The directory went away (evlock held): edits wait for SIGHUP. */
static void
token_file_unwatch(struct token_file_state *st)
{
	if (st->dwd == -1)
		return;
	inotify_rm_watch(st->ifd, st->dwd);
	st->dwd = -1;
	log_warnx("%s %s: directory %s removed or moved; keeping the last "
		  "tokens, edits apply after SIGHUP",
	    st->plugin, st->source, st->dir);
}

/* Watch the directory (evlock held, or at start-up). */
static void
token_file_watch(struct token_file_state *st)
{
	if (st->dwd == -1 &&
	    (st->dwd = inotify_add_watch(st->ifd, st->dir,
		 TOKEN_FILE_DIR_EVENTS)) == -1)
		log_warn("%s %s: cannot watch %s for edits (they apply after "
			 "SIGHUP)",
		    st->plugin, st->source, st->dir);
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
	log_info("%s %s %s: %zu tokens", st->plugin, st->source, why,
	    token_file_table_count(t));
}

/* SIGHUP: watch again if the watch was lost, and reload (a failure
 * keeps the last table). */
static void
token_file_reload(void *state)
{
	struct token_file_state *st = state;
	struct token_file_table *t;
	char			 err[PATH_MAX + 128];

	pthread_mutex_lock(&st->loadlock);
	if (st->ifd != -1) {
		pthread_mutex_lock(&st->evlock);
		token_file_watch(st);
		pthread_mutex_unlock(&st->evlock);
	}
	if (stat(st->source, &st->loaded) == -1)
		memset(&st->loaded, 0, sizeof(st->loaded));
	if ((t = token_file_load(st->source, err, sizeof(err))) != NULL)
		token_file_install(st, t, "reloaded");
	else
		log_warnx("%s: %s; keeping the last %zu tokens", st->plugin,
		    err, token_file_table_count(st->table));
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
	free(st->dir);
	free(st);
}

/* Where to watch: the directory source, or the file's directory. */
static int
token_file_watch_start(struct token_file_state *st, char *err, size_t errlen)
{
	struct stat sb;
	char	   *slash;

	if ((st->dir = strdup(st->source)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (stat(st->source, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
		slash = strrchr(st->dir, '/');
		st->name = st->source + (slash - st->dir) + 1;
		slash[slash == st->dir ? 1 : 0] = '\0';
	}
	if ((st->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		log_warn("%s %s: no inotify (edits apply after SIGHUP)",
		    st->plugin, st->source);
	else
		token_file_watch(st);
	return 0;
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
	st->ifd = st->dwd = -1;
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
	if (watch && token_file_watch_start(st, err, errlen) == -1)
		goto fail;
	if (stat(st->source, &st->loaded) == -1)
		memset(&st->loaded, 0, sizeof(st->loaded));
	if ((st->table = token_file_load(st->source, err, errlen)) == NULL)
		goto fail;
	log_info("%s %s: %zu tokens", plugin, st->source,
	    token_file_table_count(st->table));
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
