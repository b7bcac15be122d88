/*
 * packsrc.c: the input readers of packsrc.h.  Trees and CSV lists become a
 * list of entries (path, key, label) checked for unique keys up front;
 * record streams and RecordIO files are read through an index (built,
 * or MXNet's .idx) when items are wanted by index, else in order; a .bin
 * is read whole into memory.
 */
#include "packsrc.h"
#include "csvio.h"
#include "err.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 32			/* folder levels below an identity */
#define MAX_BIN ((size_t)4 << 30)	/* a .bin read into memory */

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

/* ---------------------------------------------------------------- sources */

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

void source_close(struct source *s)
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

int source_open(struct source *s, const char *input, enum pack_from from,
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

int source_get(struct source *s, long i, struct item *it)
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

int source_next(struct source *s, struct item *it)
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
