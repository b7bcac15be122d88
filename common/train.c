/* train: the training loop, checkpoints and exact resume (see train.h). */
#include "train.h"
#include "csvio.h"
#include "data.h"
#include "dist.h"
#include "embed.h"
#include "err.h"
#include "loss.h"
#include "metrics.h"
#include "model.h"
#include "modelfile.h"
#include "optim.h"
#include "outfile.h"
#include "pack.h"
#include "pairs.h"
#include "progress.h"
#include "rng.h"
#include "scores.h"
#include "util.h"
#include "verify.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Streams of rng_seed2(seed, tag) besides data.h's. */
#define TAG_HEAD 0x48454144ULL		/* "HEAD": head initialisation */
#define TAG_DROPOUT 0x44524f50ULL	/* "DROP": dropout masks */

#define MSG_MAX 1024

/*
 * The run-defining options: one row each, in the order of their
 * "train.NAME" entries in a checkpoint (the order checkpoints were always
 * written in).  The writer (config_to_kv), the reader (config_from_file),
 * the resume checks (check_given) and the tool's bookkeeping of what was
 * given (train_config_given) all walk this table.  A new option: its
 * field in struct train_config, a row here (with the stored value its
 * absence means in older checkpoints), and hm-train's long option of the
 * same name.
 */
enum opt_type {
	OT_ARCH,	/* char[]: as is; read back only if model_arch_check() takes it */
	OT_INT,		/* int: decimal */
	OT_LONG,	/* long: decimal */
	OT_U64,		/* uint64_t: decimal */
	OT_FLOAT,	/* float: 9 significant digits, which read back exactly */
	OT_DOUBLE,	/* double: the fewest digits that read back exactly */
	OT_LOSS,	/* enum loss_kind: loss_kind_name() */
	OT_HM,		/* enum hm_kind and, at off2, its float parameter:
			   "none" or "NAME:G" (G as OT_FLOAT) */
	OT_SCHEDULE,	/* enum lr_kind and, at off2, poly's double power:
			   optim_schedule_name() */
	OT_STEPS,	/* char[]: as is, "none" when empty; read back only if
			   optim_steps_parse() takes it */
};

struct run_option {
	const char *name;	/* the long option; "train.NAME" in checkpoints */
	enum opt_type type;
	size_t off, size;	/* the field in struct train_config */
	size_t off2;		/* OT_HM, OT_SCHEDULE: the second field */
	const char *dflt;	/* the stored value a checkpoint older than the
				   option means (the behaviour it was trained
				   with); NULL: the option is required */
	int may_change;		/* a resume may give another value: the length
				   (longer only) and the step milestones.  The
				   others define what the model is or how its
				   state was reached, and must match. */
};

#define FIELD(f) .off = offsetof(struct train_config, f), \
		 .size = sizeof(((struct train_config *)0)->f)
#define FIELD2(f) .off2 = offsetof(struct train_config, f)

static const struct run_option run_options[] = {
	{ "arch", OT_ARCH, FIELD(arch) },
	{ "emb-size", OT_INT, FIELD(emb_dim) },
	{ "classes", OT_INT, FIELD(classes) },
	{ "loss", OT_LOSS, FIELD(loss.kind) },
	{ "scale", OT_FLOAT, FIELD(loss.s) },
	{ "margin", OT_FLOAT, FIELD(loss.m) },
	{ "easy-margin", OT_INT, FIELD(loss.easy_margin) },
	{ "lambda-base", OT_FLOAT, FIELD(loss.lambda_base) },
	{ "lambda-gamma", OT_FLOAT, FIELD(loss.lambda_gamma) },
	{ "lambda-power", OT_FLOAT, FIELD(loss.lambda_power) },
	{ "lambda-min", OT_FLOAT, FIELD(loss.lambda_min) },
	{ "hm", OT_HM, FIELD(loss.hm), FIELD2(loss.hm_param) },
	{ "batch", OT_INT, FIELD(batch) },
	{ "epochs", OT_LONG, FIELD(epochs), .may_change = 1 },
	{ "iters", OT_LONG, FIELD(iters), .may_change = 1 },
	{ "lr", OT_DOUBLE, FIELD(lr) },
	{ "lr-schedule", OT_SCHEDULE, FIELD(schedule), FIELD2(poly_power) },
	{ "lr-steps", OT_STEPS, FIELD(lr_steps), .may_change = 1 },
	{ "warmup", OT_LONG, FIELD(warmup) },
	{ "momentum", OT_DOUBLE, FIELD(momentum) },
	{ "wd", OT_DOUBLE, FIELD(wd) },
	{ "seed", OT_U64, FIELD(seed) },
	{ "clip-grad", OT_DOUBLE, FIELD(clip_grad), .dflt = "0" },
};

#define N_RUN_OPTIONS ((int)(sizeof run_options / sizeof run_options[0]))

/* Room for the stored text of any option (arch and lr_steps are the
 * longest). */
#define OPT_TEXT_MAX 512

static const struct run_option *run_option(const char *name)
{
	for (int i = 0; name && i < N_RUN_OPTIONS; i++)
		if (!strcmp(run_options[i].name, name))
			return &run_options[i];
	return NULL;
}

int train_config_given(struct train_config *c, const char *name)
{
	const struct run_option *o = run_option(name);
	if (!o)
		return 0;
	for (int i = 0; i < c->n_given; i++)
		if (!strcmp(c->given[i], o->name))
			return 1;
	if (c->n_given < TRAIN_MAX_GIVEN)
		c->given[c->n_given++] = o->name;
	return 1;
}

void train_config_default(struct train_config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->arch, sizeof c->arch, "ir18");
	loss_config_default(&c->loss, LOSS_ARCFACE);
	c->batch = 64;
	c->lr = 0.1;
	c->poly_power = 2;
	c->momentum = 0.9;
	c->wd = 5e-4;
	c->checkpoint_every = 1000;
	c->threads = 1;
}

/* --- signals ------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;
static struct sigaction old_int, old_term;

static void on_stop_signal(int sig)
{
	if (!stop_signal) {
		stop_signal = sig;
		return;
	}
	/* Second signal: the handler from before (outfile's) takes over. */
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	raise(sig);
}

void train_catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
}

/* --- metadata ------------------------------------------------------ */

struct kvs {
	struct mf_kv *kv;
	int n;
	struct mf_tensor *t;
	int n_t;
};

static void kvs_free(struct kvs *k)
{
	for (int i = 0; i < k->n; i++) {
		free(k->kv[i].key);
		free(k->kv[i].value);
	}
	free(k->kv);
	free(k->t);
	memset(k, 0, sizeof *k);
}

static int kv_add(struct kvs *k, const char *key, const char *fmt, ...)
	HM_PRINTF(3, 4);
static int kv_add(struct kvs *k, const char *key, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	struct mf_kv *kv = realloc(k->kv, (size_t)(k->n + 1) * sizeof *kv);
	if (!kv)
		return hm_error("out of memory");
	k->kv = kv;
	kv[k->n].key = strdup(key);
	kv[k->n].value = strdup(buf);
	if (!kv[k->n].key || !kv[k->n].value) {
		free(kv[k->n].key);
		free(kv[k->n].value);
		return hm_error("out of memory");
	}
	k->n++;
	return 0;
}

static int tensor_add(struct kvs *k, const char *name, float *data, int ndim,
		      const int64_t *shape)
{
	struct mf_tensor *t = realloc(k->t, (size_t)(k->n_t + 1) * sizeof *t);
	if (!t)
		return hm_error("out of memory");
	k->t = t;
	memset(&t[k->n_t], 0, sizeof *t);
	snprintf(t[k->n_t].name, sizeof t[k->n_t].name, "%s", name);
	t[k->n_t].ndim = ndim;
	for (int i = 0; i < ndim; i++)
		t[k->n_t].shape[i] = shape[i];
	t[k->n_t].data = data;
	k->n_t++;
	return 0;
}

/* Option O of C as stored: BUF (OPT_TEXT_MAX bytes) gets the canonical
 * text (doubles in the fewest digits that read back exactly, floats in 9). */
