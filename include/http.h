/* HTTP/1.1 request-head parser and response helpers: pure, no I/O. */
#ifndef WSB_HTTP_H
#define WSB_HTTP_H

#include <stddef.h>

#include "wsb_limits.h"

struct http_header {
	const char *name;
	size_t name_len;
	const char *value;	/* leading and trailing blanks trimmed */
	size_t value_len;
};

struct http_request {
	const char *method;
	size_t method_len;
	const char *path;	/* request target, as sent */
	size_t path_len;
	int minor_version;	/* HTTP/1.x */
	struct http_header headers[WSB_MAX_HEADERS];
	size_t num_headers;
};

/*
 * Parse a request head in buf[0..len).  Pointers in req point into buf.
 * Returns:
 *   >0  bytes consumed (through the blank line ending the head)
 *   -2  incomplete: need more bytes
 *   -1  malformed (bad request line, bad header, too many headers)
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/* The header's value, or NULL; *len set.  Case-insensitive name. */
const char *http_header_get(const struct http_request *req, const char *name,
    size_t *len);

/* Walk a comma-separated header list: 1 with the next item (blanks
 * trimmed, never empty) in *item and *len, 0 at the end. */
int http_list_next(const char **p, const char *end, const char **item,
    size_t *len);

/* 1 if the comma-separated list holds token (case-insensitive, optional
 * blanks around items), else 0. */
int http_list_has_token(const char *list, size_t len, const char *token);

/* Value of a hex digit, or -1 (for percent-decoding). */
int http_hexval(int c);

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

/* Value of query parameter name in path ("/x?token=ab" -> "ab"), copied
 * to out (percent-decoded) ; 0 found, -1 absent or too long. */
int http_query_param(const char *path, size_t path_len, const char *name,
    char *out, size_t outlen);

#endif
