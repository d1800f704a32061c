// SPDX-License-Identifier: MIT
/*
 * Tests of the x86-64 length decoder and the Go ELF reader.
 *   x86len-test                      hand-made cases; exit 1 on any failure
 *   x86len-test --dump FILE OFF LEN  one line per instruction: "offset length" (hex offset from OFF),
 *                                    for comparison with objdump by test/bpf/x86len.test.ts
 *   x86len-test --go FILE NAME VIA   the function's entry and RETs (file offsets) found via symtab|pclntab
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "goelf.h"
#include "x86len.h"

struct tcase {
	const char *what;
	int len;
	int is_ret;
	unsigned char b[16];
};

static const struct tcase cases[] = {
	{ "ret", 1, 1, { 0xc3 } },
	{ "ret imm16", 3, 1, { 0xc2, 0x10, 0x00 } },
	{ "rep ret", 2, 1, { 0xf3, 0xc3 } },
	{ "nop", 1, 0, { 0x90 } },
	{ "int3", 1, 0, { 0xcc } },
	{ "push rbp", 1, 0, { 0x55 } },
	{ "push r14 (REX)", 2, 0, { 0x41, 0x56 } },
	{ "mov rbp,rsp", 3, 0, { 0x48, 0x89, 0xe5 } },
	{ "cmp rsp,[r14+0x10]", 4, 0, { 0x49, 0x3b, 0x66, 0x10 } },
	{ "sub rsp,0x58 (83 ib)", 4, 0, { 0x48, 0x83, 0xec, 0x58 } },
	{ "sub rsp,0x1000 (81 id)", 7, 0, { 0x48, 0x81, 0xec, 0x00, 0x10, 0x00, 0x00 } },
	{ "mov [rsp+0x60],rax (SIB disp8)", 5, 0, { 0x48, 0x89, 0x44, 0x24, 0x60 } },
	{ "mov rax,[rip+disp32]", 7, 0, { 0x48, 0x8b, 0x05, 1, 2, 3, 4 } },
	{ "lea rax,[rbx*8+disp32] (SIB no base)", 8, 0, { 0x48, 0x8d, 0x04, 0xdd, 1, 2, 3, 4 } },
	{ "mov eax,imm32", 5, 0, { 0xb8, 1, 2, 3, 4 } },
	{ "movabs rax,imm64", 10, 0, { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 } },
	{ "mov ax,imm16", 4, 0, { 0x66, 0xb8, 1, 2 } },
	{ "mov qword [rsp+8],imm32 (C7)", 9, 0, { 0x48, 0xc7, 0x44, 0x24, 0x08, 1, 2, 3, 4 } },
	{ "mov word [rax],imm16 (66 C7)", 5, 0, { 0x66, 0xc7, 0x00, 1, 2 } },
	{ "test byte [rax],imm8 (F6 /0)", 3, 0, { 0xf6, 0x00, 0x01 } },
	{ "neg qword [rax] (F7 /3)", 3, 0, { 0x48, 0xf7, 0x18 } },
	{ "test eax,imm32 (F7 /0)", 6, 0, { 0xf7, 0xc0, 1, 2, 3, 4 } },
	{ "call rel32", 5, 0, { 0xe8, 1, 2, 3, 4 } },
	{ "jmp rel8", 2, 0, { 0xeb, 0xfe } },
	{ "jne rel32", 6, 0, { 0x0f, 0x85, 1, 2, 3, 4 } },
	{ "syscall", 2, 0, { 0x0f, 0x05 } },
	{ "endbr64", 4, 0, { 0xf3, 0x0f, 0x1e, 0xfa } },
	{ "nopw cs:[rax+rax*1+0] (long nop)", 10, 0, { 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0 } },
	{ "movups xmm15,[rsp] ", 5, 0, { 0x44, 0x0f, 0x10, 0x3c, 0x24 } },
	{ "pshufd xmm0,xmm1,0x1b (66 0F 70 ib)", 5, 0, { 0x66, 0x0f, 0x70, 0xc1, 0x1b } },
	{ "pshufb xmm0,xmm1 (0F 38)", 5, 0, { 0x66, 0x0f, 0x38, 0x00, 0xc1 } },
	{ "palignr xmm0,xmm1,4 (0F 3A)", 6, 0, { 0x66, 0x0f, 0x3a, 0x0f, 0xc1, 0x04 } },
	{ "aesenc xmm0,[rax+0x10] (0F 38 disp8)", 6, 0, { 0x66, 0x0f, 0x38, 0xdc, 0x40, 0x10 } },
	{ "vmovdqu ymm0,[rsi] (C5)", 4, 0, { 0xc5, 0xfe, 0x6f, 0x06 } },
	{ "vpshufb ymm0,ymm1,ymm2 (C4 map 2)", 5, 0, { 0xc4, 0xe2, 0x75, 0x00, 0xc2 } },
	{ "vpalignr ymm0,ymm1,ymm2,8 (C4 map 3)", 6, 0, { 0xc4, 0xe3, 0x75, 0x0f, 0xc2, 0x08 } },
	{ "vzeroupper", 3, 0, { 0xc5, 0xf8, 0x77 } },
	{ "vmovdqu64 zmm0,[rsi] (EVEX)", 6, 0, { 0x62, 0xf1, 0xfe, 0x48, 0x6f, 0x06 } },
	{ "cmpxchg [rbx],rcx with lock", 5, 0, { 0xf0, 0x48, 0x0f, 0xb1, 0x0b } },
	{ "xchg (90+r)", 2, 0, { 0x48, 0x91 } },
	{ "mov rax,fs:[0xfffffffffffffff8]", 9, 0, { 0x64, 0x48, 0x8b, 0x04, 0x25, 0xf8, 0xff, 0xff, 0xff } },
	{ "movabs al,moffs64", 9, 0, { 0xa0, 1, 2, 3, 4, 5, 6, 7, 8 } },
	{ "enter", 4, 0, { 0xc8, 1, 2, 3 } },
	{ "imul eax,ebx,imm8 (6B)", 3, 0, { 0x6b, 0xc3, 0x05 } },
	{ "bt eax,5 (0F BA ib)", 4, 0, { 0x0f, 0xba, 0xe0, 0x05 } },
	{ "shl rax,3 (C1)", 4, 0, { 0x48, 0xc1, 0xe0, 0x03 } },
	{ "fld qword [rax] (x87)", 2, 0, { 0xdd, 0x00 } },
	{ "popcnt rax,rbx", 5, 0, { 0xf3, 0x48, 0x0f, 0xb8, 0xc3 } },
	{ "cpuid", 2, 0, { 0x0f, 0xa2 } },
	{ "mfence", 3, 0, { 0x0f, 0xae, 0xf0 } },
	{ "invalid 06", -1, 0, { 0x06 } },
	{ "invalid D6", -1, 0, { 0xd6 } },
	{ "truncated call", -1, 0, { 0xe8, 1, 2 } },
	{ "16 prefixes", -1, 0, { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x90 } },
};

static int run_cases(void)
{
	int bad = 0, n = sizeof(cases) / sizeof(cases[0]);
	for (int i = 0; i < n; i++) {
		const struct tcase *c = &cases[i];
		size_t avail = c->len > 0 ? (size_t)c->len : 16;
		if (!strcmp(c->what, "truncated call"))
			avail = 3;
		struct x86_insn in = { 0 };
		int r = x86_decode(c->b, avail, &in);
		int got = r ? -1 : in.len;
		if (got != c->len || (!r && in.is_ret != c->is_ret)) {
			printf("FAIL %s: length %d ret %d, want %d ret %d\n", c->what, got, in.is_ret, c->len, c->is_ret);
			bad++;
		}
		/* Any shorter buffer is a truncation, never a shorter instruction. */
		for (size_t k = 1; c->len > 0 && k < (size_t)c->len; k++)
			if (x86_decode(c->b, k, &in) == 0) {
				printf("FAIL %s: decoded from %zu of %d bytes\n", c->what, k, c->len);
				bad++;
				break;
			}
	}
	unsigned char fn[] = { 0x49, 0x3b, 0x66, 0x10, 0x76, 0x05, 0x48, 0x83, 0xec, 0x18, 0xc3, 0x90, 0xc2, 0x08, 0x00, 0xcc };
	uint64_t offs[4];
	int k = x86_find_rets(fn, sizeof(fn), offs, 4, NULL);
	if (k != 2 || offs[0] != 10 || offs[1] != 12) {
		printf("FAIL find_rets: %d\n", k);
		bad++;
	}
	printf("%d cases, %d failed\n", n + 1, bad);
	return bad ? 1 : 0;
}

