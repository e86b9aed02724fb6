/*
 * JWTTokenApi's key file: a PEM key (private key, public key or X.509
 * certificate; RSA, or EC on P-256, P-384 or P-521) or the base64url of a
 * symmetric key, read as websockify's jwcrypto reads it and turned into a
 * cjose JWK.  The token checks that use the key are in token_jwt.c.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "token_jwt.h"
#include "wsb_limits.h"

/* A pass phrase is never asked for: an encrypted PEM key is refused. */
static int
token_jwt_nopass_cb(char *pass, size_t size, size_t *len,
    const OSSL_PARAM *params, void *arg)
{
	(void)pass, (void)size, (void)params, (void)arg;
	*len = 0;
	return 0;
}

/* The same for PEM_read_bio_*(), which would prompt on the terminal. */
static int
token_jwt_nopass_pem_cb(char *buf, int size, int rwflag, void *arg)
{
	(void)buf, (void)size, (void)rwflag, (void)arg;
	return 0;
}

/* A PEM private key, public key (SPKI or PKCS#1) or certificate's key,
 * as jwcrypto's import_from_pem reads them; NULL if none. */
static EVP_PKEY *
token_jwt_pem(const void *data, size_t len)
{
	OSSL_DECODER_CTX *dctx;
	EVP_PKEY	 *pkey = NULL;
	X509		 *x509;
	BIO		 *bio;

	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL)
		return NULL;
	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL, 0, NULL,
	    NULL);
	if (dctx != NULL &&
	    OSSL_DECODER_CTX_set_passphrase_cb(dctx, token_jwt_nopass_cb,
		NULL) == 1 &&
	    OSSL_DECODER_from_bio(dctx, bio) != 1)
		pkey = NULL;
	OSSL_DECODER_CTX_free(dctx);
	if (pkey == NULL && BIO_reset(bio) == 1 &&
	    (x509 = PEM_read_bio_X509(bio, NULL, token_jwt_nopass_pem_cb,
		 NULL)) != NULL) {
		pkey = X509_get_pubkey(x509);
		X509_free(x509);
	}
	BIO_free(bio);
	return pkey;
}

/* The big-endian bytes of pkey's BIGNUM parameter name (malloc'd, length
 * in *len), or NULL when pkey has none. */
static uint8_t *
token_jwt_bn(const EVP_PKEY *pkey, const char *name, size_t *len)
{
	BIGNUM	*bn = NULL;
	uint8_t *out;

	*len = 0;
	if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1)
		return NULL;
	*len = (size_t)BN_num_bytes(bn);
	if ((out = malloc(*len > 0 ? *len : 1)) != NULL)
		BN_bn2bin(bn, out);
	BN_clear_free(bn);
	return out;
}

/* An RSA key (public, or private with its CRT values) as a cjose JWK. */
static int
token_jwt_from_rsa(struct token_jwt_key *key, const EVP_PKEY *pkey)
{
	/* In cjose_jwk_rsa_keyspec's order: e n d p q dp dq qi. */
	static const char *const names[8] = { OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_D,
		OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
		OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
		OSSL_PKEY_PARAM_RSA_COEFFICIENT1 };
	cjose_jwk_rsa_keyspec	 spec;
	uint8_t			*v[8];
	size_t			 l[8], i;

	for (i = 0; i < 8; i++)
		v[i] = token_jwt_bn(pkey, names[i], &l[i]);
	spec = (cjose_jwk_rsa_keyspec){ v[0], l[0], v[1], l[1], v[2], l[2],
		v[3], l[3], v[4], l[4], v[5], l[5], v[6], l[6], v[7], l[7] };
	key->kty = JWT_KEY_RSA;
	key->priv = v[2] != NULL;
	key->size = (size_t)EVP_PKEY_get_size(pkey);
	if (v[0] != NULL && v[1] != NULL)
		key->jwk = cjose_jwk_create_RSA_spec(&spec, NULL);
	for (i = 0; i < 8; i++) {
		if (v[i] != NULL)
			OPENSSL_cleanse(v[i], l[i]);
		free(v[i]);
	}
	return key->jwk != NULL ? 0 : -1;
}

/* An EC key on P-256, P-384 or P-521 as a cjose JWK; -2 for another
 * curve. */
static int
token_jwt_from_ec(struct token_jwt_key *key, const EVP_PKEY *pkey)
{
	cjose_jwk_ec_keyspec spec;
	char		     grp[80];

	memset(&spec, 0, sizeof(spec));
	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
		grp, sizeof(grp), NULL) != 1)
		return -2;
	key->kty = JWT_KEY_EC;
	switch ((key->crv = OBJ_txt2nid(grp))) {
	case NID_X9_62_prime256v1:
		key->size = 32;
		break;
	case NID_secp384r1:
		key->size = 48;
		break;
	case NID_secp521r1:
		key->size = 66;
		break;
	default:
		return -2;
	}
	spec.crv = (cjose_jwk_ec_curve)key->crv;
	spec.d = token_jwt_bn(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &spec.dlen);
	spec.x = token_jwt_bn(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &spec.xlen);
	spec.y = token_jwt_bn(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &spec.ylen);
	key->priv = spec.d != NULL;
	key->jwk = cjose_jwk_create_EC_spec(&spec, NULL);
	if (spec.d != NULL)
		OPENSSL_cleanse(spec.d, spec.dlen);
	free(spec.d);
	free(spec.x);
	free(spec.y);
	return key->jwk != NULL ? 0 : -1;
}

