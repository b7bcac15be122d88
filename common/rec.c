#include "rec.h"
#include "err.h"
#include "outfile.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const unsigned char rec_magic[4] = { 'H', 'M', 'R', 0x1a };
static const unsigned char idx_magic[4] = { 'H', 'M', 'I', 0x1a };
#define REC_VERSION 1
#define IDX_VERSION 1
#define IDX_HEADER 32
#define IDX_ENTRY 16

void rec_reader_init(struct rec_reader *r, FILE *fp, const char *name)
{
	memset(r, 0, sizeof *r);
	r->fp = fp;
	r->name = name ? name : "-";
}

void record_release(struct record *rec)
{
	free(rec->buf);
	free(rec->fbuf);
	memset(rec, 0, sizeof *rec);
}

/* zlib's crc32() restarts from 0 when given a NULL buffer: skip empty parts. */
static uLong crc_more(uLong crc, const void *p, size_t n)
{
	return n ? crc32(crc, p, (uInt)n) : crc;
}

/* Reads exactly n bytes.  Returns 1, 0 at EOF before any byte, -1 on a short read. */
static int read_full(struct rec_reader *r, void *p, size_t n)
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

static int parse_image(struct rec_reader *r, struct record *rec,
		       const unsigned char *body, size_t n, long idx)
{
	if (n < REC_IMAGE_HEAD)
		return FAIL(r, "record %ld: image body too short (%zu bytes)", idx, n);
	rec->width = get_u16(body);
	rec->height = get_u16(body + 2);
	rec->channels = body[4];
	rec->encoding = body[5];
	rec->pixels = body + REC_IMAGE_HEAD;
	rec->n_pixels = n - REC_IMAGE_HEAD;
	if (rec->width < 1 || rec->height < 1 || rec->width > REC_MAX_SIDE ||
	    rec->height > REC_MAX_SIDE)
		return FAIL(r, "record %ld: bad image size %dx%d", idx, rec->width,
			    rec->height);
	if (rec->channels != 1 && rec->channels != 3)
		return FAIL(r, "record %ld: bad channel count %d", idx, rec->channels);
	if (rec->encoding == REC_RAW) {
		size_t want = (size_t)rec->width * rec->height * rec->channels;
		if (rec->n_pixels != want)
			return FAIL(r, "record %ld: raw image has %zu bytes, %dx%dx%d needs %zu",
				    idx, rec->n_pixels, rec->width, rec->height,
				    rec->channels, want);
	} else if (rec->encoding != REC_JPEG) {
		return FAIL(r, "record %ld: unknown image encoding %d", idx, rec->encoding);
	}
	return 0;
}

static int parse_embed(struct rec_reader *r, struct record *rec,
		       const unsigned char *body, size_t n, long idx)
{
	if (n < REC_EMBED_HEAD)
		return FAIL(r, "record %ld: embedding body too short", idx);
	uint32_t dim = get_u32(body);
	if (dim < 1 || dim > REC_MAX_DIM || n != REC_EMBED_HEAD + 4 * (size_t)dim)
		return FAIL(r, "record %ld: bad embedding dimension %u for %zu bytes",
			    idx, dim, n);
	if (buf_reserve((void **)&rec->fbuf, &rec->fcap, 4 * (size_t)dim, 1))
		return -1;
	for (uint32_t i = 0; i < dim; i++) {
		union { uint32_t u; float f; } v = { get_u32(body + 4 + 4 * i) };
		rec->fbuf[i] = v.f;
	}
	rec->dim = (int)dim;
	rec->values = rec->fbuf;
	return 0;
}

