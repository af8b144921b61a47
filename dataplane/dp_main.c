/* SPDX-License-Identifier: Apache-2.0
 * tachyond: the DPDK primary process. EAL options come first, ours after "--":
 *
 *   tachyond -l 0 --in-memory --vdev=net_af_packet0,iface=veth0 -- --ip 198.18.0.1 --idle adaptive
 *
 * Start-up order: our options (so a typo fails before the EAL reserves memory), the EAL, the
 * port (one queue pair per EAL lcore: -l 0-1 and qpairs=2 give two shards), each lcore's stack
 * and broker, the rings between them; then the poll loops run on every lcore, the main one
 * included, until SIGINT or SIGTERM. Shutdown undoes it all in reverse and checks that every
 * mbuf came back.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "dataplane/dp_ctl.h"
#include "dp_pvt.h"
#include "dp_sec.h"

static void
dp_on_signal(int sig)
{
	RTE_SET_USED(sig);
	dp_quit = 1;
}

/* The EAL creates /var/run/dpdk/<file-prefix>/ even with --in-memory or --no-shconf (for the
 * telemetry socket) and never removes it. After a clean run the directory is ours alone: empty
 * it (sockets and files only, no recursion) and remove it. `own` = 0 only removes it if empty,
 * for failures where another primary may be using the same prefix. */
static void
dp_remove_runtime_dir(const char *dir, int own)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (dir[0] == '\0')
		return;
	if (own && (d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_type == DT_DIR)
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) <
			    (int)sizeof(path))
				unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* Options that make sense without "--" because they never start the broker. */
static int
dp_is_standalone_opt(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ||
	       strncmp(a, "--check-config", 14) == 0;
}

/* Split argv at "--": returns the index of "--" (or argc when absent) and fills ours[] with
 * argv[0] followed by our arguments. */
static int
dp_split_args(int argc, char **argv, char **ours, int *n_ours)
{
	int dd = 0;

	while (dd < argc && strcmp(argv[dd], "--") != 0)
		dd++;
	ours[0] = argv[0];
	*n_ours = 1;
	if (dd < argc) {
		for (int i = dd + 1; i < argc; i++)
			ours[(*n_ours)++] = argv[i];
	} else if (argc > 1 && dp_is_standalone_opt(argv[1])) {
		for (int i = 1; i < argc; i++)
			ours[(*n_ours)++] = argv[i];
		dd = 1;
	} else {
		for (int i = 1; i < argc; i++) {
			if (strncmp(argv[i], "--ip", 4) == 0 ||
			    strncmp(argv[i], "--idle", 6) == 0) {
				fprintf(stderr,
				        "tachyond: '%s' is ours: put tachyond's options after "
				        "'--' (EAL options come first)\n",
				        argv[i]);
				return -EINVAL;
			}
		}
	}
	ours[*n_ours] = NULL;
	return dd;
}

