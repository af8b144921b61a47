/* SPDX-License-Identifier: Apache-2.0
 * Helpers shared by the password-file and ACL parsers.
 */
#ifndef MQTT_AUTH_PVT_H
#define MQTT_AUTH_PVT_H

#include <stddef.h>
#include <stdint.h>

struct mqtt_passwd;

/* snprintf into err when err is not NULL. */
void mqtt_auth_set_err(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Read a whole file, NUL-terminated. NULL + errno, err = "<path>: <strerror>". */
char *mqtt_auth_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* The stored salt, iterations and hash of user (a dummy entry when unknown, so the caller spends
 * the same time). 1 known, 0 unknown. Pointers stay valid while pw is not modified. */
int mqtt_passwd_entry(const struct mqtt_passwd *pw, const char *user, const uint8_t **salt,
                      size_t *saltlen, uint32_t *iter, const uint8_t **hash);

struct mqtt_cred_cache;

/* The cache key of a login: HMAC-SHA256 under the cache's boot secret. Read-only on c, so another
 * thread (the verification worker) may compute it. 0, -E2BIG (not cacheable), -errno. */
int mqtt_cred_cache_mac(const struct mqtt_cred_cache *c, uint64_t gen, const char *user,
                        const void *pass, size_t passlen, uint8_t mac[32]);

/* Insert a MAC computed by mqtt_cred_cache_mac (owner thread only). */
void mqtt_cred_cache_insert_mac(struct mqtt_cred_cache *c, const uint8_t mac[32]);

#endif
