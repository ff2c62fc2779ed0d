// GroupBatch (api/percentile_batch.h): group index, output order, ops sorted by (group, key).
#include "api/percentile_batch.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <numeric>
#include <string_view>
#include <utility>

#include "api/internal.h"
#include "api/percentile_rows.h"
#include "api/sql_groups.h"
#include "persistence/assert.h"
#include "persistence/commit_record.h"

namespace cowtree::percentile_internal {
namespace {

// A name's size and up to 16 of its bytes as two words: the first and the last 8 (overlapping
// for names shorter than 16; names of 1..7 bytes packed from overlapping 4-byte or single-byte
// loads). For names of at most 16 bytes, equal fingerprints mean equal names.
struct Fingerprint {
  uint64_t lo = 0;
  uint64_t hi = 0;
  size_t size = 0;
  bool operator==(const Fingerprint&) const = default;
};

inline __attribute__((always_inline)) Fingerprint FingerprintOf(std::string_view s) {
  Fingerprint f;
  f.size = s.size();
  const char* p = s.data();
  const size_t n = s.size();
  if (n >= 8) {
    std::memcpy(&f.lo, p, 8);
    std::memcpy(&f.hi, p + n - 8, 8);
  } else if (n >= 4) {
    uint32_t a = 0, b = 0;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    f.lo = a | (uint64_t{b} << 32);
  } else if (n > 0) {
    f.lo = uint64_t{static_cast<uint8_t>(p[0])} | uint64_t{static_cast<uint8_t>(p[n / 2])} << 8 |
           uint64_t{static_cast<uint8_t>(p[n - 1])} << 16;
  }
  return f;
}

constexpr size_t kExactFingerprintBytes = 16;

bool SameName(const Fingerprint& fa, std::string_view a, const Fingerprint& fb,
              std::string_view b) {
  return fa == fb && (fa.size <= kExactFingerprintBytes || a == b);
}

// Group name -> index of its group, for the rows of one batch: open addressing (linear
// probing, at most half full) keyed by fingerprint (a batch has few distinct names).
class GroupIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  // The index stored for `name`, or a reference to store it into (kNone when new).
  uint32_t& FindOrAdd(std::string_view name, const Fingerprint& f) {
    if (2 * (live_ + 1) > slots_.size()) Grow();
    Slot& s = Probe(&slots_, name, f, Hash(f));
    if (s.index == kNone && s.name.data() == nullptr) {
      s.name = name;
      s.fingerprint = f;
      ++live_;
    }
    return s.index;
  }

 private:
  struct Slot {
    std::string_view name;  // data() null: empty
    Fingerprint fingerprint;
    uint32_t hash = 0;
    uint32_t index = kNone;
  };
  static uint32_t Hash(const Fingerprint& f) {
    uint64_t h = (f.lo ^ (f.size * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 31) ^ f.hi) * 0x94d049bb133111ebull;
    return static_cast<uint32_t>((h ^ (h >> 29)) >> 32);
  }
  static Slot& Probe(std::vector<Slot>* slots, std::string_view name, const Fingerprint& f,
                     uint32_t hash) {
    const size_t mask = slots->size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      Slot& s = (*slots)[i];
      if (s.name.data() == nullptr) {
        s.hash = hash;
        return s;
      }
      if (s.hash == hash && SameName(s.fingerprint, s.name, f, name)) return s;
    }
  }
  void Grow() {
    std::vector<Slot> bigger(slots_.empty() ? 64 : 2 * slots_.size());
    for (const Slot& s : slots_) {
      if (s.name.data() != nullptr) Probe(&bigger, s.name, s.fingerprint, s.hash) = s;
    }
    slots_.swap(bigger);
  }
  std::vector<Slot> slots_;
  size_t live_ = 0;
};

