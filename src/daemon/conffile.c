/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "daemon/conffile.h"

extern char **environ;

#define CONFIG_MAX (4u << 20)

/* Read the whole file; returns NULL and sets *err on failure. */
static char *read_file(const char *path, size_t *len, int *err)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		*err = -errno;
		return NULL;
	}
	char *buf = malloc(CONFIG_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		*err = PRISM_ENOMEM;
		return NULL;
	}
	*len = fread(buf, 1, CONFIG_MAX + 1, f);
	int rerr = ferror(f);
	fclose(f);
	if (rerr || *len > CONFIG_MAX) {
		free(buf);
		*err = rerr ? -EIO : PRISM_ETOOBIG;
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

struct prism_config *prism_config_load_file(const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	if (path != NULL) {
		int rerr = 0;
		text = read_file(path, &len, &rerr);
		if (text == NULL) {
			snprintf(err, errlen, "cannot read config %s (%s)", path,
				 prism_strerror(rerr));
			return NULL;
		}
	}
	struct prism_config *cfg = NULL;
	char msg[512] = "";
	int rc = prism_config_parse(text ? text : "", len, (const char *const *)environ, &cfg,
				    msg, sizeof(msg));
	free(text);
	if (rc != 0) {
		snprintf(err, errlen, "invalid configuration%s%s: %s", path ? " in " : "",
			 path ? path : "", msg[0] ? msg : prism_strerror(rc));
		return NULL;
	}
	return cfg;
}
