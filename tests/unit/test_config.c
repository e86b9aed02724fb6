/* Unit tests for the command line parser (src/config.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memmem, strcasestr, strndup */
#endif

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "wsb_config.h"
#include "wsb_limits.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define MAXARGS 16

/* argv for "wsbridge" plus args split at spaces, each string on the heap
 * so ASan sees a read before or after one. */
struct args {
	int argc;
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
	snprintf(out, len, "L=%s:%s T=%s:%s U=%s v%d t%d r%d to%d it%d hb%d "
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
	int ret;
	const char *dump;	/* with CONFIG_OK */
	int workers;		/* with CONFIG_OK; 0: not checked */
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
	{ "every option", "-v --traffic --run-once --timeout 1 "
	    "--idle-timeout 2 --heartbeat 3 -6 --workers 2 [::]:6080 "
	    "[fe80::1]:5900", CONFIG_OK,
	    "L=:::6080 T=fe80::1:5900 U=- v1 t1 r1 to1 it2 hb3 6=1", 2 },
	{ "-- ends options", "-v -- 6080 h:1", CONFIG_OK,
	    "L=-:6080 T=h:1 U=- v1 t0 r0 to0 it0 hb0 6=0" },
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
	struct args a;
	char *orig[MAXARGS + 1], err[256], dump[512];
	int ret, n;

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
		cr_expect_str_eq(dump, c->dump, "%s: '%s' gave '%s', want '%s'",
		    c->desc, c->args, dump, c->dump);
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
	static const char *lines[] = { "--timeout", "--heartbeat",
		"--workers", "--unix-target", "-v --idle-timeout" };
	struct config cfg;
	struct args a;
	char *orig[MAXARGS + 1], err[256];
	size_t i;
	int n;

	for (i = 0; i < NELEM(lines); i++) {
		args_make(&a, lines[i]);
		n = a.argc;
		memcpy(orig, a.argv, sizeof(orig));
		memset(&cfg, 0, sizeof(cfg));
		err[0] = '\0';
		cr_expect_eq(config_parse(a.argc, a.argv, &cfg, err,
		    sizeof(err)), CONFIG_ERROR, "'%s' accepted", lines[i]);
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
	struct args a;
	char *orig[MAXARGS + 1], err[16];
	int n;

	args_make(&a, "--workers 0 6080 h:1");
	n = a.argc;
	memcpy(orig, a.argv, sizeof(orig));
	memset(err, 'Z', sizeof(err));
	cr_expect_eq(config_parse(a.argc, a.argv, &cfg, err, 8),
	    CONFIG_ERROR);
	cr_expect(memchr(err, '\0', 8) != NULL, "message not terminated");
	cr_expect(err[8] == 'Z', "wrote past errlen");
	args_free(&a, orig, n);
}

/* After an error cfg holds nothing to free twice. */
Test(config_parse, free_after_error)
{
	struct config cfg;
	struct args a;
	char *orig[MAXARGS + 1], err[256];
	int n;

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
	const char *h = config_help();
	size_t i;

	cr_assert(h != NULL);
	for (i = 0; i < NELEM(opts); i++)
		cr_expect(strstr(h, opts[i]) != NULL, "help lacks %s",
		    opts[i]);
	cr_expect(config_usage() != NULL &&
	    strncmp(config_usage(), "usage:", 6) == 0, "usage line");
}

/* config_split_hostport on its own. host NULL: a bare port. */
struct split_case {
	const char *desc;
	const char *s;
	int port_only_ok;
	int ret;
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

Test(config_split_hostport, table)
{
	const struct split_case *c;
	char *host, *port, *s, err[256];
	size_t i;
	int ret;

	for (i = 0; i < NELEM(split_cases); i++) {
		c = &split_cases[i];
		s = strdup(c->s);	/* on the heap: ASan sees s[-1] */
		host = port = (char *)"unset";
		err[0] = '\0';
		ret = config_split_hostport(s, &host, &port, c->port_only_ok,
		    err, sizeof(err));
		cr_expect_eq(ret, c->ret, "%s: '%s' returned %d (%s)", c->desc,
		    c->s, ret, err);
		if (ret == 0 && c->ret == 0) {
			cr_expect(c->host == NULL ? host == NULL :
			    host != NULL && strcmp(host, c->host) == 0,
			    "%s: host '%s', want '%s'", c->desc,
			    host ? host : "(null)", c->host ? c->host :
			    "(null)");
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
	snprintf(out, len, "cert=%s/%d key=%s pw=%s only%d ver=%x "
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
	int ret;
	const char *dump;	/* with CONFIG_OK */
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
	    T_CERT " only1 ver=303 ciphers=- vc0 ca=- st0 sti0 stca=- "
	    T_WEB },
	{ "--ssl-version default", "--ssl-version default 6080 h:1",
	    CONFIG_OK, T_DEF },
	{ "--ssl-version tlsv1_1", "--ssl-version tlsv1_1 6080 h:1",
	    CONFIG_OK, T_CERT " only0 ver=302 ciphers=- vc0 ca=- st0 sti0 "
	    "stca=- " T_WEB },
	{ "--ssl-version tlsv1_2", "--ssl-version tlsv1_2 6080 h:1",
	    CONFIG_OK, T_DEF },
	{ "--ssl-version tlsv1_3", "--ssl-version tlsv1_3 6080 h:1",
	    CONFIG_OK, T_CERT " only0 ver=304 ciphers=- vc0 ca=- st0 sti0 "
	    "stca=- " T_WEB },
	{ "--ssl-version=tlsv1_3", "--ssl-version=tlsv1_3 6080 h:1",
	    CONFIG_OK, T_CERT " only0 ver=304 ciphers=- vc0 ca=- st0 sti0 "
	    "stca=- " T_WEB },
	{ "--ssl-ciphers", "--ssl-ciphers ECDHE+AESGCM:!aNULL 6080 h:1",
	    CONFIG_OK, T_CERT " only0 ver=303 ciphers=ECDHE+AESGCM:!aNULL "
	    "vc0 ca=- st0 sti0 stca=- " T_WEB },
	{ "--verify-client --cafile", "--verify-client --cafile ca.pem "
	    "6080 h:1", CONFIG_OK, T_CERT " only0 ver=303 ciphers=- vc1 "
	    "ca=ca.pem st0 sti0 stca=- " T_WEB },
	{ "--cafile alone", "--cafile ca.pem 6080 h:1", CONFIG_OK,
	    T_CERT " only0 ver=303 ciphers=- vc0 ca=ca.pem st0 sti0 stca=- "
	    T_WEB },
	{ "--ssl-target", "--ssl-target 6080 h:1", CONFIG_OK,
	    T_CERT " only0 ver=303 ciphers=- vc0 ca=- st1 sti0 stca=- "
	    T_WEB },
	{ "--ssl-target-insecure implies --ssl-target",
	    "--ssl-target-insecure 6080 h:1", CONFIG_OK,
	    T_CERT " only0 ver=303 ciphers=- vc0 ca=- st1 sti1 stca=- "
	    T_WEB },
	{ "--ssl-target-cafile implies --ssl-target",
	    "--ssl-target-cafile t.pem 6080 h:1", CONFIG_OK,
	    T_CERT " only0 ver=303 ciphers=- vc0 ca=- st1 sti0 stca=t.pem "
	    T_WEB },
	{ "--web", "--web /srv/novnc 6080 h:1", CONFIG_OK,
	    T_CERT " " T_SSL " web=/srv/novnc fo0 wa0 ap0 as=-" },
	{ "--web --file-only", "--web /w --file-only 6080 h:1", CONFIG_OK,
	    T_CERT " " T_SSL " web=/w fo1 wa0 ap0 as=-" },
	{ "--auth-plugin BasicHTTPAuth", "--auth-plugin BasicHTTPAuth "
	    "--auth-source u:p 6080 h:1", CONFIG_OK,
	    T_CERT " " T_SSL " web=- fo0 wa0 ap1 as=u:p" },
	{ "--auth-plugin with websockify's module path",
	    "--auth-plugin websockify.auth_plugins.BasicHTTPAuth "
	    "--auth-source u:p 6080 h:1", CONFIG_OK,
	    T_CERT " " T_SSL " web=- fo0 wa0 ap1 as=u:p" },
	{ "BasicHTTPAuth password holding ':'", "--auth-plugin "
	    "BasicHTTPAuth --auth-source u:p:q 6080 h:1", CONFIG_OK,
	    T_CERT " " T_SSL " web=- fo0 wa0 ap1 as=u:p:q" },
	{ "--auth-plugin ExpectOrigin", "--auth-plugin ExpectOrigin "
	    "--auth-source http://a.example 6080 h:1", CONFIG_OK,
	    T_CERT " " T_SSL " web=- fo0 wa0 ap2 as=http://a.example" },
	{ "--web-auth with --web and a plugin", "--web /w --web-auth "
	    "--auth-plugin BasicHTTPAuth --auth-source u:p 6080 h:1",
	    CONFIG_OK, T_CERT " " T_SSL " web=/w fo0 wa1 ap1 as=u:p" },
	{ "options after the addresses", "6080 h:1 --cert c.pem --ssl-only "
	    "--web /w --auth-plugin ExpectOrigin --auth-source o",
	    CONFIG_OK, "cert=c.pem/1 key=- pw=- only1 ver=303 ciphers=- vc0 "
	    "ca=- st0 sti0 stca=- web=/w fo0 wa0 ap2 as=o" },
	{ "--ssl-target between the addresses", "6080 --ssl-target h:1",
	    CONFIG_OK, T_CERT " only0 ver=303 ciphers=- vc0 ca=- st1 sti0 "
	    "stca=- " T_WEB },
	{ "--ssl-version bogus", "--ssl-version sslv3 6080 h:1",
	    CONFIG_ERROR },
	{ "--ssl-version empty", "--ssl-version= 6080 h:1", CONFIG_ERROR },
	{ "--ssl-version TLSV1_2 (case matters)",
	    "--ssl-version TLSV1_2 6080 h:1", CONFIG_ERROR },
	{ "--ssl-version without a value", "6080 h:1 --ssl-version",
	    CONFIG_ERROR },
	{ "--cert without a value", "6080 h:1 --cert", CONFIG_ERROR },
	{ "--verify-client without --cafile", "--verify-client 6080 h:1",
	    CONFIG_ERROR },
	{ "--ssl-only with a value", "--ssl-only=1 6080 h:1", CONFIG_ERROR },
	{ "--web-auth without --web", "--web-auth --auth-plugin "
	    "BasicHTTPAuth --auth-source u:p 6080 h:1", CONFIG_ERROR },
	{ "--web-auth without --auth-plugin", "--web /w --web-auth 6080 h:1",
	    CONFIG_ERROR },
	{ "--auth-plugin unknown", "--auth-plugin TokenAuth --auth-source x "
	    "6080 h:1", CONFIG_ERROR },
	{ "--auth-plugin in lower case", "--auth-plugin basichttpauth "
	    "--auth-source u:p 6080 h:1", CONFIG_ERROR },
	{ "--auth-plugin ending in '.'", "--auth-plugin BasicHTTPAuth. "
	    "--auth-source u:p 6080 h:1", CONFIG_ERROR },
	{ "--auth-source without --auth-plugin", "--auth-source u:p 6080 h:1",
	    CONFIG_ERROR },
	{ "--auth-plugin without --auth-source", "--auth-plugin "
	    "BasicHTTPAuth 6080 h:1", CONFIG_ERROR },
	{ "BasicHTTPAuth source without ':'", "--auth-plugin BasicHTTPAuth "
	    "--auth-source userpass 6080 h:1", CONFIG_ERROR },
	{ "--key-password-file missing", "--key-password-file "
	    "/nonexistent/wsbridge-pw 6080 h:1", CONFIG_ERROR },
	{ "error after TLS options frees them", "--cert c.pem --key k.pem "
	    "--key-password p --ssl-ciphers x --cafile ca --web /w 6080",
	    CONFIG_ERROR },
};

/* Run one line; dump is NULL for an expected error. */
static void
run_tls(const char *desc, const char *args, int want, const char *dump)
{
	struct config cfg;
	struct args a;
	char *orig[MAXARGS + 1], err[256], got[1024];
	int ret, n;

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
			cr_expect_str_eq(got, dump, "%s: '%s' gave\n'%s', "
			    "want\n'%s'", desc, args, got, dump);
		}
		config_free(&cfg);
	}
	args_free(&a, orig, n);
}

Test(config_parse, tls_web_auth)
{
	const struct tls_case *c;
	size_t i;

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
	const char *file;	/* the file's bytes */
	const char *env;
	const char *args;
	int ret;
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
	struct config cfg;
	struct args a;
	char path[] = "/tmp/wsbridge-pw-XXXXXX";
	char *orig[MAXARGS + 1], err[256], line[512], *f;
	size_t i;
	int fd, ret, n;

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
			strncat(line, " 6080 h:1", sizeof(line) -
			    strlen(line) - 1);
		args_make(&a, line);
		n = a.argc;
		memcpy(orig, a.argv, sizeof(orig));
		err[0] = '\0';
		ret = config_parse(a.argc, a.argv, &cfg, err, sizeof(err));
		cr_expect_eq(ret, c->ret, "%s: '%s' returned %d (%s)",
		    c->desc, line, ret, err);
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
		"--ssl-version", "--ssl-ciphers", "--verify-client", "--cafile",
		"--ssl-target", "--ssl-target-insecure", "--ssl-target-cafile",
		"--web", "--file-only", "--web-auth", "--auth-plugin",
		"--auth-source" };
	const char *h = config_help();
	size_t i;

	for (i = 0; i < NELEM(opts); i++)
		cr_expect(strstr(h, opts[i]) != NULL, "help lacks %s",
		    opts[i]);
}
