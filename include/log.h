/* Thread-safe logging to stderr, --log-file and --syslog: one write(2)
 * per line and sink, websockify-like lines. */
#ifndef WSB_LOG_H
#define WSB_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_LEVEL_INFO 0
#define LOG_LEVEL_DEBUG 1

struct config;

void log_init(int verbose);
/*
 * Open where log lines go besides stderr, from cfg:
 * - --log-file FILE: every line appended (O_APPEND, created 0640; a
 *   relative name made absolute), the same bytes as stderr's line.
 * - --syslog SERVER: a Unix datagram socket path, or UDP host:port
 *   ("[v6]:port" too) resolved here, once.  One datagram per line, RFC
 *   5424 as websockify frames it (log_syslog.h), or the legacy form with
 *   --legacy-syslog; facility daemon with -D, else user; severity crit
 *   (fatal), warning, info, debug; MSG is the line without its
 *   timestamp ("info: ...").  Sent without blocking: a line the server
 *   does not take is dropped, and said on stderr and the file at most
 *   once per WSB_SYSLOG_WARN_SEC.
 * - When stderr is the journal (JOURNAL_STREAM names it), stderr lines
 *   are "<N>level: message" (sd-daemon(3)) with no timestamp.
 * Call once after config_parse(), before any thread starts.  0, or -1
 * with a one-line err (the file cannot be opened, SERVER does not parse
 * or resolve; wsbridge exits 2), nothing left open.
 */
int log_open(const struct config *cfg, char *err, size_t errlen);
/* SIGUSR1: reopen --log-file by name (logrotate moved it), logging a line
 * either way; lines written meanwhile by workers go to the old or the new
 * file, never lost.  Main thread. */
void log_reopen(void);
/* Close what log_open opened; later lines go to stderr only. */
void log_close(void);
int  log_verbose(void);
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* --traffic: one character per frame, no newline. */
void log_traffic(char);

/*
 * Write len bytes of untrusted src (a request path, a header, a Close
 * reason) into dst as printable ASCII, so a log line can neither be split
 * (CR, LF) nor drive a terminal (ESC, C1 controls such as 0xc2 0x9b):
 * bytes 0x20..0x7e are kept, except backslash, written "\\"; every other
 * byte is written "\xNN" (two lower-case hex digits).  src need not be
 * NUL-terminated and is read only in [0, len).
 *
 * dst always ends in NUL when dstlen > 0 (with dstlen 0 nothing is
 * written).  If the whole escape does not fit in dstlen - 1 characters,
 * dst holds the longest prefix of whole escapes followed by "...": an
 * escape is never cut.  With dstlen < 4 only the dots that fit remain.
 * 4 * len + 1 bytes always hold the whole value.  Returns strlen(dst).
 * No allocation; safe from any thread.
 */
size_t log_escape(char *dst, size_t dstlen, const void *src, size_t len);
/* As log_escape, for a request target or head: the value of each query
 * pair named "token" (after '?' or '&', the name in any case, letters
 * perhaps written %XX; up to '&' or '#') and after each "token%3D" (up
 * to '&', "%26" or '#') is written "***", so a token (a secret) never
 * reaches a log.  Same sizes and
 * return value as log_escape. */
size_t log_escape_path(char *dst, size_t dstlen, const void *src, size_t len);

void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
