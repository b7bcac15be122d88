/*
 * rec: record streams (.hmr) and their index (.hmi).  Byte layout: hm-records(5).
 *
 * A stream is a concatenation of self-describing records, each a 24-byte
 * little-endian header, a key and a body, with a CRC-32 (zlib) over all of
 * them.  Kinds: image (raw pixels or JPEG), embedding (float32 vector), and
 * the end-of-stream marker a writer puts last.  `cat a.hmr b.hmr` is a valid
 * stream: a reader accepts end markers between streams and reports input that
 * stops without one as truncated.
 *
 * Reading: rec_reader_init() on an open FILE, then rec_read() until it returns
 * 0 (clean end) or -1 (error recorded, naming the file and record number).
 * Every size is checked against the REC_MAX_* limits before allocating.
 * The struct record owns one growing buffer; key, pixels and values point
 * into it and stay valid until the next rec_read() into the same record.
 * Release with record_release().
 *
 * Writing: rec_write_image(), rec_write_embed(), rec_write_end() append to a
 * FILE and return 0 or -1.  They buffer through stdio: check the final
 * fflush/fclose (or use outfile.h).
 *
 * Index: rec_index_build() scans a stream; rec_index_save()/rec_index_load()
 * write and read the .hmi file (offsets, labels), which records the stream's
 * size so a stale index is detected.
 */
#ifndef HM_REC_H
#define HM_REC_H

#include <stdint.h>
#include <stdio.h>

enum rec_kind { REC_END = 0, REC_IMAGE = 1, REC_EMBED = 2 };
enum rec_encoding { REC_RAW = 0, REC_JPEG = 1 };

#define REC_HEADER_SIZE 24
#define REC_IMAGE_HEAD 8	/* width, height, channels, encoding, reserved */
#define REC_EMBED_HEAD 4	/* dimension */
#define REC_MAX_KEY 1024
#define REC_MAX_BODY (64u << 20)
#define REC_MAX_SIDE 8192
#define REC_MAX_DIM 65536

struct record {
	int kind;		/* enum rec_kind */
	int32_t label;		/* identity, -1 when unknown */
	uint64_t offset;	/* byte offset of the header in the input */
	const char *key;	/* NUL-terminated, points into buf */
	/* image */
	int width, height, channels, encoding;
	const unsigned char *pixels;	/* raw HWC bytes or JPEG bytes */
	size_t n_pixels;
	/* embedding */
	int dim;
	const float *values;	/* dim floats, host order, aligned */
	/* storage */
	unsigned char *buf;
	size_t cap;
	float *fbuf;
	size_t fcap;
};

struct rec_reader {
	FILE *fp;
	const char *name;	/* for messages; not owned */
	uint64_t pos;		/* bytes consumed */
	long n_records;		/* data records returned so far */
	int after_end;		/* last header read was an end marker */
};

void rec_reader_init(struct rec_reader *r, FILE *fp, const char *name);
/* Reads the next data record: 1 = got one, 0 = clean end, -1 = error. */
int rec_read(struct rec_reader *r, struct record *rec);
/* Reads the record at OFFSET (random access through an index). */
int rec_read_at(struct rec_reader *r, uint64_t offset, struct record *rec);
void record_release(struct record *rec);

int rec_write_image(FILE *fp, const char *key, int32_t label, int width,
		    int height, int channels, int encoding,
		    const void *pixels, size_t n_pixels);
int rec_write_embed(FILE *fp, const char *key, int32_t label,
		    const float *values, int dim);
int rec_write_end(FILE *fp);

/* One entry per data record, in stream order. */
struct rec_index {
	long n;
	uint64_t *offset;
	int32_t *label;
	uint64_t stream_size;	/* bytes in the indexed stream */
};

/* Scans the whole stream from its start.  Caller frees with rec_index_free(). */
int rec_index_build(struct rec_index *ix, FILE *fp, const char *name);
int rec_index_save(const struct rec_index *ix, const char *path);
int rec_index_load(struct rec_index *ix, const char *path);
void rec_index_free(struct rec_index *ix);
/* Appends one record's offset and label; *CAP is the arrays' capacity
 * (0 at first), doubled as they fill.  0, or -1 out of memory. */
int rec_index_push(struct rec_index *ix, long *cap, uint64_t off, int32_t label);

/* Little-endian helpers shared by the suite's binary formats. */
static inline void put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}
static inline void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static inline void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint16_t get_u16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

#endif
