/* Command line (websockify's words) parsed into an immutable config. */
#ifndef WSB_CONFIG_H
#define WSB_CONFIG_H

#include <stddef.h>

struct config {
	char *listen_host; /* NULL: every local address */
	char *listen_port;
	char *target_host; /* NULL with --unix-target */
	char *target_port;
	char *unix_target;	/* --unix-target FILE */
	int   verbose;		/* -v */
	int   traffic;		/* --traffic: a character per frame */
	int   run_once;		/* --run-once */
	int   timeout;		/* --timeout N: stop accepting after N s */
	int   idle_timeout;	/* --idle-timeout N: exit after N s idle */
	int   heartbeat;	/* --heartbeat N: ping every N s */
	int   send_timeout;	/* --send-timeout N: drop a side that takes
				 * no bytes for N s while owed some */
	int   prefer_ipv6;	/* -6 */
	int   workers;		/* --workers N */
	int   reuse_port;	/* --reuse-port: share a port already held */
	int   shutdown_timeout; /* --shutdown-timeout N: seconds SIGTERM
				 * waits for sessions to close */

	/* TLS (websockify's option names). */
	char *cert;		   /* --cert, default self.pem if present */
	int   cert_given;	   /* --cert was on the command line */
	char *key;		   /* --key; NULL: the key is in cert */
	char *key_password;	   /* --key-password, -file, or environment */
	int   ssl_only;		   /* --ssl-only */
	int   ssl_min_version;	   /* --ssl-version: TLS1_x_VERSION */
	char *ssl_ciphers;	   /* --ssl-ciphers */
	int   verify_client;	   /* --verify-client */
	char *cafile;		   /* --cafile; NULL: the system CAs */
	int   ssl_target;	   /* --ssl-target */
	int   ssl_target_insecure; /* --ssl-target-insecure */
	char *ssl_target_cafile;   /* --ssl-target-cafile */

	/* Static files and auth. */
	char *web;	   /* --web DIR */
	int   file_only;   /* --file-only: no directory listings */
	int   web_auth;	   /* --web-auth: auth guards files too */
	int   auth_plugin; /* --auth-plugin: CONFIG_AUTH_* */
	char *auth_source; /* --auth-source */

	/* Token routing (websockify's token plugins, token.h). */
	char *token_plugin;  /* --token-plugin NAME, as given */
	char *token_source;  /* --token-source ARG (may hold a password) */
	char *target_config; /* --target-config: TokenFile's source */
	int   host_token;    /* --host-token: the Host header is the token */

	/* Running as a service (websockify's words, plus --pid-file). */
	char  *log_file;	 /* --log-file FILE: append log lines */
	char  *syslog;		 /* --syslog SERVER: /dev/log or host:port */
	int    legacy_syslog;	 /* --legacy-syslog: <PRI>wsbridge[PID]: */
	int    daemon;		 /* -D/--daemon: detach once listening */
	char  *pid_file;	 /* --pid-file FILE */
	char  *record;		 /* --record FILE: FILE.N per session */
	int    inetd;		 /* --inetd: the listening socket is stdin */
	char  *unix_listen;	 /* --unix-listen FILE */
	int    unix_listen_mode; /* --unix-listen-mode, octal (default 0600) */
	int    wrap_mode;	 /* --wrap-mode: CONFIG_WRAP_* */
	char **wrap_cmd;	 /* after "--": NULL-terminated, points into
				  * main's argv (not owned); NULL: no wrap */
	int    libserver;	 /* --libserver: accepted, ignored */
	int    listen_fds;	 /* the listen address came as sockets
				  * (socket activation's LISTEN_FDS) */

	/* Behind proxies, watched and bounded (issue 10). */
	char *trusted_proxy;	      /* --trusted-proxy CIDR, repeatable: the
				   * CIDRs joined by ' '; NULL: none */
	int   proxy_protocol;	      /* --proxy-protocol: PROXY v1/v2 first */
	int   target_proxy_protocol;  /* --target-proxy-protocol: 0, 1 or 2 */
	char *metrics_host;	      /* --metrics [ADDR:]PORT; NULL: every
				   * address */
	char *metrics_port;	      /* NULL: no metrics listener */
	int   max_connections;	      /* --max-connections N; 0: no limit */
	int   max_connections_per_ip; /* --max-connections-per-ip N; 0: none */
};

/* --wrap-mode: what to do when the wrapped command exits. */
#define CONFIG_WRAP_EXIT 0    /* exit with its status (the default) */
#define CONFIG_WRAP_IGNORE 1  /* keep serving; the target is gone */
#define CONFIG_WRAP_RESPAWN 2 /* start it again */

#define CONFIG_AUTH_NONE 0
#define CONFIG_AUTH_BASIC 1   /* BasicHTTPAuth user:password */
#define CONFIG_AUTH_ORIGIN 2  /* ExpectOrigin "origin1 origin2" */
#define CONFIG_AUTH_CERT_CN 3 /* ClientCertCNAuth "cn1 cn2" */

/* --ssl-version values: the TLS protocol versions' wire numbers, as
 * OpenSSL's TLS1_x_VERSION, so config.c needs no OpenSSL header. */
#define CONFIG_TLS1_1 0x0302
#define CONFIG_TLS1_2 0x0303
#define CONFIG_TLS1_3 0x0304

/* What config_parse() asks the caller to do. */
#define CONFIG_OK 0
#define CONFIG_ERROR -1	 /* message in err; print it, usage, exit 2 */
#define CONFIG_HELP 1	 /* print config_help(), exit 0 */
#define CONFIG_VERSION 2 /* print version, exit 0 */

/*
 * Parse argv (options before, between or after the addresses, as
 * websockify) into cfg, which is overwritten.  Returns one of the values
 * above; err (errlen bytes, always terminated) holds a one-line message
 * with CONFIG_ERROR.  Only with CONFIG_OK does cfg own memory (release it
 * with config_free()); otherwise every pointer in it is NULL.  Not
 * thread-safe: getopt_long's state is global.
 */
int config_parse(int argc, char **argv, struct config *cfg, char *err,
    size_t errlen);
/* Free cfg's strings (secrets wiped first) and NULL them; safe twice. */
void config_free(struct config *cfg);
/* The usage lines, '\n'-terminated; static storage. */
const char *config_usage(void);
/* The --help text, made from the option table on the first call (not
 * thread-safe then); static storage. */
const char *config_help(void);
/* The long name (no "--") of the i'th option of the table, i from 0;
 * NULL past the last.  Static storage.  Lets tests hold --help and the
 * man page to the table. */
const char *config_option_name(size_t i);

#endif
