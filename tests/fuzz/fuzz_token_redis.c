/*
 * libFuzzer harness for TokenRedis' parsers (src/token_redis_parse.c): the
 * --token-source string and a token's Redis value.  Byte 0 picks which;
 * the rest is the input.
 *
 * Source: 0 or -1; a refusal is one line that quotes nothing of the
 * source (so never the password); a source that parses has a host, a
 * port 1-65535, a db >= 0, no empty password or namespace, every string
 * inside buf; writing the fields back (quoted or bracketed where they
 * hold ':') parses to the same fields; strlen + 1 bytes of buf are
 * enough and one less is refused.
 *
 * Value: -1 or the target's length; a target holds no blank or control
 * byte and passes token_target_parse; a plain value gives itself without
 * the blanks around it; a target read again as a value, or wrapped as
 * {"host": target}, gives itself; exactly length + 1 bytes of room are
 * enough and one less is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"
#include "token.h"
#include "token_redis.h"
#include "wsb_limits.h"
#include "fuzz.h"

#define FUZZ_REDIS_ERR_PREFIX "malformed source: "

static void fuzz_redis_same(const struct token_redis_source *,
    const struct token_redis_source *);
static void fuzz_redis_encode(char *, const char *, int);
static void fuzz_redis_source(const char *);
static void fuzz_redis_value(const uint8_t *, size_t);

/* Two parses gave the same fields. */
static void
fuzz_redis_same(const struct token_redis_source *a,
    const struct token_redis_source		*b)
{
	FUZZ_CHECK(strcmp(a->host, b->host) == 0 && a->port == b->port &&
		a->db == b->db,
	    "host, port, db survive a round trip");
	FUZZ_CHECK((a->password == NULL) == (b->password == NULL) &&
		(a->password == NULL || strcmp(a->password, b->password) == 0),
	    "password survives a round trip");
	FUZZ_CHECK((a->ns == NULL) == (b->ns == NULL) &&
		(a->ns == NULL || strcmp(a->ns, b->ns) == 0),
	    "namespace survives a round trip");
}

/* Append field f to out, quoted when it holds ':' or starts with '"'
 * (a parsed field never holds both ':' and '"'), the host bracketed when
 * it cannot be quoted. */
static void
fuzz_redis_encode(char *out, const char *f, int host)
{
	size_t n = strlen(out);

	if (strchr(f, ':') == NULL && f[0] != '"' && !(host && f[0] == '['))
		sprintf(out + n, "%s", f);
	else if (strchr(f, '"') == NULL)
		sprintf(out + n, "\"%s\"", f);
	else {
		FUZZ_CHECK(host && strchr(f, ']') == NULL,
		    "only a bracketed host holds both ':' and '\"'");
		sprintf(out + n, "[%s]", f);
	}
}

/* Parse src; check the refusal or the fields, then a round trip. */
static void
fuzz_redis_source(const char *src)
{
	struct token_redis_source rs, again;
	size_t			  len = strlen(src);
	char			 *buf, *buf2, *enc, err[256];
	int			  r;

	buf = (char *)fuzz_alloc(len + 1);
	err[0] = '\0';
	r = token_redis_source_parse(src, &rs, buf, len + 1, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -1, "0 or -1");
	if (r == -1) {
		FUZZ_CHECK(strncmp(err, FUZZ_REDIS_ERR_PREFIX,
			       strlen(FUZZ_REDIS_ERR_PREFIX)) == 0 &&
			strchr(err, '\n') == NULL,
		    "a refusal is one fixed line");
		free(buf);
		return;
	}
	FUZZ_CHECK(rs.host[0] != '\0' && rs.port >= 1 && rs.port <= 65535 &&
		rs.db >= 0,
	    "host, port and db as the header says");
	FUZZ_CHECK(rs.host >= buf && rs.host + strlen(rs.host) < buf + len + 1,
	    "host inside buf");
	FUZZ_CHECK(rs.password == NULL || rs.password[0] != '\0',
	    "an empty password is none");
	FUZZ_CHECK(rs.ns == NULL || rs.ns[0] != '\0',
	    "an empty namespace is none");
	/* Written back: at most 2 more bytes per field, and 5 digits. */
	enc = (char *)fuzz_alloc(2 * len + 64);
	enc[0] = '\0';
	fuzz_redis_encode(enc, rs.host, 1);
	sprintf(enc + strlen(enc), ":%d:%d:", rs.port, rs.db);
	fuzz_redis_encode(enc, rs.password != NULL ? rs.password : "", 0);
	strcat(enc, ":");
	fuzz_redis_encode(enc, rs.ns != NULL ? rs.ns : "", 0);
	buf2 = (char *)fuzz_alloc(strlen(enc) + 1);
	r = token_redis_source_parse(enc, &again, buf2, strlen(enc) + 1, err,
	    sizeof(err));
	FUZZ_CHECK(r == 0, "the fields written back parse");
	fuzz_redis_same(&rs, &again);
	free(buf2);
	free(enc);
	if (len > 0)
		FUZZ_CHECK(token_redis_source_parse(src, &again, buf, len, err,
			       sizeof(err)) == -1,
		    "one byte of buf short is refused");
	free(buf);
}

