/* Thread-safe logging: each line is formatted on the stack and written
 * with one write(2) per sink (stderr, --log-file, --syslog), so lines
 * from workers never interleave.  The sinks are set up by log_open()
 * before any thread starts; log_reopen() swaps the file under the same
 * descriptor with dup2(2), so a worker writes to the old file or the new,
 * never to a closed descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "log_syslog.h"
#include "wsb_config.h"
#include "wsb_limits.h"

#define LOG_LINE_MAX 1024
/* "2024-01-31T12:00:00.000Z ": a line's timestamp; room for it (or the
 * journal's "<N>") is kept before the body. */
#define LOG_STAMP_LEN 25

static int log_level = LOG_LEVEL_INFO;

/* The sinks besides stderr: set by log_open() before threads start. */
static atomic_int log_file_fd = -1;
/* log_reopen()'s new file, which this thread's next line goes to. */
static __thread int	       log_file_next = -1;
static char		       log_file_path[PATH_MAX];
static int		       log_journal; /* stderr is the journal */
static atomic_int	       log_sys_fd = -1;
static struct sockaddr_storage log_sys_addr;
static socklen_t	       log_sys_addrlen;
static char		       log_sys_host[256];
static const char	      *log_sys_server;
static struct log_syslog_id    log_sys_id;
/* Lines syslog did not take, and when that was last said (monotonic
 * seconds + 1; 0: never). */
static atomic_ulong log_sys_dropped;
static atomic_long  log_sys_warned;

static void log_vwrite(int, const char *, const char *, int, const char *,
    va_list) __attribute__((format(printf, 5, 0)));
static void log_emit(int, char *, size_t);
static void log_syslog_send(int, const char *, size_t);
static void log_warnx_local(const char *, ...)
    __attribute__((format(printf, 1, 2)));

/* Set the level: verbose > 0 turns on debug lines. */
void
log_init(int verbose)
{
	log_level = verbose > 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
}

/* Whether debug lines are on (callers skip costly formatting). */
int
log_verbose(void)
{
	return log_level >= LOG_LEVEL_DEBUG;
}

/* Format "time level: message[: strerror]\n" and write it to each sink,
 * one write(2) (or datagram) per sink. */
static void
log_vwrite(int sev, const char *level, const char *errstr, int with_err,
    const char *fmt, va_list ap)
{
	char   line[LOG_STAMP_LEN + LOG_LINE_MAX], *body;
	size_t n;
	int    r;

	body = line + LOG_STAMP_LEN;
	r = snprintf(body, LOG_LINE_MAX, "%s: ", level);
	n = r > 0 && r < LOG_LINE_MAX ? (size_t)r : 0;
	r = vsnprintf(body + n, LOG_LINE_MAX - n, fmt, ap);
	if (r > 0)
		n = n + (size_t)r < LOG_LINE_MAX ? n + (size_t)r :
						   LOG_LINE_MAX - 1;
	if (with_err && n < LOG_LINE_MAX - 1) {
		r = snprintf(body + n, LOG_LINE_MAX - n, ": %s", errstr);
		if (r > 0)
			n = n + (size_t)r < LOG_LINE_MAX ? n + (size_t)r :
							   LOG_LINE_MAX - 1;
	}
	if (n >= LOG_LINE_MAX - 1)
		n = LOG_LINE_MAX - 2;
	log_emit(sev, line, n);
}

/* Send one line to every sink: line holds LOG_STAMP_LEN bytes of room,
 * then the body (n bytes, "level: message") and room for a newline.
 * sev < 0: not to syslog (a warning about syslog itself). */
static void
log_emit(int sev, char *line, size_t n)
{
	struct timespec ts;
	struct tm	tm;
	char	       *body = line + LOG_STAMP_LEN, stamp[LOG_STAMP_LEN + 8];
	int		fd;

	if (sev >= 0 &&
	    atomic_load_explicit(&log_sys_fd, memory_order_relaxed) != -1)
		log_syslog_send(sev, body, n);
	body[n] = '\n';
	if (log_journal) {
		/* sd-daemon(3): "<N>" and no timestamp of our own. */
		body[-3] = '<';
		body[-2] = (char)('0' + (sev < 0 ? LOG_SYSLOG_WARNING : sev));
		body[-1] = '>';
		(void)!write(STDERR_FILENO, body - 3, n + 4);
	}
	fd = log_file_next != -1 ?
	    log_file_next :
	    atomic_load_explicit(&log_file_fd, memory_order_relaxed);
	if (log_journal && fd == -1)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm) != 19)
		memcpy(stamp, "0000-00-00T00:00:00", 20);
	snprintf(stamp + 19, sizeof(stamp) - 19, ".%03ldZ ",
	    (ts.tv_nsec / 1000000) % 1000);
	memcpy(line, stamp, LOG_STAMP_LEN);
	if (!log_journal)
		(void)!write(STDERR_FILENO, line, LOG_STAMP_LEN + n + 1);
	if (fd != -1)
		(void)!write(fd, line, LOG_STAMP_LEN + n + 1);
}

