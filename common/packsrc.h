/*
 * packsrc: the five input readers behind pack_build (pack.h lists the
 * kinds: tree, csv, stream, rec, bin), internal to the pack module.  A
 * source opened on an input hands out items, by index (source_get) or, for
 * inputs read in order only (s->in_order), one after the other
 * (source_next); pack.c decodes, encodes and writes them.
 */
#ifndef HM_PACKSRC_H
#define HM_PACKSRC_H

#include "mxrec.h"
#include "packkind.h"
#include "pybin.h"
#include "rec.h"

#include <stdint.h>
#include <stdio.h>

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

/* Opens INPUT as kind FROM (PACK_AUTO: pack_detect()); SHUFFLE asks for
 * items by index (a pipe is spooled to a temporary file).  0 or -1; close
 * it with source_close() either way. */
int source_open(struct source *s, const char *input, enum pack_from from,
		int shuffle);
void source_close(struct source *s);
/* Item I (0 <= I < s->n). */
int source_get(struct source *s, long i, struct item *it);
/* The next item of an in-order source: 1, 0 at the end, -1. */
int source_next(struct source *s, struct item *it);

#endif
