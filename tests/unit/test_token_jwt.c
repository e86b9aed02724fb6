/* Unit tests for JWTTokenApi (src/token_jwt.c): the claims check, key
 * files, and tokens signed and encrypted here with cjose and OpenSSL. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <cjose/cjose.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "token_jwt.h"
#include "wsb_limits.h"
#include "test_helpers.h"

#define NOW 1000.0
#define SECRET "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0zMmJ5dGVz" /* 33 B */
#define HP "\"host\":\"h\",\"port\":5901"

/* want NULL: refused with why. */
struct claims_case {
	const char *desc;
	const char *json;
	const char *want;
	const char *why;
};

static const struct claims_case claims_cases[] = {
	{ "host and numeric port", "{" HP "}", "h:5901", NULL },
	{ "port as a string", "{\"host\":\"h\",\"port\":\"5901\"}", "h:5901",
	    NULL },
	{ "port string with leading zeros", "{\"host\":\"h\",\"port\":\"05\"}",
	    "h:5", NULL },
	{ "port 1", "{\"host\":\"h\",\"port\":1}", "h:1", NULL },
	{ "port 65535", "{\"host\":\"h\",\"port\":65535}", "h:65535", NULL },
	{ "port 0", "{\"host\":\"h\",\"port\":0}", NULL,
	    "JWT: bad port claim" },
	{ "port 65536", "{\"host\":\"h\",\"port\":65536}", NULL,
	    "JWT: bad port claim" },
	{ "port string 65536", "{\"host\":\"h\",\"port\":\"65536\"}", NULL,
	    "JWT: bad port claim" },
	{ "port string 0", "{\"host\":\"h\",\"port\":\"0\"}", NULL,
	    "JWT: bad port claim" },
	{ "negative port", "{\"host\":\"h\",\"port\":-5901}", NULL,
	    "JWT: bad port claim" },
	{ "float port", "{\"host\":\"h\",\"port\":5901.0}", NULL,
	    "JWT: bad port claim" },
	{ "fractional port", "{\"host\":\"h\",\"port\":5901.5}", NULL,
	    "JWT: bad port claim" },
	{ "huge port string",
	    "{\"host\":\"h\",\"port\":\"99999999999999999\"}", NULL,
	    "JWT: bad port claim" },
	{ "port string with a sign", "{\"host\":\"h\",\"port\":\"+5901\"}",
	    NULL, "JWT: bad port claim" },
	{ "port string with a blank", "{\"host\":\"h\",\"port\":\" 5901\"}",
	    NULL, "JWT: bad port claim" },
	{ "empty port string", "{\"host\":\"h\",\"port\":\"\"}", NULL,
	    "JWT: bad port claim" },
	{ "port true", "{\"host\":\"h\",\"port\":true}", NULL,
	    "JWT: bad port claim" },
	{ "port null", "{\"host\":\"h\",\"port\":null}", NULL,
	    "JWT: bad port claim" },
	{ "port missing", "{\"host\":\"h\"}", NULL, "JWT: no port claim" },
	{ "host missing", "{\"port\":5901}", NULL, "JWT: no host claim" },
	{ "host a number", "{\"host\":5,\"port\":5901}", NULL,
	    "JWT: bad host claim" },
	{ "host null", "{\"host\":null,\"port\":5901}", NULL,
	    "JWT: bad host claim" },
	{ "host empty", "{\"host\":\"\",\"port\":5901}", NULL,
	    "JWT: bad host claim" },
	{ "host with a blank", "{\"host\":\"a b\",\"port\":5901}", NULL,
	    "JWT: bad host claim" },
	{ "host with a newline", "{\"host\":\"a\\nb\",\"port\":5901}", NULL,
	    "JWT: bad host claim" },
	{ "host in brackets", "{\"host\":\"[::1]\",\"port\":5901}", NULL,
	    "JWT: bad host claim" },
	{ "host unix_socket", "{\"host\":\"unix_socket\",\"port\":5901}", NULL,
	    "JWT: bad host claim" },
	{ "IPv6 host gets brackets", "{\"host\":\"::1\",\"port\":5901}",
	    "[::1]:5901", NULL },
	{ "DNS name", "{\"host\":\"vnc-1.example.com\",\"port\":\"5902\"}",
	    "vnc-1.example.com:5902", NULL },
	{ "claims an array", "[1,2]", NULL, "JWT: claims are not an object" },
	{ "claims a string", "\"h:5901\"", NULL,
	    "JWT: claims are not an object" },
	{ "claims not JSON", "{\"host\":", NULL, "JWT: claims are not JSON" },
	{ "claims empty", "", NULL, "JWT: claims are not JSON" },
	{ "duplicate host", "{\"host\":\"a\",\"host\":\"b\",\"port\":1}", NULL,
	    "JWT: claims are not JSON" },
	{ "nbf now", "{" HP ",\"nbf\":1000}", "h:5901", NULL },
	{ "nbf past", "{" HP ",\"nbf\":999}", "h:5901", NULL },
	{ "nbf half a second ahead", "{" HP ",\"nbf\":1000.5}", NULL,
	    "JWT: not yet valid" },
	{ "nbf future", "{" HP ",\"nbf\":1001}", NULL, "JWT: not yet valid" },
	{ "exp now", "{" HP ",\"exp\":1000}", "h:5901", NULL },
	{ "exp future", "{" HP ",\"exp\":1001}", "h:5901", NULL },
	{ "exp just past", "{" HP ",\"exp\":999.9}", NULL, "JWT: expired" },
	{ "exp past", "{" HP ",\"exp\":1}", NULL, "JWT: expired" },
	{ "exp before nbf", "{" HP ",\"nbf\":2000,\"exp\":1}", NULL,
	    "JWT: not yet valid" },
	{ "nbf a string", "{" HP ",\"nbf\":\"1\"}", NULL,
	    "JWT: bad nbf claim" },
	{ "nbf null", "{" HP ",\"nbf\":null}", NULL, "JWT: bad nbf claim" },
	{ "exp a string", "{" HP ",\"exp\":\"2000\"}", NULL,
	    "JWT: bad exp claim" },
	{ "exp true", "{" HP ",\"exp\":true}", NULL, "JWT: bad exp claim" },
	{ "iss a number", "{" HP ",\"iss\":5}", NULL, "JWT: bad claim type" },
	{ "sub an object", "{" HP ",\"sub\":{}}", NULL,
	    "JWT: bad claim type" },
	{ "aud an array", "{" HP ",\"aud\":[\"a\"]}", "h:5901", NULL },
	{ "aud a number", "{" HP ",\"aud\":1}", NULL, "JWT: bad claim type" },
	{ "iat digits", "{" HP ",\"iat\":\"123\"}", "h:5901", NULL },
	{ "iat a word", "{" HP ",\"iat\":\"x\"}", NULL,
	    "JWT: bad claim type" },
	{ "registered claims null", "{" HP ",\"iss\":null,\"iat\":null}",
	    "h:5901", NULL },
};

