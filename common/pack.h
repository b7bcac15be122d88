/*
 * pack: training packs, the work behind hm-pack(1).  A pack is a record
 * stream OUT.hmr (hm-records(5)) with its index OUT.hmi beside it, built from
 * one input of these kinds:
 *
 *   stream  a record stream (a .hmr file or standard input): records are
 *           copied with their keys and labels (embeddings untouched).
 *   tree    a directory ROOT/ID/.../NAME.jpg: every folder directly under
 *           ROOT is an identity, labelled 0, 1, ... in byte order of the
 *           folder names (strcmp, as Python's sorted()); every folder gets
 *           a label, empty ones included.  Images are *.jpg, *.jpeg, *.pgm,
 *           *.ppm, *.pnm (any case), found at any depth below the identity
 *           folder and taken in byte order of their paths; other files and
 *           names starting with '.' are skipped; *.png, *.bmp, *.gif,
 *           *.tif, *.tiff, *.webp are errors (not decodable here).  Key: the
 *           path below ROOT without its extension ("ID/file").  The label
 *           map OUT.labels.csv ("label,name" and one row per identity) is
 *           written beside the pack.
 *   csv     rows "path,label" (csvio rules; label an integer >= -1, or
 *           absent for -1; a first row whose label is not a number is a
 *           header).  Relative paths are relative to the list's folder.
 *           Key: the path as written without its extension, leading "./"
 *           and "/" removed.
 *   rec     MXNet RecordIO (mxrec.h), through its .idx when one is beside
 *           it, else read in order.  When record 0 is insightface's header
 *           (flag > 0, labels [a, b]) the images are records 1..a-1, else
 *           every record.  Label: the header label (its first element when
 *           the header carries an array).  Key: "LABEL/RECORD", e.g.
 *           "0/1".
 *   bin     insightface verification set (pybin.h).  Keys "bin/I" (I from
 *           0, the position in the list), label -1; the pair list
 *           OUT.pairs.csv ("a,b,same,fold") lists pair i = (bin/2i,
 *           bin/2i+1) with insightface's folds: 10 consecutive blocks by
 *           position, the first n mod 10 of them one pair larger
 *           (sklearn KFold without shuffling, as insightface evaluates).
 *
 * Image encoding (struct pack_options): PACK_KEEP stores JPEG inputs as
 * their original bytes and raw inputs (PNM files, raw records) as raw
 * pixels; PACK_JPEG stores JPEG, copying JPEG inputs unchanged unless
 * requality or gray asks for a re-encode; PACK_RAW decodes everything.
 * Every JPEG or PNM file is decoded once even when its bytes are copied:
 * that checks it and gives its size.  Work is split over opt->threads
 * threads in batches; the output does not depend on the thread count.
 *
 * Outputs are atomic: OUT.hmr appears only complete and last, after its
 * index and side files; on any error none of them is left behind (a side
 * file already renamed is removed).  Errors are recorded (err.h) and
 * returned as -1; nothing here prints except through opt->progress.
 */
#ifndef HM_PACK_H
#define HM_PACK_H

#include "packkind.h"
#include "progress.h"

#include <stdint.h>
#include <stdio.h>

enum pack_encoding { PACK_KEEP, PACK_JPEG, PACK_RAW };

#define PACK_DEFAULT_QUALITY 95

struct pack_options {
	enum pack_from from;		/* PACK_AUTO: pack_detect() */
	enum pack_encoding encoding;
	int quality;			/* 1..100, for every JPEG encode */
	int requality;			/* re-encode JPEG inputs too */
	int gray;			/* store one grey channel */
	int shuffle;			/* random order, from seed */
	uint64_t seed;
	int threads;			/* >= 1 */
	struct progress *progress;	/* NULL or initialised by the caller */
};

struct pack_summary {
	enum pack_from from;		/* the kind read */
	long n_records;
	long n_labels;			/* tree: identities in the label map */
	long n_pairs;			/* bin: pairs in the pair list */
};

/* "keep" "jpeg" "raw" -> enum, or -1. */
int pack_encoding_parse(const char *name);

/* Builds the pack OUT (a file name, not "-") from INPUT.  SUM may be NULL. */
int pack_build(const char *input, const char *out, const struct pack_options *opt,
	       struct pack_summary *sum);

/*
 * Prints one line per data record of the stream INPUT ("-" = stdin):
 *   key TAB label TAB image TAB WxHxC TAB jpeg|raw TAB payload bytes
 *   key TAB label TAB embed TAB dim TAB f32 TAB payload bytes
 * Backslash and control bytes in keys are written \\ \t \n \r \xHH.
 * Nothing reaches OUT unless the whole stream reads cleanly.
 */
int pack_list(FILE *out, const char *input);
/*
 * Reads the whole stream INPUT, checking every record (CRC, sizes) and the
 * end marker, and, for a file with an index beside it, that the index
 * matches.  *N_RECORDS gets the data records.  0 or -1.
 */
int pack_verify(const char *input, long *n_records);
/* Rebuilds INPUT's index (pack_side_path(INPUT, ".hmi")).  0 or -1. */
int pack_reindex(const char *input);
/*
 * Prints, for the stream INPUT: records, images, embeddings, identities
 * (distinct labels >= 0), unlabelled records and images per identity
 * min/median/max, one "name value" line each.  0 or -1.
 */
int pack_stats(FILE *out, const char *input);

#endif
