// SPDX-License-Identifier: MIT
/*
 * h2rec-loader: the only privileged part of h2rec. Loads h2rec.bpf.o,
 * attaches the TLS uprobes and streams raw ring-buffer records to stdout in
 * the framing of h2rec.h. Stops on SIGINT, SIGTERM or EOF on stdin.
 *
 *   h2rec-loader [--pid N]... [--comm NAME] [--binary PATH]... [--no-system-libs]
 *                [--max-call-bytes N] [--ringbuf-mb N | --ringbuf-bytes N] [--loss-interval-ms N] [--salvage-fd FD] [--check]
 *                [--count-only]
 * --count-only (the benchmark's floor for Go programs): the Go probes' places get a program that only
 * counts, nothing else is attached, and {"t":"count","hits":N} is printed at stop.
 * Exit: 0 ok, 2 usage, 3 environment or privileges.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#include "h2rec.h"
#include "h2rec.skel.h"
#include "goelf.h"

#define MAX_TARGETS 64
#define EXIT_USAGE 2
#define EXIT_ENV 3

static volatile sig_atomic_t stopping;
static bool count_only;
static bool draining;
static bool out_broken;
/* Where the stream goes once the recorder is gone (--salvage-fd), else -1. */
static int salvage_fd = -1;
static bool salvaging;
/*
 * Our own output buffer rather than stdio's: after EPIPE we must know exactly
 * which whole messages were never delivered, to hand them to the salvage file.
 * Small enough that little waits here, large enough for few write(2)s.
 */
static char obuf[256 << 10];
static size_t oused;

static void on_signal(int sig) { (void)sig; stopping = 1; }

static void vmsg(const char *fmt, va_list ap)
{
	fprintf(stderr, "h2rec-loader: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	exit(code);
}

static void warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

/*
 * die()'s message, for the steps that run once the BPF object is open: they
 * return the exit code and main releases what is held at its one cleanup.
 * The steps before hold nothing, so they may die().
 */
static int fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	return code;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/*
 * Sends the buffer to the recorder. When the recorder has died (EPIPE), the
 * whole buffer goes to the salvage file instead, from its first message: a
 * write cut short may have delivered its head, so salvage can repeat a record
 * the journal has, and readers keep one of equal records.
 */
static void out_flush(void)
{
	if (!oused)
		return;
	if (!out_broken && write_all(1, obuf, oused)) {
		oused = 0;
		return;
	}
	if (!out_broken) {
		out_broken = true;
		stopping = 1;
		salvaging = salvage_fd >= 0;
	}
	if (salvaging && !write_all(salvage_fd, obuf, oused))
		salvaging = false;
	oused = 0;
}

static void emit(__u32 type, const void *data, __u32 len)
{
	if (out_broken && !salvaging)
		return;
	__u32 hdr[2] = { type, len };
	if (oused + sizeof(hdr) + len > sizeof(obuf))
		out_flush();
	if (sizeof(hdr) + len > sizeof(obuf))
		return; /* cannot happen: a record is one chunk, JSON a few KiB */
	memcpy(obuf + oused, hdr, sizeof(hdr));
	memcpy(obuf + oused + sizeof(hdr), data, len);
	oused += sizeof(hdr) + len;
}

static void emit_json(const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	emit(H2REC_MSG_JSON, buf, (__u32)n);
}

/* JSON string escaping for paths and libbpf messages. */
static const char *jstr(const char *s, char *buf, size_t cap)
{
	size_t j = 0;
	for (; *s && j + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[j++] = '\\';
			buf[j++] = c;
		} else if (c < 0x20) {
			j += snprintf(buf + j, cap - j, "\\u%04x", c);
		} else {
			buf[j++] = c;
		}
	}
	buf[j] = 0;
	return buf;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG || getenv("H2REC_LOADER_QUIET"))
		return 0;
	if (level == LIBBPF_INFO && !getenv("H2REC_LOADER_VERBOSE"))
		return 0;
	fprintf(stderr, "h2rec-loader: ");
	return vfprintf(stderr, fmt, args);
}

/*
 * Go crypto/tls functions, each with an entry probe and one at each RET. Close ends the connection at
 * its RETs, after its interlock with a concurrent Write (h2rec.bpf.c, go_conns).
 */
enum { GO_WRITE, GO_READ, GO_CLOSE, GO_NFUNCS };
static const char *const go_func_names[GO_NFUNCS] = {
	"crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read", "crypto/tls.(*Conn).Close",
};

struct target {
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
	bool required; /* --binary: a Go binary we cannot probe is an error, not a warning */
	int probes; /* attached, after attach */
	/* Go: inspected before the BPF object is loaded */
	bool is_go;
	bool go_ok; /* every function found and decoded */
	char go_version[64];
	char go_err[512];
	struct go_func go_funcs[GO_NFUNCS];
};

static struct target targets[MAX_TARGETS];
static int n_targets;

/* Returns the index of the target (new or already listed), or -1. */
static int add_target(const char *path, bool required)
{
	char real[PATH_MAX];
	struct stat st;
	if (!realpath(path, real) || stat(real, &st) != 0) {
		if (required)
			die(EXIT_USAGE, "--binary %s: no such file", path);
		return -1;
	}
	for (int i = 0; i < n_targets; i++)
		if (targets[i].dev == st.st_dev && targets[i].ino == st.st_ino)
			return i;
	if (n_targets == MAX_TARGETS) {
		warnx("too many targets; ignoring %s", real);
		return -1;
	}
	snprintf(targets[n_targets].path, PATH_MAX, "%s", real);
	targets[n_targets].required = required;
	targets[n_targets].dev = st.st_dev;
	targets[n_targets].ino = st.st_ino;
	return n_targets++;
}

