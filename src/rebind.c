/*
 * rebind.so: wrap mode's LD_PRELOAD library (websockify's rebind.so
 * contract).  With REBIND_OLD_PORT and REBIND_NEW_PORT in the
 * environment, a bind() of an AF_INET or AF_INET6 socket to port
 * REBIND_OLD_PORT (any address) is turned into a bind() on the loopback,
 * port REBIND_NEW_PORT, which wsbridge targets at 127.0.0.1.  Every other
 * bind() goes through untouched.
 *
 * Where a socket lands:
 * - AF_INET: 127.0.0.1:new.
 * - AF_INET6: ::ffff:127.0.0.1:new with IPV6_V6ONLY cleared, so the
 *   socket takes the bridge's IPv4 connections (websockify does the
 *   same): `python3 -m http.server --bind ::` and `socat TCP6-LISTEN`
 *   (even with ipv6only=1) are reached.
 * - A second socket of the same process on the old port, as programs
 *   make that listen on IPv4 and IPv6 (IPV6_V6ONLY) at once (nginx,
 *   TigerVNC), finds 127.0.0.1:new taken by the first: an AF_INET6 one is
 *   bound to [::1]:new with its IPV6_V6ONLY as it was, an AF_INET one to
 *   127.0.0.1 on a port the kernel picks.  The program starts, every
 *   bridged connection reaches the first socket, and nothing is exposed
 *   beyond the loopback.
 *
 * Statically linked programs (Go) and programs that call the system call
 * directly bypass the library; the dynamic loader ignores LD_PRELOAD for
 * set-user-ID programs.
 *
 * No allocation, no locks: the ports are read and the real bind() looked
 * up once, at load time, before the program's threads exist.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef int (*rebind_bind_fn)(int, const struct sockaddr *, socklen_t);

static rebind_bind_fn rebind_real;  /* libc's bind() */
static int	      rebind_old;   /* REBIND_OLD_PORT; 0: rebind nothing */
static int	      rebind_new;   /* REBIND_NEW_PORT */
static int	      rebind_taken; /* a socket holds 127.0.0.1:new */

static int  rebind_port(const char *);
static void rebind_init(void) __attribute__((constructor));
static int  rebind_inet(int, const struct sockaddr_in *);
static int  rebind_inet6(int, const struct sockaddr_in6 *);

/* A port from the environment: 1 to 65535 in decimal, else 0. */
static int
rebind_port(const char *name)
{
	const char *s = getenv(name);
	long	    v = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > 65535)
			return 0;
		v = v * 10 + (*s - '0');
	}
	return v >= 1 && v <= 65535 ? (int)v : 0;
}

/* At load time (again from bind() if another library's constructor binds
 * first): find libc's bind() and read the two ports.  Two threads doing
 * it at once store the same values. */
static void
rebind_init(void)
{
	rebind_bind_fn real;
	int	       old, new;

	if (__atomic_load_n(&rebind_real, __ATOMIC_ACQUIRE) != NULL)
		return;
	real = (rebind_bind_fn)dlsym(RTLD_NEXT, "bind");
	old = rebind_port("REBIND_OLD_PORT");
	new = rebind_port("REBIND_NEW_PORT");
	if (old == 0 || new == 0)
		old = new = 0;
	__atomic_store_n(&rebind_old, old, __ATOMIC_RELAXED);
	__atomic_store_n(&rebind_new, new, __ATOMIC_RELAXED);
	__atomic_store_n(&rebind_real, real, __ATOMIC_RELEASE);
}

/* An IPv4 bind on the old port: 127.0.0.1:new, or 127.0.0.1:0 if another
 * socket of this process holds 127.0.0.1:new already. */
static int
rebind_inet(int fd, const struct sockaddr_in *sin)
{
	struct sockaddr_in a;

	memcpy(&a, sin, sizeof(a));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)rebind_new);
	if (rebind_real(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
		__atomic_store_n(&rebind_taken, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (errno != EADDRINUSE ||
	    !__atomic_load_n(&rebind_taken, __ATOMIC_RELAXED))
		return -1;
	a.sin_port = 0;
	return rebind_real(fd, (struct sockaddr *)&a, sizeof(a));
}

/* An IPv6 bind on the old port: ::ffff:127.0.0.1:new, dual-stack; or
 * [::1]:new with IPV6_V6ONLY as the program set it if another socket of
 * this process holds 127.0.0.1:new already. */
static int
rebind_inet6(int fd, const struct sockaddr_in6 *sin6)
{
	static const struct in6_addr mapped = {
		{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1 } }
	};
	struct sockaddr_in6 a;
	socklen_t	    len = sizeof(int);
	int		    v6only = 0, off = 0, e;

	if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) == -1)
		v6only = 0;
	if (v6only)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off,
		    sizeof(off));
	memcpy(&a, sin6, sizeof(a));
	a.sin6_addr = mapped;
	a.sin6_port = htons((uint16_t)rebind_new);
	a.sin6_flowinfo = 0;
	a.sin6_scope_id = 0;
	if (rebind_real(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
		__atomic_store_n(&rebind_taken, 1, __ATOMIC_RELAXED);
		return 0;
	}
	e = errno;
	if (v6only)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof(v6only));
	if (e != EADDRINUSE ||
	    !__atomic_load_n(&rebind_taken, __ATOMIC_RELAXED)) {
		errno = e;
		return -1;
	}
	a.sin6_addr = in6addr_loopback;
	return rebind_real(fd, (struct sockaddr *)&a, sizeof(a));
}

/* The interposed bind(): the old port moves, everything else passes. */
int
bind(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	const struct sockaddr_in  *sin;
	const struct sockaddr_in6 *sin6;
	int			   old;

	rebind_init();
	if (rebind_real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	old = __atomic_load_n(&rebind_old, __ATOMIC_RELAXED);
	if (old == 0 || addr == NULL)
		return rebind_real(fd, addr, addrlen);
	if (addr->sa_family == AF_INET && addrlen >= sizeof(*sin)) {
		sin = (const struct sockaddr_in *)addr;
		if (ntohs(sin->sin_port) == old)
			return rebind_inet(fd, sin);
	} else if (addr->sa_family == AF_INET6 && addrlen >= sizeof(*sin6)) {
		sin6 = (const struct sockaddr_in6 *)addr;
		if (ntohs(sin6->sin6_port) == old)
			return rebind_inet6(fd, sin6);
	}
	return rebind_real(fd, addr, addrlen);
}
