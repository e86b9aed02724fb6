/* Unit tests for the pure parts of token routing (src/token_parse.c),
 * the plugin names (src/token.c), the token options (src/config.c),
 * ClientCertCNAuth (src/auth.c) and token values hidden in log lines
 * (src/log.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "auth.h"
#include "http.h"
#include "log.h"
#include "target.h"
#include "token.h"
#include "wsb_config.h"
#include "wsb_limits.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Parse "GET path" plus one header line (or none) into req; the text is
 * returned for the caller to free. */
static char *
request_make(const char *path, const char *hdr, struct http_request *req)
{
	char *text;
	int   n;

	n = asprintf(&text, "GET %s HTTP/1.1\r\n%s%s\r\n", path,
	    hdr != NULL ? hdr : "", hdr != NULL ? "\r\n" : "");
	cr_assert(n > 0);
	cr_assert_eq(http_parse_request(text, (size_t)n, req), n,
	    "does not parse: %s", text);
	return text;
}

struct from_case {
	const char *path;
	const char *host; /* Host header value, or NULL */
	int	    host_token;
	int	    ret; /* length, 0 absent, -1 refused */
	const char *want;
};

static const struct from_case from_cases[] = {
	{ "/websockify?token=abc", NULL, 0, 3, "abc" },
	{ "/?token=abc&token=def", NULL, 0, 3, "abc" }, /* first wins */
	{ "/?a=1&token=x%2Fy", NULL, 0, 3, "x/y" },	/* decoded */
	{ "/?token=a+b", NULL, 0, 3, "a b" },		/* '+' a space */
	{ "/?token=abc%0A%0A", NULL, 0, 3, "abc" },	/* rstrip('\n') */
	{ "/?token=%0Aabc", NULL, 0, 4, "\nabc" },	/* only trailing */
	{ "/?token=", NULL, 0, 0, "" },			/* empty: none */
	{ "/?token=&token=b", NULL, 0, 1, "b" },	/* blank skipped */
	{ "/?token&token=b", NULL, 0, 1, "b" },		/* no '=' skipped */
	{ "/?%74oken=abc", NULL, 0, 3, "abc" },		/* name decoded */
	{ "/?tok+en=abc", NULL, 0, 0, "" },
	{ "/?token=pct%", NULL, 0, 4, "pct%" }, /* '%' kept */
	{ "/?token=a%zz", NULL, 0, 4, "a%zz" },
	{ "/?token=a%2", NULL, 0, 3, "a%2" },
	{ "/?token=s%26t", NULL, 0, 3, "s&t" },
	{ "/websockify", NULL, 0, 0, "" },
	{ "/?tokens=abc", NULL, 0, 0, "" },
	{ "/?xtoken=abc", NULL, 0, 0, "" },
	{ "/?token=abc#frag", NULL, 0, 3, "abc" },
	{ "/#?token=abc", NULL, 0, 0, "" },
	{ "/?token=a%00b", NULL, 0, -1, "" }, /* a NUL: refused */
	{ "/path?token=abc", "Host: h.example:6080", 1, 9, "h.example" },
	{ "/path", "Host: h.example", 1, 9, "h.example" },
	{ "/path", "Host: [::1]:6080", 1, 3, "::1" },
	{ "/path", "Host: [::1]", 1, 3, "::1" },
	{ "/path", "Host: [::1", 1, -1, "" },
	{ "/path", NULL, 1, 0, "" },
	{ "/path", "Host: ", 1, 0, "" },
};

Test(token_from_request, table)
{
	struct http_request req;
	char		    out[64], *text;
	size_t		    i;
	int		    n;

	for (i = 0; i < NELEM(from_cases); i++) {
		const struct from_case *c = &from_cases[i];

		text = request_make(c->path, c->host, &req);
		n = token_from_request(&req, c->host_token, out, sizeof(out));
		cr_expect_eq(n, c->ret, "%s (%s): %d, want %d", c->path,
		    c->host != NULL ? c->host : "-", n, c->ret);
		if (c->ret > 0)
			cr_expect_str_eq(out, c->want, "%s", c->path);
		free(text);
	}
}

