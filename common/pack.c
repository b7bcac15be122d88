/*
 * pack.c: pack_build, over the input readers of packsrc.c (--list,
 * --verify, --index and --stats are packinfo.c's).
 *
 * pack_build runs three phases per batch: the main thread fetches a batch
 * of inputs in output order (file reads and seeks stay serial), threads
 * decode and encode them (each item is independent, so any thread count
 * gives the same bytes), and the main thread writes them in order while it
 * builds the index.
 */
#include "pack.h"
#include "csvio.h"
#include "err.h"
#include "img.h"
#include "outfile.h"
#include "packsrc.h"
#include "rng.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_PER_THREAD 32
#define BATCH_MAX_ITEMS 1024
#define BATCH_MAX_BYTES (256u << 20)	/* input bytes held per batch */

/* ------------------------------------------------------------------ names */

int pack_encoding_parse(const char *name)
{
	if (!strcmp(name, "keep"))
		return PACK_KEEP;
	if (!strcmp(name, "jpeg"))
		return PACK_JPEG;
	if (!strcmp(name, "raw"))
		return PACK_RAW;
	return -1;
}

/* ------------------------------------------------------------------ items */

static void item_free(struct item *it)
{
	free(it->key);
	free(it->own);
	free(it->values);
	free(it->path);
	free(it->out);
	free(it->err);
	memset(it, 0, sizeof *it);
}

/* Rewrites this thread's message "'name': what" as "'name': where: what". */
static int item_error(const struct item *it)
{
	if (!it->where[0])
		return -1;
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", hm_errmsg());
	size_t k = strlen(it->name) + 4;	/* quotes, colon, space */
	if (strlen(msg) >= k && msg[0] == '\'' && !strncmp(msg + 1, it->name, k - 4) &&
	    !strncmp(msg + k - 3, "': ", 3))
		return hm_error_file(it->name, "%s: %s", it->where, msg + k);
	return hm_error_file(it->name, "%s: %s", it->where, msg);
}

/* BT.601 luma with the rounding img.c (and libjpeg) use. */
static void rgb_to_gray(unsigned char *dst, const unsigned char *src, size_t npix)
{
	for (size_t i = 0; i < npix; i++, src += 3)
		dst[i] = (unsigned char)((19595 * src[0] + 38470 * src[1] + 7471 * src[2] +
					  32768) >> 16);
}

/* Stores IM as the item's result: raw pixels, or JPEG at opt->quality. */
static int store_image(struct jpeg *j, struct item *it, struct image *im, int jpeg,
		       const struct pack_options *opt)
{
	it->ow = im->width;
	it->oh = im->height;
	it->oc = im->channels;
	if (jpeg) {
		if (image_encode_jpeg(j, im, opt->quality, &it->out, &it->n_out))
			return hm_error_file(it->name, "%s", hm_errmsg());
		it->oenc = REC_JPEG;
		image_free(im);
	} else {
		it->out = im->data;
		it->n_out = (size_t)im->width * im->height * im->channels;
		it->oenc = REC_RAW;
		im->data = NULL;
	}
	return 0;
}

static int is_jpeg(const unsigned char *p, size_t n)
{
	return n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff;
}

/* Decides and produces the item's payload (see pack.h).  0 or -1. */
static int process_record(struct jpeg *j, struct item *it, const struct pack_options *opt)
{
	int copy_jpeg = opt->encoding != PACK_RAW && !opt->requality && !opt->gray;
	struct image im = { 0 };
	it->ow = it->w;
	it->oh = it->h;
	it->oc = it->c;
	it->oenc = it->enc;
	if (it->enc == REC_JPEG) {
		/* Decoded even when copied: a broken JPEG fails here, naming
		 * the record, not days later in hm-train. */
		if (image_decode(j, it->data, it->n, opt->gray ? 1 : 0, &im, it->name))
			return -1;
		if (im.width != it->w || im.height != it->h ||
		    (copy_jpeg && im.channels != it->c)) {
			int w = im.width, h = im.height, c = im.channels;
			image_free(&im);
			return hm_error_file(it->name, "JPEG is %dx%dx%d but the record says %dx%dx%d",
					     w, h, c, it->w, it->h, it->c);
		}
		if (copy_jpeg) {
			image_free(&im);
			return 0;
		}
		return store_image(j, it, &im, opt->encoding != PACK_RAW, opt);
	}
	/* Raw pixels. */
	int grey = opt->gray && it->c == 3;
	if (!grey && opt->encoding != PACK_JPEG)
		return 0;
	if (image_alloc(&im, it->w, it->h, grey ? 1 : it->c))
		return -1;
	if (grey)
		rgb_to_gray(im.data, it->data, (size_t)it->w * it->h);
	else
		memcpy(im.data, it->data, it->n);
	return store_image(j, it, &im, opt->encoding == PACK_JPEG, opt);
}