/* A symmetric key: the base64url "k" of an oct JWK (RFC 7518 6.4), with
 * blanks around it and '=' padding ignored. */
static int
token_jwt_from_oct(struct token_jwt_key *key, const char *s, size_t len)
{
	uint8_t *raw = NULL;
	size_t	 rawlen = 0, i;

	while (len > 0 && strchr(" \t\r\n\v\f", *s) != NULL && *s != '\0')
		s++, len--;
	while (len > 0 && strchr(" \t\r\n\v\f=", s[len - 1]) != NULL &&
	    s[len - 1] != '\0')
		len--;
	if (len == 0 || len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++)
		if (!token_jwt_b64u_char(s[i]))
			return -1;
	if (!cjose_base64url_decode(s, len, &raw, &rawlen, NULL))
		return -1;
	key->kty = JWT_KEY_OCT;
	key->size = rawlen;
	key->jwk = cjose_jwk_create_oct_spec(raw, rawlen, NULL);
	OPENSSL_cleanse(raw, rawlen);
	cjose_get_dealloc()(raw);
	return key->jwk != NULL ? 0 : -1;
}

/* The key in a key file's bytes: PEM first, then base64url. */
struct token_jwt_key *
token_jwt_key_parse(const void *data, size_t len, char *err, size_t errlen)
{
	struct token_jwt_key *key;
	EVP_PKEY	     *pkey = NULL;
	int		      rc = -1, id;

	if ((key = calloc(1, sizeof(*key))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (memmem(data, len, "-----BEGIN", 10) == NULL) {
		if ((rc = token_jwt_from_oct(key, data, len)) == -1)
			snprintf(err, errlen,
			    "neither a PEM key nor the "
			    "base64url of a symmetric key");
	} else if ((pkey = token_jwt_pem(data, len)) == NULL)
		snprintf(err, errlen,
		    "cannot read its PEM key (encrypted, "
		    "or not a key or certificate)");
	else if ((id = EVP_PKEY_get_base_id(pkey)) == EVP_PKEY_RSA) {
		if ((rc = token_jwt_from_rsa(key, pkey)) == -1)
			snprintf(err, errlen, "cannot use its RSA key");
	} else if (id == EVP_PKEY_EC) {
		if ((rc = token_jwt_from_ec(key, pkey)) == -2)
			snprintf(err, errlen,
			    "EC keys must be on P-256, "
			    "P-384 or P-521");
		else if (rc == -1)
			snprintf(err, errlen, "cannot use its EC key");
	} else
		snprintf(err, errlen,
		    "%s keys are not supported (RSA, EC "
		    "or a symmetric key)",
		    OBJ_nid2sn(id));
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	if (rc != 0) {
		token_jwt_key_free(key);
		return NULL;
	}
	return key;
}

/* Read a key file (main thread) and parse it; the bytes read are wiped
 * (unbuffered, so stdio keeps no copy). */
struct token_jwt_key *
token_jwt_key_load(const char *path, char *err, size_t errlen)
{
	struct token_jwt_key *key = NULL;
	struct stat	      sb;
	char		      buf[WSB_JWT_MAX_KEY_FILE + 1], why[160];
	const char	     *fail = why;
	size_t		      len = 0;
	FILE		     *f;

	if ((f = fopen(path, "re")) == NULL)
		fail = strerror(errno);
	else if (setvbuf(f, NULL, _IONBF, 0),
	    fstat(fileno(f), &sb) == -1 || !S_ISREG(sb.st_mode))
		fail = "not a regular file";
	else if ((len = fread(buf, 1, sizeof(buf), f)) == sizeof(buf))
		snprintf(why, sizeof(why), "larger than %d bytes",
		    WSB_JWT_MAX_KEY_FILE);
	else if (ferror(f))
		fail = strerror(errno);
	else if ((key = token_jwt_key_parse(buf, len, why, sizeof(why))) !=
	    NULL)
		fail = NULL;
	if (fail != NULL)
		snprintf(err, errlen, "key file %s: %s", path, fail);
	OPENSSL_cleanse(buf, len);
	if (f != NULL)
		fclose(f);
	return key;
}

/* Free a key and its cjose JWK. */
void
token_jwt_key_free(struct token_jwt_key *key)
{
	if (key == NULL)
		return;
	cjose_jwk_release(key->jwk);
	free(key);
}

/* The key as cjose holds it. */
const cjose_jwk_t *
token_jwt_key_jwk(const struct token_jwt_key *key)
{
	return key->jwk;
}
