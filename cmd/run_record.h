/*
 * cmd/run_record: the record of one run under <moat home>/runs/<id>/:
 * metadata.json (written atomically at start, rewritten at the end),
 * network.jsonl (the proxy's request log), logs.txt (the agent's output),
 * ca/ (the CA bundle mounted into the container).
 */
#ifndef MOAT_RUN_RECORD_H
#define MOAT_RUN_RECORD_H

#include <limits.h>
#include <stddef.h>
#include <time.h>

#include "util.h"

/* "run-20260131-235959-0a1b2c": a valid Docker name and label value. */
#define RUN_ID_MAX	40

enum run_state {
	RUN_RUNNING = 0,	/* started, not finished */
	RUN_EXITED,		/* finished; exit_status valid */
	RUN_KILLED,		/* its moat died without finishing the record */
};

struct run_record {
	char		 id[RUN_ID_MAX];
	char		 dir[PATH_MAX];		/* <home>/runs/<id> */
	char		*name;
	char		*project;
	char		*image;
	char		*runtime;		/* "docker", "podman", ... */
	char		*sandbox;		/* "docker+gvisor", "docker" */
	char		*container;		/* container name */
	char		*network;		/* per-run network, or NULL */
	struct strvec	 grants;		/* names only */
	long		 pid;			/* the moat process */
	unsigned long long pid_start;		/* its start time (ticks) */
	time_t		 start;
	time_t		 end;			/* 0 while running */
	enum run_state	 state;
	int		 exit_status;		/* -1 unknown */
};

/* Fills buf (at least RUN_ID_MAX) with a fresh run id. */
void	run_id_new(char *buf, size_t len);
/* 1 when s has the shape of a run id (safe as a path component). */
int	run_id_valid(const char *s);

/*
 * Creates <home>/runs/<r->id>/ (0700, parents too), fills r->dir, pid,
 * pid_start, start, state RUNNING, and writes metadata.json.
 * 0 or -1 (err filled).
 */
int	run_record_create(struct run_record *r, const char *home, char *err,
	    size_t errlen);
/* (Re)writes <r->dir>/metadata.json atomically (0600).  0 or -1. */
int	run_record_save(const struct run_record *r, char *err, size_t errlen);
/* Marks the record finished with status and saves it. */
int	run_record_finish(struct run_record *r, int status, char *err,
	    size_t errlen);
/* Loads <dir>/metadata.json into r (zeroed first).  0 or -1. */
int	run_record_load(const char *dir, struct run_record *r, char *err,
	    size_t errlen);
/* Frees the strings in r (not r itself).  NULL-safe. */
void	run_record_clear(struct run_record *r);

/*
 * 1 when the moat process that owns a RUNNING record is still alive (pid
 * present with the same start time), else 0.
 */
int	run_record_alive(const struct run_record *r);

/*
 * Loads every record under <home>/runs, oldest first.  Unreadable entries
 * are skipped.  *out is a malloc'd array the caller frees with
 * run_records_free.  0 or -1.
 */
int	run_records_list(const char *home, struct run_record **out,
	    size_t *n, char *err, size_t errlen);
void	run_records_free(struct run_record *v, size_t n);

/*
 * Finds the run named by what: an exact id, a unique id prefix, or a run
 * name (the newest run with that name).  Loads it into r.  0 or -1 with
 * err like `no run "x" (see moat list)`.
 */
int	run_record_find(const char *home, const char *what,
	    struct run_record *r, char *err, size_t errlen);

/* Formats t as "2026-01-31T23:59:59Z" (UTC), or "-" when t is 0. */
void	run_fmt_time(time_t t, char *buf, size_t len);

/* The start time of process pid (from /proc), or 0. */
unsigned long long run_pid_start(long pid);

#endif /* MOAT_RUN_RECORD_H */