static void add_system_libs(void)
{
	static const char *dirs[] = { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
				      "/usr/lib64", "/lib64", "/usr/lib", "/lib" };
	static const char *libs[] = { H2REC_SYSTEM_LIBS };
	char p[PATH_MAX];
	for (size_t l = 0; l < sizeof(libs) / sizeof(libs[0]); l++)
		for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
			snprintf(p, sizeof(p), "%s/%s", dirs[d], libs[l]);
			if (access(p, R_OK) == 0) {
				add_target(p, false);
				break;
			}
		}
}

/* Per --pid: the targets found for it, to warn when none can be probed. */
static struct {
	int pid;
	int first, n; /* its targets are listed in pid_target_ix[first..first+n) */
} pid_targets[H2REC_MAX_FILTER_PIDS];
static int pid_target_ix[H2REC_MAX_FILTER_PIDS * 8];
static int n_pid_target_ix;

static void note_pid_target(int slot, int ix)
{
	if (ix >= 0 && n_pid_target_ix < (int)(sizeof(pid_target_ix) / sizeof(pid_target_ix[0]))) {
		pid_target_ix[n_pid_target_ix++] = ix;
		pid_targets[slot].n++;
	}
}

/* The TLS libraries mapped into a process, and its executable (static TLS). */
static void add_pid_targets(int slot, int pid)
{
	pid_targets[slot].pid = pid;
	pid_targets[slot].first = n_pid_target_ix;
	char p[64], line[PATH_MAX + 256];
	snprintf(p, sizeof(p), "/proc/%d/maps", pid);
	FILE *f = fopen(p, "r");
	if (!f)
		die(EXIT_USAGE, "--pid %d: no such process", pid);
	while (fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');
		if (!path)
			continue;
		path[strcspn(path, "\n")] = 0;
		if (strstr(path, "libssl.so") || strstr(path, "libgnutls.so")) {
			char rooted[PATH_MAX + 32];
			/* Through /proc/PID/root so a process in another mount namespace works too. */
			snprintf(rooted, sizeof(rooted), "/proc/%d/root%s", pid, path);
			note_pid_target(slot, add_target(access(rooted, R_OK) == 0 ? rooted : path, false));
		}
	}
	fclose(f);
	snprintf(p, sizeof(p), "/proc/%d/exe", pid);
	note_pid_target(slot, add_target(p, false));
}

/* A --pid whose process maps no library we could probe would record nothing, silently: say so. */
static void warn_unprobed_pids(int n_pids, bool sockets)
{
	for (int i = 0; i < n_pids; i++) {
		int probes = 0;
		for (int j = 0; j < pid_targets[i].n; j++)
			probes += targets[pid_target_ix[pid_targets[i].first + j]].probes;
		if (probes == 0)
			emit_json("{\"t\":\"warn\",\"msg\":\"--pid %d maps no TLS library h2rec can probe (OpenSSL, BoringSSL, GnuTLS) and its executable has none linked in (nor Go crypto/tls h2rec can probe): %s\"}",
				  pid_targets[i].pid, sockets ? "only its plaintext socket traffic will be recorded" : "its traffic will not be recorded");
	}
}

struct probe_def {
	const char *symbol;
	bool ret;
	struct bpf_program *(*prog)(struct h2rec_bpf *);
};

static struct bpf_program *p_ssl_write(struct h2rec_bpf *s) { return s->progs.ssl_write_entry; }
static struct bpf_program *p_ssl_read(struct h2rec_bpf *s) { return s->progs.ssl_read_entry; }
static struct bpf_program *p_ssl_write_ex(struct h2rec_bpf *s) { return s->progs.ssl_write_ex_entry; }
static struct bpf_program *p_ssl_read_ex(struct h2rec_bpf *s) { return s->progs.ssl_read_ex_entry; }
static struct bpf_program *p_gnutls_send(struct h2rec_bpf *s) { return s->progs.gnutls_send_entry; }
static struct bpf_program *p_gnutls_recv(struct h2rec_bpf *s) { return s->progs.gnutls_recv_entry; }
static struct bpf_program *p_ret(struct h2rec_bpf *s) { return s->progs.tls_return; }
static struct bpf_program *p_ssl_free(struct h2rec_bpf *s) { return s->progs.ssl_free_entry; }
static struct bpf_program *p_gnutls_deinit(struct h2rec_bpf *s) { return s->progs.gnutls_deinit_entry; }

/* The first symbol of a family decides whether the target has that library at all. */
static const struct probe_def openssl_probes[] = {
	{ "SSL_write", false, p_ssl_write },	   { "SSL_write", true, p_ret },
	{ "SSL_read", false, p_ssl_read },	   { "SSL_read", true, p_ret },
	{ "SSL_write_ex", false, p_ssl_write_ex }, { "SSL_write_ex", true, p_ret },
	{ "SSL_read_ex", false, p_ssl_read_ex },   { "SSL_read_ex", true, p_ret },
	{ "SSL_free", false, p_ssl_free },
};
static const struct probe_def gnutls_probes[] = {
	{ "gnutls_record_send", false, p_gnutls_send }, { "gnutls_record_send", true, p_ret },
	{ "gnutls_record_recv", false, p_gnutls_recv }, { "gnutls_record_recv", true, p_ret },
	{ "gnutls_deinit", false, p_gnutls_deinit },
};

