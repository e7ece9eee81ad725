/*
 * acks.c - the signed statement of a deletion request's acknowledgements
 * (acks.h).
 */
#include <jansson.h>

#include <vault/vault.h>
#include "acks.h"
#include "feed.h"
#include "privacy.h"

struct acks {
	uint64_t request;
	json_t *list;
	json_int_t pending;
};

static int
add_ack(const struct feed_notice *n, void *arg)
{
	struct acks *a = arg;
	if (n->request != a->request)
		return 0;
	json_t *o = json_pack("{s:s, s:I, s:I, s:o}", "client", n->client,
	    "notice", (json_int_t)n->id, "notified_at", (json_int_t)n->time,
	    "acked_at", n->acked ? json_integer((json_int_t)n->acked) : json_null());
	if (n->acked == 0)
		a->pending++;
	return o == NULL || json_array_append_new(a->list, o) != 0 ? VAULT_E_NOMEM : 0;
}

int
acks_document(struct store_txn *txn, uint64_t request, uint64_t now, struct buf *out)
{
	struct acks a = { request, json_array(), 0 };
	json_t *o = json_object();
	int rc = VAULT_E_NOMEM;

	if (a.list == NULL || o == NULL)
		goto out;
	if ((rc = feed_scan(txn, NULL, 0, add_ack, &a)) != 0)
		goto out;
	rc = VAULT_E_NOMEM;
	if (json_object_set(o, "acknowledgements", a.list) ||
	    json_object_set_new(o, "generated_at", json_integer((json_int_t)now)) ||
	    json_object_set_new(o, "pending", json_integer(a.pending)) ||
	    json_object_set_new(o, "request", json_integer((json_int_t)request)) ||
	    json_object_set_new(o, "type", json_string("deletion-acknowledgements")) ||
	    json_object_set_new(o, "version", json_integer(1)))
		goto out;
	rc = privacy_json_dump(o, out);
out:
	json_decref(a.list);
	json_decref(o);
	return rc;
}
