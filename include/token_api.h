/*
 * BaseTokenAPI and JSONTokenApi (src/token_api.c): the token is put into
 * a URL and the answer to a GET names the target.  These are the plugin's
 * pure parts (no I/O, no state; src/token_api_parse.c), unit-tested
 * directly.
 */
#ifndef WSB_TOKEN_API_H
#define WSB_TOKEN_API_H

#include <stddef.h>

#include "token.h"

/*
 * Check the plugin's source, a URL template: it starts with "http://" or
 * "https://" (any case), holds exactly one "%s" (every "%s" counts, also
 * in "%%s"; any other '%' is kept as written, so "%2F" may appear), and is
 * a URL libcurl can parse once a token is put in.  Returns 0, or -1 with
 * one line in err (errlen bytes) saying what is wrong.
 */
int token_api_url_check(const char *tmpl, char *err, size_t errlen);

/*
 * The URL for token (len bytes, may hold any byte): tmpl with its "%s"
 * replaced by the token percent-encoded (RFC 3986 2.1, upper-case hex):
 * every byte but the unreserved ALPHA DIGIT "-" "." "_" "~" (RFC 3986
 * 2.3) is written "%XX", so the token cannot leave the URL part it is put
 * in.  Writes it NUL-terminated into out (outlen bytes; strlen(tmpl) +
 * 3 * len - 1 always suffice).  Returns its length, or -1 when tmpl has
 * no "%s" or out is too small.
 */
int token_api_url_build(const char *tmpl, const char *token, size_t len,
    char *out, size_t outlen);

/*
 * BaseTokenAPI's answer, a 2xx body of len bytes: "host:port" (one
 * colon), "[v6]:port" or "unix_socket:PATH" (websockify's Unix socket
 * target), with blanks and line ends around it ignored.  A host is a name
 * or IPv4 address (letters, digits, "-", ".", "_", at most 253 bytes) or
 * an IPv6 literal; a port is 1-65535 in decimal.  Writes the target as
 * token_target_parse() reads it ("host:port", "[v6]:port",
 * "unix_socket:PATH") into target (targetlen bytes, NUL-terminated).
 * Returns 0, or -1 when the body is anything else or does not fit.
 */
int token_api_parse_plain(const char *body, size_t len, char *target,
    size_t targetlen);

/*
 * JSONTokenApi's answer, a 2xx body of len bytes: a JSON object (RFC
 * 8259; duplicate keys refused) with "host", a string (a name, an IPv4
 * address or an IPv6 literal, with or without brackets), and "port", a
 * number or a string of digits (1-65535); other members are ignored.
 * With host "unix_socket" the port is the socket's path (a string).
 * Writes the target into target (targetlen bytes) as
 * token_api_parse_plain() does.  Returns 0, or -1 when malformed.
 */
int token_api_parse_json(const char *body, size_t len, char *target,
    size_t targetlen);

/*
 * The outcome of a token API request that got an HTTP status (RFC 9110
 * 15): a 2xx body parsed by token_api_parse_json() (json) or
 * token_api_parse_plain() gives TOKEN_FOUND with target; a 2xx body that
 * does not parse, or that was cut at the limit (too_large), gives
 * TOKEN_NOT_FOUND; 5xx, 408, 429 and statuses outside 100-599 give
 * TOKEN_UNAVAILABLE; every other status (1xx, 3xx: redirects are not
 * followed, 4xx) gives TOKEN_NOT_FOUND.  Writes the log phrase ("token
 * API: HTTP 404", "token API: malformed body", "token API: body too
 * large") into why (whylen bytes), or "" with TOKEN_FOUND.
 */
enum token_result token_api_answer(int json, long status, const char *body,
    size_t len, int too_large, char *target, size_t targetlen, char *why,
    size_t whylen);

#endif