int
main(int argc, char **argv)
{
	char **ours = calloc((size_t)argc + 1, sizeof(*ours));
	struct sigaction sa = {.sa_handler = dp_on_signal};
	struct dp_lcore *ls = NULL;
	struct dp_conf conf;
	unsigned int lc, n_init = 0;
	struct rte_mempool *pool = NULL;
	uint16_t port_id = 0;
	unsigned int leaked;
	char ip[INET_ADDRSTRLEN];
	char rundir[PATH_MAX];
	int n_ours, dd, ret, status = EXIT_SUCCESS;

	if (ours == NULL)
		return EXIT_FAILURE;
	dp_conf_defaults(&conf);
	dd = dp_split_args(argc, argv, ours, &n_ours);
	status = 2;
	ret = dd < 0 ? dd : dp_conf_parse_args(&conf, n_ours, ours, &status);
	free(ours);
	if (ret != 0) {
		if (ret < 0)
			fprintf(stderr, "tachyond: see '%s -- --help'\n", argv[0]);
		return status;
	}

	ret = rte_eal_init(dd, argv);
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	if (ret < 0) {
		fprintf(stderr, "tachyond: EAL initialisation failed: %s\n",
		        rte_strerror(rte_errno));
		dp_remove_runtime_dir(rundir, 0);
		return EXIT_FAILURE;
	}
	if (ret != dd - 1) {
		fprintf(stderr, "tachyond: '%s' is not an EAL option\n", argv[ret + 1]);
		status = 2;
		goto eal_done;
	}
	/* Installed after the EAL so that its threads inherit nothing odd; the flag is read once
	 * per loop iteration, and a sleeping loop wakes early on EINTR. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	dp_n_shards = rte_lcore_count();
	if (dp_n_shards > DP_MAX_SHARDS) {
		fprintf(stderr, "tachyond: at most %u polling lcores (-l)\n", DP_MAX_SHARDS);
		status = 2;
		goto eal_done;
	}
	ret = dp_ctl_start(&(struct dp_ctl_conf){.config = &conf.cfg,
	                                         .config_path = conf.config_path,
	                                         .socket_path = conf.ctl_socket});
	if (ret < 0) {
		fprintf(stderr, "tachyond: control socket %s: %s\n",
		        conf.ctl_socket ? conf.ctl_socket : conf.cfg.dataplane_socket,
		        strerror(-ret));
		status = EXIT_FAILURE;
		goto eal_done;
	}
	ret = dp_sec_init(&conf); /* TLS contexts, password file, ACL, login worker */
	if (ret < 0) {
		status = EXIT_FAILURE;
		goto ctl_done;
	}
	ret = dp_port_init(&conf, (uint16_t)dp_n_shards, &port_id, &pool);
	if (ret < 0) {
		status = EXIT_FAILURE;
		goto ctl_done;
	}

	/* Shard i is the i-th EAL lcore (the main one first) and serves queue pair i. */
	RTE_LCORE_FOREACH(lc)
	{
		ls = &dp_lcores[lc];
		dp_shards[n_init] = ls;
		ret = dp_lcore_init(ls, &conf, lc, port_id, (uint16_t)n_init, pool);
		n_init++;
		if (ret < 0) {
			fprintf(stderr, "tachyond: lcore %u setup failed: %s\n", lc,
			        rte_strerror(-ret));
			break;
		}
	}
	if (ret == 0)
		ret = dp_shard_rings_create();
	if (ret < 0) {
		if (n_init == dp_n_shards)
			fprintf(stderr, "tachyond: rings between shards: %s\n", rte_strerror(-ret));
		status = EXIT_FAILURE;
	} else {
		struct rte_ether_addr mac;
		char macs[RTE_ETHER_ADDR_FMT_SIZE];

		rte_eth_macaddr_get(port_id, &mac);
		rte_ether_format_addr(macs, sizeof(macs), &mac);
		inet_ntop(AF_INET, &conf.ip, ip, sizeof(ip));
		printf("tachyond: ready: %s port %u mac %s, MQTT on", ip, port_id, macs);
		for (unsigned int i = 0; i < conf.n_listen; i++) {
			printf(" %u", conf.listen_port[i]);
			if (conf.cfg.listeners[i].cc != TCP_CC_NEWRENO)
				printf(" (%s)", tcp_cc_name(conf.cfg.listeners[i].cc));
		}
		printf(", lcores");
		RTE_LCORE_FOREACH(lc)
		printf(" %u", lc);
		printf(", idle %s\n", conf.idle == DP_IDLE_BUSY ? "busy" : "adaptive");
		fflush(stdout);
		dp_lcore_drain_prepare();
		RTE_LCORE_FOREACH_WORKER(lc)
		rte_eal_remote_launch(dp_lcore_main, &dp_lcores[lc], lc);
		dp_lcore_main(&dp_lcores[rte_lcore_id()]);
		rte_eal_mp_wait_lcore();
		printf("tachyond: stopping\n");
	}

	for (unsigned int i = 0; i < n_init; i++)
		dp_lcore_fini(dp_shards[i]);
	dp_shard_rings_free();
	leaked = dp_port_close(port_id, pool);
	if (leaked != 0) {
		fprintf(stderr, "tachyond: %u mbufs still in use at exit (leak)\n", leaked);
		status = 3;
	}
ctl_done:
	dp_sec_fini();
	dp_ctl_stop();
	printf("tachyond: stopped\n");
eal_done:
	rte_eal_cleanup();
	dp_remove_runtime_dir(rundir, 1);
	return status;
}
