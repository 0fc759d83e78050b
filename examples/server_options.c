/* wabot-server's configuration from the library's option table: loadable
 * modules (WABOT_MODULES), the options part of --help, and doc/options.md
 * (--options-markdown; a test keeps the committed page in step). Nothing
 * here knows an option by name: the table is the only list. */
#include <ctype.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_options.h"

int server_modules_load(wabot_options *opts, const char *spec)
{
    if (spec == NULL || spec[0] == '\0')
        return 0;
    char *list = strdup(spec);
    if (list == NULL)
        return -1;
    int rc = 0;
    for (char *save = NULL, *path = strtok_r(list, ",", &save);
         path != NULL && rc == 0; path = strtok_r(NULL, ",", &save)) {
        /* Never closed: the module's code must outlive every context. */
        void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (so == NULL) {
            fprintf(stderr, "wabot-server: WABOT_MODULES: %s\n", dlerror());
            rc = -1;
            break;
        }
        wabot_module_entry_fn entry;
        *(void **)&entry = dlsym(so, WABOT_MODULE_ENTRY_SYMBOL);
        const wabot_module_def *def = entry ? entry() : NULL;
        if (def == NULL) {
            fprintf(stderr, "wabot-server: WABOT_MODULES: %s has no %s() "
                    "returning a module\n", path, WABOT_MODULE_ENTRY_SYMBOL);
            rc = -1;
        } else if (wabot_options_add_module(opts, def, NULL) != WABOT_OK) {
            fprintf(stderr, "wabot-server: WABOT_MODULES: %s: %s\n", path,
                    wabot_options_errmsg(opts));
            rc = -1;
        }
    }
    free(list);
    return rc;
}

/* What a value of option i looks like: N, TEXT, SIZE, a|b|c, ... */
static void value_form(const wabot_options *o, size_t i, char *buf,
                       size_t len)
{
    switch (wabot_options_type(o, i)) {
    case WABOT_OPTION_STRING: snprintf(buf, len, "TEXT"); return;
    case WABOT_OPTION_BOOL: snprintf(buf, len, "BOOL"); return;
    case WABOT_OPTION_DURATION: snprintf(buf, len, "DURATION"); return;
    case WABOT_OPTION_BYTES: snprintf(buf, len, "SIZE"); return;
    case WABOT_OPTION_ENUM: {
        size_t used = 0;
        buf[0] = '\0';
        for (size_t j = 0; wabot_options_choice(o, i, j); j++) {
            int w = snprintf(buf + used, len - used, "%s%s", j ? "|" : "",
                             wabot_options_choice(o, i, j));
            if (w < 0 || (size_t)w >= len - used)
                break;
            used += (size_t)w;
        }
        return;
    }
    default: snprintf(buf, len, "N"); return;
    }
}

/* The default as shown to people: secrets and empty texts say so. */
static void shown_default(const wabot_options *o, size_t i, char *buf,
                          size_t len)
{
    wabot_options_format(o, i, 1, buf, len);
    if (buf[0] == '\0')
        snprintf(buf, len, "empty");
}

/* Print text word-wrapped at `width` columns, every line indented. */
static void wrap(FILE *out, const char *text, int indent, int width)
{
    int col = 0;
    while (*text) {
        size_t word = strcspn(text, " ");
        if (col > indent && col + 1 + (int)word > width) {
            fputc('\n', out);
            col = 0;
        }
        if (col == 0)
            col = fprintf(out, "%*s", indent, "");
        else
            col += fprintf(out, " ");
        col += fprintf(out, "%.*s", (int)word, text);
        text += word;
        while (*text == ' ')
            text++;
    }
    fputc('\n', out);
}

static void help_row(FILE *out, const wabot_options *o, size_t i);
static void markdown_row(FILE *out, const wabot_options *o, size_t i);

/* 1 if option i is the first of its group: groups are listed in the order
 * they first appear, each with all of its options. */
static int first_of_group(const wabot_options *o, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (strcmp(wabot_options_group(o, k), wabot_options_group(o, i)) == 0)
            return 0;
    return 1;
}

void server_options_help(FILE *out, const wabot_options *o)
{
    fputs("\nLibrary options, by environment variable (WABOT_OPT_<NAME> "
          "also works;\nvalues: 30s/5m/24h durations, 16KiB/1MiB sizes, "
          "true/false; [org]: may\ndiffer per organisation; "
          "doc/options.md has the table;\na secret option may name a file "
          "instead: <VARIABLE>_FILE=path):\n", out);
    size_t n = wabot_options_count(o);
    for (size_t g = 0; g < n; g++) {
        if (!first_of_group(o, g))
            continue;
        const char *group = wabot_options_group(o, g);
        fprintf(out, " %s:\n", group);
        for (size_t i = g; i < n; i++)
            if (strcmp(wabot_options_group(o, i), group) == 0)
                help_row(out, o, i);
    }
}

static void help_row(FILE *out, const wabot_options *o, size_t i)
{
    char form[96], dflt[96];
    value_form(o, i, form, sizeof form);
    shown_default(o, i, dflt, sizeof dflt);
    if (strlen(dflt) > 24)
        snprintf(dflt + 20, sizeof dflt - 20, "...");
    fprintf(out, "  %s=%s (default %s)%s\n", wabot_options_env(o, i),
            form, dflt,
            (wabot_options_flags(o, i) & WABOT_OPTION_PER_ORG) ? " [org]"
                                                                : "");
    /* A variable of its own (TWILIO_AUTH_TOKEN): say the other spelling. */
    char legacy[160] = "WABOT_OPT_", derived[160] = "WABOT_";
    size_t at = strlen(legacy);
    for (const char *p = wabot_options_name(o, i);
         *p && at + 1 < sizeof legacy; p++)
        legacy[at++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    legacy[at] = '\0';
    snprintf(derived + 6, sizeof derived - 6, "%s", legacy + 10);
    if (strcmp(derived, wabot_options_env(o, i)) != 0)
        fprintf(out, "      (or %s)\n", legacy);
    wrap(out, wabot_options_doc(o, i), 6, 79);
}

/* Markdown table cells must not contain '|' or newlines. */
static void cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '\n')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
}

