/*
 * The effective configuration as agent.yaml.  Every string is written
 * double-quoted with YAML escapes so that any value the loader accepted
 * reads back byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* Length of the UTF-8 sequence at s (valid by construction), its code. */
static size_t
utf8_next(const unsigned char *s, unsigned long *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80) {
		*cp = ((s[0] & 0x1fUL) << 6) | (s[1] & 0x3f);
		return 2;
	}
	if ((s[0] & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 &&
	    (s[2] & 0xc0) == 0x80) {
		*cp = ((s[0] & 0x0fUL) << 12) | ((s[1] & 0x3fUL) << 6) |
		    (s[2] & 0x3f);
		return 3;
	}
	if ((s[0] & 0xf8) == 0xf0 && (s[1] & 0xc0) == 0x80 &&
	    (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80) {
		*cp = ((s[0] & 0x07UL) << 18) | ((s[1] & 0x3fUL) << 12) |
		    ((s[2] & 0x3fUL) << 6) | (s[3] & 0x3f);
		return 4;
	}
	*cp = 0xfffd;	/* not reached for loaded values */
	return 1;
}

/*
 * Characters YAML lets a double-quoted scalar hold as they are: printable
 * ones that libyaml neither folds (U+0085, U+2028, U+2029) nor skips
 * (U+FEFF).
 */
static int
plain_ok(unsigned long cp)
{
	if (cp >= 0x20 && cp <= 0x7e)
		return cp != '"' && cp != '\\';
	if (cp == 0x2028 || cp == 0x2029 || cp == 0xfeff)
		return 0;
	return (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 &&
	    cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

static void
put_str(FILE *fp, const char *str)
{
	const unsigned char	*s = (const unsigned char *)str;
	unsigned long		 cp;
	size_t			 n;

	fputc('"', fp);
	while (*s) {
		n = utf8_next(s, &cp);
		if (plain_ok(cp))
			fwrite(s, 1, n, fp);
		else if (cp == '"' || cp == '\\')
			fprintf(fp, "\\%c", (int)cp);
		else if (cp == '\n')
			fputs("\\n", fp);
		else if (cp == '\t')
			fputs("\\t", fp);
		else if (cp < 0x100)
			fprintf(fp, "\\x%02lx", cp);
		else if (cp < 0x10000)
			fprintf(fp, "\\u%04lx", cp);
		else
			fprintf(fp, "\\U%08lx", cp);
		s += n;
	}
	fputc('"', fp);
}

/* A comment line must not be ended early by what it quotes. */
static void
put_comment_text(FILE *fp, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, fp);
}

static void
put_memory(FILE *fp, unsigned long long v)
{
	static const char units[] = "tgmk";
	int i;

	for (i = 0; units[i] != '\0'; i++) {
		unsigned long long mul = 1ull << (10 * (4 - i));
		if (v % mul == 0) {
			fprintf(fp, "%llu%c", v / mul, units[i]);
			return;
		}
	}
	fprintf(fp, "%llu", v);
}

static void
put_cpus(FILE *fp, double cpus)
{
	unsigned long long	n = (unsigned long long)(cpus * 1e9 + 0.5);
	unsigned long long	frac = n % 1000000000ull;
	int			digits = 9;

	if (frac == 0) {
		fprintf(fp, "%llu", n / 1000000000ull);
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	fprintf(fp, "%llu.%0*llu", n / 1000000000ull, digits, frac);
}

static void
put_list(FILE *fp, const char *key, const char *indent, char *const *v,
    size_t n)
{
	size_t i;

	if (n == 0) {
		fprintf(fp, "%s%s: []\n", indent, key);
		return;
	}
	fprintf(fp, "%s%s:\n", indent, key);
	for (i = 0; i < n; i++) {
		fprintf(fp, "%s  - ", indent);
		put_str(fp, v[i]);
		fputc('\n', fp);
	}
}

void
config_print(const struct config *cfg, FILE *fp)
{
	size_t i;

	if (cfg->found && cfg->path != NULL) {
		fputs("# moat: effective configuration from ", fp);
		put_comment_text(fp, cfg->path);
	} else {
		fputs("# moat: no agent.yaml in ", fp);
		put_comment_text(fp, cfg->project_dir ? cfg->project_dir :
		    "the project");
		fputs("; these are the defaults", fp);
	}
	fputs("\nname: ", fp);
	put_str(fp, cfg->name ? cfg->name : "agent");
	fputs("\nimage: ", fp);
	put_str(fp, cfg->image ? cfg->image : CONFIG_DEFAULT_IMAGE);
	fputc('\n', fp);
	if (cfg->command.n == 0)
		fputs("# command: not set; the image's default command runs\n",
		    fp);
	else
		put_list(fp, "command", "", cfg->command.v, cfg->command.n);

	if (cfg->nenv == 0)
		fputs("env: {}\n", fp);
	else
		fputs("env:\n", fp);
	for (i = 0; i < cfg->nenv; i++) {
		/* keys are [A-Za-z_][A-Za-z0-9_]*: safe unquoted */
		fprintf(fp, "  %s: ", cfg->env[i].key);
		put_str(fp, cfg->env[i].value);
		fputc('\n', fp);
	}

	if (cfg->nmounts == 0)
		fputs("mounts: []\n", fp);
	else
		fputs("mounts:\n", fp);
	for (i = 0; i < cfg->nmounts; i++) {
		char *m = xasprintf("%s:%s:%s", cfg->mounts[i].src,
		    cfg->mounts[i].dst, cfg->mounts[i].readonly ? "ro" : "rw");
		fputs("  - ", fp);
		put_str(fp, m);
		fputc('\n', fp);
		free(m);
	}
	put_list(fp, "grants", "", cfg->grants.v, cfg->grants.n);

	fprintf(fp, "network:\n  policy: %s\n",
	    config_policy_name(cfg->policy));
	if (cfg->nallow == 0)
		fputs("  allow: []\n", fp);
	else
		fputs("  allow:\n", fp);
	for (i = 0; i < cfg->nallow; i++) {
		fputs("    - ", fp);
		put_str(fp, cfg->allow[i].text);
		fputc('\n', fp);
	}
	fputs("  host: [", fp);
	for (i = 0; i < cfg->nhost_ports; i++)
		fprintf(fp, "%s%d", i ? ", " : "", cfg->host_ports[i]);
	fputs("]\n", fp);

	if (cfg->memory == 0 && cfg->cpus <= 0)
		fputs("resources: {}\n", fp);
	else
		fputs("resources:\n", fp);
	if (cfg->memory != 0) {
		fputs("  memory: ", fp);
		put_memory(fp, cfg->memory);
		fputc('\n', fp);
	} else
		fputs("  # memory: not set; no limit\n", fp);
	if (cfg->cpus > 0) {
		fputs("  cpus: ", fp);
		put_cpus(fp, cfg->cpus);
		fputc('\n', fp);
	} else
		fputs("  # cpus: not set; no limit\n", fp);

	fprintf(fp, "sandbox: %s\nruntime: %s\ninteractive: %s\n",
	    cfg->sandbox ? "true" : "false",
	    config_runtime_name(cfg->runtime),
	    cfg->interactive ? "true" : "false");
}