// InvalidArgument if `group` cannot be a group of an operator with `prefix`.
Status CheckGroupName(const std::string& prefix, const std::string& group) {
  if (IsInternalTreeName(group)) {
    return Status::InvalidArgument("PercentileOperator: group '" + group +
                                   "': names starting with '" + std::string(kReservedTreePrefix) +
                                   "' are not groups (use nullopt for the NULL group)");
  }
  // The empty string's tree is kEmptyGroupTree + prefix (percentile_rows.h TreeName).
  if (prefix.size() + (group.empty() ? kEmptyGroupTree.size() : group.size()) > kTreeNameBytesMax) {
    return Status::InvalidArgument("PercentileOperator: group name of " +
                                   std::to_string(group.size()) +
                                   " bytes is too long for a tree name");
  }
  return Status::OK();
}

constexpr int kDigitBits = 11;
constexpr uint64_t kDigitMask = (uint64_t{1} << kDigitBits) - 1;

// One LSD radix pass over the kDigitBits bits at `shift` of `key_of(op)`: src -> *dst.
template <typename KeyOf>
void RadixPass(const std::vector<GroupOp>& src, std::vector<GroupOp>* dst, int shift,
               KeyOf key_of) {
  size_t counts[kDigitMask + 1] = {};
  for (const GroupOp& op : src) ++counts[(key_of(op) >> shift) & kDigitMask];
  size_t sum = 0;
  for (size_t& c : counts) sum += std::exchange(c, sum);
  for (const GroupOp& op : src) (*dst)[counts[(key_of(op) >> shift) & kDigitMask]++] = op;
}

// LSD radix passes over the digits of `key_of` that hold a bit of `varying` (digits start at
// its lowest set bit); each pass swaps *src and *dst.
template <typename KeyOf>
void RadixPasses(uint64_t varying, std::vector<GroupOp>** src, std::vector<GroupOp>** dst,
                 KeyOf key_of) {
  if (varying == 0) return;
  for (int shift = std::countr_zero(varying); shift < 64; shift += kDigitBits) {
    if (((varying >> shift) & kDigitMask) == 0) continue;
    RadixPass(**src, *dst, shift, key_of);
    std::swap(*src, *dst);
  }
}

// Sorts *ops by (rank, code): std::sort for a few ops, else LSD radix sort, 11 bits per pass,
// code digits then rank digits, over the bits that decide the order only. For the codes those
// are the bits that differ between two codes of the same top bit, and the top bit itself if
// both halves occur: two codes with equal top bits are equal outside their half's varying
// bits, and two with different top bits are ordered by it. (Ordered codes of integer-valued
// doubles or small int64 values of both signs: the low bits are all zeros in one half and all
// ones in the other, so they need no pass.)
void SortOps(std::vector<GroupOp>* ops, std::vector<GroupOp>* scratch) {
  constexpr size_t kSmall = 256;
  if (ops->size() < kSmall) {
    std::sort(ops->begin(), ops->end(), [](const GroupOp& a, const GroupOp& b) {
      return a.rank != b.rank ? a.rank < b.rank : a.code < b.code;
    });
    return;
  }
  uint64_t or_half[2] = {0, 0};
  uint64_t and_half[2] = {~uint64_t{0}, ~uint64_t{0}};
  size_t in_half[2] = {0, 0};
  uint32_t rank_or = 0, rank_and = ~uint32_t{0};
  for (const GroupOp& op : *ops) {
    const size_t half = op.code >> 63;
    or_half[half] |= op.code;
    and_half[half] &= op.code;
    ++in_half[half];
    rank_or |= op.rank;
    rank_and &= op.rank;
  }
  uint64_t code_varying = 0;
  for (size_t half : {0, 1}) {
    if (in_half[half] > 0) code_varying |= or_half[half] ^ and_half[half];
  }
  if (in_half[0] > 0 && in_half[1] > 0) code_varying |= uint64_t{1} << 63;
  scratch->resize(ops->size());
  std::vector<GroupOp>* src = ops;
  std::vector<GroupOp>* dst = scratch;
  RadixPasses(code_varying, &src, &dst, [](const GroupOp& op) { return op.code; });
  RadixPasses(rank_or ^ rank_and, &src, &dst, [](const GroupOp& op) { return uint64_t{op.rank}; });
  if (src != ops) ops->swap(*src);  // the sorted ops are in the scratch buffer: take them
}

}  // namespace

