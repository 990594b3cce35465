#include "bpf_device_filter.hpp"

#include <cstdint>
#include <limits>
#include <string>

namespace wmrun::cgroups::detail {

namespace {

// struct bpf_cgroup_dev_ctx: u32 access_type (access << 16 | type), u32 major, u32 minor.
constexpr std::int16_t kCtxAccessType = 0, kCtxMajor = 4, kCtxMinor = 8;
// Registers the prologue fills: R1 is the context, and a scratch register after it.
constexpr std::uint8_t kCtx = 1, kType = 2, kAccess = 3, kMajor = 4, kMinor = 5, kScratch = 1;
constexpr std::int32_t kAllAccess = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;

bpf_insn insn(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off,
              std::int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}

bpf_insn load_word(std::uint8_t dst, std::int16_t off) {
    return insn(BPF_LDX | BPF_MEM | BPF_W, dst, kCtx, off, 0);
}
bpf_insn alu32_imm(std::uint8_t op, std::uint8_t dst, std::int32_t imm) {
    return insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn mov32_reg(std::uint8_t dst, std::uint8_t src) {
    return insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0);
}
bpf_insn jump_imm(std::uint8_t op, std::uint8_t dst, std::int32_t imm) {
    return insn(BPF_JMP | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn jump_reg(std::uint8_t op, std::uint8_t dst, std::uint8_t src) {
    return insn(BPF_JMP | op | BPF_X, dst, src, 0, 0);
}
bpf_insn exit_insn() {
    return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

Result<std::int32_t> access_bits(const DeviceRule& rule) {
    if (rule.access.empty()) return kAllAccess;  // an absent access means all, as runc reads it
    std::int32_t bits = 0;
    for (char c : rule.access) {
        switch (c) {
            case 'r':
                bits |= BPF_DEVCG_ACC_READ;
                break;
            case 'w':
                bits |= BPF_DEVCG_ACC_WRITE;
                break;
            case 'm':
                bits |= BPF_DEVCG_ACC_MKNOD;
                break;
            default:
                return fail("device filter", rule.access, "access must be made of r, w, m");
        }
    }
    return bits;
}

// A major or minor the rule tests, or nullopt for any; negative numbers mean any, as runc's -1.
Result<std::optional<std::int32_t>> device_number(std::optional<std::int64_t> n, const char* what) {
    if (!n || *n < 0) return std::nullopt;
    if (*n > std::numeric_limits<std::int32_t>::max())
        return fail("device filter", std::to_string(*n), std::string(what) + " is too large");
    return static_cast<std::int32_t>(*n);
}

// The block for one rule: each test jumps past the block when the request does not match it;
// a request that passes every test gets the rule's verdict. Returns false when the rule has no
// test, so that it matches everything and ends the program.
Result<bool> append_rule(std::vector<bpf_insn>& out, const DeviceRule& rule) {
    std::optional<std::int32_t> type;
    if (rule.type == 'c') {
        type = BPF_DEVCG_DEV_CHAR;
    } else if (rule.type == 'b') {
        type = BPF_DEVCG_DEV_BLOCK;
    } else if (rule.type != 'a') {
        return fail("device filter", std::string(1, rule.type), "type must be a, b or c");
    }
    auto access = WM_TRY(access_bits(rule));
    auto major = WM_TRY(device_number(rule.major, "major"));
    auto minor = WM_TRY(device_number(rule.minor, "minor"));

    std::vector<bpf_insn> tests;
    if (type) tests.push_back(jump_imm(BPF_JNE, kType, *type));
    if (access != kAllAccess) {
        tests.push_back(mov32_reg(kScratch, kAccess));
        tests.push_back(alu32_imm(BPF_AND, kScratch, access));
        // Allow: every asked access is granted. Deny: any asked access is refused, so that
        // "deny r" also refuses an open for reading and writing.
        tests.push_back(rule.allow ? jump_reg(BPF_JNE, kScratch, kAccess)
                                   : jump_imm(BPF_JEQ, kScratch, 0));
    }
    if (major) tests.push_back(jump_imm(BPF_JNE, kMajor, *major));
    if (minor) tests.push_back(jump_imm(BPF_JNE, kMinor, *minor));

    const std::size_t block = tests.size() + 2;  // the tests, then mov r0 + exit
    for (std::size_t i = 0; i < tests.size(); ++i) {
        if (BPF_CLASS(tests[i].code) == BPF_JMP)
            tests[i].off = static_cast<std::int16_t>(block - i - 1);
        out.push_back(tests[i]);
    }
    out.push_back(alu32_imm(BPF_MOV, 0, rule.allow ? 1 : 0));
    out.push_back(exit_insn());
    return !tests.empty();
}

}  // namespace

Result<std::vector<bpf_insn>> build_device_filter(const std::vector<DeviceRule>& rules) {
    std::vector<bpf_insn> out = {
        load_word(kType, kCtxAccessType),   alu32_imm(BPF_AND, kType, 0xffff),
        load_word(kAccess, kCtxAccessType), alu32_imm(BPF_RSH, kAccess, 16),
        load_word(kMajor, kCtxMajor),       load_word(kMinor, kCtxMinor),
    };
    bool ended = false;
    for (auto it = rules.rbegin(); it != rules.rend() && !ended; ++it)
        ended = !WM_TRY(append_rule(out, *it));
    if (!ended) {
        out.push_back(alu32_imm(BPF_MOV, 0, 0));  // no rule matched: deny
        out.push_back(exit_insn());
    }
    if (out.size() > BPF_MAXINSNS)
        return fail("device filter", "", "too many device rules for one program", E2BIG);
    return out;
}

}  // namespace wmrun::cgroups::detail
