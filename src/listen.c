/*
 * Listening sockets handed in rather than bound per worker: standard
 * input (--inetd), a Unix socket file (--unix-listen) or the sockets a
 * service manager passes (socket activation, sd_listen_fds(3)).  They
 * are obtained once in the main thread; each worker listens on a dup().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <systemd/sd-daemon.h>

#include "listen.h"
#include "log.h"
#include "worker.h"
#include "wsb_limits.h"

/* The sockets obtained, for the life of the process. */
static int listen_fd_table[WORKER_MAX_LISTENERS];
static int listen_nfds;

/* Non-blocking and close-on-exec: libevent's listener and any child
 * (a wrapped command) must not get a blocking or inherited copy.  0, or
 * -1 with errno set. */
static int
listen_prepare(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    (fl = fcntl(fd, F_GETFD)) == -1 ||
	    fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		return -1;
	return 0;
}

/* Whether fd is a listening stream socket; if not, why, in err, naming
 * it as what (e.g. "standard input"). 0 or -1. */
static int
listen_check(int fd, const char *what, char *err, size_t errlen)
{
	const char *why = NULL;
	int	    r;

	if ((r = sd_is_socket(fd, AF_UNSPEC, 0, -1)) < 0)
		snprintf(err, errlen, "%s: %s", what, strerror(-r));
	else if (r == 0)
		why = "is not a socket";
	else if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, -1) <= 0)
		why = "is not a stream socket";
	else if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
		why = "is a socket that does not listen (listen(2) it first)";
	else
		return 0;
	if (why != NULL)
		snprintf(err, errlen, "%s %s", what, why);
	return -1;
}

/* --inetd: standard input is the listening socket.  It moves to a new
 * descriptor, and standard input becomes /dev/null, so that nothing
 * that redirects stdio (-D) closes the listener. */
static int
listen_inetd(char *err, size_t errlen)
{
	int fd, null;

	if (listen_check(STDIN_FILENO, "--inetd: standard input", err,
		errlen) == -1)
		return -1;
	if ((fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    listen_prepare(fd) == -1) {
		snprintf(err, errlen, "--inetd: standard input: %s",
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if ((null = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1) {
		dup2(null, STDIN_FILENO);
		close(null);
	}
	listen_fd_table[0] = fd;
	return 1;
}

/*
 * Whether something accepts connections on the Unix socket at sun: 1
 * yes (or its backlog is full), 0 no one does (a stale file left by an
 * instance that has gone).
 */
static int
listen_unix_live(const struct sockaddr_un *sun)
{
	int fd, r;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		 0)) == -1)
		return 0;
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	r = r == 0 || errno == EAGAIN;
	close(fd);
	return r;
}

/*
 * Make way for the socket file at path: nothing there, or a socket file
 * nobody listens on (removed), or, with --reuse-port, a live one (taken
 * over, as a new instance takes a TCP port over).  Anything else is
 * refused and left as it is.  0 or -1.
 */
static int
listen_unix_clear(const struct config *cfg, const struct sockaddr_un *sun,
    char *err, size_t errlen)
{
	const char *path = sun->sun_path;
	struct stat st;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "--unix-listen %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
		    "--unix-listen %s: exists and is not a socket "
		    "(left as it is)",
		    path);
		return -1;
	}
	if (!cfg->reuse_port && listen_unix_live(sun)) {
		snprintf(err, errlen,
		    "--unix-listen %s: %s (another process listens on it; "
		    "--reuse-port takes it over)",
		    path, strerror(EADDRINUSE));
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen,
		    "--unix-listen %s: cannot replace it: %s", path,
		    strerror(errno));
		return -1;
	}
	log_debug("%s: replaced the socket file %s", __func__, path);
	return 0;
}

