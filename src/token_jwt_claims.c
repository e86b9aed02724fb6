/*
 * JWTTokenApi's claims (RFC 7519 4.1, and websockify's checks): the
 * payload of a verified JWT, read as JSON, its registered claims' types,
 * nbf and exp, then the target that its host and port claims name.  Pure
 * (no I/O, no state; jansson only).  The JOSE checks that hand it the
 * payload are in token_jwt.c.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "token_jwt.h"
#include "wsb_limits.h"

#define JWT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A non-empty string of ASCII digits (len bytes) as a number, at most
 * 65535 (*v); returns 1, or 0 for anything else. */
static int
token_jwt_digits(const char *s, size_t len, long *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		if ((*v = *v * 10 + (s[i] - '0')) > 65535)
			*v = 65536;
	}
	return len > 0;
}

/* jwcrypto's type checks of registered claims (RFC 7519 4.1): iss, sub,
 * jti, typ strings; aud a string or an array; iat a number or digits.
 * null is allowed for each.  Returns 0, or -1 with *why. */
static int
token_jwt_claim_types(json_t *c, const char **why)
{
	static const char *const strs[] = { "iss", "sub", "jti", "typ" };
	json_t			*v;
	size_t			 i;
	long			 n;

	*why = "JWT: bad claim type";
	for (i = 0; i < JWT_NELEM(strs); i++)
		if ((v = json_object_get(c, strs[i])) != NULL &&
		    !json_is_null(v) && !json_is_string(v))
			return -1;
	if ((v = json_object_get(c, "aud")) != NULL && !json_is_null(v) &&
	    !json_is_string(v) && !json_is_array(v))
		return -1;
	if ((v = json_object_get(c, "iat")) != NULL && !json_is_null(v) &&
	    !json_is_number(v) &&
	    !(json_is_string(v) &&
		token_jwt_digits(json_string_value(v), json_string_length(v),
		    &n)))
		return -1;
	return 0;
}

/* nbf and exp (RFC 7519 4.1.4, 4.1.5) as websockify checks them: numbers,
 * refused when now < nbf or now > exp.  Returns 0, or -1 with *why. */
static int
token_jwt_claim_times(json_t *c, double now, const char **why)
{
	json_t *nbf = json_object_get(c, "nbf"),
	       *exp = json_object_get(c, "exp");

	if (nbf != NULL && !json_is_number(nbf))
		*why = "JWT: bad nbf claim";
	else if (exp != NULL && !json_is_number(exp))
		*why = "JWT: bad exp claim";
	else if (nbf != NULL && now < json_number_value(nbf))
		*why = "JWT: not yet valid";
	else if (exp != NULL && now > json_number_value(exp))
		*why = "JWT: expired";
	else
		return 0;
	return -1;
}

/* 1 if host (len bytes) can be a target's host: printable, no blanks,
 * no brackets (added here for IPv6), not the Unix socket prefix. */
static int
token_jwt_host_ok(const char *host, size_t len)
{
	size_t i;

	if (len == 0 || len > WSB_JWT_MAX_HOST ||
	    strcmp(host, "unix_socket") == 0)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)host[i] <= ' ' || host[i] == 0x7f ||
		    host[i] == '[' || host[i] == ']')
			return 0;
	return 1;
}

/* The port claim: an integer 1-65535 or a string of digits; 0 if not. */
static long
token_jwt_port(json_t *p)
{
	long port = 0;

	if (json_is_integer(p) && json_integer_value(p) >= 1 &&
	    json_integer_value(p) <= 65535)
		port = (long)json_integer_value(p);
	else if (json_is_string(p) &&
	    (!token_jwt_digits(json_string_value(p), json_string_length(p),
		 &port) ||
		port > 65535))
		port = 0;
	return port;
}

/* The target that the host and port claims name.  Returns 0, or -1 with
 * *why. */
static int
token_jwt_claim_target(json_t *c, char *target, size_t targetlen,
    const char **why)
{
	json_t	   *h = json_object_get(c, "host");
	const char *host = json_string_value(h);
	long	    port = 0;
	int	    n = -1;

	if (h == NULL)
		*why = "JWT: no host claim";
	else if (host == NULL ||
	    !token_jwt_host_ok(host, json_string_length(h)))
		*why = "JWT: bad host claim";
	else if (json_object_get(c, "port") == NULL)
		*why = "JWT: no port claim";
	else if ((port = token_jwt_port(json_object_get(c, "port"))) == 0)
		*why = "JWT: bad port claim";
	else if ((n = snprintf(target, targetlen,
		      strchr(host, ':') != NULL ? "[%s]:%ld" : "%s:%ld", host,
		      port)) < 0 ||
	    (size_t)n >= targetlen)
		*why = "JWT: bad host claim";
	else
		return 0;
	return -1;
}

/* A JWT's claims: JSON object, types, times, then the target. */
int
token_jwt_claims(const char *json, size_t len, double now, char *target,
    size_t targetlen, const char **why)
{
	json_t *c;
	int	rc = -1;

	if ((c = json_loadb(json, len,
		 JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL)) == NULL)
		*why = "JWT: claims are not JSON";
	else if (!json_is_object(c))
		*why = "JWT: claims are not an object";
	else if (token_jwt_claim_types(c, why) == 0 &&
	    token_jwt_claim_times(c, now, why) == 0)
		rc = token_jwt_claim_target(c, target, targetlen, why);
	json_decref(c);
	return rc;
}
