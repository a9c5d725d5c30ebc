/*
 * test_config.c - the cluster file: what loads, and every refusal with its
 * exact message. Each test writes its file into a fresh mkdtemp directory
 * under /tmp that the fixture removes again.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn/errors.h"
#include "cairn/limits.h"
#include "config/config.h"

#ifndef CAIRN_SOURCE_ROOT
#error "CAIRN_SOURCE_ROOT must name the source tree"
#endif

static char tmp_dir[64];
static char cfg_path[128];
static struct cairn_config cfg;
static char err[1024];

static void make_tmp(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/cairn-config-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp_dir));
	snprintf(cfg_path, sizeof(cfg_path), "%s/cluster.ini", tmp_dir);
}

static void remove_tmp(void)
{
	chmod(cfg_path, 0600);
	if (unlink(cfg_path) != 0 && errno != ENOENT)
		rmdir(cfg_path); /* a test may have made it a directory */
	rmdir(cfg_path);
	cr_assert_eq(rmdir(tmp_dir), 0, "%s: %s", tmp_dir, strerror(errno));
}

TestSuite(config, .init = make_tmp, .fini = remove_tmp);

static void write_bytes(const char *data, size_t len)
{
	FILE *f = fopen(cfg_path, "w");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static int load_text(const char *text)
{
	write_bytes(text, strlen(text));
	return cairn_config_load(cfg_path, &cfg, err, sizeof(err));
}

/* The file must be refused with "<path><suffix>" and cfg left zeroed. */
static void expect_error(const char *text, const char *suffix)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s%s", cfg_path, suffix);
	cr_assert_eq(load_text(text), CAIRN_ECONFIG, "accepted:\n%s", text);
	cr_assert_str_eq(err, want);
	cr_assert_eq(cfg.node_count, 0);
	cr_assert_eq(cfg.heartbeat_ms, 0);
}

static const char contract_example[] =
	"[cluster]\n"
	"heartbeat_ms        = 50     ; leader heartbeat interval\n"
	"election_timeout_ms = 300    ; followers wait a random time in [T, 2T) before an "
	"election\n"
	"\n"
	"[node 1]\n"
	"peer     = 127.0.0.1:7001    ; address for Raft traffic between members\n"
	"client   = 127.0.0.1:8001    ; address for client requests\n"
	"data_dir = data/node1        ; LMDB files of this member\n"
	"\n"
	"[node 2]\n"
	"peer     = 127.0.0.1:7002\n"
	"client   = 127.0.0.1:8002\n"
	"data_dir = data/node2\n"
	"\n"
	"[node 3]\n"
	"peer     = 127.0.0.1:7003\n"
	"client   = 127.0.0.1:8003\n"
	"data_dir = data/node3\n";

/* A valid member section, for files that test something else. */
#define NODE1 "[node 1]\npeer = 127.0.0.1:7001\nclient = 127.0.0.1:8001\ndata_dir = d1\n"

static void check_three_local_members(const struct cairn_config *c)
{
	cr_assert_eq(c->heartbeat_ms, 50);
	cr_assert_eq(c->election_timeout_ms, 300);
	cr_assert_eq(c->node_count, 3);
	for (uint64_t id = 1; id <= 3; id++) {
		const struct cairn_node_config *n = cairn_config_node(c, id);
		char want[64];

		cr_assert_not_null(n, "node %llu", (unsigned long long)id);
		cr_assert_eq(n->id, id);
		snprintf(want, sizeof(want), "127.0.0.1:%llu", 7000 + (unsigned long long)id);
		cr_assert_str_eq(n->peer.text, want);
		cr_assert_eq(n->peer.kind, CAIRN_ADDR_IPV4);
		cr_assert_eq(n->peer.port, 7000 + id);
		snprintf(want, sizeof(want), "127.0.0.1:%llu", 8000 + (unsigned long long)id);
		cr_assert_str_eq(n->client.text, want);
		cr_assert_eq(n->client.port, 8000 + id);
		snprintf(want, sizeof(want), "data/node%llu", (unsigned long long)id);
		cr_assert_str_eq(n->data_dir, want);
	}
}

