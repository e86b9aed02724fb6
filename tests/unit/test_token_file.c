/* Unit tests for the token-file plugins: the line parser, the table (and
 * 100,000 tokens in it), loading files and directories (src/token_file.c),
 * and the four plugins driven through the router on a real event loop
 * with real files and a real Unix socket (src/token_file_name.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "token.h"
#include "token_file.h"
#include "wsb_limits.h"
#include "test_helpers.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* Timing bounds are for an optimised build; sanitizers are slower. */
#if defined(__SANITIZE_ADDRESS__)
#define TF_SLOW 10
#else
#define TF_SLOW 1
#endif

/* token_file_parse_line: ret 1 with token and target, 0 skip, -1 bad.
 * len 0 means strlen(line). */
struct line_case {
	const char *desc;
	const char *line;
	int	    ret;
	const char *token;
	const char *target;
	size_t	    len;
};

static const struct line_case line_cases[] = {
	{ "plain", "tok: host:5900", 1, "tok", "host:5900" },
	{ "tab after the colon", "tok:\thost:5900", 1, "tok", "host:5900" },
	{ "blanks after the separator", "tok: \t  host:1", 1, "tok",
	    "host:1" },
	{ "blanks around the line", "  \ttok: host:1 \t ", 1, "tok",
	    "host:1" },
	{ "CR left of a CRLF", "tok: host:1\r", 1, "tok", "host:1" },
	{ "vertical tab and form feed", "\vtok: h:1\f", 1, "tok", "h:1" },
	{ "0x1c is a blank to Python", "tok:\x1ch:1", 1, "tok", "h:1" },
	{ "colons inside the token", "a:b:c: host:1", 1, "a:b:c", "host:1" },
	{ "token keeps a trailing blank", "tok : host:1", 1, "tok ",
	    "host:1" },
	{ "hash inside a token", "a#b: h:1", 1, "a#b", "h:1" },
	{ "IPv6 target", "tok: [::1]:5900", 1, "tok", "[::1]:5900" },
	{ "IPv6 without brackets splits at the last colon", "tok: ::1:5900", 1,
	    "tok", "::1:5900" },
	{ "unix socket target", "tok: unix_socket:/run/vnc.sock", 1, "tok",
	    "unix_socket:/run/vnc.sock" },
	{ "port 1", "t: h:1", 1, "t", "h:1" },
	{ "port 65535", "t: h:65535", 1, "t", "h:65535" },
	{ "empty line", "", 0 },
	{ "blank line", " \t \r", 0 },
	{ "comment", "# tok: host:1", 0 },
	{ "indented comment", "   #x", 0 },
	{ "empty token", ": host:1", -1 },
	{ "two separators", "a: b: c", -1 },
	{ "two separators, tab", "a:\tb:\th:1", -1 },
	{ "no blank after the colon", "tok:host:1", -1 },
	{ "nothing after the separator", "tok:  ", -1 },
	{ "missing port", "tok: host", -1 },
	{ "empty port", "tok: host:", -1 },
	{ "port 0", "tok: host:0", -1 },
	{ "port 65536", "tok: host:65536", -1 },
	{ "port not a number", "tok: host:59a", -1 },
	{ "empty host", "tok: :5900", -1 },
	{ "host with a slash", "tok: /h:5900", -1 },
	{ "host with a blank", "tok: my host:5900", -1 },
	{ "bracketed host with a slash", "tok: [a/b]:5900", -1 },
	{ "IPv6 without a port", "tok: [::1]", -1 },
	{ "empty unix socket path", "tok: unix_socket:", -1 },
	{ "NUL in the target", "tok: h\0ost:1", -1, NULL, NULL, 12 },
	{ "NUL in the token", "t\0k: host:1", -1, NULL, NULL, 11 },
};

