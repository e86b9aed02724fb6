/* Unit tests for TokenRedis (src/token_redis.c): the --token-source
 * parser and the value parser (tables), create()'s refusals, and the
 * connection's behaviour against real sockets that refuse or never
 * answer.  A real redis-server is driven by
 * tests/integration/test_token_redis.py. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>

#include "token.h"
#include "token_redis.h"
#include "wsb_limits.h"
#include "test_helpers.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* ok 0 parses (then host..ns are wanted, port 0 meaning 6379), -1 not. */
struct source_case {
	const char *desc;
	const char *src;
	int	    ok;
	const char *host;
	int	    port;
	int	    db;
	const char *password;
	const char *ns;
};

/* clang-format off */
static const struct source_case source_cases[] = {
	{ "host only", "redis.example", 0, "redis.example" },
	{ "host and port", "h:6380", 0, "h", 6380 },
	{ "port and db", "h:6380:2", 0, "h", 6380, 2 },
	{ "port, db, password", "h:6380:2:pw", 0, "h", 6380, 2, "pw" },
	{ "all five", "h:6380:2:pw:app", 0, "h", 6380, 2, "pw", "app" },
	{ "password, defaults before it", "h:::pw", 0, "h", 0, 0, "pw" },
	{ "namespace only", "h::::app", 0, "h", 0, 0, NULL, "app" },
	{ "quoted namespace with a colon", "h::::\"ns1:ns2\"", 0, "h", 0, 0,
	    NULL, "ns1:ns2" },
	{ "quoted password with colons", "h:::\"p:w:x\":ns", 0, "h", 0, 0,
	    "p:w:x", "ns" },
	{ "quoted host", "\"h\":7000", 0, "h", 7000 },
	{ "quoted port", "h:\"7000\"", 0, "h", 7000 },
	{ "quoted empty password is none", "h:::\"\"", 0, "h", 0, 0, NULL },
	{ "a quote inside a field is kept", "h:::pa\"ss", 0, "h", 0, 0,
	    "pa\"ss" },
	{ "trailing empty port", "h:", 0, "h" },
	{ "five empty fields after the host", "h::::", 0, "h" },
	{ "db 0 explicit", "h:1:0", 0, "h", 1, 0 },
	{ "port 1", "h:1", 0, "h", 1 },
	{ "port 65535", "h:65535", 0, "h", 65535 },
	{ "large db", "h::2147483647", 0, "h", 0, 2147483647 },
	{ "IPv4 host", "127.0.0.1:6379", 0, "127.0.0.1", 6379 },
	{ "IPv6 host in brackets", "[::1]:6379", 0, "::1", 6379 },
	{ "IPv6 host, default port", "[::1]", 0, "::1" },
	{ "IPv6 host, all fields", "[fe80::1]:1:2:pw:ns", 0, "fe80::1", 1, 2,
	    "pw", "ns" },
	{ "IPv6 host quoted", "\"::1\":6379", 0, "::1", 6379 },

	{ "empty source", "", -1 },
	{ "empty host", ":6379", -1 },
	{ "quoted empty host", "\"\":6379", -1 },
	{ "empty brackets", "[]:6379", -1 },
	{ "port 0", "h:0", -1 },
	{ "port 65536", "h:65536", -1 },
	{ "negative port", "h:-1", -1 },
	{ "port with a sign", "h:+1", -1 },
	{ "port not a number", "h:redis", -1 },
	{ "port with a blank", "h: 6379", -1 },
	{ "port huge", "h:99999999999999999999", -1 },
	{ "db not a number", "h:1:x", -1 },
	{ "negative db", "h:1:-1", -1 },
	{ "db past INT_MAX", "h:1:2147483648", -1 },
	{ "six fields", "h:1:2:pw:ns:more", -1 },
	{ "six empty fields", "h:::::", -1 },
	{ "unterminated quote", "h::::\"ns1:ns2", -1 },
	{ "unterminated quote, host", "\"h:1", -1 },
	{ "text after a closing quote", "h::::\"ns\"x", -1 },
	{ "unterminated bracket", "[::1:6379", -1 },
	{ "text after a closing bracket", "[::1]x:6379", -1 },
	{ "unbracketed IPv6", "::1:6379", -1 },
};
/* clang-format on */