#define MAX_LINKS 512
static struct bpf_link *links[MAX_LINKS];
static int n_links;

/* The probes attached, or -1 when the kernel refuses uprobes (said on stderr). */
static int attach_family(struct h2rec_bpf *skel, const char *path, const struct probe_def *defs, size_t n)
{
	char ebuf[PATH_MAX * 2], ebuf2[256];
	int ok = 0;
	for (size_t i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = defs[i].symbol, .retprobe = defs[i].ret);
		struct bpf_link *l = NULL;
		int err = 0;
		if (n_links < MAX_LINKS) {
			l = bpf_program__attach_uprobe_opts(defs[i].prog(skel), -1, path, 0, &o);
			err = l ? 0 : -errno;
		} else {
			err = -E2BIG;
		}
		if (i == 0 && !l) {
			/* EPERM/EACCES is the kernel refusing uprobes, not a missing symbol. */
			if (err == -EPERM || err == -EACCES) {
				warnx("missing privileges to attach uprobes to %s (%s): this kernel needs CAP_SYS_ADMIN (besides CAP_BPF and CAP_PERFMON) for uprobes", path, strerror(-err));
				return -1;
			}
			return 0; /* this target does not contain the library at all */
		}
		/* Entry and return probes are reported as one probe per symbol. */
		bool report = (i + 1 == n) || strcmp(defs[i + 1].symbol, defs[i].symbol) != 0;
		if (l) {
			links[n_links++] = l;
			ok++;
		}
		if (!l || report) {
			if (!l) {
				emit_json("{\"t\":\"probe\",\"binary\":\"%s\",\"symbol\":\"%s%s\",\"ok\":false,\"error\":\"%s\"}",
					  jstr(path, ebuf, sizeof(ebuf)), defs[i].symbol, defs[i].ret ? ":return" : "",
					  jstr(strerror(-err), ebuf2, sizeof(ebuf2)));
			} else if (report) {
				emit_json("{\"t\":\"probe\",\"binary\":\"%s\",\"symbol\":\"%s\",\"ok\":true}",
					  jstr(path, ebuf, sizeof(ebuf)), defs[i].symbol);
			}
		}
	}
	return ok;
}


/* Whether path is a Go executable (build info), without keeping it mapped. */
static bool is_go_binary(const char *path)
{
	struct go_elf g;
	char err[256];
	if (go_open(path, &g, err, sizeof(err)))
		return false;
	bool go = g.is_go;
	go_close(&g);
	return go;
}

/*
 * System-wide recording with --comm: the Go programs of that name running
 * now. Go links crypto/tls into each executable, so there is no shared
 * library already probed for programs that start later: on_exec reports
 * those, and probe_new_programs probes each new executable.
 */
static void add_comm_go_targets(const char *comm)
{
	DIR *d = opendir("/proc");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char p[300], name[64] = "";
		snprintf(p, sizeof(p), "/proc/%s/comm", e->d_name);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		if (!fgets(name, sizeof(name), f))
			name[0] = 0;
		fclose(f);
		name[strcspn(name, "\n")] = 0;
		if (strcmp(name, comm))
			continue;
		snprintf(p, sizeof(p), "/proc/%s/exe", e->d_name);
		if (is_go_binary(p))
			add_target(p, false);
	}
	closedir(d);
}

/* Reads a target's Go build info and finds the functions and their RETs; whether it can be probed. */
static bool inspect_go_target(struct target *t)
{
	struct go_elf g;
	char err[512];
	if (go_open(t->path, &g, err, sizeof(err)))
		return false;
	if (!g.is_go) {
		go_close(&g);
		return false;
	}
	t->is_go = true;
	snprintf(t->go_version, sizeof(t->go_version), "%s", g.version[0] ? g.version : "an unknown Go version");
	if (!g.x86_64) {
		snprintf(t->go_err, sizeof(t->go_err), "Go programs are recorded on x86_64 only");
	} else if (g.minor < GO_MIN_REGABI_MINOR) {
		snprintf(t->go_err, sizeof(t->go_err),
			 "built with %s, which passes arguments on the stack; h2rec records Go programs built with Go 1.%d or later (register ABI)",
			 t->go_version, GO_MIN_REGABI_MINOR);
	} else {
		t->go_ok = true;
		for (int f = 0; f < GO_NFUNCS && t->go_ok; f++)
			if (go_find_func(&g, go_func_names[f], NULL, &t->go_funcs[f], err, sizeof(err))) {
				t->go_ok = false;
				if (!g.has_symtab && !g.has_pclntab)
					snprintf(t->go_err, sizeof(t->go_err), "%s is stripped of its symbol table and no pclntab was found in it: cannot find crypto/tls", t->go_version);
				else
					snprintf(t->go_err, sizeof(t->go_err), "%s", err);
			}
	}
	go_close(&g);
	if (!t->go_ok && t->required)
		die(EXIT_USAGE, "--binary %s: Go program %s", t->path, t->go_err);
	return t->go_ok;
}

/* Every target's Go build info: before load, to set go_enabled. */
static bool inspect_go_targets(void)
{
	bool any = false;
	for (int i = 0; i < n_targets; i++)
		any |= inspect_go_target(&targets[i]);
	return any;
}