/* A token longer than the buffer is refused, never cut. */
Test(token_from_request, too_long)
{
	struct http_request req;
	char		    path[200], out[16], *text;

	memset(path, 'a', sizeof(path));
	memcpy(path, "/?token=", 8);
	path[sizeof(path) - 1] = '\0';
	text = request_make(path, NULL, &req);
	cr_expect_eq(token_from_request(&req, 0, out, sizeof(out)), -1);
	free(text);
	text =
	    request_make("/", "Host: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &req);
	cr_expect_eq(token_from_request(&req, 1, out, sizeof(out)), -1);
	free(text);
}

struct target_case {
	const char *target;
	int	    ret;
	const char *host, *port, *unix_path;
};

static const struct target_case target_cases[] = {
	{ "127.0.0.1:5900", 0, "127.0.0.1", "5900", NULL },
	{ "vnc.example:1", 0, "vnc.example", "1", NULL },
	{ "[::1]:5901", 0, "::1", "5901", NULL },
	{ "unix_socket:/run/vnc/a.sock", 0, NULL, NULL, "/run/vnc/a.sock" },
	{ "unix_socket:", -1 },
	{ "host", -1 },
	{ "host:", -1 },
	{ ":5900", -1 },
	{ "host:0", -1 },
	{ "host:65536", -1 },
	{ "host:59x", -1 },
	{ "[::1:5900", -1 },
	{ "[]:5900", -1 },
	{ "::1]:5:59", -1 },
	{ "a b:1", -1 },
	{ "h/x:1", -1 },
	{ "::1:5900", 0, "::1", "5900", NULL }, /* websockify's rsplit */
	{ "[fe80::1%eth0]:1", 0, "fe80::1%eth0", "1", NULL },
	{ "", -1 },
};

Test(token_target_parse, table)
{
	struct target_spec spec;
	char		   buf[128];
	size_t		   i;

	for (i = 0; i < NELEM(target_cases); i++) {
		const struct target_case *c = &target_cases[i];

		memset(&spec, 0, sizeof(spec));
		spec.tls = 7;
		cr_expect_eq(token_target_parse(c->target, &spec, buf,
				 sizeof(buf)),
		    c->ret, "'%s'", c->target);
		cr_expect_eq(spec.tls, 7, "'%s': tls touched", c->target);
		if (c->ret != 0)
			continue;
		if (c->host != NULL) {
			cr_expect_str_eq(spec.host, c->host, "%s", c->target);
			cr_expect_str_eq(spec.port, c->port, "%s", c->target);
			cr_expect_null(spec.unix_path);
		} else {
			cr_expect_str_eq(spec.unix_path, c->unix_path);
			cr_expect_null(spec.host);
		}
	}
}

/* A target that does not fit the buffer is refused. */
Test(token_target_parse, small_buffer)
{
	struct target_spec spec;
	char		   buf[8];

	cr_expect_eq(token_target_parse("longhostname:5900", &spec, buf,
			 sizeof(buf)),
	    -1);
	cr_expect_eq(token_target_parse("unix_socket:/a/long/path", &spec, buf,
			 sizeof(buf)),
	    -1);
	cr_expect_eq(token_target_parse("h:59", &spec, buf, sizeof(buf)), 0);
}

/* The first 8 hex digits of SHA-256 (sha256("abc") = ba7816bf...). */
Test(token_fingerprint, sha256_prefix)
{
	char out[9];

	cr_expect_str_eq(token_fingerprint("abc", 3, out), "ba7816bf");
	cr_expect_str_eq(token_fingerprint("", 0, out), "e3b0c442");
}

Test(token_plugin_find, websockify_names)
{
	static const char *const names[] = { "TokenFile", "ReadOnlyTokenFile",
		"TokenFileName", "UnixDomainSocketDirectory", "TokenRedis",
		"BaseTokenAPI", "JSONTokenApi", "JWTTokenApi" };
	char			 full[128];
	size_t			 i;

	for (i = 0; i < NELEM(names); i++) {
		const struct token_plugin_ops *ops =
		    token_plugin_find(names[i]);

		cr_assert_not_null(ops, "%s", names[i]);
		cr_expect_str_eq(ops->name, names[i]);
		snprintf(full, sizeof(full), "websockify.token_plugins.%s",
		    names[i]);
		cr_expect_eq(token_plugin_find(full), ops, "%s", full);
	}
	cr_expect_null(token_plugin_find("tokenfile"));
	cr_expect_null(token_plugin_find("other.module.TokenFile"));
	cr_expect_null(token_plugin_find(""));
}

struct escape_case {
	const char *in, *want;
};

static const struct escape_case escape_cases[] = {
	{ "/websockify?token=secret", "/websockify?token=***" },
	{ "/?a=1&token=secret&b=2", "/?a=1&token=***&b=2" },
	{ "/?TOKEN=secret#x", "/?TOKEN=***#x" },
	{ "/vnc.html?path=websockify%3Ftoken%3Dsecret%26x",
	    "/vnc.html?path="
	    "websockify%3Ftoken%3D***%26x" },
	{ "/?token=a&token=b", "/?token=***&token=***" },
	{ "/?token=\x01", "/?token=***" },
	{ "/plain\x01", "/plain\\x01" },
	{ "/?token=", "/?token=***" },
	{ "/?token=s3cr3t%26tail", "/?token=***" },
	{ "/?tok%65n=secret", "/?tok%65n=***" },
	{ "/?%74%6F%4b%45%6e=secret&x=1", "/?%74%6F%4b%45%6e=***&x=1" },
	{ "/?a=1&TOKEN=secret", "/?a=1&TOKEN=***" },
	{ "/?xtoken=public&tokens=public", "/?xtoken=public&tokens=public" },
	{ "/path/token=not-a-pair", "/path/token=not-a-pair" },
};

Test(log_escape_path, hides_token_values)
{
	char   out[256];
	size_t i;

	for (i = 0; i < NELEM(escape_cases); i++) {
		log_escape_path(out, sizeof(out), escape_cases[i].in,
		    strlen(escape_cases[i].in));
		cr_expect_str_eq(out, escape_cases[i].want, "%s",
		    escape_cases[i].in);
	}
	/* Too small: cut, never the token. */
	log_escape_path(out, 12, "/?token=secretsecret", 20);
	cr_expect_null(strstr(out, "secret"), "%s", out);
}

/* Parse line (split at spaces) into cfg. */
static int
parse(const char *line, struct config *cfg, char *err, size_t errlen)
{
	char *argv[16], *copy = strdup(line), *tok, *save;
	int   argc = 0, ret, i;

	argv[argc++] = strdup("wsbridge");
	for (tok = strtok_r(copy, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = strdup(tok);
	argv[argc] = NULL;
	{
		char *orig[16];

		memcpy(orig, argv, sizeof(orig));
		ret = config_parse(argc, argv, cfg, err, errlen);
		for (i = 0; i < argc; i++)
			free(orig[i]);
	}
	free(copy);
	return ret;
}

Test(config_parse, token_options)
{
	struct config cfg;
	char	      err[256];

	cr_assert_eq(parse("--token-plugin TokenFile --token-source /t 6080",
			 &cfg, err, sizeof(err)),
	    CONFIG_OK, "%s", err);
	cr_expect_str_eq(cfg.token_plugin, "TokenFile");
	cr_expect_str_eq(cfg.token_source, "/t");
	cr_expect_null(cfg.target_host);
	config_free(&cfg);
	cr_assert_eq(parse("--target-config /f 6080", &cfg, err, sizeof(err)),
	    CONFIG_OK, "%s", err);
	cr_expect_str_eq(cfg.token_plugin, "TokenFile");
	cr_expect_str_eq(cfg.token_source, "/f");
	config_free(&cfg);
	cr_assert_eq(parse("6080 --token-plugin TokenRedis --token-source "
			   "h::::\"a:b\" --host-token",
			 &cfg, err, sizeof(err)),
	    CONFIG_OK, "%s", err);
	cr_expect(cfg.host_token);
	config_free(&cfg);
	cr_assert_eq(parse("--auth-plugin websockify.auth_plugins."
			   "ClientCertCNAuth --auth-source alice 6080 h:1",
			 &cfg, err, sizeof(err)),
	    CONFIG_OK, "%s", err);
	cr_expect_eq(cfg.auth_plugin, CONFIG_AUTH_CERT_CN);
	config_free(&cfg);
}

struct token_error_case {
	const char *args, *want;
};

static const struct token_error_case token_error_cases[] = {
	{ "--token-source /t 6080 h:1",
	    "--token-source needs --token-plugin" },
	{ "--host-token 6080 h:1", "--host-token needs --token-plugin" },
	{ "--token-plugin TokenFile 6080",
	    "--token-plugin needs --token-source" },
	{ "--token-plugin TokenFile --token-source /t 6080 h:1",
	    "a target address and a token plugin both given" },
	{ "--token-plugin TokenFile --token-source /t --unix-target /s 6080",
	    "--token-plugin and --unix-target both given" },
	{ "--target-config 6080", "missing the listen port" },
};

Test(config_parse, token_option_errors)
{
	struct config cfg;
	char	      err[256];
	size_t	      i;

	for (i = 0; i < NELEM(token_error_cases); i++) {
		cr_expect_eq(parse(token_error_cases[i].args, &cfg, err,
				 sizeof(err)),
		    CONFIG_ERROR, "%s accepted", token_error_cases[i].args);
		cr_expect(strstr(err, token_error_cases[i].want) != NULL,
		    "%s: '%s' lacks '%s'", token_error_cases[i].args, err,
		    token_error_cases[i].want);
	}
}

/* ClientCertCNAuth reads the verified CN only, never a header. */
Test(auth_check, client_cert_cn)
{
	struct config	    cfg = { 0 };
	struct http_request req;
	struct auth_result  res;
	char		   *text;

	cfg.auth_plugin = CONFIG_AUTH_CERT_CN;
	cfg.auth_source = strdup("alice  bob\tcarol");
	text = request_make("/", "SSL_CLIENT_S_DN_CN: alice", &req);
	cr_expect_eq(auth_check(&cfg, &req, "alice", &res), 0);
	cr_expect_eq(auth_check(&cfg, &req, "bob", &res), 0);
	cr_expect_eq(auth_check(&cfg, &req, "carol", &res), 0);
	cr_expect_eq(auth_check(&cfg, &req, "Alice", &res), 403);
	cr_expect_eq(auth_check(&cfg, &req, "ali", &res), 403);
	cr_expect_eq(auth_check(&cfg, &req, "alice bob", &res), 403);
	cr_expect_eq(auth_check(&cfg, &req, "", &res), 403);
	cr_expect_eq(auth_check(&cfg, &req, NULL, &res), 403);
	cr_expect_str_eq(res.reason, "no verified client certificate");
	free(text);
	free(cfg.auth_source);
}
