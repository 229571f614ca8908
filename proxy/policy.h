/*
 * proxy/policy: the network policy, internal to the proxy module.
 *
 * Two steps per destination, so that DNS rebinding cannot get around it:
 *  1. policy_check_name() before any DNS lookup (strict allow list);
 *  2. policy_check_addr() for every address the lookup returned; the proxy
 *     then connects to an address that passed, never looking up again.
 */
#ifndef MOAT_PROXY_POLICY_H
#define MOAT_PROXY_POLICY_H

#include <sys/socket.h>

#include "proxy.h"

struct policy;

/* IP classes refused unless explicitly allowed. */
enum policy_ipclass {
	IPCLASS_PUBLIC = 0,
	IPCLASS_LOOPBACK,	/* 127/8, ::1 */
	IPCLASS_LINKLOCAL,	/* 169.254/16 (cloud metadata), fe80::/10 */
	IPCLASS_PRIVATE,	/* RFC 1918, fc00::/7 ULA */
	IPCLASS_CGNAT,		/* 100.64/10 */
	IPCLASS_UNSPECIFIED,	/* 0/8, ::, */
	IPCLASS_MULTICAST,	/* 224/4, ff00::/8, 240/4 reserved, bcast */
	IPCLASS_HOST,		/* one of this host's own addresses (the
				 * policy_new() snapshot, and any address
				 * the kernel calls local at check time) */
};

/*
 * Builds the policy from opts (strict, allow list, network.host ports,
 * --resolve entries, credentials' hosts which are allowed in strict mode).
 * The host's own addresses (getifaddrs) and the listener's address are
 * captured here.  Copies what it needs.  NULL with err on failure.
 */
struct policy	*policy_new(const struct proxy_opts *opts, char *err,
		    size_t errlen);
void		 policy_free(struct policy *pol);	/* NULL-safe */

/*
 * Adds one more of this host's addresses (e.g. the gateway of a network
 * created after policy_new).  Refused like the getifaddrs ones.
 */
void		 policy_add_host_addr(struct policy *pol,
		    const struct sockaddr *sa);

/* Tell the policy the listener's bound address (refused as destination). */
void		 policy_set_listener(struct policy *pol,
		    const struct sockaddr *sa, socklen_t len);

/*
 * Step 1, before DNS.  host is normalised (host_normalize), port 1..65535.
 * Returns 1 allow, 0 deny.  On deny, reason gets a short machine-ish reason
 * for X-Moat-Blocked (e.g. "not in network.allow") and hint a sentence for
 * the 403 body saying which agent.yaml line would allow it (e.g.
 * "add \"api.example.com\" under network.allow in agent.yaml (line 7)").
 */
int		 policy_check_name(const struct policy *pol, const char *host,
		    int port, char *reason, size_t rlen, char *hint,
		    size_t hlen);

/*
 * If host:port has a --resolve entry, writes its address into sa/len and
 * returns 1 (no DNS lookup needed); else 0.
 */
int		 policy_resolve_override(const struct policy *pol,
		    const char *host, int port, struct sockaddr_storage *sa,
		    socklen_t *len);

/*
 * Step 2, for each resolved address.  Refuses loopback, link-local,
 * private, CGNAT, ULA, unspecified, multicast/reserved, IPv4-mapped and
 * IPv4-embedded (NAT64 64:ff9b::/96, 6to4 2002::/16) forms of those, and
 * the host's own addresses including the listener — unless explicitly
 * allowed: a network.host port (for the host's own/loopback addresses), an
 * allow-list entry naming that host or that address, or a --resolve entry.
 * Returns 1 allow, 0 deny, with reason/hint as above.
 */
int		 policy_check_addr(const struct policy *pol, const char *host,
		    int port, const struct sockaddr *sa, char *reason,
		    size_t rlen, char *hint, size_t hlen);

/* Classifies an address (IPv4-mapped/embedded forms are unwrapped). */
enum policy_ipclass policy_classify(const struct policy *pol,
		    const struct sockaddr *sa);
const char	*policy_ipclass_name(enum policy_ipclass c);

#endif /* MOAT_PROXY_POLICY_H */
