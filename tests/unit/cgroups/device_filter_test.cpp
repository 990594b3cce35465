// The cgroup v2 device filter: the program's shape and meaning (run in a small interpreter, no
// root needed), and, as root, the kernel's verdict on a child process in a cgroup of the host's
// cgroup2 tree with the program attached, before and after an update replaces it.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <utility>

#include "bpf_attach.hpp"
#include "bpf_device_filter.hpp"
#include "drivers.hpp"
#include "support.hpp"
#include "wmrun/base/unique_fd.hpp"
#include "wmrun/cgroups/devices.hpp"

using namespace wmrun;
using namespace wmrun::cgroups;
using cgtest::ok;

namespace {

constexpr std::optional<std::int64_t> any = std::nullopt;

DeviceRule allow(char type, std::optional<std::int64_t> major, std::optional<std::int64_t> minor,
                 const char* access = "rwm") {
    return DeviceRule{true, type, major, minor, access};
}
DeviceRule deny(char type, std::optional<std::int64_t> major, std::optional<std::int64_t> minor,
                const char* access = "rwm") {
    return DeviceRule{false, type, major, minor, access};
}
const DeviceRule deny_all = deny('a', any, any);

enum : std::uint32_t { M = BPF_DEVCG_ACC_MKNOD, R = BPF_DEVCG_ACC_READ, W = BPF_DEVCG_ACC_WRITE };
enum : std::uint32_t { B = BPF_DEVCG_DEV_BLOCK, C = BPF_DEVCG_DEV_CHAR };

// Runs `prog` on a bpf_cgroup_dev_ctx as the kernel would; supports the instructions the
// builder emits and fails the test on any other.
int run(const std::vector<bpf_insn>& prog, std::uint32_t type, std::uint32_t access,
        std::uint32_t major, std::uint32_t minor) {
    const std::uint32_t ctx[3] = {access << 16 | type, major, minor};
    std::uint64_t reg[11] = {};
    for (std::size_t pc = 0; pc < prog.size(); ++pc) {
        const bpf_insn& i = prog[pc];
        auto imm = static_cast<std::uint64_t>(static_cast<std::int64_t>(i.imm));
        auto jump = [&](bool taken) {
            if (taken) pc += static_cast<std::size_t>(i.off);
        };
        switch (i.code) {
            case BPF_LDX | BPF_MEM | BPF_W:
                REQUIRE(i.src_reg == 1);
                REQUIRE((i.off >= 0 && i.off <= 8 && i.off % 4 == 0));
                reg[i.dst_reg] = ctx[i.off / 4];
                break;
            case BPF_ALU | BPF_AND | BPF_K:
                reg[i.dst_reg] = std::uint32_t(reg[i.dst_reg] & imm);
                break;
            case BPF_ALU | BPF_RSH | BPF_K:
                reg[i.dst_reg] = std::uint32_t(reg[i.dst_reg]) >> i.imm;
                break;
            case BPF_ALU | BPF_MOV | BPF_K:
                reg[i.dst_reg] = std::uint32_t(imm);
                break;
            case BPF_ALU | BPF_MOV | BPF_X:
                reg[i.dst_reg] = std::uint32_t(reg[i.src_reg]);
                break;
            case BPF_JMP | BPF_JNE | BPF_K:
                jump(reg[i.dst_reg] != imm);
                break;
            case BPF_JMP | BPF_JEQ | BPF_K:
                jump(reg[i.dst_reg] == imm);
                break;
            case BPF_JMP | BPF_JNE | BPF_X:
                jump(reg[i.dst_reg] != reg[i.src_reg]);
                break;
            case BPF_JMP | BPF_EXIT:
                return static_cast<int>(reg[0]);
            default:
                FAIL("unexpected instruction code " << int(i.code) << " at " << pc);
        }
        REQUIRE(pc < prog.size());
    }
    FAIL("program ran off its end");
    return -1;
}

std::vector<bpf_insn> build(const std::vector<DeviceRule>& rules) {
    return ok(detail::build_device_filter(rules));
}

bool is(const bpf_insn& i, std::uint8_t code, std::uint8_t dst, std::int16_t off,
        std::int32_t imm) {
    return i.code == code && i.dst_reg == dst && i.off == off && i.imm == imm;
}

}  // namespace

