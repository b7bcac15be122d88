/*
 * modelfile: the .hmm container (layout in modelfile.h and hm-model(5)).
 *
 * Writing validates everything first (names, shapes, finite values), so a
 * refused write creates no file at all, then streams through outfile.h.
 * Reading streams too: the file's length (fstat) bounds every size before
 * anything is allocated, so a corrupt header can never ask for more memory
 * than the file could fill; each entry's CRC is checked as it is read.
 * Tensor data go straight from the file to where the caller wants them
 * (modelfile_read_into()), read and checked by the threads of a team.
 */
#include "modelfile.h"
#include "crc.h"
#include "err.h"
#include "outfile.h"
#include "rec.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const unsigned char magic[4] = { 'H', 'M', 'M', 0x1a };
static const unsigned char end_mark[4] = { 'E', 'N', 'D', 0x1a };

/* Floats converted per chunk between host order and the file's order. */
#define CHUNK 4096

static int host_is_le(void)
{
	uint32_t one = 1;
	unsigned char c;
	memcpy(&c, &one, 1);
	return c == 1;
}

static uLong crc_add(uLong crc, const void *p, size_t n)
{
	return crc_update((uint32_t)crc, p, n);
}

static int valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

int64_t mf_tensor_count(const struct mf_tensor *t)
{
	int64_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= t->shape[i];
	return n;
}

/* Index of the first non-finite value, or -1.  Blocks are tested as bit
 * patterns (all exponent bits set: an infinity or a NaN) without an early
 * exit, which vectorises; only a block that has one is searched. */
