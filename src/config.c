/* Command line, in websockify's words, parsed into struct config. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsb_config.h"
#include "wsb_limits.h"

enum {
	OPT_TRAFFIC = 256,
	OPT_RUN_ONCE,
	OPT_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_HEARTBEAT,
	OPT_UNIX_TARGET,
	OPT_WORKERS,
	OPT_VERSION,
	OPT_CERT,
	OPT_KEY,
	OPT_KEY_PASSWORD,
	OPT_KEY_PASSWORD_FILE,
	OPT_SSL_ONLY,
	OPT_SSL_VERSION,
	OPT_SSL_CIPHERS,
	OPT_VERIFY_CLIENT,
	OPT_CAFILE,
	OPT_SSL_TARGET,
	OPT_SSL_TARGET_INSECURE,
	OPT_SSL_TARGET_CAFILE,
	OPT_WEB,
	OPT_FILE_ONLY,
	OPT_WEB_AUTH,
	OPT_AUTH_PLUGIN,
	OPT_AUTH_SOURCE,
};

/* The default certificate, as websockify: used only if it exists. */
#define CONFIG_DEFAULT_CERT "self.pem"
/* Where the key password may come from instead of the command line. */
#define CONFIG_KEY_PASSWORD_ENV "WSBRIDGE_KEY_PASSWORD"

static const struct option config_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "verbose", no_argument, NULL, 'v' },
	{ "traffic", no_argument, NULL, OPT_TRAFFIC },
	{ "run-once", no_argument, NULL, OPT_RUN_ONCE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
	{ "prefer-ipv6", no_argument, NULL, '6' },
	{ "unix-target", required_argument, NULL, OPT_UNIX_TARGET },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "key-password", required_argument, NULL, OPT_KEY_PASSWORD },
	{ "key-password-file", required_argument, NULL,
	    OPT_KEY_PASSWORD_FILE },
	{ "ssl-only", no_argument, NULL, OPT_SSL_ONLY },
	{ "ssl-version", required_argument, NULL, OPT_SSL_VERSION },
	{ "ssl-ciphers", required_argument, NULL, OPT_SSL_CIPHERS },
	{ "verify-client", no_argument, NULL, OPT_VERIFY_CLIENT },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "ssl-target", no_argument, NULL, OPT_SSL_TARGET },
	{ "ssl-target-insecure", no_argument, NULL,
	    OPT_SSL_TARGET_INSECURE },
	{ "ssl-target-cafile", required_argument, NULL,
	    OPT_SSL_TARGET_CAFILE },
	{ "web", required_argument, NULL, OPT_WEB },
	{ "file-only", no_argument, NULL, OPT_FILE_ONLY },
	{ "web-auth", no_argument, NULL, OPT_WEB_AUTH },
	{ "auth-plugin", required_argument, NULL, OPT_AUTH_PLUGIN },
	{ "auth-source", required_argument, NULL, OPT_AUTH_SOURCE },
	{ NULL, 0, NULL, 0 }
};

static int config_error(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static int config_number(const char *, const char *, int, int, int *, char *,
    size_t);
static int config_port_valid(const char *);
static int config_strdup(char **, const char *, char *, size_t);
static int config_read_password(const char *, char **, char *, size_t);

/* Replace *dst with a copy of src.  0 or CONFIG_ERROR. */
static int
config_strdup(char **dst, const char *src, char *err, size_t errlen)
{
	free(*dst);
	if ((*dst = strdup(src)) == NULL)
		return config_error(err, errlen, "out of memory");
	return 0;
}

/* The first line of a password file. */
static int
config_read_password(const char *path, char **out, char *err, size_t errlen)
{
	char	 line[1024];
	FILE	*f;

	if ((f = fopen(path, "r")) == NULL)
		return config_error(err, errlen, "--key-password-file %s: %s",
		    path, strerror(errno));
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	return config_strdup(out, line, err, errlen);
}

/* Put a message in err; returns CONFIG_ERROR. */
static int
config_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return CONFIG_ERROR;
}

