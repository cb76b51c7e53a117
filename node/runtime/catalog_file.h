/* Internal: the catalog as the agent keeps it on disk, DATA_DIR/catalog.
 *
 * The bytes are the runtime core's snapshot (sl_appstate_snapshot: [2,
 * saved_wall_ms, catalog]); this file only reads and writes them. Written
 * atomically (datadir.h); read as a regular file, never through a symlink,
 * bounded in size. */
#ifndef STARLING_NODE_CATALOG_FILE_H
#define STARLING_NODE_CATALOG_FILE_H

#include <stddef.h>
#include <stdint.h>

#define SL__CATALOG_FILE "catalog"

/* Reads DIR/catalog into a malloc()ed buffer the caller frees. Returns 0,
 * -ENOENT when there is none, SL_ETOOBIG past max_bytes, SL_ENOMEM, or
 * another negative errno (not a regular file: -EINVAL). */
int sl__catalog_file_read(const char *dir, size_t max_bytes, uint8_t **out, size_t *len);

/* Renames DIR/catalog to DIR/catalog.corrupt.SECONDS and writes the new name
 * (or why it could not be renamed) into aside. */
void sl__catalog_file_move_aside(const char *dir, uint64_t wall_ms, char *aside, size_t cap);

/* Writes buf atomically as DIR/catalog. Returns 0 or a negative errno. */
int sl__catalog_file_write(const char *dir, const uint8_t *buf, size_t len);

#endif
