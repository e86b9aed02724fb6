/*
 * The usage lines and --help, made from the option table (config.c), so
 * they cannot disagree with what the parser takes.
 */
#include <stdio.h>
#include <string.h>

#include "config_int.h"
#include "wsb_config.h"

/* --help: where the descriptions start, and room for the whole text
 * (about 4 KiB today; a test fails if it is ever cut short). */
#define CONFIG_HELP_COLUMN 24
#define CONFIG_HELP_SIZE 8192

/* The usage lines, as websockify prints them. */
const char *
config_usage(void)
{
	return "usage: wsbridge [options] [source_addr:]source_port "
	       "[target_addr:target_port]\n"
	       "       wsbridge [options] [source_addr:]source_port -- "
	       "COMMAND [ARGS...]\n";
}

/* One option's lines of --help: names and value, then the description
 * at the column (two spaces further when the names are longer). */
static void
config_help_row(FILE *f, const struct config_opt *o)
{
	char	    left[64];
	const char *s, *nl;

	if (o->heading != NULL)
		fprintf(f, "\n%s\n", o->heading);
	if (o->letter != 0)
		snprintf(left, sizeof(left), "  -%c, --%s", o->letter,
		    o->name);
	else
		snprintf(left, sizeof(left), "      --%s", o->name);
	if (o->arg != NULL)
		snprintf(left + strlen(left), sizeof(left) - strlen(left),
		    " %s", o->arg);
	fprintf(f, "%-*s  ", CONFIG_HELP_COLUMN - 2, left);
	for (s = o->help; (nl = strchr(s, '\n')) != NULL; s = nl + 1)
		fprintf(f, "%.*s\n%*s", (int)(nl - s), s, CONFIG_HELP_COLUMN,
		    "");
	fprintf(f, "%s\n", s);
}

/* The --help text, made once from config_opts.  What does not fit in
 * the buffer is cut (a test notices). */
const char *
config_help(void)
{
	static char buf[CONFIG_HELP_SIZE];
	FILE	   *f;
	size_t	    i;

	if (buf[0] != '\0')
		return buf;
	/* One byte short: the last one stays NUL, whatever is written. */
	if ((f = fmemopen(buf, sizeof(buf) - 1, "w")) == NULL)
		return config_usage();
	fprintf(f,
	    "wsbridge: a WebSocket-to-TCP bridge, compatible with "
	    "websockify\n\n%s\nAddresses are host:port or [IPv6]:port; a "
	    "bare source port listens on\nevery local IPv4 and IPv6 "
	    "address.  Options may follow the addresses.\nThe target is "
	    "left out with --unix-target, a token plugin or a\nCOMMAND to "
	    "wrap (its bind() on source_port is moved to a free local\n"
	    "port that wsbridge targets); the source with --inetd or "
	    "--unix-listen.\n\noptions:\n",
	    config_usage());
	for (i = 0; i < config_nopts; i++)
		config_help_row(f, &config_opts[i]);
	fputs("\nSignals: SIGTERM, SIGINT or SIGQUIT: Close 1001 to every "
	      "client, exit\nwhen they have closed.  SIGUSR2: stop "
	      "accepting, exit when the last\nsession ends.  SIGHUP: reload "
	      "the certificate, key, CA files and the\ntoken source.  "
	      "SIGUSR1: reopen --log-file.\n",
	    f);
	fclose(f);
	return buf;
}

/* The long name of option i, for tests that hold --help and the man
 * page to the table. */
const char *
config_option_name(size_t i)
{
	return i < config_nopts ? config_opts[i].name : NULL;
}
