/* wabot-server: loadable modules and the option listings (--help,
 * --options-markdown), all from the library's option table. */
#ifndef SERVER_OPTIONS_H
#define SERVER_OPTIONS_H

#include <stdio.h>

#include <wabot.h>

/* dlopen every path of the comma-separated `spec` (WABOT_MODULES) and add
 * the module its wabot_module_entry() returns. 0, or -1 after printing why
 * to stderr. */
int server_modules_load(wabot_options *opts, const char *spec);
/* The options part of --help. */
void server_options_help(FILE *out, const wabot_options *opts);
/* doc/options.md. */
void server_options_markdown(FILE *out, const wabot_options *opts);
/* Every secret option (WABOT_ADMIN_TOKEN, WABOT_METRICS_TOKEN,
 * TWILIO_AUTH_TOKEN, ...) may instead name a file: <VARIABLE>_FILE=path
 * (a mounted secret); its contents, trailing whitespace cut, are the
 * value. Setting both is an error. 0, or -1 said on stderr. */
int server_secret_files_apply(wabot_options *opts);

#endif
