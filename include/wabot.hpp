/*
 * libwabot for C++17: a header-only wrapper, inline over the C ABI (it has
 * no ABI of its own; see doc/cpp.md).
 *
 *  - RAII handles, move-only: wabot::options, wabot::bot, wabot::message,
 *    wabot::transport, wabot::storage, wabot::redis.
 *  - std::string_view in, std::string out (owned C results are freed
 *    before returning).
 *  - Capturing lambdas as middlewares, routes, error handlers, HTTP routes
 *    and job workers; the bot owns them (freed with the context).
 *  - Errors are exceptions: wabot::error carries the wabot_status code and
 *    the library's detail message. An exception thrown by a callback does
 *    not cross the C code: it becomes a failed turn (status
 *    WABOT_ERR_HANDLER, or the code of a wabot::error), and the error
 *    handler receives it as a wabot::error whose nested() is the original
 *    std::exception_ptr.
 *
 * Thread rules are those of the C API (doc/threading.md).
 */
#ifndef WABOT_HPP
#define WABOT_HPP

#include <wabot.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wabot {

/* ------------------------------------------------------------------ */
/* Errors                                                              */

/** A failed libwabot call: code() is the wabot_status, detail() the
 *  library's detail message (or its description of the code). */
class error : public std::runtime_error {
public:
    error(int code, std::string detail,
          std::exception_ptr nested = nullptr)
        : std::runtime_error(std::string(wabot_strerror(code)) +
                             (detail.empty() ? "" : ": " + detail)),
          code_(code), detail_(std::move(detail)),
          nested_(std::move(nested)) {}
    int code() const noexcept { return code_; }
    const std::string &detail() const noexcept { return detail_; }
    /** The C++ exception a callback threw, when that failed the turn. */
    const std::exception_ptr &nested() const noexcept { return nested_; }

private:
    int code_;
    std::string detail_;
    std::exception_ptr nested_;
};

namespace detail {

inline std::string str(const char *s) { return s ? std::string(s) : std::string(); }

/* Copy a string_view into a NUL-terminated string for the C API. */
class cstr {
public:
    explicit cstr(std::string_view v) : s_(v) {}
    const char *get() const { return s_.c_str(); }

private:
    std::string s_;
};

inline int check(int rc, const wabot_ctx *ctx)
{
    if (rc < 0)
        throw error(rc, ctx ? str(wabot_ctx_errmsg(ctx)) : std::string());
    return rc;
}

inline int check_opts(int rc, const wabot_options *o)
{
    if (rc < 0)
        throw error(rc, str(wabot_options_errmsg(o)));
    return rc;
}

/* The status a C++ exception becomes when it reaches the C side. */
inline int status_of(std::exception_ptr e) noexcept
{
    try {
        std::rethrow_exception(e);
    } catch (const error &err) {
        return err.code() < 0 ? err.code() : WABOT_ERR_HANDLER;
    } catch (...) {
        return WABOT_ERR_HANDLER;
    }
}

/* The exception of the turn running on this thread, for the error
 * handler (a callback's exception must not unwind through C frames). */
inline std::exception_ptr &pending()
{
    thread_local std::exception_ptr e;
    return e;
}

template <class F> void destroy_fn(void *ud) { delete static_cast<F *>(ud); }

} // namespace detail

/* ------------------------------------------------------------------ */
/* Messages                                                            */

/** A message read through its accessors; borrowed (from a turn: valid
 *  during the callback) unless made by message::make(). */
class message_view {
public:
    explicit message_view(const wabot_message *m) : m_(m) {}
    const wabot_message *get() const { return m_; }
    std::string id() const { return detail::str(wabot_message_id(m_)); }
    std::string from() const { return detail::str(wabot_message_from(m_)); }
    std::string to() const { return detail::str(wabot_message_to(m_)); }
    std::string text() const { return detail::str(wabot_message_text(m_)); }
    std::string payload() const { return detail::str(wabot_message_payload(m_)); }
    std::string profile_name() const
    {
        return detail::str(wabot_message_profile_name(m_));
    }
    std::string organization() const
    {
        return detail::str(wabot_message_organization(m_));
    }
    wabot_msg_type type() const { return wabot_message_type(m_); }
    std::string provider() const
    {
        return detail::str(wabot_provider_name(wabot_message_provider(m_)));
    }
    std::size_t media_count() const { return wabot_message_media_count(m_); }
    std::string media_url(std::size_t i) const
    {
        return detail::str(wabot_message_media_url(m_, i));
    }
    std::string media_type(std::size_t i) const
    {
        return detail::str(wabot_message_media_type(m_, i));
    }
    std::string to_id() const { return detail::str(wabot_message_to_id(m_)); }
    std::string payload_title() const
    {
        return detail::str(wabot_message_payload_title(m_));
    }
    std::int64_t timestamp_ms() const { return wabot_message_timestamp_ms(m_); }
    /** (lat, lon) when the message carries a location. */
    std::optional<std::pair<double, double>> location() const
    {
        double lat = 0, lon = 0;
        if (!wabot_message_location(m_, &lat, &lon))
            return std::nullopt;
        return std::make_pair(lat, lon);
    }
    std::string location_name() const
    {
        return detail::str(wabot_message_location_name(m_));
    }
    std::string location_address() const
    {
        return detail::str(wabot_message_location_address(m_));
    }

protected:
    const wabot_message *m_;
};

/** An owned message for bot::handle_message(). */
class message : public message_view {
public:
    static message make(std::string_view id, std::string_view from,
                        std::string_view to = {})
    {
        wabot_message *m = wabot_message_new(detail::cstr(id).get(),
                                             detail::cstr(from).get(),
                                             detail::cstr(to).get());
        if (!m)
            throw error(WABOT_ERR_INVAL, "wabot_message_new: bad id or sender");
        return message(m);
    }
    message(message &&o) noexcept : message_view(o.m_) { o.m_ = nullptr; }
    message &operator=(message &&o) noexcept
    {
        std::swap(m_, o.m_);
        return *this;
    }
    message(const message &) = delete;
    message &operator=(const message &) = delete;
    ~message() { wabot_message_free(mut()); }

    message &text(std::string_view t)
    {
        set(wabot_message_set_text(mut(), detail::cstr(t).get()));
        return *this;
    }
    message &type(wabot_msg_type t)
    {
        set(wabot_message_set_type(mut(), t));
        return *this;
    }
    message &payload(std::string_view p, std::string_view title = {})
    {
        set(wabot_message_set_payload(mut(), detail::cstr(p).get(),
                                      detail::cstr(title).get()));
        return *this;
    }
    message &profile_name(std::string_view n)
    {
        set(wabot_message_set_profile_name(mut(), detail::cstr(n).get()));
        return *this;
    }
    message &organization(std::string_view org)
    {
        set(wabot_message_set_organization(mut(), detail::cstr(org).get()));
        return *this;
    }
    message &timestamp_ms(std::int64_t ts)
    {
        set(wabot_message_set_timestamp_ms(mut(), ts));
        return *this;
    }
    message &add_media(std::string_view url, std::string_view content_type)
    {
        set(wabot_message_add_media(mut(), detail::cstr(url).get(),
                                    detail::cstr(content_type).get()));
        return *this;
    }
    message &location(double lat, double lon, std::string_view name = {},
                      std::string_view address = {})
    {
        set(wabot_message_set_location(mut(), lat, lon, detail::cstr(name).get(),
                                       detail::cstr(address).get()));
        return *this;
    }
    using message_view::location;
    using message_view::organization;
    using message_view::timestamp_ms;
    using message_view::payload;
    using message_view::profile_name;
    using message_view::text;
    using message_view::type;

private:
    explicit message(wabot_message *m) : message_view(m) {}
    wabot_message *mut() { return const_cast<wabot_message *>(m_); }
    static void set(int rc)
    {
        if (rc < 0)
            throw error(rc, "message setter");
    }
};

/** A snapshot of an outbound message (what a transport sends). */
struct outbound {
    std::string id, kind, to, from, organization, text, media_url,
        template_name, template_language, category, provider, correlation_id,
        in_reply_to, list_button, list_section;
    std::vector<std::pair<std::string, std::string>> options;
    std::vector<std::string> descriptions; /* of list rows, by index */
    std::vector<std::string> params;       /* template parameters */
    std::string json;                      /* wabot_outbound_to_json */

    explicit outbound(const wabot_outbound *o)
        : id(detail::str(wabot_outbound_id(o))),
          kind(detail::str(wabot_out_kind_name(wabot_outbound_kind(o)))),
          to(detail::str(wabot_outbound_to(o))),
          from(detail::str(wabot_outbound_from(o))),
          organization(detail::str(wabot_outbound_organization(o))),
          text(detail::str(wabot_outbound_text(o))),
          media_url(detail::str(wabot_outbound_media_url(o))),
          template_name(detail::str(wabot_outbound_template_name(o)))
    {
        for (std::size_t i = 0; i < wabot_outbound_option_count(o); i++)
            options.emplace_back(detail::str(wabot_outbound_option_id(o, i)),
                                 detail::str(wabot_outbound_option_title(o, i)));
        template_language = detail::str(wabot_outbound_template_language(o));
        category = detail::str(wabot_out_category_name(wabot_outbound_category(o)));
        provider = detail::str(wabot_provider_name(wabot_outbound_provider(o)));
        correlation_id = detail::str(wabot_outbound_correlation_id(o));
        in_reply_to = detail::str(wabot_outbound_in_reply_to(o));
        list_button = detail::str(wabot_outbound_list_button(o));
        list_section = detail::str(wabot_outbound_list_section(o));
        for (std::size_t i = 0; i < wabot_outbound_option_count(o); i++)
            descriptions.push_back(detail::str(wabot_outbound_option_description(o, i)));
        for (std::size_t i = 0; i < wabot_outbound_param_count(o); i++)
            params.push_back(detail::str(wabot_outbound_param(o, i)));
        char *j = wabot_outbound_to_json(o);
        json = detail::str(j);
        wabot_free(j);
    }
};

/* ------------------------------------------------------------------ */
/* The turn                                                            */

using choices = std::vector<std::pair<std::string, std::string>>;

/** One message's trip through the pipeline (valid during the callback). */
class turn {
public:
    explicit turn(wabot_turn *t) : t_(t) {}
    wabot_turn *get() const { return t_; }

    message_view message() const { return message_view(wabot_turn_message(t_)); }
    std::string text() const
    {
        return detail::str(wabot_message_text(wabot_turn_message(t_)));
    }
    std::string customer() const { return detail::str(wabot_turn_customer(t_)); }
    std::string customer_name() const
    {
        return detail::str(wabot_turn_customer_name(t_));
    }
    std::string organization() const
    {
        return detail::str(wabot_turn_organization(t_));
    }
    std::string capture(std::size_t i) const
    {
        return detail::str(wabot_turn_capture(t_, i));
    }
    std::size_t capture_count() const { return wabot_turn_capture_count(t_); }

    std::string state() const { return detail::str(wabot_turn_state(t_)); }
    void set_state(std::string_view s) { chk(wabot_turn_set_state(t_, detail::cstr(s).get())); }

    std::optional<std::string> session_str(std::string_view key) const
    {
        const char *v = wabot_turn_session_str(t_, detail::cstr(key).get());
        return v ? std::optional<std::string>(v) : std::nullopt;
    }
    std::int64_t session_int(std::string_view key, std::int64_t dflt = 0) const
    {
        return wabot_turn_session_int(t_, detail::cstr(key).get(), dflt);
    }
    void session_set(std::string_view key, std::string_view v)
    {
        chk(wabot_turn_session_set_str(t_, detail::cstr(key).get(),
                                       detail::cstr(v).get()));
    }
    void session_set(std::string_view key, std::int64_t v)
    {
        chk(wabot_turn_session_set_int(t_, detail::cstr(key).get(), v));
    }
    void session_set(std::string_view key, int v) { session_set(key, std::int64_t(v)); }
    void session_set_json(std::string_view key, std::string_view json)
    {
        chk(wabot_turn_session_set_json(t_, detail::cstr(key).get(),
                                        json.data(), json.size()));
    }
    /** Remove a session value; false if it was not there. */
    bool session_del(std::string_view key)
    {
        int rc = wabot_turn_session_del(t_, detail::cstr(key).get());
        if (rc == WABOT_ERR_NOT_FOUND)
            return false;
        chk(rc);
        return true;
    }
    void session_clear() { chk(wabot_turn_session_clear(t_)); }
    std::string session_json() const
    {
        char *s = wabot_turn_session_json(t_);
        std::string out = detail::str(s);
        wabot_ctx_mem_free(wabot_turn_ctx(t_), s);
        return out;
    }

    void reply(std::string_view text) { chk(wabot_reply_text(t_, detail::cstr(text).get())); }
    void reply_media(std::string_view url, std::string_view caption = {})
    {
        chk(wabot_reply_media(t_, detail::cstr(url).get(),
                              caption.empty() ? nullptr : detail::cstr(caption).get()));
    }
    void reply_buttons(std::string_view body, const choices &buttons)
    {
        with_choices(buttons, [&](std::size_t n, const char *const *ids,
                                  const char *const *titles) {
            return wabot_reply_buttons(t_, detail::cstr(body).get(), n, ids, titles);
        });
    }
    void reply_list(std::string_view body, const choices &rows)
    {
        with_choices(rows, [&](std::size_t n, const char *const *ids,
                               const char *const *titles) {
            return wabot_reply_list(t_, detail::cstr(body).get(), n, ids, titles);
        });
    }
    void reply_template(std::string_view name, std::string_view language,
                        const std::vector<std::string> &params = {})
    {
        std::vector<const char *> p;
        for (const auto &s : params)
            p.push_back(s.c_str());
        chk(wabot_reply_template(t_, detail::cstr(name).get(),
                                 detail::cstr(language).get(), p.size(),
                                 p.data()));
    }
    std::size_t reply_count() const { return wabot_turn_reply_count(t_); }
    bool handled() const { return wabot_turn_handled(t_) != 0; }
    void set_handled() { wabot_turn_set_handled(t_); }

    bool customer_opted_out() const { return wabot_turn_customer_opted_out(t_) != 0; }
    /** An INT/BOOL/DURATION/BYTES/ENUM option as seen by the turn's
     *  organisation. */
    std::int64_t option_int(std::string_view name) const
    {
        std::int64_t v = 0;
        chk(wabot_turn_option_int(t_, detail::cstr(name).get(), &v));
        return v;
    }
    std::string option_str(std::string_view name) const
    {
        const char *v = wabot_turn_option_str(t_, detail::cstr(name).get());
        if (!v)
            throw error(WABOT_ERR_INVAL, "no string option " + std::string(name));
        return v;
    }
    /** Per-turn scratch pointers (Koa's ctx.state); the value is borrowed
     *  until the turn ends. */
    void set_local(std::string_view key, void *value)
    {
        chk(wabot_turn_set_local(t_, detail::cstr(key).get(), value));
    }
    void *local(std::string_view key) const
    {
        return wabot_turn_get_local(t_, detail::cstr(key).get());
    }
    /** Add a message built with wabot::out to the turn's replies. */
    inline void reply(const class out &o);

    /* The customer's cart (commerce.h), saved with the turn. */
    /** Add quantity of product sku (more of it when it is there). */
    void cart_add(std::string_view sku, std::int64_t quantity = 1)
    {
        chk(wabot_cart_add(t_, detail::cstr(sku).get(), quantity));
    }
    /** Remove a line (WABOT_ERR_NOT_FOUND when there is none). */
    void cart_remove(std::string_view sku) { chk(wabot_cart_remove(t_, detail::cstr(sku).get())); }
    /** Set a line's quantity; 0 removes it. */
    void cart_set_quantity(std::string_view sku, std::int64_t quantity)
    {
        chk(wabot_cart_set_quantity(t_, detail::cstr(sku).get(), quantity));
    }
    void cart_clear() { chk(wabot_cart_clear(t_)); }
    /** The cart priced from the catalog now (an owned snapshot). */
    inline class cart_view cart() const;
    /** Place the cart as an order for the turn's customer, keyed by the
     *  message id (a re-run turn gives the same order), and empty the
     *  cart; returns the order id. WABOT_ERR_NOT_FOUND for an empty cart,
     *  the errors of orders::create. */
    std::string place_order()
    {
        char *id = nullptr;
        int rc = wabot_order_place_cart(t_, &id);
        std::string out = detail::str(id);
        wabot_ctx_mem_free(wabot_turn_ctx(t_), id);
        chk(rc);
        return out;
    }
    /** Queue the order for the order-processing worker as one of the
     *  turn's effects (only if the turn commits). */
    void confirm_order(std::string_view id)
    {
        chk(wabot_order_confirm_in_turn(t_, detail::cstr(id).get()));
    }

    /** Enqueue a job with the turn's effects; returns its id. */
    std::string enqueue(std::string_view queue, std::string_view payload)
    {
        char *id = nullptr;
        chk(wabot_turn_enqueue(t_, detail::cstr(queue).get(), payload.data(),
                               payload.size(), nullptr, &id));
        std::string out = detail::str(id);
        wabot_ctx_mem_free(wabot_turn_ctx(t_), id);
        return out;
    }

private:
    wabot_turn *t_;

