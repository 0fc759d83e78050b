/* The inbound message model and its accessors. */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "message.h"

static const char *names_type[] = {
    [WABOT_MSG_UNKNOWN] = "unknown",   [WABOT_MSG_TEXT] = "text",
    [WABOT_MSG_IMAGE] = "image",       [WABOT_MSG_AUDIO] = "audio",
    [WABOT_MSG_VIDEO] = "video",       [WABOT_MSG_DOCUMENT] = "document",
    [WABOT_MSG_STICKER] = "sticker",   [WABOT_MSG_LOCATION] = "location",
    [WABOT_MSG_BUTTON_REPLY] = "button_reply",
    [WABOT_MSG_LIST_REPLY] = "list_reply",
    [WABOT_MSG_CONTACTS] = "contacts", [WABOT_MSG_REACTION] = "reaction",
};
#define N_TYPES (sizeof names_type / sizeof names_type[0])

const char *wabot_msg_type_name(wabot_msg_type t)
{
    return (unsigned)t < N_TYPES ? names_type[t] : "unknown";
}

wabot_msg_type wabot_msg_type_from_name(const char *name)
{
    for (size_t i = 0; name && i < N_TYPES; i++)
        if (strcasecmp(name, names_type[i]) == 0)
            return (wabot_msg_type)i;
    return WABOT_MSG_UNKNOWN;
}

const char *wabot_provider_name(wabot_provider p)
{
    switch (p) {
    case WABOT_PROVIDER_TWILIO: return "twilio";
    case WABOT_PROVIDER_META: return "meta";
    case WABOT_PROVIDER_TEST: return "test";
    case WABOT_PROVIDER_UNKNOWN: break;
    }
    return "unknown";
}

wabot_message *wb_message_alloc(const wabot_allocator *a)
{
    wabot_message *m = wb_calloc(a, 1, sizeof *m);
    if (!m)
        return NULL;
    m->alloc = a;
    m->type = WABOT_MSG_TEXT;
    return m;
}

static int is_inline(const wabot_message *m, const char *p)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)m->inl;
    return a >= lo && a - lo < sizeof m->inl;
}

/* Free a string field unless it lives in m->inl (whose room a replaced
 * value keeps: a field set twice is rare and the room is small). */
static void field_free(wabot_message *m, char *p)
{
    if (!is_inline(m, p))
        wb_free(m->alloc, p);
}

int wb_message_setn(wabot_message *m, char **field, const char *s, size_t n)
{
    if (!s)
        n = 0;
    char *copy;
    if (n < sizeof m->inl - m->inl_used) {
        copy = m->inl + m->inl_used;
        m->inl_used += n + 1;
        if (n > 0)
            memcpy(copy, s, n);
        copy[n] = '\0';
    } else if (!(copy = wb_strndup(m->alloc, s ? s : "", n))) {
        return WABOT_ERR_NOMEM;
    }
    field_free(m, *field);
    *field = copy;
    return WABOT_OK;
}

static int set_str(wabot_message *m, char **field, const char *s)
{
    if (!m)
        return WABOT_ERR_INVAL;
    return wb_message_setn(m, field, s, s ? strlen(s) : 0);
}

int wb_message_add_media(wabot_message *m, const char *url, const char *type)
{
    wb_media *media = wb_realloc(m->alloc, m->media,
                                 (m->n_media + 1) * sizeof *media);
    if (!media)
        return WABOT_ERR_NOMEM;
    m->media = media;
    wb_media *it = &media[m->n_media];
    it->url = wb_strdup(m->alloc, url ? url : "");
    it->type = wb_strdup(m->alloc, type ? type : "");
    if (!it->url || !it->type) {
        wb_free(m->alloc, it->url);
        wb_free(m->alloc, it->type);
        return WABOT_ERR_NOMEM;
    }
    m->n_media++;
    return WABOT_OK;
}

void wabot_message_free(wabot_message *m)
{
    if (!m)
        return;
    const wabot_allocator *a = m->alloc;
    char **strs[] = {&m->id, &m->from, &m->to, &m->to_id, &m->profile_name,
                     &m->text, &m->payload, &m->payload_title,
                     &m->organization, &m->loc_name, &m->loc_address};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        field_free(m, *strs[i]);
    for (size_t i = 0; i < m->n_media; i++) {
        wb_free(a, m->media[i].url);
        wb_free(a, m->media[i].type);
    }
    wb_free(a, m->media);
    wb_free(a, m);
}

