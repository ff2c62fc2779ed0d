// Durability: when a commit's effects survive a crash. One definition, shared by the runtime
// (RuntimeOptions::durability) and the public API (cowtree::Options::durability).
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string_view>

namespace cowtree {

// When Commit returns (DESIGN.md "Durability modes"):
//   kStrict   – its redo record is fdatasync'd (group commit: concurrent committers share one
//               fdatasync); survives kill -9 and power loss.
//   kBalanced – its record is written to the OS (pwrite); a background fdatasync runs every
//               sync_interval_ms. Survives kill -9; power loss may lose the last interval.
//   kEventual – its record is in the process's log buffer; written and synced every
//               flush_interval_ms. kill -9 or power loss may lose the last interval.
// In every mode recovery returns a prefix of the commits, with no gaps and no partial commit.
enum class Durability : uint8_t { kStrict = 1, kBalanced = 2, kEventual = 3 };

const char* DurabilityName(Durability d);
// "strict" | "balanced" | "eventual"; InvalidArgument otherwise.
bool ParseDurability(std::string_view name, Durability* out);

}  // namespace cowtree