    int chk(int rc) const { return detail::check(rc, wabot_turn_ctx(t_)); }

    template <class F> void with_choices(const choices &c, F &&call)
    {
        std::vector<const char *> ids, titles;
        for (const auto &p : c) {
            ids.push_back(p.first.c_str());
            titles.push_back(p.second.c_str());
        }
        chk(call(c.size(), ids.data(), titles.data()));
    }
};

/** Runs the rest of the pipeline; throws what the rest failed with. */
class next_fn {
public:
    explicit next_fn(wabot_turn *t) : t_(t) {}
    void operator()() const
    {
        int rc = wabot_pipeline_next(t_);
        if (rc < 0) {
            std::exception_ptr e = detail::pending();
            detail::pending() = nullptr;
            if (e)
                std::rethrow_exception(e);
            detail::check(rc, wabot_turn_ctx(t_));
        }
    }

private:
    wabot_turn *t_;
};

/* ------------------------------------------------------------------ */
/* HTTP                                                                */

struct http_response {
    int status = 0;
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

/** The request an HTTP route serves (valid during the call). */
class http_request {
public:
    explicit http_request(const wabot_http_server_request *r) : r_(r) {}
    std::string method() const { return detail::str(wabot_http_server_request_method(r_)); }
    std::string path() const { return detail::str(wabot_http_server_request_path(r_)); }
    std::string query() const { return detail::str(wabot_http_server_request_query(r_)); }
    std::string param(std::string_view name) const
    {
        return detail::str(wabot_http_server_request_param(r_, detail::cstr(name).get()));
    }
    std::optional<std::string> query_param(std::string_view name) const
    {
        std::size_t n = 0;
        const char *v = wabot_http_server_request_query_param(
            r_, detail::cstr(name).get(), &n);
        return v ? std::optional<std::string>(std::string(v, n)) : std::nullopt;
    }
    std::optional<std::string> header(std::string_view name) const
    {
        const char *v = wabot_http_server_request_header(r_, detail::cstr(name).get());
        return v ? std::optional<std::string>(v) : std::nullopt;
    }
    std::string body() const
    {
        std::size_t n = 0;
        const char *b = wabot_http_server_request_body(r_, &n);
        return std::string(b ? b : "", n);
    }

private:
    const wabot_http_server_request *r_;
};

/** The response an HTTP route fills. */
class http_response_writer {
public:
    explicit http_response_writer(wabot_http_response *r) : r_(r) {}
    void status(int s) { chk(wabot_http_response_set_status(r_, s)); }
    void header(std::string_view n, std::string_view v)
    {
        chk(wabot_http_response_add_header(r_, detail::cstr(n).get(), detail::cstr(v).get()));
    }
    void body(std::string_view content_type, std::string_view b)
    {
        chk(wabot_http_response_set_body(r_, detail::cstr(content_type).get(),
                                         b.data(), b.size()));
    }
    void json(int s, std::string_view j)
    {
        chk(wabot_http_response_set_json(r_, s, detail::cstr(j).get()));
    }
    void text(int s, std::string_view t)
    {
        chk(wabot_http_response_set_text(r_, s, detail::cstr(t).get()));
    }
    /** An admin error: {"error":{"code","message","field"}} (field may
     *  be empty: left out). */
    void admin_error(int s, std::string_view code, std::string_view message,
                     std::string_view field = {})
    {
        chk(wabot_admin_error(r_, s, detail::cstr(code).get(),
                              field.empty() ? nullptr : detail::cstr(field).get(),
                              detail::cstr(message).get()));
    }

private:
    wabot_http_response *r_;
    static void chk(int rc)
    {
        if (rc < 0)
            throw error(rc, "http response");
    }
};

/* ------------------------------------------------------------------ */
/* Backends                                                            */

/** A transport handle (owned). Built-ins, or one written in C++. */
class transport {
public:
    using send_fn = std::function<void(const outbound &, wabot_send_op *)>;

    static transport recorder() { return transport(wabot_transport_recorder_new()); }
    static transport console() { return transport(wabot_transport_console_new(nullptr)); }
    /** A transport whose sends run `fn`; fn completes the op (ok() or
     *  fail() below) now or later from the loop thread. An exception
     *  means the op was not taken. */
    static transport custom(std::string_view name, send_fn fn)
    {
        static const wabot_transport_vtable vt = {
            WABOT_TRANSPORT_VTABLE_VERSION, &transport::send_tramp,
            &detail::destroy_fn<send_fn>};
        auto *impl = new send_fn(std::move(fn));
        wabot_transport *t = wabot_transport_new(&vt, impl, detail::cstr(name).get());
        if (!t) {
            delete impl;
            throw error(WABOT_ERR_NOMEM, "wabot_transport_new");
        }
        return transport(t);
    }
    static void ok(wabot_send_op *op, std::string_view provider_id = {})
    {
        wabot_send_op_ok(op, provider_id.empty() ? nullptr : detail::cstr(provider_id).get());
    }
    static void fail(wabot_send_op *op, int status, int provider_code = 0,
                     std::string_view message = {}, std::int64_t retry_after_ms = 0)
    {
        wabot_send_op_fail(op, status, provider_code, detail::cstr(message).get(),
                           retry_after_ms);
    }

    transport(transport &&o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
    transport &operator=(transport &&o) noexcept
    {
        std::swap(t_, o.t_);
        return *this;
    }
    transport(const transport &) = delete;
    transport &operator=(const transport &) = delete;
    ~transport() { wabot_transport_free(t_); }
    wabot_transport *get() const { return t_; }
    std::string name() const { return detail::str(wabot_transport_name(t_)); }

    /* Recorder only. */
    std::size_t recorded() const { return wabot_transport_recorder_count(t_); }
    outbound recorded(std::size_t i) const
    {
        const wabot_outbound *o = wabot_transport_recorder_get(t_, i);
        if (!o)
            throw error(WABOT_ERR_INVAL, "no recorded message " + std::to_string(i));
        return outbound(o);
    }
    void clear_recorded() { wabot_transport_recorder_clear(t_); }
    /** Make the next `count` sends fail (recorder only). */
    void fail_next(std::size_t count, int status, int provider_code = 0,
                   std::string_view message = {})
    {
        int rc = wabot_transport_recorder_fail_next(t_, count, status, provider_code,
                                                    detail::cstr(message).get());
        if (rc < 0)
            throw error(rc, "fail_next");
    }

    /** Twilio Programmable Messaging (config filled by
     *  wabot_twilio_config_init, then `fill`). */
    static transport twilio(const std::function<void(wabot_twilio_config &)> &fill)
    {
        wabot_twilio_config cfg;
        wabot_twilio_config_init(&cfg);
        fill(cfg);
        wabot_transport *t = wabot_transport_twilio_new(&cfg);
        if (!t)
            throw error(WABOT_ERR_INVAL, "twilio transport: missing or bad field");
        return transport(t);
    }
    /** Meta WhatsApp Cloud API. */
    static transport meta(const std::function<void(wabot_meta_config &)> &fill)
    {
        wabot_meta_config cfg;
        wabot_meta_config_init(&cfg);
        fill(cfg);
        wabot_transport *t = wabot_transport_meta_new(&cfg);
        if (!t)
            throw error(WABOT_ERR_INVAL, "meta transport: missing or bad field");
        return transport(t);
    }
    /** The organisation of an op (per-organisation credentials). */
    static std::string organization(const wabot_send_op *op)
    {
        return detail::str(wabot_send_op_organization(op));
    }
    /** The context sending (its clock, metrics, HTTP client). */
    static wabot_ctx *context(const wabot_send_op *op) { return wabot_send_op_ctx(op); }

private:
    explicit transport(wabot_transport *t) : t_(t)
    {
        if (!t_)
            throw error(WABOT_ERR_NOMEM, "transport");
    }
    static int send_tramp(void *impl, const wabot_outbound *msg, wabot_send_op *op)
    {
        try {
            (*static_cast<send_fn *>(impl))(outbound(msg), op);
            return WABOT_OK;
        } catch (...) {
            return detail::status_of(std::current_exception());
        }
    }
    wabot_transport *t_;
};

/** A storage handle (owned): the memory backend, or Redis's. */
class storage {
public:
    static storage memory() { return storage(wabot_storage_memory_new(nullptr)); }
    explicit storage(wabot_storage *s) : s_(s)
    {
        if (!s_)
            throw error(WABOT_ERR_NOMEM, "storage");
    }
    storage(storage &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    storage &operator=(storage &&o) noexcept
    {
        std::swap(s_, o.s_);
        return *this;
    }
    storage(const storage &) = delete;
    storage &operator=(const storage &) = delete;
    ~storage() { wabot_storage_free(s_); }
    wabot_storage *get() const { return s_; }
    std::string name() const { return detail::str(wabot_storage_name(s_)); }

    /** The value, or nullopt when absent. */
    std::optional<std::string> get(std::string_view key, std::uint64_t *version = nullptr)
    {
        char *v = nullptr;
        std::size_t n = 0;
        int rc = wabot_storage_get(s_, detail::cstr(key).get(), &v, &n, version);
        if (rc == WABOT_ERR_NOT_FOUND)
            return std::nullopt;
        chk(rc);
        std::string out(v, n);
        wabot_free(v);
        return out;
    }
    std::uint64_t set(std::string_view key, std::string_view val, std::int64_t ttl_ms = 0)
    {
        std::uint64_t ver = 0;
        chk(wabot_storage_set(s_, detail::cstr(key).get(), val.data(), val.size(), ttl_ms, &ver));
        return ver;
    }

    /** Write if absent; false (nothing written) when the key exists. */
    bool set_nx(std::string_view key, std::string_view val, std::int64_t ttl_ms = 0,
                std::uint64_t *version = nullptr)
    {
        int rc = wabot_storage_set_nx(s_, detail::cstr(key).get(), val.data(), val.size(),
                                      ttl_ms, version);
        if (rc == WABOT_ERR_EXISTS)
            return false;
        chk(rc);
        return true;
    }
    /** Write if the version is `expected` (0: absent); false on conflict. */
    bool cas(std::string_view key, std::uint64_t expected, std::string_view val,
             std::int64_t ttl_ms = 0, std::uint64_t *version = nullptr)
    {
        int rc = wabot_storage_cas(s_, detail::cstr(key).get(), expected, val.data(),
                                   val.size(), ttl_ms, version);
        if (rc == WABOT_ERR_CONFLICT)
            return false;
        chk(rc);
        return true;
    }
    /** Delete; false when absent. */
    bool del(std::string_view key)
    {
        int rc = wabot_storage_del(s_, detail::cstr(key).get());
        if (rc == WABOT_ERR_NOT_FOUND)
            return false;
        chk(rc);
        return true;
    }
    void del_if(std::string_view key, std::uint64_t expected)
    {
        chk(wabot_storage_del_if(s_, detail::cstr(key).get(), expected));
    }
    std::int64_t incr(std::string_view key, std::int64_t delta, std::int64_t ttl_ms = 0)
    {
        std::int64_t r = 0;
        chk(wabot_storage_incr(s_, detail::cstr(key).get(), delta, ttl_ms, &r));
        return r;
    }
    void expire(std::string_view key, std::int64_t ttl_ms)
    {
        chk(wabot_storage_expire(s_, detail::cstr(key).get(), ttl_ms));
    }

    /** One item of a scan, batch get or sorted range. */
    struct item {
        std::string key;
        std::optional<std::string> value;
        std::uint64_t version = 0;
        std::int64_t score = 0;
    };
    /** One scan page: items and the next cursor ("0" = done). */
    std::pair<std::vector<item>, std::string>
    scan(std::string_view prefix, std::string_view cursor = "0", std::size_t count = 100,
         bool values = false)
    {
        wabot_storage_items *it = nullptr;
        chk(wabot_storage_scan(s_, detail::cstr(prefix).get(), detail::cstr(cursor).get(),
                               count, values ? WABOT_STORAGE_SCAN_VALUES : 0u, &it));
        std::string next = detail::str(wabot_storage_items_cursor(it));
        return {items(it), next};
    }
    /** Values of `keys` in order (nullopt for absent ones). */
    std::vector<std::optional<std::string>> get_many(const std::vector<std::string> &keys)
    {
        std::vector<const char *> k;
        for (const auto &s : keys)
            k.push_back(s.c_str());
        wabot_storage_items *it = nullptr;
        chk(wabot_storage_get_many(s_, k.size(), k.data(), &it));
        std::vector<std::optional<std::string>> out;
        for (std::size_t i = 0; i < wabot_storage_items_count(it); i++) {
            std::size_t n = 0;
            const char *v = wabot_storage_items_value(it, i, &n);
            out.push_back(wabot_storage_items_status(it, i) == WABOT_OK && v
                              ? std::optional<std::string>(std::string(v, n))
                              : std::nullopt);
        }
        wabot_storage_items_free(it);
        return out;
    }
    void put_many(const std::vector<std::pair<std::string, std::string>> &kv,
                  std::int64_t ttl_ms = 0)
    {
        std::vector<const char *> k, v;
        std::vector<std::size_t> l;
        std::vector<std::int64_t> t;
        for (const auto &p : kv) {
            k.push_back(p.first.c_str());
            v.push_back(p.second.data());
            l.push_back(p.second.size());
            t.push_back(ttl_ms);
        }
        chk(wabot_storage_put_many(s_, k.size(), k.data(), v.data(), l.data(), t.data(),
                                   nullptr));
    }
    void sorted_add(std::string_view key, std::string_view member, std::int64_t score)
    {
        chk(wabot_storage_sorted_add(s_, detail::cstr(key).get(), member.data(),
                                     member.size(), score));
    }
    bool sorted_remove(std::string_view key, std::string_view member)
    {
        int rc = wabot_storage_sorted_remove(s_, detail::cstr(key).get(), member.data(),
                                             member.size());
        if (rc == WABOT_ERR_NOT_FOUND)
            return false;
        chk(rc);
        return true;
    }
    std::optional<std::int64_t> sorted_score(std::string_view key, std::string_view member)
    {
        std::int64_t sc = 0;
        int rc = wabot_storage_sorted_score(s_, detail::cstr(key).get(), member.data(),
                                            member.size(), &sc);
        if (rc == WABOT_ERR_NOT_FOUND)
            return std::nullopt;
        chk(rc);
        return sc;
    }
    std::int64_t sorted_count(std::string_view key, std::int64_t min = WABOT_STORAGE_SCORE_MIN,
                              std::int64_t max = WABOT_STORAGE_SCORE_MAX)
    {
        std::int64_t n = 0;
        chk(wabot_storage_sorted_count(s_, detail::cstr(key).get(), min, max, &n));
        return n;
    }
    std::vector<item> sorted_range(std::string_view key, std::int64_t min, std::int64_t max,
                                   std::int64_t offset = 0, std::int64_t limit = 100,
                                   bool desc = false)
    {
        wabot_storage_items *it = nullptr;
        chk(wabot_storage_sorted_range(s_, detail::cstr(key).get(), min, max, offset, limit,
                                       desc ? WABOT_STORAGE_RANGE_DESC : 0u, &it));
        return items(it);
    }
    std::int64_t sorted_remove_range(std::string_view key, std::int64_t min, std::int64_t max)
    {
        std::int64_t n = 0;
        chk(wabot_storage_sorted_remove_range(s_, detail::cstr(key).get(), min, max, &n));
        return n;
    }
    /** Live keys of the built-in memory backend. */
    std::int64_t memory_count()
    {
        return chk(static_cast<int>(wabot_storage_memory_count(s_)));
    }
    /** A record's payload at schema `current` (older ones as stored). */
    std::optional<std::string> get_record(std::string_view key, std::uint32_t current,
                                          std::uint64_t *version = nullptr)
    {
        wabot_schema sc = {WABOT_SCHEMA_VERSION, current, nullptr, nullptr};
        char *p = nullptr;
        std::size_t n = 0;
        int rc = wabot_storage_get_record(s_, detail::cstr(key).get(), &sc, &p, &n, version);
        if (rc == WABOT_ERR_NOT_FOUND)
            return std::nullopt;
        chk(rc);
        std::string out(p, n);
        wabot_free(p);
        return out;
    }

    /** A transaction: add ops, then commit() (all or nothing). */
    class txn {
    public:
        explicit txn(storage &s) : t_(wabot_storage_txn_new(s.get())), s_(s.get())
        {
            if (!t_)
                throw error(WABOT_ERR_NOMEM, "wabot_storage_txn_new");
        }
        txn(const txn &) = delete;
        txn &operator=(const txn &) = delete;
        ~txn() { wabot_storage_txn_free(t_); }
        txn &set(std::string_view k, std::string_view v, std::int64_t ttl_ms = 0)
        {
            return add(wabot_storage_txn_set(t_, detail::cstr(k).get(), v.data(), v.size(), ttl_ms));
        }
        txn &cas(std::string_view k, std::uint64_t expected, std::string_view v,
                 std::int64_t ttl_ms = 0)
        {
            return add(wabot_storage_txn_cas(t_, detail::cstr(k).get(), expected, v.data(),
                                             v.size(), ttl_ms));
        }
        txn &del(std::string_view k) { return add(wabot_storage_txn_del(t_, detail::cstr(k).get())); }
        txn &del_if(std::string_view k, std::uint64_t expected)
        {
            return add(wabot_storage_txn_del_if(t_, detail::cstr(k).get(), expected));
        }
        txn &incr(std::string_view k, std::int64_t delta, std::int64_t ttl_ms = 0)
        {
            return add(wabot_storage_txn_incr(t_, detail::cstr(k).get(), delta, ttl_ms));
        }
        txn &sorted_add(std::string_view k, std::string_view m, std::int64_t score)
        {
            return add(wabot_storage_txn_sorted_add(t_, detail::cstr(k).get(), m.data(),
                                                    m.size(), score));
        }
        txn &sorted_remove(std::string_view k, std::string_view m)
        {
            return add(wabot_storage_txn_sorted_remove(t_, detail::cstr(k).get(), m.data(),
                                                       m.size()));
        }
        std::size_t size() const { return wabot_storage_txn_count(t_); }
        /** Commit: nullopt on success, else the index of the op whose
         *  condition failed (nothing written). Other failures throw. */
        std::optional<std::size_t> commit()
        {
            std::size_t failed = 0;
            int rc = wabot_storage_txn_commit(t_, &failed);
            if (rc == WABOT_ERR_CONFLICT)
                return failed;
            if (rc < 0)
                throw error(rc, detail::str(wabot_storage_errmsg(s_)));
            return std::nullopt;
        }
        std::uint64_t version(std::size_t i) const { return wabot_storage_txn_version(t_, i); }
        std::int64_t result(std::size_t i) const { return wabot_storage_txn_result(t_, i); }

    private:
        wabot_storage_txn *t_;
        wabot_storage *s_;
        txn &add(int rc)
        {
            if (rc < 0)
                throw error(rc, detail::str(wabot_storage_errmsg(s_)));
            return *this;
        }
    };

private:
    wabot_storage *s_;
    int chk(int rc)
    {
        if (rc < 0)
            throw error(rc, detail::str(wabot_storage_errmsg(s_)));
        return rc;
    }
    static std::vector<item> items(wabot_storage_items *it)
    {
        std::vector<item> out;
        for (std::size_t i = 0; i < wabot_storage_items_count(it); i++) {
            item x;
            std::size_t kn = 0, vn = 0;
            const char *k = wabot_storage_items_key(it, i, &kn);
            const char *v = wabot_storage_items_value(it, i, &vn);
            x.key.assign(k ? k : "", kn);
            if (v)
                x.value = std::string(v, vn);
            x.version = wabot_storage_items_version(it, i);
            x.score = wabot_storage_items_score(it, i);
            out.push_back(std::move(x));
        }
        wabot_storage_items_free(it);
        return out;
    }
};

/** Encode a payload as a record of `schema` ("#schema <n>\n" + payload). */
inline std::string record_encode(std::uint32_t schema, std::string_view payload)
{
    char *out = nullptr;
    std::size_t n = 0;
    int rc = wabot_storage_record_encode(schema, payload.data(), payload.size(), &out, &n);
    if (rc < 0)
        throw error(rc, "record encode");
    std::string s(out, n);
    wabot_free(out);
    return s;
}

/** Decode a stored value for schema `current`: (payload, stored schema). */
inline std::pair<std::string, std::uint32_t> record_decode(std::uint32_t current,
                                                           std::string_view value)
{
    wabot_schema sc = {WABOT_SCHEMA_VERSION, current, nullptr, nullptr};
    char *out = nullptr;
    std::size_t n = 0;
    std::uint32_t stored = 0;
    int rc = wabot_storage_record_decode(&sc, value.data(), value.size(), &out, &n, &stored);
    if (rc < 0)
        throw error(rc, "record decode");
    std::string s(out, n);
    wabot_free(out);
    return {s, stored};
}

/** A job scheduler handle (owned): memory, or Redis's. */
class scheduler {
public:
    static scheduler memory() { return scheduler(wabot_scheduler_memory_new()); }
    explicit scheduler(wabot_scheduler *s) : s_(s)
    {
        if (!s_)
            throw error(WABOT_ERR_NOMEM, "scheduler");
    }
    scheduler(scheduler &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    scheduler &operator=(scheduler &&o) noexcept
    {
        std::swap(s_, o.s_);
        return *this;
    }
    scheduler(const scheduler &) = delete;
    scheduler &operator=(const scheduler &) = delete;
    ~scheduler() { wabot_scheduler_free(s_); }
    wabot_scheduler *get() const { return s_; }

private:
    wabot_scheduler *s_;
};

/** A rate-limiter handle (owned): memory, or Redis's. */
class limiter {
public:
    static limiter memory() { return limiter(wabot_limiter_memory_new()); }
    explicit limiter(wabot_limiter *l) : l_(l)
    {
        if (!l_)
            throw error(WABOT_ERR_NOMEM, "limiter");
    }
    limiter(limiter &&o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    limiter &operator=(limiter &&o) noexcept
    {
        std::swap(l_, o.l_);
        return *this;
    }
    limiter(const limiter &) = delete;
    limiter &operator=(const limiter &) = delete;
    ~limiter() { wabot_limiter_free(l_); }
    wabot_limiter *get() const { return l_; }

private:
    wabot_limiter *l_;
};

/** A Redis connection pool; backends made from it must not outlive it. */
class redis {
public:
    explicit redis(std::string_view host = "127.0.0.1", int port = 6379,
                   std::string_view prefix = "wabot:")
    {
        wabot_redis_config cfg;
        wabot_redis_config_init(&cfg);
        std::string h(host), p(prefix);
        cfg.host = h.c_str();
        cfg.port = port;
        cfg.prefix = p.c_str();
        connect(cfg);
    }
    /** From REDIS_HOST, REDIS_PORT, ... (wabot_redis_config_from_env);
     *  nullopt when REDIS_HOST is not set. */
    static std::optional<redis> from_env()
    {
        wabot_redis_config cfg;
        wabot_redis_config_init(&cfg);
        int rc = wabot_redis_config_from_env(&cfg);
        if (rc < 0)
            throw error(rc, "bad REDIS_* variable");
        if (rc == 0)
            return std::nullopt;
        return redis(cfg);
    }
    std::int64_t round_trips() const { return wabot_redis_round_trips(r_); }
    scheduler make_scheduler() { return scheduler(wabot_scheduler_redis_new(r_)); }
    limiter make_limiter() { return limiter(wabot_limiter_redis_new(r_)); }
    redis(redis &&o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
    redis &operator=(redis &&o) noexcept
    {
        std::swap(r_, o.r_);
        return *this;
    }
    redis(const redis &) = delete;
    redis &operator=(const redis &) = delete;
    ~redis() { wabot_redis_free(r_); }
    wabot_redis *get() const { return r_; }
    storage make_storage() { return storage(wabot_storage_redis_new(r_)); }

private:
    wabot_redis *r_ = nullptr;
    explicit redis(const wabot_redis_config &cfg) { connect(cfg); }
    void connect(const wabot_redis_config &cfg)
    {
        const char *err = nullptr;
        r_ = wabot_redis_new(&cfg, &err);
        if (!r_)
            throw error(WABOT_ERR_STORAGE, detail::str(err));
    }
};

/* ------------------------------------------------------------------ */
/* Options                                                             */

class module_def;

/** wabot_options, set by name with typed setters checked against the
 *  listable options table (doc/options.md). */
class options {
public:
    options() : o_(wabot_options_new())
    {
        if (!o_)
            throw error(WABOT_ERR_NOMEM, "wabot_options_new");
    }
    options(options &&o) noexcept : o_(std::exchange(o.o_, nullptr)) {}
    options &operator=(options &&o) noexcept
    {
        std::swap(o_, o.o_);
        return *this;
    }
    options(const options &) = delete;
    options &operator=(const options &) = delete;
    ~options() { wabot_options_free(o_); }
    wabot_options *get() const { return o_; }

