/*
 * Container and network lifecycle: spawn `<engine> run`, stop, remove,
 * per-run networks, the Apple gateway, and the removal of what killed
 * runs left behind.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "runtime.h"
#include "rt_private.h"

/* Names we pass to a CLI: never an option, never anything odd. */
static int
name_ok(const char *s)
{
	const char *p;

	if (s == NULL || *s == '\0' || *s == '-' || strlen(s) > 120)
		return 0;
	for (p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' &&
		    *p != '.')
			return 0;
	return 1;
}

/* The CLI says the object does not exist (so removing it is done). */
static int
says_absent(const char *errout)
{
	return errout != NULL && (strstr(errout, "No such") != NULL ||
	    strstr(errout, "no such") != NULL ||
	    strstr(errout, "not found") != NULL);
}

/* Runs a CLI command; on failure err gets "<what>: <first stderr line>".
 * absent_ok: a "no such ..." failure counts as success. */
static int
run_cmd(char *const argv[], int timeout_ms, int absent_ok, char **out,
    const char *what, char *err, size_t errlen)
{
	char	*errout = NULL, line[320], e2[256];
	int	 status, r = -1;

	if (util_run(argv, NULL, NULL, 0, out, &errout, timeout_ms, &status,
	    e2, sizeof(e2)) == -1) {
		util_errf(err, errlen, "%s: %s", what, e2);
		goto out;
	}
	if (status != 0 && !(absent_ok && says_absent(errout))) {
		rt_first_line(errout, line, sizeof(line));
		if (status == 124)
			util_errf(err, errlen, "%s: no answer within %d "
			    "seconds", what, timeout_ms / 1000);
		else
			util_errf(err, errlen, "%s: %s", what, *line ? line :
			    "failed");
		goto out;
	}
	r = 0;
 out:
	free(errout);
	return r;
}

pid_t
rt_container_spawn(enum rt_engine e, const struct rt_spec *spec, int in,
    int out, int err_fd, char *err, size_t errlen)
{
	struct strvec	argv = STRVEC_INIT, envp = STRVEC_INIT;
	pid_t		pid = -1;

	if (spec->name != NULL && !name_ok(spec->name)) {
		util_errf(err, errlen, "bad container name \"%s\"",
		    spec->name);
		return -1;
	}
	if (rt_spec_argv(e, spec, &argv, &envp, err, errlen) == 0 &&
	    (e != RT_DOCKER || in != UTIL_FD_NULL ||
	    (pid = rt_api_spawn(spec, argv.v, envp.v, out, err_fd, err,
	    errlen)) == 0))
		pid = util_spawn(argv.v, envp.v, in, out, err_fd, err, errlen);
	strvec_free(&argv);
	rt_env_free(&envp);
	return pid;
}

int
rt_container_stop(enum rt_engine e, const char *name, int timeout_s,
    char *err, size_t errlen)
{
	char	 tbuf[16], what[200];
	char	*argv[] = { (char *)rt_cli_name(e), "stop", "-t", tbuf,
		    (char *)name, NULL };

	if (argv[0] == NULL || !name_ok(name)) {
		util_errf(err, errlen, "bad container name \"%s\"",
		    name ? name : "");
		return -1;
	}
	if (timeout_s < 0)
		timeout_s = 0;
	snprintf(tbuf, sizeof(tbuf), "%d", timeout_s);
	snprintf(what, sizeof(what), "%s stop %s", argv[0], name);
	return run_cmd(argv, timeout_s * 1000 + RT_QUERY_TIMEOUT_MS, 1, NULL,
	    what, err, errlen);
}

/*
 * DELETE target over the daemon's socket; absent (404) is not an error.
 * 1 done, 0 no API (use the CLI), -1 refused or failed (err filled).
 */