/* Each line at the very end of a mapping: a read past it faults. */
Test(token_file, parse_line)
{
	struct token_file_line	l;
	const struct line_case *c;
	size_t			i, len;
	char		       *end, *line;
	int			ret;

	for (i = 0; i < NELEM(line_cases); i++) {
		c = &line_cases[i];
		len = c->len != 0 ? c->len : strlen(c->line);
		end = test_guard_end(len);
		line = end - len;
		memcpy(line, c->line, len);
		ret = token_file_parse_line(line, len, &l);
		cr_expect_eq(ret, c->ret, "%s: returned %d, want %d", c->desc,
		    ret, c->ret);
		if (ret == 1 && c->ret == 1) {
			cr_expect(l.token_len == strlen(c->token) &&
				memcmp(l.token, c->token, l.token_len) == 0,
			    "%s: token", c->desc);
			cr_expect(l.target_len == strlen(c->target) &&
				memcmp(l.target, c->target, l.target_len) == 0,
			    "%s: target", c->desc);
		}
		test_guard_free(end, len);
	}
}

/* A target one byte past the bound is malformed; at the bound it is not. */
Test(token_file, parse_line_target_bound)
{
	struct token_file_line l;
	char		       line[WSB_TOKEN_FILE_MAX_TARGET + 16];
	size_t		       hostlen = WSB_TOKEN_FILE_MAX_TARGET - 5;

	memcpy(line, "t: ", 3);
	memset(line + 3, 'h', hostlen);
	memcpy(line + 3 + hostlen, ":5900", 6);
	cr_expect_eq(token_file_parse_line(line, strlen(line), &l), 1);
	cr_expect_eq(l.target_len, (size_t)WSB_TOKEN_FILE_MAX_TARGET);
	memset(line + 3, 'h', hostlen + 1);
	memcpy(line + 4 + hostlen, ":5900", 6);
	cr_expect_eq(token_file_parse_line(line, strlen(line), &l), -1);
}

/* token_file_name_ok: what TokenFileName and the socket directory take. */
struct name_case {
	const char *desc;
	const char *token;
	int	    ok;
	size_t	    len;
};

static const struct name_case name_cases[] = {
	{ "plain", "desk1", 1 },
	{ "colons and dashes", "a:b-c_d", 1 },
	{ "dot inside", "a.b", 1 },
	{ "empty", "", 0 },
	{ "dot", ".", 0 },
	{ "dot-dot", "..", 0 },
	{ "hidden file", ".secret", 0 },
	{ "climbs out", "../x", 0 },
	{ "slash inside", "a/b", 0 },
	{ "absolute", "/etc/passwd", 0 },
	{ "trailing slash", "a/", 0 },
	{ "NUL inside", "a\0b", 0, 3 },
};

/* Each name against its expected verdict. */
Test(token_file, name_ok)
{
	const struct name_case *c;
	size_t			i, len;

	for (i = 0; i < NELEM(name_cases); i++) {
		c = &name_cases[i];
		len = c->len != 0 ? c->len : strlen(c->token);
		cr_expect_eq(token_file_name_ok(c->token, len), c->ok, "%s",
		    c->desc);
	}
}

/* What the bad-line callback heard. */
struct bad_lines {
	size_t n;
	size_t lines[16];
};

/* Record a malformed line's number. */
static void
bad_cb(size_t lineno, void *arg)
{
	struct bad_lines *b = arg;

	if (b->n < NELEM(b->lines))
		b->lines[b->n] = lineno;
	b->n++;
}

/* A table from text (copied into a buffer the table takes). */
static struct token_file_table *
table_from(const char *text, size_t len, struct bad_lines *bad, long *added)
{
	struct token_file_table *t = token_file_table_new();
	char			*buf = malloc(len + 1);

	cr_assert(t != NULL && buf != NULL);
	memcpy(buf, text, len);
	*added = token_file_table_add(t, buf, len, bad_cb, bad);
	return t;
}

