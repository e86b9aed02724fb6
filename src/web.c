/*
 * Static files for --web: GET and HEAD, Content-Type, Last-Modified and
 * ETag with 304, keep-alive, index.html or a listing for directories.
 * Nothing outside the root is ever served: the path is decoded once and
 * checked, then the real path (symlinks resolved) must lie under the
 * real root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <event2/buffer.h>

#include "log.h"
#include "web.h"
#include "wsb_limits.h"

/* Most directory entries listed; a listing is for people, not crawls. */
#define WEB_MAX_LISTING 4096

struct web_type {
	const char *ext;
	const char *type;
};

/* What noVNC and web apps load; text types carry their charset. */
static const struct web_type web_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "json", "application/json; charset=utf-8" },
	{ "map", "application/json; charset=utf-8" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "xml", "application/xml; charset=utf-8" },
	{ "svg", "image/svg+xml; charset=utf-8" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "ico", "image/x-icon" },
	{ "wasm", "application/wasm" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "ttf", "font/ttf" },
	{ "otf", "font/otf" },
	{ "oga", "audio/ogg" },
	{ "ogg", "audio/ogg" },
	{ "mp3", "audio/mpeg" },
	{ "wav", "audio/wav" },
	{ "webmanifest", "application/manifest+json; charset=utf-8" },
	{ "pdf", "application/pdf" },
};

/* What every part of one response needs. */
struct web_reply {
	struct evbuffer *out;
	int		 head; /* HEAD: the body is left out */
	int		 keep_alive;
	size_t		 bytes; /* body bytes queued */
	const char	*note;	/* why refused, for the log */
};

static char   web_root[PATH_MAX]; /* realpath of --web, immutable */
static size_t web_root_len;

static const char *web_content_type(const char *);
static void	   web_http_date(time_t, char *, size_t);
static int	   web_keep_alive(const struct http_request *);
static int web_not_modified(const struct http_request *, const struct stat *,
    const char *);
static int web_listing(const char *, const char *, struct evbuffer *, int, int,
    size_t *);
static void web_html_escape(struct evbuffer *, const char *);
static void web_url_escape(struct evbuffer *, const char *, int);
static int  web_name_cmp(const void *, const void *);
static int  web_etag_match(const char *, size_t, const char *);
static int  web_resolve(struct web_reply *, const char *, char *);
static int  web_fail(struct web_reply *, int);
static int  web_redirect_slash(struct web_reply *, const char *);
static int  web_directory(const struct config *, struct web_reply *,
     const char *, int, char *, struct stat *);
static int  web_file(const struct http_request *, struct web_reply *,
     const char *, const struct stat *);
static int  web_serve(const struct config *, const struct http_request *,
     struct web_reply *);

/* Resolve the root once; every served path is checked against it. */
int
web_init(const struct config *cfg, char *err, size_t errlen)
{
	struct stat st;

	if (cfg->web == NULL)
		return 0;
	if (realpath(cfg->web, web_root) == NULL) {
		snprintf(err, errlen, "--web %s: %s", cfg->web,
		    strerror(errno));
		return -1;
	}
	if (stat(web_root, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "--web %s: not a directory", cfg->web);
		return -1;
	}
	web_root_len = strlen(web_root);
	return 0;
}

/* Decode and check a request path; see web.h.  Each segment between
 * literal slashes is decoded on its own, so "%2F" can never split one. */
int
web_path_normalize(const char *path, size_t len, char *out, size_t outlen,
    int *dir_slash)
{
	const char *p, *q, *end;
	size_t	    o = 0;
	int	    n;

	*dir_slash = 0;
	/* The query and fragment are not part of the file name. */
	for (p = path; p < path + len && *p != '?' && *p != '#'; p++)
		;
	end = p;
	if (end == path || path[0] != '/')
		return 400;
	if (outlen == 0)
		return 404;
	*dir_slash = end[-1] == '/';
	out[0] = '\0';
	for (p = path + 1; p < end; p = q + 1) {
		for (q = p; q < end && *q != '/'; q++)
			;
		if (q == p)
			continue; /* empty segments are dropped */
		if (o > 0) {
			if (o + 1 >= outlen)
				return 404;
			out[o++] = '/';
		}
		n = http_percent_decode(p, (size_t)(q - p), out + o,
		    outlen - o, 0);
		if (n == -1)
			return 400;
		/* Too long, or an encoded NUL: no such file. */
		if (n < 0)
			return 404;
		/* ".", ".." and dotfiles are refused; so is an encoded
		 * '/', which never names a file. */
		if (out[o] == '.' || memchr(out + o, '/', (size_t)n) != NULL)
			return 404;
		o += (size_t)n;
	}
	return 0;
}

