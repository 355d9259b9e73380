/* SPDX-License-Identifier: MIT */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
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

int prism_token_hash(const char *token, size_t len, char out[PRISM_TOKEN_HASH_LEN + 1])
{
	if (token == NULL || out == NULL)
		return PRISM_EINVAL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(token, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return PRISM_ENOMEM;
	to_hex(md, out);
	return 0;
}

int prism_cred_rekey(const struct prism_cred_key *key, const char *sha_hex, size_t len,
		     char out[PRISM_TOKEN_HASH_LEN + 1])
{
	if (key == NULL || sha_hex == NULL || out == NULL)
		return PRISM_EINVAL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (HMAC(EVP_sha256(), key->k, (int)sizeof(key->k), (const unsigned char *)sha_hex, len,
		 md, &mdlen) == NULL ||
	    mdlen != 32)
		return PRISM_ENOMEM;
	to_hex(md, out);
	return 0;
}

/*
 * OpenSSL 3 looks the algorithm up again at every one-shot call (EVP_Digest, HMAC): 1.1 of
 * the 1.5 us a credential hash took on the agent port. A hasher keeps a digest context and
 * an HMAC context keyed once (0.11 and 0.22 us a call).
 */
struct prism_cred_hasher {
	EVP_MD *sha;
	EVP_MD_CTX *md;
	EVP_MAC_CTX *mac;
};

void prism_cred_hasher_free(struct prism_cred_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MAC_CTX_free(h->mac); /* cleanses the key */
	EVP_MD_CTX_free(h->md);
	EVP_MD_free(h->sha);
	free(h);
}

struct prism_cred_hasher *prism_cred_hasher_new(const struct prism_cred_key *key)
{
	if (key == NULL)
		return NULL;
	struct prism_cred_hasher *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	h->sha = EVP_MD_fetch(NULL, "SHA256", NULL);
	h->md = EVP_MD_CTX_new();
	h->mac = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
	EVP_MAC_free(hmac); /* the context holds its own reference */
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	if (h->sha == NULL || h->md == NULL || h->mac == NULL ||
	    EVP_MAC_init(h->mac, key->k, sizeof(key->k), params) != 1) {
		prism_cred_hasher_free(h);
		return NULL;
	}
	return h;
}

int prism_cred_hasher_hash(struct prism_cred_hasher *h, const char *token, size_t len,
			   char out[PRISM_TOKEN_HASH_LEN + 1])
{
	if (h == NULL || token == NULL || out == NULL)
		return PRISM_EINVAL;
	unsigned char sha[32], md[32];
	char hex[PRISM_TOKEN_HASH_LEN + 1];
	unsigned int n = 0;
	size_t m = 0;
	int ok = EVP_DigestInit_ex(h->md, h->sha, NULL) == 1 &&
		 EVP_DigestUpdate(h->md, token, len) == 1 &&
		 EVP_DigestFinal_ex(h->md, sha, &n) == 1 && n == 32;
	if (ok) {
		to_hex(sha, hex);
		/* a NULL key: the one set when the hasher was made */
		ok = EVP_MAC_init(h->mac, NULL, 0, NULL) == 1 &&
		     EVP_MAC_update(h->mac, (const unsigned char *)hex, PRISM_TOKEN_HASH_LEN) ==
			     1 &&
		     EVP_MAC_final(h->mac, md, &m, sizeof(md)) == 1 && m == 32;
	}
	explicit_bzero(sha, sizeof(sha));
	explicit_bzero(hex, sizeof(hex));
	if (!ok)
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