/* Every case of the claims table. */
Test(token_jwt, claims_table)
{
	char	    target[TOKEN_JWT_TARGET_MAX];
	const char *why;
	size_t	    i;
	int	    rc;

	for (i = 0; i < NELEM(claims_cases); i++) {
		const struct claims_case *c = &claims_cases[i];

		why = NULL;
		rc = token_jwt_claims(c->json, strlen(c->json), NOW, target,
		    sizeof(target), &why);
		if (c->want != NULL) {
			cr_expect_eq(rc, 0, "%s: refused (%s)", c->desc, why);
			if (rc == 0)
				cr_expect_str_eq(target, c->want, "%s",
				    c->desc);
		} else {
			cr_expect_eq(rc, -1, "%s: accepted", c->desc);
			if (rc == -1)
				cr_expect_str_eq(why, c->why, "%s", c->desc);
		}
	}
}

/* Hosts at the length limit, and a target buffer one byte short. */
Test(token_jwt, claims_host_length)
{
	char	    json[WSB_JWT_MAX_HOST + 64], host[WSB_JWT_MAX_HOST + 2];
	char	    target[TOKEN_JWT_TARGET_MAX];
	const char *why;

	memset(host, 'a', sizeof(host));
	host[WSB_JWT_MAX_HOST] = '\0';
	snprintf(json, sizeof(json), "{\"host\":\"%s\",\"port\":1}", host);
	cr_assert_eq(token_jwt_claims(json, strlen(json), NOW, target,
			 sizeof(target), &why),
	    0);
	cr_expect_eq(strlen(target), WSB_JWT_MAX_HOST + 2);
	cr_expect_eq(token_jwt_claims(json, strlen(json), NOW, target,
			 WSB_JWT_MAX_HOST + 2, &why),
	    -1);
	host[WSB_JWT_MAX_HOST] = 'a';
	host[WSB_JWT_MAX_HOST + 1] = '\0';
	snprintf(json, sizeof(json), "{\"host\":\"%s\",\"port\":1}", host);
	cr_expect_eq(token_jwt_claims(json, strlen(json), NOW, target,
			 sizeof(target), &why),
	    -1);
	cr_expect_str_eq(why, "JWT: bad host claim");
}

