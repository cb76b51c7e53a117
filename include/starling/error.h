/* Error codes shared by every module: negative ints, 0 for success, and a
 * strerror-style function to print them. */
#ifndef STARLING_ERROR_H
#define STARLING_ERROR_H

enum {
    SL_OK = 0,
    SL_EINVAL = -1,     /* an argument is out of its documented range */
    SL_ENOMEM = -2,     /* an allocation failed */
    SL_ETOOBIG = -3,    /* the value can never fit its bound (packet, field) */
    SL_EMALFORMED = -4, /* input bytes are not a valid encoding */
    SL_EVERSION = -5,   /* the input carries a wire version we do not speak */
    SL_ECLUSTER = -6,   /* the input belongs to another cluster label */
    SL_ENOTFOUND = -7,  /* no such member, service or key */
    SL_ESTATE = -8,     /* the call is not valid in the current state */
    SL_ESPACE = -9,     /* the output buffer is too small this time */
    SL_EAUTH = -10,     /* not authentic: no key opens it, or a signature does not verify */
    SL_ESTALE = -11,    /* a newer write of the same thing exists; this one does not win */
    SL_EFUTURE = -12,   /* stamped further in the future than the allowed clock skew */
    SL_EEXPIRED = -13,  /* older than the horizon before which history is forgotten */
    SL_EFULL = -14,     /* a configured limit (members, records, keys) is reached */
};

/* Returns a static, human-readable description of an SL_E* code. */
const char *sl_strerror(int err);

#endif
