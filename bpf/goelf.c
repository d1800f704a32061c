// SPDX-License-Identifier: MIT
/*
 * Go executables, read from the file with bounds checks on every access (a
 * target binary is untrusted input). Formats:
 *  - build info (src/debug/buildinfo): 16-byte aligned "\xff Go buildinf:",
 *    pointer size, flags; flags&2 means the version string follows inline at
 *    +32 as a uvarint length and bytes (Go >= 1.18), else two pointers at +16
 *    to string headers {ptr, len} (the version first).
 *  - .gopclntab (src/runtime/symtab.go, pcHeader): magic 0xfffffffa (Go 1.16,
 *    1.17), 0xfffffff0 (1.18, 1.19) or 0xfffffff1 (1.20+); then the function
 *    table: (entry, funcoff) pairs; each _func starts with its entry and the
 *    offset of its name in the function name table.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "goelf.h"
#include "x86len.h"

#define BUILDINFO_MAGIC "\xff Go buildinf:"
#define BUILDINFO_MAGIC_LEN 14

static int fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

static const Elf64_Ehdr *ehdr(const struct go_elf *g) { return (const Elf64_Ehdr *)g->map; }

static int in_file(const struct go_elf *g, uint64_t off, uint64_t len)
{
	return off <= g->size && len <= g->size - off;
}

static const Elf64_Shdr *section(const struct go_elf *g, const char *name)
{
	const Elf64_Ehdr *e = ehdr(g);
	if (!e->e_shoff || e->e_shentsize != sizeof(Elf64_Shdr) ||
	    !in_file(g, e->e_shoff, (uint64_t)e->e_shnum * sizeof(Elf64_Shdr)) || e->e_shstrndx >= e->e_shnum)
		return NULL;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(g->map + e->e_shoff);
	const Elf64_Shdr *strs = &sh[e->e_shstrndx];
	if (!in_file(g, strs->sh_offset, strs->sh_size))
		return NULL;
	size_t nlen = strlen(name);
	for (int i = 0; i < e->e_shnum; i++) {
		uint64_t o = sh[i].sh_name;
		if (o + nlen + 1 <= strs->sh_size && !memcmp(g->map + strs->sh_offset + o, name, nlen + 1) &&
		    (sh[i].sh_type == SHT_NOBITS || in_file(g, sh[i].sh_offset, sh[i].sh_size)))
			return &sh[i];
	}
	return NULL;
}

/* File offset of a virtual address inside a loaded segment's file bytes; -1 if none. */
static int64_t vaddr_off(const struct go_elf *g, uint64_t va, uint64_t len)
{
	const Elf64_Ehdr *e = ehdr(g);
	if (e->e_phentsize != sizeof(Elf64_Phdr) || !in_file(g, e->e_phoff, (uint64_t)e->e_phnum * sizeof(Elf64_Phdr)))
		return -1;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(g->map + e->e_phoff);
	for (int i = 0; i < e->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || va < ph[i].p_vaddr || va - ph[i].p_vaddr >= ph[i].p_filesz)
			continue;
		if (len > ph[i].p_filesz - (va - ph[i].p_vaddr))
			return -1;
		uint64_t off = ph[i].p_offset + (va - ph[i].p_vaddr);
		return in_file(g, off, len) ? (int64_t)off : -1;
	}
	return -1;
}

static uint64_t rd(const uint8_t *p, int size)
{
	uint64_t v = 0;
	memcpy(&v, p, size == 8 ? 8 : 4); /* little-endian hosts only (x86_64 targets) */
	return size == 8 ? v : (uint32_t)v;
}

static void set_version(struct go_elf *g, const uint8_t *s, uint64_t len)
{
	if (len >= sizeof(g->version))
		len = sizeof(g->version) - 1;
	memcpy(g->version, s, len);
	g->version[len] = 0;
	/* "go1.19.8", "go1.21rc2", "devel go1.22-abc...": the minor follows "go1." */
	const char *p = strstr(g->version, "go1.");
	g->minor = p ? atoi(p + 4) : -1;
}

