/*
 * align: face alignment by a 5-point similarity transform.
 *
 * What it is: the least-squares similarity (rotation, uniform scale,
 * translation; never a reflection) that maps the five landmarks of lmk.h onto
 * a template, and a bilinear warp of the image by it, as insightface's
 * estimate_norm() + cv2.warpAffine(..., borderValue=0) do.  Plus
 * align_batch(), the whole of hm-align: a landmark list in, image records or
 * a JPEG tree out, on N threads, in input order.
 *
 * Matrices are 2x3, row-major doubles, mapping source image coordinates to
 * output coordinates, as OpenCV's warpAffine() takes them:
 *     u = m[0] x + m[1] y + m[2],   v = m[3] x + m[4] y + m[5]
 * Pixel centres sit at integer coordinates (OpenCV's convention).
 *
 * Templates (insightface face_align.py's arcface_dst, in a 112x112 frame):
 *     (38.2946, 51.6963) (73.5318, 51.5014) (56.0252, 71.7366)
 *     (41.5493, 92.3655) (70.7299, 92.2041)
 * SphereFace's alignment() reference points (96 wide x 112 high) are these
 * moved 8 px left, so one rule serves both: for an output of W x H, the
 * points are scaled by r = H/112 and shifted right by (W - 112 r)/2, except
 * that a square side that is a multiple of 128 and not of 112 uses r = W/128
 * (insightface: 128 -> r 1, +8 px; 256 -> r 2, +16 px).  The names only pick
 * the default size: insightface 112x112, sphereface 96x112.
 *
 * Ownership: the caller owns every struct and image; align_warp() writes
 * into an image the caller allocated.  Errors: -1 with the message recorded
 * (err.h); nothing here prints except the progress line align_batch() is
 * asked to draw.
 */
#ifndef HM_ALIGN_H
#define HM_ALIGN_H

#include "img.h"
#include "lmk.h"

#include <stdio.h>

struct align_template {
	int width, height;
	double pt[5][2];	/* (x, y) per landmark, lmk.h order */
};

/* NAME "insightface" or "sphereface"; WIDTH/HEIGHT 0 = the template's own
 * size, else 1..8192 each.  Returns 0, or -1 (unknown name, bad size). */
int align_template_init(struct align_template *t, const char *name, int width,
			int height);

/*
 * Least-squares similarity mapping SRC[i] onto DST[i], i < N (N >= 2):
 * Umeyama (1991) with scale, the estimator of skimage's
 * SimilarityTransform.estimate(); in 2-D it has a closed form (below).
 * Returns 0, or -1 when the source points coincide or the fit is singular.
 */
int align_fit(double m[6], const double (*src)[2], const double (*dst)[2], int n);
/* The inverse map (output -> source).  -1 when M is singular. */
int align_invert(double inv[6], const double m[6]);
/* (u, v) = M (x, y, 1). */
void align_map(const double m[6], double x, double y, double *u, double *v);

/*
 * Warps IN into OUT (allocated by the caller: its width, height and channels
 * say what to produce; channels must equal IN's) by the forward map M: each
 * output pixel (u, v) takes IN bilinearly at M^-1 (u, v), with taps outside
 * IN reading 0 (cv2.warpAffine INTER_LINEAR, BORDER_CONSTANT 0).
 * Fixed point: source positions in 32.32, bilinear weights in 1/2048, so
 * each value is within 1 of the exact one.  Returns 0 or -1 (singular M,
 * channel mismatch).
 */
int align_warp(struct image *out, const struct image *in, const double m[6]);
/* The naive twin: the same warp in double precision, rounded to nearest. */
int align_warp_ref(struct image *out, const struct image *in, const double m[6]);

/*
 * One face: fits PT to T, allocates *OUT (T's size, IN's channels; free
 * with image_free()) and warps.  M, if not NULL, receives the fitted map.
 * NAME is used in messages.  Returns 0 or -1.
 */
int align_face(struct image *out, double m[6], const struct image *in,
	       const float pt[5][2], const struct align_template *t, const char *name);

