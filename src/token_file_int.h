/*
 * Private to token_file_name.c and token_file_watch.c: a worker's view of
 * a token-file plugin, the hand-off of a lookup to the blocking-work
 * thread, and TokenFile's state with what its watch (token_file_watch.c)
 * does for the loads (token_file_name.c).  Nothing else includes this
 * header.
 */
#ifndef WSB_TOKEN_FILE_INT_H
#define WSB_TOKEN_FILE_INT_H

#include <sys/stat.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "token.h"
#include "wsb_limits.h"

/* A worker's view of any of the plugins: the state and where to offload. */
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
	long long	  t0;	     /* when it came (msec, CLOCK_REALTIME) */
	enum token_result result;
	const char	 *why; /* a literal */
	char		  target[WSB_TOKEN_FILE_MAX_TARGET + 1];
	size_t		  len;
	char		  token[]; /* len + 1 bytes */
};

/*
 * Hand a lookup of token (len bytes) to the job thread: job runs there,
 * then done(..., arg) on this worker unless cancelled.  Returns the
 * handle, or NULL when done() has been called already (out of memory,
 * too many jobs queued).
 */
struct token_lookup *token_file_defer(struct token_file_worker *w,
    token_file_job_fn job, const char *token, size_t len, token_done_fn done,
    void *arg);

/* Now, in msec of CLOCK_REALTIME: the clock the kernel stamps a file's
 * mtime and ctime with (coarsely: a stamp is never later than this, read
 * after the change). */
long long token_file_realtime(void);

/* The ops every plugin here shares (token_plugin_ops in token.h). */
void *token_file_worker_create(void *st, struct token_worker *tw,
    struct event_base *base);
void  token_file_worker_destroy(void *wstate);
void  token_file_cancel(struct token_lookup *l);

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
	int		pwd;	 /* the parent directory's watch, or -1 */
	int		dwd;	 /* directory source: its own watch, or -1 */
	int		isdir;	 /* a directory at the last look; -1: none */
	char	       *parent;	 /* the directory source is a name in */
	const char     *base;	 /* source's name in parent */
	int		dirty;	 /* an event concerned the source */
	int		other;	 /* another name in parent came or went */
	unsigned	gen;	 /* events that concerned the source */
	char	      **writing; /* names written and not yet closed */
	size_t		nwriting, capwriting;
	/* Loads: the job thread, SIGHUP. */
	pthread_mutex_t loadlock;
	struct stat	loaded; /* at the last load */
};

/* The source as a load finds it: its stat() (zero when missing) and its
 * newest change (nsec of CLOCK_REALTIME; see token_file_look()). */
struct token_file_mark {
	struct stat sb;
	long long   newest;  /* the latest change, nsec */
	long long   emptied; /* the latest change of an empty file, or 0 */
};

/* Now, in msec of CLOCK_MONOTONIC (coarse: no system call). */
long long token_file_now(void);

/*
 * Set up st's watch (st->source and st->loaded, its stat(), filled in):
 * inotify, the watch on the source's parent directory, and on the source
 * itself when a directory.  Without inotify (logged) edits apply after
 * SIGHUP and it still returns 0; -1 with a reason in err when out of
 * memory.
 */
int token_file_watch_start(struct token_file_state *st, char *err,
    size_t errlen);

/* Watch the parent directory again if that watch was lost (evlock held;
 * a failure is logged). */
void token_file_watch(struct token_file_state *st);

/* Watch the source as what sb (its stat(), zero when missing) says it is
 * now (evlock held): a directory is watched itself too, anything else
 * only by its name in the parent.  A change of kind is logged. */
void token_file_arm(struct token_file_state *st, const struct stat *sb);

/* Read every pending event (evlock held) and note what they say: the
 * source changed (dirty), another name in the parent came or went
 * (other), files written and not yet closed; sets owed. */
void token_file_drain(struct token_file_state *st);

/*
 * Take a due reload (loadlock held): drain, and if the source changed
 * and no file is being written (or the writes' grace is over: they are
 * then forgotten), clear the debt.  Returns 1 with the event count in
 * *gen and *other set when only another name changed (the file is then
 * stat()ed first), or 0 when nothing is due now.
 */
int token_file_take(struct token_file_state *st, unsigned *gen, int *other);

/* After a load taken with gen: 1 if the source changed while it ran
 * (the load is then to be thrown away and the reload is owed again). */
int token_file_moved(struct token_file_state *st, unsigned gen);

/* A reload taken and not done: owe it again, to the next lookup. */
void token_file_owe(struct token_file_state *st);

/* I/O: look at source into m: its stat() and its newest change, which for
 * a directory is the latest of its own and of the names token_file_load()
 * reads in it (not hidden; symlinks followed). */
void token_file_look(const char *source, struct token_file_mark *m);

/*
 * Whether m's source is too fresh to read for a lookup that came at t0
 * (msec, token_file_realtime()): 0 when its newest change is at least
 * WSB_TOKEN_FILE_QUIET_MSEC old (or stamped in the future: a clock
 * stepped), -1 when it changed after t0 or holds a file emptied within
 * WSB_TOKEN_FILE_WRITE_GRACE_MSEC (an in-place rewrite between its
 * truncation and its write: the kernel stamps the truncation before it
 * queues the IN_MODIFY), else how long (msec, at most
 * WSB_TOKEN_FILE_QUIET_MSEC) until it is quiet.
 */
long long token_file_unsettled(const struct token_file_mark *m, long long t0);

/* Whether two stats are the same file with the same contents. */
int token_file_same(const struct stat *a, const struct stat *b);

#endif
