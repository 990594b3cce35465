// CVE-2019-5736: a process in the container opens /proc/<pid>/exe of the runtime that joins it
// and, once the runtime has exec'd the container's program, writes through that fd into the
// host's runtime binary, which root runs next. Running from a sealed memfd copy makes
// /proc/<pid>/exe an anonymous file that no one can write (F_SEAL_WRITE) and that vanishes
// with the process, so there is nothing on the host to overwrite. runc does the same
// (libcontainer/dmz, formerly nsenter/cloned_binary.c).
#include "sealed_exe.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <string_view>

#include "wmrun/base/unique_fd.hpp"

extern char** environ;

namespace wmrun::cli {

namespace {

constexpr unsigned all_seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

bool enters_a_container(const std::string& command) {
    constexpr std::array<std::string_view, 3> commands = {"create", "run", "exec"};
    for (auto c : commands)
        if (command == c) return true;
    return false;
}

// True when /proc/self/exe is already the sealed copy; the seals, not an environment
// variable, decide, so a caller cannot talk wmrun out of the copy.
bool running_sealed() {
    UniqueFd exe(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (!exe) return false;
    int seals = ::fcntl(exe.get(), F_GET_SEALS);
    return seals >= 0 && (static_cast<unsigned>(seals) & all_seals) == all_seals;
}

Result<UniqueFd> sealed_copy() {
    UniqueFd src(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (!src) return sys_error("open", "/proc/self/exe");
    struct stat st {};
    if (::fstat(src.get(), &st) < 0) return sys_error("fstat", "/proc/self/exe");
    // CLOEXEC: the copy must not stay open in the container's program after the next exec.
    UniqueFd mem(::memfd_create("wmrun", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!mem) return sys_error("memfd_create", "wmrun");
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t n = ::sendfile(mem.get(), src.get(), nullptr, static_cast<std::size_t>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("sendfile", "/proc/self/exe");
        if (n == 0) return fail("copy", "/proc/self/exe", "binary shrank while copied", EIO);
        left -= n;
    }
    if (::fcntl(mem.get(), F_ADD_SEALS, all_seals) < 0) return sys_error("F_ADD_SEALS", "memfd");
    return mem;
}

}  // namespace

Result<> reexec_sealed_for(const std::string& command, char** argv) {
    if (!enters_a_container(command) || running_sealed()) return {};
    UniqueFd mem = WM_TRY(sealed_copy());
    ::fexecve(mem.get(), argv, environ);
    return sys_error("fexecve", "sealed copy of /proc/self/exe");
}

}  // namespace wmrun::cli