/* Parse c->src and compare every field. */
static void
source_check(const struct source_case *c)
{
	struct token_redis_source rs;
	char			  buf[256], err[256];
	int			  r;

	memset(err, 0, sizeof(err));
	r = token_redis_source_parse(c->src, &rs, buf, sizeof(buf), err,
	    sizeof(err));
	cr_assert_eq(r, c->ok, "%s: '%s' gave %d (%s)", c->desc, c->src, r,
	    err);
	if (r != 0) {
		cr_expect(err[0] != '\0' && strchr(err, '\n') == NULL,
		    "%s: no one-line reason", c->desc);
		return;
	}
	cr_expect_str_eq(rs.host, c->host, "%s: host", c->desc);
	cr_expect_eq(rs.port, c->port != 0 ? c->port : 6379, "%s: port %d",
	    c->desc, rs.port);
	cr_expect_eq(rs.db, c->db, "%s: db %d", c->desc, rs.db);
	if (c->password == NULL)
		cr_expect_null(rs.password, "%s: a password", c->desc);
	else
		cr_expect(rs.password != NULL &&
			strcmp(rs.password, c->password) == 0,
		    "%s: password", c->desc);
	if (c->ns == NULL)
		cr_expect_null(rs.ns, "%s: a namespace", c->desc);
	else
		cr_expect(rs.ns != NULL && strcmp(rs.ns, c->ns) == 0,
		    "%s: namespace", c->desc);
}

Test(token_redis_source, table)
{
	size_t i;

	for (i = 0; i < NELEM(source_cases); i++)
		source_check(&source_cases[i]);
}

/* The reason for a malformed source never quotes the password. */
Test(token_redis_source, error_hides_password)
{
	static const char *const  srcs[] = { "h:0:0:s3cr3t", "h:1:x:s3cr3t",
		 "h:1:2:s3cr3t:ns:x", "h:1:2:\"s3cr3t", "h:1:2:\"s3cr3t\"x" };
	struct token_redis_source rs;
	char			  buf[64], err[256];
	size_t			  i;

	for (i = 0; i < NELEM(srcs); i++) {
		err[0] = '\0';
		cr_assert_eq(token_redis_source_parse(srcs[i], &rs, buf,
				 sizeof(buf), err, sizeof(err)),
		    -1, "'%s' parsed", srcs[i]);
		cr_expect(err[0] != '\0' && strstr(err, "s3cr3t") == NULL,
		    "'%s': reason '%s'", srcs[i], err);
	}
}

/* buf needs strlen(src) + 1 bytes, no more. */
Test(token_redis_source, buffer_size)
{
	static const char	  src[] = "h:1:2:pw:ns";
	struct token_redis_source rs;
	char			  buf[sizeof(src)], err[256];

	cr_expect_eq(token_redis_source_parse(src, &rs, buf, sizeof(buf), err,
			 sizeof(err)),
	    0, "exact room: %s", err);
	cr_expect_str_eq(rs.ns, "ns");
	cr_expect_eq(token_redis_source_parse(src, &rs, buf, sizeof(buf) - 1,
			 err, sizeof(err)),
	    -1, "one byte short parsed");
}

/* want NULL: malformed. */
struct value_case {
	const char *desc;
	const char *val;
	const char *want;
};

