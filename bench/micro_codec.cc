// SPDX-License-Identifier: Apache-2.0
// Microbenchmarks of the MQTT codec (mqtt/mqtt_codec.h): encode and decode of each packet type
// the broker handles per message or per connection, for MQTT 3.1.1 and 5. Items/s is packets/s;
// bytes/s counts wire bytes.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "mqtt/mqtt_codec.h"
}

namespace
{

mqtt_str
str(const char *s)
{
	return mqtt_str{reinterpret_cast<const uint8_t *>(s), static_cast<uint32_t>(strlen(s))};
}

// One sample packet per type, with realistic sizes: a 24-byte client id, a 3-level topic.
mqtt_packet
sample(int type, size_t payload_len)
{
	static std::vector<uint8_t> payload(1 << 16, 'x');
	static const mqtt_sub_entry sub = {str("site/+/temperature"), 1, 0, 0, 0};
	mqtt_packet p;
	memset(&p, 0, sizeof(p));
	p.type = static_cast<uint8_t>(type);
	switch (type) {
	case MQTT_CONNECT:
		p.connect.protocol_level = MQTT_V311;
		p.connect.clean_start = 1;
		p.connect.keep_alive = 60;
		p.connect.client_id = str("sensor-0001-aaaa-bbbb-cc");
		break;
	case MQTT_CONNACK:
		break;
	case MQTT_PUBLISH:
		p.publish.qos = 1;
		p.publish.packet_id = 42;
		p.publish.topic = str("site/12/temperature");
		p.publish.payload = mqtt_str{payload.data(), static_cast<uint32_t>(payload_len)};
		break;
	case MQTT_PUBACK:
		p.ack.packet_id = 42;
		break;
	case MQTT_SUBSCRIBE:
		p.subscribe.packet_id = 7;
		p.subscribe.count = 1;
		p.subscribe.entries = &sub;
		break;
	case MQTT_PINGREQ:
		break;
	}
	return p;
}

void
set_label(benchmark::State &state, int type, int version)
{
	static const char *const names[] = {"",          "CONNECT",  "CONNACK",     "PUBLISH",
	                                    "PUBACK",    "PUBREC",   "PUBREL",      "PUBCOMP",
	                                    "SUBSCRIBE", "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
	                                    "PINGREQ",   "PINGRESP", "DISCONNECT",  "AUTH"};
	std::string l = type > 0 && type < 16 ? names[type] : "?";
	state.SetLabel(l + (version == MQTT_V5 ? " v5" : " v3.1.1"));
}

// One benchmark case from its arguments (packet type, version, payload bytes): the sample
// packet for that version and a buffer large enough to encode it.
struct codec_case {
	int type, version;
	mqtt_packet p;
	std::vector<uint8_t> buf;
};

codec_case
make_case(const benchmark::State &state)
{
	codec_case c;
	c.type = static_cast<int>(state.range(0));
	c.version = static_cast<int>(state.range(1));
	const size_t plen = static_cast<size_t>(state.range(2));
	c.p = sample(c.type, plen);
	if (c.type == MQTT_CONNECT)
		c.p.connect.protocol_level = static_cast<uint8_t>(c.version);
	c.buf.resize(plen + 256);
	return c;
}

void
BM_encode(benchmark::State &state)
{
	codec_case c = make_case(state);
	ssize_t n = 0;
	for (auto _ : state) {
		n = mqtt_encode(&c.p, c.version, c.buf.data(), c.buf.size());
		benchmark::DoNotOptimize(n);
		benchmark::ClobberMemory();
	}
	if (n <= 0)
		state.SkipWithError("encode failed");
	state.SetItemsProcessed(state.iterations());
	state.SetBytesProcessed(state.iterations() * (n > 0 ? n : 0));
	set_label(state, c.type, c.version);
}

void
BM_decode(benchmark::State &state)
{
	codec_case c = make_case(state);
	ssize_t n = mqtt_encode(&c.p, c.version, c.buf.data(), c.buf.size());
	if (n <= 0) {
		state.SkipWithError("encode of the sample failed");
		return;
	}
	mqtt_packet out;
	int rc = 0;
	for (auto _ : state) {
		rc = mqtt_decode(c.buf.data(), static_cast<size_t>(n), c.version, &out);
		benchmark::DoNotOptimize(rc);
		benchmark::DoNotOptimize(out);
	}
	if (rc != 0)
		state.SkipWithError("decode failed");
	state.SetItemsProcessed(state.iterations());
	state.SetBytesProcessed(state.iterations() * n);
	set_label(state, c.type, c.version);
}

// The per-subscriber cost on the fan-out path: only the header is written, the payload goes by
// reference.
void
BM_encode_publish_header(benchmark::State &state)
{
	const int version = static_cast<int>(state.range(0));
	mqtt_packet p = sample(MQTT_PUBLISH, 256);
	uint8_t buf[128];
	ssize_t n = 0;
	for (auto _ : state) {
		n = mqtt_encode_publish_header(&p.publish, version, buf, sizeof(buf));
		benchmark::DoNotOptimize(n);
		benchmark::ClobberMemory();
	}
	if (n <= 0)
		state.SkipWithError("encode failed");
	state.SetItemsProcessed(state.iterations());
	set_label(state, MQTT_PUBLISH, version);
}

void
BM_fixed_header(benchmark::State &state)
{
	mqtt_packet p = sample(MQTT_PUBLISH, static_cast<size_t>(state.range(0)));
	std::vector<uint8_t> buf(state.range(0) + 256);
	ssize_t n = mqtt_encode(&p, MQTT_V311, buf.data(), buf.size());
	uint8_t type, flags;
	uint32_t rem, hl;
	for (auto _ : state) {
		int rc = mqtt_fixed_header(buf.data(), static_cast<size_t>(n), &type, &flags, &rem,
		                           &hl);
		benchmark::DoNotOptimize(rc);
		benchmark::DoNotOptimize(rem);
	}
	state.SetItemsProcessed(state.iterations());
}

// (packet type, version, payload bytes)
void
per_type(benchmark::internal::Benchmark *b)
{
	b->ArgNames({"type", "ver", "payload"});
	for (int v : {MQTT_V311, MQTT_V5}) {
		for (int t : {MQTT_CONNECT, MQTT_SUBSCRIBE, MQTT_PUBACK, MQTT_PINGREQ})
			b->Args({t, v, 0});
		for (int len : {16, 256, 1024})
			b->Args({MQTT_PUBLISH, v, len});
	}
}

} // namespace

BENCHMARK(BM_encode)->Apply(per_type);
BENCHMARK(BM_decode)->Apply(per_type);
BENCHMARK(BM_encode_publish_header)->Arg(MQTT_V311)->Arg(MQTT_V5);
BENCHMARK(BM_fixed_header)->Arg(16)->Arg(1024);

BENCHMARK_MAIN();
