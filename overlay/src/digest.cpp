#include "wmrun/overlay/digest.hpp"

#include <openssl/evp.h>

#include <cstdlib>

namespace wmrun::overlay {

namespace {

std::size_t hex_length(DigestAlgorithm a) {
    return a == DigestAlgorithm::sha256 ? 64 : 128;
}

const EVP_MD* evp_of(DigestAlgorithm a) {
    return a == DigestAlgorithm::sha256 ? EVP_sha256() : EVP_sha512();
}

}  // namespace

std::string_view Digest::algorithm_name() const {
    return algorithm == DigestAlgorithm::sha256 ? "sha256" : "sha512";
}

std::string Digest::str() const {
    return std::string(algorithm_name()) + ":" + hex;
}

Result<Digest> parse_digest(std::string_view text, const std::string& where) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos)
        return fail("parse digest", where, "\"" + std::string(text) + "\" has no algorithm");
    std::string_view alg = text.substr(0, colon);
    std::string_view enc = text.substr(colon + 1);
    Digest d;
    if (alg == "sha256") {
        d.algorithm = DigestAlgorithm::sha256;
    } else if (alg == "sha512") {
        d.algorithm = DigestAlgorithm::sha512;
    } else {
        return fail("parse digest", where,
                    "unsupported algorithm \"" + std::string(alg) + "\" (sha256, sha512)");
    }
    // The spec requires lowercase hex for the registered algorithms (descriptor.md).
    if (enc.size() != hex_length(d.algorithm))
        return fail("parse digest", where,
                    std::string(alg) + " needs " + std::to_string(hex_length(d.algorithm)) +
                        " hex characters, got " + std::to_string(enc.size()));
    for (char c : enc) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return fail("parse digest", where, "not lowercase hex: \"" + std::string(text) + "\"");
    }
    d.hex = std::string(enc);
    return d;
}

struct Hasher::Ctx {
    EVP_MD_CTX* md = nullptr;
    ~Ctx() { EVP_MD_CTX_free(md); }
};

Hasher::Hasher(DigestAlgorithm algorithm) : ctx_(std::make_unique<Ctx>()), algorithm_(algorithm) {
    ctx_->md = EVP_MD_CTX_new();
    // Only fails on allocation failure, which the rest of the program treats as fatal too.
    if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, evp_of(algorithm), nullptr) != 1)
        std::abort();
}

Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

void Hasher::update(const void* data, std::size_t size) {
    if (size > 0) EVP_DigestUpdate(ctx_->md, data, size);
}

Digest Hasher::finish() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_->md, out, &len);
    static const char* digits = "0123456789abcdef";
    Digest d;
    d.algorithm = algorithm_;
    d.hex.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
        d.hex += digits[out[i] >> 4];
        d.hex += digits[out[i] & 0xf];
    }
    return d;
}

Digest digest_of(std::string_view data, DigestAlgorithm algorithm) {
    Hasher h(algorithm);
    h.update(data);
    return h.finish();
}

BlobVerifier::BlobVerifier(Digest expected, std::int64_t expected_size, std::string name)
    : expected_(std::move(expected)),
      expected_size_(expected_size),
      name_(std::move(name)),
      hasher_(expected_.algorithm) {}

Result<> BlobVerifier::update(const void* data, std::size_t size) {
    bytes_ += size;
    if (bytes_ > static_cast<std::uint64_t>(expected_size_))
        return fail("verify blob", name_,
                    "larger than the descriptor's size " + std::to_string(expected_size_));
    hasher_.update(data, size);
    return {};
}

Result<> BlobVerifier::finish() {
    if (bytes_ != static_cast<std::uint64_t>(expected_size_))
        return fail("verify blob", name_,
                    "size " + std::to_string(bytes_) + " but the descriptor says " +
                        std::to_string(expected_size_) + " (truncated?)");
    Digest got = hasher_.finish();
    if (got != expected_)
        return fail("verify blob", name_,
                    "digest mismatch: content is " + got.str() + ", expected " + expected_.str());
    return {};
}

}  // namespace wmrun::overlay