/* clang-format off */
static const struct value_case value_cases[] = {
	{ "plain host:port", "127.0.0.1:5900", "127.0.0.1:5900" },
	{ "plain name:port", "vnc.example:5901", "vnc.example:5901" },
	{ "blanks around stripped", " \t vnc:5900 \r\n", "vnc:5900" },
	{ "plain IPv6", "[::1]:5900", "[::1]:5900" },
	{ "plain Unix socket", "unix_socket:/run/vnc.sock",
	    "unix_socket:/run/vnc.sock" },
	{ "JSON host:port", "{\"host\": \"10.0.0.2:5900\"}", "10.0.0.2:5900" },
	{ "JSON with blanks around", " \n{\"host\":\"h:1\"}\n ", "h:1" },
	{ "JSON other members ignored", "{\"a\":[1],\"host\":\"h:2\"}",
	    "h:2" },
	{ "JSON host and numeric port", "{\"host\":\"h\",\"port\":5900}",
	    "h:5900" },
	{ "JSON host and string port", "{\"host\":\"h\",\"port\":\"5900\"}",
	    "h:5900" },
	{ "JSON IPv6 host and port", "{\"host\":\"::1\",\"port\":5900}",
	    "[::1]:5900" },
	{ "JSON bracketed IPv6 and port",
	    "{\"host\":\"[::1]\",\"port\":5900}", "[::1]:5900" },
	{ "JSON bracketed IPv6 with port", "{\"host\":\"[::1]:5900\"}",
	    "[::1]:5900" },
	{ "JSON Unix socket", "{\"host\":\"unix_socket:/run/v.sock\"}",
	    "unix_socket:/run/v.sock" },
	{ "JSON host:port wins over port (websockify)",
	    "{\"host\":\"h:1\",\"port\":2}", "h:1" },
	{ "JSON [v6]:port wins over port",
	    "{\"host\":\"[::1]:7\",\"port\":2}", "[::1]:7" },
	{ "JSON host:port, bad port ignored",
	    "{\"host\":\"h:1\",\"port\":\"x\"}", "h:1" },
	{ "JSON escapes decoded", "{\"host\":\"h\\u0031:1\"}", "h1:1" },
	{ "JSON long name and port",
	    "{\"host\":\"a-long-host-name-of-more-than-forty-eight-"
	    "characters.example\",\"port\":1}",
	    "a-long-host-name-of-more-than-forty-eight-characters.example:1" },

	{ "empty", "", NULL },
	{ "blanks only", " \r\n", NULL },
	{ "no port", "vnc.example", NULL },
	{ "empty port", "vnc:", NULL },
	{ "empty host", ":5900", NULL },
	{ "port 0", "vnc:0", NULL },
	{ "port 65536", "vnc:65536", NULL },
	{ "port not a number", "vnc:http", NULL },
	{ "blank inside", "vnc:59 00", NULL },
	{ "blank in the host", "v nc:5900", NULL },
	{ "control byte", "vnc:5900\x01", NULL },
	{ "DEL byte", "v\x7fnc:5900", NULL },
	{ "Unix socket without a path", "unix_socket:", NULL },
	{ "JSON not closed", "{\"host\":\"h:1\"", NULL },
	{ "JSON with text after", "{\"host\":\"h:1\"} x", NULL },
	{ "JSON array", "[\"h:1\"]", NULL },
	{ "JSON host not a string", "{\"host\":5900}", NULL },
	{ "JSON without host", "{\"port\":5900}", NULL },
	{ "JSON host without a port", "{\"host\":\"h\"}", NULL },
	{ "JSON empty host, port", "{\"host\":\"\",\"port\":1}", NULL },
	{ "JSON port 0", "{\"host\":\"h\",\"port\":0}", NULL },
	{ "JSON port 65536", "{\"host\":\"h\",\"port\":65536}", NULL },
	{ "JSON negative port", "{\"host\":\"h\",\"port\":-1}", NULL },
	{ "JSON real port", "{\"host\":\"h\",\"port\":5900.5}", NULL },
	{ "JSON boolean port", "{\"host\":\"h\",\"port\":true}", NULL },
	{ "JSON port string not digits", "{\"host\":\"h\",\"port\":\"59x\"}",
	    NULL },
	{ "JSON bracketed name and port", "{\"host\":\"[h]\",\"port\":2}",
	    NULL },
	{ "JSON lone bracket and port", "{\"host\":\"[\",\"port\":2}", NULL },
	{ "JSON duplicate host", "{\"host\":\"h:1\",\"host\":\"g:2\"}",
	    NULL },
	{ "JSON NUL escape", "{\"host\":\"h\\u0000:1\"}", NULL },
	{ "JSON blank in host", "{\"host\":\"a b:1\"}", NULL },
	{ "JSON newline in host", "{\"host\":\"a\\nb\",\"port\":1}", NULL },
	{ "JSON string, not object", "\"h:1\"", NULL },
};
/* clang-format on */