/* --unix-listen FILE: bind and listen with the mode from the start. */
static int
listen_unix(const struct config *cfg, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	mode_t		   old;
	int		   fd, r, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(cfg->unix_listen) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen,
		    "--unix-listen: the path is longer than %zu bytes",
		    sizeof(sun.sun_path) - 1);
		return -1;
	}
	strcpy(sun.sun_path, cfg->unix_listen);
	if (listen_unix_clear(cfg, &sun, err, errlen) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		 0)) == -1) {
		snprintf(err, errlen, "--unix-listen: socket: %s",
		    strerror(errno));
		return -1;
	}
	/* bind() creates the file with 0777 & ~umask: with this umask it
	 * never has wider permissions than the mode, not even for an
	 * instant (a chmod afterwards would leave a window).  The workers
	 * do not exist yet: no other thread creates files meanwhile. */
	old = umask(~(mode_t)cfg->unix_listen_mode & 0777);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	saved = errno;
	umask(old);
	if (r == -1 || listen(fd, WSB_LISTEN_BACKLOG) == -1) {
		if (r == -1)
			errno = saved;
		snprintf(err, errlen, "--unix-listen %s: %s", sun.sun_path,
		    strerror(errno));
		if (r == 0)
			unlink(sun.sun_path);
		close(fd);
		return -1;
	}
	/* Bits a umask cannot give (setgid, sticky) are added now. */
	if ((cfg->unix_listen_mode & ~0777) != 0 &&
	    chmod(sun.sun_path, (mode_t)cfg->unix_listen_mode) == -1)
		log_warn("--unix-listen %s: chmod %04o", sun.sun_path,
		    cfg->unix_listen_mode);
	listen_fd_table[0] = fd;
	return 1;
}

/* Socket activation: the descriptors from SD_LISTEN_FDS_START on. */
static int
listen_activated(const struct config *cfg, int max, char *err, size_t errlen)
{
	char what[64];
	int  n, i, fd;

	/* 1: unset LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES and mark the
	 * descriptors close-on-exec, so no child takes them for its own. */
	if ((n = sd_listen_fds(1)) < 0) {
		snprintf(err, errlen, "socket activation: %s", strerror(-n));
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "socket activation: no socket passed");
		return -1;
	}
	if (n > max) {
		snprintf(err, errlen,
		    "socket activation: %d sockets passed; at most %d are "
		    "served",
		    n, max);
		return -1;
	}
	for (i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + i;
		snprintf(what, sizeof(what),
		    "socket activation: descriptor %d", fd);
		if (listen_check(fd, what, err, errlen) == -1)
			return -1;
		if (listen_prepare(fd) == -1) {
			snprintf(err, errlen, "%s: %s", what, strerror(errno));
			return -1;
		}
		listen_fd_table[i] = fd;
	}
	if (cfg->listen_port != NULL)
		log_info("socket activation: serving the %d socket%s passed, "
			 "not the listen address given",
		    n, n == 1 ? "" : "s");
	return n;
}

/* Obtain the sockets cfg hands in; see listen.h. */
int
listen_open(const struct config *cfg, int max, char *err, size_t errlen)
{
	int n;

	if (max > WORKER_MAX_LISTENERS)
		max = WORKER_MAX_LISTENERS;
	if (cfg->inetd)
		n = listen_inetd(err, errlen);
	else if (cfg->unix_listen != NULL)
		n = listen_unix(cfg, err, errlen);
	else if (cfg->listen_fds)
		n = listen_activated(cfg, max, err, errlen);
	else
		n = 0;
	if (n > 0)
		listen_nfds = n;
	return n;
}

/* The sockets obtained; see listen.h. */
int
listen_sockets(const int **fds)
{
	*fds = listen_fd_table;
	return listen_nfds;
}

/* Close the obtained descriptors; see listen.h. */
void
listen_release(void)
{
	int i;

	for (i = 0; i < listen_nfds; i++)
		if (listen_fd_table[i] != -1) {
			close(listen_fd_table[i]);
			listen_fd_table[i] = -1;
		}
}