/* Line breaks as Python's universal newlines count them; bad lines are
 * reported by number; a later duplicate wins. */
Test(token_file, table_lines_and_duplicates)
{
	static const char text[] = "# tokens\n"	  /* 1 */
				   "a: h1:1\r\n"  /* 2 */
				   "bad line\r"	  /* 3 */
				   "b: h2:2\r"	  /* 4 */
				   "\r\n"	  /* 5 */
				   "a: h3:3\n"	  /* 6 */
				   "c: h:0\n"	  /* 7 */
				   "d:\t[::1]:4"; /* 8, no break */
	struct token_file_table *t;
	struct bad_lines	 bad = { 0 };
	long			 added;

	t = table_from(text, sizeof(text) - 1, &bad, &added);
	cr_expect_eq(added, 4);
	cr_expect_eq(token_file_table_count(t), 3);
	cr_expect_str_eq(token_file_table_get(t, "a", 1), "h3:3");
	cr_expect_str_eq(token_file_table_get(t, "b", 1), "h2:2");
	cr_expect_str_eq(token_file_table_get(t, "d", 1), "[::1]:4");
	cr_expect_null(token_file_table_get(t, "c", 1));
	cr_expect_null(token_file_table_get(t, "", 0));
	cr_expect_null(token_file_table_get(t, "a ", 2));
	cr_assert_eq(bad.n, 2);
	cr_expect_eq(bad.lines[0], 3);
	cr_expect_eq(bad.lines[1], 7);
	token_file_table_free(t);
}

/* An empty buffer and an empty table answer nothing. */
Test(token_file, table_empty)
{
	struct token_file_table *t;
	struct bad_lines	 bad = { 0 };
	long			 added;

	t = table_from("", 0, &bad, &added);
	cr_expect_eq(added, 0);
	cr_expect_eq(token_file_table_count(t), 0);
	cr_expect_null(token_file_table_get(t, "x", 1));
	cr_expect_eq(bad.n, 0);
	token_file_table_free(t);
}

/* CPU seconds this thread used: a loaded machine does not count. */
static double
cpu_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 100,000 tokens load well under a second; every one is found with its
 * own target, at well under a microsecond a lookup. */
Test(token_file, table_100k)
{
	struct token_file_table *t;
	const char		*got;
	char			*buf, *toks, want[32];
	size_t			 len = 0, i, n = 100000, cap = n * 48;
	size_t			 miss = 0, tl = 24;
	double			 t0, load, look;

	cr_assert((buf = malloc(cap + 1)) != NULL);
	cr_assert((toks = calloc(n, tl)) != NULL);
	for (i = 0; i < n; i++) {
		snprintf(toks + i * tl, tl, "tok-%zx-%zu", i * 7919, i);
		len += (size_t)snprintf(buf + len, cap - len,
		    "%s: 10.%zu.%zu.1:%zu\n", toks + i * tl, i / 256 % 256,
		    i % 256, 1 + i % 65535);
	}
	cr_assert((t = token_file_table_new()) != NULL);
	t0 = cpu_sec();
	cr_assert_eq(token_file_table_add(t, buf, len, NULL, NULL), (long)n);
	load = cpu_sec() - t0;
	cr_assert_eq(token_file_table_count(t), n);
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "10.%zu.%zu.1:%zu", i / 256 % 256,
		    i % 256, 1 + i % 65535);
		got = token_file_table_get(t, toks + i * tl,
		    strlen(toks + i * tl));
		cr_assert(got != NULL && strcmp(got, want) == 0,
		    "token %zu: got %s, want %s", i, got ? got : "(none)",
		    want);
	}
	cr_expect_null(token_file_table_get(t, "tok-0-1", 7));
	t0 = cpu_sec();
	for (i = 0; i < n; i++)
		miss += token_file_table_get(t, toks + i * tl,
			    strlen(toks + i * tl)) == NULL;
	look = cpu_sec() - t0;
	cr_expect_eq(miss, 0);
	cr_expect(load < 0.5 * TF_SLOW, "100,000 tokens loaded in %.3f s",
	    load);
	cr_expect(look / (double)n < 1e-6 * TF_SLOW, "a lookup took %.0f ns",
	    look / (double)n * 1e9);
	cr_log_info("100,000 tokens: loaded in %.3f s, %.0f ns a lookup", load,
	    look / (double)n * 1e9);
	token_file_table_free(t);
	free(toks);
}

