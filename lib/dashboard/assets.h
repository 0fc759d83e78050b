/* The dashboard's files, compiled in at build time
 * (lib/dashboard/embed_assets.py writes dashboard_assets.c). Private. */
#ifndef WB_DASHBOARD_ASSETS_H
#define WB_DASHBOARD_ASSETS_H

#include <stddef.h>

typedef struct wb_dashboard_asset {
    const char *name;         /* base name: "index.html", "app.js" */
    const char *content_type; /* with charset for text */
    const unsigned char *data;
    size_t len;
    const char *etag; /* strong, quoted: "\"<32 hex>\"" */
} wb_dashboard_asset;

extern const wb_dashboard_asset wb_dashboard_assets[];
extern const size_t wb_dashboard_asset_count;

#endif
