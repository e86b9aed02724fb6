/* Unit tests for static files (src/web.c): the request path check on its
 * own, and whole responses from a web root made for the test. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strcasestr, strndup */
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "wsb_config.h"
#include "http.h"
#include "web.h"
#include "test_helpers.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* out's size when a case does not name one. */
#define NORM_OUTLEN 256

/*
 * web_path_normalize on a whole path.  status 0, 400 or 404; out and
 * dir_slash are checked with status 0.  outlen 0: NORM_OUTLEN.
 */
struct norm_case {
	const char *desc;
	const char *path;
	int	    status;
	const char *out;
	int	    dir_slash;
	size_t	    outlen;
};

static const struct norm_case norm_cases[] = {
	{ "root", "/", 0, "", 1 },
	{ "file", "/vnc.html", 0, "vnc.html", 0 },
	{ "file in a directory", "/app/ui.js", 0, "app/ui.js", 0 },
	{ "directory with slash", "/app/", 0, "app", 1 },
	{ "directory without slash", "/app", 0, "app", 0 },
	{ "empty segments dropped", "//a//b/", 0, "a/b", 1 },
	{ "trailing empty segments", "/a//", 0, "a", 1 },
	{ "dots inside names", "/a..b/c.d.e", 0, "a..b/c.d.e", 0 },
	{ "name ending in a dot", "/a./b", 0, "a./b", 0 },
	{ "dot segment", "/a/./b", 404 },
	{ "trailing dot segment", "/a/.", 404 },
	{ "dot-dot at the root", "/../etc/passwd", 404 },
	{ "dot-dot past the root", "/a/../../b", 404 },
	{ "dot-dot that stays inside", "/a/../b", 404 },
	{ "trailing dot-dot", "/a/..", 404 },
	{ "encoded dot-dot", "/%2e%2e/etc/passwd", 404 },
	{ "encoded dot-dot, mixed case", "/%2E%2e/x", 404 },
	{ "half-encoded dot-dot", "/.%2e/x", 404 },
	{ "dot-dot and encoded slash", "/..%2fetc", 404 },
	{ "encoded slash", "/a%2fb", 404 },
	{ "encoded slash, upper case", "/a%2Fb", 404 },
	{ "encoded NUL", "/a%00b", 404 },
	{ "dotfile", "/.hidden", 404 },
	{ "dot directory", "/a/.git/config", 404 },
	{ "encoded dotfile", "/%2ehidden", 404 },
	{ "encoded space", "/a%20b.txt", 0, "a b.txt", 0 },
	{ "encoded UTF-8", "/caf%C3%A9", 0, "caf\xc3\xa9", 0 },
	{ "encoded UTF-8, lower-case hex", "/caf%c3%a9", 0, "caf\xc3\xa9", 0 },
	{ "raw UTF-8", "/caf\xc3\xa9", 0, "caf\xc3\xa9", 0 },
	{ "encoded percent", "/100%25", 0, "100%", 0 },
	{ "encoded '?' is part of the name", "/a%3fb", 0, "a?b", 0 },
	{ "'+' kept in a path", "/a+b", 0, "a+b", 0 },
	{ "encoded '+'", "/a%2Bb", 0, "a+b", 0 },
	{ "encoded control bytes kept", "/a%0a%1bb", 0,
	    "a\n\x1b"
	    "b",
	    0 },
	{ "query dropped", "/x?y=1", 0, "x", 0 },
	{ "query with dot-dot dropped", "/x?y=/../z", 0, "x", 0 },
	{ "query with a bad escape dropped", "/x?%zz", 0, "x", 0 },
	{ "query after a directory", "/app/?y", 0, "app", 1 },
	{ "root with query", "/?token=abc", 0, "", 1 },
	{ "fragment dropped", "/x#frag", 0, "x", 0 },
	{ "lone '%'", "/x%", 400 },
	{ "'%' and one hex digit", "/x%4", 400 },
	{ "'%' and one hex digit before the query", "/x%4?a", 400 },
	{ "non-hex escape", "/x%zz", 400 },
	{ "half non-hex escape", "/x%4g", 400 },
	{ "relative path", "relative", 400 },
	{ "empty path", "", 400 },
	{ "asterisk-form", "*", 400 },
	{ "absolute-form", "http://h/x", 400 },
	{ "query only", "?x", 400 },
	{ "name fills out exactly", "/abc", 0, "abc", 0, 4 },
	{ "name one byte too long", "/abcd", 404, NULL, 0, 4 },
	{ "segments fill out exactly", "/a/b", 0, "a/b", 0, 4 },
	{ "segments one byte too long", "/a/bc", 404, NULL, 0, 4 },
	{ "decoded name fits, encoded would not", "/%41%42%43", 0, "ABC", 0,
	    4 },
	{ "root in one byte", "/", 0, "", 1, 1 },
	{ "name in one byte", "/a", 404, NULL, 0, 1 },
};

/* Check one result against its case. */
static void
check_norm(const struct norm_case *c, int ret, const char *out, int dir_slash,
    const char *how)
{
	cr_expect_eq(ret, c->status, "%s (%s): '%s' returned %d, want %d",
	    c->desc, how, c->path, ret, c->status);
	if (ret != 0 || c->status != 0)
		return;
	cr_expect_str_eq(out, c->out, "%s (%s): out '%s', want '%s'", c->desc,
	    how, out, c->out);
	cr_expect_eq(dir_slash, c->dir_slash, "%s (%s): dir_slash %d", c->desc,
	    how, dir_slash);
}