/* Parse a whole decimal number in [min, max] for option opt. */
static int
config_number(const char *opt, const char *s, int min, int max, int *out,
    char *err, size_t errlen)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		return config_error(err, errlen,
		    "%s: '%s' is not a number from %d to %d", opt, s, min,
		    max);
	*out = (int)v;
	return 0;
}

/* A port is a decimal number from 1 to 65535. */
static int
config_port_valid(const char *s)
{
	char	*end;
	long	 v;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	return *end == '\0' && errno == 0 && v >= 1 && v <= 65535;
}

/*
 * Split "host:port", "[v6]:port" or (port_only_ok) a bare "port" into
 * malloc'd strings; *host is NULL for a bare port.  An unbracketed
 * address with several colons splits at the last one, as websockify's
 * rsplit does.  0 or -1 with err set.
 */
int
config_split_hostport(const char *s, char **host, char **port,
    int port_only_ok, char *err, size_t errlen)
{
	const char	*arg = s, *colon, *close;
	size_t		 hlen;

	*host = *port = NULL;
	if (s[0] == '[') {
		if ((close = strchr(s, ']')) == NULL)
			return config_error(err, errlen,
			    "'%s': missing ']' after IPv6 address", s);
		if (close[1] != ':')
			return config_error(err, errlen,
			    "'%s': expected ':port' after ']'", s);
		if (close == s + 1)
			return config_error(err, errlen,
			    "'%s': empty address", s);
		colon = close + 1;
		hlen = (size_t)(close - s - 1);
		s++;
	} else if ((colon = strrchr(s, ':')) == NULL) {
		if (!port_only_ok)
			return config_error(err, errlen,
			    "'%s': expected host:port", s);
		if (!config_port_valid(s))
			return config_error(err, errlen,
			    "'%s': not a port from 1 to 65535", s);
		*port = strdup(s);
		return *port == NULL ? config_error(err, errlen,
		    "out of memory") : 0;
	} else {
		hlen = (size_t)(colon - s);
		if (hlen == 0 && !port_only_ok)
			return config_error(err, errlen,
			    "'%s': missing host before ':'", s);
	}
	if (!config_port_valid(colon + 1))
		return config_error(err, errlen,
		    "'%s': '%s' is not a port from 1 to 65535", arg,
		    colon + 1);
	if (hlen > 0 && (*host = strndup(s, hlen)) == NULL)
		return config_error(err, errlen, "out of memory");
	if ((*port = strdup(colon + 1)) == NULL) {
		free(*host);
		*host = NULL;
		return config_error(err, errlen, "out of memory");
	}
	return 0;
}

