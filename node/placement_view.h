/* Internal: the members placement sees, from one core's view.
 *
 * Alive and suspect members count (a suspect may only be slow); dead and
 * left ones do not; a member whose metadata carries the draining tag gets
 * nothing new. Capacity comes from the metadata: slots (the weight), cpu
 * and memory. A member whose metadata does not decode, or is out of bounds
 * (slots above SL_PLACEMENT_WEIGHT_MAX), is left out and counted: one bad
 * member must never stop placement for everyone. No I/O: a function of the
 * core's state. */
#ifndef STARLING_NODE_PLACEMENT_VIEW_H
#define STARLING_NODE_PLACEMENT_VIEW_H

#include <stddef.h>

#include "starling/meta.h"
#include "starling/placement.h"
#include "starling/swim.h"

/* The metadata tag a draining member sets: placement gives it nothing. */
#define SL__TAG_DRAINING "starling.draining"

typedef struct sl__placement_view {
    sl_placement_member *pm; /* names and zones point into the core and meta */
    sl_meta *meta;
    size_t n;
    int self;                  /* our index in pm, or -1 */
    size_t invalid;            /* live members left out for their metadata */
    const char *first_invalid; /* the name of one of them, for the log */
} sl__placement_view;

/* Fills *v from the core's members. Valid until the core changes; free with
 * sl__placement_view_free. Returns 0 or SL_ENOMEM. */
int sl__placement_view_build(const sl_swim *swim, sl__placement_view *v);

void sl__placement_view_free(sl__placement_view *v);

#endif
