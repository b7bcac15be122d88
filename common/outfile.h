/*
 * outfile: outputs that are either complete or absent.
 *
 * outfile_open() writes to "PATH.tmp.PID" beside PATH; outfile_commit()
 * flushes, fsyncs, closes and renames it over PATH, so a reader never sees a
 * half-written file.  outfile_abort() removes the temp file.  A path of "-"
 * (or NULL) means stdout: commit then only flushes and checks for errors.
 *
 * Open temp files are remembered, so die() (see err.h) and a fatal signal
 * remove them: a killed or failing tool leaves nothing partial behind.
 * The struct is owned by the caller; strings inside are freed by commit/abort.
 */
#ifndef HM_OUTFILE_H
#define HM_OUTFILE_H

#include <stdio.h>

struct outfile {
	FILE *fp;
	char *path;	/* final name, NULL for stdout */
	char *tmp;	/* temp name, NULL for stdout */
	int slot;	/* index in the cleanup registry, -1 if none */
};

/* Opens for writing (binary).  Returns 0, or -1 with the error recorded. */
int outfile_open(struct outfile *o, const char *path);
/* Completes the file.  Returns 0, or -1 (write error, disk full, ...). */
int outfile_commit(struct outfile *o);
/* Discards the temp file (no-op for stdout). */
void outfile_abort(struct outfile *o);
/* Writes a whole file atomically from memory. */
int outfile_write_all(const char *path, const void *buf, size_t n);
/*
 * Removes the temp files "PATH.tmp.PID" that a process killed before its
 * commit left, those whose PID runs no process on this host.  For a tool
 * taking over an output another run was killed writing (hm-train --resume).
 */
void outfile_remove_stale(const char *path);
/* Creates directory DIR and its parents (mkdir -p).  Returns 0 or -1. */
int make_dirs(const char *dir);
/* Creates the parent directories of file PATH.  Returns 0 or -1. */
int make_parent_dirs(const char *path);
/*
 * For tools that write thousands of small files (image trees): after
 * outfile_defer_fsync(1) commits skip their fsync (the rename still makes
 * each file appear whole); call outfile_sync_dir() once at the end, before
 * writing the file that marks the set complete.  Process-wide.
 */
void outfile_defer_fsync(int on);
/* Flushes the file system holding DIR to disk (syncfs).  0 or -1. */
int outfile_sync_dir(const char *dir);
/*
 * Every tool calls this first.  SIGINT, SIGTERM, SIGHUP and SIGPIPE remove
 * the temp files, then end the process by the same signal (a closed pipe
 * downstream stops a writer quietly, exit by SIGPIPE); a signal ignored
 * when the tool started (nohup) stays ignored.  SIGXFSZ is ignored: past a
 * file size limit a write fails with EFBIG and the tool says so.
 */
void outfile_cleanup_on_signals(void);
/*
 * For tools, after a write to stdout failed with error ERR (errno): if the
 * reader went away (EPIPE: SIGPIPE was ignored), removes the temp files and
 * ends the process quietly by SIGPIPE, as it would have ended without the
 * ignore; otherwise returns, and the tool reports the error.
 */
void outfile_quiet_on_epipe(int err);

#endif