/* Parse argv into cfg; see config.h for the return values. */
int
config_parse(int argc, char **argv, struct config *cfg, char *err,
    size_t errlen)
{
	const char	*plugin;
	long		 ncpu;
	int		 ch, npos;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen == 0)
		return CONFIG_ERROR;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->workers = ncpu < 1 ? 1 : ncpu > WSB_MAX_WORKERS ?
	    WSB_MAX_WORKERS : (int)ncpu;
	err[0] = '\0';

	optind = 0;	/* glibc: full re-initialisation, parse again */
	opterr = 0;
	/* Leading ':' reports a missing value as ':'; no '+', so options
	 * may follow the addresses, as websockify's optparse allows. */
	while ((ch = getopt_long(argc, argv, ":hv6", config_options,
	    NULL)) != -1) {
		switch (ch) {
		case 'h':
			return CONFIG_HELP;
		case OPT_VERSION:
			return CONFIG_VERSION;
		case 'v':
			cfg->verbose++;
			break;
		case OPT_TRAFFIC:
			cfg->traffic = 1;
			break;
		case OPT_RUN_ONCE:
			cfg->run_once = 1;
			break;
		case OPT_TIMEOUT:
			if (config_number("--timeout", optarg, 0, INT_MAX,
			    &cfg->timeout, err, errlen) == CONFIG_ERROR)
				goto fail;
			break;
		case OPT_IDLE_TIMEOUT:
			if (config_number("--idle-timeout", optarg, 0, INT_MAX,
			    &cfg->idle_timeout, err, errlen) == CONFIG_ERROR)
				goto fail;
			break;
		case OPT_HEARTBEAT:
			if (config_number("--heartbeat", optarg, 0, 86400,
			    &cfg->heartbeat, err, errlen) == CONFIG_ERROR)
				goto fail;
			break;
		case '6':
			cfg->prefer_ipv6 = 1;
			break;
		case OPT_UNIX_TARGET:
			free(cfg->unix_target);
			if ((cfg->unix_target = strdup(optarg)) == NULL) {
				config_error(err, errlen, "out of memory");
				goto fail;
			}
			break;
		case OPT_WORKERS:
			if (config_number("--workers", optarg, 1,
			    WSB_MAX_WORKERS, &cfg->workers, err, errlen) ==
			    CONFIG_ERROR)
				goto fail;
			break;
		case OPT_CERT:
			cfg->cert_given = 1;
			if (config_strdup(&cfg->cert, optarg, err, errlen))
				goto fail;
			break;
		case OPT_KEY:
			if (config_strdup(&cfg->key, optarg, err, errlen))
				goto fail;
			break;
		case OPT_KEY_PASSWORD:
			if (config_strdup(&cfg->key_password, optarg, err,
			    errlen))
				goto fail;
			break;
		case OPT_KEY_PASSWORD_FILE:
			if (config_read_password(optarg, &cfg->key_password,
			    err, errlen))
				goto fail;
			break;
		case OPT_SSL_ONLY:
			cfg->ssl_only = 1;
			break;
		case OPT_SSL_VERSION:
			if (strcmp(optarg, "default") == 0 ||
			    strcmp(optarg, "tlsv1_2") == 0)
				cfg->ssl_min_version = CONFIG_TLS1_2;
			else if (strcmp(optarg, "tlsv1_1") == 0)
				cfg->ssl_min_version = CONFIG_TLS1_1;
			else if (strcmp(optarg, "tlsv1_3") == 0)
				cfg->ssl_min_version = CONFIG_TLS1_3;
			else {
				config_error(err, errlen, "--ssl-version: "
				    "'%s' is not one of default, tlsv1_1, "
				    "tlsv1_2, tlsv1_3", optarg);
				goto fail;
			}
			break;
		case OPT_SSL_CIPHERS:
			if (config_strdup(&cfg->ssl_ciphers, optarg, err,
			    errlen))
				goto fail;
			break;
		case OPT_VERIFY_CLIENT:
			cfg->verify_client = 1;
			break;
		case OPT_CAFILE:
			if (config_strdup(&cfg->cafile, optarg, err, errlen))
				goto fail;
			break;
		case OPT_SSL_TARGET:
			cfg->ssl_target = 1;
			break;
		case OPT_SSL_TARGET_INSECURE:
			cfg->ssl_target = 1;
			cfg->ssl_target_insecure = 1;
			break;
		case OPT_SSL_TARGET_CAFILE:
			cfg->ssl_target = 1;
			if (config_strdup(&cfg->ssl_target_cafile, optarg,
			    err, errlen))
				goto fail;
			break;
		case OPT_WEB:
			if (config_strdup(&cfg->web, optarg, err, errlen))
				goto fail;
			break;
		case OPT_FILE_ONLY:
			cfg->file_only = 1;
			break;
		case OPT_WEB_AUTH:
			cfg->web_auth = 1;
			break;
		case OPT_AUTH_PLUGIN:
			/* websockify also takes the module path. */
			plugin = strrchr(optarg, '.');
			plugin = plugin != NULL ? plugin + 1 : optarg;
			if (strcmp(plugin, "BasicHTTPAuth") == 0)
				cfg->auth_plugin = CONFIG_AUTH_BASIC;
			else if (strcmp(plugin, "ExpectOrigin") == 0)
				cfg->auth_plugin = CONFIG_AUTH_ORIGIN;
			else {
				config_error(err, errlen, "--auth-plugin: "
				    "'%s' is not supported (BasicHTTPAuth, "
				    "ExpectOrigin)", optarg);
				goto fail;
			}
			break;
		case OPT_AUTH_SOURCE:
			if (config_strdup(&cfg->auth_source, optarg, err,
			    errlen))
				goto fail;
			break;
		case ':':
			config_error(err, errlen, "option '%s' needs a value",
			    argv[optind - 1]);
			goto fail;
		default:
			if (optopt != 0 && optopt < 256 && argv[optind - 1]
			    [1] != '-')
				config_error(err, errlen,
				    "unknown option '-%c'", optopt);
			else
				config_error(err, errlen,
				    "unknown option '%s'", argv[optind - 1]);
			goto fail;
		}
	}

	if (cfg->key_password == NULL &&
	    getenv(CONFIG_KEY_PASSWORD_ENV) != NULL &&
	    config_strdup(&cfg->key_password,
	    getenv(CONFIG_KEY_PASSWORD_ENV), err, errlen))
		goto fail;
	if (cfg->cert == NULL &&
	    config_strdup(&cfg->cert, CONFIG_DEFAULT_CERT, err, errlen))
		goto fail;
	if (cfg->ssl_min_version == 0)
		cfg->ssl_min_version = CONFIG_TLS1_2;
	if (cfg->auth_source != NULL && cfg->auth_plugin == CONFIG_AUTH_NONE) {
		config_error(err, errlen, "--auth-source needs --auth-plugin");
		goto fail;
	}
	if (cfg->auth_plugin != CONFIG_AUTH_NONE && cfg->auth_source == NULL) {
		config_error(err, errlen, "--auth-plugin needs --auth-source");
		goto fail;
	}
	/* auth.c takes at most 1024 base64 characters: 768 bytes. */
	if (cfg->auth_plugin == CONFIG_AUTH_BASIC &&
	    strlen(cfg->auth_source) > 768) {
		config_error(err, errlen, "--auth-source for BasicHTTPAuth "
		    "is longer than 768 bytes");
		goto fail;
	}
	if (cfg->auth_plugin == CONFIG_AUTH_BASIC &&
	    strchr(cfg->auth_source, ':') == NULL) {
		config_error(err, errlen, "--auth-source for BasicHTTPAuth "
		    "must be user:password");
		goto fail;
	}
	if (cfg->web_auth && (cfg->web == NULL ||
	    cfg->auth_plugin == CONFIG_AUTH_NONE)) {
		config_error(err, errlen,
		    "--web-auth needs --web and --auth-plugin");
		goto fail;
	}
	if (cfg->verify_client && cfg->cafile == NULL) {
		config_error(err, errlen, "--verify-client needs --cafile");
		goto fail;
	}

	npos = argc - optind;
	if (npos < 1) {
		config_error(err, errlen, "missing the listen port");
		goto fail;
	}
	if (config_split_hostport(argv[optind], &cfg->listen_host,
	    &cfg->listen_port, 1, err, errlen) == -1)
		goto fail;
	if (cfg->unix_target != NULL) {
		if (npos > 1) {
			config_error(err, errlen, "a target address and "
			    "--unix-target both given");
			goto fail;
		}
	} else {
		if (npos < 2) {
			config_error(err, errlen,
			    "missing the target (target_addr:target_port)");
			goto fail;
		}
		if (npos > 2) {
			config_error(err, errlen,
			    "unexpected argument '%s'", argv[optind + 2]);
			goto fail;
		}
		if (config_split_hostport(argv[optind + 1], &cfg->target_host,
		    &cfg->target_port, 0, err, errlen) == -1)
			goto fail;
	}
	return CONFIG_OK;

