/* SPDX-License-Identifier: MIT */
/*
 * A small x86-64 instruction LENGTH decoder: enough to walk a function's
 * machine code instruction by instruction and find its RET instructions, so
 * that Go functions get a uprobe at every RET instead of a uretprobe (a
 * uretprobe rewrites the return address on the goroutine stack, which Go's
 * stack copying and traceback do not survive).
 *
 * A probe placed in the middle of an instruction would corrupt the traced
 * program, so the decoder never guesses: any byte sequence it does not
 * recognise is an error and the caller places no probes at all.
 */
#ifndef H2REC_X86LEN_H
#define H2REC_X86LEN_H

#include <stddef.h>
#include <stdint.h>

struct x86_insn {
	int len;     /* 1..15 */
	int is_ret;  /* near RET: C3, or C2 iw (with any legacy/REX prefixes) */
};

/* Decodes the instruction at p (n bytes available). 0 on success, -1 if unknown or truncated. */
int x86_decode(const uint8_t *p, size_t n, struct x86_insn *out);

/*
 * Offsets (from code) of every RET in code[0..n). Returns the count (at most
 * max are stored; a larger count means the array was too small), or -1 with
 * *bad set to the offset of the first undecodable instruction.
 */
int x86_find_rets(const uint8_t *code, size_t n, uint64_t *offs, int max, size_t *bad);

#endif
