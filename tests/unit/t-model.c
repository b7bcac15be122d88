/*
 * Backbones: architecture strings, tensor names and counts (against the
 * PyTorch reference modules' state_dict, see tests/ref/model_torch.py),
 * whole-model gradients by finite differences, determinism, the memory
 * plan, and model files.
 */
#include "tap.h"
#include "err.h"
#include "model.h"
#include "modelfile.h"
#include "rng.h"

#include <stdint.h>

static const struct model_tensor *find(const struct model *m, const char *name)
{
	for (int i = 0; i < model_n_tensors(m); i++)
		if (!strcmp(model_tensor(m, i)->name, name))
			return model_tensor(m, i);
	return NULL;
}

static int has_shape(const struct model_tensor *t, int ndim, int d0, int d1, int d2, int d3)
{
	int d[4] = { d0, d1, d2, d3 };
	if (!t || t->ndim != ndim)
		return 0;
	for (int i = 0; i < ndim; i++)
		if (t->shape[i] != d[i])
			return 0;
	return 1;
}

static void test_arch_strings(void)
{
	static const char *bad[][2] = {
		{ "", "unknown" }, { "ir19", "unknown" }, { "IR18", "unknown" },
		{ "ir:", "depths must be" }, { "ir:1,1", "depths must be" },
		{ "ir:1,1:8", "2 depths but 1 widths" }, { "ir:1:8,16", "1 depths but 2 widths" },
		{ "ir:0:8", "depths must be" }, { "ir:65:8", "depths must be" },
		{ "ir:1:0", "widths must be" }, { "ir:1:99999", "widths must be" },
		{ "ir:1,1,1,1,1,1,1:8,8,8,8,8,8,8", "depths must be" },
		{ "ir:1 :8", "depths must be" }, { "ir:1:8x", "unexpected 'x'" },
		{ "ir:1:16:se", "unexpected ':se'" }, { "face:1:16:sex", "only ':se' may follow" },
		{ "face:1,1:16,8:se", "SE blocks need widths of at least 16" },
		{ "ir:-1:8", "depths must be" }, { "face:1,,1:8,8", "depths must be" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct model *m = model_new(bad[i][0], 0, 0, 0, 0);
		ok(m == NULL, "'%s' rejected", bad[i][0]);
		like(hm_errmsg(), bad[i][1], "'%s': message", bad[i][0]);
		char quoted[64];
		snprintf(quoted, sizeof quoted, "architecture '%s'", bad[i][0]);
		like(hm_errmsg(), quoted, "'%s': message names it", bad[i][0]);
		model_free(m);
	}
	ok(model_new(NULL, 0, 0, 0, 0) == NULL, "NULL architecture rejected");

	struct model *m = model_new("ir18", 0, 0, 0, 0);
	const struct model_shape *s = model_get_shape(m);
	ok(m && !strcmp(s->arch, "ir18") && s->in_c == 3 && s->in_h == 112 && s->in_w == 112 &&
	   s->emb_dim == 512, "ir18 defaults: 3x112x112, 512-d");
	is_near(model_get_dropout(m), 0, 0, "ir18 dropout 0 (arcface_torch)");
	model_free(m);
	m = model_new("face18", 0, 0, 0, 0);
	s = model_get_shape(m);
	ok(m && s->in_c == 1 && s->in_h == 128 && s->in_w == 128 && s->emb_dim == 512,
	   "face18 defaults: 1x128x128, 512-d");
	is_near(model_get_dropout(m), 0.5, 0, "face18 dropout 0.5 (nn.Dropout())");
	is_int(model_set_dropout(m, 1.0f), -1, "dropout 1 rejected");
	is_int(model_set_dropout(m, NAN), -1, "dropout NaN rejected");
	is_int(model_set_dropout(m, 0.25f), 0, "dropout 0.25 accepted");
	model_free(m);
	m = model_new("ir:1,2:8,16", 2, 9, 7, 5);
	s = model_get_shape(m);
	ok(m && s->in_c == 2 && s->in_h == 9 && s->in_w == 7 && s->emb_dim == 5,
	   "explicit sizes override the defaults");
	/* 9x7 -> stage 1 (stride 2) 5x4 -> stage 2 3x2: fc takes 16*3*2. */
	ok(has_shape(find(m, "fc.weight"), 2, 5, 96, 0, 0), "fc input follows the input size");
	model_free(m);

	static const int sizes[][4] = { { 0, 0, 0, -1 }, { 65, 0, 0, 0 }, { 0, 4097, 0, 0 },
					{ 0, 0, -2, 0 }, { 0, 0, 0, 65537 } };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		const int *z = sizes[i];
		ok(!model_new("ir:1:8", z[0], z[1], z[2], z[3]), "ir:1:8 at %dx%dx%d emb %d rejected",
		   z[0], z[1], z[2], z[3]);
	}
	ok(!model_new("face:1:8", 1, 1, 8, 4), "face net on 1-pixel-high input rejected");
	like(hm_errmsg(), "input 1x8", "message gives the input size");
	ok(!model_new("ir:1:4096", 64, 4096, 4096, 65536), "an enormous net is refused");
	like(hm_errmsg(), "too large", "message says too large");
}

/* Counts and names against torch (values from tests/ref/model_torch.py's
 * reference modules: sum(p.numel() for p in parameters() if
 * p.requires_grad), len(state_dict()) minus num_batches_tracked). */
