/*
 * TLS contexts.  One server SSL_CTX per configuration, built at start-up
 * and shared by every worker (never per connection).  SIGHUP builds a new
 * one and swaps it whole: SSL_new() takes a reference, so live sessions
 * keep the context they started with.  The lock guards only the pointer
 * swap and SSL_new() at accept, never the data path.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls.h"

static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX	      *tls_server_ctx; /* guarded by tls_lock */
static SSL_CTX	      *tls_target_ctx; /* immutable after init */
static int	       tls_server_on;

static int	tls_password_cb(char *, int, int, void *);
static SSL_CTX *tls_server_ctx_build(const struct config *, char *, size_t);
static int tls_verify_client_setup(SSL_CTX *, const struct config *, char *,
    size_t);
static SSL_CTX	  *tls_target_ctx_build(const struct config *, char *, size_t);
static const char *tls_last_error(char *, size_t);
static int	   tls_readable(const char *, const char *, char *, size_t);

/* Give OpenSSL the key password; never prompt on a terminal. */
static int
tls_password_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pw = u;
	size_t	    n;

	if (pw == NULL || size <= 0)
		return 0;
	n = strlen(pw);
	if (n > (size_t)size)
		n = (size_t)size;
	memcpy(buf, pw, n);
	return (int)n;
}