static const char *opt_format(char *buf, const struct run_option *o,
			      const struct train_config *c)
{
	const void *p = (const char *)c + o->off, *p2 = (const char *)c + o->off2;
	switch (o->type) {
	case OT_ARCH:
		snprintf(buf, OPT_TEXT_MAX, "%s", (const char *)p);
		break;
	case OT_INT:
		snprintf(buf, OPT_TEXT_MAX, "%d", *(const int *)p);
		break;
	case OT_LONG:
		snprintf(buf, OPT_TEXT_MAX, "%ld", *(const long *)p);
		break;
	case OT_U64:
		snprintf(buf, OPT_TEXT_MAX, "%" PRIu64, *(const uint64_t *)p);
		break;
	case OT_FLOAT:
		snprintf(buf, OPT_TEXT_MAX, "%.9g", *(const float *)p);
		break;
	case OT_DOUBLE:
		scores_fmt_double(buf, *(const double *)p);
		break;
	case OT_LOSS:
		snprintf(buf, OPT_TEXT_MAX, "%s", loss_kind_name(*(const enum loss_kind *)p));
		break;
	case OT_HM:
		if (*(const enum hm_kind *)p == HM_NONE)
			snprintf(buf, OPT_TEXT_MAX, "none");
		else
			snprintf(buf, OPT_TEXT_MAX, "%s:%.9g",
				 loss_hm_name(*(const enum hm_kind *)p), *(const float *)p2);
		break;
	case OT_SCHEDULE:
		optim_schedule_name(buf, OPT_TEXT_MAX, *(const enum lr_kind *)p,
				    *(const double *)p2);
		break;
	case OT_STEPS:
		snprintf(buf, OPT_TEXT_MAX, "%s", *(const char *)p ? (const char *)p : "none");
		break;
	}
	return buf;
}

/* The run-defining options as "train.NAME" = opt_format()'s text. */
static int config_to_kv(struct kvs *k, const struct train_config *c)
{
	for (int i = 0; i < N_RUN_OPTIONS; i++) {
		char key[64], buf[OPT_TEXT_MAX];
		snprintf(key, sizeof key, "train.%s", run_options[i].name);
		if (kv_add(k, key, "%s", opt_format(buf, &run_options[i], c)) < 0)
			return -1;
	}
	return 0;
}

/* Whether S is a whole stored number: finite; with INTEGER, a decimal
 * integer from 0 to UINT64_MAX (the seed's range).  A corrupt checkpoint
 * fails on it by name instead of resuming with atoi()'s guess. */
static int stored_number_ok(const char *s, int integer)
{
	char *end;
	errno = 0;
	if (integer) {
		if (*s < '0' || *s > '9')
			return 0;
		(void)strtoull(s, &end, 10);
	} else {
		double d = strtod(s, &end);
		if (!isfinite(d))
			return 0;
	}
	return end != s && !*end && !errno;
}

/* Whether the stored text of O must be a number: 0 no, 1 an integer,
 * 2 a real. */
static int opt_number(const struct run_option *o)
{
	switch (o->type) {
	case OT_INT: case OT_LONG: case OT_U64:
		return 1;
	case OT_FLOAT: case OT_DOUBLE:
		return 2;
	default:
		return 0;
	}
}

/* Sets option O of C from its stored text V (a number checked already by
 * stored_number_ok).  A parser's error names KEY. */
static int opt_parse(struct train_config *c, const struct run_option *o, const char *v,
		     const char *key, const char *path)
{
	void *p = (char *)c + o->off, *p2 = (char *)c + o->off2;
	int rc = 0;
	switch (o->type) {
	case OT_ARCH:
		rc = model_arch_check(v);
		snprintf(p, o->size, "%s", v);
		break;
	case OT_INT:
		*(int *)p = atoi(v);
		break;
	case OT_LONG:
		*(long *)p = atol(v);
		break;
	case OT_U64:
		*(uint64_t *)p = strtoull(v, NULL, 10);
		break;
	case OT_FLOAT:
		*(float *)p = strtof(v, NULL);
		break;
	case OT_DOUBLE:
		*(double *)p = strtod(v, NULL);
		break;
	case OT_LOSS:
		rc = loss_kind_parse(p, v);
		break;
	case OT_HM:
		rc = loss_hm_parse(p, p2, v);
		break;
	case OT_SCHEDULE:
		rc = optim_schedule_parse(p, p2, v);
		break;
	case OT_STEPS: {
		long steps[OPTIM_MAX_STEPS];
		int n;
		rc = optim_steps_parse(steps, &n, v);
		snprintf(p, o->size, "%s", strcmp(v, "none") ? v : "");
		break;
	}
	}
	if (rc < 0) {
		char msg[MSG_MAX];
		snprintf(msg, sizeof msg, "%s", hm_errmsg());
		return hm_error_file(path, "%s: %s", key, msg);
	}
	return 0;
}

/* Reads the stored options back into C (its other fields untouched): every
 * one present and every number whole first, then each parsed in turn. */
static int config_from_file(struct train_config *c, const struct modelfile *mf,
			    const char *path)
{
	const char *v[N_RUN_OPTIONS];
	char key[N_RUN_OPTIONS][64];
	for (int i = 0; i < N_RUN_OPTIONS; i++) {
		const struct run_option *o = &run_options[i];
		snprintf(key[i], sizeof key[i], "train.%s", o->name);
		v[i] = modelfile_get(mf, key[i]);
		if (!v[i])
			v[i] = o->dflt;
		if (!v[i])
			return hm_error_file(path, "not a checkpoint: no '%s'", key[i]);
		if (opt_number(o) && !stored_number_ok(v[i], opt_number(o) == 1))
			return hm_error_file(path, "%s: bad value '%s' in the checkpoint",
					     key[i], v[i]);
	}
	for (int i = 0; i < N_RUN_OPTIONS; i++)
		if (opt_parse(c, &run_options[i], v[i], key[i], path) < 0)
			return -1;
	if (c->batch < 1 || (c->epochs < 1 && c->iters < 1) || c->clip_grad < 0)
		return hm_error_file(path, "bad training options in the checkpoint");
	if (loss_config_check(&c->loss) < 0) {
		char msg[MSG_MAX];
		snprintf(msg, sizeof msg, "%s", hm_errmsg());
		return hm_error_file(path, "%s", msg);
	}
	return 0;
}

static int was_given(const struct train_config *c, const char *name)
{
	for (int i = 0; i < c->n_given; i++)
		if (!strcmp(c->given[i], name))
			return 1;
	return 0;
}

/* Every run-defining option given on CMD's command line must match the
 * checkpoint's ST, but those a resume may change (checked once the pack's
 * size is known: check_extension) and --classes 0 (the pack's). */
static int check_given(const struct train_config *cmd, const struct train_config *st,
		       const char *path)
{
	for (int i = 0; i < cmd->n_given; i++) {
		const struct run_option *o = run_option(cmd->given[i]);
		if (!o || o->may_change)
			continue;
		if (!strcmp(o->name, "classes") && cmd->classes == 0)
			continue;
		char x[OPT_TEXT_MAX], y[OPT_TEXT_MAX];
		if (strcmp(opt_format(x, o, cmd), opt_format(y, o, st)))
			return hm_error_file(path, "--%s %s differs from the checkpoint's %s",
					     o->name, x, y);
	}
	return 0;
}

/* --- the trainer --------------------------------------------------- */

/* A verification set, opened (train.h). */
struct val_set {
	char name[64];
	char *pack_path, *pairs_path;	/* what is read: a .bin's pack in DIR/val */
	struct pair_list pairs;
	struct data_pack pack;
	int open;
	int have_acc;			/* acc holds this run's latest */
	double acc;
};

struct trainer {
	struct train_config c;
	char *ckpt_path, *model_path, *csv_path;
	char *resume_from;		/* the checkpoint resumed, or NULL */
	char *out_dir_owned;		/* the default output directory on resume */
	struct data_pack pack;
	struct model *m;
	const struct model_shape *shape;
	int C, D, B;
	/* The model's parameters, the backbone's then the head's (add_head),
	 * their gradients and momentum in the same layout: one block each. */
	float *params, *grads, *mom;
	size_t n_params, n_backbone;
	float *W, *b, *dW, *db;		/* the head in them; b, db NULL but softmax */
	float *demb, *ws;
	struct rng drop;
	long per_epoch, total, t;	/* t: steps done */
	/* on resume: the checkpoint's length and milestones, and the note of
	 * an extension (written on the first train.csv row after it) */
	long old_epochs, old_iters;
	char old_lr_steps[256];
	char ext_note[600];
	struct lr_schedule sched;
	long last_ckpt;			/* iteration of the checkpoint on disk, -1 */
	FILE *csv;
	/* --val: the sets, and val.csv's text (rewritten whole each epoch) */
	struct val_set *vs;
	int n_vs;
	char *valcsv_path;
	char *valcsv;
	size_t valcsv_n;
	/* data parallel (dist.h): this rank of SIZE, Bl = B / size images */
	int rank, size, Bl;
	int stop_any;			/* some rank caught a stop signal */
	size_t drop_draws;		/* dropout draws per image */
	struct dist_bn *bn;		/* --sync-bn scratch */
	struct model_bn_sync bn_ops;
	double t_sum;			/* seconds in gradient sums */
	long synced_at;			/* iteration of the last sync_replicas */
};

