/*
 * libFuzzer harness for http_parse_request (src/http.c): the result is
 * checked against RFC 9112's grammar as the parser documents it, on the
 * whole input and on its prefixes (a prefix of a head needs more, never
 * parses differently), then the helpers that read a parsed request are
 * checked on it: method, header look-up and walk, list walking, query
 * parameters, body detection; and log_escape (src/log_escape.c), which puts
 * such untrusted bytes in log lines, on the input and on what parsed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "fuzz.h"

/* Prefixes checked on a long input besides the line edges; all are
 * checked on inputs up to FUZZ_HTTP_ALL_PREFIXES bytes. */
#define FUZZ_HTTP_ALL_PREFIXES 256
#define FUZZ_HTTP_SPREAD 32
#define FUZZ_HTTP_MAX_POINTS 256

/* Room for a query parameter: small, so "too long" is reached too. */
#define FUZZ_HTTP_PARAM_OUT 64

/* Items of one list also looked up with http_list_has_token (each look-up
 * walks the whole list). */
#define FUZZ_HTTP_TOKENS 16

/* Most input bytes escaped for a log line as they came. */
#define FUZZ_HTTP_ESCAPE_MAX 300

static void   fuzz_http_check_req(const char *, int,
      const struct http_request *);
static void   fuzz_http_check_line(const char *, const struct http_request *);
static int    fuzz_http_same(const char *, const struct http_request *,
       const char *, const struct http_request *);
static size_t fuzz_http_points(const char *, size_t, size_t *);
static void   fuzz_http_prefixes(const char *, size_t, int,
      const struct http_request *);
static void   fuzz_http_lookup(const struct http_request *);
static void   fuzz_http_list(const char *, size_t);
static int  fuzz_http_param_ref(const char *, size_t, size_t, char *, size_t);
static void fuzz_http_param(const struct http_request *);
static void fuzz_http_body(const struct http_request *);
static size_t fuzz_http_esc1(unsigned char, char *);
static void   fuzz_http_escape(const void *, size_t, size_t);
static int    fuzz_http_ptr_in(const char *, const char *, size_t, size_t);

/* Whether p[0..len) lies inside buf[0..n). */
static int
fuzz_http_ptr_in(const char *buf, const char *p, size_t len, size_t n)
{
	return p != NULL && p >= buf && p + len <= buf + n && len <= n;
}

/* The request line: method SP target SP HTTP/1.d, nothing else. */
static void
fuzz_http_check_line(const char *buf, const struct http_request *req)
{
	const char *v;
	size_t	    i;

	FUZZ_CHECK(req->method_len > 0 && req->path_len > 0,
	    "method and target are not empty");
	for (i = 0; i < req->method_len; i++)
		FUZZ_CHECK(fuzz_is_tchar((unsigned char)req->method[i]),
		    "method is a token");
	for (i = 0; i < req->path_len; i++)
		FUZZ_CHECK((unsigned char)req->path[i] > 0x20 &&
			req->path[i] != 0x7f,
		    "target has no blank or control");
	FUZZ_CHECK(req->method[req->method_len] == ' ' &&
		req->path == req->method + req->method_len + 1 &&
		req->path[req->path_len] == ' ',
	    "single spaces in the line");
	v = req->path + req->path_len + 1;
	FUZZ_CHECK(memcmp(v, "HTTP/1.", 7) == 0 &&
		req->minor_version == v[7] - '0' && req->minor_version >= 0 &&
		req->minor_version <= 9,
	    "HTTP/1.x version");
	FUZZ_CHECK(v[8] == '\n' || (v[8] == '\r' && v[9] == '\n'),
	    "line ends after the version");
	for (v = buf; v < req->method; v++)
		FUZZ_CHECK(*v == '\r' || *v == '\n',
		    "only empty lines before the request line");
}

/* A parsed head: every pointer inside buf[0..n), every field as the
 * grammar allows, the head ends in an empty line. */
