/* SPDX-License-Identifier: Apache-2.0
 * What the in-process dataplane tests share.
 */
#ifndef DP_TEST_UTIL_H
#define DP_TEST_UTIL_H

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

/* The EAL makes /var/run/dpdk/<file-prefix>/ even with --no-shconf and never removes it: after
 * rte_eal_cleanup() empty it (files only; the prefix is this run's alone) and remove it, as
 * tachyond does. */
static inline void
dpt_remove_runtime_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_type != DT_DIR && snprintf(path, sizeof(path), "%s/%s", dir,
			                                     de->d_name) < (int)sizeof(path))
				unlink(path);
		closedir(d);
	}
	rmdir(dir);
}

#endif /* DP_TEST_UTIL_H */