/*
 * All of a function's probes or none: a call whose return went through an
 * unprobed RET would leave its bytes unrecorded and its connection's
 * position not advanced, a silent loss. So the RETs go first, the entry last
 * (no call is seen entering before its returns are watched), and a failure
 * detaches what this function had. Returns the links made, or -1 when the
 * kernel refuses uprobes (said on stderr; main's cleanup detaches the rest).
 */
static int attach_go_func(struct h2rec_bpf *skel, struct target *t, int f, struct bpf_program *entry, struct bpf_program *ret)
{
	const struct go_func *fn = &t->go_funcs[f];
	int first = n_links, err = 0;
	char ebuf[PATH_MAX * 2], ebuf2[256];
	int nret = fn->nrets;
	for (int i = 0; i <= nret && !err; i++) {
		bool is_entry = i == nret;
		if (n_links >= MAX_LINKS) {
			err = -E2BIG;
			break;
		}
		LIBBPF_OPTS(bpf_uprobe_opts, o);
		struct bpf_program *prog = count_only ? skel->progs.count_only : is_entry ? entry : ret;
		struct bpf_link *l = bpf_program__attach_uprobe_opts(prog, -1, t->path,
								     is_entry ? fn->file_off : fn->ret_offs[i], &o);
		if (!l) {
			err = -errno;
			if (err == -EPERM || err == -EACCES) {
				warnx("missing privileges to attach uprobes to %s (%s): this kernel needs CAP_SYS_ADMIN (besides CAP_BPF and CAP_PERFMON) for uprobes", t->path, strerror(-err));
				return -1;
			}
			break;
		}
		links[n_links++] = l;
	}
	if (err) {
		while (n_links > first)
			bpf_link__destroy(links[--n_links]);
		emit_json("{\"t\":\"probe\",\"binary\":\"%s\",\"symbol\":\"%s\",\"ok\":false,\"error\":\"%s\"}",
			  jstr(t->path, ebuf, sizeof(ebuf)), go_func_names[f], jstr(strerror(-err), ebuf2, sizeof(ebuf2)));
		return 0;
	}
	emit_json("{\"t\":\"probe\",\"binary\":\"%s\",\"symbol\":\"%s\",\"ok\":true,\"go\":\"%s\",\"via\":\"%s\",\"rets\":%d}",
		  jstr(t->path, ebuf, sizeof(ebuf)), go_func_names[f], jstr(t->go_version, ebuf2, sizeof(ebuf2)), fn->via, nret);
	return n_links - first;
}

/* Write, Read, then Close: the probes attached, or -1 when the kernel refuses uprobes. */
static int attach_go(struct h2rec_bpf *skel, struct target *t)
{
	char ebuf[PATH_MAX * 2], ebuf2[1024];
	if (!t->go_ok) {
		emit_json("{\"t\":\"warn\",\"msg\":\"%s: Go program %s; its traffic will not be recorded\"}",
			  jstr(t->path, ebuf, sizeof(ebuf)), jstr(t->go_err, ebuf2, sizeof(ebuf2)));
		return 0;
	}
	int w = attach_go_func(skel, t, GO_WRITE, skel->progs.go_write_entry, skel->progs.go_return);
	if (w < 0)
		return -1;
	int r = attach_go_func(skel, t, GO_READ, skel->progs.go_read_entry, skel->progs.go_return);
	if (r < 0)
		return -1;
	if (!w || !r)
		return w + r; /* one direction is better than none, and its probe line says what failed */
	int c = attach_go_func(skel, t, GO_CLOSE, skel->progs.go_close_entry, skel->progs.go_close_return);
	return c < 0 ? -1 : w + r + c;
}

static void emit_losses(struct h2rec_bpf *skel, int ncpus)
{
	struct h2rec_loss *vals = calloc(ncpus, sizeof(*vals));
	__u32 zero = 0;
	if (!vals || bpf_map_lookup_elem(bpf_map__fd(skel->maps.losses), &zero, vals)) {
		free(vals);
		return;
	}
	size_t cap = 128 + (size_t)ncpus * 256, n = 0;
	char *buf = malloc(cap);
	if (!buf) {
		free(vals);
		return;
	}
	n += snprintf(buf + n, cap - n, "{\"t\":\"loss\",\"cpu\":[");
	for (int i = 0; i < ncpus; i++)
		n += snprintf(buf + n, cap - n,
			      "%s{\"records\":\"%llu\",\"bytes\":\"%llu\",\"truncated_calls\":\"%llu\",\"truncated_bytes\":\"%llu\",\"cipher_calls\":\"%llu\",\"cipher_bytes\":\"%llu\"}",
			      i ? "," : "", (unsigned long long)vals[i].records, (unsigned long long)vals[i].bytes,
			      (unsigned long long)vals[i].truncated_calls, (unsigned long long)vals[i].truncated_bytes,
			      (unsigned long long)vals[i].cipher_calls, (unsigned long long)vals[i].cipher_bytes);
	n += snprintf(buf + n, cap - n, "]}");
	emit(H2REC_MSG_JSON, buf, (__u32)n);
	free(buf);
	free(vals);
}

/* End positions of every connection still known at stop, so trailing loss is exact. */
/* Plaintext sockets still open at stop (TLS ones carry no positions). */

