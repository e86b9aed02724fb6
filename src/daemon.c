/* -D, --pid-file, the open-files limit and signal names (daemon.h). */
#include <sys/resource.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "token.h"
#include "wsb_config.h"
#include "wsb_limits.h"

/* The write end of the pipe the waiting parent reads; -1: none. */
static int daemon_ready_fd = -1;

/* Fork; the parent waits for the child's word or its exit. */
int
daemon_start(char *err, size_t errlen)
{
	int	 fds[2], status;
	pid_t	 pid;
	sigset_t none;
	char	 c = 0;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "-D: pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "-D: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		daemon_ready_fd = fds[1];
		setsid();
		return 0;
	}
	/* The parent: one byte means serving; end of file means the child
	 * exited (or crashed) before it was.  Ctrl-C may stop the wait. */
	close(fds[1]);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	while (read(fds[0], &c, 1) == -1 && errno == EINTR)
		;
	if (c == 'R' && waitpid(pid, &status, WNOHANG) == 0)
		_exit(0);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	_exit(1);
}

/* Leave the terminal and the directory; let the parent exit 0. */
void
daemon_ready(void)
{
	int fd;

	if (daemon_ready_fd == -1)
		return;
	if (chdir("/") == -1)
		(void)0; /* "/" always exists; nothing to do if not */
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	(void)!write(daemon_ready_fd, "R", 1);
	close(daemon_ready_fd);
	daemon_ready_fd = -1;
}

/* Make *path absolute from cwd (cwdlen bytes); NULL stays NULL. */
static int
daemon_absolute(char **path, const char *cwd)
{
	char *abs;

	if (*path == NULL || (*path)[0] == '/')
		return 0;
	if (asprintf(&abs, "%s/%s", cwd, *path) == -1)
		return -1;
	free(*path);
	*path = abs;
	return 0;
}

/* Whether the token plugin's source is a file or a directory. */
static int
daemon_token_source_is_path(const struct config *cfg)
{
	static const char *const       file_plugins[] = { "TokenFile",
		      "ReadOnlyTokenFile", "TokenFileName",
		      "UnixDomainSocketDirectory", "JWTTokenApi" };
	const struct token_plugin_ops *ops;
	size_t			       i;

	if (cfg->token_plugin == NULL ||
	    (ops = token_plugin_find(cfg->token_plugin)) == NULL)
		return 0;
	for (i = 0; i < sizeof(file_plugins) / sizeof(file_plugins[0]); i++)
		if (strcmp(ops->name, file_plugins[i]) == 0)
			return 1;
	return 0;
}

/* Absolute file names for -D; see daemon.h. */
int
daemon_absolute_paths(struct config *cfg, char *err, size_t errlen)
{
	char **paths[] = { &cfg->log_file, &cfg->pid_file, &cfg->record,
		&cfg->cert, &cfg->key, &cfg->cafile, &cfg->ssl_target_cafile,
		&cfg->web, &cfg->unix_target, &cfg->unix_listen,
		&cfg->target_config };
	char  *cwd;
	size_t i;
	int    r = 0;

	if ((cwd = getcwd(NULL, 0)) == NULL) {
		snprintf(err, errlen, "-D: the current directory: %s",
		    strerror(errno));
		return -1;
	}
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		r |= daemon_absolute(paths[i], cwd);
	if (daemon_token_source_is_path(cfg))
		r |= daemon_absolute(&cfg->token_source, cwd);
	free(cwd);
	if (r != 0)
		snprintf(err, errlen, "-D: out of memory");
	return r == 0 ? 0 : -1;
}

/* Write the pid file; see daemon.h. */
int
daemon_pid_file_write(const char *path, char *err, size_t errlen)
{
	char buf[32];
	int  fd, n;

	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		 0644)) == -1 ||
	    write(fd, buf, (size_t)n) != n) {
		snprintf(err, errlen, "--pid-file %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Remove the pid file if it is still ours. */
void
daemon_pid_file_remove(const char *path)
{
	char	buf[32];
	ssize_t n;
	int	fd;

	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (atol(buf) == (long)getpid())
		unlink(path);
}

/* Soft RLIMIT_NOFILE up to the hard limit; see daemon.h. */
long
daemon_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1 &&
		    getrlimit(RLIMIT_NOFILE, &rl) == -1)
			return -1;
	}
	return rl.rlim_cur == RLIM_INFINITY ? (long)1 << 30 :
					      (long)rl.rlim_cur;
}

/* SIGTERM's name; see daemon.h. */
const char *
daemon_signal_name(int sig)
{
	static char buf[32];
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev == NULL) {
		snprintf(buf, sizeof(buf), "signal %d", sig);
		return buf;
	}
	snprintf(buf, sizeof(buf), "SIG%s", abbrev);
	return buf;
}