static int64_t first_nonfinite(const float *x, int64_t n)
{
	enum { BLOCK = 4096 };
	for (int64_t i = 0; i < n; i += BLOCK) {
		const int64_t m = n - i < BLOCK ? n - i : BLOCK;
		const float *b = x + i;
		uint32_t bad = 0;
#ifdef _OPENMP
#pragma omp simd reduction(|:bad)
#endif
		for (int64_t j = 0; j < m; j++) {
			uint32_t u;
			memcpy(&u, b + j, 4);
			bad |= (u & 0x7f800000u) == 0x7f800000u;
		}
		if (!bad)
			continue;
		for (int64_t j = 0; j < m; j++)
			if (!isfinite(b[j]))
				return i + j;
	}
	return -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first name that occurs twice in NAMES[0..n), or NULL.  Sorts a copy. */
static const char *duplicate(const char **names, int n, int *oom)
{
	*oom = 0;
	if (n < 2)
		return NULL;
	const char **s = malloc((size_t)n * sizeof *s);
	if (!s) {
		*oom = 1;
		return NULL;
	}
	memcpy(s, names, (size_t)n * sizeof *s);
	qsort(s, (size_t)n, sizeof *s, cmp_str);
	const char *dup = NULL;
	for (int i = 1; i < n && !dup; i++)
		if (!strcmp(s[i - 1], s[i]))
			dup = s[i];
	free(s);
	return dup;
}

/* ------------------------------------------------------------------ */
/* Writing */

static int check_entries(const char *path, const struct mf_kv *kv, int n_kv,
			 const struct mf_tensor *t, int n_t)
{
	if (n_kv < 0 || n_kv > MF_MAX_KV)
		return hm_error_file(path, "%d metadata entries (at most %d)", n_kv, MF_MAX_KV);
	if (n_t < 0 || n_t > MF_MAX_TENSORS)
		return hm_error_file(path, "%d tensors (at most %d)", n_t, MF_MAX_TENSORS);
	for (int i = 0; i < n_kv; i++) {
		if (!kv[i].key || !valid_name(kv[i].key, MF_MAX_KEY))
			return hm_error_file(path, "metadata key '%s': empty, longer than %d "
					     "bytes or not printable ASCII without spaces",
					     kv[i].key ? kv[i].key : "", MF_MAX_KEY);
		if (!kv[i].value || strlen(kv[i].value) > MF_MAX_VALUE)
			return hm_error_file(path, "metadata '%s': value missing or longer "
					     "than %d bytes", kv[i].key, MF_MAX_VALUE);
	}
	for (int i = 0; i < n_t; i++) {
		const struct mf_tensor *x = &t[i];
		if (!valid_name(x->name, MF_MAX_NAME))
			return hm_error_file(path, "tensor %d: name '%.*s' empty, longer than "
					     "%d bytes or not printable ASCII without spaces",
					     i, MF_MAX_NAME, x->name, MF_MAX_NAME);
		if (x->ndim < 1 || x->ndim > MF_MAX_DIMS)
			return hm_error_file(path, "tensor '%s': %d dimensions (1 to %d)",
					     x->name, x->ndim, MF_MAX_DIMS);
		for (int d = 0; d < x->ndim; d++)
			if (x->shape[d] < 1 || x->shape[d] > MF_MAX_DIM)
				return hm_error_file(path, "tensor '%s': dimension %d is %lld "
						     "(1 to %lld)", x->name, d,
						     (long long)x->shape[d], MF_MAX_DIM);
		if (!x->data)
			return hm_error_file(path, "tensor '%s': no data", x->name);
		int64_t bad = first_nonfinite(x->data, mf_tensor_count(x));
		if (bad >= 0)
			return hm_error_file(path, "tensor '%s': value %lld is %s; not written",
					     x->name, (long long)bad,
					     isnan(x->data[bad]) ? "NaN" : "infinite");
	}

	int oom;
	const char **names = malloc(((size_t)(n_kv > n_t ? n_kv : n_t) + 1) * sizeof *names);
	if (!names)
		return hm_error_file(path, "out of memory");
	for (int i = 0; i < n_kv; i++)
		names[i] = kv[i].key;
	const char *dup = duplicate(names, n_kv, &oom);
	if (dup || oom) {
		hm_error_file(path, oom ? "out of memory" : "duplicate metadata key '%s'", dup);
		free(names);
		return -1;
	}
	for (int i = 0; i < n_t; i++)
		names[i] = t[i].name;
	dup = duplicate(names, n_t, &oom);
	if (dup || oom)
		hm_error_file(path, oom ? "out of memory" : "duplicate tensor '%s'", dup);
	free(names);
	return dup || oom ? -1 : 0;
}

struct writer {
	FILE *fp;
	uLong crc;
	int failed;
};

static void w_bytes(struct writer *w, const void *p, size_t n)
{
	if (w->failed || n == 0)
		return;
	if (fwrite(p, 1, n, w->fp) != n)
		w->failed = 1;
	w->crc = crc_add(w->crc, p, n);
}

static void w_u32(struct writer *w, uint32_t v)
{
	unsigned char b[4];
	put_u32(b, v);
	w_bytes(w, b, 4);
}

static void w_crc(struct writer *w)
{
	unsigned char b[4];
	put_u32(b, (uint32_t)w->crc);
	w_bytes(w, b, 4);
	w->crc = crc32(0L, Z_NULL, 0);
}

static void w_floats(struct writer *w, const float *x, int64_t n)
{
	if (host_is_le()) {
		/* The bytes already are little-endian float32. */
		for (int64_t i = 0; i < n; i += CHUNK)
			w_bytes(w, x + i, (size_t)(n - i < CHUNK ? n - i : CHUNK) * 4);
		return;
	}
	unsigned char buf[CHUNK * 4];
	for (int64_t i = 0; i < n; i += CHUNK) {
		size_t m = (size_t)(n - i < CHUNK ? n - i : CHUNK);
		for (size_t j = 0; j < m; j++) {
			uint32_t u;
			memcpy(&u, x + i + (int64_t)j, 4);
			put_u32(buf + 4 * j, u);
		}
		w_bytes(w, buf, m * 4);
	}
}

int modelfile_write(const char *path, const struct mf_kv *kv, int n_kv,
		    const struct mf_tensor *tensors, int n_tensors)
{
	if (check_entries(path ? path : "-", kv, n_kv, tensors, n_tensors))
		return -1;
	struct outfile o;
	if (outfile_open(&o, path))
		return -1;
	struct writer w = { o.fp, crc32(0L, Z_NULL, 0), 0 };

	w_bytes(&w, magic, 4);
	w_u32(&w, MF_VERSION);
	w_u32(&w, (uint32_t)n_kv);
	w_u32(&w, (uint32_t)n_tensors);
	for (int i = 0; i < n_kv; i++) {
		size_t nk = strlen(kv[i].key), nv = strlen(kv[i].value);
		w_u32(&w, (uint32_t)nk);
		w_bytes(&w, kv[i].key, nk);
		w_u32(&w, (uint32_t)nv);
		w_bytes(&w, kv[i].value, nv);
	}
	w_crc(&w);
	for (int i = 0; i < n_tensors; i++) {
		const struct mf_tensor *t = &tensors[i];
		size_t nn = strlen(t->name);
		w_u32(&w, (uint32_t)nn);
		w_bytes(&w, t->name, nn);
		w_u32(&w, (uint32_t)t->ndim);
		for (int d = 0; d < t->ndim; d++) {
			unsigned char b[8];
			put_u64(b, (uint64_t)t->shape[d]);
			w_bytes(&w, b, 8);
		}
		w_floats(&w, t->data, mf_tensor_count(t));
		w_crc(&w);
	}
	w_bytes(&w, end_mark, 4);
	if (w.failed) {
		int e = errno ? errno : EIO;
		outfile_abort(&o);
		return hm_error_file(path ? path : "-", "write error: %s", strerror(e));
	}
	return outfile_commit(&o);
}

/* ------------------------------------------------------------------ */
/* Reading */

struct reader {
	FILE *fp;
	const char *path;
	uint64_t size, pos;	/* file length, bytes consumed */
	uLong crc;
	mf_place_fn *place;	/* modelfile_read_into()'s, or NULL */
	void *ctx;
};

#define FAIL(r, ...) hm_error_file((r)->path, __VA_ARGS__)

static uint64_t left(const struct reader *r)
{
	return r->size - r->pos;
}

/* Reads N bytes into P, adding them to the running CRC.  WHAT names the
 * place for the truncation message. */
static int r_bytes(struct reader *r, void *p, size_t n, const char *what)
{
	if (n > left(r))
		return FAIL(r, "truncated in %s (file ends at byte %llu)", what,
			    (unsigned long long)r->size);
	if (n && fread(p, 1, n, r->fp) != n) {
		if (ferror(r->fp))
			return FAIL(r, "read error: %s", strerror(errno));
		return FAIL(r, "truncated in %s (file shrank while reading)", what);
	}
	r->pos += n;
	r->crc = crc_add(r->crc, p, n);
	return 0;
}

static int r_u32(struct reader *r, uint32_t *v, const char *what)
{
	unsigned char b[4];
	if (r_bytes(r, b, 4, what))
		return -1;
	*v = get_u32(b);
	return 0;
}

/* Reads the stored CRC of the bytes since the last check and compares. */
static int r_check_crc(struct reader *r, const char *what)
{
	uint32_t want = (uint32_t)r->crc, got;
	if (r_u32(r, &got, what))
		return -1;
	r->crc = crc32(0L, Z_NULL, 0);
	if (got != want)
		return FAIL(r, "%s: CRC mismatch", what);
	return 0;
}

/* A string of N bytes, NUL-terminated, without NUL inside.  NULL on error. */
static char *r_string(struct reader *r, uint32_t n, const char *what)
{
	if (n > left(r)) {
		FAIL(r, "truncated in %s (file ends at byte %llu)", what,
		     (unsigned long long)r->size);
		return NULL;
	}
	char *s = malloc((size_t)n + 1);
	if (!s) {
		FAIL(r, "out of memory");
		return NULL;
	}
	if (r_bytes(r, s, n, what)) {
		free(s);
		return NULL;
	}
	s[n] = 0;
	if (strlen(s) != n) {
		FAIL(r, "%s: contains a NUL byte", what);
		free(s);
		return NULL;
	}
	return s;
}

static int read_kv(struct reader *r, struct modelfile *mf, uint32_t n_kv)
{
	char what[64 + MF_MAX_KEY];
	mf->kv = calloc(n_kv ? n_kv : 1, sizeof *mf->kv);
	if (!mf->kv)
		return FAIL(r, "out of memory");
	for (uint32_t i = 0; i < n_kv; i++) {
		uint32_t n;
		snprintf(what, sizeof what, "metadata entry %u", i);
		if (r_u32(r, &n, what))
			return -1;
		if (n < 1 || n > MF_MAX_KEY)
			return FAIL(r, "metadata entry %u: key length %u out of range (1 to %d)",
				    i, n, MF_MAX_KEY);
		char *key = r_string(r, n, what);
		if (!key)
			return -1;
		mf->kv[i].key = key;
		mf->n_kv = (int)i + 1;
		if (!valid_name(key, MF_MAX_KEY))
			return FAIL(r, "metadata entry %u: key is not printable ASCII "
				    "without spaces", i);
		snprintf(what, sizeof what, "metadata '%s'", key);
		if (r_u32(r, &n, what))
			return -1;
		if (n > MF_MAX_VALUE)
			return FAIL(r, "metadata '%s': value length %u (at most %d)", key, n,
				    MF_MAX_VALUE);
		if (!(mf->kv[i].value = r_string(r, n, what)))
			return -1;
	}
	return r_check_crc(r, "metadata");
}

static void to_host(float *x, int64_t n)
{
	if (host_is_le())
		return;
	unsigned char *b = (unsigned char *)x;
	for (int64_t i = 0; i < n; i++) {
		uint32_t u = get_u32(b + 4 * i);
		memcpy(x + i, &u, 4);
	}
}

/*
 * Tensor data are read in parts, by a team of threads where there is more
 * than one part, each part in pieces that are added to its CRC and checked
 * for non-finite values while they are in cache.  The parts' CRCs combine
 * into the entry's (crc32_combine()), so neither the bytes nor the checks
 * depend on the number of threads.
 */
#define PIECE_FLOATS (64u << 10)	/* 256 KiB */
#define PART_FLOATS (256u << 10)	/* at least 1 MiB a part */
#define MAX_PARTS 64

struct part {
	uint64_t lo, hi;	/* floats [lo, hi) of the tensor */
	uLong crc;
	int64_t bad;		/* the first non-finite value's index, or -1 */
	int err;		/* a read error's errno, -1 if the file ended, or 0 */
};

/* Reads part S of the data at file offset OFF into X. */
static void read_part(int fd, float *x, uint64_t off, struct part *s)
{
	s->crc = crc32(0L, Z_NULL, 0);
	s->bad = -1;
	s->err = 0;
	for (uint64_t a = s->lo; a < s->hi; a += PIECE_FLOATS) {
		const uint64_t n = s->hi - a < PIECE_FLOATS ? s->hi - a : PIECE_FLOATS;
		unsigned char *p = (unsigned char *)(x + a);
		for (size_t done = 0; done < n * 4;) {
			const off_t at = (off_t)(off + a * 4 + done);
			ssize_t got = pread(fd, p + done, n * 4 - done, at);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				s->err = got < 0 ? errno : -1;
				return;
			}
			done += (size_t)got;
		}
		s->crc = crc_add(s->crc, p, n * 4);
		to_host(x + a, (int64_t)n);
		int64_t k = s->bad < 0 ? first_nonfinite(x + a, (int64_t)n) : -1;
		if (k >= 0)
			s->bad = (int64_t)a + k;
	}
}