static int process_file(struct jpeg *j, struct item *it, const struct pack_options *opt)
{
	struct image im;
	if (image_decode(j, it->data, it->n, opt->gray ? 1 : 0, &im, it->name))
		return -1;
	int jpeg = is_jpeg(it->data, it->n);
	if (jpeg && opt->encoding != PACK_RAW && !opt->requality && !opt->gray) {
		it->ow = im.width;
		it->oh = im.height;
		it->oc = im.channels;
		it->oenc = REC_JPEG;
		image_free(&im);
		return 0;	/* the original bytes */
	}
	int to_jpeg = opt->encoding == PACK_JPEG || (opt->encoding == PACK_KEEP && jpeg);
	return store_image(j, it, &im, to_jpeg, opt);
}

static void process(struct jpeg *j, struct item *it, const struct pack_options *opt)
{
	if (it->kind == REC_EMBED)
		return;
	int rc = it->from_record ? process_record(j, it, opt) : process_file(j, it, opt);
	if (rc) {
		item_error(it);
		it->err = strdup(hm_errmsg());
		if (!it->err)
			it->err = strdup("out of memory");
	}
}

/* ------------------------------------------------------------------ build */

struct work {
	struct item *items;
	long n;
	atomic_long next;
	const struct pack_options *opt;
};

struct worker {
	struct work *w;
	struct jpeg *j;
	pthread_t t;
};

static void *work_loop(void *arg)
{
	struct worker *wk = arg;
	struct work *w = wk->w;
	for (;;) {
		long i = atomic_fetch_add(&w->next, 1);
		if (i >= w->n)
			break;
		process(wk->j, &w->items[i], w->opt);
	}
	return NULL;
}

static int process_batch(struct worker *wk, int n_workers, struct work *w)
{
	int started = 0;
	for (int t = 1; t < n_workers && w->n > 1; t++) {
		wk[t].w = w;
		if (pthread_create(&wk[t].t, NULL, work_loop, &wk[t]))
			break;	/* fewer threads: same result, only slower */
		started = t;
	}
	wk[0].w = w;
	work_loop(&wk[0]);
	for (int t = 1; t <= started; t++)
		pthread_join(wk[t].t, NULL);
	return 0;
}

static int write_item(FILE *fp, const struct item *it, uint64_t *pos)
{
	size_t key_len = strlen(it->key);
	int rc;
	if (it->kind == REC_EMBED) {
		rc = rec_write_embed(fp, it->key, it->label, it->values, it->dim);
		*pos += REC_HEADER_SIZE + key_len + REC_EMBED_HEAD + 4 * (size_t)it->dim;
		return rc;
	}
	const unsigned char *p = it->out ? it->out : it->data;
	size_t n = it->out ? it->n_out : it->n;
	rc = rec_write_image(fp, it->key, it->label, it->ow, it->oh, it->oc, it->oenc, p, n);
	*pos += REC_HEADER_SIZE + key_len + REC_IMAGE_HEAD + n;
	return rc;
}

static int write_labels(const char *path, char **names, long n)
{
	struct outfile o;
	if (outfile_open(&o, path))
		return -1;
	int bad = fputs("label,name\n", o.fp) < 0;
	for (long i = 0; i < n && !bad; i++)
		bad = fprintf(o.fp, "%ld,", i) < 0 || csvio_put(o.fp, names[i]) ||
		      fputc('\n', o.fp) == EOF;
	if (bad) {
		outfile_abort(&o);
		return hm_error_file(path, "write error: %s", strerror(errno ? errno : EIO));
	}
	return outfile_commit(&o);
}

