/*
 * libFuzzer harness for JWTTokenApi (src/token_jwt*.c): any bytes as a
 * token against a symmetric, an RSA and an EC key never crash and answer
 * either a well-formed target or a "JWT: " phrase; claims signed here
 * (HS256 over any header, or HS256 inside a dir JWE) give exactly what
 * token_jwt_claims() gives for them, and only when the header's alg is
 * HS256; any bytes as a key file parse or give one line.
 *
 * Input: byte 0 picks the case (low 3 bits); the rest is a token, claims,
 * "header\npayload" or a key file.
 */
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "token_jwt.h"
#include "wsb_limits.h"
#include "fuzz.h"

#define FUZZ_JWT_NOW 1700000000.0
/* 32 bytes: HS256, and the content key of dir + A128CBC-HS256. */
#define FUZZ_JWT_OCT "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

static struct token_jwt_key *fuzz_jwt_keys[3]; /* oct, RSA, EC */

/* The keys, made once. */
static void
fuzz_jwt_init(void)
{
	EVP_PKEY *pk;
	BIO	 *bio;
	char	 *pem, err[256];
	long	  n;
	int	  i;

	if (fuzz_jwt_keys[0] != NULL)
		return;
	fuzz_jwt_keys[0] = token_jwt_key_parse(FUZZ_JWT_OCT,
	    strlen(FUZZ_JWT_OCT), err, sizeof(err));
	for (i = 0; i < 2; i++) {
		pk = i == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", 1024) :
			      EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		bio = BIO_new(BIO_s_mem());
		PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL);
		n = BIO_get_mem_data(bio, &pem);
		fuzz_jwt_keys[i + 1] =
		    token_jwt_key_parse(pem, (size_t)n, err, sizeof(err));
		BIO_free(bio);
		EVP_PKEY_free(pk);
	}
	for (i = 0; i < 3; i++)
		FUZZ_CHECK(fuzz_jwt_keys[i] != NULL, "test key refused");
}

/* A target is "host:port" or "[host]:port", port 1-65535 in digits. */
static void
fuzz_jwt_target_ok(const char *t)
{
	const char *colon = strrchr(t, ':');
	long	    port;
	char	   *end;

	FUZZ_CHECK(colon != NULL && colon > t, "target without a host");
	port = strtol(colon + 1, &end, 10);
	FUZZ_CHECK(*end == '\0' && end != colon + 1 && port >= 1 &&
		port <= 65535,
	    "target port");
	if (t[0] == '[')
		FUZZ_CHECK(colon[-1] == ']', "IPv6 target not closed");
	else
		FUZZ_CHECK(memchr(t, ':', (size_t)(colon - t)) == NULL,
		    "IPv6 host without brackets");
	for (; *t != '\0'; t++)
		FUZZ_CHECK((unsigned char)*t > ' ' && *t != 0x7f,
		    "blank or control in target");
}

/* Check token (len bytes) with key; the answer's shape.  Returns rc. */
static int
fuzz_jwt_check(const struct token_jwt_key *key, const char *token, size_t len,
    char *target, const char **why)
{
	int rc;

	*why = NULL;
	rc = token_jwt_check(key, token, len, FUZZ_JWT_NOW, target,
	    TOKEN_JWT_TARGET_MAX, why);
	if (rc == 0)
		fuzz_jwt_target_ok(target);
	else
		FUZZ_CHECK(rc == -1 && *why != NULL &&
			strncmp(*why, "JWT: ", 5) == 0,
		    "refusal without a phrase");
	return rc;
}

/* The same answer as token_jwt_claims() on payload. */
static void
fuzz_jwt_same(int rc, const char *target, const char *why,
    const uint8_t *payload, size_t len)
{
	char	    want[TOKEN_JWT_TARGET_MAX];
	const char *wwhy;
	int	    wrc;

	wrc = token_jwt_claims((const char *)payload, len, FUZZ_JWT_NOW, want,
	    sizeof(want), &wwhy);
	FUZZ_CHECK(rc == wrc, "signed claims answer differently");
	if (rc == 0)
		FUZZ_CHECK(strcmp(target, want) == 0, "different target");
	else
		FUZZ_CHECK(strcmp(why, wwhy) == 0, "different refusal");
}

/* b64u(header) "." b64u(payload) "." b64u(HMAC-SHA256), or NULL. */
static char *
fuzz_jwt_hs256(const uint8_t *hdr, size_t hlen, const uint8_t *pl, size_t plen)
{
	unsigned char mac[32];
	unsigned int  maclen = 0;
	char	     *h, *p, *m, *out;
	size_t	      n, hn, pn, mn;

	if (!cjose_base64url_encode(hdr, hlen, &h, &hn, NULL))
		return NULL;
	cjose_base64url_encode(pl, plen, &p, &pn, NULL);
	out = malloc(hn + pn + 64);
	memcpy(out, h, hn);
	out[hn] = '.';
	memcpy(out + hn + 1, p, pn);
	n = hn + 1 + pn;
	HMAC(EVP_sha256(),
	    "\0\1\2\3\4\5\6\7\10\11\12\13\14\15\16\17"
	    "\20\21\22\23\24\25\26\27\30\31\32\33\34\35\36\37",
	    32, (unsigned char *)out, n, mac, &maclen);
	cjose_base64url_encode(mac, maclen, &m, &mn, NULL);
	out[n] = '.';
	memcpy(out + n + 1, m, mn + 1);
	free(h);
	free(p);
	free(m);
	return out;
}

