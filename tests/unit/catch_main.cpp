#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "skip.hpp"

namespace {

// Appends "<test case>\t<reason>\n" to $WMRUN_SKIP_LOG for each test case that ended through
// WMRUN_SKIP without a failed assertion (skip.hpp); tools/run-tests counts them as skipped.
struct SkipListener : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;

    void testCaseStarting(const Catch::TestCaseInfo& info) override {
        wmrun_test::skip_reason().clear();
        TestEventListenerBase::testCaseStarting(info);
    }

    void testCaseEnded(const Catch::TestCaseStats& stats) override {
        TestEventListenerBase::testCaseEnded(stats);
        std::string reason = wmrun_test::skip_reason();
        const char* log = std::getenv(wmrun_test::kSkipLogEnv);
        if (reason.empty() || !log || !*log || stats.totals.assertions.failed > 0) return;
        std::replace(reason.begin(), reason.end(), '\n', ' ');
        std::string line = stats.testInfo.name + "\t" + reason + "\n";
        int fd = ::open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        bool written =
            fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
        if (fd >= 0) ::close(fd);
        if (!written) {
            // Unrecorded, the skip would count as a pass: end the run as broken instead.
            std::fprintf(stderr, "cannot record the skip of \"%s\" in %s ($%s)\n",
                         stats.testInfo.name.c_str(), log, wmrun_test::kSkipLogEnv);
            std::_Exit(3);
        }
    }
};

}  // namespace

CATCH_REGISTER_LISTENER(SkipListener)