/* A warning with the current errno's text appended. */
void
log_warn(const char *fmt, ...)
{
	va_list ap;
	char	buf[128];
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_SYSLOG_WARNING, "warning",
	    strerror_r(saved, buf, sizeof(buf)), 1, fmt, ap);
	va_end(ap);
	errno = saved;
}

/* A warning without errno. */
void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_SYSLOG_WARNING, "warning", NULL, 0, fmt, ap);
	va_end(ap);
}

/* An informational line: connects, closes, start-up. */
void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_SYSLOG_INFO, "info", NULL, 0, fmt, ap);
	va_end(ap);
}

/* A debug line, shown with -v. */
void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_level < LOG_LEVEL_DEBUG)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_SYSLOG_DEBUG, "debug", NULL, 0, fmt, ap);
	va_end(ap);
}

/* One character per frame for --traffic, as websockify prints them. */
void
log_traffic(char c)
{
	(void)!write(STDERR_FILENO, &c, 1);
}

/* Start-up failure or broken invariant, with errno: exit 1. */
void
fatal(const char *fmt, ...)
{
	va_list ap;
	char	buf[128];
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_SYSLOG_CRIT, "fatal",
	    strerror_r(saved, buf, sizeof(buf)), 1, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Start-up failure or broken invariant, without errno: exit 1. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_SYSLOG_CRIT, "fatal", NULL, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

/* A warning that goes to stderr and the log file only, never to syslog
 * (it is about syslog). */
static void
log_warnx_local(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(-1, "warning", NULL, 0, fmt, ap);
	va_end(ap);
}

/* Send body (n bytes, "level: message") to --syslog as one datagram that
 * never blocks; a line the server does not take is dropped and counted,
 * and said at most once per WSB_SYSLOG_WARN_SEC. */
static void
log_syslog_send(int sev, const char *body, size_t n)
{
	struct log_syslog_id id = log_sys_id;
	struct timespec	     now;
	char		     dgram[WSB_SYSLOG_MAX];
	size_t		     len;
	long		     last, t;
	char		     ebuf[128];
	int		     fd, saved = errno;

	/* getpid() per line: right whenever -D forks. */
	id.pid = (long)getpid();
	len = log_syslog_format(dgram, sizeof(dgram), &id, sev, time(NULL),
	    body, n);
	fd = atomic_load_explicit(&log_sys_fd, memory_order_relaxed);
	if (len == 0 || fd == -1 ||
	    sendto(fd, dgram, len, MSG_DONTWAIT | MSG_NOSIGNAL,
		(struct sockaddr *)&log_sys_addr, log_sys_addrlen) != -1) {
		errno = saved;
		return;
	}
	atomic_fetch_add(&log_sys_dropped, 1);
	clock_gettime(CLOCK_MONOTONIC, &now);
	t = (long)now.tv_sec + 1;
	last = atomic_load(&log_sys_warned);
	if ((last == 0 || t - last >= WSB_SYSLOG_WARN_SEC) &&
	    atomic_compare_exchange_strong(&log_sys_warned, &last, t))
		log_warnx_local(
		    "syslog %s: %s; %lu line(s) not sent since the "
		    "last warning (at most one warning a minute)",
		    log_sys_server, strerror_r(errno, ebuf, sizeof(ebuf)),
		    atomic_exchange(&log_sys_dropped, 0));
	errno = saved;
}

/* fd moved above stderr (so -D's dup2 of /dev/null onto 0-2 cannot take
 * it); fd itself if it is, or -1 (fd closed either way on failure). */
static int
log_fd_high(int fd)
{
	int fd2;

	if (fd == -1 || fd > STDERR_FILENO)
		return fd;
	fd2 = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	close(fd);
	return fd2;
}

/* Open path for appending, 0640; a descriptor, or -1 with errno. */
static int
log_file_open(const char *path)
{
	/* O_NONBLOCK: a FIFO there (no reader: ENXIO; one that stops
	 * reading: lines dropped) never blocks start-up, SIGUSR1 or a
	 * worker.  A regular file ignores it. */
	return log_fd_high(open(path,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640));
}

/* name made absolute (websockify's os.path.abspath: -D changes to /)
 * into dst; -1 if it does not fit. */
static int
log_abspath(char *dst, size_t dstlen, const char *name)
{
	char cwd[PATH_MAX];
	int  r;

	if (name[0] == '/')
		r = snprintf(dst, dstlen, "%s", name);
	else if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	else
		r = snprintf(dst, dstlen, "%s/%s", cwd, name);
	return r < 0 || (size_t)r >= dstlen ? -1 : 0;
}

/* Resolve --syslog SERVER into log_sys_addr (once, at start). */
static int
log_syslog_resolve(const char *server, char *err, size_t errlen)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&log_sys_addr;
	struct addrinfo	    hints, *res;
	char		    host[256], port[8];
	int		    kind, r;

	kind = log_syslog_parse_server(server, host, sizeof(host), port,
	    sizeof(port));
	if (kind == -1) {
		snprintf(err, errlen, "--syslog %s: not a path or host:port",
		    server);
		return -1;
	}
	if (kind == LOG_SYSLOG_PATH) {
		if (log_abspath(sun->sun_path, sizeof(sun->sun_path),
			server)) {
			snprintf(err, errlen, "--syslog %s: path too long",
			    server);
			return -1;
		}
		sun->sun_family = AF_UNIX;
		log_sys_addrlen = sizeof(*sun);
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "--syslog %s: %s", server,
		    gai_strerror(r));
		return -1;
	}
	memcpy(&log_sys_addr, res->ai_addr, res->ai_addrlen);
	log_sys_addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Open the --syslog socket: non-blocking, unconnected (each line is sent
 * to the address, so a syslogd that restarts is found again). */
