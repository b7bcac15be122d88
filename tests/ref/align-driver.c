/*
 * align-driver: prints the similarity hm-align fits for each landmark line,
 * so tests/ref/align_opencv.py can check it against numpy.
 *   align-driver TEMPLATE WxH LANDMARKS   (WxH "0x0" = the template's size)
 * Output, one line per entry: m0 m1 m2 m3 m4 m5 (u = m0 x + m1 y + m2, ...),
 * then a line "template" with the ten template coordinates.
 */
#include "align.h"
#include "err.h"
#include "lmk.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int w, h;
	hm_set_progname(argv[0]);
	if (argc != 4 || sscanf(argv[2], "%dx%d", &w, &h) != 2) {
		fprintf(stderr, "usage: align-driver TEMPLATE WxH LANDMARKS\n");
		return 2;
	}
	struct align_template t;
	struct lmk_list l;
	if (align_template_init(&t, argv[1], w, h) || lmk_load(&l, argv[3], LMK_AUTO))
		die("%s", hm_errmsg());
	for (long i = 0; i < l.n; i++) {
		double src[5][2], m[6];
		for (int k = 0; k < 5; k++)
			src[k][0] = l.e[i].pt[k][0], src[k][1] = l.e[i].pt[k][1];
		if (align_fit(m, (const double (*)[2])src, (const double (*)[2])t.pt, 5))
			die("%s: %s", l.e[i].path, hm_errmsg());
		printf("%.17g %.17g %.17g %.17g %.17g %.17g\n", m[0], m[1], m[2], m[3], m[4], m[5]);
	}
	printf("template");
	for (int k = 0; k < 5; k++)
		printf(" %.17g %.17g", t.pt[k][0], t.pt[k][1]);
	printf("\n");
	lmk_list_free(&l);
	return 0;
}