    /** STRING options, or any option as text ("30s", "1MiB", "true"). */
    options &set(std::string_view name, std::string_view value)
    {
        detail::check_opts(wabot_options_set(o_, detail::cstr(name).get(),
                                             detail::cstr(value).get()), o_);
        return *this;
    }
    options &set(std::string_view name, const char *value)
    {
        return set(name, std::string_view(value));
    }
    /** INT, DURATION (ms), BYTES and ENUM (index) options. */
    options &set(std::string_view name, std::int64_t value)
    {
        wabot_option_type t = type(name);
        if (t == WABOT_OPTION_STRING || t == WABOT_OPTION_BOOL)
            throw error(WABOT_ERR_INVAL, "option " + std::string(name) +
                                             " does not take an integer");
        return set(name, std::string_view(std::to_string(value)));
    }
    options &set(std::string_view name, int value) { return set(name, std::int64_t(value)); }
    /** BOOL options. */
    options &set(std::string_view name, bool value)
    {
        if (type(name) != WABOT_OPTION_BOOL)
            throw error(WABOT_ERR_INVAL, "option " + std::string(name) + " is not a boolean");
        return set(name, std::string_view(value ? "true" : "false"));
    }
    options &set_org(std::string_view org, std::string_view name, std::string_view value)
    {
        detail::check_opts(wabot_options_set_org(o_, detail::cstr(org).get(),
                                                 detail::cstr(name).get(),
                                                 detail::cstr(value).get()), o_);
        return *this;
    }
    options &apply_env()
    {
        detail::check_opts(wabot_options_apply_env(o_, nullptr), o_);
        return *this;
    }
    /** Borrowed backends: they must outlive the bot. */
    options &storage(const wabot::storage &s)
    {
        detail::check_opts(wabot_options_set_storage(o_, s.get()), o_);
        return *this;
    }
    options &transport(const wabot::transport &t)
    {
        detail::check_opts(wabot_options_set_transport(o_, t.get()), o_);
        return *this;
    }
    /** The option's type; throws for an unknown name. */
    wabot_option_type type(std::string_view name) const
    {
        std::size_t i = 0;
        int rc = wabot_options_find(o_, detail::cstr(name).get(), &i);
        if (rc < 0)
            throw error(WABOT_ERR_INVAL, "unknown option " + std::string(name));
        return wabot_options_type(o_, i);
    }
    /** The current value as text. */
    std::string get(std::string_view name) const
    {
        std::size_t i = 0;
        if (wabot_options_find(o_, detail::cstr(name).get(), &i) < 0)
            throw error(WABOT_ERR_INVAL, "unknown option " + std::string(name));
        return format(i, 0);
    }
    /** Borrowed job and limiter backends. */
    options &scheduler(const wabot::scheduler &s)
    {
        detail::check_opts(wabot_options_set_scheduler(o_, s.get()), o_);
        return *this;
    }
    options &limiter(const wabot::limiter &l)
    {
        detail::check_opts(wabot_options_set_limiter(o_, l.get()), o_);
        return *this;
    }
    /** Loop hooks (copied; their ud must outlive the bot); the adapters in
     *  <wabot/adapters/> fill them for libuv and libevent. */
    options &loop(const wabot_loop_hooks &hooks)
    {
        detail::check_opts(wabot_options_set_loop(o_, &hooks), o_);
        return *this;
    }
    using log_fn = std::function<void(wabot_log_level, std::string_view module,
                                      std::string_view msg)>;
    /** A log callback (any thread; must not call into the library). The
     *  bot made from these options keeps it alive. */
    options &log(log_fn fn)
    {
        auto f = std::make_shared<log_fn>(std::move(fn));
        keep_.push_back(f);
        detail::check_opts(wabot_options_set_log(o_, &log_tramp, f.get()), o_);
        return *this;
    }
    using clock_fn = std::function<std::int64_t()>;
    /** A clock in ms since the epoch (tests move time with it). */
    options &clock(clock_fn fn)
    {
        auto f = std::make_shared<clock_fn>(std::move(fn));
        keep_.push_back(f);
        wabot_clock c = {WABOT_CLOCK_VERSION, &clock_tramp, f.get()};
        detail::check_opts(wabot_options_set_clock(o_, &c), o_);
        return *this;
    }
    /** By enum id (core.h), for the library's own options. */
    options &set(wabot_option id, std::int64_t value)
    {
        detail::check_opts(wabot_options_set_int(o_, id, value), o_);
        return *this;
    }
    options &set(wabot_option id, std::string_view value)
    {
        detail::check_opts(wabot_options_set_str(o_, id, detail::cstr(value).get()), o_);
        return *this;
    }
    std::int64_t get_int(wabot_option id) const
    {
        std::int64_t v = 0;
        detail::check_opts(wabot_options_get_int(o_, id, &v), o_);
        return v;
    }
    std::string get_str(wabot_option id) const
    {
        const char *v = nullptr;
        detail::check_opts(wabot_options_get_str(o_, id, &v), o_);
        return detail::str(v);
    }

    /** One row of the listable options table. */
    struct info {
        std::string name, group, doc, env, value, default_value;
        wabot_option_type type;
        std::uint32_t flags;
        std::optional<std::pair<std::int64_t, std::int64_t>> range;
        std::vector<std::string> choices;
    };
    std::vector<info> table() const
    {
        std::vector<info> out;
        for (std::size_t i = 0; i < wabot_options_count(o_); i++) {
            info x;
            x.name = detail::str(wabot_options_name(o_, i));
            x.group = detail::str(wabot_options_group(o_, i));
            x.doc = detail::str(wabot_options_doc(o_, i));
            x.env = detail::str(wabot_options_env(o_, i));
            x.type = wabot_options_type(o_, i);
            x.flags = wabot_options_flags(o_, i);
            x.value = format(i, 0);
            x.default_value = format(i, 1);
            std::int64_t lo = 0, hi = 0;
            if (wabot_options_range(o_, i, &lo, &hi) == WABOT_OK)
                x.range = std::make_pair(lo, hi);
            for (std::size_t j = 0; wabot_options_choice(o_, i, j); j++)
                x.choices.push_back(wabot_options_choice(o_, i, j));
            out.push_back(std::move(x));
        }
        return out;
    }
    /** Every option's name, in table order. */
    std::vector<std::string> names() const
    {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < wabot_options_count(o_); i++)
            out.push_back(detail::str(wabot_options_name(o_, i)));
        return out;
    }

    /** Add a module written in C++ (its options join the table now). */
    inline options &add_module(std::shared_ptr<module_def> def);
    /** Callbacks the bot must keep alive (log, clock, modules). */
    const std::vector<std::shared_ptr<void>> &keep() const { return keep_; }

private:
    wabot_options *o_;
    std::vector<std::shared_ptr<void>> keep_;

    std::string format(std::size_t i, int which) const
    {
        int n = wabot_options_format(o_, i, which, nullptr, 0);
        if (n < 0)
            return std::string();
        std::string s(static_cast<std::size_t>(n) + 1, '\0');
        wabot_options_format(o_, i, which, &s[0], s.size());
        s.resize(static_cast<std::size_t>(n));
        return s;
    }
    static void log_tramp(void *ud, wabot_log_level level, const char *module, const char *msg)
    {
        try {
            (*static_cast<log_fn *>(ud))(level, module ? module : "", msg ? msg : "");
        } catch (...) {
            /* a logger must not fail the call that logged */
        }
    }
    static std::int64_t clock_tramp(void *ud)
    {
        try {
            return (*static_cast<clock_fn *>(ud))();
        } catch (...) {
            return 0;
        }
    }
};

/* ------------------------------------------------------------------ */
/* Jobs and the outbound builder                                       */

/** The job a worker runs (valid during the call). */
class job {
public:
    explicit job(wabot_job *j) : j_(j) {}
    wabot_job *get() const { return j_; }
    std::string id() const { return detail::str(wabot_job_id(j_)); }
    std::string queue() const { return detail::str(wabot_job_queue(j_)); }
    std::string_view payload() const
    {
        std::size_t n = 0;
        const char *p = wabot_job_payload(j_, &n);
        return std::string_view(p ? p : "", n);
    }
    int attempt() const { return wabot_job_attempt(j_); }
    int max_attempts() const { return wabot_job_max_attempts(j_); }
    wabot_ctx *context() const { return wabot_job_ctx(j_); }
    /** Retry after ms whatever the worker's outcome (throttling). */
    void retry_in(std::int64_t ms) { wabot_job_retry_in(j_, ms); }
    /** The failure this attempt reports is final. */
    void set_permanent() { wabot_job_set_permanent(j_); }
    /** A pointer the worker keeps with the job (until it finishes). */
    void set_user(void *user, wabot_destroy_fn destroy = nullptr)
    {
        wabot_job_set_user(j_, user, destroy);
    }
    void *user() const { return wabot_job_user(j_); }

private:
    wabot_job *j_;
};

/** Finish a job whose worker returned WABOT_JOB_PENDING (loop thread). */
inline void finish_job(wabot_job *j, int status) { wabot_job_finish(j, status); }

/** wabot_out: a message built step by step, then queued (enqueue()) or
 *  added to a turn's replies (turn::reply(out)). Move-only. */
class out {
public:
    explicit out(wabot_ctx *ctx) : o_(wabot_out_new(ctx)), ctx_(ctx)
    {
        if (!o_)
            throw error(WABOT_ERR_NOMEM, "wabot_out_new");
    }
    out(out &&o) noexcept : o_(std::exchange(o.o_, nullptr)), ctx_(o.ctx_) {}
    out &operator=(out &&o) noexcept
    {
        std::swap(o_, o.o_);
        std::swap(ctx_, o.ctx_);
        return *this;
    }
    out(const out &) = delete;
    out &operator=(const out &) = delete;
    ~out() { wabot_out_free(o_); }
    wabot_out *get() const { return o_; }

