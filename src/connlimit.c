/*
 * Connection limits across workers: the process total is an atomic
 * (taken and, past the limit, given back: never more than the limit
 * held at once); the per-address counts are a balanced tree (glibc's
 * tsearch: no hash a client could flood into one chain) under a mutex,
 * touched once when an upgrade is accepted and once when it ends.
 */
#include <pthread.h>
#include <search.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "connlimit.h"

/* One client address and its sessions. */
struct connlimit_addr {
	unsigned char key[CONNLIMIT_KEY_LEN];
	int	      count;
};

static atomic_int      connlimit_sessions;
static pthread_mutex_t connlimit_lock = PTHREAD_MUTEX_INITIALIZER;
static void	      *connlimit_root; /* tsearch tree of connlimit_addr */
static long long       connlimit_naddr;

/* Order of the tree: the keys' bytes. */
static int
connlimit_cmp(const void *a, const void *b)
{
	return memcmp(((const struct connlimit_addr *)a)->key,
	    ((const struct connlimit_addr *)b)->key, CONNLIMIT_KEY_LEN);
}

/* The key of an address (see connlimit.h). */
int
connlimit_key(const struct sockaddr *sa, unsigned char key[CONNLIMIT_KEY_LEN])
{
	const struct sockaddr_in  *sin;
	const struct sockaddr_in6 *sin6;

	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &sin->sin_addr, 4);
		return 0;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		memcpy(key, &sin6->sin6_addr, CONNLIMIT_KEY_LEN);
		return 0;
	default:
		return -1;
	}
}

/* Count one more session of the address key (lock held): the entry, or
 * NULL with *why set (CONNLIMIT_PER_ADDR or -1). */
static struct connlimit_addr *
connlimit_addr_take(const unsigned char *key, int max, int *why)
{
	struct connlimit_addr find, *a, **found;

	memcpy(find.key, key, CONNLIMIT_KEY_LEN);
	if ((found = tfind(&find, &connlimit_root, connlimit_cmp)) != NULL) {
		a = *found;
		if (a->count >= max) {
			*why = CONNLIMIT_PER_ADDR;
			return NULL;
		}
		a->count++;
		return a;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		*why = -1;
		return NULL;
	}
	memcpy(a->key, key, CONNLIMIT_KEY_LEN);
	if (tsearch(a, &connlimit_root, connlimit_cmp) == NULL) {
		free(a);
		*why = -1;
		return NULL;
	}
	a->count = 1;
	connlimit_naddr++;
	return a;
}

/* Take a session (see connlimit.h). */
int
connlimit_acquire(int max_total, int max_per_addr, const struct sockaddr *sa,
    struct connlimit_hold *hold)
{
	unsigned char key[CONNLIMIT_KEY_LEN];
	int	      why = 0;

	memset(hold, 0, sizeof(*hold));
	if (max_total > 0) {
		if (atomic_fetch_add(&connlimit_sessions, 1) >= max_total) {
			atomic_fetch_sub(&connlimit_sessions, 1);
			return CONNLIMIT_TOTAL;
		}
		hold->total = 1;
	}
	if (max_per_addr <= 0 || connlimit_key(sa, key) == -1)
		return 0;
	pthread_mutex_lock(&connlimit_lock);
	hold->addr = connlimit_addr_take(key, max_per_addr, &why);
	pthread_mutex_unlock(&connlimit_lock);
	if (hold->addr != NULL)
		return 0;
	connlimit_release(hold);
	return why;
}

/* Give a session back (see connlimit.h). */
void
connlimit_release(struct connlimit_hold *hold)
{
	struct connlimit_addr *a = hold->addr;

	if (a != NULL) {
		pthread_mutex_lock(&connlimit_lock);
		if (--a->count == 0) {
			tdelete(a, &connlimit_root, connlimit_cmp);
			connlimit_naddr--;
			free(a);
		}
		pthread_mutex_unlock(&connlimit_lock);
	}
	if (hold->total)
		atomic_fetch_sub(&connlimit_sessions, 1);
	hold->addr = NULL;
	hold->total = 0;
}

/* Sessions held against the process limit. */
int
connlimit_total(void)
{
	return atomic_load(&connlimit_sessions);
}

/* Addresses in the table. */
long long
connlimit_addresses(void)
{
	long long n;

	pthread_mutex_lock(&connlimit_lock);
	n = connlimit_naddr;
	pthread_mutex_unlock(&connlimit_lock);
	return n;
}
