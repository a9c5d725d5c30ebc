/* The cluster id derives from the member ids alone: the same members give
 * the same id on every member and in every file layout; other members give
 * another id. */
#include <criterion/criterion.h>
#include <string.h>

#include "config/config.h"
#include "server/node.h"

static void members(struct cairn_config *cfg, const uint64_t *ids, size_t n)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->heartbeat_ms = 50;
	cfg->election_timeout_ms = 300;
	cfg->node_count = n;
	for (size_t i = 0; i < n; i++)
		cfg->nodes[i].id = ids[i];
}

Test(cluster_id, depends_only_on_the_member_ids)
{
	struct cairn_config a, b;
	members(&a, (const uint64_t[]){1, 2, 3}, 3);
	members(&b, (const uint64_t[]){1, 2, 3}, 3);
	b.heartbeat_ms = 10;
	strcpy(b.nodes[0].data_dir, "elsewhere");
	cr_assert_eq(cairn_node_cluster_id(&a), cairn_node_cluster_id(&b));
}

Test(cluster_id, differs_for_other_members)
{
	struct cairn_config a, b, c;
	members(&a, (const uint64_t[]){1, 2, 3}, 3);
	members(&b, (const uint64_t[]){1, 2, 4}, 3);
	members(&c, (const uint64_t[]){1, 2}, 2);
	cr_assert_neq(cairn_node_cluster_id(&a), cairn_node_cluster_id(&b));
	cr_assert_neq(cairn_node_cluster_id(&a), cairn_node_cluster_id(&c));
}

Test(cluster_id, is_never_zero)
{
	struct cairn_config a;
	members(&a, (const uint64_t[]){7}, 1);
	cr_assert_neq(cairn_node_cluster_id(&a), 0);
}
