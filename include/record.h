/*
 * --record FILE: each WebSocket session's traffic in FILE.N, websockify's
 * format, which noVNC's playback page (its tests/vnc_playback.html) reads:
 *
 *	var VNC_frame_data = [
 *	'{<ms>{<data>',		bytes sent to the client
 *	'}<ms>}<data>',		bytes received from the client
 *	'EOF'];
 *
 * N is the session id (websockify's handler_id: one per accepted
 * connection, from 1, process-wide), ms the milliseconds since the
 * recording started (websockifyserver.py handle_websocket, send_frames,
 * recv_frames, finish).
 *
 * A worker hands each chunk to one writer thread through a bounded queue:
 * no file I/O on a worker, so recording never stalls the relay.  A
 * recording that falls WSB_RECORD_QUEUE bytes behind, or whose file
 * cannot be written (ENOSPC, EIO), ends with one log line; its session
 * goes on.
 */
#ifndef WSB_RECORD_H
#define WSB_RECORD_H

#include <stddef.h>

struct evbuffer;
struct record;

/* Which way a chunk went: the marker websockify writes around its ms. */
enum record_dir {
	RECORD_TO_CLIENT = '{',	  /* sent to the client */
	RECORD_FROM_CLIENT = '}', /* received from the client */
};

/* record_format.c (pure): the encoding. */

/* First and last line of a recording. */
#define RECORD_FORMAT_HEAD "var VNC_frame_data = [\n"
#define RECORD_FORMAT_TAIL "'EOF'];\n"

/* Bytes record_format_line() writes at most for n data bytes: 4 per byte
 * (\xNN), quotes, markers, up to 20 digits of ms, "',\n". */
#define RECORD_FORMAT_LINE_MAX(n) (4 * (size_t)(n) + 32)

/*
 * Write n bytes of p into out as websockify does: the bytes decoded as
 * latin-1, through Python's unicode_escape, then ' replaced by \':
 * 0x20..0x7e kept except \ (written \\) and ' (written \'); tab, LF, CR
 * written \t \n \r; every other byte \xNN (lower-case hex).  out needs
 * 4 * n bytes; no NUL is written.  Returns the bytes written.
 */
size_t record_format_escape(char *out, const void *p, size_t n);

/*
 * One line of a recording, "'{ms{data',\n" (dir RECORD_TO_CLIENT) or
 * "'}ms}data',\n", into out, which holds RECORD_FORMAT_LINE_MAX(n)
 * bytes; ms below 0 is written 0.  No NUL.  Returns the bytes written.
 */
size_t record_format_line(char *out, enum record_dir dir, long long ms,
    const void *p, size_t n);

/* record.c: the recordings and their writer thread. */

/*
 * Start recording session id (peer names it in log lines) to base.id,
 * from now.  The writer thread opens the file; if that fails it logs one
 * warning and the session is not recorded.  Worker thread.  Returns NULL
 * at once when base is NULL (no --record), or after a warning when no
 * recording can start (out of memory, no writer thread).  The caller
 * owns the result until record_close().
 */
struct record *record_open(const char *base, unsigned long long id,
    const char *peer);

/*
 * Record n bytes at p (or the first n bytes of buf, left in place) that
 * went dir, now.  The bytes are copied; nothing is written here.  Past
 * the queue bound (WSB_RECORD_QUEUE for this recording,
 * WSB_RECORD_QUEUE_TOTAL for all) the recording ends with one log line
 * and later chunks are dropped.  rec may be NULL (not recorded).
 */
void record_data(struct record *rec, enum record_dir dir, const void *p,
    size_t n);
void record_evbuffer(struct record *rec, enum record_dir dir,
    struct evbuffer *buf, size_t n);

/* End the recording: the writer adds "'EOF'];" and closes the file.  rec
 * (possibly NULL) is no longer the caller's. */
void record_close(struct record *rec);

/* Write out what is queued and stop the writer; main thread, after the
 * workers have stopped (every recording closed).  A writer that made no
 * progress for WSB_RECORD_STALL_SEC (a hung disk) is left behind with a
 * warning: the process exits anyway. */
void record_shutdown(void);

#endif
