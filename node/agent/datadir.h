/* Internal: what the agent keeps in its data directory.
 *
 *   DIR/generation  the boot generation of the last start, one decimal line
 *   DIR/peers       the peers we knew, one "NAME HOST:PORT" line each
 *
 * Both are replaced atomically: written to a temporary file, fsynced, renamed
 * over the old one, and the directory fsynced, so that a crash leaves either
 * the old file or the new one, never half of one. */
#ifndef STARLING_NODE_DATADIR_H
#define STARLING_NODE_DATADIR_H

#include <stddef.h>
#include <stdint.h>

#include "starling/addr.h"

/* Largest number of peers remembered. */
#define SL__PEERS_MAX 4096

/* Creates DIR (one level) when missing. Returns 0 or a negative errno. */
int sl__datadir_open(const char *dir);

/* Takes DIR/lock (flock, held while the process lives) and writes our pid
 * in it, so that two agents never share a data dir and tear each other's
 * files. Returns the lock's descriptor (>= 0; keep it open), -EBUSY with
 * *holder set to the pid written by the agent that holds it (0 if unknown),
 * or another negative errno. */
int sl__datadir_lock(const char *dir, long *holder);

/* Computes this start's boot generation and persists it. The generation is
 * max(last persisted + 1, wall-clock seconds): it grows at every start even
 * when the clock steps back, and stays above what an earlier life without a
 * data dir (which uses the wall clock alone) may have said. Returns 0 with
 * *gen set, or a negative errno. */
int sl__datadir_next_generation(const char *dir, uint32_t *gen);

/* Replaces DIR/peers with the n addresses and names given. Returns 0 or a
 * negative errno. */
int sl__datadir_save_peers(const char *dir, const char *const *names, const sl_addr *addrs,
                           size_t n);

/* Reads DIR/peers into addrs (capacity cap); malformed lines are skipped.
 * Returns the number of addresses read (0 when the file is missing). */
size_t sl__datadir_load_peers(const char *dir, sl_addr *addrs, size_t cap);

/* Creates a private directory for an agent without a data dir:
 * $TMPDIR/starling-NAME-XXXXXX (mkdtemp, mode 0700, so no other user can
 * plant files or symlinks in it), NAME reduced to [A-Za-z0-9._-]. Writes its
 * path into out (capacity cap). Returns 0 or a negative errno. */
int sl__datadir_make_private(const char *name, char *out, size_t cap);

/* Removes a directory made by sl__datadir_make_private() with the files in it
 * and in its logs/ subdirectory (nothing deeper; symlinks are unlinked, never
 * followed). Best effort. */
void sl__datadir_remove_private(const char *dir);

/* Writes `len` bytes into DIR/NAME atomically, through a new temporary file
 * DIR/.NAME.tmp of mode 0600 (created exclusively, never through a symlink),
 * renamed over DIR/NAME, so the result has mode 0600 too. Returns 0 or a
 * negative errno. */
int sl__datadir_write(const char *dir, const char *name, const char *data, size_t len);

#endif
