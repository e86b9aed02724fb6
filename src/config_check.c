/*
 * The command line's cross-checks and its addresses: which options need
 * or exclude each other, which addresses the options leave room for,
 * and the command to wrap after "--".  Pure: no I/O but getenv.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"
#include "http.h"
#include "wsb_config.h"
#include "wsb_limits.h"

/* The row named name (long, without "--"; namelen bytes), or NULL. */
static const struct config_opt *
config_row_named(const char *name, size_t namelen)
{
	size_t i;

	for (i = 0; i < config_nopts; i++)
		if (strlen(config_opts[i].name) == namelen &&
		    memcmp(config_opts[i].name, name, namelen) == 0)
			return &config_opts[i];
	return NULL;
}

/* The row with the short letter c, or NULL. */
static const struct config_opt *
config_row_letter(int c)
{
	size_t i;

	for (i = 0; i < config_nopts; i++)
		if (config_opts[i].letter == c)
			return &config_opts[i];
	return NULL;
}

/* Whether argv element a is an option whose value is the next element
 * ("--name VALUE", "-xV" no, "-x VALUE" yes). */
static int
config_takes_next(const char *a)
{
	const struct config_opt *o;
	size_t			 i;

	if (a[0] != '-' || a[1] == '\0')
		return 0;
	if (a[1] == '-') {
		if (strchr(a, '=') != NULL)
			return 0;
		o = config_row_named(a + 2, strlen(a + 2));
		return o != NULL && o->arg != NULL;
	}
	for (i = 1; a[i] != '\0'; i++) {
		if ((o = config_row_letter((unsigned char)a[i])) == NULL)
			return 0;
		if (o->arg != NULL)
			return a[i + 1] == '\0';
	}
	return 0;
}

/* The first "--" that is not an option's value; see config_int.h. */
int
config_wrap_split(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return i;
		if (config_takes_next(argv[i]))
			i++;
	}
	return argc;
}

/* Socket activation (sd_listen_fds(3)'s rule): LISTEN_FDS of at least
 * one socket, passed to this very process (LISTEN_PID). */
static int
config_listen_fds_env(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	return pid != NULL && fds != NULL && atol(pid) == (long)getpid() &&
	    atoi(fds) >= 1;
}

/* The service options' rules (websockify's, and wrap mode's). */
static int
config_check_service(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->legacy_syslog && cfg->syslog == NULL)
		return config_error(err, errlen,
		    "--legacy-syslog needs --syslog");
	if (cfg->inetd && cfg->unix_listen != NULL)
		return config_error(err, errlen,
		    "--inetd and --unix-listen both given");
	if (cfg->wrap_cmd == NULL)
		return CONFIG_OK;
	if (cfg->unix_target != NULL || cfg->token_plugin != NULL)
		return config_error(err, errlen,
		    "a command to wrap and %s both given",
		    cfg->unix_target != NULL ? "--unix-target" :
					       "a token plugin");
	if (cfg->inetd || cfg->unix_listen != NULL)
		return config_error(err, errlen,
		    "a command to wrap needs a source port, not %s",
		    cfg->inetd ? "--inetd" : "--unix-listen");
	return CONFIG_OK;
}

/* Options that need or exclude each other; see config_int.h. */
int
config_check(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->auth_source != NULL && cfg->auth_plugin == CONFIG_AUTH_NONE)
		return config_error(err, errlen,
		    "--auth-source needs --auth-plugin");
	if (cfg->auth_plugin != CONFIG_AUTH_NONE && cfg->auth_source == NULL)
		return config_error(err, errlen,
		    "--auth-plugin needs --auth-source");
	if (cfg->auth_plugin == CONFIG_AUTH_BASIC &&
	    strlen(cfg->auth_source) > WSB_MAX_BASIC_CREDENTIALS)
		return config_error(err, errlen,
		    "--auth-source for "
		    "BasicHTTPAuth is longer than %d bytes",
		    WSB_MAX_BASIC_CREDENTIALS);
	if (cfg->auth_plugin == CONFIG_AUTH_BASIC &&
	    strchr(cfg->auth_source, ':') == NULL)
		return config_error(err, errlen,
		    "--auth-source for "
		    "BasicHTTPAuth must be user:password");
	if (cfg->web_auth &&
	    (cfg->web == NULL || cfg->auth_plugin == CONFIG_AUTH_NONE))
		return config_error(err, errlen,
		    "--web-auth needs --web and --auth-plugin");
	if ((cfg->token_source != NULL || cfg->host_token) &&
	    cfg->token_plugin == NULL)
		return config_error(err, errlen, "%s needs --token-plugin",
		    cfg->host_token ? "--host-token" : "--token-source");
	if (cfg->token_plugin != NULL && cfg->token_source == NULL)
		return config_error(err, errlen,
		    "--token-plugin needs --token-source");
	if (cfg->token_plugin != NULL && cfg->unix_target != NULL)
		return config_error(err, errlen,
		    "--token-plugin and --unix-target both given");
	return config_check_service(cfg, err, errlen);
}

/* The addresses; see config_int.h.  The source is left out with
 * --inetd or --unix-listen (as websockify's), and may be with socket
 * activation (given anyway, it is parsed and not used); the target with
 * --unix-target, a token plugin or a command to wrap. */
int
config_positionals(struct config *cfg, int npos, char **pos, char *err,
    size_t errlen)
{
	int need_target, i = 0;

	need_target = cfg->unix_target == NULL && cfg->token_plugin == NULL &&
	    cfg->wrap_cmd == NULL;
	cfg->listen_fds = config_listen_fds_env();
	if (cfg->wrap_cmd != NULL) {
		/* websockify: the first address is the source, every other
		 * one (before or after "--") the command. */
		if (npos < 2)
			return config_error(err, errlen,
			    npos < 1 ? "missing the listen port" :
				       "no command after --");
		cfg->wrap_cmd = pos + 1;
		return http_split_authority(pos[0], &cfg->listen_host,
			   &cfg->listen_port, 1, err, errlen) == -1 ?
		    CONFIG_ERROR :
		    CONFIG_OK;
	}
	if (!cfg->inetd && cfg->unix_listen == NULL &&
	    !(cfg->listen_fds && npos == need_target)) {
		if (npos < 1)
			return config_error(err, errlen,
			    "missing the listen port");
		if (http_split_authority(pos[0], &cfg->listen_host,
			&cfg->listen_port, 1, err, errlen) == -1)
			return CONFIG_ERROR;
		i = 1;
	}
	if (!need_target) {
		if (npos > i)
			return config_error(err, errlen,
			    "a target address and %s both given",
			    cfg->unix_target != NULL ? "--unix-target" :
				cfg->token_plugin != NULL ?
						       "a token plugin" :
						       "a command to wrap");
		return CONFIG_OK;
	}
	if (npos - i < 1)
		return config_error(err, errlen,
		    "missing the target (target_addr:target_port)");
	if (npos - i > 1)
		return config_error(err, errlen, "unexpected argument '%s'",
		    pos[i + 1]);
	if (http_split_authority(pos[i], &cfg->target_host, &cfg->target_port,
		0, err, errlen) == -1)
		return CONFIG_ERROR;
	return CONFIG_OK;
}
