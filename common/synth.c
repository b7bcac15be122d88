/*
 * synth.c: the face renderer (primitives, identity, nuisance, geometry,
 * shading); the data-set layouts are in synthset.c.  Units: "canonical"
 * coordinates are pixels of a 250x250 image at nuisance scale 1, origin at
 * the midpoint of the eyes, x to the image right, y down; the mean face
 * matches the mean of LFW's MTCNN landmarks (eyes 40 px apart, nose 24 px
 * and mouth 45 px below the eye line, mouth 36 px wide).
 */
#include "synth.h"
#include "err.h"
#include "rng.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI_F 3.14159265358979f

/* ------------------------------------------------------------------ */
/* small helpers */

static float clampf(float v, float lo, float hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Standard normal truncated to +-2.5: nuisance without absurd outliers. */
static float tnormal(struct rng *r)
{
	return clampf((float)rng_normal(r), -2.5f, 2.5f);
}

static float unif(struct rng *r)
{
	return (float)rng_uniform(r);
}

/* Standard normal CDF: maps an identity value to a position in a palette. */
static float phi(float z)
{
	return 0.5f * (1.0f + erff(z * 0.70710678f));
}

static void rgb_set(float out[3], float r, float g, float b)
{
	out[0] = r;
	out[1] = g;
	out[2] = b;
}

static void rgb_scale(float out[3], const float in[3], float k)
{
	for (int i = 0; i < 3; i++)
		out[i] = in[i] * k;
}

static void rgb_mix(float out[3], const float a[3], const float b[3], float t)
{
	for (int i = 0; i < 3; i++)
		out[i] = a[i] + (b[i] - a[i]) * t;
}

/* Piecewise-linear palette lookup at t in [0, 1]. */
static void palette(float out[3], const float (*stops)[3], int n, float t)
{
	float x = clampf(t, 0, 1) * (n - 1);
	int i = (int)x;
	if (i >= n - 1)
		i = n - 2;
	rgb_mix(out, stops[i], stops[i + 1], x - i);
}

uint64_t synth_hash(const char *s)
{
	return fnv1a_str(s);
}

/* ------------------------------------------------------------------ */
/* primitives: anti-aliased shapes with an analytic coverage estimate */

enum { SH_ELLIPSE, SH_CAPSULE, SH_BOX, SH_HALF };
enum { OP_NONE, OP_CUT, OP_CLIP };

struct shape {
	int kind;
	float cx, cy;		/* centre; capsule: first end; half-plane: a point on it */
	float m[4];		/* image offset -> unit coordinates (ellipse, box) */
	float ux, uy, len2, r;	/* capsule axis, squared length, radius; half-plane normal */
	float in2, out2;	/* ellipse: squared radii surely inside / outside */
	float rn0, rn1;		/* box: norms of the rows of m */
	float soft;		/* edge width in pixels, >= 1 */
	float x0, y0, x1, y1;	/* bounding box (half-plane: unbounded) */
};

struct prim {
	struct shape s, t;	/* t: second shape for OP_CUT (s minus t), OP_CLIP (s and t) */
	int op;
	float rgb[3], alpha;
};

/* Shape of the unit disc (or square) under the affine map p = c + A u;
 * a = {a00, a01, a10, a11}.  False when A is (nearly) singular. */
static int shape_affine(struct shape *s, int kind, float cx, float cy,
			const float a[4], float soft)
{
	float det = a[0] * a[3] - a[1] * a[2];
	if (fabsf(det) < 1e-6f)
		return 0;
	s->kind = kind;
	s->cx = cx;
	s->cy = cy;
	s->soft = soft < 1 ? 1 : soft;
	s->m[0] = a[3] / det;
	s->m[1] = -a[1] / det;
	s->m[2] = -a[2] / det;
	s->m[3] = a[0] / det;
	const float *m = s->m;
	/* largest singular value of m bounds |grad r| (see shape_cov) */
	float t = m[0] * m[0] + m[1] * m[1] + m[2] * m[2] + m[3] * m[3];
	float d = m[0] * m[3] - m[1] * m[2];
	float smax = sqrtf(0.5f * (t + sqrtf(fmaxf(0, t * t - 4 * d * d))));
	float rin = 1 - 0.5f * s->soft * smax;
	s->in2 = rin > 0 ? rin * rin : -1;
	s->out2 = (1 + 0.5f * s->soft * smax) * (1 + 0.5f * s->soft * smax);
	s->rn0 = sqrtf(m[0] * m[0] + m[1] * m[1]);
	s->rn1 = sqrtf(m[2] * m[2] + m[3] * m[3]);
	float ex = kind == SH_BOX ? fabsf(a[0]) + fabsf(a[1]) : sqrtf(a[0] * a[0] + a[1] * a[1]);
	float ey = kind == SH_BOX ? fabsf(a[2]) + fabsf(a[3]) : sqrtf(a[2] * a[2] + a[3] * a[3]);
	s->x0 = cx - ex - s->soft;
	s->x1 = cx + ex + s->soft;
	s->y0 = cy - ey - s->soft;
	s->y1 = cy + ey + s->soft;
	return 1;
}

static void shape_capsule(struct shape *s, const float p[2], const float q[2],
			  float r, float soft)
{
	s->kind = SH_CAPSULE;
	s->cx = p[0];
	s->cy = p[1];
	s->ux = q[0] - p[0];
	s->uy = q[1] - p[1];
	s->len2 = s->ux * s->ux + s->uy * s->uy;
	s->r = r;
	s->soft = soft < 1 ? 1 : soft;
	s->x0 = fminf(p[0], q[0]) - r - s->soft;
	s->x1 = fmaxf(p[0], q[0]) + r + s->soft;
	s->y0 = fminf(p[1], q[1]) - r - s->soft;
	s->y1 = fmaxf(p[1], q[1]) + r + s->soft;
}

/* Inside is where (p - point) . normal < 0. */
static void shape_half(struct shape *s, const float point[2], float nx, float ny)
{
	float n = sqrtf(nx * nx + ny * ny);
	s->kind = SH_HALF;
	s->cx = point[0];
	s->cy = point[1];
	s->ux = nx / n;
	s->uy = ny / n;
	s->soft = 1;
	s->x0 = s->y0 = -1e9f;
	s->x1 = s->y1 = 1e9f;
}

/*
 * Coverage of pixel (x, y) in [0, 1]: 0.5 minus the signed distance to the
 * edge over the edge width.  For an ellipse, with q = m (p - c) and r = |q|,
 * the distance is approximated to first order by (r - 1) / |grad r|, where
 * grad r = m^T q / r; pixels surely inside or outside skip the square roots.
 */
static inline float shape_cov(const struct shape *s, float x, float y)
{
	float dx = x - s->cx, dy = y - s->cy;
	switch (s->kind) {
	case SH_ELLIPSE: {
		const float *m = s->m;
		float qx = m[0] * dx + m[1] * dy, qy = m[2] * dx + m[3] * dy;
		float r2 = qx * qx + qy * qy;
		if (r2 <= s->in2)
			return 1;
		if (r2 >= s->out2)
			return 0;
		float r = sqrtf(r2);
		if (r < 1e-4f)
			return 1;
		float gx = m[0] * qx + m[2] * qy, gy = m[1] * qx + m[3] * qy;
		float g = sqrtf(gx * gx + gy * gy) / r;
		return clampf(0.5f - (r - 1) / (g * s->soft), 0, 1);
	}
	case SH_CAPSULE: {
		float t = s->len2 > 0 ? (dx * s->ux + dy * s->uy) / s->len2 : 0;
		t = clampf(t, 0, 1);
		float ex = dx - t * s->ux, ey = dy - t * s->uy;
		float d = sqrtf(ex * ex + ey * ey) - s->r;
		return clampf(0.5f - d / s->soft, 0, 1);
	}
	case SH_BOX: {
		const float *m = s->m;
		float qx = fabsf(m[0] * dx + m[1] * dy), qy = fabsf(m[2] * dx + m[3] * dy);
		float d = qx - 1 > qy - 1 ? (qx - 1) / s->rn0 : (qy - 1) / s->rn1;
		if (qx > 1 && qy > 1)
			d = fmaxf((qx - 1) / s->rn0, (qy - 1) / s->rn1);
		return clampf(0.5f - d / s->soft, 0, 1);
	}
	default: /* SH_HALF */
		return clampf(0.5f - (dx * s->ux + dy * s->uy), 0, 1);
	}
}

/* ------------------------------------------------------------------ */
/* canvas */

struct synth_canvas {
	int w, h;
	float *rgb;		/* h * w * 3, 0..255 scale */
	float *tmp;		/* blur scratch, h * w * 3 */
	float *mask;		/* h * w: coverage by the person (lit by the head's shading) */
	float *noise;		/* NOISE_N + 3 w standard normals, the same in every canvas */
	float *rowmul, *rowadd;	/* 3 w: the colour cast, channel by channel, along a row */
	int fg;			/* painting the person: update mask */
};

#define NOISE_N 8192

struct synth_canvas *synth_canvas_new(int width, int height)
{
	if (width < 16 || height < 16 || width > 8192 || height > 8192) {
		hm_error("image size %dx%d out of range 16..8192", width, height);
		return NULL;
	}
	struct synth_canvas *c = calloc(1, sizeof *c);
	size_t n = (size_t)width * height * 3;
	if (c) {
		c->rgb = malloc(n * sizeof *c->rgb);
		c->tmp = malloc(n * sizeof *c->tmp);
		c->mask = malloc(n / 3 * sizeof *c->mask);
		c->noise = malloc((NOISE_N + 3 * (size_t)width) * sizeof *c->noise);
		c->rowmul = malloc(3 * (size_t)width * sizeof *c->rowmul);
		c->rowadd = malloc(3 * (size_t)width * sizeof *c->rowadd);
	}
	if (!c || !c->rgb || !c->tmp || !c->mask || !c->noise || !c->rowmul || !c->rowadd) {
		synth_canvas_free(c);
		hm_error("out of memory");
		return NULL;
	}
	c->w = width;
	c->h = height;
	/* a fixed table, so that images do not depend on which thread drew them */
	struct rng r;
	rng_seed(&r, 0x4e4f495345ULL);	/* "NOISE" */
	for (size_t i = 0; i < NOISE_N + 3 * (size_t)width; i++)
		c->noise[i] = (float)rng_normal(&r);
	return c;
}

void synth_canvas_free(struct synth_canvas *c)
{
	if (!c)
		return;
	free(c->rgb);
	free(c->tmp);
	free(c->mask);
	free(c->noise);
	free(c->rowmul);
	free(c->rowadd);
	free(c);
}

/*
 * Row Y of an ellipse: the pixels where it may cover anything, [*xa, *xb],
 * and those it surely covers fully, [*ia, *ib] (maybe empty).  Along a row
 * q = m (p - c) is linear in x, so r^2 = |q|^2 is a quadratic in u = x - cx;
 * the intervals are where it stays under out2 and in2.  Each is widened
 * (narrowed) by a pixel, so rounding cannot misplace a pixel.  False when
 * the row misses the ellipse.
 */
static int ellipse_span(const struct shape *s, int y, int *xa, int *xb, int *ia, int *ib)
{
	const float *m = s->m;
	float dy = y - s->cy, k0 = m[1] * dy, k1 = m[3] * dy;
	float A = m[0] * m[0] + m[2] * m[2], B = m[0] * k0 + m[2] * k1;
	float C = k0 * k0 + k1 * k1;
	float disc = B * B - A * (C - s->out2);
	if (disc < 0)
		return 0;
	float sq = sqrtf(disc);
	*xa = (int)floorf(s->cx + (-B - sq) / A) - 1;
	*xb = (int)ceilf(s->cx + (-B + sq) / A) + 1;
	*ia = 1;
	*ib = 0;
	if (s->in2 > 0) {
		disc = B * B - A * (C - s->in2);
		if (disc > 0) {
			sq = sqrtf(disc);
			*ia = (int)ceilf(s->cx + (-B - sq) / A) + 1;
			*ib = (int)floorf(s->cx + (-B + sq) / A) - 1;
		}
	}
	return 1;
}

/*
 * Row Y of a capsule: the pixels within reach of the infinite line through
 * its axis, |n . (p - a)| <= r + soft, widened by a pixel.  False when the
 * row is out of reach (a line parallel to the rows).
 */
static int capsule_span(const struct shape *s, int y, int *xa, int *xb)
{
	float len = sqrtf(s->len2);
	if (len < 1e-6f)
		return 1;
	float nx = -s->uy / len, ny = s->ux / len, reach = s->r + s->soft;
	float dy = y - s->cy;
	if (fabsf(nx) < 1e-4f)
		return fabsf(ny * dy) <= reach;
	float u0 = (-reach - ny * dy) / nx, u1 = (reach - ny * dy) / nx;
	if (u0 > u1) {
		float t = u0;
		u0 = u1;
		u1 = t;
	}
	*xa = (int)floorf(s->cx + u0) - 1;
	*xb = (int)ceilf(s->cx + u1) + 1;
	return 1;
}

/* Paints one primitive over its bounding box (clipped to the image); an
 * ellipse or a capsule only over its span on each row. */
static void paint(struct synth_canvas *c, const struct prim *p)
{
	float bx0 = p->s.x0, by0 = p->s.y0, bx1 = p->s.x1, by1 = p->s.y1;
	if (p->op == OP_CLIP) {
		bx0 = fmaxf(bx0, p->t.x0);
		by0 = fmaxf(by0, p->t.y0);
		bx1 = fminf(bx1, p->t.x1);
		by1 = fminf(by1, p->t.y1);
	}
	int x0 = (int)fmaxf(0, ceilf(bx0)), x1 = (int)fminf(c->w - 1, floorf(bx1));
	int y0 = (int)fmaxf(0, ceilf(by0)), y1 = (int)fminf(c->h - 1, floorf(by1));
	int kind = p->s.kind;
	for (int y = y0; y <= y1; y++) {
		float *row = c->rgb + (size_t)y * c->w * 3;
		float *mrow = c->mask + (size_t)y * c->w;
		int xa = x0, xb = x1, ia = 1, ib = 0;
		if (kind == SH_ELLIPSE && !ellipse_span(&p->s, y, &xa, &xb, &ia, &ib))
			continue;
		if (kind == SH_CAPSULE && !capsule_span(&p->s, y, &xa, &xb))
			continue;
		if (xa < x0)
			xa = x0;
		if (xb > x1)
			xb = x1;
		for (int x = xa; x <= xb; x++) {
			float cov = x >= ia && x <= ib ? 1 : shape_cov(&p->s, (float)x, (float)y);
			if (cov <= 0)
				continue;
			if (p->op == OP_CUT)
				cov *= 1 - shape_cov(&p->t, (float)x, (float)y);
			else if (p->op == OP_CLIP)
				cov *= shape_cov(&p->t, (float)x, (float)y);
			float a = cov * p->alpha;
			if (a <= 0)
				continue;
			float *px = row + 3 * x;
			px[0] += a * (p->rgb[0] - px[0]);
			px[1] += a * (p->rgb[1] - px[1]);
			px[2] += a * (p->rgb[2] - px[2]);
			if (c->fg)
				mrow[x] += a * (1 - mrow[x]);
		}
	}
}

/* ------------------------------------------------------------------ */
/* identity */

/* Indices into synth_identity.z: what each standard-normal value shapes. */
enum {
	Z_FACE_W, Z_FACE_H, Z_JAW_W, Z_CHIN, Z_EYE_SEP, Z_EYE_W, Z_EYE_H,
	Z_EYE_TILT, Z_IRIS, Z_IRIS_R, Z_BROW_Y, Z_BROW_T, Z_BROW_ARCH,
	Z_BROW_W, Z_BROW_TILT, Z_BROW_DARK, Z_NOSE_Y, Z_NOSE_W, Z_NOSE_D,
	Z_BRIDGE, Z_MOUTH_Y, Z_MOUTH_W, Z_LIP, Z_CURVE, Z_LIP_COL, Z_SKIN,
	Z_SKIN_RED, Z_HAIR_COL, Z_HAIR_JIT, Z_HAIR_STYLE, Z_HAIRLINE,
	Z_HAIR_VOL, Z_HAIR_PART, Z_EAR, Z_GLASSES, Z_GLASS_KIND, Z_BEARD,
	Z_BEARD_KIND, Z_MOUSTACHE, Z_MOLES, Z_MOLE1, Z_MOLE2, Z_MOLE3,
	Z_FRECKLES, Z_SCAR, Z_SCAR_POS, Z_BLUSH, Z_ASYM,
	Z_COUNT
};

_Static_assert(Z_COUNT == SYNTH_NZ, "SYNTH_NZ must match the parameter list");

/* Streams of the identity-level draws, apart from the image streams. */
#define STREAM_ID 0x1d1d1d1d00000001ULL
#define STREAM_FRAME 0x5a5a5a5a5a5a5a5aULL

void synth_identity_draw(struct synth_identity *id, uint64_t seed, uint64_t stream)
{
	struct rng r;
	rng_seed2(&r, seed, stream ^ STREAM_ID);
	for (int i = 0; i < SYNTH_NZ; i++)
		id->z[i] = (float)rng_normal(&r);
	id->detail = rng_u64(&r);
}

void synth_identity_lookalike(struct synth_identity *out,
			      const struct synth_identity *base,
			      uint64_t seed, uint64_t stream)
{
	struct rng r;
	rng_seed2(&r, seed, stream ^ SYNTH_STREAM_LOOK);
	/* 0.3 of the population spread: close, yet separable with care */
	for (int i = 0; i < SYNTH_NZ; i++)
		out->z[i] = base->z[i] + 0.3f * (float)rng_normal(&r);
	out->detail = base->detail;
}

/* Geometry and colours of one identity, in canonical units. */
struct face {
	float a, b, hy;			/* cranium half-width, half-height, centre y */
	float jw, jh, jy;		/* jaw ellipse */
	float depth;			/* depth of the head ellipsoid */
	float e, ew, eh, etilt, easym;	/* eyes */
	float iris_r, iris[3];
	float brow_y, brow_t, brow_arch, brow_w, brow_tilt, brow[3];
	float ny, nw, nd, bridge;	/* nose */
	float my, mw, lip, curve, lipc[3];
	float skin[3], hair[3];
	int hair_style;			/* 0 bald, 1 short, 2 medium, 3 long */
	float hairline, hair_vol, hair_part;
	float ear;
	int glasses, glass_box;
	float glass_col[3];
	int beard, moustache;		/* beard: 0 none, 1 full, 2 goatee */
	float beard_a;
	int n_moles;
	float mole[3][3];		/* x, y, radius */
	float freckles;
	int scar;
	float scar_pt[4];
	float blush;
	uint64_t detail;
};

static const float skin_stops[][3] = {
	{ 250, 222, 205 }, { 238, 196, 170 }, { 222, 170, 132 },
	{ 196, 136, 98 }, { 150, 96, 64 }, { 100, 64, 46 },
};
static const float iris_stops[][3] = {
	{ 55, 35, 22 }, { 95, 58, 30 }, { 120, 92, 48 }, { 82, 108, 68 },
	{ 78, 118, 165 }, { 118, 128, 140 },
};
/* hair colours with their population shares */
static const float hair_cols[][3] = {
	{ 24, 20, 18 }, { 58, 38, 26 }, { 102, 68, 42 }, { 140, 72, 36 },
	{ 196, 160, 98 }, { 226, 204, 152 }, { 146, 144, 140 }, { 218, 216, 212 },
};
static const float hair_share[] = { 0.30f, 0.25f, 0.15f, 0.07f, 0.10f, 0.05f, 0.05f, 0.03f };

static void face_from_identity(struct face *f, const struct synth_identity *id)
{
	const float *z = id->z;
	f->a = 50 + 3.5f * clampf(z[Z_FACE_W], -2.5f, 2.5f);
	f->b = 75 + 4.0f * clampf(z[Z_FACE_H], -2.5f, 2.5f);
	f->hy = -4;
	f->jw = f->a * (0.80f + 0.06f * clampf(z[Z_JAW_W], -2.5f, 2.5f));
	f->jy = 34;
	f->jh = 80 + 4.0f * clampf(z[Z_CHIN], -2.5f, 2.5f) - f->jy;
	f->depth = 0.9f * f->a;

	f->e = 20 + 1.6f * clampf(z[Z_EYE_SEP], -2.5f, 2.5f);
	f->ew = 8.5f + 0.8f * clampf(z[Z_EYE_W], -2.5f, 2.5f);
	f->eh = f->ew * (0.42f + 0.05f * clampf(z[Z_EYE_H], -2.5f, 2.5f));
	f->etilt = 0.06f * clampf(z[Z_EYE_TILT], -2.5f, 2.5f);
	f->easym = 0.5f * clampf(z[Z_ASYM], -2.5f, 2.5f);
	palette(f->iris, iris_stops, 6, phi(z[Z_IRIS]));
	f->iris_r = f->ew * (0.50f + 0.04f * clampf(z[Z_IRIS_R], -2.5f, 2.5f));

	f->brow_y = 12 + 1.8f * clampf(z[Z_BROW_Y], -2.5f, 2.5f);
	f->brow_t = clampf(2.6f + 0.7f * z[Z_BROW_T], 1.2f, 5);
	f->brow_arch = clampf(2.5f + 1.2f * z[Z_BROW_ARCH], 0.3f, 6);
	f->brow_w = f->ew * 1.35f + 1.2f * clampf(z[Z_BROW_W], -2.5f, 2.5f);
	f->brow_tilt = 0.08f * clampf(z[Z_BROW_TILT], -2.5f, 2.5f);

	f->ny = 24 + 2.5f * clampf(z[Z_NOSE_Y], -2.5f, 2.5f);
	f->nw = 8 + 1.1f * clampf(z[Z_NOSE_W], -2.5f, 2.5f);
	f->nd = 16 + 3 * clampf(z[Z_NOSE_D], -2.5f, 2.5f);
	f->bridge = 3.5f + 0.7f * clampf(z[Z_BRIDGE], -2.5f, 2.5f);

	f->my = 45 + 2.5f * clampf(z[Z_MOUTH_Y], -2.5f, 2.5f);
	f->mw = 18 + 1.8f * clampf(z[Z_MOUTH_W], -2.5f, 2.5f);
	f->lip = clampf(3.0f + 0.7f * z[Z_LIP], 1.5f, 5.5f);
	f->curve = 1.0f * clampf(z[Z_CURVE], -2, 2);

	float red[3];
	palette(f->skin, skin_stops, 6, phi(z[Z_SKIN]));
	f->skin[0] += 7 * clampf(z[Z_SKIN_RED], -2, 2);
	f->skin[2] -= 4 * clampf(z[Z_SKIN_RED], -2, 2);
	rgb_set(red, 175, 70, 78);
	rgb_mix(f->lipc, f->skin, red, clampf(0.35f + 0.1f * z[Z_LIP_COL], 0.1f, 0.6f));

	float u = phi(z[Z_HAIR_COL]), acc = 0;
	int k = 0;
	for (k = 0; k < 7; k++) {
		acc += hair_share[k];
		if (u < acc)
			break;
	}
	for (int i = 0; i < 3; i++)
		f->hair[i] = clampf(hair_cols[k][i] + 10 * clampf(z[Z_HAIR_JIT], -2, 2), 5, 240);
	float dark[3] = { 20, 16, 14 };
	rgb_mix(f->brow, f->hair, dark, clampf(0.3f + 0.2f * z[Z_BROW_DARK], 0, 0.8f));

	u = phi(z[Z_HAIR_STYLE]);
	f->hair_style = u < 0.07f ? 0 : u < 0.45f ? 1 : u < 0.75f ? 2 : 3;
	f->hairline = -36 + 5 * clampf(z[Z_HAIRLINE], -2, 2);
	f->hair_vol = 1.06f + 0.035f * clampf(z[Z_HAIR_VOL], -2, 2);
	f->hair_part = 7 * clampf(z[Z_HAIR_PART], -2, 2);
	f->ear = 1 + 0.1f * clampf(z[Z_EAR], -2, 2);

	f->glasses = z[Z_GLASSES] > 1.15f;
	f->glass_box = z[Z_GLASS_KIND] > 0;
	if (fabsf(z[Z_GLASS_KIND]) > 1)
		rgb_set(f->glass_col, 120, 90, 40);
	else
		rgb_set(f->glass_col, 25, 22, 22);
	f->beard = z[Z_BEARD] > 0.95f ? (z[Z_BEARD_KIND] > -0.5f ? 1 : 2) : 0;
	f->moustache = z[Z_MOUSTACHE] > 0.8f;
	f->beard_a = clampf(0.45f + 0.2f * z[Z_BEARD_KIND], 0.25f, 0.85f);

	f->n_moles = (z[Z_MOLES] > 0.3f) + (z[Z_MOLES] > 1.0f) + (z[Z_MOLES] > 1.7f);
	for (int i = 0; i < 3; i++) {
		float zz = z[Z_MOLE1 + i];
		/* two coordinates from one value: angle and radius on the cheeks */
		float ang = zz * 2.1f + i * 2.0f;
		float rad = 18 + 10 * phi(zz * 1.7f - 0.3f);
		f->mole[i][0] = rad * cosf(ang);
		f->mole[i][1] = 25 + 0.9f * rad * sinf(ang);
		f->mole[i][2] = 1.1f + 0.35f * phi(zz * 3.1f);
	}
	f->freckles = z[Z_FRECKLES] > 1.1f ? clampf(z[Z_FRECKLES] - 0.6f, 0.3f, 2) : 0;
	f->scar = z[Z_SCAR] > 1.5f;
	{
		float zz = z[Z_SCAR_POS];
		float cx = 22 * tanhf(zz), cy = 15 + 18 * tanhf(zz * 2.3f);
		float ang = 0.8f + zz;
		f->scar_pt[0] = cx - 6 * cosf(ang);
		f->scar_pt[1] = cy - 6 * sinf(ang);
		f->scar_pt[2] = cx + 6 * cosf(ang);
		f->scar_pt[3] = cy + 6 * sinf(ang);
	}
	f->blush = clampf(0.12f + 0.06f * z[Z_BLUSH], 0, 0.3f);
	f->detail = id->detail;
}

void synth_opts_default(struct synth_opts *o)
{
	o->width = o->height = 250;
	o->difficulty = 0.5;
	o->quality_lo = 60;
	o->quality_hi = 95;
}

/* ------------------------------------------------------------------ */
/* nuisance */

struct scene {
	float yaw, pitch, roll, scale, tx, ty;	/* radians, factor, canonical px */
	float light[3], amb, dif;		/* light direction (image frame, z to the viewer) */
	float gain[3], bright, contrast;	/* colour cast and exposure */
	int blur;				/* box radius in pixels */
	float noise;				/* standard deviation, 0..255 scale */
	int quality;
	float smile, open, squint;		/* px raise of the corners, px opening, 0..1 */
	int glasses_on, sunglasses, occluder, occ_box;
	float occ[5], occ_col[3];		/* centre x, y, half sizes, angle */
	float cloth[3];
};

static void scene_draw(struct scene *sc, struct rng *rv, struct rng *rf,
		       const struct synth_opts *o)
{
	float d = (float)clampf((float)o->difficulty, 0, 1);
	const float deg = PI_F / 180;
	/* scene level (shared by the frames of a video) */
	sc->yaw = d * 14 * deg * tnormal(rv);
	sc->pitch = d * 7 * deg * tnormal(rv);
	sc->roll = d * 9 * deg * tnormal(rv);
	sc->scale = expf(d * 0.07f * tnormal(rv));
	sc->tx = d * 5 * tnormal(rv);
	sc->ty = d * 5 * tnormal(rv);
	float az = 2 * PI_F * unif(rv), tilt = 1.3f * d * unif(rv);
	float lx = 0.25f + tilt * cosf(az), ly = -0.45f + tilt * sinf(az), lz = 1;
	float ln = sqrtf(lx * lx + ly * ly + lz * lz);
	rgb_set(sc->light, lx / ln, ly / ln, lz / ln);
	sc->amb = 0.55f - 0.22f * d * unif(rv);
	sc->dif = (1.04f - sc->amb) / sc->light[2];
	for (int i = 0; i < 3; i++)
		sc->gain[i] = expf(d * 0.09f * tnormal(rv));
	sc->bright = d * 12 * tnormal(rv);
	sc->contrast = expf(d * 0.12f * tnormal(rv));
	float u = unif(rv);
	sc->blur = u < 0.12f * d ? 2 : u < 0.45f * d ? 1 : 0;
	sc->quality = o->quality_hi -
		(int)lroundf(d * unif(rv) * (o->quality_hi - o->quality_lo));
	sc->glasses_on = unif(rv) >= 0.3f * d;
	sc->sunglasses = unif(rv) < 0.08f * d;
	sc->occluder = unif(rv) < 0.18f * d;
	sc->occ_box = unif(rv) < 0.5f;
	sc->occ[0] = rng_range(rv, -42, 42);
	sc->occ[1] = rng_range(rv, 10, 95);
	sc->occ[2] = rng_range(rv, 10, 24);
	sc->occ[3] = rng_range(rv, 14, 36);
	sc->occ[4] = rng_range(rv, -0.8, 0.8);
	if (unif(rv) < 0.6f)
		palette(sc->occ_col, skin_stops, 6, unif(rv));
	else
		rgb_set(sc->occ_col, 30 + 200 * unif(rv), 30 + 200 * unif(rv), 30 + 200 * unif(rv));
	rgb_set(sc->cloth, 20 + 210 * unif(rv), 20 + 210 * unif(rv), 20 + 210 * unif(rv));

	/* frame level: small pose jitter, expression, noise */
	sc->yaw += d * 2.5f * deg * tnormal(rf);
	sc->pitch += d * 2 * deg * tnormal(rf);
	sc->roll += d * 2 * deg * tnormal(rf);
	sc->tx += d * 1.5f * tnormal(rf);
	sc->ty += d * 1.5f * tnormal(rf);
	u = unif(rf);
	sc->smile = d * 5.5f * u * u;
	u = unif(rf);
	sc->open = u < 0.35f * d ? d * 7 * unif(rf) : 0;
	u = unif(rf);
	sc->squint = d * 0.45f * u * u * u;
	sc->noise = d * 7 * unif(rf);
}

/* ------------------------------------------------------------------ */
/* geometry: canonical points, projection, anchors */

enum { A_LEYE, A_REYE, A_NOSE, A_LMOUTH, A_RMOUTH, A_MOUTH, A_HEAD, A_JAW, N_ANCHOR };

struct geom {
	float L[4];		/* canonical -> image for silhouettes: s R(roll) */
	float F[4];		/* features: L diag(cos yaw, cos pitch) */
	float t[2];		/* image of the projected canonical origin */
	float s, cyaw, syaw, cpit, spit;
	float raise;		/* mouth corners above the mouth centre, canonical px */
	float anc[N_ANCHOR][2];
};

static float ellipsoid_z(const struct face *f, float x, float y)
{
	float u = x / f->a, v = (y - f->hy) / (f->b + 10);
	return f->depth * sqrtf(fmaxf(0.05f, 1 - u * u - v * v));
}

static void canon_points(const struct face *f, float raise, float p[N_ANCHOR][3])
{
	p[A_LEYE][0] = -f->e;
	p[A_LEYE][1] = f->easym;
	p[A_LEYE][2] = ellipsoid_z(f, f->e, 0) - 5;
	p[A_REYE][0] = f->e;
	p[A_REYE][1] = -f->easym;
	p[A_REYE][2] = p[A_LEYE][2];
	p[A_NOSE][0] = 0;
	p[A_NOSE][1] = f->ny;
	p[A_NOSE][2] = ellipsoid_z(f, 0, f->ny) + f->nd;
	p[A_LMOUTH][0] = -f->mw;
	p[A_LMOUTH][1] = f->my - raise;
	p[A_LMOUTH][2] = ellipsoid_z(f, f->mw, f->my) + 1;
	p[A_RMOUTH][0] = f->mw;
	p[A_RMOUTH][1] = f->my - raise;
	p[A_RMOUTH][2] = p[A_LMOUTH][2];
	p[A_MOUTH][0] = 0;
	p[A_MOUTH][1] = f->my;
	p[A_MOUTH][2] = ellipsoid_z(f, 0, f->my) + 3;
	p[A_HEAD][0] = 0;
	p[A_HEAD][1] = f->hy;
	p[A_HEAD][2] = 0;
	p[A_JAW][0] = 0;
	p[A_JAW][1] = f->jy;
	p[A_JAW][2] = 0.35f * f->depth;
}

/* Orthographic view of a point after yaw (about y), then pitch (about x). */
static void project(const struct geom *g, const float p[3], float out[2])
{
	float x = p[0] * g->cyaw + p[2] * g->syaw;
	float z1 = -p[0] * g->syaw + p[2] * g->cyaw;
	out[0] = x;
	out[1] = p[1] * g->cpit - z1 * g->spit;
}

static void mat_vec(const float m[4], float x, float y, float out[2])
{
	out[0] = m[0] * x + m[1] * y;
	out[1] = m[2] * x + m[3] * y;
}

static void geom_maps(struct geom *g)
{
	g->F[0] = g->L[0] * g->cyaw;
	g->F[1] = g->L[1] * g->cpit;
	g->F[2] = g->L[2] * g->cyaw;
	g->F[3] = g->L[3] * g->cpit;
	g->s = sqrtf(fabsf(g->L[0] * g->L[3] - g->L[1] * g->L[2]));
}

static void set_pose(struct geom *g, float yaw, float pitch)
{
	g->cyaw = cosf(yaw);
	g->syaw = sinf(yaw);
	g->cpit = cosf(pitch);
	g->spit = sinf(pitch);
}

static void anchors_from_canon(struct geom *g, const float p[N_ANCHOR][3], int from, int to)
{
	for (int k = from; k < to; k++) {
		float q[2];
		project(g, p[k], q);
		mat_vec(g->L, q[0], q[1], g->anc[k]);
		g->anc[k][0] += g->t[0];
		g->anc[k][1] += g->t[1];
	}
}

/*
 * Least-squares similarity dst ~ L src + t over N points (Umeyama without
 * reflection): with centred points, s cos = sum(p.q)/sum|p|^2 and
 * s sin = sum(p x q)/sum|p|^2.
 */
static void fit_similarity(const float (*src)[2], const float (*dst)[2], int n,
			   float L[4], float t[2])
{
	float ps[2] = { 0, 0 }, qs[2] = { 0, 0 };
	for (int i = 0; i < n; i++) {
		ps[0] += src[i][0] / n;
		ps[1] += src[i][1] / n;
		qs[0] += dst[i][0] / n;
		qs[1] += dst[i][1] / n;
	}
	double a = 0, b = 0, nn = 0;
	for (int i = 0; i < n; i++) {
		double px = src[i][0] - ps[0], py = src[i][1] - ps[1];
		double qx = dst[i][0] - qs[0], qy = dst[i][1] - qs[1];
		a += px * qx + py * qy;
		b += px * qy - py * qx;
		nn += px * px + py * py;
	}
	if (nn <= 0)
		nn = 1;
	L[0] = (float)(a / nn);
	L[1] = (float)(-b / nn);
	L[2] = (float)(b / nn);
	L[3] = (float)(a / nn);
	t[0] = qs[0] - (L[0] * ps[0] + L[1] * ps[1]);
	t[1] = qs[1] - (L[2] * ps[0] + L[3] * ps[1]);
}

static void geom_generated(struct geom *g, const struct face *f, const struct scene *sc,
			   const struct synth_opts *o)
{
	float p[N_ANCHOR][3];
	float k = (o->width < o->height ? o->width : o->height) / 250.0f;
	float s = k * sc->scale;
	set_pose(g, sc->yaw, sc->pitch);
	g->L[0] = s * cosf(sc->roll);
	g->L[1] = -s * sinf(sc->roll);
	g->L[2] = s * sinf(sc->roll);
	g->L[3] = s * cosf(sc->roll);
	g->t[0] = (o->width - 1) * 0.5f + sc->tx * k;
	g->t[1] = (o->height - 1) * 0.5f - 12.5f * k + sc->ty * k;
	geom_maps(g);
	canon_points(f, g->raise, p);
	anchors_from_canon(g, p, 0, N_ANCHOR);
}

/*
 * Target landmarks: fit the similarity from the frontal canonical landmarks,
 * read the yaw off the nose's offset from the eyes' midpoint (the nose tip
 * stands dz in front of the eyes, so it shifts by dz sin(yaw)), refit with
 * that yaw, and anchor the five features at the targets themselves.
 */
static void geom_target(struct geom *g, const struct face *f, const float (*tg)[2])
{
	float p[N_ANCHOR][3], src[5][2], L[4], t[2];
	canon_points(f, g->raise, p);
	for (int i = 0; i < 5; i++) {
		src[i][0] = p[i][0];
		src[i][1] = p[i][1];
	}
	fit_similarity(src, tg, 5, L, t);
	float det = L[0] * L[3] - L[1] * L[2];
	float syaw = 0;
	if (fabsf(det) > 1e-8f) {
		float c[3][2];
		const int idx[3] = { A_LEYE, A_REYE, A_NOSE };
		for (int j = 0; j < 3; j++) {
			float dx = tg[idx[j]][0] - t[0], dy = tg[idx[j]][1] - t[1];
			c[j][0] = (L[3] * dx - L[1] * dy) / det;
			c[j][1] = (-L[2] * dx + L[0] * dy) / det;
		}
		float dn = c[2][0] - 0.5f * (c[0][0] + c[1][0]);
		float dz = p[A_NOSE][2] - p[A_LEYE][2];
		syaw = clampf(dn / dz, -0.5f, 0.5f);
	}
	set_pose(g, asinf(syaw), 0);
	for (int i = 0; i < 5; i++)
		project(g, p[i], src[i]);
	fit_similarity(src, tg, 5, g->L, g->t);
	geom_maps(g);
	anchors_from_canon(g, p, A_HEAD, N_ANCHOR);
	for (int i = 0; i < 5; i++) {
		g->anc[i][0] = tg[i][0];
		g->anc[i][1] = tg[i][1];
	}
	/* the mouth centre sits RAISE below the corners' midpoint */
	float v[2];
	mat_vec(g->F, 0, g->raise, v);
	g->anc[A_MOUTH][0] = 0.5f * (tg[3][0] + tg[4][0]) + v[0];
	g->anc[A_MOUTH][1] = 0.5f * (tg[3][1] + tg[4][1]) + v[1];
}

/* ------------------------------------------------------------------ */
/* drawing: features placed relative to anchors */

/* Image point ANCHOR + M (dx, dy), M the feature (F) or silhouette (L) map. */
static void at(const struct geom *g, int anchor, int feat, float dx, float dy, float out[2])
{
	mat_vec(feat ? g->F : g->L, dx, dy, out);
	out[0] += g->anc[anchor][0];
	out[1] += g->anc[anchor][1];
}

/* Ellipse (or box) with canonical radii RX, RY turned by ANG, centred at
 * ANCHOR + (DX, DY); SOFT is the edge width in canonical px. */
static int mk_shape(struct shape *s, int kind, const struct geom *g, int anchor,
		    int feat, float dx, float dy, float rx, float ry, float ang,
		    float soft)
{
	const float *m = feat ? g->F : g->L;
	float c = cosf(ang), sn = sinf(ang), ctr[2];
	/* A = M R(ang) diag(rx, ry) */
	float r[4] = { c * rx, -sn * ry, sn * rx, c * ry };
	float a[4] = { m[0] * r[0] + m[1] * r[2], m[0] * r[1] + m[1] * r[3],
		       m[2] * r[0] + m[3] * r[2], m[2] * r[1] + m[3] * r[3] };
	at(g, anchor, feat, dx, dy, ctr);
	return shape_affine(s, kind, ctr[0], ctr[1], a, soft * g->s);
}

static void fill(struct synth_canvas *c, const struct shape *s, int op,
		 const struct shape *t, const float rgb[3], float alpha)
{
	struct prim p;
	p.s = *s;
	p.op = op;
	if (t)
		p.t = *t;
	memcpy(p.rgb, rgb, sizeof p.rgb);
	p.alpha = alpha;
	paint(c, &p);
}

static void ell(struct synth_canvas *c, const struct geom *g, int anchor, int feat,
		float dx, float dy, float rx, float ry, float ang,
		const float rgb[3], float alpha, float soft)
{
	struct shape s;
	if (mk_shape(&s, SH_ELLIPSE, g, anchor, feat, dx, dy, rx, ry, ang, soft))
		fill(c, &s, OP_NONE, NULL, rgb, alpha);
}

static void capsule(struct synth_canvas *c, const float p[2], const float q[2],
		    float r, const float rgb[3], float alpha, float soft)
{
	struct shape s;
	shape_capsule(&s, p, q, r, soft);
	fill(c, &s, OP_NONE, NULL, rgb, alpha);
}

static void draw_eye(struct synth_canvas *c, const struct geom *g, const struct face *f,
		     const struct scene *sc, int side)
{
	int e = side < 0 ? A_LEYE : A_REYE;
	float ang = -side * f->etilt, eh = f->eh * (1 - sc->squint), col[3];
	struct shape sclera, s;
	rgb_scale(col, f->skin, 0.78f);
	ell(c, g, e, 1, 0, -1, f->ew * 1.45f, f->eh * 1.6f + 3, ang, col, 0.35f, 4);
	rgb_set(col, 45, 32, 30);
	ell(c, g, e, 1, 0, -0.35f, f->ew + 0.9f, eh + 1.1f, ang, col, 0.85f, 1);
	if (!mk_shape(&sclera, SH_ELLIPSE, g, e, 1, 0, 0, f->ew, eh, ang, 1))
		return;
	rgb_set(col, 230, 224, 218);
	fill(c, &sclera, OP_NONE, NULL, col, 1);
	if (mk_shape(&s, SH_ELLIPSE, g, e, 1, 0, 0, f->iris_r, f->iris_r, 0, 1))
		fill(c, &s, OP_CLIP, &sclera, f->iris, 1);
	rgb_set(col, 12, 10, 10);
	if (mk_shape(&s, SH_ELLIPSE, g, e, 1, 0, 0, f->iris_r * 0.45f, f->iris_r * 0.45f, 0, 1))
		fill(c, &s, OP_CLIP, &sclera, col, 1);
	rgb_set(col, 250, 250, 250);
	if (mk_shape(&s, SH_ELLIPSE, g, e, 1, f->iris_r * 0.35f, -f->iris_r * 0.35f,
		     0.9f, 0.9f, 0, 1))
		fill(c, &s, OP_CLIP, &sclera, col, 0.75f);
	/* lashes: a dark band along the upper lid */
	struct shape cut;
	rgb_set(col, 35, 25, 25);
	if (mk_shape(&s, SH_ELLIPSE, g, e, 1, 0, -0.25f * eh, f->ew * 1.02f, eh + 0.8f, ang, 1) &&
	    mk_shape(&cut, SH_ELLIPSE, g, e, 1, 0, 0.9f, f->ew * 1.12f, eh * 1.05f, ang, 1))
		fill(c, &s, OP_CUT, &cut, col, 0.7f);
}

static void draw_brow(struct synth_canvas *c, const struct geom *g, const struct face *f,
		      int side)
{
	int e = side < 0 ? A_LEYE : A_REYE;
	float ang = -side * f->brow_tilt, dx = side * 1.5f, dy = -f->brow_y;
	float arch = f->brow_arch, t = f->brow_t;
	struct shape out, cut;
	if (mk_shape(&out, SH_ELLIPSE, g, e, 1, dx, dy + arch, f->brow_w, arch + t, ang, 1.2f) &&
	    mk_shape(&cut, SH_ELLIPSE, g, e, 1, dx, dy + arch + 0.85f * t, f->brow_w * 1.15f,
		     arch + t, ang, 1.2f))
		fill(c, &out, OP_CUT, &cut, f->brow, 0.92f);
}

static void draw_nose(struct synth_canvas *c, const struct geom *g, const struct face *f)
{
	float col[3], p[2], q[2];
	rgb_scale(col, f->skin, 0.72f);
	for (int side = -1; side <= 1; side += 2) {
		at(g, A_NOSE, 1, side * f->bridge, -f->ny + 8, p);
		at(g, A_NOSE, 1, side * f->bridge * 1.3f, -7, q);
		capsule(c, p, q, 1.2f * g->s, col, 0.3f, 3 * g->s);
	}
	rgb_scale(col, f->skin, 0.82f);
	for (int side = -1; side <= 1; side += 2)
		ell(c, g, A_NOSE, 1, side * f->nw * 0.72f, -1, f->nw * 0.42f, 4.2f, 0, col, 0.55f, 2);
	rgb_scale(col, f->skin, 1.08f);
	ell(c, g, A_NOSE, 1, 0, -2, f->nw * 0.5f, 4.5f, 0, col, 0.5f, 2.5f);
	rgb_set(col, 75, 42, 36);
	for (int side = -1; side <= 1; side += 2)
		ell(c, g, A_NOSE, 1, side * f->nw * 0.42f, 2.4f, 2.3f, 1.3f, side * 0.35f, col, 0.85f, 1);
	rgb_scale(col, f->skin, 0.72f);
	ell(c, g, A_NOSE, 1, 0, 5.5f, f->nw * 0.75f, 1.8f, 0, col, 0.3f, 2);
}

/*
 * The mouth, per side: an ellipse centred on the mouth centre whose major
 * semi-axis ends exactly at that side's corner landmark, clipped to that
 * side of the centre; so the corners are the landmarks whatever the smile.
 */
static void draw_mouth(struct synth_canvas *c, const struct geom *g, const struct face *f,
		       const struct scene *sc)
{
	const float *ctr = g->anc[A_MOUTH];
	float lr[2] = { g->anc[A_RMOUTH][0] - g->anc[A_LMOUTH][0],
			g->anc[A_RMOUTH][1] - g->anc[A_LMOUTH][1] };
	float down[2], col[3];
	mat_vec(g->F, 0, 1, down);
	float dn = sqrtf(down[0] * down[0] + down[1] * down[1]);
	float vs = dn;			/* image px per canonical px, vertically */
	down[0] /= dn;
	down[1] /= dn;
	for (int layer = 0; layer < 2; layer++) {
		float h = layer == 0 ? (f->lip + 0.5f * sc->open) * vs
				     : fmaxf(0.45f, 0.5f * sc->open) * vs;
		float reach = layer == 0 ? 1 : 0.94f;
		float off = layer == 0 ? 0.1f * sc->open * vs : 0;
		if (layer == 0)
			memcpy(col, f->lipc, sizeof col);
		else
			rgb_set(col, 70, 28, 30);
		for (int side = 0; side < 2; side++) {
			const float *corner = g->anc[side ? A_RMOUTH : A_LMOUTH];
			float v[2] = { (corner[0] - ctr[0]) * reach, (corner[1] - ctr[1]) * reach };
			float len = sqrtf(v[0] * v[0] + v[1] * v[1]);
			if (len < 1e-3f)
				continue;
			/* minor axis: v turned by 90 degrees, towards "down" */
			float w[2] = { -v[1] / len, v[0] / len };
			if (w[0] * down[0] + w[1] * down[1] < 0) {
				w[0] = -w[0];
				w[1] = -w[1];
			}
			float a[4] = { v[0], w[0] * h, v[1], w[1] * h };
			struct shape s, half;
			if (!shape_affine(&s, SH_ELLIPSE, ctr[0] + off * down[0],
					  ctr[1] + off * down[1], a, 1.2f))
				continue;
			shape_half(&half, ctr, side ? -lr[0] : lr[0], side ? -lr[1] : lr[1]);
			fill(c, &s, OP_CLIP, &half, col, 0.9f);
		}
	}
	if (sc->open > 1.2f) {
		float l = 0.5f * sqrtf(lr[0] * lr[0] + lr[1] * lr[1]);
		float ux = lr[0] / (2 * l + 1e-6f), uy = lr[1] / (2 * l + 1e-6f);
		float h = 0.28f * sc->open * vs;
		float a[4] = { ux * 0.55f * l, down[0] * h, uy * 0.55f * l, down[1] * h };
		struct shape s;
		rgb_set(col, 232, 226, 212);
		if (shape_affine(&s, SH_ELLIPSE, ctr[0] - down[0] * 0.2f * sc->open * vs,
				 ctr[1] - down[1] * 0.2f * sc->open * vs, a, 1))
			fill(c, &s, OP_NONE, NULL, col, 0.9f);
	}
	rgb_scale(col, f->skin, 0.75f);
	ell(c, g, A_MOUTH, 1, 0, f->lip + 3 + sc->open * 0.5f, f->mw * 0.45f, 1.8f, 0, col, 0.3f, 2);
}

static void draw_glasses(struct synth_canvas *c, const struct geom *g, const struct face *f,
			 int dark)
{
	float gw = f->ew * 1.55f + 1, gh = f->ew * 1.15f + 1, col[3], p[2], q[2];
	int kind = f->glass_box && !dark ? SH_BOX : SH_ELLIPSE;
	const float *frame = dark ? (const float[3]){ 15, 15, 18 } : f->glass_col;
	for (int side = -1; side <= 1; side += 2) {
		int e = side < 0 ? A_LEYE : A_REYE;
		struct shape out, in;
		if (!mk_shape(&out, kind, g, e, 1, 0, 0.8f, gw, gh, 0, 1) ||
		    !mk_shape(&in, kind, g, e, 1, 0, 0.8f, gw - 1.5f, gh - 1.5f, 0, 1))
			continue;
		if (dark) {
			rgb_set(col, 18, 18, 22);
			fill(c, &in, OP_NONE, NULL, col, 0.95f);
		} else {
			rgb_set(col, 200, 210, 225);
			fill(c, &in, OP_NONE, NULL, col, 0.1f);
		}
		fill(c, &out, OP_CUT, &in, frame, 0.95f);
		at(g, e, 1, side * gw, -1, p);
		at(g, A_HEAD, 0, side * (f->a - 1) * g->cyaw, 10 - f->hy, q);
		capsule(c, p, q, 0.9f * g->s, frame, 0.9f, 1);
	}
	at(g, A_LEYE, 1, gw - 0.5f, -1.5f, p);
	at(g, A_REYE, 1, -(gw - 0.5f), -1.5f, q);
	capsule(c, p, q, 0.9f * g->s, frame, 0.95f, 1);
}

static void draw_person(struct synth_canvas *c, const struct geom *g, const struct face *f,
			const struct scene *sc)
{
	float col[3], p[2], q[2];
	struct shape s, t;
	c->fg = 1;
	/* hair behind the head, clothes, neck, ears */
	if (f->hair_style == 3)
		ell(c, g, A_HEAD, 0, 0, 40, f->a * 1.22f, f->b * 1.25f, 0, f->hair, 1, 1.5f);
	else if (f->hair_style == 2)
		ell(c, g, A_HEAD, 0, 0, -8, f->a * 1.14f, f->b * 0.98f, 0, f->hair, 1, 1.5f);
	else if (f->hair_style == 1)
		ell(c, g, A_HEAD, 0, 0, -8, f->a * 1.07f, f->b * 0.95f, 0, f->hair, 1, 1.5f);
	ell(c, g, A_HEAD, 0, 0, 185, 118, 75, 0, sc->cloth, 1, 1.5f);
	rgb_scale(col, f->skin, 0.8f);
	ell(c, g, A_JAW, 0, 0, 48, f->jw * 0.72f, 42, 0, col, 1, 1);
	rgb_scale(col, f->skin, 0.55f);
	ell(c, g, A_JAW, 0, 0, f->jh * 0.8f, f->jw * 0.7f, 14, 0, col, 0.5f, 6);
	for (int side = -1; side <= 1; side += 2) {
		float ex = side * (f->a - 2) * g->cyaw, ey = 12 - f->hy;
		rgb_scale(col, f->skin, 0.92f);
		ell(c, g, A_HEAD, 0, ex, ey, 6.5f * f->ear, 12.5f * f->ear, side * 0.12f, col, 1, 1);
		rgb_scale(col, f->skin, 0.72f);
		ell(c, g, A_HEAD, 0, ex, ey, 3.2f * f->ear, 7.5f * f->ear, side * 0.12f, col, 0.45f, 2);
	}
	/* the face */
	ell(c, g, A_HEAD, 0, 0, 0, f->a, f->b, 0, f->skin, 1, 1);
	ell(c, g, A_JAW, 0, 0, 0, f->jw, f->jh, 0, f->skin, 1, 1);
	rgb_set(col, 215, 110, 110);
	for (int side = -1; side <= 1; side += 2)
		ell(c, g, side < 0 ? A_LEYE : A_REYE, 1, side * 2, 24, 11, 8, 0, col, f->blush, 8);
	/* marks */
	if (f->freckles > 0) {
		struct rng r;
		rng_seed(&r, f->detail);
		int n = (int)(f->freckles * 25);
		float fc[3], brown[3] = { 120, 70, 45 };
		rgb_mix(fc, f->skin, brown, 0.5f);
		for (int i = 0; i < n; i++) {
			float x = rng_range(&r, -32, 32), y = rng_range(&r, 4, 30);
			float rad = rng_range(&r, 0.6, 1.2);
			ell(c, g, A_NOSE, 1, x, y - f->ny, rad, rad, 0, fc, 0.45f, 1);
		}
	}
	rgb_set(col, 72, 46, 36);
	for (int i = 0; i < f->n_moles; i++)
		ell(c, g, A_NOSE, 1, f->mole[i][0], f->mole[i][1] - f->ny, f->mole[i][2],
		    f->mole[i][2], 0, col, 0.9f, 1);
	if (f->scar) {
		float red[3] = { 190, 110, 110 };
		rgb_mix(col, f->skin, red, 0.4f);
		at(g, A_NOSE, 1, f->scar_pt[0], f->scar_pt[1] - f->ny, p);
		at(g, A_NOSE, 1, f->scar_pt[2], f->scar_pt[3] - f->ny, q);
		capsule(c, p, q, 0.8f * g->s, col, 0.6f, 1);
	}
	/* full beard: the jaw below a wide ellipse whose bottom passes just
	 * under the mouth */
	if (f->beard == 1 && mk_shape(&s, SH_ELLIPSE, g, A_JAW, 0, 0, 1, f->jw + 1, f->jh + 1, 0, 2) &&
	    mk_shape(&t, SH_ELLIPSE, g, A_MOUTH, 1, 0, -50, f->a * 1.6f, 56, 0, 3))
		fill(c, &s, OP_CUT, &t, f->hair, f->beard_a);
	else if (f->beard == 2)
		ell(c, g, A_MOUTH, 1, 0, 14, f->mw * 0.65f, 10, 0, f->hair, f->beard_a, 2);
	draw_nose(c, g, f);
	draw_mouth(c, g, f, sc);
	if (f->moustache)
		ell(c, g, A_MOUTH, 1, 0, -f->lip - 3.5f, f->mw * 1.05f, 3.3f, 0, f->hair,
		    fminf(1, f->beard_a + 0.1f), 1.5f);
	/* hair over the forehead: the hair ellipse minus the face below the hairline */
	if (f->hair_style > 0) {
		float r = 62, wi = f->hair_style == 1 ? 1.1f : 0.95f;
		if (mk_shape(&s, SH_ELLIPSE, g, A_HEAD, 0, 0, 0, f->a * f->hair_vol,
			     f->b * f->hair_vol, 0, 1.2f) &&
		    mk_shape(&t, SH_ELLIPSE, g, A_HEAD, 0, f->hair_part, f->hairline - f->hy + r,
			     f->a * wi, r, 0, 1.5f))
			fill(c, &s, OP_CUT, &t, f->hair, 1);
	}
	for (int side = -1; side <= 1; side += 2) {
		draw_brow(c, g, f, side);
		draw_eye(c, g, f, sc, side);
	}
	if (f->glasses && sc->glasses_on && !sc->sunglasses)
		draw_glasses(c, g, f, 0);
	if (sc->sunglasses)
		draw_glasses(c, g, f, 1);
	if (sc->occluder &&
	    mk_shape(&s, sc->occ_box ? SH_BOX : SH_ELLIPSE, g, A_HEAD, 0, sc->occ[0],
		     sc->occ[1] - f->hy, sc->occ[2], sc->occ[3], sc->occ[4], 1.2f))
		fill(c, &s, OP_NONE, NULL, sc->occ_col, 1);
	c->fg = 0;
}

/* Background: a gradient with low-frequency value noise, then soft blobs and
 * a few lines, all from the scene's stream. */
static void draw_background(struct synth_canvas *c, struct rng *r)
{
	enum { G = 5 };
	float c0[3], c1[3], grid[G + 1][G + 1][3];
	float grey = 60 + 150 * unif(r);
	for (int i = 0; i < 3; i++) {
		c0[i] = grey + (unif(r) - 0.5f) * 120;
		c1[i] = c0[i] * (0.55f + 0.8f * unif(r)) + (unif(r) - 0.5f) * 40;
	}
	float ang = 2 * PI_F * unif(r), gx = cosf(ang), gy = sinf(ang);
	float amp = 8 + 22 * unif(r);
	for (int j = 0; j <= G; j++)
		for (int i = 0; i <= G; i++) {
			float t = clampf(0.5f + 0.5f * ((i / (float)G - 0.5f) * gx +
							(j / (float)G - 0.5f) * gy) * 1.41f, 0, 1);
			float n = amp * tnormal(r);
			for (int k = 0; k < 3; k++)
				grid[j][i][k] = c0[k] + (c1[k] - c0[k]) * t + n +
						0.4f * amp * tnormal(r);
		}
	/* bilinear: per row, the grid interpolated in y, then in x per cell */
	for (int y = 0; y < c->h; y++) {
		float fy = y * (float)G / (c->h - 1), col[G + 1][3];
		int iy = fy >= G ? G - 1 : (int)fy;
		float ty = fy - iy;
		for (int i = 0; i <= G; i++)
			for (int k = 0; k < 3; k++)
				col[i][k] = grid[iy][i][k] + (grid[iy + 1][i][k] - grid[iy][i][k]) * ty;
		float *row = c->rgb + (size_t)y * c->w * 3;
		float step = (float)G / (c->w - 1);
		/* linear within a cell: add a constant per pixel */
		for (int i = 0, x = 0; i < G; i++) {
			int xe = i == G - 1 ? c->w : (int)ceilf((i + 1) / step);
			float d[3], v[3];
			for (int k = 0; k < 3; k++) {
				d[k] = (col[i + 1][k] - col[i][k]) * step;
				v[k] = col[i][k] + (x * step - i) * (col[i + 1][k] - col[i][k]);
			}
			for (; x < xe; x++) {
				row[3 * x] = v[0];
				row[3 * x + 1] = v[1];
				row[3 * x + 2] = v[2];
				v[0] += d[0];
				v[1] += d[1];
				v[2] += d[2];
			}
		}
	}
	memset(c->mask, 0, (size_t)c->w * c->h * sizeof *c->mask);
	float k = (c->w < c->h ? c->w : c->h) / 250.0f;
	int n = 2 + (int)rng_below(r, 5);
	for (int i = 0; i < n; i++) {
		/* ellipses at any angle, boxes upright (a box's bounding box is
		 * then the box: cheap) */
		int box = unif(r) < 0.4f;
		float rx = k * rng_range(r, 8, 60), ry = k * rng_range(r, 8, 60);
		float an = box ? 0 : 2 * PI_F * unif(r), cs = cosf(an), sn = sinf(an);
		float a[4] = { cs * rx, -sn * ry, sn * rx, cs * ry }, col[3];
		float cx = rng_range(r, 0, c->w), cy = rng_range(r, 0, c->h);
		float soft = 1 + 10 * unif(r) * k;
		struct shape s;
		for (int j = 0; j < 3; j++)
			col[j] = clampf(c0[j] + (unif(r) - 0.5f) * 160, 0, 255);
		if (shape_affine(&s, box ? SH_BOX : SH_ELLIPSE, cx, cy, a, soft))
			fill(c, &s, OP_NONE, NULL, col, rng_range(r, 0.25, 0.7));
	}
	n = (int)rng_below(r, 4);
	for (int i = 0; i < n; i++) {
		float p[2] = { rng_range(r, 0, c->w), rng_range(r, 0, c->h) };
		float q[2] = { rng_range(r, 0, c->w), rng_range(r, 0, c->h) }, col[3];
		for (int j = 0; j < 3; j++)
			col[j] = clampf(c1[j] + (unif(r) - 0.5f) * 140, 0, 255);
		capsule(c, p, q, k * rng_range(r, 0.5, 4), col, rng_range(r, 0.3, 0.8), 1);
	}
}

/* ------------------------------------------------------------------ */
/* shading and the camera */

/*
 * Directional light on the head: inside the head ellipse the normal is that
 * of a sphere, (q, sqrt(1 - |q|^2)) in the head's frame; beyond it the rim
 * normal fades to no change.  Scales what the person covers (mask).
 */
static void shade_head(struct synth_canvas *c, const struct geom *g, const struct face *f,
		       const struct scene *sc)
{
	struct shape h;
	if (!mk_shape(&h, SH_ELLIPSE, g, A_HEAD, 0, 0, 0, f->a, f->b + 6, 0, 1))
		return;
	/* light in the head's frame: undo the roll */
	float cr = g->L[0] / g->s, sr = g->L[2] / g->s;
	float lx = cr * sc->light[0] + sr * sc->light[1];
	float ly = -sr * sc->light[0] + cr * sc->light[1], lz = sc->light[2];
	float ext = 1.45f;
	int x0 = (int)fmaxf(0, floorf(h.cx - (h.cx - h.x0) * ext));
	int x1 = (int)fminf(c->w - 1, ceilf(h.cx + (h.x1 - h.cx) * ext));
	int y0 = (int)fmaxf(0, floorf(h.cy - (h.cy - h.y0) * ext));
	int y1 = (int)fminf(c->h - 1, ceilf(h.cy + (h.y1 - h.cy) * ext));
	/* the map m includes 1/(s a), 1/(s b) and the roll: q is in the head frame */
	for (int y = y0; y <= y1; y++) {
		float *row = c->rgb + (size_t)y * c->w * 3;
		const float *mk = c->mask + (size_t)y * c->w;
		for (int x = x0; x <= x1; x++) {
			if (mk[x] <= 0)
				continue;
			float dx = x - h.cx, dy = y - h.cy;
			float qx = h.m[0] * dx + h.m[1] * dy, qy = h.m[2] * dx + h.m[3] * dy;
			float r2 = qx * qx + qy * qy, sh;
			if (r2 < 1) {
				float nz = sqrtf(1 - r2);
				sh = sc->amb + sc->dif * fmaxf(0, qx * lx + qy * ly + nz * lz);
			} else {
				float r = sqrtf(r2);
				float w = clampf((ext - r) / (ext - 1), 0, 1);
				float rim = sc->amb + sc->dif * fmaxf(0, (qx * lx + qy * ly) / r);
				sh = 1 + (rim - 1) * w;
			}
			float k = 1 + (sh - 1) * mk[x];
			row[3 * x] *= k;
			row[3 * x + 1] *= k;
			row[3 * x + 2] *= k;
		}
	}
}

/* Separable box blur of radius R (edges clamped), via running sums.  Uses
 * the mask as scratch: call after shading. */
static void box_blur(struct synth_canvas *c, int rad)
{
	int w = c->w, h = c->h;
	float inv = 1.0f / (2 * rad + 1);
	for (int y = 0; y < h; y++) {
		const float *src = c->rgb + (size_t)y * w * 3;
		float *dst = c->tmp + (size_t)y * w * 3;
		for (int k = 0; k < 3; k++) {
			float acc = 0;
			for (int i = -rad; i <= rad; i++)
				acc += src[3 * (i < 0 ? 0 : i >= w ? w - 1 : i) + k];
			for (int x = 0; x < w; x++) {
				dst[3 * x + k] = acc * inv;
				int add = x + rad + 1, sub = x - rad;
				acc += src[3 * (add >= w ? w - 1 : add) + k] -
				       src[3 * (sub < 0 ? 0 : sub) + k];
			}
		}
	}
	/* vertical: running sums of whole rows, so memory is read in order;
	 * the mask buffer (no longer needed) holds the sums */
	int n = 3 * w;
	float *acc = c->mask;
	if ((size_t)n > (size_t)w * h)
		return;
	for (int j = 0; j < n; j++)
		acc[j] = 0;
	for (int i = -rad; i <= rad; i++) {
		const float *row = c->tmp + (size_t)(i < 0 ? 0 : i >= h ? h - 1 : i) * n;
		for (int j = 0; j < n; j++)
			acc[j] += row[j];
	}
	for (int y = 0; y < h; y++) {
		float *dst = c->rgb + (size_t)y * n;
		int add = y + rad + 1, sub = y - rad;
		const float *pa = c->tmp + (size_t)(add >= h ? h - 1 : add) * n;
		const float *ps = c->tmp + (size_t)(sub < 0 ? 0 : sub) * n;
		for (int j = 0; j < n; j++) {
			dst[j] = acc[j] * inv;
			acc[j] += pa[j] - ps[j];
		}
	}
}

/*
 * Colour cast, exposure and sensor noise, then rounding to bytes.  Noise:
 * each row adds a stretch of the canvas's table of normals starting at a
 * random offset (from the frame's stream); a table lookup instead of a
 * generator per value keeps this loop simple and fast.
 */
static void develop(struct synth_canvas *c, struct image *out, const struct scene *sc,
		    struct rng *r)
{
	int n = 3 * c->w;
	for (int j = 0; j < n; j++) {
		int k = j % 3;
		c->rowmul[j] = sc->gain[k] * sc->contrast;
		c->rowadd[j] = 128 * (1 - sc->contrast) + sc->bright + 0.5f;
	}
	float ns = sc->noise;
	const float *restrict mul = c->rowmul, *restrict add = c->rowadd;
	for (int y = 0; y < c->h; y++) {
		const float *restrict src = c->rgb + (size_t)y * n;
		const float *restrict nz = c->noise + (ns > 0 ? rng_below(r, NOISE_N) : 0);
		unsigned char *restrict dst = out->data + (size_t)y * n;
		for (int j = 0; j < n; j++) {
			/* integer clamps: conditional moves, not branches */
			int v = (int)(src[j] * mul[j] + add[j] + nz[j] * ns + 256.0f) - 256;
			v = v < 0 ? 0 : v;
			v = v > 255 ? 255 : v;
			dst[j] = (unsigned char)v;
		}
	}
}

int synth_render(struct synth_canvas *c, struct image *out, float lmk[5][2],
		 int *quality, const struct synth_identity *id,
		 const struct synth_opts *o, uint64_t seed,
		 uint64_t image_stream, uint64_t video_stream,
		 const float (*target)[2])
{
	if (c->w != o->width || c->h != o->height || out->width != o->width ||
	    out->height != o->height || out->channels != 3)
		return hm_error("synth_render: canvas %dx%d, image %dx%dx%d, options %dx%d disagree",
				c->w, c->h, out->width, out->height, out->channels,
				o->width, o->height);
	struct rng rv, rf;
	struct face f;
	struct scene sc;
	struct geom g;
	rng_seed2(&rv, seed, video_stream);
	rng_seed2(&rf, seed, image_stream ^ STREAM_FRAME);
	face_from_identity(&f, id);
	scene_draw(&sc, &rv, &rf, o);
	memset(&g, 0, sizeof g);
	g.raise = f.curve + sc.smile;
	if (target)
		geom_target(&g, &f, target);
	else
		geom_generated(&g, &f, &sc, o);
	draw_background(c, &rv);
	draw_person(c, &g, &f, &sc);
	shade_head(c, &g, &f, &sc);
	if (sc.blur > 0)
		box_blur(c, sc.blur);
	develop(c, out, &sc, &rf);
	for (int i = 0; i < 5; i++) {
		lmk[i][0] = g.anc[i][0];
		lmk[i][1] = g.anc[i][1];
	}
	*quality = sc.quality;
	return 0;
}
