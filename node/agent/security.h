/* Internal: the agent's key files in its data directory.
 *
 *   DIR/keyring        the cluster keys, base64, one per line, the primary
 *                      first; mode 0600 (refused if anyone else may read it)
 *   DIR/operator-keys  operator public keys whose signed writes are run,
 *                      base64, one per line, '#' comments; refused if anyone
 *                      else may write it
 *
 * Neither file is ever opened through a symlink. */
#ifndef STARLING_NODE_SECURITY_H
#define STARLING_NODE_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/catalog.h"
#include "starling/keyring.h"

#define SL__KEYRING_FILE "keyring"
#define SL__OPERATOR_KEYS_FILE "operator-keys"

/* Reads DIR/keyring into kr (keys appended; the file's first key becomes the
 * primary when kr was empty). Returns 0 (a missing file is fine), or -1 with
 * a one-line reason in err (bad mode, symlink, malformed line, too many). */
int sl__keyring_file_load(const char *dir, sl_keyring *kr, char *err, size_t errcap);

/* Replaces DIR/keyring with kr (mode 0600, atomically). Returns 0 or a
 * negative errno. */
int sl__keyring_file_save(const char *dir, const sl_keyring *kr);

/* Reads DIR/operator-keys, appending to keys[*n] (capacity max) the keys
 * not already there. Returns 0 (a missing file is fine), or -1 with a
 * one-line reason in err. */
int sl__operator_keys_load(const char *dir, uint8_t (*keys)[SL_OPERATOR_PUB_BYTES], int *n, int max,
                           char *err, size_t errcap);

/* Reads a small private file (a secret: the token, an operator secret key)
 * into buf (capacity cap, NUL-terminated, trailing whitespace cut). Refuses a
 * symlink, a file that is not regular, or one others may read when
 * `private_only`. Returns 0 or -1 with a one-line reason in err. */
int sl__read_secret_file(const char *path, bool private_only, char *buf, size_t cap, char *err,
                         size_t errcap);

#endif
