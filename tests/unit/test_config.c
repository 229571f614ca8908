/*
 * Unit tests for config/: every agent.yaml field, every kind of bad input
 * with its exact message and line:col, config_print round trips, files.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"

static char		 err[16384];
static char		 tmpdir[PATH_MAX];

static struct config *
load(const char *yaml)
{
	err[0] = '\0';
	return config_load_buffer(yaml, strlen(yaml), "agent.yaml", "/proj",
	    err, sizeof(err));
}

/* yaml must be refused with exactly want (all lines). */
#define BAD(yaml, want) do {						\
	struct config *c_ = load(yaml);					\
	CHECK(c_ == NULL);						\
	CHECK_STR(err, want);						\
	config_free(c_);						\
} while (0)

/* yaml must load; the config is left in cfg. */
#define GOOD(yaml) do {							\
	config_free(cfg);						\
	cfg = load(yaml);						\
	CHECK(cfg != NULL);						\
	CHECK_STR(err, "");						\
	if (cfg == NULL)						\
		return;							\
} while (0)

static char *
print_str(const struct config *cfg)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp = open_memstream(&buf, &len);

	config_print(cfg, fp);
	fclose(fp);
	return buf;
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "w");

	CHECK(fp != NULL);
	if (fp == NULL)
		return;
	CHECK(fwrite(data, 1, len, fp) == len);
	fclose(fp);
}

static void
test_full(void)
{
	struct config *cfg = NULL;

	GOOD("name: demo\n"
	    "image: \"registry.local/agent:1\"\n"
	    "command: [claude, --print, \"hello world\"]\n"
	    "env:\n"
	    "  EDITOR: vi\n"
	    "  PORT: 8080\n"
	    "  DEBUG: true\n"
	    "  EMPTY: \"\"\n"
	    "  _x1: 'single'\n"
	    "mounts:\n"
	    "  - ./data:/data:ro\n"
	    "  - /srv/cache:/cache:rw\n"
	    "  - ../shared/./x/:/work//y/\n"
	    "grants: [github, my_token-2]\n"
	    "network:\n"
	    "  policy: strict\n"
	    "  allow:\n"
	    "    - API.Example.com\n"
	    "    - \"*.github.com:8443\"\n"
	    "    - \"[::1]:9000\"\n"
	    "  host: [8080, 5432]\n"
	    "resources:\n"
	    "  memory: 4g\n"
	    "  cpus: 1.5\n"
	    "sandbox: false\n"
	    "runtime: podman\n"
	    "interactive: true\n");
	CHECK_INT(cfg->found, 1);
	CHECK_STR(cfg->path, "agent.yaml");
	CHECK_STR(cfg->project_dir, "/proj");
	CHECK_STR(cfg->name, "demo");
	CHECK_STR(cfg->image, "registry.local/agent:1");
	CHECK_INT(cfg->command.n, 3);
	CHECK_STR(cfg->command.v[0], "claude");
	CHECK_STR(cfg->command.v[1], "--print");
	CHECK_STR(cfg->command.v[2], "hello world");
	CHECK(cfg->command.v[3] == NULL);
	CHECK_INT(cfg->nenv, 5);
	CHECK_STR(cfg->env[0].key, "EDITOR");
	CHECK_STR(cfg->env[0].value, "vi");
	CHECK_STR(cfg->env[1].key, "PORT");
	CHECK_STR(cfg->env[1].value, "8080");
	CHECK_STR(cfg->env[2].value, "true");
	CHECK_STR(cfg->env[3].key, "EMPTY");
	CHECK_STR(cfg->env[3].value, "");
	CHECK_STR(cfg->env[4].key, "_x1");
	CHECK_STR(cfg->env[4].value, "single");
	CHECK_INT(cfg->nmounts, 3);
	CHECK_STR(cfg->mounts[0].src, "/proj/data");
	CHECK_STR(cfg->mounts[0].dst, "/data");
	CHECK_INT(cfg->mounts[0].readonly, 1);
	CHECK_INT(cfg->mounts[0].line, 11);
	CHECK_STR(cfg->mounts[1].src, "/srv/cache");
	CHECK_STR(cfg->mounts[1].dst, "/cache");
	CHECK_INT(cfg->mounts[1].readonly, 0);
	CHECK_STR(cfg->mounts[2].src, "/shared/x");
	CHECK_STR(cfg->mounts[2].dst, "/work/y");
	CHECK_INT(cfg->mounts[2].readonly, 0);
	CHECK_INT(cfg->mounts[2].line, 13);
	CHECK_INT(cfg->grants.n, 2);
	CHECK_STR(cfg->grants.v[0], "github");
	CHECK_STR(cfg->grants.v[1], "my_token-2");
	CHECK_INT(cfg->policy, CONFIG_POLICY_STRICT);
	CHECK_INT(cfg->line_policy, 16);
	CHECK_INT(cfg->line_allow, 17);
	CHECK_INT(cfg->nallow, 3);
	CHECK_STR(cfg->allow[0].text, "api.example.com");
	CHECK_STR(cfg->allow[0].pat.host, "api.example.com");
	CHECK_INT(cfg->allow[0].pat.wildcard, 0);
	CHECK_INT(cfg->allow[0].pat.port, 0);
	CHECK_INT(cfg->allow[0].line, 18);
	CHECK_STR(cfg->allow[1].text, "*.github.com:8443");
	CHECK_INT(cfg->allow[1].pat.wildcard, 1);
	CHECK_INT(cfg->allow[1].pat.port, 8443);
	CHECK_INT(cfg->allow[1].line, 19);
	CHECK_STR(cfg->allow[2].pat.host, "::1");
	CHECK_INT(cfg->allow[2].pat.port, 9000);
	CHECK_INT(cfg->nhost_ports, 2);
	CHECK_INT(cfg->host_ports[0], 8080);
	CHECK_INT(cfg->host_ports[1], 5432);
	CHECK(cfg->memory == 4ull << 30);
	CHECK(cfg->cpus == 1.5);
	CHECK_INT(cfg->sandbox, 0);
	CHECK_INT(cfg->runtime, CONFIG_RUNTIME_PODMAN);
	CHECK_INT(cfg->interactive, 1);
	config_free(cfg);
}

