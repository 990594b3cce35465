// What `wmrun stats --serve` is allowed to do, decided before anything listens: the address it
// binds (loopback unless --allow-remote), and the bearer token every request must carry
// (required with --allow-remote: figures of every container are nobody else's business).
#pragma once

#include <string>
#include <vector>

#include "wmrun/base/error.hpp"

namespace wmrun::runtime {

struct ServeOptions {
    std::string host;  // an IP literal, without brackets: "127.0.0.1", "::1", "0.0.0.0"
    int port = 0;
    bool loopback = false;  // host is 127.0.0.0/8 or ::1
    std::string token;      // the token file's first line; empty: no token asked
    std::string token_file;
};

// "ADDR:PORT" ("127.0.0.1:9323", "[::1]:9323", "localhost:9323", "0.0.0.0:9323"); a
// non-loopback address needs allow_remote, and allow_remote needs token_file. The token file
// must not be readable by others than its owner, and must hold a token of 16 characters or more.
Result<ServeOptions> serve_options(const std::string& listen, bool allow_remote,
                                   const std::string& token_file);

// Whether an Authorization header value is "Bearer <token>", compared in constant time.
bool bearer_matches(const std::string& authorization, const std::string& token);

}  // namespace wmrun::runtime
