/*
 * config.c - a client from a loaded cluster config: every member's id, peer
 * and client address as written in the file.
 */
#include "cairn/client.h"

#include <stdio.h>
#include <string.h>

#include "cairn/errors.h"
#include "config/config.h"

int cairn_client_init_config(struct cairn_client *c, const struct cairn_config *cfg)
{
	struct cairn_client_member members[CAIRN_MEMBERS_MAX];
	if (cfg->node_count == 0 || cfg->node_count > CAIRN_MEMBERS_MAX)
		return CAIRN_EINVAL;
	for (size_t i = 0; i < cfg->node_count; i++) {
		const struct cairn_node_config *n = &cfg->nodes[i];
		memset(&members[i], 0, sizeof(members[i]));
		members[i].id = n->id;
		snprintf(members[i].peer, sizeof(members[i].peer), "%s", n->peer.text);
		snprintf(members[i].client, sizeof(members[i].client), "%s", n->client.text);
	}
	return cairn_client_init(c, members, cfg->node_count);
}
