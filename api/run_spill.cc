// RunSpill (api/run_spill.h): runs in a spill directory, merged in tiers.
#include "api/run_spill.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>
#include <string_view>

#include "api/path_inside.h"
#include "persistence/assert.h"
#include "persistence/commit_record.h"
#include "persistence/memory_budget.h"

namespace cowtree::api_internal {

namespace {

// Blocks of 1/64 of the buffer (256 B .. 64 KiB).
constexpr size_t kRunBlockBytesMin = 256;
constexpr size_t kRunBlockBytesMax = 64 << 10;
// A merge holds one file descriptor per run it reads: at most this many, whatever the buffer
// (a 512 MiB buffer would allow ~2 000), so that a load stays far below the usual 1 024-fd
// limit; larger buffers then make fewer levels instead.
constexpr size_t kFanInMax = 256;

constexpr std::string_view kRunPrefix = "cowtree-loader-";
constexpr std::string_view kRunSuffix = ".run";

size_t ReaderBytesOf(size_t block_bytes) {
  return 2 * kTreeNameBytesMax + block_bytes + kRunOpBytesMax;
}

}  // namespace

// Charges a merge's read and write buffers to the budget (if any) while it lives.
class RunSpill::Charge {
 public:
  Charge(MemoryBudget* budget, uint64_t bytes)
      : budget_(budget), bytes_(static_cast<int64_t>(bytes)) {
    if (budget_ != nullptr && bytes_ != 0) {
      budget_->ChargeFixed(bytes_);
      budget_->EnforceBudget();  // eviction makes room for the merge's buffers
    }
  }
  ~Charge() {
    if (budget_ != nullptr && bytes_ != 0) budget_->ChargeFixed(-bytes_);
  }
  Charge(const Charge&) = delete;
  Charge& operator=(const Charge&) = delete;

 private:
  MemoryBudget* const budget_;
  const int64_t bytes_;
};

RunSpill::RunSpill(Env* env, std::string dir, size_t block_bytes, size_t fan_in,
                   MemoryBudget* budget)
    : env_(env),
      dir_(std::move(dir)),
      block_bytes_(block_bytes),
      fan_in_(fan_in),
      budget_(budget) {}

RunSpill::~RunSpill() { DeleteRuns(); }

size_t RunSpill::reader_bytes() const { return ReaderBytesOf(block_bytes_); }

Result<std::unique_ptr<RunSpill>> RunSpill::Create(Env* env, const std::string& dir,
                                                   uint64_t buffer_bytes, MemoryBudget* budget,
                                                   const std::string& context,
                                                   const std::string& store_dir) {
  COWTREE_RETURN_IF_ERROR(CheckPathHasNoNul(dir, context));
  const std::string where = context + " " + dir;
  if (!store_dir.empty() && PathIsInside(dir, store_dir)) {
    return Status::InvalidArgument(where + " is inside the store's directory " + store_dir +
                                   " (its runs would be unknown files there)");
  }
  const size_t block_bytes =
      std::clamp<uint64_t>(buffer_bytes / 64, kRunBlockBytesMin, kRunBlockBytesMax);
  const size_t fan_in =
      std::clamp<uint64_t>(buffer_bytes / 4 / ReaderBytesOf(block_bytes), 2, kFanInMax);
  std::unique_ptr<RunSpill> spill(new RunSpill(env, dir, block_bytes, fan_in, budget));
  COWTREE_RETURN_IF_ERROR(env->CreateDir(dir).WithContext(where));
  auto lock = env->LockDir(dir, LockMode::kExclusive);
  if (!lock.ok()) {
    return lock.status().WithContext(where +
                                     " (one spilling writer at a time per directory, and not "
                                     "the directory of an open store)");
  }
  spill->lock_ = std::move(lock).value();
  // Runs a crashed writer left here.
  std::vector<std::string> names;
  COWTREE_RETURN_IF_ERROR(env->ListDir(dir, &names).WithContext(where));
  for (const std::string& name : names) {
    if (name.starts_with(kRunPrefix) && name.ends_with(kRunSuffix)) {
      COWTREE_RETURN_IF_ERROR(env->DeleteFile(JoinPath(dir, name))
                                  .WithContext(where + ": deleting a run left by a crash"));
    }
  }
  std::random_device random;
  spill->nonce_ = (uint64_t{random()} << 32) ^ random();
  return spill;
}

void RunSpill::DeleteRuns() {
  merge_charge_.reset();
  for (const Run& r : runs_) (void)env_->DeleteFile(r.path);
  runs_.clear();
  spilled_ops_ = 0;
}

// Writes every op of `in` to a new run. Errors: the Env's, Corruption of a run read.
Status RunSpill::WriteRun(OpStream& in, uint64_t ops, uint32_t level) {
  const uint32_t number = ++run_serial_;
  const std::string path =
      JoinPath(dir_, std::string(kRunPrefix) + std::to_string(number) + std::string(kRunSuffix));
  auto writer = RunWriter::Create(env_, path, RunIdentity{nonce_, number}, block_bytes_);
  if (!writer.ok()) return writer.status();
  // Listed at once, so that it is deleted whatever happens next.
  runs_.push_back(Run{path, 0, 0, level, number});
  while (true) {
    bool has = false;
    COWTREE_RETURN_IF_ERROR(in.Next(&has));
    if (!has) break;
    COWTREE_RETURN_IF_ERROR((*writer)->Add(in.tree(), in.key_code(), in.weight()));
  }
  COWTREE_RETURN_IF_ERROR((*writer)->Finish());
  if ((*writer)->ops() != ops) {
    // The sources are the caller's buffer (exact) or runs whose readers check their counts.
    return Status::Corruption(dir_ + ": a merge of runs wrote " + std::to_string((*writer)->ops()) +
                              " ops to " + path + ", expected " + std::to_string(ops));
  }
  runs_.back().ops = ops;
  runs_.back().bytes = (*writer)->bytes();
  return Status::OK();
}

Status RunSpill::Spill(OpStream& in, uint64_t ops) {
  COWTREE_RETURN_IF_ERROR(WriteRun(in, ops, /*level=*/0));
  spilled_ops_ += ops;
  return MergeFullLevels();
}

Result<std::unique_ptr<OpStream>> RunSpill::OpenRun(const Run& r) {
  auto reader =
      RunReader::Open(env_, r.path, RunIdentity{nonce_, r.number}, r.ops, r.bytes, block_bytes_);
  if (!reader.ok()) return reader.status();
  return std::unique_ptr<OpStream>(std::make_unique<RunStream>(std::move(reader).value()));
}

// Merges the runs at `indexes` (into runs_) into one run of `level`, then deletes them.
Status RunSpill::MergeRuns(std::vector<size_t> indexes, uint32_t level) {
  COWTREE_ASSERT(indexes.size() >= 2);
  uint64_t ops = 0;
  std::vector<std::unique_ptr<OpStream>> sources;
  for (const size_t i : indexes) {
    COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<OpStream> source, OpenRun(runs_[i]));
    sources.push_back(std::move(source));
    ops += runs_[i].ops;
  }
  const Charge charge(budget_, (indexes.size() + 1) * reader_bytes());
  MergeStream in(std::move(sources));
  COWTREE_RETURN_IF_ERROR(WriteRun(in, ops, level));
  std::sort(indexes.begin(), indexes.end(), std::greater<>());
  for (const size_t i : indexes) {
    (void)env_->DeleteFile(runs_[i].path);
    runs_.erase(runs_.begin() + static_cast<ptrdiff_t>(i));
  }
  return Status::OK();
}

