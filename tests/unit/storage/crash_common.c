/* crash_common.c - see crash_common.h. */
#include "crash_common.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"

int crash_iterations(int default_iterations)
{
	const char *env = getenv("CAIRN_CRASH_ITERATIONS");
	return env != NULL ? atoi(env) : default_iterations;
}

uint64_t crash_seed(void)
{
	const char *env = getenv("CAIRN_CRASH_SEED");
	return env != NULL ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
}

void crash_send(int fd, const void *msg, size_t msg_bytes)
{
	if (write(fd, msg, msg_bytes) != (ssize_t)msg_bytes)
		_exit(4);
}

void crash_notify(void *sem)
{
	sem_post(sem);
}

void crash_wait_jobs(sem_t *sem, struct cairn_kv_worker *w, const size_t *done, size_t submitted,
		     cairn_kv_done_cb done_cb, void *arg)
{
	while (*done < submitted) {
		while (sem_wait(sem) != 0 && errno == EINTR)
			;
		cairn_kv_worker_drain(w, done_cb, arg);
	}
}

/* Read the child's messages into msgs[n..] until it is dead (EOF) or, if
 * deadline_ms is not 0, the deadline. A message cut by the deadline stays
 * in partial for the next call. */
static size_t pump(int fd, uint8_t *msgs, size_t msg_bytes, size_t n, size_t msgs_max,
		   uint64_t deadline_ms, uint64_t seed)
{
	static uint8_t partial[CRASH_MSG_BYTES_MAX];
	static size_t have;
	for (;;) {
		int wait_ms = -1;
		if (deadline_ms != 0) {
			uint64_t now = cairn_clock_now_ms();
			if (now >= deadline_ms)
				return n;
			wait_ms = (int)(deadline_ms - now);
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, wait_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		cr_assert_geq(pr, 0);
		if (pr == 0)
			continue;
		ssize_t got = read(fd, partial + have, msg_bytes - have);
		if (got <= 0) {
			cr_assert_eq(have, 0, "a torn message (seed %llu)",
				     (unsigned long long)seed);
			return n;
		}
		have += (size_t)got;
		if (have == msg_bytes) {
			cr_assert_lt(n, msgs_max);
			memcpy(msgs + n * msg_bytes, partial, msg_bytes);
			n++;
			have = 0;
		}
	}
}

size_t crash_run_child(void (*child_main)(int fd, void *arg), void *arg, uint64_t delay_ms,
		       void *msgs, size_t msg_bytes, size_t msgs_max, uint64_t seed)
{
	cr_assert_leq(msg_bytes, CRASH_MSG_BYTES_MAX, "atomic pipe writes");
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		child_main(fds[1], arg);
		_exit(6); /* child_main never returns */
	}
	close(fds[1]);
	size_t n =
		pump(fds[0], msgs, msg_bytes, 0, msgs_max, cairn_clock_now_ms() + delay_ms, seed);
	kill(pid, SIGKILL);
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	n = pump(fds[0], msgs, msg_bytes, n, msgs_max, 0, seed);
	close(fds[0]);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "the child died by itself (status %d, seed %llu)", status,
		  (unsigned long long)seed);
	return n;
}
