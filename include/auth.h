/* Auth plugins (websockify's BasicHTTPAuth, ExpectOrigin,
 * ClientCertCNAuth): pure checks of a parsed request, no I/O. */
#ifndef WSB_AUTH_H
#define WSB_AUTH_H

#include "wsb_config.h"
#include "http.h"

struct auth_result {
	int	    status;	   /* 0 allowed, else the HTTP status */
	const char *reason;	   /* one line, for the body and log */
	const char *extra_headers; /* e.g. WWW-Authenticate */
};

/*
 * Check req against the configured plugin (websockify's auth_plugins.py).
 * peer_cn is the CN of the client certificate the TLS layer verified, or
 * NULL when there is none (ClientCertCNAuth reads only this, never a
 * header).  Returns res->status: 0 allowed, else 400, 401 or 403.
 */
int auth_check(const struct config *cfg, const struct http_request *req,
    const char *peer_cn, struct auth_result *res);

#endif
