/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/* The process has one log; this is the daemon's only mutable global, set once at start. */
static struct {
	enum prism_log_level level;
	FILE *file;
} g_log = {PRISM_LOG_INFO, NULL};

static const char *const level_names[] = {"debug", "info", "warning", "error", "critical"};

enum prism_log_level prism_log_level_parse(const char *name)
{
	for (int i = 0; name != NULL && i <= PRISM_LOG_CRITICAL; i++)
		if (strcmp(name, level_names[i]) == 0)
			return (enum prism_log_level)i;
	return PRISM_LOG_INFO;
}

/*
 * The log names hosts, addresses and clients: it is created 0640 whatever the umask, and
 * an existing one readable by everyone loses the bits for others.
 */
static FILE *open_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	struct stat st;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && (st.st_mode & 0007) != 0 && fchmod(fd, st.st_mode & 0770) != 0)
		goto fail;
	FILE *f = fdopen(fd, "a");
	if (f != NULL)
		return f;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return NULL;
}

int prism_log_init(enum prism_log_level level, const char *path)
{
	FILE *f = NULL;
	if (path != NULL && path[0] != '\0') {
		/* opened before the old one is closed: a failure changes nothing */
		f = open_private(path);
		if (f == NULL)
			return -errno;
		setvbuf(f, NULL, _IOLBF, 0);
	}
	if (g_log.file != NULL)
		fclose(g_log.file); /* also what a reload after log rotation needs */
	g_log.file = f;
	g_log.level = level;
	return 0;
}

void prism_log_deinit(void)
{
	if (g_log.file != NULL)
		fclose(g_log.file);
	g_log.file = NULL;
}

bool prism_log_enabled(enum prism_log_level level)
{
	return level >= g_log.level;
}

/*
 * The line's time to the second, formatted again only when the second changes: under load
 * prismd logs a line per new host, and gmtime_r with its format was a third of the cost.
 * Per thread: the writer, the loop and the checkpointer each keep their own.
 */
static size_t stamp(const struct timespec *ts, char *out, size_t len)
{
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[64];
	if (ts->tv_sec != cached_sec) {
		struct tm tm;
		gmtime_r(&ts->tv_sec, &tm);
		snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		cached_sec = ts->tv_sec;
	}
	int n = snprintf(out, len, "%s.%03ldZ ", cached, ts->tv_nsec / 1000000);
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

void prism_log(enum prism_log_level level, const char *tag, const char *fmt, ...)
{
	if (level < g_log.level)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* 2,047 characters at most, then the newline (the last byte is its room) */
	char line[2049];
	const size_t cap = sizeof(line) - 1;
	size_t n = stamp(&ts, line, cap);
	int k = snprintf(line + n, cap - n, "%s %s: ", level_names[level], tag);
	if (k > 0 && (size_t)k < cap - n) {
		n += (size_t)k;
		va_list ap;
		va_start(ap, fmt);
		k = vsnprintf(line + n, cap - n, fmt, ap);
		va_end(ap);
		/* a longer message is cut where the line ends */
		n = k < 0 ? n : (size_t)k < cap - n ? n + (size_t)k : cap - 1;
	} else {
		n = strlen(line);
	}
	line[n++] = '\n';
	/* one write per line, flushed at once: a crash loses no line before it */
	FILE *out = g_log.file ? g_log.file : stderr;
	fwrite(line, 1, n, out);
	fflush(out);
}
