// WMRUN_SKIP(reason): ends the running test case as skipped. Catch2 2.13 has no SKIP, and a
// test case that returns early counts as passed; so the reason is kept here, the listener in
// catch_main.cpp writes "<test case>\t<reason>" to the file named by $WMRUN_SKIP_LOG when the
// case ends without a failed assertion, and tools/run-tests counts those cases as skipped, not
// passed. A case that failed before it skipped stays a failure. Use it only for what the host
// lacks (root, a cgroup layout, a tool), never for an error of the code under test.
#pragma once

#include <catch2/catch.hpp>

#include <sstream>
#include <string>

namespace wmrun_test {

// Why the running test case skipped itself, or empty; cleared when a test case starts.
inline std::string& skip_reason() {
    static std::string reason;
    return reason;
}

inline constexpr const char* kSkipLogEnv = "WMRUN_SKIP_LOG";

}  // namespace wmrun_test

// `reason` is a stream expression, as WARN's; the warning shows the reason in a run by hand.
#define WMRUN_SKIP(reason)                                \
    do {                                                  \
        std::ostringstream wmrun_skip_os_;                \
        wmrun_skip_os_ << reason;                         \
        wmrun_test::skip_reason() = wmrun_skip_os_.str(); \
        WARN("skipped: " << wmrun_test::skip_reason());   \
        return;                                           \
    } while (0)
