/*
 * csvio: CSV input row by row (RFC 4180 quoting, through libcsv) and CSV
 * output with the quoting it needs.  Used for landmark CSVs, pair lists,
 * hm-pack's "path,label" lists and every machine-readable log.
 *
 * What a reader accepts:
 *   - fields separated by commas; a field in double quotes may hold commas,
 *     CR, LF and quotes written twice ("a ""b""");
 *   - lines ending in LF or CRLF; the last line needs no newline;
 *   - empty lines and lines of only spaces/tabs are skipped (not rows);
 *   - spaces and tabs around an unquoted field are removed (libcsv's
 *     default), so "1, 2" reads as "1","2"; quote a field to keep them;
 *   - a UTF-8 byte-order mark at the start of the input is skipped.
 * Errors, recorded as "'file': line N: ..." with N counted in LF (1-based):
 *   a quote inside an unquoted field, text after a closing quote, a quoted
 *   field still open at the end of the input (N = the line its row starts),
 *   a field longer than CSVIO_FIELD_MAX bytes, a row of more than
 *   CSVIO_FIELDS_MAX fields, a NUL byte in a field, a read error.
 * The input is read in 64 KiB chunks: memory stays bounded by one row.
 *
 * Ownership: a reader owns its rows: the fields returned by csvio_next()
 * (NUL-terminated strings) stay valid until the next call or csvio_close().
 * Errors are sticky: after -1, csvio_next() keeps returning -1.
 */
#ifndef HM_CSVIO_H
#define HM_CSVIO_H

#include <stdio.h>

#define CSVIO_FIELD_MAX 65536	/* bytes in one field, after unquoting */
#define CSVIO_FIELDS_MAX 1024	/* fields in one row */

struct csvio;

/* Opens PATH ("-" = stdin; messages then name "-").  NULL with the error
 * recorded on failure ("'path': cannot open: ..."). */
struct csvio *csvio_open(const char *path);
/* Reads from FP, already open (a pipe, fmemopen()), naming it NAME in
 * messages.  FP stays the caller's: csvio_close() does not close it.
 * NULL with the error recorded when out of memory. */
struct csvio *csvio_open_fp(FILE *fp, const char *name);
/* Next row: 1 = got one (*fields, *n_fields >= 1), 0 = end, -1 = error
 * recorded ("'file': line N: ..."). */
int csvio_next(struct csvio *c, char ***fields, int *n_fields);
/* Line number (1-based) where the last returned row started. */
long csvio_line(const struct csvio *c);
/* Closes the input (unless it came from csvio_open_fp) and frees C; NULL is
 * a no-op. */
void csvio_close(struct csvio *c);

/* Writes one field, quoted (quotes doubled) when it contains , " CR or LF or
 * begins or ends with a space or tab, so that a csvio reader reads back the
 * same bytes.  Writes no separator.  0, or -1 with "write error" recorded. */
int csvio_put(FILE *fp, const char *field);

#endif
