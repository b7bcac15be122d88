/*
 * fz-scores: the scores CSV (hm-verify's output, hm-roc's input) through
 * scores_load() (scores.h).
 *
 * Checks on success: fold >= -1, same 0 or 1, finite scores.  On failure:
 * a one-line message.
 */
#include "fz.h"
#include "scores.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fz_tmpfile(data, size, ".csv");
	struct scores s;
	memset(&s, 0, sizeof s);
	if (scores_load(&s, path) < 0) {
		fz_check_error();
	} else {
		FZ_CHECK(s.n >= 0);
		for (long i = 0; i < s.n; i++) {
			FZ_CHECK(s.fold[i] >= -1);
			FZ_CHECK(s.same[i] == 0 || s.same[i] == 1);
			FZ_CHECK(isfinite(s.score[i]));
		}
	}
	scores_free(&s);
	fz_unlink(path);
	return 0;
}