fail:
	config_free(cfg);
	return CONFIG_ERROR;
}

/* Release what config_parse allocated. */
void
config_free(struct config *cfg)
{
	free(cfg->listen_host);
	free(cfg->listen_port);
	free(cfg->target_host);
	free(cfg->target_port);
	free(cfg->unix_target);
	free(cfg->cert);
	free(cfg->key);
	if (cfg->key_password != NULL)
		explicit_bzero(cfg->key_password, strlen(cfg->key_password));
	free(cfg->key_password);
	free(cfg->ssl_ciphers);
	free(cfg->cafile);
	free(cfg->ssl_target_cafile);
	free(cfg->web);
	if (cfg->auth_source != NULL)
		explicit_bzero(cfg->auth_source, strlen(cfg->auth_source));
	free(cfg->auth_source);
	cfg->web = cfg->auth_source = NULL;
	cfg->listen_host = cfg->listen_port = NULL;
	cfg->target_host = cfg->target_port = cfg->unix_target = NULL;
	cfg->cert = cfg->key = cfg->key_password = cfg->ssl_ciphers = NULL;
	cfg->cafile = cfg->ssl_target_cafile = NULL;
}

/* The one-line usage, as websockify prints it. */
const char *
config_usage(void)
{
	return "usage: wsbridge [options] [source_addr:]source_port "
	    "target_addr:target_port\n"
	    "       wsbridge [options] --unix-target FILE "
	    "[source_addr:]source_port\n";
}

