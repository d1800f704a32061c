// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * h2rec kernel side: uprobes on the TLS libraries' plaintext calls. Every
 * byte a call really transferred is copied, in chunks, through a per-CPU
 * scratch buffer into a ring buffer; anything that cannot be delivered is
 * counted, never dropped silently. Layouts: h2rec.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "h2rec.h"

/* libbpf 1.1 (Debian 12) has no BPF_UPROBE; BPF_KPROBE reads the same registers. */

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by the loader before load; the verifier drops branches switched off. */
const volatile __u32 max_call_bytes = H2REC_DEFAULT_MAX_CALL_BYTES;
const volatile __u32 n_filter_pids = 0;
const volatile __u32 filter_pids[H2REC_MAX_FILTER_PIDS] = {};
const volatile __u8 has_comm_filter = 0;
const volatile char filter_comm[H2REC_COMM_LEN] = {};
/* The loader sets this to a fraction of the ring (--ringbuf-*). */
const volatile __u64 wakeup_bytes = 1 << 20;
/*
 * Set by the loader (through the mmapped .bss) when it stops. Detaching a
 * uprobe waits for a grace period, about 100 ms each on 6.18, so detaching
 * every probe before the final drain made each stop take 1.5 s; probes that
 * see this flag do nothing, so the loader can drain and report at once and
 * detach afterwards. A call that returns after it is set is not recorded and
 * does not advance its connection's position, exactly as if detached.
 */
volatile __u32 quiesced = 0;
/* Set by the loader when it placed Go probes, or may place them later: only then does sys_enter look for a goroutine's call. */
const volatile __u8 go_enabled = 0;
/*
 * System-wide recording with --comm: a program of that name that starts
 * while we record may be a Go program, whose crypto/tls is linked into its
 * own executable (no shared library already probed). on_exec tells the
 * loader its pid, and the loader probes the executable then.
 */
const volatile __u8 watch_execs = 0;
/* execs whose pid did not fit in the execs ring: the loader warns about them */
volatile __u32 exec_drops = 0;
/* Plaintext socket capture (--no-sockets clears it) and its --port filter. */
const volatile __u8 capture_sockets = 0;
const volatile __u32 n_filter_ports = 0;
const volatile __u16 filter_ports[H2REC_MAX_FILTER_PORTS] = {};

#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define AF_INET 2
#define AF_INET6 10

/* x86_64 syscall numbers of the calls a TLS library makes on its socket. */
#define NR_read 0
#define NR_write 1
#define NR_readv 19
#define NR_writev 20
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_sendfile 40
#define NR_splice 275

#define MSG_PEEK 2
#define IPPROTO_TCP 6
#define SOCK_STREAM 1
#define TCP_CLOSE 7

struct call_args {
	__u64 ptr;     /* SSL* / gnutls_session_t */
	__u64 buf;     /* user buffer */
	__u64 len_ptr; /* size_t *written / *readbytes of the _ex calls, else 0 */
	__u64 ts_entry;
	__s32 fd;      /* from a nested socket syscall, -1 until seen */
	__u8 dir;
	__u8 lib;
	__u8 ex;
	__u8 _pad;
};

/* Thread -> its TLS call in progress. Key: pid_tgid. The uretprobe deletes it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct call_args);
} active SEC(".maps");

/*
 * Go: a call in progress per goroutine, key (tgid, g). A Read that blocks
 * parks its goroutine, which resumes on whatever OS thread the scheduler
 * picks, so the thread id cannot pair entry and return; the g pointer (the
 * ABI keeps it in R14) can. LRU: a goroutine that panics out of a call never
 * reaches a RET, and its entry must not stay forever.
 */
struct go_call {
	struct call_args a;
	__u64 stack_off; /* hi - buf when buf is on the goroutine's stack, else 0 */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct h2rec_conn_key);
	__type(value, struct go_call);
} go_calls SEC(".maps");

/*
 * Go: calls in flight per connection, and whether (*Conn).Close has returned.
 * crypto/tls lets Close run while a Write is in flight on another goroutine:
 * both go through its activeCall word (Write adds 2 while it runs, Close sets
 * bit 0), and a Write that got in before Close's compare-and-swap still sends
 * its bytes, then returns after Close did. net/http's HTTP/2 server does
 * exactly this with its last frame: a writer goroutine flushes the GOAWAY
 * while the serve loop closes the connection.
 *
 * Close's entry is too early to decide: a Write whose entry probe runs just
 * after it can still win the compare-and-swap, send its bytes and return
 * after Close. Ending the connection at Close's entry therefore lost that race
 * (about one CI run in three for the HTTP/2 server; 9-11 connections in 300
 * in the closerace test): the Write's bytes started a second generation, a
 * spurious connection beginning mid-stream. So `state` mirrors activeCall, in
 * one word changed only by atomic operations:
 *  - a call's entry adds 2 before anything else it does (before it publishes
 *    its go_call), so a Close that comes after sees it;
 *  - Close decides at its RETs, not at its entry: by then its own
 *    compare-and-swap has happened, and every Write that got in before it
 *    had already passed its entry probe (the probe runs before the Write's
 *    first instruction). A Write entering later finds activeCall's bit 0 and
 *    returns 0 bytes, so it carries nothing to record;
 *  - Close's RET sets bit 0 (fetch-or): if nothing was in flight it ends the
 *    connection itself; else the call whose return takes the word from 3
 *    (closing, itself the last) ends it.
 * Exactly one of them sees the word in the state that ends it, so the end
 * positions cover every byte and the close record is written once. The entry
 * is then deleted: a *tls.Conn address reused by the allocator after the
 * collector freed it starts a new generation (emit_call), as before.
 */
