/* The option table and configuration helpers. Private. */
#ifndef WB_OPTIONS_TABLE_H
#define WB_OPTIONS_TABLE_H

#include "ctx.h"

typedef struct wb_option_def {
    wabot_option id;
    const char *name; /* enum name without WABOT_OPT_ */
    int is_str;
    size_t offset;    /* into wb_config */
    int64_t int_default, int_min, int_max;
    const char *str_default;
} wb_option_def;

const wb_option_def *wb_option_find(wabot_option id);
int wb_config_init(wb_config *c, const wabot_allocator *a);
int wb_config_copy(wb_config *dst, const wb_config *src,
                   const wabot_allocator *a);
void wb_config_free(wb_config *c, const wabot_allocator *a);

#endif