TEST_CASE("device filter: the program's shape") {
    SECTION("no rules: the context loads, then deny") {
        auto p = build({});
        REQUIRE(p.size() == 8);
        CHECK(is(p[0], BPF_LDX | BPF_MEM | BPF_W, 2, 0, 0));  // type = access_type & 0xffff
        CHECK(is(p[1], BPF_ALU | BPF_AND | BPF_K, 2, 0, 0xffff));
        CHECK(is(p[2], BPF_LDX | BPF_MEM | BPF_W, 3, 0, 0));  // access = access_type >> 16
        CHECK(is(p[3], BPF_ALU | BPF_RSH | BPF_K, 3, 0, 16));
        CHECK(is(p[4], BPF_LDX | BPF_MEM | BPF_W, 4, 4, 0));  // major
        CHECK(is(p[5], BPF_LDX | BPF_MEM | BPF_W, 5, 8, 0));  // minor
        CHECK(is(p[6], BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0));
        CHECK(is(p[7], BPF_JMP | BPF_EXIT, 0, 0, 0));
    }
    SECTION("one rule per block, last rule first, each test jumping past its block") {
        auto p = build({deny_all, allow('c', 1, 3), allow('b', 8, any, "rw")});
        // prologue 6; b 8:* rw: type, 3 access, major, verdict 2 = 7; c 1:3: 5; deny-all: 2.
        REQUIRE(p.size() == 6 + 7 + 5 + 2);
        CHECK(is(p[6], BPF_JMP | BPF_JNE | BPF_K, 2, 6, B));
        CHECK(is(p[7], BPF_ALU | BPF_MOV | BPF_X, 1, 0, 0));
        CHECK(p[7].src_reg == 3);
        CHECK(is(p[8], BPF_ALU | BPF_AND | BPF_K, 1, 0, R | W));
        CHECK(is(p[9], BPF_JMP | BPF_JNE | BPF_X, 1, 3, 0));
        CHECK(is(p[10], BPF_JMP | BPF_JNE | BPF_K, 4, 2, 8));
        CHECK(is(p[11], BPF_ALU | BPF_MOV | BPF_K, 0, 0, 1));
        CHECK(is(p[12], BPF_JMP | BPF_EXIT, 0, 0, 0));
        CHECK(is(p[13], BPF_JMP | BPF_JNE | BPF_K, 2, 4, C));  // rwm: no access test
        CHECK(is(p[14], BPF_JMP | BPF_JNE | BPF_K, 4, 3, 1));
        CHECK(is(p[15], BPF_JMP | BPF_JNE | BPF_K, 5, 2, 3));
        CHECK(is(p[16], BPF_ALU | BPF_MOV | BPF_K, 0, 0, 1));
        // The leading deny-all matches everything: it is the end, with no default after it.
        CHECK(is(p[18], BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0));
        CHECK(is(p[19], BPF_JMP | BPF_EXIT, 0, 0, 0));
    }
    SECTION("a deny rule of part of the access matches any access it names") {
        auto p = build({allow('a', any, any), deny('c', 1, 3, "w")});
        CHECK(is(p[9], BPF_JMP | BPF_JEQ | BPF_K, 1, 4, 0));
    }
    SECTION("rules before an unconditional one are left out") {
        auto with = build({allow('c', 1, 3), allow('c', 1, 5), deny_all, allow('c', 1, 9)});
        auto without = build({deny_all, allow('c', 1, 9)});
        CHECK(with.size() == without.size());
    }
    SECTION("what the program cannot express is refused") {
        CHECK(!detail::build_device_filter({allow('u', 1, 3)}));
        CHECK(!detail::build_device_filter({allow('c', 1, 3, "rx")}));
        CHECK(!detail::build_device_filter({allow('c', std::int64_t(1) << 40, 3)}));
    }
}

TEST_CASE("device filter: verdicts") {
    SECTION("the default rules") {
        auto p = build(default_device_rules());
        CHECK(run(p, C, R | W, 1, 3) == 1);  // /dev/null
        CHECK(run(p, C, R, 1, 5) == 1);      // /dev/zero
        CHECK(run(p, C, R | W, 136, 4) == 1);
        CHECK(run(p, C, M, 8, 0) == 1);  // mknod of anything
        CHECK(run(p, B, M, 8, 0) == 1);
        CHECK(run(p, B, R, 8, 0) == 0);         // sda
        CHECK(run(p, C, R, 1, 11) == 0);        // kmsg
        CHECK(run(p, C, R | W, 10, 229) == 0);  // fuse
    }
    SECTION("a later rule wins") {
        auto p = build({deny_all, allow('c', 1, any), deny('c', 1, 3)});
        CHECK(run(p, C, R, 1, 3) == 0);
        CHECK(run(p, C, R, 1, 5) == 1);
        CHECK(run(p, B, R, 1, 5) == 0);
        p = build({deny_all, deny('c', 1, 3), allow('c', 1, any)});
        CHECK(run(p, C, R, 1, 3) == 1);
    }
    SECTION("partial access") {
        auto p = build({deny_all, allow('c', 1, 3, "r")});
        CHECK(run(p, C, R, 1, 3) == 1);
        CHECK(run(p, C, W, 1, 3) == 0);
        CHECK(run(p, C, R | W, 1, 3) == 0);  // an allow must grant all that is asked
        p = build({allow('a', any, any), deny('c', 1, 3, "w")});
        CHECK(run(p, C, R, 1, 3) == 1);
        CHECK(run(p, C, R | W, 1, 3) == 0);  // a deny refuses any access it names
        CHECK(run(p, C, W, 1, 5) == 1);
    }
    SECTION("type a matches both kinds, and any number") {
        auto p = build({deny_all, allow('a', 7, any, "r")});
        CHECK(run(p, C, R, 7, 1) == 1);
        CHECK(run(p, B, R, 7, 2) == 1);
        CHECK(run(p, B, R, 8, 2) == 0);
        p = build({allow('a', any, any)});
        CHECK(run(p, B, R | W | M, 259, 1) == 1);
    }
}

