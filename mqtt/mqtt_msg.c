/* SPDX-License-Identifier: Apache-2.0
 * The broker's allocation wrapper and its refcounted message object.
 */
#include <stdlib.h>

#include "mqtt/mqtt_codec.h"
#include "mqtt/mqtt_pvt.h"

/* Memory: the one place where the broker's allocations meet the host's allocator (a per-lcore
 * jemalloc arena in tachyond: dataplane/dp_lcore.c), chosen per thread. */

static __thread const struct mqtt_allocator *mqtt_thread_alloc;

void
mqtt_set_thread_allocator(const struct mqtt_allocator *a)
{
	mqtt_thread_alloc = a;
}

void *
mqtt_alloc(size_t size)
{
	const struct mqtt_allocator *a = mqtt_thread_alloc;

	return a ? a->alloc(a->ctx, size, 0) : malloc(size);
}

void *
mqtt_zalloc(size_t size)
{
	const struct mqtt_allocator *a = mqtt_thread_alloc;

	return a ? a->alloc(a->ctx, size, 1) : calloc(1, size);
}

void *
mqtt_realloc(void *p, size_t size)
{
	const struct mqtt_allocator *a = mqtt_thread_alloc;

	return a ? a->realloc(a->ctx, p, size) : realloc(p, size);
}

void
mqtt_free(void *p)
{
	const struct mqtt_allocator *a = mqtt_thread_alloc;

	if (a)
		a->free(a->ctx, p);
	else
		free(p);
}

/* Messages: stored once, shared by every delivery. */

static void
props_rebase(struct mqtt_props *p, const uint8_t *old, uint8_t *new)
{
	struct mqtt_str *v[] = {&p->content_type, &p->response_topic, &p->correlation_data,
	                        &p->raw};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (v[i]->len)
			v[i]->p = new + (v[i]->p - old);
	/* Only forwardable properties survive; the rest point into a buffer we do not keep. */
	p->present &= MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT_INDICATOR) |
	              MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL) |
	              MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |
	              MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) |
	              MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA);
	p->sub_id_count = 0;
	p->sub_id_array = NULL;
	p->user_array = NULL;
}

/* One allocation: header, properties, property bytes, topic, payload. */
struct mqtt_msg *
mqtt_msg_clone(const struct mqtt_msg *v)
{
	size_t plen = v->props ? sizeof(struct mqtt_props) + v->props->raw.len : 0;
	struct mqtt_msg *m = mqtt_alloc(sizeof(*m) + plen + v->topic_len + v->payload_len);
	uint8_t *d;

	if (!m)
		return NULL;
	*m = *v;
	m->refcnt = 1;
	m->flags = 0; /* a clone of a proxy owns its bytes */
	d = m->data;
	if (v->props) {
		struct mqtt_props *p = (struct mqtt_props *)(void *)d;
		uint8_t *raw = d + sizeof(*p);
		*p = *v->props;
		if (v->props->raw.len)
			memcpy(raw, v->props->raw.p, v->props->raw.len);
		props_rebase(p, v->props->raw.p, raw);
		m->props = p;
		d = raw + v->props->raw.len;
	}
	if (v->topic_len)
		memcpy(d, v->topic, v->topic_len);
	m->topic = d;
	d += v->topic_len;
	if (v->payload_len)
		memcpy(d, v->payload, v->payload_len);
	m->payload = d;
	return m;
}

struct mqtt_msg *
mqtt_msg_new(const uint8_t *topic, size_t tlen, const uint8_t *payload, size_t plen)
{
	struct mqtt_msg v = {
	        .topic = topic,
	        .topic_len = (uint16_t)tlen,
	        .payload = payload,
	        .payload_len = (uint32_t)plen,
	        .expire_us = UINT64_MAX,
	};
	return mqtt_msg_clone(&v);
}

struct mqtt_msg *
mqtt_msg_proxy_new(const struct mqtt_msg *v, struct mqtt_msg *origin,
                   void (*ret)(void *ctx, unsigned int to, struct mqtt_msg *m), void *ctx,
                   unsigned int from)
{
	struct mqtt_msg *m = mqtt_alloc(sizeof(*m) + sizeof(struct mqtt_msg_proxy));

	if (!m)
		return NULL;
	*m = *v;
	m->refcnt = 1;
	m->flags = MQTT_MSG_PROXY;
	*mqtt_msg_proxy(m) = (struct mqtt_msg_proxy){origin, ret, ctx, from};
	return m;
}

void
mqtt_msg_put(struct mqtt_msg *m)
{
	if (!m || --m->refcnt != 0)
		return;
	if (m->flags & MQTT_MSG_PROXY) {
		/* the last delivery of the owner's bytes here is over: its reference goes home */
		struct mqtt_msg_proxy *p = mqtt_msg_proxy(m);

		p->ret(p->ctx, p->from, p->origin);
	}
	mqtt_free(m);
}