/* Reads the COUNT floats at the reader's position into X (COUNT * 4 bytes
 * are left: read_tensor() checked), adding them to the running CRC; *BAD:
 * the first non-finite value's index, or -1.  Errors as r_bytes(). */
static int read_data(struct reader *r, float *x, uint64_t count, const char *what,
		     int64_t *bad)
{
	struct part s[MAX_PARTS];
	uint64_t per = (count + MAX_PARTS - 1) / MAX_PARTS;
	per = per < PART_FLOATS ? PART_FLOATS : per;
	const int n = (int)((count + per - 1) / per);
	const int fd = fileno(r->fp);
	const uint64_t off = r->pos;
	for (int i = 0; i < n; i++) {
		s[i].lo = (uint64_t)i * per;
		s[i].hi = count - s[i].lo < per ? count : s[i].lo + per;
	}
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (n > 1)
#endif
	for (int i = 0; i < n; i++)
		read_part(fd, x, off, &s[i]);
	*bad = -1;
	for (int i = 0; i < n; i++) {
		if (s[i].err > 0)
			return FAIL(r, "read error: %s", strerror(s[i].err));
		if (s[i].err < 0)
			return FAIL(r, "truncated in %s (file shrank while reading)", what);
		r->crc = crc32_combine(r->crc, s[i].crc, (z_off_t)((s[i].hi - s[i].lo) * 4));
		if (*bad < 0)
			*bad = s[i].bad;
	}
	r->pos += count * 4;
	/* the stream goes on after the data (its buffer is dropped) */
	if (fseeko(r->fp, (off_t)r->pos, SEEK_SET))
		return FAIL(r, "read error: %s", strerror(errno));
	return 0;
}