#define GO_CLOSING 1
#define GO_CALL 2
struct go_conn {
	__s64 state; /* GO_CALL per call in flight, | GO_CLOSING once Close returned */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct h2rec_conn_key);
	__type(value, struct go_conn);
} go_conns SEC(".maps");

/* Go: the *tls.Conn of a Close in progress, key (tgid, g): at its RETs, RAX holds the error, not the receiver. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct h2rec_conn_key);
	__type(value, __u64);
} go_closes SEC(".maps");

/*
 * (tgid, SSL*) -> positions. SSL_free/gnutls_deinit delete the entry so a
 * reused pointer starts a new generation. LRU bounds the memory of processes
 * that never free their sessions; the loader dumps what is left at stop.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct h2rec_conn_key);
	__type(value, struct h2rec_conn_state);
} conns SEC(".maps");

struct scratch {
	struct h2rec_data hdr;
	__u8 data[H2REC_CHUNK_DATA];
};

/* The 512-byte BPF stack cannot hold a chunk, so records are built here. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h2rec_loss);
} losses SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, H2REC_DEFAULT_RINGBUF_BYTES); /* the loader resizes it (--ringbuf-mb) */
} rb SEC(".maps");

/*
 * A wakeup per record costs the traced program an irq_work and the loader a
 * context switch for every call: on a busy 2-core host that was the largest
 * share of our overhead beyond the bare uprobes. So records are written
 * without a wakeup, and the loader is woken only when wakeup_bytes have piled
 * up; below that it finds them on its next poll timeout (the ring buffer's
 * poll reports readable whenever data is there, wakeup or not).
 */
static __always_inline __u64 rb_flags(void)
{
	return bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void count_loss(__u64 records, __u64 bytes)
{
	__u32 zero = 0;
	struct h2rec_loss *l = bpf_map_lookup_elem(&losses, &zero);
	if (l) {
		l->records += records;
		l->bytes += bytes;
	}
}

static __always_inline bool wanted(__u32 tgid)
{
	if (n_filter_pids) {
		bool hit = false;
		/* Bounded by the array size so the verifier sees a finite loop. */
		for (int i = 0; i < H2REC_MAX_FILTER_PIDS; i++) {
			if (i >= n_filter_pids)
				break;
			if (filter_pids[i] == tgid)
				hit = true;
		}
		if (!hit)
			return false;
	}
	if (has_comm_filter) {
		char comm[H2REC_COMM_LEN];
		bpf_get_current_comm(comm, sizeof(comm));
		for (int i = 0; i < H2REC_COMM_LEN; i++) {
			if (comm[i] != filter_comm[i])
				return false;
			if (comm[i] == 0)
				break;
		}
	}
	return true;
}

static __always_inline int on_entry(__u64 ptr, __u64 buf, __u64 len_ptr, __u8 dir, __u8 lib, __u8 ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (quiesced || !wanted(id >> 32))
		return 0;
	struct call_args a = {
		.ptr = ptr,
		.buf = buf,
		.len_ptr = len_ptr,
		.ts_entry = bpf_ktime_get_ns(),
		.fd = -1,
		.dir = dir,
		.lib = lib,
		.ex = ex,
	};
	bpf_map_update_elem(&active, &id, &a, BPF_ANY);
	return 0;
}

static __always_inline void fill_hdr(struct h2rec_hdr *h, __u16 kind, __u16 len, __u64 id, __u64 ptr, __u64 gen)
{
	h->kind = kind;
	h->hdr_len = len;
	h->abi = H2REC_ABI_VERSION;
	h->tgid = id >> 32;
	h->tid = (__u32)id;
	h->ptr = ptr;
	h->gen = gen;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/*
 * The IPv4/IPv6 socket behind fd in the current task, read with CO-RE from
 * its fd table; NULL otherwise. *ino gets its sockfs inode number, unique per
 * socket: a struct sock address is reused once freed, its inode number is not.
 */
static __always_inline struct sock *inet_sock_of_fd(__s32 fd, __u64 *ino)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max_fds = BPF_CORE_READ(task, files, fdt, max_fds);
	if (fd < 0 || (unsigned int)fd >= max_fds)
		return NULL;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f)
		return NULL;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	*ino = BPF_CORE_READ(f, f_inode, i_ino);
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	return family == AF_INET || family == AF_INET6 ? sk : NULL;
}