/* A scratch directory, removed at the end of each test. */
static char tmpdir[64];

/* Remove one entry of the scratch directory. */
static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Make the scratch directory. */
static void
tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_token_file.XXXXXX");
	cr_assert(mkdtemp(tmpdir) != NULL);
}

/* Remove the scratch directory. */
static void
tmp_teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write text to tmpdir/name (truncating it in place); returns the path
 * in a static buffer. */
static const char *
put(const char *name, const char *text)
{
	static char path[PATH_MAX];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	cr_assert((f = fopen(path, "w")) != NULL, "%s: %s", path,
	    strerror(errno));
	cr_assert(fputs(text, f) >= 0 && fclose(f) == 0);
	return path;
}

/* The path of name in the scratch directory (static buffer). */
static const char *
at(const char *name)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

/* A directory source: regular files in name order, the later wins;
 * subdirectories and hidden files are left out. */
Test(token_file, load_directory_order, .init = tmp_setup, .fini = tmp_teardown)
{
	struct token_file_table *t;
	char			 err[256];

	put("b", "x: b:2\nonly-b: b:2\n");
	put("a", "x: a:1\nonly-a: a:1\n");
	put("c", "x: c:3\n");
	put(".hidden", "h: hidden:4\n");
	cr_assert(mkdir(at("sub"), 0700) == 0);
	put("sub/inner", "x: sub:5\n");
	t = token_file_load(tmpdir, err, sizeof(err));
	cr_assert(t != NULL, "%s", err);
	cr_expect_str_eq(token_file_table_get(t, "x", 1), "c:3");
	cr_expect_str_eq(token_file_table_get(t, "only-a", 6), "a:1");
	cr_expect_str_eq(token_file_table_get(t, "only-b", 6), "b:2");
	cr_expect_null(token_file_table_get(t, "h", 1));
	cr_expect_eq(token_file_table_count(t), 3);
	token_file_table_free(t);
}

/* A missing source, a FIFO (never waited on) and an empty directory. */
Test(token_file, load_errors, .init = tmp_setup, .fini = tmp_teardown)
{
	struct token_file_table *t;
	char			 err[256];

	cr_expect_null(token_file_load(at("nope"), err, sizeof(err)));
	cr_expect(strstr(err, "nope") != NULL &&
		strstr(err, "No such file") != NULL,
	    "%s", err);
	cr_assert(mkfifo(at("fifo"), 0600) == 0);
	cr_expect_null(token_file_load(at("fifo"), err, sizeof(err)));
	cr_expect(strstr(err, "not a regular file") != NULL, "%s", err);
	cr_assert(unlink(at("fifo")) == 0);
	t = token_file_load(tmpdir, err, sizeof(err));
	cr_assert(t != NULL, "%s", err);
	cr_expect_eq(token_file_table_count(t), 0);
	token_file_table_free(t);
}

/* An unreadable file makes the load fail (unless we are root). */
Test(token_file, load_unreadable, .init = tmp_setup, .fini = tmp_teardown)
{
	char err[256];

	if (geteuid() == 0)
		cr_skip_test("root reads any file");
	put("t", "a: h:1\n");
	cr_assert(chmod(at("t"), 0) == 0);
	cr_expect_null(token_file_load(at("t"), err, sizeof(err)));
	cr_expect(strstr(err, "Permission denied") != NULL, "%s", err);
	cr_expect_null(token_file_load(tmpdir, err, sizeof(err)));
}