static int
log_syslog_open(const struct config *cfg, char *err, size_t errlen)
{
	int fd;

	if (log_syslog_resolve(cfg->syslog, err, errlen) == -1)
		return -1;
	fd = log_fd_high(socket(log_sys_addr.ss_family,
	    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (fd == -1) {
		snprintf(err, errlen, "--syslog %s: socket: %s", cfg->syslog,
		    strerror(errno));
		return -1;
	}
	if (gethostname(log_sys_host, sizeof(log_sys_host)) == -1)
		log_sys_host[0] = '\0';
	log_sys_host[sizeof(log_sys_host) - 1] = '\0';
	log_sys_server = cfg->syslog;
	log_sys_id.facility = cfg->daemon ? LOG_SYSLOG_DAEMON :
					    LOG_SYSLOG_USER;
	log_sys_id.hostname = log_sys_host;
	log_sys_id.app = "wsbridge";
	log_sys_id.legacy = cfg->legacy_syslog;
	atomic_store(&log_sys_fd, fd);
	return 0;
}

/* Whether stderr is the journal (JOURNAL_STREAM names it). */
static int
log_journal_is_stderr(void)
{
	struct stat st;

	return fstat(STDERR_FILENO, &st) == 0 &&
	    log_syslog_journal_names(getenv("JOURNAL_STREAM"),
		(unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
}

/* Open the sinks cfg asks for; see log.h. */
int
log_open(const struct config *cfg, char *err, size_t errlen)
{
	int fd;

	log_journal = log_journal_is_stderr();
	if (cfg->log_file != NULL) {
		if (log_abspath(log_file_path, sizeof(log_file_path),
			cfg->log_file) == -1) {
			snprintf(err, errlen, "--log-file %s: path too long",
			    cfg->log_file);
			return -1;
		}
		if ((fd = log_file_open(log_file_path)) == -1) {
			snprintf(err, errlen, "--log-file %s: %s",
			    cfg->log_file, strerror(errno));
			log_file_path[0] = '\0';
			return -1;
		}
		atomic_store(&log_file_fd, fd);
	}
	if (cfg->syslog != NULL && log_syslog_open(cfg, err, errlen) == -1) {
		log_close();
		return -1;
	}
	return 0;
}

/* SIGUSR1: open the log file anew by name and put it under the same
 * descriptor; see log.h. */
void
log_reopen(void)
{
	int fd, cur;

	cur = atomic_load(&log_file_fd);
	if (cur == -1) {
		log_info("got SIGUSR1: no --log-file to reopen");
		return;
	}
	if ((fd = log_file_open(log_file_path)) == -1) {
		log_warn("got SIGUSR1: cannot reopen %s, still writing to the "
			 "old file",
		    log_file_path);
		return;
	}
	/* The new file's first line says why it exists; then dup2 swaps
	 * the file atomically for concurrent writers. */
	log_file_next = fd;
	log_info("got SIGUSR1: reopened %s", log_file_path);
	log_file_next = -1;
	if (dup2(fd, cur) == -1)
		log_warn("got SIGUSR1: dup2 onto the log file");
	close(fd);
}

/* Close the log file and the syslog socket; see log.h. */
void
log_close(void)
{
	int fd;

	if ((fd = atomic_exchange(&log_file_fd, -1)) != -1)
		close(fd);
	if ((fd = atomic_exchange(&log_sys_fd, -1)) != -1)
		close(fd);
	log_file_path[0] = '\0';
	log_journal = 0;
}
