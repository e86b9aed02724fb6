/* Static files on the WebSocket port (--web DIR), as websockify does. */
#ifndef WSB_WEB_H
#define WSB_WEB_H

#include <stddef.h>

#include "wsb_config.h"
#include "http.h"

struct evbuffer;

/* Resolve and check the --web directory at start-up.  -1 with err. */
int web_init(const struct config *cfg, char *err, size_t errlen);

/*
 * Decode a request path once and check it (pure): percent-decoding, no
 * "..", no encoded '/', no NUL, no dotfile segment.  out gets the path
 * relative to the root without leading '/', "" for the root; *dir_slash
 * whether the path ended in '/'.  0 ok, else the HTTP status (400, 404).
 */
int web_path_normalize(const char *path, size_t len, char *out, size_t outlen,
    int *dir_slash);

/*
 * Answer a GET or HEAD under the web root: status line, headers, and the
 * body as a file segment (sent with sendfile where possible).  Sets
 * *keep_alive, *bytes (body bytes) and *note (NULL, or a static string
 * saying why a request was refused, for the caller's log line: web.c
 * logs nothing itself).  Returns the HTTP status.
 */
int web_respond(const struct config *cfg, const struct http_request *req,
    struct evbuffer *out, int *keep_alive, size_t *bytes, const char **note);

/* Write an error response that may keep the connection open; with head
 * the body is left out (its length still given). */
void web_error(struct evbuffer *out, int status, const char *extra,
    const char *reason, int keep_alive, int head);

#endif