/* Addresses of the socket behind fd. */
static __always_inline void emit_sock(__u64 id, __u64 ptr, __u64 gen, __s32 fd, __u64 ts_entry, __u8 lib)
{
	struct h2rec_sock s = {};
	fill_hdr(&s.h, H2REC_KIND_SOCK, sizeof(s), id, ptr, gen);
	/* The socket was known when the call began: stamping it just before the
	 * call's entry sorts it ahead of that call's data, so the analyzer can
	 * name the connection's addresses before its first byte. */
	s.ts_ns = ts_entry - 1;
	s.fd = fd;
	s.lib = lib;
	__u64 ino = 0;
	struct sock *sk = inet_sock_of_fd(fd, &ino);
	if (sk) {
		__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
		s.family = family;
		s.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		s.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (family == AF_INET) {
			BPF_CORE_READ_INTO(&s.laddr, sk, __sk_common.skc_rcv_saddr);
			BPF_CORE_READ_INTO(&s.raddr, sk, __sk_common.skc_daddr);
		} else {
			BPF_CORE_READ_INTO(&s.laddr, sk, __sk_common.skc_v6_rcv_saddr);
			BPF_CORE_READ_INTO(&s.raddr, sk, __sk_common.skc_v6_daddr);
		}
	}
	if (bpf_ringbuf_output(&rb, &s, sizeof(s), rb_flags()))
		count_loss(1, 0);
}

struct emit_ctx {
	__u64 buf;
	__u32 copy_len;
	__u32 call_len;
};

static long emit_chunk(__u32 i, struct emit_ctx *c)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 1;
	/* 64-bit arithmetic: a 32-bit n leaves the verifier unsure of the upper half. */
	__u64 off = (__u64)i * H2REC_CHUNK_DATA;
	if (off >= c->copy_len)
		return 1;
	__u64 n = c->copy_len - off;
	if (n > H2REC_CHUNK_DATA)
		n = H2REC_CHUNK_DATA;
	/* Keep clang from folding the clamp away so the verifier sees n <= the buffer. */
	barrier_var(n);
	if (n > H2REC_CHUNK_DATA)
		return 1;
	__u16 flags = 0;
	if (off + n >= c->copy_len) {
		flags |= H2REC_F_LAST;
		if (c->call_len > c->copy_len)
			flags |= H2REC_F_TRUNCATED;
	}
	s->hdr.chunk_off = off;
	s->hdr.chunk_len = n;
	s->hdr.flags = flags;
	if (n == H2REC_CHUNK_DATA) {
		/* A full chunk has the constant size a reservation needs: read the
		 * user bytes straight into the ring, one copy instead of two. */
		struct scratch *r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
		if (!r) {
			count_loss(1, n);
			return 0;
		}
		__builtin_memcpy(&r->hdr, &s->hdr, sizeof(r->hdr));
		if (bpf_probe_read_user(r->data, H2REC_CHUNK_DATA, (void *)(c->buf + off))) {
			bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);
			count_loss(1, n);
			return 0;
		}
		bpf_ringbuf_submit(r, rb_flags());
		return 0;
	}
	if (bpf_probe_read_user(s->data, n, (void *)(c->buf + off))) {
		/* Unreadable user memory: the bytes are lost, and counted as such. */
		count_loss(1, n);
		return 0;
	}
	if (bpf_ringbuf_output(&rb, s, sizeof(s->hdr) + n, rb_flags()))
		count_loss(1, n);
	return 0;
}

/* The per-CPU scratch record's header for one call's data; its chunks are filled by emit_chunk. */
static __always_inline struct scratch *start_data(__u64 id, __u64 ptr, __u64 gen, __u64 ts_entry, __u64 pos, __u32 len, __s32 fd, __u8 dir, __u8 lib)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return NULL;
	fill_hdr(&s->hdr.h, H2REC_KIND_DATA, sizeof(s->hdr), id, ptr, gen);
	s->hdr.ts_entry_ns = ts_entry;
	s->hdr.ts_return_ns = bpf_ktime_get_ns();
	s->hdr.pos = pos;
	s->hdr.call_len = len;
	s->hdr.fd = fd;
	s->hdr.dir = dir;
	s->hdr.lib = lib;
	s->hdr._pad = 0;
	return s;
}

/* Bytes of a call to copy: at most max_call_bytes; the rest is counted as truncated, by design. */
static __always_inline __u32 copy_len(__u32 len)
{
	if (len <= max_call_bytes)
		return len;
	__u32 zero = 0;
	struct h2rec_loss *l = bpf_map_lookup_elem(&losses, &zero);
	if (l) {
		l->truncated_calls += 1;
		l->truncated_bytes += len - max_call_bytes;
	}
	return max_call_bytes;
}

/*
 * Emits the len bytes a call transferred from buf: advances its connection's
 * position and writes the records. Shared by every library's return probe.
 */
static __always_inline void emit_call(__u64 id, struct call_args *a, __u64 buf, __u64 len)
{
	struct h2rec_conn_key k = { .tgid = id >> 32, .ptr = a->ptr };
	struct h2rec_conn_state *st = bpf_map_lookup_elem(&conns, &k);
	if (st && st->closed) {
		bpf_map_delete_elem(&conns, &k);
		st = NULL;
	}
	if (!st) {
		struct h2rec_conn_state z = { .gen = bpf_ktime_get_ns(), .fd = -1 };
		bpf_map_update_elem(&conns, &k, &z, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&conns, &k);
		if (!st)
			return;
	}
	__u8 dir = a->dir & 1;
	__u64 pos = __sync_fetch_and_add(&st->pos[dir], len);
	__u64 gen = st->gen;
	if (a->fd >= 0 && st->fd < 0) {
		st->fd = a->fd;
		emit_sock(id, a->ptr, gen, a->fd, a->ts_entry, a->lib);
	}

	if (!start_data(id, a->ptr, gen, a->ts_entry, pos, len, st->fd, dir, a->lib))
		return;
	__u32 copy = copy_len(len);
	struct emit_ctx c = { .buf = buf, .copy_len = copy, .call_len = len };
	bpf_loop((copy + H2REC_CHUNK_DATA - 1) / H2REC_CHUNK_DATA, emit_chunk, &c, 0);
}