/* The --help text: every option. */
const char *
config_help(void)
{
	return
	    "wsbridge: a WebSocket-to-TCP bridge, compatible with websockify\n"
	    "\n"
	    "usage: wsbridge [options] [source_addr:]source_port "
	    "target_addr:target_port\n"
	    "\n"
	    "Addresses are host:port or [IPv6]:port; a bare source port "
	    "listens on\nevery local IPv4 and IPv6 address.\n"
	    "\n"
	    "options:\n"
	    "  -h, --help            show this help and exit\n"
	    "      --version         show the version and exit\n"
	    "  -v, --verbose         log debug lines\n"
	    "      --traffic         log a character per frame "
	    "(> to target, < to client)\n"
	    "      --run-once        exit after the first WebSocket "
	    "session ends\n"
	    "      --timeout N       stop accepting N seconds after start\n"
	    "      --idle-timeout N  exit after N seconds with no session\n"
	    "      --heartbeat N     ping clients every N seconds; drop one "
	    "that does\n"
	    "                        not answer within a further N seconds\n"
	    "  -6, --prefer-ipv6     prefer IPv6 addresses for the listen "
	    "host\n"
	    "      --unix-target FILE  connect to a Unix socket instead of "
	    "a TCP target\n"
	    "      --workers N       worker threads (default: number of "
	    "CPUs)\n"
	    "\nTLS (wss:// and ws:// share the port; the first byte tells "
	    "them apart):\n"
	    "      --cert FILE       certificate chain, PEM, may hold the key "
	    "(default:\n"
	    "                        self.pem, used only if it exists)\n"
	    "      --key FILE        private key, PEM, if not in --cert\n"
	    "      --key-password PASS  password of the key (also "
	    "--key-password-file\n"
	    "                        FILE, or WSBRIDGE_KEY_PASSWORD in the "
	    "environment)\n"
	    "      --ssl-only        refuse plain connections (400)\n"
	    "      --ssl-version V   minimum TLS version: default (tlsv1_2), "
	    "tlsv1_1,\n"
	    "                        tlsv1_2, tlsv1_3\n"
	    "      --ssl-ciphers LIST  OpenSSL cipher list for TLS 1.2 and "
	    "older\n"
	    "      --verify-client   require a client certificate signed by "
	    "--cafile\n"
	    "      --cafile FILE     CA certificates for --verify-client\n"
	    "      --ssl-target      connect to the target over TLS, "
	    "verified against the\n"
	    "                        system CAs with SNI and a host-name "
	    "check\n"
	    "      --ssl-target-cafile FILE  CA certificates for the "
	    "target instead\n"
	    "      --ssl-target-insecure  do not verify the target's "
	    "certificate\n"
	    "\nWeb and auth:\n"
	    "      --web DIR         serve files from DIR on the same port "
	    "(GET, HEAD)\n"
	    "      --file-only       no directory listings (404 instead)\n"
	    "      --auth-plugin P   BasicHTTPAuth or ExpectOrigin: guard "
	    "the WebSocket\n"
	    "      --auth-source S   user:password (BasicHTTPAuth) or "
	    "\"origin1 origin2\"\n"
	    "                        (ExpectOrigin)\n"
	    "      --web-auth        the auth plugin guards the files too\n"
	    "\nSIGHUP reloads the certificate, key and CA files; live "
	    "sessions go on.\n";
}
