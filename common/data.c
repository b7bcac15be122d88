/* data: the training loader (pack, order, background decoding, batches). */
#include "data.h"
#include "err.h"
#include "img.h"
#include "packkind.h"
#include "rng.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MSG_MAX 1024

/* Reads record I's key into KEY (for messages about labels). */
static void record_key(const struct data_pack *p, long i, char *key, size_t n)
{
	FILE *fp = fopen(p->path, "rb");
	struct record rec = { 0 };
	struct rec_reader r;
	snprintf(key, n, "?");
	if (!fp)
		return;
	rec_reader_init(&r, fp, p->path);
	if (rec_read_at(&r, p->ix.offset[i], &rec) == 0)
		snprintf(key, n, "%s", rec.key);
	record_release(&rec);
	fclose(fp);
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

void data_pack_close(struct data_pack *p)
{
	free(p->path);
	free(p->index_path);
	rec_index_free(&p->ix);
	memset(p, 0, sizeof *p);
}

int data_pack_open(struct data_pack *p, const char *path, int need_labels)
{
	struct stat st;
	memset(p, 0, sizeof *p);
	if (stat(path, &st) < 0)
		return hm_error_file(path, "cannot open: %s", strerror(errno));
	/* A RecordIO file, a .bin, a directory or a landmark list: say what
	 * it is and how to make a pack of it, not "run hm-pack --index". */
	if (pack_check_is_pack(path, need_labels ? PACK_USE_TRAIN : PACK_USE_EVAL))
		return -1;
	p->path = strdup(path);
	p->index_path = pack_side_path(path, ".hmi");
	if (!p->path || !p->index_path) {
		hm_error("out of memory");
		goto fail;
	}
	if (access(p->index_path, F_OK) < 0) {
		hm_error_file(p->index_path, "no index for '%s'; run hm-pack --index %s",
			      path, path);
		goto fail;
	}
	if (rec_index_load(&p->ix, p->index_path) < 0) {
		char msg[MSG_MAX];
		snprintf(msg, sizeof msg, "%s", hm_errmsg());
		hm_error("%s; run hm-pack --index %s", msg, path);
		goto fail;
	}
	if ((uint64_t)st.st_size != p->ix.stream_size) {
		hm_error_file(p->index_path,
			      "stale index: it describes %llu bytes, '%s' has %llu; "
			      "run hm-pack --index %s",
			      (unsigned long long)p->ix.stream_size, path,
			      (unsigned long long)st.st_size, path);
		goto fail;
	}
	if (p->ix.n < 1) {
		hm_error_file(path, "no records");
		goto fail;
	}
	/* hm-pack writes offsets in stream order: a damaged entry fails here,
	 * before training, not when a shuffled batch first draws it. */
	for (long i = 0; i < p->ix.n; i++) {
		uint64_t o = p->ix.offset[i];
		if (p->ix.stream_size < REC_HEADER_SIZE ||
		    o > p->ix.stream_size - REC_HEADER_SIZE ||
		    (i > 0 && o <= p->ix.offset[i - 1])) {
			hm_error_file(p->index_path, "entry %ld: offset %llu is past the end "
				      "of '%s' or out of order; run hm-pack --index %s", i,
				      (unsigned long long)o, path, path);
			goto fail;
		}
	}
	if (need_labels) {
		int32_t max = 0;
		for (long i = 0; i < p->ix.n; i++) {
			if (p->ix.label[i] < 0) {
				char key[REC_MAX_KEY + 1];
				record_key(p, i, key, sizeof key);
				hm_error_file(path, "record %ld '%s': label %d; training "
					      "needs every record labelled (0 or more)",
					      i, key, (int)p->ix.label[i]);
				goto fail;
			}
			if (p->ix.label[i] > max)
				max = p->ix.label[i];
		}
		p->n_classes = (int)max + 1;
		/* Distinct labels, by sorting a copy (a label may be huge). */
		int32_t *l = malloc((size_t)p->ix.n * sizeof *l);
		if (!l) {
			hm_error("out of memory");
			goto fail;
		}
		memcpy(l, p->ix.label, (size_t)p->ix.n * sizeof *l);
		qsort(l, (size_t)p->ix.n, sizeof *l, cmp_i32);
		for (long i = 0; i < p->ix.n; i++)
			p->n_identities += i == 0 || l[i] != l[i - 1];
		free(l);
	}
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		hm_error_file(path, "cannot open: %s", strerror(errno));
		goto fail;
	}
	struct rec_reader r;
	struct record rec = { 0 };
	rec_reader_init(&r, fp, path);
	/* rec_read_at(): 0 = read, -1 = error (message names the file) */
	int got = rec_read_at(&r, p->ix.offset[0], &rec);
	if (got == 0 && rec.kind != REC_IMAGE) {
		hm_error_file(path, "record 0 '%s': not an image record", rec.key);
		got = -1;
	}
	if (got == 0) {
		p->width = rec.width;
		p->height = rec.height;
		p->channels = rec.channels;
	}
	record_release(&rec);
	fclose(fp);
	if (got < 0)
		goto fail;
	return 0;
fail:
	data_pack_close(p);
	return -1;
}