/* A key parsed from text; fails the test if it does not parse. */
static struct token_jwt_key *
test_key(const char *text)
{
	struct token_jwt_key *key;
	char		      err[256] = "";

	key = token_jwt_key_parse(text, strlen(text), err, sizeof(err));
	cr_assert(key != NULL, "key refused: %s", err);
	return key;
}

/* A new key of type (EVP_PKEY_Q_keygen's arguments) as PEM text:
 * private, or only its public half.  Caller frees. */
static char *
test_pem(EVP_PKEY *pk, int priv)
{
	BIO  *bio = BIO_new(BIO_s_mem());
	char *p, *out;
	long  n;

	cr_assert(bio != NULL && pk != NULL);
	cr_assert(priv ?
		PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) :
		PEM_write_bio_PUBKEY(bio, pk));
	n = BIO_get_mem_data(bio, &p);
	out = strndup(p, (size_t)n);
	BIO_free(bio);
	return out;
}

/* A compact JWS of claims, signed by jwk with alg.  Caller frees. */
static char *
test_sign(const cjose_jwk_t *jwk, const char *alg, const char *claims)
{
	cjose_header_t *h = cjose_header_new(NULL);
	cjose_jws_t    *jws;
	const char     *ser = NULL;
	char	       *out;

	cr_assert(cjose_header_set(h, CJOSE_HDR_ALG, alg, NULL));
	jws = cjose_jws_sign(jwk, h, (const uint8_t *)claims, strlen(claims),
	    NULL);
	cr_assert(jws != NULL, "cjose cannot sign with %s", alg);
	cr_assert(cjose_jws_export(jws, &ser, NULL));
	out = strdup(ser);
	cjose_jws_release(jws);
	cjose_header_release(h);
	return out;
}

/* A compact JWE of plain, for jwk with alg and enc.  Caller frees. */
static char *
test_encrypt(const cjose_jwk_t *jwk, const char *alg, const char *enc,
    const char *plain)
{
	cjose_header_t *h = cjose_header_new(NULL);
	cjose_jwe_t    *jwe;
	char	       *out;

	cr_assert(cjose_header_set(h, CJOSE_HDR_ALG, alg, NULL));
	cr_assert(cjose_header_set(h, CJOSE_HDR_ENC, enc, NULL));
	jwe = cjose_jwe_encrypt(jwk, h, (const uint8_t *)plain, strlen(plain),
	    NULL);
	cr_assert(jwe != NULL, "cjose cannot encrypt with %s %s", alg, enc);
	out = cjose_jwe_export(jwe, NULL);
	cr_assert(out != NULL);
	cjose_jwe_release(jwe);
	cjose_header_release(h);
	return out;
}

