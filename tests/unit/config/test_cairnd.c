/*
 * test_cairnd.c - the placeholder cairnd: its command line and config
 * errors are one line on stderr with exit status 2. It starts nothing, so
 * these tests only run it and read what it says.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CAIRND_PATH
#error "CAIRND_PATH must name the built cairnd"
#endif

#define SHIPPED_CONFIG CAIRN_SOURCE_ROOT "/config/cluster.ini"

struct run {
	int status; /* exit status, or -1 when it did not exit */
	char out[4096];
	char err[4096];
};

static void read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
}

/* Runs cairnd with argv (NULL-terminated, without argv[0]). The outputs
 * are small, so reading stdout fully before stderr cannot deadlock. */
static void run_cairnd(struct run *r, const char *const *args)
{
	const char *argv[16] = {"cairnd"};
	int out[2], err[2], status;
	size_t i;

	for (i = 0; args[i] != NULL; i++) {
		cr_assert_lt(i + 2, sizeof(argv) / sizeof(argv[0]));
		argv[i + 1] = args[i];
	}
	cr_assert_eq(pipe(out), 0);
	cr_assert_eq(pipe(err), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		close(out[0]);
		close(err[0]);
		execv(CAIRND_PATH, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	read_all(out[0], r->out, sizeof(r->out));
	read_all(err[0], r->err, sizeof(r->err));
	close(out[0]);
	close(err[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(cairnd, help_prints_usage_and_exits_0)
{
	struct run r;

	run_cairnd(&r, (const char *const[]){"--help", NULL});
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "usage: cairnd --config FILE --id N") != NULL, "%s", r.out);
}

Test(cairnd, missing_id_is_a_usage_error)
{
	struct run r;

	run_cairnd(&r, (const char *const[]){"-c", SHIPPED_CONFIG, NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_str_eq(r.err, "cairnd: missing --id N (try --help)\n");
}

Test(cairnd, bad_id_is_a_usage_error)
{
	struct run r;

	run_cairnd(&r, (const char *const[]){"-c", SHIPPED_CONFIG, "--id", "x1", NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_str_eq(r.err, "cairnd: --id: 'x1' is not a node id (1..1000000)\n");
}

Test(cairnd, unknown_option_is_a_usage_error)
{
	struct run r;

	run_cairnd(&r, (const char *const[]){"--bogus", NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_str_eq(r.err, "cairnd: unknown option --bogus (try --help)\n");
}

Test(cairnd, unreadable_config_is_one_line_and_exit_2)
{
	struct run r;

	run_cairnd(&r,
		   (const char *const[]){"--config", "/nonexistent/cluster.ini", "-i", "1", NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_str_eq(
		r.err,
		"cairnd: /nonexistent/cluster.ini: cannot open: No such file or directory\n");
}

Test(cairnd, unknown_id_is_one_line_and_exit_2)
{
	struct run r;

	run_cairnd(&r, (const char *const[]){"--config", SHIPPED_CONFIG, "--id", "9", NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_str_eq(r.err, "cairnd: node id 9 is not a member in " SHIPPED_CONFIG "\n");
}

Test(cairnd, says_the_server_is_not_implemented_and_exits_2)
{
	struct run r;

	run_cairnd(&r, (const char *const[]){"-c", SHIPPED_CONFIG, "-i", "2", "--data-dir",
					     "/tmp/elsewhere", NULL});
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, " node=2 cairnd 0.1.0 starting: peer 127.0.0.1:7002 client "
				"127.0.0.1:8002 data_dir /tmp/elsewhere\n") != NULL,
		  "%s", r.err);
	cr_assert(strstr(r.err, " node=2 error: server not implemented yet\n") != NULL, "%s",
		  r.err);
}
