/*
 * Wrap mode: the command after "--" runs with rebind.so preloaded, so its
 * bind() on the source port lands on 127.0.0.1:new_port, which wsbridge
 * targets (websockify's run_wrap_cmd and poll).  The command runs in its
 * own process group, which wrap_stop() stops; it dies with wsbridge
 * (PR_SET_PDEATHSIG) even if wsbridge is killed outright.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "log.h"
#include "wrap.h"
#include "wsb_config.h"
#include "wsb_limits.h"

#ifndef WSB_PKGLIBEXECDIR
#define WSB_PKGLIBEXECDIR "/usr/local/libexec/wsbridge"
#endif

extern char **environ;

struct wrap {
	struct event_base   *base;
	const struct config *cfg;
	void (*on_exit)(int, void *);
	void	     *arg;
	int	      new_port;
	char	     *path;    /* the command, found on PATH */
	char	    **envp;    /* environ with the rebind variables */
	char	     *vars[3]; /* LD_PRELOAD=, REBIND_OLD_PORT=, _NEW_ */
	int	      null_fd; /* -D: /dev/null for its stdio, else -1 */
	pid_t	      pid;     /* running (its process group too), or -1 */
	pid_t	      pgid;    /* the last command's process group, or -1:
				* what it left behind is stopped with us */
	struct event *sigchld;
	struct event *respawn; /* a throttled respawn's timer */
	long long     starts[WSB_WRAP_RESPAWN_STARTS]; /* ring, msec */
	int	      nstarts;
	char	      cmdline[WSB_WRAP_LOG_CMD]; /* escaped, for logs */
};

static long long wrap_now_ms(void);
static int	 wrap_rebind_path(char *, size_t, char *, size_t);
static char	*wrap_find_command(const char *, char *, size_t);
static int	 wrap_env(struct wrap *, const char *, int, char *, size_t);
static void wrap_child(struct wrap *, int, pid_t) __attribute__((noreturn));
static int  wrap_spawn(struct wrap *, char *, size_t);
static void wrap_status(int, char *, size_t);
static void wrap_exited(struct wrap *, int);
static void wrap_respawn_later(struct wrap *);
static void wrap_sigchld_cb(evutil_socket_t, short, void *);
static void wrap_respawn_cb(evutil_socket_t, short, void *);
static void wrap_free(struct wrap *);

/* The monotonic clock in milliseconds, for the respawn throttle. */
static long long
wrap_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
wrap_free_port(char *err, size_t errlen)
{
	struct sockaddr_in sin;
	socklen_t	   len = sizeof(sin);
	int		   fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		snprintf(err, errlen,
		    "wrap mode: no free port on 127.0.0.1: %s",
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(sin.sin_port);
}

/*
 * rebind.so, made absolute into buf: $WSBRIDGE_REBIND, else next to the
 * executable (a build tree), else the installed one in pkglibexecdir.  The
 * loader splits LD_PRELOAD at blanks and colons, so a path holding one
 * is refused.  0, or -1 with err.
 */
static int
wrap_rebind_path(char *buf, size_t len, char *err, size_t errlen)
{
	const char *env = getenv("WSBRIDGE_REBIND");
	char	    exe[PATH_MAX], cand[PATH_MAX + 16], *slash;
	ssize_t	    n;

	cand[0] = '\0';
	if (env != NULL && *env != '\0')
		snprintf(cand, sizeof(cand), "%s", env);
	else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n > 0) {
			exe[n] = '\0';
			if ((slash = strrchr(exe, '/')) != NULL) {
				*slash = '\0';
				snprintf(cand, sizeof(cand), "%s/rebind.so",
				    exe);
			}
		}
		if (cand[0] == '\0' || access(cand, R_OK) == -1)
			snprintf(cand, sizeof(cand), "%s/rebind.so",
			    WSB_PKGLIBEXECDIR);
	}
	if (access(cand, R_OK) == -1 || realpath(cand, buf) == NULL) {
		snprintf(err, errlen, "wrap mode: cannot use %s: %s%s", cand,
		    strerror(errno),
		    env != NULL && *env != '\0' ? " (WSBRIDGE_REBIND)" : "");
		return -1;
	}
	if (strlen(buf) >= len || strpbrk(buf, " \t\n:") != NULL) {
		snprintf(err, errlen,
		    "wrap mode: %s: LD_PRELOAD cannot hold a path with a "
		    "blank or a colon",
		    buf);
		return -1;
	}
	return 0;
}

/* The command's file as execvp would find it (a name holding '/' as it
 * is, else the first executable regular file on PATH), allocated; NULL
 * with err. */
