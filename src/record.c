/*
 * --record FILE: recordings and the one writer thread that writes them.
 *
 * A worker copies each chunk into a queue item (record_data); the writer
 * takes the whole queue at once, encodes each item (record_format.c) into
 * its file's buffer and writes it when the buffer is full or the queue is
 * empty.  The queue's mutex is held only to link or unlink items; the
 * writer waits on a condition variable, signalled only when it sleeps.
 * Only the writer opens, writes and closes files, so no worker blocks on
 * a disk.  A recording's struct is freed by the writer after its close
 * item; a worker never touches it after record_close().
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/queue.h>

#include <event2/buffer.h>

#include "log.h"
#include "record.h"
#include "wsb_limits.h"

/* What a queue item asks the writer to do. */
enum record_op {
	RECORD_OP_OPEN,
	RECORD_OP_DATA,
	RECORD_OP_CLOSE,
};

struct record_item {
	struct record_item *next;
	struct record	   *rec;
	enum record_op	    op;
	enum record_dir	    dir;
	long long	    ms;
	size_t		    len;
	unsigned char	    data[];
};

struct record {
	/* Set at open, then read-only. */
	unsigned long long id;
	long long	   start_ms;
	char		  *path; /* base.id */
	char		   peer[64];
	/* Both threads. */
	atomic_size_t queued; /* data bytes queued, not yet written */
	atomic_int    failed; /* the writer gave up: open or write failed */
	/* Worker only. */
	int		    cut;     /* fell behind: no more chunks */
	struct record_item *closing; /* made at open: closing cannot fail */
	/* Writer only. */
	int		    fd;
	off_t		    good; /* file size after the last whole write */
	char		   *buf;  /* encoded lines not yet written */
	size_t		    buflen;
	int		    dirty; /* on the writer's dirty list */
	TAILQ_ENTRY(record) entry;
};

TAILQ_HEAD(record_list, record);