static int
api_delete(const char *target, const char *what, char *err, size_t errlen)
{
	char	*answer = NULL;
	int	 status, r;

	if ((r = rt_api_call("DELETE", target, NULL, RT_QUERY_TIMEOUT_MS,
	    &status, &answer, err, errlen)) == 1 && status != 204 &&
	    status != 200 && status != 404) {
		rt_api_error(answer, status, what, err, errlen);
		r = -1;
	}
	free(answer);
	return r;
}

int
rt_container_remove(enum rt_engine e, const char *name, char *err,
    size_t errlen)
{
	char	 what[200];
	char	*argv[] = { (char *)rt_cli_name(e), "rm", "-f", (char *)name,
		    NULL };
	char	*argv_apple[] = { "container", "delete", "--force",
		    (char *)name, NULL };

	if (argv[0] == NULL || !name_ok(name)) {
		util_errf(err, errlen, "bad container name \"%s\"",
		    name ? name : "");
		return -1;
	}
	snprintf(what, sizeof(what), "%s rm %s", argv[0], name);
	if (e == RT_DOCKER) {
		char	target[200];
		int	r;

		snprintf(target, sizeof(target), "/containers/%s?force=1",
		    name);
		if ((r = api_delete(target, what, err, errlen)) != 0)
			return r == 1 ? 0 : -1;
	}
	return run_cmd(e == RT_APPLE ? argv_apple : argv,
	    RT_QUERY_TIMEOUT_MS, 1, NULL, what, err, errlen);
}

int
rt_image_present(enum rt_engine e, const char *image)
{
	char	*argv[] = { (char *)rt_cli_name(e), "image", "inspect",
		    "--format", "{{.Id}}", (char *)image, NULL };
	char	*errout = NULL, err[256];
	int	 status, r = -1;

	if ((e != RT_DOCKER && e != RT_PODMAN) || image == NULL ||
	    *image == '\0' || *image == '-')
		return -1;
	if (rt_query(argv, NULL, &errout, &status, err, sizeof(err)) == -1)
		return -1;
	if (status == 0)
		r = 1;
	else if (says_absent(errout))
		r = 0;
	free(errout);
	return r;
}

static int
network_args_ok(enum rt_engine e, const char *name, char *err,
    size_t errlen)
{
	if (e != RT_DOCKER && e != RT_PODMAN) {
		util_errf(err, errlen, "per-run networks need docker or "
		    "podman");
		return -1;
	}
	if (!name_ok(name)) {
		util_errf(err, errlen, "bad network name \"%s\"",
		    name ? name : "");
		return -1;
	}
	return 0;
}

int
rt_network_remove(enum rt_engine e, const char *name, char *err,
    size_t errlen)
{
	char	 what[200], target[200];
	char	*argv[] = { (char *)rt_cli_name(e), "network", "rm",
		    (char *)name, NULL };
	int	 r;

	if (network_args_ok(e, name, err, errlen) == -1)
		return -1;
	/* name_ok(): nothing in it needs escaping in a URL path. */
	snprintf(target, sizeof(target), "/networks/%s", name);
	snprintf(what, sizeof(what), "docker network rm %s", name);
	if (e == RT_DOCKER && (r = api_delete(target, what, err, errlen)) !=
	    0)
		return r == 1 ? 0 : -1;
	snprintf(what, sizeof(what), "%s network rm %s", argv[0], name);
	return run_cmd(argv, RT_QUERY_TIMEOUT_MS, 1, NULL, what, err, errlen);
}

/* Copies the next whitespace-separated word of *sp into buf. */
static void
next_word(char **sp, char *buf, size_t len)
{
	char	*s = *sp;
	size_t	 n;

	s += strspn(s, " \t\r\n");
	n = strcspn(s, " \t\r\n");
	snprintf(buf, len, "%.*s", (int)n, s);
	*sp = s + n;
}

/*
 * Docker names a network's bridge "br-" + the first 12 hex digits of its
 * id and gives it the gateway address: read both from the kernel instead
 * of asking the daemon again.  0, or -1 when the interface is not in
 * this network namespace (rootless Docker) or has no IPv4 address.
 */
