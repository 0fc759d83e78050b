/* Console transport: the embedded default. One line per message,
 * "[bot -> +E164] text"; continuation lines of multi-line text are
 * indented by four spaces so every message starts with "[bot -> ". */
#include <stdio.h>
#include <stdlib.h>

#include "transport.h"

typedef struct console {
    FILE *out;
    unsigned long n;
} console;

static void put_indented(FILE *f, const char *s)
{
    for (; *s; s++) {
        putc(*s, f);
        if (*s == '\n')
            fputs("    ", f);
    }
}

static int console_send(void *impl, const wabot_outbound *m,
                        wabot_send_op *op)
{
    console *c = impl;
    FILE *f = c->out ? c->out : stdout;
    char id[32];
    flockfile(f);
    snprintf(id, sizeof id, "console-%lu", ++c->n);
    fprintf(f, "[bot -> %s] ", wabot_outbound_to(m));
    if (wabot_outbound_kind(m) == WABOT_OUT_MEDIA)
        fprintf(f, "[media %s] ", wabot_outbound_media_url(m));
    put_indented(f, wabot_outbound_text(m));
    size_t n = wabot_outbound_option_count(m);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s[%s] %s", i ? "  " : "\n    ",
                wabot_outbound_option_id(m, i),
                wabot_outbound_option_title(m, i));
    putc('\n', f);
    fflush(f);
    funlockfile(f);
    wabot_send_op_ok(op, id);
    return WABOT_OK;
}

static const wabot_transport_vtable console_vt = {
    WABOT_TRANSPORT_VTABLE_VERSION, console_send, free};

wabot_transport *wabot_transport_console_new(FILE *out)
{
    console *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->out = out;
    wabot_transport *t = wabot_transport_new(&console_vt, c, "console");
    if (!t)
        free(c);
    return t;
}
