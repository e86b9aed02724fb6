/* RFC 6455 section 4 server handshake checks: pure, no I/O. */
#ifndef WSB_HANDSHAKE_H
#define WSB_HANDSHAKE_H

#include <stddef.h>

#include "http.h"

/* base64 of a 20-byte SHA-1, plus NUL. */
#define HANDSHAKE_ACCEPT_LEN 28

struct handshake_result {
	int	    status;	   /* 101 on success, else the HTTP error */
	const char *reason;	   /* one line, static, for the 4xx body/log */
	const char *extra_headers; /* e.g. "Sec-WebSocket-Version: 13\r\n" */
	char	    accept[HANDSHAKE_ACCEPT_LEN + 1];
	const char *protocol; /* "binary" or NULL: no header */
};

/* 1 if the request asks for a WebSocket upgrade (Upgrade: websocket). */
int handshake_is_upgrade(const struct http_request *req);

/*
 * Check req against RFC 6455 4.2.1 and fill res (reason and
 * extra_headers are static strings).  Header names match in any case;
 * Upgrade and Connection tokens too; values below match exactly.
 * Returns res->status:
 *   101  accepted; accept set, protocol "binary" if it was offered
 *   400  not HTTP/1.1 or later; Host missing or repeated (RFC 9112 3.2);
 *        Upgrade lacks "websocket" or Connection lacks "upgrade";
 *        Sec-WebSocket-Version missing or repeated; Sec-WebSocket-Key
 *        missing, repeated or not base64 of 16 bytes; Sec-WebSocket-
 *        Protocol sent without "binary" (case-sensitive, RFC 7936)
 *   405  method not exactly "GET" (extra: Allow: GET)
 *   426  Sec-WebSocket-Version not exactly "13" (extra names 13)
 *   500  the accept value could not be computed
 */
/* The formatter would align the parameters as declarations. */
/* clang-format off */
int handshake_check(const struct http_request *req,
    struct handshake_result *res);
/* clang-format on */

/* Sec-WebSocket-Accept for key (RFC 6455 4.2.2 step 5.4); 0 or -1. */
int handshake_accept_key(const char *key, size_t key_len,
    char out[HANDSHAKE_ACCEPT_LEN + 1]);

/* Write the 101 response into out; returns its length or -1. */
int handshake_format_101(char *out, size_t outlen,
    const struct handshake_result *res);

#endif
