// What the fuzz targets share: a scratch directory on tmpfs, whole-file writes, directory
// listings to compare before and after, and the checks that turn a broken property of the code
// under test into a finding (an abort, which libFuzzer reports and saves the input of).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "wmrun/base/error.hpp"

namespace wmrun::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// A directory made once per process under $WMRUN_FUZZ_TMP (default /dev/shm: the fsyncs and
// syncfs of the code under test then cost nothing), removed at a normal exit.
const std::string& scratch_dir();

// mkdir -p and a whole-file write; the harness's own I/O must not fail, so these abort.
void make_dir(const std::string& path);
void write_whole(const std::string& path, std::string_view data);
std::string read_whole(const std::string& path);

// A broken property: prints it and aborts.
[[noreturn]] void violated(const std::string& what);
inline void require(bool ok, const std::string& what) {
    if (!ok) violated(what);
}

// Errors are printed once, on one line (wmrun: <command>: <message>): a rejected input must
// give a non-empty message without a line break, whatever bytes the input held.
void require_one_line(const Error& e);

// path relative to `dir` -> type, mode, size, link count, mtime and (for symlinks) the target,
// of everything under `dir`, recursively; `skip` (relative) is left out with its contents.
// Without dir_times, directories are listed without their mtime (which any temp file made and
// removed inside them moves).
using Listing = std::map<std::string, std::string>;
Listing list_tree(const std::string& dir, const std::string& skip = {}, bool dir_times = true);
// The differences between two listings, one per line, for the message of a violation.
std::string listing_diff(const Listing& before, const Listing& after);

}  // namespace wmrun::fuzz
