/*
 * Private to config.c and config_help.c: the option table, one row per
 * option, from which getopt_long's table, --help and config_free() are
 * all made.
 */
#ifndef WSB_CONFIG_INT_H
#define WSB_CONFIG_INT_H

#include <stddef.h>

#include "wsb_config.h"

/* The default certificate, as websockify: used only if it exists. */
#define CONFIG_DEFAULT_CERT "self.pem"
/* Where the key password may come from instead of the command line. */
#define CONFIG_KEY_PASSWORD_ENV "WSBRIDGE_KEY_PASSWORD"

#define CONFIG_STR_(x) #x
#define CONFIG_STR(x) CONFIG_STR_(x)
#define CONFIG_FIELD(f) offsetof(struct config, f)
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* What an option's value is, and so what the parser does with it. */
enum config_kind {
	CONFIG_FLAG,	    /* no value; the int field becomes 1 */
	CONFIG_COUNT,	    /* no value; the int field counts (-v -v) */
	CONFIG_INT,	    /* a whole decimal number from min to max */
	CONFIG_STRING,	    /* any string, copied; the last one given wins */
	CONFIG_PATH,	    /* as CONFIG_STRING, but never empty */
	CONFIG_SPECIAL,	    /* the row's handler does it */
	CONFIG_ASK_HELP,    /* parsing stops: CONFIG_HELP */
	CONFIG_ASK_VERSION, /* parsing stops: CONFIG_VERSION */
};

/*
 * A handler returns CONFIG_OK or CONFIG_ERROR (err set); arg is NULL for
 * an option without a value.  A string it stores goes in a field that a
 * CONFIG_STRING or CONFIG_PATH row also sets: config_free() frees it.
 */
typedef int (*config_handler)(struct config *, const char *, char *, size_t);

/* One option. */
struct config_opt {
	const char	*name;	 /* long name, without "--" */
	int		 letter; /* short option, 0: none */
	enum config_kind kind;
	size_t		 field;	   /* CONFIG_FIELD() it sets */
	size_t		 implies;  /* int field also set to 1; 0: none */
	int		 min, max; /* CONFIG_INT */
	int		 secret;   /* string wiped before it is freed */
	config_handler	 handler;  /* CONFIG_SPECIAL */
	const char	*arg;	   /* the value in --help; NULL: none */
	const char	*help;	   /* '\n' continues under the column */
	const char	*heading;  /* --help: a section starts here */
};

/* Room for the rows (config_opts.c checks it at compile time). */
#define CONFIG_MAX_OPTS 96

extern const struct config_opt config_opts[];
extern const size_t	       config_nopts;

/* Put a printf-style message in err (errlen bytes); returns CONFIG_ERROR. */
int config_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Replace *dst with a copy of src (wiping the old value first if
 * secret): CONFIG_OK, or CONFIG_ERROR with err set.  config.c. */
int config_replace(char **dst, const char *src, int secret, char *err,
    size_t errlen);
/* The index in argv of the first "--" that is not an option's value
 * (so not "--log-file --"), or argc if none.  config_check.c. */
int config_wrap_split(int argc, char **argv);
/* Options that need or exclude each other: CONFIG_OK or CONFIG_ERROR
 * with err set.  config_check.c. */
int config_check(const struct config *cfg, char *err, size_t errlen);
/* The npos addresses left by getopt (pos, NULL-terminated), as the
 * listen and target addresses the other options leave room for; with
 * cfg->wrap_cmd set (a "--" was given), the first is the source and the
 * rest the command (cfg->wrap_cmd then points into pos).  CONFIG_OK or
 * CONFIG_ERROR with err set.  Strings it stores are freed by
 * config_free().  config_check.c. */
int config_positionals(struct config *cfg, int npos, char **pos, char *err,
    size_t errlen);

#endif