    out &to(std::string_view v) { return c(wabot_out_set_to(o_, detail::cstr(v).get())); }
    out &org(std::string_view v) { return c(wabot_out_set_org(o_, detail::cstr(v).get())); }
    out &from(std::string_view v) { return c(wabot_out_set_from(o_, detail::cstr(v).get())); }
    out &category(wabot_out_category cat) { return c(wabot_out_set_category(o_, cat)); }
    out &locale(std::string_view v) { return c(wabot_out_set_locale(o_, detail::cstr(v).get())); }
    out &text(std::string_view v) { return c(wabot_out_set_text(o_, detail::cstr(v).get())); }
    out &media(std::string_view url, std::string_view caption = {})
    {
        return c(wabot_out_set_media(o_, detail::cstr(url).get(),
                                     caption.empty() ? nullptr : detail::cstr(caption).get()));
    }
    out &button(std::string_view id, std::string_view title)
    {
        return c(wabot_out_add_button(o_, detail::cstr(id).get(), detail::cstr(title).get()));
    }
    out &row(std::string_view id, std::string_view title, std::string_view description = {})
    {
        return c(wabot_out_add_row(o_, detail::cstr(id).get(), detail::cstr(title).get(),
                                   description.empty() ? nullptr
                                                       : detail::cstr(description).get()));
    }
    out &list_button(std::string_view v)
    {
        return c(wabot_out_set_list_button(o_, detail::cstr(v).get()));
    }
    out &template_(std::string_view name, std::string_view language,
                   const std::vector<std::string> &params = {})
    {
        c(wabot_out_set_template(o_, detail::cstr(name).get(), detail::cstr(language).get()));
        for (const auto &p : params)
            c(wabot_out_add_template_param(o_, p.c_str()));
        return *this;
    }
    out &idempotency_key(std::string_view k)
    {
        return c(wabot_out_set_idempotency_key(o_, detail::cstr(k).get()));
    }
    std::string idempotency_key() const { return detail::str(wabot_out_idempotency_key(o_)); }
    out &correlation_id(std::string_view k)
    {
        return c(wabot_out_set_correlation_id(o_, detail::cstr(k).get()));
    }
    std::string correlation_id() const { return detail::str(wabot_out_correlation_id(o_)); }
    out &in_reply_to(std::string_view id)
    {
        return c(wabot_out_set_in_reply_to(o_, detail::cstr(id).get()));
    }
    /** Queue it outside a turn; returns its id. */
    std::string enqueue()
    {
        char *id = nullptr;
        c(wabot_out_enqueue(o_, &id));
        std::string s = detail::str(id);
        wabot_ctx_mem_free(ctx_, id);
        return s;
    }

private:
    wabot_out *o_;
    wabot_ctx *ctx_;
    out &c(int rc)
    {
        detail::check(rc, ctx_);
        return *this;
    }
};

inline void turn::reply(const out &o) { chk(wabot_turn_reply_out(t_, o.get())); }

/* ------------------------------------------------------------------ */
/* Modules written in C++                                              */

/** A module's instance in one context (valid while the context lives). */
class module {
public:
    explicit module(wabot_module *m) : m_(m) {}
    wabot_module *get() const { return m_; }
    wabot_ctx *ctx() const { return wabot_module_ctx(m_); }
    std::string name() const { return detail::str(wabot_module_name(m_)); }
    /** Option i of the module's table (in the order they were declared)
     *  as `org` sees it (nullptr: global). */
    std::int64_t option_int(std::size_t i, const char *org = nullptr) const
    {
        std::int64_t v = 0;
        detail::check(wabot_module_option_int(m_, org, i, &v), ctx());
        return v;
    }
    std::string option_str(std::size_t i, const char *org = nullptr) const
    {
        return detail::str(wabot_module_option_str(m_, org, i));
    }
    /** Emit hook `name` (declared by the module) with a JSON event. */
    void emit(std::string_view name, std::string_view json)
    {
        detail::check(wabot_hook_emit(m_, detail::cstr(name).get(), json.data(), json.size()),
                      ctx());
    }
    /** The module's own pointer (wabot_module_set_data). */
    void *data() const { return wabot_module_data(m_); }
    void set_data(void *d) { wabot_module_set_data(m_, d); }

private:
    wabot_module *m_;
};

/**
 * The descriptor of a module written in C++: options, hooks, and what
 * create() registers (middlewares at a stage with use(); anything else on
 * bot::borrow(m.ctx())). Add it with options::add_module(); the options
 * and every bot made from them keep it alive.
 */
class module_def {
public:
    using middleware = std::function<void(turn &, const next_fn &)>;

    module_def(std::string name, std::string doc = {})
        : name_(std::move(name)), doc_(std::move(doc)) {}
    module_def(const module_def &) = delete;
    module_def &operator=(const module_def &) = delete;

    /** A STRING option; per_org: may be overridden per organisation. */
    module_def &option(std::string name, std::string dflt, std::string doc,
                       bool per_org = false)
    {
        return add(std::move(name), WABOT_OPTION_STRING, 0, 0, 0, std::move(dflt),
                   std::move(doc), per_org);
    }
    /** An INT option within [min, max]. */
    module_def &option(std::string name, std::int64_t dflt, std::int64_t min, std::int64_t max,
                       std::string doc, bool per_org = false)
    {
        return add(std::move(name), WABOT_OPTION_INT, dflt, min, max, {}, std::move(doc),
                   per_org);
    }
    module_def &hook(std::string name)
    {
        hooks_.push_back(std::move(name));
        return *this;
    }
    module_def &on_create(std::function<void(module &)> fn)
    {
        create_ = std::move(fn);
        return *this;
    }
    module_def &on_destroy(std::function<void(module &)> fn)
    {
        destroy_ = std::move(fn);
        return *this;
    }
    /** Inside create: a middleware at `stage` (WABOT_STAGE_TURN runs
     *  before the host's middlewares; WABOT_STAGE_ADMIT before the turn). */
    void use(module &m, wabot_stage stage, std::string_view name, middleware fn)
    {
        mws_.push_back(std::make_unique<middleware>(std::move(fn)));
        detail::check(wabot_module_use(m.get(), stage, detail::cstr(name).get(), &mw_tramp,
                                       mws_.back().get()),
                      m.ctx());
    }

    /** The C descriptor (built once; valid while this object lives). */
    const wabot_module_def *descriptor()
    {
        opt_defs_.clear();
        for (const auto &o : opts_) {
            wabot_option_def d{};
            d.version = WABOT_OPTION_DEF_VERSION;
            d.name = o.name.c_str();
            d.type = o.type;
            d.flags = o.per_org ? WABOT_OPTION_PER_ORG : 0u;
            d.int_default = o.dflt;
            d.int_min = o.min;
            d.int_max = o.max;
            d.str_default = o.str.c_str();
            d.doc = o.doc.c_str();
            opt_defs_.push_back(d);
        }
        hook_ptrs_.clear();
        for (const auto &h : hooks_)
            hook_ptrs_.push_back(h.c_str());
        hook_ptrs_.push_back(nullptr);
        def_ = wabot_module_def{};
        def_.version = WABOT_MODULE_DEF_VERSION;
        def_.name = name_.c_str();
        def_.doc = doc_.c_str();
        def_.options = opt_defs_.empty() ? nullptr : opt_defs_.data();
        def_.n_options = opt_defs_.size();
        def_.hooks = hooks_.empty() ? nullptr : hook_ptrs_.data();
        def_.create = &create_tramp;
        def_.destroy = &destroy_tramp;
        return &def_;
    }

private:
    struct opt {
        std::string name;
        wabot_option_type type;
        std::int64_t dflt, min, max;
        std::string str, doc;
        bool per_org;
    };
    std::string name_, doc_;
    std::vector<opt> opts_;
    std::vector<std::string> hooks_;
    std::vector<wabot_option_def> opt_defs_;
    std::vector<const char *> hook_ptrs_;
    wabot_module_def def_{};
    std::function<void(module &)> create_, destroy_;
    std::vector<std::unique_ptr<middleware>> mws_;

    module_def &add(std::string name, wabot_option_type type, std::int64_t dflt,
                    std::int64_t min, std::int64_t max, std::string str, std::string doc,
                    bool per_org)
    {
        opts_.push_back({std::move(name), type, dflt, min, max, std::move(str), std::move(doc),
                         per_org});
        return *this;
    }
    static int create_tramp(wabot_module *m, void *ud)
    {
        try {
            auto *self = static_cast<module_def *>(ud);
            module mm(m);
            if (self->create_)
                self->create_(mm);
            return WABOT_OK;
        } catch (...) {
            return detail::status_of(std::current_exception());
        }
    }
    static void destroy_tramp(wabot_module *m, void *ud)
    {
        try {
            auto *self = static_cast<module_def *>(ud);
            module mm(m);
            if (self->destroy_)
                self->destroy_(mm);
        } catch (...) {
            /* the context is going away; nowhere to report */
        }
    }
    static int mw_tramp(wabot_turn *t, void *ud)
    {
        try {
            turn tt(t);
            (*static_cast<middleware *>(ud))(tt, next_fn(t));
            return WABOT_OK;
        } catch (...) {
            detail::pending() = std::current_exception();
            return detail::status_of(detail::pending());
        }
    }
};

inline options &options::add_module(std::shared_ptr<module_def> def)
{
    detail::check_opts(wabot_options_add_module(o_, def->descriptor(), def.get()), o_);
    keep_.push_back(def);
    return *this;
}

/* ------------------------------------------------------------------ */
/* The bot                                                             */

class bot {
public:
    using handler = std::function<void(turn &)>;
    using middleware = std::function<void(turn &, const next_fn &)>;
    using error_handler = std::function<void(turn &, const error &)>;
    using http_handler = std::function<void(const http_request &, http_response_writer &)>;
    /** A job worker: return normally (done) or throw (retried). */
    using worker = std::function<void(job &)>;

    /** A context with every default (memory storage, console transport). */
    bot() : bot(nullptr) {}
    /** A context from `opts` (which may be destroyed afterwards). */
    explicit bot(const options &opts) : bot(opts.get()) { keep_ = opts.keep(); }
    /** A non-owning bot over an existing context (a module's create(),
     *  a C host's context): registers and calls, never frees. */
    static bot borrow(wabot_ctx *ctx) { return bot(ctx, false); }
    bot(bot &&o) noexcept
        : ctx_(std::exchange(o.ctx_, nullptr)), owned_(o.owned_),
          keep_(std::move(o.keep_)) {}
    bot &operator=(bot &&o) noexcept
    {
        std::swap(ctx_, o.ctx_);
        std::swap(owned_, o.owned_);
        std::swap(keep_, o.keep_);
        return *this;
    }
    bot(const bot &) = delete;
    bot &operator=(const bot &) = delete;
    ~bot()
    {
        if (owned_)
            wabot_ctx_free(ctx_);
    }
    wabot_ctx *get() const { return ctx_; }

    /* Registration (before serving). Each returns *this. */
    bot &use(middleware fn, std::string_view name = "c++")
    {
        auto *f = new middleware(std::move(fn));
        return reg(f, wabot_pipeline_use(ctx_, detail::cstr(name).get(), &mw_tramp, f,
                                         &detail::destroy_fn<middleware>));
    }
    bot &keyword(std::string_view kw, handler fn) { return keyword_in(nullptr, kw, std::move(fn)); }
    bot &keyword_in(const char *state, std::string_view kw, handler fn)
    {
        auto *f = new handler(std::move(fn));
        return reg(f, wabot_route_keyword(ctx_, state, detail::cstr(kw).get(), &route_tramp,
                                          f, &detail::destroy_fn<handler>));
    }
    bot &command(std::string_view name, handler fn, const char *state = nullptr)
    {
        auto *f = new handler(std::move(fn));
        return reg(f, wabot_route_command(ctx_, state, detail::cstr(name).get(), &route_tramp,
                                          f, &detail::destroy_fn<handler>));
    }
    bot &regex(std::string_view pattern, handler fn, const char *state = nullptr,
               unsigned flags = 0)
    {
        auto *f = new handler(std::move(fn));
        return reg(f, wabot_route_regex(ctx_, state, detail::cstr(pattern).get(), flags,
                                        &route_tramp, f, &detail::destroy_fn<handler>));
    }
    bot &payload(std::string_view p, handler fn, const char *state = nullptr)
    {
        auto *f = new handler(std::move(fn));
        return reg(f, wabot_route_payload(ctx_, state, detail::cstr(p).get(), &route_tramp,
                                          f, &detail::destroy_fn<handler>));
    }
    bot &type(wabot_msg_type t, handler fn, const char *state = nullptr)
    {
        auto *f = new handler(std::move(fn));
        return reg(f, wabot_route_type(ctx_, state, t, &route_tramp, f,
                                       &detail::destroy_fn<handler>));
    }
    bot &fallback(handler fn, const char *state = nullptr)
    {
        auto *f = new handler(std::move(fn));
        return reg(f, wabot_route_fallback(ctx_, state, &route_tramp, f,
                                           &detail::destroy_fn<handler>));
    }
    bot &on_error(error_handler fn)
    {
        auto *f = new error_handler(std::move(fn));
        return reg(f, wabot_pipeline_set_error_handler(ctx_, &error_tramp, f,
                                                       &detail::destroy_fn<error_handler>));
    }
    bot &http_route(std::string_view method, std::string_view pattern, http_handler fn)
    {
        auto *f = new http_handler(std::move(fn));
        return reg(f, wabot_http_route_add(ctx_, detail::cstr(method).get(),
                                           detail::cstr(pattern).get(), &http_tramp, f,
                                           &detail::destroy_fn<http_handler>));
    }
    /** A job worker: return normally (done) or throw (retried). */
    bot &add_worker(std::string_view queue, worker fn, int concurrency = 1)
    {
        auto *f = new worker(std::move(fn));
        return reg(f, wabot_queue_add_worker(ctx_, detail::cstr(queue).get(), &job_tramp, f,
                                             &detail::destroy_fn<worker>, concurrency));
    }
    std::size_t route_count() const { return wabot_route_count(ctx_); }

    /* Handling. */
    void handle_message(const message_view &m)
    {
        detail::pending() = nullptr;
        int rc = wabot_ctx_handle_message(ctx_, m.get());
        std::exception_ptr cause = std::exchange(detail::pending(), nullptr);
        if (rc < 0) {
            std::string det = detail::str(wabot_ctx_errmsg(ctx_));
            if (det.empty() && cause) {
                try {
                    std::rethrow_exception(cause);
                } catch (const std::exception &e) {
                    det = e.what();
                } catch (...) {
                }
            }
            throw error(rc, det, cause);
        }
    }
    http_response handle_http(std::string_view method, std::string_view target,
                              const std::vector<std::pair<std::string, std::string>> &headers,
                              std::string_view body)
    {
        std::vector<wabot_http_header> h;
        for (const auto &kv : headers)
            h.push_back({kv.first.c_str(), kv.second.c_str()});
        wabot_http_response *r = nullptr;
        detail::check(wabot_http_handle(ctx_, detail::cstr(method).get(),
                                        detail::cstr(target).get(), h.data(), h.size(),
                                        body.data(), body.size(), &r),
                      ctx_);
        http_response out;
        out.status = wabot_http_response_status(r);
        out.content_type = detail::str(wabot_http_response_content_type(r));
        for (std::size_t i = 0; i < wabot_http_response_header_count(r); i++)
            out.headers.emplace_back(detail::str(wabot_http_response_header_name(r, i)),
                                     detail::str(wabot_http_response_header_value(r, i)));
        std::size_t n = 0;
        const char *b = wabot_http_response_body(r, &n);
        out.body.assign(b ? b : "", n);
        wabot_http_response_free(r);
        return out;
    }

