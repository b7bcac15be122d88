/*
 * fz-mxrec: MXNet RecordIO files (.rec) through mxrec_read(),
 * mxrec_unpack() and mxrec_read_at() (mxrec.h).
 *
 * Checks: each record fits MXREC_MAX_RECORD and every byte of it is
 * readable; an unpacked header's labels and payload lie inside the record;
 * reading again at each record's offset gives the same bytes (the first
 * FZMX_MAX records).  Errors are one line.
 */
#include "fz.h"
#include "mxrec.h"

#include <zlib.h>

#define FZMX_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *fp = fz_memfile(data, size);
	struct mxrec_reader r;
	const unsigned char *rec;
	size_t n;
	uint64_t off[FZMX_MAX];
	size_t len[FZMX_MAX];
	uLong sum[FZMX_MAX];
	uint64_t at;
	int got, k = 0;
	mxrec_reader_init(&r, fp, "fuzz.rec");
	while ((got = mxrec_read(&r, &rec, &n, &at)) == 1) {
		FZ_CHECK(n <= MXREC_MAX_RECORD);
		uLong crc = n ? crc32(0L, rec, (uInt)n) : 0;
		struct mxrec_header h;
		if (mxrec_unpack(&h, rec, n) == 0) {
			FZ_CHECK(h.labels >= rec && h.payload >= h.labels);
			FZ_CHECK(h.payload + h.n_payload == rec + n);
			FZ_CHECK((size_t)(h.payload - h.labels) == 4 * (size_t)h.n_labels);
			volatile float sink = mxrec_class(&h);
			if (h.n_labels)
				sink += mxrec_label_at(&h, h.n_labels - 1);
			(void)sink;
		} else {
			fz_check_error();
		}
		FZ_CHECK(at < size);
		if (k < FZMX_MAX) {
			off[k] = at;
			len[k] = n;
			sum[k] = crc;
			k++;
		}
	}
	if (got < 0)
		fz_check_error();
	for (int i = 0; i < k; i++) {
		FZ_CHECK(mxrec_read_at(&r, off[i], i, &rec, &n) == 0);
		FZ_CHECK(n == len[i]);
		FZ_CHECK((n ? crc32(0L, rec, (uInt)n) : 0) == sum[i]);
	}
	mxrec_reader_release(&r);
	fclose(fp);
	return 0;
}
