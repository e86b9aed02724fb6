/*
 * JWTTokenApi: the token is a JWT (a JWS, or a JWS inside a JWE) whose
 * claims name the target; the source is a key file.  JOSE crypto by
 * cjose, JSON by jansson.  The token's structure is checked here before
 * cjose sees it, since cjose 0.6.2 trusts it: a '=' inside a part trips
 * an assert(), a short HMAC tag or IV is read past its end.  A lookup is
 * CPU only and answers at once, on the worker's thread.  The key file is
 * read into a key by token_jwt_key.c; the claims are checked by
 * token_jwt_claims.c.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "log.h"
#include "token.h"
#include "token_jwt.h"
#include "wsb_limits.h"

#define JWT_MALFORMED "JWT: malformed"
#define JWT_BADSIG "JWT: bad signature"
#define JWT_MISFIT "JWT: alg does not fit the key"

/* A JWS alg (RFC 7518 3.1): the key it takes, the signature's length
 * (0: the RSA modulus's) and, for ECDSA, the curve. */
struct token_jwt_alg {
	const char	  *name;
	enum token_jwt_kty kty;
	size_t		   sig;
	int		   crv;
};

/* A JWE key management alg (RFC 7518 4.1): key type, oct key size (0:
 * the content key's, for dir). */
struct token_jwt_kw {
	const char	  *name;
	enum token_jwt_kty kty;
	size_t		   keylen;
};

/* A JWE content encryption (RFC 7518 5.1): IV, tag and key bytes. */
struct token_jwt_enc {
	const char *name;
	size_t	    iv, tag, cek;
	int	    cbc;
};

/* The plugin: the newest key, swapped whole on SIGHUP.  Keys a reload
 * replaced stay on its older list until exit (a few KiB each), so a
 * lookup under way on a worker never loses its key. */
struct token_jwt_state {
	char			       *path;
	_Atomic(struct token_jwt_key *) key;
};

/* A compact serialization cut at its dots (RFC 7515 7.1, 7516 7.1). */
struct token_jwt_parts {
	const char *p[5];
	size_t	    len[5];
	int	    n;
};

/* clang-format off */
static const struct token_jwt_alg token_jwt_algs[] = {
	{ "HS256", JWT_KEY_OCT, 32, 0 }, { "HS384", JWT_KEY_OCT, 48, 0 },
	{ "HS512", JWT_KEY_OCT, 64, 0 }, { "RS256", JWT_KEY_RSA, 0, 0 },
	{ "RS384", JWT_KEY_RSA, 0, 0 }, { "RS512", JWT_KEY_RSA, 0, 0 },
	{ "PS256", JWT_KEY_RSA, 0, 0 }, { "PS384", JWT_KEY_RSA, 0, 0 },
	{ "PS512", JWT_KEY_RSA, 0, 0 },
	{ "ES256", JWT_KEY_EC, 64, NID_X9_62_prime256v1 },
	{ "ES384", JWT_KEY_EC, 96, NID_secp384r1 },
	{ "ES512", JWT_KEY_EC, 132, NID_secp521r1 },
};
static const struct token_jwt_kw token_jwt_kws[] = {
	{ "RSA-OAEP", JWT_KEY_RSA, 0 }, { "dir", JWT_KEY_OCT, 0 },
	{ "A128KW", JWT_KEY_OCT, 16 }, { "A192KW", JWT_KEY_OCT, 24 },
	{ "A256KW", JWT_KEY_OCT, 32 },
};
static const struct token_jwt_enc token_jwt_encs[] = {
	{ "A128CBC-HS256", 16, 16, 32, 1 }, { "A192CBC-HS384", 16, 24, 48, 1 },
	{ "A256CBC-HS512", 16, 32, 64, 1 }, { "A128GCM", 12, 16, 16, 0 },
	{ "A192GCM", 12, 16, 24, 0 }, { "A256GCM", 12, 16, 32, 0 },
};
/* clang-format on */

#define JWT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* 1 for a base64url character (RFC 4648 5), in any locale. */
int
token_jwt_b64u_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Bytes that n base64url characters (no padding) decode to. */
static size_t
token_jwt_b64len(size_t n)
{
	return n / 4 * 3 + (n % 4 != 0 ? n % 4 - 1 : 0);
}