    /* The loop (one thread at a time). */
    int poll(std::int64_t max_wait_ms) { return detail::check(wabot_ctx_poll(ctx_, max_wait_ms), ctx_); }
    int run_until_idle() { return run_until_idle(now_ms()); }
    int run_until_idle(std::int64_t deadline_ms)
    {
        return detail::check(wabot_ctx_run_until_idle(ctx_, deadline_ms), ctx_);
    }
    int on_timeout() { return detail::check(wabot_ctx_on_timeout(ctx_), ctx_); }
    int on_fd(int fd, unsigned events) { return detail::check(wabot_ctx_on_fd(ctx_, fd, events), ctx_); }
    std::int64_t next_timeout_ms() const { return wabot_ctx_next_timeout_ms(ctx_); }
    std::int64_t now_ms() const { return wabot_ctx_now_ms(ctx_); }

    /* Outside a turn. */
    std::string send_text(std::string_view to, std::string_view text,
                          wabot_out_category cat = WABOT_CAT_NOTICE)
    {
        char *id = nullptr;
        detail::check(wabot_send_text(ctx_, nullptr, detail::cstr(to).get(),
                                      detail::cstr(text).get(), cat, nullptr, &id),
                      ctx_);
        std::string out = detail::str(id);
        wabot_ctx_mem_free(ctx_, id);
        return out;
    }
    /** (state, session JSON), or nullopt when there is no conversation. */
    std::optional<std::pair<std::string, std::string>>
    conversation(std::string_view customer, std::string_view org = {})
    {
        wabot_conversation *c = nullptr;
        std::string o = org.empty() ? detail::str(wabot_ctx_option_str(
                                          ctx_, nullptr, "default_organization"))
                                    : std::string(org);
        int rc = wabot_conversation_get(ctx_, o.c_str(), detail::cstr(customer).get(), &c);
        if (rc == WABOT_ERR_NOT_FOUND)
            return std::nullopt;
        detail::check(rc, ctx_);
        auto out = std::make_pair(detail::str(wabot_conversation_state(c)),
                                  detail::str(wabot_conversation_session(c)));
        wabot_conversation_free(c);
        return out;
    }
    std::int64_t option_int(std::string_view name, const char *org = nullptr) const
    {
        std::int64_t v = 0;
        detail::check(wabot_ctx_option_int(ctx_, org, detail::cstr(name).get(), &v), ctx_);
        return v;
    }
    std::string metrics_prometheus() const
    {
        char *s = wabot_metrics_prometheus(ctx_);
        std::string out = detail::str(s);
        wabot_ctx_mem_free(ctx_, s);
        return out;
    }

    std::string send_template(std::string_view to, std::string_view name,
                              std::string_view language,
                              const std::vector<std::string> &params = {},
                              wabot_out_category cat = WABOT_CAT_NOTICE)
    {
        std::vector<const char *> p;
        for (const auto &x : params)
            p.push_back(x.c_str());
        char *id = nullptr;
        detail::check(wabot_send_template(ctx_, nullptr, detail::cstr(to).get(),
                                          detail::cstr(name).get(),
                                          detail::cstr(language).get(), p.size(), p.data(),
                                          cat, nullptr, &id),
                      ctx_);
        std::string out = detail::str(id);
        wabot_ctx_mem_free(ctx_, id);
        return out;
    }
    /** A message builder for this bot (see wabot::out). */
    wabot::out out() const { return wabot::out(ctx_); }
    void reset_conversation(std::string_view customer, std::string_view org)
    {
        int rc = wabot_conversation_reset(ctx_, detail::cstr(org).get(),
                                          detail::cstr(customer).get());
        if (rc != WABOT_ERR_NOT_FOUND)
            detail::check(rc, ctx_);
    }
    /** The stored conversation's version (0 when there is none). */
    std::uint64_t conversation_version(std::string_view customer, std::string_view org)
    {
        wabot_conversation *c = nullptr;
        int rc = wabot_conversation_get(ctx_, detail::cstr(org).get(),
                                        detail::cstr(customer).get(), &c);
        if (rc == WABOT_ERR_NOT_FOUND)
            return 0;
        detail::check(rc, ctx_);
        std::uint64_t v = wabot_conversation_version(c);
        wabot_conversation_free(c);
        return v;
    }
    struct customer_info {
        std::string phone, name;
        std::int64_t last_inbound_ms = 0;
        bool opted_out = false;
    };
    std::optional<customer_info> customer(std::string_view phone, std::string_view org)
    {
        wabot_customer *c = nullptr;
        int rc = wabot_customer_get(ctx_, detail::cstr(org).get(), detail::cstr(phone).get(), &c);
        if (rc == WABOT_ERR_NOT_FOUND)
            return std::nullopt;
        detail::check(rc, ctx_);
        customer_info out{detail::str(wabot_customer_phone(c)), detail::str(wabot_customer_name(c)),
                          wabot_customer_last_inbound_ms(c), wabot_customer_opted_out(c) != 0};
        wabot_customer_free(c);
        return out;
    }
    void set_opted_out(std::string_view phone, std::string_view org, bool opted_out)
    {
        detail::check(wabot_customer_set_opted_out(ctx_, detail::cstr(org).get(),
                                                   detail::cstr(phone).get(), opted_out ? 1 : 0),
                      ctx_);
    }
    struct delivery_info {
        std::string state, error_code, outbound_id, provider_id, to, organization, provider,
            correlation_id;
        std::int64_t updated_ms = 0;
    };
    std::optional<delivery_info> delivery(std::string_view provider_id)
    {
        wabot_delivery *d = nullptr;
        int rc = wabot_delivery_get(ctx_, detail::cstr(provider_id).get(), &d);
        if (rc == WABOT_ERR_NOT_FOUND)
            return std::nullopt;
        detail::check(rc, ctx_);
        delivery_info out;
        out.state = detail::str(wabot_delivery_state_name(wabot_delivery_state_of(d)));
        out.error_code = detail::str(wabot_delivery_error_code(d));
        out.outbound_id = detail::str(wabot_delivery_outbound_id(d));
        out.provider_id = detail::str(wabot_delivery_provider_id(d));
        out.to = detail::str(wabot_delivery_to(d));
        out.organization = detail::str(wabot_delivery_organization(d));
        out.provider = detail::str(wabot_provider_name(wabot_delivery_provider(d)));
        out.correlation_id = detail::str(wabot_delivery_correlation_id(d));
        out.updated_ms = wabot_delivery_updated_ms(d);
        wabot_delivery_free(d);
        return out;
    }
    void set_org_option(std::string_view org, std::string_view name, std::string_view value)
    {
        detail::check(wabot_ctx_set_org_option(ctx_, detail::cstr(org).get(),
                                               detail::cstr(name).get(),
                                               detail::cstr(value).get()),
                      ctx_);
    }
    std::string option_str(std::string_view name, const char *org = nullptr) const
    {
        const char *v = wabot_ctx_option_str(ctx_, org, detail::cstr(name).get());
        if (!v)
            throw error(WABOT_ERR_INVAL, "no string option " + std::string(name));
        return v;
    }
    void set_text(std::string_view key, std::string_view value, const char *org = nullptr,
                  const char *locale = nullptr)
    {
        detail::check(wabot_ctx_set_text(ctx_, org, locale, detail::cstr(key).get(),
                                         detail::cstr(value).get()),
                      ctx_);
    }
    std::string text(std::string_view key, const char *org = nullptr,
                     const char *locale = nullptr) const
    {
        return detail::str(wabot_ctx_text(ctx_, org, locale, detail::cstr(key).get()));
    }
    void set_window_template(wabot_out_category cat, const char *name, const char *language)
    {
        detail::check(wabot_ctx_set_window_template(ctx_, cat, name, language), ctx_);
    }
    void add_sender(std::string_view org, std::string_view number, const transport &t)
    {
        detail::check(wabot_transport_sender_add(ctx_, detail::cstr(org).get(),
                                                 detail::cstr(number).get(), t.get()),
                      ctx_);
    }
    std::string sender_org(std::string_view number) const
    {
        return detail::str(wabot_transport_sender_org(ctx_, detail::cstr(number).get()));
    }
    /** The context's backends (borrowed; valid while the bot lives). */
    wabot_storage *storage() const { return wabot_ctx_storage(ctx_); }
    wabot_transport *transport() const { return wabot_ctx_transport(ctx_); }

    /* Jobs outside a turn. */
    std::string enqueue(std::string_view queue, std::string_view payload,
                        const wabot_job_spec *spec = nullptr)
    {
        char *id = nullptr;
        int rc = wabot_job_enqueue(ctx_, detail::cstr(queue).get(), payload.data(),
                                   payload.size(), spec, &id);
        std::string out = detail::str(id);
        wabot_ctx_mem_free(ctx_, id);
        detail::check(rc, ctx_);
        return out;
    }
    /** One job of enqueue_many: its id ("" if none was made) and whether
     *  it was enqueued now (false: that id was on the queue already). */
    struct enqueued {
        std::string id;
        bool added;
    };
    /** Several jobs at once (wabot_job_enqueue_many: one round trip on
     *  Redis); specs empty (the defaults) or one pointer (or nullptr) per
     *  payload. Throws on any failure. */
    std::vector<enqueued> enqueue_many(std::string_view queue,
                                       const std::vector<std::string_view> &payloads,
                                       const std::vector<const wabot_job_spec *> &specs = {})
    {
        size_t n = payloads.size();
        if (!specs.empty() && specs.size() != n)
            detail::check(WABOT_ERR_INVAL, nullptr);
        std::vector<const char *> data(n);
        std::vector<size_t> lens(n);
        for (size_t i = 0; i < n; i++) {
            data[i] = payloads[i].data();
            lens[i] = payloads[i].size();
        }
        std::vector<char *> ids(n, nullptr);
        std::vector<int> results(n, WABOT_OK);
        int rc = wabot_job_enqueue_many(ctx_, detail::cstr(queue).get(), n, data.data(),
                                        lens.data(), specs.empty() ? nullptr : specs.data(),
                                        ids.data(), results.data());
        std::vector<enqueued> out;
        for (size_t i = 0; i < n; i++) {
            out.push_back({detail::str(ids[i]), results[i] == WABOT_OK});
            wabot_ctx_mem_free(ctx_, ids[i]);
        }
        detail::check(rc, ctx_);
        return out;
    }
    /** A job spec with the defaults (wabot_job_spec_init). */
    static wabot_job_spec job_spec()
    {
        wabot_job_spec s;
        wabot_job_spec_init(&s);
        return s;
    }
    /** The state name of a job ("waiting", ...), or nullopt if unknown. */
    std::optional<std::string> job_state(std::string_view queue, std::string_view id)
    {
        wabot_job_info *info = nullptr;
        int rc = wabot_job_get(ctx_, detail::cstr(queue).get(), detail::cstr(id).get(), &info);
        if (rc == WABOT_ERR_NOT_FOUND)
            return std::nullopt;
        detail::check(rc, ctx_);
        const wabot_job_record *r = wabot_job_info_record(info);
        std::string st = detail::str(wabot_job_state_name(static_cast<wabot_job_state>(r->state)));
        wabot_job_info_free(info);
        return st;
    }
    void cancel_job(std::string_view queue, std::string_view id)
    {
        detail::check(wabot_job_cancel(ctx_, detail::cstr(queue).get(), detail::cstr(id).get()),
                      ctx_);
    }
    /** counts[state] for every wabot_job_state. */
    std::vector<std::int64_t> queue_counts(std::string_view queue)
    {
        std::vector<std::int64_t> c(WABOT_JOB_STATE_COUNT);
        detail::check(wabot_queue_counts(ctx_, detail::cstr(queue).get(), c.data(), c.size()),
                      ctx_);
        return c;
    }
    void set_retention(std::string_view queue, std::int64_t completed_keep_n,
                       std::int64_t completed_keep_ms, std::int64_t failed_keep_n,
                       std::int64_t failed_keep_ms)
    {
        detail::check(wabot_queue_set_retention(ctx_, detail::cstr(queue).get(), completed_keep_n,
                                                completed_keep_ms, failed_keep_n, failed_keep_ms),
                      ctx_);
    }
    std::string jobs_stats_json() const { return owned(wabot_jobs_stats_json(ctx_)); }

    /* Metrics. */
    void metrics_add(std::string_view name, std::int64_t delta = 1)
    {
        detail::check(wabot_metrics_add(ctx_, detail::cstr(name).get(), delta), ctx_);
    }
    std::int64_t metrics_counter(std::string_view name) const
    {
        return wabot_metrics_counter(ctx_, detail::cstr(name).get());
    }
    std::string metrics_json() const { return owned(wabot_metrics_json(ctx_)); }
    struct sample {
        std::string name;
        std::vector<std::pair<std::string, std::string>> labels;
        double value = 0;
    };
    std::vector<sample> metrics_samples() const
    {
        wabot_metrics_snapshot *snap = nullptr;
        detail::check(wabot_metrics_snapshot_take(ctx_, &snap), ctx_);
        std::vector<sample> out;
        for (std::size_t i = 0; i < wabot_metrics_snapshot_count(snap); i++) {
            sample x;
            x.name = detail::str(wabot_metrics_snapshot_name(snap, i));
            x.value = wabot_metrics_snapshot_value(snap, i);
            for (std::size_t j = 0; j < wabot_metrics_snapshot_label_count(snap, i); j++)
                x.labels.emplace_back(detail::str(wabot_metrics_snapshot_label_name(snap, i, j)),
                                      detail::str(wabot_metrics_snapshot_label_value(snap, i, j)));
            out.push_back(std::move(x));
        }
        wabot_metrics_snapshot_free(snap);
        return out;
    }

    /* The admin API (admin.h) and the migration (migration.h). */
    bool admin_enabled() const { return wabot_admin_enabled(ctx_) != 0; }
    /** An HTTP route on admin.prefix + subpath behind the token check. */
    bot &admin_route(std::string_view method, std::string_view subpath, http_handler fn)
    {
        auto *f = new http_handler(std::move(fn));
        return reg(f, wabot_admin_route_add(ctx_, detail::cstr(method).get(),
                                            detail::cstr(subpath).get(), &http_tramp, f,
                                            &detail::destroy_fn<http_handler>));
    }
    wabot_system migration_decide(std::string_view customer) const
    {
        return wabot_migration_decide(ctx_, detail::cstr(customer).get());
    }
    void migration_set_percent(int percent)
    {
        detail::check(wabot_migration_set_percent(ctx_, percent), ctx_);
    }
    void migration_set_enabled(bool use_new_bot)
    {
        detail::check(wabot_migration_set_enabled(ctx_, use_new_bot ? 1 : 0), ctx_);
    }
    void migration_pin(std::string_view customer, wabot_system list)
    {
        detail::check(wabot_migration_pin(ctx_, detail::cstr(customer).get(), list), ctx_);
    }
    /** False when the customer was on neither list. */
    bool migration_unpin(std::string_view customer)
    {
        int rc = wabot_migration_unpin(ctx_, detail::cstr(customer).get());
        if (rc == WABOT_ERR_NOT_FOUND)
            return false;
        detail::check(rc, ctx_);
        return true;
    }
    std::string migration_json() const
    {
        char *j = wabot_migration_json(ctx_);
        if (!j)
            throw error(WABOT_ERR_STATE, detail::str(wabot_errmsg()));
        return owned(j);
    }
    void migration_update(std::string_view json)
    {
        detail::check(wabot_migration_update_json(ctx_, json.data(), json.size()), ctx_);
    }
    using legacy_handler =
        std::function<void(std::string_view method, std::string_view target,
                           const std::vector<std::pair<std::string, std::string>> &headers,
                           std::string_view body, http_response_writer &out)>;
    /** Who answers the legacy side's requests (empty fn: clear). The bot
     *  keeps the function alive. */
    void set_legacy(legacy_handler fn)
    {
        if (!fn) {
            detail::check(wabot_migration_set_legacy(ctx_, nullptr, nullptr), ctx_);
            return;
        }
        auto f = std::make_shared<legacy_handler>(std::move(fn));
        detail::check(wabot_migration_set_legacy(ctx_, &legacy_tramp, f.get()), ctx_);
        keep_.push_back(f);
    }

    /* Health probes (http_server.h). */
    /** (ready, the readiness report as JSON): storage, breakers, backlog. */
    std::pair<bool, std::string> readiness()
    {
        int ready = 0;
        char *j = nullptr;
        detail::check(wabot_health_readiness(ctx_, &ready, &j), ctx_);
        return {ready != 0, owned(j)};
    }
    /** GET liveness (200 {"status":"ok"}) and readiness (200 or 503 with
     *  the report) routes for wabot_http_handle(). */
    bot &health_routes(std::string_view liveness = "/healthz",
                       std::string_view readiness = "/readyz")
    {
        detail::check(wabot_health_routes_add(ctx_, detail::cstr(liveness).get(),
                                              detail::cstr(readiness).get()),
                      ctx_);
        return *this;
    }

