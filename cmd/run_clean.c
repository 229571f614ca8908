/* Cleaning up after runs whose moat process died. */
#include <limits.h>
#include <stdio.h>
#include <time.h>

#include "run_clean.h"
#include "run_record.h"
#include "runtime.h"
#include "util.h"

/* Marks dead RUNNING records killed.  Returns how many, or -1. */
static int
mark_dead(const char *home, int verbose)
{
	struct run_record	*v;
	char			 err[512];
	size_t			 n, i;
	int			 cnt = 0, fw = rt_firewall_capable();

	if (run_records_list(home, &v, &n, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (v[i].state != RUN_RUNNING || run_record_alive(&v[i]))
			continue;
		v[i].state = RUN_KILLED;
		v[i].end = time(NULL);
		if (run_record_save(&v[i], err, sizeof(err)) == -1) {
			log_warnx("%s", err);
			continue;
		}
		if (fw && rt_firewall_remove(v[i].id, err, sizeof(err)) == -1)
			log_warnx("%s", err);
		if (verbose)
			printf("run %s: its moat process is gone; marked "
			    "killed\n", v[i].id);
		cnt++;
	}
	run_records_free(v, n);
	return cnt;
}

int
run_clean_dead(const char *home, enum rt_engine e, int verbose)
{
	static const enum rt_engine all[] = { RT_DOCKER, RT_PODMAN, RT_APPLE };
	struct rt_info	info;
	char		runs[PATH_MAX], err[1024];
	size_t		i;
	int		total, nremoved, failed = 0;

	if ((total = mark_dead(home, verbose)) < 0) {
		failed = 1;
		total = 0;
	}
	snprintf(runs, sizeof(runs), "%s/runs", home);
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (e != RT_AUTO && all[i] != e)
			continue;
		/* moat run has probed its engine already. */
		if (e == RT_AUTO && rt_probe(all[i], &info) == -1)
			continue;
		nremoved = 0;
		if (rt_cleanup_orphans(all[i], runs, &nremoved, err,
		    sizeof(err)) == -1) {
			log_warnx("%s", err);
			failed = 1;
		}
		if (verbose && nremoved > 0)
			printf("%s: removed %d container(s)/network(s) left "
			    "by killed runs\n", rt_engine_name(all[i]),
			    nremoved);
		total += nremoved;
	}
	return failed ? -1 : total;
}
