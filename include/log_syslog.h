/* Syslog message framing (RFC 5424 and the legacy local form), pure. */
#ifndef WSB_LOG_SYSLOG_H
#define WSB_LOG_SYSLOG_H

#include <stddef.h>
#include <time.h>

/* Facilities (RFC 5424 6.2.1, table 1): websockify sends daemon with -D,
 * else user. */
#define LOG_SYSLOG_USER 1
#define LOG_SYSLOG_DAEMON 3

/* Severities (RFC 5424 6.2.1, table 2) that wsbridge's levels map to:
 * fatal/fatalx, log_warn/log_warnx, log_info, log_debug. */
#define LOG_SYSLOG_CRIT 2
#define LOG_SYSLOG_WARNING 4
#define LOG_SYSLOG_INFO 6
#define LOG_SYSLOG_DEBUG 7

/* Who sends: the fixed fields of every message. */
struct log_syslog_id {
	int	    facility; /* LOG_SYSLOG_USER or LOG_SYSLOG_DAEMON */
	const char *hostname; /* gethostname(); NULL or "" sends "-" */
	const char *app;      /* APP-NAME, "wsbridge" */
	long	    pid;      /* PROCID */
	int	    legacy;   /* 1: <PRI>APP[PID]: MSG */
};

/*
 * Build one syslog datagram into dst (dstlen bytes; not NUL-terminated):
 *   RFC 5424:  "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - MSG"
 *   legacy:    "<PRI>APP-NAME[PROCID]: MSG"
 * as websockify's sysloghandler.py frames them: PRI = facility * 8 +
 * severity (severity 0..7; out of range is clamped), TIMESTAMP now in
 * UTC as "%Y-%m-%dT%H:%M:%SZ", each LF or CR in msg sent as a space, no
 * trailing newline (a datagram is one message, RFC 5426 3.1).
 * Where websockify breaks RFC 5424 (6.2) this does not: HOSTNAME and
 * APP-NAME keep only PRINTUSASCII (other bytes become '_'; at most 255
 * and 48 characters), an empty HOSTNAME is the NILVALUE "-".  A msg that
 * holds non-ASCII bytes and is valid UTF-8 is sent after a BOM
 * (MSG-UTF8, 6.4; websockify does the same); otherwise as MSG-ANY.  The
 * legacy form (RFC 3164 as local syslogds read it) never gets a BOM.
 * msg (msglen bytes, need not be NUL-terminated) is cut to fit dstlen,
 * never inside a UTF-8 sequence (when a UTF-8 part and its BOM do not
 * fit, only the ASCII before it is sent).
 * Returns the datagram's length, or 0 if dstlen cannot hold the header
 * (with one byte to spare).  No allocation, no I/O; safe from any thread.
 */
size_t log_syslog_format(char *dst, size_t dstlen,
    const struct log_syslog_id *id, int severity, time_t now, const char *msg,
    size_t msglen);

/* Whether s[0..len) is well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
int log_syslog_utf8_valid(const char *s, size_t len);

/*
 * Split --syslog SERVER as websockify reads it: a value holding ':' is
 * "host:port" (split at the last ':'; an IPv6 literal may be written in
 * brackets, "[::1]:514", or bare, "::1:514"), anything else a Unix
 * socket path; a value starting with '/' is always a path.  host (hostlen
 * bytes) gets the host without brackets, port (portlen) the port.
 * Returns LOG_SYSLOG_PATH, LOG_SYSLOG_INET, or -1 when the host is
 * empty or too long, or the port is not a number in 1..65535
 * (websockify: "Error parsing syslog port").
 */
#define LOG_SYSLOG_PATH 0
#define LOG_SYSLOG_INET 1
int log_syslog_parse_server(const char *server, char *host, size_t hostlen,
    char *port, size_t portlen);

/* Whether env, JOURNAL_STREAM's value ("DEV:INODE", systemd.exec(5)),
 * names the file dev and ino: then stderr is the journal, and lines get
 * sd-daemon(3) "<N>" prefixes.  NULL or malformed: 0. */
int log_syslog_journal_names(const char *env, unsigned long long dev,
    unsigned long long ino);

#endif