/* Content-Type from the file name's extension. */
static const char *
web_content_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t	    i;

	if (dot != NULL && strchr(dot, '/') == NULL)
		for (i = 0; i < sizeof(web_types) / sizeof(web_types[0]); i++)
			if (strcasecmp(dot + 1, web_types[i].ext) == 0)
				return web_types[i].type;
	return "application/octet-stream";
}

/* RFC 9110 IMF-fixdate. */
static void
web_http_date(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* HTTP/1.1 keeps the connection unless told to close; 1.0 the reverse. */
static int
web_keep_alive(const struct http_request *req)
{
	const char *v;
	size_t	    len;

	/* A body is never read here: it must not be taken for the next
	 * request, so the connection ends with this response. */
	if (http_request_has_body(req))
		return 0;
	v = http_header_get(req, "Connection", &len);
	if (req->minor_version >= 1)
		return v == NULL || !http_list_has_token(v, len, "close");
	return v != NULL && http_list_has_token(v, len, "keep-alive");
}

/* If-None-Match uses weak comparison (RFC 9110 13.1.2): W/"x" matches
 * "x", as a proxy that compresses makes tags weak. */
static int
web_etag_match(const char *list, size_t len, const char *etag)
{
	const char *p = list, *item;
	size_t	    elen = strlen(etag), ilen;

	while (http_list_next(&p, list + len, &item, &ilen)) {
		if (ilen >= 2 && item[0] == 'W' && item[1] == '/') {
			item += 2;
			ilen -= 2;
		}
		if ((ilen == 1 && *item == '*') ||
		    (ilen == elen && memcmp(item, etag, elen) == 0))
			return 1;
	}
	return 0;
}

/* If-None-Match (preferred) or If-Modified-Since says the copy is fresh. */
static int
web_not_modified(const struct http_request *req, const struct stat *st,
    const char *etag)
{
	const char *v;
	size_t	    len;
	struct tm   tm;
	char	    buf[64];

	if ((v = http_header_get(req, "If-None-Match", &len)) != NULL)
		return web_etag_match(v, len, etag);
	if ((v = http_header_get(req, "If-Modified-Since", &len)) == NULL ||
	    len >= sizeof(buf))
		return 0;
	memcpy(buf, v, len);
	buf[len] = '\0';
	memset(&tm, 0, sizeof(tm));
	if (strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm) == NULL)
		return 0;
	return st->st_mtime <= timegm(&tm);
}

/* Write an error response; keep_alive leaves the connection open. */
void
web_error(struct evbuffer *out, int status, const char *extra,
    const char *reason, int keep_alive, int head)
{
	struct evbuffer_iovec v;
	size_t		      need;
	int		      n;

	/* Formatted in place at the end of out: the extra headers (a
	 * Location) may be as long as a request head. */
	need = strlen(reason) + (extra != NULL ? strlen(extra) : 0) + 256;
	if (evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) < 1)
		return;
	n = http_format_status(v.iov_base, v.iov_len, status, extra, reason,
	    keep_alive, head);
	v.iov_len = n > 0 ? (size_t)n : 0;
	evbuffer_commit_space(out, &v, 1);
}

/* Escape text for HTML. */
static void
web_html_escape(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			evbuffer_add(out, "&lt;", 4);
			break;
		case '>':
			evbuffer_add(out, "&gt;", 4);
			break;
		case '&':
			evbuffer_add(out, "&amp;", 5);
			break;
		case '"':
			evbuffer_add(out, "&quot;", 6);
			break;
		case '\'':
			evbuffer_add(out, "&#39;", 5);
			break;
		default:
			evbuffer_add(out, s, 1);
			break;
		}
	}
}

/* Percent-encode a name for a URL; keep_slash leaves '/' as is. */
static void
web_url_escape(struct evbuffer *out, const char *s, int keep_slash)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL ||
		    (keep_slash && c == '/'))
			evbuffer_add(out, s, 1);
		else
			evbuffer_add_printf(out, "%%%02X", c);
	}
}

/* Sort names for a listing. */
static int
web_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An HTML listing of a directory, as websockify's SimpleHTTPRequestHandler
 * gives; dotfiles are left out. */
