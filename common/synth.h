/*
 * synth: the synthetic face renderer behind hm-synth, and the data sets it
 * lays out (CASIA-, LFW- and YTF-shaped trees with their landmark files and
 * pair lists).  It is the suite's embedded data: nothing is downloaded.
 *
 * Model.  An identity is a vector of SYNTH_NZ standard-normal values (face
 * outline and jaw, eye spacing/size/shape/tilt, iris colour, brows, nose,
 * mouth and lips, skin tone, hair colour/style/hairline, ears, glasses,
 * beard, moles, freckles, scar, ...) drawn from the seed and the identity's
 * name.  A look-alike is another identity's vector plus a small
 * perturbation.  Each image draws nuisance on top, every amount scaled by
 * the difficulty d in [0, 1]: yaw and pitch (feature points on a head
 * ellipsoid, projected orthographically, so features shift and foreshorten),
 * roll, scale, translation, directional light with a colour cast, brightness
 * and contrast, expression (smile, open mouth, squint), occlusion
 * (sunglasses band, a hand-like box), blur, noise and JPEG quality.
 * Background and clothing vary at every difficulty.
 *
 * Rendering.  The face is a list of anti-aliased primitives (affine
 * ellipses, capsules, boxes; crescents as one ellipse minus another),
 * painted over their bounding boxes only into a float RGB canvas, shaded by
 * a head ellipsoid lit from one direction, then blurred, cast, noised and
 * rounded.  The five landmarks (MTCNN order: image-left eye centre,
 * image-right eye centre, nose tip, image-left and image-right mouth
 * corner) are the anchor points the features are drawn from, so they are
 * exact by construction.  Pixel centres are at integer coordinates
 * (OpenCV's convention): pixel (0, 0) covers x, y in [-0.5, 0.5).
 *
 * Given target landmarks (hm-synth --landmarks-from), the renderer fits the
 * similarity (and estimates the yaw from the nose) that best maps the
 * identity's own landmarks onto the targets, then anchors eyes, nose and
 * mouth at the targets themselves: the returned landmarks equal the targets.
 *
 * Determinism.  Every random choice comes from rng_seed2(seed, stream) with
 * streams hashed from names and paths (synth_hash), never from the order of
 * work, so output does not depend on the thread count.
 *
 * Ownership.  struct synth_canvas (work area of one thread) is created with
 * synth_canvas_new() and freed with synth_canvas_free().  A struct synth_set
 * owns every string and array in it; free with synth_set_free().  Library
 * code records errors with hm_error() and returns -1; it never prints
 * (except the progress line when the caller enables one).
 */
#ifndef HM_SYNTH_H
#define HM_SYNTH_H

#include <stdint.h>

#include "img.h"
#include "progress.h"

#define SYNTH_NZ 48

struct synth_identity {
	float z[SYNTH_NZ];	/* standard-normal shape and texture parameters */
	uint64_t detail;	/* stream for freckle positions (shared by look-alikes) */
};

struct synth_opts {
	int width, height;	/* output image size; the face scales with min(w, h)/250 */
	double difficulty;	/* 0 (no face nuisance) .. 1 (hard) */
	int quality_lo, quality_hi;	/* JPEG quality range, 1..100 */
};

/* Defaults: 250x250, difficulty 0.5, quality 60..95. */
void synth_opts_default(struct synth_opts *o);

/* 64-bit FNV-1a of a string: the stream of a name or a path. */
uint64_t synth_hash(const char *s);

/* Draws identity parameters from (seed, stream); stream is usually
 * synth_hash(name).  Never fails. */
void synth_identity_draw(struct synth_identity *id, uint64_t seed, uint64_t stream);
/* OUT = BASE perturbed by a small amount drawn from (seed, stream): a
 * look-alike of BASE that keeps its categorical traits most of the time. */
void synth_identity_lookalike(struct synth_identity *out,
			      const struct synth_identity *base,
			      uint64_t seed, uint64_t stream);
/* XOR-ed into an identity's stream for the look-alike draws: the
 * perturbation above, and a set builder's choice of who is a look-alike
 * of whom. */
#define SYNTH_STREAM_LOOK 0x1d1d1d1d00000002ULL

struct synth_canvas;
/* Work area for one thread rendering WIDTH x HEIGHT images; NULL with the
 * error recorded when out of memory. */
struct synth_canvas *synth_canvas_new(int width, int height);
void synth_canvas_free(struct synth_canvas *c);