static void test_tensors(void)
{
	struct model *m = model_new("ir18", 0, 0, 0, 0);
	size_t np, nb;
	float *params = model_params(m, &np), *grads = model_grads(m, NULL);
	model_buffers(m, &nb);
	is_int(np, 24025088, "ir18: 24,025,088 trainable parameters (torch)");
	is_int(np + 512, 24025600, "ir18: with the frozen features.weight, torch's 24,025,600");
	is_int(model_n_tensors(m), 156, "ir18: 156 tensors (187 in the state_dict, less 31 "
	       "num_batches_tracked)");
	is_int(nb, 15232, "ir18: 15,232 buffer floats");
	is_near(model_macs(m) / 1e9, 2.61, 0.005, "ir18: 2.61 GMAC per image");
	ok(has_shape(find(m, "conv1.weight"), 4, 64, 3, 3, 3), "conv1.weight 64x3x3x3");
	ok(has_shape(find(m, "prelu.weight"), 1, 64, 0, 0, 0), "prelu.weight per channel");
	ok(has_shape(find(m, "layer1.0.downsample.0.weight"), 4, 64, 64, 1, 1),
	   "layer1.0 has a downsample (stride 2)");
	ok(!find(m, "layer1.1.downsample.0.weight"), "layer1.1 has none");
	ok(has_shape(find(m, "layer2.0.conv1.weight"), 4, 128, 64, 3, 3),
	   "IBasicBlock conv1 goes in->out");
	ok(has_shape(find(m, "layer4.1.bn3.running_var"), 1, 512, 0, 0, 0), "bn3 buffers");
	ok(has_shape(find(m, "fc.weight"), 2, 512, 512 * 7 * 7, 0, 0), "fc 25088 -> 512");
	const struct model_tensor *fw = find(m, "features.weight");
	ok(fw && !fw->trainable && !fw->grad && !fw->decay, "features.weight is frozen");
	const struct model_tensor *t0 = model_tensor(m, 0);
	ok(t0 && !strcmp(t0->name, "conv1.weight") && t0->data == params && t0->grad == grads,
	   "first tensor opens the parameter storage");
	int order_ok = 1, layout_ok = 1, decay_ok = 1, seen_buffer = 0;
	size_t off = 0;
	for (int i = 0; i < model_n_tensors(m); i++) {
		const struct model_tensor *t = model_tensor(m, i);
		if (!t->trainable)
			seen_buffer = 1;
		else if (seen_buffer)
			order_ok = 0;
		if (t->trainable) {
			if (t->data != params + off || t->grad != grads + off)
				layout_ok = 0;
			off += t->count;
		}
		int is_weight = strstr(t->name, ".weight") && t->ndim >= 2;
		if (t->decay != is_weight)
			decay_ok = 0;
	}
	ok(order_ok, "parameters first, then buffers");
	ok(layout_ok && off == np, "parameter views tile the one allocation");
	ok(decay_ok, "weight decay exactly on conv and linear weights");
	ok(model_tensor(m, -1) == NULL && model_tensor(m, 156) == NULL, "out of range: NULL");
	model_free(m);

	m = model_new("face18", 0, 0, 0, 0);
	model_params(m, &np);
	is_int(np, 25627081, "face18: 25,627,081 trainable parameters (torch, use_se=False)");
	is_int(model_n_tensors(m), 151, "face18: 151 tensors, no SE block");
	ok(!find(m, "layer2.0.se.fc.0.weight"), "face18: no SE (arcface-pytorch's config)");
	model_free(m);
	m = model_new("face18:se", 0, 0, 0, 0);
	model_params(m, &np);
	is_int(np, 25716169, "face18:se: 25,716,169 trainable parameters (torch, use_se=True)");
	is_int(model_n_tensors(m), 191, "face18:se: 191 tensors");
	ok(has_shape(find(m, "prelu.weight"), 1, 1, 0, 0, 0), "one PReLU slope (nn.PReLU())");
	ok(has_shape(find(m, "layer2.0.conv1.weight"), 4, 64, 64, 3, 3),
	   "IRBlock conv1 keeps the input width");
	ok(has_shape(find(m, "layer2.0.conv2.weight"), 4, 128, 64, 3, 3), "conv2 widens");
	ok(!find(m, "layer1.0.downsample.0.weight"), "layer1 (stride 1, 64->64): no downsample");
	ok(has_shape(find(m, "layer2.0.se.fc.0.weight"), 2, 8, 128, 0, 0) &&
	   has_shape(find(m, "layer2.0.se.fc.1.weight"), 1, 1, 0, 0, 0) &&
	   has_shape(find(m, "layer2.0.se.fc.2.bias"), 1, 128, 0, 0, 0), "SE block 128/16");
	ok(has_shape(find(m, "fc5.weight"), 2, 512, 512 * 8 * 8, 0, 0), "fc5 32768 -> 512");
	const struct model_tensor *b5 = find(m, "bn5.weight");
	ok(b5 && b5->trainable, "bn5.weight is trainable");
	model_free(m);
}

static void test_init(void)
{
	struct model *a = model_new("ir:1,1:8,16", 3, 16, 16, 8);
	struct model *b = model_new("ir:1,1:8,16", 3, 16, 16, 8);
	size_t n;
	model_init(a, 5);
	model_init(b, 5);
	float *pa = model_params(a, &n), *pb = model_params(b, NULL);
	ok(!memcmp(pa, pb, n * sizeof *pa), "same seed, same parameters");
	model_init(b, 6);
	ok(memcmp(pa, pb, n * sizeof *pa) != 0, "another seed, other parameters");
	const struct model_tensor *w = find(a, "layer2.0.conv2.weight");
	double s = 0, s2 = 0;
	for (size_t i = 0; i < w->count; i++)
		s += w->data[i], s2 += (double)w->data[i] * w->data[i];
	is_near(sqrt(s2 / w->count - (s / w->count) * (s / w->count)), 0.1, 0.005,
		"ir conv weights N(0, 0.1) (iresnet.py)");
	const struct model_tensor *fc = find(a, "fc.bias");
	double bound = 1 / sqrt(16.0 * 4 * 4), mx = 0;
	for (size_t i = 0; i < fc->count; i++)
		mx = fmax(mx, fabs(fc->data[i]));
	ok(mx > 0 && mx <= bound, "fc bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))");
	ok(find(a, "bn1.weight")->data[3] == 1 && find(a, "bn1.bias")->data[3] == 0 &&
	   find(a, "bn1.running_var")->data[3] == 1 && find(a, "prelu.weight")->data[3] == 0.25f &&
	   find(a, "features.weight")->data[2] == 1, "BN 1/0, running var 1, PReLU 0.25");
	model_free(a);
	model_free(b);
}