/* The oldest error in OpenSSL's queue, as text; the queue is cleared. */
static const char *
tls_last_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();

	if (e == 0)
		snprintf(buf, len, "unknown TLS error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* A file named by option opt must be readable: say why not. */
static int
tls_readable(const char *opt, const char *path, char *err, size_t errlen)
{
	if (access(path, R_OK) == 0)
		return 0;
	snprintf(err, errlen, "%s %s: %s", opt, path, strerror(errno));
	return -1;
}

/*
 * --verify-client: a client must present a certificate from a CA in
 * --cafile or, without --cafile, from one of the system's CAs, as in
 * websockify (Python's ssl.create_default_context loads the default
 * certificates).  Only --cafile's names go in the CertificateRequest:
 * the system store holds over a hundred.  0, or -1 with err.
 */
static int
tls_verify_client_setup(SSL_CTX *ctx, const struct config *cfg, char *err,
    size_t errlen)
{
	STACK_OF(X509_NAME) *cas;
	char		     ebuf[256];

	if (cfg->cafile == NULL) {
		/* Honours SSL_CERT_FILE and SSL_CERT_DIR, as OpenSSL does. */
		if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			snprintf(err, errlen,
			    "--verify-client: no system CA "
			    "certificates: %s",
			    tls_last_error(ebuf, sizeof(ebuf)));
			return -1;
		}
	} else {
		if (SSL_CTX_load_verify_locations(ctx, cfg->cafile, NULL) !=
			1 ||
		    (cas = SSL_load_client_CA_file(cfg->cafile)) == NULL) {
			snprintf(err, errlen, "--cafile %s: %s", cfg->cafile,
			    tls_last_error(ebuf, sizeof(ebuf)));
			return -1;
		}
		SSL_CTX_set_client_CA_list(ctx, cas);
	}
	SSL_CTX_set_verify(ctx,
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

/* A server context from the certificate, key and CA files. */
static SSL_CTX *
tls_server_ctx_build(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX	   *ctx;
	const char *keyfile = cfg->key != NULL ? cfg->key : cfg->cert;
	char	    ebuf[256];

	if (tls_readable("--cert", cfg->cert, err, errlen) == -1 ||
	    (cfg->key != NULL &&
		tls_readable("--key", cfg->key, err, errlen) == -1) ||
	    (cfg->cafile != NULL &&
		tls_readable("--cafile", cfg->cafile, err, errlen) == -1))
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "TLS: %s",
		    tls_last_error(ebuf, sizeof(ebuf)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, cfg->ssl_min_version);
	/* OpenSSL 3 refuses TLS 1.1's SHA-1 signatures above level 0. */
	if (cfg->ssl_min_version < TLS1_2_VERSION)
		SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_options(ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle sessions give their read and write buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(ctx, tls_password_cb);
	SSL_CTX_set_default_passwd_cb_userdata(ctx, cfg->key_password);

	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1) {
		snprintf(err, errlen, "--cert %s: not a PEM certificate: %s",
		    cfg->cert, tls_last_error(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen,
		    "%s %s: cannot load the private key "
		    "(%s): %s",
		    cfg->key != NULL ? "--key" : "--cert", keyfile,
		    cfg->key_password != NULL ?
			"wrong password?" :
			"encrypted without --key-password?",
		    tls_last_error(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen,
		    "%s %s: the key does not match the "
		    "certificate %s",
		    cfg->key != NULL ? "--key" : "--cert", keyfile, cfg->cert);
		ERR_clear_error();
		goto fail;
	}
	if (cfg->ssl_ciphers != NULL &&
	    SSL_CTX_set_cipher_list(ctx, cfg->ssl_ciphers) != 1) {
		snprintf(err, errlen, "--ssl-ciphers: no cipher matches '%s'",
		    cfg->ssl_ciphers);
		ERR_clear_error();
		goto fail;
	}
	if (cfg->verify_client &&
	    tls_verify_client_setup(ctx, cfg, err, errlen) == -1)
		goto fail;
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* A client context for --ssl-target. */
static SSL_CTX *
tls_target_ctx_build(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char	 ebuf[256];

	if (cfg->ssl_target_cafile != NULL &&
	    tls_readable("--ssl-target-cafile", cfg->ssl_target_cafile, err,
		errlen) == -1)
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "TLS: %s",
		    tls_last_error(ebuf, sizeof(ebuf)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (cfg->ssl_target_insecure) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	if (cfg->ssl_target_cafile != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->ssl_target_cafile,
			NULL) != 1) {
			snprintf(err, errlen, "--ssl-target-cafile %s: %s",
			    cfg->ssl_target_cafile,
			    tls_last_error(ebuf, sizeof(ebuf)));
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen,
		    "--ssl-target: no system CA "
		    "certificates: %s",
		    tls_last_error(ebuf, sizeof(ebuf)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* Build the contexts at start-up.  The default certificate (self.pem)
 * is optional, as in websockify: without it only ws:// is served. */
int
tls_init(const struct config *cfg, char *err, size_t errlen)
{
	int want_server;

	want_server = cfg->cert_given || access(cfg->cert, F_OK) == 0;
	if (!want_server) {
		if (cfg->ssl_only) {
			snprintf(err, errlen,
			    "--ssl-only: no certificate "
			    "(%s not found; give --cert)",
			    cfg->cert);
			return -1;
		}
		if (cfg->verify_client || cfg->key != NULL) {
			snprintf(err, errlen,
			    "%s: no certificate (%s not "
			    "found; give --cert)",
			    cfg->verify_client ? "--verify-client" : "--key",
			    cfg->cert);
			return -1;
		}
	} else {
		if ((tls_server_ctx =
			    tls_server_ctx_build(cfg, err, errlen)) == NULL)
			return -1;
		tls_server_on = 1;
	}
	if (cfg->ssl_target &&
	    (tls_target_ctx = tls_target_ctx_build(cfg, err, errlen)) == NULL)
		return -1;
	return 0;
}

/* SIGHUP: a new server context for new connections. */
int
tls_reload(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx, *old;

	if (!tls_server_on)
		return 0;
	if ((ctx = tls_server_ctx_build(cfg, err, errlen)) == NULL)
		return -1;
	pthread_mutex_lock(&tls_lock);
	old = tls_server_ctx;
	tls_server_ctx = ctx;
	pthread_mutex_unlock(&tls_lock);
	SSL_CTX_free(old); /* live sessions hold their own reference */
	return 0;
}

/* Free the contexts at exit. */
void
tls_free(void)
{
	SSL_CTX_free(tls_server_ctx);
	SSL_CTX_free(tls_target_ctx);
	tls_server_ctx = tls_target_ctx = NULL;
	tls_server_on = 0;
}

/* Whether wss:// is served. */
int
tls_server_enabled(void)
{
	return tls_server_on;
}

/* A server SSL from the current context. */
SSL *
tls_server_ssl_new(void)
{
	SSL *ssl;

	pthread_mutex_lock(&tls_lock);
	ssl = tls_server_ctx != NULL ? SSL_new(tls_server_ctx) : NULL;
	pthread_mutex_unlock(&tls_lock);
	return ssl;
}

/* A client SSL for host: SNI for names, and the name or IP checked
 * against the certificate unless --ssl-target-insecure. */
SSL *
tls_target_ssl_new(const char *host)
{
	SSL	     *ssl;
	unsigned char ip[16];
	int	      is_ip;

	if (tls_target_ctx == NULL || (ssl = SSL_new(tls_target_ctx)) == NULL)
		return NULL;
	if (host == NULL)
		return ssl;
	is_ip = inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1;
	if (!is_ip)
		SSL_set_tlsext_host_name(ssl, host);
	if (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) {
		if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
				 host) :
			     SSL_set1_host(ssl, host)) != 1) {
			SSL_free(ssl);
			return NULL;
		}
	}
	return ssl;
}

/* The verified peer's subject, for the log and for auth. */
void
tls_peer_subject(SSL *ssl, char *buf, size_t len)
{
	X509 *cert;
	BIO  *bio;
	int   n;

	buf[0] = '\0';
	if (ssl == NULL || (cert = SSL_get1_peer_certificate(ssl)) == NULL)
		return;
	if ((bio = BIO_new(BIO_s_mem())) != NULL) {
		X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
		    XN_FLAG_RFC2253);
		n = BIO_read(bio, buf, (int)len - 1);
		buf[n > 0 ? n : 0] = '\0';
		BIO_free(bio);
	}
	X509_free(cert);
}

/* The verified peer certificate's last CN, as websockify's
 * SSL_CLIENT_S_DN_CN. */
const char *
tls_peer_cn(SSL *ssl, char *buf, size_t len)
{
	X509	      *cert;
	X509_NAME     *name;
	unsigned char *utf8 = NULL;
	const char    *ret = NULL;
	int	       i, n = -1, last = -1;

	if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
	    (cert = SSL_get1_peer_certificate(ssl)) == NULL)
		return NULL;
	name = X509_get_subject_name(cert);
	while ((i = X509_NAME_get_index_by_NID(name, NID_commonName, last)) >=
	    0)
		last = i;
	if (last >= 0)
		n = ASN1_STRING_to_UTF8(&utf8,
		    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last)));
	if (n > 0 && (size_t)n < len &&
	    memchr(utf8, '\0', (size_t)n) == NULL) {
		memcpy(buf, utf8, (size_t)n);
		buf[n] = '\0';
		ret = buf;
	}
	OPENSSL_free(utf8);
	X509_free(cert);
	return ret;
}

/*
 * Why a TLS bufferevent failed, in one line.  libevent queues the
 * SSL_get_error() code (SSL_ERROR_SSL, SSL_ERROR_SYSCALL) beside
 * OpenSSL's own errors; only entries naming a library are real.
 */
const char *
tls_bev_error_text(struct bufferevent *bev, char *buf, size_t len)
{
	SSL	     *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e, found = 0;
	long	      v;

	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (found == 0 && ERR_GET_LIB(e) != 0)
			found = e;
	if (ssl != NULL && (v = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(buf, len, "certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
		return buf;
	}
	if (found != 0) {
		ERR_error_string_n(found, buf, len);
		return buf;
	}
	return NULL;
}
