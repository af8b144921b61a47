/* SPDX-License-Identifier: Apache-2.0
 * Minimal TAP producer shared by every C test program: "ok N - name" / "not ok N - name".
 * tests/run-all.sh counts these lines, so a check that fails is always seen.
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;
static int tap_case_failed;

/* A failed CHECK marks the current case failed and reports where; the case continues. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);           \
			tap_case_failed = 1;                                                       \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b) {                                                                    \
			printf("#   %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a,  \
			       #b, _a, _b);                                                        \
			tap_case_failed = 1;                                                       \
		}                                                                                  \
	} while (0)

/* Run one case: TEST(fn) calls fn() and prints one TAP line named after it. */
#define TEST(fn)                                                                                   \
	do {                                                                                       \
		tap_case_failed = 0;                                                               \
		fn();                                                                              \
		tap_n++;                                                                           \
		if (tap_case_failed)                                                               \
			tap_failed++;                                                              \
		printf("%s %d - %s\n", tap_case_failed ? "not ok" : "ok", tap_n, #fn);             \
		fflush(stdout);                                                                    \
	} while (0)

/* Report a case decided elsewhere (table-driven tests). */
static inline void
tap_result(int ok, const char *name)
{
	tap_n++;
	if (!ok)
		tap_failed++;
	printf("%s %d - %s\n", ok ? "ok" : "not ok", tap_n, name);
	fflush(stdout);
}

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
