/* moat grant, moat revoke: the user's side of the credential store. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "creds.h"
#include "util.h"

#define GH_TIMEOUT_MS	15000

/* A secret being read: sodium_malloc memory, NUL-terminated. */
struct secret {
	unsigned char	*p;
	size_t		 len;
};

static void
secret_free(struct secret *s)
{
	if (s->p != NULL)
		sodium_free(s->p);
	s->p = NULL;
	s->len = 0;
}

static int
secret_alloc(struct secret *s)
{
	/* One byte more than allowed, to notice an over-long secret. */
	if ((s->p = sodium_malloc(CREDS_SECRET_MAX + 2)) == NULL) {
		log_errx("out of secure memory");
		return -1;
	}
	s->len = 0;
	return 0;
}

static int
secret_from_buf(struct secret *s, const char *v, size_t len)
{
	if (secret_alloc(s) == -1)
		return -1;
	if (len > CREDS_SECRET_MAX + 1)
		len = CREDS_SECRET_MAX + 1;
	memcpy(s->p, v, len);
	s->p[len] = '\0';
	s->len = len;
	return 0;
}

/* Reads fd to EOF (at most one byte over the limit). */
static int
secret_read_fd(struct secret *s, int fd)
{
	ssize_t n;

	if (secret_alloc(s) == -1)
		return -1;
	while (s->len < CREDS_SECRET_MAX + 1) {
		n = read(fd, s->p + s->len, CREDS_SECRET_MAX + 1 - s->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_err("cannot read the secret from stdin");
			secret_free(s);
			return -1;
		}
		if (n == 0)
			break;
		s->len += (size_t)n;
	}
	s->p[s->len] = '\0';
	return 0;
}

/* Strips one trailing "\n" (what echo, a heredoc or a prompt leaves). */
static void
secret_chomp(struct secret *s)
{
	if (s->len > 0 && s->p[s->len - 1] == '\n')
		s->p[--s->len] = '\0';
}

static volatile sig_atomic_t prompt_signal;

static void
on_prompt_signal(int sig)
{
	prompt_signal = sig;
}

/*
 * Prompts on the terminal at stdin with echo off, restoring the terminal
 * on every path (also SIGINT/SIGTERM/SIGHUP/SIGQUIT, which are then
 * re-raised).  Reads one line.
 */
static int
secret_prompt(struct secret *s, const char *prompt)
{
	static const int	 sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction	 sa, old[4];
	struct termios		 saved, quiet;
	unsigned char		 c;
	ssize_t			 n;
	size_t			 i;
	int			 ret = -1;

	if (tcgetattr(STDIN_FILENO, &saved) == -1) {
		log_err("cannot read the terminal settings");
		return -1;
	}
	if (secret_alloc(s) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_prompt_signal;	/* no SA_RESTART: read fails */
	sigemptyset(&sa.sa_mask);
	prompt_signal = 0;
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	/* Echo goes off before the prompt shows, so no typed byte echoes. */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == -1) {
		log_err("cannot turn off the terminal's echo");
		goto out;
	}
	fputs(prompt, stderr);
	fflush(stderr);
	for (;;) {
		n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && errno == EINTR && prompt_signal == 0)
			continue;
		if (n < 0) {
			if (prompt_signal == 0)
				log_err("cannot read the secret");
			goto restore;
		}
		if (n == 0 || c == '\n')
			break;
		if (s->len < CREDS_SECRET_MAX + 1)
			s->p[s->len++] = c;
	}
	s->p[s->len] = '\0';
	ret = 0;
 restore:
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	fputs("\n", stderr);
 out:
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (ret == -1)
		secret_free(s);
	if (prompt_signal != 0)
		raise(prompt_signal);
	return ret;
}

/* Asks a yes/no question on the terminal at stdin; default yes. */
static int
ask_yes(const char *question)
{
	char line[64];

	fputs(question, stderr);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	return line[0] == '\n' || line[0] == 'y' || line[0] == 'Y';
}

/* The token of a logged-in `gh` CLI, or -1 when there is none. */
static int
gh_token(struct secret *s)
{
	char	*argv[] = { "gh", "auth", "token", "--hostname", "github.com",
		    NULL };
	char	*out = NULL, *path, err[256];
	int	 status, ret = -1;

	if ((path = util_which("gh")) == NULL)
		return -1;
	free(path);
	if (util_run(argv, NULL, NULL, 0, &out, NULL, GH_TIMEOUT_MS, &status,
	    err, sizeof(err)) == -1 || status != 0 || out == NULL)
		goto out;
	if (secret_from_buf(s, out, strlen(out)) == -1)
		goto out;
	secret_chomp(s);
	if (s->len == 0) {
		secret_free(s);
		goto out;
	}
	ret = 0;
 out:
	util_free_secret_str(out);
	return ret;
}

