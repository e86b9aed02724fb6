/*
 * Token files as websockify reads them (TokenFile, ReadOnlyTokenFile,
 * --target-config): the line parser, the hash table that holds a source's
 * tokens, and loading a file or a directory of files into one.  No
 * threads and no event loop here: the plugins that use this, and how
 * they reload, are in token_file_name.c.  The parser and the table are
 * pure; token_file_load() reads files (main thread or the job thread).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "target.h"
#include "token.h"
#include "token_file.h"
#include "wsb_limits.h"

/* websockify's prefix for a Unix socket target. */
#define TOKEN_FILE_UNIX_PREFIX "unix_socket:"

/* One token of a table. */
struct token_file_entry {
	const char *token;
	const char *target; /* NUL-terminated, in one of the buffers */
	uint32_t    len;
	uint32_t    hash;
};

/* Open addressing over a dense array; slots hold entry index + 1. */
struct token_file_table {
	struct token_file_entry *entries;
	size_t			 count, cap;
	uint32_t		*slots;
	size_t			 mask; /* slots - 1 (a power of 2) */
	char		       **bufs; /* the file contents, owned */
	size_t			 nbufs, bufcap;
};

/* The logging context of one file's load. */
struct token_file_where {
	const char *path;
};

static int token_file_grow(struct token_file_table *);
static int token_file_insert(struct token_file_table *, const char *, size_t,
    const char *);
static uint32_t token_file_hash(const char *, size_t);
static void	token_file_bad_cb(size_t, void *);
static int token_file_read(const char *, char **, size_t *, char *, size_t);
static int token_file_load_dir(struct token_file_table *, const char *, char *,
    size_t);
static int token_file_name_cmp(const void *, const void *);
static int token_file_absent(int);

/* A blank as Python's str.strip() sees an ASCII byte. */
int
token_file_is_blank(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') ||
	    (c >= 0x1c && c <= 0x1f);
}

/* Whether a stripped target (len bytes) is one a session can use. */
int
token_file_target_ok(const char *target, size_t len)
{
	struct target_spec spec;
	char		   copy[WSB_TOKEN_FILE_MAX_TARGET + 1];
	char		   buf[WSB_TOKEN_FILE_MAX_TARGET + 2];

	if (len == 0 || len > WSB_TOKEN_FILE_MAX_TARGET ||
	    memchr(target, '\0', len) != NULL)
		return 0;
	memcpy(copy, target, len);
	copy[len] = '\0';
	return token_target_parse(copy, &spec, buf, sizeof(buf)) == 0;
}

/* A token that can be a file name in a directory, nothing more. */
int
token_file_name_ok(const char *token, size_t len)
{
	return len > 0 && token[0] != '.' && memchr(token, '/', len) == NULL &&
	    memchr(token, '\0', len) == NULL;
}

/* One line: strip, skip, split on `:\s` into exactly two parts. */
int
token_file_parse_line(const char *line, size_t len,
    struct token_file_line *out)
{
	const char *s = line, *e = line + len, *sep = NULL, *p;
	size_t	    seps = 0;

	while (s < e && token_file_is_blank((unsigned char)*s))
		s++;
	while (e > s && token_file_is_blank((unsigned char)e[-1]))
		e--;
	if (s == e || *s == '#')
		return 0;
	if (memchr(s, '\0', (size_t)(e - s)) != NULL)
		return -1;
	for (p = s; p + 1 < e; p++) {
		if (*p == ':' && token_file_is_blank((unsigned char)p[1])) {
			seps++;
			sep = p;
		}
	}
	if (seps != 1 || sep == s)
		return -1;
	out->token = s;
	out->token_len = (size_t)(sep - s);
	for (p = sep + 2; p < e && token_file_is_blank((unsigned char)*p); p++)
		;
	out->target = p;
	out->target_len = (size_t)(e - p);
	return token_file_target_ok(out->target, out->target_len) ? 1 : -1;
}

/* FNV-1a, then a 32-bit finaliser: tokens are short, keys trusted. */
static uint32_t
token_file_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	size_t	 i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	return h;
}