/* Reads one record of any kind.  1 = got one, 0 = EOF at a boundary, -1 = error. */
static int read_one(struct rec_reader *r, struct record *rec)
{
	unsigned char h[REC_HEADER_SIZE];
	long idx = r->n_records;
	uint64_t start = r->pos;
	int got = read_full(r, h, sizeof h);
	if (got == 0)
		return 0;
	if (got == -2)
		return FAIL(r, "record %ld: truncated header at byte %llu", idx,
			    (unsigned long long)start);
	if (got < 0)
		return -1;
	if (memcmp(h, rec_magic, 4))
		return FAIL(r, "record %ld: bad magic at byte %llu (not an hm record stream)",
			    idx, (unsigned long long)start);
	unsigned version = get_u16(h + 4);
	if (version != REC_VERSION)
		return FAIL(r, "record %ld: unsupported version %u (this build reads %d; "
			    "a newer hm suite wrote it?)", idx, version, REC_VERSION);
	unsigned kind = get_u16(h + 6);
	uint32_t key_len = get_u32(h + 8), body_len = get_u32(h + 12);
	if (kind > REC_EMBED)
		return FAIL(r, "record %ld: unknown record kind %u", idx, kind);
	if (key_len > REC_MAX_KEY)
		return FAIL(r, "record %ld: key length %u exceeds limit %d", idx,
			    key_len, REC_MAX_KEY);
	if (body_len > REC_MAX_BODY)
		return FAIL(r, "record %ld: body length %u exceeds limit %u", idx,
			    body_len, REC_MAX_BODY);
	if (kind == REC_END && (key_len || body_len))
		return FAIL(r, "record %ld: end marker with a payload", idx);
	size_t n = (size_t)key_len + 1 + body_len + 8;
	if (buf_reserve((void **)&rec->buf, &rec->cap, n, 1))
		return -1;
	/* Key at buf, NUL after it, body 8-aligned after that. */
	size_t body_at = ((size_t)key_len + 1 + 7) & ~(size_t)7;
	if (key_len && read_full(r, rec->buf, key_len) != 1)
		return FAIL(r, "record %ld: truncated key", idx);
	rec->buf[key_len] = '\0';
	unsigned char *body = rec->buf + body_at;
	if (body_len && read_full(r, body, body_len) != 1)
		return FAIL(r, "record %ld ('%s'): truncated body", idx, (char *)rec->buf);
	uLong crc = crc32(0L, h, 20);
	crc = crc_more(crc, rec->buf, key_len);
	crc = crc_more(crc, body, body_len);
	if ((uint32_t)crc != get_u32(h + 20))
		return FAIL(r, "record %ld ('%s'): CRC mismatch", idx, (char *)rec->buf);
	if (memchr(rec->buf, '\0', key_len))
		return FAIL(r, "record %ld: key contains a NUL byte", idx);
	rec->kind = (int)kind;
	rec->label = (int32_t)get_u32(h + 16);
	rec->offset = start;
	rec->key = (const char *)rec->buf;
	rec->pixels = NULL;
	rec->n_pixels = 0;
	rec->values = NULL;
	rec->width = rec->height = rec->channels = rec->encoding = rec->dim = 0;
	if (kind == REC_IMAGE && parse_image(r, rec, body, body_len, idx))
		return -1;
	if (kind == REC_EMBED && parse_embed(r, rec, body, body_len, idx))
		return -1;
	return 1;
}

int rec_read(struct rec_reader *r, struct record *rec)
{
	for (;;) {
		int got = read_one(r, rec);
		if (got < 0)
			return -1;
		if (got == 0) {
			if (r->after_end)
				return 0;
			return FAIL(r, "truncated: input ends after %ld records without an "
				    "end-of-stream record", r->n_records);
		}
		if (rec->kind == REC_END) {
			r->after_end = 1;
			continue;
		}
		r->after_end = 0;
		r->n_records++;
		return 1;
	}
}

int rec_read_at(struct rec_reader *r, uint64_t offset, struct record *rec)
{
	if (fseeko(r->fp, (off_t)offset, SEEK_SET))
		return FAIL(r, "cannot seek to byte %llu: %s",
			    (unsigned long long)offset, strerror(errno));
	r->pos = offset;
	int got = read_one(r, rec);
	if (got == 0 || (got == 1 && rec->kind == REC_END))
		return FAIL(r, "no record at byte %llu (stale index?)",
			    (unsigned long long)offset);
	return got < 0 ? -1 : 0;
}

