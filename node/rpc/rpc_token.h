/* Internal: where the RPC token comes from, on both ends (see rpc_seal.h for
 * what it protects, and README.md, "RPC security").
 *
 * The agent takes --rpc-token TOKEN, or else the file DIR/rpc-token in its
 * data dir (or its private directory without one), created on first start
 * with 32 random bytes in URL-safe base64 and mode 0600. It refuses to start
 * when that file is a symlink, not a regular file, another user's, or open
 * to group or others. The CLI takes --token, --token-file, --data-dir, then
 * $STARLING_RPC_TOKEN, $STARLING_RPC_TOKEN_FILE, $STARLING_DATA_DIR. In
 * every source, trailing ASCII white space (a newline) is not part of the
 * token. */
#ifndef STARLING_NODE_RPC_TOKEN_H
#define STARLING_NODE_RPC_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/config.h"

/* The token file's name in a data dir. */
#define SL__RPC_TOKEN_FILE "rpc-token"

/* A token file larger than this is not one. */
#define SL__RPC_TOKEN_FILE_MAX 4096

/* Returns the length of s[0..n) without its trailing ASCII white space. */
size_t sl__rpc_token_trim(const char *s, size_t n);

/* Reads the token in the file at path into tok (capacity cap, at least
 * SL__RPC_TOKEN_MAX + 1; NUL-terminated, trailing white space removed) and
 * *len. With strict (the agent's own file), a symlink is never followed, and
 * a file that is not regular, belongs to another user, or that group or
 * others may read or write is refused. Returns 0; -1 with err filled (one
 * line naming the file, for "starling CMD: ..."); or 1, err filled too,
 * when the file does not exist. */
int sl__rpc_token_read(const char *path, bool strict, char *tok, size_t cap, size_t *len, char *err,
                       size_t errcap);

/* Refuses an RPC address outside loopback when the agent has neither
 * --rpc-token nor --data-dir: its token would sit in a private temporary
 * directory that no remote client can know. Call before anything binds.
 * Returns 0, or -1 after printing one line on stderr. */
int sl__rpc_token_check_exposure(const sl__agent_config *cfg);

/* The agent's token: --rpc-token (cfg->rpc_token) or DIR/rpc-token in dir,
 * created when missing (*created is then set). Derives the base key into
 * key (rpc_seal.h; the token is not kept) and writes where the token came
 * from into source ("flag", or "file PATH"; capacity cap). Logs nothing, so
 * that a start that fails later is still one line. Returns 0, or -1 after
 * printing one line on stderr. */
int sl__rpc_token_agent(const sl__agent_config *cfg, const char *dir, uint8_t key[32], char *source,
                        size_t cap, bool *created);

#endif