/*
 * How much of a JPEG to decode for one face (PNM files are always read
 * whole).  The map sends the output rectangle to a known source
 * quadrilateral; its bounding box, plus the bilinear taps and a pixel of
 * margin, is all the warp reads.
 *   ALIGN_DECODE_REGION  only that box, at full size (image_decode_region):
 *                        the output is byte-identical to FULL's.
 *   ALIGN_DECODE_FULL    the whole image (image_decode), as before.
 *   ALIGN_DECODE_SCALED  the box, and where the face is at least twice the
 *                        output's size, decoded at 1/2, 1/4 or 1/8 by
 *                        libjpeg's DCT scaling: the smallest scale 1/D with
 *                        the map's scale (output px per source px) times D
 *                        still <= 1, so the decoded face keeps at least as
 *                        many pixels as the output; the map is adjusted to
 *                        the scaled pixel grid.  The output differs from
 *                        FULL's: a DCT-domain box filter before the bilinear
 *                        warp instead of bilinear taps on the full image.
 */
enum align_decode { ALIGN_DECODE_REGION, ALIGN_DECODE_FULL, ALIGN_DECODE_SCALED };

/* The decode scale denominator (1, 2, 4, 8) SCALED uses for map M. */
int align_decode_denom(const double m[6]);

/*
 * align_face() from the encoded bytes BUF (N bytes, JPEG or PNM), decoding
 * as MODE says, with CHANNELS channels (1 or 3).  M, if not NULL, receives
 * the map fitted in full-size source coordinates; WIN, if not NULL, what
 * was decoded.  A file that fails to decode reports that before any fault
 * of its landmarks, as align_face() after image_decode() would.
 */
int align_face_decode(struct image *out, double m[6], struct image_window *win,
		      struct jpeg *j, const unsigned char *buf, size_t n, int channels,
		      const float pt[5][2], const struct align_template *t,
		      enum align_decode mode, const char *name);

/*
 * Alignment without landmarks: a face box, centre (CX, CY) and side SIDE
 * (the larger of its width and height), as five stand-in points for
 * align_face(): T's points scaled by (SIDE * ALIGN_BOX_EYES) / (T's eye
 * distance) and moved so that their centroid lies on the box centre.  The
 * fit is then a scale and a shift, no rotation: the box's centre lands on
 * the centroid of T's points (for the 112x112 template (56.0, 71.9), the
 * nose) and its side on T's eye distance / ALIGN_BOX_EYES (88.1 px of
 * 112): a box whose eye distance is 0.4 of its side (a Viola-Jones box, as
 * YouTube Faces' labeled_faces.txt holds; hm-synth --published writes such
 * boxes) gives a face of the template's size.  A rolled head stays
 * rolled: that is what the landmarks buy.
 */
#define ALIGN_BOX_EYES 0.4
void align_box_points(float pt[5][2], double cx, double cy, double side,
		      const struct align_template *t);

/* --- align_batch: hm-align's work --- */

struct align_batch {
	/* inputs, set by the caller */
	const struct lmk_list *list;
	const char *root;		/* image paths are relative to it; "." */
	const struct align_template *tmpl;
	int channels;			/* 3 RGB, 1 grey */
	int encoding;			/* REC_JPEG or REC_RAW (records only) */
	int quality;			/* JPEG quality 1..100 */
	enum align_decode decode;	/* 0 = ALIGN_DECODE_REGION */
	int threads;			/* >= 1 */
	int skip_bad;			/* skip images that fail instead of stopping */
	/* > 0: ignore the points; the face box is the centred square of side
	 * center_crop * the shorter image side (pre-cropped faces) */
	double center_crop;
	FILE *out;			/* records go here, or NULL with out_dir */
	const char *out_dir;		/* write out_dir/KEY.jpg files instead */
	int progress;			/* draw a progress line on stderr */
	/* called (from the writing thread, in input order) for each skipped
	 * image with the reason; may be NULL */
	void (*on_skip)(void *ctx, const char *msg);
	void *ctx;
	/* results */
	long n_done;			/* images written */
	long n_skipped;			/* images skipped (skip_bad) */
	int broken_pipe;		/* the failure was EPIPE on OUT */
};

/*
 * Processes every entry of LIST in order: an entry with a box (lmk.h ytf)
 * is aligned by align_box_points(), else by its points, or with
 * center_crop by the image's centred box.  Records: key = the entry's path
 * with a leading "./" and its extension removed, label = the entry's label;
 * the stream ends with rec_write_end().  Output order and bytes do not
 * depend on the thread count.  Before any image is read, every file is
 * checked to exist, so a missing one fails (or is skipped) first; records
 * are held back in memory up to 4 MiB, so a failure early in a job leaves
 * OUT untouched.  Returns 0, or -1 with the message of the first failing
 * image in input order (naming its file), or of the write that failed.
 */
int align_batch_run(struct align_batch *b);

/* KEY for PATH (see above) into BUF of SIZE bytes; -1 if it does not fit. */
int align_key(char *buf, size_t size, const char *path);

#endif
