/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer driver for the configuration parser. Invariants checked on every input:
 * - the parser returns 0 or -EINVAL and, on error, a message starting with the file name;
 * - an accepted file formats to text that parses back to an equal configuration, and diffing
 *   the two finds nothing (what `config show` prints is always a valid, identical file).
 * Normal builds replay the seed corpus (suite fuzz-replay); fuzz builds run libFuzzer briefly.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctl_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctl_config a, b;
	static char text[1 << 16];
	char err[CTL_ERR_MAX];
	int rc, n;

	rc = ctl_config_parse((const char *)data, size, "f.conf", &a, err, sizeof(err));
	if (rc != 0 && rc != -EINVAL)
		abort();
	if (rc) {
		if (strncmp(err, "f.conf", 6) || !memchr(err, 0, sizeof(err)))
			abort();
		return 0;
	}
	n = ctl_config_format(&a, text, sizeof(text));
	if (n < 0)
		abort();
	if (ctl_config_parse(text, n, "formatted", &b, err, sizeof(err)) != 0)
		abort();
	if (!ctl_config_equal(&a, &b) || ctl_config_diff(&a, &b, NULL, 0) != 0)
		abort();
	return 0;
}
