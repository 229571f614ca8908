/*
 * moat_bench_origin: the benchmark's origin server (libevent evhttp +
 * OpenSSL), for the smoke mode and for machines without nginx.
 *
 *   /tiny  13-byte body "hello, moat!\n"
 *   /1m    1 MiB body
 *   /auth  the SHA-256 (hex) of the Authorization header it received, or
 *          "none": proves injection without ever echoing a secret
 *
 * usage: moat_bench_origin [--http ADDR:PORT] [--https ADDR:PORT]...
 *            [--cert CHAIN.pem --key KEY.pem]
 * Prints "READY http=<port> https=<port>[,<port>...]" once listening
 * (port 0 picks one), then serves until SIGTERM/SIGINT.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define TINY_BODY	"hello, moat!\n"
#define BIG_LEN		(1024 * 1024)

static char big_body[BIG_LEN];

static void
send_text(struct evhttp_request *req, int code, const char *reason,
    const char *body)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain");
	evbuffer_add_reference(out, body, strlen(body), NULL, NULL);
	evhttp_send_reply(req, code, reason, NULL);
}

static void
handle(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_request_get_uri(req);
	struct evbuffer *out;

	(void)arg;
	if (strcmp(path, "/tiny") == 0) {
		send_text(req, 200, "OK", TINY_BODY);
	} else if (strcmp(path, "/1m") == 0) {
		out = evhttp_request_get_output_buffer(req);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "application/octet-stream");
		evbuffer_add_reference(out, big_body, BIG_LEN, NULL, NULL);
		evhttp_send_reply(req, 200, "OK", NULL);
	} else if (strcmp(path, "/auth") == 0) {
		const char *a = evhttp_find_header(
		    evhttp_request_get_input_headers(req), "Authorization");
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0, i;
		char hex[2 * EVP_MAX_MD_SIZE + 2];

		if (a == NULL) {
			send_text(req, 200, "OK", "none\n");
			return;
		}
		EVP_Digest(a, strlen(a), md, &mdlen, EVP_sha256(), NULL);
		for (i = 0; i < mdlen; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		hex[2 * mdlen] = '\n';
		hex[2 * mdlen + 1] = '\0';
		out = evhttp_request_get_output_buffer(req);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "text/plain");
		evbuffer_add(out, hex, strlen(hex));
		evhttp_send_reply(req, 200, "OK", NULL);
	} else
		send_text(req, 404, "Not Found", "not found\n");
}

static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/* Binds "ADDR:PORT"; returns the bound port or -1. */
static int
bind_http(struct evhttp *http, const char *spec)
{
	struct evhttp_bound_socket *h;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char addr[64];
	const char *colon = strrchr(spec, ':');
	size_t n;
	int one = 1;

	if (colon == NULL || (n = (size_t)(colon - spec)) >= sizeof(addr)) {
		fprintf(stderr, "origin: bad address %s\n", spec);
		return -1;
	}
	memcpy(addr, spec, n);
	addr[n] = '\0';
	if ((h = evhttp_bind_socket_with_handle(http, addr,
	    (unsigned short)atoi(colon + 1))) == NULL) {
		fprintf(stderr, "origin: cannot listen on %s\n", spec);
		return -1;
	}
	/* Accepted sockets inherit it: responses are not held by Nagle. */
	setsockopt(evhttp_bound_socket_get_fd(h), IPPROTO_TCP, TCP_NODELAY,
	    &one, sizeof(one));
	if (getsockname(evhttp_bound_socket_get_fd(h),
	    (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static struct evhttp *
new_http(struct event_base *base)
{
	struct evhttp *http = evhttp_new(base);

	if (http == NULL)
		return NULL;
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(http, handle, NULL);
	evhttp_set_timeout(http, 60);
	return http;
}

int
main(int argc, char **argv)
{
	const char *http_spec = NULL, *https_spec[4];
	const char *cert = NULL, *key = NULL;
	struct event_base *base;
	struct evhttp *http = NULL, *https = NULL;
	struct event *ev_int, *ev_term;
	SSL_CTX *ctx = NULL;
	int i, j, nhttps = 0, http_port = 0, https_port[4];

	for (i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "--http") == 0)
			http_spec = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--https") == 0 &&
		    nhttps < 4)
			https_spec[nhttps++] = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--cert") == 0)
			cert = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--key") == 0)
			key = argv[++i];
		else {
			fprintf(stderr, "usage: moat_bench_origin [--http "
			    "ADDR:PORT] [--https ADDR:PORT --cert FILE "
			    "--key FILE]\n");
			return 2;
		}
	}
	if (http_spec == NULL && nhttps == 0)
		http_spec = "127.0.0.1:0";
	if (nhttps > 0 && (cert == NULL || key == NULL)) {
		fprintf(stderr, "origin: --https needs --cert and --key\n");
		return 2;
	}
	memset(big_body, 'm', sizeof(big_body));
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		return 1;
	if (http_spec != NULL) {
		if ((http = new_http(base)) == NULL ||
		    (http_port = bind_http(http, http_spec)) < 0)
			return 1;
	}
	if (nhttps > 0) {
		if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
			return 1;
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
		if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key,
		    SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "origin: cannot load %s / %s\n", cert,
			    key);
			ERR_print_errors_fp(stderr);
			return 1;
		}
		if ((https = new_http(base)) == NULL)
			return 1;
		evhttp_set_bevcb(https, tls_bev, ctx);
		for (j = 0; j < nhttps; j++)
			if ((https_port[j] = bind_http(https,
			    https_spec[j])) < 0)
				return 1;
	}
	ev_int = evsignal_new(base, SIGINT, on_signal, base);
	ev_term = evsignal_new(base, SIGTERM, on_signal, base);
	evsignal_add(ev_int, NULL);
	evsignal_add(ev_term, NULL);
	printf("READY http=%d https=", http_port);
	for (j = 0; j < nhttps; j++)
		printf("%s%d", j ? "," : "", https_port[j]);
	printf("\n");
	fflush(stdout);
	event_base_dispatch(base);
	if (http != NULL)
		evhttp_free(http);
	if (https != NULL)
		evhttp_free(https);
	SSL_CTX_free(ctx);
	event_free(ev_int);
	event_free(ev_term);
	event_base_free(base);
	return 0;
}
