/* SPDX-License-Identifier: Apache-2.0
 * C side of micro_topic: builds a topic trie of the broker core (mqtt/mqtt_pvt.h) so the C++
 * benchmark needs none of the private structures.
 */
#ifndef MICRO_TOPIC_GLUE_H
#define MICRO_TOPIC_GLUE_H

#include <stddef.h>
#include <stdint.h>

struct micro_trie;

/* n subscriptions on "dev/<i % 1000>/temp/<i>", plus one "dev/+/temp/#". NULL on ENOMEM. */
struct micro_trie *micro_trie_new(uint32_t n);
void micro_trie_free(struct micro_trie *m);
/* Matches topic (NUL-terminated) and returns the number of subscriptions found. */
uint32_t micro_trie_match(struct micro_trie *m, const char *topic);
/* Subscribes then unsubscribes one filter (node creation and pruning included). */
int micro_trie_insert_remove(struct micro_trie *m, const char *filter);

#endif
