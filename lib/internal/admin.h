/* The admin module's descriptor (lib/admin/admin.c). Private. */
#ifndef WB_ADMIN_H
#define WB_ADMIN_H

#include "wabot/admin.h"
#include "wabot/module.h"

extern const wabot_module_def wb_admin_module;

#endif