static int head_has_bias(const struct trainer *T)
{
	return T->c.loss.kind == LOSS_SOFTMAX;
}

/* Metadata of the final model and of checkpoints. */
static int add_head_meta(struct kvs *k, const struct trainer *T)
{
	const struct loss_config *l = &T->c.loss;
	return kv_add(k, "classes", "%d", T->C) ||
	       kv_add(k, "loss", "%s", loss_kind_name(l->kind)) ||
	       kv_add(k, "loss.scale", "%.9g", l->s) ||
	       kv_add(k, "loss.margin", "%.9g", l->m) ||
	       kv_add(k, "loss.easy-margin", "%d", l->easy_margin) ? -1 : 0;
}

/* "momentum/NAME" for every trainable tensor, head included. */
static int add_momentum_tensors(struct kvs *k, struct trainer *T)
{
	int n = model_n_tensors(T->m);
	for (int i = 0; i < n; i++) {
		const struct model_tensor *mt = model_tensor(T->m, i);
		if (!mt->trainable)
			continue;
		char name[MF_MAX_NAME + 1];
		int64_t shape[4];
		for (int d = 0; d < mt->ndim; d++)
			shape[d] = mt->shape[d];
		snprintf(name, sizeof name, "momentum/%s", mt->name);
		if (tensor_add(k, name, T->mom + (mt->data - T->params), mt->ndim, shape) < 0)
			return -1;
	}
	return 0;
}

static int write_model_file(struct trainer *T, const char *path, int checkpoint)
{
	struct kvs k = { 0 };
	int rc = -1;
	if (model_file_entries(T->m, &k.kv, &k.n, &k.t, &k.n_t) < 0)
		goto out;
	if (add_head_meta(&k, T) < 0)
		goto out;
	if (checkpoint) {
		if (add_momentum_tensors(&k, T) < 0)
			goto out;
		const uint64_t *s = T->drop.s;
		if (config_to_kv(&k, &T->c) < 0 ||
		    kv_add(&k, "train.pack", "%s", T->pack.path) ||
		    kv_add(&k, "train.pack-records", "%ld", T->pack.ix.n) ||
		    kv_add(&k, "train.pack-bytes", "%" PRIu64, T->pack.ix.stream_size) ||
		    kv_add(&k, "train.threads", "%d", T->c.threads) ||
		    kv_add(&k, "state.iteration", "%ld", T->t) ||
		    kv_add(&k, "state.epoch", "%ld", T->t / T->per_epoch) ||
		    kv_add(&k, "state.dropout-rng", "%016" PRIx64 "%016" PRIx64
			   "%016" PRIx64 "%016" PRIx64, s[0], s[1], s[2], s[3]))
			goto out;
	} else {
		if (kv_add(&k, "train.iterations", "%ld", T->t) < 0)
			goto out;
	}
	rc = modelfile_write(path, k.kv, k.n, k.t, k.n_t);
out:
	kvs_free(&k);
	return rc;
}

/* 64-bit FNV-1a of the bytes of N floats. */
static uint64_t hash_floats(const float *p, size_t n)
{
	const unsigned char *b = (const unsigned char *)p;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n * sizeof *p; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* Collective, at every checkpoint and at the end (every rank at the same
 * iteration): per-rank batch-norm running statistics (without --sync-bn)
 * become the mean over ranks, so the file holds the statistics of every
 * rank's data; and the ranks must hold the same parameters (their
 * gradient sums agree bit for bit): if not, rank 0's are taken and -v
 * says so. */
static int sync_replicas(struct trainer *T)
{
	if (T->size < 2 || T->synced_at == T->t)
		return 0;
	T->synced_at = T->t;
	size_t nb;
	float *buf = model_buffers(T->m, &nb);
	if (!T->c.sync_bn) {
		if (dist_sum_float(buf, nb) < 0)
			return -1;
		for (size_t i = 0; i < nb; i++)
			buf[i] /= (float)T->size;
	}
	uint64_t h = hash_floats(T->params, T->n_params), h0 = h;
	if (dist_bcast(&h0, sizeof h0, 0) < 0)
		return -1;
	double differ = h != h0;
	if (dist_sum_double(&differ, 1) < 0)
		return -1;
	if (differ > 0) {
		if (T->c.log)
			fprintf(T->c.log, "hm-train: iteration %ld: %g rank(s) drifted "
				"from rank 0's parameters; rank 0's taken\n", T->t, differ);
		if (dist_bcast(T->params, T->n_params * sizeof *T->params, 0) < 0 ||
		    dist_bcast(T->mom, T->n_params * sizeof *T->mom, 0) < 0 ||
		    dist_bcast(buf, nb * sizeof *buf, 0) < 0)
			return -1;
	}
	return 0;
}

/* Rank 0 alone writes; every rank calls it (sync_replicas is collective). */
static int write_checkpoint(struct trainer *T)
{
	if (sync_replicas(T) < 0)
		return -1;
	if (T->rank == 0 && write_model_file(T, T->ckpt_path, 1) < 0)
		return -1;
	T->last_ckpt = T->t;
	return 0;
}

/* "last good checkpoint 'x' (iteration N)" or "no checkpoint was written". */
static void last_good(const struct trainer *T, char *buf, size_t n)
{
	if (T->last_ckpt >= 0)
		snprintf(buf, n, "last good checkpoint '%s' (iteration %ld)",
			 T->ckpt_path, T->last_ckpt);
	else
		snprintf(buf, n, "no checkpoint was written");
}

/* NaN * 0 and inf * 0 are NaN, finite * 0 is +-0: the sum is zero, in
 * any order, exactly when all are finite; so the threads and vector lanes
 * may share it (the serial chain of adds was about 0.4% of a training
 * step's samples). */
static int all_finite(const float *p, size_t n)
{
	float acc = 0;
#ifdef _OPENMP
#pragma omp parallel for simd if (n >= 65536) schedule(static) reduction(+ : acc)
#endif
	for (size_t i = 0; i < n; i++)
		acc += p[i] * 0.0f;
	return acc == 0;
}

static void trainer_free(struct trainer *T)
{
	free(T->ckpt_path);
	free(T->model_path);
	free(T->csv_path);
	free(T->resume_from);
	free(T->out_dir_owned);
	data_pack_close(&T->pack);
	model_free(T->m);
	free(T->mom);
	free(T->demb);
	free(T->ws);
	dist_bn_free(T->bn);
	if (T->csv)
		fclose(T->csv);
	for (int i = 0; i < T->n_vs; i++) {
		struct val_set *v = &T->vs[i];
		pair_list_free(&v->pairs);
		if (v->open)
			data_pack_close(&v->pack);
		free(v->pack_path);
		free(v->pairs_path);
	}
	free(T->vs);
	free(T->valcsv_path);
	free(T->valcsv);
}

/* Every rank starts from rank 0's state (parameters, buffers, momentum,
 * head, dropout RNG): the same seed gives the same bytes anyway, but a
 * checkpoint read on another node, or a different OpenBLAS there, must
 * not make the replicas differ. */
static int bcast_state(struct trainer *T)
{
	size_t nb;
	float *buf = model_buffers(T->m, &nb);
	return dist_bcast(T->params, T->n_params * sizeof *T->params, 0) < 0 ||
	       dist_bcast(T->mom, T->n_params * sizeof *T->mom, 0) < 0 ||
	       dist_bcast(buf, nb * sizeof *buf, 0) < 0 ||
	       dist_bcast(T->drop.s, sizeof T->drop.s, 0) < 0 ? -1 : 0;
}

/* Initial head: margin losses as insightface's partial FC
 * (torch.normal(0, 0.01, (classes, emb))); softmax as torch.nn.Linear's
 * default, U(-1/sqrt(D), 1/sqrt(D)) for weight and bias. */
static void head_init(struct trainer *T)
{
	struct rng r;
	rng_seed2(&r, T->c.seed, TAG_HEAD);
	size_t n = (size_t)T->C * T->D;
	if (head_has_bias(T)) {
		double a = 1.0 / sqrt((double)T->D);
		for (size_t i = 0; i < n; i++)
			T->W[i] = (float)rng_range(&r, -a, a);
		for (int i = 0; i < T->C; i++)
			T->b[i] = (float)rng_range(&r, -a, a);
	} else {
		for (size_t i = 0; i < n; i++)
			T->W[i] = (float)(0.01 * rng_normal(&r));
	}
}

static int parse_hex_rng(struct rng *r, const char *s)
{
	if (!s || strlen(s) != 64)
		return -1;
	for (int i = 0; i < 4; i++) {
		char part[17];
		memcpy(part, s + 16 * i, 16);
		part[16] = 0;
		char *end;
		r->s[i] = strtoull(part, &end, 16);
		if (*end)
			return -1;
	}
	return 0;
}