/*
 * Gets the secret from --from-env, the terminal (with the gh offer for
 * github), or stdin.
 */
static int
get_secret(struct secret *s, const char *name, const char *from_env)
{
	const char	*v;
	char		 prompt[128];
	int		 is_github = strcmp(name, "github") == 0;

	if (from_env != NULL) {
		if ((v = getenv(from_env)) == NULL) {
			log_errx("environment variable %s is not set",
			    from_env);
			return -1;
		}
		return secret_from_buf(s, v, strlen(v));
	}
	if (isatty(STDIN_FILENO)) {
		if (is_github && gh_token(s) == 0) {
			if (ask_yes("The gh CLI is logged in. Use its token "
			    "(gh auth token)? [Y/n] "))
				return 0;
			secret_free(s);
		}
		snprintf(prompt, sizeof(prompt), "Secret for %s (input is "
		    "hidden): ", name);
		return secret_prompt(s, prompt);
	}
	if (secret_read_fd(s, STDIN_FILENO) == -1)
		return -1;
	secret_chomp(s);
	if (s->len == 0 && is_github) {
		secret_free(s);
		if (gh_token(s) == 0) {
			fprintf(stderr, "no secret on stdin; using the token "
			    "of the logged-in gh CLI (gh auth token)\n");
			return 0;
		}
		return secret_from_buf(s, "", 0);
	}
	return 0;
}

/* ---- output ----------------------------------------------------------- */

static void
format_time(long long t, char *buf, size_t len)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", t);
}

static void
json_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(fp, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(fp, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, fp);
	}
	fputc('"', fp);
}

/*
 * One credential as text (name, fingerprint, time, then a line per
 * binding) or as a JSON object.  Never the secret.
 */
static void
print_record(FILE *fp, const struct creds_record *r, int json)
{
	const struct creds_binding	*b;
	char				 fp8[CREDS_FP_LEN + 1], t[64];
	char				 pat[HOST_MAX + 16];
	size_t				 i, j;

	creds_fingerprint(r, fp8);
	format_time(r->created, t, sizeof(t));
	if (json) {
		fputs("{\"name\":", fp);
		json_str(fp, r->name);
		fprintf(fp, ",\"created\":\"%s\",\"fingerprint\":\"%s\","
		    "\"bindings\":[", t, fp8);
	} else
		fprintf(fp, "%s  fingerprint %s  granted %s\n", r->name, fp8,
		    t);
	for (i = 0; i < r->nbindings; i++) {
		b = &r->bindings[i];
		fputs(json ? (i ? ",{\"hosts\":[" : "{\"hosts\":[") : "  ", fp);
		for (j = 0; j < b->nhosts; j++) {
			hostpat_format(&b->hosts[j], pat, sizeof(pat));
			fputs(j ? (json ? "," : ", ") : "", fp);
			if (json)
				json_str(fp, pat);
			else
				fputs(pat, fp);
		}
		if (json) {
			fputs("],\"header\":", fp);
			json_str(fp, b->header);
			fprintf(fp, ",\"format\":\"%s\",\"%s\":",
			    b->basic ? "basic" : "prefix", b->basic ? "user" :
			    "prefix");
			json_str(fp, b->prefix_or_user);
			fputc('}', fp);
		} else if (b->basic)
			fprintf(fp, "  %s: Basic base64(%s:<secret>)\n",
			    b->header, b->prefix_or_user);
		else
			fprintf(fp, "  %s: %s<secret>\n", b->header,
			    b->prefix_or_user);
	}
	if (json)
		fputs("]}", fp);
}

/* ---- subcommands ------------------------------------------------------ */