/*
 * Renders one face image of identity ID into OUT (caller-allocated with
 * image_alloc(out, o->width, o->height, 3); the canvas must be of the same
 * size).  Randomness: frame-level nuisance (pose jitter, expression, noise)
 * from (seed, image_stream); scene-level nuisance (pose, light, background,
 * clothing, occlusion, blur, JPEG quality) from (seed, video_stream); pass
 * the same value twice for a still image.  TARGET (NULL for none) gives the
 * five landmark positions to render the face at.  Writes the landmarks to
 * LMK and the JPEG quality to use to *QUALITY.  Returns 0, or -1 when the
 * sizes disagree.
 */
int synth_render(struct synth_canvas *c, struct image *out, float lmk[5][2],
		 int *quality, const struct synth_identity *id,
		 const struct synth_opts *o, uint64_t seed,
		 uint64_t image_stream, uint64_t video_stream,
		 const float (*target)[2]);

/* --- data sets (synthset.c) --- */

enum synth_kind { SYNTH_CASIA, SYNTH_LFW, SYNTH_YTF };

struct synth_job {
	char *path;		/* relative to the output folder, e.g. "Name/Name_0001.jpg" */
	long identity;		/* index into names[] / ids[] */
	uint64_t image_stream, video_stream;
	int has_target;
	float target[5][2];
};

struct synth_set {
	enum synth_kind kind;
	long n_identities;
	char **names;		/* identity folder names, sorted (label order) */
	struct synth_identity *ids;
	long n_jobs;
	struct synth_job *jobs;	/* in landmarks.txt order */
	char *protocol_name;	/* "pairs.txt", "splits.txt", ... or NULL */
	char *protocol;		/* its bytes */
	long protocol_len;
};

/*
 * Builders.  Each fills an empty (zeroed) set and returns 0, or -1 with the
 * error recorded (the set is then freed).  Identities are drawn with
 * LOOKALIKE, the fraction (0..1) that are look-alikes of another identity.
 *
 * casia: N_IDS folders "%07ld" holding PER_ID images "001.jpg"...
 * lfw:   N_IDS generated names "First_Last", PER_ID images each
 *        (Name/Name_0001.jpg), and a pairs.txt of 10 folds with N_PAIRS
 *        matched then N_PAIRS mismatched pairs; each fold uses its own tenth
 *        of the identities, as LFW's folds do.  Needs N_IDS >= 20 and
 *        PER_ID >= 2; when a fold has fewer distinct matched pairs than
 *        N_PAIRS, they repeat.
 * ytf:   N_IDS names with PER_ID videos ("Name/0" ...) of FRAMES frames
 *        ("Name/0/0001.jpg"), and a splits.txt of 10 splits with N_PAIRS
 *        same then N_PAIRS different video pairs (with the header line).
 */
int synth_set_casia(struct synth_set *s, long n_ids, long per_id,
		    double lookalike, uint64_t seed);
int synth_set_lfw(struct synth_set *s, long n_ids, long per_id, long n_pairs,
		  double lookalike, uint64_t seed);
int synth_set_ytf(struct synth_set *s, long n_ids, long per_id, long frames,
		  long n_pairs, double lookalike, uint64_t seed);
/*
 * From a pair list (format detected by pairs_load): LFW pairs.txt, arcface
 * and CSV lists name images (Name/Name_0004 -> Name/Name_0004.jpg), YTF
 * splits.txt names videos, each given FRAMES frames.  Exactly the images the
 * list references are created; the identity is the first path component.
 * The list file itself is kept byte for byte as the set's protocol
 * (pairs.txt, splits.txt, lfw_test_pair.txt or pairs.csv by format).
 */
int synth_set_from_pairs(struct synth_set *s, const char *path, long frames,
			 double lookalike, uint64_t seed);
/*
 * From a landmark file (lmk_load, any format): one job per line, in file
 * order, each with its line's landmarks as target.  Paths must be relative
 * without ".." components and unique.
 */
int synth_set_from_landmarks(struct synth_set *s, const char *path,
			     double lookalike, uint64_t seed);
/*
 * Gives the jobs of S whose path (compared without extension) appears in the
 * landmark file PATH that line's landmarks as target; the others keep drawn
 * landmarks.  Returns the number matched, or -1.
 */
long synth_set_use_landmarks(struct synth_set *s, const char *path);
void synth_set_free(struct synth_set *s);

/*
 * Renders every job of S into folder DIR (created with its parents) with
 * THREADS threads, then writes DIR/landmarks.txt (plain format, jobs in
 * order) and the protocol file, each atomically; landmarks.txt is written
 * last, so its presence marks a complete set.  P (may be NULL) is advanced
 * from the calling thread.  Returns 0, or -1 with the first failing job's
 * error recorded.
 */
int synth_set_write(const struct synth_set *s, const char *dir,
		    const struct synth_opts *o, uint64_t seed, int threads,
		    struct progress *p);

#endif