static __always_inline int on_return(long ret)
{
	if (quiesced)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args *a = bpf_map_lookup_elem(&active, &id);
	if (!a)
		return 0;
	__u64 len = 0;
	if (a->ex) {
		/* SSL_*_ex return 1 on success; the length is in written/readbytes. */
		if ((int)ret == 1 && a->len_ptr) {
			__u64 n = 0;
			bpf_probe_read_user(&n, sizeof(n), (void *)a->len_ptr);
			len = n;
		}
	} else if (a->lib == H2REC_LIB_OPENSSL) {
		/* SSL_read/SSL_write return int: only the low 32 bits are meaningful. */
		if ((int)ret > 0)
			len = (__u32)(int)ret;
	} else if (ret > 0) {
		len = ret; /* gnutls_record_* return ssize_t */
	}
	if (len > 0 && len <= 0xffffffffULL)
		emit_call(id, a, a->buf, len);
	bpf_map_delete_elem(&active, &id);
	return 0;
}

static __always_inline int on_free(__u64 ptr)
{
	if (quiesced)
		return 0; /* the loader's final dump has the end positions */
	__u64 id = bpf_get_current_pid_tgid();
	struct h2rec_conn_key k = { .tgid = id >> 32, .ptr = ptr };
	struct h2rec_conn_state *st = bpf_map_lookup_elem(&conns, &k);
	if (!st)
		return 0;
	struct h2rec_close c = {};
	fill_hdr(&c.h, H2REC_KIND_CLOSE, sizeof(c), id, ptr, st->gen);
	c.ts_ns = bpf_ktime_get_ns();
	c.end_pos[0] = st->pos[0];
	c.end_pos[1] = st->pos[1];
	if (bpf_ringbuf_output(&rb, &c, sizeof(c), rb_flags())) {
		/* Keep the end positions for the loader's final dump; the next call on a reused pointer starts anew. */
		count_loss(1, 0);
		st->closed = 1;
		return 0;
	}
	bpf_map_delete_elem(&conns, &k);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_entry, void *ssl, const void *buf, int num)
{
	return on_entry((__u64)ssl, (__u64)buf, 0, H2REC_DIR_SEND, H2REC_LIB_OPENSSL, 0);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_entry, void *ssl, void *buf, int num)
{
	return on_entry((__u64)ssl, (__u64)buf, 0, H2REC_DIR_RECV, H2REC_LIB_OPENSSL, 0);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_entry, void *ssl, const void *buf, size_t num, size_t *written)
{
	return on_entry((__u64)ssl, (__u64)buf, (__u64)written, H2REC_DIR_SEND, H2REC_LIB_OPENSSL, 1);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_entry, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return on_entry((__u64)ssl, (__u64)buf, (__u64)readbytes, H2REC_DIR_RECV, H2REC_LIB_OPENSSL, 1);
}

SEC("uprobe")
int BPF_KPROBE(gnutls_send_entry, void *session, const void *data, size_t size)
{
	return on_entry((__u64)session, (__u64)data, 0, H2REC_DIR_SEND, H2REC_LIB_GNUTLS, 0);
}

