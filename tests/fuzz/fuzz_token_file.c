/*
 * libFuzzer harness for token files (src/token_file.c): the input is a
 * token file's contents.  Every line goes through token_file_parse_line
 * and must get the verdict of a reference written from websockify's
 * rules (Python's strip(), re.split(':\s') into exactly two parts, a
 * target "host:port" / "[v6]:port" / "unix_socket:PATH"); the table built
 * from the whole input must hold exactly the reference's tokens, each
 * with its last target, and report exactly the reference's bad lines;
 * token_file_name_ok is checked on each line as a token.
 *
 * Input: the file as it comes; lines end at "\n", "\r\n" or "\r".
 */
#include <stdlib.h>
#include <string.h>

#include "token_file.h"
#include "wsb_limits.h"
#include "fuzz.h"

/* Most lines followed in one input (max_len 4096 allows ~2048). */
#define FUZZ_TF_MAX_LINES 4096

/* One line as the reference parsed it. */
struct fuzz_tf_line {
	int	    verdict; /* 1 entry, 0 skip, -1 malformed */
	const char *token, *target;
	size_t	    token_len, target_len;
};

/* What the table's bad-line callback heard. */
struct fuzz_tf_bad {
	size_t lines[FUZZ_TF_MAX_LINES];
	size_t n;
};

static int  fuzz_tf_blank(unsigned char);
static int  fuzz_tf_port(const char *, size_t);
static int  fuzz_tf_host(const char *, size_t);
static int  fuzz_tf_target(const char *, size_t);
static void fuzz_tf_ref(const char *, size_t, struct fuzz_tf_line *);
static void fuzz_tf_bad_cb(size_t, void *);
static void fuzz_tf_check_line(const char *, size_t,
    const struct fuzz_tf_line *);
static void fuzz_tf_check_table(const char *, size_t,
    const struct fuzz_tf_line *, size_t, size_t);

/* Python's str.isspace() on an ASCII byte, written from its table. */
static int
fuzz_tf_blank(unsigned char c)
{
	static const char blanks[] = " \t\n\v\f\r\x1c\x1d\x1e\x1f";

	return c != 0 && strchr(blanks, c) != NULL;
}

/* A port: decimal digits only, value 1 to 65535 (leading zeros ok). */
static int
fuzz_tf_port(const char *s, size_t len)
{
	unsigned long v = 0;
	size_t	      i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		if ((v = v * 10 + (unsigned long)(s[i] - '0')) > 65535)
			return 0;
	}
	return v >= 1;
}

/* A host as token.h allows it: not empty, only letters, digits and
 * ".-_:%". */
static int
fuzz_tf_host(const char *h, size_t len)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:%";
	size_t		  i;

	for (i = 0; i < len; i++)
		if (h[i] == '\0' || strchr(ok, h[i]) == NULL)
			return 0;
	return len > 0;
}

/* A target as token.h defines it: "unix_socket:PATH" (PATH not empty),
 * "[HOST]:port" (the first ']'), or "HOST:port" split at the last ':',
 * HOST as fuzz_tf_host() takes it; at most WSB_TOKEN_FILE_MAX_TARGET
 * bytes, no NUL. */
static int
fuzz_tf_target(const char *t, size_t len)
{
	const char *close, *colon = NULL;
	size_t	    i;

	if (len == 0 || len > WSB_TOKEN_FILE_MAX_TARGET ||
	    memchr(t, '\0', len) != NULL)
		return 0;
	if (len >= 12 && memcmp(t, "unix_socket:", 12) == 0)
		return len > 12;
	if (t[0] == '[') {
		if ((close = memchr(t, ']', len)) == NULL ||
		    close + 1 == t + len || close[1] != ':')
			return 0;
		return fuzz_tf_host(t + 1, (size_t)(close - t - 1)) &&
		    fuzz_tf_port(close + 2, (size_t)(t + len - close - 2));
	}
	for (i = 0; i < len; i++)
		if (t[i] == ':')
			colon = t + i;
	if (colon == NULL)
		return 0;
	return fuzz_tf_host(t, (size_t)(colon - t)) &&
	    fuzz_tf_port(colon + 1, (size_t)(t + len - colon - 1));
}

/* websockify's reading of one line (no line break in it). */
static void
fuzz_tf_ref(const char *line, size_t len, struct fuzz_tf_line *r)
{
	size_t s = 0, e = len, i, seps = 0, sep = 0;

	memset(r, 0, sizeof(*r));
	while (s < e && fuzz_tf_blank((unsigned char)line[s]))
		s++;
	while (e > s && fuzz_tf_blank((unsigned char)line[e - 1]))
		e--;
	if (s == e || line[s] == '#')
		return;
	r->verdict = -1;
	if (memchr(line + s, '\0', e - s) != NULL)
		return;
	for (i = s; i + 1 < e; i++)
		if (line[i] == ':' &&
		    fuzz_tf_blank((unsigned char)line[i + 1])) {
			seps++;
			sep = i;
		}
	if (seps != 1 || sep == s)
		return;
	r->token = line + s;
	r->token_len = sep - s;
	for (i = sep + 2; i < e && fuzz_tf_blank((unsigned char)line[i]); i++)
		;
	r->target = line + i;
	r->target_len = e - i;
	if (fuzz_tf_target(r->target, r->target_len))
		r->verdict = 1;
}