/* The queue and the writer. */
static struct {
	pthread_once_t	    once;
	pthread_mutex_t	    lock;
	pthread_cond_t	    cond;
	pthread_t	    thread;
	int		    started;
	int		    stopping; /* record_shutdown(): drain, then exit */
	int		    sleeping; /* the writer waits on cond */
	struct record_item *head;
	struct record_item *tail;
	atomic_size_t	    total;    /* data bytes queued, all recordings */
	atomic_ullong	    progress; /* items done and writes made */
	struct record_list  dirty; /* writer: recordings with buffered text */
	char		   *big;   /* writer: a line larger than a buffer */
	size_t		    bigsize;
} record_w = {
	.once = PTHREAD_ONCE_INIT,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

#define record_warn(r, fmt, ...) \
	log_warnx("session %llu: %s: " fmt, (r)->id, (r)->peer, ##__VA_ARGS__)

static void	 record_start(void);
static void	*record_main(void *);
static void	 record_queue(struct record *, enum record_op, enum record_dir,
	 struct record_item *, size_t);
static int	 record_reserve(struct record *, size_t);
static void	 record_process(struct record_item *);
static void	 record_do_open(struct record *);
static void	 record_do_data(struct record *, struct record_item *);
static void	 record_do_close(struct record *);
static int	 record_append(struct record *, const char *, size_t);
static int	 record_flush(struct record *);
static int	 record_write(struct record *, const char *, size_t);
static void	 record_fail(struct record *, const char *, int);
static void	 record_flush_dirty(void);
static long long record_now_ms(void);

static struct record_item *record_item_new(struct record *, size_t);

/* Milliseconds on the monotonic clock. */
static long long
record_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start the writer thread, once, with every signal blocked (signals are
 * the main thread's). */
static void
record_start(void)
{
	sigset_t all, old;

	TAILQ_INIT(&record_w.dirty);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&record_w.thread, NULL, record_main, NULL) == 0)
		record_w.started = 1;
	else
		log_warnx("record: cannot start the writer thread: "
			  "sessions are not recorded");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Begin a recording: the writer opens base.id. */
struct record *
record_open(const char *base, unsigned long long id, const char *peer)
{
	struct record	   *rec;
	struct record_item *open;

	if (base == NULL)
		return NULL;
	pthread_once(&record_w.once, record_start);
	if (!record_w.started)
		return NULL;
	open = calloc(1, sizeof(*open));
	if ((rec = calloc(1, sizeof(*rec))) == NULL || open == NULL ||
	    (rec->closing = calloc(1, sizeof(*rec->closing))) == NULL ||
	    asprintf(&rec->path, "%s.%llu", base, id) == -1) {
		log_warnx("session %llu: %s: out of memory, not recorded", id,
		    peer);
		if (rec != NULL)
			free(rec->closing);
		free(rec);
		free(open);
		return NULL;
	}
	rec->id = id;
	rec->start_ms = record_now_ms();
	snprintf(rec->peer, sizeof(rec->peer), "%s", peer);
	rec->fd = -1;
	log_info("session %llu: %s: recording to %s", id, rec->peer,
	    rec->path);
	record_queue(rec, RECORD_OP_OPEN, 0, open, 0);
	return rec;
}

/* Link item (an op for rec, carrying len data bytes) to the queue, and
 * wake the writer if it sleeps. */
static void
record_queue(struct record *rec, enum record_op op, enum record_dir dir,
    struct record_item *item, size_t len)
{
	item->rec = rec;
	item->op = op;
	item->dir = dir;
	item->len = len;
	item->ms = record_now_ms() - rec->start_ms;
	item->next = NULL;
	atomic_fetch_add(&rec->queued, len);
	atomic_fetch_add(&record_w.total, len);
	pthread_mutex_lock(&record_w.lock);
	if (record_w.tail != NULL)
		record_w.tail->next = item;
	else
		record_w.head = item;
	record_w.tail = item;
	if (record_w.sleeping)
		pthread_cond_signal(&record_w.cond);
	pthread_mutex_unlock(&record_w.lock);
}

/*
 * An item for n data bytes of rec, or NULL: not recorded, or the
 * recording ends now because it fell behind the queue bounds or memory
 * ran out (one log line; later chunks are dropped).
 */
static struct record_item *
record_item_new(struct record *rec, size_t n)
{
	struct record_item *item;
	size_t		    behind;

	if (rec == NULL || rec->cut || n == 0 || atomic_load(&rec->failed))
		return NULL;
	behind = atomic_load(&rec->queued);
	if (behind + n > WSB_RECORD_QUEUE ||
	    atomic_load(&record_w.total) + n > WSB_RECORD_QUEUE_TOTAL) {
		rec->cut = 1;
		record_warn(rec,
		    "recording to %s ended: the disk is %zu bytes behind "
		    "(the session goes on)",
		    rec->path, behind);
		return NULL;
	}
	if ((item = malloc(sizeof(*item) + n)) == NULL) {
		rec->cut = 1;
		record_warn(rec, "out of memory, recording to %s ended",
		    rec->path);
	}
	return item;
}

/* Copy n bytes at p into the queue. */
void
record_data(struct record *rec, enum record_dir dir, const void *p, size_t n)
{
	struct record_item *item;

	if ((item = record_item_new(rec, n)) == NULL)
		return;
	memcpy(item->data, p, n);
	record_queue(rec, RECORD_OP_DATA, dir, item, n);
}

/* As record_data, for the first n bytes of buf (left in place). */
void
record_evbuffer(struct record *rec, enum record_dir dir, struct evbuffer *buf,
    size_t n)
{
	struct record_item *item;

	if ((item = record_item_new(rec, n)) == NULL)
		return;
	evbuffer_copyout(buf, item->data, n);
	record_queue(rec, RECORD_OP_DATA, dir, item, n);
}

/* Hand the recording to the writer to finish (its close item was made
 * at open, so this cannot fail). */
void
record_close(struct record *rec)
{
	if (rec != NULL)
		record_queue(rec, RECORD_OP_CLOSE, 0, rec->closing, 0);
}

/*
 * The writer: take the whole queue and work through it; when the queue
 * is empty, write out what is buffered, then sleep.  After
 * record_shutdown() it exits once the queue is empty.
 */
static void *
record_main(void *arg)
{
	struct record_item *batch, *next;

	pthread_mutex_lock(&record_w.lock);
	for (;;) {
		if (record_w.head == NULL) {
			if (!TAILQ_EMPTY(&record_w.dirty)) {
				pthread_mutex_unlock(&record_w.lock);
				record_flush_dirty();
				pthread_mutex_lock(&record_w.lock);
				continue;
			}
			if (record_w.stopping)
				break;
			record_w.sleeping = 1;
			pthread_cond_wait(&record_w.cond, &record_w.lock);
			record_w.sleeping = 0;
			continue;
		}
		batch = record_w.head;
		record_w.head = record_w.tail = NULL;
		pthread_mutex_unlock(&record_w.lock);
		for (; batch != NULL; batch = next) {
			next = batch->next;
			record_process(batch);
		}
		pthread_mutex_lock(&record_w.lock);
	}
	pthread_mutex_unlock(&record_w.lock);
	free(record_w.big);
	record_w.big = NULL;
	return NULL;
}

/* Do what one queue item asks, then free it. */
static void
record_process(struct record_item *item)
{
	struct record *rec = item->rec;

	atomic_fetch_sub(&rec->queued, item->len);
	atomic_fetch_sub(&record_w.total, item->len);
	switch (item->op) {
	case RECORD_OP_OPEN:
		record_do_open(rec);
		break;
	case RECORD_OP_DATA:
		record_do_data(rec, item);
		break;
	case RECORD_OP_CLOSE:
		record_do_close(rec); /* frees rec */
		break;
	}
	free(item);
	atomic_fetch_add(&record_w.progress, 1);
}

/* Create the file (0640: it holds what the session carried) and buffer
 * its first line; on failure the session is not recorded. */
static void
record_do_open(struct record *rec)
{
	char ebuf[96];

	rec->fd = open(rec->path,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0640);
	if (rec->fd == -1) {
		record_warn(rec,
		    "cannot open record file %s: %s (the session is not "
		    "recorded)",
		    rec->path, strerror_r(errno, ebuf, sizeof(ebuf)));
		atomic_store(&rec->failed, 1);
		return;
	}
	record_append(rec, RECORD_FORMAT_HEAD, sizeof(RECORD_FORMAT_HEAD) - 1);
}

/*
 * Make room for n more bytes in rec's buffer (allocated on first use,
 * freed when the queue runs dry), writing out what it holds if needed.
 * 0, or -1 if the recording has ended.
 */
static int
record_reserve(struct record *rec, size_t n)
{
	if (atomic_load(&rec->failed))
		return -1;
	if (rec->buf == NULL &&
	    (rec->buf = malloc(WSB_RECORD_BUFFER)) == NULL) {
		record_fail(rec, "out of memory", 0);
		return -1;
	}
	if (rec->buflen + n > WSB_RECORD_BUFFER && record_flush(rec) == -1)
		return -1;
	if (!rec->dirty) {
		rec->dirty = 1;
		TAILQ_INSERT_TAIL(&record_w.dirty, rec, entry);
	}
	return 0;
}

/* Buffer n bytes of text (n at most WSB_RECORD_BUFFER).  0 or -1. */
static int
record_append(struct record *rec, const char *p, size_t n)
{
	if (record_reserve(rec, n) == -1)
		return -1;
	memcpy(rec->buf + rec->buflen, p, n);
	rec->buflen += n;
	return 0;
}

/* Encode one chunk: into the buffer, or (larger than a buffer) into the
 * writer's big line, written at once after what is buffered. */
static void
record_do_data(struct record *rec, struct record_item *item)
{
	size_t max = RECORD_FORMAT_LINE_MAX(item->len), n;
	char  *big;

	if (max <= WSB_RECORD_BUFFER) {
		if (record_reserve(rec, max) == 0)
			rec->buflen +=
			    record_format_line(rec->buf + rec->buflen,
				item->dir, item->ms, item->data, item->len);
		return;
	}
	if (atomic_load(&rec->failed) || record_flush(rec) == -1)
		return;
	if (record_w.bigsize < max) {
		if ((big = realloc(record_w.big, max)) == NULL) {
			record_fail(rec, "out of memory", 0);
			return;
		}
		record_w.big = big;
		record_w.bigsize = max;
	}
	n = record_format_line(record_w.big, item->dir, item->ms, item->data,
	    item->len);
	record_write(rec, record_w.big, n);
}

/* Write out rec's buffer.  0, or -1 if the recording ended. */
static int
record_flush(struct record *rec)
{
	size_t n = rec->buflen;

	if (n == 0 || rec->fd == -1)
		return atomic_load(&rec->failed) ? -1 : 0;
	rec->buflen = 0;
	return record_write(rec, rec->buf, n);
}

/* Write n bytes of whole lines to rec's file.  0, or -1 if the write
 * failed (the recording has ended). */
static int
record_write(struct record *rec, const char *p, size_t n)
{
	ssize_t w;
	size_t	done = 0;

	while (done < n) {
		w = write(rec->fd, p + done, n - done);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			record_fail(rec, "write", w == 0 ? EIO : errno);
			return -1;
		}
		done += (size_t)w;
		atomic_fetch_add(&record_w.progress, 1);
	}
	rec->good += (off_t)n;
	return 0;
}

/*
 * The recording ends (what failed, with errno err or 0): cut the file
 * back to its last whole line and try to end it with "'EOF'];" so
 * playback still reads it; one log line; the session goes on.
 */
static void
record_fail(struct record *rec, const char *what, int err)
{
	char	    ebuf[96];
	const char *ended = "";
	ssize_t	    w;

	atomic_store(&rec->failed, 1);
	if (rec->fd != -1 && ftruncate(rec->fd, rec->good) == 0) {
		w = pwrite(rec->fd, RECORD_FORMAT_TAIL,
		    sizeof(RECORD_FORMAT_TAIL) - 1, rec->good);
		if (w == (ssize_t)sizeof(RECORD_FORMAT_TAIL) - 1)
			ended = ", file ended with 'EOF'];";
	}
	record_warn(rec,
	    "recording to %s ended: %s%s%s%s (the session goes on)", rec->path,
	    what, err != 0 ? ": " : "",
	    err != 0 ? strerror_r(err, ebuf, sizeof(ebuf)) : "", ended);
	if (rec->fd != -1)
		close(rec->fd);
	rec->fd = -1;
	rec->buflen = 0;
}

/* The queue ran dry: write out every buffer and free it. */
static void
record_flush_dirty(void)
{
	struct record *rec;

	while ((rec = TAILQ_FIRST(&record_w.dirty)) != NULL) {
		TAILQ_REMOVE(&record_w.dirty, rec, entry);
		rec->dirty = 0;
		record_flush(rec);
		free(rec->buf);
		rec->buf = NULL;
	}
}

/* The session ended: "'EOF'];", close the file, free the recording. */
static void
record_do_close(struct record *rec)
{
	if (record_append(rec, RECORD_FORMAT_TAIL,
		sizeof(RECORD_FORMAT_TAIL) - 1) == 0)
		record_flush(rec);
	if (rec->dirty)
		TAILQ_REMOVE(&record_w.dirty, rec, entry);
	if (rec->fd != -1)
		close(rec->fd);
	free(rec->buf);
	free(rec->path);
	free(rec);
}

/*
 * Stop the writer once it has written out everything queued.  A writer
 * that makes no progress for WSB_RECORD_STALL_SEC (a hung disk, a FIFO
 * nobody reads) is left behind with a warning, so it cannot keep the
 * process from exiting.
 */
void
record_shutdown(void)
{
	struct timespec	   ts;
	unsigned long long seen, now;
	int		   idle = 0;

	if (!record_w.started)
		return;
	pthread_mutex_lock(&record_w.lock);
	record_w.stopping = 1;
	pthread_cond_signal(&record_w.cond);
	pthread_mutex_unlock(&record_w.lock);
	seen = atomic_load(&record_w.progress);
	for (;;) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (pthread_timedjoin_np(record_w.thread, NULL, &ts) == 0)
			break;
		if ((now = atomic_load(&record_w.progress)) != seen) {
			seen = now;
			idle = 0;
		} else if (++idle >= WSB_RECORD_STALL_SEC) {
			log_warnx(
			    "record: the writer made no progress for %d s "
			    "(a file that cannot be written?): "
			    "recordings left unfinished",
			    idle);
			return;
		}
	}
	record_w.started = 0;
}