static void emit_sock_finals(struct h2rec_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.socks);
	__u64 k, next;
	struct h2rec_sock_state st;
	void *prev = NULL;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &st) == 0 && !st.tls && st.closed != H2REC_SOCK_CLOSED && (st.pos[0] || st.pos[1]))
			emit_json("{\"t\":\"final\",\"tgid\":%u,\"ptr\":\"0x%llx\",\"gen\":\"%llu\",\"end_pos\":[\"%llu\",\"%llu\"]}",
				  st.tgid, (unsigned long long)next, (unsigned long long)st.gen,
				  (unsigned long long)st.pos[0], (unsigned long long)st.pos[1]);
		k = next;
		prev = &k;
	}
}

static void emit_finals(struct h2rec_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.conns);
	struct h2rec_conn_key k, next;
	struct h2rec_conn_state st;
	void *prev = NULL;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &st) == 0)
			emit_json("{\"t\":\"final\",\"tgid\":%u,\"ptr\":\"0x%llx\",\"gen\":\"%llu\",\"end_pos\":[\"%llu\",\"%llu\"]}",
				  next.tgid, (unsigned long long)next.ptr, (unsigned long long)st.gen,
				  (unsigned long long)st.pos[0], (unsigned long long)st.pos[1]);
		k = next;
		prev = &k;
	}
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	static unsigned batch;
	emit(H2REC_MSG_RECORD, data, (__u32)size);
	/* libbpf 1.1's poll keeps consuming while records keep coming; a negative
	 * return (after this record is delivered) hands control back, so that a
	 * stop request, stdin EOF and the periodic loss report are seen under
	 * sustained load too. */
	if (draining)
		return 0;
	if (stopping || ++batch >= 4096) {
		batch = 0;
		return -EINTR;
	}
	return 0;
}

/* Pids of programs that exec'd while recording, probed after the poll (attaching is slow). */
static int exec_pids[64];
static int n_exec_pids;
static unsigned exec_overflow;

static int on_exec_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size < sizeof(__u32))
		return 0;
	if (n_exec_pids < (int)(sizeof(exec_pids) / sizeof(exec_pids[0])))
		exec_pids[n_exec_pids++] = (int)*(__u32 *)data;
	else
		exec_overflow++;
	return 0;
}

/*
 * The Go programs among the execs just seen: each new executable is
 * inspected and probed as at start (probe lines on stdout). Calls it made
 * before its probes were live are not recorded: its first bytes on a
 * connection may be missing (the analyzer resyncs mid-stream), and the
 * socket tracer counts their ciphertext.
 */
static void probe_new_programs(struct h2rec_bpf *skel, int *live)
{
	for (int i = 0; i < n_exec_pids; i++) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/%d/exe", exec_pids[i]);
		int known = n_targets;
		if (!is_go_binary(p))
			continue;
		int ix = add_target(p, false);
		if (ix < known)
			continue; /* gone, or an executable already probed */
		inspect_go_target(&targets[ix]);
		int n = attach_go(skel, &targets[ix]); /* or says why it is not recorded */
		if (n > 0)
			*live += n;
	}
	n_exec_pids = 0;
	static unsigned dropped_seen;
	unsigned dropped = skel->bss->exec_drops + exec_overflow;
	if (dropped != dropped_seen) {
		emit_json("{\"t\":\"warn\",\"msg\":\"%u programs started too fast to be inspected; a Go program among them is not recorded (use --binary)\"}", dropped - dropped_seen);
		dropped_seen = dropped;
	}
}

static unsigned long parse_num(const char *flag, const char *v, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v ? v : "", &end, 10);
	if (!v || errno || *end || n == 0 || n > max)
		die(EXIT_USAGE, "%s needs a number between 1 and %lu", flag, max);
	return n;
}

/* --check attaches a uprobe here; noinline and used so it keeps its symbol. */
__attribute__((noinline, used)) void h2rec_check_target(void)
{
	__asm__ volatile("" ::: "memory");
}

static bool is_pow2(unsigned long n) { return n && !(n & (n - 1)); }

/* The command line (count_only and salvage_fd are globals: emit and the Go probes read them). */
struct options {
	int pids[H2REC_MAX_FILTER_PIDS], n_pids;
	const char *comm;
	const char *binaries[MAX_TARGETS];
	int n_bins;
	bool system_libs, check, tls, sockets;
	int ports[H2REC_MAX_FILTER_PORTS], n_ports;
	unsigned long max_call, ringbuf_bytes, loss_ms;
};

/* System-wide with --comm: Go programs of that name that start later are probed as they exec (on_exec). */
static bool watching_execs(const struct options *o)
{
	return o->comm && o->tls && !count_only;
}

/* What main holds once the BPF object is open; all of it is released at cleanup. */
struct loader {
	struct h2rec_bpf *skel;
	struct bpf_link *fd_link, *sock_links[2], *exec_link; /* the TLS probes are in links[] */
	struct ring_buffer *rb;
	int live; /* TLS probes attached */
	int ncpus;
};

