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
	char		*text;	/* as written */
	int		 line;
};

struct config {
	char			*path;		/* agent.yaml path, or NULL */
	int			 found;		/* 0: no agent.yaml, defaults */
	char			*project_dir;	/* absolute */
	char			*name;		/* NULL: basename of project */
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
	int			 line_policy;	/* line of network.policy, 0 */
	int			 line_allow;	/* line of network.allow, 0 */
};

/*
 * Loads <project_dir>/agent.yaml.  A missing file is not an error: the
 * defaults apply and cfg->found is 0.  On error returns NULL and writes
 * every error found, one per line, each like
 *   agent.yaml:12:5: unknown key "credentails" (did you mean "credentials"?)
 * into err (truncated to errlen).  The caller frees with config_free().
 */
struct config	*config_load(const char *project_dir, char *err, size_t errlen);

/* Same, from an explicit file path (moat proxy --config FILE). */
struct config	*config_load_file(const char *path, const char *project_dir,
		    char *err, size_t errlen);

/* Prints the effective configuration (defaults filled in) as YAML. */
void		 config_print(const struct config *cfg, FILE *fp);

/* "docker", "podman", "apple", "auto"; and parsing the same (-1: bad). */
const char	*config_runtime_name(enum config_runtime rt);
int		 config_runtime_parse(const char *s);

/* NULL-safe. */
void		 config_free(struct config *cfg);

#endif /* MOAT_CONFIG_H */