Test(web_path_normalize, table)
{
	const struct norm_case *c;
	char			out[NORM_OUTLEN];
	size_t			i, outlen;
	int			ret, dir_slash;

	for (i = 0; i < NELEM(norm_cases); i++) {
		c = &norm_cases[i];
		outlen = c->outlen != 0 ? c->outlen : NORM_OUTLEN;
		memset(out, 'Z', sizeof(out));
		dir_slash = -1;
		ret = web_path_normalize(c->path, strlen(c->path), out, outlen,
		    &dir_slash);
		check_norm(c, ret, out, dir_slash, "whole");
		cr_expect(outlen == sizeof(out) || out[outlen] == 'Z',
		    "%s: wrote past outlen %zu", c->desc, outlen);
	}
}

/* Every prefix of every path placed so its last byte is the page's last
 * byte, and out placed so its last byte is another page's last: neither
 * may be touched past its length. */
Test(web_path_normalize, page_edge)
{
	const struct norm_case *c;
	char		       *in, *oend = test_guard_end(NORM_OUTLEN);
	char		       *out;
	size_t			i, k, len, outlen, room = 0;
	int			ret, dir_slash;

	for (i = 0; i < NELEM(norm_cases); i++) {
		cr_assert(norm_cases[i].outlen <= NORM_OUTLEN);
		if (strlen(norm_cases[i].path) > room)
			room = strlen(norm_cases[i].path);
	}
	in = test_guard_end(room);
	for (i = 0; i < NELEM(norm_cases); i++) {
		c = &norm_cases[i];
		len = strlen(c->path);
		outlen = c->outlen != 0 ? c->outlen : NORM_OUTLEN;
		out = oend - outlen;
		for (k = 0; k <= len; k++) {
			memcpy(in - k, c->path, k);
			ret = web_path_normalize(in - k, k, out, outlen,
			    &dir_slash);
			if (k == len)
				check_norm(c, ret, out, dir_slash,
				    "page edge");
			else
				cr_expect(ret == 0 || ret == 400 || ret == 404,
				    "%s: prefix %zu returned %d", c->desc, k,
				    ret);
		}
	}
	test_guard_free(in, room);
	test_guard_free(oend, NORM_OUTLEN);
}

/* outlen 0: nothing is written, not even the terminating NUL; out sits
 * at a page edge so a write faults. */
struct zero_case {
	const char *desc;
	const char *path;
	int	    status;
};

static const struct zero_case zero_cases[] = {
	{ "root", "/", 404 },
	{ "file", "/a", 404 },
	{ "relative path is still 400", "relative", 400 },
	{ "empty path is still 400", "", 400 },
};

Test(web_path_normalize, outlen_zero)
{
	char  *out = test_guard_end(1);
	size_t i;
	int    ret, dir_slash;

	for (i = 0; i < NELEM(zero_cases); i++) {
		ret = web_path_normalize(zero_cases[i].path,
		    strlen(zero_cases[i].path), out, 0, &dir_slash);
		cr_expect_eq(ret, zero_cases[i].status,
		    "%s: '%s' returned %d, "
		    "want %d",
		    zero_cases[i].desc, zero_cases[i].path, ret,
		    zero_cases[i].status);
	}
	test_guard_free(out, 1);
}

/* Long paths: "/" and unit repeated reps times, on the heap so ASan
 * sees a read past it; out ends at a page edge.  With status 0 the
 * result's length is outlen_used. */
struct long_case {
	const char *desc;
	const char *unit;
	size_t	    reps;
	size_t	    outlen;
	int	    status;
	size_t	    out_used;
};

static const struct long_case long_cases[] = {
	{ "long name, small out", "a", 1000, 64, 404 },
	{ "name fills out exactly", "a", 63, 64, 0, 63 },
	{ "name one byte too long", "a", 64, 64, 404 },
	{ "many segments, small out", "a/", 1000, 64, 404 },
	{ "segments fill out exactly", "ab/", 21, 64, 0, 62 },
	{ "encoded name, small out", "%41", 1000, 64, 404 },
	{ "encoded name fills out exactly", "%41", 63, 64, 0, 63 },
	{ "PATH_MAX name in PATH_MAX out", "a", PATH_MAX, PATH_MAX, 404 },
	{ "1 MiB of empty segments", "/", 1 << 20, 16, 0, 0 },
	{ "1 MiB name", "x", 1 << 20, PATH_MAX, 404 },
};

Test(web_path_normalize, long_paths)
{
	const struct long_case *c;
	char		       *path, *oend = test_guard_end(PATH_MAX), *out;
	size_t			i, j, ulen, len;
	int			ret, dir_slash;

	for (i = 0; i < NELEM(long_cases); i++) {
		c = &long_cases[i];
		ulen = strlen(c->unit);
		len = 1 + ulen * c->reps;
		path = malloc(len);
		cr_assert(path != NULL);
		path[0] = '/';
		for (j = 0; j < c->reps; j++)
			memcpy(path + 1 + j * ulen, c->unit, ulen);
		out = oend - c->outlen;
		ret =
		    web_path_normalize(path, len, out, c->outlen, &dir_slash);
		cr_expect_eq(ret, c->status, "%s: returned %d, want %d",
		    c->desc, ret, c->status);
		if (ret == 0 && c->status == 0)
			cr_expect_eq(strlen(out), c->out_used,
			    "%s: out is %zu bytes, want %zu", c->desc,
			    strlen(out), c->out_used);
		free(path);
	}
	test_guard_free(oend, PATH_MAX);
}

