/*
 * Token files (token_file.c), as websockify's token_plugins.py reads
 * them, for the plugins TokenFile, ReadOnlyTokenFile, TokenFileName and
 * UnixDomainSocketDirectory (their ops are in token_file_name.c and
 * token_file_watch.c).  What is declared here is pure (no I/O) unless it
 * says otherwise: the line parser, the in-memory token table and the
 * token-as-file-name check, which the unit tests and tests/fuzz/fuzz_token_file.c call directly.
 */
#ifndef WSB_TOKEN_FILE_H
#define WSB_TOKEN_FILE_H

#include <stddef.h>

#include "token.h"

struct token_file_table;

/* One "token: target" line, split; both point into the line given. */
struct token_file_line {
	const char *token; /* may hold ':' (not followed by a blank) */
	size_t	    token_len;
	const char *target; /* stripped: "host:port", "[v6]:port" or
			       "unix_socket:PATH" */
	size_t	    target_len;
};

/*
 * A token file's blank, as Python's str.strip() and the regex `\s` see an
 * ASCII byte: space, \t \n \v \f \r, and the separators 0x1c-0x1f.  (A
 * non-ASCII blank such as U+00A0 is not one here.)  Returns 1 or 0.
 */
int token_file_is_blank(unsigned char c);

/*
 * Whether target (len bytes, stripped, need not be NUL-terminated) is one
 * a session can connect to: at most WSB_TOKEN_FILE_MAX_TARGET bytes, no
 * NUL, and token_target_parse() takes it ("host:port" with a port from 1
 * to 65535, "[v6]:port", "unix_socket:PATH").  Returns 1 or 0.
 */
int token_file_target_ok(const char *target, size_t len);

/*
 * Parse one line of a token file, as websockify does: line holds len
 * bytes without the line break (it need not be NUL-terminated).  The line
 * is stripped of blanks at both ends; an empty line or one whose first
 * character is '#' is skipped.  Otherwise it must split on the regex
 * `:\s` (a colon then any blank) into exactly two parts: the token (the
 * first, not stripped, may hold colons not followed by a blank; an empty
 * one is malformed, since a session never looks "" up) and the
 * target (the second, stripped), which must be "host:port", "[v6]:port"
 * (port 1-65535) or "unix_socket:PATH" (token_target_parse) and at most
 * WSB_TOKEN_FILE_MAX_TARGET bytes.  A line holding a NUL byte is
 * malformed.
 *
 * Returns 1 with out filled (pointers into line), 0 for a line to skip,
 * or -1 for a malformed line (out is then undefined).
 */
int token_file_parse_line(const char *line, size_t len,
    struct token_file_line *out);

/* Told about each malformed line of a buffer: its number, from 1. */
typedef void (*token_file_bad_fn)(size_t lineno, void *arg);

/* An empty token table, or NULL when out of memory. */
struct token_file_table *token_file_table_new(void);

/*
 * Add every line of buf (len bytes, a token file's contents) to t.  The
 * table takes buf, which must come from malloc() with room for len + 1
 * bytes: it keeps it (tokens and targets point into it, targets are
 * NUL-terminated in place), also when this fails.  Lines end at "\n",
 * "\r\n" or a lone "\r" (Python's universal newlines).  A token already
 * in t gets the new target (a later line wins, as a Python dict does).
 * bad (may be NULL) is called with arg for each malformed line, which is
 * skipped.  Returns the number of tokens added or replaced, or -1 when
 * out of memory (t then holds some of buf's lines).
 */
long token_file_table_add(struct token_file_table *t, char *buf, size_t len,
    token_file_bad_fn bad, void *arg);

/*
 * The target of token (len bytes) in t, NUL-terminated, living as long as
 * t; or NULL when t does not hold it.  t is never changed by a lookup, so
 * any number of threads may look up at once.
 */
const char *token_file_table_get(const struct token_file_table *t,
    const char *token, size_t len);

/* The number of distinct tokens in t. */
size_t token_file_table_count(const struct token_file_table *t);

/* Free t and the buffers it took (NULL allowed). */
void token_file_table_free(struct token_file_table *t);

/*
 * I/O: load source, a token file or a directory (its regular files, in
 * byte order of their names, hidden ones left out: they are editors'
 * swap files and atomic writes' temporary files; a later file's token
 * wins), into a new table.  Each malformed line is logged once with
 * log_warnx, as "token file FILE line N: syntax error, skipped" (never
 * the line: it holds a token).  Returns the table, or NULL with a
 * one-line reason in err (errlen bytes): source missing, unreadable, or
 * a file in it larger than WSB_TOKEN_FILE_MAX_SIZE.  Blocks: main
 * thread or the token job thread only.
 */
struct token_file_table *token_file_load(const char *source, char *err,
    size_t errlen);

/*
 * Whether token (len bytes) may name a file in a directory for
 * TokenFileName and UnixDomainSocketDirectory: not empty, no '/' or NUL,
 * not starting with '.' (so neither "." nor ".." nor a hidden file).
 * Returns 1 or 0.
 */
int token_file_name_ok(const char *token, size_t len);

/*
 * I/O, blocking (the token job thread): TokenFileName's answer for token
 * (a name token_file_name_ok() accepts) in directory dir.  The file
 * dir/token is opened without following it into a FIFO's wait, must be a
 * regular file of at most WSB_TOKEN_FILE_NAME_READ bytes, and its
 * contents, stripped, a target token_file_target_ok() takes.  Returns
 * TOKEN_FOUND with the target in target (WSB_TOKEN_FILE_MAX_TARGET + 1
 * bytes); TOKEN_NOT_FOUND (no such file, not a regular file, malformed
 * contents) or TOKEN_UNAVAILABLE (it cannot be read) with *why, a literal
 * that never holds the token.
 */
enum token_result token_file_name_read(const char *dir, const char *token,
    char *target, const char **why);

/*
 * I/O, blocking (the token job thread): UnixDomainSocketDirectory's
 * answer for token (a name token_file_name_ok() accepts) in directory
 * dir: TOKEN_FOUND with "unix_socket:DIR/TOKEN" in target
 * (WSB_TOKEN_FILE_MAX_TARGET + 1 bytes) when that path fits a
 * sockaddr_un's sun_path (107 bytes and a NUL) and stat() (which follows
 * a symlink, as websockify's os.stat does) says it is a socket; else
 * TOKEN_NOT_FOUND, or TOKEN_UNAVAILABLE when the directory cannot be
 * looked in, with *why as above.
 */
enum token_result token_file_unix_check(const char *dir, const char *token,
    char *target, const char **why);

/*
 * I/O helper of every plugin here: source as an absolute path (the
 * working directory prefixed when it is relative; trailing slashes
 * removed), malloc'd, so a later chdir() changes nothing.  NULL with a
 * reason in err when the working directory cannot be read or out of
 * memory.
 */
char *token_file_abspath(const char *source, char *err, size_t errlen);

#endif
