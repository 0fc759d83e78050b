/* STUB until the HTTP module lands. */
#include "wabot/http.h"
void wabot_http_client_free(wabot_http_client *c) { (void)c; }