template <TreeKey K>
Status GroupBatch(const std::vector<InputDelta<K>>& batch, const OperatorSpec& spec,
                  GroupedBatch* out) {
  constexpr uint32_t kNone = GroupIndex::kNone;
  std::vector<TouchedGroup> seen;  // first-seen order
  GroupIndex index;
  uint32_t null_group = kNone;
  // Written through a pointer (the buffer sized once: at most one op per row), then cut to
  // the ops written: no capacity check per row.
  if (out->ops.size() < batch.size()) out->ops.resize(batch.size());
  GroupOp* const ops = out->ops.data();
  size_t op_count = 0;
  out->count_rows.clear();
  // One pass over the batch: each row's group (first-seen index; a run of one group needs no
  // lookup) and its op or count row, renumbered to output ranks below.
  const std::string* last_name = nullptr;
  Fingerprint last_fingerprint;
  uint32_t last = kNone;
  for (size_t i = 0; i < batch.size(); ++i) {
    const InputDelta<K>& in = batch[i];
    const std::optional<std::string>& g = in.group;
    uint32_t group = kNone;
    if (g.has_value() && last_name != nullptr &&
        SameName(last_fingerprint, *last_name, FingerprintOf(*g), *g)) {
      group = last;
    } else {
      uint32_t* slot = &null_group;
      if (g.has_value()) {
        last_fingerprint = FingerprintOf(*g);
        slot = &index.FindOrAdd(*g, last_fingerprint);
      }
      if (*slot == kNone) {
        if (g.has_value()) COWTREE_RETURN_IF_ERROR(CheckGroupName(spec.tree_prefix, *g));
        *slot = static_cast<uint32_t>(seen.size());
        seen.push_back(TouchedGroup{&g, TreeName(spec, g)});
      }
      group = last = *slot;
      last_name = g.has_value() ? &*g : nullptr;
    }
    if (!in.value.has_value()) {
      out->count_rows.push_back({group, /*null_value=*/true, in.weight});
      continue;
    }
    if (in.weight != 0) ops[op_count++] = {api_internal::EncodeKey<K>(*in.value), in.weight, group};
    if (IsNegativeZero(*in.value))
      out->count_rows.push_back({group, /*null_value=*/false, in.weight});
  }
  // Output order: ranks.
  std::vector<uint32_t> order(seen.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return GroupLess()(*seen[a].group, *seen[b].group); });
  std::vector<uint32_t> rank(seen.size());
  for (uint32_t r = 0; r < order.size(); ++r) rank[order[r]] = r;
  out->groups.resize(seen.size());
  for (uint32_t g = 0; g < seen.size(); ++g) out->groups[rank[g]] = std::move(seen[g]);
  out->ops.resize(op_count);
  for (GroupOp& op : out->ops) op.rank = rank[op.rank];
  for (CountRow& c : out->count_rows) c.rank = rank[c.rank];
  // Each group's run of ops.
  SortOps(&out->ops, &out->scratch);
  size_t at = 0;
  for (uint32_t r = 0; r < out->groups.size(); ++r) {
    TouchedGroup& t = out->groups[r];
    t.ops_begin = at;
    while (at < out->ops.size() && out->ops[at].rank == r) ++at;
    t.ops_end = at;
  }
  COWTREE_ASSERT(at == out->ops.size());
  return Status::OK();
}

template Status GroupBatch<int64_t>(const std::vector<InputDelta<int64_t>>&, const OperatorSpec&,
                                    GroupedBatch*);
template Status GroupBatch<double>(const std::vector<InputDelta<double>>&, const OperatorSpec&,
                                   GroupedBatch*);

}  // namespace cowtree::percentile_internal