/* sum(emb * g) in double; *SCALE (if not NULL) gets sum |emb * g|, the
 * size of the terms, which sets the objective's float32 round-off. */
static double objective(struct model *m, const float *x, int B, const float *g,
			const struct rng *r0, double *scale)
{
	struct rng r = *r0;	/* the same dropout mask every time */
	const float *y = model_forward(m, x, B, 1, &r);
	double s = 0, a = 0;
	for (int i = 0; i < B * model_get_shape(m)->emb_dim; i++) {
		s += (double)y[i] * g[i];
		a += fabs((double)y[i] * g[i]);
	}
	if (scale)
		*scale = a;
	return s;
}

/*
 * Does a central difference of the objective in the direction of *P agree
 * with ANALYTIC?  Steps h, h/4 and h/16, each with its own tolerance:
 *   |numeric - analytic| <= 2e-2 max(|analytic|, 2e-2 GMAX) + noise / step
 * (GMAX: the tensor's largest gradient; noise: the objective's float32
 * round-off, 1e-6 of the size of its terms).  In these tiny nets a kink
 * (PReLU at 0, a max-pool tie) often lies within the largest step and
 * bends its quotient, while the smallest step is the noisiest: any step
 * that agrees will do.  *NUMERIC gets the quotient of the last step.
 */
static int central_ok(struct model *m, float *p, double h, const float *x, int B,
		      const float *g, const struct rng *r0, double analytic, double gmax,
		      double noise, double *numeric)
{
	float keep = *p;
	int good = 0;
	for (int k = 0; k < 3 && !good; k++, h /= 4) {
		float up = (float)(keep + h), down = (float)(keep - h);
		*p = up;
		double fp = objective(m, x, B, g, r0, NULL);
		*p = down;
		double fm = objective(m, x, B, g, r0, NULL);
		double step = (double)up - (double)down;	/* as rounded to float */
		*numeric = (fp - fm) / step;
		good = fabs(*numeric - analytic) <=
		       2e-2 * fmax(fabs(analytic), 2e-2 * gmax) + 2 * noise / step;
	}
	*p = keep;
	return good;
}

/*
 * Whole-model gradient check: central differences of sum(emb * g) against
 * model_backward() for three entries of every trainable tensor and eight
 * input entries.  Training mode (batch statistics); dropout with a fixed
 * mask (the same RNG state for every forward) where asked.
 */
static void gradcheck(const char *arch, int c, int h, int w, int emb, int B, float dropout)
{
	struct model *m = model_new(arch, c, h, w, emb);
	model_init(m, 11);
	model_set_dropout(m, dropout);
	model_set_batch(m, B);
	size_t nx = (size_t)B * c * h * w, ne = (size_t)B * emb;
	float *x = malloc(nx * sizeof *x), *g = malloc(ne * sizeof *g);
	float *dx = calloc(nx, sizeof *dx);
	struct rng r, r0;
	rng_seed(&r, 12);
	for (size_t i = 0; i < nx; i++)
		x[i] = (float)rng_range(&r, -1, 1);
	for (size_t i = 0; i < ne; i++)
		g[i] = (float)rng_normal(&r);
	/* Randomise BN affine and PReLU so no parameter sits at a special value. */
	for (int i = 0; i < model_n_tensors(m); i++) {
		const struct model_tensor *t = model_tensor(m, i);
		if (t->trainable && t->ndim == 1)
			for (size_t j = 0; j < t->count; j++)
				t->data[j] = (float)(t->data[j] + rng_range(&r, -0.2, 0.2));
	}
	rng_seed(&r0, 13);
	struct rng rr = r0;
	model_zero_grad(m);
	model_forward(m, x, B, 1, &rr);
	model_backward(m, g, dx);
	double scale;
	objective(m, x, B, g, &r0, &scale);
	double noise = 1e-6 * scale;

	const double hstep = 2e-3;
	int checked = 0, bad = 0;
	for (int i = 0; i < model_n_tensors(m); i++) {
		const struct model_tensor *t = model_tensor(m, i);
		if (!t->trainable)
			continue;
		double gmax = 0;
		for (size_t j = 0; j < t->count; j++)
			gmax = fmax(gmax, fabs(t->grad[j]));
		for (int k = 0; k < 3; k++) {
			size_t j = rng_below(&r, (uint32_t)t->count);
			double an = t->grad[j], fd;
			checked++;
			if (!central_ok(m, &t->data[j], hstep * fmax(1, fabs(t->data[j])), x, B,
					g, &r0, an, gmax, noise, &fd)) {
				bad++;
				diag("%s[%zu]: analytic %.6g, numeric %.6g", t->name, j, an, fd);
			}
		}
	}
	ok(!bad, "%s: %d parameter entries match finite differences", arch, checked);

	double dmax = 0;
	for (size_t j = 0; j < nx; j++)
		dmax = fmax(dmax, fabs(dx[j]));
	bad = 0;
	for (int k = 0; k < 8; k++) {
		size_t j = rng_below(&r, (uint32_t)nx);
		double fd;
		if (!central_ok(m, &x[j], hstep, x, B, g, &r0, dx[j], dmax, noise, &fd)) {
			bad++;
			diag("x[%zu]: analytic %.6g, numeric %.6g", j, dx[j], fd);
		}
	}
	ok(!bad, "%s: input gradient matches finite differences", arch);
	free(x), free(g), free(dx);
	model_free(m);
}

/* One training step's outputs and gradients, for comparisons. */
struct step {
	float *emb, *emb_eval, *grads, *dx;
};

