/* Every error code has a distinct name and a message. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cairn/errors.h"

Test(error, every_code_has_a_message_and_name)
{
	for (int e = CAIRN__EMIN + 1; e < CAIRN__EMAX; e++) {
		cr_assert_str_neq(cairn_strerror(e), "unknown error", "code %d", e);
		cr_assert_str_neq(cairn_errname(e), "unknown", "code %d", e);
	}
}

Test(error, known_messages)
{
	cr_assert_str_eq(cairn_strerror(0), "success");
	cr_assert_str_eq(cairn_strerror(CAIRN_ENOTLEADER), "not the leader");
	cr_assert_str_eq(cairn_errname(CAIRN_ENOMEM), "CAIRN_ENOMEM");
}

Test(error, negative_errno_falls_through_to_libc)
{
	cr_assert_str_eq(cairn_strerror(-ENOENT), strerror(ENOENT));
	cr_assert_lt(CAIRN__EMAX, -200, "cairn codes never collide with errno values");
}