/* A relative source gets the working directory in front. */
Test(token_file, abspath)
{
	char err[256], cwd[PATH_MAX], want[PATH_MAX + 8], *p;

	cr_assert(getcwd(cwd, sizeof(cwd)) != NULL);
	snprintf(want, sizeof(want), "%s/x/y", cwd);
	cr_assert((p = token_file_abspath("x/y//", err, sizeof(err))) != NULL);
	cr_expect_str_eq(p, want);
	free(p);
	cr_assert((p = token_file_abspath("/a/b/", err, sizeof(err))) != NULL);
	cr_expect_str_eq(p, "/a/b");
	free(p);
	cr_assert((p = token_file_abspath("/", err, sizeof(err))) != NULL);
	cr_expect_str_eq(p, "/");
	free(p);
	cr_expect_null(token_file_abspath("", err, sizeof(err)));
}

/* One lookup's answer, as done() gave it. */
struct answer {
	int		  called;
	enum token_result r;
	char		  target[WSB_TOKEN_FILE_MAX_TARGET + 1];
	char		  why[128];
};

/* done(): keep the answer. */
static void
done_cb(enum token_result r, const char *target, const char *why, void *arg)
{
	struct answer *a = arg;

	a->called++;
	a->r = r;
	snprintf(a->target, sizeof(a->target), "%s", target ? target : "");
	snprintf(a->why, sizeof(a->why), "%s", why ? why : "");
}

/* A plugin through the router, on one worker with its own loop. */
struct rig {
	struct token_router *r;
	struct event_base   *base;
	struct token_worker *tw;
};

/* Start plugin ops on source; the test fails if it refuses. */
static void
rig_start(struct rig *g, const struct token_plugin_ops *ops,
    const char *source)
{
	char err[512];

	g->r = token_router_create(ops, source, err, sizeof(err));
	cr_assert(g->r != NULL, "%s: %s", ops->name, err);
	cr_assert((g->base = event_base_new()) != NULL);
	cr_assert((g->tw = token_worker_create(g->r, g->base)) != NULL);
}

/* Stop everything the rig started. */
static void
rig_stop(struct rig *g)
{
	token_worker_free(g->tw);
	token_router_free(g->r);
	event_base_free(g->base);
}

/* The answer did not come in time (criterion's .timeout is not used:
 * with parallel jobs its runner sometimes leaks, which ASan reports). */
static void
late_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Look token up and wait (10 s at most) for the answer.  Returns 1 when
 * it came at once (synchronously), 0 when through the loop. */
static int
ask(struct rig *g, const char *token, struct answer *a)
{
	struct token_lookup *l;
	struct timeval	     tv = { 10, 0 };
	struct event	    *late;
	int		     timed_out = 0;

	memset(a, 0, sizeof(*a));
	l = token_lookup_start(g->tw, token, strlen(token), done_cb, a);
	if (l == NULL) {
		cr_assert_eq(a->called, 1, "NULL handle without an answer");
		return 1;
	}
	cr_assert_eq(a->called, 0, "answered and a handle returned");
	cr_assert((late = evtimer_new(g->base, late_cb, &timed_out)) != NULL);
	evtimer_add(late, &tv);
	while (a->called == 0 && !timed_out)
		event_base_loop(g->base, EVLOOP_ONCE);
	event_free(late);
	cr_assert_eq(a->called, 1, "no answer for %s", token);
	/* A token is a secret: never in the reason. */
	cr_assert(token[0] == '\0' || strstr(a->why, token) == NULL,
	    "why \"%s\" holds the token", a->why);
	return 0;
}

/* The answer is FOUND with target. */
static void
expect_found(struct rig *g, const char *token, const char *target)
{
	struct answer a;

	ask(g, token, &a);
	cr_expect_eq(a.r, TOKEN_FOUND, "%s: result %d (%s)", token, a.r,
	    a.why);
	cr_expect_str_eq(a.target, target, "%s", token);
}