/*
 * web_respond on a web root made for each test: files of each type, a
 * directory with index.html and one without, dotfiles, a FIFO, and
 * symlinks that stay inside the root or lead out of it (to a directory
 * next to it, and to one whose name starts with the root's name).
 */
static char web_dir[PATH_MAX]; /* the root */
static char web_out[PATH_MAX]; /* outside it */
static char web_sib[PATH_MAX]; /* root's name + "-evil" */

/* Last-Modified of every file made: 1000000000 is this date. */
#define WEB_MTIME 1000000000
#define WEB_LM "Sun, 09 Sep 2001 01:46:40 GMT"

#define VNC_HTML "<!DOCTYPE html>\n<title>noVNC</title>\n"

/* Path dir/rel into buf. */
static char *
web_path(char *buf, size_t len, const char *dir, const char *rel)
{
	cr_assert((size_t)snprintf(buf, len, "%s/%s", dir, rel) < len);
	return buf;
}

/* Make dir/rel holding len bytes of data, modified at WEB_MTIME. */
static void
web_put(const char *dir, const char *rel, const void *data, size_t len)
{
	struct timeval tv[2] = { { WEB_MTIME, 0 }, { WEB_MTIME, 0 } };
	char	       p[PATH_MAX];
	int	       fd;

	web_path(p, sizeof(p), dir, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd != -1, "open %s: %s", p, strerror(errno));
	cr_assert(write(fd, data, len) == (ssize_t)len, "write %s", p);
	close(fd);
	cr_assert(utimes(p, tv) == 0, "utimes %s", p);
}

static void
web_mkdir(const char *dir, const char *rel)
{
	char p[PATH_MAX];

	cr_assert(mkdir(web_path(p, sizeof(p), dir, rel), 0755) == 0,
	    "mkdir %s: %s", p, strerror(errno));
}

static void
web_symlink(const char *target, const char *rel)
{
	char p[PATH_MAX];

	cr_assert(symlink(target, web_path(p, sizeof(p), web_dir, rel)) == 0,
	    "symlink %s: %s", p, strerror(errno));
}

static void
web_tree_make(void)
{
	struct config cfg = { 0 };
	char	      big[300000], p[PATH_MAX], err[256];
	size_t	      i;

	strcpy(web_dir, "/tmp/wsbridge-web-XXXXXX");
	strcpy(web_out, "/tmp/wsbridge-out-XXXXXX");
	cr_assert(mkdtemp(web_dir) != NULL && mkdtemp(web_out) != NULL);
	web_path(web_sib, sizeof(web_sib), web_dir, "");
	web_sib[strlen(web_sib) - 1] = '\0';
	strcat(web_sib, "-evil");
	cr_assert(mkdir(web_sib, 0755) == 0);
	web_put(web_out, "secret.txt", "outside secret\n", 15);
	web_put(web_sib, "x.txt", "sibling secret\n", 15);

	web_put(web_dir, "vnc.html", VNC_HTML, strlen(VNC_HTML));
	web_put(web_dir, "UPPER.HTML", "<p>up</p>\n", 10);
	web_mkdir(web_dir, "app");
	web_put(web_dir, "app/ui.js", "console.log(1);\n", 16);
	web_put(web_dir, "app/style.css", "body{}\n", 7);
	web_put(web_dir, "img.svg", "<svg/>\n", 7);
	web_put(web_dir, "mod.wasm", "\0asm\1\0\0\0", 8);
	web_put(web_dir, "font.woff2", "wOF2", 4);
	web_put(web_dir, "data.bin", "\x00\x01\x02\xff", 4);
	web_put(web_dir, "README", "read me\n", 8);
	web_mkdir(web_dir, "v1.2");
	web_put(web_dir, "v1.2/LICENSE", "MIT\n", 4);
	web_put(web_dir, "empty.txt", "", 0);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 251);
	web_put(web_dir, "big.bin", big, sizeof(big));
	web_put(web_dir, "a b.txt", "space\n", 6);
	web_put(web_dir, "caf\xc3\xa9.txt", "utf-8\n", 6);
	web_mkdir(web_dir, "caf\xc3\xa9");
	web_put(web_dir, "<b>.txt", "angle\n", 6);
	web_put(web_dir, ".secret", "dotfile\n", 8);
	web_mkdir(web_dir, ".git");
	web_put(web_dir, ".git/config", "[core]\n", 7);
	cr_assert(mkfifo(web_path(p, sizeof(p), web_dir, "fifo"), 0644) == 0);
	web_mkdir(web_dir, "withindex");
	web_put(web_dir, "withindex/index.html", "<p>index</p>\n", 13);
	web_mkdir(web_dir, "noindex");
	web_put(web_dir, "noindex/a.txt", "a\n", 2);
	web_put(web_dir, "noindex/.hidden", "h\n", 2);
	web_mkdir(web_dir, "noindex/sub");

	web_symlink("vnc.html", "link_in");
	web_symlink(web_path(p, sizeof(p), web_out, "secret.txt"), "link_out");
	web_symlink(web_path(p, sizeof(p), web_sib, "x.txt"), "link_sibling");
	web_symlink(web_out, "linkdir_out");
	web_mkdir(web_dir, "linkindex");
	web_symlink("../vnc.html", "linkindex/index.html");
	web_mkdir(web_dir, "outindex");
	web_symlink(web_path(p, sizeof(p), web_out, "secret.txt"),
	    "outindex/index.html");

	cfg.web = web_dir;
	cr_assert(web_init(&cfg, err, sizeof(err)) == 0, "web_init: %s", err);
}

