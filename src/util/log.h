/*
 * log.h - one line per event on stderr, in the contract's format:
 *
 *   2026-11-23T12:50:07.113Z node=2 role=follower term=3 voted for 1
 *
 * The node id, role and term are process-wide context that the node loop
 * updates as they change; every line carries the current values. Each line
 * is written with a single write(2) so lines from threads never interleave.
 */
#ifndef CAIRN_UTIL_LOG_H
#define CAIRN_UTIL_LOG_H

#include <stdint.h>

enum cairn_log_level {
	CAIRN_LOG_DEBUG = 0,
	CAIRN_LOG_INFO = 1,
	CAIRN_LOG_WARN = 2,
	CAIRN_LOG_ERROR = 3,
	CAIRN_LOG_OFF = 4,
};

/* Lines below level are dropped. Default: CAIRN_LOG_INFO. */
void cairn_log_set_level(enum cairn_log_level level);
/* Parses "debug", "info", "warn", "error", "off"; returns 0 or CAIRN_EINVAL. */
int cairn_log_parse_level(const char *name, enum cairn_log_level *level);

/* Context printed on every line. role is a static string (never copied);
 * NULL or node 0 leaves the field out. */
void cairn_log_set_node(uint64_t node);
void cairn_log_set_role(const char *role, uint64_t term);

/* Redirect output (tests); fd < 0 restores stderr. */
void cairn_log_set_fd(int fd);

void cairn_log(enum cairn_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Formats the line cairn_log would write (without the newline) into buf of
 * size bytes, with the given wall-clock time in ms since the epoch; returns
 * the length written. Exposed for tests. */
int cairn_log_format(char *buf, int size, int64_t wall_ms, enum cairn_log_level level,
		     const char *msg);

#define CAIRN_DEBUG(...) cairn_log(CAIRN_LOG_DEBUG, __VA_ARGS__)
#define CAIRN_INFO(...) cairn_log(CAIRN_LOG_INFO, __VA_ARGS__)
#define CAIRN_WARN(...) cairn_log(CAIRN_LOG_WARN, __VA_ARGS__)
#define CAIRN_ERROR(...) cairn_log(CAIRN_LOG_ERROR, __VA_ARGS__)

#endif
