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

/* With --metrics, how often each worker's loop measures its own lag (a
 * timer's lateness): often enough to catch a stall, a wake-up each
 * quarter second costs nothing. */
#define WSB_LOOP_LAG_SAMPLE_MSEC 250

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

/* Open files kept out of the sessions' share of RLIMIT_NOFILE: listeners,
 * log and syslog sockets, event loops, token sources, recordings. */
#define WSB_FD_RESERVE 64

/* --syslog: the largest datagram sent (bytes; a longer message is cut).
 * RFC 5424 6.1 asks receivers to take 2048, RFC 5426 3.2 UDP receivers
 * too; a 1 KiB log line and its header fit. */
#define WSB_SYSLOG_MAX 2048

/* --syslog: seconds between two warnings that lines could not be sent
 * (a server that is down must not flood stderr or the log file). */
#define WSB_SYSLOG_WARN_SEC 60

/* listen(2) backlog of every listening socket (TCP and --unix-listen):
 * connections the kernel completes while the workers are busy; the
 * kernel caps it at net.core.somaxconn (4096 since Linux 5.4). */
#define WSB_LISTEN_BACKLOG 1024

/* --record: data bytes a recording may have queued for the writer
 * thread before it ends (the disk fell behind; the session goes on), and
 * all recordings together: memory stays bounded whatever the relay
 * moves.  A recording's text is up to 4 times its bytes (\xNN). */
#define WSB_RECORD_QUEUE (16 * 1024 * 1024)
#define WSB_RECORD_QUEUE_TOTAL (128 * 1024 * 1024)

/* --record: the writer's buffer per file, written when full or when the
 * queue runs dry: a VNC session's many small chunks in few writes. */
#define WSB_RECORD_BUFFER (64 * 1024)

/* --record: seconds without progress after which the exiting process
 * stops waiting for the writer thread (a hung disk, a FIFO nobody
 * reads); a disk that moves is waited for. */
#define WSB_RECORD_STALL_SEC 2

/* Wrap mode (wrap.c).  Stopping the wrapped command: SIGTERM to its
 * process group, then SIGKILL if it still runs WSB_WRAP_KILL_MSEC later
 * (room for a server to close its clients; wsbridge's own exit waits
 * for it), its exit looked for every WSB_WRAP_REAP_POLL_MSEC.  Respawn:
 * at most WSB_WRAP_RESPAWN_STARTS starts within
 * WSB_WRAP_RESPAWN_WINDOW_SEC seconds (websockify's "Command respawning
 * too fast": 3 in 10 s); a further start waits until the oldest of them
 * is that old, so a command that dies at once costs 3 forks per 10 s.
 * The command line is logged escaped, cut at WSB_WRAP_LOG_CMD bytes. */
#define WSB_WRAP_KILL_MSEC 5000
#define WSB_WRAP_REAP_POLL_MSEC 10
#define WSB_WRAP_RESPAWN_STARTS 3
#define WSB_WRAP_RESPAWN_WINDOW_SEC 10
#define WSB_WRAP_LOG_CMD 256

/* --trusted-proxy: most CIDRs (forwarded.h).  The list is held in a
 * fixed array (parsed on the stack per request head, no allocation);
 * 64 covers a CDN's published ranges with room. */
#define WSB_MAX_TRUSTED_PROXIES 64

/* --proxy-protocol: milliseconds a connection has, from its accept, to
 * send its whole PROXY header (a total deadline: a header sent a byte at
 * a time does not stretch it).  A proxy sends the header with its first
 * segment, so 3 s covers a retransmitted SYN-ACK or segment; a client
 * that is no proxy is dropped well before the request-head deadline.
 * WSB_PROXY_HEADER_MAX: the longest v2 header taken, in bytes (the
 * 16-byte fixed part included; v1 lines are 107 at most): Unix addresses
 * (216) and the TLVs load balancers add (haproxy's unique id, authority,
 * SSL; a cloud's endpoint ids) fit several times; longer is refused. */
#define WSB_PROXY_HEADER_TIMEOUT_MSEC 3000
#define WSB_PROXY_HEADER_MAX 2048

#endif
