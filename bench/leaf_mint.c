/*
 * Leaf minting cost: mean microseconds per certificate for a host the
 * cache has not seen (one signature with the shared leaf key), per cache
 * hit, and per certs_ssl_use_leaf() on a fresh SSL (what each intercepted
 * connection pays).  Means of wall-clock and of process CPU time (the
 * steadier figure on a shared machine).  Not a test; goal < 1 ms per new
 * host.
 *
 *	bench_leaf_mint [N]	(default 5000 new hosts)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "certs.h"

static double
us(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Starts a measurement. */
static void
start(double t[2])
{
	t[0] = us(CLOCK_MONOTONIC);
	t[1] = us(CLOCK_PROCESS_CPUTIME_ID);
}

/* Mean wall and CPU microseconds per operation since start(). */
static void
stop(const double t[2], long n, double r[2])
{
	r[0] = (us(CLOCK_MONOTONIC) - t[0]) / (double)n;
	r[1] = (us(CLOCK_PROCESS_CPUTIME_ID) - t[1]) / (double)n;
}

int
main(int argc, char **argv)
{
	struct certs_ca	*ca;
	char		 err[256], host[64];
	double		 t[2], mint[2], hit[2], use[2];
	SSL_CTX		*ctx;
	SSL		*ssl;
	long		 i, n = argc > 1 ? strtol(argv[1], NULL, 10) : 5000;

	if (n < 1 || n > 10000000) {
		fprintf(stderr, "usage: bench_leaf_mint [N: 1..10000000]\n");
		return 2;
	}
	if ((ca = certs_ca_new_ephemeral(err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_leaf_mint: %s\n", err);
		return 1;
	}
	certs_set_cache_size(ca, (size_t)n);
	start(t);
	for (i = 0; i < n; i++) {
		snprintf(host, sizeof(host), "host%ld.bench.example", i);
		if (certs_leaf_cert(ca, host, err, sizeof(err)) == NULL) {
			fprintf(stderr, "bench_leaf_mint: %s\n", err);
			return 1;
		}
	}
	stop(t, n, mint);
	start(t);
	for (i = 0; i < n; i++) {
		snprintf(host, sizeof(host), "host%ld.bench.example", i);
		certs_leaf_cert(ca, host, err, sizeof(err));
	}
	stop(t, n, hit);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return 1;
	start(t);
	for (i = 0; i < n; i++) {
		snprintf(host, sizeof(host), "host%ld.bench.example", i);
		if ((ssl = SSL_new(ctx)) == NULL ||
		    certs_ssl_use_leaf(ca, ssl, host, err, sizeof(err)) == -1) {
			fprintf(stderr, "bench_leaf_mint: %s\n", err);
			return 1;
		}
		SSL_free(ssl);
	}
	stop(t, n, use);
	SSL_CTX_free(ctx);
	printf("per new host (mint):       %8.1f us wall, %8.1f us CPU "
	    "(%ld hosts)\n", mint[0], mint[1], n);
	printf("per cache hit:             %8.2f us wall, %8.2f us CPU\n",
	    hit[0], hit[1]);
	printf("per SSL_new + use_leaf:    %8.1f us wall, %8.1f us CPU\n",
	    use[0], use[1]);
	printf("goal < 1000 us per new host: %s\n",
	    mint[0] < 1000.0 ? "met" : "NOT met");
	certs_ca_free(ca);
	return 0;
}
