/*
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
#include "lmk.h"
#include "mxrec.h"
#include "outfile.h"
#include "pybin.h"
#include "rec.h"
#include "rng.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 32			/* folder levels below an identity */
#define BATCH_PER_THREAD 32
#define BATCH_MAX_ITEMS 1024
#define BATCH_MAX_BYTES (256u << 20)	/* input bytes held per batch */
#define MAX_BIN ((size_t)4 << 30)	/* a .bin read into memory */

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

/* The .idx beside a .rec: "x.rec" -> "x.idx", else "x" + ".idx". */
static char *idx_path(const char *rec)
{
	size_t n = strlen(rec);
	if (n > 4 && !strcmp(rec + n - 4, ".rec"))
		n -= 4;
	char *p = malloc(n + 5);
	if (p) {
		memcpy(p, rec, n);
		strcpy(p + n, ".idx");
	}
	return p;
}

/* ------------------------------------------------------------------ items */

/* One record on its way from the input to the pack. */
struct item {
	char *key;
	int32_t label;
	int kind;			/* REC_IMAGE or REC_EMBED */
	int from_record;		/* w, h, c, enc describe data (stream input) */
	int w, h, c, enc;
	const unsigned char *data;	/* encoded file, or the record's payload */
	size_t n;
	unsigned char *own;		/* data's storage when the item owns it */
	float *values;			/* embedding (owned) */
	int dim;
	const char *name;		/* file named in messages (not owned) */
	char *path;			/* ... when it is the item's own (owned) */
	char where[48];			/* "record 17", "image 3" or "" */
	/* result */
	int ow, oh, oc, oenc;
	unsigned char *out;		/* new payload; NULL = write data as is */
	size_t n_out;
	char *err;			/* message when processing failed */
};

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

/* Keys become text in listings and pair lists: no control bytes.  LINE > 0
 * names a line of FILE in the message. */
static int check_key(const char *file, long line, const char *key)
{
	char at[32] = "";
	size_t n = strlen(key);
	if (line > 0)
		snprintf(at, sizeof at, "line %ld: ", line);
	if (n == 0)
		return hm_error_file(file, "%sempty key", at);
	if (n > REC_MAX_KEY)
		return hm_error_file(file, "%skey longer than %d bytes: '%.60s...'", at,
				     REC_MAX_KEY, key);
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return hm_error_file(file, "%skey '%s' contains a control character",
					     at, key);
	return 0;
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

/* ---------------------------------------------------------------- sources */

struct entry {
	char *path;	/* file to read */
	char *key;
	int32_t label;
	long line;	/* CSV line, 0 for a tree */
};

struct source {
	enum pack_from type;
	const char *input;
	long n;			/* items by index; -1 when read in order only */
	int in_order;		/* source_next() rather than source_get() */
	/* tree, csv */
	struct entry *e;
	long n_e, cap_e;
	char **names;		/* tree: identity folder names, by label */
	long n_names;
	/* stream, rec */
	FILE *fp;
	int own_fp;
	struct rec_reader rr;
	struct record rec;
	struct rec_index ix;
	struct mxrec_reader mr;
	struct mxrec_index mx;
	long *recno;		/* rec: record number of item i */
	uint64_t *recoff;	/* rec: its byte offset */
	long next_no;		/* rec in order: next record number */
	long stop_no;		/* rec in order: first record after the images, -1 none */
	int started;
	/* bin */
	unsigned char *bin;
	size_t n_bin;
	struct pybin pb;
};

static int push_entry(struct source *s, char *path, char *key, int32_t label, long line)
{
	if (s->n_e == s->cap_e) {
		long n = s->cap_e ? 2 * s->cap_e : 256;
		struct entry *e = realloc(s->e, n * sizeof *e);
		if (!e) {
			free(path);
			free(key);
			return hm_error("out of memory");
		}
		s->e = e;
		s->cap_e = n;
	}
	s->e[s->n_e++] = (struct entry){ path, key, label, line };
	return 0;
}

/* REL without the extension of its last component. */
static char *strip_ext(const char *rel)
{
	const char *slash = strrchr(rel, '/');
	const char *dot = strrchr(slash ? slash + 1 : rel, '.');
	size_t n = dot && dot != (slash ? slash + 1 : rel) ? (size_t)(dot - rel) : strlen(rel);
	return strndup(rel, n);
}

enum { EXT_OTHER, EXT_IMAGE, EXT_UNSUPPORTED };

static int ext_kind(const char *name)
{
	static const char *ok[] = { "jpg", "jpeg", "pgm", "ppm", "pnm" };
	static const char *bad[] = { "png", "bmp", "gif", "tif", "tiff", "webp" };
	const char *dot = strrchr(name, '.');
	if (!dot || dot == name)
		return EXT_OTHER;
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
		if (!strcasecmp(dot + 1, ok[i]))
			return EXT_IMAGE;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (!strcasecmp(dot + 1, bad[i]))
			return EXT_UNSUPPORTED;
	return EXT_OTHER;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in DIR (without . and hidden ones), sorted.  Caller frees. */
static int list_dir(const char *dir, char ***names, long *n)
{
	*names = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return hm_error_file(dir, "cannot open directory: %s", strerror(errno));
	long cap = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			char **p = realloc(*names, cap * sizeof *p);
			if (!p)
				goto oom;
			*names = p;
		}
		if (!((*names)[*n] = strdup(de->d_name)))
			goto oom;
		(*n)++;
		errno = 0;
	}
	if (errno) {
		int e = errno;
		closedir(d);
		return hm_error_file(dir, "cannot read directory: %s", strerror(e));
	}
	closedir(d);
	if (*n > 1)
		qsort(*names, *n, sizeof **names, cmp_str);
	return 0;
oom:
	closedir(d);
	return hm_error("out of memory");
}

