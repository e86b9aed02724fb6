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
int
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
		return (size_t)(ch - CONFIG_LONG_BASE) < config_nopts ?
		    &config_opts[ch - CONFIG_LONG_BASE] :
		    NULL;
	for (i = 0; i < config_nopts; i++)
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
	for (i = 0; i < config_nopts; i++) {
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
	struct option lo[CONFIG_MAX_OPTS + 1];
	char	      shorts[2 + 2 * CONFIG_MAX_OPTS];
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

	for (i = 0; i < config_nopts; i++) {
		o = &config_opts[i];
		if (o->kind != CONFIG_STRING && o->kind != CONFIG_PATH)
			continue;
		p = config_field(cfg, o->field);
		if (*p != NULL && o->secret)
			explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
	free(cfg->trusted_proxy);
	free(cfg->metrics_host);
	free(cfg->metrics_port);
	cfg->trusted_proxy = cfg->metrics_host = cfg->metrics_port = NULL;
	free(cfg->listen_host);
	free(cfg->listen_port);
	free(cfg->target_host);
	free(cfg->target_port);
	cfg->listen_host = cfg->listen_port = NULL;
	cfg->target_host = cfg->target_port = NULL;
	cfg->wrap_cmd = NULL;
}
