/*
 * train: hm-train's training loop: a backbone (model.h) and a margin-loss
 * head (loss.h) trained with SGD (optim.h) on batches from a pack
 * (data.h), with checkpoints, exact resume, a CSV log, per-epoch
 * verification and a closed-set test.  hm-train(1) is the user's view.
 *
 * One step (iteration t, 0-based, = global batch t of data.h):
 *	zero the gradients
 *	emb = model_forward(batch, train mode, dropout RNG)
 *	loss, demb, dW, db = loss_forward_backward(emb, labels, W, b, iter t)
 *	stop if the loss is NaN or infinite (nothing updated)
 *	model_backward(demb)
 *	with clip_grad: the backbone's gradient (every trainable tensor,
 *	  not the head) scaled to global L2 norm <= clip_grad
 *	  (optim_clip_grad_norm, as arcface_torch's clip_grad_norm_ of
 *	  backbone.parameters(); under MPI after the gradient sum)
 *	lr = lr_at(schedule, t); SGD on every trainable backbone tensor
 *	(weight decay where model_tensor.decay), the head weight (decayed)
 *	and the softmax bias (not decayed)
 *	stop if a parameter became NaN or infinite
 * Checkpoints are written after step t when t is a multiple of
 * checkpoint_every, at the end, on a stop signal and at stop_after.
 *
 * Files in the output directory:
 *   checkpoint.hmm  the latest checkpoint, written atomically (outfile.h):
 *                   the backbone (model_file_entries: parameters and batch
 *                   norm buffers), "head/weight" [C, D], "head/bias" [C]
 *                   (softmax), "momentum/<name>" for every trainable
 *                   tensor and the head, and metadata: every option that
 *                   defines the run ("train.*"), the pack's size, the
 *                   iteration, the epoch and the dropout RNG state.
 *   model.hmm       at the end: the backbone, the head and the loss
 *                   metadata (no optimiser state).
 *   train.csv       one row per iteration: epoch,iter,loss,acc,lr,img_s,note
 *                   (epoch 1-based, iter = steps done, acc = the batch's
 *                   fraction right, note empty but on the first row after
 *                   a resume that extended the run); on resume, rows after
 *                   the checkpoint are dropped and new rows appended.
 * A run that stops on NaN never writes a checkpoint after the bad step:
 * the last checkpoint on disk is the last good state.
 *
 * Exact resume: a run resumed from a checkpoint computes the same bytes
 * as a run that was never stopped (same threads: OpenBLAS's sums may
 * depend on its thread count).  The order and flips of every batch are a
 * function of (seed, epoch, batch) (data.h), the schedule of t alone,
 * parameters, buffers, momentum and the dropout RNG are all in the
 * checkpoint, and the checkpoint stores exactly the float32 state.
 *
 * Options on resume: the run-defining options are the checkpoint's.  A
 * run-defining option also given on the command line (listed in
 * train_config.given) must equal the stored value, else the resume fails
 * naming it; the others (output, threads, progress, checkpoint period,
 * stop point, --val, --test) come from the command line.  Exceptions, to
 * extend a run: a longer length (iters or epochs) and new lr_steps may be
 * given; they apply from the checkpoint's iteration on, are stored in the
 * checkpoints written after it, and are reported on stderr and in the
 * train.csv note.  A shorter length is refused.
 *
 * Verification sets (val[], --val): each is named after its file (its
 * last path element without the extension: "lfw" for lfw.bin; a name
 * taken already gets "-2", "-3"...).  After each epoch every set is
 * scored; the accuracies go on the progress line, in the report and in
 *   val.csv         epoch,iter,set,accuracy,threshold,auc: one row per set
 *                   per epoch (accuracy and threshold as the report's,
 *                   the threshold the mean of the folds' cosine
 *                   thresholds; auc of the ROC of all pairs, empty when
 *                   the pairs are all same or all different), rewritten
 *                   whole and atomically after each epoch; on resume the
 *                   rows after the checkpoint are dropped.
 *
 * Output: progress on stderr (when enabled), report lines on cfg->report:
 *   epoch 3: val accuracy 97.50% +- 1.20% (600 pairs, 10 folds)
 *     (with several sets, one line each: "epoch 3: val lfw accuracy ...")
 *     (metrics_kfold, METRICS_EXACT, on the cosine scores of e + e_flip,
 *     the sum of the embeddings of an image and its mirror image: the
 *     code of hm-embed's default --flip sum (embed_images()) and of
 *     hm-verify (verify_add(), verify_scores()), on the training model's
 *     unfolded eval forward at batch B/N, where hm-embed folds batch norm;
 *     "no folds" for a pair list without folds: the threshold is then
 *     chosen and scored on all pairs)
 *   top-1: 91.23% (500 records of 'test.hmr')
 *   trained 600 iterations (10 epochs): loss 0.0123, accuracy 99.81%,
 *     123.4 img/s; model 'out/model.hmm'            (one line)
 * The loss and accuracy of the final line are the means over the last
 * epoch's iterations run by this process.
 *
 * Data parallel (dist.h; hm-train(1) "MPI"): under an MPI launcher with
 * N ranks, every rank runs train_run() with the same configuration and
 * holds a full replica.  The global batch B (train.batch, stored in
 * checkpoints) is split into N consecutive slices of B/N (N must divide
 * B, B/N >= 2): rank r trains on slice r of global batch t (data.h
 * sharding, the same images and flips as one process), dropout masks are
 * drawn as one process would draw them, the per-sample losses are
 * averaged over the global batch (each rank's gradients of its slice's
 * mean are summed over ranks, dist_sum_float in buckets, and divided by
 * N), and so are the loss and accuracy logged.  Batch norm: per-rank
 * statistics by default (as PyTorch's DistributedDataParallel), over every
 * rank with sync_bn; the running statistics are averaged over ranks at
 * each checkpoint and at the end.  With sync_bn, N ranks of B/N compute
 * what one process of B computes, up to float rounding (sums in another
 * order).  Hard mining is batch-wide too: --hm ohem keeps the hardest
 * ceil(r B) samples of the whole batch (every rank's per-sample losses are
 * summed into one [B] vector each step), and powern and focaln normalise
 * with sums over every rank (loss.h, struct loss_shard).  Rank 0 alone
 * writes the checkpoint, the model, the CSV and the report and runs --val
 * and --test; a stop signal caught by any rank stops every rank after the
 * same step.  A resumed run may use any rank count that divides B.
 *
 * Ownership and errors: the caller owns the config and its strings;
 * train_run() allocates and frees everything it uses.  Errors return -1
 * with the message recorded (tools print it).
 */