static int write_record(FILE *fp, int kind, const char *key, int32_t label,
			const unsigned char *head, size_t n_head,
			const void *data, size_t n_data)
{
	size_t key_len = key ? strlen(key) : 0;
	size_t body_len = n_head + n_data;
	if (key_len > REC_MAX_KEY)
		return hm_error("'%s': key longer than %d bytes", key, REC_MAX_KEY);
	if (body_len > REC_MAX_BODY)
		return hm_error("'%s': record body of %zu bytes exceeds limit %u",
				key ? key : "", body_len, REC_MAX_BODY);
	unsigned char h[REC_HEADER_SIZE];
	memcpy(h, rec_magic, 4);
	put_u16(h + 4, REC_VERSION);
	put_u16(h + 6, (uint16_t)kind);
	put_u32(h + 8, (uint32_t)key_len);
	put_u32(h + 12, (uint32_t)body_len);
	put_u32(h + 16, (uint32_t)label);
	uLong crc = crc32(0L, h, 20);
	crc = crc_more(crc, key, key_len);
	crc = crc_more(crc, head, n_head);
	crc = crc_more(crc, data, n_data);
	put_u32(h + 20, (uint32_t)crc);
	if (fwrite(h, 1, sizeof h, fp) != sizeof h ||
	    (key_len && fwrite(key, 1, key_len, fp) != key_len) ||
	    (n_head && fwrite(head, 1, n_head, fp) != n_head) ||
	    (n_data && fwrite(data, 1, n_data, fp) != n_data))
		return hm_error("write error: %s", strerror(errno));
	return 0;
}

int rec_write_image(FILE *fp, const char *key, int32_t label, int width,
		    int height, int channels, int encoding,
		    const void *pixels, size_t n_pixels)
{
	if (width < 1 || height < 1 || width > REC_MAX_SIDE || height > REC_MAX_SIDE)
		return hm_error("'%s': bad image size %dx%d", key, width, height);
	if (channels != 1 && channels != 3)
		return hm_error("'%s': bad channel count %d", key, channels);
	if (encoding == REC_RAW &&
	    n_pixels != (size_t)width * height * channels)
		return hm_error("'%s': raw image size does not match %dx%dx%d", key,
				width, height, channels);
	unsigned char head[REC_IMAGE_HEAD] = { 0 };
	put_u16(head, (uint16_t)width);
	put_u16(head + 2, (uint16_t)height);
	head[4] = (unsigned char)channels;
	head[5] = (unsigned char)encoding;
	return write_record(fp, REC_IMAGE, key, label, head, sizeof head, pixels,
			    n_pixels);
}

int rec_write_embed(FILE *fp, const char *key, int32_t label,
		    const float *values, int dim)
{
	if (dim < 1 || dim > REC_MAX_DIM)
		return hm_error("'%s': bad embedding dimension %d", key, dim);
	unsigned char head[REC_EMBED_HEAD];
	put_u32(head, (uint32_t)dim);
	unsigned char *le = malloc(4 * (size_t)dim);
	if (!le)
		return hm_error("out of memory");
	for (int i = 0; i < dim; i++) {
		union { float f; uint32_t u; } v = { values[i] };
		put_u32(le + 4 * i, v.u);
	}
	int rc = write_record(fp, REC_EMBED, key, label, head, sizeof head, le,
			      4 * (size_t)dim);
	free(le);
	return rc;
}

int rec_write_end(FILE *fp)
{
	return write_record(fp, REC_END, NULL, -1, NULL, 0, NULL, 0);
}

void rec_index_free(struct rec_index *ix)
{
	free(ix->offset);
	free(ix->label);
	memset(ix, 0, sizeof *ix);
}

int rec_index_push(struct rec_index *ix, long *cap, uint64_t off, int32_t label)
{
	if (ix->n == *cap) {
		long n = *cap ? 2 * *cap : 1024;
		uint64_t *o = realloc(ix->offset, n * sizeof *o);
		if (o)
			ix->offset = o;
		int32_t *l = realloc(ix->label, n * sizeof *l);
		if (l)
			ix->label = l;
		if (!o || !l)
			return hm_error("out of memory");
		*cap = n;
	}
	ix->offset[ix->n] = off;
	ix->label[ix->n] = label;
	ix->n++;
	return 0;
}