static void
test_defaults(void)
{
	struct config	*cfg = NULL;
	char		 dir[PATH_MAX + 32], want[PATH_MAX + 1024];
	char		*out;

	/* a file with one setting: everything else is the default */
	GOOD("image: x\n");
	CHECK_STR(cfg->name, "proj");
	CHECK_INT(cfg->command.n, 0);
	CHECK_INT(cfg->nenv, 0);
	CHECK_INT(cfg->nmounts, 0);
	CHECK_INT(cfg->grants.n, 0);
	CHECK_INT(cfg->policy, CONFIG_POLICY_PERMISSIVE);
	CHECK_INT(cfg->nallow, 0);
	CHECK_INT(cfg->nhost_ports, 0);
	CHECK(cfg->memory == 0);
	CHECK(cfg->cpus == 0);
	CHECK_INT(cfg->sandbox, 1);
	CHECK_INT(cfg->runtime, CONFIG_RUNTIME_AUTO);
	CHECK_INT(cfg->interactive, 0);
	CHECK_INT(cfg->line_policy, 0);

	/* no agent.yaml at all: not an error */
	snprintf(dir, sizeof(dir), "%s/my-project", tmpdir);
	CHECK(mkdir(dir, 0700) == 0);
	config_free(cfg);
	cfg = config_load(dir, err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK_INT(cfg->found, 0);
	CHECK(cfg->path == NULL);
	CHECK_STR(cfg->project_dir, dir);
	CHECK_STR(cfg->name, "my-project");
	CHECK_STR(cfg->image, CONFIG_DEFAULT_IMAGE);
	CHECK_STR(cfg->image, "moat-agent:latest");
	CHECK_INT(cfg->sandbox, 1);
	out = print_str(cfg);
	snprintf(want, sizeof(want),
	    "# moat: no agent.yaml in %s/my-project; these are the defaults\n"
	    "name: \"my-project\"\n"
	    "image: \"moat-agent:latest\"\n"
	    "# command: not set; the image's default command runs\n"
	    "env: {}\n"
	    "mounts: []\n"
	    "grants: []\n"
	    "network:\n"
	    "  policy: permissive\n"
	    "  allow: []\n"
	    "  host: []\n"
	    "resources: {}\n"
	    "  # memory: not set; no limit\n"
	    "  # cpus: not set; no limit\n"
	    "sandbox: true\n"
	    "runtime: auto\n"
	    "interactive: false\n", tmpdir);
	CHECK_STR(out, want);
	free(out);
	config_free(cfg);
}

static void
test_print(void)
{
	struct config	*cfg = NULL, *again;
	char		*out, *out2;

	GOOD("name: demo\n"
	    "command: [a, \"\", 'it''s']\n"
	    "env: {B: \"x\\ty\", A: 1}\n"
	    "mounts: [\"rel:/r:ro\", \"/abs:/a\"]\n"
	    "grants: [github]\n"
	    "network: {policy: strict, allow: [\"*.Example.COM\"], "
	    "host: [22]}\n"
	    "resources: {memory: 10240k, cpus: .25}\n"
	    "sandbox: false\n"
	    "runtime: apple\n"
	    "interactive: TRUE\n");
	out = print_str(cfg);
	CHECK_STR(out,
	    "# moat: effective configuration from agent.yaml\n"
	    "name: \"demo\"\n"
	    "image: \"moat-agent:latest\"\n"
	    "command:\n"
	    "  - \"a\"\n"
	    "  - \"\"\n"
	    "  - \"it's\"\n"
	    "env:\n"
	    "  B: \"x\\ty\"\n"
	    "  A: \"1\"\n"
	    "mounts:\n"
	    "  - \"/proj/rel:/r:ro\"\n"
	    "  - \"/abs:/a:rw\"\n"
	    "grants:\n"
	    "  - \"github\"\n"
	    "network:\n"
	    "  policy: strict\n"
	    "  allow:\n"
	    "    - \"*.example.com\"\n"
	    "  host: [22]\n"
	    "resources:\n"
	    "  memory: 10m\n"
	    "  cpus: 0.25\n"
	    "sandbox: false\n"
	    "runtime: apple\n"
	    "interactive: true\n");
	again = load(out);
	CHECK(again != NULL);
	CHECK_STR(err, "");
	if (again != NULL) {
		out2 = print_str(again);
		CHECK_STR(out2, out);
		free(out2);
	}
	config_free(again);
	free(out);

	/* one resource set, the other printed as a comment */
	GOOD("resources:\n  cpus: 3\n");
	out = print_str(cfg);
	CHECK_CONTAINS(out, "\nresources:\n  # memory: not set; no limit\n"
	    "  cpus: 3\n");
	free(out);
	config_free(cfg);
}

/* Values that need every kind of escape read back byte for byte. */
static void
test_print_escapes(void)
{
	struct config	*cfg = NULL, *again;
	char		*out, *out2;

	GOOD("env:\n"
	    "  A: \"q\\\"b\\\\s\\x01\\x7f\\u0085\\u2028\\u2029\\ufeff\"\n"
	    "  B: \"\\U0001F600 caf\\u00e9 \\n\\r\\e\\a\\u00a0\\uffff\"\n"
	    "command: [\"\\ttab\", \"#hash\", \"- dash\", \": colon\",\n"
	    "  \"line\\nbreak\"]\n");
	CHECK_STR(cfg->env[0].value, "q\"b\\s\x01\x7f\xc2\x85\xe2\x80\xa8"
	    "\xe2\x80\xa9\xef\xbb\xbf");
	CHECK_STR(cfg->env[1].value, "\xf0\x9f\x98\x80 caf\xc3\xa9 \n\r\x1b"
	    "\a\xc2\xa0\xef\xbf\xbf");
	out = print_str(cfg);
	CHECK_CONTAINS(out, "  A: \"q\\\"b\\\\s\\x01\\x7f\\x85\\u2028\\u2029"
	    "\\ufeff\"\n");
	CHECK_CONTAINS(out, "  B: \"\xf0\x9f\x98\x80 caf\xc3\xa9 \\n\\x0d"
	    "\\x1b\\x07\xc2\xa0\\uffff\"\n");
	again = load(out);
	CHECK(again != NULL);
	if (again != NULL) {
		CHECK_STR(again->env[0].value, cfg->env[0].value);
		CHECK_STR(again->env[1].value, cfg->env[1].value);
		CHECK_STR(again->command.v[4], "line\nbreak");
		CHECK_STR(again->command.v[0], "\ttab");
		CHECK_STR(again->command.v[3], ": colon");
		out2 = print_str(again);
		CHECK_STR(out2, out);
		free(out2);
	}
	config_free(again);
	free(out);
	config_free(cfg);
}

static void
test_unknown_keys(void)
{
	BAD("image: x\n"
	    "credentails: [github]\n",
	    "agent.yaml:2:1: unknown key \"credentails\" (did you mean "
	    "\"grants\"?)");
	BAD("imgae: x\n",
	    "agent.yaml:1:1: unknown key \"imgae\" (did you mean \"image\"?)");
	BAD("Image: x\n",
	    "agent.yaml:1:1: unknown key \"Image\" (did you mean \"image\"?)");
	BAD("environment: {}\n",
	    "agent.yaml:1:1: unknown key \"environment\" (did you mean "
	    "\"env\"?)");
	BAD("volumes: []\n",
	    "agent.yaml:1:1: unknown key \"volumes\" (did you mean "
	    "\"mounts\"?)");
	BAD("memory: 4g\n",
	    "agent.yaml:1:1: unknown key \"memory\" (did you mean \"memory\" "
	    "under \"resources\"?)");
	BAD("zzzzzz: 1\n",
	    "agent.yaml:1:1: unknown key \"zzzzzz\"");
	BAD("network:\n"
	    "  polcy: strict\n"
	    "  allowed: [a.com]\n",
	    "agent.yaml:2:3: unknown key \"polcy\" in network (did you mean "
	    "\"policy\"?)\n"
	    "agent.yaml:3:3: unknown key \"allowed\" in network (did you mean "
	    "\"allow\"?)");
	BAD("resources:\n"
	    "    cpu: 2\n"
	    "    ram: 1g\n"
	    "    disk: 1g\n",
	    "agent.yaml:2:5: unknown key \"cpu\" in resources (did you mean "
	    "\"cpus\"?)\n"
	    "agent.yaml:3:5: unknown key \"ram\" in resources (did you mean "
	    "\"memory\"?)\n"
	    "agent.yaml:4:5: unknown key \"disk\" in resources");
	/* the value of an unknown key is skipped whatever its shape */
	BAD("extra: {a: [1, {b: c}], d: e}\n"
	    "sandbox: maybe\n",
	    "agent.yaml:1:1: unknown key \"extra\"\n"
	    "agent.yaml:2:10: sandbox must be true or false (got \"maybe\")");
	/* control characters in a key are escaped, long keys cut */
	BAD("\"a\\nb\": 1\n",
	    "agent.yaml:1:1: unknown key \"a\\x0ab\"");
	BAD("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaa: 1\n",
	    "agent.yaml:1:1: unknown key \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
}

static void
test_duplicate_keys(void)
{
	BAD("image: a\n"
	    "name: n\n"
	    "image: b\n",
	    "agent.yaml:3:1: duplicate key \"image\" (first at line 1)");
	BAD("network:\n"
	    "  policy: strict\n"
	    "  policy: permissive\n",
	    "agent.yaml:3:3: duplicate key \"policy\" in network (first at "
	    "line 2)");
	BAD("resources: {cpus: 1, cpus: 2}\n",
	    "agent.yaml:1:22: duplicate key \"cpus\" in resources (first at "
	    "line 1)");
	BAD("env:\n"
	    "  A: 1\n"
	    "  A: 2\n",
	    "agent.yaml:3:3: duplicate key \"A\" in env (first at line 2)");
	/* inside the value of an unknown key too? no: it is skipped whole */
	BAD("x: {a: 1, a: 2}\n", "agent.yaml:1:1: unknown key \"x\"");
}

static void
test_types(void)
{
	BAD("command: claude --help\n",
	    "agent.yaml:1:10: command must be a list of strings");
	BAD("command: [claude, [x], {a: b}]\n",
	    "agent.yaml:1:19: command entries must be strings\n"
	    "agent.yaml:1:24: command entries must be strings");
	BAD("command: []\n",
	    "agent.yaml:1:10: command must not be empty (remove it to use "
	    "the image's default command)");
	BAD("command:\n",
	    "agent.yaml:1:9: command must not be empty (remove it to use "
	    "the image's default command)");
	BAD("command:\n"
	    "  -\n"
	    "  - \"\"\n",
	    "agent.yaml:2:4: command entries must not be empty (write \"\" "
	    "for an empty argument)");
	BAD("command: [\"\", x]\n",
	    "agent.yaml:1:11: the program name (the first command entry) "
	    "must not be empty");
	BAD("name: [a]\n", "agent.yaml:1:7: name must be a string");
	BAD("name:\n", "agent.yaml:1:6: name has no value (remove the line to "
	    "use the default)");
	BAD("name: \"\"\n", "agent.yaml:1:7: name must not be empty");
	BAD("name: \"a\\x01\"\n",
	    "agent.yaml:1:7: name must not contain control characters");
	BAD("image: {a: b}\n", "agent.yaml:1:8: image must be a string");
	BAD("image: ~\n", "agent.yaml:1:8: image has no value (remove the "
	    "line to use the default)");
	BAD("image: \"a b\"\n", "agent.yaml:1:8: image \"a b\" must not "
	    "contain spaces or control characters");
	BAD("image: --privileged\n", "agent.yaml:1:8: image \"--privileged\" "
	    "must not start with '-'");
	BAD("env: [A=1]\n", "agent.yaml:1:6: env must be a map of NAME: value");
	BAD("mounts: ./a:/a\n", "agent.yaml:1:9: mounts must be a list of "
	    "\"SRC:DST[:ro|rw]\" strings");
	BAD("mounts: [{a: b}]\n", "agent.yaml:1:10: mounts entries must be "
	    "strings like \"./data:/data:ro\"");
	BAD("grants: github\n", "agent.yaml:1:9: grants must be a list of "
	    "credential names");
	BAD("network: strict\n", "agent.yaml:1:10: network must be a map "
	    "(policy, allow, host)");
	BAD("network:\n  allow: a.com\n", "agent.yaml:2:10: network.allow must "
	    "be a list of host patterns");
	BAD("network:\n  host: 8080\n", "agent.yaml:2:9: network.host must be "
	    "a list of TCP ports");
	BAD("resources: 4g\n", "agent.yaml:1:12: resources must be a map "
	    "(memory, cpus)");
	BAD("sandbox: [true]\n", "agent.yaml:1:10: sandbox must be true or "
	    "false");
	/* null lists and maps are empty */
	{
		struct config *cfg = NULL;

		GOOD("env:\nmounts:\ngrants: ~\nnetwork:\n  allow:\n"
		    "  host:\nresources: null\n");
		CHECK_INT(cfg->nenv + cfg->nmounts + cfg->grants.n +
		    cfg->nallow + cfg->nhost_ports, 0);
		config_free(cfg);
	}
}

static void
test_enums(void)
{
	struct config *cfg = NULL;

	BAD("network:\n  policy: open\n", "agent.yaml:2:11: network.policy "
	    "must be permissive or strict (got \"open\")");
	BAD("network:\n  policy: Strict\n", "agent.yaml:2:11: network.policy "
	    "must be permissive or strict (got \"Strict\")");
	BAD("runtime: lxc\n", "agent.yaml:1:10: runtime must be one of auto, "
	    "docker, podman, apple (got \"lxc\")");
	BAD("sandbox: yes\n", "agent.yaml:1:10: sandbox must be true or false "
	    "(got \"yes\")");
	BAD("interactive: 1\n", "agent.yaml:1:14: interactive must be true or "
	    "false (got \"1\")");
	BAD("interactive:\n", "agent.yaml:1:13: interactive has no value "
	    "(remove the line to use the default)");
	GOOD("runtime: docker\nsandbox: False\ninteractive: \"true\"\n");
	CHECK_INT(cfg->runtime, CONFIG_RUNTIME_DOCKER);
	CHECK_INT(cfg->sandbox, 0);
	CHECK_INT(cfg->interactive, 1);
	GOOD("runtime: auto\nnetwork: {policy: permissive}\n");
	CHECK_INT(cfg->runtime, CONFIG_RUNTIME_AUTO);
	CHECK_INT(cfg->policy, CONFIG_POLICY_PERMISSIVE);
	GOOD("runtime: apple\nsandbox: TRUE\n");
	CHECK_INT(cfg->runtime, CONFIG_RUNTIME_APPLE);
	CHECK_INT(cfg->sandbox, 1);
	config_free(cfg);

	CHECK_STR(config_runtime_name(CONFIG_RUNTIME_DOCKER), "docker");
	CHECK_STR(config_runtime_name(CONFIG_RUNTIME_PODMAN), "podman");
	CHECK_STR(config_runtime_name(CONFIG_RUNTIME_APPLE), "apple");
	CHECK_STR(config_runtime_name(CONFIG_RUNTIME_AUTO), "auto");
	CHECK_INT(config_runtime_parse("podman"), CONFIG_RUNTIME_PODMAN);
	CHECK_INT(config_runtime_parse("Docker"), -1);
	CHECK_INT(config_runtime_parse(""), -1);
	CHECK_STR(config_policy_name(CONFIG_POLICY_STRICT), "strict");
	CHECK_INT(config_policy_parse("strict"), CONFIG_POLICY_STRICT);
	CHECK_INT(config_policy_parse("deny"), -1);
}

static void
test_memory(void)
{
	static const struct {
		const char		*in;
		unsigned long long	 want;
	} good[] = {
		{ "512m", 512ull << 20 }, { "4g", 4ull << 30 },
		{ "4G", 4ull << 30 }, { "10240k", 10ull << 20 },
		{ "1t", 1ull << 40 }, { "7340032", 7340032 },
		{ "\"6m\"", 6ull << 20 }, { "8388607t", 8388607ull << 40 },
		{ "9223372036854775807", 9223372036854775807ull },
	};
	struct config	*cfg = NULL;
	char		 y[128];
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(y, sizeof(y), "resources:\n  memory: %s\n",
		    good[i].in);
		GOOD(y);
		CHECK(cfg->memory == good[i].want);
	}
	config_free(cfg);
	BAD("resources:\n  memory: 12x\n", "agent.yaml:2:11: "
	    "resources.memory must be a size like 512m or 4g: digits and an "
	    "optional k, m, g or t (got \"12x\")");
	BAD("resources:\n  memory: 1.5g\n", "agent.yaml:2:11: "
	    "resources.memory must be a size like 512m or 4g: digits and an "
	    "optional k, m, g or t (got \"1.5g\")");
	BAD("resources:\n  memory: 512mb\n", "agent.yaml:2:11: "
	    "resources.memory must be a size like 512m or 4g: digits and an "
	    "optional k, m, g or t (got \"512mb\")");
	BAD("resources:\n  memory: -1g\n", "agent.yaml:2:11: "
	    "resources.memory must be a size like 512m or 4g: digits and an "
	    "optional k, m, g or t (got \"-1g\")");
	BAD("resources:\n  memory: g\n", "agent.yaml:2:11: "
	    "resources.memory must be a size like 512m or 4g: digits and an "
	    "optional k, m, g or t (got \"g\")");
	BAD("resources:\n  memory: 0\n", "agent.yaml:2:11: resources.memory "
	    "must be greater than zero (got \"0\")");
	BAD("resources:\n  memory: 0g\n", "agent.yaml:2:11: resources.memory "
	    "must be greater than zero (got \"0g\")");
	BAD("resources:\n  memory: 512\n", "agent.yaml:2:11: resources.memory "
	    "must be at least 6m (got \"512\": a plain number is bytes; did "
	    "you mean 512m?)");
	BAD("resources:\n  memory: 1024k\n", "agent.yaml:2:11: "
	    "resources.memory must be at least 6m (got \"1024k\")");
	BAD("resources:\n  memory: 8388608t\n", "agent.yaml:2:11: "
	    "resources.memory is too large (got \"8388608t\")");
	BAD("resources:\n  memory: 9223372036854775808\n", "agent.yaml:2:11: "
	    "resources.memory is too large (got \"9223372036854775808\")");
	BAD("resources:\n  memory: 99999999999999999999999999g\n",
	    "agent.yaml:2:11: resources.memory is too large (got "
	    "\"99999999999999999999999999g\")");
}

static void
test_cpus(void)
{
	static const struct {
		const char	*in;
		double		 want;
	} good[] = {
		{ "2", 2 }, { "0.5", 0.5 }, { ".5", 0.5 }, { "1024", 1024 },
		{ "1.123456789", 1.123456789 }, { "\"3\"", 3 }, { "2.", 2 },
		{ "0.000000001", 1e-9 },
	};
	struct config	*cfg = NULL;
	char		 y[128];
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(y, sizeof(y), "resources:\n  cpus: %s\n", good[i].in);
		GOOD(y);
		CHECK(cfg->cpus == good[i].want);
	}
	config_free(cfg);
	BAD("resources:\n  cpus: 0\n", "agent.yaml:2:9: resources.cpus must "
	    "be greater than zero (got \"0\")");
	BAD("resources:\n  cpus: 0.0\n", "agent.yaml:2:9: resources.cpus must "
	    "be greater than zero (got \"0.0\")");
	BAD("resources:\n  cpus: -1\n", "agent.yaml:2:9: resources.cpus must "
	    "be a number like 2 or 0.5 (got \"-1\")");
	BAD("resources:\n  cpus: two\n", "agent.yaml:2:9: resources.cpus must "
	    "be a number like 2 or 0.5 (got \"two\")");
	BAD("resources:\n  cpus: 1e3\n", "agent.yaml:2:9: resources.cpus must "
	    "be a number like 2 or 0.5 (got \"1e3\")");
	BAD("resources:\n  cpus: .nan\n", "agent.yaml:2:9: resources.cpus must "
	    "be a number like 2 or 0.5 (got \".nan\")");
	BAD("resources:\n  cpus: .\n", "agent.yaml:2:9: resources.cpus must "
	    "be a number like 2 or 0.5 (got \".\")");
	BAD("resources:\n  cpus: 0.0000000001\n", "agent.yaml:2:9: "
	    "resources.cpus must be a number like 2 or 0.5 (got "
	    "\"0.0000000001\")");
	BAD("resources:\n  cpus: 1024.5\n", "agent.yaml:2:9: resources.cpus "
	    "must be at most 1024 (got \"1024.5\")");
	BAD("resources:\n  cpus: 99999999999999999999\n", "agent.yaml:2:9: "
	    "resources.cpus must be at most 1024 (got "
	    "\"99999999999999999999\")");
}

