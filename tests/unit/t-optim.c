/* optim: learning-rate schedules, milestone parsing, SGD against its double twin. */
#include "tap.h"
#include "err.h"
#include "optim.h"

#include <math.h>

static void test_step(void)
{
	struct lr_schedule s = { .kind = LR_STEP, .base = 0.1, .factor = 0.1,
				 .total = 100, .n_steps = 3,
				 .steps = { 10, 18, 22 } };
	is_near(lr_at(&s, 0), 0.1, 1e-15, "step: base rate at t 0");
	is_near(lr_at(&s, 9), 0.1, 1e-15, "step: base rate just before 10");
	is_near(lr_at(&s, 10), 0.01, 1e-15, "step: x0.1 at milestone 10");
	is_near(lr_at(&s, 17), 0.01, 1e-15, "step: still 0.01 at 17");
	is_near(lr_at(&s, 18), 0.001, 1e-15, "step: x0.01 at 18");
	is_near(lr_at(&s, 22), 1e-4, 1e-16, "step: x0.001 at 22");
	is_near(lr_at(&s, 99), 1e-4, 1e-16, "step: stays after the last");
	s.warmup = 5;
	is_near(lr_at(&s, 0), 0.1 / 5, 1e-15, "warm-up: base/5 at t 0");
	is_near(lr_at(&s, 2), 0.1 * 3 / 5, 1e-15, "warm-up: 3/5 at t 2");
	is_near(lr_at(&s, 4), 0.1, 1e-15, "warm-up: full rate at its last step");
	is_near(lr_at(&s, 5), 0.1, 1e-15, "warm-up: over at t 5");
	s.n_steps = 0;
	is_near(lr_at(&s, 50), 0.1, 1e-15, "no milestones: constant");
}

static void test_cosine(void)
{
	struct lr_schedule s = { .kind = LR_COSINE, .base = 0.2, .total = 100 };
	is_near(lr_at(&s, 0), 0.2, 1e-15, "cosine: base at t 0");
	is_near(lr_at(&s, 50), 0.1, 1e-15, "cosine: half way is base/2");
	is_near(lr_at(&s, 25), 0.2 * (1 + cos(M_PI / 4)) / 2, 1e-15,
		"cosine: (1 + cos(pi/4))/2 at a quarter");
	is_near(lr_at(&s, 100), 0.0, 1e-15, "cosine: 0 at the end");
	is_near(lr_at(&s, 150), 0.0, 1e-15, "cosine: clamped past the end");
	s.warmup = 20;
	is_near(lr_at(&s, 9), 0.2 * 10 / 20, 1e-15, "cosine warm-up: linear");
	is_near(lr_at(&s, 20), 0.2, 1e-15, "cosine: starts after the warm-up");
	is_near(lr_at(&s, 60), 0.1, 1e-15, "cosine: half way through the rest");
}

/* arcface_torch's PolyScheduler: warm-up t / warmup from 0, then
 * (1 - u)^power; values worked out by hand. */
static void test_poly(void)
{
	struct lr_schedule s = { .kind = LR_POLY, .base = 0.1, .total = 1000,
				 .power = 2 };
	is_near(lr_at(&s, 0), 0.1, 1e-15, "poly: base at t 0");
	is_near(lr_at(&s, 250), 0.1 * 0.5625, 1e-15, "poly: (3/4)^2 at a quarter");
	is_near(lr_at(&s, 500), 0.025, 1e-15, "poly: (1/2)^2 half way");
	is_near(lr_at(&s, 999), 1e-7, 1e-18, "poly: (1/1000)^2 at the last step");
	is_near(lr_at(&s, 1000), 0, 1e-18, "poly: 0 at the end");
	is_near(lr_at(&s, 2000), 0, 1e-18, "poly: clamped past the end");
	s.power = 1;
	is_near(lr_at(&s, 250), 0.075, 1e-15, "poly:1 is linear decay");
	s.power = 2;
	s.warmup = 200;
	is_near(lr_at(&s, 0), 0, 1e-18, "poly warm-up: 0 at t 0 (the reference's)");
	is_near(lr_at(&s, 50), 0.025, 1e-15, "poly warm-up: t / warmup");
	is_near(lr_at(&s, 199), 0.1 * 199 / 200, 1e-15, "poly warm-up: last step");
	is_near(lr_at(&s, 200), 0.1, 1e-15, "poly: base right after the warm-up");
	is_near(lr_at(&s, 600), 0.025, 1e-15, "poly: half way through the rest");
	s.n_steps = 1;
	s.steps[0] = 10;
	is_near(lr_at(&s, 600), 0.025, 1e-15, "poly ignores milestones");
}

static void test_schedule_parse(void)
{
	enum lr_kind k = LR_POLY;
	double p = 0;
	char buf[48];
	is_int(optim_schedule_parse(&k, &p, "step"), 0, "parse step");
	ok(k == LR_STEP && p == 2, "step");
	is_int(optim_schedule_parse(&k, &p, "cosine"), 0, "parse cosine");
	ok(k == LR_COSINE, "cosine");
	is_int(optim_schedule_parse(&k, &p, "poly"), 0, "parse poly");
	ok(k == LR_POLY && p == 2, "poly is power 2");
	is_str(optim_schedule_name(buf, sizeof buf, k, p), "poly:2", "its name");
	is_int(optim_schedule_parse(&k, &p, "poly:0.9"), 0, "parse poly:0.9");
	ok(k == LR_POLY && p == 0.9, "power 0.9");
	is_str(optim_schedule_name(buf, sizeof buf, k, p), "poly:0.9",
	       "its name reads back");
	is_str(optim_schedule_name(buf, sizeof buf, LR_COSINE, 2), "cosine",
	       "cosine's name");
	is_int(optim_schedule_parse(&k, &p, "poly:"), -1, "poly: rejected");
	is_int(optim_schedule_parse(&k, &p, "poly:0"), -1, "power 0 rejected");
	is_int(optim_schedule_parse(&k, &p, "poly:-1"), -1, "negative rejected");
	is_int(optim_schedule_parse(&k, &p, "poly:2x"), -1, "junk rejected");
	is_int(optim_schedule_parse(&k, &p, "polynomial"), -1, "polynomial rejected");
	like(hm_errmsg(), "not step, cosine, poly", "message lists the kinds");
	is_int(optim_schedule_parse(&k, &p, "linear"), -1, "unknown rejected");
}