static void read_buildinfo(struct go_elf *g)
{
	const uint8_t *start = g->map;
	size_t len = g->size;
	const Elf64_Shdr *sh = section(g, ".go.buildinfo");
	if (sh && sh->sh_type != SHT_NOBITS) {
		start = g->map + sh->sh_offset;
		len = sh->sh_size;
	}
	const uint8_t *b = NULL;
	for (size_t o = 0; o + 32 <= len; o += 16)
		if (!memcmp(start + o, BUILDINFO_MAGIC, BUILDINFO_MAGIC_LEN)) {
			b = start + o;
			len -= o;
			break;
		}
	if (!b)
		return;
	g->is_go = 1;
	int psize = b[14], flags = b[15];
	if (flags & 2) {
		uint64_t n = 0;
		size_t i = 32;
		for (int shift = 0; i < len && shift < 64; shift += 7) {
			uint8_t c = b[i++];
			n |= (uint64_t)(c & 0x7f) << shift;
			if (!(c & 0x80))
				break;
		}
		if (n <= len - i)
			set_version(g, b + i, n);
		return;
	}
	if (psize != 8 || (flags & 1)) /* big-endian or 32-bit: not an x86_64 program */
		return;
	int64_t hdr = vaddr_off(g, rd(b + 16, 8), 16);
	if (hdr < 0)
		return;
	uint64_t sva = rd(g->map + hdr, 8), slen = rd(g->map + hdr + 8, 8);
	int64_t s = vaddr_off(g, sva, slen);
	if (s >= 0)
		set_version(g, g->map + s, slen);
}

int go_open(const char *path, struct go_elf *g, char *err, size_t errlen)
{
	memset(g, 0, sizeof(*g));
	g->minor = -1;
	g->fd = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "cannot open");
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return fail(err, errlen, "not an ELF file");
	}
	void *m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		close(fd);
		return fail(err, errlen, "cannot map");
	}
	g->fd = fd;
	g->map = m;
	g->size = st.st_size;
	const Elf64_Ehdr *e = ehdr(g);
	if (memcmp(e->e_ident, ELFMAG, SELFMAG) || e->e_ident[EI_CLASS] != ELFCLASS64 || e->e_ident[EI_DATA] != ELFDATA2LSB) {
		go_close(g);
		return fail(err, errlen, "not a 64-bit little-endian ELF file");
	}
	g->x86_64 = e->e_machine == EM_X86_64;
	g->has_symtab = section(g, ".symtab") != NULL;
	g->has_pclntab = section(g, ".gopclntab") != NULL;
	read_buildinfo(g);
	return 0;
}

void go_close(struct go_elf *g)
{
	if (g->map)
		munmap((void *)g->map, g->size);
	if (g->fd >= 0)
		close(g->fd);
	g->map = NULL;
	g->fd = -1;
}

static int by_symtab(const struct go_elf *g, const char *name, struct go_func *f)
{
	const Elf64_Shdr *sym = section(g, ".symtab");
	const Elf64_Ehdr *e = ehdr(g);
	if (!sym || sym->sh_type != SHT_SYMTAB || sym->sh_link >= e->e_shnum)
		return -1;
	const Elf64_Shdr *str = &((const Elf64_Shdr *)(g->map + e->e_shoff))[sym->sh_link];
	if (!in_file(g, str->sh_offset, str->sh_size))
		return -1;
	size_t nlen = strlen(name), n = sym->sh_size / sizeof(Elf64_Sym);
	const Elf64_Sym *s = (const Elf64_Sym *)(g->map + sym->sh_offset);
	for (size_t i = 0; i < n; i++) {
		if (ELF64_ST_TYPE(s[i].st_info) != STT_FUNC || s[i].st_name + nlen + 1 > str->sh_size)
			continue;
		if (!memcmp(g->map + str->sh_offset + s[i].st_name, name, nlen + 1)) {
			f->via = "symtab";
			f->vaddr = s[i].st_value;
			f->size = s[i].st_size;
			return 0;
		}
	}
	return -1;
}

static int pcln_lookup(const struct go_elf *g, const uint8_t *t, uint64_t tlen, const char *name, struct go_func *f);

/* pcHeader magics (Go 1.16-1.17, 1.18-1.19, 1.20+), then two zero bytes, quantum 1 and pointer size 8 on amd64. */
static int is_pcheader(const uint8_t *p)
{
	uint32_t m;
	memcpy(&m, p, 4);
	return (m == 0xfffffffa || m == 0xfffffff0 || m == 0xfffffff1) && !p[4] && !p[5] && p[6] == 1 && p[7] == 8;
}

static int by_pclntab(const struct go_elf *g, const char *name, struct go_func *f)
{
	const Elf64_Shdr *sh = section(g, ".gopclntab");
	if (sh && sh->sh_type != SHT_NOBITS)
		return pcln_lookup(g, g->map + sh->sh_offset, sh->sh_size, name, f);
	/*
	 * A PIE or externally linked binary keeps pclntab inside .data.rel.ro,
	 * with no section of its own: find the header by its magic (it is
	 * pointer-aligned) and let the lookup's bounds checks reject false hits.
	 */
	int tries = 0;
	for (size_t o = 0; o + 8 + 8 * 8 <= g->size && tries < 64; o += 8) {
		if (!is_pcheader(g->map + o))
			continue;
		tries++;
		if (!pcln_lookup(g, g->map + o, g->size - o, name, f))
			return 0;
	}
	return -1;
}

