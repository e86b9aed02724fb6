/* Named limits, each with the reason for its size. */
#ifndef WSB_LIMITS_H
#define WSB_LIMITS_H

/* Largest request head (request line + headers) accepted before 431:
 * browsers send 1-4 KiB; 16 KiB leaves room for big cookies. */
#define WSB_MAX_REQUEST_HEAD (16 * 1024)

/* Most header lines in one request head; a browser sends about 15. */
#define WSB_MAX_HEADERS 64

/* Seconds a client has to send a complete request head: a silent or
 * slow client must not hold a socket. */
#define WSB_HANDSHAKE_TIMEOUT_SEC 10

/* Seconds to wait for the client's Close once ours has been written,
 * and for its EOF after our FIN once nothing is left unacknowledged: a
 * client that answers does so in milliseconds.  (While bytes are still
 * owed, only --send-timeout without progress bounds the wait.) */
#define WSB_CLOSE_WAIT_SEC 2

/* Backpressure: stop reading one side when the other side's output
 * passes the high mark; resume when it drains to the low mark.  256 KiB
 * keeps a 10 Gbit loopback pipe full and memory per session bounded. */
#define WSB_HIGH_WATER (256 * 1024)
#define WSB_LOW_WATER (64 * 1024)

/* One socket read or write per callback (libevent's default is 16 KiB):
 * larger reads mean fewer frames and fewer syscalls. */
#define WSB_MAX_SINGLE_IO (128 * 1024)

/* glibc malloc: allocations above 1 MiB are mmap()ed (relay chains stay
 * below it), and up to 16 MiB freed at the top of an arena is kept for
 * reuse instead of returned to the kernel (see main()). */
#define WSB_MALLOC_MMAP_THRESHOLD (1024 * 1024)
#define WSB_MALLOC_TRIM_THRESHOLD (16 * 1024 * 1024)

/* Largest TLS record payload (RFC 8446 5.1): one SSL_write or SSL_read
 * moves at most this much, so it is the unit of TLS output and input. */
#define WSB_TLS_RECORD (16 * 1024)

/* RFC 6455 5.5: control frames carry at most 125 bytes of payload. */
#define WSB_MAX_CONTROL_PAYLOAD 125

/* How often a side paused by backpressure is looked at for a reset or
 * FIN from its peer (one poll() each): a peer that is gone is noticed
 * within this while nothing is read from it. */
#define WSB_PAUSED_CHECK_MSEC 500

/* Longest BasicHTTPAuth credentials (user:password), in bytes, and
 * their base64 form in an Authorization header: a password manager's
 * longest is a few hundred bytes. */
#define WSB_MAX_BASIC_CREDENTIALS 768
#define WSB_MAX_BASIC_B64 (WSB_MAX_BASIC_CREDENTIALS / 3 * 4)

/* Seconds a half-closed session (the client sent EOF without a Close)
 * lasts without a byte from the target before both are closed: enough for
 * a reply under way, short because such a client is usually gone
 * (haproxy's "timeout client-fin"). */
#define WSB_HALF_CLOSE_IDLE_SEC 2

/* Largest payload of one frame sent to the client: websockify's maximum,
 * and some clients refuse larger frames. */
#define WSB_MAX_OUT_FRAME (64 * 1024)

/* Largest frame header: 2 + 8 (64-bit length) + 4 (mask). */
#define WSB_MAX_FRAME_HEADER 14

/* Close reasons fit one control frame: 125 - 2 bytes of code. */
#define WSB_MAX_CLOSE_REASON 123

/* Seconds an idle keep-alive HTTP connection (--web) stays open:
 * enough for a page's follow-up requests, short enough to free sockets. */
#define WSB_KEEPALIVE_TIMEOUT_SEC 15

/* Default --send-timeout: seconds a side (client or target) may take
 * no bytes while the bridge owes it some before it is dropped.  As
 * nginx's send_timeout: a minute outlasts a stalled Wi-Fi link or a
 * paused VNC viewer, and frees a dead peer's buffers soon enough. */
#define WSB_SEND_TIMEOUT_SEC 60

/* Seconds one connect() attempt to a target address may take. */
#define WSB_CONNECT_TIMEOUT_SEC 10

