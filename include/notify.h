/* The service manager's notifications (systemd's sd_notify(3) protocol,
 * Type=notify).  Each call is a no-op when NOTIFY_SOCKET is not set, and
 * never blocks or fails the caller.  Main thread only. */
#ifndef WSB_NOTIFY_H
#define WSB_NOTIFY_H

/* READY=1 with STATUS=status (may be NULL): listening and serving. */
void notify_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC (systemd 253's reload protocol) at the
 * start of a SIGHUP reload; notify_ready() follows when it is done. */
void notify_reloading(void);
/* STOPPING=1 with STATUS=status (may be NULL): shutting down or draining. */
void notify_stopping(const char *status);

#endif