static int
bridge_from_kernel(struct rt_network *net)
{
	struct ifaddrs		*ifa, *i;
	struct sockaddr_in	*a, *m;
	struct in_addr		 sub;
	char			 bridge[IFNAMSIZ + 1], gw[INET_ADDRSTRLEN];
	char			 sn[INET_ADDRSTRLEN];
	uint32_t		 mask;
	int			 prefix = 0, r = -1;

	if (strlen(net->id) < 12 || strspn(net->id, "0123456789abcdef") < 12)
		return -1;
	snprintf(bridge, sizeof(bridge), "br-%.12s", net->id);
	if (getifaddrs(&ifa) == -1)
		return -1;
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_netmask == NULL ||
		    i->ifa_addr->sa_family != AF_INET ||
		    strcmp(i->ifa_name, bridge) != 0)
			continue;
		a = (struct sockaddr_in *)(void *)i->ifa_addr;
		m = (struct sockaddr_in *)(void *)i->ifa_netmask;
		mask = ntohl(m->sin_addr.s_addr);
		while (prefix < 32 && (mask & (0x80000000u >> prefix)))
			prefix++;
		sub.s_addr = a->sin_addr.s_addr & m->sin_addr.s_addr;
		if (prefix == 0 || prefix == 32 || inet_ntop(AF_INET,
		    &a->sin_addr, gw, sizeof(gw)) == NULL || inet_ntop(AF_INET,
		    &sub, sn, sizeof(sn)) == NULL)
			break;
		snprintf(net->gateway, sizeof(net->gateway), "%s", gw);
		snprintf(net->subnet, sizeof(net->subnet), "%s/%d", sn,
		    prefix);
		snprintf(net->bridge, sizeof(net->bridge), "%s", bridge);
		r = 0;
		break;
	}
	freeifaddrs(ifa);
	return r;
}

/*
 * POST /networks/create: 1 created (net->name, net->id set), 0 no API
 * (use the CLI), -1 refused or failed (err filled).
 */
static int
network_create_api(const char *name, const struct strvec *labels,
    struct rt_network *net, char *err, size_t errlen)
{
	struct json	*j = NULL;
	const char	*id;
	char		*body = NULL, *answer = NULL, what[200];
	size_t		 blen;
	FILE		*fp;
	int		 status, r;

