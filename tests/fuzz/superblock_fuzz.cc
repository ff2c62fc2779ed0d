// Fuzz target: the superblock (persistence/superblock.h, docs/superblock.md).
//
// Input: flags byte, then the bytes of a SUPERBLOCK file (copy i at i * 4096, i = 0..3).
//   flag bit i: recompute copy i's CRC.
// Properties
// - DecodeSuperblock(copy 0) either fails with Corruption or returns data whose invariants
//   hold, and EncodeSuperblock(data) reproduces the 4096 input bytes exactly (every byte of a
//   copy is either a field, a zero reserved byte or the CRC), which decode to the same data.
// - ReadSuperblock over the same bytes in an in-memory Env agrees with a model built from
//   DecodeSuperblock of each copy: a copy counts if it decodes and sits in the pair of its
//   generation (copies 2·(G % 2) and 2·(G % 2) + 1); no usable copy is Corruption; usable
//   copies naming two stores, or two usable copies of one generation that differ, are
//   Corruption; otherwise the newest usable copy (the first of its pair) is returned, and each
//   copy's status says whether it was usable.
#include <memory>
#include <optional>

#include "persistence/file_names.h"
#include "persistence/node_id.h"
#include "persistence/superblock.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"
#include "testutil/fault_injection_env.h"

namespace cowtree::fuzz {

int FuzzSuperblock(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  std::string& bytes = in.bytes;
  for (size_t copy = 0; copy < kSuperblockCopies; ++copy) {
    if (in.flag(static_cast<int>(copy))) {
      const size_t base = copy * kSuperblockCopySize;
      FixCrc(&bytes, base + kSbCrcOffset, base, base + kSbCrcOffset);
    }
  }

  // Model: each copy decoded on its own.
  std::optional<SuperblockData> decoded[kSuperblockCopies];
  for (size_t copy = 0; copy < kSuperblockCopies; ++copy) {
    const size_t base = copy * kSuperblockCopySize;
    const ExactBytes exact(
        base < bytes.size() ? std::string_view(bytes).substr(base, kSuperblockCopySize) : "");
    const std::string_view view = exact.view();
    Result<SuperblockData> d = DecodeSuperblock(view, base);
    if (!d.ok()) {
      FUZZ_CHECK_CORRUPTION(d.status());
      continue;
    }
    FUZZ_CHECK(d->generation >= 1 && d->log_replay_file_number >= 1);
    FUZZ_CHECK(d->catalog_root == 0 || NodeID::FromRaw(d->catalog_root).valid());
    const std::string encoded = EncodeSuperblock(*d);
    FUZZ_CHECK(encoded == view.substr(0, kSuperblockCopySize),
               "re-encoding copy " + std::to_string(copy) + " changed its bytes");
    Result<SuperblockData> again = DecodeSuperblock(encoded, base);
    FUZZ_CHECK(again.ok() && *again == *d);
    decoded[copy] = *d;
  }

  testutil::FaultInjectionEnv env;
  FUZZ_CHECK(env.CreateDir("/db").ok());
  FUZZ_CHECK(env.WriteStringToFileSync(JoinPath("/db", kSuperblockFileName), bytes).ok());
  Result<SuperblockReadResult> read = ReadSuperblock(&env, "/db");
  int best = -1;
  for (size_t copy = 0; copy < kSuperblockCopies; ++copy) {
    const bool usable = decoded[copy] && SuperblockCopyHolds(copy, decoded[copy]->generation);
    if (!usable) decoded[copy].reset();
    if (usable && (best < 0 || decoded[copy]->generation > decoded[best]->generation)) {
      best = static_cast<int>(copy);
    }
  }
  if (best < 0) {
    FUZZ_CHECK(!read.ok() && read.status().IsCorruption(),
               "no usable copy, yet ReadSuperblock " + read.status().ToString());
    return 0;
  }
  for (size_t copy = 0; copy < kSuperblockCopies; ++copy) {
    if (!decoded[copy]) continue;
    const bool other_store = !(decoded[copy]->store_id == decoded[best]->store_id);
    const bool twins_differ = decoded[copy]->generation == decoded[best]->generation &&
                              !(*decoded[copy] == *decoded[best]);
    if (other_store || twins_differ) {
      FUZZ_CHECK(!read.ok() && read.status().IsCorruption(), "inconsistent copies accepted");
      return 0;
    }
  }
  FUZZ_CHECK(read.ok(), "usable copy " + std::to_string(best) + " but " + read.status().ToString());
  FUZZ_CHECK(read->newest_copy_index == static_cast<size_t>(best));
  FUZZ_CHECK(read->newest == *decoded[best]);
  for (size_t copy = 0; copy < kSuperblockCopies; ++copy) {
    const SuperblockCopyStatus& c = read->copies[copy];
    FUZZ_CHECK(c.status.ok() == decoded[copy].has_value());
    FUZZ_CHECK(c.data.has_value() == decoded[copy].has_value());
    if (c.data) FUZZ_CHECK(*c.data == *decoded[copy]);
    if (!c.status.ok()) FUZZ_CHECK_CORRUPTION(c.status);
  }
  return 0;
}

}  // namespace cowtree::fuzz