long data_batches_per_epoch(const struct data_pack *p, int batch)
{
	return batch > 0 ? p->ix.n / batch : 0;
}

void data_epoch_order(int *order, long n, uint64_t seed, long epoch)
{
	struct rng r;
	for (long i = 0; i < n; i++)
		order[i] = (int)i;
	rng_seed2(&r, seed ^ DATA_TAG_ORDER, (uint64_t)epoch);
	rng_shuffle(&r, order, (int)n);
}

void data_image_to_chw(float *out, const unsigned char *px, int w, int h,
		       int in_c, int out_c, int flip)
{
	size_t plane = (size_t)w * h;
	for (int y = 0; y < h; y++) {
		const unsigned char *row = px + (size_t)y * w * in_c;
		for (int x = 0; x < w; x++) {
			const unsigned char *s = row + (size_t)(flip ? w - 1 - x : x) * in_c;
			size_t o = (size_t)y * w + x;
			if (in_c == out_c) {
				for (int c = 0; c < out_c; c++)
					out[c * plane + o] = ((float)s[c] - 127.5f) / 127.5f;
			} else if (out_c == 3) {
				float v = ((float)s[0] - 127.5f) / 127.5f;
				out[o] = out[plane + o] = out[2 * plane + o] = v;
			} else {
				/* ITU-R BT.601 luma, libjpeg's fixed point */
				int yv = (19595 * s[0] + 38470 * s[1] + 7471 * s[2] +
					  32768) >> 16;
				out[o] = ((float)yv - 127.5f) / 127.5f;
			}
		}
	}
}

int data_record_to_chw(float *out, const struct record *rec, int c, int h, int w,
		       int flip, struct jpeg *j, struct image *scratch,
		       const char *file, long idx)
{
	if (rec->kind != REC_IMAGE)
		return hm_error_file(file, "record %ld '%s': not an image record",
				     idx, rec->key);
	if (rec->width != w || rec->height != h)
		return hm_error_file(file, "record %ld '%s': image is %dx%dx%d, "
				     "the model takes %dx%d", idx, rec->key,
				     rec->width, rec->height, rec->channels, w, h);
	const unsigned char *px;
	int in_c;
	if (rec->encoding == REC_JPEG) {
		image_free(scratch);
		if (image_decode(j, rec->pixels, rec->n_pixels, c, scratch,
				 rec->key) < 0) {
			char msg[MSG_MAX];
			snprintf(msg, sizeof msg, "%s", hm_errmsg());
			return hm_error_file(file, "record %ld: %s", idx, msg);
		}
		if (scratch->width != w || scratch->height != h)
			return hm_error_file(file, "record %ld '%s': JPEG is %dx%d, "
					     "its header says %dx%d", idx, rec->key,
					     scratch->width, scratch->height, w, h);
		px = scratch->data;
		in_c = scratch->channels;
	} else {
		if (rec->channels != 1 && rec->channels != 3)
			return hm_error_file(file, "record %ld '%s': %d channels "
					     "(1 or 3 expected)", idx, rec->key,
					     rec->channels);
		if (rec->n_pixels != (size_t)w * h * rec->channels)
			return hm_error_file(file, "record %ld '%s': %zu pixel bytes "
					     "for %dx%dx%d", idx, rec->key, rec->n_pixels,
					     w, h, rec->channels);
		px = rec->pixels;
		in_c = rec->channels;
	}
	data_image_to_chw(out, px, w, h, in_c, c, flip);
	return 0;
}

