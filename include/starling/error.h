/* Error codes shared by every module: 0 for success, negative for errors.
 *
 * The project's own codes count down from -1001, so that they never collide
 * with a negated errno or a libuv UV_E* code (-1 .. -4095 on Linux), which
 * the functions at the system boundary (node/: files, sockets, processes)
 * return too. One int can so carry either, and sl_strerror() prints either:
 * an EACCES from the data dir reads "Permission denied", never one of ours. */
#ifndef STARLING_ERROR_H
#define STARLING_ERROR_H

enum {
    SL_OK = 0,
    SL_EINVAL = -1001,     /* an argument is out of its documented range */
    SL_ENOMEM = -1002,     /* an allocation failed */
    SL_ETOOBIG = -1003,    /* the value can never fit its bound (packet, field) */
    SL_EMALFORMED = -1004, /* input bytes are not a valid encoding */
    SL_EVERSION = -1005,   /* the input carries a wire version we do not speak */
    SL_ECLUSTER = -1006,   /* the input belongs to another cluster label */
    SL_ENOTFOUND = -1007,  /* no such member, service or key */
    SL_ESTATE = -1008,     /* the call is not valid in the current state */
    SL_ESPACE = -1009,     /* the output buffer is too small this time */
    SL_EAUTH = -1010,      /* not authentic: no key opens it, or a signature does not verify */
    SL_ESTALE = -1011,     /* a newer write of the same thing exists; this one does not win */
    SL_EFUTURE = -1012,    /* stamped further in the future than the allowed clock skew */
    SL_EEXPIRED = -1013,   /* older than the horizon before which history is forgotten */
    SL_EFULL = -1014,      /* a configured limit (members, records, keys) is reached */
    SL_E__LAST = SL_EFULL, /* the lowest of ours */
};

/* Returns true when err is one of the SL_E* codes above. */
int sl_is_own_error(int err);

/* Returns a static, human-readable description of err: an SL_E* code, or a
 * negated errno (the system's message, as strerror() gives it). */
const char *sl_strerror(int err);

#endif
