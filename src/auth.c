/* Auth plugins as websockify names them, checked before the upgrade (and
 * before files with --web-auth).  Pure: no I/O. */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth.h"
#include "wsb_limits.h"

#define AUTH_CHALLENGE "WWW-Authenticate: Basic realm=\"wsbridge\"\r\n"

static int auth_fail(struct auth_result *, int, const char *, const char *);
static int auth_basic(const struct config *, const struct http_request *,
    struct auth_result *);
static int auth_origin(const struct config *, const struct http_request *,
    struct auth_result *);
static int auth_equal(const unsigned char *, size_t, const unsigned char *,
    size_t);

/* Record a refusal. */
static int
auth_fail(struct auth_result *res, int status, const char *reason,
    const char *extra)
{
	res->status = status;
	res->reason = reason;
	res->extra_headers = extra;
	return status;
}

/* Compare in time that depends on neither content nor length: the
 * SHA-256 digests of both sides are compared with CRYPTO_memcmp. */
static int
auth_equal(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen)
{
	unsigned char da[32], db[32];
	unsigned int  n;

	if (EVP_Digest(a, alen, da, &n, EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(b, blen, db, &n, EVP_sha256(), NULL) != 1)
		return 0;
	return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

/* BasicHTTPAuth: "Authorization: Basic base64(user:password)". */
static int
auth_basic(const struct config *cfg, const struct http_request *req,
    struct auth_result *res)
{
	const char   *v, *p, *end;
	unsigned char out[WSB_MAX_BASIC_B64 / 4 * 3];
	size_t	      len, b64len;
	int	      n;

	if ((v = http_header_get(req, "Authorization", &len)) == NULL)
		return auth_fail(res, 401, "authentication required",
		    AUTH_CHALLENGE);
	end = v + len;
	for (p = v; p < end && *p != ' ' && *p != '\t'; p++)
		;
	/* The scheme name is case-insensitive (RFC 9110 11.1). */
	if ((size_t)(p - v) != 5 || strncasecmp(v, "Basic", 5) != 0)
		return auth_fail(res, 403,
		    "unsupported authentication scheme (need Basic)", NULL);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	b64len = (size_t)(end - p);
	if (b64len == 0 || b64len > WSB_MAX_BASIC_B64 ||
	    (n = http_base64_decode(p, b64len, out, sizeof(out))) < 0)
		return auth_fail(res, 400, "malformed Basic credentials",
		    NULL);
	len = (size_t)n;
	if (memchr(out, ':', len) == NULL)
		return auth_fail(res, 400,
		    "malformed Basic credentials (no ':')", NULL);
	if (!auth_equal(out, len, (const unsigned char *)cfg->auth_source,
		strlen(cfg->auth_source)))
		return auth_fail(res, 401, "wrong user name or password",
		    AUTH_CHALLENGE);
	return 0;
}

/* Whether v (len bytes) is a word of list, words split on any byte of
 * seps; icase: ASCII case folded. */
static int
auth_list_has(const char *list, const char *seps, const char *v, size_t len,
    int icase)
{
	const char *p = list;
	size_t	    n;

	while (*p != '\0') {
		p += strspn(p, seps);
		n = strcspn(p, seps);
		if (n == len && len > 0 &&
		    (icase ? strncasecmp(p, v, len) : memcmp(p, v, len)) == 0)
			return 1;
		p += n;
	}
	return 0;
}

/* ExpectOrigin: the Origin header must be one of the listed origins. */
static int
auth_origin(const struct config *cfg, const struct http_request *req,
    struct auth_result *res)
{
	const char *v;
	size_t	    len;

	if ((v = http_header_get(req, "Origin", &len)) == NULL)
		return auth_fail(res, 403, "missing Origin header", NULL);
	if (auth_list_has(cfg->auth_source, " ,", v, len, 1))
		return 0;
	return auth_fail(res, 403, "origin not allowed", NULL);
}

/* ClientCertCNAuth: the verified certificate's CN is in the list. */
static int
auth_cert_cn(const struct config *cfg, const char *cn, struct auth_result *res)
{
	if (cn != NULL &&
	    auth_list_has(cfg->auth_source, " \t\n\r\f\v", cn, strlen(cn), 0))
		return 0;
	return auth_fail(res, 403,
	    cn == NULL ? "no verified client certificate" :
			 "client certificate CN not allowed",
	    NULL);
}

/* Check a request against the configured plugin. */
int
auth_check(const struct config *cfg, const struct http_request *req,
    const char *peer_cn, struct auth_result *res)
{
	memset(res, 0, sizeof(*res));
	switch (cfg->auth_plugin) {
	case CONFIG_AUTH_CERT_CN:
		return auth_cert_cn(cfg, peer_cn, res);
	case CONFIG_AUTH_BASIC:
		return auth_basic(cfg, req, res);
	case CONFIG_AUTH_ORIGIN:
		return auth_origin(cfg, req, res);
	default:
		return 0;
	}
}
