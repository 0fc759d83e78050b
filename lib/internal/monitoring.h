/* The monitoring module's descriptor (lib/monitoring/monitoring.c). */
#ifndef WB_MONITORING_H
#define WB_MONITORING_H

#include "wabot/module.h"

extern const wabot_module_def wb_monitoring_module;

#endif
