// JSON text that is valid for every input, shared by `cowtree dump --json`
// (recovery/dump_render.cc) and the CLI's other JSON outputs (tools/query.cc,
// tools/fsck_command.cc).
//
// JSON text must be UTF-8 (RFC 8259 §8.1) and has no literal for infinity or NaN, but what the
// CLI prints carries arbitrary user bytes (tree names are any bytes; messages quote them) and
// double trees hold ±infinity and NaN. The representation chosen:
// - Strings: each byte that is not part of a well-formed UTF-8 sequence (RFC 3629: no overlong
//   forms, no surrogates, nothing above U+10FFFF) becomes U+FFFD, one per byte; valid text is
//   unchanged. Control characters, '"' and '\\' are escaped by RapidJSON's writer. Where the
//   exact bytes matter (a group name), the caller adds them in hex beside the string
//   (tools/query.h: "group_bytes_hex").
// - Numbers: non-finite doubles are the strings "Infinity", "-Infinity" and "NaN" — what
//   PostgreSQL's to_json() writes for float8, and what recovery/dump.cc writes for keys.
// Thread-safety: pure functions; a Utf8SafeWriter is used by one thread like its base.
#pragma once

#include <cmath>
#include <string>
#include <string_view>

namespace cowtree::recovery {

// True if `s` is well-formed UTF-8.
bool IsValidUtf8(std::string_view s);
// `s` with every byte outside a well-formed UTF-8 sequence replaced by U+FFFD (EF BF BD).
std::string ToValidUtf8(std::string_view s);
// Lower-case hex, two digits per byte.
std::string HexBytes(std::string_view s);
// "Infinity", "-Infinity" or "NaN" for a non-finite v; nullptr for a finite one.
inline const char* NonFiniteName(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return nullptr;
}

// A RapidJSON Writer / PrettyWriter whose output is valid JSON for every input: String and Key
// go through ToValidUtf8, and a non-finite Double is written as its NonFiniteName string
// (RapidJSON's own Writer would fail on it, leaving a truncated document). Works with
// Value::Accept too (the handler is a template parameter there, so these members are found).
template <typename Base>
class Utf8SafeWriter : public Base {
 public:
  using Base::Base;
  using Ch = typename Base::Ch;

  bool String(const Ch* str, unsigned length, bool copy = false) {
    const std::string_view s(str, length);
    if (IsValidUtf8(s)) return Base::String(str, length, copy);
    const std::string safe = ToValidUtf8(s);
    return Base::String(safe.data(), static_cast<unsigned>(safe.size()), true);
  }
  bool String(const std::string& s) {
    return String(s.data(), static_cast<unsigned>(s.size()), true);
  }
  bool Key(const Ch* str, unsigned length, bool copy = false) {
    const std::string_view s(str, length);
    if (IsValidUtf8(s)) return Base::Key(str, length, copy);
    const std::string safe = ToValidUtf8(s);
    return Base::Key(safe.data(), static_cast<unsigned>(safe.size()), true);
  }
  bool Key(const Ch* str) {
    return Key(str, static_cast<unsigned>(std::char_traits<Ch>::length(str)));
  }
  bool Key(const std::string& s) { return Key(s.data(), static_cast<unsigned>(s.size()), true); }
  bool Double(double d) {
    if (const char* name = NonFiniteName(d)) return String(name);
    return Base::Double(d);
  }
};

}  // namespace cowtree::recovery