SEC("uprobe")
int BPF_KPROBE(gnutls_recv_entry, void *session, void *data, size_t size)
{
	return on_entry((__u64)session, (__u64)data, 0, H2REC_DIR_RECV, H2REC_LIB_GNUTLS, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_return, long ret)
{
	return on_return(ret);
}

SEC("uprobe")
int BPF_KPROBE(ssl_free_entry, void *ssl)
{
	return on_free((__u64)ssl);
}

SEC("uprobe")
int BPF_KPROBE(gnutls_deinit_entry, void *session)
{
	return on_free((__u64)session);
}

/*
 * Go crypto/tls, register ABI (Go >= 1.17, the loader refuses older ones).
 * On entry to (*Conn).Write(b []byte) (int, error) and (*Conn).Read: the
 * receiver is in RAX, b's pointer in RBX and its length in RCX; at a RET, n is
 * in RAX (err in RBX:RCX). R14 always holds the current g. There are no
 * uretprobes here: the loader places go_return on every RET instruction.
 */
#if defined(__TARGET_ARCH_x86)
#define GO_RECV(r) ((r)->ax)
#define GO_BUF(r) ((r)->bx)
#define GO_RET0(r) ((r)->ax)
#define GO_G(r) ((r)->r14)
#define GO_SYS_G(regs) BPF_CORE_READ(regs, r14)
#elif defined(__TARGET_ARCH_arm64)
/* Register ABI on arm64 (Go >= 1.18): R0.., g in R28. The loader's RET finder is x86-64 only. */
#define GO_RECV(r) (((const struct user_pt_regs *)(r))->regs[0])
#define GO_BUF(r) (((const struct user_pt_regs *)(r))->regs[1])
#define GO_RET0(r) (((const struct user_pt_regs *)(r))->regs[0])
#define GO_G(r) (((const struct user_pt_regs *)(r))->regs[28])
#define GO_SYS_G(regs) BPF_CORE_READ(regs, regs[28])
#endif

/* runtime.g starts with stack {lo, hi}: a field every Go version keeps first. */
struct go_stack {
	__u64 lo, hi;
};

/* One call of ptr has ended (returned, or was never published): the last one after Close ends the connection. */
static __always_inline void go_call_done(__u32 tgid, __u64 ptr)
{
	struct h2rec_conn_key ck = { .tgid = tgid, .ptr = ptr };
	struct go_conn *gc = bpf_map_lookup_elem(&go_conns, &ck);
	if (gc && __sync_fetch_and_add(&gc->state, -GO_CALL) == (GO_CALL | GO_CLOSING)) {
		bpf_map_delete_elem(&go_conns, &ck);
		on_free(ptr);
	}
}

static __always_inline int go_entry(struct pt_regs *ctx, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (quiesced || !wanted(id >> 32))
		return 0;
	__u64 g = GO_G(ctx);
	__u64 ptr = GO_RECV(ctx);
	struct h2rec_conn_key k = { .tgid = id >> 32, .ptr = g };
	/*
	 * The same call entering again: a function whose frame does not fit the
	 * goroutine's stack calls runtime.morestack from its prologue, which
	 * grows the stack and jumps back to the function's first instruction, so
	 * this probe runs twice for one call (same goroutine, receiver and
	 * direction: a goroutine is in one Write or Read at a time). Counted
	 * twice, the connection's in-flight count stayed one call high and it
	 * never ended at its Close (no close record: about 1 run in 6 of the
	 * closerace test, whose racing Write runs on a fresh goroutine). Only
	 * this goroutine touches its key, so the lookup cannot race.
	 */
	struct go_call *prev = bpf_map_lookup_elem(&go_calls, &k);
	bool reentry = prev && prev->a.ptr == ptr && prev->a.dir == dir;
	/* Counted in flight first, published second: see go_conns. */
	struct h2rec_conn_key ck = { .tgid = id >> 32, .ptr = ptr };
	struct go_conn *gc = bpf_map_lookup_elem(&go_conns, &ck);
	if (!gc) {
		struct go_conn z = {};
		bpf_map_update_elem(&go_conns, &ck, &z, BPF_NOEXIST);
		gc = bpf_map_lookup_elem(&go_conns, &ck);
	}
	if (gc && !reentry)
		__sync_fetch_and_add(&gc->state, GO_CALL);
	struct go_call c = {
		.a = {
			.ptr = ptr,
			.buf = GO_BUF(ctx),
			.ts_entry = bpf_ktime_get_ns(),
			.fd = -1,
			.dir = dir,
			.lib = H2REC_LIB_GO,
		},
	};
	/*
	 * A buffer on the goroutine's own stack moves if the stack is copied
	 * (grown, or shrunk by the GC while a Read is parked): keep it as an
	 * offset from the stack's top and rebase it at the return.
	 */
	struct go_stack stk = {};
	if (!bpf_probe_read_user(&stk, sizeof(stk), (void *)g) && c.a.buf >= stk.lo && c.a.buf < stk.hi)
		c.stack_off = stk.hi - c.a.buf;
	/* A re-entered call keeps its first entry time: that is when it began (true order). */
	if (reentry)
		c.a.ts_entry = prev->a.ts_entry;
	if (bpf_map_update_elem(&go_calls, &k, &c, BPF_ANY) && gc && !reentry)
		go_call_done(ck.tgid, ptr); /* no return will find this call: uncount it */
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(go_write_entry)
{
	return go_entry(ctx, H2REC_DIR_SEND);
}

SEC("uprobe")
int BPF_KPROBE(go_read_entry)
{
	return go_entry(ctx, H2REC_DIR_RECV);
}

/* At every RET of (*Conn).Write and (*Conn).Read. */
SEC("uprobe")
int BPF_KPROBE(go_return)
{
	if (quiesced)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	struct h2rec_conn_key k = { .tgid = id >> 32, .ptr = GO_G(ctx) };
	struct go_call *c = bpf_map_lookup_elem(&go_calls, &k);
	if (!c)
		return 0;
	long n = (long)GO_RET0(ctx);
	__u64 buf = c->a.buf;
	if (c->stack_off) {
		struct go_stack stk = {};
		/* Cannot rebase: an unreadable buffer makes emit_chunk count the
		 * bytes as lost (a gap of known size), never read the wrong ones. */
		buf = bpf_probe_read_user(&stk, sizeof(stk), (void *)k.ptr) ? 0 : stk.hi - c->stack_off;
	}
	if (n > 0 && n <= 0xffffffffL)
		emit_call(id, &c->a, buf, (__u64)n);
	__u64 ptr = c->a.ptr;
	bpf_map_delete_elem(&go_calls, &k);
	go_call_done(k.tgid, ptr);
	return 0;
}

/*
 * (*Conn).Close: its entry notes the receiver for its RETs, where the
 * connection is ended (see go_conns for why not here). A second Close of the
 * same connection finds GO_CLOSING set (calls still in flight) or the
 * connection already ended, and changes nothing.
 */
SEC("uprobe")
int BPF_KPROBE(go_close_entry)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (quiesced || !wanted(id >> 32))
		return 0;
	struct h2rec_conn_key k = { .tgid = id >> 32, .ptr = GO_G(ctx) };
	__u64 ptr = GO_RECV(ctx);
	bpf_map_update_elem(&go_closes, &k, &ptr, BPF_ANY);
	return 0;
}

/*
 * At every RET of (*Conn).Close. The *tls.Conn cannot be freed and reused
 * before this (Close holds it), so ptr is still the connection Close closed.
 */
SEC("uprobe")
int BPF_KPROBE(go_close_return)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct h2rec_conn_key k = { .tgid = id >> 32, .ptr = GO_G(ctx) };
	__u64 *p = bpf_map_lookup_elem(&go_closes, &k);
	if (!p)
		return 0;
	struct h2rec_conn_key ck = { .tgid = k.tgid, .ptr = *p };
	bpf_map_delete_elem(&go_closes, &k);
	if (quiesced)
		return 0; /* the loader's final dump has the end positions */
	struct go_conn *gc = bpf_map_lookup_elem(&go_conns, &ck);
	if (gc) {
		__s64 was = __sync_fetch_and_or(&gc->state, GO_CLOSING);
		if (was != 0)
			return 0; /* calls in flight: the last to return ends it; or closed already */
		bpf_map_delete_elem(&go_conns, &ck);
	}
	return on_free(ck.ptr);
}

