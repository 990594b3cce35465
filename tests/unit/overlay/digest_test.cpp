#include <catch2/catch.hpp>

#include "wmrun/overlay/digest.hpp"

using namespace wmrun::overlay;

TEST_CASE("digests parse and validate", "[digest]") {
    std::string hex(64, 'a');
    auto d = parse_digest("sha256:" + hex, "index.json");
    REQUIRE(d);
    CHECK(d->algorithm == DigestAlgorithm::sha256);
    CHECK(d->hex == hex);
    CHECK(d->str() == "sha256:" + hex);
    CHECK(parse_digest("sha512:" + std::string(128, '0'), "x"));

    auto bad = [](const std::string& text) { return !parse_digest(text, "f").has_value(); };
    CHECK(bad(hex));                               // no algorithm
    CHECK(bad("md5:" + std::string(32, 'a')));     // unknown algorithm
    CHECK(bad("sha256:" + std::string(63, 'a')));  // short
    CHECK(bad("sha256:" + std::string(64, 'A')));  // uppercase
    CHECK(bad("sha256:" + std::string(63, 'a') + "g"));
    CHECK(bad("sha512:" + hex));  // sha512 needs 128
    CHECK(bad("sha256:../../" + std::string(58, 'a')));

    auto err = parse_digest("sha256:xyz", "blobs/sha256/abc: config.digest");
    REQUIRE(!err);
    CHECK(err.error().message().find("blobs/sha256/abc") != std::string::npos);
}

TEST_CASE("hashing matches the known vectors, streamed or whole", "[digest]") {
    CHECK(digest_of("abc").hex ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(digest_of("").hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(digest_of("abc", DigestAlgorithm::sha512).hex.substr(0, 16) == "ddaf35a193617aba");
    Hasher h;
    h.update("a");
    h.update("bc");
    CHECK(h.finish() == digest_of("abc"));
}

TEST_CASE("a blob is checked for size and digest while read", "[digest]") {
    Digest want = digest_of("hello world");
    {
        BlobVerifier v(want, 11, "blob");
        REQUIRE(v.update("hello ", 6));
        REQUIRE(v.update("world", 5));
        CHECK(v.finish());
    }
    {
        BlobVerifier v(want, 11, "blob");
        REQUIRE(v.update("hello", 5));
        auto r = v.finish();
        REQUIRE(!r);
        CHECK(r.error().message().find("truncated") != std::string::npos);
    }
    {
        BlobVerifier v(want, 11, "blob");
        CHECK(!v.update("hello world!", 12));  // too long: fails before the end
    }
    {
        BlobVerifier v(want, 11, "blob");
        REQUIRE(v.update("hello WORLD", 11));
        auto r = v.finish();
        REQUIRE(!r);
        CHECK(r.error().message().find("digest mismatch") != std::string::npos);
    }
}