static int read_tensor(struct reader *r, struct modelfile *mf, struct mf_tensor *t,
		       uint32_t index)
{
	char what[64 + MF_MAX_NAME];
	uint32_t n, ndim;
	snprintf(what, sizeof what, "tensor %u", index);
	if (r_u32(r, &n, what))
		return -1;
	if (n < 1 || n > MF_MAX_NAME)
		return FAIL(r, "tensor %u: name length %u out of range (1 to %d)", index, n,
			    MF_MAX_NAME);
	if (r_bytes(r, t->name, n, what))
		return -1;
	t->name[n] = 0;
	if (!valid_name(t->name, MF_MAX_NAME))
		return FAIL(r, "tensor %u: name is not printable ASCII without spaces", index);
	snprintf(what, sizeof what, "tensor '%s'", t->name);
	if (r_u32(r, &ndim, what))
		return -1;
	if (ndim < 1 || ndim > MF_MAX_DIMS)
		return FAIL(r, "tensor '%s': %u dimensions (1 to %d)", t->name, ndim,
			    MF_MAX_DIMS);
	t->ndim = (int)ndim;
	uint64_t count = 1;
	for (uint32_t d = 0; d < ndim; d++) {
		unsigned char b[8];
		if (r_bytes(r, b, 8, what))
			return -1;
		uint64_t v = get_u64(b);
		if (v < 1 || v > (uint64_t)MF_MAX_DIM)
			return FAIL(r, "tensor '%s': dimension %u is %llu (1 to %lld)", t->name,
				    d, (unsigned long long)v, MF_MAX_DIM);
		t->shape[d] = (int64_t)v;
		/* count <= left/4 < 2^62 and v < 2^31: the product cannot wrap. */
		count *= v;
		if (count > left(r) / 4)
			return FAIL(r, "tensor '%s': shape needs more bytes than the %llu "
				    "left in the file (truncated or corrupt)", t->name,
				    (unsigned long long)left(r));
	}
	t->data = r->place ? r->place(r->ctx, mf, t) : NULL;
	mf->placed[index] = t->data != NULL;
	if (!t->data)
		t->data = malloc(count * 4);
	if (!t->data)
		return FAIL(r, "tensor '%s': out of memory for %llu floats", t->name,
			    (unsigned long long)count);
	snprintf(what, sizeof what, "tensor '%s' data", t->name);
	int64_t bad;
	if (read_data(r, t->data, count, what, &bad))
		return -1;
	snprintf(what, sizeof what, "tensor '%s'", t->name);
	if (r_check_crc(r, what))
		return -1;
	if (bad >= 0)
		return FAIL(r, "tensor '%s': value %lld is %s", t->name, (long long)bad,
			    isnan(t->data[bad]) ? "NaN" : "infinite");
	return 0;
}

