// Content digests ("sha256:<hex>") and streaming hashing, as the image spec's descriptors use
// them (descriptor.md#digests). Only sha256 and sha512 are accepted: the registered algorithms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "wmrun/base/error.hpp"

namespace wmrun::overlay {

enum class DigestAlgorithm { sha256, sha512 };

struct Digest {
    DigestAlgorithm algorithm = DigestAlgorithm::sha256;
    std::string hex;  // lowercase, 64 (sha256) or 128 (sha512) characters

    std::string_view algorithm_name() const;
    std::string str() const;  // "sha256:<hex>"
    bool operator==(const Digest&) const = default;
    auto operator<=>(const Digest&) const = default;
};

// Parses and validates "<algorithm>:<encoded>"; `where` names the file and field for errors.
Result<Digest> parse_digest(std::string_view text, const std::string& where);

// Streaming hash over OpenSSL EVP.
class Hasher {
  public:
    explicit Hasher(DigestAlgorithm algorithm = DigestAlgorithm::sha256);
    Hasher(Hasher&&) noexcept;
    Hasher& operator=(Hasher&&) noexcept;
    ~Hasher();

    void update(const void* data, std::size_t size);
    void update(std::string_view data) { update(data.data(), data.size()); }
    // Ends the stream; the hasher may not be updated afterwards.
    Digest finish();

  private:
    struct Ctx;
    std::unique_ptr<Ctx> ctx_;
    DigestAlgorithm algorithm_;
};

Digest digest_of(std::string_view data, DigestAlgorithm algorithm = DigestAlgorithm::sha256);

// Hashes bytes as they pass and checks, at the end, the count and digest a descriptor promised.
class BlobVerifier {
  public:
    BlobVerifier(Digest expected, std::int64_t expected_size, std::string name_for_errors);

    // Fails as soon as more bytes arrive than the descriptor's size allows.
    Result<> update(const void* data, std::size_t size);
    Result<> finish();
    std::uint64_t bytes() const { return bytes_; }

  private:
    Digest expected_;
    std::int64_t expected_size_;
    std::string name_;
    Hasher hasher_;
    std::uint64_t bytes_ = 0;
};

}  // namespace wmrun::overlay
