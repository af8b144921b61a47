/* SPDX-License-Identifier: Apache-2.0
 * Helpers shared by the password-file and ACL parsers.
 */
#ifndef MQTT_AUTH_PVT_H
#define MQTT_AUTH_PVT_H

#include <stddef.h>

/* snprintf into err when err is not NULL. */
void mqtt_auth_set_err(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Read a whole file, NUL-terminated. NULL + errno, err = "<path>: <strerror>". */
char *mqtt_auth_read_file(const char *path, size_t *len, char *err, size_t errlen);

#endif
