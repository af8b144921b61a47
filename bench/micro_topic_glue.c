/* SPDX-License-Identifier: Apache-2.0 */
#include "micro_topic_glue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_pvt.h"

struct micro_trie {
	struct mqtt_trie t;
	struct mqtt_sub *subs; /* n + 1: the subscriptions are the caller's, as sessions' are */
	struct mqtt_sub one;   /* for insert/remove */
	uint32_t n;
};

static int
add(struct micro_trie *m, struct mqtt_sub *s, const char *filter)
{
	struct mqtt_tnode *node = mqtt_trie_node(&m->t, (const uint8_t *)filter, strlen(filter));
	if (!node)
		return -ENOMEM;
	s->node = node;
	mqtt_list_add_tail(&node->subs, &s->node_link);
	return 0;
}

struct micro_trie *
micro_trie_new(uint32_t n)
{
	struct micro_trie *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->subs = calloc((size_t)n + 1, sizeof(*m->subs));
	if (!m->subs || mqtt_trie_init(&m->t) < 0) {
		free(m->subs);
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	m->n = n;
	char buf[64];
	for (uint32_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "dev/%u/temp/%u", i % 1000, i);
		if (add(m, &m->subs[i], buf) < 0) {
			micro_trie_free(m);
			errno = ENOMEM;
			return NULL;
		}
	}
	if (add(m, &m->subs[n], "dev/+/temp/#") < 0) {
		micro_trie_free(m);
		errno = ENOMEM;
		return NULL;
	}
	return m;
}

void
micro_trie_free(struct micro_trie *m)
{
	mqtt_trie_free(&m->t); /* frees the nodes; the subscriptions are ours */
	free(m->subs);
	free(m);
}

static void
count_cb(struct mqtt_sub *s, void *arg)
{
	(void)s;
	(*(uint32_t *)arg)++;
}

uint32_t
micro_trie_match(struct micro_trie *m, const char *topic)
{
	uint32_t found = 0;
	mqtt_trie_match(&m->t, (const uint8_t *)topic, strlen(topic), count_cb, &found);
	return found;
}

int
micro_trie_insert_remove(struct micro_trie *m, const char *filter)
{
	int rc = add(m, &m->one, filter);
	if (rc < 0)
		return rc;
	mqtt_list_del(&m->one.node_link);
	mqtt_trie_prune(&m->t, m->one.node);
	return 0;
}