    /* Modules and hooks. */
    /** Run fn(hook, json) for every emit of "<module>.<hook>". */
    bot &subscribe(std::string_view hook,
                   std::function<void(std::string_view hook, std::string_view json)> fn)
    {
        using F = std::function<void(std::string_view, std::string_view)>;
        auto *f = new F(std::move(fn));
        return reg(f, wabot_hook_subscribe(ctx_, detail::cstr(hook).get(), &hook_tramp, f,
                                           &detail::destroy_fn<F>));
    }
    std::size_t hook_subscribers(std::string_view hook) const
    {
        return wabot_hook_subscriber_count(ctx_, detail::cstr(hook).get());
    }
    /** Every module of the context (the library's too), creation order. */
    std::vector<std::string> module_names() const
    {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < wabot_ctx_module_count(ctx_); i++)
            out.push_back(detail::str(wabot_module_name(wabot_ctx_module_at(ctx_, i))));
        return out;
    }
    /** The descriptor's doc of module `name` (nullopt if absent). */
    std::optional<std::string> module_doc(std::string_view name) const
    {
        wabot_module *m = wabot_ctx_module(ctx_, detail::cstr(name).get());
        if (!m)
            return std::nullopt;
        return detail::str(wabot_module_descriptor(m)->doc);
    }

private:
    wabot_ctx *ctx_ = nullptr;
    bool owned_ = true;
    std::vector<std::shared_ptr<void>> keep_; /* options' log/clock, modules */

    bot(wabot_ctx *ctx, bool owned) : ctx_(ctx), owned_(owned) {}
    static int legacy_tramp(void *ud, const char *method, const char *target,
                            const wabot_http_header *headers, std::size_t n, const char *body,
                            std::size_t len, wabot_http_response *out)
    {
        try {
            std::vector<std::pair<std::string, std::string>> h;
            for (std::size_t i = 0; i < n; i++)
                h.emplace_back(detail::str(headers[i].name), detail::str(headers[i].value));
            http_response_writer w(out);
            (*static_cast<legacy_handler *>(ud))(method ? method : "", target ? target : "", h,
                                                 std::string_view(body ? body : "", len), w);
            return WABOT_OK;
        } catch (...) {
            return detail::status_of(std::current_exception());
        }
    }
    static int hook_tramp(wabot_ctx *, const char *hook, const char *json, std::size_t len,
                          void *ud)
    {
        try {
            (*static_cast<std::function<void(std::string_view, std::string_view)> *>(ud))(
                hook ? hook : "", std::string_view(json ? json : "", len));
            return WABOT_OK;
        } catch (...) {
            return detail::status_of(std::current_exception());
        }
    }

    std::string owned(char *s) const
    {
        std::string out = detail::str(s);
        wabot_ctx_mem_free(ctx_, s);
        return out;
    }

    explicit bot(wabot_options *o)
    {
        int rc = wabot_ctx_new(&ctx_, o);
        if (rc < 0)
            throw error(rc, o ? detail::str(wabot_options_errmsg(o)) : std::string());
    }
    template <class F> bot &reg(F *f, int rc)
    {
        if (rc < 0) {
            delete f; /* on failure the library does not call destroy */
            detail::check(rc, ctx_);
        }
        return *this;
    }
    static int fail_turn()
    {
        detail::pending() = std::current_exception();
        return detail::status_of(detail::pending());
    }
    static int route_tramp(wabot_turn *t, void *ud)
    {
        try {
            turn tt(t);
            (*static_cast<handler *>(ud))(tt);
            return WABOT_OK;
        } catch (...) {
            return fail_turn();
        }
    }
    static int mw_tramp(wabot_turn *t, void *ud)
    {
        try {
            turn tt(t);
            (*static_cast<middleware *>(ud))(tt, next_fn(t));
            return WABOT_OK;
        } catch (...) {
            return fail_turn();
        }
    }
    static void error_tramp(wabot_turn *t, int status, const char *det, void *ud)
    {
        std::exception_ptr cause = detail::pending();
        try {
            turn tt(t);
            (*static_cast<error_handler *>(ud))(tt, error(status, detail::str(det), cause));
        } catch (...) {
            /* nowhere left to report it; the turn has failed already */
        }
        detail::pending() = cause;
    }
    static int http_tramp(wabot_ctx *, const wabot_http_server_request *req,
                          wabot_http_response *resp, void *ud)
    {
        try {
            http_request rq(req);
            http_response_writer w(resp);
            (*static_cast<http_handler *>(ud))(rq, w);
            return WABOT_OK;
        } catch (...) {
            return detail::status_of(std::current_exception());
        }
    }
    static int job_tramp(wabot_job *j, void *ud)
    {
        try {
            wabot::job jb(j);
            (*static_cast<worker *>(ud))(jb);
            return WABOT_OK;
        } catch (const std::exception &e) {
            wabot_job_set_error(j, e.what());
            return detail::status_of(std::current_exception());
        } catch (...) {
            return WABOT_ERR_HANDLER;
        }
    }
};

/* ------------------------------------------------------------------ */
/* Commerce (commerce.h): money, products, the catalog, the matcher,    */
/* the cart                                                            */

namespace detail {

/* A context-less call's status: the detail is the thread's wabot_errmsg(). */
inline int check_tls(int rc)
{
    if (rc < 0)
        throw error(rc, str(wabot_errmsg()));
    return rc;
}

/* `org`, or the context's default organisation when empty. */
inline std::string org_or_default(wabot_ctx *ctx, std::string_view org)
{
    if (!org.empty())
        return std::string(org);
    return str(wabot_ctx_option_str(ctx, nullptr, "default_organization"));
}

/* Text the library returned owned by ctx (NULL: out of memory). */
inline std::string take(wabot_ctx *ctx, char *s, const char *what)
{
    if (!s)
        throw error(WABOT_ERR_NOMEM, what);
    std::string out(s);
    wabot_ctx_mem_free(ctx, s);
    return out;
}

/* The document a read returned (rc, owned s), or nullopt when it found
 * nothing (WABOT_ERR_NOT_FOUND); other failures throw. */
inline std::optional<std::string> take_found(wabot_ctx *ctx, int rc, char *s, const char *what)
{
    if (rc == WABOT_ERR_NOT_FOUND)
        return std::nullopt;
    check(rc, ctx);
    return take(ctx, s, what);
}

/* Bytes (may hold NULs) the library returned owned by ctx. */
inline std::string take_bytes(wabot_ctx *ctx, char *s, std::size_t n)
{
    std::string out(s ? s : "", s ? n : 0);
    wabot_ctx_mem_free(ctx, s);
    return out;
}

/* Like cstr, but an empty view is NULL (an optional C argument). */
class nstr {
public:
    explicit nstr(std::string_view v) : s_(v) {}
    const char *get() const { return s_.empty() ? nullptr : s_.c_str(); }

private:
    std::string s_;
};

} // namespace detail

/** Minor-unit digits of an ISO 4217 code ("USD" 2, "JPY" 0). */
inline int currency_exponent(std::string_view code)
{
    return detail::check_tls(wabot_currency_exponent(detail::cstr(code).get()));
}

/** An amount: `minor` units of `currency`; no floating point. + and *
 *  throw WABOT_ERR_TOO_LARGE on int64 overflow, + WABOT_ERR_INVAL for
 *  two currencies. */
struct money {
    std::int64_t minor = 0;
    std::string currency;

    /** "12.50" of USD -> {1250, "USD"}. */
    static money parse(std::string_view text, std::string_view currency)
    {
        std::int64_t v = 0;
        detail::check_tls(wabot_money_parse(detail::cstr(text).get(),
                                            detail::cstr(currency).get(), &v));
        return {v, std::string(currency)};
    }
    /** "1.50 USD", or with symbol "$1.50". */
    std::string format(bool symbol = false) const
    {
        std::uint32_t f = symbol ? WABOT_MONEY_SYMBOL : 0u;
        int n = detail::check_tls(wabot_money_format(minor, currency.c_str(), f, nullptr, 0));
        std::string out(std::size_t(n) + 1, '\0');
        detail::check_tls(wabot_money_format(minor, currency.c_str(), f, &out[0], out.size()));
        out.resize(std::size_t(n));
        return out;
    }
    friend money operator+(const money &a, const money &b)
    {
        if (a.currency != b.currency)
            throw error(WABOT_ERR_INVAL, "cannot add " + b.currency + " to " + a.currency);
        std::int64_t v = 0;
        detail::check_tls(wabot_money_add(a.minor, b.minor, &v));
        return {v, a.currency};
    }
    friend money operator*(const money &a, std::int64_t quantity)
    {
        std::int64_t v = 0;
        detail::check_tls(wabot_money_mul(a.minor, quantity, &v));
        return {v, a.currency};
    }
    friend bool operator==(const money &a, const money &b)
    {
        return a.minor == b.minor && a.currency == b.currency;
    }
};

/** A product read through its accessors; borrowed (from a product_list:
 *  valid while the list lives). */
class product_view {
public:
    explicit product_view(const wabot_product *p) : p_(p) {}
    const wabot_product *get() const { return p_; }
    std::string sku() const { return detail::str(wabot_product_sku(p_)); }
    std::string name() const { return detail::str(wabot_product_name(p_)); }
    std::vector<std::string> aliases() const
    {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < wabot_product_alias_count(p_); i++)
            out.push_back(detail::str(wabot_product_alias(p_, i)));
        return out;
    }
    std::string description() const { return detail::str(wabot_product_description(p_)); }
    std::string category() const { return detail::str(wabot_product_category(p_)); }
    std::int64_t price() const { return wabot_product_price(p_); }
    std::string currency() const { return detail::str(wabot_product_currency(p_)); }
    wabot::money money() const { return {price(), currency()}; }
    /** Units in stock; nullopt when not tracked (unlimited). */
    std::optional<std::int64_t> stock() const
    {
        std::int64_t s = wabot_product_stock(p_);
        return s == WABOT_PRODUCT_STOCK_UNLIMITED ? std::nullopt : std::optional<std::int64_t>(s);
    }
    bool active() const { return wabot_product_active(p_) != 0; }
    std::string image_url() const { return detail::str(wabot_product_image_url(p_)); }
    /** The stored version (0: never stored). */
    std::uint64_t version() const { return wabot_product_version(p_); }

protected:
    const wabot_product *p_;
};

/** An owned product (move-only): set its fields, then catalog::create /
 *  update. Setters throw WABOT_ERR_INVAL naming the broken rule. */
class product : public product_view {
public:
    product(wabot_ctx *ctx, std::string_view sku, std::string_view name)
        : product_view(nullptr), ctx_(ctx)
    {
        own_ = wabot_product_new(ctx);
        if (!own_)
            throw error(WABOT_ERR_NOMEM, "wabot_product_new");
        p_ = own_;
        try {
            set_sku(sku);
            set_name(name);
        } catch (...) {
            wabot_product_free(own_);
            throw;
        }
    }
    /** Adopt a snapshot the library returned (catalog::get). */
    static product adopt(wabot_ctx *ctx, wabot_product *p) { return product(ctx, p); }
    product(product &&o) noexcept
        : product_view(o.p_), own_(std::exchange(o.own_, nullptr)), ctx_(o.ctx_)
    {
        o.p_ = nullptr;
    }
    product &operator=(product &&o) noexcept
    {
        std::swap(own_, o.own_);
        std::swap(p_, o.p_);
        std::swap(ctx_, o.ctx_);
        return *this;
    }
    product(const product &) = delete;
    product &operator=(const product &) = delete;
    ~product() { wabot_product_free(own_); }
    wabot_product *get() const { return own_; }

    product &set_sku(std::string_view v)
    {
        return c(wabot_product_set_sku(own_, detail::cstr(v).get()));
    }
    product &set_name(std::string_view v)
    {
        return c(wabot_product_set_name(own_, detail::cstr(v).get()));
    }
    product &add_alias(std::string_view v)
    {
        return c(wabot_product_add_alias(own_, detail::cstr(v).get()));
    }
    product &clear_aliases() { return c(wabot_product_clear_aliases(own_)); }
    product &set_description(std::string_view v)
    {
        return c(wabot_product_set_description(own_, detail::cstr(v).get()));
    }
    product &set_category(std::string_view v)
    {
        return c(wabot_product_set_category(own_, detail::cstr(v).get()));
    }
    product &set_price(std::int64_t minor, std::string_view currency)
    {
        return c(wabot_product_set_price(own_, minor, detail::cstr(currency).get()));
    }
    /** Units in stock; nullopt: not tracked. */
    product &set_stock(std::optional<std::int64_t> stock)
    {
        return c(wabot_product_set_stock(own_, stock ? *stock : WABOT_PRODUCT_STOCK_UNLIMITED));
    }
    product &set_active(bool on) { return c(wabot_product_set_active(own_, on ? 1 : 0)); }
    product &set_image_url(std::string_view v)
    {
        return c(wabot_product_set_image_url(own_, detail::cstr(v).get()));
    }
    /** The import/export JSON of the product. */
    std::string to_json() const { return detail::take(ctx_, wabot_product_to_json(own_), "to_json"); }

private:
    wabot_product *own_ = nullptr;
    wabot_ctx *ctx_ = nullptr;
    product(wabot_ctx *ctx, wabot_product *p) : product_view(p), own_(p), ctx_(ctx) {}
    product &c(int rc)
    {
        detail::check(rc, ctx_);
        return *this;
    }
};

/** A page of products (owned, move-only): size(), operator[], cursor()
 *  ("0": the last page). */
class product_list {
public:
    explicit product_list(wabot_product_list *l) : l_(l) {}
    product_list(product_list &&o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    product_list &operator=(product_list &&o) noexcept
    {
        std::swap(l_, o.l_);
        return *this;
    }
    product_list(const product_list &) = delete;
    product_list &operator=(const product_list &) = delete;
    ~product_list() { wabot_product_list_free(l_); }
    std::size_t size() const { return wabot_product_list_count(l_); }
    product_view operator[](std::size_t i) const { return product_view(wabot_product_list_at(l_, i)); }
    std::string cursor() const { return detail::str(wabot_product_list_cursor(l_)); }
    bool last() const { return cursor() == "0"; }

private:
    wabot_product_list *l_;
};

/** What an import did: status() is WABOT_OK, or WABOT_ERR_INVAL when
 *  rows were refused (nothing written unless partial). */
struct import_report {
    struct problem {
        std::size_t row; /* from 1; 0: the document */
        std::string field, reason;
    };
    int status = WABOT_OK;
    std::size_t written = 0;
    std::vector<problem> errors;
    std::string json;
};

/** The matcher's reading of one text (owned, move-only). */
class match {
public:
    struct candidate {
        std::string sku, name;
        int score = 0; /* 0..1000 */
        std::int64_t price = 0;
        std::string currency;
    };
    struct line {
        std::string text;
        std::int64_t quantity = 0;
        bool ambiguous = false;
        std::vector<candidate> candidates; /* best first */
    };
    match(wabot_ctx *ctx, wabot_match *m) : m_(m), ctx_(ctx) {}
    match(match &&o) noexcept : m_(std::exchange(o.m_, nullptr)), ctx_(o.ctx_) {}
    match &operator=(match &&o) noexcept
    {
        std::swap(m_, o.m_);
        std::swap(ctx_, o.ctx_);
        return *this;
    }
    match(const match &) = delete;
    match &operator=(const match &) = delete;
    ~match() { wabot_match_free(m_); }
    wabot_match *get() const { return m_; }

    std::vector<line> lines() const
    {
        std::vector<line> out;
        for (std::size_t i = 0; i < wabot_match_line_count(m_); i++) {
            line l{detail::str(wabot_match_line_text(m_, i)), wabot_match_line_quantity(m_, i),
                   wabot_match_line_ambiguous(m_, i) != 0, {}};
            for (std::size_t j = 0; j < wabot_match_candidate_count(m_, i); j++)
                l.candidates.push_back({detail::str(wabot_match_candidate_sku(m_, i, j)),
                                        detail::str(wabot_match_candidate_name(m_, i, j)),
                                        wabot_match_candidate_score(m_, i, j),
                                        wabot_match_candidate_price(m_, i, j),
                                        detail::str(wabot_match_candidate_currency(m_, i, j))});
            out.push_back(std::move(l));
        }
        return out;
    }
    /** Words that matched no product (folded), in text order. */
    std::vector<std::string> unknown() const
    {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < wabot_match_unknown_count(m_); i++)
            out.push_back(detail::str(wabot_match_unknown(m_, i)));
        return out;
    }
    /** The answer when the match is not a clean order ("" when it is). */
    std::string reply_text() const
    {
        return detail::take(ctx_, wabot_match_reply_text(m_), "wabot_match_reply_text");
    }
    std::string json() const { return detail::take(ctx_, wabot_match_json(m_), "wabot_match_json"); }
    /** Fill o with buttons/rows to pick among ambiguous line i. */
    void choices(std::size_t i, class out &o) const;

private:
    wabot_match *m_;
    wabot_ctx *ctx_;
};

/** A priced snapshot of a turn's cart (turn::cart()). */
class cart_view {
public:
    struct line {
        std::string sku, name;
        std::int64_t quantity = 0, unit_price = 0, total = 0;
        int status = WABOT_OK; /* why it cannot be ordered */
        bool orderable() const { return status == WABOT_OK; }
    };
    cart_view(wabot_ctx *ctx, wabot_cart *c) : c_(c), ctx_(ctx) {}
    cart_view(cart_view &&o) noexcept : c_(std::exchange(o.c_, nullptr)), ctx_(o.ctx_) {}
    cart_view &operator=(cart_view &&o) noexcept
    {
        std::swap(c_, o.c_);
        std::swap(ctx_, o.ctx_);
        return *this;
    }
    cart_view(const cart_view &) = delete;
    cart_view &operator=(const cart_view &) = delete;
    ~cart_view() { wabot_cart_free(c_); }
    std::vector<line> lines() const
    {
        std::vector<line> out;
        for (std::size_t i = 0; i < wabot_cart_line_count(c_); i++)
            out.push_back({detail::str(wabot_cart_line_sku(c_, i)),
                           detail::str(wabot_cart_line_name(c_, i)),
                           wabot_cart_line_quantity(c_, i), wabot_cart_line_unit_price(c_, i),
                           wabot_cart_line_total(c_, i), wabot_cart_line_status(c_, i)});
        return out;
    }
    std::int64_t total() const { return wabot_cart_total(c_); }
    std::string currency() const { return detail::str(wabot_cart_currency(c_)); }
    /** The cart as a message. */
    std::string text() const { return detail::take(ctx_, wabot_cart_text(c_), "wabot_cart_text"); }

private:
    wabot_cart *c_;
    wabot_ctx *ctx_;
};

inline cart_view turn::cart() const
{
    wabot_cart *c = nullptr;
    chk(wabot_cart_get(t_, &c));
    return cart_view(wabot_turn_ctx(t_), c);
}

/** One organisation's product catalog (empty org: the default one). The
 *  bot must outlive it. */
class catalog {
public:
    explicit catalog(const bot &b, std::string_view org = {})
        : ctx_(b.get()), org_(detail::org_or_default(b.get(), org)) {}
    const std::string &org() const { return org_; }

