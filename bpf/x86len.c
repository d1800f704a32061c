// SPDX-License-Identifier: MIT
/*
 * x86-64 instruction length decoder (64-bit mode only). See x86len.h.
 *
 * Each opcode map is a 256-character table, 16 opcodes per string, whose
 * letter says what follows the opcode byte (Intel SDM Vol. 2, Appendix A):
 *   1 nothing        M ModRM           b imm8          z imm16/32 (Iz)
 *   B ModRM + imm8   Z ModRM + Iz      w imm16         v imm16/32/64 (Iv, MOV r, imm)
 *   d rel32          m moffs (8 bytes, 4 with 0x67)    E imm16 + imm8 (ENTER)
 *   F F6 group (imm8 when reg is 0/1)  G F7 group (Iz when reg is 0/1)
 *   P legacy prefix  R REX             V VEX (C4/C5)   e EVEX (62)
 *   2 0F escape      T 0F 38 map       U 0F 3A map     X invalid in 64-bit mode
 */
#include "x86len.h"

static const char *const one_byte[16] = {
	"MMMMbzXXMMMMbzX2", /* 00 */
	"MMMMbzXXMMMMbzXX", /* 10 */
	"MMMMbzPXMMMMbzPX", /* 20: 26 ES, 2E CS */
	"MMMMbzPXMMMMbzPX", /* 30: 36 SS, 3E DS */
	"RRRRRRRRRRRRRRRR", /* 40: REX */
	"1111111111111111", /* 50: push/pop */
	"XXeMPPPPzZbB1111", /* 60: 62 EVEX, 63 movsxd, 64-67 prefixes */
	"bbbbbbbbbbbbbbbb", /* 70: jcc rel8 */
	"BZXBMMMMMMMMMMMM", /* 80 */
	"1111111111X11111", /* 90 */
	"mmmm1111bz111111", /* A0 */
	"bbbbbbbbvvvvvvvv", /* B0 */
	"BBw1VVBZE1w11bX1", /* C0: C2 ret iw, C3 ret */
	"MMMMXXX1MMMMMMMM", /* D0: D8-DF x87 */
	"bbbbbbbbddXb1111", /* E0: E8 call, E9 jmp */
	"P1PP11FG111111MM"  /* F0: F0 lock, F2/F3 rep */
};

static const char *const two_byte[16] = {
	"MMMMX11111X1XM1X", /* 0F 00 */
	"MMMMMMMMMMMMMMMM", /* 0F 10 (18-1F hints, 1E endbr64) */
	"MMMMXXXXMMMMMMMM", /* 0F 20 */
	"11111111TXUXXXXX", /* 0F 30: 38/3A three-byte maps */
	"MMMMMMMMMMMMMMMM", /* 0F 40: cmovcc */
	"MMMMMMMMMMMMMMMM", /* 0F 50 */
	"MMMMMMMMMMMMMMMM", /* 0F 60 */
	"BBBBMMM1MMMMMMMM", /* 0F 70: 77 emms/vzeroupper */
	"dddddddddddddddd", /* 0F 80: jcc rel32 */
	"MMMMMMMMMMMMMMMM", /* 0F 90: setcc */
	"111MBMXX111MBMMM", /* 0F A0 */
	"MMMMMMMMMMBMMMMM", /* 0F B0 */
	"MMBMBBBM11111111", /* 0F C0: C8-CF bswap */
	"MMMMMMMMMMMMMMMM", /* 0F D0 */
	"MMMMMMMMMMMMMMMM", /* 0F E0 */
	"MMMMMMMMMMMMMMMM"  /* 0F F0 */
};

static char kind_of(const char *const t[16], uint8_t op)
{
	return t[op >> 4][op & 15];
}

/* Bytes of ModRM, SIB and displacement starting at p[i]; -1 if truncated. */
static int modrm_len(const uint8_t *p, size_t n, size_t i)
{
	if (i >= n)
		return -1;
	uint8_t m = p[i];
	int mod = m >> 6, rm = m & 7, len = 1;
	if (mod != 3 && rm == 4) {
		if (i + 1 >= n)
			return -1;
		len++;
		if (mod == 0 && (p[i + 1] & 7) == 5)
			len += 4; /* SIB with no base: disp32 */
	} else if (mod == 0 && rm == 5) {
		len += 4; /* RIP-relative disp32 */
	}
	if (mod == 1)
		len += 1;
	else if (mod == 2)
		len += 4;
	return len;
}