static char *
wrap_find_command(const char *name, char *err, size_t errlen)
{
	const char *path = getenv("PATH"), *p, *end;
	char	    cand[PATH_MAX];
	struct stat st;
	char	   *r;

	if (strchr(name, '/') != NULL) {
		if (access(name, X_OK) == -1) {
			snprintf(err, errlen, "cannot run %s: %s", name,
			    strerror(errno));
			return NULL;
		}
		goto found;
	}
	if (path == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p = end + 1) {
		if ((end = strchr(p, ':')) == NULL)
			end = p + strlen(p);
		/* An empty entry is the current directory. */
		if ((size_t)snprintf(cand, sizeof(cand), "%.*s%s%s",
			(int)(end - p), p, end == p ? "" : "/",
			name) < sizeof(cand) &&
		    stat(cand, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(cand, X_OK) == 0) {
			name = cand;
			goto found;
		}
		if (*end == '\0')
			break;
	}
	snprintf(err, errlen, "cannot run %s: command not found", name);
	return NULL;
found:
	if ((r = strdup(name)) == NULL)
		snprintf(err, errlen, "out of memory");
	return r;
}

/*
 * The command's environment: wsbridge's, rebind.so appended to any
 * LD_PRELOAD, REBIND_OLD_PORT and REBIND_NEW_PORT set; systemd's
 * NOTIFY_SOCKET and LISTEN_* are dropped (they speak for wsbridge, not
 * for the command).  0, or -1 with err.
 */
static int
wrap_env(struct wrap *w, const char *rebind, int old_port, char *err,
    size_t errlen)
{
	static const char *drop[] = { "LD_PRELOAD=", "REBIND_OLD_PORT=",
		"REBIND_NEW_PORT=", "NOTIFY_SOCKET=", "LISTEN_PID=",
		"LISTEN_FDS=", "LISTEN_FDNAMES=" };
	const char	  *preload = getenv("LD_PRELOAD");
	size_t		   n, i, j, k = 0;

	for (n = 0; environ[n] != NULL; n++)
		;
	if ((w->envp = calloc(n + 4, sizeof(*w->envp))) == NULL)
		goto nomem;
	if (asprintf(&w->vars[0], "LD_PRELOAD=%s%s%s",
		preload != NULL ? preload : "",
		preload != NULL && *preload != '\0' ? ":" : "",
		rebind) == -1) {
		w->vars[0] = NULL;
		goto nomem;
	}
	if (asprintf(&w->vars[1], "REBIND_OLD_PORT=%d", old_port) == -1) {
		w->vars[1] = NULL;
		goto nomem;
	}
	if (asprintf(&w->vars[2], "REBIND_NEW_PORT=%d", w->new_port) == -1) {
		w->vars[2] = NULL;
		goto nomem;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < sizeof(drop) / sizeof(drop[0]); j++)
			if (strncmp(environ[i], drop[j], strlen(drop[j])) == 0)
				break;
		if (j == sizeof(drop) / sizeof(drop[0]))
			w->envp[k++] = environ[i];
	}
	for (i = 0; i < 3; i++)
		w->envp[k++] = w->vars[i];
	w->envp[k] = NULL;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/*
 * In the child, between fork and exec: async-signal-safe calls only.
 * Default signal dispositions and an empty mask (wsbridge ignores
 * SIGPIPE and blocks signals around the fork), its own process group,
 * death with wsbridge, no descriptor of wsbridge's but stdio (/dev/null
 * with -D).  An exec failure's errno goes up errfd.
 */
static void
wrap_child(struct wrap *w, int errfd, pid_t parent)
{
	struct sigaction sa;
	sigset_t	 none;
	int		 sig, fd, e;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	(void)setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		_exit(127);
	if (w->null_fd != -1 &&
	    (dup2(w->null_fd, 0) == -1 || dup2(w->null_fd, 1) == -1 ||
		dup2(w->null_fd, 2) == -1))
		_exit(127);
	/* Before Linux 5.11: the descriptors a default limit allows. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
		for (fd = 3; fd < 1024; fd++)
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execve(w->path, w->cfg->wrap_cmd, w->envp);
	e = errno;
	(void)write(errfd, &e, sizeof(e));
	_exit(127);
}

/* Start the command once (the start counts for the throttle even when it
 * fails).  0 once it has exec'd, or -1 with err. */
static int
wrap_spawn(struct wrap *w, char *err, size_t errlen)
{
	sigset_t all, old;
	pid_t	 pid, parent = getpid();
	int	 p[2], e = 0;
	ssize_t	 n;

	w->starts[w->nstarts++ % WSB_WRAP_RESPAWN_STARTS] = wrap_now_ms();
	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "cannot run %s: pipe: %s", w->path,
		    strerror(errno));
		return -1;
	}
	/* No signal handler of wsbridge's may run in the child. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if ((pid = fork()) == 0)
		wrap_child(w, p[1], parent);
	e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	if (pid == -1) {
		close(p[0]);
		snprintf(err, errlen, "cannot run %s: fork: %s", w->path,
		    strerror(e));
		return -1;
	}
	/* EOF: the exec succeeded (the pipe closed on exec). */
	while ((n = read(p[0], &e, sizeof(e))) == -1 && errno == EINTR)
		;
	close(p[0]);
	if (n == sizeof(e)) {
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		snprintf(err, errlen, "cannot run %s: %s", w->path,
		    strerror(e));
		return -1;
	}
	w->pid = w->pgid = pid;
	log_info("wrapped command started, pid %ld: %s", (long)pid,
	    w->cmdline);
	return 0;
}