static void run_step(struct model *m, struct step *s, const float *x, int B, int max_batch)
{
	const struct model_shape *sh = model_get_shape(m);
	size_t nx = (size_t)B * sh->in_c * sh->in_h * sh->in_w, ne = (size_t)B * sh->emb_dim, np;
	float *g = malloc(ne * sizeof *g);
	for (size_t i = 0; i < ne; i++)
		g[i] = (float)((int)(i % 7) - 3) / 3;
	model_set_batch(m, max_batch);
	struct rng r;
	rng_seed(&r, 3);
	s->emb = malloc(ne * sizeof(float));
	s->emb_eval = malloc(ne * sizeof(float));
	s->dx = calloc(nx, sizeof(float));
	model_zero_grad(m);
	memcpy(s->emb, model_forward(m, x, B, 1, &r), ne * sizeof(float));
	model_backward(m, g, s->dx);
	float *grads = model_grads(m, &np);
	s->grads = malloc(np * sizeof(float));
	memcpy(s->grads, grads, np * sizeof(float));
	memcpy(s->emb_eval, model_forward(m, x, B, 0, NULL), ne * sizeof(float));
	free(g);
}

static void step_free(struct step *s)
{
	free(s->emb), free(s->emb_eval), free(s->grads), free(s->dx);
}

static int same_step(const struct step *a, const struct step *b, size_t ne, size_t np,
		     size_t nx)
{
	return !memcmp(a->emb, b->emb, ne * 4) && !memcmp(a->emb_eval, b->emb_eval, ne * 4) &&
	       !memcmp(a->grads, b->grads, np * 4) && !memcmp(a->dx, b->dx, nx * 4);
}

static void test_determinism_and_plan(void)
{
	const char *arch = "face:1,1:16,16:se";
	int B = 3;
	size_t nx = (size_t)B * 1 * 10 * 12, ne = (size_t)B * 6, np;
	float *x = malloc(nx * sizeof *x);
	struct rng r;
	rng_seed(&r, 9);
	for (size_t i = 0; i < nx; i++)
		x[i] = (float)rng_range(&r, -1, 1);

	struct model *a = model_new(arch, 1, 10, 12, 6), *b = model_new(arch, 1, 10, 12, 6);
	model_init(a, 1);
	model_init(b, 1);
	model_params(a, &np);
	struct step s1, s2, s3;
	run_step(a, &s1, x, B, B);
	run_step(b, &s2, x, B, 8);
	ok(same_step(&s1, &s2, ne, np, nx),
	   "outputs and gradients bitwise equal for max batch 3 and 8 (plans differ)");
	model_init(b, 1);	/* back to the initial running statistics */
	run_step(b, &s3, x, B, B);
	ok(same_step(&s1, &s3, ne, np, nx), "the same step again on a reused model: same bytes");
	int finite = 1;
	for (size_t i = 0; i < np; i++)
		finite &= isfinite(s1.grads[i]);
	ok(finite, "gradients finite");
	step_free(&s1), step_free(&s2), step_free(&s3);

	/* Backward accumulates: two steps without zeroing double the gradients
	 * (training-mode outputs do not depend on the running statistics). */
	model_set_dropout(a, 0);
	model_set_batch(a, B);
	float *g = malloc(ne * sizeof *g), *once = malloc(np * sizeof *once);
	for (size_t i = 0; i < ne; i++)
		g[i] = (float)i / (float)ne - 0.5f;
	model_zero_grad(a);
	model_forward(a, x, B, 1, NULL);
	model_backward(a, g, NULL);
	memcpy(once, model_grads(a, NULL), np * sizeof *once);
	model_forward(a, x, B, 1, NULL);
	model_backward(a, g, NULL);
	/* Not bitwise: sgemm with beta = 1 rounds A B + C differently. */
	int twice = 1;
	for (size_t i = 0; i < np; i++)
		twice &= fabsf(model_grads(a, NULL)[i] - 2 * once[i]) <= 1e-5f * (1 + fabsf(once[i]));
	ok(twice, "a second step adds the same gradients again");
	model_zero_grad(a);
	int zero = 1;
	for (size_t i = 0; i < np; i++)
		zero &= model_grads(a, NULL)[i] == 0;
	ok(zero, "model_zero_grad clears them");
	model_forward(a, x, B, 0, NULL);
	model_backward(a, g, NULL);
	zero = 1;
	for (size_t i = 0; i < np; i++)
		zero &= model_grads(a, NULL)[i] == 0;
	ok(zero, "backward after an eval forward does nothing");

	/* Errors of forward. */
	struct model *c = model_new(arch, 1, 10, 12, 6);
	ok(!model_forward(c, x, B, 0, NULL), "forward without a plan fails");
	like(hm_errmsg(), "no batch planned", "message");
	model_set_batch(c, 2);
	ok(!model_forward(c, x, 3, 0, NULL), "batch above the plan fails");
	like(hm_errmsg(), "batch of 3, planned for 1 to 2", "message");
	ok(!model_forward(c, x, 1, 1, NULL), "training on one image fails");
	like(hm_errmsg(), "at least 2", "message");
	ok(!model_forward(c, x, 2, 1, NULL), "dropout without an RNG fails");
	like(hm_errmsg(), "random number generator", "message");
	ok(model_forward(c, x, 1, 0, NULL) != NULL, "eval on one image works");
	is_int(model_set_batch(c, 0), -1, "max batch 0 rejected");
	model_free(c);
	free(g), free(once), free(x);
	model_free(a);
	model_free(b);

	/* The plan shares memory and recomputes cheap activations.  ir18 at
	 * 3x112x112 keeps for the backward, per image: the stem conv output
	 * (64x112^2 = 0.80 M floats), in each block the conv1 output at the
	 * block's input resolution, the conv2 and shortcut conv outputs and
	 * the block output at its output resolution (layer1.0: 0.80 M + 3 x
	 * 0.20 M; layer1.1: 3 x 0.20 M; ...): 4.57 M floats, 17.4 MiB per
	 * image, 1115 MiB at batch 64, the peak at the end of the forward; the
	 * bound leaves 135 MiB for the conv workspace and what overlaps it.
	 * Keeping every batch-norm and PReLU output as well, the plan was 2841
	 * MiB at batch 64 (379 at 8). */
	struct model *m = model_new("ir18", 0, 0, 0, 0);
	is_int(model_batch_bytes(m), 0, "no plan, no bytes");
	is_int(model_set_batch(m, 8), 0, "ir18 plans a batch of 8");
	size_t bytes = model_batch_bytes(m);
	ok(bytes > (size_t)100 << 20 && bytes < (size_t)200 << 20,
	   "ir18 batch 8 plans %.0f MiB (100 to 200)", bytes / 1048576.0);
	is_int(model_set_batch(m, 64), 0, "ir18 plans a batch of 64");
	bytes = model_batch_bytes(m);
	ok(bytes < (size_t)1250 << 20, "ir18 batch 64 plans %.0f MiB (below 1250; 2841 before "
	   "recomputation)", bytes / 1048576.0);
	model_free(m);
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, size_t n)
{
	double d = 0, r = 0;
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs((double)a[i] - b[i]));
		r = fmax(r, fabs((double)b[i]));
	}
	return r > 0 ? d / r : d;
}

