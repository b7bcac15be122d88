/*
 * outfile: outputs that are either complete or absent, written the way
 * what the path already is asks for (hm(7), "Output files"):
 *
 * - a regular file or a new name: outfile_open() writes "DEST.tmp.PID"
 *   beside it, with the mode (and, where permitted, the owner) of the file
 *   it replaces; outfile_commit() flushes, fsyncs, closes and renames it
 *   over DEST, so a reader never sees a half-written file.  outfile_abort()
 *   removes the temp file.  A hard link to the old file keeps the old
 *   content: the new one is a new file.
 * - a symbolic link (a chain, or one dangling to a name still to create):
 *   DEST is where the chain ends; the link stays, its target is replaced.
 * - a character or block device, a FIFO or a socket: written in place, as
 *   the shell's '>' does (no temp file, no rename, no fsync); commit
 *   flushes, closes and reports the errors the writes met.
 * - "-" (or NULL): stdout, written in place; commit only flushes.
 *   /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N, read as bash
 *   reads them: descriptor N, written in place (its offset, its '>>').
 * - a directory: an error, "write error: Is a directory", before any work.
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
	char *path;	/* the name given, for messages; NULL for stdout */
	char *dest;	/* the file the temp is renamed to; NULL in place */
	char *tmp;	/* temp name; NULL when written in place */
	int slot;	/* index in the cleanup registry, -1 if none */
};

/* Opens for writing (binary).  Returns 0, or -1 with the error recorded. */
int outfile_open(struct outfile *o, const char *path);
/* Completes the file.  Returns 0, or -1 (write error, disk full, ...). */
int outfile_commit(struct outfile *o);
/* Discards the temp file (in place: only closes; stdout stays open). */
void outfile_abort(struct outfile *o);
/* True when O writes in place (stdout, a device, a FIFO, a socket): a
 * stream, no file on disk for side files to describe. */
static inline int outfile_in_place(const struct outfile *o)
{
	return !o->tmp;
}
/*
 * Takes back an output committed before a later step failed: removes the
 * regular file PATH (a link's target: what was written); a device, FIFO or
 * socket, which cannot be unwritten, stays.
 */
void outfile_remove(const char *path);
/* Writes a whole file atomically from memory. */
int outfile_write_all(const char *path, const void *buf, size_t n);
/*
 * Removes the temp files "PATH.tmp.PID" that a process killed before its
 * commit left, those whose PID runs no process on this host.  For a tool
 * taking over an output another run was killed writing (hm-train --resume).
 */
void outfile_remove_stale(const char *path);
/* Creates directory DIR and its parents (mkdir -p); a file, device or FIFO
 * named DIR is an error ("Not a directory").  Returns 0 or -1. */
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