static int
web_listing(const char *real, const char *rel, struct evbuffer *out, int head,
    int keep_alive, size_t *bytes)
{
	struct evbuffer *body;
	DIR		*d;
	struct dirent	*de;
	char	       **names = NULL, **tmp, full[PATH_MAX];
	size_t		 n = 0, cap = 0, i;
	struct stat	 st;

	if ((d = opendir(real)) == NULL)
		return 404;
	if ((body = evbuffer_new()) == NULL) {
		closedir(d);
		return 500;
	}
	while ((de = readdir(d)) != NULL && n < WEB_MAX_LISTING) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((tmp = reallocarray(names, cap, sizeof(*names))) ==
			    NULL)
				break;
			names = tmp;
		}
		if ((names[n] = strdup(de->d_name)) == NULL)
			break;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), web_name_cmp);
	evbuffer_add_printf(body,
	    "<!DOCTYPE html>\n<html><head><meta "
	    "charset=\"utf-8\"><title>Directory listing for /");
	web_html_escape(body, rel);
	evbuffer_add_printf(body,
	    "</title></head><body>\n<h1>Directory "
	    "listing for /");
	web_html_escape(body, rel);
	evbuffer_add_printf(body, "</h1>\n<hr>\n<ul>\n");
	for (i = 0; i < n; i++) {
		int is_dir = snprintf(full, sizeof(full), "%s/%s", real,
				 names[i]) < (int)sizeof(full) &&
		    stat(full, &st) == 0 && S_ISDIR(st.st_mode);
		evbuffer_add_printf(body, "<li><a href=\"");
		web_url_escape(body, names[i], 0);
		evbuffer_add_printf(body, "%s\">", is_dir ? "/" : "");
		web_html_escape(body, names[i]);
		evbuffer_add_printf(body, "%s</a></li>\n", is_dir ? "/" : "");
		free(names[i]);
	}
	free(names);
	evbuffer_add_printf(body, "</ul>\n<hr>\n</body></html>\n");
	*bytes = evbuffer_get_length(body);
	evbuffer_add_printf(out,
	    "HTTP/1.1 200 OK\r\n"
	    "Server: wsbridge\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n"
	    "Cache-Control: no-cache\r\n"
	    "Connection: %s\r\n"
	    "\r\n",
	    *bytes, keep_alive ? "keep-alive" : "close");
	if (!head)
		evbuffer_add_buffer(out, body);
	else
		*bytes = 0;
	evbuffer_free(body);
	return 200;
}

/* The real path of path, if it lies under the real root: 0, or the
 * HTTP status (404 missing, 403 a symlink leading out, said in r->note
 * for the caller's log line). */
static int
web_resolve(struct web_reply *r, const char *path, char *real)
{
	if (realpath(path, real) == NULL)
		return 404;
	if (strncmp(real, web_root, web_root_len) != 0 ||
	    (real[web_root_len] != '/' && real[web_root_len] != '\0')) {
		r->note = "a symlink leads outside the web root";
		return 403;
	}
	return 0;
}

/* Write the error response for status, with its usual one-line body. */
static int
web_fail(struct web_reply *r, int status)
{
	const char *reason;

	switch (status) {
	case 400:
		reason = "bad path";
		break;
	case 403:
		reason = "forbidden";
		break;
	case 404:
		reason = "not found";
		break;
	default:
		reason = "internal error";
		r->keep_alive = 0;
		break;
	}
	web_error(r->out, status, NULL, reason, r->keep_alive, r->head);
	return status;
}

/* 301 to the directory's name with its slash: relative links in the page
 * need it.  The Location is built from the checked path, so it can never
 * name another host ("//x"). */
static int
web_redirect_slash(struct web_reply *r, const char *rel)
{
	struct evbuffer *loc;

	if ((loc = evbuffer_new()) == NULL)
		return web_fail(r, 500);
	evbuffer_add(loc, "Location: /", 11);
	web_url_escape(loc, rel, 1);
	evbuffer_add(loc, "/\r\n\0", 4);
	web_error(r->out, 301, (const char *)evbuffer_pullup(loc, -1), "moved",
	    r->keep_alive, r->head);
	evbuffer_free(loc);
	return 301;
}

/* A directory: the redirect that adds its slash, else its index.html (0:
 * real and st now name that file), else a listing.  Any other result is
 * the status of the response written. */