static void free_names(char **names, long n)
{
	for (long i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Adds the images below ROOT/REL (a folder of identity LABEL). */
static int walk(struct source *s, const char *root, const char *rel, int32_t label,
		int depth)
{
	char *dir = path_join(root, rel);
	char **names;
	long n;
	if (!dir)
		return hm_error("out of memory");
	if (depth > MAX_DEPTH) {
		hm_error_file(dir, "folders nested more than %d deep (a symbolic link loop?)",
			      MAX_DEPTH);
		free(dir);
		return -1;
	}
	if (list_dir(dir, &names, &n)) {
		free(dir);
		return -1;
	}
	int rc = 0;
	for (long i = 0; i < n && !rc; i++) {
		char *path = path_join(dir, names[i]);
		char *sub = path_join(rel, names[i]);
		struct stat st;
		if (!path || !sub) {
			rc = hm_error("out of memory");
		} else if (stat(path, &st)) {
			rc = hm_error_file(path, "cannot open: %s", strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk(s, root, sub, label, depth + 1);
		} else if (!S_ISREG(st.st_mode)) {
			/* sockets, devices: not images */
		} else if (ext_kind(names[i]) == EXT_UNSUPPORTED) {
			rc = hm_error_file(path, "image format not supported (JPEG and PNM "
					   "P5/P6 only)");
		} else if (ext_kind(names[i]) == EXT_IMAGE) {
			char *key = strip_ext(sub);
			if (!key) {
				rc = hm_error("out of memory");
			} else if (check_key(path, 0, key)) {
				free(key);
				rc = -1;
			} else {
				rc = push_entry(s, path, key, label, 0);
				path = NULL;
			}
		}
		free(path);
		free(sub);
	}
	free_names(names, n);
	free(dir);
	return rc;
}

static int open_tree(struct source *s)
{
	char **names;
	long n;
	if (list_dir(s->input, &names, &n))
		return -1;
	/* Identities: the folders, in sorted order; label = position. */
	s->names = malloc((n ? n : 1) * sizeof *s->names);
	if (!s->names) {
		free_names(names, n);
		return hm_error("out of memory");
	}
	int rc = 0;
	for (long i = 0; i < n && !rc; i++) {
		char *path = path_join(s->input, names[i]);
		struct stat st;
		if (!path)
			rc = hm_error("out of memory");
		else if (stat(path, &st))
			rc = hm_error_file(path, "cannot open: %s", strerror(errno));
		else if (S_ISDIR(st.st_mode))
			s->names[s->n_names++] = names[i], names[i] = NULL;
		else if (ext_kind(names[i]) != EXT_OTHER)
			rc = hm_error_file(path, "image outside an identity folder (expected "
					   "ROOT/ID/file)");
		free(path);
	}
	free_names(names, n);
	if (rc)
		return -1;
	if (s->n_names > INT32_MAX)
		return hm_error_file(s->input, "too many identity folders");
	for (long i = 0; i < s->n_names; i++)
		if (walk(s, s->input, s->names[i], (int32_t)i, 0))
			return -1;
	if (s->n_e == 0)
		return hm_error_file(s->input, "no images found (expected ROOT/ID/file.jpg)");
	return 0;
}

/* "path,label" rows. */
static int open_csv(struct source *s)
{
	struct csvio *c = csvio_open(s->input);
	if (!c)
		return -1;
	/* Paths are relative to the list's folder. */
	char *dir = NULL;
	const char *slash = strcmp(s->input, "-") ? strrchr(s->input, '/') : NULL;
	dir = slash ? strndup(s->input, slash - s->input + (slash == s->input)) : strdup("");
	char **f;
	int nf, got = 0, rc = 0;
	long rows = 0;
	while (!rc && dir && (got = csvio_next(c, &f, &nf)) == 1) {
		long line = csvio_line(c);
		int first = rows++ == 0;
		long label = -1;
		if (nf > 2) {
			rc = hm_error_file(s->input, "line %ld: expected 'path,label' (%d fields)",
					   line, nf);
			break;
		}
		if (nf == 2) {
			char *end;
			errno = 0;
			label = strtol(f[1], &end, 10);
			int number = end != f[1] && !*end;
			if (!number && first)
				continue;	/* a header row */
			if (errno || !number || label < -1 || label > INT32_MAX) {
				rc = hm_error_file(s->input, "line %ld: label '%s' is not an integer "
						   "in -1..%d", line, f[1], INT32_MAX);
				break;
			}
		} else if (first && !strcmp(f[0], "path")) {
			continue;
		}
		if (!f[0][0]) {
			rc = hm_error_file(s->input, "line %ld: empty path", line);
			break;
		}
		const char *rel = f[0];
		while (rel[0] == '.' && rel[1] == '/')
			rel += 2;
		while (rel[0] == '/')
			rel++;
		char *key = strip_ext(rel);
		char *path = f[0][0] == '/' ? strdup(f[0]) : path_join(dir, f[0]);
		if (!key || !path) {
			free(key);
			free(path);
			rc = hm_error("out of memory");
		} else if (check_key(s->input, line, key)) {
			free(key);
			free(path);
			rc = -1;
		} else {
			rc = push_entry(s, path, key, (int32_t)label, line);
		}
	}
	if (!dir)
		rc = hm_error("out of memory");
	else if (!rc && got < 0)
		rc = -1;
	free(dir);
	csvio_close(c);
	if (!rc && s->n_e == 0)
		rc = hm_error_file(s->input, "no rows (expected 'path,label' lines)");
	return rc;
}

static int cmp_entry_key(const void *a, const void *b, void *arg)
{
	const struct entry *e = arg;
	long i = *(const long *)a, j = *(const long *)b;
	int c = strcmp(e[i].key, e[j].key);
	return c ? c : (i > j) - (i < j);
}

/* Two inputs with one key would make the pack ambiguous. */
static int check_unique(struct source *s)
{
	long *ord = malloc((s->n_e ? s->n_e : 1) * sizeof *ord);
	if (!ord)
		return hm_error("out of memory");
	for (long i = 0; i < s->n_e; i++)
		ord[i] = i;
	qsort_r(ord, s->n_e, sizeof *ord, cmp_entry_key, s->e);
	int rc = 0;
	for (long i = 1; i < s->n_e && !rc; i++) {
		const struct entry *a = &s->e[ord[i - 1]], *b = &s->e[ord[i]];
		if (strcmp(a->key, b->key))
			continue;
		if (a->line)
			rc = hm_error_file(s->input, "lines %ld and %ld give the same key '%s'",
					   a->line, b->line, a->key);
		else
			rc = hm_error_file(s->input, "'%s' and '%s' give the same key '%s'",
					   a->path, b->path, a->key);
	}
	free(ord);
	return rc;
}

/* Copies a non-seekable input into an anonymous temporary file. */
static FILE *spool(FILE *in, const char *name)
{
	FILE *t = tmpfile();
	if (!t) {
		hm_error("cannot create a temporary file: %s", strerror(errno));
		return NULL;
	}
	char buf[65536];
	size_t got;
	while ((got = fread(buf, 1, sizeof buf, in)) > 0)
		if (fwrite(buf, 1, got, t) != got) {
			hm_error("temporary file: write error: %s", strerror(errno));
			fclose(t);
			return NULL;
		}
	if (ferror(in) || fflush(t) || fseeko(t, 0, SEEK_SET)) {
		hm_error_file(name, "read error: %s", strerror(errno));
		fclose(t);
		return NULL;
	}
	return t;
}

/* Opens S->fp; with NEED_SEEK, a pipe is spooled to a temporary file. */
static int open_fp(struct source *s, int need_seek)
{
	s->own_fp = 1;
	if (!strcmp(s->input, "-")) {
		s->own_fp = 0;
		s->fp = stdin;
	} else if (!(s->fp = fopen(s->input, "rb"))) {
		return hm_error_file(s->input, "cannot open: %s", strerror(errno));
	}
	struct stat st;
	if (need_seek && (fstat(fileno(s->fp), &st) || !S_ISREG(st.st_mode))) {
		FILE *t = spool(s->fp, s->input);
		if (!t)
			return -1;
		if (s->own_fp)
			fclose(s->fp);
		s->fp = t;
		s->own_fp = 1;
	}
	return 0;
}

static int open_stream(struct source *s, int shuffle)
{
	if (open_fp(s, shuffle))
		return -1;
	rec_reader_init(&s->rr, s->fp, s->input);
	if (!shuffle) {
		s->in_order = 1;
		s->n = -1;
		return 0;
	}
	if (rec_index_build(&s->ix, s->fp, s->input))
		return -1;
	s->n = s->ix.n;
	return 0;
}

static int stream_item(struct source *s, struct item *it, long no)
{
	const struct record *r = &s->rec;
	it->key = strdup(r->key);
	it->label = r->label;
	it->kind = r->kind;
	it->name = s->input;
	snprintf(it->where, sizeof it->where, "record %ld", no);
	if (!it->key)
		return hm_error("out of memory");
	if (r->kind == REC_EMBED) {
		it->dim = r->dim;
		it->values = malloc(sizeof(float) * r->dim);
		if (!it->values)
			return hm_error("out of memory");
		memcpy(it->values, r->values, sizeof(float) * r->dim);
		return 0;
	}
	it->from_record = 1;
	it->w = r->width;
	it->h = r->height;
	it->c = r->channels;
	it->enc = r->encoding;
	it->n = r->n_pixels;
	it->own = malloc(r->n_pixels ? r->n_pixels : 1);
	if (!it->own)
		return hm_error("out of memory");
	memcpy(it->own, r->pixels, r->n_pixels);
	it->data = it->own;
	return 0;
}

/* The images of a RecordIO file, given record 0's header (insightface). */
static int rec_image_range(struct source *s, const unsigned char *data, size_t n,
			   long n_records, long *first, long *stop)
{
	struct mxrec_header h;
	if (mxrec_unpack(&h, data, n))
		return hm_error_prefix("'%s': record 0", s->input);
	if (h.flag == 0) {
		*first = 0;
		*stop = -1;
		return 0;
	}
	float a = mxrec_label_at(&h, 0);
	if (!(a >= 1 && a <= (float)LONG_MAX / 2) || (n_records >= 0 && (long)a > n_records))
		return hm_error_file(s->input, "record 0: header says the images end at record "
				     "%.0f, but the file has %ld records", a, n_records);
	*first = 1;
	*stop = (long)a;
	return 0;
}

static int push_rec(struct source *s, long *cap, long no, uint64_t off)
{
	if (s->n == *cap) {
		long c = *cap ? 2 * *cap : 1024;
		long *r = realloc(s->recno, c * sizeof *r);
		if (r)
			s->recno = r;
		uint64_t *o = realloc(s->recoff, c * sizeof *o);
		if (o)
			s->recoff = o;
		if (!r || !o)
			return hm_error("out of memory");
		*cap = c;
	}
	s->recno[s->n] = no;
	s->recoff[s->n] = off;
	s->n++;
	return 0;
}

static int open_rec(struct source *s, int shuffle)
{
	char *ip = strcmp(s->input, "-") ? idx_path(s->input) : NULL;
	int have_idx = ip && access(ip, F_OK) == 0;
	const unsigned char *data;
	size_t n;
	long first, stop, cap = 0;
	if (open_fp(s, shuffle && !have_idx)) {
		free(ip);
		return -1;
	}
	mxrec_reader_init(&s->mr, s->fp, s->input);
	if (have_idx) {
		int rc = mxrec_index_load(&s->mx, ip);
		free(ip);
		if (rc)
			return -1;
		long at0 = mxrec_index_find(&s->mx, 0);
		first = 0;
		stop = -1;
		if (at0 >= 0) {
			if (mxrec_read_at(&s->mr, s->mx.offset[at0], 0, &data, &n) ||
			    rec_image_range(s, data, n, -1, &first, &stop))
				return -1;
		}
		s->n = 0;
		if (stop < 0) {
			/* Every key, in the order of the .idx (insightface: imgrec.keys). */
			for (long i = 0; i < s->mx.n; i++)
				if (push_rec(s, &cap, (long)s->mx.key[i], s->mx.offset[i]))
					return -1;
			return 0;
		}
		for (long k = first; k < stop; k++) {
			long at = mxrec_index_find(&s->mx, k);
			if (at < 0) {
				char *p = idx_path(s->input);
				hm_error_file(p ? p : "idx", "no entry for record %ld (record 0 says "
					      "the images are records 1 to %ld)", k, stop - 1);
				free(p);
				return -1;
			}
			if (push_rec(s, &cap, k, s->mx.offset[at]))
				return -1;
		}
		return 0;
	}
	free(ip);
	if (!shuffle) {
		s->in_order = 1;
		s->n = -1;
		return 0;
	}
	/* No index: scan the file once for the offsets. */
	uint64_t *off = NULL;
	long n_all = 0, cap_all = 0;
	uint64_t at;
	int got;
	while ((got = mxrec_read(&s->mr, &data, &n, &at)) == 1) {
		if (n_all == 0 && rec_image_range(s, data, n, -1, &first, &stop))
			got = -1;
		if (got < 0)
			break;
		if (n_all == cap_all) {
			cap_all = cap_all ? 2 * cap_all : 1024;
			uint64_t *o = realloc(off, cap_all * sizeof *o);
			if (!o) {
				got = hm_error("out of memory");
				break;
			}
			off = o;
		}
		off[n_all++] = at;
	}
	if (got < 0) {
		free(off);
		return -1;
	}
	if (n_all == 0) {
		first = 0;
		stop = -1;
	}
	if (stop > n_all) {
		free(off);
		return hm_error_file(s->input, "record 0 says the images are records 1 to %ld, "
				     "but the file has %ld records", stop - 1, n_all);
	}
	s->n = 0;
	for (long k = first; k < (stop < 0 ? n_all : stop); k++)
		if (push_rec(s, &cap, k, off[k])) {
			free(off);
			return -1;
		}
	free(off);
	return 0;
}

/* Makes an item of a RecordIO record (already read into DATA). */
static int rec_item(struct source *s, struct item *it, long no,
		    const unsigned char *data, size_t n)
{
	struct mxrec_header h;
	it->name = s->input;
	snprintf(it->where, sizeof it->where, "record %ld", no);
	if (mxrec_unpack(&h, data, n))
		return hm_error_prefix("'%s': record %ld", s->input, no);
	float c = mxrec_class(&h);
	if (!(c >= -1 && c <= (float)INT32_MAX) || c != floorf(c))
		return hm_error_file(s->input, "record %ld: label %g is not an integer in -1..%d",
				     no, (double)c, INT32_MAX);
	it->label = (int32_t)c;
	it->kind = REC_IMAGE;
	char key[64];
	snprintf(key, sizeof key, "%ld/%ld", (long)it->label, no);
	it->key = strdup(key);
	it->n = h.n_payload;
	it->own = malloc(h.n_payload ? h.n_payload : 1);
	if (!it->key || !it->own)
		return hm_error("out of memory");
	memcpy(it->own, h.payload, h.n_payload);
	it->data = it->own;
	return 0;
}

static int open_bin(struct source *s)
{
	if (open_fp(s, 0) || stream_read_all(s->fp, s->input, MAX_BIN, &s->bin, &s->n_bin) ||
	    pybin_parse(&s->pb, s->bin, s->n_bin, s->input))
		return -1;
	s->n = s->pb.n_images;
	return 0;
}

static void source_close(struct source *s)
{
	for (long i = 0; i < s->n_e; i++) {
		free(s->e[i].path);
		free(s->e[i].key);
	}
	free(s->e);
	free_names(s->names, s->n_names);
	if (s->fp && s->own_fp)
		fclose(s->fp);
	record_release(&s->rec);
	rec_index_free(&s->ix);
	mxrec_reader_release(&s->mr);
	mxrec_index_free(&s->mx);
	free(s->recno);
	free(s->recoff);
	pybin_free(&s->pb);
	free(s->bin);
	memset(s, 0, sizeof *s);
}

static int source_open(struct source *s, const char *input, enum pack_from from,
		       int shuffle)
{
	memset(s, 0, sizeof *s);
	s->input = input;
	if (from == PACK_AUTO && pack_detect(input, &from))
		return -1;
	s->type = from;
	int rc;
	switch (from) {
	case PACK_STREAM:
		return open_stream(s, shuffle);
	case PACK_TREE:
		rc = open_tree(s);
		break;
	case PACK_CSV:
		rc = open_csv(s);
		break;
	case PACK_REC:
		return open_rec(s, shuffle);
	case PACK_BIN:
		return open_bin(s);
	default:
		return hm_error("unknown input kind");
	}
	if (rc || check_unique(s))
		return -1;
	s->n = s->n_e;
	return 0;
}

/* Item I (0 <= I < s->n). */
static int source_get(struct source *s, long i, struct item *it)
{
	const unsigned char *data;
	size_t n;
	switch (s->type) {
	case PACK_TREE:
	case PACK_CSV: {
		const struct entry *e = &s->e[i];
		it->key = strdup(e->key);
		it->label = e->label;
		it->kind = REC_IMAGE;
		it->name = e->path;
		if (!it->key)
			return hm_error("out of memory");
		if (file_read_all(e->path, &it->own, &it->n))
			return -1;
		it->data = it->own;
		return 0;
	}
	case PACK_STREAM:
		s->rr.n_records = i;
		return rec_read_at(&s->rr, s->ix.offset[i], &s->rec) ||
		       stream_item(s, it, i) ? -1 : 0;
	case PACK_REC:
		if (mxrec_read_at(&s->mr, s->recoff[i], s->recno[i], &data, &n))
			return -1;
		return rec_item(s, it, s->recno[i], data, n);
	case PACK_BIN: {
		char key[32];
		snprintf(key, sizeof key, "bin/%ld", i);
		it->key = strdup(key);
		it->label = -1;
		it->kind = REC_IMAGE;
		it->name = s->input;
		snprintf(it->where, sizeof it->where, "image %ld", i);
		it->data = s->pb.image[i];
		it->n = s->pb.n_image[i];
		return it->key ? 0 : hm_error("out of memory");
	}
	default:
		return hm_error("unknown input kind");
	}
}

/* The next item of an in-order source: 1, 0 at the end, -1. */
static int source_next(struct source *s, struct item *it)
{
	if (s->type == PACK_STREAM) {
		long no = s->rr.n_records;
		int got = rec_read(&s->rr, &s->rec);
		if (got != 1)
			return got;
		return stream_item(s, it, no) ? -1 : 1;
	}
	/* RecordIO without an index, in file order. */
	const unsigned char *data;
	size_t n;
	for (;;) {
		long no = s->mr.n_records;
		if (s->started && s->stop_no >= 0 && no >= s->stop_no)
			return 0;
		int got = mxrec_read(&s->mr, &data, &n, NULL);
		if (got < 0)
			return -1;
		if (got == 0) {
			if (s->started && s->stop_no >= 0)
				return hm_error_file(s->input, "record 0 says the images are "
						     "records 1 to %ld, but the file has %ld records",
						     s->stop_no - 1, no);
			return 0;
		}
		if (!s->started) {
			long first;
			s->started = 1;
			if (rec_image_range(s, data, n, -1, &first, &s->stop_no))
				return -1;
			if (first == 1)
				continue;	/* insightface's header record */
		}
		return rec_item(s, it, no, data, n) ? -1 : 1;
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

/* Growing index of what we write. */
static int index_add(struct rec_index *ix, long *cap, uint64_t off, int32_t label)
{
	if (ix->n == *cap) {
		long c = *cap ? 2 * *cap : 1024;
		uint64_t *o = realloc(ix->offset, c * sizeof *o);
		if (o)
			ix->offset = o;
		int32_t *l = realloc(ix->label, c * sizeof *l);
		if (l)
			ix->label = l;
		if (!o || !l)
			return hm_error("out of memory");
		*cap = c;
	}
	ix->offset[ix->n] = off;
	ix->label[ix->n] = label;
	ix->n++;
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
			else if (index_add(&ix, &cap, pos, it->label))
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

/* ------------------------------------------------------- list and friends */

static FILE *open_stream_input(const char *input)
{
	if (!strcmp(input, "-"))
		return stdin;
	FILE *fp = fopen(input, "rb");
	if (!fp)
		hm_error_file(input, "cannot open: %s", strerror(errno));
	return fp;
}

static void close_input(FILE *fp)
{
	if (fp && fp != stdin)
		fclose(fp);
}

static int put_key(FILE *fp, const char *key)
{
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		int rc;
		if (*p == '\\')
			rc = fputs("\\\\", fp);
		else if (*p == '\t')
			rc = fputs("\\t", fp);
		else if (*p == '\n')
			rc = fputs("\\n", fp);
		else if (*p == '\r')
			rc = fputs("\\r", fp);
		else if (*p < 0x20 || *p == 0x7f)
			rc = fprintf(fp, "\\x%02x", *p);
		else
			rc = fputc(*p, fp);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Copies the spool to OUT. */
static int copy_out(FILE *spool_fp, FILE *out)
{
	char buf[65536];
	size_t got;
	if (fflush(spool_fp) || fseeko(spool_fp, 0, SEEK_SET))
		return hm_error("temporary file: %s", strerror(errno));
	while ((got = fread(buf, 1, sizeof buf, spool_fp)) > 0)
		if (fwrite(buf, 1, got, out) != got)
			return hm_error_file("-", "write error: %s", strerror(errno));
	if (ferror(spool_fp))
		return hm_error("temporary file: read error");
	return 0;
}

int pack_list(FILE *out, const char *input)
{
	FILE *fp = open_stream_input(input);
	if (!fp)
		return -1;
	/* The listing waits in a temporary file, so that a stream that turns
	 * out bad leaves standard output empty. */
	FILE *t = tmpfile();
	if (!t) {
		close_input(fp);
		return hm_error("cannot create a temporary file: %s", strerror(errno));
	}
	struct rec_reader r;
	struct record rec = { 0 };
	int got = 0, bad = 0;
	rec_reader_init(&r, fp, input);
	while (!bad && (got = rec_read(&r, &rec)) == 1) {
		bad = put_key(t, rec.key) || fprintf(t, "\t%ld\t", (long)rec.label) < 0;
		if (rec.kind == REC_IMAGE)
			bad = bad || fprintf(t, "image\t%dx%dx%d\t%s\t%zu\n", rec.width, rec.height,
					     rec.channels, rec.encoding == REC_JPEG ? "jpeg" : "raw",
					     rec.n_pixels) < 0;
		else
			bad = bad || fprintf(t, "embed\t%d\tf32\t%zu\n", rec.dim,
					     4 * (size_t)rec.dim) < 0;
		if (bad)
			hm_error("temporary file: write error: %s", strerror(errno));
	}
	int rc = bad || got < 0 ? -1 : copy_out(t, out);
	record_release(&rec);
	fclose(t);
	close_input(fp);
	return rc;
}

int pack_verify(const char *input, long *n_records)
{
	FILE *fp = open_stream_input(input);
	if (!fp)
		return -1;
	struct rec_index built, saved;
	int rc = rec_index_build(&built, fp, input);
	close_input(fp);
	if (rc)
		return -1;
	*n_records = built.n;
	char *hmi = strcmp(input, "-") ? pack_side_path(input, ".hmi") : NULL;
	if (hmi && access(hmi, F_OK) == 0) {
		if (rec_index_load(&saved, hmi)) {
			rc = -1;
		} else {
			if (saved.stream_size != built.stream_size)
				rc = hm_error_file(hmi, "index is for a stream of %llu bytes, '%s' has "
						   "%llu (stale index? rebuild it with --index)",
						   (unsigned long long)saved.stream_size, input,
						   (unsigned long long)built.stream_size);
			else if (saved.n != built.n)
				rc = hm_error_file(hmi, "index has %ld entries, '%s' %ld records "
						   "(rebuild it with --index)", saved.n, input,
						   built.n);
			for (long i = 0; !rc && i < built.n; i++)
				if (saved.offset[i] != built.offset[i] ||
				    saved.label[i] != built.label[i])
					rc = hm_error_file(hmi, "entry %ld does not match record %ld "
							   "of '%s' (rebuild it with --index)",
							   i, i, input);
			rec_index_free(&saved);
		}
	}
	free(hmi);
	rec_index_free(&built);
	return rc;
}

int pack_reindex(const char *input)
{
	if (pack_check_is_pack(input, PACK_USE_INDEX))
		return -1;
	FILE *fp = open_stream_input(input);
	if (!fp)
		return -1;
	struct rec_index ix;
	int rc = rec_index_build(&ix, fp, input);
	close_input(fp);
	if (rc)
		return -1;
	char *hmi = pack_side_path(input, ".hmi");
	rc = hmi ? rec_index_save(&ix, hmi) : hm_error("out of memory");
	free(hmi);
	rec_index_free(&ix);
	return rc;
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

int pack_stats(FILE *out, const char *input)
{
	FILE *fp = open_stream_input(input);
	if (!fp)
		return -1;
	struct rec_reader r;
	struct record rec = { 0 };
	int32_t *labels = NULL;
	long n = 0, cap = 0, n_img = 0, n_emb = 0, n_unlab = 0;
	int got, rc = -1;
	rec_reader_init(&r, fp, input);
	while ((got = rec_read(&r, &rec)) == 1) {
		if (rec.kind == REC_IMAGE)
			n_img++;
		else
			n_emb++;
		if (rec.label < 0) {
			n_unlab++;
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			int32_t *p = realloc(labels, cap * sizeof *p);
			if (!p) {
				got = hm_error("out of memory");
				break;
			}
			labels = p;
		}
		labels[n++] = rec.label;
	}
	record_release(&rec);
	close_input(fp);
	if (got < 0)
		goto out;
	if (n > 1)
		qsort(labels, n, sizeof *labels, cmp_i32);
	long n_id = 0;
	long *count = malloc((n ? n : 1) * sizeof *count);
	if (!count) {
		hm_error("out of memory");
		goto out;
	}
	for (long i = 0; i < n; i++) {
		if (i == 0 || labels[i] != labels[i - 1])
			count[n_id++] = 0;
		count[n_id - 1]++;
	}
	qsort(count, n_id, sizeof *count, cmp_long);
	double median = n_id == 0 ? 0 : n_id % 2 ? (double)count[n_id / 2]
			: 0.5 * (count[n_id / 2 - 1] + count[n_id / 2]);
	if (fprintf(out, "records %ld\nimages %ld\nembeddings %ld\nidentities %ld\n"
		    "unlabelled %ld\nper_identity_min %ld\nper_identity_median %g\n"
		    "per_identity_max %ld\n", n_img + n_emb, n_img, n_emb, n_id, n_unlab,
		    n_id ? count[0] : 0, median, n_id ? count[n_id - 1] : 0) < 0)
		hm_error_file("-", "write error: %s", strerror(errno));
	else
		rc = 0;
	free(count);
out:
	free(labels);
	return rc;
}