static int same_bytes(const float *a, const float *b, size_t n)
{
	return !memcmp(a, b, n * sizeof *a);
}

/* Does M's eval forward on X give the bytes of a fresh copy of M, folded
 * (model_fold_bn()) when FOLD? */
static int eval_fresh(struct model *m, const char *arch, int c, int h, int w, int emb,
		      const float *x, int B, int fold)
{
	struct model *u = model_new(arch, c, h, w, emb);
	size_t nb, np, ne = (size_t)B * model_get_shape(m)->emb_dim;
	float *pb = model_buffers(m, &nb), *pp = model_params(m, &np);
	memcpy(model_buffers(u, NULL), pb, nb * sizeof *pb);
	memcpy(model_params(u, NULL), pp, np * sizeof *pp);
	model_set_batch(u, B);
	if (fold)
		model_fold_bn(u, 0);
	int same = same_bytes(model_forward(u, x, B, 0, NULL), model_forward(m, x, B, 0, NULL),
			      ne);
	model_free(u);
	return same;
}

/* Does M's eval forward on X give the bytes of a never-folded copy of M? */
static int eval_unfolded(struct model *m, const char *arch, int c, int h, int w, int emb,
			 const float *x, int B)
{
	return eval_fresh(m, arch, c, h, w, emb, x, B, 0);
}

/* model_fold_bn(): eval with batch norm folded into the convolutions and
 * linear layers equals the unfolded eval within 1e-5 (relative, norm-wise),
 * with random statistics, affine parameters and slopes so that no 1/0
 * hides a wrong scale; a training forward, model_init() and a reload turn
 * it off (the unfolded bytes again) until the next call. */
static void test_fold(const char *arch, int c, int h, int w, int emb, int B)
{
	struct model *m = model_new(arch, c, h, w, emb);
	ok(m != NULL, "%s: built", arch);
	if (!m)
		return;
	model_init(m, 5);
	model_set_dropout(m, 0);
	struct rng r;
	rng_seed(&r, 11);
	for (int i = 0; i < model_n_tensors(m); i++) {
		const struct model_tensor *t = model_tensor(m, i);
		const char *dot = strrchr(t->name, '.');
		int conv_w = t->ndim == 4;
		for (size_t j = 0; j < t->count && !conv_w; j++) {
			if (!strcmp(dot, ".running_var"))
				t->data[j] = (float)rng_range(&r, 0.2, 3);
			else if (!strcmp(dot, ".running_mean") || !strcmp(dot, ".bias"))
				t->data[j] = (float)rng_range(&r, -0.5, 0.5);
			else if (t->ndim == 1)	/* BN weights, PReLU slopes */
				t->data[j] = (float)rng_range(&r, 0.3, 1.5);
		}
	}
	const struct model_shape *s = model_get_shape(m);
	size_t nx = (size_t)B * s->in_c * s->in_h * s->in_w, ne = (size_t)B * s->emb_dim;
	float *x = malloc(nx * sizeof *x), *plain = malloc(ne * sizeof *plain);
	float *folded = malloc(ne * sizeof *folded);
	for (size_t i = 0; i < nx; i++)
		x[i] = (float)rng_range(&r, -1, 1);
	model_set_batch(m, B);
	memcpy(plain, model_forward(m, x, B, 0, NULL), ne * sizeof *plain);
	is_int(model_fold_bn(m, 0), 0, "%s: folded", arch);
	memcpy(folded, model_forward(m, x, B, 0, NULL), ne * sizeof *folded);
	double e = rel_err(folded, plain, ne);
	ok(e <= 1e-5, "%s: folded eval equals unfolded (relative error %.2g)", arch, e);
	ok(!same_bytes(folded, plain, ne), "%s: the folded weights were used", arch);
	is_int(model_fold_bn(m, 0), 0, "%s: folded again", arch);
	ok(same_bytes(model_forward(m, x, B, 0, NULL), folded, ne), "%s: same bytes again", arch);
	ok(!eval_unfolded(m, arch, c, h, w, emb, x, B), "%s: folded differs from unfolded",
	   arch);
	model_init(m, 5);
	ok(eval_unfolded(m, arch, c, h, w, emb, x, B), "%s: after model_init, eval is unfolded",
	   arch);
	model_fold_bn(m, 0);
	model_forward(m, x, B, 1, NULL);	/* moves the running statistics */
	ok(eval_unfolded(m, arch, c, h, w, emb, x, B),
	   "%s: after a training forward, eval is unfolded", arch);
	/* the transformed Winograd weights follow: new weights, folded
	 * again, give a fresh copy's bytes */
	{
		size_t np;
		float *pp = model_params(m, &np);
		for (size_t i = 0; i < np; i++)
			pp[i] *= 0.75f;
		model_fold_bn(m, 0);
		ok(eval_fresh(m, arch, c, h, w, emb, x, B, 1),
		   "%s: new weights folded again: a fresh copy's bytes", arch);
	}
	/* In place: the same folded weights, written over the model's. */
	model_fold_bn(m, 0);
	memcpy(folded, model_forward(m, x, B, 0, NULL), ne * sizeof *folded);
	is_int(model_fold_bn(m, 1), 0, "%s: folded in place", arch);
	ok(same_bytes(model_forward(m, x, B, 0, NULL), folded, ne),
	   "%s: in place gives the copy's bytes", arch);
	is_int(model_fold_bn(m, 1), 0, "%s: folding again does nothing", arch);
	ok(same_bytes(model_forward(m, x, B, 0, NULL), folded, ne),
	   "%s: still the same bytes", arch);
	ok(!model_forward(m, x, B, 1, NULL), "%s: no training after folding in place", arch);
	like(hm_errmsg(), "folded into the weights", "%s: message", arch);
	model_init(m, 5);
	ok(eval_unfolded(m, arch, c, h, w, emb, x, B) && model_forward(m, x, B, 1, NULL),
	   "%s: model_init unfolds; training works again", arch);
	model_free(m);
	free(x), free(plain), free(folded);
}