/* The answer is r with a reason holding why. */
static void
expect_refused(struct rig *g, const char *token, enum token_result r,
    const char *why, int sync)
{
	struct answer a;
	int	      s = ask(g, token, &a);

	cr_expect_eq(a.r, r, "%s: result %d, want %d", token, a.r, r);
	cr_expect(strstr(a.why, why) != NULL, "%s: why \"%s\"", token, a.why);
	cr_expect_str_eq(a.target, "");
	if (sync >= 0)
		cr_expect_eq(s, sync, "%s: synchronous %d", token, s);
}

/* Replace tmpdir/name with text by a rename (an atomic edit). */
static void
put_atomic(const char *name, const char *text)
{
	char dst[PATH_MAX];

	snprintf(dst, sizeof(dst), "%s", at(name));
	put(".new", text);
	cr_assert(rename(at(".new"), dst) == 0);
}

/* The names websockify's users write, with or without the module. */
Test(token_file, plugin_names)
{
	cr_expect_eq(token_plugin_find("TokenFile"), &token_file_ops);
	cr_expect_eq(token_plugin_find("ReadOnlyTokenFile"),
	    &token_file_ro_ops);
	cr_expect_eq(
	    token_plugin_find("websockify.token_plugins.TokenFileName"),
	    &token_file_name_ops);
	cr_expect_eq(token_plugin_find("UnixDomainSocketDirectory"),
	    &token_unix_dir_ops);
}

/* Bad sources are refused at start-up with one line naming them. */
Test(token_file, create_errors, .init = tmp_setup, .fini = tmp_teardown)
{
	char err[512];

	cr_expect_null(token_router_create(&token_file_ops, at("none"), err,
	    sizeof(err)));
	cr_expect(strstr(err, at("none")) != NULL && strchr(err, '\n') == NULL,
	    "%s", err);
	cr_expect_null(token_router_create(&token_file_ro_ops, "", err,
	    sizeof(err)));
	put("f", "a: h:1\n");
	cr_expect_null(token_router_create(&token_file_name_ops, at("f"), err,
	    sizeof(err)));
	cr_expect(strstr(err, "not a directory") != NULL, "%s", err);
	cr_expect_null(token_router_create(&token_unix_dir_ops, at("none"),
	    err, sizeof(err)));
	token_router_free(NULL);
}

/* TokenFile: an edit in place, a rename over the file, a deletion (the
 * last table stays) and a new file each apply to the next lookup; with
 * no edit pending the answer comes at once. */
Test(token_file, token_file_edits, .init = tmp_setup, .fini = tmp_teardown)
{
	struct rig    g;
	struct answer a;

	put("tokens", "a: h:1\nb: h:9\n");
	rig_start(&g, &token_file_ops, at("tokens"));
	cr_expect_eq(ask(&g, "a", &a), 1);
	cr_expect_str_eq(a.target, "h:1");
	expect_refused(&g, "zz", TOKEN_NOT_FOUND, "not in the token file", 1);
	put("tokens", "a: h:2\n");
	cr_expect_eq(ask(&g, "a", &a), 0, "an edit goes through a job");
	cr_expect_str_eq(a.target, "h:2");
	cr_expect_eq(ask(&g, "a", &a), 1, "then answers at once again");
	expect_refused(&g, "b", TOKEN_NOT_FOUND, "not in the token file", 1);
	put_atomic("tokens", "a: h:3\nb: [::1]:4\n");
	expect_found(&g, "a", "h:3");
	expect_found(&g, "b", "[::1]:4");
	put("unrelated", "whatever\n");
	expect_found(&g, "a", "h:3");
	/* Writes to another file of the directory (a log) are read off the
	 * queue by the worker: still answered at once. */
	put("unrelated", "more\n");
	cr_expect_eq(ask(&g, "a", &a), 1, "another file's write: no job");
	cr_expect_str_eq(a.target, "h:3");
	cr_assert(unlink(at("tokens")) == 0);
	expect_found(&g, "a", "h:3");
	expect_found(&g, "b", "[::1]:4");
	put_atomic("tokens", "a: unix_socket:/run/x\n");
	expect_found(&g, "a", "unix_socket:/run/x");
	rig_stop(&g);
}