/* Copies tensor NAME of MF into DST (COUNT floats). */
static int load_tensor(float *dst, size_t count, const struct modelfile *mf,
		       const char *name, const char *path)
{
	const struct mf_tensor *t = modelfile_find(mf, name);
	if (!t)
		return hm_error_file(path, "no tensor '%s'", name);
	if ((size_t)mf_tensor_count(t) != count)
		return hm_error_file(path, "tensor '%s': %lld values, %zu expected",
				     name, (long long)mf_tensor_count(t), count);
	memcpy(dst, t->data, count * sizeof *dst);
	return 0;
}

/* Keeps the header and the rows of train.csv up to iteration T0. */
static int csv_truncate(const char *path, long t0)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return 0;
	char *out = NULL, line[512];
	size_t n_out = 0;
	FILE *mem = open_memstream(&out, &n_out);
	if (!mem) {
		fclose(fp);
		return hm_error("out of memory");
	}
	int first = 1;
	while (fgets(line, sizeof line, fp)) {
		long e, it;
		if (first || (sscanf(line, "%ld,%ld,", &e, &it) == 2 && it <= t0))
			fputs(line, mem);
		first = 0;
	}
	fclose(fp);
	fclose(mem);
	int rc = outfile_write_all(path, out, n_out);
	free(out);
	return rc;
}

static int open_csv(struct trainer *T, int resumed)
{
	struct stat st;
	int exists = stat(T->csv_path, &st) == 0 && st.st_size > 0;
	if (resumed && exists) {
		if (csv_truncate(T->csv_path, T->t) < 0)
			return -1;
		T->csv = fopen(T->csv_path, "a");
	} else {
		T->csv = fopen(T->csv_path, "w");
		if (T->csv && fputs("epoch,iter,loss,acc,lr,img_s,note\n", T->csv) < 0) {
			fclose(T->csv);
			T->csv = NULL;
		}
	}
	if (!T->csv)
		return hm_error_file(T->csv_path, "cannot write: %s", strerror(errno));
	return fflush(T->csv) ? hm_error_file(T->csv_path, "write error") : 0;
}

/* The classifier head joins the model's parameters after the backbone's
 * (model files keep their order): "head/weight" [C, D] with weight decay,
 * softmax's "head/bias" [C] without. */
static int add_head(struct trainer *T)
{
	int shape[2] = { T->C, T->D };
	model_params(T->m, &T->n_backbone);
	int w = model_add_param(T->m, "head/weight", 2, shape, 1), b = -1;
	if (w < 0 || (head_has_bias(T) && (b = model_add_param(T->m, "head/bias", 1,
							       shape, 0)) < 0))
		return hm_error("out of memory (head of %d x %d)", T->C, T->D);
	T->params = model_params(T->m, &T->n_params);
	T->grads = model_grads(T->m, NULL);
	T->W = model_tensor(T->m, w)->data;
	T->dW = model_tensor(T->m, w)->grad;
	if (b >= 0) {
		T->b = model_tensor(T->m, b)->data;
		T->db = model_tensor(T->m, b)->grad;
	}
	return 0;
}

/* Setup shared by fresh and resumed runs, after the model exists. */
static int alloc_state(struct trainer *T)
{
	if (add_head(T) < 0)
		return -1;
	T->mom = calloc(T->n_params, sizeof *T->mom);
	T->demb = calloc((size_t)T->Bl * T->D, sizeof *T->demb);
	T->ws = calloc(loss_shard_workspace_size(T->Bl, T->C, T->size), sizeof *T->ws);
	if (!T->mom || !T->demb || !T->ws)
		return hm_error("out of memory (head of %d x %d)", T->C, T->D);
	return 0;
}

static int setup_schedule(struct trainer *T)
{
	struct lr_schedule *s = &T->sched;
	memset(s, 0, sizeof *s);
	s->kind = T->c.schedule;
	s->power = T->c.poly_power;
	s->base = T->c.lr;
	s->factor = 0.1;
	s->warmup = T->c.warmup;
	s->total = T->total;
	if (optim_steps_parse(s->steps, &s->n_steps, T->c.lr_steps) < 0) {
		char msg[MSG_MAX];
		snprintf(msg, sizeof msg, "%s", hm_errmsg());
		return hm_error("--lr-steps %s", msg);
	}
	if (T->c.epochs > 0)
		for (int i = 0; i < s->n_steps; i++)
			s->steps[i] *= T->per_epoch;
	return 0;
}

/* --- evaluation ---------------------------------------------------- */

/* An evaluation pack's images must have the model's input size. */
static int check_eval_pack(const struct trainer *T, const struct data_pack *p)
{
	if (p->width != T->shape->in_w || p->height != T->shape->in_h)
		return hm_error_file(p->path, "images are %dx%d, the model takes %dx%d",
				     p->width, p->height, T->shape->in_w,
				     T->shape->in_h);
	return 0;
}

/* Embeds every record of V's pack into VF as hm-embed does (--flip sum). */
static int embed_val(struct trainer *T, struct val_set *V, struct verify *vf)
{
	const struct model_shape *sh = T->shape;
	struct data_config dc = { .mode = DATA_EVAL, .batch = T->Bl, .c = sh->in_c,
				  .h = sh->in_h, .w = sh->in_w };
	struct data_loader *L = data_loader_new(&V->pack, &dc);
	if (!L)
		return -1;
	size_t img = (size_t)sh->in_c * sh->in_h * sh->in_w, ed = (size_t)T->Bl * T->D;
	float *fx = malloc((size_t)T->Bl * img * sizeof *fx);
	float *e = malloc(ed * sizeof *e), *out = malloc(ed * sizeof *out);
	int rc = fx && e && out ? 0 : hm_error("out of memory");
	const struct data_batch *b;
	int got = 0;
	while (!rc && (got = data_loader_next(L, &b)) == 1) {
		int k = embed_images(T->m, b->x, fx, e, b->n, EMBED_FLIP_SUM, out);
		if (k < 0)
			rc = -1;
		else if (k < b->n)
			rc = hm_error_file(V->pack.path, "record %ld '%s': the embedding has "
					   "NaN or infinite values", b->record[k], b->keys[k]);
		for (int i = 0; i < b->n && !rc; i++)
			rc = verify_add(vf, b->keys[i], out + (size_t)i * T->D, T->D,
					V->pack.path, b->record[i]);
	}
	if (got < 0)
		rc = -1;
	free(fx);
	free(e);
	free(out);
	data_loader_free(L);
	return rc;
}

/* SCORE [pairs] of set V as hm-embed | hm-verify scores them. */
static int score_val(struct trainer *T, struct val_set *V, double *score)
{
	struct verify vf;
	if (verify_init(&vf, &V->pairs, 0) < 0)
		return -1;
	int rc = embed_val(T, V, &vf);
	if (!rc)
		rc = verify_scores(&vf, &V->pairs, V->pairs_path, V->pack_path, score);
	verify_release(&vf);
	return rc;
}

/* Appends to val.csv's text. */
static int valcsv_add(struct trainer *T, const char *text)
{
	size_t k = strlen(text);
	char *p = realloc(T->valcsv, T->valcsv_n + k + 1);
	if (!p)
		return hm_error("out of memory");
	memcpy(p + T->valcsv_n, text, k + 1);
	T->valcsv = p;
	T->valcsv_n += k;
	return 0;
}

/* Scores set V after epoch EPOCH: a report line and a row of val.csv. */
static int run_val_set(struct trainer *T, struct val_set *V, long epoch)
{
	long n = V->pairs.n;
	double *score = malloc((size_t)n * sizeof *score);
	int *same = malloc((size_t)n * sizeof *same), *fold = malloc((size_t)n * sizeof *fold);
	int rc = score && same && fold ? 0 : hm_error("out of memory");
	if (!rc)
		rc = score_val(T, V, score);
	for (long i = 0; i < n && !rc; i++) {
		same[i] = V->pairs.p[i].same;
		fold[i] = V->pairs.p[i].fold;
	}
	if (!rc) {
		struct metrics_kfold k;
		if (metrics_kfold(&k, score, same, fold, n, METRICS_EXACT, 1e-3) < 0) {
			char msg[MSG_MAX];
			snprintf(msg, sizeof msg, "%s", hm_errmsg());
			rc = hm_error_file(V->pairs_path, "%s", msg);
		} else {
			char folds[32], named[80] = "", auc[32] = "", thr[32], row[256];
			struct metrics_roc roc;
			if (k.cross)
				snprintf(folds, sizeof folds, "%d folds", k.n_folds);
			else
				snprintf(folds, sizeof folds, "no folds");
			if (T->n_vs > 1)
				snprintf(named, sizeof named, " %s", V->name);
			if (metrics_roc(&roc, score, same, n) == 0) {
				snprintf(auc, sizeof auc, "%.6f", metrics_auc(&roc));
				metrics_roc_free(&roc);
			}
			scores_fmt_double(thr, k.threshold_mean);
			fprintf(T->c.report, "epoch %ld: val%s accuracy %.2f%% +- %.2f%% "
				"(%ld pairs, %s)\n", epoch, named, 100 * k.accuracy,
				100 * k.accuracy_std, n, folds);
			if (fflush(T->c.report))
				rc = hm_error("stdout: write error");
			snprintf(row, sizeof row, "%ld,%ld,%s,%.6f,%s,%s\n", epoch, T->t,
				 V->name, k.accuracy, thr, auc);
			if (!rc)
				rc = valcsv_add(T, row);
			V->acc = k.accuracy;
			V->have_acc = 1;
			metrics_kfold_free(&k);
		}
	}
	free(score);
	free(same);
	free(fold);
	return rc;
}

