/* Command line (websockify's words) parsed into an immutable config. */
#ifndef WSB_CONFIG_H
#define WSB_CONFIG_H

#include <stddef.h>

struct config {
	char *listen_host;	/* NULL: every local address */
	char *listen_port;
	char *target_host;	/* NULL with --unix-target */
	char *target_port;
	char *unix_target;	/* --unix-target FILE */
	int verbose;		/* -v */
	int traffic;		/* --traffic: a character per frame */
	int run_once;		/* --run-once */
	int timeout;		/* --timeout N: stop accepting after N s */
	int idle_timeout;	/* --idle-timeout N: exit after N s idle */
	int heartbeat;		/* --heartbeat N: ping every N s */
	int prefer_ipv6;	/* -6 */
	int workers;		/* --workers N */
};

/* What config_parse() asks the caller to do. */
#define CONFIG_OK 0
#define CONFIG_ERROR -1	  /* message in err; print it, usage, exit 2 */
#define CONFIG_HELP 1	  /* print config_help(), exit 0 */
#define CONFIG_VERSION 2  /* print version, exit 0 */

int config_parse(int argc, char **argv, struct config *cfg, char *err,
    size_t errlen);
void config_free(struct config *cfg);
int config_split_hostport(const char *s, char **host, char **port,
    int port_only_ok, char *err, size_t errlen);
const char *config_usage(void);
const char *config_help(void);

#endif
