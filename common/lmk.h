/*
 * lmk: 5-point facial landmark files (hm-align's input, hm-synth's output).
 *
 * Point order everywhere (SphereFace/MTCNN): image-left eye, image-right
 * eye, nose tip, image-left mouth corner, image-right mouth corner; x to the
 * right, y down, in pixels of the original image.
 *
 * Formats (auto-detected from the first non-blank line, or named):
 *   plain  "path x1 y1 x2 y2 ... x5 y5"   (data/lfw_landmark.txt;
 *          hm-synth writes this with lmk_write)
 *   casia  "path classid x1 y1 ... x5 y5" (sphereface_pytorch casia_landmark.txt)
 *   lst    insightface .lst, as face_preprocess.parse_lst_line() reads it:
 *          "aligned<TAB>path<TAB>label<TAB>bx1<TAB>by1<TAB>bx2<TAB>by2<TAB>
 *          x1..x5<TAB>y1..y5" (17 fields: the flag 0/1 and the box are
 *          checked, then ignored; the ten values are five x then five y)
 *   csv    a header line, then rows; columns by name, any order, case
 *          ignored: path (or image, file, filename), x1 y1 ... x5 y5, and
 *          optionally label (or class, classid, class_id); others ignored
 *   ytf    YouTube Faces' frame_images_DB/NAME.labeled_faces.txt, a face box
 *          per frame: "Name\\video\\frame.jpg,i,x,y,width,height,i,i"
 *          (8 comma-separated fields; x, y the box's centre; the fields
 *          marked i are ignored; the path's backslashes become '/'); no
 *          points: align.h crops the box
 *   paths  one image path per line, no points (hm-align --center-crop);
 *          only when named
 * Text formats split on tabs when a line holds one (a path may then contain
 * spaces), else on runs of spaces; CRLF, blank lines, a UTF-8 BOM and a
 * missing final newline are fine.  Detection: a line with commas and no tab
 * that splits into at least as many fields on commas as on blanks is a CSV
 * header, unless it has 8 comma-separated fields and the last 7 are numbers
 * (ytf); else 17 fields starting 0/1 = lst, 11 = plain, 12 = casia.
 * Class ids are integers 0..2^31-1; coordinates finite numbers, |v| <= 1e6.
 * Paths must be relative, without '..' or control characters (keys and
 * hm-align --out-dir files are made from them).  A file with no entries is
 * an error.  The byte-level description for users is in hm-align(1).
 *
 * lmk_load() owns nothing of the caller's; the list it fills is freed with
 * lmk_list_free() (on failure it is left empty).  Errors name the file and
 * line: "'lm.txt': line 7: expected 10 landmark numbers, got 7".
 */
#ifndef HM_LMK_H
#define HM_LMK_H

#include <stdio.h>

enum lmk_format { LMK_AUTO, LMK_PLAIN, LMK_CASIA, LMK_LST, LMK_CSV, LMK_YTF,
		  LMK_PATHS };

struct lmk_entry {
	char *path;	/* image path as written in the file ('\\' -> '/' for ytf) */
	int label;	/* class id, or -1 when the format has none */
	float pt[5][2];	/* (x, y) per point, order above; 0 for ytf and paths */
	int has_box;	/* ytf: a face box instead of points */
	float box[4];	/* centre x, centre y, width, height */
};

struct lmk_list {
	long n;
	struct lmk_entry *e;
	enum lmk_format format;	/* the format read (never LMK_AUTO) */
};

/* Parses PATH ("-" = stdin).  Returns 0, or -1 with the error recorded. */
int lmk_load(struct lmk_list *list, const char *path, enum lmk_format format);
void lmk_list_free(struct lmk_list *list);
/* "plain", "casia", "lst", "csv", "ytf", "paths", "auto" <-> enum; parse returns -1 if unknown. */
int lmk_format_parse(const char *name);
const char *lmk_format_name(enum lmk_format format);
/* Writes one line, tab separated, 2 decimals, '\n': the plain format when
 * LABEL < 0, else the casia format with LABEL as the class id.  0 or -1. */
int lmk_write(FILE *fp, const char *path, int label, const float pt[5][2]);

#endif
