// Renders a dump document (a RapidJSON value built by recovery/dump.cc) as text or JSON.
//
// Text rules, applied recursively to the top-level object:
// - a scalar member prints as "key: value" (strings unquoted, doubles in shortest round-trip
//   form);
// - an object member prints "key:" then its members indented by two spaces;
// - an array of scalars prints inline: "key: [a, b, c]";
// - an array of flat objects (members that are scalars or arrays of scalars) prints one object
//   per line: "  - k=v k=[a, b] ...", so a long list of frames or leaves stays one line each;
// - any other array prints each element as "  -" followed by the element indented.
// JSON: pretty-printed by RapidJSON, always valid (recovery/json_text.h): strings with bytes
// that are not UTF-8 (tree names) get U+FFFD for them; non-finite doubles are written as the
// strings "Infinity", "-Infinity", "NaN" (dump.cc already writes keys that way).
// Thread-safety: pure functions.
#pragma once

#include <rapidjson/document.h>

#include <ostream>

#include "recovery/dump.h"

namespace cowtree::recovery::dump_internal {

void Render(const rapidjson::Value& document, DumpFormat format, std::ostream& out);

}  // namespace cowtree::recovery::dump_internal
