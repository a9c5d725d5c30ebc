/* Apply results become the client reply codes the contract's exit codes
 * need: deleting an absent key succeeds, cas reports absence and mismatch,
 * a stale or undecodable command is refused as bad input. */
#include <criterion/criterion.h>

#include "kv/kv.h"
#include "proto/proto.h"
#include "server/store.h"

Test(result_code, a_done_write_is_ok)
{
	cr_assert_eq(cairn_store_result_code(CAIRN_PROTO_PUT, CAIRN_KV_OK), CAIRN_PROTO_OK);
	cr_assert_eq(cairn_store_result_code(CAIRN_PROTO_CAS, CAIRN_KV_OK), CAIRN_PROTO_OK);
}

Test(result_code, deleting_an_absent_key_is_ok)
{
	cr_assert_eq(cairn_store_result_code(CAIRN_PROTO_DEL, CAIRN_KV_NOTFOUND), CAIRN_PROTO_OK);
}

Test(result_code, cas_on_an_absent_key_is_not_found)
{
	cr_assert_eq(cairn_store_result_code(CAIRN_PROTO_CAS, CAIRN_KV_NOTFOUND),
		     CAIRN_PROTO_NOT_FOUND);
}

Test(result_code, cas_on_another_value_is_a_mismatch)
{
	cr_assert_eq(cairn_store_result_code(CAIRN_PROTO_CAS, CAIRN_KV_MISMATCH),
		     CAIRN_PROTO_CAS_MISMATCH);
}

Test(result_code, stale_and_bad_commands_are_bad_requests)
{
	cr_assert_eq(cairn_store_result_code(CAIRN_PROTO_PUT, CAIRN_KV_STALE),
		     CAIRN_PROTO_BAD_REQUEST);
	cr_assert_eq(cairn_store_result_code(CAIRN_PROTO_PUT, CAIRN_KV_BADCMD),
		     CAIRN_PROTO_BAD_REQUEST);
}