static void
fuzz_http_check_req(const char *buf, int n, const struct http_request *req)
{
	const struct http_header *h;
	const char		 *prev;
	size_t			  i, k, len = (size_t)n;

	FUZZ_CHECK(fuzz_http_ptr_in(buf, req->method, req->method_len, len) &&
		fuzz_http_ptr_in(buf, req->path, req->path_len, len),
	    "line pointers inside the input");
	fuzz_http_check_line(buf, req);
	FUZZ_CHECK(req->num_headers <= WSB_MAX_HEADERS, "header count");
	prev = req->path + req->path_len;
	for (i = 0; i < req->num_headers; i++) {
		h = &req->headers[i];
		FUZZ_CHECK(fuzz_http_ptr_in(buf, h->name, h->name_len, len) &&
			fuzz_http_ptr_in(buf, h->value, h->value_len, len),
		    "header pointers inside the input");
		FUZZ_CHECK(h->name > prev && h->value > h->name,
		    "headers in input order");
		FUZZ_CHECK(h->name[-1] == '\n' && h->name_len > 0 &&
			h->name[h->name_len] == ':',
		    "a name starts a line and ends at ':'");
		for (k = 0; k < h->name_len; k++)
			FUZZ_CHECK(fuzz_is_tchar((unsigned char)h->name[k]),
			    "header name is a token");
		for (k = 0; k < h->value_len; k++)
			FUZZ_CHECK(((unsigned char)h->value[k] >= 0x20 &&
				       h->value[k] != 0x7f) ||
				h->value[k] == '\t',
			    "value has no control but HT");
		if (h->value_len > 0)
			FUZZ_CHECK(h->value[0] != ' ' && h->value[0] != '\t' &&
				h->value[h->value_len - 1] != ' ' &&
				h->value[h->value_len - 1] != '\t',
			    "value trimmed");
		prev = h->value + h->value_len;
	}
	FUZZ_CHECK(len >= 2 && buf[len - 1] == '\n' &&
		(buf[len - 2] == '\n' ||
		    (len >= 3 && buf[len - 2] == '\r' &&
			buf[len - 3] == '\n')),
	    "head ends with an empty line");
}

/* The same parse of two copies: offsets, lengths and fields. */
static int
fuzz_http_same(const char *a, const struct http_request *ra, const char *b,
    const struct http_request *rb)
{
	size_t i;

#define FUZZ_HTTP_OFF(base, p) ((p) == NULL ? -1 : (long)((p) - (base)))
	if (FUZZ_HTTP_OFF(a, ra->method) != FUZZ_HTTP_OFF(b, rb->method) ||
	    ra->method_len != rb->method_len ||
	    FUZZ_HTTP_OFF(a, ra->path) != FUZZ_HTTP_OFF(b, rb->path) ||
	    ra->path_len != rb->path_len ||
	    ra->minor_version != rb->minor_version ||
	    ra->num_headers != rb->num_headers)
		return 0;
	for (i = 0; i < ra->num_headers; i++) {
		const struct http_header *x = &ra->headers[i];
		const struct http_header *y = &rb->headers[i];
		if (FUZZ_HTTP_OFF(a, x->name) != FUZZ_HTTP_OFF(b, y->name) ||
		    x->name_len != y->name_len ||
		    FUZZ_HTTP_OFF(a, x->value) != FUZZ_HTTP_OFF(b, y->value) ||
		    x->value_len != y->value_len)
			return 0;
	}
#undef FUZZ_HTTP_OFF
	return 1;
}

/* Prefix lengths worth trying, ascending: all of them for a short input,
 * else those around every CR and LF and a spread of others. */
static size_t
fuzz_http_points(const char *buf, size_t len, size_t *pts)
{
	size_t i, n = 0, step;

	if (len <= FUZZ_HTTP_ALL_PREFIXES) {
		for (i = 0; i <= len; i++)
			pts[n++] = i;
		return n;
	}
	step = len / FUZZ_HTTP_SPREAD + 1;
	for (i = 0; i <= len && n + 3 < FUZZ_HTTP_MAX_POINTS; i++) {
		if (i % step == 0 || i == len ||
		    (i < len && (buf[i] == '\r' || buf[i] == '\n')) ||
		    (i > 0 && (buf[i - 1] == '\r' || buf[i - 1] == '\n')))
			pts[n++] = i;
	}
	if (pts[n - 1] != len)
		pts[n++] = len;
	return n;
}

