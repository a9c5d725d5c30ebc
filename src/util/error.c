/*
 * error.c - messages and names for the CAIRN_E* codes of cairn/errors.h.
 *
 * Negative values outside the cairn range are taken to be negative errno
 * values (libuv reports those), so one function serves every error a caller
 * may hold.
 */
#include <string.h>

#include "cairn/errors.h"

const char *cairn_strerror(int err)
{
	if (err == 0)
		return "success";
	switch (err) {
#define CAIRN__ERRNO_MSG(name, msg)                                                                \
	case CAIRN_E##name:                                                                        \
		return msg;
		CAIRN_ERRNO_MAP(CAIRN__ERRNO_MSG)
#undef CAIRN__ERRNO_MSG
	default:
		break;
	}
	if (err > CAIRN__EMIN && err < CAIRN__EMAX)
		return "unknown error";
	if (err < 0)
		return strerror(-err);
	return "unknown error";
}

const char *cairn_errname(int err)
{
	switch (err) {
#define CAIRN__ERRNO_NAME(name, msg)                                                               \
	case CAIRN_E##name:                                                                        \
		return "CAIRN_E" #name;
		CAIRN_ERRNO_MAP(CAIRN__ERRNO_NAME)
#undef CAIRN__ERRNO_NAME
	default:
		return "unknown";
	}
}