/* VEX/EVEX-encoded instruction: opcode at p[i] in map `map`. */
static int vex_len(const uint8_t *p, size_t n, size_t i, int map)
{
	if (i >= n)
		return -1;
	uint8_t op = p[i++];
	int imm = 0;
	if (map == 1) {
		if (op == 0x77)
			return (int)i; /* vzeroupper/vzeroall: no ModRM */
		imm = kind_of(two_byte, op) == 'B';
	} else if (map == 3) {
		imm = 1;
	} else if (map != 2) {
		return -1;
	}
	int m = modrm_len(p, n, i);
	if (m < 0)
		return -1;
	return (int)i + m + imm;
}

int x86_decode(const uint8_t *p, size_t n, struct x86_insn *out)
{
	size_t i = 0;
	int opsize16 = 0, addr32 = 0, rexw = 0;
	for (;; i++) {
		if (i >= n || i >= 15)
			return -1;
		char k = kind_of(one_byte, p[i]);
		if (k == 'P') {
			opsize16 |= p[i] == 0x66;
			addr32 |= p[i] == 0x67;
			rexw = 0; /* a REX must come last: one before a legacy prefix is ignored */
		} else if (k == 'R') {
			rexw = (p[i] & 8) != 0;
		} else {
			break;
		}
	}
	uint8_t op = p[i];
	char k = kind_of(one_byte, op);
	int len = -1, iz = opsize16 && !rexw ? 2 : 4;
	out->is_ret = op == 0xC3 || op == 0xC2;
	i++;
	switch (k) {
	case '1': len = (int)i; break;
	case 'b': len = (int)i + 1; break;
	case 'w': len = (int)i + 2; break;
	case 'z': len = (int)i + iz; break;
	case 'd': len = (int)i + 4; break;
	case 'E': len = (int)i + 3; break;
	case 'v': len = (int)i + (rexw ? 8 : opsize16 ? 2 : 4); break;
	case 'm': len = (int)i + (addr32 ? 4 : 8); break;
	case 'M': case 'B': case 'Z': case 'F': case 'G': {
		int m = modrm_len(p, n, i);
		if (m < 0)
			return -1;
		int reg = (p[i] >> 3) & 7;
		len = (int)i + m;
		if (k == 'B' || (k == 'F' && reg < 2))
			len += 1;
		else if (k == 'Z' || (k == 'G' && reg < 2))
			len += iz;
		break;
	}
	case 'V': /* C5: 1 payload byte, map 0F; C4: 2 payload bytes, map in the low 5 bits */
		if (op == 0xC5)
			len = vex_len(p, n, i + 1, 1);
		else
			len = i < n ? vex_len(p, n, i + 2, p[i] & 0x1f) : -1;
		break;
	case 'e': /* EVEX: 3 payload bytes, map in the low 3 bits of the first */
		len = i < n ? vex_len(p, n, i + 3, p[i] & 7) : -1;
		break;
	case '2': {
		if (i >= n)
			return -1;
		uint8_t op2 = p[i++];
		char k2 = kind_of(two_byte, op2);
		if (k2 == 'T' || k2 == 'U') {
			if (i >= n)
				return -1;
			i++; /* the third opcode byte: every instruction of both maps has ModRM */
			int m = modrm_len(p, n, i);
			len = m < 0 ? -1 : (int)i + m + (k2 == 'U');
		} else if (k2 == '1') {
			len = (int)i;
		} else if (k2 == 'd') {
			len = (int)i + 4;
		} else if (k2 == 'M' || k2 == 'B') {
			int m = modrm_len(p, n, i);
			len = m < 0 ? -1 : (int)i + m + (k2 == 'B');
		}
		break;
	}
	default: /* X invalid, or a REX/prefix in the opcode position cannot happen */
		return -1;
	}
	if (len <= 0 || len > 15 || (size_t)len > n)
		return -1;
	out->len = len;
	return 0;
}

int x86_find_rets(const uint8_t *code, size_t n, uint64_t *offs, int max, size_t *bad)
{
	int count = 0;
	size_t off = 0;
	while (off < n) {
		struct x86_insn in;
		if (x86_decode(code + off, n - off, &in) != 0) {
			if (bad)
				*bad = off;
			return -1;
		}
		if (in.is_ret) {
			if (count < max)
				offs[count] = off;
			count++;
		}
		off += (size_t)in.len;
	}
	return count;
}