/* An empty table. */
struct token_file_table *
token_file_table_new(void)
{
	struct token_file_table *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->mask = 15;
	if ((t->slots = calloc(t->mask + 1, sizeof(*t->slots))) == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

/* Double the slots once they are half full; rehash.  0 or -1. */
static int
token_file_grow(struct token_file_table *t)
{
	uint32_t *slots;
	size_t	  n = (t->mask + 1) * 2, i, j;

	if ((slots = calloc(n, sizeof(*slots))) == NULL)
		return -1;
	for (i = 0; i < t->count; i++) {
		for (j = t->entries[i].hash & (n - 1); slots[j] != 0;
		     j = (j + 1) & (n - 1))
			;
		slots[j] = (uint32_t)i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->mask = n - 1;
	return 0;
}

/* Add or replace one token.  0 or -1 (out of memory). */
static int
token_file_insert(struct token_file_table *t, const char *token, size_t len,
    const char *target)
{
	struct token_file_entry *e;
	uint32_t		 h = token_file_hash(token, len);
	size_t			 i, ncap;

	for (i = h & t->mask; t->slots[i] != 0; i = (i + 1) & t->mask) {
		e = &t->entries[t->slots[i] - 1];
		if (e->hash == h && e->len == len &&
		    memcmp(e->token, token, len) == 0) {
			e->target = target;
			return 0;
		}
	}
	if (t->count == t->cap) {
		ncap = t->cap == 0 ? 64 : t->cap * 2;
		if ((e = reallocarray(t->entries, ncap, sizeof(*e))) == NULL)
			return -1;
		t->entries = e;
		t->cap = ncap;
	}
	e = &t->entries[t->count];
	e->token = token;
	e->target = target;
	e->len = (uint32_t)len;
	e->hash = h;
	t->slots[i] = (uint32_t)++t->count;
	if (t->count * 2 > t->mask + 1)
		return token_file_grow(t);
	return 0;
}

/* Every line of buf into t; buf is kept (targets NUL-terminated in it). */
long
token_file_table_add(struct token_file_table *t, char *buf, size_t len,
    token_file_bad_fn bad, void *arg)
{
	struct token_file_line l;
	char **bufs, *p = buf, *end = buf + len, *eol, *next, *tgt;
	size_t lineno = 0;
	long   added = 0;

	if (t->nbufs == t->bufcap) {
		if ((bufs = reallocarray(t->bufs, t->bufcap + 4,
			 sizeof(*bufs))) == NULL) {
			free(buf);
			return -1;
		}
		t->bufs = bufs;
		t->bufcap += 4;
	}
	t->bufs[t->nbufs++] = buf;
	buf[len] = '\0';
	for (; p < end; p = next) {
		lineno++;
		for (eol = p; eol < end && *eol != '\n' && *eol != '\r'; eol++)
			;
		next = eol + 1;
		if (eol + 1 < end && eol[0] == '\r' && eol[1] == '\n')
			next++;
		switch (token_file_parse_line(p, (size_t)(eol - p), &l)) {
		case 1:
			/* After the target: a blank, the line break or the
			 * extra byte; this line is parsed already. */
			tgt = p + (l.target - p);
			tgt[l.target_len] = '\0';
			if (token_file_insert(t, l.token, l.token_len, tgt) ==
			    -1)
				return -1;
			added++;
			break;
		case -1:
			if (bad != NULL)
				bad(lineno, arg);
			break;
		}
	}
	return added;
}

/* The target of a token, or NULL. */
const char *
token_file_table_get(const struct token_file_table *t, const char *token,
    size_t len)
{
	const struct token_file_entry *e;
	uint32_t		       h = token_file_hash(token, len);
	size_t			       i;

	for (i = h & t->mask; t->slots[i] != 0; i = (i + 1) & t->mask) {
		e = &t->entries[t->slots[i] - 1];
		if (e->hash == h && e->len == len &&
		    memcmp(e->token, token, len) == 0)
			return e->target;
	}
	return NULL;
}

/* How many tokens. */
size_t
token_file_table_count(const struct token_file_table *t)
{
	return t->count;
}

/* Free the table and its buffers. */
void
token_file_table_free(struct token_file_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nbufs; i++)
		free(t->bufs[i]);
	free(t->bufs);
	free(t->entries);
	free(t->slots);
	free(t);
}

/* Log a malformed line: where, never what. */
static void
token_file_bad_cb(size_t lineno, void *arg)
{
	struct token_file_where *w = arg;

	log_warnx("token file %s line %zu: syntax error, skipped", w->path,
	    lineno);
}

/*
 * Read the regular file path whole into a malloc'd buffer with one byte
 * to spare.  Returns 0; or an errno value with a reason in err (ENOENT:
 * the file is not there).
 */
static int
token_file_read(const char *path, char **bufp, size_t *lenp, char *err,
    size_t errlen)
{
	struct stat sb;
	char	   *buf = NULL, *nbuf;
	size_t	    len = 0, cap;
	ssize_t	    n;
	int	    fd, e = 0;

	/* O_NONBLOCK: a FIFO put in the place of a file must not hang. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) ==
	    -1) {
		e = errno;
		goto fail;
	}
	if (fstat(fd, &sb) == -1) {
		e = errno;
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "token file %s: not a regular file",
		    path);
		close(fd);
		return EINVAL;
	}
	cap = (size_t)sb.st_size + 1;
	for (;;) {
		if (cap > WSB_TOKEN_FILE_MAX_SIZE + 1) {
			e = EFBIG;
			goto fail;
		}
		if ((nbuf = realloc(buf, cap + 1)) == NULL) {
			e = ENOMEM;
			goto fail;
		}
		buf = nbuf;
		if ((n = read(fd, buf + len, cap - len)) == 0)
			break;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			e = errno;
			goto fail;
		}
		if ((len += (size_t)n) == cap)
			cap *= 2;
	}
	close(fd);
	*bufp = buf;
	*lenp = len;
	return 0;
fail:
	snprintf(err, errlen, "token file %s: %s", path, strerror(e));
	if (fd != -1)
		close(fd);
	free(buf);
	return e;
}

/* Sort directory entries by name, byte by byte. */
static int
token_file_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of directory dir into t, in name order.  0 or -1. */
static int
token_file_load_dir(struct token_file_table *t, const char *dir, char *err,
    size_t errlen)
{
	struct token_file_where w;
	struct dirent	       *de;
	struct stat		sb;
	DIR		       *d;
	char		      **names = NULL, **nn, path[PATH_MAX], *buf;
	size_t			n = 0, cap = 0, i, len;
	int			ret = -1, e;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "token directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		/* Hidden names are editors' swap files and the temporary
		 * files of atomic writes (rsync, install), not sources. */
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			if ((nn = reallocarray(names, cap * 2 + 16,
				 sizeof(*names))) == NULL)
				goto oom;
			names = nn;
			cap = cap * 2 + 16;
		}
		if ((names[n] = strdup(de->d_name)) == NULL)
			goto oom;
		n++;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), token_file_name_cmp);
	for (i = 0; i < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >=
			(int)sizeof(path) ||
		    stat(path, &sb) == -1 || !S_ISREG(sb.st_mode))
			continue; /* gone since, or not a file */
		if ((e = token_file_read(path, &buf, &len, err, errlen)) ==
		    ENOENT)
			continue;
		if (e != 0)
			goto done;
		w.path = path;
		if (token_file_table_add(t, buf, len, token_file_bad_cb, &w) ==
		    -1)
			goto oom;
	}
	ret = 0;
	goto done;
