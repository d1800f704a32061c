/* SPDX-License-Identifier: MIT */
/*
 * h2rec ABI shared by the kernel program (h2rec.bpf.c), the loader
 * (loader.c) and the Node decoder (src/record/abi.ts).
 *
 * Every ring-buffer record starts with struct h2rec_hdr. All fields are
 * little-endian (x86_64/arm64 hosts) and fixed width with explicit padding,
 * so the Node side can decode them with fixed offsets. The variable-length
 * payload is always LAST: a field after it would never be sent.
 *
 * Bump H2REC_ABI_VERSION whenever a layout below changes; the journal stores
 * it so an old journal is never decoded with a new layout.
 */
#ifndef H2REC_H
#define H2REC_H

#define H2REC_ABI_VERSION 1

/* Per-CPU scratch value is capped at 32 KiB by the kernel (PCPU_MIN_UNIT_SIZE),
 * so header + chunk must fit in it. */
#define H2REC_CHUNK_DATA 16384
#define H2REC_DEFAULT_MAX_CALL_BYTES (4u << 20)
/* The ring buffer's default size; --ringbuf-mb changes it. */
#define H2REC_DEFAULT_RINGBUF_BYTES (128UL << 20)
/* The system TLS libraries attached by default (sonames, searched in the usual library directories). */
#define H2REC_SYSTEM_LIBS "libssl.so.3", "libssl.so.1.1", "libgnutls.so.30"
/* These defaults are read by src/record/abi.ts's tests: the TypeScript copies must match. */
#define H2REC_MAX_FILTER_PIDS 16
#define H2REC_MAX_FILTER_PORTS 8
#define H2REC_COMM_LEN 16

enum h2rec_kind {
	H2REC_KIND_DATA = 1,  /* struct h2rec_data + payload */
	H2REC_KIND_CLOSE = 2, /* struct h2rec_close: SSL_free / gnutls_deinit */
	H2REC_KIND_SOCK = 3,  /* struct h2rec_sock: fd and addresses of a conn */
	H2REC_KIND_SKIP = 4,  /* struct h2rec_skip: bytes that passed but were not copied (sendfile, splice) */
};

enum h2rec_dir {
	H2REC_DIR_SEND = 0, /* SSL_write*, gnutls_record_send: app -> peer */
	H2REC_DIR_RECV = 1, /* SSL_read*, gnutls_record_recv: peer -> app */
};

enum h2rec_lib {
	H2REC_LIB_OPENSSL = 1, /* OpenSSL and BoringSSL share the symbol names */
	H2REC_LIB_GNUTLS = 2,
	/* Plaintext socket I/O (read, write, send and recv syscalls on a TCP socket);
	 * ptr is then the kernel's struct sock, gen the ktime it was first seen. */
	H2REC_LIB_SOCKET = 3,
	H2REC_LIB_GO = 4, /* Go crypto/tls: ptr is the *tls.Conn */
};

enum h2rec_skip_reason {
	H2REC_SKIP_SENDFILE = 1,
	H2REC_SKIP_SPLICE = 2,
};

enum h2rec_flags {
	H2REC_F_LAST = 1 << 0,      /* last chunk of this call */
	H2REC_F_TRUNCATED = 1 << 1, /* call_len > bytes copied (max_call_bytes cap) */
};

/*
 * Connection identity is (tgid, ptr, gen): ptr is the SSL*,
 * gnutls_session_t or Go *tls.Conn, gen is the ktime at which the kernel side first saw this
 * (tgid, ptr) since the last SSL_free/gnutls_deinit, so a reused pointer
 * becomes a new connection.
 */
struct h2rec_hdr {
	__u16 kind;    /* enum h2rec_kind */
	__u16 hdr_len; /* bytes before the payload (sizeof the kind's struct) */
	__u32 abi;     /* H2REC_ABI_VERSION */
	__u32 tgid;    /* process id */
	__u32 tid;     /* thread id */
	__u64 ptr;     /* SSL* / gnutls_session_t / *tls.Conn */
	__u64 gen;     /* connection generation (ktime ns when first seen) */
	char comm[H2REC_COMM_LEN];
};

struct h2rec_data {
	struct h2rec_hdr h;
	__u64 ts_entry_ns;  /* bpf_ktime_get_ns() at the uprobe */
	__u64 ts_return_ns; /* bpf_ktime_get_ns() at the uretprobe */
	__u64 pos;          /* byte position of the call's first byte in (conn, dir) */
	__u32 call_len;     /* bytes the call really transferred (return value) */
	__u32 chunk_off;    /* offset of this chunk within the call */
	__u32 chunk_len;    /* payload bytes following this struct */
	__s32 fd;           /* socket fd if seen in a nested syscall, else -1 */
	__u8 dir;           /* enum h2rec_dir */
	__u8 lib;           /* enum h2rec_lib */
	__u16 flags;        /* enum h2rec_flags */
	__u32 _pad;
	/* __u8 data[chunk_len] follows */
};

