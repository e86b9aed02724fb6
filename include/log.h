/* Thread-safe logging to stderr (or a file), websockify-like lines. */
#ifndef WSB_LOG_H
#define WSB_LOG_H

#include <stdarg.h>

#define LOG_LEVEL_INFO 0
#define LOG_LEVEL_DEBUG 1

void log_init(int verbose);
int log_verbose(void);
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* --traffic: one character per frame, no newline. */
void log_traffic(char);
void fatal(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