static int
grant_list(int json)
{
	struct strvec		 names = STRVEC_INIT;
	struct creds_record	*r;
	char			 err[1024];
	size_t			 i, shown = 0;
	int			 ret = 0;

	if (creds_list(&names, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	if (json)
		fputc('[', stdout);
	for (i = 0; i < names.n; i++) {
		if (creds_load(names.v[i], &r, err, sizeof(err)) == -1) {
			log_errx("%s", err);
			ret = 1;
			continue;
		}
		if (json && shown)
			fputc(',', stdout);
		print_record(stdout, r, json);
		shown++;
		creds_record_free(r);
	}
	if (json)
		fputs("]\n", stdout);
	else if (names.n == 0)
		printf("no credentials granted; add one with: moat grant "
		    "<provider>\n");
	strvec_free(&names);
	return ret;
}

static int
grant_show(const char *name, int json)
{
	struct creds_record	*r;
	char			 err[1024];

	if (creds_load(name, &r, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	print_record(stdout, r, json);
	if (json)
		fputc('\n', stdout);
	creds_record_free(r);
	return 0;
}

static int
usage_error(const char *cmd)
{
	fputs(cmd_usage(cmd), stderr);
	return EXIT_USAGE;
}

static void
unknown_provider(const char *name)
{
	const struct creds_provider	*p;
	char				 list[256];
	size_t				 i, off = 0;

	list[0] = '\0';
	for (i = 0; (p = creds_provider_at(i)) != NULL; i++)
		if (off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off,
			    "%s%s", i ? ", " : "", p->name);
	log_errx("unknown provider \"%s\" (built-in: %s); for another API "
	    "give the hosts it is for: moat grant %s --host api.example.com "
	    "[--header NAME] [--prefix STR | --basic-user USER]", name, list,
	    name);
}

int
cmd_grant(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "header", required_argument, NULL, 'n' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "basic-user", required_argument, NULL, 'u' },
		{ "from-env", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct creds_provider	*prov;
	struct creds_record		*r = NULL;
	struct strvec			 hosts = STRVEC_INIT;
	struct secret			 s = { NULL, 0 };
	const char			*header = NULL, *prefix = NULL;
	const char			*user = NULL, *from_env = NULL, *name;
	char				 err[1024], fp8[CREDS_FP_LEN + 1];
	size_t				 i;
	int				 ch, json = 0, ret = EXIT_USAGE;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			strvec_push(&hosts, optarg);
			break;
		case 'n':
			header = optarg;
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'e':
			from_env = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(cmd_usage("grant"), stdout);
			ret = 0;
			goto out;
		default:
			ret = usage_error("grant");
			goto out;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || argc > 2 || (argc == 2 &&
	    strcmp(argv[0], "show") != 0)) {
		ret = usage_error("grant");
		goto out;
	}
	name = argv[0];
	if (strcmp(name, "list") == 0 || strcmp(name, "show") == 0) {
		if (hosts.n || header || prefix || user || from_env ||
		    argc != (name[0] == 's' ? 2 : 1)) {
			ret = usage_error("grant");
			goto out;
		}
		ret = name[0] == 's' ? grant_show(argv[1], json) :
		    grant_list(json);
		goto out;
	}
	if (json) {
		log_errx("--json goes with 'moat grant list' or 'moat grant "
		    "show'");
		goto out;
	}
	if ((r = creds_record_new(name, err, sizeof(err))) == NULL) {
		log_errx("%s", err);
		goto out;
	}
	prov = creds_provider_find(name);
	if (prov != NULL && (hosts.n || header || prefix || user)) {
		log_errx("\"%s\" is a built-in provider with fixed hosts and "
		    "header; to bind other hosts choose another name, e.g. "
		    "moat grant my-%s --host PATTERN", name, name);
		goto out;
	}
	if (prov == NULL && hosts.n == 0) {
		if (header || prefix || user)
			log_errx("--header, --prefix and --basic-user need "
			    "--host PATTERN");
		else
			unknown_provider(name);
		goto out;
	}
	if (prefix != NULL && user != NULL) {
		log_errx("--prefix and --basic-user exclude each other");
		goto out;
	}
	if (prov != NULL) {
		if (creds_record_add_provider(r, prov, err, sizeof(err)) == -1) {
			log_errx("%s", err);
			ret = 1;
			goto out;
		}
	} else if (creds_record_add_binding(r, (const char *const *)hosts.v,
	    hosts.n, header ? header : "Authorization", user != NULL,
	    user ? user : prefix ? prefix : "Bearer ", err,
	    sizeof(err)) == -1) {
		log_errx("%s", err);
		goto out;
	}
	ret = 1;
	if (get_secret(&s, name, from_env) == -1)
		goto out;
	if (creds_record_set_secret(r, s.p, s.len, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		goto out;
	}
	secret_free(&s);
	r->created = (long long)time(NULL);
	if (creds_store(r, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		goto out;
	}
	creds_fingerprint(r, fp8);
	printf("granted \"%s\" (fingerprint %s) for ", name, fp8);
	for (i = 0; i < r->nbindings; i++) {
		char pat[HOST_MAX + 16];
		size_t j;

		for (j = 0; j < r->bindings[i].nhosts; j++) {
			hostpat_format(&r->bindings[i].hosts[j], pat,
			    sizeof(pat));
			printf("%s%s", i || j ? ", " : "", pat);
		}
	}
	printf("; use it with: moat run --grant %s\n", name);
	ret = 0;
 out:
	secret_free(&s);
	creds_record_free(r);
	strvec_free(&hosts);
	return ret;
}

int
cmd_revoke(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char	err[1024];
	int	ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(cmd_usage("revoke"), stdout);
			return 0;
		}
		return usage_error("revoke");
	}
	if (argc - optind != 1)
		return usage_error("revoke");
	if (creds_remove(argv[optind], err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return 1;
	}
	printf("revoked \"%s\"\n", argv[optind]);
	return 0;
}
