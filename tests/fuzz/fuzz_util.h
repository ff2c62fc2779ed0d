// Helpers shared by the fuzz targets in tests/fuzz/ (docs/fuzzing.md). Internal header.
//
// Conventions of every target
// - Input = one flags byte followed by the bytes under test. The flags choose harness options
//   (mostly "recompute the checksums"), so that mutated inputs also get past the CRC checks
//   and exercise the field validation behind them; with the bit clear the bytes are decoded
//   exactly as given (CRC failures are then the common outcome). An empty input is a no-op.
// - A target returns 0 for every input. A violated property calls FuzzFail, which prints the
//   property and aborts: libFuzzer reports that as a crash and saves the input, and the corpus
//   test (tests/tools_fuzz_corpus_test.cc) dies with the message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/status.h"

namespace cowtree::fuzz {

[[noreturn]] inline void FuzzFail(const char* file, int line, const char* condition,
                                  const std::string& detail) {
  std::fprintf(stderr, "cowtree fuzz: property violated at %s:%d: %s%s%s\n", file, line, condition,
               detail.empty() ? "" : ": ", detail.c_str());
  std::fflush(stderr);
  std::abort();
}

// FUZZ_CHECK(cond) or FUZZ_CHECK(cond, std::string detail): the property `cond` must hold.
#define FUZZ_CHECK(cond, ...)                                                          \
  do {                                                                                 \
    if (__builtin_expect(!(cond), 0)) {                                                \
      ::cowtree::fuzz::FuzzFail(__FILE__, __LINE__, #cond, std::string(__VA_ARGS__)); \
    }                                                                                  \
  } while (0)

// A decoder must only ever fail with a Corruption status (never IOError, InvalidArgument...).
#define FUZZ_CHECK_CORRUPTION(status) \
  FUZZ_CHECK((status).IsCorruption(), "expected Corruption, got " + (status).ToString())

// The flags byte and the bytes under test.
struct FuzzInput {
  uint8_t flags = 0;
  std::string bytes;
  bool flag(int bit) const { return ((flags >> bit) & 1) != 0; }
};

// False for an empty input (nothing to do).
inline bool SplitInput(const uint8_t* data, size_t size, FuzzInput* in) {
  if (size == 0) return false;
  in->flags = data[0];
  in->bytes.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  return true;
}

// A heap copy of exactly bytes.size() bytes, so that AddressSanitizer reports a read even one
// byte past the end (a std::string has capacity slack, and short ones live inside the object).
// Decoders under test get view() of one of these.
class ExactBytes {
 public:
  explicit ExactBytes(std::string_view bytes)
      : size_(bytes.size()), data_(new char[bytes.size()]) {  // new char[0] is a valid pointer
    if (size_ > 0) std::memcpy(data_.get(), bytes.data(), size_);
  }
  std::string_view view() const { return std::string_view(data_.get(), size_); }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  size_t size_;
  std::unique_ptr<char[]> data_;
};

// Stores at crc_offset the CRC32C of bytes [begin, end) if all of it lies inside `bytes`.
inline void FixCrc(std::string* bytes, size_t crc_offset, size_t begin, size_t end) {
  if (begin > end || end > bytes->size() || crc_offset > bytes->size() ||
      bytes->size() - crc_offset < 4) {
    return;
  }
  EncodeFixed32(bytes->data() + crc_offset, Crc32c(bytes->data() + begin, end - begin));
}

// The body formats that end with "crc32c u32 over everything before it".
inline void FixTrailingCrc(std::string* bytes) {
  if (bytes->size() >= 4) FixCrc(bytes, bytes->size() - 4, 0, bytes->size() - 4);
}

inline std::string Hex(std::string_view bytes, size_t max_bytes = 64) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max_bytes; ++i) {
    const auto c = static_cast<uint8_t>(bytes[i]);
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  if (bytes.size() > max_bytes) out += "...";
  return out;
}

}  // namespace cowtree::fuzz