/* base64url of s, as a malloc'd string. */
static char *
test_b64u(const char *s, size_t len)
{
	char  *out;
	size_t n;

	cr_assert(cjose_base64url_encode((const uint8_t *)s, len, &out, &n,
	    NULL));
	return out;
}

/* Check token with key at NOW: expect target want, or refusal why. */
static void
test_check(const struct token_jwt_key *key, const char *token,
    const char *want, const char *why, const char *desc)
{
	char	    target[TOKEN_JWT_TARGET_MAX] = "";
	const char *got = NULL;
	int	    rc;

	rc = token_jwt_check(key, token, strlen(token), NOW, target,
	    sizeof(target), &got);
	if (want != NULL) {
		cr_expect_eq(rc, 0, "%s: refused (%s)", desc, got);
		cr_expect_str_eq(target, want, "%s", desc);
	} else {
		cr_expect_eq(rc, -1, "%s: accepted (%s)", desc, target);
		if (rc == -1)
			cr_expect_str_eq(got, why, "%s", desc);
	}
}

/* HS256 signed here verifies; a changed signature or payload, a cut
 * signature, alg none and another key are refused. */
Test(token_jwt, hs256)
{
	struct token_jwt_key *key = test_key(" \n" SECRET "\n\n");
	struct token_jwt_key *other = test_key("b3RoZXIta2V5");
	const cjose_jwk_t    *jwk = token_jwt_key_jwk(key);
	char		     *tok, *bad, *hdr, *pl, none[512];
	size_t		      n;

	tok = test_sign(jwk, "HS256", "{" HP "}");
	test_check(key, tok, "h:5901", NULL, "HS256");
	test_check(other, tok, NULL, "JWT: bad signature", "another key");
	n = strlen(tok);
	bad = strdup(tok);
	bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
	test_check(key, bad, NULL, "JWT: bad signature", "signature changed");
	strcpy(bad, tok);
	bad[n - 3] = '\0'; /* 40 of 43 characters: 30 bytes */
	test_check(key, bad, NULL, "JWT: bad signature", "signature cut");
	strcpy(bad, tok);
	*strrchr(bad, '.') = '\0';
	strcat(bad, ".");
	test_check(key, bad, NULL, "JWT: bad signature", "no signature");
	strcpy(bad, tok);
	n = (size_t)(strchr(bad, '.') - bad) + 2; /* a payload character */
	bad[n] = bad[n] == 'A' ? 'B' : 'A';
	test_check(key, bad, NULL, "JWT: bad signature", "payload changed");
	free(tok);
	free(bad);

	tok = test_sign(jwk, "HS512", "{" HP ",\"exp\":999}");
	test_check(key, tok, NULL, "JWT: expired", "HS512, expired");
	free(tok);

	hdr = test_b64u("{\"alg\":\"none\"}", 14);
	pl = test_b64u("{" HP "}", strlen("{" HP "}"));
	snprintf(none, sizeof(none), "%s.%s.", hdr, pl);
	test_check(key, none, NULL, "JWT: alg none refused", "alg none");
	free(hdr);
	hdr = test_b64u("{\"alg\":\"HS256\",\"crit\":[\"x\"],\"x\":1}", 34);
	snprintf(none, sizeof(none), "%s.%s.AAAA", hdr, pl);
	test_check(key, none, NULL, "JWT: critical header not understood",
	    "crit header");
	free(hdr);
	free(pl);
	token_jwt_key_free(key);
	token_jwt_key_free(other);
}