static int dump(const char *path, unsigned long off, unsigned long len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || off > (unsigned long)st.st_size || len > (unsigned long)st.st_size - off) {
		fprintf(stderr, "bad file or range\n");
		return 2;
	}
	const uint8_t *m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	for (unsigned long o = 0; o < len;) {
		struct x86_insn in;
		if (x86_decode(m + off + o, len - o, &in)) {
			printf("%lx bad\n", o);
			return 1;
		}
		printf("%lx %d\n", o, in.len);
		o += in.len;
	}
	return 0;
}

static int go(const char *path, const char *name, const char *via)
{
	struct go_elf g;
	struct go_func f;
	char err[512];
	if (go_open(path, &g, err, sizeof(err))) {
		printf("{\"error\":\"%s\"}\n", err);
		return 1;
	}
	int r = go_find_func(&g, name, via, &f, err, sizeof(err));
	printf("{\"go\":%s,\"version\":\"%s\",\"minor\":%d,", g.is_go ? "true" : "false", g.version, g.minor);
	if (r) {
		printf("\"error\":\"%s\"}\n", err);
	} else {
		printf("\"via\":\"%s\",\"vaddr\":%llu,\"size\":%llu,\"entry\":%llu,\"rets\":[", f.via, (unsigned long long)f.vaddr,
		       (unsigned long long)f.size, (unsigned long long)f.file_off);
		for (int i = 0; i < f.nrets; i++)
			printf("%s%llu", i ? "," : "", (unsigned long long)f.ret_offs[i]);
		printf("]}\n");
	}
	go_close(&g);
	return r ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "--dump"))
		return dump(argv[2], strtoul(argv[3], NULL, 0), strtoul(argv[4], NULL, 0));
	if (argc == 5 && !strcmp(argv[1], "--go"))
		return go(argv[2], argv[3], strcmp(argv[4], "auto") ? argv[4] : NULL);
	return run_cases();
}