static void
test_mounts(void)
{
	struct config *cfg = NULL;

	GOOD("mounts:\n"
	    "  - data:/d\n"
	    "  - ./../up:/u:ro\n"
	    "  - /a/b/../c:/x/./y//:rw\n"
	    "  - .:/self\n");
	CHECK_INT(cfg->nmounts, 4);
	CHECK_STR(cfg->mounts[0].src, "/proj/data");
	CHECK_STR(cfg->mounts[0].dst, "/d");
	CHECK_STR(cfg->mounts[1].src, "/up");
	CHECK_INT(cfg->mounts[1].readonly, 1);
	CHECK_STR(cfg->mounts[2].src, "/a/c");
	CHECK_STR(cfg->mounts[2].dst, "/x/y");
	CHECK_STR(cfg->mounts[3].src, "/proj");
	config_free(cfg);

	BAD("mounts:\n  - data\n", "agent.yaml:2:5: mount \"data\" must be "
	    "SRC:DST or SRC:DST:ro|rw");
	BAD("mounts:\n  - a:/b:ro:x\n", "agent.yaml:2:5: mount \"a:/b:ro:x\" "
	    "must be SRC:DST or SRC:DST:ro|rw");
	BAD("mounts:\n  - ./a:work\n", "agent.yaml:2:5: mount target \"work\" "
	    "must be an absolute path");
	BAD("mounts:\n  - ./a:/w:rx\n", "agent.yaml:2:5: mount \"./a:/w:rx\": "
	    "mode must be ro or rw, not \"rx\"");
	BAD("mounts:\n  - \":/w\"\n", "agent.yaml:2:5: mount \":/w\" has an "
	    "empty source");
	BAD("mounts:\n  - \"a:\"\n", "agent.yaml:2:5: mount \"a:\" has an "
	    "empty target");
	BAD("mounts:\n  - ./a:/\n", "agent.yaml:2:5: mount target \"/\" is "
	    "not allowed");
	BAD("mounts:\n  - ./a:/x/..\n", "agent.yaml:2:5: mount target \"/\" "
	    "is not allowed");
	BAD("mounts:\n  - ~/.ssh:/s\n", "agent.yaml:2:5: mount source "
	    "\"~/.ssh\" must not start with '~' (write the full path)");
	BAD("mounts:\n  - \"a,readonly:/b\"\n", "agent.yaml:2:5: mount "
	    "\"a,readonly:/b\": paths must not contain ',' or control "
	    "characters");
	BAD("mounts:\n  - \"a\\n:/b\"\n", "agent.yaml:2:5: mount \"a\\x0a:/b\": "
	    "paths must not contain ',' or control characters");
	BAD("mounts:\n  -\n", "agent.yaml:2:4: mounts entries must not be "
	    "empty");
	/* a project path that a mount cannot express */
	CHECK(config_load_buffer("mounts: [data:/d, /abs:/a]\n", 26,
	    "agent.yaml", "/a:b,c", err, sizeof(err)) == NULL);
	CHECK_STR(err, "agent.yaml:1:10: mount \"data:/d\": the source resolves "
	    "to \"/a:b,c/data\", and mount paths cannot hold ':', ',' or "
	    "control characters");
	cfg = config_load_buffer("image: x\n", 9, "agent.yaml", "/p/a\tb",
	    err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg != NULL)
		CHECK_STR(cfg->name, "a_b");
	config_free(cfg);
	BAD("mounts:\n"
	    "  - ./a:/work\n"
	    "  - ./b:/other\n"
	    "  - /c:/work/\n"
	    "  - /d:/x/../other:ro\n",
	    "agent.yaml:4:5: duplicate mount target \"/work\" (first at line "
	    "2)\n"
	    "agent.yaml:5:5: duplicate mount target \"/other\" (first at line "
	    "3)");
}

