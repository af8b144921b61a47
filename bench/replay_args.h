/* SPDX-License-Identifier: Apache-2.0
 * The command line the in-process replays share (replay-mqtt, replay-full):
 *   PROG fanout|pairs [--clients N] [--msgs M] [--payload B] [--batch K]
 */
#ifndef REPLAY_ARGS_H
#define REPLAY_ARGS_H

struct replay_args {
	int fanout; /* 1: fanout, 0: pairs */
	unsigned long clients, msgs, payload, batch;
};

/* Fills `a` (defaults: 100 clients, 100,000 messages, 64 B, 16 per segment) and checks each
 * value against its max_*; returns NULL, or the message to print before exiting. */
const char *replay_args_parse(int argc, char **argv, struct replay_args *a,
                              unsigned long max_clients, unsigned long max_msgs,
                              unsigned long max_payload);

#endif