int rec_index_build(struct rec_index *ix, FILE *fp, const char *name)
{
	struct rec_reader r;
	struct record rec = { 0 };
	long cap = 0;
	int got;
	memset(ix, 0, sizeof *ix);
	rec_reader_init(&r, fp, name);
	while ((got = rec_read(&r, &rec)) == 1)
		if (rec_index_push(ix, &cap, rec.offset, rec.label)) {
			got = -1;
			break;
		}
	record_release(&rec);
	if (got < 0) {
		rec_index_free(ix);
		return -1;
	}
	ix->stream_size = r.pos;
	return 0;
}

int rec_index_save(const struct rec_index *ix, const char *path)
{
	size_t n = IDX_HEADER + (size_t)ix->n * IDX_ENTRY;
	unsigned char *buf = calloc(1, n);
	if (!buf)
		return hm_error("out of memory");
	unsigned char *e = buf + IDX_HEADER;
	for (long i = 0; i < ix->n; i++, e += IDX_ENTRY) {
		put_u64(e, ix->offset[i]);
		put_u32(e + 8, (uint32_t)ix->label[i]);
	}
	memcpy(buf, idx_magic, 4);
	put_u16(buf + 4, IDX_VERSION);
	put_u64(buf + 8, (uint64_t)ix->n);
	put_u64(buf + 16, ix->stream_size);
	put_u32(buf + 24, (uint32_t)crc32(0L, buf + IDX_HEADER, (uInt)(n - IDX_HEADER)));
	int rc = outfile_write_all(path, buf, n);
	free(buf);
	return rc;
}

int rec_index_load(struct rec_index *ix, const char *path)
{
	memset(ix, 0, sizeof *ix);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return hm_error_file(path, "cannot open: %s", strerror(errno));
	struct stat st;
	unsigned char h[IDX_HEADER];
	int rc = -1;
	unsigned char *buf = NULL;
	if (fstat(fileno(fp), &st) || fread(h, 1, sizeof h, fp) != sizeof h) {
		hm_error_file(path, "truncated index header");
		goto out;
	}
	if (memcmp(h, idx_magic, 4)) {
		hm_error_file(path, "bad magic (not an hm index)");
		goto out;
	}
	if (get_u16(h + 4) != IDX_VERSION) {
		hm_error_file(path, "unsupported index version %u", get_u16(h + 4));
		goto out;
	}
	uint64_t count = get_u64(h + 8);
	if (count > (uint64_t)(st.st_size - IDX_HEADER) / IDX_ENTRY ||
	    (uint64_t)st.st_size != IDX_HEADER + count * IDX_ENTRY) {
		hm_error_file(path, "index claims %llu entries but has %lld bytes",
			      (unsigned long long)count, (long long)st.st_size);
		goto out;
	}
	size_t n = (size_t)count * IDX_ENTRY;
	buf = malloc(n ? n : 1);
	ix->offset = malloc((count ? count : 1) * sizeof *ix->offset);
	ix->label = malloc((count ? count : 1) * sizeof *ix->label);
	if (!buf || !ix->offset || !ix->label) {
		hm_error("out of memory");
		goto out;
	}
	if (fread(buf, 1, n, fp) != n) {
		hm_error_file(path, "truncated index");
		goto out;
	}
	if ((uint32_t)crc32(0L, buf, (uInt)n) != get_u32(h + 24)) {
		hm_error_file(path, "index CRC mismatch");
		goto out;
	}
	for (uint64_t i = 0; i < count; i++) {
		ix->offset[i] = get_u64(buf + i * IDX_ENTRY);
		ix->label[i] = (int32_t)get_u32(buf + i * IDX_ENTRY + 8);
	}
	ix->n = (long)count;
	ix->stream_size = get_u64(h + 16);
	rc = 0;
out:
	free(buf);
	fclose(fp);
	if (rc)
		rec_index_free(ix);
	return rc;
}
