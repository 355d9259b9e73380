/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/strset.h"

struct prism_strset_node {
	struct prism_strset_node *next;
	uint64_t hash;
	char key[];
};

/* The hash of "a sep b" (with b NULL: of a alone). */
static uint64_t key_hash(const char *a, char sep, const char *b)
{
	uint64_t h = prism_fnv1a_str(PRISM_FNV64_OFFSET, a);

	if (b != NULL) {
		h = prism_fnv1a(h, &sep, 1);
		h = prism_fnv1a_str(h, b);
	}
	return h;
}

static bool key_equal(const char *key, const char *a, char sep, const char *b)
{
	if (b == NULL)
		return strcmp(key, a) == 0;
	size_t la = strlen(a);
	return strncmp(key, a, la) == 0 && key[la] == sep && strcmp(key + la + 1, b) == 0;
}

static struct prism_strset_node **slot(const struct prism_strset *s, uint64_t h, const char *a,
				       char sep, const char *b)
{
	struct prism_strset_node **p = &s->b[h & (s->nb - 1)];

	while (*p != NULL && ((*p)->hash != h || !key_equal((*p)->key, a, sep, b)))
		p = &(*p)->next;
	return p;
}

void prism_strset_clear(struct prism_strset *s)
{
	for (size_t i = 0; i < s->nb; i++)
		while (s->b[i] != NULL) {
			struct prism_strset_node *n = s->b[i];
			s->b[i] = n->next;
			free(n);
		}
	free(s->b);
	*s = (struct prism_strset){NULL, 0, 0};
}

bool prism_strset_has_joined(const struct prism_strset *s, const char *a, char sep, const char *b)
{
	return s->n > 0 && *slot(s, key_hash(a, sep, b), a, sep, b) != NULL;
}

bool prism_strset_has(const struct prism_strset *s, const char *key)
{
	return prism_strset_has_joined(s, key, 0, NULL);
}

static int grow(struct prism_strset *s)
{
	size_t nb = s->nb ? s->nb * 2 : 16;
	struct prism_strset_node **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < s->nb; i++)
		while (s->b[i] != NULL) {
			struct prism_strset_node *n = s->b[i];
			s->b[i] = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	free(s->b);
	s->b = b;
	s->nb = nb;
	return 0;
}

int prism_strset_add_joined(struct prism_strset *s, const char *a, char sep, const char *b)
{
	if (s->n >= s->nb && grow(s) != 0)
		return PRISM_ENOMEM;
	uint64_t h = key_hash(a, sep, b);
	struct prism_strset_node **p = slot(s, h, a, sep, b);
	if (*p != NULL)
		return 0;
	size_t la = strlen(a), lb = b != NULL ? strlen(b) + 1 : 0;
	struct prism_strset_node *n = malloc(sizeof(*n) + la + 1 + lb);
	if (n == NULL)
		return PRISM_ENOMEM;
	memcpy(n->key, a, la + 1);
	if (b != NULL) {
		n->key[la] = sep;
		memcpy(n->key + la + 1, b, lb);
	}
	n->hash = h;
	n->next = NULL;
	*p = n;
	s->n++;
	return 0;
}

int prism_strset_add(struct prism_strset *s, const char *key)
{
	return prism_strset_add_joined(s, key, 0, NULL);
}

void prism_strset_del(struct prism_strset *s, const char *key)
{
	if (s->n == 0)
		return;
	struct prism_strset_node **p = slot(s, key_hash(key, 0, NULL), key, 0, NULL);
	if (*p == NULL)
		return;
	struct prism_strset_node *n = *p;
	*p = n->next;
	free(n);
	s->n--;
}