/*
 * The benchmark's floor (loader --count-only): a uprobe that only counts, at
 * exactly the places the Go probes sit, behind the same filters. bpftrace
 * cannot be the floor here: it refuses probes at function+offset unless it
 * was built with an instruction decoder, and Debian's is not.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

SEC("uprobe")
int BPF_KPROBE(count_only)
{
	if (quiesced || !wanted(bpf_get_current_pid_tgid() >> 32))
		return 0;
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&hits, &zero);
	if (n)
		*n += 1;
	return 0;
}

/*
 * Plaintext socket I/O (h2c, HTTP/1.1 between services). The syscall's
 * arguments are saved at entry when its fd is a TCP socket of a wanted
 * process; at exit the bytes it really moved are copied like a TLS call's.
 * Ciphertext (a socket a TLS library uses) is counted, never stored: its
 * plaintext comes from the TLS probes, so no connection is stored twice.
 */
enum sock_call_kind { SC_FLAT = 1, SC_IOV = 2, SC_SKIP = 3 };

struct sock_call {
	__u64 buf; /* flat buffer, or the user iovec array */
	__u64 ts_entry;
	__u64 sk;
	__u64 ino; /* the socket's inode number: tells a reused struct sock apart */
	__s32 fd;
	__u32 iovcnt;
	__u8 kind; /* enum sock_call_kind */
	__u8 dir;
	__u8 reason; /* enum h2rec_skip_reason, SC_SKIP */
	__u8 tls_call; /* made inside a TLS library call: ciphertext */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct sock_call);
} sock_active SEC(".maps");


/* struct sock * -> positions; deleted at TCP_CLOSE, so a reused sock is a new generation. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct h2rec_sock_state);
} socks SEC(".maps");

static __always_inline bool port_wanted(struct sock *sk)
{
	if (!n_filter_ports)
		return true;
	__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	__u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	for (int i = 0; i < H2REC_MAX_FILTER_PORTS; i++) {
		if (i >= n_filter_ports)
			break;
		if (filter_ports[i] == lport || filter_ports[i] == rport)
			return true;
	}
	return false;
}

/*
 * RFC 8446 §5.1 record header: content type 20..24, legacy version 0x03 0x00..0x04.
 * Plaintext HTTP/1 starts with a token and HTTP/2 with its preface or a frame
 * whose 24-bit length would have to exceed 1.3 MB, so neither looks like this.
 */
static __always_inline bool tls_record_start(__u64 buf)
{
	__u8 b[3] = {};
	if (bpf_probe_read_user(b, sizeof(b), (void *)buf))
		return false;
	return b[0] >= 20 && b[0] <= 24 && b[1] == 3 && b[2] <= 4;
}

static __always_inline void count_cipher(__u64 bytes)
{
	__u32 zero = 0;
	struct h2rec_loss *l = bpf_map_lookup_elem(&losses, &zero);
	if (l) {
		l->cipher_calls += 1;
		l->cipher_bytes += bytes;
	}
}

struct iov_ctx {
	__u64 iov;     /* user address of the iovec array */
	__u32 iovcnt;
	__u32 idx;     /* next iovec to load */
	__u64 base;    /* current iovec */
	__u64 len;
	__u64 off;     /* within the current iovec */
	__u64 done;    /* bytes emitted so far */
	__u32 copy_len;
	__u32 call_len;
};

