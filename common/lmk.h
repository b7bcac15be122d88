/*
 * lmk: 5-point facial landmark files (hm-align's input, hm-synth's output).
 *
 * Point order everywhere (SphereFace/MTCNN): image-left eye, image-right
 * eye, nose tip, image-left mouth corner, image-right mouth corner; x to the
 * right, y down, in pixels of the original image.
 *
 * Formats (auto-detected from the first data line, or named):
 *   plain  "path x1 y1 x2 y2 ... x5 y5"   tab or space separated
 *          (../shared/data/lfw_landmark.txt; hm-synth writes this)
 *   casia  "path classid x1 y1 ... x5 y5" (sphereface_pytorch casia_landmark.txt)
 *   lst    insightface .lst: "aligned<TAB>path<TAB>label<TAB>..." with the
 *          ten landmark values as five x then five y
 *   csv    a header line, then path,[label,]x1,y1,...,x5,y5 (columns by name)
 * The byte-level description for users is in hm-align(1).
 *
 * lmk_load() owns nothing of the caller's; the list it fills is freed with
 * lmk_list_free().  Errors name the file and line: "'lm.txt': line 7: ...".
 */
#ifndef HM_LMK_H
#define HM_LMK_H

#include <stdio.h>

enum lmk_format { LMK_AUTO, LMK_PLAIN, LMK_CASIA, LMK_LST, LMK_CSV };

struct lmk_entry {
	char *path;	/* image path as written in the file */
	int label;	/* class id, or -1 when the format has none */
	float pt[5][2];	/* (x, y) per point, order above */
};

struct lmk_list {
	long n;
	struct lmk_entry *e;
	enum lmk_format format;	/* the format read (never LMK_AUTO) */
};

/* Parses PATH ("-" = stdin).  Returns 0, or -1 with the error recorded. */
int lmk_load(struct lmk_list *list, const char *path, enum lmk_format format);
void lmk_list_free(struct lmk_list *list);
/* "plain", "casia", "lst", "csv", "auto" <-> enum; parse returns -1 if unknown. */
int lmk_format_parse(const char *name);
const char *lmk_format_name(enum lmk_format format);
/* Writes one plain-format line (tab separated, 2 decimals, '\n').  0 or -1. */
int lmk_write_plain(FILE *fp, const char *path, const float pt[5][2]);

#endif