#ifndef HM_TRAIN_H
#define HM_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "loss.h"
#include "optim.h"

#define TRAIN_MAX_GIVEN 64
#define TRAIN_MAX_VAL 16

/* A verification set (--val): a pack with its pair list, or an insightface
 * .bin (hm-train packs it into DIR/val/NAME.hmr with NAME.pairs.csv, its
 * 10 folds, and uses those).  PAIRS NULL: the pack's NAME.pairs.csv beside
 * it (hm-pack writes one for a .bin), else an error. */
struct train_val {
	const char *path;
	const char *pairs;
};

struct train_config {
	const char *pack;	/* training pack (.hmr); NULL on resume = stored */
	const char *out_dir;	/* NULL on resume = the checkpoint's directory */
	const char *resume;	/* checkpoint file or directory, or NULL */
	/* run-defining (stored in checkpoints) */
	char arch[128];
	int emb_dim;		/* 0: the architecture's */
	int classes;		/* 0: max label + 1 */
	struct loss_config loss;
	int batch;
	long epochs, iters;	/* one of them > 0 */
	double lr;
	enum lr_kind schedule;	/* LR_STEP uses lr_steps */
	double poly_power;	/* LR_POLY's exponent (2) */
	char lr_steps[256];	/* "10,18,22": epochs with --epochs, else iterations */
	long warmup;		/* iterations */
	double momentum, wd;
	double clip_grad;	/* max global L2 norm of the backbone's gradient;
				   0: no clipping */
	uint64_t seed;
	/* per invocation */
	int threads;		/* for the record; the tool sets the pools */
	int sync_bn;		/* MPI: batch-norm statistics over all ranks */
	long checkpoint_every;	/* iterations; 0 = only end/signal/stop */
	long stop_after;	/* stop after this many iterations; 0 never */
	struct train_val val[TRAIN_MAX_VAL];	/* verification each epoch */
	int n_val;
	const char *test;	/* closed-set top-1 at the end */
	int progress;		/* draw the progress line on stderr */
	FILE *report;		/* report lines (stdout) */
	FILE *log;		/* -v notes (stderr) or NULL */
	/* run-defining options given on the command line ("lr", ...):
	 * train_config_given() */
	int n_given;
	const char *given[TRAIN_MAX_GIVEN];
};

/* Defaults: arch "ir18", arcface, batch 64, lr 0.1, momentum 0.9,
 * wd 5e-4, no epochs or iterations (the caller must set one),
 * checkpoint every 1000 iterations. */
void train_config_default(struct train_config *c);

/* How train_run() ended (when it does not fail). */
enum train_end { TRAIN_DONE, TRAIN_STOPPED, TRAIN_INTERRUPTED };

/*
 * Trains as configured.  Returns the way it ended (TRAIN_INTERRUPTED
 * when a signal caught by train_catch_signals() arrived: *SIGNO gets it;
 * the checkpoint was written), or -1 with the message recorded.
 * *ITER (if not NULL) gets the iterations done.
 */
int train_run(const struct train_config *c, int *signo, long *iter);

/*
 * Catches SIGINT and SIGTERM: the first one asks train_run() to stop after
 * the current step (and write a checkpoint); a second one is handled by
 * whatever handler was installed before (outfile's: temp files removed,
 * then the default action).  Call after outfile_cleanup_on_signals().
 */
void train_catch_signals(void);

/* Records NAME (a long option: "lr") in C->given when it is a run-defining
 * option, once.  Returns whether it is one. */
int train_config_given(struct train_config *c, const char *name);

#endif