/* Parse v (len bytes) placed right before a guard page. */
static int
value_run(const char *v, size_t len, char *out, size_t outlen)
{
	char *end = test_guard_end(len);
	int   n;

	memcpy(end - len, v, len);
	n = token_redis_value_parse(end - len, len, out, outlen);
	test_guard_free(end, len);
	return n;
}

Test(token_redis_value, table)
{
	const struct value_case *c;
	char			 out[WSB_TOKEN_REDIS_MAX_VALUE + 1];
	size_t			 i;
	int			 n;

	for (i = 0; i < NELEM(value_cases); i++) {
		c = &value_cases[i];
		n = value_run(c->val, strlen(c->val), out, sizeof(out));
		if (c->want == NULL) {
			cr_expect_eq(n, -1, "%s: '%s' gave '%s'", c->desc,
			    c->val, out);
			continue;
		}
		cr_expect_eq(n, (int)strlen(c->want), "%s: '%s' gave %d",
		    c->desc, c->val, n);
		cr_expect_str_eq(out, c->want, "%s", c->desc);
	}
}

/* A NUL byte, a value too long, a target that does not fit. */
Test(token_redis_value, bounds)
{
	static const char with_nul[] = "vnc:5900\0x";
	char		  out[64], *big;
	size_t		  n;

	cr_expect_eq(value_run(with_nul, sizeof(with_nul) - 1, out,
			 sizeof(out)),
	    -1, "a NUL inside accepted");
	cr_expect_eq(value_run("vnc:5900", 8, out, 9), 8, "exact room");
	cr_expect_eq(value_run("vnc:5900", 8, out, 8), -1, "no room for NUL");
	cr_expect_eq(value_run("{\"host\":\"v\",\"port\":59}", 22, out, 4), -1,
	    "JSON target cut");
	n = WSB_TOKEN_REDIS_MAX_VALUE + 1;
	big = malloc(n);
	cr_assert_not_null(big);
	memset(big, ' ', n);
	memcpy(big, "vnc:5900", 8); /* blanks after it, still too long */
	cr_expect_eq(value_run(big, n, out, sizeof(out)), -1, "too long");
	cr_expect_eq(value_run(big, n - 1, out, sizeof(out)), 8,
	    "longest value taken");
	free(big);
}

/* create(): the bridge exits 2 with the one line it gives. */
Test(token_redis_create, refusals)
{
	static const char *const bad[] = { "h:notaport", "",
		"no-such-host.invalid", "h:1:2:3:4:5" };
	char			 err[256];
	size_t			 i;
	void			*st;

	for (i = 0; i < NELEM(bad); i++) {
		err[0] = '\0';
		st = token_redis_ops.create(bad[i], err, sizeof(err));
		cr_expect_null(st, "'%s' accepted", bad[i]);
		cr_expect(err[0] != '\0' && strchr(err, '\n') == NULL,
		    "'%s': reason '%s'", bad[i], err);
	}
	st = token_redis_ops.create("localhost:1:0:pw:ns", err, sizeof(err));
	cr_expect_not_null(st, "localhost refused: %s", err);
	token_redis_ops.destroy(st);
	cr_expect_str_eq(token_redis_ops.name, "TokenRedis");
}

/* What done() was told, and how often. */
struct answer {
	int		  calls;
	enum token_result r;
	char		  why[64];
};

