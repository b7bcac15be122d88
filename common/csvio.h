/*
 * csvio: CSV input row by row (RFC 4180 quoting, through libcsv) and CSV
 * output with the quoting it needs.  Used for landmark CSVs, pair lists,
 * hm-pack's "path,label" lists and every machine-readable log.
 *
 * A reader owns its rows: the fields returned by csvio_next() stay valid
 * until the next call or csvio_close().  Lines may end in LF or CRLF; the
 * last line needs no newline; empty lines are skipped.
 */
#ifndef HM_CSVIO_H
#define HM_CSVIO_H

#include <stdio.h>

struct csvio;

/* Opens PATH ("-" = stdin).  NULL with the error recorded on failure. */
struct csvio *csvio_open(const char *path);
/* Next row: 1 = got one (*fields, *n_fields), 0 = end, -1 = error recorded
 * ("'file': line N: ..."). */
int csvio_next(struct csvio *c, char ***fields, int *n_fields);
/* Line number (1-based) where the last returned row started. */
long csvio_line(const struct csvio *c);
void csvio_close(struct csvio *c);

/* Writes one field, quoted only when it contains , " CR or LF.  0 or -1. */
int csvio_put(FILE *fp, const char *field);

#endif
