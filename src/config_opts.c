/*
 * The option table: one row per option, from which getopt_long's table,
 * --help and config_free() are made (config.c, config_help.c), and the
 * handlers of the options whose value needs more than a copy.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "forwarded.h"
#include "http.h"
#include "wsb_config.h"
#include "wsb_limits.h"

/* --key-password-file: the first line of the file is the password. */
static int
config_key_password_file(struct config *cfg, const char *path, char *err,
    size_t errlen)
{
	char  line[1024];
	FILE *f;
	int   ret;

	if ((f = fopen(path, "r")) == NULL)
		return config_error(err, errlen, "--key-password-file %s: %s",
		    path, strerror(errno));
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	ret = config_replace(&cfg->key_password, line, 1, err, errlen);
	explicit_bzero(line, sizeof(line));
	return ret;
}

/* --ssl-version: websockify's names for the lowest version accepted. */
static int
config_ssl_version(struct config *cfg, const char *arg, char *err,
    size_t errlen)
{
	if (strcmp(arg, "default") == 0 || strcmp(arg, "tlsv1_2") == 0)
		cfg->ssl_min_version = CONFIG_TLS1_2;
	else if (strcmp(arg, "tlsv1_1") == 0)
		cfg->ssl_min_version = CONFIG_TLS1_1;
	else if (strcmp(arg, "tlsv1_3") == 0)
		cfg->ssl_min_version = CONFIG_TLS1_3;
	else
		return config_error(err, errlen,
		    "--ssl-version: '%s' is not "
		    "one of default, tlsv1_1, tlsv1_2, tlsv1_3",
		    arg);
	return CONFIG_OK;
}

/* --auth-plugin: a plugin name, or websockify's module path to it. */
static int
config_auth_plugin(struct config *cfg, const char *arg, char *err,
    size_t errlen)
{
	const char *plugin;

	plugin = strrchr(arg, '.');
	plugin = plugin != NULL ? plugin + 1 : arg;
	if (strcmp(plugin, "BasicHTTPAuth") == 0)
		cfg->auth_plugin = CONFIG_AUTH_BASIC;
	else if (strcmp(plugin, "ExpectOrigin") == 0)
		cfg->auth_plugin = CONFIG_AUTH_ORIGIN;
	else if (strcmp(plugin, "ClientCertCNAuth") == 0)
		cfg->auth_plugin = CONFIG_AUTH_CERT_CN;
	else
		return config_error(err, errlen,
		    "--auth-plugin: '%s' is not supported (BasicHTTPAuth, "
		    "ExpectOrigin, ClientCertCNAuth)",
		    arg);
	return CONFIG_OK;
}

/* --unix-listen-mode: octal permission bits, as chmod takes them. */
static int
config_unix_listen_mode(struct config *cfg, const char *arg, char *err,
    size_t errlen)
{
	char *end;
	long  v;

	errno = 0;
	v = strtol(arg, &end, 8);
	if (*arg == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 07777)
		return config_error(err, errlen,
		    "--unix-listen-mode: '%s' is not an octal mode (0600)",
		    arg);
	cfg->unix_listen_mode = (int)v;
	return CONFIG_OK;
}

/* --wrap-mode: exit, ignore or respawn, as websockify's. */
static int
config_wrap_mode(struct config *cfg, const char *arg, char *err, size_t errlen)
{
	if (strcmp(arg, "exit") == 0)
		cfg->wrap_mode = CONFIG_WRAP_EXIT;
	else if (strcmp(arg, "ignore") == 0)
		cfg->wrap_mode = CONFIG_WRAP_IGNORE;
	else if (strcmp(arg, "respawn") == 0)
		cfg->wrap_mode = CONFIG_WRAP_RESPAWN;
	else
		return config_error(err, errlen,
		    "--wrap-mode: '%s' is not one of exit, ignore, respawn",
		    arg);
	return CONFIG_OK;
}

/* --trusted-proxy: one CIDR more, appended to the ' '-joined list (each
 * checked when the list is parsed at start-up). */
static int
config_trusted_proxy(struct config *cfg, const char *arg, char *err,
    size_t errlen)
{
	char *list;

	if (*arg == '\0' || strchr(arg, ' ') != NULL)
		return config_error(err, errlen,
		    "--trusted-proxy: '%s' is not one address or CIDR", arg);
	if (asprintf(&list, "%s%s%s",
		cfg->trusted_proxy != NULL ? cfg->trusted_proxy : "",
		cfg->trusted_proxy != NULL ? " " : "", arg) == -1)
		return config_error(err, errlen, "out of memory");
	if (forwarded_check(list, err, errlen) == -1) {
		free(list);
		return CONFIG_ERROR;
	}
	free(cfg->trusted_proxy);
	cfg->trusted_proxy = list;
	return CONFIG_OK;
}