/* A call whose bytes advanced the connection but could not be copied: a gap of known size. */
struct h2rec_skip {
	struct h2rec_hdr h;
	__u64 ts_entry_ns;
	__u64 ts_return_ns;
	__u64 pos;    /* byte position of the first byte not copied */
	__u64 len;    /* bytes not copied */
	__u8 dir;     /* enum h2rec_dir */
	__u8 reason;  /* enum h2rec_skip_reason */
	__u16 _pad0;
	__s32 fd;
};

struct h2rec_close {
	struct h2rec_hdr h;
	__u64 ts_ns;
	__u64 end_pos[2]; /* final byte position per direction (send, recv) */
};

struct h2rec_sock {
	struct h2rec_hdr h;
	__u64 ts_ns;
	__s32 fd;
	__u16 family;  /* AF_INET (2) or AF_INET6 (10); 0 when unknown */
	__u16 lport;   /* host byte order */
	__u16 rport;   /* host byte order */
	__u8 lib;      /* enum h2rec_lib of the call that found the socket */
	__u8 _pad1;
	__u16 _pad[2];
	__u8 laddr[16]; /* IPv4 uses the first 4 bytes, network order */
	__u8 raddr[16];
};

/*
 * Map "conns": (tgid, SSL*) -> next byte position per direction. The loader
 * reads it at stop to report end positions of connections still open.
 */
struct h2rec_conn_key {
	__u32 tgid;
	__u32 _pad;
	__u64 ptr;
};

struct h2rec_conn_state {
	__u64 gen;
	__u64 pos[2]; /* next byte position per direction */
	__s32 fd;
	__u32 closed; /* SSL_free seen but its close record was lost */
};

/*
 * Map "socks": struct sock * -> plaintext socket state. The loader reads it
 * at stop to report end positions of sockets still open.
 */
enum h2rec_sock_closed {
	H2REC_SOCK_OPEN = 0,
	H2REC_SOCK_CLOSED = 1,     /* TCP_CLOSE seen, its close record delivered */
	H2REC_SOCK_CLOSE_LOST = 2, /* TCP_CLOSE seen, its close record lost: the final dump has the end */
};

struct h2rec_sock_state {
	__u64 gen;
	__u64 ino;       /* sockfs inode number of the socket */
	__u64 pos[2];
	__u32 tgid;
	__s32 fd;
	__u8 tls;        /* ciphertext: counted, not stored */
	__u8 sock_sent;  /* its h2rec_sock record went out */
	__u8 checked[2]; /* the first bytes of each direction were checked for a TLS record */
	__u32 closed;    /* enum h2rec_sock_closed */
};

/* Per-CPU loss counters (map "losses", one entry). */
struct h2rec_loss {
	__u64 records; /* ring-buffer outputs that failed */
	__u64 bytes;   /* payload bytes those records carried */
	__u64 truncated_calls; /* calls cut at max_call_bytes */
	__u64 truncated_bytes; /* bytes beyond the cap, not copied by design */
	/* TLS ciphertext seen on sockets and not stored: its plaintext comes from
	 * the TLS probes (counted, so nothing passes unseen). */
	__u64 cipher_calls;
	__u64 cipher_bytes;
};