static void parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){
		.system_libs = true, .tls = true, .sockets = true,
		.max_call = H2REC_DEFAULT_MAX_CALL_BYTES, .ringbuf_bytes = H2REC_DEFAULT_RINGBUF_BYTES, .loss_ms = 1000,
	};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--pid")) {
			if (o->n_pids == H2REC_MAX_FILTER_PIDS)
				die(EXIT_USAGE, "at most %d --pid", H2REC_MAX_FILTER_PIDS);
			o->pids[o->n_pids++] = (int)parse_num(a, v, INT_MAX);
			i++;
		} else if (!strcmp(a, "--comm")) {
			if (!v || !*v || strlen(v) >= H2REC_COMM_LEN)
				die(EXIT_USAGE, "--comm needs 1 to %d characters", H2REC_COMM_LEN - 1);
			o->comm = v;
			i++;
		} else if (!strcmp(a, "--binary")) {
			if (!v || o->n_bins == MAX_TARGETS)
				die(EXIT_USAGE, "--binary needs a path");
			o->binaries[o->n_bins++] = v;
			i++;
		} else if (!strcmp(a, "--no-system-libs")) {
			o->system_libs = false;
		} else if (!strcmp(a, "--no-tls")) {
			o->tls = false;
		} else if (!strcmp(a, "--no-sockets")) {
			o->sockets = false;
		} else if (!strcmp(a, "--port")) {
			if (o->n_ports == H2REC_MAX_FILTER_PORTS)
				die(EXIT_USAGE, "at most %d --port", H2REC_MAX_FILTER_PORTS);
			o->ports[o->n_ports++] = (int)parse_num(a, v, 65535);
			i++;
		} else if (!strcmp(a, "--max-call-bytes")) {
			o->max_call = parse_num(a, v, 1UL << 30);
			i++;
		} else if (!strcmp(a, "--ringbuf-mb")) {
			o->ringbuf_bytes = parse_num(a, v, 4096) << 20;
			i++;
		} else if (!strcmp(a, "--ringbuf-bytes")) {
			o->ringbuf_bytes = parse_num(a, v, 4096UL << 20);
			i++;
		} else if (!strcmp(a, "--loss-interval-ms")) {
			o->loss_ms = parse_num(a, v, 3600000);
			i++;
		} else if (!strcmp(a, "--salvage-fd")) {
			salvage_fd = (int)parse_num(a, v, INT_MAX);
			if (fcntl(salvage_fd, F_GETFD) < 0)
				die(EXIT_USAGE, "--salvage-fd %d is not open", salvage_fd);
			i++;
		} else if (!strcmp(a, "--check")) {
			o->check = true;
		} else if (!strcmp(a, "--count-only")) {
			count_only = true;
			o->sockets = false; /* the Go probe floor: probe hits only */
		} else {
			die(EXIT_USAGE, "unknown argument %s", a);
		}
	}
	/* The kernel wants a power-of-two multiple of the page size; one record must fit. */
	if (!is_pow2(o->ringbuf_bytes) || o->ringbuf_bytes < 32768)
		die(EXIT_USAGE, "the ring buffer size must be a power of two of at least 32 KiB");
}

/* From the start: a stop asked for while we load and attach ends cleanly, never mid-attach. */
static void catch_stop_signals(void)
{
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void require_btf(void)
{
	const char *btf = getenv("H2REC_BTF");
	if (!btf)
		btf = "/sys/kernel/btf/vmlinux";
	if (access(btf, R_OK) != 0)
		die(EXIT_ENV, "no kernel BTF at %s: this kernel needs CONFIG_DEBUG_INFO_BTF=y for CO-RE", btf);
}

/* The executables and libraries to probe, and whether any is a Go program we can probe. */
static bool resolve_targets(const struct options *o)
{
	for (int i = 0; i < o->n_bins; i++)
		add_target(o->binaries[i], true);
	for (int i = 0; i < o->n_pids; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/proc/%d", o->pids[i]);
		if (access(p, F_OK) != 0)
			die(EXIT_USAGE, "--pid %d: no such process", o->pids[i]);
		add_pid_targets(i, o->pids[i]);
	}
	/* Checked after the targets, so a bad --binary or --pid is reported first. */
	if (!o->tls && !o->sockets)
		die(EXIT_USAGE, "--no-tls and --no-sockets leave nothing to record");
	if (o->comm && o->tls)
		add_comm_go_targets(o->comm);
	if (o->system_libs && o->tls)
		add_system_libs();
	return inspect_go_targets();
}

/* The BPF programs' constants: filters, caps, what to capture, and the ring's size and wakeup mark. */
static void set_rodata(struct h2rec_bpf *skel, const struct options *o, bool go_any)
{
	skel->rodata->max_call_bytes = (__u32)o->max_call;
	skel->rodata->n_filter_pids = o->n_pids;
	for (int i = 0; i < o->n_pids; i++)
		skel->rodata->filter_pids[i] = o->pids[i];
	if (o->comm) {
		skel->rodata->has_comm_filter = 1;
		strncpy((char *)skel->rodata->filter_comm, o->comm, H2REC_COMM_LEN - 1);
	}
	skel->rodata->capture_sockets = o->sockets;
	skel->rodata->n_filter_ports = o->n_ports;
	for (int i = 0; i < o->n_ports; i++)
		skel->rodata->filter_ports[i] = (__u16)o->ports[i];
	skel->rodata->go_enabled = go_any || watching_execs(o);
	skel->rodata->watch_execs = watching_execs(o);
	bpf_map__set_max_entries(skel->maps.rb, o->ringbuf_bytes);
	/* Wake up at an eighth of the ring, at most 1 MiB: batches stay large, and far from overflowing. */
	skel->rodata->wakeup_bytes = o->ringbuf_bytes / 8 < (1UL << 20) ? o->ringbuf_bytes / 8 : (1UL << 20);
}

static int open_and_load(struct loader *L, const struct options *o, bool go_any)
{
	libbpf_set_print(libbpf_print);
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = getenv("H2REC_BTF"));
	L->skel = h2rec_bpf__open_opts(&oo);
	if (!L->skel)
		return fail(EXIT_ENV, "cannot open the BPF object: %s", strerror(errno));
	set_rodata(L->skel, o, go_any);
	int err = h2rec_bpf__load(L->skel);
	/* EPERM is the bpf() syscall refusing us; EACCES would be the verifier. */
	if (err == -EPERM)
		return fail(EXIT_ENV, "missing privileges: need CAP_BPF and CAP_PERFMON (and CAP_SYS_ADMIN for uprobes on this kernel); run as root or setcap the loader");
	if (err)
		return fail(EXIT_ENV, "cannot load the BPF program: %s", strerror(-err));
	return 0;
}

