/* SPDX-License-Identifier: MIT */
/** @file pg_whole.h STOPGAP: the PostgreSQL backend's whole function table (pg_whole.c). */
#pragma once

#include "store/store.h"

const struct prism_store_api *prism_store_pg_whole(void);