    /** A new product of this catalog's context (not stored yet). */
    product make(std::string_view sku, std::string_view name) const { return product(ctx_, sku, name); }
    /** Store a new product (WABOT_ERR_EXISTS when the sku is taken);
     *  returns its version, also set on p. */
    std::uint64_t create(product &p)
    {
        std::uint64_t v = 0;
        chk(wabot_catalog_create(ctx_, org_.c_str(), p.get(), &v));
        return v;
    }
    /** Replace the product of p's sku; expected != 0: only if the stored
     *  version still is that (WABOT_ERR_CONFLICT otherwise). */
    std::uint64_t update(product &p, std::uint64_t expected = 0)
    {
        std::uint64_t v = 0;
        chk(wabot_catalog_update(ctx_, org_.c_str(), p.get(), expected, &v));
        return v;
    }
    /** The product, or nullopt when there is none. */
    std::optional<product> get(std::string_view sku) const
    {
        wabot_product *p = nullptr;
        int rc = wabot_catalog_get(ctx_, org_.c_str(), detail::cstr(sku).get(), &p);
        if (rc == WABOT_ERR_NOT_FOUND)
            return std::nullopt;
        chk(rc);
        return product::adopt(ctx_, p);
    }
    void remove(std::string_view sku, std::uint64_t expected = 0)
    {
        chk(wabot_catalog_delete(ctx_, org_.c_str(), detail::cstr(sku).get(), expected));
    }
    std::int64_t count() const
    {
        std::int64_t n = 0;
        chk(wabot_catalog_count(ctx_, org_.c_str(), &n));
        return n;
    }
    /** One page in creation order after `cursor` ("0": from the start)
     *  of `category` (empty: every product). */
    product_list list(std::string_view cursor = "0", std::size_t limit = 100,
                      std::string_view category = {}, bool active_only = false) const
    {
        wabot_product_list *l = nullptr;
        chk(wabot_catalog_list(ctx_, org_.c_str(), detail::nstr(category).get(),
                               active_only ? WABOT_CATALOG_ACTIVE_ONLY : 0u,
                               detail::cstr(cursor).get(), limit, &l));
        return product_list(l);
    }
    /** fn(product_view) for every product, page by page. */
    template <class F>
    void for_each(F &&fn, std::string_view category = {},
                  bool active_only = false, std::size_t page_size = 100) const
    {
        std::string cursor = "0";
        do {
            product_list page = list(cursor, page_size, category, active_only);
            for (std::size_t i = 0; i < page.size(); i++)
                fn(page[i]);
            cursor = page.cursor();
        } while (cursor != "0");
    }
    /** Import products from JSON. Refused rows are not an exception: the
     *  report's status is WABOT_ERR_INVAL (nothing written unless
     *  partial). Other failures (PARSE, TOO_LARGE, STORAGE) throw. */
    import_report import_json(std::string_view json, bool partial = false)
    {
        wabot_import_report *r = nullptr;
        int rc = wabot_catalog_import(ctx_, org_.c_str(), json.data(), json.size(),
                                      partial ? WABOT_IMPORT_PARTIAL : 0u, &r);
        if (rc < 0 && (rc != WABOT_ERR_INVAL || !r)) {
            wabot_import_report_free(r);
            chk(rc);
        }
        import_report out;
        out.status = rc < 0 ? rc : WABOT_OK;
        out.written = wabot_import_report_written(r);
        for (std::size_t i = 0; i < wabot_import_report_error_count(r); i++)
            out.errors.push_back({wabot_import_report_error_row(r, i),
                                  detail::str(wabot_import_report_error_field(r, i)),
                                  detail::str(wabot_import_report_error_reason(r, i))});
        char *j = wabot_import_report_json(r);
        wabot_import_report_free(r);
        out.json = detail::take(ctx_, j, "wabot_import_report_json");
        return out;
    }
    /** Every product as a JSON array in the import shape. */
    std::string export_json() const
    {
        char *j = nullptr;
        std::size_t n = 0;
        chk(wabot_catalog_export(ctx_, org_.c_str(), &j, &n));
        return detail::take_bytes(ctx_, j, n);
    }
    /** (page `page` of the menu text, number of pages). */
    std::pair<std::string, std::size_t>
    menu_text(std::size_t page = 0, std::string_view category = {},
              std::size_t max_chars = 0) const
    {
        char *t = nullptr;
        std::size_t pages = 0;
        chk(wabot_catalog_menu_text(ctx_, org_.c_str(), detail::nstr(category).get(), max_chars,
                                    page, &t, &pages));
        return {detail::take(ctx_, t, "menu_text"), pages};
    }
    /** Fill o as an interactive list of the menu's page; returns the
     *  number of pages of 10. */
    inline std::size_t menu_list(class out &o, std::size_t page = 0,
                                 std::string_view category = {}) const;
    /** Read free text ("2 cokes and a water") as order lines. */
    wabot::match match(std::string_view text, std::string_view locale = {}) const
    {
        wabot_match *m = nullptr;
        chk(wabot_catalog_match(ctx_, org_.c_str(),
                                locale.empty() ? nullptr : detail::cstr(locale).get(),
                                detail::cstr(text).get(), &m));
        return wabot::match(ctx_, m);
    }
    /** Commerce figures as JSON. */
    std::string stats_json() const
    {
        char *j = nullptr;
        chk(wabot_commerce_stats_json(ctx_, org_.c_str(), &j));
        return detail::take(ctx_, j, "stats");
    }

private:
    wabot_ctx *ctx_;
    std::string org_;
    int chk(int rc) const { return detail::check(rc, ctx_); }
};

inline std::size_t catalog::menu_list(class out &o, std::size_t page,
                                      std::string_view category) const
{
    std::size_t pages = 0;
    chk(wabot_catalog_menu_list(ctx_, org_.c_str(), detail::nstr(category).get(), page, o.get(),
                                &pages));
    return pages;
}

inline void match::choices(std::size_t i, class out &o) const
{
    detail::check(wabot_match_choices_out(m_, i, o.get()), ctx_);
}

/* ------------------------------------------------------------------ */
/* Invoices (invoice.h)                                                */

inline std::string invoice_status_name(wabot_invoice_status s)
{
    return detail::str(wabot_invoice_status_name(s));
}

/** An invoice being put together (owned, move-only). */
class invoice_draft {
public:
    invoice_draft(wabot_ctx *ctx, std::string_view org, std::string_view customer,
                  std::string_view currency)
        : ctx_(ctx)
    {
        d_ = wabot_invoice_draft_new(ctx, org.empty() ? nullptr : detail::cstr(org).get(),
                                     detail::cstr(customer).get(),
                                     detail::cstr(currency).get());
        if (!d_)
            throw error(WABOT_ERR_INVAL, detail::str(wabot_ctx_errmsg(ctx)));
    }
    invoice_draft(invoice_draft &&o) noexcept : d_(std::exchange(o.d_, nullptr)), ctx_(o.ctx_) {}
    invoice_draft &operator=(invoice_draft &&o) noexcept
    {
        std::swap(d_, o.d_);
        std::swap(ctx_, o.ctx_);
        return *this;
    }
    invoice_draft(const invoice_draft &) = delete;
    invoice_draft &operator=(const invoice_draft &) = delete;
    ~invoice_draft() { wabot_invoice_draft_free(d_); }
    wabot_invoice_draft *get() const { return d_; }

    /** Idempotency key: the same key issues one invoice per organisation. */
    invoice_draft &key(std::string_view k)
    {
        detail::check(wabot_invoice_draft_set_key(d_, detail::cstr(k).get()), ctx_);
        return *this;
    }
    /** Append a line; tax_bp nullopt: the organisation's invoices.tax_bp. */
    invoice_draft &add_line(std::string_view sku, std::string_view name, std::int64_t quantity,
                            std::int64_t unit_minor,
                            std::optional<std::int32_t> tax_bp = std::nullopt)
    {
        detail::check(wabot_invoice_draft_add_line(d_, detail::cstr(sku).get(),
                                                   detail::cstr(name).get(), quantity,
                                                   unit_minor,
                                                   tax_bp ? *tax_bp : WABOT_INVOICE_TAX_DEFAULT),
                      ctx_);
        return *this;
    }
    /** Issue it; returns the number. A key issued already throws
     *  WABOT_ERR_EXISTS, or with exist_ok returns that invoice's number. */
    std::string issue(bool exist_ok = false)
    {
        char *n = nullptr;
        int rc = wabot_invoice_issue(d_, &n);
        std::string number = detail::str(n);
        wabot_ctx_mem_free(ctx_, n);
        if (!(rc == WABOT_ERR_EXISTS && exist_ok))
            detail::check(rc, ctx_);
        return number;
    }

private:
    wabot_invoice_draft *d_;
    wabot_ctx *ctx_;
};

/** One organisation's invoices (empty org: the default one). Invoices
 *  cross as JSON text (invoice.h). */
class invoices {
public:
    explicit invoices(const bot &b, std::string_view org = {}) : ctx_(b.get()), org_(org) {}

    invoice_draft draft(std::string_view customer, std::string_view currency) const
    {
        return invoice_draft(ctx_, org_, customer, currency);
    }
    /** The invoice's JSON, or nullopt when there is none. */
    std::optional<std::string> get(std::string_view number) const
    {
        char *j = nullptr;
        int rc = wabot_invoice_get(ctx_, o(), detail::cstr(number).get(), &j);
        if (rc == WABOT_ERR_NOT_FOUND)
            return std::nullopt;
        chk(rc);
        return detail::take(ctx_, j, "invoice_get");
    }
    /** {"invoices":[...],"next_offset":n} newest first, of one customer
     *  (empty: all) in one status (0: any). */
    std::string list_json(std::string_view customer = {},
                          wabot_invoice_status status = static_cast<wabot_invoice_status>(0),
                          std::int64_t offset = 0, std::int64_t limit = 100) const
    {
        char *j = nullptr;
        chk(wabot_invoice_list(ctx_, o(), detail::nstr(customer).get(), status, offset, limit,
                               &j));
        return detail::take(ctx_, j, "invoice_list");
    }
    void set_status(std::string_view number, wabot_invoice_status s)
    {
        chk(wabot_invoice_set_status(ctx_, o(), detail::cstr(number).get(), s));
    }
    void mark_paid(std::string_view number)
    {
        chk(wabot_invoice_mark_paid(ctx_, o(), detail::cstr(number).get()));
    }
    void mark_void(std::string_view number)
    {
        chk(wabot_invoice_void(ctx_, o(), detail::cstr(number).get()));
    }
    /** Mark past-due ISSUED/SENT invoices OVERDUE; returns how many. */
    std::int64_t mark_overdue(std::int64_t limit = 100)
    {
        std::int64_t n = 0;
        chk(wabot_invoice_mark_overdue(ctx_, o(), limit, &n));
        return n;
    }
    std::string stats_json() const
    {
        char *j = nullptr;
        chk(wabot_invoice_stats(ctx_, o(), &j));
        return detail::take(ctx_, j, "invoice_stats");
    }
    std::string render_text(std::string_view number) const
    {
        char *t = nullptr;
        chk(wabot_invoice_render_text(ctx_, o(), detail::cstr(number).get(), &t));
        return detail::take(ctx_, t, "render_text");
    }
    /** The PDF's bytes. */
    std::string render_pdf(std::string_view number) const
    {
        char *p = nullptr;
        std::size_t n = 0;
        chk(wabot_invoice_render_pdf(ctx_, o(), detail::cstr(number).get(), &p, &n));
        return detail::take_bytes(ctx_, p, n);
    }
    /** A signed, expiring URL of the PDF (WABOT_ERR_STATE without
     *  invoices.secret or public_url). */
    std::string document_url(std::string_view number) const
    {
        char *u = nullptr;
        chk(wabot_invoice_document_url(ctx_, o(), detail::cstr(number).get(), &u));
        return detail::take(ctx_, u, "document_url");
    }
    /** Queue an invoice job (JSON of invoice.h) for the built-in worker;
     *  returns the job id (WABOT_ERR_EXISTS when that key is queued). */
    std::string enqueue(std::string_view json)
    {
        char *id = nullptr;
        int rc = wabot_invoice_enqueue(ctx_, json.data(), json.size(), &id);
        std::string out = detail::str(id);
        wabot_ctx_mem_free(ctx_, id);
        chk(rc);
        return out;
    }

private:
    wabot_ctx *ctx_;
    std::string org_;
    const char *o() const { return org_.empty() ? nullptr : org_.c_str(); }
    int chk(int rc) const { return detail::check(rc, ctx_); }
};

/* ------------------------------------------------------------------ */
/* Templates, customers, audiences (template.h, campaign.h)            */

/** A compiled message template (owned, move-only; free it before its
 *  bot). Compiling throws WABOT_ERR_INVAL naming the byte position. */
class message_template {
public:
    /** Supplies a placeholder's value; nullopt: none (the default). */
    using lookup = std::function<std::optional<std::string>(wabot_template_scope,
                                                            std::string_view attr)>;
    message_template(const bot &b, std::string_view text) : ctx_(b.get())
    {
        detail::check_tls(wabot_template_compile(ctx_, text.data(), text.size(), &t_));
    }
    message_template(message_template &&o) noexcept
        : t_(std::exchange(o.t_, nullptr)), ctx_(o.ctx_) {}
    message_template &operator=(message_template &&o) noexcept
    {
        std::swap(t_, o.t_);
        std::swap(ctx_, o.ctx_);
        return *this;
    }
    message_template(const message_template &) = delete;
    message_template &operator=(const message_template &) = delete;
    ~message_template() { wabot_template_free(t_); }
    wabot_template *get() const { return t_; }

    std::size_t placeholders() const { return wabot_template_placeholders(t_); }
    /** Render with values from a JSON object {"name","customer":{},"org":{}}. */
    std::string render_json(std::string_view vars) const
    {
        char *s = nullptr;
        std::size_t n = 0;
        detail::check_tls(wabot_template_render_json(t_, vars.data(), vars.size(), &s, &n));
        return detail::take_bytes(ctx_, s, n);
    }
    /** Render with values from fn; an exception fn throws is rethrown
     *  once the render is over. */
    std::string render(const lookup &fn) const
    {
        render_state st{&fn, {}, nullptr};
        char *s = nullptr;
        std::size_t n = 0;
        detail::check_tls(wabot_template_render(t_, &lookup_tramp, &st, &s, &n));
        std::string out = detail::take_bytes(ctx_, s, n);
        if (st.failure)
            std::rethrow_exception(st.failure);
        return out;
    }

private:
    /* One render's callback state: the values handed to C stay alive
     * until the render returns; an exception waits there. */
    struct render_state {
        const lookup *fn;
        std::vector<std::unique_ptr<std::string>> keep;
        std::exception_ptr failure;
    };
    wabot_template *t_ = nullptr;
    wabot_ctx *ctx_;
    static const char *lookup_tramp(void *ud, wabot_template_scope scope, const char *attr)
    {
        auto *st = static_cast<render_state *>(ud);
        try {
            std::optional<std::string> v = (*st->fn)(scope, attr ? attr : "");
            if (!v)
                return nullptr;
            st->keep.push_back(std::make_unique<std::string>(std::move(*v)));
            return st->keep.back()->c_str();
        } catch (...) {
            if (!st->failure)
                st->failure = std::current_exception();
            return nullptr;
        }
    }
};

/** One organisation's customer profiles (empty org: the default one).
 *  Customers cross as JSON text (campaign.h). */
class customers {
public:
    explicit customers(const bot &b, std::string_view org = {})
        : ctx_(b.get()), org_(detail::org_or_default(b.get(), org)) {}

