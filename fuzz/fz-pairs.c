/*
 * fz-pairs: verification pair lists through pairs_load() (pairs.h).  The
 * first input byte picks the format (mod 5: auto, lfw, ytf, arcface, csv);
 * the rest is the file.
 *
 * Checks on success: a concrete format; every pair has two non-empty keys,
 * same 0 or 1, a line number within the file, and a fold that is -1 when
 * the list has no folds, else 0 .. n_folds-1.  On failure: an empty list
 * and a one-line message.
 */
#include "fz.h"
#include "pairs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum pairs_format format = (enum pairs_format)(data[0] % 5);
	const char *path = fz_tmpfile(data + 1, size - 1, ".txt");
	struct pair_list list;
	int rc = pairs_load(&list, path, format);
	if (rc < 0) {
		fz_check_error();
		FZ_CHECK(list.n == 0 && list.p == NULL);
	} else {
		long lines = 1;
		for (size_t i = 1; i < size; i++)
			lines += data[i] == '\n';
		FZ_CHECK(list.format != PAIRS_AUTO);
		FZ_CHECK(format == PAIRS_AUTO || list.format == format);
		FZ_CHECK(list.n >= 0 && list.n_folds >= 0);
		for (long i = 0; i < list.n; i++) {
			const struct pair *p = &list.p[i];
			FZ_CHECK(p->a && p->a[0] && p->b && p->b[0]);
			FZ_CHECK(p->same == 0 || p->same == 1);
			FZ_CHECK(p->line >= 1 && p->line <= lines);
			if (list.n_folds == 0)
				FZ_CHECK(p->fold == -1);
			else
				FZ_CHECK(p->fold >= 0 && p->fold < list.n_folds);
		}
	}
	pair_list_free(&list);
	fz_unlink(path);
	return 0;
}
