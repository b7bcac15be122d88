/*
 * fz-recidx: record stream indexes (.hmi) through rec_index_load() (rec.h).
 *
 * Checks: a loaded index has as many entries as the file holds (32-byte
 * header, 16 bytes an entry) and every entry is readable; a refused one is
 * left empty with a one-line message.  The custom mutator usually rewrites
 * the entry count and the CRC so mutations reach the fields after them.
 */
#include "fz.h"
#include "rec.h"

#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fz_tmpfile(data, size, ".hmi");
	struct rec_index ix;
	int rc = rec_index_load(&ix, path);
	if (rc < 0) {
		fz_check_error();
		FZ_CHECK(ix.n == 0 && ix.offset == NULL && ix.label == NULL);
	} else {
		FZ_CHECK(size >= 32 && (size_t)ix.n == (size - 32) / 16);
		volatile uint64_t sink = 0;
		for (long i = 0; i < ix.n; i++)
			sink ^= ix.offset[i] ^ (uint64_t)ix.label[i];
		(void)sink;
	}
	rec_index_free(&ix);
	fz_unlink(path);
	return 0;
}

#ifndef HM_FZ_REPLAY
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (size >= 32 && seed % 8) {
		if (seed % 8 != 1)
			put_u64(data + 8, (size - 32) / 16);
		put_u32(data + 24, (uint32_t)crc32(0L, data + 32, (uInt)(size - 32)));
	}
	return size;
}
#endif
