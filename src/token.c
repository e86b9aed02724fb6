/*
 * The token router: the plugin's process-wide state, each worker's own
 * side of it, the bound on lookups in flight, and the one thread that
 * does blocking file work for plugins (token_worker_offload).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "token.h"
#include "wsb_limits.h"

/* websockify's module prefix, which its users may write. */
#define TOKEN_PLUGIN_PREFIX "websockify.token_plugins."

struct token_router {
	const struct token_plugin_ops *ops;
	void			      *state;
};

/* One offloaded job: job() on the work thread, finish() back home. */
struct token_job {
	STAILQ_ENTRY(token_job) entry;
	struct token_worker    *tw;
	void (*job)(void *);
	void (*finish)(void *);
	void *arg;
};
STAILQ_HEAD(token_job_list, token_job);

struct token_worker {
	struct token_router  *router;
	struct event_base    *base;
	void		     *wstate; /* NULL: the plugin failed here */
	int		      inflight;
	int		      efd; /* eventfd: finished jobs to run */
	struct event	     *ev;
	pthread_mutex_t	      lock; /* done and outstanding */
	pthread_cond_t	      cond;
	struct token_job_list done;
	int		      outstanding; /* queued or running jobs */
};

/* A lookup as the session sees it: the plugin's, plus the count. */
struct token_lookup_wrap {
	struct token_worker *tw;
	struct token_lookup *inner;
	token_done_fn	     done;
	void		    *arg;
};

/* The work thread, started with the first job, stopped at exit. */
static struct {
	pthread_mutex_t	      lock;
	pthread_cond_t	      cond;
	struct token_job_list queue;
	int		      queued;
	int		      started;
	int		      stopping;
	pthread_t	      thread;
} token_work = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	STAILQ_HEAD_INITIALIZER(token_work.queue), 0, 0, 0, 0 };

static const struct token_plugin_ops *const token_plugins[] = {
	&token_file_ops,
	&token_file_ro_ops,
	&token_file_name_ops,
	&token_unix_dir_ops,
	&token_redis_ops,
	&token_api_ops,
	&token_json_api_ops,
	&token_jwt_ops,
};

static void *token_work_main(void *);
static void  token_worker_finish_cb(evutil_socket_t, short, void *);
static void  token_worker_run_done(struct token_worker *);
static void  token_lookup_done(enum token_result, const char *, const char *,
     void *);

/* A plugin by websockify's class name, with or without its module. */
const struct token_plugin_ops *
token_plugin_find(const char *name)
{
	size_t i, plen = strlen(TOKEN_PLUGIN_PREFIX);

	if (strncmp(name, TOKEN_PLUGIN_PREFIX, plen) == 0)
		name += plen;
	for (i = 0; i < sizeof(token_plugins) / sizeof(token_plugins[0]); i++)
		if (strcmp(token_plugins[i]->name, name) == 0)
			return token_plugins[i];
	return NULL;
}

