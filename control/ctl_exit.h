/* SPDX-License-Identifier: Apache-2.0
 * Exit codes of tachyonctl and tachyon-control: stable, documented in docs/operations.md, and
 * derived from the wire error code so that a script can act on them.
 */
#ifndef CTL_EXIT_H
#define CTL_EXIT_H

#include <string.h>

#include "control/ctl_wire.h"

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,        /* the request failed (internal, timeout, bad request) */
	CTL_EXIT_USAGE = 2,         /* bad command line */
	CTL_EXIT_UNAVAILABLE = 3,   /* tachyon-control / tachyond not reachable */
	CTL_EXIT_NOT_FOUND = 4,     /* no such client, session or topic */
	CTL_EXIT_CONFIG = 5,        /* configuration file invalid */
	CTL_EXIT_RESTART = 6,       /* reload refused: a changed option needs a restart */
	CTL_EXIT_NOT_SUPPORTED = 7, /* this broker cannot do it (no shard handler installed) */
};

static inline enum ctl_exit
ctl_exit_for(const char *errcode)
{
	static const struct {
		const char *code;
		enum ctl_exit ex;
	} map[] = {
	        {CTL_E_UNAVAILABLE, CTL_EXIT_UNAVAILABLE},
	        {CTL_E_NOT_FOUND, CTL_EXIT_NOT_FOUND},
	        {CTL_E_CONFIG, CTL_EXIT_CONFIG},
	        {CTL_E_RESTART, CTL_EXIT_RESTART},
	        {CTL_E_NOT_SUPPORTED, CTL_EXIT_NOT_SUPPORTED},
	};

	if (!errcode)
		return CTL_EXIT_OK;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(errcode, map[i].code))
			return map[i].ex;
	return CTL_EXIT_FAILED;
}

#endif /* CTL_EXIT_H */