static void range(const wabot_options *o, size_t i, char *buf, size_t len)
{
    int64_t lo, hi;
    buf[0] = '\0';
    if (wabot_options_range(o, i, &lo, &hi) == WABOT_OK)
        snprintf(buf, len, "%" PRId64 " .. %" PRId64, lo, hi);
    else if (wabot_options_type(o, i) == WABOT_OPTION_ENUM)
        value_form(o, i, buf, len);
}

void server_options_markdown(FILE *out, const wabot_options *o)
{
    fputs("# Options\n\n"
          "<!-- Generated by `wabot-server --options-markdown` from the "
          "library's option\n     table; the `options-doc` test fails when "
          "this page and the table differ. -->\n\n"
          "Every option of the library is one row of one table "
          "(`lib/core/option_defs.c`);\nmodules add theirs "
          "(`wabot_module_def.options`, listed as `module.name`). Set\n"
          "them with the typed setters (`wabot_options_set_int/_str`), by "
          "name from text\n(`wabot_options_set`), or from the environment "
          "(`wabot_options_apply_env`, which\nreads the variable below or "
          "`WABOT_OPT_<NAME>`). List them with\n`wabot_options_count` and "
          "`wabot_options_name/_type/_doc/_env/_format`\n"
          "(`include/wabot/options.h`).\n\n"
          "Values as text: durations in milliseconds or with a unit (`250ms`, "
          "`30s`, `5m`,\n`24h`, `7d`); sizes in bytes or `16KiB`, `1MiB`, "
          "`1GiB`; booleans `true`/`false`\n(`1`/`0`, `yes`/`no`, "
          "`on`/`off`); enums by name.\n\n"
          "Options marked *org* may be overridden per organisation "
          "(`wabot_options_set_org`\nbefore the context exists, "
          "`wabot_ctx_set_org_option` while it runs); a turn reads\nthem "
          "through its organisation.\n",
          out);
    size_t n = wabot_options_count(o);
    for (size_t g = 0; g < n; g++) {
        if (!first_of_group(o, g))
            continue;
        const char *group = wabot_options_group(o, g);
        fprintf(out, "\n## %s\n\n", group);
        fputs("| option | environment | type | default | range | "
              "description |\n|---|---|---|---|---|---|\n", out);
        for (size_t i = g; i < n; i++)
            if (strcmp(wabot_options_group(o, i), group) == 0)
                markdown_row(out, o, i);
    }
}

static void markdown_row(FILE *out, const wabot_options *o, size_t i)
{
    char form[96], dflt[8192], rng[96];
    value_form(o, i, form, sizeof form);
    if (wabot_options_type(o, i) == WABOT_OPTION_ENUM)
        snprintf(form, sizeof form, "ENUM"); /* the choices are the range */
    shown_default(o, i, dflt, sizeof dflt);
    range(o, i, rng, sizeof rng);
    uint32_t flags = wabot_options_flags(o, i);
    fprintf(out, "| `%s` | `%s` | %s%s%s | ", wabot_options_name(o, i),
            wabot_options_env(o, i), form,
            (flags & WABOT_OPTION_PER_ORG) ? ", org" : "",
            (flags & WABOT_OPTION_SECRET) ? ", secret" : "");
    cell(out, dflt);
    fputs(" | ", out);
    cell(out, rng);
    fputs(" | ", out);
    cell(out, wabot_options_doc(o, i));
    fputs(" |\n", out);
}

/* The contents of `path` without trailing whitespace (a newline from an
 * editor or `echo`), malloc'ed; NULL (said on stderr) when it cannot be
 * read or holds over 64 KiB. */
static char *secret_file(const char *var, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = f != NULL ? malloc(65537) : NULL;
    size_t n = buf != NULL ? fread(buf, 1, 65537, f) : 0;
    int bad = f == NULL || buf == NULL || ferror(f) || n > 65536;
    if (f != NULL)
        fclose(f);
    if (bad) {
        fprintf(stderr, "wabot-server: %s: cannot read %s (or over 64 KiB)\n",
                var, path);
        free(buf);
        return NULL;
    }
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    return buf;
}

int server_secret_files_apply(wabot_options *o)
{
    size_t n = wabot_options_count(o);
    for (size_t i = 0; i < n; i++) {
        if (!(wabot_options_flags(o, i) & WABOT_OPTION_SECRET))
            continue;
        const char *env = wabot_options_env(o, i);
        char var[192];
        if (env == NULL ||
            snprintf(var, sizeof var, "%s_FILE", env) >= (int)sizeof var)
            continue;
        const char *path = getenv(var);
        if (path == NULL || path[0] == '\0')
            continue;
        if (getenv(env) != NULL) {
            fprintf(stderr, "wabot-server: set %s or %s, not both\n", env,
                    var);
            return -1;
        }
        char *value = secret_file(var, path);
        if (value == NULL)
            return -1;
        int rc = wabot_options_set(o, wabot_options_name(o, i), value);
        memset(value, 0, strlen(value));
        free(value);
        if (rc != WABOT_OK) {
            fprintf(stderr, "wabot-server: %s: %s\n", var,
                    wabot_options_errmsg(o));
            return -1;
        }
    }
    return 0;
}
