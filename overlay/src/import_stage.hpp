// What an import writes into the store, staged: blob copies and unpacked layers are made
// under temp names (layers on both cores at once), then one syncfs of the store's filesystem
// makes them durable and only then are they renamed into place (docs/image-store.md, Import).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "wmrun/base/error.hpp"
#include "wmrun/overlay/image.hpp"
#include "wmrun/overlay/limits.hpp"
#include "wmrun/overlay/unpack.hpp"

namespace wmrun::overlay::detail {

// One layer blob of the image, read once from `source`.
struct LayerTask {
    Descriptor blob;
    Digest diff_id;
    std::string source;     // the layout's blob, or the store's when only the layer is missing
    std::string blob_dst;   // the store's blob path to copy to; empty: the store has it
    std::string layer_dst;  // the layer dir to unpack to; empty: the store has it
};

// Progress of the layer tasks: compressed bytes read and layers finished, over all tasks.
using StageProgressFn = std::function<void(std::uint64_t bytes, std::size_t layers)>;

class Staging {
  public:
    explicit Staging(std::string store_root) : root_(std::move(store_root)) {}
    Staging(const Staging&) = delete;
    Staging& operator=(const Staging&) = delete;
    // Removes whatever was staged and not committed.
    ~Staging();

    // A small blob (manifest, config): verified while copied to a temp file.
    Result<> copy_blob(const std::string& source, const Descriptor& d, const std::string& dst);
    // Runs the tasks on up to `threads` threads; the first failure cancels the others. Progress
    // is reported from the calling thread, every 100 ms and when a task ends.
    Result<> run_layers(const std::vector<LayerTask>& tasks, WhiteoutMode mode,
                        const LayerLimits& limits, unsigned threads,
                        const StageProgressFn& progress);
    // syncfs, then renames everything into place (a layer another import made meanwhile wins)
    // and fsyncs the directories that changed.
    Result<> commit();

  private:
    struct Entry {
        std::string tmp;
        std::string dst;
        bool dir;
    };
    Result<> run_one(const LayerTask& t, WhiteoutMode mode, const LayerLimits& limits,
                     const std::atomic<bool>& cancel, std::atomic<std::uint64_t>& bytes);
    Result<std::string> temp_file(const std::string& dst);
    void add(Entry e);

    std::string root_;
    std::mutex mu_;
    std::vector<Entry> staged_;
};

}  // namespace wmrun::overlay::detail