oom:
	snprintf(err, errlen, "token directory %s: out of memory", dir);
done:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return ret;
}

/* Load a token file or a directory of them into a new table. */
struct token_file_table *
token_file_load(const char *source, char *err, size_t errlen)
{
	struct token_file_where	 w = { source };
	struct token_file_table *t;
	struct stat		 sb;
	char			*buf;
	size_t			 len;

	if ((t = token_file_table_new()) == NULL) {
		snprintf(err, errlen, "token source %s: out of memory",
		    source);
		return NULL;
	}
	if (stat(source, &sb) == -1) {
		snprintf(err, errlen, "token source %s: %s", source,
		    strerror(errno));
		goto fail;
	}
	if (S_ISDIR(sb.st_mode)) {
		if (token_file_load_dir(t, source, err, errlen) == -1)
			goto fail;
		return t;
	}
	if (token_file_read(source, &buf, &len, err, errlen) != 0)
		goto fail;
	if (token_file_table_add(t, buf, len, token_file_bad_cb, &w) == -1) {
		snprintf(err, errlen, "token file %s: out of memory", source);
		goto fail;
	}
	return t;
fail:
	token_file_table_free(t);
	return NULL;
}

/* source with the working directory in front, no trailing slash. */
char *
token_file_abspath(const char *source, char *err, size_t errlen)
{
	char   cwd[PATH_MAX], *p;
	size_t n;

	if (source[0] == '\0') {
		snprintf(err, errlen, "empty token source");
		return NULL;
	}
	if (source[0] == '/')
		p = strdup(source);
	else if (getcwd(cwd, sizeof(cwd)) == NULL) {
		snprintf(err, errlen, "token source %s: working directory: %s",
		    source, strerror(errno));
		return NULL;
	} else if (asprintf(&p, "%s/%s", cwd, source) == -1)
		p = NULL;
	if (p == NULL) {
		snprintf(err, errlen, "token source %s: out of memory",
		    source);
		return NULL;
	}
	for (n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
		p[n - 1] = '\0';
	return p;
}

/* Whether errno says "no such name" rather than "cannot look". */
static int
token_file_absent(int e)
{
	/* ENXIO: a socket (or a FIFO with no writer): not a file. */
	return e == ENOENT || e == ENOTDIR || e == ELOOP ||
	    e == ENAMETOOLONG || e == ENXIO;
}

/* TokenFileName: dir/token holds the target. */
enum token_result
token_file_name_read(const char *dir, const char *token, char *target,
    const char **why)
{
	struct stat sb;
	char	    path[PATH_MAX], buf[WSB_TOKEN_FILE_NAME_READ + 1];
	const char *s = buf, *e;
	ssize_t	    n = -1;
	int	    fd;

	*why = "no such token file";
	if (snprintf(path, sizeof(path), "%s/%s", dir, token) >=
	    (int)sizeof(path))
		return TOKEN_NOT_FOUND;
	/* O_NONBLOCK: a FIFO named like a token must not hang the job. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd != -1 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
		while ((n = read(fd, buf, sizeof(buf))) == -1 &&
		    errno == EINTR)
			;
	else if (fd != -1 || token_file_absent(errno))
		n = -2; /* no such file, or not a regular one */
	if (fd != -1)
		close(fd);
	if (n < 0) {
		if (n == -2)
			return TOKEN_NOT_FOUND;
		*why = "token file unreadable";
		return TOKEN_UNAVAILABLE;
	}
	for (e = buf + n; s < e && token_file_is_blank((unsigned char)*s); s++)
		;
	while (e > s && token_file_is_blank((unsigned char)e[-1]))
		e--;
	if (n > WSB_TOKEN_FILE_NAME_READ ||
	    !token_file_target_ok(s, (size_t)(e - s))) {
		*why = "malformed target in token file";
		return TOKEN_NOT_FOUND;
	}
	memcpy(target, s, (size_t)(e - s));
	target[e - s] = '\0';
	*why = NULL;
	return TOKEN_FOUND;
}

/* UnixDomainSocketDirectory: dir/token must be a socket. */
enum token_result
token_file_unix_check(const char *dir, const char *token, char *target,
    const char **why)
{
	struct sockaddr_un sun;
	struct stat	   sb;
	size_t		   plen = strlen(TOKEN_FILE_UNIX_PREFIX);
	int		   n;

	n = snprintf(target, WSB_TOKEN_FILE_MAX_TARGET + 1, "%s%s/%s",
	    TOKEN_FILE_UNIX_PREFIX, dir, token);
	if (n < 0 || (size_t)n - plen >= sizeof(sun.sun_path)) {
		*why = "socket path too long";
		target[0] = '\0';
		return TOKEN_NOT_FOUND;
	}
	*why = NULL;
	if (stat(target + plen, &sb) == -1) {
		*why = token_file_absent(errno) ?
		    "no such socket" :
		    "socket directory unreadable";
	} else if (!S_ISSOCK(sb.st_mode))
		*why = "not a socket";
	if (*why == NULL)
		return TOKEN_FOUND;
	target[0] = '\0';
	return strcmp(*why, "socket directory unreadable") == 0 ?
	    TOKEN_UNAVAILABLE :
	    TOKEN_NOT_FOUND;
}
