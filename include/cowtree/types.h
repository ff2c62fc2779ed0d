// cowtree public API: key types, orders and directions shared by the other headers.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>

namespace cowtree {

// The key type of a tree, fixed when it is created. Keys are ordered as PostgreSQL orders
// bigint and float8: for double, -0.0 and +0.0 are one key (stored and returned as +0.0) and
// every NaN is one key, greater than +infinity (stored and returned as the quiet NaN).
enum class KeyType : uint8_t { kInt64 = 1, kDouble = 2 };

// The key types a tree can have: TreeHandle<K>, TreeReader<K> and Cursor<K> exist for these.
template <typename K>
concept TreeKey = std::same_as<K, int64_t> || std::same_as<K, double>;

template <TreeKey K>
inline constexpr KeyType kKeyTypeOf = std::same_as<K, int64_t> ? KeyType::kInt64 : KeyType::kDouble;

inline const char* KeyTypeName(KeyType t) { return t == KeyType::kInt64 ? "int64" : "double"; }

// The order of the items a percentile or select counts in (SQL WITHIN GROUP (ORDER BY x ASC)
// or DESC).
enum class Order : uint8_t { kAscending, kDescending };

// The direction a cursor moves in.
enum class Direction : uint8_t { kForward, kBackward };

// One tree as listed by Snapshot::ListTrees.
struct TreeDescription {
  std::string name;
  KeyType key_type = KeyType::kInt64;
};

}  // namespace cowtree
