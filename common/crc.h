/*
 * crc: zlib's CRC-32 (the gzip polynomial), faster on long buffers.
 *
 * crc_update(crc, p, n) equals zlib's crc32(crc, p, n) for every input; on
 * x86-64 CPUs with PCLMULQDQ and SSE4.1 the bulk of a buffer of 64 bytes or
 * more is folded 64 bytes at a time with carry-less multiplications (Intel,
 * "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ", 2009; the
 * constants of Chromium's zlib crc32_simd.c), about 4x zlib 1.2.13's
 * braided tables on a hot 256 KiB buffer; elsewhere, and for the tail, it
 * is zlib's.
 */
#ifndef HM_CRC_H
#define HM_CRC_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32 of the bytes so far (CRC; 0 to start) followed by P [N]. */
uint32_t crc_update(uint32_t crc, const void *p, size_t n);

#endif
