/* SPDX-License-Identifier: Apache-2.0
 * See replay_args.h.
 */
#include "replay_args.h"

#include <stdlib.h>
#include <string.h>

const char *
replay_args_parse(int argc, char **argv, struct replay_args *a, unsigned long max_clients,
                  unsigned long max_msgs, unsigned long max_payload)
{
	*a = (struct replay_args){.clients = 100, .msgs = 100000, .payload = 64, .batch = 16};
	if (argc < 2 || (strcmp(argv[1], "fanout") && strcmp(argv[1], "pairs")))
		return "usage: fanout|pairs [--clients N] [--msgs M] [--payload B] [--batch K]";
	a->fanout = !strcmp(argv[1], "fanout");
	for (int i = 2; i < argc; i += 2) {
		unsigned long v;

		if (i + 1 == argc)
			return "an option lacks its value";
		v = strtoul(argv[i + 1], NULL, 10);
		if (!strcmp(argv[i], "--clients"))
			a->clients = v;
		else if (!strcmp(argv[i], "--msgs"))
			a->msgs = v;
		else if (!strcmp(argv[i], "--payload"))
			a->payload = v;
		else if (!strcmp(argv[i], "--batch"))
			a->batch = v;
		else
			return "unknown option";
	}
	if (!a->clients || a->clients > max_clients || !a->batch || a->batch > 1024 ||
	    a->payload > max_payload || a->msgs > max_msgs)
		return "option out of range";
	return NULL;
}