Test(config, loads_the_contract_example)
{
	cr_assert_eq(load_text(contract_example), 0, "%s", err);
	check_three_local_members(&cfg);
	cairn_config_free(&cfg);
	cr_assert_eq(cfg.node_count, 0);
	cairn_config_free(&cfg);
}

Test(config, loads_the_shipped_cluster_ini)
{
	struct cairn_config c;

	cr_assert_eq(
		cairn_config_load(CAIRN_SOURCE_ROOT "/config/cluster.ini", &c, err, sizeof(err)), 0,
		"%s", err);
	check_three_local_members(&c);
	cairn_config_free(&c);
}

Test(config, unknown_id_is_not_found)
{
	cr_assert_eq(load_text(contract_example), 0, "%s", err);
	cr_assert_null(cairn_config_node(&cfg, 4));
	cr_assert_null(cairn_config_node(&cfg, 0));
}

Test(config, timings_default_without_cluster_section)
{
	cr_assert_eq(load_text(NODE1), 0, "%s", err);
	cr_assert_eq(cfg.heartbeat_ms, 50);
	cr_assert_eq(cfg.election_timeout_ms, 300);
	cr_assert_eq(cfg.node_count, 1);
}

Test(config, loads_ipv6_and_host_names)
{
	cr_assert_eq(load_text("[node 7]\n"
			       "peer = [::1]:7001\n"
			       "client = [2001:db8::5]:8001 ; v6\n"
			       "data_dir = /var/lib/cairn/7\n"
			       "[node 3]\n"
			       "peer = db3.example.com:7001\n"
			       "client = localhost:8003\n"
			       "data_dir = d3\n"),
		     0, "%s", err);
	cr_assert_eq(cfg.node_count, 2);
	cr_assert_eq(cfg.nodes[0].id, 3, "nodes are sorted by id");
	cr_assert_eq(cfg.nodes[1].id, 7);
	const struct cairn_node_config *n7 = cairn_config_node(&cfg, 7);
	cr_assert_eq(n7->peer.kind, CAIRN_ADDR_IPV6);
	cr_assert_str_eq(n7->peer.host, "::1");
	cr_assert_str_eq(n7->client.text, "[2001:db8::5]:8001");
	cr_assert_str_eq(n7->data_dir, "/var/lib/cairn/7");
	const struct cairn_node_config *n3 = cairn_config_node(&cfg, 3);
	cr_assert_eq(n3->peer.kind, CAIRN_ADDR_NAME);
	cr_assert_str_eq(n3->peer.host, "db3.example.com");
	cr_assert_str_eq(n3->client.host, "localhost");
}

Test(config, relative_data_dir_stays_relative)
{
	cr_assert_eq(load_text("[node 1]\npeer = 127.0.0.1:1\nclient = 127.0.0.1:2\n"
			       "data_dir = ../some dir/x\n"),
		     0, "%s", err);
	cr_assert_str_eq(cfg.nodes[0].data_dir, "../some dir/x");
}

Test(config, comments_blank_lines_crlf_bom_and_indent_are_accepted)
{
	cr_assert_eq(load_text("\xef\xbb\xbf; a comment\r\n"
			       "# another comment\r\n"
			       "\r\n"
			       "  [cluster]   ; trailing comment\r\n"
			       "\theartbeat_ms = 20\r\n"
			       "    election_timeout_ms=200\r\n"
			       "[node 1000000]\r\n"
			       "peer = 127.0.0.1:7001\r\n"
			       "client = 127.0.0.1:8001\r\n"
			       "data_dir = d ; comment\r\n"),
		     0, "%s", err);
	cr_assert_eq(cfg.heartbeat_ms, 20);
	cr_assert_eq(cfg.election_timeout_ms, 200);
	cr_assert_eq(cfg.nodes[0].id, CAIRN_NODE_ID_MAX);
	cr_assert_str_eq(cfg.nodes[0].data_dir, "d");
}

