/*
 * The resident-set floor of any TLS-intercepting proxy built on the
 * system's OpenSSL 3: a process that only initialises libssl, makes a
 * server context with a P-256 key (to present leaves) and a client
 * context with the system roots (to verify upstreams), and an event
 * base.  bench/run.sh prints its VmRSS next to moat's idle RSS (S6), so
 * that the 4 MiB goal can be judged against what the library itself
 * costs in the same run.  Output: one JSON line for results.jsonl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

static long
status_kib(const char *key)
{
	char	 line[256];
	size_t	 kl = strlen(key);
	long	 v = -1;
	FILE	*f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

int
main(void)
{
	struct event_base	*base;
	SSL_CTX			*srv, *cli;
	EVP_PKEY		*key;

	if (OPENSSL_init_ssl(0, NULL) != 1 ||
	    (base = event_base_new()) == NULL ||
	    (srv = SSL_CTX_new(TLS_server_method())) == NULL ||
	    (cli = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (key = EVP_EC_gen("P-256")) == NULL ||
	    SSL_CTX_set_default_verify_paths(cli) != 1) {
		fprintf(stderr, "rss_floor: OpenSSL/libevent set-up failed\n");
		return 1;
	}
	printf("{\"scenario\":\"rss_floor\",\"vmrss_kib\":%ld,"
	    "\"anon_kib\":%ld,\"file_kib\":%ld}\n", status_kib("VmRSS"),
	    status_kib("RssAnon"), status_kib("RssFile"));
	EVP_PKEY_free(key);
	SSL_CTX_free(cli);
	SSL_CTX_free(srv);
	event_base_free(base);
	return 0;
}
