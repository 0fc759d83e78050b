/* The migration module's descriptor (lib/migration/migration.c). Private. */
#ifndef WB_MIGRATION_H
#define WB_MIGRATION_H

#include "wabot/migration.h"
#include "wabot/module.h"

extern const wabot_module_def wb_migration_module;

#endif