    /** Create or update; returns the customer after the change. */
    std::string upsert_json(std::string_view json)
    {
        char *o = nullptr;
        chk(wabot_customer_upsert_json(ctx_, org_.c_str(), json.data(), json.size(), &o));
        return detail::take(ctx_, o, "upsert");
    }
    /** Bulk upsert of a JSON array; returns the report. */
    std::string import_json(std::string_view json)
    {
        char *o = nullptr;
        chk(wabot_customer_import_json(ctx_, org_.c_str(), json.data(), json.size(), &o));
        return detail::take(ctx_, o, "import");
    }
    /** The customer's JSON, or nullopt when there is none. */
    std::optional<std::string> get_json(std::string_view phone) const
    {
        char *o = nullptr;
        int rc = wabot_customer_get_json(ctx_, org_.c_str(), detail::cstr(phone).get(), &o);
        if (rc == WABOT_ERR_NOT_FOUND)
            return std::nullopt;
        chk(rc);
        return detail::take(ctx_, o, "get");
    }
    void remove(std::string_view phone)
    {
        chk(wabot_customer_delete(ctx_, org_.c_str(), detail::cstr(phone).get()));
    }
    /** {"customers":[...],"cursor":"..."}: one page ("0": done). */
    std::string list_json(std::string_view cursor = "0", std::size_t count = 100) const
    {
        char *o = nullptr;
        chk(wabot_customer_list_json(ctx_, org_.c_str(), detail::cstr(cursor).get(), count, &o));
        return detail::take(ctx_, o, "list");
    }
    /** One page {"recipients","cursor","excluded"} of an audience. */
    std::string audience_json(std::string_view audience, std::string_view cursor = "0",
                              std::size_t count = 100) const
    {
        char *o = nullptr;
        chk(wabot_audience_resolve_json(ctx_, org_.c_str(), audience.data(), audience.size(),
                                        detail::cstr(cursor).get(), count, &o));
        return detail::take(ctx_, o, "audience");
    }

private:
    wabot_ctx *ctx_;
    std::string org_;
    int chk(int rc) const { return detail::check(rc, ctx_); }
};

/* ------------------------------------------------------------------ */
/* Orders (order.h)                                                    */

inline std::string order_status_name(wabot_order_status s)
{
    return detail::str(wabot_order_status_name(s));
}

/** Order counts per status: counts[s] for each wabot_order_status s,
 *  counts[0] all orders. */
using order_counts = std::array<std::int64_t, WABOT_ORDER_STATUS_COUNT>;

/** One organisation's orders (empty org: the default one). Orders cross
 *  as JSON text (order.h). Any thread; every call throws WABOT_ERR_STATE
 *  when the context has no orders module. The bot must outlive it. */
class orders {
public:
    explicit orders(const bot &b, std::string_view org = {}) : ctx_(b.get()), org_(org) {}

    /** Place a PENDING order from lines_json ([{"sku","quantity"},...]);
     *  returns its id. `key` (e.g. the inbound message id): a second
     *  create with it throws WABOT_ERR_EXISTS, or with exist_ok returns
     *  the first order's id. */
    std::string create(std::string_view customer, std::string_view lines_json,
                       std::string_view key = {}, bool exist_ok = false)
    {
        char *id = nullptr;
        int rc = wabot_order_create(ctx_, o(), detail::cstr(customer).get(),
                                    detail::cstr(lines_json).get(), detail::nstr(key).get(), &id);
        std::string out = detail::str(id);
        wabot_ctx_mem_free(ctx_, id);
        if (!(rc == WABOT_ERR_EXISTS && exist_ok))
            chk(rc);
        return out;
    }
    /** The order's JSON, or nullopt when there is none. */
    std::optional<std::string> get(std::string_view id) const
    {
        char *j = nullptr;
        int rc = wabot_order_get(ctx_, o(), detail::cstr(id).get(), &j);
        return detail::take_found(ctx_, rc, j, "order_get");
    }
    /** {"orders":[...],"cursor":"<next>"} newest first ("0": no more), of
     *  one customer (empty: all) in one status (0: any). */
    std::string list_json(std::string_view customer = {},
                          wabot_order_status status = static_cast<wabot_order_status>(0),
                          std::string_view cursor = "0", std::int64_t limit = 100) const
    {
        char *j = nullptr;
        chk(wabot_order_list(ctx_, o(), detail::nstr(customer).get(), status,
                             detail::cstr(cursor).get(), limit, &j));
        return detail::take(ctx_, j, "order_list");
    }
    /** Queue the order for the built-in order-processing worker (confirm,
     *  invoice, PROCESSING as the loop runs). WABOT_ERR_EXISTS when it is
     *  queued already, WABOT_ERR_STATE when not PENDING. */
    void confirm(std::string_view id)
    {
        chk(wabot_order_confirm(ctx_, o(), detail::cstr(id).get()));
    }
    /** Move the order; WABOT_ERR_STATE (naming both statuses) for a change
     *  not allowed, WABOT_ERR_TOO_LARGE when the stock cannot cover it. */
    void set_status(std::string_view id, wabot_order_status s)
    {
        chk(wabot_order_set_status(ctx_, o(), detail::cstr(id).get(), s));
    }
    void cancel(std::string_view id) { chk(wabot_order_cancel(ctx_, o(), detail::cstr(id).get())); }
    order_counts counts() const
    {
        order_counts c{};
        chk(wabot_order_counts(ctx_, o(), c.data(), c.size()));
        return c;
    }
    /** {"org","count","by_status":{..},"revenue":{currency: minor}}. */
    std::string stats_json() const
    {
        char *j = nullptr;
        chk(wabot_order_stats(ctx_, o(), &j));
        return detail::take(ctx_, j, "order_stats");
    }

private:
    wabot_ctx *ctx_;
    std::string org_;
    const char *o() const { return org_.empty() ? nullptr : org_.c_str(); }
    int chk(int rc) const { return detail::check(rc, ctx_); }
};

/** Install the ready-made shop conversation on the bot's router (empty
 *  org: serve every organisation). Once, before serving. */
inline void install_order_flow(bot &b, std::string_view org = {})
{
    detail::check(wabot_order_flow_install(b.get(), detail::nstr(org).get()), b.get());
}

/* ------------------------------------------------------------------ */
/* Campaigns and reminders (campaign.h)                                */

inline std::string campaign_status_name(wabot_campaign_status s)
{
    return detail::str(wabot_campaign_status_name(s));
}

/** One organisation's campaigns (empty org: the default one). Campaigns
 *  cross as JSON text (campaign.h); the fan-out runs on the "campaigns"
 *  queue as the bot's loop runs. Any thread. Every call throws
 *  WABOT_ERR_UNSUPPORTED while campaign.enabled is off. */
class campaigns {
public:
    explicit campaigns(const bot &b, std::string_view org = {})
        : ctx_(b.get()), org_(detail::org_or_default(b.get(), org)) {}

    /** Create from the replaced system's body (organizationId, name,
     *  message, type, targetAudience, startImmediately or scheduledFor,
     *  ...); returns the campaign with "id" and "status". A bad body
     *  throws WABOT_ERR_PARSE or WABOT_ERR_INVAL naming the member. */
    std::string create_json(std::string_view body)
    {
        char *j = nullptr;
        chk(wabot_campaign_create_json(ctx_, body.data(), body.size(), &j));
        return detail::take(ctx_, j, "campaign_create");
    }
    /** The campaign's JSON, or nullopt when there is none. */
    std::optional<std::string> get_json(std::string_view id) const
    {
        char *j = nullptr;
        int rc = wabot_campaign_get_json(ctx_, org_.c_str(), detail::cstr(id).get(), &j);
        return detail::take_found(ctx_, rc, j, "campaign_get");
    }
    /** {"campaigns":[...],"cursor":"..."}: one storage page of those in
     *  `status` ("RUNNING", ...; empty: any); stop at cursor "0". */
    std::string list_json(std::string_view status = {}, std::string_view cursor = "0",
                          std::size_t count = 100) const
    {
        char *j = nullptr;
        chk(wabot_campaign_list_json(ctx_, org_.c_str(), detail::nstr(status).get(),
                                     detail::cstr(cursor).get(), count, &j));
        return detail::take(ctx_, j, "campaign_list");
    }
    /* Lifecycle: WABOT_ERR_STATE (naming both states) for a move not
     * allowed, WABOT_ERR_NOT_FOUND, WABOT_ERR_CONFLICT. */
    void start(std::string_view id)
    {
        chk(wabot_campaign_start(ctx_, org_.c_str(), detail::cstr(id).get()));
    }
    /** DRAFT -> SCHEDULED at at_ms (ms since the epoch). */
    void schedule(std::string_view id, std::int64_t at_ms)
    {
        chk(wabot_campaign_schedule(ctx_, org_.c_str(), detail::cstr(id).get(), at_ms));
    }
    void pause(std::string_view id)
    {
        chk(wabot_campaign_pause(ctx_, org_.c_str(), detail::cstr(id).get()));
    }
    void resume(std::string_view id)
    {
        chk(wabot_campaign_resume(ctx_, org_.c_str(), detail::cstr(id).get()));
    }
    void cancel(std::string_view id)
    {
        chk(wabot_campaign_cancel(ctx_, org_.c_str(), detail::cstr(id).get()));
    }
    /** Counts of the campaign (version WABOT_CAMPAIGN_PROGRESS_VERSION);
     *  skipped[] is indexed by wabot_campaign_skip. */
    wabot_campaign_progress progress(std::string_view id) const
    {
        wabot_campaign_progress p{};
        p.version = WABOT_CAMPAIGN_PROGRESS_VERSION;
        chk(wabot_campaign_progress_get(ctx_, org_.c_str(), detail::cstr(id).get(), &p));
        return p;
    }
    /** The same as JSON. */
    std::string progress_json(std::string_view id) const
    {
        char *j = nullptr;
        chk(wabot_campaign_progress_json(ctx_, org_.c_str(), detail::cstr(id).get(), &j));
        return detail::take(ctx_, j, "campaign_progress");
    }

private:
    wabot_ctx *ctx_;
    std::string org_;
    int chk(int rc) const { return detail::check(rc, ctx_); }
};

/** One organisation's reminders (empty org: the default one), as JSON
 *  text (campaign.h). Any thread. Every call throws
 *  WABOT_ERR_UNSUPPORTED while campaign.reminders_enabled is off. */
class reminders {
public:
    explicit reminders(const bot &b, std::string_view org = {})
        : ctx_(b.get()), org_(detail::org_or_default(b.get(), org)) {}

    /** Create and schedule from the replaced system's body
     *  (organizationId, customerPhone, type, message, scheduledFor, ...);
     *  returns the stored reminder. WABOT_ERR_EXISTS for a taken id. */
    std::string create_json(std::string_view body)
    {
        char *j = nullptr;
        chk(wabot_reminder_create_json(ctx_, body.data(), body.size(), &j));
        return detail::take(ctx_, j, "reminder_create");
    }
    /** The reminder's JSON, or nullopt when there is none. */
    std::optional<std::string> get_json(std::string_view id) const
    {
        char *j = nullptr;
        int rc = wabot_reminder_get_json(ctx_, org_.c_str(), detail::cstr(id).get(), &j);
        return detail::take_found(ctx_, rc, j, "reminder_get");
    }
    /** SCHEDULED -> CANCELLED; WABOT_ERR_STATE when it is final already. */
    void cancel(std::string_view id)
    {
        chk(wabot_reminder_cancel(ctx_, org_.c_str(), detail::cstr(id).get()));
    }
    /** {"reminders":[...],"cursor":"..."} oldest first, of one customer
     *  (a phone; empty: all) in one status ("SCHEDULED", ...; empty: any);
     *  stop at cursor "0". */
    std::string list_json(std::string_view customer = {}, std::string_view status = {},
                          std::string_view cursor = "0", std::size_t count = 100) const
    {
        char *j = nullptr;
        chk(wabot_reminder_list_json(ctx_, org_.c_str(), detail::nstr(customer).get(),
                                     detail::nstr(status).get(), detail::cstr(cursor).get(),
                                     count, &j));
        return detail::take(ctx_, j, "reminder_list");
    }
    /** {"by_status":{..},"created_by_type":{..}}. */
    std::string stats_json() const
    {
        char *j = nullptr;
        chk(wabot_reminder_stats_json(ctx_, org_.c_str(), &j));
        return detail::take(ctx_, j, "reminder_stats");
    }

private:
    wabot_ctx *ctx_;
    std::string org_;
    int chk(int rc) const { return detail::check(rc, ctx_); }
};

/** Whether a campaign feature is on (for org, or context-wide when empty). */
inline bool campaign_feature_enabled(const bot &b, wabot_campaign_feature f,
                                     std::string_view org = {})
{
    int rc = wabot_campaign_feature_check(b.get(), org.empty() ? nullptr : detail::cstr(org).get(),
                                          f);
    if (rc == WABOT_ERR_UNSUPPORTED)
        return false;
    detail::check(rc, b.get());
    return true;
}

/* ------------------------------------------------------------------ */
/* Functions without a context                                         */

inline std::string version() { return detail::str(wabot_version_str()); }
inline unsigned version_num() { return wabot_version_num(); }
/** Detail of the last failed call on this thread, whatever its object. */
inline std::string last_error() { return detail::str(wabot_errmsg()); }
/** A customer's stable migration bucket, 0..99. */
inline int migration_bucket(std::string_view customer)
{
    return wabot_migration_bucket(detail::cstr(customer).get());
}
inline std::string msg_type_name(wabot_msg_type t) { return detail::str(wabot_msg_type_name(t)); }
inline wabot_msg_type msg_type_from_name(std::string_view name)
{
    return wabot_msg_type_from_name(detail::cstr(name).get());
}
inline std::string log_level_name(wabot_log_level l) { return detail::str(wabot_log_level_name(l)); }
/** Fold text as keyword routes compare it ("  Ménu! " -> "menu"). */
inline std::string keyword_fold(std::string_view text)
{
    char *f = wabot_route_keyword_fold(detail::cstr(text).get());
    if (!f)
        throw error(WABOT_ERR_NOMEM, "keyword_fold");
    std::string s(f);
    wabot_free(f);
    return s;
}
/** The status a transport reports for a provider answer. */
inline int provider_classify(wabot_provider p, int http_code, int code = 0)
{
    return wabot_provider_classify(p, http_code, code);
}
/** X-Twilio-Signature check (form body unless raw). */
inline bool twilio_signature_valid(std::string_view auth_token, std::string_view url,
                                   std::string_view body, std::string_view signature,
                                   bool raw = false)
{
    int rc = wabot_twilio_signature_check(detail::cstr(auth_token).get(), detail::cstr(url).get(),
                                          raw ? WABOT_TWILIO_BODY_RAW : WABOT_TWILIO_BODY_FORM,
                                          body.data(), body.size(),
                                          detail::cstr(signature).get());
    if (rc != WABOT_OK && rc != WABOT_ERR_AUTH)
        throw error(rc, "twilio signature check");
    return rc == WABOT_OK;
}
/** The X-Twilio-Signature Twilio would send for form `body` at `url`. */
inline std::string twilio_signature(std::string_view auth_token, std::string_view url,
                                    std::string_view body)
{
    char out[WABOT_TWILIO_SIGNATURE_SIZE];
    int rc = wabot_twilio_signature_compute(detail::cstr(auth_token).get(),
                                            detail::cstr(url).get(), body.data(), body.size(),
                                            out, sizeof out);
    if (rc < 0)
        throw error(rc, detail::str(wabot_errmsg()));
    return out;
}
/** The X-Hub-Signature-256 value Meta would send for `body`. */
inline std::string meta_signature(std::string_view app_secret, std::string_view body)
{
    char out[WABOT_META_SIGNATURE_SIZE];
    int rc = wabot_meta_signature_compute(detail::cstr(app_secret).get(), body.data(),
                                          body.size(), out, sizeof out);
    if (rc < 0)
        throw error(rc, detail::str(wabot_errmsg()));
    return out;
}
/** X-Hub-Signature-256 check. */
inline bool meta_signature_valid(std::string_view app_secret, std::string_view body,
                                 std::string_view header_value)
{
    int rc = wabot_meta_signature_check(detail::cstr(app_secret).get(), body.data(), body.size(),
                                        detail::cstr(header_value).get());
    if (rc != WABOT_OK && rc != WABOT_ERR_AUTH)
        throw error(rc, "meta signature check");
    return rc == WABOT_OK;
}

} // namespace wabot

#endif /* WABOT_HPP */