/* TokenFile: a file written and not closed is not read (the old table
 * answers) until its writer closes it or stops writing for the grace. */
Test(token_file, token_file_open_write, .init = tmp_setup,
    .fini = tmp_teardown)
{
	struct rig	g;
	long		ms = WSB_TOKEN_FILE_WRITE_GRACE_MSEC + 200;
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };
	FILE	       *f;

	put("tokens", "a: h:1\nb: h:1\n");
	rig_start(&g, &token_file_ops, at("tokens"));
	cr_assert((f = fopen(at("tokens"), "w")) != NULL);
	cr_assert(fputs("a: h:2\n", f) >= 0 && fflush(f) == 0);
	expect_found(&g, "a", "h:1");
	expect_found(&g, "b", "h:1");
	nanosleep(&ts, NULL);
	expect_found(&g, "a", "h:2");
	expect_refused(&g, "b", TOKEN_NOT_FOUND, "not in the token file", 1);
	cr_assert(fputs("b: h:3\n", f) >= 0 && fclose(f) == 0);
	expect_found(&g, "b", "h:3");
	rig_stop(&g);
}

/* TokenFile on a directory: a file added, one removed. */
Test(token_file, token_file_directory, .init = tmp_setup, .fini = tmp_teardown)
{
	struct rig g;

	put("1", "a: h:1\n");
	rig_start(&g, &token_file_ops, tmpdir);
	expect_refused(&g, "b", TOKEN_NOT_FOUND, "not in the token file", 1);
	put("2", "b: h:2\na: h:22\n");
	expect_found(&g, "b", "h:2");
	expect_found(&g, "a", "h:22");
	cr_assert(unlink(at("2")) == 0);
	expect_found(&g, "a", "h:1");
	expect_refused(&g, "b", TOKEN_NOT_FOUND, "not in the token file", -1);
	rig_stop(&g);
}

/* ReadOnlyTokenFile: an edit is seen only after a reload (SIGHUP); a
 * reload that fails keeps the table. */
Test(token_file, read_only_reload, .init = tmp_setup, .fini = tmp_teardown)
{
	struct rig g;

	put("tokens", "a: h:1\n");
	rig_start(&g, &token_file_ro_ops, at("tokens"));
	expect_found(&g, "a", "h:1");
	put("tokens", "a: h:2\n");
	expect_found(&g, "a", "h:1");
	token_router_reload(g.r);
	expect_found(&g, "a", "h:2");
	cr_assert(unlink(at("tokens")) == 0);
	token_router_reload(g.r);
	expect_found(&g, "a", "h:2");
	rig_stop(&g);
}

/* TokenFile: SIGHUP reloads too. */
Test(token_file, token_file_reload, .init = tmp_setup, .fini = tmp_teardown)
{
	struct rig g;

	put("tokens", "a: h:1\n");
	rig_start(&g, &token_file_ops, at("tokens"));
	token_router_reload(g.r);
	expect_found(&g, "a", "h:1");
	rig_stop(&g);
}

/* TokenFileName: the file named like the token; names that are not
 * plain file names are refused without a job. */
