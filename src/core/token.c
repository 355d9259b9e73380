/* SPDX-License-Identifier: MIT */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/token.h"

static void to_hex(const unsigned char md[32], char out[PRISM_TOKEN_HASH_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[PRISM_TOKEN_HASH_LEN] = '\0';
}

/*
 * OpenSSL 3 looks the algorithm up again at every one-shot call (EVP_Digest, HMAC): 1.1 of
 * the 1.5 us a credential hash took on the agent port. Each thread keeps a digest context
 * and an HMAC context keyed once (0.11 and 0.22 us a call), freed when the thread ends.
 */
struct hash_ctx {
	EVP_MD *sha;
	EVP_MD_CTX *md;
	EVP_MAC_CTX *mac;
	bool keyed;
	unsigned char key[PRISM_CRED_KEY_LEN]; /* the key mac holds */
};

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static bool ctx_ok;

static void ctx_free(void *arg)
{
	struct hash_ctx *c = arg;
	EVP_MAC_CTX_free(c->mac);
	EVP_MD_CTX_free(c->md);
	EVP_MD_free(c->sha);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

static void ctx_key_create(void)
{
	ctx_ok = pthread_key_create(&ctx_key, ctx_free) == 0;
}

/* This thread's contexts; NULL when they cannot be had (the one-shot calls then do). */
static struct hash_ctx *hash_ctx(void)
{
	if (pthread_once(&ctx_once, ctx_key_create) != 0 || !ctx_ok)
		return NULL;
	struct hash_ctx *c = pthread_getspecific(ctx_key);
	if (c != NULL)
		return c;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	c->sha = EVP_MD_fetch(NULL, "SHA256", NULL);
	c->md = EVP_MD_CTX_new();
	c->mac = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
	EVP_MAC_free(hmac); /* the context holds its own reference */
	if (c->sha == NULL || c->md == NULL || c->mac == NULL ||
	    pthread_setspecific(ctx_key, c) != 0) {
		ctx_free(c);
		return NULL;
	}
	return c;
}

static bool digest(struct hash_ctx *c, const void *in, size_t len, unsigned char md[32])
{
	unsigned int n = 0;
	if (c != NULL)
		return EVP_DigestInit_ex(c->md, c->sha, NULL) == 1 &&
		       EVP_DigestUpdate(c->md, in, len) == 1 &&
		       EVP_DigestFinal_ex(c->md, md, &n) == 1 && n == 32;
	return EVP_Digest(in, len, md, &n, EVP_sha256(), NULL) == 1 && n == 32;
}

static bool hmac(struct hash_ctx *c, const struct prism_cred_key *key, const void *in, size_t len,
		 unsigned char md[32])
{
	if (c == NULL) {
		unsigned int n = 0;
		return HMAC(EVP_sha256(), key->k, (int)sizeof(key->k), in, len, md, &n) != NULL &&
		       n == 32;
	}
	int rc;
	if (c->keyed && memcmp(c->key, key->k, sizeof(c->key)) == 0) {
		rc = EVP_MAC_init(c->mac, NULL, 0, NULL); /* the same key again */
	} else {
		char digest_name[] = "SHA256";
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
			OSSL_PARAM_construct_end(),
		};
		rc = EVP_MAC_init(c->mac, key->k, sizeof(key->k), params);
		c->keyed = rc == 1;
		memcpy(c->key, key->k, sizeof(c->key));
	}
	size_t n = 0;
	return rc == 1 && EVP_MAC_update(c->mac, in, len) == 1 &&
	       EVP_MAC_final(c->mac, md, &n, 32) == 1 && n == 32;
}

int prism_token_hash(const char *token, size_t len, char out[PRISM_TOKEN_HASH_LEN + 1])
{
	if (token == NULL || out == NULL)
		return PRISM_EINVAL;
	unsigned char md[32];
	if (!digest(hash_ctx(), token, len, md))
		return PRISM_ENOMEM;
	to_hex(md, out);
	return 0;
}

int prism_cred_rekey(const struct prism_cred_key *key, const char *sha_hex, size_t len,
		     char out[PRISM_TOKEN_HASH_LEN + 1])
{
	if (key == NULL || sha_hex == NULL || out == NULL)
		return PRISM_EINVAL;
	unsigned char md[32];
	if (!hmac(hash_ctx(), key, sha_hex, len, md))
		return PRISM_ENOMEM;
	to_hex(md, out);
	return 0;
}

int prism_cred_hash(const struct prism_cred_key *key, const char *token, size_t len,
		    char out[PRISM_TOKEN_HASH_LEN + 1])
{
	char sha[PRISM_TOKEN_HASH_LEN + 1];
	if (key == NULL)
		return PRISM_EINVAL;
	int rc = prism_token_hash(token, len, sha);
	if (rc == 0)
		rc = prism_cred_rekey(key, sha, PRISM_TOKEN_HASH_LEN, out);
	explicit_bzero(sha, sizeof(sha));
	return rc;
}

bool prism_secret_equal(const char *a, const char *b, size_t len)
{
	if (a == NULL || b == NULL)
		return false;
	return CRYPTO_memcmp(a, b, len) == 0;
}

struct entry {
	char *hash; /* NULL = empty slot */
	char *name;
	char *owner; /* the hash of the first entry with this name (borrowed; may be hash) */
};

struct prism_token_set {
	struct entry *slots;
	size_t cap; /* power of two */
	size_t count;
};

/* The hash is already uniformly distributed: its first 16 hex digits index the table. */
static size_t slot_of(const char *hash, size_t cap)
{
	uint64_t v = 0;
	for (int i = 0; i < 16 && hash[i]; i++) {
		char c = hash[i];
		v = (v << 4) | (uint64_t)(c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
	}
	return (size_t)(v & (cap - 1));
}

struct prism_token_set *prism_token_set_new(void)
{
	struct prism_token_set *set = calloc(1, sizeof(*set));
	if (set == NULL)
		return NULL;
	set->cap = 16;
	set->slots = calloc(set->cap, sizeof(*set->slots));
	if (set->slots == NULL) {
		free(set);
		return NULL;
	}
	return set;
}

void prism_token_set_free(struct prism_token_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->cap; i++) {
		free(set->slots[i].hash);
		free(set->slots[i].name);
	}
	free(set->slots);
	free(set);
}

static struct entry *probe(const struct prism_token_set *set, const char *hash)
{
	size_t i = slot_of(hash, set->cap);
	for (size_t n = 0; n < set->cap; n++, i = (i + 1) & (set->cap - 1)) {
		struct entry *e = &set->slots[i];
		if (e->hash == NULL || strcmp(e->hash, hash) == 0)
			return e;
	}
	return NULL; /* full: cannot happen, the table grows at 1/2 load */
}

static int grow(struct prism_token_set *set)
{
	struct prism_token_set bigger = {calloc(set->cap * 2, sizeof(struct entry)), set->cap * 2,
					 0};
	if (bigger.slots == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < set->cap; i++) {
		if (set->slots[i].hash != NULL)
			*probe(&bigger, set->slots[i].hash) = set->slots[i];
	}
	free(set->slots);
	set->slots = bigger.slots;
	set->cap = bigger.cap;
	return 0;
}

/* The first entry added with @p name (the one that owns its name's hosts), or NULL. */
static const struct entry *first_named(const struct prism_token_set *set, const char *name)
{
	for (size_t i = 0; i < set->cap; i++) {
		const struct entry *e = &set->slots[i];
		if (e->hash != NULL && e->owner == e->hash && strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

int prism_token_set_add(struct prism_token_set *set, const char *hash, const char *name)
{
	if (set == NULL || hash == NULL || name == NULL || strlen(hash) != PRISM_TOKEN_HASH_LEN)
		return PRISM_EINVAL;
	if ((set->count + 1) * 2 > set->cap && grow(set) != 0)
		return PRISM_ENOMEM;
	struct entry *e = probe(set, hash);
	if (e->hash != NULL)
		return PRISM_ECONFLICT;
	const struct entry *first = first_named(set, name);
	e->hash = strdup(hash);
	e->name = strdup(name);
	if (e->hash == NULL || e->name == NULL) {
		free(e->hash);
		free(e->name);
		e->hash = e->name = NULL;
		return PRISM_ENOMEM;
	}
	e->owner = first != NULL ? first->hash : e->hash;
	set->count++;
	return 0;
}

const char *prism_token_set_owner(const struct prism_token_set *set, const char *hash)
{
	if (set == NULL || hash == NULL || strlen(hash) != PRISM_TOKEN_HASH_LEN)
		return NULL;
	const struct entry *e = probe(set, hash);
	return e != NULL && e->hash != NULL ? e->owner : NULL;
}

const char *prism_token_set_find(const struct prism_token_set *set, const char *hash)
{
	if (set == NULL || hash == NULL || strlen(hash) != PRISM_TOKEN_HASH_LEN)
		return NULL;
	const struct entry *e = probe(set, hash);
	return e != NULL && e->hash != NULL ? e->name : NULL;
}

size_t prism_token_set_count(const struct prism_token_set *set)
{
	return set ? set->count : 0;
}

int prism_token_set_rotations(const struct prism_token_set *before,
			      const struct prism_token_set *after,
			      struct prism_token_rotation **out, size_t *n)
{
	if (before == NULL || after == NULL || out == NULL || n == NULL)
		return PRISM_EINVAL;
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < before->cap; i++) {
		const struct entry *old = &before->slots[i];
		if (old->hash == NULL || old->owner != old->hash)
			continue;
		const struct entry *cur = first_named(after, old->name);
		if (cur == NULL || strcmp(cur->hash, old->hash) == 0)
			continue;
		struct prism_token_rotation *v = realloc(*out, (*n + 1) * sizeof(*v));
		if (v == NULL) {
			free(*out);
			*out = NULL;
			*n = 0;
			return PRISM_ENOMEM;
		}
		*out = v;
		snprintf(v[*n].name, sizeof(v[*n].name), "%s", old->name);
		memcpy(v[*n].old_hash, old->hash, PRISM_TOKEN_HASH_LEN + 1);
		memcpy(v[*n].new_hash, cur->hash, PRISM_TOKEN_HASH_LEN + 1);
		(*n)++;
	}
	return 0;
}