static int read_all(struct reader *r, struct modelfile *mf)
{
	unsigned char h[16];
	if (r_bytes(r, h, 16, "header"))
		return -1;
	if (memcmp(h, magic, 4))
		return FAIL(r, "not an hm model file (bad magic)");
	uint32_t version = get_u32(h + 4), n_kv = get_u32(h + 8), n_t = get_u32(h + 12);
	if (version != MF_VERSION)
		return FAIL(r, "model file version %u not supported (this hm reads version "
			    "%d; was it written by a %s hm?)", version, MF_VERSION,
			    version > MF_VERSION ? "newer" : "different");
	if (n_kv > MF_MAX_KV)
		return FAIL(r, "%u metadata entries (at most %d)", n_kv, MF_MAX_KV);
	if (n_t > MF_MAX_TENSORS)
		return FAIL(r, "%u tensors (at most %d)", n_t, MF_MAX_TENSORS);
	/* Each entry takes at least 8 (key-value) or 20 (tensor) bytes. */
	if ((uint64_t)n_kv * 8 + (uint64_t)n_t * 20 > left(r))
		return FAIL(r, "%u metadata entries and %u tensors cannot fit in %llu bytes "
			    "(truncated or corrupt)", n_kv, n_t, (unsigned long long)r->size);
	if (read_kv(r, mf, n_kv))
		return -1;

	mf->tensors = calloc(n_t ? n_t : 1, sizeof *mf->tensors);
	mf->placed = calloc(n_t ? n_t : 1, 1);
	if (!mf->tensors || !mf->placed)
		return FAIL(r, "out of memory");
	for (uint32_t i = 0; i < n_t; i++) {
		mf->n_tensors = (int)i + 1;
		if (read_tensor(r, mf, &mf->tensors[i], i))
			return -1;
	}

	unsigned char e[4];
	if (r_bytes(r, e, 4, "end marker"))
		return -1;
	if (memcmp(e, end_mark, 4))
		return FAIL(r, "no end marker after the last tensor (corrupt)");
	if (left(r) || fgetc(r->fp) != EOF)
		return FAIL(r, "%llu bytes after the end marker",
			    (unsigned long long)(left(r) ? left(r) : 1));

	/* Duplicates last: the names are all in memory now. */
	int oom;
	const char **names = malloc(((size_t)(n_kv > n_t ? n_kv : n_t) + 1) * sizeof *names);
	if (!names)
		return FAIL(r, "out of memory");
	for (uint32_t i = 0; i < n_kv; i++)
		names[i] = mf->kv[i].key;
	const char *kind = "metadata key";
	const char *dup = duplicate(names, (int)n_kv, &oom);
	if (!dup && !oom) {
		for (uint32_t i = 0; i < n_t; i++)
			names[i] = mf->tensors[i].name;
		kind = "tensor";
		dup = duplicate(names, (int)n_t, &oom);
	}
	free(names);
	if (oom)
		return FAIL(r, "out of memory");
	if (dup)
		return FAIL(r, "duplicate %s '%s'", kind, dup);
	return 0;
}