/* Structures cjose 0.6.2 would mis-read never reach it. */
Test(token_jwt, malformed)
{
	static const struct {
		const char *desc, *token, *why;
	} cases[] = {
		{ "empty", "", "JWT: malformed" },
		{ "one part", "abc", "JWT: malformed" },
		{ "two parts", "eyJhbGciOiJIUzI1NiJ9.e30", "JWT: malformed" },
		{ "four parts", "a.b.c.d", "JWT: malformed" },
		{ "six parts", "a.b.c.d.e.f", "JWT: malformed" },
		{ "'=' inside a part (cjose asserts)",
		    "eyJhbGciOiJIUzI1NiJ9.e=30.AAAA", "JWT: malformed" },
		{ "padding", "eyJhbGciOiJIUzI1NiJ9.e30=.AAAA",
		    "JWT: malformed" },
		{ "standard base64", "eyJhbGciOiJIUzI1NiJ9.e3+/.AAAA",
		    "JWT: malformed" },
		{ "a part of 4n+1 characters", "eyJhbGciOiJIUzI1NiJ9.e.AAAA",
		    "JWT: malformed" },
		{ "empty header", ".e30.AAAA", "JWT: malformed" },
		{ "header not JSON", "YWJj.e30.AAAA", "JWT: malformed" },
		{ "header an array", "WzFd.e30.AAAA", "JWT: malformed" },
		{ "no alg", "e30.e30.AAAA", "JWT: malformed" },
		{ "unknown alg", "eyJhbGciOiJYWTEyMyJ9.e30.AAAA",
		    "JWT: unsupported alg" },
		{ "RS256 with a symmetric key",
		    "eyJhbGciOiJSUzI1NiJ9.e30.AAAA",
		    "JWT: alg does not fit the key" },
		{ "JWE with a blank", "a.b.c d.e.f", "JWT: malformed" },
	};
	struct token_jwt_key *key = test_key(SECRET);
	size_t		      i;

	for (i = 0; i < NELEM(cases); i++)
		test_check(key, cases[i].token, NULL, cases[i].why,
		    cases[i].desc);
	token_jwt_key_free(key);
}

/* A token longer than WSB_MAX_TOKEN is refused before any parsing. */
Test(token_jwt, too_long)
{
	struct token_jwt_key *key = test_key(SECRET);
	char		     *tok = malloc(WSB_MAX_TOKEN + 2);
	const char	     *why;
	char		      target[TOKEN_JWT_TARGET_MAX];

	memset(tok, 'A', WSB_MAX_TOKEN + 1);
	tok[WSB_MAX_TOKEN + 1] = '\0';
	cr_expect_eq(token_jwt_check(key, tok, WSB_MAX_TOKEN + 1, NOW, target,
			 sizeof(target), &why),
	    -1);
	cr_expect_str_eq(why, "JWT: too long");
	free(tok);
	token_jwt_key_free(key);
}

/* RSA: RS256 and PS384 with the private or the public key; HS256 made
 * with the public key's PEM as HMAC secret is refused (alg confusion). */
Test(token_jwt, rsa)
{
	EVP_PKEY	     *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", 2048);
	char		     *priv = test_pem(pk, 1), *pub = test_pem(pk, 0);
	struct token_jwt_key *kpriv = test_key(priv), *kpub = test_key(pub);
	const cjose_jwk_t    *jwk = token_jwt_key_jwk(kpriv);
	cjose_jwk_t	     *mac;
	char		     *tok;

	tok = test_sign(jwk, "RS256", "{" HP "}");
	test_check(kpriv, tok, "h:5901", NULL, "RS256, private key");
	test_check(kpub, tok, "h:5901", NULL, "RS256, public key");
	free(tok);
	tok = test_sign(jwk, "PS384", "{\"host\":\"::1\",\"port\":\"1\"}");
	test_check(kpub, tok, "[::1]:1", NULL, "PS384");
	free(tok);
	mac =
	    cjose_jwk_create_oct_spec((const uint8_t *)pub, strlen(pub), NULL);
	tok = test_sign(mac, "HS256", "{" HP "}");
	test_check(kpub, tok, NULL, "JWT: alg does not fit the key",
	    "HS256 keyed with the public PEM");
	free(tok);
	cjose_jwk_release(mac);
	token_jwt_key_free(kpriv);
	token_jwt_key_free(kpub);
	free(priv);
	free(pub);
	EVP_PKEY_free(pk);
}

