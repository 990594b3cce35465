// migrate, the receiving side (migrate.hpp): says what it has, takes the blobs and snapshots
// it lacks, and makes and starts the container from the final snapshot. Until the sender says
// DONE, a failure (or the channel closed) removes what this side made of the container.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "migrate/channel.hpp"
#include "volumes/image_bundle.hpp"
#include "volumes/upgrade_steps.hpp"
#include "wmrun/base/fs.hpp"
#include "wmrun/base/json_fields.hpp"
#include "wmrun/base/log.hpp"
#include "wmrun/overlay/store.hpp"
#include "wmrun/runtime/migrate.hpp"
#include "wmrun/runtime/snapshots.hpp"
#include "wmrun/runtime/state.hpp"
#include "wmrun/snapshot/stream.hpp"

namespace wmrun::runtime {

namespace {

struct Offer {
    std::string id, image, manifest, repository;
    std::vector<std::string> args, snapshots;
    struct Blob {
        overlay::Digest digest;
        std::int64_t size = 0;
        std::string media_type;
    };
    std::vector<Blob> blobs;  // the manifest first
};

Result<Offer> parse_offer(const Json& j) {
    using namespace json_fields;
    auto f = WM_TRY(Fields::of(j, "HELO"));
    if (WM_TRY(f.req_int<int>("version")) != 1)
        return fail("migrate receive", "", "the sender speaks another version of the protocol");
    Offer o;
    o.id = WM_TRY(f.req_string("id"));
    WM_CHECK(validate_id(o.id));
    o.image = WM_TRY(f.req_string("image"));
    o.manifest = WM_TRY(f.req_string("manifest"));
    o.args = WM_TRY(f.strings("args"));
    o.snapshots = WM_TRY(f.strings("snapshots"));
    o.repository = WM_TRY(f.req_string("repository"));
    WM_CHECK(f.each("blobs", [&](const Json& b, const std::string& at) -> Result<> {
        auto bf = WM_TRY(Fields::of(b, at));
        Offer::Blob blob;
        blob.digest = WM_TRY(overlay::parse_digest(WM_TRY(bf.req_string("digest")), at));
        blob.size = WM_TRY(bf.req_int<std::int64_t>("size"));
        blob.media_type = WM_TRY(bf.req_string("mediaType"));
        if (blob.size < 0) return field_error(bf.at("size"), "must not be negative");
        o.blobs.push_back(std::move(blob));
        return {};
    }));
    if (o.blobs.empty() || o.blobs[0].digest.str() != o.manifest)
        return fail("migrate receive", "HELO", "the first blob must be the manifest");
    return o;
}

// In the new container's directory of the store from its creation until the sender's DONE.
constexpr const char* kMarker = "migrating";
// Beside it, and kept: the snapshot the container was made from.
constexpr const char* kMadeFrom = "migrated-from";

class Receiver {
  public:
    Receiver(const GlobalOptions& g, const ReceiveTarget& t, int in, int out)
        : g_(g), t_(t), ch_(in, out) {}

    ~Receiver() {
        if (!layout_.empty()) (void)remove_all(layout_);
        if (done_) return;
        // The sender went away or failed: nothing of the container stays here.
        if (made_container_) (void)stop_and_delete(g_, offer_.id, 1000);
        if (made_volume_layer_ && store_) (void)store_->remove_container(offer_.id);
    }

    Result<> run() {
        auto r = serve();
        if (!r) (void)ch_.send("ERRO", r.error().message());
        return r;
    }

  private:
    const GlobalOptions& g_;
    const ReceiveTarget& t_;
    migrate::Channel ch_;
    Offer offer_;
    std::optional<overlay::Store> store_;
    std::optional<snapshot::Repository> repo_;
    std::string layout_;  // where the image is put together for import
    bool made_volume_layer_ = false, made_container_ = false, done_ = false;