#ifndef __cplusplus
/* Field offsets, as src/record/abi.ts's OFF table decodes and encodes them (its test reads these lines). */
_Static_assert(__builtin_offsetof(struct h2rec_hdr, kind) == 0, "h2rec_hdr.kind");
_Static_assert(__builtin_offsetof(struct h2rec_hdr, hdr_len) == 2, "h2rec_hdr.hdr_len");
_Static_assert(__builtin_offsetof(struct h2rec_hdr, abi) == 4, "h2rec_hdr.abi");
_Static_assert(__builtin_offsetof(struct h2rec_hdr, tgid) == 8, "h2rec_hdr.tgid");
_Static_assert(__builtin_offsetof(struct h2rec_hdr, tid) == 12, "h2rec_hdr.tid");
_Static_assert(__builtin_offsetof(struct h2rec_hdr, ptr) == 16, "h2rec_hdr.ptr");
_Static_assert(__builtin_offsetof(struct h2rec_hdr, gen) == 24, "h2rec_hdr.gen");
_Static_assert(__builtin_offsetof(struct h2rec_hdr, comm) == 32, "h2rec_hdr.comm");
_Static_assert(__builtin_offsetof(struct h2rec_data, ts_entry_ns) == 48, "h2rec_data.ts_entry_ns");
_Static_assert(__builtin_offsetof(struct h2rec_data, ts_return_ns) == 56, "h2rec_data.ts_return_ns");
_Static_assert(__builtin_offsetof(struct h2rec_data, pos) == 64, "h2rec_data.pos");
_Static_assert(__builtin_offsetof(struct h2rec_data, call_len) == 72, "h2rec_data.call_len");
_Static_assert(__builtin_offsetof(struct h2rec_data, chunk_off) == 76, "h2rec_data.chunk_off");
_Static_assert(__builtin_offsetof(struct h2rec_data, chunk_len) == 80, "h2rec_data.chunk_len");
_Static_assert(__builtin_offsetof(struct h2rec_data, fd) == 84, "h2rec_data.fd");
_Static_assert(__builtin_offsetof(struct h2rec_data, dir) == 88, "h2rec_data.dir");
_Static_assert(__builtin_offsetof(struct h2rec_data, lib) == 89, "h2rec_data.lib");
_Static_assert(__builtin_offsetof(struct h2rec_data, flags) == 90, "h2rec_data.flags");
_Static_assert(__builtin_offsetof(struct h2rec_skip, ts_entry_ns) == 48, "h2rec_skip.ts_entry_ns");
_Static_assert(__builtin_offsetof(struct h2rec_skip, ts_return_ns) == 56, "h2rec_skip.ts_return_ns");
_Static_assert(__builtin_offsetof(struct h2rec_skip, pos) == 64, "h2rec_skip.pos");
_Static_assert(__builtin_offsetof(struct h2rec_skip, len) == 72, "h2rec_skip.len");
_Static_assert(__builtin_offsetof(struct h2rec_skip, dir) == 80, "h2rec_skip.dir");
_Static_assert(__builtin_offsetof(struct h2rec_skip, reason) == 81, "h2rec_skip.reason");
_Static_assert(__builtin_offsetof(struct h2rec_skip, fd) == 84, "h2rec_skip.fd");
_Static_assert(__builtin_offsetof(struct h2rec_close, ts_ns) == 48, "h2rec_close.ts_ns");
_Static_assert(__builtin_offsetof(struct h2rec_close, end_pos) == 56, "h2rec_close.end_pos");
_Static_assert(__builtin_offsetof(struct h2rec_sock, ts_ns) == 48, "h2rec_sock.ts_ns");
_Static_assert(__builtin_offsetof(struct h2rec_sock, fd) == 56, "h2rec_sock.fd");
_Static_assert(__builtin_offsetof(struct h2rec_sock, family) == 60, "h2rec_sock.family");
_Static_assert(__builtin_offsetof(struct h2rec_sock, lport) == 62, "h2rec_sock.lport");
_Static_assert(__builtin_offsetof(struct h2rec_sock, rport) == 64, "h2rec_sock.rport");
_Static_assert(__builtin_offsetof(struct h2rec_sock, lib) == 66, "h2rec_sock.lib");
_Static_assert(__builtin_offsetof(struct h2rec_sock, laddr) == 72, "h2rec_sock.laddr");
_Static_assert(__builtin_offsetof(struct h2rec_sock, raddr) == 88, "h2rec_sock.raddr");
_Static_assert(sizeof(struct h2rec_hdr) == 48, "h2rec_hdr layout");
_Static_assert(sizeof(struct h2rec_data) == 96, "h2rec_data layout");
_Static_assert(sizeof(struct h2rec_close) == 72, "h2rec_close layout");
_Static_assert(sizeof(struct h2rec_sock) == 104, "h2rec_sock layout");
_Static_assert(sizeof(struct h2rec_loss) == 48, "h2rec_loss layout");
_Static_assert(sizeof(struct h2rec_skip) == 88, "h2rec_skip layout");
_Static_assert(sizeof(struct h2rec_sock_state) == 48, "h2rec_sock_state layout");
_Static_assert(sizeof(struct h2rec_conn_key) == 16, "h2rec_conn_key layout");
_Static_assert(sizeof(struct h2rec_conn_state) == 32, "h2rec_conn_state layout");
#endif

/*
 * Loader -> Node stream (loader stdout). Each message:
 *   u32 type | u32 len | payload[len]        (little-endian)
 * H2REC_MSG_RECORD: payload is one ring-buffer record, verbatim.
 * H2REC_MSG_JSON:   payload is one UTF-8 JSON object, printed by loader.c's emit_json()
 * and read by src/record/messages.ts (loss, final) and src/record/record.ts (all):
 *   {"t":"probe","binary":..,"symbol":..,"ok":true|false,"error":..}      one per probe attempted
 *      Go functions add "go":"go1.N..","via":"symtab"|"pclntab","rets":N (uprobes at RET instructions)
 *   {"t":"warn","msg":".."}                                              a --pid or target with nothing to probe
 *   {"t":"ready","sockets":bool,"probes":N,"targets":N,"ringbuf_bytes":N,"max_call_bytes":N,"ncpus":N,"abi":N}
 *   {"t":"loss","cpu":[{"records":"N","bytes":"N","truncated_calls":"N","truncated_bytes":"N",
 *                       "cipher_calls":"N","cipher_bytes":"N"},...]}    cumulative, per CPU, every second and at stop
 *   {"t":"final","tgid":N,"ptr":"0x..","gen":"N","end_pos":["N","N"]}  a connection or socket open at stop
 *   {"t":"count","hits":N}   (--count-only, the benchmark's floor: probe hits counted)
 *   {"t":"stopped"}          the last message: after it only the (slow) detach remains
 * 64-bit values in JSON are decimal strings (pointers 0x-prefixed hex).
 */
#define H2REC_MSG_RECORD 1
#define H2REC_MSG_JSON 2

#endif /* H2REC_H */
