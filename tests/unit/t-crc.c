/* crc_update() against zlib's crc32(): every length and alignment around
 * the folded path's limits (64 bytes, multiples of 16), long buffers,
 * chained calls, and the standard check value. */
#include "tap.h"
#include "crc.h"

#include <stdint.h>
#include <zlib.h>

int main(void)
{
	const size_t big = (size_t)3 << 20;
	unsigned char *b = malloc(big + 64);
	uint64_t s = 88172645463325252ULL;
	for (size_t i = 0; i < big + 64; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		b[i] = (unsigned char)(s >> 32);
	}
	is_int(crc_update(0, "123456789", 9), 0xcbf43926u, "check value of \"123456789\"");
	is_int(crc_update(0x1234u, b, 0), 0x1234u, "no bytes: the CRC as it was");

	int bad = 0;
	for (size_t n = 0; n <= 1100; n++)
		for (int off = 0; off < 16; off += 3) {
			uint32_t seed = (uint32_t)(n * 2654435761u);
			if (crc_update(seed, b + off, n) != (uint32_t)crc32(seed, b + off, (uInt)n))
				bad++, diag("length %zu, offset %d", n, off);
		}
	is_int(bad, 0, "lengths 0 to 1100 at offsets 0 to 15, any starting CRC: zlib's");
	ok(crc_update(0, b + 1, big) == (uint32_t)crc32(0, b + 1, (uInt)big),
	   "3 MiB, unaligned: zlib's");
	uint32_t c = 0;
	for (size_t at = 0; at < big; at += 65536 + 7)
		c = crc_update(c, b + at, big - at < 65536 + 7 ? big - at : 65536 + 7);
	is_int(c, (uint32_t)crc32(0, b, (uInt)big), "the same bytes in pieces: one CRC");
	memset(b, 0, 4096);
	ok(crc_update(0, b, 4096) == (uint32_t)crc32(0, b, 4096) &&
	   crc_update(~0u, b, 4096) == (uint32_t)crc32(~0uL, b, 4096), "zeros: zlib's");
	free(b);
	return done_testing();
}
