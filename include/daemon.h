/* Detaching (-D), the pid file (--pid-file), the open-files limit and
 * the signals' names: the process-wide chores of running as a service.
 * Main thread only, before any worker thread starts unless said. */
#ifndef WSB_DAEMON_H
#define WSB_DAEMON_H

#include <stddef.h>

struct config;

/*
 * -D: fork; the parent waits until the child calls daemon_ready() and
 * exits 0, or, if the child exits first (a start-up error, which it
 * printed on the terminal itself), exits with the child's status, so
 * start-up errors keep reaching the terminal and the exit status.  The
 * child starts a new session (setsid) and returns 0.  Call before any
 * thread exists.  -1 with err if fork or pipe failed (parent).
 */
int daemon_start(char *err, size_t errlen);
/* -D: the child is serving: chdir("/"), standard input, output and
 * error to /dev/null, then tell the waiting parent to exit 0.  A no-op
 * without daemon_start(). */
void daemon_ready(void);
/*
 * With -D, make cfg's relative file names absolute (from the current
 * directory), as they are used after daemon_ready() left it: the log,
 * pid and record files, certificates, CA files, --web, Unix sockets and
 * file-based token sources.  0, or -1 with err (getcwd failed, no
 * memory).  websockify does the same for --log-file.
 */
int daemon_absolute_paths(struct config *cfg, char *err, size_t errlen);

/* --pid-file: write this process's id and a newline to path (created
 * 0644, replaced).  0, or -1 with err. */
int daemon_pid_file_write(const char *path, char *err, size_t errlen);
/* Remove path if it still holds this process's id (another instance
 * may have taken it over). */
void daemon_pid_file_remove(const char *path);

/*
 * Raise the soft open-files limit (RLIMIT_NOFILE) to the hard limit and
 * return it; the sessions it allows are about (limit - WSB_FD_RESERVE) /
 * 2, a client and a target socket each.  -1 if getrlimit failed.
 */
long daemon_raise_nofile(void);

/* "SIGTERM" for SIGTERM (sigabbrev_np), "signal N" for one without a
 * name; a static string. */
const char *daemon_signal_name(int sig);

#endif
