/* SPDX-License-Identifier: Apache-2.0
 * Second external check: every packet Eclipse Paho's Python client (python3-paho-mqtt) writes
 * for MQTT 3.1, 3.1.1 and 5.0 (CONNECT with will and credentials, PUBLISH at each QoS with v5
 * properties, SUBSCRIBE with v5 options and subscription identifier, UNSUBSCRIBE, DISCONNECT
 * with a reason, the four acknowledgements, PINGREQ) must frame, decode, and re-encode to the
 * same bytes. paho_gen.py records them at build time.
 */
#include <string.h>

#include "mqtt/mqtt_codec.h"
#include "tap.h"
#include "codec_dump.h"

struct paho_pkt {
	int version;
	const char *name, *hex;
};

#include "paho_packets.h"

int
main(void)
{
	static uint8_t in[4096], out[4096];
	static char line[256], dump[8192];

	(void)tap_case_failed; /* tap.h: this test reports through tap_result() only */
#ifdef PAHO_MISSING
	printf("# could not record paho's packets: %s\n", PAHO_MISSING);
	tap_result(0, "python3-paho-mqtt packets recorded");
	return tap_done();
#endif
	for (int i = 0; i < n_paho; i++) {
		const struct paho_pkt *k = &paho_pkts[i];
		size_t len = strlen(k->hex) / 2;
		for (size_t j = 0; j < len; j++) {
			unsigned x;
			sscanf(k->hex + 2 * j, "%2x", &x);
			in[j] = (uint8_t)x;
		}
		struct mqtt_packet p;
		uint8_t type, flags;
		uint32_t rem, hlen;
		int ok = mqtt_fixed_header(in, len, &type, &flags, &rem, &hlen) == 0 &&
		         hlen + rem == len;
		int rc = ok ? mqtt_decode(in, len, k->version, &p) : -1;
		ok = ok && rc == 0;
		if (ok) {
			int v = p.type == MQTT_CONNECT ? p.connect.protocol_level : k->version;
			ssize_t n = mqtt_encode(&p, v, out, sizeof(out));
			ok = n == (ssize_t)len && memcmp(in, out, len) == 0 &&
			     (p.type != MQTT_CONNECT || v == k->version);
			printf("# %s\n", dump_packet(&p, v, dump, sizeof(dump)));
		} else {
			printf("# %s: %d %s\n", k->hex, rc, rc == -1 ? "framing" : p.err_msg);
		}
		snprintf(line, sizeof(line), "paho %s, MQTT level %d: %s", PAHO_VERSION, k->version,
		         k->name);
		tap_result(ok, line);
	}
	tap_result(n_paho == 39, "all 39 recorded paho packets checked");
	return tap_done();
}
