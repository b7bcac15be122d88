#include "outfile.h"
#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

/* Where the link chain from PATH ends: the first name that is no symbolic
 * link, whether it exists or not (a dangling link names a file to create).
 * A relative target is taken from the link's directory, as the kernel does.
 * Returns a malloc'ed name, or NULL with errno set (ELOOP, ENOMEM, ...). */
static char *follow_links(const char *path)
{
	char *cur = strdup(path);
	for (int hops = 0; cur && hops < 40; hops++) {
		struct stat st;
		if (lstat(cur, &st) || !S_ISLNK(st.st_mode))
			return cur;
		char target[PATH_MAX];
		ssize_t n = readlink(cur, target, sizeof target - 1);
		if (n < 0) {
			free(cur);
			return NULL;
		}
		target[n] = '\0';
		const char *slash = strrchr(cur, '/');
		int dir_len = target[0] != '/' && slash ? (int)(slash - cur) + 1 : 0;
		char *next = malloc((size_t)dir_len + (size_t)n + 1);
		if (next)
			sprintf(next, "%.*s%s", dir_len, cur, target);
		free(cur);
		cur = next;
	}
	if (cur)
		errno = ELOOP;
	free(cur);
	return NULL;
}

/* A socket cannot be open()ed: connect to it as a stream, as a writer
 * would.  Returns the descriptor, or -1 with errno set. */
static int connect_socket(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* The names bash reads as a descriptor of its own in a redirection
 * (/dev/stdout, /dev/stderr, /dev/fd/N; and /proc/self/fd/N): N, else -1.
 * Followed as links they would end at the file the descriptor has open,
 * to be replaced by a new one the descriptor never sees. */
static int fd_name(const char *path)
{
	if (!strcmp(path, "/dev/stdout"))
		return STDOUT_FILENO;
	if (!strcmp(path, "/dev/stderr"))
		return STDERR_FILENO;
	const char *n = NULL;
	if (!strncmp(path, "/dev/fd/", 8))
		n = path + 8;
	else if (!strncmp(path, "/proc/self/fd/", 14))
		n = path + 14;
	if (!n || *n < '0' || *n > '9' || strlen(n) > 6)
		return -1;
	char *end;
	long fd = strtol(n, &end, 10);
	return *end ? -1 : (int)fd;
}

/* A descriptor already open (fd_name): written through a copy of it,
 * sharing its offset and flags (O_APPEND of '>>'), as the shell does. */
static int open_fd(struct outfile *o, int fd)
{
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy >= 0 && !(o->fp = fdopen(copy, "wb")))
		close(copy);
	return o->fp ? 0 : hm_error_file(o->path, "cannot open: %s", strerror(errno));
}

/* A device, FIFO or socket: written where it is, as the shell's '>' does;
 * replacing it with a file would take it away from everyone else. */
static int open_in_place(struct outfile *o, const struct stat *st)
{
	int fd = S_ISSOCK(st->st_mode) ? connect_socket(o->path)
				       : open(o->path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0 && !(o->fp = fdopen(fd, "wb")))
		close(fd);
	return o->fp ? 0 : hm_error_file(o->path, "cannot open: %s", strerror(errno));
}

static void ignore(int rc)
{
	(void)rc;
}

/* The temp file takes the owner (where permitted: root, or a group of
 * ours; else it stays ours, as a copy would) and the mode of the file it
 * will replace, before any byte is written. */
static void keep_owner_and_mode(int fd, const struct stat *st)
{
	if (st->st_uid != geteuid() || st->st_gid != getegid())
		if (fchown(fd, st->st_uid, st->st_gid) && errno == EPERM)
			ignore(fchown(fd, (uid_t)-1, st->st_gid));
	ignore(fchmod(fd, st->st_mode & 07777));
}

/* A regular file or a new name: write "DEST.tmp.PID" beside DEST, to be
 * renamed over it.  ST is DEST's status, NULL when DEST does not exist. */
