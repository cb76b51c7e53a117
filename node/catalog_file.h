/* Internal: the catalog as the agent keeps it on disk, DATA_DIR/catalog.
 *
 *   file := [2, saved_wall_ms, bin(sl_catalog_encode())]
 *
 * saved_wall_ms (the wall clock of the last save) tells, at the next start,
 * whether this peer was away for longer than the tombstone horizon (then its
 * catalog is SL_CATALOG_RETURNING: its old records are not believed until a
 * current peer confirms them). A file written by an earlier version (a bare
 * catalog) is read as saved now. Written atomically (datadir.h). */
#ifndef STARLING_NODE_CATALOG_FILE_H
#define STARLING_NODE_CATALOG_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/catalog.h"

#define SL__CATALOG_FILE "catalog"

/* What loading found. */
typedef struct sl__catalog_load {
    bool found;             /* a catalog was read (and merged) */
    bool moved_aside;       /* the file was corrupt and renamed to `aside` */
    char aside[4200];       /* DIR/catalog.corrupt.SECONDS */
    char why[128];          /* why it was corrupt */
    uint64_t saved_wall_ms; /* when it was saved */
    size_t records;         /* records held after the merge */
} sl__catalog_load;

/* Reads DIR/catalog (a regular file, never through a symlink, bounded by
 * max_bytes) and merges it into cat under cat's policy at wall_ms. A file
 * that is corrupt (malformed, too large, truncated) is renamed aside and
 * reported in *out, and 0 is returned: the peers refill the catalog. Returns
 * 0, or a negative errno when the file exists but cannot be read (the
 * operator must fix that: nothing is moved). */
int sl__catalog_file_load(const char *dir, sl_catalog *cat, uint64_t wall_ms, size_t max_bytes,
                          sl__catalog_load *out);

/* Writes cat to DIR/catalog, stamped saved at wall_ms. Returns 0, a negative
 * errno, or SL_ENOMEM. */
int sl__catalog_file_save(const char *dir, const sl_catalog *cat, uint64_t wall_ms);

#endif