/* --target-proxy-protocol: v1 or v2. */
static int
config_target_proxy_protocol(struct config *cfg, const char *arg, char *err,
    size_t errlen)
{
	if (strcmp(arg, "v1") == 0)
		cfg->target_proxy_protocol = 1;
	else if (strcmp(arg, "v2") == 0)
		cfg->target_proxy_protocol = 2;
	else
		return config_error(err, errlen,
		    "--target-proxy-protocol: '%s' is not v1 or v2", arg);
	return CONFIG_OK;
}

/* --metrics [ADDR:]PORT, as the listen address is written. */
static int
config_metrics(struct config *cfg, const char *arg, char *err, size_t errlen)
{
	free(cfg->metrics_host);
	free(cfg->metrics_port);
	cfg->metrics_host = cfg->metrics_port = NULL;
	if (http_split_authority(arg, &cfg->metrics_host, &cfg->metrics_port,
		1, err, errlen) == -1) {
		/* Name the option: the message is about its value. */
		char why[200];

		snprintf(why, sizeof(why), "%s", err);
		return config_error(err, errlen, "--metrics: %s", why);
	}
	return CONFIG_OK;
}

/* Rows start with name, kind and the field set; the rest as needed. */
#define CONFIG_ROW(n, k, f) .name = (n), .kind = (k), .field = CONFIG_FIELD(f)

