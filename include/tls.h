/* TLS contexts: built once, shared by the workers, swapped on reload. */
#ifndef WSB_TLS_H
#define WSB_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "wsb_config.h"

/* Build the contexts the config asks for.  --verify-client trusts
 * --cafile, or without it the system's CAs (OpenSSL's default store,
 * SSL_CERT_FILE and SSL_CERT_DIR when set).  -1 with a one-line err. */
int tls_init(const struct config *cfg, char *err, size_t errlen);
/* Reload certificate, key and CA files (SIGHUP); on failure the old
 * context stays.  -1 with err. */
int  tls_reload(const struct config *cfg, char *err, size_t errlen);
void tls_free(void);

/* Whether wss:// is served (a certificate is loaded). */
int tls_server_enabled(void);
/* A server SSL from the current context, or NULL. */
SSL *tls_server_ssl_new(void);
/* A client SSL for the target host (SNI and host-name check), or NULL. */
SSL *tls_target_ssl_new(const char *host);

/* The peer certificate's subject, RFC 2253 ("CN=alice,O=x"); "" if the
 * peer sent none. */
void tls_peer_subject(SSL *ssl, char *buf, size_t len);
/* The CN of the peer certificate, only if it was verified (the last CN
 * of the subject, as websockify's SSL_CLIENT_S_DN_CN), copied to buf (len
 * bytes).  Returns buf, or NULL: no verified certificate, no CN, a CN with
 * a NUL, or one that does not fit. */
const char *tls_peer_cn(SSL *ssl, char *buf, size_t len);
struct bufferevent;

/* One line for why a TLS bufferevent failed: the verify result, or
 * OpenSSL's error; NULL when OpenSSL recorded nothing (a socket error
 * or a TCP close without close_notify). */
const char *tls_bev_error_text(struct bufferevent *bev, char *buf, size_t len);

#endif