/* Back-off after accept() fails for lack of descriptors. */
#define WSB_ACCEPT_BACKOFF_MSEC 100

/* Most worker threads; more than cores buys nothing. */
#define WSB_MAX_WORKERS 256

/* Room for one untrusted value (a path, a header, a Close reason) in a
 * log line, escaped by log_escape: lines are cut at 1 KiB, and 255
 * characters still say what was sent. */
#define WSB_LOG_VALUE_MAX 256

/* Token routing (token.h): the longest token accepted (bytes; longer gets
 * 400), lookups in flight per worker (more get 503 at once), and how long
 * a back end (Redis, a token API) may take to answer (then 503). */
#define WSB_MAX_TOKEN 4096
#define WSB_MAX_TOKEN_LOOKUPS 1024
#define WSB_TOKEN_LOOKUP_TIMEOUT_MSEC 2000
/* Blocking-work jobs (file reads for token plugins) queued at most. */
#define WSB_MAX_TOKEN_JOBS 4096

/* BaseTokenAPI / JSONTokenApi (token_api.c): the most response body kept
 * (bytes; a longer one is refused).  A target or a small JSON object fits
 * many times over, and 1024 lookups in flight then hold at most 4 MiB. */
#define WSB_TOKEN_API_MAX_BODY 4096

/* TokenRedis (token_redis.c): reconnecting to Redis after a refused or
 * lost connection waits the first delay, doubled after each failure up
 * to the last (msec): a Redis restart is noticed within 100 ms, a Redis
 * that stays down costs each worker one connect every 5 s.  A value
 * longer than WSB_TOKEN_REDIS_MAX_VALUE bytes is refused as malformed: a
 * target, or a JSON object holding one, is far shorter. */
#define WSB_TOKEN_REDIS_RETRY_MIN_MSEC 100
#define WSB_TOKEN_REDIS_RETRY_MAX_MSEC 5000
#define WSB_TOKEN_REDIS_MAX_VALUE 4096

/* Token files (token_file.c, token_file_name.c): the longest target a
 * line (or a TokenFileName file) may give, in bytes: a DNS name is at
 * most 253, a Unix socket path 107, so anything longer is a mistake.  A
 * token file larger than WSB_TOKEN_FILE_MAX_SIZE bytes is refused (it is
 * held in memory; 100,000 tokens take about 6 MiB).  TokenFileName reads
 * at most WSB_TOKEN_FILE_NAME_READ bytes of a token's file (one target
 * and its blanks; more is malformed). */
#define WSB_TOKEN_FILE_MAX_TARGET 512
#define WSB_TOKEN_FILE_MAX_SIZE (256 * 1024 * 1024)
#define WSB_TOKEN_FILE_NAME_READ 1024
/* TokenFile: a file written (IN_MODIFY) and not yet closed is not read
 * until its IN_CLOSE_WRITE, or until no write came for this long (msec):
 * a program that keeps the file open and rewrites it still gets its
 * edits taken in, a second after its last write. */
#define WSB_TOKEN_FILE_WRITE_GRACE_MSEC 1000
/* TokenFile (token_file_watch.c): a source whose mtime or ctime is less
 * than this old (msec) is not read yet (it may be between a truncation
 * and its write): a reload waits for the quiet, or the last table
 * answers while the file keeps changing.  Far above a file time's
 * granularity (a jiffy), far below a person's notice. */
#define WSB_TOKEN_FILE_QUIET_MSEC 50

/* JWTTokenApi (token_jwt.c): a key file larger than WSB_JWT_MAX_KEY_FILE
 * bytes is refused (a 16384-bit RSA private key in PEM is about 12 KiB; a
 * certificate a few more).  A "host" claim longer than WSB_JWT_MAX_HOST
 * bytes is refused: a DNS name is at most 253. */
#define WSB_JWT_MAX_KEY_FILE (64 * 1024)
#define WSB_JWT_MAX_HOST 255

/* SIGTERM/SIGINT: how long sessions get to finish after Close 1001
 * before the rest are closed (seconds; --shutdown-timeout). */
#define WSB_SHUTDOWN_TIMEOUT_SEC 10

#endif
