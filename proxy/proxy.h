/*
 * proxy: the evented HTTP(S) forward proxy.  Listener, per-run token,
 * CONNECT, TLS interception, llhttp parsing, hop-by-hop handling, network
 * policy, credential injection, verified upstream TLS, streaming relay with
 * backpressure, request log.  Knows nothing of containers.
 */
#ifndef MOAT_PROXY_H
#define MOAT_PROXY_H

#include <stddef.h>

#include "util.h"

struct event_base;
struct certs_ca;
struct proxy;

#define PROXY_TOKEN_LEN		32	/* raw bytes; 64 hex characters */

/* How a credential's value is written into its header. */
enum proxy_cred_format {
	PROXY_CRED_PREFIX = 0,	/* header: <prefix><secret> */
	PROXY_CRED_BASIC,	/* header: Basic base64(<user>:<secret>) */
};

/*
 * A credential handed to the proxy: a secret and its binding.  The proxy
 * copies everything it is given in proxy_new() (the secret into
 * sodium_malloc memory); the caller wipes its own copy afterwards.
 */
struct proxy_credential {
	const char		 *name;
	const struct hostpat	 *hosts;
	size_t			  nhosts;
	const char		 *header;	/* e.g. "Authorization" */
	enum proxy_cred_format	  format;
	const char		 *prefix_or_user; /* "Bearer ", or Basic user */
	const unsigned char	 *secret;
	size_t			  secret_len;
};

/* --resolve HOST:PORT:ADDR, curl-style; also an explicit allow. */
struct proxy_resolve {
	char	host[HOST_MAX + 1];	/* normalised */
	int	port;
	char	addr[64];		/* numeric IPv4/IPv6 */
};

struct proxy_limits {
	size_t	header_bytes;		/* 64 KiB */
	size_t	header_count;		/* 100 */
	size_t	uri_bytes;		/* 8 KiB */
	int	header_timeout_ms;	/* 30 s */
	int	idle_timeout_ms;	/* keep-alive idle: 60 s */
	int	connect_timeout_ms;	/* 10 s (includes DNS) */
	int	upstream_timeout_ms;	/* waiting for a response head: 60 s */
	int	tunnel_idle_timeout_ms;	/* idle CONNECT tunnel: 10 min */
	int	max_connections;	/* 4096 */
	int	grace_ms;		/* graceful stop: 3 s */
};

struct proxy_opts {
	const char			*listen_addr;	/* numeric */
	int				 listen_port;	/* 0: ephemeral */
	int				 listen_freebind; /* IP_FREEBIND:
					 * the address may not exist yet
					 * (Podman's bridge gets its gateway
					 * address when a container joins) */
	unsigned char			 token[PROXY_TOKEN_LEN];
	const char			*run_id;	/* for the log */
	int				 strict;	/* network.policy */
	const struct hostpat		*allow;		/* network.allow */
	const char * const		*allow_text;	/* as written */
	const int			*allow_line;	/* agent.yaml lines */
	size_t				 nallow;
	const int			*host_ports;	/* network.host */
	size_t				 nhost_ports;
	const struct proxy_resolve	*resolve;
	size_t				 nresolve;
	const struct proxy_credential	*creds;
	size_t				 ncreds;
	const char			*upstream_ca;	/* extra roots file */
	struct certs_ca			*ca;		/* borrowed; NULL: no
							   interception */
	const char			*log_path;	/* network.jsonl */
	const char			*config_path;	/* for 403 hints */
	struct proxy_limits		 limits;
};

/* Fills limits with the defaults above. */
void		 proxy_limits_default(struct proxy_limits *l);

/*
 * Creates the proxy on base and starts listening.  Copies everything in
 * opts.  Returns NULL with err filled ("cannot listen on 10.0.0.1:0:
 * Address not available").
 */
struct proxy	*proxy_new(struct event_base *base,
		    const struct proxy_opts *opts, char *err, size_t errlen);

/* The bound port and address (after port 0). */
int		 proxy_port(const struct proxy *p);
const char	*proxy_addr(const struct proxy *p);

/*
 * Graceful stop: stop accepting, let in-flight requests finish for up to
 * limits.grace_ms, then close everything.  done(arg) is called from the
 * loop once nothing is left.
 */
void		 proxy_shutdown(struct proxy *p, void (*done)(void *),
		    void *arg);

/* Closes everything now and wipes secrets.  NULL-safe. */
void		 proxy_free(struct proxy *p);

/* Writes the token as 64 lowercase hex characters plus NUL into out[65]. */
void		 proxy_token_hex(const unsigned char *tok, char *out);

#endif /* MOAT_PROXY_H */
