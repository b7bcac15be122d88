/*
 * fz-mxidx: MXNet RecordIO indexes (.idx text, "key<TAB>offset" lines)
 * through mxrec_index_load() and mxrec_index_find() (mxrec.h).
 *
 * Checks on success: by_key is a permutation of the lines sorted by key
 * (then line), and mxrec_index_find() of every key gives the last line with
 * that key, as Python's dict does.  On failure: a one-line message.
 */
#include "fz.h"
#include "mxrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fz_tmpfile(data, size, ".idx");
	struct mxrec_index ix;
	memset(&ix, 0, sizeof ix);
	if (mxrec_index_load(&ix, path) < 0) {
		fz_check_error();
	} else {
		FZ_CHECK(ix.n >= 0);
		for (long i = 0; i < ix.n; i++) {
			FZ_CHECK(ix.by_key[i] >= 0 && ix.by_key[i] < ix.n);
			if (i) {
				long a = ix.by_key[i - 1], b = ix.by_key[i];
				FZ_CHECK(ix.key[a] < ix.key[b] ||
					 (ix.key[a] == ix.key[b] && a < b));
			}
		}
		for (long i = 0; i < ix.n; i++) {
			long line = mxrec_index_find(&ix, ix.key[i]);
			FZ_CHECK(line >= i && ix.key[line] == ix.key[i]);
			for (long j = line + 1; j < ix.n && j < line + 64; j++)
				FZ_CHECK(ix.key[j] != ix.key[i]);
		}
		FZ_CHECK(ix.n == 0 || mxrec_index_find(&ix, INT64_MIN) == -1 ||
			 ix.key[ix.by_key[0]] == INT64_MIN);
	}
	mxrec_index_free(&ix);
	fz_unlink(path);
	return 0;
}
