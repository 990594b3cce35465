// Staying in the foreground with a container process (run, exec): signals go to it, the
// console's bytes are copied when wmrun holds the pty master, and its exit status comes back.
#pragma once

#include <signal.h>

#include <string>

#include "wmrun/base/error.hpp"

namespace wmrun::runtime {

class ForwardedSignals {
  public:
    ForwardedSignals();
    ~ForwardedSignals();
    ForwardedSignals(const ForwardedSignals&) = delete;
    ForwardedSignals& operator=(const ForwardedSignals&) = delete;
    const sigset_t& mask() const { return mask_; }

  private:
    sigset_t mask_{};
    sigset_t old_{};
};

// Waits for the process behind pidfd (a child of ours); returns its exit status, 128+signal
// when killed. `master` is the pty master to proxy, or -1.
Result<int> supervise(const ForwardedSignals& signals, int pidfd, int master,
                      const std::string& name);

}  // namespace wmrun::runtime
