/*
 * keyset_threads.c - the key-set pin registry under threads (keyset.h).
 *
 * A plain program, not a Criterion suite: Criterion cannot run under
 * ThreadSanitizer (its sandbox aborts, Snaipe/Criterion#274), and this is
 * the test `make test-tsan` runs in-process. Under ASan a pin the
 * publisher missed shows as a use after free; under TSan as a race with
 * the free.
 *
 * Readers pin (nested, like a request and its audit entry), read key
 * bytes and check that the set they see never goes back in time; the main
 * thread publishes new sets while itself pinned (its pin must move with
 * the publication, or it would wait on itself forever); short-lived
 * threads pin once and exit, more of them than there are slots, so a slot
 * that were not given back at thread exit would abort the program.
 * Exit status 0 on success, 1 with a message otherwise.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "keys/keyring.h"
#include "vault/keyset.h"
#include "vault/server.h"

#define READERS 4
#define PUBLICATIONS 300

static struct server srv;
static atomic_int stop;
static atomic_int failed;

static void
fail(const char *what)
{
	if (atomic_exchange(&failed, 1) == 0)
		fprintf(stderr, "keyset_threads: %s\n", what);
}

static void *
reader(void *arg)
{
	uint32_t last = 0;
	uint8_t sum = 0;
	(void)arg;
	while (!atomic_load(&stop)) {
		const struct key_set *ks = key_set_acquire(&srv.svc);
		const struct key_set *inner = key_set_acquire(&srv.svc);
		if (ks == NULL || inner != ks)
			fail("a nested pin saw another set");
		else if (!key_set_pinned(ks))
			fail("a pinned set is not reported as pinned");
		else {
			uint32_t v = keyring_current(ks->ring, KEYRING_TOKEN);
			const uint8_t *k = keyring_key(ks->ring, KEYRING_TOKEN, v);
			if (v < last || k == NULL)
				fail("the current set went back in time");
			for (size_t i = 0; k != NULL && i < KEYRING_KEY_BYTES; i++)
				sum ^= k[i];
			last = v;
		}
		key_set_release();
		key_set_release();
		if (key_set_pin_depth() != 0)
			fail("a pin survived its release");
	}
	return (void *)(uintptr_t)sum;
}

static void *
pin_once(void *arg)
{
	(void)arg;
	if (key_set_acquire(&srv.svc) == NULL)
		fail("a short-lived thread found no set");
	key_set_release();
	return NULL;
}

int
main(void)
{
	char dir[] = "/tmp/vault-keyset-XXXXXX", path[64];
	const char *why = NULL;
	struct keyring *ring;
	struct key_set *ks;
	pthread_t readers[READERS];

	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		return 1;
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);
	if (root == NULL)
		return 1;
	randombytes_buf(root, KEYRING_KEY_BYTES);
	snprintf(path, sizeof(path), "%s/keyring", dir);
	if (keyring_create(path, root, &ring, &why) != 0 || key_set_new(ring, &ks) != 0) {
		fprintf(stderr, "keyset_threads: cannot make a key ring: %s\n", why ? why : "");
		return 1;
	}
	unlink(path);
	rmdir(dir);
	key_set_install(&srv.svc, ks);

	for (int i = 0; i < READERS; i++)
		if (pthread_create(&readers[i], NULL, reader, NULL) != 0)
			return 1;
	for (int i = 0; i < PUBLICATIONS && !atomic_load(&failed); i++) {
		struct keyring *next_ring;
		struct key_set *next;
		const struct key_set *mine = key_set_acquire(&srv.svc);
		if (keyring_with_new_key(mine->ring, KEYRING_TOKEN, &next_ring, NULL) != 0 ||
		    key_set_new(next_ring, &next) != 0) {
			fail("cannot make the next set");
			key_set_release();
			break;
		}
		key_set_publish(&srv.svc, next, 0);
		if (!key_set_pinned(next))
			fail("the publisher's pin did not move to the set it published");
		key_set_release();
		/* Threads come and go: slots must be given back. */
		if (i % 10 == 0) {
			pthread_t t[4];
			for (int j = 0; j < 4; j++)
				if (pthread_create(&t[j], NULL, pin_once, NULL) != 0)
					fail("pthread_create");
			for (int j = 0; j < 4; j++)
				pthread_join(t[j], NULL);
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < READERS; i++)
		pthread_join(readers[i], NULL);
	/* More threads than there are slots, one after another: each must
	 * give its slot back when it exits. */
	for (int i = 0; i < KEY_SET_PIN_SLOTS + 44 && !atomic_load(&failed); i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, pin_once, NULL) != 0 || pthread_join(t, NULL) != 0)
			fail("pthread_create");
	}
	key_set_free(key_set_take(&srv.svc));
	sodium_free(root);
	if (atomic_load(&failed))
		return 1;
	printf("keyset_threads: %d publications under %d readers: ok\n", PUBLICATIONS, READERS);
	return 0;
}