void data_flip_chw(float *dst, const float *src, long rows, int w)
{
	for (long r = 0; r < rows; r++)
		for (int x = 0; x < w; x++)
			dst[r * w + x] = src[r * w + (w - 1 - x)];
}

/* --- the loader ---------------------------------------------------- */

enum slot_state { SLOT_FREE, SLOT_FULL, SLOT_ERROR, SLOT_END };

struct slot {
	enum slot_state state;
	struct data_batch b;
	char *key_pool;		/* batch * (REC_MAX_KEY + 1) bytes, eval only */
	char msg[MSG_MAX];
};

struct data_loader {
	const struct data_pack *pack;
	struct data_config cfg;
	long per_epoch;		/* train: full batches per epoch */
	long n_eval;		/* eval: batches in the pass */
	struct slot slot[DATA_QUEUE];
	int head;		/* next slot the consumer takes */
	int held;		/* the consumer holds slot head - 1 */
	int stop;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* worker state */
	FILE *fp;
	struct rec_reader rr;
	struct record rec;
	struct jpeg *jpeg;
	struct image im;
	int *order;		/* the current epoch's order (train) */
	long order_epoch;
};

/* Decodes record I into batch slot position K.  0 or -1 (message set). */
static int load_one(struct data_loader *L, struct data_batch *b, int k, long i,
		    int flip, char *key_pool)
{
	const struct data_pack *p = L->pack;
	const struct data_config *c = &L->cfg;
	L->rr.n_records = i;	/* so rec.c's messages give this record's number */
	if (rec_read_at(&L->rr, p->ix.offset[i], &L->rec) < 0)
		return -1;
	/* A pack rewritten to the same size (another shuffle) beside its old
	 * index passes the size check at open; its records then disagree. */
	if (L->rec.label != p->ix.label[i])
		return hm_error_file(p->index_path, "stale index: entry %ld says label %d, "
				     "the record at byte %llu of '%s' has %d; run "
				     "hm-pack --index %s", i, (int)p->ix.label[i],
				     (unsigned long long)p->ix.offset[i], p->path,
				     (int)L->rec.label, p->path);
	size_t img = (size_t)c->c * c->h * c->w;
	if (data_record_to_chw(b->x + (size_t)k * img, &L->rec, c->c, c->h, c->w,
			       flip, L->jpeg, &L->im, p->path, i) < 0)
		return -1;
	b->labels[k] = p->ix.label[i];
	b->record[k] = i;
	b->flipped[k] = flip;
	if (key_pool) {
		char *dst = key_pool + (size_t)k * (REC_MAX_KEY + 1);
		snprintf(dst, REC_MAX_KEY + 1, "%s", L->rec.key);
		b->keys[k] = dst;
	}
	return 0;
}

