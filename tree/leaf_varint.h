// LEB128 varints and zigzag mapping for the compact leaf body (tree/node_format.h, CWLF v2;
// docs/node_format.md "Varints"). Internal header.
//
// - PutVarint64 appends v as unsigned LEB128: 7 bits per byte, least significant group first,
//   bit 7 set on every byte but the last; the shortest form (1..10 bytes).
// - ParseVarint64 reads one varint from [*pos, end) of `p`. On success *value is set, *pos moves
//   past it and kOk is returned. Otherwise *pos is unchanged and the result says why:
//   kTruncated (the bytes end before a byte with bit 7 clear), kTooLong (no end within 10
//   bytes: the 10th byte has bit 7 set), kOverflow (10th byte > 1: the value needs more than 64
//   bits), kNotMinimal (the last byte of a multi-byte varint is 0: a shorter form exists, so the
//   encoding is not unique).
// - ZigZag maps int64 to uint64 so that small magnitudes of either sign get small codes
//   (0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, ...); UnZigZag is its inverse over all of uint64.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cowtree::tree {

inline constexpr size_t kVarint64BytesMax = 10;

enum class VarintParse { kOk, kTruncated, kTooLong, kOverflow, kNotMinimal };

constexpr size_t Varint64Bytes(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}
static_assert(Varint64Bytes(0) == 1 && Varint64Bytes(127) == 1 && Varint64Bytes(128) == 2);
static_assert(Varint64Bytes(~uint64_t{0}) == kVarint64BytesMax);

inline void PutVarint64(std::string* out, uint64_t v) {
  char buf[kVarint64BytesMax];
  size_t n = 0;
  for (; v >= 0x80; v >>= 7) buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

inline VarintParse ParseVarint64(const char* p, size_t end, size_t* pos, uint64_t* value) {
  uint64_t v = 0;
  for (size_t i = 0; i < kVarint64BytesMax; ++i) {
    if (*pos + i >= end) return VarintParse::kTruncated;
    const auto byte = static_cast<uint8_t>(p[*pos + i]);
    if (i == kVarint64BytesMax - 1) {
      if ((byte & 0x80) != 0) return VarintParse::kTooLong;
      if (byte > 1) return VarintParse::kOverflow;
    }
    v |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (i > 0 && byte == 0) return VarintParse::kNotMinimal;
      *pos += i + 1;
      *value = v;
      return VarintParse::kOk;
    }
  }
  return VarintParse::kTooLong;  // not reached: the 10th byte always ends the loop above
}

constexpr uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
constexpr int64_t UnZigZag(uint64_t u) { return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1)); }
static_assert(ZigZag(0) == 0 && ZigZag(-1) == 1 && ZigZag(1) == 2 && ZigZag(-2) == 3);
static_assert(ZigZag(INT64_MAX) == ~uint64_t{0} - 1 && ZigZag(INT64_MIN) == ~uint64_t{0});
static_assert(UnZigZag(ZigZag(INT64_MIN)) == INT64_MIN && UnZigZag(ZigZag(-77)) == -77);

}  // namespace cowtree::tree