/* Cut a compact token at its dots; every part must be base64url with
 * no padding and of a length that decodes (RFC 7515 2, 7.1).  Returns
 * the number of parts (3 or 5), or -1. */
static int
token_jwt_split(const char *s, size_t len, struct token_jwt_parts *pt)
{
	size_t i, start = 0;

	pt->n = 0;
	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			if (!token_jwt_b64u_char(s[i]))
				return -1;
			continue;
		}
		if (pt->n == 5 || (i - start) % 4 == 1)
			return -1;
		pt->p[pt->n] = s + start;
		pt->len[pt->n++] = i - start;
		start = i + 1;
	}
	return pt->n == 3 || pt->n == 5 ? pt->n : -1;
}

/* The protected header (part 0) as a JSON object, or NULL with *why.
 * Critical extensions (RFC 7515 4.1.11) and RFC 7797's "b64" are refused:
 * none is understood. */
static json_t *
token_jwt_header(const struct token_jwt_parts *pt, const char **why)
{
	uint8_t *raw;
	size_t	 rawlen;
	json_t	*h = NULL;

	*why = JWT_MALFORMED;
	if (pt->len[0] == 0 ||
	    !cjose_base64url_decode(pt->p[0], pt->len[0], &raw, &rawlen, NULL))
		return NULL;
	h = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES,
	    NULL);
	cjose_get_dealloc()(raw);
	if (h != NULL &&
	    (json_object_get(h, "crit") != NULL ||
		json_object_get(h, "b64") != NULL)) {
		*why = "JWT: critical header not understood";
		json_decref(h);
		return NULL;
	}
	if (h != NULL && !json_is_string(json_object_get(h, "alg"))) {
		json_decref(h);
		return NULL;
	}
	return h;
}

/* The JWS alg of header h, if key can check it and the signature
 * (siglen64 base64url characters) has its length; else NULL with *why. */
static const struct token_jwt_alg *
token_jwt_jws_alg(const struct token_jwt_key *key, json_t *h, size_t siglen64,
    const char **why)
{
	const struct token_jwt_alg *a = NULL;
	const char *alg = json_string_value(json_object_get(h, "alg"));
	size_t	    i;

	for (i = 0; i < JWT_NELEM(token_jwt_algs); i++)
		if (strcmp(alg, token_jwt_algs[i].name) == 0)
			a = &token_jwt_algs[i];
	if (a == NULL)
		*why = strcmp(alg, "none") == 0 ? "JWT: alg none refused" :
						  "JWT: unsupported alg";
	else if (a->kty != key->kty || (a->crv != 0 && a->crv != key->crv)) {
		*why = JWT_MISFIT;
		a = NULL;
	} else if (token_jwt_b64len(siglen64) !=
	    (a->kty == JWT_KEY_RSA ? key->size : a->sig)) {
		*why = JWT_BADSIG;
		a = NULL;
	}
	return a;
}

/* A verified or decrypted payload (len bytes) as a malloc'd
 * NUL-terminated copy in *out, *outlen set.  0, or -1 with *why. */
static int
token_jwt_copy_out(const uint8_t *pl, size_t len, char **out, size_t *outlen,
    const char **why)
{
	if ((*out = malloc(len + 1)) == NULL) {
		*why = "JWT: out of memory";
		return -1;
	}
	memcpy(*out, pl, len);
	(*out)[len] = '\0';
	*outlen = len;
	return 0;
}

/* Verify the compact JWS s (len bytes) with key (RFC 7515 5.2); its
 * payload (malloc'd, NUL-terminated) in *out.  Returns 0, or -1 with
 * *why. */
static int
token_jwt_jws(const struct token_jwt_key *key, const char *s, size_t len,
    char **out, size_t *outlen, const char **why)
{
	struct token_jwt_parts pt;
	cjose_jws_t	      *jws = NULL;
	json_t		      *h;
	uint8_t		      *pl;
	size_t		       pllen;
	int		       rc = -1;

	*why = JWT_MALFORMED;
	if (token_jwt_split(s, len, &pt) != 3 ||
	    (h = token_jwt_header(&pt, why)) == NULL)
		return -1;
	if (token_jwt_jws_alg(key, h, pt.len[2], why) == NULL)
		goto done;
	if ((jws = cjose_jws_import(s, len, NULL)) == NULL) {
		*why = JWT_MALFORMED;
		goto done;
	}
	*why = JWT_BADSIG;
	if (!cjose_jws_verify(jws, key->jwk, NULL) ||
	    !cjose_jws_get_plaintext(jws, &pl, &pllen, NULL))
		goto done;
	rc = token_jwt_copy_out(pl, pllen, out, outlen, why);
done:
	cjose_jws_release(jws);
	json_decref(h);
	return rc;
}