/* clang-format off */
const struct config_opt config_opts[] = {
	{ .name = "help", .letter = 'h', .kind = CONFIG_ASK_HELP,
	  .help = "show this help and exit" },
	{ .name = "version", .kind = CONFIG_ASK_VERSION,
	  .help = "show the version and exit" },
	{ CONFIG_ROW("verbose", CONFIG_COUNT, verbose), .letter = 'v',
	  .help = "log debug lines" },
	{ CONFIG_ROW("traffic", CONFIG_FLAG, traffic),
	  .help = "log a character per frame ('}' from the client, '{'\nto "
	  "the client)" },
	{ CONFIG_ROW("run-once", CONFIG_FLAG, run_once),
	  .help = "exit after the first WebSocket session ends" },
	{ CONFIG_ROW("timeout", CONFIG_INT, timeout), .max = INT_MAX,
	  .arg = "N", .help = "stop accepting N seconds after start" },
	{ CONFIG_ROW("idle-timeout", CONFIG_INT, idle_timeout), .max = INT_MAX,
	  .arg = "N", .help = "exit after N seconds with no session" },
	{ CONFIG_ROW("heartbeat", CONFIG_INT, heartbeat), .max = 86400,
	  .arg = "N", .help = "ping clients every N seconds; drop one that "
	  "neither\nanswers nor moves a byte for N seconds" },
	{ CONFIG_ROW("send-timeout", CONFIG_INT, send_timeout), .min = 1,
	  .max = 86400, .arg = "N", .help = "drop a client or target that "
	  "takes no bytes\nfor N seconds while it is owed some (default: "
	  CONFIG_STR(WSB_SEND_TIMEOUT_SEC) ")" },
	{ CONFIG_ROW("prefer-ipv6", CONFIG_FLAG, prefer_ipv6), .letter = '6',
	  .help = "prefer IPv6 addresses for the listen host" },
	{ CONFIG_ROW("unix-target", CONFIG_PATH, unix_target), .arg = "FILE",
	  .help = "connect to a Unix socket instead of a TCP target" },
	{ CONFIG_ROW("workers", CONFIG_INT, workers), .min = 1,
	  .max = WSB_MAX_WORKERS, .arg = "N",
	  .help = "worker threads (default: number of CPUs)" },
	{ CONFIG_ROW("shutdown-timeout", CONFIG_INT, shutdown_timeout),
	  .max = 86400, .arg = "N", .help = "on SIGTERM or SIGINT, give sessions "
	  "N seconds to\nclose after Close 1001 (default: "
	  CONFIG_STR(WSB_SHUTDOWN_TIMEOUT_SEC) ")" },
	{ CONFIG_ROW("reuse-port", CONFIG_FLAG, reuse_port),
	  .help = "listen even if another process holds the port\n"
	  "(SO_REUSEPORT: the kernel splits new connections)" },

	{ CONFIG_ROW("cert", CONFIG_PATH, cert), .arg = "FILE",
	  .implies = CONFIG_FIELD(cert_given),
	  .help = "certificate chain, PEM, may hold the key (default:\n"
	  CONFIG_DEFAULT_CERT ", used only if it exists)",
	  .heading = "TLS (wss:// and ws:// share the port; the first byte "
	  "tells them apart):" },
	{ CONFIG_ROW("key", CONFIG_PATH, key), .arg = "FILE",
	  .help = "private key, PEM, if not in --cert" },
	{ CONFIG_ROW("key-password", CONFIG_STRING, key_password), .secret = 1,
	  .arg = "PASS", .help = "password of the key (or "
	  CONFIG_KEY_PASSWORD_ENV "\nin the environment)" },
	{ CONFIG_ROW("key-password-file", CONFIG_SPECIAL, key_password),
	  .handler = config_key_password_file, .arg = "FILE",
	  .help = "the key's password is the first line of FILE" },
	{ CONFIG_ROW("ssl-only", CONFIG_FLAG, ssl_only),
	  .help = "refuse plain connections (400)" },
	{ CONFIG_ROW("ssl-version", CONFIG_SPECIAL, ssl_min_version),
	  .handler = config_ssl_version, .arg = "V",
	  .help = "minimum TLS version: default (tlsv1_2), tlsv1_1,\n"
	  "tlsv1_2, tlsv1_3" },
	{ CONFIG_ROW("ssl-ciphers", CONFIG_STRING, ssl_ciphers), .arg = "LIST",
	  .help = "OpenSSL cipher list for TLS 1.2 and older" },
	{ CONFIG_ROW("verify-client", CONFIG_FLAG, verify_client),
	  .help = "require a client certificate signed by a CA in\n"
	  "--cafile, or else by one of the system's CAs" },
	{ CONFIG_ROW("cafile", CONFIG_PATH, cafile), .arg = "FILE",
	  .help = "CA certificates for --verify-client" },
	{ CONFIG_ROW("ssl-target", CONFIG_FLAG, ssl_target),
	  .help = "connect to the target over TLS, verified against the\n"
	  "system CAs with SNI and a host-name check" },
	{ CONFIG_ROW("ssl-target-cafile", CONFIG_PATH, ssl_target_cafile),
	  .implies = CONFIG_FIELD(ssl_target), .arg = "FILE",
	  .help = "CA certificates for the target instead" },
	{ CONFIG_ROW("ssl-target-insecure", CONFIG_FLAG, ssl_target_insecure),
	  .implies = CONFIG_FIELD(ssl_target),
	  .help = "do not verify the target's certificate" },

	{ CONFIG_ROW("web", CONFIG_PATH, web), .arg = "DIR",
	  .help = "serve files from DIR on the same port (GET, HEAD)",
	  .heading = "Web and auth:" },
	{ CONFIG_ROW("file-only", CONFIG_FLAG, file_only),
	  .help = "no directory listings (404 instead)" },
	{ CONFIG_ROW("auth-plugin", CONFIG_SPECIAL, auth_plugin),
	  .handler = config_auth_plugin, .arg = "P",
	  .help = "BasicHTTPAuth, ExpectOrigin or ClientCertCNAuth:\n"
	  "guard the WebSocket" },
	{ CONFIG_ROW("auth-source", CONFIG_STRING, auth_source), .secret = 1,
	  .arg = "S", .help = "user:password (BasicHTTPAuth), \"origin1 "
	  "origin2\"\n(ExpectOrigin), \"cn1 cn2\" (ClientCertCNAuth)" },
	{ CONFIG_ROW("web-auth", CONFIG_FLAG, web_auth),
	  .help = "the auth plugin guards the files too" },

	{ CONFIG_ROW("token-plugin", CONFIG_STRING, token_plugin),
	  .arg = "NAME", .help = "choose each session's target by its token "
	  "(no target\nargument then): TokenFile, ReadOnlyTokenFile,\n"
	  "TokenFileName, UnixDomainSocketDirectory, TokenRedis,\n"
	  "BaseTokenAPI, JSONTokenApi, JWTTokenApi",
	  .heading = "Token routing (the token is the `token` query "
	  "parameter):" },
	{ CONFIG_ROW("token-source", CONFIG_STRING, token_source),
	  .secret = 1, .arg = "ARG", .help = "the plugin's file, directory, "
	  "URL with %s, key file,\nor Redis host[:port[:db[:password"
	  "[:namespace]]]]" },
	{ CONFIG_ROW("target-config", CONFIG_PATH, target_config),
	  .arg = "FILE", .help = "the same as --token-plugin TokenFile "
	  "--token-source\nFILE (a file or a directory of files)" },
	{ CONFIG_ROW("host-token", CONFIG_FLAG, host_token),
	  .help = "the token is the Host header without its port" },

	{ CONFIG_ROW("log-file", CONFIG_PATH, log_file), .arg = "FILE",
	  .help = "append log lines to FILE; SIGUSR1 reopens it",
	  .heading = "Running as a service:" },
	{ CONFIG_ROW("syslog", CONFIG_STRING, syslog), .arg = "SERVER",
	  .help = "also log to syslog: a Unix datagram socket\n"
	  "(/dev/log) or UDP host:port, RFC 5424" },
	{ CONFIG_ROW("legacy-syslog", CONFIG_FLAG, legacy_syslog),
	  .help = "send <PRI>wsbridge[PID]: MSG (needs --syslog)" },
	{ CONFIG_ROW("daemon", CONFIG_FLAG, daemon), .letter = 'D',
	  .help = "detach once listening (start-up errors still show)" },
	{ CONFIG_ROW("pid-file", CONFIG_PATH, pid_file), .arg = "FILE",
	  .help = "write the process id to FILE; removed at exit" },
	{ CONFIG_ROW("record", CONFIG_PATH, record), .arg = "FILE",
	  .help = "record each session's traffic to FILE.N (noVNC\n"
	  "playback format)" },
	{ CONFIG_ROW("inetd", CONFIG_FLAG, inetd),
	  .help = "the listening socket is standard input (no source)" },
	{ CONFIG_ROW("unix-listen", CONFIG_PATH, unix_listen), .arg = "FILE",
	  .help = "listen on a Unix socket (no source); an old socket\n"
	  "file is replaced" },
	{ CONFIG_ROW("unix-listen-mode", CONFIG_SPECIAL, unix_listen_mode),
	  .handler = config_unix_listen_mode, .arg = "MODE",
	  .help = "permissions of --unix-listen, octal (default\n0600)" },
	{ CONFIG_ROW("wrap-mode", CONFIG_SPECIAL, wrap_mode),
	  .handler = config_wrap_mode, .arg = "MODE",
	  .help = "when the command after -- exits: exit (default),\n"
	  "ignore or respawn" },
	{ CONFIG_ROW("libserver", CONFIG_FLAG, libserver),
	  .help = "accepted and ignored (a websockify engine choice)" },

	{ CONFIG_ROW("trusted-proxy", CONFIG_SPECIAL, trusted_proxy),
	  .handler = config_trusted_proxy, .arg = "CIDR",
	  .help = "take the client's address from Forwarded,\n"
	  "X-Forwarded-For or X-Real-IP when the peer is in CIDR\n"
	  "(repeatable; IPv4 or IPv6)",
	  .heading = "Behind proxies, watched and bounded:" },
	{ CONFIG_ROW("proxy-protocol", CONFIG_FLAG, proxy_protocol),
	  .help = "every connection starts with a PROXY protocol\n"
	  "header (v1 or v2, as haproxy's send-proxy sends)" },
	{ CONFIG_ROW("target-proxy-protocol", CONFIG_SPECIAL,
	  target_proxy_protocol), .handler = config_target_proxy_protocol,
	  .arg = "V", .help = "send the target a PROXY header with\n"
	  "the client's address: v1 or v2" },
	{ CONFIG_ROW("metrics", CONFIG_SPECIAL, metrics_port),
	  .handler = config_metrics, .arg = "[ADDR:]PORT",
	  .help = "serve /metrics (Prometheus) and /healthz there" },
	{ CONFIG_ROW("max-connections", CONFIG_INT, max_connections),
	  .max = INT_MAX, .arg = "N",
	  .help = "at most N WebSocket sessions at once (then 503)" },
	{ CONFIG_ROW("max-connections-per-ip", CONFIG_INT,
	  max_connections_per_ip), .max = INT_MAX, .arg = "N",
	  .help = "at most N per client address (then 503)" },
};
/* clang-format on */
const size_t config_nopts = NELEM(config_opts);
_Static_assert(NELEM(config_opts) <= CONFIG_MAX_OPTS,
    "raise CONFIG_MAX_OPTS in config_int.h");
