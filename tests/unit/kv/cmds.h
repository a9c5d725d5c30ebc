/*
 * cmds.h - building command entries for the kv and worker tests. Payloads
 * come from a pool owned by this file, valid until cmds_reset().
 */
#ifndef CAIRN_TEST_KV_CMDS_H
#define CAIRN_TEST_KV_CMDS_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/raft.h"

/* A NORMAL entry at index (term 1) carrying the command. Strings are
 * NUL-terminated; expected NULL for put and del. */
struct cairn_raft_entry cmd_entry(uint64_t index, uint8_t op, uint64_t client, uint64_t seq,
				  const char *key, const char *value, const char *expected);
/* Same with explicit byte lengths (long keys, big values). */
struct cairn_raft_entry cmd_entry_bytes(uint64_t index, uint8_t op, uint64_t client, uint64_t seq,
					const void *key, uint32_t key_len, const void *value,
					uint32_t value_len);
struct cairn_raft_entry noop_entry(uint64_t index);
/* Free every payload made so far. */
void cmds_reset(void);

#endif