/* 1 if a JWE's parts have the lengths that kw and enc give them with
 * key (RFC 7518 4.3, 4.4, 4.5, 5.2, 5.3): cjose 0.6.2 reads an IV or a
 * tag at its expected length whatever was sent. */
static int
token_jwt_jwe_lengths(const struct token_jwt_key *key,
    const struct token_jwt_kw *kw, const struct token_jwt_enc *enc,
    const struct token_jwt_parts *pt)
{
	size_t ek, ct = token_jwt_b64len(pt->len[3]);

	if (kw->kty == JWT_KEY_RSA)
		ek = key->size;
	else
		ek = kw->keylen != 0 ? enc->cek + 8 : 0; /* A*KW : dir */
	return token_jwt_b64len(pt->len[1]) == ek &&
	    token_jwt_b64len(pt->len[2]) == enc->iv &&
	    token_jwt_b64len(pt->len[4]) == enc->tag && ct > 0 &&
	    (!enc->cbc || ct % 16 == 0);
}

/* Check a JWE's header h and parts against key before cjose reads them.
 * Returns 0, or -1 with *why. */
static int
token_jwt_jwe_check(const struct token_jwt_key *key, json_t *h,
    const struct token_jwt_parts *pt, const char **why)
{
	const struct token_jwt_kw  *kw = NULL;
	const struct token_jwt_enc *enc = NULL;
	const char		   *alg, *encname;
	size_t			    i;

	alg = json_string_value(json_object_get(h, "alg"));
	encname = json_string_value(json_object_get(h, "enc"));
	for (i = 0; i < JWT_NELEM(token_jwt_kws); i++)
		if (strcmp(alg, token_jwt_kws[i].name) == 0)
			kw = &token_jwt_kws[i];
	for (i = 0; encname != NULL && i < JWT_NELEM(token_jwt_encs); i++)
		if (strcmp(encname, token_jwt_encs[i].name) == 0)
			enc = &token_jwt_encs[i];
	if (encname == NULL)
		*why = JWT_MALFORMED;
	else if (json_object_get(h, "zip") != NULL)
		*why = "JWT: compressed JWE not supported";
	else if (kw == NULL || enc == NULL)
		*why = strcmp(alg, "RSA1_5") == 0 ? "JWT: RSA1_5 refused" :
						    "JWT: unsupported JWE alg";
	else if (kw->kty != key->kty ||
	    (kw->kty == JWT_KEY_RSA && !key->priv) ||
	    (kw->kty == JWT_KEY_OCT &&
		key->size != (kw->keylen != 0 ? kw->keylen : enc->cek)))
		*why = JWT_MISFIT;
	else if (!token_jwt_jwe_lengths(key, kw, enc, pt))
		*why = JWT_MALFORMED;
	else
		return 0;
	return -1;
}

/* Decrypt the compact JWE s (RFC 7516 5.2) with key; its plaintext
 * (malloc'd, NUL-terminated) in *out.  Returns 0, or -1 with *why. */
static int
token_jwt_jwe(const struct token_jwt_key *key, const char *s, size_t len,
    const struct token_jwt_parts *pt, char **out, size_t *outlen,
    const char **why)
{
	cjose_jwe_t *jwe = NULL;
	json_t	    *h;
	uint8_t	    *pl = NULL;
	size_t	     pllen = 0;
	int	     rc = -1;

	if ((h = token_jwt_header(pt, why)) == NULL)
		return -1;
	if (token_jwt_jwe_check(key, h, pt, why) == -1)
		goto done;
	*why = "JWT: cannot decrypt";
	if ((jwe = cjose_jwe_import(s, len, NULL)) == NULL ||
	    (pl = cjose_jwe_decrypt(jwe, key->jwk, &pllen, NULL)) == NULL)
		goto done;
	rc = token_jwt_copy_out(pl, pllen, out, outlen, why);
done:
	if (pl != NULL) {
		OPENSSL_cleanse(pl, pllen);
		cjose_get_dealloc()(pl);
	}
	if (jwe != NULL)
		cjose_jwe_release(jwe);
	json_decref(h);
	return rc;
}

