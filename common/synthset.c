/*
 * synthset.c: the data-set layouts of synth.h (CASIA, LFW and YTF trees,
 * sets from a pair list or a landmark file) and the threads that render
 * a set's jobs into a folder with its landmarks and protocol files.  The
 * faces themselves come from synth_render (synth.c).
 */
#include "synth.h"
#include "err.h"
#include "lmk.h"
#include "outfile.h"
#include "pairs.h"
#include "rng.h"
#include "util.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* data sets */

void synth_set_free(struct synth_set *s)
{
	for (long i = 0; i < s->n_identities; i++)
		free(s->names ? s->names[i] : NULL);
	free(s->names);
	free(s->ids);
	for (long i = 0; i < s->n_jobs; i++)
		free(s->jobs[i].path);
	free(s->jobs);
	free(s->protocol_name);
	free(s->protocol);
	memset(s, 0, sizeof *s);
}

/* A growable byte buffer for protocol text. */
struct buf {
	char *p;
	long n, cap;
	int failed;
};

static void buf_printf(struct buf *b, const char *fmt, ...) HM_PRINTF(2, 3);
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	if (b->failed)
		return;
	for (;;) {
		long room = b->cap - b->n;
		va_start(ap, fmt);
		int k = vsnprintf(b->p ? b->p + b->n : NULL, (size_t)(room > 0 ? room : 0), fmt, ap);
		va_end(ap);
		if (k < 0) {
			b->failed = 1;
			return;
		}
		if (k < room) {
			b->n += k;
			return;
		}
		long cap = b->cap ? b->cap * 2 : 4096;
		while (cap - b->n <= k)
			cap *= 2;
		char *np = realloc(b->p, (size_t)cap);
		if (!np) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

static int add_job(struct synth_set *s, long *cap, char *path, long identity,
		   uint64_t video_stream)
{
	if (!path)
		return hm_error("out of memory");
	if (s->n_jobs == *cap) {
		long nc = *cap ? *cap * 2 : 256;
		struct synth_job *nj = realloc(s->jobs, (size_t)nc * sizeof *nj);
		if (!nj) {
			free(path);
			return hm_error("out of memory");
		}
		s->jobs = nj;
		*cap = nc;
	}
	struct synth_job *j = &s->jobs[s->n_jobs++];
	memset(j, 0, sizeof *j);
	j->path = path;
	j->identity = identity;
	j->image_stream = synth_hash(path);
	j->video_stream = video_stream ? video_stream : j->image_stream;
	return 0;
}

/*
 * Identity parameters: drawn from the seed and the identity's name, so a
 * name looks the same in every set built with that seed; a fraction
 * LOOKALIKE instead copy (and perturb) another identity of the set.
 */
static int draw_identities(struct synth_set *s, double lookalike, uint64_t seed)
{
	s->ids = malloc((size_t)(s->n_identities ? s->n_identities : 1) * sizeof *s->ids);
	if (!s->ids)
		return hm_error("out of memory");
	for (long i = 0; i < s->n_identities; i++) {
		uint64_t h = synth_hash(s->names[i]);
		struct rng r;
		rng_seed2(&r, seed, h ^ SYNTH_STREAM_LOOK);
		int look = s->n_identities > 1 && rng_uniform(&r) < lookalike;
		if (look) {
			long j = (long)rng_below(&r, (uint32_t)(s->n_identities - 1));
			if (j >= i)
				j++;
			struct synth_identity base;
			synth_identity_draw(&base, seed, synth_hash(s->names[j]));
			synth_identity_lookalike(&s->ids[i], &base, seed, h);
		} else {
			synth_identity_draw(&s->ids[i], seed, h);
		}
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Pronounceable names, "Kara_Velino": two or three consonant-vowel
 * syllables per part (a cluster now and then), maybe a final consonant. */
static void make_name(struct rng *r, char *out, size_t n)
{
	static const char *onset[] = { "b", "c", "d", "f", "g", "h", "j", "k", "l", "m",
		"n", "p", "r", "s", "t", "v", "z", "l", "m", "n", "r", "s", "t", "br",
		"ch", "dr", "sh", "st", "tr" };
	static const char *vowel[] = { "a", "e", "i", "o", "u", "a", "e", "i", "o",
		"a", "ia", "ea" };
	static const char *coda[] = { "", "", "", "", "", "n", "r", "l", "s", "m", "nd" };
	size_t k = 0;
	for (int part = 0; part < 2; part++) {
		int syl = 2 + (int)(rng_below(r, 3) == 0);
		if (part)
			out[k++] = '_';
		size_t start = k;
		for (int i = 0; i < syl; i++) {
			const char *o = onset[rng_below(r, sizeof onset / sizeof *onset)];
			const char *v = vowel[rng_below(r, sizeof vowel / sizeof *vowel)];
			k += (size_t)snprintf(out + k, n - k, "%s%s", o, v);
		}
		k += (size_t)snprintf(out + k, n - k, "%s",
				      coda[rng_below(r, sizeof coda / sizeof *coda)]);
		out[start] = (char)(out[start] - 'a' + 'A');
	}
	out[k] = '\0';
}

/* N distinct generated names, sorted. */
static int make_names(struct synth_set *s, long n, uint64_t seed)
{
	s->names = calloc((size_t)(n ? n : 1), sizeof *s->names);
	if (!s->names)
		return hm_error("out of memory");
	struct strtab seen = { 0 };
	struct rng r;
	rng_seed2(&r, seed, 0x4e414d4553ULL);	/* "NAMES" */
	for (long i = 0; i < n; i++) {
		char name[64];
		do
			make_name(&r, name, sizeof name);
		while (strtab_find(&seen, name) >= 0);
		s->names[i] = strdup(name);
		if (s->names[i])
			s->n_identities = i + 1;
		if (!s->names[i] || strtab_add(&seen, s->names[i], NULL) < 0) {
			strtab_free(&seen);
			return hm_error("out of memory");
		}
	}
	strtab_free(&seen);
	qsort(s->names, (size_t)n, sizeof *s->names, cmp_str);
	return 0;
}

int synth_set_casia(struct synth_set *s, long n_ids, long per_id,
		    double lookalike, uint64_t seed)
{
	long cap = 0;
	memset(s, 0, sizeof *s);
	s->kind = SYNTH_CASIA;
	if (n_ids < 1 || per_id < 1)
		return hm_error("casia: need at least one identity and one image each");
	s->names = calloc((size_t)n_ids, sizeof *s->names);
	if (!s->names)
		return hm_error("out of memory");
	int width = per_id > 999 ? snprintf(NULL, 0, "%ld", per_id) : 3;
	for (long i = 0; i < n_ids; i++) {
		s->names[i] = str_printf("%07ld", i);
		if (!s->names[i])
			goto oom;
		s->n_identities = i + 1;
		for (long k = 1; k <= per_id; k++)
			if (add_job(s, &cap, str_printf("%s/%0*ld.jpg", s->names[i], width, k), i, 0))
				goto fail;
	}
	if (draw_identities(s, lookalike, seed))
		goto fail;
	return 0;
oom:
	hm_error("out of memory");
fail:
	synth_set_free(s);
	return -1;
}

/*
 * The identities split into 10 folds (every tenth of a shuffled order), as
 * LFW's and YTF's folds share no one.  FOLD_OF[i] receives each one's fold.
 */
static int *assign_folds(long n, struct rng *r)
{
	int *perm = malloc((size_t)n * sizeof *perm), *fold = malloc((size_t)n * sizeof *fold);
	if (!perm || !fold) {
		free(perm);
		free(fold);
		return NULL;
	}
	for (long i = 0; i < n; i++)
		perm[i] = (int)i;
	rng_shuffle(r, perm, (int)n);
	for (long i = 0; i < n; i++)
		fold[perm[i]] = (int)(i % 10);
	free(perm);
	return fold;
}

struct cand {
	long id, a, b;		/* matched: identity, two item numbers */
};

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Draws a pair of distinct items (A < B) of one member of the fold. */
static void draw_matched(struct rng *r, const long *members, long nm, long per_id,
			 long first, struct cand *c)
{
	c->id = members[rng_below(r, (uint32_t)nm)];
	c->a = (long)rng_below(r, (uint32_t)per_id);
	c->b = (long)rng_below(r, (uint32_t)(per_id - 1));
	if (c->b >= c->a)
		c->b++;
	if (c->a > c->b) {
		long t = c->a;
		c->a = c->b;
		c->b = t;
	}
	c->a += first;
	c->b += first;
}

/* Enumerating a fold's matched pairs stops being worth it beyond this. */
#define MAX_ENUM (1L << 20)
/* Repeats are looked for among this many pairs at most (quadratic). */
#define MAX_DEDUP 4096

/*
 * Pairs for one protocol: per fold N_PAIRS matched pairs (two distinct items
 * of one identity: all of the fold's such pairs shuffled, so none repeats
 * while there are enough; drawn at random when there are very many) and
 * N_PAIRS mismatched pairs (items of two identities of the fold, redrawn a
 * few times to avoid repeats).  Items are numbered 1..PER_ID (LFW images)
 * or 0..PER_ID-1 (YTF videos).  LFW lines are sorted within each half fold,
 * as in LFW's file; YTF lines keep their order.
 */
static int make_pairs(struct synth_set *s, long per_id, long n_pairs, int ytf, uint64_t seed)
{
	struct rng r;
	rng_seed2(&r, seed, 0x5041495253ULL);	/* "PAIRS" */
	int *fold = assign_folds(s->n_identities, &r);
	long *members = malloc((size_t)s->n_identities * sizeof *members);
	char **lines = calloc((size_t)n_pairs, sizeof *lines);
	struct cand *got = malloc((size_t)n_pairs * 2 * sizeof *got);
	struct cand *cand = NULL;
	struct buf b = { 0 };
	int rc = -1;
	long first = ytf ? 0 : 1, pair_no = 0;
	if (!fold || !members || !lines || !got) {
		hm_error("out of memory");
		goto out;
	}
	if (ytf)
		buf_printf(&b, "split number, pair number, first name, second name, is same\n");
	else
		buf_printf(&b, "10\t%ld\n", n_pairs);
	for (int f = 0; f < 10; f++) {
		long nm = 0, nc = 0;
		for (long i = 0; i < s->n_identities; i++)
			if (fold[i] == f)
				members[nm++] = i;
		double n_all = (double)nm * per_id * (per_id - 1) / 2;
		if (n_all <= MAX_ENUM) {
			free(cand);
			cand = malloc((size_t)(n_all > 0 ? n_all : 1) * sizeof *cand);
			if (!cand) {
				hm_error("out of memory");
				goto out;
			}
			for (long m = 0; m < nm; m++)
				for (long a = 0; a < per_id; a++)
					for (long c2 = a + 1; c2 < per_id; c2++)
						cand[nc++] = (struct cand){ members[m], a + first,
									    c2 + first };
			for (long i = nc - 1; i > 0; i--) {	/* Fisher-Yates */
				long j = (long)rng_below(&r, (uint32_t)(i + 1));
				struct cand t = cand[i];
				cand[i] = cand[j];
				cand[j] = t;
			}
		}
		for (int half = 0; half < 2; half++) {
			for (long k = 0; k < n_pairs; k++) {
				struct cand p, q;
				if (half == 0 && nc > 0) {
					p = q = cand[k % nc];
				} else if (half == 0) {
					draw_matched(&r, members, nm, per_id, first, &p);
					q = p;
				} else {
					p.b = q.b = 0;
					for (int tries = 0;; tries++) {
						long i1 = (long)rng_below(&r, (uint32_t)nm);
						long i2 = (long)rng_below(&r, (uint32_t)(nm - 1));
						if (i2 >= i1)
							i2++;
						p.id = members[i1];
						q.id = members[i2];
						p.a = first + (long)rng_below(&r, (uint32_t)per_id);
						q.a = first + (long)rng_below(&r, (uint32_t)per_id);
						if (p.id > q.id) {
							struct cand t = p;
							p = q;
							q = t;
						}
						int dup = 0;
						for (long j = 0; j < k && j < MAX_DEDUP && !dup; j++)
							dup = got[2 * j].id == p.id && got[2 * j].a == p.a &&
							      got[2 * j + 1].id == q.id &&
							      got[2 * j + 1].a == q.a;
						if (!dup || tries >= 20)
							break;
					}
					got[2 * k] = p;
					got[2 * k + 1] = q;
				}
				const char *na = s->names[p.id], *nb = s->names[q.id];
				if (ytf)
					lines[k] = half == 0 ?
						str_printf("%d, %ld, %s/%ld, %s/%ld, 1\n", f + 1,
								  ++pair_no, na, p.a, na, p.b) :
						str_printf("%d, %ld, %s/%ld, %s/%ld, 0\n", f + 1,
								  ++pair_no, na, p.a, nb, q.a);
				else
					lines[k] = half == 0 ?
						str_printf("%s\t%ld\t%ld\n", na, p.a, p.b) :
						str_printf("%s\t%ld\t%s\t%ld\n", na, p.a, nb, q.a);
				if (!lines[k]) {
					hm_error("out of memory");
					goto out;
				}
			}
			if (!ytf)
				qsort(lines, (size_t)n_pairs, sizeof *lines, cmp_line);
			for (long k = 0; k < n_pairs; k++) {
				buf_printf(&b, "%s", lines[k]);
				free(lines[k]);
				lines[k] = NULL;
			}
		}
		if (ytf)
			pair_no = 0;
	}
	if (b.failed) {
		hm_error("out of memory");
		goto out;
	}
	s->protocol_name = strdup(ytf ? "splits.txt" : "pairs.txt");
	if (!s->protocol_name) {
		hm_error("out of memory");
		goto out;
	}
	s->protocol = b.p;
	s->protocol_len = b.n;
	b.p = NULL;
	rc = 0;
out:
	for (long k = 0; lines && k < n_pairs; k++)
		free(lines[k]);
	free(b.p);
	free(fold);
	free(cand);
	free(members);
	free(lines);
	free(got);
	return rc;
}

int synth_set_lfw(struct synth_set *s, long n_ids, long per_id, long n_pairs,
		  double lookalike, uint64_t seed)
{
	long cap = 0;
	memset(s, 0, sizeof *s);
	s->kind = SYNTH_LFW;
	if (n_ids < 20 || per_id < 2 || n_pairs < 1)
		return hm_error("lfw: need at least 20 identities (two per fold), 2 images "
				"each and 1 pair per fold");
	if (make_names(s, n_ids, seed))
		goto fail;
	for (long i = 0; i < n_ids; i++)
		for (long k = 1; k <= per_id; k++)
			if (add_job(s, &cap, str_printf("%s/%s_%04ld.jpg", s->names[i],
							      s->names[i], k), i, 0))
				goto fail;
	if (draw_identities(s, lookalike, seed) || make_pairs(s, per_id, n_pairs, 0, seed))
		goto fail;
	return 0;
fail:
	synth_set_free(s);
	return -1;
}

int synth_set_ytf(struct synth_set *s, long n_ids, long per_id, long frames,
		  long n_pairs, double lookalike, uint64_t seed)
{
	long cap = 0;
	memset(s, 0, sizeof *s);
	s->kind = SYNTH_YTF;
	if (n_ids < 20 || per_id < 2 || n_pairs < 1 || frames < 1)
		return hm_error("ytf: need at least 20 identities (two per split), 2 videos "
				"each, 1 frame per video and 1 pair per split");
	if (make_names(s, n_ids, seed))
		goto fail;
	for (long i = 0; i < n_ids; i++)
		for (long v = 0; v < per_id; v++) {
			char *video = str_printf("%s/%ld", s->names[i], v);
			if (!video) {
				hm_error("out of memory");
				goto fail;
			}
			uint64_t vs = synth_hash(video);
			for (long k = 1; k <= frames; k++)
				if (add_job(s, &cap, str_printf("%s/%04ld.jpg", video, k), i, vs)) {
					free(video);
					goto fail;
				}
			free(video);
		}
	if (draw_identities(s, lookalike, seed) || make_pairs(s, per_id, n_pairs, 1, seed))
		goto fail;
	return 0;
fail:
	synth_set_free(s);
	return -1;
}

/* A relative path that stays inside the output folder: no leading '/', no
 * empty, "." or ".." component. */
static int safe_relpath(const char *p)
{
	if (!*p || *p == '/')
		return 0;
	for (const char *s = p; *s;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += n;
		if (*s == '/')
			s++;
		if (e && !*s)
			return 0;	/* trailing '/' */
	}
	return 1;
}

/* The identity of a key or path: its first component, or (no '/') the
 * whole name without its extension. */
static char *identity_of(const char *p)
{
	const char *slash = strchr(p, '/');
	if (slash)
		return strndup(p, (size_t)(slash - p));
	const char *dot = strrchr(p, '.');
	return strndup(p, dot && dot != p ? (size_t)(dot - p) : strlen(p));
}

/* Fills s->names (sorted, unique) from the identities of N strings. */
static int names_from(struct synth_set *s, char *const *keys, long n)
{
	char **all = malloc((size_t)(n ? n : 1) * sizeof *all);
	if (!all)
		return hm_error("out of memory");
	long k = 0;
	for (long i = 0; i < n; i++) {
		all[k] = identity_of(keys[i]);
		if (!all[k]) {
			for (long j = 0; j < k; j++)
				free(all[j]);
			free(all);
			return hm_error("out of memory");
		}
		k++;
	}
	qsort(all, (size_t)k, sizeof *all, cmp_str);
	long u = 0;
	for (long i = 0; i < k; i++) {
		if (u > 0 && !strcmp(all[u - 1], all[i]))
			free(all[i]);
		else
			all[u++] = all[i];
	}
	s->names = all;
	s->n_identities = u;
	return 0;
}

static long identity_index(const struct synth_set *s, const char *key)
{
	char *name = identity_of(key);
	if (!name)
		return -1;
	char **hit = bsearch(&name, s->names, (size_t)s->n_identities, sizeof *s->names, cmp_str);
	free(name);
	return hit ? (long)(hit - s->names) : -1;
}

int synth_set_from_pairs(struct synth_set *s, const char *path, long frames,
			 double lookalike, uint64_t seed)
{
	struct pair_list list = { 0 };
	unsigned char *raw = NULL;
	size_t raw_n = 0;
	char **keys = NULL;
	long cap = 0, nk = 0;
	memset(s, 0, sizeof *s);
	if (frames < 1)
		return hm_error("need at least one frame per video");
	/* the bytes first: the list is copied into the set as it is */
	if (file_read_all(path, &raw, &raw_n))
		return -1;
	if (pairs_load(&list, path, PAIRS_AUTO))
		goto fail;
	s->kind = list.format == PAIRS_YTF ? SYNTH_YTF : SYNTH_LFW;
	keys = malloc((size_t)(2 * list.n + 1) * sizeof *keys);
	if (!keys) {
		hm_error("out of memory");
		goto fail;
	}
	for (long i = 0; i < list.n; i++) {
		const char *ab[2] = { list.p[i].a, list.p[i].b };
		for (int j = 0; j < 2; j++) {
			if (!safe_relpath(ab[j])) {
				hm_error_file(path, "line %ld: '%s' is not a relative path inside "
					      "the output folder", list.p[i].line, ab[j]);
				goto fail;
			}
			keys[nk++] = (char *)ab[j];
		}
	}
	qsort(keys, (size_t)nk, sizeof *keys, cmp_str);
	long u = 0;
	for (long i = 0; i < nk; i++)
		if (u == 0 || strcmp(keys[u - 1], keys[i]))
			keys[u++] = keys[i];
	nk = u;
	if (names_from(s, keys, nk))
		goto fail;
	for (long i = 0; i < nk; i++) {
		long id = identity_index(s, keys[i]);
		if (id < 0) {
			hm_error("out of memory");
			goto fail;
		}
		if (s->kind == SYNTH_YTF) {
			uint64_t vs = synth_hash(keys[i]);
			for (long k = 1; k <= frames; k++)
				if (add_job(s, &cap, str_printf("%s/%04ld.jpg", keys[i], k), id, vs))
					goto fail;
		} else if (add_job(s, &cap, str_printf("%s.jpg", keys[i]), id, 0)) {
			goto fail;
		}
	}
	static const char *proto[] = { [PAIRS_LFW] = "pairs.txt", [PAIRS_YTF] = "splits.txt",
				       [PAIRS_ARCFACE] = "lfw_test_pair.txt",
				       [PAIRS_CSV] = "pairs.csv" };
	s->protocol_name = strdup(proto[list.format]);
	if (!s->protocol_name) {
		hm_error("out of memory");
		goto fail;
	}
	s->protocol = (char *)raw;
	s->protocol_len = (long)raw_n;
	raw = NULL;
	if (draw_identities(s, lookalike, seed))
		goto fail;
	free(keys);
	pair_list_free(&list);
	return 0;
fail:
	free(keys);
	free(raw);
	pair_list_free(&list);
	synth_set_free(s);
	return -1;
}

static int cmp_entry_path(const void *a, const void *b)
{
	const struct lmk_entry *x = *(const struct lmk_entry *const *)a;
	const struct lmk_entry *y = *(const struct lmk_entry *const *)b;
	return strcmp(x->path, y->path);
}

static int check_landmark_paths(const struct lmk_list *list, const char *path)
{
	for (long i = 0; i < list->n; i++)
		if (!safe_relpath(list->e[i].path))
			return hm_error_file(path, "'%s' is not a relative path inside the output "
					     "folder", list->e[i].path);
	return 0;
}

int synth_set_from_landmarks(struct synth_set *s, const char *path,
			     double lookalike, uint64_t seed)
{
	struct lmk_list list = { 0 };
	const struct lmk_entry **sorted = NULL;
	char **paths = NULL;
	long cap = 0;
	memset(s, 0, sizeof *s);
	s->kind = SYNTH_LFW;
	if (lmk_load(&list, path, LMK_AUTO))
		return -1;
	if (list.n == 0) {
		hm_error_file(path, "no landmarks");
		goto fail;
	}
	if (check_landmark_paths(&list, path))
		goto fail;
	sorted = malloc((size_t)list.n * sizeof *sorted);
	paths = malloc((size_t)list.n * sizeof *paths);
	if (!sorted || !paths) {
		hm_error("out of memory");
		goto fail;
	}
	for (long i = 0; i < list.n; i++) {
		sorted[i] = &list.e[i];
		paths[i] = list.e[i].path;
	}
	qsort(sorted, (size_t)list.n, sizeof *sorted, cmp_entry_path);
	for (long i = 1; i < list.n; i++)
		if (!strcmp(sorted[i - 1]->path, sorted[i]->path)) {
			hm_error_file(path, "'%s' is listed twice", sorted[i]->path);
			goto fail;
		}
	if (names_from(s, paths, list.n))
		goto fail;
	for (long i = 0; i < list.n; i++) {
		long id = identity_index(s, list.e[i].path);
		if (id < 0 || add_job(s, &cap, strdup(list.e[i].path), id, 0)) {
			hm_error("out of memory");
			goto fail;
		}
		struct synth_job *j = &s->jobs[s->n_jobs - 1];
		j->has_target = 1;
		memcpy(j->target, list.e[i].pt, sizeof j->target);
	}
	if (draw_identities(s, lookalike, seed))
		goto fail;
	free(sorted);
	free(paths);
	lmk_list_free(&list);
	return 0;
fail:
	free(sorted);
	free(paths);
	lmk_list_free(&list);
	synth_set_free(s);
	return -1;
}

/* strcmp of two paths with their last extensions removed. */
static int cmp_stem(const char *a, const char *b)
{
	const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
	size_t na = da && (!sa || da > sa) ? (size_t)(da - a) : strlen(a);
	size_t nb = db && (!sb || db > sb) ? (size_t)(db - b) : strlen(b);
	int c = strncmp(a, b, na < nb ? na : nb);
	return c ? c : (na > nb) - (na < nb);
}

static int cmp_entry_stem(const void *a, const void *b)
{
	const struct lmk_entry *x = *(const struct lmk_entry *const *)a;
	const struct lmk_entry *y = *(const struct lmk_entry *const *)b;
	return cmp_stem(x->path, y->path);
}

long synth_set_use_landmarks(struct synth_set *s, const char *path)
{
	struct lmk_list list = { 0 };
	if (lmk_load(&list, path, LMK_AUTO))
		return -1;
	const struct lmk_entry **sorted = malloc((size_t)(list.n ? list.n : 1) * sizeof *sorted);
	if (!sorted) {
		lmk_list_free(&list);
		return hm_error("out of memory");
	}
	for (long i = 0; i < list.n; i++)
		sorted[i] = &list.e[i];
	qsort(sorted, (size_t)list.n, sizeof *sorted, cmp_entry_stem);
	long matched = 0;
	for (long i = 0; i < s->n_jobs; i++) {
		long lo = 0, hi = list.n;
		while (lo < hi) {
			long mid = (lo + hi) / 2;
			if (cmp_stem(sorted[mid]->path, s->jobs[i].path) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < list.n && !cmp_stem(sorted[lo]->path, s->jobs[i].path)) {
			s->jobs[i].has_target = 1;
			memcpy(s->jobs[i].target, sorted[lo]->pt, sizeof s->jobs[i].target);
			matched++;
		}
	}
	free(sorted);
	lmk_list_free(&list);
	return matched;
}

/* ------------------------------------------------------------------ */
/* writing a set */

struct writer {
	const struct synth_set *s;
	const struct synth_opts *o;
	const char *dir;
	uint64_t seed;
	float (*lmk)[5][2];
	atomic_long next, done;
	atomic_int failed;
	pthread_mutex_t lock;
	long fail_job;
	char fail_msg[1024];
};

/* One thread's view: the shared writer, and the progress line (calling
 * thread only, NULL elsewhere). */
struct worker {
	struct writer *w;
	struct progress *p;
};

static void writer_fail(struct writer *w, long job)
{
	pthread_mutex_lock(&w->lock);
	if (job < w->fail_job) {
		w->fail_job = job;
		snprintf(w->fail_msg, sizeof w->fail_msg, "%s", hm_errmsg());
	}
	pthread_mutex_unlock(&w->lock);
	atomic_store(&w->failed, 1);
}

static void *writer_run(void *arg)
{
	const struct worker *me = arg;
	struct writer *w = me->w;
	const struct synth_opts *o = w->o;
	struct synth_canvas *c = synth_canvas_new(o->width, o->height);
	struct jpeg *jp = jpeg_new();
	struct image im = { 0 };
	char *path = NULL;
	size_t path_cap = 0;
	if (!c || !jp || image_alloc(&im, o->width, o->height, 3)) {
		if (c && !jp)
			hm_error("cannot start the JPEG encoder");
		writer_fail(w, -1);
		goto out;
	}
	for (;;) {
		if (atomic_load(&w->failed))
			break;
		long i = atomic_fetch_add(&w->next, 1);
		if (i >= w->s->n_jobs)
			break;
		const struct synth_job *j = &w->s->jobs[i];
		size_t need = strlen(w->dir) + strlen(j->path) + 2;
		if (need > path_cap) {
			char *np = realloc(path, need);
			if (!np) {
				hm_error("out of memory");
				writer_fail(w, i);
				break;
			}
			path = np;
			path_cap = need;
		}
		snprintf(path, path_cap, "%s/%s", w->dir, j->path);
		int q;
		if (synth_render(c, &im, w->lmk[i], &q, &w->s->ids[j->identity], o, w->seed,
				 j->image_stream, j->video_stream,
				 j->has_target ? (const float(*)[2])j->target : NULL) ||
		    image_save_jpeg(jp, &im, q, path)) {
			writer_fail(w, i);
			break;
		}
		long d = atomic_fetch_add(&w->done, 1) + 1;
		if (me->p)
			progress_update(me->p, d);
	}
out:
	free(path);
	image_free(&im);
	if (jp)
		jpeg_free(jp);
	synth_canvas_free(c);
	return NULL;
}

static int write_protocol_and_landmarks(const struct synth_set *s, const char *dir,
					float (*lmk)[5][2])
{
	char *p = NULL;
	if (s->protocol_name) {
		p = str_printf("%s/%s", dir, s->protocol_name);
		if (!p)
			return hm_error("out of memory");
		int rc = outfile_write_all(p, s->protocol, (size_t)s->protocol_len);
		free(p);
		if (rc)
			return -1;
	}
	p = str_printf("%s/landmarks.txt", dir);
	if (!p)
		return hm_error("out of memory");
	struct outfile of;
	if (outfile_open(&of, p)) {
		free(p);
		return -1;
	}
	for (long i = 0; i < s->n_jobs; i++)
		if (lmk_write(of.fp, s->jobs[i].path,
			      s->kind == SYNTH_CASIA ? (int)s->jobs[i].identity : -1,
			      (const float(*)[2])lmk[i])) {
			hm_error_prefix("'%s'", p);
			outfile_abort(&of);
			free(p);
			return -1;
		}
	free(p);
	return outfile_commit(&of);
}

int synth_set_write(const struct synth_set *s, const char *dir,
		    const struct synth_opts *o, uint64_t seed, int threads,
		    struct progress *p)
{
	if (make_dirs(dir))
		return -1;
	/* the folders, once each (jobs of one folder are adjacent in every layout) */
	char *prev = NULL;
	for (long i = 0; i < s->n_jobs; i++) {
		const char *slash = strrchr(s->jobs[i].path, '/');
		if (!slash)
			continue;
		size_t n = (size_t)(slash - s->jobs[i].path);
		if (prev && strlen(prev) == n + strlen(dir) + 1 &&
		    !strncmp(prev + strlen(dir) + 1, s->jobs[i].path, n))
			continue;
		free(prev);
		prev = str_printf("%s/%.*s", dir, (int)n, s->jobs[i].path);
		if (!prev)
			return hm_error("out of memory");
		if (make_dirs(prev)) {
			free(prev);
			return -1;
		}
	}
	free(prev);

	/* Thousands of small files: one sync at the end instead of one each. */
	outfile_defer_fsync(1);
	struct writer w = { .s = s, .o = o, .dir = dir, .seed = seed, .fail_job = LONG_MAX };
	w.lmk = malloc((size_t)(s->n_jobs ? s->n_jobs : 1) * sizeof *w.lmk);
	if (!w.lmk)
		return hm_error("out of memory");
	atomic_init(&w.next, 0);
	atomic_init(&w.done, 0);
	atomic_init(&w.failed, 0);
	pthread_mutex_init(&w.lock, NULL);
	if (threads < 1)
		threads = 1;
	if (threads > s->n_jobs)
		threads = s->n_jobs > 0 ? (int)s->n_jobs : 1;
	pthread_t *tid = calloc((size_t)threads, sizeof *tid);
	struct worker *args = calloc((size_t)threads, sizeof *args);
	int started = 0;
	if (!tid || !args) {
		free(tid);
		free(args);
		free(w.lmk);
		return hm_error("out of memory");
	}
	for (int t = 0; t < threads; t++)
		args[t].w = &w;
	args[0].p = p;
	for (int t = 1; t < threads; t++) {
		if (pthread_create(&tid[t], NULL, writer_run, &args[t]))
			break;
		started++;
	}
	/* the calling thread works too and draws the progress line */
	writer_run(&args[0]);
	for (int t = 1; t <= started; t++)
		pthread_join(tid[t], NULL);
	free(tid);
	free(args);
	pthread_mutex_destroy(&w.lock);
	int rc = 0;
	if (atomic_load(&w.failed)) {
		hm_error("%s", w.fail_msg);
		rc = -1;
	} else {
		if (p)
			progress_done(p, s->n_jobs);
		rc = outfile_sync_dir(dir);
		outfile_defer_fsync(0);
		if (!rc)
			rc = write_protocol_and_landmarks(s, dir, w.lmk);
	}
	outfile_defer_fsync(0);
	free(w.lmk);
	return rc;
}
