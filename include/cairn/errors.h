/*
 * errors.h - the one error convention of cairn.
 *
 * Every function that can fail returns int: 0 on success or a negative
 * CAIRN_E* code from the table below. The table is an X-macro so that the
 * enum and cairn_strerror() can never drift apart. Context for a failure
 * (a file name, a line) travels in a caller-supplied message buffer.
 */
#ifndef CAIRN_ERRORS_H
#define CAIRN_ERRORS_H

#define CAIRN_ERRNO_MAP(X)                                                                         \
	X(NOMEM, "out of memory")                                                                  \
	X(INVAL, "invalid argument")                                                               \
	X(CONFIG, "bad configuration")                                                             \
	X(IO, "I/O error")                                                                         \
	X(NOSPACE, "no space left on device")                                                      \
	X(CORRUPT, "data corrupt")                                                                 \
	X(NOTFOUND, "not found")                                                                   \
	X(EXISTS, "already exists")                                                                \
	X(TOOBIG, "too large")                                                                     \
	X(FULL, "queue full")                                                                      \
	X(PROTO, "protocol error")                                                                 \
	X(NOTLEADER, "not the leader")                                                             \
	X(TIMEOUT, "timed out")                                                                    \
	X(UNAVAIL, "unavailable")                                                                  \
	X(MISMATCH, "compare failed: value differs")                                               \
	X(STOPPED, "stopped")                                                                      \
	X(FOREIGN, "data dir belongs to another member or cluster")                                \
	X(BUSY, "resource busy")                                                                   \
	X(UNKNOWN, "outcome unknown")

/* Codes count up from CAIRN__EMIN + 1, so every one is negative. */
enum cairn_errno {
	CAIRN__EMIN = -1000, /* clear of errno values (libuv reports -errno) */
#define CAIRN__ERRNO_ENUM(name, msg) CAIRN_E##name,
	CAIRN_ERRNO_MAP(CAIRN__ERRNO_ENUM)
#undef CAIRN__ERRNO_ENUM
		CAIRN__EMAX
};

_Static_assert(CAIRN__EMAX < 0, "error codes must all be negative");

/* A static, human-readable message for any value: a CAIRN_E* code, 0, or
 * a negative errno value (as libuv reports them). Never NULL. */
const char *cairn_strerror(int err);

/* The symbolic name of a CAIRN_E* code ("CAIRN_ENOMEM"), or "unknown". */
const char *cairn_errname(int err);

#endif
