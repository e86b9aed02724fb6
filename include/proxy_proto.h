/*
 * The PROXY protocol, versions 1 and 2 (haproxy's doc/proxy-protocol.txt,
 * "proxy-protocol.txt" below): a header a proxy sends first on a
 * connection to say whom it relays.  Pure: buffers in, results out; no
 * I/O, no allocation.
 */
#ifndef WSB_PROXY_PROTO_H
#define WSB_PROXY_PROTO_H

#include <stddef.h>
#include <sys/socket.h>

/* proxy-protocol.txt 2.1: the longest v1 line, CRLF included. */
#define PROXY_PROTO_V1_MAX 107
/* proxy-protocol.txt 2.2: the fixed part of a v2 header (signature,
 * version and command, family, length). */
#define PROXY_PROTO_V2_FIXED 16
/* The longest header proxy_proto_build() writes ("PROXY TCP6 " and two
 * full IPv6 addresses and ports: 104 bytes; v2 TCP6: 52). */
#define PROXY_PROTO_BUILD_MAX 108

/* What a complete header says. */
struct proxy_header {
	int version; /* 1 or 2 */
	/*
	 * 1: the header names the relayed client in src (and the address
	 * it connected to in dst), AF_INET, AF_INET6 or (v2) AF_UNIX.
	 * 0: use the connection's own addresses: a v2 LOCAL command (a
	 * health check), v1 UNKNOWN, or a v2 family or transport other
	 * than TCP or Unix stream (proxy-protocol.txt 2.2: "falls back to
	 * the UNSPEC mode").
	 */
	int			relayed;
	int			local; /* v2 LOCAL command */
	struct sockaddr_storage src, dst;
	socklen_t		src_len, dst_len;
	const char	       *error; /* -1: why, for a log line */
};

/*
 * Parse the header at the start of buf[0..len).  Returns its length in
 * bytes (> 0; what follows is the next protocol's), -2 if buf is a
 * valid beginning of a header that needs more bytes, or -1 if buf is not
 * (the start of) a valid header, with h->error set: wrong signature, v1
 * without CRLF in its first 107 bytes or with a bare CR or LF, bad
 * address or port (no leading zeroes), unknown version, command, family
 * or transport, an address block shorter than its family needs, TLVs
 * past the end, or a v2 header longer than WSB_PROXY_HEADER_MAX.  A
 * malformed beginning is refused as soon as it is seen; a valid header
 * gives -2 on every strict prefix.  TLVs are checked for framing and
 * skipped.  The version is told by the first byte ('P' or CR).
 */
int proxy_proto_parse(const void *buf, size_t len, struct proxy_header *h);

/*
 * How many more bytes may still belong to the header that buf[0..len)
 * begins (a valid prefix, proxy_proto_parse() gave -2): at least 1.  A
 * reader may peek this many and take what proxy_proto_parse() says.
 */
size_t proxy_proto_want(const void *buf, size_t len);

/*
 * 1 if buf[0..len) starts like a PROXY header: "PROXY " or the v2
 * signature (a prefix of it from 5 bytes on, as an HTTP parser stops at
 * its NUL).  For the hint to a port without --proxy-protocol.
 */
int proxy_proto_detect(const void *buf, size_t len);

/*
 * Write a version (1 or 2) header into out (outlen bytes;
 * PROXY_PROTO_BUILD_MAX is enough) saying the connection relays src,
 * which connected to dst.  Both AF_INET: TCP4; AF_INET6 (or one of each,
 * the IPv4 one then IPv4-mapped; both IPv4-mapped: TCP4): TCP6; dst
 * neither while src is: dst as the unspecified address of src's family,
 * port 0.  Anything else (a Unix-socket client): v1 "PROXY UNKNOWN", v2
 * LOCAL with AF_UNSPEC, as haproxy sends (make_proxy_line).  Returns the
 * length written, or -1 if outlen is too small or version is not 1 or 2.
 */
int proxy_proto_build(int version, const struct sockaddr *src,
    const struct sockaddr *dst, void *out, size_t outlen);

#endif
