/* Thread-safe logging to stderr (or a file), websockify-like lines. */
#ifndef WSB_LOG_H
#define WSB_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_LEVEL_INFO 0
#define LOG_LEVEL_DEBUG 1

void log_init(int verbose);
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
