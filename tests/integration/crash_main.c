/* The frame of the crash tests (crash_main.h). */
#include "crash_main.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int missing(void)
{
    const char *ci = getenv("CI");
    return ci != NULL && strcmp(ci, "true") == 0 ? 1 : 77;
}

int crash_main(int argc, char **argv, crash_env *env, const fp_config *fp_cfg,
               Suite *su)
{
    env->server_path = argc > 1 ? argv[1] : getenv("WABOT_SERVER");
    if (env->server_path == NULL || access(env->server_path, X_OK) != 0) {
        fprintf(stderr, "no wabot-server (%s)\n",
                env->server_path ? env->server_path
                                 : "pass its path or WABOT_SERVER");
        return missing();
    }
    if (!rh_available())
        return missing();
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rh_start(&env->redis, 1) != 0 || !(env->fp = fp_start(fp_cfg))) {
        fprintf(stderr, "cannot start redis-server or the fake provider\n");
        return 1;
    }
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fp_stop(env->fp);
    rh_destroy(&env->redis);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