/*
 * Parse prefixes (exact-size copies) and compare with the whole input:
 *  - whole parsed to r > 0: a prefix shorter than r needs more (-2); one
 *    of r bytes or more parses the same (bytes after the head unread);
 *  - whole needs more: so does every prefix;
 *  - whole malformed: prefixes need more until one is malformed, and
 *    every longer one is malformed too.
 */
static void
fuzz_http_prefixes(const char *data, size_t size, int r,
    const struct http_request *req)
{
	static size_t		   pts[FUZZ_HTTP_MAX_POINTS + 1];
	static struct http_request preq;
	size_t			   n, i, m;
	int			   rm, bad = 0;
	char			  *p;

	n = fuzz_http_points(data, size, pts);
	for (i = 0; i < n; i++) {
		m = pts[i];
		p = (char *)fuzz_dup(data, m);
		memset(&preq, 0xa5, sizeof(preq));
		rm = http_parse_request(p, m, &preq);
		if (r > 0 && m < (size_t)r)
			FUZZ_CHECK(rm == -2, "prefix of a head needs more");
		else if (r > 0)
			FUZZ_CHECK(rm == r &&
				fuzz_http_same(p, &preq, data, req),
			    "bytes after the head change nothing");
		else if (r == -2)
			FUZZ_CHECK(rm == -2, "prefix of an incomplete head");
		else {
			FUZZ_CHECK(rm == -2 || rm == -1,
			    "prefix of a malformed head does not parse");
			FUZZ_CHECK(!bad || rm == -1,
			    "malformed stays malformed as bytes arrive");
			bad = rm == -1;
		}
		free(p);
	}
}

/* http_header_get finds the first header of that name, in any case;
 * http_header_next walks every header of that name, in order. */
static void
fuzz_http_lookup(const struct http_request *req)
{
	const struct http_header *h;
	const char		 *v;
	char			 *name;
	size_t			  i, j, k, len, at;

	for (i = 0; i < req->num_headers; i++) {
		h = &req->headers[i];
		name = fuzz_strndup(h->name, h->name_len);
		for (j = 0; j < i; j++)
			if (fuzz_case_equal(req->headers[j].name,
				req->headers[j].name_len, name, h->name_len))
				break;
		v = http_header_get(req, name, &len);
		FUZZ_CHECK(v == req->headers[j].value &&
			len == req->headers[j].value_len,
		    "look-up gives the first header of that name");
		for (at = 0, k = j; j == i; k++) {
			v = http_header_next(req, name, &at, &len);
			while (k < req->num_headers &&
			    !fuzz_case_equal(req->headers[k].name,
				req->headers[k].name_len, name, h->name_len))
				k++;
			if (k == req->num_headers) {
				FUZZ_CHECK(v == NULL, "walk ends");
				break;
			}
			FUZZ_CHECK(v == req->headers[k].value &&
				len == req->headers[k].value_len &&
				at == k + 1,
			    "walk gives each header of that name in order");
		}
		free(name);
	}
	v = http_header_get(req, "No:Such", &len);
	FUZZ_CHECK(v == NULL && len == 0, "absent header");
}

/* Walk a header value as a list: items inside the value, in order, not
 * empty, trimmed, without commas; as many as RFC 9110 5.6.1 elements;
 * each one found again by http_list_has_token. */
static void
fuzz_http_list(const char *v, size_t vlen)
{
	const char *p = v, *end = v + vlen, *item, *last = v;
	size_t	    ilen, count = 0, want = 0, i, a, b;
	char	   *tok;

	while (http_list_next(&p, end, &item, &ilen)) {
		FUZZ_CHECK(count++ < vlen, "walk ends");
		FUZZ_CHECK(item >= last && ilen > 0 && item + ilen <= p &&
			p <= end,
		    "item inside the list, in order");
		FUZZ_CHECK(item[0] != ' ' && item[0] != '\t' &&
			item[ilen - 1] != ' ' && item[ilen - 1] != '\t' &&
			memchr(item, ',', ilen) == NULL,
		    "item trimmed, no comma");
		last = item + ilen;
		if (count > FUZZ_HTTP_TOKENS)
			continue;
		tok = fuzz_strndup(item, ilen);
		FUZZ_CHECK(http_list_has_token(v, vlen, tok) &&
			fuzz_list_has(v, vlen, tok, 1),
		    "item found as a token");
		free(tok);
	}
	FUZZ_CHECK(p == end, "walk ends at the end of the list");
	for (i = 0; i <= vlen; i = b + 1) {
		for (b = i; b < vlen && v[b] != ','; b++)
			;
		for (a = i; a < b && (v[a] == ' ' || v[a] == '\t'); a++)
			;
		want += a < b;
	}
	FUZZ_CHECK(count == want, "one item per non-empty list element");
}

