/* Auth plugins (websockify's BasicHTTPAuth, ExpectOrigin): pure checks
 * of a parsed request, no I/O. */
#ifndef WSB_AUTH_H
#define WSB_AUTH_H

#include "wsb_config.h"
#include "http.h"

struct auth_result {
	int	    status;	   /* 0 allowed, else the HTTP status */
	const char *reason;	   /* one line, for the body and log */
	const char *extra_headers; /* e.g. WWW-Authenticate */
};

/* Check req against the configured plugin; returns res->status. */
int auth_check(const struct config *cfg, const struct http_request *req,
    struct auth_result *res);

#endif
