// Explicit little-endian encoding of fixed-width integers, independent of host byte order.
// Every on-disk integer in cowtree goes through these functions (see docs/).
// Thread-safety: pure functions.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace cowtree {

// On a little-endian host the bytes are the value's own representation: one unaligned load or
// store (memcpy, which the compiler turns into a single mov). Elsewhere, byte by byte.
inline constexpr bool kHostIsLittleEndian = std::endian::native == std::endian::little;

template <typename T>
inline void EncodeFixedLe(char* dst, T v) {
  if constexpr (kHostIsLittleEndian) {
    std::memcpy(dst, &v, sizeof(T));
  } else {
    for (size_t i = 0; i < sizeof(T); ++i) dst[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
}
template <typename T>
inline T DecodeFixedLe(const char* src) {
  T v = 0;
  if constexpr (kHostIsLittleEndian) {
    std::memcpy(&v, src, sizeof(T));
  } else {
    const auto* p = reinterpret_cast<const unsigned char*>(src);
    for (size_t i = sizeof(T); i-- > 0;) v = static_cast<T>((v << 8) | p[i]);
  }
  return v;
}

inline void EncodeFixed16(char* dst, uint16_t v) { EncodeFixedLe(dst, v); }
inline void EncodeFixed32(char* dst, uint32_t v) { EncodeFixedLe(dst, v); }
inline void EncodeFixed64(char* dst, uint64_t v) { EncodeFixedLe(dst, v); }
inline uint16_t DecodeFixed16(const char* src) { return DecodeFixedLe<uint16_t>(src); }
inline uint32_t DecodeFixed32(const char* src) { return DecodeFixedLe<uint32_t>(src); }
inline uint64_t DecodeFixed64(const char* src) { return DecodeFixedLe<uint64_t>(src); }

inline void PutFixed8(std::string* dst, uint8_t v) { dst->push_back(static_cast<char>(v)); }
inline void PutFixed16(std::string* dst, uint16_t v) {
  char b[2];
  EncodeFixed16(b, v);
  dst->append(b, 2);
}
inline void PutFixed32(std::string* dst, uint32_t v) {
  char b[4];
  EncodeFixed32(b, v);
  dst->append(b, 4);
}
inline void PutFixed64(std::string* dst, uint64_t v) {
  char b[8];
  EncodeFixed64(b, v);
  dst->append(b, 8);
}

// A bounds-checked reader over a byte range. Every Get* returns false (and consumes nothing)
// if fewer bytes remain than requested; callers turn that into a Corruption status naming the
// structure and offset (offset() gives the position reached).
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}
  size_t offset() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool GetFixed8(uint8_t* v) {
    if (remaining() < 1) return false;
    *v = static_cast<uint8_t>(data_[pos_]);
    pos_ += 1;
    return true;
  }
  bool GetFixed16(uint16_t* v) {
    if (remaining() < 2) return false;
    *v = DecodeFixed16(data_.data() + pos_);
    pos_ += 2;
    return true;
  }
  bool GetFixed32(uint32_t* v) {
    if (remaining() < 4) return false;
    *v = DecodeFixed32(data_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool GetFixed64(uint64_t* v) {
    if (remaining() < 8) return false;
    *v = DecodeFixed64(data_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool GetBytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace cowtree
