/* TokenRedis: the pure parts (src/token_redis_parse.c), the
 * --token-source string and a token's value, apart from the hiredis
 * client (src/token_redis.c) so that unit tests and the fuzzer reach them
 * directly. */
#ifndef WSB_TOKEN_REDIS_H
#define WSB_TOKEN_REDIS_H

#include <stddef.h>

/* Defaults of an empty or missing field (websockify's). */
#define TOKEN_REDIS_DEFAULT_PORT 6379

/* A parsed --token-source.  The strings point into the caller's buffer. */
struct token_redis_source {
	const char *host;     /* name or address, IPv6 without brackets */
	int	    port;     /* 1-65535 */
	int	    db;	      /* SELECT index, >= 0 */
	const char *password; /* AUTH, or NULL for none */
	const char *ns;	      /* key prefix without its ':', or NULL */
};

/*
 * Parse websockify's (>= 0.11) TokenRedis source
 * "host[:port[:db[:password[:namespace]]]]" into rs.
 *
 * Fields are split on ':'.  A field that starts with '"' runs to the
 * next '"', which must end the field (be followed by ':' or the end of
 * src); the quotes are removed, so a field may hold colons:
 * `h::::"ns1:ns2"`.  A '"' inside an unquoted field is an ordinary
 * character.  The host may also be an IPv6 address in brackets,
 * "[::1]:6379" (the brackets are removed; websockify has no such form).
 * An empty field means its default: port 6379, db 0, no password, no
 * namespace.
 *
 * buf (buflen bytes, at least strlen(src) + 1) receives the fields; rs's
 * strings point into it.  Returns 0, or -1 with a one-line reason in err
 * (errlen bytes; never the password) when src is malformed: an empty
 * host, an unterminated quote or bracket, text after a closing quote or
 * bracket, a port not 1-65535, a db not a non-negative integer (decimal
 * digits, at most INT_MAX), more than five fields, or buf too small.
 */
int token_redis_source_parse(const char *src, struct token_redis_source *rs,
    char *buf, size_t buflen, char *err, size_t errlen);

/*
 * Turn a token's Redis value (len bytes, any bytes) into a target as
 * token.h words it ("host:port", "[v6]:port" or "unix_socket:PATH"),
 * NUL-terminated in target (targetlen bytes).
 *
 * Blanks (space, \t, \n, \v, \f, \r) around the value are ignored, as
 * websockify's strip() does.  A value starting with '{' is JSON: an
 * object whose "host" member is a string, either "host:port" (websockify,
 * which reads no other member: a "port" beside it is ignored) or, with a
 * "port" member (an integer or a string of digits, 1-65535), a bare host:
 * a name, an IPv4 address or an IPv6 address (brackets optional; written
 * "[v6]:port").  Any other value is the target itself
 * (websockify's plain form).  Either way the target holds no space or
 * control byte (so no Unix socket path with a space) and must pass
 * token_target_parse() (token.h).
 *
 * Returns the target's length, or -1 when the value is malformed (also
 * when longer than WSB_TOKEN_REDIS_MAX_VALUE, holding a NUL, or the
 * target does not fit in targetlen).
 */
int token_redis_value_parse(const char *val, size_t len, char *target,
    size_t targetlen);

#endif
