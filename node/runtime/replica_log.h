/* Internal: a replica's log files, their names, their size cap and their
 * rotation (replica_log.c).
 *
 * Each replica's output goes to LOG_DIR/<service>.<replica>.log on the agent
 * that runs it. The writer is the `starling _exec` shim (cmd_exec.c): the
 * command's stdout and stderr are one pipe to the shim, which appends whole
 * lines to the file and rotates it before a write would take it past the
 * cap: .log.1 becomes .log.2 (the oldest is dropped), .log becomes .log.1,
 * and a new .log is opened. So a replica never has more than
 * SL__LOG_KEEP + 1 files of at most the cap each. The supervisor's
 * "[starling] ..." notes (starts, exits) are appended to .log by path; the
 * shim leaves SL__LOG_NOTE_ROOM bytes under the cap for them. The reader is
 * the agent's `logs` RPC (rpc_logs.c), which reads .log.2, .log.1 and .log in
 * that order and notices a rotation by the inode behind the name changing. */
#ifndef STARLING_NODE_REPLICA_LOG_H
#define STARLING_NODE_REPLICA_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL__LOG_KEEP 2                /* rotated files kept: .log.1, .log.2 */
#define SL__LOG_MAX_MB_DEFAULT 10     /* --log-max */
#define SL__LOG_MAX_MB_LIMIT 4096     /* the largest --log-max */
#define SL__LOG_NOTE_ROOM 4096        /* left under the cap for the supervisor's notes */
#define SL__LOG_LINE_HOLD (64u << 10) /* a partial line longer than this is written as it is */

/* Whether name (a service name from a request) is safe in a file name: not
 * empty, not starting with '.', and no '/' (the catalog's own names, letters,
 * digits, '.', '_' and '-', always are). */
bool sl__log_name_ok(const char *name);

/* Writes the name of generation gen (0: the live file, 1..SL__LOG_KEEP: the
 * rotated ones) of a replica's log into buf. Returns 0, or -1 when it does
 * not fit. */
int sl__log_path(char *buf, size_t cap, const char *dir, const char *service, uint32_t replica,
                 int gen);

/* The shim's end: a log file with a cap. The caller owns the struct. */
typedef struct sl__log_writer {
    char path[4096]; /* the live file (generation 0) */
    uint64_t max;    /* bytes; a file is rotated before it would pass this */
    int fd;          /* -1 when the file could not be (re)opened */
    uint64_t rotations;
} sl__log_writer;

/* Opens path for appending (O_NOFOLLOW, mode 0600) with a cap of max bytes
 * (at least 2 * SL__LOG_NOTE_ROOM), rotating it first when it is already
 * near the cap. Returns 0, or a negative errno. */
int sl__log_writer_open(sl__log_writer *w, const char *path, uint64_t max);

/* Appends buf[0..n), rotating at line boundaries so that no file passes
 * max - SL__LOG_NOTE_ROOM bytes from this writer (a single line longer than
 * that is split). Returns 0, or a negative errno (the bytes are lost). */
int sl__log_writer_write(sl__log_writer *w, const char *buf, size_t n);

/* Closes the file. */
void sl__log_writer_close(sl__log_writer *w);

#endif