/* EC: ES256 on P-256 verifies; ES384 claimed on a P-256 key does not. */
Test(token_jwt, ec)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char	 *priv = test_pem(pk, 1), *pub = test_pem(pk, 0);
	struct token_jwt_key *kpriv = test_key(priv), *kpub = test_key(pub);
	char		     *tok, *hdr, *rest, forged[1024];

	tok = test_sign(token_jwt_key_jwk(kpriv), "ES256", "{" HP "}");
	test_check(kpub, tok, "h:5901", NULL, "ES256");
	hdr = test_b64u("{\"alg\":\"ES384\"}", 15);
	rest = strchr(tok, '.');
	snprintf(forged, sizeof(forged), "%s%s", hdr, rest);
	test_check(kpub, forged, NULL, "JWT: alg does not fit the key",
	    "ES384 on P-256");
	free(hdr);
	free(tok);
	token_jwt_key_free(kpriv);
	token_jwt_key_free(kpub);
	free(priv);
	free(pub);
	EVP_PKEY_free(pk);
}

/* JWE RSA-OAEP holding an RS256 JWS routes; one holding bare claims, or
 * sent to a public key, does not. */
Test(token_jwt, jwe_rsa)
{
	EVP_PKEY	     *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", 2048);
	char		     *priv = test_pem(pk, 1), *pub = test_pem(pk, 0);
	struct token_jwt_key *kpriv = test_key(priv), *kpub = test_key(pub);
	const cjose_jwk_t    *jwk = token_jwt_key_jwk(kpriv);
	char		     *jws, *tok;
	size_t		      n;

	jws = test_sign(jwk, "RS256", "{" HP "}");
	tok = test_encrypt(jwk, "RSA-OAEP", "A256GCM", jws);
	test_check(kpriv, tok, "h:5901", NULL, "RSA-OAEP A256GCM");
	test_check(kpub, tok, NULL, "JWT: alg does not fit the key",
	    "JWE to a public key");
	n = strlen(tok);
	tok[n - 3] = tok[n - 3] == 'A' ? 'B' : 'A';
	test_check(kpriv, tok, NULL, "JWT: cannot decrypt", "tag changed");
	free(tok);
	tok = test_encrypt(jwk, "RSA-OAEP", "A128CBC-HS256", jws);
	test_check(kpriv, tok, "h:5901", NULL, "RSA-OAEP A128CBC-HS256");
	free(tok);
	tok = test_encrypt(jwk, "RSA-OAEP", "A256GCM", "{" HP "}");
	test_check(kpriv, tok, NULL,
	    "JWT: encrypted token holds no signed JWT", "JWE of bare claims");
	free(tok);
	tok = test_encrypt(jwk, "RSA1_5", "A256GCM", jws);
	test_check(kpriv, tok, NULL, "JWT: RSA1_5 refused", "RSA1_5");
	free(tok);
	free(jws);
	token_jwt_key_free(kpriv);
	token_jwt_key_free(kpub);
	free(priv);
	free(pub);
	EVP_PKEY_free(pk);
}

/* JWE with a symmetric key: dir and A128KW, HS256 inside. */
Test(token_jwt, jwe_oct)
{
	/* 32 bytes (dir + A128CBC-HS256) and 16 bytes (A128KW). */
	struct token_jwt_key *k32 =
	    test_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
	struct token_jwt_key *k16 = test_key("AAECAwQFBgcICQoLDA0ODw");
	char		     *jws, *tok, *p, *q;

	jws = test_sign(token_jwt_key_jwk(k32), "HS256", "{" HP "}");
	tok =
	    test_encrypt(token_jwt_key_jwk(k32), "dir", "A128CBC-HS256", jws);
	test_check(k32, tok, "h:5901", NULL, "dir A128CBC-HS256");
	test_check(k16, tok, NULL, "JWT: alg does not fit the key",
	    "dir with a key of the wrong size");
	free(tok);
	free(jws);
	jws = test_sign(token_jwt_key_jwk(k16), "HS256", "{" HP "}");
	tok = test_encrypt(token_jwt_key_jwk(k16), "A128KW", "A128GCM", jws);
	test_check(k16, tok, "h:5901", NULL, "A128KW A128GCM");
	/* Part 2, the IV, cut to 3 bytes: cjose would read 12. */
	p = strchr(strchr(tok, '.') + 1, '.') + 1;
	q = strchr(p, '.');
	memmove(p + 4, q, strlen(q) + 1);
	test_check(k16, tok, NULL, "JWT: malformed", "short IV");
	free(tok);
	tok = test_encrypt(token_jwt_key_jwk(k16), "A192KW", "A128GCM", jws);
	test_check(k16, tok, NULL, "JWT: alg does not fit the key",
	    "A192KW with a 16-byte key");
	free(tok);
	free(jws);
	token_jwt_key_free(k32);
	token_jwt_key_free(k16);
}