/* Case 2: any header over HS256-signed payload.  Accepted only for a
 * header object whose alg is "HS256", with what the claims give. */
static void
fuzz_jwt_header(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char	       target[TOKEN_JWT_TARGET_MAX], *tok;
	const char    *why;
	json_t	      *h;
	size_t	       hlen = nl != NULL ? (size_t)(nl - data) : size;
	int	       rc, hs256;

	if ((tok = fuzz_jwt_hs256(data, hlen, nl != NULL ? nl + 1 : data,
		 nl != NULL ? size - hlen - 1 : 0)) == NULL)
		return;
	rc = fuzz_jwt_check(fuzz_jwt_keys[0], tok, strlen(tok), target, &why);
	h = json_loadb((const char *)data, hlen, JSON_REJECT_DUPLICATES, NULL);
	hs256 = json_is_object(h) &&
	    json_string_value(json_object_get(h, "alg")) != NULL &&
	    strcmp(json_string_value(json_object_get(h, "alg")), "HS256") ==
		0 &&
	    json_object_get(h, "crit") == NULL &&
	    json_object_get(h, "b64") == NULL;
	FUZZ_CHECK(rc != 0 || hs256, "accepted a header not HS256");
	if (hs256 && strlen(tok) <= WSB_MAX_TOKEN)
		fuzz_jwt_same(rc, target, why, nl != NULL ? nl + 1 : data,
		    nl != NULL ? size - hlen - 1 : 0);
	json_decref(h);
	free(tok);
}

/* Case 1 and 3: claims signed with HS256 (3: inside a dir JWE). */
static void
fuzz_jwt_signed(const uint8_t *data, size_t size, int jwe)
{
	char		target[TOKEN_JWT_TARGET_MAX], *tok, *inner;
	const char     *why;
	cjose_header_t *h;
	cjose_jwe_t    *e;
	int		rc;

	if ((inner = fuzz_jwt_hs256((const uint8_t *)"{\"alg\":\"HS256\"}", 15,
		 data, size)) == NULL)
		return;
	tok = inner;
	if (jwe) {
		h = cjose_header_new(NULL);
		cjose_header_set(h, CJOSE_HDR_ALG, "dir", NULL);
		cjose_header_set(h, CJOSE_HDR_ENC, "A128CBC-HS256", NULL);
		e = cjose_jwe_encrypt(token_jwt_key_jwk(fuzz_jwt_keys[0]), h,
		    (const uint8_t *)inner, strlen(inner), NULL);
		tok = NULL;
		if (e != NULL) {
			tok = cjose_jwe_export(e, NULL);
			cjose_jwe_release(e);
		}
		cjose_header_release(h);
		if (tok == NULL) {
			free(inner);
			return;
		}
	}
	rc = fuzz_jwt_check(fuzz_jwt_keys[0], tok, strlen(tok), target, &why);
	if (strlen(tok) <= WSB_MAX_TOKEN)
		fuzz_jwt_same(rc, target, why, data, size);
	if (tok != inner)
		free(tok);
	free(inner);
}

/* One input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_jwt_key *key;
	char		      target[TOKEN_JWT_TARGET_MAX], err[256], *s;
	const char	     *why;
	int		      i;

	fuzz_jwt_init();
	if (size == 0)
		return 0;
	s = fuzz_strndup(data + 1, size - 1);
	switch (data[0] & 7) {
	case 0:
		for (i = 0; i < 3; i++)
			fuzz_jwt_check(fuzz_jwt_keys[i], s, strlen(s), target,
			    &why);
		break;
	case 1:
	case 3:
		fuzz_jwt_signed(data + 1, size - 1, (data[0] & 7) == 3);
		break;
	case 2:
		fuzz_jwt_header(data + 1, size - 1);
		break;
	case 4:
		err[0] = '\0';
		key =
		    token_jwt_key_parse(data + 1, size - 1, err, sizeof(err));
		FUZZ_CHECK(key != NULL ||
			(err[0] != '\0' && strchr(err, '\n') == NULL),
		    "key refused without one line");
		token_jwt_key_free(key);
		break;
	default:
		fuzz_jwt_check(fuzz_jwt_keys[0], s, strlen(s), target, &why);
		break;
	}
	free(s);
	return 0;
}
