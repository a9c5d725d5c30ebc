/*
 * test_cairnd.c - cairnd's start-up and shutdown contract, run as a real
 * process: refused starts are one line on stderr, exit 2 and leave the data
 * dir as it was; a single-member cluster starts, leads and stops on SIGTERM
 * with exit 0. Every server binds 127.0.0.1 on ports the kernel picked free
 * a moment before, and every temp dir is removed.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CAIRND_PATH
#error "CAIRND_PATH must name the built cairnd"
#endif

struct run {
	int status; /* exit status, or -1 when it did not exit normally */
	char err[8192];
};

static char tmp[256];

static void make_tmp(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/cairnd-test-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
}

static void remove_tmp(void)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(cairnd, .init = make_tmp, .fini = remove_tmp);

/* A TCP port that was free a moment ago (the kernel's pick). */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	socklen_t len = sizeof sin;
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* Write a config of members 1..n (ports given) to tmp/name. */
static void write_config(const char *name, int n, const int *peer_ports, const int *client_ports)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", tmp, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "[cluster]\nheartbeat_ms = 20\nelection_timeout_ms = 100\n");
	for (int i = 0; i < n; i++)
		fprintf(f,
			"[node %d]\npeer = 127.0.0.1:%d\nclient = 127.0.0.1:%d\n"
			"data_dir = %s/data%d\n",
			i + 1, peer_ports[i], client_ports[i], tmp, i + 1);
	fclose(f);
}

static pid_t spawn(const char *const *args, int err_fd)
{
	const char *argv[16] = {"cairnd"};
	for (size_t i = 0; args[i] != NULL; i++) {
		cr_assert_lt(i + 2, sizeof argv / sizeof argv[0]);
		argv[i + 1] = args[i];
	}
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(err_fd, STDERR_FILENO);
		execv(CAIRND_PATH, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return pid;
}

static void read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	ssize_t n = read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* Run to completion (refused starts end at once; 10 s guards a hang). */
static void run_cairnd(struct run *r, const char *const *args)
{
	char errpath[512];
	snprintf(errpath, sizeof errpath, "%s/stderr", tmp);
	int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	pid_t pid = spawn(args, fd);
	close(fd);
	int status = 0;
	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (i == 999) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			cr_assert_fail("cairnd did not exit");
		}
		usleep(10000);
	}
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	read_file(errpath, r->err, sizeof r->err);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static bool exists(const char *name)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", tmp, name);
	return stat(path, &st) == 0;
}

