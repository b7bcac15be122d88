#include "mxrec.h"
#include "err.h"
#include "rec.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define MAX_IDX_LINE 256

void mxrec_reader_init(struct mxrec_reader *r, FILE *fp, const char *name)
{
	memset(r, 0, sizeof *r);
	r->fp = fp;
	r->name = name ? name : "-";
}

void mxrec_reader_release(struct mxrec_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

/* Reads exactly N bytes: 1, 0 at EOF before any byte, -2 short, -1 error. */
static int read_full(struct mxrec_reader *r, void *p, size_t n)
{
	size_t got = fread(p, 1, n, r->fp);
	r->pos += got;
	if (got == n)
		return 1;
	if (ferror(r->fp))
		return hm_error_file(r->name, "read error: %s", strerror(errno));
	return got == 0 ? 0 : -2;
}

#define FAIL(r, ...) hm_error_file((r)->name, __VA_ARGS__)

int mxrec_read(struct mxrec_reader *r, const unsigned char **data, size_t *n,
	       uint64_t *offset)
{
	long idx = r->n_records;
	uint64_t start = r->pos;
	size_t size = 0;
	int part = 0;
	unsigned char magic_bytes[4] = { 0 };
	for (;; part++) {
		unsigned char h[8];
		uint64_t at = r->pos;
		int got = read_full(r, h, sizeof h);
		if (got == 0 && part == 0)
			return 0;
		if (got == -1)
			return -1;
		if (got != 1)
			return FAIL(r, "record %ld: truncated (the file ends inside it, at byte %llu)",
				    idx, (unsigned long long)r->pos);
		uint32_t magic = get_u32(h), lrec = get_u32(h + 4);
		uint32_t cflag, len;
		if (magic == MXREC_MAGIC) {
			cflag = lrec >> 29;
			len = lrec & ((1u << 29) - 1);
		} else if (magic == MXREC_MAGIC_OLD) {
			cflag = lrec >> 30;
			len = lrec & ((1u << 30) - 1);
		} else {
			return FAIL(r, "record %ld: bad magic 0x%08x at byte %llu (not an MXNet "
				    "RecordIO file, or a wrong offset in its .idx)",
				    idx, magic, (unsigned long long)at);
		}
		if (cflag > 3)
			return FAIL(r, "record %ld: bad continuation flag %u at byte %llu",
				    idx, cflag, (unsigned long long)at);
		if (part == 0 && (cflag == 2 || cflag == 3))
			return FAIL(r, "record %ld: continuation part (flag %u) without a start "
				    "at byte %llu", idx, cflag, (unsigned long long)at);
		if (part > 0 && (cflag == 0 || cflag == 1))
			return FAIL(r, "record %ld: part of a split record has flag %u at byte %llu "
				    "(expected 2 or 3)", idx, cflag, (unsigned long long)at);
		/* The bytes this part adds; checked before allocating. */
		size_t pad = ((size_t)len + 3) & ~(size_t)3;
		if ((uint64_t)size + len + (cflag == 1 || cflag == 2 ? 4 : 0) > MXREC_MAX_RECORD)
			return FAIL(r, "record %ld: longer than the limit of %u bytes", idx,
				    MXREC_MAX_RECORD);
		if (part == 0)
			memcpy(magic_bytes, h, 4);
		/* Grow as the bytes arrive (1 MiB at a time), so a length in a
		 * short file cannot make us allocate the whole limit. */
		for (size_t done = 0, step; done < pad || !pad; done += step) {
			step = pad - done < (1u << 20) ? pad - done : (1u << 20);
			if (buf_reserve((void **)&r->buf, &r->cap, size + done + step + 4, 1))
				return -1;
			if (!pad)
				break;
			if (read_full(r, r->buf + size + done, step) != 1) {
				if (ferror(r->fp))
					return -1;
				return FAIL(r, "record %ld: truncated (the file ends inside it, "
					    "at byte %llu)", idx, (unsigned long long)r->pos);
			}
		}
		size += len;
		if (cflag == 0 || cflag == 3)
			break;
		/* The writer dropped a magic here when it split the record. */
		memcpy(r->buf + size, magic_bytes, 4);
		size += 4;
	}
	r->n_records++;
	*data = r->buf;
	*n = size;
	if (offset)
		*offset = start;
	return 1;
}

int mxrec_read_at(struct mxrec_reader *r, uint64_t offset, long recno,
		  const unsigned char **data, size_t *n)
{
	if (offset > (uint64_t)INT64_MAX || fseeko(r->fp, (off_t)offset, SEEK_SET))
		return FAIL(r, "record %ld: cannot seek to byte %llu: %s", recno,
			    (unsigned long long)offset, strerror(errno ? errno : EINVAL));
	r->pos = offset;
	r->n_records = recno;
	int got = mxrec_read(r, data, n, NULL);
	if (got == 0)
		return FAIL(r, "record %ld: no record at byte %llu (the file ends there)",
			    recno, (unsigned long long)offset);
	return got < 0 ? -1 : 0;
}

int mxrec_unpack(struct mxrec_header *h, const unsigned char *data, size_t n)
{
	memset(h, 0, sizeof *h);
	if (n < MXREC_HEADER_SIZE)
		return hm_error("record too short for an image record header (%zu bytes)", n);
	h->flag = get_u32(data);
	union { uint32_t u; float f; } v = { get_u32(data + 4) };
	h->label = v.f;
	h->id = get_u64(data + 8);
	h->id2 = get_u64(data + 16);
	size_t rest = n - MXREC_HEADER_SIZE;
	if (h->flag > 0 && (uint64_t)h->flag * 4 > rest)
		return hm_error("header announces %u labels but only %zu bytes follow",
				h->flag, rest);
	h->n_labels = h->flag;
	h->labels = data + MXREC_HEADER_SIZE;
	h->payload = h->labels + 4 * (size_t)h->n_labels;
	h->n_payload = rest - 4 * (size_t)h->n_labels;
	return 0;
}

float mxrec_label_at(const struct mxrec_header *h, uint32_t i)
{
	union { uint32_t u; float f; } v = { get_u32(h->labels + 4 * (size_t)i) };
	return v.f;
}

float mxrec_class(const struct mxrec_header *h)
{
	return h->flag > 0 ? mxrec_label_at(h, 0) : h->label;
}

void mxrec_index_free(struct mxrec_index *ix)
{
	free(ix->key);
	free(ix->offset);
	free(ix->by_key);
	memset(ix, 0, sizeof *ix);
}

/* Parses an integer with optional sign; whole string.  0 or -1. */
static int parse_i64(const char *s, int64_t *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*v = x;
	return 0;
}

static int by_key_cmp(const void *a, const void *b, void *arg)
{
	const int64_t *key = arg;
	long i = *(const long *)a, j = *(const long *)b;
	int64_t ki = key[i], kj = key[j];
	if (ki != kj)
		return ki < kj ? -1 : 1;
	return (i > j) - (i < j);
}

int mxrec_index_load(struct mxrec_index *ix, const char *path)
{
	memset(ix, 0, sizeof *ix);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return hm_error_file(path, "cannot open: %s", strerror(errno));
	char line[MAX_IDX_LINE + 2];
	long cap = 0, lineno = 0;
	int rc = -1;
	while (fgets(line, sizeof line, fp)) {
		lineno++;
		size_t len = strlen(line);
		if (len == sizeof line - 1 && line[len - 1] != '\n') {
			hm_error_file(path, "line %ld: longer than %d bytes", lineno, MAX_IDX_LINE);
			goto out;
		}
		/* Python: line.strip().split('\t') -> key, offset. */
		char *s = line, *e = line + len;
		while (s < e && strchr(" \t\r\n\v\f", *s))
			s++;
		while (e > s && strchr(" \t\r\n\v\f", e[-1]))
			e--;
		*e = '\0';
		if (s == e)
			continue;	/* blank line */
		char *tab = strchr(s, '\t');
		int64_t key, off;
		if (!tab || strchr(tab + 1, '\t')) {
			hm_error_file(path, "line %ld: expected 'key<TAB>offset'", lineno);
			goto out;
		}
		*tab = '\0';
		if (parse_i64(s, &key) || parse_i64(tab + 1, &off) || off < 0) {
			hm_error_file(path, "line %ld: expected 'key<TAB>offset' with integers",
				      lineno);
			goto out;
		}
		if (ix->n == cap) {
			long ncap = cap ? 2 * cap : 1024;
			int64_t *k = realloc(ix->key, ncap * sizeof *k);
			if (k)
				ix->key = k;
			uint64_t *o = realloc(ix->offset, ncap * sizeof *o);
			if (o)
				ix->offset = o;
			if (!k || !o) {
				hm_error("out of memory");
				goto out;
			}
			cap = ncap;
		}
		ix->key[ix->n] = key;
		ix->offset[ix->n] = (uint64_t)off;
		ix->n++;
	}
	if (ferror(fp)) {
		hm_error_file(path, "read error: %s", strerror(errno));
		goto out;
	}
	ix->by_key = malloc((ix->n ? ix->n : 1) * sizeof *ix->by_key);
	if (!ix->by_key) {
		hm_error("out of memory");
		goto out;
	}
	for (long i = 0; i < ix->n; i++)
		ix->by_key[i] = i;
	qsort_r(ix->by_key, ix->n, sizeof *ix->by_key, by_key_cmp, ix->key);
	rc = 0;
out:
	fclose(fp);
	if (rc)
		mxrec_index_free(ix);
	return rc;
}

long mxrec_index_find(const struct mxrec_index *ix, int64_t key)
{
	/* The last line with KEY: the first position whose key is greater, minus one. */
	long lo = 0, hi = ix->n;
	while (lo < hi) {
		long mid = lo + (hi - lo) / 2;
		if (ix->key[ix->by_key[mid]] <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || ix->key[ix->by_key[lo - 1]] != key)
		return -1;
	return ix->by_key[lo - 1];
}