static int
web_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void
web_tree_remove(void)
{
	nftw(web_dir, web_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	nftw(web_out, web_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	nftw(web_sib, web_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(web_respond, .init = web_tree_make, .fini = web_tree_remove);

/* A response taken out of the evbuffer: head and body, NUL-terminated. */
struct resp {
	char  *buf;
	size_t len;
	size_t head_len; /* through the blank line, 0 if none */
};

static void
resp_take(struct evbuffer *ev, struct resp *r)
{
	char *p;

	r->len = evbuffer_get_length(ev);
	r->buf = malloc(r->len + 1);
	cr_assert(r->buf != NULL);
	cr_assert_eq(evbuffer_remove(ev, r->buf, r->len), (int)r->len);
	r->buf[r->len] = '\0';
	p = memmem(r->buf, r->len, "\r\n\r\n", 4);
	r->head_len = p != NULL ? (size_t)(p - r->buf) + 4 : 0;
}

/* A header's value (first of its name, any case) into out, or NULL. */
static char *
resp_header(const struct resp *r, const char *name, char *out, size_t len)
{
	size_t	    n = strlen(name);
	const char *p, *eol;

	for (p = r->buf; p < r->buf + r->head_len; p = eol + 2) {
		if ((eol = memmem(p, r->buf + r->head_len - p, "\r\n", 2)) ==
			NULL ||
		    eol == p)
			break;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			snprintf(out, len, "%.*s", (int)(eol - p), p);
			return out;
		}
	}
	return NULL;
}

/* The bytes of a file under the root; *len set. */
static char *
web_slurp(const char *rel, size_t *len)
{
	char	    p[PATH_MAX], *buf;
	struct stat st;
	int	    fd;

	fd = open(web_path(p, sizeof(p), web_dir, rel), O_RDONLY);
	cr_assert(fd != -1 && fstat(fd, &st) == 0, "open %s", p);
	buf = malloc((size_t)st.st_size + 1);
	cr_assert(buf != NULL);
	cr_assert(read(fd, buf, (size_t)st.st_size) == st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* One request in, one response out. */
static int
web_ask(const char *text, int file_only, struct resp *r, int *keep,
    size_t *bytes)
{
	struct config	    cfg = { 0 };
	struct http_request req;
	struct evbuffer	   *ev = evbuffer_new();
	const char	   *note;
	int		    ret;

	cr_assert(ev != NULL);
	cr_assert(http_parse_request(text, strlen(text), &req) > 0,
	    "request does not parse: %s", text);
	cfg.web = web_dir;
	cfg.file_only = file_only;
	*keep = -1;
	*bytes = (size_t)-1;
	ret = web_respond(&cfg, &req, ev, keep, bytes, &note);
	resp_take(ev, r);
	evbuffer_free(ev);
	return ret;
}

/* The ETag /vnc.html is sent with. */
static char *
web_etag(char *out, size_t len)
{
	struct resp r;
	size_t	    bytes;
	int	    keep;

	cr_assert_eq(web_ask("GET /vnc.html HTTP/1.1\r\n\r\n", 0, &r, &keep,
			 &bytes),
	    200);
	cr_assert(resp_header(&r, "ETag", out, len) != NULL, "no ETag");
	free(r.buf);
	return out;
}

#define GET(p) "GET " p " HTTP/1.1\r\nHost: h\r\n\r\n"
#define HEAD(p) "HEAD " p " HTTP/1.1\r\nHost: h\r\n\r\n"
#define GETH(p, h) "GET " p " HTTP/1.1\r\nHost: h\r\n" h "\r\n\r\n"
#define HTML "text/html; charset=utf-8"

/*
 * A request and what must come back.  req may hold {ETAG}: /vnc.html's
 * ETag.  file: the body is that file's bytes (HEAD: Content-Length is
 * its size).  has, lacks: text in the response, or not.
 */
struct resp_case {
	const char *desc;
	const char *req;
	int	    file_only;
	int	    status;
	int	    keep;
	const char *type;
	const char *file;
	const char *has;
	const char *lacks;
};

static const struct resp_case resp_cases[] = {
	/* Files and their types. */
	{ "file", GET("/vnc.html"), 0, 200, 1, HTML, "vnc.html" },
	{ "Last-Modified", GET("/vnc.html"), 0, 200, 1, HTML, "vnc.html",
	    "\r\nLast-Modified: " WEB_LM "\r\n" },
	{ ".js in a directory", GET("/app/ui.js"), 0, 200, 1,
	    "text/javascript; charset=utf-8", "app/ui.js" },
	{ ".css", GET("/app/style.css"), 0, 200, 1, "text/css; charset=utf-8",
	    "app/style.css" },
	{ ".svg", GET("/img.svg"), 0, 200, 1, "image/svg+xml; charset=utf-8",
	    "img.svg" },
	{ ".wasm", GET("/mod.wasm"), 0, 200, 1, "application/wasm",
	    "mod.wasm" },
	{ ".woff2", GET("/font.woff2"), 0, 200, 1, "font/woff2",
	    "font.woff2" },
	{ "unknown extension", GET("/data.bin"), 0, 200, 1,
	    "application/octet-stream", "data.bin" },
	{ "no extension", GET("/README"), 0, 200, 1,
	    "application/octet-stream", "README" },
	{ "dot in the directory, none in the name", GET("/v1.2/LICENSE"), 0,
	    200, 1, "application/octet-stream", "v1.2/LICENSE" },
	{ "upper-case extension", GET("/UPPER.HTML"), 0, 200, 1, HTML,
	    "UPPER.HTML" },
	{ "empty file", GET("/empty.txt"), 0, 200, 1,
	    "text/plain; charset=utf-8", "empty.txt" },
	{ "300 KB file", GET("/big.bin"), 0, 200, 1, NULL, "big.bin" },
	{ "encoded space", GET("/a%20b.txt"), 0, 200, 1, NULL, "a b.txt" },
	{ "encoded UTF-8 name", GET("/caf%C3%A9.txt"), 0, 200, 1, NULL,
	    "caf\xc3\xa9.txt" },
	{ "query dropped", GET("/vnc.html?token=1"), 0, 200, 1, HTML,
	    "vnc.html" },
	{ "HEAD: headers, no body", HEAD("/vnc.html"), 0, 200, 1, HTML,
	    "vnc.html" },
	{ "HEAD of a 300 KB file", HEAD("/big.bin"), 0, 200, 1, NULL,
	    "big.bin" },

	/* Directories. */
	{ "directory with index.html", GET("/withindex/"), 0, 200, 1, HTML,
	    "withindex/index.html" },
	{ "index.html with --file-only", GET("/withindex/"), 1, 200, 1, HTML,
	    "withindex/index.html" },
	{ "directory without slash: 301", GET("/withindex"), 0, 301, 1, NULL,
	    NULL, "\r\nLocation: /withindex/\r\n" },
	{ "301 drops the query", GET("/app?x=1"), 0, 301, 1, NULL, NULL,
	    "\r\nLocation: /app/\r\n" },
	{ "301 keeps the encoding", GET("/caf%C3%A9"), 0, 301, 1, NULL, NULL,
	    "\r\nLocation: /caf%C3%A9/\r\n" },
	{ "301 for //dir is not protocol-relative (open redirect)",
	    GET("//noindex"), 0, 301, 1, NULL, NULL,
	    "\r\nLocation: /noindex/\r\n" },
	{ "HEAD of a directory without slash: no body", HEAD("/withindex"), 0,
	    301, 1, NULL, NULL, "\r\nLocation: /withindex/\r\n" },
	{ "listing of the root", GET("/"), 0, 200, 1, HTML, NULL,
	    "href=\"vnc.html\"", ".secret" },
	{ "listing marks directories", GET("/"), 0, 200, 1, HTML, NULL,
	    "href=\"withindex/\"" },
	{ "listing leaves out dot directories", GET("/"), 0, 200, 1, HTML,
	    NULL, "href=\"app/\"", ".git" },
	{ "listing escapes names", GET("/"), 0, 200, 1, HTML, NULL,
	    "&lt;b&gt;.txt", "<b>.txt" },
	{ "listing of a subdirectory", GET("/noindex/"), 0, 200, 1, HTML, NULL,
	    "href=\"a.txt\"", ".hidden" },
	{ "listing of a subdirectory marks directories", GET("/noindex/"), 0,
	    200, 1, HTML, NULL, "href=\"sub/\"" },
	{ "HEAD of a listing: no body", HEAD("/"), 0, 200, 1, HTML },
	{ "--file-only: no listing", GET("/"), 1, 404, 1 },
	{ "--file-only: no listing of a subdirectory", GET("/noindex/"), 1,
	    404, 1 },

	/* Paths refused. */
	{ "missing file", GET("/missing"), 0, 404, 1 },
	{ "HEAD of a missing file: no body", HEAD("/missing"), 0, 404, 1 },
	{ "dotfile", GET("/.secret"), 0, 404, 1, NULL, NULL, NULL, "dotfile" },
	{ "dotfile in a subdirectory", GET("/noindex/.hidden"), 0, 404, 1 },
	{ "dot directory", GET("/.git/config"), 0, 404, 1, NULL, NULL, NULL,
	    "[core]" },
	{ "dot-dot", GET("/../etc/passwd"), 0, 404, 1, NULL, NULL, NULL,
	    "root:" },
	{ "encoded dot-dot", GET("/%2e%2e/%2e%2e/etc/passwd"), 0, 404, 1 },
	{ "file with a trailing slash", GET("/vnc.html/"), 0, 404, 1 },
	{ "bad escape", GET("/x%zz"), 0, 400, 1 },
	{ "FIFO is not a file", GET("/fifo"), 0, 404, 1 },

	/* Symlinks. */
	{ "symlink inside the root", GET("/link_in"), 0, 200, 1, HTML,
	    "vnc.html" },
	{ "symlink out of the root", GET("/link_out"), 0, 403, 1, NULL, NULL,
	    NULL, "outside secret" },
	{ "HEAD through a symlink out of the root", HEAD("/link_out"), 0, 403,
	    1 },
	{ "symlink to a directory named like the root + suffix",
	    GET("/link_sibling"), 0, 403, 1, NULL, NULL, NULL,
	    "sibling secret" },
	{ "file under a directory symlink out of the root",
	    GET("/linkdir_out/secret.txt"), 0, 403, 1 },
	{ "directory symlink out of the root", GET("/linkdir_out/"), 0, 403, 1,
	    NULL, NULL, NULL, "secret.txt" },
	{ "index.html symlink inside the root (index.html -> vnc.html)",
	    GET("/linkindex/"), 0, 200, 1, HTML, "vnc.html" },
	{ "index.html symlink out of the root", GET("/outindex/"), 0, 403, 1,
	    NULL, NULL, NULL, "outside secret" },
	{ "HEAD: index.html symlink out of the root", HEAD("/outindex/"), 0,
	    403, 1 },

	/* Methods. */
	{ "POST: 405 with Allow", "POST /vnc.html HTTP/1.1\r\nHost: h\r\n\r\n",
	    0, 405, 1, NULL, NULL, "\r\nAllow: GET, HEAD\r\n" },
	{ "PUT: 405", "PUT /vnc.html HTTP/1.1\r\nHost: h\r\n\r\n", 0, 405, 1,
	    NULL, NULL, "\r\nAllow: GET, HEAD\r\n" },
	{ "methods are case-sensitive", "get /vnc.html HTTP/1.1\r\n\r\n", 0,
	    405, 1 },
	{ "POST with a body it did not read: close",
	    "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 0, 405, 0 },
	{ "chunked POST it did not read: close",
	    "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n0\r\n\r\n",
	    0, 405, 0 },
	{ "GET with a body it did not read: close",
	    "GET /vnc.html HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 0, 200,
	    0, HTML, "vnc.html" },

	/* Keep-alive. */
	{ "Connection: close", GETH("/vnc.html", "Connection: close"), 0, 200,
	    0, HTML, "vnc.html" },
	{ "Connection: Close, any case",
	    GETH("/vnc.html", "Connection: Close"), 0, 200, 0, HTML,
	    "vnc.html" },
	{ "close in a list", GETH("/vnc.html", "Connection: foo, close"), 0,
	    200, 0 },
	{ "HTTP/1.0 closes", "GET /vnc.html HTTP/1.0\r\n\r\n", 0, 200, 0, HTML,
	    "vnc.html" },
	{ "HTTP/1.0 with keep-alive",
	    "GET /vnc.html HTTP/1.0\r\n"
	    "Connection: keep-alive\r\n\r\n",
	    0, 200, 1, HTML, "vnc.html" },
	{ "HTTP/1.0 with Keep-Alive, any case",
	    "GET /vnc.html HTTP/1.0\r\n"
	    "Connection: Keep-Alive\r\n\r\n",
	    0, 200, 1 },
	{ "404 with Connection: close", GETH("/missing", "Connection: close"),
	    0, 404, 0 },
	{ "HTTP/1.0 404 closes", "GET /missing HTTP/1.0\r\n\r\n", 0, 404, 0 },
	{ "405 with Connection: close",
	    "POST / HTTP/1.1\r\n"
	    "Connection: close\r\n\r\n",
	    0, 405, 0 },
	{ "listing with HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", 0, 200, 0, HTML },

	/* Conditional requests. */
	{ "If-None-Match: the ETag",
	    GETH("/vnc.html", "If-None-Match: {ETAG}"), 0, 304, 1, NULL, NULL,
	    "\r\nETag: {ETAG}\r\n" },
	{ "If-None-Match: a list holding the ETag",
	    GETH("/vnc.html", "If-None-Match: \"x\", {ETAG}"), 0, 304, 1 },
	{ "If-None-Match: *", GETH("/vnc.html", "If-None-Match: *"), 0, 304,
	    1 },
	{ "If-None-Match: the weak ETag (RFC 9110 13.1.2)",
	    GETH("/vnc.html", "If-None-Match: W/{ETAG}"), 0, 304, 1 },
	{ "If-None-Match: another ETag",
	    GETH("/vnc.html", "If-None-Match: \"0-0\""), 0, 200, 1, HTML,
	    "vnc.html" },
	{ "If-Modified-Since: Last-Modified",
	    GETH("/vnc.html", "If-Modified-Since: " WEB_LM), 0, 304, 1, NULL,
	    NULL, "\r\nLast-Modified: " WEB_LM "\r\n" },
	{ "If-Modified-Since: a second later",
	    GETH("/vnc.html",
		"If-Modified-Since: Sun, 09 Sep 2001 01:46:41 GMT"),
	    0, 304, 1 },
	{ "If-Modified-Since: a second earlier",
	    GETH("/vnc.html",
		"If-Modified-Since: Sun, 09 Sep 2001 01:46:39 GMT"),
	    0, 200, 1, HTML, "vnc.html" },
	{ "If-Modified-Since: not a date",
	    GETH("/vnc.html", "If-Modified-Since: yesterday"), 0, 200, 1, HTML,
	    "vnc.html" },
	{ "If-None-Match wins over If-Modified-Since",
	    GETH("/vnc.html",
		"If-None-Match: \"0-0\"\r\nIf-Modified-Since: " WEB_LM),
	    0, 200, 1, HTML, "vnc.html" },
	{ "HEAD with If-None-Match",
	    "HEAD /vnc.html HTTP/1.1\r\n"
	    "If-None-Match: {ETAG}\r\n\r\n",
	    0, 304, 1 },
	{ "304 with Connection: close",
	    GETH("/vnc.html", "If-None-Match: {ETAG}\r\nConnection: close"), 0,
	    304, 0 },
};

/* s with every {ETAG} replaced by etag, on the heap. */
static char *
web_subst(const char *s, const char *etag)
{
	size_t	    elen = strlen(etag), n = 0;
	const char *p;
	char	   *out, *o;

	for (p = s; (p = strstr(p, "{ETAG}")) != NULL; p += 6)
		n++;
	out = malloc(strlen(s) + n * elen + 1);
	cr_assert(out != NULL);
	for (o = out; *s != '\0';) {
		if (strncmp(s, "{ETAG}", 6) == 0) {
			memcpy(o, etag, elen);
			o += elen;
			s += 6;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	return out;
}

/* RFC 9110 15's reason phrase of each status web_respond sends. */
static const char *
web_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 301:
		return "Moved Permanently";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	default:
		return "?";
	}
}

/* Check one response against its case. */
static void
check_resp(const struct resp_case *c, const char *etag, int ret, int keep,
    size_t bytes, const struct resp *r)
{
	char	    want[64], v[256], *has, *lacks, *file = NULL;
	const char *body = r->buf + r->head_len;
	size_t	    blen = r->len - r->head_len, flen = 0;
	int	    head = strncmp(c->req, "HEAD ", 5) == 0;

	cr_expect_eq(ret, c->status, "%s: status %d, want %d", c->desc, ret,
	    c->status);
	if (ret != c->status)
		return;
	snprintf(want, sizeof(want), "HTTP/1.1 %d %s\r\n", c->status,
	    web_reason(c->status));
	cr_expect(strncmp(r->buf, want, strlen(want)) == 0,
	    "%s: status line '%.*s', want '%.*s'", c->desc,
	    (int)strcspn(r->buf, "\r"), r->buf, (int)strlen(want) - 2, want);
	cr_expect_eq(keep, c->keep, "%s: keep_alive %d, want %d", c->desc,
	    keep, c->keep);
	cr_assert(r->head_len > 0, "%s: head does not end", c->desc);
	cr_expect(resp_header(r, "Connection", v, sizeof(v)) != NULL &&
		strcmp(v, c->keep ? "keep-alive" : "close") == 0,
	    "%s: Connection header does not say %s", c->desc,
	    c->keep ? "keep-alive" : "close");
	if (head || c->status == 304)
		cr_expect_eq(blen, 0, "%s: %zu body bytes after a %s response",
		    c->desc, blen, head ? "HEAD" : "304");
	if (c->status != 304)
		cr_expect(resp_header(r, "Content-Length", v, sizeof(v)) !=
			NULL,
		    "%s: no Content-Length", c->desc);
	if (!head && c->status != 304 &&
	    resp_header(r, "Content-Length", v, sizeof(v)) != NULL)
		cr_expect(strtoull(v, NULL, 10) == blen,
		    "%s: Content-Length %s, body %zu", c->desc, v, blen);
	if (c->status == 200)
		cr_expect_eq(bytes, head ? 0 : blen,
		    "%s: *bytes %zu, body %zu", c->desc, bytes, blen);
	v[0] = '\0';
	if (c->type != NULL)
		cr_expect(resp_header(r, "Content-Type", v, sizeof(v)) !=
			    NULL &&
			strcmp(v, c->type) == 0,
		    "%s: Content-Type '%s', want '%s'", c->desc, v, c->type);
	if (c->file != NULL && c->status == 200) {
		file = web_slurp(c->file, &flen);
		if (head) {
			cr_expect(resp_header(r, "Content-Length", v,
				      sizeof(v)) != NULL &&
				strtoull(v, NULL, 10) == flen,
			    "%s: HEAD Content-Length, want %zu", c->desc,
			    flen);
		} else
			cr_expect(blen == flen &&
				memcmp(body, file, flen) == 0,
			    "%s: body (%zu bytes) is not %s (%zu bytes)",
			    c->desc, blen, c->file, flen);
		cr_expect(resp_header(r, "ETag", v, sizeof(v)) != NULL &&
			v[0] == '"' && v[strlen(v) - 1] == '"' &&
			strlen(v) > 2,
		    "%s: no quoted ETag", c->desc);
		v[0] = '\0';
		cr_expect(resp_header(r, "Last-Modified", v, sizeof(v)) !=
			    NULL &&
			strcmp(v, WEB_LM) == 0,
		    "%s: Last-Modified '%s'", c->desc, v);
		free(file);
	}
	if (c->status == 304)
		cr_expect(resp_header(r, "ETag", v, sizeof(v)) != NULL,
		    "%s: 304 without ETag", c->desc);
	if (c->has != NULL) {
		has = web_subst(c->has, etag);
		cr_expect(memmem(r->buf, r->len, has, strlen(has)) != NULL,
		    "%s: response lacks '%s':\n%.*s", c->desc, has,
		    (int)r->head_len, r->buf);
		free(has);
	}
	if (c->lacks != NULL) {
		lacks = web_subst(c->lacks, etag);
		cr_expect(memmem(r->buf, r->len, lacks, strlen(lacks)) == NULL,
		    "%s: response has '%s'", c->desc, lacks);
		free(lacks);
	}
}

Test(web_respond, table)
{
	const struct resp_case *c;
	struct resp		r;
	char			etag[128], *text;
	size_t			i, bytes;
	int			ret, keep;

	web_etag(etag, sizeof(etag));
	for (i = 0; i < NELEM(resp_cases); i++) {
		c = &resp_cases[i];
		text = web_subst(c->req, etag);
		ret = web_ask(text, c->file_only, &r, &keep, &bytes);
		check_resp(c, etag, ret, keep, bytes, &r);
		free(r.buf);
		free(text);
	}
}

/* A path leading out of the root is refused with a note for the
 * session's log line; web.c itself logs nothing (the session's access
 * line carries the escaped path and its session id). */
Test(web_respond, note_for_path_outside)
{
	struct config	    cfg = { 0 };
	struct http_request req;
	struct evbuffer	   *ev = evbuffer_new();
	const char	   *text = GET("/evil%1B%5B2J%0Afake:%20line%5C");
	const char	   *note = "unset";
	char		    p[PATH_MAX];
	size_t		    bytes;
	int		    keep, ret;

	web_symlink(web_path(p, sizeof(p), web_out, "secret.txt"),
	    "evil\x1b[2J\nfake: line\\");
	cr_assert(ev != NULL);
	cr_assert(http_parse_request(text, strlen(text), &req) > 0);
	cfg.web = web_dir;
	ret = web_respond(&cfg, &req, ev, &keep, &bytes, &note);
	evbuffer_free(ev);
	cr_expect_eq(ret, 403, "status %d", ret);
	cr_expect(note != NULL && strstr(note, "outside the web root") != NULL,
	    "note: %s", note != NULL ? note : "(null)");
	text = GET("/vnc.html");
	cr_assert(http_parse_request(text, strlen(text), &req) > 0);
	cr_assert((ev = evbuffer_new()) != NULL);
	ret = web_respond(&cfg, &req, ev, &keep, &bytes, &note);
	evbuffer_free(ev);
	cr_expect_eq(ret, 200, "status %d", ret);
	cr_expect(note == NULL, "note for a served file: %s", note);
}

/* The ETag is quoted and changes with the file's size or mtime. */
Test(web_respond, etag_changes)
{
	struct timeval tv[2] = { { WEB_MTIME + 60, 0 },
		{ WEB_MTIME + 60, 0 } };
	char	       e1[128], e2[128], e3[128], p[PATH_MAX];

	web_etag(e1, sizeof(e1));
	cr_expect(strlen(e1) > 2 && e1[0] == '"' && e1[strlen(e1) - 1] == '"',
	    "ETag %s not quoted", e1);
	web_put(web_dir, "vnc.html", VNC_HTML "x", strlen(VNC_HTML) + 1);
	web_etag(e2, sizeof(e2));
	cr_expect_str_neq(e1, e2, "ETag %s kept after the size changed", e1);
	cr_assert(utimes(web_path(p, sizeof(p), web_dir, "vnc.html"), tv) ==
	    0);
	web_etag(e3, sizeof(e3));
	cr_expect_str_neq(e2, e3, "ETag %s kept after the mtime changed", e2);
}

/* web_init: a directory, or -1 with a message.  dir: under the root,
 * absolute, or NULL for no --web. */
struct init_case {
	const char *desc;
	const char *dir;
	int	    ret;
};

static const struct init_case init_cases[] = {
	{ "no --web", NULL, 0 },
	{ "the root", "", 0 },
	{ "a subdirectory", "app", 0 },
	{ "a file", "vnc.html", -1 },
	{ "missing", "missing", -1 },
	{ "absolute missing", "/nonexistent-wsbridge-dir", -1 },
};

Test(web_respond, init)
{
	const struct init_case *c;
	struct config		cfg = { 0 };
	char			p[PATH_MAX], err[256];
	size_t			i;
	int			ret;

	for (i = 0; i < NELEM(init_cases); i++) {
		c = &init_cases[i];
		cfg.web = c->dir == NULL ? NULL :
		    c->dir[0] == '/'	 ? strcpy(p, c->dir) :
				       web_path(p, sizeof(p), web_dir, c->dir);
		err[0] = '\0';
		ret = web_init(&cfg, err, sizeof(err));
		cr_expect_eq(ret, c->ret, "%s: web_init returned %d (%s)",
		    c->desc, ret, err);
		if (ret == -1)
			cr_expect(err[0] != '\0', "%s: no message", c->desc);
	}
}