/* insightface's folds: sklearn KFold(10) over pair positions, no shuffle. */
static long kfold(long i, long n, long k)
{
	long small = n / k, r = n % k, big = small + 1;
	if (i < r * big)
		return i / big;
	return r + (i - r * big) / small;
}

static int write_pairs(const char *path, const struct pybin *pb)
{
	struct outfile o;
	if (outfile_open(&o, path))
		return -1;
	int bad = fputs("a,b,same,fold\n", o.fp) < 0;
	for (long i = 0; i < pb->n_pairs && !bad; i++)
		bad = fprintf(o.fp, "bin/%ld,bin/%ld,%d,%ld\n", 2 * i, 2 * i + 1,
			      pb->issame[i], kfold(i, pb->n_pairs, 10)) < 0;
	if (bad) {
		outfile_abort(&o);
		return hm_error_file(path, "write error: %s", strerror(errno ? errno : EIO));
	}
	return outfile_commit(&o);
}

/* Fills up to MAX items; returns how many, or -1 (with none left to free). */
static long fill_batch(struct source *s, struct item *items, long max, long done,
		       const int *perm)
{
	long k = 0;
	size_t bytes = 0;
	while (k < max && bytes < BATCH_MAX_BYTES) {
		struct item *it = &items[k];
		int got;
		memset(it, 0, sizeof *it);
		if (s->in_order)
			got = source_next(s, it);
		else if (done + k >= s->n)
			got = 0;
		else
			got = source_get(s, perm ? perm[done + k] : done + k, it) ? -1 : 1;
		if (got <= 0) {
			item_free(it);
			if (got == 0)
				break;
			while (k > 0)
				item_free(&items[--k]);
			return -1;
		}
		bytes += it->n;
		k++;
	}
	return k;
}

/* The keys written so far (record streams only: trees and CSV lists are
 * checked whole by check_unique(), RecordIO and .bin keys are numbers).
 * Each string is "key\0where", malloc'd. */
struct keyset {
	struct strtab tab;
};

/* Adds IT's key; -1 with the error recorded if it is there already. */
static int keyset_add(struct keyset *ks, const struct item *it)
{
	size_t nk = strlen(it->key) + 1, nw = strlen(it->where) + 1;
	char *e = malloc(nk + nw);
	if (!e)
		return hm_error("out of memory");
	memcpy(e, it->key, nk);
	memcpy(e + nk, it->where, nw);
	int added;
	long i = strtab_add(&ks->tab, e, &added);
	if (i >= 0 && added)
		return 0;
	free(e);
	if (i < 0)
		return -1;
	const char *first = ks->tab.key[i];
	return hm_error_file(it->name, "%s: key '%s' appears twice (first at %s)", it->where,
			     it->key, first + strlen(first) + 1);
}

static void keyset_free(struct keyset *ks)
{
	for (long i = 0; i < ks->tab.n; i++)
		free((char *)ks->tab.key[i]);
	strtab_free(&ks->tab);
}

int pack_build(const char *input, const char *out, const struct pack_options *opt,
	       struct pack_summary *sum)
{
	struct keyset keys = { 0 };
	struct source s;
	struct outfile o = { 0 };
	struct rec_index ix = { 0 };
	struct worker *wk = NULL;
	struct item *items = NULL;
	int *perm = NULL;
	char *hmi = pack_side_path(out, ".hmi");
	char *side = NULL;
	int side_done = 0, streamed = 0, rc = -1, n_workers = opt->threads > 0 ? opt->threads : 1;
	long cap = 0, done = 0, n_batch = 0;
	uint64_t pos = 0;

