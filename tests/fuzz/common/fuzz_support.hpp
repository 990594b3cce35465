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

// path relative to `dir` -> type, mode, link count, size and (for symlinks) the target of
// everything under `dir`, recursively; `skip` (relative) is left out with its contents. With
// `times`, each entry's mtime too. By `content`, the files only (not the directories), each
// with a hash of its bytes instead of its mtime: a file rewritten with the same bytes is the
// same, and a directory made on the way (a pack's packs/<hh>/) does not count.
using Listing = std::map<std::string, std::string>;
enum class ListBy { times, content };
Listing list_tree(const std::string& dir, const std::string& skip = {}, ListBy by = ListBy::times);
// The differences between two listings, one per line, for the message of a violation.
std::string listing_diff(const Listing& before, const Listing& after);

}  // namespace wmrun::fuzz
