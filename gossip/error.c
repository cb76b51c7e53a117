/* sl_strerror: the one place error codes become words. */
#include <string.h>

#include "starling/error.h"

int sl_is_own_error(int err)
{
    return err <= SL_EINVAL && err >= SL_E__LAST;
}

const char *sl_strerror(int err)
{
    switch (err) {
    case SL_OK: return "success";
    case SL_EINVAL: return "invalid argument";
    case SL_ENOMEM: return "out of memory";
    case SL_ETOOBIG: return "too large to ever fit";
    case SL_EMALFORMED: return "malformed input";
    case SL_EVERSION: return "unsupported wire version";
    case SL_ECLUSTER: return "belongs to another cluster";
    case SL_ENOTFOUND: return "not found";
    case SL_ESTATE: return "not valid in the current state";
    case SL_ESPACE: return "output buffer too small";
    case SL_EAUTH: return "not authentic (unknown key or bad signature)";
    case SL_ESTALE: return "a newer write exists";
    case SL_EFUTURE: return "stamped too far in the future";
    case SL_EEXPIRED: return "older than the tombstone horizon";
    case SL_EFULL: return "a configured limit is reached";
    default: break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err); /* a negated errno, or a libuv code (the same on Unix) */
    return "unknown error";
}