/* One chunk of a vectored call: at most 16 KiB, never across an iovec boundary. */
static long emit_iov_chunk(__u32 i, struct iov_ctx *c)
{
	if (c->done >= c->copy_len)
		return 1;
	if (c->off >= c->len) {
		if (c->idx >= c->iovcnt)
			return 1;
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(c->iov + (__u64)c->idx * sizeof(struct iovec)))) {
			count_loss(1, c->copy_len - c->done);
			return 1;
		}
		c->idx++;
		c->base = (__u64)v.iov_base;
		c->len = v.iov_len;
		c->off = 0;
		return 0;
	}
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 1;
	__u64 n = c->len - c->off;
	if (n > c->copy_len - c->done)
		n = c->copy_len - c->done;
	if (n > H2REC_CHUNK_DATA)
		n = H2REC_CHUNK_DATA;
	barrier_var(n);
	if (n == 0 || n > H2REC_CHUNK_DATA)
		return 1;
	__u16 flags = 0;
	if (c->done + n >= c->copy_len) {
		flags |= H2REC_F_LAST;
		if (c->call_len > c->copy_len)
			flags |= H2REC_F_TRUNCATED;
	}
	s->hdr.chunk_off = c->done;
	s->hdr.chunk_len = n;
	s->hdr.flags = flags;
	if (bpf_probe_read_user(s->data, n, (void *)(c->base + c->off)))
		count_loss(1, n);
	else if (bpf_ringbuf_output(&rb, s, sizeof(s->hdr) + n, rb_flags()))
		count_loss(1, n);
	c->off += n;
	c->done += n;
	return 0;
}

static __always_inline void emit_skip(__u64 id, struct sock_call *c, struct h2rec_sock_state *st, __u64 pos, __u64 len)
{
	struct h2rec_skip k = {};
	fill_hdr(&k.h, H2REC_KIND_SKIP, sizeof(k), id, c->sk, st->gen);
	k.ts_entry_ns = c->ts_entry;
	k.ts_return_ns = bpf_ktime_get_ns();
	k.pos = pos;
	k.len = len;
	k.dir = c->dir;
	k.reason = c->reason;
	k.fd = c->fd;
	if (bpf_ringbuf_output(&rb, &k, sizeof(k), rb_flags()))
		count_loss(1, 0);
}

static __always_inline void on_sock_return(__u64 id, struct sock_call *c, __u64 len)
{
	struct h2rec_sock_state *st = bpf_map_lookup_elem(&socks, &c->sk);
	/* Another socket at a freed one's address. A closed one stays until then:
	 * a write can still return after the connection reached TCP_CLOSE. */
	if (st && st->ino != c->ino) {
		bpf_map_delete_elem(&socks, &c->sk);
		st = NULL;
	}
	if (!st) {
		struct h2rec_sock_state z = { .gen = bpf_ktime_get_ns(), .ino = c->ino, .tgid = id >> 32, .fd = c->fd };
		bpf_map_update_elem(&socks, &c->sk, &z, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&socks, &c->sk);
		if (!st)
			return;
	}
	__u8 dir = c->dir & 1;
	if (!st->tls && c->tls_call)
		st->tls = 1;
	/* The first bytes of each direction: a flat buffer's, or the first iovec's. */
	if (!st->tls && !st->checked[dir] && c->kind != SC_SKIP && len >= 3) {
		__u64 first = c->buf;
		struct iovec v = { .iov_len = 3 };
		if (c->kind == SC_IOV && bpf_probe_read_user(&v, sizeof(v), (void *)c->buf))
			v.iov_len = 0;
		if (c->kind == SC_IOV)
			first = (__u64)v.iov_base;
		if (v.iov_len >= 3) {
			st->checked[dir] = 1;
			if (tls_record_start(first))
				st->tls = 1;
		}
	}
	if (st->tls) {
		count_cipher(len);
		return;
	}
	__u64 pos = __sync_fetch_and_add(&st->pos[dir], len);
	if (!st->sock_sent) {
		st->sock_sent = 1;
		emit_sock(id, c->sk, st->gen, c->fd, c->ts_entry, H2REC_LIB_SOCKET);
	}
	if (c->kind == SC_SKIP) {
		emit_skip(id, c, st, pos, len);
		return;
	}
	if (!start_data(id, c->sk, st->gen, c->ts_entry, pos, len, c->fd, dir, H2REC_LIB_SOCKET))
		return;
	__u32 copy = copy_len(len);
	if (c->kind == SC_FLAT) {
		struct emit_ctx e = { .buf = c->buf, .copy_len = copy, .call_len = len };
		bpf_loop((copy + H2REC_CHUNK_DATA - 1) / H2REC_CHUNK_DATA, emit_chunk, &e, 0);
	} else {
		struct iov_ctx v = { .iov = c->buf, .iovcnt = c->iovcnt, .copy_len = copy, .call_len = len };
		/* A chunk per 16 KiB plus one step per iovec loaded. */
		bpf_loop(copy / H2REC_CHUNK_DATA + 2 * (c->iovcnt < 1024 ? c->iovcnt : 1024) + 2, emit_iov_chunk, &v, 0);
	}
}

