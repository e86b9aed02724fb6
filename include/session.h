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

#endif
