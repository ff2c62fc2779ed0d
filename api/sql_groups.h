// SQL's GROUP BY and NULL rules mapped onto trees, shared by the CLI (tools/) and
// PercentileOperator (cowtree/percentile_operator.h); docs/sql_semantics.md. Not installed.
//
// - One tree per group, named by the group value. The NULL group (an empty group field) is the
//   tree kNullGroupTree; it is printed as NULL (an empty CSV field, JSON null) and sorted last,
//   as PostgreSQL's ORDER BY group ASC puts NULLs last. The empty string is a group of its own,
//   not NULL (PostgreSQL's COPY ... CSV reads a quoted "" as an empty string and an unquoted
//   empty field as NULL): the tree kEmptyGroupTree (a tree name is never empty), printed as ""
//   in CSV and JSON and sorted first, as '' sorts before every other string.
// - A row whose value is NULL (an empty value field) adds no item — SQL aggregates skip NULLs —
//   but its group exists: PostgreSQL returns a row (group, NULL) for a group whose values are
//   all NULL. The rows with a NULL value are counted per group in the int64 tree
//   kNullCountTree, key GroupCountKey(tree name), weight = net number of such rows.
// - -0 (docs/sql_semantics.md): a tree stores a -0 value as +0 (one key); the rows whose value
//   is -0 are counted per group in the int64 tree kNegativeZeroCountTree, key
//   GroupCountKey(tree name), weight = net number of such rows, and the percentiles are read
//   with that count (TreeReader::percentile_cont's negative_zero_items) so that an answer that
//   lands on a -0 row is -0, as PostgreSQL prints it.
// - A group has a row in query output iff N > 0 (values) or its NULL count > 0 (N = 0 and NULL
//   values). A group whose rows were all retracted has no row, as in SQL.
// Tree names starting with kReservedTreePrefix ("__cowtree_") are internal: ingest refuses
// them as group names; query, stat and the deltas do not show them (except the NULL group).
// Thread-safety: pure functions and constants.
#pragma once

#include <climits>
#include <cstdint>
#include <string>
#include <string_view>

namespace cowtree {

inline constexpr std::string_view kReservedTreePrefix = "__cowtree_";
inline constexpr std::string_view kIngestMarkerTree = "__cowtree_ingest__";
inline constexpr std::string_view kNullGroupTree = "__cowtree_null_group__";
inline constexpr std::string_view kEmptyGroupTree = "__cowtree_empty_group__";
inline constexpr std::string_view kNullCountTree = "__cowtree_null_values__";
inline constexpr std::string_view kNegativeZeroCountTree = "__cowtree_negative_zeros__";

// True for the internal trees (names starting with kReservedTreePrefix), the NULL and empty
// groups' included: callers that list groups test IsGroupTree.
inline bool IsInternalTreeName(std::string_view name) {
  return name.substr(0, kReservedTreePrefix.size()) == kReservedTreePrefix;
}
inline bool IsNullGroupTree(std::string_view name) { return name == kNullGroupTree; }
inline bool IsEmptyGroupTree(std::string_view name) { return name == kEmptyGroupTree; }
// True for a tree that holds a group (the NULL and empty groups' included).
inline bool IsGroupTree(std::string_view name) {
  return !IsInternalTreeName(name) || IsNullGroupTree(name) || IsEmptyGroupTree(name);
}
// The tree of a group given as a CSV field: an unquoted empty field is NULL, a quoted one the
// empty string. Precondition: a non-empty field is not an internal tree name (callers refuse
// those as group names first).
inline std::string_view GroupTreeOfField(std::string_view field, bool quoted) {
  if (!field.empty()) return field;
  return quoted ? kEmptyGroupTree : kNullGroupTree;
}

// -0 rows (above): a group's count of them must stay within [0, its zeros] after every
// commit. PostgreSQL deletes an equal row for a retraction of 0, so a retraction of +0 with
// no +0 row left removes a -0 row, and one of -0 with no -0 row left removes a +0 row: the
// count comes down with the zeros, and never goes below 0 (a found-by-adversary case of
// each: answers of +0 where PostgreSQL prints -0, and the reverse). Returns what to add to
// the count: clamp(count_after, 0, max(zeros_after, 0)) - count_after.
inline __int128 NegativeZeroCountCorrection(__int128 count_after, __int128 zeros_after) {
  const __int128 zeros = zeros_after > 0 ? zeros_after : 0;
  const __int128 target = count_after < 0 ? 0 : (count_after > zeros ? zeros : count_after);
  return target - count_after;
}

// Calls add(w) with int64 pieces summing to `total` (a batch's op weights are int64; one
// key's ops are summed in 128 bits by the commit).
template <typename Add>
void AddInInt64Pieces(__int128 total, Add add) {
  while (total != 0) {
    const __int128 piece = total < INT64_MIN ? INT64_MIN : (total > INT64_MAX ? INT64_MAX : total);
    add(static_cast<int64_t>(piece));
    total -= piece;
  }
}

// 64-bit FNV-1a (not adversarial input: a collision between two names of one store has
// probability ~2^-64 per pair).
inline constexpr uint64_t kFnv1a64OffsetBasis = 0xcbf29ce484222325ull;
// `h`: the hash of the bytes before these (to hash several pieces as one string).
inline uint64_t Fnv1a64(std::string_view bytes, uint64_t h = kFnv1a64OffsetBasis) {
  for (const char c : bytes) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

// The key of a group's entry in kNullCountTree and kNegativeZeroCountTree.
inline int64_t GroupCountKey(std::string_view tree_name) {
  return static_cast<int64_t>(Fnv1a64(tree_name));
}

}  // namespace cowtree
