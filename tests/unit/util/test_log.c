/* Log lines carry the contract's fields in the contract's order. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cairn/errors.h"
#include "util/log.h"

Test(log, line_has_timestamp_node_role_term_message)
{
	char buf[256];
	cairn_log_set_node(2);
	cairn_log_set_role("follower", 3);
	/* 2026-11-23T12:50:07.113Z */
	int64_t ms = 1795438207113LL;
	int n = cairn_log_format(buf, sizeof buf, ms, CAIRN_LOG_INFO, "voted for 1");
	cr_assert_eq(n, (int)strlen(buf));
	cr_assert_str_eq(buf, "2026-11-23T12:50:07.113Z node=2 role=follower term=3 voted for 1");
	cairn_log_set_node(0);
	cairn_log_set_role(NULL, 0);
}

Test(log, warnings_and_errors_are_marked)
{
	char buf[256];
	cairn_log_set_node(1);
	cairn_log_set_role("leader", 7);
	cairn_log_format(buf, sizeof buf, 0, CAIRN_LOG_ERROR, "disk full");
	cr_assert_str_eq(buf,
			 "1970-01-01T00:00:00.000Z node=1 role=leader term=7 error: disk full");
	cairn_log_set_node(0);
	cairn_log_set_role(NULL, 0);
}

Test(log, without_context_only_time_and_message)
{
	char buf[256];
	cairn_log_format(buf, sizeof buf, 1500, CAIRN_LOG_INFO, "starting");
	cr_assert_str_eq(buf, "1970-01-01T00:00:01.500Z starting");
}

Test(log, long_line_is_cut_not_overflowed)
{
	char buf[40];
	char msg[200];
	memset(msg, 'x', sizeof msg - 1);
	msg[sizeof msg - 1] = '\0';
	int n = cairn_log_format(buf, sizeof buf, 0, CAIRN_LOG_INFO, msg);
	cr_assert_eq(n, (int)sizeof buf - 1);
	cr_assert_eq(strlen(buf), sizeof buf - 1);
}

Test(log, level_filter_and_one_line_per_event)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	cairn_log_set_fd(fds[1]);
	cairn_log_set_level(CAIRN_LOG_WARN);
	cairn_log(CAIRN_LOG_INFO, "hidden %d", 1);
	cairn_log(CAIRN_LOG_WARN, "shown %d", 2);
	cairn_log_set_fd(-1);
	cairn_log_set_level(CAIRN_LOG_INFO);
	close(fds[1]);
	char out[512] = {0};
	ssize_t n = read(fds[0], out, sizeof out - 1);
	close(fds[0]);
	cr_assert_gt(n, 0);
	cr_assert_null(strstr(out, "hidden"));
	cr_assert_not_null(strstr(out, "warn: shown 2\n"));
	cr_assert_eq(strchr(out, '\n'), out + n - 1, "exactly one line");
}

Test(log, parse_level_names)
{
	enum cairn_log_level l;
	cr_assert_eq(cairn_log_parse_level("debug", &l), 0);
	cr_assert_eq(l, CAIRN_LOG_DEBUG);
	cr_assert_eq(cairn_log_parse_level("error", &l), 0);
	cr_assert_eq(l, CAIRN_LOG_ERROR);
	cr_assert_eq(cairn_log_parse_level("loud", &l), CAIRN_EINVAL);
}