/*
 * --check: loading proves the verifier and the ring buffer; only attaching a
 * uprobe proves the privileges recording needs (some kernels want
 * CAP_SYS_ADMIN for that on top of CAP_BPF and CAP_PERFMON). Our own
 * h2rec_check_target is a function every loader has.
 */
static int check_uprobe(struct loader *L)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return fail(EXIT_ENV, "cannot find the loader's own executable: %s", strerror(errno));
	self[n] = 0;
	LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = "h2rec_check_target");
	struct bpf_link *l = bpf_program__attach_uprobe_opts(L->skel->progs.ssl_write_entry, -1, self, 0, &o);
	if (!l) {
		int err = errno;
		if (err == EPERM || err == EACCES)
			return fail(EXIT_ENV, "the program loads but a uprobe cannot be attached (%s): this kernel needs CAP_SYS_ADMIN (besides CAP_BPF and CAP_PERFMON) for uprobes", strerror(err));
		return fail(EXIT_ENV, "the program loads but a uprobe cannot be attached: %s", strerror(err));
	}
	h2rec_check_target();
	bpf_link__destroy(l);
	puts("ok");
	return 0;
}

/* TLS libraries (OpenSSL/BoringSSL, GnuTLS) and Go crypto/tls in every target; L->live counts the probes. */
static int attach_tls(struct loader *L)
{
	for (int i = 0; i < n_targets; i++) {
		struct target *t = &targets[i];
		int n = 0, got;
		if (!count_only) {
			if ((got = attach_family(L->skel, t->path, openssl_probes, sizeof(openssl_probes) / sizeof(openssl_probes[0]))) < 0)
				return EXIT_ENV;
			n += got;
			if ((got = attach_family(L->skel, t->path, gnutls_probes, sizeof(gnutls_probes) / sizeof(gnutls_probes[0]))) < 0)
				return EXIT_ENV;
			n += got;
		}
		if (t->is_go) {
			if ((got = attach_go(L->skel, t)) < 0)
				return EXIT_ENV;
			n += got;
		}
		t->probes = n;
		if (n == 0 && !t->is_go)
			warnx("%s has no OpenSSL/BoringSSL or GnuTLS symbols", t->path);
		L->live += n;
	}
	return 0;
}

/* The fd tracer (socket addresses) and, unless --no-sockets, the plaintext socket tracers. */
static int attach_sockets(struct loader *L, const struct options *o)
{
	L->fd_link = count_only ? NULL : bpf_program__attach(L->skel->progs.sys_enter_fd);
	if (!L->fd_link && !count_only)
		warnx("cannot attach the socket fd tracer (%s); addresses will be unknown", strerror(errno));
	if (!o->sockets)
		return 0;
	/* Plaintext socket I/O: the exit half of the syscalls, and the end of TCP connections. */
	L->sock_links[0] = bpf_program__attach(L->skel->progs.sys_exit_sock);
	L->sock_links[1] = bpf_program__attach(L->skel->progs.sock_state_change);
	if (!L->sock_links[0] || !L->sock_links[1] || !L->fd_link) {
		out_flush();
		return fail(EXIT_ENV, "cannot attach the socket tracers (%s)", strerror(errno));
	}
	return 0;
}

static int attach_all(struct loader *L, const struct options *o)
{
	int err = o->tls ? attach_tls(L) : 0;
	if (!err)
		err = attach_sockets(L, o);
	if (err)
		return err;
	if (watching_execs(o)) {
		L->exec_link = bpf_program__attach(L->skel->progs.on_exec);
		if (!L->exec_link)
			warnx("cannot watch for programs named %s that start while recording (%s): only those running now are probed", o->comm, strerror(errno));
	}
	if (o->tls && L->live == 0 && !o->sockets) {
		out_flush();
		return fail(EXIT_ENV, "no TLS library probe could be attached (targets: %d); use --binary PATH for statically linked programs", n_targets);
	}
	if (o->tls && L->live == 0)
		warnx("no TLS library probe could be attached (targets: %d): only plaintext sockets are recorded", n_targets);
	return 0;
}

static int open_ring(struct loader *L)
{
	L->rb = ring_buffer__new(bpf_map__fd(L->skel->maps.rb), on_record, NULL, NULL);
	if (!L->rb)
		return fail(EXIT_ENV, "cannot open the ring buffer: %s", strerror(errno));
	if (L->exec_link && ring_buffer__add(L->rb, bpf_map__fd(L->skel->maps.execs), on_exec_event, NULL))
		return fail(EXIT_ENV, "cannot open the exec ring buffer: %s", strerror(errno));
	L->ncpus = libbpf_num_possible_cpus();
	return 0;
}