static int
web_directory(const struct config *cfg, struct web_reply *r, const char *rel,
    int dir_slash, char *real, struct stat *st)
{
	char full[PATH_MAX + 16], idx[PATH_MAX];
	int  status;

	if (!dir_slash && rel[0] != '\0')
		return web_redirect_slash(r, rel);
	/* index.html may be a symlink: checked like the rest. */
	if (snprintf(full, sizeof(full), "%s/index.html", real) >=
	    (int)sizeof(idx))
		status = 404;
	else
		status = web_resolve(r, full, idx);
	if (status == 0 && stat(idx, st) == 0 && S_ISREG(st->st_mode)) {
		memcpy(real, idx, sizeof(idx));
		return 0;
	}
	if (status == 403)
		return web_fail(r, 403);
	if (cfg->file_only)
		return web_fail(r, 404);
	if ((status = web_listing(real, rel, r->out, r->head, r->keep_alive,
		 &r->bytes)) != 200)
		return web_fail(r, status);
	return 200;
}

/* A regular file: 304 if the client's copy is fresh, else 200 with the
 * body as a file segment (sent with sendfile where possible). */
static int
web_file(const struct http_request *req, struct web_reply *r, const char *real,
    const struct stat *st)
{
	char etag[64], lm[64];
	int  fd = -1;

	snprintf(etag, sizeof(etag), "\"%llx-%llx\"",
	    (unsigned long long)st->st_size, (unsigned long long)st->st_mtime);
	web_http_date(st->st_mtime, lm, sizeof(lm));
	if (web_not_modified(req, st, etag)) {
		evbuffer_add_printf(r->out,
		    "HTTP/1.1 304 Not Modified\r\n"
		    "Server: wsbridge\r\n"
		    "ETag: %s\r\n"
		    "Last-Modified: %s\r\n"
		    "Connection: %s\r\n"
		    "\r\n",
		    etag, lm, r->keep_alive ? "keep-alive" : "close");
		return 304;
	}
	if (!r->head && st->st_size > 0 &&
	    (fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return web_fail(r, 403);
	evbuffer_add_printf(r->out,
	    "HTTP/1.1 200 OK\r\n"
	    "Server: wsbridge\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %llu\r\n"
	    "Last-Modified: %s\r\n"
	    "ETag: %s\r\n"
	    "Cache-Control: no-cache\r\n"
	    "Connection: %s\r\n"
	    "\r\n",
	    web_content_type(real), (unsigned long long)st->st_size, lm, etag,
	    r->keep_alive ? "keep-alive" : "close");
	if (fd != -1) {
		/* The evbuffer owns fd now and sends it with sendfile. */
		if (evbuffer_add_file(r->out, fd, 0, st->st_size) == -1) {
			close(fd);
			r->keep_alive = 0;
			return 500;
		}
		r->bytes = (size_t)st->st_size;
	}
	return 200;
}

/* Check the method and the path, then answer for a file or directory. */
static int
web_serve(const struct config *cfg, const struct http_request *req,
    struct web_reply *r)
{
	char	    rel[PATH_MAX], full[PATH_MAX + 16], real[PATH_MAX];
	struct stat st;
	int	    status, dir_slash;

	if (!r->head && !http_method_is(req, "GET")) {
		web_error(r->out, 405, "Allow: GET, HEAD\r\n",
		    "method not allowed", r->keep_alive, 0);
		return 405;
	}
	if ((status = web_path_normalize(req->path, req->path_len, rel,
		 sizeof(rel), &dir_slash)) != 0)
		return web_fail(r, status);
	if (snprintf(full, sizeof(full), "%s/%s", web_root, rel) >=
	    (int)sizeof(real))
		return web_fail(r, 404);
	if ((status = web_resolve(r, full, real)) != 0)
		return web_fail(r, status);
	if (stat(real, &st) == -1)
		return web_fail(r, 404);
	if (S_ISDIR(st.st_mode)) {
		if ((status = web_directory(cfg, r, rel, dir_slash, real,
			 &st)) != 0)
			return status;
	} else if (!S_ISREG(st.st_mode) || dir_slash)
		return web_fail(r, 404); /* a FIFO; "/file/" */
	return web_file(req, r, real, &st);
}

/* Answer a GET or HEAD from the web root; see web.h. */
int
web_respond(const struct config *cfg, const struct http_request *req,
    struct evbuffer *out, int *keep_alive, size_t *bytes, const char **note)
{
	struct web_reply r;
	int		 status;

	r.out = out;
	r.head = http_method_is(req, "HEAD");
	r.keep_alive = web_keep_alive(req);
	r.bytes = 0;
	r.note = NULL;
	status = web_serve(cfg, req, &r);
	*keep_alive = r.keep_alive;
	*bytes = r.bytes;
	*note = r.note;
	return status;
}