Test(config, seven_members_are_accepted)
{
	char text[4096] = "";

	for (int i = 1; i <= (int)CAIRN_MEMBERS_MAX; i++) {
		char node[256];

		snprintf(node, sizeof(node),
			 "[node %d]\npeer = 10.0.0.%d:7000\nclient = 10.0.0.%d:8000\n"
			 "data_dir = d\n",
			 i, i, i);
		strcat(text, node);
	}
	cr_assert_eq(load_text(text), 0, "%s", err);
	cr_assert_eq(cfg.node_count, CAIRN_MEMBERS_MAX);
}

/* ---- the file itself ---- */

Test(config, missing_file_is_reported)
{
	char want[256];

	snprintf(want, sizeof(want), "%s/absent.ini: cannot open: No such file or directory",
		 tmp_dir);
	char path[200];
	snprintf(path, sizeof(path), "%s/absent.ini", tmp_dir);
	cr_assert_eq(cairn_config_load(path, &cfg, err, sizeof(err)), CAIRN_EIO);
	cr_assert_str_eq(err, want);
}

/* chmod 000 stops everyone but root; as root, a child drops to "nobody"
 * first so that the permission check really happens. */
Test(config, unreadable_file_is_reported)
{
	char want[256];
	int fds[2];

	write_bytes(NODE1, strlen(NODE1));
	cr_assert_eq(chmod(cfg_path, 0), 0);
	cr_assert_eq(chmod(tmp_dir, 0755), 0);
	snprintf(want, sizeof(want), "%s: cannot open: Permission denied", cfg_path);
	if (geteuid() != 0) {
		cr_assert_eq(cairn_config_load(cfg_path, &cfg, err, sizeof(err)), CAIRN_EIO);
		cr_assert_str_eq(err, want);
		return;
	}
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int rc = -1;

		close(fds[0]);
		if (setgid(65534) == 0 && setuid(65534) == 0)
			rc = cairn_config_load(cfg_path, &cfg, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "cannot drop to nobody: %s", strerror(errno));
		if (write(fds[1], err, strlen(err) + 1) < 0)
			_exit(3);
		_exit(rc == CAIRN_EIO ? 0 : 1);
	}
	close(fds[1]);
	char got[1024] = "";
	ssize_t n = read(fds[0], got, sizeof(got) - 1);
	close(fds[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(n > 0);
	cr_assert_str_eq(got, want);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(config, directory_is_a_read_error)
{
	char want[256];

	cr_assert_eq(mkdir(cfg_path, 0700), 0);
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory", cfg_path);
	cr_assert_eq(cairn_config_load(cfg_path, &cfg, err, sizeof(err)), CAIRN_EIO);
	cr_assert_str_eq(err, want);
}

Test(config, empty_file_has_no_members)
{
	expect_error("", ": no members (expected at least one [node N] section)");
}

Test(config, cluster_section_alone_has_no_members)
{
	expect_error("[cluster]\nheartbeat_ms = 10\n",
		     ": no members (expected at least one [node N] section)");
}

Test(config, line_too_long_is_refused)
{
	char text[1200];

	memcpy(text, NODE1, strlen(NODE1));
	char *p = text + strlen(NODE1);
	p += sprintf(p, "; ");
	memset(p, 'x', 1000);
	p[1000] = '\n';
	p[1001] = '\0';
	expect_error(text, ":5: line too long (more than 197 bytes)");
}

Test(config, nul_byte_is_refused)
{
	static const char text[] = "[node 1]\npeer = 127.0.0.1:7001\0junk\n";
	char want[256];

	write_bytes(text, sizeof(text) - 1);
	snprintf(want, sizeof(want), "%s:2: control character 0x00 in line", cfg_path);
	cr_assert_eq(cairn_config_load(cfg_path, &cfg, err, sizeof(err)), CAIRN_ECONFIG);
	cr_assert_str_eq(err, want);
}

Test(config, control_character_is_refused)
{
	expect_error(NODE1 "\x1b[31m\n", ":5: control character 0x1b in line");
}

Test(config, too_many_lines_are_refused)
{
	size_t len = (CAIRN_CONFIG_LINES_MAX + 1) * 2;
	char *text = malloc(len + 1);
	char want[64];

	cr_assert_not_null(text);
	for (size_t i = 0; i < len; i += 2)
		memcpy(text + i, ";\n", 2);
	text[len] = '\0';
	snprintf(want, sizeof(want), ":%u: too many lines (more than %u)",
		 CAIRN_CONFIG_LINES_MAX + 1, CAIRN_CONFIG_LINES_MAX);
	expect_error(text, want);
	free(text);
}

/* Random bytes and random mutations of a good file: always an error or a
 * valid config, never a crash (the sanitizers watch). */
Test(config, hostile_input_never_crashes)
{
	unsigned state = 12345;
	char text[512];

	for (int round = 0; round < 300; round++) {
		size_t len;

		if (round % 2 == 0) {
			len = sizeof(contract_example) - 1;
			memcpy(text, contract_example, len < sizeof(text) ? len : sizeof(text));
			len = len < sizeof(text) ? len : sizeof(text);
			for (int m = 0; m < 4; m++) {
				state = state * 1103515245u + 12345u;
				text[(state >> 8) % len] = (char)(state >> 16);
			}
		} else {
			state = state * 1103515245u + 12345u;
			len = (state >> 8) % sizeof(text);
			for (size_t i = 0; i < len; i++) {
				state = state * 1103515245u + 12345u;
				text[i] = (char)(state >> 16);
			}
		}
		write_bytes(text, len);
		err[0] = '\0';
		int rc = cairn_config_load(cfg_path, &cfg, err, sizeof(err));
		if (rc != 0) {
			cr_assert_eq(rc, CAIRN_ECONFIG, "round %d: %s", round, err);
			cr_assert(strncmp(err, cfg_path, strlen(cfg_path)) == 0, "%s", err);
			cr_assert_null(strchr(err, '\n'));
		}
		cairn_config_free(&cfg);
	}
}

Test(config, message_is_cut_to_the_buffer)
{
	char small[16];

	write_bytes("[bogus]\n", 8);
	cr_assert_eq(cairn_config_load(cfg_path, &cfg, small, sizeof(small)), CAIRN_ECONFIG);
	cr_assert_eq(strlen(small), sizeof(small) - 1);
	cr_assert_eq(cairn_config_load(cfg_path, &cfg, NULL, 0), CAIRN_ECONFIG);
}

/* ---- syntax ---- */

Test(config, line_without_equals_is_a_syntax_error)
{
	expect_error(NODE1 "peer\n", ":5: syntax error (expected [section] or key = value)");
}

Test(config, syntax_error_before_a_later_error_wins)
{
	expect_error("[node 1]\nnonsense\npeer = x\n",
		     ":2: syntax error (expected [section] or key = value)");
}

Test(config, header_without_closing_bracket_is_refused)
{
	expect_error(NODE1 "[node 2\n", ":5: missing ']' in section header");
}

Test(config, text_after_header_is_refused)
{
	expect_error("[node 1] x\n", ":1: unexpected text after [node 1]");
}

/* ---- sections ---- */

Test(config, unknown_section_is_refused)
{
	expect_error(NODE1 "[nodes]\nx = 1\n",
		     ":5: unknown section [nodes] (expected [cluster] or [node N])");
}

Test(config, empty_unknown_section_is_refused)
{
	expect_error("[Cluster]\n" NODE1,
		     ":1: unknown section [Cluster] (expected [cluster] or [node N])");
}

Test(config, node_without_id_is_refused)
{
	expect_error("[node]\n", ":1: unknown section [node] (expected [cluster] or [node N])");
}

Test(config, key_outside_any_section_is_refused)
{
	expect_error("heartbeat_ms = 50\n" NODE1, ":1: key 'heartbeat_ms' outside any section");
}

Test(config, duplicate_cluster_section_is_refused)
{
	expect_error("[cluster]\n" NODE1 "[cluster]\n",
		     ":6: duplicate section [cluster] (first at line 1)");
}

Test(config, node_id_not_a_number_is_refused)
{
	expect_error("[node one]\n", ":1: [node one]: node id 'one' is not a positive integer");
}

Test(config, node_id_negative_is_refused)
{
	expect_error("[node -1]\n", ":1: [node -1]: node id '-1' is not a positive integer");
}

Test(config, node_id_with_leading_zero_is_refused)
{
	expect_error("[node 01]\n", ":1: [node 01]: node id '01' is not a positive integer");
}

Test(config, node_id_with_extra_space_is_refused)
{
	expect_error("[node  1]\n", ":1: [node  1]: node id ' 1' is not a positive integer");
}

Test(config, node_id_zero_is_refused)
{
	expect_error("[node 0]\n", ":1: [node 0]: node id '0' is not a positive integer");
}

Test(config, node_id_above_max_is_refused)
{
	expect_error("[node 1000001]\n",
		     ":1: [node 1000001]: node id 1000001 out of range 1..1000000");
	expect_error("[node 99999999999999999999999]\n",
		     ":1: [node 99999999999999999999999]: node id 99999999999999999999999 out of "
		     "range 1..1000000");
}

Test(config, duplicate_node_id_is_refused)
{
	expect_error("\n" NODE1 "[node 1]\n",
		     ":6: [node 1]: duplicate node id 1 (first at line 2)");
}

Test(config, too_many_members_are_refused)
{
	char text[4096] = "";

	for (int i = 1; i <= (int)CAIRN_MEMBERS_MAX + 1; i++) {
		char node[256];

		snprintf(node, sizeof(node),
			 "[node %d]\npeer = 10.0.0.%d:7000\nclient = 10.0.0.%d:8000\n"
			 "data_dir = d\n",
			 i, i, i);
		strcat(text, node);
	}
	expect_error(text, ":29: [node 8]: too many members (at most 7)");
}

Test(config, node_missing_peer_is_refused)
{
	expect_error("[node 1]\nclient = 127.0.0.1:8001\ndata_dir = d\n[node 2]\n",
		     ":1: [node 1]: missing key 'peer'");
}

Test(config, node_missing_client_is_refused)
{
	expect_error(NODE1 "\n[node 2]\npeer = 127.0.0.1:7002\ndata_dir = d\n",
		     ":6: [node 2]: missing key 'client'");
}

Test(config, node_missing_data_dir_is_refused)
{
	expect_error(NODE1 "[node 2]\npeer = 127.0.0.1:7002\nclient = 127.0.0.1:8002\n",
		     ":5: [node 2]: missing key 'data_dir'");
}

Test(config, empty_node_section_is_refused)
{
	expect_error(NODE1 "[node 2]\n; nothing here\n", ":5: [node 2]: missing key 'peer'");
}

/* ---- keys ---- */

Test(config, unknown_cluster_key_is_refused)
{
	expect_error("[cluster]\nheartbeat = 50\n" NODE1, ":2: [cluster] unknown key 'heartbeat'");
}

Test(config, unknown_node_key_is_refused)
{
	expect_error(NODE1 "Peer = 127.0.0.1:7009\n", ":5: [node 1] unknown key 'Peer'");
}

Test(config, node_key_in_cluster_section_is_refused)
{
	expect_error("[cluster]\ndata_dir = x\n", ":2: [cluster] unknown key 'data_dir'");
}

Test(config, duplicate_key_is_refused)
{
	expect_error(NODE1 "peer = 127.0.0.1:7005\n",
		     ":5: [node 1] duplicate key 'peer' (first at line 2)");
}

Test(config, duplicate_cluster_key_is_refused)
{
	expect_error("[cluster]\nheartbeat_ms = 10\nheartbeat_ms = 10\n",
		     ":3: [cluster] duplicate key 'heartbeat_ms' (first at line 2)");
}

Test(config, empty_values_are_refused)
{
	expect_error("[cluster]\nheartbeat_ms =\n", ":2: [cluster] heartbeat_ms: empty value");
	expect_error("[node 1]\npeer = ; nothing\n", ":2: [node 1] peer: empty value");
	expect_error("[node 1]\ndata_dir =   \n", ":2: [node 1] data_dir: empty value");
}

Test(config, heartbeat_not_a_number_is_refused)
{
	expect_error("[cluster]\nheartbeat_ms = 50ms\n",
		     ":2: [cluster] heartbeat_ms: '50ms' is not a whole number");
	expect_error("[cluster]\nheartbeat_ms = -5\n",
		     ":2: [cluster] heartbeat_ms: '-5' is not a whole number");
	expect_error("[cluster]\nheartbeat_ms = 50;no space before the comment\n",
		     ":2: [cluster] heartbeat_ms: '50;no space before the comment' is not a "
		     "whole number");
}

Test(config, heartbeat_out_of_range_is_refused)
{
	expect_error("[cluster]\nheartbeat_ms = 0\n",
		     ":2: [cluster] heartbeat_ms: 0 out of range 1..30000");
	expect_error("[cluster]\nheartbeat_ms = 30001\n",
		     ":2: [cluster] heartbeat_ms: 30001 out of range 1..30000");
	expect_error("[cluster]\nheartbeat_ms = 184467440737095516160\n",
		     ":2: [cluster] heartbeat_ms: 184467440737095516160 out of range 1..30000");
}

Test(config, election_timeout_not_a_number_is_refused)
{
	expect_error("[cluster]\nelection_timeout_ms = 1e3\n",
		     ":2: [cluster] election_timeout_ms: '1e3' is not a whole number");
}

Test(config, election_timeout_out_of_range_is_refused)
{
	expect_error("[cluster]\nelection_timeout_ms = 9\n",
		     ":2: [cluster] election_timeout_ms: 9 out of range 10..60000");
	expect_error("[cluster]\nelection_timeout_ms = 60001\n",
		     ":2: [cluster] election_timeout_ms: 60001 out of range 10..60000");
}

Test(config, heartbeat_not_below_election_timeout_is_refused)
{
	expect_error("[cluster]\nheartbeat_ms = 300\nelection_timeout_ms = 300\n" NODE1,
		     ":3: [cluster] heartbeat_ms 300 must be less than election_timeout_ms 300");
	expect_error("[cluster]\nelection_timeout_ms = 100\nheartbeat_ms = 200\n" NODE1,
		     ":3: [cluster] heartbeat_ms 200 must be less than election_timeout_ms 100");
}

Test(config, log_keep_entries_defaults_to_ten_thousand)
{
	cr_assert_eq(load_text(NODE1), 0, "%s", err);
	cr_assert_eq(cfg.log_keep_entries, 10000);
	cr_assert_eq(load_text("[cluster]\nheartbeat_ms = 20\n" NODE1), 0, "%s", err);
	cr_assert_eq(cfg.log_keep_entries, 10000);
}

Test(config, log_keep_entries_is_read_at_its_limits)
{
	cr_assert_eq(load_text("[cluster]\nlog_keep_entries = 20 ; small, for tests\n" NODE1), 0,
		     "%s", err);
	cr_assert_eq(cfg.log_keep_entries, 20);
	cr_assert_eq(load_text("[cluster]\nlog_keep_entries = 1\n" NODE1), 0, "%s", err);
	cr_assert_eq(cfg.log_keep_entries, 1);
	cr_assert_eq(load_text("[cluster]\nlog_keep_entries = 10000000\n" NODE1), 0, "%s", err);
	cr_assert_eq(cfg.log_keep_entries, 10000000);
}

Test(config, log_keep_entries_out_of_range_or_not_a_number_is_refused)
{
	expect_error("[cluster]\nlog_keep_entries = 0\n",
		     ":2: [cluster] log_keep_entries: 0 out of range 1..10000000");
	expect_error("[cluster]\nheartbeat_ms = 50\nlog_keep_entries = 10000001\n",
		     ":3: [cluster] log_keep_entries: 10000001 out of range 1..10000000");
	expect_error("[cluster]\nlog_keep_entries = 10k\n",
		     ":2: [cluster] log_keep_entries: '10k' is not a whole number");
	expect_error("[cluster]\nlog_keep_entries =\n",
		     ":2: [cluster] log_keep_entries: empty value");
	expect_error("[cluster]\nlog_keep_entries = 5\nlog_keep_entries = 6\n",
		     ":3: [cluster] duplicate key 'log_keep_entries' (first at line 2)");
	expect_error(NODE1 "log_keep_entries = 5\n", ":5: [node 1] unknown key 'log_keep_entries'");
}

Test(config, heartbeat_not_below_default_election_timeout_is_refused)
{
	expect_error(NODE1 "[cluster]\nheartbeat_ms = 500\n",
		     ":6: [cluster] heartbeat_ms 500 must be less than election_timeout_ms 300");
}

/* ---- addresses ---- */

Test(config, peer_port_out_of_range_is_refused)
{
	expect_error("[cluster]\nheartbeat_ms = 50\n\n\n\n[node 1]\npeer = 127.0.0.1:70000\n",
		     ":7: [node 1] peer: port 70000 out of range 1..65535");
}

Test(config, port_zero_is_refused)
{
	expect_error("[node 1]\nclient = 127.0.0.1:0\n",
		     ":2: [node 1] client: port 0 out of range 1..65535");
}

Test(config, missing_port_is_refused)
{
	expect_error("[node 1]\npeer = 127.0.0.1\n",
		     ":2: [node 1] peer: missing port in '127.0.0.1' (expected HOST:PORT)");
}

Test(config, junk_host_is_refused)
{
	expect_error("[node 1]\npeer = no_such*host:7001\n",
		     ":2: [node 1] peer: bad host name 'no_such*host' in 'no_such*host:7001'");
}

Test(config, bad_ipv4_is_refused)
{
	expect_error("[node 1]\npeer = 127.0.0.256:7001\n",
		     ":2: [node 1] peer: bad IPv4 address '127.0.0.256' in '127.0.0.256:7001'");
}

Test(config, unclosed_bracket_is_refused)
{
	expect_error("[node 1]\npeer = [::1:7001\n",
		     ":2: [node 1] peer: unclosed '[' in '[::1:7001'");
}

Test(config, bad_ipv6_is_refused)
{
	expect_error("[node 1]\nclient = [fe80::zz]:8001\n",
		     ":2: [node 1] client: bad IPv6 address 'fe80::zz' in '[fe80::zz]:8001'");
}

Test(config, same_peer_address_twice_is_refused)
{
	expect_error(NODE1 "[node 2]\npeer = 127.0.0.1:7001\n",
		     ":6: [node 2] peer: address 127.0.0.1:7001 already used by [node 1] peer");
}

Test(config, same_client_address_twice_is_refused)
{
	expect_error(NODE1 "[node 2]\npeer = 127.0.0.1:7002\nclient = 127.0.0.1:8001\n",
		     ":7: [node 2] client: address 127.0.0.1:8001 already used by [node 1] "
		     "client");
}

Test(config, client_address_equal_to_a_peer_address_is_refused)
{
	expect_error("[node 1]\npeer = [::1]:7001\nclient = [0::1]:7001\n",
		     ":3: [node 1] client: address [0::1]:7001 already used by [node 1] peer");
}

Test(config, data_dir_longer_than_path_max_cannot_fit_a_line)
{
	/* A data_dir of PATH_MAX bytes never gets past the line limit. */
	char text[PATH_MAX + 64];
	int n = snprintf(text, sizeof(text), "[node 1]\ndata_dir = ");

	memset(text + n, 'd', PATH_MAX);
	text[n + PATH_MAX] = '\0';
	expect_error(text, ":2: line too long (more than 197 bytes)");
}
