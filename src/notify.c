/*
 * The service manager's notifications: sd_notify(3) datagrams to
 * NOTIFY_SOCKET (systemd's Type=notify and Type=notify-reload).  The
 * variable stays set, so a reload can notify again.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

/* Send state (fields separated by '\n'); a failure is logged at debug
 * level and otherwise ignored: the bridge serves either way. */
static void
notify_send(const char *state)
{
	int r;

	if ((r = sd_notify(0, state)) < 0)
		log_debug("%s: sd_notify: %s", __func__, strerror(-r));
}

/* Send the field name with STATUS=status, if status is not NULL.  A
 * newline in status would start another field: it becomes a space. */
static void
notify_status(const char *name, const char *status)
{
	char   buf[512];
	size_t i;

	if (status == NULL) {
		notify_send(name);
		return;
	}
	if (snprintf(buf, sizeof(buf), "%s\nSTATUS=%s", name, status) < 0)
		return;
	for (i = strlen(name) + 1; buf[i] != '\0'; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	notify_send(buf);
}

/* READY=1; see notify.h. */
void
notify_ready(const char *status)
{
	notify_status("READY=1", status);
}

/* RELOADING=1 with the monotonic time in microseconds, which systemd
 * 253 and later require to tell this reload from an earlier one
 * (sd_notify(3), MONOTONIC_USEC). */
void
notify_reloading(void)
{
	struct timespec ts;
	char		buf[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
		(unsigned long long)ts.tv_nsec / 1000);
	notify_send(buf);
}

/* STOPPING=1; see notify.h. */
void
notify_stopping(const char *status)
{
	notify_status("STOPPING=1", status);
}