int modelfile_read(struct modelfile *mf, const char *path)
{
	return modelfile_read_into(mf, path, NULL, NULL);
}

int modelfile_read_into(struct modelfile *mf, const char *path, mf_place_fn *place, void *ctx)
{
	memset(mf, 0, sizeof *mf);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return hm_error_file(path, "cannot open: %s", strerror(errno));
	struct stat st;
	if (fstat(fileno(fp), &st)) {
		int e = errno;
		fclose(fp);
		return hm_error_file(path, "cannot stat: %s", strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		fclose(fp);
		return hm_error_file(path, "not a regular file (a model must be a file)");
	}
	struct reader r = { fp, path, (uint64_t)st.st_size, 0, crc32(0L, Z_NULL, 0), place, ctx };
	int rc = read_all(&r, mf);
	fclose(fp);
	if (rc)
		modelfile_free(mf);
	return rc;
}

void modelfile_free(struct modelfile *mf)
{
	if (mf->kv)
		for (int i = 0; i < mf->n_kv; i++) {
			free(mf->kv[i].key);
			free(mf->kv[i].value);
		}
	if (mf->tensors)
		for (int i = 0; i < mf->n_tensors; i++)
			if (!mf->placed || !mf->placed[i])
				free(mf->tensors[i].data);
	free(mf->kv);
	free(mf->tensors);
	free(mf->placed);
	memset(mf, 0, sizeof *mf);
}

const char *modelfile_get(const struct modelfile *mf, const char *key)
{
	for (int i = 0; i < mf->n_kv; i++)
		if (!strcmp(mf->kv[i].key, key))
			return mf->kv[i].value;
	return NULL;
}

const struct mf_tensor *modelfile_find(const struct modelfile *mf, const char *name)
{
	for (int i = 0; i < mf->n_tensors; i++)
		if (!strcmp(mf->tensors[i].name, name))
			return &mf->tensors[i];
	return NULL;
}
