/*
 * The checks of the C++ wrapper's test programs (test_cpp.cpp,
 * test_cpp_commerce.cpp): Check does not suit C++ templates, so each
 * program is plain: a failed CHECK prints where and counts, and main
 * exits 1 when any failed.
 */
#ifndef WABOT_TEST_CPP_CHECK_H
#define WABOT_TEST_CPP_CHECK_H

#include <wabot.hpp>

#include <cstdio>

static int failures = 0;
#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,       \
                         __LINE__, #cond);                                    \
            failures++;                                                       \
        }                                                                     \
    } while (0)

/* The wabot_status a call throws (0: it did not throw). */
template <class F> static int code_of(F &&f)
{
    try {
        f();
    } catch (const wabot::error &e) {
        return e.code();
    }
    return 0;
}

#endif