/* "exited with status N" or "killed by SIGX", from a wait status. */
static void
wrap_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by %s%s",
		    daemon_signal_name(WTERMSIG(st)),
		    WCOREDUMP(st) ? " (core dumped)" : "");
	else
		snprintf(buf, len, "ended (wait status %#x)", st);
}

/*
 * The command ended: log how, then --wrap-mode.  exit passes on its
 * status, 128 + the signal's number if a signal killed it (a shell's
 * convention; websockify exits with 256 minus the signal's number).
 */
static void
wrap_exited(struct wrap *w, int st)
{
	char how[96];
	long pid = (long)w->pid;
	int  code;

	w->pid = -1;
	wrap_status(st, how, sizeof(how));
	code = WIFEXITED(st) ? WEXITSTATUS(st) :
	    WIFSIGNALED(st)  ? 128 + WTERMSIG(st) :
			       1;
	switch (w->cfg->wrap_mode) {
	case CONFIG_WRAP_IGNORE:
		log_info("wrapped command (pid %ld) %s; --wrap-mode ignore: "
			 "still serving, though nothing may listen on "
			 "127.0.0.1:%d now",
		    pid, how, w->new_port);
		break;
	case CONFIG_WRAP_RESPAWN:
		log_info("wrapped command (pid %ld) %s; --wrap-mode respawn",
		    pid, how);
		wrap_respawn_later(w);
		break;
	default:
		log_info("wrapped command (pid %ld) %s; --wrap-mode exit: "
			 "exiting with status %d",
		    pid, how, code);
		w->on_exit(code, w->arg);
		break;
	}
}

/* Respawn: at once, or once the oldest of the last
 * WSB_WRAP_RESPAWN_STARTS starts is WSB_WRAP_RESPAWN_WINDOW_SEC old. */
static void
wrap_respawn_later(struct wrap *w)
{
	struct timeval tv;
	long long      due, now = wrap_now_ms();

	due = now;
	if (w->nstarts >= WSB_WRAP_RESPAWN_STARTS)
		due = w->starts[w->nstarts % WSB_WRAP_RESPAWN_STARTS] +
		    WSB_WRAP_RESPAWN_WINDOW_SEC * 1000LL;
	if (due <= now) {
		wrap_respawn_cb(-1, 0, w);
		return;
	}
	log_warnx("wrapped command respawning too fast (%d starts within "
		  "%d s): starting it again in %.1f s",
	    WSB_WRAP_RESPAWN_STARTS, WSB_WRAP_RESPAWN_WINDOW_SEC,
	    (double)(due - now) / 1000);
	tv.tv_sec = (due - now) / 1000;
	tv.tv_usec = (due - now) % 1000 * 1000;
	if (evtimer_add(w->respawn, &tv) == -1) {
		log_warnx("wrapped command: cannot set the respawn timer; "
			  "not starting it again");
	}
}

/* Start the command again; a failure to start counts as a quick death. */
static void
wrap_respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wrap *w = arg;
	char	     err[512];

	if (wrap_spawn(w, err, sizeof(err)) == -1) {
		log_warnx("wrapped command: %s", err);
		wrap_respawn_later(w);
	}
}

/* Reap every child that has ended: the command, and what it left
 * behind (adopted: wsbridge is their subreaper).  1 with the command's
 * wait status in *st if pid was among them. */
static int
wrap_reap(pid_t pid, int *st)
{
	pid_t r;
	int   s, got = 0;

	while ((r = waitpid(-1, &s, WNOHANG)) > 0 ||
	    (r == -1 && errno == EINTR))
		if (r > 0 && r == pid) {
			*st = s;
			got = 1;
		}
	return got;
}

/* SIGCHLD: reap; if the command is what ended, --wrap-mode applies. */
static void
wrap_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct wrap *w = arg;
	int	     st;

	if (wrap_reap(w->pid, &st) && w->pid != -1)
		wrap_exited(w, st);
}

