#include "outfile.h"
#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_OPEN 64

/* Temp names to remove on die() or a fatal signal.  Plain arrays, so the
 * signal handler only calls async-signal-safe unlink(). */
static char *pending[MAX_OPEN];
static int defer_fsync;
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;

static void remove_pending(void)
{
	for (int i = 0; i < MAX_OPEN; i++)
		if (pending[i])
			unlink(pending[i]);
}

static void on_signal(int sig)
{
	remove_pending();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Catches SIG unless it was ignored when the tool started (nohup ignores
 * SIGHUP, a shell's trap '' PIPE SIGPIPE): that choice is the caller's. */
static void catch_unless_ignored(int sig)
{
	struct sigaction old;
	if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
		return;
	signal(sig, on_signal);
}

void outfile_cleanup_on_signals(void)
{
	catch_unless_ignored(SIGINT);
	catch_unless_ignored(SIGTERM);
	catch_unless_ignored(SIGHUP);
	/* A closed pipe downstream still ends the tool by SIGPIPE (quietly,
	 * as filters do), but its temp files go first. */
	catch_unless_ignored(SIGPIPE);
	/* Past a file size limit (ulimit -f) write() fails with EFBIG, which
	 * the writer reports, instead of SIGXFSZ killing it without a word. */
	signal(SIGXFSZ, SIG_IGN);
}

void outfile_quiet_on_epipe(int err)
{
	if (err != EPIPE)
		return;
	remove_pending();
	signal(SIGPIPE, SIG_DFL);
	raise(SIGPIPE);
	_exit(128 + SIGPIPE);
}

static int remember(char *tmp)
{
	int slot = -1;
	pthread_mutex_lock(&pending_lock);
	for (int i = 0; i < MAX_OPEN && slot < 0; i++)
		if (!pending[i]) {
			pending[i] = tmp;
			slot = i;
		}
	pthread_mutex_unlock(&pending_lock);
	hm_at_die(remove_pending);
	return slot;
}

static void forget(int slot)
{
	if (slot < 0)
		return;
	pthread_mutex_lock(&pending_lock);
	pending[slot] = NULL;
	pthread_mutex_unlock(&pending_lock);
}

int outfile_open(struct outfile *o, const char *path)
{
	memset(o, 0, sizeof *o);
	o->slot = -1;
	if (!path || !strcmp(path, "-")) {
		o->fp = stdout;
		return 0;
	}
	size_t n = strlen(path) + 32;
	o->path = strdup(path);
	o->tmp = malloc(n);
	if (!o->path || !o->tmp) {
		free(o->path);
		free(o->tmp);
		return hm_error_file(path, "out of memory");
	}
	snprintf(o->tmp, n, "%s.tmp.%ld", path, (long)getpid());
	o->fp = fopen(o->tmp, "wb");
	if (!o->fp) {
		int e = errno;
		free(o->path);
		free(o->tmp);
		o->path = o->tmp = NULL;
		return hm_error_file(path, "cannot create: %s", strerror(e));
	}
	o->slot = remember(o->tmp);
	return 0;
}

static void release(struct outfile *o)
{
	forget(o->slot);
	free(o->path);
	free(o->tmp);
	o->path = o->tmp = NULL;
	o->fp = NULL;
	o->slot = -1;
}

void outfile_abort(struct outfile *o)
{
	if (o->tmp) {
		if (o->fp)
			fclose(o->fp);
		unlink(o->tmp);
	}
	release(o);
}

int outfile_commit(struct outfile *o)
{
	if (!o->tmp) {
		if (fflush(o->fp) || ferror(o->fp))
			return hm_error_file("-", "write error: %s",
					     strerror(errno ? errno : EIO));
		o->fp = NULL;
		return 0;
	}
	int failed = fflush(o->fp) || ferror(o->fp) ||
		     (!defer_fsync && fsync(fileno(o->fp)));
	int e = errno ? errno : EIO;
	if (fclose(o->fp) && !failed) {
		failed = 1;
		e = errno;
	}
	o->fp = NULL;
	if (!failed && rename(o->tmp, o->path)) {
		failed = 1;
		e = errno;
	}
	if (failed) {
		hm_error_file(o->path, "write error: %s", strerror(e));
		unlink(o->tmp);
		release(o);
		return -1;
	}
	release(o);
	return 0;
}

void outfile_defer_fsync(int on)
{
	defer_fsync = on;
}

int outfile_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return hm_error_file(dir, "cannot open: %s", strerror(errno));
	int rc = syncfs(fd);
	int e = errno;
	close(fd);
	return rc ? hm_error_file(dir, "sync failed: %s", strerror(e)) : 0;
}

int outfile_write_all(const char *path, const void *buf, size_t n)
{
	struct outfile o;
	if (outfile_open(&o, path))
		return -1;
	if (n && fwrite(buf, 1, n, o.fp) != n) {
		int e = errno;
		outfile_abort(&o);
		return hm_error_file(path, "write error: %s", strerror(e));
	}
	return outfile_commit(&o);
}

/* PID from a temp name's suffix after "NAME.tmp.", or 0 when it is none. */
static long tmp_pid(const char *entry, const char *base)
{
	size_t n = strlen(base);
	if (strncmp(entry, base, n) || strncmp(entry + n, ".tmp.", 5))
		return 0;
	const char *digits = entry + n + 5;
	char *end;
	errno = 0;
	long pid = strtol(digits, &end, 10);
	return *digits >= '1' && *digits <= '9' && !*end && !errno ? pid : 0;
}

void outfile_remove_stale(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
	char *dir = strndup(slash ? path : ".", slash ? dlen : 1);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		long pid = tmp_pid(e->d_name, base);
		if (pid <= 0 || pid == (long)getpid() ||
		    !(kill((pid_t)pid, 0) < 0 && errno == ESRCH))
			continue;
		char *tmp = malloc(dlen + strlen(e->d_name) + 1);
		if (tmp) {
			memcpy(tmp, path, dlen);
			strcpy(tmp + dlen, e->d_name);
			unlink(tmp);
		}
		free(tmp);
	}
	if (d)
		closedir(d);
	free(dir);
}

int make_dirs(const char *dir)
{
	if (!dir[0])
		return 0;
	char *p = strdup(dir);
	if (!p)
		return hm_error("out of memory");
	for (char *s = p + 1;; s++) {
		int end = *s == '\0';
		if (*s == '/' || end) {
			*s = '\0';
			if (mkdir(p, 0777) && errno != EEXIST) {
				int e = errno;
				hm_error_file(p, "cannot create directory: %s", strerror(e));
				free(p);
				return -1;
			}
			if (end)
				break;
			*s = '/';
		}
	}
	free(p);
	return 0;
}

int make_parent_dirs(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return 0;
	char *dir = strndup(path, slash - path);
	if (!dir)
		return hm_error("out of memory");
	int rc = make_dirs(dir);
	free(dir);
	return rc;
}
