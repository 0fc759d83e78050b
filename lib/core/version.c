#include "wabot/core.h"

unsigned wabot_version_num(void)
{
    return WABOT_VERSION_NUM;
}

const char *wabot_version_str(void)
{
    return WABOT_VERSION_STR;
}