	if ((fp = open_memstream(&body, &blen)) == NULL) {
		util_errf(err, errlen, "open_memstream: %s", strerror(errno));
		return -1;
	}
	fputs("{\"Name\":", fp);
	json_write_str(fp, name);
	fputs(",\"Internal\":true,\"CheckDuplicate\":true,\"Labels\":", fp);
	rt_json_labels(fp, labels);
	fputc('}', fp);
	if (fclose(fp) != 0) {
		free(body);
		util_errf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(what, sizeof(what), "docker network create %s", name);
	r = rt_api_call("POST", "/networks/create", body, RT_QUERY_TIMEOUT_MS,
	    &status, &answer, err, errlen);
	free(body);
	if (r != 1)
		goto out;
	if (status != 201 && status != 200) {
		rt_api_error(answer, status, what, err, errlen);
		r = -1;
		goto out;
	}
	if ((j = json_parse(answer, strlen(answer), NULL, 0)) == NULL ||
	    (id = json_get_str(j, "Id")) == NULL || *id == '\0') {
		util_errf(err, errlen, "%s: the answer has no network id",
		    what);
		r = -1;
		goto out;
	}
	snprintf(net->name, sizeof(net->name), "%s", name);
	snprintf(net->id, sizeof(net->id), "%s", id);
 out:
	json_free(j);
	free(answer);
	return r;
}

int
rt_network_create(enum rt_engine e, const char *name,
    const struct strvec *labels, struct rt_network *net, char *err,
    size_t errlen)
{
	struct strvec	 argv = STRVEC_INIT;
	char		*out = NULL, *p, what[200], e2[256];
	char		*inspect[] = { (char *)rt_cli_name(e), "network",
			    "inspect", "--format", NULL, (char *)name, NULL };
	size_t		 i;
	int		 created = 0, r = -1;
	struct in_addr	 a;

	memset(net, 0, sizeof(*net));
	if (network_args_ok(e, name, err, errlen) == -1)
		return -1;
	if (e == RT_DOCKER && (r = network_create_api(name, labels, net, err,
	    errlen)) != 0) {
		if (r == -1)
			goto out;
		created = 1;
		r = -1;
		if (bridge_from_kernel(net) == 0) {
			r = 0;
			goto out;
		}
		memset(net, 0, sizeof(*net));
		strvec_push(&argv, rt_cli_name(e));	/* for the inspect */
		goto inspect;
	}
	r = -1;
	strvec_push(&argv, rt_cli_name(e));
	strvec_push(&argv, "network");
	strvec_push(&argv, "create");
	strvec_push(&argv, "--internal");
	for (i = 0; labels != NULL && i < labels->n; i++) {
		strvec_push(&argv, "--label");
		strvec_push(&argv, labels->v[i]);
	}
	strvec_push(&argv, name);
	snprintf(what, sizeof(what), "%s network create %s", argv.v[0], name);
	if (run_cmd(argv.v, RT_QUERY_TIMEOUT_MS, 0, &out, what, err,
	    errlen) == -1)
		goto out;
	created = 1;
	/* Docker prints the new network's id: the kernel has the rest. */
	if (e == RT_DOCKER && out != NULL) {
		snprintf(net->name, sizeof(net->name), "%s", name);
		p = out;
		next_word(&p, net->id, sizeof(net->id));
		if (bridge_from_kernel(net) == 0) {
			r = 0;
			goto out;
		}
		memset(net, 0, sizeof(*net));
	}
	free(out);
	out = NULL;
 inspect:
	inspect[4] = e == RT_DOCKER ?
	    "{{.Id}}\n{{range .IPAM.Config}}{{.Gateway}} {{.Subnet}} {{end}}"
	    "\n{{index .Options \"com.docker.network.bridge.name\"}}" :
	    "{{.ID}}\n{{range .Subnets}}{{.Gateway}} {{.Subnet}} {{end}}"
	    "\n{{.NetworkInterface}}";
	snprintf(what, sizeof(what), "%s network inspect %s", argv.v[0],
	    name);
	if (run_cmd(inspect, RT_QUERY_TIMEOUT_MS, 0, &out, what, err,
	    errlen) == -1)
		goto out;
	snprintf(net->name, sizeof(net->name), "%s", name);
	p = out;
	next_word(&p, net->id, sizeof(net->id));
	next_word(&p, net->gateway, sizeof(net->gateway));
	next_word(&p, net->subnet, sizeof(net->subnet));
	next_word(&p, net->bridge, sizeof(net->bridge));
	if (strcmp(net->bridge, "<no") == 0)	/* "<no value>" */
		net->bridge[0] = '\0';
	if (net->bridge[0] == '\0' && e == RT_DOCKER && strlen(net->id) >= 12)
		snprintf(net->bridge, sizeof(net->bridge), "br-%.12s",
		    net->id);
	if (inet_pton(AF_INET, net->gateway, &a) != 1) {
		util_errf(err, errlen, "network %s has no IPv4 gateway "
		    "address (got \"%s\")", name, net->gateway);
		goto out;
	}
	if (net->bridge[0] == '\0') {
		util_errf(err, errlen, "network %s: cannot tell its bridge "
		    "interface", name);
		goto out;
	}
	r = 0;
 out:
	if (r == -1 && created)
		(void)rt_network_remove(e, name, e2, sizeof(e2));
	if (r == -1)
		memset(net, 0, sizeof(*net));
	free(out);
	strvec_free(&argv);
	return r;
}

void
rt_apple_gateway(char *buf, size_t len)
{
	char		*argv[] = { "container", "network", "inspect",
			    "default", NULL };
	char		*out = NULL, *p, gw[64], e2[256];
	size_t		 n;
	int		 status;
	struct in_addr	 a;

	snprintf(buf, len, "192.168.64.1");
	if (rt_query(argv, &out, NULL, &status, e2, sizeof(e2)) == -1 ||
	    status != 0 || out == NULL)
		goto out;
	if ((p = strstr(out, "\"gateway\"")) == NULL)
		goto out;
	p += strlen("\"gateway\"");
	p += strspn(p, " \t\r\n:");
	if (*p++ != '"')
		goto out;
	n = strcspn(p, "\"");
	if (n == 0 || n >= sizeof(gw))
		goto out;
	memcpy(gw, p, n);
	gw[n] = '\0';
	if (inet_pton(AF_INET, gw, &a) == 1)
		snprintf(buf, len, "%s", gw);
 out:
	free(out);
}

/* ---- orphans -------------------------------------------------------- */

/* 1 when <runs_dir>/<id>/metadata.json records an end time. */
static int
run_ended(const char *runs_dir, const char *id)
{
	char	 path[PATH_MAX], *data = NULL, *p;
	size_t	 len;
	int	 ended = 0;

	if (runs_dir == NULL || !name_ok(id))
		return 0;
	snprintf(path, sizeof(path), "%s/%s/metadata.json", runs_dir, id);
	if (util_read_file(path, 1 << 20, &data, &len) == -1)
		return 0;
	if ((p = strstr(data, "\"end\"")) != NULL) {
		p += 5;
		p += strspn(p, " \t\r\n");
		if (*p == ':') {
			p++;
			p += strspn(p, " \t\r\n");
			ended = *p != '\0' && strncmp(p, "null", 4) != 0;
		}
	}
	free(data);
	return ended;
}

/* The owning moat process is gone (or the run says it has ended). */
static int
is_orphan(const char *runs_dir, const char *id, const char *pidstr)
{
	char	*end;
	long	 pid;

	if (run_ended(runs_dir, id))
		return 1;
	errno = 0;
	pid = strtol(pidstr, &end, 10);
	if (errno != 0 || end == pidstr || *end != '\0' || pid <= 0 ||
	    pid > INT_MAX)
		return 1;
	if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
		return 0;
	return 1;
}

/* Where a JSON listing keeps each entry's name and labels. */
enum list_kind {
	LIST_DOCKER_CONTAINERS,	/* "Names": ["/name"], "Labels" */
	LIST_DOCKER_NETWORKS,	/* "Name", "Labels" */
	LIST_PODMAN_NETWORKS,	/* "name", "labels" (netavark's) */
	LIST_APPLE,		/* "configuration": {"id", "labels"} */
};

/*
 * Turns a JSON array listing (a daemon's or `container list`'s) into the
 * CLI format's "name\trun\tpid\tkeep" lines in *out (malloc'd).  0, or
 * -1 when it is not an array.
 */
static int
labelled_lines(const char *text, enum list_kind kind, char **out)
{
	const char	*keys[3] = { RT_LABEL_RUN, RT_LABEL_PID, RT_LABEL_KEEP };
	const struct json *it, *labels, *names, *conf;
	struct json	*j;
	const char	*name, *v[3];
	size_t		 i, len;
	FILE		*fp;
	int		 k, bad;

	*out = NULL;
	if ((j = json_parse(text, strlen(text), NULL, 0)) == NULL ||
	    j->type != JSON_ARRAY || (fp = open_memstream(out, &len)) ==
	    NULL) {
		json_free(j);
		return -1;
	}
	for (i = 0; i < j->n; i++) {
		it = j->items[i];
		name = NULL;
		labels = json_get(it, "Labels");
		if (kind == LIST_DOCKER_NETWORKS)
			name = json_get_str(it, "Name");
		else if (kind == LIST_PODMAN_NETWORKS) {
			name = json_get_str(it, "name");
			labels = json_get(it, "labels");
		} else if (kind == LIST_DOCKER_CONTAINERS) {
			names = json_get(it, "Names");
			if (names != NULL && names->type == JSON_ARRAY &&
			    names->n > 0 && names->items[0]->type ==
			    JSON_STRING)
				name = names->items[0]->str;
			if (name != NULL && *name == '/')
				name++;
		} else {
			conf = json_get(it, "configuration");
			name = json_get_str(conf, "id");
			labels = json_get(conf, "labels");
		}
		bad = name == NULL || strpbrk(name, "\t\n") != NULL;
		for (k = 0; k < 3; k++) {
			if ((v[k] = json_get_str(labels, keys[k])) == NULL)
				v[k] = "";
			bad |= strpbrk(v[k], "\t\n") != NULL;
		}
		if (!bad)
			fprintf(fp, "%s\t%s\t%s\t%s\n", name, v[0], v[1],
			    v[2]);
	}
	json_free(j);
	if (fclose(fp) != 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/*
 * The same lines from the daemon's socket: GET /containers/json or
 * /networks filtered on the moat.run label.  1, 0 (no API), -1.
 */
static int
list_labelled_api(int networks, char **out, char *err, size_t errlen)
{
	/* filters={"label":["moat.run"]} */
	const char	*q = "?filters=%7B%22label%22%3A%5B%22moat.run%22%5D%7D";
	const char	*what = networks ? "listing moat networks" :
			    "listing moat containers";
	char		 target[128], *answer = NULL;
	int		 status, r;

	snprintf(target, sizeof(target), "%s%s%s", networks ? "/networks" :
	    "/containers/json", q, networks ? "" : "&all=1");
	if ((r = rt_api_call("GET", target, NULL, RT_QUERY_TIMEOUT_MS,
	    &status, &answer, err, errlen)) != 1)
		goto out;
	r = -1;
	if (status != 200)
		rt_api_error(answer, status, what, err, errlen);
	else if (labelled_lines(answer, networks ? LIST_DOCKER_NETWORKS :
	    LIST_DOCKER_CONTAINERS, out) == -1)
		util_errf(err, errlen, "%s: unexpected answer", what);
	else
		r = 1;
 out:
	free(answer);
	return r;
}

/* Apple: `container list --all --format json` (it has no filters). */
static int
list_labelled_apple(char **out, char *err, size_t errlen)
{
	char	*argv[] = { "container", "list", "--all", "--format", "json",
		    NULL };
	char	*json = NULL;
	int	 r = -1;

	if (run_cmd(argv, RT_QUERY_TIMEOUT_MS, 0, &json,
	    "listing moat containers", err, errlen) == -1) {
		free(json);
		return -1;
	}
	if (labelled_lines(json ? json : "", LIST_APPLE, out) == -1)
		util_errf(err, errlen, "listing moat containers: `container "
		    "list --format json` printed no JSON array");
	else
		r = 0;
	free(json);
	return r;
}

/*
 * Podman: `ps -a` / `network ls` with the label filter and --format json
 * (Podman 4's `network ls` templates cannot index its labels).
 */
static int
list_labelled_podman(int networks, char **out, char *err, size_t errlen)
{
	char	*argv_ps[] = { "podman", "ps", "-a", "--filter",
		    "label=moat.run", "--format", "json", NULL };
	char	*argv_net[] = { "podman", "network", "ls", "--filter",
		    "label=moat.run", "--format", "json", NULL };
	char	*json = NULL;
	int	 r = -1;

	if (run_cmd(networks ? argv_net : argv_ps, RT_QUERY_TIMEOUT_MS, 0,
	    &json, networks ? "listing moat networks" :
	    "listing moat containers", err, errlen) == -1) {
		free(json);
		return -1;
	}
	if (labelled_lines(json ? json : "", networks ?
	    LIST_PODMAN_NETWORKS : LIST_DOCKER_CONTAINERS, out) == -1)
		util_errf(err, errlen, "listing moat %s: podman printed no "
		    "JSON array", networks ? "networks" : "containers");
	else
		r = 0;
	free(json);
	return r;
}

/* Lists "name\trun\tpid\tkeep" lines for containers or networks. */
static int
list_labelled(enum rt_engine e, int networks, char **out, char *err,
    size_t errlen)
{
	const char *fmt_docker =
	    "{{.Name}}\t{{.Label \"moat.run\"}}\t{{.Label \"moat.pid\"}}\t"
	    "{{.Label \"moat.keep\"}}";
	const char *fmt_docker_ps =
	    "{{.Names}}\t{{.Label \"moat.run\"}}\t{{.Label \"moat.pid\"}}\t"
	    "{{.Label \"moat.keep\"}}";
	char *argv_ps[] = { "docker", "ps", "-a", "--filter",
	    "label=moat.run", "--format", (char *)fmt_docker_ps, NULL };
	char *argv_net[] = { "docker", "network", "ls", "--filter",
	    "label=moat.run", "--format", (char *)fmt_docker, NULL };
	int r;

	if (e == RT_APPLE)
		return list_labelled_apple(out, err, errlen);
	if (e == RT_PODMAN)
		return list_labelled_podman(networks, out, err, errlen);
	if ((r = list_labelled_api(networks, out, err, errlen)) != 0)
		return r == 1 ? 0 : -1;
	return run_cmd(networks ? argv_net : argv_ps, RT_QUERY_TIMEOUT_MS, 0,
	    out, networks ? "listing moat networks" :
	    "listing moat containers", err, errlen);
}

/* Splits a tab-separated line into up to n fields (missing ones ""). */
static void
split_tabs(char *line, char **f, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		f[i] = line;
		if (line == NULL || *line == '\0') {
			f[i] = "";
			continue;
		}
		line = strchr(line, '\t');
		if (line != NULL)
			*line++ = '\0';
		else
			line = "";
	}
}

int
rt_cleanup_orphans(enum rt_engine e, const char *runs_dir, int *nremoved,
    char *err, size_t errlen)
{
	struct strvec	 ids = STRVEC_INIT;
	char		*out = NULL, *line, *save, *f[4], e2[512];
	int		 pass, r = 0, n = 0;
	size_t		 i;

	if (nremoved != NULL)
		*nremoved = 0;
	if (e != RT_DOCKER && e != RT_PODMAN && e != RT_APPLE)
		return 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	/* Containers, then networks (Apple: no per-run networks). */
	for (pass = 0; pass < (e == RT_APPLE ? 1 : 2); pass++) {
		free(out);
		out = NULL;
		if (list_labelled(e, pass, &out, e2, sizeof(e2)) == -1) {
			util_errf(err, errlen, "%s", e2);
			r = -1;
			continue;
		}
		save = NULL;
		for (line = strtok_r(out, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			split_tabs(line, f, 4);
			if (*f[0] == '\0' || *f[1] == '\0' ||
			    strcmp(f[3], "1") == 0 ||
			    !is_orphan(runs_dir, f[1], f[2]))
				continue;
			if ((pass == 0 ? rt_container_remove(e, f[0], e2,
			    sizeof(e2)) : rt_network_remove(e, f[0], e2,
			    sizeof(e2))) == -1) {
				util_errf(err, errlen, "%s", e2);
				r = -1;
				continue;
			}
			log_debug("removed %s %s left by run %s",
			    pass == 0 ? "container" : "network", f[0], f[1]);
			n++;
			if (strvec_find(&ids, f[1]) == -1)
				strvec_push(&ids, f[1]);
		}
	}
	if (rt_firewall_capable())
		for (i = 0; i < ids.n; i++)
			(void)rt_firewall_remove(ids.v[i], e2, sizeof(e2));
	if (nremoved != NULL)
		*nremoved = n;
	free(out);
	strvec_free(&ids);
	return r;
}