/* Fills S with global batch T (train) or batch T of the pass (eval). */
static int fill(struct data_loader *L, struct slot *s, long t)
{
	const struct data_config *c = &L->cfg;
	struct data_batch *b = &s->b;
	if (c->mode == DATA_TRAIN) {
		long e = t / L->per_epoch, bi = t % L->per_epoch;
		int shards = c->n_shards > 1 ? c->n_shards : 1;
		size_t first = ((size_t)bi * shards + (size_t)c->shard) * c->batch;
		if (e != L->order_epoch) {
			data_epoch_order(L->order, L->pack->ix.n, c->seed, e);
			L->order_epoch = e;
		}
		struct rng r;
		rng_seed2(&r, c->seed ^ DATA_TAG_FLIP, ((uint64_t)e << 32) + (uint64_t)bi);
		for (long k = 0; k < (long)c->shard * c->batch; k++)
			rng_u64(&r);	/* the flips of the slices before this one */
		b->n = c->batch;
		b->epoch = e;
		b->index = bi;
		for (int k = 0; k < c->batch; k++) {
			int flip = (int)(rng_u64(&r) >> 63);
			if (!c->flip)
				flip = 0;
			long i = L->order[first + (size_t)k];
			if (load_one(L, b, k, i, flip, NULL) < 0)
				return -1;
		}
	} else {
		long first = t * c->batch, n = L->pack->ix.n - first;
		b->n = n < c->batch ? (int)n : c->batch;
		b->epoch = 0;
		b->index = t;
		for (int k = 0; k < b->n; k++)
			if (load_one(L, b, k, first + k, 0, s->key_pool) < 0)
				return -1;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct data_loader *L = arg;
	const struct data_config *c = &L->cfg;
	long t = c->mode == DATA_TRAIN ? c->start : 0;
	int w = 0;
	for (;;) {
		struct slot *s = &L->slot[w];
		pthread_mutex_lock(&L->mu);
		while (!L->stop && s->state != SLOT_FREE)
			pthread_cond_wait(&L->cv, &L->mu);
		int stop = L->stop;
		pthread_mutex_unlock(&L->mu);
		if (stop)
			break;
		enum slot_state st;
		if ((c->mode == DATA_TRAIN && c->end > 0 && t >= c->end) ||
		    (c->mode == DATA_EVAL && t >= L->n_eval)) {
			st = SLOT_END;
		} else if (fill(L, s, t) < 0) {
			snprintf(s->msg, sizeof s->msg, "%s", hm_errmsg());
			st = SLOT_ERROR;
		} else {
			st = SLOT_FULL;
		}
		pthread_mutex_lock(&L->mu);
		s->state = st;
		pthread_cond_broadcast(&L->cv);
		pthread_mutex_unlock(&L->mu);
		if (st != SLOT_FULL)
			break;
		t++;
		w = (w + 1) % DATA_QUEUE;
	}
	return NULL;
}

void data_loader_free(struct data_loader *L)
{
	if (!L)
		return;
	if (L->started) {
		pthread_mutex_lock(&L->mu);
		L->stop = 1;
		pthread_cond_broadcast(&L->cv);
		pthread_mutex_unlock(&L->mu);
		pthread_join(L->thread, NULL);
	}
	pthread_mutex_destroy(&L->mu);
	pthread_cond_destroy(&L->cv);
	for (int i = 0; i < DATA_QUEUE; i++) {
		struct data_batch *b = &L->slot[i].b;
		free(b->x);
		free(b->labels);
		free(b->record);
		free(b->keys);
		free(b->flipped);
		free(L->slot[i].key_pool);
	}
	if (L->fp)
		fclose(L->fp);
	record_release(&L->rec);
	image_free(&L->im);
	jpeg_free(L->jpeg);
	free(L->order);
	free(L);
}

struct data_loader *data_loader_new(const struct data_pack *p,
				    const struct data_config *c)
{
	if (c->batch < 1) {
		hm_error("batch size %d: must be at least 1", c->batch);
		return NULL;
	}
	if (c->c != 1 && c->c != 3) {
		hm_error("%d input channels: 1 or 3 expected", c->c);
		return NULL;
	}
	if (c->w != p->width || c->h != p->height) {
		hm_error_file(p->path, "images are %dx%d, the model takes %dx%d; "
			      "align to the model's size (hm-align --size)",
			      p->width, p->height, c->w, c->h);
		return NULL;
	}
	int shards = c->n_shards > 1 ? c->n_shards : 1;
	if (c->mode == DATA_TRAIN && (c->shard < 0 || c->shard >= shards)) {
		hm_error("shard %d of %d", c->shard, shards);
		return NULL;
	}
	if (c->mode == DATA_TRAIN && p->ix.n < (long)c->batch * shards) {
		hm_error_file(p->path, "%ld records, fewer than one batch of %d",
			      p->ix.n, c->batch * shards);
		return NULL;
	}
	struct data_loader *L = calloc(1, sizeof *L);
	if (!L) {
		hm_error("out of memory");
		return NULL;
	}
	L->pack = p;
	L->cfg = *c;
	L->per_epoch = data_batches_per_epoch(p, c->batch * shards);
	L->n_eval = (p->ix.n + c->batch - 1) / c->batch;
	L->order_epoch = -1;
	pthread_mutex_init(&L->mu, NULL);
	pthread_cond_init(&L->cv, NULL);
	size_t img = (size_t)c->c * c->h * c->w;
	int bad = 0;
	for (int i = 0; i < DATA_QUEUE; i++) {
		struct data_batch *b = &L->slot[i].b;
		b->x = malloc((size_t)c->batch * img * sizeof *b->x);
		b->labels = malloc((size_t)c->batch * sizeof *b->labels);
		b->record = malloc((size_t)c->batch * sizeof *b->record);
		b->flipped = malloc((size_t)c->batch * sizeof *b->flipped);
		bad |= !b->x || !b->labels || !b->record || !b->flipped;
		if (c->mode == DATA_EVAL) {
			b->keys = calloc((size_t)c->batch, sizeof *b->keys);
			L->slot[i].key_pool = malloc((size_t)c->batch * (REC_MAX_KEY + 1));
			bad |= !b->keys || !L->slot[i].key_pool;
		}
	}
	if (c->mode == DATA_TRAIN) {
		L->order = malloc((size_t)p->ix.n * sizeof *L->order);
		bad |= !L->order;
	}
	L->jpeg = jpeg_new();
	if (bad || !L->jpeg) {
		hm_error("out of memory");
		goto fail;
	}
	L->fp = fopen(p->path, "rb");
	if (!L->fp) {
		hm_error_file(p->path, "cannot open: %s", strerror(errno));
		goto fail;
	}
	rec_reader_init(&L->rr, L->fp, p->path);
	/* The worker starts with every signal blocked, so SIGINT/SIGTERM reach
	 * the training thread (hm-train's handler only sets a flag anyway). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&L->thread, NULL, worker, L);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		hm_error("cannot start the loader thread");
		goto fail;
	}
	L->started = 1;
	return L;
fail:
	data_loader_free(L);
	return NULL;
}

int data_loader_next(struct data_loader *L, const struct data_batch **out)
{
	pthread_mutex_lock(&L->mu);
	if (L->held) {
		int prev = (L->head + DATA_QUEUE - 1) % DATA_QUEUE;
		L->slot[prev].state = SLOT_FREE;
		L->held = 0;
		pthread_cond_broadcast(&L->cv);
	}
	struct slot *s = &L->slot[L->head];
	while (s->state == SLOT_FREE)
		pthread_cond_wait(&L->cv, &L->mu);
	enum slot_state st = s->state;
	pthread_mutex_unlock(&L->mu);
	if (st == SLOT_ERROR)
		return hm_error("%s", s->msg);
	if (st == SLOT_END)
		return 0;
	*out = &s->b;
	L->held = 1;
	L->head = (L->head + 1) % DATA_QUEUE;
	return 1;
}
