/*
 * packinfo.c: what hm-pack --list, --verify, --index and --stats do with a
 * record stream (pack.h): read it through rec.h, print or check it, and
 * rebuild its index.
 */
#include "pack.h"
#include "err.h"
#include "rec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
