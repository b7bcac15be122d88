/*
 * scores: the scores CSV that hm-verify writes and hm-roc reads.
 *
 *   fold,same,score,a,b
 *   0,1,0.71327519416809082,Abel_Pacheco/Abel_Pacheco_0001,Abel_Pacheco/Abel_Pacheco_0004
 *
 * fold: the pair list's fold (a label 0..999: each distinct label is a
 * fold, metrics.h), or -1 when the pair list has no folds; same: 1 or 0;
 * score: cosine similarity (a finite decimal number, higher = more alike),
 * written with the fewest digits that read back as the same double; a, b:
 * the pair's keys (quoted by csvio_put() when they need it).  A reader
 * requires the header's first three fields to be fold,same,score; the key
 * columns may be left out (a header of exactly three fields), and every row
 * must have as many fields as the header.  The order of rows is kept.
 *
 * Ownership: scores_load() fills a caller-owned struct whose arrays it
 * allocates; free them with scores_free().  The keys are not kept.
 */
#ifndef HM_SCORES_H
#define HM_SCORES_H

#include <stdio.h>

#define SCORES_HEADER "fold,same,score,a,b"

struct scores {
	long n;
	int *fold;
	int *same;
	double *score;
};

/* Reads PATH ("-" = stdin).  0, or -1 with "'path': line N: ..." recorded
 * (S then empty).  At least one row is required. */
int scores_load(struct scores *s, const char *path);
void scores_free(struct scores *s);

/* Writes the header line.  0, or -1 ("write error") */
int scores_write_header(FILE *fp);
/* Writes one row.  0, or -1 ("write error"). */
int scores_write_row(FILE *fp, int fold, int same, double score, const char *a,
		     const char *b);

struct pair_list;
/*
 * Writes the scores file of PAIRS, SCORE[i] the score of pair i, to PATH
 * ("-": stdout) complete or not at all (outfile.h).  0, or -1 with the
 * message recorded and errno the write's error (EPIPE: the reader went
 * away, which a tool takes as outfile_quiet_on_epipe() says).
 */
int scores_write(const char *path, const struct pair_list *pairs, const double *score);

/* Formats V with the fewest significant digits (at most 17) that strtod()
 * reads back as V exactly; BUF holds at least 32 bytes.  Returns BUF. */
char *scores_fmt_double(char *buf, double v);

#endif