/* The process-wide router: the plugin checks and loads its source. */
struct token_router *
token_router_create(const struct token_plugin_ops *ops, const char *source,
    char *err, size_t errlen)
{
	struct token_router *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->ops = ops;
	if ((r->state = ops->create(source, err, errlen)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

/* SIGHUP: reload the plugin's source where it has one. */
void
token_router_reload(struct token_router *r)
{
	if (r != NULL && r->ops->reload != NULL)
		r->ops->reload(r->state);
}

/* Stop the work thread (its queue is empty by now), free the plugin. */
void
token_router_free(struct token_router *r)
{
	pthread_mutex_lock(&token_work.lock);
	token_work.stopping = 1;
	pthread_cond_signal(&token_work.cond);
	pthread_mutex_unlock(&token_work.lock);
	if (token_work.started) {
		pthread_join(token_work.thread, NULL);
		token_work.started = 0;
	}
	token_work.stopping = 0;
	if (r == NULL)
		return;
	if (r->ops->destroy != NULL)
		r->ops->destroy(r->state);
	free(r);
}

/* The worker's side: the plugin's state on this loop, the job inbox. */
struct token_worker *
token_worker_create(struct token_router *r, struct event_base *base)
{
	struct token_worker *tw;

	if ((tw = calloc(1, sizeof(*tw))) == NULL)
		return NULL;
	tw->router = r;
	tw->base = base;
	STAILQ_INIT(&tw->done);
	pthread_mutex_init(&tw->lock, NULL);
	pthread_cond_init(&tw->cond, NULL);
	tw->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (tw->efd == -1 ||
	    (tw->ev = event_new(base, tw->efd, EV_READ | EV_PERSIST,
		 token_worker_finish_cb, tw)) == NULL ||
	    event_add(tw->ev, NULL) == -1) {
		log_warn("token lookups: cannot make the job inbox");
		token_worker_free(tw);
		return NULL;
	}
	if (r->ops->worker_create == NULL)
		tw->wstate = r->state;
	else if ((tw->wstate = r->ops->worker_create(r->state, tw, base)) ==
	    NULL)
		log_warnx("token plugin %s: cannot start on this worker; "
			  "its lookups will answer 503",
		    r->ops->name);
	return tw;
}

/* Wait for this worker's jobs, run their finish(), free the plugin's
 * worker state and the inbox. */
void
token_worker_free(struct token_worker *tw)
{
	if (tw == NULL)
		return;
	pthread_mutex_lock(&tw->lock);
	while (tw->outstanding > 0)
		pthread_cond_wait(&tw->cond, &tw->lock);
	pthread_mutex_unlock(&tw->lock);
	token_worker_run_done(tw);
	if (tw->wstate != NULL && tw->router->ops->worker_create != NULL &&
	    tw->router->ops->worker_destroy != NULL)
		tw->router->ops->worker_destroy(tw->wstate);
	if (tw->ev != NULL)
		event_free(tw->ev);
	if (tw->efd != -1)
		close(tw->efd);
	pthread_cond_destroy(&tw->cond);
	pthread_mutex_destroy(&tw->lock);
	free(tw);
}

/* Look a token up, counted against the worker's bound. */
struct token_lookup *
token_lookup_start(struct token_worker *tw, const char *token, size_t len,
    token_done_fn done, void *arg)
{
	struct token_lookup_wrap *w;
	struct token_lookup	 *inner;

	if (tw->wstate == NULL) {
		done(TOKEN_UNAVAILABLE, NULL, "token plugin not running", arg);
		return NULL;
	}
	if (tw->inflight >= WSB_MAX_TOKEN_LOOKUPS) {
		done(TOKEN_UNAVAILABLE, NULL, "too many lookups in flight",
		    arg);
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		done(TOKEN_UNAVAILABLE, NULL, "out of memory", arg);
		return NULL;
	}
	w->tw = tw;
	w->done = done;
	w->arg = arg;
	tw->inflight++;
	inner = tw->router->ops->lookup(tw->wstate, token, len,
	    token_lookup_done, w);
	if (inner == NULL)
		return NULL; /* answered: w is freed */
	w->inner = inner;
	return (struct token_lookup *)w;
}

/* The plugin's answer: uncount, pass it on, free the wrapper. */
static void
token_lookup_done(enum token_result r, const char *target, const char *why,
    void *arg)
{
	struct token_lookup_wrap *w = arg;
	token_done_fn		  done = w->done;
	void			 *darg = w->arg;

	w->tw->inflight--;
	free(w);
	done(r, target, why, darg);
}

/* Cancel: the plugin stops, the session hears nothing more. */
void
token_lookup_cancel(struct token_lookup *l)
{
	struct token_lookup_wrap *w = (struct token_lookup_wrap *)l;

	if (w == NULL)
		return;
	w->tw->router->ops->cancel(w->inner);
	w->tw->inflight--;
	free(w);
}

/* Queue a blocking job; its finish() comes back on tw's loop. */
int
token_worker_offload(struct token_worker *tw, void (*job)(void *),
    void (*finish)(void *), void *arg)
{
	struct token_job *j;
	int		  ret = 0;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	j->tw = tw;
	j->job = job;
	j->finish = finish;
	j->arg = arg;
	pthread_mutex_lock(&tw->lock);
	tw->outstanding++;
	pthread_mutex_unlock(&tw->lock);
	pthread_mutex_lock(&token_work.lock);
	if (token_work.stopping || token_work.queued >= WSB_MAX_TOKEN_JOBS)
		ret = -1;
	else if (!token_work.started) {
		if (pthread_create(&token_work.thread, NULL, token_work_main,
			NULL) != 0)
			ret = -1;
		else
			token_work.started = 1;
	}
	if (ret == 0) {
		STAILQ_INSERT_TAIL(&token_work.queue, j, entry);
		token_work.queued++;
		pthread_cond_signal(&token_work.cond);
	}
	pthread_mutex_unlock(&token_work.lock);
	if (ret == -1) {
		pthread_mutex_lock(&tw->lock);
		tw->outstanding--;
		pthread_mutex_unlock(&tw->lock);
		free(j);
	}
	return ret;
}

/* The work thread: run jobs in order, hand each back to its worker. */
static void *
token_work_main(void *unused)
{
	struct token_job    *j;
	struct token_worker *tw;
	uint64_t	     one = 1;

	pthread_mutex_lock(&token_work.lock);
	for (;;) {
		while (STAILQ_EMPTY(&token_work.queue) && !token_work.stopping)
			pthread_cond_wait(&token_work.cond, &token_work.lock);
		if ((j = STAILQ_FIRST(&token_work.queue)) == NULL)
			break; /* stopping, and nothing left */
		STAILQ_REMOVE_HEAD(&token_work.queue, entry);
		token_work.queued--;
		pthread_mutex_unlock(&token_work.lock);
		j->job(j->arg);
		tw = j->tw;
		/* All under tw's lock: once outstanding drops, the worker
		 * may free tw (token_worker_free). */
		pthread_mutex_lock(&tw->lock);
		STAILQ_INSERT_TAIL(&tw->done, j, entry);
		if (write(tw->efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
			log_warn("token lookups: eventfd write");
		tw->outstanding--;
		pthread_cond_signal(&tw->cond);
		pthread_mutex_unlock(&tw->lock);
		pthread_mutex_lock(&token_work.lock);
	}
	pthread_mutex_unlock(&token_work.lock);
	return NULL;
}

/* Finished jobs are waiting: run their finish() on this loop. */
static void
token_worker_finish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct token_worker *tw = arg;
	uint64_t	     n;

	while (read(fd, &n, sizeof(n)) > 0)
		;
	token_worker_run_done(tw);
}

/* Run every finished job's finish(), in order, and free the job. */
static void
token_worker_run_done(struct token_worker *tw)
{
	struct token_job_list list;
	struct token_job     *j;

	STAILQ_INIT(&list);
	pthread_mutex_lock(&tw->lock);
	STAILQ_CONCAT(&list, &tw->done);
	pthread_mutex_unlock(&tw->lock);
	while ((j = STAILQ_FIRST(&list)) != NULL) {
		STAILQ_REMOVE_HEAD(&list, entry);
		j->finish(j->arg);
		free(j);
	}
}