/* Parse a value; check the target and what must give it back. */
static void
fuzz_redis_value(const uint8_t *data, size_t size)
{
	static const char  blanks[] = " \t\n\v\f\r";
	const char	  *v = (const char *)data, *p;
	char		   target[WSB_TOKEN_REDIS_MAX_VALUE + 1], *json;
	char		   again[sizeof(target)], buf[sizeof(target) + 2];
	struct target_spec spec;
	size_t		   i, a = 0, b = size;
	int		   n;

	n = token_redis_value_parse(v, size, target, sizeof(target));
	if (n < 0)
		return;
	FUZZ_CHECK(strlen(target) == (size_t)n, "the length returned");
	for (i = 0; i < (size_t)n; i++)
		FUZZ_CHECK((unsigned char)target[i] > ' ' &&
			(unsigned char)target[i] != 0x7f,
		    "no blank or control byte");
	FUZZ_CHECK(token_target_parse(target, &spec, buf, sizeof(buf)) == 0,
	    "token_target_parse takes it");
	while (a < b && strchr(blanks, v[a]) != NULL)
		a++;
	while (b > a && strchr(blanks, v[b - 1]) != NULL)
		b--;
	if (a < b && v[a] != '{')
		FUZZ_CHECK(b - a == (size_t)n && memcmp(v + a, target, n) == 0,
		    "a plain value is its own target");
	if (target[0] != '{') /* else it reads as JSON */
		FUZZ_CHECK(token_redis_value_parse(target, (size_t)n, again,
			       sizeof(again)) == n &&
			strcmp(again, target) == 0,
		    "the target read as a value gives itself");
	json = (char *)fuzz_alloc((size_t)n + 16);
	i = (size_t)sprintf(json, "{\"host\": \"%s\"}", target);
	for (p = target;
	     *p != '\0' && (unsigned char)*p < 0x80 && *p != '"' && *p != '\\';
	     p++)
		;
	/* ASCII without '"' or '\\' goes into JSON as it is. */
	if (*p == '\0' && i <= WSB_TOKEN_REDIS_MAX_VALUE)
		FUZZ_CHECK(token_redis_value_parse(json, i, again,
			       sizeof(again)) == n &&
			strcmp(again, target) == 0,
		    "{\"host\": target} gives the target");
	free(json);
	FUZZ_CHECK(token_redis_value_parse(v, size, again, (size_t)n + 1) ==
		    n &&
		token_redis_value_parse(v, size, again, (size_t)n) == -1,
	    "length + 1 bytes are enough, one less is not");
}

/* Byte 0 even: a source (up to its first NUL); odd: a value. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	char	*src;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		copy = fuzz_dup(data + 1, size - 1);
		fuzz_redis_value(copy, size - 1);
		free(copy);
		return 0;
	}
	src = fuzz_strndup(data + 1, size - 1);
	fuzz_redis_source(src);
	free(src);
	return 0;
}