/* Every set after epoch EPOCH, then val.csv rewritten. */
static int run_val(struct trainer *T, long epoch)
{
	for (int i = 0; i < T->n_vs; i++)
		if (run_val_set(T, &T->vs[i], epoch) < 0)
			return -1;
	return outfile_write_all(T->valcsv_path, T->valcsv, T->valcsv_n);
}

/* val.csv's text at the start: the header, and on resume the rows of an
 * earlier val.csv up to iteration T0 (the epochs the checkpoint has). */
static int valcsv_start(struct trainer *T, int resumed, long t0)
{
	static const char header[] = "epoch,iter,set,accuracy,threshold,auc\n";
	if (valcsv_add(T, header) < 0)
		return -1;
	FILE *fp = resumed ? fopen(T->valcsv_path, "rb") : NULL;
	if (!fp)
		return 0;
	char line[512];
	int first = 1, rc = 0;
	while (!rc && fgets(line, sizeof line, fp)) {
		long e, it;
		if (!first && sscanf(line, "%ld,%ld,", &e, &it) == 2 && it <= t0)
			rc = valcsv_add(T, line);
		first = 0;
	}
	fclose(fp);
	return rc;
}

/* The name of set I: its file's last path element without the extension;
 * one taken already gets "-2", "-3"... */
static void val_name(struct trainer *T, int i, const char *path)
{
	char stem[64];
	const char *base = strrchr(path, '/');
	base = base && base[1] ? base + 1 : path;
	snprintf(stem, sizeof stem, "%s", base);
	char *dot = strrchr(stem, '.');
	if (dot && dot != stem)
		*dot = 0;
	for (char *c = stem; *c; c++)	/* val.csv and the progress line */
		if (*c == ',' || *c == ' ' || (unsigned char)*c < 32)
			*c = '_';
	snprintf(T->vs[i].name, sizeof T->vs[i].name, "%s", stem);
	for (int k = 2, taken = 1; taken; k++) {
		taken = 0;
		for (int j = 0; j < i; j++)
			if (!strcmp(T->vs[j].name, T->vs[i].name))
				taken = 1;
		if (taken)
			snprintf(T->vs[i].name, sizeof T->vs[i].name, "%.50s-%d", stem, k);
	}
}

/* Opens the --val sets (rank 0): a .bin is packed into DIR/val first. */
static int setup_val(struct trainer *T, int resumed)
{
	T->vs = calloc((size_t)T->c.n_val, sizeof *T->vs);
	if (!T->vs)
		return hm_error("out of memory");
	T->n_vs = T->c.n_val;
	for (int i = 0; i < T->n_vs; i++) {
		struct val_set *V = &T->vs[i];
		const char *path = T->c.val[i].path, *pairs = T->c.val[i].pairs;
		enum pack_from kind = PACK_STREAM;
		val_name(T, i, path);
		struct stat st;
		if (stat(path, &st) < 0)
			return hm_error_file(path, "cannot open: %s", strerror(errno));
		if (S_ISREG(st.st_mode) && pack_detect(path, &kind) < 0)
			kind = PACK_STREAM;	/* data_pack_open() says what it is */
		if (kind == PACK_BIN) {
			char *dir = path_join(T->c.out_dir, "val"), name[80];
			snprintf(name, sizeof name, "%s.hmr", V->name);
			V->pack_path = dir ? path_join(dir, name) : NULL;
			if (!V->pack_path) {
				free(dir);
				return hm_error("out of memory");
			}
			struct pack_options po = { .from = PACK_BIN, .quality =
						   PACK_DEFAULT_QUALITY, .threads = T->c.threads };
			int bad = make_dirs(dir) < 0 ||
				  pack_build(path, V->pack_path, &po, NULL) < 0;
			free(dir);
			if (bad)
				return -1;
			if (!pairs)
				V->pairs_path = pack_side_path(V->pack_path, ".pairs.csv");
		} else {
			V->pack_path = strdup(path);
			if (!pairs) {
				char *side = pack_side_path(path, ".pairs.csv");
				if (side && access(side, F_OK) < 0) {
					free(side);
					free(V->pack_path);
					V->pack_path = NULL;
					if (pack_check_is_pack(path, PACK_USE_EVAL) < 0)
						return -1;
					return hm_error_file(path, "no pair list for this --val "
							     "set: give --val-pairs FILE after it "
							     "(a .bin needs none, nor a pack with "
							     "its NAME.pairs.csv beside it)");
				}
				V->pairs_path = side;
			}
		}
		if (pairs)
			V->pairs_path = strdup(pairs);
		if (!V->pack_path || !V->pairs_path)
			return hm_error("out of memory");
		if (pairs_load(&V->pairs, V->pairs_path, PAIRS_AUTO) < 0 ||
		    data_pack_open(&V->pack, V->pack_path, 0) < 0)
			return -1;
		V->open = 1;
		if (check_eval_pack(T, &V->pack) < 0)
			return -1;
	}
	T->valcsv_path = path_join(T->c.out_dir, "val.csv");
	if (!T->valcsv_path)
		return hm_error("out of memory");
	return valcsv_start(T, resumed, T->t);
}

static int run_test(struct trainer *T)
{
	struct data_pack tp;
	if (data_pack_open(&tp, T->c.test, 1) < 0)
		return -1;
	const struct model_shape *sh = T->shape;
	struct data_config dc = { .mode = DATA_EVAL, .batch = T->Bl, .c = sh->in_c,
				  .h = sh->in_h, .w = sh->in_w };
	struct data_loader *L = data_loader_new(&tp, &dc);
	int *pred = malloc((size_t)T->Bl * sizeof *pred);
	int rc = L && pred ? 0 : -1;
	if (L && !pred)
		hm_error("out of memory");
	long right = 0, n = 0;
	const struct data_batch *b;
	int got = 0;
	while (!rc && (got = data_loader_next(L, &b)) == 1) {
		for (int i = 0; i < b->n; i++)
			if (b->labels[i] >= T->C) {
				rc = hm_error_file(tp.path, "record %ld '%s': label %d is "
						   "not a class of the model (0..%d)",
						   b->record[i], b->keys[i], b->labels[i],
						   T->C - 1);
				break;
			}
		if (rc)
			break;
		const float *emb = model_forward(T->m, b->x, b->n, 0, NULL);
		if (!emb || loss_predict(pred, T->ws, emb, T->W, T->b, &T->c.loss, b->n,
					 T->D, T->C) < 0) {
			rc = -1;
			break;
		}
		for (int i = 0; i < b->n; i++)
			right += pred[i] == b->labels[i];
		n += b->n;
	}
	if (got < 0)
		rc = -1;
	if (!rc) {
		fprintf(T->c.report, "top-1: %.2f%% (%ld records of '%s')\n",
			100.0 * right / n, n, T->c.test);
		if (fflush(T->c.report))
			rc = hm_error("stdout: write error");
	}
	free(pred);
	data_loader_free(L);
	data_pack_close(&tp);
	return rc;
}

/* --- setup --------------------------------------------------------- */