Test(token_file, token_file_name, .init = tmp_setup, .fini = tmp_teardown)
{
	struct rig g;
	char	   big[WSB_TOKEN_FILE_NAME_READ + 64];

	put("desk1", "  host:5901 \n");
	put("desk6", "[::1]:5902");
	put("bad", "not a target\n");
	memset(big, ' ', sizeof(big));
	memcpy(big + sizeof(big) - 7, "h:5900", 7);
	put("big", big);
	cr_assert(mkfifo(at("fifo"), 0600) == 0);
	cr_assert(mkdir(at("sub"), 0700) == 0);
	rig_start(&g, &token_file_name_ops, tmpdir);
	expect_found(&g, "desk1", "host:5901");
	expect_found(&g, "desk6", "[::1]:5902");
	expect_refused(&g, "bad", TOKEN_NOT_FOUND,
	    "malformed target in token file", 0);
	expect_refused(&g, "big", TOKEN_NOT_FOUND,
	    "malformed target in token file", 0);
	expect_refused(&g, "none", TOKEN_NOT_FOUND, "no such token file", 0);
	expect_refused(&g, "fifo", TOKEN_NOT_FOUND, "no such token file", 0);
	expect_refused(&g, "sub", TOKEN_NOT_FOUND, "no such token file", 0);
	expect_refused(&g, "../desk1", TOKEN_NOT_FOUND, "not a file name", 1);
	expect_refused(&g, "..", TOKEN_NOT_FOUND, "not a file name", 1);
	expect_refused(&g, ".", TOKEN_NOT_FOUND, "not a file name", 1);
	expect_refused(&g, ".new", TOKEN_NOT_FOUND, "not a file name", 1);
	rig_stop(&g);
}

/* UnixDomainSocketDirectory: a socket is found, a file is not; a path
 * too long for sun_path is refused without a job. */
Test(token_file, unix_socket_directory, .init = tmp_setup,
    .fini = tmp_teardown)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct rig	   g;
	char		   want[PATH_MAX + 16], longtok[128];
	int		   fd;
	size_t		   n = sizeof(sun.sun_path) - strlen(tmpdir) - 1;

	cr_assert(strlen(at("vnc")) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, at("vnc"), strlen(at("vnc")) + 1);
	cr_assert((fd = socket(AF_UNIX, SOCK_STREAM, 0)) != -1);
	cr_assert(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	put("plain", "x\n");
	rig_start(&g, &token_unix_dir_ops, tmpdir);
	snprintf(want, sizeof(want), "unix_socket:%s", at("vnc"));
	expect_found(&g, "vnc", want);
	expect_refused(&g, "plain", TOKEN_NOT_FOUND, "not a socket", 0);
	expect_refused(&g, "gone", TOKEN_NOT_FOUND, "no such socket", 0);
	expect_refused(&g, "../vnc", TOKEN_NOT_FOUND, "not a file name", 1);
	memset(longtok, 'x', n);
	longtok[n] = '\0';
	expect_refused(&g, longtok, TOKEN_NOT_FOUND, "too long", 1);
	longtok[n - 1] = '\0';
	expect_refused(&g, longtok, TOKEN_NOT_FOUND, "no such socket", 0);
	rig_stop(&g);
	close(fd);
}

/* A lookup cancelled while its job runs is never answered, and the
 * worker still shuts down cleanly. */
Test(token_file, cancel, .init = tmp_setup, .fini = tmp_teardown)
{
	struct rig	     g;
	struct answer	     a = { 0 };
	struct token_lookup *l;
	int		     i;

	put("desk1", "host:5901\n");
	rig_start(&g, &token_file_name_ops, tmpdir);
	l = token_lookup_start(g.tw, "desk1", 5, done_cb, &a);
	cr_assert(l != NULL);
	token_lookup_cancel(l);
	for (i = 0; i < 5; i++)
		event_base_loop(g.base, EVLOOP_NONBLOCK);
	l = token_lookup_start(g.tw, "desk1", 5, done_cb, &a);
	cr_assert(l != NULL);
	token_lookup_cancel(l);
	rig_stop(&g); /* runs the finish of the job still out */
	cr_expect_eq(a.called, 0);
}