// While fan_in runs share a level, merges them into one run of the next level.
Status RunSpill::MergeFullLevels() {
  for (uint32_t level = 0;; ++level) {
    std::vector<size_t> at_level;
    bool higher = false;
    for (size_t i = 0; i < runs_.size(); ++i) {
      if (runs_[i].level == level && at_level.size() < fan_in_) at_level.push_back(i);
      higher |= runs_[i].level > level;
    }
    if (at_level.size() == fan_in_) {
      COWTREE_RETURN_IF_ERROR(MergeRuns(std::move(at_level), level + 1));
    } else if (!higher) {
      return Status::OK();
    }
  }
}

// While there are more runs than one merge reads beside the buffer, merges the smallest (fewest
// ops: the order of a Huffman tree, which writes the fewest ops in total).
Status RunSpill::MergeUntilOnePass() {
  while (runs_.size() > fan_in_) {
    std::vector<size_t> order(runs_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [this](size_t a, size_t b) { return runs_[a].ops < runs_[b].ops; });
    order.resize(std::min(fan_in_, runs_.size() - fan_in_ + 1));
    uint32_t level = 0;
    for (const size_t i : order) level = std::max(level, runs_[i].level + 1);
    COWTREE_RETURN_IF_ERROR(MergeRuns(std::move(order), level));
  }
  return Status::OK();
}

Result<std::unique_ptr<OpStream>> RunSpill::MergeAll(std::unique_ptr<OpStream> buffer) {
  COWTREE_RETURN_IF_ERROR(MergeUntilOnePass());
  std::vector<std::unique_ptr<OpStream>> sources;
  if (buffer != nullptr) sources.push_back(std::move(buffer));
  for (const Run& r : runs_) {
    COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<OpStream> source, OpenRun(r));
    sources.push_back(std::move(source));
  }
  merge_charge_.reset();
  merge_charge_ = std::make_unique<Charge>(budget_, runs_.size() * reader_bytes());
  if (sources.size() == 1) return std::move(sources[0]);
  return std::unique_ptr<OpStream>(std::make_unique<MergeStream>(std::move(sources)));
}

}  // namespace cowtree::api_internal
