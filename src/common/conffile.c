/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conffile.h"
#include "core/error.h"
#include "core/strv.h"

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
	int rc = prism_config_parse(text ? text : "", len, (const char *const *)environ, &cfg, msg,
				    sizeof(msg));
	free(text);
	if (rc != 0) {
		snprintf(err, errlen, "invalid configuration%s%s: %s", path ? " in " : "",
			 path ? path : "", msg[0] ? msg : prism_strerror(rc));
		return NULL;
	}
	return cfg;
}

char *prism_secret_read(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "cannot read %s (%s)", path, strerror(errno));
		return NULL;
	}
	char buf[1024];
	char *line = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (line == NULL) {
		snprintf(err, errlen, "%s is empty", path);
		return NULL;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	char *s = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (s == NULL)
		snprintf(err, errlen, "out of memory");
	return s;
}

void prism_secret_lines_free(char **lines, size_t n)
{
	for (size_t i = 0; lines != NULL && i < n; i++) {
		explicit_bzero(lines[i], strlen(lines[i]));
		free(lines[i]);
	}
	free(lines);
}

char **prism_secret_lines(const char *path, size_t *n, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	*n = 0;
	if (f == NULL) {
		snprintf(err, errlen, "cannot read %s (%s)", path, strerror(errno));
		return NULL;
	}
	char **v = calloc(PRISM_SECRET_LINES_MAX, sizeof(*v));
	char buf[1024];
	bool ok = v != NULL;
	while (ok && fgets(buf, sizeof(buf), f) != NULL) {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[0] == '\0')
			continue;
		if (*n == PRISM_SECRET_LINES_MAX) {
			snprintf(err, errlen, "%s holds more than %d secrets", path,
				 PRISM_SECRET_LINES_MAX);
			ok = false;
		} else if ((v[*n] = strdup(buf)) == NULL) {
			snprintf(err, errlen, "out of memory");
			ok = false;
		} else {
			(*n)++;
		}
	}
	explicit_bzero(buf, sizeof(buf));
	fclose(f);
	if (ok && *n == 0) {
		snprintf(err, errlen, "%s is empty", path);
		ok = false;
	}
	if (!ok) {
		prism_secret_lines_free(v, *n);
		*n = 0;
		return NULL;
	}
	return v;
}

void prism_kea_pg_params_free(char **keys, char **vals)
{
	for (size_t i = 0; vals != NULL && vals[i] != NULL; i++)
		explicit_bzero(vals[i], strlen(vals[i]));
	prism_strv_free(keys);
	prism_strv_free(vals);
}

static int param(char **keys, char **vals, size_t *n, const char *k, const char *v)
{
	if (v == NULL)
		return 0;
	keys[*n] = strdup(k);
	vals[*n] = strdup(v);
	(*n)++;
	return keys[*n - 1] && vals[*n - 1] ? 0 : PRISM_ENOMEM;
}

int prism_kea_pg_params(const struct prism_config *cfg, const char *application, char ***keys,
			char ***vals, char *err, size_t errlen)
{
	enum { MAXP = 8 };
	char **k = calloc(MAXP + 1, sizeof(*k)), **v = calloc(MAXP + 1, sizeof(*v));
	char port[8], *password = NULL;
	size_t n = 0;
	int rc = k && v ? 0 : PRISM_ENOMEM;
	if (rc == 0 && cfg->kea_reservations_password_file != NULL) {
		password = prism_secret_read(cfg->kea_reservations_password_file, err, errlen);
		if (password == NULL)
			rc = PRISM_ECONFIG;
	} else if (rc == 0 && cfg->kea_reservations_password_env != NULL) {
		const char *e = getenv(cfg->kea_reservations_password_env);
		if (e == NULL) {
			snprintf(err, errlen, "kea.reservations.password_env: %s is not set",
				 cfg->kea_reservations_password_env);
			rc = PRISM_ECONFIG;
		} else if ((password = strdup(e)) == NULL) {
			rc = PRISM_ENOMEM;
		}
	}
	snprintf(port, sizeof(port), "%u", (unsigned)cfg->kea_reservations_port);
	if (rc == 0)
		rc = param(k, v, &n, "dbname", cfg->kea_reservations_conninfo);
	if (rc == 0)
		rc = param(k, v, &n, "host", cfg->kea_reservations_host);
	if (rc == 0)
		rc = param(k, v, &n, "port", cfg->kea_reservations_port ? port : NULL);
	if (rc == 0)
		rc = param(k, v, &n, "dbname", cfg->kea_reservations_dbname);
	if (rc == 0)
		rc = param(k, v, &n, "user", cfg->kea_reservations_user);
	if (rc == 0)
		rc = param(k, v, &n, "password", password);
	if (rc == 0)
		rc = param(k, v, &n, "application_name", application);
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	if (rc != 0) {
		if (rc == PRISM_ENOMEM)
			snprintf(err, errlen, "out of memory");
		prism_kea_pg_params_free(k, v);
		return rc;
	}
	*keys = k;
	*vals = v;
	return 0;
}
