/*
 * config: parse and validate <project>/agent.yaml with libyaml into plain
 * structs.  Errors carry file:line:col.  Never reads secret values.
 */
#ifndef MOAT_CONFIG_H
#define MOAT_CONFIG_H

#include <stddef.h>

#include "util.h"

/* Default image: the local agent image that scripts/setup builds. */
#define CONFIG_DEFAULT_IMAGE	"moat-agent:latest"
/* agent.yaml larger than this is refused. */
#define CONFIG_MAX_BYTES	(1u << 20)

enum config_policy {
	CONFIG_POLICY_PERMISSIVE = 0,
	CONFIG_POLICY_STRICT,
};

enum config_runtime {
	CONFIG_RUNTIME_AUTO = 0,
	CONFIG_RUNTIME_DOCKER,
	CONFIG_RUNTIME_PODMAN,
	CONFIG_RUNTIME_APPLE,
};

struct config_mount {
	char	*src;		/* absolute (relative ones resolved) */
	char	*dst;		/* absolute path in the container */
	int	 readonly;
	int	 line;		/* where it was written, for messages */
};

struct config_env {
	char	*key;
	char	*value;
};

/* A host pattern from network.allow and the line it came from. */
struct config_allow {
	struct hostpat	 pat;
	char		*text;	/* normalised, hostpat_format() */
	int		 line;
};

struct config {
	char			*path;		/* agent.yaml as shown, or NULL */
	int			 found;		/* 0: no agent.yaml, defaults */
	char			*project_dir;	/* absolute */
	char			*name;		/* never NULL after load:
						   default basename of
						   project_dir, control
						   characters made '_' */
	char			*image;		/* never NULL after load */
	struct strvec		 command;	/* empty: the image's default */
	struct config_env	*env;
	size_t			 nenv;
	struct config_mount	*mounts;
	size_t			 nmounts;
	struct strvec		 grants;
	enum config_policy	 policy;
	struct config_allow	*allow;
	size_t			 nallow;
	int			*host_ports;	/* network.host */
	size_t			 nhost_ports;
	unsigned long long	 memory;	/* bytes, 0: unset */
	double			 cpus;		/* 0: unset */
	int			 sandbox;	/* 1 default; 0: runc */
	enum config_runtime	 runtime;
	int			 interactive;
	int			 line_policy;	/* line of network.policy's
						   key, 0: not set */
	int			 line_allow;	/* line of network.allow's
						   key, 0: not set */
};

/*
 * Loads <project_dir>/agent.yaml.  A missing file is not an error: the
 * defaults apply, cfg->found is 0 and cfg->path is NULL.  project_dir must
 * be an existing directory (relative to the working directory or
 * absolute); cfg->project_dir is its realpath.
 *
 * The file is named in messages as the caller wrote project_dir joined
 * with "agent.yaml" ("./proj" gives "./proj/agent.yaml", "proj/" gives
 * "proj/agent.yaml"), except that "." gives plain "agent.yaml".
 *
 * On error returns NULL and writes every error found, one per line
 * without a trailing newline, into err (cut at a line boundary when errlen
 * is short); after 100 errors, one last line "<file>: N more errors not
 * shown".  Each line starts with the file name, then
 * line:col (1-based, columns counted in characters) where the problem is:
 *   agent.yaml:12:5: unknown key "credentails" (did you mean "grants"?)
 * Problems with the file as a whole have no line:col:
 *   agent.yaml: file is empty; ...
 * A YAML syntax error, an empty file, a file over CONFIG_MAX_BYTES, a
 * non-UTF-8 or NUL-containing file each give exactly one line.
 *
 * What is accepted (agent.yaml.example documents every field):
 * - Scalars are read as text whatever their YAML style: `PORT: 8080` and
 *   `PORT: "8080"` are the same; `sandbox: "false"` is false.  A plain
 *   empty/~/null value is "no value": an error for scalar fields and for
 *   env values, an empty list/map for env, mounts, grants, network.*,
 *   resources; an error ("must not be empty") for command.
 * - Booleans: true/false (also True, TRUE, False, FALSE); not yes/no.
 * - Refused everywhere: anchors, aliases, tags, more than one document,
 *   duplicate keys in any map, NUL characters in any string, nesting
 *   deeper than 32 levels (reported alone, like a syntax error).
 * - command: a non-empty list of strings (a plain string is refused).
 * - env: NAME: value, NAME matching [A-Za-z_][A-Za-z0-9_]*; HTTP_PROXY,
 *   HTTPS_PROXY, NO_PROXY, ALL_PROXY (any case) are refused; values are
 *   scalars (lists/maps refused).  Error messages never echo env values.
 * - mounts: "SRC:DST" or "SRC:DST:ro|rw" (rw by default); SRC relative to
 *   the project directory, "~" refused; DST absolute and not "/"; both
 *   normalised lexically (".", "..", "//"); no ',' or control characters
 *   (nor ':' in the resolved SRC, e.g. from the project's path); duplicate
 *   DST refused.  SRC is not required to exist.
 * - grants: names matching [a-z0-9][a-z0-9_-]{0,63}; duplicates refused.
 * - network.allow: hostpat_parse() patterns, stored normalised; network.host:
 *   TCP ports 1..65535.
 * - resources.memory: digits with an optional k, m, g or t suffix (any
 *   case, powers of 1024), at least 6m, at most INT64_MAX bytes;
 *   resources.cpus: a decimal number (at most 9 decimals), 0 < cpus <= 1024.
 * - name: 1..255 bytes, no control characters.  image: 1..512 bytes, no
 *   whitespace or control characters, not starting with '-'.
 */
struct config	*config_load(const char *project_dir, char *err, size_t errlen);

/*
 * Same, from an explicit file path (moat proxy --config FILE); the path
 * is shown as given.  Here a missing file is an error.  project_dir NULL:
 * the directory that holds path.
 */
struct config	*config_load_file(const char *path, const char *project_dir,
		    char *err, size_t errlen);

/*
 * Same, from len bytes in memory (the fuzz driver, tests).  name is how
 * the file is shown in messages; project_dir resolves relative mount
 * sources: when absolute it is used as is and never accessed, otherwise
 * it must exist.  buf need not be NUL-terminated.
 */
struct config	*config_load_buffer(const char *buf, size_t len,
		    const char *name, const char *project_dir, char *err,
		    size_t errlen);

/*
 * Prints the effective configuration (defaults filled in) as YAML that
 * config_load() reads back to the same configuration.  Unset optional
 * values (command, resources) are printed as comments.
 */
void		 config_print(const struct config *cfg, FILE *fp);

/* "docker", "podman", "apple", "auto"; and parsing the same (-1: bad). */
const char	*config_runtime_name(enum config_runtime rt);
int		 config_runtime_parse(const char *s);
/* "permissive", "strict"; and parsing the same (-1: bad). */
const char	*config_policy_name(enum config_policy p);
int		 config_policy_parse(const char *s);

/* NULL-safe. */
void		 config_free(struct config *cfg);

#endif /* MOAT_CONFIG_H */
