/* SPDX-License-Identifier: Apache-2.0
 * Corpus replay for libFuzzer drivers in normal (non-fuzzing) builds: feeds every file named on
 * the command line, or every regular file in each directory named, to LLVMFuzzerTestOneInput()
 * and prints TAP: one "ok" line per argument (a crash or sanitizer report aborts the program,
 * which the runner counts as a failure). An empty or unreadable corpus is "not ok": a replay that
 * replays nothing cannot pass. Shared by every fuzz driver in tests/fuzz.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional, as in libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Run one file; returns 0 or -1 when it cannot be read. */
static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -1;
	size_t cap = 4096, n = 0;
	uint8_t *buf = malloc(cap);
	size_t k;
	while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf == NULL)
		return -1;
	/* A copy of exactly the file's size, so ASan sees reads past the input. */
	uint8_t *exact = malloc(n ? n : 1);
	if (exact == NULL) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of a directory, in name order (so a failure is reproducible). Returns the
 * count run, or -1. */
static long
replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			char **nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL)
				break;
			names = nn;
		}
		char *nm = strdup(e->d_name);
		if (nm == NULL)
			break;
		names[n++] = nm;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	long run = 0;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && replay_file(path) == 0)
			run++;
		free(names[i]);
	}
	free(names);
	return run;
}

int
main(int argc, char **argv)
{
	int failed = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		printf("not ok 1 - no corpus given\n1..1\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long run = -1;
		if (stat(argv[i], &st) == 0)
			run = S_ISDIR(st.st_mode) ? replay_dir(argv[i])
			                          : (replay_file(argv[i]) == 0 ? 1 : -1);
		int ok = run > 0;
		failed += !ok;
		printf("%s %d - replay %s (%ld inputs)\n", ok ? "ok" : "not ok", i, argv[i], run);
		fflush(stdout);
	}
	printf("1..%d\n", argc - 1);
	return failed ? 1 : 0;
}
