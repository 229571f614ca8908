/* The built-in providers: where each secret goes and what the box sees. */
#include <string.h>

#include "creds.h"

static const struct creds_provider providers[] = {
	{ "github", "GitHub (API and git over HTTPS)",
	  { { { "api.github.com", NULL }, "Authorization", 0, "Bearer " },
	    { { "github.com", NULL }, "Authorization", 1,
	      "x-access-token" } }, 2,
	  { "GH_TOKEN", "GITHUB_TOKEN", NULL }, "moat-placeholder-github" },
	{ "anthropic", "Anthropic API",
	  { { { "api.anthropic.com", NULL }, "x-api-key", 0, "" } }, 1,
	  { "ANTHROPIC_API_KEY", NULL }, "sk-ant-moat-placeholder" },
	{ "openai", "OpenAI API",
	  { { { "api.openai.com", NULL }, "Authorization", 0, "Bearer " } }, 1,
	  { "OPENAI_API_KEY", NULL }, "sk-moat-placeholder" },
	{ "gemini", "Google Gemini API",
	  { { { "generativelanguage.googleapis.com", NULL }, "x-goog-api-key",
	      0, "" } }, 1,
	  { "GEMINI_API_KEY", NULL }, "moat-placeholder-gemini" },
	{ "npm", "npm registry",
	  { { { "registry.npmjs.org", NULL }, "Authorization", 0,
	      "Bearer " } }, 1,
	  { "NPM_TOKEN", NULL }, "moat-placeholder-npm" },
};
#define NPROVIDERS (sizeof(providers) / sizeof(providers[0]))

const struct creds_provider *
creds_provider_find(const char *name)
{
	size_t i;

	for (i = 0; i < NPROVIDERS; i++)
		if (strcmp(providers[i].name, name) == 0)
			return &providers[i];
	return NULL;
}

const struct creds_provider *
creds_provider_at(size_t i)
{
	return i < NPROVIDERS ? &providers[i] : NULL;
}

void
creds_placeholder_env(const char *const *names, size_t n, struct strvec *env)
{
	const struct creds_provider	*p;
	size_t				 i, j;

	for (i = 0; i < n; i++) {
		if ((p = creds_provider_find(names[i])) == NULL)
			continue;
		for (j = 0; p->env[j] != NULL; j++)
			if (strvec_getenv(env, p->env[j]) == NULL)
				strvec_pushf(env, "%s=%s", p->env[j],
				    p->placeholder);
	}
}

int
creds_record_add_provider(struct creds_record *r,
    const struct creds_provider *p, char *err, size_t errlen)
{
	const struct creds_provider_binding	*b;
	size_t					 i, nh;

	for (i = 0; i < p->nbindings; i++) {
		b = &p->bindings[i];
		for (nh = 0; b->hosts[nh] != NULL; nh++)
			;
		if (creds_record_add_binding(r, b->hosts, nh, b->header,
		    b->basic, b->prefix_or_user, err, errlen) == -1)
			return -1;
	}
	return 0;
}
