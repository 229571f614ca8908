/*
 * moat status [--json]: the container runtimes found (version, state),
 * the one `moat run` would use and its sandbox mode, and the runs that
 * are active now.
 */
#include <sys/utsname.h>

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "json.h"
#include "run_record.h"
#include "runtime.h"
#include "sandbox.h"
#include "util.h"

static const enum rt_engine engines[] = { RT_DOCKER, RT_PODMAN, RT_APPLE };
#define NENGINES (sizeof(engines) / sizeof(engines[0]))

struct status {
	struct rt_info	 found[NENGINES];
	struct rt_info	 sel;
	int		 sel_ok;
	char		 sel_err[1024];
	const char	*mode;		/* sandbox mode, NULL when none */
	int		 needs_no_sandbox; /* gVisor missing */
	struct run_record *runs;	/* active ones first n_active */
	size_t		 nruns;
	size_t		 n_active;
	char		 runs_err[512];
};

/* Moves the active runs to the front; returns how many. */
static size_t
select_active(struct run_record *v, size_t n)
{
	struct run_record	tmp;
	size_t			i, k = 0;

	for (i = 0; i < n; i++) {
		if (v[i].state != RUN_RUNNING || !run_record_alive(&v[i]))
			continue;
		if (i != k) {
			tmp = v[k];
			v[k] = v[i];
			v[i] = tmp;
		}
		k++;
	}
	return k;
}

static void
gather(struct status *st)
{
	char	home[PATH_MAX], err[512];
	int	runsc = 0, warn = 0;
	size_t	i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < NENGINES; i++)
		(void)rt_probe(engines[i], &st->found[i]);
	st->sel_ok = rt_detect(NULL, NULL, &st->sel, st->sel_err,
	    sizeof(st->sel_err)) == 0;
	if (st->sel_ok) {
		if (sandbox_decide(&st->sel, NULL, 0, &runsc, &warn, err,
		    sizeof(err)) == -1)
			st->needs_no_sandbox = 1;
		st->mode = rt_mode_name(st->sel.engine, runsc);
	}
	if (util_moat_home(home, sizeof(home), st->runs_err,
	    sizeof(st->runs_err)) == -1)
		return;
	if (run_records_list(home, &st->runs, &st->nruns, st->runs_err,
	    sizeof(st->runs_err)) == -1) {
		st->runs = NULL;
		st->nruns = 0;
		return;
	}
	st->n_active = select_active(st->runs, st->nruns);
}

/* The first line of s (the reason without its fix). */
static void
first_line(const char *s, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s", (int)strcspn(s, "\n"), s);
}

static const char *
nz(const char *s)
{
	return s != NULL && *s != '\0' ? s : "-";
}

static int
is_macos(void)
{
	struct utsname u;

	return uname(&u) == 0 && strcmp(u.sysname, "Darwin") == 0;
}

static void
print_text(const struct status *st, FILE *fp)
{
	const struct rt_info	*r;
	char			 when[32], reason[320];
	size_t			 i;

	fprintf(fp, "Runtimes:\n");
	for (i = 0; i < NENGINES; i++) {
		r = &st->found[i];
		/* Apple's runtime exists only on macOS: no news elsewhere. */
		if (r->engine == RT_APPLE && r->state ==
		    RT_STATE_NOT_INSTALLED && !is_macos())
			continue;
		fprintf(fp, "  %-7s %-22s %s", rt_engine_name(r->engine),
		    nz(r->version), rt_state_name(r->engine, r->state));
		if (r->state == RT_STATE_READY && r->engine != RT_APPLE)
			fprintf(fp, ", gVisor %s", r->gvisor ? "available" :
			    "not available");
		if (r->state != RT_STATE_READY &&
		    r->state != RT_STATE_NOT_INSTALLED) {
			first_line(r->reason, reason, sizeof(reason));
			fprintf(fp, " (%s)", reason);
		}
		fputc('\n', fp);
	}
	if (st->sel_ok) {
		fprintf(fp, "moat run uses: %s\n", rt_engine_name(
		    st->sel.engine));
		fprintf(fp, "Sandbox: %s", st->mode);
		if (st->needs_no_sandbox)
			fprintf(fp, " (gVisor (runsc) is required but not "
			    "available: moat run needs --no-sandbox)");
		fputc('\n', fp);
	} else {
		fprintf(fp, "moat run uses: none\n%s\n", st->sel_err);
	}
	fprintf(fp, "Active runs:");
	if (st->n_active == 0)
		fprintf(fp, " none\n");
	else
		fputc('\n', fp);
	for (i = 0; i < st->n_active; i++) {
		const struct run_record *rr = &st->runs[i];

		run_fmt_time(rr->start, when, sizeof(when));
		fprintf(fp, "  %-28s %-16s %-14s %-20s pid %ld, since %s\n",
		    rr->id, nz(rr->name), nz(rr->sandbox), nz(rr->image),
		    rr->pid, when);
	}
	if (*st->runs_err)
		fprintf(fp, "(runs: %s)\n", st->runs_err);
}

