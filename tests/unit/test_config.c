/* Unit tests for the command line parser (src/config.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strcasestr, strndup */
#endif

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "http.h"
#include "wsb_config.h"
#include "wsb_limits.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define MAXARGS 16

/* argv for "wsbridge" plus args split at spaces, each string on the heap
 * so ASan sees a read before or after one. */
struct args {
	int   argc;
	char *argv[MAXARGS + 1];
};

static void
args_make(struct args *a, const char *line)
{
	char *copy, *tok, *save;

	a->argc = 0;
	a->argv[a->argc++] = strdup("wsbridge");
	copy = strdup(line);
	cr_assert(copy != NULL);
	for (tok = strtok_r(copy, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		cr_assert(a->argc < MAXARGS, "too many args in '%s'", line);
		a->argv[a->argc++] = strdup(tok);
	}
	a->argv[a->argc] = NULL;
	free(copy);
}

/* getopt_long permutes argv: free every string it was given. */
static void
args_free(struct args *a, char **orig, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(orig[i]);
	a->argc = 0;
}

/* struct config (but workers) in one line, to compare with a table. */
static void
config_dump(const struct config *c, char *out, size_t len)
{
	snprintf(out, len,
	    "L=%s:%s T=%s:%s U=%s v%d t%d r%d to%d it%d hb%d "
	    "6=%d",
	    c->listen_host ? c->listen_host : "-",
	    c->listen_port ? c->listen_port : "-",
	    c->target_host ? c->target_host : "-",
	    c->target_port ? c->target_port : "-",
	    c->unix_target ? c->unix_target : "-", c->verbose, c->traffic,
	    c->run_once, c->timeout, c->idle_timeout, c->heartbeat,
	    c->prefer_ipv6);
}

/* Default fields, for cases that only move the addresses. */
#define D "v0 t0 r0 to0 it0 hb0 6=0"

struct parse_case {
	const char *desc;
	const char *args;
	int	    ret;
	const char *dump;    /* with CONFIG_OK */
	int	    workers; /* with CONFIG_OK; 0: not checked */
};

static const struct parse_case parse_cases[] = {
	{ "bare listen port", "6080 localhost:5900", CONFIG_OK,
	    "L=-:6080 T=localhost:5900 U=- " D },
	{ "IPv4 listen, IPv6 target", "127.0.0.1:6080 [::1]:5900", CONFIG_OK,
	    "L=127.0.0.1:6080 T=::1:5900 U=- " D },
	{ "IPv6 listen", "[::1]:6080 host:1", CONFIG_OK,
	    "L=::1:6080 T=host:1 U=- " D },
	{ "port 65535 both", "65535 h:65535", CONFIG_OK,
	    "L=-:65535 T=h:65535 U=- " D },
	{ "-v", "-v 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v1 t0 r0 to0 it0 hb0 6=0" },
	{ "--verbose", "--verbose 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v1 t0 r0 to0 it0 hb0 6=0" },
	{ "--traffic", "--traffic 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v0 t1 r0 to0 it0 hb0 6=0" },
	{ "--run-once", "--run-once 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v0 t0 r1 to0 it0 hb0 6=0" },
	{ "--timeout 30", "--timeout 30 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v0 t0 r0 to30 it0 hb0 6=0" },
	{ "--timeout=30", "--timeout=30 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v0 t0 r0 to30 it0 hb0 6=0" },
	{ "--idle-timeout 5", "--idle-timeout 5 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v0 t0 r0 to0 it5 hb0 6=0" },
	{ "--heartbeat 10", "--heartbeat 10 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v0 t0 r0 to0 it0 hb10 6=0" },
	{ "-6", "-6 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v0 t0 r0 to0 it0 hb0 6=1" },
	{ "--prefer-ipv6", "--prefer-ipv6 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v0 t0 r0 to0 it0 hb0 6=1" },
	{ "--unix-target, no target", "--unix-target /tmp/vnc.sock 6080",
	    CONFIG_OK, "L=-:6080 T=-:- U=/tmp/vnc.sock " D },
	{ "--workers 4", "--workers 4 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- " D, 4 },
	{ "--workers at the limit", "--workers 256 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- " D, WSB_MAX_WORKERS },
	{ "every option",
	    "-v --traffic --run-once --timeout 1 "
	    "--idle-timeout 2 --heartbeat 3 -6 --workers 2 [::]:6080 "
	    "[fe80::1]:5900",
	    CONFIG_OK, "L=:::6080 T=fe80::1:5900 U=- v1 t1 r1 to1 it2 hb3 6=1",
	    2 },
	{ "-- starts the command to wrap (websockify: the first address is "
	  "the source, the rest the command)",
	    "-v -- 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=-:- U=- v1 t0 r0 to0 it0 hb0 6=0" },
	{ "options after the addresses (websockify, novnc_proxy)",
	    "6080 h:1 --heartbeat 30 --idle-timeout 60", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v0 t0 r0 to0 it60 hb30 6=0" },
	{ "-v between the addresses", "6080 -v h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v1 t0 r0 to0 it0 hb0 6=0" },
	{ "-h", "-h", CONFIG_HELP },
	{ "--help", "--help", CONFIG_HELP },
	{ "--help with addresses", "--help 6080 h:1", CONFIG_HELP },
	{ "--version", "--version", CONFIG_VERSION },
	{ "no arguments", "", CONFIG_ERROR },
	{ "missing target", "6080", CONFIG_ERROR },
	{ "listen port 0", "0 localhost:5900", CONFIG_ERROR },
	{ "listen port 70000", "70000 localhost:5900", CONFIG_ERROR },
	{ "listen port 65536", "65536 localhost:5900", CONFIG_ERROR },
	{ "listen port abc", "abc localhost:5900", CONFIG_ERROR },
	{ "listen port -1", "h:-1 localhost:5900", CONFIG_ERROR },
	{ "listen port with junk", "6080x localhost:5900", CONFIG_ERROR },
	{ "target port 0", "6080 localhost:0", CONFIG_ERROR },
	{ "target port 70000", "6080 localhost:70000", CONFIG_ERROR },
	{ "target port abc", "6080 localhost:abc", CONFIG_ERROR },
	{ "target port empty", "6080 localhost:", CONFIG_ERROR },
	{ "target without port", "6080 localhost", CONFIG_ERROR },
	{ "--heartbeat x", "--heartbeat x 6080 h:1", CONFIG_ERROR },
	{ "--heartbeat 10x", "--heartbeat 10x 6080 h:1", CONFIG_ERROR },
	{ "--heartbeat -1", "--heartbeat -1 6080 h:1", CONFIG_ERROR },
	{ "--timeout abc", "--timeout abc 6080 h:1", CONFIG_ERROR },
	{ "--timeout past INT_MAX", "--timeout 99999999999 6080 h:1",
	    CONFIG_ERROR },
	{ "--idle-timeout empty", "--idle-timeout= 6080 h:1", CONFIG_ERROR },
	{ "--workers 0", "--workers 0 6080 h:1", CONFIG_ERROR },
	{ "--workers x", "--workers x 6080 h:1", CONFIG_ERROR },
	{ "--timeout without a value", "--timeout", CONFIG_ERROR },
	{ "--unix-target without a value", "--unix-target", CONFIG_ERROR },
	{ "unknown long option", "--bogus 6080 h:1", CONFIG_ERROR },
	{ "unknown short option", "-x 6080 h:1", CONFIG_ERROR },
	{ "value for a flag", "--verbose=1 6080 h:1", CONFIG_ERROR },
	{ "too many positionals", "6080 a:1 b:2", CONFIG_ERROR },
	{ "--unix-target and a target", "--unix-target /s 6080 h:1",
	    CONFIG_ERROR },
	{ "--unix-target without listen", "--unix-target /s", CONFIG_ERROR },
	{ "--unix-target empty", "--unix-target= 6080", CONFIG_ERROR },
	{ "listen [::1 unterminated", "[::1:6080 h:1", CONFIG_ERROR },
	{ "target [::1 unterminated", "6080 [::1", CONFIG_ERROR },
	{ "target [::1] without port", "6080 [::1]", CONFIG_ERROR },
	{ "target [::1]5900 without colon", "6080 [::1]5900", CONFIG_ERROR },
	{ "target []:5900 empty address", "6080 []:5900", CONFIG_ERROR },
};

/* Run one case; optind reset is config_parse's job, not ours. */
static void
run_case(const struct parse_case *c)
{
	struct config cfg;
	struct args   a;
	char	     *orig[MAXARGS + 1], err[256], dump[512];
	int	      ret, n;

	args_make(&a, c->args);
	n = a.argc;
	memcpy(orig, a.argv, sizeof(orig));
	memset(&cfg, 0, sizeof(cfg));
	memset(err, 0, sizeof(err));
	ret = config_parse(a.argc, a.argv, &cfg, err, sizeof(err));
	cr_expect_eq(ret, c->ret, "%s: '%s' returned %d, want %d (err '%s')",
	    c->desc, c->args, ret, c->ret, err);
	if (ret == CONFIG_ERROR && c->ret == CONFIG_ERROR)
		cr_expect(err[0] != '\0', "%s: error without a message",
		    c->desc);
	if (ret == CONFIG_OK && c->ret == CONFIG_OK) {
		config_dump(&cfg, dump, sizeof(dump));
		cr_expect_str_eq(dump, c->dump,
		    "%s: '%s' gave '%s', want '%s'", c->desc, c->args, dump,
		    c->dump);
		if (c->workers != 0)
			cr_expect_eq(cfg.workers, c->workers,
			    "%s: workers %d, want %d", c->desc, cfg.workers,
			    c->workers);
		else
			cr_expect(cfg.workers >= 1 &&
				cfg.workers <= WSB_MAX_WORKERS,
			    "%s: default workers %d", c->desc, cfg.workers);
		config_free(&cfg);
	}
	args_free(&a, orig, n);
}

Test(config_parse, table)
{
	size_t i;

	for (i = 0; i < NELEM(parse_cases); i++)
		run_case(&parse_cases[i]);
}

/* One service case: args, then what the fields must be. */
struct service_case {
	const char *desc;
	const char *args;
	int	    ret;
	const char *wrap; /* the command to wrap, words joined by ' ' */
	const char *listen_port, *target_port;
	int	    daemon, inetd, mode, wrap_mode, legacy;
	const char *log_file, *pid_file, *record, *unix_listen, *syslog;
};

static const struct service_case service_cases[] = {
	{ "wrap", "6080 -- Xvnc :1 -rfbport 6080", CONFIG_OK,
	    "Xvnc :1 -rfbport 6080", "6080", NULL, 0, 0, 0600 },
	{ "wrap, options before and after the source",
	    "-v 6080 --wrap-mode respawn -- cmd -v --x", CONFIG_OK,
	    "cmd -v --x", "6080", NULL, 0, 0, 0600, CONFIG_WRAP_RESPAWN },
	{ "wrap: addresses before -- join the command (websockify)",
	    "6080 a -- b", CONFIG_OK, "a b", "6080", NULL, 0, 0, 0600 },
	{ "-- as an option's value is no wrap", "--log-file -- 6080 h:1",
	    CONFIG_OK, NULL, "6080", "1", 0, 0, 0600, 0, 0, "--" },
	{ "--wrap-mode ignore", "--wrap-mode ignore 1 -- c", CONFIG_OK, "c",
	    "1", NULL, 0, 0, 0600, CONFIG_WRAP_IGNORE },
	{ "--wrap-mode bad", "--wrap-mode again 1 -- c", CONFIG_ERROR },
	{ "nothing after --", "6080 --", CONFIG_ERROR },
	{ "no source before the command", "--", CONFIG_ERROR },
	{ "wrap and --unix-target", "--unix-target /s 6080 -- c",
	    CONFIG_ERROR },
	{ "wrap and --inetd", "--inetd 6080 -- c", CONFIG_ERROR },
	{ "-D, --pid-file, --log-file, --record",
	    "-D --pid-file /run/w.pid --log-file w.log --record rec 6080 h:1",
	    CONFIG_OK, NULL, "6080", "1", 1, 0, 0600, 0, 0, "w.log",
	    "/run/w.pid", "rec" },
	{ "--syslog --legacy-syslog",
	    "--syslog /dev/log --legacy-syslog 1 h:2", CONFIG_OK, NULL, "1",
	    "2", 0, 0, 0600, 0, 1, NULL, NULL, NULL, NULL, "/dev/log" },
	{ "--legacy-syslog alone", "--legacy-syslog 1 h:2", CONFIG_ERROR },
	{ "--inetd: one address, the target", "--inetd h:5900", CONFIG_OK,
	    NULL, NULL, "5900", 0, 1, 0600 },
	{ "--inetd with a source too", "--inetd 6080 h:5900", CONFIG_ERROR },
	{ "--unix-listen: the target only",
	    "--unix-listen /run/ws.sock --unix-listen-mode 660 h:5900",
	    CONFIG_OK, NULL, NULL, "5900", 0, 0, 0660, 0, 0, NULL, NULL, NULL,
	    "/run/ws.sock" },
	{ "--unix-listen-mode 0o7777 limit",
	    "--unix-listen-mode 7777 "
	    "--unix-listen /s h:1",
	    CONFIG_OK, NULL, NULL, "1", 0, 0, 07777, 0, 0, NULL, NULL, NULL,
	    "/s" },
	{ "--unix-listen-mode 8 is not octal",
	    "--unix-listen-mode 8 "
	    "--unix-listen /s h:1",
	    CONFIG_ERROR },
	{ "--unix-listen-mode 10000",
	    "--unix-listen-mode 10000 "
	    "--unix-listen /s h:1",
	    CONFIG_ERROR },
	{ "--inetd and --unix-listen", "--inetd --unix-listen /s h:1",
	    CONFIG_ERROR },
	{ "--libserver accepted", "--libserver 1 h:2", CONFIG_OK, NULL, "1",
	    "2", 0, 0, 0600 },
};

/* The command to wrap, its words joined by ' ', in out. */
static void
service_wrap_words(char *const *w, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (; *w != NULL && n < len; w++)
		n += (size_t)snprintf(out + n, len - n, "%s%s",
		    n > 0 ? " " : "", *w);
}

/* NULL-safe string equality for the expectations. */
static int
service_str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Run one service case (LISTEN_FDS unset). */
static void
service_run(const struct service_case *c)
{
	struct config cfg;
	struct args   a;
	char	     *orig[MAXARGS + 1], err[256], words[256];
	int	      ret, n;

	args_make(&a, c->args);
	n = a.argc;
	memcpy(orig, a.argv, sizeof(orig));
	ret = config_parse(a.argc, a.argv, &cfg, err, sizeof(err));
	cr_expect_eq(ret, c->ret, "%s: '%s' returned %d (err '%s')", c->desc,
	    c->args, ret, err);
	if (ret == CONFIG_OK && c->ret == CONFIG_OK) {
		cr_expect_eq(cfg.wrap_cmd == NULL, c->wrap == NULL, "%s",
		    c->desc);
		if (cfg.wrap_cmd != NULL && c->wrap != NULL) {
			service_wrap_words(cfg.wrap_cmd, words, sizeof(words));
			cr_expect_str_eq(words, c->wrap, "%s", c->desc);
		}
		cr_expect(service_str_eq(cfg.listen_port, c->listen_port) &&
			service_str_eq(cfg.target_port, c->target_port) &&
			service_str_eq(cfg.log_file, c->log_file) &&
			service_str_eq(cfg.pid_file, c->pid_file) &&
			service_str_eq(cfg.record, c->record) &&
			service_str_eq(cfg.unix_listen, c->unix_listen) &&
			service_str_eq(cfg.syslog, c->syslog),
		    "%s: a string field differs", c->desc);
		cr_expect(cfg.daemon == c->daemon && cfg.inetd == c->inetd &&
			cfg.unix_listen_mode == c->mode &&
			cfg.wrap_mode == c->wrap_mode &&
			cfg.legacy_syslog == c->legacy,
		    "%s: a flag differs", c->desc);
		config_free(&cfg);
	} else if (ret == CONFIG_ERROR)
		cr_expect(err[0] != '\0', "%s: no message", c->desc);
	args_free(&a, orig, n);
}

Test(config_parse, service_options)
{
	size_t i;

	unsetenv("LISTEN_FDS");
	for (i = 0; i < NELEM(service_cases); i++)
		service_run(&service_cases[i]);
}

/* Socket activation (LISTEN_FDS for this pid): the source may be left
 * out, or given and kept (main does not bind it). */
Test(config_parse, socket_activation_source_optional)
{
	static const char *lines[] = { "h:5900", "6080 h:5900" };
	struct config	   cfg;
	struct args	   a;
	char		  *orig[MAXARGS + 1], err[256], pid[32];
	size_t		   i;
	int		   n;

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	for (i = 0; i < NELEM(lines); i++) {
		args_make(&a, lines[i]);
		n = a.argc;
		memcpy(orig, a.argv, sizeof(orig));
		cr_assert_eq(config_parse(a.argc, a.argv, &cfg, err,
				 sizeof(err)),
		    CONFIG_OK, "'%s': %s", lines[i], err);
		cr_expect(cfg.listen_fds == 1);
		cr_expect_str_eq(cfg.target_port, "5900");
		cr_expect_eq(cfg.listen_port == NULL, i == 0);
		config_free(&cfg);
		args_free(&a, orig, n);
	}
	/* Passed to another process: not ours, the source is needed. */
	setenv("LISTEN_PID", "1", 1);
	args_make(&a, "h:5900");
	n = a.argc;
	memcpy(orig, a.argv, sizeof(orig));
	cr_expect_eq(config_parse(a.argc, a.argv, &cfg, err, sizeof(err)),
	    CONFIG_ERROR);
	args_free(&a, orig, n);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
}

/* The table again in reverse order in the same process: each call
 * must start getopt afresh whatever the call before left behind. */
Test(config_parse, repeatable_in_one_process)
{
	size_t i;

	for (i = NELEM(parse_cases); i > 0; i--)
		run_case(&parse_cases[i - 1]);
}

/* A missing option value is reported as such, not as unknown. */
Test(config_parse, missing_value_message)
{
	static const char *lines[] = { "--timeout", "--heartbeat", "--workers",
		"--unix-target", "-v --idle-timeout" };
	struct config	   cfg;
	struct args	   a;
	char		  *orig[MAXARGS + 1], err[256];
	size_t		   i;
	int		   n;

	for (i = 0; i < NELEM(lines); i++) {
		args_make(&a, lines[i]);
		n = a.argc;
		memcpy(orig, a.argv, sizeof(orig));
		memset(&cfg, 0, sizeof(cfg));
		err[0] = '\0';
		cr_expect_eq(config_parse(a.argc, a.argv, &cfg, err,
				 sizeof(err)),
		    CONFIG_ERROR, "'%s' accepted", lines[i]);
		cr_expect(strstr(err, "unknown") == NULL,
		    "'%s': message '%s' calls a known option unknown",
		    lines[i], err);
		args_free(&a, orig, n);
	}
}

/* A short err buffer gets a truncated, terminated message. */
Test(config_parse, short_error_buffer)
{
	struct config cfg;
	struct args   a;
	char	     *orig[MAXARGS + 1], err[16];
	int	      n;

	args_make(&a, "--workers 0 6080 h:1");
	n = a.argc;
	memcpy(orig, a.argv, sizeof(orig));
	memset(err, 'Z', sizeof(err));
	cr_expect_eq(config_parse(a.argc, a.argv, &cfg, err, 8), CONFIG_ERROR);
	cr_expect(memchr(err, '\0', 8) != NULL, "message not terminated");
	cr_expect(err[8] == 'Z', "wrote past errlen");
	args_free(&a, orig, n);
}

/* After an error cfg holds nothing to free twice. */
Test(config_parse, free_after_error)
{
	struct config cfg;
	struct args   a;
	char	     *orig[MAXARGS + 1], err[256];
	int	      n;

	args_make(&a, "--unix-target /s 127.0.0.1:6080 h:1");
	n = a.argc;
	memcpy(orig, a.argv, sizeof(orig));
	cr_expect_eq(config_parse(a.argc, a.argv, &cfg, err, sizeof(err)),
	    CONFIG_ERROR);
	config_free(&cfg);
	cr_expect(cfg.listen_host == NULL && cfg.unix_target == NULL,
	    "pointers left behind after an error");
	args_free(&a, orig, n);
}

/* config_help names every option; config_usage is one or two lines. */
Test(config_help, names_every_option)
{
	static const char *opts[] = { "--help", "--version", "--verbose",
		"--traffic", "--run-once", "--timeout", "--idle-timeout",
		"--heartbeat", "--prefer-ipv6", "--unix-target", "--workers" };
	const char	  *h = config_help();
	size_t		   i;

	cr_assert(h != NULL);
	for (i = 0; i < NELEM(opts); i++)
		cr_expect(strstr(h, opts[i]) != NULL, "help lacks %s",
		    opts[i]);
	cr_expect(config_usage() != NULL &&
		strncmp(config_usage(), "usage:", 6) == 0,
	    "usage line");
}

/* http_split_authority on its own. host NULL: a bare port. */
struct split_case {
	const char *desc;
	const char *s;
	int	    port_only_ok;
	int	    ret;
	const char *host;
	const char *port;
};

static const struct split_case split_cases[] = {
	{ "name and port", "localhost:5900", 0, 0, "localhost", "5900" },
	{ "IPv4 and port", "10.0.0.1:1", 0, 0, "10.0.0.1", "1" },
	{ "IPv6 bracketed", "[::1]:5900", 0, 0, "::1", "5900" },
	{ "IPv6 full bracketed", "[2001:db8::7]:65535", 1, 0, "2001:db8::7",
	    "65535" },
	{ "unbracketed IPv6 splits at last colon", "::1:5900", 0, 0, "::1",
	    "5900" },
	{ "bare port allowed", "6080", 1, 0, NULL, "6080" },
	{ "bare port refused", "6080", 0, -1 },
	{ "empty host, bare port allowed", ":6080", 1, 0, NULL, "6080" },
	{ "empty host refused", ":6080", 0, -1 },
	{ "empty string", "", 1, -1 },
	{ "port 0", "h:0", 0, -1 },
	{ "port 65536", "h:65536", 0, -1 },
	{ "port 70000", "h:70000", 0, -1 },
	{ "port abc", "h:abc", 0, -1 },
	{ "port empty", "h:", 0, -1 },
	{ "port with sign", "h:+80", 0, -1 },
	{ "port with blank", "h: 80", 0, -1 },
	{ "bare port 0", "0", 1, -1 },
	{ "bare port abc", "abc", 1, -1 },
	{ "[::1 unterminated", "[::1", 0, -1 },
	{ "[::1]:5900 unterminated", "[::1:5900", 0, -1 },
	{ "[::1] without port", "[::1]", 0, -1 },
	{ "[::1]5900 without colon", "[::1]5900", 0, -1 },
	{ "[] empty address", "[]:5900", 0, -1 },
	{ "[::1]: empty port", "[::1]:", 0, -1 },
};

Test(http_split_authority, table)
{
	const struct split_case *c;
	char			*host, *port, *s, err[256];
	size_t			 i;
	int			 ret;

	for (i = 0; i < NELEM(split_cases); i++) {
		c = &split_cases[i];
		s = strdup(c->s); /* on the heap: ASan sees s[-1] */
		host = port = (char *)"unset";
		err[0] = '\0';
		ret = http_split_authority(s, &host, &port, c->port_only_ok,
		    err, sizeof(err));
		cr_expect_eq(ret, c->ret, "%s: '%s' returned %d (%s)", c->desc,
		    c->s, ret, err);
		if (ret == 0 && c->ret == 0) {
			cr_expect(c->host == NULL ?
				host == NULL :
				host != NULL && strcmp(host, c->host) == 0,
			    "%s: host '%s', want '%s'", c->desc,
			    host ? host : "(null)",
			    c->host ? c->host : "(null)");
			cr_expect(port != NULL && strcmp(port, c->port) == 0,
			    "%s: port '%s', want '%s'", c->desc,
			    port ? port : "(null)", c->port);
			free(host);
			free(port);
		} else if (ret != 0)
			cr_expect(err[0] != '\0', "%s: no message", c->desc);
		free(s);
	}
}

/*
 * TLS, web and auth options.  tls_dump is struct config's TLS, web and
 * auth fields in one line; "-" for NULL.  The addresses are "6080 h:1"
 * unless the case gives them.
 */
static void
tls_dump(const struct config *c, char *out, size_t len)
{
	snprintf(out, len,
	    "cert=%s/%d key=%s pw=%s only%d ver=%x "
	    "ciphers=%s vc%d ca=%s st%d sti%d stca=%s web=%s fo%d wa%d "
	    "ap%d as=%s",
	    c->cert ? c->cert : "-", c->cert_given, c->key ? c->key : "-",
	    c->key_password ? c->key_password : "-", c->ssl_only,
	    c->ssl_min_version, c->ssl_ciphers ? c->ssl_ciphers : "-",
	    c->verify_client, c->cafile ? c->cafile : "-", c->ssl_target,
	    c->ssl_target_insecure,
	    c->ssl_target_cafile ? c->ssl_target_cafile : "-",
	    c->web ? c->web : "-", c->file_only, c->web_auth, c->auth_plugin,
	    c->auth_source ? c->auth_source : "-");
}

/* The defaults, cut in two where the cases change a field. */
#define T_CERT "cert=self.pem/0 key=- pw=-"
#define T_SSL "only0 ver=303 ciphers=- vc0 ca=- st0 sti0 stca=-"
#define T_WEB "web=- fo0 wa0 ap0 as=-"
#define T_DEF T_CERT " " T_SSL " " T_WEB

struct tls_case {
	const char *desc;
	const char *args;
	int	    ret;
	const char *dump; /* with CONFIG_OK */
};

static const struct tls_case tls_cases[] = {
	{ "defaults", "6080 h:1", CONFIG_OK, T_DEF },
	{ "--cert", "--cert c.pem 6080 h:1", CONFIG_OK,
	    "cert=c.pem/1 key=- pw=- " T_SSL " " T_WEB },
	{ "--cert self.pem is given", "--cert self.pem 6080 h:1", CONFIG_OK,
	    "cert=self.pem/1 key=- pw=- " T_SSL " " T_WEB },
	{ "--cert twice: the last", "--cert a.pem --cert b.pem 6080 h:1",
	    CONFIG_OK, "cert=b.pem/1 key=- pw=- " T_SSL " " T_WEB },
	{ "--cert=FILE", "--cert=c.pem 6080 h:1", CONFIG_OK,
	    "cert=c.pem/1 key=- pw=- " T_SSL " " T_WEB },
	{ "--key", "--cert c.pem --key k.pem 6080 h:1", CONFIG_OK,
	    "cert=c.pem/1 key=k.pem pw=- " T_SSL " " T_WEB },
	{ "--key-password", "--key-password s3cret 6080 h:1", CONFIG_OK,
	    "cert=self.pem/0 key=- pw=s3cret " T_SSL " " T_WEB },
	{ "--ssl-only", "--ssl-only 6080 h:1", CONFIG_OK,
	    T_CERT
	    " only1 ver=303 ciphers=- vc0 ca=- st0 sti0 stca=- " T_WEB },
	{ "--ssl-version default", "--ssl-version default 6080 h:1", CONFIG_OK,
	    T_DEF },
	{ "--ssl-version tlsv1_1", "--ssl-version tlsv1_1 6080 h:1", CONFIG_OK,
	    T_CERT " only0 ver=302 ciphers=- vc0 ca=- st0 sti0 "
		   "stca=- " T_WEB },
	{ "--ssl-version tlsv1_2", "--ssl-version tlsv1_2 6080 h:1", CONFIG_OK,
	    T_DEF },
	{ "--ssl-version tlsv1_3", "--ssl-version tlsv1_3 6080 h:1", CONFIG_OK,
	    T_CERT " only0 ver=304 ciphers=- vc0 ca=- st0 sti0 "
		   "stca=- " T_WEB },
	{ "--ssl-version=tlsv1_3", "--ssl-version=tlsv1_3 6080 h:1", CONFIG_OK,
	    T_CERT " only0 ver=304 ciphers=- vc0 ca=- st0 sti0 "
		   "stca=- " T_WEB },
	{ "--ssl-ciphers", "--ssl-ciphers ECDHE+AESGCM:!aNULL 6080 h:1",
	    CONFIG_OK,
	    T_CERT " only0 ver=303 ciphers=ECDHE+AESGCM:!aNULL "
		   "vc0 ca=- st0 sti0 stca=- " T_WEB },
	{ "--verify-client --cafile",
	    "--verify-client --cafile ca.pem "
	    "6080 h:1",
	    CONFIG_OK,
	    T_CERT " only0 ver=303 ciphers=- vc1 "
		   "ca=ca.pem st0 sti0 stca=- " T_WEB },
	{ "--cafile alone", "--cafile ca.pem 6080 h:1", CONFIG_OK,
	    T_CERT
	    " only0 ver=303 ciphers=- vc0 ca=ca.pem st0 sti0 stca=- " T_WEB },
	{ "--ssl-target", "--ssl-target 6080 h:1", CONFIG_OK,
	    T_CERT
	    " only0 ver=303 ciphers=- vc0 ca=- st1 sti0 stca=- " T_WEB },
	{ "--ssl-target-insecure implies --ssl-target",
	    "--ssl-target-insecure 6080 h:1", CONFIG_OK,
	    T_CERT
	    " only0 ver=303 ciphers=- vc0 ca=- st1 sti1 stca=- " T_WEB },
	{ "--ssl-target-cafile implies --ssl-target",
	    "--ssl-target-cafile t.pem 6080 h:1", CONFIG_OK,
	    T_CERT
	    " only0 ver=303 ciphers=- vc0 ca=- st1 sti0 stca=t.pem " T_WEB },
	{ "--web", "--web /srv/novnc 6080 h:1", CONFIG_OK,
	    T_CERT " " T_SSL " web=/srv/novnc fo0 wa0 ap0 as=-" },
	{ "--web --file-only", "--web /w --file-only 6080 h:1", CONFIG_OK,
	    T_CERT " " T_SSL " web=/w fo1 wa0 ap0 as=-" },
	{ "--auth-plugin BasicHTTPAuth",
	    "--auth-plugin BasicHTTPAuth "
	    "--auth-source u:p 6080 h:1",
	    CONFIG_OK, T_CERT " " T_SSL " web=- fo0 wa0 ap1 as=u:p" },
	{ "--auth-plugin with websockify's module path",
	    "--auth-plugin websockify.auth_plugins.BasicHTTPAuth "
	    "--auth-source u:p 6080 h:1",
	    CONFIG_OK, T_CERT " " T_SSL " web=- fo0 wa0 ap1 as=u:p" },
	{ "BasicHTTPAuth password holding ':'",
	    "--auth-plugin "
	    "BasicHTTPAuth --auth-source u:p:q 6080 h:1",
	    CONFIG_OK, T_CERT " " T_SSL " web=- fo0 wa0 ap1 as=u:p:q" },
	{ "--auth-plugin ExpectOrigin",
	    "--auth-plugin ExpectOrigin "
	    "--auth-source http://a.example 6080 h:1",
	    CONFIG_OK,
	    T_CERT " " T_SSL " web=- fo0 wa0 ap2 as=http://a.example" },
	{ "--web-auth with --web and a plugin",
	    "--web /w --web-auth "
	    "--auth-plugin BasicHTTPAuth --auth-source u:p 6080 h:1",
	    CONFIG_OK, T_CERT " " T_SSL " web=/w fo0 wa1 ap1 as=u:p" },
	{ "options after the addresses",
	    "6080 h:1 --cert c.pem --ssl-only "
	    "--web /w --auth-plugin ExpectOrigin --auth-source o",
	    CONFIG_OK,
	    "cert=c.pem/1 key=- pw=- only1 ver=303 ciphers=- vc0 "
	    "ca=- st0 sti0 stca=- web=/w fo0 wa0 ap2 as=o" },
	{ "--ssl-target between the addresses", "6080 --ssl-target h:1",
	    CONFIG_OK,
	    T_CERT " only0 ver=303 ciphers=- vc0 ca=- st1 sti0 "
		   "stca=- " T_WEB },
	{ "--ssl-version bogus", "--ssl-version sslv3 6080 h:1",
	    CONFIG_ERROR },
	{ "--ssl-version empty", "--ssl-version= 6080 h:1", CONFIG_ERROR },
	{ "--ssl-version TLSV1_2 (case matters)",
	    "--ssl-version TLSV1_2 6080 h:1", CONFIG_ERROR },
	{ "--ssl-version without a value", "6080 h:1 --ssl-version",
	    CONFIG_ERROR },
	{ "--cert without a value", "6080 h:1 --cert", CONFIG_ERROR },
	{ "--verify-client without --cafile: the system CAs (websockify)",
	    "--verify-client 6080 h:1", CONFIG_OK,
	    T_CERT " only0 ver=303 "
		   "ciphers=- vc1 ca=- st0 sti0 stca=- " T_WEB },
	{ "--key-password empty is a password", "--key-password= 6080 h:1",
	    CONFIG_OK, "cert=self.pem/0 key=- pw= " T_SSL " " T_WEB },
	{ "--cert empty", "--cert= 6080 h:1", CONFIG_ERROR },
	{ "--cafile empty", "--cafile= 6080 h:1", CONFIG_ERROR },
	{ "--web empty", "--web= 6080 h:1", CONFIG_ERROR },
	{ "--ssl-only with a value", "--ssl-only=1 6080 h:1", CONFIG_ERROR },
	{ "--web-auth without --web",
	    "--web-auth --auth-plugin "
	    "BasicHTTPAuth --auth-source u:p 6080 h:1",
	    CONFIG_ERROR },
	{ "--web-auth without --auth-plugin", "--web /w --web-auth 6080 h:1",
	    CONFIG_ERROR },
	{ "--auth-plugin unknown",
	    "--auth-plugin TokenAuth --auth-source x "
	    "6080 h:1",
	    CONFIG_ERROR },
	{ "--auth-plugin in lower case",
	    "--auth-plugin basichttpauth "
	    "--auth-source u:p 6080 h:1",
	    CONFIG_ERROR },
	{ "--auth-plugin ending in '.'",
	    "--auth-plugin BasicHTTPAuth. "
	    "--auth-source u:p 6080 h:1",
	    CONFIG_ERROR },
	{ "--auth-source without --auth-plugin", "--auth-source u:p 6080 h:1",
	    CONFIG_ERROR },
	{ "--auth-plugin without --auth-source",
	    "--auth-plugin "
	    "BasicHTTPAuth 6080 h:1",
	    CONFIG_ERROR },
	{ "BasicHTTPAuth source without ':'",
	    "--auth-plugin BasicHTTPAuth "
	    "--auth-source userpass 6080 h:1",
	    CONFIG_ERROR },
	{ "--key-password-file missing",
	    "--key-password-file "
	    "/nonexistent/wsbridge-pw 6080 h:1",
	    CONFIG_ERROR },
	{ "error after TLS options frees them",
	    "--cert c.pem --key k.pem "
	    "--key-password p --ssl-ciphers x --cafile ca --web /w 6080",
	    CONFIG_ERROR },
};

/* Run one line; dump is NULL for an expected error. */
static void
run_tls(const char *desc, const char *args, int want, const char *dump)
{
	struct config cfg;
	struct args   a;
	char	     *orig[MAXARGS + 1], err[256], got[1024];
	int	      ret, n;

	args_make(&a, args);
	n = a.argc;
	memcpy(orig, a.argv, sizeof(orig));
	memset(&cfg, 0, sizeof(cfg));
	memset(err, 0, sizeof(err));
	ret = config_parse(a.argc, a.argv, &cfg, err, sizeof(err));
	cr_expect_eq(ret, want, "%s: '%s' returned %d, want %d (err '%s')",
	    desc, args, ret, want, err);
	if (ret == CONFIG_ERROR && want == CONFIG_ERROR)
		cr_expect(err[0] != '\0', "%s: error without a message", desc);
	if (ret == CONFIG_OK) {
		if (want == CONFIG_OK) {
			tls_dump(&cfg, got, sizeof(got));
			cr_expect_str_eq(got, dump,
			    "%s: '%s' gave\n'%s', "
			    "want\n'%s'",
			    desc, args, got, dump);
		}
		config_free(&cfg);
	}
	args_free(&a, orig, n);
}

Test(config_parse, tls_web_auth)
{
	const struct tls_case *c;
	size_t		       i;

	unsetenv("WSBRIDGE_KEY_PASSWORD");
	for (i = 0; i < NELEM(tls_cases); i++) {
		c = &tls_cases[i];
		run_tls(c->desc, c->args, c->ret, c->dump);
	}
}

/*
 * Where the key password comes from: --key-password-file (its first
 * line; "{F}" in args is the file's path), WSBRIDGE_KEY_PASSWORD (env,
 * NULL: unset), --key-password.  pw NULL: none.
 */
struct pw_case {
	const char *desc;
	const char *file; /* the file's bytes */
	const char *env;
	const char *args;
	int	    ret;
	const char *pw;
};

static const struct pw_case pw_cases[] = {
	{ "file: first line", "one\ntwo\n", NULL, "--key-password-file {F}",
	    CONFIG_OK, "one" },
	{ "file: CRLF", "one\r\ntwo\r\n", NULL, "--key-password-file {F}",
	    CONFIG_OK, "one" },
	{ "file: no newline", "pass word", NULL, "--key-password-file {F}",
	    CONFIG_OK, "pass word" },
	{ "file: empty", "", NULL, "--key-password-file {F}", CONFIG_OK, "" },
	{ "file=", "abc\n", NULL, "--key-password-file={F}", CONFIG_OK,
	    "abc" },
	{ "file after the addresses", "abc\n", NULL,
	    "6080 h:1 --key-password-file {F}", CONFIG_OK, "abc" },
	{ "environment", NULL, "from-env", "", CONFIG_OK, "from-env" },
	{ "empty environment", NULL, "", "", CONFIG_OK, "" },
	{ "--key-password wins over the environment", NULL, "from-env",
	    "--key-password cli", CONFIG_OK, "cli" },
	{ "file wins over the environment", "from-file\n", "from-env",
	    "--key-password-file {F}", CONFIG_OK, "from-file" },
	{ "last of --key-password and the file", "from-file\n", NULL,
	    "--key-password cli --key-password-file {F}", CONFIG_OK,
	    "from-file" },
	{ "none", NULL, NULL, "", CONFIG_OK, NULL },
	{ "missing file", NULL, NULL, "--key-password-file {F}.missing",
	    CONFIG_ERROR },
	{ "missing file, password in the environment", NULL, "from-env",
	    "--key-password-file {F}.missing", CONFIG_ERROR },
};

Test(config_parse, key_password_sources)
{
	const struct pw_case *c;
	struct config	      cfg;
	struct args	      a;
	char		      path[] = "/tmp/wsbridge-pw-XXXXXX";
	char		     *orig[MAXARGS + 1], err[256], line[512], *f;
	size_t		      i;
	int		      fd, ret, n;

	fd = mkstemp(path);
	cr_assert(fd != -1);
	close(fd);
	for (i = 0; i < NELEM(pw_cases); i++) {
		c = &pw_cases[i];
		if (c->file != NULL) {
			FILE *fp = fopen(path, "w");
			cr_assert(fp != NULL);
			fputs(c->file, fp);
			fclose(fp);
		}
		if (c->env != NULL)
			setenv("WSBRIDGE_KEY_PASSWORD", c->env, 1);
		else
			unsetenv("WSBRIDGE_KEY_PASSWORD");
		/* "{F}" becomes the path; then the addresses if absent. */
		line[0] = '\0';
		f = strstr(c->args, "{F}");
		if (f != NULL)
			snprintf(line, sizeof(line), "%.*s%s%s",
			    (int)(f - c->args), c->args, path, f + 3);
		else
			snprintf(line, sizeof(line), "%s", c->args);
		if (strstr(line, "6080") == NULL)
			strncat(line, " 6080 h:1",
			    sizeof(line) - strlen(line) - 1);
		args_make(&a, line);
		n = a.argc;
		memcpy(orig, a.argv, sizeof(orig));
		err[0] = '\0';
		ret = config_parse(a.argc, a.argv, &cfg, err, sizeof(err));
		cr_expect_eq(ret, c->ret, "%s: '%s' returned %d (%s)", c->desc,
		    line, ret, err);
		if (ret == CONFIG_OK && c->ret == CONFIG_OK)
			cr_expect(c->pw == NULL ? cfg.key_password == NULL :
						  cfg.key_password != NULL &&
				    strcmp(cfg.key_password, c->pw) == 0,
			    "%s: password '%s', want '%s'", c->desc,
			    cfg.key_password ? cfg.key_password : "(null)",
			    c->pw ? c->pw : "(null)");
		else if (ret == CONFIG_ERROR)
			cr_expect(err[0] != '\0', "%s: no message", c->desc);
		if (ret == CONFIG_OK)
			config_free(&cfg);
		args_free(&a, orig, n);
		unsetenv("WSBRIDGE_KEY_PASSWORD");
	}
	unlink(path);
}

/* The help names the new options too. */
Test(config_help, names_tls_web_auth_options)
{
	static const char *opts[] = { "--cert", "--key", "--key-password",
		"--key-password-file", "WSBRIDGE_KEY_PASSWORD", "--ssl-only",
		"--ssl-version", "--ssl-ciphers", "--verify-client",
		"--cafile", "--ssl-target", "--ssl-target-insecure",
		"--ssl-target-cafile", "--web", "--file-only", "--web-auth",
		"--auth-plugin", "--auth-source" };
	const char	  *h = config_help();
	size_t		   i;

	for (i = 0; i < NELEM(opts); i++)
		cr_expect(strstr(h, opts[i]) != NULL, "help lacks %s",
		    opts[i]);
}

/* Parse line; the return value, with err and (CONFIG_OK) cfg filled. */
static int
parse_line(const char *line, struct config *cfg, char *err, size_t errlen)
{
	struct args a;
	char	   *orig[MAXARGS + 1];
	int	    ret, n;

	args_make(&a, line);
	n = a.argc;
	memcpy(orig, a.argv, sizeof(orig));
	memset(cfg, 0, sizeof(*cfg));
	err[0] = '\0';
	ret = config_parse(a.argc, a.argv, cfg, err, errlen);
	args_free(&a, orig, n);
	return ret;
}

/* --send-timeout N: seconds, 1 to 86400, default WSB_SEND_TIMEOUT_SEC. */
struct send_timeout_case {
	const char *desc;
	const char *args;
	int	    ret;
	int	    want; /* with CONFIG_OK */
};

static const struct send_timeout_case send_timeout_cases[] = {
	{ "default", "6080 h:1", CONFIG_OK, WSB_SEND_TIMEOUT_SEC },
	{ "1, the least", "--send-timeout 1 6080 h:1", CONFIG_OK, 1 },
	{ "86400, the most", "--send-timeout 86400 6080 h:1", CONFIG_OK,
	    86400 },
	{ "=30", "--send-timeout=30 6080 h:1", CONFIG_OK, 30 },
	{ "after the addresses", "6080 h:1 --send-timeout 5", CONFIG_OK, 5 },
	{ "twice: the last", "--send-timeout 5 --send-timeout 7 6080 h:1",
	    CONFIG_OK, 7 },
	{ "0", "--send-timeout 0 6080 h:1", CONFIG_ERROR },
	{ "86401", "--send-timeout 86401 6080 h:1", CONFIG_ERROR },
	{ "-1", "--send-timeout -1 6080 h:1", CONFIG_ERROR },
	{ "x", "--send-timeout x 6080 h:1", CONFIG_ERROR },
	{ "10s", "--send-timeout 10s 6080 h:1", CONFIG_ERROR },
	{ "empty", "--send-timeout= 6080 h:1", CONFIG_ERROR },
	{ "no value", "6080 h:1 --send-timeout", CONFIG_ERROR },
};

Test(config_parse, send_timeout)
{
	const struct send_timeout_case *c;
	struct config			cfg;
	char				err[256];
	size_t				i;
	int				ret;

	for (i = 0; i < NELEM(send_timeout_cases); i++) {
		c = &send_timeout_cases[i];
		ret = parse_line(c->args, &cfg, err, sizeof(err));
		cr_expect_eq(ret, c->ret, "%s: '%s' returned %d (%s)", c->desc,
		    c->args, ret, err);
		if (ret == CONFIG_OK && c->ret == CONFIG_OK)
			cr_expect_eq(cfg.send_timeout, c->want,
			    "%s: send_timeout %d, want %d", c->desc,
			    cfg.send_timeout, c->want);
		if (ret == CONFIG_ERROR && c->ret == CONFIG_ERROR)
			cr_expect(strstr(err, "--send-timeout") != NULL,
			    "%s: message '%s' does not name the option",
			    c->desc, err);
		if (ret == CONFIG_OK)
			config_free(&cfg);
	}
}

/* What an error message says: err must hold every piece of want. */
struct message_case {
	const char *desc;
	const char *args;
	const char *want[3];
};

static const struct message_case message_cases[] = {
	{ "out of range", "--heartbeat 86401 6080 h:1",
	    { "--heartbeat", "'86401'", "0 to 86400" } },
	{ "missing value, long", "6080 h:1 --workers",
	    { "--workers", "needs a value" } },
	{ "a flag given a value", "--verbose=1 6080 h:1",
	    { "--verbose", "takes no value" } },
	{ "a long-only flag given a value", "--ssl-only=1 6080 h:1",
	    { "--ssl-only", "takes no value" } },
	{ "unknown long option", "--bogus 6080 h:1",
	    { "unknown option", "'--bogus'" } },
	{ "unknown short option", "-x 6080 h:1",
	    { "unknown option", "'-x'" } },
	{ "unknown short option after a known one", "-vx 6080 h:1",
	    { "unknown option", "'-x'" } },
	{ "empty path", "--cert= 6080 h:1", { "--cert", "empty" } },
	{ "--ssl-version", "--ssl-version sslv3 6080 h:1",
	    { "--ssl-version", "'sslv3'", "tlsv1_3" } },
	{ "--auth-plugin", "--auth-plugin Nope --auth-source x 6080 h:1",
	    { "--auth-plugin", "'Nope'", "BasicHTTPAuth" } },
	{ "--key-password-file",
	    "--key-password-file /nonexistent/pw "
	    "6080 h:1",
	    { "--key-password-file", "/nonexistent/pw" } },
	{ "extra address", "6080 a:1 b:2", { "unexpected argument", "b:2" } },
};

Test(config_parse, error_messages)
{
	const struct message_case *c;
	struct config		   cfg;
	char			   err[256];
	size_t			   i, j;

	for (i = 0; i < NELEM(message_cases); i++) {
		c = &message_cases[i];
		cr_expect_eq(parse_line(c->args, &cfg, err, sizeof(err)),
		    CONFIG_ERROR, "%s: '%s' accepted", c->desc, c->args);
		for (j = 0; j < NELEM(c->want) && c->want[j] != NULL; j++)
			cr_expect(strstr(err, c->want[j]) != NULL,
			    "%s: message '%s' lacks '%s'", c->desc, err,
			    c->want[j]);
	}
}

/* --help and --version after options that allocate leave nothing
 * behind (main() prints the help and returns; ASan would see a leak). */
Test(config_parse, help_after_options_frees_them)
{
	static const char *lines[] = { "--cert c.pem --web /w --help",
		"--key-password s --auth-source x --version 6080 h:1" };
	struct config	   cfg;
	char		   err[256];
	size_t		   i;
	int		   ret;

	for (i = 0; i < NELEM(lines); i++) {
		ret = parse_line(lines[i], &cfg, err, sizeof(err));
		cr_expect(ret == CONFIG_HELP || ret == CONFIG_VERSION,
		    "'%s' returned %d (%s)", lines[i], ret, err);
		cr_expect(cfg.cert == NULL && cfg.web == NULL &&
			cfg.key_password == NULL && cfg.auth_source == NULL,
		    "'%s': strings left in cfg", lines[i]);
	}
}

/*
 * The option table against --help and the man page.  A "name list" is
 * the long names (no "--") a text lists, in order, duplicates kept.
 */
#define NAMES_MAX 128
#define NAME_LEN 48

struct names {
	size_t n;
	char   name[NAMES_MAX][NAME_LEN];
};

/* A character that may continue an option name. */
static int
name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Add the option name at p (up to the first non-name character). */
static void
names_add(struct names *l, const char *p)
{
	size_t n = 0;

	while (name_char((unsigned char)p[n]))
		n++;
	if (n == 0)
		return;
	cr_assert(n < NAME_LEN && l->n < NAMES_MAX, "name list overflow");
	memcpy(l->name[l->n], p, n);
	l->name[l->n][n] = '\0';
	l->n++;
}

/* How many times l lists name. */
static int
names_count(const struct names *l, const char *name)
{
	size_t i;
	int    n = 0;

	for (i = 0; i < l->n; i++)
		n += strcmp(l->name[i], name) == 0;
	return n;
}

/* Whether the option table has name. */
static int
table_has(const char *name)
{
	const char *t;
	size_t	    i;

	for (i = 0; (t = config_option_name(i)) != NULL; i++)
		if (strcmp(t, name) == 0)
			return 1;
	return 0;
}

/* The table's options are exactly l's, each once; what names l. */
static void
names_match_table(const struct names *l, const char *what)
{
	const char *name;
	size_t	    i, ntable = 0;

	for (i = 0; (name = config_option_name(i)) != NULL; i++) {
		ntable++;
		cr_expect_eq(names_count(l, name), 1,
		    "%s lists --%s %d times, want once", what, name,
		    names_count(l, name));
	}
	cr_expect(ntable > 0, "config_option_name(0) is NULL");
	for (i = 0; i < l->n; i++)
		cr_expect(table_has(l->name[i]),
		    "%s lists --%s, which is "
		    "not an option",
		    what, l->name[i]);
}

/* config_option_name walks the table: names without "--", each once,
 * the new --send-timeout among them, NULL past the end (and far past). */
Test(config_option_name, walks_the_table)
{
	const char *name;
	size_t	    i, j;

	for (i = 0; (name = config_option_name(i)) != NULL; i++) {
		cr_expect(name[0] != '\0' && name[0] != '-', "name '%s'",
		    name);
		for (j = 0; j < i; j++)
			cr_expect(strcmp(config_option_name(j), name) != 0,
			    "--%s twice in the table", name);
	}
	cr_expect(i >= 29, "only %zu options", i);
	cr_expect(table_has("send-timeout") && table_has("help") &&
		table_has("key-password-file"),
	    "known options missing");
	cr_expect(config_option_name(i + 1000) == NULL &&
		config_option_name((size_t)-1) == NULL,
	    "past the end");
}

/* Every option in --help has a line of its own, "  -X, --name" or
 * "      --name", with the name at column 8; lines fit 80 columns. */
Test(config_help, lists_exactly_the_table)
{
	const char	   *h = config_help(), *line, *end;
	static struct names l;
	size_t		    len;

	cr_assert(h != NULL);
	l.n = 0;
	for (line = h; *line != '\0'; line = *end ? end + 1 : end) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		len = (size_t)(end - line);
		cr_expect(len <= 80, "help line longer than 80: '%.*s'",
		    (int)len, line);
		if (len > 8 && strncmp(line + 6, "--", 2) == 0 &&
		    (strncmp(line, "      ", 6) == 0 ||
			(strncmp(line, "  -", 3) == 0 &&
			    strncmp(line + 4, ", ", 2) == 0)))
			names_add(&l, line + 8);
	}
	names_match_table(&l, "config_help()");
	/* Made whole, not cut short by its buffer. */
	len = strlen(h);
	cr_expect(len > 28 &&
		strcmp(h + len - 28, "SIGUSR1: reopen --log-file.\n") == 0,
	    "help cut short: ends '%s'", len > 40 ? h + len - 40 : h);
	cr_expect(strstr(h, "  -h, --help ") != NULL &&
		strstr(h, "  -v, --verbose ") != NULL &&
		strstr(h, "  -6, --prefer-ipv6 ") != NULL,
	    "short letters");
	cr_expect(strstr(h, "--send-timeout N ") != NULL &&
		strstr(h, "(default: 60)") != NULL,
	    "--send-timeout N, 60");
	cr_expect(config_help() == h, "help made twice");
}

/* The man page's text, from $SRCDIR (make check sets it), else next to
 * this source file.  Not found is a failure, never a skip. */
static char *
man_page_read(void)
{
	char	    path[4096], *buf;
	const char *srcdir = getenv("SRCDIR"), *slash;
	FILE	   *f;
	long	    len;

	if (srcdir != NULL && *srcdir != '\0')
		snprintf(path, sizeof(path), "%s/man/wsbridge.1", srcdir);
	else {
		/* __FILE__ is tests/unit/test_config.c, as the compiler saw
		 * it from the build directory the test runs in. */
		slash = strrchr(__FILE__, '/');
		snprintf(path, sizeof(path), "%.*s%s../../man/wsbridge.1",
		    slash != NULL ? (int)(slash - __FILE__ + 1) : 0, __FILE__,
		    slash != NULL ? "" : "./");
	}
	f = fopen(path, "r");
	cr_assert(f != NULL,
	    "man page %s: cannot open it (SRCDIR=%s): the "
	    "option table must be checked against it",
	    path, srcdir != NULL ? srcdir : "(unset)");
	cr_assert(fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	cr_assert(buf != NULL);
	cr_assert(fread(buf, 1, (size_t)len, f) == (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/*
 * The option named at p in man page source, if p starts one: mdoc's
 * "Fl -name", roff's "\-\-name", or a plain " --name" (.Dl examples).
 * Returns where the name starts, or NULL.
 */
static const char *
man_option_at(const char *text, const char *p)
{
	if (strncmp(p, "Fl -", 4) == 0 &&
	    (p == text || p[-1] == ' ' || p[-1] == '.') &&
	    name_char((unsigned char)p[4]) && p[4] != '-')
		return p + 4;
	if (strncmp(p, "\\-\\-", 4) == 0 && name_char((unsigned char)p[4]))
		return p + 4;
	if (strncmp(p, "--", 2) == 0 &&
	    (p == text || p[-1] == ' ' || p[-1] == '\n') && p[2] >= 'a' &&
	    p[2] <= 'z')
		return p + 2;
	return NULL;
}

/* The man page documents (".It" lines) exactly the table's options,
 * once each, and mentions no option the table lacks. */
Test(config_man, lists_exactly_the_table)
{
	static struct names items, mentions;
	const char	   *line, *p, *name, *end;
	char		   *text = man_page_read();
	size_t		    i;

	items.n = mentions.n = 0;
	for (line = text; *line != '\0'; line = *end ? end + 1 : end) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		for (p = line; p < end; p++) {
			if ((name = man_option_at(text, p)) == NULL)
				continue;
			names_add(&mentions, name);
			if (strncmp(line, ".It ", 4) == 0)
				names_add(&items, name);
		}
	}
	names_match_table(&items, "the man page's .It entries");
	/* Mentions outside the entries (SYNOPSIS, text, EXAMPLES). */
	cr_expect(mentions.n > items.n, "only %zu mentions", mentions.n);
	for (i = 0; i < mentions.n; i++)
		cr_expect(table_has(mentions.name[i]),
		    "the man page mentions "
		    "--%s, which is not an option",
		    mentions.name[i]);
	free(text);
}