    Result<> serve() {
        offer_ = WM_TRY(parse_offer(WM_TRY(ch_.expect_json("HELO"))));
        if (auto from = made_here_from(); !from.empty()) return answer_completed(from);
        WM_CHECK(open_target());
        WM_CHECK(say_what_we_have());
        for (;;) {
            auto f = WM_TRY(ch_.receive());
            if (f.type == "ERRO") return fail("the sender", "", f.payload);
            auto j = WM_TRY(parse_json(f.payload, "migration " + f.type + " frame"));
            if (f.type == "BLOB") {
                WM_CHECK(take_blob(j));
            } else if (f.type == "IMGE") {
                WM_CHECK(import_image());
                WM_CHECK(ch_.send_json("IMOK", Json::object()));
            } else if (f.type == "SNAP") {
                auto got = WM_TRY(ch_.receive_snapshot(*repo_));
                WM_CHECK(ch_.send_json("RCVD", {{"id", got.id}}));
            } else if (f.type == "STRT") {
                WM_CHECK(bring_up(j.value("snapshot", "")));
                WM_CHECK(ch_.send_json("UPOK", Json::object()));
            } else if (f.type == "DONE") {
                done_ = true;
                if (::unlink(marker().c_str()) < 0) return sys_error("unlink", marker());
                return {};
            } else {
                return fail("migration channel", "", "unexpected " + f.type + " frame");
            }
        }
    }

    std::string marker() const { return store_->container_dir(offer_.id) + "/" + kMarker; }

    // A container of that id that a migration made here and completed (no marker left): the
    // snapshot it was made from. A sender killed after our DONE asks again; if that snapshot
    // is its final one, it only has its own end left to do.
    std::string made_here_from() const {
        auto state = StateStore(g_.root).load(offer_.id);
        if (!state || state->image_store.empty()) return "";
        std::string dir = state->image_store + "/containers/" + offer_.id;
        if (path_exists(dir + "/" + kMarker)) return "";
        std::string from = read_file(dir + "/" + kMadeFrom).value_or("");
        while (!from.empty() && from.back() == '\n')
            from.pop_back();
        return from;
    }

    Result<> answer_completed(const std::string& from) {
        done_ = true;  // nothing here is ours to remove
        WM_CHECK(ch_.send_json("HAVE", {{"completed", from}}));
        auto f = WM_TRY(ch_.receive());
        if (f.type == "DONE") return {};
        if (f.type == "ERRO") return fail("the sender", "", f.payload);
        return fail("migration channel", "", "unexpected " + f.type + " frame");
    }

    Result<> open_target() {
        StateStore states(g_.root);
        store_.emplace(WM_TRY(overlay::Store::open(t_.store, whiteout_mode(g_.rootless))));
        if (path_exists(marker())) {
            // What a migration that never got to DONE started here: the source still has the
            // container (frozen, or stopped with the final volume layer), so this copy goes.
            log::warn("migrate receive: removing " + offer_.id +
                      ", left by a migration that did not complete");
            WM_CHECK(stop_and_delete(g_, offer_.id, 1000));
            WM_CHECK(store_->remove_container(offer_.id));
        }
        if (auto s = states.load(offer_.id); s || s.error().err != ENOENT)
            return fail("", offer_.id, "container with given ID already exists here");
        if (path_exists(store_->container_dir(offer_.id)))
            return fail("", store_->container_dir(offer_.id),
                        "a volume layer of that id is here already");
        if (!path_exists(t_.repo + "/config")) WM_CHECK(snapshot::Repository::init(t_.repo));
        repo_.emplace(WM_TRY(snapshot::Repository::open(t_.repo)));
        char tmpl[] = "/migrate-XXXXXX";
        layout_ = t_.store + "/tmp" + tmpl;
        if (::mkdtemp(layout_.data()) == nullptr) return sys_error("mkdtemp", layout_);
        return mkdir_all(layout_ + "/blobs/sha256");
    }

    Result<> say_what_we_have() {
        Json blobs = Json::array(), snaps = Json::array();
        for (const auto& b : offer_.blobs)
            if (path_exists(store_->blob_path(b.digest))) blobs.push_back(b.digest.str());
        // Chunk ids are keyed per repository: a base is a snapshot we received from the
        // sender's repository, by its id there.
        auto copies = WM_TRY(snapshot::copies_from(*repo_, offer_.repository));
        for (const auto& id : offer_.snapshots)
            if (std::find(copies.begin(), copies.end(), id) != copies.end()) snaps.push_back(id);
        return ch_.send_json("HAVE", {{"blobs", blobs}, {"snapshots", snaps}});
    }