	if (!hmi)
		return hm_error("out of memory");
	if (source_open(&s, input, opt->from, opt->shuffle))
		goto out;
	if (opt->shuffle && s.n > 0) {
		if (s.n > INT_MAX) {
			hm_error_file(input, "too many records to shuffle");
			goto out;
		}
		perm = malloc(s.n * sizeof *perm);
		if (!perm) {
			hm_error("out of memory");
			goto out;
		}
		struct rng r;
		for (long i = 0; i < s.n; i++)
			perm[i] = (int)i;
		rng_seed(&r, opt->seed);
		rng_shuffle(&r, perm, (int)s.n);
	}
	n_batch = (long)n_workers * BATCH_PER_THREAD;
	if (n_batch > BATCH_MAX_ITEMS)
		n_batch = BATCH_MAX_ITEMS;
	items = calloc(n_batch, sizeof *items);
	wk = calloc(n_workers, sizeof *wk);
	if (!items || !wk) {
		hm_error("out of memory");
		goto out;
	}
	for (int t = 0; t < n_workers; t++)
		if (!(wk[t].j = jpeg_new()))
			goto out;
	if (opt->progress)
		opt->progress->total = s.n > 0 ? s.n : 0;
	if (outfile_open(&o, out))
		goto out;
	for (;;) {
		long k = fill_batch(&s, items, n_batch, done, perm);
		if (k < 0)
			goto out;
		if (k == 0)
			break;
		struct work w = { .items = items, .n = k, .opt = opt };
		atomic_init(&w.next, 0);
		process_batch(wk, n_workers, &w);
		for (long i = 0; i < k; i++) {
			struct item *it = &items[i];
			int bad = 0;
			if (it->err)
				bad = hm_error("%s", it->err);
			else if (s.type == PACK_STREAM && keyset_add(&keys, it))
				bad = -1;
			else if (rec_index_push(&ix, &cap, pos, it->label))
				bad = -1;
			else if (write_item(o.fp, it, &pos))
				bad = hm_error_file(out, "%s", hm_errmsg());
			if (bad) {
				for (long j = i; j < k; j++)
					item_free(&items[j]);
				goto out;
			}
			item_free(it);
		}
		done += k;
		if (opt->progress)
			progress_update(opt->progress, done);
	}
	/* An empty stream is a valid (empty) stream; an importer's input
	 * without one image is a broken download or the wrong file. */
	if (done == 0 && (s.type == PACK_REC || s.type == PACK_BIN)) {
		hm_error_file(input, "no images in this %s file",
			      s.type == PACK_REC ? "RecordIO" : ".bin");
		goto out;
	}
	if (rec_write_end(o.fp)) {
		hm_error_file(out, "%s", hm_errmsg());
		goto out;
	}
	pos += REC_HEADER_SIZE;
	ix.stream_size = pos;
	if (fflush(o.fp) || ferror(o.fp)) {
		hm_error_file(out, "write error: %s", strerror(errno ? errno : EIO));
		goto out;
	}
	/* Side files, then the index, then the pack itself; none beside a pack
	 * written in place (a device, a FIFO): there is no file to describe. */
	streamed = outfile_in_place(&o);
	if (!streamed && (s.type == PACK_TREE || s.type == PACK_BIN)) {
		side = pack_side_path(out, s.type == PACK_TREE ? ".labels.csv" : ".pairs.csv");
		if (!side) {
			hm_error("out of memory");
			goto out;
		}
		if (s.type == PACK_TREE ? write_labels(side, s.names, s.n_names)
					: write_pairs(side, &s.pb))
			goto out;
		side_done = 1;
	}
	if (!streamed && rec_index_save(&ix, hmi))
		goto out;
	if (outfile_commit(&o)) {
		if (!streamed)
			outfile_remove(hmi);
		goto out;
	}
	if (opt->progress)
		progress_done(opt->progress, done);
	if (sum) {
		sum->from = s.type;
		sum->n_records = done;
		sum->n_labels = s.type == PACK_TREE ? s.n_names : 0;
		sum->n_pairs = s.type == PACK_BIN ? s.pb.n_pairs : 0;
	}
	rc = 0;
out:
	if (rc) {
		if (o.fp)
			outfile_abort(&o);
		if (side_done)
			outfile_remove(side);
	}
	if (wk)
		for (int t = 0; t < n_workers; t++)
			jpeg_free(wk[t].j);
	free(wk);
	free(items);
	free(perm);
	free(hmi);
	free(side);
	keyset_free(&keys);
	rec_index_free(&ix);
	source_close(&s);
	return rc;
}
