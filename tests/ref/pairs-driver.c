/*
 * pairs-driver: prints a pair list as pairs_load() reads it, for
 * tests/ref/pairs_check.py.
 *
 *   pairs-driver FILE [FORMAT]        (FORMAT: auto, lfw, ytf, arcface, csv)
 *
 * Output: "format NAME n_folds K n N", then one line per pair,
 * "fold<TAB>same<TAB>a<TAB>b<TAB>line".  Exit 1 with the message on stderr
 * (and nothing on stdout) when the list does not load, 2 on bad usage.
 */
#include "err.h"
#include "pairs.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	struct pair_list l;
	int format = PAIRS_AUTO;
	hm_set_progname(argv[0]);
	if (argc < 2 || argc > 3)
		die_usage("usage: pairs-driver FILE [FORMAT]");
	if (argc == 3 && (format = pairs_format_parse(argv[2])) < 0)
		die_usage("'%s': unknown pair-list format", argv[2]);
	if (pairs_load(&l, argv[1], (enum pairs_format)format) < 0)
		die("%s", hm_errmsg());
	printf("format %s n_folds %d n %ld\n", pairs_format_name(l.format), l.n_folds, l.n);
	for (long i = 0; i < l.n; i++)
		printf("%d\t%d\t%s\t%s\t%ld\n", l.p[i].fold, l.p[i].same, l.p[i].a, l.p[i].b,
		       l.p[i].line);
	pair_list_free(&l);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("stdout: write failed");
	return 0;
}
