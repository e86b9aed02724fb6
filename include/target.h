/* Resolving and connecting the target without blocking the loop. */
#ifndef WSB_TARGET_H
#define WSB_TARGET_H

struct bufferevent;
struct worker;
struct target_connect;

/* Called once: bev connected (TCP_NODELAY set), or bev NULL and why a
 * one-line reason ("target 127.0.0.1:5900: Connection refused"). */
typedef void (*target_done_fn)(struct bufferevent *bev, const char *why,
    void *arg);

struct target_connect *target_connect_start(struct worker *w,
    target_done_fn done, void *arg);
void target_connect_cancel(struct target_connect *tc);
/* "host:port" or "unix:path" of the configured target, for logs. */
const char *target_describe(const struct worker *w, char *buf, size_t len);

#endif
