/*
 * Conversation state and customer profiles, outside a turn (inside a turn
 * use the wabot_turn_* state functions of pipeline.h).
 *
 * A conversation is keyed by (organisation, customer number) and holds a
 * state name, session data (a JSON object) and a version that grows on every
 * save. A customer profile holds the provider's profile name, the time of
 * the customer's last inbound message and the opted-out flag.
 *
 * All functions are thread-safe. Snapshot objects returned here are owned by
 * the caller and independent of the context: free each with its own
 * function (wabot_conversation_free, wabot_customer_free).
 */
#ifndef WABOT_STATE_H
#define WABOT_STATE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wabot_conversation wabot_conversation;
typedef struct wabot_customer wabot_customer;

/** Read a conversation. On WABOT_OK *out owns a snapshot (free with
 *  wabot_conversation_free). WABOT_ERR_NOT_FOUND if there is none (or it
 *  expired), WABOT_ERR_PARSE if the stored value is corrupt (the next turn
 *  of the customer overwrites it), WABOT_ERR_STORAGE, WABOT_ERR_INVAL. */
WABOT_API int wabot_conversation_get(wabot_ctx *ctx, const char *org,
                                     const char *customer,
                                     wabot_conversation **out);
WABOT_API const char *wabot_conversation_state(const wabot_conversation *c);
/** Session as compact JSON object text (borrowed from c). */
WABOT_API const char *wabot_conversation_session(const wabot_conversation *c);
WABOT_API uint64_t wabot_conversation_version(const wabot_conversation *c);
WABOT_API void wabot_conversation_free(wabot_conversation *c);
/** Delete a conversation (state and session). WABOT_ERR_NOT_FOUND if none. */
WABOT_API int wabot_conversation_reset(wabot_ctx *ctx, const char *org,
                                       const char *customer);

/** Read a customer profile. On WABOT_OK *out owns a snapshot (free with
 *  wabot_customer_free). WABOT_ERR_NOT_FOUND if the customer never
 *  wrote and was never created; WABOT_ERR_PARSE if the stored profile is
 *  corrupt; WABOT_ERR_STORAGE, WABOT_ERR_INVAL. */
WABOT_API int wabot_customer_get(wabot_ctx *ctx, const char *org,
                                 const char *phone, wabot_customer **out);
WABOT_API const char *wabot_customer_phone(const wabot_customer *c);
WABOT_API const char *wabot_customer_name(const wabot_customer *c);
/** ms since the epoch of the last inbound message; 0 if never. */
WABOT_API int64_t wabot_customer_last_inbound_ms(const wabot_customer *c);
WABOT_API int wabot_customer_opted_out(const wabot_customer *c);
WABOT_API void wabot_customer_free(wabot_customer *c);
/** Set or clear the opted-out flag (creates the profile if needed). */
WABOT_API int wabot_customer_set_opted_out(wabot_ctx *ctx, const char *org,
                                           const char *phone, int opted_out);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_STATE_H */
