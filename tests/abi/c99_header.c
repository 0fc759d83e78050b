/* The public headers compile as pedantic C99 (hosts are not all C11). */
#include <wabot.h>

#include <stdio.h>

int main(void)
{
    printf("libwabot %s from C99\n", wabot_version_str());
    return wabot_version_num() == WABOT_VERSION_NUM ? 0 : 1;
}