    std::string layout_blob(const overlay::Digest& d) const {
        return layout_ + "/blobs/" + std::string(d.algorithm_name()) + "/" + d.hex;
    }

    // A blob the sender says we lack; import checks it against its digest.
    Result<> take_blob(const Json& j) {
        auto digest = WM_TRY(overlay::parse_digest(j.value("digest", ""), "BLOB"));
        auto it = std::find_if(offer_.blobs.begin(), offer_.blobs.end(),
                               [&](auto& b) { return b.digest == digest; });
        if (it == offer_.blobs.end())
            return fail("migrate receive", digest.str(), "a blob the image does not name");
        WM_CHECK(mkdir_all(layout_ + "/blobs/" + std::string(digest.algorithm_name())));
        WM_TRY(ch_.receive_file(layout_blob(digest), static_cast<std::uint64_t>(it->size)));
        return {};
    }

    // The image as an OCI layout of the received blobs and our own, imported under its name;
    // a name here that names another manifest is left alone.
    Result<> import_image() {
        if (auto here = store_->get(offer_.image)) {
            if (here->record.manifest.digest.str() == offer_.manifest) return {};
            return fail("", offer_.image,
                        "image of that name here is another one (" +
                            here->record.manifest.digest.str() + ")");
        }
        for (const auto& b : offer_.blobs) {
            std::string to = layout_blob(b.digest);
            if (path_exists(to)) continue;
            WM_CHECK(mkdir_all(layout_ + "/blobs/" + std::string(b.digest.algorithm_name())));
            if (::link(store_->blob_path(b.digest).c_str(), to.c_str()) < 0)
                return sys_error("link", to);
        }
        const auto& m = offer_.blobs[0];
        WM_CHECK(write_file_atomic(layout_ + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
        Json index = {
            {"schemaVersion", 2},
            {"manifests",
             {{{"mediaType", m.media_type}, {"digest", m.digest.str()}, {"size", m.size}}}}};
        WM_CHECK(write_json_file_atomic(layout_ + "/index.json", index));
        overlay::ImportOptions opt;
        opt.name = offer_.image;
        WM_CHECK(store_->import(layout_, opt));
        return {};
    }

    // The final snapshot as the volume layer, then the container made on the image and started.
    Result<> bring_up(const std::string& snapshot) {
        std::string dir = store_->container_dir(offer_.id);
        // The directory appears with its marker in it (made aside, renamed into place): should
        // we die from here on until DONE, the next receive of this id removes what we made.
        std::string aside = t_.store + "/tmp/migrating-XXXXXX";
        if (::mkdtemp(aside.data()) == nullptr) return sys_error("mkdtemp", aside);
        WM_CHECK(write_file_atomic(aside + "/" + kMarker, "unconfirmed\n", 0600));
        WM_CHECK(mkdir_all(aside + "/upper"));
        if (::rename(aside.c_str(), dir.c_str()) < 0) {
            auto err = sys_error("rename", aside + " to " + dir);
            (void)remove_all(aside);
            return err;
        }
        made_volume_layer_ = true;
        WM_CHECK(restore_snapshot(g_, *repo_, snapshot, offer_.id, t_.store, {}));
        WM_CHECK(write_file_atomic(dir + "/" + kMadeFrom, snapshot + "\n", 0600));
        std::vector<std::string> create = {"create",  "--image", offer_.image,
                                           "--store", t_.store,  offer_.id};
        if (!offer_.args.empty()) {
            create.push_back("--");
            create.insert(create.end(), offer_.args.begin(), offer_.args.end());
        }
        auto deadline = UpgradeClock::now() + std::chrono::milliseconds(t_.timeout_ms);
        made_container_ = true;
        WM_CHECK(create_detached(g_, create, "", deadline));
        if (WM_TRY(run_wmrun(g_, {"start", offer_.id}, "", deadline, "start")) != 0)
            return fail("start", offer_.id, "failed (its error is above)");
        return {};
    }
};

}  // namespace

Result<> migrate_receive(const GlobalOptions& g, const ReceiveTarget& t, int in, int out) {
    ::signal(SIGPIPE, SIG_IGN);
    Receiver r(g, t, in, out);
    return r.run();
}

}  // namespace wmrun::runtime
