/* crc: zlib's CRC-32, folded with PCLMULQDQ where the CPU has it (crc.h). */
#include "crc.h"

#include <zlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#define HAVE_CLMUL 1

/*
 * The reflected CRC register state STATE (not inverted) after N bytes at
 * BUF, N >= 64 and a multiple of 16: four 128-bit lanes folded forward 64
 * bytes at a time (k1, k2), folded into one (k3, k4), 16 bytes at a time
 * for the rest, then reduced 128 -> 64 -> 32 bits (k5, then Barrett with
 * the polynomial P and mu).  Chromium's crc32_sse42_simd_(), reworded.
 */
__attribute__((target("pclmul,sse4.1")))
static uint32_t fold(const unsigned char *buf, size_t n, uint32_t state)
{
	const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
	const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
	const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124);
	const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
	const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);
	__m128i x1 = _mm_loadu_si128((const __m128i *)buf);
	__m128i x2 = _mm_loadu_si128((const __m128i *)(buf + 16));
	__m128i x3 = _mm_loadu_si128((const __m128i *)(buf + 32));
	__m128i x4 = _mm_loadu_si128((const __m128i *)(buf + 48));
	x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)state));
	buf += 64, n -= 64;
	for (; n >= 64; buf += 64, n -= 64) {
		__m128i a1 = _mm_clmulepi64_si128(x1, k1k2, 0x00);
		__m128i a2 = _mm_clmulepi64_si128(x2, k1k2, 0x00);
		__m128i a3 = _mm_clmulepi64_si128(x3, k1k2, 0x00);
		__m128i a4 = _mm_clmulepi64_si128(x4, k1k2, 0x00);
		x1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
		x2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
		x3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
		x4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
		x1 = _mm_xor_si128(_mm_xor_si128(x1, a1),
				   _mm_loadu_si128((const __m128i *)buf));
		x2 = _mm_xor_si128(_mm_xor_si128(x2, a2),
				   _mm_loadu_si128((const __m128i *)(buf + 16)));
		x3 = _mm_xor_si128(_mm_xor_si128(x3, a3),
				   _mm_loadu_si128((const __m128i *)(buf + 32)));
		x4 = _mm_xor_si128(_mm_xor_si128(x4, a4),
				   _mm_loadu_si128((const __m128i *)(buf + 48)));
	}
	const __m128i next[3] = { x2, x3, x4 };
	for (int i = 0; i < 3; i++) {
		__m128i a = _mm_clmulepi64_si128(x1, k3k4, 0x00);
		x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
		x1 = _mm_xor_si128(_mm_xor_si128(x1, next[i]), a);
	}
	for (; n >= 16; buf += 16, n -= 16) {
		__m128i a = _mm_clmulepi64_si128(x1, k3k4, 0x00);
		x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
		x1 = _mm_xor_si128(_mm_xor_si128(x1, _mm_loadu_si128((const __m128i *)buf)), a);
	}
	/* 128 -> 64 bits */
	x2 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
	x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
	x2 = _mm_srli_si128(x1, 4);
	x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), k5, 0x00);
	x1 = _mm_xor_si128(x1, x2);
	/* Barrett reduction to 32 bits */
	x2 = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), poly, 0x10);
	x2 = _mm_clmulepi64_si128(_mm_and_si128(x2, low32), poly, 0x00);
	x1 = _mm_xor_si128(x1, x2);
	return (uint32_t)_mm_extract_epi32(x1, 1);
}

/* Does the CPU have PCLMULQDQ and SSE4.1?  Asked once (cpuid may trap to
 * a hypervisor); the threads that race to ask store the same answer. */
static int have_clmul(void)
{
	static atomic_int known = -1;
	int k = atomic_load_explicit(&known, memory_order_relaxed);
	if (k < 0) {
		unsigned a, b, c, d;
		k = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_PCLMUL) && (c & bit_SSE4_1);
		atomic_store_explicit(&known, k, memory_order_relaxed);
	}
	return k;
}
#endif

uint32_t crc_update(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;
#ifdef HAVE_CLMUL
	if (n >= 64 && have_clmul()) {
		const size_t m = n & ~(size_t)15;
		crc = ~fold(b, m, ~crc);
		b += m, n -= m;
	}
#endif
	/* zlib: lengths are unsigned ints, and a NULL buffer restarts */
	while (n > 0) {
		const uInt k = n > (1u << 30) ? 1u << 30 : (uInt)n;
		crc = (uint32_t)crc32(crc, b, k);
		b += k, n -= k;
	}
	return crc;
}