static void
json_str_or_null(FILE *fp, const char *s)
{
	if (s == NULL || *s == '\0')
		fputs("null", fp);
	else
		json_write_str(fp, s);
}

static void
print_json(const struct status *st, FILE *fp)
{
	const struct rt_info	*r;
	char			 when[32];
	size_t			 i, j;

	fputs("{\n  \"runtimes\": [", fp);
	for (i = 0; i < NENGINES; i++) {
		r = &st->found[i];
		fputs(i ? ",\n    {" : "\n    {", fp);
		fputs("\"name\": ", fp);
		json_write_str(fp, rt_engine_name(r->engine));
		fputs(", \"state\": ", fp);
		json_write_str(fp, rt_state_name(r->engine, r->state));
		fputs(", \"version\": ", fp);
		json_str_or_null(fp, r->version);
		fprintf(fp, ", \"gvisor\": %s, \"reason\": ",
		    r->gvisor ? "true" : "false");
		json_str_or_null(fp, r->state == RT_STATE_READY ? NULL :
		    r->reason);
		fputc('}', fp);
	}
	fputs("\n  ],\n  \"runtime\": ", fp);
	json_str_or_null(fp, st->sel_ok ? rt_engine_name(st->sel.engine) :
	    NULL);
	fputs(",\n  \"runtime_error\": ", fp);
	json_str_or_null(fp, st->sel_ok ? NULL : st->sel_err);
	fputs(",\n  \"sandbox\": ", fp);
	json_str_or_null(fp, st->mode);
	fprintf(fp, ",\n  \"gvisor_missing\": %s",
	    st->needs_no_sandbox ? "true" : "false");
	fputs(",\n  \"active_runs\": [", fp);
	for (i = 0; i < st->n_active; i++) {
		const struct run_record *rr = &st->runs[i];

		run_fmt_time(rr->start, when, sizeof(when));
		fputs(i ? ",\n    {" : "\n    {", fp);
		fputs("\"id\": ", fp);
		json_write_str(fp, rr->id);
		fputs(", \"name\": ", fp);
		json_str_or_null(fp, rr->name);
		fputs(", \"project\": ", fp);
		json_str_or_null(fp, rr->project);
		fputs(", \"image\": ", fp);
		json_str_or_null(fp, rr->image);
		fputs(", \"runtime\": ", fp);
		json_str_or_null(fp, rr->runtime);
		fputs(", \"sandbox\": ", fp);
		json_str_or_null(fp, rr->sandbox);
		fputs(", \"grants\": [", fp);
		for (j = 0; j < rr->grants.n; j++) {
			if (j)
				fputs(", ", fp);
			json_write_str(fp, rr->grants.v[j]);
		}
		fprintf(fp, "], \"pid\": %ld, \"start\": ", rr->pid);
		json_write_str(fp, when);
		fputc('}', fp);
	}
	fputs(st->n_active ? "\n  ]\n}\n" : "]\n}\n", fp);
}

int
cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct status	st;
	int		ch, json = 0;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(cmd_usage("status"), stdout);
			return 0;
		default:
			fputs(cmd_usage("status"), stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		log_errx("status takes no arguments");
		fputs(cmd_usage("status"), stderr);
		return EXIT_USAGE;
	}
	gather(&st);
	if (json)
		print_json(&st, stdout);
	else
		print_text(&st, stdout);
	run_records_free(st.runs, st.nruns);
	return st.sel_ok ? 0 : 1;
}
