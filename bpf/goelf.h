/* SPDX-License-Identifier: MIT */
/*
 * Reading a Go executable: is it Go (build info), which Go, where are its
 * functions (ELF .symtab, or .gopclntab when stripped), and where are the
 * RET instructions of a function (x86len.h). Only the target binary itself is
 * read, mapped read-only, as libbpf does to resolve uprobe symbols.
 */
#ifndef H2REC_GOELF_H
#define H2REC_GOELF_H

#include <stddef.h>
#include <stdint.h>

#define GO_MAX_RETS 64
/* The register-based calling convention (ABIInternal) arrived on amd64 in Go 1.17. */
#define GO_MIN_REGABI_MINOR 17

struct go_elf {
	const uint8_t *map;
	size_t size;
	int fd;           /* kept open: function code is read with pread(), see go_find_func */
	int is_go;        /* build info found */
	char version[64]; /* e.g. "go1.19.8", "" when unknown */
	int minor;        /* 19 for go1.19.8; -1 unknown */
	int x86_64;
	int has_symtab;
	int has_pclntab;  /* a .gopclntab section (PIE binaries keep it unnamed in .data.rel.ro) */
};

struct go_func {
	const char *via;   /* "symtab" or "pclntab" */
	uint64_t vaddr;
	uint64_t size;
	uint64_t file_off; /* of the entry: what a uprobe is attached at */
	int nrets;
	uint64_t ret_offs[GO_MAX_RETS]; /* file offsets of every RET */
};

/* Maps path and reads its build info. 0 on success (Go or not: see is_go), -1 with err set. */
int go_open(const char *path, struct go_elf *g, char *err, size_t errlen);
void go_close(struct go_elf *g);
/*
 * Finds a function and its RETs. via: NULL = symtab, else pclntab; "symtab" or
 * "pclntab" forces one. 0 on success, -1 with err set (not found, or machine
 * code the decoder refuses: then no probe may be placed).
 */
int go_find_func(const struct go_elf *g, const char *name, const char *via, struct go_func *f, char *err, size_t errlen);

#endif
