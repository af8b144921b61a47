/* SPDX-License-Identifier: Apache-2.0
 * ctl_sys: the $SYS/broker/... topics, computed by tachyon-control from the dataplane's counters
 * every sys_interval seconds, with Mosquitto's names and payload formats (docs/operations.md).
 * Pure computation: no I/O, testable without a broker.
 */
#ifndef CTL_SYS_H
#define CTL_SYS_H

#include <jansson.h>
#include <stdint.h>

#include "control/ctl_stats.h"

enum {
	CTL_SYS_LOAD_MSG_IN,
	CTL_SYS_LOAD_MSG_OUT,
	CTL_SYS_LOAD_BYTES_IN,
	CTL_SYS_LOAD_BYTES_OUT,
	CTL_SYS_LOAD_CONNECTIONS,
	CTL_SYS_LOADS
};

struct ctl_sys {
	int primed; /* a previous sample exists */
	int64_t last_ms;
	uint64_t last[CTL_SYS_LOADS];  /* counter values at the previous sample */
	double load[CTL_SYS_LOADS][3]; /* per-minute moving averages over 1, 5, 15 minutes */
	uint64_t clients_max;
};

/* Fold in a sample taken at now_ms and return the messages to publish, a JSON array of
 * {"topic": "$SYS/broker/...", "payload": "..."} (new reference). */
json_t *ctl_sys_messages(struct ctl_sys *s, const struct ctl_stats *st, const char *version,
                         int64_t now_ms);

#endif /* CTL_SYS_H */
