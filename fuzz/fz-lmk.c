/*
 * fz-lmk: landmark files through lmk_load() (lmk.h).  The first input byte
 * picks the format (mod 5: auto, plain, casia, lst, csv); the rest is the
 * file.
 *
 * Checks on success: at least one entry, a concrete format, and each entry
 * as lmk.h promises: a relative path without '..' components or control
 * characters, label -1 (plain) or 0..2^31-1 (casia, lst), finite
 * coordinates within 1e6.  On failure: an empty list and a one-line message.
 */
#include "fz.h"
#include "lmk.h"

#include <math.h>

static void fzlmk_check_path(const char *p)
{
	FZ_CHECK(p != NULL && p[0] != '\0' && p[0] != '/');
	for (const char *s = p; *s; s++)
		FZ_CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
	for (const char *s = p; s; s = strchr(s, '/')) {
		if (*s == '/')
			s++;
		FZ_CHECK(strncmp(s, "..", 2) || (s[2] != '/' && s[2] != '\0'));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum lmk_format format = (enum lmk_format)(data[0] % 5);
	const char *path = fz_tmpfile(data + 1, size - 1, ".txt");
	struct lmk_list list;
	int rc = lmk_load(&list, path, format);
	if (rc < 0) {
		fz_check_error();
		FZ_CHECK(list.n == 0 && list.e == NULL);
	} else {
		FZ_CHECK(list.n >= 1);
		FZ_CHECK(list.format != LMK_AUTO);
		FZ_CHECK(format == LMK_AUTO || list.format == format);
		for (long i = 0; i < list.n; i++) {
			const struct lmk_entry *e = &list.e[i];
			fzlmk_check_path(e->path);
			if (list.format == LMK_PLAIN || list.format == LMK_YTF)
				FZ_CHECK(e->label == -1);	/* no label field */
			else if (list.format != LMK_CSV)
				FZ_CHECK(e->label >= 0);
			else
				FZ_CHECK(e->label >= -1);
			for (int k = 0; k < 5; k++)
				for (int c = 0; c < 2; c++)
					FZ_CHECK(isfinite(e->pt[k][c]) &&
						 fabsf(e->pt[k][c]) <= 1e6f);
		}
	}
	lmk_list_free(&list);
	fz_unlink(path);
	return 0;
}