/* Key files that are refused, each with its one-line reason. */
Test(token_jwt, key_refused)
{
	static const struct {
		const char *desc, *text, *why;
	} cases[] = {
		{ "empty", "", "neither a PEM key" },
		{ "blanks", " \n\t", "neither a PEM key" },
		{ "standard base64", "c2Vj+mV0", "neither a PEM key" },
		{ "4n+1 characters", "abcde", "neither a PEM key" },
		{ "bad PEM",
		    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
		    "cannot read its PEM key" },
	};
	char   err[256];
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		err[0] = '\0';
		cr_expect_null(token_jwt_key_parse(cases[i].text,
				   strlen(cases[i].text), err, sizeof(err)),
		    "%s: accepted", cases[i].desc);
		cr_expect(strstr(err, cases[i].why) != NULL, "%s: %s",
		    cases[i].desc, err);
		cr_expect_null(strchr(err, '\n'), "%s", cases[i].desc);
	}
}

/* Keys of other types or curves, and an encrypted PEM key (refused
 * without asking for a pass phrase). */
Test(token_jwt, key_types)
{
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	char	 *pem, err[256];
	BIO	 *bio;
	long	  n;

	pem = test_pem(ed, 0);
	cr_expect_null(token_jwt_key_parse(pem, strlen(pem), err,
	    sizeof(err)));
	cr_expect(strstr(err, "ED25519 keys are not supported") != NULL, "%s",
	    err);
	free(pem);
	pem = test_pem(k1, 1);
	cr_expect_null(token_jwt_key_parse(pem, strlen(pem), err,
	    sizeof(err)));
	cr_expect(strstr(err, "P-256, P-384 or P-521") != NULL, "%s", err);
	free(pem);
	bio = BIO_new(BIO_s_mem());
	cr_assert(PEM_write_bio_PrivateKey(bio, k1, EVP_aes_128_cbc(),
	    (unsigned char *)"pw", 2, NULL, NULL));
	n = BIO_get_mem_data(bio, &pem);
	cr_expect_null(token_jwt_key_parse(pem, (size_t)n, err, sizeof(err)));
	cr_expect(strstr(err, "cannot read its PEM key") != NULL, "%s", err);
	BIO_free(bio);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(k1);
}

/* token_jwt_key_load: a missing file and a directory name the path. */
Test(token_jwt, key_load)
{
	char		      path[] = "/tmp/test_token_jwt_XXXXXX", err[512];
	struct token_jwt_key *key;
	int		      fd;

	cr_expect_null(token_jwt_key_load("/nonexistent/key", err,
	    sizeof(err)));
	cr_expect_str_eq(err,
	    "key file /nonexistent/key: No such file or directory");
	cr_expect_null(token_jwt_key_load("/tmp", err, sizeof(err)));
	cr_expect_str_eq(err, "key file /tmp: not a regular file");
	fd = mkstemp(path);
	cr_assert(fd != -1);
	cr_assert(write(fd, SECRET "\n", strlen(SECRET) + 1) > 0);
	close(fd);
	key = token_jwt_key_load(path, err, sizeof(err));
	cr_expect(key != NULL, "%s", err);
	token_jwt_key_free(key);
	unlink(path);
}
