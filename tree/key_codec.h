// Key codec: maps typed keys to 64-bit "ordered codes" so that unsigned comparison of codes
// is the key order. Every key stored in a tree (in memory and on disk) is an ordered code.
//
// Contract
// - int64: code = bits XOR 2^63 (flip the sign bit). Bijective; every u64 is a valid code.
// - double: IEEE-754 total-order transform (positive: set the sign bit; negative: invert all
//   bits), after two canonicalizations that give PostgreSQL float8 semantics
//   (https://www.postgresql.org/docs/current/datatype-numeric.html#DATATYPE-FLOAT, "Special
//   values"; src/backend/utils/adt/float.c float8_cmp_internal):
//     * -0.0 is encoded as +0.0 (PostgreSQL compares them equal), so they are one key;
//     * every NaN (any sign, any payload) is encoded as kDoubleNanCode, which sorts after the
//       code of +infinity (PostgreSQL: NaN is greater than every non-NaN value, and all NaNs
//       are equal).
//   Codes produced by EncodeDoubleKey are "canonical"; IsCanonicalKey() tells whether a code
//   read from disk or given by a caller could have been produced by the encoder.
// - KeyToDouble: the value used by percentile_cont interpolation (PostgreSQL casts the input
//   to float8; an int64 key beyond 2^53 rounds to the nearest double).
// Thread-safety: pure functions.
#pragma once

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace cowtree::tree {

enum class KeyType : uint8_t { kInt64 = 1, kDouble = 2 };

inline bool IsValidKeyType(uint8_t raw) { return raw == 1 || raw == 2; }
inline std::string_view KeyTypeName(KeyType t) {
  return t == KeyType::kInt64 ? "int64" : (t == KeyType::kDouble ? "double" : "invalid");
}

inline constexpr uint64_t kKeySignBit = uint64_t{1} << 63;
// The code of every NaN: the transform of the positive quiet NaN 0x7FF8000000000000.
inline constexpr uint64_t kDoubleNanCode = 0xFFF8000000000000ull;
// The codes of -infinity and +infinity.
inline constexpr uint64_t kDoubleNegInfCode = ~0xFFF0000000000000ull;  // 0x000FFFFFFFFFFFFF
inline constexpr uint64_t kDoublePosInfCode = 0xFFF0000000000000ull;

inline uint64_t EncodeInt64Key(int64_t v) { return static_cast<uint64_t>(v) ^ kKeySignBit; }
inline int64_t DecodeInt64Key(uint64_t code) { return static_cast<int64_t>(code ^ kKeySignBit); }

inline uint64_t EncodeDoubleKey(double v) {
  if (std::isnan(v)) return kDoubleNanCode;
  if (v == 0.0) v = 0.0;  // -0.0 == 0.0: canonicalize to +0.0
  const uint64_t bits = std::bit_cast<uint64_t>(v);
  return (bits & kKeySignBit) ? ~bits : (bits | kKeySignBit);
}

inline double DecodeDoubleKey(uint64_t code) {
  const uint64_t bits = (code & kKeySignBit) ? (code ^ kKeySignBit) : ~code;
  return std::bit_cast<double>(bits);
}

// True if `code` is a code the encoder of `type` can produce. For int64 every code is
// canonical; for double the code of -0.0 and NaN codes other than kDoubleNanCode are not.
inline bool IsCanonicalKey(KeyType type, uint64_t code) {
  if (type == KeyType::kInt64) return true;
  const double v = DecodeDoubleKey(code);
  if (std::isnan(v)) return code == kDoubleNanCode;
  return !(v == 0.0 && std::signbit(v));
}

// The key as a double (for percentile_cont).
inline double KeyToDouble(KeyType type, uint64_t code) {
  return type == KeyType::kInt64 ? static_cast<double>(DecodeInt64Key(code))
                                 : DecodeDoubleKey(code);
}

// The key of `code` as error messages name it: "key 42 (code 9223372036854775850)"; a double
// in the shortest text that reads back to it ("key 2.5"), NaN and infinities as PostgreSQL
// spells them. The code stays in the message: dump and fsck print codes.
inline std::string KeyText(KeyType type, uint64_t code) {
  std::string value;
  if (type == KeyType::kInt64) {
    value = std::to_string(DecodeInt64Key(code));
  } else {
    const double v = DecodeDoubleKey(code);
    if (std::isnan(v)) {
      value = "NaN";
    } else if (std::isinf(v)) {
      value = v > 0 ? "Infinity" : "-Infinity";
    } else {
      char buf[32];
      const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
      value.assign(buf, ec == std::errc() ? end : buf);
    }
  }
  return "key " + value + " (code " + std::to_string(code) + ")";
}

}  // namespace cowtree::tree