/* Check a token: a JWS, or a JWE holding one; then its claims. */
int
token_jwt_check(const struct token_jwt_key *key, const char *token, size_t len,
    double now, char *target, size_t targetlen, const char **why)
{
	struct token_jwt_parts pt;
	char		      *inner = NULL, *claims = NULL;
	size_t		       innerlen = 0, claimslen = 0;
	int		       rc = -1, n;

	*why = JWT_MALFORMED;
	if (len > WSB_MAX_TOKEN)
		*why = "JWT: too long";
	else if ((n = token_jwt_split(token, len, &pt)) == 3)
		rc = token_jwt_jws(key, token, len, &claims, &claimslen, why);
	else if (n == 5 &&
	    token_jwt_jwe(key, token, len, &pt, &inner, &innerlen, why) == 0) {
		/* websockify: jwt.JWT(key=key, jwt=token.claims) */
		if (token_jwt_split(inner, innerlen, &pt) != 3)
			*why = "JWT: encrypted token holds no signed JWT";
		else
			rc = token_jwt_jws(key, inner, innerlen, &claims,
			    &claimslen, why);
		OPENSSL_cleanse(inner, innerlen);
	}
	if (rc == 0)
		rc = token_jwt_claims(claims, claimslen, now, target,
		    targetlen, why);
	free(inner);
	free(claims);
	ERR_clear_error();
	return rc;
}

/* Read the key file at start-up (main thread). */
static void *
token_jwt_create(const char *source, char *err, size_t errlen)
{
	struct token_jwt_state *st;
	struct token_jwt_key   *key;

	json_object_seed(0); /* before any worker parses JSON */
	if ((key = token_jwt_key_load(source, err, errlen)) == NULL)
		return NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->path = strdup(source)) == NULL) {
		free(st);
		token_jwt_key_free(key);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&st->key, key);
	return st;
}

/* SIGHUP: read the key file again; each worker's next lookup takes the
 * new key.  A file that does not load keeps the old key. */
static void
token_jwt_reload(void *state)
{
	struct token_jwt_state *st = state;
	struct token_jwt_key   *key;
	char			err[512];

	if ((key = token_jwt_key_load(st->path, err, sizeof(err))) == NULL) {
		log_warnx("JWTTokenApi: %s; keeping the key loaded before",
		    err);
		return;
	}
	key->older = atomic_load(&st->key);
	atomic_store_explicit(&st->key, key, memory_order_release);
	log_info("JWTTokenApi: key file %s reloaded", st->path);
}

/* Free the plugin at exit, after every worker stopped. */
static void
token_jwt_destroy(void *state)
{
	struct token_jwt_state *st = state;
	struct token_jwt_key   *key, *older;

	if (st == NULL)
		return;
	for (key = atomic_load(&st->key); key != NULL; key = older) {
		older = key->older;
		token_jwt_key_free(key);
	}
	free(st->path);
	free(st);
}

/* Check the token now, on the worker's thread (CPU only): answered
 * before returning, so NULL. */
static struct token_lookup *
token_jwt_lookup(void *state, const char *token, size_t len,
    token_done_fn done, void *arg)
{
	struct token_jwt_state *st = state;
	struct timespec		ts;
	const char	       *why;
	char			target[TOKEN_JWT_TARGET_MAX];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (token_jwt_check(atomic_load_explicit(&st->key,
				memory_order_acquire),
		token, len, (double)ts.tv_sec + ts.tv_nsec / 1e9, target,
		sizeof(target), &why) == 0)
		done(TOKEN_FOUND, target, NULL, arg);
	else
		done(TOKEN_NOT_FOUND, NULL, why, arg);
	return NULL;
}

/* Lookups answer at once: there is never one to stop. */
static void
token_jwt_cancel(struct token_lookup *l)
{
	(void)l;
}

/* Shared by every worker: cjose and OpenSSL only read a key to verify or
 * decrypt with it. */
const struct token_plugin_ops token_jwt_ops = {
	.name = "JWTTokenApi",
	.create = token_jwt_create,
	.reload = token_jwt_reload,
	.destroy = token_jwt_destroy,
	.lookup = token_jwt_lookup,
	.cancel = token_jwt_cancel,
};
