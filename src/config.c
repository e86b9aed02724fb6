/*
 * Command line, in websockify's words, parsed into struct config.  Every
 * option is one row of config_opts: getopt_long's table, --help and
 * config_free() are all made from it, so they cannot disagree.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"
#include "http.h"
#include "wsb_config.h"
#include "wsb_limits.h"

/* The default certificate, as websockify: used only if it exists. */
#define CONFIG_DEFAULT_CERT "self.pem"
/* Where the key password may come from instead of the command line. */
#define CONFIG_KEY_PASSWORD_ENV "WSBRIDGE_KEY_PASSWORD"
/* getopt_long value of a row without a short letter: base + its index. */
#define CONFIG_LONG_BASE 256

/* Offset 0 means "implies nothing": it must not be an int flag. */
_Static_assert(offsetof(struct config, listen_host) == 0,
    "struct config must start with listen_host");

/* Put a message in err; returns CONFIG_ERROR. */
int
config_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return CONFIG_ERROR;
}

/* Replace *dst with a copy of src, wiping a secret old value first. */
static int
config_replace(char **dst, const char *src, int secret, char *err,
    size_t errlen)
{
	if (*dst != NULL && secret)
		explicit_bzero(*dst, strlen(*dst));
	free(*dst);
	if ((*dst = strdup(src)) == NULL)
		return config_error(err, errlen, "out of memory");
	return CONFIG_OK;
}

/* Parse a whole decimal number in [min, max] for option opt. */
static int
config_number(const char *opt, const char *s, int min, int max, int *out,
    char *err, size_t errlen)
{
	char *end;
	long  v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		return config_error(err, errlen,
		    "%s: '%s' is not a number from %d to %d", opt, s, min,
		    max);
	*out = (int)v;
	return CONFIG_OK;
}

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
};
/* clang-format on */
const size_t config_nopts = NELEM(config_opts);

/* The field of cfg at offset off (a row's field or implies). */
static void *
config_field(struct config *cfg, size_t off)
{
	return (char *)cfg + off;
}

/* The row getopt_long's value ch stands for (a row's letter, or
 * CONFIG_LONG_BASE plus its index), or NULL. */
static const struct config_opt *
config_opt_find(int ch)
{
	size_t i;

	if (ch >= CONFIG_LONG_BASE)
		return (size_t)(ch - CONFIG_LONG_BASE) < NELEM(config_opts) ?
		    &config_opts[ch - CONFIG_LONG_BASE] :
		    NULL;
	for (i = 0; i < NELEM(config_opts); i++)
		if (ch != 0 && config_opts[i].letter == ch)
			return &config_opts[i];
	return NULL;
}

/* getopt_long's long table and short string, made from config_opts.
 * Leading ':' reports a missing value as ':'; no '+', so options may
 * follow the addresses, as websockify's optparse allows. */
static void
config_getopt_tables(struct option *lo, char *shorts)
{
	const struct config_opt *o;
	size_t			 i, n = 0;

	shorts[n++] = ':';
	for (i = 0; i < NELEM(config_opts); i++) {
		o = &config_opts[i];
		lo[i].name = o->name;
		lo[i].has_arg = o->arg != NULL ? required_argument :
						 no_argument;
		lo[i].flag = NULL;
		lo[i].val = o->letter != 0 ? o->letter :
					     CONFIG_LONG_BASE + (int)i;
		if (o->letter != 0) {
			shorts[n++] = (char)o->letter;
			if (o->arg != NULL)
				shorts[n++] = ':';
		}
	}
	memset(&lo[i], 0, sizeof(lo[i]));
	shorts[n] = '\0';
}

/* Apply one option and its value (NULL for none) to cfg. */
static int
config_apply(struct config *cfg, const struct config_opt *o, const char *arg,
    char *err, size_t errlen)
{
	char name[64];

	snprintf(name, sizeof(name), "--%s", o->name);
	if (o->implies != 0)
		*(int *)config_field(cfg, o->implies) = 1;
	switch (o->kind) {
	case CONFIG_FLAG:
		*(int *)config_field(cfg, o->field) = 1;
		return CONFIG_OK;
	case CONFIG_COUNT:
		(*(int *)config_field(cfg, o->field))++;
		return CONFIG_OK;
	case CONFIG_INT:
		return config_number(name, arg, o->min, o->max,
		    config_field(cfg, o->field), err, errlen);
	case CONFIG_PATH:
		if (*arg == '\0')
			return config_error(err, errlen, "%s: empty path",
			    name);
		/* FALLTHROUGH */
	case CONFIG_STRING:
		return config_replace(config_field(cfg, o->field), arg,
		    o->secret, err, errlen);
	case CONFIG_SPECIAL:
		return o->handler(cfg, arg, err, errlen);
	case CONFIG_ASK_HELP:
		return CONFIG_HELP;
	case CONFIG_ASK_VERSION:
		return CONFIG_VERSION;
	}
	return config_error(err, errlen, "%s: bad option table", name);
}

