/* The dashboard module's descriptor (lib/dashboard/dashboard.c). */
#ifndef WB_DASHBOARD_H
#define WB_DASHBOARD_H

#include "wabot/module.h"

extern const wabot_module_def wb_dashboard_module;

#endif
