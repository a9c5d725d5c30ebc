/*
 * log.c - the contract's log line format, written atomically to stderr.
 *
 * Context (node, role, term) lives in process-wide atomics so that the
 * storage thread may log too without locks. Lines longer than the buffer
 * are cut, never split across writes.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cairn/errors.h"

#define LOG_LINE_BYTES_MAX 1024

static _Atomic int log_level = CAIRN_LOG_INFO;
static _Atomic int log_fd = STDERR_FILENO;
static _Atomic uint64_t log_node;
static _Atomic(const char *) log_role;
static _Atomic uint64_t log_term;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void cairn_log_set_level(enum cairn_log_level level)
{
	atomic_store(&log_level, (int)level);
}

int cairn_log_parse_level(const char *name, enum cairn_log_level *level)
{
	for (int i = 0; i <= CAIRN_LOG_OFF; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum cairn_log_level)i;
			return 0;
		}
	}
	return CAIRN_EINVAL;
}

void cairn_log_set_node(uint64_t node)
{
	atomic_store(&log_node, node);
}

void cairn_log_set_role(const char *role, uint64_t term)
{
	atomic_store(&log_role, role);
	atomic_store(&log_term, term);
}

void cairn_log_set_fd(int fd)
{
	atomic_store(&log_fd, fd < 0 ? STDERR_FILENO : fd);
}

int cairn_log_format(char *buf, int size, int64_t wall_ms, enum cairn_log_level level,
		     const char *msg)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	int n = snprintf(buf, (size_t)size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)(wall_ms % 1000));
	uint64_t node = atomic_load(&log_node);
	const char *role = atomic_load(&log_role);
	if (node != 0 && n < size)
		n += snprintf(buf + n, (size_t)(size - n), " node=%llu", (unsigned long long)node);
	if (role != NULL && n < size)
		n += snprintf(buf + n, (size_t)(size - n), " role=%s term=%llu", role,
			      (unsigned long long)atomic_load(&log_term));
	if (level >= CAIRN_LOG_WARN && n < size)
		n += snprintf(buf + n, (size_t)(size - n), " %s:", level_names[level]);
	if (n < size)
		n += snprintf(buf + n, (size_t)(size - n), " %s", msg);
	return n < size ? n : size - 1;
}

void cairn_log(enum cairn_log_level level, const char *fmt, ...)
{
	if ((int)level < atomic_load(&log_level))
		return;
	char msg[LOG_LINE_BYTES_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t wall_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	char line[LOG_LINE_BYTES_MAX + 128];
	int n = cairn_log_format(line, (int)sizeof line - 1, wall_ms, level, msg);
	line[n++] = '\n';
	/* One write per line; a short write to stderr is not worth a retry. */
	ssize_t w = write(atomic_load(&log_fd), line, (size_t)n);
	(void)w;
}
