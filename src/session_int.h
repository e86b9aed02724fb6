/*
 * Private to session.c, session_http.c, session_upgrade.c and
 * session_relay.c: the session and its two sides.  Nothing else includes
 * this header.
 */
#ifndef WSB_SESSION_INT_H
#define WSB_SESSION_INT_H

#include <sys/queue.h>

#include <event2/util.h>

#include "connlimit.h"
#include "frame.h"
#include "handshake.h"
#include "log.h"

struct bufferevent;
struct event;
struct evbuffer;
struct target_connect;
struct token_lookup;
struct session_answer;
struct worker;
struct session;
struct http_request;
struct record;

/* Where a session is; each phase installs its own callbacks. */
enum session_phase {
	SESSION_HTTP,	    /* reading request heads (and --web replies) */
	SESSION_LOOKUP,	    /* upgrade accepted; looking the token up */
	SESSION_CONNECTING, /* upgrade accepted; connecting the target */
	SESSION_RELAY,	    /* relaying both ways */
	SESSION_CLOSING,    /* a Close was sent or received */
};

/* How a side's connection is being shut down. */
enum side_shutdown {
	SIDE_OPEN,     /* reading and writing */
	SIDE_FLUSHING, /* output draining; input discarded */
	SIDE_LINGER,   /* client: FIN sent; discard input until EOF */
};

/*
 * One end of the relay: the client or the target.  What is written once
 * for both: set-up, pause and resume (backpressure), the watch on a
 * paused side, byte counts and freeing.
 */
struct side {
	struct session	   *session;
	struct side	   *peer;
	struct bufferevent *bev;   /* NULL once closed */
	struct event	   *watch; /* EOF/reset while paused */
	struct event	   *rev;   /* plain socket: our reads */
	const char	   *name;  /* "client" or "target" */
	enum side_shutdown  shutdown;
	unsigned	    paused_by_peer:1; /* peer's output full */
	unsigned	    paused_by_self:1; /* own replies queued */
	unsigned	    reading:1;	      /* EV_READ enabled */
	unsigned	    peer_fin:1;	      /* FIN seen while paused */
	unsigned	    eof:1;	      /* EOF read: no more reading */
	unsigned	    fin_pending:1;    /* FIN (SHUT_WR) once flushed */
	unsigned	    tls:1;
	unsigned long long  bytes_read;	  /* from the socket */
	unsigned long long  bytes_handed; /* queued or written */
	unsigned long long  linger_outq;  /* SIOCOUTQ at the last look */
	long long	    linger_stuck_ms;
};

struct session {
	TAILQ_ENTRY(session)   entry;
	struct worker	      *worker;
	unsigned long long     id;
	enum session_phase     phase;
	struct side	       client;
	struct side	       target;
	struct target_connect *connecting;
	struct token_lookup   *lookup;	    /* token lookup in flight */
	struct session_answer *answer;	    /* a lookup answering at once */
	char		      *upgrade_log; /* the connection line so far */
	struct event	      *timer; /* head deadline, keep-alive, close */
	struct event	      *heartbeat;
	struct event	      *sniff;  /* first byte: TLS or plain? */
	struct record	      *record; /* --record: this session's file */
	struct session_proxy  *proxy;  /* --proxy-protocol: header read */
	int		       sniff_fd;

	/* Client frame decoder: the frame whose payload is streaming. */
	struct frame_header    fh;
	uint64_t	       remaining; /* payload bytes still due */
	uint64_t	       offset;	  /* payload bytes done */
	struct frame_msg_state msg;
	unsigned	       in_frame:1;
	unsigned	       close_sent:1;
	unsigned	       close_received:1;
	unsigned	       close_wait_armed:1;
	unsigned	       ping_outstanding:1;
	unsigned	       upgraded:1;
	unsigned	       protocol_binary:1;
	unsigned	       web_waiting:1;	/* a --web reply draining */
	unsigned long long     heartbeat_seen;	/* client bytes at last tick */
	unsigned long long     half_close_seen; /* target bytes, half-closed */

	const char *closer; /* who closed, for the log */
	int	    close_code;
	long long   started_ms;
	/* The client: the TCP peer, or who a PROXY header or a trusted
	 * proxy's headers say it is (session_set_client); peer is it in
	 * text, the prefix of every log line. */
	struct sockaddr_storage client_addr;
	socklen_t		client_addr_len;
	/* The client the connection gave (TCP peer or PROXY header), kept
	 * at the first request head: a later request of a keep-alive
	 * connection without a trusted proxy's headers goes back to it. */
	struct sockaddr_storage conn_client;
	socklen_t		conn_client_len; /* 0 before the first */
	char			peer[64];
	char			target_name[128]; /* for logs only */
	char token_fp[9]; /* the token's fingerprint, or "" */
	char accept[HANDSHAKE_ACCEPT_LEN + 1];
	/* --metrics and --max-connections (metrics.h, connlimit.h). */
	unsigned char outcome; /* METRICS_OUTCOME_* so far */
	unsigned char refusal; /* METRICS_REFUSAL_* of an error reply */
	unsigned      tls_done:1;
	long long     lookup_us;     /* token lookup started (monotonic) */
	struct connlimit_hold limit; /* released in session_end */
};