wabot_message *wabot_message_new(const char *id, const char *from,
                                 const char *to)
{
    char from164[20], to164[20] = "";
    if (!id || !*id || !from ||
        wb_e164_normalize(from, from164, sizeof from164) != WABOT_OK)
        return wb_null("wabot_message_new: empty id, or from is not an E.164 number");
    if (to && *to && wb_e164_normalize(to, to164, sizeof to164) != WABOT_OK)
        return wb_null("wabot_message_new: to is not an E.164 number");
    wabot_message *m = wb_message_alloc(NULL);
    if (!m)
        return wb_null("wabot_message_new: out of memory");
    m->provider = WABOT_PROVIDER_TEST;
    if (set_str(m, &m->id, id) || set_str(m, &m->from, from164) ||
        set_str(m, &m->to, to164)) {
        wabot_message_free(m);
        return wb_null("wabot_message_new: out of memory");
    }
    return m;
}

#define S(p) ((p) ? (p) : "")

wabot_provider wabot_message_provider(const wabot_message *m)
{
    return m ? m->provider : WABOT_PROVIDER_UNKNOWN;
}
const char *wabot_message_id(const wabot_message *m) { return m ? S(m->id) : ""; }
const char *wabot_message_from(const wabot_message *m) { return m ? S(m->from) : ""; }
const char *wabot_message_to(const wabot_message *m) { return m ? S(m->to) : ""; }
const char *wabot_message_to_id(const wabot_message *m) { return m ? S(m->to_id) : ""; }
const char *wabot_message_profile_name(const wabot_message *m)
{
    return m ? S(m->profile_name) : "";
}
wabot_msg_type wabot_message_type(const wabot_message *m)
{
    return m ? m->type : WABOT_MSG_UNKNOWN;
}
const char *wabot_message_text(const wabot_message *m) { return m ? S(m->text) : ""; }
const char *wabot_message_payload(const wabot_message *m) { return m ? S(m->payload) : ""; }
const char *wabot_message_payload_title(const wabot_message *m)
{
    return m ? S(m->payload_title) : "";
}
size_t wabot_message_media_count(const wabot_message *m) { return m ? m->n_media : 0; }
const char *wabot_message_media_url(const wabot_message *m, size_t i)
{
    return m && i < m->n_media ? m->media[i].url : NULL;
}
const char *wabot_message_media_type(const wabot_message *m, size_t i)
{
    return m && i < m->n_media ? m->media[i].type : NULL;
}
int wabot_message_location(const wabot_message *m, double *lat, double *lon)
{
    if (!m || !m->has_location)
        return 0;
    if (lat)
        *lat = m->lat;
    if (lon)
        *lon = m->lon;
    return 1;
}
const char *wabot_message_location_name(const wabot_message *m)
{
    return m ? S(m->loc_name) : "";
}
const char *wabot_message_location_address(const wabot_message *m)
{
    return m ? S(m->loc_address) : "";
}
int64_t wabot_message_timestamp_ms(const wabot_message *m)
{
    return m ? m->timestamp_ms : 0;
}
const char *wabot_message_organization(const wabot_message *m)
{
    return m ? S(m->organization) : "";
}

int wabot_message_set_type(wabot_message *m, wabot_msg_type t)
{
    if (!m || (unsigned)t >= N_TYPES)
        return WABOT_ERR_INVAL;
    m->type = t;
    return WABOT_OK;
}

int wabot_message_set_text(wabot_message *m, const char *text)
{
    return set_str(m, m ? &m->text : NULL, text);
}

int wabot_message_set_payload(wabot_message *m, const char *payload,
                              const char *title)
{
    if (!m || !payload)
        return WABOT_ERR_INVAL;
    int rc = set_str(m, &m->payload, payload);
    if (rc == WABOT_OK)
        rc = set_str(m, &m->payload_title, title);
    return rc;
}

int wabot_message_set_profile_name(wabot_message *m, const char *name)
{
    return set_str(m, m ? &m->profile_name : NULL, name);
}

int wabot_message_add_media(wabot_message *m, const char *url,
                            const char *content_type)
{
    if (!m || !url || !*url)
        return WABOT_ERR_INVAL;
    return wb_message_add_media(m, url, content_type);
}

int wabot_message_set_location(wabot_message *m, double lat, double lon,
                               const char *name, const char *address)
{
    if (!m || !(lat >= -90 && lat <= 90) || !(lon >= -180 && lon <= 180))
        return WABOT_ERR_INVAL;
    int rc = set_str(m, &m->loc_name, name);
    if (rc == WABOT_OK)
        rc = set_str(m, &m->loc_address, address);
    if (rc != WABOT_OK)
        return rc;
    m->lat = lat;
    m->lon = lon;
    m->has_location = 1;
    return WABOT_OK;
}

int wabot_message_set_timestamp_ms(wabot_message *m, int64_t ts)
{
    if (!m || ts < 0)
        return WABOT_ERR_INVAL;
    m->timestamp_ms = ts;
    return WABOT_OK;
}

int wabot_message_set_organization(wabot_message *m, const char *org)
{
    return set_str(m, m ? &m->organization : NULL, org);
}
