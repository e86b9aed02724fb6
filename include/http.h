/* HTTP/1.1 request-head parser and response helpers: pure, no I/O. */
#ifndef WSB_HTTP_H
#define WSB_HTTP_H

#include <stddef.h>

#include "wsb_limits.h"

struct sockaddr;

struct http_header {
	const char *name;
	size_t	    name_len;
	const char *value; /* leading and trailing blanks trimmed */
	size_t	    value_len;
};

struct http_request {
	const char	  *method;
	size_t		   method_len;
	const char	  *path; /* request target, as sent */
	size_t		   path_len;
	int		   minor_version; /* HTTP/1.x */
	struct http_header headers[WSB_MAX_HEADERS];
	size_t		   num_headers;
};

/*
 * Parse a request head in buf[0..len).  Pointers in req point into buf.
 * Returns:
 *   >0  bytes consumed (through the blank line ending the head)
 *   -2  incomplete: need more bytes
 *   -1  malformed (bad request line, bad header, too many headers)
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/* 1 if the request's method is exactly method, else 0.  Methods are
 * case-sensitive (RFC 9110 9.1): "get" is not GET. */
int http_method_is(const struct http_request *req, const char *method);

/* The header's value, or NULL; *len set.  Case-insensitive name (RFC
 * 9110 5.1); the first of repeated headers wins. */
const char *http_header_get(const struct http_request *req, const char *name,
    size_t *len);

/* Walk the headers named name (case-insensitive) in order: start with
 * *i = 0; returns the next one's value (*len set, *i moved past it), or
 * NULL when none is left. */
const char *http_header_next(const struct http_request *req, const char *name,
    size_t *i, size_t *len);

/* Walk a comma-separated header list: 1 with the next item (blanks
 * trimmed, never empty) in *item and *len, 0 at the end. */
int http_list_next(const char **p, const char *end, const char **item,
    size_t *len);

/* 1 if the comma-separated list holds token (case-insensitive, optional
 * blanks around items), else 0. */
int http_list_has_token(const char *list, size_t len, const char *token);

/* 1 if the request has a body (Transfer-Encoding, or a Content-Length
 * other than 0), else 0. */
int http_request_has_body(const struct http_request *req);

/* The reason phrase of an HTTP status ("Bad Request"). */
const char *http_status_text(int status);

/*
 * Write an error response into out: status line, Content-Type text/plain,
 * Content-Length, Connection: close, extra header lines (each ending in
 * CRLF, may be NULL), and body "reason\n".  Returns the length written, or
 * -1 if out is too small.
 */
int http_format_error(char *out, size_t outlen, int status,
    const char *extra_headers, const char *reason);

/* As http_format_error(), but keep_alive says "Connection: keep-alive"
 * and head leaves the body out (its Content-Length still given). */
int http_format_status(char *out, size_t outlen, int status,
    const char *extra_headers, const char *reason, int keep_alive, int head);

/* The first query parameter name in path, undecoded: returns a pointer
 * into path and sets *len (bytes), or NULL when absent.  The query ends
 * at '#'; parameters are split on '&'. */
const char *http_query_param_raw(const char *path, size_t path_len,
    const char *name, size_t *len);

/* Value of query parameter name in path ("/x?token=ab" -> "ab"), copied
 * to out, percent-decoded with '+' as a space (http_percent_decode with
 * HTTP_PCT_PLUS).  0 found; -1 absent, too long, a bad escape or %00. */
int http_query_param(const char *path, size_t path_len, const char *name,
    char *out, size_t outlen);

/* http_percent_decode flag: '+' is a space, as forms send a query. */
#define HTTP_PCT_PLUS 0x1

/*
 * Percent-decode src[0..len) (RFC 3986 2.1) into dst, NUL-terminated.
 * "%XX" takes hex digits of either case.  A '+' is kept as is (a path),
 * or becomes a space with HTTP_PCT_PLUS in flags (a query).  Every other
 * byte is copied unchanged, "%2F" included: a caller that splits on '/'
 * splits before decoding.  Returns the decoded length, or, at the first
 * problem in src order:
 *   -1  an invalid escape: '%' not followed by two hex digits
 *   -2  dst too small: dstlen must exceed the decoded length
 *   -3  a NUL byte (%00, or sent raw), which would cut the string short
 * dst is NUL-terminated whenever dstlen > 0, also on an error.
 */
int http_percent_decode(const char *src, size_t len, char *dst, size_t dstlen,
    int flags);

/*
 * Decode base64 (RFC 4648 section 4, the standard alphabet) strictly:
 * len a multiple of 4, only A-Z a-z 0-9 + /, '=' only as the last one or
 * two characters; no blanks or line breaks.  Bits left over in a padded
 * last group are ignored (RFC 4648 3.5 allows it).  Writes the bytes to
 * dst (not NUL-terminated).  Returns how many bytes were decoded
 * (padding not counted; empty src gives 0), or -1 if src is not such
 * base64 or its bytes would not fit in dstlen.
 */
int http_base64_decode(const char *src, size_t len, unsigned char *dst,
    size_t dstlen);

/* Split "host:port", "[v6]:port", or with port_only_ok a bare "port"
 * (RFC 3986 3.2.2 authority), into malloc'd *host (NULL for a bare port)
 * and *port, a number from 1 to 65535; the caller frees both.  An
 * unbracketed address with several colons splits at the last one, as
 * websockify's rsplit does.  0, or -1 with a message in err and nothing
 * allocated. */
int http_split_authority(const char *s, char **host, char **port,
    int port_only_ok, char *err, size_t errlen);

/* "host:port", or "[host]:port" when host holds a ':' (an IPv6 literal,
 * RFC 3986 3.2.2), into buf.  Returns as snprintf: the full length,
 * with buf cut to len - 1 characters if that is not less than len. */
int http_format_authority(char *buf, size_t len, const char *host,
    const char *port);

/* A socket address as numeric text for logs: "1.2.3.4:5" for AF_INET,
 * "[::1]:5" for AF_INET6 ("1.2.3.4", "[::1]" with port 0: an address a
 * proxy's header gave without one), "unix" for AF_UNIX and any other
 * family.
 * Never resolves a name.  Returns as snprintf. */
int http_format_sockaddr(char *buf, size_t len, const struct sockaddr *sa);

#endif