/* Record a bad line's number. */
static void
fuzz_tf_bad_cb(size_t lineno, void *arg)
{
	struct fuzz_tf_bad *b = arg;

	FUZZ_CHECK(b->n < FUZZ_TF_MAX_LINES, "no more bad lines than lines");
	b->lines[b->n++] = lineno;
}

/* The parser on a line of its own (an exact-size copy) against r. */
static void
fuzz_tf_check_line(const char *line, size_t len, const struct fuzz_tf_line *r)
{
	struct token_file_line l;
	char		      *copy = (char *)fuzz_dup(line, len);
	int		       v;

	v = token_file_parse_line(copy, len, &l);
	FUZZ_CHECK(v == r->verdict, "verdict as websockify's rules give");
	if (v == 1) {
		FUZZ_CHECK(l.token == copy + (r->token - line) &&
			l.token_len == r->token_len,
		    "token where the reference has it");
		FUZZ_CHECK(l.target == copy + (r->target - line) &&
			l.target_len == r->target_len,
		    "target where the reference has it");
		FUZZ_CHECK(token_file_target_ok(l.target, l.target_len),
		    "a target the parser takes passes token_file_target_ok");
	}
	FUZZ_CHECK(token_file_name_ok(copy, len) ==
		(len > 0 && copy[0] != '.' && memchr(copy, '/', len) == NULL &&
		    memchr(copy, '\0', len) == NULL),
	    "token_file_name_ok as token_file.h words it");
	free(copy);
}

/* The table from the whole input against the reference lines: the same
 * tokens, each with its last target; the same bad lines. */
static void
fuzz_tf_check_table(const char *data, size_t size,
    const struct fuzz_tf_line *ref, size_t nlines, size_t entries)
{
	struct token_file_table	  *t = token_file_table_new();
	static struct fuzz_tf_bad  bad;
	const struct fuzz_tf_line *last;
	const char		  *got;
	char			  *buf = (char *)fuzz_alloc(size + 1);
	size_t			   i, j, distinct = 0, nbad = 0;
	long			   added;

	FUZZ_CHECK(t != NULL, "a table");
	memcpy(buf, data, size);
	bad.n = 0;
	added = token_file_table_add(t, buf, size, fuzz_tf_bad_cb, &bad);
	FUZZ_CHECK(added == (long)entries, "one addition per good line");
	for (i = 0; i < nlines; i++) {
		if (ref[i].verdict == -1) {
			FUZZ_CHECK(nbad < bad.n && bad.lines[nbad] == i + 1,
			    "bad lines reported in order, by number");
			nbad++;
		}
		if (ref[i].verdict != 1)
			continue;
		last = &ref[i];
		for (j = i + 1; j < nlines; j++)
			if (ref[j].verdict == 1 &&
			    ref[j].token_len == ref[i].token_len &&
			    memcmp(ref[j].token, ref[i].token,
				ref[i].token_len) == 0)
				last = &ref[j];
		distinct += last == &ref[i];
		got = token_file_table_get(t, ref[i].token, ref[i].token_len);
		FUZZ_CHECK(got != NULL, "every good token is in the table");
		FUZZ_CHECK(strlen(got) == last->target_len &&
			memcmp(got, last->target, last->target_len) == 0,
		    "a token has its last target, NUL-terminated");
	}
	FUZZ_CHECK(nbad == bad.n, "no other bad lines");
	FUZZ_CHECK(token_file_table_count(t) == distinct,
	    "one entry per distinct token");
	/* Whole input and its first bytes as tokens: absent unless the
	 * reference has them. */
	for (i = 0; i <= size && i < 64; i += 7) {
		got = token_file_table_get(t, data, i);
		for (j = 0; j < nlines && got != NULL; j++)
			if (ref[j].verdict == 1 && ref[j].token_len == i &&
			    memcmp(ref[j].token, data, i) == 0)
				break;
		FUZZ_CHECK(got == NULL || j < nlines,
		    "only tokens from the file are found");
	}
	token_file_table_free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_tf_line ref[FUZZ_TF_MAX_LINES];
	const char		  *in = (const char *)data, *end = in + size;
	const char		  *p, *eol;
	size_t			   n = 0, entries = 0;

	for (p = in; p < end && n < FUZZ_TF_MAX_LINES; n++) {
		for (eol = p; eol < end && *eol != '\n' && *eol != '\r'; eol++)
			;
		fuzz_tf_ref(p, (size_t)(eol - p), &ref[n]);
		fuzz_tf_check_line(p, (size_t)(eol - p), &ref[n]);
		entries += ref[n].verdict == 1;
		if (eol + 1 < end && eol[0] == '\r' && eol[1] == '\n')
			eol++;
		p = eol + 1;
	}
	if (p >= end)
		fuzz_tf_check_table(in, size, ref, n, entries);
	return 0;
}