static int setup_fresh(struct trainer *T)
{
	if (data_pack_open(&T->pack, T->c.pack, 1) < 0)
		return -1;
	const struct data_pack *P = &T->pack;
	if (P->n_identities < 2)
		return hm_error_file(T->c.pack, "%ld records, all of one identity "
				     "(label %d); training a classifier needs 2 or more",
				     P->ix.n, P->n_classes - 1);
	if (T->c.classes && T->c.classes < P->n_classes)
		return hm_error_file(T->c.pack, "labels go up to %d; --classes %d is "
				     "too few", P->n_classes - 1, T->c.classes);
	if (T->c.classes && T->c.classes != P->n_classes) {
		char used[64] = "";
		if (P->n_identities != P->n_classes)
			snprintf(used, sizeof used, ", %d of them used", P->n_identities);
		return hm_error_file(T->c.pack, "labels 0..%d (%d identities%s); "
				     "--classes %d does not match", P->n_classes - 1,
				     P->n_classes, used, T->c.classes);
	}
	if (!T->c.classes)
		T->c.classes = T->pack.n_classes;
	/* A-Softmax scales by |x|: the ir family's embedding batch norm must
	 * not pin it (model.h, MODEL_FEATURES_TRAINABLE). */
	T->m = model_new_flags(T->c.arch, 0, T->pack.height, T->pack.width, T->c.emb_dim,
			       T->c.loss.kind == LOSS_ASOFTMAX ? MODEL_FEATURES_TRAINABLE : 0);
	if (!T->m)
		return -1;
	model_init(T->m, T->c.seed);
	rng_seed2(&T->drop, T->c.seed, TAG_DROPOUT);
	T->t = 0;
	return 0;
}

static int setup_resume(struct trainer *T, struct modelfile *mf)
{
	const char *path = T->resume_from;
	/* The stored run-defining options, this command's others. */
	const struct train_config cmd = T->c;
	if (config_from_file(&T->c, mf, path) < 0 || check_given(&cmd, &T->c, path) < 0)
		return -1;
	/* A new length or milestones given: kept, checked by check_extension(). */
	T->old_epochs = T->c.epochs;
	T->old_iters = T->c.iters;
	snprintf(T->old_lr_steps, sizeof T->old_lr_steps, "%s", T->c.lr_steps);
	if (was_given(&cmd, "iters") || was_given(&cmd, "epochs")) {
		T->c.epochs = cmd.epochs;
		T->c.iters = cmd.iters;
	}
	if (was_given(&cmd, "lr-steps"))
		memcpy(T->c.lr_steps, cmd.lr_steps, sizeof T->c.lr_steps);
	const char *pack = T->c.pack ? T->c.pack : modelfile_get(mf, "train.pack");
	if (!pack)
		return hm_error_file(path, "not a checkpoint: no 'train.pack'");
	if (data_pack_open(&T->pack, pack, 1) < 0)
		return -1;
	const char *nrec = modelfile_get(mf, "train.pack-records");
	const char *nbytes = modelfile_get(mf, "train.pack-bytes");
	if (!nrec || !nbytes || atol(nrec) != T->pack.ix.n ||
	    strtoull(nbytes, NULL, 10) != T->pack.ix.stream_size)
		return hm_error_file(pack, "not the pack this checkpoint was trained on "
				     "(%s records, %s bytes; this one has %ld, %" PRIu64 ")",
				     nrec ? nrec : "?", nbytes ? nbytes : "?",
				     T->pack.ix.n, T->pack.ix.stream_size);
	if (T->c.classes < T->pack.n_classes)
		return hm_error_file(pack, "labels go up to %d; the checkpoint has %d "
				     "classes", T->pack.n_classes - 1, T->c.classes);
	const char *it = modelfile_get(mf, "state.iteration");
	if (!it || parse_hex_rng(&T->drop, modelfile_get(mf, "state.dropout-rng")) < 0)
		return hm_error_file(path, "not a checkpoint: no training state");
	if (!stored_number_ok(it, 1))
		return hm_error_file(path, "state.iteration: bad value '%s' in the checkpoint", it);
	T->t = atol(it);
	T->m = model_from_file(mf, path);
	return T->m ? 0 : -1;
}

/* Whether MT is one of the head's tensors (after the backbone's). */
static int is_head(const struct trainer *T, const struct model_tensor *mt)
{
	return mt->trainable && (size_t)(mt->data - T->params) >= T->n_backbone;
}

/* Loads head and momentum of a resumed run (after alloc_state): the
 * head's tensors with their momentum, then the backbone's momentum (the
 * backbone came with the model). */
static int load_resume_tensors(struct trainer *T, const struct modelfile *mf)
{
	const char *path = T->resume_from;
	int n = model_n_tensors(T->m);
	for (int head = 1; head >= 0; head--)
		for (int i = 0; i < n; i++) {
			const struct model_tensor *mt = model_tensor(T->m, i);
			if (!mt->trainable || is_head(T, mt) != head)
				continue;
			char name[MF_MAX_NAME + 1];
			snprintf(name, sizeof name, "momentum/%s", mt->name);
			if ((head && load_tensor(mt->data, mt->count, mf, mt->name, path) < 0) ||
			    load_tensor(T->mom + (mt->data - T->params), mt->count, mf, name,
					path) < 0)
				return -1;
		}
	return 0;
}

/* "--iters 20" or "--epochs 4" for a length. */
static void length_text(char *buf, size_t n, long epochs, long iters)
{
	if (iters > 0)
		snprintf(buf, n, "--iters %ld", iters);
	else
		snprintf(buf, n, "--epochs %ld", epochs);
}

/* On resume, after T->total: a length other than the checkpoint's must be
 * longer (an extension), milestones counted in the other unit must be given
 * anew; an extension or new milestones are reported on stderr and noted in
 * train.csv.  An unchanged length and schedule change nothing. */
static int check_extension(struct trainer *T)
{
	const char *path = T->resume_from;
	long old_total = T->old_iters > 0 ? T->old_iters : T->old_epochs * T->per_epoch;
	char was[64], now[64];
	length_text(was, sizeof was, T->old_epochs, T->old_iters);
	length_text(now, sizeof now, T->c.epochs, T->c.iters);
	if (T->total < old_total)
		return hm_error_file(path, "%s (%ld iterations) is shorter than the "
				     "checkpoint's %s (%ld): a resume can extend a run, "
				     "not shorten it", now, T->total, was, old_total);
	int unit_changed = (T->old_iters > 0) != (T->c.iters > 0);
	if (unit_changed && T->old_lr_steps[0] && !was_given(&T->c, "lr-steps"))
		return hm_error_file(path, "the checkpoint's --lr-steps %s count %s; with "
				     "%s give --lr-steps again", T->old_lr_steps,
				     T->old_iters > 0 ? "iterations" : "epochs", now);
	int steps_changed = strcmp(T->old_lr_steps, T->c.lr_steps) != 0;
	if (T->total == old_total && !steps_changed)
		return 0;
	char steps[600] = "";
	if (steps_changed)
		snprintf(steps, sizeof steps, "; --lr-steps %s (was %s)",
			 T->c.lr_steps[0] ? T->c.lr_steps : "none",
			 T->old_lr_steps[0] ? T->old_lr_steps : "none");
	if (T->total != old_total)
		snprintf(T->ext_note, sizeof T->ext_note, "extended at iteration %ld from "
			 "%ld to %ld iterations (%s, was %s)%s", T->t, old_total, T->total,
			 now, was, steps);
	else
		snprintf(T->ext_note, sizeof T->ext_note, "new schedule at iteration "
			 "%ld%s", T->t, steps);
	if (T->rank == 0)
		fprintf(stderr, "%s: resuming '%s': %s\n", hm_progname(), path, T->ext_note);
	return 0;
}

static char *resume_path(const char *arg)
{
	struct stat st;
	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
		return path_join(arg, "checkpoint.hmm");
	return strdup(arg);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	size_t n = (size_t)(slash - path);
	char *d = malloc(n + 2);
	if (d) {
		memcpy(d, path, n ? n : 1);
		d[n ? n : 1] = 0;
	}
	return d;
}