static int pcln_lookup(const struct go_elf *g, const uint8_t *t, uint64_t tlen, const char *name, struct go_func *f)
{
	if (tlen < 8 + 8 * 8)
		return -1;
	uint32_t magic = (uint32_t)rd(t, 4);
	int ps = t[7];
	if (ps != 8 || t[4] || t[5])
		return -1;
	int go118 = magic == 0xfffffff0 || magic == 0xfffffff1;
	if (!go118 && magic != 0xfffffffa)
		return -1;
	uint64_t w[8];
	for (int i = 0; i < 8; i++)
		w[i] = rd(t + 8 + 8 * i, 8);
	uint64_t nfunc = w[0], text = go118 ? w[2] : 0, nameoff = go118 ? w[3] : w[2], pcln = go118 ? w[7] : w[6];
	if (go118 && text == 0) {
		const Elf64_Shdr *tx = section(g, ".text"); /* a PIE leaves it to a relocation */
		if (!tx)
			return -1;
		text = tx->sh_addr;
	}
	size_t esz = go118 ? 8 : 16, nlen = strlen(name);
	if (pcln >= tlen || nameoff >= tlen || nfunc > (tlen - pcln) / esz - 1)
		return -1;
	const uint8_t *ft = t + pcln;
	for (uint64_t i = 0; i < nfunc; i++) {
		const uint8_t *ent = ft + i * esz;
		uint64_t funcoff = go118 ? rd(ent + 4, 4) : rd(ent + 8, 8);
		if (funcoff > tlen - pcln || tlen - pcln - funcoff < 16)
			continue;
		int32_t noff = (int32_t)rd(ft + funcoff + (go118 ? 4 : 8), 4);
		if (noff < 0 || (uint64_t)noff + nlen + 1 > tlen - nameoff)
			continue;
		if (memcmp(t + nameoff + noff, name, nlen + 1))
			continue;
		uint64_t entry = go118 ? text + rd(ent, 4) : rd(ent, 8);
		uint64_t next = go118 ? text + rd(ent + esz, 4) : rd(ent + esz, 8);
		if (next <= entry)
			return -1;
		f->via = "pclntab";
		f->vaddr = entry;
		f->size = next - entry; /* up to the next function: the gap is INT3 padding */
		return 0;
	}
	return -1;
}

int go_find_func(const struct go_elf *g, const char *name, const char *via, struct go_func *f, char *err, size_t errlen)
{
	memset(f, 0, sizeof(*f));
	int r = -1;
	if (!via || !strcmp(via, "symtab"))
		r = by_symtab(g, name, f);
	if (r && (!via ? 1 : !strcmp(via, "pclntab")))
		r = by_pclntab(g, name, f);
	if (r) {
		snprintf(err, errlen, "%s not found (%s)", name,
			 g->has_symtab ? "symbol table" : g->has_pclntab ? "no symbol table; not in .gopclntab either" : "no symbol table and no .gopclntab");
		return -1;
	}
	if (!g->x86_64)
		return fail(err, errlen, "Go probes need an x86_64 binary (the RET finder decodes x86-64 only)");
	int64_t off = f->size ? vaddr_off(g, f->vaddr, f->size) : -1;
	if (off < 0)
		return fail(err, errlen, "the function's code is not in a loaded segment");
	f->file_off = (uint64_t)off;
	/*
	 * The code is read through the page cache, not through our mapping: a
	 * uprobe puts its int3 into every mapping of the file that may execute,
	 * ours included, so while any tracer (or another h2rec) probes this
	 * binary the mapping shows 0xCC where its probes sit.
	 */
	if (f->size > (64u << 20))
		return fail(err, errlen, "the function is implausibly large");
	uint8_t *code = malloc(f->size);
	if (!code || pread(g->fd, code, f->size, off) != (ssize_t)f->size) {
		free(code);
		return fail(err, errlen, "cannot read the function's code");
	}
	uint64_t rets[GO_MAX_RETS];
	size_t bad = 0;
	int n = x86_find_rets(code, f->size, rets, GO_MAX_RETS, &bad);
	free(code);
	if (n < 0) {
		snprintf(err, errlen, "cannot decode the instruction at %s+0x%zx; no probe placed (one in the middle of an instruction would corrupt the program)", name, bad);
		return -1;
	}
	if (n == 0 || n > GO_MAX_RETS) {
		snprintf(err, errlen, "%s has %d RET instructions; no probe placed", name, n);
		return -1;
	}
	f->nrets = n;
	for (int i = 0; i < n; i++)
		f->ret_offs[i] = f->file_off + rets[i];
	return 0;
}