/*
 * What http_query_param must give for the item q[0..len) whose name
 * ends at q[nlen] ('='): the value with %XX and '+' decoded into out;
 * -1 for a bad escape, a NUL, or a value that does not fit with its NUL.
 */
static int
fuzz_http_param_ref(const char *q, size_t len, size_t nlen, char *out,
    size_t outlen)
{
	static const char hexdig[] = "0123456789abcdefABCDEF";
	char		  hex[3] = { 0, 0, 0 };
	size_t		  i, o = 0;
	long		  c;

	for (i = nlen + 1; i < len; i++) {
		c = (unsigned char)q[i];
		if (c == '%') {
			if (len - i < 3 || q[i + 1] == 0 || q[i + 2] == 0 ||
			    strchr(hexdig, q[i + 1]) == NULL ||
			    strchr(hexdig, q[i + 2]) == NULL)
				return -1;
			memcpy(hex, q + i + 1, 2);
			c = strtol(hex, NULL, 16);
			i += 2;
		} else if (c == '+')
			c = ' ';
		if (c == 0 || o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* http_query_param on the first name=value of the query, against the
 * reference, then the decoded value encoded again decodes the same. */
static void
fuzz_http_param(const struct http_request *req)
{
	const char *q, *end = req->path + req->path_len, *item, *eq = NULL;
	char	    out[FUZZ_HTTP_PARAM_OUT], ref[FUZZ_HTTP_PARAM_OUT];
	char	   *name, *path;
	size_t	    i, n;
	int	    r, rr;

	FUZZ_CHECK(http_query_param(req->path, req->path_len, "\x01", out,
		       sizeof(out)) == -1,
	    "absent parameter");
	/* The query starts at the first '?' before any '#': a '?' inside
	 * the fragment is not one (RFC 3986 3.4, 3.5). */
	for (q = req->path; q < end && *q != '?' && *q != '#'; q++)
		;
	if (q == end || *q == '#')
		return;
	for (item = q + 1; item < end && *item != '#'; item = q + 1) {
		for (q = item; q < end && *q != '&' && *q != '#'; q++)
			;
		if ((eq = memchr(item, '=', (size_t)(q - item))) != NULL)
			break;
		if (q == end || *q == '#')
			return;
	}
	if (eq == NULL)
		return;
	name = fuzz_strndup(item, (size_t)(eq - item));
	r = http_query_param(req->path, req->path_len, name, out, sizeof(out));
	rr = fuzz_http_param_ref(item, (size_t)(q - item), (size_t)(eq - item),
	    ref, sizeof(ref));
	FUZZ_CHECK(r == rr && (r != 0 || strcmp(out, ref) == 0),
	    "parameter decoded as the reference decodes it");
	if (r == 0) {
		path = (char *)fuzz_alloc(4 + strlen(name) + 3 * strlen(out));
		n = (size_t)sprintf(path, "/?%s=", name);
		for (i = 0; out[i] != '\0'; i++)
			n += (size_t)sprintf(path + n, "%%%02X",
			    (unsigned char)out[i]);
		FUZZ_CHECK(http_query_param(path, n, name, ref, sizeof(ref)) ==
			    0 &&
			strcmp(out, ref) == 0,
		    "encode, decode round trip");
		free(path);
	}
	free(name);
}

/* A body is announced by Transfer-Encoding, or a first Content-Length
 * other than exactly "0" (RFC 9112 6.3). */
static void
fuzz_http_body(const struct http_request *req)
{
	const struct http_header *h, *cl = NULL;
	size_t			  i;
	int			  te = 0, want;

	for (i = 0; i < req->num_headers; i++) {
		h = &req->headers[i];
		if (fuzz_case_equal(h->name, h->name_len, "Transfer-Encoding",
			17))
			te = 1;
		if (cl == NULL &&
		    fuzz_case_equal(h->name, h->name_len, "Content-Length",
			14))
			cl = h;
	}
	want = te ||
	    (cl != NULL && !(cl->value_len == 1 && cl->value[0] == '0'));
	FUZZ_CHECK(http_request_has_body(req) == want, "body announced");
}

/* One byte as log.h escapes it, into e (4 bytes); returns its length. */
static size_t
fuzz_http_esc1(unsigned char c, char *e)
{
	if (c == '\\') {
		memcpy(e, "\\\\", 2);
		return 2;
	}
	if (c >= 0x20 && c <= 0x7e) {
		e[0] = (char)c;
		return 1;
	}
	snprintf(e, 5, "\\x%02x", c);
	return 4;
}

/*
 * log_escape into dstlen bytes: the whole escape if it fits, else the
 * longest prefix of whole escapes that leaves room for "..." and the
 * dots that fit; always NUL-terminated, printable ASCII only, nothing
 * written with dstlen 0.
 */
static void
fuzz_http_escape(const void *src, size_t len, size_t dstlen)
{
	const unsigned char *s = src;
	char		    *full, *dst, e[5];
	size_t		     flen = 0, i, k, pre = 0, dots, r;

	full = (char *)fuzz_alloc(4 * len + 1);
	for (i = 0; i < len; i++) {
		k = fuzz_http_esc1(s[i], e);
		memcpy(full + flen, e, k);
		flen += k;
		if (dstlen >= 4 && flen + 3 <= dstlen - 1)
			pre = flen;
	}
	full[flen] = '\0';
	dst = (char *)fuzz_alloc(dstlen);
	r = log_escape(dst, dstlen, src, len);
	if (dstlen == 0) {
		FUZZ_CHECK(r == 0 && (unsigned char)dst[0] == 0xa5,
		    "nothing written with no room");
	} else if (flen <= dstlen - 1) {
		FUZZ_CHECK(r == flen && strcmp(dst, full) == 0,
		    "whole escape when it fits");
	} else {
		dots = dstlen - 1 - pre < 3 ? dstlen - 1 - pre : 3;
		FUZZ_CHECK(r == pre + dots && memcmp(dst, full, pre) == 0 &&
			memcmp(dst + pre, "...", dots) == 0 && dst[r] == '\0',
		    "longest prefix of whole escapes, then dots");
	}
	for (i = 0; dstlen > 0 && i < r; i++)
		FUZZ_CHECK(dst[i] >= 0x20 && dst[i] <= 0x7e,
		    "printable ASCII only");
	free(dst);
	free(full);
}

/* Parse, check the result and its prefixes, then the helpers on it. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_request req;
	const char		  *buf = (const char *)data;
	char			  *m;
	size_t			   i;
	int			   r;

	i = size < FUZZ_HTTP_ESCAPE_MAX ? size : FUZZ_HTTP_ESCAPE_MAX;
	fuzz_http_escape(data, i, size > 0 ? data[0] % 80 : 0);
	fuzz_http_escape(data, i, 4 * i + 1);
	memset(&req, 0xa5, sizeof(req));
	r = http_parse_request(buf, size, &req);
	FUZZ_CHECK(r == -1 || r == -2 || (r > 0 && (size_t)r <= size),
	    "bytes consumed, -1 or -2");
	if (r > 0)
		fuzz_http_check_req(buf, r, &req);
	fuzz_http_prefixes(buf, size, r, &req);
	if (r <= 0)
		return 0;
	m = fuzz_strndup(req.method, req.method_len);
	FUZZ_CHECK(http_method_is(&req, m) &&
		http_method_is(&req, "GET") ==
		    (req.method_len == 3 && memcmp(req.method, "GET", 3) == 0),
	    "method compared byte for byte");
	free(m);
	fuzz_http_lookup(&req);
	fuzz_http_escape(req.path, req.path_len, WSB_LOG_VALUE_MAX);
	for (i = 0; i < req.num_headers; i++) {
		fuzz_http_list(req.headers[i].value, req.headers[i].value_len);
		fuzz_http_escape(req.headers[i].value,
		    req.headers[i].value_len, WSB_LOG_VALUE_MAX);
	}
	fuzz_http_param(&req);
	fuzz_http_body(&req);
	return 0;
}
