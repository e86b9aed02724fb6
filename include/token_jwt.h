/*
 * JWTTokenApi (websockify's token_plugins.JWTTokenApi): the token is a
 * JWT whose claims name the target; the --token-source is a key file.
 * Everything here is CPU only (no I/O) except token_jwt_key_load().
 *
 * The key file, read as websockify's jwcrypto reads it: first a PEM key
 * (private key, public key or X.509 certificate; RSA, or EC on P-256,
 * P-384 or P-521), else a symmetric key: the base64url "k" of an "oct"
 * JWK (surrounding whitespace and '=' padding ignored).
 *
 * What is accepted (cjose 0.6.2 does the JOSE crypto; RFC 7515, 7516,
 * 7518, 7519):
 * - JWS (compact, 3 parts): RS256/384/512 and PS256/384/512 with an RSA
 *   key, ES256/384/512 with an EC key on the alg's own curve, HS256/384/
 *   512 with a symmetric key.  The signature must have the alg's exact
 *   length.
 * - JWE (compact, 5 parts) holding a compact JWS that the same key
 *   verifies (websockify requires a signed JWT inside): RSA-OAEP with an
 *   RSA private key; dir and A128KW/A192KW/A256KW with a symmetric key
 *   of the right size; encodings A128CBC-HS256, A192CBC-HS384,
 *   A256CBC-HS512, A128GCM, A192GCM, A256GCM.
 * Refused, though websockify (jwcrypto 1.1) accepts them: EdDSA and
 * ES256K (cjose has neither); RSA-OAEP-256, A*GCMKW, PBES2-* (not in
 * cjose 0.6.2); ECDH-ES and ECDH-ES+A*KW (cjose 0.6.2 does not check the
 * sender's point: an invalid-curve attack on the key); the "zip" header;
 * any "crit" header; a JWE inside a JWE; Ed25519/Ed448 key files.
 * Refused as websockify refuses them: "alg": "none", RSA1_5, an alg
 * that does not fit the key (HS256 with an RSA key included).
 *
 * Claims (RFC 7519 4.1, and websockify's checks): "host" a string,
 * "port" an integer 1-65535 or a string of digits; "nbf" and "exp"
 * numbers when present, refused when now < nbf or now > exp (no
 * leeway); "iss", "sub", "jti", "typ" strings and "aud" a string or an
 * array when present, "iat" a number or a string of digits (jwcrypto's
 * type checks).
 */
#ifndef WSB_TOKEN_JWT_H
#define WSB_TOKEN_JWT_H

#include <stddef.h>

#include <cjose/jwk.h>

#include "wsb_limits.h"

/* Room for a target: "[" host "]:" port NUL. */
#define TOKEN_JWT_TARGET_MAX (WSB_JWT_MAX_HOST + 9)

/*
 * What src/token_jwt.c and src/token_jwt_key.c share; other files treat
 * a key as opaque and use the functions below.
 */

/* A key's type, which decides the algs it may take. */
enum token_jwt_kty {
	JWT_KEY_OCT,
	JWT_KEY_RSA,
	JWT_KEY_EC
};

/* A key as read from a key file. */
struct token_jwt_key {
	cjose_jwk_t	  *jwk;
	enum token_jwt_kty kty;
	int		   priv; /* RSA private: may decrypt */
	size_t		   size; /* bytes: RSA modulus, EC coordinate, oct */
	int		   crv;	 /* EC: the curve's NID */
	struct token_jwt_key *older; /* the plugin's: replaced by a reload */
};

/* 1 if c is a base64url character (RFC 4648 5), in any locale; else 0. */
int token_jwt_b64u_char(char c);

/*
 * Parse a key file's contents (len bytes, need not be NUL-terminated):
 * a PEM key or certificate, else a base64url symmetric key.  Returns the
 * key (free with token_jwt_key_free()), or NULL with a one-line reason in
 * err (errlen bytes).  No I/O; never prompts for a pass phrase (an
 * encrypted PEM key is refused).
 */
struct token_jwt_key *token_jwt_key_parse(const void *data, size_t len,
    char *err, size_t errlen);

/*
 * Read the key file at path (at most WSB_JWT_MAX_KEY_FILE bytes) and
 * parse it as token_jwt_key_parse() does.  Blocking file I/O: main thread
 * only.  Returns the key, or NULL with a one-line reason in err naming
 * path.
 */
struct token_jwt_key *token_jwt_key_load(const char *path, char *err,
    size_t errlen);

/* Free key (NULL allowed); its secret bytes are wiped. */
void token_jwt_key_free(struct token_jwt_key *key);

/* key's cjose JWK (owned by key): to sign or encrypt test tokens. */
const cjose_jwk_t *token_jwt_key_jwk(const struct token_jwt_key *key);

/*
 * Check a token (len bytes, no NUL inside; at most WSB_MAX_TOKEN) against
 * key at time now (seconds since the epoch, UTC): verify or decrypt and
 * verify it as described above, then check its claims with
 * token_jwt_claims().  Returns 0 with the target written NUL-terminated
 * into target (targetlen bytes, TOKEN_JWT_TARGET_MAX is enough), or -1
 * with *why a short static phrase ("JWT: bad signature", "JWT: expired",
 * ...) that never holds the token.  Thread-safe with a shared key; clears
 * the calling thread's OpenSSL error queue.
 */
int token_jwt_check(const struct token_jwt_key *key, const char *token,
    size_t len, double now, char *target, size_t targetlen, const char **why);

/*
 * Check a JWT's claims (the JSON payload, len bytes) at time now
 * (seconds since the epoch) and write the target they name: "host:port",
 * or "[host]:port" when host holds ':'.  Returns 0 with the target in
 * target (targetlen bytes), or -1 with *why a short static phrase ("JWT:
 * not yet valid", "JWT: expired", "JWT: no host claim", "JWT: bad port
 * claim", "JWT: claims are not JSON", ...).  Pure (src/token_jwt_claims.c,
 * jansson only).
 */
int token_jwt_claims(const char *json, size_t len, double now, char *target,
    size_t targetlen, const char **why);

#endif