Test(cairnd, a_usage_error_is_one_line_and_exit_2)
{
	struct run r;
	run_cairnd(&r, (const char *const[]){"--bogus", NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_str_eq(r.err, "cairnd: unknown option --bogus (try --help)\n");
}

Test(cairnd, an_unreadable_config_is_one_line_and_exit_2)
{
	struct run r;
	run_cairnd(&r,
		   (const char *const[]){"--config", "/nonexistent/cluster.ini", "-i", "1", NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_str_eq(
		r.err,
		"cairnd: /nonexistent/cluster.ini: cannot open: No such file or directory\n");
}

Test(cairnd, an_unknown_id_is_one_line_and_exit_2)
{
	int peer[1] = {free_port()}, client[1] = {free_port()};
	write_config("c.ini", 1, peer, client);
	char cfg[512];
	snprintf(cfg, sizeof cfg, "%s/c.ini", tmp);
	struct run r;
	run_cairnd(&r, (const char *const[]){"-c", cfg, "-i", "9", NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
	cr_assert(strstr(r.err, "node id 9 is not a member") != NULL, "%s", r.err);
	cr_assert_not(exists("data1"));
}

Test(cairnd, a_port_in_use_is_one_line_exit_2_and_no_data_dir)
{
	int busy = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(busy, (struct sockaddr *)&sin, sizeof sin), 0);
	cr_assert_eq(listen(busy, 1), 0);
	socklen_t len = sizeof sin;
	cr_assert_eq(getsockname(busy, (struct sockaddr *)&sin, &len), 0);
	int peer[1] = {free_port()}, client[1] = {ntohs(sin.sin_port)};
	write_config("c.ini", 1, peer, client);
	char cfg[512];
	snprintf(cfg, sizeof cfg, "%s/c.ini", tmp);
	struct run r;
	run_cairnd(&r, (const char *const[]){"-c", cfg, "-i", "1", NULL});
	close(busy);
	cr_assert_eq(r.status, 2);
	cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
	cr_assert(strstr(r.err, "client address") != NULL, "%s", r.err);
	cr_assert(strstr(r.err, "in use") != NULL, "%s", r.err);
	cr_assert_not(exists("data1"), "nothing is created on a refused start");
}

Test(cairnd, a_data_dir_that_is_a_file_is_refused_unchanged)
{
	int peer[1] = {free_port()}, client[1] = {free_port()};
	write_config("c.ini", 1, peer, client);
	char cfg[512], dir[512];
	snprintf(cfg, sizeof cfg, "%s/c.ini", tmp);
	snprintf(dir, sizeof dir, "%s/afile", tmp);
	FILE *f = fopen(dir, "w");
	fputs("x", f);
	fclose(f);
	struct run r;
	run_cairnd(&r, (const char *const[]){"-c", cfg, "-i", "1", "--data-dir", dir, NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
	struct stat st;
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_size, 1, "the file is untouched");
}

/* Start a one-member cluster, wait for "election won", SIGTERM it. */
static void start_and_stop(const char *cfg, const char *id, char *log, size_t log_size, int *status)
{
	char errpath[512];
	snprintf(errpath, sizeof errpath, "%s/stderr", tmp);
	int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	pid_t pid = spawn((const char *const[]){"-c", cfg, "-i", id, NULL}, fd);
	close(fd);
	for (int i = 0; i < 1000; i++) {
		read_file(errpath, log, log_size);
		if (strstr(log, "now the leader") != NULL)
			break;
		usleep(10000);
	}
	kill(pid, SIGTERM);
	int st = 0;
	for (int i = 0; i < 1000 && waitpid(pid, &st, WNOHANG) != pid; i++)
		usleep(10000);
	if (waitpid(pid, &st, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	read_file(errpath, log, log_size);
}

Test(cairnd, a_single_member_leads_and_stops_on_sigterm_with_exit_0)
{
	int peer[1] = {free_port()}, client[1] = {free_port()};
	write_config("c.ini", 1, peer, client);
	char cfg[512], log[8192];
	snprintf(cfg, sizeof cfg, "%s/c.ini", tmp);
	int status;
	start_and_stop(cfg, "1", log, sizeof log, &status);
	cr_assert(strstr(log, "node=1 role=leader") != NULL, "%s", log);
	cr_assert(strstr(log, "SIGTERM received") != NULL, "%s", log);
	cr_assert_eq(status, 0, "%s", log);
	cr_assert(exists("data1"));
}

Test(cairnd, every_log_line_carries_time_node_role_and_term)
{
	int peer[1] = {free_port()}, client[1] = {free_port()};
	write_config("c.ini", 1, peer, client);
	char cfg[512], log[8192];
	snprintf(cfg, sizeof cfg, "%s/c.ini", tmp);
	int status;
	start_and_stop(cfg, "1", log, sizeof log, &status);
	cr_assert_eq(status, 0, "%s", log);
	int lines = 0;
	for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		/* 2026-11-23T12:50:07.113Z node=1 role=ROLE term=N message */
		cr_assert(strlen(line) > 25 && line[10] == 'T' && line[23] == 'Z', "%s", line);
		cr_assert(strncmp(line + 24, " node=1 role=", 13) == 0, "%s", line);
		cr_assert(strstr(line, " term=") != NULL, "%s", line);
		lines++;
	}
	cr_assert_geq(lines, 4, "start-up, election, stop: %d lines", lines);
}

Test(cairnd, a_data_dir_of_another_cluster_is_refused_unchanged)
{
	int peer[2] = {free_port(), free_port()}, client[2] = {free_port(), free_port()};
	write_config("one.ini", 1, peer, client);
	write_config("two.ini", 2, peer, client);
	char one[512], two[512], log[8192];
	snprintf(one, sizeof one, "%s/one.ini", tmp);
	snprintf(two, sizeof two, "%s/two.ini", tmp);
	int status;
	start_and_stop(one, "1", log, sizeof log, &status);
	cr_assert_eq(status, 0, "%s", log);
	char before[300], after[300], cmd[2048];
	snprintf(before, sizeof before, "%s/before", tmp);
	snprintf(after, sizeof after, "%s/after", tmp);
	snprintf(cmd, sizeof cmd,
		 "cd '%s/data1' && ls -l --time-style=+%%s.%%N . > '%s' && cat * | md5sum >> '%s'",
		 tmp, before, before);
	cr_assert_eq(system(cmd), 0);
	struct run r;
	run_cairnd(&r, (const char *const[]){"-c", two, "-i", "1", NULL});
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
	snprintf(cmd, sizeof cmd,
		 "cd '%s/data1' && ls -l --time-style=+%%s.%%N . > '%s' && cat * | md5sum >> '%s'",
		 tmp, after, after);
	cr_assert_eq(system(cmd), 0);
	char b[2048], a[2048];
	read_file(before, b, sizeof b);
	read_file(after, a, sizeof a);
	cr_assert_str_eq(a, b, "the data dir is byte-for-byte unchanged");
}