/* Log lines of a session: each names the session id and the peer. */
#define session_info(s, fmt, ...) \
	log_info("session %llu: %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)
#define session_warn(s, fmt, ...) \
	log_warnx("session %llu: %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)
#define session_debug(s, fmt, ...) \
	log_debug("session %llu: %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

/* Returned by functions that may have ended the session. */
#define SESSION_ENDED (-1)

/* session.c: lifetime, sides, timers. */
void		   session_end(struct session *s);
int		   session_end_if_done(struct session *s);
void		   session_timer_set(struct session *s, int sec);
void		   side_attach(struct side *side, struct bufferevent *bev,
		  void (*readcb)(struct bufferevent *, void *),
		  void (*writecb)(struct bufferevent *, void *),
		  void (*eventcb)(struct bufferevent *, short, void *));
void		   side_free(struct side *side);
unsigned long long side_bytes_written(const struct side *side);
void		   side_report(struct side *side, int err);
void		   side_set_reading(struct side *side);
int		   side_read_more(struct side *side);
int		   side_output_full(const struct side *side);
void		   side_send(struct side *side, struct evbuffer *buf);
void		   side_queue(struct side *side, const void *data, size_t len);
void		   side_set_send_timeout(struct side *side);
int		   session_client_shutdown(struct session *s);
int		   session_target_shutdown(struct session *s);
const struct config *session_config(const struct session *s);
const char	    *session_peer_cn(struct session *s, char *buf, size_t len);
/* The client is sa (len bytes; an AF_INET, AF_INET6 or AF_UNIX address),
 * not the TCP peer: how came tells the debug line ("PROXY v2",
 * "X-Forwarded-For").  Updates client_addr and peer. */
void session_set_client(struct session *s, const struct sockaddr *sa,
    socklen_t len, const char *how);
void session_log_tls_error(struct session *s, struct bufferevent *bev,
    const char *what);
/* The connection fd's first bytes (past any PROXY header): the TLS sniff
 * or, plain, the HTTP phase. */
void session_start(struct session *s, int fd);

/* session_proxy.c: the PROXY protocol (haproxy's proxy-protocol.txt). */
/* --proxy-protocol: read the header on fd within
 * WSB_PROXY_HEADER_TIMEOUT_MSEC of the accept, taking no byte past it;
 * the client it names becomes the client (session_set_client), then
 * session_start().  A missing, malformed or late header ends the session
 * with one log line and no answer. */
void session_proxy_start(struct session *s, int fd);
/* Free the header reader, if any (session_end). */
void session_proxy_free(struct session *s);
/* A request head buf[0..len) that proxy_proto_detect() says is a PROXY
 * header on a port without --proxy-protocol: 400 as any malformed head,
 * the log line with a hint.  SESSION_ENDED if the session ended. */
int session_proxy_refuse(struct session *s, const char *buf, size_t len);
/* With --target-proxy-protocol, the header for the target (the client,
 * from client_addr, and the bridge's address of the client connection)
 * in out (outlen bytes, PROXY_PROTO_BUILD_MAX).  Returns its length, 0
 * without the option, -1 if it does not fit. */
int session_proxy_target_header(struct session *s, void *out, size_t outlen);

/* session_http.c: request heads, --web, error replies. */
void session_http_start(struct session *s);
void session_http_read_cb(struct bufferevent *, void *);
int  session_http_error(struct session *s, const struct http_request *req,
     const char *raw, size_t rawlen, int status, const char *extra,
     const char *reason);
int  session_http_reply_error(struct session *s, int status, const char *extra,
     const char *reason);

/* session_upgrade.c: handshake, auth, target, the 101. */
int session_upgrade(struct session *s, const struct http_request *req,
    size_t head_len);
/* The handshake deadline passed while the token was looked up. */
void session_upgrade_deadline(struct session *s);

/* session_relay.c: frames both ways, Close, backpressure, heartbeat. */
void session_relay_start(struct session *s);
void session_relay_send_close(struct session *s, int code, const char *reason);
void session_relay_refuse(struct session *s, const char *reason);
void session_relay_client_event_cb(struct bufferevent *, short, void *);
void session_relay_half_close_check(struct session *s);

/* session_heartbeat.c: --heartbeat. */
void session_heartbeat_cb(evutil_socket_t, short, void *);

#endif