/* What getopt_long's ':' or '?' was about, in err. */
static int
config_getopt_error(int ch, char **argv, char *err, size_t errlen)
{
	const struct config_opt *o = config_opt_find(optopt);

	/* Only rows with a value can miss one.  '?' for a known option:
	 * a long one given a value (a short one cannot be). */
	if (ch == ':' && o != NULL)
		return config_error(err, errlen, "option '--%s' needs a value",
		    o->name);
	if (o != NULL)
		return config_error(err, errlen,
		    "option '--%s' takes no value", o->name);
	if (optopt != 0)
		return config_error(err, errlen, "unknown option '-%c'",
		    optopt);
	/* An unknown long option always consumes its argv element. */
	return config_error(err, errlen, "unknown option '%s'",
	    argv[optind - 1]);
}

/* The defaults that are not zero, before the options. */
static void
config_defaults(struct config *cfg)
{
	long ncpu;

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->workers = ncpu < 1	   ? 1 :
	    ncpu > WSB_MAX_WORKERS ? WSB_MAX_WORKERS :
				     (int)ncpu;
	cfg->send_timeout = WSB_SEND_TIMEOUT_SEC;
	cfg->shutdown_timeout = WSB_SHUTDOWN_TIMEOUT_SEC;
	cfg->ssl_min_version = CONFIG_TLS1_2;
	cfg->unix_listen_mode = 0600;
}

/* After the options: what comes from elsewhere when they did not say. */
static int
config_finish(struct config *cfg, char *err, size_t errlen)
{
	const char *env;

	if (cfg->key_password == NULL &&
	    (env = getenv(CONFIG_KEY_PASSWORD_ENV)) != NULL &&
	    config_replace(&cfg->key_password, env, 1, err, errlen))
		return CONFIG_ERROR;
	if (cfg->cert == NULL &&
	    config_replace(&cfg->cert, CONFIG_DEFAULT_CERT, 0, err, errlen))
		return CONFIG_ERROR;
	/* websockify: --target-config is TokenFile, whatever else was said. */
	if (cfg->target_config != NULL &&
	    (config_replace(&cfg->token_plugin, "TokenFile", 0, err, errlen) ||
		config_replace(&cfg->token_source, cfg->target_config, 1, err,
		    errlen)))
		return CONFIG_ERROR;
	return CONFIG_OK;
}

/* Parse argv into cfg; see wsb_config.h for the return values. */
int
config_parse(int argc, char **argv, struct config *cfg, char *err,
    size_t errlen)
{
	struct option lo[NELEM(config_opts) + 1];
	char	      shorts[2 + 2 * NELEM(config_opts)];
	int	      ch, ret, nopt;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen == 0)
		return CONFIG_ERROR;
	err[0] = '\0';
	config_defaults(cfg);
	config_getopt_tables(lo, shorts);

	/* Options end at a "--" that is not an option's value: what follows
	 * is the command to wrap, never parsed as options. */
	nopt = config_wrap_split(argc, argv);
	optind = 0; /* glibc: full re-initialisation, parse again */
	opterr = 0;
	while ((ch = getopt_long(nopt, argv, shorts, lo, NULL)) != -1) {
		if (ch == ':' || ch == '?') {
			ret = config_getopt_error(ch, argv, err, errlen);
			goto done;
		}
		ret = config_apply(cfg, config_opt_find(ch), optarg, err,
		    errlen);
		if (ret != CONFIG_OK)
			goto done; /* an error, or --help, --version */
	}
	if (nopt < argc) {
		/* Close the gap of "--": the addresses before it and the
		 * command after it become one list, as websockify's. */
		memmove(argv + optind + 1, argv + optind,
		    (size_t)(nopt - optind) * sizeof(*argv));
		optind++;
		cfg->wrap_cmd = argv + argc; /* set by config_positionals */
	}
	if ((ret = config_finish(cfg, err, errlen)) != CONFIG_OK ||
	    (ret = config_check(cfg, err, errlen)) != CONFIG_OK ||
	    (ret = config_positionals(cfg, argc - optind, argv + optind, err,
		 errlen)) != CONFIG_OK)
		goto done;
	return CONFIG_OK;

done:
	config_free(cfg);
	return ret;
}

/* Release what config_parse allocated; every pointer left NULL. */
void
config_free(struct config *cfg)
{
	const struct config_opt *o;
	char		       **p;
	size_t			 i;

	for (i = 0; i < NELEM(config_opts); i++) {
		o = &config_opts[i];
		if (o->kind != CONFIG_STRING && o->kind != CONFIG_PATH)
			continue;
		p = config_field(cfg, o->field);
		if (*p != NULL && o->secret)
			explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
	free(cfg->listen_host);
	free(cfg->listen_port);
	free(cfg->target_host);
	free(cfg->target_port);
	cfg->listen_host = cfg->listen_port = NULL;
	cfg->target_host = cfg->target_port = NULL;
	cfg->wrap_cmd = NULL;
}
