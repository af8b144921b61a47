// SPDX-License-Identifier: Apache-2.0
// A Google Benchmark main() with set-up before the runs and clean-up after them, for the
// microbenchmarks that need more than BENCHMARK_MAIN() (an EAL, a context line).
#ifndef MICRO_MAIN_H
#define MICRO_MAIN_H

#include <benchmark/benchmark.h>

// (No <functional>: bench/ is on the include path and its `compare` script would shadow the
// standard <compare> header that <functional> pulls in.)
// `before` returns 0 to run the benchmarks, anything else to exit with status 1.
inline int
micro_main(int argc, char **argv, int (*before)(const char *prog), void (*after)())
{
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv) || before(argv[0]) != 0)
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	after();
	return 0;
}

#endif