static int open_temp(struct outfile *o, const struct stat *st)
{
	size_t n = strlen(o->dest) + 32;
	if (!(o->tmp = malloc(n)))
		return hm_error_file(o->path, "out of memory");
	snprintf(o->tmp, n, "%s.tmp.%ld", o->dest, (long)getpid());
	unlink(o->tmp);	/* one a killed process of the same PID left */
	/* An existing file's mode is set below; until then only we can read. */
	int fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st ? 0600 : 0666);
	if (fd >= 0 && st)
		keep_owner_and_mode(fd, st);
	if (fd >= 0 && !(o->fp = fdopen(fd, "wb"))) {
		close(fd);
		unlink(o->tmp);
	}
	if (!o->fp)
		return hm_error_file(o->path, "cannot create: %s", strerror(errno));
	o->slot = remember(o->tmp);
	return 0;
}

static void release(struct outfile *o)
{
	forget(o->slot);
	free(o->path);
	free(o->dest);
	free(o->tmp);
	o->path = o->dest = o->tmp = NULL;
	o->fp = NULL;
	o->slot = -1;
}

int outfile_open(struct outfile *o, const char *path)
{
	memset(o, 0, sizeof *o);
	o->slot = -1;
	if (!path || !strcmp(path, "-")) {
		o->fp = stdout;
		return 0;
	}
	if (!(o->path = strdup(path)))
		return hm_error_file(path, "out of memory");
	struct stat st;
	int exists = stat(path, &st) == 0, rc;
	if (fd_name(path) >= 0)
		rc = open_fd(o, fd_name(path));
	else if (exists && S_ISDIR(st.st_mode))	/* as readers say "read error" */
		rc = hm_error_file(path, "write error: %s", strerror(EISDIR));
	else if (exists && !S_ISREG(st.st_mode))
		rc = open_in_place(o, &st);
	else if (!(o->dest = follow_links(path)))
		rc = hm_error_file(path, "cannot create: %s", strerror(errno));
	else
		rc = open_temp(o, exists ? &st : NULL);
	if (rc)
		release(o);
	return rc;
}

void outfile_abort(struct outfile *o)
{
	if (o->fp && o->fp != stdout)
		fclose(o->fp);
	if (o->tmp)
		unlink(o->tmp);
	release(o);
}

/* Stdout, a device, a FIFO: flush and close (never stdout), no fsync
 * (a pipe has none), and report what the writes met. */
static int finish_in_place(struct outfile *o)
{
	int failed = fflush(o->fp) || ferror(o->fp);
	int e = errno ? errno : EIO;
	if (o->fp != stdout && fclose(o->fp) && !failed) {
		failed = 1;
		e = errno;
	}
	o->fp = NULL;
	if (failed)
		hm_error_file(o->path ? o->path : "-", "write error: %s", strerror(e));
	release(o);
	return failed ? -1 : 0;
}

int outfile_commit(struct outfile *o)
{
	if (!o->tmp)
		return finish_in_place(o);
	int failed = fflush(o->fp) || ferror(o->fp) ||
		     (!defer_fsync && fsync(fileno(o->fp)));
	int e = errno ? errno : EIO;
	if (fclose(o->fp) && !failed) {
		failed = 1;
		e = errno;
	}
	o->fp = NULL;
	if (!failed && rename(o->tmp, o->dest)) {
		failed = 1;
		e = errno;
	}
	if (failed) {
		hm_error_file(o->path, "write error: %s", strerror(e));
		unlink(o->tmp);
	}
	release(o);
	return failed ? -1 : 0;
}

void outfile_remove(const char *path)
{
	struct stat st;
	char *dest = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? follow_links(path) : NULL;
	if (dest)
		unlink(dest);
	free(dest);
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

void outfile_remove_stale(const char *name)
{
	char *path = follow_links(name);	/* temps lie beside a link's target */
	if (!path)
		return;
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
	free(path);
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
	/* A file, device or FIFO of that name: the output is a folder. */
	struct stat st;
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
		return hm_error_file(dir, "cannot create directory: %s", strerror(ENOTDIR));
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
