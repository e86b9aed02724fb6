/* Wrap mode: run the command after "--" with rebind.so preloaded
 * (websockify's contract: REBIND_OLD_PORT, REBIND_NEW_PORT), so its
 * bind() on the source port lands on 127.0.0.1:new_port, which wsbridge
 * targets (src/rebind.c says where an IPv4 or an IPv6 bind lands).
 * Main thread only. */
#ifndef WSB_WRAP_H
#define WSB_WRAP_H

#include <stddef.h>

struct event_base;
struct config;
struct wrap;

/* A free TCP port on 127.0.0.1 for the command to bind instead (found by
 * binding port 0): the port number, or -1 with a one-line err. */
int wrap_free_port(char *err, size_t errlen);

/*
 * Start cfg->wrap_cmd (argv; PATH searched as execvp does) with
 * rebind.so appended to LD_PRELOAD, REBIND_OLD_PORT=old_port and
 * REBIND_NEW_PORT=new_port, and watch it with a SIGCHLD event on base
 * (call it from base's thread, the main one, after the listeners are
 * bound and -D has forked).  rebind.so is $WSBRIDGE_REBIND, else the one
 * next to the executable, else the installed one (pkglibexecdir).
 *
 * The command gets wsbridge's environment without systemd's
 * NOTIFY_SOCKET and LISTEN_*, default signal dispositions, its own
 * process group, stdio inherited (/dev/null with -D), no other
 * descriptor, and SIGTERM if wsbridge dies (PR_SET_PDEATHSIG).  Each
 * start is logged "wrapped command started, pid N: ARGS".
 *
 * When it exits, its status is logged and cfg->wrap_mode applies:
 * CONFIG_WRAP_IGNORE keeps serving; CONFIG_WRAP_RESPAWN starts it again,
 * at most WSB_WRAP_RESPAWN_STARTS times within
 * WSB_WRAP_RESPAWN_WINDOW_SEC (a later start waits, with a warning, as
 * websockify's "Command respawning too fast"); CONFIG_WRAP_EXIT calls
 * on_exit(code, arg) on base's thread, code being its exit status, or
 * 128 + the signal's number if a signal killed it.
 *
 * Returns the handle, or NULL with a one-line err: rebind.so or the
 * command not found, not executable, execve refused it (the child tells
 * its errno), fork failed.
 */
struct wrap *wrap_start(struct event_base *base, const struct config *cfg,
    int old_port, int new_port, void (*on_exit)(int code, void *arg),
    void *arg, char *err, size_t errlen);
/* Stop the command if it runs: SIGTERM to its process group, SIGKILL to
 * the group if the command or any process of the group still runs
 * WSB_WRAP_KILL_MSEC later (this blocks the caller that long at most);
 * reap it, log how it ended, free w.  NULL is a no-op. */
void wrap_stop(struct wrap *w);

#endif