static void
test_env(void)
{
	struct config *cfg = NULL;

	GOOD("env:\n  a: 1\n  B_2: x y\n  N: null_is_text_when_quoted\n"
	    "  Q: \"null\"\n");
	CHECK_INT(cfg->nenv, 4);
	CHECK_STR(cfg->env[3].key, "Q");
	CHECK_STR(cfg->env[3].value, "null");
	config_free(cfg);

	BAD("env:\n"
	    "  HTTP_PROXY: x\n"
	    "  https_proxy: x\n"
	    "  No_Proxy: x\n"
	    "  ALL_PROXY: x\n"
	    "  HTTP_PROXY_X: ok\n",
	    "agent.yaml:2:3: env \"HTTP_PROXY\" is not allowed: moat sets the "
	    "proxy variables itself\n"
	    "agent.yaml:3:3: env \"https_proxy\" is not allowed: moat sets the "
	    "proxy variables itself\n"
	    "agent.yaml:4:3: env \"No_Proxy\" is not allowed: moat sets the "
	    "proxy variables itself\n"
	    "agent.yaml:5:3: env \"ALL_PROXY\" is not allowed: moat sets the "
	    "proxy variables itself");
	BAD("env:\n  1A: b\n  A-B: c\n  \"A B\": d\n  \"\": e\n",
	    "agent.yaml:2:3: env name \"1A\" is not a valid variable name "
	    "(letters, digits and _, not starting with a digit)\n"
	    "agent.yaml:3:3: env name \"A-B\" is not a valid variable name "
	    "(letters, digits and _, not starting with a digit)\n"
	    "agent.yaml:4:3: env name \"A B\" is not a valid variable name "
	    "(letters, digits and _, not starting with a digit)\n"
	    "agent.yaml:5:3: env name \"\" is not a valid variable name "
	    "(letters, digits and _, not starting with a digit)");
	/* values are never echoed: they may be secrets put there by mistake */
	BAD("env:\n  TOKEN: [sekrit]\n  M: {sekrit: 1}\n  E:\n  T: ~\n",
	    "agent.yaml:2:10: env value of \"TOKEN\" must be a string (got a "
	    "list)\n"
	    "agent.yaml:3:6: env value of \"M\" must be a string (got a map)\n"
	    "agent.yaml:4:5: env value of \"E\" is empty; write E: \"\" for an "
	    "empty string\n"
	    "agent.yaml:5:6: env value of \"T\" is empty; write T: \"\" for an "
	    "empty string");
	BAD("env:\n  K: \"a\\0b\"\n", "agent.yaml:2:6: env values must not "
	    "contain NUL characters");
	BAD("env:\n  \"K\\0X\": b\n", "agent.yaml:2:3: keys must not contain "
	    "NUL characters");
	BAD("env:\n  [a]: b\n", "agent.yaml:2:3: keys must be plain names, "
	    "not a list");
}

