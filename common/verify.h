/*
 * verify: cosine scores for a pair list from an embedding stream (the work
 * of hm-verify(1); the scores file itself is written with scores.h).
 *
 * Keys.  A pair names two keys (pairs.h).  For image lists (lfw, arcface,
 * csv) a key is a record key and its embedding is that record's vector.  For
 * video lists (ytf, or any list with VIDEOS set) a key names a video, and its
 * embedding aggregates every record whose key starts with "KEY/": the
 * normalised mean of the frames' normalised vectors, summed in
 * stream order.  A record under two listed videos ("a/b/c" under "a" and
 * "a/b") counts for both.  Only records that some pair uses are kept, so
 * memory is one vector per listed key, plus every record key seen.
 *
 * Checks (each an error that names the file, the record number counted from
 * 0 as in hm-records(5), and the key):
 *   - a record that is not an embedding (an image record);
 *   - a dimension other than the first record's;
 *   - a value that is NaN or infinite;
 *   - a key that appears twice in the stream (whether used or not);
 *   - a used vector, or a video's summed frames, of length zero;
 *   - a key of the pair list with no embedding (no record under KEY/ for a
 *     video): "'pairs.txt': line 7: no embedding for 'KEY' in 'emb.hmr'".
 * Pairs are never dropped.  Score = sum of the products of the unit vectors'
 * components, in double precision (no clamping to [-1, 1]).
 *
 * Use: verify_init(), verify_read() on the stream (or verify_add() for each
 * embedding: hm-train's --val), verify_scores(), then verify_release().  Everything returns 0 or -1 with the message recorded.
 */
#ifndef HM_VERIFY_H
#define HM_VERIFY_H

#include <stdio.h>

#include "embtab.h"
#include "pairs.h"

struct verify {
	int videos;		/* keys name videos */
	int dim;		/* 0 until the first record */
	long n_records;		/* records read */
	int finished;		/* video means normalised */
	struct embtab *want;	/* the pairs' keys -> unit vectors */
	struct embtab *seen;	/* every record key -> first record number */
	double *frame;		/* dim scratch values */
};

/* Collects the keys of PAIRS.  VIDEOS: aggregate records under KEY/. */
int verify_init(struct verify *v, const struct pair_list *pairs, int videos);
/* Reads a whole embedding stream FP (NAME in messages). */
int verify_read(struct verify *v, FILE *fp, const char *name);
/* Adds one embedding as verify_read() adds a record: KEY, VALUES [DIM]
 * (the same checks), NAME and NO (the record's number) in messages. */
int verify_add(struct verify *v, const char *key, const float *values, int dim,
	       const char *name, long no);
/* SCORE[i] for each pair i of PAIRS (the list given to verify_init).
 * PAIRS_NAME and EMB_NAME name the two inputs in messages. */
int verify_scores(struct verify *v, const struct pair_list *pairs,
		  const char *pairs_name, const char *emb_name, double *score);
void verify_release(struct verify *v);

#endif
