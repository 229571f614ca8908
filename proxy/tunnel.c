/*
 * proxy/tunnel: raw relay both ways, for CONNECT tunnels that are not
 * intercepted and for upgraded connections after 101.  Backpressure by
 * watermarks (le-proxy style); half-close: when one side ends, flush its
 * bytes to the other, then shut down the other's write side (plain TCP)
 * or close (TLS, which has no half-close here).
 */
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proxy_int.h"

static void	t_read(struct bufferevent *, void *);
static void	t_write(struct bufferevent *, void *);
static void	t_event(struct bufferevent *, short, void *);

static struct bufferevent *
other(struct conn *c, struct bufferevent *bev)
{
	return bev == c->cbev ? c->ubev : c->cbev;
}

static int *
eof_flag(struct conn *c, struct bufferevent *bev)
{
	return bev == c->cbev ? &c->raw_ceof : &c->raw_ueof;
}

static int
is_tls(struct conn *c)
{
	return c->intercepted || c->dest.tls;
}

/* Moves everything from's input holds to to's output. */
static void
relay(struct conn *c, struct bufferevent *from, struct bufferevent *to)
{
	struct evbuffer	*in = bufferevent_get_input(from);
	struct evbuffer	*out = bufferevent_get_output(to);
	size_t		 n = evbuffer_get_length(in);

	if (n == 0)
		return;
	evbuffer_add_buffer(out, in);
	if (from == c->cbev) {
		c->log.up += n;
		c->tot_up += n;
	} else {
		c->log.down += n;
		c->tot_down += n;
	}
	c->raw_activity++;
	if (evbuffer_get_length(out) >= PROXY_HIGH_WATER)
		bufferevent_disable(from, EV_READ);
}

/* Both sides ended and everything is delivered: done. */
static int
maybe_finish(struct conn *c)
{
	if (c->raw_ceof && c->raw_ueof &&
	    evbuffer_get_length(bufferevent_get_output(c->cbev)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->ubev)) == 0) {
		conn_close(c, "tunnel closed");
		return -1;
	}
	return 0;
}

/* to's peer ended: once to's output is flushed, end to's write side. */
static int
propagate_eof(struct conn *c, struct bufferevent *to)
{
	int fd;

	if (evbuffer_get_length(bufferevent_get_output(to)) > 0) {
		bufferevent_setwatermark(to, EV_WRITE, 0, 0);
		return 0;
	}
	if (is_tls(c)) {
		conn_close(c, "tunnel closed");
		return -1;
	}
	if ((fd = bufferevent_getfd(to)) != -1)
		(void)shutdown(fd, SHUT_WR);
	return maybe_finish(c);
}

static void
t_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	relay(c, bev, other(c, bev));
}

static void
t_write(struct bufferevent *bev, void *arg)
{
	struct conn		*c = arg;
	struct bufferevent	*from = other(c, bev);

	if (!*eof_flag(c, from)) {
		bufferevent_enable(from, EV_READ);
		relay(c, from, bev);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		(void)propagate_eof(c, bev);
}

static void
t_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn		*c = arg;
	struct bufferevent	*to = other(c, bev);

	if (what & BEV_EVENT_TIMEOUT) {
		if (c->raw_activity != c->raw_seen) {
			/* the other direction is busy: not idle */
			c->raw_seen = c->raw_activity;
			bufferevent_enable(bev, (what & BEV_EVENT_READING) ?
			    EV_READ : EV_WRITE);
			return;
		}
		conn_close(c, "tunnel idle timeout");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		conn_close(c, bev == c->cbev ? "client connection error" :
		    "upstream connection error");
		return;
	}
	if (what & BEV_EVENT_EOF) {
		relay(c, bev, to);
		*eof_flag(c, bev) = 1;
		(void)propagate_eof(c, to);
	}
}

int
tunnel_start(struct conn *c)
{
	struct timeval tv;

	c->mode = MODE_RAW;
	conn_set_timer(c, 0);
	if (c->peek_ev != NULL) {
		event_free(c->peek_ev);
		c->peek_ev = NULL;
	}
	free(c->req.hdrs);
	free(c->resp.hdrs);
	free(c->head);
	c->req.hdrs = c->resp.hdrs = NULL;
	c->head = NULL;
	c->headcap = 0;
	if (!c->log.active) {
		/* after 101: the upgraded stream counts in the summary */
		memset(&c->log, 0, sizeof(c->log));
		c->log.logged = 1;
	}
	tv.tv_sec = c->px->lim.tunnel_idle_timeout_ms / 1000;
	tv.tv_usec = (c->px->lim.tunnel_idle_timeout_ms % 1000) * 1000;
	bufferevent_setcb(c->cbev, t_read, t_write, t_event, c);
	bufferevent_setcb(c->ubev, t_read, t_write, t_event, c);
	bufferevent_setwatermark(c->cbev, EV_READ, 0, PROXY_HIGH_WATER);
	bufferevent_setwatermark(c->ubev, EV_READ, 0, PROXY_HIGH_WATER);
	bufferevent_setwatermark(c->cbev, EV_WRITE, PROXY_HIGH_WATER / 2, 0);
	bufferevent_setwatermark(c->ubev, EV_WRITE, PROXY_HIGH_WATER / 2, 0);
	bufferevent_set_timeouts(c->cbev, &tv, &tv);
	bufferevent_set_timeouts(c->ubev, &tv, &tv);
	bufferevent_enable(c->cbev, EV_READ | EV_WRITE);
	bufferevent_enable(c->ubev, EV_READ | EV_WRITE);
	relay(c, c->cbev, c->ubev);
	relay(c, c->ubev, c->cbev);
	if (c->client_eof) {
		c->raw_ceof = 1;
		return propagate_eof(c, c->ubev);
	}
	return 0;
}
