/* Listening sockets handed in rather than bound: --inetd (standard
 * input), --unix-listen FILE, and systemd socket activation
 * (sd_listen_fds(3)). */
#ifndef WSB_LISTEN_H
#define WSB_LISTEN_H

#include <stddef.h>

#include "wsb_config.h"

/*
 * Obtain the listening sockets that cfg hands in, once, in the main
 * thread before any worker exists:
 *   --inetd: standard input, which must be a listening stream socket;
 *     it is moved to a new descriptor and standard input becomes
 *     /dev/null (so -D's stdio redirection cannot close it).
 *   --unix-listen FILE: a stream socket bound at FILE with permissions
 *     cfg->unix_listen_mode from the moment it exists (umask around
 *     bind); an existing socket file is replaced, any other file is
 *     refused and left untouched.  The file is left behind at exit, as
 *     websockify leaves it; the next start replaces it.
 *   socket activation (cfg->listen_fds): sd_listen_fds(1) (LISTEN_PID,
 *     LISTEN_FDS and LISTEN_FDNAMES are removed from the environment, so
 *     a child never takes them), each descriptor a listening stream
 *     socket.
 * Every descriptor is non-blocking and close-on-exec, owned by this
 * module for the life of the process (workers listen on dup()s).
 * Returns how many sockets (at most max; 0: none of these options, bind
 * the listen address), or -1 with a one-line message in err (errlen
 * bytes): start-up refused.  At most one call succeeds.
 */
int listen_open(const struct config *cfg, int max, char *err, size_t errlen);
/* The sockets listen_open() obtained: *fds points at their descriptors
 * (static storage); returns how many (0 before listen_open()). */
int listen_sockets(const int **fds);
/* Close the descriptors listen_open() obtained, once every worker has
 * its dup(): when the workers stop accepting, the socket is closed and
 * new connections are refused, not queued (unless a service manager or
 * inetd holds its own copy, which is how they queue for a successor). */
void listen_release(void);

#endif
