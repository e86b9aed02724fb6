/* One client connection: handshake, relay, close. */
#ifndef WSB_SESSION_H
#define WSB_SESSION_H

#include <sys/socket.h>

struct worker;

/* Start a session on an accepted socket; closes fd on failure. */
void session_accept(struct worker *w, int fd, const struct sockaddr *sa,
    socklen_t salen);
/* Close every session of a worker (shutdown). */
void session_close_all(struct worker *w);
/* Graceful stop (SIGTERM): every relaying client gets what is queued,
 * then Close 1001 "going away", and its target is closed once what the
 * client sent is delivered; sessions not yet relaying end at once.
 * Sessions already closing go on.  Runs on w's thread. */
void session_going_away(struct worker *w);

#endif
