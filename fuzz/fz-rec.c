/*
 * fz-rec: record streams (.hmr) through rec_read(), then rec_index_build()
 * and rec_read_at() at every indexed offset (rec.h).
 *
 * Checks: a record returned is within the REC_MAX_* limits, a raw image
 * has exactly width*height*channels bytes, every byte returned is readable;
 * an index built from the stream reads back through rec_read_at() with the
 * same labels, in the same order the stream gave.  Errors: one line.
 *
 * The custom mutator rewrites the CRC of each whole record most of the time,
 * so mutations get past the CRC check into the body parsers.
 */
#include "fz.h"
#include "rec.h"

#include <zlib.h>

static void fzrec_check(const struct record *rec)
{
	volatile unsigned char sink = 0;
	FZ_CHECK(rec->key != NULL);
	FZ_CHECK(strlen(rec->key) <= REC_MAX_KEY);
	if (rec->kind == REC_IMAGE) {
		FZ_CHECK(rec->width >= 1 && rec->width <= REC_MAX_SIDE);
		FZ_CHECK(rec->height >= 1 && rec->height <= REC_MAX_SIDE);
		FZ_CHECK(rec->channels == 1 || rec->channels == 3);
		FZ_CHECK(rec->encoding == REC_RAW || rec->encoding == REC_JPEG);
		if (rec->encoding == REC_RAW)
			FZ_CHECK(rec->n_pixels == (size_t)rec->width * rec->height *
						  rec->channels);
		if (rec->n_pixels)
			sink ^= rec->pixels[0] ^ rec->pixels[rec->n_pixels - 1];
	} else {
		FZ_CHECK(rec->kind == REC_EMBED);
		FZ_CHECK(rec->dim >= 1 && rec->dim <= REC_MAX_DIM);
		sink ^= (unsigned char)(rec->values[0] != rec->values[rec->dim - 1]);
	}
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *fp = fz_memfile(data, size);
	struct rec_reader r;
	struct record rec = { 0 };
	long n = 0;
	int got;
	rec_reader_init(&r, fp, "fuzz.hmr");
	while ((got = rec_read(&r, &rec)) == 1) {
		fzrec_check(&rec);
		n++;
	}
	if (got < 0)
		fz_check_error();
	FZ_CHECK(r.n_records == n);
	rewind(fp);
	struct rec_index ix;
	int rc = rec_index_build(&ix, fp, "fuzz.hmr");
	FZ_CHECK((rc == 0) == (got == 0));
	if (rc < 0) {
		fz_check_error();
		FZ_CHECK(ix.n == 0);
	} else {
		FZ_CHECK(ix.n == n);
		FZ_CHECK(ix.stream_size == size);
		rec_reader_init(&r, fp, "fuzz.hmr");
		for (long i = 0; i < ix.n; i++) {
			FZ_CHECK(ix.offset[i] < size);
			FZ_CHECK(rec_read_at(&r, ix.offset[i], &rec) == 0);
			FZ_CHECK(rec.label == ix.label[i]);
			FZ_CHECK(rec.offset == ix.offset[i]);
			fzrec_check(&rec);
		}
	}
	rec_index_free(&ix);
	record_release(&rec);
	fclose(fp);
	return 0;
}

#ifndef HM_FZ_REPLAY
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* Puts the right CRC on every complete record with a good magic. */
static void fzrec_fix_crcs(uint8_t *d, size_t size)
{
	size_t pos = 0;
	while (size - pos >= REC_HEADER_SIZE && !memcmp(d + pos, "HMR\x1a", 4)) {
		uint64_t kl = get_u32(d + pos + 8), bl = get_u32(d + pos + 12);
		if (kl + bl > size - pos - REC_HEADER_SIZE)
			break;
		uLong crc = crc32(0L, d + pos, 20);
		crc = crc32(crc, d + pos + REC_HEADER_SIZE, (uInt)(kl + bl));
		put_u32(d + pos + 20, (uint32_t)crc);
		pos += REC_HEADER_SIZE + kl + bl;
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed % 8)
		fzrec_fix_crcs(data, size);
	return size;
}
#endif