/* The done() of these tests: note the answer, stop the loop. */
static void
answer_cb(enum token_result r, const char *target, const char *why, void *arg)
{
	struct answer *a = arg;

	a->calls++;
	a->r = r;
	snprintf(a->why, sizeof(a->why), "%s", why != NULL ? why : "");
	cr_expect_null(target, "a target without Redis");
}

/* A TCP port on 127.0.0.1: listening (backlog only, never accepted,
 * like a stopped Redis) when *fd is set to it, else closed. */
static int
port_make(int *fd, int listening)
{
	struct sockaddr_in sin;
	socklen_t	   len = sizeof(sin);
	int		   s;

	s = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(s != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	cr_assert(getsockname(s, (struct sockaddr *)&sin, &len) == 0);
	if (listening)
		cr_assert(listen(s, 16) == 0);
	else {
		close(s);
		s = -1;
	}
	*fd = s;
	return ntohs(sin.sin_port);
}

/* Run base for at most msec. */
static void
loop_for(struct event_base *base, int msec)
{
	struct timeval tv = { msec / 1000, (msec % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Refused: the queued lookup answers 503 once; the next one at once. */
Test(token_redis_worker, refused)
{
	struct event_base   *base = event_base_new();
	struct answer	     a = { 0 }, b = { 0 };
	struct token_lookup *l;
	char		     src[64], err[256];
	void		    *st, *ws;
	int		     fd, i;

	snprintf(src, sizeof(src), "127.0.0.1:%d", port_make(&fd, 0));
	cr_assert_not_null(st = token_redis_ops.create(src, err, sizeof(err)));
	cr_assert_not_null(ws = token_redis_ops.worker_create(st, NULL, base));
	l = token_redis_ops.lookup(ws, "tok", 3, answer_cb, &a);
	cr_assert_not_null(l, "answered before connecting");
	for (i = 0; i < 50 && a.calls == 0; i++)
		loop_for(base, 20);
	cr_expect_eq(a.calls, 1);
	cr_expect_eq(a.r, TOKEN_UNAVAILABLE);
	cr_expect(strncmp(a.why, "redis: ", 7) == 0, "why '%s'", a.why);
	l = token_redis_ops.lookup(ws, "tok", 3, answer_cb, &b);
	cr_expect_null(l, "not answered at once while disconnected");
	cr_expect_eq(b.calls, 1);
	cr_expect_str_eq(b.why, "redis: not connected");
	loop_for(base, 50);
	cr_expect_eq(a.calls + b.calls, 2, "answered twice");
	token_redis_ops.worker_destroy(ws);
	token_redis_ops.destroy(st);
	event_base_free(base);
}

/* A Redis that never answers: a cancelled lookup is never answered,
 * and worker_destroy frees the records hiredis still holds. */
Test(token_redis_worker, cancel_and_destroy)
{
	struct event_base   *base = event_base_new();
	struct answer	     a = { 0 }, b = { 0 };
	struct token_lookup *l;
	char		     src[64], err[256];
	void		    *st, *ws;
	int		     fd;

	snprintf(src, sizeof(src), "127.0.0.1:%d:3:pw:ns", port_make(&fd, 1));
	cr_assert_not_null(st = token_redis_ops.create(src, err, sizeof(err)));
	cr_assert_not_null(ws = token_redis_ops.worker_create(st, NULL, base));
	l = token_redis_ops.lookup(ws, "tok", 3, answer_cb, &a);
	cr_assert_not_null(l);
	cr_assert_not_null(token_redis_ops.lookup(ws, "t2", 2, answer_cb, &b));
	loop_for(base, 100); /* connected, AUTH SELECT GET GET sent */
	token_redis_ops.cancel(l);
	loop_for(base, 50);
	cr_expect_eq(a.calls, 0, "answered: %s", a.why);
	cr_expect_eq(b.calls, 0, "answered: %s", b.why);
	token_redis_ops.worker_destroy(ws); /* b uncancelled: still quiet */
	cr_expect_eq(a.calls + b.calls, 0, "answered at destroy");
	token_redis_ops.destroy(st);
	event_base_free(base);
	close(fd);
}