static void
test_grants(void)
{
	struct config	*cfg = NULL;
	char		 y[256];

	GOOD("grants:\n  - github\n  - 0x\n  - a_b-c\n");
	CHECK_INT(cfg->grants.n, 3);
	CHECK_STR(cfg->grants.v[1], "0x");
	snprintf(y, sizeof(y), "grants: [%.64s]\n", "aaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	GOOD(y);
	config_free(cfg);
	BAD("grants: [GitHub, _x, -x, \"a b\", a.b]\n",
	    "agent.yaml:1:10: grant name \"GitHub\" must be 1-64 characters of "
	    "a-z, 0-9, _ and -, starting with a letter or digit\n"
	    "agent.yaml:1:18: grant name \"_x\" must be 1-64 characters of "
	    "a-z, 0-9, _ and -, starting with a letter or digit\n"
	    "agent.yaml:1:22: grant name \"-x\" must be 1-64 characters of "
	    "a-z, 0-9, _ and -, starting with a letter or digit\n"
	    "agent.yaml:1:26: grant name \"a b\" must be 1-64 characters of "
	    "a-z, 0-9, _ and -, starting with a letter or digit\n"
	    "agent.yaml:1:33: grant name \"a.b\" must be 1-64 characters of "
	    "a-z, 0-9, _ and -, starting with a letter or digit");
	snprintf(y, sizeof(y), "grants: [%.65s]\n", "aaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	BAD(y, "agent.yaml:1:10: grant name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" must be 1-64 characters of "
	    "a-z, 0-9, _ and -, starting with a letter or digit");
	BAD("grants:\n  - github\n  - npm\n  - github\n", "agent.yaml:4:5: "
	    "duplicate grant \"github\" (first at line 2)");
	BAD("grants: [\"\"]\n", "agent.yaml:1:10: grant name \"\" must be 1-64 "
	    "characters of a-z, 0-9, _ and -, starting with a letter or "
	    "digit");
}

static void
test_network(void)
{
	struct config *cfg = NULL;

	GOOD("network:\n  host: [1, 65535, \"22\"]\n  allow: []\n");
	CHECK_INT(cfg->nhost_ports, 3);
	CHECK_INT(cfg->host_ports[0], 1);
	CHECK_INT(cfg->host_ports[1], 65535);
	CHECK_INT(cfg->host_ports[2], 22);
	CHECK_INT(cfg->line_allow, 3);
	config_free(cfg);
	BAD("network:\n  host: [0, 65536, x, -1, 80a, 1000000]\n",
	    "agent.yaml:2:10: network.host entries must be TCP ports 1-65535 "
	    "(got \"0\")\n"
	    "agent.yaml:2:13: network.host entries must be TCP ports 1-65535 "
	    "(got \"65536\")\n"
	    "agent.yaml:2:20: network.host entries must be TCP ports 1-65535 "
	    "(got \"x\")\n"
	    "agent.yaml:2:23: network.host entries must be TCP ports 1-65535 "
	    "(got \"-1\")\n"
	    "agent.yaml:2:27: network.host entries must be TCP ports 1-65535 "
	    "(got \"80a\")\n"
	    "agent.yaml:2:32: network.host entries must be TCP ports 1-65535 "
	    "(got \"1000000\")");
	BAD("network:\n"
	    "  allow:\n"
	    "    - https://api.example.com\n"
	    "    - \"*.*.example.com\"\n"
	    "    - example.com/path\n"
	    "    - a.com:99999\n"
	    "    - \"*.10.0.0.1\"\n"
	    "    -\n",
	    "agent.yaml:3:7: host pattern \"https://api.example.com\" must not "
	    "contain a scheme (write just the host, e.g. api.example.com)\n"
	    "agent.yaml:4:7: host pattern \"*.*.example.com\": '*' is only "
	    "allowed as a leading \"*.\"\n"
	    "agent.yaml:5:7: host pattern \"example.com/path\" must not contain "
	    "a path\n"
	    "agent.yaml:6:7: host pattern \"a.com:99999\" is not a valid host "
	    "name or address with an optional :port\n"
	    "agent.yaml:7:7: host pattern \"*.10.0.0.1\": a wildcard cannot "
	    "apply to an IP address\n"
	    "agent.yaml:8:6: network.allow entries must not be empty");
	BAD("network:\n  allow: [\"a\\tb\"]\n", "agent.yaml:2:11: "
	    "network.allow entry is not a valid host pattern");
}

static void
test_yaml_features(void)
{
	BAD("image: &img x\nname: *img\n",
	    "agent.yaml:1:8: YAML anchors (&img) are not supported\n"
	    "agent.yaml:2:7: YAML aliases (*img) are not supported");
	BAD("sandbox: !!bool true\n",
	    "agent.yaml:1:10: YAML tags (!!bool) are not supported");
	BAD("name: !custom x\n",
	    "agent.yaml:1:7: YAML tags (!custom) are not supported");
	BAD("env: !!map {A: b}\n",
	    "agent.yaml:1:6: YAML tags (!!map) are not supported");
	/* billion laughs: refused without expanding anything */
	BAD("a: &a [x, x, x, x, x, x, x, x, x]\n"
	    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	    "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
	    "agent.yaml:1:1: unknown key \"a\"\n"
	    "agent.yaml:1:4: YAML anchors (&a) are not supported\n"
	    "agent.yaml:2:1: unknown key \"b\"\n"
	    "agent.yaml:2:4: YAML anchors (&b) are not supported\n"
	    "agent.yaml:2:8: YAML aliases (*a) are not supported\n"
	    "agent.yaml:2:12: YAML aliases (*a) are not supported\n"
	    "agent.yaml:2:16: YAML aliases (*a) are not supported\n"
	    "agent.yaml:2:20: YAML aliases (*a) are not supported\n"
	    "agent.yaml:2:24: YAML aliases (*a) are not supported\n"
	    "agent.yaml:2:28: YAML aliases (*a) are not supported\n"
	    "agent.yaml:2:32: YAML aliases (*a) are not supported\n"
	    "agent.yaml:2:36: YAML aliases (*a) are not supported\n"
	    "agent.yaml:2:40: YAML aliases (*a) are not supported\n"
	    "agent.yaml:3:1: unknown key \"c\"\n"
	    "agent.yaml:3:5: YAML aliases (*b) are not supported\n"
	    "agent.yaml:3:9: YAML aliases (*b) are not supported\n"
	    "agent.yaml:3:13: YAML aliases (*b) are not supported\n"
	    "agent.yaml:3:17: YAML aliases (*b) are not supported\n"
	    "agent.yaml:3:21: YAML aliases (*b) are not supported\n"
	    "agent.yaml:3:25: YAML aliases (*b) are not supported\n"
	    "agent.yaml:3:29: YAML aliases (*b) are not supported\n"
	    "agent.yaml:3:33: YAML aliases (*b) are not supported\n"
	    "agent.yaml:3:37: YAML aliases (*b) are not supported");
	/* merge keys are not YAML 1.1 magic here: just unknown */
	BAD("<<: {image: x}\n", "agent.yaml:1:1: unknown key \"<<\"");
	BAD("? [a, b]\n: c\n", "agent.yaml:1:3: keys must be plain names, "
	    "not a list");
	BAD("*x : 1\n", "agent.yaml:1:1: YAML aliases (*x) are not supported");
	BAD("---\nimage: a\n---\nimage: b\n", "agent.yaml:3:1: only one YAML "
	    "document is allowed");
	{
		struct config *cfg = NULL;

		GOOD("%YAML 1.1\n---\nimage: a\n...\n");
		GOOD("\xef\xbb\xbfimage: bom\n");
		CHECK_STR(cfg->image, "bom");
		GOOD("# comment\nimage: a # trailing\n");
		config_free(cfg);
	}
}

static void
test_file_level(void)
{
	char y[64];

	BAD("", "agent.yaml: file is empty; delete it to use the defaults, or "
	    "add settings (see agent.yaml.example)");
	BAD("\n\n   \n", "agent.yaml: file is empty; delete it to use the "
	    "defaults, or add settings (see agent.yaml.example)");
	BAD("# image: x\n", "agent.yaml: file is empty; delete it to use the "
	    "defaults, or add settings (see agent.yaml.example)");
	BAD("---\n", "agent.yaml:2:1: the top level must be a map of settings "
	    "like \"image: NAME\", not empty");
	BAD("- a\n- b\n", "agent.yaml:1:1: the top level must be a map of "
	    "settings like \"image: NAME\", not a list");
	BAD("just text\n", "agent.yaml:1:1: the top level must be a map of "
	    "settings like \"image: NAME\", not a string");
	/* a syntax error is reported alone, even after other errors */
	BAD("imgae: x\nimage: [a\nname: b\n", "agent.yaml:3:5: YAML syntax "
	    "error: did not find expected ',' or ']' (while parsing a flow "
	    "sequence at 2:8)");
	BAD("image: x\n  name: y\n", "agent.yaml:2:7: YAML syntax error: "
	    "mapping values are not allowed in this context");
	BAD("image: x\n\tname: y\n", "agent.yaml:2:1: YAML syntax error: found "
	    "a tab character that violates indentation (while scanning a "
	    "plain scalar at 1:8)");
	BAD("image: \"x\n", "agent.yaml:2:1: YAML syntax error: found "
	    "unexpected end of stream (while scanning a quoted scalar at "
	    "1:8)");
	BAD("image: x\nname: \x1b[31m\n", "agent.yaml:2:7: YAML syntax error: "
	    "control characters are not allowed (0x1b)");
	/* binary garbage */
	memcpy(y, "image: x\nna\0me: y\n", 18);
	{
		struct config *c = config_load_buffer(y, 18, "agent.yaml",
		    "/proj", err, sizeof(err));
		CHECK(c == NULL);
		CHECK_STR(err, "agent.yaml:2:3: not a text file (NUL byte)");
		config_free(c);
	}
	BAD("image: x\nname: caf\xc3\xa9 \xff\n", "agent.yaml:2:12: not UTF-8 "
	    "text (byte 0xff)");
	BAD("image: \xc0\xaf\n", "agent.yaml:1:8: not UTF-8 text (byte 0xc0)");
	BAD("image: \xed\xa0\x80\n", "agent.yaml:1:8: not UTF-8 text (byte "
	    "0xed)");
	BAD("image: \xe2\x82\n", "agent.yaml:1:8: not UTF-8 text (byte 0xe2)");
	/* deep nesting: refused at once (libyaml is quadratic in it) */
	{
		char	*deep = xmalloc(1 << 20);
		size_t	 n = (1 << 20) - 1;

		memset(deep, '[', n / 2);
		memset(deep + n / 2, ']', n - n / 2);
		deep[n] = '\0';
		BAD(deep, "agent.yaml:1:33: nested more than 32 levels deep");
		/* the top map and 31 lists: 32 levels, fine; 33 are not */
		strcpy(deep, "x:\n  ");
		for (n = 0; n < 31; n++)
			strcat(deep, "- ");
		strcat(deep, "a\n");
		BAD(deep, "agent.yaml:1:1: unknown key \"x\"");
		strcpy(deep + strlen(deep) - 2, "- a\n");
		BAD(deep, "agent.yaml:2:65: nested more than 32 levels deep");
		free(deep);
	}
	BAD("\x7f" "ELF\x02\x01\x01", "agent.yaml:1:1: YAML syntax error: "
	    "control characters are not allowed (0x7f)");
}

/* Errors are all collected, capped at 100 lines, cut at line ends. */
static void
test_many_errors(void)
{
	char	*y = xmalloc(200 * 16), *last;
	size_t	 o = 0;
	int	 i, lines = 1;
	char	 small[100];

	for (i = 0; i < 150; i++)
		o += (size_t)sprintf(y + o, "k%d: 1\n", i);
	CHECK(load(y) == NULL);
	for (last = err; *last; last++)
		lines += *last == '\n';
	CHECK_INT(lines, 101);
	CHECK(strncmp(err, "agent.yaml:1:1: unknown key \"k0\"\n", 33) == 0);
	CHECK_CONTAINS(err, "agent.yaml:100:1: unknown key \"k99\"\n"
	    "agent.yaml: 50 more errors not shown");
	CHECK(strrchr(err, '\n') != NULL && strcmp(strrchr(err, '\n'),
	    "\nagent.yaml: 50 more errors not shown") == 0);

	/* a short buffer ends at a whole line */
	CHECK(config_load_buffer(y, o, "agent.yaml", "/proj", small,
	    sizeof(small)) == NULL);
	CHECK_STR(small, "agent.yaml:1:1: unknown key \"k0\"\n"
	    "agent.yaml:2:1: unknown key \"k1\"\n"
	    "agent.yaml:3:1: unknown key \"k2\"");
	free(y);
}

static void
test_files(void)
{
	struct config	*cfg;
	char		 dir[PATH_MAX + 32], path[PATH_MAX + 64], cwd[PATH_MAX];
	char		*big;

	snprintf(dir, sizeof(dir), "%s/files", tmpdir);
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/agent.yaml", dir);
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(chdir(tmpdir) == 0);

	/* the file is named as the caller named the directory */
	write_file(path, "imag: x\n", 8);
	CHECK(config_load("files", err, sizeof(err)) == NULL);
	CHECK_STR(err, "files/agent.yaml:1:1: unknown key \"imag\" (did you "
	    "mean \"image\"?)");
	CHECK(config_load("./files/", err, sizeof(err)) == NULL);
	CHECK_STR(err, "./files/agent.yaml:1:1: unknown key \"imag\" (did you "
	    "mean \"image\"?)");
	CHECK(chdir(dir) == 0);
	CHECK(config_load(".", err, sizeof(err)) == NULL);
	CHECK_STR(err, "agent.yaml:1:1: unknown key \"imag\" (did you mean "
	    "\"image\"?)");
	CHECK(chdir(tmpdir) == 0);

	/* relative mount sources resolve against the real project path */
	write_file(path, "mounts: [\"sub:/s\"]\n", 19);
	cfg = config_load("files/.", err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK_STR(cfg->path, "files/./agent.yaml");
		CHECK_STR(cfg->project_dir, dir);
		CHECK_STR(cfg->name, "files");
		CHECK_INT(cfg->found, 1);
		CHECK(strncmp(cfg->mounts[0].src, dir, strlen(dir)) == 0);
		CHECK_STR(cfg->mounts[0].src + strlen(dir), "/sub");
	}
	config_free(cfg);

	/* too large: one error, the file named */
	big = xmalloc(CONFIG_MAX_BYTES + 2);
	memset(big, '#', CONFIG_MAX_BYTES + 1);
	big[0] = 'a';
	big[1] = ':';
	big[2] = '\n';
	write_file(path, big, CONFIG_MAX_BYTES + 1);
	CHECK(config_load("files", err, sizeof(err)) == NULL);
	CHECK_STR(err, "files/agent.yaml: file is too large (more than 1 "
	    "MiB)");
	CHECK(config_load_buffer(big, CONFIG_MAX_BYTES + 1, "x.yaml", "/p",
	    err, sizeof(err)) == NULL);
	CHECK_STR(err, "x.yaml: file is too large (more than 1 MiB)");
	/* exactly the limit is fine (all comment after "a:") */
	write_file(path, big, CONFIG_MAX_BYTES);
	CHECK(config_load("files", err, sizeof(err)) == NULL);
	CHECK_STR(err, "files/agent.yaml:1:1: unknown key \"a\"");
	free(big);

	/* not a regular file: a FIFO must not hang the load */
	CHECK(unlink(path) == 0);
	CHECK(mkfifo(path, 0600) == 0);
	CHECK(config_load("files", err, sizeof(err)) == NULL);
	CHECK_STR(err, "files/agent.yaml: not a regular file");
	CHECK(unlink(path) == 0);
	CHECK(mkdir(path, 0700) == 0);
	CHECK(config_load("files", err, sizeof(err)) == NULL);
	CHECK_STR(err, "files/agent.yaml: is a directory, not a file");
	CHECK(rmdir(path) == 0);
	CHECK(symlink("nowhere", path) == 0);
	CHECK(config_load("files", err, sizeof(err)) == NULL);
	CHECK_STR(err, "files/agent.yaml: broken symbolic link");
	CHECK(unlink(path) == 0);
	write_file(path, "image: x\n", 9);
	CHECK(chmod(path, 0) == 0);
	if (geteuid() != 0) {
		CHECK(config_load("files", err, sizeof(err)) == NULL);
		CHECK_STR(err, "files/agent.yaml: Permission denied");
	}
	CHECK(chmod(path, 0600) == 0);

	/* the project directory itself */
	CHECK(config_load("nonexistent", err, sizeof(err)) == NULL);
	CHECK_STR(err, "nonexistent: no such directory");
	CHECK(config_load("files/agent.yaml", err, sizeof(err)) == NULL);
	CHECK_STR(err, "files/agent.yaml: not a directory");

	/* config_load_file: a missing file is an error */
	CHECK(config_load_file("files/other.yaml", NULL, err,
	    sizeof(err)) == NULL);
	CHECK_STR(err, "files/other.yaml: no such file");
	cfg = config_load_file("files/agent.yaml", NULL, err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK_STR(cfg->path, "files/agent.yaml");
		CHECK_STR(cfg->project_dir, dir);
		CHECK_STR(cfg->image, "x");
	}
	config_free(cfg);
	cfg = config_load_file(path, "/", err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK_STR(cfg->project_dir, "/");
		CHECK_STR(cfg->name, "agent");
	}
	config_free(cfg);
	/* config_load_buffer with a relative project dir resolves it */
	cfg = config_load_buffer("image: y\n", 9, "b.yaml", "files", err,
	    sizeof(err));
	CHECK(cfg != NULL);
	if (cfg != NULL)
		CHECK_STR(cfg->project_dir, dir);
	config_free(cfg);
	CHECK(config_load_buffer("image: y\n", 9, "b.yaml", "nope", err,
	    sizeof(err)) == NULL);
	CHECK_STR(err, "nope: no such directory");

	CHECK(unlink(path) == 0);
	CHECK(rmdir(dir) == 0);
	CHECK(chdir(cwd) == 0);
}

/* agent.yaml.example loads cleanly and sets every field. */
static void
test_example(void)
{
	struct config	*cfg;
	const char	*src = getenv("MOAT_SRC");
	char		 path[PATH_MAX];

	CHECK(src != NULL);
	if (src == NULL)
		return;
	snprintf(path, sizeof(path), "%s/agent.yaml.example", src);
	cfg = config_load_file(path, tmpdir, err, sizeof(err));
	CHECK_STR(err, "");
	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK_STR(cfg->name, "example-agent");
	CHECK_STR(cfg->image, CONFIG_DEFAULT_IMAGE);
	CHECK(cfg->command.n > 0);
	CHECK(cfg->nenv > 0);
	CHECK(cfg->nmounts > 0);
	CHECK(cfg->grants.n > 0);
	CHECK_INT(cfg->policy, CONFIG_POLICY_STRICT);
	CHECK(cfg->nallow > 0);
	CHECK(cfg->nhost_ports > 0);
	CHECK(cfg->memory > 0);
	CHECK(cfg->cpus > 0);
	CHECK(cfg->line_policy > 0);
	config_free(cfg);
}

static void
cleanup(void)
{
	char cmd[PATH_MAX + 16];

	if (tmpdir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

int
main(void)
{
	char *t;

	snprintf(tmpdir, sizeof(tmpdir), "%s/moat-test-config-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	t = realpath(tmpdir, NULL);
	snprintf(tmpdir, sizeof(tmpdir), "%s", t);
	free(t);
	atexit(cleanup);
	RUN(test_full);
	RUN(test_defaults);
	RUN(test_print);
	RUN(test_print_escapes);
	RUN(test_unknown_keys);
	RUN(test_duplicate_keys);
	RUN(test_types);
	RUN(test_enums);
	RUN(test_memory);
	RUN(test_cpus);
	RUN(test_mounts);
	RUN(test_env);
	RUN(test_grants);
	RUN(test_network);
	RUN(test_yaml_features);
	RUN(test_file_level);
	RUN(test_many_errors);
	RUN(test_files);
	RUN(test_example);
	return harness_done();
}