/* clip_grad_norm_ by hand: g (3, 4) has norm 5. */
static void test_clip(void)
{
	float g[2] = { 3, 4 };
	is_near(optim_clip_grad_norm(g, 2, 10), 5, 1e-6, "norm returned");
	ok(g[0] == 3 && g[1] == 4, "under the limit: untouched");
	is_near(optim_clip_grad_norm(g, 2, 1), 5, 1e-6, "norm before clipping");
	is_near(g[0], 0.6, 1e-6, "clipped to norm 1: 3/5");
	is_near(g[1], 0.8, 1e-6, "clipped to norm 1: 4/5");
	is_near(optim_clip_grad_norm(g, 2, 1), 1, 1e-6, "norm 1 afterwards");
	ok(g[0] <= 0.6f && g[1] <= 0.8f, "clipping again keeps it (1e-6 margin)");
	float z[3] = { 0, 0, 0 };
	is_near(optim_clip_grad_norm(z, 3, 5), 0, 0, "zero gradient: norm 0");
	ok(z[0] == 0 && z[1] == 0 && z[2] == 0, "zero gradient stays zero");
	float nan[2] = { NAN, 1 };
	ok(isnan(optim_clip_grad_norm(nan, 2, 5)), "NaN gradient: NaN norm");
}

static void test_parse(void)
{
	long st[OPTIM_MAX_STEPS];
	int n = -1;
	is_int(optim_steps_parse(st, &n, "10,18,22"), 0, "parse 10,18,22");
	ok(n == 3 && st[0] == 10 && st[1] == 18 && st[2] == 22, "three milestones");
	is_int(optim_steps_parse(st, &n, "none"), 0, "parse none");
	is_int(n, 0, "none is no milestone");
	is_int(optim_steps_parse(st, &n, ""), 0, "parse empty");
	is_int(n, 0, "empty is no milestone");
	is_int(optim_steps_parse(st, &n, "10,5"), -1, "decreasing rejected");
	like(hm_errmsg(), "must increase", "message says why");
	is_int(n, 0, "nothing kept on error");
	is_int(optim_steps_parse(st, &n, "10,,12"), -1, "empty element rejected");
	like(hm_errmsg(), "milestone 2", "message names the element");
	is_int(optim_steps_parse(st, &n, "0"), -1, "zero rejected");
	is_int(optim_steps_parse(st, &n, "3,x"), -1, "letters rejected");
	is_int(optim_steps_parse(st, &n, "-3"), -1, "negative rejected");
	is_int(optim_steps_parse(st, &n, "4,"), -1, "trailing comma rejected");
	char many[400] = "1";
	for (int i = 2; i <= OPTIM_MAX_STEPS + 1; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), ",%d", i);
	is_int(optim_steps_parse(st, &n, many), -1, "too many milestones rejected");
}

static void test_sgd(void)
{
	enum { N = 7 };
	float p[N], buf[N] = { 0 }, g[N];
	double pd[N], bd[N] = { 0 }, gd[N];
	for (int i = 0; i < N; i++) {
		p[i] = (float)(0.3 * (i - 3));
		pd[i] = p[i];
	}
	double worst = 0;
	for (int s = 0; s < 3; s++) {
		for (int i = 0; i < N; i++) {
			g[i] = (float)(0.01 * ((i * 7 + s * 3) % 5 - 2));
			gd[i] = g[i];
		}
		optim_sgd_step(p, buf, g, N, 0.1f, 0.9f, 5e-4f);
		optim_sgd_step_ref(pd, bd, gd, N, 0.1f, 0.9f, 5e-4f);
		for (int i = 0; i < N; i++)
			worst = fmax(worst, fabs(p[i] - pd[i]));
	}
	ok(worst < 1e-6, "three float steps agree with the double twin (%.2g)", worst);
	/* By hand: p 1, g 0.5, wd 0.1, lr 0.5, momentum 0.9.
	 * step 1: d = 0.5 + 0.1 = 0.6, buf 0.6, p = 1 - 0.3 = 0.7
	 * step 2: d = 0.5 + 0.07 = 0.57, buf = 0.54 + 0.57 = 1.11,
	 *         p = 0.7 - 0.555 = 0.145 */
	float q = 1, b = 0, h = 0.5f;
	optim_sgd_step(&q, &b, &h, 1, 0.5f, 0.9f, 0.1f);
	is_near(q, 0.7, 1e-6, "by hand: first step (buf = d)");
	optim_sgd_step(&q, &b, &h, 1, 0.5f, 0.9f, 0.1f);
	is_near(b, 1.11, 1e-6, "by hand: momentum after two steps");
	is_near(q, 0.145, 1e-6, "by hand: parameter after two steps");
}

int main(void)
{
	test_step();
	test_cosine();
	test_poly();
	test_schedule_parse();
	test_clip();
	test_parse();
	test_sgd();
	return done_testing();
}