static void announce_ready(struct loader *L, const struct options *o)
{
	if (o->tls)
		warn_unprobed_pids(o->n_pids, o->sockets);
	emit_json("{\"t\":\"ready\",\"sockets\":%s,\"probes\":%d,\"targets\":%d,\"ringbuf_bytes\":%lu,\"max_call_bytes\":%lu,\"ncpus\":%d,\"abi\":%d}",
		  o->sockets ? "true" : "false", L->live, n_targets, o->ringbuf_bytes, o->max_call, L->ncpus, H2REC_ABI_VERSION);
	out_flush();
}

/* Forwards records until a signal, EOF on stdin, a dead recorder or a failed poll; reports loss every loss_ms. */
static void poll_until_stop(struct loader *L, const struct options *o)
{
	struct timespec last, now;
	clock_gettime(CLOCK_MONOTONIC, &last);
	struct pollfd in = { .fd = 0, .events = POLLIN };
	while (!stopping) {
		/* Records come without wakeups below wakeup_bytes (h2rec.bpf.c rb_flags):
		 * this timeout is how late a trickle of traffic reaches the journal. */
		int err = ring_buffer__poll(L->rb, 25);
		/* The timeout alone consumes nothing: libbpf reads only the rings that
		 * epoll reported, and a record written with BPF_RB_NO_WAKEUP never makes
		 * the ring's fd ready again once it was drained. Without this a trickle of
		 * traffic would sit in the ring until wakeup_bytes piled up or we stopped. */
		if (err == 0)
			err = ring_buffer__consume(L->rb);
		if (err < 0 && err != -EINTR) {
			warnx("ring buffer poll failed: %s", strerror(-err));
			break;
		}
		/* An overflow happens only with the queue full, so n_exec_pids covers it. */
		if (n_exec_pids)
			probe_new_programs(L->skel, &L->live);
		out_flush();
		if (out_broken && !salvaging)
			break;
		/* EOF on stdin means the Node side wants us to stop (or died). */
		if (poll(&in, 1, 0) > 0) {
			char b[256];
			ssize_t r = read(0, b, sizeof(b));
			if (r <= 0)
				stopping = 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000 >= (long)o->loss_ms) {
			emit_losses(L->skel, L->ncpus);
			last = now;
		}
	}
}

/* Quiesce first so nothing new arrives (h2rec.bpf.c `quiesced`), then drain what the kernel holds. */
static void quiesce_and_drain(struct loader *L)
{
	L->skel->bss->quiesced = 1;
	/* Programs already running on other CPUs do not see the flag: a
	 * uretprobe that has advanced its connection's position may still be
	 * writing its record (or counting its loss). Give those a moment, or the
	 * final positions and loss counters would cover bytes we never drained. */
	usleep(50 * 1000);
	draining = true;
	while (ring_buffer__consume(L->rb) > 0)
		;
}

static void emit_count(struct loader *L)
{
	__u64 *per = calloc(L->ncpus, sizeof(__u64)), total = 0;
	__u32 zero = 0;
	if (per && !bpf_map_lookup_elem(bpf_map__fd(L->skel->maps.hits), &zero, per))
		for (int i = 0; i < L->ncpus; i++)
			total += per[i];
	free(per);
	emit_json("{\"t\":\"count\",\"hits\":%llu}", (unsigned long long)total);
}

/* The last messages, then stdout closed: the recorder is done once it reads `stopped` and EOF, and need not wait for the slow detach at cleanup. */
static void report_end(struct loader *L)
{
	emit_losses(L->skel, L->ncpus);
	emit_finals(L->skel);
	emit_sock_finals(L->skel);
	if (count_only)
		emit_count(L);
	emit_json("{\"t\":\"stopped\"}");
	out_flush();
	close(1);
	if (salvage_fd >= 0)
		close(salvage_fd);
}

static int run(struct loader *L, const struct options *o)
{
	int err = open_ring(L);
	if (err)
		return err;
	announce_ready(L, o);
	poll_until_stop(L, o);
	quiesce_and_drain(L);
	report_end(L);
	return 0;
}

/* Detaching is slow (~100 ms a uprobe): on the normal path stdout is closed by then. */
static void release(struct loader *L)
{
	for (int i = 0; i < n_links; i++)
		bpf_link__destroy(links[i]);
	bpf_link__destroy(L->fd_link);
	bpf_link__destroy(L->sock_links[0]);
	bpf_link__destroy(L->sock_links[1]);
	bpf_link__destroy(L->exec_link);
	ring_buffer__free(L->rb);
	h2rec_bpf__destroy(L->skel);
}

int main(int argc, char **argv)
{
	struct options o;
	struct loader L = { 0 };
	int err;

	/* Nothing is held until the BPF object is open: these steps exit on error. */
	parse_args(argc, argv, &o);
	catch_stop_signals();
	require_btf();
	bool go_any = resolve_targets(&o);

	err = open_and_load(&L, &o, go_any);
	if (err)
		goto cleanup;
	if (o.check) {
		err = check_uprobe(&L);
		goto cleanup;
	}
	err = attach_all(&L, &o);
	if (err)
		goto cleanup;
	err = run(&L, &o);

cleanup:
	release(&L);
	return err;
}
