/*
 * --max-connections and --max-connections-per-ip: WebSocket sessions
 * counted across every worker (an atomic for the process, a table of
 * client addresses under a mutex, an entry freed when its count drops to
 * zero, so the table never holds more entries than live sessions).
 * Taken once per accepted upgrade, never on the data path.
 */
#ifndef WSB_CONNLIMIT_H
#define WSB_CONNLIMIT_H

#include <sys/socket.h>

struct connlimit_addr;

/* What a session holds (zeroed: nothing); release it exactly once. */
struct connlimit_hold {
	struct connlimit_addr *addr;  /* counted against its address */
	int		       total; /* counted against the process */
};

/* Size of an address key: IPv6, IPv4 as IPv4-mapped IPv6. */
#define CONNLIMIT_KEY_LEN 16

/*
 * The key of client address sa (pure): an AF_INET address and its
 * IPv4-mapped AF_INET6 form (::ffff:a.b.c.d) give the same key, so an
 * IPv4 client counts once whichever socket it came through.  0, or -1
 * for an address without one (AF_UNIX: not limited per address).
 */
int connlimit_key(const struct sockaddr *sa,
    unsigned char			 key[CONNLIMIT_KEY_LEN]);

/*
 * Count one more WebSocket session of client sa against max_total
 * sessions in the process and max_per_addr per client address (0: no
 * such limit).  Returns 0 with *hold filled (give it back with
 * connlimit_release()), or, with nothing held, 1 when max_total is
 * reached, 2 when max_per_addr is, -1 when out of memory.  Any thread.
 */
int connlimit_acquire(int max_total, int max_per_addr,
    const struct sockaddr *sa, struct connlimit_hold *hold);
#define CONNLIMIT_TOTAL 1
#define CONNLIMIT_PER_ADDR 2

/* Give back what hold holds and zero it; a zeroed hold is a no-op. */
void connlimit_release(struct connlimit_hold *hold);

/* Sessions counted against the process limit now. */
int connlimit_total(void);
/* Client addresses in the table now. */
long long connlimit_addresses(void);

#endif
