/*
 * log.c - the in-memory Raft log (extended paper §5.3, Figure 2).
 *
 * A growable array of entries, each with a malloc'd copy of its payload.
 * Index arithmetic is relative to prev_index, the position just before the
 * first entry held. Term lookups are O(1); the searches over terms are
 * binary because terms never decrease along a log.
 */
#include "raft/log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"

void raft_log_init(struct raft_log *l, uint64_t prev_index, uint64_t prev_term)
{
	memset(l, 0, sizeof(*l));
	l->prev_index = prev_index;
	l->prev_term = prev_term;
	l->handed = prev_index;
	l->persisted = prev_index;
	l->commit = prev_index;
	l->applied = prev_index;
}

void raft_log_free(struct raft_log *l)
{
	for (size_t i = 0; i < l->n_ents; i++)
		free((void *)(uintptr_t)l->ents[i].data);
	free(l->ents);
	l->ents = NULL;
	l->n_ents = 0;
	l->cap_ents = 0;
	l->bytes = 0;
}

uint64_t raft_log_last_index(const struct raft_log *l)
{
	return l->prev_index + l->n_ents;
}

uint64_t raft_log_last_term(const struct raft_log *l)
{
	return l->n_ents == 0 ? l->prev_term : l->ents[l->n_ents - 1].term;
}

bool raft_log_term(const struct raft_log *l, uint64_t index, uint64_t *term)
{
	if (index < l->prev_index || index > raft_log_last_index(l))
		return false;
	*term = index == l->prev_index ? l->prev_term : l->ents[index - l->prev_index - 1].term;
	return true;
}

const struct cairn_raft_entry *raft_log_entry(const struct raft_log *l, uint64_t index)
{
	assert(index > l->prev_index);
	assert(index <= raft_log_last_index(l));
	return &l->ents[index - l->prev_index - 1];
}

static int reserve(struct raft_log *l)
{
	if (l->n_ents < l->cap_ents)
		return 0;
	size_t cap = l->cap_ents == 0 ? 64 : l->cap_ents * 2;
	struct cairn_raft_entry *ents = realloc(l->ents, cap * sizeof(*ents));
	if (ents == NULL)
		return CAIRN_ENOMEM;
	l->ents = ents;
	l->cap_ents = cap;
	return 0;
}

int raft_log_append(struct raft_log *l, uint64_t term, uint8_t type, const void *data, uint32_t len)
{
	assert(term >= raft_log_last_term(l));
	assert(len == 0 || data != NULL);
	int rv = reserve(l);
	if (rv != 0)
		return rv;
	uint8_t *copy = NULL;
	if (len > 0) {
		copy = malloc(len);
		if (copy == NULL)
			return CAIRN_ENOMEM;
		memcpy(copy, data, len);
	}
	struct cairn_raft_entry *e = &l->ents[l->n_ents];
	e->term = term;
	e->index = raft_log_last_index(l) + 1;
	e->type = type;
	e->len = len;
	e->data = copy;
	l->n_ents++;
	l->bytes += len;
	return 0;
}

void raft_log_truncate(struct raft_log *l, uint64_t index)
{
	assert(index > l->commit);
	assert(index > l->prev_index);
	assert(index <= raft_log_last_index(l));
	for (uint64_t i = index; i <= raft_log_last_index(l); i++) {
		const struct cairn_raft_entry *e = raft_log_entry(l, i);
		l->bytes -= e->len;
		free((void *)(uintptr_t)e->data);
	}
	l->n_ents = index - l->prev_index - 1;
	if (l->handed >= index)
		l->handed = index - 1;
	if (l->persisted >= index)
		l->persisted = index - 1;
	raft_log_check(l);
}

/* Drop ents[0 .. n) and move the rest to the front; prev becomes the last
 * dropped one. */
static void drop_front(struct raft_log *l, size_t n)
{
	assert(n >= 1 && n <= l->n_ents);
	for (size_t i = 0; i < n; i++) {
		l->bytes -= l->ents[i].len;
		free((void *)(uintptr_t)l->ents[i].data);
	}
	l->prev_index = l->ents[n - 1].index;
	l->prev_term = l->ents[n - 1].term;
	memmove(l->ents, l->ents + n, (l->n_ents - n) * sizeof(*l->ents));
	l->n_ents -= n;
}

void raft_log_compact(struct raft_log *l, uint64_t index)
{
	assert(index > l->prev_index);
	assert(index <= l->applied);
	assert(index <= l->persisted);
	drop_front(l, (size_t)(index - l->prev_index));
	assert(l->prev_index == index);
	raft_log_check(l);
}

void raft_log_install(struct raft_log *l, uint64_t index, uint64_t term)
{
	assert(index > l->commit);
	uint64_t have = 0;
	if (raft_log_term(l, index, &have) && have == term) {
		/* Figure 13: the entries after the snapshot's last one stay. */
		assert(index > l->prev_index);
		drop_front(l, (size_t)(index - l->prev_index));
		if (l->handed < index)
			l->handed = index;
		if (l->persisted < index)
			l->persisted = index;
	} else {
		raft_log_free(l);
		l->prev_index = index;
		l->prev_term = term;
		l->handed = index;
		l->persisted = index;
	}
	assert(l->prev_index == index && l->prev_term == term);
	l->commit = index;
	l->applied = index;
	raft_log_check(l);
}

uint64_t raft_log_first_of_term(const struct raft_log *l, uint64_t index)
{
	uint64_t term = 0;
	bool known = raft_log_term(l, index, &term);
	assert(known);
	if (index == l->prev_index)
		return index; /* what precedes it was compacted */
	/* Binary search for the first i in (prev_index, index] with term(i) == term. */
	uint64_t lo = l->prev_index + 1;
	uint64_t hi = index;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (raft_log_entry(l, mid)->term < term)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t raft_log_last_at_or_below_term(const struct raft_log *l, uint64_t index, uint64_t term)
{
	assert(index <= raft_log_last_index(l));
	if (index <= l->prev_index)
		return l->prev_index;
	/* Largest i in [prev_index, index] with term(i) <= term. */
	uint64_t lo = l->prev_index;
	uint64_t hi = index;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;
		if (raft_log_entry(l, mid)->term <= term)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

bool raft_log_up_to_date(const struct raft_log *l, uint64_t last_index, uint64_t last_term)
{
	uint64_t my_term = raft_log_last_term(l);
	if (last_term != my_term)
		return last_term > my_term;
	return last_index >= raft_log_last_index(l);
}

bool raft_log_persisted(struct raft_log *l, uint64_t index, uint64_t term)
{
	uint64_t have = 0;
	if (!raft_log_term(l, index, &have) || have != term)
		return false; /* overwritten since that write was handed out */
	if (index <= l->persisted || index > l->handed)
		return false;
	l->persisted = index;
	raft_log_check(l);
	return true;
}

void raft_log_commit_to(struct raft_log *l, uint64_t index)
{
	assert(index <= raft_log_last_index(l));
	if (index > l->commit)
		l->commit = index;
}

void raft_log_check(const struct raft_log *l)
{
	uint64_t last = raft_log_last_index(l);
	assert(l->prev_index <= l->persisted);
	assert(l->persisted <= l->handed);
	assert(l->handed <= last);
	assert(l->applied <= l->commit);
	assert(l->commit <= last);
	assert(l->applied <= l->persisted);
	assert(l->prev_index <= l->applied);
	assert(l->n_ents == 0 || l->ents[0].index == l->prev_index + 1);
	assert(l->n_ents == 0 || l->ents[0].term >= l->prev_term);
}
