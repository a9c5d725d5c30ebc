/*
 * cmd.c - the binary encoding of a key-value command (layout in kv.h).
 *
 * A fixed 28-byte header of big-endian fields, then key, expected value and
 * new value back to back. Decoding trusts nothing: every length is checked
 * against its limit, against what the op allows, and the sum against the
 * payload size, so a bad payload is rejected the same way on every member.
 */
#include <string.h>

#include "cairn/errors.h"
#include "cairn/limits.h"
#include "kv/kv.h"
#include "util/buf.h"

static bool lengths_ok(uint8_t op, uint64_t key_len, uint64_t value_len, uint64_t expected_len)
{
	if (key_len < 1 || key_len > CAIRN_KEY_BYTES_MAX)
		return false;
	if (value_len > CAIRN_VALUE_BYTES_MAX || expected_len > CAIRN_VALUE_BYTES_MAX)
		return false;
	switch (op) {
	case CAIRN_KV_PUT:
		return expected_len == 0;
	case CAIRN_KV_DEL:
		return value_len == 0 && expected_len == 0;
	case CAIRN_KV_CAS:
		return true;
	default:
		return false;
	}
}

size_t cairn_kv_cmd_bytes(const struct cairn_kv_cmd *cmd)
{
	return CAIRN_KV_CMD_HEADER_BYTES + (size_t)cmd->key_len + cmd->expected_len +
	       cmd->value_len;
}

int cairn_kv_cmd_encode(const struct cairn_kv_cmd *cmd, uint8_t *buf, size_t buf_bytes,
			size_t *len_out)
{
	if (!lengths_ok(cmd->op, cmd->key_len, cmd->value_len, cmd->expected_len))
		return CAIRN_EINVAL;
	if ((cmd->value_len > 0 && cmd->value == NULL) ||
	    (cmd->expected_len > 0 && cmd->expected == NULL) || cmd->key == NULL)
		return CAIRN_EINVAL;
	size_t len = cairn_kv_cmd_bytes(cmd);
	if (len > buf_bytes)
		return CAIRN_ETOOBIG;
	buf[0] = CAIRN_KV_CMD_VERSION;
	buf[1] = cmd->op;
	cairn_put_be64(buf + 2, cmd->client_id);
	cairn_put_be64(buf + 10, cmd->seq);
	buf[18] = (uint8_t)(cmd->key_len >> 8);
	buf[19] = (uint8_t)cmd->key_len;
	cairn_put_be32(buf + 20, cmd->value_len);
	cairn_put_be32(buf + 24, cmd->expected_len);
	uint8_t *p = buf + CAIRN_KV_CMD_HEADER_BYTES;
	memcpy(p, cmd->key, cmd->key_len);
	p += cmd->key_len;
	if (cmd->expected_len > 0)
		memcpy(p, cmd->expected, cmd->expected_len);
	p += cmd->expected_len;
	if (cmd->value_len > 0)
		memcpy(p, cmd->value, cmd->value_len);
	*len_out = len;
	return 0;
}

int cairn_kv_cmd_decode(const uint8_t *p, size_t len, struct cairn_kv_cmd *cmd)
{
	if (p == NULL || len < CAIRN_KV_CMD_HEADER_BYTES || p[0] != CAIRN_KV_CMD_VERSION)
		return CAIRN_EPROTO;
	uint8_t op = p[1];
	uint32_t key_len = ((uint32_t)p[18] << 8) | p[19];
	uint32_t value_len = cairn_get_be32(p + 20);
	uint32_t expected_len = cairn_get_be32(p + 24);
	if (!lengths_ok(op, key_len, value_len, expected_len))
		return CAIRN_EPROTO;
	/* Each length is at most 1 MiB, so the sum cannot overflow. */
	if ((uint64_t)CAIRN_KV_CMD_HEADER_BYTES + key_len + value_len + expected_len != len)
		return CAIRN_EPROTO;
	memset(cmd, 0, sizeof(*cmd));
	cmd->op = op;
	cmd->client_id = cairn_get_be64(p + 2);
	cmd->seq = cairn_get_be64(p + 10);
	cmd->key = p + CAIRN_KV_CMD_HEADER_BYTES;
	cmd->key_len = key_len;
	cmd->expected = expected_len > 0 ? cmd->key + key_len : NULL;
	cmd->expected_len = expected_len;
	cmd->value = value_len > 0 ? cmd->key + key_len + expected_len : NULL;
	cmd->value_len = value_len;
	return 0;
}

const char *cairn_kv_status_name(int status)
{
	switch (status) {
	case CAIRN_KV_OK:
		return "ok";
	case CAIRN_KV_NOTFOUND:
		return "not-found";
	case CAIRN_KV_MISMATCH:
		return "mismatch";
	case CAIRN_KV_STALE:
		return "stale";
	case CAIRN_KV_BADCMD:
		return "bad-command";
	default:
		return "unknown";
	}
}
