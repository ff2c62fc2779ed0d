// Text and JSON rendering of dump documents (see dump_render.h for the text rules).
#include "recovery/dump_render.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <array>
#include <charconv>
#include <string>

#include "recovery/json_text.h"

namespace cowtree::recovery::dump_internal {
namespace {

using rapidjson::Value;

bool IsScalar(const Value& v) { return !v.IsObject() && !v.IsArray(); }

bool IsScalarArray(const Value& v) {
  if (!v.IsArray()) return false;
  for (const Value& e : v.GetArray()) {
    if (!IsScalar(e)) return false;
  }
  return true;
}

bool IsFlatObject(const Value& v) {
  if (!v.IsObject()) return false;
  for (const auto& m : v.GetObject()) {
    if (!IsScalar(m.value) && !IsScalarArray(m.value)) return false;
  }
  return true;
}

std::string Scalar(const Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsNull()) return "null";
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  std::array<char, 32> buf;
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v.GetDouble());
  return ec == std::errc() ? std::string(buf.data(), end) : "?";
}

std::string InlineArray(const Value& v) {
  std::string s = "[";
  bool first = true;
  for (const Value& e : v.GetArray()) {
    if (!first) s += ", ";
    s += Scalar(e);
    first = false;
  }
  return s + "]";
}

std::string FlatLine(const Value& v) {
  std::string s;
  for (const auto& m : v.GetObject()) {
    if (!s.empty()) s += ' ';
    s += std::string(m.name.GetString()) + "=" +
         (m.value.IsArray() ? InlineArray(m.value) : Scalar(m.value));
  }
  return s;
}

void Members(const Value& object, int indent, std::ostream& out);

void ArrayBody(const Value& array, int indent, std::ostream& out) {
  const std::string pad(indent, ' ');
  for (const Value& e : array.GetArray()) {
    if (IsFlatObject(e)) {
      out << pad << "- " << FlatLine(e) << "\n";
    } else if (e.IsObject()) {
      out << pad << "-\n";
      Members(e, indent + 2, out);
    } else if (e.IsArray()) {
      out << pad << "-\n";
      ArrayBody(e, indent + 2, out);
    } else {
      out << pad << "- " << Scalar(e) << "\n";
    }
  }
}

void Members(const Value& object, int indent, std::ostream& out) {
  const std::string pad(indent, ' ');
  for (const auto& m : object.GetObject()) {
    const std::string key = m.name.GetString();
    const Value& v = m.value;
    if (IsScalar(v)) {
      out << pad << key << ": " << Scalar(v) << "\n";
    } else if (v.IsObject()) {
      out << pad << key << ":\n";
      Members(v, indent + 2, out);
    } else if (v.Empty()) {
      out << pad << key << ": []\n";
    } else if (IsScalarArray(v)) {
      out << pad << key << ": " << InlineArray(v) << "\n";
    } else {
      out << pad << key << ":\n";
      ArrayBody(v, indent + 2, out);
    }
  }
}

}  // namespace

void Render(const Value& document, DumpFormat format, std::ostream& out) {
  if (format == DumpFormat::kJson) {
    rapidjson::StringBuffer buffer;
    // Tree names (and messages quoting them) are arbitrary bytes: recovery/json_text.h.
    Utf8SafeWriter<rapidjson::PrettyWriter<rapidjson::StringBuffer>> writer(buffer);
    document.Accept(writer);
    out << buffer.GetString() << "\n";
    return;
  }
  Members(document, 0, out);
}

}  // namespace cowtree::recovery::dump_internal