/* Writes M's entries with EDIT applied to the tensor list. */
static int save_edited(const struct model *m, const char *path, int drop, const char *extra,
		       int reshape, const char *arch, const char *in_h)
{
	struct mf_kv *kv = NULL;
	struct mf_tensor *t = NULL;
	int n_kv = 0, n_t = 0;
	static float spare[64];
	model_file_entries(m, &kv, &n_kv, &t, &n_t);
	if (drop >= 0)
		t[drop] = t[--n_t];
	if (extra) {
		t = realloc(t, sizeof *t * (size_t)(n_t + 1));
		memset(&t[n_t], 0, sizeof *t);
		snprintf(t[n_t].name, sizeof t[n_t].name, "%s", extra);
		t[n_t].ndim = 1, t[n_t].shape[0] = 4, t[n_t].data = spare;
		n_t++;
	}
	if (reshape >= 0)
		t[reshape].shape[0]++, t[reshape].data = spare;
	for (int i = 0; i < n_kv; i++) {
		if (arch && !strcmp(kv[i].key, "arch"))
			free(kv[i].value), kv[i].value = strdup(arch);
		if (in_h && !strcmp(kv[i].key, "in_h"))
			free(kv[i].value), kv[i].value = strdup(in_h);
	}
	int rc = modelfile_write(path, kv, n_kv, t, n_t);
	for (int i = 0; i < n_kv; i++)
		free(kv[i].key), free(kv[i].value);
	free(kv), free(t);
	return rc;
}

/* model_load() reads the tensors into the model as it builds it; it must
 * fail as reading the file, then model_from_file(), fail. */
static void expect_load_fails(const char *path, const char *what, const char *sub)
{
	struct model *m = model_load(path);
	ok(m == NULL, "load fails: %s", what);
	like(hm_errmsg(), sub, "%s: message", what);
	like(hm_errmsg(), path, "%s: message names the file", what);
	model_free(m);
	char *msg = strdup(hm_errmsg());
	struct modelfile mf;
	if (modelfile_read(&mf, path) == 0) {
		m = model_from_file(&mf, path);
		model_free(m);
		modelfile_free(&mf);
	}
	is_str(msg, hm_errmsg(), "%s: the message of modelfile_read(), model_from_file()",
	       what);
	free(msg);
}

/* model_add_param(): the head joins the parameter storage after the
 * backbone's, which keeps its values and offsets while the storage grows. */
static void test_add_param(void)
{
	const char *arch = "face:1,1:16,16:se", *path = tmp_path("head.hmm");
	int B = 3;
	size_t nx = (size_t)B * 1 * 10 * 12, ne = (size_t)B * 6, np, nb;
	float *x = malloc(nx * sizeof *x);
	for (size_t i = 0; i < nx; i++)
		x[i] = (float)sin((double)i);
	struct model *a = model_new(arch, 1, 10, 12, 6), *b = model_new(arch, 1, 10, 12, 6);
	model_init(a, 1);
	model_init(b, 1);
	model_set_batch(b, B);	/* the storage moves under a plan */
	int nt = model_n_tensors(b), shape[2] = { 5, 6 };
	float *pa = model_params(a, &np);
	ok(model_add_param(b, "bias", 1, shape, 0) < 0, "a name without '/' is refused");
	like(hm_errmsg(), "model_add_param('bias'", "message");
	int w = model_add_param(b, "head/weight", 2, shape, 1);
	int c = model_add_param(b, "head/bias", 1, shape, 0);
	ok(w == nt && c == nt + 1 && model_n_tensors(b) == nt + 2, "the last two tensors");
	float *pb = model_params(b, &nb), *gb = model_grads(b, NULL);
	const struct model_tensor *tw = model_tensor(b, w), *tc = model_tensor(b, c);
	ok(nb == np + 35 && tw->data == pb + np && tc->data == pb + np + 30 &&
	   tw->grad == gb + np && tc->grad == gb + np + 30, "after the backbone's parameters");
	ok(has_shape(tw, 2, 5, 6, 0, 0) && has_shape(tc, 1, 5, 0, 0, 0) && tw->trainable &&
	   tc->trainable && tw->decay && !tc->decay, "shapes, trainable, decay as asked");
	int kept = !memcmp(pa, pb, np * sizeof *pa), zero = 1;
	for (int i = 0; i < nt; i++) {
		const struct model_tensor *ta = model_tensor(a, i), *tb = model_tensor(b, i);
		if (ta->trainable)
			kept &= tb->data - pb == ta->data - pa && tb->grad - gb == tb->data - pb;
	}
	for (size_t i = np; i < nb; i++)
		zero &= pb[i] == 0 && gb[i] == 0;
	ok(kept, "the backbone's values and offsets kept");
	ok(zero, "the new values and gradients are 0");
	struct step s1, s2;
	run_step(a, &s1, x, B, B);
	run_step(b, &s2, x, B, B);
	ok(same_step(&s1, &s2, ne, np, nx), "forward and backward bitwise unchanged");
	zero = 1;
	for (size_t i = np; i < nb; i++)
		zero &= model_grads(b, NULL)[i] == 0;
	ok(zero, "the backbone's backward leaves the new gradients alone");
	step_free(&s1), step_free(&s2);

	for (int i = 0; i < 30; i++)
		tw->data[i] = (float)i;
	for (int i = 0; i < 5; i++)
		tc->data[i] = (float)-i;
	is_int(model_save(b, path), 0, "saved with them");
	struct modelfile mf;
	if (modelfile_read(&mf, path) == 0) {
		int n = mf.n_tensors;
		ok(n == nt + 2 && !strcmp(mf.tensors[n - 2].name, "head/weight") &&
		   !strcmp(mf.tensors[n - 1].name, "head/bias") &&
		   !memcmp(mf.tensors[n - 2].data, tw->data, 30 * sizeof(float)) &&
		   !memcmp(mf.tensors[n - 1].data, tc->data, 5 * sizeof(float)),
		   "the file holds them last, after the buffers");
		modelfile_free(&mf);
	} else {
		ok(0, "file read back: %s", hm_errmsg());
	}
	struct model *l = model_load(path);
	ok(l && model_n_tensors(l) == nt &&
	   !memcmp(model_params(l, NULL), model_params(b, NULL), np * sizeof(float)),
	   "model_load() builds the backbone and leaves them to the caller");
	model_init(b, 1);
	zero = 1;
	for (size_t i = np; i < nb; i++)
		zero &= model_params(b, NULL)[i] == 0;
	ok(zero, "model_init() sets them to 0");
	model_free(l);
	model_free(a);
	model_free(b);
	free(x);
}

