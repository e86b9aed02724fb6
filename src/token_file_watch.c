/*
 * TokenFile's watch on its source: inotify on the directory the source is
 * a name in and, when the source is a directory, on that directory too
 * (each reload decides again which the source is: a file may become a
 * directory and back); the events it reads (which say whether a reload
 * is due, and which files are being written); and how fresh the source
 * is.  The loads and the lookups are in token_file_name.c.
 *
 * A lookup looks at the event queue (poll()); events there are read on
 * the worker (no disk work: a queue read), and those about other files
 * end there.  A file being written (an IN_MODIFY not yet followed by its
 * IN_CLOSE_WRITE) is not read until it is closed (or left alone for
 * WSB_TOKEN_FILE_WRITE_GRACE_MSEC).  A source changed within the last
 * WSB_TOKEN_FILE_QUIET_MSEC is not read either: a truncation's IN_MODIFY
 * may be queued after the truncation, so a reload could read the file
 * empty.  When the kernel's queue overflows (IN_Q_OVERFLOW), what was
 * lost may have been a truncation: the reload waits out the write grace
 * as if a file were being written.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "token_file_int.h"
#include "wsb_limits.h"

/* What a TokenFile watch listens for in a directory.  IN_MODIFY (by
 * name: whatever inode the name has now) says a file is being written;
 * its IN_CLOSE_WRITE, that it is done. */
#define TOKEN_FILE_DIR_EVENTS                                       \
	(IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | \
	    IN_DELETE | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | \
	    IN_ONLYDIR)

static long long token_file_stamp(const struct stat *);
static int	 token_file_event(struct token_file_state *,
	  const struct inotify_event *);
static void token_file_writing(struct token_file_state *, const char *, int);
static int  token_file_unwatch(struct token_file_state *, int);

/* Now, in msec of CLOCK_MONOTONIC (coarse: no system call). */
long long
token_file_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Take a due reload (loadlock held): drain, and if the source changed
 * and no file is being written (or the writes' grace is over: they are
 * then forgotten), clear the debt.  Returns 1 with the event count in
 * *gen and *other set when only another name changed (the file is then
 * stat()ed first), or 0 when nothing is due now.
 */
int
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
int
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

/* A reload taken and not done: owe it again, to the next lookup. */
void
token_file_owe(struct token_file_state *st)
{
	pthread_mutex_lock(&st->evlock);
	st->dirty = 1;
	atomic_store(&st->owed, st->nwriting == 0);
	pthread_mutex_unlock(&st->evlock);
}

/* A stat's latest change, mtime or ctime, in nsec. */
static long long
token_file_stamp(const struct stat *sb)
{
	long long m, c;

	m = (long long)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
	c = (long long)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
	return m > c ? m : c;
}

/* Look at source: its stat() and its newest change, which for a
 * directory is the latest of its own and of the names token_file_load()
 * reads in it (not hidden; symlinks followed). */
void
token_file_look(const char *source, struct token_file_mark *m)
{
	struct dirent *de;
	struct stat    sb;
	DIR	      *d;

	if (stat(source, &m->sb) == -1)
		memset(&m->sb, 0, sizeof(m->sb));
	m->newest = token_file_stamp(&m->sb);
	m->emptied = S_ISREG(m->sb.st_mode) && m->sb.st_size == 0 ? m->newest :
								    0;
	if (!S_ISDIR(m->sb.st_mode) || (d = opendir(source)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(d), de->d_name, &sb, 0) == -1)
			continue;
		if (token_file_stamp(&sb) > m->newest)
			m->newest = token_file_stamp(&sb);
		if (S_ISREG(sb.st_mode) && sb.st_size == 0 &&
		    token_file_stamp(&sb) > m->emptied)
			m->emptied = token_file_stamp(&sb);
	}
	closedir(d);
}

/* Whether m's source is too fresh to read for a lookup that came at t0
 * (msec): 0 it is quiet (or stamped in the future: a clock stepped), -1
 * it changed after t0 or was emptied within the write grace, else how
 * long to wait for the quiet (msec). */
long long
token_file_unsettled(const struct token_file_mark *m, long long t0)
{
	long long now, c, e;

	now = token_file_realtime();
	e = m->emptied / 1000000;
	if (m->emptied != 0 && e > now - WSB_TOKEN_FILE_WRITE_GRACE_MSEC &&
	    e <= now + WSB_TOKEN_FILE_QUIET_MSEC)
		return -1;
	c = m->newest / 1000000;
	if (c <= now - WSB_TOKEN_FILE_QUIET_MSEC ||
	    c > now + WSB_TOKEN_FILE_QUIET_MSEC)
		return 0;
	if (c > t0)
		return -1;
	return c + WSB_TOKEN_FILE_QUIET_MSEC - now;
}