/*
 * Entry of every syscall: the fd of a TLS call in progress (its socket), and
 * the arguments of socket I/O to copy at exit. The syscall-number test comes
 * first so that other syscalls cost almost nothing.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_fd, struct pt_regs *regs, long nr)
{
	struct sock_call c = {};
	switch (nr) {
	case NR_read: case NR_recvfrom:
		c.kind = SC_FLAT;
		c.dir = H2REC_DIR_RECV;
		break;
	case NR_write: case NR_sendto:
		c.kind = SC_FLAT;
		c.dir = H2REC_DIR_SEND;
		break;
	case NR_readv: case NR_recvmsg:
		c.kind = SC_IOV;
		c.dir = H2REC_DIR_RECV;
		break;
	case NR_writev: case NR_sendmsg:
		c.kind = SC_IOV;
		c.dir = H2REC_DIR_SEND;
		break;
	case NR_sendfile: case NR_splice:
		if (!capture_sockets)
			return 0;
		c.kind = SC_SKIP;
		c.dir = H2REC_DIR_SEND;
		c.reason = nr == NR_sendfile ? H2REC_SKIP_SENDFILE : H2REC_SKIP_SPLICE;
		break;
	default:
		return 0;
	}
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args *a = bpf_map_lookup_elem(&active, &id);
	if (a && a->fd < 0 && c.kind != SC_SKIP)
		a->fd = (__s32)BPF_CORE_READ(regs, di);
	if (go_enabled && c.kind != SC_SKIP) {
		/* Go makes the syscall on the goroutine inside the call, g still in R14. */
		struct h2rec_conn_key k = { .tgid = id >> 32, .ptr = GO_SYS_G(regs) };
		struct go_call *gc = bpf_map_lookup_elem(&go_calls, &k);
		if (gc && gc->a.fd < 0)
			gc->a.fd = (__s32)BPF_CORE_READ(regs, di);
	}
	if (!capture_sockets || quiesced || !wanted(id >> 32))
		return 0;
	__u64 arg1 = BPF_CORE_READ(regs, si), arg2 = BPF_CORE_READ(regs, dx), arg3 = BPF_CORE_READ(regs, r10);
	c.fd = (__s32)BPF_CORE_READ(regs, di);
	c.buf = arg1;
	if (nr == NR_readv || nr == NR_writev) {
		c.iovcnt = arg2;
	} else if (nr == NR_sendmsg || nr == NR_recvmsg) {
		/* struct user_msghdr: msg_iov at 16, msg_iovlen at 24. */
		__u64 iov = 0, iovlen = 0;
		bpf_probe_read_user(&iov, sizeof(iov), (void *)(arg1 + 16));
		bpf_probe_read_user(&iovlen, sizeof(iovlen), (void *)(arg1 + 24));
		c.buf = iov;
		c.iovcnt = iovlen;
		if (nr == NR_recvmsg && (arg2 & MSG_PEEK))
			return 0; /* peeked bytes are read again later */
	} else if (nr == NR_recvfrom && (arg3 & MSG_PEEK)) {
		return 0;
	} else if (nr == NR_splice) {
		c.fd = (__s32)arg2; /* splice(fd_in, off_in, fd_out, ...): the socket is fd_out */
	}
	struct sock *sk = inet_sock_of_fd(c.fd, &c.ino);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP || !port_wanted(sk))
		return 0;
	c.sk = (__u64)sk;
	c.ts_entry = bpf_ktime_get_ns();
	c.tls_call = a != NULL;
	bpf_map_update_elem(&sock_active, &id, &c, BPF_ANY);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_sock, struct pt_regs *regs, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sock_call *c = bpf_map_lookup_elem(&sock_active, &id);
	if (!c)
		return 0;
	if (ret > 0 && ret <= 0xffffffffL && !quiesced)
		on_sock_return(id, c, (__u64)ret);
	bpf_map_delete_elem(&sock_active, &id);
	return 0;
}

/* The pids of wanted programs that exec while we record (see watch_execs): a few a second at most. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16384);
} execs SEC(".maps");

/* After exec the task has its new comm: the --comm filter sees the program's own name. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!watch_execs || quiesced || !wanted(tgid))
		return 0;
	/* With the ring full the loader would never hear of this program: counted, and it warns. */
	if (bpf_ringbuf_output(&execs, &tgid, sizeof(tgid), 0))
		__sync_fetch_and_add(&exec_drops, 1);
	return 0;
}

/* The end of a TCP connection: its end positions, and a fresh generation for a reused sock. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sock_state_change, const struct sock *sk, int oldstate, int newstate)
{
	if (newstate != TCP_CLOSE || quiesced)
		return 0;
	__u64 key = (__u64)sk;
	struct h2rec_sock_state *st = bpf_map_lookup_elem(&socks, &key);
	if (!st || st->tls || st->closed)
		return 0;
	struct h2rec_close c = {};
	c.h.kind = H2REC_KIND_CLOSE;
	c.h.hdr_len = sizeof(c);
	c.h.abi = H2REC_ABI_VERSION;
	/* Often in softirq context: the owner is the process that used the socket. */
	c.h.tgid = st->tgid;
	c.h.ptr = key;
	c.h.gen = st->gen;
	c.ts_ns = bpf_ktime_get_ns();
	c.end_pos[0] = st->pos[0];
	c.end_pos[1] = st->pos[1];
	/* Kept (LRU) until another socket takes the address: late calls still find it. */
	if (bpf_ringbuf_output(&rb, &c, sizeof(c), rb_flags())) {
		count_loss(1, 0);
		st->closed = H2REC_SOCK_CLOSE_LOST;
		return 0;
	}
	st->closed = H2REC_SOCK_CLOSED;
	return 0;
}
