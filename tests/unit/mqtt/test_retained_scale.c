/* SPDX-License-Identifier: Apache-2.0
 * The retained store at scale: 1,000,000 retained topics published through the broker, then
 * wildcard subscribes that must be answered from the trie without scanning the store. Prints the
 * time of each lookup as a TAP comment; the assertions are on counts and on a generous bound
 * (a scan of 1M messages would take far longer than a lookup of 1,000).
 */
#include <time.h>

#include "broker_harness.h"

#define N_DEV   1000
#define N_TOPIC 1000

static double
secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
big_queue(struct mqtt_broker_conf *c)
{
	c->max_queued = 2000000;
	c->max_inflight = 65535;
	c->max_outbuf = 1u << 30;
}

/* Count the PUBLISH packets in f's output and forget them. */
static int
count_publishes(struct fake *f)
{
	struct mqtt_packet p;
	int n = 0;
	fake_rd = 0;
	while (next_packet(f, MQTT_V311, &p))
		n += p.type == MQTT_PUBLISH && p.publish.retain;
	f->len = 0;
	return n;
}

static void
test_retained_million(void)
{
	struct mqtt_broker *b = broker_new(big_queue);
	struct fake pub, sub;
	size_t cap = 64u << 20, n = 0;
	uint8_t *stream = malloc(cap);
	char topic[32];
	double t;

	client(b, &pub, MQTT_V311, "p", 1);
	for (int d = 0; d < N_DEV; d++)
		for (int i = 0; i < N_TOPIC; i++) {
			snprintf(topic, sizeof(topic), "dev/%d/t%d", d, i);
			n += pkt_publish(stream + n, cap - n, MQTT_V311, topic, "v", 1, 0, 0, 1);
		}
	t = secs();
	CHECK_EQ(feed(&pub, stream, n), 0);
	printf("# stored %d retained messages in %.3f s\n", N_DEV * N_TOPIC, secs() - t);
	CHECK_EQ(mqtt_broker_stats(b)->retained, N_DEV * N_TOPIC);
	free(stream);

	client(b, &sub, MQTT_V311, "s", 1);
	struct {
		const char *filter;
		int want;
	} q[] = {
	        {"dev/123/+", N_TOPIC}, {"dev/+/t77", N_DEV}, {"dev/999/#", N_TOPIC},
	        {"dev/5/t5", 1},        {"+/+/t999", N_DEV},  {"nothing/#", 0},
	};
	for (size_t k = 0; k < sizeof(q) / sizeof(q[0]); k++) {
		uint8_t buf[128];
		size_t l = pkt_subscribe(buf, MQTT_V311, (uint16_t)(k + 1), q[k].filter, 0);
		t = secs();
		CHECK_EQ(feed(&sub, buf, l), 0); /* SUBACK, then the retained messages */
		double dt = secs() - t;
		int got = count_publishes(&sub);
		printf("# SUBSCRIBE %s: %d retained in %.3f ms\n", q[k].filter, got, dt * 1e3);
		CHECK_EQ(got, q[k].want);
		CHECK(dt < 0.5);
	}
	fake_gone(&pub);
	fake_gone(&sub);
	mqtt_broker_destroy(b);
}

int
main(void)
{
	TEST(test_retained_million);
	return tap_done();
}