static void test_files(void)
{
	const char *arch = "ir:1,1:4,8", *path = tmp_path("m.hmm");
	int B = 2;
	struct model *m = model_new(arch, 2, 9, 7, 5);
	model_init(m, 4);
	/* Non-trivial running statistics, so the round trip carries them. */
	model_set_batch(m, B);
	float x[2 * 2 * 9 * 7];
	for (int i = 0; i < 2 * 2 * 9 * 7; i++)
		x[i] = (float)sin(i);
	model_forward(m, x, B, 1, NULL);
	float before[10];
	memcpy(before, model_forward(m, x, B, 0, NULL), sizeof before);
	is_int(model_save(m, path), 0, "model saved");

	struct model *n = model_load(path);
	ok(n != NULL, "model loaded");
	if (!n)
		return;
	const struct model_shape *s = model_get_shape(n);
	ok(!strcmp(s->arch, arch) && s->in_c == 2 && s->in_h == 9 && s->in_w == 7 &&
	   s->emb_dim == 5, "shape from the metadata");
	int same = model_n_tensors(n) == model_n_tensors(m);
	for (int i = 0; same && i < model_n_tensors(m); i++) {
		const struct model_tensor *a = model_tensor(m, i), *b = model_tensor(n, i);
		same = !strcmp(a->name, b->name) && a->count == b->count &&
		       !memcmp(a->data, b->data, a->count * sizeof(float));
	}
	ok(same, "every tensor, running statistics included, bitwise equal");
	model_set_batch(n, B);
	ok(!memcmp(before, model_forward(n, x, B, 0, NULL), sizeof before),
	   "eval outputs bitwise equal after the round trip");

	struct modelfile mf;
	modelfile_read(&mf, path);
	is_str(modelfile_get(&mf, "arch"), arch, "metadata arch");
	is_str(modelfile_get(&mf, "in_c"), "2", "metadata in_c");
	is_str(modelfile_get(&mf, "emb_dim"), "5", "metadata emb_dim");
	modelfile_free(&mf);

	/* Failures, each naming the file and the culprit. */
	const char *p2 = tmp_path("edited.hmm");
	int fc = -1, fcb = -1;
	for (int i = 0; i < model_n_tensors(m); i++) {
		if (!strcmp(model_tensor(m, i)->name, "layer2.0.conv2.weight"))
			fc = i;
		if (!strcmp(model_tensor(m, i)->name, "fc.bias"))
			fcb = i;
	}
	save_edited(m, p2, fc, NULL, -1, NULL, NULL);
	expect_load_fails(p2, "a missing tensor", "tensor 'layer2.0.conv2.weight' missing "
			  "(architecture 'ir:1,1:4,8')");
	save_edited(m, p2, -1, "layer9.weight", -1, NULL, NULL);
	expect_load_fails(p2, "an extra tensor", "tensor 'layer9.weight' is not part of "
			  "architecture 'ir:1,1:4,8'");
	save_edited(m, p2, -1, NULL, fcb, NULL, NULL);
	expect_load_fails(p2, "a wrong shape", "tensor 'fc.bias': shape 6, architecture "
			  "'ir:1,1:4,8' needs 5");
	save_edited(m, p2, -1, NULL, -1, "ir:1,1:4", NULL);
	expect_load_fails(p2, "a bad architecture", "architecture 'ir:1,1:4': 2 depths but 1");
	save_edited(m, p2, -1, NULL, -1, "ir:1,1:4,16", NULL);
	expect_load_fails(p2, "another architecture", "tensor 'layer2.0.conv1.weight': shape "
			  "8x4x3x3, architecture 'ir:1,1:4,16' needs 16x4x3x3");
	save_edited(m, p2, -1, NULL, -1, NULL, "nine");
	expect_load_fails(p2, "a bad size", "metadata 'in_h': 'nine' is not an integer");
	/* The file's errors first: a wrong shape, then a bit flipped in a
	 * tensor after it (the last, the running variance of "features"). */
	save_edited(m, p2, -1, NULL, fcb, NULL, NULL);
	FILE *fp = fopen(p2, "r+b");
	fseek(fp, -12, SEEK_END);
	int byte = fgetc(fp);
	fseek(fp, -12, SEEK_END);
	fputc(byte ^ 1, fp);
	fclose(fp);
	expect_load_fails(p2, "a wrong shape, then a CRC mismatch", "tensor "
			  "'features.running_var': CRC mismatch");
	save_edited(m, p2, -1, "head/weight", -1, NULL, NULL);
	struct model *h = model_load(p2);
	ok(h != NULL, "extra tensors with '/' belong to the caller: loads");
	model_free(h);

	/* model_load_tensors into an existing model. */
	modelfile_read(&mf, path);
	struct model *o = model_new("ir:1,1:4,16", 2, 9, 7, 5);
	is_int(model_load_tensors(o, &mf, path), -1, "tensors of another architecture refused");
	like(hm_errmsg(), "architecture 'ir:1,1:4,8', but the model is 'ir:1,1:4,16'",
	     "message names both");
	model_free(o);
	o = model_new(arch, 2, 9, 7, 6);
	is_int(model_load_tensors(o, &mf, path), -1, "another embedding size refused");
	like(hm_errmsg(), "metadata 'emb_dim' is 5, the model has 6", "message");
	model_free(o);
	o = model_new("ir:1,1:4,8", 2, 9, 7, 5);
	is_int(model_load_tensors(o, &mf, path), 0, "same architecture loads");
	model_free(o);
	modelfile_free(&mf);
	struct mf_kv kv[1] = { { "in_c", "2" } };
	modelfile_write(p2, kv, 1, NULL, 0);
	expect_load_fails(p2, "no arch", "metadata 'arch' missing");
	expect_load_fails("tests/tmp/none.hmm", "no file", "cannot open");
	unlink(p2);
	unlink(path);
	model_free(m);
	model_free(n);
}