struct wrap *
wrap_start(struct event_base *base, const struct config *cfg, int old_port,
    int new_port, void (*on_exit)(int, void *), void *arg, char *err,
    size_t errlen)
{
	struct wrap *w;
	char	     rebind[PATH_MAX];
	size_t	     used = 0;
	int	     i;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->base = base;
	w->cfg = cfg;
	w->on_exit = on_exit;
	w->arg = arg;
	w->new_port = new_port;
	w->pid = w->pgid = -1;
	w->null_fd = -1;
	/* A command that forks its server and exits leaves it to us, not
	 * to init: reaped here, and stopped with the group at exit. */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (i = 0; cfg->wrap_cmd[i] != NULL && used + 5 < sizeof(w->cmdline);
	     i++) {
		if (i > 0)
			w->cmdline[used++] = ' ';
		used += log_escape(w->cmdline + used,
		    sizeof(w->cmdline) - used, cfg->wrap_cmd[i],
		    strlen(cfg->wrap_cmd[i]));
	}
	if (wrap_rebind_path(rebind, sizeof(rebind), err, errlen) == -1 ||
	    (w->path = wrap_find_command(cfg->wrap_cmd[0], err, errlen)) ==
		NULL ||
	    wrap_env(w, rebind, old_port, err, errlen) == -1)
		goto fail;
	if (cfg->daemon &&
	    (w->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "/dev/null: %s", strerror(errno));
		goto fail;
	}
	if ((w->sigchld = evsignal_new(base, SIGCHLD, wrap_sigchld_cb, w)) ==
		NULL ||
	    evsignal_add(w->sigchld, NULL) == -1 ||
	    (w->respawn = evtimer_new(base, wrap_respawn_cb, w)) == NULL) {
		snprintf(err, errlen, "wrap mode: cannot watch SIGCHLD");
		goto fail;
	}
	log_debug("wrapped command: LD_PRELOAD %s, REBIND_OLD_PORT=%d, "
		  "REBIND_NEW_PORT=%d",
	    rebind, old_port, new_port);
	if (wrap_spawn(w, err, errlen) == -1)
		goto fail;
	return w;
fail:
	wrap_free(w);
	return NULL;
}

/* Free w's memory and events (the command is no longer watched). */
static void
wrap_free(struct wrap *w)
{
	int i;

	if (w->sigchld != NULL)
		event_free(w->sigchld);
	if (w->respawn != NULL)
		event_free(w->respawn);
	if (w->null_fd != -1)
		close(w->null_fd);
	for (i = 0; i < 3; i++)
		free(w->vars[i]);
	free(w->envp);
	free(w->path);
	free(w);
}

void
wrap_stop(struct wrap *w)
{
	struct timespec ts = { 0, WSB_WRAP_REAP_POLL_MSEC * 1000000L };
	long long	deadline;
	char		how[96];
	pid_t		pid, r;
	int		st = 0, left, waited = 0;

	if (w == NULL)
		return;
	pid = w->pid;
	left = w->pgid > 0 && killpg(w->pgid, 0) == 0;
	if (pid != -1)
		log_info("stopping the wrapped command (pid %ld)", (long)pid);
	else if (left)
		log_info("stopping what the wrapped command left running "
			 "(process group %ld)",
		    (long)w->pgid);
	if (pid != -1 || left) {
		if (killpg(w->pgid, SIGTERM) == -1 && pid != -1)
			(void)kill(pid, SIGTERM);
		deadline = wrap_now_ms() + WSB_WRAP_KILL_MSEC;
		/* Until the leader is reaped and its group is empty. */
		while (wrap_now_ms() < deadline) {
			if (wrap_reap(pid, &st))
				waited = 1;
			if ((pid == -1 || waited) && killpg(w->pgid, 0) == -1)
				break;
			nanosleep(&ts, NULL);
		}
		if ((pid != -1 && !waited) || killpg(w->pgid, 0) == 0) {
			log_warnx("wrapped command (process group %ld) still "
				  "running %d ms after SIGTERM: SIGKILL",
			    (long)w->pgid, WSB_WRAP_KILL_MSEC);
			if (killpg(w->pgid, SIGKILL) == -1 && pid != -1)
				(void)kill(pid, SIGKILL);
		}
		if (pid != -1 && !waited) {
			while ((r = waitpid(pid, &st, 0)) == -1 &&
			    errno == EINTR)
				;
			waited = r == pid;
		}
		if (pid != -1 && waited) {
			wrap_status(st, how, sizeof(how));
			log_info("wrapped command (pid %ld) %s", (long)pid,
			    how);
		}
		(void)wrap_reap(-1, &st);
		w->pid = -1;
	}
	wrap_free(w);
}
