/*
 * pairs: verification pair lists (hm-verify's input; hm-synth reads them to
 * create the images they name).  Byte-level rules: hm-pairs(5).
 *
 * Formats (detected from the first non-empty line, or named):
 *   lfw      LFW pairs.txt: header "10<TAB>300" (folds, pairs per half), then
 *            per fold N matched lines "name n1 n2" and N mismatched lines
 *            "name1 n1 name2 n2".  Fold = position / (2N).  The header's
 *            counts must match the lines; a lone "N" header is one fold.
 *   ytf      YouTube Faces splits.txt: "split, pair, Name/vid, Name/vid, same",
 *            with or without the header line, CRLF tolerated, last newline
 *            optional.  Fold = split - 1; every split 1..max must have pairs.
 *   arcface  arcface-pytorch lfw_test_pair.txt: "path_a path_b same", no folds.
 *   csv      "a,b,same[,fold]" with an optional header line (a first row
 *            whose third field starts with a letter).  Fold: a label 0..999;
 *            the distinct labels are the folds (0..9 and 1..10 alike), kept
 *            as written; n_folds counts them.
 *
 * Keys are what the record streams use: the image path relative to the data
 * root without its extension ("Abel_Pacheco/Abel_Pacheco_0001"); for ytf, the
 * video ("Aaron_Eckhart/0"), which names every record under "Aaron_Eckhart/0/".
 * LFW numbers are zero-padded to four digits as in the LFW tree.  arcface
 * paths lose their last extension; ytf and csv keys are taken as written.
 * A list without folds (arcface, csv without a fold column) has fold -1 on
 * every pair and n_folds 0.  Pairs keep the file's order; none is dropped.
 *
 * The input is read whole (at most 256 MiB), so "-" (stdin) is detected too.
 * The list owns its strings; free with pair_list_free().  On error the list
 * is left empty (n 0, p NULL): nothing to free.
 */
#ifndef HM_PAIRS_H
#define HM_PAIRS_H

enum pairs_format { PAIRS_AUTO, PAIRS_LFW, PAIRS_YTF, PAIRS_ARCFACE, PAIRS_CSV };

struct pair {
	char *a, *b;	/* keys */
	int same;	/* 1 same identity, 0 different */
	int fold;	/* the fold's label (lfw, ytf: 0-based), -1 when none */
	long line;	/* line number in the file, for messages */
};

struct pair_list {
	long n;
	struct pair *p;
	enum pairs_format format;	/* the format read (never PAIRS_AUTO) */
	int n_folds;
};

/* Parses PATH ("-" = stdin) as FORMAT (PAIRS_AUTO: detect).  Returns 0, or
 * -1 with "'file': line N: ..." recorded (LIST then empty).  LIST need not be
 * initialised. */
int pairs_load(struct pair_list *list, const char *path, enum pairs_format format);
/* Frees the pairs and empties LIST (safe on an empty list). */
void pair_list_free(struct pair_list *list);
/* "lfw", "ytf", "arcface", "csv", "auto" <-> enum; parse returns -1 if unknown. */
int pairs_format_parse(const char *name);
const char *pairs_format_name(enum pairs_format format);

#endif