namespace {

struct Opened {
    int null_errno = -1, zero_errno = -1;  // 0: opened
};

// A child placed in the cgroup by its pid, then opening /dev/null and /dev/zero for reading
// and writing; returns the errno of each.
Opened open_in_cgroup(cgtest::Guard& g) {
    int go[2], result[2];
    REQUIRE(::pipe2(go, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(result, O_CLOEXEC) == 0);
    pid_t pid = g.spawn([&] {
        char c;
        if (::read(go[0], &c, 1) != 1) ::_exit(1);
        int errs[2];
        const char* paths[2] = {"/dev/null", "/dev/zero"};
        for (int i = 0; i < 2; ++i) {
            int fd = ::open(paths[i], O_RDWR | O_CLOEXEC);
            errs[i] = fd < 0 ? errno : 0;
            if (fd >= 0) ::close(fd);
        }
        (void)!::write(result[1], errs, sizeof errs);
        ::_exit(0);
    });
    ::close(go[0]);
    ::close(result[1]);
    REQUIRE(pid > 0);
    ok(g.manager->enter(pid));
    REQUIRE(::write(go[1], "x", 1) == 1);
    ::close(go[1]);
    int errs[2] = {-1, -1};
    REQUIRE(::read(result[0], errs, sizeof errs) == sizeof errs);
    ::close(result[0]);
    ::waitpid(pid, nullptr, 0);
    g.reaped(pid);
    return Opened{errs[0], errs[1]};
}

std::size_t programs_of_ours(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(fd.valid());
    std::size_t n = 0;
    for (const auto& p : ok(detail::attached_device_programs(fd.get())))
        n += p.name == detail::kDeviceProgramName;
    return n;
}

}  // namespace

TEST_CASE("device filter: the kernel enforces it, and an update replaces it") {
    CGTEST_V2_ROOT_OR_SKIP(root);
    cgtest::SubtreeRestore restore(root);
    cgtest::Guard g(cgtest::unique_path());
    g.manager = ok(detail::create_v2(root, g.path()));
    std::string dir = root + g.path();

    // Without a program: both open (the v1 devices cgroup of this process allows all).
    auto opened = open_in_cgroup(g);
    CHECK(opened.null_errno == 0);
    CHECK(opened.zero_errno == 0);
    CHECK(programs_of_ours(dir) == 0);

    Resources r;
    r.devices = {deny_all, allow('c', 1, 5), deny('c', 1, 3)};
    ok(g.manager->apply(r));
    CHECK(programs_of_ours(dir) == 1);
    opened = open_in_cgroup(g);
    CHECK(opened.null_errno == EPERM);
    CHECK(opened.zero_errno == 0);

    // The update path: the new program is attached, the old one detached.
    r.devices = {deny_all, allow('c', 1, 3, "rw")};
    ok(g.manager->apply(r));
    CHECK(programs_of_ours(dir) == 1);
    opened = open_in_cgroup(g);
    CHECK(opened.null_errno == 0);
    CHECK(opened.zero_errno == EPERM);

    // Resources without devices leave the filter as it is.
    Resources none;
    ok(g.manager->apply(none));
    CHECK(programs_of_ours(dir) == 1);
    CHECK(open_in_cgroup(g).zero_errno == EPERM);
}

TEST_CASE("device filter: the verifier's log explains a refused program") {
    if (::geteuid() != 0) WMRUN_SKIP("loading a cgroup device program needs root");
    // The default rules, as every container gets them, pass the verifier.
    ok(detail::load_device_program(build(default_device_rules())));
    ok(detail::load_device_program(build({allow('a', any, any), deny('c', 1, 3, "w")})));

    // R0 is never set: the verifier refuses the exit.
    std::vector<bpf_insn> bad(1);
    bad[0].code = BPF_JMP | BPF_EXIT;
    auto r = detail::load_device_program(bad);
    REQUIRE(!r);
    CHECK(r.error().err == EACCES);
    CHECK(r.error().message().find("verifier log") != std::string::npos);
    CHECK(r.error().message().find("R0") != std::string::npos);
}
