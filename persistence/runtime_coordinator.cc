// Runtime, the background threads: the syncer (balanced / eventual: makes acknowledged commits
// durable every sync_interval_ms / 2, and measures how long they waited) and the coordinator
// (checkpoints by log bytes, interval, dirty leaf bytes of a budget or the number of dirty
// trees; demotion passes; online compaction rounds, held while a budget's dirty share forces
// checkpoints). Both stop in Close.
#include <algorithm>
#include <chrono>

#include "persistence/runtime.h"

namespace cowtree {

// The background sync (balanced: fdatasync what was written; eventual: write + fdatasync the
// buffer) runs on its own thread, every sync_interval_ms / 2, so that a long checkpoint or a
// slow Close never delays it: the durability bound of docs/recovery.md (an acknowledged commit
// is durable within sync_interval_ms plus one fdatasync) holds whatever else the runtime does.
void Runtime::SyncLoop() {
  using Clock = std::chrono::steady_clock;
  const uint32_t sync_ms = options_.durability == Durability::kEventual ? options_.flush_interval_ms
                                                                        : options_.sync_interval_ms;
  const auto period = std::chrono::milliseconds(std::max<uint32_t>(1, sync_ms / 2));
  auto next = Clock::now() + period;
  coordinator_mu_.Lock();
  while (!stop_) {
    while (!stop_ && Clock::now() < next) syncer_cv_.WaitUntil(&coordinator_mu_, next);
    if (stop_) break;
    next = Clock::now() + period;
    coordinator_mu_.Unlock();
    if (!poisoned_.load()) {
      Status st = SyncAcknowledged();
      if (!st.ok()) Poison(st);
    }
    coordinator_mu_.Lock();
  }
  coordinator_mu_.Unlock();
}

Status Runtime::SyncAcknowledged() {
  const uint64_t since_us = oldest_unsynced_ack_us_.exchange(0, std::memory_order_acq_rel);
  Status st =
      log_->Sync(options_.durability == Durability::kEventual ? log_->end() : log_->written_end());
  if (st.ok() && since_us != 0) {
    const uint64_t lag = env_->NowMicros() - since_us;
    uint64_t cur = max_durability_lag_us_.load(std::memory_order_relaxed);
    while (lag > cur && !max_durability_lag_us_.compare_exchange_weak(cur, lag)) {
    }
  }
  return st;
}

// How long after the last checkpoint forced by the budget's dirty share online compaction
// waits (see CoordinatorLoop).
constexpr std::chrono::milliseconds kCompactionAfterDirtyPressure{1000};

void Runtime::CoordinatorLoop() {
  using Clock = std::chrono::steady_clock;
  auto last_checkpoint = Clock::now();
  auto last_poll = last_checkpoint;
  bool dirty_pressure_seen = false;
  auto last_dirty_pressure = last_checkpoint;
  const auto poll = std::chrono::milliseconds(std::max<uint32_t>(
      1, std::min<uint32_t>(
             options_.checkpoint_interval_ms == 0 ? 100 : options_.checkpoint_interval_ms, 100)));
  coordinator_mu_.Lock();
  while (!stop_) {
    coordinator_cv_.WaitUntil(&coordinator_mu_, Clock::now() + poll);
    if (stop_) break;
    coordinator_mu_.Unlock();
    const auto now = Clock::now();
    const uint64_t checkpoint_log_bytes = EffectiveCheckpointLogBytes(options_);
    const bool by_bytes =
        checkpoint_log_bytes != 0 && log_bytes_since_checkpoint_.load() >= checkpoint_log_bytes;
    const bool by_budget = budget_->DirtyOverTrigger();
    const bool by_dirty_trees = DirtyTreesOverLimit();
    const bool by_time =
        options_.checkpoint_interval_ms != 0 &&
        now - last_checkpoint >= std::chrono::milliseconds(options_.checkpoint_interval_ms) &&
        log_bytes_since_checkpoint_.load() > 0;
    if (by_budget) {
      dirty_pressure_seen = true;
      last_dirty_pressure = now;
    }
    if ((by_bytes || by_time || by_budget || by_dirty_trees) && !poisoned_.load()) {
      last_checkpoint = now;
      (void)Checkpoint();  // failures poison the runtime; commits report it
    }
    if (!poisoned_.load()) DemoteIfManyPromoted(/*wait=*/true);
    // While writes keep the budget's dirty share full, each checkpoint rewrites leaves and the
    // next ones refill the slots it freed: relocating live leaves then mostly moves leaves about
    // to be rewritten (a third of the coordinator's time in a random ingest under a 64 MiB
    // budget, for the same final size). Compaction waits until the pressure has been gone for
    // kCompactionAfterDirtyPressure; its tokens keep accruing meanwhile (capped at the burst).
    if (!dirty_pressure_seen || now - last_dirty_pressure >= kCompactionAfterDirtyPressure) {
      MaybeCompact(std::chrono::duration<double>(now - last_poll).count());
      last_poll = now;
    }
    coordinator_mu_.Lock();
  }
  coordinator_mu_.Unlock();
}

// Online compaction: a token bucket of compaction_bytes_per_sec (burst: one second's worth)
// bounds the relocated bytes; a round runs when a data file passes compaction_dead_ratio. A
// round that changed nothing (e.g. a pinned snapshot holds the old slots) is retried after the
// next checkpoint or 5 s.
void Runtime::MaybeCompact(double elapsed_sec) {
  if (options_.compaction_dead_ratio <= 0 || poisoned_.load()) return;
  const double rate = static_cast<double>(options_.compaction_bytes_per_sec);
  const double burst = rate == 0 ? 0 : std::max(rate, 4.0 * (1 << 20));
  if (rate != 0) compaction_tokens_ = std::min(burst, compaction_tokens_ + rate * elapsed_sec);
  const double min_round = std::min(burst, 1.0 * (1 << 20));
  if (rate != 0 && compaction_tokens_ < min_round) return;
  if (checkpoints_written_.load() == compaction_idle_checkpoints_) {
    compaction_idle_sec_ += elapsed_sec;
    if (compaction_idle_sec_ < 5.0) return;  // retry an idle store's round every 5 s
  }
  compaction_idle_sec_ = 0;
  if (PlanCompaction(store_->allocator().stats(), options_.compaction_dead_ratio).empty()) return;
  CompactionOptions o;
  o.dead_ratio = options_.compaction_dead_ratio;
  o.max_relocated_bytes = rate == 0 ? UINT64_MAX : static_cast<uint64_t>(compaction_tokens_);
  CompactionReport r;
  if (!Compact(o, &r).ok()) return;  // a poisoning failure is reported by the next commit
  if (rate != 0) compaction_tokens_ -= static_cast<double>(r.relocated_bytes);
  compaction_idle_checkpoints_ =
      r.objects_relocated == 0 && r.truncated_bytes == 0 ? checkpoints_written_.load() : UINT64_MAX;
}

}  // namespace cowtree
