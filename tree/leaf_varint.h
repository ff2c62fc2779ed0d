// LEB128 varints and zigzag mapping for the compact leaf body (tree/node_format.h, CWLF v2;
// docs/node_format.md "Varints"). Internal header.
//
// - PutVarint64 appends v as unsigned LEB128: 7 bits per byte, least significant group first,
//   bit 7 set on every byte but the last; the shortest form (1..10 bytes). EncodeVarint64
//   writes the same bytes at p, which must have room for kVarint64BytesMax, and returns the
//   end of what it wrote.
// - ParseVarint64 reads one varint from [*pos, end) of `p`. On success *value is set, *pos moves
//   past it and kOk is returned. Otherwise *pos is unchanged and the result says why:
//   kTruncated (the bytes end before a byte with bit 7 clear), kTooLong (no end within 10
//   bytes: the 10th byte has bit 7 set), kOverflow (10th byte > 1: the value needs more than 64
//   bits), kNotMinimal (the last byte of a multi-byte varint is 0: a shorter form exists, so the
//   encoding is not unique).
// - ParseShortVarint64 is ParseVarint64's common case, a word at a time: it reads a varint of
//   at most 8 bytes in its shortest form when at least 8 bytes lie in [*pos, end), and
//   returns true as ParseVarint64 would return kOk. Otherwise it returns false and changes
//   nothing; the caller then calls ParseVarint64, which reads longer varints and names what
//   is wrong. Both accept exactly the same varints.
// - ZigZag maps int64 to uint64 so that small magnitudes of either sign get small codes
//   (0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, ...); UnZigZag is its inverse over all of uint64.
// Thread-safety: pure functions.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>

#include "persistence/coding.h"

namespace cowtree::tree {

inline constexpr size_t kVarint64BytesMax = 10;

enum class VarintParse { kOk, kTruncated, kTooLong, kOverflow, kNotMinimal };

// Branch-free (7 payload bits per byte): it runs once per entry when a leaf's size is planned.
constexpr size_t Varint64Bytes(uint64_t v) {
  return (static_cast<size_t>(std::bit_width(v | 1)) + 6) / 7;
}
static_assert(Varint64Bytes(0) == 1 && Varint64Bytes(127) == 1 && Varint64Bytes(128) == 2);
static_assert(Varint64Bytes(~uint64_t{0}) == kVarint64BytesMax);
static_assert(Varint64Bytes((uint64_t{1} << 14) - 1) == 2 && Varint64Bytes(uint64_t{1} << 14) == 3);
static_assert(Varint64Bytes((uint64_t{1} << 63) - 1) == 9 &&
              Varint64Bytes(uint64_t{1} << 63) == 10);

inline char* EncodeVarint64(char* p, uint64_t v) {
  for (; v >= 0x80; v >>= 7) *p++ = static_cast<char>((v & 0x7f) | 0x80);
  *p++ = static_cast<char>(v);
  return p;
}

inline void PutVarint64(std::string* out, uint64_t v) {
  char buf[kVarint64BytesMax];
  out->append(buf, static_cast<size_t>(EncodeVarint64(buf, v) - buf));
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

inline bool ParseShortVarint64(const char* p, size_t end, size_t* pos, uint64_t* value) {
  if (*pos > end || end - *pos < 8) return false;
  uint64_t w = DecodeFixed64(p + *pos);
  const uint64_t stops = ~w & 0x8080808080808080ull;  // bit 7 clear: the varint's last byte
  if (stops == 0) return false;                       // longer than 8 bytes
  const int len = (__builtin_ctzll(stops) >> 3) + 1;
  if (len < 8) w &= (uint64_t{1} << (8 * len)) - 1;
  if (len > 1 && (w >> (8 * (len - 1))) == 0) return false;  // last byte 0: not minimal
  *value = (w & 0x7f) | ((w >> 1) & (uint64_t{0x7f} << 7)) | ((w >> 2) & (uint64_t{0x7f} << 14)) |
           ((w >> 3) & (uint64_t{0x7f} << 21)) | ((w >> 4) & (uint64_t{0x7f} << 28)) |
           ((w >> 5) & (uint64_t{0x7f} << 35)) | ((w >> 6) & (uint64_t{0x7f} << 42)) |
           ((w >> 7) & (uint64_t{0x7f} << 49));
  *pos += static_cast<size_t>(len);
  return true;
}

constexpr uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
constexpr int64_t UnZigZag(uint64_t u) { return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1)); }
static_assert(ZigZag(0) == 0 && ZigZag(-1) == 1 && ZigZag(1) == 2 && ZigZag(-2) == 3);
static_assert(ZigZag(INT64_MAX) == ~uint64_t{0} - 1 && ZigZag(INT64_MIN) == ~uint64_t{0});
static_assert(UnZigZag(ZigZag(INT64_MIN)) == INT64_MIN && UnZigZag(ZigZag(-77)) == -77);

}  // namespace cowtree::tree