/* A file written when "face18" meant SE blocks (arch "face18", SE tensors)
 * loads as "face18:se"; a model with MODEL_FEATURES_TRAINABLE trains the
 * ir features' weight and its file says so; a file without the key loads
 * it frozen. */
static void test_compat(void)
{
	const char *path = tmp_path("legacy.hmm");
	struct model *se = model_new("face18:se", 1, 16, 16, 8);
	model_init(se, 3);
	struct mf_kv *kv = NULL;
	struct mf_tensor *t = NULL;
	int n_kv = 0, n_t = 0;
	model_file_entries(se, &kv, &n_kv, &t, &n_t);
	for (int i = 0; i < n_kv; i++)
		if (!strcmp(kv[i].key, "arch")) {
			free(kv[i].value);
			kv[i].value = strdup("face18");
		}
	is_int(modelfile_write(path, kv, n_kv, t, n_t), 0, "an old face18 file written");
	struct model *m = model_load(path);
	ok(m && !strcmp(model_get_shape(m)->arch, "face18:se") &&
	   model_n_tensors(m) == model_n_tensors(se), "it loads as face18:se, SE blocks and all");
	int same = m != NULL;
	for (int i = 0; same && i < model_n_tensors(se); i++)
		same = !memcmp(model_tensor(se, i)->data, model_tensor(m, i)->data,
			       model_tensor(se, i)->count * sizeof(float));
	ok(same, "with its values");
	model_free(m);
	for (int i = 0; i < n_kv; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
	free(t);
	model_free(se);

	struct model *f = model_new_flags("ir:1,1:4,8", 3, 8, 8, 6, MODEL_FEATURES_TRAINABLE);
	struct model *z = model_new("ir:1,1:4,8", 3, 8, 8, 6);
	size_t nf, nz;
	model_params(f, &nf);
	model_params(z, &nz);
	const struct model_tensor *fw = find(f, "features.weight");
	ok(fw && fw->trainable && fw->grad && !fw->decay, "flag: features.weight trainable, "
	   "not decayed");
	is_int((int)(nf - nz), 6, "six more parameters");
	ok(!find(z, "features.weight")->trainable, "default: frozen (iresnet.py)");
	model_init(f, 2);
	is_int(model_save(f, path), 0, "saved");
	struct modelfile mf;
	modelfile_read(&mf, path);
	is_str(modelfile_get(&mf, "features.trainable"), "1", "the file says so");
	modelfile_free(&mf);
	m = model_load(path);
	ok(m && find(m, "features.weight")->trainable, "and loads trainable");
	model_free(m);
	model_init(z, 2);
	model_save(z, path);
	modelfile_read(&mf, path);
	ok(!modelfile_get(&mf, "features.trainable"), "a frozen model's file has no key");
	modelfile_free(&mf);
	m = model_load(path);
	ok(m && !find(m, "features.weight")->trainable, "and loads frozen");
	model_free(m);
	struct model *g = model_new_flags("face:1:16", 1, 8, 8, 6, MODEL_FEATURES_TRAINABLE);
	model_save(g, path);
	modelfile_read(&mf, path);
	ok(!modelfile_get(&mf, "features.trainable"), "face family: the flag does nothing");
	modelfile_free(&mf);
	model_free(g);
	model_free(f);
	model_free(z);
	unlink(path);
}

int main(void)
{
	test_arch_strings();
	test_tensors();
	test_init();
	gradcheck("ir:1,1:4,6", 2, 7, 5, 5, 3, 0);
	gradcheck("face:1,1:16,16:se", 1, 8, 6, 4, 4, 0.3f);
	gradcheck("face:1,2:3,5", 2, 7, 9, 3, 4, 0);
	test_determinism_and_plan();
	test_fold("ir18", 3, 24, 20, 0, 2);
	test_fold("face:1,2:16,32:se", 1, 20, 22, 12, 3);
	test_fold("ir:1,1:8,16", 3, 9, 11, 6, 4);
	test_add_param();
	test_files();
	test_compat();
	return done_testing();
}
