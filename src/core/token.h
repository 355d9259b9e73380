/* SPDX-License-Identifier: MIT */
/**
 * @file token.h
 * Agent tokens and API keys are never stored in clear: only a keyed hash, as 64 lower-case
 * hex characters — HMAC-SHA256, keyed with the registry's own secret, of the token's
 * SHA-256 in hex. Keying the hash of the hash (not the token itself) is what let the
 * registries that held plain SHA-256 hashes be migrated without knowing a single token.
 * A token set maps hashes to names with O(1) lookups (open addressing); nothing ever tries
 * every stored hash.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define PRISM_TOKEN_HASH_LEN 64u /**< hex characters, without the NUL */

/** SHA-256 of @p len bytes of @p token as hex into @p out (65 bytes). @return 0 or error. */
int prism_token_hash(const char *token, size_t len, char out[PRISM_TOKEN_HASH_LEN + 1]);

#define PRISM_CRED_KEY_LEN 32u /**< bytes of a registry's credential key */

/** A registry's credential key (random, made once with the registry). */
struct prism_cred_key {
	unsigned char k[PRISM_CRED_KEY_LEN];
};

/**
 * HMAC-SHA256 under @p key of @p len bytes of @p sha_hex (a prism_token_hash() value, or
 * the plain hash a registry held before it had a key), as hex into @p out (65 bytes).
 * @return 0, PRISM_EINVAL, PRISM_ENOMEM
 */
int prism_cred_rekey(const struct prism_cred_key *key, const char *sha_hex, size_t len,
		     char out[PRISM_TOKEN_HASH_LEN + 1]);

/** The stored form of a token or API key: prism_cred_rekey(key, SHA-256 of @p token).
 *  @return 0, PRISM_EINVAL, PRISM_ENOMEM */
int prism_cred_hash(const struct prism_cred_key *key, const char *token, size_t len,
		    char out[PRISM_TOKEN_HASH_LEN + 1]);

/** Contexts that hash many credentials under one key (the agent port's tokens): the same
 *  value as prism_cred_hash, a microsecond sooner. One thread at a time. */
struct prism_cred_hasher;

/** A hasher for @p key (copied into it). NULL when out of memory. */
struct prism_cred_hasher *prism_cred_hasher_new(const struct prism_cred_key *key);
/** prism_cred_hash(key, @p token, @p len) with the hasher's key. @return 0, PRISM_EINVAL,
 *  PRISM_ENOMEM */
int prism_cred_hasher_hash(struct prism_cred_hasher *h, const char *token, size_t len,
			   char out[PRISM_TOKEN_HASH_LEN + 1]);
/** Free a hasher (NULL: nothing). */
void prism_cred_hasher_free(struct prism_cred_hasher *h);

/** Constant-time comparison of two equal-length strings (e.g. two hashes). */
bool prism_secret_equal(const char *a, const char *b, size_t len);

struct prism_token_set;

/** New empty set. NULL on out of memory. */
struct prism_token_set *prism_token_set_new(void);

/** Free. NULL is a no-op. */
void prism_token_set_free(struct prism_token_set *set);

/**
 * Add a token by its hash with a name (both copied).
 * @return 0, PRISM_ECONFLICT if the hash is already present, PRISM_EINVAL, PRISM_ENOMEM
 */
int prism_token_set_add(struct prism_token_set *set, const char *hash, const char *name);

/**
 * The hash hosts registered with the token @p hash are bound by: that of the first token
 * added with the same name. A name listed twice (a rotation in progress: the old secret and
 * the new) binds its hosts once, so either secret may register them. NULL when @p hash is
 * not in the set.
 */
const char *prism_token_set_owner(const struct prism_token_set *set, const char *hash);

/** The name of the token with this hash, or NULL. */
const char *prism_token_set_find(const struct prism_token_set *set, const char *hash);

/** Number of tokens in the set. */
size_t prism_token_set_count(const struct prism_token_set *set);

/** A configured token name whose owning secret changed (see prism_token_set_owner). */
struct prism_token_rotation {
	char name[128]; /**< truncated for logs */
	char old_hash[PRISM_TOKEN_HASH_LEN + 1];
	char new_hash[PRISM_TOKEN_HASH_LEN + 1];
};

/**
 * The tokens rotated from @p before to @p after: every name in both whose owning hash (the
 * first listed with it) differs — its hosts are to be bound to the new one.
 * @param[out] out array the caller frees (NULL when @p n is 0)
 * @return 0, PRISM_EINVAL, PRISM_ENOMEM
 */
int prism_token_set_rotations(const struct prism_token_set *before,
			      const struct prism_token_set *after,
			      struct prism_token_rotation **out, size_t *n);