/* Read every pending event (evlock held) and note what they say. */
void
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

/* One event (evlock held): 1 if it concerns the source: in the parent,
 * the source's name; in a directory source, any name not hidden
 * (token_file_load_dir() skips those).  Another name that comes or goes
 * in the parent, or a hidden one in a directory source, sets other (it
 * may be a symlink the source goes through); writes to other files count
 * for nothing. */
static int
token_file_event(struct token_file_state *st, const struct inotify_event *ev)
{
	const char *name;

	if (ev->mask & IN_Q_OVERFLOW) {
		/* Events were lost, closes and writes alike: whatever was
		 * being written may still be, half done.  Held as one write
		 * under the name "/" (never a file's), which no close ends:
		 * the reload waits out the write grace. */
		token_file_writing(st, NULL, 0);
		token_file_writing(st, "/", 1);
		return 1;
	}
	if (ev->wd == -1 || (ev->wd != st->pwd && ev->wd != st->dwd))
		return 0; /* a watch given up */
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
		return token_file_unwatch(st, ev->wd);
	if (ev->len == 0)
		return 0;
	name = ev->name;
	if (ev->wd == st->dwd) {
		/* A hidden name that comes or goes may be what the files
		 * link through (Kubernetes swaps "..data"); its writes
		 * (an editor's .swp) count for nothing. */
		if (name[0] == '.') {
			st->other |= (ev->mask &
					 (IN_CREATE | IN_DELETE |
					     IN_MOVED_FROM | IN_MOVED_TO)) !=
			    0;
			return 0;
		}
	} else if (strcmp(name, st->base) != 0) {
		st->other |= (ev->mask &
				 (IN_CREATE | IN_DELETE | IN_MOVED_FROM |
				     IN_MOVED_TO)) != 0;
		return 0;
	}
	/* A name created and then written is seen by its IN_MODIFY; one
	 * reloaded between the two is too fresh to be read. */
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
int
token_file_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Watch wd went away (evlock held).  The directory source's own: the
 * source changed (1); the parent's: edits wait for SIGHUP (0). */
static int
token_file_unwatch(struct token_file_state *st, int wd)
{
	inotify_rm_watch(st->ifd, wd);
	if (wd == st->dwd) {
		st->dwd = -1;
		return 1;
	}
	st->pwd = -1;
	log_warnx("%s %s: directory %s removed or moved; keeping the last "
		  "tokens, edits apply after SIGHUP",
	    st->plugin, st->source, st->parent);
	return 0;
}

/* Watch the parent directory (evlock held, or at start-up). */
void
token_file_watch(struct token_file_state *st)
{
	if (st->pwd == -1 &&
	    (st->pwd = inotify_add_watch(st->ifd, st->parent,
		 TOKEN_FILE_DIR_EVENTS)) == -1)
		log_warn("%s %s: cannot watch %s for edits (they apply after "
			 "SIGHUP)",
		    st->plugin, st->source, st->parent);
}

/* Watch the source as what sb says it is now (evlock held, or at
 * start-up): a directory is watched itself too, anything else (a file,
 * nothing) only by its name in the parent. */
void
token_file_arm(struct token_file_state *st, const struct stat *sb)
{
	int isdir = S_ISDIR(sb->st_mode);

	if (st->ifd == -1)
		return;
	if (isdir && st->dwd == -1) {
		st->dwd = inotify_add_watch(st->ifd, st->source,
		    TOKEN_FILE_DIR_EVENTS);
		if (st->dwd == -1)
			log_warn(
			    "%s %s: cannot watch it for edits (they apply "
			    "after SIGHUP)",
			    st->plugin, st->source);
		else if (st->dwd == st->pwd) /* a symlink to its parent */
			st->dwd = -1;
	} else if (!isdir && st->dwd != -1) {
		inotify_rm_watch(st->ifd, st->dwd);
		st->dwd = -1;
	}
	if (st->isdir != -1 && st->isdir != isdir)
		log_info("%s %s: now %s", st->plugin, st->source,
		    isdir ? "a directory" : "no longer a directory");
	st->isdir = isdir;
}

/* Watch the source's parent, and the source when a directory. */
int
token_file_watch_start(struct token_file_state *st, char *err, size_t errlen)
{
	char *slash;

	if ((st->parent = strdup(st->source)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	slash = strrchr(st->parent, '/'); /* absolute: there is one */
	st->base = st->source + (slash - st->parent) + 1;
	slash[slash == st->parent ? 1 : 0] = '\0';
	if ((st->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		log_warn("%s %s: no inotify (edits apply after SIGHUP)",
		    st->plugin, st->source);
		return 0;
	}
	token_file_watch(st);
	token_file_arm(st, &st->loaded);
	return 0;
}
