// The public headers must be usable from C++ (-Wall -Wextra -Werror
// -pedantic): extern "C", no C-only constructs.
#include <wabot.h>

#include <cstdio>

int main()
{
    wabot_ctx *ctx = nullptr;
    if (wabot_ctx_new(&ctx, nullptr) != WABOT_OK)
        return 1;
    wabot_ctx_free(ctx);
    std::printf("libwabot %s from C++\n", wabot_version_str());
    return wabot_version_num() == WABOT_VERSION_NUM ? 0 : 1;
}
