/* Node metadata: what a member says about itself (zone, capacity, tags).
 *
 * The membership core carries metadata as an opaque, bounded byte string
 * (SL_SWIM_META_MAX). This module gives it a shape: a msgpack map encoded and
 * decoded here, strictly and with bounds on every field. */
#ifndef STARLING_META_H
#define STARLING_META_H

#include <stddef.h>
#include <stdint.h>

#define SL_META_ZONE_MAX 63
#define SL_META_TAGS_MAX 16
#define SL_META_TAG_KEY_MAX 63
#define SL_META_TAG_VALUE_MAX 127

typedef struct sl_meta_tag {
    char key[SL_META_TAG_KEY_MAX + 1];
    char value[SL_META_TAG_VALUE_MAX + 1];
} sl_meta_tag;

typedef struct sl_meta {
    char zone[SL_META_ZONE_MAX + 1];
    uint32_t slots;     /* replica slots (placement weight); 0 means "default 1" */
    uint32_t cpu_milli; /* 0 means unlimited */
    uint32_t mem_mb;    /* 0 means unlimited */
    uint32_t ntags;
    sl_meta_tag tags[SL_META_TAGS_MAX];
} sl_meta;

/* Encodes m into buf (capacity cap). Returns the length, or SL_ETOOBIG when it
 * does not fit. */
int sl_meta_encode(const sl_meta *m, uint8_t *buf, size_t cap);

/* Decodes buf into *m. Unknown keys are skipped. Returns 0, or SL_EMALFORMED
 * for bytes that are not a valid metadata map (too long fields included). An
 * empty buffer decodes to an all-default sl_meta. */
int sl_meta_decode(const uint8_t *buf, size_t len, sl_meta *m);

/* Sets or replaces tag key=value. Returns 0, SL_EINVAL for an over-long key or
 * value, or SL_ETOOBIG when there is no room for another tag. */
int sl_meta_set_tag(sl_meta *m, const char *key, const char *value);

#endif