/* Whether A and B name the same existing file. */
static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* The output directory (on resume by default the checkpoint's) and its
 * files' paths, and this process's rank. */
static int setup_outputs(struct trainer *T)
{
	if (!T->c.out_dir && T->resume_from) {
		T->out_dir_owned = dir_of(T->resume_from);
		T->c.out_dir = T->out_dir_owned;
	}
	if (!T->c.out_dir)
		return hm_error("no output directory");
	T->rank = dist_rank();
	T->size = dist_size();
	if (T->rank == 0 && make_dirs(T->c.out_dir) < 0)
		return -1;
	T->ckpt_path = path_join(T->c.out_dir, "checkpoint.hmm");
	T->model_path = path_join(T->c.out_dir, "model.hmm");
	T->csv_path = path_join(T->c.out_dir, "train.csv");
	if (!T->ckpt_path || !T->model_path || !T->csv_path)
		return hm_error("out of memory");
	if (T->resume_from && same_file(T->resume_from, T->ckpt_path))
		T->last_ckpt = T->t;	/* the checkpoint we resume is the last good one */
	return 0;
}

/* --sync-bn over several ranks: scratch for the widest batch norm. */
static int setup_sync_bn(struct trainer *T)
{
	int max_c = 1;	/* the widest of the backbone's tensors */
	for (int i = 0; i < model_n_tensors(T->m); i++) {
		const struct model_tensor *mt = model_tensor(T->m, i);
		if (!is_head(T, mt) && mt->shape[0] > max_c)
			max_c = mt->shape[0];
	}
	if (!(T->bn = dist_bn_new(max_c)))
		return -1;
	T->bn_ops.forward = dist_bn_forward;
	T->bn_ops.backward = dist_bn_backward;
	T->bn_ops.ctx = T->bn;
	model_set_bn_sync(T->m, &T->bn_ops);
	return 0;
}

/* The batch over the ranks, then what a step needs: the activation plan,
 * the head (zero), momentum and scratch. */
static int setup_step(struct trainer *T)
{
	T->shape = model_get_shape(T->m);
	T->D = T->shape->emb_dim;
	T->C = T->c.classes;
	T->B = T->c.batch;
	T->Bl = T->B / T->size;
	if (T->B % T->size)
		return hm_error("batch %d does not divide into %d ranks; give a batch (or "
				"resume with a rank count) that does", T->B, T->size);
	if (T->Bl < 2)
		return hm_error("batch %d over %d ranks is %d image per rank; batch norm "
				"needs 2 or more", T->B, T->size, T->Bl);
	if (model_set_batch(T->m, T->Bl) < 0 || alloc_state(T) < 0)
		return -1;
	T->drop_draws = model_dropout_draws(T->m);
	T->c.loss.shard = (struct loss_shard){ T->size, T->rank, dist_sum_float };
	return T->size > 1 && T->c.sync_bn ? setup_sync_bn(T) : 0;
}

/* The model and its training state: fresh, or read from the checkpoint
 * (which is let go once its tensors are loaded). */
static int setup_state(struct trainer *T, int resumed)
{
	if (!resumed) {
		if (setup_fresh(T) < 0 || setup_outputs(T) < 0 || setup_step(T) < 0)
			return -1;
		head_init(T);
		return 0;
	}
	struct modelfile mf;
	T->resume_from = resume_path(T->c.resume);
	if (!T->resume_from)
		return hm_error("out of memory");
	if (modelfile_read(&mf, T->resume_from) < 0)
		return -1;
	int rc = setup_resume(T, &mf) < 0 || setup_outputs(T) < 0 || setup_step(T) < 0 ||
		 load_resume_tensors(T, &mf) < 0 ? -1 : 0;
	modelfile_free(&mf);
	return rc;
}

/* The run's length (on resume: the checkpoint's, or an extension of it)
 * and the learning-rate schedule over it. */
static int setup_length(struct trainer *T, int resumed)
{
	T->per_epoch = data_batches_per_epoch(&T->pack, T->B);
	if (T->per_epoch < 1)
		return hm_error_file(T->pack.path, "%ld records, fewer than one batch of %d",
				     T->pack.ix.n, T->B);
	T->total = T->c.iters > 0 ? T->c.iters : T->c.epochs * T->per_epoch;
	if (resumed && check_extension(T) < 0)
		return -1;
	if (resumed && T->t > T->total)
		return hm_error_file(T->resume_from, "state.iteration %ld is past the "
				     "run's %ld iterations", T->t, T->total);
	return setup_schedule(T);
}

/* The --test pack, checked now rather than after the whole run. */
static int check_test_pack(const struct trainer *T)
{
	struct data_pack tp;
	if (data_pack_open(&tp, T->c.test, 1) < 0)
		return -1;
	int bad = check_eval_pack(T, &tp);
	if (!bad && tp.n_classes > T->C)
		bad = hm_error_file(tp.path, "labels go up to %d; the model has %d classes "
				    "(0..%d)", tp.n_classes - 1, T->C, T->C - 1);
	data_pack_close(&tp);
	return bad ? -1 : 0;
}

/* Everything before the first step; rank 0 opens the --val sets and
 * train.csv. */
static int train_setup(struct trainer *T)
{
	int resumed = T->c.resume != NULL;
	if (setup_state(T, resumed) < 0 || (T->size > 1 && bcast_state(T) < 0) ||
	    setup_length(T, resumed) < 0)
		return -1;
	if (T->rank > 0)
		return 0;
	if ((T->c.n_val && setup_val(T, resumed) < 0) ||
	    (T->c.test && check_test_pack(T) < 0) || open_csv(T, resumed) < 0)
		return -1;
	if (resumed) {	/* what a killed run left */
		outfile_remove_stale(T->ckpt_path);
		outfile_remove_stale(T->model_path);
	}
	return 0;
}

/* --- the loop ------------------------------------------------------ */

static void draw_progress(struct trainer *T, double loss, double acc, double lr,
			  double rate, int final)
{
	long left = T->total - T->t;
	double eta = rate > 0 ? left * T->B / rate : 0;
	char val[512] = "";
	size_t k = 0;
	for (int i = 0; i < T->n_vs && k < sizeof val - 1; i++)	/* the last epoch's */
		if (T->vs[i].have_acc)
			k += (size_t)snprintf(val + k, sizeof val - k, " %s %.1f%%",
					      T->vs[i].name, 100 * T->vs[i].acc);
	if (k >= sizeof val)
		k = sizeof val - 1;
	fprintf(stderr, "\rhm-train: epoch %ld/%ld iter %ld/%ld loss %.4f acc %.1f%% "
		"lr %.3g %.1f img/s ETA %d:%02d%s%s\033[K%s",
		T->t ? (T->t - 1) / T->per_epoch + 1 : 1,
		(T->total + T->per_epoch - 1) / T->per_epoch, T->t, T->total, loss,
		100 * acc, lr, rate, (int)(eta / 60), (int)fmod(eta, 60),
		k ? " val" : "", val, final ? "\n" : "");
}

/* Draws and drops N numbers of R (rng_uniform() takes one rng_u64()). */
static void rng_skip(struct rng *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rng_u64(r);
}

/* Each rank's gradients are of the mean loss over its B/N images; the
 * sum over ranks divided by N is the gradient of the mean over all B. */
static int sum_gradients(struct trainer *T)
{
	double t0 = now_seconds();
	if (dist_sum_float(T->grads, T->n_params) < 0)
		return -1;
	const float n = (float)T->size;
	for (size_t i = 0; i < T->n_params; i++)
		T->grads[i] /= n;
	T->t_sum += now_seconds() - t0;
	return 0;
}

static int step(struct trainer *T, const struct data_batch *b, struct loss_out *lo,
		double *lr_used)
{
	const struct train_config *c = &T->c;
	model_zero_grad(T->m);
	memset(T->demb, 0, (size_t)T->Bl * T->D * sizeof *T->demb);
	const float *emb;
	if (T->size > 1 && T->drop_draws) {
		/* The masks one process would draw for this rank's images. */
		struct rng r = T->drop;
		rng_skip(&r, (size_t)T->rank * T->Bl * T->drop_draws);
		emb = model_forward(T->m, b->x, b->n, 1, &r);
		rng_skip(&T->drop, (size_t)T->B * T->drop_draws);
	} else {
		emb = model_forward(T->m, b->x, b->n, 1, &T->drop);
	}
	if (!emb)
		return -1;
	if (loss_forward_backward(lo, T->demb, T->dW, T->db, T->ws, emb, b->labels, T->W,
				  T->b, &c->loss, T->t, b->n, T->D, T->C) < 0)
		return -1;
	if (T->size > 1) {
		/* The batch's loss (the mean of the ranks' equal slices), its
		 * right answers, and whether any rank was asked to stop: every
		 * rank takes the same decisions below and in the loop. */
		double st[3] = { lo->loss, lo->n_correct, stop_signal ? 1 : 0 };
		if (dist_sum_double(st, 3) < 0)
			return -1;
		lo->loss = (float)(st[0] / T->size);
		lo->n_correct = (int)st[1];
		T->stop_any = st[2] > 0;
	}
	char good[MSG_MAX];
	if (!isfinite(lo->loss)) {
		last_good(T, good, sizeof good);
		return hm_error("iteration %ld: loss is %s; %s", T->t + 1,
				isnan(lo->loss) ? "NaN" : "infinite", good);
	}
	model_backward(T->m, T->demb, NULL);
	if (T->size > 1 && sum_gradients(T) < 0)
		return -1;
	/* The backbone's gradient alone, as arcface_torch clips (hm-train(1));
	 * every rank holds the same summed gradient: the same norm. */
	if (c->clip_grad > 0)
		optim_clip_grad_norm(T->grads, T->n_backbone, c->clip_grad);
	double lr = lr_at(&T->sched, T->t);
	float flr = (float)lr, fm = (float)c->momentum, fwd = (float)c->wd;
	int n = model_n_tensors(T->m);
	for (int i = 0; i < n; i++) {
		const struct model_tensor *mt = model_tensor(T->m, i);
		if (!mt->trainable)
			continue;
		optim_sgd_step(mt->data, T->mom + (mt->data - T->params), mt->grad,
			       mt->count, flr, fm, mt->decay ? fwd : 0.0f);
	}
	T->t++;
	if (!all_finite(T->params, T->n_params)) {
		last_good(T, good, sizeof good);
		return hm_error("iteration %ld: parameters are no longer finite "
				"(NaN or infinite); %s", T->t, good);
	}
	/* Batch norm's running statistics too: they diverge on their own
	 * (a huge rate), and a checkpoint holding them could not be written. */
	for (int i = 0; i < n; i++) {
		const struct model_tensor *mt = model_tensor(T->m, i);
		if (!mt->trainable && !all_finite(mt->data, mt->count)) {
			last_good(T, good, sizeof good);
			return hm_error("iteration %ld: '%s' is no longer finite (NaN or "
					"infinite); %s", T->t, mt->name, good);
		}
	}
	*lr_used = lr;
	return 0;
}

/* What the loop measures, for the progress line and the report. */
struct loop_stats {
	double t_start;			/* when the first step began */
	long t_first;			/* the iteration it began at */
	double ep_loss, ep_acc;		/* sums over this epoch's steps */
	long ep_n;
	double loss, acc, lr, rate;	/* the last step's; img/s since t_start */
};

/* -v: the model and the run, before the first step. */
static void log_run(const struct trainer *T)
{
	if (!T->c.log)
		return;
	fprintf(T->c.log, "hm-train: %s, %dx%dx%d -> %d, %d classes, %.3g MMAC/image, "
		"%zu parameters; %ld records, %ld iterations/epoch, %ld in all%s\n",
		T->shape->arch, T->shape->in_c, T->shape->in_h, T->shape->in_w, T->D,
		T->C, model_macs(T->m) / 1e6, T->n_backbone, T->pack.ix.n,
		T->per_epoch, T->total, T->resume_from ? " (resumed)" : "");
	if (T->size > 1)
		fprintf(T->c.log, "hm-train: %d ranks, %d images each per step; batch norm "
			"%s; dropout %s\n", T->size, T->Bl,
			T->c.sync_bn ? "synchronised (--sync-bn)" : "per rank",
			T->drop_draws ? "masks drawn as one process" : "off");
}

/* The row of train.csv for the step just done (rank 0). */
static int csv_row(struct trainer *T, double loss, double acc, double lr, double img_s)
{
	if (T->csv && (fprintf(T->csv, "%ld,%ld,%.6g,%.6g,%.6g,%.1f,",
			       (T->t - 1) / T->per_epoch + 1, T->t, loss, acc, lr, img_s) < 0 ||
		       csvio_put(T->csv, T->ext_note) || fputc('\n', T->csv) == EOF ||
		       fflush(T->csv)))
		return hm_error_file(T->csv_path, "write error: %s", strerror(errno));
	return 0;
}

/* Counts the step just done, ended at NOW, into S. */
static void count_step(const struct trainer *T, struct loop_stats *s, double loss,
		       double acc, double lr, double now)
{
	if (T->t % T->per_epoch == 1 || T->per_epoch == 1) {
		s->ep_loss = s->ep_acc = 0;
		s->ep_n = 0;
	}
	s->ep_loss += loss;
	s->ep_acc += acc;
	s->ep_n++;
	s->loss = loss;
	s->acc = acc;
	s->lr = lr;
	s->rate = (double)(T->t - s->t_first) * T->B / fmax(now - s->t_start, 1e-9);
}

/* Steps up to iteration END, or until a stop signal (*HOW then says so),
 * each followed by its row, the progress line, --val after an epoch and
 * the periodic checkpoint. */
static int run_steps(struct trainer *T, struct data_loader *L, long end,
		     struct loop_stats *s, enum train_end *how)
{
	double t_draw = 0;
	s->t_start = now_seconds();
	s->t_first = T->t;
	while (T->t < end) {
		if (T->size > 1 ? T->stop_any : stop_signal) {
			*how = TRAIN_INTERRUPTED;
			return 0;
		}
		const struct data_batch *b;
		double t0 = now_seconds();
		int got = data_loader_next(L, &b);
		if (got <= 0)
			return got == 0 ? hm_error("internal: the loader ended early") : -1;
		struct loss_out lo = { 0 };
		double lr = 0;
		if (T->t > s->t_first)
			T->ext_note[0] = '\0';	/* on the first row after it only */
		if (step(T, b, &lo, &lr) < 0)
			return -1;
		double now = now_seconds(), acc = (double)lo.n_correct / T->B;
		if (csv_row(T, lo.loss, acc, lr, T->B / fmax(now - t0, 1e-9)) < 0)
			return -1;
		count_step(T, s, lo.loss, acc, lr, now);
		if (T->c.progress && now - t_draw >= 0.2 && T->t < end) {
			draw_progress(T, s->loss, s->acc, s->lr, s->rate, 0);
			t_draw = now;
		}
		if (T->t % T->per_epoch == 0 && T->n_vs) {
			if (T->c.progress)
				fputc('\n', stderr);
			if (run_val(T, T->t / T->per_epoch) < 0)
				return -1;
		}
		if (T->c.checkpoint_every > 0 && T->t % T->c.checkpoint_every == 0 &&
		    T->t < end && write_checkpoint(T) < 0)
			return -1;
	}
	return 0;
}

/* The loop, over this rank's shard of the batches up to --stop-after. */
static int train_loop(struct trainer *T, struct loop_stats *s, enum train_end *how)
{
	long end = T->total;
	if (T->c.stop_after > 0 && T->c.stop_after < end)
		end = T->c.stop_after;
	struct data_config dc = { .mode = DATA_TRAIN, .batch = T->Bl,
				  .c = T->shape->in_c, .h = T->shape->in_h,
				  .w = T->shape->in_w, .seed = T->c.seed, .flip = 1,
				  .start = T->t, .end = end, .shard = T->rank,
				  .n_shards = T->size };
	struct data_loader *L = data_loader_new(&T->pack, &dc);
	if (!L)
		return -1;
	log_run(T);
	int rc = run_steps(T, L, end, s, how);
	if (!rc && T->c.progress && T->t > s->t_first)
		draw_progress(T, s->loss, s->acc, s->lr, s->rate, 1);
	data_loader_free(L);
	return rc;
}

/* After the loop: the checkpoint (unless just written); then, for a run
 * that reached its end, the model, --test and the report line.  How it
 * ended, or -1. */
static int train_finish(struct trainer *T, const struct loop_stats *s,
			enum train_end how, int *signo)
{
	if (how == TRAIN_DONE && T->t < T->total)
		how = TRAIN_STOPPED;
	if (T->last_ckpt != T->t && write_checkpoint(T) < 0)
		return -1;
	if (T->c.log && T->size > 1 && T->t > s->t_first)
		fprintf(T->c.log, "hm-train: gradient sums %.3f s per step, %.1f%% of the "
			"run\n", T->t_sum / (T->t - s->t_first),
			100 * T->t_sum / fmax(now_seconds() - s->t_start, 1e-9));
	if (how == TRAIN_INTERRUPTED && signo)	/* another rank may have caught it: SIGTERM then */
		*signo = stop_signal ? stop_signal : SIGTERM;
	if (how != TRAIN_DONE)
		return how;
	if (sync_replicas(T) < 0 ||
	    (T->rank == 0 && write_model_file(T, T->model_path, 0) < 0))
		return -1;
	if (T->rank > 0)
		return TRAIN_DONE;
	if (T->c.test && run_test(T) < 0)
		return -1;
	fprintf(T->c.report, "trained %ld iterations (%.4g epochs): loss %.4g, "
		"accuracy %.2f%%, %.1f img/s; model '%s'\n", T->t,
		(double)T->t / T->per_epoch, s->ep_n ? s->ep_loss / s->ep_n : 0.0,
		s->ep_n ? 100 * s->ep_acc / s->ep_n : 0.0, s->rate, T->model_path);
	if (fflush(T->c.report) || ferror(T->c.report))
		return hm_error("stdout: write error");
	return TRAIN_DONE;
}

int train_run(const struct train_config *cfg, int *signo, long *iter_out)
{
	struct trainer T;
	struct loop_stats s = { 0 };
	enum train_end how = TRAIN_DONE;
	memset(&T, 0, sizeof T);
	T.c = *cfg;
	T.last_ckpt = -1;
	T.synced_at = -1;
	if (signo)
		*signo = 0;
	int rc = train_setup(&T) < 0 || train_loop(&T, &s, &how) < 0 ? -1 :
		 train_finish(&T, &s, how, signo);
	if (iter_out)
		*iter_out = T.t;
	trainer_free(&T);
	return rc;
}
