/*
 * mxrec: reading MXNet RecordIO files (.rec, with the .idx beside them) as
 * insightface distributes its training sets (faces_webface_112x112,
 * faces_emore, ms1m-retinaface: train.rec + train.idx).  Reading only; this
 * is an importer, not a writer.  hm-pack(1) documents the layout for users.
 *
 * Container (dmlc-core recordio): each part is
 *     u32 magic, u32 lrec, data, zero padding to a multiple of 4 bytes
 * little-endian.  Two generations exist:
 *     magic 0xced7230a: cflag = lrec >> 29 (3 bits), length = lrec & (2^29-1)
 *     magic 0x3ed7230a: cflag = lrec >> 30 (2 bits), length = lrec & (2^30-1)
 *                       (early dmlc-core)
 * cflag 0 is a whole record.  A writer splits a record wherever the magic
 * occurs at a 4-aligned offset of its data and drops those 4 bytes: cflag 1
 * starts the record, 2 continues it, 3 ends it; the reader joins the parts
 * and puts the magic back between them.
 *
 * Record payload (MXNet image record, mx.recordio.pack, struct 'IfQQ'):
 *     u32 flag, f32 label, u64 id, u64 id2   (24 bytes)
 *     flag > 0: flag f32 labels follow (and the header's label is 0)
 *     then the encoded image (JPEG or PNG as written by cv2.imencode)
 * insightface's record 0 has flag > 0 and labels [a, b]: records 1..a-1 are
 * the images, a..b-1 one record per identity (label = its image range).
 *
 * .idx (MXIndexedRecordIO): text lines "key<TAB>byte offset", key an integer.
 *
 * Ownership: a reader owns its buffer; the bytes returned by mxrec_read*()
 * stay valid until the next read or mxrec_reader_release().  An index owns
 * its arrays; free with mxrec_index_free().  Every length is checked against
 * MXREC_MAX_RECORD and the bytes present before anything is allocated, so
 * hostile input gives an error, never a crash.  Errors name the file and
 * the record: "'train.rec': record 17: ...".
 */
#ifndef HM_MXREC_H
#define HM_MXREC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MXREC_MAGIC 0xced7230au
#define MXREC_MAGIC_OLD 0x3ed7230au
#define MXREC_MAX_RECORD (64u << 20)	/* bytes in one joined record */
#define MXREC_HEADER_SIZE 24

struct mxrec_reader {
	FILE *fp;
	const char *name;	/* for messages; not owned */
	uint64_t pos;		/* byte offset of the next part */
	long n_records;		/* number of the next record (from 0) */
	unsigned char *buf;
	size_t cap;
};

/* Reads FP from its current position, taken as byte 0 (or OFFSET via read_at). */
void mxrec_reader_init(struct mxrec_reader *r, FILE *fp, const char *name);
void mxrec_reader_release(struct mxrec_reader *r);
/*
 * Reads the next whole record into *DATA, *N.  Returns 1, 0 at the end of
 * the file (at a record boundary), or -1 with the error recorded (bad magic,
 * bad cflag sequence, a record over the limit, a file ending inside a
 * record).  *OFFSET (may be NULL) gets the byte offset of its first part.
 */
int mxrec_read(struct mxrec_reader *r, const unsigned char **data, size_t *n,
	       uint64_t *offset);
/* Reads the record at byte OFFSET, numbered RECNO in messages.  0 or -1
 * (nothing there is an error). */
int mxrec_read_at(struct mxrec_reader *r, uint64_t offset, long recno,
		  const unsigned char **data, size_t *n);

struct mxrec_header {
	uint32_t flag;
	float label;			/* meaningful when flag == 0 */
	uint64_t id, id2;
	uint32_t n_labels;		/* = flag */
	const unsigned char *labels;	/* n_labels little-endian f32, unaligned */
	const unsigned char *payload;	/* the encoded image, into the record */
	size_t n_payload;
};

/* Splits a record into header, labels and payload (as mx.recordio.unpack).
 * -1 with "record too short ..." recorded (no file name: callers prefix). */
int mxrec_unpack(struct mxrec_header *h, const unsigned char *data, size_t n);
/* Label I of the array (I < n_labels). */
float mxrec_label_at(const struct mxrec_header *h, uint32_t i);
/* The class insightface trains with: label when flag is 0, else labels[0]. */
float mxrec_class(const struct mxrec_header *h);

struct mxrec_index {
	long n;			/* lines, in file order */
	int64_t *key;
	uint64_t *offset;
	long *by_key;		/* line numbers sorted by key, then line */
};

/* Reads an .idx file.  Returns 0, or -1 with "'x.idx': line N: ..." recorded. */
int mxrec_index_load(struct mxrec_index *ix, const char *path);
/* The line (0-based) giving KEY's offset (the last such line, as the
 * Python dict does), or -1 if KEY is absent. */
long mxrec_index_find(const struct mxrec_index *ix, int64_t key);
void mxrec_index_free(struct mxrec_index *ix);

#endif
